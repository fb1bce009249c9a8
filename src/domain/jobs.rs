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

/// What a job does, with its arguments — the one wire format of the job table: the variant's
/// name is the `kind` column, its payload struct the `payload` column (JSON). Handlers get the
/// typed payload; nothing reads `payload` by field name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum JobSpec {
    /// Inspect an uploaded version, then fan out one `process_page` job per page.
    ProcessVersion(VersionArgs),
    /// Text layer or OCR, thumbnails, for one page.
    ProcessPage(PageArgs),
    /// Searchable PDF, search index, `ready` — once every page is done.
    FinishVersion(VersionArgs),
    /// Re-creates the derived files of an imported, ready version (`docmerge import`).
    RebuildDerived(VersionArgs),
    /// Turns the thumbnail and preview of pages rotated by a page operation.
    RotatePageImages(RotateArgs),
    /// A scheduled backup: export, verify, rotate.
    Backup(BackupArgs),
    /// Periodic housekeeping: old events and finished jobs.
    Prune(NoArgs),
    /// Deletes stored files no row refers to: the ones a purge freed, or (None) every file in
    /// the storage (the periodic orphan sweep).
    SweepBlobs(SweepArgs),
    /// One change over many documents (#22), in chunks.
    BulkEdit(super::bulk::BulkArgs),
    /// Runs the owner's matching rules over documents (#23): after processing, or "re-run
    /// matching" over a selection; in chunks, like a bulk edit.
    MatchDocuments(super::matching::MatchArgs),
    /// Trains an owner's auto classifier (#23) when their documents changed since the last
    /// model (or always, `force`).
    TrainClassifier(super::classifier::TrainArgs),
    /// Looks for owners whose documents changed since their last model and queues their
    /// training (the scheduled job).
    TrainClassifiers(NoArgs),
    /// Places the owner's documents that wait for it by their path templates (#23).
    PlaceDocuments(super::path_templates::PlaceArgs),
    /// Runs the owner's workflows of a trigger on a document (#23).
    RunWorkflows(super::workflows::RunArgs),
    /// Sends one webhook or email of a workflow run (one attempt; a failure queues the next).
    Deliver(super::workflows::DeliverArgs),
    /// Looks for documents scheduled workflows are due for and queues their runs.
    ScanScheduledWorkflows(NoArgs),
    /// Asks the operator's language model about one document (#23) and records (or applies)
    /// what it suggests.
    LlmSuggest(super::llm::LlmArgs),
    /// Does nothing: the queue benchmark's job (feature `test-jobs`).
    #[cfg(feature = "test-jobs")]
    Noop(NoArgs),
    /// Appends its job id to a file — registered only when `DOCMERGE_ENABLE_TEST_JOBS=1` (the
    /// exactly-once and crash-recovery tests count these lines).
    #[cfg(feature = "test-jobs")]
    #[serde(rename = "test.append")]
    TestAppend(TestAppendArgs),
    /// A row whose payload does not parse as its kind's (written by a newer or broken version):
    /// the runner fails it with this reason. Never written.
    #[serde(skip)]
    Unreadable { kind: String, error: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoArgs {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionArgs {
    pub version_id: Id,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageArgs {
    pub version_id: Id,
    /// 0-based page index.
    pub index: u32,
}

/// One page to turn: its number, the degrees, and the thumbnail it had before (a retried job
/// skips a page whose thumbnail is no longer that one, so no page is turned twice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnedPage(pub i32, pub u16, pub Option<String>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateArgs {
    pub version_id: Id,
    pub pages: Vec<TurnedPage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupArgs {
    /// The schedule slot (millis) this backup is for.
    pub slot: Millis,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepArgs {
    /// The sha256 of the files to look at; None: all of them.
    #[serde(default)]
    pub candidates: Option<Vec<String>>,
}

#[cfg(feature = "test-jobs")]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAppendArgs {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_ms: Option<u64>,
    /// Sleep only on the first attempt.
    #[serde(default)]
    pub sleep_only_first: bool,
    /// Fail (retryably) while `attempt <= fail_times`.
    #[serde(default)]
    pub fail_times: i64,
}

impl JobSpec {
    /// The `kind` column.
    pub fn kind(&self) -> &str {
        match self {
            JobSpec::ProcessVersion(_) => kinds::PROCESS_VERSION,
            JobSpec::ProcessPage(_) => kinds::PROCESS_PAGE,
            JobSpec::FinishVersion(_) => kinds::FINISH_VERSION,
            JobSpec::RebuildDerived(_) => kinds::REBUILD_DERIVED,
            JobSpec::RotatePageImages(_) => kinds::ROTATE_PAGE_IMAGES,
            JobSpec::Backup(_) => kinds::BACKUP,
            JobSpec::Prune(_) => kinds::PRUNE,
            JobSpec::SweepBlobs(_) => kinds::SWEEP_BLOBS,
            JobSpec::BulkEdit(_) => kinds::BULK_EDIT,
            JobSpec::MatchDocuments(_) => kinds::MATCH_DOCUMENTS,
            JobSpec::TrainClassifier(_) => kinds::TRAIN_CLASSIFIER,
            JobSpec::TrainClassifiers(_) => kinds::TRAIN_CLASSIFIERS,
            JobSpec::PlaceDocuments(_) => kinds::PLACE_DOCUMENTS,
            JobSpec::RunWorkflows(_) => kinds::RUN_WORKFLOWS,
            JobSpec::Deliver(_) => kinds::DELIVER,
            JobSpec::ScanScheduledWorkflows(_) => kinds::SCAN_SCHEDULED_WORKFLOWS,
            JobSpec::LlmSuggest(_) => kinds::LLM_SUGGEST,
            #[cfg(feature = "test-jobs")]
            JobSpec::Noop(_) => kinds::NOOP,
            #[cfg(feature = "test-jobs")]
            JobSpec::TestAppend(_) => kinds::TEST_APPEND,
            JobSpec::Unreadable { kind, .. } => kind,
        }
    }

    /// The `payload` column.
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("payload").unwrap_or_else(|| serde_json::json!({})),
            _ => serde_json::json!({}),
        }
    }

    /// A row read back: `kind` and `payload` as stored. Never fails: what does not parse comes
    /// back as [`JobSpec::Unreadable`] with the reason.
    pub fn from_row(kind: &str, payload: serde_json::Value) -> JobSpec {
        let tagged = serde_json::json!({"kind": kind, "payload": payload});
        serde_json::from_value(tagged).unwrap_or_else(|e| JobSpec::Unreadable {
            kind: kind.to_string(),
            error: format!("the {kind} job's arguments are unreadable: {e}"),
        })
    }

    /// The document version the job works on, if it works on one.
    pub fn version_id(&self) -> Option<Id> {
        match self {
            JobSpec::ProcessVersion(a) | JobSpec::FinishVersion(a) | JobSpec::RebuildDerived(a) => Some(a.version_id),
            JobSpec::ProcessPage(a) => Some(a.version_id),
            JobSpec::RotatePageImages(a) => Some(a.version_id),
            _ => None,
        }
    }
}

/// The job kinds, by name (the `kind` column): what the runner registers handlers for.
pub mod kinds {
    pub const PROCESS_VERSION: &str = "process_version";
    pub const PROCESS_PAGE: &str = "process_page";
    pub const FINISH_VERSION: &str = "finish_version";
    pub const REBUILD_DERIVED: &str = "rebuild_derived";
    pub const ROTATE_PAGE_IMAGES: &str = "rotate_page_images";
    pub const BACKUP: &str = "backup";
    pub const PRUNE: &str = "prune";
    pub const SWEEP_BLOBS: &str = "sweep_blobs";
    pub const BULK_EDIT: &str = "bulk_edit";
    pub const MATCH_DOCUMENTS: &str = "match_documents";
    pub const TRAIN_CLASSIFIER: &str = "train_classifier";
    pub const TRAIN_CLASSIFIERS: &str = "train_classifiers";
    pub const PLACE_DOCUMENTS: &str = "place_documents";
    pub const RUN_WORKFLOWS: &str = "run_workflows";
    pub const DELIVER: &str = "deliver";
    pub const SCAN_SCHEDULED_WORKFLOWS: &str = "scan_scheduled_workflows";
    pub const LLM_SUGGEST: &str = "llm_suggest";
    #[cfg(feature = "test-jobs")]
    pub const NOOP: &str = "noop";
    #[cfg(feature = "test-jobs")]
    pub const TEST_APPEND: &str = "test.append";
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub spec: JobSpec,
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
    pub fn new(spec: JobSpec) -> Self {
        NewJob {
            spec,
            priority: 0,
            run_after: None,
            max_attempts: 5,
            unique_key: None,
            timeout_secs: 600,
            document_id: None,
            owner_id: None,
        }
    }

    /// The files a purge freed, queued in the purge's transaction: the sweep job deletes each
    /// once nothing refers to it and it has been unused for `storage.sweep_grace_secs` (an
    /// identical upload meanwhile keeps it).
    pub fn sweep_freed(candidates: Vec<String>) -> Self {
        NewJob::new(JobSpec::SweepBlobs(SweepArgs { candidates: Some(candidates) })).priority(-5).max_attempts(3)
    }

    /// Processing of an uploaded (or reprocessed, or imported) version: the one place this job
    /// is made. New uploads run slightly before pages of versions already under way.
    pub fn process_version(owner_id: Id, document_id: Id, version_id: Id, max_attempts: i32) -> Self {
        NewJob::new(JobSpec::ProcessVersion(VersionArgs { version_id }))
            .priority(10)
            .unique(format!("process_version:{version_id}"))
            .max_attempts(max_attempts)
            .for_document(owner_id, document_id)
    }

    /// The owner's matching rules over documents (#23): after processing (one document,
    /// unique per document while queued) or "re-run matching" (a selection).
    pub fn match_documents(owner_id: Id, documents: Vec<Id>) -> Self {
        let single = (documents.len() == 1).then(|| documents[0]);
        let mut job = NewJob::new(JobSpec::MatchDocuments(super::matching::MatchArgs { owner_id, documents, then_workflows: false }))
            .priority(super::matching::PRIORITY)
            .max_attempts(5)
            .timeout_secs(3600);
        match single {
            Some(d) => job = job.unique(format!("match_documents:{d}")).for_document(owner_id, d),
            None => job.owner_id = Some(owner_id),
        }
        job
    }

    /// The rules over a document that finished processing; `then_workflows`: its "processed"
    /// workflows are queued when they are applied.
    pub fn match_after_processing(owner_id: Id, document_id: Id, then_workflows: bool) -> Self {
        let mut job = NewJob::match_documents(owner_id, vec![document_id]);
        if let JobSpec::MatchDocuments(args) = &mut job.spec {
            args.then_workflows = then_workflows;
        }
        job
    }

    /// One change over many documents (#22), in chunks, before processing jobs.
    pub fn bulk_edit(owner_id: Id, documents: Vec<Id>, edit: super::bulk::BulkEdit) -> Self {
        let mut job = NewJob::new(JobSpec::BulkEdit(super::bulk::BulkArgs { owner_id, documents, edit }))
            .priority(super::bulk::PRIORITY)
            .max_attempts(5)
            .timeout_secs(3600);
        job.owner_id = Some(owner_id);
        job
    }

    /// Places the owner's waiting documents by their path templates (one queued per owner at a
    /// time: the store keeps the list of documents).
    pub fn place_documents(owner_id: Id) -> Self {
        let mut job = NewJob::new(JobSpec::PlaceDocuments(super::path_templates::PlaceArgs { owner_id }))
            .unique(format!("place_documents:{owner_id}"))
            .priority(super::path_templates::PRIORITY)
            .max_attempts(10)
            .timeout_secs(3600);
        job.owner_id = Some(owner_id);
        job
    }

    /// The owner's workflows of `trigger` on a document (#23): one queued per document and
    /// trigger (a scheduled one: per workflow and document) at a time.
    pub fn run_workflows(owner_id: Id, document_id: Id, trigger: &str, workflow_id: Option<Id>) -> Self {
        let key = match workflow_id {
            Some(w) => format!("workflows:{trigger}:{w}:{document_id}"),
            None => format!("workflows:{trigger}:{document_id}"),
        };
        let args = super::workflows::RunArgs { owner_id, document_id, trigger: trigger.to_string(), workflow_id };
        NewJob::new(JobSpec::RunWorkflows(args))
            .unique(key)
            .priority(super::workflows::PRIORITY)
            .max_attempts(5)
            .timeout_secs(600)
            .for_document(owner_id, document_id)
    }

    /// One attempt at a webhook or email (its retries are new jobs, at the schedule's times;
    /// this job's own attempts cover a worker that died).
    pub fn deliver(owner_id: Id, delivery_id: Id, at: Option<Millis>) -> Self {
        let mut job = NewJob::new(JobSpec::Deliver(super::workflows::DeliverArgs { delivery_id }))
            .unique(format!("deliver:{delivery_id}"))
            .priority(super::workflows::DELIVERY_PRIORITY)
            .max_attempts(5)
            .timeout_secs(300);
        job.run_after = at;
        job.owner_id = Some(owner_id);
        job
    }

    /// One language-model request (#23); `at`: a retry after the server was down or busy. Its
    /// own attempts cover a worker that died; the request's own limit (`llm.timeout_secs`, at
    /// most [`super::llm::MAX_TIMEOUT_SECS`]) comes first.
    pub fn llm_suggest(owner_id: Id, document_id: Id, request_id: Id, at: Option<Millis>) -> Self {
        let mut job = NewJob::new(JobSpec::LlmSuggest(super::llm::LlmArgs { request_id }))
            .unique(format!("llm_suggest:{request_id}"))
            .priority(super::llm::PRIORITY)
            .max_attempts(3)
            .timeout_secs(super::llm::MAX_TIMEOUT_SECS as i64 + 60)
            .for_document(owner_id, document_id);
        job.run_after = at;
        job
    }

    /// Trains the owner's classifier (one queued per owner at a time), below processing: a
    /// model a little late costs less than a page not yet searchable.
    pub fn train_classifier(owner_id: Id, force: bool) -> Self {
        let mut job = NewJob::new(JobSpec::TrainClassifier(super::classifier::TrainArgs { owner_id, force }))
            .unique(format!("train_classifier:{owner_id}"))
            .priority(-5)
            .max_attempts(3)
            .timeout_secs(3600);
        job.owner_id = Some(owner_id);
        job
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
    pub spec: JobSpec,
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
    pub fn kind(&self) -> &str {
        self.spec.kind()
    }
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
    fn the_payload_column_keeps_its_wire_format() {
        // Rows written before the typed jobs (and by older workers) read back the same.
        let page = JobSpec::ProcessPage(PageArgs { version_id: 7, index: 2 });
        assert_eq!(page.kind(), "process_page");
        assert_eq!(page.payload(), serde_json::json!({"version_id": 7, "index": 2}));
        assert_eq!(JobSpec::from_row("process_page", serde_json::json!({"version_id": 7, "index": 2})), page);
        assert_eq!(JobSpec::Prune(NoArgs {}).payload(), serde_json::json!({}));
        assert_eq!(JobSpec::from_row("noop", serde_json::json!({"i": 5})), JobSpec::Noop(NoArgs {}), "extra fields are ignored");
        let turn = JobSpec::from_row("rotate_page_images", serde_json::json!({"version_id": 3, "pages": [[2, 90, "abc"]]}));
        assert_eq!(turn, JobSpec::RotatePageImages(RotateArgs { version_id: 3, pages: vec![TurnedPage(2, 90, Some("abc".into()))] }));
        assert_eq!(JobSpec::TestAppend(TestAppendArgs { path: "p".into(), ..Default::default() }).kind(), "test.append");
    }

    #[test]
    fn an_unreadable_payload_is_a_value_with_its_reason() {
        let JobSpec::Unreadable { kind, error } = JobSpec::from_row("process_page", serde_json::json!({"version_id": "x"})) else {
            panic!("should not parse")
        };
        assert_eq!(kind, "process_page");
        assert!(error.contains("process_page job's arguments are unreadable"), "{error}");
        assert!(matches!(JobSpec::from_row("no_such_kind", serde_json::json!({})), JobSpec::Unreadable { .. }));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_millis(1, 0.0), 16_000);
        assert_eq!(backoff_millis(2, 0.0), 31_000);
        assert_eq!(backoff_millis(3, 0.0), 96_000);
        assert!(backoff_millis(3, 1.0) > backoff_millis(3, 0.0));
        assert_eq!(backoff_millis(50, 1.0), 3_600_000);
    }
}
