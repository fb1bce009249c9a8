//! What a job does to a document (being integrated).

use crate::app::AppError;
use crate::cli::OcrArgs;
use crate::config::Settings;

pub fn check_runtime(_settings: &Settings) -> Vec<(String, Result<String, String>)> {
    vec![("pipeline".into(), Err("the processing pipeline is not built into this binary yet".into()))]
}

pub async fn ocr_file(_settings: &Settings, _args: &OcrArgs) -> Result<(), AppError> {
    Err(AppError::Runtime("the processing pipeline is not built into this binary yet".into()))
}

pub fn register_jobs(_registry: &mut crate::jobs::Registry, _ctx: &crate::app::AppContext) {}
