//! `docmerge bench …`: benchmarks that print a table (results go to BENCHMARKS.md).

use std::sync::Arc;
use std::time::Instant;

use crate::app::AppError;
use crate::cli::BenchCommand;
use crate::config::Settings;
use crate::domain::jobs::{Lease, NewJob};
use crate::domain::store::Store;

const CLAIM_BATCH: usize = 64;

pub async fn run(settings: Settings, cmd: BenchCommand) -> Result<(), AppError> {
    match cmd {
        BenchCommand::Queue { database, jobs, workers } => bench_queue(database, jobs, workers).await,
        BenchCommand::Ocr { corpus, engines } => crate::pipeline::bench::bench_ocr(&settings, &corpus, &engines).await,
    }
}

/// A fresh, empty database for one run: a new SQLite file, or a new PostgreSQL database
/// created next to the one named in the URL.
async fn fresh_store(base: &str, tag: &str) -> Result<(Arc<dyn Store>, Option<tempfile::TempDir>), AppError> {
    if base.starts_with("sqlite") || base.is_empty() {
        let dir = tempfile::tempdir().map_err(|e| AppError::Runtime(e.to_string()))?;
        let url = format!("sqlite://{}", dir.path().join(format!("bench-{tag}.db")).display());
        let store = crate::db::connect(&url, 4).await?;
        store.migrate().await?;
        return Ok((store, Some(dir)));
    }
    let name = format!("dm_bench_{}_{}", tag, std::process::id());
    let url = crate::db::create_scratch_database(base, &name).await?;
    let store = crate::db::connect(&url, 16).await?;
    store.migrate().await?;
    Ok((store, None))
}

async fn bench_queue(databases: Vec<String>, jobs: usize, workers: Vec<usize>) -> Result<(), AppError> {
    let databases = if databases.is_empty() { vec!["sqlite".to_string()] } else { databases };
    println!("job table: claim + complete, {jobs} `noop` jobs per run, claims in batches of {CLAIM_BATCH}");
    println!("{:<10} {:>8} {:>12} {:>10}", "backend", "workers", "jobs/s", "seconds");
    for db in &databases {
        for &w in &workers {
            let (store, _dir) = fresh_store(db, &format!("q{w}")).await?;
            let mut batch = Vec::with_capacity(1000);
            for i in 0..jobs {
                batch.push(NewJob::new(crate::jobs::kinds::NOOP, serde_json::json!({"i": i})));
                if batch.len() == 1000 {
                    store.enqueue(std::mem::take(&mut batch)).await?;
                }
            }
            if !batch.is_empty() {
                store.enqueue(batch).await?;
            }
            let started = Instant::now();
            let mut handles = Vec::new();
            for n in 0..w {
                let store = store.clone();
                handles.push(tokio::spawn(async move {
                    let id = format!("bench-{n}");
                    let kinds = vec![crate::jobs::kinds::NOOP.to_string()];
                    let mut done = 0usize;
                    loop {
                        let claimed = store.claim(&id, &kinds, CLAIM_BATCH, 60_000).await?;
                        if claimed.is_empty() {
                            break;
                        }
                        let leases: Vec<Lease> = claimed.iter().map(|j| j.lease(&id)).collect();
                        let ok = store.complete(&leases).await?;
                        done += ok.iter().filter(|b| **b).count();
                    }
                    Ok::<usize, crate::domain::DomainError>(done)
                }));
            }
            let mut total = 0;
            for h in handles {
                total += h.await.map_err(|e| AppError::Runtime(e.to_string()))??;
            }
            let secs = started.elapsed().as_secs_f64();
            if total != jobs {
                return Err(AppError::Runtime(format!("completed {total} of {jobs} jobs: the queue lost or duplicated work")));
            }
            println!("{:<10} {:>8} {:>12.0} {:>10.2}", store.backend(), w, jobs as f64 / secs, secs);
            if store.backend() == "postgres" {
                drop(store);
                let name = format!("dm_bench_q{w}_{}", std::process::id());
                if let Err(e) = crate::db::postgres::drop_database(db, &name).await {
                    eprintln!("could not drop the scratch database {name}: {e}");
                }
            }
        }
    }
    Ok(())
}
