//! Path templates (#23): list, create, change, delete; preview where documents would go.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppContext;
use crate::domain::Id;
use crate::domain::path_templates::{DEFAULT_FALLBACK, Subject, Template, TemplateSpec};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

/// `GET /api/v1/path-templates`.
pub async fn list(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let items = ctx.store.path_templates(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"items": items.iter().map(dto::path_template).collect::<Vec<_>>(), "total": items.len()})))
}

pub async fn get(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let t = ctx.store.path_template(auth.0.user.id, *path).await?;
    Ok(HttpResponse::Ok().json(dto::path_template(&t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    name: String,
    template: String,
    fallback: Option<String>,
    filename: Option<String>,
}

/// `POST /api/v1/path-templates`: 201.
pub async fn create(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewTemplate>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let spec = TemplateSpec {
        name: b.name,
        template: b.template,
        fallback: b.fallback.unwrap_or_else(|| DEFAULT_FALLBACK.into()),
        filename: b.filename,
    }
    .validate()?;
    let t = ctx.store.create_path_template(auth.0.user.id, &spec).await?;
    Ok(HttpResponse::Created().json(dto::path_template(&t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTemplate {
    name: Option<String>,
    template: Option<String>,
    fallback: Option<String>,
    /// null: downloads keep their file's name.
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    filename: Option<Option<String>>,
}

/// `PATCH /api/v1/path-templates/{id}`: the documents it places are placed again when the
/// template or the fallback changed.
pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<PatchTemplate>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let b = body.into_inner();
    let now = ctx.store.path_template(owner, *path).await?;
    let spec = TemplateSpec {
        name: b.name.unwrap_or(now.name),
        template: b.template.unwrap_or(now.template),
        fallback: b.fallback.unwrap_or(now.fallback),
        filename: b.filename.unwrap_or(now.filename),
    }
    .validate()?;
    let t = ctx.store.update_path_template(owner, *path, &spec).await?;
    Ok(HttpResponse::Ok().json(dto::path_template(&t)))
}

/// `DELETE /api/v1/path-templates/{id}`: its documents stay where they are.
pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_path_template(auth.0.user.id, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Documents one preview may show.
const MAX_PREVIEW: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    template: String,
    fallback: Option<String>,
    filename: Option<String>,
    /// The caller's documents to render it for (none: their newest few).
    #[serde(default)]
    document_ids: Vec<Id>,
}

/// `POST /api/v1/path-templates/preview`: where a template (saved or not) would put each of the
/// given documents, and what their downloads would be called. Nothing is changed.
pub async fn preview(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<PreviewIn>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let b = body.into_inner();
    if b.document_ids.len() > MAX_PREVIEW {
        return Err(ApiError::bad_request(format!("document_ids: at most {MAX_PREVIEW}")));
    }
    let spec = TemplateSpec {
        name: "preview".into(),
        template: b.template,
        fallback: b.fallback.unwrap_or_else(|| DEFAULT_FALLBACK.into()),
        filename: b.filename,
    }
    .validate()?;
    let template = Template::parse(&spec.template)?;
    let file = spec.filename.as_deref().map(Template::parse_file_name).transpose()?;
    let docs = if b.document_ids.is_empty() {
        let filter = crate::domain::DocumentFilter::default();
        ctx.store.list_documents(owner, &filter, crate::domain::PageReq { page: 1, page_size: 5 }).await?.items
    } else {
        let mut docs = Vec::with_capacity(b.document_ids.len());
        for id in &b.document_ids {
            docs.push(ctx.store.document(owner, *id).await?);
        }
        docs
    };
    let fields = ctx.store.fields(owner).await?;
    let items: Vec<_> = docs
        .iter()
        .map(|d| {
            let s = Subject { doc: d, fields: &fields };
            let folders = template.folders(&s, &spec.fallback);
            let ext = d.version.filename.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            json!({
                "document_id": d.id, "title": d.title,
                "folders": folders, "path": folders.join("/"),
                "file_name": file.as_ref().map(|f| f.file_name(&s, &spec.fallback, ext)),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}
