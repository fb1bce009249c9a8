//! The metadata part of the search language (#22): `correspondent:NAME`, `type:NAME`, `asn:N`,
//! `created:2025` / `created:2025-03` / `created>2025-01-01` (the document's date; `added…`
//! the same for when it was added), custom field queries (`amount>100`,
//! `"due date"<2026-01-01`, `paid:true`, `category:Insurance`, `note:word` for a text field),
//! `has:note` / `no:correspondent` (also `type`, `date`, `asn` and any field name).
//!
//! Parsing ([`parse_filter`]) is pure; [`plan`] resolves names against the owner's
//! correspondents, types and fields into [`Cond`]itions, which each backend renders into SQL
//! the same way. Names compare case-insensitively; a name that matches nothing makes the
//! query match nothing (as `tag:` does); an unknown field name or an operator a field's kind
//! does not have is a 400 that says so.

use chrono::{Datelike, NaiveDate};

use super::metadata::{FieldDef, FieldKind, Label};
use super::{DomainError, DomainResult, Id};

/// A comparison in a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `:`
    Is,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Is => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Something `has:` / `no:` can ask about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    Note,
    Correspondent,
    DocumentType,
    Date,
    Asn,
    /// A custom field with a value.
    Field(String),
}

/// One metadata filter as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaFilter {
    Correspondent(String),
    DocumentType(String),
    Asn(i64),
    /// The document's date (`created`), or when it was added (`added`: `added_at` = true).
    Date {
        added: bool,
        op: Op,
        value: String,
    },
    Has(Presence, bool),
    Field {
        name: String,
        op: Op,
        value: String,
    },
}

/// Keys of the language that are not custom field names.
pub const RESERVED: [&str; 12] =
    ["tag", "folder", "before", "after", "correspondent", "type", "asn", "created", "added", "has", "no", "is"];

/// A `key OP value` token (`key` already unquoted, lower-case for reserved keys). None: not a
/// metadata filter (`tag:`, `folder:`, `before:`, `after:` are the caller's).
pub fn parse_filter(key: &str, op: Op, value: &str) -> DomainResult<Option<MetaFilter>> {
    let k = key.to_ascii_lowercase();
    let value = value.trim();
    if value.is_empty() {
        return Err(DomainError::Invalid(format!("{key}: needs a value")));
    }
    let only_is = |what: &str| -> DomainResult<()> {
        if op != Op::Is {
            return Err(DomainError::Invalid(format!("{what} is written {what}:VALUE (no <, >)")));
        }
        Ok(())
    };
    Ok(Some(match k.as_str() {
        "tag" | "folder" | "before" | "after" => return Ok(None),
        "correspondent" => {
            only_is("correspondent")?;
            MetaFilter::Correspondent(value.to_string())
        }
        "type" => {
            only_is("type")?;
            MetaFilter::DocumentType(value.to_string())
        }
        "asn" => {
            only_is("asn")?;
            MetaFilter::Asn(value.parse().map_err(|_| DomainError::Invalid(format!("asn: needs a number, not {value:?}")))?)
        }
        "created" | "added" => {
            date_range(value, op)
                .ok_or_else(|| DomainError::Invalid(format!("{k}: needs a date like 2025, 2025-03 or 2025-03-14, not {value:?}")))?;
            MetaFilter::Date { added: k == "added", op, value: value.to_string() }
        }
        "has" | "no" => {
            only_is(&k)?;
            let what = match value.to_ascii_lowercase().as_str() {
                "note" | "notes" => Presence::Note,
                "correspondent" => Presence::Correspondent,
                "type" => Presence::DocumentType,
                "date" => Presence::Date,
                "asn" => Presence::Asn,
                _ => Presence::Field(value.to_string()),
            };
            MetaFilter::Has(what, k == "has")
        }
        _ => MetaFilter::Field { name: key.to_string(), op, value: value.to_string() },
    }))
}

/// The inclusive range of ISO dates a date query means: `2025` the year, `2025-03` the month,
/// `2025-03-14` the day; with `<`/`>` the open side. None when it is not a date.
pub fn date_range(value: &str, op: Op) -> Option<(Option<String>, Option<String>)> {
    let v = value.trim();
    let (first, last) = match v.len() {
        4 => {
            let y: i32 = v.parse().ok()?;
            (NaiveDate::from_ymd_opt(y, 1, 1)?, NaiveDate::from_ymd_opt(y, 12, 31)?)
        }
        7 => {
            let d = NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").ok()?;
            let next = if d.month() == 12 {
                NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)?
            };
            (d, next.pred_opt()?)
        }
        10 => {
            let d = super::metadata::parse_date(v)?;
            (d, d)
        }
        _ => return None,
    };
    let iso = |d: NaiveDate| Some(d.format("%Y-%m-%d").to_string());
    Some(match op {
        Op::Is => (iso(first), iso(last)),
        Op::Ge => (iso(first), None),
        Op::Gt => (iso(last.succ_opt()?), None),
        Op::Le => (None, iso(last)),
        Op::Lt => (None, iso(first.pred_opt()?)),
    })
}

/// A condition on a document `d`, for the backends to render.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// Nothing can match (a name that names nothing).
    Nothing,
    /// `d.<column> IN ids`.
    LabelIn {
        column: &'static str,
        ids: Vec<Id>,
    },
    /// `d.<column> IS [NOT] NULL` (correspondent_id, document_type_id, document_date, asn).
    ColumnSet {
        column: &'static str,
        set: bool,
    },
    Asn(i64),
    /// The document's date within inclusive ISO bounds.
    DateBetween {
        from: Option<String>,
        to: Option<String>,
    },
    /// When it was added: milliseconds, `from` inclusive, `to` exclusive.
    AddedBetween {
        from: Option<i64>,
        to: Option<i64>,
    },
    HasNotes(bool),
    /// A field with a value (`set`) or without one (no value, or not on the document).
    FieldSet {
        field_id: Id,
        set: bool,
    },
    /// `num OP value` of a numeric field.
    FieldNum {
        field_id: Id,
        op: Op,
        value: f64,
    },
    /// `txt OP value` (dates as ISO, select option ids, booleans as text).
    FieldTxt {
        field_id: Id,
        op: Op,
        value: String,
    },
    /// A date field within inclusive ISO bounds.
    FieldTxtBetween {
        field_id: Id,
        from: String,
        to: String,
    },
    /// The lower-cased text contains the words (a LIKE pattern the backend escapes).
    FieldContains {
        field_id: Id,
        value: String,
    },
}

/// What [`plan`] reads: the owner's labels and fields.
pub struct Vocabulary<'a> {
    pub correspondents: &'a [Label],
    pub document_types: &'a [Label],
    pub fields: &'a [FieldDef],
}

fn label_ids(labels: &[Label], name: &str) -> Vec<Id> {
    labels.iter().filter(|l| l.name.to_lowercase() == name.to_lowercase()).map(|l| l.id).collect()
}

fn field_named<'a>(fields: &'a [FieldDef], name: &str) -> DomainResult<&'a FieldDef> {
    fields.iter().find(|f| f.name.to_lowercase() == name.to_lowercase()).ok_or_else(|| {
        DomainError::Invalid(format!("there is no custom field named {name:?} (to search for the text, put it in quotes: \"{name}:…\")"))
    })
}

fn millis(iso: &str) -> Option<i64> {
    super::metadata::parse_date(iso).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis())
}

/// The conditions the filters stand for, in order.
pub fn plan(filters: &[MetaFilter], v: &Vocabulary<'_>) -> DomainResult<Vec<Cond>> {
    filters.iter().map(|f| plan_one(f, v)).collect()
}

fn plan_one(f: &MetaFilter, v: &Vocabulary<'_>) -> DomainResult<Cond> {
    Ok(match f {
        MetaFilter::Correspondent(name) => match label_ids(v.correspondents, name) {
            ids if ids.is_empty() => Cond::Nothing,
            ids => Cond::LabelIn { column: "correspondent_id", ids },
        },
        MetaFilter::DocumentType(name) => match label_ids(v.document_types, name) {
            ids if ids.is_empty() => Cond::Nothing,
            ids => Cond::LabelIn { column: "document_type_id", ids },
        },
        MetaFilter::Asn(n) => Cond::Asn(*n),
        MetaFilter::Date { added: false, op, value } => {
            let (from, to) = date_range(value, *op).ok_or_else(|| DomainError::Invalid(format!("created: {value:?} is not a date")))?;
            Cond::DateBetween { from, to }
        }
        MetaFilter::Date { added: true, op, value } => {
            let (from, to) = date_range(value, *op).ok_or_else(|| DomainError::Invalid(format!("added: {value:?} is not a date")))?;
            // Inclusive ISO days → [start of `from`, start of the day after `to`).
            let next = |iso: &str| super::metadata::parse_date(iso).and_then(|d| d.succ_opt()).map(|d| d.format("%Y-%m-%d").to_string());
            Cond::AddedBetween { from: from.as_deref().and_then(millis), to: to.as_deref().and_then(next).as_deref().and_then(millis) }
        }
        MetaFilter::Has(what, set) => match what {
            Presence::Note => Cond::HasNotes(*set),
            Presence::Correspondent => Cond::ColumnSet { column: "correspondent_id", set: *set },
            Presence::DocumentType => Cond::ColumnSet { column: "document_type_id", set: *set },
            Presence::Date => Cond::ColumnSet { column: "document_date", set: *set },
            Presence::Asn => Cond::ColumnSet { column: "asn", set: *set },
            Presence::Field(name) => Cond::FieldSet { field_id: field_named(v.fields, name)?.id, set: *set },
        },
        MetaFilter::Field { name, op, value } => field_cond(field_named(v.fields, name)?, *op, value)?,
    })
}

fn field_cond(def: &FieldDef, op: Op, value: &str) -> DomainResult<Cond> {
    let bad = |what: &str| DomainError::Invalid(format!("field {:?}: {what}", def.name));
    let field_id = def.id;
    Ok(match def.kind {
        FieldKind::Integer | FieldKind::Number | FieldKind::Monetary => {
            let digits: String = value.chars().filter(|c| !c.is_ascii_alphabetic() && !c.is_whitespace()).collect();
            let n: f64 = digits.replace(',', ".").parse().map_err(|_| bad(&format!("{value:?} is not a number")))?;
            Cond::FieldNum { field_id, op, value: n }
        }
        FieldKind::Date => {
            let (from, to) =
                date_range(value, op).ok_or_else(|| bad(&format!("{value:?} is not a date like 2025, 2025-03 or 2025-03-14")))?;
            match (from, to) {
                (Some(f), Some(t)) if f == t => Cond::FieldTxt { field_id, op: Op::Is, value: f },
                (Some(f), Some(t)) => Cond::FieldTxtBetween { field_id, from: f, to: t },
                (Some(f), None) => Cond::FieldTxt { field_id, op: Op::Ge, value: f },
                (None, Some(t)) => Cond::FieldTxt { field_id, op: Op::Le, value: t },
                (None, None) => Cond::Nothing,
            }
        }
        _ if op != Op::Is => return Err(bad("only numbers and dates compare with < and >")),
        FieldKind::Boolean => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" => Cond::FieldTxt { field_id, op, value: "true".into() },
            "false" | "no" => Cond::FieldTxt { field_id, op, value: "false".into() },
            _ => return Err(bad("is true or false")),
        },
        FieldKind::Select => match def.option_by_label(value) {
            Some(o) => Cond::FieldTxt { field_id, op, value: o.id.clone() },
            None => Cond::Nothing,
        },
        FieldKind::Text | FieldKind::LongText | FieldKind::Url => Cond::FieldContains { field_id, value: value.to_lowercase() },
        FieldKind::DocumentLink => return Err(bad("a document link cannot be searched by value; use has: or no:")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metadata::{LabelKind, SelectOption};

    fn label(id: Id, name: &str) -> Label {
        Label {
            id,
            owner_id: 1,
            kind: LabelKind::Correspondent,
            name: name.into(),
            color: None,
            document_count: 0,
            default_fields: vec![],
            path_template_id: None,
        }
    }
    fn field(id: Id, name: &str, kind: FieldKind) -> FieldDef {
        FieldDef {
            id,
            owner_id: 1,
            name: name.into(),
            kind,
            currency: Some("EUR".into()),
            options: vec![SelectOption { id: "o1".into(), label: "Insurance".into() }],
            created_at: 0,
            document_count: 0,
        }
    }

    #[test]
    fn date_ranges() {
        let r = |v: &str, op: Op| date_range(v, op).map(|(a, b)| (a.unwrap_or_default(), b.unwrap_or_default()));
        assert_eq!(r("2025", Op::Is), Some(("2025-01-01".into(), "2025-12-31".into())));
        assert_eq!(r("2024-02", Op::Is), Some(("2024-02-01".into(), "2024-02-29".into())));
        assert_eq!(r("2025-12", Op::Is), Some(("2025-12-01".into(), "2025-12-31".into())));
        assert_eq!(r("2025-01-01", Op::Gt), Some(("2025-01-02".into(), String::new())));
        assert_eq!(r("2025", Op::Lt), Some((String::new(), "2024-12-31".into())));
        assert_eq!(r("2025", Op::Le), Some((String::new(), "2025-12-31".into())));
        assert_eq!(r("2025-13", Op::Is), None);
        assert_eq!(r("yesterday", Op::Is), None);
    }

    #[test]
    fn plans_names_fields_and_kinds() {
        let c = [label(3, "ACME"), label(4, "acme")];
        let fields =
            [field(7, "Amount", FieldKind::Monetary), field(8, "category", FieldKind::Select), field(9, "due date", FieldKind::Date)];
        let v = Vocabulary { correspondents: &c, document_types: &[], fields: &fields };
        let p = |key: &str, op: Op, value: &str| plan(&[parse_filter(key, op, value).unwrap().unwrap()], &v);
        assert_eq!(p("correspondent", Op::Is, "Acme").unwrap(), vec![Cond::LabelIn { column: "correspondent_id", ids: vec![3, 4] }]);
        assert_eq!(p("type", Op::Is, "Invoice").unwrap(), vec![Cond::Nothing]);
        assert_eq!(p("amount", Op::Gt, "100").unwrap(), vec![Cond::FieldNum { field_id: 7, op: Op::Gt, value: 100.0 }]);
        assert_eq!(p("AMOUNT", Op::Ge, "EUR12,50").unwrap(), vec![Cond::FieldNum { field_id: 7, op: Op::Ge, value: 12.5 }]);
        assert_eq!(p("category", Op::Is, "insurance").unwrap(), vec![Cond::FieldTxt { field_id: 8, op: Op::Is, value: "o1".into() }]);
        assert_eq!(
            p("due date", Op::Lt, "2026-01-01").unwrap(),
            vec![Cond::FieldTxt { field_id: 9, op: Op::Le, value: "2025-12-31".into() }]
        );
        assert_eq!(
            p("due date", Op::Is, "2026").unwrap(),
            vec![Cond::FieldTxtBetween { field_id: 9, from: "2026-01-01".into(), to: "2026-12-31".into() }]
        );
        assert!(p("category", Op::Gt, "x").unwrap_err().to_string().contains("only numbers and dates"));
        assert!(p("colour", Op::Is, "red").unwrap_err().to_string().contains("no custom field named \"colour\""));
        assert_eq!(p("no", Op::Is, "correspondent").unwrap(), vec![Cond::ColumnSet { column: "correspondent_id", set: false }]);
        assert_eq!(p("has", Op::Is, "note").unwrap(), vec![Cond::HasNotes(true)]);
        assert_eq!(p("has", Op::Is, "Amount").unwrap(), vec![Cond::FieldSet { field_id: 7, set: true }]);
        assert!(parse_filter("asn", Op::Gt, "3").is_err());
        assert!(parse_filter("created", Op::Is, "2025-02-30").is_err());
        assert_eq!(parse_filter("tag", Op::Is, "x").unwrap(), None);
    }
}
