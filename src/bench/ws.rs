//! `docmerge bench ws`: live-event fan-out. One `docmerge ws` child process, many websocket
//! clients in this process spread over a few users; events are committed through the store
//! (`create_tag`, which emits `tag.created` in its transaction) and timed from the moment the
//! commit returns to the moment each client of that user reads the event.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{Role, databases_or_sqlite, free_port, fresh_store, percentile, runtime_err, user_with_token, wait_until_up};
use crate::app::AppError;
use crate::cli::WsArgs;
use crate::domain::Id;

/// Connections opened at the same time while ramping up (the accept backlog is finite).
const CONNECT_CONCURRENCY: usize = 64;

/// The soft open-files limit of this process (from /proc/self/limits).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Opens one client and forwards (tag id, arrival) of every `tag.created` event it reads.
async fn client(
    url: String,
    token: String,
    ready: Arc<AtomicUsize>,
    arrivals: mpsc::UnboundedSender<(Id, Instant)>,
    gate: Arc<Semaphore>,
) -> Result<(), String> {
    let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| format!("connect: {e}"))?;
    // The server greets every session with {"type":"hello"}.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"hello\"") => break,
            Some(Ok(_)) => {}
            other => return Err(format!("no hello: {other:?}")),
        }
    }
    drop(permit);
    ready.fetch_add(1, Ordering::Relaxed);
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
                    && v["type"] == "tag.created"
                    && let Some(tag) = v["data"]["tag_id"].as_i64()
                {
                    let _ = arrivals.send((tag, at));
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}

struct Row {
    backend: String,
    wake: &'static str,
    clients: usize,
    events: usize,
    delivered: usize,
    expected: usize,
    p50: f64,
    p99: f64,
    max: f64,
    rss0_kib: u64,
    rss1_kib: u64,
}

pub async fn run(args: WsArgs) -> Result<(), AppError> {
    if let Some(limit) = open_files_limit()
        && limit < args.clients as u64 + 256
    {
        return Err(AppError::Config(format!(
            "{} clients need more open files than the limit of {limit}: raise it first (ulimit -n {})",
            args.clients,
            args.clients + 1024
        )));
    }
    println!(
        "live events: one `docmerge ws` child process, {} websocket clients (in this process) over {} users; {} `tag.created` events \
         committed at {}/s, latency = commit returned → event read by each client of that user",
        args.clients, args.users, args.events, args.rate
    );
    let mut rows = Vec::new();
    for db in databases_or_sqlite(args.database.clone()) {
        let scratch = fresh_store(&db, "ws").await?;
        let store = scratch.store.clone();
        let backend = store.backend().to_string();
        let mut users = Vec::new();
        for u in 0..args.users.max(1) {
            users.push(user_with_token(store.as_ref(), &format!("bench{u}")).await?);
        }
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = scratch.dir.path().join("ws.log");
        let env = [
            ("DOCMERGE__DATABASE__URL", scratch.url.clone()),
            ("DOCMERGE__STORAGE__ROOT", scratch.dir.path().join("data").display().to_string()),
            ("DOCMERGE__WS__BIND", addr.clone()),
        ];
        let mut ws = Role::spawn("ws", &env, log.clone())?;
        wait_until_up(&mut ws, &addr, "/ws", &log).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss0 = ws.rss_kib()?;

        let ready = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut per_user = vec![0usize; users.len()];
        let mut tasks = Vec::with_capacity(args.clients);
        for i in 0..args.clients {
            let u = i % users.len();
            per_user[u] += 1;
            let fut = client(format!("ws://{addr}/ws"), users[u].1.clone(), ready.clone(), tx.clone(), gate.clone());
            tasks.push(tokio::spawn(fut));
        }
        drop(tx);
        wait_connected(&ready, args.clients, &mut tasks).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss1 = ws.rss_kib()?;

        // Commit the events, paced, remembering when each commit returned.
        let mut committed: HashMap<Id, (Instant, usize)> = HashMap::new();
        let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
        let mut next = Instant::now();
        let mut arrivals: Vec<(Id, Instant)> = Vec::new();
        for k in 0..args.events {
            let u = k % users.len();
            let tag = store.create_tag(users[u].0, &format!("bench tag {k}"), "#6b7280").await?;
            committed.insert(tag.id, (Instant::now(), u));
            while let Ok(a) = rx.try_recv() {
                arrivals.push(a);
            }
            next += interval;
            tokio::time::sleep_until(next.into()).await;
        }
        let expected: usize = (0..args.events).map(|k| per_user[k % users.len()]).sum();
        let deadline = Instant::now() + Duration::from_secs(15);
        while arrivals.len() < expected && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(Some(a)) => arrivals.push(a),
                Ok(None) => break,
                Err(_) => {}
            }
        }
        let mut lat: Vec<f64> = arrivals
            .iter()
            .filter_map(|(tag, at)| committed.get(tag).map(|(c, _)| at.saturating_duration_since(*c).as_secs_f64() * 1000.0))
            .collect();
        lat.sort_by(f64::total_cmp);
        rows.push(Row {
            wake: if backend == "postgres" { "LISTEN/NOTIFY" } else { "poll 50 ms" },
            backend: backend.clone(),
            clients: args.clients,
            events: args.events,
            delivered: lat.len(),
            expected,
            p50: percentile(&lat, 50.0),
            p99: percentile(&lat, 99.0),
            max: lat.last().copied().unwrap_or(f64::NAN),
            rss0_kib: rss0,
            rss1_kib: rss1,
        });
        for t in tasks {
            t.abort();
        }
        drop(ws);
        drop(store);
        scratch.remove().await;
    }
    print_table(&rows);
    if let Some(r) = rows.iter().find(|r| r.delivered < r.expected) {
        return Err(AppError::Runtime(format!("{}: only {} of {} deliveries arrived", r.backend, r.delivered, r.expected)));
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<10} {:<14} {:>7} {:>7} {:>17} {:>8} {:>8} {:>8} {:>10} {:>10} {:>9}",
        "backend", "wake-up", "clients", "events", "delivered", "p50 ms", "p99 ms", "max ms", "RSS 0 MB", "RSS N MB", "KB/conn"
    );
    for r in rows {
        let per_conn_kb = (r.rss1_kib.saturating_sub(r.rss0_kib)) as f64 / r.clients.max(1) as f64;
        println!(
            "{:<10} {:<14} {:>7} {:>7} {:>17} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10.1} {:>9.1}",
            r.backend,
            r.wake,
            r.clients,
            r.events,
            format!("{}/{}", r.delivered, r.expected),
            r.p50,
            r.p99,
            r.max,
            r.rss0_kib as f64 / 1024.0,
            r.rss1_kib as f64 / 1024.0,
            per_conn_kb
        );
    }
}

/// Waits until every client is connected (60 s at most); a client that ended is an error.
async fn wait_connected(
    ready: &AtomicUsize,
    clients: usize,
    tasks: &mut Vec<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<(), AppError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < clients {
        if let Some(pos) = tasks.iter().position(|t| t.is_finished()) {
            let why = tasks.swap_remove(pos).await.map_err(runtime_err)?.err().unwrap_or_else(|| "the server closed it".into());
            return Err(AppError::Runtime(format!("a websocket client failed: {why}")));
        }
        if Instant::now() > deadline {
            return Err(AppError::Runtime(format!("only {} of {} clients connected in 60 s", ready.load(Ordering::Relaxed), clients)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
