//! Page operations and versions: rotate, delete, reorder, move, extract, merge, restore.
//! Every request names the version the client saw (`base_version`, a version id); a stale one
//! is a 409, so of two clients editing the same document at once one wins and the other is told
//! to reload.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::documents::validate_title;
use crate::app::AppContext;
use crate::domain::Id;
use crate::domain::pages::PageEditOutcome;
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};
use crate::pageops::{self, MoveTarget, Operation};

const MAX_PAGES_PER_REQUEST: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    base_version: Id,
    pages: Vec<i32>,
    degrees: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    base_version: Id,
    pages: Vec<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    base_version: Id,
    order: Vec<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    base_version: Id,
    pages: Vec<i32>,
    /// Into this document (with `to_base_version`, optionally `position`) …
    to_document: Option<Id>,
    to_base_version: Option<Id>,
    position: Option<i32>,
    /// … or into a new document in this folder (default: the source's folder).
    to_folder: Option<Id>,
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractBody {
    base_version: Id,
    pages: Vec<i32>,
    folder_id: Option<Id>,
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeItem {
    id: Id,
    base_version: Id,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    documents: Vec<MergeItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreVersionBody {
    base_version: Id,
}

fn check_len(what: &str, v: &[i32]) -> ApiResult<()> {
    if v.len() > MAX_PAGES_PER_REQUEST {
        return Err(ApiError::bad_request(format!("{what} can name at most {MAX_PAGES_PER_REQUEST} pages")));
    }
    Ok(())
}

/// The answer: every document the operation changed or created, as it is now.
async fn answer(ctx: &AppContext, owner: Id, out: PageEditOutcome) -> ApiResult<HttpResponse> {
    let mut documents = Vec::new();
    for (id, _) in &out.versions {
        documents.push(dto::document(&ctx.store.document(owner, *id).await?));
    }
    let created = match out.created {
        Some(id) => Some(dto::document(&ctx.store.document(owner, id).await?)),
        None => None,
    };
    Ok(HttpResponse::Ok().json(json!({"documents": documents, "created": created})))
}

async fn run(ctx: &AppContext, owner: Id, id: Id, base: Id, op: Operation) -> ApiResult<HttpResponse> {
    let out = pageops::apply(ctx, owner, id, base, op).await?;
    answer(ctx, owner, out).await
}

pub async fn rotate(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<RotateBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    check_len("pages", &b.pages)?;
    run(&ctx, auth.0.user.id, *path, b.base_version, Operation::Rotate { pages: b.pages, degrees: b.degrees }).await
}

pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<DeleteBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    check_len("pages", &b.pages)?;
    run(&ctx, auth.0.user.id, *path, b.base_version, Operation::Delete { pages: b.pages }).await
}

pub async fn reorder(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<ReorderBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    check_len("order", &b.order)?;
    run(&ctx, auth.0.user.id, *path, b.base_version, Operation::Reorder { order: b.order }).await
}

pub async fn move_pages(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<MoveBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    check_len("pages", &b.pages)?;
    let to = match (b.to_document, b.to_folder) {
        (Some(doc), None) => {
            if b.title.is_some() {
                return Err(ApiError::bad_request("title is only for a move into a new document (to_folder)"));
            }
            let base = b.to_base_version.ok_or_else(|| {
                ApiError::bad_request("to_base_version is required with to_document: the version of the target document you saw")
            })?;
            MoveTarget::Document { id: doc, base_version: base, position: b.position }
        }
        (None, folder) => {
            if b.to_base_version.is_some() || b.position.is_some() {
                return Err(ApiError::bad_request("to_base_version and position go with to_document"));
            }
            MoveTarget::NewDocument { folder_id: folder, title: b.title.as_deref().map(validate_title).transpose()? }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give to_document (an existing document) or to_folder (a new document), not both"));
        }
    };
    run(&ctx, auth.0.user.id, *path, b.base_version, Operation::Move { pages: b.pages, to }).await
}

pub async fn extract(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<ExtractBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    check_len("pages", &b.pages)?;
    let title = b.title.as_deref().map(validate_title).transpose()?;
    run(&ctx, auth.0.user.id, *path, b.base_version, Operation::Extract { pages: b.pages, folder_id: b.folder_id, title }).await
}

pub async fn merge(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<MergeBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    if b.documents.len() > 100 {
        return Err(ApiError::bad_request("at most 100 documents can be merged at once"));
    }
    let docs: Vec<(Id, Id)> = b.documents.iter().map(|d| (d.id, d.base_version)).collect();
    let owner = auth.0.user.id;
    let out = pageops::merge(&ctx, owner, &docs).await?;
    answer(&ctx, owner, out).await
}

pub async fn restore_version(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<(Id, Id)>,
    body: web::Json<RestoreVersionBody>,
) -> ApiResult<HttpResponse> {
    let (id, version) = path.into_inner();
    let owner = auth.0.user.id;
    let out = pageops::restore_version(&ctx, owner, id, body.base_version, version).await?;
    answer(&ctx, owner, out).await
}
