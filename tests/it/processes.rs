//! The real binary as separate processes: exactly-once under contention, crash recovery with
//! SIGKILL, graceful shutdown, and the CLI's exit codes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use docmerge::domain::jobs::{JobSpec, JobState, Lease, NewJob, TestAppendArgs};
use docmerge::jobs::kinds;

use crate::harness::{Db, Proc, TestDb, child_env, db_tests, free_port};

async fn migrated_store(db: &TestDb) -> std::sync::Arc<dyn docmerge::domain::store::Store> {
    let store = docmerge::db::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn count_lines(path: &std::path::Path) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *seen.entry(line.trim().parse::<i64>().expect("a job id per line")).or_insert(0) += 1;
    }
    seen
}

/// 4 separate `docmerge worker` processes drain 2,000 jobs; each runs exactly once.
async fn exactly_once_four_processes(db: Db) {
    let tdb = TestDb::new(db);
    let store = migrated_store(&tdb).await;
    let record = tdb.dir.path().join("executions.txt");
    let jobs: Vec<NewJob> = (0..2000)
        .map(|_| NewJob::new(JobSpec::TestAppend(TestAppendArgs { path: record.display().to_string(), ..Default::default() })))
        .collect();
    let ids: Vec<i64> = store.enqueue(jobs).await.unwrap().into_iter().map(|i| i.unwrap()).collect();

    let mut env = child_env(&tdb);
    env.push(("DOCMERGE_ENABLE_TEST_JOBS", "1".into()));
    env.push(("DOCMERGE__WORKER__CONCURRENCY", "4".into()));
    let mut workers: Vec<Proc> = (0..4).map(|n| Proc::spawn(&format!("worker{n}"), &["worker"], &env, tdb.dir.path())).collect();

    let started = Instant::now();
    loop {
        let counts = store.job_counts().await.unwrap();
        let done: i64 = counts.iter().filter(|(k, s, _)| k == kinds::TEST_APPEND && s == "done").map(|c| c.2).sum();
        if done == 2000 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "only {done} of 2000 jobs done after 2 minutes: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for w in &workers {
        w.signal("TERM");
    }
    for w in &mut workers {
        let status = w.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("{} did not stop on SIGTERM", w.name));
        assert!(status.success(), "{} exited with {status}", w.name);
    }
    let seen = count_lines(&record);
    assert_eq!(seen.len(), 2000, "every job ran");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs executed more than once: {twice:?}");
    for id in ids.iter().step_by(97) {
        assert_eq!(store.job(*id).await.unwrap().state, JobState::Done);
    }
    // More than one process did work (the contention was real).
    let logs: Vec<String> = (0..4).map(|n| std::fs::read_to_string(tdb.dir.path().join(format!("worker{n}.log"))).unwrap()).collect();
    assert!(logs.iter().all(|l| l.contains("worker started")), "{logs:?}");
}
db_tests!(exactly_once_four_processes);

/// A worker holding a job is killed with SIGKILL; another completes it after the lease expires,
/// and the dead worker's late completion is rejected by the fence.
async fn crash_recovery_sigkill(db: Db) {
    let tdb = TestDb::new(db);
    let store = migrated_store(&tdb).await;
    let record = tdb.dir.path().join("executions.txt");
    let job = NewJob::new(JobSpec::TestAppend(TestAppendArgs {
        path: record.display().to_string(),
        sleep_ms: Some(600_000),
        sleep_only_first: true,
        fail_times: 0,
    }));
    let id = store.enqueue(vec![job]).await.unwrap()[0].unwrap();

    let mut env = child_env(&tdb);
    env.push(("DOCMERGE_ENABLE_TEST_JOBS", "1".into()));
    env.push(("DOCMERGE__WORKER__LEASE_SECS", "5".into()));
    let mut a_env = env.clone();
    a_env.push(("DOCMERGE_WORKER_ID", "worker-a".into()));
    let a = Proc::spawn("worker-a", &["worker"], &a_env, tdb.dir.path());
    let started = Instant::now();
    while store.job(id).await.unwrap().state != JobState::Running {
        assert!(started.elapsed() < Duration::from_secs(30), "worker A never claimed the job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.signal("KILL");
    drop(a);

    let mut b_env = env.clone();
    b_env.push(("DOCMERGE_WORKER_ID", "worker-b".into()));
    let b = Proc::spawn("worker-b", &["worker"], &b_env, tdb.dir.path());
    let started = Instant::now();
    loop {
        let j = store.job(id).await.unwrap();
        if j.state == JobState::Done {
            assert_eq!(j.attempts, 2, "the second attempt completed it");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "job not taken over after the lease expired: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "the takeover waited for the lease to expire");
    assert_eq!(count_lines(&record).get(&id), Some(&1), "ran to completion exactly once");

    // Worker A's lease (seq 1) comes back late: every write is refused.
    let stale = Lease { job_id: id, worker_id: "worker-a".into(), seq: 1 };
    assert_eq!(store.complete(std::slice::from_ref(&stale)).await.unwrap(), vec![false]);
    assert_eq!(store.heartbeat(std::slice::from_ref(&stale), 60_000).await.unwrap(), vec![false]);
    assert!(store.fail(&stale, "late", false).await.unwrap().is_none());
    assert_eq!(store.job(id).await.unwrap().state, JobState::Done);
    drop(b);
}
db_tests!(crash_recovery_sigkill);

/// SIGTERM during a long job: the worker stops claiming, waits for the grace period, then gives
/// the job back to the queue without using up an attempt, and exits 0.
async fn graceful_shutdown_releases(db: Db) {
    let tdb = TestDb::new(db);
    let store = migrated_store(&tdb).await;
    let record = tdb.dir.path().join("executions.txt");
    let id = store
        .enqueue(vec![NewJob::new(JobSpec::TestAppend(TestAppendArgs {
            path: record.display().to_string(),
            sleep_ms: Some(600_000),
            ..Default::default()
        }))])
        .await
        .unwrap()[0]
        .unwrap();
    let mut env = child_env(&tdb);
    env.push(("DOCMERGE_ENABLE_TEST_JOBS", "1".into()));
    env.push(("DOCMERGE__WORKER__SHUTDOWN_GRACE_SECS", "1".into()));
    let mut w = Proc::spawn("worker", &["worker"], &env, tdb.dir.path());
    let started = Instant::now();
    while store.job(id).await.unwrap().state != JobState::Running {
        assert!(started.elapsed() < Duration::from_secs(30), "never claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.signal("TERM");
    let status = w.wait_exit(Duration::from_secs(15)).expect("worker stops within the grace period");
    assert!(status.success(), "exit status {status}");
    let j = store.job(id).await.unwrap();
    assert_eq!(j.state, JobState::Queued, "released back to the queue: {j:?}");
    assert_eq!(j.attempts, 0, "a release gives the attempt back");
}
db_tests!(graceful_shutdown_releases);

fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_docmerge"));
    cmd.args(args).env_remove("DOCMERGE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run docmerge");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn cli_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let root_s = root.display().to_string();
    // Bad database URL: one clear sentence, exit 2, no panic.
    let (code, out, err) = run_cli(&["check"], &[("DOCMERGE__DATABASE__URL", "mysql://nope"), ("DOCMERGE__STORAGE__ROOT", &root_s)]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("database.url must start with sqlite:// or postgres://"), "{err}");
    assert!(!err.contains("panicked") && err.lines().count() == 1, "{err}");
    // Unreachable PostgreSQL: check says what to do and exits 2.
    let (code, out, err) =
        run_cli(&["check"], &[("DOCMERGE__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none"), ("DOCMERGE__STORAGE__ROOT", &root_s)]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("FAIL cannot connect to the database"), "{out}");
    // Usage errors exit 2; --version and --help exit 0.
    assert_eq!(run_cli(&["frobnicate"], &[]).0, 2);
    let (code, out, _) = run_cli(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("docmerge "), "{out}");
    let (code, out, _) = run_cli(&["--help"], &[]);
    assert_eq!(code, 0);
    for verb in ["serve", "worker", "ws", "all", "migrate", "user", "check", "ocr"] {
        assert!(out.contains(verb), "--help mentions {verb}");
    }
    // A worker refuses an unmigrated database with a sentence (it never migrates).
    let db = format!("sqlite://{}/fresh.db", dir.path().display());
    let (code, _, err) = run_cli(&["worker"], &[("DOCMERGE__DATABASE__URL", &db), ("DOCMERGE__STORAGE__ROOT", &root_s)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("run `docmerge migrate` first"), "{err}");
    // migrate, then user add/list/passwd/disable.
    let env = [("DOCMERGE__DATABASE__URL", db.as_str()), ("DOCMERGE__STORAGE__ROOT", root_s.as_str())];
    assert_eq!(run_cli(&["migrate"], &env).0, 0);
    let (code, out, err) = run_cli(&["user", "add", "carol", "--password", "carol-password", "--admin"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created user carol"));
    let (code, _, err) = run_cli(&["user", "add", "carol", "--password", "carol-password"], &env);
    assert_eq!(code, 2, "duplicate user: {err}");
    assert!(err.contains("taken"), "{err}");
    let (code, _, err) = run_cli(&["user", "add", "dave", "--password", "short"], &env);
    assert_eq!(code, 2);
    assert!(err.contains("at least 8 characters"), "{err}");
    let (_, out, _) = run_cli(&["user", "list"], &env);
    assert!(out.contains("carol") && out.contains("true"), "{out}");
    assert_eq!(run_cli(&["user", "passwd", "carol", "--password", "new-password-1"], &env).0, 0);
    assert_eq!(run_cli(&["user", "disable", "carol"], &env).0, 0);
    let (_, out, _) = run_cli(&["user", "list"], &env);
    assert!(out.lines().any(|l| l.contains("carol") && l.trim_end().contains("true")), "{out}");
}

/// `docmerge all` answers health checks, and stops with exit 0 on SIGTERM.
#[test]
fn all_starts_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ws_port = free_port();
    let env = vec![
        ("DOCMERGE__STORAGE__ROOT", dir.path().join("data").display().to_string()),
        ("DOCMERGE__SERVER__BIND", format!("127.0.0.1:{port}")),
        ("DOCMERGE__WS__BIND", format!("127.0.0.1:{ws_port}")),
    ];
    let mut p = Proc::spawn("all", &["all"], &env, dir.path());
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/readyz"))
            && r.status().is_success()
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "all did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.path().join("all.log")).unwrap();
    assert!(log.contains("Created the administrator \"admin\" with the password"), "{log}");
    assert!(log.contains(&format!("open http://127.0.0.1:{port}")), "{log}");
    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(20)).expect("all stops on SIGTERM");
    assert!(status.success(), "{status}");
}

/// A `worker` and a `ws` process each serve /healthz, /readyz and /metrics on their own
/// `health_bind`; the worker's metrics count its jobs by kind and outcome.
async fn worker_and_ws_serve_health_and_metrics(db: Db) {
    let tdb = TestDb::new(db);
    let store = migrated_store(&tdb).await;
    let record = tdb.dir.path().join("executions.txt");
    let append = |fail_times| JobSpec::TestAppend(TestAppendArgs { path: record.display().to_string(), fail_times, ..Default::default() });
    store.enqueue(vec![NewJob::new(append(0)), NewJob::new(append(0)), NewJob::new(append(5)).max_attempts(1)]).await.unwrap();

    let (worker_port, ws_port) = (free_port(), free_port());
    let mut env = child_env(&tdb);
    env.push(("DOCMERGE_ENABLE_TEST_JOBS", "1".into()));
    env.push(("DOCMERGE__WORKER__HEALTH_BIND", format!("127.0.0.1:{worker_port}")));
    env.push(("DOCMERGE__WS__BIND", format!("127.0.0.1:{}", free_port())));
    env.push(("DOCMERGE__WS__HEALTH_BIND", format!("127.0.0.1:{ws_port}")));
    let mut worker = Proc::spawn("worker", &["worker"], &env, tdb.dir.path());
    let mut ws = Proc::spawn("ws", &["ws"], &env, tdb.dir.path());
    let http = reqwest::Client::new();
    let get = |port: u16, path: &'static str| {
        let http = http.clone();
        async move {
            let r = http.get(format!("http://127.0.0.1:{port}{path}")).send().await.ok()?;
            Some((r.status().as_u16(), r.text().await.unwrap_or_default()))
        }
    };
    let started = Instant::now();
    let metrics = loop {
        if let Some((200, text)) = get(worker_port, "/metrics").await
            && text.contains("docmerge_job_duration_seconds_count{kind=\"test.append\",outcome=\"done\"} 2")
            && text.contains("docmerge_job_duration_seconds_count{kind=\"test.append\",outcome=\"retry\"} 1")
        {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker's metrics never showed its 3 jobs: {:?}",
            get(worker_port, "/metrics").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metrics.contains("docmerge_database_up 1"), "{metrics}");
    for port in [worker_port, ws_port] {
        assert_eq!(get(port, "/healthz").await.map(|r| r.0), Some(200), "healthz on {port}");
        let (status, body) = get(port, "/readyz").await.expect("readyz answers");
        assert_eq!(status, 200, "{body}");
        let (status, body) = get(port, "/api/v1/documents").await.expect("answers");
        assert_eq!(status, 404, "the health port serves no API: {body}");
        assert!(body.contains("\"code\":\"not_found\""), "{body}");
    }
    assert!(get(ws_port, "/metrics").await.is_some_and(|(s, t)| s == 200 && t.contains("docmerge_jobs")));
    for p in [&worker, &ws] {
        p.signal("TERM");
    }
    for p in [&mut worker, &mut ws] {
        let status = p.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("{} did not stop on SIGTERM", p.name));
        assert!(status.success(), "{} exited with {status}", p.name);
    }
}
db_tests!(worker_and_ws_serve_health_and_metrics);
