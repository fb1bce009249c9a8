//! What happened, as a typed enum with one wire format: the event table stores `kind` and `data`
//! exactly as the REST API (`type`, `data`) and the websocket send them. Backends write the
//! events a use case hands them in the transaction that makes the change (outbox).

use serde::{Deserialize, Serialize};

use super::{Id, Millis};

/// An event's kind and data. The serde tag is the `kind` column (the API's `type`); the
/// variant's struct is the `data` column. Field presence and order are part of the wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum EventData {
    #[serde(rename = "document.created")]
    DocumentCreated(DocumentCreated),
    #[serde(rename = "document.updated")]
    DocumentUpdated(DocumentUpdated),
    #[serde(rename = "document.moved")]
    DocumentMoved { from: Id, to: Id },
    #[serde(rename = "document.trashed")]
    DocumentTrashed(DocumentTrashed),
    #[serde(rename = "document.restored")]
    DocumentRestored { folder_id: Id },
    #[serde(rename = "document.deleted")]
    DocumentDeleted {},
    #[serde(rename = "document.processing")]
    DocumentProcessing { pages: i32 },
    #[serde(rename = "document.ready")]
    DocumentReady { page_count: i32, version_id: Id },
    #[serde(rename = "document.failed")]
    DocumentFailed { error: String },
    /// Page `page` of `pages` is done.
    #[serde(rename = "job.progress")]
    JobProgress { page: i32, pages: i32 },
    #[serde(rename = "folder.created")]
    FolderCreated { parent_id: Id, name: String },
    /// A rename or move carries the folder's new place; a change of its tags carries nothing.
    #[serde(rename = "folder.updated")]
    FolderUpdated(FolderUpdated),
    #[serde(rename = "folder.trashed")]
    FolderTrashed { parent_id: Option<Id> },
    #[serde(rename = "folder.restored")]
    FolderRestored { parent_id: Option<Id> },
    #[serde(rename = "folder.deleted")]
    FolderDeleted {},
    #[serde(rename = "tag.created")]
    TagCreated { tag_id: Id },
    #[serde(rename = "tag.updated")]
    TagUpdated { tag_id: Id },
    #[serde(rename = "tag.deleted")]
    TagDeleted { tag_id: Id },
    /// A chunk of a bulk edit is committed: `done` of `total` documents looked at; `changed`
    /// and `skipped` are this chunk's.
    #[serde(rename = "bulk.progress")]
    BulkProgress { job_id: Id, done: i64, total: i64, changed: i64, skipped: i64 },
    /// Tokens that no longer authenticate: live websockets opened with them close. Internal:
    /// never sent to a client.
    #[serde(rename = "auth.revoked")]
    TokensRevoked { token_ids: Vec<Id> },
    /// A row this version cannot read (written by a newer one): passed on as it is.
    #[serde(skip)]
    Unknown { kind: String, data: serde_json::Value },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentCreated {
    pub title: String,
    pub folder_id: Id,
    /// The page operation that made it (a split or an extract), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i32>,
}

/// What changed: nothing said (title, tags), the processing state, or a page operation's new
/// version (with the pages whose images changed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<i32>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentTrashed {
    pub folder_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FolderUpdated {
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub place: Option<FolderPlace>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FolderPlace {
    pub parent_id: Option<Id>,
    pub name: String,
}

impl EventData {
    /// The `kind` column (the API's `type`).
    pub fn kind(&self) -> &str {
        match self {
            EventData::Unknown { kind, .. } => kind,
            known => known.static_kind(),
        }
    }

    fn static_kind(&self) -> &'static str {
        match self {
            EventData::DocumentCreated(_) => "document.created",
            EventData::DocumentUpdated(_) => "document.updated",
            EventData::DocumentMoved { .. } => "document.moved",
            EventData::DocumentTrashed(_) => "document.trashed",
            EventData::DocumentRestored { .. } => "document.restored",
            EventData::DocumentDeleted {} => "document.deleted",
            EventData::DocumentProcessing { .. } => "document.processing",
            EventData::DocumentReady { .. } => "document.ready",
            EventData::DocumentFailed { .. } => "document.failed",
            EventData::JobProgress { .. } => "job.progress",
            EventData::FolderCreated { .. } => "folder.created",
            EventData::FolderUpdated(_) => "folder.updated",
            EventData::FolderTrashed { .. } => "folder.trashed",
            EventData::FolderRestored { .. } => "folder.restored",
            EventData::FolderDeleted {} => "folder.deleted",
            EventData::TagCreated { .. } => "tag.created",
            EventData::TagUpdated { .. } => "tag.updated",
            EventData::TagDeleted { .. } => "tag.deleted",
            EventData::BulkProgress { .. } => "bulk.progress",
            EventData::TokensRevoked { .. } => "auth.revoked",
            EventData::Unknown { .. } => "unknown",
        }
    }

    /// The `data` column (the API's `data`).
    pub fn payload(&self) -> serde_json::Value {
        if let EventData::Unknown { data, .. } = self {
            return data.clone();
        }
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("data").unwrap_or_else(|| serde_json::json!({})),
            _ => serde_json::json!({}),
        }
    }

    /// A row read back; what this version does not know stays [`EventData::Unknown`].
    pub fn from_row(kind: &str, data: serde_json::Value) -> EventData {
        serde_json::from_value(serde_json::json!({"kind": kind, "data": data.clone()}))
            .unwrap_or_else(|_| EventData::Unknown { kind: kind.to_string(), data })
    }

    /// Events that steer the servers and are never sent to a client.
    pub fn is_internal(&self) -> bool {
        matches!(self, EventData::TokensRevoked { .. })
    }
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Id,
    pub owner_id: Id,
    pub document_id: Option<Id>,
    pub folder_id: Option<Id>,
    pub data: EventData,
    pub created_at: Millis,
}

impl Event {
    pub fn kind(&self) -> &str {
        self.data.kind()
    }

    /// The event as the REST API and the websocket send it: `type` is the kind, `created_at`
    /// RFC 3339 in UTC.
    pub fn to_api_json(&self) -> serde_json::Value {
        let created_at = chrono::DateTime::from_timestamp_millis(self.created_at)
            .map(|d| serde_json::Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
            .unwrap_or(serde_json::Value::Null);
        serde_json::json!({
            "id": self.id, "type": self.kind(), "document_id": self.document_id, "folder_id": self.folder_id,
            "data": self.data.payload(), "created_at": created_at,
        })
    }
}

/// An event to record inside the transaction that makes the change.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub owner_id: Id,
    pub document_id: Option<Id>,
    pub folder_id: Option<Id>,
    pub data: EventData,
}

impl NewEvent {
    pub fn document(owner_id: Id, document_id: Id, data: EventData) -> Self {
        NewEvent { owner_id, document_id: Some(document_id), folder_id: None, data }
    }
    pub fn folder(owner_id: Id, folder_id: Id, data: EventData) -> Self {
        NewEvent { owner_id, document_id: None, folder_id: Some(folder_id), data }
    }
    pub fn owner(owner_id: Id, data: EventData) -> Self {
        NewEvent { owner_id, document_id: None, folder_id: None, data }
    }
    /// Tokens (sessions or API tokens) of `user_id` that no longer authenticate: live
    /// websockets opened with them are closed. Not sent to clients.
    pub fn tokens_revoked(user_id: Id, token_ids: &[Id]) -> Self {
        NewEvent::owner(user_id, EventData::TokensRevoked { token_ids: token_ids.to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_wire_format_is_the_one_before_the_types() {
        let cases = [
            (EventData::DocumentUpdated(DocumentUpdated::default()), "document.updated", json!({})),
            (
                EventData::DocumentUpdated(DocumentUpdated { state: Some("queued".into()), ..Default::default() }),
                "document.updated",
                json!({"state": "queued"}),
            ),
            (
                EventData::DocumentCreated(DocumentCreated { title: "T".into(), folder_id: 4, operation: None, page_count: None }),
                "document.created",
                json!({"title": "T", "folder_id": 4}),
            ),
            (EventData::FolderUpdated(FolderUpdated::default()), "folder.updated", json!({})),
            (
                EventData::FolderUpdated(FolderUpdated { place: Some(FolderPlace { parent_id: Some(1), name: "A".into() }) }),
                "folder.updated",
                json!({"parent_id": 1, "name": "A"}),
            ),
            (EventData::FolderCreated { parent_id: 1, name: "x".into() }, "folder.created", json!({"parent_id": 1, "name": "x"})),
            (EventData::FolderTrashed { parent_id: None }, "folder.trashed", json!({"parent_id": null})),
            (EventData::DocumentDeleted {}, "document.deleted", json!({})),
            (EventData::JobProgress { page: 2, pages: 3 }, "job.progress", json!({"page": 2, "pages": 3})),
            (EventData::TokensRevoked { token_ids: vec![5] }, "auth.revoked", json!({"token_ids": [5]})),
        ];
        for (data, kind, payload) in cases {
            assert_eq!(data.kind(), kind);
            assert_eq!(data.payload(), payload, "{kind}");
            assert_eq!(EventData::from_row(kind, payload), data, "{kind} read back");
        }
        let unknown = EventData::from_row("document.shared", json!({"with": 3}));
        assert_eq!((unknown.kind(), unknown.payload()), ("document.shared", json!({"with": 3})));
        assert!(EventData::TokensRevoked { token_ids: vec![] }.is_internal());
        assert!(!unknown.is_internal());
    }
}
