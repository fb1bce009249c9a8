//! The typed core on both backends: every job kind written and claimed back as the same
//! `JobSpec`, and a database error with a kind — a constraint violation inside a job fails the
//! job at once instead of retrying it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use docmerge::domain::jobs::*;
use docmerge::domain::store::{BulkStore, Store};
use docmerge::domain::{DbError, DbErrorKind, DomainError};
use docmerge::jobs::{JobError, JobHandler, Outcome, Registry, RunnerOptions, run_worker};
use tokio_util::sync::CancellationToken;

fn every_kind() -> Vec<JobSpec> {
    vec![
        JobSpec::ProcessVersion(VersionArgs { version_id: 11 }),
        JobSpec::ProcessPage(PageArgs { version_id: 12, index: 3 }),
        JobSpec::FinishVersion(VersionArgs { version_id: 13 }),
        JobSpec::RebuildDerived(VersionArgs { version_id: 14 }),
        JobSpec::RotatePageImages(RotateArgs {
            version_id: 15,
            pages: vec![TurnedPage(1, 90, Some("a".repeat(64))), TurnedPage(4, 270, None)],
        }),
        JobSpec::Backup(BackupArgs { slot: 1_700_000_000_000 }),
        JobSpec::Prune(NoArgs {}),
        JobSpec::SweepBlobs(SweepArgs { candidates: Some(vec!["ab".repeat(32)]) }),
        JobSpec::SweepBlobs(SweepArgs { candidates: None }),
        JobSpec::Noop(NoArgs {}),
        JobSpec::TestAppend(TestAppendArgs { path: "/tmp/x y".into(), sleep_ms: Some(5), sleep_only_first: true, fail_times: 2 }),
    ]
}

conformance!(every_job_kind_round_trips);
async fn every_job_kind_round_trips(store: Arc<dyn BulkStore>) {
    let specs = every_kind();
    let ids: Vec<_> =
        store.enqueue(specs.iter().cloned().map(NewJob::new).collect()).await.unwrap().into_iter().map(Option::unwrap).collect();
    let mut got = store.claim("w", &[], 100, 60_000).await.unwrap();
    got.sort_by_key(|j| j.id);
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), ids);
    assert_eq!(got.iter().map(|j| j.spec.clone()).collect::<Vec<_>>(), specs, "claimed back as written");
    for (id, spec) in ids.iter().zip(&specs) {
        assert_eq!(store.job(*id).await.unwrap().kind, spec.kind(), "the kind column");
    }
    // Claiming by kind uses the same names.
    let more = store.enqueue(vec![NewJob::new(JobSpec::Backup(BackupArgs { slot: 7 }))]).await.unwrap();
    let backups = store.claim("w", &[kinds::BACKUP.to_string()], 10, 60_000).await.unwrap();
    assert_eq!(backups.iter().map(|j| Some(j.id)).collect::<Vec<_>>(), more);
}

/// A handler whose write breaks a constraint: a job for a document and owner that do not exist.
struct BreaksAConstraint(Arc<dyn Store>);

#[async_trait]
impl JobHandler for BreaksAConstraint {
    async fn run(&self, _job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        self.0.enqueue(vec![NewJob::new(JobSpec::Noop(NoArgs {})).for_document(987_654, 987_654)]).await?;
        Ok(Outcome::Done)
    }
}

conformance!(a_constraint_violation_fails_the_job_without_a_retry);
async fn a_constraint_violation_fails_the_job_without_a_retry(store: Arc<dyn BulkStore>) {
    // The store reports the violation as what it is.
    let err = store.enqueue(vec![NewJob::new(JobSpec::Noop(NoArgs {})).for_document(987_654, 987_654)]).await.unwrap_err();
    assert!(matches!(err, DomainError::Database(DbError { kind: DbErrorKind::Conflict, .. })), "{err:?}");
    assert!(!err.is_transient());
    assert!(matches!(JobError::from(err), JobError::Abort(_)));

    // A worker running a job that hits it fails the job on its first attempt, with the reason.
    let id = store.enqueue(vec![NewJob::new(JobSpec::Prune(NoArgs {})).max_attempts(5)]).await.unwrap()[0].unwrap();
    let mut registry = Registry::default();
    registry.register(kinds::PRUNE, Arc::new(BreaksAConstraint(store.clone())));
    let opts = RunnerOptions {
        worker_id: "w".into(),
        concurrency: 1,
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(1),
        metrics: Arc::new(docmerge::telemetry::Metrics::default()),
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(run_worker(store.clone(), registry, opts, shutdown.clone()));
    let started = Instant::now();
    let view = loop {
        let v = store.job(id).await.unwrap();
        if v.state != JobState::Queued && v.state != JobState::Running {
            break v;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the job never ended: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    shutdown.cancel();
    worker.await.unwrap();
    assert_eq!((view.state, view.attempts), (JobState::Failed, 1), "failed at once, 4 attempts left unused: {view:?}");
    let reason = view.last_error.unwrap_or_default().to_lowercase();
    assert!(reason.contains("foreign key"), "the reason in words: {reason}");
}
