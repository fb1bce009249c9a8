//! The auto classifier's jobs (#23): `train_classifier` learns one owner's model from their
//! filed documents (skipped when nothing changed since the last one, unless asked); the
//! scheduled `train_classifiers` queues that for every owner whose documents changed.

use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::config::ClassifierSettings;
use crate::domain::Id;
use crate::domain::classifier::{Model, TrainStats, Trainer};
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob};
use crate::domain::store::Store;

/// Documents read per page while training.
const PAGE: usize = 500;

fn stopped(e: tokio::task::JoinError) -> JobError {
    JobError::Retry(format!("training stopped: {e}"))
}

/// Trains the owner's model from the store in two passes, a page of documents at a time (no
/// more than a page of texts is held at once): counting every text, then adding every example
/// (the documents the first pass saw; one added meanwhile waits for the next training). The
/// number of documents, and the model unless there was nothing to learn.
pub async fn train_owner(store: &dyn Store, owner: Id) -> Result<(usize, Option<(Model, TrainStats)>), JobError> {
    let mut trainer = Trainer::new();
    let mut after = 0;
    loop {
        let page = store.training_examples(owner, after, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        after = last;
        trainer = tokio::task::spawn_blocking(move || {
            for (_, e) in &page {
                trainer.count(&e.text);
            }
            trainer
        })
        .await
        .map_err(stopped)?;
    }
    let (end, mut after, mut documents) = (after, 0, 0);
    while after < end {
        let mut page = store.training_examples(owner, after, PAGE).await?;
        page.retain(|(id, _)| *id <= end);
        let Some(&(last, _)) = page.last() else { break };
        after = last;
        documents += page.len();
        trainer = tokio::task::spawn_blocking(move || {
            for (_, e) in &page {
                trainer.add(e);
            }
            trainer
        })
        .await
        .map_err(stopped)?;
    }
    if documents == 0 {
        return Ok((0, None));
    }
    let trained = tokio::task::spawn_blocking(move || trainer.finish()).await.map_err(stopped)?;
    Ok((documents, trained))
}

struct Train {
    store: Arc<dyn Store>,
    settings: ClassifierSettings,
}

#[async_trait]
impl JobHandler for Train {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::TrainClassifier(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::TRAIN_CLASSIFIER));
        };
        let owner = args.owner_id;
        let (processed, fingerprint) = self.store.training_fingerprint(owner).await?;
        if !args.force && self.store.newest_classifier(owner).await?.is_some_and(|last| last.fingerprint == fingerprint) {
            return Ok(Outcome::Done);
        }
        // The scheduled training of a library with nothing to learn from ends quietly; one asked
        // for says why.
        let nothing = |why: String| if args.force { Err(JobError::Abort(why)) } else { Ok(Outcome::Done) };
        let least = self.settings.min_documents.max(2);
        if processed < least {
            return nothing(format!("nothing to learn from yet: {processed} processed documents, the classifier needs at least {least}"));
        }
        let (documents, trained) = train_owner(self.store.as_ref(), owner).await?;
        let Some((model, stats)) = trained else {
            return nothing(format!(
                "nothing to learn from yet: among {documents} documents no two correspondents, types or folders have two documents each, \
                 and no tag is on two documents"
            ));
        };
        let bytes = tokio::task::spawn_blocking(move || model.encode()).await.map_err(|e| JobError::Retry(e.to_string()))?;
        let info = self.store.save_classifier(owner, &fingerprint, &stats, &bytes).await?;
        tracing::info!(
            owner,
            model = info.id,
            documents,
            features = stats.features,
            ms = stats.train_ms,
            bytes = bytes.len(),
            "trained a classifier"
        );
        Ok(Outcome::Done)
    }
}

struct TrainAll {
    store: Arc<dyn Store>,
    min_documents: usize,
}

#[async_trait]
impl JobHandler for TrainAll {
    async fn run(&self, _job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let mut jobs = Vec::new();
        for owner in self.store.classifier_owners(self.min_documents.max(2)).await? {
            let (_, fingerprint) = self.store.training_fingerprint(owner).await?;
            let last = self.store.newest_classifier(owner).await?;
            if last.is_none_or(|l| l.fingerprint != fingerprint) {
                jobs.push(NewJob::train_classifier(owner, false));
            }
        }
        if !jobs.is_empty() {
            self.store.enqueue(jobs).await?;
        }
        Ok(Outcome::Done)
    }
}

pub fn register_classifier(registry: &mut Registry, ctx: &AppContext) {
    let settings = ctx.settings.classifier.clone();
    registry.register(kinds::TRAIN_CLASSIFIER, Arc::new(Train { store: ctx.store.clone(), settings: settings.clone() }));
    registry.register(kinds::TRAIN_CLASSIFIERS, Arc::new(TrainAll { store: ctx.store.clone(), min_documents: settings.min_documents }));
}
