//! The `llm_suggest` job (#23): one request to the operator's language model about one
//! document — the owner's vocabulary and the document's text in, a checked JSON answer out,
//! recorded (and in apply mode set on the document) with the job's completion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use tokio::sync::Semaphore;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use super::workflows::{HttpClient, describe, http_client, redact};
use crate::app::AppContext;
use crate::config::LlmSettings;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease};
use crate::domain::llm::{self, JsonMode, LlmOutcome, LlmRequest, Usage, Vocabulary};
use crate::domain::metadata::LabelKind;
use crate::domain::store::Store;
use crate::domain::{DomainError, now_millis};

/// Seconds before each retry after the server was unreachable, busy or broken.
const RETRY_SECS: [i64; 3] = [30, 120, 600];
/// The most of an answer read (a bigger one is refused).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

struct LlmJob {
    store: Arc<dyn Store>,
    settings: LlmSettings,
    /// The client, or why it could not be made (every request fails with that).
    http: Result<HttpClient, String>,
    /// Requests this process has at the model at once (`llm.max_concurrent`).
    slots: Arc<Semaphore>,
}

/// How a request failed: the reason, whether another try may help, and what was sent and
/// answered so far.
struct Failure {
    error: String,
    retry: bool,
    answer: Option<String>,
    usage: Usage,
}

impl Failure {
    fn new(error: impl Into<String>, retry: bool) -> Failure {
        Failure { error: error.into(), retry, answer: None, usage: Usage::default() }
    }
}

#[async_trait]
impl JobHandler for LlmJob {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::LlmSuggest(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::LLM_SUGGEST));
        };
        let Some(req) = self.store.llm_request(args.request_id).await? else { return Ok(Outcome::Done) };
        if req.state != "pending" {
            return Ok(Outcome::Done);
        }
        // This process is already talking to the model: come back soon, without holding a slot
        // of the worker (other jobs go on meanwhile).
        let Ok(_permit) = self.slots.clone().try_acquire_owned() else {
            let at = now_millis() + 3000 + (req.id % 7) * 500;
            return self.finish(lease, &req, LlmOutcome::Later { at }).await;
        };
        let outcome = self.ask(&req).await?;
        self.finish(lease, &req, outcome).await
    }
}

impl LlmJob {
    async fn finish(&self, lease: &Lease, req: &LlmRequest, outcome: LlmOutcome) -> Result<Outcome, JobError> {
        match self.store.finish_llm(lease, req.id, &outcome).await {
            Ok(done) => Ok(Outcome::CompletedInTransaction(done)),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                // The answer could not be set (the document changed under it): the request says so.
                let (prompt, answer, usage) = match outcome {
                    LlmOutcome::Answered { prompt, answer, usage, .. } => (Some(prompt), Some(answer), usage),
                    _ => (None, None, Usage::default()),
                };
                let failed =
                    LlmOutcome::Failed { prompt, answer, error: format!("the answer could not be applied: {e}"), usage, retry_at: None };
                Ok(Outcome::CompletedInTransaction(self.store.finish_llm(lease, req.id, &failed).await?))
            }
        }
    }

    /// Everything up to the outcome; Err only for what the job runner should retry (the
    /// database blinking).
    async fn ask(&self, req: &LlmRequest) -> Result<LlmOutcome, JobError> {
        let s = &self.settings;
        if !s.enabled() {
            return Ok(failed(None, Failure::new("no language model is configured ([llm] endpoint)", false), req));
        }
        if s.daily_tokens_per_user > 0 {
            let used = self.store.llm_tokens_since(req.owner_id, llm::budget_day_start()).await?;
            if used >= s.daily_tokens_per_user as i64 {
                let error = format!(
                    "the daily budget of {} tokens is spent ({used} used today); it renews at midnight UTC",
                    s.daily_tokens_per_user
                );
                return Ok(LlmOutcome::Skipped { error });
            }
        }
        let facts = match self.store.workflow_facts(req.owner_id, req.document_id).await {
            Ok(f) => f,
            Err(DomainError::NotFound(_)) => return Ok(LlmOutcome::Skipped { error: "the document is gone".into() }),
            Err(e) => return Err(e.into()),
        };
        if facts.doc.trashed_at.is_some() {
            return Ok(LlmOutcome::Skipped { error: "the document is in the trash".into() });
        }
        if facts.text.trim().is_empty() {
            return Ok(failed(None, Failure::new("the document has no text to read (yet): ask again once it is processed", false), req));
        }
        let vocab = self.vocabulary(req.owner_id, facts.fields).await?;
        let instructions = match s.instructions() {
            Ok(i) => i,
            Err(e) => return Ok(failed(None, Failure::new(e, false), req)),
        };
        let ps = s.prompt_settings(&instructions);
        let prepared = match llm::prepare(&ps, &vocab, &req.fields, &facts.doc.version.filename, &facts.text) {
            Ok(p) => p,
            Err(e) => return Ok(failed(None, Failure::new(e, false), req)),
        };
        let started = Instant::now();
        let result = self.send(&prepared.body).await;
        let took = started.elapsed().as_millis() as u64;
        let (content, usage, model) = match result {
            Ok(r) => r,
            Err(f) => {
                tracing::info!(request = req.id, document = req.document_id, took_ms = took, error = %f.error, "a language-model request failed");
                return Ok(failed(Some(prepared.body), f, req));
            }
        };
        tracing::info!(
            request = req.id,
            document = req.document_id,
            took_ms = took,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            truncated = prepared.truncated,
            "the language model answered"
        );
        let answer = match llm::parse_answer(&content) {
            Ok(a) => a,
            Err(e) => {
                let f = Failure { error: e, retry: false, answer: Some(content), usage };
                return Ok(failed(Some(prepared.body), f, req));
            }
        };
        let (suggestions, dropped) = llm::validate(&answer, &vocab, &req.fields, chrono::Utc::now().date_naive());
        Ok(LlmOutcome::Answered { model, prompt: prepared.body, answer: content, suggestions, dropped, usage })
    }

    /// The owner's names, most used first.
    async fn vocabulary(&self, owner: crate::domain::Id, fields: Vec<crate::domain::metadata::FieldDef>) -> Result<Vocabulary, JobError> {
        let labels = |mut l: Vec<crate::domain::metadata::Label>| {
            l.sort_by(|a, b| b.document_count.cmp(&a.document_count).then(a.name.cmp(&b.name)));
            l.into_iter().map(|l| (l.id, l.name)).collect::<Vec<_>>()
        };
        let correspondents = labels(self.store.labels(owner, LabelKind::Correspondent).await?);
        let document_types = labels(self.store.labels(owner, LabelKind::DocumentType).await?);
        let mut tags = self.store.tags(owner).await?;
        tags.sort_by(|a, b| b.document_count.cmp(&a.document_count).then(a.name.cmp(&b.name)));
        let tags = tags.into_iter().map(|t| (t.id, t.name)).collect();
        Ok(Vocabulary { correspondents, document_types, tags, fields }.bounded())
    }

    /// One POST to the chat endpoint: the answer's text, the tokens, the model that answered.
    async fn send(&self, body: &serde_json::Value) -> Result<(String, Usage, String), Failure> {
        let s = &self.settings;
        let http = self.http.as_ref().map_err(|e| Failure::new(e.clone(), false))?;
        let url = s.chat_url();
        let bytes = serde_json::to_vec(body).map_err(|e| Failure::new(e.to_string(), false))?;
        let mut request = hyper::Request::post(&url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("docmerge/", env!("CARGO_PKG_VERSION")));
        if !s.api_key.is_empty() {
            request = request.header("authorization", format!("Bearer {}", s.api_key));
        }
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| Failure::new(format!("{} is not a usable address: {e}", redact(&url)), false))?;
        let limit = Duration::from_secs(s.timeout_secs);
        let answer = tokio::time::timeout(limit, async {
            let resp = http.request(request).await.map_err(|e| Err(describe(&e)))?;
            let status = resp.status();
            let text = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| Ok(format!("the answer could not be read (larger than 1 MB?): {e}")))?;
            Ok::<_, Result<String, String>>((status, text))
        })
        .await;
        let (status, text) = match answer {
            Err(_) => {
                return Err(Failure::new(format!("no answer from {} within {} s (llm.timeout_secs)", redact(&url), limit.as_secs()), true));
            }
            Ok(Err(Err(e))) => return Err(Failure::new(format!("could not reach {}: {e}", redact(&url)), true)),
            Ok(Err(Ok(e))) => return Err(Failure::new(e, true)),
            Ok(Ok(r)) => r,
        };
        let said: String = String::from_utf8_lossy(&text).chars().take(300).collect();
        if !status.is_success() {
            let busy = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
            let hint = if status.as_u16() == 400 && JsonMode::parse(&s.json_mode) != Some(JsonMode::Prompt) {
                " (if the server does not take response_format, set llm.json_mode to \"json_object\" or \"none\")"
            } else {
                ""
            };
            return Err(Failure::new(format!("the server answered {status}: {}{hint}", said.trim()), busy));
        }
        let resp: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Failure::new(format!("the server's answer is not JSON ({e}): {}", said.trim()), false))?;
        let (content, usage, finish) = llm::answer_of(&resp).map_err(|e| Failure::new(e, false))?;
        if finish.as_deref() == Some("length") && llm::parse_answer(&content).is_err() {
            let f = Failure {
                error: format!("the answer was cut off at llm.max_output_tokens ({}): raise it", s.max_output_tokens),
                retry: false,
                answer: Some(content),
                usage,
            };
            return Err(f);
        }
        // The configured name first (llama.cpp answers with the model file's path).
        let answered = resp.get("model").and_then(|m| m.as_str()).unwrap_or_default();
        let model = if s.model.trim().is_empty() { answered.to_string() } else { s.model.clone() };
        Ok((content, usage, model))
    }
}

/// A failure as recorded: retried on the schedule while it may help.
fn failed(prompt: Option<serde_json::Value>, f: Failure, req: &LlmRequest) -> LlmOutcome {
    let retry_at = f.retry.then(|| RETRY_SECS.get(req.attempts.max(0) as usize).map(|s| now_millis() + s * 1000)).flatten();
    LlmOutcome::Failed { prompt, answer: f.answer, error: f.error, usage: f.usage, retry_at }
}

pub fn register_llm(registry: &mut Registry, ctx: &AppContext) {
    let settings = ctx.settings.llm.clone();
    let http =
        http_client(settings.ca_path(), "llm.ca_file").inspect_err(|e| tracing::error!(error = %e, "the language model cannot be asked"));
    let slots = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
    registry.register(kinds::LLM_SUGGEST, Arc::new(LlmJob { store: ctx.store.clone(), settings, http, slots }));
}
