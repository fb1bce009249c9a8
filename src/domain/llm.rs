//! Suggestions from a language model (#23, optional): a document's text goes to an
//! OpenAI-compatible chat endpoint the operator configured, with the owner's vocabulary
//! (correspondents, document types, tags, custom fields), and the answer — one JSON object — is
//! checked against that vocabulary and each field's type before anything is offered or applied.
//! What is sent is built here, purely, so the operator can see it (`docmerge llm-prompt`,
//! `GET /api/v1/llm`) and every request keeps the exact messages it sent.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Id;
use super::metadata::{DocumentPatch, FieldDef, FieldKind, validate_value};

/// Below webhooks and email (5): an answer a little late costs nothing.
pub const PRIORITY: i32 = 4;
/// At most this many tags are taken from one answer (the rest are dropped, with the reason).
pub const MAX_TAGS: usize = 5;
/// Why a pending request whose job is gone (failed for good: a worker killed again and
/// again) is failed when the document is asked about again.
pub const STOPPED: &str = "its job stopped before the model answered (see the worker's log)";
/// The longest `llm.timeout_secs` (a request's job must outlast it).
pub const MAX_TIMEOUT_SECS: u64 = 1800;
/// A suggested title is cut to this many characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Names of one kind listed in the prompt (the most used first, when an owner has more).
pub const MAX_NAMES: usize = 300;
/// The prompt needs at least this many characters of the document to be worth sending.
const MIN_TEXT_CHARS: usize = 200;

/// The instructions sent first (the system message), unless the operator gives their own
/// (`llm.instructions_file`). The vocabulary and the document follow in the user message.
pub const DEFAULT_INSTRUCTIONS: &str =
    "You file documents in a personal document archive. Read the document and answer with one JSON object, nothing else.
- title: a short title for the document (at most 8 words), in the document's language, without the date.
- correspondent: who sent or issued the document: one of the listed correspondents, or null when none of them is.
- document_type: one of the listed document types, or null.
- date: the date the document was written or issued, as YYYY-MM-DD, or null.
- tags: the listed tags that clearly fit the document (at most 3; none is fine).
- custom_fields: for each listed field, its value in the document, or null when the document does not say.
Answer only the keys you are asked for. Never invent a name that is not listed.";

/// What can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    Title,
    Correspondent,
    DocumentType,
    Date,
    Tags,
    CustomFields,
}

impl Ask {
    pub const ALL: [Ask; 6] = [Ask::Title, Ask::Correspondent, Ask::DocumentType, Ask::Date, Ask::Tags, Ask::CustomFields];
    pub fn key(self) -> &'static str {
        match self {
            Ask::Title => "title",
            Ask::Correspondent => "correspondent",
            Ask::DocumentType => "document_type",
            Ask::Date => "date",
            Ask::Tags => "tags",
            Ask::CustomFields => "custom_fields",
        }
    }
}

/// What happens to a validated answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Offered on the document's page, each accepted with one click.
    #[default]
    Suggest,
    /// Set on the document (tags added, never removed); recorded in its history.
    Apply,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Suggest => "suggest",
            Mode::Apply => "apply",
        }
    }
}

/// One question to the model about one document: from a workflow's action or a user's click.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmAsk {
    pub mode: Mode,
    pub fields: Vec<Ask>,
}

impl LlmAsk {
    /// No field named: all of them; each once, in the usual order.
    pub fn normalized(mode: Mode, fields: &[Ask]) -> LlmAsk {
        let fields = if fields.is_empty() { Ask::ALL.to_vec() } else { Ask::ALL.into_iter().filter(|a| fields.contains(a)).collect() };
        LlmAsk { mode, fields }
    }
}

/// How the request asks for JSON (`llm.json_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonMode {
    /// `response_format: {type: json_schema}` with the vocabulary as enums: servers that
    /// constrain their output (llama.cpp, vLLM, Ollama, OpenAI) can only answer listed names.
    Schema,
    /// `response_format: {type: json_object}`.
    Object,
    /// Nothing but the instructions.
    Prompt,
}

impl JsonMode {
    pub fn parse(s: &str) -> Option<JsonMode> {
        Some(match s {
            "json_schema" => JsonMode::Schema,
            "json_object" => JsonMode::Object,
            "none" => JsonMode::Prompt,
            _ => return None,
        })
    }
}

/// What the owner has to choose from.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    pub correspondents: Vec<(Id, String)>,
    pub document_types: Vec<(Id, String)>,
    pub tags: Vec<(Id, String)>,
    /// Fields a model can fill (document links are left out: it cannot know ids).
    pub fields: Vec<FieldDef>,
}

impl Vocabulary {
    /// Keeps at most [`MAX_NAMES`] of each kind (callers give them most used first) and drops
    /// fields a model cannot fill.
    pub fn bounded(mut self) -> Vocabulary {
        self.correspondents.truncate(MAX_NAMES);
        self.document_types.truncate(MAX_NAMES);
        self.tags.truncate(MAX_NAMES);
        self.fields.retain(|f| f.kind != FieldKind::DocumentLink);
        self.fields.truncate(MAX_NAMES);
        self
    }
}

/// The request settings that shape what is sent.
#[derive(Clone, Debug)]
pub struct PromptSettings<'a> {
    pub instructions: &'a str,
    pub model: &'a str,
    pub max_input_tokens: usize,
    pub max_output_tokens: usize,
    pub json_mode: JsonMode,
    pub temperature: f32,
}

/// A request ready to go: the JSON body of `POST …/chat/completions`.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub body: Value,
    /// The document's text was cut to fit the budget.
    pub truncated: bool,
    /// Tokens the prompt is estimated at.
    pub estimated_tokens: usize,
}

/// When today (UTC) began, in millis: the daily token budget counts from here.
pub fn budget_day_start() -> i64 {
    chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0)
}

/// A cautious token estimate: a token per three ASCII characters, one per other character
/// (most tokenizers do better on both; a budget should not be overrun).
pub fn estimate_tokens(s: &str) -> usize {
    let (ascii, other) = s.chars().fold((0usize, 0usize), |(a, o), c| if c.is_ascii() { (a + 1, o) } else { (a, o + 1) });
    ascii.div_ceil(3) + other
}

/// The longest prefix of `s` estimated at no more than `tokens`.
fn cut_to_tokens(s: &str, tokens: usize) -> &str {
    let (mut budget3, mut end) = (tokens * 3, 0);
    for (i, c) in s.char_indices() {
        let cost = if c.is_ascii() { 1 } else { 3 };
        if cost > budget3 {
            return &s[..end];
        }
        budget3 -= cost;
        end = i + c.len_utf8();
    }
    s
}

fn names(list: &[(Id, String)]) -> Value {
    Value::Array(list.iter().map(|(_, n)| json!(n)).collect())
}

/// How a field is described to the model.
fn field_hint(f: &FieldDef) -> String {
    match f.kind {
        FieldKind::Text => "text (one line)".into(),
        FieldKind::LongText => "text".into(),
        FieldKind::Integer => "whole number".into(),
        FieldKind::Number => "number".into(),
        FieldKind::Monetary => match &f.currency {
            Some(c) => format!("amount in {c}, as a number"),
            None => "amount with its currency code, like \"EUR 12.30\"".into(),
        },
        FieldKind::Date => "date YYYY-MM-DD".into(),
        FieldKind::Boolean => "true or false".into(),
        FieldKind::Url => "web address".into(),
        FieldKind::Select => format!("one of {}", Value::Array(f.options.iter().map(|o| json!(o.label)).collect())),
        FieldKind::DocumentLink => "document ids".into(),
    }
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn field_schema(f: &FieldDef) -> Value {
    let date = json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"});
    nullable(match f.kind {
        FieldKind::Text | FieldKind::LongText | FieldKind::Url | FieldKind::DocumentLink => json!({"type": "string"}),
        FieldKind::Integer => json!({"type": "integer"}),
        FieldKind::Number => json!({"type": "number"}),
        FieldKind::Monetary if f.currency.is_some() => json!({"type": "number"}),
        FieldKind::Monetary => json!({"type": "string"}),
        FieldKind::Date => date,
        FieldKind::Boolean => json!({"type": "boolean"}),
        FieldKind::Select => json!({"type": "string", "enum": f.options.iter().map(|o| o.label.clone()).collect::<Vec<_>>()}),
    })
}

/// The fields actually asked: a name list that is empty has nothing to choose from.
pub fn effective(vocab: &Vocabulary, asked: &[Ask]) -> Vec<Ask> {
    asked
        .iter()
        .copied()
        .filter(|a| match a {
            Ask::Correspondent => !vocab.correspondents.is_empty(),
            Ask::DocumentType => !vocab.document_types.is_empty(),
            Ask::Tags => !vocab.tags.is_empty(),
            Ask::CustomFields => !vocab.fields.is_empty(),
            Ask::Title | Ask::Date => true,
        })
        .collect()
}

/// The JSON schema the answer must follow (every key required, nothing else allowed; the
/// names as enums).
pub fn schema(vocab: &Vocabulary, asked: &[Ask]) -> Value {
    let mut props = Map::new();
    for a in effective(vocab, asked) {
        let s = match a {
            Ask::Title => json!({"type": ["string", "null"]}),
            Ask::Correspondent => nullable(json!({"type": "string", "enum": names(&vocab.correspondents)})),
            Ask::DocumentType => nullable(json!({"type": "string", "enum": names(&vocab.document_types)})),
            Ask::Date => nullable(json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})),
            Ask::Tags => json!({"type": "array", "items": {"type": "string", "enum": names(&vocab.tags)}, "maxItems": MAX_TAGS}),
            Ask::CustomFields => {
                let fields: Map<String, Value> = vocab.fields.iter().map(|f| (f.name.clone(), field_schema(f))).collect();
                let required: Vec<&String> = fields.keys().collect();
                json!({"type": "object", "properties": fields, "required": required, "additionalProperties": false})
            }
        };
        props.insert(a.key().into(), s);
    }
    let required: Vec<&String> = props.keys().collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The user message's part before the document: what to answer and from which names.
fn vocabulary_text(vocab: &Vocabulary, asked: &[Ask]) -> String {
    let asked = effective(vocab, asked);
    let keys: Vec<&str> = asked.iter().map(|a| a.key()).collect();
    let mut s = format!("Answer these keys: {}\n", keys.join(", "));
    for a in &asked {
        match a {
            Ask::Correspondent => s.push_str(&format!("Correspondents: {}\n", names(&vocab.correspondents))),
            Ask::DocumentType => s.push_str(&format!("Document types: {}\n", names(&vocab.document_types))),
            Ask::Tags => s.push_str(&format!("Tags: {}\n", names(&vocab.tags))),
            Ask::CustomFields => {
                let fields: Map<String, Value> = vocab.fields.iter().map(|f| (f.name.clone(), json!(field_hint(f)))).collect();
                s.push_str(&format!("Custom fields: {}\n", Value::Object(fields)));
            }
            Ask::Title | Ask::Date => {}
        }
    }
    s
}

/// The request for one document: instructions, vocabulary, then as much of the text (from its
/// start) as the token budget leaves room for.
pub fn prepare(s: &PromptSettings<'_>, vocab: &Vocabulary, asked: &[Ask], filename: &str, text: &str) -> Result<Prepared, String> {
    if effective(vocab, asked).is_empty() {
        return Err("nothing to ask: the fields asked for have no names to choose from".into());
    }
    let head = format!("{}\nFile name: {}\nDocument text:\n\"\"\"\n", vocabulary_text(vocab, asked), filename.replace(['\n', '\r'], " "));
    let tail = "\n\"\"\"";
    // Per message, chat templates add a few tokens of their own.
    let fixed = estimate_tokens(s.instructions) + estimate_tokens(&head) + estimate_tokens(tail) + 16;
    let room = s.max_input_tokens.saturating_sub(fixed);
    let text = text.trim();
    let sent = cut_to_tokens(text, room);
    if sent.chars().count() < MIN_TEXT_CHARS.min(text.chars().count()) {
        return Err(format!(
            "the instructions and the vocabulary alone take about {fixed} of the {} tokens llm.max_input_tokens allows: raise it",
            s.max_input_tokens
        ));
    }
    let truncated = sent.len() < text.len();
    let user = format!("{head}{sent}{}{tail}", if truncated { "\n[…]" } else { "" });
    let mut body = json!({
        "model": s.model,
        "messages": [
            {"role": "system", "content": s.instructions},
            {"role": "user", "content": user},
        ],
        "temperature": s.temperature,
        "max_tokens": s.max_output_tokens,
        "stream": false,
    });
    match s.json_mode {
        JsonMode::Schema => {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": "document", "strict": true, "schema": schema(vocab, asked)}});
        }
        JsonMode::Object => body["response_format"] = json!({"type": "json_object"}),
        JsonMode::Prompt => {}
    }
    let estimated_tokens = fixed + estimate_tokens(sent);
    Ok(Prepared { body, truncated, estimated_tokens })
}

/// What a request looks like with these settings, for a made-up document and vocabulary
/// (`docmerge llm-prompt`).
pub fn example(s: &PromptSettings<'_>) -> Result<Prepared, String> {
    let vocab = Vocabulary {
        correspondents: vec![(1, "City Utilities".into()), (2, "Dr. Jane Doe".into())],
        document_types: vec![(3, "Invoice".into()), (4, "Letter".into())],
        tags: vec![(5, "electricity".into()), (6, "health".into())],
        fields: vec![FieldDef {
            id: 7,
            owner_id: 0,
            name: "Amount".into(),
            kind: FieldKind::Monetary,
            currency: Some("EUR".into()),
            options: vec![],
            created_at: 0,
            document_count: 0,
        }],
    };
    let text = "City Utilities · 12 Harbour Street\nInvoice 2026-0412, 14 March 2026\nElectricity, February 2026: 312 kWh\nTotal EUR 112.34, due 31 March 2026";
    prepare(s, &vocab, &Ask::ALL, "scan_0042.pdf", text)
}

/// Tokens a request used, as the server counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The answer's text and usage from a chat-completions response body.
pub fn answer_of(resp: &Value) -> Result<(String, Usage, Option<String>), String> {
    let choice = resp.get("choices").and_then(|c| c.get(0)).ok_or("the answer has no choices")?;
    let content = choice.pointer("/message/content").and_then(Value::as_str).ok_or("the answer has no message content")?;
    let n = |k: &str| resp.pointer(&format!("/usage/{k}")).and_then(Value::as_i64).unwrap_or(0).max(0);
    let usage = Usage { prompt_tokens: n("prompt_tokens"), completion_tokens: n("completion_tokens") };
    let finish = choice.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    Ok((content.to_string(), usage, finish))
}

/// The JSON object in an answer: the whole text, or the outermost `{…}` in it (models like
/// to wrap it in a code fence or a sentence).
pub fn parse_answer(content: &str) -> Result<Map<String, Value>, String> {
    let t = content.trim();
    let candidates = [Some(t), t.find('{').and_then(|a| t.rfind('}').filter(|b| *b > a).map(|b| &t[a..=b]))];
    for c in candidates.into_iter().flatten() {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(c) {
            return Ok(m);
        }
    }
    let shown: String = t.chars().take(120).collect();
    Err(format!("the answer is not a JSON object: {shown:?}"))
}

/// One checked suggestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// `title`, `correspondent`, `document_type`, `date`, `tag` or `custom_field`.
    pub kind: String,
    /// The correspondent, type, tag or field it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<Id>,
    /// What to show: the name, the title, the date, the field's name.
    pub name: String,
    /// The value to set: the title, the date, the field's value (canonical); for a label its id.
    pub value: Value,
    /// A field's value as shown (a select option's label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Suggestion {
    /// The table of the correspondent, type, tag or field it names (None: a title or a date).
    pub fn table(&self) -> Option<&'static str> {
        Some(match self.kind.as_str() {
            "correspondent" => "correspondents",
            "document_type" => "document_types",
            "tag" => "tags",
            "custom_field" => "custom_fields",
            _ => return None,
        })
    }
}

/// Part of an answer that was not taken, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub key: String,
    pub value: Value,
    pub reason: String,
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A name from the list: the same (ignoring case and spacing), or — when exactly one listed
/// name of at least four characters stands in the answer as whole words ("Stadtwerke GmbH" for
/// "Stadtwerke") — that one.
fn find_name(list: &[(Id, String)], answer: &str) -> Option<(Id, String)> {
    let a = norm(answer);
    if a.is_empty() {
        return None;
    }
    if let Some(hit) = list.iter().find(|(_, n)| norm(n) == a) {
        return Some(hit.clone());
    }
    let padded = format!(" {} ", a.replace(|c: char| !c.is_alphanumeric(), " "));
    let padded = norm(&padded);
    let padded = format!(" {padded} ");
    let mut within = list.iter().filter(|(_, n)| {
        let n = norm(&n.replace(|c: char| !c.is_alphanumeric(), " "));
        n.chars().count() >= 4 && padded.contains(&format!(" {n} "))
    });
    match (within.next(), within.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Checks an answer against the schema and the vocabulary: what survives is a list of
/// suggestions, what does not is listed with the reason. A key not asked for is ignored;
/// `today` bounds the document's date (not after tomorrow, not before 1900).
pub fn validate(answer: &Map<String, Value>, vocab: &Vocabulary, asked: &[Ask], today: NaiveDate) -> (Vec<Suggestion>, Vec<Dropped>) {
    let (mut out, mut dropped) = (Vec::new(), Vec::new());
    let mut drop = |key: &str, value: &Value, reason: String| {
        let value = match value {
            Value::String(s) if s.chars().count() > 200 => json!(s.chars().take(200).collect::<String>() + "…"),
            v => v.clone(),
        };
        dropped.push(Dropped { key: key.into(), value, reason });
    };
    for a in effective(vocab, asked) {
        let key = a.key();
        let Some(v) = answer.get(key) else { continue };
        if v.is_null() {
            continue;
        }
        match a {
            Ask::Title => match v.as_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")) {
                Some(t) if !t.is_empty() => {
                    let t: String = t.chars().filter(|c| !c.is_control()).take(MAX_TITLE_CHARS).collect();
                    out.push(Suggestion { kind: "title".into(), target_id: None, name: t.clone(), value: json!(t), display: None });
                }
                Some(_) => {}
                None => drop(key, v, "a title is text".into()),
            },
            Ask::Correspondent | Ask::DocumentType => {
                let (list, what) = if a == Ask::Correspondent {
                    (&vocab.correspondents, "correspondents")
                } else {
                    (&vocab.document_types, "document types")
                };
                match v.as_str().map(|s| (s, find_name(list, s))) {
                    Some((_, Some((id, name)))) => {
                        out.push(Suggestion { kind: key.into(), target_id: Some(id), name, value: json!(id), display: None })
                    }
                    Some((s, None)) if s.trim().is_empty() => {}
                    Some(_) => drop(key, v, format!("not one of your {what}")),
                    None => drop(key, v, "expected a name".into()),
                }
            }
            Ask::Date => {
                let lo = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
                let hi = today.succ_opt().unwrap_or(today);
                match v.as_str().map(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")) {
                    Some(Ok(d)) if d >= lo && d <= hi => {
                        let iso = d.format("%Y-%m-%d").to_string();
                        out.push(Suggestion { kind: "date".into(), target_id: None, name: iso.clone(), value: json!(iso), display: None })
                    }
                    Some(Ok(_)) => drop(key, v, "a date in the future or before 1900 is not when a document was written".into()),
                    _ => drop(key, v, "not a date like 2025-12-31".into()),
                }
            }
            Ask::Tags => {
                let items: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    Value::String(_) => vec![v],
                    _ => {
                        drop(key, v, "expected a list of tag names".into());
                        continue;
                    }
                };
                let mut taken: Vec<Id> = Vec::new();
                for t in items {
                    match t.as_str().map(|s| find_name(&vocab.tags, s)) {
                        Some(Some((id, _))) if taken.contains(&id) => {}
                        Some(Some(_)) if taken.len() >= MAX_TAGS => drop("tags", t, format!("more than {MAX_TAGS} tags")),
                        Some(Some((id, name))) => {
                            taken.push(id);
                            out.push(Suggestion { kind: "tag".into(), target_id: Some(id), name, value: json!(id), display: None });
                        }
                        Some(None) => drop("tags", t, "not one of your tags".into()),
                        None => drop("tags", t, "expected a tag name".into()),
                    }
                }
            }
            Ask::CustomFields => {
                let Value::Object(m) = v else {
                    drop(key, v, "expected an object of field values".into());
                    continue;
                };
                for (name, value) in m {
                    if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
                        continue;
                    }
                    let Some(def) = vocab.fields.iter().find(|f| norm(&f.name) == norm(name)) else {
                        drop(&format!("custom_fields.{name}"), value, "not one of your custom fields".into());
                        continue;
                    };
                    match validate_value(def, value) {
                        Ok(stored) => {
                            let canonical: Value =
                                stored.value.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
                            let display = field_display(def, &canonical);
                            out.push(Suggestion {
                                kind: "custom_field".into(),
                                target_id: Some(def.id),
                                name: def.name.clone(),
                                value: canonical,
                                display: Some(display),
                            });
                        }
                        Err(e) => drop(&format!("custom_fields.{name}"), value, e.to_string()),
                    }
                }
            }
        }
    }
    (out, dropped)
}

/// A field value in words.
fn field_display(def: &FieldDef, v: &Value) -> String {
    match (def.kind, v) {
        (FieldKind::Select, Value::String(id)) => def.options.iter().find(|o| &o.id == id).map(|o| o.label.clone()).unwrap_or(id.clone()),
        (FieldKind::Monetary, Value::Object(m)) => format!(
            "{} {}",
            m.get("currency").and_then(Value::as_str).unwrap_or_default(),
            m.get("amount").and_then(Value::as_str).unwrap_or_default()
        ),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// The edit that applies suggestions (tags are added; nothing is removed).
pub fn patch(items: &[Suggestion]) -> (DocumentPatch, Vec<Id>) {
    let mut p = DocumentPatch::default();
    let mut tags = Vec::new();
    for s in items {
        match (s.kind.as_str(), s.target_id) {
            ("title", _) => p.title = s.value.as_str().map(str::to_string),
            ("correspondent", Some(id)) => p.correspondent_id = Some(Some(id)),
            ("document_type", Some(id)) => p.document_type_id = Some(Some(id)),
            ("date", _) => p.date = Some(s.value.as_str().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())),
            ("tag", Some(id)) => tags.push(id),
            ("custom_field", Some(id)) => p.fields.push((id, s.value.clone())),
            _ => {}
        }
    }
    (p, tags)
}

/// A request's state and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    pub id: Id,
    pub owner_id: Id,
    pub document_id: Id,
    /// `user` (asked on the document's page or by the API) or `workflow`.
    pub origin: String,
    pub workflow_name: Option<String>,
    pub mode: Mode,
    pub fields: Vec<Ask>,
    /// `pending`, `done`, `failed` or `skipped` (the daily token budget was spent).
    pub state: String,
    pub error: Option<String>,
    pub model: Option<String>,
    /// The request body as sent (messages and all), once it was sent.
    pub prompt: Option<Value>,
    /// The model's answer, as it came.
    pub answer: Option<String>,
    pub suggestions: Vec<Suggestion>,
    pub dropped: Vec<Dropped>,
    /// Apply mode: what was set.
    pub applied: Vec<Suggestion>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub attempts: i32,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub dismissed_at: Option<i64>,
}

/// The arguments of the `llm_suggest` job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmArgs {
    pub request_id: Id,
}

/// How a request ended, for [`super::store::LlmStore::finish_llm`].
#[derive(Clone, Debug, PartialEq)]
pub enum LlmOutcome {
    Answered {
        model: String,
        prompt: Value,
        answer: String,
        suggestions: Vec<Suggestion>,
        dropped: Vec<Dropped>,
        usage: Usage,
    },
    Failed {
        prompt: Option<Value>,
        answer: Option<String>,
        error: String,
        usage: Usage,
        /// Worth another try at this time (the server was down or busy).
        retry_at: Option<i64>,
    },
    Skipped {
        error: String,
    },
    /// Not now (this worker is already talking to the model): queued again for `at`, no
    /// attempt counted.
    Later {
        at: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metadata::SelectOption;

    fn vocab() -> Vocabulary {
        let field = |id: Id, name: &str, kind: FieldKind| FieldDef {
            id,
            owner_id: 1,
            name: name.into(),
            kind,
            currency: (kind == FieldKind::Monetary).then(|| "EUR".into()),
            options: if kind == FieldKind::Select {
                vec![SelectOption { id: "o1".into(), label: "Paid".into() }, SelectOption { id: "o2".into(), label: "Open".into() }]
            } else {
                vec![]
            },
            created_at: 0,
            document_count: 0,
        };
        Vocabulary {
            correspondents: vec![(1, "Stadtwerke Musterstadt".into()), (2, "Dr. Anna Weber".into()), (3, "ACME".into())],
            document_types: vec![(10, "Invoice".into()), (11, "Letter".into())],
            tags: vec![(20, "electricity".into()), (21, "home".into()), (22, "tax".into())],
            fields: vec![
                field(30, "Amount", FieldKind::Monetary),
                field(31, "Due date", FieldKind::Date),
                field(32, "Status", FieldKind::Select),
                field(33, "Related", FieldKind::DocumentLink),
            ],
        }
        .bounded()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    #[test]
    fn answers_are_checked_against_the_vocabulary_and_the_types() {
        let answer = parse_answer(
            "Sure! ```json\n{\"title\": \"  Electricity\\n bill February \", \"correspondent\": \"Stadtwerke Musterstadt GmbH\", \
             \"document_type\": \"Receipt\", \"date\": \"2026-04-31\", \"tags\": [\"electricity\", \"garden\", \"electricity\"], \
             \"custom_fields\": {\"Amount\": 112.34, \"Due date\": \"2026-03-31\", \"Status\": \"open\", \"Colour\": \"red\"}, \
             \"password\": \"x\"}\n```",
        )
        .unwrap();
        let (ok, dropped) = validate(&answer, &vocab(), &Ask::ALL, today());
        let got: Vec<(&str, Option<Id>, &Value)> = ok.iter().map(|s| (s.kind.as_str(), s.target_id, &s.value)).collect();
        assert_eq!(
            got,
            vec![
                ("title", None, &json!("Electricity bill February")),
                ("correspondent", Some(1), &json!(1)),
                ("tag", Some(20), &json!(20)),
                ("custom_field", Some(30), &json!({"amount": "112.34", "currency": "EUR"})),
                ("custom_field", Some(31), &json!("2026-03-31")),
                ("custom_field", Some(32), &json!("o2")),
            ]
        );
        assert_eq!(ok[5].display.as_deref(), Some("Open"));
        let why: Vec<(&str, &str)> = dropped.iter().map(|d| (d.key.as_str(), d.reason.as_str())).collect();
        assert_eq!(
            why,
            vec![
                ("document_type", "not one of your document types"),
                ("date", "not a date like 2025-12-31"),
                ("tags", "not one of your tags"),
                ("custom_fields.Colour", "not one of your custom fields"),
            ]
        );
    }

    #[test]
    fn hostile_answers_are_refused_or_bounded() {
        assert!(parse_answer("I cannot help with that.").is_err());
        assert!(parse_answer("[1, 2]").is_err());
        let long = "x".repeat(10_000);
        let a = parse_answer(
            &json!({"title": long, "date": "3026-01-01", "tags": "home", "correspondent": 7,
            "custom_fields": {"Due date": "soon"}})
            .to_string(),
        )
        .unwrap();
        let (ok, dropped) = validate(&a, &vocab(), &[Ask::Title, Ask::Date, Ask::Tags, Ask::Correspondent, Ask::CustomFields], today());
        assert_eq!(ok[0].name.chars().count(), MAX_TITLE_CHARS);
        assert_eq!(ok[1].kind, "tag", "one tag given as a string is taken");
        assert!(dropped.iter().any(|d| d.key == "date" && d.reason.contains("future")));
        assert!(dropped.iter().any(|d| d.key == "correspondent" && d.reason == "expected a name"));
        assert!(dropped.iter().any(|d| d.key == "custom_fields.Due date"));
        // Only what was asked is read.
        let (ok, _) = validate(&a, &vocab(), &[Ask::Date], today());
        assert!(ok.is_empty());
        // An ambiguous partial name is not guessed.
        let v = Vocabulary { correspondents: vec![(1, "Stadtwerke".into()), (2, "Musterstadt".into())], ..Vocabulary::default() };
        assert_eq!(find_name(&v.correspondents, "Stadtwerke Musterstadt"), None);
        assert_eq!(find_name(&v.correspondents, "stadtwerke"), Some((1, "Stadtwerke".into())));
    }

    #[test]
    fn the_prompt_fits_the_budget_and_lists_only_what_is_asked() {
        let s = PromptSettings {
            instructions: DEFAULT_INSTRUCTIONS,
            model: "m",
            max_input_tokens: 600,
            max_output_tokens: 200,
            json_mode: JsonMode::Schema,
            temperature: 0.0,
        };
        let text = "Rechnung über Strom. ".repeat(2000);
        let p = prepare(&s, &vocab(), &[Ask::Correspondent, Ask::Date], "scan.pdf", &text).unwrap();
        assert!(p.truncated);
        assert!(p.estimated_tokens <= 600, "{}", p.estimated_tokens);
        let user = p.body["messages"][1]["content"].as_str().unwrap();
        assert!(user.contains("Correspondents: [\"Stadtwerke Musterstadt\",\"Dr. Anna Weber\",\"ACME\"]"));
        assert!(!user.contains("Tags:"), "tags were not asked");
        let schema = &p.body["response_format"]["json_schema"]["schema"];
        assert_eq!(schema["required"], json!(["correspondent", "date"]));
        assert_eq!(schema["properties"]["correspondent"]["anyOf"][0]["enum"][2], "ACME");
        // The link field is not offered; the rest are, with their kinds.
        let all = schema_fields(&vocab());
        assert_eq!(all, vec!["Amount", "Due date", "Status"]);
        // A budget the vocabulary alone fills is refused in words.
        let tiny = PromptSettings { max_input_tokens: 100, ..s.clone() };
        assert!(prepare(&tiny, &vocab(), &Ask::ALL, "a.pdf", &text).unwrap_err().contains("llm.max_input_tokens"));
        // Nothing to choose from: nothing is asked.
        assert!(prepare(&s, &Vocabulary::default(), &[Ask::Tags], "a.pdf", "text").is_err());
        assert_eq!(estimate_tokens("abcdef"), 2);
        assert_eq!(estimate_tokens("日本語"), 3);
    }

    fn schema_fields(v: &Vocabulary) -> Vec<String> {
        let s = schema(v, &[Ask::CustomFields]);
        s["properties"]["custom_fields"]["properties"].as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn suggestions_become_an_edit() {
        let items = vec![
            Suggestion { kind: "title".into(), target_id: None, name: "T".into(), value: json!("T"), display: None },
            Suggestion { kind: "tag".into(), target_id: Some(20), name: "x".into(), value: json!(20), display: None },
            Suggestion { kind: "date".into(), target_id: None, name: "d".into(), value: json!("2026-01-02"), display: None },
        ];
        let (p, tags) = patch(&items);
        assert_eq!(p.title.as_deref(), Some("T"));
        assert_eq!(p.date, Some(NaiveDate::from_ymd_opt(2026, 1, 2)));
        assert_eq!(tags, vec![20]);
    }
}
