//! Path templates and placing documents by them (#23).

use super::documents::edit_document;
use super::metadata_store::{owner_fields, template_owned};
use super::*;
use crate::domain::path_templates::{PathTemplate, Placer, Subject, TemplateSpec};

const TEMPLATE_COLS: &str = "t.id, t.owner_id, t.name, t.template, t.fallback, t.filename, \
     (SELECT COUNT(*) FROM documents d WHERE d.path_template_id = t.id AND d.trashed_at IS NULL), t.created_at, t.updated_at";

fn template_from(r: &Row<'_>) -> rusqlite::Result<PathTemplate> {
    Ok(PathTemplate {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        name: r.get(2)?,
        template: r.get(3)?,
        fallback: r.get(4)?,
        filename: r.get(5)?,
        document_count: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn load_template(c: &Connection, owner: Id, id: Id) -> DomainResult<PathTemplate> {
    c.prepare_cached(&format!("SELECT {TEMPLATE_COLS} FROM path_templates t WHERE t.id = ?1 AND t.owner_id = ?2"))?
        .query_row(params![id, owner], template_from)
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("path template {id}")))
}

fn name_taken(name: &str) -> DomainError {
    DomainError::Conflict(format!("a path template named {name:?} already exists"))
}

/// The folder at `names` below `home`, made (with its parents) where missing; `known` keeps
/// the folders found or made earlier in the same transaction.
fn folder_at(tx: &WriteTx<'_>, owner: Id, home: Id, names: &[String], known: &mut HashMap<(Id, String), Id>) -> DomainResult<Id> {
    let mut parent = home;
    for name in names {
        if let Some(id) = known.get(&(parent, name.clone())) {
            parent = *id;
            continue;
        }
        let above = parent;
        let found: Option<Id> = tx
            .prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND parent_id = ?2 AND name = ?3 AND trashed_at IS NULL")?
            .query_row(params![owner, parent, name], |r| r.get(0))
            .optional()?;
        parent = match found {
            Some(id) => id,
            None => {
                let now = now_millis();
                tx.prepare_cached(
                    "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES (?1, ?2, ?3, 'folder', ?4, ?4)",
                )?
                .execute(params![owner, parent, name, now])?;
                let id = tx.last_insert_rowid();
                tx.prepare_cached("INSERT INTO template_folders (folder_id) VALUES (?1)")?.execute(params![id])?;
                emit(tx, &NewEvent::folder(owner, id, EventData::FolderCreated { parent_id: parent, name: name.clone() }))?;
                id
            }
        };
        known.insert((above, name.clone()), parent);
    }
    Ok(parent)
}

/// Deletes `folder` if a path template made it and it holds nothing now (no document, not even
/// in the trash, no folder, no tag), then its parent on the same terms.
fn prune(tx: &WriteTx<'_>, owner: Id, mut folder: Id, known: &mut HashMap<(Id, String), Id>) -> DomainResult<()> {
    loop {
        let empty: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM template_folders WHERE folder_id = ?1) \
                 AND NOT EXISTS (SELECT 1 FROM documents WHERE folder_id = ?1) \
                 AND NOT EXISTS (SELECT 1 FROM folders WHERE parent_id = ?1) \
                 AND NOT EXISTS (SELECT 1 FROM folder_tags WHERE folder_id = ?1)",
            )?
            .query_row(params![folder], |r| r.get(0))?;
        if !empty {
            return Ok(());
        }
        let parent: Option<Id> = tx
            .prepare_cached("SELECT parent_id FROM folders WHERE id = ?1 AND owner_id = ?2")?
            .query_row(params![folder, owner], |r| r.get(0))?;
        tx.prepare_cached("DELETE FROM folders WHERE id = ?1")?.execute(params![folder])?;
        emit(tx, &NewEvent::folder(owner, folder, EventData::FolderDeleted {}))?;
        known.retain(|_, id| *id != folder);
        let Some(p) = parent else { return Ok(()) };
        folder = p;
    }
}

#[async_trait]
impl PathTemplateStore for SqliteStore {
    async fn path_templates(&self, owner: Id) -> DomainResult<Vec<PathTemplate>> {
        self.read(move |c| {
            let out = c
                .prepare_cached(&format!(
                    "SELECT {TEMPLATE_COLS} FROM path_templates t WHERE t.owner_id = ?1 ORDER BY t.name COLLATE NOCASE, t.id"
                ))?
                .query_map(params![owner], template_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn path_template(&self, owner: Id, id: Id) -> DomainResult<PathTemplate> {
        self.read(move |c| load_template(c, owner, id)).await
    }

    async fn create_path_template(&self, owner: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate> {
        let spec = spec.clone();
        self.write(move |tx| {
            let now = now_millis();
            match tx.execute(
                "INSERT INTO path_templates (owner_id, name, template, fallback, filename, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![owner, spec.name, spec.template, spec.fallback, spec.filename, now],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken(&spec.name)),
                Err(e) => return Err(e.into()),
            }
            load_template(tx, owner, tx.last_insert_rowid())
        })
        .await
    }

    async fn update_path_template(&self, owner: Id, id: Id, spec: &TemplateSpec) -> DomainResult<PathTemplate> {
        let spec = spec.clone();
        self.write(move |tx| {
            let before = load_template(tx, owner, id)?;
            match tx.execute(
                "UPDATE path_templates SET name = ?3, template = ?4, fallback = ?5, filename = ?6, updated_at = ?7 WHERE id = ?1 AND owner_id = ?2",
                params![id, owner, spec.name, spec.template, spec.fallback, spec.filename, now_millis()],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken(&spec.name)),
                Err(e) => return Err(e.into()),
            }
            if before.template != spec.template || before.fallback != spec.fallback {
                placements_due(tx, owner, "d.path_template_id = ?2", id)?;
            }
            load_template(tx, owner, id)
        })
        .await
    }

    async fn delete_path_template(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            template_owned(tx, owner, id)?;
            tx.execute("DELETE FROM path_templates WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn set_type_path_template(&self, owner: Id, type_id: Id, template: Option<Id>) -> DomainResult<Option<Id>> {
        self.write(move |tx| {
            let old: Option<Option<Id>> = tx
                .prepare_cached("SELECT path_template_id FROM document_types WHERE id = ?1 AND owner_id = ?2")?
                .query_row(params![type_id, owner], |r| r.get(0))
                .optional()?;
            let Some(old) = old else { return Err(DomainError::not_found(format!("document type {type_id}"))) };
            if let Some(t) = template {
                template_owned(tx, owner, t)?;
            }
            if old == template {
                return Ok(None);
            }
            tx.execute("UPDATE document_types SET path_template_id = ?2 WHERE id = ?1", params![type_id, template])?;
            let Some(t) = template else { return Ok(None) };
            // The type's documents without a template of their own take the new one.
            let docs: Vec<Id> = tx
                .prepare_cached(
                    "SELECT id FROM documents WHERE owner_id = ?1 AND document_type_id = ?2 AND trashed_at IS NULL \
                     AND (path_template_id IS NULL OR path_template_id = ?3) ORDER BY id",
                )?
                .query_map(params![owner, type_id, old], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if docs.is_empty() {
                return Ok(None);
            }
            let edit = crate::domain::bulk::BulkEdit { path_template_id: Some(Some(t)), ..Default::default() };
            insert_job(tx, &NewJob::bulk_edit(owner, docs, edit), now_millis())
        })
        .await
    }

    async fn place_due(&self, owner: Id, limit: usize, lease: &Lease) -> DomainResult<Option<PlaceBatch>> {
        let lease = lease.clone();
        self.write(move |tx| {
            let ours = tx
                .prepare_cached(
                    "UPDATE jobs SET updated_at = ?4 WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                )?
                .execute(params![lease.job_id, lease.worker_id, lease.seq, now_millis()])?;
            if ours == 0 {
                return Ok(None);
            }
            let due: Vec<(Id, i64)> = tx
                .prepare_cached("SELECT document_id, stamp FROM placements_due WHERE owner_id = ?1 ORDER BY document_id LIMIT ?2")?
                .query_map(params![owner, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut batch = PlaceBatch { seen: due.len(), ..PlaceBatch::default() };
            if !due.is_empty() {
                let home: Id = tx
                    .prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'home'")?
                    .query_row(params![owner], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| DomainError::not_found(format!("home folder of user {owner}")))?;
                let fields = owner_fields(tx, owner)?;
                let mut templates: HashMap<Id, Option<Placer>> = HashMap::new();
                let mut known = HashMap::new();
                for (doc_id, stamp) in due {
                    tx.prepare_cached("DELETE FROM placements_due WHERE document_id = ?1 AND stamp = ?2")?
                        .execute(params![doc_id, stamp])?;
                    let doc = match load_document(tx, owner, doc_id) {
                        Ok(d) if d.trashed_at.is_none() => d,
                        Ok(_) | Err(DomainError::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    let Some(tid) = doc.meta.path_template.as_ref().map(|l| l.id) else { continue };
                    if let std::collections::hash_map::Entry::Vacant(e) = templates.entry(tid) {
                        e.insert(load_template(tx, owner, tid).ok().and_then(Placer::new));
                    }
                    let Some(placer) = templates.get(&tid).and_then(Option::as_ref) else { continue };
                    let names = placer.folders(&Subject { doc: &doc, fields: &fields });
                    let folder = folder_at(tx, owner, home, &names, &mut known)?;
                    if folder == doc.folder_id {
                        continue;
                    }
                    edit_document(tx, &doc, &Placer::patch(folder), (&[], &[]), &placer.placed_by(&names))?;
                    prune(tx, owner, doc.folder_id, &mut known)?;
                    batch.moved += 1;
                }
            }
            batch.more = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM placements_due WHERE owner_id = ?1)")?
                .query_row(params![owner], |r| r.get(0))?;
            Ok(Some(batch))
        })
        .await
    }
}
