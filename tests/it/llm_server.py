"""A real OpenAI-compatible chat server for the language-model tests (#23): llama.cpp's own
server (the `xllamacpp` wheel from PyPI) with a small instruct model (Qwen2.5-Coder-0.5B,
Q4_K_M GGUF), both fetched by scripts/test.sh at pinned versions and checked by sha256.

Usage: llm_server.py MODEL.gguf
Prints `port N` once the server answers, then serves until stdin closes (or it is killed)."""

import socket
import sys
import time
import urllib.request

import xllamacpp


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main() -> None:
    model = sys.argv[1]
    port = free_port()
    p = xllamacpp.CommonParams()
    p.model.path = model
    p.hostnames = ["127.0.0.1"]
    p.port = port
    p.n_ctx = 4096
    p.n_parallel = 1
    p.cpuparams.n_threads = 1
    p.cpuparams_batch.n_threads = 1
    p.offline = True
    p.warmup = False
    server = xllamacpp.Server(p)
    # Up when its health endpoint says so (the model is loaded).
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        time.sleep(0.2)
    else:
        sys.exit("the language-model server did not come up")
    print(f"port {port}", flush=True)
    sys.stdin.read()
    del server


if __name__ == "__main__":
    main()
