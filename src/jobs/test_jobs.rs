//! Diagnostic job kinds: `noop` (the queue benchmark) and `test.append` (counts executions for
//! the exactly-once tests; registered only when DOCMERGE_ENABLE_TEST_JOBS=1).

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry, unexpected_job};
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, TestAppendArgs};

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
        let JobSpec::TestAppend(TestAppendArgs { path, sleep_ms, sleep_only_first, fail_times }) = &job.spec else {
            return Err(unexpected_job(job, kinds::TEST_APPEND));
        };
        if let Some(ms) = sleep_ms
            && (!sleep_only_first || job.attempt == 1)
        {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
        }
        let fail_times = *fail_times;
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
