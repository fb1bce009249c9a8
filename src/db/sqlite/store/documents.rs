//! Documents, their versions and pages, the trash.

use super::*;

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn create_upload(&self, up: NewUpload) -> DomainResult<UploadOutcome> {
        let out = self
            .write(move |tx| {
                live_folder(tx, up.owner_id, up.folder_id)?;
                let now = now_millis();
                let earlier = tx
                    .query_row(
                        "SELECT d.id, (SELECT v.id FROM versions v JOIN documents o ON o.id = v.document_id \
                           WHERE v.sha256 = ?2 AND v.state = 'ready' AND v.page_count > 0 AND o.owner_id = ?1 ORDER BY v.id LIMIT 1) \
                         FROM documents d WHERE d.owner_id = ?1 AND d.sha256 = ?2 ORDER BY d.id LIMIT 1",
                        params![up.owner_id, up.sha256],
                        |r| Ok(lifecycle::EarlierCopy { document_id: r.get(0)?, ready_version: r.get(1)? }),
                    )
                    .optional()?;
                let admission = lifecycle::admit_upload(up.reject_duplicates, earlier)?;
                let duplicate_of = admission.duplicate_of;
                tx.execute(
                    "INSERT INTO documents (owner_id, folder_id, title, state, sha256, duplicate_of, created_at, updated_at, source) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6, ?7)",
                    params![up.owner_id, up.folder_id, up.title, up.sha256, duplicate_of, now, up.source.map(|s| s.as_str())],
                )
                ?;
                let doc_id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, created_at, note) VALUES (?1, 1, ?2, ?3, ?4, ?5, 'queued', ?6, 'uploaded')",
                    params![doc_id, up.filename, up.mime, up.size, up.sha256, now],
                )
                ?;
                let version_id = tx.last_insert_rowid();
                tx.execute("UPDATE documents SET current_version_id = ?2 WHERE id = ?1", params![doc_id, version_id])?;
                for name in &up.tag_names {
                    tx.execute("INSERT OR IGNORE INTO tags (owner_id, name) VALUES (?1, ?2)", params![up.owner_id, name])?;
                    tx.execute(
                        "INSERT OR IGNORE INTO document_tags (document_id, tag_id) SELECT ?1, id FROM tags WHERE owner_id = ?2 AND name = ?3",
                        params![doc_id, up.owner_id, name],
                    )
                    ?;
                }
                title_index_update(tx, doc_id, &up.title)?;
                let reused = match admission.reuse {
                    Some(source) => Some(take_over_processed(tx, source, doc_id, version_id)?),
                    None => None,
                };
                let fx = lifecycle::uploaded(up.owner_id, up.folder_id, &up.title, (doc_id, version_id), up.max_attempts, reused);
                let job_id = match &fx.process {
                    Some(job) => Some(insert_job(tx, job, now)?.ok_or_else(lifecycle::already_queued)?),
                    None => None,
                };
                for ev in &fx.events {
                    tx.emit(ev)?;
                }
                // Workflows (#23): "added" now; "processed" too when it is ready at once.
                workflows_due(tx, up.owner_id, doc_id, "added")?;
                if reused.is_some() {
                    workflows_due(tx, up.owner_id, doc_id, "processed")?;
                }
                let document = load_document(tx, up.owner_id, doc_id)?;
                Ok(UploadOutcome { document, version_id, job_id })
            })
            .await?;
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
            for (column, wanted) in [("d.correspondent_id", f.correspondent_id), ("d.document_type_id", f.document_type_id)] {
                match wanted {
                    Some(Some(id)) => {
                        args.push(id.into());
                        conds.push(format!("{column} = ?{}", args.len()));
                    }
                    Some(None) => conds.push(format!("{column} IS NULL")),
                    None => {}
                }
            }
            if let Some(from) = f.date_from {
                args.push(from.format("%Y-%m-%d").to_string().into());
                conds.push(format!("d.document_date >= ?{}", args.len()));
            }
            if let Some(to) = f.date_to {
                args.push(to.format("%Y-%m-%d").to_string().into());
                conds.push(format!("d.document_date <= ?{}", args.len()));
            }
            if let Some(asn) = f.asn {
                args.push(asn.into());
                conds.push(format!("d.asn = ?{}", args.len()));
            }
            let order = doc_order(f.sort);
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
            }?;
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
            let mut st = c.prepare_cached(&sql)?;
            let mut docs = st.query_map(params_from_iter(args.iter()), document_from)?.collect::<Result<Vec<_>, _>>()?;
            attach_tags(c, &mut docs)?;
            Ok(Paged { truncated: false, items: docs, total, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn update_document(&self, owner: Id, id: Id, patch: &DocumentPatch) -> DomainResult<Document> {
        let patch = patch.clone();
        self.write(move |tx| {
            let doc = load_document(tx, owner, id)?;
            edit_document(tx, &doc, &patch, (&[], &[]), &metadata::EditedBy::user(owner)).map(|(after, _)| after)
        })
        .await
    }

    async fn change_document_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<Document> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        let out = self
            .write(move |tx| {
                let before = load_document(tx, owner, id)?;
                check_tags_owned(tx, owner, &add)?;
                check_tags_owned(tx, owner, &remove)?;
                for t in &add {
                    tx.execute("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)", params![id, t])?;
                }
                for t in &remove {
                    tx.execute("DELETE FROM document_tags WHERE document_id = ?1 AND tag_id = ?2", params![id, t])?;
                }
                tx.execute("UPDATE documents SET updated_at = ?2 WHERE id = ?1", params![id, now_millis()])?;
                emit(tx, &NewEvent::document(owner, id, EventData::DocumentUpdated(DocumentUpdated::default())))?;
                let after = load_document(tx, owner, id)?;
                if let Some(changes) = metadata::diff(&before, &after) {
                    write_history(
                        tx,
                        &metadata::NewHistory { document_id: id, actor_id: Some(owner), action: metadata::actions::EDITED, changes },
                    )?;
                }
                Ok(after)
            })
            .await?;
        Ok(out)
    }

    async fn change_tags_of_documents(&self, owner: Id, ids: &[Id], add: &[Id], remove: &[Id]) -> DomainResult<usize> {
        let (mut ids, add, remove) = (ids.to_vec(), add.to_vec(), remove.to_vec());
        ids.sort_unstable();
        ids.dedup();
        let out = self
            .write(move |tx| {
                check_tags_owned(tx, owner, &add)?;
                check_tags_owned(tx, owner, &remove)?;
                let names = |set: &[Id]| -> DomainResult<HashMap<Id, String>> {
                    let mut out = HashMap::new();
                    for t in set {
                        out.insert(*t, tx.query_row("SELECT name FROM tags WHERE id = ?1", params![t], |r| r.get(0))?);
                    }
                    Ok(out)
                };
                let (add_names, remove_names) = (names(&add)?, names(&remove)?);
                let now = now_millis();
                for d in &ids {
                    let had: HashSet<Id> = tx
                        .prepare_cached("SELECT tag_id FROM document_tags WHERE document_id = ?1")?
                        .query_map(params![d], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    let added: Vec<&String> = add.iter().filter(|t| !had.contains(t)).filter_map(|t| add_names.get(t)).collect();
                    let removed: Vec<&String> =
                        remove.iter().filter(|t| had.contains(t) && !add.contains(t)).filter_map(|t| remove_names.get(t)).collect();
                    let owned = tx
                        .prepare_cached("UPDATE documents SET updated_at = ?3 WHERE id = ?1 AND owner_id = ?2")
                        .and_then(|mut st| st.execute(params![d, owner, now]))?;
                    if owned == 0 {
                        return Err(DomainError::not_found(format!("document {d}")));
                    }
                    for t in &add {
                        tx.prepare_cached("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)")
                            .and_then(|mut st| st.execute(params![d, t]))?;
                    }
                    for t in &remove {
                        tx.prepare_cached("DELETE FROM document_tags WHERE document_id = ?1 AND tag_id = ?2")
                            .and_then(|mut st| st.execute(params![d, t]))?;
                    }
                    tx.emit(&NewEvent::document(owner, *d, EventData::DocumentUpdated(DocumentUpdated::default())))?;
                    if !added.is_empty() || !removed.is_empty() {
                        let changes = serde_json::json!({"tags": {"added": added, "removed": removed}});
                        write_history(
                            tx,
                            &metadata::NewHistory { document_id: *d, actor_id: Some(owner), action: metadata::actions::EDITED, changes },
                        )?;
                    }
                }
                Ok(ids.len())
            })
            .await?;
        Ok(out)
    }

    async fn trash_document(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let doc = load_document(tx, owner, id)?;
            let Some(trashed) = lifecycle::trash(&doc) else { return Ok(()) };
            tx.execute("UPDATE documents SET trashed_at = ?2, updated_at = ?2 WHERE id = ?1", params![id, now_millis()])?;
            tx.emit(&trashed)?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn restore_document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        let out = self
            .write(move |tx| {
                let doc = load_document(tx, owner, id)?;
                let old_folder_live = load_folder(tx, owner, doc.folder_id).map(|f| f.trashed_at.is_none()).unwrap_or(false);
                let inbox: Id =
                    tx.query_row("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'inbox'", params![owner], |r| r.get(0))?;
                let Some((folder, restored)) = lifecycle::restore(&doc, old_folder_live, inbox) else { return Ok(doc) };
                tx.execute(
                    "UPDATE documents SET trashed_at = NULL, folder_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, folder, now_millis()],
                )?;
                tx.emit(&restored)?;
                load_document(tx, owner, id)
            })
            .await?;
        Ok(out)
    }

    async fn purge_document(&self, owner: Id, id: Id) -> DomainResult<Vec<String>> {
        let out = self
            .write(move |tx| {
                lifecycle::check_purgeable(&load_document(tx, owner, id)?)?;
                let blobs = purge_doc_rows(tx, id)?;
                let freed = unreferenced(tx, blobs)?;
                write_purged(tx, lifecycle::purged(owner, &[id], &[], &freed))?;
                Ok(freed)
            })
            .await?;
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
                ?;
            let nd: i64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM documents d WHERE d.owner_id = ?1 AND d.trashed_at IS NOT NULL AND {TOP_DOC}"),
                    params![owner],
                    |r| r.get(0),
                )
                ?;
            let (offset, limit) = (page.offset(), page.limit());
            let mut items = Vec::new();
            if offset < nf {
                let mut st = c
                    .prepare(&format!(
                        "SELECT {FOLDER_COLS} FROM folders f WHERE owner_id = ?1 AND trashed_at IS NOT NULL AND {TOP_FOLDER} ORDER BY trashed_at DESC, id LIMIT ?2 OFFSET ?3"
                    ))
                    ?;
                let folders = st
                    .query_map(params![owner, limit, offset], folder_from)
                    ?
                    .collect::<Result<Vec<_>, _>>()
                    ?;
                items.extend(folders_with_tags(c, folders)?);
            }
            let remaining = limit - items.len() as i64;
            if remaining > 0 {
                let mut st = c
                    .prepare(&format!(
                        "SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.owner_id = ?1 AND d.trashed_at IS NOT NULL AND {TOP_DOC} ORDER BY d.trashed_at DESC, d.id LIMIT ?2 OFFSET ?3"
                    ))
                    ?;
                let mut docs = st
                    .query_map(params![owner, remaining, (offset - nf).max(0)], document_from)
                    ?
                    .collect::<Result<Vec<_>, _>>()
                    ?;
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
                    let mut st = tx.prepare("SELECT id FROM folders WHERE owner_id = ?1 AND trashed_at IS NOT NULL")?;
                    st.query_map(params![owner], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?
                };
                let mut all_folders = Vec::new();
                for f in &trashed_folders {
                    all_folders.extend(subtree(tx, *f)?);
                }
                let mut doc_ids: Vec<Id> = {
                    let mut st = tx.prepare("SELECT id FROM documents WHERE owner_id = ?1 AND trashed_at IS NOT NULL")?;
                    st.query_map(params![owner], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?
                };
                for f in &all_folders {
                    let mut st = tx.prepare_cached("SELECT id FROM documents WHERE folder_id = ?1")?;
                    let ids = st.query_map(params![f], |r| r.get(0))?.collect::<Result<Vec<Id>, _>>()?;
                    doc_ids.extend(ids);
                }
                doc_ids.sort_unstable();
                doc_ids.dedup();
                for d in &doc_ids {
                    blobs.extend(purge_doc_rows(tx, *d)?);
                }
                for f in &trashed_folders {
                    tx.execute("DELETE FROM folders WHERE id = ?1", params![f])?;
                }
                let freed = unreferenced(tx, blobs)?;
                write_purged(tx, lifecycle::purged(owner, &doc_ids, &trashed_folders, &freed))?;
                Ok(freed)
            })
            .await?;
        Ok(out)
    }

    async fn versions(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Version>> {
        self.read(move |c| {
            load_document(c, owner, document_id)?;
            let mut st = c.prepare_cached(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.document_id = ?1 ORDER BY v.number"))?;
            let rows = st.query_map(params![document_id], |r| version_from(r, 0))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
    }

    async fn version(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Version> {
        self.read(move |c| {
            let doc = load_document(c, owner, document_id)?;
            let vid = version_id.unwrap_or(doc.version.id);
            c.prepare_cached(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = ?1 AND v.document_id = ?2"))
                .and_then(|mut st| st.query_row(params![vid, document_id], |r| version_from(r, 0)).optional())?
                .ok_or_else(|| DomainError::not_found(format!("version {vid} of document {document_id}")))
        })
        .await
    }

    async fn pages(&self, owner: Id, document_id: Id, version_id: Option<Id>) -> DomainResult<Vec<Page>> {
        let v = self.version(owner, document_id, version_id).await?;
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 ORDER BY number"))?;
            let rows = st.query_map(params![v.id], page_from)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
    }

    async fn page(&self, owner: Id, document_id: Id, version_id: Option<Id>, number: i32) -> DomainResult<Page> {
        let v = self.version(owner, document_id, version_id).await?;
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 AND number = ?2"))
                .and_then(|mut st| st.query_row(params![v.id, number], page_from).optional())?
                .ok_or_else(|| DomainError::not_found(format!("page {number} of document {document_id}")))
        })
        .await
    }

    async fn referenced_blobs(&self, shas: Vec<String>) -> DomainResult<Vec<String>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE sha256 = ?1) OR EXISTS(SELECT 1 FROM versions WHERE searchable_sha256 = ?1) \
                 OR EXISTS(SELECT 1 FROM pages WHERE thumbnail_sha256 = ?1) OR EXISTS(SELECT 1 FROM pages WHERE preview_sha256 = ?1) \
                 OR EXISTS(SELECT 1 FROM workflow_deliveries WHERE file_sha256 = ?1 AND state = 'pending')",
            )?;
            let mut used = Vec::new();
            for sha in shas {
                if st.query_row(params![sha], |r| r.get::<_, bool>(0))? {
                    used.push(sha);
                }
            }
            Ok(used)
        })
        .await
    }

    async fn reprocess_document(&self, owner: Id, id: Id, max_attempts: i32) -> DomainResult<Id> {
        self.write(move |tx| {
            let doc = load_document(tx, owner, id)?;
            reprocess_in(tx, &doc, max_attempts)?.ok_or_else(lifecycle::already_processing)
        })
        .await
    }

    async fn owned_documents(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<Id>> {
        let json = serde_json::to_string(ids).map_err(|e| DomainError::database(e.to_string()))?;
        self.read(move |c| {
            let out = c
                .prepare_cached("SELECT d.id FROM documents d JOIN json_each(?2) j ON j.value = d.id WHERE d.owner_id = ?1 ORDER BY d.id")?
                .query_map(params![owner, json], |r| r.get(0))?
                .collect::<Result<Vec<Id>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn bulk_edit_chunk(&self, lease: &Lease, args: &bulk::BulkChunk) -> DomainResult<bulk::ChunkOutcome> {
        let (lease, args) = (lease.clone(), args.clone());
        self.write(move |tx| {
            let mut out = bulk::ChunkOutcome::default();
            // The chunk and the job's progress commit together, under the lease.
            let ours = tx
                .prepare_cached(
                    "UPDATE jobs SET progress_done = ?4, progress_total = ?5, updated_at = ?6 \
                     WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                )?
                .execute(params![lease.job_id, lease.worker_id, lease.seq, args.done_after, args.total, now_millis()])?;
            if ours == 0 {
                return Ok(out);
            }
            out.committed = true;
            let edit = &args.edit;
            check_tags_owned(tx, args.owner_id, &edit.add_tags)?;
            check_tags_owned(tx, args.owner_id, &edit.remove_tags)?;
            let patch = edit.patch();
            for id in &args.documents {
                let doc = match load_document(tx, args.owner_id, *id) {
                    Ok(d) => d,
                    Err(DomainError::NotFound(_)) => {
                        out.skipped += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if edit.trash {
                    match lifecycle::trash(&doc) {
                        Some(trashed) => {
                            tx.execute("UPDATE documents SET trashed_at = ?2, updated_at = ?2 WHERE id = ?1", params![id, now_millis()])?;
                            tx.emit(&trashed)?;
                            out.changed += 1;
                        }
                        None => out.skipped += 1,
                    }
                    continue;
                }
                if doc.trashed_at.is_some() {
                    out.skipped += 1;
                    continue;
                }
                let (_, changed) =
                    edit_document(tx, &doc, &patch, (&edit.add_tags, &edit.remove_tags), &metadata::EditedBy::user(args.owner_id))?;
                let reprocessed = edit.reprocess && reprocess_in(tx, &doc, args.max_attempts)?.is_some();
                if changed || reprocessed {
                    out.changed += 1;
                }
            }
            tx.emit(&NewEvent::owner(args.owner_id, bulk::progress_event(lease.job_id, &args, &out)))?;
            Ok(out)
        })
        .await
    }
}

/// Changes what the patch names (and adds/removes tags), records the diff in the history (as
/// `by`) and emits the events; returns the document after the change and whether anything
/// changed.
pub(super) fn edit_document(
    tx: &WriteTx<'_>,
    doc: &Document,
    patch: &DocumentPatch,
    (add_tags, remove_tags): (&[Id], &[Id]),
    by: &metadata::EditedBy,
) -> DomainResult<(Document, bool)> {
    let (owner, id) = (doc.owner_id, doc.id);
    let detach = crate::domain::path_templates::detaches(patch, doc, by.action);
    if let Some(t) = &patch.title {
        tx.execute("UPDATE documents SET title = ?2 WHERE id = ?1", params![id, t])?;
        title_index_update(tx, id, t)?;
    }
    if let Some(fid) = patch.folder_id
        && fid != doc.folder_id
    {
        live_folder(tx, owner, fid)?;
        tx.execute("UPDATE documents SET folder_id = ?2 WHERE id = ?1", params![id, fid])?;
        emit(tx, &NewEvent::document(owner, id, EventData::DocumentMoved { from: doc.folder_id, to: fid }))?;
    }
    if let Some(tags) = &patch.tag_ids {
        check_tags_owned(tx, owner, tags)?;
        tx.execute("DELETE FROM document_tags WHERE document_id = ?1", params![id])?;
        for t in tags {
            tx.execute("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)", params![id, t])?;
        }
    }
    for t in add_tags {
        tx.prepare_cached("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)")?.execute(params![id, t])?;
    }
    for t in remove_tags {
        tx.prepare_cached("DELETE FROM document_tags WHERE document_id = ?1 AND tag_id = ?2")?.execute(params![id, t])?;
    }
    metadata_store::apply_patch(tx, doc, patch)?;
    if detach {
        tx.execute("UPDATE documents SET path_template_id = NULL WHERE id = ?1", params![id])?;
    }
    let after = load_document(tx, owner, id)?;
    let Some(changes) = metadata::diff(doc, &after) else { return Ok((after, false)) };
    if let Some(t) = &after.meta.path_template {
        let template: Option<String> =
            tx.prepare_cached("SELECT template FROM path_templates WHERE id = ?1")?.query_row(params![t.id], |r| r.get(0)).optional()?;
        if template.is_some_and(|t| crate::domain::path_templates::due_after_edit(&t, &changes)) {
            placements_due(tx, owner, "d.id = ?2", id)?;
        }
    }
    tx.execute("UPDATE documents SET updated_at = ?2 WHERE id = ?1", params![id, now_millis()])?;
    // A user's change fires the owner's "updated" workflows; a rule's or workflow's does not
    // (a workflow that edits would otherwise run itself forever).
    if by.action == metadata::actions::EDITED {
        workflows_due(tx, owner, id, "updated")?;
    }
    write_history(tx, &by.history(id, changes))?;
    emit(tx, &NewEvent::document(owner, id, EventData::DocumentUpdated(DocumentUpdated::default())))?;
    Ok((after, true))
}

/// Queues processing of the document's current version again, forgetting partial results.
/// None (and nothing changed) when its processing is queued or running already.
fn reprocess_in(tx: &WriteTx<'_>, doc: &Document, max_attempts: i32) -> DomainResult<Option<Id>> {
    let vid = doc.version.id;
    let fx = lifecycle::reprocess(doc, max_attempts);
    let now = now_millis();
    let Some(job_id) = insert_job(tx, &fx.process, now)? else { return Ok(None) };
    let page_ids: Vec<Id> =
        tx.prepare("SELECT id FROM pages WHERE version_id = ?1")?.query_map(params![vid], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    for p in page_ids {
        tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![p])?;
    }
    tx.execute("DELETE FROM pages WHERE version_id = ?1", params![vid])?;
    tx.execute("UPDATE versions SET state = 'queued', error = NULL, pages_done = 0, page_count = 0 WHERE id = ?1", params![vid])?;
    tx.execute("UPDATE documents SET state = 'queued', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc.id, now])?;
    tx.emit(&fx.updated)?;
    Ok(Some(job_id))
}

/// A new upload takes over what processing `source` (a ready version of the same bytes)
/// produced: its pages with their text, layout and images, its searchable PDF; the document is
/// ready and searchable at once. Returns the page count.
fn take_over_processed(tx: &WriteTx<'_>, source: Id, doc: Id, version_id: Id) -> DomainResult<i32> {
    tx.execute(
        "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
         SELECT ?2, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256 FROM pages WHERE version_id = ?1 ORDER BY number",
        params![source, version_id],
    )?;
    let page_count: i32 = tx.query_row(
        "UPDATE versions SET state = 'ready', error = NULL, page_count = s.page_count, pages_done = s.page_count, searchable_sha256 = s.searchable_sha256 \
         FROM (SELECT page_count, searchable_sha256 FROM versions WHERE id = ?1) s WHERE versions.id = ?2 RETURNING versions.page_count",
        params![source, version_id],
        |r| r.get(0),
    )?;
    tx.execute("UPDATE documents SET state = 'ready', error = NULL WHERE id = ?1", params![doc])?;
    // The date read from the same text (not one a user typed on the other document).
    tx.execute(
        "UPDATE documents SET document_date = s.document_date, date_source = s.date_source \
         FROM (SELECT o.document_date, o.date_source FROM versions v JOIN documents o ON o.id = v.document_id WHERE v.id = ?1) s \
         WHERE documents.id = ?2 AND s.date_source LIKE 'extracted:%'",
        params![source, doc],
    )?;
    tx.execute(
        "INSERT INTO search_index (rowid, body, document_id, page_number) SELECT id, text, ?2, number FROM pages WHERE version_id = ?1 AND text != ''",
        params![version_id, doc],
    )?;
    Ok(page_count)
}
