//! `docmerge import --from-paperless DIR`: a paperless-ngx `document_exporter` directory.
//!
//! The export is converted into a docmerge archive (the format `docmerge import` reads) in a
//! scratch directory under the storage root, then imported by the ordinary importer — so it
//! is verified before the database is touched, written in chunked transactions that record
//! their progress, and resumable. The scratch archive is named after the paperless manifest's
//! checksum and the owner, so running the command again after an interruption continues the
//! same import instead of starting another.
//!
//! `manifest.json` (a JSON array of Django fixtures, possibly hundreds of MB) is streamed
//! object by object, twice: first the small objects (tags, correspondents, document types,
//! notes, users), then the documents. Each document's original is checked against paperless's
//! MD5 `checksum` while it is copied into the blob store, and its archive PDF against
//! `archive_checksum`. Any missing or damaged file stops the conversion with the document's
//! id and title, before a single row is written.
//!
//! Mapping (also in docs/backup.md): title → title; `created` → the document's date (as set by
//! a user: processing keeps it); `added` → when it was added (`created_at`, and the version's
//! upload time); `modified` → `updated_at`; original → version 1, re-processed by docmerge's own
//! pipeline (queued, like an upload); archive PDF → verified, not stored; `content` → not kept
//! (the page text comes from processing); tags, correspondents, document types → the same
//! (names the owner has already are reused); custom fields of every paperless type and their
//! values → custom fields; `archive_serial_number` → ASN; notes → notes with their authors
//! (a paperless user with a docmerge account of the same name, else the name in the text);
//! saved views → saved views, their filter rules in the search language where it has them
//! (the rest is listed when the import ends).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use md5::Md5;
use serde::de::{SeqAccess, Visitor};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::export::{BlobLine, HashedFile};
use crate::app::{AppContext, AppError};
use crate::domain::archive::*;
use crate::domain::matching::{Algorithm, MatchRule, TargetKind};
use crate::domain::metadata::{self, FieldDef, FieldKind, LabelKind, SelectOption};
use crate::domain::{Id, Millis};

use crate::domain::archive::PAPERLESS_SOURCE;
const SYNC_EVERY_FILES: u64 = 2000;

fn bad(msg: String) -> AppError {
    AppError::Runtime(msg)
}

/// Calls `each` for every element of the top-level JSON array in `path`, one at a time.
fn for_each_object(path: &Path, each: &mut dyn FnMut(Value) -> Result<(), AppError>) -> Result<(), AppError> {
    struct Elements<'a> {
        each: &'a mut dyn FnMut(Value) -> Result<(), AppError>,
        failed: &'a mut Option<AppError>,
    }
    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                if let Err(e) = (self.each)(v) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    let file = std::fs::File::open(path).map_err(|e| AppError::Config(format!("cannot read {}: {e}", path.display())))?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    let mut failed = None;
    let result = serde::Deserializer::deserialize_seq(&mut de, Elements { each, failed: &mut failed });
    if let Some(e) = failed {
        return Err(e);
    }
    result.and_then(|_| de.end()).map_err(|e| bad(format!("{} is not a paperless-ngx manifest: {e}", path.display())))
}

fn text<'a>(fields: &'a Value, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A paperless date (`2023-04-01`) or date-time (`2023-04-01T10:00:00+02:00`), as ms.
fn parse_time(s: &str) -> Option<Millis> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
}

/// The small objects, gathered in the first pass.
#[derive(Default)]
struct Small {
    tags: BTreeMap<i64, (String, String)>,
    correspondents: HashMap<i64, String>,
    types: HashMap<i64, String>,
    users: HashMap<i64, String>,
    /// document pk → (created, user pk, text)
    notes: HashMap<i64, Vec<(String, Option<i64>, String)>>,
    /// field pk → (name, data_type, extra_data)
    custom_fields: BTreeMap<i64, (String, String, Value)>,
    /// (document pk, field pk, the instance's fields)
    field_values: Vec<(i64, i64, Value)>,
    /// view pk → its fields
    views: BTreeMap<i64, Value>,
    /// (view pk, rule type, value)
    view_rules: Vec<(i64, i64, Option<String>)>,
    /// Matching rules: (docmerge target kind, paperless pk, paperless algorithm, pattern,
    /// case-insensitive).
    rules: Vec<(TargetKind, i64, i64, String, bool)>,
    /// Storage paths: pk → (name, path).
    storage_paths: BTreeMap<i64, (String, String)>,
    /// The ASNs the documents have.
    asns: Vec<i64>,
    documents: u64,
}

fn gather(manifest: &Path) -> Result<Small, AppError> {
    let mut s = Small::default();
    for_each_object(manifest, &mut |o| {
        let (model, pk, f) = (o["model"].as_str().unwrap_or(""), o["pk"].as_i64().unwrap_or(0), &o["fields"]);
        let name = || text(f, "name").unwrap_or("").to_string();
        let target = match model {
            "documents.tag" => Some(TargetKind::Tag),
            "documents.correspondent" => Some(TargetKind::Correspondent),
            "documents.documenttype" => Some(TargetKind::DocumentType),
            "documents.storagepath" => Some(TargetKind::PathTemplate),
            _ => None,
        };
        if let (Some(kind), Some(algorithm)) = (target, f["matching_algorithm"].as_i64())
            && algorithm != 0
        {
            let pattern = text(f, "match").unwrap_or("").to_string();
            s.rules.push((kind, pk, algorithm, pattern, f["is_insensitive"].as_bool().unwrap_or(true)));
        }
        match model {
            "documents.tag" => {
                s.tags.insert(pk, (name(), text(f, "color").unwrap_or("#6b7280").to_string()));
            }
            "documents.correspondent" => {
                s.correspondents.insert(pk, name());
            }
            "documents.documenttype" => {
                s.types.insert(pk, name());
            }
            "documents.storagepath" => {
                s.storage_paths.insert(pk, (name(), text(f, "path").unwrap_or("").to_string()));
            }
            "auth.user" => {
                s.users.insert(pk, text(f, "username").unwrap_or("").to_string());
            }
            "documents.note" => {
                if let Some(doc) = f["document"].as_i64()
                    && let Some(note) = text(f, "note")
                {
                    s.notes.entry(doc).or_default().push((
                        text(f, "created").unwrap_or("").to_string(),
                        f["user"].as_i64(),
                        note.to_string(),
                    ));
                }
            }
            "documents.document" => {
                s.documents += 1;
                s.asns.extend(f["archive_serial_number"].as_i64());
            }
            "documents.customfield" => {
                s.custom_fields.insert(pk, (name(), text(f, "data_type").unwrap_or("string").to_string(), f["extra_data"].clone()));
            }
            "documents.customfieldinstance" => {
                if let (Some(doc), Some(field)) = (f["document"].as_i64(), f["field"].as_i64()) {
                    s.field_values.push((doc, field, f.clone()));
                }
            }
            "documents.savedview" => {
                s.views.insert(pk, f.clone());
            }
            "documents.savedviewfilterrule" => {
                if let (Some(view), Some(rule)) = (f["saved_view"].as_i64(), f["rule_type"].as_i64()) {
                    let value = match &f["value"] {
                        Value::String(v) => Some(v.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    };
                    s.view_rules.push((view, rule, value));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

/// A relative file name from the manifest, refused if it would leave the export directory.
fn exported_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    p.components().all(|c| matches!(c, std::path::Component::Normal(_))).then(|| dir.join(p))
}

/// Copies `src` to a temp file in the blob store, hashing (MD5 and SHA-256) as it goes.
fn copy_hashed(ctx: &AppContext, src: &Path, keep: bool) -> std::io::Result<(String, String, u64, Option<PathBuf>)> {
    let mut input = std::fs::File::open(src)?;
    let tmp = keep.then(|| ctx.blobs.temp_path(".paperless"));
    let mut out = match &tmp {
        Some(t) => Some(std::fs::File::create(t)?),
        None => None,
    };
    let (mut md5, mut sha, mut size) = (<Md5 as md5::Digest>::new(), Sha256::new(), 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = input.read(&mut buf)?;
        if k == 0 {
            break;
        }
        md5::Digest::update(&mut md5, &buf[..k]);
        sha.update(&buf[..k]);
        size += k as u64;
        if let Some(o) = out.as_mut() {
            o.write_all(&buf[..k])?;
        }
    }
    Ok((hex::encode(md5::Digest::finalize(md5).as_slice()), hex::encode(sha.finalize()), size, tmp))
}

pub struct Converted {
    pub root: PathBuf,
    pub documents: u64,
    pub new_tags: u64,
    /// What could not be carried over as it was (printed when the import ends).
    pub warnings: Vec<String>,
}

/// Paperless tags (names the owner already has are reused): the tags file, and the new tag id
/// of each paperless tag.
fn convert_tags(
    root: &Path,
    small: &Small,
    owner: Id,
    mut tag_ids: HashMap<String, Id>,
    max_tag: Id,
) -> Result<(ManifestFile, HashMap<i64, Id>), AppError> {
    let mut tags = HashedFile::create(root, "data/tags.jsonl")?;
    let mut next_tag = max_tag;
    let mut by_tag = HashMap::new();
    for (pk, (name, color)) in &small.tags {
        let id = match tag_ids.get(name) {
            Some(id) => *id,
            None => {
                next_tag += 1;
                tags.line(&json!({"id": next_tag, "owner_id": owner, "name": name, "color": color}))?;
                tag_ids.insert(name.to_string(), next_tag);
                next_tag
            }
        };
        by_tag.insert(*pk, id);
    }
    Ok((tags.finish()?, by_tag))
}

/// Correspondents or document types: reused by name (case-insensitively), else new rows.
fn convert_labels(
    root: &Path,
    table: &str,
    names: &HashMap<i64, String>,
    owner: Id,
    existing: &HashMap<String, Id>,
    mut next: Id,
    now: Millis,
) -> Result<(ManifestFile, HashMap<i64, Id>), AppError> {
    let mut file = HashedFile::create(root, &format!("data/{table}.jsonl"))?;
    let mut made: HashMap<String, Id> = HashMap::new();
    let mut by_pk = HashMap::new();
    let mut pks: Vec<&i64> = names.keys().collect();
    pks.sort();
    for pk in pks {
        let name = &names[pk];
        let key = name.to_lowercase();
        let id = match existing.get(&key).or_else(|| made.get(&key)) {
            Some(id) => *id,
            None => {
                next += 1;
                file.line(&json!({"id": next, "owner_id": owner, "name": name, "color": null, "created_at": now}))?;
                made.insert(key, next);
                next
            }
        };
        by_pk.insert(*pk, id);
    }
    Ok((file.finish()?, by_pk))
}

/// Storage paths → path templates (reused by name): the folders from every part of the path but
/// the last, the download name from the last (paperless names the stored file by it); a missing
/// value becomes "none", as in paperless. One whose path has no equivalent (a tag list, Jinja
/// logic) is left out and said.
fn convert_storage_paths(
    root: &Path,
    paths: &BTreeMap<i64, (String, String)>,
    owner: Id,
    existing: &HashMap<String, Id>,
    mut next: Id,
    now: Millis,
    warnings: &mut Vec<String>,
) -> Result<(ManifestFile, HashMap<i64, Id>), AppError> {
    let mut file = HashedFile::create(root, "data/path_templates.jsonl")?;
    let mut made: HashMap<String, Id> = HashMap::new();
    let mut by_pk = HashMap::new();
    for (pk, (name, path)) in paths {
        if let Some(id) = existing.get(name).or_else(|| made.get(name)) {
            by_pk.insert(*pk, *id);
            continue;
        }
        let (template, filename) = match crate::domain::path_templates::from_paperless(name, path) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("storage path {name:?} ({path:?}) was not carried over: {e}; its documents have no path template"));
                continue;
            }
        };
        let spec = crate::domain::path_templates::TemplateSpec { name: name.clone(), template, fallback: "none".into(), filename };
        let spec = match spec.validate() {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("storage path {name:?} was not carried over: {e}"));
                continue;
            }
        };
        next += 1;
        file.line(&json!({"id": next, "owner_id": owner, "name": spec.name, "template": spec.template, "fallback": spec.fallback,
            "filename": spec.filename, "created_at": now, "updated_at": now}))?;
        made.insert(name.clone(), next);
        by_pk.insert(*pk, next);
    }
    Ok((file.finish()?, by_pk))
}

/// Paperless matching (any, all, literal, regex, fuzzy, auto) → the same rule on the new tag,
/// correspondent or type ("auto": docmerge's own classifier, trained on the imported filing by
/// the next scheduled training). Not carried over, and said: a rule on a target the owner had already (theirs stands), a regular expression
/// our linear-time engine does not run (look-around, back-references).
fn convert_rules(
    root: &Path,
    rules: &[(TargetKind, i64, i64, String, bool)],
    owner: Id,
    targets: &[(TargetKind, &HashMap<i64, Id>, Id)],
    mut next: Id,
    now: Millis,
    warnings: &mut Vec<String>,
) -> Result<ManifestFile, AppError> {
    let mut file = HashedFile::create(root, "data/match_rules.jsonl")?;
    let mut done = std::collections::HashSet::new();
    for (kind, pk, algorithm, pattern, insensitive) in rules {
        let Some((_, ids, existing_max)) = targets.iter().find(|(k, _, _)| k == kind) else { continue };
        let Some(&target) = ids.get(pk) else { continue };
        if pattern.trim().is_empty() && *algorithm != 6 {
            // paperless's default for a new tag: "any" of nothing, which matches nothing.
            continue;
        }
        let what = format!("{} {target}", kind.as_str().replace('_', " "));
        let algorithm = match algorithm {
            1 => Algorithm::Any,
            2 => Algorithm::All,
            3 => Algorithm::Exact,
            4 => Algorithm::Regex,
            5 => Algorithm::Fuzzy,
            6 => Algorithm::Auto,
            other => {
                warnings.push(format!("{what}: paperless matching algorithm {other} is unknown; no rule"));
                continue;
            }
        };
        if target <= *existing_max || !done.insert((*kind, target)) {
            warnings
                .push(format!("{what} existed already: its own matching rule stands (paperless had {} {pattern:?})", algorithm.as_str()));
            continue;
        }
        let rule = MatchRule { algorithm, pattern: pattern.clone(), insensitive: *insensitive };
        if let Err(e) = rule.validate() {
            warnings.push(format!("{what}: the paperless rule {} {pattern:?} was not carried over: {e}", algorithm.as_str()));
            continue;
        }
        next += 1;
        file.line(&json!({"id": next, "owner_id": owner, "target_kind": kind.as_str(), "target_id": target,
            "algorithm": algorithm.as_str(), "pattern": pattern, "insensitive": insensitive, "updated_at": now}))?;
    }
    Ok(file.finish()?)
}

/// A paperless custom field as docmerge's, with how its select values map (paperless option id,
/// or the index in an older export, → docmerge option id).
struct MappedField {
    def: FieldDef,
    options: HashMap<String, String>,
}

fn field_kind(data_type: &str) -> Option<FieldKind> {
    Some(match data_type {
        "string" => FieldKind::Text,
        "longtext" => FieldKind::LongText,
        "url" => FieldKind::Url,
        "date" => FieldKind::Date,
        "boolean" => FieldKind::Boolean,
        "integer" => FieldKind::Integer,
        "float" => FieldKind::Number,
        "monetary" => FieldKind::Monetary,
        "documentlink" => FieldKind::DocumentLink,
        "select" => FieldKind::Select,
        _ => return None,
    })
}

/// Custom fields: an existing field of the same name and kind (for a select: with every
/// option) is reused; otherwise a new one (named `NAME (paperless)` when the name is taken).
fn convert_fields(
    root: &Path,
    small: &Small,
    owner: Id,
    existing: &[FieldDef],
    mut next: Id,
    now: Millis,
    warnings: &mut Vec<String>,
) -> Result<(ManifestFile, HashMap<i64, MappedField>), AppError> {
    let mut file = HashedFile::create(root, "data/custom_fields.jsonl")?;
    let mut out = HashMap::new();
    let mut taken: Vec<String> = existing.iter().map(|f| f.name.to_lowercase()).collect();
    for (pk, (name, data_type, extra)) in &small.custom_fields {
        let Some(kind) = field_kind(data_type) else {
            warnings.push(format!("custom field {name:?}: its type {data_type:?} is unknown to docmerge; not imported"));
            continue;
        };
        // Options: [{"id", "label"}] (paperless 2.15+) or ["label", …] (older: values are indexes).
        let mut options: Vec<SelectOption> = Vec::new();
        let mut option_map: HashMap<String, String> = HashMap::new();
        for (i, o) in extra["select_options"].as_array().into_iter().flatten().enumerate() {
            let (pid, label) = match o {
                Value::String(l) => (i.to_string(), l.clone()),
                Value::Object(m) => (
                    m.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| i.to_string()),
                    m.get("label").and_then(Value::as_str).unwrap_or("").to_string(),
                ),
                _ => continue,
            };
            if label.trim().is_empty() {
                continue;
            }
            let id = format!("o{}", options.len() + 1);
            option_map.insert(pid, id.clone());
            options.push(SelectOption { id, label });
        }
        let currency = extra["default_currency"].as_str().and_then(|c| metadata::validate_currency(c).ok());
        let reuse = existing
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name) && f.kind == kind && options.iter().all(|o| f.option_by_label(&o.label).is_some()));
        let mapped = match reuse {
            Some(f) => {
                let options = options
                    .iter()
                    .filter_map(|o| f.option_by_label(&o.label).map(|mine| (o.id.clone(), mine.id.clone())))
                    .collect::<HashMap<String, String>>();
                let option_map = option_map.into_iter().filter_map(|(pid, ours)| options.get(&ours).map(|m| (pid, m.clone()))).collect();
                MappedField { def: f.clone(), options: option_map }
            }
            None => {
                next += 1;
                let mut name = name.clone();
                if taken.contains(&name.to_lowercase()) {
                    name = format!("{name} (paperless)");
                }
                taken.push(name.to_lowercase());
                let options_json = serde_json::to_string(&options).map_err(|e| bad(e.to_string()))?;
                file.line(&json!({"id": next, "owner_id": owner, "name": name, "kind": kind.as_str(), "currency": currency,
                    "options": options_json, "created_at": now}))?;
                let def = FieldDef {
                    id: next,
                    owner_id: owner,
                    name,
                    kind,
                    currency: currency.clone(),
                    options,
                    created_at: now,
                    document_count: 0,
                };
                MappedField { def, options: option_map }
            }
        };
        out.insert(*pk, mapped);
    }
    Ok((file.finish()?, out))
}

/// A paperless custom field value as docmerge's input for the field (null: empty).
fn field_input(f: &MappedField, inst: &Value, doc_ids: &HashMap<i64, Id>) -> Value {
    let v = |k: &str| inst.get(k).cloned().unwrap_or(Value::Null);
    match f.def.kind {
        FieldKind::Text => v("value_text"),
        FieldKind::LongText => v("value_long_text"),
        FieldKind::Url => v("value_url"),
        FieldKind::Date => match v("value_date") {
            Value::String(d) => json!(d.get(..10).unwrap_or(&d)),
            other => other,
        },
        FieldKind::Boolean => v("value_bool"),
        FieldKind::Integer => v("value_int"),
        FieldKind::Number => v("value_float"),
        FieldKind::Monetary => match v("value_monetary") {
            // No currency written and none by default: the ISO code for "no currency".
            Value::String(m) if f.def.currency.is_none() && m.chars().all(|c| !c.is_ascii_alphabetic()) => json!(format!("XXX{m}")),
            other => other,
        },
        FieldKind::DocumentLink => match v("value_document_ids") {
            Value::Array(ids) => json!(ids.iter().filter_map(Value::as_i64).filter_map(|pk| doc_ids.get(&pk)).collect::<Vec<_>>()),
            _ => Value::Null,
        },
        FieldKind::Select => match v("value_select") {
            Value::String(id) => f.options.get(&id).map(|o| json!(o)).unwrap_or(Value::Null),
            Value::Number(n) => f.options.get(&n.to_string()).map(|o| json!(o)).unwrap_or(Value::Null),
            _ => Value::Null,
        },
    }
}

/// A paperless saved view's filter rules in the search language, and the rules it has no
/// words for. Several rules of one kind are "any of" in paperless: kept only when there is one.
fn view_query(view: &str, rules: &[(i64, Option<String>)], small: &Small, unmapped: &mut Vec<String>) -> String {
    let quote = |s: &str| {
        if s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') { s.to_string() } else { format!("\"{}\"", s.replace('"', "")) }
    };
    let date = |v: &Option<String>| v.as_deref().map(|d| d.get(..10).unwrap_or(d).to_string());
    let count = |t: &[i64]| rules.iter().filter(|(r, _)| t.contains(r)).count();
    let name_of = |map: &HashMap<i64, String>, v: &Option<String>| {
        v.as_deref().and_then(|v| v.parse::<i64>().ok()).and_then(|pk| map.get(&pk).cloned())
    };
    let tags: HashMap<i64, String> = small.tags.iter().map(|(k, (n, _))| (*k, n.clone())).collect();
    let mut terms = Vec::new();
    for (rule, value) in rules {
        let mapped = match rule {
            0 | 1 | 19 | 20 => value.as_deref().map(|w| w.split_whitespace().map(quote).collect::<Vec<_>>().join(" ")),
            2 => value.clone().map(|n| format!("asn:{n}")),
            18 => Some("no:asn".into()),
            3 | 26 if count(&[3, 26]) == 1 => name_of(&small.correspondents, value).map(|n| format!("correspondent:{}", quote(&n))),
            4 | 28 if count(&[4, 28]) == 1 => name_of(&small.types, value).map(|n| format!("type:{}", quote(&n))),
            6 => name_of(&tags, value).map(|n| format!("tag:{}", quote(&n))),
            22 if count(&[22]) == 1 => name_of(&tags, value).map(|n| format!("tag:{}", quote(&n))),
            8 => date(value).map(|d| format!("created<{d}")),
            9 => date(value).map(|d| format!("created>{d}")),
            43 => date(value).map(|d| format!("created<={d}")),
            44 => date(value).map(|d| format!("created>={d}")),
            10 => value.clone().map(|y| format!("created:{y}")),
            13 => date(value).map(|d| format!("added<{d}")),
            14 => date(value).map(|d| format!("added>{d}")),
            45 => date(value).map(|d| format!("added<={d}")),
            46 => date(value).map(|d| format!("added>={d}")),
            // Owners and sharing: everything imported belongs to one owner.
            32..=35 | 37 => Some(String::new()),
            _ => None,
        };
        match mapped {
            Some(t) if !t.is_empty() => terms.push(t),
            Some(_) => {}
            None => {
                unmapped.push(format!("saved view {view:?}: filter rule {rule} ({}) has no equivalent", value.as_deref().unwrap_or("")))
            }
        }
    }
    terms.join(" ")
}

fn view_sort(f: &Value) -> String {
    let field = match f["sort_field"].as_str().unwrap_or("") {
        "created" => "date",
        "title" => "title",
        "archive_serial_number" => "asn",
        _ => "created_at",
    };
    if f["sort_reverse"].as_bool().unwrap_or(false) { format!("-{field}") } else { field.to_string() }
}

/// The converted archive's manifest (checksummed file list and row counts), written durably
/// under its final name last. Returns the number of new tags.
fn write_manifest(root: &Path, files: Vec<ManifestFile>) -> Result<u64, AppError> {
    let counts: BTreeMap<String, u64> =
        files.iter().map(|f| (f.path.trim_start_matches("data/").trim_end_matches(".jsonl").to_string(), f.rows)).collect();
    let new_tags = counts.get("tags").copied().unwrap_or(0);
    let m = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        docmerge_version: crate::VERSION.into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source_backend: PAPERLESS_SOURCE.into(),
        incremental_since: None,
        with_derived: false,
        files,
        counts,
    };
    let json = serde_json::to_vec_pretty(&m).map_err(|e| bad(e.to_string()))?;
    let tmp = root.join("manifest.json.partial");
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, root.join(MANIFEST_FILE)))
        .map_err(|e| bad(format!("cannot write the converted manifest: {e}")))?;
    Ok(new_tags)
}

/// Converts the export in `dir` for `owner` into a docmerge archive (or finds the one an
/// earlier run made).
pub async fn convert(ctx: &AppContext, dir: &Path, owner: &str) -> Result<Converted, AppError> {
    let manifest = dir.join("manifest.json");
    if !manifest.is_file() {
        return Err(AppError::Config(format!(
            "{} has no manifest.json: give the directory written by paperless-ngx's document_exporter",
            dir.display()
        )));
    }
    let user = ctx
        .store
        .user_by_name(owner)
        .await?
        .ok_or_else(|| AppError::Config(format!("there is no user named {owner:?}: create it first or pick another with --owner")))?
        .user;
    let (home, _inbox) = ctx.store.root_folders(user.id).await?;
    let key = {
        let m = manifest.clone();
        let digest = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(m)?, &mut h)?;
            Ok(hex::encode(h.finalize()))
        })
        .await
        .map_err(|e| bad(e.to_string()))?
        .map_err(|e| bad(format!("cannot read {}: {e}", manifest.display())))?;
        hex::encode(Sha256::digest(format!("{digest}|{}", user.id)))
    };
    let root = ctx.blobs.root().join("paperless-import").join(&key[..16]);
    if root.join(MANIFEST_FILE).is_file() {
        let m: Manifest = serde_json::from_slice(&std::fs::read(root.join(MANIFEST_FILE)).map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(format!("{}: {e}", root.display())))?;
        return Ok(Converted {
            root,
            documents: m.counts.get("documents").copied().unwrap_or(0),
            new_tags: m.counts.get("tags").copied().unwrap_or(0),
            warnings: Vec::new(),
        });
    }
    // An earlier conversion that did not finish wrote nothing to the database: start over.
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data")).map_err(|e| bad(format!("cannot create {}: {e}", root.display())))?;
    let m = manifest.clone();
    let small = tokio::task::spawn_blocking(move || gather(&m)).await.map_err(|e| bad(format!("the conversion crashed: {e}")))??;
    let lower = |labels: Vec<metadata::Label>| labels.into_iter().map(|l| (l.name.to_lowercase(), l.id)).collect::<HashMap<_, _>>();
    let mut taken_asns = std::collections::HashSet::new();
    for asn in &small.asns {
        let f = crate::domain::DocumentFilter { asn: Some(*asn), ..Default::default() };
        if ctx.store.list_documents(user.id, &f, crate::domain::PageReq { page: 1, page_size: 1 }).await?.total > 0 {
            taken_asns.insert(*asn);
        }
    }
    let ids = ctx.store.archive().max_ids(&ID_TABLES).await?;
    let existing = Existing {
        tags: ctx.store.tags(user.id).await?.into_iter().map(|t| (t.name, t.id)).collect(),
        correspondents: lower(ctx.store.labels(user.id, LabelKind::Correspondent).await?),
        types: lower(ctx.store.labels(user.id, LabelKind::DocumentType).await?),
        fields: ctx.store.fields(user.id).await?,
        users: ctx.store.list_users().await?.into_iter().map(|u| (u.username.to_lowercase(), u.id)).collect(),
        views: ctx.store.views(user.id).await?.into_iter().map(|v| v.name.to_lowercase()).collect(),
        path_templates: ctx.store.path_templates(user.id).await?.into_iter().map(|t| (t.name, t.id)).collect(),
        taken_asns,
        max: ID_TABLES.iter().copied().zip(ids).collect(),
    };
    let (ctx2, dir2, root2) = (ctx.clone(), dir.to_path_buf(), root.clone());
    let (owner_id, home_id) = (user.id, home.id);
    tokio::task::spawn_blocking(move || write_archive(&ctx2, &dir2, &root2, owner_id, home_id, small, existing))
        .await
        .map_err(|e| bad(format!("the conversion crashed: {e}")))?
}

/// The tables whose largest id the conversion numbers its new rows after.
const ID_TABLES: [&str; 10] = [
    "tags",
    "correspondents",
    "document_types",
    "custom_fields",
    "documents",
    "versions",
    "notes",
    "saved_views",
    "match_rules",
    "path_templates",
];

/// What the owner (and the instance) has already: reused by name, or numbered after.
struct Existing {
    /// Tag name → id (exact names, as tags always compared).
    tags: HashMap<String, Id>,
    /// Lower-case name → id.
    correspondents: HashMap<String, Id>,
    types: HashMap<String, Id>,
    fields: Vec<FieldDef>,
    /// Lower-case user name → id: a note's paperless author with a docmerge account.
    users: HashMap<String, Id>,
    /// Lower-case names of the owner's saved views.
    views: std::collections::HashSet<String>,
    /// Path template name → id.
    path_templates: HashMap<String, Id>,
    /// ASNs the owner uses already.
    taken_asns: std::collections::HashSet<i64>,
    /// Table → its largest id.
    max: HashMap<&'static str, Id>,
}

fn write_archive(
    ctx: &AppContext,
    dir: &Path,
    root: &Path,
    owner: Id,
    home: Id,
    small: Small,
    ex: Existing,
) -> Result<Converted, AppError> {
    let manifest = dir.join("manifest.json");
    let max = |t: &str| ex.max.get(t).copied().unwrap_or(0);
    let now = crate::domain::now_millis();
    let mut warnings = Vec::new();
    let mut files = Vec::new();
    for t in ["users", "api_tokens", "folders", "pages", "folder_tags"] {
        files.push(HashedFile::create(root, &format!("data/{t}.jsonl"))?.finish()?);
    }
    let (tags_file, by_tag) = convert_tags(root, &small, owner, ex.tags.clone(), max("tags"))?;
    let (corr_file, by_correspondent) =
        convert_labels(root, "correspondents", &small.correspondents, owner, &ex.correspondents, max("correspondents"), now)?;
    let (types_file, by_type) = convert_labels(root, "document_types", &small.types, owner, &ex.types, max("document_types"), now)?;
    let (fields_file, fields) = convert_fields(root, &small, owner, &ex.fields, max("custom_fields"), now, &mut warnings)?;
    let (paths_file, by_path) =
        convert_storage_paths(root, &small.storage_paths, owner, &ex.path_templates, max("path_templates"), now, &mut warnings)?;
    files.extend([tags_file, corr_file, types_file, fields_file, paths_file]);
    let targets = [
        (TargetKind::Tag, &by_tag, max("tags")),
        (TargetKind::Correspondent, &by_correspondent, max("correspondents")),
        (TargetKind::DocumentType, &by_type, max("document_types")),
        (TargetKind::PathTemplate, &by_path, max("path_templates")),
    ];
    files.push(convert_rules(root, &small.rules, owner, &targets, max("match_rules"), now, &mut warnings)?);

    let mut documents = HashedFile::create(root, "data/documents.jsonl")?;
    let mut versions = HashedFile::create(root, "data/versions.jsonl")?;
    let mut links = HashedFile::create(root, "data/document_tags.jsonl")?;
    let mut blobs = HashedFile::create(root, BLOB_LIST_FILE)?;
    let bar = super::progress_bar("documents");
    bar.set_length(small.documents);
    let (mut n, mut unsynced) = (0i64, 0u64);
    let (max_doc, max_version) = (max("documents"), max("versions"));
    // paperless document pk → docmerge id
    let mut doc_ids: HashMap<i64, Id> = HashMap::new();
    let mut asns_used = ex.taken_asns.clone();
    for_each_object(&manifest, &mut |o| {
        if o["model"] != "documents.document" {
            return Ok(());
        }
        let (pk, f) = (o["pk"].as_i64().unwrap_or(0), &o["fields"]);
        let title = text(f, "title").unwrap_or("(untitled)").to_string();
        let item = format!("document {pk} ({title:?})");
        let original = o["__exported_file_name__"]
            .as_str()
            .and_then(|name| exported_file(dir, name))
            .ok_or_else(|| bad(format!("{item}: the manifest names no original file")))?;
        let (md5, sha, size, tmp) =
            copy_hashed(ctx, &original, true).map_err(|e| bad(format!("{item}: cannot read its original {}: {e}", original.display())))?;
        let tmp = tmp.ok_or_else(|| bad(format!("{item}: no temp file")))?;
        if Some(md5.as_str()) != text(f, "checksum") {
            let _ = std::fs::remove_file(&tmp);
            return Err(bad(format!("{item}: its original {} does not match the manifest's checksum (damaged?)", original.display())));
        }
        ctx.blobs.place_unsynced(&tmp, &sha)?;
        unsynced += 1;
        if unsynced >= SYNC_EVERY_FILES {
            ctx.blobs.sync_all_written()?;
            unsynced = 0;
        }
        if let Some(name) = o["__exported_archive_name__"].as_str().filter(|s| !s.is_empty()) {
            let archive = exported_file(dir, name).ok_or_else(|| bad(format!("{item}: unexpected archive file name {name:?}")))?;
            let (md5, ..) = copy_hashed(ctx, &archive, false)
                .map_err(|e| bad(format!("{item}: cannot read its archive PDF {}: {e}", archive.display())))?;
            if Some(md5.as_str()) != text(f, "archive_checksum") {
                return Err(bad(format!(
                    "{item}: its archive PDF {} does not match the manifest's archive_checksum (damaged?)",
                    archive.display()
                )));
            }
        }
        n += 1;
        let (doc_id, version_id) = (max_doc + n, max_version + n);
        doc_ids.insert(pk, doc_id);
        let created = text(f, "created");
        let added = text(f, "added").and_then(parse_time).or_else(|| created.and_then(parse_time)).unwrap_or(now);
        let modified = text(f, "modified").and_then(parse_time).unwrap_or(added);
        // The date as paperless shows it (the date part as written, in its own time zone).
        let date = created.and_then(|c| c.get(..10)).and_then(metadata::parse_date).map(|d| d.format("%Y-%m-%d").to_string());
        let asn = match f["archive_serial_number"].as_i64() {
            Some(a) if a < 0 || !asns_used.insert(a) => {
                warnings.push(format!("{item}: its ASN {a} is used by another document already; imported without it"));
                None
            }
            other => other,
        };
        let filename = text(f, "original_filename")
            .map(str::to_string)
            .or_else(|| original.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("paperless-{pk}"));
        let correspondent = f["correspondent"].as_i64().and_then(|c| by_correspondent.get(&c).copied());
        let doc_type = f["document_type"].as_i64().and_then(|t| by_type.get(&t).copied());
        let path_template = f["storage_path"].as_i64().and_then(|p| by_path.get(&p).copied());
        documents.line(&json!({"id": doc_id, "owner_id": owner, "folder_id": home, "title": title, "state": "queued", "error": null,
            "current_version_id": version_id, "sha256": sha, "duplicate_of": null, "created_at": added, "updated_at": modified, "trashed_at": null,
            "correspondent_id": correspondent, "document_type_id": doc_type, "document_date": date,
            "date_source": date.as_ref().map(|_| metadata::DATE_BY_USER), "asn": asn, "path_template_id": path_template}))?;
        versions.line(&json!({"id": version_id, "document_id": doc_id, "number": 1, "filename": filename,
            "mime": text(f, "mime_type").unwrap_or("application/octet-stream"), "size": size, "sha256": sha, "state": "queued", "error": null,
            "page_count": 0, "pages_done": 0, "searchable_sha256": null, "note": "imported from paperless-ngx", "created_at": added}))?;
        let mut doc_tags: Vec<Id> =
            f["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_i64()).filter_map(|t| by_tag.get(&t).copied()).collect();
        doc_tags.sort_unstable();
        doc_tags.dedup();
        for t in doc_tags {
            links.line(&json!({"document_id": doc_id, "tag_id": t}))?;
        }
        blobs.line(&BlobLine { sha256: sha, size, derived: false })?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    // Every original is durable before the importer commits a row that refers to it.
    ctx.blobs.sync_all_written()?;
    files.extend([documents.finish()?, versions.finish()?, links.finish()?, blobs.finish()?]);

    // Field values (after the documents: a link names documents by their new ids).
    let mut values = HashedFile::create(root, "data/document_fields.jsonl")?;
    let mut seen = std::collections::HashSet::new();
    for (doc_pk, field_pk, inst) in &small.field_values {
        let (Some(doc), Some(field)) = (doc_ids.get(doc_pk), fields.get(field_pk)) else { continue };
        if !seen.insert((*doc, field.def.id)) {
            continue;
        }
        match metadata::validate_value(&field.def, &field_input(field, inst, &doc_ids)) {
            Ok(v) => values.line(&json!({"document_id": doc, "field_id": field.def.id, "value": v.value, "num": v.num, "txt": v.txt}))?,
            Err(e) => warnings.push(format!("document {doc_pk}: {e}; the field is imported empty")),
        }
    }
    files.push(values.finish()?);

    // Notes, with their authors where the paperless user has a docmerge account.
    let mut notes = HashedFile::create(root, "data/notes.jsonl")?;
    let mut note_id = max("notes");
    let mut pks: Vec<&i64> = small.notes.keys().collect();
    pks.sort();
    for pk in pks {
        let Some(doc) = doc_ids.get(pk) else { continue };
        for (at, user, body) in &small.notes[pk] {
            let name = user.and_then(|u| small.users.get(&u));
            let author = name.and_then(|n| ex.users.get(&n.to_lowercase()).copied());
            let body = match (author, name) {
                (None, Some(n)) => format!("({n}) {body}"),
                _ => body.clone(),
            };
            let at = parse_time(at).unwrap_or(now);
            note_id += 1;
            notes
                .line(&json!({"id": note_id, "document_id": doc, "author_id": author, "body": body, "created_at": at, "updated_at": at}))?;
        }
    }
    files.push(notes.finish()?);

    // Saved views, their rules in the search language.
    let mut views = HashedFile::create(root, "data/saved_views.jsonl")?;
    let mut view_id = max("saved_views");
    let mut names = ex.views.clone();
    for (pk, f) in &small.views {
        let mut name = text(f, "name").unwrap_or("Saved view").to_string();
        if !names.insert(name.to_lowercase()) {
            name = format!("{name} (paperless)");
            names.insert(name.to_lowercase());
        }
        let rules: Vec<(i64, Option<String>)> =
            small.view_rules.iter().filter(|(v, _, _)| v == pk).map(|(_, r, v)| (*r, v.clone())).collect();
        let query = view_query(&name, &rules, &small, &mut warnings);
        if !query.is_empty()
            && let Err(e) = crate::domain::search::parse_query(&query)
        {
            warnings.push(format!("saved view {name:?}: its rules became {query:?}, which does not parse ({e}); imported without a query"));
        }
        let query = if crate::domain::search::parse_query(&query).is_ok() { query } else { String::new() };
        view_id += 1;
        views.line(&json!({"id": view_id, "owner_id": owner, "name": name, "query": query, "sort": view_sort(f),
            "columns": "[\"title\",\"date\",\"correspondent\",\"tags\"]",
            "on_dashboard": f["show_on_dashboard"].as_bool().unwrap_or(false), "in_sidebar": f["show_in_sidebar"].as_bool().unwrap_or(false),
            "position": 0, "created_at": now}))?;
    }
    files.push(views.finish()?);

    let new_tags = write_manifest(root, files)?;
    Ok(Converted { root: root.to_path_buf(), documents: n as u64, new_tags, warnings })
}

/// `docmerge import --from-paperless DIR [--owner USER]`.
pub async fn import_paperless(ctx: &AppContext, dir: &Path, owner: Option<&str>) -> Result<(), AppError> {
    let owner = owner.unwrap_or(&ctx.settings.auth.admin_username).to_string();
    let converted = convert(ctx, dir, &owner).await?;
    let s = super::import(ctx, &converted.root).await?;
    if s.already_done {
        println!("{} was imported already: nothing to do", dir.display());
        return Ok(());
    }
    println!(
        "imported {} paperless-ngx documents from {} for {owner} in {:.1} s ({} new tags){}; queued {} documents to process",
        converted.documents,
        dir.display(),
        s.seconds,
        converted.new_tags,
        if s.resumed { ", continuing an interrupted import" } else { "" },
        s.process_jobs
    );
    for w in &converted.warnings {
        println!("  not carried over as it was: {w}");
    }
    Ok(())
}
