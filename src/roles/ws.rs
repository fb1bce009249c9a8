//! `docmerge ws`: live events over websockets.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};

pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, AppError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        AppError::Config(format!("cannot listen on {addr}: {e}. Is another process using it? Change ws.bind (DOCMERGE__WS__BIND)."))
    })
}

pub async fn run(ctx: AppContext, shutdown: CancellationToken) -> Result<(), AppError> {
    let listener = bind(&ctx.settings.ws.bind).await?;
    let health = crate::roles::health::serve(&ctx, "ws.health_bind", &ctx.settings.ws.health_bind, shutdown.clone())?;
    tracing::info!(addr = %ctx.settings.ws.bind, "websocket server listening at /ws");
    let poll = crate::ws::HUB_POLL;
    crate::ws::serve_ws(ctx.store.clone(), listener, poll, ctx.settings.ws.allowed_origins.clone(), shutdown.clone()).await;
    crate::roles::notify_ready();
    shutdown.cancelled().await;
    // Give connections a moment to send their "going away" close frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(h) = health {
        let _ = h.await;
    }
    Ok(())
}
