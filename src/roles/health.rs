//! /healthz, /readyz and /metrics for the roles that serve no API (`worker`, `ws`), on their own
//! configurable address: a process supervisor or Prometheus can watch every role.

use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};

/// Starts the health server when `bind` is set (`setting` names it in errors); it stops with
/// `shutdown`. None when `bind` is empty.
pub fn serve(
    ctx: &AppContext,
    setting: &str,
    bind: &str,
    shutdown: CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, AppError> {
    if bind.is_empty() {
        return Ok(None);
    }
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| AppError::Config(format!("cannot listen on {bind}: {e}. Is another process using it? Change {setting}.")))?;
    let data = web::Data::new(ctx.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(crate::http::configure_health))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .map_err(|e| AppError::Runtime(format!("cannot start the health server on {bind}: {e}")))?
        .run();
    let handle = server.handle();
    tracing::info!(addr = %bind, "serving /healthz, /readyz and /metrics");
    Ok(Some(tokio::spawn(async move {
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop(true).await;
        });
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "the health server stopped");
        }
        stopper.abort();
    })))
}
