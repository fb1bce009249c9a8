//! The folder tree.

use super::*;

#[async_trait]
impl FolderStore for PgStore {
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
        let ev = NewEvent::folder(owner, f.id, EventData::FolderCreated { parent_id, name: name.to_string() });
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
        let ev = NewEvent::folder(
            owner,
            id,
            EventData::FolderUpdated(FolderUpdated { place: Some(FolderPlace { parent_id: f.parent_id, name: f.name.clone() }) }),
        );
        Self::commit(tx, &[ev], false).await?;
        Ok(f)
    }

    async fn trash_folder(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let trashed = lifecycle::trash_folder(&live_folder(&tx, owner, id).await?)?;
        let now = now_millis();
        // The whole subtree goes with one timestamp, so a restore brings back exactly it.
        let sub = subtree(&tx, id).await?;
        exec(&tx, "UPDATE folders SET trashed_at = $2 WHERE id = ANY($1) AND trashed_at IS NULL", &[&sub, &now]).await?;
        exec(&tx, "UPDATE documents SET trashed_at = $2 WHERE folder_id = ANY($1) AND trashed_at IS NULL", &[&sub, &now]).await?;
        Self::commit(tx, &[trashed], false).await
    }

    async fn restore_folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let f = load_folder(&tx, owner, id).await?;
        let Some(ts) = f.trashed_at else { return Ok(f) };
        let parent_live = match f.parent_id {
            Some(p) => load_folder(&tx, owner, p).await.map(|pf| pf.trashed_at.is_none()).unwrap_or(false),
            None => true,
        };
        let home: Id = col(&query_one(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'home'", &[&owner]).await?, 0)?;
        let Some((target, restored)) = lifecycle::restore_folder(&f, parent_live, home) else { return Ok(f) };
        try_exec(
            &tx,
            "UPDATE folders SET trashed_at = NULL, parent_id = $2, updated_at = $3 WHERE id = $1",
            &[&id, &target, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || lifecycle::restored_name_taken(&f.name)))?;
        let sub = subtree(&tx, id).await?;
        try_exec(&tx, "UPDATE folders SET trashed_at = NULL WHERE id = ANY($1) AND trashed_at = $2", &[&sub, &ts]).await.map_err(|e| {
            conflict_or_db(e, || "a folder with the same name as one being restored exists; rename one of them first".into())
        })?;
        exec(&tx, "UPDATE documents SET trashed_at = NULL WHERE folder_id = ANY($1) AND trashed_at = $2", &[&sub, &ts]).await?;
        let folder = load_folder(&tx, owner, id).await?;
        Self::commit(tx, &[restored], false).await?;
        Ok(folder)
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
        Self::commit(tx, &[NewEvent::folder(owner, id, EventData::FolderUpdated(FolderUpdated::default()))], false).await
    }
}
