//! The actix app: routes, request ids, access log, metrics, and JSON errors for everything
//! actix itself rejects (malformed JSON, wrong types, unknown routes).

pub mod auth;
pub mod disconnect;
pub mod dto;
pub mod error;
pub mod routes;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::app::AppContext;
use error::ApiError;
use routes::{
    account, bulk, classifier, documents, folders, llm, matching, metadata, ops, pages, path_templates, search, tags, views, workflows,
};

/// Every route of the API, as (method, path) — the OpenAPI test checks each is documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/auth/tokens"),
    ("POST", "/api/v1/auth/tokens"),
    ("DELETE", "/api/v1/auth/tokens/{id}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{id}"),
    ("GET", "/api/v1/config"),
    ("GET", "/api/v1/folders/roots"),
    ("POST", "/api/v1/folders"),
    ("GET", "/api/v1/folders/{id}"),
    ("PATCH", "/api/v1/folders/{id}"),
    ("DELETE", "/api/v1/folders/{id}"),
    ("GET", "/api/v1/folders/{id}/children"),
    ("POST", "/api/v1/folders/{id}/restore"),
    ("POST", "/api/v1/folders/{id}/tags"),
    ("DELETE", "/api/v1/folders/{id}/tags/{tag_id}"),
    ("GET", "/api/v1/trash"),
    ("DELETE", "/api/v1/trash"),
    ("POST", "/api/v1/documents"),
    ("GET", "/api/v1/documents"),
    ("GET", "/api/v1/documents/{id}"),
    ("PATCH", "/api/v1/documents/{id}"),
    ("DELETE", "/api/v1/documents/{id}"),
    ("POST", "/api/v1/documents/{id}/restore"),
    ("DELETE", "/api/v1/documents/{id}/purge"),
    ("POST", "/api/v1/documents/{id}/tags"),
    ("DELETE", "/api/v1/documents/{id}/tags/{tag_id}"),
    ("GET", "/api/v1/documents/{id}/versions"),
    ("GET", "/api/v1/documents/{id}/download"),
    ("GET", "/api/v1/documents/{id}/pages"),
    ("GET", "/api/v1/documents/{id}/pages/{number}/{image}"),
    ("POST", "/api/v1/documents/{id}/reprocess"),
    ("POST", "/api/v1/documents/{id}/pages/rotate"),
    ("POST", "/api/v1/documents/{id}/pages/delete"),
    ("POST", "/api/v1/documents/{id}/pages/reorder"),
    ("POST", "/api/v1/documents/{id}/pages/move"),
    ("POST", "/api/v1/documents/{id}/pages/extract"),
    ("POST", "/api/v1/documents/merge"),
    ("POST", "/api/v1/documents/{id}/versions/{version_id}/restore"),
    ("GET", "/api/v1/tags"),
    ("POST", "/api/v1/tags"),
    ("PATCH", "/api/v1/tags/{id}"),
    ("DELETE", "/api/v1/tags/{id}"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs/{id}/retry"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/v1/correspondents"),
    ("POST", "/api/v1/correspondents"),
    ("PATCH", "/api/v1/correspondents/{id}"),
    ("DELETE", "/api/v1/correspondents/{id}"),
    ("POST", "/api/v1/correspondents/{id}/merge"),
    ("GET", "/api/v1/document-types"),
    ("POST", "/api/v1/document-types"),
    ("PATCH", "/api/v1/document-types/{id}"),
    ("DELETE", "/api/v1/document-types/{id}"),
    ("POST", "/api/v1/document-types/{id}/merge"),
    ("GET", "/api/v1/views"),
    ("POST", "/api/v1/views"),
    ("PATCH", "/api/v1/views/{id}"),
    ("DELETE", "/api/v1/views/{id}"),
    ("GET", "/api/v1/views/{id}/documents"),
    ("GET", "/api/v1/dashboard"),
    ("GET", "/api/v1/custom-fields"),
    ("POST", "/api/v1/custom-fields"),
    ("PATCH", "/api/v1/custom-fields/{id}"),
    ("DELETE", "/api/v1/custom-fields/{id}"),
    ("GET", "/api/v1/documents/next-asn"),
    ("POST", "/api/v1/documents/bulk"),
    ("GET", "/api/v1/jobs/{id}"),
    ("GET", "/api/v1/documents/{id}/notes"),
    ("POST", "/api/v1/documents/{id}/notes"),
    ("PATCH", "/api/v1/documents/{id}/notes/{note_id}"),
    ("DELETE", "/api/v1/documents/{id}/notes/{note_id}"),
    ("GET", "/api/v1/documents/{id}/history"),
    ("POST", "/api/v1/documents/{id}/match"),
    ("GET", "/api/v1/match-rules"),
    ("POST", "/api/v1/match-rules/try"),
    ("PUT", "/api/v1/match-rules/{kind}/{id}"),
    ("DELETE", "/api/v1/match-rules/{kind}/{id}"),
    ("GET", "/api/v1/classifier"),
    ("POST", "/api/v1/classifier/train"),
    ("GET", "/api/v1/documents/{id}/suggestions"),
    ("GET", "/api/v1/path-templates"),
    ("POST", "/api/v1/path-templates"),
    ("POST", "/api/v1/path-templates/preview"),
    ("GET", "/api/v1/path-templates/{id}"),
    ("PATCH", "/api/v1/path-templates/{id}"),
    ("DELETE", "/api/v1/path-templates/{id}"),
    ("GET", "/api/v1/workflows"),
    ("POST", "/api/v1/workflows"),
    ("POST", "/api/v1/workflows/dry-run"),
    ("GET", "/api/v1/workflows/{id}"),
    ("PATCH", "/api/v1/workflows/{id}"),
    ("DELETE", "/api/v1/workflows/{id}"),
    ("GET", "/api/v1/workflow-runs"),
    ("POST", "/api/v1/workflow-deliveries/{id}/retry"),
    ("GET", "/api/v1/llm"),
    ("GET", "/api/v1/documents/{id}/llm-suggestions"),
    ("POST", "/api/v1/documents/{id}/llm-suggestions"),
    ("DELETE", "/api/v1/documents/{id}/llm-suggestions"),
];

fn json_error(err: impl std::fmt::Display, what: &str) -> actix_web::Error {
    let msg: String = err.to_string().chars().take(300).collect();
    ApiError::bad_request(format!("{what}: {msg}")).into()
}

/// Health, readiness and metrics alone: what the `worker` and `ws` roles serve on their
/// `health_bind` (the same handlers as `serve`'s).
pub fn configure_health(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .default_service(web::to(|req: HttpRequest| async move {
            ApiError::not_found(format!("no such resource: {} (this port serves /healthz, /readyz and /metrics)", req.path()))
                .error_response()
        }));
}

/// Registers every route on the given service config (used by `serve`, `all` and the tests).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(256 * 1024).error_handler(|e, _| {
        match e {
            actix_web::error::JsonPayloadError::ContentType => ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                error::codes::UNSUPPORTED_MEDIA_TYPE,
                "send JSON with Content-Type: application/json",
            )
            .into(),
            actix_web::error::JsonPayloadError::Overflow { .. } | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::new(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE, error::codes::PAYLOAD_TOO_LARGE, "the JSON body is too large")
                    .into()
            }
            other => json_error(other, "the JSON body is not valid"),
        }
    }))
    .app_data(web::PathConfig::default().error_handler(|_, req| ApiError::not_found(format!("no such resource: {}", req.path())).into()))
    .app_data(web::QueryConfig::default().error_handler(|e, _| json_error(e, "the query string is not valid")))
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics))
    .route("/api/openapi.json", web::get().to(ops::openapi))
    .service(
        web::scope("/api/v1")
            .route("/auth/login", web::post().to(account::login))
            .route("/auth/logout", web::post().to(account::logout))
            .route("/auth/me", web::get().to(account::me))
            .route("/auth/tokens", web::get().to(account::list_tokens))
            .route("/auth/tokens", web::post().to(account::create_token))
            .route("/auth/tokens/{id}", web::delete().to(account::delete_token))
            .route("/users", web::get().to(account::list_users))
            .route("/users", web::post().to(account::create_user))
            .route("/users/{id}", web::patch().to(account::patch_user))
            .route("/config", web::get().to(ops::client_config))
            .route("/folders/roots", web::get().to(folders::roots))
            .route("/folders", web::post().to(folders::create))
            .route("/folders/{id}", web::get().to(folders::get))
            .route("/folders/{id}", web::patch().to(folders::patch))
            .route("/folders/{id}", web::delete().to(folders::delete))
            .route("/folders/{id}/children", web::get().to(folders::children))
            .route("/folders/{id}/restore", web::post().to(folders::restore))
            .route("/folders/{id}/tags", web::post().to(folders::add_tags))
            .route("/folders/{id}/tags/{tag_id}", web::delete().to(folders::remove_tag))
            .route("/trash", web::get().to(folders::trash))
            .route("/trash", web::delete().to(folders::empty_trash))
            .route("/documents", web::post().to(documents::upload))
            .route("/documents", web::get().to(documents::list))
            .route("/documents/tags", web::post().to(documents::bulk_tags))
            .route("/documents/next-asn", web::get().to(metadata::next_asn))
            .route("/documents/bulk", web::post().to(bulk::bulk))
            .route("/documents/{id}/notes", web::get().to(metadata::notes))
            .route("/documents/{id}/notes", web::post().to(metadata::add_note))
            .route("/documents/{id}/notes/{note_id}", web::patch().to(metadata::patch_note))
            .route("/documents/{id}/notes/{note_id}", web::delete().to(metadata::delete_note))
            .route("/documents/{id}/history", web::get().to(metadata::history))
            .route("/documents/{id}/match", web::post().to(matching::run_on_document))
            .route("/documents/{id}/suggestions", web::get().to(classifier::suggestions))
            .route("/documents/{id}/llm-suggestions", web::get().to(llm::list))
            .route("/documents/{id}/llm-suggestions", web::post().to(llm::ask))
            .route("/documents/{id}/llm-suggestions", web::delete().to(llm::dismiss))
            .route("/documents/{id}", web::get().to(documents::get))
            .route("/documents/{id}", web::patch().to(documents::patch))
            .route("/documents/{id}", web::delete().to(documents::trash))
            .route("/documents/{id}/restore", web::post().to(documents::restore))
            .route("/documents/{id}/purge", web::delete().to(documents::purge))
            .route("/documents/{id}/tags", web::post().to(documents::add_tags))
            .route("/documents/{id}/tags/{tag_id}", web::delete().to(documents::remove_tag))
            .route("/documents/{id}/versions", web::get().to(documents::versions))
            .route("/documents/{id}/download", web::get().to(documents::download))
            .route("/documents/{id}/pages", web::get().to(documents::pages))
            .route("/documents/{id}/pages/{number}/{image}", web::get().to(documents::page_image))
            .route("/documents/{id}/reprocess", web::post().to(documents::reprocess))
            .route("/documents/merge", web::post().to(pages::merge))
            .route("/documents/{id}/pages/rotate", web::post().to(pages::rotate))
            .route("/documents/{id}/pages/delete", web::post().to(pages::delete))
            .route("/documents/{id}/pages/reorder", web::post().to(pages::reorder))
            .route("/documents/{id}/pages/move", web::post().to(pages::move_pages))
            .route("/documents/{id}/pages/extract", web::post().to(pages::extract))
            .route("/documents/{id}/versions/{version_id}/restore", web::post().to(pages::restore_version))
            .route("/tags", web::get().to(tags::list))
            .route("/tags", web::post().to(tags::create))
            .route("/tags/{id}", web::patch().to(tags::patch))
            .route("/tags/{id}", web::delete().to(tags::delete))
            .route("/tags/{id}/merge", web::post().to(tags::merge))
            .route("/correspondents", web::get().to(metadata::list_labels::<{ metadata::CORRESPONDENTS }>))
            .route("/correspondents", web::post().to(metadata::create_label::<{ metadata::CORRESPONDENTS }>))
            .route("/correspondents/{id}", web::patch().to(metadata::patch_label::<{ metadata::CORRESPONDENTS }>))
            .route("/correspondents/{id}", web::delete().to(metadata::delete_label::<{ metadata::CORRESPONDENTS }>))
            .route("/correspondents/{id}/merge", web::post().to(metadata::merge_labels::<{ metadata::CORRESPONDENTS }>))
            .route("/document-types", web::get().to(metadata::list_labels::<{ metadata::DOCUMENT_TYPES }>))
            .route("/document-types", web::post().to(metadata::create_label::<{ metadata::DOCUMENT_TYPES }>))
            .route("/document-types/{id}", web::patch().to(metadata::patch_label::<{ metadata::DOCUMENT_TYPES }>))
            .route("/document-types/{id}", web::delete().to(metadata::delete_label::<{ metadata::DOCUMENT_TYPES }>))
            .route("/document-types/{id}/merge", web::post().to(metadata::merge_labels::<{ metadata::DOCUMENT_TYPES }>))
            .route("/views", web::get().to(views::list))
            .route("/views", web::post().to(views::create))
            .route("/views/{id}", web::patch().to(views::patch))
            .route("/views/{id}", web::delete().to(views::delete))
            .route("/views/{id}/documents", web::get().to(views::documents))
            .route("/dashboard", web::get().to(views::dashboard))
            .route("/match-rules", web::get().to(matching::list))
            .route("/match-rules/try", web::post().to(matching::try_rule))
            .route("/match-rules/{kind}/{id}", web::put().to(matching::put))
            .route("/match-rules/{kind}/{id}", web::delete().to(matching::delete))
            .route("/classifier", web::get().to(classifier::status))
            .route("/classifier/train", web::post().to(classifier::train))
            .route("/path-templates", web::get().to(path_templates::list))
            .route("/path-templates", web::post().to(path_templates::create))
            .route("/path-templates/preview", web::post().to(path_templates::preview))
            .route("/path-templates/{id}", web::get().to(path_templates::get))
            .route("/path-templates/{id}", web::patch().to(path_templates::patch))
            .route("/path-templates/{id}", web::delete().to(path_templates::delete))
            .route("/workflows", web::get().to(workflows::list))
            .route("/workflows", web::post().to(workflows::create))
            .route("/workflows/dry-run", web::post().to(workflows::dry_run))
            .route("/workflows/{id}", web::get().to(workflows::get))
            .route("/workflows/{id}", web::patch().to(workflows::patch))
            .route("/workflows/{id}", web::delete().to(workflows::delete))
            .route("/workflow-runs", web::get().to(workflows::runs))
            .route("/workflow-deliveries/{id}/retry", web::post().to(workflows::retry_delivery))
            .route("/llm", web::get().to(llm::status))
            .route("/custom-fields", web::get().to(metadata::list_fields))
            .route("/custom-fields", web::post().to(metadata::create_field))
            .route("/custom-fields/{id}", web::patch().to(metadata::patch_field))
            .route("/custom-fields/{id}", web::delete().to(metadata::delete_field))
            .route("/search", web::get().to(search::search))
            .route("/jobs", web::get().to(documents::jobs))
            .route("/jobs/{id}", web::get().to(bulk::job))
            .route("/jobs/{id}/retry", web::post().to(documents::retry_job))
            .default_service(web::to(api_not_found)),
    )
    .default_service(web::to(ops::ui));
}

async fn api_not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no such API endpoint: {} {}", req.method(), req.path())).error_response()
}

/// An error response that is not JSON — one of actix's own rejections (a broken multipart body,
/// a malformed header, a wrong method) — becomes the API's error body with the same status, so
/// every error a client sees has a `code` and a `message`. `Allow` and `Retry-After` stay.
fn as_json_error<B: MessageBody + 'static>(res: ServiceResponse<B>) -> ServiceResponse<actix_web::body::BoxBody> {
    let res = res.map_into_boxed_body();
    let status = res.status();
    let is_json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let message = match res.response().error() {
        Some(e) if status.is_client_error() => e.to_string().chars().take(300).collect(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let keep: Vec<(HeaderName, HeaderValue)> = [actix_web::http::header::ALLOW, actix_web::http::header::RETRY_AFTER]
        .into_iter()
        .filter_map(|h| res.headers().get(&h).map(|v| (h, v.clone())))
        .collect();
    let mut fresh = error::ApiError::of_status(status, message).error_response();
    for (h, v) in keep {
        fresh.headers_mut().insert(h, v);
    }
    res.into_response(fresh)
}

/// Request id, access log and metrics for every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()));
    let method = req.method().to_string();
    let ctx = req.app_data::<web::Data<AppContext>>().cloned();
    let span = tracing::info_span!("request", id = %request_id, method = %method, path = %req.path());
    let _enter = span.enter();
    drop(_enter);
    let res = {
        use tracing::Instrument;
        next.call(req).instrument(span.clone()).await
    };
    let elapsed = started.elapsed().as_secs_f64();
    match res {
        Ok(res) => {
            let status = res.status().as_u16();
            let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
            if let Some(ctx) = &ctx {
                ctx.metrics.observe_http(&method, &route, status, elapsed);
            }
            if let Some(err) = res.response().error()
                && status >= 500
            {
                tracing::error!(parent: &span, status, error = %err, "request failed");
            }
            tracing::debug!(parent: &span, status, ms = elapsed * 1000.0, route = %route, "request");
            let mut res = as_json_error(res);
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
            }
            // No page of docmerge may be framed by another site (clickjacking), and no response
            // is sniffed into another type, whichever handler (or actix itself) answered.
            let headers = res.headers_mut();
            headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
            headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
            if !headers.contains_key("content-security-policy") {
                headers.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static("frame-ancestors 'none'"));
            }
            Ok(res)
        }
        Err(e) => Err(e),
    }
}
