//! The archive format of `docmerge export` / `docmerge import` and the port the backends
//! implement to stream it.
//!
//! An archive is a directory (or the same tree in a `.tar` / `.tar.zst` file):
//!
//! ```text
//! manifest.json            format version, created_at, source backend, counts, sha256 per data file
//! data/<table>.jsonl       one JSON object per row, in import order (see TABLES)
//! data/blobs.jsonl         every file under blobs/: {"sha256", "size", "derived"}
//! blobs/ab/<sha256>        originals (and with --with-derived: searchable PDFs, thumbnails)
//! ```
//!
//! The table descriptions below are the single place both backends read the columns from, so
//! an archive written by SQLite imports into PostgreSQL and back without a mapping per backend.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{DomainResult, Id, Millis};

/// `manifest.source_backend` of a converted paperless-ngx export; the importer lets such an
/// archive into a non-empty instance (its ids are allocated above the existing ones).
pub const PAPERLESS_SOURCE: &str = "paperless-ngx";

pub const FORMAT_NAME: &str = "docmerge-archive";
/// 2: correspondents, document types, custom fields, notes and history (#22). 3: matching
/// rules (#23). 4: path templates (#23). 5: workflows and how each document came in (#23). An
/// older docmerge refuses a newer archive rather than dropping what it does not know.
pub const FORMAT_VERSION: u32 = 5;

/// Tables an archive may leave out (an archive of format 1 has none of them): read as empty.
pub const OPTIONAL_TABLES: &[&str] = &[
    "correspondents",
    "document_types",
    "custom_fields",
    "document_type_fields",
    "document_fields",
    "notes",
    "document_history",
    "saved_views",
    "match_rules",
    "path_templates",
    "workflows",
];
pub const MANIFEST_FILE: &str = "manifest.json";
pub const BLOB_LIST_FILE: &str = "data/blobs.jsonl";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Int,
    Real,
    Text,
    Bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, nullable: false }
}
const fn opt(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, nullable: true }
}

/// Which rows an incremental export keeps of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// The whole table (small tables: users, folders, tags, …).
    Always,
    /// Documents whose `updated_at` (or `created_at`) is at or after SINCE.
    Documents,
    /// Versions created at or after SINCE, or of a changed document.
    Versions,
    /// Pages of the exported versions.
    Pages,
    /// Links of changed documents.
    DocumentLinks,
}

#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The columns that identify a row (conflict target on import).
    pub key: &'static [&'static str],
    pub changed: Changed,
}

impl TableSpec {
    pub fn file(&self) -> String {
        format!("data/{}.jsonl", self.name)
    }

    /// The archive may leave this table out (see [`OPTIONAL_TABLES`]).
    pub fn optional(&self) -> bool {
        OPTIONAL_TABLES.contains(&self.name)
    }

    pub fn column_list(&self) -> String {
        self.columns.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    }
}

use ColType::*;

/// The tables in import order: every row's references point to rows of earlier tables, or to
/// earlier rows of the same table (folders are exported parents first for that reason;
/// `documents.duplicate_of` always names an older document).
pub static TABLES: &[TableSpec] = &[
    TableSpec {
        name: "users",
        columns: &[
            col("id", Int),
            col("username", Text),
            col("password_hash", Text),
            col("is_admin", Bool),
            col("disabled", Bool),
            col("created_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "api_tokens",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("name", Text),
            col("kind", Text),
            col("token_hash", Text),
            opt("csrf_hash", Text),
            col("created_at", Int),
            opt("last_used_at", Int),
            opt("expires_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "folders",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            opt("parent_id", Int),
            col("name", Text),
            col("kind", Text),
            col("created_at", Int),
            col("updated_at", Int),
            opt("trashed_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "tags",
        columns: &[col("id", Int), col("owner_id", Int), col("name", Text), col("color", Text)],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "path_templates",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("name", Text),
            col("template", Text),
            col("fallback", Text),
            opt("filename", Text),
            col("created_at", Int),
            col("updated_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "correspondents",
        columns: &[col("id", Int), col("owner_id", Int), col("name", Text), opt("color", Text), col("created_at", Int)],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "document_types",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("name", Text),
            opt("color", Text),
            col("created_at", Int),
            opt("path_template_id", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "custom_fields",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("name", Text),
            col("kind", Text),
            opt("currency", Text),
            col("options", Text),
            col("created_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "document_type_fields",
        columns: &[col("document_type_id", Int), col("field_id", Int), col("position", Int)],
        key: &["document_type_id", "field_id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "documents",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("folder_id", Int),
            col("title", Text),
            col("state", Text),
            opt("error", Text),
            opt("current_version_id", Int),
            col("sha256", Text),
            opt("duplicate_of", Int),
            col("created_at", Int),
            col("updated_at", Int),
            opt("trashed_at", Int),
            opt("correspondent_id", Int),
            opt("document_type_id", Int),
            opt("document_date", Text),
            opt("date_source", Text),
            opt("asn", Int),
            opt("path_template_id", Int),
            opt("source", Text),
        ],
        key: &["id"],
        changed: Changed::Documents,
    },
    TableSpec {
        name: "versions",
        columns: &[
            col("id", Int),
            col("document_id", Int),
            col("number", Int),
            col("filename", Text),
            col("mime", Text),
            col("size", Int),
            col("sha256", Text),
            col("state", Text),
            opt("error", Text),
            col("page_count", Int),
            col("pages_done", Int),
            opt("searchable_sha256", Text),
            opt("note", Text),
            col("created_at", Int),
        ],
        key: &["id"],
        changed: Changed::Versions,
    },
    TableSpec {
        name: "pages",
        columns: &[
            col("id", Int),
            col("version_id", Int),
            col("number", Int),
            col("width", Real),
            col("height", Real),
            col("text", Text),
            col("lines_json", Text),
            col("source", Text),
            opt("thumbnail_sha256", Text),
            opt("preview_sha256", Text),
        ],
        key: &["id"],
        changed: Changed::Pages,
    },
    TableSpec {
        name: "document_tags",
        columns: &[col("document_id", Int), col("tag_id", Int)],
        key: &["document_id", "tag_id"],
        changed: Changed::DocumentLinks,
    },
    TableSpec {
        name: "folder_tags",
        columns: &[col("folder_id", Int), col("tag_id", Int)],
        key: &["folder_id", "tag_id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "saved_views",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("name", Text),
            col("query", Text),
            col("sort", Text),
            col("columns", Text),
            col("on_dashboard", Bool),
            col("in_sidebar", Bool),
            col("position", Int),
            col("created_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "match_rules",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("target_kind", Text),
            col("target_id", Int),
            col("algorithm", Text),
            col("pattern", Text),
            col("insensitive", Bool),
            col("updated_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    // Their runs and deliveries are not archived: a restored library starts a new record.
    TableSpec {
        name: "workflows",
        columns: &[
            col("id", Int),
            col("owner_id", Int),
            col("name", Text),
            col("position", Int),
            col("enabled", Bool),
            col("trigger", Text),
            col("spec", Text),
            col("created_at", Int),
            col("updated_at", Int),
        ],
        key: &["id"],
        changed: Changed::Always,
    },
    TableSpec {
        name: "document_fields",
        columns: &[col("document_id", Int), col("field_id", Int), opt("value", Text), opt("num", Real), opt("txt", Text)],
        key: &["document_id", "field_id"],
        changed: Changed::DocumentLinks,
    },
    TableSpec {
        name: "notes",
        columns: &[
            col("id", Int),
            col("document_id", Int),
            opt("author_id", Int),
            col("body", Text),
            col("created_at", Int),
            col("updated_at", Int),
        ],
        key: &["id"],
        changed: Changed::DocumentLinks,
    },
    TableSpec {
        name: "document_history",
        columns: &[
            col("id", Int),
            col("document_id", Int),
            opt("actor_id", Int),
            col("action", Text),
            col("changes", Text),
            col("at", Int),
        ],
        key: &["id"],
        changed: Changed::DocumentLinks,
    },
];

/// `SELECT (SELECT COALESCE(MAX(id), 0) FROM t1), …` for [`ArchiveStore::max_ids`]; None when
/// a name is not a table with ids (names never come from users, but the check is cheap).
pub fn max_ids_sql(tables: &[&'static str]) -> Option<String> {
    let parts: Option<Vec<String>> = tables
        .iter()
        .map(|t| table(t).filter(|s| s.key == ["id"]).map(|s| format!("(SELECT COALESCE(MAX(id), 0) FROM {})", s.name)))
        .collect();
    parts.map(|p| format!("SELECT {}", p.join(", ")))
}

pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

/// One row: column name → JSON value (integers, floats, strings, booleans, null).
pub type Row = Map<String, Value>;

/// One file under `blobs/` as the snapshot lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlobRef {
    pub sha256: String,
    /// A searchable PDF, thumbnail or preview (rebuildable), not an original.
    pub derived: bool,
}

/// Where the snapshot goes, row by row. Called from a blocking context (the backend's
/// snapshot thread or task): implementations write to files.
pub trait RowSink: Send {
    fn begin_table(&mut self, table: &'static TableSpec) -> DomainResult<()>;
    fn row(&mut self, table: &'static TableSpec, row: Row) -> DomainResult<()>;
    fn blob(&mut self, blob: BlobRef) -> DomainResult<()>;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SnapshotFilter {
    /// Incremental export: only rows changed at or after this time (see `Changed`).
    pub since: Option<Millis>,
    pub with_derived: bool,
}

/// How an import chunk treats rows that exist already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// A full archive into an empty instance: present rows are skipped (a resumed import).
    Restore,
    /// An incremental archive onto a restored instance: present rows are replaced.
    Apply,
}

/// Progress of an import, kept in the target database in the same transaction as the rows,
/// so an interrupted import resumes exactly where its last transaction ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportProgress {
    pub archive_id: String,
    /// table name → rows (lines) of its file already imported.
    pub lines_done: Vec<(String, u64)>,
    pub finished: bool,
}

/// Bookkeeping row names besides the tables': the archive being imported, and the end.
pub const PROGRESS_BEGIN_ROW: &str = "#begin";
pub const PROGRESS_FINISHED_ROW: &str = "#finished";

impl ImportProgress {
    /// From the bookkeeping rows `(table_name, archive_id, lines_done)`; None when no import
    /// was begun.
    pub fn from_rows(rows: Vec<(String, String, i64)>) -> Option<ImportProgress> {
        let archive_id = rows.iter().find(|(t, _, _)| t == PROGRESS_BEGIN_ROW).map(|(_, a, _)| a.clone())?;
        let finished = rows.iter().any(|(t, _, _)| t == PROGRESS_FINISHED_ROW);
        let lines_done = rows.into_iter().filter(|(t, _, _)| !t.starts_with('#')).map(|(t, _, n)| (t, n.max(0) as u64)).collect();
        Some(ImportProgress { archive_id, lines_done, finished })
    }

    pub fn lines_done(&self, table: &str) -> u64 {
        self.lines_done.iter().find(|(t, _)| t == table).map(|(_, n)| *n).unwrap_or(0)
    }
}

/// A version as the importer looks at it after the rows are in: ready versions whose derived
/// files are missing get a rebuild job; a current version that was still being processed at
/// export time gets its processing job again (jobs are not exported).
#[derive(Clone, Debug, PartialEq)]
pub struct VersionNeedingWork {
    pub owner_id: Id,
    pub document_id: Id,
    pub version_id: Id,
    pub state: String,
    pub is_current: bool,
    /// Hashes of its derived files (searchable PDF, thumbnails, previews) as recorded.
    pub derived: Vec<String>,
}

/// What the backends implement for export and import. Separate from `Store` so the archive
/// code lives in its own files; `Store::archive()` hands it out.
#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Streams every table (in `TABLES` order) and then the blob list into `sink`, all from
    /// ONE consistent snapshot (SQLite: one read transaction; PostgreSQL: REPEATABLE READ,
    /// READ ONLY, rows fetched through a portal in batches). Returns the sink.
    async fn export_snapshot(&self, filter: SnapshotFilter, sink: Box<dyn RowSink>) -> DomainResult<Box<dyn RowSink>>;

    /// The import bookkeeping of an earlier run, if any; and how many users/documents exist.
    async fn import_progress(&self) -> DomainResult<(Option<ImportProgress>, i64)>;

    /// Starts (or re-starts the bookkeeping of) the import of archive `archive_id`.
    async fn begin_import(&self, archive_id: &str) -> DomainResult<()>;

    /// Inserts `rows` of `table` (lines `first_line..first_line + rows.len()` of its file) in
    /// one transaction, maintains the search index for them (document titles; page text of a
    /// document's current ready version), and records the new line count in the same
    /// transaction. Returns how many rows were written.
    async fn import_rows(&self, table: &'static TableSpec, rows: Vec<Row>, lines_done_after: u64, mode: ImportMode) -> DomainResult<u64>;

    /// After the last row: PostgreSQL moves its id sequences past the imported ids; both mark
    /// the import finished.
    async fn finish_import(&self) -> DomainResult<()>;

    /// Versions after `after_id` (by id, at most `limit`), with their derived file hashes.
    async fn versions_after(&self, after_id: Id, limit: i64) -> DomainResult<Vec<VersionNeedingWork>>;

    /// Stores rebuilt derived files of a ready version (searchable PDF and per page number
    /// thumbnail + preview) without touching its text.
    async fn set_derived(&self, version_id: Id, searchable_sha256: &str, pages: Vec<(i32, String, String)>) -> DomainResult<()>;

    /// The largest id of each of these tables (0 when empty), in that order: where an import
    /// into a non-empty instance (`--from-paperless`) starts numbering its rows. Only tables of
    /// [`TABLES`] with an `id` column are accepted.
    async fn max_ids(&self, tables: &[&'static str]) -> DomainResult<Vec<Id>>;

    // ---- scheduled backups (the `backup_runs` table, one row per scheduled time) ---------
    /// Claims the backup of `slot` for job `job_id`: true when nobody made it yet, or when
    /// this same job is trying again after a failed attempt. False when it was made already
    /// (or another job holds it), so a duplicate job does nothing.
    async fn begin_backup(&self, slot: &str, job_id: Id, now: Millis) -> DomainResult<bool>;
    /// Records how the attempt of `slot` ended.
    async fn finish_backup(&self, slot: &str, outcome: BackupOutcome) -> DomainResult<()>;
    /// The state of the backup of `slot` (`running`, `done`, `failed`), if it was begun.
    async fn backup_state(&self, slot: &str) -> DomainResult<Option<String>>;
    /// The last successful backup and the failures so far.
    async fn backup_status(&self) -> DomainResult<BackupStatus>;
}

/// How one attempt of a scheduled backup ended.
#[derive(Clone, Debug, PartialEq)]
pub enum BackupOutcome {
    Done { finished_at: Millis, duration_ms: i64, file: String, size: i64 },
    Failed { at: Millis, error: String },
}

/// What `/metrics` and `docmerge check` show about scheduled backups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupStatus {
    /// End of the last successful backup.
    pub last_success_at: Option<Millis>,
    pub last_duration_ms: Option<i64>,
    pub last_file: Option<String>,
    pub last_size: Option<i64>,
    /// Failed attempts, ever.
    pub failures_total: i64,
    pub last_failure_at: Option<Millis>,
    pub last_error: Option<String>,
}

/// The backup bookkeeping table, created by the first backup (not a migration, like
/// `archive_import`). Same DDL on both backends.
pub const BACKUP_RUNS_DDL: &str = "CREATE TABLE IF NOT EXISTS backup_runs (\
    slot TEXT PRIMARY KEY, job_id BIGINT NOT NULL, state TEXT NOT NULL, started_at BIGINT NOT NULL, \
    finished_at BIGINT, duration_ms BIGINT, file TEXT, size BIGINT, failures BIGINT NOT NULL DEFAULT 0, \
    last_error TEXT, failed_at BIGINT)";

/// The manifest, written last: an archive without it is incomplete.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub docmerge_version: String,
    /// RFC 3339.
    pub created_at: String,
    pub source_backend: String,
    /// RFC 3339; set for an incremental archive.
    pub incremental_since: Option<String>,
    pub with_derived: bool,
    pub files: Vec<ManifestFile>,
    /// table name (and "blobs") → rows.
    pub counts: std::collections::BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub rows: u64,
}

impl Manifest {
    /// Identifies this archive in the import bookkeeping: resuming only continues the same one.
    pub fn archive_id(&self) -> String {
        let mut ids: Vec<&str> = self.files.iter().map(|f| f.sha256.as_str()).collect();
        ids.sort_unstable();
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{}|{}", self.created_at, ids.join(",")).as_bytes()))
    }
}
