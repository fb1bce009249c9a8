//! The top of the house: the command line's subcommand picks a role or a tool, each built on
//! the shared [`AppContext`]. Nothing imports this module but `main.rs`.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};
use crate::cli::{Cli, Command};
use crate::config::{ConfigSources, Settings};

/// Cancels the token on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received, shutting down"),
        }
        t.cancel();
    });
    token
}

pub fn main_with(cli: Cli) -> ExitCode {
    let sources = ConfigSources { file: cli.config.clone(), skip_system_file: false };
    let (settings, warnings) = match Settings::load(&sources) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("docmerge: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_tracing(&settings.log);
    for w in warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("docmerge: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command, settings));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(AppError::Config(msg)) => {
            eprintln!("docmerge: {msg}");
            ExitCode::from(2)
        }
        Err(AppError::Runtime(msg)) => {
            eprintln!("docmerge: {msg}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> Result<ExitCode, AppError> {
    use crate::roles;
    match command {
        Command::Serve => {
            let ctx = AppContext::build(settings, true).await?;
            roles::serve::run(ctx, shutdown_on_signals()).await?;
        }
        Command::Worker(args) => {
            let mut settings = settings;
            if let Some(n) = args.concurrency {
                settings.worker.concurrency = n.max(1);
            }
            let ctx = AppContext::build(settings, false).await?;
            roles::worker::run(ctx, shutdown_on_signals()).await?;
        }
        Command::Ws => {
            let ctx = AppContext::build(settings, false).await?;
            roles::ws::run(ctx, shutdown_on_signals()).await?;
        }
        Command::All(args) => {
            let mut settings = settings;
            if let Some(n) = args.concurrency {
                settings.worker.concurrency = n.max(1);
            }
            let ctx = AppContext::build(settings, true).await?;
            roles::all::run(ctx, shutdown_on_signals()).await?;
        }
        Command::Migrate => {
            let ctx = AppContext::build(settings, true).await?;
            let (applied, known) = ctx.store.migration_status().await?;
            println!("database schema is current ({applied} of {known} migrations applied)");
        }
        Command::User(cmd) => {
            let ctx = AppContext::build(settings, false).await?;
            crate::admin::user_command(&ctx, cmd).await?;
        }
        Command::Check => return crate::admin::check(settings).await,
        Command::LlmPrompt => crate::admin::llm_prompt(&settings)?,
        Command::Ocr(args) => crate::admin::ocr_file(settings, args).await?,
        Command::Export(args) => {
            let ctx = AppContext::build(settings, false).await?;
            crate::archive::export_command(&ctx, args).await?;
        }
        Command::Import(args) => {
            let ctx = AppContext::build(settings, true).await?;
            crate::archive::import_command(&ctx, args).await?;
        }
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => crate::bench::run(settings, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}
