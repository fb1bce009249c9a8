//! Workflows, their runs and deliveries (#23).

use super::documents::edit_document;
use super::matching::text_of;
use super::metadata_store::{note_changed, owner_fields};
use super::*;
use crate::domain::workflows::{
    Attempt, DateBase, DeliveryView, Facts, PendingDelivery, Plan, Refs, Source, Step, Trigger, Workflow, WorkflowRun, WorkflowSpec,
};

const WORKFLOW_COLS: &str = "w.id, w.owner_id, w.spec, w.created_at, w.updated_at";

fn workflow_from(r: &Row<'_>) -> rusqlite::Result<Workflow> {
    let spec: String = r.get(2)?;
    let spec: WorkflowSpec =
        serde_json::from_str(&spec).map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Workflow { id: r.get(0)?, owner_id: r.get(1)?, spec, created_at: r.get(3)?, updated_at: r.get(4)? })
}

fn load_workflow(c: &Connection, owner: Id, id: Id) -> DomainResult<Workflow> {
    c.prepare_cached(&format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.id = ?1 AND w.owner_id = ?2"))?
        .query_row(params![id, owner], workflow_from)
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("workflow {id}")))
}

fn name_taken(name: &str) -> DomainError {
    DomainError::Conflict(format!("a workflow named {name:?} already exists"))
}

/// Every id the workflow names is the owner's (NotFound names the first that is not).
fn refs_owned(c: &Connection, owner: Id, refs: &Refs) -> DomainResult<()> {
    for (table, what, ids) in refs.by_table() {
        for id in ids {
            let found: bool = c
                .prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND owner_id = ?2)"))?
                .query_row(params![id, owner], |r| r.get(0))?;
            if !found {
                return Err(DomainError::not_found(format!("{what} {id}")));
            }
        }
    }
    Ok(())
}

fn spec_json(spec: &WorkflowSpec) -> DomainResult<String> {
    serde_json::to_string(spec).map_err(|e| DomainError::database(e.to_string()))
}

const DELIVERY_COLS: &str =
    "id, run_id, kind, target, message_id, state, attempts, last_status, last_error, next_attempt_at, delivered_at, created_at";

fn delivery_from(r: &Row<'_>) -> rusqlite::Result<DeliveryView> {
    Ok(DeliveryView {
        id: r.get(0)?,
        run_id: r.get(1)?,
        kind: r.get(2)?,
        target: r.get(3)?,
        message_id: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        next_attempt_at: r.get(9)?,
        delivered_at: r.get(10)?,
        created_at: r.get(11)?,
    })
}

fn new_message_id() -> String {
    use rand::Rng;
    let s: String = rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(24).map(char::from).collect();
    format!("msg_{s}")
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn workflows(&self, owner: Id) -> DomainResult<Vec<Workflow>> {
        self.read(move |c| {
            let out = c
                .prepare_cached(&format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.owner_id = ?1 ORDER BY w.position, w.id"))?
                .query_map(params![owner], workflow_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn workflow(&self, owner: Id, id: Id) -> DomainResult<Workflow> {
        self.read(move |c| load_workflow(c, owner, id)).await
    }

    async fn create_workflow(&self, owner: Id, spec: &WorkflowSpec) -> DomainResult<Workflow> {
        let spec = spec.clone();
        self.write(move |tx| {
            refs_owned(tx, owner, &spec.refs())?;
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM workflows WHERE owner_id = ?1", params![owner], |r| r.get(0))?;
            if n as usize >= crate::domain::workflows::MAX_WORKFLOWS {
                return Err(DomainError::Invalid(format!("at most {} workflows", crate::domain::workflows::MAX_WORKFLOWS)));
            }
            let now = now_millis();
            let res = tx.execute(
                "INSERT INTO workflows (owner_id, name, position, enabled, trigger, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![owner, spec.name, spec.position, spec.enabled, spec.trigger.kind(), spec_json(&spec)?, now],
            );
            match res {
                Err(e) if is_unique_violation(&e) => return Err(name_taken(&spec.name)),
                r => r?,
            };
            load_workflow(tx, owner, tx.last_insert_rowid())
        })
        .await
    }

    async fn update_workflow(&self, owner: Id, id: Id, spec: &WorkflowSpec) -> DomainResult<Workflow> {
        let spec = spec.clone();
        self.write(move |tx| {
            load_workflow(tx, owner, id)?;
            refs_owned(tx, owner, &spec.refs())?;
            let res = tx.execute(
                "UPDATE workflows SET name = ?3, position = ?4, enabled = ?5, trigger = ?6, spec = ?7, updated_at = ?8 WHERE id = ?1 AND owner_id = ?2",
                params![id, owner, spec.name, spec.position, spec.enabled, spec.trigger.kind(), spec_json(&spec)?, now_millis()],
            );
            match res {
                Err(e) if is_unique_violation(&e) => return Err(name_taken(&spec.name)),
                r => r?,
            };
            load_workflow(tx, owner, id)
        })
        .await
    }

    async fn delete_workflow(&self, owner: Id, id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            load_workflow(tx, owner, id)?;
            tx.execute("DELETE FROM workflows WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn workflow_facts(&self, owner: Id, document_id: Id) -> DomainResult<Facts> {
        self.read(move |c| {
            let doc = load_document(c, owner, document_id)?;
            let text = text_of(c, doc.version.id)?;
            let source: Option<String> = c.query_row("SELECT source FROM documents WHERE id = ?1", params![document_id], |r| r.get(0))?;
            let folder_path = c
                .prepare_cached(
                    "WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM folders WHERE id = ?1 \
                     UNION ALL SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id) SELECT id FROM up",
                )?
                .query_map(params![doc.folder_id], |r| r.get(0))?
                .collect::<Result<Vec<Id>, _>>()?;
            let fields = owner_fields(c, owner)?;
            Ok(Facts { doc, text, source: source.as_deref().and_then(Source::parse), folder_path, fields })
        })
        .await
    }

    async fn apply_workflow(&self, owner: Id, run: &NewRun, plan: &Plan) -> DomainResult<Option<Id>> {
        let (run, plan) = (run.clone(), plan.clone());
        self.write(move |tx| {
            let now = now_millis();
            let steps = serde_json::to_string(&plan.steps).map_err(|e| DomainError::database(e.to_string()))?;
            let run_id: Option<Id> = tx
                .prepare_cached(
                    "INSERT INTO workflow_runs (owner_id, workflow_id, workflow_name, document_id, trigger, event_key, outcome, steps, error, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING RETURNING id",
                )?
                .query_row(
                    params![owner, run.workflow_id, run.workflow_name, run.document_id, run.trigger, run.event_key, run.outcome, steps, run.error, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(run_id) = run_id else { return Ok(None) };
            if run.outcome != "applied" {
                return Ok(Some(run_id));
            }
            let doc = load_document(tx, owner, run.document_id)?;
            if doc.trashed_at.is_some() {
                return Ok(Some(run_id));
            }
            let by = metadata::EditedBy {
                actor_id: None,
                action: metadata::actions::WORKFLOW,
                why: Some(("workflow", serde_json::json!({"id": run.workflow_id, "name": run.workflow_name}))),
            };
            let (doc, _) = edit_document(tx, &doc, &plan.patch, (&plan.add_tags, &plan.remove_tags), &by)?;
            for body in &plan.notes {
                tx.execute(
                    "INSERT INTO notes (document_id, author_id, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![doc.id, owner, body, now],
                )?;
                let note = tx.last_insert_rowid();
                let changes = serde_json::json!({"note": note, "text": body, "workflow": {"id": run.workflow_id, "name": run.workflow_name}});
                note_changed(tx, &doc, metadata::NewHistory { document_id: doc.id, actor_id: None, action: metadata::actions::NOTE_ADDED, changes })?;
            }
            for d in &plan.deliveries {
                let file = d.request.get("file").and_then(|f| f.get("sha256")).and_then(|s| s.as_str()).map(str::to_string);
                tx.prepare_cached(
                    "INSERT INTO workflow_deliveries (owner_id, run_id, kind, target, message_id, request, file_sha256, state, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)",
                )?
                .execute(params![owner, run_id, d.kind, d.target, new_message_id(), d.request.to_string(), file, now])?;
                let id = tx.last_insert_rowid();
                insert_job(tx, &NewJob::deliver(owner, id, None), now)?;
            }
            for ask in &plan.asks {
                super::llm::insert_request(tx, owner, doc.id, Some((run_id, &run.workflow_name)), ask, now)?;
            }
            if plan.trash
                && let Some(trashed) = lifecycle::trash(&doc)
            {
                tx.execute("UPDATE documents SET trashed_at = ?2, updated_at = ?2 WHERE id = ?1", params![doc.id, now])?;
                tx.emit(&trashed)?;
            }
            Ok(Some(run_id))
        })
        .await
    }

    async fn workflow_runs(
        &self,
        owner: Id,
        workflow: Option<Id>,
        document: Option<Id>,
        page: PageReq,
    ) -> DomainResult<Paged<WorkflowRun>> {
        self.read(move |c| {
            let cond = "owner_id = ?1 AND (?2 IS NULL OR workflow_id = ?2) AND (?3 IS NULL OR document_id = ?3)";
            let total: i64 =
                c.query_row(&format!("SELECT COUNT(*) FROM workflow_runs WHERE {cond}"), params![owner, workflow, document], |r| r.get(0))?;
            let mut runs = c
                .prepare_cached(&format!(
                    "SELECT id, workflow_id, workflow_name, document_id, trigger, outcome, steps, error, created_at FROM workflow_runs \
                     WHERE {cond} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
                ))?
                .query_map(params![owner, workflow, document, page.limit(), page.offset()], |r| {
                    let steps: String = r.get(6)?;
                    Ok(WorkflowRun {
                        id: r.get(0)?,
                        workflow_id: r.get(1)?,
                        workflow_name: r.get(2)?,
                        document_id: r.get(3)?,
                        trigger: r.get(4)?,
                        outcome: r.get(5)?,
                        steps: serde_json::from_str::<Vec<Step>>(&steps).unwrap_or_default(),
                        error: r.get(7)?,
                        created_at: r.get(8)?,
                        deliveries: Vec::new(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut st = c.prepare_cached(&format!("SELECT {DELIVERY_COLS} FROM workflow_deliveries WHERE run_id = ?1 ORDER BY id"))?;
            for run in &mut runs {
                run.deliveries = st.query_map(params![run.id], delivery_from)?.collect::<Result<Vec<_>, _>>()?;
            }
            Ok(Paged { truncated: false, items: runs, total, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn delivery(&self, id: Id) -> DomainResult<Option<PendingDelivery>> {
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!("SELECT {DELIVERY_COLS}, owner_id, request FROM workflow_deliveries WHERE id = ?1"))?
                .query_row(params![id], |r| Ok((delivery_from(r)?, r.get::<_, Id>(12)?, r.get::<_, String>(13)?)))
                .optional()?;
            Ok(row.map(|(view, owner_id, request)| PendingDelivery {
                view,
                owner_id,
                request: serde_json::from_str(&request).unwrap_or_default(),
            }))
        })
        .await
    }

    async fn record_attempt(&self, lease: &Lease, id: Id, attempt: &Attempt) -> DomainResult<bool> {
        let (lease, attempt) = (lease.clone(), attempt.clone());
        self.write(move |tx| {
            let now = now_millis();
            if !complete_in(tx, &lease, now)? {
                return Ok(false);
            }
            let owner: Option<Id> = tx
                .query_row("SELECT owner_id FROM workflow_deliveries WHERE id = ?1 AND state = 'pending'", params![id], |r| r.get(0))
                .optional()?;
            let Some(owner) = owner else { return Ok(true) };
            match &attempt {
                Attempt::Delivered { status } => {
                    tx.execute(
                        "UPDATE workflow_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?2, last_error = NULL, \
                         next_attempt_at = NULL, delivered_at = ?3, updated_at = ?3 WHERE id = ?1",
                        params![id, status, now],
                    )?;
                }
                Attempt::Failed { status, error, retry_at } => {
                    let state = if retry_at.is_some() { "pending" } else { "failed" };
                    tx.execute(
                        "UPDATE workflow_deliveries SET state = ?2, attempts = attempts + 1, last_status = ?3, last_error = ?4, \
                         next_attempt_at = ?5, updated_at = ?6 WHERE id = ?1",
                        params![id, state, status, error, retry_at, now],
                    )?;
                    if let Some(at) = retry_at {
                        insert_job(tx, &NewJob::deliver(owner, id, Some(*at)), now)?;
                    }
                }
            }
            Ok(true)
        })
        .await
    }

    async fn retry_delivery(&self, owner: Id, id: Id) -> DomainResult<DeliveryView> {
        self.write(move |tx| {
            let state: Option<String> = tx
                .query_row("SELECT state FROM workflow_deliveries WHERE id = ?1 AND owner_id = ?2", params![id, owner], |r| r.get(0))
                .optional()?;
            match state.as_deref() {
                None => return Err(DomainError::not_found(format!("delivery {id}"))),
                Some("failed") => {}
                Some(s) => return Err(DomainError::Conflict(format!("delivery {id} is {s}; only a failed one is tried again"))),
            }
            let now = now_millis();
            tx.execute(
                "UPDATE workflow_deliveries SET state = 'pending', next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            insert_job(tx, &NewJob::deliver(owner, id, None), now)?;
            let v = tx.query_row(&format!("SELECT {DELIVERY_COLS} FROM workflow_deliveries WHERE id = ?1"), params![id], delivery_from)?;
            Ok(v)
        })
        .await
    }

    async fn scheduled_due(&self, today: chrono::NaiveDate, limit: usize) -> DomainResult<Vec<(Id, Id, Id)>> {
        self.read(move |c| {
            let scheduled = c
                .prepare_cached(&format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.trigger = 'scheduled' AND w.enabled = 1 ORDER BY w.id"))?
                .query_map([], workflow_from)?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for w in scheduled {
                let Trigger::Scheduled { base, field_id, offset_days } = w.spec.trigger else { continue };
                let Some(cutoff) = today.checked_sub_signed(chrono::Duration::days(offset_days as i64)) else { continue };
                let (cond, arg): (&str, rusqlite::types::Value) = match base {
                    // ?5 is the field (only in the last case).
                    DateBase::Created => ("d.document_date <= ?3", cutoff.to_string().into()),
                    DateBase::Added => {
                        let end = cutoff.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0);
                        ("d.created_at < ?3", end.into())
                    }
                    DateBase::Field => (
                        "EXISTS (SELECT 1 FROM document_fields f WHERE f.document_id = d.id AND f.field_id = ?5 AND f.txt <= ?3)",
                        cutoff.to_string().into(),
                    ),
                };
                let left = limit.saturating_sub(out.len());
                if left == 0 {
                    break;
                }
                let ids = c
                    .prepare_cached(&format!(
                        "SELECT d.id FROM documents d WHERE d.owner_id = ?1 AND d.trashed_at IS NULL AND d.state = 'ready' AND {cond} \
                         AND NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.workflow_id = ?2 AND r.document_id = d.id AND r.event_key = 'scheduled') \
                         ORDER BY d.id LIMIT ?4"
                    ))?
                    .query_map(
                        params_from_iter(
                            [w.owner_id.into(), w.id.into(), arg, (left as i64).into()].into_iter().chain(field_id.map(Into::into)),
                        ),
                        |r| r.get::<_, Id>(0),
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                out.extend(ids.into_iter().map(|d| (w.owner_id, w.id, d)));
            }
            Ok(out)
        })
        .await
    }

    async fn prune_runs(&self, before: Millis) -> DomainResult<u64> {
        self.write(move |tx| {
            // A scheduled run is the record that it ran: it stays while its workflow does.
            let n = tx.execute(
                "DELETE FROM workflow_runs WHERE created_at < ?1 AND (event_key != 'scheduled' OR workflow_id IS NULL) \
                 AND NOT EXISTS (SELECT 1 FROM workflow_deliveries x WHERE x.run_id = workflow_runs.id AND x.state = 'pending')",
                params![before],
            )?;
            // Language-model requests (they hold a copy of the document's text) go with them.
            tx.execute("DELETE FROM llm_requests WHERE created_at < ?1 AND state != 'pending'", params![before])?;
            Ok(n as u64)
        })
        .await
    }
}
