use tokio_util::sync::CancellationToken;

use crate::app::{AppContext, AppError};

pub async fn run(_ctx: AppContext, shutdown: CancellationToken) -> Result<(), AppError> {
    tracing::info!("all role is not implemented yet");
    shutdown.cancelled().await;
    Ok(())
}
