//! The web UI: every asset comes from the binary with the right type and cache headers and no
//! external URL; and the headless-Chromium flow (tests/browser) against a real `docmerge all`.

use std::time::{Duration, Instant};

use crate::harness::{Db, Proc, TestDb, TestServer, child_env, corpus_dir, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_assets_are_embedded_typed_cached_and_offline() {
    let srv = TestServer::start(Db::Sqlite, |_| {}).await;
    let c = reqwest::Client::new();
    let paths = docmerge::http::routes::ops::asset_paths();
    assert!(paths.iter().any(|p| p == "index.html"), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with(".js")) && paths.iter().any(|p| p.ends_with(".css")));
    for p in &paths {
        let r = c.get(format!("{}/{p}", srv.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        let expected = match p.rsplit('.').next().unwrap() {
            "html" => "text/html",
            "js" | "mjs" => "text/javascript",
            "css" => "text/css",
            "svg" => "image/svg+xml",
            "json" => "application/json",
            "png" => "image/png",
            other => panic!("unexpected asset type .{other}: {p}"),
        };
        assert!(ct.starts_with(expected), "{p}: content-type {ct}, expected {expected}");
        let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
        assert!(if p == "index.html" { cache == "no-cache" } else { cache.contains("max-age") }, "{p}: {cache}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        for (i, _) in body.match_indices("http") {
            let rest = &body[i..];
            let is_url = rest.starts_with("http://") || rest.starts_with("https://");
            // An SVG's XML namespace is a name, not something fetched.
            let namespace = rest.starts_with("http://www.w3.org/2000/svg");
            assert!(!is_url || namespace, "{p} references an external URL: {}", &rest[..rest.len().min(60)]);
        }
        let again = c.get(format!("{}/{p}", srv.base)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{p}: ETag revalidation");
    }
    // Deep links of the single-page app get index.html; unknown files and API paths a 404.
    let r = c.get(format!("{}/folder/12", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<html"));
    assert_eq!(c.get(format!("{}/nope.js", srv.base)).send().await.unwrap().status(), 404);
}

/// Runs tests/browser (node --test, playwright-core, Debian chromium) against `docmerge all`.
#[test]
fn browser_flow_in_headless_chromium() {
    let db = TestDb::new(Db::Sqlite);
    let (http, ws) = (free_port(), free_port());
    // The language-model panel talks to a real model server (tests/it/llm.rs).
    let llm = crate::llm::LlmServer::start();
    let llm_env = [
        ("DOCMERGE__LLM__ENDPOINT", format!("http://127.0.0.1:{}/v1", llm.port)),
        ("DOCMERGE__LLM__MODEL", "qwen2.5-coder-0.5b-instruct".to_string()),
        ("DOCMERGE__LLM__TIMEOUT_SECS", "600".to_string()),
    ];
    let _all = start_all(&db, http, ws, &llm_env);
    let root = browser_root();
    let output = root.join("output");
    run_browser_tests(
        &format!("http://127.0.0.1:{http}"),
        &output,
        &["metadata.test.mjs", "views.test.mjs", "matching.test.mjs", "paths.test.mjs", "workflows.test.mjs", "llm.test.mjs"],
    );
    for prefix in ["metadata-", "views-", "matching-", "paths-", "workflows-", "llm-"] {
        assert!(
            std::fs::read_dir(&output).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(prefix)),
            "no {prefix} screenshots in {}",
            output.display()
        );
    }
}

/// The same flow through Debian's nginx running the shipped packaging/nginx/docmerge.conf: one
/// origin for the UI, the API and the websocket (`/ws`), as a packaged install serves it.
#[test]
fn browser_flow_through_nginx() {
    let db = TestDb::new(Db::Sqlite);
    let (http, ws, port) = (free_port(), free_port(), free_port());
    let _all = start_all(&db, http, ws, &[("DOCMERGE__SERVER__TRUSTED_PROXIES", r#"["127.0.0.1"]"#.into())]);
    let nginx_dir = db.dir.path().join("nginx");
    let _nginx = crate::topology::start_nginx(&nginx_dir, &crate::topology::shipped_nginx_site(port, &[http], &[ws]));
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, "nginx in front of docmerge all");
    // Behind the proxy the UI is told to open its websocket on the same origin.
    let c = reqwest::blocking::Client::new();
    let token: serde_json::Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let config: serde_json::Value =
        c.get(format!("{base}/api/v1/config")).bearer_auth(token["token"].as_str().unwrap()).send().unwrap().json().unwrap();
    assert_eq!(config["ws_url"], "/ws", "{config}");

    let out = browser_root().join("output-nginx");
    run_browser_tests(&base, &out, &[]);
    // The browser's websocket really went through nginx: an upgrade (101) on /ws in its access log.
    let access = std::fs::read_to_string(nginx_dir.join("logs/access.log")).unwrap();
    assert!(
        access.lines().any(|l| l.contains("GET /ws") && l.contains("\" 101 ")),
        "no websocket upgrade through nginx in its access log:\n{access}"
    );
    assert!(access.lines().any(|l| l.contains("POST /api/v1/documents") && l.contains("\" 202 ")), "the upload did not go through nginx");
}

const ADMIN_PASSWORD: &str = "browser-admin-pw";

fn browser_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn start_all(db: &TestDb, http: u16, ws: u16, extra: &[(&'static str, String)]) -> Proc {
    let mut env = child_env(db);
    env.push(("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{http}")));
    env.push(("DOCMERGE__WS__BIND", format!("127.0.0.1:{ws}")));
    env.push(("DOCMERGE__AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD.into()));
    env.extend_from_slice(extra);
    let all = Proc::spawn("all", &["all"], &env, db.dir.path());
    wait_ready(&format!("http://127.0.0.1:{http}"), "docmerge all");
    all
}

fn wait_ready(base: &str, what: &str) {
    let started = Instant::now();
    while !reqwest::blocking::get(format!("{base}/readyz")).map(|r| r.status().is_success()).unwrap_or(false) {
        assert!(started.elapsed() < Duration::from_secs(30), "{what} did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// node --test over the browser tests of a normal server against `base`; screenshots into
/// `output`. `more`: test files run after the common ones (the direct run also runs the
/// metadata tests; through nginx the common ones are enough to prove the proxying).
fn run_browser_tests(base: &str, output: &std::path::Path, more: &[&str]) {
    let mut files = vec!["flow.test.mjs", "first.test.mjs", "offline.test.mjs", "pages.test.mjs", "session.test.mjs"];
    files.extend_from_slice(more);
    let stdout = run_node_tests(base, output, &files);
    assert!(stdout.contains("# fail 0") && !stdout.contains("# pass 0"), "{stdout}");
    // Screenshots of every step are kept.
    assert!(output.join("13-log-out.png").is_file(), "no screenshots in {}", output.display());
    assert!(
        output.join("pages-03-move-page-1-into-the-other-document.png").is_file(),
        "no page-operation screenshots in {}",
        output.display()
    );
    assert!(output.join("session-02-signed-out-by-revocation.png").is_file(), "no session screenshots in {}", output.display());
}

/// A server without its runtime files (#21): the administrator's banner, and an upload that
/// fails with the reason, in the browser.
#[test]
fn browser_banner_when_the_runtime_files_are_missing() {
    let db = TestDb::new(Db::Sqlite);
    let (http, ws) = (free_port(), free_port());
    let missing = db.dir.path().join("no-runtime");
    let _all = start_all(
        &db,
        http,
        ws,
        &[
            ("DOCMERGE__PDF__LIBRARY_PATH", missing.join("lib/libpdfium.so").display().to_string()),
            ("DOCMERGE__OCR__MODELS_DIR", missing.join("models").display().to_string()),
        ],
    );
    let output = browser_root().join("output-banner");
    let stdout = run_node_tests(&format!("http://127.0.0.1:{http}"), &output, &["banner.test.mjs"]);
    assert!(stdout.contains("# pass 1") && stdout.contains("# fail 0"), "{stdout}");
    assert!(output.join("banner-02-upload-failed.png").is_file(), "no screenshots in {}", output.display());
}

/// `node --test` over `files` against `base`; returns its output (fails on a failed test).
fn run_node_tests(base: &str, output: &std::path::Path, files: &[&str]) -> String {
    let corpus = corpus_dir();
    let root = browser_root();
    assert!(
        root.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser (scripts/test.sh does)"
    );
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Debian's chromium is needed (.ci/run installs it)");
    let _ = std::fs::remove_dir_all(output);
    let out = std::process::Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        .args(files)
        .current_dir(&root)
        .env("DOCMERGE_URL", base)
        .env("DOCMERGE_USER", "admin")
        .env("DOCMERGE_PASSWORD", ADMIN_PASSWORD)
        .env("DOCMERGE_TEST_CORPUS", &corpus)
        .env("DOCMERGE_BROWSER_OUTPUT", output)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "browser tests against {base} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}
