//! Health, readiness, metrics, OpenAPI, client config and the embedded web UI.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use rust_embed::RustEmbed;
use serde_json::json;

use crate::app::AppContext;
use crate::http::auth::{Auth, from_trusted_proxy};
use crate::http::error::{ApiError, ApiResult};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(ctx: web::Data<AppContext>) -> HttpResponse {
    // Storage first: an instance that cannot write files cannot take uploads or process them.
    let blobs = ctx.blobs.clone();
    let writable =
        web::block(move || blobs.check_writable()).await.unwrap_or_else(|e| Err(crate::domain::DomainError::Storage(e.to_string())));
    if let Err(e) = writable {
        tracing::warn!(error = %e, "readiness check failed: storage");
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "30"))
            .json(json!({"status": "not ready", "reason": format!("storage cannot be written: {e}")}));
    }
    match ctx.store.migration_status().await {
        Ok((a, k)) if a == k => HttpResponse::Ok().json(json!({"status": "ready", "database": ctx.store.backend()})),
        Ok((a, k)) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not ready", "reason": format!("database schema not current ({a} of {k} migrations)")})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "not ready", "reason": "database unreachable"}))
        }
    }
}

pub async fn metrics(ctx: web::Data<AppContext>) -> HttpResponse {
    let mut gauges = Vec::new();
    if let Ok(t) = ctx.store.totals().await {
        gauges.push(("docmerge_documents".to_string(), String::new(), t.documents as f64));
        gauges.push(("docmerge_pages".to_string(), String::new(), t.pages as f64));
        for (kind, state, n) in t.jobs_by_kind_state {
            gauges.push((
                "docmerge_jobs".to_string(),
                format!("kind=\"{}\",state=\"{}\"", crate::telemetry::escape(&kind), crate::telemetry::escape(&state)),
                n as f64,
            ));
        }
        gauges.push(("docmerge_database_up".to_string(), String::new(), 1.0));
        if let Ok(status) = ctx.store.archive().backup_status().await {
            for (name, value) in crate::archive::backup::metric_values(&ctx.settings, &status, crate::domain::now_millis()) {
                gauges.push((name.to_string(), String::new(), value));
            }
        }
    } else {
        gauges.push(("docmerge_database_up".to_string(), String::new(), 0.0));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(ctx.metrics.render(&gauges))
}

pub const OPENAPI: &str = include_str!("../openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(OPENAPI)
}

pub async fn client_config(ctx: web::Data<AppContext>, auth: Auth, req: HttpRequest) -> ApiResult<HttpResponse> {
    let s = &ctx.settings.server;
    let ws_url = if !s.ws_public_url.is_empty() {
        s.ws_public_url.clone()
    } else if from_trusted_proxy(&req, &s.trusted_proxies)
        && (req.headers().contains_key("X-Forwarded-Host") || req.headers().contains_key("X-Forwarded-For"))
    {
        // Behind a reverse proxy: the websocket is /ws on the same origin.
        "/ws".to_string()
    } else {
        // The Host header itself, not actix's connection_info (which would believe forwarded
        // headers from anyone).
        let host_header = req.headers().get("Host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let host = host_header.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_else(|| host_header.to_string());
        let port = ctx.settings.ws.bind.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap_or_else(|| "8001".into());
        format!("ws://{host}:{port}/ws")
    };
    // Whether documents can be processed (only a process that runs the document jobs knows;
    // the problem is shown to administrators, whose to fix it is).
    let runtime = match crate::pipeline::runtime_status(&ctx.settings) {
        None => json!({"ready": null, "problem": null}),
        Some(None) => json!({"ready": true, "problem": null}),
        Some(Some(why)) => json!({"ready": false, "problem": if auth.0.user.is_admin { Some(why) } else { None }}),
    };
    Ok(HttpResponse::Ok().json(json!({
        "version": crate::VERSION, "ws_url": ws_url, "max_upload_bytes": ctx.settings.max_upload_bytes(),
        "duplicates": s.duplicates, "runtime": runtime,
    })))
}

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

fn serve_asset(req: &HttpRequest, path: &str) -> Option<HttpResponse> {
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = if path == "index.html" { "no-cache" } else { "public, max-age=3600, must-revalidate" };
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Some(
            HttpResponse::NotModified().insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, cache)).finish(),
        );
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let content_type = if mime.type_() == mime::TEXT || mime.subtype() == mime::JAVASCRIPT || mime.subtype() == mime::JSON {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    Some(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'"))
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(file.data.into_owned()),
    )
}

/// `/` and every path that is not the API: the UI's files, or index.html (hash routing).
pub async fn ui(req: HttpRequest) -> HttpResponse {
    // Everything outside /api/v1 that is not a GET route is the web UI's files: read-only. A
    // POST to /healthz or to a page of the UI is a wrong method, not a page.
    if !matches!(req.method().as_str(), "GET" | "HEAD") {
        let mut res = ApiError::of_status(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not allowed on {}: use GET", req.method(), req.path()),
        )
        .error_response();
        res.headers_mut().insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(r) = serve_asset(&req, path) {
        return r;
    }
    if path.starts_with("api/") || path.contains('.') {
        return ApiError::not_found(format!("no such resource: /{path}")).error_response();
    }
    serve_asset(&req, "index.html").unwrap_or_else(|| ApiError::not_found("the web UI is not built into this binary").error_response())
}

pub fn asset_paths() -> Vec<String> {
    Assets::iter().map(|p| p.to_string()).collect()
}
