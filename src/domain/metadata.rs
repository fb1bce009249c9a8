//! What people file documents by, besides folders and tags: correspondents and document types
//! (labels, at most one of each per document), typed custom fields and their values, the date a
//! document was written, its archive serial number (ASN), notes, and the history of changes.
//!
//! The rules live here as plain functions (validate a name, a colour, a field value; compare a
//! document before and after a change); the backends store what these functions answer.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Document, DomainError, DomainResult, Id, Millis};

/// Correspondents and document types: the same shape, kept in two tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    Correspondent,
    DocumentType,
}

impl LabelKind {
    pub fn table(self) -> &'static str {
        match self {
            LabelKind::Correspondent => "correspondents",
            LabelKind::DocumentType => "document_types",
        }
    }
    /// The documents column that points at a label of this kind.
    pub fn column(self) -> &'static str {
        match self {
            LabelKind::Correspondent => "correspondent_id",
            LabelKind::DocumentType => "document_type_id",
        }
    }
    /// In messages: "correspondent", "document type".
    pub fn noun(self) -> &'static str {
        match self {
            LabelKind::Correspondent => "correspondent",
            LabelKind::DocumentType => "document type",
        }
    }
}

/// A correspondent or a document type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: Id,
    pub owner_id: Id,
    pub kind: LabelKind,
    pub name: String,
    pub color: Option<String>,
    pub document_count: i64,
    /// Document types only: the fields a document of this type is given, in order.
    pub default_fields: Vec<Id>,
    /// Document types only: the path template a document of this type is given (#23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_template_id: Option<Id>,
}

/// A label as a document shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRef {
    pub id: Id,
    pub name: String,
    pub color: Option<String>,
}

/// The longest correspondent, document type or field name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 20_000;
/// The longest text field value, in characters (long text: [`MAX_LONG_TEXT_CHARS`]).
pub const MAX_TEXT_CHARS: usize = 500;
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;
/// Options of one select field; documents one link field may point at.
pub const MAX_OPTIONS: usize = 200;
pub const MAX_LINKS: usize = 100;
/// The largest archive serial number (fits every database's integer and JavaScript's).
pub const MAX_ASN: i64 = 9_007_199_254_740_991;

/// A name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn validate_name(what: &str, name: &str) -> DomainResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!("a {what} name has 1 to {MAX_NAME_CHARS} characters, without control characters")));
    }
    super::users::validate_visible_name(&format!("{what} name"), n, MAX_NAME_CHARS)?;
    Ok(n.to_string())
}

/// A colour: `#rrggbb`, lower-cased.
pub fn validate_color(c: &str) -> DomainResult<String> {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit());
    if !ok {
        return Err(DomainError::Invalid("a colour is written like #1e88e5".into()));
    }
    Ok(c.to_ascii_lowercase())
}

// ---- custom fields ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    LongText,
    Integer,
    Number,
    Monetary,
    Date,
    Boolean,
    Url,
    Select,
    DocumentLink,
}

impl FieldKind {
    pub const ALL: [FieldKind; 10] = [
        FieldKind::Text,
        FieldKind::LongText,
        FieldKind::Integer,
        FieldKind::Number,
        FieldKind::Monetary,
        FieldKind::Date,
        FieldKind::Boolean,
        FieldKind::Url,
        FieldKind::Select,
        FieldKind::DocumentLink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::LongText => "long_text",
            FieldKind::Integer => "integer",
            FieldKind::Number => "number",
            FieldKind::Monetary => "monetary",
            FieldKind::Date => "date",
            FieldKind::Boolean => "boolean",
            FieldKind::Url => "url",
            FieldKind::Select => "select",
            FieldKind::DocumentLink => "document_link",
        }
    }

    pub fn parse(s: &str) -> Option<FieldKind> {
        FieldKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether values compare as numbers (`amount>100`).
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldKind::Integer | FieldKind::Number | FieldKind::Monetary)
    }
}

/// One option of a select field: the id stays when the label is renamed, so values keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    pub id: String,
    pub label: String,
}

/// A custom field's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub id: Id,
    pub owner_id: Id,
    pub name: String,
    pub kind: FieldKind,
    /// Monetary fields: the currency of an amount written without one (ISO 4217).
    pub currency: Option<String>,
    pub options: Vec<SelectOption>,
    pub created_at: Millis,
    pub document_count: i64,
}

impl FieldDef {
    pub fn option_by_label(&self, label: &str) -> Option<&SelectOption> {
        self.options.iter().find(|o| o.label.eq_ignore_ascii_case(label.trim()))
    }
}

/// A field on a document; `value` is null when the field is there but empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub field_id: Id,
    pub name: String,
    pub kind: FieldKind,
    pub value: Value,
}

/// A value as the backends store it: `value` (canonical JSON, the source of truth), `num` and
/// `txt` (what lists filter and sort by), and the documents a link field points at (checked by
/// the store: they must be the owner's).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StoredValue {
    pub value: Option<String>,
    pub num: Option<f64>,
    pub txt: Option<String>,
    pub links: Vec<Id>,
}

/// A three-letter ISO 4217 code, upper-cased.
pub fn validate_currency(c: &str) -> DomainResult<String> {
    let c = c.trim();
    if c.len() != 3 || !c.chars().all(|x| x.is_ascii_alphabetic()) {
        return Err(DomainError::Invalid(format!("{c:?} is not a currency code (three letters, like EUR or USD)")));
    }
    Ok(c.to_ascii_uppercase())
}

/// The options of a select field as the user wrote them: each `(id, label)`; a missing id gets
/// a new one. Labels must be unique (case-insensitively) and non-empty.
pub fn validate_options(field: &str, options: &[(Option<String>, String)], existing: &[SelectOption]) -> DomainResult<Vec<SelectOption>> {
    if options.len() > MAX_OPTIONS {
        return Err(DomainError::Invalid(format!("field {field:?}: at most {MAX_OPTIONS} options")));
    }
    let mut out: Vec<SelectOption> = Vec::with_capacity(options.len());
    let mut next = existing.iter().filter_map(|o| o.id.strip_prefix('o').and_then(|n| n.parse::<u32>().ok())).max().unwrap_or(0) + 1;
    for (id, label) in options {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > MAX_NAME_CHARS || label.chars().any(char::is_control) {
            return Err(DomainError::Invalid(format!("field {field:?}: an option has 1 to {MAX_NAME_CHARS} characters")));
        }
        if out.iter().any(|o| o.label.eq_ignore_ascii_case(label)) {
            return Err(DomainError::Invalid(format!("field {field:?}: the option {label:?} is listed twice")));
        }
        let id = match id {
            Some(id) if existing.iter().any(|o| &o.id == id) => id.clone(),
            Some(id) => return Err(DomainError::Invalid(format!("field {field:?}: there is no option with id {id:?}"))),
            None => {
                let id = format!("o{next}");
                next += 1;
                id
            }
        };
        out.push(SelectOption { id, label: label.to_string() });
    }
    Ok(out)
}

fn field_error(def: &FieldDef, what: impl std::fmt::Display) -> DomainError {
    DomainError::Invalid(format!("field {:?}: {what}", def.name))
}

/// A decimal amount: digits with at most one `.` (or one `,` as the decimal mark) and at most
/// 4 decimals, optional leading `-`. Returns the canonical text (2 decimals at least) and its value.
fn parse_amount(s: &str) -> Option<(String, f64)> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.matches(['.', ',']).count() > 1 {
        return None;
    }
    let (int, frac) = match digits.find(['.', ',']) {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, ""),
    };
    if int.is_empty()
        || int.len() > 15
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 4
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut frac = frac.to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let text = format!("{}{int}.{frac}", if neg { "-" } else { "" });
    let value: f64 = text.parse().ok()?;
    Some((text, value))
}

/// Validates a value for a field and gives its stored form. `Value::Null` empties the field.
pub fn validate_value(def: &FieldDef, input: &Value) -> DomainResult<StoredValue> {
    if input.is_null() {
        return Ok(StoredValue::default());
    }
    let stored =
        |value: Value, num: Option<f64>, txt: Option<String>| StoredValue { value: Some(value.to_string()), num, txt, links: vec![] };
    match def.kind {
        FieldKind::Text | FieldKind::LongText => {
            let s = input.as_str().ok_or_else(|| field_error(def, "expects text"))?;
            let max = if def.kind == FieldKind::Text { MAX_TEXT_CHARS } else { MAX_LONG_TEXT_CHARS };
            if s.chars().count() > max {
                return Err(field_error(def, format_args!("at most {max} characters")));
            }
            if def.kind == FieldKind::Text && s.chars().any(char::is_control) {
                return Err(field_error(def, "a text field is one line without control characters"));
            }
            Ok(stored(json!(s), None, Some(s.to_lowercase())))
        }
        FieldKind::Url => {
            let s = input.as_str().ok_or_else(|| field_error(def, "expects a URL"))?.trim();
            let scheme_ok =
                ["http://", "https://", "mailto:", "ftp://"].iter().any(|p| s.len() > p.len() && s.to_ascii_lowercase().starts_with(p));
            if !scheme_ok || s.len() > 2000 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(field_error(def, format_args!("{s:?} is not a URL (http://, https://, mailto: or ftp://)")));
            }
            Ok(stored(json!(s), None, Some(s.to_string())))
        }
        FieldKind::Integer => {
            let n = match input {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| field_error(def, format_args!("{input} is not a whole number")))?;
            if n.abs() > MAX_ASN {
                return Err(field_error(def, "the number is too large"));
            }
            Ok(stored(json!(n), Some(n as f64), None))
        }
        FieldKind::Number => {
            let n = match input {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|n| n.is_finite())
            .ok_or_else(|| field_error(def, format_args!("{input} is not a number")))?;
            Ok(stored(json!(n), Some(n), None))
        }
        FieldKind::Monetary => {
            // {"amount": "12.30", "currency": "EUR"}, "EUR12.30", "12.30 EUR", "12.30" or 12.3.
            let (amount, currency): (String, Option<String>) = match input {
                Value::Object(o) => {
                    let a = match o.get("amount") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => return Err(field_error(def, "expects {\"amount\": \"12.30\", \"currency\": \"EUR\"}")),
                    };
                    (a, o.get("currency").and_then(Value::as_str).map(str::to_string))
                }
                Value::Number(n) => (n.to_string(), None),
                Value::String(s) => {
                    let s = s.trim();
                    let letters: String = s.chars().filter(|c| c.is_ascii_alphabetic()).collect();
                    let rest: String = s.chars().filter(|c| !c.is_ascii_alphabetic() && !c.is_whitespace()).collect();
                    let prefix_or_suffix =
                        letters.is_empty() || (letters.len() == 3 && (s.starts_with(letters.as_str()) || s.ends_with(letters.as_str())));
                    if !prefix_or_suffix {
                        return Err(field_error(def, format_args!("{s:?} is not an amount (like 12.30 or EUR12.30)")));
                    }
                    if rest.is_empty() {
                        return Err(field_error(def, format_args!("{s:?} is not an amount (like 12.30 or EUR12.30)")));
                    }
                    (rest, (!letters.is_empty()).then_some(letters))
                }
                _ => return Err(field_error(def, "expects an amount")),
            };
            let (text, value) =
                parse_amount(&amount).ok_or_else(|| field_error(def, format_args!("{amount:?} is not an amount (like 12.30)")))?;
            let currency = match currency.or_else(|| def.currency.clone()) {
                Some(c) => validate_currency(&c).map_err(|e| field_error(def, e))?,
                None => return Err(field_error(def, "the amount needs a currency (like EUR12.30), the field has no default currency")),
            };
            Ok(stored(json!({"amount": text, "currency": currency}), Some(value), Some(currency)))
        }
        FieldKind::Date => {
            let s = input.as_str().ok_or_else(|| field_error(def, "expects a date like 2025-12-31"))?;
            let d = parse_date(s).ok_or_else(|| field_error(def, format_args!("{s:?} is not a date like 2025-12-31")))?;
            let iso = d.format("%Y-%m-%d").to_string();
            Ok(stored(json!(iso), None, Some(iso.clone())))
        }
        FieldKind::Boolean => {
            let b = match input {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(field_error(def, "expects true or false")),
            };
            Ok(stored(json!(b), None, Some(b.to_string())))
        }
        FieldKind::Select => {
            let s = input.as_str().ok_or_else(|| field_error(def, "expects one of its options"))?;
            let opt = def
                .options
                .iter()
                .find(|o| o.id == s)
                .or_else(|| def.option_by_label(s))
                .ok_or_else(|| field_error(def, format_args!("{s:?} is not one of its options")))?;
            Ok(stored(json!(opt.id), None, Some(opt.id.clone())))
        }
        FieldKind::DocumentLink => {
            let ids: Vec<Id> = match input {
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_i64().ok_or_else(|| field_error(def, "expects a list of document ids")))
                    .collect::<Result<_, _>>()?,
                Value::Number(n) => vec![n.as_i64().ok_or_else(|| field_error(def, "expects a list of document ids"))?],
                _ => return Err(field_error(def, "expects a list of document ids")),
            };
            let mut links: Vec<Id> = Vec::with_capacity(ids.len());
            for id in ids {
                if !links.contains(&id) {
                    links.push(id);
                }
            }
            if links.len() > MAX_LINKS {
                return Err(field_error(def, format_args!("at most {MAX_LINKS} linked documents")));
            }
            Ok(StoredValue { value: Some(json!(links).to_string()), num: None, txt: None, links })
        }
    }
}

/// A date written by a user or a query: ISO `2025-12-31`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().filter(|d| (1000..=9999).contains(&chrono::Datelike::year(d)))
}

/// An archive serial number: 0 to [`MAX_ASN`].
pub fn validate_asn(asn: i64) -> DomainResult<i64> {
    if !(0..=MAX_ASN).contains(&asn) {
        return Err(DomainError::Invalid(format!("an archive serial number is a whole number from 0 to {MAX_ASN}")));
    }
    Ok(asn)
}

/// A note's text: trimmed, 1 to [`MAX_NOTE_CHARS`] characters.
pub fn validate_note(body: &str) -> DomainResult<String> {
    let b = body.trim();
    if b.is_empty() || b.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::Invalid(format!("a note has 1 to {MAX_NOTE_CHARS} characters")));
    }
    if b.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(DomainError::Invalid("a note cannot contain control characters".into()));
    }
    Ok(b.replace("\r\n", "\n"))
}

// ---- documents ----------------------------------------------------------------------------

/// Where a document's date came from: typed by a user, or read from its text by a rule.
pub const DATE_BY_USER: &str = "user";

pub fn date_source_extracted(rule: &str) -> String {
    format!("extracted:{rule}")
}

/// The metadata of a document besides title, folder and tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub correspondent: Option<LabelRef>,
    pub document_type: Option<LabelRef>,
    /// When it was written (ISO date), distinct from when it was added (`created_at`).
    pub date: Option<NaiveDate>,
    /// [`DATE_BY_USER`] or `extracted:<rule>`.
    pub date_source: Option<String>,
    pub asn: Option<i64>,
    pub fields: Vec<FieldValue>,
    pub note_count: i64,
    /// The path template that places it (#23), if any.
    #[serde(default)]
    pub path_template: Option<LabelRef>,
}

impl LabelRef {
    /// A label known by id only, until the backend fills in its name.
    pub fn unresolved(id: Id) -> LabelRef {
        LabelRef { id, name: String::new(), color: None }
    }
}

impl DocumentMeta {
    pub fn label(&self, kind: LabelKind) -> Option<&LabelRef> {
        match kind {
            LabelKind::Correspondent => self.correspondent.as_ref(),
            LabelKind::DocumentType => self.document_type.as_ref(),
        }
    }
    /// Fills in the path template's name from `found` (by id).
    pub fn resolve_path_template(&mut self, found: &std::collections::HashMap<Id, LabelRef>) {
        if let Some(l) = self.path_template.as_mut()
            && let Some(f) = found.get(&l.id)
        {
            *l = f.clone();
        }
    }

    /// Fills in the name and colour of this kind's label from `found` (by id).
    pub fn resolve(&mut self, kind: LabelKind, found: &std::collections::HashMap<Id, LabelRef>) {
        let slot = match kind {
            LabelKind::Correspondent => &mut self.correspondent,
            LabelKind::DocumentType => &mut self.document_type,
        };
        if let Some(l) = slot.as_mut()
            && let Some(f) = found.get(&l.id)
        {
            *l = f.clone();
        }
    }
}

/// A stored value as a document shows it (a value that no longer parses shows as null).
pub fn stored_field(field_id: Id, name: String, kind: &str, value: Option<&str>) -> FieldValue {
    FieldValue {
        field_id,
        name,
        kind: FieldKind::parse(kind).unwrap_or(FieldKind::Text),
        value: value.and_then(|v| serde_json::from_str(v).ok()).unwrap_or(Value::Null),
    }
}

/// What search indexes for a document besides its pages: the title and its notes.
pub fn searchable_title(title: &str, notes: &[String]) -> String {
    if notes.is_empty() {
        return title.to_string();
    }
    let mut s = String::with_capacity(title.len() + notes.iter().map(|n| n.len() + 1).sum::<usize>());
    s.push_str(title);
    for n in notes {
        s.push('\n');
        s.push_str(n);
    }
    s
}

/// A change of a document's metadata (PATCH). `Some(None)` clears.
#[derive(Clone, Debug, Default)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub folder_id: Option<Id>,
    pub tag_ids: Option<Vec<Id>>,
    pub correspondent_id: Option<Option<Id>>,
    pub document_type_id: Option<Option<Id>>,
    pub date: Option<Option<NaiveDate>>,
    pub asn: Option<Option<i64>>,
    /// Field id → new value (null: the field stays on the document, empty).
    pub fields: Vec<(Id, Value)>,
    pub remove_fields: Vec<Id>,
    /// The path template that places the document (domain::path_templates); `Some(None)`
    /// detaches it (the document stays where it is).
    pub path_template_id: Option<Option<Id>>,
}

impl DocumentPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.folder_id.is_none()
            && self.tag_ids.is_none()
            && self.correspondent_id.is_none()
            && self.document_type_id.is_none()
            && self.date.is_none()
            && self.asn.is_none()
            && self.fields.is_empty()
            && self.remove_fields.is_empty()
            && self.path_template_id.is_none()
    }
}

/// A note on a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Id,
    pub document_id: Id,
    pub author_id: Option<Id>,
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

// ---- history ------------------------------------------------------------------------------

/// One entry of a document's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: Id,
    pub document_id: Id,
    /// None: docmerge itself (processing, date extraction).
    pub actor_id: Option<Id>,
    pub actor_name: Option<String>,
    pub action: String,
    pub changes: Value,
    pub at: Millis,
}

/// A history entry about to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHistory {
    pub document_id: Id,
    pub actor_id: Option<Id>,
    pub action: &'static str,
    pub changes: Value,
}

/// Who made an edit, for its history entry: a user, or docmerge itself (a matching rule, a
/// workflow), with why added to the recorded changes.
#[derive(Clone, Debug)]
pub struct EditedBy {
    pub actor_id: Option<Id>,
    pub action: &'static str,
    /// Recorded with the changes under this key (e.g. the rules that matched).
    pub why: Option<(&'static str, Value)>,
}

impl EditedBy {
    pub fn user(id: Id) -> EditedBy {
        EditedBy { actor_id: Some(id), action: actions::EDITED, why: None }
    }

    /// The history entry for these changes.
    pub fn history(&self, document_id: Id, mut changes: Value) -> NewHistory {
        if let (Some((key, why)), Value::Object(m)) = (&self.why, &mut changes) {
            m.insert((*key).to_string(), why.clone());
        }
        NewHistory { document_id, actor_id: self.actor_id, action: self.action, changes }
    }
}

pub mod actions {
    pub const CREATED: &str = "created";
    pub const EDITED: &str = "edited";
    pub const PROCESSED: &str = "processed";
    pub const FAILED: &str = "failed";
    pub const TRASHED: &str = "trashed";
    pub const RESTORED: &str = "restored";
    pub const PAGES: &str = "pages";
    pub const NOTE_ADDED: &str = "note.added";
    pub const NOTE_EDITED: &str = "note.edited";
    pub const NOTE_DELETED: &str = "note.deleted";
    pub const REPROCESSED: &str = "reprocessed";
    pub const DATE_FOUND: &str = "date.extracted";
    /// Matching rules assigned tags, a correspondent, a type or a folder (#23).
    pub const MATCHED: &str = "matched";
    /// A path template placed the document in a folder (#23).
    pub const PLACED: &str = "placed";
    /// A workflow changed the document (#23).
    pub const WORKFLOW: &str = "workflow";
    /// A language model's answer was applied (#23).
    pub const LLM: &str = "llm";
}

fn label_name(l: &Option<LabelRef>) -> Value {
    l.as_ref().map(|l| json!(l.name)).unwrap_or(Value::Null)
}

/// What an edit changed, as `{"field": [before, after], …}` (tags: `{"added": [...],
/// "removed": [...]}`); None when nothing visible changed. Both backends record it.
pub fn diff(before: &Document, after: &Document) -> Option<Value> {
    let mut c = serde_json::Map::new();
    if before.title != after.title {
        c.insert("title".into(), json!([before.title, after.title]));
    }
    if before.folder_id != after.folder_id {
        c.insert("folder".into(), json!([before.folder_id, after.folder_id]));
    }
    let (b, a) = (&before.meta, &after.meta);
    if b.correspondent.as_ref().map(|l| l.id) != a.correspondent.as_ref().map(|l| l.id) {
        c.insert("correspondent".into(), json!([label_name(&b.correspondent), label_name(&a.correspondent)]));
    }
    if b.document_type.as_ref().map(|l| l.id) != a.document_type.as_ref().map(|l| l.id) {
        c.insert("document_type".into(), json!([label_name(&b.document_type), label_name(&a.document_type)]));
    }
    if b.date != a.date {
        let iso = |d: Option<NaiveDate>| d.map(|d| json!(d.format("%Y-%m-%d").to_string())).unwrap_or(Value::Null);
        c.insert("date".into(), json!([iso(b.date), iso(a.date)]));
    }
    if b.asn != a.asn {
        c.insert("asn".into(), json!([b.asn, a.asn]));
    }
    if b.path_template.as_ref().map(|l| l.id) != a.path_template.as_ref().map(|l| l.id) {
        c.insert("path_template".into(), json!([label_name(&b.path_template), label_name(&a.path_template)]));
    }
    let added: Vec<&str> = after.tags.iter().filter(|t| !before.tags.iter().any(|x| x.id == t.id)).map(|t| t.name.as_str()).collect();
    let removed: Vec<&str> = before.tags.iter().filter(|t| !after.tags.iter().any(|x| x.id == t.id)).map(|t| t.name.as_str()).collect();
    if !added.is_empty() || !removed.is_empty() {
        c.insert("tags".into(), json!({"added": added, "removed": removed}));
    }
    let mut fields = serde_json::Map::new();
    for f in &a.fields {
        let old = b.fields.iter().find(|x| x.field_id == f.field_id);
        if old.map(|o| &o.value) != Some(&f.value) || old.is_none() {
            fields.insert(f.name.clone(), json!([old.map(|o| o.value.clone()).unwrap_or(Value::Null), f.value]));
        }
    }
    for f in &b.fields {
        if !a.fields.iter().any(|x| x.field_id == f.field_id) {
            fields.insert(f.name.clone(), json!([f.value, "(removed)"]));
        }
    }
    if !fields.is_empty() {
        c.insert("fields".into(), Value::Object(fields));
    }
    (!c.is_empty()).then_some(Value::Object(c))
}

/// The history entry a lifecycle event stands for, if any: uploads, processing, trash and
/// restore, page operations. Edits of metadata are recorded with their [`diff`] instead.
pub fn history_of_event(ev: &super::NewEvent) -> Option<NewHistory> {
    use super::events::EventData as E;
    let document_id = ev.document_id?;
    let owner = Some(ev.owner_id);
    let (actor_id, action, changes) = match &ev.data {
        E::DocumentCreated(c) => (owner, actions::CREATED, json!({"title": c.title, "operation": c.operation})),
        E::DocumentReady { page_count, .. } => (None, actions::PROCESSED, json!({"pages": page_count})),
        E::DocumentFailed { error } => (None, actions::FAILED, json!({"error": error})),
        E::DocumentTrashed(_) => (owner, actions::TRASHED, json!({})),
        E::DocumentRestored { folder_id } => (owner, actions::RESTORED, json!({"folder": folder_id})),
        E::DocumentUpdated(u) => {
            let op = u.operation.as_ref()?;
            (owner, actions::PAGES, json!({"operation": op, "version": u.version_id}))
        }
        _ => return None,
    };
    Some(NewHistory { document_id, actor_id, action, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: FieldKind) -> FieldDef {
        FieldDef {
            id: 1,
            owner_id: 1,
            name: "amount".into(),
            kind,
            currency: Some("EUR".into()),
            options: vec![
                SelectOption { id: "o1".into(), label: "Insurance".into() },
                SelectOption { id: "o2".into(), label: "Tax".into() },
            ],
            created_at: 0,
            document_count: 0,
        }
    }

    #[test]
    fn monetary_values() {
        let d = def(FieldKind::Monetary);
        let ok = |v: Value| validate_value(&d, &v).unwrap();
        assert_eq!(ok(json!("12.3")).value.unwrap(), r#"{"amount":"12.30","currency":"EUR"}"#);
        assert_eq!(ok(json!("USD12.30")).txt.as_deref(), Some("USD"));
        assert_eq!(ok(json!("12,30 chf")).value.unwrap(), r#"{"amount":"12.30","currency":"CHF"}"#);
        assert_eq!(ok(json!(100)).num, Some(100.0));
        assert_eq!(ok(json!({"amount": "-5", "currency": "gbp"})).value.unwrap(), r#"{"amount":"-5.00","currency":"GBP"}"#);
        assert!(validate_value(&d, &json!("abc")).unwrap_err().to_string().contains("\"abc\""));
        for bad in [json!("12,3,4"), json!("12.3.4"), json!("abc"), json!("12.30 EURO"), json!("1.23456"), json!(true), json!("E1U2R")] {
            let e = validate_value(&d, &bad).unwrap_err().to_string();
            assert!(e.contains("field \"amount\""), "{bad}: {e}");
        }
        let no_default = FieldDef { currency: None, ..def(FieldKind::Monetary) };
        assert!(validate_value(&no_default, &json!("12.30")).is_err());
    }

    #[test]
    fn other_kinds() {
        let v = |k: FieldKind, x: Value| validate_value(&def(k), &x);
        assert_eq!(v(FieldKind::Select, json!("insurance")).unwrap().txt.as_deref(), Some("o1"));
        assert_eq!(v(FieldKind::Select, json!("o2")).unwrap().txt.as_deref(), Some("o2"));
        assert!(v(FieldKind::Select, json!("Car")).unwrap_err().to_string().contains("not one of its options"));
        assert_eq!(v(FieldKind::Integer, json!("42")).unwrap().num, Some(42.0));
        assert!(v(FieldKind::Integer, json!(4.5)).is_err());
        assert!(v(FieldKind::Number, json!("x")).is_err());
        assert_eq!(v(FieldKind::Date, json!("2025-12-31")).unwrap().txt.as_deref(), Some("2025-12-31"));
        assert!(v(FieldKind::Date, json!("2025-02-30")).is_err());
        assert!(v(FieldKind::Date, json!("31.12.2025")).is_err());
        assert_eq!(v(FieldKind::Boolean, json!(true)).unwrap().txt.as_deref(), Some("true"));
        assert!(v(FieldKind::Boolean, json!("yes")).is_err());
        assert!(v(FieldKind::Url, json!("javascript:alert(1)")).is_err());
        assert!(v(FieldKind::Url, json!("https://example.org/a")).is_ok());
        assert_eq!(v(FieldKind::DocumentLink, json!([3, 4, 3])).unwrap().links, vec![3, 4]);
        assert!(v(FieldKind::Text, json!("a\u{7}b")).is_err());
        assert!(v(FieldKind::LongText, json!("a\nb")).is_ok());
        assert_eq!(v(FieldKind::Text, Value::Null).unwrap(), StoredValue::default());
    }

    #[test]
    fn options_keep_their_ids_when_renamed() {
        let existing = def(FieldKind::Select).options;
        let out = validate_options("f", &[(Some("o1".into()), "Insurances".into()), (None, "Car".into())], &existing).unwrap();
        assert_eq!(
            out,
            vec![SelectOption { id: "o1".into(), label: "Insurances".into() }, SelectOption { id: "o3".into(), label: "Car".into() }]
        );
        assert!(validate_options("f", &[(None, "A".into()), (None, "a".into())], &[]).is_err());
        assert!(validate_options("f", &[(Some("o9".into()), "A".into())], &existing).is_err());
    }
}
