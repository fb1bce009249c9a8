//! Full-text search inside the database.

use actix_web::{HttpRequest, HttpResponse, web};
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
    /// The order when the query only filters (see the list API's sort).
    sort: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn search(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<SearchQuery>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let text = q.q.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("q is empty: give words to search for"));
    }
    let mut parsed = parse_query(text)?;
    if let Some(sort) = q.sort.as_deref() {
        parsed.sort = crate::domain::views::parse_sort(sort)?;
    }
    let filters_only = !parsed.has_text();
    let p = run_search(&ctx, auth.0.user.id, parsed, page, &req).await?;
    let mut body = dto::paged(&p, hit);
    if filters_only && p.truncated {
        // Not words on too many pages: more documents match than were counted.
        body["count_capped"] = serde_json::Value::Bool(true);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// A search hit as the API shows it.
pub fn hit(h: &crate::domain::SearchHit) -> serde_json::Value {
    json!({"document": dto::document(&h.document), "page_number": h.page_number, "snippet": h.snippet, "rank": h.rank})
}

/// Runs a parsed search under the search limits: its time limit, a turn among the searches
/// of this process, cancelled when the client goes away.
pub async fn run_search(
    ctx: &AppContext,
    owner: crate::domain::Id,
    mut parsed: crate::domain::search::SearchQuery,
    page: crate::domain::PageReq,
    req: &HttpRequest,
) -> ApiResult<crate::domain::Paged<crate::domain::SearchHit>> {
    parsed.time_limit = std::time::Duration::from_secs(ctx.settings.limits.search_timeout_secs.max(1));
    // A client that gives up does not leave its search running (the query is cancelled), and
    // searches take turns so that the rest of the API keeps its connections and cores.
    let run = async {
        let _slot = match tokio::time::timeout(parsed.time_limit, ctx.search_slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    crate::http::error::codes::BUSY,
                    "too many searches are running; try again shortly",
                )
                .retry_after(2));
            }
        };
        crate::domain::find::search_with_prefixes(&*ctx.store, owner, &parsed, page).await.map_err(ApiError::from)
    };
    let p = tokio::select! {
        found = run => found?,
        _ = crate::http::disconnect::client_gone(req) => {
            tracing::info!("search abandoned: the client closed the connection");
            return Err(ApiError::bad_request("the client closed the connection"));
        }
    };
    Ok(p)
}
