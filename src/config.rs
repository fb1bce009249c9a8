//! Settings, layered by figment:
//! built-in defaults < /etc/docmerge/docmerge.toml < --config / DOCMERGE_CONFIG
//! < environment `DOCMERGE__SECTION__KEY` (and `DOCMERGE__SECTION__KEY_FILE` for secrets).

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub const SYSTEM_CONFIG: &str = "/etc/docmerge/docmerge.toml";
const ENV_PREFIX: &str = "DOCMERGE__";

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub server: ServerSettings,
    pub ws: WsSettings,
    pub worker: WorkerSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub pdf: PdfSettings,
    pub ocr: OcrSettings,
    pub limits: LimitSettings,
    pub backup: BackupSettings,
    pub metadata: MetadataSettings,
    pub classifier: ClassifierSettings,
    pub workflows: WorkflowSettings,
    pub smtp: SmtpSettings,
    pub llm: LlmSettings,
}

/// The language model workflows and users may ask for suggestions (#23). Off unless an
/// endpoint is set: nothing leaves the machine by default.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// The OpenAI-compatible API's base, e.g. `http://127.0.0.1:8080/v1` (llama.cpp's server),
    /// `http://127.0.0.1:11434/v1` (Ollama); requests go to `{endpoint}/chat/completions`.
    /// Empty: off.
    pub endpoint: String,
    /// The model's name as the server knows it.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set. Also `DOCMERGE__LLM__API_KEY_FILE`.
    pub api_key: String,
    /// Seconds one request may take (a model on a CPU is slow).
    pub timeout_secs: u64,
    /// The prompt (instructions, vocabulary, the document's text) is cut to about this many
    /// tokens: the text from its start, as much as fits.
    pub max_input_tokens: usize,
    /// The answer may be this long (`max_tokens`).
    pub max_output_tokens: usize,
    /// Tokens (prompt and answer, as the server counts them) one user may spend per day
    /// (UTC); 0: no limit. Worth setting for a paid, hosted model.
    pub daily_tokens_per_user: u64,
    /// "json_schema" (the answer is constrained to the user's names: llama.cpp, vLLM,
    /// Ollama, OpenAI), "json_object", or "none" (only the instructions ask for JSON).
    pub json_mode: String,
    pub temperature: f32,
    /// Requests one worker process sends at a time (more wait in the queue, not in a slot).
    pub max_concurrent: usize,
    /// A file with instructions to use instead of the built-in ones (`docmerge llm-prompt`
    /// shows what is sent); empty: the built-in ones.
    pub instructions_file: String,
    /// An extra CA certificate (PEM file) trusted for the endpoint; empty: none.
    pub ca_file: String,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            endpoint: String::new(),
            model: String::new(),
            api_key: String::new(),
            timeout_secs: 120,
            max_input_tokens: 3000,
            max_output_tokens: 400,
            daily_tokens_per_user: 0,
            json_mode: "json_schema".into(),
            temperature: 0.0,
            max_concurrent: 1,
            instructions_file: String::new(),
            ca_file: String::new(),
        }
    }
}

impl LlmSettings {
    pub fn enabled(&self) -> bool {
        !self.endpoint.trim().is_empty()
    }
    /// The extra CA file, if one is set.
    pub fn ca_path(&self) -> Option<&Path> {
        (!self.ca_file.trim().is_empty()).then(|| Path::new(self.ca_file.trim()))
    }
    /// The chat-completions URL.
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.endpoint.trim().trim_end_matches('/'))
    }
    /// The settings that shape a request, with these instructions.
    pub fn prompt_settings<'a>(&'a self, instructions: &'a str) -> crate::domain::llm::PromptSettings<'a> {
        use crate::domain::llm::{JsonMode, PromptSettings};
        PromptSettings {
            instructions,
            model: &self.model,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            json_mode: JsonMode::parse(&self.json_mode).unwrap_or(JsonMode::Schema),
            temperature: self.temperature,
        }
    }
    /// The instructions sent first: the operator's file, or the built-in ones.
    pub fn instructions(&self) -> Result<String, String> {
        let f = self.instructions_file.trim();
        if f.is_empty() {
            return Ok(crate::domain::llm::DEFAULT_INSTRUCTIONS.to_string());
        }
        let s = std::fs::read_to_string(f).map_err(|e| format!("llm.instructions_file {f}: {e}"))?;
        if s.trim().is_empty() {
            return Err(format!("llm.instructions_file {f} is empty"));
        }
        Ok(s.trim().to_string())
    }
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("endpoint", &crate::config::redact_url(&self.endpoint))
            .field("model", &self.model)
            .field("api_key", &if self.api_key.is_empty() { "" } else { "<redacted>" })
            .field("timeout_secs", &self.timeout_secs)
            .field("max_input_tokens", &self.max_input_tokens)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("daily_tokens_per_user", &self.daily_tokens_per_user)
            .field("json_mode", &self.json_mode)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

/// Workflows (#23): how their webhooks and emails are sent, and how often scheduled ones look.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowSettings {
    /// Seconds to wait before each retry of a webhook or email that failed (the first retry
    /// after the first number, …); when they are used up the delivery is `failed`.
    pub retry_schedule_secs: Vec<u64>,
    /// One webhook request or SMTP conversation may take this long.
    pub timeout_secs: u64,
    /// How often a worker looks for documents a scheduled workflow is due for (minutes; 0: never).
    pub scan_every_minutes: u64,
    /// An extra CA certificate (PEM file) trusted for webhooks and SMTP, besides the
    /// system's; empty: none.
    pub ca_file: String,
    /// Runs (and their deliveries) older than this many days are pruned (0: kept).
    pub keep_runs_days: u64,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings {
            retry_schedule_secs: vec![10, 60, 300, 1800, 7200, 18_000, 36_000],
            timeout_secs: 15,
            scan_every_minutes: 10,
            ca_file: String::new(),
            keep_runs_days: 90,
        }
    }
}

/// The SMTP server workflows send email through. No host: email actions are refused.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// "starttls" (upgrade a plain connection, usually port 587), "tls" (TLS from the start,
    /// usually 465) or "none" (only for a server on this machine).
    pub security: String,
    pub username: String,
    /// Also `DOCMERGE__SMTP__PASSWORD_FILE`.
    pub password: String,
    /// The sender, e.g. `docmerge <docmerge@example.com>`.
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "docmerge <docmerge@localhost>".into(),
        }
    }
}

impl WorkflowSettings {
    /// The extra CA file, if one is set.
    pub fn ca_path(&self) -> Option<&Path> {
        (!self.ca_file.trim().is_empty()).then(|| Path::new(self.ca_file.trim()))
    }
}

impl SmtpSettings {
    pub fn configured(&self) -> bool {
        !self.host.trim().is_empty()
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("from", &self.from)
            .finish()
    }
}

/// The auto classifier (#23): when it learns and how sure it must be.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierSettings {
    /// How often a worker looks for owners whose documents changed since their last model and
    /// trains a new one (minutes; 0: only when asked, `POST /api/v1/classifier/train`).
    pub train_every_minutes: u64,
    /// An owner needs this many filed documents before a model is trained.
    pub min_documents: usize,
    /// A label whose matching rule is `auto` is assigned when the model is at least this sure.
    pub apply_confidence: f32,
    /// Below that, down to this, it is offered as a suggestion on the document's page.
    pub suggest_confidence: f32,
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        ClassifierSettings { train_every_minutes: 60, min_documents: 10, apply_confidence: 0.8, suggest_confidence: 0.3 }
    }
}

/// How the date a document was written is read from its text (domain::dates).
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSettings {
    /// How an all-numeric date like 03/04/2025 is read: "dmy" (3 April) or "mdy" (March 4).
    pub date_order: String,
    /// No date before this one (YYYY-MM-DD) is taken as a document's date.
    pub date_floor: String,
    /// Characters from the start of the first pages looked at for the date.
    pub date_search_chars: usize,
}

impl Default for MetadataSettings {
    fn default() -> Self {
        MetadataSettings { date_order: "dmy".into(), date_floor: "1900-01-01".into(), date_search_chars: 6000 }
    }
}

impl MetadataSettings {
    /// The rules for a date found today.
    pub fn date_rules(&self, today: chrono::NaiveDate) -> crate::domain::dates::DateRules {
        crate::domain::dates::DateRules {
            order: crate::domain::dates::DayMonthOrder::parse(&self.date_order).unwrap_or(crate::domain::dates::DayMonthOrder::DayFirst),
            floor: crate::domain::metadata::parse_date(&self.date_floor).unwrap_or(chrono::NaiveDate::MIN),
            today,
            max_chars: self.date_search_chars,
        }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite:///path/file.db` or `postgres://user@host/db`. Empty: `docmerge.db` in the storage root.
    pub url: String,
    /// Connections in the pool (PostgreSQL) or read-only readers (SQLite).
    pub pool_size: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: String::new(), pool_size: 8 }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings").field("url", &redact_url(&self.url)).field("pool_size", &self.pool_size).finish()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Originals, derived files and (by default) the SQLite database live here.
    pub root: PathBuf,
    /// Uploads are refused (507) while the storage root's file system has less free space than
    /// this, in MiB: what is left keeps the database and processing working.
    pub min_free_mb: u64,
    /// A stored file nothing refers to any more (after a purge, or left by an interrupted
    /// upload) is deleted once it has not been written or reused for this many seconds.
    pub sweep_grace_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self { root: PathBuf::from("docmerge-data"), min_free_mb: 256, sweep_grace_secs: 900 }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: String,
    /// Largest accepted upload, in MiB.
    pub max_upload_mb: u64,
    /// `keep` (flag identical uploads as duplicates) or `reject` (answer 409).
    pub duplicates: DuplicatePolicy,
    /// Addresses of reverse proxies whose `X-Forwarded-*` headers are trusted.
    pub trusted_proxies: Vec<String>,
    /// Where browsers reach the websocket. Empty: `/ws` on the same origin when
    /// behind a proxy, otherwise `ws://<host>:<ws port>/ws`.
    pub ws_public_url: String,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// Worker threads of the HTTP server (0: one per core).
    pub workers: usize,
    /// An upload slower than this (bytes per second, averaged over `upload_rate_window_secs`)
    /// is stopped with a 408, so trickling uploads cannot hold connections open. 0: no minimum.
    pub upload_min_bytes_per_sec: u64,
    pub upload_rate_window_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            max_upload_mb: 256,
            duplicates: DuplicatePolicy::Keep,
            trusted_proxies: Vec::new(),
            ws_public_url: String::new(),
            cookie_secure: false,
            workers: 0,
            upload_min_bytes_per_sec: 4096,
            upload_rate_window_secs: 30,
        }
    }
}

#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum DuplicatePolicy {
    Keep,
    Reject,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WsSettings {
    pub bind: String,
    /// Events older than this are pruned (clients resuming from further back get a full refresh hint).
    pub retention_hours: u64,
    /// Origins (`https://docs.example.org`) of pages that may open the websocket besides pages
    /// of the websocket's own host name.
    pub allowed_origins: Vec<String>,
    /// Where the `ws` role serves /healthz, /readyz and /metrics (empty: nowhere).
    pub health_bind: String,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8001".into(), retention_hours: 72, allowed_origins: Vec::new(), health_bind: String::new() }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Jobs run at the same time by one worker process.
    pub concurrency: usize,
    /// How long a claimed job stays ours without a heartbeat.
    pub lease_secs: u64,
    /// Polling interval when no wake-up arrives.
    pub poll_ms: u64,
    /// How long running jobs may take to finish after SIGTERM before their leases are released.
    pub shutdown_grace_secs: u64,
    /// Attempts before a job is marked failed.
    pub max_attempts: i32,
    /// Where the `worker` role serves /healthz, /readyz and /metrics (empty: nowhere).
    pub health_bind: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { concurrency: 2, lease_secs: 60, poll_ms: 250, shutdown_grace_secs: 30, max_attempts: 5, health_bind: String::new() }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The administrator created on first start.
    pub admin_username: String,
    /// Its password. Empty: a random one is generated and printed once at first start.
    pub admin_password: String,
    /// Browser sessions and login tokens expire after this many hours.
    pub session_hours: u64,
    /// Failed logins per user name (and per client address) in 15 minutes before login is refused.
    pub max_failed_logins: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self { admin_username: "admin".into(), admin_password: String::new(), session_hours: 24 * 14, max_failed_logins: 10 }
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("admin_username", &self.admin_username)
            .field("admin_password", &if self.admin_password.is_empty() { "" } else { "<redacted>" })
            .field("session_hours", &self.session_hours)
            .field("max_failed_logins", &self.max_failed_logins)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `docmerge=debug,actix_web=info`, …
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PdfSettings {
    /// Path of libpdfium.so. Empty: /usr/lib/docmerge, then next to the binary, then ./.runtime/lib.
    pub library_path: String,
    /// TrueType font for searchable-PDF words beyond Latin-1 (Polish, Czech, Greek, Cyrillic…).
    /// Empty: DejaVu Sans, Noto Sans or Liberation Sans from the system fonts.
    pub text_font: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OcrSettings {
    /// Folder with the OCR models. Empty: /usr/share/docmerge/models, then next to the binary, then ./.runtime/models.
    pub models_dir: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Documents with more pages fail with a clear reason.
    pub max_pages: u32,
    /// Pages (images) with more pixels fail before anything is decoded.
    pub max_page_pixels: u64,
    /// Seconds one page may take.
    pub page_timeout_secs: u64,
    /// Seconds the database may work on one search before it is stopped (a 400 saying so).
    pub search_timeout_secs: u64,
    /// Searches one `serve` process runs at once; more wait for a turn (up to
    /// `search_timeout_secs`, then a 503), so searches cannot take every database connection
    /// and core from the rest of the API.
    pub max_concurrent_searches: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { max_pages: 1000, max_page_pixels: 100_000_000, page_timeout_secs: 120, search_timeout_secs: 10, max_concurrent_searches: 2 }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// When the workers make a backup (UTC): `off`, `daily at HH:MM`, or `every N minutes|hours`.
    pub schedule: String,
    /// Directory of the backup archives. Empty: `backups` in the storage root.
    pub path: PathBuf,
    /// How many backups to keep (older ones are deleted after a new one is verified); 0 keeps all.
    pub keep: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self { schedule: "off".into(), path: PathBuf::new(), keep: 7 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read the config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// Where the settings come from: an explicit file (CLI / DOCMERGE_CONFIG), and whether the
/// system file is read (tests switch it off).
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    pub file: Option<PathBuf>,
    pub skip_system_file: bool,
}

impl Settings {
    pub fn load(sources: &ConfigSources) -> Result<(Settings, Vec<String>), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if !sources.skip_system_file && Path::new(SYSTEM_CONFIG).exists() {
            figment = figment.merge(Toml::file(SYSTEM_CONFIG));
        }
        let explicit = sources.file.clone().or_else(|| std::env::var_os("DOCMERGE_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
        if let Some(path) = explicit {
            if !path.is_file() {
                return Err(ConfigError::File { path: path.display().to_string(), reason: "no such file".into() });
            }
            figment = figment.merge(Toml::file(path));
        }
        // DOCMERGE__SECTION__KEY: figment's own Env provider, for the keys that exist.
        let known = known_keys();
        let known_env = known.clone();
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").filter(move |k| known_env.iter().any(|n| n.eq_ignore_ascii_case(k.as_str()))));
        // DOCMERGE__SECTION__KEY_FILE: a secret read from a file (no figment provider does this).
        let (secrets, warnings) = secret_files_and_unknown_names(&known)?;
        for (key, value) in secrets {
            figment = figment.merge((key, value));
        }
        let settings: Settings = figment.extract().map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        settings.validate()?;
        Ok((settings, warnings))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.classifier;
        if !(0.0..=1.0).contains(&c.suggest_confidence)
            || !(0.0..=1.0).contains(&c.apply_confidence)
            || c.suggest_confidence > c.apply_confidence
        {
            return Err(ConfigError::Invalid(format!(
                "classifier.suggest_confidence ({}) and classifier.apply_confidence ({}) must be between 0 and 1, the first not above the second",
                c.suggest_confidence, c.apply_confidence
            )));
        }
        if !matches!(self.smtp.security.as_str(), "starttls" | "tls" | "none") {
            return Err(ConfigError::Invalid(format!(
                "smtp.security must be \"starttls\", \"tls\" or \"none\", not {:?}",
                self.smtp.security
            )));
        }
        if self.smtp.configured() && self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "smtp.from: {:?} is not an address like docmerge <docmerge@example.com>",
                self.smtp.from
            )));
        }
        let l = &self.llm;
        if crate::domain::llm::JsonMode::parse(&l.json_mode).is_none() {
            return Err(ConfigError::Invalid(format!(
                "llm.json_mode must be \"json_schema\", \"json_object\" or \"none\", not {:?}",
                l.json_mode
            )));
        }
        if l.enabled() {
            let e = l.endpoint.trim();
            if !(e.starts_with("http://") || e.starts_with("https://")) || e.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid(format!("llm.endpoint: {:?} is not an http:// or https:// address", redact_url(e))));
            }
            if l.timeout_secs == 0
                || l.timeout_secs > crate::domain::llm::MAX_TIMEOUT_SECS
                || l.max_concurrent == 0
                || l.max_output_tokens == 0
                || l.max_input_tokens < 256
            {
                return Err(ConfigError::Invalid(format!(
                    "llm: timeout_secs from 1 to {}, max_concurrent and max_output_tokens above 0, max_input_tokens at least 256",
                    crate::domain::llm::MAX_TIMEOUT_SECS
                )));
            }
            if !(0.0..=2.0).contains(&l.temperature) {
                return Err(ConfigError::Invalid(format!("llm.temperature must be between 0 and 2, not {}", l.temperature)));
            }
            l.instructions().map_err(ConfigError::Invalid)?;
        }
        if self.workflows.retry_schedule_secs.len() > 30 || self.workflows.timeout_secs == 0 {
            return Err(ConfigError::Invalid("workflows.retry_schedule_secs: at most 30 retries; workflows.timeout_secs above 0".into()));
        }
        if crate::domain::dates::DayMonthOrder::parse(&self.metadata.date_order).is_none() {
            return Err(ConfigError::Invalid(format!(
                "metadata.date_order must be \"dmy\" or \"mdy\", not {:?}",
                self.metadata.date_order
            )));
        }
        if crate::domain::metadata::parse_date(&self.metadata.date_floor).is_none() {
            return Err(ConfigError::Invalid(format!(
                "metadata.date_floor must be a date like 1900-01-01, not {:?}",
                self.metadata.date_floor
            )));
        }
        let url = &self.database.url;
        if !url.is_empty() && !url.starts_with("sqlite://") && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(ConfigError::Invalid(format!("database.url must start with sqlite:// or postgres://, not {:?}", redact_url(url))));
        }
        if self.worker.concurrency == 0 {
            return Err(ConfigError::Invalid("worker.concurrency must be at least 1".into()));
        }
        if self.worker.lease_secs < 5 {
            return Err(ConfigError::Invalid("worker.lease_secs must be at least 5".into()));
        }
        if self.server.max_upload_mb == 0 {
            return Err(ConfigError::Invalid("server.max_upload_mb must be at least 1".into()));
        }
        crate::domain::schedule::Schedule::parse(&self.backup.schedule)
            .map_err(|e| ConfigError::Invalid(format!("backup.schedule: {e}")))?;
        let health = [("ws.health_bind", &self.ws.health_bind), ("worker.health_bind", &self.worker.health_bind)];
        let health = health.into_iter().filter(|(_, b)| !b.is_empty());
        for (name, bind) in [("server.bind", &self.server.bind), ("ws.bind", &self.ws.bind)].into_iter().chain(health) {
            if bind.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid(format!("{name} must be an address like 127.0.0.1:8000, not {bind:?}")));
            }
        }
        Ok(())
    }

    /// The database URL with the default (a SQLite file in the storage root) filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.storage.root.join("docmerge.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// Where scheduled backups go: `backup.path`, or `backups` in the storage root.
    pub fn backup_dir(&self) -> PathBuf {
        if self.backup.path.as_os_str().is_empty() { self.storage.root.join("backups") } else { self.backup.path.clone() }
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.server.max_upload_mb * 1024 * 1024
    }

    /// The effective settings as TOML with secrets redacted (for `docmerge check`).
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        if !copy.auth.admin_password.is_empty() {
            copy.auth.admin_password = "<redacted>".into();
        }
        copy.database.url = redact_url(&copy.database.url);
        if !copy.smtp.password.is_empty() {
            copy.smtp.password = "<redacted>".into();
        }
        if !copy.llm.api_key.is_empty() {
            copy.llm.api_key = "<redacted>".into();
        }
        copy.llm.endpoint = redact_url(&copy.llm.endpoint);
        toml_string(&copy)
    }
}

fn toml_string(settings: &Settings) -> String {
    toml::to_string(settings).unwrap_or_else(|e| format!("# the settings cannot be shown as TOML: {e}\n"))
}

/// Replaces the password in `scheme://user:password@host` with `***`.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!("{}://{}:***@{}", &url[..scheme_end], &userinfo[..colon], &rest[at + 1..]);
            }
        }
    }
    // key=value style: password=...
    if url.contains("password=") {
        return url.split(' ').map(|p| if p.starts_with("password=") { "password=***" } else { p }).collect::<Vec<_>>().join(" ");
    }
    url.to_string()
}

/// The secrets named by `DOCMERGE__SECTION__KEY_FILE` variables, read from their files as
/// (dotted key, value), and a warning for every `DOCMERGE__` variable that names no setting (by
/// name only, never with its value).
/// (dotted key, secret) pairs and warnings.
type SecretsAndWarnings = (Vec<(String, String)>, Vec<String>);

fn secret_files_and_unknown_names(known: &[String]) -> Result<SecretsAndWarnings, ConfigError> {
    let mut secrets = Vec::new();
    let mut warnings = Vec::new();
    let mut vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    vars.sort();
    for (name, raw) in vars {
        let dotted = name[ENV_PREFIX.len()..].to_ascii_lowercase().replacen("__", ".", 1);
        if known.contains(&dotted) {
            continue;
        }
        match dotted.strip_suffix("_file").filter(|base| known.iter().any(|k| k == base)) {
            Some(base) => {
                let secret = std::fs::read_to_string(&raw)
                    .map_err(|e| ConfigError::File { path: raw.clone(), reason: format!("{e} (named by {name})") })?;
                secrets.push((base.to_string(), secret.trim_end_matches(['\n', '\r']).to_string()));
            }
            None => warnings.push(format!("ignoring unknown environment variable {name}")),
        }
    }
    Ok((secrets, warnings))
}

pub fn known_keys() -> Vec<String> {
    let value = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut keys = Vec::new();
    if let serde_json::Value::Object(sections) = value {
        for (section, body) in sections {
            if let serde_json::Value::Object(fields) = body {
                for k in fields.keys() {
                    keys.push(format!("{section}.{k}"));
                }
            }
        }
    }
    keys
}

fn describe_figment_error(e: figment::Error) -> String {
    let mut msgs = Vec::new();
    for err in e {
        let path = err.path.join(".");
        let source = err
            .metadata
            .as_ref()
            .map(|m| format!(" (from {})", m.source.as_ref().map(|s| s.to_string()).unwrap_or_else(|| m.name.to_string())))
            .unwrap_or_default();
        let kind = match &err.kind {
            figment::error::Kind::UnknownField(field, _) => format!("unknown setting {field:?}"),
            other => other.to_string(),
        };
        if path.is_empty() {
            msgs.push(format!("invalid configuration: {kind}{source}"));
        } else {
            msgs.push(format!("invalid configuration for {path}: {kind}{source}"));
        }
    }
    msgs.join("; ")
}

#[cfg(test)]
// figment::Jail::expect_with takes closures returning figment::Error, which is large; that API
// fixes the type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn load_in_jail() -> Result<(Settings, Vec<String>), ConfigError> {
        Settings::load(&ConfigSources { file: None, skip_system_file: true })
    }

    #[test]
    fn layers_file_then_env_and_reads_secret_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("dm.toml", "[server]\nbind = \"0.0.0.0:9000\"\nmax_upload_mb = 10\n[log]\nformat = \"json\"\n")?;
            jail.create_file("secret.txt", "s3cret-pass\n")?;
            jail.set_env("DOCMERGE_CONFIG", "dm.toml");
            jail.set_env("DOCMERGE__SERVER__MAX_UPLOAD_MB", "20");
            jail.set_env("DOCMERGE__AUTH__ADMIN_PASSWORD_FILE", "secret.txt");
            jail.set_env("DOCMERGE__DATABASE__URL", "postgres://u:pw@db/docs");
            jail.set_env("DOCMERGE__NOPE__THING", "1");
            let (s, warnings) = load_in_jail().expect("loads");
            assert_eq!(s.server.bind, "0.0.0.0:9000", "file over defaults");
            assert_eq!(s.server.max_upload_mb, 20, "env over file");
            assert_eq!(s.log.format, LogFormat::Json);
            assert_eq!(s.auth.admin_password, "s3cret-pass", "secret from _FILE, newline trimmed");
            assert_eq!(warnings, vec!["ignoring unknown environment variable DOCMERGE__NOPE__THING".to_string()]);
            let debug = format!("{s:?}");
            assert!(!debug.contains("s3cret") && !debug.contains(":pw@"), "secrets redacted in Debug: {debug}");
            let shown = s.to_redacted_toml();
            assert!(!shown.contains("s3cret") && !shown.contains(":pw@"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_one_clear_sentence() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DOCMERGE__DATABASE__URL", "mysql://x");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("database.url must start with sqlite:// or postgres://"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("DOCMERGE__WORKER__CONCURRENCY", "lots");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("worker.concurrency"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("dm.toml", "[server]\nbnid = \"x\"\n")?;
            jail.set_env("DOCMERGE_CONFIG", "dm.toml");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("bnid"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn default_database_is_sqlite_in_the_storage_root() {
        let s = Settings::default();
        assert_eq!(s.database_url(), "sqlite://docmerge-data/docmerge.db");
        assert_eq!(s.server.bind, "127.0.0.1:8000");
        assert_eq!(s.ws.bind, "127.0.0.1:8001");
    }

    #[test]
    fn shipped_config_matches_the_built_in_defaults() {
        let text = include_str!("../packaging/docmerge.toml");
        let parsed: Settings = Figment::from(Toml::string(text)).extract().expect("packaging/docmerge.toml parses");
        assert_eq!(parsed, Settings::default(), "packaging/docmerge.toml must document exactly the built-in defaults");
        // Every key is present in the file (documented), not just defaulted.
        for key in known_keys() {
            let (section, k) = key.split_once('.').unwrap();
            let in_section = text.split(&format!("[{section}]")).nth(1).unwrap_or_else(|| panic!("section [{section}] missing"));
            let in_section = in_section.split("\n[").next().unwrap();
            assert!(in_section.lines().any(|l| l.trim_start().starts_with(&format!("{k} ="))), "{key} is not documented");
        }
    }
}
