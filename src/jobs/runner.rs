use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::domain::jobs::{ClaimedJob, FailOutcome, JobSpec, Lease};
use crate::domain::store::{Store, WakeChannel};
use crate::domain::{DomainError, DomainResult, Id, Millis};

/// How a job attempt ends when it does not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (after backoff).
    #[error("{0}")]
    Retry(String),
    /// Will never work (bad input): fail now, keep the reason.
    #[error("{0}")]
    Abort(String),
}

/// A domain error inside a job: what can succeed later without anyone acting (the database
/// unreachable or busy, the file store blinking) is retried with backoff; everything else — a
/// constraint violation, a row that is gone, invalid data — fails the job at once with its
/// reason, instead of burning its attempts on the same answer.
impl From<DomainError> for JobError {
    fn from(e: DomainError) -> Self {
        if e.is_transient() { JobError::Retry(e.to_string()) } else { JobError::Abort(e.to_string()) }
    }
}

/// A handler was given a job of another kind (a registration mistake): fail it with that reason.
pub fn unexpected_job(job: &ClaimedJob, handler: &str) -> JobError {
    JobError::Abort(format!("the {handler} handler cannot run a {} job", job.kind()))
}

/// A successful attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The runner marks the job done.
    Done,
    /// The handler already completed the job inside its own (fenced) transaction; the flag says
    /// whether that completion was accepted.
    CompletedInTransaction(bool),
}

#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError>;
    /// Called once when the job has failed for good (no attempts left, or aborted).
    async fn on_failed(&self, _job: &ClaimedJob, _error: &str) {}
}

#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn register(&mut self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.to_string(), handler);
    }
    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }
}

#[derive(Clone, Debug)]
pub struct RunnerOptions {
    pub worker_id: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub shutdown_grace: Duration,
    /// Where each attempt's run time goes (`docmerge_job_duration_seconds`).
    pub metrics: Arc<crate::telemetry::Metrics>,
}

impl RunnerOptions {
    fn lease_ms(&self) -> Millis {
        self.lease.as_millis() as Millis
    }
}

struct Running {
    lease: Lease,
    abort: tokio::task::AbortHandle,
}

/// Runs jobs until `shutdown` is cancelled. Then it stops claiming, lets running jobs finish for
/// up to the grace period, and releases the leases of those still running.
pub async fn run_worker(store: Arc<dyn Store>, registry: Registry, opts: RunnerOptions, shutdown: CancellationToken) {
    let kinds = registry.kinds();
    let running: Arc<Mutex<HashMap<Id, Running>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let stop_aux = CancellationToken::new();

    // Heartbeat: renew every lease we hold, in one statement batch; a lease found lost aborts its job.
    let hb = spawn_heartbeat(store.clone(), running.clone(), opts.clone(), stop_aux.clone());
    // Reaper: expired leases of dead workers go back to the queue.
    let reaper = spawn_reaper(store.clone(), opts.clone(), stop_aux.clone());

    tracing::info!(worker = %opts.worker_id, concurrency = opts.concurrency, kinds = ?kinds, "worker started");
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        while tasks.try_join_next().is_some() {}
        let free = opts.concurrency.saturating_sub(tasks.len());
        if free == 0 {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tasks.join_next() => {}
            }
            continue;
        }
        let claimed = match store.claim(&opts.worker_id, &kinds, free, opts.lease_ms()).await {
            Ok(c) => {
                backoff = Duration::from_millis(100);
                c
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed; retrying in {:?}", backoff);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = store.wait_for_change(WakeChannel::Jobs, opts.poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
            continue;
        }
        for job in claimed {
            let Some(handler) = registry.handlers.get(job.kind()).cloned() else {
                // Cannot happen: we only claim registered kinds.
                continue;
            };
            let lease = job.lease(&opts.worker_id);
            let (store2, running2, metrics) = (store.clone(), running.clone(), opts.metrics.clone());
            let started = Instant::now();
            let job_id = job.id;
            // The job itself runs in its own task so a panic is contained and it can be aborted.
            let inner = tokio::spawn({
                let (handler, job, lease) = (handler.clone(), job.clone(), lease.clone());
                async move {
                    if let JobSpec::Unreadable { error, .. } = &job.spec {
                        return Err(JobError::Abort(error.clone()));
                    }
                    let limit = Duration::from_secs(job.timeout_secs.max(1) as u64);
                    match tokio::time::timeout(limit, handler.run(&job, &lease)).await {
                        Ok(r) => r,
                        Err(_) => Err(JobError::Retry(format!("the job took longer than {} s and was stopped", job.timeout_secs))),
                    }
                }
            });
            running.lock().unwrap_or_else(|p| p.into_inner()).insert(job_id, Running { lease: lease.clone(), abort: inner.abort_handle() });
            tasks.spawn(async move {
                let result = match inner.await {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => Err(JobError::Retry("internal error: the job crashed (panic); see the worker log".into())),
                    Err(_) => {
                        // Aborted: lease lost or shutdown — someone else owns the outcome.
                        running2.lock().unwrap_or_else(|p| p.into_inner()).remove(&job_id);
                        metrics.observe_job(job.kind(), "stopped", started.elapsed().as_secs_f64());
                        return;
                    }
                };
                let outcome = match &result {
                    Ok(_) => "done",
                    Err(JobError::Retry(_)) => "retry",
                    Err(JobError::Abort(_)) => "failed",
                };
                metrics.observe_job(job.kind(), outcome, started.elapsed().as_secs_f64());
                finish(&*store2, &*handler, &job, &lease, result).await;
                running2.lock().unwrap_or_else(|p| p.into_inner()).remove(&job_id);
            });
        }
    }

    // Shutdown: no more claims; give running jobs the grace period, then release their leases.
    let grace = tokio::time::sleep(opts.shutdown_grace);
    tokio::pin!(grace);
    while !tasks.is_empty() {
        tokio::select! {
            _ = &mut grace => break,
            _ = tasks.join_next() => {}
        }
    }
    let leftover: Vec<Running> = running.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, r)| r).collect();
    for r in leftover {
        r.abort.abort();
        match store.release(&r.lease).await {
            Ok(true) => tracing::info!(job = r.lease.job_id, "released job at shutdown"),
            Ok(false) => {}
            Err(e) => tracing::warn!(job = r.lease.job_id, error = %e, "could not release job; its lease will expire"),
        }
    }
    tasks.abort_all();
    stop_aux.cancel();
    let _ = hb.await;
    let _ = reaper.await;
    tracing::info!(worker = %opts.worker_id, "worker stopped");
}

fn spawn_heartbeat(
    store: Arc<dyn Store>,
    running: Arc<Mutex<HashMap<Id, Running>>>,
    opts: RunnerOptions,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = opts.lease / 3;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let leases: Vec<Lease> = running.lock().unwrap_or_else(|p| p.into_inner()).values().map(|r| r.lease.clone()).collect();
            if leases.is_empty() {
                continue;
            }
            match store.heartbeat(&leases, opts.lease_ms()).await {
                Ok(alive) => {
                    let map = running.lock().unwrap_or_else(|p| p.into_inner());
                    for (lease, ok) in leases.iter().zip(alive) {
                        if !ok && let Some(r) = map.get(&lease.job_id) {
                            tracing::warn!(job = lease.job_id, "lease lost (another worker took the job over); stopping it");
                            r.abort.abort();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; will retry"),
            }
        }
    })
}

fn spawn_reaper(store: Arc<dyn Store>, opts: RunnerOptions, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = (opts.lease / 4).max(Duration::from_millis(500));
        loop {
            match store.reap_expired().await {
                Ok(n) if n > 0 => tracing::info!(jobs = n, "returned jobs with expired leases to the queue"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reaping expired leases failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}

async fn finish(store: &dyn Store, handler: &dyn JobHandler, job: &ClaimedJob, lease: &Lease, result: Result<Outcome, JobError>) {
    match result {
        Ok(Outcome::Done) => {
            match retry_while_unreachable(job.id, "the completion", || store.complete(std::slice::from_ref(lease))).await {
                Ok(v) if v.first() == Some(&true) => {}
                Ok(_) => tracing::warn!(job = job.id, "completion rejected: the lease was lost to another worker"),
                Err(e) => tracing::warn!(job = job.id, error = %e, "could not record completion; the job will run again"),
            }
        }
        Ok(Outcome::CompletedInTransaction(accepted)) => {
            if !accepted {
                tracing::warn!(job = job.id, "completion rejected: the lease was lost to another worker");
            }
        }
        Err(err) => {
            let (msg, permanent) = match &err {
                JobError::Retry(m) => (m.as_str(), false),
                JobError::Abort(m) => (m.as_str(), true),
            };
            match retry_while_unreachable(job.id, "the failure", || store.fail(lease, msg, permanent)).await {
                Ok(Some(FailOutcome::Failed)) => {
                    tracing::warn!(job = job.id, kind = %job.kind(), error = %msg, "job failed");
                    handler.on_failed(job, msg).await;
                }
                Ok(Some(FailOutcome::Retry { run_after })) => {
                    tracing::info!(job = job.id, kind = %job.kind(), error = %msg, attempt = job.attempt, retry_at = run_after, "job will be retried");
                }
                Ok(None) => tracing::warn!(job = job.id, "failure not recorded: the lease was lost to another worker"),
                Err(e) => tracing::warn!(job = job.id, error = %e, "could not record the failure; the lease will expire"),
            }
        }
    }
}

/// How long a worker keeps trying to record an outcome it already has.
const RECORD_OUTCOME_FOR: Duration = Duration::from_secs(120);

/// The outcome of work already done must not be thrown away because the database blinked (a
/// PostgreSQL restart or failover): otherwise the lease expires and the whole job runs again.
/// The writes are fenced by the lease, so retrying them late is harmless; the job stays in the
/// heartbeat's set meanwhile, so its lease is renewed as soon as the database is back.
pub async fn retry_while_unreachable<T, F, Fut>(job: Id, what: &str, mut write: F) -> DomainResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DomainResult<T>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(200);
    loop {
        match write().await {
            Err(e) if e.is_transient() && started.elapsed() + backoff < RECORD_OUTCOME_FOR => {
                tracing::warn!(job, error = %e, "could not record {what}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            result => return result,
        }
    }
}
