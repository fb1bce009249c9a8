//! `docmerge bench …`: benchmarks that print a table.

use crate::app::AppError;
use crate::cli::BenchCommand;
use crate::config::Settings;

pub async fn run(_settings: Settings, _cmd: BenchCommand) -> Result<(), AppError> {
    Err(AppError::Runtime("not yet".into()))
}
