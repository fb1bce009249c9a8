//! Correspondents, document types, custom fields, notes, history and the next ASN.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::page_req;
use crate::app::AppContext;
use crate::domain::Id;
use crate::domain::metadata::{self, FieldKind, LabelKind};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

/// `Some(None)` for an explicit `null`, `None` when the key is missing (with `#[serde(default)]`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Which labels a handler serves: `CORRESPONDENTS` or `DOCUMENT_TYPES` (a const parameter, so
/// one set of handlers serves both routes).
pub const CORRESPONDENTS: u8 = 0;
pub const DOCUMENT_TYPES: u8 = 1;

fn kind_of(k: u8) -> LabelKind {
    if k == DOCUMENT_TYPES { LabelKind::DocumentType } else { LabelKind::Correspondent }
}

/// At most this many default fields on a document type, and field values in one request.
const MAX_FIELDS: usize = 100;

pub async fn list_labels<const K: u8>(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let labels = ctx.store.labels(auth.0.user.id, kind_of(K)).await?;
    Ok(HttpResponse::Ok().json(json!({"items": labels.iter().map(dto::label).collect::<Vec<_>>(), "total": labels.len()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLabel {
    name: String,
    color: Option<String>,
    #[serde(default)]
    default_fields: Vec<Id>,
    /// Document types: the path template their documents are given (#23).
    path_template_id: Option<Id>,
}

pub async fn create_label<const K: u8>(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewLabel>) -> ApiResult<HttpResponse> {
    let kind = kind_of(K);
    let name = metadata::validate_name(kind.noun(), &body.name)?;
    let color = body.color.as_deref().map(metadata::validate_color).transpose()?;
    if kind == LabelKind::Correspondent && !body.default_fields.is_empty() {
        return Err(ApiError::bad_request("only document types have default fields"));
    }
    if body.default_fields.len() > MAX_FIELDS {
        return Err(ApiError::bad_request(format!("at most {MAX_FIELDS} default fields")));
    }
    let owner = auth.0.user.id;
    if let Some(t) = body.path_template_id {
        if kind != LabelKind::DocumentType {
            return Err(ApiError::bad_request("only document types have a path template"));
        }
        ctx.store.path_template(owner, t).await?;
    }
    let mut l = ctx.store.create_label(owner, kind, &name, color.as_deref(), &body.default_fields).await?;
    if let Some(t) = body.path_template_id {
        ctx.store.set_type_path_template(owner, l.id, Some(t)).await?;
        l.path_template_id = Some(t);
    }
    Ok(HttpResponse::Created().json(dto::label(&l)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchLabel {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    color: Option<Option<String>>,
    default_fields: Option<Vec<Id>>,
    /// Document types: the path template their documents are given (null: none). Documents of
    /// the type without a template of their own get it.
    #[serde(default, deserialize_with = "double_option")]
    path_template_id: Option<Option<Id>>,
}

pub async fn patch_label<const K: u8>(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    body: web::Json<PatchLabel>,
) -> ApiResult<HttpResponse> {
    let kind = kind_of(K);
    let name = body.name.as_deref().map(|n| metadata::validate_name(kind.noun(), n)).transpose()?;
    let color = match &body.color {
        Some(Some(c)) => Some(Some(metadata::validate_color(c)?)),
        Some(None) => Some(None),
        None => None,
    };
    if body.default_fields.as_ref().is_some_and(|f| f.len() > MAX_FIELDS) {
        return Err(ApiError::bad_request(format!("at most {MAX_FIELDS} default fields")));
    }
    let owner = auth.0.user.id;
    if let Some(t) = body.path_template_id {
        if kind != LabelKind::DocumentType {
            return Err(ApiError::bad_request("only document types have a path template"));
        }
        if let Some(t) = t {
            ctx.store.path_template(owner, t).await?;
        }
    }
    let mut l = ctx
        .store
        .update_label(owner, kind, *path, name.as_deref(), color.as_ref().map(|c| c.as_deref()), body.default_fields.as_deref())
        .await?;
    let mut out = dto::label(&l);
    if let Some(t) = body.path_template_id {
        // The type's documents get it by a bulk edit job (followed like any other).
        let job = ctx.store.set_type_path_template(owner, l.id, t).await?;
        l.path_template_id = t;
        out = dto::label(&l);
        out["filing_job_id"] = json!(job);
    }
    Ok(HttpResponse::Ok().json(out))
}

pub async fn delete_label<const K: u8>(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_label(auth.0.user.id, kind_of(K), *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeLabel {
    into: Id,
}

/// `POST …/{id}/merge {"into": other}`: the documents of `{id}` get `other`; `{id}` is deleted.
pub async fn merge_labels<const K: u8>(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    body: web::Json<MergeLabel>,
) -> ApiResult<HttpResponse> {
    let l = ctx.store.merge_labels(auth.0.user.id, kind_of(K), *path, body.into).await?;
    Ok(HttpResponse::Ok().json(dto::label(&l)))
}

// ---- custom fields ----------------------------------------------------------------------------

pub async fn list_fields(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let fields = ctx.store.fields(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"items": fields.iter().map(dto::field).collect::<Vec<_>>(), "total": fields.len()})))
}

/// A select option as a client writes it: a label (a new option), or `{"id", "label"}` (an
/// existing option, perhaps renamed; or a new one without an id).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum OptionIn {
    Label(String),
    Full { id: Option<String>, label: String },
}

impl OptionIn {
    fn parts(&self) -> (Option<String>, String) {
        match self {
            OptionIn::Label(l) => (None, l.clone()),
            OptionIn::Full { id, label } => (id.clone(), label.clone()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    name: String,
    kind: String,
    currency: Option<String>,
    #[serde(default)]
    options: Vec<OptionIn>,
}

pub async fn create_field(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewField>) -> ApiResult<HttpResponse> {
    let name = metadata::validate_name("field", &body.name)?;
    let kind = FieldKind::parse(&body.kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind must be one of {}, not {:?}",
            FieldKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            body.kind
        ))
    })?;
    let currency = body.currency.as_deref().map(metadata::validate_currency).transpose()?;
    if currency.is_some() && kind != FieldKind::Monetary {
        return Err(ApiError::bad_request("only monetary fields have a currency"));
    }
    if !body.options.is_empty() && kind != FieldKind::Select {
        return Err(ApiError::bad_request("only select fields have options"));
    }
    let parts: Vec<(Option<String>, String)> = body.options.iter().map(OptionIn::parts).collect();
    if parts.iter().any(|(id, _)| id.is_some()) {
        return Err(ApiError::bad_request("a new field's options have no ids yet; give their labels"));
    }
    let options = metadata::validate_options(&name, &parts, &[])?;
    let f = ctx.store.create_field(auth.0.user.id, &name, kind, currency.as_deref(), &options).await?;
    Ok(HttpResponse::Created().json(dto::field(&f)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchField {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    currency: Option<Option<String>>,
    options: Option<Vec<OptionIn>>,
}

/// Renames a field, changes its default currency, or replaces a select field's options
/// (options named by id keep their values even when relabelled; values of a dropped option are
/// emptied).
pub async fn patch_field(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    body: web::Json<PatchField>,
) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let name = body.name.as_deref().map(|n| metadata::validate_name("field", n)).transpose()?;
    let currency = match &body.currency {
        Some(Some(c)) => Some(Some(metadata::validate_currency(c)?)),
        Some(None) => Some(None),
        None => None,
    };
    let existing = ctx.store.field(owner, *path).await?;
    if currency.is_some() && existing.kind != FieldKind::Monetary {
        return Err(ApiError::bad_request("only monetary fields have a currency"));
    }
    let options = match &body.options {
        Some(opts) => {
            let parts: Vec<(Option<String>, String)> = opts.iter().map(OptionIn::parts).collect();
            Some(metadata::validate_options(&existing.name, &parts, &existing.options)?)
        }
        None => None,
    };
    let f = ctx.store.update_field(owner, *path, name.as_deref(), currency.as_ref().map(|c| c.as_deref()), options.as_deref()).await?;
    Ok(HttpResponse::Ok().json(dto::field(&f)))
}

pub async fn delete_field(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_field(auth.0.user.id, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- documents: next ASN, notes, history ------------------------------------------------------

pub async fn next_asn(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let asn = ctx.store.next_asn(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"asn": asn})))
}

pub async fn notes(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let me = auth.0.user.id;
    let notes = ctx.store.notes(me, *path).await?;
    Ok(HttpResponse::Ok().json(json!({"items": notes.iter().map(|n| dto::note(n, me)).collect::<Vec<_>>(), "total": notes.len()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    body: String,
}

pub async fn add_note(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<NoteBody>) -> ApiResult<HttpResponse> {
    let me = auth.0.user.id;
    let text = metadata::validate_note(&body.body)?;
    let n = ctx.store.add_note(me, *path, me, &text).await?;
    Ok(HttpResponse::Created().json(dto::note(&n, me)))
}

pub async fn patch_note(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<(Id, Id)>,
    body: web::Json<NoteBody>,
) -> ApiResult<HttpResponse> {
    let me = auth.0.user.id;
    let (doc, note) = path.into_inner();
    let text = metadata::validate_note(&body.body)?;
    let n = ctx.store.update_note(me, doc, note, me, &text).await?;
    Ok(HttpResponse::Ok().json(dto::note(&n, me)))
}

pub async fn delete_note(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<(Id, Id)>) -> ApiResult<HttpResponse> {
    let me = auth.0.user.id;
    let (doc, note) = path.into_inner();
    ctx.store.delete_note(me, doc, note, me).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn history(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, q: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let p = ctx.store.history(auth.0.user.id, *path, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, dto::history)))
}
