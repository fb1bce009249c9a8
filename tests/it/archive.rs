//! `docmerge export` / `docmerge import`: round trips between the backends compared through
//! the API, an import killed half-way and run again, and damaged archives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docmerge::app::AppContext;
use docmerge::archive::{ExportOptions, export, import};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Everything a user sees through the API, as one JSON value: listings, each document with its
/// versions and pages (text), search results, and checksums of the files they download.
/// `derived_bytes`: include checksums of the searchable PDF and page images (only identical
/// when the derived files were exported).
async fn api_view(api: &Api, derived_bytes: bool) -> Value {
    let mut view = serde_json::Map::new();
    let (s, docs) = api.get("/api/v1/documents?page_size=100").await;
    assert_eq!(s, 200, "{docs}");
    view.insert("documents".into(), docs.clone());
    let (_, trash) = api.get("/api/v1/trash").await;
    view.insert("trash".into(), trash.clone());
    let mut ids: Vec<i64> = docs["items"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
    ids.extend(trash["items"].as_array().unwrap().iter().filter_map(|d| d["id"].as_i64()));
    for id in ids {
        let mut d = serde_json::Map::new();
        for part in ["", "/versions", "/pages", "/notes", "/history"] {
            let (s, v) = api.get(&format!("/api/v1/documents/{id}{part}")).await;
            d.insert(format!("get{part}"), json!([s, v]));
        }
        let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{id}/download")).await;
        d.insert("original".into(), json!([s, sha(&bytes)]));
        if derived_bytes {
            let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{id}/download?kind=searchable")).await;
            d.insert("searchable".into(), json!([s, sha(&bytes)]));
            let (_, pages) = api.get(&format!("/api/v1/documents/{id}/pages")).await;
            for p in pages.as_array().cloned().unwrap_or_default() {
                let n = p["number"].as_i64().unwrap_or(0);
                for image in ["thumbnail", "preview"] {
                    let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{id}/pages/{n}/{image}")).await;
                    d.insert(format!("page{n}-{image}"), json!([s, sha(&bytes)]));
                }
            }
        }
        view.insert(format!("document {id}"), Value::Object(d));
    }
    for path in [
        "/api/v1/tags",
        "/api/v1/folders/roots",
        "/api/v1/auth/me",
        "/api/v1/correspondents",
        "/api/v1/document-types",
        "/api/v1/custom-fields",
        "/api/v1/views",
        "/api/v1/dashboard",
        "/api/v1/path-templates",
        "/api/v1/workflows",
    ] {
        let (s, v) = api.get(path).await;
        view.insert(path.into(), json!([s, v]));
    }
    let (_, roots) = api.get("/api/v1/folders/roots").await;
    for key in ["home", "inbox"] {
        if let Some(fid) = roots[key]["id"].as_i64() {
            let (s, v) = api.get(&format!("/api/v1/folders/{fid}/children?page_size=100")).await;
            view.insert(format!("children of {key}"), json!([s, v]));
        }
    }
    for q in [
        "paperless",
        "agenda",
        "the",
        "meet*",
        "tag:invoices",
        "\"city council\"",
        "-the document",
        "lorem ipsum",
        "correspondent:ACME",
        "amount>10",
        "has:note",
        "receipt",
    ] {
        let (s, v) = api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q))).await;
        view.insert(format!("search {q}"), json!([s, v]));
    }
    Value::Object(view)
}

async fn users_view(server: &TestServer, derived_bytes: bool) -> Value {
    let admin = server.admin().await;
    let alice = server.client("alice", "password-of-user").await;
    let (_, users) = admin.get("/api/v1/users").await;
    json!({"users": users, "admin": api_view(&admin, derived_bytes).await, "alice": api_view(&alice, derived_bytes).await})
}

/// Imports `archive` into a fresh database of kind `db` and starts a server on it.
async fn restore(db: Db, archive: &Path, worker: bool) -> TestServer {
    let tdb = TestDb::new(db);
    let ctx = AppContext::build(settings_for(&tdb), true).await.expect("target context");
    let summary = import(&ctx, archive).await.unwrap_or_else(|e| panic!("import of {} failed: {e}", archive.display()));
    assert!(summary.rows > 0, "{summary:?}");
    drop(ctx);
    TestServer::start_on(tdb, worker, |_| {}).await
}

fn first_differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() > 5 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                first_differences(v, y.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                first_differences(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Search results without the numbers each database computes its own way (bm25 vs ts_rank,
/// snippet() vs ts_headline): the hits, their order and pages must still be the same.
fn portable(view: &Value) -> Value {
    let mut v = view.clone();
    for user in ["admin", "alice"] {
        if let Some(obj) = v[user].as_object_mut() {
            for (k, val) in obj.iter_mut() {
                if k.starts_with("search ")
                    && let Some(items) = val[1]["items"].as_array_mut()
                {
                    for it in items {
                        if let Some(o) = it.as_object_mut() {
                            o.remove("rank");
                            o.remove("snippet");
                        }
                    }
                }
            }
        }
    }
    v
}

fn assert_same(a: &Value, b: &Value, what: &str) {
    let mut diffs = Vec::new();
    first_differences(a, b, "", &mut diffs);
    assert!(diffs.is_empty() && a == b, "{what} differ:\n{}", diffs.join("\n"));
}

/// A library made by the real pipeline: corpus files of two users, a subfolder, tags, a
/// trashed document.
async fn corpus_library(db: Db) -> TestServer {
    let server = TestServer::start_with(db, true, |_| {}).await;
    let corpus = corpus_dir();
    let admin = server.admin().await;
    let alice = server.new_user("alice").await;
    let mut ids = Vec::new();
    for (api, file, tags) in [
        (&admin, "bd-paperless-simple.pdf", "invoices"),
        (&admin, "bd-cupertino-agenda.pdf", "invoices,city"),
        (&admin, "img-paperless-simple.p1.png", ""),
        (&alice, "bd-latex-blindtext.pdf", "books"),
    ] {
        let bytes = std::fs::read(corpus.join(file)).expect("corpus file");
        let fields: Vec<(&str, &str)> = if tags.is_empty() { vec![] } else { vec![("tags", tags)] };
        let (s, b) = api.upload(file, bytes, &fields).await;
        assert_eq!(s, 202, "{b}");
        ids.push((api.clone(), b["document"]["id"].as_i64().unwrap()));
    }
    for (api, id) in &ids {
        let d = api.wait_done(*id, Duration::from_secs(300)).await;
        assert_eq!(d["state"], "ready", "{d}");
    }
    let (_, roots) = admin.get("/api/v1/folders/roots").await;
    let home = roots["home"]["id"].as_i64().unwrap();
    let (s, folder) = admin.post("/api/v1/folders", &json!({"parent_id": home, "name": "Council"})).await;
    assert_eq!(s, 201, "{folder}");
    let (s, b) =
        admin.patch(&format!("/api/v1/documents/{}", ids[1].1), &json!({"folder_id": folder["id"], "title": "Agenda of the city"})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = admin.delete(&format!("/api/v1/documents/{}", ids[2].1)).await;
    assert!(s == 200 || s == 204, "{b}");
    // Metadata (#22): a correspondent, a type with a default field, values, a note, an ASN, a view.
    let (_, acme) = admin.post("/api/v1/correspondents", &json!({"name": "ACME", "color": "#112233"})).await;
    let (_, amount) = admin.post("/api/v1/custom-fields", &json!({"name": "Amount", "kind": "monetary", "currency": "EUR"})).await;
    let (_, cat) = admin.post("/api/v1/custom-fields", &json!({"name": "Category", "kind": "select", "options": ["A", "B"]})).await;
    let (_, inv) = admin.post("/api/v1/document-types", &json!({"name": "Invoice", "default_fields": [amount["id"]]})).await;
    let (s, b) = admin
        .patch(
            &format!("/api/v1/documents/{}", ids[0].1),
            &json!({"correspondent_id": acme["id"], "document_type_id": inv["id"], "date": "2024-02-29", "asn": 12,
                    "fields": [{"field_id": amount["id"], "value": "12.5"}, {"field_id": cat["id"], "value": "B"}]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = admin.post(&format!("/api/v1/documents/{}/notes", ids[0].1), &json!({"body": "keep the receipt"})).await;
    assert_eq!(s, 201, "{b}");
    // A path template (#23), given to the type: the invoice gets it and is filed by it.
    let (s, bills) = admin
        .post("/api/v1/path-templates", &json!({"name": "Bills", "template": "Bills/{correspondent}", "filename": "{created} {title}"}))
        .await;
    assert_eq!(s, 201, "{bills}");
    let (s, b) = admin.patch(&format!("/api/v1/document-types/{}", inv["id"]), &json!({"path_template_id": bills["id"]})).await;
    assert_eq!(s, 200, "{b}");
    let started = std::time::Instant::now();
    loop {
        let (_, d) = admin.get(&format!("/api/v1/documents/{}", ids[0].1)).await;
        let (_, crumbs) = admin.get(&format!("/api/v1/folders/{}", d["folder_id"])).await;
        if crumbs.to_string().contains("\"ACME\"") {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "not placed: {d} {crumbs}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A workflow (#23) naming the type and the template: restored with the same ids.
    let (s, b) = admin
        .post(
            "/api/v1/workflows",
            &json!({"name": "Bills to review", "trigger": {"type": "processed"}, "filters": {"document_type_id": inv["id"], "filename": "*.pdf"},
                    "actions": [{"type": "set_path_template", "path_template_id": bills["id"]}, {"type": "add_note", "body": "check {title}"}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = admin.post("/api/v1/views", &json!({"name": "ACME", "query": "correspondent:ACME", "on_dashboard": true})).await;
    assert_eq!(s, 201, "{b}");
    server
}

/// SQLite library (real pipeline) → export with derived files → PostgreSQL: identical through
/// the API. Then PostgreSQL → export without derived files → SQLite with a worker: identical
/// text, listings and search; the derived files come back through the rebuild jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_sqlite_postgres_sqlite() {
    let source = corpus_library(Db::Sqlite).await;
    let expected = users_view(&source, true).await;
    assert!(expected.to_string().contains("Agenda of the city"));
    for carried in ["keep the receipt", "\"asn\":12", "\"date\":\"2024-02-29\"", "\"currency\":\"EUR\"", "correspondent:ACME", "note.added"]
    {
        assert!(expected.to_string().contains(carried), "the view compared must hold {carried}");
    }

    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("library.tar");
    let s = export(&source.ctx, ExportOptions { path: tar.clone(), with_derived: true, since: None }).await.expect("export");
    assert_eq!(s.manifest.source_backend, "sqlite");
    assert_eq!(s.manifest.counts["documents"], 4);
    assert!(s.missing_originals.is_empty());

    let pg = restore(Db::Postgres, &tar, false).await;
    assert_same(&portable(&expected), &portable(&users_view(&pg, true).await), "SQLite and PostgreSQL views");

    // New rows on the restored instance get fresh ids (the sequences were moved on).
    let admin = pg.admin().await;
    let (s, b) = admin.upload("new.pdf", tiny_pdf("after the import"), &[]).await;
    assert_eq!(s, 202, "{b}");
    let max_old = expected["admin"]["documents"]["items"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).max().unwrap();
    assert!(b["document"]["id"].as_i64().unwrap() > max_old, "{b}");
    let (s, _) = admin.delete(&format!("/api/v1/documents/{}", b["document"]["id"])).await;
    assert!(s == 200 || s == 204);
    let (s, _) = admin.delete(&format!("/api/v1/documents/{}/purge", b["document"]["id"])).await;
    assert!(s == 200 || s == 204, "purge");

    let zst = dir.path().join("library.tar.zst");
    let s = export(&pg.ctx, ExportOptions { path: zst.clone(), with_derived: false, since: None }).await.expect("export from PostgreSQL");
    assert_eq!(s.manifest.source_backend, "postgres");
    let back = restore(Db::Sqlite, &zst, true).await;
    // SQLite again: text, listings, search (with ranks and snippets) and originals at once;
    // derived files once the jobs ran.
    assert_same(&users_view(&source, false).await, &users_view(&back, false).await, "original and restored SQLite views");
    let started = Instant::now();
    let admin = back.admin().await;
    let first = expected["admin"]["documents"]["items"][0]["id"].as_i64().unwrap();
    loop {
        let (s, bytes) = admin.get_bytes(&format!("/api/v1/documents/{first}/download?kind=searchable")).await;
        let (t, _) = admin.get_bytes(&format!("/api/v1/documents/{first}/pages/1/thumbnail")).await;
        if s == 200 && t == 200 {
            assert!(bytes.starts_with(b"%PDF"), "the rebuilt searchable PDF is a PDF");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "derived files were not rebuilt (searchable {s}, thumbnail {t})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The rebuild changed no text and no listing.
    let wait = Instant::now();
    loop {
        let (_, jobs) = admin.get("/api/v1/jobs?page_size=100").await;
        let pending = jobs["items"].as_array().map(|a| a.iter().filter(|j| j["state"] != "done").count()).unwrap_or(0);
        if pending == 0 || wait.elapsed() > Duration::from_secs(240) {
            assert_eq!(pending, 0, "{jobs}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_same(&users_view(&source, false).await, &users_view(&back, false).await, "views after the rebuild");
}

/// A synthetic archive of `n` documents in a new directory.
fn synthetic(dir: &Path, n: usize) -> PathBuf {
    let p = dir.join(format!("synthetic-{n}"));
    docmerge::archive::bench::write_synthetic_archive(&p, n).expect("synthetic archive");
    p
}

/// The manifest checksums of an export of `ctx`: equal for equal database content.
async fn content_fingerprint(ctx: &AppContext, dir: &Path, name: &str) -> Vec<(String, String, u64)> {
    let s = export(ctx, ExportOptions { path: dir.join(name), with_derived: false, since: None }).await.expect("export");
    s.manifest.files.iter().map(|f| (f.path.clone(), f.sha256.clone(), f.rows)).collect()
}

async fn search_fingerprint(ctx: &AppContext) -> Vec<Value> {
    let mut out = Vec::new();
    for q in ["invoice", "tax bank", "\"salary pension\"", "synthetic", "refund -car"] {
        let query = docmerge::domain::search::parse_query(q).unwrap();
        let r = ctx.store.search(1, &query, docmerge::domain::PageReq { page: 1, page_size: 50 }).await.expect("search");
        out.push(json!({"q": q, "total": r.total, "hits": serde_json::to_value(&r.items).unwrap()}));
    }
    out
}

/// SIGKILL the real binary half-way through an import, run it again: the result equals an
/// uninterrupted import (rows, search index), nothing twice.
async fn import_killed_and_resumed(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let archive = synthetic(work.path(), 6000);

    let whole = TestDb::new(db);
    let whole_ctx = AppContext::build(settings_for(&whole), true).await.unwrap();
    import(&whole_ctx, &archive).await.expect("uninterrupted import");

    let target = TestDb::new(db);
    let ctx = AppContext::build(settings_for(&target), true).await.unwrap();
    let path = archive.display().to_string();
    let mut child = Proc::spawn("import-1", &["import", &path], &child_env(&target), work.path());
    let started = Instant::now();
    loop {
        let (progress, _) = ctx.store.archive().import_progress().await.unwrap();
        let done: u64 = progress.map(|p| p.lines_done.iter().map(|(_, n)| n).sum()).unwrap_or(0);
        // 6000 each of documents, versions, pages; ~10 000 tag links: half-way is ~14 000.
        if done >= 9000 {
            break;
        }
        assert!(child.child.try_wait().unwrap().is_none(), "the import finished before it could be interrupted ({done} lines)");
        assert!(started.elapsed() < Duration::from_secs(120), "the import made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.signal("KILL");
    let status = child.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(!status.success());
    let (progress, _) = ctx.store.archive().import_progress().await.unwrap();
    assert!(!progress.expect("progress recorded").finished, "the first run was interrupted");

    let mut again = Proc::spawn("import-2", &["import", &path], &child_env(&target), work.path());
    let status = again.wait_exit(Duration::from_secs(300)).expect("second import ends");
    let log = std::fs::read_to_string(work.path().join("import-2.log")).unwrap_or_default();
    assert!(status.success(), "{log}");
    assert!(log.contains("continued an interrupted import"), "{log}");

    assert_eq!(
        content_fingerprint(&whole_ctx, work.path(), "whole").await,
        content_fingerprint(&ctx, work.path(), "resumed").await,
        "resumed import differs from an uninterrupted one"
    );
    assert_eq!(search_fingerprint(&whole_ctx).await, search_fingerprint(&ctx).await);
    // A third run has nothing to do.
    let mut third = Proc::spawn("import-3", &["import", &path], &child_env(&target), work.path());
    assert!(third.wait_exit(Duration::from_secs(60)).expect("third import ends").success());
    let log = std::fs::read_to_string(work.path().join("import-3.log")).unwrap_or_default();
    assert!(log.contains("nothing to do"), "{log}");
}
db_tests!(import_killed_and_resumed);

/// Each damage stops the import with a message naming the item, and leaves the target empty.
async fn damaged_archives_are_refused(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let good = synthetic(work.path(), 40);
    let blob_list = std::fs::read_to_string(good.join("data/blobs.jsonl")).unwrap();
    let first_blob: Value = serde_json::from_str(blob_list.lines().next().unwrap()).unwrap();
    let blob_sha = first_blob["sha256"].as_str().unwrap().to_string();
    let blob_rel = format!("blobs/{}/{}", &blob_sha[..2], blob_sha);

    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("flipped byte in a data file", Box::new(|p: &Path| flip_byte(&p.join("data/pages.jsonl"), 100)), "data/pages.jsonl"),
        (
            "truncated JSON line",
            Box::new(|p: &Path| {
                let f = p.join("data/documents.jsonl");
                let len = std::fs::metadata(&f).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 30).unwrap();
            }),
            "data/documents.jsonl",
        ),
        ("missing data file", Box::new(|p: &Path| std::fs::remove_file(p.join("data/versions.jsonl")).unwrap()), "data/versions.jsonl"),
        ("missing file", Box::new(move |p: &Path| std::fs::remove_file(p.join(&blob_rel)).unwrap()), "is missing"),
        (
            "flipped byte in a file",
            Box::new(|p: &Path| {
                let list = std::fs::read_to_string(p.join("data/blobs.jsonl")).unwrap();
                let sha: Value = serde_json::from_str(list.lines().nth(1).unwrap()).unwrap();
                let sha = sha["sha256"].as_str().unwrap();
                flip_byte(&p.join(format!("blobs/{}/{}", &sha[..2], sha)), 3);
            }),
            "is damaged",
        ),
        ("missing manifest", Box::new(|p: &Path| std::fs::remove_file(p.join("manifest.json")).unwrap()), "manifest.json is missing"),
    ];
    for (what, damage, expected) in cases {
        let copy = work.path().join(what.replace(' ', "-"));
        copy_tree(&good, &copy);
        damage(&copy);
        let target = TestDb::new(db);
        let ctx = AppContext::build(settings_for(&target), true).await.unwrap();
        let err = import(&ctx, &copy).await.expect_err(what).to_string();
        assert!(err.contains(expected), "{what}: the message should name {expected:?}: {err}");
        let (progress, existing) = ctx.store.archive().import_progress().await.unwrap();
        assert_eq!(existing, 0, "{what}: the target must stay empty");
        assert!(progress.is_none(), "{what}: no import was begun");
        assert_eq!(ctx.store.count_users().await.unwrap(), 0);
    }
    // The same damage inside a tar file is found too.
    let tar_path = work.path().join("damaged.tar");
    {
        let copy = work.path().join("for-tar");
        copy_tree(&good, &copy);
        flip_byte(&copy.join("data/tags.jsonl"), 10);
        let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        b.append_dir_all(".", &copy).unwrap();
        b.finish().unwrap();
    }
    let target = TestDb::new(db);
    let ctx = AppContext::build(settings_for(&target), true).await.unwrap();
    let err = import(&ctx, &tar_path).await.expect_err("damaged tar").to_string();
    assert!(err.contains("data/tags.jsonl"), "{err}");
    assert_eq!(ctx.store.count_users().await.unwrap(), 0);
    // And the undamaged archive imports.
    let s = import(&ctx, &good).await.expect("the good archive imports");
    assert_eq!(s.rows as usize, 1 + 52 + 23 + 40 * 3 + count_lines(&good.join("data/document_tags.jsonl")));
}
db_tests!(damaged_archives_are_refused);

/// Importing into a database that has data already is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_needs_an_empty_database() {
    let work = tempfile::tempdir().unwrap();
    let archive = synthetic(work.path(), 5);
    let server = TestServer::start(Db::Sqlite, |_| {}).await;
    let err = import(&server.ctx, &archive).await.expect_err("not empty").to_string();
    assert!(err.contains("not empty"), "{err}");
}

fn count_lines(p: &Path) -> usize {
    std::fs::read_to_string(p).unwrap().lines().count()
}

fn flip_byte(p: &Path, at: u64) {
    let mut bytes = std::fs::read(p).unwrap();
    let i = (at as usize).min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    std::fs::write(p, bytes).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `--incremental SINCE` carries the documents changed since; applied on top of a restore of
/// the full backup it gives the same content (rows and search) as the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_export_applies_on_a_restore() {
    let work = tempfile::tempdir().unwrap();
    let archive = synthetic(work.path(), 30);
    let a = TestDb::new(Db::Sqlite);
    let ctx_a = AppContext::build(settings_for(&a), true).await.unwrap();
    import(&ctx_a, &archive).await.expect("import");
    let full = work.path().join("full.tar");
    export(&ctx_a, ExportOptions { path: full.clone(), with_derived: false, since: None }).await.expect("full export");
    let since = docmerge::domain::now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    ctx_a
        .store
        .update_document(
            1,
            7,
            &docmerge::domain::metadata::DocumentPatch { title: Some("Renamed after the backup".into()), ..Default::default() },
        )
        .await
        .expect("rename");

    let inc = work.path().join("inc");
    let s = export(&ctx_a, ExportOptions { path: inc.clone(), with_derived: false, since: Some(since) }).await.expect("incremental");
    assert_eq!(s.manifest.counts["documents"], 1, "{:?}", s.manifest.counts);
    assert_eq!(s.manifest.counts["pages"], 1);
    assert!(s.manifest.incremental_since.is_some());

    let b = TestDb::new(Db::Postgres);
    let ctx_b = AppContext::build(settings_for(&b), true).await.unwrap();
    import(&ctx_b, &full).await.expect("restore the full backup");
    let q = docmerge::domain::search::parse_query("renamed").unwrap();
    let page = docmerge::domain::PageReq { page: 1, page_size: 10 };
    assert_eq!(ctx_b.store.search(1, &q, page).await.unwrap().total, 0);
    import(&ctx_b, &inc).await.expect("apply the incremental backup");
    assert_eq!(ctx_b.store.search(1, &q, page).await.unwrap().total, 1);
    assert_eq!(
        content_fingerprint(&ctx_a, work.path(), "a").await,
        content_fingerprint(&ctx_b, work.path(), "b").await,
        "source and restored + incremental differ"
    );
}

// ---- scheduled backups ------------------------------------------------------------------

use docmerge::archive::backup::{check_line, enqueue_due_backup, list_backups};

const DAY_MS: i64 = 86_400_000;

/// Waits until the backup of the scheduled time `key` is recorded as done (or panics with the
/// state it is in).
async fn wait_backup_done(ctx: &AppContext, key: &str) {
    let started = Instant::now();
    loop {
        let state = ctx.store.archive().backup_state(key).await.expect("backup state");
        if state.as_deref() == Some("done") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "backup {key} not done: {state:?} {:?}",
            ctx.store.archive().backup_status().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics_text(server: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap()
}

fn slot_of(now: i64) -> i64 {
    docmerge::archive::backup::Schedule::parse("daily at 02:30").unwrap().latest_slot(now).unwrap()
}

/// The worker makes the scheduled backup through the job table; it is a valid archive that
/// `import` restores; `backup.keep` deletes the oldest only once a newer one is verified;
/// `/metrics` and `docmerge check` show the last backup.
async fn scheduled_backups_verify_rotate_and_report(db: Db) {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().join("nightly");
    let dir2 = dir.clone();
    let server = TestServer::start_with(db, true, move |s| {
        s.backup.schedule = "daily at 02:30".into();
        s.backup.path = dir2;
        s.backup.keep = 2;
    })
    .await;
    let ctx = server.ctx.clone();
    let now = docmerge::domain::now_millis();
    // The worker's scheduler queues the latest due time at start.
    let first = docmerge::archive::backup::slot_key(slot_of(now));
    wait_backup_done(&ctx, &first).await;
    assert_eq!(list_backups(&dir).len(), 1, "{:?}", list_backups(&dir));

    let admin = server.admin().await;
    let (s, b) = admin.upload("letter.pdf", tiny_pdf("scheduled backup letter"), &[]).await;
    assert_eq!(s, 202, "{b}");
    let id = b["document"]["id"].as_i64().unwrap();
    assert_eq!(admin.wait_done(id, Duration::from_secs(120)).await["state"], "ready");

    // Two later scheduled times (as if the days had passed), through the same job path.
    let mut keys = vec![first.clone()];
    for days in [1, 2] {
        let slot = enqueue_due_backup(&ctx, now + days * DAY_MS).await.expect("enqueue").expect("a new time is queued");
        let key = docmerge::archive::backup::slot_key(slot);
        wait_backup_done(&ctx, &key).await;
        keys.push(key);
    }
    // The same time again: not queued a second time.
    assert_eq!(enqueue_due_backup(&ctx, now + 2 * DAY_MS).await.expect("enqueue"), None);
    let names: Vec<String> = list_backups(&dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        vec![format!("docmerge-{}.tar.zst", keys[1]), format!("docmerge-{}.tar.zst", keys[2])],
        "keep = 2 keeps the newest two"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files are left: {leftovers:?}");

    // The newest backup is a valid archive with the document.
    let newest = dir.join(&names[1]);
    docmerge::archive::backup::verify_archive(&newest).expect("verifies");
    let restored = restore(db, &newest, false).await;
    let (s, doc) = restored.admin().await.get(&format!("/api/v1/documents/{id}")).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["state"], "ready", "{doc}");

    // /metrics (served from the database, so any `serve` process shows it).
    let metrics = metrics_text(&server).await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .parse()
            .unwrap()
    };
    let status = ctx.store.archive().backup_status().await.unwrap();
    assert_eq!(value("docmerge_backup_last_success_timestamp_seconds"), status.last_success_at.unwrap() as f64 / 1000.0);
    assert!(value("docmerge_backup_last_success_timestamp_seconds") * 1000.0 >= now as f64 - 1000.0);
    assert!(value("docmerge_backup_last_size_bytes") > 0.0);
    assert_eq!(value("docmerge_backup_failures_total"), 0.0);
    assert_eq!(value("docmerge_backup_overdue"), 0.0);
    assert!(metrics.contains("# TYPE docmerge_backup_failures_total counter"), "{metrics}");

    // `docmerge check`, the real binary on this database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_docmerge"))
        .arg("check")
        .envs(child_env(&server.db))
        .env("DOCMERGE__BACKUP__SCHEDULE", "daily at 02:30")
        .env("DOCMERGE__BACKUP__PATH", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("backups") && !l.starts_with('[')).unwrap_or_else(|| panic!("no backup line:\n{stdout}"));
    assert!(line.starts_with("OK") && line.contains(&names[1]), "{line}");
    // Three days without a backup: overdue, and said so.
    let (ok, line) = check_line(&ctx.settings, &status, now + 3 * DAY_MS);
    assert!(!ok && line.contains("overdue"), "{line}");
}
db_tests!(scheduled_backups_verify_rotate_and_report);

/// A backup that cannot be written is counted in /metrics and named in `docmerge check`; no
/// older backup is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_backup_is_counted_and_reported() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let path = blocker.path().join("backups");
    let server = TestServer::start_with(Db::Sqlite, true, move |s| {
        s.backup.schedule = "every 6 hours".into();
        s.backup.path = path;
    })
    .await;
    let ctx = server.ctx.clone();
    let started = Instant::now();
    let status = loop {
        let status = ctx.store.archive().backup_status().await.unwrap();
        if status.failures_total > 0 {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no failure recorded: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.last_success_at.is_none());
    assert!(status.last_error.as_deref().unwrap_or("").contains("cannot create the backup directory"), "{status:?}");
    let metrics = metrics_text(&server).await;
    assert!(metrics.lines().any(|l| l.starts_with("docmerge_backup_failures_total ") && !l.ends_with(" 0")), "{metrics}");
    let later = docmerge::domain::now_millis() + DAY_MS;
    let (ok, line) = check_line(&ctx.settings, &status, later);
    assert!(!ok && line.contains("cannot create the backup directory"), "{line}");
}

/// Two worker processes with the same schedule: one backup per scheduled time. A duplicate
/// job for the same time (as a late scheduler could queue) does nothing.
async fn backup_is_made_once_by_two_workers(db: Db) {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_string_lossy().into_owned();
    let stack = Stack::start(db, 2, &[("DOCMERGE__BACKUP__SCHEDULE", "every 6 hours"), ("DOCMERGE__BACKUP__PATH", &dir)]).await;
    let mut settings = settings_for(&stack.db);
    settings.backup.schedule = "every 6 hours".into();
    settings.backup.path = backups.path().to_path_buf();
    let ctx = AppContext::build(settings, false).await.expect("context");
    let now = docmerge::domain::now_millis();
    let slot = docmerge::archive::backup::Schedule::parse("every 6 hours").unwrap().latest_slot(now).unwrap();
    let key = docmerge::archive::backup::slot_key(slot);
    wait_backup_done(&ctx, &key).await;
    // Both schedulers have looked (each looks at start, then every 30 s).
    let started = Instant::now();
    while !(1..=2).all(|n| stack.log(&format!("worker{}", n - 1)).contains("backup scheduler started")) {
        assert!(started.elapsed() < Duration::from_secs(30), "schedulers did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A duplicate job for the same time, without the unique key: the worker that takes it
    // finds the backup made and does nothing.
    let dup = docmerge::domain::jobs::NewJob::new(docmerge::domain::jobs::JobSpec::Backup(docmerge::domain::jobs::BackupArgs { slot }))
        .max_attempts(1);
    let dup_id = ctx.store.enqueue(vec![dup]).await.unwrap()[0].expect("queued");
    let started = Instant::now();
    loop {
        let j = ctx.store.job(dup_id).await.unwrap();
        if j.state.as_str() == "done" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "duplicate job not done: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files = list_backups(backups.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].file_name().unwrap().to_string_lossy(), format!("docmerge-{key}.tar.zst"));
    let made = (stack.log("worker0") + &stack.log("worker1")).matches("backup done and verified").count();
    assert_eq!(made, 1, "{}\n{}", stack.log("worker0"), stack.log("worker1"));
    let counts = ctx.store.job_counts().await.unwrap();
    let backup_jobs: Vec<_> = counts.iter().filter(|(k, _, _)| k == "backup").collect();
    assert!(backup_jobs.iter().all(|(_, state, _)| state == "done"), "{counts:?}");
    assert!(backup_jobs.iter().map(|(_, _, n)| n).sum::<i64>() >= 2, "the scheduled job and the duplicate: {counts:?}");
}
db_tests!(backup_is_made_once_by_two_workers);

// ---- import --from-paperless ------------------------------------------------------------

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(<md5::Md5 as md5::Digest>::digest(bytes).as_slice())
}

/// A small paperless-ngx `document_exporter` directory in the real format: a manifest.json
/// array of Django fixtures, originals, an archive PDF.
fn paperless_export(dir: &Path) -> PathBuf {
    let export = dir.join("paperless-export");
    std::fs::create_dir_all(export.join("archive")).unwrap();
    let (one, two) = (tiny_pdf("paperless invoice from acme"), tiny_pdf("second paperless letter"));
    let archive_one = tiny_pdf("paperless invoice from acme (archive version)");
    std::fs::write(export.join("0000001.pdf"), &one).unwrap();
    std::fs::write(export.join("archive/0000001.pdf"), &archive_one).unwrap();
    std::fs::write(export.join("0000002.pdf"), &two).unwrap();
    let manifest = json!([
        {"model": "auth.user", "pk": 3, "fields": {"username": "paula", "is_superuser": true}},
        {"model": "documents.correspondent", "pk": 1, "fields": {"owner": 3, "name": "ACME Corp", "match": "", "matching_algorithm": 1, "is_insensitive": true}},
        {"model": "documents.tag", "pk": 1, "fields": {"owner": 3, "name": "invoices", "color": "#a6cee3", "is_inbox_tag": false,
            "match": "inv(oice)?\\s*#?\\d+", "matching_algorithm": 4, "is_insensitive": true}},
        {"model": "documents.tag", "pk": 2, "fields": {"owner": 3, "name": "tax", "color": "#1f78b4", "is_inbox_tag": false,
            "match": "", "matching_algorithm": 6, "is_insensitive": true}},
        {"model": "documents.tag", "pk": 3, "fields": {"owner": 3, "name": "lookbehind", "color": "#1f78b4", "is_inbox_tag": false,
            "match": "(?<=total )\\d+", "matching_algorithm": 4, "is_insensitive": true}},
        {"model": "documents.documenttype", "pk": 1, "fields": {"owner": 3, "name": "Invoice", "match": "Rechnung", "matching_algorithm": 5, "is_insensitive": false}},
        {"model": "documents.storagepath", "pk": 1, "fields": {"owner": 3, "name": "By sender", "path": "{correspondent}/{created_year}/{title}",
            "match": "acme", "matching_algorithm": 1, "is_insensitive": true}},
        {"model": "documents.storagepath", "pk": 2, "fields": {"owner": 3, "name": "Tagged", "path": "{tag_list}/{title}",
            "match": "", "matching_algorithm": 0, "is_insensitive": true}},
        {"model": "documents.document", "pk": 1, "fields": {
            "owner": 3, "correspondent": 1, "storage_path": 1, "title": "ACME invoice 2023-04", "document_type": 1,
            "content": "paperless invoice from acme", "mime_type": "application/pdf", "checksum": md5_hex(&one),
            "archive_checksum": md5_hex(&archive_one), "created": "2023-04-01", "modified": "2023-04-03T09:00:00.123456Z",
            "storage_type": "unencrypted", "added": "2023-04-02T08:30:00Z", "filename": "0000001.pdf", "archive_serial_number": 17,
            "archive_filename": "0000001.pdf", "original_filename": "acme-scan.pdf", "tags": [1, 2]},
         "__exported_file_name__": "0000001.pdf", "__exported_archive_name__": "archive/0000001.pdf", "__exported_thumbnail_name__": "thumbnails/0000001.webp"},
        {"model": "documents.document", "pk": 2, "fields": {
            "owner": 3, "correspondent": null, "storage_path": null, "title": "Second letter", "document_type": null,
            "content": "second paperless letter", "mime_type": "application/pdf", "checksum": md5_hex(&two),
            "archive_checksum": null, "created": "2022-12-31T10:00:00+01:00", "modified": "2023-01-01T00:00:00Z",
            "storage_type": "unencrypted", "added": "2023-01-01T00:00:00Z", "filename": "0000002.pdf", "archive_serial_number": null,
            "archive_filename": null, "original_filename": "letter.pdf", "tags": [2]},
         "__exported_file_name__": "0000002.pdf", "__exported_archive_name__": null},
        {"model": "auth.user", "pk": 4, "fields": {"username": "ghost", "is_superuser": false}},
        {"model": "documents.note", "pk": 1, "fields": {"document": 1, "note": "paid on 5 April", "created": "2023-04-05T12:00:00Z", "user": 3}},
        {"model": "documents.note", "pk": 2, "fields": {"document": 1, "note": "checked", "created": "2023-04-06T12:00:00Z", "user": 4}},
        // Custom fields of every paperless data type (models.CustomField.FieldDataType), with
        // extra_data as paperless writes it: select_options as {id, label} (2.15+) and as plain
        // labels (older exports, whose values are indexes); default_currency for monetary.
        {"model": "documents.customfield", "pk": 1, "fields": {"name": "Reference", "data_type": "string", "extra_data": null}},
        {"model": "documents.customfield", "pk": 2, "fields": {"name": "Remarks", "data_type": "longtext", "extra_data": null}},
        {"model": "documents.customfield", "pk": 3, "fields": {"name": "Portal", "data_type": "url", "extra_data": null}},
        {"model": "documents.customfield", "pk": 4, "fields": {"name": "Due", "data_type": "date", "extra_data": null}},
        {"model": "documents.customfield", "pk": 5, "fields": {"name": "Paid", "data_type": "boolean", "extra_data": null}},
        {"model": "documents.customfield", "pk": 6, "fields": {"name": "Pages", "data_type": "integer", "extra_data": null}},
        {"model": "documents.customfield", "pk": 7, "fields": {"name": "Rate", "data_type": "float", "extra_data": null}},
        {"model": "documents.customfield", "pk": 8, "fields": {"name": "Total", "data_type": "monetary", "extra_data": {"default_currency": "EUR"}}},
        {"model": "documents.customfield", "pk": 9, "fields": {"name": "Related", "data_type": "documentlink", "extra_data": null}},
        {"model": "documents.customfield", "pk": 10, "fields": {"name": "Category", "data_type": "select",
            "extra_data": {"select_options": [{"id": "aB3dE6gH9jK2mN5p", "label": "Insurance"}, {"id": "qR8sT1uV4wX7yZ0a", "label": "Tax"}]}}},
        {"model": "documents.customfield", "pk": 11, "fields": {"name": "Priority", "data_type": "select", "extra_data": {"select_options": ["low", "high"]}}},
        {"model": "documents.customfieldinstance", "pk": 1, "fields": {"document": 1, "field": 1, "value_text": "INV-2023-04"}},
        {"model": "documents.customfieldinstance", "pk": 2, "fields": {"document": 1, "field": 2, "value_long_text": "line one\nline two"}},
        {"model": "documents.customfieldinstance", "pk": 3, "fields": {"document": 1, "field": 3, "value_url": "https://acme.example/invoices/4"}},
        {"model": "documents.customfieldinstance", "pk": 4, "fields": {"document": 1, "field": 4, "value_date": "2023-05-01"}},
        {"model": "documents.customfieldinstance", "pk": 5, "fields": {"document": 1, "field": 5, "value_bool": true}},
        {"model": "documents.customfieldinstance", "pk": 6, "fields": {"document": 1, "field": 6, "value_int": 3}},
        {"model": "documents.customfieldinstance", "pk": 7, "fields": {"document": 1, "field": 7, "value_float": 1.5}},
        {"model": "documents.customfieldinstance", "pk": 8, "fields": {"document": 1, "field": 8, "value_monetary": "EUR123.45"}},
        {"model": "documents.customfieldinstance", "pk": 9, "fields": {"document": 1, "field": 9, "value_document_ids": [2]}},
        {"model": "documents.customfieldinstance", "pk": 10, "fields": {"document": 1, "field": 10, "value_select": "qR8sT1uV4wX7yZ0a"}},
        {"model": "documents.customfieldinstance", "pk": 11, "fields": {"document": 1, "field": 11, "value_select": 1}},
        {"model": "documents.customfieldinstance", "pk": 12, "fields": {"document": 2, "field": 8, "value_monetary": "9.99"}},
        {"model": "documents.customfieldinstance", "pk": 13, "fields": {"document": 2, "field": 5, "value_bool": null}},
        {"model": "documents.savedview", "pk": 1, "fields": {"name": "ACME invoices", "show_on_dashboard": true, "show_in_sidebar": false,
            "sort_field": "created", "sort_reverse": true, "owner": 3}},
        {"model": "documents.savedviewfilterrule", "pk": 1, "fields": {"saved_view": 1, "rule_type": 3, "value": "1"}},
        {"model": "documents.savedviewfilterrule", "pk": 2, "fields": {"saved_view": 1, "rule_type": 4, "value": "1"}},
        {"model": "documents.savedviewfilterrule", "pk": 3, "fields": {"saved_view": 1, "rule_type": 9, "value": "2023-01-01"}},
        {"model": "documents.savedviewfilterrule", "pk": 4, "fields": {"saved_view": 1, "rule_type": 21, "value": "7"}},
        {"model": "documents.savedview", "pk": 2, "fields": {"name": "Tax", "show_on_dashboard": false, "show_in_sidebar": true,
            "sort_field": "title", "sort_reverse": false, "owner": 3}},
        {"model": "documents.savedviewfilterrule", "pk": 5, "fields": {"saved_view": 2, "rule_type": 6, "value": "2"}}
    ]);
    std::fs::write(export.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    export
}

/// A paperless-ngx export goes into an instance in use, owned by the user given: titles, dates,
/// tags (an existing tag name reused), correspondents and document types, custom fields of
/// every paperless type with their values, ASNs, notes with their authors, saved views with
/// their rules in the search language; the originals are processed by docmerge and searchable;
/// a second run does nothing.
async fn paperless_export_is_imported(db: Db) {
    let server = TestServer::start_with(db, true, |_| {}).await;
    let alice = server.new_user("alice").await;
    server.new_user("paula").await; // the author of a paperless note has an account here
    let (s, existing_tag) = alice.post("/api/v1/tags", &json!({"name": "tax", "color": "#000000"})).await;
    assert_eq!(s, 201, "{existing_tag}");
    let (_, existing_corr) = alice.post("/api/v1/correspondents", &json!({"name": "acme corp"})).await;
    let (s, b) = alice.upload("mine.pdf", tiny_pdf("alice own document"), &[]).await;
    assert_eq!(s, 202, "{b}");
    let own = b["document"]["id"].as_i64().unwrap();
    alice.wait_done(own, Duration::from_secs(120)).await;

    let dir = tempfile::tempdir().unwrap();
    let export = paperless_export(dir.path());
    docmerge::archive::paperless::import_paperless(&server.ctx, &export, Some("alice")).await.expect("paperless import");

    let (_, docs) = alice.get("/api/v1/documents?page_size=100").await;
    let items = docs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{docs}");
    let by_title = |t: &str| items.iter().find(|d| d["title"] == t).cloned().unwrap_or_else(|| panic!("no {t}: {docs}"));
    let (acme, letter) = (by_title("ACME invoice 2023-04"), by_title("Second letter"));
    assert!(acme["id"].as_i64().unwrap() > own);
    // created → the document's date; added → when it was added.
    assert_eq!((acme["date"].as_str(), acme["date_source"].as_str()), (Some("2023-04-01"), Some("user")), "{acme}");
    assert!(acme["created_at"].as_str().unwrap().starts_with("2023-04-02T08:30"), "{acme}");
    assert_eq!(letter["date"], "2022-12-31", "the date as paperless showed it: {letter}");
    assert_eq!(acme["asn"], 17);
    assert_eq!(letter["asn"], Value::Null);
    let tags_of = |d: &Value| -> Vec<String> {
        let mut t: Vec<String> = d["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
        t.sort();
        t
    };
    assert_eq!(tags_of(&acme), vec!["invoices", "tax"], "{acme}");
    assert_eq!(tags_of(&letter), vec!["tax"], "{letter}");
    let (_, tags) = alice.get("/api/v1/tags").await;
    let tax: Vec<&Value> = tags["items"].as_array().unwrap().iter().filter(|t| t["name"] == "tax").collect();
    assert_eq!(tax.len(), 1, "the existing tag is reused: {tags}");
    assert_eq!(tax[0]["id"], existing_tag["id"]);
    // Correspondent (an existing one of the same name, case aside, reused) and type.
    assert_eq!(acme["correspondent"]["id"], existing_corr["id"], "{acme}");
    assert_eq!(acme["document_type"]["name"], "Invoice");
    assert_eq!(alice.get("/api/v1/correspondents").await.1["total"], 1);
    // Every custom field type, with its value.
    let value = |d: &Value, name: &str| d["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).map(|f| f["value"].clone());
    let letter_id = letter["id"].as_i64().unwrap();
    for (name, want) in [
        ("Reference", json!("INV-2023-04")),
        ("Remarks", json!("line one\nline two")),
        ("Portal", json!("https://acme.example/invoices/4")),
        ("Due", json!("2023-05-01")),
        ("Paid", json!(true)),
        ("Pages", json!(3)),
        ("Rate", json!(1.5)),
        ("Total", json!({"amount": "123.45", "currency": "EUR"})),
        ("Related", json!([letter_id])),
    ] {
        assert_eq!(value(&acme, name), Some(want), "{name}: {acme}");
    }
    let (_, fields) = alice.get("/api/v1/custom-fields").await;
    let field = |name: &str| fields["items"].as_array().unwrap().iter().find(|f| f["name"] == name).cloned().unwrap();
    let option_label = |f: &Value, id: &Value| f["options"].as_array().unwrap().iter().find(|o| &o["id"] == id).map(|o| o["label"].clone());
    assert_eq!(option_label(&field("Category"), &value(&acme, "Category").unwrap()), Some(json!("Tax")));
    assert_eq!(option_label(&field("Priority"), &value(&acme, "Priority").unwrap()), Some(json!("high")), "an older export: an index");
    assert_eq!(field("Total")["currency"], "EUR");
    assert_eq!(value(&letter, "Total"), Some(json!({"amount": "9.99", "currency": "EUR"})), "no currency written: the field's");
    assert_eq!(value(&letter, "Paid"), Some(Value::Null), "on the document, empty");
    assert_eq!(fields["total"], 11);
    // Notes with their authors: paula has an account, ghost has not.
    let acme_id = acme["id"].as_i64().unwrap();
    let (_, notes) = alice.get(&format!("/api/v1/documents/{acme_id}/notes")).await;
    let notes = notes["items"].as_array().unwrap();
    assert_eq!((notes[0]["body"].as_str(), notes[0]["author"]["username"].as_str()), (Some("paid on 5 April"), Some("paula")), "{notes:?}");
    assert_eq!((notes[1]["body"].as_str(), notes[1]["author"].clone()), (Some("(ghost) checked"), Value::Null), "{notes:?}");
    assert!(notes[0]["created_at"].as_str().unwrap().starts_with("2023-04-05T12:00"));
    // Saved views: rules in the search language (one rule has no equivalent), sort, flags.
    let (_, views) = alice.get("/api/v1/views").await;
    let view =
        |name: &str| views["items"].as_array().unwrap().iter().find(|v| v["name"] == name).cloned().unwrap_or_else(|| panic!("{views}"));
    let acme_view = view("ACME invoices");
    assert_eq!(acme_view["query"], "correspondent:\"ACME Corp\" type:Invoice created>2023-01-01", "{acme_view}");
    assert_eq!((acme_view["sort"].as_str(), acme_view["on_dashboard"].as_bool()), (Some("-date"), Some(true)));
    assert_eq!((view("Tax")["query"].as_str(), view("Tax")["in_sidebar"].as_bool()), (Some("tag:tax"), Some(true)));
    let vid = acme_view["id"].as_i64().unwrap();
    let (_, in_view) = alice.get(&format!("/api/v1/views/{vid}/documents")).await;
    assert_eq!(in_view["total"], 1, "{in_view}");
    // Matching rules: regex and fuzzy carried over (with their case setting); an "auto" on a tag
    // Alice had already (hers stands), an empty "any" and a regex our engine cannot run are not.
    let (_, rules) = alice.get("/api/v1/match-rules").await;
    let rules = rules["items"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, bool)> = rules
        .iter()
        .map(|r| {
            (
                r["target_name"].as_str().unwrap(),
                r["algorithm"].as_str().unwrap(),
                r["pattern"].as_str().unwrap(),
                r["insensitive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("invoices", "regex", "inv(oice)?\\s*#?\\d+", true),
            ("Invoice", "fuzzy", "Rechnung", false),
            ("By sender", "any", "acme", true)
        ],
        "{rules:?}"
    );
    // Storage paths → path templates: the folders, and the file name as the download name; one
    // with a tag list (no equivalent) is left out.
    let (_, templates) = alice.get("/api/v1/path-templates").await;
    let t = &templates["items"].as_array().unwrap();
    assert_eq!(t.len(), 1, "{templates}");
    assert_eq!(
        (t[0]["name"].as_str(), t[0]["template"].as_str(), t[0]["filename"].as_str(), t[0]["fallback"].as_str()),
        (Some("By sender"), Some("{correspondent}/{created:%Y}"), Some("{title}"), Some("none"))
    );
    assert_eq!(acme["path_template"]["name"], "By sender", "{acme}");
    // The search language finds the imported values.
    assert_eq!(alice.get("/api/v1/search?q=total>100").await.1["total"], 1);
    assert_eq!(alice.get("/api/v1/search?q=asn:17").await.1["total"], 1);

    for d in [&acme, &letter] {
        let id = d["id"].as_i64().unwrap();
        let done = alice.wait_done(id, Duration::from_secs(120)).await;
        assert_eq!(done["state"], "ready", "{done}");
        assert_eq!(done["date"], d["date"], "processing keeps the imported date");
    }
    // Processed, the document is filed by its template as paperless had stored it.
    let started = std::time::Instant::now();
    loop {
        let (_, d) = alice.get(&format!("/api/v1/documents/{acme_id}")).await;
        let (_, f) = alice.get(&format!("/api/v1/folders/{}", d["folder_id"])).await;
        let path: Vec<&str> = f["breadcrumbs"].as_array().into_iter().flatten().skip(1).map(|c| c["name"].as_str().unwrap()).collect();
        if path == ["acme corp", "2023"] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not filed: {path:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, versions) = alice.get(&format!("/api/v1/documents/{acme_id}/versions")).await;
    let v = &versions["items"][0];
    assert_eq!(v["filename"], "acme-scan.pdf", "{v}");
    assert!(v["created_at"].as_str().unwrap().starts_with("2023-04-02T08:30"), "{v}");
    let (s, bytes) = alice.get_bytes(&format!("/api/v1/documents/{acme_id}/download")).await;
    assert_eq!(s, 200);
    assert_eq!(bytes, std::fs::read(export.join("0000001.pdf")).unwrap(), "the original, byte for byte");
    let (_, hits) = alice.get("/api/v1/search?q=acme").await;
    assert!(hits["items"].as_array().unwrap().iter().any(|h| h["document"]["id"] == acme_id), "{hits}");
    let (_, admin_docs) = server.admin().await.get("/api/v1/documents").await;
    assert_eq!(admin_docs["total"], 0, "owned by alice only: {admin_docs}");

    // Again: nothing new.
    docmerge::archive::paperless::import_paperless(&server.ctx, &export, Some("alice")).await.expect("second run");
    let (_, docs) = alice.get("/api/v1/documents?page_size=100").await;
    assert_eq!(docs["total"], 3, "{docs}");
}
db_tests!(paperless_export_is_imported);

/// A missing file, a damaged original or archive PDF: the import stops naming the document,
/// and writes no row. Once the export is repaired, it goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_paperless_exports_are_refused() {
    let server = TestServer::start_with(Db::Sqlite, false, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let export = paperless_export(dir.path());
    let admin = server.admin().await;
    let nothing_written = || async {
        let (_, docs) = admin.get("/api/v1/documents").await;
        assert_eq!(docs["total"], 0, "{docs}");
        let (_, tags) = admin.get("/api/v1/tags").await;
        assert_eq!(tags["total"], 0, "{tags}");
    };
    let run = || docmerge::archive::paperless::import_paperless(&server.ctx, &export, None);

    let good = std::fs::read(export.join("0000002.pdf")).unwrap();
    std::fs::remove_file(export.join("0000002.pdf")).unwrap();
    let err = run().await.unwrap_err().to_string();
    assert!(err.contains("document 2 (\"Second letter\")") && err.contains("0000002.pdf"), "{err}");
    nothing_written().await;

    let mut damaged = good.clone();
    damaged[20] ^= 0x01;
    std::fs::write(export.join("0000002.pdf"), &damaged).unwrap();
    let err = run().await.unwrap_err().to_string();
    assert!(err.contains("document 2") && err.contains("checksum"), "{err}");
    nothing_written().await;
    std::fs::write(export.join("0000002.pdf"), &good).unwrap();

    let archive = std::fs::read(export.join("archive/0000001.pdf")).unwrap();
    std::fs::write(export.join("archive/0000001.pdf"), &archive[..archive.len() / 2]).unwrap();
    let err = run().await.unwrap_err().to_string();
    assert!(err.contains("document 1 (\"ACME invoice 2023-04\")") && err.contains("archive_checksum"), "{err}");
    nothing_written().await;
    std::fs::write(export.join("archive/0000001.pdf"), &archive).unwrap();

    std::fs::write(dir.path().join("not-an-export.json"), b"{\"model\": 1}").unwrap();
    let err = docmerge::archive::paperless::import_paperless(&server.ctx, dir.path(), None).await.unwrap_err().to_string();
    assert!(err.contains("manifest.json"), "{err}");

    run().await.expect("the repaired export imports");
    let (_, docs) = admin.get("/api/v1/documents").await;
    assert_eq!(docs["total"], 2, "{docs}");
}
