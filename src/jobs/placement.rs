//! The `place_documents` job (#23): the owner's documents waiting to be placed by their path
//! templates, a chunk per transaction. The list lives in the store (a row per document, written
//! with the change that made it due, deleted with the placement), so a job that is retried or
//! taken over by another worker goes on with what is left, and a document changed again while
//! it ran waits for the next job.

use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease};
use crate::domain::path_templates::CHUNK;
use crate::domain::store::Store;

struct PlaceJob {
    store: Arc<dyn Store>,
}

#[async_trait]
impl JobHandler for PlaceJob {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::PlaceDocuments(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::PLACE_DOCUMENTS));
        };
        let (mut seen, mut moved) = (0usize, 0usize);
        loop {
            let Some(batch) = self.store.place_due(args.owner_id, CHUNK, lease).await? else {
                // Another worker holds the job now (our lease expired): it goes on from here.
                return Ok(Outcome::CompletedInTransaction(false));
            };
            seen += batch.seen;
            moved += batch.moved;
            if !batch.more || batch.seen == 0 {
                break;
            }
        }
        tracing::info!(owner = args.owner_id, seen, moved, "placed documents by their path templates");
        Ok(Outcome::Done)
    }
}

pub fn register_placement(registry: &mut Registry, ctx: &AppContext) {
    registry.register(kinds::PLACE_DOCUMENTS, Arc::new(PlaceJob { store: ctx.store.clone() }));
}
