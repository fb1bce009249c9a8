//! Tags.

use super::*;

#[async_trait]
impl TagStore for SqliteStore {
    async fn tags(&self, owner: Id) -> DomainResult<Vec<Tag>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT t.id, t.owner_id, t.name, t.color, \
                       (SELECT COUNT(*) FROM document_tags dt JOIN documents d ON d.id = dt.document_id WHERE dt.tag_id = t.id AND d.trashed_at IS NULL) \
                     FROM tags t WHERE t.owner_id = ?1 ORDER BY t.name COLLATE NOCASE",
                )
                ?;
            let rows = st.query_map(params![owner], tag_from)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
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
                    Err(e) => return Err(e.into()),
                }
                let id = tx.last_insert_rowid();
                emit(tx, &NewEvent::owner(owner, EventData::TagCreated { tag_id: id }))?;
                Ok(Tag { id, owner_id: owner, name: name.clone(), color: color.clone(), document_count: 0 })
            })
            .await?;
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
                    Err(e) => return Err(e.into()),
                }
                emit(tx, &NewEvent::owner(owner, EventData::TagUpdated { tag_id: id }))?;
                tx.query_row(
                    "SELECT t.id, t.owner_id, t.name, t.color, (SELECT COUNT(*) FROM document_tags WHERE tag_id = t.id) FROM tags t WHERE t.id = ?1",
                    params![id],
                    tag_from,
                )
                .map_err(DomainError::from)
            })
            .await?;
        Ok(out)
    }

    async fn delete_tag(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM tags WHERE id = ?1 AND owner_id = ?2", params![id, owner])?;
            if n == 0 {
                return Err(DomainError::not_found(format!("tag {id}")));
            }
            emit(tx, &NewEvent::owner(owner, EventData::TagDeleted { tag_id: id }))?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn merge_tags(&self, owner: Id, from: Id, into: Id) -> DomainResult<Tag> {
        let out = self
            .write(move |tx| {
                let owned: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM tags WHERE owner_id = ?1 AND id IN (?2, ?3)",
                    params![owner, from, into],
                    |r| r.get(0),
                )?;
                if owned < 2 || from == into {
                    return Err(if from == into {
                        DomainError::Invalid("a tag cannot be merged into itself".into())
                    } else {
                        DomainError::not_found("tag")
                    });
                }
                tx.execute(
                    "INSERT OR IGNORE INTO document_tags (document_id, tag_id) SELECT document_id, ?2 FROM document_tags WHERE tag_id = ?1",
                    params![from, into],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO folder_tags (folder_id, tag_id) SELECT folder_id, ?2 FROM folder_tags WHERE tag_id = ?1",
                    params![from, into],
                )?;
                tx.execute("DELETE FROM tags WHERE id = ?1", params![from])?;
                tx.emit(&NewEvent::owner(owner, EventData::TagDeleted { tag_id: from }))?;
                tx.emit(&NewEvent::owner(owner, EventData::TagUpdated { tag_id: into }))?;
                tx.query_row(
                    "SELECT t.id, t.owner_id, t.name, t.color, (SELECT COUNT(*) FROM document_tags dt JOIN documents d ON d.id = dt.document_id \
                     WHERE dt.tag_id = t.id AND d.trashed_at IS NULL) FROM tags t WHERE t.id = ?1",
                    params![into],
                    tag_from,
                )
                .map_err(DomainError::from)
            })
            .await?;
        Ok(out)
    }
}
