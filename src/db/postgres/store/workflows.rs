//! Workflows, their runs and deliveries (#23).

use super::documents::edit_document;
use super::matching::text_of;
use super::metadata_store::{note_changed, owner_fields};
use super::*;
use crate::domain::workflows::{
    Attempt, DateBase, DeliveryView, Facts, PendingDelivery, Plan, Refs, Source, Step, Trigger, Workflow, WorkflowRun, WorkflowSpec,
};

const WORKFLOW_COLS: &str = "w.id, w.owner_id, w.spec, w.created_at, w.updated_at";

fn workflow_from(r: &Row) -> DomainResult<Workflow> {
    let spec: String = col(r, 2)?;
    let spec: WorkflowSpec =
        serde_json::from_str(&spec).map_err(|e| DomainError::database(format!("a stored workflow does not parse: {e}")))?;
    Ok(Workflow { id: col(r, 0)?, owner_id: col(r, 1)?, spec, created_at: col(r, 3)?, updated_at: col(r, 4)? })
}

async fn load_workflow<C: GenericClient>(c: &C, owner: Id, id: Id) -> DomainResult<Workflow> {
    match query_opt(c, &format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.id = $1 AND w.owner_id = $2"), &[&id, &owner]).await? {
        Some(r) => workflow_from(&r),
        None => Err(DomainError::not_found(format!("workflow {id}"))),
    }
}

fn name_taken(name: &str) -> String {
    format!("a workflow named {name:?} already exists")
}

/// Every id the workflow names is the owner's (NotFound names the first that is not).
async fn refs_owned<C: GenericClient>(c: &C, owner: Id, refs: &Refs) -> DomainResult<()> {
    for (table, what, ids) in refs.by_table() {
        for id in ids {
            let found: bool = col(
                &query_one(c, &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1 AND owner_id = $2)"), &[id, &owner]).await?,
                0,
            )?;
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

fn delivery_from(r: &Row) -> DomainResult<DeliveryView> {
    Ok(DeliveryView {
        id: col(r, 0)?,
        run_id: col(r, 1)?,
        kind: col(r, 2)?,
        target: col(r, 3)?,
        message_id: col(r, 4)?,
        state: col(r, 5)?,
        attempts: col(r, 6)?,
        last_status: col(r, 7)?,
        last_error: col(r, 8)?,
        next_attempt_at: col(r, 9)?,
        delivered_at: col(r, 10)?,
        created_at: col(r, 11)?,
    })
}

fn new_message_id() -> String {
    use rand::Rng;
    let s: String = rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(24).map(char::from).collect();
    format!("msg_{s}")
}

#[async_trait]
impl WorkflowStore for PgStore {
    async fn workflows(&self, owner: Id) -> DomainResult<Vec<Workflow>> {
        let c = self.client().await?;
        query(&c, &format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.owner_id = $1 ORDER BY w.position, w.id"), &[&owner])
            .await?
            .iter()
            .map(workflow_from)
            .collect()
    }

    async fn workflow(&self, owner: Id, id: Id) -> DomainResult<Workflow> {
        let c = self.client().await?;
        load_workflow(&c, owner, id).await
    }

    async fn create_workflow(&self, owner: Id, spec: &WorkflowSpec) -> DomainResult<Workflow> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        refs_owned(&tx, owner, &spec.refs()).await?;
        let n: i64 = col(&query_one(&tx, "SELECT COUNT(*) FROM workflows WHERE owner_id = $1", &[&owner]).await?, 0)?;
        if n as usize >= crate::domain::workflows::MAX_WORKFLOWS {
            return Err(DomainError::Invalid(format!("at most {} workflows", crate::domain::workflows::MAX_WORKFLOWS)));
        }
        let now = now_millis();
        let row = try_query_one(
            &tx,
            "INSERT INTO workflows (owner_id, name, position, enabled, trigger, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            &[&owner, &spec.name, &spec.position, &spec.enabled, &spec.trigger.kind(), &spec_json(spec)?, &now],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken(&spec.name)))?;
        let id: Id = col(&row, 0)?;
        let w = load_workflow(&tx, owner, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(w)
    }

    async fn update_workflow(&self, owner: Id, id: Id, spec: &WorkflowSpec) -> DomainResult<Workflow> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_workflow(&tx, owner, id).await?;
        refs_owned(&tx, owner, &spec.refs()).await?;
        try_exec(
            &tx,
            "UPDATE workflows SET name = $3, position = $4, enabled = $5, trigger = $6, spec = $7, updated_at = $8 WHERE id = $1 AND owner_id = $2",
            &[&id, &owner, &spec.name, &spec.position, &spec.enabled, &spec.trigger.kind(), &spec_json(spec)?, &now_millis()],
        )
        .await
        .map_err(|e| conflict_or_db(e, || name_taken(&spec.name)))?;
        let w = load_workflow(&tx, owner, id).await?;
        Self::commit(tx, &[], false).await?;
        Ok(w)
    }

    async fn delete_workflow(&self, owner: Id, id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        load_workflow(&tx, owner, id).await?;
        exec(&tx, "DELETE FROM workflows WHERE id = $1", &[&id]).await?;
        Self::commit(tx, &[], false).await
    }

    async fn workflow_facts(&self, owner: Id, document_id: Id) -> DomainResult<Facts> {
        let c = self.client().await?;
        let doc = load_document(&c, owner, document_id).await?;
        let text = text_of(&c, doc.version.id).await?;
        let source: Option<String> = col(&query_one(&c, "SELECT source FROM documents WHERE id = $1", &[&document_id]).await?, 0)?;
        let folder_path = query(
            &c,
            "WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM folders WHERE id = $1 \
             UNION ALL SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id) SELECT id FROM up",
            &[&doc.folder_id],
        )
        .await?
        .iter()
        .map(|r| col::<Id>(r, 0))
        .collect::<DomainResult<Vec<_>>>()?;
        let fields = owner_fields(&c, owner).await?;
        Ok(Facts { doc, text, source: source.as_deref().and_then(Source::parse), folder_path, fields })
    }

    async fn apply_workflow(&self, owner: Id, run: &NewRun, plan: &Plan) -> DomainResult<Option<Id>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let steps = serde_json::to_string(&plan.steps).map_err(|e| DomainError::database(e.to_string()))?;
        let row = query_opt(
            &tx,
            "INSERT INTO workflow_runs (owner_id, workflow_id, workflow_name, document_id, trigger, event_key, outcome, steps, error, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING id",
            &[&owner, &run.workflow_id, &run.workflow_name, &run.document_id, &run.trigger, &run.event_key, &run.outcome, &steps, &run.error, &now],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let run_id: Id = col(&row, 0)?;
        let mut events = Vec::new();
        let mut jobs = false;
        if run.outcome == "applied" {
            let doc = load_document(&tx, owner, run.document_id).await?;
            if doc.trashed_at.is_none() {
                let by = metadata::EditedBy {
                    actor_id: None,
                    action: metadata::actions::WORKFLOW,
                    why: Some(("workflow", serde_json::json!({"id": run.workflow_id, "name": run.workflow_name}))),
                };
                let (doc, _) = edit_document(&tx, &doc, &plan.patch, (&plan.add_tags, &plan.remove_tags), &by, &mut events).await?;
                for body in &plan.notes {
                    let note: Id = col(
                        &query_one(
                            &tx,
                            "INSERT INTO notes (document_id, author_id, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                            &[&doc.id, &owner, body, &now],
                        )
                        .await?,
                        0,
                    )?;
                    let changes =
                        serde_json::json!({"note": note, "text": body, "workflow": {"id": run.workflow_id, "name": run.workflow_name}});
                    let h = metadata::NewHistory { document_id: doc.id, actor_id: None, action: metadata::actions::NOTE_ADDED, changes };
                    events.push(note_changed(&tx, &doc, h).await?);
                }
                for d in &plan.deliveries {
                    let file = d.request.get("file").and_then(|f| f.get("sha256")).and_then(|s| s.as_str()).map(str::to_string);
                    let id: Id = col(
                        &query_one(
                            &tx,
                            "INSERT INTO workflow_deliveries (owner_id, run_id, kind, target, message_id, request, file_sha256, state, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) RETURNING id",
                            &[&owner, &run_id, &d.kind, &d.target, &new_message_id(), &d.request.to_string(), &file, &now],
                        )
                        .await?,
                        0,
                    )?;
                    insert_job(&tx, &NewJob::deliver(owner, id, None), now).await?;
                    jobs = true;
                }
                for ask in &plan.asks {
                    super::llm::insert_request(&tx, owner, doc.id, Some((run_id, &run.workflow_name)), ask, now).await?;
                    jobs = true;
                }
                if plan.trash
                    && let Some(trashed) = lifecycle::trash(&doc)
                {
                    exec(&tx, "UPDATE documents SET trashed_at = $2, updated_at = $2 WHERE id = $1", &[&doc.id, &now]).await?;
                    events.push(trashed);
                }
            }
        }
        Self::commit(tx, &events, jobs).await?;
        Ok(Some(run_id))
    }

    async fn workflow_runs(
        &self,
        owner: Id,
        workflow: Option<Id>,
        document: Option<Id>,
        page: PageReq,
    ) -> DomainResult<Paged<WorkflowRun>> {
        let c = self.client().await?;
        let cond = "owner_id = $1 AND ($2::bigint IS NULL OR workflow_id = $2) AND ($3::bigint IS NULL OR document_id = $3)";
        let total: i64 =
            col(&query_one(&c, &format!("SELECT COUNT(*) FROM workflow_runs WHERE {cond}"), &[&owner, &workflow, &document]).await?, 0)?;
        let rows = query(
            &c,
            &format!(
                "SELECT id, workflow_id, workflow_name, document_id, trigger, outcome, steps, error, created_at FROM workflow_runs \
                 WHERE {cond} ORDER BY id DESC LIMIT $4 OFFSET $5"
            ),
            &[&owner, &workflow, &document, &page.limit(), &page.offset()],
        )
        .await?;
        let mut runs = Vec::new();
        for r in rows {
            let steps: String = col(&r, 6)?;
            let id: Id = col(&r, 0)?;
            let deliveries = query(&c, &format!("SELECT {DELIVERY_COLS} FROM workflow_deliveries WHERE run_id = $1 ORDER BY id"), &[&id])
                .await?
                .iter()
                .map(delivery_from)
                .collect::<DomainResult<Vec<_>>>()?;
            runs.push(WorkflowRun {
                id,
                workflow_id: col(&r, 1)?,
                workflow_name: col(&r, 2)?,
                document_id: col(&r, 3)?,
                trigger: col(&r, 4)?,
                outcome: col(&r, 5)?,
                steps: serde_json::from_str::<Vec<Step>>(&steps).unwrap_or_default(),
                error: col(&r, 7)?,
                created_at: col(&r, 8)?,
                deliveries,
            });
        }
        Ok(Paged { truncated: false, items: runs, total, page: page.page, page_size: page.page_size })
    }

    async fn delivery(&self, id: Id) -> DomainResult<Option<PendingDelivery>> {
        let c = self.client().await?;
        let row =
            query_opt(&c, &format!("SELECT {DELIVERY_COLS}, owner_id, request FROM workflow_deliveries WHERE id = $1"), &[&id]).await?;
        row.map(|r| -> DomainResult<PendingDelivery> {
            let request: String = col(&r, 13)?;
            Ok(PendingDelivery {
                view: delivery_from(&r)?,
                owner_id: col(&r, 12)?,
                request: serde_json::from_str(&request).unwrap_or_default(),
            })
        })
        .transpose()
    }

    async fn record_attempt(&self, lease: &Lease, id: Id, attempt: &Attempt) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let owner =
            query_opt(&tx, "SELECT owner_id FROM workflow_deliveries WHERE id = $1 AND state = 'pending' FOR UPDATE", &[&id]).await?;
        let mut jobs = false;
        if let Some(owner) = owner {
            let owner: Id = col(&owner, 0)?;
            match attempt {
                Attempt::Delivered { status } => {
                    exec(
                        &tx,
                        "UPDATE workflow_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL, \
                         next_attempt_at = NULL, delivered_at = $3, updated_at = $3 WHERE id = $1",
                        &[&id, status, &now],
                    )
                    .await?;
                }
                Attempt::Failed { status, error, retry_at } => {
                    let state = if retry_at.is_some() { "pending" } else { "failed" };
                    exec(
                        &tx,
                        "UPDATE workflow_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, \
                         next_attempt_at = $5, updated_at = $6 WHERE id = $1",
                        &[&id, &state, status, error, retry_at, &now],
                    )
                    .await?;
                    if let Some(at) = retry_at {
                        insert_job(&tx, &NewJob::deliver(owner, id, Some(*at)), now).await?;
                        jobs = true;
                    }
                }
            }
        }
        Self::commit(tx, &[], jobs).await?;
        Ok(true)
    }

    async fn retry_delivery(&self, owner: Id, id: Id) -> DomainResult<DeliveryView> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let state =
            query_opt(&tx, "SELECT state FROM workflow_deliveries WHERE id = $1 AND owner_id = $2 FOR UPDATE", &[&id, &owner]).await?;
        let state: String = match state {
            None => return Err(DomainError::not_found(format!("delivery {id}"))),
            Some(r) => col(&r, 0)?,
        };
        if state != "failed" {
            return Err(DomainError::Conflict(format!("delivery {id} is {state}; only a failed one is tried again")));
        }
        let now = now_millis();
        exec(&tx, "UPDATE workflow_deliveries SET state = 'pending', next_attempt_at = $2, updated_at = $2 WHERE id = $1", &[&id, &now])
            .await?;
        insert_job(&tx, &NewJob::deliver(owner, id, None), now).await?;
        let v = delivery_from(&query_one(&tx, &format!("SELECT {DELIVERY_COLS} FROM workflow_deliveries WHERE id = $1"), &[&id]).await?)?;
        Self::commit(tx, &[], true).await?;
        Ok(v)
    }

    async fn scheduled_due(&self, today: chrono::NaiveDate, limit: usize) -> DomainResult<Vec<(Id, Id, Id)>> {
        let c = self.client().await?;
        let scheduled =
            query(&c, &format!("SELECT {WORKFLOW_COLS} FROM workflows w WHERE w.trigger = 'scheduled' AND w.enabled ORDER BY w.id"), &[])
                .await?
                .iter()
                .map(workflow_from)
                .collect::<DomainResult<Vec<_>>>()?;
        let mut out = Vec::new();
        for w in scheduled {
            let Trigger::Scheduled { base, field_id, offset_days } = w.spec.trigger else { continue };
            let Some(cutoff) = today.checked_sub_signed(chrono::Duration::days(offset_days as i64)) else { continue };
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let tail = "AND NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.workflow_id = $2 AND r.document_id = d.id AND r.event_key = 'scheduled') \
                        ORDER BY d.id LIMIT $4";
            let head = "SELECT d.id FROM documents d WHERE d.owner_id = $1 AND d.trashed_at IS NULL AND d.state = 'ready'";
            let left = left as i64;
            let rows = match base {
                DateBase::Created => {
                    query(&c, &format!("{head} AND d.document_date <= $3 {tail}"), &[&w.owner_id, &w.id, &cutoff.to_string(), &left]).await?
                }
                DateBase::Added => {
                    let end = cutoff.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0);
                    query(&c, &format!("{head} AND d.created_at < $3 {tail}"), &[&w.owner_id, &w.id, &end, &left]).await?
                }
                DateBase::Field => {
                    query(
                        &c,
                        &format!(
                            "{head} AND EXISTS (SELECT 1 FROM document_fields f WHERE f.document_id = d.id AND f.field_id = $5 AND f.txt <= $3) {tail}"
                        ),
                        &[&w.owner_id, &w.id, &cutoff.to_string(), &left, &field_id.unwrap_or(0)],
                    )
                    .await?
                }
            };
            for r in rows {
                out.push((w.owner_id, w.id, col::<Id>(&r, 0)?));
            }
        }
        Ok(out)
    }

    async fn prune_runs(&self, before: Millis) -> DomainResult<u64> {
        let c = self.client().await?;
        // A scheduled run is the record that it ran: it stays while its workflow does.
        let n = exec(
            &c,
            "DELETE FROM workflow_runs WHERE created_at < $1 AND (event_key != 'scheduled' OR workflow_id IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM workflow_deliveries x WHERE x.run_id = workflow_runs.id AND x.state = 'pending')",
            &[&before],
        )
        .await?;
        // Language-model requests (they hold a copy of the document's text) go with them.
        exec(&c, "DELETE FROM llm_requests WHERE created_at < $1 AND state != 'pending'", &[&before]).await?;
        Ok(n)
    }
}
