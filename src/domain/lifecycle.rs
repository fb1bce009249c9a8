//! The life of a document as rules: upload, processing progress, reprocess, trash, restore,
//! purge. Plain functions of what the store has read; they answer what to refuse and which jobs
//! and events to write. The store reads, asks, and writes the answer in the same transaction
//! (the ids a rule needs are the ones the store has just allocated), so both backends follow one
//! set of rules and only persist.
//!
//! Why functions the store calls inside its transaction rather than a plan handed over before
//! it: a rule depends on what only the transaction can see consistently (is there an earlier
//! copy, is this the last page, is the old folder still live), and on ids that exist only once
//! the rows are written.

use super::events::{DocumentCreated, DocumentTrashed, DocumentUpdated, EventData, NewEvent};
use super::jobs::NewJob;
use super::{Document, DomainError, DomainResult, Folder, FolderKind, Id};

// ---- upload ------------------------------------------------------------------------------------

/// What the store found for an upload's content among the owner's documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlierCopy {
    pub document_id: Id,
    /// A processed version (of any of the owner's documents) of exactly these bytes, if any.
    pub ready_version: Option<Id>,
}

/// How an upload goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The earlier document with the same content (shown as a duplicate).
    pub duplicate_of: Option<Id>,
    /// A processed version of the same bytes whose pages, text, thumbnails and searchable PDF
    /// the new document takes over instead of being processed again (same bytes, same result;
    /// a reprocess asked for later still runs the whole pipeline).
    pub reuse: Option<Id>,
}

/// The upload is admitted, or refused because the client asked to refuse duplicates.
pub fn admit_upload(reject_duplicates: bool, earlier: Option<EarlierCopy>) -> DomainResult<Admission> {
    match earlier {
        Some(e) if reject_duplicates => {
            Err(DomainError::Conflict(format!("this file is already in your library as document {}", e.document_id)))
        }
        Some(e) => Ok(Admission { duplicate_of: Some(e.document_id), reuse: e.ready_version }),
        None => Ok(Admission { duplicate_of: None, reuse: None }),
    }
}

/// What a new upload writes besides its rows: `document.created`, then either the processing
/// job or, for a copy that took over a processed version's results, `document.ready`.
pub struct Uploaded {
    pub process: Option<NewJob>,
    pub events: Vec<NewEvent>,
}

/// `reused`: the page count taken over from an earlier processed copy (see [`Admission`]).
pub fn uploaded(owner: Id, folder_id: Id, title: &str, ids: (Id, Id), max_attempts: i32, reused: Option<i32>) -> Uploaded {
    let (document_id, version_id) = ids;
    let created = NewEvent::document(
        owner,
        document_id,
        EventData::DocumentCreated(DocumentCreated { title: title.to_string(), folder_id, operation: None, page_count: reused }),
    );
    match reused {
        Some(page_count) => Uploaded {
            process: None,
            events: vec![created, NewEvent::document(owner, document_id, EventData::DocumentReady { page_count, version_id })],
        },
        None => Uploaded { process: Some(NewJob::process_version(owner, document_id, version_id, max_attempts)), events: vec![created] },
    }
}

/// The processing job of a new upload could not be queued: one is already there.
pub fn already_queued() -> DomainError {
    DomainError::Conflict("processing is already queued".into())
}

// ---- reprocess ---------------------------------------------------------------------------------

/// Processing the current version again: the job and the `document.updated` (state queued) event.
/// The store forgets the earlier run's pages before writing them.
pub struct Reprocess {
    pub process: NewJob,
    pub updated: NewEvent,
}

pub fn reprocess(doc: &Document, max_attempts: i32) -> Reprocess {
    Reprocess {
        process: NewJob::process_version(doc.owner_id, doc.id, doc.version.id, max_attempts),
        updated: queued_again(doc.owner_id, doc.id),
    }
}

/// The job could not be queued because processing of the version is queued or running.
pub fn already_processing() -> DomainError {
    DomainError::Conflict("this document is already being processed".into())
}

/// A document goes back to the queue (reprocess, or a failed job retried).
pub fn queued_again(owner: Id, document_id: Id) -> NewEvent {
    NewEvent::document(
        owner,
        document_id,
        EventData::DocumentUpdated(DocumentUpdated { state: Some("queued".into()), ..Default::default() }),
    )
}

/// How the failures that lie in the file itself are worded (the pipeline's messages for an
/// unsupported, empty, damaged or password-protected file, and a file without pages): the same
/// bytes fail the same way again, so reprocessing cannot help. A page or pixel limit, a missing
/// runtime file, a timeout or an I/O error can change: those may be worth a reprocess.
pub const FILE_FAULTS: [&str; 5] =
    ["unsupported file type", "the file is empty", "the file is truncated or damaged", "password-protected PDF", "the file has no pages"];

/// Whether reprocessing a document that failed with `error` may help (true when it did not fail).
pub fn reprocess_helps(error: Option<&str>) -> bool {
    // (Contained, not a prefix: a page's failure reads "page 3: the file is truncated …".)
    error.is_none_or(|e| !FILE_FAULTS.iter().any(|f| e.contains(f)))
}

// ---- processing --------------------------------------------------------------------------------

/// What happens once the number of pages of a version is known.
#[derive(Debug)]
pub enum PagesKnown {
    /// Nothing to process: the document fails in words instead of waiting forever for a
    /// finishing job that no page would ever queue.
    Fails { error: &'static str, event: NewEvent },
    /// The page jobs go in, with `document.processing`.
    Processes { event: NewEvent },
}

pub fn pages_known(owner: Id, document_id: Id, page_count: i32) -> PagesKnown {
    if page_count <= 0 {
        let error = "the file has no pages";
        PagesKnown::Fails { error, event: failed(owner, document_id, error) }
    } else {
        PagesKnown::Processes { event: NewEvent::document(owner, document_id, EventData::DocumentProcessing { pages: page_count }) }
    }
}

/// Where a version's processing stands after a page was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// This page was new (not a repeat after a lost lease).
    pub newly_stored: bool,
    pub done: i32,
    pub total: i32,
}

/// A stored page: `job.progress` when it was new, and the finishing job once every page is in.
pub fn page_stored(owner: Id, document_id: Id, p: Progress, finish: NewJob) -> (Option<NewEvent>, Option<NewJob>) {
    let event = p.newly_stored.then(|| NewEvent::document(owner, document_id, EventData::JobProgress { page: p.done, pages: p.total }));
    (event, (p.done >= p.total).then_some(finish))
}

/// A finished version: `document.ready` when it is (still) the document's current version; an
/// older version finishing late changes nothing the user sees.
pub fn version_finished(owner: Id, document_id: Id, version_id: Id, page_count: i32, is_current: bool) -> Option<NewEvent> {
    is_current.then(|| NewEvent::document(owner, document_id, EventData::DocumentReady { page_count, version_id }))
}

/// The reason given to the other page jobs of a version when one page failed.
pub const ANOTHER_PAGE_FAILED: &str = "another page of this document failed";

/// The reason a document fails when its job's worker stopped responding for the last time.
pub const WORKER_LOST: &str = "the worker running this job stopped responding (its lease expired)";

pub fn failed(owner: Id, document_id: Id, error: &str) -> NewEvent {
    NewEvent::document(owner, document_id, EventData::DocumentFailed { error: error.to_string() })
}

// ---- trash, restore, purge ---------------------------------------------------------------------

/// Trashing: nothing to do for a document already in the trash, else `document.trashed`.
pub fn trash(doc: &Document) -> Option<NewEvent> {
    doc.trashed_at.is_none().then(|| {
        NewEvent::document(doc.owner_id, doc.id, EventData::DocumentTrashed(DocumentTrashed { folder_id: doc.folder_id, operation: None }))
    })
}

/// Restoring goes back where the document was, unless that folder is gone to the trash too:
/// then to the Inbox. None: the document is not in the trash, nothing to do.
pub fn restore(doc: &Document, old_folder_live: bool, inbox: Id) -> Option<(Id, NewEvent)> {
    doc.trashed_at.is_some().then(|| {
        let folder = if old_folder_live { doc.folder_id } else { inbox };
        (folder, NewEvent::document(doc.owner_id, doc.id, EventData::DocumentRestored { folder_id: folder }))
    })
}

/// Trashing a folder (with its subtree and documents): Home and Inbox cannot go.
pub fn trash_folder(f: &Folder) -> DomainResult<NewEvent> {
    if f.kind != FolderKind::Folder {
        return Err(DomainError::Conflict(format!("the {} folder cannot be deleted", f.name)));
    }
    Ok(NewEvent::folder(f.owner_id, f.id, EventData::FolderTrashed { parent_id: f.parent_id }))
}

/// Restoring a folder goes back under its parent, unless the parent is in the trash too: then
/// under Home. None: the folder is not in the trash.
pub fn restore_folder(f: &Folder, parent_live: bool, home: Id) -> Option<(Option<Id>, NewEvent)> {
    f.trashed_at.is_some().then(|| {
        let parent = if parent_live || f.parent_id.is_none() { f.parent_id } else { Some(home) };
        (parent, NewEvent::folder(f.owner_id, f.id, EventData::FolderRestored { parent_id: parent }))
    })
}

/// Why a restore is refused when the folder would sit beside one of the same name (a Conflict).
pub fn restored_name_taken(name: &str) -> String {
    format!("a folder named {name:?} exists where this one would be restored; rename one of them first")
}

/// Only a document in the trash can be deleted for good.
pub fn check_purgeable(doc: &Document) -> DomainResult<()> {
    if doc.trashed_at.is_none() {
        return Err(DomainError::Conflict("only a document in the trash can be deleted for good; move it to the trash first".into()));
    }
    Ok(())
}

/// Deleted for good: one event per document and folder, and a sweep of the files no row refers
/// to any more (the sweep checks again, so an identical upload landing meanwhile keeps its file).
pub struct Purged {
    pub events: Vec<NewEvent>,
    pub sweep: Option<NewJob>,
}

pub fn purged(owner: Id, documents: &[Id], folders: &[Id], freed: &[String]) -> Purged {
    let events = documents
        .iter()
        .map(|d| NewEvent::document(owner, *d, EventData::DocumentDeleted {}))
        .chain(folders.iter().map(|f| NewEvent::folder(owner, *f, EventData::FolderDeleted {})))
        .collect();
    Purged { events, sweep: (!freed.is_empty()).then(|| NewJob::sweep_freed(freed.to_vec())) }
}

// ---- the document's date --------------------------------------------------------------------

/// What a finished version's found date changes: the document's date and its source (ISO date,
/// `extracted:<rule>`) and the history entry. Nothing when the version is no longer current,
/// when a user set the date (their word stands), or when nothing was found or it is unchanged.
pub fn date_found(
    document_id: Id,
    current: (Option<&str>, Option<&str>),
    is_current: bool,
    found: Option<&crate::domain::dates::FoundDate>,
) -> Option<(String, String, crate::domain::metadata::NewHistory)> {
    let (current_date, current_source) = current;
    let found = found?;
    if !is_current || current_source == Some(crate::domain::metadata::DATE_BY_USER) {
        return None;
    }
    let iso = found.date.format("%Y-%m-%d").to_string();
    let source = crate::domain::metadata::date_source_extracted(found.rule);
    if current_date == Some(iso.as_str()) && current_source == Some(source.as_str()) {
        return None;
    }
    let history = crate::domain::metadata::NewHistory {
        document_id,
        actor_id: None,
        action: crate::domain::metadata::actions::DATE_FOUND,
        changes: serde_json::json!({"date": [current_date, iso], "rule": found.rule, "text": found.text}),
    };
    Some((iso, source, history))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::jobs::JobSpec;

    #[test]
    fn duplicates_are_kept_or_refused_as_asked() {
        assert_eq!(admit_upload(false, None).unwrap(), Admission { duplicate_of: None, reuse: None });
        let still_processing = EarlierCopy { document_id: 7, ready_version: None };
        assert_eq!(admit_upload(false, Some(still_processing)).unwrap(), Admission { duplicate_of: Some(7), reuse: None });
        let processed = EarlierCopy { document_id: 7, ready_version: Some(70) };
        assert_eq!(admit_upload(false, Some(processed)).unwrap(), Admission { duplicate_of: Some(7), reuse: Some(70) });
        let e = admit_upload(true, Some(processed)).unwrap_err();
        assert!(matches!(e, DomainError::Conflict(ref m) if m.contains("document 7")), "{e:?}");
        assert_eq!(admit_upload(true, None).unwrap().duplicate_of, None);
    }

    #[test]
    fn a_copy_of_a_processed_file_is_ready_without_a_job() {
        let fresh = uploaded(1, 2, "t", (3, 4), 5, None);
        assert!(fresh.process.is_some());
        assert_eq!(fresh.events.len(), 1);
        let copy = uploaded(1, 2, "t", (3, 4), 5, Some(6));
        assert!(copy.process.is_none());
        assert_eq!(copy.events[1].data, EventData::DocumentReady { page_count: 6, version_id: 4 });
    }

    #[test]
    fn reprocessing_helps_unless_the_file_is_at_fault() {
        assert!(reprocess_helps(None));
        assert!(reprocess_helps(Some("document has 900 pages, over the limit of 500")));
        assert!(!reprocess_helps(Some("password-protected PDF; remove the password and upload it again")));
        assert!(!reprocess_helps(Some("page 2: the file is truncated or damaged: bad xref")));
        let PagesKnown::Fails { error, .. } = pages_known(1, 2, 0) else { panic!() };
        assert!(!reprocess_helps(Some(error)));
    }

    #[test]
    fn an_empty_file_fails_instead_of_waiting() {
        assert!(matches!(pages_known(1, 2, 0), PagesKnown::Fails { error, .. } if error.contains("no pages")));
        match pages_known(1, 2, 3) {
            PagesKnown::Processes { event } => assert_eq!(event.data, EventData::DocumentProcessing { pages: 3 }),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_last_page_queues_the_finish_and_repeats_report_nothing() {
        let finish = || NewJob::sweep_freed(vec![]);
        let (ev, job) = page_stored(1, 2, Progress { newly_stored: true, done: 1, total: 2 }, finish());
        assert_eq!(ev.unwrap().data, EventData::JobProgress { page: 1, pages: 2 });
        assert!(job.is_none());
        let (ev, job) = page_stored(1, 2, Progress { newly_stored: true, done: 2, total: 2 }, finish());
        assert!(ev.is_some() && job.is_some());
        let (ev, job) = page_stored(1, 2, Progress { newly_stored: false, done: 2, total: 2 }, finish());
        assert!(ev.is_none(), "a page stored twice (lost lease) reports no progress");
        assert!(job.is_some(), "but the finish is still queued (its unique key keeps it single)");
    }

    #[test]
    fn a_late_old_version_changes_nothing_visible() {
        assert!(version_finished(1, 2, 3, 4, false).is_none());
        assert_eq!(version_finished(1, 2, 3, 4, true).unwrap().data, EventData::DocumentReady { page_count: 4, version_id: 3 });
    }

    #[test]
    fn purge_sweeps_only_when_something_was_freed() {
        let p = purged(1, &[5, 6], &[9], &[]);
        assert_eq!(p.events.len(), 3);
        assert!(p.sweep.is_none());
        let p = purged(1, &[5], &[], &["ab".into()]);
        assert!(matches!(p.sweep.unwrap().spec, JobSpec::SweepBlobs(ref a) if a.candidates.as_deref() == Some(&["ab".to_string()][..])));
    }
}
