//! The deployment of the design card, for real on loopback: PostgreSQL, 2 × `serve`,
//! 2 × `worker`, 1 × `ws`, all behind Debian's nginx running the SHIPPED
//! packaging/nginx/docmerge.conf (only its upstream addresses and listen port are rewritten).
//! 50 corpus documents go in through nginx; mid-run one worker is SIGKILLed and PostgreSQL is
//! restarted; every document must end `ready` exactly once, with events arriving over the
//! websocket through nginx.
//!
//! It restarts the machine's PostgreSQL, so it runs alone (see .config/nextest.toml).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::free_port;
use crate::harness::{Api, Db, Proc, TestDb, child_env, corpus_dir};

const NGINX: &str = "/usr/sbin/nginx";
const DOCUMENTS: usize = 50;
const ADMIN_PASSWORD: &str = "topology-admin-1";

/// nginx as a child process with its own prefix, pid file, logs and temp paths (under the
/// directory given to `start_nginx`: logs/error.log says why it refused something).
pub struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM first: the master stops its workers. A SIGKILLed master leaves its workers
        // running (and listening) after the test.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces exactly one occurrence of `line` (whole trimmed line) in the shipped config; a
/// shipped file that no longer has it has changed shape, and this test must be updated with it.
fn replace_line(conf: &str, line: &str, with: &str) -> String {
    let hits = conf.lines().filter(|l| l.trim() == line).count();
    assert_eq!(hits, 1, "packaging/nginx/docmerge.conf changed shape: expected exactly one line `{line}`, found {hits}");
    conf.lines().map(|l| if l.trim() == line { with.to_string() } else { l.to_string() }).collect::<Vec<_>>().join("\n")
}

/// The shipped site config with the test's ports: the only edits are the upstream servers and
/// the listen address.
pub fn shipped_nginx_site(listen_port: u16, serve_ports: &[u16], ws_ports: &[u16]) -> String {
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/nginx/docmerge.conf"))
        .expect("read packaging/nginx/docmerge.conf");
    for must in [
        "upstream docmerge_serve {",
        "upstream docmerge_ws {",
        "location /api/ {",
        "location /ws {",
        "proxy_request_buffering off;",
        "proxy_set_header Upgrade           $http_upgrade;",
    ] {
        assert!(shipped.lines().any(|l| l.trim() == must), "packaging/nginx/docmerge.conf changed shape: no line `{must}`");
    }
    let servers = |ports: &[u16]| ports.iter().map(|p| format!("    server 127.0.0.1:{p};")).collect::<Vec<_>>().join("\n");
    let conf = replace_line(&shipped, "server 127.0.0.1:8000;", &servers(serve_ports));
    let conf = replace_line(&conf, "server 127.0.0.1:8001;", &servers(ws_ports));
    let conf = replace_line(&conf, "listen 80;", &format!("    listen 127.0.0.1:{listen_port};"));
    // IPv6 loopback may be missing in containers; the test listens on 127.0.0.1 only.
    replace_line(&conf, "listen [::]:80;", "")
}

pub fn start_nginx(dir: &Path, site: &str) -> Nginx {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is missing: the topology test needs Debian's nginx (apt-get install nginx-light; .ci/run installs it)"
    );
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("docmerge.conf"), site).unwrap();
    let d = dir.display();
    // As root, nginx would switch its workers to `nobody`, who cannot enter the test's temp dir.
    let user = if rustix_uid_is_root() { "user root root;\n" } else { "" };
    let main = format!(
        "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           include {d}/docmerge.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let conf = dir.join("nginx.conf").display().to_string();
    let prefix = format!("{d}/");
    let test = Command::new(NGINX).args(["-t", "-p", &prefix, "-e", "logs/error.log", "-c", &conf]).output().expect("run nginx -t");
    assert!(test.status.success(), "nginx -t refuses the shipped config: {}", String::from_utf8_lossy(&test.stderr));
    let log = std::fs::File::create(dir.join("logs/nginx.out")).unwrap();
    let mut cmd = Command::new(NGINX);
    cmd.args(["-p", &prefix, "-e", "logs/error.log", "-c", &conf, "-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // If the test process dies, nginx gets SIGTERM (and stops its workers) with it.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("start nginx");
    Nginx { child }
}

fn rustix_uid_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

async fn wait_ready(url: &str, what: &str, procs: &mut [&mut Proc]) {
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return;
        }
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited with {status} before {what} was ready", p.name);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what} not ready at {url} after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The corpus files the test uploads: images, image-only PDFs, born-digital PDFs and scans.
fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            ["img-", "io-", "bd-", "scan-"].iter().any(|pre| name.starts_with(pre)) && !name.ends_with(".txt")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has too few img-/io-/bd-/scan- files: {files:?}");
    files
}

/// One SQL answer from the test database, as text rows (psql -At).
fn psql(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-Atc", sql]).output().expect("run psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// `psql` that tolerates the database being down (while PostgreSQL restarts).
fn psql_soft(url: &str, sql: &str) -> Option<Vec<String>> {
    let out = Command::new("psql").args([url, "-Atc", sql]).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
}

fn restart_postgres() {
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", "15", "main", "restart"])
        .output()
        .expect("run pg_ctlcluster (postgresql-common)");
    assert!(
        out.status.success(),
        "restarting PostgreSQL failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topology_behind_nginx_survives_worker_kill_and_postgres_restart() {
    let tdb = TestDb::new(Db::Postgres);
    let dir = tdb.dir.path().to_path_buf();
    let (serve_ports, ws_port, nginx_port) = ([free_port(), free_port()], free_port(), free_port());
    std::fs::write(dir.join("docmerge.toml"), "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n").unwrap();

    let mut env = child_env(&tdb);
    env.push(("DOCMERGE_CONFIG", dir.join("docmerge.toml").display().to_string()));
    env.push(("DOCMERGE__AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD.into()));
    // A dead worker's jobs come back after this; short so the test does not wait long.
    env.push(("DOCMERGE__WORKER__LEASE_SECS", "8".into()));
    env.push(("DOCMERGE__WORKER__CONCURRENCY", "2".into()));
    env.push(("DOCMERGE__DATABASE__POOL_SIZE", "4".into()));
    // On a shared 2-core machine one OCR page can take minutes of wall time; the default
    // 120 s page timeout would turn load into retries (correct, but slow and noisy).
    env.push(("DOCMERGE__LIMITS__PAGE_TIMEOUT_SECS", "900".into()));
    let with = |extra: &[(&'static str, String)]| {
        let mut e = env.clone();
        e.extend_from_slice(extra);
        e
    };

    // The first serve migrates the fresh database; everything else starts after it is ready.
    let mut serve_a =
        Proc::spawn("serve-a", &["serve"], &with(&[("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{}", serve_ports[0]))]), &dir);
    wait_ready(&format!("http://127.0.0.1:{}/readyz", serve_ports[0]), "serve-a", &mut [&mut serve_a]).await;
    let mut serve_b =
        Proc::spawn("serve-b", &["serve"], &with(&[("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{}", serve_ports[1]))]), &dir);
    let mut ws = Proc::spawn("ws", &["ws"], &with(&[("DOCMERGE__WS__BIND", format!("127.0.0.1:{ws_port}"))]), &dir);
    let mut worker_a = Proc::spawn("worker-a", &["worker"], &with(&[("DOCMERGE_WORKER_ID", "worker-a".into())]), &dir);
    let mut worker_b = Proc::spawn("worker-b", &["worker"], &with(&[("DOCMERGE_WORKER_ID", "worker-b".into())]), &dir);
    wait_ready(&format!("http://127.0.0.1:{}/readyz", serve_ports[1]), "serve-b", &mut [&mut serve_b]).await;

    let _nginx = start_nginx(&dir.join("nginx"), &shipped_nginx_site(nginx_port, &serve_ports, &[ws_port]));
    let base = format!("http://127.0.0.1:{nginx_port}");
    wait_ready(&format!("{base}/readyz"), "nginx", &mut [&mut ws, &mut worker_a, &mut worker_b]).await;

    // Through nginx: log in; the config says the websocket is /ws on this origin (serve
    // believes nginx's X-Forwarded-* because 127.0.0.1 is in trusted_proxies).
    let api = Api::login(&base, "admin", ADMIN_PASSWORD).await;
    let (status, cfg) = api.get("/api/v1/config").await;
    assert_eq!(status, 200, "{cfg}");
    assert_eq!(cfg["ws_url"], "/ws", "{cfg}");
    // From an address that is not a trusted proxy (127.0.0.2, still loopback), forged
    // forwarded headers are not believed: the answer is the ws role's own address.
    let untrusted = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let direct: Value = untrusted
        .get(format!("http://127.0.0.1:{}/api/v1/config", serve_ports[0]))
        .bearer_auth(&api.token)
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-For", "10.9.9.9")
        .send()
        .await
        .expect("config from 127.0.0.2")
        .json()
        .await
        .unwrap();
    assert_eq!(direct["ws_url"], "ws://127.0.0.1:8001/ws", "forwarded headers from an untrusted peer were believed: {direct}");

    // The websocket through nginx, authenticated with the bearer subprotocol.
    let mut request = format!("ws://127.0.0.1:{nginx_port}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", format!("{}{}", docmerge::ws::PROTOCOL_PREFIX, api.token).parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("websocket through nginx");
    assert_eq!(response.status(), 101);
    let (_sink, mut stream) = socket.split();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let collector = {
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(t) = msg
                    && let Ok(v) = serde_json::from_str::<Value>(&t)
                {
                    events.lock().unwrap().push(v);
                }
            }
        })
    };

    // 50 uploads through nginx, distinct titles, the corpus cycled.
    let files = corpus_files();
    let mut ids = Vec::new();
    for i in 0..DOCUMENTS {
        let path = &files[i % files.len()];
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let title = format!("topology {i:02} {name}");
        let (status, body) = api.upload(&name, std::fs::read(path).unwrap(), &[("title", &title)]).await;
        assert_eq!(status, 202, "upload {name} through nginx: {body}");
        ids.push(body["id"].as_i64().or_else(|| body["document"]["id"].as_i64()).unwrap_or_else(|| panic!("no id in {body}")));
    }
    let db_url = tdb.url.clone();

    // Mid-run: once jobs are running on worker-a, SIGKILL it.
    let started = Instant::now();
    loop {
        let running = psql(&db_url, "SELECT count(*) FROM jobs WHERE state = 'running' AND locked_by = 'worker-a'");
        if running.first().is_some_and(|n| n != "0") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "worker-a never ran a job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_before_kill = psql(&db_url, "SELECT count(*) FROM documents WHERE state = 'ready'");
    worker_a.signal("KILL");
    assert!(worker_a.wait_exit(Duration::from_secs(10)).is_some(), "worker-a did not die on SIGKILL");

    // Then restart PostgreSQL while work is still left.
    let remaining = psql(&db_url, "SELECT count(*) FROM jobs WHERE state <> 'done'");
    restart_postgres();
    let ready_at_restart = psql_soft(&db_url, "SELECT count(*) FROM documents WHERE state = 'ready'");
    eprintln!(
        "topology: ready before kill {ready_before_kill:?}, jobs left at restart {remaining:?}, ready just after restart {ready_at_restart:?}"
    );

    // Everything finishes without anyone touching the processes again.
    let started = Instant::now();
    loop {
        let states = psql_soft(&db_url, "SELECT state, count(*) FROM documents GROUP BY state ORDER BY state");
        if let Some(states) = &states
            && states.len() == 1
            && states[0] == format!("ready|{DOCUMENTS}")
        {
            break;
        }
        for p in [&mut serve_a, &mut serve_b, &mut ws, &mut worker_b] {
            if let Ok(Some(status)) = p.child.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("{}.log", p.name))).unwrap_or_default();
                panic!("{} exited with {status} after the PostgreSQL restart:\n{log}", p.name);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(1500),
            "not all {DOCUMENTS} documents ready 25 minutes after the restart: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every role is still alive and serving after the restart, through nginx.
    for p in [&mut serve_a, &mut serve_b, &mut ws, &mut worker_b] {
        assert!(p.child.try_wait().unwrap().is_none(), "{} died", p.name);
    }
    for port in serve_ports {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.unwrap();
        assert!(r.status().is_success(), "serve on {port} not ready after the restart");
    }
    let (status, listed) = api.get("/api/v1/documents?page_size=100").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], DOCUMENTS, "{listed}");
    for id in &ids {
        let (status, d) = api.get(&format!("/api/v1/documents/{id}")).await;
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["state"], "ready", "{d}");
        assert!(d["page_count"].as_i64().unwrap_or(0) >= 1, "{d}");
    }

    // Exactly once: per document one process_version and one finish_version job, one
    // process_page job per page, all done; every page stored once; one document.ready event.
    // (The corpus is cycled: a copy uploaded after its original was processed takes over the
    // result, #21, and has no jobs at all — only a duplicate may.)
    let per_doc = psql(
        &db_url,
        "SELECT d.id, v.page_count, \
           (SELECT count(*) FROM jobs j WHERE j.document_id = d.id AND j.kind = 'process_version'), \
           (SELECT count(*) FROM jobs j WHERE j.document_id = d.id AND j.kind = 'process_page'), \
           (SELECT count(*) FROM jobs j WHERE j.document_id = d.id AND j.kind = 'finish_version'), \
           (SELECT count(*) FROM jobs j WHERE j.document_id = d.id AND j.state <> 'done'), \
           (SELECT count(*) FROM pages p WHERE p.version_id = v.id), \
           (SELECT count(DISTINCT p.number) FROM pages p WHERE p.version_id = v.id), \
           (SELECT count(*) FROM events e WHERE e.document_id = d.id AND e.kind = 'document.ready'), \
           (CASE WHEN d.duplicate_of IS NULL THEN 0 ELSE 1 END) \
         FROM documents d JOIN versions v ON v.document_id = d.id ORDER BY d.id",
    );
    assert_eq!(per_doc.len(), DOCUMENTS, "one version per document: {per_doc:?}");
    for row in &per_doc {
        let f: Vec<i64> = row.split('|').map(|x| x.parse().unwrap()).collect();
        let (doc, pages) = (f[0], f[1]);
        let took_over = f[2] == 0 && f[9] == 1;
        assert_eq!(f[2], if took_over { 0 } else { 1 }, "document {doc}: process_version jobs ({row})");
        assert_eq!(f[3], if took_over { 0 } else { pages }, "document {doc}: one process_page job per page ({row})");
        assert_eq!(f[4], if took_over { 0 } else { 1 }, "document {doc}: finish_version jobs ({row})");
        assert_eq!(f[5], 0, "document {doc}: jobs not done ({row})");
        assert_eq!((f[6], f[7]), (pages, pages), "document {doc}: each page stored once ({row})");
        assert_eq!(f[8], 1, "document {doc}: document.ready events ({row})");
    }
    let taken_over = psql(&db_url, "SELECT count(*) FROM jobs WHERE attempts > 1");
    eprintln!("topology: jobs that needed more than one attempt: {taken_over:?}");

    // The websocket (through nginx, across the PostgreSQL restart) delivered the story.
    let started = Instant::now();
    loop {
        let got: HashMap<String, usize> = {
            let ev = events.lock().unwrap();
            let mut m = HashMap::new();
            for e in ev.iter() {
                *m.entry(e["type"].as_str().unwrap_or("").to_string()).or_insert(0) += 1;
            }
            m
        };
        let ready_docs: std::collections::HashSet<i64> =
            events.lock().unwrap().iter().filter(|e| e["type"] == "document.ready").filter_map(|e| e["document_id"].as_i64()).collect();
        if got.get("document.created").copied().unwrap_or(0) >= DOCUMENTS
            && got.contains_key("job.progress")
            && ready_docs.len() == DOCUMENTS
        {
            assert_eq!(got["document.ready"], DOCUMENTS, "each document.ready once over the websocket: {got:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "websocket events through nginx incomplete: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    collector.abort();
}
