//! Tags.

use super::*;

#[async_trait]
impl TagStore for PgStore {
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
        let ev = NewEvent::owner(owner, EventData::TagCreated { tag_id: id });
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
        let ev = NewEvent::owner(owner, EventData::TagUpdated { tag_id: id });
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
        let ev = NewEvent::owner(owner, EventData::TagDeleted { tag_id: id });
        Self::commit(tx, &[ev], false).await
    }

    async fn merge_tags(&self, owner: Id, from: Id, into: Id) -> DomainResult<Tag> {
        if from == into {
            return Err(DomainError::Invalid("a tag cannot be merged into itself".into()));
        }
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        // Both rows locked in id order, so two opposite merges cannot deadlock.
        let owned =
            query(&tx, "SELECT id FROM tags WHERE owner_id = $1 AND id IN ($2, $3) ORDER BY id FOR UPDATE", &[&owner, &from, &into])
                .await?
                .len();
        if owned < 2 {
            return Err(DomainError::not_found("tag"));
        }
        exec(
            &tx,
            "INSERT INTO document_tags (document_id, tag_id) SELECT document_id, $2 FROM document_tags WHERE tag_id = $1 ON CONFLICT DO NOTHING",
            &[&from, &into],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO folder_tags (folder_id, tag_id) SELECT folder_id, $2 FROM folder_tags WHERE tag_id = $1 ON CONFLICT DO NOTHING",
            &[&from, &into],
        )
        .await?;
        exec(&tx, "DELETE FROM tags WHERE id = $1", &[&from]).await?;
        let row = query_one(
            &tx,
            "SELECT t.id, t.owner_id, t.name, t.color, (SELECT COUNT(*) FROM document_tags dt JOIN documents d ON d.id = dt.document_id \
             WHERE dt.tag_id = t.id AND d.trashed_at IS NULL) FROM tags t WHERE t.id = $1",
            &[&into],
        )
        .await?;
        let tag = tag_from(&row)?;
        let events = [
            NewEvent::owner(owner, EventData::TagDeleted { tag_id: from }),
            NewEvent::owner(owner, EventData::TagUpdated { tag_id: into }),
        ];
        Self::commit(tx, &events, false).await?;
        Ok(tag)
    }
}
