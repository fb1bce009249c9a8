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

/// How a custom-field condition is written: `In` (the matching field rows first: best when
/// they are few) or `Exists` (each candidate document probed: best when they are many, so a
/// page in created order is found after a few rows instead of after reading every match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldForm {
    In,
    Exists,
}

/// Field rows a condition may match before [`FieldForm::Exists`] is the better form.
pub const SPARSE_FIELD_ROWS: i64 = 5000;

/// For a custom-field condition: a query counting its field rows (at most
/// [`SPARSE_FIELD_ROWS`] + 1, from the field's index alone), so the caller can pick the form.
pub fn field_probe(c: &crate::domain::query::Cond, bind: &mut dyn FnMut(SqlArg) -> String) -> Option<String> {
    let (field_id, inner) = field_condition(c, bind)?;
    Some(format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM document_fields df WHERE df.field_id = {} AND {inner} LIMIT {})",
        bind(SqlArg::Int(field_id)),
        SPARSE_FIELD_ROWS + 1
    ))
}

/// The `df` condition of a custom-field filter, and its field.
fn field_condition(c: &crate::domain::query::Cond, bind: &mut dyn FnMut(SqlArg) -> String) -> Option<(i64, String)> {
    use crate::domain::query::Cond;
    Some(match c {
        Cond::FieldSet { field_id, .. } => (*field_id, "df.value IS NOT NULL".into()),
        Cond::FieldNum { field_id, op, value } => (*field_id, format!("df.num {} {}", op.sql(), bind(SqlArg::Float(*value)))),
        Cond::FieldTxt { field_id, op, value } => (*field_id, format!("df.txt {} {}", op.sql(), bind(SqlArg::Text(value.clone())))),
        Cond::FieldTxtBetween { field_id, from, to } => {
            let (f, t) = (bind(SqlArg::Text(from.clone())), bind(SqlArg::Text(to.clone())));
            (*field_id, format!("df.txt >= {f} AND df.txt <= {t}"))
        }
        Cond::FieldContains { field_id, value } => {
            (*field_id, format!("df.txt LIKE {} ESCAPE '\\'", bind(SqlArg::Text(format!("%{}%", like_escape(value))))))
        }
        _ => return None,
    })
}

/// One metadata condition of a search (domain::query) as SQL on `documents d`, the same text
/// on both backends; `bind` adds a value and answers its placeholder (`?3` / `$3`). A
/// custom-field condition is written in `form`.
pub fn render_cond(c: &crate::domain::query::Cond, form: FieldForm, bind: &mut dyn FnMut(SqlArg) -> String) -> String {
    use crate::domain::query::Cond;
    if let Some((field_id, inner)) = field_condition(c, bind) {
        let field = bind(SqlArg::Int(field_id));
        let rows = match form {
            FieldForm::In => format!("d.id IN (SELECT df.document_id FROM document_fields df WHERE df.field_id = {field} AND {inner})"),
            FieldForm::Exists => {
                format!("EXISTS (SELECT 1 FROM document_fields df WHERE df.document_id = d.id AND df.field_id = {field} AND {inner})")
            }
        };
        return match c {
            Cond::FieldSet { set: false, .. } => format!("NOT ({rows})"),
            _ => rows,
        };
    }
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
        Cond::FieldSet { .. }
        | Cond::FieldNum { .. }
        | Cond::FieldTxt { .. }
        | Cond::FieldTxtBetween { .. }
        | Cond::FieldContains { .. } => {
            unreachable!("custom-field conditions are written above")
        }
    }
}
