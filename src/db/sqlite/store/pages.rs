//! Page operations on SQLite: the whole edit in the one immediate (write-locked) transaction
//! the caller opened, so a concurrent edit of the same document waits and then sees the new
//! current version (and fails with a Conflict).

use super::*;
use crate::domain::pages::{NewPage, PageEdit, PageEditOutcome, VersionFile, check_editable};

fn check_current(tx: &WriteTx<'_>, owner: Id, doc: Id, seen: Id) -> DomainResult<()> {
    let row: Option<(Option<Id>, Option<Millis>, String)> = tx
        .prepare_cached("SELECT current_version_id, trashed_at, state FROM documents WHERE id = ?1 AND owner_id = ?2")
        .and_then(|mut st| st.query_row(params![doc, owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())?;
    let (current, trashed, state) = row.ok_or_else(|| DomainError::not_found(format!("document {doc}")))?;
    check_editable(doc, seen, current, trashed.is_some(), &state)
}

fn insert_version(tx: &WriteTx<'_>, doc: Id, file: &VersionFile, note: &str, pages: usize, now: Millis) -> DomainResult<Id> {
    tx.execute(
        "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, page_count, pages_done, searchable_sha256, note, created_at) \
         SELECT ?1, COALESCE(MAX(number), 0) + 1, ?2, ?3, ?4, ?5, 'ready', ?6, ?6, ?7, ?8, ?9 FROM versions WHERE document_id = ?1",
        params![doc, file.filename, file.mime, file.size, file.sha256, pages as i64, file.searchable_sha256, note, now],
    )
    ?;
    Ok(tx.last_insert_rowid())
}

/// Inserts the pages of a new version and their search index rows (the text is copied, never
/// recomputed; FTS5 rows are keyed by page id, so each new page row gets its own).
fn insert_pages(tx: &WriteTx<'_>, doc: Id, version_id: Id, pages: &[NewPage]) -> DomainResult<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut index = tx.prepare_cached("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, ?4)")?;
    for p in pages {
        let r = &p.record;
        let pid = st.insert(params![
            version_id,
            r.number,
            r.width,
            r.height,
            r.text(),
            r.layout_json(),
            r.source(),
            r.thumbnail_sha256,
            r.preview_sha256
        ])?;
        if !r.text().is_empty() {
            index.execute(params![pid, r.text(), doc, r.number])?;
        }
    }
    Ok(())
}

/// Drops the search index rows of a version's pages (it is no longer current).
fn unindex_version(tx: &WriteTx<'_>, version_id: Id) -> DomainResult<()> {
    let ids: Vec<Id> = {
        let mut st = tx.prepare_cached("SELECT id FROM pages WHERE version_id = ?1")?;
        st.query_map(params![version_id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?
    };
    let mut del = tx.prepare_cached("DELETE FROM search_index WHERE rowid = ?1")?;
    for id in ids {
        del.execute(params![id])?;
    }
    Ok(())
}

fn queue_rotations(tx: &WriteTx<'_>, edit: &PageEdit, doc: Id, version_id: Id, pages: &[NewPage], now: Millis) -> DomainResult<()> {
    if let Some(job) = edit.rotation_job(doc, version_id, pages) {
        insert_job(tx, &job, now)?;
    }
    Ok(())
}

pub(super) fn apply(tx: &WriteTx<'_>, edit: &PageEdit) -> DomainResult<PageEditOutcome> {
    let owner = edit.owner;
    let now = now_millis();
    for (doc, seen) in edit.checked_documents() {
        check_current(tx, owner, doc, seen)?;
    }
    let mut out = PageEditOutcome::default();
    for e in &edit.edits {
        let vid = insert_version(tx, e.document_id, &e.file, &e.note, e.pages.len(), now)?;
        unindex_version(tx, e.base_version_id)?;
        insert_pages(tx, e.document_id, vid, &e.pages)?;
        tx.execute("UPDATE documents SET current_version_id = ?2, updated_at = ?3 WHERE id = ?1", params![e.document_id, vid, now])?;
        queue_rotations(tx, edit, e.document_id, vid, &e.pages, now)?;
        tx.emit(&edit.updated_event(e.document_id, vid, e.pages.len()))?;
        out.versions.push((e.document_id, vid));
    }
    if let Some(c) = &edit.create {
        live_folder(tx, owner, c.folder_id)?;
        tx.execute(
            "INSERT INTO documents (owner_id, folder_id, title, state, sha256, created_at, updated_at) VALUES (?1, ?2, ?3, 'ready', ?4, ?5, ?5)",
            params![owner, c.folder_id, c.title, c.file.sha256, now],
        )
        ?;
        let doc = tx.last_insert_rowid();
        let vid = insert_version(tx, doc, &c.file, &c.note, c.pages.len(), now)?;
        insert_pages(tx, doc, vid, &c.pages)?;
        tx.execute("UPDATE documents SET current_version_id = ?2 WHERE id = ?1", params![doc, vid])?;
        if let Some(from) = c.tags_from {
            tx.execute(
                "INSERT OR IGNORE INTO document_tags (document_id, tag_id) SELECT ?1, tag_id FROM document_tags WHERE document_id = ?2",
                params![doc, from],
            )?;
        }
        title_index_update(tx, doc, &c.title)?;
        queue_rotations(tx, edit, doc, vid, &c.pages, now)?;
        tx.emit(&edit.created_event(doc, c))?;
        out.created = Some(doc);
    }
    for (doc, _) in &edit.trash {
        let folder: Id = tx.query_row("SELECT folder_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0))?;
        tx.execute("UPDATE documents SET trashed_at = ?2, updated_at = ?2 WHERE id = ?1", params![doc, now])?;
        tx.emit(&edit.trashed_event(*doc, folder))?;
    }
    Ok(out)
}

pub(super) fn set_page_images(tx: &WriteTx<'_>, version_id: Id, pages: &[(i32, String, String)]) -> DomainResult<()> {
    let (doc, owner) = doc_owner_of_version(tx, version_id)?;
    for (number, thumb, preview) in pages {
        tx.execute(
            "UPDATE pages SET thumbnail_sha256 = ?3, preview_sha256 = ?4 WHERE version_id = ?1 AND number = ?2",
            params![version_id, number, thumb, preview],
        )?;
    }
    let current: Option<Id> = tx.query_row("SELECT current_version_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0))?;
    let numbers = pages.iter().map(|p| p.0).collect();
    if let Some(ev) = crate::domain::pages::page_images_event(owner, doc, version_id, current == Some(version_id), numbers) {
        tx.emit(&ev)?;
    }
    Ok(())
}
