//! Housekeeping through the job table: pruning old events and finished jobs. Every worker
//! offers the job every few minutes; the unique key makes one of them win.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob, NoArgs};
use crate::domain::now_millis;
use crate::domain::store::Store;

struct Prune {
    store: Arc<dyn Store>,
    retention_ms: i64,
}

#[async_trait]
impl JobHandler for Prune {
    async fn run(&self, _job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let n = self.store.prune_events(now_millis() - self.retention_ms).await?;
        if n > 0 {
            tracing::info!(rows = n, "pruned old events and finished jobs");
        }
        Ok(Outcome::Done)
    }
}

pub fn register_maintenance(registry: &mut Registry, ctx: &AppContext) {
    let retention_ms = (ctx.settings.ws.retention_hours as i64) * 3_600_000;
    registry.register(kinds::PRUNE, Arc::new(Prune { store: ctx.store.clone(), retention_ms }));
}

pub fn spawn_maintenance_scheduler(ctx: AppContext, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let job = NewJob::new(JobSpec::Prune(NoArgs {})).unique("prune").priority(-10).max_attempts(3);
            if let Err(e) = ctx.store.enqueue(vec![job]).await {
                tracing::debug!(error = %e, "could not schedule pruning");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
        }
    })
}
