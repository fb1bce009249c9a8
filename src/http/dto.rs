//! JSON shapes of the API (see /api/openapi.json). Page text never appears in lists.

use serde_json::{Value, json};

use crate::domain::jobs::JobView;
use crate::domain::*;

pub fn time(ms: Millis) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

pub fn opt_time(ms: Option<Millis>) -> Value {
    ms.map(time).unwrap_or(Value::Null)
}

pub fn tag(t: &Tag) -> Value {
    json!({"id": t.id, "name": t.name, "color": t.color, "document_count": t.document_count})
}

fn tag_ref(t: &Tag) -> Value {
    json!({"id": t.id, "name": t.name, "color": t.color})
}

fn label_ref(l: &metadata::LabelRef) -> Value {
    json!({"id": l.id, "name": l.name, "color": l.color})
}

pub fn label(l: &metadata::Label) -> Value {
    let mut v = json!({"id": l.id, "name": l.name, "color": l.color, "document_count": l.document_count});
    if l.kind == metadata::LabelKind::DocumentType {
        v["default_fields"] = json!(l.default_fields);
        v["path_template_id"] = json!(l.path_template_id);
    }
    v
}

pub fn path_template(t: &crate::domain::path_templates::PathTemplate) -> Value {
    json!({
        "id": t.id, "name": t.name, "template": t.template, "fallback": t.fallback, "filename": t.filename,
        "document_count": t.document_count, "created_at": time(t.created_at), "updated_at": time(t.updated_at),
    })
}

pub fn field(f: &metadata::FieldDef) -> Value {
    json!({
        "id": f.id, "name": f.name, "kind": f.kind.as_str(), "currency": f.currency,
        "options": f.options.iter().map(|o| json!({"id": o.id, "label": o.label})).collect::<Vec<_>>(),
        "document_count": f.document_count, "created_at": time(f.created_at),
    })
}

fn field_value(f: &metadata::FieldValue) -> Value {
    json!({"field_id": f.field_id, "name": f.name, "kind": f.kind.as_str(), "value": f.value})
}

fn person(id: Option<Id>, name: &Option<String>) -> Value {
    match (id, name) {
        (Some(id), Some(name)) => json!({"id": id, "username": name}),
        _ => Value::Null,
    }
}

/// A note; `editable` when the caller wrote it.
pub fn note(n: &metadata::Note, me: Id) -> Value {
    json!({
        "id": n.id, "body": n.body, "author": person(n.author_id, &n.author_name),
        "created_at": time(n.created_at), "updated_at": time(n.updated_at), "editable": n.author_id == Some(me),
    })
}

pub fn history(h: &metadata::HistoryEntry) -> Value {
    json!({"id": h.id, "at": time(h.at), "actor": person(h.actor_id, &h.actor_name), "action": h.action, "changes": h.changes})
}

pub fn version(v: &Version) -> Value {
    json!({
        "id": v.id, "number": v.number, "filename": v.filename, "mime": v.mime, "size": v.size,
        "sha256": v.sha256, "state": v.state.as_str(), "error": v.error, "page_count": v.page_count,
        "searchable": v.searchable_sha256.is_some(), "note": v.note, "created_at": time(v.created_at),
    })
}

pub fn document(d: &Document) -> Value {
    let progress = match d.state {
        DocState::Processing | DocState::Queued if d.version.page_count > 0 => {
            json!({"done": d.version.pages_done, "total": d.version.page_count})
        }
        _ => Value::Null,
    };
    json!({
        "type": "document",
        "id": d.id, "title": d.title, "folder_id": d.folder_id, "state": d.state.as_str(), "error": d.error,
        "progress": progress, "page_count": d.version.page_count,
        "tags": d.tags.iter().map(tag_ref).collect::<Vec<_>>(),
        "created_at": time(d.created_at), "updated_at": time(d.updated_at), "trashed_at": opt_time(d.trashed_at),
        "duplicate_of": d.duplicate_of,
        "correspondent": d.meta.correspondent.as_ref().map(label_ref), "document_type": d.meta.document_type.as_ref().map(label_ref),
        "date": d.meta.date.map(|x| x.format("%Y-%m-%d").to_string()), "date_source": d.meta.date_source, "asn": d.meta.asn,
        "fields": d.meta.fields.iter().map(field_value).collect::<Vec<_>>(), "note_count": d.meta.note_count,
        "path_template": d.meta.path_template.as_ref().map(|t| json!({"id": t.id, "name": t.name})),
        "reprocess_helps": crate::domain::lifecycle::reprocess_helps(d.error.as_deref()),
        "version": {"id": d.version.id, "number": d.version.number, "filename": d.version.filename, "mime": d.version.mime,
                    "size": d.version.size, "sha256": d.version.sha256, "created_at": time(d.version.created_at),
                    "searchable": d.version.searchable_sha256.is_some()},
    })
}

pub fn folder(f: &Folder, tags: &[Tag], breadcrumbs: Option<&[(Id, String)]>) -> Value {
    let mut v = json!({
        "type": "folder",
        "id": f.id, "name": f.name, "parent_id": f.parent_id, "kind": f.kind.as_str(),
        "created_at": time(f.created_at), "updated_at": time(f.updated_at), "trashed_at": opt_time(f.trashed_at),
        "tags": tags.iter().map(tag_ref).collect::<Vec<_>>(),
    });
    if let Some(b) = breadcrumbs {
        v["breadcrumbs"] = b.iter().map(|(id, name)| json!({"id": id, "name": name})).collect();
    }
    v
}

pub fn child(c: &ChildItem) -> Value {
    match c {
        ChildItem::Folder(f, tags) => folder(f, tags, None),
        ChildItem::Document(d) => document(d),
    }
}

pub fn user(u: &User) -> Value {
    json!({"id": u.id, "username": u.username, "is_admin": u.is_admin, "disabled": u.disabled, "created_at": time(u.created_at)})
}

pub fn job(j: &JobView) -> Value {
    let progress = match (j.progress_done, j.progress_total) {
        (Some(d), Some(t)) => json!({"done": d, "total": t}),
        _ => Value::Null,
    };
    json!({
        "id": j.id, "kind": j.kind, "state": j.state.as_str(), "attempts": j.attempts, "max_attempts": j.max_attempts,
        "last_error": j.last_error, "progress": progress, "document_id": j.document_id,
        "run_after": time(j.run_after), "created_at": time(j.created_at), "updated_at": time(j.updated_at),
    })
}

pub fn page(doc_id: Id, version_id: Id, p: &Page) -> Value {
    // The image's hash in the URL: images are cached as immutable, and a page operation can
    // replace the images of a page of a version (rotate_page_images).
    let url = |kind: &str, sha: &Option<String>| {
        let image = sha.as_deref().map(|s| format!("&rev={}", &s[..s.len().min(16)])).unwrap_or_default();
        format!("/api/v1/documents/{doc_id}/pages/{}/{kind}?version={version_id}{image}", p.number)
    };
    json!({
        "number": p.number, "width": p.width, "height": p.height, "text": p.text, "source": p.source,
        "thumbnail_url": url("thumbnail", &p.thumbnail_sha256),
        "preview_url": url("preview", &p.preview_sha256),
    })
}

pub fn paged<T>(p: &Paged<T>, f: impl Fn(&T) -> Value) -> Value {
    let mut v = json!({"items": p.items.iter().map(f).collect::<Vec<_>>(), "total": p.total, "page": p.page, "page_size": p.page_size});
    if p.truncated {
        v["truncated"] = Value::Bool(true);
    }
    v
}
