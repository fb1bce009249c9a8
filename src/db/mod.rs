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

/// A value a rendered condition binds.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlArg {
    Int(i64),
    Float(f64),
    Text(String),
}

/// One metadata condition of a search (domain::query) as SQL on `documents d`, the same text
/// on both backends; `bind` adds a value and answers its placeholder (`?3` / `$3`).
pub fn render_cond(c: &crate::domain::query::Cond, bind: &mut dyn FnMut(SqlArg) -> String) -> String {
    use crate::domain::query::Cond;
    let field_rows = |field_id: i64, bind: &mut dyn FnMut(SqlArg) -> String, cond: String| {
        format!("d.id IN (SELECT df.document_id FROM document_fields df WHERE df.field_id = {} AND {cond})", bind(SqlArg::Int(field_id)))
    };
    match c {
        Cond::Nothing => "0 = 1".into(),
        Cond::LabelIn { column, ids } => {
            let list: Vec<String> = ids.iter().map(|i| bind(SqlArg::Int(*i))).collect();
            format!("d.{column} IN ({})", list.join(", "))
        }
        Cond::ColumnSet { column, set } => format!("d.{column} IS {}NULL", if *set { "NOT " } else { "" }),
        Cond::Asn(n) => format!("d.asn = {}", bind(SqlArg::Int(*n))),
        Cond::DateBetween { from, to } => {
            let mut parts = vec!["d.document_date IS NOT NULL".to_string()];
            if let Some(f) = from {
                parts.push(format!("d.document_date >= {}", bind(SqlArg::Text(f.clone()))));
            }
            if let Some(t) = to {
                parts.push(format!("d.document_date <= {}", bind(SqlArg::Text(t.clone()))));
            }
            parts.join(" AND ")
        }
        Cond::AddedBetween { from, to } => {
            let mut parts = vec!["1 = 1".to_string()];
            if let Some(f) = from {
                parts.push(format!("d.created_at >= {}", bind(SqlArg::Int(*f))));
            }
            if let Some(t) = to {
                parts.push(format!("d.created_at < {}", bind(SqlArg::Int(*t))));
            }
            parts.join(" AND ")
        }
        Cond::HasNotes(set) => format!("{}EXISTS (SELECT 1 FROM notes n WHERE n.document_id = d.id)", if *set { "" } else { "NOT " }),
        Cond::FieldSet { field_id, set } => {
            let inner = field_rows(*field_id, bind, "df.value IS NOT NULL".into());
            if *set { inner } else { format!("NOT ({inner})") }
        }
        Cond::FieldNum { field_id, op, value } => {
            let v = bind(SqlArg::Float(*value));
            field_rows(*field_id, bind, format!("df.num {} {v}", op.sql()))
        }
        Cond::FieldTxt { field_id, op, value } => {
            let v = bind(SqlArg::Text(value.clone()));
            field_rows(*field_id, bind, format!("df.txt {} {v}", op.sql()))
        }
        Cond::FieldTxtBetween { field_id, from, to } => {
            let (f, t) = (bind(SqlArg::Text(from.clone())), bind(SqlArg::Text(to.clone())));
            field_rows(*field_id, bind, format!("df.txt >= {f} AND df.txt <= {t}"))
        }
        Cond::FieldContains { field_id, value } => {
            let v = bind(SqlArg::Text(format!("%{}%", like_escape(value))));
            field_rows(*field_id, bind, format!("df.txt LIKE {v} ESCAPE '\\'"))
        }
    }
}
