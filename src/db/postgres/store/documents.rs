//! Documents, their versions and pages, the trash.

use super::*;

#[async_trait]
impl DocumentStore for PgStore {
    async fn create_upload(&self, up: NewUpload) -> DomainResult<UploadOutcome> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        live_folder(&tx, up.owner_id, up.folder_id).await?;
        let now = now_millis();
        let earlier = query_opt(
            &tx,
            "SELECT d.id, (SELECT v.id FROM versions v JOIN documents o ON o.id = v.document_id \
               WHERE v.sha256 = $2 AND v.state = 'ready' AND v.page_count > 0 AND o.owner_id = $1 ORDER BY v.id LIMIT 1) \
             FROM documents d WHERE d.owner_id = $1 AND d.sha256 = $2 ORDER BY d.id LIMIT 1",
            &[&up.owner_id, &up.sha256],
        )
        .await?
        .map(|r| -> DomainResult<_> { Ok(lifecycle::EarlierCopy { document_id: col(&r, 0)?, ready_version: col(&r, 1)? }) })
        .transpose()?;
        let admission = lifecycle::admit_upload(up.reject_duplicates, earlier)?;
        let duplicate_of = admission.duplicate_of;
        let doc_id: Id = col(
            &query_one(
                &tx,
                "INSERT INTO documents (owner_id, folder_id, title, state, sha256, duplicate_of, created_at, updated_at, source) \
                 VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6, $7) RETURNING id",
                &[&up.owner_id, &up.folder_id, &up.title, &up.sha256, &duplicate_of, &now, &up.source.map(|s| s.as_str())],
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
        let reused = match admission.reuse {
            Some(source) => Some(take_over_processed(&tx, source, doc_id, version_id).await?),
            None => None,
        };
        let fx = lifecycle::uploaded(up.owner_id, up.folder_id, &up.title, (doc_id, version_id), up.max_attempts, reused);
        let job_id = match &fx.process {
            Some(job) => Some(insert_job(&tx, job, now).await?.ok_or_else(lifecycle::already_queued)?),
            None => None,
        };
        // Workflows (#23): "added" now; "processed" too when it is ready at once.
        workflows_due(&tx, up.owner_id, doc_id, "added").await?;
        if reused.is_some() {
            workflows_due(&tx, up.owner_id, doc_id, "processed").await?;
        }
        let document = load_document(&tx, up.owner_id, doc_id).await?;
        Self::commit(tx, &fx.events, job_id.is_some()).await?;
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
        for (column, wanted) in [("d.correspondent_id", f.correspondent_id), ("d.document_type_id", f.document_type_id)] {
            match wanted {
                Some(Some(id)) => {
                    args.push(Box::new(id));
                    conds.push(format!("{column} = ${}", args.len()));
                }
                Some(None) => conds.push(format!("{column} IS NULL")),
                None => {}
            }
        }
        if let Some(from) = f.date_from {
            args.push(Box::new(from.format("%Y-%m-%d").to_string()));
            conds.push(format!("d.document_date >= ${}", args.len()));
        }
        if let Some(to) = f.date_to {
            args.push(Box::new(to.format("%Y-%m-%d").to_string()));
            conds.push(format!("d.document_date <= ${}", args.len()));
        }
        if let Some(asn) = f.asn {
            args.push(Box::new(asn));
            conds.push(format!("d.asn = ${}", args.len()));
        }
        let order = doc_order(f.sort);
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

    async fn update_document(&self, owner: Id, id: Id, patch: &DocumentPatch) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let mut events = Vec::new();
        let (out, _) = edit_document(&tx, &doc, patch, (&[], &[]), &metadata::EditedBy::user(owner), &mut events).await?;
        Self::commit(tx, &events, false).await?;
        Ok(out)
    }

    async fn change_document_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let before = load_document(&tx, owner, id).await?;
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
        if let Some(changes) = metadata::diff(&before, &out) {
            write_history(
                &tx,
                &metadata::NewHistory { document_id: id, actor_id: Some(owner), action: metadata::actions::EDITED, changes },
            )
            .await?;
        }
        Self::commit(tx, &[NewEvent::document(owner, id, EventData::DocumentUpdated(DocumentUpdated::default()))], false).await?;
        Ok(out)
    }

    async fn change_tags_of_documents(&self, owner: Id, documents: &[Id], add: &[Id], remove: &[Id]) -> DomainResult<usize> {
        let mut docs = documents.to_vec();
        docs.sort_unstable();
        docs.dedup();
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        check_tags_owned(&tx, owner, add).await?;
        check_tags_owned(&tx, owner, remove).await?;
        let found =
            ids(query(&tx, "SELECT id FROM documents WHERE owner_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE", &[&owner, &docs])
                .await?)?;
        if let Some(missing) = docs.iter().find(|d| !found.contains(d)) {
            return Err(DomainError::not_found(format!("document {missing}")));
        }
        // What each document had of the tags named, for its history.
        let named: Vec<Id> = add.iter().chain(remove).copied().collect();
        let mut had: HashSet<(Id, Id)> = HashSet::new();
        for r in
            query(&tx, "SELECT document_id, tag_id FROM document_tags WHERE document_id = ANY($1) AND tag_id = ANY($2)", &[&docs, &named])
                .await?
        {
            had.insert((col(&r, 0)?, col(&r, 1)?));
        }
        let mut tag_names: HashMap<Id, String> = HashMap::new();
        for r in query(&tx, "SELECT id, name FROM tags WHERE id = ANY($1)", &[&named]).await? {
            tag_names.insert(col(&r, 0)?, col(&r, 1)?);
        }
        for d in &docs {
            let added: Vec<&String> = add.iter().filter(|t| !had.contains(&(*d, **t))).filter_map(|t| tag_names.get(t)).collect();
            let removed: Vec<&String> =
                remove.iter().filter(|t| had.contains(&(*d, **t)) && !add.contains(t)).filter_map(|t| tag_names.get(t)).collect();
            if !added.is_empty() || !removed.is_empty() {
                let changes = serde_json::json!({"tags": {"added": added, "removed": removed}});
                write_history(
                    &tx,
                    &metadata::NewHistory { document_id: *d, actor_id: Some(owner), action: metadata::actions::EDITED, changes },
                )
                .await?;
            }
        }
        exec(
            &tx,
            "INSERT INTO document_tags (document_id, tag_id) SELECT d, t FROM UNNEST($1::bigint[]) d CROSS JOIN UNNEST($2::bigint[]) t ON CONFLICT DO NOTHING",
            &[&docs, &add],
        )
        .await?;
        exec(&tx, "DELETE FROM document_tags WHERE document_id = ANY($1) AND tag_id = ANY($2)", &[&docs, &remove]).await?;
        exec(&tx, "UPDATE documents SET updated_at = $2 WHERE id = ANY($1)", &[&docs, &now_millis()]).await?;
        let events: Vec<NewEvent> =
            docs.iter().map(|d| NewEvent::document(owner, *d, EventData::DocumentUpdated(DocumentUpdated::default()))).collect();
        Self::commit(tx, &events, false).await?;
        Ok(docs.len())
    }

    async fn trash_document(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let Some(trashed) = lifecycle::trash(&doc) else { return Ok(()) };
        exec(&tx, "UPDATE documents SET trashed_at = $2, updated_at = $2 WHERE id = $1", &[&id, &now_millis()]).await?;
        Self::commit(tx, &[trashed], false).await
    }

    async fn restore_document(&self, owner: Id, id: Id) -> DomainResult<Document> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let old_folder_live = load_folder(&tx, owner, doc.folder_id).await.map(|f| f.trashed_at.is_none()).unwrap_or(false);
        let inbox: Id = col(&query_one(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'inbox'", &[&owner]).await?, 0)?;
        let Some((folder, restored)) = lifecycle::restore(&doc, old_folder_live, inbox) else { return Ok(doc) };
        exec(&tx, "UPDATE documents SET trashed_at = NULL, folder_id = $2, updated_at = $3 WHERE id = $1", &[&id, &folder, &now_millis()])
            .await?;
        let out = load_document(&tx, owner, id).await?;
        Self::commit(tx, &[restored], false).await?;
        Ok(out)
    }

    async fn purge_document(&self, owner: Id, id: Id) -> DomainResult<Vec<String>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        lifecycle::check_purgeable(&load_document(&tx, owner, id).await?)?;
        let blobs = purge_doc_rows(&tx, id).await?;
        let freed = unreferenced(&tx, blobs).await?;
        write_purged(tx, lifecycle::purged(owner, &[id], &[], &freed)).await?;
        Ok(freed)
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
        }
        for f in &trashed_folders {
            exec(&tx, "DELETE FROM folders WHERE id = $1", &[f]).await?;
        }
        let freed = unreferenced(&tx, blobs).await?;
        write_purged(tx, lifecycle::purged(owner, &doc_ids, &trashed_folders, &freed)).await?;
        Ok(freed)
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

    async fn referenced_blobs(&self, shas: Vec<String>) -> DomainResult<Vec<String>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT s FROM unnest($1::text[]) s WHERE EXISTS(SELECT 1 FROM versions WHERE sha256 = s) \
             OR EXISTS(SELECT 1 FROM versions WHERE searchable_sha256 = s) \
             OR EXISTS(SELECT 1 FROM pages WHERE thumbnail_sha256 = s) OR EXISTS(SELECT 1 FROM pages WHERE preview_sha256 = s) \
             OR EXISTS(SELECT 1 FROM workflow_deliveries WHERE file_sha256 = s AND state = 'pending')",
            &[&shas],
        )
        .await?;
        rows.iter().map(|r| col::<String>(r, 0)).collect()
    }

    async fn reprocess_document(&self, owner: Id, id: Id, max_attempts: i32) -> DomainResult<Id> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, id).await?;
        let mut events = Vec::new();
        let job_id = reprocess_in(&tx, &doc, max_attempts, &mut events).await?.ok_or_else(lifecycle::already_processing)?;
        Self::commit(tx, &events, true).await?;
        Ok(job_id)
    }

    async fn owned_documents(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<Id>> {
        let c = self.client().await?;
        super::ids(query(&c, "SELECT id FROM documents WHERE owner_id = $1 AND id = ANY($2) ORDER BY id", &[&owner, &ids]).await?)
    }

    async fn bulk_edit_chunk(&self, lease: &Lease, args: &bulk::BulkChunk) -> DomainResult<bulk::ChunkOutcome> {
        let mut out = bulk::ChunkOutcome::default();
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        // The chunk and the job's progress commit together, under the lease.
        let ours = exec(
            &tx,
            "UPDATE jobs SET progress_done = $4, progress_total = $5, updated_at = $6 \
             WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
            &[&lease.job_id, &lease.worker_id, &lease.seq, &(args.done_after as i32), &(args.total as i32), &now_millis()],
        )
        .await?;
        if ours == 0 {
            return Ok(out);
        }
        out.committed = true;
        let edit = &args.edit;
        check_tags_owned(&tx, args.owner_id, &edit.add_tags).await?;
        check_tags_owned(&tx, args.owner_id, &edit.remove_tags).await?;
        let patch = edit.patch();
        let mut events = Vec::new();
        let mut jobs = false;
        // Rows locked in id order, so two bulk edits over the same documents cannot deadlock.
        let mut ids = args.documents.clone();
        ids.sort_unstable();
        exec(&tx, "SELECT id FROM documents WHERE id = ANY($1) AND owner_id = $2 ORDER BY id FOR UPDATE", &[&ids, &args.owner_id]).await?;
        for id in &args.documents {
            let doc = match load_document(&tx, args.owner_id, *id).await {
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
                        exec(&tx, "UPDATE documents SET trashed_at = $2, updated_at = $2 WHERE id = $1", &[id, &now_millis()]).await?;
                        events.push(trashed);
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
            let (_, changed) = edit_document(
                &tx,
                &doc,
                &patch,
                (&edit.add_tags, &edit.remove_tags),
                &metadata::EditedBy::user(args.owner_id),
                &mut events,
            )
            .await?;
            let reprocessed = edit.reprocess && reprocess_in(&tx, &doc, args.max_attempts, &mut events).await?.is_some();
            jobs |= reprocessed;
            if changed || reprocessed {
                out.changed += 1;
            }
        }
        events.push(NewEvent::owner(args.owner_id, bulk::progress_event(lease.job_id, args, &out)));
        Self::commit(tx, &events, jobs).await?;
        Ok(out)
    }
}

/// Changes what the patch names (and adds/removes tags), records the diff in the history (as
/// `by`) and adds the events; returns the document after the change and whether anything
/// changed.
pub(super) async fn edit_document(
    tx: &Tx<'_>,
    doc: &Document,
    patch: &DocumentPatch,
    (add_tags, remove_tags): (&[Id], &[Id]),
    by: &metadata::EditedBy,
    events: &mut Vec<NewEvent>,
) -> DomainResult<(Document, bool)> {
    let (owner, id) = (doc.owner_id, doc.id);
    let detach = crate::domain::path_templates::detaches(patch, doc, by.action);
    if let Some(t) = &patch.title {
        exec(tx, "UPDATE documents SET title = $2 WHERE id = $1", &[&id, t]).await?;
        title_index_update(tx, id, t).await?;
    }
    if let Some(fid) = patch.folder_id
        && fid != doc.folder_id
    {
        live_folder(tx, owner, fid).await?;
        exec(tx, "UPDATE documents SET folder_id = $2 WHERE id = $1", &[&id, &fid]).await?;
        events.push(NewEvent::document(owner, id, EventData::DocumentMoved { from: doc.folder_id, to: fid }));
    }
    if let Some(tags) = &patch.tag_ids {
        check_tags_owned(tx, owner, tags).await?;
        exec(tx, "DELETE FROM document_tags WHERE document_id = $1", &[&id]).await?;
        for t in tags {
            exec(tx, "INSERT INTO document_tags (document_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&id, t]).await?;
        }
    }
    if !add_tags.is_empty() {
        exec(
            tx,
            "INSERT INTO document_tags (document_id, tag_id) SELECT $1, t FROM UNNEST($2::bigint[]) t ON CONFLICT DO NOTHING",
            &[&id, &add_tags],
        )
        .await?;
    }
    if !remove_tags.is_empty() {
        exec(tx, "DELETE FROM document_tags WHERE document_id = $1 AND tag_id = ANY($2)", &[&id, &remove_tags]).await?;
    }
    metadata_store::apply_patch(tx, doc, patch).await?;
    if detach {
        exec(tx, "UPDATE documents SET path_template_id = NULL WHERE id = $1", &[&id]).await?;
    }
    let after = load_document(tx, owner, id).await?;
    let Some(changes) = metadata::diff(doc, &after) else { return Ok((after, false)) };
    if let Some(t) = &after.meta.path_template {
        let template = query_opt(tx, "SELECT template FROM path_templates WHERE id = $1", &[&t.id]).await?;
        if let Some(r) = template
            && crate::domain::path_templates::due_after_edit(&col::<String>(&r, 0)?, &changes)
        {
            placements_due(tx, owner, "d.id = $2", id).await?;
        }
    }
    exec(tx, "UPDATE documents SET updated_at = $2 WHERE id = $1", &[&id, &now_millis()]).await?;
    // A user's change fires the owner's "updated" workflows; a rule's or workflow's does not
    // (a workflow that edits would otherwise run itself forever).
    if by.action == metadata::actions::EDITED {
        workflows_due(tx, owner, id, "updated").await?;
    }
    write_history(tx, &by.history(id, changes)).await?;
    events.push(NewEvent::document(owner, id, EventData::DocumentUpdated(DocumentUpdated::default())));
    Ok((after, true))
}

/// Queues processing of the document's current version again, forgetting partial results.
/// None (and nothing changed) when its processing is queued or running already.
async fn reprocess_in(tx: &Tx<'_>, doc: &Document, max_attempts: i32, events: &mut Vec<NewEvent>) -> DomainResult<Option<Id>> {
    let vid = doc.version.id;
    let fx = lifecycle::reprocess(doc, max_attempts);
    let now = now_millis();
    let Some(job_id) = insert_job(tx, &fx.process, now).await? else { return Ok(None) };
    exec(tx, "DELETE FROM search_index WHERE rowid IN (SELECT id FROM pages WHERE version_id = $1)", &[&vid]).await?;
    exec(tx, "DELETE FROM pages WHERE version_id = $1", &[&vid]).await?;
    exec(tx, "UPDATE versions SET state = 'queued', error = NULL, pages_done = 0, page_count = 0 WHERE id = $1", &[&vid]).await?;
    exec(tx, "UPDATE documents SET state = 'queued', error = NULL, updated_at = $2 WHERE id = $1", &[&doc.id, &now]).await?;
    events.push(fx.updated);
    Ok(Some(job_id))
}

/// A new upload takes over what processing `source` (a ready version of the same bytes)
/// produced: its pages with their text, layout and images, its searchable PDF; the document is
/// ready and searchable at once. Returns the page count.
async fn take_over_processed(tx: &Tx<'_>, source: Id, doc: Id, version_id: Id) -> DomainResult<i32> {
    exec(
        tx,
        "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
         SELECT $2, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256 FROM pages WHERE version_id = $1 ORDER BY number",
        &[&source, &version_id],
    )
    .await?;
    let page_count: i32 = col(
        &query_one(
            tx,
            "UPDATE versions SET state = 'ready', error = NULL, page_count = s.page_count, pages_done = s.page_count, \
             searchable_sha256 = s.searchable_sha256 FROM (SELECT page_count, searchable_sha256 FROM versions WHERE id = $1) s \
             WHERE versions.id = $2 RETURNING versions.page_count",
            &[&source, &version_id],
        )
        .await?,
        0,
    )?;
    exec(tx, "UPDATE documents SET state = 'ready', error = NULL WHERE id = $1", &[&doc]).await?;
    // The date read from the same text (not one a user typed on the other document).
    exec(
        tx,
        "UPDATE documents SET document_date = s.document_date, date_source = s.date_source \
         FROM (SELECT o.document_date, o.date_source FROM versions v JOIN documents o ON o.id = v.document_id WHERE v.id = $1) s \
         WHERE documents.id = $2 AND s.date_source LIKE 'extracted:%'",
        &[&source, &doc],
    )
    .await?;
    index_version_pages(tx, doc, version_id).await?;
    Ok(page_count)
}
