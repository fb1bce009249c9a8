//! The job table: enqueue, claim under a lease, heartbeat, complete, fail.

use super::*;

#[async_trait]
impl JobQueue for PgStore {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> DomainResult<Vec<Option<Id>>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let mut out = Vec::with_capacity(jobs.len());
        for j in &jobs {
            out.push(insert_job(&tx, j, now).await?);
        }
        Self::commit(tx, &[], out.iter().any(Option::is_some)).await?;
        Ok(out)
    }

    async fn claim(&self, worker_id: &str, kinds: &[String], limit: usize, lease_ms: Millis) -> DomainResult<Vec<ClaimedJob>> {
        let c = self.client().await?;
        let now = now_millis();
        let kind_filter = if kinds.is_empty() { "" } else { "AND kind = ANY($5)" };
        // SKIP LOCKED: concurrent claimers pass over each other's rows instead of waiting; the
        // outer UPDATE re-checks the state in case the row changed since the inner snapshot.
        // The candidates are a MATERIALIZED CTE: as a subquery in FROM the planner may rescan
        // it once per outer row (nested loop), and each rescan skips the rows this very
        // statement already updated and locks further ones — claiming more than `limit`.
        let sql = format!(
            "WITH c AS MATERIALIZED (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= $3 {kind_filter} \
               ORDER BY priority DESC, run_after, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, lease_seq = lease_seq + 1, attempts = attempts + 1, updated_at = $3 \
             FROM c WHERE jobs.id = c.id AND jobs.state = 'queued' \
             RETURNING jobs.id, jobs.kind, jobs.payload::text, jobs.attempts, jobs.lease_seq, jobs.max_attempts, jobs.timeout_secs, jobs.document_id, jobs.owner_id, jobs.priority"
        );
        let (until, lim) = (now + lease_ms, limit as i64);
        let rows = if kinds.is_empty() {
            query(&c, &sql, &[&worker_id, &until, &now, &lim]).await?
        } else {
            query(&c, &sql, &[&worker_id, &until, &now, &lim, &kinds]).await?
        };
        let mut jobs = all(rows, |r| {
            let payload: String = col(r, 2)?;
            Ok((
                col::<i32>(r, 9)?,
                ClaimedJob {
                    id: col(r, 0)?,
                    spec: JobSpec::from_row(&col::<String>(r, 1)?, serde_json::from_str(&payload).unwrap_or_default()),
                    attempt: col(r, 3)?,
                    lease_seq: col(r, 4)?,
                    max_attempts: col(r, 5)?,
                    timeout_secs: col(r, 6)?,
                    document_id: col(r, 7)?,
                    owner_id: col(r, 8)?,
                },
            ))
        })?;
        jobs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        Ok(jobs.into_iter().map(|(_, j)| j).collect())
    }

    async fn heartbeat(&self, leases: &[Lease], lease_ms: Millis) -> DomainResult<Vec<bool>> {
        let c = self.client().await?;
        let now = now_millis();
        let until = now + lease_ms;
        let mut out = Vec::with_capacity(leases.len());
        for l in leases {
            let n = exec(
                &c,
                "UPDATE jobs SET locked_until = $4, updated_at = $5 WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
                &[&l.job_id, &l.worker_id, &l.seq, &until, &now],
            )
            .await?;
            out.push(n == 1);
        }
        Ok(out)
    }

    async fn complete(&self, leases: &[Lease]) -> DomainResult<Vec<bool>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let mut out = Vec::with_capacity(leases.len());
        for l in leases {
            out.push(complete_in(&tx, l, now).await?);
        }
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn fail(&self, lease: &Lease, error: &str, permanent: bool) -> DomainResult<Option<FailOutcome>> {
        let jitter: f64 = rand::random();
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let row = query_opt(
            &tx,
            "SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running' FOR UPDATE",
            &[&lease.job_id, &lease.worker_id, &lease.seq],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (attempts, max_attempts): (i32, i32) = (col(&row, 0)?, col(&row, 1)?);
        let outcome = if permanent || attempts >= max_attempts {
            exec(
                &tx,
                "UPDATE jobs SET state = 'failed', last_error = $2, locked_by = NULL, locked_until = NULL, updated_at = $3 WHERE id = $1",
                &[&lease.job_id, &error, &now],
            )
            .await?;
            FailOutcome::Failed
        } else {
            let run_after = now + backoff_millis(attempts, jitter);
            exec(
                &tx,
                "UPDATE jobs SET state = 'queued', last_error = $2, locked_by = NULL, locked_until = NULL, run_after = $3, updated_at = $4 WHERE id = $1",
                &[&lease.job_id, &error, &run_after, &now],
            )
            .await?;
            FailOutcome::Retry { run_after }
        };
        Self::commit(tx, &[], false).await?;
        Ok(Some(outcome))
    }

    async fn release(&self, lease: &Lease) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(
            &tx,
            "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = GREATEST(attempts - 1, 0), run_after = $4, updated_at = $4 \
             WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
            &[&lease.job_id, &lease.worker_id, &lease.seq, &now_millis()],
        )
        .await?;
        Self::commit(tx, &[], n == 1).await?;
        Ok(n == 1)
    }

    async fn reap_expired(&self) -> DomainResult<u64> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let msg = lifecycle::WORKER_LOST;
        let rows = query(
            &tx,
            "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
               last_error = $2, locked_by = NULL, locked_until = NULL, run_after = $1, updated_at = $1 \
             WHERE state = 'running' AND locked_until < $1 RETURNING id, state, document_id",
            &[&now, &msg],
        )
        .await?;
        let mut events = Vec::new();
        let mut requeued = false;
        for r in &rows {
            let state: String = col(r, 1)?;
            let doc: Option<Id> = col(r, 2)?;
            match (state.as_str(), doc) {
                ("failed", Some(doc)) => {
                    let owner = query_opt(
                        &tx,
                        "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 RETURNING owner_id",
                        &[&doc, &msg, &now],
                    )
                    .await?;
                    if let Some(o) = owner {
                        events.push(lifecycle::failed(col(&o, 0)?, doc, msg));
                    }
                }
                ("queued", _) => requeued = true,
                _ => {}
            }
        }
        Self::commit(tx, &events, requeued).await?;
        Ok(rows.len() as u64)
    }

    async fn job(&self, id: Id) -> DomainResult<JobView> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(job_from).transpose()?.ok_or_else(|| DomainError::not_found(format!("job {id}")))
    }

    async fn jobs_for_owner(&self, owner: Id, document_id: Option<Id>, page: PageReq) -> DomainResult<Paged<JobView>> {
        let c = self.client().await?;
        if let Some(d) = document_id {
            load_document(&c, owner, d).await?;
        }
        let total = count(
            &c,
            "SELECT COUNT(*) FROM jobs WHERE owner_id = $1 AND ($2::bigint IS NULL OR document_id = $2)",
            &[&owner, &document_id],
        )
        .await?;
        let rows = query(
            &c,
            &format!("SELECT {JOB_COLS} FROM jobs WHERE owner_id = $1 AND ($2::bigint IS NULL OR document_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"),
            &[&owner, &document_id, &page.limit(), &page.offset()],
        )
        .await?;
        Ok(Paged { truncated: false, items: all(rows, job_from)?, total, page: page.page, page_size: page.page_size })
    }

    async fn retry_job(&self, owner: Id, id: Id) -> DomainResult<JobView> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let job = query_opt(&tx, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND owner_id = $2 FOR UPDATE"), &[&id, &owner])
            .await?
            .as_ref()
            .map(job_from)
            .transpose()?
            .ok_or_else(|| DomainError::not_found(format!("job {id}")))?;
        if job.state != JobState::Failed {
            return Err(DomainError::Conflict(format!("job {id} is {}, only a failed job can be retried", job.state.as_str())));
        }
        let now = now_millis();
        try_exec(&tx, "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, updated_at = $2 WHERE id = $1", &[&id, &now])
            .await
            .map_err(|e| conflict_or_db(e, || "the same work is already queued".into()))?;
        let mut events = Vec::new();
        if let Some(doc) = job.document_id {
            exec(&tx, "UPDATE documents SET state = 'queued', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
            events.push(lifecycle::queued_again(owner, doc));
        }
        let view = job_from(&query_one(&tx, &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id]).await?)?;
        Self::commit(tx, &events, true).await?;
        Ok(view)
    }

    async fn job_counts(&self) -> DomainResult<Vec<(String, String, i64)>> {
        let c = self.client().await?;
        let rows = query(&c, "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state", &[]).await?;
        all(rows, |r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?)))
    }
}
