//! Workflows (#23): "when this happens to a document that looks like that, do these things".
//! A workflow is a trigger, filters (all must hold) and an ordered list of actions. What it does
//! is decided here, purely, from what the store tells about the document ([`Facts`]); the store
//! applies the metadata part in one transaction with the run's record, and queues each webhook
//! and email as a delivery of its own (retried with backoff through the job table).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::metadata::{DocumentPatch, FieldDef};
use super::path_templates::{Subject, Template};
use super::{Document, DomainError, DomainResult, Id, Millis};

/// An owner has at most this many workflows, each at most this many actions.
pub const MAX_WORKFLOWS: usize = 200;
pub const MAX_ACTIONS: usize = 20;
/// After matching (15) and placement (14): a workflow sees the document as its rules filed it.
pub const PRIORITY: i32 = 13;
/// Deliveries run below processing: a webhook a little late costs less than a page not yet
/// searchable.
pub const DELIVERY_PRIORITY: i32 = 5;
/// A webhook's file goes along only up to this size (larger: the body says so instead).
pub const MAX_ATTACHED_BYTES: i64 = 25 * 1024 * 1024;
/// Documents looked at per scheduled scan job.
pub const SCAN_CHUNK: usize = 200;

/// How a document came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Uploaded in the web interface.
    Upload,
    /// Sent through the REST API with an API token.
    Api,
    /// Picked up from a consume folder.
    Consume,
    /// Arrived by mail.
    Mail,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Upload => "upload",
            Source::Api => "api",
            Source::Consume => "consume",
            Source::Mail => "mail",
        }
    }
    pub fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "upload" => Source::Upload,
            "api" => Source::Api,
            "consume" => Source::Consume,
            "mail" => Source::Mail,
            _ => return None,
        })
    }
}

/// The date a scheduled workflow counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateBase {
    /// The date the document was written.
    Created,
    /// The day it was added.
    Added,
    /// A date custom field (`field_id`).
    Field,
}

/// When a workflow runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// The document was added (before processing: its text is not known yet).
    Added,
    /// Processing of its current version finished (the text is known).
    Processed,
    /// A user changed its metadata (changes made by workflows and rules do not count).
    Updated,
    /// Once per document, `offset_days` after (or before, negative) a date of it.
    Scheduled {
        base: DateBase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field_id: Option<Id>,
        #[serde(default)]
        offset_days: i32,
    },
}

impl Trigger {
    /// The `trigger` column: what the store looks workflows up by.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Added => "added",
            Trigger::Processed => "processed",
            Trigger::Updated => "updated",
            Trigger::Scheduled { .. } => "scheduled",
        }
    }
}

pub const TRIGGER_KINDS: [&str; 4] = ["added", "processed", "updated", "scheduled"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    /// The field has a value.
    Set,
    /// It has none (or the document lacks the field).
    Unset,
    /// Its value equals `value` (text compared without regard to case; a select field by option id).
    Equals,
    /// Its value, as text, contains `value` (without regard to case).
    Contains,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldFilter {
    pub field_id: Id,
    pub op: FieldOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What a document must look like (every filter given must hold; none given: every document).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// A glob over the original file name (`*`, `?`; without regard to case), e.g. `*.pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// How it came in (any of these; empty: any way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<Id>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<Id>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_none: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correspondent_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type_id: Option<Id>,
    /// In this folder or below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<Id>,
    /// Its text (or title) contains this, without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldFilter>,
}

/// One thing a workflow does. Text (`title`, `body`, `subject`) may use the path template
/// variables: `{title}`, `{correspondent}`, `{type}`, `{created}`, `{added}`, `{asn}`,
/// `{filename}`, `{custom.<field>}`, with formats and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    AddTags {
        tag_ids: Vec<Id>,
    },
    RemoveTags {
        tag_ids: Vec<Id>,
    },
    /// `null` clears it.
    SetCorrespondent {
        correspondent_id: Option<Id>,
    },
    SetDocumentType {
        document_type_id: Option<Id>,
    },
    SetTitle {
        title: String,
    },
    MoveToFolder {
        folder_id: Id,
    },
    /// `null` detaches the document from its template.
    SetPathTemplate {
        path_template_id: Option<Id>,
    },
    /// `null` removes the field from the document.
    SetField {
        field_id: Id,
        value: Value,
    },
    AddNote {
        body: String,
    },
    /// POST the document's metadata (and optionally its file) as JSON, signed the Standard
    /// Webhooks way with `secret` (`whsec_…`, made when left empty).
    Webhook {
        url: String,
        #[serde(default)]
        secret: String,
        #[serde(default)]
        include_file: bool,
    },
    /// Mail through the operator's SMTP server.
    Email {
        to: Vec<String>,
        subject: String,
        body: String,
        #[serde(default)]
        attach_file: bool,
    },
    /// Move the document to the trash (later actions of the workflow still run; later
    /// workflows do not see it).
    Trash,
    /// Ask the operator's language model for the fields named (none: all of them); what it
    /// answers is checked against the owner's names and offered as suggestions or applied.
    /// Runs as a job of its own after the workflow's other actions.
    AskLlm {
        #[serde(default)]
        mode: super::llm::Mode,
        #[serde(default)]
        fields: Vec<super::llm::Ask>,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::AddTags { .. } => "add_tags",
            Action::RemoveTags { .. } => "remove_tags",
            Action::SetCorrespondent { .. } => "set_correspondent",
            Action::SetDocumentType { .. } => "set_document_type",
            Action::SetTitle { .. } => "set_title",
            Action::MoveToFolder { .. } => "move_to_folder",
            Action::SetPathTemplate { .. } => "set_path_template",
            Action::SetField { .. } => "set_field",
            Action::AddNote { .. } => "add_note",
            Action::Webhook { .. } => "webhook",
            Action::Email { .. } => "email",
            Action::Trash => "trash",
            Action::AskLlm { .. } => "ask_llm",
        }
    }
}

/// A workflow as the API takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Lower runs first (then by id).
    #[serde(default)]
    pub position: i32,
    pub trigger: Trigger,
    #[serde(default)]
    pub filters: Filters,
    pub actions: Vec<Action>,
}

fn yes() -> bool {
    true
}

/// A stored workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub id: Id,
    pub owner_id: Id,
    #[serde(flatten)]
    pub spec: WorkflowSpec,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The ids a workflow names, by kind: the store checks each is the owner's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refs {
    pub tags: Vec<Id>,
    pub correspondents: Vec<Id>,
    pub document_types: Vec<Id>,
    pub folders: Vec<Id>,
    pub path_templates: Vec<Id>,
    pub fields: Vec<Id>,
}

impl Refs {
    /// Per kind: the table, what the kind is called, the ids.
    pub fn by_table(&self) -> [(&'static str, &'static str, &[Id]); 6] {
        [
            ("tags", "tag", &self.tags),
            ("correspondents", "correspondent", &self.correspondents),
            ("document_types", "document type", &self.document_types),
            ("folders", "folder", &self.folders),
            ("path_templates", "path template", &self.path_templates),
            ("custom_fields", "custom field", &self.fields),
        ]
    }
}

impl WorkflowSpec {
    /// Checks everything that can be checked without the database; fills in webhook secrets.
    /// `email_configured`: the operator has an SMTP server (else an email action is refused);
    /// `llm_configured`: a language model (else asking one is refused).
    pub fn validate(mut self, email_configured: bool, llm_configured: bool) -> DomainResult<WorkflowSpec> {
        let bad = |m: String| Err(DomainError::Invalid(m));
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 128 {
            return bad("name: 1 to 128 characters".into());
        }
        if self.actions.is_empty() || self.actions.len() > MAX_ACTIONS {
            return bad(format!("actions: 1 to {MAX_ACTIONS}"));
        }
        if let Trigger::Scheduled { base, field_id, offset_days } = &self.trigger {
            if (*base == DateBase::Field) != field_id.is_some() {
                return bad("trigger: a schedule from a date field names the field (field_id), and only then".into());
            }
            if offset_days.abs() > 36_600 {
                return bad("trigger: offset_days within 100 years".into());
            }
        }
        let f = &mut self.filters;
        if let Some(g) = &f.filename
            && (g.trim().is_empty() || g.chars().count() > 256)
        {
            return bad("filters.filename: a glob of 1 to 256 characters, like *.pdf".into());
        }
        if let Some(t) = &f.text_contains
            && (t.trim().is_empty() || t.chars().count() > 256)
        {
            return bad("filters.text_contains: 1 to 256 characters".into());
        }
        if f.tags_any.len() + f.tags_all.len() + f.tags_none.len() > 200 || f.fields.len() > 20 {
            return bad("filters: at most 200 tags and 20 fields".into());
        }
        for ff in &f.fields {
            let needs_value = matches!(ff.op, FieldOp::Equals | FieldOp::Contains);
            if needs_value != ff.value.as_ref().is_some_and(|v| !v.is_null()) {
                return bad("filters.fields: equals and contains take a value; set and unset do not".into());
            }
        }
        if self.trigger == Trigger::Added && f.text_contains.is_some() {
            return bad("filters.text_contains: a document just added has no text yet (use the processed trigger)".into());
        }
        for a in &mut self.actions {
            match a {
                Action::AddTags { tag_ids } | Action::RemoveTags { tag_ids } if tag_ids.is_empty() || tag_ids.len() > 200 => {
                    return bad("actions: 1 to 200 tags".into());
                }
                Action::SetTitle { title } => {
                    *title = title.trim().to_string();
                    if title.is_empty() || title.chars().count() > 300 {
                        return bad("actions.set_title: 1 to 300 characters".into());
                    }
                    Template::parse_text(title)?;
                }
                Action::AddNote { body } => {
                    if body.trim().is_empty() {
                        return bad("actions.add_note: a note needs text".into());
                    }
                    Template::parse_text(body)?;
                }
                Action::Webhook { url, secret, .. } => {
                    check_url(url)?;
                    if secret.trim().is_empty() {
                        *secret = new_secret();
                    } else if secret_bytes(secret).is_none() {
                        return bad("actions.webhook: secret is whsec_ followed by base64 (24 to 64 bytes), or empty to make one".into());
                    }
                }
                Action::Email { to, subject, body, .. } => {
                    if !email_configured {
                        return bad("actions.email: the operator has not configured an SMTP server ([smtp] host)".into());
                    }
                    if to.is_empty() || to.len() > 20 {
                        return bad("actions.email: 1 to 20 recipients".into());
                    }
                    for t in to.iter_mut() {
                        *t = t.trim().to_string();
                        if !plausible_address(t) {
                            return bad(format!("actions.email: {t:?} is not an email address"));
                        }
                    }
                    if subject.trim().is_empty() || subject.chars().count() > 300 || subject.contains(['\r', '\n']) {
                        return bad("actions.email: a subject of 1 to 300 characters on one line".into());
                    }
                    Template::parse_text(subject)?;
                    Template::parse_text(body)?;
                }
                Action::AskLlm { mode, fields } => {
                    if !llm_configured {
                        return bad("actions.ask_llm: the operator has not configured a language model ([llm] endpoint)".into());
                    }
                    if self.trigger == Trigger::Added {
                        return bad("actions.ask_llm: a document just added has no text yet (use the processed trigger)".into());
                    }
                    *fields = super::llm::LlmAsk::normalized(*mode, fields).fields;
                }
                _ => {}
            }
        }
        Ok(self)
    }

    /// Every id it names (for the store to check ownership).
    pub fn refs(&self) -> Refs {
        let mut r = Refs::default();
        let f = &self.filters;
        r.tags.extend(f.tags_any.iter().chain(&f.tags_all).chain(&f.tags_none));
        r.correspondents.extend(f.correspondent_id);
        r.document_types.extend(f.document_type_id);
        r.folders.extend(f.folder_id);
        r.fields.extend(f.fields.iter().map(|x| x.field_id));
        if let Trigger::Scheduled { field_id: Some(id), .. } = &self.trigger {
            r.fields.push(*id);
        }
        for a in &self.actions {
            match a {
                Action::AddTags { tag_ids } | Action::RemoveTags { tag_ids } => r.tags.extend(tag_ids),
                Action::SetCorrespondent { correspondent_id: Some(id) } => r.correspondents.push(*id),
                Action::SetDocumentType { document_type_id: Some(id) } => r.document_types.push(*id),
                Action::MoveToFolder { folder_id } => r.folders.push(*folder_id),
                Action::SetPathTemplate { path_template_id: Some(id) } => r.path_templates.push(*id),
                Action::SetField { field_id, .. } => r.fields.push(*field_id),
                _ => {}
            }
        }
        for v in [&mut r.tags, &mut r.correspondents, &mut r.document_types, &mut r.folders, &mut r.path_templates, &mut r.fields] {
            v.sort_unstable();
            v.dedup();
        }
        r
    }
}

fn check_url(url: &str) -> DomainResult<()> {
    let bad = || DomainError::Invalid(format!("actions.webhook: {url:?} is not an http:// or https:// address"));
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(())
}

fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && a.len() <= 254
        && !a.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    (24..=64).contains(&b.len()).then_some(b)
}

/// The Standard Webhooks signature header value: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's key.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = secret_bytes(secret)?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// A glob over a file name: `*` any run, `?` one character; without regard to case.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let g: Vec<char> = glob.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Linear-time matching with one backtrack point (the last `*`).
    let (mut gi, mut ni, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// What the store knows about a document when a workflow looks at it.
#[derive(Clone, Debug)]
pub struct Facts {
    pub doc: Document,
    /// Its current version's text (up to [`super::matching::MAX_TEXT_CHARS`]); empty before processing.
    pub text: String,
    pub source: Option<Source>,
    /// The folder and its ancestors, up to Home.
    pub folder_path: Vec<Id>,
    /// The owner's field definitions (for text rendering).
    pub fields: Vec<FieldDef>,
}

/// One filter's verdict, for the dry run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub filter: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Every filter's verdict, in order. The workflow applies when all passed.
pub fn check(f: &Filters, facts: &Facts) -> Vec<Check> {
    let d = &facts.doc;
    let mut out = Vec::new();
    let mut push = |filter: &'static str, passed: bool, detail: String| out.push(Check { filter, passed, detail });
    if let Some(g) = &f.filename {
        push("filename", glob_matches(g, &d.version.filename), format!("{:?} against {g:?}", d.version.filename));
    }
    if !f.sources.is_empty() {
        let ok = facts.source.is_some_and(|s| f.sources.contains(&s));
        push("sources", ok, format!("came in by {}", facts.source.map(Source::as_str).unwrap_or("an import")));
    }
    let has = |t: &Id| d.tags.iter().any(|x| x.id == *t);
    if !f.tags_any.is_empty() {
        push("tags_any", f.tags_any.iter().any(has), "has one of the tags".into());
    }
    if !f.tags_all.is_empty() {
        push("tags_all", f.tags_all.iter().all(has), "has all of the tags".into());
    }
    if !f.tags_none.is_empty() {
        push("tags_none", !f.tags_none.iter().any(has), "has none of the tags".into());
    }
    if let Some(c) = f.correspondent_id {
        push("correspondent_id", d.meta.correspondent.as_ref().is_some_and(|l| l.id == c), "has the correspondent".into());
    }
    if let Some(t) = f.document_type_id {
        push("document_type_id", d.meta.document_type.as_ref().is_some_and(|l| l.id == t), "has the document type".into());
    }
    if let Some(folder) = f.folder_id {
        push("folder_id", facts.folder_path.contains(&folder), "is in the folder or below it".into());
    }
    if let Some(t) = &f.text_contains {
        let needle = t.to_lowercase();
        let ok = facts.text.to_lowercase().contains(&needle) || d.title.to_lowercase().contains(&needle);
        let detail = if facts.text.is_empty() { "no text yet".to_string() } else { format!("text contains {t:?}") };
        push("text_contains", ok, detail);
    }
    for ff in &f.fields {
        let v = d.meta.fields.iter().find(|x| x.field_id == ff.field_id).map(|x| &x.value).filter(|v| !v.is_null());
        let as_text = |v: &Value| match v {
            Value::String(s) => s.to_lowercase(),
            Value::Object(o) => o.get("amount").and_then(Value::as_str).unwrap_or("").to_lowercase(),
            other => other.to_string().to_lowercase(),
        };
        let ok = match ff.op {
            FieldOp::Set => v.is_some(),
            FieldOp::Unset => v.is_none(),
            FieldOp::Equals => match (v, &ff.value) {
                (Some(v), Some(want)) => v == want || as_text(v) == as_text(want),
                _ => false,
            },
            FieldOp::Contains => match (v, &ff.value) {
                (Some(v), Some(want)) => as_text(v).contains(&as_text(want)),
                _ => false,
            },
        };
        push("fields", ok, format!("field {} {:?}", ff.field_id, ff.op).to_lowercase());
    }
    out
}

/// What applying a workflow's actions to a document does, in order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub patch: DocumentPatch,
    pub add_tags: Vec<Id>,
    pub remove_tags: Vec<Id>,
    pub notes: Vec<String>,
    pub deliveries: Vec<Delivery>,
    /// Questions for the language model (each a request and a job of its own).
    pub asks: Vec<super::llm::LlmAsk>,
    pub trash: bool,
    /// One line per action, for the run's record and the dry run.
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: String,
    pub summary: String,
}

/// A webhook or an email to send (a row of its own, sent by the `deliver` job).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `webhook` or `email`.
    pub kind: String,
    /// The URL, or the recipients joined by ", ".
    pub target: String,
    /// What the deliver job needs: for a webhook `{url, secret, body, file}`, for an email
    /// `{to, subject, body, file}` — `file` is the original's sha256, name and type, or null.
    pub request: Value,
}

/// The actions' effect on this document (in order; a later action on the same thing wins).
pub fn plan(w: &Workflow, trigger_kind: &str, facts: &Facts, now: Millis) -> Plan {
    let mut p = Plan::default();
    let d = &facts.doc;
    let subject = Subject { doc: d, fields: &facts.fields };
    let step = |p: &mut Plan, a: &Action, summary: String| p.steps.push(Step { action: a.kind().to_string(), summary });
    for a in &w.spec.actions {
        match a {
            Action::AddTags { tag_ids } => {
                p.remove_tags.retain(|t| !tag_ids.contains(t));
                for t in tag_ids {
                    if !p.add_tags.contains(t) {
                        p.add_tags.push(*t);
                    }
                }
                step(&mut p, a, format!("add tags {tag_ids:?}"));
            }
            Action::RemoveTags { tag_ids } => {
                p.add_tags.retain(|t| !tag_ids.contains(t));
                for t in tag_ids {
                    if !p.remove_tags.contains(t) {
                        p.remove_tags.push(*t);
                    }
                }
                step(&mut p, a, format!("remove tags {tag_ids:?}"));
            }
            Action::SetCorrespondent { correspondent_id } => {
                p.patch.correspondent_id = Some(*correspondent_id);
                step(&mut p, a, format!("correspondent {}", opt_id(*correspondent_id)));
            }
            Action::SetDocumentType { document_type_id } => {
                p.patch.document_type_id = Some(*document_type_id);
                step(&mut p, a, format!("document type {}", opt_id(*document_type_id)));
            }
            Action::SetTitle { title } => {
                let t = Template::parse_text(title).map(|t| t.text(&subject, "")).unwrap_or_else(|_| title.clone());
                let t: String = t.trim().chars().take(300).collect();
                step(&mut p, a, format!("title {t:?}"));
                if !t.is_empty() {
                    p.patch.title = Some(t);
                }
            }
            Action::MoveToFolder { folder_id } => {
                p.patch.folder_id = Some(*folder_id);
                step(&mut p, a, format!("move to folder {folder_id}"));
            }
            Action::SetPathTemplate { path_template_id } => {
                p.patch.path_template_id = Some(*path_template_id);
                step(&mut p, a, format!("path template {}", opt_id(*path_template_id)));
            }
            Action::SetField { field_id, value } => {
                if value.is_null() {
                    p.patch.fields.retain(|(f, _)| f != field_id);
                    p.patch.remove_fields.push(*field_id);
                    step(&mut p, a, format!("remove field {field_id}"));
                } else {
                    p.patch.remove_fields.retain(|f| f != field_id);
                    p.patch.fields.retain(|(f, _)| f != field_id);
                    p.patch.fields.push((*field_id, value.clone()));
                    step(&mut p, a, format!("field {field_id} = {value}"));
                }
            }
            Action::AddNote { body } => {
                let text = Template::parse_text(body).map(|t| t.text(&subject, "")).unwrap_or_else(|_| body.clone());
                step(&mut p, a, format!("note {:?}", text.chars().take(80).collect::<String>()));
                p.notes.push(text);
            }
            Action::Webhook { url, secret, include_file } => {
                let body = payload(w, trigger_kind, facts, now);
                let file = include_file.then(|| file_ref(d));
                p.deliveries.push(Delivery {
                    kind: "webhook".into(),
                    target: url.clone(),
                    request: json!({"url": url, "secret": secret, "body": body, "file": file}),
                });
                step(&mut p, a, format!("POST to {url}{}", if *include_file { " with the file" } else { "" }));
            }
            Action::Email { to, subject: subj, body, attach_file } => {
                let render = |s: &str| Template::parse_text(s).map(|t| t.text(&subject, "")).unwrap_or_else(|_| s.to_string());
                let (s, b) = (render(subj).replace(['\r', '\n'], " "), render(body));
                let file = attach_file.then(|| file_ref(d));
                p.deliveries.push(Delivery {
                    kind: "email".into(),
                    target: to.join(", "),
                    request: json!({"to": to, "subject": s, "body": b, "file": file}),
                });
                step(&mut p, a, format!("email {:?} to {}", s, to.join(", ")));
            }
            Action::Trash => {
                p.trash = true;
                step(&mut p, a, "move to the trash".into());
            }
            Action::AskLlm { mode, fields } => {
                let ask = super::llm::LlmAsk::normalized(*mode, fields);
                let names: Vec<&str> = ask.fields.iter().map(|f| f.key()).collect();
                let what = if ask.mode == super::llm::Mode::Apply { "and apply" } else { "to suggest" };
                step(&mut p, a, format!("ask the language model {what}: {}", names.join(", ")));
                p.asks.push(ask);
            }
        }
    }
    p
}

fn opt_id(id: Option<Id>) -> String {
    id.map(|i| i.to_string()).unwrap_or_else(|| "none".into())
}

fn file_ref(d: &Document) -> Value {
    json!({"sha256": d.version.sha256, "name": d.version.filename, "mime": d.version.mime, "size": d.version.size})
}

/// The webhook's JSON (Standard Webhooks envelope: `type`, `timestamp`, `data`).
pub fn payload(w: &Workflow, trigger_kind: &str, facts: &Facts, now: Millis) -> Value {
    let d = &facts.doc;
    let label = |l: &Option<super::metadata::LabelRef>| l.as_ref().map(|l| json!({"id": l.id, "name": l.name}));
    let fields: Vec<Value> =
        d.meta.fields.iter().map(|f| json!({"field_id": f.field_id, "name": f.name, "kind": f.kind, "value": f.value})).collect();
    let ts = chrono::DateTime::from_timestamp_millis(now).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let added = chrono::DateTime::from_timestamp_millis(d.created_at).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    json!({
        "type": format!("document.{trigger_kind}"),
        "timestamp": ts,
        "data": {
            "workflow": {"id": w.id, "name": w.spec.name},
            "trigger": trigger_kind,
            "document": {
                "id": d.id,
                "title": d.title,
                "state": d.state,
                "filename": d.version.filename,
                "mime": d.version.mime,
                "size": d.version.size,
                "sha256": d.version.sha256,
                "pages": d.version.page_count,
                "added": added,
                "created": d.meta.date.map(|x: NaiveDate| x.to_string()),
                "asn": d.meta.asn,
                "correspondent": label(&d.meta.correspondent),
                "document_type": label(&d.meta.document_type),
                "tags": d.tags.iter().map(|t| json!({"id": t.id, "name": t.name})).collect::<Vec<_>>(),
                "folder_id": d.folder_id,
                "custom_fields": fields,
                "source": facts.source.map(Source::as_str),
                "download": format!("/api/v1/documents/{}/download", d.id),
            }
        }
    })
}

/// The arguments of the `run_workflows` job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunArgs {
    pub owner_id: Id,
    pub document_id: Id,
    /// `added`, `processed`, `updated` or `scheduled`.
    pub trigger: String,
    /// A scheduled run names its workflow; the others run every enabled workflow of the trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<Id>,
}

/// The arguments of the `deliver` job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverArgs {
    pub delivery_id: Id,
}

/// A recorded run: which workflow, on which document, what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    pub id: Id,
    pub workflow_id: Option<Id>,
    pub workflow_name: String,
    pub document_id: Option<Id>,
    pub trigger: String,
    /// `applied`, `skipped` (a scheduled run whose filters did not hold) or `failed`.
    pub outcome: String,
    pub steps: Vec<Step>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub deliveries: Vec<DeliveryView>,
}

/// A webhook or email and how its sending went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: Id,
    pub run_id: Id,
    pub kind: String,
    pub target: String,
    /// The idempotency key: the `webhook-id` header (the same on every attempt), or the email's Message-ID.
    pub message_id: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    /// The receiver's HTTP status of the last attempt (webhooks).
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub created_at: Millis,
}

/// A delivery as the deliver job needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingDelivery {
    pub view: DeliveryView,
    pub owner_id: Id,
    pub request: Value,
}

/// How one delivery attempt ended, for [`super::store::WorkflowStore::record_attempt`].
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    Delivered {
        status: Option<i32>,
    },
    /// Worth another try at `retry_at` (None: out of tries, the delivery failed).
    Failed {
        status: Option<i32>,
        error: String,
        retry_at: Option<Millis>,
    },
}

/// When the next attempt goes, after `attempts` failed ones: `schedule` (seconds) per attempt;
/// None when the schedule is used up.
pub fn next_attempt(schedule: &[u64], attempts: i32, now: Millis) -> Option<Millis> {
    let i = usize::try_from(attempts.max(1) - 1).ok()?;
    schedule.get(i).map(|s| now + (*s as i64) * 1000)
}

/// The dry run of one workflow on one document.
#[derive(Clone, Debug, Serialize)]
pub struct DryRun {
    pub workflow_id: Id,
    pub workflow_name: String,
    pub trigger: String,
    pub enabled: bool,
    pub would_run: bool,
    pub checks: Vec<Check>,
    pub steps: Vec<Step>,
    /// The webhook bodies and emails it would send.
    pub deliveries: Vec<Value>,
}

pub fn dry_run(w: &Workflow, facts: &Facts, now: Millis) -> DryRun {
    let checks = check(&w.spec.filters, facts);
    let would_run = checks.iter().all(|c| c.passed);
    let p = plan(w, w.spec.trigger.kind(), facts, now);
    let deliveries = p
        .deliveries
        .iter()
        .map(|d| {
            let mut r = d.request.clone();
            if let Value::Object(m) = &mut r {
                m.remove("secret");
            }
            json!({"kind": d.kind, "target": d.target, "request": r})
        })
        .collect();
    DryRun {
        workflow_id: w.id,
        workflow_name: w.spec.name.clone(),
        trigger: w.spec.trigger.kind().to_string(),
        enabled: w.spec.enabled,
        would_run,
        checks,
        steps: p.steps,
        deliveries,
    }
}

/// The day a scheduled workflow is due for a document (None: the date is missing).
pub fn due_day(trigger: &Trigger, facts: &Facts) -> Option<NaiveDate> {
    let Trigger::Scheduled { base, field_id, offset_days } = trigger else { return None };
    let d = &facts.doc;
    let day = match base {
        DateBase::Created => d.meta.date?,
        DateBase::Added => chrono::DateTime::from_timestamp_millis(d.created_at)?.date_naive(),
        DateBase::Field => {
            let v = d.meta.fields.iter().find(|f| Some(f.field_id) == *field_id)?;
            super::metadata::parse_date(v.value.as_str()?)?
        }
    };
    day.checked_add_signed(chrono::Duration::days(*offset_days as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_without_regard_to_case() {
        assert!(glob_matches("*.pdf", "Invoice-2024.PDF"));
        assert!(glob_matches("invoice-*-??.pdf", "INVOICE-acme-07.pdf"));
        assert!(!glob_matches("invoice-*-??.pdf", "invoice-acme-7.pdf"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("*.png", "scan.pdf"));
        // Linear time on a pattern that makes naive backtracking explode.
        let name = "a".repeat(5000);
        assert!(!glob_matches(&format!("{}b", "*a".repeat(50)), &name));
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret_bytes(&new_secret()).is_some());
        assert!(secret_bytes("whsec_short").is_none());
    }

    #[test]
    fn specs_are_checked() {
        let spec = |v: Value| serde_json::from_value::<WorkflowSpec>(v).unwrap();
        let ok = spec(
            json!({"name": " Bills ", "trigger": {"type": "processed"}, "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/x"}]}),
        )
        .validate(false, false)
        .unwrap();
        assert_eq!(ok.name, "Bills");
        let Action::Webhook { secret, .. } = &ok.actions[0] else { panic!() };
        assert!(secret.starts_with("whsec_"), "a secret is made");
        let err = |v: Value, email: bool| spec(v).validate(email, false).unwrap_err().to_string();
        assert!(err(json!({"name": "x", "trigger": {"type": "added"}, "actions": []}), true).contains("actions"));
        assert!(
            err(json!({"name": "x", "trigger": {"type": "added"}, "actions": [{"type": "webhook", "url": "ftp://x"}]}), true)
                .contains("http")
        );
        assert!(
            err(
                json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "email", "to": ["a@b.c"], "subject": "s", "body": "b"}]}),
                false
            )
            .contains("SMTP")
        );
        assert!(
            err(
                json!({"name": "x", "trigger": {"type": "added"}, "filters": {"text_contains": "x"}, "actions": [{"type": "trash"}]}),
                true
            )
            .contains("no text yet")
        );
        assert!(
            err(json!({"name": "x", "trigger": {"type": "scheduled", "base": "field"}, "actions": [{"type": "trash"}]}), true)
                .contains("field_id")
        );
        assert!(
            err(
                json!({"name": "x", "trigger": {"type": "processed"}, "actions": [{"type": "email", "to": ["nobody"], "subject": "s", "body": "b"}]}),
                true
            )
            .contains("not an email")
        );
    }

    #[test]
    fn retries_follow_the_schedule() {
        assert_eq!(next_attempt(&[10, 60], 1, 1000), Some(11_000));
        assert_eq!(next_attempt(&[10, 60], 2, 1000), Some(61_000));
        assert_eq!(next_attempt(&[10, 60], 3, 1000), None);
    }
}
