//! Correspondents, document types, custom fields, notes, ASNs and history.

use super::*;
use crate::domain::metadata::{FieldDef, FieldKind, HistoryEntry, Label, NewHistory, Note, SelectOption, actions};
use crate::domain::views::{SavedView, ViewSpec};

const FIELD_COLS: &str = "f.id, f.owner_id, f.name, f.kind, f.currency, f.options, f.created_at, \
     (SELECT COUNT(*) FROM document_fields df WHERE df.field_id = f.id)";

fn field_from(r: &Row<'_>) -> rusqlite::Result<FieldDef> {
    let options: String = r.get(5)?;
    Ok(FieldDef {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        name: r.get(2)?,
        kind: FieldKind::parse(&r.get::<_, String>(3)?).unwrap_or(FieldKind::Text),
        currency: r.get(4)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        created_at: r.get(6)?,
        document_count: r.get(7)?,
    })
}

pub(super) fn load_field(conn: &Connection, owner: Id, id: Id) -> DomainResult<FieldDef> {
    conn.prepare_cached(&format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.id = ?1 AND f.owner_id = ?2"))?
        .query_row(params![id, owner], field_from)
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("custom field {id}")))
}

/// The owner's correspondents, document types and fields: what a search's metadata filters
/// name (small tables, read whole).
pub(super) fn vocabulary(c: &Connection, owner: Id) -> DomainResult<(Vec<Label>, Vec<Label>, Vec<FieldDef>)> {
    let mut labels = Vec::with_capacity(2);
    for kind in [LabelKind::Correspondent, LabelKind::DocumentType] {
        labels.push(
            c.prepare_cached(&format!("SELECT l.id, l.owner_id, l.name, l.color, 0, NULL FROM {} l WHERE l.owner_id = ?1", kind.table()))?
                .query_map(params![owner], |r| label_from(r, kind))?
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    let fields = c
        .prepare_cached(&format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = ?1"))?
        .query_map(params![owner], field_from)?
        .collect::<Result<Vec<_>, _>>()?;
    let types = labels.pop().unwrap_or_default();
    Ok((labels.pop().unwrap_or_default(), types, fields))
}

/// NotFound unless the template is the owner's.
pub(super) fn template_owned(c: &Connection, owner: Id, id: Id) -> DomainResult<()> {
    let found: Option<Id> = c
        .prepare_cached("SELECT id FROM path_templates WHERE id = ?1 AND owner_id = ?2")?
        .query_row(params![id, owner], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| DomainError::not_found(format!("path template {id}")))
}

/// The owner's field definitions (a path template reads select labels from them).
pub(super) fn owner_fields(c: &Connection, owner: Id) -> DomainResult<Vec<FieldDef>> {
    let out = c
        .prepare_cached(&format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = ?1"))?
        .query_map(params![owner], field_from)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(out)
}

fn label_owned(conn: &Connection, owner: Id, kind: LabelKind, id: Id) -> DomainResult<()> {
    let found: Option<Id> = conn
        .prepare_cached(&format!("SELECT id FROM {} WHERE id = ?1 AND owner_id = ?2", kind.table()))?
        .query_row(params![id, owner], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| DomainError::not_found(format!("{} {id}", kind.noun())))
}

/// Labels of one kind with their live document counts (add the WHERE clause).
fn label_select(kind: LabelKind) -> String {
    format!(
        "SELECT l.id, l.owner_id, l.name, l.color, (SELECT COUNT(*) FROM documents d WHERE d.owner_id = l.owner_id AND d.{col} = l.id AND d.trashed_at IS NULL), {template} FROM {table} l",
        col = kind.column(),
        table = kind.table(),
        template = if kind == LabelKind::DocumentType { "l.path_template_id" } else { "NULL" }
    )
}

fn label_from(r: &Row<'_>, kind: LabelKind) -> rusqlite::Result<Label> {
    Ok(Label {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        kind,
        name: r.get(2)?,
        color: r.get(3)?,
        document_count: r.get(4)?,
        default_fields: vec![],
        path_template_id: r.get(5)?,
    })
}

fn load_label(conn: &Connection, owner: Id, kind: LabelKind, id: Id) -> DomainResult<Label> {
    let mut label = conn
        .prepare_cached(&format!("{} WHERE l.id = ?1 AND l.owner_id = ?2", label_select(kind)))?
        .query_row(params![id, owner], |r| label_from(r, kind))
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("{} {id}", kind.noun())))?;
    if kind == LabelKind::DocumentType {
        label.default_fields = type_fields(conn, id)?;
    }
    Ok(label)
}

fn type_fields(conn: &Connection, type_id: Id) -> DomainResult<Vec<Id>> {
    let ids = conn
        .prepare_cached("SELECT field_id FROM document_type_fields WHERE document_type_id = ?1 ORDER BY position")?
        .query_map(params![type_id], |r| r.get(0))?
        .collect::<Result<Vec<Id>, _>>()?;
    Ok(ids)
}

fn set_type_fields(tx: &WriteTx<'_>, owner: Id, type_id: Id, fields: &[Id]) -> DomainResult<()> {
    for f in fields {
        load_field(tx, owner, *f)?;
    }
    tx.execute("DELETE FROM document_type_fields WHERE document_type_id = ?1", params![type_id])?;
    for (i, f) in fields.iter().enumerate() {
        tx.execute(
            "INSERT OR IGNORE INTO document_type_fields (document_type_id, field_id, position) VALUES (?1, ?2, ?3)",
            params![type_id, f, i as i64],
        )?;
    }
    Ok(())
}

fn name_taken(kind: &str, name: &str) -> DomainError {
    DomainError::Conflict(format!("a {kind} named {name:?} already exists"))
}

/// The metadata part of a document patch (title, folder and tags are the caller's), in the
/// caller's transaction; `doc` is the document as it was before.
pub(super) fn apply_patch(tx: &WriteTx<'_>, doc: &Document, patch: &DocumentPatch) -> DomainResult<()> {
    let (owner, id) = (doc.owner_id, doc.id);
    // The type and template before the patch: a new type may bring its path template.
    let old_type = doc.meta.document_type.as_ref().map(|l| l.id);
    let current_template = doc.meta.path_template.as_ref().map(|l| l.id);
    if let Some(c) = patch.correspondent_id {
        if let Some(c) = c {
            label_owned(tx, owner, LabelKind::Correspondent, c)?;
        }
        tx.execute("UPDATE documents SET correspondent_id = ?2 WHERE id = ?1", params![id, c])?;
    }
    if let Some(t) = patch.document_type_id {
        if let Some(t) = t {
            label_owned(tx, owner, LabelKind::DocumentType, t)?;
            tx.execute(
                "INSERT OR IGNORE INTO document_fields (document_id, field_id) SELECT ?1, field_id FROM document_type_fields WHERE document_type_id = ?2",
                params![id, t],
            )?;
        }
        tx.execute("UPDATE documents SET document_type_id = ?2 WHERE id = ?1", params![id, t])?;
    }
    let template = match patch.path_template_id {
        Some(t) => {
            if let Some(t) = t {
                template_owned(tx, owner, t)?;
            }
            t
        }
        None => match patch.document_type_id {
            Some(new_type) if new_type != old_type => {
                let of_type = |t: Option<Id>| -> DomainResult<Option<Id>> {
                    let Some(t) = t else { return Ok(None) };
                    Ok(tx
                        .prepare_cached("SELECT path_template_id FROM document_types WHERE id = ?1")?
                        .query_row(params![t], |r| r.get::<_, Option<Id>>(0))
                        .optional()?
                        .flatten())
                };
                crate::domain::path_templates::after_type_change(current_template, of_type(old_type)?, of_type(new_type)?)
            }
            _ => current_template,
        },
    };
    if template != current_template {
        tx.execute("UPDATE documents SET path_template_id = ?2 WHERE id = ?1", params![id, template])?;
    }
    if let Some(date) = patch.date {
        let iso = date.map(|d| d.format("%Y-%m-%d").to_string());
        let source = date.map(|_| metadata::DATE_BY_USER);
        tx.execute("UPDATE documents SET document_date = ?2, date_source = ?3 WHERE id = ?1", params![id, iso, source])?;
    }
    if let Some(asn) = patch.asn {
        match tx.execute("UPDATE documents SET asn = ?2 WHERE id = ?1", params![id, asn]) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::Conflict(format!(
                    "the archive serial number {} is already used by another document",
                    asn.unwrap_or(0)
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (field_id, value) in &patch.fields {
        let def = load_field(tx, owner, *field_id)?;
        let stored = metadata::validate_value(&def, value)?;
        for link in &stored.links {
            if *link == id {
                return Err(DomainError::Invalid(format!("field {:?}: a document cannot link to itself", def.name)));
            }
            let found: Option<Id> = tx
                .prepare_cached("SELECT id FROM documents WHERE id = ?1 AND owner_id = ?2")?
                .query_row(params![link, owner], |r| r.get(0))
                .optional()?;
            if found.is_none() {
                return Err(DomainError::not_found(format!("field {:?}: document {link}", def.name)));
            }
        }
        tx.prepare_cached(
            "INSERT INTO document_fields (document_id, field_id, value, num, txt) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (document_id, field_id) DO UPDATE SET value = excluded.value, num = excluded.num, txt = excluded.txt",
        )?
        .execute(params![id, field_id, stored.value, stored.num, stored.txt])?;
    }
    for field_id in &patch.remove_fields {
        load_field(tx, owner, *field_id)?;
        tx.execute("DELETE FROM document_fields WHERE document_id = ?1 AND field_id = ?2", params![id, field_id])?;
    }
    Ok(())
}

fn note_from(r: &Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        id: r.get(0)?,
        document_id: r.get(1)?,
        author_id: r.get(2)?,
        author_name: r.get(3)?,
        body: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const NOTE_COLS: &str = "n.id, n.document_id, n.author_id, u.username, n.body, n.created_at, n.updated_at";

fn load_note(conn: &Connection, document_id: Id, note_id: Id) -> DomainResult<Note> {
    conn.prepare_cached(&format!(
        "SELECT {NOTE_COLS} FROM notes n LEFT JOIN users u ON u.id = n.author_id WHERE n.id = ?1 AND n.document_id = ?2"
    ))?
    .query_row(params![note_id, document_id], note_from)
    .optional()?
    .ok_or_else(|| DomainError::not_found(format!("note {note_id}")))
}

/// The note, when `author` may change it: Forbidden for someone else's note.
fn own_note(tx: &WriteTx<'_>, owner: Id, document_id: Id, note_id: Id, author: Id) -> DomainResult<(Document, Note)> {
    let doc = load_document(tx, owner, document_id)?;
    let note = load_note(tx, document_id, note_id)?;
    if note.author_id != Some(author) {
        return Err(DomainError::Forbidden("only its author can change a note".into()));
    }
    Ok((doc, note))
}

pub(super) fn note_changed(tx: &WriteTx<'_>, doc: &Document, history: NewHistory) -> DomainResult<()> {
    title_index_update(tx, doc.id, &doc.title)?;
    tx.execute("UPDATE documents SET updated_at = ?2 WHERE id = ?1", params![doc.id, now_millis()])?;
    write_history(tx, &history)?;
    tx.emit(&NewEvent::document(doc.owner_id, doc.id, EventData::DocumentUpdated(DocumentUpdated::default())))
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn labels(&self, owner: Id, kind: LabelKind) -> DomainResult<Vec<Label>> {
        self.read(move |c| {
            let mut labels = c
                .prepare_cached(&format!("{} WHERE l.owner_id = ?1 ORDER BY l.name COLLATE NOCASE", label_select(kind)))?
                .query_map(params![owner], |r| label_from(r, kind))?
                .collect::<Result<Vec<_>, _>>()?;
            if kind == LabelKind::DocumentType {
                for l in labels.iter_mut() {
                    l.default_fields = type_fields(c, l.id)?;
                }
            }
            Ok(labels)
        })
        .await
    }

    async fn create_label(
        &self,
        owner: Id,
        kind: LabelKind,
        name: &str,
        color: Option<&str>,
        default_fields: &[Id],
    ) -> DomainResult<Label> {
        let (name, color, fields) = (name.to_string(), color.map(str::to_string), default_fields.to_vec());
        self.write(move |tx| {
            let sql = format!("INSERT INTO {} (owner_id, name, color, created_at) VALUES (?1, ?2, ?3, ?4)", kind.table());
            match tx.execute(&sql, params![owner, name, color, now_millis()]) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken(kind.noun(), &name)),
                Err(e) => return Err(e.into()),
            }
            let id = tx.last_insert_rowid();
            if kind == LabelKind::DocumentType {
                set_type_fields(tx, owner, id, &fields)?;
            }
            load_label(tx, owner, kind, id)
        })
        .await
    }

    async fn update_label(
        &self,
        owner: Id,
        kind: LabelKind,
        id: Id,
        name: Option<&str>,
        color: Option<Option<&str>>,
        default_fields: Option<&[Id]>,
    ) -> DomainResult<Label> {
        let (name, color, fields) = (name.map(str::to_string), color.map(|c| c.map(str::to_string)), default_fields.map(<[Id]>::to_vec));
        self.write(move |tx| {
            label_owned(tx, owner, kind, id)?;
            if let Some(n) = &name {
                match tx.execute(&format!("UPDATE {} SET name = ?2 WHERE id = ?1", kind.table()), params![id, n]) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(name_taken(kind.noun(), n)),
                    Err(e) => return Err(e.into()),
                }
                // Documents filed under the old name by a path template move.
                placements_due(tx, owner, &format!("d.{} = ?2", kind.column()), id)?;
            }
            if let Some(c) = &color {
                tx.execute(&format!("UPDATE {} SET color = ?2 WHERE id = ?1", kind.table()), params![id, c])?;
            }
            if let Some(f) = &fields {
                if kind != LabelKind::DocumentType {
                    return Err(DomainError::Invalid("only document types have default fields".into()));
                }
                set_type_fields(tx, owner, id, f)?;
            }
            load_label(tx, owner, kind, id)
        })
        .await
    }

    async fn delete_label(&self, owner: Id, kind: LabelKind, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let label = load_label(tx, owner, kind, id)?;
            let docs: Vec<Id> = tx
                .prepare(&format!("SELECT id FROM documents WHERE {} = ?1", kind.column()))?
                .query_map(params![id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for d in docs {
                write_history(
                    tx,
                    &NewHistory {
                        document_id: d,
                        actor_id: Some(owner),
                        action: actions::EDITED,
                        changes: serde_json::json!({ kind_key(kind): [label.name, null] }),
                    },
                )?;
                tx.emit(&NewEvent::document(owner, d, EventData::DocumentUpdated(DocumentUpdated::default())))?;
            }
            placements_due(tx, owner, &format!("d.{} = ?2", kind.column()), id)?;
            tx.execute(&format!("DELETE FROM {} WHERE id = ?1", kind.table()), params![id])?;
            Ok(())
        })
        .await
    }

    async fn merge_labels(&self, owner: Id, kind: LabelKind, from: Id, into: Id) -> DomainResult<Label> {
        self.write(move |tx| {
            let (a, b) = (load_label(tx, owner, kind, from)?, load_label(tx, owner, kind, into)?);
            if from == into {
                return Err(DomainError::Invalid(format!("a {} cannot be merged into itself", kind.noun())));
            }
            let docs: Vec<Id> = tx
                .prepare(&format!("SELECT id FROM documents WHERE {} = ?1", kind.column()))?
                .query_map(params![from], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            placements_due(tx, owner, &format!("d.{} = ?2", kind.column()), from)?;
            let now = now_millis();
            for d in &docs {
                tx.execute(&format!("UPDATE documents SET {} = ?2, updated_at = ?3 WHERE id = ?1", kind.column()), params![d, into, now])?;
                if kind == LabelKind::DocumentType {
                    tx.execute(
                        "INSERT OR IGNORE INTO document_fields (document_id, field_id) SELECT ?1, field_id FROM document_type_fields WHERE document_type_id = ?2",
                        params![d, into],
                    )?;
                }
                write_history(
                    tx,
                    &NewHistory {
                        document_id: *d,
                        actor_id: Some(owner),
                        action: actions::EDITED,
                        changes: serde_json::json!({ kind_key(kind): [a.name, b.name] }),
                    },
                )?;
                tx.emit(&NewEvent::document(owner, *d, EventData::DocumentUpdated(DocumentUpdated::default())))?;
            }
            tx.execute(&format!("DELETE FROM {} WHERE id = ?1", kind.table()), params![from])?;
            load_label(tx, owner, kind, into)
        })
        .await
    }

    async fn fields(&self, owner: Id) -> DomainResult<Vec<FieldDef>> {
        self.read(move |c| {
            let out = c
                .prepare_cached(&format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = ?1 ORDER BY f.name COLLATE NOCASE"))?
                .query_map(params![owner], field_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn field(&self, owner: Id, id: Id) -> DomainResult<FieldDef> {
        self.read(move |c| load_field(c, owner, id)).await
    }

    async fn create_field(
        &self,
        owner: Id,
        name: &str,
        kind: FieldKind,
        currency: Option<&str>,
        options: &[SelectOption],
    ) -> DomainResult<FieldDef> {
        let (name, currency) = (name.to_string(), currency.map(str::to_string));
        let options = serde_json::to_string(options).map_err(|e| DomainError::database(e.to_string()))?;
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO custom_fields (owner_id, name, kind, currency, options, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![owner, name, kind.as_str(), currency, options, now_millis()],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken("field", &name)),
                Err(e) => return Err(e.into()),
            }
            load_field(tx, owner, tx.last_insert_rowid())
        })
        .await
    }

    async fn update_field(
        &self,
        owner: Id,
        id: Id,
        name: Option<&str>,
        currency: Option<Option<&str>>,
        options: Option<&[SelectOption]>,
    ) -> DomainResult<FieldDef> {
        let (name, currency, options) =
            (name.map(str::to_string), currency.map(|c| c.map(str::to_string)), options.map(<[SelectOption]>::to_vec));
        self.write(move |tx| {
            let def = load_field(tx, owner, id)?;
            if let Some(n) = &name {
                match tx.execute("UPDATE custom_fields SET name = ?2 WHERE id = ?1", params![id, n]) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(name_taken("field", n)),
                    Err(e) => return Err(e.into()),
                }
                // Path templates name fields: they follow the rename.
                let templates: Vec<(Id, String, Option<String>)> = tx
                    .prepare_cached("SELECT id, template, filename FROM path_templates WHERE owner_id = ?1")?
                    .query_map(params![owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                for (tid, template, filename) in templates {
                    let t = crate::domain::path_templates::rename_field(&template, &def.name, n);
                    let f = filename.as_deref().and_then(|f| crate::domain::path_templates::rename_field(f, &def.name, n));
                    if t.is_some() || f.is_some() {
                        tx.execute(
                            "UPDATE path_templates SET template = ?2, filename = ?3, updated_at = ?4 WHERE id = ?1",
                            params![tid, t.unwrap_or(template), f.or(filename), now_millis()],
                        )?;
                    }
                }
            }
            if let Some(c) = &currency {
                tx.execute("UPDATE custom_fields SET currency = ?2 WHERE id = ?1", params![id, c])?;
            }
            if let Some(opts) = &options {
                if def.kind != FieldKind::Select {
                    return Err(DomainError::Invalid(format!("field {:?} is not a select field; it has no options", def.name)));
                }
                let json = serde_json::to_string(opts).map_err(|e| DomainError::database(e.to_string()))?;
                tx.execute("UPDATE custom_fields SET options = ?2 WHERE id = ?1", params![id, json])?;
                // A renamed option may name a folder.
                placements_due(
                    tx,
                    owner,
                    "EXISTS (SELECT 1 FROM document_fields df WHERE df.document_id = d.id AND df.field_id = ?2)",
                    id,
                )?;
                // Values naming an option that is gone are emptied (the field stays on the document).
                for gone in def.options.iter().filter(|o| !opts.iter().any(|n| n.id == o.id)) {
                    tx.execute(
                        "UPDATE document_fields SET value = NULL, num = NULL, txt = NULL WHERE field_id = ?1 AND txt = ?2",
                        params![id, gone.id],
                    )?;
                }
            }
            load_field(tx, owner, id)
        })
        .await
    }

    async fn delete_field(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            load_field(tx, owner, id)?;
            placements_due(tx, owner, "EXISTS (SELECT 1 FROM document_fields df WHERE df.document_id = d.id AND df.field_id = ?2)", id)?;
            tx.execute("DELETE FROM custom_fields WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn next_asn(&self, owner: Id) -> DomainResult<i64> {
        self.read(move |c| {
            let max: Option<i64> = c
                .prepare_cached("SELECT MAX(asn) FROM documents WHERE owner_id = ?1 AND asn IS NOT NULL")?
                .query_row(params![owner], |r| r.get(0))?;
            Ok(max.map(|m| m + 1).unwrap_or(1))
        })
        .await
    }

    async fn notes(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Note>> {
        self.read(move |c| {
            load_document(c, owner, document_id)?;
            let out = c
                .prepare_cached(&format!(
                    "SELECT {NOTE_COLS} FROM notes n LEFT JOIN users u ON u.id = n.author_id WHERE n.document_id = ?1 ORDER BY n.created_at, n.id"
                ))?
                .query_map(params![document_id], note_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn add_note(&self, owner: Id, document_id: Id, author: Id, body: &str) -> DomainResult<Note> {
        let body = body.to_string();
        self.write(move |tx| {
            let doc = load_document(tx, owner, document_id)?;
            let now = now_millis();
            tx.execute(
                "INSERT INTO notes (document_id, author_id, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![document_id, author, body, now],
            )?;
            let id = tx.last_insert_rowid();
            note_changed(
                tx,
                &doc,
                NewHistory {
                    document_id,
                    actor_id: Some(author),
                    action: actions::NOTE_ADDED,
                    changes: serde_json::json!({"note": id, "text": body}),
                },
            )?;
            load_note(tx, document_id, id)
        })
        .await
    }

    async fn update_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id, body: &str) -> DomainResult<Note> {
        let body = body.to_string();
        self.write(move |tx| {
            let (doc, before) = own_note(tx, owner, document_id, note_id, author)?;
            tx.execute("UPDATE notes SET body = ?2, updated_at = ?3 WHERE id = ?1", params![note_id, body, now_millis()])?;
            note_changed(
                tx,
                &doc,
                NewHistory {
                    document_id,
                    actor_id: Some(author),
                    action: actions::NOTE_EDITED,
                    changes: serde_json::json!({"note": note_id, "text": [before.body, body]}),
                },
            )?;
            load_note(tx, document_id, note_id)
        })
        .await
    }

    async fn delete_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let (doc, before) = own_note(tx, owner, document_id, note_id, author)?;
            tx.execute("DELETE FROM notes WHERE id = ?1", params![note_id])?;
            note_changed(
                tx,
                &doc,
                NewHistory {
                    document_id,
                    actor_id: Some(author),
                    action: actions::NOTE_DELETED,
                    changes: serde_json::json!({"note": note_id, "text": before.body}),
                },
            )
        })
        .await
    }

    async fn views(&self, owner: Id) -> DomainResult<Vec<SavedView>> {
        self.read(move |c| {
            let out = c
                .prepare_cached(&format!(
                    "SELECT {VIEW_COLS} FROM saved_views WHERE owner_id = ?1 ORDER BY position, name COLLATE NOCASE, id"
                ))?
                .query_map(params![owner], view_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn view(&self, owner: Id, id: Id) -> DomainResult<SavedView> {
        self.read(move |c| load_view(c, owner, id)).await
    }

    async fn create_view(&self, owner: Id, spec: &ViewSpec) -> DomainResult<SavedView> {
        let spec = spec.clone();
        let columns = serde_json::to_string(&spec.columns).map_err(|e| DomainError::database(e.to_string()))?;
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO saved_views (owner_id, name, query, sort, columns, on_dashboard, in_sidebar, position, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![owner, spec.name, spec.query, spec.sort, columns, spec.on_dashboard, spec.in_sidebar, spec.position, now_millis()],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken("view", &spec.name)),
                Err(e) => return Err(e.into()),
            }
            load_view(tx, owner, tx.last_insert_rowid())
        })
        .await
    }

    async fn update_view(&self, owner: Id, id: Id, spec: &ViewSpec) -> DomainResult<SavedView> {
        let spec = spec.clone();
        let columns = serde_json::to_string(&spec.columns).map_err(|e| DomainError::database(e.to_string()))?;
        self.write(move |tx| {
            load_view(tx, owner, id)?;
            match tx.execute(
                "UPDATE saved_views SET name = ?2, query = ?3, sort = ?4, columns = ?5, on_dashboard = ?6, in_sidebar = ?7, position = ?8 WHERE id = ?1",
                params![id, spec.name, spec.query, spec.sort, columns, spec.on_dashboard, spec.in_sidebar, spec.position],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(name_taken("view", &spec.name)),
                Err(e) => return Err(e.into()),
            }
            load_view(tx, owner, id)
        })
        .await
    }

    async fn delete_view(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            if tx.execute("DELETE FROM saved_views WHERE id = ?1 AND owner_id = ?2", params![id, owner])? == 0 {
                return Err(DomainError::not_found(format!("view {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn history(&self, owner: Id, document_id: Id, page: PageReq) -> DomainResult<Paged<HistoryEntry>> {
        self.read(move |c| {
            load_document(c, owner, document_id)?;
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM document_history WHERE document_id = ?1")?
                .query_row(params![document_id], |r| r.get(0))?;
            let items = c
                .prepare_cached(
                    "SELECT h.id, h.document_id, h.actor_id, u.username, h.action, h.changes, h.at FROM document_history h \
                     LEFT JOIN users u ON u.id = h.actor_id WHERE h.document_id = ?1 ORDER BY h.id DESC LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![document_id, page.limit(), page.offset()], |r| {
                    Ok(HistoryEntry {
                        id: r.get(0)?,
                        document_id: r.get(1)?,
                        actor_id: r.get(2)?,
                        actor_name: r.get(3)?,
                        action: r.get(4)?,
                        changes: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(serde_json::Value::Null),
                        at: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size })
        })
        .await
    }
}

const VIEW_COLS: &str = "id, owner_id, name, query, sort, columns, on_dashboard, in_sidebar, position, created_at";

fn view_from(r: &Row<'_>) -> rusqlite::Result<SavedView> {
    Ok(SavedView {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        name: r.get(2)?,
        query: r.get(3)?,
        sort: r.get(4)?,
        columns: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        on_dashboard: r.get(6)?,
        in_sidebar: r.get(7)?,
        position: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn load_view(c: &Connection, owner: Id, id: Id) -> DomainResult<SavedView> {
    c.prepare_cached(&format!("SELECT {VIEW_COLS} FROM saved_views WHERE id = ?1 AND owner_id = ?2"))?
        .query_row(params![id, owner], view_from)
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("view {id}")))
}

/// The key a label change has in a history entry.
fn kind_key(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Correspondent => "correspondent",
        LabelKind::DocumentType => "document_type",
    }
}
