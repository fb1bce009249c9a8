//! `Store` for SQLite.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use serde_json::json;

use super::{MIGRATIONS, SqliteStore, db_err, emit, is_unique_violation};
use crate::db::like_escape;
use crate::domain::jobs::{ClaimedJob, FailOutcome, JobState, JobView, Lease, NewJob, backoff_millis};
use crate::domain::search::{Candidate, RANKED_MATCHES, SearchQuery, Term, best_per_document};
use crate::domain::store::{Store, WakeChannel};
use crate::domain::*;

mod pages;

const DOC_COLS: &str = "d.id, d.owner_id, d.folder_id, d.title, d.state, d.error, d.duplicate_of, d.created_at, d.updated_at, d.trashed_at, \
     v.id, v.document_id, v.number, v.filename, v.mime, v.size, v.sha256, v.state, v.error, v.page_count, v.pages_done, v.searchable_sha256, v.note, v.created_at";
const DOC_FROM: &str = "documents d JOIN versions v ON v.id = d.current_version_id";
const VERSION_COLS: &str = "v.id, v.document_id, v.number, v.filename, v.mime, v.size, v.sha256, v.state, v.error, v.page_count, v.pages_done, v.searchable_sha256, v.note, v.created_at";
const FOLDER_COLS: &str = "id, owner_id, parent_id, name, kind, created_at, updated_at, trashed_at";
const JOB_COLS: &str = "id, kind, state, attempts, max_attempts, last_error, progress_done, progress_total, document_id, owner_id, priority, run_after, created_at, updated_at";
/// A trashed folder/document is listed at the top of the trash unless it went there with its parent.
const TOP_FOLDER: &str = "NOT EXISTS (SELECT 1 FROM folders p WHERE p.id = f.parent_id AND p.trashed_at = f.trashed_at)";
const TOP_DOC: &str = "NOT EXISTS (SELECT 1 FROM folders p WHERE p.id = d.folder_id AND p.trashed_at = d.trashed_at)";
const PAGE_COLS: &str = "version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256";

fn version_from(row: &Row<'_>, o: usize) -> rusqlite::Result<Version> {
    Ok(Version {
        id: row.get(o)?,
        document_id: row.get(o + 1)?,
        number: row.get(o + 2)?,
        filename: row.get(o + 3)?,
        mime: row.get(o + 4)?,
        size: row.get(o + 5)?,
        sha256: row.get(o + 6)?,
        state: DocState::parse(&row.get::<_, String>(o + 7)?).unwrap_or(DocState::Queued),
        error: row.get(o + 8)?,
        page_count: row.get(o + 9)?,
        pages_done: row.get(o + 10)?,
        searchable_sha256: row.get(o + 11)?,
        note: row.get(o + 12)?,
        created_at: row.get(o + 13)?,
    })
}

fn document_from(row: &Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        folder_id: row.get(2)?,
        title: row.get(3)?,
        state: DocState::parse(&row.get::<_, String>(4)?).unwrap_or(DocState::Queued),
        error: row.get(5)?,
        duplicate_of: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        trashed_at: row.get(9)?,
        tags: Vec::new(),
        version: version_from(row, 10)?,
    })
}

fn folder_from(row: &Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        parent_id: row.get(2)?,
        name: row.get(3)?,
        kind: FolderKind::parse(&row.get::<_, String>(4)?),
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        trashed_at: row.get(7)?,
    })
}

fn user_from(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User { id: row.get(0)?, username: row.get(1)?, is_admin: row.get(2)?, disabled: row.get(3)?, created_at: row.get(4)? })
}

fn job_from(row: &Row<'_>) -> rusqlite::Result<JobView> {
    Ok(JobView {
        id: row.get(0)?,
        kind: row.get(1)?,
        state: JobState::parse(&row.get::<_, String>(2)?),
        attempts: row.get(3)?,
        max_attempts: row.get(4)?,
        last_error: row.get(5)?,
        progress_done: row.get(6)?,
        progress_total: row.get(7)?,
        document_id: row.get(8)?,
        owner_id: row.get(9)?,
        priority: row.get(10)?,
        run_after: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}

fn page_from(row: &Row<'_>) -> rusqlite::Result<Page> {
    Ok(Page {
        version_id: row.get(0)?,
        number: row.get(1)?,
        width: row.get(2)?,
        height: row.get(3)?,
        text: row.get(4)?,
        lines_json: row.get(5)?,
        source: row.get(6)?,
        thumbnail_sha256: row.get(7)?,
        preview_sha256: row.get(8)?,
    })
}

fn tag_from(row: &Row<'_>) -> rusqlite::Result<Tag> {
    Ok(Tag { id: row.get(0)?, owner_id: row.get(1)?, name: row.get(2)?, color: row.get(3)?, document_count: row.get(4)? })
}

fn placeholders(n: usize, start: usize) -> String {
    (0..n).map(|i| format!("?{}", start + i)).collect::<Vec<_>>().join(",")
}

/// Fills in the tags of each document (one query for the whole batch).
fn attach_tags(conn: &Connection, docs: &mut [Document]) -> DomainResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Id> = docs.iter().map(|d| d.id).collect();
    let sql = format!(
        "SELECT dt.document_id, t.id, t.owner_id, t.name, t.color FROM document_tags dt JOIN tags t ON t.id = dt.tag_id \
         WHERE dt.document_id IN ({}) ORDER BY t.name",
        placeholders(ids.len(), 1)
    );
    let mut st = conn.prepare(&sql).map_err(db_err)?;
    let mut by_doc: HashMap<Id, Vec<Tag>> = HashMap::new();
    let rows = st
        .query_map(params_from_iter(ids.iter()), |r| {
            Ok((r.get::<_, Id>(0)?, Tag { id: r.get(1)?, owner_id: r.get(2)?, name: r.get(3)?, color: r.get(4)?, document_count: 0 }))
        })
        .map_err(db_err)?;
    for row in rows {
        let (doc, tag) = row.map_err(db_err)?;
        by_doc.entry(doc).or_default().push(tag);
    }
    for d in docs.iter_mut() {
        d.tags = by_doc.remove(&d.id).unwrap_or_default();
    }
    Ok(())
}

fn load_document(conn: &Connection, owner: Id, id: Id) -> DomainResult<Document> {
    let sql = format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.id = ?1 AND d.owner_id = ?2");
    let doc = conn
        .prepare_cached(&sql)
        .and_then(|mut st| st.query_row(params![id, owner], document_from).optional())
        .map_err(db_err)?
        .ok_or_else(|| DomainError::not_found(format!("document {id}")))?;
    let mut docs = vec![doc];
    attach_tags(conn, &mut docs)?;
    Ok(docs.pop().expect("one document"))
}

fn load_folder(conn: &Connection, owner: Id, id: Id) -> DomainResult<Folder> {
    conn.prepare_cached(&format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1 AND owner_id = ?2"))
        .and_then(|mut st| st.query_row(params![id, owner], folder_from).optional())
        .map_err(db_err)?
        .ok_or_else(|| DomainError::not_found(format!("folder {id}")))
}

fn live_folder(conn: &Connection, owner: Id, id: Id) -> DomainResult<Folder> {
    let f = load_folder(conn, owner, id)?;
    if f.trashed_at.is_some() {
        return Err(DomainError::Conflict(format!("folder {id} is in the trash")));
    }
    Ok(f)
}

fn check_tags_owned(conn: &Connection, owner: Id, tag_ids: &[Id]) -> DomainResult<()> {
    for t in tag_ids {
        let found: Option<Id> = conn
            .prepare_cached("SELECT id FROM tags WHERE id = ?1 AND owner_id = ?2")
            .and_then(|mut st| st.query_row(params![t, owner], |r| r.get(0)).optional())
            .map_err(db_err)?;
        if found.is_none() {
            return Err(DomainError::not_found(format!("tag {t}")));
        }
    }
    Ok(())
}

/// Ids of the folder and all folders below it.
fn subtree(conn: &Connection, id: Id) -> DomainResult<Vec<Id>> {
    let mut st = conn
        .prepare_cached(
            "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT f.id FROM folders f JOIN sub ON f.parent_id = sub.id) SELECT id FROM sub",
        )
        .map_err(db_err)?;
    let ids = st.query_map(params![id], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<Id>, _>>().map_err(db_err)?;
    Ok(ids)
}

fn title_index_update(tx: &Transaction<'_>, doc_id: Id, title: &str) -> DomainResult<()> {
    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![-doc_id]).map_err(db_err)?;
    tx.execute("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, 0)", params![-doc_id, title, doc_id])
        .map_err(db_err)?;
    Ok(())
}

/// Removes a document's rows (cascade) and its index entries; returns candidate blob hashes.
fn purge_doc_rows(tx: &Transaction<'_>, doc_id: Id) -> DomainResult<Vec<String>> {
    let mut blobs = Vec::new();
    {
        let mut st = tx.prepare_cached("SELECT v.sha256, v.searchable_sha256 FROM versions v WHERE v.document_id = ?1").map_err(db_err)?;
        let rows = st.query_map(params![doc_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))).map_err(db_err)?;
        for r in rows {
            let (a, b) = r.map_err(db_err)?;
            blobs.push(a);
            blobs.extend(b);
        }
        let mut st = tx
            .prepare_cached(
                "SELECT p.thumbnail_sha256, p.preview_sha256, p.id FROM pages p JOIN versions v ON v.id = p.version_id WHERE v.document_id = ?1",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![doc_id], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Id>(2)?)))
            .map_err(db_err)?;
        let mut page_ids = Vec::new();
        for r in rows {
            let (a, b, id) = r.map_err(db_err)?;
            blobs.extend(a);
            blobs.extend(b);
            page_ids.push(id);
        }
        for pid in page_ids {
            tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![pid]).map_err(db_err)?;
        }
    }
    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![-doc_id]).map_err(db_err)?;
    tx.execute("UPDATE documents SET current_version_id = NULL WHERE id = ?1", params![doc_id]).map_err(db_err)?;
    tx.execute("DELETE FROM documents WHERE id = ?1", params![doc_id]).map_err(db_err)?;
    Ok(blobs)
}

/// Of the candidate hashes, those no remaining row refers to.
fn unreferenced(tx: &Transaction<'_>, candidates: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for sha in candidates {
        if !seen.insert(sha.clone()) {
            continue;
        }
        let used: bool = tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE sha256 = ?1 OR searchable_sha256 = ?1) \
                 OR EXISTS(SELECT 1 FROM pages WHERE thumbnail_sha256 = ?1 OR preview_sha256 = ?1)",
            )
            .and_then(|mut st| st.query_row(params![sha], |r| r.get(0)))
            .map_err(db_err)?;
        if !used {
            out.push(sha);
        }
    }
    Ok(out)
}

fn insert_job(tx: &Transaction<'_>, job: &NewJob, now: Millis) -> DomainResult<Option<Id>> {
    let res = tx
        .prepare_cached(
            "INSERT INTO jobs (kind, payload, priority, run_after, max_attempts, unique_key, timeout_secs, document_id, owner_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )
        .and_then(|mut st| {
            st.insert(params![
                job.kind,
                job.payload.to_string(),
                job.priority,
                job.run_after.unwrap_or(now),
                job.max_attempts,
                job.unique_key,
                job.timeout_secs,
                job.document_id,
                job.owner_id,
                now
            ])
        });
    match res {
        Ok(id) => Ok(Some(id)),
        Err(e) if is_unique_violation(&e) && job.unique_key.is_some() => Ok(None),
        Err(e) => Err(db_err(e)),
    }
}

/// Fenced completion inside a transaction.
fn complete_in(tx: &Transaction<'_>, lease: &Lease, now: Millis) -> DomainResult<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = ?4 \
             WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
        )
        .and_then(|mut st| st.execute(params![lease.job_id, lease.worker_id, lease.seq, now]))
        .map_err(db_err)?;
    Ok(n == 1)
}

fn doc_owner_of_version(tx: &Connection, version_id: Id) -> DomainResult<(Id, Id)> {
    tx.prepare_cached("SELECT d.id, d.owner_id FROM versions v JOIN documents d ON d.id = v.document_id WHERE v.id = ?1")
        .and_then(|mut st| st.query_row(params![version_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(db_err)?
        .ok_or_else(|| DomainError::not_found(format!("version {version_id}")))
}

fn fts_term(t: &Term) -> String {
    // Words are alphanumeric only (see search::words_of), so quoting them is always safe.
    let phrase = format!("\"{}\"", t.words.join(" "));
    if t.prefix { format!("{phrase}*") } else { phrase }
}

fn fts_expression(q: &SearchQuery) -> String {
    let inc: Vec<String> = q.include.iter().map(fts_term).collect();
    let mut expr = inc.join(" AND ");
    for t in &q.exclude {
        expr = format!("{expr} NOT {}", fts_term(t));
    }
    expr
}

fn child_order(sort: ChildSort, doc: bool) -> &'static str {
    match (sort, doc) {
        (ChildSort::NameAsc, false) => "name COLLATE NOCASE ASC, id ASC",
        (ChildSort::NameDesc, false) => "name COLLATE NOCASE DESC, id DESC",
        (ChildSort::CreatedAsc, false) => "created_at ASC, id ASC",
        (ChildSort::CreatedDesc, false) => "created_at DESC, id DESC",
        (ChildSort::NameAsc, true) => "d.title COLLATE NOCASE ASC, d.id ASC",
        (ChildSort::NameDesc, true) => "d.title COLLATE NOCASE DESC, d.id DESC",
        (ChildSort::CreatedAsc, true) => "d.created_at ASC, d.id ASC",
        (ChildSort::CreatedDesc, true) => "d.created_at DESC, d.id DESC",
    }
}

fn folders_with_tags(conn: &Connection, folders: Vec<Folder>) -> DomainResult<Vec<ChildItem>> {
    let mut out = Vec::with_capacity(folders.len());
    for f in folders {
        let tags = folder_tags_of(conn, f.id)?;
        out.push(ChildItem::Folder(f, tags));
    }
    Ok(out)
}

fn folder_tags_of(conn: &Connection, folder_id: Id) -> DomainResult<Vec<Tag>> {
    let mut st = conn
        .prepare_cached(
            "SELECT t.id, t.owner_id, t.name, t.color, 0 FROM folder_tags ft JOIN tags t ON t.id = ft.tag_id WHERE ft.folder_id = ?1 ORDER BY t.name",
        )
        .map_err(db_err)?;
    let tags = st.query_map(params![folder_id], tag_from).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
    Ok(tags)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn archive(&self) -> &dyn crate::domain::archive::ArchiveStore {
        self
    }

    async fn migrate(&self) -> DomainResult<()> {
        self.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            )
            .map_err(db_err)?;
            for (version, name, sql) in MIGRATIONS {
                let done: bool = tx
                    .query_row("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)", params![version], |r| r.get(0))
                    .map_err(db_err)?;
                if done {
                    continue;
                }
                tx.execute_batch(sql).map_err(|e| DomainError::Database(format!("migration {version} ({name}) failed: {e}")))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![version, name, now_millis()],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn migration_status(&self) -> DomainResult<(i64, i64)> {
        let known = MIGRATIONS.len() as i64;
        self.read(move |c| {
            let exists: bool = c
                .query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations')", [], |r| r.get(0))
                .map_err(db_err)?;
            if !exists {
                return Ok((0, known));
            }
            let n: i64 = c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).map_err(db_err)?;
            Ok((n, known))
        })
        .await
    }

    async fn ping(&self) -> DomainResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err)).await
    }

    async fn totals(&self) -> DomainResult<Totals> {
        let jobs = self.job_counts().await?;
        self.read(move |c| {
            let documents: i64 =
                c.query_row("SELECT COUNT(*) FROM documents WHERE trashed_at IS NULL", [], |r| r.get(0)).map_err(db_err)?;
            let pages: i64 = c.query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0)).map_err(db_err)?;
            Ok(Totals { documents, pages, jobs_by_kind_state: jobs })
        })
        .await
    }

    // ---- users ---------------------------------------------------------------------------------

    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> DomainResult<User> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.write(move |tx| {
            let now = now_millis();
            let id = match tx.execute(
                "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![username, hash, is_admin, now],
            ) {
                Ok(_) => tx.last_insert_rowid(),
                Err(e) if is_unique_violation(&e) => {
                    return Err(DomainError::Conflict(format!("the user name {username:?} is taken")));
                }
                Err(e) => return Err(db_err(e)),
            };
            for (name, kind) in [("Home", "home"), ("Inbox", "inbox")] {
                tx.execute(
                    "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES (?1, NULL, ?2, ?3, ?4, ?4)",
                    params![id, name, kind, now],
                )
                .map_err(db_err)?;
            }
            tx.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                .map_err(db_err)
        })
        .await
    }

    async fn user_by_name(&self, username: &str) -> DomainResult<Option<UserWithHash>> {
        let username = username.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, is_admin, disabled, created_at, password_hash FROM users WHERE username = ?1",
                params![username],
                |r| Ok(UserWithHash { user: user_from(r)?, password_hash: r.get(5)? }),
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn user_by_id(&self, id: Id) -> DomainResult<Option<User>> {
        self.read(move |c| {
            c.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn list_users(&self) -> DomainResult<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, username, is_admin, disabled, created_at FROM users ORDER BY username").map_err(db_err)?;
            let users = st.query_map([], user_from).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
            Ok(users)
        })
        .await
    }

    async fn count_users(&self) -> DomainResult<i64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).map_err(db_err)).await
    }

    async fn update_user(
        &self,
        id: Id,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        keep_api_tokens: bool,
    ) -> DomainResult<User> {
        let hash = password_hash.map(str::to_string);
        let user = self
            .write(move |tx| {
                let n = tx
                    .execute(
                        "UPDATE users SET password_hash = COALESCE(?2, password_hash), is_admin = COALESCE(?3, is_admin), disabled = COALESCE(?4, disabled) WHERE id = ?1",
                        params![id, hash, is_admin, disabled],
                    )
                    .map_err(db_err)?;
                if n == 0 {
                    return Err(DomainError::not_found(format!("user {id}")));
                }
                let kinds = match crate::domain::users::revocation_for(hash.is_some(), disabled, keep_api_tokens) {
                    crate::domain::users::Revocation::Nothing => None,
                    crate::domain::users::Revocation::Sessions => Some("'session'"),
                    crate::domain::users::Revocation::All => Some("'session', 'api'"),
                };
                if let Some(kinds) = kinds {
                    let mut st = tx
                        .prepare(&format!("DELETE FROM api_tokens WHERE user_id = ?1 AND kind IN ({kinds}) RETURNING id"))
                        .map_err(db_err)?;
                    let ids = st.query_map(params![id], |r| r.get::<_, Id>(0)).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
                    if !ids.is_empty() {
                        emit(tx, &NewEvent::tokens_revoked(id, &ids))?;
                    }
                }
                tx.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                    .map_err(db_err)
            })
            .await?;
        self.notify_events();
        Ok(user)
    }

    async fn create_token(
        &self,
        user_id: Id,
        name: &str,
        kind: TokenKind,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<Millis>,
    ) -> DomainResult<ApiToken> {
        let (name, token_hash, csrf_hash) = (name.to_string(), token_hash.to_string(), csrf_hash.map(str::to_string));
        self.write(move |tx| {
            let now = now_millis();
            tx.execute(
                "INSERT INTO api_tokens (user_id, name, kind, token_hash, csrf_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![user_id, name, kind.as_str(), token_hash, csrf_hash, now, expires_at],
            )
            .map_err(db_err)?;
            Ok(ApiToken { id: tx.last_insert_rowid(), user_id, name: name.clone(), kind, created_at: now, last_used_at: None, expires_at })
        })
        .await
    }

    async fn principal_by_token(&self, token_hash: &str) -> DomainResult<Option<Principal>> {
        let token_hash = token_hash.to_string();
        let now = now_millis();
        let found = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT u.id, u.username, u.is_admin, u.disabled, u.created_at, t.id, t.kind, t.csrf_hash, t.last_used_at \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2) AND u.disabled = 0",
                )
                .and_then(|mut st| {
                    st.query_row(params![token_hash, now], |r| {
                        Ok((
                            Principal {
                                user: user_from(r)?,
                                token_id: r.get(5)?,
                                token_kind: TokenKind::parse(&r.get::<_, String>(6)?),
                                csrf_hash: r.get(7)?,
                            },
                            r.get::<_, Option<Millis>>(8)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db_err)
            })
            .await?;
        let Some((principal, last_used)) = found else { return Ok(None) };
        // Record use at most once a minute: no write on every request.
        if last_used.is_none_or(|t| now - t > 60_000) {
            let id = principal.token_id;
            let _ = self
                .write(move |tx| tx.execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, now]).map_err(db_err))
                .await;
        }
        Ok(Some(principal))
    }

    async fn list_tokens(&self, user_id: Id, kind: TokenKind) -> DomainResult<Vec<ApiToken>> {
        self.read(move |c| {
            let mut st = c
                .prepare("SELECT id, user_id, name, kind, created_at, last_used_at, expires_at FROM api_tokens WHERE user_id = ?1 AND kind = ?2 ORDER BY id")
                .map_err(db_err)?;
            let rows = st
                .query_map(params![user_id, kind.as_str()], |r| {
                    Ok(ApiToken {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        name: r.get(2)?,
                        kind: TokenKind::parse(&r.get::<_, String>(3)?),
                        created_at: r.get(4)?,
                        last_used_at: r.get(5)?,
                        expires_at: r.get(6)?,
                    })
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }

    async fn delete_token(&self, user_id: Id, token_id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2", params![token_id, user_id]).map_err(db_err)?;
            if n == 0 {
                return Err(DomainError::not_found(format!("token {token_id}")));
            }
            emit(tx, &NewEvent::tokens_revoked(user_id, &[token_id]))
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    async fn begin_login(
        &self,
        account: &str,
        source: &str,
        policy: crate::domain::login::LoginPolicy,
    ) -> DomainResult<Result<crate::domain::login::LoginAttempt, crate::domain::login::LoginDecision>> {
        let (account, source) = (account.to_string(), source.to_string());
        self.write(move |tx| {
            let now = now_millis();
            let since = now - policy.window_ms;
            tx.execute("DELETE FROM login_attempts WHERE at < ?1", params![since]).map_err(db_err)?;
            let (account_failures, oldest_account_failure): (i64, Option<Millis>) = tx
                .query_row("SELECT COUNT(*), MIN(at) FROM login_attempts WHERE account = ?1 AND at >= ?2", params![account, since], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err)?;
            let (source_failures, last_source_failure): (i64, Option<Millis>) = tx
                .query_row("SELECT COUNT(*), MAX(at) FROM login_attempts WHERE source = ?1 AND at >= ?2", params![source, since], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err)?;
            let known_source = tx
                .query_row(
                    "SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id WHERE lower(u.username) = ?1 AND s.source = ?2",
                    params![account, source],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db_err)?
                .is_some();
            let history = crate::domain::login::LoginHistory {
                account_failures,
                oldest_account_failure,
                source_failures,
                last_source_failure,
                known_source,
            };
            match policy.decide(&history, now) {
                crate::domain::login::LoginDecision::Proceed => {
                    tx.execute("INSERT INTO login_attempts (account, source, at) VALUES (?1, ?2, ?3)", params![account, source, now])
                        .map_err(db_err)?;
                    Ok(Ok(crate::domain::login::LoginAttempt { id: tx.last_insert_rowid() }))
                }
                wait => Ok(Err(wait)),
            }
        })
        .await
    }

    async fn finish_login(&self, attempt: crate::domain::login::LoginAttempt, succeeded_as: Option<Id>, source: &str) -> DomainResult<()> {
        let Some(user_id) = succeeded_as else { return Ok(()) };
        let source = source.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM login_attempts WHERE id = ?1", params![attempt.id]).map_err(db_err)?;
            tx.execute(
                "INSERT INTO login_sources (user_id, source, last_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id, source) DO UPDATE SET last_at = excluded.last_at",
                params![user_id, source, now_millis()],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    // ---- folders -------------------------------------------------------------------------------

    async fn root_folders(&self, owner: Id) -> DomainResult<(Folder, Folder)> {
        self.read(move |c| {
            let get = |kind: &str| {
                c.query_row(
                    &format!("SELECT {FOLDER_COLS} FROM folders WHERE owner_id = ?1 AND kind = ?2"),
                    params![owner, kind],
                    folder_from,
                )
                .optional()
                .map_err(db_err)?
                .ok_or_else(|| DomainError::not_found(format!("{kind} folder of user {owner}")))
            };
            Ok((get("home")?, get("inbox")?))
        })
        .await
    }

    async fn folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        self.read(move |c| load_folder(c, owner, id)).await
    }

    async fn breadcrumbs(&self, owner: Id, id: Id) -> DomainResult<Vec<(Id, String)>> {
        self.read(move |c| {
            load_folder(c, owner, id)?;
            let mut st = c
                .prepare_cached(
                    "WITH RECURSIVE up(id, parent_id, name, depth) AS ( \
                       SELECT id, parent_id, name, 0 FROM folders WHERE id = ?1 \
                       UNION ALL SELECT f.id, f.parent_id, f.name, up.depth + 1 FROM folders f JOIN up ON f.id = up.parent_id) \
                     SELECT id, name FROM up ORDER BY depth DESC",
                )
                .map_err(db_err)?;
            let rows = st.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn folder_tags(&self, owner: Id, id: Id) -> DomainResult<Vec<Tag>> {
        self.read(move |c| {
            load_folder(c, owner, id)?;
            folder_tags_of(c, id)
        })
        .await
    }

    async fn create_folder(&self, owner: Id, parent_id: Id, name: &str) -> DomainResult<Folder> {
        let name = crate::domain::validate_folder_name(name)?;
        let out = self
            .write(move |tx| {
                live_folder(tx, owner, parent_id)?;
                let now = now_millis();
                match tx.execute(
                    "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES (?1, ?2, ?3, 'folder', ?4, ?4)",
                    params![owner, parent_id, name, now],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(DomainError::Conflict(format!("a folder named {name:?} already exists here")));
                    }
                    Err(e) => return Err(db_err(e)),
                }
                let id = tx.last_insert_rowid();
                emit(tx, &NewEvent::folder(owner, "folder.created", id, json!({"parent_id": parent_id, "name": name})))?;
                load_folder(tx, owner, id)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn update_folder(&self, owner: Id, id: Id, name: Option<&str>, parent_id: Option<Id>) -> DomainResult<Folder> {
        let name = name.map(crate::domain::validate_folder_name).transpose()?;
        let out = self
            .write(move |tx| {
                let f = live_folder(tx, owner, id)?;
                if f.kind != FolderKind::Folder {
                    return Err(DomainError::Conflict(format!("the {} folder cannot be renamed or moved", f.name)));
                }
                if let Some(p) = parent_id {
                    live_folder(tx, owner, p)?;
                    if subtree(tx, id)?.contains(&p) {
                        return Err(DomainError::Conflict("a folder cannot be moved into itself or one of its subfolders".into()));
                    }
                }
                let now = now_millis();
                match tx.execute(
                    "UPDATE folders SET name = COALESCE(?3, name), parent_id = COALESCE(?4, parent_id), updated_at = ?5 WHERE id = ?1 AND owner_id = ?2",
                    params![id, owner, name, parent_id, now],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(DomainError::Conflict("a folder with that name already exists there".into()));
                    }
                    Err(e) => return Err(db_err(e)),
                }
                let f = load_folder(tx, owner, id)?;
                emit(tx, &NewEvent::folder(owner, "folder.updated", id, json!({"parent_id": f.parent_id, "name": f.name})))?;
                Ok(f)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn trash_folder(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let f = live_folder(tx, owner, id)?;
            if f.kind != FolderKind::Folder {
                return Err(DomainError::Conflict(format!("the {} folder cannot be deleted", f.name)));
            }
            let now = now_millis();
            // The whole subtree goes with one timestamp, so a restore brings back exactly it.
            for fid in subtree(tx, id)? {
                tx.execute("UPDATE folders SET trashed_at = ?2 WHERE id = ?1 AND trashed_at IS NULL", params![fid, now]).map_err(db_err)?;
                tx.execute("UPDATE documents SET trashed_at = ?2 WHERE folder_id = ?1 AND trashed_at IS NULL", params![fid, now])
                    .map_err(db_err)?;
            }
            emit(tx, &NewEvent::folder(owner, "folder.trashed", id, json!({"parent_id": f.parent_id})))?;
            Ok(())
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    async fn restore_folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        let out = self
            .write(move |tx| {
                let f = load_folder(tx, owner, id)?;
                let Some(ts) = f.trashed_at else { return Ok(f) };
                let parent_ok = match f.parent_id {
                    Some(p) => load_folder(tx, owner, p).map(|pf| pf.trashed_at.is_none()).unwrap_or(false),
                    None => true,
                };
                let now = now_millis();
                let target = if parent_ok {
                    f.parent_id
                } else {
                    Some(
                        tx.query_row("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'home'", params![owner], |r| r.get::<_, Id>(0))
                            .map_err(db_err)?,
                    )
                };
                match tx.execute(
                    "UPDATE folders SET trashed_at = NULL, parent_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, target, now],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(DomainError::Conflict(format!(
                            "a folder named {:?} exists where this one would be restored; rename one of them first",
                            f.name
                        )));
                    }
                    Err(e) => return Err(db_err(e)),
                }
                for fid in subtree(tx, id)? {
                    tx.execute("UPDATE folders SET trashed_at = NULL WHERE id = ?1 AND trashed_at = ?2", params![fid, ts])
                        .map_err(db_err)?;
                    tx.execute("UPDATE documents SET trashed_at = NULL WHERE folder_id = ?1 AND trashed_at = ?2", params![fid, ts])
                        .map_err(db_err)?;
                }
                emit(tx, &NewEvent::folder(owner, "folder.restored", id, json!({"parent_id": target})))?;
                load_folder(tx, owner, id)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn children(&self, owner: Id, id: Id, sort: ChildSort, page: PageReq) -> DomainResult<Paged<ChildItem>> {
        self.read(move |c| {
            load_folder(c, owner, id)?;
            let nf: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM folders WHERE parent_id = ?1 AND trashed_at IS NULL")
                .and_then(|mut st| st.query_row(params![id], |r| r.get(0)))
                .map_err(db_err)?;
            let nd: i64 = c
                .prepare_cached("SELECT COALESCE((SELECT live FROM folder_document_counts WHERE folder_id = ?1), 0)")
                .and_then(|mut st| st.query_row(params![id], |r| r.get(0)))
                .map_err(db_err)?;
            let (offset, limit) = (page.offset(), page.limit());
            let mut items = Vec::new();
            if offset < nf {
                let sql = format!(
                    "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = ?1 AND trashed_at IS NULL ORDER BY {} LIMIT ?2 OFFSET ?3",
                    child_order(sort, false)
                );
                let mut st = c.prepare_cached(&sql).map_err(db_err)?;
                let folders = st
                    .query_map(params![id, limit, offset], folder_from)
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                items.extend(folders_with_tags(c, folders)?);
            }
            let remaining = limit - items.len() as i64;
            if remaining > 0 {
                let w = Window::of(nd, (offset - nf).max(0), remaining);
                // The page's ids from the index alone (backwards past the middle), then only those rows.
                let order = child_order(sort, true);
                let sql = format!(
                    "SELECT {DOC_COLS} FROM (SELECT d.id FROM documents d WHERE d.folder_id = ?1 AND d.trashed_at IS NULL \
                     ORDER BY {} LIMIT ?2 OFFSET ?3) p CROSS JOIN documents d ON d.id = p.id JOIN versions v ON v.id = d.current_version_id \
                     ORDER BY {order}",
                    w.order(order)
                );
                let mut st = c.prepare_cached(&sql).map_err(db_err)?;
                let mut docs = st
                    .query_map(params![id, w.limit, w.offset], document_from)
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                attach_tags(c, &mut docs)?;
                items.extend(docs.into_iter().map(ChildItem::Document));
            }
            Ok(Paged { truncated: false, items, total: nf + nd, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn set_folder_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<()> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.write(move |tx| {
            load_folder(tx, owner, id)?;
            check_tags_owned(tx, owner, &add)?;
            check_tags_owned(tx, owner, &remove)?;
            for t in &add {
                tx.execute("INSERT OR IGNORE INTO folder_tags (folder_id, tag_id) VALUES (?1, ?2)", params![id, t]).map_err(db_err)?;
            }
            for t in &remove {
                tx.execute("DELETE FROM folder_tags WHERE folder_id = ?1 AND tag_id = ?2", params![id, t]).map_err(db_err)?;
            }
            emit(tx, &NewEvent::folder(owner, "folder.updated", id, json!({})))?;
            Ok(())
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    // ---- documents -----------------------------------------------------------------------------

    async fn create_upload(&self, up: NewUpload) -> DomainResult<UploadOutcome> {
        let out = self
            .write(move |tx| {
                live_folder(tx, up.owner_id, up.folder_id)?;
                let now = now_millis();
                let duplicate_of: Option<Id> = tx
                    .query_row(
                        "SELECT id FROM documents WHERE owner_id = ?1 AND sha256 = ?2 ORDER BY id LIMIT 1",
                        params![up.owner_id, up.sha256],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err)?;
                if let Some(dup) = duplicate_of
                    && up.reject_duplicates
                {
                    return Err(DomainError::Conflict(format!("this file is already in your library as document {dup}")));
                }
                tx.execute(
                    "INSERT INTO documents (owner_id, folder_id, title, state, sha256, duplicate_of, created_at, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6)",
                    params![up.owner_id, up.folder_id, up.title, up.sha256, duplicate_of, now],
                )
                .map_err(db_err)?;
                let doc_id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, created_at, note) VALUES (?1, 1, ?2, ?3, ?4, ?5, 'queued', ?6, 'uploaded')",
                    params![doc_id, up.filename, up.mime, up.size, up.sha256, now],
                )
                .map_err(db_err)?;
                let version_id = tx.last_insert_rowid();
                tx.execute("UPDATE documents SET current_version_id = ?2 WHERE id = ?1", params![doc_id, version_id]).map_err(db_err)?;
                for name in &up.tag_names {
                    tx.execute("INSERT OR IGNORE INTO tags (owner_id, name) VALUES (?1, ?2)", params![up.owner_id, name]).map_err(db_err)?;
                    tx.execute(
                        "INSERT OR IGNORE INTO document_tags (document_id, tag_id) SELECT ?1, id FROM tags WHERE owner_id = ?2 AND name = ?3",
                        params![doc_id, up.owner_id, name],
                    )
                    .map_err(db_err)?;
                }
                title_index_update(tx, doc_id, &up.title)?;
                let job = NewJob::new(crate::jobs::kinds::PROCESS_VERSION, json!({"version_id": version_id}))
                    .priority(10)
                    .unique(format!("process_version:{version_id}"))
                    .max_attempts(up.max_attempts)
                    .for_document(up.owner_id, doc_id);
                let job_id = insert_job(tx, &job, now)?.ok_or_else(|| DomainError::Conflict("processing is already queued".into()))?;
                emit(tx, &NewEvent::document(up.owner_id, "document.created", doc_id, json!({"title": up.title, "folder_id": up.folder_id})))?;
                let document = load_document(tx, up.owner_id, doc_id)?;
                Ok(UploadOutcome { document, version_id, job_id })
            })
            .await?;
        self.notify_jobs();
        self.notify_events();
        Ok(out)
    }

    async fn document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        self.read(move |c| load_document(c, owner, id)).await
    }

    async fn list_documents(&self, owner: Id, f: &DocumentFilter, page: PageReq) -> DomainResult<Paged<Document>> {
        let f = f.clone();
        self.read(move |c| {
            let mut conds = vec!["d.owner_id = ?1".to_string()];
            let mut args: Vec<rusqlite::types::Value> = vec![owner.into()];
            conds.push(if f.trashed { "d.trashed_at IS NOT NULL".into() } else { "d.trashed_at IS NULL".into() });
            if let Some(folder) = f.folder_id {
                args.push(folder.into());
                conds.push(format!("d.folder_id = ?{}", args.len()));
            }
            if let Some(tag) = f.tag_id {
                args.push(tag.into());
                conds.push(format!("EXISTS (SELECT 1 FROM document_tags dt WHERE dt.document_id = d.id AND dt.tag_id = ?{})", args.len()));
            }
            if let Some(state) = f.state {
                args.push(state.as_str().to_string().into());
                conds.push(format!("d.state = ?{}", args.len()));
            }
            if let Some(a) = f.created_after {
                args.push(a.into());
                conds.push(format!("d.created_at >= ?{}", args.len()));
            }
            if let Some(b) = f.created_before {
                args.push(b.into());
                conds.push(format!("d.created_at < ?{}", args.len()));
            }
            match f.duplicate {
                Some(true) => conds.push("d.duplicate_of IS NOT NULL".into()),
                Some(false) => conds.push("d.duplicate_of IS NULL".into()),
                None => {}
            }
            let order = match f.sort {
                DocSort::CreatedDesc => "d.created_at DESC, d.id DESC",
                DocSort::CreatedAsc => "d.created_at ASC, d.id ASC",
                DocSort::TitleAsc => "d.title COLLATE NOCASE ASC, d.id ASC",
                DocSort::TitleDesc => "d.title COLLATE NOCASE DESC, d.id DESC",
            };
            let wher = conds.join(" AND ");
            let total: i64 = match f.kept_count() {
                Some(KeptCount::Owner) => c
                    .prepare_cached("SELECT COALESCE((SELECT live FROM owner_document_counts WHERE owner_id = ?1), 0)")
                    .and_then(|mut st| st.query_row(params![owner], |r| r.get(0))),
                Some(KeptCount::Folder(folder)) => c
                    .prepare_cached(
                        "SELECT COALESCE((SELECT k.live FROM folder_document_counts k JOIN folders f ON f.id = k.folder_id \
                         WHERE k.folder_id = ?1 AND f.owner_id = ?2), 0)",
                    )
                    .and_then(|mut st| st.query_row(params![folder, owner], |r| r.get(0))),
                None => c
                    .prepare_cached(&format!("SELECT COUNT(*) FROM documents d WHERE {wher}"))
                    .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0))),
            }
            .map_err(db_err)?;
            let n = args.len();
            let w = Window::of(total, page.offset(), page.limit());
            args.push(w.limit.into());
            args.push(w.offset.into());
            // The page's ids from an index in list order (or backwards, past the middle), then
            // only those rows.
            let sql = format!(
                "SELECT {DOC_COLS} FROM (SELECT d.id FROM documents d WHERE {wher} ORDER BY {} LIMIT ?{} OFFSET ?{}) p \
                 CROSS JOIN documents d ON d.id = p.id JOIN versions v ON v.id = d.current_version_id ORDER BY {order}",
                w.order(order),
                n + 1,
                n + 2
            );
            let mut st = c.prepare_cached(&sql).map_err(db_err)?;
            let mut docs = st
                .query_map(params_from_iter(args.iter()), document_from)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            attach_tags(c, &mut docs)?;
            Ok(Paged { truncated: false, items: docs, total, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn update_document(
        &self,
        owner: Id,
        id: Id,
        title: Option<&str>,
        folder_id: Option<Id>,
        tag_ids: Option<&[Id]>,
    ) -> DomainResult<Document> {
        let title = title.map(str::to_string);
        let tag_ids = tag_ids.map(|t| t.to_vec());
        let out = self
            .write(move |tx| {
                let doc = load_document(tx, owner, id)?;
                let now = now_millis();
                if let Some(t) = &title {
                    tx.execute("UPDATE documents SET title = ?2, updated_at = ?3 WHERE id = ?1", params![id, t, now]).map_err(db_err)?;
                    title_index_update(tx, id, t)?;
                }
                if let Some(fid) = folder_id
                    && fid != doc.folder_id
                {
                    live_folder(tx, owner, fid)?;
                    tx.execute("UPDATE documents SET folder_id = ?2, updated_at = ?3 WHERE id = ?1", params![id, fid, now])
                        .map_err(db_err)?;
                    emit(tx, &NewEvent::document(owner, "document.moved", id, json!({"from": doc.folder_id, "to": fid})))?;
                }
                if let Some(tags) = &tag_ids {
                    check_tags_owned(tx, owner, tags)?;
                    tx.execute("DELETE FROM document_tags WHERE document_id = ?1", params![id]).map_err(db_err)?;
                    for t in tags {
                        tx.execute("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)", params![id, t])
                            .map_err(db_err)?;
                    }
                    tx.execute("UPDATE documents SET updated_at = ?2 WHERE id = ?1", params![id, now]).map_err(db_err)?;
                }
                emit(tx, &NewEvent::document(owner, "document.updated", id, json!({})))?;
                load_document(tx, owner, id)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn change_document_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<Document> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        let out = self
            .write(move |tx| {
                load_document(tx, owner, id)?;
                check_tags_owned(tx, owner, &add)?;
                check_tags_owned(tx, owner, &remove)?;
                for t in &add {
                    tx.execute("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)", params![id, t])
                        .map_err(db_err)?;
                }
                for t in &remove {
                    tx.execute("DELETE FROM document_tags WHERE document_id = ?1 AND tag_id = ?2", params![id, t]).map_err(db_err)?;
                }
                tx.execute("UPDATE documents SET updated_at = ?2 WHERE id = ?1", params![id, now_millis()]).map_err(db_err)?;
                emit(tx, &NewEvent::document(owner, "document.updated", id, json!({})))?;
                load_document(tx, owner, id)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn trash_document(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let doc = load_document(tx, owner, id)?;
            if doc.trashed_at.is_some() {
                return Ok(());
            }
            let now = now_millis();
            tx.execute("UPDATE documents SET trashed_at = ?2, updated_at = ?2 WHERE id = ?1", params![id, now]).map_err(db_err)?;
            emit(tx, &NewEvent::document(owner, "document.trashed", id, json!({"folder_id": doc.folder_id})))?;
            Ok(())
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    async fn restore_document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        let out = self
            .write(move |tx| {
                let doc = load_document(tx, owner, id)?;
                if doc.trashed_at.is_none() {
                    return Ok(doc);
                }
                let now = now_millis();
                // Back where it was, unless that folder is gone to the trash too: then the Inbox.
                let folder_live = load_folder(tx, owner, doc.folder_id).map(|f| f.trashed_at.is_none()).unwrap_or(false);
                let folder = if folder_live {
                    doc.folder_id
                } else {
                    tx.query_row("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'inbox'", params![owner], |r| r.get(0))
                        .map_err(db_err)?
                };
                tx.execute(
                    "UPDATE documents SET trashed_at = NULL, folder_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, folder, now],
                )
                .map_err(db_err)?;
                emit(tx, &NewEvent::document(owner, "document.restored", id, json!({"folder_id": folder})))?;
                load_document(tx, owner, id)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn purge_document(&self, owner: Id, id: Id) -> DomainResult<Vec<String>> {
        let out = self
            .write(move |tx| {
                let doc = load_document(tx, owner, id)?;
                if doc.trashed_at.is_none() {
                    return Err(DomainError::Conflict(
                        "only a document in the trash can be deleted for good; move it to the trash first".into(),
                    ));
                }
                let blobs = purge_doc_rows(tx, id)?;
                emit(tx, &NewEvent::document(owner, "document.deleted", id, json!({})))?;
                unreferenced(tx, blobs)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn list_trash(&self, owner: Id, page: PageReq) -> DomainResult<Paged<ChildItem>> {
        self.read(move |c| {
            // Top level of the trash: what did not go there together with its parent folder.
            let nf: i64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM folders f WHERE f.owner_id = ?1 AND f.trashed_at IS NOT NULL AND {TOP_FOLDER}"),
                    params![owner],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let nd: i64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM documents d WHERE d.owner_id = ?1 AND d.trashed_at IS NOT NULL AND {TOP_DOC}"),
                    params![owner],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let (offset, limit) = (page.offset(), page.limit());
            let mut items = Vec::new();
            if offset < nf {
                let mut st = c
                    .prepare(&format!(
                        "SELECT {FOLDER_COLS} FROM folders f WHERE owner_id = ?1 AND trashed_at IS NOT NULL AND {TOP_FOLDER} ORDER BY trashed_at DESC, id LIMIT ?2 OFFSET ?3"
                    ))
                    .map_err(db_err)?;
                let folders = st
                    .query_map(params![owner, limit, offset], folder_from)
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                items.extend(folders_with_tags(c, folders)?);
            }
            let remaining = limit - items.len() as i64;
            if remaining > 0 {
                let mut st = c
                    .prepare(&format!(
                        "SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.owner_id = ?1 AND d.trashed_at IS NOT NULL AND {TOP_DOC} ORDER BY d.trashed_at DESC, d.id LIMIT ?2 OFFSET ?3"
                    ))
                    .map_err(db_err)?;
                let mut docs = st
                    .query_map(params![owner, remaining, (offset - nf).max(0)], document_from)
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                attach_tags(c, &mut docs)?;
                items.extend(docs.into_iter().map(ChildItem::Document));
            }
            Ok(Paged { truncated: false, items, total: nf + nd, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn empty_trash(&self, owner: Id) -> DomainResult<Vec<String>> {
        let out = self
            .write(move |tx| {
                let mut blobs = Vec::new();
                // Documents trashed themselves, and every document inside a trashed folder tree.
                let trashed_folders: Vec<Id> = {
                    let mut st = tx.prepare("SELECT id FROM folders WHERE owner_id = ?1 AND trashed_at IS NOT NULL").map_err(db_err)?;
                    st.query_map(params![owner], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?
                };
                let mut all_folders = Vec::new();
                for f in &trashed_folders {
                    all_folders.extend(subtree(tx, *f)?);
                }
                let mut doc_ids: Vec<Id> = {
                    let mut st = tx.prepare("SELECT id FROM documents WHERE owner_id = ?1 AND trashed_at IS NOT NULL").map_err(db_err)?;
                    st.query_map(params![owner], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?
                };
                for f in &all_folders {
                    let mut st = tx.prepare_cached("SELECT id FROM documents WHERE folder_id = ?1").map_err(db_err)?;
                    let ids = st.query_map(params![f], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<Id>, _>>().map_err(db_err)?;
                    doc_ids.extend(ids);
                }
                doc_ids.sort_unstable();
                doc_ids.dedup();
                for d in &doc_ids {
                    blobs.extend(purge_doc_rows(tx, *d)?);
                    emit(tx, &NewEvent::document(owner, "document.deleted", *d, json!({})))?;
                }
                for f in &trashed_folders {
                    tx.execute("DELETE FROM folders WHERE id = ?1", params![f]).map_err(db_err)?;
                    emit(tx, &NewEvent::folder(owner, "folder.deleted", *f, json!({})))?;
                }
                unreferenced(tx, blobs)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn versions(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Version>> {
        self.read(move |c| {
            load_document(c, owner, document_id)?;
            let mut st = c
                .prepare_cached(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.document_id = ?1 ORDER BY v.number"))
                .map_err(db_err)?;
            let rows = st.query_map(params![document_id], |r| version_from(r, 0)).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn version(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Version> {
        self.read(move |c| {
            let doc = load_document(c, owner, document_id)?;
            let vid = version_id.unwrap_or(doc.version.id);
            c.prepare_cached(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = ?1 AND v.document_id = ?2"))
                .and_then(|mut st| st.query_row(params![vid, document_id], |r| version_from(r, 0)).optional())
                .map_err(db_err)?
                .ok_or_else(|| DomainError::not_found(format!("version {vid} of document {document_id}")))
        })
        .await
    }

    async fn pages(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Vec<Page>> {
        let v = self.version(owner, document_id, version_id).await?;
        self.read(move |c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 ORDER BY number")).map_err(db_err)?;
            let rows = st.query_map(params![v.id], page_from).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn page(&self, owner: Id, document_id: Id, version_id: Option<Id>, number: i32) -> DomainResult<Page> {
        let v = self.version(owner, document_id, version_id).await?;
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 AND number = ?2"))
                .and_then(|mut st| st.query_row(params![v.id, number], page_from).optional())
                .map_err(db_err)?
                .ok_or_else(|| DomainError::not_found(format!("page {number} of document {document_id}")))
        })
        .await
    }

    async fn reprocess_document(&self, owner: Id, id: Id, max_attempts: i32) -> DomainResult<Id> {
        let out = self
            .write(move |tx| {
                let doc = load_document(tx, owner, id)?;
                let vid = doc.version.id;
                let now = now_millis();
                // Forget partial results of the earlier run.
                let page_ids: Vec<Id> = {
                    let mut st = tx.prepare("SELECT id FROM pages WHERE version_id = ?1").map_err(db_err)?;
                    st.query_map(params![vid], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?
                };
                for p in page_ids {
                    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![p]).map_err(db_err)?;
                }
                tx.execute("DELETE FROM pages WHERE version_id = ?1", params![vid]).map_err(db_err)?;
                tx.execute(
                    "UPDATE versions SET state = 'queued', error = NULL, pages_done = 0, page_count = 0 WHERE id = ?1",
                    params![vid],
                )
                .map_err(db_err)?;
                tx.execute("UPDATE documents SET state = 'queued', error = NULL, updated_at = ?2 WHERE id = ?1", params![id, now])
                    .map_err(db_err)?;
                let job = NewJob::new(crate::jobs::kinds::PROCESS_VERSION, json!({"version_id": vid}))
                    .priority(10)
                    .unique(format!("process_version:{vid}"))
                    .max_attempts(max_attempts)
                    .for_document(owner, id);
                let job_id =
                    insert_job(tx, &job, now)?.ok_or_else(|| DomainError::Conflict("this document is already being processed".into()))?;
                emit(tx, &NewEvent::document(owner, "document.updated", id, json!({"state": "queued"})))?;
                Ok(job_id)
            })
            .await?;
        self.notify_jobs();
        self.notify_events();
        Ok(out)
    }

    // ---- tags ----------------------------------------------------------------------------------

    async fn tags(&self, owner: Id) -> DomainResult<Vec<Tag>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT t.id, t.owner_id, t.name, t.color, \
                       (SELECT COUNT(*) FROM document_tags dt JOIN documents d ON d.id = dt.document_id WHERE dt.tag_id = t.id AND d.trashed_at IS NULL) \
                     FROM tags t WHERE t.owner_id = ?1 ORDER BY t.name COLLATE NOCASE",
                )
                .map_err(db_err)?;
            let rows = st.query_map(params![owner], tag_from).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn create_tag(&self, owner: Id, name: &str, color: &str) -> DomainResult<Tag> {
        let (name, color) = (name.to_string(), color.to_string());
        let out = self
            .write(move |tx| {
                match tx.execute("INSERT INTO tags (owner_id, name, color) VALUES (?1, ?2, ?3)", params![owner, name, color]) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(DomainError::Conflict(format!("a tag named {name:?} already exists"))),
                    Err(e) => return Err(db_err(e)),
                }
                let id = tx.last_insert_rowid();
                emit(
                    tx,
                    &NewEvent { owner_id: owner, kind: "tag.created", document_id: None, folder_id: None, data: json!({"tag_id": id}) },
                )?;
                Ok(Tag { id, owner_id: owner, name: name.clone(), color: color.clone(), document_count: 0 })
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn update_tag(&self, owner: Id, id: Id, name: Option<&str>, color: Option<&str>) -> DomainResult<Tag> {
        let (name, color) = (name.map(str::to_string), color.map(str::to_string));
        let out = self
            .write(move |tx| {
                match tx.execute(
                    "UPDATE tags SET name = COALESCE(?3, name), color = COALESCE(?4, color) WHERE id = ?1 AND owner_id = ?2",
                    params![id, owner, name, color],
                ) {
                    Ok(0) => return Err(DomainError::not_found(format!("tag {id}"))),
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(DomainError::Conflict("a tag with that name already exists".into())),
                    Err(e) => return Err(db_err(e)),
                }
                emit(tx, &NewEvent { owner_id: owner, kind: "tag.updated", document_id: None, folder_id: None, data: json!({"tag_id": id}) })?;
                tx.query_row(
                    "SELECT t.id, t.owner_id, t.name, t.color, (SELECT COUNT(*) FROM document_tags WHERE tag_id = t.id) FROM tags t WHERE t.id = ?1",
                    params![id],
                    tag_from,
                )
                .map_err(db_err)
            })
            .await?;
        self.notify_events();
        Ok(out)
    }

    async fn delete_tag(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM tags WHERE id = ?1 AND owner_id = ?2", params![id, owner]).map_err(db_err)?;
            if n == 0 {
                return Err(DomainError::not_found(format!("tag {id}")));
            }
            emit(tx, &NewEvent { owner_id: owner, kind: "tag.deleted", document_id: None, folder_id: None, data: json!({"tag_id": id}) })?;
            Ok(())
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    // ---- benchmarks ----------------------------------------------------------------------------

    async fn bulk_load_for_bench(&self, owner: Id, docs: Vec<SyntheticDoc>) -> DomainResult<Vec<Id>> {
        // One transaction for the whole batch with cached prepared statements: in SQLite that is
        // as fast as multi-row VALUES lists, without the bound-parameter limit.
        self.write(move |tx| {
            let mut doc_ids = Vec::with_capacity(docs.len());
            let mut ins_doc = tx
                .prepare_cached(
                    "INSERT INTO documents (owner_id, folder_id, title, state, sha256, created_at, updated_at) VALUES (?1, ?2, ?3, 'ready', ?4, ?5, ?5)",
                )
                .map_err(db_err)?;
            let mut ins_version = tx
                .prepare_cached(
                    "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, page_count, pages_done, note, created_at) \
                     VALUES (?1, 1, ?2, 'application/pdf', ?3, ?4, 'ready', ?5, ?5, 'uploaded', ?6)",
                )
                .map_err(db_err)?;
            let mut set_current = tx.prepare_cached("UPDATE documents SET current_version_id = ?2 WHERE id = ?1").map_err(db_err)?;
            let mut ins_page = tx
                .prepare_cached(
                    "INSERT INTO pages (version_id, number, width, height, text, lines_json, source) VALUES (?1, ?2, 595.0, 842.0, ?3, '[]', 'text')",
                )
                .map_err(db_err)?;
            let mut ins_index = tx
                .prepare_cached("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db_err)?;
            let mut ins_tag = tx.prepare_cached("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)").map_err(db_err)?;
            for d in &docs {
                ins_doc.execute(params![owner, d.folder_id, d.title, d.sha256, d.created_at]).map_err(db_err)?;
                let doc_id = tx.last_insert_rowid();
                ins_version
                    .execute(params![doc_id, d.filename, d.size, d.sha256, d.pages.len() as i64, d.created_at])
                    .map_err(db_err)?;
                let version_id = tx.last_insert_rowid();
                set_current.execute(params![doc_id, version_id]).map_err(db_err)?;
                ins_index.execute(params![-doc_id, d.title, doc_id, 0]).map_err(db_err)?;
                for (i, text) in d.pages.iter().enumerate() {
                    let number = i as i64 + 1;
                    ins_page.execute(params![version_id, number, text]).map_err(db_err)?;
                    let page_id = tx.last_insert_rowid();
                    if !text.is_empty() {
                        ins_index.execute(params![page_id, text, doc_id, number]).map_err(db_err)?;
                    }
                }
                for t in &d.tag_ids {
                    ins_tag.execute(params![doc_id, t]).map_err(db_err)?;
                }
                doc_ids.push(doc_id);
            }
            Ok(doc_ids)
        })
        .await
    }

    async fn analyze_after_bulk_load(&self) -> DomainResult<()> {
        self.write(|tx| tx.execute_batch("PRAGMA optimize").map_err(db_err)).await
    }

    // ---- search --------------------------------------------------------------------------------

    async fn search(&self, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
        let q = q.clone();
        // The search stops at its time limit, or as soon as this future is dropped (the client
        // went away): SQLite's progress handler asks every few thousand steps.
        let cancelled = super::CancelFlag::default();
        let flag = cancelled.shared();
        let limit = q.time_limit;
        self.read_mut(move |c| {
            let deadline = std::time::Instant::now() + limit;
            c.progress_handler(4_000, Some(move || flag.is_set() || std::time::Instant::now() > deadline)).map_err(db_err)?;
            let out = search_in(c, owner, &q, page).map_err(|e| super::interrupted_as_too_expensive(e, limit));
            c.progress_handler(0, None::<fn() -> bool>).map_err(db_err)?;
            out
        })
        .await
    }
    // ---- the job table -------------------------------------------------------------------------

    async fn enqueue(&self, jobs: Vec<NewJob>) -> DomainResult<Vec<Option<Id>>> {
        let out = self
            .write(move |tx| {
                let now = now_millis();
                jobs.iter().map(|j| insert_job(tx, j, now)).collect::<DomainResult<Vec<_>>>()
            })
            .await?;
        self.notify_jobs();
        Ok(out)
    }

    async fn claim(&self, worker_id: &str, kinds: &[String], limit: usize, lease_ms: Millis) -> DomainResult<Vec<ClaimedJob>> {
        let (worker_id, kinds) = (worker_id.to_string(), kinds.to_vec());
        self.write(move |tx| {
            let now = now_millis();
            let kind_filter =
                if kinds.is_empty() { String::new() } else { format!("AND kind IN ({})", placeholders(kinds.len(), 5)) };
            let sql = format!(
                "UPDATE jobs SET state = 'running', locked_by = ?1, locked_until = ?2, lease_seq = lease_seq + 1, attempts = attempts + 1, updated_at = ?3 \
                 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?3 {kind_filter} ORDER BY priority DESC, run_after, id LIMIT ?4) \
                 RETURNING id, kind, payload, attempts, lease_seq, max_attempts, timeout_secs, document_id, owner_id, priority"
            );
            let mut args: Vec<rusqlite::types::Value> =
                vec![worker_id.clone().into(), (now + lease_ms).into(), now.into(), (limit as i64).into()];
            args.extend(kinds.iter().map(|k| rusqlite::types::Value::from(k.clone())));
            let mut st = tx.prepare_cached(&sql).map_err(db_err)?;
            let mut jobs = st
                .query_map(params_from_iter(args.iter()), |r| {
                    let payload: String = r.get(2)?;
                    Ok((
                        r.get::<_, i32>(9)?,
                        ClaimedJob {
                            id: r.get(0)?,
                            kind: r.get(1)?,
                            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                            attempt: r.get(3)?,
                            lease_seq: r.get(4)?,
                            max_attempts: r.get(5)?,
                            timeout_secs: r.get(6)?,
                            document_id: r.get(7)?,
                            owner_id: r.get(8)?,
                        },
                    ))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            jobs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
            Ok(jobs.into_iter().map(|(_, j)| j).collect())
        })
        .await
    }

    async fn heartbeat(&self, leases: &[Lease], lease_ms: Millis) -> DomainResult<Vec<bool>> {
        let leases = leases.to_vec();
        self.write(move |tx| {
            let now = now_millis();
            let mut st = tx
                .prepare_cached(
                    "UPDATE jobs SET locked_until = ?4, updated_at = ?5 WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                )
                .map_err(db_err)?;
            leases
                .iter()
                .map(|l| st.execute(params![l.job_id, l.worker_id, l.seq, now + lease_ms, now]).map(|n| n == 1).map_err(db_err))
                .collect()
        })
        .await
    }

    async fn complete(&self, leases: &[Lease]) -> DomainResult<Vec<bool>> {
        let leases = leases.to_vec();
        self.write(move |tx| {
            let now = now_millis();
            leases.iter().map(|l| complete_in(tx, l, now)).collect()
        })
        .await
    }

    async fn fail(&self, lease: &Lease, error: &str, permanent: bool) -> DomainResult<Option<FailOutcome>> {
        let (lease, error) = (lease.clone(), error.to_string());
        let jitter: f64 = rand::random();
        self.write(move |tx| {
            let now = now_millis();
            let row: Option<(i32, i32)> = tx
                .query_row(
                    "SELECT attempts, max_attempts FROM jobs WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                    params![lease.job_id, lease.worker_id, lease.seq],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            let Some((attempts, max_attempts)) = row else { return Ok(None) };
            if permanent || attempts >= max_attempts {
                tx.execute(
                    "UPDATE jobs SET state = 'failed', last_error = ?2, locked_by = NULL, locked_until = NULL, updated_at = ?3 WHERE id = ?1",
                    params![lease.job_id, error, now],
                )
                .map_err(db_err)?;
                Ok(Some(FailOutcome::Failed))
            } else {
                let run_after = now + backoff_millis(attempts, jitter);
                tx.execute(
                    "UPDATE jobs SET state = 'queued', last_error = ?2, locked_by = NULL, locked_until = NULL, run_after = ?3, updated_at = ?4 WHERE id = ?1",
                    params![lease.job_id, error, run_after, now],
                )
                .map_err(db_err)?;
                Ok(Some(FailOutcome::Retry { run_after }))
            }
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let n = tx
                    .execute(
                        "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = MAX(attempts - 1, 0), run_after = ?4, updated_at = ?4 \
                         WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                        params![lease.job_id, lease.worker_id, lease.seq, now_millis()],
                    )
                    .map_err(db_err)?;
                Ok(n == 1)
            })
            .await?;
        self.notify_jobs();
        Ok(ok)
    }

    async fn reap_expired(&self) -> DomainResult<u64> {
        let n = self
            .write(|tx| {
                let now = now_millis();
                let msg = "the worker running this job stopped responding (its lease expired)";
                let (reaped, failed_docs): (u64, Vec<(Id, Id)>) = {
                    let mut st = tx
                        .prepare_cached(
                            "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                               last_error = ?2, locked_by = NULL, locked_until = NULL, run_after = ?1, updated_at = ?1 \
                             WHERE state = 'running' AND locked_until < ?1 RETURNING id, state, document_id",
                        )
                        .map_err(db_err)?;
                    let rows = st
                        .query_map(params![now, msg], |r| Ok((r.get::<_, Id>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Id>>(2)?)))
                        .map_err(db_err)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(db_err)?;
                    let reaped = rows.len() as u64;
                    (reaped, rows.into_iter().filter(|r| r.1 == "failed").filter_map(|r| r.2.map(|d| (r.0, d))).collect())
                };
                for (_, doc) in &failed_docs {
                    let owner: Option<Id> = tx
                        .query_row("SELECT owner_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0))
                        .optional()
                        .map_err(db_err)?;
                    if let Some(owner) = owner {
                        tx.execute(
                            "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                            params![doc, msg, now],
                        )
                        .map_err(db_err)?;
                        emit(tx, &NewEvent::document(owner, "document.failed", *doc, json!({"error": msg})))?;
                    }
                }
                // (Not tx.changes(): after the loop above that is the last event INSERT.)
                Ok(reaped)
            })
            .await?;
        if n > 0 {
            self.notify_jobs();
            self.notify_events();
        }
        Ok(n)
    }

    async fn job(&self, id: Id) -> DomainResult<JobView> {
        self.read(move |c| {
            c.query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"), params![id], job_from)
                .optional()
                .map_err(db_err)?
                .ok_or_else(|| DomainError::not_found(format!("job {id}")))
        })
        .await
    }

    async fn jobs_for_owner(&self, owner: Id, document_id: Option<Id>, page: PageReq) -> DomainResult<Paged<JobView>> {
        self.read(move |c| {
            if let Some(d) = document_id {
                load_document(c, owner, d)?;
            }
            let total: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE owner_id = ?1 AND (?2 IS NULL OR document_id = ?2)",
                    params![owner, document_id],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let mut st = c
                .prepare(&format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE owner_id = ?1 AND (?2 IS NULL OR document_id = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4"
                ))
                .map_err(db_err)?;
            let items = st
                .query_map(params![owner, document_id, page.limit(), page.offset()], job_from)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn retry_job(&self, owner: Id, id: Id) -> DomainResult<JobView> {
        let out = self
            .write(move |tx| {
                let job = tx
                    .query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1 AND owner_id = ?2"), params![id, owner], job_from)
                    .optional()
                    .map_err(db_err)?
                    .ok_or_else(|| DomainError::not_found(format!("job {id}")))?;
                if job.state != JobState::Failed {
                    return Err(DomainError::Conflict(format!("job {id} is {}, only a failed job can be retried", job.state.as_str())));
                }
                let now = now_millis();
                match tx.execute(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(DomainError::Conflict("the same work is already queued".into())),
                    Err(e) => return Err(db_err(e)),
                }
                if let Some(doc) = job.document_id {
                    tx.execute("UPDATE documents SET state = 'queued', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])
                        .map_err(db_err)?;
                    emit(tx, &NewEvent::document(owner, "document.updated", doc, json!({"state": "queued"})))?;
                }
                tx.query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"), params![id], job_from).map_err(db_err)
            })
            .await?;
        self.notify_jobs();
        self.notify_events();
        Ok(out)
    }

    async fn job_counts(&self) -> DomainResult<Vec<(String, String, i64)>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state").map_err(db_err)?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    // ---- processing ----------------------------------------------------------------------------

    async fn begin_version(&self, lease: &Lease, version_id: Id, page_count: i32, page_jobs: Vec<NewJob>) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                if page_count <= 0 {
                    // Nothing to process: the document fails in words instead of waiting forever
                    // for a finishing job that no page will ever queue.
                    let error = "the file has no pages";
                    tx.execute(
                        "UPDATE versions SET state = 'failed', error = ?2, page_count = 0, pages_done = 0 WHERE id = ?1",
                        params![version_id, error],
                    )
                    .map_err(db_err)?;
                    tx.execute(
                        "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND current_version_id = ?4",
                        params![doc, error, now, version_id],
                    )
                    .map_err(db_err)?;
                    emit(tx, &NewEvent::document(owner, "document.failed", doc, json!({"error": error})))?;
                    return Ok(true);
                }
                tx.execute(
                    "UPDATE versions SET state = 'processing', page_count = ?2, pages_done = 0, error = NULL WHERE id = ?1",
                    params![version_id, page_count],
                )
                .map_err(db_err)?;
                tx.execute("UPDATE documents SET state = 'processing', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])
                    .map_err(db_err)?;
                tx.execute("DELETE FROM pages WHERE version_id = ?1", params![version_id]).map_err(db_err)?;
                for j in &page_jobs {
                    insert_job(tx, j, now)?;
                }
                emit(tx, &NewEvent::document(owner, "document.processing", doc, json!({"pages": page_count})))?;
                Ok(true)
            })
            .await?;
        self.notify_jobs();
        self.notify_events();
        Ok(ok)
    }

    async fn store_page(&self, lease: &Lease, version_id: Id, page: PageRecord, finish_job: NewJob) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                let inserted = tx
                    .execute(
                        "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (version_id, number) DO NOTHING",
                        params![
                            version_id,
                            page.number,
                            page.width,
                            page.height,
                            page.text,
                            page.lines_json,
                            page.source,
                            page.thumbnail_sha256,
                            page.preview_sha256
                        ],
                    )
                    .map_err(db_err)?;
                if inserted == 1 {
                    tx.execute("UPDATE versions SET pages_done = pages_done + 1 WHERE id = ?1", params![version_id]).map_err(db_err)?;
                }
                let (done, total): (i32, i32) = tx
                    .query_row("SELECT pages_done, page_count FROM versions WHERE id = ?1", params![version_id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(db_err)?;
                tx.execute(
                    "UPDATE jobs SET progress_done = ?2, progress_total = ?3 WHERE document_id = ?1 AND kind = ?4",
                    params![doc, done, total, crate::jobs::kinds::PROCESS_VERSION],
                )
                .map_err(db_err)?;
                if inserted == 1 {
                    emit(tx, &NewEvent::document(owner, "job.progress", doc, json!({"page": done, "pages": total})))?;
                }
                if done >= total {
                    insert_job(tx, &finish_job, now)?;
                }
                Ok(true)
            })
            .await?;
        self.notify_jobs();
        self.notify_events();
        Ok(ok)
    }

    async fn finish_version(&self, lease: &Lease, version_id: Id, searchable_sha256: Option<&str>) -> DomainResult<bool> {
        let lease = lease.clone();
        let searchable = searchable_sha256.map(str::to_string);
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                let current: Option<Id> =
                    tx.query_row("SELECT current_version_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0)).map_err(db_err)?;
                tx.execute(
                    "UPDATE versions SET state = 'ready', error = NULL, searchable_sha256 = ?2 WHERE id = ?1",
                    params![version_id, searchable],
                )
                .map_err(db_err)?;
                let page_count: i32 =
                    tx.query_row("SELECT page_count FROM versions WHERE id = ?1", params![version_id], |r| r.get(0)).map_err(db_err)?;
                if current == Some(version_id) {
                    // Index this version's pages (and drop any older version's entries).
                    let old: Vec<Id> = {
                        let mut st = tx
                            .prepare("SELECT rowid FROM search_index WHERE document_id = ?1 AND page_number > 0")
                            .map_err(db_err)?;
                        st.query_map(params![doc], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?
                    };
                    for rid in old {
                        tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![rid]).map_err(db_err)?;
                    }
                    tx.execute(
                        "INSERT INTO search_index (rowid, body, document_id, page_number) SELECT id, text, ?2, number FROM pages WHERE version_id = ?1 AND text != ''",
                        params![version_id, doc],
                    )
                    .map_err(db_err)?;
                    tx.execute("UPDATE documents SET state = 'ready', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])
                        .map_err(db_err)?;
                    emit(tx, &NewEvent::document(owner, "document.ready", doc, json!({"page_count": page_count, "version_id": version_id})))?;
                }
                tx.execute(
                    "UPDATE jobs SET progress_done = ?2, progress_total = ?2 WHERE document_id = ?1 AND kind = ?3",
                    params![doc, page_count, crate::jobs::kinds::PROCESS_VERSION],
                )
                .map_err(db_err)?;
                Ok(true)
            })
            .await?;
        self.notify_events();
        Ok(ok)
    }

    async fn fail_version(&self, version_id: Id, error: &str) -> DomainResult<()> {
        let error = error.to_string();
        self.write(move |tx| {
            let now = now_millis();
            let (doc, owner) = doc_owner_of_version(tx, version_id)?;
            tx.execute("UPDATE versions SET state = 'failed', error = ?2 WHERE id = ?1", params![version_id, error]).map_err(db_err)?;
            tx.execute(
                "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND current_version_id = ?4",
                params![doc, error, now, version_id],
            )
            .map_err(db_err)?;
            // Other page jobs of this version have nothing left to do.
            tx.execute(
                "UPDATE jobs SET state = 'failed', last_error = 'another page of this document failed', updated_at = ?2 \
                 WHERE document_id = ?1 AND state = 'queued' AND kind != ?3",
                params![doc, now, crate::jobs::kinds::PROCESS_VERSION],
            )
            .map_err(db_err)?;
            emit(tx, &NewEvent::document(owner, "document.failed", doc, json!({"error": error})))?;
            Ok(())
        })
        .await?;
        self.notify_events();
        Ok(())
    }

    async fn version_by_id(&self, version_id: Id) -> DomainResult<Version> {
        self.read(move |c| {
            c.query_row(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = ?1"), params![version_id], |r| version_from(r, 0))
                .optional()
                .map_err(db_err)?
                .ok_or_else(|| DomainError::not_found(format!("version {version_id}")))
        })
        .await
    }

    async fn page_records(&self, version_id: Id) -> DomainResult<Vec<Page>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 ORDER BY number")).map_err(db_err)?;
            let rows = st.query_map(params![version_id], page_from).map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    // ---- events --------------------------------------------------------------------------------

    async fn events_after(&self, owner: Option<Id>, after: Id, limit: i64) -> DomainResult<Vec<Event>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, owner_id, kind, document_id, folder_id, data, created_at FROM events \
                     WHERE id > ?1 AND (?2 IS NULL OR owner_id = ?2) ORDER BY id LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![after, owner, limit], |r| {
                    let data: String = r.get(5)?;
                    Ok(Event {
                        id: r.get(0)?,
                        owner_id: r.get(1)?,
                        kind: r.get(2)?,
                        document_id: r.get(3)?,
                        folder_id: r.get(4)?,
                        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                        created_at: r.get(6)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn latest_event_id(&self) -> DomainResult<Id> {
        self.read(|c| c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0)).map_err(db_err)).await
    }

    async fn prune_events(&self, older_than: Millis) -> DomainResult<u64> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM events WHERE created_at < ?1", params![older_than]).map_err(db_err)?;
            // Finished jobs are kept as long as events, for the jobs API.
            let m = tx.execute("DELETE FROM jobs WHERE state = 'done' AND updated_at < ?1", params![older_than]).map_err(db_err)?;
            Ok((n + m) as u64)
        })
        .await
    }

    async fn wait_for_change(&self, channel: WakeChannel, timeout: Duration) {
        let notify = match channel {
            WakeChannel::Jobs => self.jobs_wake.clone(),
            WakeChannel::Events => self.events_wake.clone(),
        };
        let _ = tokio::time::timeout(timeout, notify.notified()).await;
    }

    // ---- page operations -----------------------------------------------------------------------

    async fn apply_page_edit(&self, edit: crate::domain::pages::PageEdit) -> DomainResult<crate::domain::pages::PageEditOutcome> {
        let (out, jobs) = self.write(move |tx| pages::apply(tx, &edit)).await?;
        if jobs {
            self.notify_jobs();
        }
        self.notify_events();
        Ok(out)
    }

    async fn set_page_images(&self, version_id: Id, images: Vec<(i32, String, String)>) -> DomainResult<()> {
        self.write(move |tx| pages::set_page_images(tx, version_id, &images)).await?;
        self.notify_events();
        Ok(())
    }
}

/// A search's `tag:` and `folder:` filters as conditions on `d`, each kind one condition however
/// many names it has. `None`: some name matches nothing, so nothing can match.
fn filter_conditions(
    c: &Connection,
    owner: Id,
    q: &SearchQuery,
    args: &mut Vec<rusqlite::types::Value>,
) -> DomainResult<Option<Vec<String>>> {
    let mut conds = Vec::new();
    if !q.tags.is_empty() {
        // [[tag id, filter number], ...]: a name can match tags that differ only in case.
        let mut pairs: Vec<(Id, usize)> = Vec::new();
        let mut st = c.prepare_cached("SELECT id FROM tags WHERE owner_id = ?1 AND name = ?2 COLLATE NOCASE").map_err(db_err)?;
        for (g, name) in q.tags.iter().enumerate() {
            let ids = st
                .query_map(params![owner, name], |r| r.get::<_, Id>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            if ids.is_empty() {
                return Ok(None);
            }
            pairs.extend(ids.into_iter().map(|id| (id, g)));
        }
        let json = serde_json::to_string(&pairs).map_err(|e| DomainError::Database(e.to_string()))?;
        args.push(json.into());
        args.push((q.tags.len() as i64).into());
        conds.push(format!(
            "(SELECT COUNT(DISTINCT json_extract(m.value, '$[1]')) FROM document_tags dt JOIN json_each(?{}) m ON json_extract(m.value, '$[0]') = dt.tag_id \
             WHERE dt.document_id = d.id) = ?{}",
            args.len() - 1,
            args.len()
        ));
    }
    let mut folders: Option<Vec<Id>> = None;
    let mut st = c
        .prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND trashed_at IS NULL AND name LIKE ?2 ESCAPE '\\'")
        .map_err(db_err)?;
    for f in &q.folders {
        let ids: HashSet<Id> = st
            .query_map(params![owner, like_escape(f)], |r| r.get::<_, Id>(0))
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let kept: Vec<Id> = match folders.take() {
            None => ids.into_iter().collect(),
            Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
        };
        if kept.is_empty() {
            return Ok(None);
        }
        folders = Some(kept);
    }
    if let Some(ids) = folders {
        let json = serde_json::to_string(&ids).map_err(|e| DomainError::Database(e.to_string()))?;
        args.push(json.into());
        conds.push(format!("d.folder_id IN (SELECT value FROM json_each(?{}))", args.len()));
    }
    Ok(Some(conds))
}

fn search_in(c: &Connection, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
    let mut conds = vec!["d.owner_id = ?1".to_string(), "d.trashed_at IS NULL".to_string()];
    let mut args: Vec<rusqlite::types::Value> = vec![owner.into()];
    match filter_conditions(c, owner, q, &mut args)? {
        Some(more) => conds.extend(more),
        None => return Ok(Paged { truncated: false, items: Vec::new(), total: 0, page: page.page, page_size: page.page_size }),
    }
    if let Some(a) = q.after {
        args.push(a.into());
        conds.push(format!("d.created_at >= ?{}", args.len()));
    }
    if let Some(b) = q.before {
        args.push(b.into());
        conds.push(format!("d.created_at < ?{}", args.len()));
    }
    if !q.has_text() {
        // Filters only: newest documents first.
        let wher = conds.join(" AND ");
        let total: i64 = c
            .prepare(&format!("SELECT COUNT(*) FROM documents d WHERE {wher}"))
            .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))
            .map_err(db_err)?;
        let n = args.len();
        args.push(page.limit().into());
        args.push(page.offset().into());
        let sql = format!(
            "SELECT {DOC_COLS} FROM {DOC_FROM} WHERE {wher} ORDER BY d.created_at DESC, d.id DESC LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        );
        let mut st = c.prepare(&sql).map_err(db_err)?;
        let mut docs =
            st.query_map(params_from_iter(args.iter()), document_from).map_err(db_err)?.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
        attach_tags(c, &mut docs)?;
        let items = docs.into_iter().map(|d| SearchHit { document: d, page_number: None, snippet: String::new(), rank: 0.0 }).collect();
        return Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size });
    }
    let expr = fts_expression(q);
    args.push(expr.clone().into());
    let match_arg = args.len();
    let wher = conds.join(" AND ");
    // Page rows (rowid = page id, newest = highest) and title rows (rowid = -document id,
    // newest = lowest) of this user's visible documents, newest first, at most
    // RANKED_MATCHES + 1 of each: the index is walked in rowid order and stops there.
    // Ranking (bm25) reads the whole list of every word searched for, so it is done only
    // when the matches are few; a word on more pages than that lists the newest first.
    let candidates_of = |rank: bool| -> DomainResult<(Vec<Candidate>, bool)> {
        let mut candidates = Vec::new();
        let mut truncated = false;
        let score = if rank { "-bm25(search_index)" } else { "0.0" };
        for (range, newest_first) in [("s.rowid > 0", "s.rowid DESC"), ("s.rowid < 0", "s.rowid ASC")] {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT s.rowid, s.document_id, s.page_number, {score} FROM search_index s \
                     JOIN documents d ON d.id = s.document_id \
                     WHERE search_index MATCH ?{match_arg} AND {range} AND {wher} ORDER BY {newest_first} LIMIT {}",
                    RANKED_MATCHES + 1
                ))
                .map_err(db_err)?;
            let rows = st
                .query_map(params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, Id>(0)?, r.get::<_, Id>(1)?, r.get::<_, i32>(2)?, r.get::<_, f64>(3)?))
                })
                .map_err(|e| DomainError::Invalid(format!("cannot search for that: {e}")))?;
            let before = candidates.len();
            for r in rows {
                candidates.push(r.map_err(db_err)?);
            }
            if candidates.len() - before > RANKED_MATCHES as usize {
                truncated = true;
                candidates.pop();
            }
        }
        Ok((candidates, truncated))
    };
    let (mut candidates, truncated) = candidates_of(false)?;
    if !truncated {
        candidates = candidates_of(true)?.0;
    }
    let ranked = best_per_document(candidates);
    let total = ranked.len() as i64;
    let hits: Vec<_> = ranked.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
    // Snippets are cut in Rust from the stored text (the same code on both backends), and
    // the documents of the page shown come from one query.
    let mut body = c.prepare_cached("SELECT body FROM search_index WHERE rowid = ?1").map_err(db_err)?;
    let doc_ids: Vec<rusqlite::types::Value> = hits.iter().map(|h| h.1.into()).collect();
    let mut docs: HashMap<Id, Document> = if doc_ids.is_empty() {
        HashMap::new()
    } else {
        let sql = format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.owner_id = ?1 AND d.id IN ({})", placeholders(doc_ids.len(), 2));
        let mut st = c.prepare(&sql).map_err(db_err)?;
        let mut list = st
            .query_map(params_from_iter(std::iter::once(rusqlite::types::Value::from(owner)).chain(doc_ids)), document_from)
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        attach_tags(c, &mut list)?;
        list.into_iter().map(|d| (d.id, d)).collect()
    };
    let mut items = Vec::with_capacity(hits.len());
    for (rid, doc_id, pno, rank) in hits {
        let Some(document) = docs.remove(&doc_id) else { continue };
        let text: String = body.query_row(params![rid], |r| r.get(0)).optional().map_err(db_err)?.unwrap_or_default();
        items.push(SearchHit {
            document,
            page_number: if pno > 0 { Some(pno) } else { None },
            snippet: crate::domain::snippet_html(&crate::domain::search::snippet(&text, q)),
            rank,
        });
    }
    Ok(Paged { truncated, items, total, page: page.page, page_size: page.page_size })
}
