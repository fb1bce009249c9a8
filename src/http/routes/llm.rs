//! Suggestions from a language model (#23): what is configured and sent, and per document
//! "ask now", the newest answers, the suggestions still open, "dismiss".

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppContext;
use crate::domain::llm::{Ask, LlmAsk, LlmRequest, Mode, Suggestion};
use crate::domain::{Document, Id};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};

/// Requests shown per document.
const SHOWN: usize = 5;

/// `GET /api/v1/llm`: whether a language model is configured, the limits, how much of the
/// caller's daily budget is spent, and the instructions every request starts with (what is sent
/// with a document is visible to its owner). The endpoint's address only to administrators.
pub async fn status(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let s = &ctx.settings.llm;
    let used = if s.enabled() { ctx.store.llm_tokens_since(auth.0.user.id, crate::domain::llm::budget_day_start()).await? } else { 0 };
    let mut out = json!({
        "enabled": s.enabled(),
        "model": s.enabled().then(|| s.model.clone()),
        "json_mode": s.json_mode,
        "max_input_tokens": s.max_input_tokens,
        "max_output_tokens": s.max_output_tokens,
        "daily_tokens_per_user": s.daily_tokens_per_user,
        "tokens_used_today": used,
        "fields": Ask::ALL,
        "instructions": s.instructions().unwrap_or_else(|e| format!("(unreadable: {e})")),
    });
    if auth.0.user.is_admin {
        out["endpoint"] = json!(crate::config::redact_url(s.endpoint.trim()));
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    /// The fields to ask for; none: all of them.
    #[serde(default)]
    fields: Vec<Ask>,
}

/// `POST /api/v1/documents/{id}/llm-suggestions`: asks the model about the document now (as a
/// job); 202 with the request to follow. 409 when no model is configured or one is already
/// being asked about this document.
pub async fn ask(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: Option<web::Json<AskBody>>) -> ApiResult<HttpResponse> {
    if !ctx.settings.llm.enabled() {
        return Err(ApiError::conflict("no language model is configured: the operator sets [llm] endpoint"));
    }
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let ask = LlmAsk::normalized(Mode::Suggest, &body.fields);
    let req = ctx.store.ask_llm(auth.0.user.id, *path, &ask).await?;
    Ok(HttpResponse::Accepted().json(view(&req)))
}

/// `GET /api/v1/documents/{id}/llm-suggestions`: the newest requests about the document (what
/// was sent, what came back, what was dropped and why) and `items`: the suggestions of the
/// newest answer that the document does not have yet, unless dismissed.
pub async fn list(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let (owner, id) = (auth.0.user.id, *path);
    let requests = ctx.store.llm_requests(owner, id, SHOWN).await?;
    let doc = ctx.store.document(owner, id).await?;
    let items: Vec<&Suggestion> = requests
        .iter()
        .find(|r| r.state == "done")
        .filter(|r| r.dismissed_at.is_none() && r.mode == Mode::Suggest)
        .map(|r| r.suggestions.iter().filter(|s| !has(&doc, s)).collect())
        .unwrap_or_default();
    let pending = requests.first().is_some_and(|r| r.state == "pending");
    Ok(HttpResponse::Ok().json(json!({
        "enabled": ctx.settings.llm.enabled(),
        "pending": pending,
        "items": items,
        "requests": requests.iter().map(view).collect::<Vec<_>>(),
    })))
}

/// `DELETE /api/v1/documents/{id}/llm-suggestions`: the open suggestions are no longer offered.
pub async fn dismiss(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.dismiss_llm(auth.0.user.id, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The document has this already.
fn has(doc: &Document, s: &Suggestion) -> bool {
    let m = &doc.meta;
    match s.kind.as_str() {
        "title" => s.value.as_str() == Some(doc.title.as_str()),
        "correspondent" => m.correspondent.as_ref().map(|l| l.id) == s.target_id,
        "document_type" => m.document_type.as_ref().map(|l| l.id) == s.target_id,
        "date" => m.date.map(|d| d.format("%Y-%m-%d").to_string()).as_deref() == s.value.as_str(),
        "tag" => doc.tags.iter().any(|t| Some(t.id) == s.target_id),
        "custom_field" => m.fields.iter().any(|f| Some(f.field_id) == s.target_id && f.value == s.value),
        _ => false,
    }
}

fn time(ms: Option<i64>) -> Value {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

fn view(r: &LlmRequest) -> Value {
    json!({
        "id": r.id,
        "document_id": r.document_id,
        "origin": r.origin,
        "workflow_name": r.workflow_name,
        "mode": r.mode,
        "fields": r.fields,
        "state": r.state,
        "error": r.error,
        "model": r.model,
        "prompt": r.prompt,
        "answer": r.answer,
        "suggestions": r.suggestions,
        "dropped": r.dropped,
        "applied": r.applied,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "attempts": r.attempts,
        "created_at": time(Some(r.created_at)),
        "finished_at": time(r.finished_at),
        "dismissed": r.dismissed_at.is_some(),
    })
}
