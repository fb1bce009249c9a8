//! End-to-end fixtures: a fresh database URL per test (SQLite file or a new PostgreSQL
//! database), an in-process server on 127.0.0.1:0, and the real binary as child processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docmerge::app::AppContext;
use docmerge::config::Settings;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("DOCMERGE_TEST_PG").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string())
}

pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn new(db: Db) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match db {
            Db::Sqlite => TestDb { url: format!("sqlite://{}", dir.path().join("t.db").display()), dir, pg_name: None },
            Db::Postgres => {
                let name = format!("dm_e2e_{}_{:08x}", std::process::id(), rand::random::<u32>());
                let admin = pg_admin_url();
                let out = Command::new("psql")
                    .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", &format!("CREATE DATABASE {name}")])
                    .output()
                    .expect("psql runs");
                assert!(
                    out.status.success(),
                    "PostgreSQL is needed for this test and is not reachable at {admin}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                TestDb { url: format!("{base}/{name}"), dir, pg_name: Some(name) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            let _ = Command::new("psql")
                .args([pg_admin_url().as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn settings_for(db: &TestDb) -> Settings {
    let mut s = Settings::default();
    s.database.url = db.url.clone();
    s.database.pool_size = 4;
    s.storage.root = db.dir.path().join("data");
    s.server.bind = "127.0.0.1:0".into();
    s.ws.bind = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.auth.admin_username = "admin".into();
    s.auth.admin_password = "admin-password-1".into();
    s.worker.poll_ms = 50;
    if let Ok(dir) = std::env::var("DOCMERGE_RUNTIME_DIR") {
        s.pdf.library_path = format!("{dir}/lib/libpdfium.so");
        s.ocr.models_dir = format!("{dir}/models");
    }
    s
}

/// The server (and optionally worker + ws) running in this test process.
pub struct TestServer {
    pub base: String,
    /// The websocket's URL (`ws://127.0.0.1:PORT/ws`).
    pub ws: String,
    pub ctx: AppContext,
    pub shutdown: CancellationToken,
    pub db: TestDb,
}

impl TestServer {
    pub async fn start(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_with(db, false, tweak).await
    }

    pub async fn start_with(db: Db, worker: bool, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_on(TestDb::new(db), worker, tweak).await
    }

    /// Starts on an existing database and storage root (e.g. one filled by `docmerge import`).
    pub async fn start_on(tdb: TestDb, worker: bool, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = settings_for(&tdb);
        tweak(&mut settings);
        let ctx = AppContext::build(settings, true).await.expect("app context");
        docmerge::roles::serve::bootstrap_admin(&ctx).await.expect("admin");
        let shutdown = CancellationToken::new();
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", http.local_addr().unwrap());
        let ws_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = format!("ws://{}/ws", ws_listener.local_addr().unwrap());
        docmerge::ws::serve_ws(
            ctx.store.clone(),
            ws_listener,
            Duration::from_millis(50),
            ctx.settings.ws.allowed_origins.clone(),
            shutdown.clone(),
        )
        .await;
        {
            let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
            tokio::spawn(async move { docmerge::roles::serve::serve_on(ctx, http, shutdown).await });
        }
        if worker {
            let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
            tokio::spawn(async move { docmerge::roles::worker::run_embedded(ctx, shutdown).await });
        }
        let server = TestServer { base, ws, ctx, shutdown, db: tdb };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let c = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(r) = c.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server did not become healthy");
    }

    pub async fn client(&self, user: &str, password: &str) -> Api {
        Api::login(&self.base, user, password).await
    }

    pub async fn admin(&self) -> Api {
        self.client("admin", "admin-password-1").await
    }

    /// Creates a user through the admin API and logs in as them.
    pub async fn new_user(&self, name: &str) -> Api {
        let admin = self.admin().await;
        let (s, b) = admin.post("/api/v1/users", &serde_json::json!({"username": name, "password": "password-of-user"})).await;
        assert_eq!(s, 201, "{b}");
        self.client(name, "password-of-user").await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A logged-in API client (bearer token).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn login(base: &str, user: &str, password: &str) -> Api {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .expect("login request");
        let status = r.status();
        let body: Value = r.json().await.expect("login json");
        assert_eq!(status, 200, "login failed: {body}");
        Api { base: base.to_string(), token: body["token"].as_str().unwrap().to_string(), http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn finish(r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::finish(self.http.get(self.url(path)).bearer_auth(&self.token).send().await.expect("GET")).await
    }

    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(self.url(path)).bearer_auth(&self.token).send().await.expect("GET");
        (r.status().as_u16(), r.bytes().await.unwrap_or_default().to_vec())
    }

    /// A GET's status and headers (the body is read and dropped).
    pub async fn get_headers(&self, path: &str) -> (u16, reqwest::header::HeaderMap) {
        let r = self.http.get(self.url(path)).bearer_auth(&self.token).send().await.expect("GET");
        let out = (r.status().as_u16(), r.headers().clone());
        let _ = r.bytes().await;
        out
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(self.http.post(self.url(path)).bearer_auth(&self.token).json(body).send().await.expect("POST")).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> (u16, Value) {
        Self::finish(
            self.http
                .post(self.url(path))
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(self.http.patch(self.url(path)).bearer_auth(&self.token).json(body).send().await.expect("PATCH")).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(self.http.put(self.url(path)).bearer_auth(&self.token).json(body).send().await.expect("put")).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::finish(self.http.delete(self.url(path)).bearer_auth(&self.token).send().await.expect("DELETE")).await
    }

    pub async fn upload(&self, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        Self::finish(self.http.post(self.url("/api/v1/documents")).bearer_auth(&self.token).multipart(form).send().await.expect("upload"))
            .await
    }

    /// Polls the document until it is ready or failed.
    pub async fn wait_done(&self, id: i64, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (_, d) = self.get(&format!("/api/v1/documents/{id}")).await;
            let state = d["state"].as_str().unwrap_or("").to_string();
            if state == "ready" || state == "failed" {
                return d;
            }
            assert!(started.elapsed() < timeout, "document {id} still {state} after {timeout:?}: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A small valid PNG (white, with a black bar) made here.
pub fn tiny_png(w: u32, h: u32) -> Vec<u8> {
    let mut img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    for x in w / 4..w * 3 / 4 {
        for y in h / 2..h / 2 + 3.min(h / 2) {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A minimal one-page PDF with a text layer, written by hand (valid xref offsets).
pub fn tiny_pdf(text: &str) -> Vec<u8> {
    pdf_pages(&[text])
}

/// A PDF with one text page per entry (Helvetica 24 pt, a text layer, no images).
pub fn pdf_pages(texts: &[&str]) -> Vec<u8> {
    docmerge::bench::pages::text_pdf(texts, 24)
}

pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var("DOCMERGE_TEST_CORPUS")
        .expect("DOCMERGE_TEST_CORPUS is not set: point it at the shared corpus folder (scripts/test.sh and .ci/run set it)");
    let p = PathBuf::from(dir);
    assert!(p.is_dir(), "DOCMERGE_TEST_CORPUS={} is not a folder", p.display());
    p
}

/// A child `docmerge` process with its own environment.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, args: &[&str], env: &[(&str, String)], log_dir: &Path) -> Proc {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_docmerge"));
        cmd.args(args).stdout(log.try_clone().unwrap()).stderr(log).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // If the test process dies (a timeout kills it), its children die with it.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Proc { child: cmd.spawn().expect("spawn docmerge"), name: name.to_string() }
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment that points a child process at a test database and storage root.
pub fn child_env(db: &TestDb) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DOCMERGE__DATABASE__URL", db.url.clone()),
        ("DOCMERGE__STORAGE__ROOT", db.dir.path().join("data").display().to_string()),
        ("DOCMERGE__LOG__LEVEL", "info".to_string()),
        ("DOCMERGE__WORKER__POLL_MS", "50".to_string()),
    ];
    if let Ok(dir) = std::env::var("DOCMERGE_RUNTIME_DIR") {
        env.push(("DOCMERGE__PDF__LIBRARY_PATH", format!("{dir}/lib/libpdfium.so")));
        env.push(("DOCMERGE__OCR__MODELS_DIR", format!("{dir}/models")));
    }
    env
}

/// `db_tests!(name)` turns `async fn name(db: Db)` into `name::sqlite` and `name::postgres`.
macro_rules! db_tests {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(crate::harness::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name(crate::harness::Db::Postgres).await;
            }
        }
    };
}
pub(crate) use db_tests;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `serve` + `worker` × N + `ws` as separate processes on one test database.
pub struct Stack {
    pub base: String,
    pub ws: String,
    pub procs: Vec<Proc>,
    pub env: Vec<(&'static str, String)>,
    pub db: TestDb,
}

impl Stack {
    pub async fn start(db: Db, workers: usize, extra: &[(&'static str, &str)]) -> Stack {
        let tdb = TestDb::new(db);
        let (http, wsp) = (free_port(), free_port());
        let mut env = child_env(&tdb);
        env.push(("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{http}")));
        env.push(("DOCMERGE__WS__BIND", format!("127.0.0.1:{wsp}")));
        env.push(("DOCMERGE__AUTH__ADMIN_PASSWORD", "admin-password-1".into()));
        for (k, v) in extra {
            env.push((k, v.to_string()));
        }
        let mut procs = vec![Proc::spawn("serve", &["serve"], &env, tdb.dir.path())];
        let base = format!("http://127.0.0.1:{http}");
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not become ready: {}",
                std::fs::read_to_string(tdb.dir.path().join("serve.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for n in 0..workers {
            procs.push(Proc::spawn(&format!("worker{n}"), &["worker"], &env, tdb.dir.path()));
        }
        procs.push(Proc::spawn("ws", &["ws"], &env, tdb.dir.path()));
        let ws = format!("ws://127.0.0.1:{wsp}/ws");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", wsp)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "ws did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Stack { base, ws, procs, env, db: tdb }
    }

    pub async fn admin(&self) -> Api {
        Api::login(&self.base, "admin", "admin-password-1").await
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.db.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}
