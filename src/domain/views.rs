//! Saved views (#22): a named search with a sort and the columns of a list, per owner.

use serde::{Deserialize, Serialize};

use super::metadata::validate_name;
use super::{DomainError, DomainResult, Id, Millis};

/// A named search (the search language; empty: every document) with a sort and the columns a
/// list shows, per owner; optionally on the dashboard and in the sidebar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub id: Id,
    pub owner_id: Id,
    pub name: String,
    pub query: String,
    /// As the list API writes it: `-created_at`, `date`, `-date`, `title`, `asn`, ….
    pub sort: String,
    pub columns: Vec<String>,
    pub on_dashboard: bool,
    pub in_sidebar: bool,
    pub position: i64,
    pub created_at: Millis,
}

/// A saved view as written by a client (validated by [`validate_view`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewSpec {
    pub name: String,
    pub query: String,
    pub sort: String,
    pub columns: Vec<String>,
    pub on_dashboard: bool,
    pub in_sidebar: bool,
    pub position: i64,
}

/// The columns a list can show; `field:<id>` shows a custom field.
pub const VIEW_COLUMNS: [&str; 11] =
    ["title", "date", "added", "correspondent", "type", "tags", "asn", "pages", "folder", "state", "notes"];

/// Sorts a list (and a saved view) can have, as the API writes them.
pub fn parse_sort(s: &str) -> DomainResult<super::DocSort> {
    use super::DocSort::*;
    Ok(match s {
        "-created_at" => CreatedDesc,
        "created_at" => CreatedAsc,
        "title" => TitleAsc,
        "-title" => TitleDesc,
        "-date" => DateDesc,
        "date" => DateAsc,
        "asn" => AsnAsc,
        "-asn" => AsnDesc,
        other => {
            return Err(DomainError::Invalid(format!(
                "sort must be created_at, -created_at, title, -title, date, -date, asn or -asn, not {other:?}"
            )));
        }
    })
}

/// Checks a view: a name, a query that parses (or none), a known sort, known columns.
pub fn validate_view(v: &ViewSpec) -> DomainResult<ViewSpec> {
    let name = validate_name("view", &v.name)?;
    let query = v.query.trim().to_string();
    if !query.is_empty() {
        super::search::parse_query(&query)?;
    }
    let sort = if v.sort.is_empty() { "-created_at".to_string() } else { v.sort.clone() };
    parse_sort(&sort)?;
    if v.columns.len() > 30 {
        return Err(DomainError::Invalid("a view shows at most 30 columns".into()));
    }
    for c in &v.columns {
        let known = VIEW_COLUMNS.contains(&c.as_str()) || c.strip_prefix("field:").is_some_and(|id| id.parse::<Id>().is_ok());
        if !known {
            return Err(DomainError::Invalid(format!("unknown column {c:?}: one of {}, or field:<id>", VIEW_COLUMNS.join(", "))));
        }
    }
    Ok(ViewSpec { name, query, sort, ..v.clone() })
}
