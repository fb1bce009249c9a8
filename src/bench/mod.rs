//! `docmerge bench …`: benchmarks that print a table (results and commands go to BENCHMARKS.md).

mod classify;
mod contention;
mod corpus;
mod library;
mod load;
mod matching;
pub mod pages;
mod placement;
mod queue;
mod ws;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::AppError;
use crate::cli::BenchCommand;
use crate::config::Settings;
use crate::domain::store::{BulkStore, Store};
use crate::domain::{Id, TokenKind};

pub async fn run(settings: Settings, cmd: BenchCommand) -> Result<(), AppError> {
    match cmd {
        BenchCommand::Archive { database, documents, dir } => crate::archive::bench::bench_archive(database, documents, dir).await,
        BenchCommand::Ocr { corpus, engines, dump } => {
            crate::pipeline::bench::bench_ocr(&settings, &corpus, &engines, dump.as_deref()).await
        }
        BenchCommand::Queue { database, jobs, workers } => queue::run(database, jobs, workers).await,
        BenchCommand::Library(args) => library::run(args).await,
        BenchCommand::Contention(args) => contention::run(args).await,
        BenchCommand::Ws(args) => ws::run(args).await,
        BenchCommand::Pages(args) => pages::run(settings, args).await,
        BenchCommand::Matching(args) => matching::run(args).await,
        BenchCommand::Placement(args) => placement::run(args).await,
        BenchCommand::Classify(args) => classify::run(args).await,
    }
}

fn runtime_err(e: impl std::fmt::Display) -> AppError {
    AppError::Runtime(e.to_string())
}

fn databases_or_sqlite(databases: Vec<String>) -> Vec<String> {
    if databases.is_empty() { vec!["sqlite".to_string()] } else { databases }
}

/// A fresh, empty database for one run: a new SQLite file in a temp dir, or a new PostgreSQL
/// database created next to the one named in the URL. `remove` deletes it.
pub(crate) struct Scratch {
    pub store: Arc<dyn BulkStore>,
    pub url: String,
    /// Holds the SQLite file, and is the storage root for child processes.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl Scratch {
    /// Leaves the database (and the folder with the SQLite file) in place; says where.
    pub fn keep(self) {
        let Scratch { url, dir, .. } = self;
        let kept = dir.keep();
        eprintln!("kept the library: database {url}, storage {}", kept.display());
    }

    pub async fn remove(self) {
        let Scratch { store, pg, dir, .. } = self;
        drop(store);
        if let Some((base, name)) = pg
            && let Err(e) = crate::db::postgres::drop_database(&base, &name).await
        {
            eprintln!("could not drop the scratch database {name}: {e}");
        }
        drop(dir);
    }
}

async fn fresh_store(base: &str, tag: &str) -> Result<Scratch, AppError> {
    let dir = tempfile::tempdir().map_err(runtime_err)?;
    if base.starts_with("sqlite") || base.is_empty() {
        let url = format!("sqlite://{}", dir.path().join(format!("bench-{tag}.db")).display());
        let store = crate::db::connect_bulk(&url, 4).await?;
        store.migrate().await?;
        return Ok(Scratch { store, url, dir, pg: None });
    }
    let name = format!("dm_bench_{}_{}", tag, std::process::id());
    let url = crate::db::create_scratch_database(base, &name).await?;
    let store = crate::db::connect_bulk(&url, 16).await?;
    store.migrate().await?;
    Ok(Scratch { store, url, dir, pg: Some((base.to_string(), name)) })
}

/// A user with an API token, made directly through the store. Returns (user id, token).
async fn user_with_token(store: &dyn Store, name: &str) -> Result<(Id, String), AppError> {
    // A cheap hash: nobody logs in with a password during a benchmark.
    let user = store.create_user(name, "bench-no-login", false).await?;
    let token = crate::auth::new_secret("dmt_");
    store.create_token(user.id, "bench", TokenKind::Api, &crate::auth::token_hash(&token), None, None).await?;
    Ok((user.id, token))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn free_port() -> Result<u16, AppError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(runtime_err)?;
    Ok(l.local_addr().map_err(runtime_err)?.port())
}

/// A `docmerge <role>` child process (this very binary), killed on drop.
struct Role {
    child: Child,
}

impl Role {
    fn spawn(role: &str, env: &[(&str, String)], log: PathBuf) -> Result<Role, AppError> {
        let exe = std::env::current_exe().map_err(|e| AppError::Runtime(format!("cannot find the docmerge binary: {e}")))?;
        let log_file = std::fs::File::create(&log).map_err(runtime_err)?;
        let mut cmd = Command::new(exe);
        cmd.arg(role).stdin(Stdio::null()).stdout(log_file.try_clone().map_err(runtime_err)?).stderr(log_file);
        cmd.env("DOCMERGE__LOG__LEVEL", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| AppError::Runtime(format!("cannot start docmerge {role}: {e}")))?;
        Ok(Role { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (VmRSS of /proc/PID/status).
    fn rss_kib(&self) -> Result<u64, AppError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).map_err(runtime_err)?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| AppError::Runtime("no VmRSS in /proc/PID/status".into()))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        // SIGTERM first so it shuts down cleanly; then make sure.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the process serves `addr`: `GET path` gets an answer or a clean close.
async fn wait_until_up(role: &mut Role, addr: &str, path: &str, log: &std::path::Path) -> Result<(), AppError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = role.exited() {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            return Err(AppError::Runtime(format!("the child process exited ({status}) before it was ready:\n{out}")));
        }
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = vec![0u8; 64];
                // An answer, or a close without one (the websocket server refuses a plain GET).
                if s.read(&mut buf).await.is_ok() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(AppError::Runtime(format!("nothing answered on {addr} within 30 s")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
