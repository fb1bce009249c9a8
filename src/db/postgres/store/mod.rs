//! `Store` for PostgreSQL. Same semantics as `db::sqlite::store`; SQL differences:
//! `COLLATE NOCASE` → `lower(…)`, `LIKE` → `ILIKE`, `INSERT OR IGNORE` → `ON CONFLICT DO NOTHING`,
//! FTS5 → `tsvector` + GIN. A statement that fails aborts a PostgreSQL transaction, so the
//! expected unique violations are avoided with `ON CONFLICT` or end the transaction with a Conflict.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, Tx, col, conflict_or_db, exec, query, query_one, query_opt, try_exec, try_query_one};
use crate::db::like_escape;
use crate::domain::bulk;
use crate::domain::events::*;
use crate::domain::jobs::{ClaimedJob, FailOutcome, JobSpec, JobState, JobView, Lease, NewJob, backoff_millis};
use crate::domain::metadata::{self, DocumentMeta, DocumentPatch, FieldValue, LabelKind, LabelRef};
use crate::domain::page_text::PageText;
use crate::domain::search::{Candidate, FILTER_COUNT_CAP, RANKED_MATCHES, SearchQuery, Term, best_per_document, words_of};
use crate::domain::store::*;
use crate::domain::*;

#[cfg(feature = "bench")]
mod bench;
mod classifier;
mod documents;
mod events;
mod folders;
mod jobs;
mod llm;
mod matching;
mod metadata_store;
mod ops;
mod pages;
mod placement;
mod processing;
mod search;
mod tags;
mod users;
mod workflows;

const DOC_COLS: &str = "d.id, d.owner_id, d.folder_id, d.title, d.state, d.error, d.duplicate_of, d.created_at, d.updated_at, d.trashed_at, \
     d.correspondent_id, d.document_type_id, d.document_date, d.date_source, d.asn, \
     v.id, v.document_id, v.number, v.filename, v.mime, v.size, v.sha256, v.state, v.error, v.page_count, v.pages_done, v.searchable_sha256, v.note, v.created_at, \
     d.path_template_id";
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
        version: version_from(r, 15)?,
        meta: DocumentMeta {
            correspondent: col::<Option<Id>>(r, 10)?.map(LabelRef::unresolved),
            document_type: col::<Option<Id>>(r, 11)?.map(LabelRef::unresolved),
            date: col::<Option<String>>(r, 12)?.as_deref().and_then(metadata::parse_date),
            date_source: col(r, 13)?,
            asn: col(r, 14)?,
            fields: Vec::new(),
            note_count: 0,
            path_template: col::<Option<Id>>(r, 29)?.map(LabelRef::unresolved),
        },
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
    let (width, height, text, source): (f64, f64, String, String) = (col(r, 2)?, col(r, 3)?, col(r, 4)?, col(r, 6)?);
    let layout = PageText::from_stored(&col::<String>(r, 5)?, &text, &source, width, height);
    Ok(Page {
        version_id: col(r, 0)?,
        number: col(r, 1)?,
        width,
        height,
        text,
        source,
        layout,
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

/// Fills in the tags, label names, field values and note counts of each document (one query
/// each for the whole batch).
async fn attach_tags<C: GenericClient>(c: &C, docs: &mut [Document]) -> DomainResult<()> {
    attach_tag_rows(c, docs).await?;
    attach_meta(c, docs).await
}

async fn attach_meta<C: GenericClient>(c: &C, docs: &mut [Document]) -> DomainResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    for kind in [LabelKind::Correspondent, LabelKind::DocumentType] {
        let ids: Vec<Id> = docs.iter().filter_map(|d| d.meta.label(kind).map(|l| l.id)).collect::<HashSet<_>>().into_iter().collect();
        if ids.is_empty() {
            continue;
        }
        let rows = query(c, &format!("SELECT id, name, color FROM {} WHERE id = ANY($1)", kind.table()), &[&ids]).await?;
        let mut found = HashMap::new();
        for r in &rows {
            let l = LabelRef { id: col(r, 0)?, name: col(r, 1)?, color: col(r, 2)? };
            found.insert(l.id, l);
        }
        for d in docs.iter_mut() {
            d.meta.resolve(kind, &found);
        }
    }
    let ids: Vec<Id> =
        docs.iter().filter_map(|d| d.meta.path_template.as_ref().map(|l| l.id)).collect::<HashSet<_>>().into_iter().collect();
    if !ids.is_empty() {
        let rows = query(c, "SELECT id, name FROM path_templates WHERE id = ANY($1)", &[&ids]).await?;
        let mut found = HashMap::new();
        for r in &rows {
            let l = LabelRef { id: col(r, 0)?, name: col(r, 1)?, color: None };
            found.insert(l.id, l);
        }
        for d in docs.iter_mut() {
            d.meta.resolve_path_template(&found);
        }
    }
    let ids: Vec<Id> = docs.iter().map(|d| d.id).collect();
    let rows = query(
        c,
        "SELECT df.document_id, f.id, f.name, f.kind, df.value FROM document_fields df JOIN custom_fields f ON f.id = df.field_id \
         WHERE df.document_id = ANY($1) ORDER BY lower(f.name), f.id",
        &[&ids],
    )
    .await?;
    let mut fields: HashMap<Id, Vec<FieldValue>> = HashMap::new();
    for r in &rows {
        let value: Option<String> = col(r, 4)?;
        fields.entry(col(r, 0)?).or_default().push(metadata::stored_field(col(r, 1)?, col(r, 2)?, &col::<String>(r, 3)?, value.as_deref()));
    }
    let rows = query(c, "SELECT document_id, COUNT(*) FROM notes WHERE document_id = ANY($1) GROUP BY document_id", &[&ids]).await?;
    let mut notes: HashMap<Id, i64> = HashMap::new();
    for r in &rows {
        notes.insert(col(r, 0)?, col(r, 1)?);
    }
    for d in docs.iter_mut() {
        d.meta.fields = fields.remove(&d.id).unwrap_or_default();
        d.meta.note_count = notes.get(&d.id).copied().unwrap_or(0);
    }
    Ok(())
}

async fn attach_tag_rows<C: GenericClient>(c: &C, docs: &mut [Document]) -> DomainResult<()> {
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
/// With the document's notes: search finds a document by words of its notes too.
pub(super) async fn title_index_update<C: GenericClient>(c: &C, doc_id: Id, title: &str) -> DomainResult<()> {
    let notes: Vec<String> = query(c, "SELECT body FROM notes WHERE document_id = $1 ORDER BY id", &[&doc_id])
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_, _>>()?;
    let body = metadata::searchable_title(title, &notes);
    exec(c, "UPDATE documents SET title_tsv = to_tsvector('simple', $2) WHERE id = $1", &[&doc_id, &index_words(&body)]).await?;
    Ok(())
}

/// Records a history entry in the transaction that made the change.
async fn write_history<C: GenericClient>(c: &C, h: &metadata::NewHistory) -> DomainResult<()> {
    exec(
        c,
        "INSERT INTO document_history (document_id, actor_id, action, changes, at) VALUES ($1, $2, $3, $4, $5)",
        &[&h.document_id, &h.actor_id, &h.action, &h.changes.to_string(), &now_millis()],
    )
    .await?;
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

/// Queues the sweep of the files a purge freed (in the purge's transaction); returns them.
/// Adds the search index rows of a version's pages (the caller dropped any older ones).
async fn index_version_pages(tx: &Tx<'_>, doc: Id, version_id: Id) -> DomainResult<()> {
    let pages = query(tx, "SELECT id, number, text FROM pages WHERE version_id = $1 AND text <> ''", &[&version_id]).await?;
    let (mut pids, mut nums, mut words) = (Vec::new(), Vec::new(), Vec::new());
    for p in &pages {
        pids.push(col::<Id>(p, 0)?);
        nums.push(col::<i32>(p, 1)?);
        words.push(index_words(&col::<String>(p, 2)?));
    }
    exec(
        tx,
        "INSERT INTO search_index (rowid, document_id, page_number, tsv) \
         SELECT u.pid, $1, u.pno, to_tsvector('simple', u.words) \
         FROM UNNEST($2::bigint[], $3::int[], $4::text[]) AS u(pid, pno, words)",
        &[&doc, &pids, &nums, &words],
    )
    .await?;
    Ok(())
}

/// Writes what a purge leaves behind (events, the sweep job) and commits.
async fn write_purged(tx: Tx<'_>, purged: lifecycle::Purged) -> DomainResult<()> {
    if let Some(sweep) = &purged.sweep {
        insert_job(&tx, sweep, now_millis()).await?;
    }
    PgStore::commit(tx, &purged.events, purged.sweep.is_some()).await
}

async fn insert_job<C: GenericClient>(c: &C, job: &NewJob, now: Millis) -> DomainResult<Option<Id>> {
    let row = query_opt(
        c,
        "INSERT INTO jobs (kind, payload, priority, run_after, max_attempts, unique_key, timeout_secs, document_id, owner_id, created_at, updated_at) \
         VALUES ($1, $2::text::jsonb, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING RETURNING id",
        &[
            &job.spec.kind(),
            &job.spec.payload().to_string(),
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
        client.transaction().await.map_err(DomainError::from)
    }
}

/// The `ORDER BY` of a document list (and of a search that only filters).
fn doc_order(sort: DocSort) -> &'static str {
    match sort {
        DocSort::CreatedDesc => "d.created_at DESC, d.id DESC",
        DocSort::CreatedAsc => "d.created_at ASC, d.id ASC",
        DocSort::TitleAsc => "lower(d.title) ASC, d.id ASC",
        DocSort::TitleDesc => "lower(d.title) DESC, d.id DESC",
        DocSort::DateDesc => "d.document_date IS NULL ASC, d.document_date DESC, d.created_at DESC, d.id DESC",
        DocSort::DateAsc => "d.document_date IS NULL ASC, d.document_date ASC, d.created_at ASC, d.id ASC",
        DocSort::AsnAsc => "d.asn IS NULL ASC, d.asn ASC, d.id ASC",
        DocSort::AsnDesc => "d.asn IS NULL ASC, d.asn DESC, d.id DESC",
    }
}

/// Marks the owner's live documents with a path template that satisfy `cond` (SQL over
/// `documents d`; `$2` is `arg`) as waiting to be placed, and queues the owner's placement job
/// (#23). A document marked again before it was placed gets a new stamp, so the job that read
/// the old one leaves it for the next job.
/// Queues the owner's workflows of `trigger` on the document when the owner has any enabled
/// (#23), waking the workers. Whether it did.
async fn workflows_due<C: GenericClient>(c: &C, owner: Id, doc: Id, trigger: &str) -> DomainResult<bool> {
    let any: bool = col(
        &query_one(c, "SELECT EXISTS (SELECT 1 FROM workflows WHERE owner_id = $1 AND trigger = $2 AND enabled)", &[&owner, &trigger])
            .await?,
        0,
    )?;
    if any && insert_job(c, &NewJob::run_workflows(owner, doc, trigger, None), now_millis()).await?.is_some() {
        exec(c, "SELECT pg_notify($1, '')", &[&super::JOBS_CHANNEL]).await?;
    }
    Ok(any)
}

async fn placements_due<C: GenericClient>(c: &C, owner: Id, cond: &str, arg: Id) -> DomainResult<u64> {
    let n = exec(
        c,
        &format!(
            "INSERT INTO placements_due (document_id, owner_id, stamp) SELECT d.id, d.owner_id, 0 FROM documents d \
             WHERE d.owner_id = $1 AND d.path_template_id IS NOT NULL AND d.trashed_at IS NULL AND ({cond}) \
             ON CONFLICT (document_id) DO UPDATE SET stamp = placements_due.stamp + 1"
        ),
        &[&owner, &arg],
    )
    .await?;
    if n > 0 && insert_job(c, &NewJob::place_documents(owner), now_millis()).await?.is_some() {
        exec(c, "SELECT pg_notify($1, '')", &[&super::JOBS_CHANNEL]).await?;
    }
    Ok(n)
}
