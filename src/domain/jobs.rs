//! The job table's vocabulary: what is enqueued, what a claim hands out, how retries back off.

use serde::{Deserialize, Serialize};

use super::{Id, Millis};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> JobState {
        match s {
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => JobState::Queued,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// Higher runs first.
    pub priority: i32,
    pub run_after: Option<Millis>,
    pub max_attempts: i32,
    /// While a job with this key is queued or running, another with the same key is not added.
    pub unique_key: Option<String>,
    /// Seconds one attempt may run before it is abandoned and retried.
    pub timeout_secs: i64,
    pub document_id: Option<Id>,
    pub owner_id: Option<Id>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            priority: 0,
            run_after: None,
            max_attempts: 5,
            unique_key: None,
            timeout_secs: 600,
            document_id: None,
            owner_id: None,
        }
    }
    pub fn priority(mut self, p: i32) -> Self {
        self.priority = p;
        self
    }
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }
    pub fn run_after(mut self, at: Millis) -> Self {
        self.run_after = Some(at);
        self
    }
    pub fn timeout_secs(mut self, secs: i64) -> Self {
        self.timeout_secs = secs;
        self
    }
    pub fn for_document(mut self, owner_id: Id, document_id: Id) -> Self {
        self.owner_id = Some(owner_id);
        self.document_id = Some(document_id);
        self
    }
}

/// A job handed to one worker. `lease_seq` (bumped by every claim) fences every later write: a
/// worker whose lease expired and whose job was claimed again can no longer heartbeat, complete
/// or fail it. `attempt` counts attempts for backoff and `max_attempts` (a release on shutdown
/// gives its attempt back, so it is not a fence).
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub id: Id,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempt: i32,
    pub lease_seq: i64,
    pub max_attempts: i32,
    pub timeout_secs: i64,
    pub document_id: Option<Id>,
    pub owner_id: Option<Id>,
}

/// The fence of one claim.
#[derive(Clone, Debug)]
pub struct Lease {
    pub job_id: Id,
    pub worker_id: String,
    pub seq: i64,
}

impl ClaimedJob {
    pub fn lease(&self, worker_id: &str) -> Lease {
        Lease { job_id: self.id, worker_id: worker_id.to_string(), seq: self.lease_seq }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobView {
    pub id: Id,
    pub kind: String,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub progress_done: Option<i32>,
    pub progress_total: Option<i32>,
    pub document_id: Option<Id>,
    pub owner_id: Option<Id>,
    pub priority: i32,
    pub run_after: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// How a failed attempt ends.
#[derive(Clone, Debug)]
pub enum FailOutcome {
    /// Back in the queue, to run again at this time.
    Retry { run_after: Millis },
    /// No attempts left (or the error is permanent): the job is `failed`.
    Failed,
}

/// About `attempt^4 + 15 s` with up to 10 % jitter, capped at one hour.
pub fn backoff_millis(attempt: i32, jitter_unit: f64) -> Millis {
    let a = attempt.max(1) as f64;
    let base = a.powi(4) + 15.0;
    let jitter = base * 0.1 * jitter_unit.clamp(0.0, 1.0);
    ((base + jitter).min(3600.0) * 1000.0) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_millis(1, 0.0), 16_000);
        assert_eq!(backoff_millis(2, 0.0), 31_000);
        assert_eq!(backoff_millis(3, 0.0), 96_000);
        assert!(backoff_millis(3, 1.0) > backoff_millis(3, 0.0));
        assert_eq!(backoff_millis(50, 1.0), 3_600_000);
    }
}
