//! Saved views and the dashboard (#22): a view is a named search (empty: every document) with
//! a sort and columns; the dashboard shows the views marked for it, the Inbox (documents not
//! filed yet) and what is being processed.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page_req;
use crate::app::AppContext;
use crate::domain::search::parse_query;
use crate::domain::views::{SavedView, ViewSpec};
use crate::domain::{DocState, DocumentFilter, Id, PageReq, Paged, SearchHit};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::ApiResult;

fn view_json(v: &SavedView) -> Value {
    json!({
        "id": v.id, "name": v.name, "query": v.query, "sort": v.sort, "columns": v.columns,
        "on_dashboard": v.on_dashboard, "in_sidebar": v.in_sidebar, "position": v.position, "created_at": dto::time(v.created_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewIn {
    name: Option<String>,
    query: Option<String>,
    sort: Option<String>,
    columns: Option<Vec<String>>,
    on_dashboard: Option<bool>,
    in_sidebar: Option<bool>,
    position: Option<i64>,
}

impl ViewIn {
    /// The view with these changes over `base`.
    fn over(self, base: ViewSpec) -> ViewSpec {
        ViewSpec {
            name: self.name.unwrap_or(base.name),
            query: self.query.unwrap_or(base.query),
            sort: self.sort.unwrap_or(base.sort),
            columns: self.columns.unwrap_or(base.columns),
            on_dashboard: self.on_dashboard.unwrap_or(base.on_dashboard),
            in_sidebar: self.in_sidebar.unwrap_or(base.in_sidebar),
            position: self.position.unwrap_or(base.position),
        }
    }
}

pub async fn list(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let views = ctx.store.views(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"items": views.iter().map(view_json).collect::<Vec<_>>(), "total": views.len()})))
}

/// The view's query must not only parse but name the owner's fields: it is run once.
async fn check_query(ctx: &AppContext, owner: Id, spec: &ViewSpec) -> ApiResult<()> {
    if !spec.query.is_empty() {
        let mut parsed = parse_query(&spec.query)?;
        parsed.time_limit = std::time::Duration::from_secs(ctx.settings.limits.search_timeout_secs.max(1));
        ctx.store.search(owner, &parsed, PageReq { page: 1, page_size: 1 }).await?;
    }
    Ok(())
}

pub async fn create(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<ViewIn>) -> ApiResult<HttpResponse> {
    let base = ViewSpec { columns: vec!["title".into(), "date".into(), "correspondent".into(), "tags".into()], ..ViewSpec::default() };
    let spec = crate::domain::views::validate_view(&body.into_inner().over(base))?;
    check_query(&ctx, auth.0.user.id, &spec).await?;
    let v = ctx.store.create_view(auth.0.user.id, &spec).await?;
    Ok(HttpResponse::Created().json(view_json(&v)))
}

pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<ViewIn>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let v = ctx.store.view(owner, *path).await?;
    let base = ViewSpec {
        name: v.name,
        query: v.query,
        sort: v.sort,
        columns: v.columns,
        on_dashboard: v.on_dashboard,
        in_sidebar: v.in_sidebar,
        position: v.position,
    };
    let spec = crate::domain::views::validate_view(&body.into_inner().over(base))?;
    check_query(&ctx, owner, &spec).await?;
    let v = ctx.store.update_view(owner, *path, &spec).await?;
    Ok(HttpResponse::Ok().json(view_json(&v)))
}

pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_view(auth.0.user.id, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A view's documents: its search, or (no query) every document, in its order.
async fn documents_of(ctx: &AppContext, owner: Id, v: &SavedView, page: PageReq, req: &HttpRequest) -> ApiResult<Paged<SearchHit>> {
    let sort = crate::domain::views::parse_sort(&v.sort)?;
    if v.query.trim().is_empty() {
        let p = ctx.store.list_documents(owner, &DocumentFilter { sort, ..DocumentFilter::default() }, page).await?;
        let items = p.items.into_iter().map(|d| SearchHit { document: d, page_number: None, snippet: String::new(), rank: 0.0 }).collect();
        return Ok(Paged { truncated: false, items, total: p.total, page: p.page, page_size: p.page_size });
    }
    let mut parsed = parse_query(&v.query)?;
    parsed.sort = sort;
    super::search::run_search(ctx, owner, parsed, page, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn documents(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    q: web::Query<PageQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let v = ctx.store.view(owner, *path).await?;
    let p = documents_of(&ctx, owner, &v, page_req(q.page, q.page_size)?, &req).await?;
    let mut out = dto::paged(&p, super::search::hit);
    if p.truncated && parse_query(&v.query).is_ok_and(|q| !q.has_text()) {
        // More documents match than were counted (crate::domain::search::FILTER_COUNT_CAP).
        out["count_capped"] = serde_json::Value::Bool(true);
    }
    out["view"] = view_json(&v);
    Ok(HttpResponse::Ok().json(out))
}

/// Documents each dashboard part shows.
const DASHBOARD_ROWS: u32 = 10;

/// `GET /api/v1/dashboard`: the views marked for the dashboard with their newest documents,
/// the Inbox, and processing status.
pub async fn dashboard(ctx: web::Data<AppContext>, auth: Auth, req: HttpRequest) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let first = PageReq { page: 1, page_size: DASHBOARD_ROWS };
    let mut views = Vec::new();
    for v in ctx.store.views(owner).await?.into_iter().filter(|v| v.on_dashboard) {
        // A view whose names no longer resolve (a field deleted) shows its error, not a 400.
        let part = match documents_of(&ctx, owner, &v, first, &req).await {
            Ok(p) => {
                json!({"view": view_json(&v), "total": p.total, "items": p.items.iter().map(super::search::hit).collect::<Vec<_>>(), "error": null})
            }
            Err(e) => json!({"view": view_json(&v), "total": 0, "items": [], "error": e.message}),
        };
        views.push(part);
    }
    let (_, inbox) = ctx.store.root_folders(owner).await?;
    let inbox_docs =
        ctx.store.list_documents(owner, &DocumentFilter { folder_id: Some(inbox.id), ..DocumentFilter::default() }, first).await?;
    let count = |state: DocState| {
        let ctx = ctx.clone();
        async move {
            ctx.store
                .list_documents(
                    owner,
                    &DocumentFilter { state: Some(state), ..DocumentFilter::default() },
                    PageReq { page: 1, page_size: 5 },
                )
                .await
        }
    };
    let (queued, processing, failed) = (count(DocState::Queued).await?, count(DocState::Processing).await?, count(DocState::Failed).await?);
    Ok(HttpResponse::Ok().json(json!({
        "views": views,
        "inbox": {"folder_id": inbox.id, "total": inbox_docs.total, "items": inbox_docs.items.iter().map(dto::document).collect::<Vec<_>>()},
        "processing": {
            "queued": queued.total, "processing": processing.total, "failed": failed.total,
            "items": processing.items.iter().chain(&queued.items).map(dto::document).collect::<Vec<_>>(),
            "failed_items": failed.items.iter().map(dto::document).collect::<Vec<_>>(),
        },
    })))
}
