//! The domain: what a document, a folder, a page and a job are, the errors that mean something
//! to a user, and the store interface (port) the backends implement. No HTTP, no SQL here.

pub mod archive;
pub mod bulk;
pub mod classifier;
pub mod dates;
pub mod events;
pub mod filetype;
pub mod find;
pub mod jobs;
pub mod lifecycle;
pub mod llm;
pub mod login;
pub mod matching;
pub mod metadata;
pub mod page_text;
pub mod pages;
pub mod path_templates;
pub mod query;
pub mod schedule;
pub mod search;
pub mod store;
pub mod users;
pub mod views;
pub mod workflows;

use serde::{Deserialize, Serialize};

pub use events::{Event, EventData, NewEvent};

/// The longest title a document can have, in characters.
pub const MAX_TITLE_CHARS: usize = 500;

pub type Id = i64;
/// Milliseconds since the Unix epoch (UTC). Both backends store time this way.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Errors a caller can act on. HTTP maps them to status codes in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedType(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A request that would cost more than its limit (a search past its time limit).
    #[error("{0}")]
    TooExpensive(String),
    /// The storage (or the database's disk) is full or read-only: nothing can be written until
    /// an operator frees space.
    #[error("{0}")]
    StorageFull(String),
    /// The database failed; its kind says whether trying again can help.
    #[error("database error: {0}")]
    Database(#[from] DbError),
    #[error("storage error: {0}")]
    Storage(String),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound(what.into())
    }
    /// A database failure of a kind the caller did not expect (a broken invariant, a task that
    /// crashed): not worth retrying.
    pub fn database(message: impl Into<String>) -> Self {
        DomainError::Database(DbError::new(DbErrorKind::Other, message))
    }
    /// Whether the same call can succeed later without anyone changing anything: the database
    /// was unreachable or busy, or the file store could not be read (a mount that blinked).
    pub fn is_transient(&self) -> bool {
        match self {
            DomainError::Database(e) => e.is_transient(),
            DomainError::Storage(_) => true,
            _ => false,
        }
    }
}

/// A database error in backend-neutral terms: the kind decides what callers do (retry, 409,
/// 404, 503), the backend's own error stays attached as the source for the log.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbErrorKind {
    /// No connection: the server is down, restarting, or the pool is exhausted.
    Unavailable,
    /// Locked or a serialisation failure/deadlock: the same statement can succeed if tried again.
    Busy,
    /// A constraint refused the write (unique, foreign key, check).
    Conflict,
    /// A row the statement needed is not there.
    NotFound,
    /// The statement was stopped: its time limit, or its caller went away.
    Cancelled,
    /// Anything else (a bad statement, a type mismatch, a failed migration).
    Other,
}

impl DbError {
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        DbError { kind, message: message.into(), source: None }
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    /// Unavailable and busy: worth another attempt after a pause.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DbErrorKind::Unavailable | DbErrorKind::Busy)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: Id,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: Millis,
}

#[derive(Clone, Debug)]
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Session,
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
    pub fn parse(s: &str) -> TokenKind {
        if s == "api" { TokenKind::Api } else { TokenKind::Session }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiToken {
    pub id: Id,
    pub user_id: Id,
    pub name: String,
    pub kind: TokenKind,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub expires_at: Option<Millis>,
}

/// What an authenticated request knows about its caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub token_id: Id,
    pub token_kind: TokenKind,
    /// sha256 of the CSRF secret bound to a browser session.
    pub csrf_hash: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderKind {
    Home,
    Inbox,
    Folder,
}

impl FolderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FolderKind::Home => "home",
            FolderKind::Inbox => "inbox",
            FolderKind::Folder => "folder",
        }
    }
    pub fn parse(s: &str) -> FolderKind {
        match s {
            "home" => FolderKind::Home,
            "inbox" => FolderKind::Inbox,
            _ => FolderKind::Folder,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Folder {
    pub id: Id,
    pub owner_id: Id,
    pub parent_id: Option<Id>,
    pub name: String,
    pub kind: FolderKind,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub trashed_at: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocState {
    Queued,
    Processing,
    Ready,
    Failed,
}

impl DocState {
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Queued => "queued",
            DocState::Processing => "processing",
            DocState::Ready => "ready",
            DocState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<DocState> {
        Some(match s {
            "queued" => DocState::Queued,
            "processing" => DocState::Processing,
            "ready" => DocState::Ready,
            "failed" => DocState::Failed,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tag {
    pub id: Id,
    pub owner_id: Id,
    pub name: String,
    pub color: String,
    pub document_count: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Version {
    pub id: Id,
    pub document_id: Id,
    pub number: i32,
    pub filename: String,
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub state: DocState,
    pub error: Option<String>,
    pub page_count: i32,
    pub pages_done: i32,
    /// sha256 of the searchable PDF in the blob store, once built.
    pub searchable_sha256: Option<String>,
    pub note: Option<String>,
    pub created_at: Millis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Document {
    pub id: Id,
    pub owner_id: Id,
    pub folder_id: Id,
    pub title: String,
    pub state: DocState,
    pub error: Option<String>,
    pub duplicate_of: Option<Id>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub trashed_at: Option<Millis>,
    pub tags: Vec<Tag>,
    pub version: Version,
    /// Correspondent, type, date, ASN, custom fields, how many notes.
    pub meta: metadata::DocumentMeta,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Page {
    pub version_id: Id,
    pub number: i32,
    pub width: f64,
    pub height: f64,
    pub text: String,
    /// `text_layer` or `ocr`.
    pub source: String,
    /// The text with its lines and boxes.
    pub layout: page_text::PageText,
    pub thumbnail_sha256: Option<String>,
    pub preview_sha256: Option<String>,
}

/// A page in a list: `(page, page_size)` with 1-based pages.
#[derive(Clone, Copy, Debug)]
pub struct PageReq {
    pub page: u32,
    pub page_size: u32,
}

impl PageReq {
    pub fn offset(&self) -> i64 {
        (self.page.saturating_sub(1) as i64) * self.page_size as i64
    }
    pub fn limit(&self) -> i64 {
        self.page_size as i64
    }
}

/// Which rows of an ordered list to read for one page: a page past the middle of a list is read
/// from its far end (the same index walked backwards; the caller sorts the few rows read back
/// into list order), so no page costs more than skipping half the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Read in the opposite order (then reverse the rows read).
    pub reversed: bool,
    pub offset: i64,
    pub limit: i64,
}

impl Window {
    /// The window for rows `offset .. offset + limit` of a list of `total` rows.
    pub fn of(total: i64, offset: i64, limit: i64) -> Window {
        if offset <= total / 2 || offset >= total {
            return Window { reversed: false, offset, limit };
        }
        let end = (offset + limit).min(total);
        Window { reversed: true, offset: total - end, limit: end - offset }
    }

    /// An `ORDER BY` list in the opposite direction (`ASC` ↔ `DESC` on every key).
    pub fn reverse_order(order: &str) -> String {
        order
            .split(", ")
            .map(|k| {
                if let Some(col) = k.strip_suffix(" DESC") {
                    format!("{col} ASC")
                } else if let Some(col) = k.strip_suffix(" ASC") {
                    format!("{col} DESC")
                } else {
                    format!("{k} DESC")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `order` as this window reads it.
    pub fn order(&self, order: &str) -> String {
        if self.reversed { Window::reverse_order(order) } else { order.to_string() }
    }
}

#[cfg(test)]
mod window_tests {
    use super::Window;

    #[test]
    fn pages_past_the_middle_are_read_from_the_end() {
        // 10 rows, pages of 3: rows 0-2, 3-5 forwards; 6-8 and 9 backwards.
        assert_eq!(Window::of(10, 0, 3), Window { reversed: false, offset: 0, limit: 3 });
        assert_eq!(Window::of(10, 3, 3), Window { reversed: false, offset: 3, limit: 3 });
        assert_eq!(Window::of(10, 6, 3), Window { reversed: true, offset: 1, limit: 3 });
        assert_eq!(Window::of(10, 9, 3), Window { reversed: true, offset: 0, limit: 1 });
        assert_eq!(Window::of(10, 12, 3), Window { reversed: false, offset: 12, limit: 3 }, "past the end: empty");
        assert_eq!(Window::of(0, 0, 50), Window { reversed: false, offset: 0, limit: 50 });
        // Every row of a 101-row list is read exactly once, in order.
        let rows: Vec<i64> = (0..101).collect();
        let mut seen = Vec::new();
        for offset in (0..101).step_by(7) {
            let w = Window::of(101, offset, 7);
            let mut page: Vec<i64> = if w.reversed {
                rows.iter().rev().skip(w.offset as usize).take(w.limit as usize).copied().collect()
            } else {
                rows.iter().skip(w.offset as usize).take(w.limit as usize).copied().collect()
            };
            if w.reversed {
                page.reverse();
            }
            seen.extend(page);
        }
        assert_eq!(seen, rows);
    }

    #[test]
    fn reverses_every_key() {
        assert_eq!(Window::reverse_order("lower(d.title) ASC, d.id ASC"), "lower(d.title) DESC, d.id DESC");
        assert_eq!(Window::reverse_order("d.created_at DESC, d.id DESC"), "d.created_at ASC, d.id ASC");
        assert_eq!(Window::reverse_order("d.title COLLATE NOCASE ASC, d.id ASC"), "d.title COLLATE NOCASE DESC, d.id DESC");
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Paged<T> {
    /// Search only: the words are so common that only the newest matches were ranked
    /// (`domain::search::RANKED_MATCHES`), `total` counting the documents among those; or a
    /// search that only filters matches more than `domain::search::FILTER_COUNT_CAP`
    /// documents, and `total` says that many.
    pub truncated: bool,
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

// A list holds at most one page (200) of these: boxing the document would cost an allocation
// per item and save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum ChildItem {
    Folder(Folder, Vec<Tag>),
    Document(Document),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildSort {
    NameAsc,
    NameDesc,
    CreatedAsc,
    CreatedDesc,
}

#[derive(Clone, Debug, Default)]
pub struct DocumentFilter {
    pub folder_id: Option<Id>,
    pub tag_id: Option<Id>,
    pub state: Option<DocState>,
    pub created_after: Option<Millis>,
    pub created_before: Option<Millis>,
    pub duplicate: Option<bool>,
    pub trashed: bool,
    /// `Some(None)`: documents without a correspondent.
    pub correspondent_id: Option<Option<Id>>,
    /// `Some(None)`: documents without a type.
    pub document_type_id: Option<Option<Id>>,
    /// The document's date (when it was written), inclusive bounds.
    pub date_from: Option<chrono::NaiveDate>,
    pub date_to: Option<chrono::NaiveDate>,
    pub asn: Option<i64>,
    pub sort: DocSort,
}

/// Which kept count (see the `*_document_counts` tables) answers a list's total, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeptCount {
    /// All of the owner's live documents.
    Owner,
    /// The live documents of one folder (of this owner).
    Folder(Id),
}

impl DocumentFilter {
    /// The kept count equal to this filter's total, when it filters by nothing but owner and
    /// (optionally) folder among live documents; otherwise the total must be counted.
    pub fn kept_count(&self) -> Option<KeptCount> {
        let only_scope = self.tag_id.is_none()
            && self.state.is_none()
            && self.created_after.is_none()
            && self.created_before.is_none()
            && self.duplicate.is_none()
            && self.correspondent_id.is_none()
            && self.document_type_id.is_none()
            && self.date_from.is_none()
            && self.date_to.is_none()
            && self.asn.is_none()
            && !self.trashed;
        match (only_scope, self.folder_id) {
            (false, _) => None,
            (true, None) => Some(KeptCount::Owner),
            (true, Some(f)) => Some(KeptCount::Folder(f)),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DocSort {
    #[default]
    CreatedDesc,
    CreatedAsc,
    TitleAsc,
    TitleDesc,
    /// By the document's date (undated documents last), then newest added.
    DateDesc,
    DateAsc,
    /// By archive serial number (documents without one last).
    AsnAsc,
    AsnDesc,
}

/// Everything one upload writes in its single transaction.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub owner_id: Id,
    pub folder_id: Id,
    pub title: String,
    pub filename: String,
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub tag_names: Vec<String>,
    pub reject_duplicates: bool,
    pub max_attempts: i32,
    /// How it came in (workflows filter on it, #23).
    pub source: Option<workflows::Source>,
}

#[derive(Clone, Debug)]
pub struct UploadOutcome {
    pub document: Document,
    pub version_id: Id,
    /// The processing job; None when the upload took over the results of an identical file
    /// processed before (it is ready at once).
    pub job_id: Option<Id>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    pub document: Document,
    pub page_number: Option<i32>,
    pub snippet: String,
    pub rank: f64,
}

/// A processed page as the worker hands it to the store.
#[derive(Clone, Debug)]
pub struct PageRecord {
    pub number: i32,
    pub width: f64,
    pub height: f64,
    /// The page's text with its layout; the store keeps the text (searchable), its source and
    /// the layout.
    pub layout: page_text::PageText,
    pub thumbnail_sha256: Option<String>,
    pub preview_sha256: Option<String>,
}

impl PageRecord {
    pub fn text(&self) -> &str {
        &self.layout.text
    }
    pub fn source(&self) -> &'static str {
        self.layout.source.as_str()
    }
    pub fn layout_json(&self) -> String {
        self.layout.to_stored()
    }
}

/// A finished document for `Store::bulk_load_for_bench`: what the upload and the pipeline
/// would have written for it, with the text of each page (page 1 first).
#[derive(Clone, Debug)]
#[cfg(feature = "bench")]
pub struct SyntheticDoc {
    pub folder_id: Id,
    pub title: String,
    pub filename: String,
    pub sha256: String,
    pub size: i64,
    pub created_at: Millis,
    pub tag_ids: Vec<Id>,
    pub pages: Vec<String>,
    pub meta: SyntheticMeta,
}

/// The metadata of a [`SyntheticDoc`] (#22): correspondent, type, date and an amount in a
/// monetary field (EUR).
#[derive(Clone, Debug, Default)]
#[cfg(feature = "bench")]
pub struct SyntheticMeta {
    pub correspondent_id: Option<Id>,
    pub document_type_id: Option<Id>,
    /// ISO date.
    pub date: Option<String>,
    /// (field id, amount)
    pub amount: Option<(Id, f64)>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub documents: i64,
    pub pages: i64,
    pub jobs_by_kind_state: Vec<(String, String, i64)>,
}

/// Turns a snippet whose matches are wrapped in \u{1}…\u{2} into HTML: everything escaped,
/// matches in `<mark>`.
pub fn snippet_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '\u{1}' => out.push_str("<mark>"),
            '\u{2}' => out.push_str("</mark>"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A folder name: trimmed, 1 to 255 characters, no '/' and no control characters.
pub fn validate_folder_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::Invalid("a folder name cannot be empty".into()));
    }
    if name.chars().count() > 255 {
        return Err(DomainError::Invalid("a folder name can have at most 255 characters".into()));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("a folder name cannot contain '/' or control characters".into()));
    }
    users::validate_visible_name("folder name", name, 255)?;
    Ok(name.to_string())
}
