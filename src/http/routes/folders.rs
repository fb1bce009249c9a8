//! Folders: Home and Inbox per user, a tree below them, a trash.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::page_req;
use crate::app::AppContext;
use crate::domain::{ChildSort, Id};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

async fn folder_json(ctx: &AppContext, owner: Id, id: Id) -> ApiResult<serde_json::Value> {
    let f = ctx.store.folder(owner, id).await?;
    let tags = ctx.store.folder_tags(owner, id).await?;
    let crumbs = ctx.store.breadcrumbs(owner, id).await?;
    Ok(dto::folder(&f, &tags, Some(&crumbs)))
}

pub async fn roots(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let (home, inbox) = ctx.store.root_folders(owner).await?;
    Ok(HttpResponse::Ok().json(json!({
        "home": folder_json(&ctx, owner, home.id).await?,
        "inbox": folder_json(&ctx, owner, inbox.id).await?,
    })))
}

pub async fn get(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(folder_json(&ctx, auth.0.user.id, path.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildrenQuery {
    page: Option<u32>,
    page_size: Option<u32>,
    sort: Option<String>,
}

pub fn parse_child_sort(s: Option<&str>) -> Result<ChildSort, ApiError> {
    // Newest first unless asked otherwise (folders still come before documents).
    Ok(match s.unwrap_or("-created_at") {
        "name" => ChildSort::NameAsc,
        "-name" => ChildSort::NameDesc,
        "created_at" => ChildSort::CreatedAsc,
        "-created_at" => ChildSort::CreatedDesc,
        other => return Err(ApiError::bad_request(format!("sort must be name, -name, created_at or -created_at, not {other:?}"))),
    })
}

pub async fn children(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    q: web::Query<ChildrenQuery>,
) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let sort = parse_child_sort(q.sort.as_deref())?;
    let p = ctx.store.children(auth.0.user.id, path.into_inner(), sort, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, dto::child)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    name: String,
    parent_id: Id,
}

pub async fn create(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewFolder>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let f = ctx.store.create_folder(owner, body.parent_id, &body.name).await?;
    Ok(HttpResponse::Created().json(folder_json(&ctx, owner, f.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchFolder {
    name: Option<String>,
    parent_id: Option<Id>,
}

pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<PatchFolder>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let id = path.into_inner();
    ctx.store.update_folder(owner, id, body.name.as_deref(), body.parent_id).await?;
    Ok(HttpResponse::Ok().json(folder_json(&ctx, owner, id).await?))
}

pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.trash_folder(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn restore(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let f = ctx.store.restore_folder(owner, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(folder_json(&ctx, owner, f.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagIds {
    pub tag_ids: Vec<Id>,
}

pub async fn add_tags(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<TagIds>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let id = path.into_inner();
    ctx.store.set_folder_tags(owner, id, &body.tag_ids, &[]).await?;
    Ok(HttpResponse::Ok().json(folder_json(&ctx, owner, id).await?))
}

pub async fn remove_tag(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<(Id, Id)>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let (id, tag) = path.into_inner();
    ctx.store.set_folder_tags(owner, id, &[], &[tag]).await?;
    Ok(HttpResponse::Ok().json(folder_json(&ctx, owner, id).await?))
}

pub async fn trash(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<super::PageQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let p = ctx.store.list_trash(auth.0.user.id, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, dto::child)))
}

pub async fn empty_trash(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    // The files are deleted by the sweep job the purge queued (see storage::BlobStore::sweep).
    ctx.store.empty_trash(auth.0.user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
