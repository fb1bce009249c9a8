//! What the fault and abuse tests found, each on both databases: a search's cost, websockets
//! outliving their session, the login limiter, a full or read-only disk, password resets, empty
//! queries and the smaller items (cookies behind a proxy, framing, logout CSRF, trickling
//! uploads, invisible names, dot-only file names).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Db, TestDb, TestServer, db_tests, tiny_pdf, tiny_png};

fn login_body(user: &str, password: &str) -> Value {
    json!({"username": user, "password": password})
}

// ---- 1. a search's cost is bounded whatever its terms ------------------------------------------

async fn search_filters_count_and_empty_queries_are_refused(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let api = srv.admin().await;
    let (s, up) = api.upload("a.png", tiny_png(40, 30), &[("tags", "x")]).await;
    assert_eq!(s, 202, "{up}");
    // 166 × tag:x (996 characters) once took 50 s on PostgreSQL: the same filter repeated is
    // one filter now, and answers the tagged document.
    let q = "tag:x ".repeat(166);
    let (s, r) = api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q.trim()))).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["total"], 1);
    // Filters count towards the term limit like words do (before the fix: 200 and a long wait).
    let q: String = (0..33).map(|i| format!("tag:t{i} ")).collect();
    let (s, r) = api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q.trim()))).await;
    assert_eq!(s, 400, "{r}");
    assert!(r["message"].as_str().unwrap().contains("at most 32"), "{r}");
    let q: String = (0..20).map(|i| format!("w{i} folder:f{i} ")).collect();
    assert_eq!(api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q.trim()))).await.0, 400);
    // A query of no words lists nothing: it is a 400 saying so (before: every document).
    for q in ["*", "-", "\"\"", "%", "😀", "* % -"] {
        let (s, r) = api.get(&format!("/api/v1/search?q={}", urlencoding::encode(q))).await;
        assert_eq!(s, 400, "{q}: {r}");
        assert!(r["message"].as_str().unwrap().contains("no word to look for"), "{q}: {r}");
    }
    // Filters alone still list.
    let (s, r) = api.get("/api/v1/search?q=tag:x").await;
    assert_eq!((s, r["total"].as_i64()), (200, Some(1)), "{r}");
}
db_tests!(search_filters_count_and_empty_queries_are_refused);

// ---- 2. a websocket ends with its session ---------------------------------------------------

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_with(url: &str, header: (&'static str, String), origin: Option<&str>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(header.0, header.1.parse().unwrap());
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// The close code the socket ends with, or None if it is still open after `wait` (events and
/// pings are read and skipped; an `auth.revoked` event reaching a client fails the test).
async fn closed_with(ws: &mut Ws, wait: Duration) -> Option<u16> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
            Ok(Some(Ok(Message::Text(t)))) => assert!(!t.contains("auth.revoked"), "an internal event reached a client: {t}"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => return Some(1006),
        }
    }
}

async fn websockets_close_when_their_session_ends(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let admin = srv.admin().await;
    let (s, _) = admin.post("/api/v1/users", &json!({"username": "carol", "password": "password-of-carol"})).await;
    assert_eq!(s, 201);
    let http = reqwest::Client::new();
    let login = || async {
        let r = http.post(format!("{}/api/v1/auth/login", srv.base)).json(&login_body("carol", "password-of-carol")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        (b["token"].as_str().unwrap().to_string(), b["csrf_token"].as_str().unwrap().to_string())
    };
    let session_ws = |token: String| ws_with(&srv.ws, ("Cookie", format!("docmerge_session={token}")), None);

    // Logout (with the session cookie and its CSRF token) closes the socket of that session.
    let (s1, csrf1) = login().await;
    let (s2, _) = login().await;
    let mut ws1 = session_ws(s1.clone()).await.expect("socket of session 1");
    let mut ws2 = session_ws(s2.clone()).await.expect("socket of session 2");
    let r = http
        .post(format!("{}/api/v1/auth/logout", srv.base))
        .header("Cookie", format!("docmerge_session={s1}"))
        .header("X-CSRF-Token", csrf1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(closed_with(&mut ws1, Duration::from_secs(5)).await, Some(4401), "the logged-out session's socket closes");
    // The other session's socket stays open and keeps receiving events.
    let carol = srv.client("carol", "password-of-carol").await;
    carol.upload("c.png", tiny_png(20, 20), &[]).await;
    let mut got_created = false;
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(until, ws2.next()).await {
        if let Message::Text(t) = m {
            assert!(!t.contains("auth.revoked"), "{t}");
            if t.contains("document.created") {
                got_created = true;
                break;
            }
        }
    }
    assert!(got_created, "session 2's socket is still live");

    // Deleting an API token closes the sockets opened with it.
    let (s, t) = carol.post("/api/v1/auth/tokens", &json!({"name": "script"})).await;
    assert_eq!(s, 201);
    let api_token = t["token"].as_str().unwrap().to_string();
    let mut ws3 = ws_with(&srv.ws, ("Authorization", format!("Bearer {api_token}")), None).await.unwrap();
    assert_eq!(carol.delete(&format!("/api/v1/auth/tokens/{}", t["id"])).await.0, 204);
    assert_eq!(closed_with(&mut ws3, Duration::from_secs(5)).await, Some(4401));

    // A password reset by the administrator closes every socket of the user (sessions and API
    // tokens); with keep_tokens, API-token sockets stay.
    let carol_id = srv.ctx.store.user_by_name("carol").await.unwrap().unwrap().user.id;
    let (_, t) = carol.post("/api/v1/auth/tokens", &json!({"name": "kept"})).await;
    let kept = t["token"].as_str().unwrap().to_string();
    let mut ws_kept = ws_with(&srv.ws, ("Authorization", format!("Bearer {kept}")), None).await.unwrap();
    let (s, _) = admin.patch(&format!("/api/v1/users/{carol_id}"), &json!({"password": "another-password-1", "keep_tokens": true})).await;
    assert_eq!(s, 200);
    assert_eq!(closed_with(&mut ws2, Duration::from_secs(5)).await, Some(4401), "sessions end with a new password");
    assert_eq!(closed_with(&mut ws_kept, Duration::from_secs(2)).await, None, "keep_tokens keeps API-token sockets");
    let (s, _) = admin.patch(&format!("/api/v1/users/{carol_id}"), &json!({"password": "third-password-1"})).await;
    assert_eq!(s, 200);
    assert_eq!(closed_with(&mut ws_kept, Duration::from_secs(5)).await, Some(4401), "a new password ends API tokens too by default");

    // Disabling the account closes its sockets.
    let (s4, _) = {
        let r = http.post(format!("{}/api/v1/auth/login", srv.base)).json(&login_body("carol", "third-password-1")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        (b["token"].as_str().unwrap().to_string(), ())
    };
    let mut ws4 = session_ws(s4).await.unwrap();
    assert_eq!(admin.patch(&format!("/api/v1/users/{carol_id}"), &json!({"disabled": true})).await.0, 200);
    assert_eq!(closed_with(&mut ws4, Duration::from_secs(5)).await, Some(4401));

    // A page of another origin cannot open a socket with the user's cookie; the same host can
    // (the UI on :8000 talks to the websocket on :8001).
    let (s5, _) = admin.post("/api/v1/auth/tokens", &json!({"name": "o"})).await;
    assert_eq!(s5, 201);
    let admin_session = {
        let r = http.post(format!("{}/api/v1/auth/login", srv.base)).json(&login_body("admin", "admin-password-1")).send().await.unwrap();
        let b: Value = r.json().await.unwrap();
        b["token"].as_str().unwrap().to_string()
    };
    let cookie = ("Cookie", format!("docmerge_session={admin_session}"));
    assert_eq!(ws_with(&srv.ws, cookie.clone(), Some("https://evil.example")).await.err(), Some(403));
    assert!(ws_with(&srv.ws, cookie.clone(), Some("http://127.0.0.1:8000")).await.is_ok());
}
db_tests!(websockets_close_when_their_session_ends);

// ---- 3 and 4. the login limiter: atomic, per source and per account, no lock-out -------------

async fn login_guessing_is_limited_atomically_without_locking_out_the_owner(db: Db) {
    let srv = TestServer::start(db, |s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let _ = srv.admin().await; // the owner has logged in from 127.0.0.1 before
    let http = reqwest::Client::new();
    let attempt = |ip: String, password: &'static str| {
        let (http, base) = (http.clone(), srv.base.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/auth/login"))
                .header("X-Forwarded-For", ip)
                .json(&login_body("admin", password))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (r.status().as_u16(), retry)
        }
    };
    let count = |results: &[(u16, Option<u64>)], status: u16| results.iter().filter(|r| r.0 == status).count();

    // 60 wrong passwords at once from one address: its 5 free attempts are checked, and on a busy
    // machine that takes seconds to answer all 60, at most one more each time the back-off (1 s,
    // then 2 s) has passed.
    let first = futures_util::future::join_all((0..60).map(|_| attempt("198.51.100.1".into(), "wrong-password"))).await;
    let results = first.clone();
    assert!(count(&results, 401) <= 7, "checked {} of 60 (before the fix: 38)", count(&results, 401));
    assert_eq!(count(&results, 401) + count(&results, 429), 60, "{results:?}");
    assert!(results.iter().filter(|r| r.0 == 429).all(|r| r.1.is_some_and(|s| s >= 1)), "every 429 has Retry-After");

    // 60 wrong passwords at once from 60 addresses: at most the account's 10 are checked.
    let results = futures_util::future::join_all((0..60).map(|i| attempt(format!("198.51.101.{i}"), "wrong-password"))).await;
    let checked = count(&results, 401);
    let before = count(&first, 401);
    assert!(checked + before <= 10, "checked {checked} more after {before} (limit 10 per account; before the fix: 51)");
    assert!(results.iter().filter(|r| r.0 == 429).all(|r| r.1.is_some_and(|s| s > 60)), "{results:?}");

    // A stranger now waits even with the right password; the owner, from an address they
    // logged in from before, gets in.
    let (s, retry) = attempt("198.51.102.1".into(), "admin-password-1").await;
    assert_eq!(s, 429);
    assert!(retry.is_some_and(|r| r <= 15 * 60));
    let r = http.post(format!("{}/api/v1/auth/login", srv.base)).json(&login_body("admin", "admin-password-1")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the owner is not locked out");
}
db_tests!(login_guessing_is_limited_atomically_without_locking_out_the_owner);

// ---- 5. a full or read-only disk ------------------------------------------------------------

/// A tmpfs of `mb` MiB mounted on `dir` (tests run as root, as CI does); unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mb: u64) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out =
            std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"]).arg(dir).output().unwrap();
        assert!(out.status.success(), "this test mounts a small tmpfs and needs root: {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk(dir.to_path_buf())
    }

    /// Writes a filler file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }

    fn remount(&self, mode: &str) {
        let out = std::process::Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn a_full_disk_gives_507_an_unready_server_and_still_frees_space(db: Db) {
    // The storage root (and, on SQLite, the database inside it, as by default) on a 128 MiB disk.
    let tdb = TestDb::new(db);
    let data = tdb.dir.path().join("data");
    let disk = SmallDisk::mount(&data, 128);
    let srv = TestServer::start_on(tdb, false, |s| {
        s.storage.min_free_mb = 60;
        if db == Db::Sqlite {
            s.database.url = format!("sqlite://{}", data.join("docmerge.db").display());
        }
    })
    .await;
    let api = srv.admin().await;
    let c = reqwest::Client::new();
    let (s, up) = api.upload("keep.pdf", tiny_pdf("kept"), &[]).await;
    assert_eq!(s, 202, "{up}");
    let doc = up["document"]["id"].as_i64().unwrap();
    assert_eq!(api.delete(&format!("/api/v1/documents/{doc}")).await.0, 204);

    // Below storage.min_free_mb: refused before anything is read, with a 507 in words.
    let ballast = disk.0.join("ballast");
    std::fs::write(&ballast, vec![0u8; 70 << 20]).unwrap();
    let (s, r) = api.upload("big.png", tiny_png(64, 64), &[]).await;
    assert_eq!(s, 507, "{r}");
    assert_eq!(r["code"], "insufficient_storage");
    std::fs::remove_file(&ballast).unwrap();

    // Full: uploads are 507 (not 500), /readyz fails with the reason.
    let filler = disk.fill();
    let (s, r) = api.upload("full.png", tiny_png(64, 64), &[]).await;
    assert_eq!(s, 507, "{r}");
    let r = c.get(format!("{}/readyz", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("storage"), "{body}");

    // Space can still be freed through the API: log in, purge from the trash.
    let again = srv.admin().await;
    assert_eq!(again.delete(&format!("/api/v1/documents/{doc}/purge")).await.0, 204);
    let (_, trash) = again.get("/api/v1/trash").await;
    assert_eq!(trash["total"], 0);

    // Space back: ready again, uploads work.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(c.get(format!("{}/readyz", srv.base)).send().await.unwrap().status(), 200);
    assert_eq!(again.upload("after.png", tiny_png(30, 30), &[]).await.0, 202);
}
db_tests!(a_full_disk_gives_507_an_unready_server_and_still_frees_space);

async fn processing_that_cannot_write_its_outputs_fails_with_the_reason(db: Db) {
    // The database outside the small disk, so that only the files cannot be written.
    let tdb = TestDb::new(db);
    let url = match db {
        Db::Sqlite => format!("sqlite://{}", tdb.dir.path().join("outside.db").display()),
        Db::Postgres => tdb.url.clone(),
    };
    let disk = SmallDisk::mount(&tdb.dir.path().join("data"), 64);
    let srv = TestServer::start_on(tdb, false, |s| {
        s.database.url = url.clone();
        s.storage.min_free_mb = 0;
    })
    .await;
    let api = srv.admin().await;
    let (s, up) = api.upload("page.pdf", tiny_pdf("Storage test page"), &[]).await;
    assert_eq!(s, 202, "{up}");
    let doc = up["document"]["id"].as_i64().unwrap();
    disk.remount("ro");
    // Read-only storage: uploads are 507 and the server is not ready.
    let (s, r) = api.upload("ro.png", tiny_png(31, 31), &[]).await;
    assert_eq!(s, 507, "{r}");
    let r = reqwest::Client::new().get(format!("{}/readyz", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let shutdown = srv.shutdown.clone();
    let ctx = srv.ctx.clone();
    tokio::spawn(async move { docmerge::roles::worker::run_embedded(ctx, shutdown).await });
    let d = api.wait_done(doc, Duration::from_secs(60)).await;
    disk.remount("rw");
    assert_eq!(d["state"], "failed", "{d}");
    let error = d["error"].as_str().unwrap_or_default();
    assert!(error.contains("read-only") || error.contains("full"), "the reason is given: {d}");
    // After the operator fixed the disk, reprocessing succeeds.
    let (s, _) = api.post(&format!("/api/v1/documents/{doc}/reprocess"), &json!({})).await;
    assert_eq!(s, 202);
    assert_eq!(api.wait_done(doc, Duration::from_secs(60)).await["state"], "ready");
}
db_tests!(processing_that_cannot_write_its_outputs_fails_with_the_reason);

// ---- 6. a password reset revokes tokens -------------------------------------------------------

async fn a_password_reset_revokes_the_users_tokens(db: Db) {
    let srv = TestServer::start(db, |_| {}).await;
    let admin = srv.admin().await;
    let dave = srv.new_user("dave").await;
    let (_, t) = dave.post("/api/v1/auth/tokens", &json!({"name": "backup script"})).await;
    let script = crate::harness::Api { token: t["token"].as_str().unwrap().to_string(), ..dave.clone() };
    assert_eq!(script.get("/api/v1/auth/me").await.0, 200);
    let id = srv.ctx.store.user_by_name("dave").await.unwrap().unwrap().user.id;
    // keep_tokens: the session ends, the API token stays.
    assert_eq!(admin.patch(&format!("/api/v1/users/{id}"), &json!({"password": "dave-password-2", "keep_tokens": true})).await.0, 200);
    assert_eq!(dave.get("/api/v1/auth/me").await.0, 401);
    assert_eq!(script.get("/api/v1/auth/me").await.0, 200);
    // The default: every token ends (before the fix the API token kept working).
    assert_eq!(admin.patch(&format!("/api/v1/users/{id}"), &json!({"password": "dave-password-3"})).await.0, 200);
    assert_eq!(script.get("/api/v1/auth/me").await.0, 401);
    let (_, tokens) = srv.client("dave", "dave-password-3").await.get("/api/v1/auth/tokens").await;
    assert_eq!(tokens["total"], 0);
}
db_tests!(a_password_reset_revokes_the_users_tokens);

// ---- 8. the smaller items ----------------------------------------------------------------------

async fn smaller_items(db: Db) {
    let srv = TestServer::start(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.server.upload_min_bytes_per_sec = 8192;
        s.server.upload_rate_window_secs = 2;
    })
    .await;
    let api = srv.admin().await;
    let http = reqwest::Client::new();

    // Behind a TLS-terminating trusted proxy, session cookies are Secure without configuration.
    let r = http
        .post(format!("{}/api/v1/auth/login", srv.base))
        .header("X-Forwarded-Proto", "https")
        .json(&login_body("admin", "admin-password-1"))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    let r = http.post(format!("{}/api/v1/auth/login", srv.base)).json(&login_body("admin", "admin-password-1")).send().await.unwrap();
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "plain HTTP: {cookies:?}");
    let session: Value = r.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_string();

    // No page or answer may be framed by another site.
    for path in ["/", "/api/v1/auth/me", "/healthz", "/api/v1/nothing"] {
        let r = http.get(format!("{}{path}", srv.base)).bearer_auth(&api.token).send().await.unwrap();
        assert_eq!(r.headers().get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{path}");
        let csp = r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }

    // Logout with the session cookie needs the CSRF token: another site cannot log users out.
    let r =
        http.post(format!("{}/api/v1/auth/logout", srv.base)).header("Cookie", format!("docmerge_session={token}")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let me = http.get(format!("{}/api/v1/auth/me", srv.base)).header("Cookie", format!("docmerge_session={token}")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the session survived the forged logout");

    // Invisible names are refused.
    for name in ["\u{200d}", "\u{200b}\u{feff}", " \u{2060} "] {
        let (s, r) = api.post("/api/v1/tags", &json!({"name": name})).await;
        assert_eq!(s, 400, "{name:?}: {r}");
        let (s, _) = api.upload("x.png", tiny_png(10, 11), &[("tags", name)]).await;
        assert_eq!(s, 400, "{name:?}");
        let (s, _) = api.upload("x.png", tiny_png(10, 12), &[("title", name)]).await;
        assert_eq!(s, 400, "{name:?}");
    }
    let (_, roots) = api.get("/api/v1/folders/roots").await;
    let (s, _) = api.post("/api/v1/folders", &json!({"name": "\u{200d}", "parent_id": roots["home"]["id"]})).await;
    assert_eq!(s, 400);

    // A name of dots keeps its extension.
    let (s, up) = api.upload("....pdf", tiny_pdf("dots"), &[]).await;
    assert_eq!(s, 202, "{up}");
    assert_eq!(up["document"]["version"]["filename"], "upload.pdf", "{up}");

    // An upload trickling below the minimum rate is stopped (408), not held open.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let boundary = "trickle0boundary";
    let trickler = tokio::spawn(async move {
        let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.pdf\"\r\n\r\n%PDF-1.4\n");
        let _ = tx.send(Ok(head.into_bytes())).await;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if tx.send(Ok(vec![b' '; 512])).await.is_err() {
                return;
            }
        }
    });
    let started = std::time::Instant::now();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let r = http
        .post(format!("{}/api/v1/documents", srv.base))
        .bearer_auth(&api.token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await;
    trickler.abort();
    match r {
        Ok(r) => {
            assert_eq!(r.status(), 408);
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["code"], "upload_too_slow", "{b}");
        }
        // The server may close the connection while the body is still being sent.
        Err(e) => assert!(started.elapsed() < Duration::from_secs(14), "the trickling upload was held open: {e}"),
    }
    let (_, list) = api.get("/api/v1/documents?page_size=100").await;
    assert!(list["items"].as_array().unwrap().iter().all(|d| d["version"]["filename"] != "slow.pdf"));
}
db_tests!(smaller_items);

/// A stream of the channel's items (reqwest's body wants a Stream).
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

// ---- 1 (continued). a search stops at its time limit and when its client leaves --------------

/// Holds an ACCESS EXCLUSIVE lock on `tags` (a search with a `tag:` filter then waits for it):
/// a search that is slow for certain, without a large library.
async fn lock_tags(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.batch_execute("BEGIN; LOCK TABLE tags IN ACCESS EXCLUSIVE MODE").await.unwrap();
    client
}

async fn searches_waiting_on_the_lock(admin: &tokio_postgres::Client, db: &str) -> i64 {
    admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'docmerge' AND wait_event_type = 'Lock'",
            &[&db],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_search_is_cancelled_when_its_client_leaves() {
    let srv = TestServer::start(Db::Postgres, |s| s.limits.search_timeout_secs = 60).await;
    let api = srv.admin().await;
    assert_eq!(api.upload("t.png", tiny_png(20, 20), &[("tags", "x")]).await.0, 202);
    let db_name = srv.db.url.rsplit('/').next().unwrap().to_string();
    let admin_db = crate::common::pg_admin().await;
    let locker = lock_tags(&srv.db.url).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().unwrap();
    let r = impatient.get(format!("{}/api/v1/search?q=tag:x", srv.base)).bearer_auth(&api.token).send().await;
    assert!(r.is_err(), "the search waits on the lock: {r:?}");
    // The client has gone: the server cancels its query at once (before the fix it waited on
    // the lock until the lock was released, however long).
    let mut waiting = i64::MAX;
    for _ in 0..50 {
        waiting = searches_waiting_on_the_lock(&admin_db, &db_name).await;
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 0, "the abandoned search's query still runs");
    locker.batch_execute("ROLLBACK").await.unwrap();
    // The pool still serves.
    assert_eq!(api.get("/api/v1/search?q=tag:x").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_search_stops_at_its_time_limit() {
    let srv = TestServer::start(Db::Postgres, |s| s.limits.search_timeout_secs = 1).await;
    let api = srv.admin().await;
    assert_eq!(api.upload("t.png", tiny_png(20, 20), &[("tags", "x")]).await.0, 202);
    let locker = lock_tags(&srv.db.url).await;
    let (s, r) = api.get("/api/v1/search?q=tag:x").await;
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(s, 400, "{r}");
    assert_eq!(r["code"], "query_too_expensive", "{r}");
    // Other requests were served meanwhile and still are.
    assert_eq!(api.get("/api/v1/documents").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_stops_at_its_time_limit() {
    use docmerge::domain::SyntheticDoc;
    let tdb = TestDb::new(Db::Sqlite);
    let store = docmerge::db::connect_bulk(&tdb.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let owner = store.create_user("alice", "h", false).await.unwrap();
    let (home, _) = store.root_folders(owner.id).await.unwrap();
    let docs: Vec<SyntheticDoc> = (0..3000)
        .map(|i| SyntheticDoc {
            folder_id: home.id,
            title: format!("document {i}"),
            filename: format!("d{i}.pdf"),
            sha256: format!("{i:064x}"),
            size: 100,
            created_at: i,
            tag_ids: Vec::new(),
            pages: vec![format!("alpha beta gamma apple apricot avocado number {i}")],
            meta: Default::default(),
        })
        .collect();
    store.bulk_load_for_bench(owner.id, docs).await.unwrap();
    let mut q = docmerge::domain::search::parse_query("a* b* g*").unwrap();
    assert!(store.search(owner.id, &q, docmerge::domain::PageReq { page: 1, page_size: 10 }).await.is_ok());
    q.time_limit = Duration::ZERO;
    match store.search(owner.id, &q, docmerge::domain::PageReq { page: 1, page_size: 10 }).await {
        Err(docmerge::domain::DomainError::TooExpensive(m)) => assert!(m.contains("took longer"), "{m}"),
        other => panic!("expected the time limit, got {:?}", other.map(|p| p.total)),
    }
    // The connection is usable afterwards (the handler was removed).
    q.time_limit = Duration::from_secs(10);
    assert!(store.search(owner.id, &q, docmerge::domain::PageReq { page: 1, page_size: 10 }).await.is_ok());
}
