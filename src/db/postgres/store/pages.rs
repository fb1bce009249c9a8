//! Page operations on PostgreSQL: the documents of an edit are locked (`FOR UPDATE`, in id
//! order so two edits cannot deadlock) and checked against the versions the client saw, then
//! everything is written in the same transaction. Search rows of copied pages take the stored
//! `tsvector` of the page they were copied from; only pages without one are analysed again.

use super::*;
use crate::domain::pages::{NewPage, PageEdit, PageEditOutcome, VersionFile, check_editable};

async fn lock_and_check(tx: &Tx<'_>, edit: &PageEdit) -> DomainResult<()> {
    let checked = edit.checked_documents();
    let doc_ids: Vec<Id> = checked.iter().map(|(d, _)| *d).collect();
    let rows = query(
        tx,
        "SELECT id, current_version_id, trashed_at, state FROM documents WHERE id = ANY($1) AND owner_id = $2 ORDER BY id FOR UPDATE",
        &[&doc_ids, &edit.owner],
    )
    .await?;
    let mut found: HashMap<Id, (Option<Id>, Option<Millis>, String)> = HashMap::new();
    for r in &rows {
        found.insert(col(r, 0)?, (col(r, 1)?, col(r, 2)?, col(r, 3)?));
    }
    for (doc, seen) in checked {
        let (current, trashed, state) = found.remove(&doc).ok_or_else(|| DomainError::not_found(format!("document {doc}")))?;
        check_editable(doc, seen, current, trashed.is_some(), &state)?;
    }
    Ok(())
}

async fn insert_version(tx: &Tx<'_>, doc: Id, file: &VersionFile, note: &str, pages: usize, now: Millis) -> DomainResult<Id> {
    let n = pages as i32;
    col(
        &query_one(
            tx,
            "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, page_count, pages_done, searchable_sha256, note, created_at) \
             SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, 'ready', $6, $6, $7, $8, $9 FROM versions WHERE document_id = $1 RETURNING id",
            &[&doc, &file.filename, &file.mime, &file.size, &file.sha256, &n, &file.searchable_sha256, &note, &now],
        )
        .await?,
        0,
    )
}

async fn insert_pages(tx: &Tx<'_>, doc: Id, version_id: Id, pages: &[NewPage]) -> DomainResult<()> {
    let mut a = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut from_v, mut from_n, mut words) = (Vec::new(), Vec::new(), Vec::new());
    for p in pages {
        let r = &p.record;
        a.0.push(r.number);
        a.1.push(r.width);
        a.2.push(r.height);
        a.3.push(r.text().to_string());
        a.4.push(r.layout_json());
        a.5.push(r.source().to_string());
        a.6.push(r.thumbnail_sha256.clone());
        a.7.push(r.preview_sha256.clone());
        from_v.push(p.from_version);
        from_n.push(p.from_number);
        words.push(index_words(r.text()));
    }
    let rows = query(
        tx,
        "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
         SELECT $1, u.n, u.w, u.h, u.t, u.l, u.s, u.th, u.pr \
         FROM UNNEST($2::int[], $3::float8[], $4::float8[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u(n, w, h, t, l, s, th, pr) \
         RETURNING id, number",
        &[&version_id, &a.0, &a.1, &a.2, &a.3, &a.4, &a.5, &a.6, &a.7],
    )
    .await?;
    let mut pid_of: HashMap<i32, Id> = HashMap::new();
    for r in &rows {
        pid_of.insert(col(r, 1)?, col(r, 0)?);
    }
    let pids: Vec<Id> = a.0.iter().map(|n| pid_of.get(n).copied().unwrap_or(0)).collect();
    // COALESCE evaluates to_tsvector only where the source page has no index row to copy.
    exec(
        tx,
        "INSERT INTO search_index (rowid, document_id, page_number, tsv) \
         SELECT u.pid, $1, u.pno, COALESCE(s.tsv, to_tsvector('simple', u.words)) \
         FROM UNNEST($2::bigint[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::int[]) AS u(pid, pno, body, words, fv, fno) \
         LEFT JOIN pages op ON op.version_id = u.fv AND op.number = u.fno \
         LEFT JOIN search_index s ON s.rowid = op.id \
         WHERE u.body <> ''",
        &[&doc, &pids, &a.0, &a.3, &words, &from_v, &from_n],
    )
    .await?;
    Ok(())
}

async fn queue_rotations(tx: &Tx<'_>, edit: &PageEdit, doc: Id, version_id: Id, pages: &[NewPage], now: Millis) -> DomainResult<bool> {
    match edit.rotation_job(doc, version_id, pages) {
        Some(job) => Ok(insert_job(tx, &job, now).await?.is_some()),
        None => Ok(false),
    }
}

/// Returns the outcome, the events to record and whether jobs were queued.
pub(super) async fn apply(tx: &Tx<'_>, edit: &PageEdit) -> DomainResult<(PageEditOutcome, Vec<NewEvent>, bool)> {
    let owner = edit.owner;
    let now = now_millis();
    lock_and_check(tx, edit).await?;
    let (mut out, mut events, mut jobs) = (PageEditOutcome::default(), Vec::new(), false);
    for e in &edit.edits {
        let vid = insert_version(tx, e.document_id, &e.file, &e.note, e.pages.len(), now).await?;
        insert_pages(tx, e.document_id, vid, &e.pages).await?;
        exec(tx, "UPDATE documents SET current_version_id = $2, updated_at = $3 WHERE id = $1", &[&e.document_id, &vid, &now]).await?;
        jobs |= queue_rotations(tx, edit, e.document_id, vid, &e.pages, now).await?;
        events.push(edit.updated_event(e.document_id, vid, e.pages.len()));
        out.versions.push((e.document_id, vid));
    }
    if let Some(c) = &edit.create {
        live_folder(tx, owner, c.folder_id).await?;
        let doc: Id = col(
            &query_one(
                tx,
                "INSERT INTO documents (owner_id, folder_id, title, state, sha256, created_at, updated_at) VALUES ($1, $2, $3, 'ready', $4, $5, $5) RETURNING id",
                &[&owner, &c.folder_id, &c.title, &c.file.sha256, &now],
            )
            .await?,
            0,
        )?;
        let vid = insert_version(tx, doc, &c.file, &c.note, c.pages.len(), now).await?;
        insert_pages(tx, doc, vid, &c.pages).await?;
        exec(tx, "UPDATE documents SET current_version_id = $2 WHERE id = $1", &[&doc, &vid]).await?;
        if let Some(from) = c.tags_from {
            exec(
                tx,
                "INSERT INTO document_tags (document_id, tag_id) SELECT $1, tag_id FROM document_tags WHERE document_id = $2 ON CONFLICT DO NOTHING",
                &[&doc, &from],
            )
            .await?;
        }
        title_index_update(tx, doc, &c.title).await?;
        jobs |= queue_rotations(tx, edit, doc, vid, &c.pages, now).await?;
        events.push(edit.created_event(doc, c));
        out.created = Some(doc);
    }
    // Only now: the new rows above copied their index entries from these.
    for e in &edit.edits {
        exec(tx, "DELETE FROM search_index WHERE rowid IN (SELECT id FROM pages WHERE version_id = $1)", &[&e.base_version_id]).await?;
    }
    for (doc, _) in &edit.trash {
        let folder: Id = col(
            &query_one(tx, "UPDATE documents SET trashed_at = $2, updated_at = $2 WHERE id = $1 RETURNING folder_id", &[doc, &now]).await?,
            0,
        )?;
        events.push(edit.trashed_event(*doc, folder));
    }
    Ok((out, events, jobs))
}

pub(super) async fn set_page_images(tx: &Tx<'_>, version_id: Id, pages: &[(i32, String, String)]) -> DomainResult<Vec<NewEvent>> {
    let (doc, owner) = doc_owner_of_version(tx, version_id).await?;
    for (number, thumb, preview) in pages {
        exec(
            tx,
            "UPDATE pages SET thumbnail_sha256 = $3, preview_sha256 = $4 WHERE version_id = $1 AND number = $2",
            &[&version_id, number, thumb, preview],
        )
        .await?;
    }
    let current: Option<Id> = col(&query_one(tx, "SELECT current_version_id FROM documents WHERE id = $1", &[&doc]).await?, 0)?;
    let numbers = pages.iter().map(|p| p.0).collect();
    Ok(crate::domain::pages::page_images_event(owner, doc, version_id, current == Some(version_id), numbers).into_iter().collect())
}
