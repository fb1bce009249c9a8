//! Black-box API tests through real HTTP against a server started in-process, on both backends.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Api, Db, TestServer, db_tests, tiny_pdf, tiny_png};

fn ids(list: &Value) -> Vec<i64> {
    list["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

async fn full_story(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let api = srv.admin().await;

    let (s, roots) = api.get("/api/v1/folders/roots").await;
    assert_eq!(s, 200);
    let (home, inbox) = (roots["home"]["id"].as_i64().unwrap(), roots["inbox"]["id"].as_i64().unwrap());

    // Upload into the Inbox (default) with a title and tags.
    let (s, up) = api.upload("invoice-acme.png", tiny_png(64, 48), &[("title", "Acme invoice March"), ("tags", "invoices, acme")]).await;
    assert_eq!(s, 202, "{up}");
    let doc = up["document"]["id"].as_i64().unwrap();
    assert_eq!(up["document"]["state"], "queued");
    assert_eq!(up["document"]["folder_id"], inbox);
    assert_eq!(up["document"]["version"]["mime"], "image/png");
    assert!(up["job_id"].as_i64().is_some() && up["version_id"].as_i64().is_some());
    let tag_names: Vec<&str> = up["document"]["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tag_names, vec!["acme", "invoices"]);

    // The same bytes again: kept, flagged as a duplicate of the first.
    let (s, dup) = api.upload("again.png", tiny_png(64, 48), &[]).await;
    assert_eq!(s, 202);
    assert_eq!(dup["document"]["duplicate_of"], doc);

    // Lists never carry page text; pagination has a total.
    let (s, list) = api.get(&format!("/api/v1/documents?folder_id={inbox}&page_size=1")).await;
    assert_eq!(s, 200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("text").is_none());
    let (_, dups) = api.get("/api/v1/documents?duplicate=true").await;
    assert_eq!(ids(&dups), vec![dup["document"]["id"].as_i64().unwrap()]);

    // Tags: create one with a colour, assign, counts.
    let (s, tag) = api.post("/api/v1/tags", &json!({"name": "tax 2024", "color": "#1E88E5"})).await;
    assert_eq!(s, 201, "{tag}");
    assert_eq!(tag["color"], "#1e88e5");
    let tag_id = tag["id"].as_i64().unwrap();
    let (s, d) = api.post(&format!("/api/v1/documents/{doc}/tags"), &json!({"tag_ids": [tag_id]})).await;
    assert_eq!(s, 200);
    assert_eq!(d["tags"].as_array().unwrap().len(), 3);
    let (_, tags) = api.get("/api/v1/tags").await;
    let t = tags["items"].as_array().unwrap().iter().find(|t| t["id"] == tag_id).unwrap();
    assert_eq!(t["document_count"], 1);
    let (_, by_tag) = api.get(&format!("/api/v1/documents?tag={tag_id}")).await;
    assert_eq!(ids(&by_tag), vec![doc]);

    // Move into a new folder under Home; breadcrumbs show the path.
    let (s, folder) = api.post("/api/v1/folders", &json!({"name": "Taxes", "parent_id": home})).await;
    assert_eq!(s, 201, "{folder}");
    let fid = folder["id"].as_i64().unwrap();
    let (s, d) = api.patch(&format!("/api/v1/documents/{doc}"), &json!({"folder_id": fid, "title": "Acme invoice (March)"})).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["folder_id"], fid);
    let (_, f) = api.get(&format!("/api/v1/folders/{fid}")).await;
    let crumbs: Vec<&str> = f["breadcrumbs"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(crumbs, vec!["Home", "Taxes"]);
    let (_, children) = api.get(&format!("/api/v1/folders/{home}/children")).await;
    assert_eq!(children["items"][0]["type"], "folder");
    assert_eq!(children["items"][0]["name"], "Taxes");
    let (_, children) = api.get(&format!("/api/v1/folders/{fid}/children")).await;
    assert_eq!(ids(&children), vec![doc]);

    // Search: title words, tags and folders, with a highlighted snippet.
    let (s, hits) = api.get("/api/v1/search?q=acme%20march").await;
    assert_eq!(s, 200, "{hits}");
    assert_eq!(hits["total"], 1, "{hits}");
    assert_eq!(hits["items"][0]["document"]["id"], doc);
    assert!(hits["items"][0]["snippet"].as_str().unwrap().contains("<mark>"), "{hits}");
    let (_, hits) = api.get("/api/v1/search?q=invoice%20folder:Taxes%20tag:%22tax%202024%22").await;
    assert_eq!(hits["total"], 1, "{hits}");
    let (_, hits) = api.get("/api/v1/search?q=invoice%20-acme").await;
    assert_eq!(hits["total"], 0, "{hits}");

    // Download the original, byte-identical.
    let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{doc}/download")).await;
    assert_eq!(s, 200);
    assert_eq!(bytes, tiny_png(64, 48));
    let (s, _) = api.get(&format!("/api/v1/documents/{doc}/download?kind=searchable")).await;
    assert_eq!(s, 409, "no searchable PDF before processing");

    // Jobs of the document.
    let (s, jobs) = api.get(&format!("/api/v1/jobs?document={doc}")).await;
    assert_eq!(s, 200);
    assert_eq!(jobs["items"][0]["kind"], "process_version");

    // Trash → gone from lists and search → restore → back → purge.
    assert_eq!(api.delete(&format!("/api/v1/documents/{doc}")).await.0, 204);
    let (_, children) = api.get(&format!("/api/v1/folders/{fid}/children")).await;
    assert_eq!(children["total"], 0);
    let (_, hits) = api.get("/api/v1/search?q=acme").await;
    assert_eq!(hits["total"], 0);
    let (_, trash) = api.get("/api/v1/trash").await;
    assert_eq!(ids(&trash), vec![doc]);
    let (s, d) = api.post(&format!("/api/v1/documents/{doc}/restore"), &json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(d["folder_id"], fid);
    let (_, hits) = api.get("/api/v1/search?q=acme").await;
    assert_eq!(hits["total"], 1);
    assert_eq!(api.delete(&format!("/api/v1/documents/{doc}/purge")).await.0, 409, "purge needs the trash first");
    assert_eq!(api.delete(&format!("/api/v1/documents/{doc}")).await.0, 204);
    assert_eq!(api.delete(&format!("/api/v1/documents/{doc}/purge")).await.0, 204);
    assert_eq!(api.get(&format!("/api/v1/documents/{doc}")).await.0, 404);
    // The duplicate still holds the same bytes: the shared blob must survive the purge.
    let dup_id = dup["document"]["id"].as_i64().unwrap();
    let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{dup_id}/download")).await;
    assert_eq!((s, bytes.len()), (200, tiny_png(64, 48).len()));

    // Folder trash takes its content along and restores it.
    let (_, d2) = api.upload("letter.pdf", tiny_pdf("hello letter"), &[("folder_id", &fid.to_string())]).await;
    let d2 = d2["document"]["id"].as_i64().unwrap();
    assert_eq!(api.delete(&format!("/api/v1/folders/{fid}")).await.0, 204);
    assert!(!api.get(&format!("/api/v1/documents/{d2}")).await.1["trashed_at"].is_null());
    let (_, trash) = api.get("/api/v1/trash").await;
    assert_eq!(trash["total"], 1, "only the folder is at the top of the trash: {trash}");
    assert_eq!(api.post(&format!("/api/v1/folders/{fid}/restore"), &json!({})).await.0, 200);
    assert!(api.get(&format!("/api/v1/documents/{d2}")).await.1["trashed_at"].is_null());

    // Logout ends the session token.
    assert_eq!(api.post("/api/v1/auth/logout", &json!({})).await.0, 204);
    assert_eq!(api.get("/api/v1/folders/roots").await.0, 401);
}
db_tests!(full_story);

async fn isolation(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (_, roots) = a.get("/api/v1/folders/roots").await;
    let home = roots["home"]["id"].as_i64().unwrap();
    let (_, f) = a.post("/api/v1/folders", &json!({"name": "Private", "parent_id": home})).await;
    let fid = f["id"].as_i64().unwrap();
    let (_, up) = a.upload("secret.png", tiny_png(32, 32), &[("title", "alice secret plans"), ("folder_id", &fid.to_string())]).await;
    let doc = up["document"]["id"].as_i64().unwrap();
    let vid = up["version_id"].as_i64().unwrap();
    let job = up["job_id"].as_i64().unwrap();
    let (_, tag) = a.post("/api/v1/tags", &json!({"name": "mine"})).await;
    let tag = tag["id"].as_i64().unwrap();

    for path in [
        format!("/api/v1/folders/{fid}"),
        format!("/api/v1/folders/{fid}/children"),
        format!("/api/v1/folders/{home}"),
        format!("/api/v1/documents/{doc}"),
        format!("/api/v1/documents/{doc}/versions"),
        format!("/api/v1/documents/{doc}/download"),
        format!("/api/v1/documents/{doc}/download?version={vid}"),
        format!("/api/v1/documents/{doc}/pages"),
        format!("/api/v1/documents/{doc}/pages/1/thumbnail"),
        format!("/api/v1/jobs?document={doc}"),
        format!("/api/v1/documents?folder_id={fid}"),
    ] {
        let (s, body) = b.get(&path).await;
        assert_eq!(s, 404, "GET {path} as another user must be 404: {body}");
    }
    for (s, what) in [
        (b.patch(&format!("/api/v1/documents/{doc}"), &json!({"title": "mine now"})).await.0, "patch document"),
        (b.delete(&format!("/api/v1/documents/{doc}")).await.0, "trash document"),
        (b.post(&format!("/api/v1/documents/{doc}/restore"), &json!({})).await.0, "restore document"),
        (b.post(&format!("/api/v1/documents/{doc}/reprocess"), &json!({})).await.0, "reprocess"),
        (b.patch(&format!("/api/v1/folders/{fid}"), &json!({"name": "x"})).await.0, "rename folder"),
        (b.delete(&format!("/api/v1/folders/{fid}")).await.0, "trash folder"),
        (b.post("/api/v1/folders", &json!({"name": "in yours", "parent_id": fid})).await.0, "create in folder"),
        (b.patch(&format!("/api/v1/tags/{tag}"), &json!({"name": "x"})).await.0, "rename tag"),
        (b.delete(&format!("/api/v1/tags/{tag}")).await.0, "delete tag"),
        (b.post(&format!("/api/v1/jobs/{job}/retry"), &json!({})).await.0, "retry job"),
        (b.upload("x.png", tiny_png(8, 8), &[("folder_id", &fid.to_string())]).await.0, "upload into folder"),
    ] {
        assert_eq!(s, 404, "{what} as another user must be 404");
    }
    // b's own document cannot be tagged with a's tag or moved into a's folder.
    let (_, mine) = b.upload("b.png", tiny_png(9, 9), &[]).await;
    let mine = mine["document"]["id"].as_i64().unwrap();
    assert_eq!(b.post(&format!("/api/v1/documents/{mine}/tags"), &json!({"tag_ids": [tag]})).await.0, 404);
    assert_eq!(b.patch(&format!("/api/v1/documents/{mine}"), &json!({"folder_id": fid})).await.0, 404);
    // Lists and search show nothing of a's.
    let (_, list) = b.get("/api/v1/documents").await;
    assert_eq!(ids(&list), vec![mine]);
    let (_, tags) = b.get("/api/v1/tags").await;
    assert_eq!(tags["total"], 0);
    let (_, hits) = b.get("/api/v1/search?q=secret").await;
    assert_eq!(hits["total"], 0);
    let (_, jobs) = b.get("/api/v1/jobs").await;
    assert!(jobs["items"].as_array().unwrap().iter().all(|j| j["document_id"] == mine));
    // Only admins manage users.
    assert_eq!(b.get("/api/v1/users").await.0, 403);
    // a still sees everything.
    assert_eq!(a.get(&format!("/api/v1/documents/{doc}")).await.0, 200);
    assert_eq!(a.get("/api/v1/search?q=secret").await.1["total"], 1);
}
db_tests!(isolation);

async fn bad_requests(db: Db) {
    let srv = TestServer::start(db, |s| s.server.max_upload_mb = 1).await;
    let api = srv.admin().await;
    let blobs_before = count_files(&srv.db.dir.path().join("data/blobs"));

    let cases: Vec<(u16, Value, &str)> = vec![
        {
            let (s, b) = api.post_raw("/api/v1/folders", "application/json", "{\"name\": ").await;
            (s, b, "malformed JSON")
        },
        {
            let (s, b) = api.post("/api/v1/folders", &json!({"name": 5, "parent_id": "x"})).await;
            (s, b, "wrong types")
        },
        {
            let (s, b) = api.post("/api/v1/folders", &json!({"name": "x", "parent_id": 1, "evil": true})).await;
            (s, b, "unknown field")
        },
        {
            let (s, b) = api.get("/api/v1/documents/999999").await;
            (s, b, "unknown id")
        },
        {
            let (s, b) = api.get("/api/v1/documents/not-a-number").await;
            (s, b, "non-numeric id")
        },
        {
            let (s, b) = api.get("/api/v1/documents?page_size=100000").await;
            (s, b, "page size")
        },
        {
            let (s, b) = api.get("/api/v1/documents?state=bogus").await;
            (s, b, "bad enum")
        },
        {
            let (s, b) = api.upload("big.png", vec![0x89; 2 * 1024 * 1024], &[]).await;
            (s, b, "oversized upload")
        },
        {
            let (s, b) = api.upload("empty.pdf", Vec::new(), &[]).await;
            (s, b, "zero-byte upload")
        },
        {
            let (s, b) = api.upload("scan.pdf", tiny_png(10, 10), &[]).await;
            (s, b, "PNG named .pdf")
        },
        {
            let (s, b) = api.upload("notes.txt", b"just some text".to_vec(), &[]).await;
            (s, b, "text file")
        },
        {
            let (s, b) = api.upload("../../etc/passwd", tiny_pdf("x"), &[]).await;
            (s, b, "path-like file name")
        },
        {
            let long = "t".repeat(10_000);
            let (s, b) = api.upload("ok.pdf", tiny_pdf("x"), &[("title", long.as_str())]).await;
            (s, b, "10,000-character title on upload")
        },
        {
            let (s, b) = api.patch("/api/v1/documents/1", &json!({"title": "t".repeat(10_000)})).await;
            (s, b, "10,000-character title on patch")
        },
        {
            let (s, b) = api.upload("ok.pdf", tiny_pdf("x"), &[("folder_id", "999999")]).await;
            (s, b, "upload into a missing folder")
        },
        {
            let (s, b) = api.get("/api/v1/search?q=%22unclosed").await;
            (s, b, "unclosed quote")
        },
        {
            let (s, b) = api.get("/api/v1/search?q=").await;
            (s, b, "empty search")
        },
        {
            let (s, b) = api.post("/api/v1/tags", &json!({"name": "x", "color": "red"})).await;
            (s, b, "bad colour")
        },
        {
            let (s, b) = api.get("/api/v1/nope").await;
            (s, b, "unknown endpoint")
        },
        {
            // Rejected by actix's multipart extractor before any handler runs.
            let (s, b) = api.post_raw("/api/v1/documents", "multipart/form-data", "no boundary").await;
            (s, b, "multipart without a boundary")
        },
        {
            let (s, b) = api.post_raw("/api/v1/documents", "text/plain", "hello").await;
            (s, b, "upload that is not multipart")
        },
    ];
    for (status, body, what) in &cases {
        assert!((400..500).contains(status), "{what}: expected a 4xx, got {status}: {body}");
        assert!(body["code"].is_string() && body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: needs code+message: {body}");
    }
    let by = |w: &str| cases.iter().find(|c| c.2 == w).unwrap().0;
    assert_eq!(by("oversized upload"), 413);
    assert_eq!(by("PNG named .pdf"), 415);
    assert_eq!(by("text file"), 415);
    assert_eq!(by("zero-byte upload"), 400);
    assert_eq!(by("unknown id"), 404);
    // Nothing was written for the rejected uploads.
    assert_eq!(count_files(&srv.db.dir.path().join("data/blobs")), blobs_before);
    assert_eq!(count_files(&srv.db.dir.path().join("data/tmp")), 0, "temp files are cleaned up");
    assert_eq!(api.get("/api/v1/documents").await.1["total"], 0);

    // SQL and FTS syntax in q: answered (no 500), finding nothing, and the tables are intact.
    for q in ["'; DROP TABLE documents; --", "NEAR(a b) OR *", "a AND OR NOT", "\\\"*^:(", "tag:'x' OR 1=1", "title:*"] {
        let (s, b) = api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q))).await;
        assert!(s == 200 || s == 400, "{q}: {s} {b}");
        if s == 200 {
            assert_eq!(b["total"], 0, "{q}");
        }
    }
    let (s, _) = api.upload("after.pdf", tiny_pdf("x"), &[]).await;
    assert_eq!(s, 202);

    // Unauthenticated and CSRF-less cookie requests.
    let anon = reqwest::Client::new();
    let r = anon.get(format!("{}/api/v1/documents", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = anon.get(format!("{}/api/v1/documents", srv.base)).bearer_auth("dms_forged").send().await.unwrap();
    assert_eq!(r.status(), 401);
}
db_tests!(bad_requests);

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() { count_files(&p) } else { 1 };
        }
    }
    n
}

async fn browser_session_and_tokens(db: Db) {
    let srv = TestServer::start(db, |s| {
        s.auth.max_failed_logins = 3;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    // Cookie session: GET works with the cookie alone; a POST needs the CSRF header.
    let jar = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let r = jar
        .post(format!("{}/api/v1/auth/login", srv.base))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("docmerge_session=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    let body: Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(jar.get(format!("{}/api/v1/auth/me", srv.base)).send().await.unwrap().status(), 200);
    let (home, _) = srv.ctx.store.root_folders(1).await.unwrap();
    let r = jar.post(format!("{}/api/v1/folders", srv.base)).json(&json!({"name": "a", "parent_id": home.id})).send().await.unwrap();
    assert_eq!(r.status(), 403, "cookie without CSRF header is refused");
    let r = jar
        .post(format!("{}/api/v1/folders", srv.base))
        .header("X-CSRF-Token", "wrong")
        .json(&json!({"name": "a", "parent_id": home.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = jar
        .post(format!("{}/api/v1/folders", srv.base))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "a", "parent_id": home.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Personal API tokens: created once, stored hashed, listed without the secret, revocable.
    let api = srv.admin().await;
    let (s, t) = api.post("/api/v1/auth/tokens", &json!({"name": "scanner script"})).await;
    assert_eq!(s, 201);
    let secret = t["token"].as_str().unwrap().to_string();
    let script = Api { base: srv.base.clone(), token: secret.clone(), http: reqwest::Client::new() };
    assert_eq!(script.get("/api/v1/folders/roots").await.0, 200);
    let (_, list) = api.get("/api/v1/auth/tokens").await;
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(&secret), "the token is never shown again");
    assert_eq!(api.delete(&format!("/api/v1/auth/tokens/{}", t["id"])).await.0, 204);
    assert_eq!(script.get("/api/v1/folders/roots").await.0, 401);

    // Passwords are stored as argon2id.
    let u = srv.ctx.store.user_by_name("admin").await.unwrap().unwrap();
    assert!(u.password_hash.starts_with("$argon2id$"));

    // Brute force from strangers (three addresses, through the trusted proxy): after 3 failures
    // the account refuses further strangers (429 with Retry-After), even with the right
    // password — but its owner, from the address they logged in from before, still gets in.
    let from = |ip: &str, password: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", srv.base))
            .header("X-Forwarded-For", ip)
            .json(&json!({"username": "admin", "password": password}))
            .send()
    };
    for i in 0..3 {
        let r = from(&format!("203.0.113.{i}"), "wrong-password").await.unwrap();
        assert_eq!(r.status(), 401);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["message"], "wrong username or password");
    }
    let r = from("203.0.113.99", "admin-password-1").await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 15 * 60, "{wait}");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", srv.base))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the owner's known address is not locked out");
}
db_tests!(browser_session_and_tokens);

async fn operations_endpoints(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{}/healthz", srv.base)).send().await.unwrap().status(), 200);
    // A wrong method on an operations route or a UI page is 405 in JSON, not the web UI.
    for path in ["/healthz", "/readyz", "/metrics", "/", "/folders/1"] {
        let r = c.post(format!("{}{path}", srv.base)).send().await.unwrap();
        assert_eq!(r.status(), 405, "POST {path}");
        assert_eq!(r.headers().get("allow").unwrap(), "GET, HEAD");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed", "POST {path}: {body}");
    }
    let r = c.get(format!("{}/readyz", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let api = srv.admin().await;
    api.upload("m.png", tiny_png(16, 16), &[]).await;
    let metrics = c.get(format!("{}/metrics", srv.base)).send().await.unwrap().text().await.unwrap();
    for needle in [
        "docmerge_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/documents\",status=\"202\"",
        "docmerge_http_requests_total",
        "docmerge_jobs{kind=\"process_version\",state=\"queued\"} 1",
        "docmerge_documents 1",
        "docmerge_pages 0",
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle}:\n{metrics}");
    }
    let r = c.get(format!("{}/api/v1/documents", srv.base)).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let (s, cfg) = api.get("/api/v1/config").await;
    assert_eq!(s, 200);
    assert!(cfg["ws_url"].as_str().unwrap().ends_with("/ws"));
}
db_tests!(operations_endpoints);

/// Every route the server registers is described in the OpenAPI document, with its method.
#[test]
fn openapi_describes_every_route() {
    let spec: Value = serde_json::from_str(docmerge::http::routes::ops::OPENAPI).expect("openapi.json is JSON");
    assert_eq!(spec["openapi"], "3.1.0");
    for (method, path) in docmerge::http::ROUTES {
        let op = &spec["paths"][*path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in /api/openapi.json");
        assert!(op["responses"].is_object(), "{method} {path} has no responses");
    }
}

/// Metadata through HTTP (#22): correspondents, types with default fields, typed field values
/// with messages that name the field, date and ASN, notes, history, the list filters, and
/// another user's ids answering 404 everywhere.
async fn metadata_api(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (_, up) = a.upload("invoice.png", tiny_png(40, 30), &[("title", "ACME invoice")]).await;
    let doc = up["document"]["id"].as_i64().unwrap();
    assert_eq!((up["document"]["correspondent"].clone(), up["document"]["fields"].clone()), (Value::Null, json!([])));

    let (s, acme) = a.post("/api/v1/correspondents", &json!({"name": "ACME", "color": "#FF0000"})).await;
    assert_eq!(s, 201, "{acme}");
    assert_eq!(acme["color"], "#ff0000");
    assert_eq!(a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await.0, 409);
    assert_eq!(a.post("/api/v1/correspondents", &json!({"name": "  "})).await.0, 400);
    let (s, amount) = a.post("/api/v1/custom-fields", &json!({"name": "Amount", "kind": "monetary", "currency": "eur"})).await;
    assert_eq!(s, 201, "{amount}");
    assert_eq!(amount["currency"], "EUR");
    let (s, e) = a.post("/api/v1/custom-fields", &json!({"name": "x", "kind": "colour"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("monetary"), "{e}");
    let (_, cat) = a.post("/api/v1/custom-fields", &json!({"name": "Category", "kind": "select", "options": ["Insurance", "Tax"]})).await;
    let (s, inv) = a.post("/api/v1/document-types", &json!({"name": "Invoice", "default_fields": [amount["id"], cat["id"]]})).await;
    assert_eq!(s, 201, "{inv}");
    assert_eq!(inv["default_fields"], json!([amount["id"], cat["id"]]));

    // One PATCH sets everything; a bad amount is a 400 naming the field and changes nothing.
    let (s, d) = a
        .patch(
            &format!("/api/v1/documents/{doc}"),
            &json!({"correspondent_id": acme["id"], "document_type_id": inv["id"], "date": "2025-03-14", "asn": 7,
                    "fields": [{"field_id": amount["id"], "value": "123.4"}, {"field_id": cat["id"], "value": "Tax"}]}),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!((d["correspondent"]["name"].as_str(), d["document_type"]["name"].as_str()), (Some("ACME"), Some("Invoice")));
    assert_eq!((d["date"].as_str(), d["date_source"].as_str(), d["asn"].as_i64()), (Some("2025-03-14"), Some("user"), Some(7)));
    assert_eq!(
        d["fields"][0],
        json!({"field_id": amount["id"], "name": "Amount", "kind": "monetary", "value": {"amount": "123.40", "currency": "EUR"}})
    );
    let (s, e) = a
        .patch(&format!("/api/v1/documents/{doc}"), &json!({"title": "x", "fields": [{"field_id": amount["id"], "value": "12,3,4"}]}))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("field \"Amount\""), "{e}");
    assert_eq!(a.get(&format!("/api/v1/documents/{doc}")).await.1["title"], "ACME invoice");
    assert_eq!(a.patch(&format!("/api/v1/documents/{doc}"), &json!({"date": "14.03.2025"})).await.0, 400);
    assert_eq!(a.patch(&format!("/api/v1/documents/{doc}"), &json!({"asn": -1})).await.0, 400);
    assert_eq!(a.get("/api/v1/documents/next-asn").await.1, json!({"asn": 8}));
    let (_, other) = a.upload("other.png", tiny_png(41, 30), &[]).await;
    let other = other["document"]["id"].as_i64().unwrap();
    let (s, e) = a.patch(&format!("/api/v1/documents/{other}"), &json!({"asn": 7})).await;
    assert!(s == 409 && e["message"].as_str().unwrap().contains('7'), "{e}");

    // Lists filter by correspondent, type, date range, ASN and "none".
    let list = |q: &'static str| {
        let a = &a;
        async move { ids(&a.get(&format!("/api/v1/documents?{q}")).await.1) }
    };
    assert_eq!(list("correspondent=none").await, vec![other]);
    assert_eq!(list("date_from=2025-01-01&date_to=2025-12-31&sort=-date").await, vec![doc]);
    assert_eq!(list("asn=7").await, vec![doc]);
    assert_eq!(a.get(&format!("/api/v1/documents?correspondent={}", acme["id"])).await.1["total"], 1);
    assert_eq!(a.get("/api/v1/documents?date_from=yesterday").await.0, 400);
    assert_eq!(a.get("/api/v1/documents?sort=colour").await.0, 400);

    // Notes and history.
    let (s, note) = a.post(&format!("/api/v1/documents/{doc}/notes"), &json!({"body": "Paid by transfer on the 20th"})).await;
    assert_eq!(s, 201, "{note}");
    assert_eq!((note["author"]["username"].as_str(), note["editable"].as_bool()), (Some("alice"), Some(true)));
    assert_eq!(a.get("/api/v1/search?q=transfer").await.1["total"], 1);
    let (_, hist) = a.get(&format!("/api/v1/documents/{doc}/history")).await;
    let actions: Vec<&str> = hist["items"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..2], ["note.added", "edited"]);
    assert_eq!(hist["items"][1]["changes"]["correspondent"], json!([null, "ACME"]));
    assert_eq!(hist["items"][1]["actor"]["username"], "alice");

    // Another user: 404 for every id of alice's, and empty lists.
    let nid = note["id"].as_i64().unwrap();
    for path in [format!("/api/v1/documents/{doc}/notes"), format!("/api/v1/documents/{doc}/history")] {
        assert_eq!(b.get(&path).await.0, 404, "GET {path}");
    }
    let (_, mine) = b.upload("b.png", tiny_png(9, 9), &[]).await;
    let mine = mine["document"]["id"].as_i64().unwrap();
    for (s, what) in [
        (b.patch(&format!("/api/v1/correspondents/{}", acme["id"]), &json!({"name": "x"})).await.0, "rename correspondent"),
        (b.delete(&format!("/api/v1/document-types/{}", inv["id"])).await.0, "delete type"),
        (b.patch(&format!("/api/v1/custom-fields/{}", amount["id"]), &json!({"name": "x"})).await.0, "rename field"),
        (b.post(&format!("/api/v1/documents/{doc}/notes"), &json!({"body": "x"})).await.0, "add note"),
        (b.patch(&format!("/api/v1/documents/{doc}/notes/{nid}"), &json!({"body": "x"})).await.0, "edit note"),
        (b.patch(&format!("/api/v1/documents/{mine}"), &json!({"correspondent_id": acme["id"]})).await.0, "use correspondent"),
        (b.patch(&format!("/api/v1/documents/{mine}"), &json!({"fields": [{"field_id": amount["id"], "value": 1}]})).await.0, "use field"),
        (b.post(&format!("/api/v1/correspondents/{}/merge", acme["id"]), &json!({"into": acme["id"]})).await.0, "merge"),
    ] {
        assert_eq!(s, 404, "{what} as another user must be 404");
    }
    for path in ["/api/v1/correspondents", "/api/v1/document-types", "/api/v1/custom-fields"] {
        assert_eq!(b.get(path).await.1["total"], 0, "{path}");
    }
    assert_eq!(b.get("/api/v1/documents/next-asn").await.1, json!({"asn": 1}));
    // Merging and deleting a correspondent (documents keep none).
    let (_, acme2) = a.post("/api/v1/correspondents", &json!({"name": "Acme Corp"})).await;
    let (s, merged) = a.post(&format!("/api/v1/correspondents/{}/merge", acme["id"]), &json!({"into": acme2["id"]})).await;
    assert_eq!((s, merged["document_count"].as_i64()), (200, Some(1)), "{merged}");
    assert_eq!(a.delete(&format!("/api/v1/correspondents/{}", acme2["id"])).await.0, 204);
    assert_eq!(a.get(&format!("/api/v1/documents/{doc}")).await.1["correspondent"], Value::Null);
}
db_tests!(metadata_api);

/// Bulk edit through HTTP with a worker (#22): a query's documents (more than one chunk) get
/// a correspondent, a tag and a field value as one job; the job is followed to the end; another
/// user can neither use those ids nor see the job.
async fn bulk_edit_api(db: Db) {
    let srv = TestServer::start_with(db, true, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (_, tag) = a.post("/api/v1/tags", &json!({"name": "batch"})).await;
    let mut docs = Vec::new();
    for i in 0..130 {
        let (s, up) = a.upload(&format!("b{i}.png"), tiny_png(20 + i, 20), &[("tags", "batch")]).await;
        assert_eq!(s, 202, "{up}");
        docs.push(up["document"]["id"].as_i64().unwrap());
    }
    let (_, other) = a.upload("other.png", tiny_png(500, 20), &[]).await;
    let other = other["document"]["id"].as_i64().unwrap();
    let (_, acme) = a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await;
    let (_, paid) = a.post("/api/v1/custom-fields", &json!({"name": "paid", "kind": "boolean"})).await;
    let (_, done_tag) = a.post("/api/v1/tags", &json!({"name": "done"})).await;

    // Refused before anything is queued: nothing to do, a bad value, someone else's ids.
    assert_eq!(a.post("/api/v1/documents/bulk", &json!({"query": "tag:batch", "edit": {}})).await.0, 400);
    let (s, e) = a
        .post("/api/v1/documents/bulk", &json!({"query": "tag:batch", "edit": {"fields": [{"field_id": paid["id"], "value": "maybe"}]}}))
        .await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("\"paid\""), "{e}");
    assert_eq!(b.post("/api/v1/documents/bulk", &json!({"documents": [docs[0]], "edit": {"trash": true}})).await.0, 404);
    assert_eq!(b.post("/api/v1/documents/bulk", &json!({"query": "tag:batch", "edit": {"add_tags": [tag["id"]]}})).await.0, 404);

    let (s, r) = a
        .post(
            "/api/v1/documents/bulk",
            &json!({"query": "tag:batch", "edit": {"correspondent_id": acme["id"], "add_tags": [done_tag["id"]], "date": "2025-01-31",
                    "fields": [{"field_id": paid["id"], "value": true}]}}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["documents"], 130);
    let job = r["job_id"].as_i64().unwrap();
    assert_eq!(b.get(&format!("/api/v1/jobs/{job}")).await.0, 404, "another user's job");
    let started = std::time::Instant::now();
    let j = loop {
        let (_, j) = a.get(&format!("/api/v1/jobs/{job}")).await;
        if j["state"] == "done" || j["state"] == "failed" {
            break j;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "bulk job still {j}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((j["state"].as_str(), j["progress"].clone()), (Some("done"), json!({"done": 130, "total": 130})), "{j}");
    let (_, list) = a.get(&format!("/api/v1/documents?correspondent={}&page_size=200", acme["id"])).await;
    assert_eq!(list["total"], 130);
    assert!(!ids(&list).contains(&other));
    let (_, d) = a.get(&format!("/api/v1/documents/{}", docs[77])).await;
    assert_eq!((d["date"].as_str(), d["fields"][0]["value"].as_bool()), (Some("2025-01-31"), Some(true)));
    assert!(d["tags"].as_array().unwrap().iter().any(|t| t["name"] == "done"));
    let (_, hist) = a.get(&format!("/api/v1/documents/{}/history", docs[77])).await;
    assert!(
        hist["items"].as_array().unwrap().iter().any(|h| h["action"] == "edited" && h["changes"]["correspondent"] == json!([null, "ACME"])),
        "{hist}"
    );
    assert_eq!(a.get("/api/v1/search?q=paid:true").await.1["total"], 130);
    // A selection: trash two.
    let (s, r) = a.post("/api/v1/documents/bulk", &json!({"documents": [docs[0], docs[1]], "edit": {"trash": true}})).await;
    assert_eq!(s, 202, "{r}");
    let job = r["job_id"].as_i64().unwrap();
    let started = std::time::Instant::now();
    while a.get(&format!("/api/v1/jobs/{job}")).await.1["state"] != "done" {
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(a.get(&format!("/api/v1/documents/{}", docs[0])).await.1["trashed_at"].is_string());
}
db_tests!(bulk_edit_api);

/// Saved views and the dashboard (#22): a view's search with its sort, validation, the
/// dashboard's parts, and another user's views answering 404.
async fn views_and_dashboard(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (_, acme) = a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await;
    let mut docs = Vec::new();
    for (i, date) in ["2025-01-05", "2025-06-01", "2024-03-01"].iter().enumerate() {
        let (_, up) = a.upload(&format!("v{i}.png"), tiny_png(30 + i as u32, 30), &[("title", &format!("doc {i}"))]).await;
        let id = up["document"]["id"].as_i64().unwrap();
        a.patch(&format!("/api/v1/documents/{id}"), &json!({"date": date, "correspondent_id": acme["id"]})).await;
        docs.push(id);
    }
    let (s, v) = a
        .post(
            "/api/v1/views",
            &json!({"name": "ACME 2025", "query": "correspondent:ACME created:2025", "sort": "-date", "on_dashboard": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["columns"], json!(["title", "date", "correspondent", "tags"]), "default columns");
    let vid = v["id"].as_i64().unwrap();
    assert_eq!(a.post("/api/v1/views", &json!({"name": "ACME 2025"})).await.0, 409);
    for bad in
        [json!({"name": "x", "query": "\"unclosed"}), json!({"name": "x", "sort": "colour"}), json!({"name": "x", "columns": ["nope"]})]
    {
        assert_eq!(a.post("/api/v1/views", &bad).await.0, 400, "{bad}");
    }
    let (s, list) = a.get(&format!("/api/v1/views/{vid}/documents")).await;
    assert_eq!(s, 200, "{list}");
    let got: Vec<i64> = list["items"].as_array().unwrap().iter().map(|h| h["document"]["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![docs[1], docs[0]], "2025 only, newest date first");
    // Everything, oldest date first; renamed; in the sidebar.
    let (s, v2) =
        a.patch(&format!("/api/v1/views/{vid}"), &json!({"query": "", "sort": "date", "name": "All by date", "in_sidebar": true})).await;
    assert_eq!((s, v2["in_sidebar"].as_bool()), (200, Some(true)), "{v2}");
    let (_, list) = a.get(&format!("/api/v1/views/{vid}/documents")).await;
    let got: Vec<i64> = list["items"].as_array().unwrap().iter().map(|h| h["document"]["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![docs[2], docs[0], docs[1]]);
    // The dashboard: the view, the Inbox (everything was uploaded there), processing status.
    let (s, dash) = a.get("/api/v1/dashboard").await;
    assert_eq!(s, 200, "{dash}");
    assert_eq!(dash["views"][0]["view"]["id"], vid);
    assert_eq!(dash["views"][0]["total"], 3);
    assert_eq!(dash["inbox"]["total"], 3);
    assert_eq!(dash["processing"]["queued"], 3, "no worker in this test: all queued");
    // Bob: nothing of Alice's.
    assert_eq!(b.get(&format!("/api/v1/views/{vid}/documents")).await.0, 404);
    assert_eq!(b.patch(&format!("/api/v1/views/{vid}"), &json!({"name": "mine"})).await.0, 404);
    assert_eq!(b.delete(&format!("/api/v1/views/{vid}")).await.0, 404);
    assert_eq!(b.get("/api/v1/views").await.1["total"], 0);
    assert_eq!(b.get("/api/v1/dashboard").await.1["inbox"]["total"], 0);
    assert_eq!(a.delete(&format!("/api/v1/views/{vid}")).await.0, 204);
    assert_eq!(a.get("/api/v1/dashboard").await.1["views"], json!([]));
    // Sorting a search that only filters.
    let (_, hits) = a.get("/api/v1/search?q=correspondent:ACME&sort=date").await;
    let got: Vec<i64> = hits["items"].as_array().unwrap().iter().map(|h| h["document"]["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![docs[2], docs[0], docs[1]]);
}
db_tests!(views_and_dashboard);

/// Matching rules over HTTP (#23): set, validate, try, isolation; an uploaded PDF filed by the
/// real worker's `match_documents` job; a dry run; re-running the rules as a bulk job.
async fn matching_api(db: Db) {
    let srv = TestServer::start_with(db, true, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (_, invoice) = a.post("/api/v1/tags", &json!({"name": "invoice"})).await;
    let (_, acme) = a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await;
    let (_, bill) = a.post("/api/v1/document-types", &json!({"name": "Bill"})).await;
    let tag_rule = format!("/api/v1/match-rules/tag/{}", invoice["id"]);

    // Refused with the reason: unknown algorithm, no pattern, a regex we cannot run, a bad kind.
    let (s, e) = a.put(&tag_rule, &json!({"algorithm": "magic", "pattern": "x"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("algorithm"), "{e}");
    assert_eq!(a.put(&tag_rule, &json!({"algorithm": "any", "pattern": "  "})).await.0, 400);
    let (s, e) = a.put(&tag_rule, &json!({"algorithm": "regex", "pattern": "(?<=a)b"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("regular expression"), "{e}");
    assert_eq!(a.put(&format!("/api/v1/match-rules/planet/{}", invoice["id"]), &json!({"algorithm": "any", "pattern": "x"})).await.0, 404);
    // Another user's tag: 404, and Bob sees no rules of Alice's.
    assert_eq!(b.put(&tag_rule, &json!({"algorithm": "any", "pattern": "x"})).await.0, 404);

    let (s, r) = a.put(&tag_rule, &json!({"algorithm": "any", "pattern": "invoice rechnung"})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((r["kind"].as_str(), r["target_name"].as_str(), r["insensitive"].as_bool()), (Some("tag"), Some("invoice"), Some(true)));
    assert_eq!(
        a.put(&format!("/api/v1/match-rules/correspondent/{}", acme["id"]), &json!({"algorithm": "fuzzy", "pattern": "ACME Corporation"}))
            .await
            .0,
        200
    );
    assert_eq!(
        a.put(&format!("/api/v1/match-rules/document_type/{}", bill["id"]), &json!({"algorithm": "regex", "pattern": "total\\s+due"}))
            .await
            .0,
        200
    );
    let (_, list) = a.get("/api/v1/match-rules").await;
    assert_eq!(list["total"], 3, "{list}");
    assert_eq!(b.get("/api/v1/match-rules").await.1["total"], 0);

    // Try a rule before saving it.
    let (_, t) = a
        .post(
            "/api/v1/match-rules/try",
            &json!({"algorithm": "fuzzy", "pattern": "ACME Corporation", "text": "From: ACME Corporatoin Ltd"}),
        )
        .await;
    assert_eq!((t["matches"].as_bool(), t["found"].as_str()), (Some(true), Some("ACME Corporatoin")), "{t}");
    let (_, t) = a.post("/api/v1/match-rules/try", &json!({"algorithm": "all", "pattern": "acme invoice", "text": "ACME letter"})).await;
    assert_eq!(t["matches"], false);

    // An upload with a text layer: processed, then filed by its rules (the worker's job).
    let (s, up) = a.upload("letter.pdf", tiny_pdf("ACME Corporation - Invoice 42 - total due 12 EUR"), &[]).await;
    assert_eq!(s, 202, "{up}");
    let id = up["document"]["id"].as_i64().unwrap();
    assert_eq!(a.wait_done(id, Duration::from_secs(120)).await["state"], "ready");
    let started = std::time::Instant::now();
    let d = loop {
        let (_, d) = a.get(&format!("/api/v1/documents/{id}")).await;
        if d["correspondent"]["id"] == acme["id"] {
            break d;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not matched: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d["document_type"]["id"], bill["id"], "{d}");
    assert!(d["tags"].as_array().unwrap().iter().any(|t| t["id"] == invoice["id"]), "{d}");
    let (_, hist) = a.get(&format!("/api/v1/documents/{id}/history")).await;
    let m = hist["items"].as_array().unwrap().iter().find(|h| h["action"] == "matched").expect("a matched entry").clone();
    assert!(m["actor"].is_null() || m["actor"]["id"].is_null(), "{m}");
    assert!(m["changes"]["rules"].as_array().unwrap().iter().any(|r| r["target_name"] == "ACME" && r["algorithm"] == "fuzzy"), "{m}");
    // Another user's document: 404 for running and for trying.
    assert_eq!(b.post(&format!("/api/v1/documents/{id}/match"), &json!({})).await.0, 404);
    assert_eq!(b.post("/api/v1/match-rules/try", &json!({"algorithm": "any", "pattern": "x", "document_id": id})).await.0, 404);

    // A new rule, a dry run (nothing changes), then the rules over every document as a job.
    let (_, due) = a.post("/api/v1/tags", &json!({"name": "due"})).await;
    a.put(&format!("/api/v1/match-rules/tag/{}", due["id"]), &json!({"algorithm": "exact", "pattern": "total due"})).await;
    let (s, dry) = a.post(&format!("/api/v1/documents/{id}/match?dry_run=true"), &json!({})).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["assigned"].as_array().unwrap().iter().map(|x| x["target_name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["due"]);
    assert!(!a.get(&format!("/api/v1/documents/{id}")).await.1["tags"].as_array().unwrap().iter().any(|t| t["id"] == due["id"]));
    assert_eq!(a.post("/api/v1/documents/bulk", &json!({"query": "", "edit": {"rematch": true, "trash": true}})).await.0, 400);
    let (s, r) = a.post("/api/v1/documents/bulk", &json!({"query": "", "edit": {"rematch": true}})).await;
    assert_eq!(s, 202, "{r}");
    let job = r["job_id"].as_i64().unwrap();
    let started = std::time::Instant::now();
    while a.get(&format!("/api/v1/jobs/{job}")).await.1["state"] != "done" {
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.get(&format!("/api/v1/documents/{id}")).await.1["tags"].as_array().unwrap().iter().any(|t| t["id"] == due["id"]));
    // Removing a rule.
    assert_eq!(a.delete(&format!("/api/v1/match-rules/tag/{}", due["id"])).await.0, 204);
    assert_eq!(a.get("/api/v1/match-rules").await.1["total"], 3);
}
db_tests!(matching_api);

/// Waits for a job of the caller's to end; its final state.
async fn job_end(a: &Api, job: i64) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, j) = a.get(&format!("/api/v1/jobs/{job}")).await;
        if j["state"] == "done" || j["state"] == "failed" {
            return j;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The auto classifier through the API (#23): nothing to learn says so; "train now" learns
/// from what the user filed; the state shows each field's held-out accuracy; a document's
/// suggestions carry the words behind them and leave out what it has; an `auto` rule files a
/// new upload by itself; another user sees nothing of it (404).
async fn classifier_api(db: Db) {
    let srv = TestServer::start_with(db, true, |s| s.classifier.min_documents = 4).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (s, st) = a.get("/api/v1/classifier").await;
    assert_eq!((s, st["model"].is_null(), st["apply_confidence"].as_f64()), (200, true, Some(0.8f32 as f64)), "{st}");
    // Nothing filed yet: the training job fails and says why.
    let (s, t) = a.post("/api/v1/classifier/train", &json!({})).await;
    assert_eq!(s, 202, "{t}");
    let j = job_end(&a, t["job_id"].as_i64().unwrap()).await;
    assert!(j["state"] == "failed" && j["last_error"].as_str().unwrap().contains("nothing to learn"), "{j}");

    let (_, energy) = a.post("/api/v1/correspondents", &json!({"name": "Stadtwerke"})).await;
    let (_, insurer) = a.post("/api/v1/correspondents", &json!({"name": "Allianz"})).await;
    let (_, bill) = a.post("/api/v1/document-types", &json!({"name": "Bill"})).await;
    let (_, policy) = a.post("/api/v1/document-types", &json!({"name": "Policy"})).await;
    let (_, house) = a.post("/api/v1/tags", &json!({"name": "house"})).await;
    let mut first = 0;
    for i in 0..8 {
        let (who, ty, text) = if i % 2 == 0 {
            (&energy, &bill, format!("Stadtwerke electricity meter reading kilowatt hours tariff bill {i}"))
        } else {
            (&insurer, &policy, format!("Allianz insurance policy premium insured person coverage {i}"))
        };
        let (s, up) = a.upload(&format!("l{i}.pdf"), tiny_pdf(&text), &[]).await;
        assert_eq!(s, 202, "{up}");
        let id = up["document"]["id"].as_i64().unwrap();
        assert_eq!(a.wait_done(id, Duration::from_secs(120)).await["state"], "ready");
        let tags = if i % 2 == 0 { json!([house["id"]]) } else { json!([]) };
        let (s, d) = a
            .patch(
                &format!("/api/v1/documents/{id}"),
                &json!({"correspondent_id": who["id"], "document_type_id": ty["id"], "tag_ids": tags}),
            )
            .await;
        assert_eq!(s, 200, "{d}");
        if i == 0 {
            first = id;
        }
    }
    let (_, t) = a.post("/api/v1/classifier/train", &json!({})).await;
    let j = job_end(&a, t["job_id"].as_i64().unwrap()).await;
    assert_eq!(j["state"], "done", "{j}");
    let (_, st) = a.get("/api/v1/classifier").await;
    let m = &st["model"];
    assert_eq!(m["documents"], 8, "{st}");
    let kinds: Vec<&str> = m["fields"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["correspondent", "document_type", "tag"], "{st}");
    assert!(b.get("/api/v1/classifier").await.1["model"].is_null(), "Bob has no model");

    // Suggestions for a document that lost its correspondent: the right one, with its words.
    a.patch(&format!("/api/v1/documents/{first}"), &json!({"correspondent_id": null})).await;
    let (s, sug) = a.get(&format!("/api/v1/documents/{first}/suggestions")).await;
    assert_eq!(s, 200, "{sug}");
    let items = sug["items"].as_array().unwrap();
    let c = items.iter().find(|x| x["kind"] == "correspondent").unwrap_or_else(|| panic!("{sug}"));
    assert_eq!((c["target_id"].clone(), c["name"].as_str()), (energy["id"].clone(), Some("Stadtwerke")), "{sug}");
    assert!(
        c["words"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("stadtwerke") || w.as_str().unwrap().contains("kilowatt")),
        "{c}"
    );
    assert_eq!(c["applies"], false, "no auto rule yet");
    assert!(!items.iter().any(|x| x["kind"] == "document_type" && x["target_id"] == bill["id"]), "it has that type already: {sug}");
    assert_eq!(b.get(&format!("/api/v1/documents/{first}/suggestions")).await.0, 404);
    assert_eq!(a.get("/api/v1/documents/999999/suggestions").await.0, 404);

    // An auto rule: a new upload is filed by the model (the worker's matching job).
    assert_eq!(a.put(&format!("/api/v1/match-rules/correspondent/{}", insurer["id"]), &json!({"algorithm": "auto"})).await.0, 200);
    let (s, e) = a.post("/api/v1/match-rules/try", &json!({"algorithm": "auto", "text": "x"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("classifier"), "{e}");
    let (_, up) = a.upload("new.pdf", tiny_pdf("Allianz: your insurance policy premium and coverage"), &[]).await;
    let id = up["document"]["id"].as_i64().unwrap();
    assert_eq!(a.wait_done(id, Duration::from_secs(120)).await["state"], "ready");
    let started = std::time::Instant::now();
    while a.get(&format!("/api/v1/documents/{id}")).await.1["correspondent"]["id"] != insurer["id"] {
        assert!(started.elapsed() < Duration::from_secs(60), "not filed by the model");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, hist) = a.get(&format!("/api/v1/documents/{id}/history")).await;
    let m = hist["items"].as_array().unwrap().iter().find(|h| h["action"] == "matched").expect("a matched entry").clone();
    assert!(
        m["changes"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["algorithm"] == "auto" && r["found"].as_str().unwrap().contains("% sure")),
        "{m}"
    );

    // The scheduled training (not forced) learns only when the filing changed since the model.
    let alice = a.get("/api/v1/auth/me").await.1["id"].as_i64().unwrap();
    let scheduled = || async {
        let ids = srv.ctx.store.enqueue(vec![docmerge::domain::jobs::NewJob::train_classifier(alice, false)]).await.unwrap();
        assert_eq!(job_end(&a, ids[0].unwrap()).await["state"], "done");
        a.get("/api/v1/classifier").await.1["model"]["id"].as_i64().unwrap()
    };
    let model = a.get("/api/v1/classifier").await.1["model"]["id"].as_i64().unwrap();
    // (The new upload changed the filing: one training, then none.)
    let after_upload = scheduled().await;
    assert_ne!(after_upload, model);
    assert_eq!(scheduled().await, after_upload, "nothing changed: no new model");
    a.patch(&format!("/api/v1/documents/{first}"), &json!({"correspondent_id": energy["id"]})).await;
    assert_ne!(scheduled().await, after_upload, "a document was filed: a new model");
}
db_tests!(classifier_api);

/// The folder path of a document below Home, as the API shows it.
async fn folder_path(a: &Api, doc: i64) -> String {
    let (_, d) = a.get(&format!("/api/v1/documents/{doc}")).await;
    let (s, f) = a.get(&format!("/api/v1/folders/{}", d["folder_id"])).await;
    if s == 404 {
        // Moved meanwhile, out of a folder its template made (which went with it).
        return "(moving)".into();
    }
    f["breadcrumbs"].as_array().unwrap().iter().skip(1).map(|c| c["name"].as_str().unwrap().to_string()).collect::<Vec<_>>().join("/")
}

/// Polls until the document's folder path is `want` (the placement job runs on the server's
/// worker).
async fn wait_path(a: &Api, doc: i64, want: &str) {
    let started = std::time::Instant::now();
    loop {
        let now = folder_path(a, doc).await;
        if now == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "document {doc} is in {now:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Path templates over HTTP (#23): refused with the reason when they could not be rendered,
/// previewed, given to an uploaded PDF by a matching rule, which the placement job then files
/// into folders made for it; filed again when its correspondent is renamed; its download named
/// by the template; moved by hand, it leaves its template; another user gets 404 everywhere.
async fn path_templates_api(db: Db) {
    let srv = TestServer::start_with(db, true, |_| {}).await;
    let a = srv.new_user("alice").await;
    let b = srv.new_user("bob").await;
    let (s, e) = a.post("/api/v1/path-templates", &json!({"name": "x", "template": "Finance/{sender}"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("unknown variable {sender}"), "{e}");
    for bad in ["a//b", "{created:%Q}", "../x", "", "{title:%Y}", "{asn:x}"] {
        let (s, e) = a.post("/api/v1/path-templates", &json!({"name": "x", "template": bad})).await;
        assert_eq!(s, 400, "{bad:?}: {e}");
    }
    let (s, e) = a.post("/api/v1/path-templates", &json!({"name": "x", "template": "a", "filename": "{title}/{asn}"})).await;
    assert!(s == 400 && e["message"].as_str().unwrap().starts_with("filename:"), "{e}");
    let body =
        json!({"name": "Finance", "template": "Finance/{correspondent}/{created:%Y}", "filename": "{created} {correspondent} {title}"});
    let (s, t) = a.post("/api/v1/path-templates", &body).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!((t["fallback"].as_str(), t["document_count"].as_i64()), (Some("Unknown"), Some(0)));
    assert_eq!(a.post("/api/v1/path-templates", &body).await.0, 409);
    let tid = t["id"].as_i64().unwrap();

    // Bob sees none of it and cannot touch it.
    assert_eq!(b.get("/api/v1/path-templates").await.1["total"], 0);
    assert_eq!(b.get(&format!("/api/v1/path-templates/{tid}")).await.0, 404);
    assert_eq!(b.patch(&format!("/api/v1/path-templates/{tid}"), &json!({"name": "mine"})).await.0, 404);
    assert_eq!(b.delete(&format!("/api/v1/path-templates/{tid}")).await.0, 404);

    // A rule gives the template to an invoice as it arrives; the job files it.
    let (_, acme) = a.post("/api/v1/correspondents", &json!({"name": "ACME"})).await;
    let (s, r) =
        a.put(&format!("/api/v1/match-rules/correspondent/{}", acme["id"]), &json!({"algorithm": "exact", "pattern": "ACME Corp"})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = a.put(&format!("/api/v1/match-rules/path_template/{tid}"), &json!({"algorithm": "any", "pattern": "invoice"})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = a.put(&format!("/api/v1/match-rules/path_template/{tid}"), &json!({"algorithm": "auto"})).await;
    assert!(s == 400 && r["message"].as_str().unwrap().contains("does not learn"), "{r}");
    assert_eq!(b.put(&format!("/api/v1/match-rules/path_template/{tid}"), &json!({"algorithm": "any", "pattern": "x"})).await.0, 404);
    let (s, up) = a.upload("scan.pdf", tiny_pdf("ACME Corp invoice 2024-03-15 total due 12.00 EUR"), &[("title", "Gas bill")]).await;
    assert_eq!(s, 202, "{up}");
    let id = up["document"]["id"].as_i64().unwrap();
    let d = a.wait_done(id, Duration::from_secs(120)).await;
    assert_eq!(d["date"], "2024-03-15", "{d}");
    wait_path(&a, id, "Finance/ACME/2024").await;
    let (_, d) = a.get(&format!("/api/v1/documents/{id}")).await;
    assert_eq!(d["path_template"], json!({"id": tid, "name": "Finance"}));
    let (_, hist) = a.get(&format!("/api/v1/documents/{id}/history")).await;
    assert!(
        hist["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["action"] == "placed" && h["changes"]["path_template"]["path"] == "Finance/ACME/2024"),
        "{hist}"
    );

    // The download is named by the template (the extension kept).
    let (s, headers) = a.get_headers(&format!("/api/v1/documents/{id}/download")).await;
    assert_eq!(s, 200);
    let cd = headers.get("content-disposition").unwrap().to_str().unwrap().to_string();
    assert!(cd.contains("filename=\"2024-03-15 ACME Gas bill.pdf\""), "{cd}");

    // A preview renders a template (saved or not) for the caller's documents only.
    let (s, p) =
        a.post("/api/v1/path-templates/preview", &json!({"template": "{correspondent:upper}/{created:%B}", "document_ids": [id]})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["items"][0]["folders"], json!(["ACME", "March"]));
    assert_eq!(b.post("/api/v1/path-templates/preview", &json!({"template": "x", "document_ids": [id]})).await.0, 404);
    assert_eq!(b.patch(&format!("/api/v1/documents/{id}"), &json!({"title": "x"})).await.0, 404);
    let (_, bobs) = b.upload("b.pdf", tiny_pdf("bob"), &[]).await;
    let bob_doc = bobs["document"]["id"].as_i64().unwrap();
    assert_eq!(b.patch(&format!("/api/v1/documents/{bob_doc}"), &json!({"path_template_id": tid})).await.0, 404);

    // A renamed correspondent moves the document; a hand move takes it off its template.
    assert_eq!(a.patch(&format!("/api/v1/correspondents/{}", acme["id"]), &json!({"name": "ACME Corp"})).await.0, 200);
    wait_path(&a, id, "Finance/ACME Corp/2024").await;
    let (_, roots) = a.get("/api/v1/folders/roots").await;
    let (_, mine) = a.post("/api/v1/folders", &json!({"parent_id": roots["home"]["id"], "name": "Mine"})).await;
    let (s, d) = a.patch(&format!("/api/v1/documents/{id}"), &json!({"folder_id": mine["id"]})).await;
    assert_eq!((s, d["path_template"].clone()), (200, Value::Null), "{d}");
    // Given back through the bulk edit, it is filed again.
    let (s, r) = a.post("/api/v1/documents/bulk", &json!({"documents": [id], "edit": {"path_template_id": tid}})).await;
    assert_eq!(s, 202, "{r}");
    wait_path(&a, id, "Finance/ACME Corp/2024").await;

    // A document type gives its template to its documents by a bulk edit job, then to a
    // document that gets the type later.
    let (_, by_type) = a.post("/api/v1/path-templates", &json!({"name": "By type", "template": "Types/{type}"})).await;
    let (_, receipt) = a.post("/api/v1/document-types", &json!({"name": "Receipt"})).await;
    let (_, up2) = a.upload("r.pdf", tiny_pdf("a receipt from the bakery"), &[]).await;
    let second = up2["document"]["id"].as_i64().unwrap();
    a.wait_done(second, Duration::from_secs(120)).await;
    assert_eq!(a.patch(&format!("/api/v1/documents/{second}"), &json!({"document_type_id": receipt["id"]})).await.0, 200);
    let (s, r) = a.patch(&format!("/api/v1/document-types/{}", receipt["id"]), &json!({"path_template_id": by_type["id"]})).await;
    assert_eq!((s, r["path_template_id"].clone()), (200, by_type["id"].clone()), "{r}");
    assert_eq!(job_end(&a, r["filing_job_id"].as_i64().expect("a job")).await["state"], "done");
    wait_path(&a, second, "Types/Receipt").await;
    let (_, up3) = a.upload("r2.pdf", tiny_pdf("another receipt"), &[]).await;
    let third = up3["document"]["id"].as_i64().unwrap();
    a.wait_done(third, Duration::from_secs(120)).await;
    let (_, d) = a.patch(&format!("/api/v1/documents/{third}"), &json!({"document_type_id": receipt["id"]})).await;
    assert_eq!(d["path_template"]["id"], by_type["id"], "{d}");
    wait_path(&a, third, "Types/Receipt").await;
    assert_eq!(b.patch(&format!("/api/v1/document-types/{}", receipt["id"]), &json!({"path_template_id": null})).await.0, 404);

    // Deleted: the document stays where it is.
    assert_eq!(a.delete(&format!("/api/v1/path-templates/{tid}")).await.0, 204);
    let (_, d) = a.get(&format!("/api/v1/documents/{id}")).await;
    assert_eq!(d["path_template"], Value::Null);
    assert_eq!(folder_path(&a, id).await, "Finance/ACME Corp/2024");
    assert_eq!(a.get(&format!("/api/v1/path-templates/{tid}")).await.0, 404);
}
db_tests!(path_templates_api);
