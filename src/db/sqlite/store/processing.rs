//! What the worker writes under a lease, and page edits.

use super::*;

#[async_trait]
impl Processing for SqliteStore {
    async fn begin_version(&self, lease: &Lease, version_id: Id, page_count: i32, page_jobs: Vec<NewJob>) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                let processing = match lifecycle::pages_known(owner, doc, page_count) {
                    lifecycle::PagesKnown::Fails { error, event } => {
                        tx.execute(
                            "UPDATE versions SET state = 'failed', error = ?2, page_count = 0, pages_done = 0 WHERE id = ?1",
                            params![version_id, error],
                        )?;
                        tx.execute(
                            "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND current_version_id = ?4",
                            params![doc, error, now, version_id],
                        )?;
                        tx.emit(&event)?;
                        return Ok(true);
                    }
                    lifecycle::PagesKnown::Processes { event } => event,
                };
                tx.execute(
                    "UPDATE versions SET state = 'processing', page_count = ?2, pages_done = 0, error = NULL WHERE id = ?1",
                    params![version_id, page_count],
                )?;
                tx.execute("UPDATE documents SET state = 'processing', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])?;
                tx.execute("DELETE FROM pages WHERE version_id = ?1", params![version_id])?;
                for j in &page_jobs {
                    insert_job(tx, j, now)?;
                }
                tx.emit(&processing)?;
                Ok(true)
            })
            .await?;
        Ok(ok)
    }

    async fn store_page(&self, lease: &Lease, version_id: Id, page: PageRecord, finish_job: NewJob) -> DomainResult<bool> {
        let lease = lease.clone();
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                let inserted = tx.execute(
                    "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (version_id, number) DO NOTHING",
                    params![
                        version_id,
                        page.number,
                        page.width,
                        page.height,
                        page.text(),
                        page.layout_json(),
                        page.source(),
                        page.thumbnail_sha256,
                        page.preview_sha256
                    ],
                )?;
                if inserted == 1 {
                    tx.execute("UPDATE versions SET pages_done = pages_done + 1 WHERE id = ?1", params![version_id])?;
                }
                let (done, total): (i32, i32) =
                    tx.query_row("SELECT pages_done, page_count FROM versions WHERE id = ?1", params![version_id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                tx.execute(
                    "UPDATE jobs SET progress_done = ?2, progress_total = ?3 WHERE document_id = ?1 AND kind = ?4",
                    params![doc, done, total, crate::domain::jobs::kinds::PROCESS_VERSION],
                )?;
                let progress = lifecycle::Progress { newly_stored: inserted == 1, done, total };
                let (event, finish) = lifecycle::page_stored(owner, doc, progress, finish_job.clone());
                if let Some(ev) = &event {
                    tx.emit(ev)?;
                }
                if let Some(job) = &finish {
                    insert_job(tx, job, now)?;
                }
                Ok(true)
            })
            .await?;
        Ok(ok)
    }

    async fn finish_version(
        &self,
        lease: &Lease,
        version_id: Id,
        searchable_sha256: Option<&str>,
        found: Option<crate::domain::dates::FoundDate>,
    ) -> DomainResult<bool> {
        let lease = lease.clone();
        let searchable = searchable_sha256.map(str::to_string);
        let ok = self
            .write(move |tx| {
                let now = now_millis();
                if !complete_in(tx, &lease, now)? {
                    return Ok(false);
                }
                let (doc, owner) = doc_owner_of_version(tx, version_id)?;
                let current: Option<Id> =
                    tx.query_row("SELECT current_version_id FROM documents WHERE id = ?1", params![doc], |r| r.get(0))?;
                tx.execute(
                    "UPDATE versions SET state = 'ready', error = NULL, searchable_sha256 = ?2 WHERE id = ?1",
                    params![version_id, searchable],
                )
                ?;
                let page_count: i32 =
                    tx.query_row("SELECT page_count FROM versions WHERE id = ?1", params![version_id], |r| r.get(0))?;
                if current == Some(version_id) {
                    // Index this version's pages (and drop any older version's entries).
                    let old: Vec<Id> = {
                        let mut st = tx
                            .prepare("SELECT rowid FROM search_index WHERE document_id = ?1 AND page_number > 0")
                            ?;
                        st.query_map(params![doc], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?
                    };
                    for rid in old {
                        tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![rid])?;
                    }
                    tx.execute(
                        "INSERT INTO search_index (rowid, body, document_id, page_number) SELECT id, text, ?2, number FROM pages WHERE version_id = ?1 AND text != ''",
                        params![version_id, doc],
                    )
                    ?;
                    tx.execute("UPDATE documents SET state = 'ready', error = NULL, updated_at = ?2 WHERE id = ?1", params![doc, now])
                        ?;
                }
                let (date, source): (Option<String>, Option<String>) =
                    tx.query_row("SELECT document_date, date_source FROM documents WHERE id = ?1", params![doc], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if let Some((iso, source, history)) =
                    lifecycle::date_found(doc, (date.as_deref(), source.as_deref()), current == Some(version_id), found.as_ref())
                {
                    tx.execute("UPDATE documents SET document_date = ?2, date_source = ?3 WHERE id = ?1", params![doc, iso, source])?;
                    write_history(tx, &history)?;
                }
                if let Some(ready) = lifecycle::version_finished(owner, doc, version_id, page_count, current == Some(version_id)) {
                    tx.emit(&ready)?;
                }
                // The owner's matching rules run over the new text (#23); a document with a path
                // template is filed by it (its date may just have been found; an imported one
                // has never been filed).
                if current == Some(version_id) {
                    placements_due(tx, owner, "d.id = ?2", doc)?;
                    let has_rules: bool =
                        tx.query_row("SELECT EXISTS (SELECT 1 FROM match_rules WHERE owner_id = ?1)", params![owner], |r| r.get(0))?;
                    // Workflows of "processed" run after the rules filed it (the match job queues
                    // them), else now.
                    let has_workflows: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM workflows WHERE owner_id = ?1 AND trigger = 'processed' AND enabled = 1)",
                        params![owner],
                        |r| r.get(0),
                    )?;
                    if has_rules {
                        insert_job(tx, &NewJob::match_after_processing(owner, doc, has_workflows), now)?;
                    } else if has_workflows {
                        workflows_due(tx, owner, doc, "processed")?;
                    }
                }
                tx.execute(
                    "UPDATE jobs SET progress_done = ?2, progress_total = ?2 WHERE document_id = ?1 AND kind = ?3",
                    params![doc, page_count, crate::domain::jobs::kinds::PROCESS_VERSION],
                )
                ?;
                Ok(true)
            })
            .await?;
        Ok(ok)
    }

    async fn fail_version(&self, version_id: Id, error: &str) -> DomainResult<()> {
        let error = error.to_string();
        self.write(move |tx| {
            let now = now_millis();
            let (doc, owner) = doc_owner_of_version(tx, version_id)?;
            tx.execute("UPDATE versions SET state = 'failed', error = ?2 WHERE id = ?1", params![version_id, error])?;
            tx.execute(
                "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND current_version_id = ?4",
                params![doc, error, now, version_id],
            )?;
            // Other page jobs of this version have nothing left to do.
            tx.execute(
                "UPDATE jobs SET state = 'failed', last_error = ?4, updated_at = ?2 \
                 WHERE document_id = ?1 AND state = 'queued' AND kind != ?3",
                params![doc, now, crate::domain::jobs::kinds::PROCESS_VERSION, lifecycle::ANOTHER_PAGE_FAILED],
            )?;
            tx.emit(&lifecycle::failed(owner, doc, &error))?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn version_by_id(&self, version_id: Id) -> DomainResult<Version> {
        self.read(move |c| {
            c.query_row(&format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = ?1"), params![version_id], |r| version_from(r, 0))
                .optional()?
                .ok_or_else(|| DomainError::not_found(format!("version {version_id}")))
        })
        .await
    }

    async fn page_records(&self, version_id: Id) -> DomainResult<Vec<Page>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = ?1 ORDER BY number"))?;
            let rows = st.query_map(params![version_id], page_from)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
    }

    async fn apply_page_edit(&self, edit: crate::domain::pages::PageEdit) -> DomainResult<crate::domain::pages::PageEditOutcome> {
        self.write(move |tx| pages::apply(tx, &edit)).await
    }

    async fn set_page_images(&self, version_id: Id, images: Vec<(i32, String, String)>) -> DomainResult<()> {
        self.write(move |tx| pages::set_page_images(tx, version_id, &images)).await?;
        Ok(())
    }
}
