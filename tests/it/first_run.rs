//! The first ten minutes of a new user (#21): the binary copied alone somewhere else runs with
//! its embedded runtime files, missing runtime files fail documents with the reason (and say so
//! to the administrator), `check` before the first start is not alarmed, duplicates cost
//! nothing, words find longer words, tags are managed and applied in bulk.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Api, Db, TestServer, corpus_dir, db_tests, free_port, pdf_pages, tiny_png};

const ADMIN_PASSWORD: &str = "first-run-admin-pw";

async fn wait_ready(base: &str, log: &Path) {
    let started = Instant::now();
    let http = reqwest::Client::new();
    while !http.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
        if started.elapsed() > Duration::from_secs(60) {
            panic!("docmerge did not become ready:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child killed when the test ends, also when it fails (and when the test process dies).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `docmerge` command with nothing from the test's environment that could point it at the
/// repository (no DOCMERGE_* variables), in `dir`.
fn bare_command(binary: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.current_dir(dir).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", dir).stdin(Stdio::null());
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

async fn upload_and_wait(api: &Api, name: &str, bytes: Vec<u8>) -> Value {
    let (s, up) = api.upload(name, bytes, &[]).await;
    assert_eq!(s, 202, "{up}");
    api.wait_done(up["document"]["id"].as_i64().unwrap(), Duration::from_secs(300)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_copied_alone_runs_with_its_embedded_runtime() {
    // A machine path without the repository: a fresh directory under /tmp holding only the binary.
    let home = tempfile::Builder::new().prefix("docmerge-alone-").tempdir_in("/tmp").unwrap();
    let binary = home.path().join("docmerge");
    std::fs::copy(env!("CARGO_BIN_EXE_docmerge"), &binary).unwrap();
    assert!(!home.path().join(".runtime").exists());

    let version = bare_command(&binary, home.path()).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    assert!(version.contains("commit ") && !version.contains("commit unknown"), "{version}");
    assert!(version.contains("pypdfium2") && version.contains("embedded in this binary"), "{version}");

    // Before the first start `check` is not alarmed about the database, and creates nothing.
    let check = bare_command(&binary, home.path()).arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(out.contains("not created yet; `docmerge all` or `docmerge migrate` will create it"), "{out}");
    assert!(!out.contains("FAIL database") && !out.contains("schema is not current"), "{out}");
    assert!(out.contains("OK   PDF library (pdfium): ") && out.contains("(from the embedded copy)"), "{out}");
    assert!(!home.path().join("docmerge-data/docmerge.db").exists(), "check created the database");

    let (http, ws) = (free_port(), free_port());
    let log = home.path().join("all.log");
    let mut cmd = bare_command(&binary, home.path());
    cmd.arg("all")
        .env("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{http}"))
        .env("DOCMERGE__WS__BIND", format!("127.0.0.1:{ws}"))
        .env("DOCMERGE__AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(home.path().join("all.err")).unwrap());
    let child = Killed(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{http}");
    wait_ready(&base, &home.path().join("all.err")).await;
    let api = Api::login(&base, "admin", ADMIN_PASSWORD).await;
    let scan = std::fs::read(corpus_dir().join("scan-phototest.png")).unwrap();
    let doc = upload_and_wait(&api, "scan-phototest.png", scan).await;
    let (_, pages) = api.get(&format!("/api/v1/documents/{}/pages", doc["id"])).await;
    drop(child);
    assert_eq!(doc["state"], "ready", "{doc}");
    let text = pages["items"][0]["text"].as_str().unwrap_or_default().to_lowercase();
    assert!(text.contains("quick") && text.contains("brown"), "the OCR read the scan: {text}");
    assert!(home.path().join("docmerge-data/runtime/lib/libpdfium.so").is_file(), "unpacked into the storage root");
    let err = std::fs::read_to_string(home.path().join("all.err")).unwrap();
    assert!(!err.contains('\u{1b}'), "no colour codes when standard error is a file:\n{err}");
}

#[test]
fn the_runtime_is_found_through_docmerge_runtime_dir() {
    let Ok(runtime) = std::env::var("DOCMERGE_RUNTIME_DIR") else {
        panic!("DOCMERGE_RUNTIME_DIR is not set: scripts/test.sh sets it to the fetched runtime files")
    };
    let home = tempfile::Builder::new().prefix("docmerge-env-").tempdir_in("/tmp").unwrap();
    let binary = home.path().join("docmerge");
    std::fs::copy(env!("CARGO_BIN_EXE_docmerge"), &binary).unwrap();
    let out = bare_command(&binary, home.path()).arg("check").env("DOCMERGE_RUNTIME_DIR", &runtime).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.contains("(from DOCMERGE_RUNTIME_DIR)"), "{out}");
    assert!(!out.contains("embedded copy"), "{out}");
}

async fn missing_runtime_files_fail_documents_with_the_reason(db: Db) {
    let srv = TestServer::start_with(db, true, |s| {
        s.pdf.library_path = "/nonexistent/docmerge-test/libpdfium.so".into();
        s.ocr.models_dir = "/nonexistent/docmerge-test/models".into();
    })
    .await;
    let api = srv.admin().await;
    // Serving goes on (the UI can say what is wrong) ...
    let (s, cfg) = api.get("/api/v1/config").await;
    assert_eq!(s, 200);
    assert_eq!(cfg["runtime"]["ready"], false, "{cfg}");
    let problem = cfg["runtime"]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("the PDF library is missing") && problem.contains("DOCMERGE_RUNTIME_DIR"), "{problem}");
    // ... only administrators are told the details.
    let user = srv.new_user("plain").await;
    let (_, cfg) = user.get("/api/v1/config").await;
    assert_eq!(cfg["runtime"]["ready"], false);
    assert!(cfg["runtime"]["problem"].is_null(), "{cfg}");
    // A document fails at once with the reason instead of waiting in the queue.
    let started = Instant::now();
    let doc = upload_and_wait(&api, "scan.png", tiny_png(64, 48)).await;
    assert_eq!(doc["state"], "failed", "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("the PDF library is missing"), "{doc}");
    assert_eq!(doc["reprocess_helps"], true, "putting the files in place and reprocessing helps");
    assert!(started.elapsed() < Duration::from_secs(60), "failed without waiting for retries");
}
db_tests!(missing_runtime_files_fail_documents_with_the_reason);

async fn an_identical_upload_takes_over_the_processed_result(db: Db) {
    let srv = TestServer::start_with(db, true, |_| {}).await;
    let api = srv.admin().await;
    let pdf = pdf_pages(&["Quarterly report of the LinnSequencer project", "Second page with totals"]);
    let first = upload_and_wait(&api, "report.pdf", pdf.clone()).await;
    assert_eq!(first["state"], "ready", "{first}");
    let (s, up) = api.upload("report-again.pdf", pdf, &[]).await;
    assert_eq!(s, 202, "{up}");
    // Ready in the upload's own answer: nothing queued, nothing OCR'd again.
    assert_eq!(up["document"]["state"], "ready", "{up}");
    assert!(up["job_id"].is_null(), "{up}");
    assert_eq!(up["document"]["duplicate_of"], first["id"]);
    assert_eq!(up["document"]["page_count"], 2);
    let again = up["document"]["id"].as_i64().unwrap();
    let (_, jobs) = api.get(&format!("/api/v1/jobs?document={again}")).await;
    assert_eq!(jobs["total"], 0, "{jobs}");
    let (_, a) = api.get(&format!("/api/v1/documents/{}/pages", first["id"])).await;
    let (_, b) = api.get(&format!("/api/v1/documents/{again}/pages")).await;
    for (pa, pb) in a["items"].as_array().unwrap().iter().zip(b["items"].as_array().unwrap()) {
        assert_eq!(pa["text"], pb["text"]);
    }
    assert!(b["items"][1]["text"].as_str().unwrap().contains("totals"));
    let (s, pdf_back) = api.get_bytes(&format!("/api/v1/documents/{again}/download?kind=searchable")).await;
    assert_eq!(s, 200);
    assert!(pdf_back.starts_with(b"%PDF"));
    // Searchable at once, and a reprocess asked for still runs the whole pipeline.
    let (_, hits) = api.get("/api/v1/search?q=totals").await;
    assert_eq!(hits["total"], 2, "{hits}");
    let (s, r) = api.post(&format!("/api/v1/documents/{again}/reprocess"), &json!({})).await;
    assert_eq!(s, 202, "{r}");
    assert!(r["job_id"].as_i64().is_some());
    let redone = api.wait_done(again, Duration::from_secs(120)).await;
    assert_eq!(redone["state"], "ready");
}
db_tests!(an_identical_upload_takes_over_the_processed_result);

async fn words_find_longer_words_below_exact_matches(db: Db) {
    let srv = TestServer::start_with(db, true, |_| {}).await;
    let api = srv.admin().await;
    let long = upload_and_wait(&api, "seq.pdf", pdf_pages(&["Manual of the LinnSequencer drum machine"])).await;
    let exact = upload_and_wait(&api, "linn.pdf", pdf_pages(&["Roger Linn built drum machines"])).await;
    let (s, hits) = api.get("/api/v1/search?q=linn").await;
    assert_eq!(s, 200);
    let ids: Vec<i64> = hits["items"].as_array().unwrap().iter().map(|h| h["document"]["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![exact["id"].as_i64().unwrap(), long["id"].as_i64().unwrap()], "exact match first: {hits}");
    assert_eq!(hits["total"], 2);
    assert!(hits["items"][1]["snippet"].as_str().unwrap().contains("<mark>LinnSequencer</mark>"), "{hits}");
    // A phrase is marked whole.
    let (_, hits) = api.get("/api/v1/search?q=%22drum%20machine%22").await;
    assert!(hits["items"][0]["snippet"].as_str().unwrap().contains("<mark>drum machine</mark>"), "{hits}");
    // Two letters stay exact: "li" finds nothing.
    let (_, hits) = api.get("/api/v1/search?q=li").await;
    assert_eq!(hits["total"], 0, "{hits}");
}
db_tests!(words_find_longer_words_below_exact_matches);

async fn tags_are_merged_and_applied_in_bulk(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let api = srv.admin().await;
    let mut docs = Vec::new();
    for i in 0..3u32 {
        let (s, up) = api.upload(&format!("d{i}.png"), tiny_png(40 + i, 30), &[]).await;
        assert_eq!(s, 202);
        docs.push(up["document"]["id"].as_i64().unwrap());
    }
    let tag = |name: &'static str| {
        let api = api.clone();
        async move {
            let (s, t) = api.post("/api/v1/tags", &json!({"name": name})).await;
            assert_eq!(s, 201, "{t}");
            t["id"].as_i64().unwrap()
        }
    };
    let (invoice, invoices, old) = (tag("invoice").await, tag("invoices").await, tag("old").await);
    // Bulk: two documents get two tags at once.
    let (s, r) = api.post("/api/v1/documents/tags", &json!({"documents": [docs[0], docs[1]], "add": [invoice, old]})).await;
    assert_eq!((s, r["updated"].clone()), (200, json!(2)), "{r}");
    let (s, r) = api.post("/api/v1/documents/tags", &json!({"documents": [docs[1], docs[2]], "add": [invoices], "remove": [old]})).await;
    assert_eq!(s, 200, "{r}");
    let names =
        |d: &Value| -> Vec<String> { d["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect() };
    let (_, d1) = api.get(&format!("/api/v1/documents/{}", docs[1])).await;
    assert_eq!(names(&d1), vec!["invoice", "invoices"]);
    // Bad requests are refused whole, another user's documents are not found.
    let (s, _) = api.post("/api/v1/documents/tags", &json!({"documents": [], "add": [invoice]})).await;
    assert_eq!(s, 400);
    let (s, _) = api.post("/api/v1/documents/tags", &json!({"documents": [docs[0]], "add": [old], "remove": [old]})).await;
    assert_eq!(s, 400);
    let other = srv.new_user("other").await;
    let (s, _) = other.post("/api/v1/documents/tags", &json!({"documents": [docs[0]], "add": []})).await;
    assert_eq!(s, 400, "nothing to do");
    let (s, t) = other.post("/api/v1/tags", &json!({"name": "mine"})).await;
    assert_eq!(s, 201);
    let (s, _) = other.post("/api/v1/documents/tags", &json!({"documents": [docs[0]], "add": [t["id"]]})).await;
    assert_eq!(s, 404);
    let (s, _) = api.post("/api/v1/documents/tags", &json!({"documents": [docs[0]], "add": [t["id"]]})).await;
    assert_eq!(s, 404, "another user's tag");
    // Merge: "invoice" into "invoices"; every document that had either has the survivor once.
    let (s, merged) = api.post(&format!("/api/v1/tags/{invoice}/merge"), &json!({"into": invoices})).await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!((merged["name"].as_str(), merged["document_count"].as_i64()), (Some("invoices"), Some(3)));
    let (_, d0) = api.get(&format!("/api/v1/documents/{}", docs[0])).await;
    assert_eq!(names(&d0), vec!["invoices", "old"]);
    let (s, _) = api.get(&format!("/api/v1/tags/{invoice}")).await;
    assert!(s == 404 || s == 405, "the merged tag is gone");
    let (_, list) = api.get("/api/v1/tags").await;
    assert_eq!(list["total"], 2);
    let (s, _) = api.post(&format!("/api/v1/tags/{invoices}/merge"), &json!({"into": invoices})).await;
    assert_eq!(s, 400, "into itself");
    let (s, _) = other.post(&format!("/api/v1/tags/{old}/merge"), &json!({"into": t["id"]})).await;
    assert_eq!(s, 404, "another user's tag");
}
db_tests!(tags_are_merged_and_applied_in_bulk);
