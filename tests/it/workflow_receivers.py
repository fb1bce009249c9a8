"""Real receivers for the workflow tests (tests/it/workflows.rs).

webhook: an HTTP server that checks each request's signature with the `standardwebhooks`
         package (the Standard Webhooks reference implementation, from PyPI), answers 500 to the
         first --fail-first requests, never answers the first one with --hang-first (its sender
         is killed meanwhile), and writes one JSON line per request to --log.
smtp:    an SMTP server (`aiosmtpd`, from PyPI) that demands STARTTLS with the given certificate
         and writes one JSON line per message to --log.

Each prints nothing; the port it listens on is written to --port-file when it is ready.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, path)


def append(path, record, lock):
    with lock:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def webhook(args):
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(args.secret)
    lock = threading.Lock()
    state = {"n": 0, "processed": set()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            msg_id = headers.get("webhook-id")
            try:
                verifier.verify(body, headers)
                verified, error = True, None
            except Exception as e:  # the library raises its own error type
                verified, error = False, str(e)
            with lock:
                state["n"] += 1
                n = state["n"]
            if args.hang_first and n == 1:
                append(args.log, {"n": n, "webhook_id": msg_id, "verified": verified, "error": error, "status": None}, lock)
                time.sleep(600)
                return
            status = 500 if n <= args.fail_first else 200
            with lock:
                duplicate = msg_id in state["processed"]
                if status == 200 and verified and not duplicate:
                    state["processed"].add(msg_id)
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            record = {
                "n": n,
                "webhook_id": msg_id,
                "timestamp": headers.get("webhook-timestamp"),
                "verified": verified,
                "error": error,
                "status": status,
                "duplicate": duplicate,
                "processed": status == 200 and verified and not duplicate,
                "body": parsed,
            }
            append(args.log, record, lock)
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"try again later")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    write_port(args.port_file, server.server_address[1])
    server.serve_forever()


def smtp(args):
    from aiosmtpd.controller import Controller

    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            append(
                args.log,
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "tls": session.ssl is not None,
                    "data": envelope.content.decode("utf-8", "replace"),
                },
                lock,
            )
            return "250 Message accepted for delivery"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    write_port(args.port_file, port)
    while True:
        time.sleep(3600)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["webhook", "smtp"])
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--secret")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--hang-first", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args()
    open(args.log, "a").close()
    if args.kind == "webhook":
        webhook(args)
    else:
        smtp(args)


if __name__ == "__main__":
    sys.exit(main())
