//! The `match_documents` job (#23): the owner's matching rules over a list of documents,
//! compiled once, applied chunk by chunk. Each chunk commits with the job's progress under its
//! lease (a retried job goes on after the last committed chunk); a plan is re-checked against
//! the document when it is applied, so a chunk that runs twice changes nothing twice.

use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob};
use crate::domain::matching::{CHUNK, Prepared, RuleSet, plan_with};
use crate::domain::store::{ChunkFence, Store};

struct MatchJob {
    store: Arc<dyn Store>,
    models: Arc<crate::classifiers::Models>,
    apply_confidence: f32,
}

#[async_trait]
impl JobHandler for MatchJob {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::MatchDocuments(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::MATCH_DOCUMENTS));
        };
        let rules = Arc::new(RuleSet::new(self.store.match_rules(args.owner_id).await?));
        // `auto` rules: the owner's newest model decides (none trained yet: they match nothing).
        let model = if rules.has_auto() { self.models.newest(self.store.as_ref(), args.owner_id).await?.map(|m| m.1) } else { None };
        let sure = self.apply_confidence;
        let total = args.documents.len();
        let mut done = (self.store.job(job.id).await?.progress_done.unwrap_or(0).max(0) as usize).min(total);
        while done < total {
            let end = (done + CHUNK).min(total);
            let inputs = self.store.match_inputs(args.owner_id, &args.documents[done..end]).await?;
            // Matching is CPU work (a fuzzy rule over a long text): off the async threads.
            let (rules, model) = (rules.clone(), model.clone());
            let plans = tokio::task::spawn_blocking(move || {
                inputs
                    .iter()
                    .map(|(state, text)| {
                        let auto = model.as_ref().map(|m| m.sure_of(text, sure)).unwrap_or_default();
                        plan_with(&rules, &Prepared::new(text), state, &auto)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| JobError::Retry(format!("matching stopped: {e}")))?;
            let fence = ChunkFence { lease: lease.clone(), done_after: end as i64, total: total as i64 };
            if !self.store.apply_matches(args.owner_id, &plans, Some(&fence)).await? {
                // Another worker holds the job now (our lease expired): it goes on from here.
                return Ok(Outcome::CompletedInTransaction(false));
            }
            done = end;
        }
        if args.then_workflows {
            // The document was just processed: its "processed" workflows see it as the rules filed it.
            let jobs = args.documents.iter().map(|d| NewJob::run_workflows(args.owner_id, *d, "processed", None)).collect();
            self.store.enqueue(jobs).await?;
        }
        Ok(Outcome::Done)
    }
}

pub fn register_matching(registry: &mut Registry, ctx: &AppContext) {
    let job = MatchJob { store: ctx.store.clone(), models: ctx.models.clone(), apply_confidence: ctx.settings.classifier.apply_confidence };
    registry.register(kinds::MATCH_DOCUMENTS, Arc::new(job));
}
