//! Language-model requests (#23).

use super::documents::edit_document;
use super::*;
use crate::domain::llm::{self, Ask, LlmAsk, LlmOutcome, LlmRequest, Mode, Suggestion};

const COLS: &str = "id, owner_id, document_id, origin, workflow_name, mode, fields, state, error, model, prompt, answer, \
                    suggestions, dropped, applied, prompt_tokens, completion_tokens, attempts, created_at, finished_at, dismissed_at";

fn json_col<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

fn request_from(r: &Row<'_>) -> rusqlite::Result<LlmRequest> {
    let mode: String = r.get(5)?;
    Ok(LlmRequest {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        document_id: r.get(2)?,
        origin: r.get(3)?,
        workflow_name: r.get(4)?,
        mode: if mode == "apply" { Mode::Apply } else { Mode::Suggest },
        fields: json_col::<Vec<Ask>>(r.get(6)?),
        state: r.get(7)?,
        error: r.get(8)?,
        model: r.get(9)?,
        prompt: r.get::<_, Option<String>>(10)?.and_then(|s| serde_json::from_str(&s).ok()),
        answer: r.get(11)?,
        suggestions: json_col(r.get(12)?),
        dropped: json_col(r.get(13)?),
        applied: json_col(r.get(14)?),
        prompt_tokens: r.get(15)?,
        completion_tokens: r.get(16)?,
        attempts: r.get(17)?,
        created_at: r.get(18)?,
        finished_at: r.get(19)?,
        dismissed_at: r.get(20)?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> DomainResult<String> {
    serde_json::to_string(v).map_err(|e| DomainError::database(e.to_string()))
}

/// A request and its job (a workflow run's, or a user's when `run` is None).
pub(super) fn insert_request(
    tx: &WriteTx<'_>,
    owner: Id,
    document_id: Id,
    run: Option<(Id, &str)>,
    ask: &LlmAsk,
    now: Millis,
) -> DomainResult<Id> {
    let origin = if run.is_some() { "workflow" } else { "user" };
    tx.prepare_cached(
        "INSERT INTO llm_requests (owner_id, document_id, run_id, origin, workflow_name, mode, fields, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        owner,
        document_id,
        run.map(|r| r.0),
        origin,
        run.map(|r| r.1),
        ask.mode.as_str(),
        to_json(&ask.fields)?,
        now
    ])?;
    let id = tx.last_insert_rowid();
    insert_job(tx, &NewJob::llm_suggest(owner, document_id, id, None), now)?;
    Ok(id)
}

fn load(c: &Connection, id: Id) -> DomainResult<Option<LlmRequest>> {
    Ok(c.prepare_cached(&format!("SELECT {COLS} FROM llm_requests WHERE id = ?1"))?.query_row(params![id], request_from).optional()?)
}

/// The suggestions whose correspondent, type, tag or field still exists (one deleted since the
/// answer is left out rather than failing the edit).
fn still_there(c: &Connection, owner: Id, items: &[Suggestion]) -> DomainResult<Vec<Suggestion>> {
    let mut out = Vec::new();
    for s in items {
        let Some(table) = s.table() else {
            out.push(s.clone());
            continue;
        };
        let found: bool = c
            .prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND owner_id = ?2)"))?
            .query_row(params![s.target_id, owner], |r| r.get(0))?;
        if found {
            out.push(s.clone());
        }
    }
    Ok(out)
}

#[async_trait]
impl LlmStore for SqliteStore {
    async fn ask_llm(&self, owner: Id, document_id: Id, ask: &LlmAsk) -> DomainResult<LlmRequest> {
        let ask = ask.clone();
        self.write(move |tx| {
            let doc = load_document(tx, owner, document_id)?;
            if doc.trashed_at.is_some() {
                return Err(DomainError::not_found(format!("document {document_id}")));
            }
            tx.execute(
                "UPDATE llm_requests SET state = 'failed', error = ?2, finished_at = ?3 WHERE document_id = ?1 AND state = 'pending' \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = 'llm_suggest:' || llm_requests.id AND j.state IN ('queued', 'running'))",
                params![document_id, llm::STOPPED, now_millis()],
            )?;
            let pending: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM llm_requests WHERE document_id = ?1 AND state = 'pending')",
                params![document_id],
                |r| r.get(0),
            )?;
            if pending {
                return Err(DomainError::Conflict(format!("the language model is already being asked about document {document_id}")));
            }
            let id = insert_request(tx, owner, document_id, None, &ask, now_millis())?;
            load(tx, id)?.ok_or_else(|| DomainError::database("the request just written is gone"))
        })
        .await
    }

    async fn llm_request(&self, id: Id) -> DomainResult<Option<LlmRequest>> {
        self.read(move |c| load(c, id)).await
    }

    async fn llm_requests(&self, owner: Id, document_id: Id, limit: usize) -> DomainResult<Vec<LlmRequest>> {
        self.read(move |c| {
            load_document(c, owner, document_id)?;
            let out = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM llm_requests WHERE document_id = ?1 AND owner_id = ?2 ORDER BY id DESC LIMIT ?3"
                ))?
                .query_map(params![document_id, owner, limit as i64], request_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn llm_tokens_since(&self, owner: Id, since: Millis) -> DomainResult<i64> {
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM llm_requests WHERE owner_id = ?1 AND created_at >= ?2",
                )?
                .query_row(params![owner, since], |r| r.get(0))?;
            Ok(n)
        })
        .await
    }

    async fn finish_llm(&self, lease: &Lease, id: Id, outcome: &LlmOutcome) -> DomainResult<bool> {
        let (lease, outcome) = (lease.clone(), outcome.clone());
        self.write(move |tx| {
            let now = now_millis();
            if !complete_in(tx, &lease, now)? {
                return Ok(false);
            }
            let Some(req) = load(tx, id)? else { return Ok(true) };
            if req.state != "pending" {
                return Ok(true);
            }
            match &outcome {
                LlmOutcome::Answered { model, prompt, answer, suggestions, dropped, usage } => {
                    let mut applied = Vec::new();
                    if req.mode == Mode::Apply && !suggestions.is_empty() {
                        let doc = load_document(tx, req.owner_id, req.document_id)?;
                        if doc.trashed_at.is_none() {
                            applied = still_there(tx, req.owner_id, suggestions)?;
                            let (patch, tags) = llm::patch(&applied);
                            let why = serde_json::json!({"request": id, "model": model, "workflow": req.workflow_name});
                            let by = metadata::EditedBy { actor_id: None, action: metadata::actions::LLM, why: Some(("llm", why)) };
                            edit_document(tx, &doc, &patch, (&tags, &[]), &by)?;
                        }
                    }
                    tx.execute(
                        "UPDATE llm_requests SET state = 'done', error = NULL, model = ?2, prompt = ?3, answer = ?4, suggestions = ?5, \
                         dropped = ?6, applied = ?7, prompt_tokens = prompt_tokens + ?8, completion_tokens = completion_tokens + ?9, \
                         attempts = attempts + 1, finished_at = ?10 WHERE id = ?1",
                        params![
                            id,
                            model,
                            prompt.to_string(),
                            answer,
                            to_json(suggestions)?,
                            to_json(dropped)?,
                            to_json(&applied)?,
                            usage.prompt_tokens,
                            usage.completion_tokens,
                            now
                        ],
                    )?;
                }
                LlmOutcome::Failed { prompt, answer, error, usage, retry_at } => {
                    let (state, finished) = if retry_at.is_some() { ("pending", None) } else { ("failed", Some(now)) };
                    tx.execute(
                        "UPDATE llm_requests SET state = ?2, error = ?3, prompt = COALESCE(?4, prompt), answer = COALESCE(?5, answer), \
                         prompt_tokens = prompt_tokens + ?6, completion_tokens = completion_tokens + ?7, attempts = attempts + 1, \
                         finished_at = ?8 WHERE id = ?1",
                        params![
                            id,
                            state,
                            error,
                            prompt.as_ref().map(|p| p.to_string()),
                            answer,
                            usage.prompt_tokens,
                            usage.completion_tokens,
                            finished
                        ],
                    )?;
                    if let Some(at) = retry_at {
                        insert_job(tx, &NewJob::llm_suggest(req.owner_id, req.document_id, id, Some(*at)), now)?;
                    }
                }
                LlmOutcome::Later { at } => {
                    insert_job(tx, &NewJob::llm_suggest(req.owner_id, req.document_id, id, Some(*at)), now)?;
                }
                LlmOutcome::Skipped { error } => {
                    tx.execute(
                        "UPDATE llm_requests SET state = 'skipped', error = ?2, finished_at = ?3 WHERE id = ?1",
                        params![id, error, now],
                    )?;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn dismiss_llm(&self, owner: Id, document_id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            load_document(tx, owner, document_id)?;
            tx.execute(
                "UPDATE llm_requests SET dismissed_at = ?3 WHERE document_id = ?1 AND owner_id = ?2 AND state != 'pending' AND dismissed_at IS NULL",
                params![document_id, owner, now_millis()],
            )?;
            Ok(())
        })
        .await
    }
}
