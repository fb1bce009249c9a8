//! Page operations (rotate, delete, reorder, move, extract, merge, restore a version) as the
//! store sees them: the complete new page list of every document that changes, already planned
//! and with its PDF already assembled. The store checks, inside ONE transaction, that every
//! document is still at the version the client saw, then writes all new versions at once — so
//! no reader ever sees pages in both documents or in neither.

use super::events::{DocumentCreated, DocumentTrashed, DocumentUpdated, EventData, NewEvent};
use super::jobs::{JobSpec, NewJob, RotateArgs, TurnedPage};
use super::{DomainError, DomainResult, Id, PageRecord};

/// The file of a new version (the assembled PDF, or for a restore the older version's file).
#[derive(Clone, Debug)]
pub struct VersionFile {
    pub filename: String,
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub searchable_sha256: Option<String>,
}

/// One page of a new version: copied from `(from_version, from_number)`, text and boxes kept.
#[derive(Clone, Debug)]
pub struct NewPage {
    pub record: PageRecord,
    pub from_version: Id,
    pub from_number: i32,
    /// Clockwise degrees this operation turned the page by (its images are turned by a job).
    pub rotated: u16,
}

/// A new version of an existing document.
#[derive(Clone, Debug)]
pub struct DocEdit {
    pub document_id: Id,
    /// The version the client saw; the edit fails with a Conflict if it is no longer current.
    pub base_version_id: Id,
    pub file: VersionFile,
    pub note: String,
    pub pages: Vec<NewPage>,
}

/// A document created by the operation (move to a new document, extract).
#[derive(Clone, Debug)]
pub struct NewDocument {
    pub folder_id: Id,
    pub title: String,
    /// Tags to copy onto the new document.
    pub tags_from: Option<Id>,
    pub file: VersionFile,
    pub note: String,
    pub pages: Vec<NewPage>,
}

#[derive(Clone, Debug)]
pub struct PageEdit {
    pub owner: Id,
    /// What the operation was, for the events (`rotate`, `move`, …).
    pub operation: &'static str,
    pub edits: Vec<DocEdit>,
    pub create: Option<NewDocument>,
    /// Documents (id, version seen) that go to the trash (merged into another one).
    pub trash: Vec<(Id, Id)>,
    /// Documents (id, version seen) only read (extract's source): they must still be current.
    pub unchanged: Vec<(Id, Id)>,
    pub max_attempts: i32,
}

impl PageEdit {
    /// `document.updated` for an edited document's new current version.
    pub fn updated_event(&self, doc: Id, version_id: Id, page_count: usize) -> NewEvent {
        NewEvent::document(
            self.owner,
            doc,
            EventData::DocumentUpdated(DocumentUpdated {
                operation: Some(self.operation.to_string()),
                version_id: Some(version_id),
                page_count: Some(page_count as i32),
                ..Default::default()
            }),
        )
    }

    /// `document.created` for the document the edit made (split, extract).
    pub fn created_event(&self, doc: Id, created: &NewDocument) -> NewEvent {
        NewEvent::document(
            self.owner,
            doc,
            EventData::DocumentCreated(DocumentCreated {
                title: created.title.to_string(),
                folder_id: created.folder_id,
                operation: Some(self.operation.to_string()),
                page_count: Some(created.pages.len() as i32),
            }),
        )
    }

    /// `document.trashed` for a document the edit emptied (merged into another one).
    pub fn trashed_event(&self, doc: Id, folder_id: Id) -> NewEvent {
        NewEvent::document(
            self.owner,
            doc,
            EventData::DocumentTrashed(DocumentTrashed { folder_id, operation: Some(self.operation.to_string()) }),
        )
    }

    /// Every (document, version seen) the edit depends on, sorted by document id (the order
    /// PostgreSQL locks them in, so two edits never deadlock).
    pub fn checked_documents(&self) -> Vec<(Id, Id)> {
        let mut all: Vec<(Id, Id)> = self.edits.iter().map(|e| (e.document_id, e.base_version_id)).collect();
        all.extend(self.trash.iter().copied());
        all.extend(self.unchanged.iter().copied());
        all.sort();
        all.dedup();
        all
    }

    /// The job that turns the images of the pages this edit turned in new version
    /// `version_id` of `doc`, if any. Each page is listed as (number, degrees, thumbnail
    /// before): the job skips a page whose thumbnail is no longer that one, so a retried job
    /// never turns a page twice.
    pub fn rotation_job(&self, doc: Id, version_id: Id, pages: &[NewPage]) -> Option<NewJob> {
        let turned: Vec<TurnedPage> = pages
            .iter()
            .filter(|p| !p.rotated.is_multiple_of(360))
            .map(|p| TurnedPage(p.record.number, p.rotated % 360, p.record.thumbnail_sha256.clone()))
            .collect();
        if turned.is_empty() {
            return None;
        }
        let job = NewJob::new(JobSpec::RotatePageImages(RotateArgs { version_id, pages: turned }))
            .priority(8)
            .unique(format!("rotate_page_images:{version_id}"))
            .max_attempts(self.max_attempts)
            .for_document(self.owner, doc);
        Some(job)
    }
}

#[derive(Clone, Debug, Default)]
pub struct PageEditOutcome {
    /// (document id, new version id) of each edited document, in the order of `edits`.
    pub versions: Vec<(Id, Id)>,
    pub created: Option<Id>,
}

/// Whether document `doc` (as stored: current version, trashed, state) can be edited by a
/// client that saw version `seen`. The same sentences on both backends and before the edit.
pub fn check_editable(doc: Id, seen: Id, current: Option<Id>, trashed: bool, state: &str) -> DomainResult<()> {
    if trashed {
        return Err(DomainError::Conflict(format!("document {doc} is in the trash; restore it first")));
    }
    if current != Some(seen) {
        let current = current.unwrap_or(0);
        return Err(DomainError::Conflict(format!(
            "document {doc} was changed meanwhile: you sent base_version {seen} but the current version is {current}; reload the document and try again"
        )));
    }
    if state != "ready" {
        return Err(DomainError::Conflict(format!("document {doc} is {state}; pages can be changed once it is ready")));
    }
    Ok(())
}

/// The 0-based indexes of a selection of 1-based page numbers of a document of `n` pages:
/// not empty, every page exists, none twice.
pub fn select_pages(document_id: Id, pages: &[i32], n: usize) -> DomainResult<Vec<usize>> {
    if pages.is_empty() {
        return Err(DomainError::Invalid("select at least one page".into()));
    }
    let mut seen = vec![false; n];
    let mut out = Vec::with_capacity(pages.len());
    for &p in pages {
        if p < 1 || p as usize > n {
            return Err(DomainError::Invalid(format!(
                "page {p} does not exist: document {document_id} has {n} page{}",
                if n == 1 { "" } else { "s" }
            )));
        }
        let i = p as usize - 1;
        if seen[i] {
            return Err(DomainError::Invalid(format!("page {p} is selected twice")));
        }
        seen[i] = true;
        out.push(i);
    }
    Ok(out)
}

/// A new order must name each of the `n` pages exactly once.
pub fn check_order(document_id: Id, order: &[i32], n: usize) -> DomainResult<Vec<usize>> {
    if order.len() != n {
        return Err(DomainError::Invalid(format!(
            "order must list each of the {n} pages of document {document_id} exactly once ({} given)",
            order.len()
        )));
    }
    select_pages(document_id, order, n)
}

/// Quarter turns only.
pub fn check_degrees(degrees: i32) -> DomainResult<u16> {
    match degrees {
        90 | 180 | 270 => Ok(degrees as u16),
        -90 => Ok(270),
        _ => Err(DomainError::Invalid(format!("degrees must be 90, 180 or 270 (clockwise), not {degrees}"))),
    }
}

/// `document.updated` after a page image job replaced thumbnails and previews of the current
/// version (a late job for an older version tells nobody).
pub fn page_images_event(owner: Id, doc: Id, version_id: Id, is_current: bool, numbers: Vec<i32>) -> Option<NewEvent> {
    is_current.then(|| {
        NewEvent::document(
            owner,
            doc,
            EventData::DocumentUpdated(DocumentUpdated {
                operation: Some("page_images".to_string()),
                version_id: Some(version_id),
                pages: Some(numbers),
                ..Default::default()
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_are_checked_with_a_sentence() {
        assert_eq!(select_pages(7, &[3, 1], 3).unwrap(), vec![2, 0]);
        let msg = |r: DomainResult<Vec<usize>>| r.unwrap_err().to_string();
        assert_eq!(msg(select_pages(7, &[], 3)), "select at least one page");
        assert_eq!(msg(select_pages(7, &[4], 3)), "page 4 does not exist: document 7 has 3 pages");
        assert_eq!(msg(select_pages(7, &[0], 1)), "page 0 does not exist: document 7 has 1 page");
        assert_eq!(msg(select_pages(7, &[2, 2], 3)), "page 2 is selected twice");
        assert_eq!(check_order(7, &[2, 1, 3], 3).unwrap(), vec![1, 0, 2]);
        assert!(msg(check_order(7, &[2, 1], 3)).contains("exactly once"));
        assert_eq!(check_degrees(-90).unwrap(), 270);
        assert!(check_degrees(45).is_err());
    }
}
