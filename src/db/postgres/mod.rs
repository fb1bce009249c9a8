//! PostgreSQL backend (being written).

use crate::domain::{DomainError, DomainResult};

pub struct PgStore;

impl PgStore {
    pub async fn connect(_url: &str, _pool: usize) -> DomainResult<std::convert::Infallible> {
        Err(DomainError::Database("the PostgreSQL backend is not built yet".into()))
    }
}
