//! What every role shares, and how it is built: settings → store → blob store. Which role runs
//! is decided above this, in `commands`. Errors end as one sentence and an exit code: 2 for
//! usage and configuration errors, 1 for failures at run time.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::DomainError;
use crate::domain::store::Store;
use crate::storage::BlobStore;
use crate::telemetry::Metrics;

/// What every role shares.
#[derive(Clone)]
pub struct AppContext {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    pub metrics: Arc<Metrics>,
    /// Searches running at once in this process (`limits.max_concurrent_searches`): the rest of
    /// the API keeps its database connections and cores however many searches arrive.
    pub search_slots: Arc<tokio::sync::Semaphore>,
    /// Each owner's newest auto-classifier model, loaded once (#23).
    pub models: Arc<crate::classifiers::Models>,
}

/// A failure that ends the process.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad settings or arguments: exit 2.
    #[error("{0}")]
    Config(String),
    /// Something failed while running: exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Runtime(e.to_string())
    }
}

impl AppContext {
    /// Opens the store and blob store. `migrate`: apply migrations (serve/all/migrate only);
    /// otherwise the schema must already be current.
    pub async fn build(settings: Settings, migrate: bool) -> Result<AppContext, AppError> {
        let url = settings.database_url();
        let store = crate::db::connect(&url, settings.database.pool_size).await.map_err(|e| {
            AppError::Config(format!(
                "cannot connect to the database {}: {e}. Check database.url (DOCMERGE__DATABASE__URL).",
                crate::config::redact_url(&url)
            ))
        })?;
        if migrate {
            store.migrate().await.map_err(|e| AppError::Runtime(format!("applying database migrations failed: {e}")))?;
        } else {
            let (applied, known) = store.migration_status().await?;
            if applied < known {
                return Err(AppError::Config(format!(
                    "the database schema is not current ({applied} of {known} migrations applied): run `docmerge migrate` first"
                )));
            }
        }
        let blobs = BlobStore::open(&settings.storage.root).map_err(|e| AppError::Config(e.to_string()))?;
        let search_slots = Arc::new(tokio::sync::Semaphore::new(settings.limits.max_concurrent_searches.max(1) as usize));
        Ok(AppContext {
            settings: Arc::new(settings),
            store,
            blobs,
            metrics: Arc::new(Metrics::default()),
            search_slots,
            models: Arc::default(),
        })
    }
}
