//! `Store` for SQLite.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{MIGRATIONS, SqliteStore, WriteTx, emit, is_unique_violation};
use crate::db::like_escape;
use crate::domain::bulk;
use crate::domain::events::*;
use crate::domain::jobs::{ClaimedJob, FailOutcome, JobSpec, JobState, JobView, Lease, NewJob, backoff_millis};
use crate::domain::metadata::{self, DocumentMeta, DocumentPatch, FieldValue, LabelKind, LabelRef};
use crate::domain::page_text::PageText;
use crate::domain::search::{Candidate, FILTER_COUNT_CAP, RANKED_MATCHES, SearchQuery, Term, best_per_document};
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
        version: version_from(row, 15)?,
        meta: DocumentMeta {
            correspondent: row.get::<_, Option<Id>>(10)?.map(LabelRef::unresolved),
            document_type: row.get::<_, Option<Id>>(11)?.map(LabelRef::unresolved),
            date: row.get::<_, Option<String>>(12)?.as_deref().and_then(metadata::parse_date),
            date_source: row.get(13)?,
            asn: row.get(14)?,
            fields: Vec::new(),
            note_count: 0,
            path_template: row.get::<_, Option<Id>>(29)?.map(LabelRef::unresolved),
        },
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
    let (width, height, text, source): (f64, f64, String, String) = (row.get(2)?, row.get(3)?, row.get(4)?, row.get(6)?);
    let layout = PageText::from_stored(&row.get::<_, String>(5)?, &text, &source, width, height);
    Ok(Page {
        version_id: row.get(0)?,
        number: row.get(1)?,
        width,
        height,
        text,
        source,
        layout,
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

/// Fills in the tags, label names, field values and note counts of each document (one query
/// each for the whole batch).
fn attach_tags(conn: &Connection, docs: &mut [Document]) -> DomainResult<()> {
    attach_tag_rows(conn, docs)?;
    attach_meta(conn, docs)
}

fn attach_meta(conn: &Connection, docs: &mut [Document]) -> DomainResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    for kind in [LabelKind::Correspondent, LabelKind::DocumentType] {
        let ids: Vec<Id> = docs.iter().filter_map(|d| d.meta.label(kind).map(|l| l.id)).collect::<HashSet<_>>().into_iter().collect();
        if ids.is_empty() {
            continue;
        }
        let sql = format!("SELECT id, name, color FROM {} WHERE id IN ({})", kind.table(), placeholders(ids.len(), 1));
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(ids.iter()), |r| Ok(LabelRef { id: r.get(0)?, name: r.get(1)?, color: r.get(2)? }))?;
        let found: HashMap<Id, LabelRef> = rows.map(|r| r.map(|l| (l.id, l))).collect::<Result<_, _>>()?;
        for d in docs.iter_mut() {
            d.meta.resolve(kind, &found);
        }
    }
    let ids: Vec<Id> =
        docs.iter().filter_map(|d| d.meta.path_template.as_ref().map(|l| l.id)).collect::<HashSet<_>>().into_iter().collect();
    if !ids.is_empty() {
        let sql = format!("SELECT id, name FROM path_templates WHERE id IN ({})", placeholders(ids.len(), 1));
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(ids.iter()), |r| Ok(LabelRef { id: r.get(0)?, name: r.get(1)?, color: None }))?;
        let found: HashMap<Id, LabelRef> = rows.map(|r| r.map(|l| (l.id, l))).collect::<Result<_, _>>()?;
        for d in docs.iter_mut() {
            d.meta.resolve_path_template(&found);
        }
    }
    let ids: Vec<Id> = docs.iter().map(|d| d.id).collect();
    let sql = format!(
        "SELECT df.document_id, f.id, f.name, f.kind, df.value FROM document_fields df JOIN custom_fields f ON f.id = df.field_id \
         WHERE df.document_id IN ({}) ORDER BY f.name COLLATE NOCASE, f.id",
        placeholders(ids.len(), 1)
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(ids.iter()), |r| {
        Ok((r.get::<_, Id>(0)?, r.get::<_, Id>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?))
    })?;
    let mut fields: HashMap<Id, Vec<FieldValue>> = HashMap::new();
    for row in rows {
        let (doc, field_id, name, kind, value) = row?;
        fields.entry(doc).or_default().push(metadata::stored_field(field_id, name, &kind, value.as_deref()));
    }
    let sql = format!("SELECT document_id, COUNT(*) FROM notes WHERE document_id IN ({}) GROUP BY document_id", placeholders(ids.len(), 1));
    let mut st = conn.prepare(&sql)?;
    let notes: HashMap<Id, i64> =
        st.query_map(params_from_iter(ids.iter()), |r| Ok((r.get::<_, Id>(0)?, r.get::<_, i64>(1)?)))?.collect::<Result<_, _>>()?;
    for d in docs.iter_mut() {
        d.meta.fields = fields.remove(&d.id).unwrap_or_default();
        d.meta.note_count = notes.get(&d.id).copied().unwrap_or(0);
    }
    Ok(())
}

fn attach_tag_rows(conn: &Connection, docs: &mut [Document]) -> DomainResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Id> = docs.iter().map(|d| d.id).collect();
    let sql = format!(
        "SELECT dt.document_id, t.id, t.owner_id, t.name, t.color FROM document_tags dt JOIN tags t ON t.id = dt.tag_id \
         WHERE dt.document_id IN ({}) ORDER BY t.name",
        placeholders(ids.len(), 1)
    );
    let mut st = conn.prepare(&sql)?;
    let mut by_doc: HashMap<Id, Vec<Tag>> = HashMap::new();
    let rows = st.query_map(params_from_iter(ids.iter()), |r| {
        Ok((r.get::<_, Id>(0)?, Tag { id: r.get(1)?, owner_id: r.get(2)?, name: r.get(3)?, color: r.get(4)?, document_count: 0 }))
    })?;
    for row in rows {
        let (doc, tag) = row?;
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
        .and_then(|mut st| st.query_row(params![id, owner], document_from).optional())?
        .ok_or_else(|| DomainError::not_found(format!("document {id}")))?;
    let mut docs = vec![doc];
    attach_tags(conn, &mut docs)?;
    Ok(docs.pop().expect("one document"))
}

fn load_folder(conn: &Connection, owner: Id, id: Id) -> DomainResult<Folder> {
    conn.prepare_cached(&format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1 AND owner_id = ?2"))
        .and_then(|mut st| st.query_row(params![id, owner], folder_from).optional())?
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
            .and_then(|mut st| st.query_row(params![t, owner], |r| r.get(0)).optional())?;
        if found.is_none() {
            return Err(DomainError::not_found(format!("tag {t}")));
        }
    }
    Ok(())
}

/// Ids of the folder and all folders below it.
fn subtree(conn: &Connection, id: Id) -> DomainResult<Vec<Id>> {
    let mut st = conn.prepare_cached(
        "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT f.id FROM folders f JOIN sub ON f.parent_id = sub.id) SELECT id FROM sub",
    )?;
    let ids = st.query_map(params![id], |r| r.get(0))?.collect::<Result<Vec<Id>, _>>()?;
    Ok(ids)
}

/// A document's title and notes, as search finds them (one index row per document).
fn title_index_update(tx: &WriteTx<'_>, doc_id: Id, title: &str) -> DomainResult<()> {
    let notes: Vec<String> = tx
        .prepare_cached("SELECT body FROM notes WHERE document_id = ?1 ORDER BY id")?
        .query_map(params![doc_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let body = metadata::searchable_title(title, &notes);
    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![-doc_id])?;
    tx.execute("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, 0)", params![-doc_id, body, doc_id])?;
    Ok(())
}

/// Records a history entry in the transaction that made the change.
fn write_history(tx: &WriteTx<'_>, h: &metadata::NewHistory) -> DomainResult<()> {
    tx.prepare_cached("INSERT INTO document_history (document_id, actor_id, action, changes, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![h.document_id, h.actor_id, h.action, h.changes.to_string(), now_millis()])?;
    Ok(())
}

/// Removes a document's rows (cascade) and its index entries; returns candidate blob hashes.
fn purge_doc_rows(tx: &WriteTx<'_>, doc_id: Id) -> DomainResult<Vec<String>> {
    let mut blobs = Vec::new();
    {
        let mut st = tx.prepare_cached("SELECT v.sha256, v.searchable_sha256 FROM versions v WHERE v.document_id = ?1")?;
        let rows = st.query_map(params![doc_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
        for r in rows {
            let (a, b) = r?;
            blobs.push(a);
            blobs.extend(b);
        }
        let mut st = tx
            .prepare_cached(
                "SELECT p.thumbnail_sha256, p.preview_sha256, p.id FROM pages p JOIN versions v ON v.id = p.version_id WHERE v.document_id = ?1",
            )
            ?;
        let rows =
            st.query_map(params![doc_id], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Id>(2)?)))?;
        let mut page_ids = Vec::new();
        for r in rows {
            let (a, b, id) = r?;
            blobs.extend(a);
            blobs.extend(b);
            page_ids.push(id);
        }
        for pid in page_ids {
            tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![pid])?;
        }
    }
    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![-doc_id])?;
    tx.execute("UPDATE documents SET current_version_id = NULL WHERE id = ?1", params![doc_id])?;
    tx.execute("DELETE FROM documents WHERE id = ?1", params![doc_id])?;
    Ok(blobs)
}

/// Of the candidate hashes, those no remaining row refers to.
fn unreferenced(tx: &WriteTx<'_>, candidates: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for sha in candidates {
        if !seen.insert(sha.clone()) {
            continue;
        }
        let used: bool = tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE sha256 = ?1) OR EXISTS(SELECT 1 FROM versions WHERE searchable_sha256 = ?1) \
                 OR EXISTS(SELECT 1 FROM pages WHERE thumbnail_sha256 = ?1) OR EXISTS(SELECT 1 FROM pages WHERE preview_sha256 = ?1)",
            )
            .and_then(|mut st| st.query_row(params![sha], |r| r.get(0)))?;
        if !used {
            out.push(sha);
        }
    }
    Ok(out)
}

/// Queues the sweep of the files a purge freed (in the purge's transaction); returns them.
fn write_purged(tx: &WriteTx<'_>, purged: lifecycle::Purged) -> DomainResult<()> {
    for ev in &purged.events {
        tx.emit(ev)?;
    }
    if let Some(sweep) = &purged.sweep {
        insert_job(tx, sweep, now_millis())?;
    }
    Ok(())
}

fn insert_job(tx: &WriteTx<'_>, job: &NewJob, now: Millis) -> DomainResult<Option<Id>> {
    let res = tx
        .prepare_cached(
            "INSERT INTO jobs (kind, payload, priority, run_after, max_attempts, unique_key, timeout_secs, document_id, owner_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )
        .and_then(|mut st| {
            st.insert(params![
                job.spec.kind(),
                job.spec.payload().to_string(),
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
        Ok(id) => {
            tx.jobs_changed();
            Ok(Some(id))
        }
        Err(e) if is_unique_violation(&e) && job.unique_key.is_some() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Fenced completion inside a transaction.
fn complete_in(tx: &WriteTx<'_>, lease: &Lease, now: Millis) -> DomainResult<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = ?4 \
             WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
        )
        .and_then(|mut st| st.execute(params![lease.job_id, lease.worker_id, lease.seq, now]))?;
    Ok(n == 1)
}

fn doc_owner_of_version(tx: &Connection, version_id: Id) -> DomainResult<(Id, Id)> {
    tx.prepare_cached("SELECT d.id, d.owner_id FROM versions v JOIN documents d ON d.id = v.document_id WHERE v.id = ?1")
        .and_then(|mut st| st.query_row(params![version_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())?
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
        ?;
    let tags = st.query_map(params![folder_id], tag_from)?.collect::<Result<Vec<_>, _>>()?;
    Ok(tags)
}

/// The `ORDER BY` of a document list (and of a search that only filters).
fn doc_order(sort: DocSort) -> &'static str {
    match sort {
        DocSort::CreatedDesc => "d.created_at DESC, d.id DESC",
        DocSort::CreatedAsc => "d.created_at ASC, d.id ASC",
        DocSort::TitleAsc => "d.title COLLATE NOCASE ASC, d.id ASC",
        DocSort::TitleDesc => "d.title COLLATE NOCASE DESC, d.id DESC",
        DocSort::DateDesc => "d.document_date IS NULL ASC, d.document_date DESC, d.created_at DESC, d.id DESC",
        DocSort::DateAsc => "d.document_date IS NULL ASC, d.document_date ASC, d.created_at ASC, d.id ASC",
        DocSort::AsnAsc => "d.asn IS NULL ASC, d.asn ASC, d.id ASC",
        DocSort::AsnDesc => "d.asn IS NULL ASC, d.asn DESC, d.id DESC",
    }
}

/// Marks the owner's live documents with a path template that satisfy `cond` (SQL over
/// `documents d`; `?2` is `arg`) as waiting to be placed, and queues the owner's placement job
/// (#23). A document marked again before it was placed gets a new stamp, so the job that read
/// the old one leaves it for the next job.
/// Queues the owner's workflows of `trigger` on the document when the owner has any enabled
/// (#23). Whether it did.
fn workflows_due(tx: &WriteTx<'_>, owner: Id, doc: Id, trigger: &str) -> DomainResult<bool> {
    let any: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM workflows WHERE owner_id = ?1 AND trigger = ?2 AND enabled = 1)")?
        .query_row(params![owner, trigger], |r| r.get(0))?;
    if any {
        insert_job(tx, &NewJob::run_workflows(owner, doc, trigger, None), now_millis())?;
    }
    Ok(any)
}

fn placements_due(tx: &WriteTx<'_>, owner: Id, cond: &str, arg: Id) -> DomainResult<usize> {
    let n = tx
        .prepare_cached(&format!(
            "INSERT INTO placements_due (document_id, owner_id, stamp) SELECT d.id, d.owner_id, 0 FROM documents d \
         WHERE d.owner_id = ?1 AND d.path_template_id IS NOT NULL AND d.trashed_at IS NULL AND ({cond}) \
         ON CONFLICT (document_id) DO UPDATE SET stamp = placements_due.stamp + 1"
        ))?
        .execute(params![owner, arg])?;
    if n > 0 {
        insert_job(tx, &NewJob::place_documents(owner), now_millis())?;
    }
    Ok(n)
}
