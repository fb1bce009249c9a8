//! The folder tree.

use super::*;

#[async_trait]
impl FolderStore for SqliteStore {
    async fn root_folders(&self, owner: Id) -> DomainResult<(Folder, Folder)> {
        self.read(move |c| {
            let get = |kind: &str| {
                c.query_row(
                    &format!("SELECT {FOLDER_COLS} FROM folders WHERE owner_id = ?1 AND kind = ?2"),
                    params![owner, kind],
                    folder_from,
                )
                .optional()?
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
            let mut st = c.prepare_cached(
                "WITH RECURSIVE up(id, parent_id, name, depth) AS ( \
                       SELECT id, parent_id, name, 0 FROM folders WHERE id = ?1 \
                       UNION ALL SELECT f.id, f.parent_id, f.name, up.depth + 1 FROM folders f JOIN up ON f.id = up.parent_id) \
                     SELECT id, name FROM up ORDER BY depth DESC",
            )?;
            let rows = st.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
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
                    Err(e) => return Err(e.into()),
                }
                let id = tx.last_insert_rowid();
                emit(tx, &NewEvent::folder(owner, id, EventData::FolderCreated { parent_id, name: name.to_string() }))?;
                load_folder(tx, owner, id)
            })
            .await?;
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
                    Err(e) => return Err(e.into()),
                }
                let f = load_folder(tx, owner, id)?;
                emit(tx, &NewEvent::folder(owner, id, EventData::FolderUpdated(FolderUpdated { place: Some(FolderPlace { parent_id: f.parent_id, name: f.name.clone() }) })))?;
                Ok(f)
            })
            .await?;
        Ok(out)
    }

    async fn trash_folder(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let trashed = lifecycle::trash_folder(&live_folder(tx, owner, id)?)?;
            let now = now_millis();
            // The whole subtree goes with one timestamp, so a restore brings back exactly it.
            for fid in subtree(tx, id)? {
                tx.execute("UPDATE folders SET trashed_at = ?2 WHERE id = ?1 AND trashed_at IS NULL", params![fid, now])?;
                tx.execute("UPDATE documents SET trashed_at = ?2 WHERE folder_id = ?1 AND trashed_at IS NULL", params![fid, now])?;
            }
            tx.emit(&trashed)?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn restore_folder(&self, owner: Id, id: Id) -> DomainResult<Folder> {
        let out = self
            .write(move |tx| {
                let f = load_folder(tx, owner, id)?;
                let Some(ts) = f.trashed_at else { return Ok(f) };
                let parent_live = match f.parent_id {
                    Some(p) => load_folder(tx, owner, p).map(|pf| pf.trashed_at.is_none()).unwrap_or(false),
                    None => true,
                };
                let home: Id =
                    tx.query_row("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'home'", params![owner], |r| r.get(0))?;
                let Some((target, restored)) = lifecycle::restore_folder(&f, parent_live, home) else { return Ok(f) };
                let now = now_millis();
                match tx.execute(
                    "UPDATE folders SET trashed_at = NULL, parent_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, target, now],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(DomainError::Conflict(lifecycle::restored_name_taken(&f.name)));
                    }
                    Err(e) => return Err(e.into()),
                }
                for fid in subtree(tx, id)? {
                    tx.execute("UPDATE folders SET trashed_at = NULL WHERE id = ?1 AND trashed_at = ?2", params![fid, ts])?;
                    tx.execute("UPDATE documents SET trashed_at = NULL WHERE folder_id = ?1 AND trashed_at = ?2", params![fid, ts])?;
                }
                tx.emit(&restored)?;
                load_folder(tx, owner, id)
            })
            .await?;
        Ok(out)
    }

    async fn children(&self, owner: Id, id: Id, sort: ChildSort, page: PageReq) -> DomainResult<Paged<ChildItem>> {
        self.read(move |c| {
            load_folder(c, owner, id)?;
            let nf: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM folders WHERE parent_id = ?1 AND trashed_at IS NULL")
                .and_then(|mut st| st.query_row(params![id], |r| r.get(0)))
                ?;
            let nd: i64 = c
                .prepare_cached("SELECT COALESCE((SELECT live FROM folder_document_counts WHERE folder_id = ?1), 0)")
                .and_then(|mut st| st.query_row(params![id], |r| r.get(0)))
                ?;
            let (offset, limit) = (page.offset(), page.limit());
            let mut items = Vec::new();
            if offset < nf {
                let sql = format!(
                    "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = ?1 AND trashed_at IS NULL ORDER BY {} LIMIT ?2 OFFSET ?3",
                    child_order(sort, false)
                );
                let mut st = c.prepare_cached(&sql)?;
                let folders = st
                    .query_map(params![id, limit, offset], folder_from)
                    ?
                    .collect::<Result<Vec<_>, _>>()
                    ?;
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
                let mut st = c.prepare_cached(&sql)?;
                let mut docs = st
                    .query_map(params![id, w.limit, w.offset], document_from)
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

    async fn set_folder_tags(&self, owner: Id, id: Id, add: &[Id], remove: &[Id]) -> DomainResult<()> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.write(move |tx| {
            load_folder(tx, owner, id)?;
            check_tags_owned(tx, owner, &add)?;
            check_tags_owned(tx, owner, &remove)?;
            for t in &add {
                tx.execute("INSERT OR IGNORE INTO folder_tags (folder_id, tag_id) VALUES (?1, ?2)", params![id, t])?;
            }
            for t in &remove {
                tx.execute("DELETE FROM folder_tags WHERE folder_id = ?1 AND tag_id = ?2", params![id, t])?;
            }
            emit(tx, &NewEvent::folder(owner, id, EventData::FolderUpdated(FolderUpdated::default())))?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
