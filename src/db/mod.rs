//! `connect(url)` picks the backend from the URL. Callers only ever see `Arc<dyn Store>` (and
//! the benchmarks and tests `Arc<dyn BulkStore>`, through `connect_bulk`).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

#[cfg(feature = "bench")]
use crate::domain::store::BulkStore;
use crate::domain::store::Store;
use crate::domain::{DomainError, DomainResult};

pub async fn connect(url: &str, pool_size: u32) -> DomainResult<Arc<dyn Store>> {
    Ok(match open(url, pool_size).await? {
        Backend::Sqlite(s) => Arc::new(s),
        Backend::Postgres(s) => Arc::new(s),
    })
}

/// Like [`connect`], with the bulk loader that only `docmerge bench` and the tests use.
#[cfg(feature = "bench")]
pub async fn connect_bulk(url: &str, pool_size: u32) -> DomainResult<Arc<dyn BulkStore>> {
    Ok(match open(url, pool_size).await? {
        Backend::Sqlite(s) => Arc::new(s),
        Backend::Postgres(s) => Arc::new(s),
    })
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

async fn open(url: &str, pool_size: u32) -> DomainResult<Backend> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Backend::Sqlite(sqlite::SqliteStore::open(path, pool_size as usize).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres(postgres::PgStore::connect(url, pool_size as usize).await?))
    } else {
        Err(DomainError::Invalid(format!(
            "database.url must start with sqlite:// or postgres://, not {:?}",
            crate::config::redact_url(url)
        )))
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (both backends use `ESCAPE '\'`).
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Creates an empty database `name` on the PostgreSQL server of `base_url` (for benchmarks and
/// tests) and returns its URL.
pub async fn create_scratch_database(base_url: &str, name: &str) -> DomainResult<String> {
    postgres::create_database(base_url, name).await
}
