//! Workflows (#23), end to end on SQLite and PostgreSQL with the real worker: every trigger
//! (added by source, processed, updated, scheduled from a date field), every filter, every
//! action, runs recorded, the dry run, owner isolation; webhooks to a real HTTP server whose
//! signature checks are the `standardwebhooks` package's (PyPI), retried after two 500s, and not
//! delivered twice when the worker sending one is killed; email through a real SMTP server
//! (`aiosmtpd`, PyPI) that demands STARTTLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Api, Db, Proc, Stack, TestServer, db_tests, tiny_pdf};

const SECRET: &str = "whsec_dGhlLXRlc3Qtc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmc=";

fn python() -> String {
    std::env::var("DOCMERGE_TEST_PYTHON")
        .expect("DOCMERGE_TEST_PYTHON: a Python with standardwebhooks and aiosmtpd (scripts/test.sh makes one in .venv-test)")
}

/// A receiver process (tests/it/workflow_receivers.py), killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start(dir: &Path, kind: &str, args: &[&str]) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/workflow_receivers.py");
        let (log, port_file) = (dir.join(format!("{kind}.jsonl")), dir.join(format!("{kind}.port")));
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(kind).arg("--log").arg(&log).arg("--port-file").arg(&port_file).args(args);
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("start the receiver");
        let started = Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && let Ok(p) = p.trim().parse()
            {
                break p;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the {kind} receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Receiver { child, port, log }
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// An API client that signs in with an API token (what scripts use), not a session.
async fn token_client(a: &Api) -> Api {
    let (s, t) = a.post("/api/v1/auth/tokens", &json!({"name": "scanner"})).await;
    assert_eq!(s, 201, "{t}");
    Api { base: a.base.clone(), token: t["token"].as_str().unwrap().to_string(), http: reqwest::Client::new() }
}

async fn create(a: &Api, body: Value) -> i64 {
    let (s, w) = a.post("/api/v1/workflows", &body).await;
    assert_eq!(s, 201, "{w}");
    w["id"].as_i64().unwrap()
}

/// Polls until `check` holds for the document (the workflow jobs run on the server's worker).
async fn wait_for(a: &Api, doc: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (_, d) = a.get(&format!("/api/v1/documents/{doc}")).await;
        if check(&d) {
            return d;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: document {doc} is {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn runs_of(a: &Api, doc: i64) -> Vec<Value> {
    let (s, r) = a.get(&format!("/api/v1/workflow-runs?document_id={doc}")).await;
    assert_eq!(s, 200, "{r}");
    r["items"].as_array().unwrap().clone()
}

/// Waits until nothing is queued or running (the jobs a change caused have all run).
async fn settle(srv: &TestServer) {
    let started = Instant::now();
    loop {
        let counts = srv.ctx.store.job_counts().await.unwrap();
        // The periodic jobs (queued for later) do not count.
        let periodic = ["prune", "sweep_blobs", "train_classifiers", "train_classifier", "backup"];
        let busy: i64 =
            counts.iter().filter(|(k, s, _)| (s == "queued" || s == "running") && !periodic.contains(&k.as_str())).map(|(_, _, n)| n).sum();
        if busy == 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "jobs still busy: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tag_names(d: &Value) -> Vec<String> {
    let mut v: Vec<String> = d["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

/// Every trigger, filter and action through the API and the real worker.
async fn workflows_conformance(db: Db) {
    let srv = TestServer::start_with(db, true, |s| {
        s.workflows.scan_every_minutes = 0;
    })
    .await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let script = token_client(&a).await;
    let (_, roots) = a.get("/api/v1/folders/roots").await;
    let (home, inbox) = (roots["home"]["id"].as_i64().unwrap(), roots["inbox"]["id"].as_i64().unwrap());
    let mk_tag = |n: &'static str| {
        let a = &a;
        async move { a.post("/api/v1/tags", &json!({"name": n})).await.1["id"].as_i64().unwrap() }
    };
    let (t_api, t_bill, t_paid, t_seen, t_urgent, t_old) = (
        mk_tag("via-api").await,
        mk_tag("bill").await,
        mk_tag("paid").await,
        mk_tag("seen").await,
        mk_tag("urgent").await,
        mk_tag("old").await,
    );
    let acme = a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await.1["id"].as_i64().unwrap();
    let invoice = a.post("/api/v1/document-types", &json!({"name": "Invoice"})).await.1["id"].as_i64().unwrap();
    let due = a.post("/api/v1/custom-fields", &json!({"name": "Due", "kind": "date"})).await.1["id"].as_i64().unwrap();
    let status = a.post("/api/v1/custom-fields", &json!({"name": "Status", "kind": "text"})).await.1["id"].as_i64().unwrap();
    let bills = a.post("/api/v1/folders", &json!({"name": "Bills", "parent_id": home})).await.1["id"].as_i64().unwrap();
    let pt = a.post("/api/v1/path-templates", &json!({"name": "By sender", "template": "Filed/{correspondent}"})).await.1["id"]
        .as_i64()
        .unwrap();
    let bob_tag = b.post("/api/v1/tags", &json!({"name": "bobs"})).await.1["id"].as_i64().unwrap();

    // Refused: bad shapes, and ids that are not the owner's (404, like everything of another user's).
    for (bad, why) in [
        (json!({"name": "x", "trigger": {"type": "processed"}, "actions": []}), "actions"),
        (json!({"name": "x", "trigger": {"type": "sometimes"}, "actions": [{"type": "trash"}]}), "not valid"),
        (
            json!({"name": "x", "trigger": {"type": "added"}, "filters": {"text_contains": "a"}, "actions": [{"type": "trash"}]}),
            "no text yet",
        ),
        (json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "webhook", "url": "file:///etc/passwd"}]}), "http"),
        (
            json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "email", "to": ["a@b.c"], "subject": "s", "body": "b"}]}),
            "SMTP",
        ),
        (
            json!({"name": "x", "trigger": {"type": "scheduled", "base": "field", "field_id": status, "offset_days": 1}, "actions": [{"type": "trash"}]}),
            "not a date field",
        ),
        (
            json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "set_field", "field_id": due, "value": "soon"}]}),
            "Due",
        ),
        (json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "set_title", "title": "{nope}"}]}), "unknown variable"),
    ] {
        let (s, e) = a.post("/api/v1/workflows", &bad).await;
        assert_eq!(s, 400, "{bad}: {e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{bad}: {e}");
    }
    let (s, e) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "x", "trigger": {"type": "added"}, "actions": [{"type": "add_tags", "tag_ids": [bob_tag]}]}),
        )
        .await;
    assert_eq!(s, 404, "{e}");

    // Added, by source and file name: only what a script sends through the API is tagged.
    let w_added = create(
        &a,
        json!({"name": "API uploads", "trigger": {"type": "added"}, "filters": {"sources": ["api"], "filename": "scan-*.PDF"},
               "actions": [{"type": "add_tags", "tag_ids": [t_api]}]}),
    )
    .await;
    // Processed: the text decides; metadata set, titled from it, noted, filed by a template.
    let w_bill = create(
        &a,
        json!({"name": "ACME bills", "position": 1, "trigger": {"type": "processed"},
               "filters": {"text_contains": "acme corp", "tags_none": [t_paid]},
               "actions": [
                   {"type": "set_correspondent", "correspondent_id": acme},
                   {"type": "set_document_type", "document_type_id": invoice},
                   {"type": "add_tags", "tag_ids": [t_bill, t_urgent]},
                   {"type": "set_field", "field_id": due, "value": "2020-01-10"},
                   {"type": "add_note", "body": "Filed by a workflow from {filename}"},
                   {"type": "set_path_template", "path_template_id": pt}]}),
    )
    .await;
    // Later in order, it sees what the first one did: tags any/all, correspondent, type. (Text in
    // an action reads the document as it was when its workflow started.)
    let w_second = create(
        &a,
        json!({"name": "After bills", "position": 2, "trigger": {"type": "processed"},
               "filters": {"tags_any": [t_bill, t_old], "tags_all": [t_bill, t_urgent], "correspondent_id": acme, "document_type_id": invoice,
                           "fields": [{"field_id": due, "op": "set"}, {"field_id": status, "op": "unset"}]},
               "actions": [{"type": "remove_tags", "tag_ids": [t_urgent]}, {"type": "set_field", "field_id": status, "value": "open"},
                           {"type": "set_title", "title": "{correspondent} bill {created:%Y-%m}"}]}),
    )
    .await;

    let (s, up) = script.upload("scan-0001.pdf", tiny_pdf("ACME Corp invoice 2024-03-15 total 12.00 EUR"), &[]).await;
    assert_eq!(s, 202, "{up}");
    let bill = up["document"]["id"].as_i64().unwrap();
    let d = wait_for(&a, bill, "filed by the processed workflows", |d| {
        d["fields"].as_array().is_some_and(|f| f.iter().any(|f| f["name"] == "Status"))
    })
    .await;
    assert_eq!(d["title"], "ACME bill 2024-03", "{d}");
    assert_eq!(d["correspondent"]["name"], "ACME");
    assert_eq!(d["document_type"]["name"], "Invoice");
    assert_eq!(tag_names(&d), vec!["bill", "via-api"], "urgent was added by one workflow and removed by the next: {d}");
    assert_eq!(d["path_template"]["id"], pt, "{d}");
    let (_, notes) = a.get(&format!("/api/v1/documents/{bill}/notes")).await;
    assert_eq!(notes["items"][0]["body"], "Filed by a workflow from scan-0001", "{notes}");
    // The template files it (the placement job).
    let started = Instant::now();
    loop {
        let (_, d) = a.get(&format!("/api/v1/documents/{bill}")).await;
        let (_, f) = a.get(&format!("/api/v1/folders/{}", d["folder_id"])).await;
        if f["name"] == "ACME" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not filed by its template: {f}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same kind of file from the web interface (a session) is not "api".
    let (_, up) = a.upload("scan-0002.pdf", tiny_pdf("a letter from someone else"), &[]).await;
    let letter = up["document"]["id"].as_i64().unwrap();
    a.wait_done(letter, Duration::from_secs(120)).await;
    settle(&srv).await;
    let d = a.get(&format!("/api/v1/documents/{letter}")).await.1;
    assert_eq!(tag_names(&d), Vec::<String>::new(), "{d}");
    assert_eq!(d["correspondent"], Value::Null);

    // Each run is recorded, with what it did; a document no workflow matched has no runs.
    let runs = runs_of(&a, bill).await;
    let names: Vec<&str> = runs.iter().map(|r| r["workflow_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["After bills", "ACME bills", "API uploads"], "newest first: {runs:?}");
    assert!(runs.iter().all(|r| r["outcome"] == "applied"), "{runs:?}");
    assert_eq!(runs[1]["steps"].as_array().unwrap().len(), 6, "{}", runs[1]);
    assert_eq!(runs[2]["trigger"], "added");
    assert!(runs_of(&a, letter).await.is_empty());
    let (_, hist) = a.get(&format!("/api/v1/documents/{bill}/history")).await;
    assert!(
        hist["items"].as_array().unwrap().iter().any(|h| h["action"] == "workflow" && h["changes"]["workflow"]["name"] == "ACME bills"),
        "{hist}"
    );

    // Updated: a user's edit fires it; its own edit does not fire it again (no loop).
    let w_updated = create(
        &a,
        json!({"name": "Seen", "trigger": {"type": "updated"}, "filters": {"folder_id": inbox},
               "actions": [{"type": "add_tags", "tag_ids": [t_seen]}, {"type": "move_to_folder", "folder_id": bills}]}),
    )
    .await;
    let (s, _) = a.patch(&format!("/api/v1/documents/{letter}"), &json!({"title": "A letter"})).await;
    assert_eq!(s, 200);
    wait_for(&a, letter, "tagged by the updated workflow", |d| tag_names(d) == vec!["seen"]).await;
    settle(&srv).await;
    let d = a.get(&format!("/api/v1/documents/{letter}")).await.1;
    assert_eq!(d["folder_id"], bills, "moved: {d}");
    assert_eq!(runs_of(&a, letter).await.len(), 1, "the workflow's own edit did not run it again");
    // The bill was not edited by a user: no run.
    assert!(runs_of(&a, bill).await.iter().all(|r| r["workflow_id"] != w_updated));

    // A workflow that cannot do what it says fails its run, in words; the others go on.
    let (_, gone) = a.post("/api/v1/folders", &json!({"name": "Gone", "parent_id": home})).await;
    let w_fail = create(
        &a,
        json!({"name": "To a trashed folder", "trigger": {"type": "updated"}, "filters": {"tags_all": [t_seen]},
               "actions": [{"type": "move_to_folder", "folder_id": gone["id"]}]}),
    )
    .await;
    assert_eq!(a.delete(&format!("/api/v1/folders/{}", gone["id"])).await.0, 204);
    a.patch(&format!("/api/v1/documents/{letter}"), &json!({"title": "The letter"})).await;
    settle(&srv).await;
    let runs = runs_of(&a, letter).await;
    let failed = runs.iter().find(|r| r["workflow_id"] == w_fail).expect("its run");
    assert_eq!(failed["outcome"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("trash"), "{failed}");
    assert_eq!(runs.iter().filter(|r| r["workflow_id"] == w_updated).count(), 1, "it left the Inbox: no second run: {runs:?}");
    assert_eq!(a.patch(&format!("/api/v1/workflows/{w_fail}"), &json!({"enabled": false})).await.0, 200);

    // Scheduled: 30 days after the due date (a date field) the bill goes to the trash — once.
    let w_sched = create(
        &a,
        json!({"name": "Overdue", "trigger": {"type": "scheduled", "base": "field", "field_id": due, "offset_days": 30},
               "filters": {"document_type_id": invoice}, "actions": [{"type": "trash"}]}),
    )
    .await;
    let w_old = create(
        &a,
        json!({"name": "Tag on arrival day", "trigger": {"type": "scheduled", "base": "added", "offset_days": 0},
               "filters": {"tags_none": [t_bill]}, "actions": [{"type": "add_tags", "tag_ids": [t_old]}]}),
    )
    .await;
    let w_future = create(
        &a,
        json!({"name": "Not yet", "trigger": {"type": "scheduled", "base": "added", "offset_days": 365},
               "actions": [{"type": "add_tags", "tag_ids": [t_old]}]}),
    )
    .await;
    srv.ctx.store.enqueue(vec![docmerge::jobs::scan_scheduled_job(0)]).await.unwrap();
    wait_for(&a, bill, "trashed by the scheduled workflow", |d| !d["trashed_at"].is_null()).await;
    settle(&srv).await;
    // The letter has no due date and is not an invoice: it stays; it was added today: tagged.
    let d = wait_for(&a, letter, "tagged by the scheduled workflow", |d| tag_names(d).contains(&"old".to_string())).await;
    assert!(d["trashed_at"].is_null(), "{d}");
    srv.ctx.store.enqueue(vec![docmerge::jobs::scan_scheduled_job(0)]).await.unwrap();
    settle(&srv).await;
    let sched: Vec<Value> = runs_of(&a, bill).await.into_iter().filter(|r| r["workflow_id"] == w_sched).collect();
    assert_eq!(sched.len(), 1, "a scheduled workflow runs once per document: {sched:?}");
    assert!(runs_of(&a, bill).await.iter().all(|r| r["workflow_id"] != w_future), "not a year old yet");
    let old_runs: Vec<Value> = runs_of(&a, letter).await.into_iter().filter(|r| r["workflow_id"] == w_old).collect();
    assert_eq!(old_runs.len(), 1, "{old_runs:?}");
    assert_eq!(old_runs[0]["trigger"], "scheduled");

    // Dry run: what each workflow would do to the letter now, filter by filter. Nothing changes.
    let before = a.get(&format!("/api/v1/documents/{letter}")).await.1;
    let (s, dry) = a.post("/api/v1/workflows/dry-run", &json!({"document_id": letter})).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["source"], "upload");
    let results = dry["results"].as_array().unwrap();
    assert_eq!(results.len(), 8, "{dry}");
    let bills_dry = results.iter().find(|r| r["workflow_id"] == w_bill).unwrap();
    assert_eq!(bills_dry["would_run"], false);
    let text_check = bills_dry["checks"].as_array().unwrap().iter().find(|c| c["filter"] == "text_contains").unwrap();
    assert_eq!(text_check["passed"], false, "{bills_dry}");
    let seen_dry = results.iter().find(|r| r["workflow_id"] == w_updated).unwrap();
    assert_eq!(seen_dry["would_run"], false, "it is in Bills now, not below Home: {seen_dry}");
    let (s, one) = a
        .post(
            "/api/v1/workflows/dry-run",
            &json!({"document_id": letter, "workflow": {"name": "try", "trigger": {"type": "processed"},
                    "filters": {"text_contains": "someone else", "folder_id": bills},
                    "actions": [{"type": "webhook", "url": "https://example.invalid/hook", "include_file": true}, {"type": "set_title", "title": "{title} (checked)"}]}}),
        )
        .await;
    assert_eq!(s, 200, "{one}");
    let r = &one["results"][0];
    assert_eq!(r["would_run"], true, "{r}");
    assert_eq!(r["steps"][1]["summary"], "title \"The letter (checked)\"", "{r}");
    let delivery = &r["deliveries"][0];
    assert_eq!(delivery["request"]["body"]["data"]["document"]["id"], letter, "{delivery}");
    assert!(delivery["request"].get("secret").is_none(), "the dry run does not show the secret: {delivery}");
    assert_eq!(a.get(&format!("/api/v1/documents/{letter}")).await.1, before, "a dry run changes nothing");

    // Listing, order, change, delete; the runs of a deleted workflow stay with its name.
    let (_, list) = a.get("/api/v1/workflows").await;
    let order: Vec<i64> = list["items"].as_array().unwrap().iter().map(|w| w["id"].as_i64().unwrap()).collect();
    assert_eq!(order[..3], [w_added, w_updated, w_fail], "position, then id: {list}");
    assert!(order.contains(&w_second) && order.contains(&w_future));
    let (s, e) = a.patch(&format!("/api/v1/workflows/{w_added}"), &json!({"name": "ACME bills"})).await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(a.delete(&format!("/api/v1/workflows/{w_bill}")).await.0, 204);
    assert!(runs_of(&a, bill).await.iter().any(|r| r["workflow_name"] == "ACME bills" && r["workflow_id"].is_null()));

    // Bob sees none of it and can touch none of it.
    assert_eq!(b.get("/api/v1/workflows").await.1["total"], 0);
    assert_eq!(b.get(&format!("/api/v1/workflows/{w_added}")).await.0, 404);
    assert_eq!(b.patch(&format!("/api/v1/workflows/{w_added}"), &json!({"enabled": false})).await.0, 404);
    assert_eq!(b.delete(&format!("/api/v1/workflows/{w_added}")).await.0, 404);
    assert_eq!(b.get(&format!("/api/v1/workflow-runs?document_id={bill}")).await.1["total"], 0);
    assert_eq!(b.post("/api/v1/workflows/dry-run", &json!({"document_id": letter})).await.0, 404);
    assert_eq!(b.post("/api/v1/workflows/dry-run", &json!({"document_id": letter, "workflow_id": w_added})).await.0, 404);
}
db_tests!(workflows_conformance);

/// Polls the receiver until `n` records are in.
async fn records_at_least(r: &Receiver, n: usize, what: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let recs = r.records();
        if recs.len() >= n {
            return recs;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{what}: {recs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn delivery_of(a: &Api, doc: i64) -> Value {
    let runs = runs_of(a, doc).await;
    runs.iter().flat_map(|r| r["deliveries"].as_array().cloned().unwrap_or_default()).next().unwrap_or(Value::Null)
}

/// A webhook with the file goes to a real receiver, signed; the receiver answers 500 twice and
/// it is retried (the same `webhook-id` each time) until it succeeds; an email goes out through
/// a real SMTP server over STARTTLS.
async fn webhooks_and_email(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start(dir.path(), "webhook", &["--secret", SECRET, "--fail-first", "2"]);
    let (ca, cert, key) = certificates(dir.path());
    let smtp = Receiver::start(dir.path(), "smtp", &["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    let smtp_port = smtp.port;
    let srv = TestServer::start_with(db, true, |s| {
        s.workflows.retry_schedule_secs = vec![1, 1, 1];
        s.workflows.ca_file = ca.display().to_string();
        s.smtp.host = "127.0.0.1".into();
        s.smtp.port = smtp_port;
        s.smtp.security = "starttls".into();
        s.smtp.from = "docmerge <docmerge@example.test>".into();
    })
    .await;
    let a = srv.new_user("alice").await;
    let url = format!("http://127.0.0.1:{}/hooks/docmerge", hook.port);
    create(
        &a,
        json!({"name": "Tell the bookkeeper", "trigger": {"type": "processed"}, "filters": {"text_contains": "invoice"},
               "actions": [{"type": "webhook", "url": url, "secret": SECRET, "include_file": true},
                           {"type": "email", "to": ["books@example.test"], "subject": "New: {title}", "body": "{title} arrived ({filename}).", "attach_file": true}]}),
    )
    .await;
    let pdf = tiny_pdf("ACME invoice 42");
    let (_, up) = a.upload("invoice-42.pdf", pdf.clone(), &[("title", "Invoice 42")]).await;
    let doc = up["document"]["id"].as_i64().unwrap();

    let recs = records_at_least(&hook, 3, "three attempts").await;
    assert_eq!(recs.iter().map(|r| r["status"].as_i64().unwrap()).collect::<Vec<_>>(), vec![500, 500, 200], "{recs:?}");
    assert!(recs.iter().all(|r| r["verified"] == true), "every signature verifies with standardwebhooks: {recs:?}");
    let id = recs[0]["webhook_id"].as_str().unwrap();
    assert!(id.starts_with("msg_") && recs.iter().all(|r| r["webhook_id"] == id), "one idempotency key: {recs:?}");
    assert_eq!(recs.iter().filter(|r| r["processed"] == true).count(), 1);
    let body = &recs[2]["body"];
    assert_eq!(body["type"], "document.processed");
    assert_eq!(body["data"]["document"]["id"], doc);
    assert_eq!(body["data"]["document"]["title"], "Invoice 42");
    use base64::Engine;
    let sent = base64::engine::general_purpose::STANDARD.decode(body["data"]["file"]["content_base64"].as_str().unwrap()).unwrap();
    assert_eq!(sent, pdf, "the original file goes along");

    // Its status: delivered on the third attempt, with the receiver's answer.
    let started = Instant::now();
    let d = loop {
        let runs = runs_of(&a, doc).await;
        let ds = runs.first().map(|r| r["deliveries"].as_array().unwrap().clone()).unwrap_or_default();
        if ds.len() == 2 && ds.iter().all(|d| d["state"] != "pending") {
            break ds;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let webhook = d.iter().find(|d| d["kind"] == "webhook").unwrap();
    assert_eq!(
        (webhook["state"].as_str(), webhook["attempts"].as_i64(), webhook["last_status"].as_i64()),
        (Some("delivered"), Some(3), Some(200))
    );
    assert_eq!(webhook["message_id"], id);
    let email = d.iter().find(|d| d["kind"] == "email").unwrap();
    assert_eq!(email["state"], "delivered", "{email}");

    let mails = records_at_least(&smtp, 1, "the email").await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m["tls"], true, "sent after STARTTLS: {m}");
    assert_eq!(m["rcpt_tos"], json!(["books@example.test"]));
    let data = m["data"].as_str().unwrap();
    assert!(data.contains("Subject: New: Invoice 42"), "{data}");
    assert!(data.contains("Invoice 42 arrived (invoice-42)."), "{data}");
    assert!(data.contains("filename=\"invoice-42.pdf\""), "attached: {data}");
    assert!(data.contains(&format!("Message-ID: <{}@docmerge>", email["message_id"].as_str().unwrap())), "{data}");

    // A receiver that is gone: tried by the schedule, then failed with the reason; retried by hand.
    drop(hook);
    create(&a, json!({"name": "Nobody listens", "trigger": {"type": "updated"}, "actions": [{"type": "webhook", "url": url}]})).await;
    a.patch(&format!("/api/v1/documents/{doc}"), &json!({"title": "Invoice 42 (paid)"})).await;
    let started = Instant::now();
    let failed = loop {
        let runs = runs_of(&a, doc).await;
        let d = runs[0]["deliveries"][0].clone();
        if d["state"] == "failed" {
            break d;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{runs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["attempts"], 4, "the first try and three retries: {failed}");
    assert!(failed["last_error"].as_str().unwrap().contains("could not reach"), "{failed}");
    let b = srv.new_user("bob").await;
    assert_eq!(b.post(&format!("/api/v1/workflow-deliveries/{}/retry", failed["id"]), &json!({})).await.0, 404);
    let (s, again) = a.post(&format!("/api/v1/workflow-deliveries/{}/retry", failed["id"]), &json!({})).await;
    assert_eq!((s, again["state"].as_str()), (202, Some("pending")), "{again}");
    assert_eq!(a.post(&format!("/api/v1/workflow-deliveries/{}/retry", webhook["id"]), &json!({})).await.0, 409);
}
db_tests!(webhooks_and_email);

/// A CA, and a certificate for 127.0.0.1 signed by it (the SMTP server's).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (apt: openssl)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=docmerge test CA",
    ]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "smtp.key", "-out", "smtp.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "smtp.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("smtp.pem"), dir.join("smtp.key"))
}

/// The worker sending a webhook is killed while the receiver holds the request; another worker
/// sends it again after the lease expires — with the same `webhook-id`, so the receiver, which
/// keeps the ids it processed, processes it once. Nothing is sent after it was delivered.
async fn a_killed_worker_does_not_deliver_twice(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start(dir.path(), "webhook", &["--secret", SECRET, "--hang-first"]);
    let stack = Stack::start(db, 0, &[("DOCMERGE__WORKER__LEASE_SECS", "5"), ("DOCMERGE__WORKFLOWS__TIMEOUT_SECS", "300")]).await;
    let a = stack.admin().await;
    let url = format!("http://127.0.0.1:{}/hook", hook.port);
    create(&a, json!({"name": "Hook", "trigger": {"type": "added"}, "actions": [{"type": "webhook", "url": url, "secret": SECRET}]})).await;
    let env = stack.env.clone();
    let worker_a = Proc::spawn("worker-a", &["worker"], &env, stack.db.dir.path());
    let (_, up) = a.upload("note.png", crate::harness::tiny_png(30, 20), &[]).await;
    let doc = up["document"]["id"].as_i64().unwrap();
    let first = records_at_least(&hook, 1, "the first attempt").await;
    assert_eq!(first[0]["status"], Value::Null, "held by the receiver");
    worker_a.signal("KILL");
    drop(worker_a);
    let _worker_b = Proc::spawn("worker-b", &["worker"], &env, stack.db.dir.path());
    let recs = records_at_least(&hook, 2, "sent again after the lease expired").await;
    assert_eq!(recs[1]["status"], 200, "{recs:?}");
    assert_eq!(recs[0]["webhook_id"], recs[1]["webhook_id"], "the same idempotency key: {recs:?}");
    assert!(recs.iter().all(|r| r["verified"] == true), "{recs:?}");
    let started = Instant::now();
    let d = loop {
        let d = delivery_of(&a, doc).await;
        if d["state"] == "delivered" {
            break d;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d["message_id"], recs[1]["webhook_id"]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let recs = hook.records();
    assert_eq!(recs.len(), 2, "nothing sent after it was delivered: {recs:?}");
    assert_eq!(recs.iter().filter(|r| r["processed"] == true).count(), 1, "processed once: {recs:?}");
}
db_tests!(a_killed_worker_does_not_deliver_twice);
