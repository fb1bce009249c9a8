//! Housekeeping through the job table: pruning old events and finished jobs, and sweeping
//! stored files nothing refers to (after a purge, and every few hours for orphans). Every
//! worker offers the periodic jobs every few minutes; their unique keys make one of them win.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob, NoArgs, SweepArgs};
use crate::domain::now_millis;
use crate::domain::store::Store;
use crate::storage::BlobStore;

struct Prune {
    store: Arc<dyn Store>,
    retention_ms: i64,
    /// Workflow runs older than this are pruned too (0: kept).
    keep_runs_ms: i64,
}

#[async_trait]
impl JobHandler for Prune {
    async fn run(&self, _job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let n = self.store.prune_events(now_millis() - self.retention_ms).await?;
        if n > 0 {
            tracing::info!(rows = n, "pruned old events and finished jobs");
        }
        if self.keep_runs_ms > 0 {
            let n = self.store.prune_runs(now_millis() - self.keep_runs_ms).await?;
            if n > 0 {
                tracing::info!(rows = n, "pruned old workflow runs");
            }
        }
        Ok(Outcome::Done)
    }
}

/// Deletes stored files nothing refers to (see `BlobStore::sweep` for why that is safe against
/// an identical upload landing meanwhile). Files not yet unused for the grace period are looked
/// at again by a follow-up job once they are.
struct SweepBlobs {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    grace: Duration,
}

#[async_trait]
impl JobHandler for SweepBlobs {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::SweepBlobs(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::SWEEP_BLOBS));
        };
        let (blobs, grace) = (self.blobs.clone(), self.grace);
        let candidates = match args.candidates.clone() {
            Some(c) => c,
            None => tokio::task::spawn_blocking(move || blobs.untouched_for(grace)).await.map_err(|e| JobError::Retry(e.to_string()))?,
        };
        // Freed by a purge but used too recently: looked at again when the grace has passed.
        let (ready, young): (Vec<String>, Vec<String>) =
            candidates.into_iter().partition(|sha| self.blobs.unused_for(sha).is_none_or(|unused| unused >= self.grace));
        let store = self.store.clone();
        let report = self.blobs.sweep(ready, self.grace, |shas| store.referenced_blobs(shas)).await?;
        if !young.is_empty() {
            let later = NewJob::sweep_freed(young).run_after(now_millis() + self.grace.as_millis() as i64 + 1000);
            self.store.enqueue(vec![later]).await?;
        }
        if report.deleted > 0 || report.kept > 0 {
            tracing::info!(deleted = report.deleted, kept = report.kept, "swept stored files nothing refers to");
        }
        Ok(Outcome::Done)
    }
}

pub fn register_maintenance(registry: &mut Registry, ctx: &AppContext) {
    let retention_ms = (ctx.settings.ws.retention_hours as i64) * 3_600_000;
    registry.register(
        kinds::PRUNE,
        Arc::new(Prune { store: ctx.store.clone(), retention_ms, keep_runs_ms: ctx.settings.workflows.keep_runs_days as i64 * 86_400_000 }),
    );
    let grace = Duration::from_secs(ctx.settings.storage.sweep_grace_secs);
    registry.register(kinds::SWEEP_BLOBS, Arc::new(SweepBlobs { store: ctx.store.clone(), blobs: ctx.blobs.clone(), grace }));
}

/// How often every stored file is checked for a row referring to it (files left by an upload
/// that stopped between storing its file and committing its row, and anything a crash left).
const ORPHAN_SWEEP_EVERY_MS: i64 = 6 * 3_600_000;

pub fn spawn_maintenance_scheduler(ctx: AppContext, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let job = NewJob::new(JobSpec::Prune(NoArgs {})).unique("prune").priority(-10).max_attempts(3);
            // One full sweep queued at a time (the unique key), due every few hours.
            let sweep = NewJob::new(JobSpec::SweepBlobs(SweepArgs { candidates: None }))
                .unique("sweep_blobs:all")
                .priority(-10)
                .max_attempts(3)
                .timeout_secs(3600)
                .run_after(now_millis() + ORPHAN_SWEEP_EVERY_MS);
            let mut jobs = vec![job, sweep];
            let every = ctx.settings.classifier.train_every_minutes;
            if every > 0 {
                // The auto classifier (#23): owners whose documents changed get a new model.
                jobs.push(
                    NewJob::new(JobSpec::TrainClassifiers(NoArgs {}))
                        .unique("train_classifiers")
                        .priority(-10)
                        .max_attempts(3)
                        .run_after(now_millis() + every as i64 * 60_000),
                );
            }
            if ctx.settings.workflows.scan_every_minutes > 0 {
                // Scheduled workflows (#23): documents whose day has come.
                jobs.push(super::workflows::scan_job(now_millis() + ctx.settings.workflows.scan_every_minutes as i64 * 60_000));
            }
            if let Err(e) = ctx.store.enqueue(jobs).await {
                tracing::debug!(error = %e, "could not schedule pruning");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
        }
    })
}
