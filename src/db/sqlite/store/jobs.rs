//! The job table: enqueue, claim under a lease, heartbeat, complete, fail.

use super::*;

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> DomainResult<Vec<Option<Id>>> {
        let out = self
            .write(move |tx| {
                let now = now_millis();
                jobs.iter().map(|j| insert_job(tx, j, now)).collect::<DomainResult<Vec<_>>>()
            })
            .await?;
        Ok(out)
    }

    async fn claim(&self, worker_id: &str, kinds: &[String], limit: usize, lease_ms: Millis) -> DomainResult<Vec<ClaimedJob>> {
        let (worker_id, kinds) = (worker_id.to_string(), kinds.to_vec());
        self.write(move |tx| {
            let now = now_millis();
            let kind_filter =
                if kinds.is_empty() { String::new() } else { format!("AND kind IN ({})", placeholders(kinds.len(), 5)) };
            let sql = format!(
                "UPDATE jobs SET state = 'running', locked_by = ?1, locked_until = ?2, lease_seq = lease_seq + 1, attempts = attempts + 1, updated_at = ?3 \
                 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?3 {kind_filter} ORDER BY priority DESC, run_after, id LIMIT ?4) \
                 RETURNING id, kind, payload, attempts, lease_seq, max_attempts, timeout_secs, document_id, owner_id, priority"
            );
            let mut args: Vec<rusqlite::types::Value> =
                vec![worker_id.clone().into(), (now + lease_ms).into(), now.into(), (limit as i64).into()];
            args.extend(kinds.iter().map(|k| rusqlite::types::Value::from(k.clone())));
            let mut st = tx.prepare_cached(&sql)?;
            let mut jobs = st
                .query_map(params_from_iter(args.iter()), |r| {
                    let payload: String = r.get(2)?;
                    Ok((
                        r.get::<_, i32>(9)?,
                        ClaimedJob {
                            id: r.get(0)?,
                            spec: JobSpec::from_row(&r.get::<_, String>(1)?, serde_json::from_str(&payload).unwrap_or_default()),
                            attempt: r.get(3)?,
                            lease_seq: r.get(4)?,
                            max_attempts: r.get(5)?,
                            timeout_secs: r.get(6)?,
                            document_id: r.get(7)?,
                            owner_id: r.get(8)?,
                        },
                    ))
                })
                ?
                .collect::<Result<Vec<_>, _>>()
                ?;
            jobs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
            Ok(jobs.into_iter().map(|(_, j)| j).collect())
        })
        .await
    }

    async fn heartbeat(&self, leases: &[Lease], lease_ms: Millis) -> DomainResult<Vec<bool>> {
        let leases = leases.to_vec();
        self.write(move |tx| {
            let now = now_millis();
            let mut st = tx
                .prepare_cached(
                    "UPDATE jobs SET locked_until = ?4, updated_at = ?5 WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                )
                ?;
            leases
                .iter()
                .map(|l| st.execute(params![l.job_id, l.worker_id, l.seq, now + lease_ms, now]).map(|n| n == 1).map_err(DomainError::from))
                .collect()
        })
        .await
    }

    async fn complete(&self, leases: &[Lease]) -> DomainResult<Vec<bool>> {
        let leases = leases.to_vec();
        self.write(move |tx| {
            let now = now_millis();
            leases.iter().map(|l| complete_in(tx, l, now)).collect()
        })
        .await
    }

    async fn fail(&self, lease: &Lease, error: &str, permanent: bool) -> DomainResult<Option<FailOutcome>> {
        let (lease, error) = (lease.clone(), error.to_string());
        let jitter: f64 = rand::random();
        self.write(move |tx| {
            let now = now_millis();
            let row: Option<(i32, i32)> = tx
                .query_row(
                    "SELECT attempts, max_attempts FROM jobs WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                    params![lease.job_id, lease.worker_id, lease.seq],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                ?;
            let Some((attempts, max_attempts)) = row else { return Ok(None) };
            if permanent || attempts >= max_attempts {
                tx.execute(
                    "UPDATE jobs SET state = 'failed', last_error = ?2, locked_by = NULL, locked_until = NULL, updated_at = ?3 WHERE id = ?1",
                    params![lease.job_id, error, now],
                )
                ?;
                Ok(Some(FailOutcome::Failed))
            } else {
                let run_after = now + backoff_millis(attempts, jitter);
                tx.execute(
                    "UPDATE jobs SET state = 'queued', last_error = ?2, locked_by = NULL, locked_until = NULL, run_after = ?3, updated_at = ?4 WHERE id = ?1",
                    params![lease.job_id, error, run_after, now],
                )
                ?;
                Ok(Some(FailOutcome::Retry { run_after }))
            }
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let n = tx
                    .execute(
                        "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = MAX(attempts - 1, 0), run_after = ?4, updated_at = ?4 \
                         WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                        params![lease.job_id, lease.worker_id, lease.seq, now_millis()],
                    )
                    ?;
                if n == 1 {
                    tx.jobs_changed();
                }
                Ok(n == 1)
            })
            .await?;
        Ok(ok)
    }

    async fn reap_expired(&self) -> DomainResult<u64> {
        let n = self
            .write(|tx| {
                let now = now_millis();
                let msg = lifecycle::WORKER_LOST;
                let (reaped, failed_docs): (u64, Vec<(Id, Id)>) = {
                    let mut st = tx.prepare_cached(
                        "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                               last_error = ?2, locked_by = NULL, locked_until = NULL, run_after = ?1, updated_at = ?1 \
                             WHERE state = 'running' AND locked_until < ?1 RETURNING id, state, document_id",
                    )?;
                    let rows = st
                        .query_map(params![now, msg], |r| Ok((r.get::<_, Id>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Id>>(2)?)))?
                        .collect::<Result<Vec<_>, _>>()?;
                    let reaped = rows.len() as u64;
                    (reaped, rows.into_iter().filter(|r| r.1 == "failed").filter_map(|r| r.2.map(|d| (r.0, d))).collect())
                };
                for (_, doc) in &failed_docs {
                    let owner: Option<Id> =
                        tx.query_row("SELECT owner_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0)).optional()?;
                    if let Some(owner) = owner {
                        tx.execute(
                            "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                            params![doc, msg, now],
                        )?;
                        tx.emit(&lifecycle::failed(owner, *doc, msg))?;
                    }
                }
                if reaped > 0 {
                    tx.jobs_changed();
                }
                // (Not tx.changes(): after the loop above that is the last event INSERT.)
                Ok(reaped)
            })
            .await?;
        Ok(n)
    }

    async fn job(&self, id: Id) -> DomainResult<JobView> {
        self.read(move |c| {
            c.query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"), params![id], job_from)
                .optional()?
                .ok_or_else(|| DomainError::not_found(format!("job {id}")))
        })
        .await
    }

    async fn jobs_for_owner(&self, owner: Id, document_id: Option<Id>, page: PageReq) -> DomainResult<Paged<JobView>> {
        self.read(move |c| {
            if let Some(d) = document_id {
                load_document(c, owner, d)?;
            }
            let total: i64 = c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE owner_id = ?1 AND (?2 IS NULL OR document_id = ?2)",
                params![owner, document_id],
                |r| r.get(0),
            )?;
            let mut st = c.prepare(&format!(
                "SELECT {JOB_COLS} FROM jobs WHERE owner_id = ?1 AND (?2 IS NULL OR document_id = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4"
            ))?;
            let items = st.query_map(params![owner, document_id, page.limit(), page.offset()], job_from)?.collect::<Result<Vec<_>, _>>()?;
            Ok(Paged { truncated: false, items, total, page: page.page, page_size: page.page_size })
        })
        .await
    }

    async fn retry_job(&self, owner: Id, id: Id) -> DomainResult<JobView> {
        let out = self
            .write(move |tx| {
                let job = tx
                    .query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1 AND owner_id = ?2"), params![id, owner], job_from)
                    .optional()?
                    .ok_or_else(|| DomainError::not_found(format!("job {id}")))?;
                if job.state != JobState::Failed {
                    return Err(DomainError::Conflict(format!("job {id} is {}, only a failed job can be retried", job.state.as_str())));
                }
                let now = now_millis();
                match tx.execute(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                ) {
                    Ok(_) => tx.jobs_changed(),
                    Err(e) if is_unique_violation(&e) => return Err(DomainError::Conflict("the same work is already queued".into())),
                    Err(e) => return Err(e.into()),
                }
                if let Some(doc) = job.document_id {
                    tx.execute("UPDATE documents SET state = 'queued', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])?;
                    tx.emit(&lifecycle::queued_again(owner, doc))?;
                }
                tx.query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"), params![id], job_from).map_err(DomainError::from)
            })
            .await?;
        Ok(out)
    }

    async fn job_counts(&self) -> DomainResult<Vec<(String, String, i64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
    }
}
