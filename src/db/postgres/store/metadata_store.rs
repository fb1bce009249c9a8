//! Correspondents, document types, custom fields, notes, ASNs and history.

use super::*;
use crate::domain::metadata::{FieldDef, FieldKind, HistoryEntry, Label, NewHistory, Note, SelectOption, actions};
use crate::domain::views::{SavedView, ViewSpec};

const FIELD_COLS: &str = "f.id, f.owner_id, f.name, f.kind, f.currency, f.options, f.created_at, \
     (SELECT COUNT(*) FROM document_fields df WHERE df.field_id = f.id)";

fn field_from(r: &Row) -> DomainResult<FieldDef> {
    let options: String = col(r, 5)?;
    Ok(FieldDef {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        name: col(r, 2)?,
        kind: FieldKind::parse(&col::<String>(r, 3)?).unwrap_or(FieldKind::Text),
        currency: col(r, 4)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        created_at: col(r, 6)?,
        document_count: col(r, 7)?,
    })
}

pub(super) async fn load_field<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<FieldDef> {
    let row =
        query_opt(c, &format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.id = $1 AND f.owner_id = $2"), &[&id, &owner]).await?;
    row.as_ref().map(field_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("custom field {id}")))
}

/// The owner's correspondents, document types and fields: what a search's metadata filters
/// name (small tables, read whole).
pub(super) async fn vocabulary<C: GenericClient>(c: &C, owner: Id) -> DomainResult<(Vec<Label>, Vec<Label>, Vec<FieldDef>)> {
    let mut labels = Vec::with_capacity(2);
    for kind in [LabelKind::Correspondent, LabelKind::DocumentType] {
        let rows = query(
            c,
            &format!("SELECT l.id, l.owner_id, l.name, l.color, 0::bigint, NULL::bigint FROM {} l WHERE l.owner_id = $1", kind.table()),
            &[&owner],
        )
        .await?;
        labels.push(rows.iter().map(|r| label_from(r, kind)).collect::<DomainResult<Vec<_>>>()?);
    }
    let fields = all(query(c, &format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = $1"), &[&owner]).await?, field_from)?;
    let types = labels.pop().unwrap_or_default();
    Ok((labels.pop().unwrap_or_default(), types, fields))
}

async fn label_owned<C: GenericClient>(c: &C, owner: Id, kind: LabelKind, id: Id) -> DomainResult<()> {
    let found = query_opt(c, &format!("SELECT id FROM {} WHERE id = $1 AND owner_id = $2", kind.table()), &[&id, &owner]).await?;
    found.map(|_| ()).ok_or_else(|| DomainError::not_found(format!("{} {id}", kind.noun())))
}

fn label_select(kind: LabelKind) -> String {
    format!(
        "SELECT l.id, l.owner_id, l.name, l.color, (SELECT COUNT(*) FROM documents d WHERE d.owner_id = l.owner_id AND d.{col} = l.id AND d.trashed_at IS NULL), {template} FROM {table} l",
        col = kind.column(),
        table = kind.table(),
        template = if kind == LabelKind::DocumentType { "l.path_template_id" } else { "NULL::bigint" }
    )
}

fn label_from(r: &Row, kind: LabelKind) -> DomainResult<Label> {
    Ok(Label {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        kind,
        name: col(r, 2)?,
        color: col(r, 3)?,
        document_count: col(r, 4)?,
        default_fields: vec![],
        path_template_id: col(r, 5)?,
    })
}

async fn load_label<C: GenericClient>(c: &C, owner: Id, kind: LabelKind, id: Id) -> DomainResult<Label> {
    let row = query_opt(c, &format!("{} WHERE l.id = $1 AND l.owner_id = $2", label_select(kind)), &[&id, &owner]).await?;
    let mut label =
        row.as_ref().map(|r| label_from(r, kind)).transpose()?.ok_or_else(|| DomainError::not_found(format!("{} {id}", kind.noun())))?;
    if kind == LabelKind::DocumentType {
        label.default_fields = type_fields(c, id).await?;
    }
    Ok(label)
}

async fn type_fields<C: GenericClient>(c: &C, type_id: Id) -> DomainResult<Vec<Id>> {
    ids(query(c, "SELECT field_id FROM document_type_fields WHERE document_type_id = $1 ORDER BY position", &[&type_id]).await?)
}

async fn set_type_fields(tx: &Tx<'_>, owner: Id, type_id: Id, fields: &[Id]) -> DomainResult<()> {
    for f in fields {
        load_field(tx, owner, *f).await?;
    }
    exec(tx, "DELETE FROM document_type_fields WHERE document_type_id = $1", &[&type_id]).await?;
    for (i, f) in fields.iter().enumerate() {
        exec(
            tx,
            "INSERT INTO document_type_fields (document_type_id, field_id, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&type_id, f, &(i as i64)],
        )
        .await?;
    }
    Ok(())
}

fn name_taken(kind: &str, name: &str) -> String {
    format!("a {kind} named {name:?} already exists")
}

/// A document type's path template.
async fn type_template(tx: &Tx<'_>, type_id: Option<Id>) -> DomainResult<Option<Id>> {
    let Some(t) = type_id else { return Ok(None) };
    match query_opt(tx, "SELECT path_template_id FROM document_types WHERE id = $1", &[&t]).await? {
        Some(r) => col(&r, 0),
        None => Ok(None),
    }
}

/// NotFound unless the template is the owner's.
pub(super) async fn template_owned<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<()> {
    match query_opt(c, "SELECT id FROM path_templates WHERE id = $1 AND owner_id = $2", &[&id, &owner]).await? {
        Some(_) => Ok(()),
        None => Err(DomainError::not_found(format!("path template {id}"))),
    }
}

/// The owner's field definitions (a path template reads select labels from them).
pub(super) async fn owner_fields<C: GenericClient>(c: &C, owner: Id) -> DomainResult<Vec<FieldDef>> {
    let rows = query(c, &format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = $1"), &[&owner]).await?;
    rows.iter().map(field_from).collect()
}

/// The metadata part of a document patch (title, folder and tags are the caller's), in the
/// caller's transaction; `doc` is the document as it was before.
pub(super) async fn apply_patch(tx: &Tx<'_>, doc: &Document, patch: &DocumentPatch) -> DomainResult<()> {
    let (owner, id) = (doc.owner_id, doc.id);
    // The type and template before the patch: a new type may bring its path template.
    let old_type = doc.meta.document_type.as_ref().map(|l| l.id);
    let current_template = doc.meta.path_template.as_ref().map(|l| l.id);
    if let Some(c) = patch.correspondent_id {
        if let Some(c) = c {
            label_owned(tx, owner, LabelKind::Correspondent, c).await?;
        }
        exec(tx, "UPDATE documents SET correspondent_id = $2 WHERE id = $1", &[&id, &c]).await?;
    }
    if let Some(t) = patch.document_type_id {
        if let Some(t) = t {
            label_owned(tx, owner, LabelKind::DocumentType, t).await?;
            exec(
                tx,
                "INSERT INTO document_fields (document_id, field_id) SELECT $1, field_id FROM document_type_fields WHERE document_type_id = $2 \
                 ON CONFLICT DO NOTHING",
                &[&id, &t],
            )
            .await?;
        }
        exec(tx, "UPDATE documents SET document_type_id = $2 WHERE id = $1", &[&id, &t]).await?;
    }
    let template = match patch.path_template_id {
        Some(t) => {
            if let Some(t) = t {
                template_owned(tx, owner, t).await?;
            }
            t
        }
        None => match patch.document_type_id {
            Some(new_type) if new_type != old_type => {
                let (old_t, new_t) = (type_template(tx, old_type).await?, type_template(tx, new_type).await?);
                crate::domain::path_templates::after_type_change(current_template, old_t, new_t)
            }
            _ => current_template,
        },
    };
    if template != current_template {
        exec(tx, "UPDATE documents SET path_template_id = $2 WHERE id = $1", &[&id, &template]).await?;
    }
    if let Some(date) = patch.date {
        let iso = date.map(|d| d.format("%Y-%m-%d").to_string());
        let source = date.map(|_| metadata::DATE_BY_USER);
        exec(tx, "UPDATE documents SET document_date = $2, date_source = $3 WHERE id = $1", &[&id, &iso, &source]).await?;
    }
    if let Some(asn) = patch.asn {
        try_exec(tx, "UPDATE documents SET asn = $2 WHERE id = $1", &[&id, &asn]).await.map_err(|e| {
            conflict_or_db(e, || format!("the archive serial number {} is already used by another document", asn.unwrap_or(0)))
        })?;
    }
    for (field_id, value) in &patch.fields {
        let def = load_field(tx, owner, *field_id).await?;
        let stored = metadata::validate_value(&def, value)?;
        for link in &stored.links {
            if *link == id {
                return Err(DomainError::Invalid(format!("field {:?}: a document cannot link to itself", def.name)));
            }
            if query_opt(tx, "SELECT id FROM documents WHERE id = $1 AND owner_id = $2", &[link, &owner]).await?.is_none() {
                return Err(DomainError::not_found(format!("field {:?}: document {link}", def.name)));
            }
        }
        exec(
            tx,
            "INSERT INTO document_fields (document_id, field_id, value, num, txt) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (document_id, field_id) DO UPDATE SET value = EXCLUDED.value, num = EXCLUDED.num, txt = EXCLUDED.txt",
            &[&id, field_id, &stored.value, &stored.num, &stored.txt],
        )
        .await?;
    }
    for field_id in &patch.remove_fields {
        load_field(tx, owner, *field_id).await?;
        exec(tx, "DELETE FROM document_fields WHERE document_id = $1 AND field_id = $2", &[&id, field_id]).await?;
    }
    Ok(())
}

const NOTE_COLS: &str = "n.id, n.document_id, n.author_id, u.username, n.body, n.created_at, n.updated_at";

fn note_from(r: &Row) -> DomainResult<Note> {
    Ok(Note {
        id: col(r, 0)?,
        document_id: col(r, 1)?,
        author_id: col(r, 2)?,
        author_name: col(r, 3)?,
        body: col(r, 4)?,
        created_at: col(r, 5)?,
        updated_at: col(r, 6)?,
    })
}

async fn load_note<C: GenericClient>(c: &C, document_id: Id, note_id: Id) -> DomainResult<Note> {
    let row = query_opt(
        c,
        &format!("SELECT {NOTE_COLS} FROM notes n LEFT JOIN users u ON u.id = n.author_id WHERE n.id = $1 AND n.document_id = $2"),
        &[&note_id, &document_id],
    )
    .await?;
    row.as_ref().map(note_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("note {note_id}")))
}

/// The note, when `author` may change it: Forbidden for someone else's note.
async fn own_note(tx: &Tx<'_>, owner: Id, document_id: Id, note_id: Id, author: Id) -> DomainResult<(Document, Note)> {
    let doc = load_document(tx, owner, document_id).await?;
    let note = load_note(tx, document_id, note_id).await?;
    if note.author_id != Some(author) {
        return Err(DomainError::Forbidden("only its author can change a note".into()));
    }
    Ok((doc, note))
}

pub(super) async fn note_changed(tx: &Tx<'_>, doc: &Document, history: NewHistory) -> DomainResult<NewEvent> {
    title_index_update(tx, doc.id, &doc.title).await?;
    exec(tx, "UPDATE documents SET updated_at = $2 WHERE id = $1", &[&doc.id, &now_millis()]).await?;
    write_history(tx, &history).await?;
    Ok(NewEvent::document(doc.owner_id, doc.id, EventData::DocumentUpdated(DocumentUpdated::default())))
}

const VIEW_COLS: &str = "id, owner_id, name, query, sort, columns, on_dashboard, in_sidebar, position, created_at";

fn view_from(r: &Row) -> DomainResult<SavedView> {
    Ok(SavedView {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        name: col(r, 2)?,
        query: col(r, 3)?,
        sort: col(r, 4)?,
        columns: serde_json::from_str(&col::<String>(r, 5)?).unwrap_or_default(),
        on_dashboard: col(r, 6)?,
        in_sidebar: col(r, 7)?,
        position: col(r, 8)?,
        created_at: col(r, 9)?,
    })
}

async fn load_view<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<SavedView> {
    let row = query_opt(c, &format!("SELECT {VIEW_COLS} FROM saved_views WHERE id = $1 AND owner_id = $2"), &[&id, &owner]).await?;
    row.as_ref().map(view_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("view {id}")))
}

/// The key a label change has in a history entry.
fn kind_key(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Correspondent => "correspondent",
        LabelKind::DocumentType => "document_type",
    }
}

#[async_trait]
impl MetadataStore for PgStore {
    async fn labels(&self, owner: Id, kind: LabelKind) -> DomainResult<Vec<Label>> {
        let c = self.client().await?;
        let rows = query(&c, &format!("{} WHERE l.owner_id = $1 ORDER BY lower(l.name), l.id", label_select(kind)), &[&owner]).await?;
        let mut labels = rows.iter().map(|r| label_from(r, kind)).collect::<DomainResult<Vec<_>>>()?;
        if kind == LabelKind::DocumentType {
            for l in labels.iter_mut() {
                l.default_fields = type_fields(&c, l.id).await?;
            }
        }
        Ok(labels)
    }

    async fn create_label(
        &self,
        owner: Id,
        kind: LabelKind,
        name: &str,
        color: Option<&str>,
        default_fields: &[Id],
    ) -> DomainResult<Label> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = try_query_one(
            &tx,
            &format!("INSERT INTO {} (owner_id, name, color, created_at) VALUES ($1, $2, $3, $4) RETURNING id", kind.table()),
            &[&owner, &name, &color, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken(kind.noun(), name)))?;
        let id: Id = col(&row, 0)?;
        if kind == LabelKind::DocumentType {
            set_type_fields(&tx, owner, id, default_fields).await?;
        }
        let out = load_label(&tx, owner, kind, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
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
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        label_owned(&tx, owner, kind, id).await?;
        if let Some(n) = name {
            try_exec(&tx, &format!("UPDATE {} SET name = $2 WHERE id = $1", kind.table()), &[&id, &n])
                .await
                .map_err(|e| conflict_or_db(e, || name_taken(kind.noun(), n)))?;
            // Documents filed under the old name by a path template move.
            placements_due(&tx, owner, &format!("d.{} = $2", kind.column()), id).await?;
        }
        if let Some(colour) = color {
            exec(&tx, &format!("UPDATE {} SET color = $2 WHERE id = $1", kind.table()), &[&id, &colour]).await?;
        }
        if let Some(f) = default_fields {
            if kind != LabelKind::DocumentType {
                return Err(DomainError::Invalid("only document types have default fields".into()));
            }
            set_type_fields(&tx, owner, id, f).await?;
        }
        let out = load_label(&tx, owner, kind, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn delete_label(&self, owner: Id, kind: LabelKind, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let label = load_label(&tx, owner, kind, id).await?;
        let docs =
            ids(query(&tx, &format!("SELECT id FROM documents WHERE {} = $1 ORDER BY id FOR UPDATE", kind.column()), &[&id]).await?)?;
        let mut events = Vec::with_capacity(docs.len());
        for d in docs {
            write_history(
                &tx,
                &NewHistory {
                    document_id: d,
                    actor_id: Some(owner),
                    action: actions::EDITED,
                    changes: serde_json::json!({ kind_key(kind): [label.name, null] }),
                },
            )
            .await?;
            events.push(NewEvent::document(owner, d, EventData::DocumentUpdated(DocumentUpdated::default())));
        }
        placements_due(&tx, owner, &format!("d.{} = $2", kind.column()), id).await?;
        exec(&tx, &format!("DELETE FROM {} WHERE id = $1", kind.table()), &[&id]).await?;
        Self::commit(tx, &events, false).await
    }

    async fn merge_labels(&self, owner: Id, kind: LabelKind, from: Id, into: Id) -> DomainResult<Label> {
        let mut c = self.client().await?;
        if from == into {
            load_label(&c, owner, kind, from).await?;
            return Err(DomainError::Invalid(format!("a {} cannot be merged into itself", kind.noun())));
        }
        let tx = Self::begin(&mut c).await?;
        // Both rows locked in id order, so two opposite merges cannot deadlock.
        let locked = query(
            &tx,
            &format!("SELECT id FROM {} WHERE owner_id = $1 AND id IN ($2, $3) ORDER BY id FOR UPDATE", kind.table()),
            &[&owner, &from, &into],
        )
        .await?;
        if locked.len() < 2 {
            return Err(DomainError::not_found(kind.noun()));
        }
        let (a, b) = (load_label(&tx, owner, kind, from).await?, load_label(&tx, owner, kind, into).await?);
        let docs =
            ids(query(&tx, &format!("SELECT id FROM documents WHERE {} = $1 ORDER BY id FOR UPDATE", kind.column()), &[&from]).await?)?;
        placements_due(&tx, owner, &format!("d.{} = $2", kind.column()), from).await?;
        let now = now_millis();
        let mut events = Vec::with_capacity(docs.len());
        for d in &docs {
            exec(&tx, &format!("UPDATE documents SET {} = $2, updated_at = $3 WHERE id = $1", kind.column()), &[d, &into, &now]).await?;
            if kind == LabelKind::DocumentType {
                exec(
                    &tx,
                    "INSERT INTO document_fields (document_id, field_id) SELECT $1, field_id FROM document_type_fields WHERE document_type_id = $2 \
                     ON CONFLICT DO NOTHING",
                    &[d, &into],
                )
                .await?;
            }
            write_history(
                &tx,
                &NewHistory {
                    document_id: *d,
                    actor_id: Some(owner),
                    action: actions::EDITED,
                    changes: serde_json::json!({ kind_key(kind): [a.name, b.name] }),
                },
            )
            .await?;
            events.push(NewEvent::document(owner, *d, EventData::DocumentUpdated(DocumentUpdated::default())));
        }
        exec(&tx, &format!("DELETE FROM {} WHERE id = $1", kind.table()), &[&from]).await?;
        let out = load_label(&tx, owner, kind, into).await?;
        Self::commit(tx, &events, false).await?;
        Ok(out)
    }

    async fn fields(&self, owner: Id) -> DomainResult<Vec<FieldDef>> {
        let c = self.client().await?;
        let rows =
            query(&c, &format!("SELECT {FIELD_COLS} FROM custom_fields f WHERE f.owner_id = $1 ORDER BY lower(f.name), f.id"), &[&owner])
                .await?;
        all(rows, field_from)
    }

    async fn field(&self, owner: Id, id: Id) -> DomainResult<FieldDef> {
        let c = self.client().await?;
        load_field(&c, owner, id).await
    }

    async fn create_field(
        &self,
        owner: Id,
        name: &str,
        kind: FieldKind,
        currency: Option<&str>,
        options: &[SelectOption],
    ) -> DomainResult<FieldDef> {
        let options = serde_json::to_string(options).map_err(|e| DomainError::database(e.to_string()))?;
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = try_query_one(
            &tx,
            "INSERT INTO custom_fields (owner_id, name, kind, currency, options, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&owner, &name, &kind.as_str(), &currency, &options, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken("field", name)))?;
        let out = load_field(&tx, owner, col(&row, 0)?).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn update_field(
        &self,
        owner: Id,
        id: Id,
        name: Option<&str>,
        currency: Option<Option<&str>>,
        options: Option<&[SelectOption]>,
    ) -> DomainResult<FieldDef> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let def = load_field(&tx, owner, id).await?;
        if let Some(n) = name {
            try_exec(&tx, "UPDATE custom_fields SET name = $2 WHERE id = $1", &[&id, &n])
                .await
                .map_err(|e| conflict_or_db(e, || name_taken("field", n)))?;
            // Path templates name fields: they follow the rename.
            let rows =
                query(&tx, "SELECT id, template, filename FROM path_templates WHERE owner_id = $1 ORDER BY id FOR UPDATE", &[&owner])
                    .await?;
            for r in &rows {
                let (tid, template, filename): (Id, String, Option<String>) = (col(r, 0)?, col(r, 1)?, col(r, 2)?);
                let t = crate::domain::path_templates::rename_field(&template, &def.name, n);
                let f = filename.as_deref().and_then(|f| crate::domain::path_templates::rename_field(f, &def.name, n));
                if t.is_some() || f.is_some() {
                    exec(
                        &tx,
                        "UPDATE path_templates SET template = $2, filename = $3, updated_at = $4 WHERE id = $1",
                        &[&tid, &t.unwrap_or(template), &f.or(filename), &now_millis()],
                    )
                    .await?;
                }
            }
        }
        if let Some(cur) = currency {
            exec(&tx, "UPDATE custom_fields SET currency = $2 WHERE id = $1", &[&id, &cur]).await?;
        }
        if let Some(opts) = options {
            if def.kind != FieldKind::Select {
                return Err(DomainError::Invalid(format!("field {:?} is not a select field; it has no options", def.name)));
            }
            let json = serde_json::to_string(opts).map_err(|e| DomainError::database(e.to_string()))?;
            exec(&tx, "UPDATE custom_fields SET options = $2 WHERE id = $1", &[&id, &json]).await?;
            // A renamed option may name a folder.
            placements_due(&tx, owner, "EXISTS (SELECT 1 FROM document_fields df WHERE df.document_id = d.id AND df.field_id = $2)", id)
                .await?;
            // Values naming an option that is gone are emptied (the field stays on the document).
            for gone in def.options.iter().filter(|o| !opts.iter().any(|n| n.id == o.id)) {
                exec(
                    &tx,
                    "UPDATE document_fields SET value = NULL, num = NULL, txt = NULL WHERE field_id = $1 AND txt = $2",
                    &[&id, &gone.id],
                )
                .await?;
            }
        }
        let out = load_field(&tx, owner, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn delete_field(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_field(&tx, owner, id).await?;
        placements_due(&tx, owner, "EXISTS (SELECT 1 FROM document_fields df WHERE df.document_id = d.id AND df.field_id = $2)", id)
            .await?;
        exec(&tx, "DELETE FROM custom_fields WHERE id = $1", &[&id]).await?;
        Self::commit(tx, &[], false).await
    }

    async fn next_asn(&self, owner: Id) -> DomainResult<i64> {
        let c = self.client().await?;
        let max: Option<i64> =
            col(&query_one(&c, "SELECT MAX(asn) FROM documents WHERE owner_id = $1 AND asn IS NOT NULL", &[&owner]).await?, 0)?;
        Ok(max.map(|m| m + 1).unwrap_or(1))
    }

    async fn notes(&self, owner: Id, document_id: Id) -> DomainResult<Vec<Note>> {
        let c = self.client().await?;
        load_document(&c, owner, document_id).await?;
        let rows = query(
            &c,
            &format!("SELECT {NOTE_COLS} FROM notes n LEFT JOIN users u ON u.id = n.author_id WHERE n.document_id = $1 ORDER BY n.created_at, n.id"),
            &[&document_id],
        )
        .await?;
        all(rows, note_from)
    }

    async fn add_note(&self, owner: Id, document_id: Id, author: Id, body: &str) -> DomainResult<Note> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let doc = load_document(&tx, owner, document_id).await?;
        let now = now_millis();
        let row = query_one(
            &tx,
            "INSERT INTO notes (document_id, author_id, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            &[&document_id, &author, &body, &now],
        )
        .await?;
        let id: Id = col(&row, 0)?;
        let ev = note_changed(
            &tx,
            &doc,
            NewHistory {
                document_id,
                actor_id: Some(author),
                action: actions::NOTE_ADDED,
                changes: serde_json::json!({"note": id, "text": body}),
            },
        )
        .await?;
        let out = load_note(&tx, document_id, id).await?;
        Self::commit(tx, &[ev], false).await?;
        Ok(out)
    }

    async fn update_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id, body: &str) -> DomainResult<Note> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let (doc, before) = own_note(&tx, owner, document_id, note_id, author).await?;
        exec(&tx, "UPDATE notes SET body = $2, updated_at = $3 WHERE id = $1", &[&note_id, &body, &now_millis()]).await?;
        let ev = note_changed(
            &tx,
            &doc,
            NewHistory {
                document_id,
                actor_id: Some(author),
                action: actions::NOTE_EDITED,
                changes: serde_json::json!({"note": note_id, "text": [before.body, body]}),
            },
        )
        .await?;
        let out = load_note(&tx, document_id, note_id).await?;
        Self::commit(tx, &[ev], false).await?;
        Ok(out)
    }

    async fn delete_note(&self, owner: Id, document_id: Id, note_id: Id, author: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let (doc, before) = own_note(&tx, owner, document_id, note_id, author).await?;
        exec(&tx, "DELETE FROM notes WHERE id = $1", &[&note_id]).await?;
        let ev = note_changed(
            &tx,
            &doc,
            NewHistory {
                document_id,
                actor_id: Some(author),
                action: actions::NOTE_DELETED,
                changes: serde_json::json!({"note": note_id, "text": before.body}),
            },
        )
        .await?;
        Self::commit(tx, &[ev], false).await
    }

    async fn views(&self, owner: Id) -> DomainResult<Vec<SavedView>> {
        let c = self.client().await?;
        all(
            query(&c, &format!("SELECT {VIEW_COLS} FROM saved_views WHERE owner_id = $1 ORDER BY position, lower(name), id"), &[&owner])
                .await?,
            view_from,
        )
    }

    async fn view(&self, owner: Id, id: Id) -> DomainResult<SavedView> {
        let c = self.client().await?;
        load_view(&c, owner, id).await
    }

    async fn create_view(&self, owner: Id, spec: &ViewSpec) -> DomainResult<SavedView> {
        let columns = serde_json::to_string(&spec.columns).map_err(|e| DomainError::database(e.to_string()))?;
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = try_query_one(
            &tx,
            "INSERT INTO saved_views (owner_id, name, query, sort, columns, on_dashboard, in_sidebar, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[&owner, &spec.name, &spec.query, &spec.sort, &columns, &spec.on_dashboard, &spec.in_sidebar, &spec.position, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken("view", &spec.name)))?;
        let out = load_view(&tx, owner, col(&row, 0)?).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn update_view(&self, owner: Id, id: Id, spec: &ViewSpec) -> DomainResult<SavedView> {
        let columns = serde_json::to_string(&spec.columns).map_err(|e| DomainError::database(e.to_string()))?;
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_view(&tx, owner, id).await?;
        try_exec(
            &tx,
            "UPDATE saved_views SET name = $2, query = $3, sort = $4, columns = $5, on_dashboard = $6, in_sidebar = $7, position = $8 WHERE id = $1",
            &[&id, &spec.name, &spec.query, &spec.sort, &columns, &spec.on_dashboard, &spec.in_sidebar, &spec.position],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken("view", &spec.name)))?;
        let out = load_view(&tx, owner, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn delete_view(&self, owner: Id, id: Id) -> DomainResult<()> {
        let c = self.client().await?;
        if exec(&c, "DELETE FROM saved_views WHERE id = $1 AND owner_id = $2", &[&id, &owner]).await? == 0 {
            return Err(DomainError::not_found(format!("view {id}")));
        }
        Ok(())
    }

    async fn history(&self, owner: Id, document_id: Id, page: PageReq) -> DomainResult<Paged<HistoryEntry>> {
        let c = self.client().await?;
        load_document(&c, owner, document_id).await?;
        let total: i64 = col(&query_one(&c, "SELECT COUNT(*) FROM document_history WHERE document_id = $1", &[&document_id]).await?, 0)?;
        let rows = query(
            &c,
            "SELECT h.id, h.document_id, h.actor_id, u.username, h.action, h.changes, h.at FROM document_history h \
             LEFT JOIN users u ON u.id = h.actor_id WHERE h.document_id = $1 ORDER BY h.id DESC LIMIT $2 OFFSET $3",
            &[&document_id, &page.limit(), &page.offset()],
        )
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(HistoryEntry {
                    id: col(r, 0)?,
                    document_id: col(r, 1)?,
                    actor_id: col(r, 2)?,
                    actor_name: col(r, 3)?,
                    action: col(r, 4)?,
                    changes: serde_json::from_str(&col::<String>(r, 5)?).unwrap_or(serde_json::Value::Null),
                    at: col(r, 6)?,
                })
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size })
    }
}
