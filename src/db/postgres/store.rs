//! `Store` for PostgreSQL. Same semantics as `db::sqlite::store`; SQL differences:
//! `COLLATE NOCASE` → `lower(…)`, `LIKE` → `ILIKE`, `INSERT OR IGNORE` → `ON CONFLICT DO NOTHING`,
//! FTS5 → `tsvector` + GIN. A statement that fails aborts a PostgreSQL transaction, so the
//! expected unique violations are avoided with `ON CONFLICT` or end the transaction with a Conflict.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, Tx, col, conflict_or_db, db_err, exec, query, query_one, query_opt, try_exec, try_query_one};
use crate::db::like_escape;
use crate::domain::jobs::{ClaimedJob, FailOutcome, JobState, JobView, Lease, NewJob, backoff_millis};
use crate::domain::search::{Candidate, RANKED_MATCHES, SearchQuery, Term, best_per_document, words_of};
use crate::domain::store::{Store, WakeChannel};
use crate::domain::*;

mod pages;

const DOC_COLS: &str = "d.id, d.owner_id, d.folder_id, d.title, d.state, d.error, d.duplicate_of, d.created_at, d.updated_at, d.trashed_at, \
     v.id, v.document_id, v.number, v.filename, v.mime, v.size, v.sha256, v.state, v.error, v.page_count, v.pages_done, v.searchable_sha256, v.note, v.created_at";
const DOC_FROM: &str = "documents d JOIN versions v ON v.id = d.current_version_id";
const VERSION_COLS: &str = "v.id, v.document_id, v.number, v.filename, v.mime, v.size, v.sha256, v.state, v.error, v.page_count, v.pages_done, v.searchable_sha256, v.note, v.created_at";
const FOLDER_COLS: &str = "id, owner_id, parent_id, name, kind, created_at, updated_at, trashed_at";
const USER_COLS: &str = "id, username, is_admin, disabled, created_at";
const JOB_COLS: &str = "id, kind, state, attempts, max_attempts, last_error, progress_done, progress_total, document_id, owner_id, priority, run_after, created_at, updated_at";
const TOP_FOLDER: &str = "NOT EXISTS (SELECT 1 FROM folders p WHERE p.id = f.parent_id AND p.trashed_at = f.trashed_at)";
const TOP_DOC: &str = "NOT EXISTS (SELECT 1 FROM folders p WHERE p.id = d.folder_id AND p.trashed_at = d.trashed_at)";
const PAGE_COLS: &str = "version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256";

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn refs(args: &[Box<dyn ToSql + Send + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect()
}

fn version_from(r: &Row, o: usize) -> DomainResult<Version> {
    Ok(Version {
        id: col(r, o)?,
        document_id: col(r, o + 1)?,
        number: col(r, o + 2)?,
        filename: col(r, o + 3)?,
        mime: col(r, o + 4)?,
        size: col(r, o + 5)?,
        sha256: col(r, o + 6)?,
        state: DocState::parse(&col::<String>(r, o + 7)?).unwrap_or(DocState::Queued),
        error: col(r, o + 8)?,
        page_count: col(r, o + 9)?,
        pages_done: col(r, o + 10)?,
        searchable_sha256: col(r, o + 11)?,
        note: col(r, o + 12)?,
        created_at: col(r, o + 13)?,
    })
}

fn document_from(r: &Row) -> DomainResult<Document> {
    Ok(Document {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        folder_id: col(r, 2)?,
        title: col(r, 3)?,
        state: DocState::parse(&col::<String>(r, 4)?).unwrap_or(DocState::Queued),
        error: col(r, 5)?,
        duplicate_of: col(r, 6)?,
        created_at: col(r, 7)?,
        updated_at: col(r, 8)?,
        trashed_at: col(r, 9)?,
        tags: Vec::new(),
        version: version_from(r, 10)?,
    })
}

fn folder_from(r: &Row) -> DomainResult<Folder> {
    Ok(Folder {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        parent_id: col(r, 2)?,
        name: col(r, 3)?,
        kind: FolderKind::parse(&col::<String>(r, 4)?),
        created_at: col(r, 5)?,
        updated_at: col(r, 6)?,
        trashed_at: col(r, 7)?,
    })
}

fn user_from(r: &Row) -> DomainResult<User> {
    Ok(User { id: col(r, 0)?, username: col(r, 1)?, is_admin: col(r, 2)?, disabled: col(r, 3)?, created_at: col(r, 4)? })
}

fn job_from(r: &Row) -> DomainResult<JobView> {
    Ok(JobView {
        id: col(r, 0)?,
        kind: col(r, 1)?,
        state: JobState::parse(&col::<String>(r, 2)?),
        attempts: col(r, 3)?,
        max_attempts: col(r, 4)?,
        last_error: col(r, 5)?,
        progress_done: col(r, 6)?,
        progress_total: col(r, 7)?,
        document_id: col(r, 8)?,
        owner_id: col(r, 9)?,
        priority: col(r, 10)?,
        run_after: col(r, 11)?,
        created_at: col(r, 12)?,
        updated_at: col(r, 13)?,
    })
}

fn page_from(r: &Row) -> DomainResult<Page> {
    Ok(Page {
        version_id: col(r, 0)?,
        number: col(r, 1)?,
        width: col(r, 2)?,
        height: col(r, 3)?,
        text: col(r, 4)?,
        lines_json: col(r, 5)?,
        source: col(r, 6)?,
        thumbnail_sha256: col(r, 7)?,
        preview_sha256: col(r, 8)?,
    })
}

fn tag_from(r: &Row) -> DomainResult<Tag> {
    Ok(Tag { id: col(r, 0)?, owner_id: col(r, 1)?, name: col(r, 2)?, color: col(r, 3)?, document_count: col(r, 4)? })
}

fn all<T>(rows: Vec<Row>, f: impl Fn(&Row) -> DomainResult<T>) -> DomainResult<Vec<T>> {
    rows.iter().map(f).collect()
}

fn ids(rows: Vec<Row>) -> DomainResult<Vec<Id>> {
    all(rows, |r| col(r, 0))
}

/// What the full-text index stores for a text: its words exactly as the query language splits
/// them, so that PostgreSQL's parser (which would keep `a@b.com` or `a/b` as one token) matches
/// the same words as SQLite's unicode61 tokenizer.
fn index_words(text: &str) -> String {
    words_of(text).join(" ")
}

async fn attach_tags<C: GenericClient>(c: &C, docs: &mut [Document]) -> DomainResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let doc_ids: Vec<Id> = docs.iter().map(|d| d.id).collect();
    let rows = query(
        c,
        "SELECT dt.document_id, t.id, t.owner_id, t.name, t.color FROM document_tags dt JOIN tags t ON t.id = dt.tag_id \
         WHERE dt.document_id = ANY($1) ORDER BY t.name",
        &[&doc_ids],
    )
    .await?;
    let mut by_doc: HashMap<Id, Vec<Tag>> = HashMap::new();
    for r in &rows {
        let tag = Tag { id: col(r, 1)?, owner_id: col(r, 2)?, name: col(r, 3)?, color: col(r, 4)?, document_count: 0 };
        by_doc.entry(col(r, 0)?).or_default().push(tag);
    }
    for d in docs.iter_mut() {
        d.tags = by_doc.remove(&d.id).unwrap_or_default();
    }
    Ok(())
}

async fn load_docs<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> DomainResult<Vec<Document>> {
    let rows = query(c, sql, p).await?;
    let mut docs = all(rows, document_from)?;
    attach_tags(c, &mut docs).await?;
    Ok(docs)
}

async fn load_document<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<Document> {
    let sql = format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.id = $1 AND d.owner_id = $2");
    load_docs(c, &sql, &[&id, &owner]).await?.pop().ok_or_else(|| DomainError::not_found(format!("document {id}")))
}

async fn load_folder<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<Folder> {
    let row = query_opt(c, &format!("SELECT {FOLDER_COLS} FROM folders WHERE id = $1 AND owner_id = $2"), &[&id, &owner]).await?;
    row.as_ref().map(folder_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("folder {id}")))
}

async fn live_folder<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<Folder> {
    let f = load_folder(c, owner, id).await?;
    if f.trashed_at.is_some() {
        return Err(DomainError::Conflict(format!("folder {id} is in the trash")));
    }
    Ok(f)
}

async fn check_tags_owned<C: GenericClient>(c: &C, owner: Id, tag_ids: &[Id]) -> DomainResult<()> {
    for t in tag_ids {
        if query_opt(c, "SELECT id FROM tags WHERE id = $1 AND owner_id = $2", &[t, &owner]).await?.is_none() {
            return Err(DomainError::not_found(format!("tag {t}")));
        }
    }
    Ok(())
}

/// Ids of the folder and all folders below it.
async fn subtree<C: GenericClient>(c: &C, id: Id) -> DomainResult<Vec<Id>> {
    let rows = query(
        c,
        "WITH RECURSIVE sub(id) AS (SELECT $1::bigint UNION ALL SELECT f.id FROM folders f JOIN sub ON f.parent_id = sub.id) SELECT id FROM sub",
        &[&id],
    )
    .await?;
    ids(rows)
}

/// A document's title, as search finds it (`documents.title_tsv`, the same words as page text).
pub(super) async fn title_index_update<C: GenericClient>(c: &C, doc_id: Id, title: &str) -> DomainResult<()> {
    exec(c, "UPDATE documents SET title_tsv = to_tsvector('simple', $2) WHERE id = $1", &[&doc_id, &index_words(title)]).await?;
    Ok(())
}

/// Removes a document's rows (cascade) and its index entries; returns candidate blob hashes.
async fn purge_doc_rows(tx: &Tx<'_>, doc_id: Id) -> DomainResult<Vec<String>> {
    let mut blobs = Vec::new();
    for r in query(tx, "SELECT sha256, searchable_sha256 FROM versions WHERE document_id = $1", &[&doc_id]).await? {
        blobs.push(col::<String>(&r, 0)?);
        blobs.extend(col::<Option<String>>(&r, 1)?);
    }
    for r in query(
        tx,
        "SELECT p.thumbnail_sha256, p.preview_sha256 FROM pages p JOIN versions v ON v.id = p.version_id WHERE v.document_id = $1",
        &[&doc_id],
    )
    .await?
    {
        blobs.extend(col::<Option<String>>(&r, 0)?);
        blobs.extend(col::<Option<String>>(&r, 1)?);
    }
    exec(tx, "DELETE FROM search_index WHERE document_id = $1", &[&doc_id]).await?;
    exec(tx, "DELETE FROM documents WHERE id = $1", &[&doc_id]).await?;
    Ok(blobs)
}

/// Of the candidate hashes, those no remaining row refers to.
async fn unreferenced(tx: &Tx<'_>, candidates: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for sha in candidates {
        if !seen.insert(sha.clone()) {
            continue;
        }
        let used: bool = col(
            &query_one(
                tx,
                "SELECT EXISTS(SELECT 1 FROM versions WHERE sha256 = $1 OR searchable_sha256 = $1) \
                 OR EXISTS(SELECT 1 FROM pages WHERE thumbnail_sha256 = $1 OR preview_sha256 = $1)",
                &[&sha],
            )
            .await?,
            0,
        )?;
        if !used {
            out.push(sha);
        }
    }
    Ok(out)
}

/// None when a queued/running job with the same unique key exists (the partial unique index).
async fn insert_job<C: GenericClient>(c: &C, job: &NewJob, now: Millis) -> DomainResult<Option<Id>> {
    let row = query_opt(
        c,
        "INSERT INTO jobs (kind, payload, priority, run_after, max_attempts, unique_key, timeout_secs, document_id, owner_id, created_at, updated_at) \
         VALUES ($1, $2::text::jsonb, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING RETURNING id",
        &[
            &job.kind,
            &job.payload.to_string(),
            &job.priority,
            &job.run_after.unwrap_or(now),
            &job.max_attempts,
            &job.unique_key,
            &job.timeout_secs,
            &job.document_id,
            &job.owner_id,
            &now,
        ],
    )
    .await?;
    row.map(|r| col(&r, 0)).transpose()
}

/// Fenced completion inside a transaction.
async fn complete_in<C: GenericClient>(c: &C, lease: &Lease, now: Millis) -> DomainResult<bool> {
    let n = exec(
        c,
        "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = $4 \
         WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
        &[&lease.job_id, &lease.worker_id, &lease.seq, &now],
    )
    .await?;
    Ok(n == 1)
}

async fn doc_owner_of_version<C: GenericClient>(c: &C, version_id: Id) -> DomainResult<(Id, Id)> {
    let row =
        query_opt(c, "SELECT d.id, d.owner_id FROM versions v JOIN documents d ON d.id = v.document_id WHERE v.id = $1", &[&version_id])
            .await?
            .ok_or_else(|| DomainError::not_found(format!("version {version_id}")))?;
    Ok((col(&row, 0)?, col(&row, 1)?))
}

/// One term as tsquery text. Words are alphanumeric only (search::words_of), so quoting them as
/// lexemes is always safe: nothing the user typed is read as tsquery syntax.
fn ts_term(t: &Term) -> String {
    let lexemes: Vec<String> = t.words.iter().map(|w| format!("'{}'", w.replace('\'', "''"))).collect();
    let mut s = lexemes.join(" <-> ");
    if t.prefix {
        s.push_str(":*");
    }
    format!("({s})")
}

fn ts_expression(q: &SearchQuery) -> String {
    let mut parts: Vec<String> = q.include.iter().map(ts_term).collect();
    parts.extend(q.exclude.iter().map(|t| format!("!{}", ts_term(t))));
    parts.join(" & ")
}

fn child_order(sort: ChildSort, doc: bool) -> &'static str {
    match (sort, doc) {
        (ChildSort::NameAsc, false) => "lower(name) ASC, id ASC",
        (ChildSort::NameDesc, false) => "lower(name) DESC, id DESC",
        (ChildSort::CreatedAsc, false) => "created_at ASC, id ASC",
        (ChildSort::CreatedDesc, false) => "created_at DESC, id DESC",
        (ChildSort::NameAsc, true) => "lower(d.title) ASC, d.id ASC",
        (ChildSort::NameDesc, true) => "lower(d.title) DESC, d.id DESC",
        (ChildSort::CreatedAsc, true) => "d.created_at ASC, d.id ASC",
        (ChildSort::CreatedDesc, true) => "d.created_at DESC, d.id DESC",
    }
}

async fn folder_tags_of<C: GenericClient>(c: &C, folder_id: Id) -> DomainResult<Vec<Tag>> {
    Ok(tags_of_folders(c, &[folder_id]).await?.remove(&folder_id).unwrap_or_default())
}

/// The tags of each of `folder_ids` (by name), in one query.
async fn tags_of_folders<C: GenericClient>(c: &C, folder_ids: &[Id]) -> DomainResult<HashMap<Id, Vec<Tag>>> {
    let mut tags: HashMap<Id, Vec<Tag>> = HashMap::new();
    if folder_ids.is_empty() {
        return Ok(tags);
    }
    let rows = query(
        c,
        "SELECT ft.folder_id, t.id, t.owner_id, t.name, t.color FROM folder_tags ft JOIN tags t ON t.id = ft.tag_id \
         WHERE ft.folder_id = ANY($1) ORDER BY t.name",
        &[&folder_ids],
    )
    .await?;
    for r in &rows {
        let tag = Tag { id: col(r, 1)?, owner_id: col(r, 2)?, name: col(r, 3)?, color: col(r, 4)?, document_count: 0 };
        tags.entry(col(r, 0)?).or_default().push(tag);
    }
    Ok(tags)
}

async fn folders_with_tags<C: GenericClient>(c: &C, folders: Vec<Folder>) -> DomainResult<Vec<ChildItem>> {
    let ids: Vec<Id> = folders.iter().map(|f| f.id).collect();
    let mut tags = tags_of_folders(c, &ids).await?;
    Ok(folders
        .into_iter()
        .map(|f| {
            let t = tags.remove(&f.id).unwrap_or_default();
            ChildItem::Folder(f, t)
        })
        .collect())
}

async fn count<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> DomainResult<i64> {
    col(&query_one(c, sql, p).await?, 0)
}

/// The kept count of an owner's live documents (or of one of their folders, 0 for a folder that
/// is not theirs), and the owner's list-change counter.
async fn kept_count<C: GenericClient>(c: &C, owner: Id, folder: Option<Id>) -> DomainResult<(i64, i64)> {
    let row = match folder {
        None => query_opt(c, "SELECT live, changes FROM owner_document_counts WHERE owner_id = $1", &[&owner]).await?,
        Some(folder) => {
            query_opt(
                c,
                "SELECT k.live, o.changes FROM folder_document_counts k JOIN folders f ON f.id = k.folder_id \
                 JOIN owner_document_counts o ON o.owner_id = f.owner_id WHERE k.folder_id = $1 AND f.owner_id = $2",
                &[&folder, &owner],
            )
            .await?
        }
    };
    match row {
        Some(r) => Ok((col(&r, 0)?, col(&r, 1)?)),
        None => Ok((0, 0)),
    }
}

impl PgStore {
    /// The query of one page's ids of the list `documents d WHERE {wher} ORDER BY {order}`
    /// (adding its parameters to `args`): from a seek point when the page is deep and the
    /// list's change counter is known (`anchors`), else an OFFSET read from the nearer end
    /// (`Window`).
    #[allow(clippy::too_many_arguments)]
    async fn page_ids<C: GenericClient>(
        &self,
        c: &C,
        owner: Id,
        folder: Option<Id>,
        order: &'static str,
        wher: &str,
        args: &mut Params,
        total: i64,
        changes: Option<i64>,
        offset: i64,
        limit: i64,
    ) -> DomainResult<String> {
        let seek = match changes {
            Some(changes) if offset < total => {
                self.anchors.seek(c, owner, folder, order, wher, &refs(args), changes, offset, args.len() + 1).await?
            }
            _ => None,
        };
        Ok(match seek {
            Some(seek) => {
                args.extend(seek.params);
                args.push(Box::new(limit));
                args.push(Box::new(seek.skip));
                format!(
                    "SELECT d.id FROM documents d WHERE {wher} AND {} ORDER BY {order} LIMIT ${} OFFSET ${}",
                    seek.condition,
                    args.len() - 1,
                    args.len()
                )
            }
            None => {
                let w = Window::of(total, offset, limit);
                args.push(Box::new(w.limit));
                args.push(Box::new(w.offset));
                format!(
                    "SELECT d.id FROM documents d WHERE {wher} ORDER BY {} LIMIT ${} OFFSET ${}",
                    w.order(order),
                    args.len() - 1,
                    args.len()
                )
            }
        })
    }

    async fn begin<'a>(client: &'a mut deadpool_postgres::Client) -> DomainResult<Tx<'a>> {
        client.transaction().await.map_err(db_err)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn archive(&self) -> &dyn crate::domain::archive::ArchiveStore {
        self
    }

    async fn migrate(&self) -> DomainResult<()> {
        self.apply_migrations().await
    }

    async fn migration_status(&self) -> DomainResult<(i64, i64)> {
        let known = super::MIGRATIONS.len() as i64;
        let c = self.client().await?;
        let exists: bool = col(&query_one(&c, "SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?, 0)?;
        if !exists {
            return Ok((0, known));
        }
        Ok((count(&c, "SELECT COUNT(*) FROM schema_migrations", &[]).await?, known))
    }

    async fn ping(&self) -> DomainResult<()> {
        let c = self.client().await?;
        query_one(&c, "SELECT 1", &[]).await.map(|_| ())
    }

    async fn totals(&self) -> DomainResult<Totals> {
        let jobs = self.job_counts().await?;
        let c = self.client().await?;
        let documents = count(&c, "SELECT COUNT(*) FROM documents WHERE trashed_at IS NULL", &[]).await?;
        let pages = count(&c, "SELECT COUNT(*) FROM pages", &[]).await?;
        Ok(Totals { documents, pages, jobs_by_kind_state: jobs })
    }

    // ---- users ---------------------------------------------------------------------------------

    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> DomainResult<User> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let row = try_query_one(
            &tx,
            &format!("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4) RETURNING {USER_COLS}"),
            &[&username, &password_hash, &is_admin, &now],
        )
        .await
        .map_err(|e| conflict_or_db(e, || format!("the user name {username:?} is taken")))?;
        let user = user_from(&row)?;
        for (name, kind) in [("Home", "home"), ("Inbox", "inbox")] {
            exec(
                &tx,
                "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES ($1, NULL, $2, $3, $4, $4)",
                &[&user.id, &name, &kind, &now],
            )
            .await?;
        }
        Self::commit(tx, &[], false).await?;
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> DomainResult<Option<UserWithHash>> {
        let c = self.client().await?;
        let row =
            query_opt(&c, &format!("SELECT {USER_COLS}, password_hash FROM users WHERE lower(username) = lower($1)"), &[&username]).await?;
        row.map(|r| Ok(UserWithHash { user: user_from(&r)?, password_hash: col(&r, 5)? })).transpose()
    }

    async fn user_by_id(&self, id: Id) -> DomainResult<Option<User>> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {USER_COLS} FROM users WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn list_users(&self) -> DomainResult<Vec<User>> {
        let c = self.client().await?;
        all(query(&c, &format!("SELECT {USER_COLS} FROM users ORDER BY username"), &[]).await?, user_from)
    }

    async fn count_users(&self) -> DomainResult<i64> {
        let c = self.client().await?;
        count(&c, "SELECT COUNT(*) FROM users", &[]).await
    }

    async fn update_user(
        &self,
        id: Id,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        keep_api_tokens: bool,
    ) -> DomainResult<User> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = query_opt(
            &tx,
            &format!(
                "UPDATE users SET password_hash = COALESCE($2, password_hash), is_admin = COALESCE($3, is_admin), disabled = COALESCE($4, disabled) \
                 WHERE id = $1 RETURNING {USER_COLS}"
            ),
            &[&id, &password_hash, &is_admin, &disabled],
        )
        .await?
        .ok_or_else(|| DomainError::not_found(format!("user {id}")))?;
        let kinds: &[&str] = match crate::domain::users::revocation_for(password_hash.is_some(), disabled, keep_api_tokens) {
            crate::domain::users::Revocation::Nothing => &[],
            crate::domain::users::Revocation::Sessions => &["session"],
            crate::domain::users::Revocation::All => &["session", "api"],
        };
        let mut events = Vec::new();
        if !kinds.is_empty() {
            let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
            let ids: Vec<Id> = query(&tx, "DELETE FROM api_tokens WHERE user_id = $1 AND kind = ANY($2) RETURNING id", &[&id, &kinds])
                .await?
                .iter()
                .map(|r| col(r, 0))
                .collect::<DomainResult<_>>()?;
            if !ids.is_empty() {
                events.push(NewEvent::tokens_revoked(id, &ids));
            }
        }
        let user = user_from(&row)?;
        Self::commit(tx, &events, false).await?;
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
        let c = self.client().await?;
        let now = now_millis();
        let row = query_one(
            &c,
            "INSERT INTO api_tokens (user_id, name, kind, token_hash, csrf_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&user_id, &name, &kind.as_str(), &token_hash, &csrf_hash, &now, &expires_at],
        )
        .await?;
        Ok(ApiToken { id: col(&row, 0)?, user_id, name: name.to_string(), kind, created_at: now, last_used_at: None, expires_at })
    }

    async fn principal_by_token(&self, token_hash: &str) -> DomainResult<Option<Principal>> {
        let c = self.client().await?;
        let now = now_millis();
        let row = query_opt(
            &c,
            "SELECT u.id, u.username, u.is_admin, u.disabled, u.created_at, t.id, t.kind, t.csrf_hash, t.last_used_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT u.disabled",
            &[&token_hash, &now],
        )
        .await?;
        let Some(r) = row else { return Ok(None) };
        let principal = Principal {
            user: user_from(&r)?,
            token_id: col(&r, 5)?,
            token_kind: TokenKind::parse(&col::<String>(&r, 6)?),
            csrf_hash: col(&r, 7)?,
        };
        let last_used: Option<Millis> = col(&r, 8)?;
        // Record use at most once a minute: no write on every request.
        if last_used.is_none_or(|t| now - t > 60_000) {
            let _ = exec(&c, "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", &[&principal.token_id, &now]).await;
        }
        Ok(Some(principal))
    }

    async fn list_tokens(&self, user_id: Id, kind: TokenKind) -> DomainResult<Vec<ApiToken>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT id, user_id, name, kind, created_at, last_used_at, expires_at FROM api_tokens WHERE user_id = $1 AND kind = $2 ORDER BY id",
            &[&user_id, &kind.as_str()],
        )
        .await?;
        all(rows, |r| {
            Ok(ApiToken {
                id: col(r, 0)?,
                user_id: col(r, 1)?,
                name: col(r, 2)?,
                kind: TokenKind::parse(&col::<String>(r, 3)?),
                created_at: col(r, 4)?,
                last_used_at: col(r, 5)?,
                expires_at: col(r, 6)?,
            })
        })
    }

    async fn delete_token(&self, user_id: Id, token_id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(&tx, "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2", &[&token_id, &user_id]).await?;
        if n == 0 {
            return Err(DomainError::not_found(format!("token {token_id}")));
        }
        Self::commit(tx, &[NewEvent::tokens_revoked(user_id, &[token_id])], false).await
    }

    async fn begin_login(
        &self,
        account: &str,
        source: &str,
        policy: crate::domain::login::LoginPolicy,
    ) -> DomainResult<Result<crate::domain::login::LoginAttempt, crate::domain::login::LoginDecision>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        // Attempts are decided one at a time (short transactions), so parallel guesses count
        // each other.
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&super::LOGIN_LOCK]).await?;
        let now = now_millis();
        let since = now - policy.window_ms;
        exec(&tx, "DELETE FROM login_attempts WHERE at < $1", &[&since]).await?;
        let a = query_one(&tx, "SELECT COUNT(*), MIN(at) FROM login_attempts WHERE account = $1 AND at >= $2", &[&account, &since]).await?;
        let s = query_one(&tx, "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE source = $1 AND at >= $2", &[&source, &since]).await?;
        let known_source = query_opt(
            &tx,
            "SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id WHERE lower(u.username) = $1 AND s.source = $2",
            &[&account, &source],
        )
        .await?
        .is_some();
        let history = crate::domain::login::LoginHistory {
            account_failures: col(&a, 0)?,
            oldest_account_failure: col(&a, 1)?,
            source_failures: col(&s, 0)?,
            last_source_failure: col(&s, 1)?,
            known_source,
        };
        let out = match policy.decide(&history, now) {
            crate::domain::login::LoginDecision::Proceed => {
                let row = query_one(
                    &tx,
                    "INSERT INTO login_attempts (account, source, at) VALUES ($1, $2, $3) RETURNING id",
                    &[&account, &source, &now],
                )
                .await?;
                Ok(crate::domain::login::LoginAttempt { id: col(&row, 0)? })
            }
            wait => Err(wait),
        };
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn finish_login(&self, attempt: crate::domain::login::LoginAttempt, succeeded_as: Option<Id>, source: &str) -> DomainResult<()> {
        let Some(user_id) = succeeded_as else { return Ok(()) };
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        exec(&tx, "DELETE FROM login_attempts WHERE id = $1", &[&attempt.id]).await?;
        exec(
            &tx,
            "INSERT INTO login_sources (user_id, source, last_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, source) DO UPDATE SET last_at = EXCLUDED.last_at",
            &[&user_id, &source, &now_millis()],
        )
        .await?;
        tx.commit().await.map_err(db_err)
    }

    // ---- folders -------------------------------------------------------------------------------

    async fn root_folders(&self, owner: Id) -> DomainResult<(Folder, Folder)> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for kind in ["home", "inbox"] {
            let row =
                query_opt(&c, &format!("SELECT {FOLDER_COLS} FROM folders WHERE owner_id = $1 AND kind = $2"), &[&owner, &kind]).await?;
            out.push(
                row.as_ref()
                    .map(folder_from)
                    .transpose()?
                    .ok_or_else(|| DomainError::not_found(format!("{kind} folder of user {owner}")))?,
            );
        }
        let inbox = out.pop().expect("two folders");
        let home = out.pop().expect("two folders");
        Ok((home, inbox))
    }

    async fn folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        let c = self.client().await?;
        load_folder(&c, owner, id).await
    }

    async fn breadcrumbs(&self, owner: Id, id: Id) -> DomainResult<Vec<(Id, String)>> {
        let c = self.client().await?;
        load_folder(&c, owner, id).await?;
        let rows = query(
            &c,
            "WITH RECURSIVE up(id, parent_id, name, depth) AS ( \
               SELECT id, parent_id, name, 0 FROM folders WHERE id = $1 \
               UNION ALL SELECT f.id, f.parent_id, f.name, up.depth + 1 FROM folders f JOIN up ON f.id = up.parent_id) \
             SELECT id, name FROM up ORDER BY depth DESC",
            &[&id],
        )
        .await?;
        all(rows, |r| Ok((col(r, 0)?, col(r, 1)?)))
    }

    async fn folder_tags(&self, owner: Id, id: Id) -> DomainResult<Vec<Tag>> {
        let c = self.client().await?;
        load_folder(&c, owner, id).await?;
        folder_tags_of(&c, id).await
    }

    async fn create_folder(&self, owner: Id, parent_id: Id, name: &str) -> DomainResult<Folder> {
        let name = crate::domain::validate_folder_name(name)?;
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        live_folder(&tx, owner, parent_id).await?;
        let now = now_millis();
        let row = try_query_one(
            &tx,
            &format!(
                "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, 'folder', $4, $4) RETURNING {FOLDER_COLS}"
            ),
            &[&owner, &parent_id, &name, &now],
        )
        .await
        .map_err(|e| conflict_or_db(e, || format!("a folder named {name:?} already exists here")))?;
        let f = folder_from(&row)?;
        let ev = NewEvent::folder(owner, "folder.created", f.id, json!({"parent_id": parent_id, "name": name}));
        Self::commit(tx, &[ev], false).await?;
        Ok(f)
    }

    async fn update_folder(&self, owner: Id, id: Id, name: Option<&str>, parent_id: Option<Id>) -> DomainResult<Folder> {
        let name = name.map(crate::domain::validate_folder_name).transpose()?;
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let f = live_folder(&tx, owner, id).await?;
        if f.kind != FolderKind::Folder {
            return Err(DomainError::Conflict(format!("the {} folder cannot be renamed or moved", f.name)));
        }
        if let Some(p) = parent_id {
            live_folder(&tx, owner, p).await?;
            if subtree(&tx, id).await?.contains(&p) {
                return Err(DomainError::Conflict("a folder cannot be moved into itself or one of its subfolders".into()));
            }
        }
        let row = try_query_one(
            &tx,
            &format!(
                "UPDATE folders SET name = COALESCE($3, name), parent_id = COALESCE($4, parent_id), updated_at = $5 \
                 WHERE id = $1 AND owner_id = $2 RETURNING {FOLDER_COLS}"
            ),
            &[&id, &owner, &name, &parent_id, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || "a folder with that name already exists there".into()))?;
        let f = folder_from(&row)?;
        let ev = NewEvent::folder(owner, "folder.updated", id, json!({"parent_id": f.parent_id, "name": f.name}));
        Self::commit(tx, &[ev], false).await?;
        Ok(f)
    }

    async fn trash_folder(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let f = live_folder(&tx, owner, id).await?;
        if f.kind != FolderKind::Folder {
            return Err(DomainError::Conflict(format!("the {} folder cannot be deleted", f.name)));
        }
        let now = now_millis();
        // The whole subtree goes with one timestamp, so a restore brings back exactly it.
        let sub = subtree(&tx, id).await?;
        exec(&tx, "UPDATE folders SET trashed_at = $2 WHERE id = ANY($1) AND trashed_at IS NULL", &[&sub, &now]).await?;
        exec(&tx, "UPDATE documents SET trashed_at = $2 WHERE folder_id = ANY($1) AND trashed_at IS NULL", &[&sub, &now]).await?;
        let ev = NewEvent::folder(owner, "folder.trashed", id, json!({"parent_id": f.parent_id}));
        Self::commit(tx, &[ev], false).await
    }

    async fn restore_folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let f = load_folder(&tx, owner, id).await?;
        let Some(ts) = f.trashed_at else { return Ok(f) };
        let parent_ok = match f.parent_id {
            Some(p) => load_folder(&tx, owner, p).await.map(|pf| pf.trashed_at.is_none()).unwrap_or(false),
            None => true,
        };
        let target: Option<Id> = if parent_ok {
            f.parent_id
        } else {
            Some(col(&query_one(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'home'", &[&owner]).await?, 0)?)
        };
        try_exec(
            &tx,
            "UPDATE folders SET trashed_at = NULL, parent_id = $2, updated_at = $3 WHERE id = $1",
            &[&id, &target, &now_millis()],
        )
        .await
        .map_err(|e| {
            conflict_or_db(e, || format!("a folder named {:?} exists where this one would be restored; rename one of them first", f.name))
        })?;
        let sub = subtree(&tx, id).await?;
        try_exec(&tx, "UPDATE folders SET trashed_at = NULL WHERE id = ANY($1) AND trashed_at = $2", &[&sub, &ts]).await.map_err(|e| {
            conflict_or_db(e, || "a folder with the same name as one being restored exists; rename one of them first".into())
        })?;
        exec(&tx, "UPDATE documents SET trashed_at = NULL WHERE folder_id = ANY($1) AND trashed_at = $2", &[&sub, &ts]).await?;
        let restored = load_folder(&tx, owner, id).await?;
        let ev = NewEvent::folder(owner, "folder.restored", id, json!({"parent_id": target}));
        Self::commit(tx, &[ev], false).await?;
        Ok(restored)
    }

    async fn children(&self, owner: Id, id: Id, sort: ChildSort, page: PageReq) -> DomainResult<Paged<ChildItem>> {
        let c = self.client().await?;
        // The folder (ours?), its live subfolder count, its kept document count and the owner's
        // list-change counter: one round trip.
        let row = query_opt(
            &c,
            "SELECT (SELECT COUNT(*) FROM folders s WHERE s.parent_id = f.id AND s.trashed_at IS NULL), \
                    COALESCE(k.live, 0), COALESCE(o.changes, 0) \
             FROM folders f LEFT JOIN folder_document_counts k ON k.folder_id = f.id \
             LEFT JOIN owner_document_counts o ON o.owner_id = f.owner_id WHERE f.id = $1 AND f.owner_id = $2",
            &[&id, &owner],
        )
        .await?
        .ok_or_else(|| DomainError::not_found(format!("folder {id}")))?;
        let (nf, nd, changes): (i64, i64, i64) = (col(&row, 0)?, col(&row, 1)?, col(&row, 2)?);
        let (offset, limit) = (page.offset(), page.limit());
        let mut items = Vec::new();
        if offset < nf {
            let sql = format!(
                "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = $1 AND trashed_at IS NULL ORDER BY {} LIMIT $2 OFFSET $3",
                child_order(sort, false)
            );
            let folders = all(query(&c, &sql, &[&id, &limit, &offset]).await?, folder_from)?;
            items.extend(folders_with_tags(&c, folders).await?);
        }
        let remaining = limit - items.len() as i64;
        if remaining > 0 {
            let order = child_order(sort, true);
            let mut args: Params = vec![Box::new(id)];
            let wher = "d.folder_id = $1 AND d.trashed_at IS NULL";
            let ids =
                self.page_ids(&c, owner, Some(id), order, wher, &mut args, nd, Some(changes), (offset - nf).max(0), remaining).await?;
            let sql = format!(
                "SELECT {DOC_COLS} FROM ({ids}) p JOIN documents d ON d.id = p.id JOIN versions v ON v.id = d.current_version_id ORDER BY {order}"
            );
            let docs = load_docs(&c, &sql, &refs(&args)).await?;
            items.extend(docs.into_iter().map(ChildItem::Document));
        }
        Ok(Paged { truncated: false, items, total: nf + nd, page: page.page, page_size: page.page_size })
    }

    async fn set_folder_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_folder(&tx, owner, id).await?;
        check_tags_owned(&tx, owner, add).await?;
        check_tags_owned(&tx, owner, remove).await?;
        for t in add {
            exec(&tx, "INSERT INTO folder_tags (folder_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&id, t]).await?;
        }
        for t in remove {
            exec(&tx, "DELETE FROM folder_tags WHERE folder_id = $1 AND tag_id = $2", &[&id, t]).await?;
        }
        Self::commit(tx, &[NewEvent::folder(owner, "folder.updated", id, json!({}))], false).await
    }

    // ---- documents -----------------------------------------------------------------------------

    async fn create_upload(&self, up: NewUpload) -> DomainResult<UploadOutcome> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        live_folder(&tx, up.owner_id, up.folder_id).await?;
        let now = now_millis();
        let duplicate_of: Option<Id> =
            query_opt(&tx, "SELECT id FROM documents WHERE owner_id = $1 AND sha256 = $2 ORDER BY id LIMIT 1", &[&up.owner_id, &up.sha256])
                .await?
                .map(|r| col(&r, 0))
                .transpose()?;
        if let Some(dup) = duplicate_of
            && up.reject_duplicates
        {
            return Err(DomainError::Conflict(format!("this file is already in your library as document {dup}")));
        }
        let doc_id: Id = col(
            &query_one(
                &tx,
                "INSERT INTO documents (owner_id, folder_id, title, state, sha256, duplicate_of, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6) RETURNING id",
                &[&up.owner_id, &up.folder_id, &up.title, &up.sha256, &duplicate_of, &now],
            )
            .await?,
            0,
        )?;
        let version_id: Id = col(
            &query_one(
                &tx,
                "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, created_at, note) \
                 VALUES ($1, 1, $2, $3, $4, $5, 'queued', $6, 'uploaded') RETURNING id",
                &[&doc_id, &up.filename, &up.mime, &up.size, &up.sha256, &now],
            )
            .await?,
            0,
        )?;
        exec(&tx, "UPDATE documents SET current_version_id = $2 WHERE id = $1", &[&doc_id, &version_id]).await?;
        for name in &up.tag_names {
            exec(&tx, "INSERT INTO tags (owner_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&up.owner_id, name]).await?;
            exec(
                &tx,
                "INSERT INTO document_tags (document_id, tag_id) SELECT $1, id FROM tags WHERE owner_id = $2 AND name = $3 ON CONFLICT DO NOTHING",
                &[&doc_id, &up.owner_id, name],
            )
            .await?;
        }
        title_index_update(&tx, doc_id, &up.title).await?;
        let job = NewJob::new(crate::jobs::kinds::PROCESS_VERSION, json!({"version_id": version_id}))
            .priority(10)
            .unique(format!("process_version:{version_id}"))
            .max_attempts(up.max_attempts)
            .for_document(up.owner_id, doc_id);
        let job_id = insert_job(&tx, &job, now).await?.ok_or_else(|| DomainError::Conflict("processing is already queued".into()))?;
        let document = load_document(&tx, up.owner_id, doc_id).await?;
        let ev = NewEvent::document(up.owner_id, "document.created", doc_id, json!({"title": up.title, "folder_id": up.folder_id}));
        Self::commit(tx, &[ev], true).await?;
        Ok(UploadOutcome { document, version_id, job_id })
    }

    async fn document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        let c = self.client().await?;
        load_document(&c, owner, id).await
    }

    async fn list_documents(&self, owner: Id, f: &DocumentFilter, page: PageReq) -> DomainResult<Paged<Document>> {
        let mut conds = vec!["d.owner_id = $1".to_string()];
        let mut args: Params = vec![Box::new(owner)];
        conds.push(if f.trashed { "d.trashed_at IS NOT NULL".into() } else { "d.trashed_at IS NULL".into() });
        if let Some(folder) = f.folder_id {
            args.push(Box::new(folder));
            conds.push(format!("d.folder_id = ${}", args.len()));
        }
        if let Some(tag) = f.tag_id {
            args.push(Box::new(tag));
            conds.push(format!("EXISTS (SELECT 1 FROM document_tags dt WHERE dt.document_id = d.id AND dt.tag_id = ${})", args.len()));
        }
        if let Some(state) = f.state {
            args.push(Box::new(state.as_str().to_string()));
            conds.push(format!("d.state = ${}", args.len()));
        }
        if let Some(a) = f.created_after {
            args.push(Box::new(a));
            conds.push(format!("d.created_at >= ${}", args.len()));
        }
        if let Some(b) = f.created_before {
            args.push(Box::new(b));
            conds.push(format!("d.created_at < ${}", args.len()));
        }
        match f.duplicate {
            Some(true) => conds.push("d.duplicate_of IS NOT NULL".into()),
            Some(false) => conds.push("d.duplicate_of IS NULL".into()),
            None => {}
        }
        let order = match f.sort {
            DocSort::CreatedDesc => "d.created_at DESC, d.id DESC",
            DocSort::CreatedAsc => "d.created_at ASC, d.id ASC",
            DocSort::TitleAsc => "lower(d.title) ASC, d.id ASC",
            DocSort::TitleDesc => "lower(d.title) DESC, d.id DESC",
        };
        let wher = conds.join(" AND ");
        let c = self.client().await?;
        let (total, changes, folder) = match f.kept_count() {
            Some(KeptCount::Owner) => {
                let (live, changes) = kept_count(&c, owner, None).await?;
                (live, Some(changes), None)
            }
            Some(KeptCount::Folder(folder)) => {
                let (live, changes) = kept_count(&c, owner, Some(folder)).await?;
                (live, Some(changes), Some(folder))
            }
            None => (count(&c, &format!("SELECT COUNT(*) FROM documents d WHERE {wher}"), &refs(&args)).await?, None, None),
        };
        let ids = self.page_ids(&c, owner, folder, order, &wher, &mut args, total, changes, page.offset(), page.limit()).await?;
        let sql = format!(
            "SELECT {DOC_COLS} FROM ({ids}) p JOIN documents d ON d.id = p.id JOIN versions v ON v.id = d.current_version_id ORDER BY {order}"
        );
        let docs = load_docs(&c, &sql, &refs(&args)).await?;
        Ok(Paged { truncated: false, items: docs, total, page: page.page, page_size: page.page_size })
    }

    async fn update_document(
        &self,
        owner: Id,
        id: Id,
        title: Option<&str>,
        folder_id: Option<Id>,
        tag_ids: Option<&[Id]>,
    ) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let now = now_millis();
        let mut events = Vec::new();
        if let Some(t) = title {
            exec(&tx, "UPDATE documents SET title = $2, updated_at = $3 WHERE id = $1", &[&id, &t, &now]).await?;
            title_index_update(&tx, id, t).await?;
        }
        if let Some(fid) = folder_id
            && fid != doc.folder_id
        {
            live_folder(&tx, owner, fid).await?;
            exec(&tx, "UPDATE documents SET folder_id = $2, updated_at = $3 WHERE id = $1", &[&id, &fid, &now]).await?;
            events.push(NewEvent::document(owner, "document.moved", id, json!({"from": doc.folder_id, "to": fid})));
        }
        if let Some(tags) = tag_ids {
            check_tags_owned(&tx, owner, tags).await?;
            exec(&tx, "DELETE FROM document_tags WHERE document_id = $1", &[&id]).await?;
            for t in tags {
                exec(&tx, "INSERT INTO document_tags (document_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&id, t]).await?;
            }
            exec(&tx, "UPDATE documents SET updated_at = $2 WHERE id = $1", &[&id, &now]).await?;
        }
        events.push(NewEvent::document(owner, "document.updated", id, json!({})));
        let out = load_document(&tx, owner, id).await?;
        Self::commit(tx, &events, false).await?;
        Ok(out)
    }

    async fn change_document_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_document(&tx, owner, id).await?;
        check_tags_owned(&tx, owner, add).await?;
        check_tags_owned(&tx, owner, remove).await?;
        for t in add {
            exec(&tx, "INSERT INTO document_tags (document_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&id, t]).await?;
        }
        for t in remove {
            exec(&tx, "DELETE FROM document_tags WHERE document_id = $1 AND tag_id = $2", &[&id, t]).await?;
        }
        exec(&tx, "UPDATE documents SET updated_at = $2 WHERE id = $1", &[&id, &now_millis()]).await?;
        let out = load_document(&tx, owner, id).await?;
        Self::commit(tx, &[NewEvent::document(owner, "document.updated", id, json!({}))], false).await?;
        Ok(out)
    }

    async fn trash_document(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        if doc.trashed_at.is_some() {
            return Ok(());
        }
        exec(&tx, "UPDATE documents SET trashed_at = $2, updated_at = $2 WHERE id = $1", &[&id, &now_millis()]).await?;
        Self::commit(tx, &[NewEvent::document(owner, "document.trashed", id, json!({"folder_id": doc.folder_id}))], false).await
    }

    async fn restore_document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        if doc.trashed_at.is_none() {
            return Ok(doc);
        }
        // Back where it was, unless that folder is gone to the trash too: then the Inbox.
        let folder_live = load_folder(&tx, owner, doc.folder_id).await.map(|f| f.trashed_at.is_none()).unwrap_or(false);
        let folder: Id = if folder_live {
            doc.folder_id
        } else {
            col(&query_one(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'inbox'", &[&owner]).await?, 0)?
        };
        exec(&tx, "UPDATE documents SET trashed_at = NULL, folder_id = $2, updated_at = $3 WHERE id = $1", &[&id, &folder, &now_millis()])
            .await?;
        let out = load_document(&tx, owner, id).await?;
        Self::commit(tx, &[NewEvent::document(owner, "document.restored", id, json!({"folder_id": folder}))], false).await?;
        Ok(out)
    }

    async fn purge_document(&self, owner: Id, id: Id) -> DomainResult<Vec<String>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        if doc.trashed_at.is_none() {
            return Err(DomainError::Conflict("only a document in the trash can be deleted for good; move it to the trash first".into()));
        }
        let blobs = purge_doc_rows(&tx, id).await?;
        let out = unreferenced(&tx, blobs).await?;
        Self::commit(tx, &[NewEvent::document(owner, "document.deleted", id, json!({}))], false).await?;
        Ok(out)
    }

    async fn list_trash(&self, owner: Id, page: PageReq) -> DomainResult<Paged<ChildItem>> {
        let c = self.client().await?;
        // Top level of the trash: what did not go there together with its parent folder.
        let nf = count(
            &c,
            &format!("SELECT COUNT(*) FROM folders f WHERE f.owner_id = $1 AND f.trashed_at IS NOT NULL AND {TOP_FOLDER}"),
            &[&owner],
        )
        .await?;
        let nd = count(
            &c,
            &format!("SELECT COUNT(*) FROM documents d WHERE d.owner_id = $1 AND d.trashed_at IS NOT NULL AND {TOP_DOC}"),
            &[&owner],
        )
        .await?;
        let (offset, limit) = (page.offset(), page.limit());
        let mut items = Vec::new();
        if offset < nf {
            let sql = format!(
                "SELECT {FOLDER_COLS} FROM folders f WHERE owner_id = $1 AND trashed_at IS NOT NULL AND {TOP_FOLDER} ORDER BY trashed_at DESC, id LIMIT $2 OFFSET $3"
            );
            let folders = all(query(&c, &sql, &[&owner, &limit, &offset]).await?, folder_from)?;
            items.extend(folders_with_tags(&c, folders).await?);
        }
        let remaining = limit - items.len() as i64;
        if remaining > 0 {
            let sql = format!(
                "SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.owner_id = $1 AND d.trashed_at IS NOT NULL AND {TOP_DOC} ORDER BY d.trashed_at DESC, d.id LIMIT $2 OFFSET $3"
            );
            let docs = load_docs(&c, &sql, &[&owner, &remaining, &(offset - nf).max(0)]).await?;
            items.extend(docs.into_iter().map(ChildItem::Document));
        }
        Ok(Paged { truncated: false, items, total: nf + nd, page: page.page, page_size: page.page_size })
    }

    async fn empty_trash(&self, owner: Id) -> DomainResult<Vec<String>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let mut blobs = Vec::new();
        let mut events = Vec::new();
        // Documents trashed themselves, and every document inside a trashed folder tree.
        let trashed_folders =
            ids(query(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND trashed_at IS NOT NULL ORDER BY id", &[&owner]).await?)?;
        let mut all_folders = Vec::new();
        for f in &trashed_folders {
            all_folders.extend(subtree(&tx, *f).await?);
        }
        let mut doc_ids = ids(query(
            &tx,
            "SELECT id FROM documents WHERE owner_id = $1 AND (trashed_at IS NOT NULL OR folder_id = ANY($2))",
            &[&owner, &all_folders],
        )
        .await?)?;
        doc_ids.sort_unstable();
        doc_ids.dedup();
        for d in &doc_ids {
            blobs.extend(purge_doc_rows(&tx, *d).await?);
            events.push(NewEvent::document(owner, "document.deleted", *d, json!({})));
        }
        for f in &trashed_folders {
            exec(&tx, "DELETE FROM folders WHERE id = $1", &[f]).await?;
            events.push(NewEvent::folder(owner, "folder.deleted", *f, json!({})));
        }
        let out = unreferenced(&tx, blobs).await?;
        Self::commit(tx, &events, false).await?;
        Ok(out)
    }

    async fn versions(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Version>> {
        let c = self.client().await?;
        load_document(&c, owner, document_id).await?;
        let rows = query(&c, &format!("SELECT {VERSION_COLS} FROM versions v WHERE v.document_id = $1 ORDER BY v.number"), &[&document_id])
            .await?;
        all(rows, |r| version_from(r, 0))
    }

    async fn version(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Version> {
        let c = self.client().await?;
        let doc = load_document(&c, owner, document_id).await?;
        let vid = version_id.unwrap_or(doc.version.id);
        let row =
            query_opt(&c, &format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = $1 AND v.document_id = $2"), &[&vid, &document_id])
                .await?;
        row.map(|r| version_from(&r, 0))
            .transpose()?
            .ok_or_else(|| DomainError::not_found(format!("version {vid} of document {document_id}")))
    }

    async fn pages(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Vec<Page>> {
        let v = self.version(owner, document_id, version_id).await?;
        self.page_records(v.id).await
    }

    async fn page(&self, owner: Id, document_id: Id, version_id: Option<Id>, number: i32) -> DomainResult<Page> {
        let v = self.version(owner, document_id, version_id).await?;
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = $1 AND number = $2"), &[&v.id, &number]).await?;
        row.as_ref().map(page_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("page {number} of document {document_id}")))
    }

    async fn reprocess_document(&self, owner: Id, id: Id, max_attempts: i32) -> DomainResult<Id> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let vid = doc.version.id;
        let now = now_millis();
        // Forget partial results of the earlier run.
        exec(&tx, "DELETE FROM search_index WHERE rowid IN (SELECT id FROM pages WHERE version_id = $1)", &[&vid]).await?;
        exec(&tx, "DELETE FROM pages WHERE version_id = $1", &[&vid]).await?;
        exec(&tx, "UPDATE versions SET state = 'queued', error = NULL, pages_done = 0, page_count = 0 WHERE id = $1", &[&vid]).await?;
        exec(&tx, "UPDATE documents SET state = 'queued', error = NULL, updated_at = $2 WHERE id = $1", &[&id, &now]).await?;
        let job = NewJob::new(crate::jobs::kinds::PROCESS_VERSION, json!({"version_id": vid}))
            .priority(10)
            .unique(format!("process_version:{vid}"))
            .max_attempts(max_attempts)
            .for_document(owner, id);
        let job_id =
            insert_job(&tx, &job, now).await?.ok_or_else(|| DomainError::Conflict("this document is already being processed".into()))?;
        Self::commit(tx, &[NewEvent::document(owner, "document.updated", id, json!({"state": "queued"}))], true).await?;
        Ok(job_id)
    }

    // ---- tags ----------------------------------------------------------------------------------

    async fn tags(&self, owner: Id) -> DomainResult<Vec<Tag>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT t.id, t.owner_id, t.name, t.color, \
               (SELECT COUNT(*) FROM document_tags dt JOIN documents d ON d.id = dt.document_id WHERE dt.tag_id = t.id AND d.trashed_at IS NULL) \
             FROM tags t WHERE t.owner_id = $1 ORDER BY lower(t.name), t.id",
            &[&owner],
        )
        .await?;
        all(rows, tag_from)
    }

    async fn create_tag(&self, owner: Id, name: &str, color: &str) -> DomainResult<Tag> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = try_query_one(&tx, "INSERT INTO tags (owner_id, name, color) VALUES ($1, $2, $3) RETURNING id", &[&owner, &name, &color])
            .await
            .map_err(|e| conflict_or_db(e, || format!("a tag named {name:?} already exists")))?;
        let id: Id = col(&row, 0)?;
        let ev = NewEvent { owner_id: owner, kind: "tag.created", document_id: None, folder_id: None, data: json!({"tag_id": id}) };
        Self::commit(tx, &[ev], false).await?;
        Ok(Tag { id, owner_id: owner, name: name.to_string(), color: color.to_string(), document_count: 0 })
    }

    async fn update_tag(&self, owner: Id, id: Id, name: Option<&str>, color: Option<&str>) -> DomainResult<Tag> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = try_exec(
            &tx,
            "UPDATE tags SET name = COALESCE($3, name), color = COALESCE($4, color) WHERE id = $1 AND owner_id = $2",
            &[&id, &owner, &name, &color],
        )
        .await
        .map_err(|e| conflict_or_db(e, || "a tag with that name already exists".into()))?;
        if n == 0 {
            return Err(DomainError::not_found(format!("tag {id}")));
        }
        let row = query_one(
            &tx,
            "SELECT t.id, t.owner_id, t.name, t.color, (SELECT COUNT(*) FROM document_tags WHERE tag_id = t.id) FROM tags t WHERE t.id = $1",
            &[&id],
        )
        .await?;
        let tag = tag_from(&row)?;
        let ev = NewEvent { owner_id: owner, kind: "tag.updated", document_id: None, folder_id: None, data: json!({"tag_id": id}) };
        Self::commit(tx, &[ev], false).await?;
        Ok(tag)
    }

    async fn delete_tag(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(&tx, "DELETE FROM tags WHERE id = $1 AND owner_id = $2", &[&id, &owner]).await?;
        if n == 0 {
            return Err(DomainError::not_found(format!("tag {id}")));
        }
        let ev = NewEvent { owner_id: owner, kind: "tag.deleted", document_id: None, folder_id: None, data: json!({"tag_id": id}) };
        Self::commit(tx, &[ev], false).await
    }

    // ---- search --------------------------------------------------------------------------------

    // ---- benchmarks ----------------------------------------------------------------------------

    async fn bulk_load_for_bench(&self, owner: Id, docs: Vec<SyntheticDoc>) -> DomainResult<Vec<Id>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n_docs = docs.len() as i64;
        let n_pages: i64 = docs.iter().map(|d| d.pages.len() as i64).sum();
        // Ids up front, so every table is one multi-row INSERT … SELECT FROM UNNEST.
        let nextvals = |seq: &str| format!("SELECT nextval('{seq}') FROM generate_series(1, $1::bigint)");
        let doc_ids = ids(query(&tx, &nextvals("documents_id_seq"), &[&n_docs]).await?)?;
        let version_ids = ids(query(&tx, &nextvals("versions_id_seq"), &[&n_docs]).await?)?;
        let page_ids = ids(query(&tx, &nextvals("pages_id_seq"), &[&n_pages]).await?)?;

        let (mut folder_ids, mut titles, mut filenames, mut shas, mut sizes, mut created, mut page_counts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut p_version, mut p_number, mut p_text) = (Vec::new(), Vec::new(), Vec::new());
        let (mut s_rowid, mut s_doc, mut s_pno, mut s_words) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut t_doc, mut t_tag, mut title_words) = (Vec::new(), Vec::new(), Vec::new());
        let mut next_page = page_ids.iter();
        for ((d, &doc_id), &version_id) in docs.iter().zip(&doc_ids).zip(&version_ids) {
            folder_ids.push(d.folder_id);
            titles.push(d.title.as_str());
            filenames.push(d.filename.as_str());
            shas.push(d.sha256.as_str());
            sizes.push(d.size);
            created.push(d.created_at);
            page_counts.push(d.pages.len() as i32);
            title_words.push(index_words(&d.title));
            for (i, text) in d.pages.iter().enumerate() {
                let page_id = *next_page.next().ok_or_else(|| DomainError::Database("page id sequence ran short".into()))?;
                p_version.push(version_id);
                p_number.push(i as i32 + 1);
                p_text.push(text.as_str());
                if !text.is_empty() {
                    s_rowid.push(page_id);
                    s_doc.push(doc_id);
                    s_pno.push(i as i32 + 1);
                    s_words.push(index_words(text));
                }
            }
            for &t in &d.tag_ids {
                t_doc.push(doc_id);
                t_tag.push(t);
            }
        }
        exec(
            &tx,
            "INSERT INTO documents (id, owner_id, folder_id, title, state, sha256, current_version_id, created_at, updated_at, title_tsv) \
             SELECT u.id, $1, u.folder, u.title, 'ready', u.sha, u.vid, u.created, u.created, to_tsvector('simple', u.words) \
             FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[]) \
               AS u(id, folder, title, sha, vid, created, words)",
            &[&owner, &doc_ids, &folder_ids, &titles, &shas, &version_ids, &created, &title_words],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO versions (id, document_id, number, filename, mime, size, sha256, state, page_count, pages_done, note, created_at) \
             SELECT u.id, u.doc, 1, u.filename, 'application/pdf', u.size, u.sha, 'ready', u.pages, u.pages, 'uploaded', u.created \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::bigint[]) \
               AS u(id, doc, filename, size, sha, pages, created)",
            &[&version_ids, &doc_ids, &filenames, &sizes, &shas, &page_counts, &created],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO pages (id, version_id, number, width, height, text, lines_json, source) \
             SELECT u.id, u.vid, u.number, 595.0, 842.0, u.text, '[]', 'text' \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::text[]) AS u(id, vid, number, text)",
            &[&page_ids, &p_version, &p_number, &p_text],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO search_index (rowid, document_id, page_number, tsv) \
             SELECT u.rid, u.doc, u.pno, to_tsvector('simple', u.words) \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::text[]) AS u(rid, doc, pno, words)",
            &[&s_rowid, &s_doc, &s_pno, &s_words],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO document_tags (document_id, tag_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&t_doc, &t_tag],
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(doc_ids)
    }

    async fn analyze_after_bulk_load(&self) -> DomainResult<()> {
        let c = self.client().await?;
        c.batch_execute("VACUUM ANALYZE").await.map_err(db_err)
    }

    async fn search(&self, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
        // One read-only transaction with a statement timeout, cancelled on the server when this
        // future is dropped (the client went away): a search costs at most `q.time_limit`.
        let mut guard = super::CancelOnDrop::new(self.client().await?, self.tls.clone());
        let result = async {
            let tx = guard.client().build_transaction().read_only(true).start().await.map_err(db_err)?;
            let ms = q.time_limit.as_millis().clamp(1, i32::MAX as u128);
            tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}")).await.map_err(db_err)?;
            let out = search_in(&tx, owner, q, page).await.map_err(|e| super::timeout_as_too_expensive(e, q.time_limit))?;
            tx.commit().await.map_err(db_err)?;
            Ok(out)
        }
        .await;
        // Finished either way: nothing is running on the connection any more.
        guard.disarm();
        result
    }
    // ---- the job table -------------------------------------------------------------------------

    async fn enqueue(&self, jobs: Vec<NewJob>) -> DomainResult<Vec<Option<Id>>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let mut out = Vec::with_capacity(jobs.len());
        for j in &jobs {
            out.push(insert_job(&tx, j, now).await?);
        }
        Self::commit(tx, &[], out.iter().any(Option::is_some)).await?;
        Ok(out)
    }

    async fn claim(&self, worker_id: &str, kinds: &[String], limit: usize, lease_ms: Millis) -> DomainResult<Vec<ClaimedJob>> {
        let c = self.client().await?;
        let now = now_millis();
        let kind_filter = if kinds.is_empty() { "" } else { "AND kind = ANY($5)" };
        // SKIP LOCKED: concurrent claimers pass over each other's rows instead of waiting; the
        // outer UPDATE re-checks the state in case the row changed since the inner snapshot.
        // The candidates are a MATERIALIZED CTE: as a subquery in FROM the planner may rescan
        // it once per outer row (nested loop), and each rescan skips the rows this very
        // statement already updated and locks further ones — claiming more than `limit`.
        let sql = format!(
            "WITH c AS MATERIALIZED (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= $3 {kind_filter} \
               ORDER BY priority DESC, run_after, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, lease_seq = lease_seq + 1, attempts = attempts + 1, updated_at = $3 \
             FROM c WHERE jobs.id = c.id AND jobs.state = 'queued' \
             RETURNING jobs.id, jobs.kind, jobs.payload::text, jobs.attempts, jobs.lease_seq, jobs.max_attempts, jobs.timeout_secs, jobs.document_id, jobs.owner_id, jobs.priority"
        );
        let (until, lim) = (now + lease_ms, limit as i64);
        let rows = if kinds.is_empty() {
            query(&c, &sql, &[&worker_id, &until, &now, &lim]).await?
        } else {
            query(&c, &sql, &[&worker_id, &until, &now, &lim, &kinds]).await?
        };
        let mut jobs = all(rows, |r| {
            let payload: String = col(r, 2)?;
            Ok((
                col::<i32>(r, 9)?,
                ClaimedJob {
                    id: col(r, 0)?,
                    kind: col(r, 1)?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    attempt: col(r, 3)?,
                    lease_seq: col(r, 4)?,
                    max_attempts: col(r, 5)?,
                    timeout_secs: col(r, 6)?,
                    document_id: col(r, 7)?,
                    owner_id: col(r, 8)?,
                },
            ))
        })?;
        jobs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        Ok(jobs.into_iter().map(|(_, j)| j).collect())
    }

    async fn heartbeat(&self, leases: &[Lease], lease_ms: Millis) -> DomainResult<Vec<bool>> {
        let c = self.client().await?;
        let now = now_millis();
        let until = now + lease_ms;
        let mut out = Vec::with_capacity(leases.len());
        for l in leases {
            let n = exec(
                &c,
                "UPDATE jobs SET locked_until = $4, updated_at = $5 WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
                &[&l.job_id, &l.worker_id, &l.seq, &until, &now],
            )
            .await?;
            out.push(n == 1);
        }
        Ok(out)
    }

    async fn complete(&self, leases: &[Lease]) -> DomainResult<Vec<bool>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let mut out = Vec::with_capacity(leases.len());
        for l in leases {
            out.push(complete_in(&tx, l, now).await?);
        }
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn fail(&self, lease: &Lease, error: &str, permanent: bool) -> DomainResult<Option<FailOutcome>> {
        let jitter: f64 = rand::random();
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let row = query_opt(
            &tx,
            "SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running' FOR UPDATE",
            &[&lease.job_id, &lease.worker_id, &lease.seq],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (attempts, max_attempts): (i32, i32) = (col(&row, 0)?, col(&row, 1)?);
        let outcome = if permanent || attempts >= max_attempts {
            exec(
                &tx,
                "UPDATE jobs SET state = 'failed', last_error = $2, locked_by = NULL, locked_until = NULL, updated_at = $3 WHERE id = $1",
                &[&lease.job_id, &error, &now],
            )
            .await?;
            FailOutcome::Failed
        } else {
            let run_after = now + backoff_millis(attempts, jitter);
            exec(
                &tx,
                "UPDATE jobs SET state = 'queued', last_error = $2, locked_by = NULL, locked_until = NULL, run_after = $3, updated_at = $4 WHERE id = $1",
                &[&lease.job_id, &error, &run_after, &now],
            )
            .await?;
            FailOutcome::Retry { run_after }
        };
        Self::commit(tx, &[], false).await?;
        Ok(Some(outcome))
    }

    async fn release(&self, lease: &Lease) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(
            &tx,
            "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = GREATEST(attempts - 1, 0), run_after = $4, updated_at = $4 \
             WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
            &[&lease.job_id, &lease.worker_id, &lease.seq, &now_millis()],
        )
        .await?;
        Self::commit(tx, &[], n == 1).await?;
        Ok(n == 1)
    }

    async fn reap_expired(&self) -> DomainResult<u64> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let msg = "the worker running this job stopped responding (its lease expired)";
        let rows = query(
            &tx,
            "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
               last_error = $2, locked_by = NULL, locked_until = NULL, run_after = $1, updated_at = $1 \
             WHERE state = 'running' AND locked_until < $1 RETURNING id, state, document_id",
            &[&now, &msg],
        )
        .await?;
        let mut events = Vec::new();
        let mut requeued = false;
        for r in &rows {
            let state: String = col(r, 1)?;
            let doc: Option<Id> = col(r, 2)?;
            match (state.as_str(), doc) {
                ("failed", Some(doc)) => {
                    let owner = query_opt(
                        &tx,
                        "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 RETURNING owner_id",
                        &[&doc, &msg, &now],
                    )
                    .await?;
                    if let Some(o) = owner {
                        events.push(NewEvent::document(col(&o, 0)?, "document.failed", doc, json!({"error": msg})));
                    }
                }
                ("queued", _) => requeued = true,
                _ => {}
            }
        }
        Self::commit(tx, &events, requeued).await?;
        Ok(rows.len() as u64)
    }

    async fn job(&self, id: Id) -> DomainResult<JobView> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(job_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("job {id}")))
    }

    async fn jobs_for_owner(&self, owner: Id, document_id: Option<Id>, page: PageReq) -> DomainResult<Paged<JobView>> {
        let c = self.client().await?;
        if let Some(d) = document_id {
            load_document(&c, owner, d).await?;
        }
        let total = count(
            &c,
            "SELECT COUNT(*) FROM jobs WHERE owner_id = $1 AND ($2::bigint IS NULL OR document_id = $2)",
            &[&owner, &document_id],
        )
        .await?;
        let rows = query(
            &c,
            &format!("SELECT {JOB_COLS} FROM jobs WHERE owner_id = $1 AND ($2::bigint IS NULL OR document_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"),
            &[&owner, &document_id, &page.limit(), &page.offset()],
        )
        .await?;
        Ok(Paged { truncated: false, items: all(rows, job_from)?, total, page: page.page, page_size: page.page_size })
    }

    async fn retry_job(&self, owner: Id, id: Id) -> DomainResult<JobView> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let job = query_opt(&tx, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND owner_id = $2 FOR UPDATE"), &[&id, &owner])
            .await?
            .as_ref()
            .map(job_from)
            .transpose()?
            .ok_or_else(|| DomainError::not_found(format!("job {id}")))?;
        if job.state != JobState::Failed {
            return Err(DomainError::Conflict(format!("job {id} is {}, only a failed job can be retried", job.state.as_str())));
        }
        let now = now_millis();
        try_exec(&tx, "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, updated_at = $2 WHERE id = $1", &[&id, &now])
            .await
            .map_err(|e| conflict_or_db(e, || "the same work is already queued".into()))?;
        let mut events = Vec::new();
        if let Some(doc) = job.document_id {
            exec(&tx, "UPDATE documents SET state = 'queued', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
            events.push(NewEvent::document(owner, "document.updated", doc, json!({"state": "queued"})));
        }
        let view = job_from(&query_one(&tx, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id]).await?)?;
        Self::commit(tx, &events, true).await?;
        Ok(view)
    }

    async fn job_counts(&self) -> DomainResult<Vec<(String, String, i64)>> {
        let c = self.client().await?;
        let rows = query(&c, "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state", &[]).await?;
        all(rows, |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?)))
    }

    // ---- processing ----------------------------------------------------------------------------

    async fn begin_version(&self, lease: &Lease, version_id: Id, page_count: i32, page_jobs: Vec<NewJob>) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        if page_count <= 0 {
            // Nothing to process: the document fails in words instead of waiting forever.
            let error = "the file has no pages";
            exec(
                &tx,
                "UPDATE versions SET state = 'failed', error = $2, page_count = 0, pages_done = 0 WHERE id = $1",
                &[&version_id, &error],
            )
            .await?;
            exec(
                &tx,
                "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND current_version_id = $4",
                &[&doc, &error, &now, &version_id],
            )
            .await?;
            Self::commit(tx, &[NewEvent::document(owner, "document.failed", doc, json!({"error": error}))], false).await?;
            return Ok(true);
        }
        exec(
            &tx,
            "UPDATE versions SET state = 'processing', page_count = $2, pages_done = 0, error = NULL WHERE id = $1",
            &[&version_id, &page_count],
        )
        .await?;
        exec(&tx, "UPDATE documents SET state = 'processing', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
        exec(&tx, "DELETE FROM pages WHERE version_id = $1", &[&version_id]).await?;
        for j in &page_jobs {
            insert_job(&tx, j, now).await?;
        }
        let ev = NewEvent::document(owner, "document.processing", doc, json!({"pages": page_count}));
        Self::commit(tx, &[ev], true).await?;
        Ok(true)
    }

    async fn store_page(&self, lease: &Lease, version_id: Id, page: PageRecord, finish_job: NewJob) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        let inserted = exec(
            &tx,
            "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (version_id, number) DO NOTHING",
            &[
                &version_id,
                &page.number,
                &page.width,
                &page.height,
                &page.text,
                &page.lines_json,
                &page.source,
                &page.thumbnail_sha256,
                &page.preview_sha256,
            ],
        )
        .await?;
        // The row lock on the version serialises concurrent pages of one document, so exactly
        // one of them sees the last page done and queues the finishing job.
        let row = query_one(
            &tx,
            "UPDATE versions SET pages_done = pages_done + $2 WHERE id = $1 RETURNING pages_done, page_count",
            &[&version_id, &(inserted as i32)],
        )
        .await?;
        let (done, total): (i32, i32) = (col(&row, 0)?, col(&row, 1)?);
        exec(
            &tx,
            "UPDATE jobs SET progress_done = $2, progress_total = $3 WHERE document_id = $1 AND kind = $4",
            &[&doc, &done, &total, &crate::jobs::kinds::PROCESS_VERSION],
        )
        .await?;
        let mut events = Vec::new();
        if inserted == 1 {
            events.push(NewEvent::document(owner, "job.progress", doc, json!({"page": done, "pages": total})));
        }
        let mut queued = false;
        if done >= total {
            queued = insert_job(&tx, &finish_job, now).await?.is_some();
        }
        Self::commit(tx, &events, queued).await?;
        Ok(true)
    }

    async fn finish_version(&self, lease: &Lease, version_id: Id, searchable_sha256: Option<&str>) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        let current: Option<Id> = col(&query_one(&tx, "SELECT current_version_id FROM documents WHERE id = $1", &[&doc]).await?, 0)?;
        let page_count: i32 = col(
            &query_one(
                &tx,
                "UPDATE versions SET state = 'ready', error = NULL, searchable_sha256 = $2 WHERE id = $1 RETURNING page_count",
                &[&version_id, &searchable_sha256],
            )
            .await?,
            0,
        )?;
        let mut events = Vec::new();
        if current == Some(version_id) {
            // Index this version's pages (and drop any older version's entries).
            exec(&tx, "DELETE FROM search_index WHERE document_id = $1 AND page_number > 0", &[&doc]).await?;
            let pages = query(&tx, "SELECT id, number, text FROM pages WHERE version_id = $1 AND text <> ''", &[&version_id]).await?;
            let (mut pids, mut nums, mut words) = (Vec::new(), Vec::new(), Vec::new());
            for p in &pages {
                pids.push(col::<Id>(p, 0)?);
                nums.push(col::<i32>(p, 1)?);
                words.push(index_words(&col::<String>(p, 2)?));
            }
            exec(
                &tx,
                "INSERT INTO search_index (rowid, document_id, page_number, tsv) \
                 SELECT u.pid, $1, u.pno, to_tsvector('simple', u.words) \
                 FROM UNNEST($2::bigint[], $3::int[], $4::text[]) AS u(pid, pno, words)",
                &[&doc, &pids, &nums, &words],
            )
            .await?;
            exec(&tx, "UPDATE documents SET state = 'ready', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
            events.push(NewEvent::document(owner, "document.ready", doc, json!({"page_count": page_count, "version_id": version_id})));
        }
        exec(
            &tx,
            "UPDATE jobs SET progress_done = $2, progress_total = $2 WHERE document_id = $1 AND kind = $3",
            &[&doc, &page_count, &crate::jobs::kinds::PROCESS_VERSION],
        )
        .await?;
        Self::commit(tx, &events, false).await?;
        Ok(true)
    }

    async fn fail_version(&self, version_id: Id, error: &str) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        exec(&tx, "UPDATE versions SET state = 'failed', error = $2 WHERE id = $1", &[&version_id, &error]).await?;
        exec(
            &tx,
            "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND current_version_id = $4",
            &[&doc, &error, &now, &version_id],
        )
        .await?;
        // Other page jobs of this version have nothing left to do.
        exec(
            &tx,
            "UPDATE jobs SET state = 'failed', last_error = 'another page of this document failed', updated_at = $2 \
             WHERE document_id = $1 AND state = 'queued' AND kind <> $3",
            &[&doc, &now, &crate::jobs::kinds::PROCESS_VERSION],
        )
        .await?;
        Self::commit(tx, &[NewEvent::document(owner, "document.failed", doc, json!({"error": error}))], false).await
    }

    async fn version_by_id(&self, version_id: Id) -> DomainResult<Version> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = $1"), &[&version_id]).await?;
        row.map(|r| version_from(&r, 0)).transpose()?.ok_or_else(|| DomainError::not_found(format!("version {version_id}")))
    }

    async fn page_records(&self, version_id: Id) -> DomainResult<Vec<Page>> {
        let c = self.client().await?;
        let rows = query(&c, &format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = $1 ORDER BY number"), &[&version_id]).await?;
        all(rows, page_from)
    }

    // ---- events --------------------------------------------------------------------------------

    async fn events_after(&self, owner: Option<Id>, after: Id, limit: i64) -> DomainResult<Vec<Event>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT id, owner_id, kind, document_id, folder_id, data::text, created_at FROM events \
             WHERE id > $1 AND ($2::bigint IS NULL OR owner_id = $2) ORDER BY id LIMIT $3",
            &[&after, &owner, &limit],
        )
        .await?;
        all(rows, |r| {
            let data: String = col(r, 5)?;
            Ok(Event {
                id: col(r, 0)?,
                owner_id: col(r, 1)?,
                kind: col(r, 2)?,
                document_id: col(r, 3)?,
                folder_id: col(r, 4)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                created_at: col(r, 6)?,
            })
        })
    }

    async fn latest_event_id(&self) -> DomainResult<Id> {
        let c = self.client().await?;
        count(&c, "SELECT COALESCE(MAX(id), 0)::bigint FROM events", &[]).await
    }

    async fn prune_events(&self, older_than: Millis) -> DomainResult<u64> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(&tx, "DELETE FROM events WHERE created_at < $1", &[&older_than]).await?;
        // Finished jobs are kept as long as events, for the jobs API.
        let m = exec(&tx, "DELETE FROM jobs WHERE state = 'done' AND updated_at < $1", &[&older_than]).await?;
        Self::commit(tx, &[], false).await?;
        Ok(n + m)
    }

    async fn wait_for_change(&self, channel: WakeChannel, timeout: Duration) {
        let notify = self.wake(channel);
        if self.listening() {
            let _ = tokio::time::timeout(timeout, notify.notified()).await;
        } else {
            // No LISTEN connection (server restarting): callers poll.
            tokio::time::sleep(timeout).await;
        }
    }

    // ---- page operations -----------------------------------------------------------------------

    async fn apply_page_edit(&self, edit: crate::domain::pages::PageEdit) -> DomainResult<crate::domain::pages::PageEditOutcome> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let (out, events, jobs) = pages::apply(&tx, &edit).await?;
        Self::commit(tx, &events, jobs).await?;
        Ok(out)
    }

    async fn set_page_images(&self, version_id: Id, images: Vec<(i32, String, String)>) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let events = pages::set_page_images(&tx, version_id, &images).await?;
        Self::commit(tx, &events, false).await
    }
}

/// A search's `tag:` and `folder:` filters as ids. `None`: some name matches nothing, so nothing
/// can match the search.
struct ResolvedFilters {
    /// Every tag id named, with the number of the filter it answers (a name can match tags that
    /// differ only in case); a document must carry tags of all `groups` filters.
    tag_ids: Vec<Id>,
    tag_groups: Vec<i32>,
    groups: i64,
    /// The folders whose name matches every `folder:` filter (None: no folder filter).
    folder_ids: Option<Vec<Id>>,
}

async fn resolve_filters<C: GenericClient>(c: &C, owner: Id, q: &SearchQuery) -> DomainResult<Option<ResolvedFilters>> {
    let mut out = ResolvedFilters { tag_ids: Vec::new(), tag_groups: Vec::new(), groups: q.tags.len() as i64, folder_ids: None };
    if !q.tags.is_empty() {
        let names: Vec<String> = q.tags.iter().map(|t| t.to_lowercase()).collect();
        let rows = query(c, "SELECT id, lower(name) FROM tags WHERE owner_id = $1 AND lower(name) = ANY($2)", &[&owner, &names]).await?;
        for (g, name) in names.iter().enumerate() {
            let before = out.tag_ids.len();
            for r in &rows {
                if col::<String>(r, 1)? == *name {
                    out.tag_ids.push(col(r, 0)?);
                    out.tag_groups.push(g as i32);
                }
            }
            if out.tag_ids.len() == before {
                return Ok(None);
            }
        }
    }
    for f in &q.folders {
        let rows = query(
            c,
            "SELECT id FROM folders WHERE owner_id = $1 AND trashed_at IS NULL AND name ILIKE $2 ESCAPE '\\'",
            &[&owner, &like_escape(f)],
        )
        .await?;
        let ids: HashSet<Id> = rows.iter().map(|r| col::<Id>(r, 0)).collect::<DomainResult<_>>()?;
        let kept: Vec<Id> = match out.folder_ids.take() {
            None => ids.into_iter().collect(),
            Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
        };
        if kept.is_empty() {
            return Ok(None);
        }
        out.folder_ids = Some(kept);
    }
    Ok(Some(out))
}

async fn search_in<C: GenericClient>(c: &C, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
    let mut conds = vec!["d.owner_id = $1".to_string(), "d.trashed_at IS NULL".to_string()];
    let mut args: Params = vec![Box::new(owner)];
    // Tag and folder names are looked up once, so that each kind of filter is one condition
    // however many names it has (one EXISTS per name made planning time grow steeply).
    let Some(filters) = resolve_filters(c, owner, q).await? else {
        return Ok(Paged { truncated: false, items: Vec::new(), total: 0, page: page.page, page_size: page.page_size });
    };
    if !filters.tag_ids.is_empty() {
        args.push(Box::new(filters.tag_ids));
        args.push(Box::new(filters.tag_groups));
        args.push(Box::new(filters.groups));
        conds.push(format!(
            "(SELECT COUNT(DISTINCT m.g) FROM document_tags dt JOIN UNNEST(${}::bigint[], ${}::int[]) AS m(t, g) ON m.t = dt.tag_id \
             WHERE dt.document_id = d.id) = ${}",
            args.len() - 2,
            args.len() - 1,
            args.len()
        ));
    }
    if let Some(folder_ids) = filters.folder_ids {
        args.push(Box::new(folder_ids));
        conds.push(format!("d.folder_id = ANY(${})", args.len()));
    }
    if let Some(a) = q.after {
        args.push(Box::new(a));
        conds.push(format!("d.created_at >= ${}", args.len()));
    }
    if let Some(b) = q.before {
        args.push(Box::new(b));
        conds.push(format!("d.created_at < ${}", args.len()));
    }
    if !q.has_text() {
        // Filters only: newest documents first.
        let wher = conds.join(" AND ");
        let total = count(c, &format!("SELECT COUNT(*) FROM documents d WHERE {wher}"), &refs(&args)).await?;
        let n = args.len();
        args.push(Box::new(page.limit()));
        args.push(Box::new(page.offset()));
        let sql = format!(
            "SELECT {DOC_COLS} FROM {DOC_FROM} WHERE {wher} ORDER BY d.created_at DESC, d.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let docs = load_docs(c, &sql, &refs(&args)).await?;
        let items = docs.into_iter().map(|d| SearchHit { document: d, page_number: None, snippet: String::new(), rank: 0.0 }).collect();
        return Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size });
    }
    let expr = ts_expression(q);
    args.push(Box::new(expr.clone()));
    let q_arg = args.len();
    args.push(Box::new(RANKED_MATCHES + 1));
    let limit_arg = args.len();
    let wher = conds.join(" AND ");
    // This user's matching pages newest first (rowid = page id), and the documents whose title
    // matches (rowid = -document id), newest first: at most RANKED_MATCHES + 1 of each. For a
    // word on most pages the planner walks search_index(owner_id, rowid) and stops there; for
    // a rarer one it asks the GIN index. When there are more matches than that, the newest are
    // listed newest first instead of ranked; otherwise ts_rank ranks them.
    let tsq = format!("to_tsquery('simple', ${q_arg})");
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut truncated = false;
    // Pages: read from search_index alone (its owner_id column), newest first, in batches;
    // each batch's documents are then checked against the filters in one query. Joining
    // documents inside the index scan would look up the document of every match before
    // sorting, not only of the newest ones kept.
    let filter_args = &args[..q_arg - 1];
    let page_sql = "SELECT s.rowid, s.document_id, s.page_number FROM search_index s \
                    WHERE s.owner_id = $1 AND s.tsv @@ to_tsquery('simple', $2) AND s.rowid < $3 ORDER BY s.rowid DESC LIMIT $4";
    let docs_sql = format!("SELECT d.id FROM documents d WHERE d.id = ANY(${}) AND {wher}", q_arg);
    let batch = RANKED_MATCHES + 1;
    let mut before = Id::MAX;
    let mut pages: Vec<Candidate> = Vec::new();
    loop {
        let rows = query(c, page_sql, &[&owner, &expr, &before, &batch]).await?;
        let Some(last) = rows.last() else { break };
        before = col(last, 0)?;
        let found: Vec<(Id, Id, i32)> =
            rows.iter().map(|r| Ok((col::<Id>(r, 0)?, col::<Id>(r, 1)?, col::<i32>(r, 2)?))).collect::<DomainResult<_>>()?;
        let mut ids: Vec<Id> = found.iter().map(|f| f.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut p = refs(filter_args);
        p.push(&ids);
        let visible: HashSet<Id> = query(c, &docs_sql, &p).await?.iter().map(|r| col::<Id>(r, 0)).collect::<DomainResult<_>>()?;
        pages.extend(found.into_iter().filter(|f| visible.contains(&f.1)).map(|(rid, doc, pno)| (rid, doc, pno, 0.0)));
        if pages.len() as i64 > RANKED_MATCHES || (rows.len() as i64) < batch {
            break;
        }
    }
    truncated |= pages.len() as i64 > RANKED_MATCHES;
    pages.truncate(RANKED_MATCHES as usize);
    if !truncated && !pages.is_empty() {
        // Few enough to rank: ts_rank of just these rows.
        let rids: Vec<Id> = pages.iter().map(|p| p.0).collect();
        let rank: HashMap<Id, f64> =
            query(c, "SELECT rowid, ts_rank(tsv, to_tsquery('simple', $2)) FROM search_index WHERE rowid = ANY($1)", &[&rids, &expr])
                .await?
                .iter()
                .map(|r| Ok((col::<Id>(r, 0)?, col::<f32>(r, 1)? as f64)))
                .collect::<DomainResult<_>>()?;
        for p in &mut pages {
            p.3 = rank.get(&p.0).copied().unwrap_or(0.0);
        }
    }
    candidates.extend(pages);
    // Titles: documents.title_tsv (GIN), small rows, filtered in the same query; read in
    // windows of document ids, newest first, so that a title word on thousands of documents
    // costs about the RANKED_MATCHES + 1 newest of them (BitmapAnd of the GIN and the primary
    // key), not a heap read and a ts_rank of every one.
    let title_sql = format!(
        "SELECT -d.id, d.id, 0, ts_rank(d.title_tsv, {tsq}) FROM documents d \
         WHERE d.title_tsv @@ {tsq} AND {wher} AND d.id < ${} AND d.id >= ${} ORDER BY d.id DESC LIMIT ${limit_arg}",
        args.len() + 1,
        args.len() + 2
    );
    let bounds = query_one(c, "SELECT min(id), max(id) FROM documents", &[]).await?;
    let mut titles: Vec<Candidate> = Vec::new();
    if let (Some(lowest), Some(highest)) = (col::<Option<Id>>(&bounds, 0)?, col::<Option<Id>>(&bounds, 1)?) {
        let want = RANKED_MATCHES + 1;
        let mut windows = crate::domain::search::IdWindows::new(lowest, highest);
        while let Some((from, below)) = windows.next(titles.len() as i64, want) {
            let mut p = refs(&args);
            p.push(&below);
            p.push(&from);
            let rows = query(c, &title_sql, &p).await?;
            for r in &rows {
                titles.push((col::<Id>(r, 0)?, col::<Id>(r, 1)?, col::<i32>(r, 2)?, col::<f32>(r, 3)? as f64));
            }
            windows.read_down_to(from);
        }
    }
    truncated |= titles.len() as i64 > RANKED_MATCHES;
    titles.truncate(RANKED_MATCHES as usize);
    candidates.extend(titles);
    if truncated {
        for c in &mut candidates {
            c.3 = 0.0;
        }
    }
    let ranked = best_per_document(candidates);
    let total = ranked.len() as i64;
    let hits: Vec<_> = ranked.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
    let rids: Vec<Id> = hits.iter().map(|r| r.0).filter(|r| *r > 0).collect();
    // Snippets only for the page of results shown, cut in Rust from the stored text (the same
    // code on both backends; ts_headline would re-parse every page's whole text).
    let mut snippets: HashMap<Id, String> = HashMap::new();
    if !rids.is_empty() {
        for r in &query(c, "SELECT id, text FROM pages WHERE id = ANY($1)", &[&rids]).await? {
            let body: String = col(r, 1)?;
            snippets.insert(col(r, 0)?, crate::domain::search::snippet(&body, q));
        }
    }
    // The documents of the page shown, in one query.
    let doc_ids: Vec<Id> = hits.iter().map(|r| r.1).collect();
    let docs =
        load_docs(c, &format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.id = ANY($1) AND d.owner_id = $2"), &[&doc_ids, &owner]).await?;
    let mut docs: HashMap<Id, Document> = docs.into_iter().map(|d| (d.id, d)).collect();
    let mut items = Vec::with_capacity(hits.len());
    for (rid, doc_id, pno, rank) in hits {
        let Some(document) = docs.remove(&doc_id) else { continue };
        let snippet = match snippets.remove(&rid) {
            Some(s) => s,
            None if rid < 0 => crate::domain::search::snippet(&document.title, q),
            None => String::new(),
        };
        items.push(SearchHit {
            document,
            page_number: if pno > 0 { Some(pno) } else { None },
            snippet: crate::domain::snippet_html(&snippet),
            rank,
        });
    }
    Ok(Paged { truncated, items, total, page: page.page, page_size: page.page_size })
}
