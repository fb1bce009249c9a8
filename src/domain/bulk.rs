//! Bulk edit (#22): one change over a selection of documents or everything a query matches, as
//! one `bulk_edit` job. The job holds the ids resolved when it was asked for (a stable set) and
//! works through them in chunks, each chunk one transaction that also records the job's
//! progress under its lease: a retried job starts after the last committed chunk, and a chunk
//! that runs twice changes nothing twice (every change is "set to", and history is written only
//! for what changed).

use serde::{Deserialize, Serialize};

use super::metadata::DocumentPatch;
use super::{DomainError, DomainResult, Id};

/// A bulk edit runs before processing jobs (priority 10): it is a quick change a user waits
/// for, and should not wait behind a backlog of OCR.
pub const PRIORITY: i32 = 20;

/// At most this many documents in one bulk edit.
pub const MAX_DOCUMENTS: usize = 100_000;
/// Documents per transaction: small enough that other writers wait at most a few
/// milliseconds behind a chunk (SQLite has one writer).
pub const CHUNK: usize = 100;

/// What a bulk edit does to each document. Unlike a single edit it cannot set a title or an
/// ASN (those are per document).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkEdit {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<Id>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub correspondent_id: Option<Option<Id>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub document_type_id: Option<Option<Id>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<Id>,
    /// `YYYY-MM-DD`, or null to clear.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub date: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(Id, serde_json::Value)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_fields: Vec<Id>,
    /// Move to the trash (then nothing else is changed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trash: bool,
    /// Queue processing again (documents already being processed are left alone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reprocess: bool,
    /// The path template that places the documents (#23); `Some(None)` detaches them.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub path_template_id: Option<Option<Id>>,
}

impl BulkEdit {
    /// Refuses an edit that does nothing or mixes the trash with changes.
    pub fn validate(&self) -> DomainResult<()> {
        let changes = !self.add_tags.is_empty()
            || !self.remove_tags.is_empty()
            || self.correspondent_id.is_some()
            || self.document_type_id.is_some()
            || self.folder_id.is_some()
            || self.date.is_some()
            || !self.fields.is_empty()
            || !self.remove_fields.is_empty()
            || self.path_template_id.is_some();
        if !changes && !self.trash && !self.reprocess {
            return Err(DomainError::Invalid("a bulk edit needs something to do".into()));
        }
        if self.trash && (changes || self.reprocess) {
            return Err(DomainError::Invalid("moving to the trash is a bulk edit of its own".into()));
        }
        if self.add_tags.len() + self.remove_tags.len() > 200 || self.fields.len() + self.remove_fields.len() > 100 {
            return Err(DomainError::Invalid("at most 200 tags and 100 fields per bulk edit".into()));
        }
        if let Some(Some(d)) = &self.date
            && super::metadata::parse_date(d).is_none()
        {
            return Err(DomainError::Invalid(format!("date: {d:?} is not a date like 2025-12-31")));
        }
        Ok(())
    }

    /// The per-document part as a document patch (tags are added/removed separately).
    pub fn patch(&self) -> DocumentPatch {
        DocumentPatch {
            folder_id: self.folder_id,
            correspondent_id: self.correspondent_id,
            document_type_id: self.document_type_id,
            date: self.date.as_ref().map(|d| d.as_deref().and_then(super::metadata::parse_date)),
            fields: self.fields.clone(),
            remove_fields: self.remove_fields.clone(),
            path_template_id: self.path_template_id,
            ..DocumentPatch::default()
        }
    }
}

/// The `bulk_edit` job's arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkArgs {
    pub owner_id: Id,
    pub documents: Vec<Id>,
    pub edit: BulkEdit,
}

/// One chunk of a bulk edit job, for [`DocumentStore::bulk_edit_chunk`](super::store::DocumentStore::bulk_edit_chunk).
#[derive(Clone, Debug, PartialEq)]
pub struct BulkChunk {
    pub owner_id: Id,
    pub documents: Vec<Id>,
    pub edit: BulkEdit,
    /// The job's progress once this chunk is committed, of `total`.
    pub done_after: i64,
    pub total: i64,
    /// For reprocessing.
    pub max_attempts: i32,
}

/// The event a committed chunk emits: the UI shows the bulk edit's progress and result.
pub fn progress_event(job_id: Id, chunk: &BulkChunk, out: &ChunkOutcome) -> super::events::EventData {
    super::events::EventData::BulkProgress {
        job_id,
        done: chunk.done_after,
        total: chunk.total,
        changed: out.changed as i64,
        skipped: out.skipped as i64,
    }
}

/// What one chunk did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkOutcome {
    /// The lease was still ours and the chunk is committed.
    pub committed: bool,
    /// Documents whose visible state changed.
    pub changed: usize,
    /// Documents gone meanwhile (purged), or in the trash, left alone.
    pub skipped: usize,
}

/// `Option<Option<T>>` as JSON: absent = None, null = Some(None).
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_null_and_absent() {
        let e = BulkEdit { correspondent_id: Some(None), document_type_id: Some(Some(4)), add_tags: vec![1], ..BulkEdit::default() };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json, serde_json::json!({"add_tags": [1], "correspondent_id": null, "document_type_id": 4}));
        assert_eq!(serde_json::from_value::<BulkEdit>(json).unwrap(), e);
        assert!(BulkEdit::default().validate().is_err());
        assert!(BulkEdit { trash: true, add_tags: vec![1], ..BulkEdit::default() }.validate().is_err());
        assert!(BulkEdit { date: Some(Some("31.12.2025".into())), ..BulkEdit::default() }.validate().is_err());
        assert!(BulkEdit { reprocess: true, ..BulkEdit::default() }.validate().is_ok());
    }
}
