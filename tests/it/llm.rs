//! Suggestions from a language model (#23), end to end on SQLite and PostgreSQL with the real
//! worker. `real_model`: against a real OpenAI-compatible server on this machine — llama.cpp's
//! own (the `xllamacpp` wheel from PyPI) serving Qwen2.5-Coder-0.5B-Instruct (GGUF, from PyPI
//! wheels), both fetched and sha256-checked by scripts/test.sh — asked by a user from the
//! document's page and by a workflow that applies the answer. `failures`: an HTTP endpoint
//! started here that misbehaves on purpose (hangs, answers 400, garbage, prose, names that are
//! not the user's) — each a request that says what went wrong, nothing applied, no worker hung.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Api, Db, TestServer, db_tests, pdf_pages};

/// The language-model server (tests/it/llm_server.py), killed when dropped.
pub(crate) struct LlmServer {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlmServer {
    pub(crate) fn start() -> LlmServer {
        use std::io::BufRead;
        let python = std::env::var("DOCMERGE_TEST_PYTHON").expect("DOCMERGE_TEST_PYTHON: a Python with xllamacpp (scripts/test.sh)");
        let model = std::env::var("DOCMERGE_TEST_LLM_MODEL").expect("DOCMERGE_TEST_LLM_MODEL: the GGUF model scripts/test.sh fetches");
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/llm_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(model)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the language-model server");
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).expect("the server's first line");
        let port = line.trim().strip_prefix("port ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("the server said {line:?}"));
        LlmServer { child, port }
    }
}

async fn setup_vocabulary(a: &Api) -> Value {
    let mut ids = serde_json::Map::new();
    for (path, names) in [
        ("/api/v1/correspondents", ["City Utilities", "Dr. Jane Doe", "Northwind Insurance"]),
        ("/api/v1/document-types", ["Invoice", "Letter", "Contract"]),
        ("/api/v1/tags", ["electricity", "health", "insurance"]),
    ] {
        for n in names {
            let (s, b) = a.post(path, &json!({"name": n})).await;
            assert_eq!(s, 201, "{path} {n}: {b}");
            ids.insert(n.to_string(), b["id"].clone());
        }
    }
    let (s, f) = a.post("/api/v1/custom-fields", &json!({"name": "Amount", "kind": "monetary", "currency": "EUR"})).await;
    assert_eq!(s, 201, "{f}");
    ids.insert("Amount".into(), f["id"].clone());
    let (s, f) = a.post("/api/v1/custom-fields", &json!({"name": "Status", "kind": "select", "options": ["Paid", "Open"]})).await;
    assert_eq!(s, 201, "{f}");
    ids.insert("Status".into(), f["id"].clone());
    Value::Object(ids)
}

fn invoice(n: u32) -> Vec<u8> {
    let text = format!(
        "City Utilities\n12 Harbour Street, Springfield\nInvoice no. 2026-04{n}\nDate: 14 March 2026\nElectricity supply, February 2026\n312 kWh at EUR 0.32\nTotal: EUR 112.34\nPlease pay by 31 March 2026."
    );
    pdf_pages(&[text.as_str()])
}

async fn upload_ready(a: &Api, name: &str, bytes: Vec<u8>) -> i64 {
    let (s, d) = a.upload(name, bytes, &[]).await;
    assert_eq!(s, 202, "{d}");
    let id = d["document"]["id"].as_i64().unwrap();
    let d = a.wait_done(id, Duration::from_secs(120)).await;
    assert_eq!(d["state"], "ready", "{d}");
    id
}

/// Polls the document's requests until the newest is no longer pending.
async fn answered(a: &Api, doc: i64, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (s, r) = a.get(&format!("/api/v1/documents/{doc}/llm-suggestions")).await;
        assert_eq!(s, 200, "{r}");
        if r["requests"].as_array().is_some_and(|l| !l.is_empty()) && r["pending"] == false {
            return r;
        }
        assert!(started.elapsed() < within, "no answer about document {doc}: {r}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn real_model(db: Db) {
    let llm = LlmServer::start();
    let endpoint = format!("http://127.0.0.1:{}/v1", llm.port);
    let srv = TestServer::start_with(db, true, move |s| {
        s.llm.endpoint = endpoint.clone();
        s.llm.model = "qwen2.5-coder-0.5b-instruct".into();
        s.llm.timeout_secs = 600;
        s.workflows.scan_every_minutes = 0;
    })
    .await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let ids = setup_vocabulary(&a).await;
    b.post("/api/v1/correspondents", &json!({"name": "Bob's Secret Bank"})).await;

    // What is sent is visible: the instructions, the limits, whether it is on.
    let (s, st) = a.get("/api/v1/llm").await;
    assert_eq!(s, 200);
    assert_eq!(st["enabled"], true);
    assert!(st["instructions"].as_str().unwrap().contains("one JSON object"), "{st}");
    assert!(st.get("endpoint").is_none(), "only administrators see the address: {st}");

    // A user asks on the document's page.
    let doc = upload_ready(&a, "scan_0042.pdf", invoice(12)).await;
    let path = format!("/api/v1/documents/{doc}/llm-suggestions");
    let (s, r) = b.post(&path, &json!({})).await;
    assert_eq!(s, 404, "another user's document: {r}");
    let (s, r) = b.get(&path).await;
    assert_eq!(s, 404, "{r}");
    let (s, r) = a.post(&path, &json!({})).await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["state"], "pending");
    let (s, r) = a.post(&path, &json!({})).await;
    assert_eq!(s, 409, "one question at a time per document: {r}");
    let r = answered(&a, doc, Duration::from_secs(600)).await;
    let req = &r["requests"][0];
    assert_eq!(req["state"], "done", "{req}");
    assert!(req["prompt_tokens"].as_i64().unwrap() > 100 && req["completion_tokens"].as_i64().unwrap() > 0, "{req}");
    // The exact request is kept: alice's names and her document, nothing of bob's.
    let sent = req["prompt"].to_string();
    assert!(sent.contains("Northwind Insurance") && sent.contains("Harbour Street"), "{sent}");
    assert!(!sent.contains("Bob's Secret Bank"));
    assert!(!req["answer"].as_str().unwrap().is_empty());
    // Every suggestion is one of alice's own names (the server held the answer to them, and
    // docmerge checked it again); this model gets who sent it and what it is right.
    let sugg = req["suggestions"].as_array().unwrap();
    let of = |kind: &str| sugg.iter().filter(|x| x["kind"] == kind).map(|x| x["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(of("correspondent"), vec!["City Utilities"], "{req}");
    assert_eq!(of("document_type"), vec!["Invoice"], "{req}");
    for t in of("tag") {
        assert!(["electricity", "health", "insurance"].contains(&t.as_str()), "{t}");
    }
    // Offered, not applied.
    let (_, d) = a.get(&format!("/api/v1/documents/{doc}")).await;
    assert!(d["correspondent"].is_null(), "{d}");
    let items = r["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["kind"] == "correspondent" && i["target_id"] == ids["City Utilities"]), "{r}");
    // Accepting one (an ordinary edit) takes it off the list.
    let (s, _) = a.patch(&format!("/api/v1/documents/{doc}"), &json!({"correspondent_id": ids["City Utilities"]})).await;
    assert_eq!(s, 200);
    let (_, r) = a.get(&path).await;
    assert!(!r["items"].as_array().unwrap().iter().any(|i| i["kind"] == "correspondent"), "{r}");
    // The tokens count against alice's day, not bob's.
    let (_, st) = a.get("/api/v1/llm").await;
    assert!(st["tokens_used_today"].as_i64().unwrap() > 100, "{st}");
    let (_, st) = b.get("/api/v1/llm").await;
    assert_eq!(st["tokens_used_today"], 0);
    // Dismissed: nothing offered any more (the record stays).
    let (s, _) = a.delete(&path).await;
    assert_eq!(s, 204);
    let (_, r) = a.get(&path).await;
    assert_eq!(r["items"], json!([]));
    assert_eq!(r["requests"][0]["dismissed"], true);

    // A workflow asks when a document is processed, and applies the answer.
    let (s, w) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "Ask the model", "trigger": {"type": "processed"},
                    "actions": [{"type": "ask_llm", "mode": "apply", "fields": ["correspondent", "document_type"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let doc2 = upload_ready(&a, "scan_0043.pdf", invoice(13)).await;
    let r = answered(&a, doc2, Duration::from_secs(600)).await;
    let req = &r["requests"][0];
    assert_eq!(
        (req["state"].as_str(), req["origin"].as_str(), req["mode"].as_str()),
        (Some("done"), Some("workflow"), Some("apply")),
        "{req}"
    );
    assert_eq!(req["workflow_name"], "Ask the model");
    assert_eq!(req["fields"], json!(["correspondent", "document_type"]));
    let (_, d) = a.get(&format!("/api/v1/documents/{doc2}")).await;
    assert_eq!(d["correspondent"]["name"], "City Utilities", "{d}");
    assert_eq!(d["document_type"]["name"], "Invoice", "{d}");
    assert!(d["tags"].as_array().unwrap().is_empty(), "tags were not asked for: {d}");
    assert_eq!(r["items"], json!([]), "applied, nothing left to offer");
    let (_, h) = a.get(&format!("/api/v1/documents/{doc2}/history")).await;
    let entry = h["items"].as_array().unwrap().iter().find(|e| e["action"] == "llm").unwrap_or_else(|| panic!("no llm entry: {h}"));
    assert_eq!(entry["changes"]["llm"]["workflow"], "Ask the model", "{entry}");
    let (_, runs) = a.get(&format!("/api/v1/workflow-runs?document_id={doc2}")).await;
    let steps = runs["items"][0]["steps"].to_string();
    assert!(steps.contains("ask the language model and apply: correspondent, document_type"), "{steps}");
    drop(llm);
}

db_tests!(real_model);

/// An HTTP endpoint that answers each request with the next of `replies` (status, body; a
/// status of 0 never answers), and keeps the bodies it was sent.
struct Endpoint {
    port: u16,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn endpoint(replies: Vec<(u16, String)>) -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (seen, replies) = (seen2.clone(), replies.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let body_start = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..body_start]).to_lowercase();
                let len: usize =
                    head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
                while buf.len() < body_start + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                seen.lock().unwrap().push(serde_json::from_slice(&buf[body_start..body_start + len]).unwrap_or(Value::Null));
                let next = replies.lock().unwrap().next();
                let Some((status, body)) = next else { return };
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Endpoint { port, seen }
}

fn chat(content: &str, tokens: i64) -> String {
    json!({"model": "fake", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
           "usage": {"prompt_tokens": tokens, "completion_tokens": 10}})
    .to_string()
}

async fn ask_and_wait(a: &Api, doc: i64) -> Value {
    let (s, r) = a.post(&format!("/api/v1/documents/{doc}/llm-suggestions"), &json!({"fields": []})).await;
    assert_eq!(s, 202, "{r}");
    answered(a, doc, Duration::from_secs(60)).await["requests"][0].clone()
}

async fn failures(db: Db) {
    let hostile = json!({"title": "Electricity bill", "correspondent": "Evil Corp", "document_type": "Invoice",
        "date": "2026-02-30", "tags": ["electricity", "crypto"], "custom_fields": {"Amount": "a lot", "Status": "Open"}})
    .to_string();
    let ep = endpoint(vec![
        (0, String::new()),
        (400, json!({"error": {"message": "response_format is not supported"}}).to_string()),
        (200, "<html>proxy error</html>".into()),
        (200, chat("I am sorry, I cannot read invoices.", 100)),
        (200, chat(&format!("Here you go:\n```json\n{hostile}\n```"), 100)),
        (200, chat("{}", 5000)),
    ])
    .await;
    let endpoint_url = format!("http://127.0.0.1:{}/v1/", ep.port);
    let srv = TestServer::start_with(db, true, move |s| {
        s.llm.endpoint = endpoint_url.clone();
        s.llm.api_key = "sk-test-key".into();
        s.llm.timeout_secs = 2;
        s.llm.daily_tokens_per_user = 5000;
        s.workflows.scan_every_minutes = 0;
    })
    .await;
    let a = srv.new_user("alice").await;
    let ids = setup_vocabulary(&a).await;
    let doc = upload_ready(&a, "scan.pdf", invoice(1)).await;
    let path = format!("/api/v1/documents/{doc}/llm-suggestions");

    // 1. No answer within llm.timeout_secs: said so, and tried again later (still pending).
    let (s, _) = a.post(&path, &json!({})).await;
    assert_eq!(s, 202);
    let started = Instant::now();
    let req = loop {
        let (_, r) = a.get(&path).await;
        if r["requests"][0]["attempts"] == 1 {
            break r["requests"][0].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(req["state"], "pending", "a retry is queued: {req}");
    assert!(req["error"].as_str().unwrap().contains("within 2 s"), "{req}");
    // What went out: alice's names as the schema's only choices, the key as a bearer token.
    let sent = ep.seen.lock().unwrap()[0].clone();
    let schema = &sent["response_format"]["json_schema"]["schema"]["properties"];
    assert_eq!(schema["correspondent"]["anyOf"][0]["enum"], json!(["City Utilities", "Dr. Jane Doe", "Northwind Insurance"]), "{sent}");
    assert_eq!(schema["custom_fields"]["properties"]["Status"]["anyOf"][0]["enum"], json!(["Paid", "Open"]));
    assert!(sent["messages"][1]["content"].as_str().unwrap().contains("Harbour Street"));
    // The retry is 30 s away; the test asks about another document meanwhile (one question at
    // a time per document).
    let doc = upload_ready(&a, "scan2.pdf", invoice(2)).await;
    let path = format!("/api/v1/documents/{doc}/llm-suggestions");

    // 2. The server refuses the request: the reason and a hint, no retry.
    let req = ask_and_wait(&a, doc).await;
    assert_eq!(req["state"], "failed", "{req}");
    let e = req["error"].as_str().unwrap();
    assert!(e.contains("400") && e.contains("response_format is not supported") && e.contains("llm.json_mode"), "{e}");
    // 3. Not JSON at all.
    let req = ask_and_wait(&a, doc).await;
    assert!(req["error"].as_str().unwrap().contains("not JSON"), "{req}");
    // 4. Prose instead of the object: failed, the answer kept for the operator to see.
    let req = ask_and_wait(&a, doc).await;
    assert_eq!(req["state"], "failed");
    assert!(req["error"].as_str().unwrap().contains("not a JSON object"), "{req}");
    assert_eq!(req["answer"], "I am sorry, I cannot read invoices.");
    // 5. An answer with names that are not alice's and values of the wrong type: what is hers
    //    and right is offered, the rest dropped with the reason; nothing applied.
    let req = ask_and_wait(&a, doc).await;
    assert_eq!(req["state"], "done", "{req}");
    let kinds: Vec<(&str, &str)> =
        req["suggestions"].as_array().unwrap().iter().map(|s| (s["kind"].as_str().unwrap(), s["name"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        vec![("title", "Electricity bill"), ("document_type", "Invoice"), ("tag", "electricity"), ("custom_field", "Status")],
        "{req}"
    );
    let dropped: Vec<(&str, &str)> =
        req["dropped"].as_array().unwrap().iter().map(|d| (d["key"].as_str().unwrap(), d["reason"].as_str().unwrap())).collect();
    assert!(dropped.contains(&("correspondent", "not one of your correspondents")), "{dropped:?}");
    assert!(dropped.contains(&("date", "not a date like 2025-12-31")), "{dropped:?}");
    assert!(dropped.contains(&("tags", "not one of your tags")), "{dropped:?}");
    assert!(dropped.iter().any(|(k, _)| *k == "custom_fields.Amount"), "{dropped:?}");
    let (_, d) = a.get(&format!("/api/v1/documents/{doc}")).await;
    assert!(d["document_type"].is_null() && d["tags"].as_array().unwrap().is_empty(), "suggest mode applies nothing: {d}");
    let (_, r) = a.get(&path).await;
    let offered: Vec<&str> = r["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(offered, vec!["title", "document_type", "tag", "custom_field"], "{r}");
    let status = r["items"][3].clone();
    assert_eq!(status["target_id"], ids["Status"]);
    assert_eq!(status["display"], "Open", "the option's label is shown; its id is the value: {status}");
    // 6. This answer takes alice over her daily budget (5000 tokens): the next is not sent.
    let req = ask_and_wait(&a, doc).await;
    assert_eq!(req["state"], "done");
    let before = ep.seen.lock().unwrap().len();
    let req = ask_and_wait(&a, doc).await;
    assert_eq!(req["state"], "skipped", "{req}");
    assert!(req["error"].as_str().unwrap().contains("daily budget of 5000 tokens"), "{req}");
    assert_eq!(ep.seen.lock().unwrap().len(), before, "nothing was sent");
    // No model configured: asking is refused in words; a workflow cannot name the action.
    drop(srv);
    let srv = TestServer::start_with(db, true, |s| s.workflows.scan_every_minutes = 0).await;
    let a = srv.new_user("alice").await;
    let doc = upload_ready(&a, "scan.pdf", invoice(3)).await;
    let (s, r) = a.post(&format!("/api/v1/documents/{doc}/llm-suggestions"), &json!({})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r.to_string().contains("[llm] endpoint"), "{r}");
    let (s, r) =
        a.post("/api/v1/workflows", &json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "ask_llm"}]})).await;
    assert_eq!(s, 400, "{r}");
    let (_, st) = a.get("/api/v1/llm").await;
    assert_eq!(st["enabled"], false);
}

db_tests!(failures);
