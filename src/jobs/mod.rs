//! The job runner: claim → lease + heartbeat → fenced completion, each job in its own task
//! (a panic fails that job, not the worker), retries with backoff, a reaper for expired leases.

mod bulk;
mod classify;
pub mod kinds;
mod llm;
mod maintenance;
mod matching;
mod placement;
mod runner;
#[cfg(feature = "test-jobs")]
mod test_jobs;
mod workflows;

pub use bulk::register_bulk;
pub use classify::{register_classifier, train_owner};
pub use llm::register_llm;
pub use maintenance::{register_maintenance, spawn_maintenance_scheduler};
pub use matching::register_matching;
pub use placement::register_placement;
pub use runner::{JobError, JobHandler, Outcome, Registry, RunnerOptions, retry_while_unreachable, run_worker, unexpected_job};
#[cfg(feature = "test-jobs")]
pub use test_jobs::register_test_jobs;
pub use workflows::{http_client, register_workflows, scan_job as scan_scheduled_job};
