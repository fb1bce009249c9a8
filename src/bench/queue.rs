//! `docmerge bench queue`: job table throughput, claim + complete.

use std::time::Instant;

use super::fresh_store;
use crate::app::AppError;
use crate::domain::jobs::{Lease, NewJob};

const CLAIM_BATCH: usize = 64;

pub async fn run(databases: Vec<String>, jobs: usize, workers: Vec<usize>) -> Result<(), AppError> {
    let databases = if databases.is_empty() { vec!["sqlite".to_string()] } else { databases };
    println!(
        "job table: claim + complete, {jobs} `noop` jobs per run; workers are in-process tasks sharing one store, claiming in batches of {CLAIM_BATCH}"
    );
    println!("{:<10} {:>8} {:>12} {:>10}", "backend", "workers", "jobs/s", "seconds");
    for db in &databases {
        for &w in &workers {
            let scratch = fresh_store(db, &format!("q{w}")).await?;
            let store = scratch.store.clone();
            let mut batch = Vec::with_capacity(1000);
            for _ in 0..jobs {
                batch.push(NewJob::new(crate::domain::jobs::JobSpec::Noop(crate::domain::jobs::NoArgs {})));
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
            drop(store);
            scratch.remove().await;
        }
    }
    Ok(())
}
