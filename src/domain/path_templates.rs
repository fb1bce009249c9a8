//! Path templates (#23): a template such as `Finance/{correspondent}/{created:%Y}` turns a
//! document's metadata into a place in its owner's folder tree (under Home), folders made as
//! needed. A document gets its template from a matching rule, from its document type, from a
//! workflow or by hand; a job places it again whenever something the template reads changes.
//! The same language names downloads (`{created:%Y-%m-%d} {correspondent} {title}`).
//!
//! Pure: [`Template::parse`] checks a template when it is saved (an unknown variable or a bad
//! date format is refused then, not when a worker meets it); [`Template::folders`] and
//! [`Template::file_name`] render one for a document.
//!
//! The language: text, `/` between folders, and `{variable}`, `{variable:format}`,
//! `{variable|default}` or `{variable:format|default}`; `{{` and `}}` are literal braces.
//! Variables: `title`, `correspondent`, `type`, `created` (the date the document was written),
//! `added` (the day it was added), `asn`, `filename` (the original file name without its
//! extension), `custom.<field name>`. Formats: a date takes a strftime pattern (`%Y`, `%m`,
//! `%B`…; `%Y-%m-%d` without one), `asn` a width (`06`: zero-padded to 6 digits), text `upper`
//! or `lower`. A value that is missing (no correspondent, an empty field) becomes the
//! variable's default, else the template's fallback.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metadata::{FieldDef, FieldKind};
use super::{Document, DomainError, DomainResult, Id, Millis};

/// The longest template, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 500;
/// How many folders deep a template may place a document (below Home).
pub const MAX_DEPTH: usize = 10;
/// One rendered folder name is cut at this many characters.
pub const MAX_SEGMENT_CHARS: usize = 128;
/// A rendered file name (without its extension) is cut at this many characters.
pub const MAX_FILE_NAME_CHARS: usize = 180;
/// The fallback when a template does not name one.
pub const DEFAULT_FALLBACK: &str = "Unknown";

/// A path template as stored, with how many documents use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathTemplate {
    pub id: Id,
    pub owner_id: Id,
    pub name: String,
    /// Where documents go, e.g. `Finance/{correspondent}/{created:%Y}`.
    pub template: String,
    /// What a missing value becomes.
    pub fallback: String,
    /// How downloads of its documents are named (without the extension), if at all.
    pub filename: Option<String>,
    pub document_count: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A template as a user gives it, validated by [`TemplateSpec::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub name: String,
    pub template: String,
    pub fallback: String,
    pub filename: Option<String>,
}

impl TemplateSpec {
    /// Trims and checks every part, naming what is wrong.
    pub fn validate(self) -> DomainResult<TemplateSpec> {
        let name = super::metadata::validate_name("path template", &self.name)?;
        let template = self.template.trim().to_string();
        Template::parse(&template)?;
        let fallback = clean_segment(&self.fallback);
        if fallback.is_empty() || fallback.chars().count() > 64 || self.fallback.contains('/') {
            return Err(DomainError::Invalid("fallback: 1 to 64 characters, a folder name (no '/')".into()));
        }
        super::validate_folder_name(&fallback).map_err(|e| DomainError::Invalid(format!("fallback: {e}")))?;
        let filename = match self.filename.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => {
                Template::parse_file_name(f)?;
                Some(f.to_string())
            }
        };
        Ok(TemplateSpec { name, template, fallback, filename })
    }
}

/// What a template reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    Title,
    Correspondent,
    DocumentType,
    Created,
    Added,
    Asn,
    FileName,
    /// A custom field, by name (compared without regard to case).
    Field(String),
}

impl Var {
    const NAMES: &'static str = "title, correspondent, type, created, added, asn, filename, custom.<field name>";

    fn parse(s: &str) -> DomainResult<Var> {
        let s = s.trim();
        Ok(match s.to_ascii_lowercase().as_str() {
            "title" => Var::Title,
            "correspondent" => Var::Correspondent,
            "type" | "document_type" => Var::DocumentType,
            "created" | "date" => Var::Created,
            "added" => Var::Added,
            "asn" => Var::Asn,
            "filename" => Var::FileName,
            _ => match s.split_once('.') {
                Some((p, name)) if p.eq_ignore_ascii_case("custom") && !name.trim().is_empty() => Var::Field(name.trim().to_string()),
                _ => return Err(DomainError::Invalid(format!("template: unknown variable {{{s}}}; known: {}", Var::NAMES))),
            },
        })
    }

    /// The history keys ([`super::metadata::diff`]) whose change may change what this reads.
    fn change_key(&self) -> Option<&'static str> {
        match self {
            Var::Title => Some("title"),
            Var::Correspondent => Some("correspondent"),
            Var::DocumentType => Some("document_type"),
            Var::Created => Some("date"),
            Var::Asn => Some("asn"),
            Var::Field(_) => Some("fields"),
            Var::Added | Var::FileName => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Format {
    None,
    Date(String),
    Width(usize),
    Upper,
    Lower,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value { var: Var, format: Format, default: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Folders,
    FileName,
    Text,
}

/// A text template (a workflow's title, note, email) has at most this many characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A parsed template: folders (or, for a file name, one part) of pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Vec<Piece>>,
}

/// One document as templates read it: its metadata and the owner's field definitions (a
/// select field's value is an option id; its label is in the definition).
pub struct Subject<'a> {
    pub doc: &'a Document,
    pub fields: &'a [FieldDef],
}

impl Template {
    /// A folder template: at most [`MAX_DEPTH`] folders, none empty, no `.` or `..`.
    pub fn parse(s: &str) -> DomainResult<Template> {
        let t = Template::parse_any(s, Mode::Folders)?;
        if t.segments.len() > MAX_DEPTH {
            return Err(DomainError::Invalid(format!("template: at most {MAX_DEPTH} folders deep")));
        }
        Ok(t)
    }

    /// A file name template: no `/`.
    pub fn parse_file_name(s: &str) -> DomainResult<Template> {
        Template::parse_any(s, Mode::FileName).map_err(|e| match e {
            DomainError::Invalid(m) => DomainError::Invalid(m.replacen("template:", "filename:", 1)),
            e => e,
        })
    }

    /// A text with variables (a workflow's title, note or email, #23): `/` is just a
    /// character, line breaks are kept, values are not cleaned for file systems.
    pub fn parse_text(s: &str) -> DomainResult<Template> {
        if s.chars().count() > MAX_TEXT_CHARS {
            return Err(DomainError::Invalid(format!("text: at most {MAX_TEXT_CHARS} characters")));
        }
        let t = Template::parse_any(s, Mode::Text).map_err(|e| match e {
            DomainError::Invalid(m) => DomainError::Invalid(m.replacen("template:", "text:", 1)),
            e => e,
        })?;
        Ok(t)
    }

    /// The text rendered for a document (missing values become their default or `fallback`).
    pub fn text(&self, s: &Subject<'_>, fallback: &str) -> String {
        self.segments.iter().map(|seg| render(seg, s, fallback, false)).collect()
    }

    fn parse_any(s: &str, mode: Mode) -> DomainResult<Template> {
        let folders = mode == Mode::Folders;
        let bad = |m: String| DomainError::Invalid(format!("template: {m}"));
        if s.trim().is_empty() {
            return Err(bad("cannot be empty".into()));
        }
        if mode != Mode::Text && s.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(bad(format!("at most {MAX_TEMPLATE_CHARS} characters")));
        }
        if s.chars().any(|c| c.is_control() && !(mode == Mode::Text && (c == '\n' || c == '\t'))) {
            return Err(bad("no control characters".into()));
        }
        let mut segments = vec![Vec::new()];
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        let flush = |text: &mut String, seg: &mut Vec<Piece>| {
            if !text.is_empty() {
                seg.push(Piece::Text(std::mem::take(text)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(bad("a '}' without its '{' (write '}}' for a brace)".into())),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') => return Err(bad("a '{' inside a variable".into())),
                            Some(c) => inner.push(c),
                            None => return Err(bad(format!("{{{inner} is not closed with '}}'"))),
                        }
                    }
                    let seg = segments.last_mut().expect("one segment");
                    flush(&mut text, seg);
                    seg.push(parse_value(&inner, folders)?);
                }
                '/' | '\\' if folders => {
                    let seg = segments.last_mut().expect("one segment");
                    flush(&mut text, seg);
                    segments.push(Vec::new());
                }
                '/' | '\\' if mode == Mode::FileName => return Err(bad("a file name has no '/'".into())),
                c => text.push(c),
            }
        }
        flush(&mut text, segments.last_mut().expect("one segment"));
        for seg in &segments {
            let literal: String = seg.iter().filter_map(|p| if let Piece::Text(t) = p { Some(t.as_str()) } else { None }).collect();
            let only_text = seg.iter().all(|p| matches!(p, Piece::Text(_)));
            if mode == Mode::Text {
                continue;
            }
            if seg.is_empty() || (only_text && literal.trim().is_empty()) {
                return Err(bad("an empty folder name (two '/' in a row, or one at the start or end)".into()));
            }
            if only_text && matches!(literal.trim(), "." | "..") {
                return Err(bad("'.' and '..' are not folder names".into()));
            }
        }
        Ok(Template { segments })
    }

    /// What the template reads.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.segments.iter().flatten().filter_map(|p| if let Piece::Value { var, .. } = p { Some(var) } else { None })
    }

    /// Whether a change recorded in a document's history (its `diff`) may move a document
    /// placed by this template.
    pub fn affected_by(&self, changes: &Value) -> bool {
        let Value::Object(m) = changes else { return false };
        self.vars().any(|v| v.change_key().is_some_and(|k| m.contains_key(k)))
    }

    /// The folder names, from Home down. A value that is missing or renders to nothing becomes
    /// its default or `fallback`; a `/` inside a value stays inside its folder name.
    pub fn folders(&self, s: &Subject<'_>, fallback: &str) -> Vec<String> {
        self.segments
            .iter()
            .map(|seg| {
                let name = clip(&clean_segment(&render(seg, s, fallback, true)), MAX_SEGMENT_CHARS);
                if name.is_empty() || name == "." || name == ".." || super::validate_folder_name(&name).is_err() {
                    clean_segment(fallback)
                } else {
                    name
                }
            })
            .collect()
    }

    /// A download's name for the document: the rendered template, cleaned for every file
    /// system, with `extension`.
    pub fn file_name(&self, s: &Subject<'_>, fallback: &str, extension: &str) -> String {
        let mut base =
            clip(&clean_segment(&self.segments.iter().map(|seg| render(seg, s, fallback, true)).collect::<String>()), MAX_FILE_NAME_CHARS);
        base = base.trim_start_matches('.').trim().to_string();
        if base.is_empty() {
            base = clean_segment(fallback);
        }
        if extension.is_empty() { base } else { format!("{base}.{extension}") }
    }
}

fn parse_value(inner: &str, folders: bool) -> DomainResult<Piece> {
    let (spec, default) = match inner.split_once('|') {
        Some((a, d)) => (a, Some(d.trim().to_string())),
        None => (inner, None),
    };
    if let Some(d) = &default
        && (d.is_empty() || d.chars().count() > 64 || (folders && (d.contains('/') || d.contains('\\'))))
    {
        return Err(DomainError::Invalid(format!("template: the default in {{{inner}}} needs 1 to 64 characters, no '/'")));
    }
    let (name, format) = match spec.split_once(':') {
        Some((n, f)) => (n, Some(f)),
        None => (spec, None),
    };
    let var = Var::parse(name)?;
    let format = match (&var, format) {
        (_, None) => Format::None,
        (_, Some(f)) if f.trim().eq_ignore_ascii_case("upper") => Format::Upper,
        (_, Some(f)) if f.trim().eq_ignore_ascii_case("lower") => Format::Lower,
        (Var::Asn, Some(f)) => match f.trim().parse::<usize>() {
            Ok(w) if (1..=12).contains(&w) => Format::Width(w),
            _ => return Err(DomainError::Invalid(format!("template: {{{inner}}}: an asn takes a width of 1 to 12 (like 06)"))),
        },
        (Var::Created | Var::Added | Var::Field(_), Some(f)) => {
            check_strftime(f).map_err(|m| DomainError::Invalid(format!("template: {{{inner}}}: {m}")))?;
            Format::Date(f.to_string())
        }
        (_, Some(f)) => {
            return Err(DomainError::Invalid(format!("template: {{{inner}}}: {f:?} is not a format of {name} (upper or lower)")));
        }
    };
    Ok(Piece::Value { var, format, default })
}

/// A strftime pattern chrono can render (checked on a sample date so a worker never meets a
/// pattern that fails).
fn check_strftime(f: &str) -> Result<(), String> {
    use chrono::format::{Fixed, Item, Numeric, StrftimeItems};
    if f.trim().is_empty() {
        return Err("an empty date format".into());
    }
    if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
        return Err(format!("{f:?} is not a date format (like %Y, %Y-%m or %B %Y)"));
    }
    // A date has no time of day and no zone.
    let timely = StrftimeItems::new(f).any(|i| match i {
        Item::Numeric(n, _) => {
            matches!(n, Numeric::Hour | Numeric::Hour12 | Numeric::Minute | Numeric::Second | Numeric::Nanosecond | Numeric::Timestamp)
        }
        Item::Fixed(x) => !matches!(x, Fixed::ShortMonthName | Fixed::LongMonthName | Fixed::ShortWeekdayName | Fixed::LongWeekdayName),
        _ => false,
    });
    if timely {
        return Err(format!("{f:?} reads more than a date (use %Y, %m, %d, %B, %b, %A…)"));
    }
    let sample = NaiveDate::from_ymd_opt(2024, 3, 7).expect("a date").and_hms_opt(0, 0, 0).expect("a time");
    let mut out = String::new();
    use std::fmt::Write;
    if write!(out, "{}", sample.format(f)).is_err() {
        return Err(format!("{f:?} reads more than a date (use %Y, %m, %d, %B, %b, %A…)"));
    }
    Ok(())
}

fn render(seg: &[Piece], s: &Subject<'_>, fallback: &str, clean: bool) -> String {
    let mut out = String::new();
    for p in seg {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Value { var, format, default } => {
                let v = value_of(var, format, s).map(|v| if clean { clean_segment(&v) } else { v }).filter(|v| !v.trim().is_empty());
                match v {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(default.as_deref().unwrap_or(fallback)),
                }
            }
        }
    }
    out
}

fn date_text(d: NaiveDate, format: &Format) -> String {
    let f = match format {
        Format::Date(f) => f.as_str(),
        _ => "%Y-%m-%d",
    };
    let mut out = String::new();
    use std::fmt::Write;
    match write!(out, "{}", d.and_hms_opt(0, 0, 0).expect("midnight").format(f)) {
        Ok(()) => out,
        Err(_) => d.format("%Y-%m-%d").to_string(),
    }
}

fn cased(s: String, format: &Format) -> String {
    match format {
        Format::Upper => s.to_uppercase(),
        Format::Lower => s.to_lowercase(),
        _ => s,
    }
}

fn value_of(var: &Var, format: &Format, s: &Subject<'_>) -> Option<String> {
    let d = s.doc;
    let text = |v: Option<String>| v.map(|v| cased(v, format));
    match var {
        Var::Title => text(Some(d.title.clone())),
        Var::Correspondent => text(d.meta.correspondent.as_ref().map(|l| l.name.clone())),
        Var::DocumentType => text(d.meta.document_type.as_ref().map(|l| l.name.clone())),
        Var::Created => d.meta.date.map(|x| date_text(x, format)),
        Var::Added => chrono::DateTime::from_timestamp_millis(d.created_at).map(|t| date_text(t.date_naive(), format)),
        Var::Asn => d.meta.asn.map(|n| match format {
            Format::Width(w) => format!("{n:0w$}"),
            _ => n.to_string(),
        }),
        Var::FileName => {
            let f = &d.version.filename;
            let stem = match f.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
                _ => f.as_str(),
            };
            text(Some(stem.to_string()))
        }
        Var::Field(name) => {
            let fv = d.meta.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))?;
            let def = s.fields.iter().find(|f| f.id == fv.field_id);
            field_text(fv.kind, &fv.value, def, format)
        }
    }
}

fn field_text(kind: FieldKind, v: &Value, def: Option<&FieldDef>, format: &Format) -> Option<String> {
    let out = match (kind, v) {
        (_, Value::Null) => return None,
        (FieldKind::Date, Value::String(iso)) => return super::metadata::parse_date(iso).map(|x| date_text(x, format)),
        (FieldKind::Select, Value::String(id)) => def?.options.iter().find(|o| &o.id == id).map(|o| o.label.clone())?,
        (FieldKind::Boolean, Value::Bool(b)) => (if *b { "yes" } else { "no" }).to_string(),
        (FieldKind::Monetary, Value::Object(o)) => {
            let amount = o.get("amount").and_then(Value::as_str)?;
            match o.get("currency").and_then(Value::as_str) {
                Some(c) => format!("{amount} {c}"),
                None => amount.to_string(),
            }
        }
        (FieldKind::DocumentLink, Value::Array(ids)) => ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
        (_, Value::String(t)) => t.clone(),
        (_, Value::Number(n)) => n.to_string(),
        (_, other) => other.to_string(),
    };
    Some(cased(out, format))
}

/// A value as (part of) one folder or file name: `/` and `\` become `-`, characters file
/// systems refuse become `_`, control characters go, whitespace runs become one space, and
/// leading dots go (no hidden files, no `..`).
pub fn clean_segment(s: &str) -> String {
    let mapped: String = s
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .map(|c| match c {
            '/' | '\\' => '-',
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let spaced = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    spaced.trim_start_matches('.').trim().to_string()
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].trim_end().to_string(),
        None => s.to_string(),
    }
}

/// The template a document should have after an edit changed its type: the new type's, when
/// the document had none or had the old type's (a template the user chose stands).
pub fn after_type_change(current: Option<Id>, old_type_template: Option<Id>, new_type_template: Option<Id>) -> Option<Id> {
    match new_type_template {
        Some(t) if current.is_none() || current == old_type_template => Some(t),
        _ => current,
    }
}

/// A parsed template with what it is stored with, as the placement job uses it.
pub struct Placer {
    pub template: PathTemplate,
    parsed: Template,
}

impl Placer {
    /// None when the stored template no longer parses (saved by an older version).
    pub fn new(template: PathTemplate) -> Option<Placer> {
        Template::parse(&template.template).ok().map(|parsed| Placer { template, parsed })
    }

    /// Where the document goes: folder names below Home.
    pub fn folders(&self, s: &Subject<'_>) -> Vec<String> {
        self.parsed.folders(s, &self.template.fallback)
    }

    /// Who moved the document there, for its history: docmerge, action `placed`, with the
    /// template and the path.
    pub fn placed_by(&self, names: &[String]) -> super::metadata::EditedBy {
        super::metadata::EditedBy {
            actor_id: None,
            action: super::metadata::actions::PLACED,
            why: Some(("path_template", serde_json::json!({"id": self.template.id, "name": self.template.name, "path": names.join("/")}))),
        }
    }

    /// The move: a patch of the folder only.
    pub fn patch(folder: Id) -> super::metadata::DocumentPatch {
        super::metadata::DocumentPatch { folder_id: Some(folder), ..Default::default() }
    }
}

/// Whether an edit detaches the document from its path template: a user moved it by hand to
/// another folder (without choosing a template in the same edit). Matching rules and the
/// placement itself move documents without detaching them.
pub fn detaches(patch: &super::metadata::DocumentPatch, doc: &Document, action: &str) -> bool {
    action == super::metadata::actions::EDITED
        && patch.path_template_id.is_none()
        && doc.meta.path_template.is_some()
        && patch.folder_id.is_some_and(|f| f != doc.folder_id)
}

/// Whether an edit (its history `changes`) means a document placed by `template` must be
/// placed again: its template changed, or something the template reads.
pub fn due_after_edit(template: &str, changes: &Value) -> bool {
    changes.get("path_template").is_some() || Template::parse(template).is_ok_and(|t| t.affected_by(changes))
}

/// `template` with its `{custom.<old>…}` variables naming `new` instead (a field was renamed);
/// None when it names no such field, or when the new name could not be written in a template
/// (it holds `{`, `}`, `:` or `|`; the variable then reads nothing and falls back).
pub fn rename_field(template: &str, old: &str, new: &str) -> Option<String> {
    if new.contains(['{', '}', ':', '|']) {
        return None;
    }
    let mut out = String::with_capacity(template.len() + new.len());
    let mut changed = false;
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("{{") {
            out.push_str("{{");
            rest = tail;
            continue;
        }
        let Some(j) = after.find('}') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let inner = &after[1..j];
        let (name, tail) = inner.split_at(inner.find([':', '|']).unwrap_or(inner.len()));
        match name.trim().split_once('.') {
            Some((p, f)) if p.eq_ignore_ascii_case("custom") && f.trim().eq_ignore_ascii_case(old.trim()) => {
                out.push_str("{custom.");
                out.push_str(new);
                out.push_str(tail);
                out.push('}');
                changed = true;
            }
            _ => out.push_str(&after[..=j]),
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// A paperless-ngx storage path (`{correspondent}/{created_year}/{title}`, or the Jinja form
/// `{{ correspondent }}/…`) as a docmerge template: the folders (every part but the last) and
/// the file name (the last part, which paperless names the stored file by); a path that is only
/// a file name files into one folder named after the storage path (`name`). Err names what has
/// no equivalent (a tag list, a document id, Jinja logic or filters).
pub fn from_paperless(name: &str, path: &str) -> Result<(String, Option<String>), String> {
    if path.contains("{%") || path.contains("{#") {
        return Err("Jinja logic ({% … %}) has no docmerge equivalent".into());
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (inner, len) = if let Some(body) = after.strip_prefix("{{") {
            let end = body.find("}}").ok_or("a '{{' without its '}}'")?;
            (&body[..end], end + 4)
        } else {
            let end = after.find('}').ok_or("a '{' without its '}'")?;
            (&after[1..end], end + 1)
        };
        let name = inner.trim();
        let ours = match name {
            "title" => "{title}",
            "correspondent" => "{correspondent}",
            "document_type" => "{type}",
            "asn" => "{asn}",
            "original_name" => "{filename}",
            "created" => "{created}",
            "created_year" => "{created:%Y}",
            "created_year_short" => "{created:%y}",
            "created_month" => "{created:%m}",
            "created_month_name" => "{created:%B}",
            "created_month_name_short" => "{created:%b}",
            "created_day" => "{created:%d}",
            "added" => "{added}",
            "added_year" => "{added:%Y}",
            "added_year_short" => "{added:%y}",
            "added_month" => "{added:%m}",
            "added_month_name" => "{added:%B}",
            "added_month_name_short" => "{added:%b}",
            "added_day" => "{added:%d}",
            other => return Err(format!("{{{other}}} has no docmerge equivalent")),
        };
        out.push_str(ours);
        rest = &after[len..];
    }
    out.push_str(rest);
    let parts: Vec<&str> = out.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
    let Some((file, folders)) = parts.split_last() else { return Err("an empty path".into()) };
    let folders = if folders.is_empty() { clean_segment(name).replace('{', "{{").replace('}', "}}") } else { folders.join("/") };
    Template::parse(&folders).map_err(|e| e.to_string())?;
    Template::parse_file_name(file).map_err(|e| e.to_string())?;
    Ok((folders, Some((*file).to_string())))
}

/// Documents placed per transaction by the `place_documents` job.
pub const CHUNK: usize = 100;
/// Placement runs right after matching and bulk edits (their changes are what it follows).
pub const PRIORITY: i32 = 14;

/// A `place_documents` job: the owner's documents waiting to be placed (the store keeps the
/// list; one job per owner is queued at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceArgs {
    pub owner_id: Id,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metadata::{DocumentMeta, FieldValue, LabelRef, SelectOption};
    use crate::domain::{DocState, Version};

    fn doc() -> Document {
        Document {
            id: 7,
            owner_id: 1,
            folder_id: 3,
            title: "March invoice".into(),
            state: DocState::Ready,
            error: None,
            duplicate_of: None,
            created_at: 1_717_200_000_000, // 2024-06-01
            updated_at: 0,
            trashed_at: None,
            tags: vec![],
            version: Version {
                id: 1,
                document_id: 7,
                number: 1,
                filename: "scan 0042.pdf".into(),
                mime: "application/pdf".into(),
                size: 1,
                sha256: String::new(),
                state: DocState::Ready,
                error: None,
                page_count: 1,
                pages_done: 1,
                searchable_sha256: None,
                note: None,
                created_at: 0,
            },
            meta: DocumentMeta {
                correspondent: Some(LabelRef { id: 4, name: "ACME / Sons".into(), color: None }),
                document_type: None,
                date: NaiveDate::from_ymd_opt(2024, 3, 7),
                date_source: None,
                asn: Some(42),
                fields: vec![
                    FieldValue { field_id: 1, name: "Property".into(), kind: FieldKind::Select, value: json!("o2") },
                    FieldValue {
                        field_id: 2,
                        name: "Amount".into(),
                        kind: FieldKind::Monetary,
                        value: json!({"amount": "12.30", "currency": "EUR"}),
                    },
                    FieldValue { field_id: 3, name: "Due".into(), kind: FieldKind::Date, value: json!("2024-04-30") },
                    FieldValue { field_id: 4, name: "Empty".into(), kind: FieldKind::Text, value: Value::Null },
                ],
                note_count: 0,
                path_template: None,
            },
        }
    }

    use serde_json::json;

    fn defs() -> Vec<FieldDef> {
        vec![FieldDef {
            id: 1,
            owner_id: 1,
            name: "Property".into(),
            kind: FieldKind::Select,
            currency: None,
            options: vec![
                SelectOption { id: "o1".into(), label: "Flat".into() },
                SelectOption { id: "o2".into(), label: "Cottage".into() },
            ],
            created_at: 0,
            document_count: 0,
        }]
    }

    fn folders(t: &str) -> Vec<String> {
        let d = doc();
        let f = defs();
        Template::parse(t).unwrap().folders(&Subject { doc: &d, fields: &f }, "Unknown")
    }

    #[test]
    fn renders_the_examples_of_the_issue() {
        assert_eq!(folders("Finance/{correspondent}/{created:%Y}"), ["Finance", "ACME - Sons", "2024"]);
        assert_eq!(folders("{type}/{custom.property}"), ["Unknown", "Cottage"]);
        assert_eq!(folders("{type|Misc}/{custom.Amount}"), ["Misc", "12.30 EUR"]);
        assert_eq!(folders("{created:%Y}/{created:%m %B}"), ["2024", "03 March"]);
        assert_eq!(folders("{added:%Y-%m}/{asn:06} {title:upper}"), ["2024-06", "000042 MARCH INVOICE"]);
        assert_eq!(folders("Due {custom.due:%Y}/{custom.empty}/{filename}"), ["Due 2024", "Unknown", "scan 0042"]);
        assert_eq!(folders("{{literal}}/{correspondent:lower}"), ["{literal}", "acme - sons"]);
    }

    #[test]
    fn a_value_cannot_escape_its_folder() {
        let mut d = doc();
        d.title = "../../etc/passwd".into();
        d.meta.correspondent = Some(LabelRef { id: 4, name: "..".into(), color: None });
        let t = Template::parse("{correspondent}/{title}").unwrap();
        assert_eq!(t.folders(&Subject { doc: &d, fields: &[] }, "Unknown"), ["Unknown", "-..-etc-passwd"]);
        d.title = "x".repeat(400);
        let long = t.folders(&Subject { doc: &d, fields: &[] }, "Unknown");
        assert_eq!(long[1].chars().count(), MAX_SEGMENT_CHARS);
    }

    #[test]
    fn refuses_what_could_not_be_rendered() {
        for bad in [
            "",
            "a//b",
            "/a",
            "a/",
            "a/../b",
            "{nope}",
            "{created:%Q}",
            "{created:%H}",
            "{asn:x}",
            "{title:%Y}",
            "{title",
            "a}b",
            "{custom.}",
            "{title|a/b}",
            "a/".repeat(11).trim_end_matches('/'),
        ] {
            assert!(Template::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Template::parse_file_name("{title}/x").is_err());
        assert!(Template::parse("a/".repeat(10).trim_end_matches('/')).is_ok());
    }

    #[test]
    fn file_names_take_the_extension_and_lose_what_file_systems_refuse() {
        let d = doc();
        let t = Template::parse_file_name("{created} {correspondent}: {title}?").unwrap();
        assert_eq!(t.file_name(&Subject { doc: &d, fields: &[] }, "Unknown", "pdf"), "2024-03-07 ACME - Sons_ March invoice_.pdf");
    }

    #[test]
    fn knows_which_changes_matter() {
        let t = Template::parse("Finance/{correspondent}/{created:%Y}").unwrap();
        assert!(t.affected_by(&json!({"correspondent": ["a", "b"]})));
        assert!(t.affected_by(&json!({"date": [null, "2024-01-01"]})));
        assert!(!t.affected_by(&json!({"title": ["a", "b"], "tags": {}})));
        assert!(Template::parse("{custom.x}").unwrap().affected_by(&json!({"fields": {}})));
    }

    #[test]
    fn templates_follow_a_renamed_field() {
        assert_eq!(
            rename_field("{{custom.Old}}/{custom.old:%Y|none}/{custom.Older}/{title}", "Old", "New name").as_deref(),
            Some("{{custom.Old}}/{custom.New name:%Y|none}/{custom.Older}/{title}")
        );
        assert_eq!(rename_field("{custom.other}", "Old", "New"), None);
        assert_eq!(rename_field("{custom.old}", "Old", "a:b"), None);
    }

    #[test]
    fn paperless_storage_paths_translate() {
        assert_eq!(
            from_paperless("x", "{correspondent}/{created_year}/{created_month_name} {title}"),
            Ok(("{correspondent}/{created:%Y}".to_string(), Some("{created:%B} {title}".to_string())))
        );
        assert_eq!(
            from_paperless("x", "Finance/{{ document_type }}/{{ created_year }}-{{created_month}}/{{ asn }}"),
            Ok(("Finance/{type}/{created:%Y}-{created:%m}".to_string(), Some("{asn}".to_string())))
        );
        assert!(from_paperless("x", "{tag_list}/{title}").unwrap_err().contains("{tag_list}"));
        assert!(from_paperless("x", "{% if correspondent %}x{% endif %}/{title}").is_err());
        assert!(from_paperless("x", "{{ custom_fields|get_cf_value('Amount') }}/{title}").is_err());
        assert_eq!(from_paperless("Letters", "{title}"), Ok(("Letters".to_string(), Some("{title}".to_string()))));
    }

    #[test]
    fn a_type_brings_its_template_unless_the_user_chose_one() {
        assert_eq!(after_type_change(None, None, Some(5)), Some(5));
        assert_eq!(after_type_change(Some(4), Some(4), Some(5)), Some(5));
        assert_eq!(after_type_change(Some(9), Some(4), Some(5)), Some(9));
        assert_eq!(after_type_change(Some(9), Some(4), None), Some(9));
    }

    #[test]
    fn specs_are_trimmed_and_checked() {
        let ok = TemplateSpec {
            name: " Bills ".into(),
            template: " Finance/{correspondent} ".into(),
            fallback: "None yet".into(),
            filename: Some("".into()),
        }
        .validate()
        .unwrap();
        assert_eq!((ok.name.as_str(), ok.template.as_str(), ok.filename), ("Bills", "Finance/{correspondent}", None));
        assert!(TemplateSpec { name: "x".into(), template: "a".into(), fallback: "a/b".into(), filename: None }.validate().is_err());
        assert!(
            TemplateSpec { name: "x".into(), template: "a".into(), fallback: "ok".into(), filename: Some("{bad}".into()) }
                .validate()
                .is_err()
        );
    }
}
