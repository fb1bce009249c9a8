//! Page operations (issue 9), on SQLite and PostgreSQL: rotate, delete, reorder, move between
//! documents and into a new one, extract, merge, restore a version. After each: page count,
//! order, text and search results of every document involved are exactly as expected, every
//! earlier version still downloads byte-identical, and `pdftotext` of the new searchable PDF
//! reads the stored text. Plus: concurrent edits (one wins, the other gets 409) and bad requests.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Api, Db, TestServer, corpus_dir, db_tests, pdf_pages};

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The text of each page of a PDF as poppler's `pdftotext` reads it.
fn pdftotext_pages(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("doc.pdf");
    std::fs::write(&p, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        // -raw: content-stream order, which is the stored reading order also on turned pages.
        .args(["-raw", p.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (Debian poppler-utils) is needed: .ci/run installs it");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

async fn start(db: Db) -> (TestServer, Api) {
    let server = TestServer::start_with(db, true, |_| {}).await;
    let api = server.admin().await;
    (server, api)
}

/// Uploads a born-digital PDF with one page per text and waits until it is ready.
async fn upload(api: &Api, name: &str, texts: &[&str]) -> i64 {
    let (s, up) = api.upload(name, pdf_pages(texts), &[]).await;
    assert_eq!(s, 202, "{up}");
    let id = up["document"]["id"].as_i64().unwrap();
    let d = api.wait_done(id, Duration::from_secs(120)).await;
    assert_eq!(d["state"], "ready", "{d}");
    id
}

async fn doc(api: &Api, id: i64) -> Value {
    let (s, d) = api.get(&format!("/api/v1/documents/{id}")).await;
    assert_eq!(s, 200, "{d}");
    d
}

async fn version_of(api: &Api, id: i64) -> i64 {
    doc(api, id).await["version"]["id"].as_i64().unwrap()
}

async fn pages(api: &Api, id: i64) -> Vec<Value> {
    let (s, p) = api.get(&format!("/api/v1/documents/{id}/pages")).await;
    assert_eq!(s, 200, "{p}");
    p["items"].as_array().unwrap().clone()
}

async fn texts(api: &Api, id: i64) -> Vec<String> {
    pages(api, id).await.iter().map(|p| p["text"].as_str().unwrap().to_string()).collect()
}

/// (document, page) of every hit of a word.
async fn hits(api: &Api, word: &str) -> BTreeSet<(i64, i64)> {
    let (s, r) = api.get(&format!("/api/v1/search?q={word}")).await;
    assert_eq!(s, 200, "{r}");
    r["items"].as_array().unwrap().iter().map(|h| (h["document"]["id"].as_i64().unwrap(), h["page_number"].as_i64().unwrap_or(0))).collect()
}

async fn download(api: &Api, id: i64, kind: &str, version: i64) -> Vec<u8> {
    let (s, b) = api.get_bytes(&format!("/api/v1/documents/{id}/download?kind={kind}&version={version}")).await;
    assert_eq!(s, 200, "download {kind} of version {version} of {id}");
    b
}

/// Both files of every version of the document, keyed by version id.
async fn all_files(api: &Api, id: i64) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let (_, vs) = api.get(&format!("/api/v1/documents/{id}/versions")).await;
    let mut out = Vec::new();
    for v in vs["items"].as_array().unwrap() {
        let vid = v["id"].as_i64().unwrap();
        out.push((vid, download(api, id, "original", vid).await, download(api, id, "searchable", vid).await));
    }
    out
}

/// Every version recorded before still downloads byte-identical.
async fn assert_versions_unchanged(api: &Api, id: i64, before: &[(i64, Vec<u8>, Vec<u8>)]) {
    for (vid, original, searchable) in before {
        assert!(download(api, id, "original", *vid).await == *original, "original of version {vid} of document {id} changed");
        assert!(download(api, id, "searchable", *vid).await == *searchable, "searchable PDF of version {vid} of document {id} changed");
    }
}

/// The stored text of the current version, page by page, is what pdftotext reads in its
/// searchable PDF (so it is also the text that was copied, not recognised again).
async fn assert_pdf_matches_text(api: &Api, id: i64) -> Vec<String> {
    let d = doc(api, id).await;
    let stored = texts(api, id).await;
    assert_eq!(d["page_count"].as_u64().unwrap() as usize, stored.len(), "{d}");
    let pdf = download(api, id, "searchable", d["version"]["id"].as_i64().unwrap()).await;
    let read = pdftotext_pages(&pdf);
    assert_eq!(read.len(), stored.len(), "page count of the searchable PDF of document {id}");
    for (i, (r, s)) in read.iter().zip(&stored).enumerate() {
        assert_eq!(words(r), words(s), "page {} of document {id}: pdftotext vs stored text", i + 1);
    }
    stored
}

async fn events_of(server: &TestServer, doc: i64) -> Vec<(String, Value)> {
    let evs = server.ctx.store.events_after(None, 0, 100_000).await.unwrap();
    evs.into_iter().filter(|e| e.document_id == Some(doc)).map(|e| (e.kind().to_string(), e.data.payload())).collect()
}

async fn post_ok(api: &Api, path: &str, body: Value) -> Value {
    let (s, r) = api.post(path, &body).await;
    assert_eq!(s, 200, "{path} {body}: {r}");
    r
}

fn set(items: &[(i64, i64)]) -> BTreeSet<(i64, i64)> {
    items.iter().copied().collect()
}

async fn rotate_keeps_text_and_old_versions(db: Db) {
    let (server, api) = start(db).await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let before = all_files(&api, a).await;
    let old_pages = pages(&api, a).await;
    let v1 = version_of(&api, a).await;
    let r = post_ok(&api, &format!("/api/v1/documents/{a}/pages/rotate"), json!({"base_version": v1, "pages": [2], "degrees": 90})).await;
    assert_eq!(r["documents"][0]["id"], a);
    assert_eq!(r["documents"][0]["version"]["number"], 2);
    let d = doc(&api, a).await;
    assert_eq!(d["version"]["number"], 2);
    assert_ne!(d["version"]["id"].as_i64().unwrap(), v1);
    let now = pages(&api, a).await;
    assert_eq!(now.len(), 3);
    // Width and height of the turned page swap; the others are as they were.
    assert_eq!(now[1]["width"], old_pages[1]["height"]);
    assert_eq!(now[1]["height"], old_pages[1]["width"]);
    assert_eq!(now[0]["width"], old_pages[0]["width"]);
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec!["Alpha one", "Bravo two", "Charlie three"]);
    assert_eq!(hits(&api, "bravo").await, set(&[(a, 2)]));
    assert_eq!(hits(&api, "charlie").await, set(&[(a, 3)]));
    assert_versions_unchanged(&api, a, &before).await;
    let evs = events_of(&server, a).await;
    assert!(evs.iter().any(|(k, d)| k == "document.updated" && d["operation"] == "rotate"), "{evs:?}");
    // The thumbnail of the turned page is turned by a job: landscape now.
    let started = Instant::now();
    loop {
        let p = &pages(&api, a).await[1];
        let (s, img) = api.get_bytes(p["thumbnail_url"].as_str().unwrap()).await;
        assert_eq!(s, 200);
        let img = image::load_from_memory(&img).unwrap();
        if img.width() > img.height() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the thumbnail of the rotated page was not turned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let evs = events_of(&server, a).await;
    assert!(evs.iter().any(|(k, d)| k == "document.updated" && d["operation"] == "page_images"), "{evs:?}");
    // The untouched page's thumbnail is still portrait.
    let (_, img) = api.get_bytes(pages(&api, a).await[0]["thumbnail_url"].as_str().unwrap()).await;
    let img = image::load_from_memory(&img).unwrap();
    assert!(img.height() > img.width());
}
db_tests!(rotate_keeps_text_and_old_versions);

/// A scanned (OCR'd) page: turning it keeps its recognised text — not recognised again — and
/// the invisible text layer of its searchable PDF turns with it.
async fn rotate_scanned_page_keeps_its_text_layer(db: Db) {
    let (_server, api) = start(db).await;
    let (s, up) = api.upload("scan.png", std::fs::read(corpus_dir().join("scan-phototest.png")).unwrap(), &[]).await;
    assert_eq!(s, 202, "{up}");
    let a = up["document"]["id"].as_i64().unwrap();
    let d = api.wait_done(a, Duration::from_secs(300)).await;
    assert_eq!(d["state"], "ready", "{d}");
    let before = all_files(&api, a).await;
    let old = pages(&api, a).await;
    assert_eq!(old[0]["source"], "ocr");
    let text = old[0]["text"].as_str().unwrap().to_string();
    assert!(words(&text).len() > 20, "the scan has text: {text}");
    let v1 = version_of(&api, a).await;
    post_ok(&api, &format!("/api/v1/documents/{a}/pages/rotate"), json!({"base_version": v1, "pages": [1], "degrees": 270})).await;
    let now = pages(&api, a).await;
    assert_eq!(now[0]["text"], old[0]["text"]);
    assert_eq!(now[0]["source"], "ocr");
    assert_eq!((now[0]["width"].clone(), now[0]["height"].clone()), (old[0]["height"].clone(), old[0]["width"].clone()));
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec![text.clone()]);
    let word = words(&text).into_iter().find(|w| w.len() >= 5).unwrap();
    assert_eq!(hits(&api, &word).await, set(&[(a, 1)]));
    assert_versions_unchanged(&api, a, &before).await;
}
db_tests!(rotate_scanned_page_keeps_its_text_layer);

async fn delete_reorder_and_restore(db: Db) {
    let (_server, api) = start(db).await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let before = all_files(&api, a).await;
    let v1 = version_of(&api, a).await;
    post_ok(&api, &format!("/api/v1/documents/{a}/pages/delete"), json!({"base_version": v1, "pages": [1]})).await;
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec!["Bravo two", "Charlie three"]);
    assert_eq!(hits(&api, "alpha").await, set(&[]));
    assert_eq!(hits(&api, "bravo").await, set(&[(a, 1)]));
    assert_versions_unchanged(&api, a, &before).await;

    let before = all_files(&api, a).await;
    let v2 = version_of(&api, a).await;
    post_ok(&api, &format!("/api/v1/documents/{a}/pages/reorder"), json!({"base_version": v2, "order": [2, 1]})).await;
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec!["Charlie three", "Bravo two"]);
    assert_eq!(hits(&api, "charlie").await, set(&[(a, 1)]));
    assert_eq!(hits(&api, "bravo").await, set(&[(a, 2)]));
    assert_versions_unchanged(&api, a, &before).await;

    // Restore version 1 as the newest: version 4, the same file as version 1, all pages back.
    let v3 = version_of(&api, a).await;
    let r = post_ok(&api, &format!("/api/v1/documents/{a}/versions/{v1}/restore"), json!({"base_version": v3})).await;
    assert_eq!(r["documents"][0]["version"]["number"], 4);
    let v4 = version_of(&api, a).await;
    assert_eq!(download(&api, a, "original", v4).await, before[0].1);
    assert_eq!(download(&api, a, "searchable", v4).await, before[0].2);
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec!["Alpha one", "Bravo two", "Charlie three"]);
    assert_eq!(hits(&api, "alpha").await, set(&[(a, 1)]));
    assert_eq!(hits(&api, "charlie").await, set(&[(a, 3)]));
    let (_, vs) = api.get(&format!("/api/v1/documents/{a}/versions")).await;
    assert_eq!(vs["total"], 4);
    assert_versions_unchanged(&api, a, &before).await;
}
db_tests!(delete_reorder_and_restore);

async fn move_pages_between_documents(db: Db) {
    let (server, api) = start(db).await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let b = upload(&api, "second.pdf", &["Kilo eleven", "Lima twelve"]).await;
    let (before_a, before_b) = (all_files(&api, a).await, all_files(&api, b).await);
    let (va, vb) = (version_of(&api, a).await, version_of(&api, b).await);
    let r = post_ok(
        &api,
        &format!("/api/v1/documents/{a}/pages/move"),
        json!({"base_version": va, "pages": [3, 1], "to_document": b, "to_base_version": vb, "position": 2}),
    )
    .await;
    assert_eq!(r["documents"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(assert_pdf_matches_text(&api, a).await, vec!["Bravo two"]);
    assert_eq!(assert_pdf_matches_text(&api, b).await, vec!["Kilo eleven", "Charlie three", "Alpha one", "Lima twelve"]);
    assert_eq!(hits(&api, "charlie").await, set(&[(b, 2)]));
    assert_eq!(hits(&api, "alpha").await, set(&[(b, 3)]));
    assert_eq!(hits(&api, "bravo").await, set(&[(a, 1)]));
    assert_eq!(hits(&api, "lima").await, set(&[(b, 4)]));
    assert_versions_unchanged(&api, a, &before_a).await;
    assert_versions_unchanged(&api, b, &before_b).await;
    for d in [a, b] {
        let evs = events_of(&server, d).await;
        assert!(evs.iter().any(|(k, e)| k == "document.updated" && e["operation"] == "move"), "{evs:?}");
    }

    // Into a new document in another folder: the pages leave b, the new document has them.
    let (s, folder) = api.post("/api/v1/folders", &json!({"name": "Moved", "parent_id": doc(&api, b).await["folder_id"]})).await;
    assert_eq!(s, 201, "{folder}");
    let fid = folder["id"].as_i64().unwrap();
    let vb = version_of(&api, b).await;
    let r = post_ok(
        &api,
        &format!("/api/v1/documents/{b}/pages/move"),
        json!({"base_version": vb, "pages": [4, 1], "to_folder": fid, "title": "Split off"}),
    )
    .await;
    let c = r["created"]["id"].as_i64().expect("a new document");
    assert_eq!(r["created"]["title"], "Split off");
    assert_eq!(r["created"]["folder_id"], fid);
    assert_eq!(r["created"]["state"], "ready");
    assert_eq!(assert_pdf_matches_text(&api, c).await, vec!["Lima twelve", "Kilo eleven"]);
    assert_eq!(assert_pdf_matches_text(&api, b).await, vec!["Charlie three", "Alpha one"]);
    assert_eq!(hits(&api, "kilo").await, set(&[(c, 2)]));
    assert_eq!(hits(&api, "lima").await, set(&[(c, 1)]));
    assert_eq!(hits(&api, "charlie").await, set(&[(b, 1)]));
    let evs = events_of(&server, c).await;
    assert!(evs.iter().any(|(k, _)| k == "document.created"), "{evs:?}");
    assert_versions_unchanged(&api, b, &before_b).await;
}
db_tests!(move_pages_between_documents);

async fn extract_and_merge(db: Db) {
    let (server, api) = start(db).await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let b = upload(&api, "second.pdf", &["Kilo eleven", "Lima twelve"]).await;
    let before_a = all_files(&api, a).await;
    let va = version_of(&api, a).await;
    // Extract copies: the source keeps its pages and its version.
    let r = post_ok(&api, &format!("/api/v1/documents/{a}/pages/extract"), json!({"base_version": va, "pages": [3, 2]})).await;
    let c = r["created"]["id"].as_i64().unwrap();
    assert!(r["created"]["title"].as_str().unwrap().contains("pages 2, 3"), "{r}");
    assert_eq!(r["documents"].as_array().unwrap().len(), 0);
    assert_eq!(version_of(&api, a).await, va);
    assert_eq!(assert_pdf_matches_text(&api, c).await, vec!["Charlie three", "Bravo two"]);
    assert_eq!(texts(&api, a).await, vec!["Alpha one", "Bravo two", "Charlie three"]);
    assert_eq!(hits(&api, "bravo").await, set(&[(a, 2), (c, 2)]));

    // Merge b, then a into b: b gets a's pages after its own, a goes to the trash.
    let vb = version_of(&api, b).await;
    let r = post_ok(&api, "/api/v1/documents/merge", json!({"documents": [{"id": b, "base_version": vb}, {"id": a, "base_version": va}]}))
        .await;
    assert_eq!(r["documents"][0]["id"], b);
    assert_eq!(assert_pdf_matches_text(&api, b).await, vec!["Kilo eleven", "Lima twelve", "Alpha one", "Bravo two", "Charlie three"]);
    assert!(doc(&api, a).await["trashed_at"].is_string());
    assert_eq!(hits(&api, "alpha").await, set(&[(b, 3)]));
    assert_eq!(hits(&api, "bravo").await, set(&[(b, 4), (c, 2)]));
    assert_versions_unchanged(&api, a, &before_a).await;
    let evs = events_of(&server, a).await;
    assert!(evs.iter().any(|(k, e)| k == "document.trashed" && e["operation"] == "merge"), "{evs:?}");
}
db_tests!(extract_and_merge);

async fn concurrent_edits_one_wins(db: Db) {
    let (server, api) = start(db).await;
    let other = server.client("admin", "admin-password-1").await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let b = upload(&api, "second.pdf", &["Kilo eleven", "Lima twelve"]).await;
    let (va, vb) = (version_of(&api, a).await, version_of(&api, b).await);
    // Two clients at once on the same version of a: one moves page 1 to b, the other deletes it.
    let move_path = format!("/api/v1/documents/{a}/pages/move");
    let delete_path = format!("/api/v1/documents/{a}/pages/delete");
    let move_body = json!({"base_version": va, "pages": [1], "to_document": b, "to_base_version": vb});
    let delete_body = json!({"base_version": va, "pages": [1]});
    let ((s1, r1), (s2, r2)) = tokio::join!(api.post(&move_path, &move_body), other.post(&delete_path, &delete_body));
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{r1} / {r2}");
    let loser = if s1 == 409 { &r1 } else { &r2 };
    assert_eq!(loser["code"], "conflict");
    // The loser arrived before the winner committed (its base version is gone) or after (the
    // winner's new version is being processed): a conflict either way, saying which.
    let why = loser["message"].as_str().unwrap();
    assert!(why.contains("changed meanwhile") || why.contains("still being processed"), "{loser}");
    // Consistent: page 1 is in exactly one place, each document has one new version at most.
    let (ta, tb) = (texts(&api, a).await, texts(&api, b).await);
    assert_eq!(ta, vec!["Bravo two", "Charlie three"]);
    let alpha = hits(&api, "alpha").await;
    if s1 == 200 {
        assert_eq!(tb, vec!["Kilo eleven", "Lima twelve", "Alpha one"]);
        assert_eq!(alpha, set(&[(b, 3)]));
    } else {
        assert_eq!(tb, vec!["Kilo eleven", "Lima twelve"]);
        assert_eq!(alpha, set(&[]));
    }
    assert_eq!(doc(&api, a).await["version"]["number"], 2);
    // A client that saw the old version keeps getting 409 until it reloads.
    let (s, r) =
        other.post(&format!("/api/v1/documents/{a}/pages/rotate"), &json!({"base_version": va, "pages": [1], "degrees": 180})).await;
    assert_eq!(s, 409, "{r}");
    let fresh = version_of(&other, a).await;
    post_ok(&other, &format!("/api/v1/documents/{a}/pages/rotate"), json!({"base_version": fresh, "pages": [1], "degrees": 180})).await;
    assert_eq!(doc(&api, a).await["version"]["number"], 3);
}
db_tests!(concurrent_edits_one_wins);

async fn bad_requests_get_a_sentence(db: Db) {
    let (server, api) = start(db).await;
    let a = upload(&api, "first.pdf", &["Alpha one", "Bravo two", "Charlie three"]).await;
    let one = upload(&api, "single.pdf", &["Lonely page"]).await;
    let va = version_of(&api, a).await;
    let vone = version_of(&api, one).await;
    let rot = format!("/api/v1/documents/{a}/pages/rotate");
    let cases: Vec<(String, Value, u16, &str)> = vec![
        (rot.clone(), json!({"base_version": va, "pages": [4], "degrees": 90}), 400, "page 4 does not exist: document"),
        (rot.clone(), json!({"base_version": va, "pages": [0], "degrees": 90}), 400, "page 0 does not exist"),
        (rot.clone(), json!({"base_version": va, "pages": [], "degrees": 90}), 400, "select at least one page"),
        (rot.clone(), json!({"base_version": va, "pages": [1, 1], "degrees": 90}), 400, "selected twice"),
        (rot.clone(), json!({"base_version": va, "pages": [1], "degrees": 45}), 400, "degrees must be 90, 180 or 270"),
        (rot.clone(), json!({"base_version": va, "pages": "1", "degrees": 90}), 400, "the JSON body is not valid"),
        (rot.clone(), json!({"pages": [1], "degrees": 90}), 400, "base_version"),
        (rot.clone(), json!({"base_version": va + 1000, "pages": [1], "degrees": 90}), 409, "changed meanwhile"),
        (format!("/api/v1/documents/{a}/pages/delete"), json!({"base_version": va, "pages": [3, 1, 2]}), 400, "cannot lose all its pages"),
        (format!("/api/v1/documents/{one}/pages/delete"), json!({"base_version": vone, "pages": [1]}), 400, "cannot lose all its pages"),
        (format!("/api/v1/documents/{a}/pages/reorder"), json!({"base_version": va, "order": [1, 2]}), 400, "exactly once"),
        (
            format!("/api/v1/documents/{one}/pages/move"),
            json!({"base_version": vone, "pages": [1], "to_document": a, "to_base_version": va}),
            400,
            "cannot move every page",
        ),
        (
            format!("/api/v1/documents/{a}/pages/move"),
            json!({"base_version": va, "pages": [1], "to_document": a, "to_base_version": va}),
            400,
            "reorder",
        ),
        (
            format!("/api/v1/documents/{a}/pages/move"),
            json!({"base_version": va, "pages": [1], "to_document": one}),
            400,
            "to_base_version is required",
        ),
        (
            format!("/api/v1/documents/{a}/pages/move"),
            json!({"base_version": va, "pages": [1], "to_document": one, "to_base_version": vone, "position": 3}),
            400,
            "position 3 is outside",
        ),
        (
            format!("/api/v1/documents/{a}/pages/move"),
            json!({"base_version": va, "pages": [1], "to_document": 999_999, "to_base_version": 1}),
            404,
            "document 999999 not found",
        ),
        (
            format!("/api/v1/documents/{a}/pages/extract"),
            json!({"base_version": va, "pages": [1], "folder_id": 999_999}),
            404,
            "folder 999999 not found",
        ),
        ("/api/v1/documents/merge".into(), json!({"documents": [{"id": a, "base_version": va}]}), 400, "at least two documents"),
        (
            "/api/v1/documents/merge".into(),
            json!({"documents": [{"id": a, "base_version": va}, {"id": a, "base_version": va}]}),
            400,
            "listed twice",
        ),
        (format!("/api/v1/documents/{a}/versions/{va}/restore"), json!({"base_version": va}), 400, "already the current version"),
    ];
    for (path, body, status, needle) in cases {
        let (s, r) = api.post(&path, &body).await;
        assert_eq!(s, status, "{path} {body}: {r}");
        let msg = r["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{path} {body}: expected {needle:?} in {r}");
    }
    // Nothing above changed anything.
    assert_eq!(version_of(&api, a).await, va);
    assert_eq!(texts(&api, a).await, vec!["Alpha one", "Bravo two", "Charlie three"]);
    // Another user's documents are not found, for every operation.
    let mallory = server.new_user("mallory").await;
    let m = upload(&mallory, "mine.pdf", &["Mallory page", "Second page"]).await;
    let vm = version_of(&mallory, m).await;
    let (s, r) = mallory.post(&rot, &json!({"base_version": va, "pages": [1], "degrees": 90})).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");
    let (s, r) = mallory
        .post(
            &format!("/api/v1/documents/{m}/pages/move"),
            &json!({"base_version": vm, "pages": [1], "to_document": a, "to_base_version": va}),
        )
        .await;
    assert_eq!(s, 404, "{r}");
    let (s, r) = mallory
        .post("/api/v1/documents/merge", &json!({"documents": [{"id": m, "base_version": vm}, {"id": a, "base_version": va}]}))
        .await;
    assert_eq!(s, 404, "{r}");
    assert_eq!(texts(&mallory, m).await, vec!["Mallory page", "Second page"]);
    assert_eq!(version_of(&api, a).await, va);
}
db_tests!(bad_requests_get_a_sentence);

/// `docmerge bench pages` runs end to end on tiny documents and prints its table (the speed
/// targets live in BENCHMARKS.md, never in a test).
#[test]
fn bench_pages_prints_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_docmerge"));
    cmd.args([
        "bench",
        "pages",
        "--pages",
        "12",
        "--moved",
        "3",
        "--runs",
        "2",
        "--database",
        "sqlite",
        "--database",
        &crate::harness::pg_admin_url(),
    ])
    .env_remove("DOCMERGE_CONFIG")
    .env("DOCMERGE__STORAGE__ROOT", dir.path())
    .env("DOCMERGE__LOG__LEVEL", "warn");
    if let Ok(rt) = std::env::var("DOCMERGE_RUNTIME_DIR") {
        cmd.env("DOCMERGE__PDF__LIBRARY_PATH", format!("{rt}/lib/libpdfium.so")).env("DOCMERGE__OCR__MODELS_DIR", format!("{rt}/models"));
    }
    let out = cmd.output().expect("run docmerge bench pages");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docmerge bench pages failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("p50 ms"), "{stdout}");
    for backend in ["sqlite ", "postgres "] {
        let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with(backend)).collect();
        assert_eq!(rows.len(), 2, "{stdout}");
        assert!(rows[0].contains("rotate 1 page") && rows[1].contains("move 3 pages"), "{stdout}");
    }
}
