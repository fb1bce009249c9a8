//! The store interface, split by capability: small traits, one [`Store`] bound where everything
//! is needed. Two implementations (db::sqlite, db::postgres) pass the same
//! conformance suite (tests/it/store.rs). Every method that changes something a user can see
//! writes its event(s) in the same transaction (outbox). Every method scoped by `owner` answers
//! `NotFound` for another user's rows, exactly as for rows that do not exist.

use async_trait::async_trait;

use super::dates::FoundDate;
use super::jobs::{ClaimedJob, FailOutcome, JobView, Lease, NewJob};
use super::llm::{LlmAsk, LlmOutcome, LlmRequest};
use super::matching::{DocState as MatchState, MatchPlan, MatchRule, TargetKind, TargetRule};
use super::metadata::{DocumentPatch, FieldDef, FieldKind, HistoryEntry, Label, LabelKind, Note, SelectOption};
use super::path_templates::{PathTemplate, TemplateSpec};
use super::search::SearchQuery;
use super::views::{SavedView, ViewSpec};
use super::workflows::{Attempt, DeliveryView, Facts, PendingDelivery, Plan, Workflow, WorkflowRun, WorkflowSpec};
use super::*;

/// Which backend, migrations, health and totals.
#[async_trait]
pub trait Operations: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Export and import (`docmerge export` / `import`), see domain::archive.
    fn archive(&self) -> &dyn super::archive::ArchiveStore;
    /// Applies pending migrations (safe when several processes start at once).
    async fn migrate(&self) -> DomainResult<()>;
    /// `(applied, known)` migration counts; ready when equal.
    async fn migration_status(&self) -> DomainResult<(i64, i64)>;
    async fn ping(&self) -> DomainResult<()>;
    async fn totals(&self) -> DomainResult<Totals>;
}

/// Users, their tokens and login attempts.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates the user with its Home and Inbox folders. Conflict if the name is taken.
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> DomainResult<User>;
    async fn user_by_name(&self, username: &str) -> DomainResult<Option<UserWithHash>>;
    async fn user_by_id(&self, id: Id) -> DomainResult<Option<User>>;
    async fn list_users(&self) -> DomainResult<Vec<User>>;
    async fn count_users(&self) -> DomainResult<i64>;
    /// Changes a user. A new password or disabling revokes tokens as
    /// [`users::revocation_for`](super::users::revocation_for) says, with an `auth.revoked`
    /// event in the same transaction (live websockets of those tokens close).
    async fn update_user(
        &self,
        id: Id,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        keep_api_tokens: bool,
    ) -> DomainResult<User>;
    /// Stores only the token's hash (and the CSRF secret's hash for browser sessions).
    async fn create_token(
        &self,
        user_id: Id,
        name: &str,
        kind: TokenKind,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<Millis>,
    ) -> DomainResult<ApiToken>;
    /// The caller behind a token hash, if the token is valid, unexpired and its user enabled.
    async fn principal_by_token(&self, token_hash: &str) -> DomainResult<Option<Principal>>;
    async fn list_tokens(&self, user_id: Id, kind: TokenKind) -> DomainResult<Vec<ApiToken>>;
    /// Deletes the token, with an `auth.revoked` event (its live websockets close).
    async fn delete_token(&self, user_id: Id, token_id: Id) -> DomainResult<()>;
    /// In one serialised transaction: counts the failures of `account` (lower-cased user name)
    /// and `source` (client address) within the policy's window, asks `policy.decide`, and on
    /// `Proceed` records the attempt (as a failure until [`finish_login`](UserStore::finish_login)
    /// says it succeeded). Old attempts are pruned on the way.
    async fn begin_login(
        &self,
        account: &str,
        source: &str,
        policy: super::login::LoginPolicy,
    ) -> DomainResult<Result<super::login::LoginAttempt, super::login::LoginDecision>>;
    /// A successful attempt is deleted (it was no failure) and its source remembered as known
    /// for the user; a failed one stays counted.
    async fn finish_login(&self, attempt: super::login::LoginAttempt, succeeded_as: Option<Id>, source: &str) -> DomainResult<()>;
}

/// The folder tree of each owner.
#[async_trait]
pub trait FolderStore: Send + Sync + 'static {
    async fn root_folders(&self, owner: Id) -> DomainResult<(Folder, Folder)>;
    async fn folder(&self, owner: Id, id: Id) -> DomainResult<Folder>;
    /// From the root down to and including the folder.
    async fn breadcrumbs(&self, owner: Id, id: Id) -> DomainResult<Vec<(Id, String)>>;
    async fn folder_tags(&self, owner: Id, id: Id) -> DomainResult<Vec<Tag>>;
    async fn create_folder(&self, owner: Id, parent_id: Id, name: &str) -> DomainResult<Folder>;
    /// Rename and/or move. Moving into itself or a descendant is a Conflict.
    async fn update_folder(&self, owner: Id, id: Id, name: Option<&str>, parent_id: Option<Id>) -> DomainResult<Folder>;
    /// Folder, subfolders and their documents go to the trash together.
    async fn trash_folder(&self, owner: Id, id: Id) -> DomainResult<()>;
    async fn restore_folder(&self, owner: Id, id: Id) -> DomainResult<Folder>;
    /// Live (untrashed) children: folders first, then documents.
    async fn children(&self, owner: Id, id: Id, sort: ChildSort, page: PageReq) -> DomainResult<Paged<ChildItem>>;
    async fn set_folder_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<()>;
}

/// Documents, their versions and pages, the trash.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// One transaction: document + version 1 (queued) + `process_version` job + `document.created`.
    async fn create_upload(&self, upload: NewUpload) -> DomainResult<UploadOutcome>;
    async fn document(&self, owner: Id, id: Id) -> DomainResult<Document>;
    async fn list_documents(&self, owner: Id, filter: &DocumentFilter, page: PageReq) -> DomainResult<Paged<Document>>;
    /// Changes what the patch names, all or nothing (`tag_ids` replaces the set; field values
    /// are validated against their definitions, linked documents must be the owner's; a new
    /// document type adds its default fields). Emits `document.updated` (and `document.moved`
    /// on a move) and records the [`diff`](super::metadata::diff) in the history, by `owner`.
    async fn update_document(&self, owner: Id, id: Id, patch: &DocumentPatch) -> DomainResult<Document>;
    async fn change_document_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<Document>;
    /// The same tag change on many documents, all or nothing (NotFound when one of them is not
    /// the owner's); one `document.updated` each. Returns how many documents were changed.
    async fn change_tags_of_documents(&self, owner: Id, ids: &[Id], add: &[Id], remove: &[Id]) -> DomainResult<usize>;
    async fn trash_document(&self, owner: Id, id: Id) -> DomainResult<()>;
    async fn restore_document(&self, owner: Id, id: Id) -> DomainResult<Document>;
    /// Deletes a trashed document for good; returns the blob hashes no row refers to any more.
    async fn purge_document(&self, owner: Id, id: Id) -> DomainResult<Vec<String>>;
    /// Top-level trashed items (a trashed folder's content is not listed separately).
    async fn list_trash(&self, owner: Id, page: PageReq) -> DomainResult<Paged<ChildItem>>;
    /// Purges everything in the trash; returns the blob hashes no row refers to any more.
    async fn empty_trash(&self, owner: Id) -> DomainResult<Vec<String>>;
    async fn versions(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Version>>;
    /// The given version of the document (None: the current one).
    async fn version(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Version>;
    async fn pages(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Vec<Page>>;
    async fn page(&self, owner: Id, document_id: Id, version_id: Option<Id>, number: i32) -> DomainResult<Page>;
    /// Which of these stored files (sha256) a row still refers to (an original, a searchable
    /// PDF, a page image) — the sweep deletes only the others.
    async fn referenced_blobs(&self, shas: Vec<String>) -> DomainResult<Vec<String>>;
    /// Queues processing of the current version again (after a failure or a raised limit).
    async fn reprocess_document(&self, owner: Id, id: Id, max_attempts: i32) -> DomainResult<Id>;
    /// One chunk of a bulk edit in one transaction with the job's progress, fenced by the
    /// lease (`committed` false: the lease is gone, nothing written). Documents gone or in the
    /// trash are skipped; each changed document gets its history entry and events; the chunk
    /// emits `bulk.progress`.
    /// Of these ids (sorted), the ones that are the owner's documents, sorted.
    async fn owned_documents(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<Id>>;
    async fn bulk_edit_chunk(&self, lease: &Lease, chunk: &super::bulk::BulkChunk) -> DomainResult<super::bulk::ChunkOutcome>;
}

/// Tags of each owner.
#[async_trait]
pub trait TagStore: Send + Sync + 'static {
    async fn tags(&self, owner: Id) -> DomainResult<Vec<Tag>>;
    async fn create_tag(&self, owner: Id, name: &str, color: &str) -> DomainResult<Tag>;
    async fn update_tag(&self, owner: Id, id: Id, name: Option<&str>, color: Option<&str>) -> DomainResult<Tag>;
    async fn delete_tag(&self, owner: Id, id: Id) -> DomainResult<()>;
    /// Every document and folder carrying `from` carries `into` instead; `from` is deleted.
    /// Emits `tag.deleted` (from) and `tag.updated` (into). Returns the surviving tag.
    async fn merge_tags(&self, owner: Id, from: Id, into: Id) -> DomainResult<Tag>;
}

#[cfg(feature = "bench")]
/// Bulk loading for `docmerge bench` and the tests that need a large library. Not part of
/// [`Store`]: the product never calls it; [`crate::db::connect_bulk`] hands it out.
#[async_trait]
pub trait BulkLoad: Send + Sync + 'static {
    /// Writes finished documents in bulk (batched inserts in large transactions): documents,
    /// version 1 in state `ready`, pages, tags and the search index rows, exactly as upload +
    /// `finish_version` would, but without jobs or events. Only for `docmerge bench` on a fresh
    /// database; the folders and tags must belong to `owner`. Returns the document ids.
    async fn bulk_load_for_bench(&self, owner: Id, docs: Vec<SyntheticDoc>) -> DomainResult<Vec<Id>>;
    /// After a bulk load: refresh the planner statistics the way autovacuum would on PostgreSQL
    /// (VACUUM ANALYZE); SQLite: `PRAGMA optimize`.
    async fn analyze_after_bulk_load(&self) -> DomainResult<()>;
}

/// Full-text search over page text and titles.
#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    async fn search(&self, owner: Id, query: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>>;
}

/// The job table: enqueue, claim under a lease, heartbeat, complete (fenced), fail, reap.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Returns each job's id, or None where a queued/running job with the same unique key exists.
    async fn enqueue(&self, jobs: Vec<NewJob>) -> DomainResult<Vec<Option<Id>>>;
    /// Claims up to `limit` due jobs of the given kinds (all kinds when empty), highest priority
    /// first, then oldest `run_after`. Each claim bumps `lease_seq` and `attempts`.
    async fn claim(&self, worker_id: &str, kinds: &[String], limit: usize, lease_ms: Millis) -> DomainResult<Vec<ClaimedJob>>;
    /// Extends the leases still held; returns, per lease, whether it is still ours.
    async fn heartbeat(&self, leases: &[Lease], lease_ms: Millis) -> DomainResult<Vec<bool>>;
    /// Marks the jobs done; returns, per lease, whether the completion was accepted (fenced).
    async fn complete(&self, leases: &[Lease]) -> DomainResult<Vec<bool>>;
    /// Records a failed attempt: back to the queue with backoff, or `failed` when no attempts
    /// are left or `permanent`. None when the lease is no longer ours.
    async fn fail(&self, lease: &Lease, error: &str, permanent: bool) -> DomainResult<Option<FailOutcome>>;
    /// Gives a running job back to the queue without using up its attempt (graceful shutdown).
    async fn release(&self, lease: &Lease) -> DomainResult<bool>;
    /// Returns jobs whose lease expired to the queue (or `failed` when out of attempts).
    async fn reap_expired(&self) -> DomainResult<u64>;
    async fn job(&self, id: Id) -> DomainResult<JobView>;
    async fn jobs_for_owner(&self, owner: Id, document_id: Option<Id>, page: PageReq) -> DomainResult<Paged<JobView>>;
    /// A failed job (of this owner) back to the queue with fresh attempts.
    async fn retry_job(&self, owner: Id, id: Id) -> DomainResult<JobView>;
    async fn job_counts(&self) -> DomainResult<Vec<(String, String, i64)>>;
}

/// What the worker writes under a lease (one transaction each), and page edits.
#[async_trait]
pub trait Processing: Send + Sync + 'static {
    /// The version's pages are known: set `page_count`, mark it (and its document) processing,
    /// enqueue one job per page plus nothing else, and complete `lease` — one transaction.
    /// A zero-page result fails the document instead.
    async fn begin_version(&self, lease: &Lease, version_id: Id, page_count: i32, page_jobs: Vec<NewJob>) -> DomainResult<bool>;
    /// Stores one processed page and completes its job; when it was the last page, enqueues
    /// `finish_job`. Emits `job.progress` (page n of N). One transaction.
    async fn store_page(&self, lease: &Lease, version_id: Id, page: PageRecord, finish_job: NewJob) -> DomainResult<bool>;
    /// Marks the version and document ready, indexes page text for search, records the
    /// searchable PDF, emits `document.ready`, completes the job — one transaction. A date
    /// found in the text becomes the document's date unless a user set one
    /// ([`lifecycle::date_found`](super::lifecycle::date_found)).
    async fn finish_version(
        &self,
        lease: &Lease,
        version_id: Id,
        searchable_sha256: Option<&str>,
        found: Option<FoundDate>,
    ) -> DomainResult<bool>;
    /// Marks the version and its document failed with the reason in words; emits `document.failed`.
    async fn fail_version(&self, version_id: Id, error: &str) -> DomainResult<()>;
    /// For the worker: the version row without owner scoping.
    async fn version_by_id(&self, version_id: Id) -> DomainResult<Version>;
    async fn page_records(&self, version_id: Id) -> DomainResult<Vec<Page>>;
    /// One transaction: checks every document of the edit is the owner's, live, ready and still
    /// at the version the client saw (Conflict otherwise), then writes each new version (state
    /// `ready`, pages copied with their text), makes it current, moves the search index rows,
    /// creates/trashes documents, queues `rotate_page_images` for turned pages and emits
    /// `document.updated` / `document.created` / `document.trashed`.
    async fn apply_page_edit(&self, edit: super::pages::PageEdit) -> DomainResult<super::pages::PageEditOutcome>;
    /// Replaces the thumbnail and preview of pages of a version (number, thumbnail, preview)
    /// and emits `document.updated` when the version is still current.
    async fn set_page_images(&self, version_id: Id, pages: Vec<(i32, String, String)>) -> DomainResult<()>;
}

/// The event table (outbox) and change notifications.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Events with id > `after` (all owners when `owner` is None), oldest first.
    async fn events_after(&self, owner: Option<Id>, after: Id, limit: i64) -> DomainResult<Vec<Event>>;
    async fn latest_event_id(&self) -> DomainResult<Id>;
    async fn prune_events(&self, older_than: Millis) -> DomainResult<u64>;
    /// Waits until something may have changed in the job or event tables (LISTEN/NOTIFY on
    /// PostgreSQL); returns at the latest after `timeout`. SQLite: just sleeps (callers poll).
    async fn wait_for_change(&self, channel: WakeChannel, timeout: std::time::Duration);
}

/// Correspondents, document types, custom fields, notes, ASNs and each document's history.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// The owner's correspondents or document types by name, with live document counts.
    async fn labels(&self, owner: Id, kind: LabelKind) -> DomainResult<Vec<Label>>;
    /// Conflict if the name is taken. `default_fields` (document types only) must be the owner's.
    async fn create_label(&self, owner: Id, kind: LabelKind, name: &str, color: Option<&str>, default_fields: &[Id])
    -> DomainResult<Label>;
    async fn update_label(
        &self,
        owner: Id,
        kind: LabelKind,
        id: Id,
        name: Option<&str>,
        color: Option<Option<&str>>,
        default_fields: Option<&[Id]>,
    ) -> DomainResult<Label>;
    /// Documents that had it keep nothing in its place.
    async fn delete_label(&self, owner: Id, kind: LabelKind, id: Id) -> DomainResult<()>;
    /// Documents of `from` get `into` (each with a history entry); `from` is deleted.
    async fn merge_labels(&self, owner: Id, kind: LabelKind, from: Id, into: Id) -> DomainResult<Label>;

    async fn fields(&self, owner: Id) -> DomainResult<Vec<FieldDef>>;
    async fn field(&self, owner: Id, id: Id) -> DomainResult<FieldDef>;
    /// Conflict if the name is taken.
    async fn create_field(
        &self,
        owner: Id,
        name: &str,
        kind: FieldKind,
        currency: Option<&str>,
        options: &[SelectOption],
    ) -> DomainResult<FieldDef>;
    /// Renames, changes the default currency, or replaces the options of a select field
    /// (already validated against the old ones: kept ids keep their values; values of a removed
    /// option are emptied). The kind never changes.
    async fn update_field(
        &self,
        owner: Id,
        id: Id,
        name: Option<&str>,
        currency: Option<Option<&str>>,
        options: Option<&[SelectOption]>,
    ) -> DomainResult<FieldDef>;
    /// The field and its values on every document.
    async fn delete_field(&self, owner: Id, id: Id) -> DomainResult<()>;

    /// One more than the largest ASN the owner uses (1 when none).
    async fn next_asn(&self, owner: Id) -> DomainResult<i64>;

    async fn notes(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Note>>;
    /// Notes are searchable with the document's title; each is recorded in the history.
    async fn add_note(&self, owner: Id, document_id: Id, author: Id, body: &str) -> DomainResult<Note>;
    /// Forbidden unless `author` wrote it.
    async fn update_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id, body: &str) -> DomainResult<Note>;
    /// Forbidden unless `author` wrote it.
    async fn delete_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id) -> DomainResult<()>;

    /// The owner's saved views by position, then name.
    async fn views(&self, owner: Id) -> DomainResult<Vec<SavedView>>;
    async fn view(&self, owner: Id, id: Id) -> DomainResult<SavedView>;
    /// Conflict if the name is taken. The spec is validated already.
    async fn create_view(&self, owner: Id, spec: &ViewSpec) -> DomainResult<SavedView>;
    async fn update_view(&self, owner: Id, id: Id, spec: &ViewSpec) -> DomainResult<SavedView>;
    async fn delete_view(&self, owner: Id, id: Id) -> DomainResult<()>;

    /// Newest first.
    async fn history(&self, owner: Id, document_id: Id, page: PageReq) -> DomainResult<Paged<HistoryEntry>>;
}

/// Matching rules (#23) and what they need: each document's text and state, and applying
/// a plan with its history.
#[async_trait]
pub trait MatchStore: Send + Sync + 'static {
    /// The owner's rules whose targets exist and are not in the trash, by kind then name.
    async fn match_rules(&self, owner: Id) -> DomainResult<Vec<TargetRule>>;
    /// Sets the target's rule (validated already); `Algorithm::None` removes it. NotFound when
    /// the target is not the owner's.
    async fn set_match_rule(&self, owner: Id, kind: TargetKind, target_id: Id, rule: &MatchRule) -> DomainResult<Option<TargetRule>>;
    /// Each live document's state and text (its current version's pages in order, at most
    /// [`super::matching::MAX_TEXT_CHARS`]); missing, foreign and trashed ids are left out.
    async fn match_inputs(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<(MatchState, String)>>;
    /// Applies plans (each re-checked against the document as it is now: a slot the user
    /// filled meanwhile stays theirs), with a `matched` history entry naming the rules. With a
    /// fence, only while the job's lease holds, committing its progress with the chunk; false
    /// when the lease was lost (nothing written).
    async fn apply_matches(&self, owner: Id, plans: &[MatchPlan], fence: Option<&ChunkFence>) -> DomainResult<bool>;
}

/// What the auto classifier learns from and keeps (#23).
#[async_trait]
pub trait ClassifierStore: Send + Sync + 'static {
    /// Users with at least `min` live, processed documents.
    async fn classifier_owners(&self, min: usize) -> DomainResult<Vec<Id>>;
    /// A short text that changes whenever the owner's filing may have (a document added,
    /// edited, filed, tagged or trashed): an unchanged library is not trained again.
    /// Also: how many live, processed documents the owner has.
    async fn training_fingerprint(&self, owner: Id) -> DomainResult<(usize, String)>;
    /// Up to `limit` live, processed documents of the owner's with ids above `after`, in id
    /// order, as examples (their first pages, at most [`super::classifier::TEXT_CHARS`]):
    /// correspondent and type when set, folder when it is not the Inbox, tags when it has any.
    async fn training_examples(&self, owner: Id, after: Id, limit: usize) -> DomainResult<Vec<(Id, super::classifier::Example)>>;
    /// Stores a new model as the owner's newest (the older ones but two are deleted).
    async fn save_classifier(
        &self,
        owner: Id,
        fingerprint: &str,
        stats: &super::classifier::TrainStats,
        model: &[u8],
    ) -> DomainResult<super::classifier::ClassifierInfo>;
    async fn newest_classifier(&self, owner: Id) -> DomainResult<Option<super::classifier::ClassifierInfo>>;
    /// A model's bytes (None: it is gone, a newer one replaced it).
    async fn classifier_model(&self, owner: Id, id: Id) -> DomainResult<Option<Vec<u8>>>;
}

/// Path templates (#23) and placing documents by them.
#[async_trait]
pub trait PathTemplateStore: Send + Sync + 'static {
    /// The owner's templates by name, with how many live documents each places.
    async fn path_templates(&self, owner: Id) -> DomainResult<Vec<PathTemplate>>;
    async fn path_template(&self, owner: Id, id: Id) -> DomainResult<PathTemplate>;
    /// Conflict if the name is taken. The spec is validated already.
    async fn create_path_template(&self, owner: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate>;
    /// The documents it places are placed again (by the `place_documents` job).
    async fn update_path_template(&self, owner: Id, id: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate>;
    /// Documents it placed stay where they are, without a template; so do document types.
    async fn delete_path_template(&self, owner: Id, id: Id) -> DomainResult<()>;
    /// A document type's template (None: none). The type's documents that had no template, or
    /// the type's previous one, get the new one by a bulk edit job queued in the same
    /// transaction (its id; None when there is nothing to give).
    async fn set_type_path_template(&self, owner: Id, type_id: Id, template: Option<Id>) -> DomainResult<Option<Id>>;
    /// Places up to `limit` of the owner's documents waiting to be placed (creating folders as
    /// needed; a `placed` history entry for each one moved), while the job's lease holds.
    /// None: the lease is lost (nothing written).
    async fn place_due(&self, owner: Id, limit: usize, lease: &Lease) -> DomainResult<Option<PlaceBatch>>;
}

/// Workflows (#23), their runs and deliveries.
#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// The owner's workflows in the order they run (position, then id).
    async fn workflows(&self, owner: Id) -> DomainResult<Vec<Workflow>>;
    async fn workflow(&self, owner: Id, id: Id) -> DomainResult<Workflow>;
    /// Conflict if the name is taken; NotFound when an id it names is not the owner's. The
    /// spec is validated already.
    async fn create_workflow(&self, owner: Id, spec: &WorkflowSpec) -> DomainResult<Workflow>;
    async fn update_workflow(&self, owner: Id, id: Id, spec: &WorkflowSpec) -> DomainResult<Workflow>;
    /// Its runs stay (with its name).
    async fn delete_workflow(&self, owner: Id, id: Id) -> DomainResult<()>;
    /// The document as a workflow sees it (NotFound when it is not the owner's or is gone).
    async fn workflow_facts(&self, owner: Id, document_id: Id) -> DomainResult<Facts>;
    /// Records the run and, when its outcome is `applied`, does what the plan says — edits (as
    /// `workflow` in the history; they do not fire `updated` workflows), notes, the trash, and
    /// each delivery with its `deliver` job — in one transaction. None: this run (workflow,
    /// document, event key) was recorded before; nothing is done twice.
    async fn apply_workflow(&self, owner: Id, run: &NewRun, plan: &Plan) -> DomainResult<Option<Id>>;
    /// Newest first; of one workflow and/or one document.
    async fn workflow_runs(&self, owner: Id, workflow: Option<Id>, document: Option<Id>, page: PageReq)
    -> DomainResult<Paged<WorkflowRun>>;
    /// For the deliver job (no owner scope): None when it is gone.
    async fn delivery(&self, id: Id) -> DomainResult<Option<PendingDelivery>>;
    /// Records an attempt and completes the job (fenced by its lease) in one transaction; a
    /// failure with `retry_at` queues the next attempt. False: the lease was lost (nothing written).
    async fn record_attempt(&self, lease: &Lease, id: Id, attempt: &Attempt) -> DomainResult<bool>;
    /// A failed delivery of the owner's is tried again (from its first retry).
    async fn retry_delivery(&self, owner: Id, id: Id) -> DomainResult<DeliveryView>;
    /// Scheduled workflows due for documents: up to `limit` of (owner, workflow, document),
    /// over every owner, whose date + offset is `today` or earlier and that have not run.
    async fn scheduled_due(&self, today: chrono::NaiveDate, limit: usize) -> DomainResult<Vec<(Id, Id, Id)>>;
    /// Deletes runs (and their deliveries) and finished language-model requests older than
    /// `before`; returns how many runs.
    async fn prune_runs(&self, before: Millis) -> DomainResult<u64>;
}

/// Language-model requests (#23, domain::llm).
#[async_trait]
pub trait LlmStore: Send + Sync + 'static {
    /// A user's question about their document: the request and its `llm_suggest` job, in one
    /// transaction. NotFound when the document is not the owner's or is in the trash; Conflict
    /// when a request about it is still pending.
    async fn ask_llm(&self, owner: Id, document_id: Id, ask: &LlmAsk) -> DomainResult<LlmRequest>;
    /// For the job (no owner scope): None when it is gone.
    async fn llm_request(&self, id: Id) -> DomainResult<Option<LlmRequest>>;
    /// The owner's requests about a document, newest first (at most `limit`); NotFound when
    /// the document is not the owner's.
    async fn llm_requests(&self, owner: Id, document_id: Id, limit: usize) -> DomainResult<Vec<LlmRequest>>;
    /// Tokens the owner's requests used since `since` (the daily budget).
    async fn llm_tokens_since(&self, owner: Id, since: Millis) -> DomainResult<i64>;
    /// Records how a request ended and completes its job (fenced by its lease) in one
    /// transaction: an answer in apply mode is set on the document (as `llm` in its history;
    /// it does not fire `updated` workflows); a failure with `retry_at` stays pending and
    /// queues the next attempt. False: the lease was lost (nothing written).
    async fn finish_llm(&self, lease: &Lease, id: Id, outcome: &LlmOutcome) -> DomainResult<bool>;
    /// The document's finished requests are no longer offered on its page.
    async fn dismiss_llm(&self, owner: Id, document_id: Id) -> DomainResult<()>;
}

/// A run about to be recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    pub workflow_id: Id,
    pub workflow_name: String,
    pub document_id: Id,
    pub trigger: String,
    pub event_key: String,
    /// `applied`, `skipped` or `failed`.
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// What one [`PathTemplateStore::place_due`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaceBatch {
    /// Documents looked at.
    pub seen: usize,
    /// Documents moved.
    pub moved: usize,
    /// More documents are waiting.
    pub more: bool,
}

/// A job's chunk commits with its progress, under its lease.
#[derive(Clone, Debug)]
pub struct ChunkFence {
    pub lease: Lease,
    pub done_after: i64,
    pub total: i64,
}

/// Everything the product needs from a backend.
pub trait Store:
    Operations
    + UserStore
    + FolderStore
    + DocumentStore
    + TagStore
    + MetadataStore
    + MatchStore
    + ClassifierStore
    + PathTemplateStore
    + WorkflowStore
    + LlmStore
    + SearchStore
    + JobQueue
    + Processing
    + EventStore
{
}

impl<
    T: Operations
        + UserStore
        + FolderStore
        + DocumentStore
        + TagStore
        + MetadataStore
        + MatchStore
        + ClassifierStore
        + PathTemplateStore
        + WorkflowStore
        + LlmStore
        + SearchStore
        + JobQueue
        + Processing
        + EventStore,
> Store for T
{
}

/// A store that can also bulk-load (benchmarks and tests).
#[cfg(feature = "bench")]
pub trait BulkStore: Store + BulkLoad {}

#[cfg(feature = "bench")]
impl<T: Store + BulkLoad> BulkStore for T {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeChannel {
    Jobs,
    Events,
}
