//! Tags with colours.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppContext;
use crate::domain::Id;
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

fn validate_name(n: &str) -> Result<String, ApiError> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(|c| c.is_control()) || n.contains(',') {
        return Err(ApiError::bad_request("a tag name has 1 to 100 characters, without commas or control characters"));
    }
    crate::domain::users::validate_visible_name("tag name", n, 100)?;
    Ok(n.to_string())
}

fn validate_color(c: &str) -> Result<String, ApiError> {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit());
    if !ok {
        return Err(ApiError::bad_request("a colour is written like #1e88e5"));
    }
    Ok(c.to_ascii_lowercase())
}

pub async fn list(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let tags = ctx.store.tags(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"items": tags.iter().map(dto::tag).collect::<Vec<_>>(), "total": tags.len()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    name: String,
    color: Option<String>,
}

pub async fn create(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewTag>) -> ApiResult<HttpResponse> {
    let name = validate_name(&body.name)?;
    let color = body.color.as_deref().map(validate_color).transpose()?.unwrap_or_else(|| "#6b7280".into());
    let t = ctx.store.create_tag(auth.0.user.id, &name, &color).await?;
    Ok(HttpResponse::Created().json(dto::tag(&t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTag {
    name: Option<String>,
    color: Option<String>,
}

pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<PatchTag>) -> ApiResult<HttpResponse> {
    let name = body.name.as_deref().map(validate_name).transpose()?;
    let color = body.color.as_deref().map(validate_color).transpose()?;
    let t = ctx.store.update_tag(auth.0.user.id, path.into_inner(), name.as_deref(), color.as_deref()).await?;
    Ok(HttpResponse::Ok().json(dto::tag(&t)))
}

pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_tag(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeTag {
    into: Id,
}

/// `POST /api/v1/tags/{id}/merge` `{"into": other}`: the tag's documents and folders get the
/// other one; the tag is deleted. Answers the surviving tag.
pub async fn merge(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<MergeTag>) -> ApiResult<HttpResponse> {
    let t = ctx.store.merge_tags(auth.0.user.id, path.into_inner(), body.into).await?;
    Ok(HttpResponse::Ok().json(dto::tag(&t)))
}
