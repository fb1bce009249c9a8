//! Full-text search inside the database.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::page_req;
use crate::app::AppContext;
use crate::domain::search::parse_query;
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn search(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<SearchQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let text = q.q.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("q is empty: give words to search for"));
    }
    let parsed = parse_query(text)?;
    let p = ctx.store.search(auth.0.user.id, &parsed, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, |h| {
        json!({"document": dto::document(&h.document), "page_number": h.page_number, "snippet": h.snippet, "rank": h.rank})
    })))
}
