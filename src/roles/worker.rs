//! `docmerge worker`: claims jobs from the job table until SIGTERM.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};
use crate::jobs::{Registry, RunnerOptions, run_worker};

/// `host:pid:random`, unless DOCMERGE_WORKER_ID names the worker (tests, or operators who want
/// stable names in logs).
pub fn worker_id() -> String {
    if let Ok(id) = std::env::var("DOCMERGE_WORKER_ID")
        && !id.is_empty()
    {
        return id;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{}", std::process::id(), hex::encode(rand::random::<[u8; 3]>()))
}

pub fn registry(ctx: &AppContext) -> Registry {
    let mut registry = Registry::default();
    #[cfg(feature = "test-jobs")]
    crate::jobs::register_test_jobs(&mut registry);
    crate::jobs::register_maintenance(&mut registry, ctx);
    crate::jobs::register_bulk(&mut registry, ctx);
    crate::jobs::register_matching(&mut registry, ctx);
    crate::jobs::register_placement(&mut registry, ctx);
    crate::jobs::register_workflows(&mut registry, ctx);
    crate::jobs::register_llm(&mut registry, ctx);
    crate::jobs::register_classifier(&mut registry, ctx);
    crate::pipeline::register_jobs(&mut registry, ctx);
    crate::archive::register_jobs(&mut registry, ctx);
    crate::pageops::register_jobs(&mut registry, ctx);
    registry
}

pub fn options(ctx: &AppContext) -> RunnerOptions {
    let w = &ctx.settings.worker;
    RunnerOptions {
        worker_id: worker_id(),
        concurrency: w.concurrency,
        lease: Duration::from_secs(w.lease_secs),
        poll: Duration::from_millis(w.poll_ms),
        shutdown_grace: Duration::from_secs(w.shutdown_grace_secs),
        metrics: ctx.metrics.clone(),
    }
}

pub async fn run(ctx: AppContext, shutdown: CancellationToken) -> Result<(), AppError> {
    let health = crate::roles::health::serve(&ctx, "worker.health_bind", &ctx.settings.worker.health_bind, shutdown.clone())?;
    prepare_runtime(&ctx).await;
    crate::roles::notify_ready();
    run_embedded(ctx, shutdown).await;
    crate::roles::notify_stopping();
    if let Some(h) = health {
        let _ = h.await;
    }
    Ok(())
}

/// The worker loop without process-level concerns (used by `worker` and `all`).
pub async fn run_embedded(ctx: AppContext, shutdown: CancellationToken) {
    let registry = registry(&ctx);
    let maintenance = crate::jobs::spawn_maintenance_scheduler(ctx.clone(), shutdown.clone());
    let backups = crate::archive::backup::spawn_backup_scheduler(ctx.clone(), shutdown.clone());
    run_worker(ctx.store.clone(), registry, options(&ctx), shutdown).await;
    let _ = maintenance.await;
    if let Some(b) = backups {
        let _ = b.await;
    }
}

/// Unpacks embedded runtime files (if this binary has them) before reporting ready.
pub async fn prepare_runtime(ctx: &AppContext) {
    let settings = ctx.settings.clone();
    let _ = tokio::task::spawn_blocking(move || crate::pipeline::prepare_runtime(&settings)).await;
}
