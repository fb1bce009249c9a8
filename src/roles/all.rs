//! `docmerge all`: API + web UI, worker and websocket server in one process, sharing one store
//! (so wake-ups are in-process, not polled).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};

pub async fn run(ctx: AppContext, shutdown: CancellationToken) -> Result<(), AppError> {
    crate::roles::serve::bootstrap_admin(&ctx).await?;
    ctx.blobs.clean_temp(Duration::from_secs(3600));
    crate::roles::worker::prepare_runtime(&ctx).await;
    let http = crate::roles::serve::bind(&ctx.settings.server.bind)?;
    let ws = crate::roles::ws::bind(&ctx.settings.ws.bind).await?;
    let poll = crate::ws::HUB_POLL;
    crate::ws::serve_ws(ctx.store.clone(), ws, poll, ctx.settings.ws.allowed_origins.clone(), shutdown.clone()).await;

    let worker = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tokio::spawn(async move { crate::roles::worker::run_embedded(ctx, shutdown).await })
    };
    let url = format!("http://{}", ctx.settings.server.bind);
    println!("docmerge is running: open {url} in your browser (user {:?}). Press Ctrl-C to stop.", ctx.settings.auth.admin_username);
    tracing::info!(%url, ws = %ctx.settings.ws.bind, database = ctx.store.backend(), storage = %ctx.settings.storage.root.display(), "all roles started");
    crate::roles::notify_ready();
    let served = crate::roles::serve::serve_on(ctx.clone(), http, shutdown.clone()).await;
    shutdown.cancel();
    crate::roles::notify_stopping();
    let _ = worker.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    served
}
