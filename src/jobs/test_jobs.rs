//! Diagnostic job kinds: `noop` (the queue benchmark) and `test.append` (counts executions for
//! the exactly-once tests; registered only when DOCMERGE_ENABLE_TEST_JOBS=1).

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::domain::jobs::{ClaimedJob, Lease};

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        Ok(Outcome::Done)
    }
}

/// Appends "<job id>\n" to `payload.path`, optionally sleeping `payload.sleep_ms` first and
/// (only on the first attempt with `sleep_only_first`), and failing while
/// `attempt <= payload.fail_times` (to exercise retries).
struct Append;

#[async_trait]
impl JobHandler for Append {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let path = job.payload.get("path").and_then(|p| p.as_str()).ok_or_else(|| JobError::Abort("payload has no path".into()))?;
        let sleep_only_first = job.payload.get("sleep_only_first").and_then(|v| v.as_bool()).unwrap_or(false);
        if let Some(ms) = job.payload.get("sleep_ms").and_then(|v| v.as_u64())
            && (!sleep_only_first || job.attempt == 1)
        {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let fail_times = job.payload.get("fail_times").and_then(|v| v.as_i64()).unwrap_or(0);
        if (job.attempt as i64) <= fail_times {
            return Err(JobError::Retry(format!("planned failure {} of {fail_times}", job.attempt)));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| JobError::Retry(format!("cannot open {path}: {e}")))?;
        f.write_all(format!("{}\n", job.id).as_bytes()).map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(Outcome::Done)
    }
}

pub fn register_test_jobs(registry: &mut Registry) {
    registry.register(kinds::NOOP, Arc::new(Noop));
    if std::env::var("DOCMERGE_ENABLE_TEST_JOBS").as_deref() == Ok("1") {
        registry.register(kinds::TEST_APPEND, Arc::new(Append));
    }
}
