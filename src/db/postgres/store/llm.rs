//! Language-model requests (#23).

use super::documents::edit_document;
use super::*;
use crate::domain::llm::{self, Ask, LlmAsk, LlmOutcome, LlmRequest, Mode, Suggestion};

const COLS: &str = "id, owner_id, document_id, origin, workflow_name, mode, fields, state, error, model, prompt, answer, \
                    suggestions, dropped, applied, prompt_tokens, completion_tokens, attempts, created_at, finished_at, dismissed_at";

fn json_col<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

fn request_from(r: &Row) -> DomainResult<LlmRequest> {
    let mode: String = col(r, 5)?;
    Ok(LlmRequest {
        id: col(r, 0)?,
        owner_id: col(r, 1)?,
        document_id: col(r, 2)?,
        origin: col(r, 3)?,
        workflow_name: col(r, 4)?,
        mode: if mode == "apply" { Mode::Apply } else { Mode::Suggest },
        fields: json_col::<Vec<Ask>>(col(r, 6)?),
        state: col(r, 7)?,
        error: col(r, 8)?,
        model: col(r, 9)?,
        prompt: col::<Option<String>>(r, 10)?.and_then(|s| serde_json::from_str(&s).ok()),
        answer: col(r, 11)?,
        suggestions: json_col(col(r, 12)?),
        dropped: json_col(col(r, 13)?),
        applied: json_col(col(r, 14)?),
        prompt_tokens: col(r, 15)?,
        completion_tokens: col(r, 16)?,
        attempts: col(r, 17)?,
        created_at: col(r, 18)?,
        finished_at: col(r, 19)?,
        dismissed_at: col(r, 20)?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> DomainResult<String> {
    serde_json::to_string(v).map_err(|e| DomainError::database(e.to_string()))
}

/// A request and its job (a workflow run's, or a user's when `run` is None).
pub(super) async fn insert_request<C: GenericClient>(
    tx: &C,
    owner: Id,
    document_id: Id,
    run: Option<(Id, &str)>,
    ask: &LlmAsk,
    now: Millis,
) -> DomainResult<Id> {
    let origin = if run.is_some() { "workflow" } else { "user" };
    let (run_id, name) = (run.map(|r| r.0), run.map(|r| r.1));
    let row = query_one(
        tx,
        "INSERT INTO llm_requests (owner_id, document_id, run_id, origin, workflow_name, mode, fields, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[&owner, &document_id, &run_id, &origin, &name, &ask.mode.as_str(), &to_json(&ask.fields)?, &now],
    )
    .await?;
    let id: Id = col(&row, 0)?;
    insert_job(tx, &NewJob::llm_suggest(owner, document_id, id, None), now).await?;
    Ok(id)
}

async fn load<C: GenericClient>(c: &C, id: Id, lock: bool) -> DomainResult<Option<LlmRequest>> {
    let sql = format!("SELECT {COLS} FROM llm_requests WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    query_opt(c, &sql, &[&id]).await?.map(|r| request_from(&r)).transpose()
}

/// The suggestions whose correspondent, type, tag or field still exists (one deleted since the
/// answer is left out rather than failing the edit).
async fn still_there<C: GenericClient>(c: &C, owner: Id, items: &[Suggestion]) -> DomainResult<Vec<Suggestion>> {
    let mut out = Vec::new();
    for s in items {
        let Some(table) = s.table() else {
            out.push(s.clone());
            continue;
        };
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1 AND owner_id = $2)");
        let found: bool = col(&query_one(c, &sql, &[&s.target_id, &owner]).await?, 0)?;
        if found {
            out.push(s.clone());
        }
    }
    Ok(out)
}

#[async_trait]
impl LlmStore for PgStore {
    async fn ask_llm(&self, owner: Id, document_id: Id, ask: &LlmAsk) -> DomainResult<LlmRequest> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        // The document's row is locked so two clicks cannot both find nothing pending.
        exec(&tx, "SELECT 1 FROM documents WHERE id = $1 AND owner_id = $2 FOR UPDATE", &[&document_id, &owner]).await?;
        let doc = load_document(&tx, owner, document_id).await?;
        if doc.trashed_at.is_some() {
            return Err(DomainError::not_found(format!("document {document_id}")));
        }
        exec(
            &tx,
            "UPDATE llm_requests SET state = 'failed', error = $2, finished_at = $3 WHERE document_id = $1 AND state = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = 'llm_suggest:' || llm_requests.id AND j.state IN ('queued', 'running'))",
            &[&document_id, &llm::STOPPED, &now_millis()],
        )
        .await?;
        let pending: bool = col(
            &query_one(&tx, "SELECT EXISTS (SELECT 1 FROM llm_requests WHERE document_id = $1 AND state = 'pending')", &[&document_id])
                .await?,
            0,
        )?;
        if pending {
            return Err(DomainError::Conflict(format!("the language model is already being asked about document {document_id}")));
        }
        let id = insert_request(&tx, owner, document_id, None, ask, now_millis()).await?;
        let req = load(&tx, id, false).await?.ok_or_else(|| DomainError::database("the request just written is gone"))?;
        Self::commit(tx, &[], true).await?;
        Ok(req)
    }

    async fn llm_request(&self, id: Id) -> DomainResult<Option<LlmRequest>> {
        let c = self.client().await?;
        load(&c, id, false).await
    }

    async fn llm_requests(&self, owner: Id, document_id: Id, limit: usize) -> DomainResult<Vec<LlmRequest>> {
        let c = self.client().await?;
        load_document(&c, owner, document_id).await?;
        let rows = query(
            &c,
            &format!("SELECT {COLS} FROM llm_requests WHERE document_id = $1 AND owner_id = $2 ORDER BY id DESC LIMIT $3"),
            &[&document_id, &owner, &(limit as i64)],
        )
        .await?;
        rows.iter().map(request_from).collect()
    }

    async fn llm_tokens_since(&self, owner: Id, since: Millis) -> DomainResult<i64> {
        let c = self.client().await?;
        let row = query_one(
            &c,
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM llm_requests WHERE owner_id = $1 AND created_at >= $2",
            &[&owner, &since],
        )
        .await?;
        col(&row, 0)
    }

    async fn finish_llm(&self, lease: &Lease, id: Id, outcome: &LlmOutcome) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let mut events = Vec::new();
        let mut jobs = false;
        let req = load(&tx, id, true).await?;
        if let Some(req) = req.filter(|r| r.state == "pending") {
            match outcome {
                LlmOutcome::Answered { model, prompt, answer, suggestions, dropped, usage } => {
                    let mut applied = Vec::new();
                    if req.mode == Mode::Apply && !suggestions.is_empty() {
                        let doc = load_document(&tx, req.owner_id, req.document_id).await?;
                        if doc.trashed_at.is_none() {
                            applied = still_there(&tx, req.owner_id, suggestions).await?;
                            let (patch, tags) = llm::patch(&applied);
                            let why = serde_json::json!({"request": id, "model": model, "workflow": req.workflow_name});
                            let by = metadata::EditedBy { actor_id: None, action: metadata::actions::LLM, why: Some(("llm", why)) };
                            edit_document(&tx, &doc, &patch, (&tags, &[]), &by, &mut events).await?;
                        }
                    }
                    exec(
                        &tx,
                        "UPDATE llm_requests SET state = 'done', error = NULL, model = $2, prompt = $3, answer = $4, suggestions = $5, \
                         dropped = $6, applied = $7, prompt_tokens = prompt_tokens + $8, completion_tokens = completion_tokens + $9, \
                         attempts = attempts + 1, finished_at = $10 WHERE id = $1",
                        &[
                            &id,
                            model,
                            &prompt.to_string(),
                            answer,
                            &to_json(suggestions)?,
                            &to_json(dropped)?,
                            &to_json(&applied)?,
                            &usage.prompt_tokens,
                            &usage.completion_tokens,
                            &now,
                        ],
                    )
                    .await?;
                }
                LlmOutcome::Failed { prompt, answer, error, usage, retry_at } => {
                    let (state, finished) = if retry_at.is_some() { ("pending", None) } else { ("failed", Some(now)) };
                    exec(
                        &tx,
                        "UPDATE llm_requests SET state = $2, error = $3, prompt = COALESCE($4, prompt), answer = COALESCE($5, answer), \
                         prompt_tokens = prompt_tokens + $6, completion_tokens = completion_tokens + $7, attempts = attempts + 1, \
                         finished_at = $8 WHERE id = $1",
                        &[
                            &id,
                            &state,
                            error,
                            &prompt.as_ref().map(|p| p.to_string()),
                            answer,
                            &usage.prompt_tokens,
                            &usage.completion_tokens,
                            &finished,
                        ],
                    )
                    .await?;
                    if let Some(at) = retry_at {
                        insert_job(&tx, &NewJob::llm_suggest(req.owner_id, req.document_id, id, Some(*at)), now).await?;
                        jobs = true;
                    }
                }
                LlmOutcome::Later { at } => {
                    insert_job(&tx, &NewJob::llm_suggest(req.owner_id, req.document_id, id, Some(*at)), now).await?;
                    jobs = true;
                }
                LlmOutcome::Skipped { error } => {
                    exec(&tx, "UPDATE llm_requests SET state = 'skipped', error = $2, finished_at = $3 WHERE id = $1", &[&id, error, &now])
                        .await?;
                }
            }
        }
        Self::commit(tx, &events, jobs).await?;
        Ok(true)
    }

    async fn dismiss_llm(&self, owner: Id, document_id: Id) -> DomainResult<()> {
        let c = self.client().await?;
        load_document(&c, owner, document_id).await?;
        exec(
            &c,
            "UPDATE llm_requests SET dismissed_at = $3 WHERE document_id = $1 AND owner_id = $2 AND state != 'pending' AND dismissed_at IS NULL",
            &[&document_id, &owner, &now_millis()],
        )
        .await?;
        Ok(())
    }
}
