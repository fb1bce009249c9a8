//! Path templates and placing documents by them (#23).

use super::documents::edit_document;
use super::metadata_store::{owner_fields, template_owned};
use super::*;
use crate::domain::path_templates::{PathTemplate, Placer, Subject, TemplateSpec};

const TEMPLATE_COLS: &str = "t.id, t.owner_id, t.name, t.template, t.fallback, t.filename, \
     (SELECT COUNT(*) FROM documents d WHERE d.path_template_id = t.id AND d.trashed_at IS NULL), t.created_at, t.updated_at";

fn template_from(r: &Row) -> DomainResult<PathTemplate> {
    Ok(PathTemplate {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        name: col(r, 2)?,
        template: col(r, 3)?,
        fallback: col(r, 4)?,
        filename: col(r, 5)?,
        document_count: col(r, 6)?,
        created_at: col(r, 7)?,
        updated_at: col(r, 8)?,
    })
}

async fn load_template<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<PathTemplate> {
    match query_opt(c, &format!("SELECT {TEMPLATE_COLS} FROM path_templates t WHERE t.id = $1 AND t.owner_id = $2"), &[&id, &owner]).await?
    {
        Some(r) => template_from(&r),
        None => Err(DomainError::not_found(format!("path template {id}"))),
    }
}

fn name_taken(name: &str) -> String {
    format!("a path template named {name:?} already exists")
}

/// The folder at `names` below `home`, made (with its parents) where missing; `known` keeps
/// the folders found or made earlier in the same transaction.
async fn folder_at(
    tx: &Tx<'_>,
    owner: Id,
    home: Id,
    names: &[String],
    known: &mut HashMap<(Id, String), Id>,
    events: &mut Vec<NewEvent>,
) -> DomainResult<Id> {
    let mut parent = home;
    for name in names {
        if let Some(id) = known.get(&(parent, name.clone())) {
            parent = *id;
            continue;
        }
        let above = parent;
        let found = query_opt(
            tx,
            "SELECT id FROM folders WHERE owner_id = $1 AND parent_id = $2 AND name = $3 AND trashed_at IS NULL",
            &[&owner, &parent, name],
        )
        .await?;
        parent = match found {
            Some(r) => col(&r, 0)?,
            None => {
                let now = now_millis();
                let r = query_one(
                    tx,
                    "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, 'folder', $4, $4) RETURNING id",
                    &[&owner, &parent, name, &now],
                )
                .await?;
                let id: Id = col(&r, 0)?;
                exec(tx, "INSERT INTO template_folders (folder_id) VALUES ($1)", &[&id]).await?;
                events.push(NewEvent::folder(owner, id, EventData::FolderCreated { parent_id: parent, name: name.clone() }));
                id
            }
        };
        known.insert((above, name.clone()), parent);
    }
    Ok(parent)
}

/// Deletes `folder` if a path template made it and it holds nothing now (no document, not even
/// in the trash, no folder, no tag), then its parent on the same terms.
async fn prune(
    tx: &Tx<'_>,
    owner: Id,
    mut folder: Id,
    known: &mut HashMap<(Id, String), Id>,
    events: &mut Vec<NewEvent>,
) -> DomainResult<()> {
    loop {
        let r = query_one(
            tx,
            "SELECT EXISTS (SELECT 1 FROM template_folders WHERE folder_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM documents WHERE folder_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM folders WHERE parent_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM folder_tags WHERE folder_id = $1)",
            &[&folder],
        )
        .await?;
        if !col::<bool>(&r, 0)? {
            return Ok(());
        }
        let parent: Option<Id> =
            col(&query_one(tx, "SELECT parent_id FROM folders WHERE id = $1 AND owner_id = $2", &[&folder, &owner]).await?, 0)?;
        exec(tx, "DELETE FROM folders WHERE id = $1", &[&folder]).await?;
        events.push(NewEvent::folder(owner, folder, EventData::FolderDeleted {}));
        known.retain(|_, id| *id != folder);
        let Some(p) = parent else { return Ok(()) };
        folder = p;
    }
}

#[async_trait]
impl PathTemplateStore for PgStore {
    async fn path_templates(&self, owner: Id) -> DomainResult<Vec<PathTemplate>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            &format!("SELECT {TEMPLATE_COLS} FROM path_templates t WHERE t.owner_id = $1 ORDER BY lower(t.name), t.id"),
            &[&owner],
        )
        .await?;
        rows.iter().map(template_from).collect()
    }

    async fn path_template(&self, owner: Id, id: Id) -> DomainResult<PathTemplate> {
        let c = self.client().await?;
        load_template(&c, owner, id).await
    }

    async fn create_path_template(&self, owner: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = try_query_one(
            &tx,
            "INSERT INTO path_templates (owner_id, name, template, fallback, filename, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            &[&owner, &spec.name, &spec.template, &spec.fallback, &spec.filename, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken(&spec.name)))?;
        let out = load_template(&tx, owner, col(&row, 0)?).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn update_path_template(&self, owner: Id, id: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let before = load_template(&tx, owner, id).await?;
        try_exec(
            &tx,
            "UPDATE path_templates SET name = $3, template = $4, fallback = $5, filename = $6, updated_at = $7 WHERE id = $1 AND owner_id = $2",
            &[&id, &owner, &spec.name, &spec.template, &spec.fallback, &spec.filename, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken(&spec.name)))?;
        if before.template != spec.template || before.fallback != spec.fallback {
            placements_due(&tx, owner, "d.path_template_id = $2", id).await?;
        }
        let out = load_template(&tx, owner, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn delete_path_template(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        template_owned(&tx, owner, id).await?;
        exec(&tx, "DELETE FROM path_templates WHERE id = $1", &[&id]).await?;
        Self::commit(tx, &[], false).await
    }

    async fn set_type_path_template(&self, owner: Id, type_id: Id, template: Option<Id>) -> DomainResult<Option<Id>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let Some(r) =
            query_opt(&tx, "SELECT path_template_id FROM document_types WHERE id = $1 AND owner_id = $2 FOR UPDATE", &[&type_id, &owner])
                .await?
        else {
            return Err(DomainError::not_found(format!("document type {type_id}")));
        };
        let old: Option<Id> = col(&r, 0)?;
        if let Some(t) = template {
            template_owned(&tx, owner, t).await?;
        }
        if old == template {
            return Ok(None);
        }
        exec(&tx, "UPDATE document_types SET path_template_id = $2 WHERE id = $1", &[&type_id, &template]).await?;
        let mut job = None;
        if let Some(t) = template {
            // The type's documents without a template of their own take the new one.
            let rows = query(
                &tx,
                "SELECT id FROM documents WHERE owner_id = $1 AND document_type_id = $2 AND trashed_at IS NULL \
                 AND (path_template_id IS NULL OR path_template_id = $3) ORDER BY id",
                &[&owner, &type_id, &old],
            )
            .await?;
            let docs = rows.iter().map(|r| col(r, 0)).collect::<DomainResult<Vec<Id>>>()?;
            if !docs.is_empty() {
                let edit = crate::domain::bulk::BulkEdit { path_template_id: Some(Some(t)), ..Default::default() };
                job = insert_job(&tx, &NewJob::bulk_edit(owner, docs, edit), now_millis()).await?;
            }
        }
        Self::commit(tx, &[], job.is_some()).await?;
        Ok(job)
    }

    async fn place_due(&self, owner: Id, limit: usize, lease: &Lease) -> DomainResult<Option<PlaceBatch>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let ours = exec(
            &tx,
            "UPDATE jobs SET updated_at = $4 WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
            &[&lease.job_id, &lease.worker_id, &lease.seq, &now_millis()],
        )
        .await?;
        if ours == 0 {
            return Ok(None);
        }
        // Documents locked in id order (as every multi-document change locks them).
        let due = query(
            &tx,
            "SELECT p.document_id, p.stamp FROM placements_due p JOIN documents d ON d.id = p.document_id \
             WHERE p.owner_id = $1 ORDER BY p.document_id LIMIT $2 FOR UPDATE OF d",
            &[&owner, &(limit as i64)],
        )
        .await?;
        let mut batch = PlaceBatch { seen: due.len(), ..PlaceBatch::default() };
        let mut events = Vec::new();
        if !due.is_empty() {
            let home: Id = match query_opt(&tx, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'home'", &[&owner]).await? {
                Some(r) => col(&r, 0)?,
                None => return Err(DomainError::not_found(format!("home folder of user {owner}"))),
            };
            let fields = owner_fields(&tx, owner).await?;
            let mut templates: HashMap<Id, Option<Placer>> = HashMap::new();
            let mut known = HashMap::new();
            for r in &due {
                let (doc_id, stamp): (Id, i64) = (col(r, 0)?, col(r, 1)?);
                exec(&tx, "DELETE FROM placements_due WHERE document_id = $1 AND stamp = $2", &[&doc_id, &stamp]).await?;
                let doc = match load_document(&tx, owner, doc_id).await {
                    Ok(d) if d.trashed_at.is_none() => d,
                    Ok(_) | Err(DomainError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let Some(tid) = doc.meta.path_template.as_ref().map(|l| l.id) else { continue };
                if let std::collections::hash_map::Entry::Vacant(e) = templates.entry(tid) {
                    e.insert(load_template(&tx, owner, tid).await.ok().and_then(Placer::new));
                }
                let Some(placer) = templates.get(&tid).and_then(Option::as_ref) else { continue };
                let names = placer.folders(&Subject { doc: &doc, fields: &fields });
                let folder = folder_at(&tx, owner, home, &names, &mut known, &mut events).await?;
                if folder == doc.folder_id {
                    continue;
                }
                edit_document(&tx, &doc, &Placer::patch(folder), (&[], &[]), &placer.placed_by(&names), &mut events).await?;
                prune(&tx, owner, doc.folder_id, &mut known, &mut events).await?;
                batch.moved += 1;
            }
        }
        let more = query_one(&tx, "SELECT EXISTS (SELECT 1 FROM placements_due WHERE owner_id = $1)", &[&owner]).await?;
        batch.more = col(&more, 0)?;
        Self::commit(tx, &events, false).await?;
        Ok(Some(batch))
    }
}
