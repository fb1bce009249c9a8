//! `docmerge serve`: the REST API, the embedded web UI, /metrics and health checks.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};
use crate::http;

/// Creates the first administrator when there are no users yet. Without a configured password a
/// random one is generated and printed once (to the terminal, not the log).
pub async fn bootstrap_admin(ctx: &AppContext) -> Result<(), AppError> {
    if ctx.store.count_users().await? > 0 {
        return Ok(());
    }
    let auth = &ctx.settings.auth;
    crate::domain::users::validate_username(&auth.admin_username).map_err(|e| AppError::Config(format!("auth.admin_username: {e}")))?;
    let (password, generated) = if auth.admin_password.is_empty() {
        (crate::auth::generate_password(), true)
    } else {
        crate::auth::validate_password(&auth.admin_password).map_err(|e| AppError::Config(format!("auth.admin_password: {e}")))?;
        (auth.admin_password.clone(), false)
    };
    let hash = crate::auth::hash_password(&password)?;
    match ctx.store.create_user(&auth.admin_username, &hash, true).await {
        Ok(_) => {
            if generated {
                println!(
                    "\n  Created the administrator {:?} with the password  {password}\n  Log in and change it, or set auth.admin_password before the first start.\n",
                    auth.admin_username
                );
            } else {
                tracing::info!(user = %auth.admin_username, "created the administrator from the configuration");
            }
            Ok(())
        }
        // Another process created it at the same moment.
        Err(crate::domain::DomainError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Starts the HTTP server on an already bound listener; returns when `shutdown` fires and the
/// server has drained.
pub async fn serve_on(ctx: AppContext, listener: TcpListener, shutdown: CancellationToken) -> Result<(), AppError> {
    let workers = match ctx.settings.server.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let data = web::Data::new(ctx.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).wrap(from_fn(http::observe)).configure(http::configure))
        .on_connect(http::disconnect::remember_socket)
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_secs(30))
        .listen(listener)
        .map_err(|e| AppError::Runtime(format!("cannot start the HTTP server: {e}")))?
        .run();
    let handle = server.handle();
    let stopper = tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    server.await.map_err(|e| AppError::Runtime(format!("the HTTP server failed: {e}")))?;
    stopper.abort();
    Ok(())
}

pub fn bind(addr: &str) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).map_err(|e| {
        AppError::Config(format!("cannot listen on {addr}: {e}. Is another process using it? Change server.bind (DOCMERGE__SERVER__BIND)."))
    })
}

pub async fn run(ctx: AppContext, shutdown: CancellationToken) -> Result<(), AppError> {
    bootstrap_admin(&ctx).await?;
    let removed = ctx.blobs.clean_temp(Duration::from_secs(3600));
    if removed > 0 {
        tracing::info!(files = removed, "removed temp files left by an interrupted upload");
    }
    let listener = bind(&ctx.settings.server.bind)?;
    tracing::info!(addr = %ctx.settings.server.bind, database = ctx.store.backend(), "serving the API and web UI");
    crate::roles::notify_ready();
    serve_on(ctx, listener, shutdown).await
}
