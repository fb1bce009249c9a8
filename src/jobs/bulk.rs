//! The `bulk_edit` job (#22): one change over many documents, chunk by chunk. Each chunk
//! commits with the job's progress under its lease, so a retried job goes on after the last
//! committed chunk and no document is changed twice.

use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::domain::bulk::{BulkChunk, CHUNK};
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease};
use crate::domain::store::Store;

struct BulkEditJob {
    store: Arc<dyn Store>,
    max_attempts: i32,
}

#[async_trait]
impl JobHandler for BulkEditJob {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::BulkEdit(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::BULK_EDIT));
        };
        let total = args.documents.len();
        // Where an earlier attempt got to (its chunks are committed with this number).
        let mut done = (self.store.job(job.id).await?.progress_done.unwrap_or(0).max(0) as usize).min(total);
        while done < total {
            let end = (done + CHUNK).min(total);
            let chunk = BulkChunk {
                owner_id: args.owner_id,
                documents: args.documents[done..end].to_vec(),
                edit: args.edit.clone(),
                done_after: end as i64,
                total: total as i64,
                max_attempts: self.max_attempts,
            };
            let out = self.store.bulk_edit_chunk(lease, &chunk).await?;
            if !out.committed {
                // Another worker holds the job now (our lease expired): it goes on from here.
                return Ok(Outcome::CompletedInTransaction(false));
            }
            done = end;
        }
        Ok(Outcome::Done)
    }
}

pub fn register_bulk(registry: &mut Registry, ctx: &AppContext) {
    registry.register(kinds::BULK_EDIT, Arc::new(BulkEditJob { store: ctx.store.clone(), max_attempts: ctx.settings.worker.max_attempts }));
}
