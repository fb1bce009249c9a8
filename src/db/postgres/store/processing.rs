//! What the worker writes under a lease, and page edits.

use super::*;

#[async_trait]
impl Processing for PgStore {
    async fn begin_version(&self, lease: &Lease, version_id: Id, page_count: i32, page_jobs: Vec<NewJob>) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        let processing = match lifecycle::pages_known(owner, doc, page_count) {
            lifecycle::PagesKnown::Fails { error, event } => {
                exec(
                    &tx,
                    "UPDATE versions SET state = 'failed', error = $2, page_count = 0, pages_done = 0 WHERE id = $1",
                    &[&version_id, &error],
                )
                .await?;
                exec(
                    &tx,
                    "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND current_version_id = $4",
                    &[&doc, &error, &now, &version_id],
                )
                .await?;
                Self::commit(tx, &[event], false).await?;
                return Ok(true);
            }
            lifecycle::PagesKnown::Processes { event } => event,
        };
        exec(
            &tx,
            "UPDATE versions SET state = 'processing', page_count = $2, pages_done = 0, error = NULL WHERE id = $1",
            &[&version_id, &page_count],
        )
        .await?;
        exec(&tx, "UPDATE documents SET state = 'processing', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
        exec(&tx, "DELETE FROM pages WHERE version_id = $1", &[&version_id]).await?;
        for j in &page_jobs {
            insert_job(&tx, j, now).await?;
        }
        Self::commit(tx, &[processing], true).await?;
        Ok(true)
    }

    async fn store_page(&self, lease: &Lease, version_id: Id, page: PageRecord, finish_job: NewJob) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        let inserted = exec(
            &tx,
            "INSERT INTO pages (version_id, number, width, height, text, lines_json, source, thumbnail_sha256, preview_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (version_id, number) DO NOTHING",
            &[
                &version_id,
                &page.number,
                &page.width,
                &page.height,
                &page.text(),
                &page.layout_json(),
                &page.source(),
                &page.thumbnail_sha256,
                &page.preview_sha256,
            ],
        )
        .await?;
        // The row lock on the version serialises concurrent pages of one document, so exactly
        // one of them sees the last page done and queues the finishing job.
        let row = query_one(
            &tx,
            "UPDATE versions SET pages_done = pages_done + $2 WHERE id = $1 RETURNING pages_done, page_count",
            &[&version_id, &(inserted as i32)],
        )
        .await?;
        let (done, total): (i32, i32) = (col(&row, 0)?, col(&row, 1)?);
        exec(
            &tx,
            "UPDATE jobs SET progress_done = $2, progress_total = $3 WHERE document_id = $1 AND kind = $4",
            &[&doc, &done, &total, &crate::domain::jobs::kinds::PROCESS_VERSION],
        )
        .await?;
        let progress = lifecycle::Progress { newly_stored: inserted == 1, done, total };
        let (event, finish) = lifecycle::page_stored(owner, doc, progress, finish_job);
        let mut queued = false;
        if let Some(job) = &finish {
            queued = insert_job(&tx, job, now).await?.is_some();
        }
        Self::commit(tx, event.as_slice(), queued).await?;
        Ok(true)
    }

    async fn finish_version(
        &self,
        lease: &Lease,
        version_id: Id,
        searchable_sha256: Option<&str>,
        found: Option<crate::domain::dates::FoundDate>,
    ) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        if !complete_in(&tx, lease, now).await? {
            return Ok(false);
        }
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        let current: Option<Id> = col(&query_one(&tx, "SELECT current_version_id FROM documents WHERE id = $1", &[&doc]).await?, 0)?;
        let page_count: i32 = col(
            &query_one(
                &tx,
                "UPDATE versions SET state = 'ready', error = NULL, searchable_sha256 = $2 WHERE id = $1 RETURNING page_count",
                &[&version_id, &searchable_sha256],
            )
            .await?,
            0,
        )?;
        if current == Some(version_id) {
            // Index this version's pages (and drop any older version's entries).
            exec(&tx, "DELETE FROM search_index WHERE document_id = $1 AND page_number > 0", &[&doc]).await?;
            index_version_pages(&tx, doc, version_id).await?;
            exec(&tx, "UPDATE documents SET state = 'ready', error = NULL, updated_at = $2 WHERE id = $1", &[&doc, &now]).await?;
        }
        let row = query_one(&tx, "SELECT document_date, date_source FROM documents WHERE id = $1", &[&doc]).await?;
        let (date, source): (Option<String>, Option<String>) = (col(&row, 0)?, col(&row, 1)?);
        if let Some((iso, source, history)) =
            lifecycle::date_found(doc, (date.as_deref(), source.as_deref()), current == Some(version_id), found.as_ref())
        {
            exec(&tx, "UPDATE documents SET document_date = $2, date_source = $3 WHERE id = $1", &[&doc, &iso, &source]).await?;
            write_history(&tx, &history).await?;
        }
        let ready = lifecycle::version_finished(owner, doc, version_id, page_count, current == Some(version_id));
        exec(
            &tx,
            "UPDATE jobs SET progress_done = $2, progress_total = $2 WHERE document_id = $1 AND kind = $3",
            &[&doc, &page_count, &crate::domain::jobs::kinds::PROCESS_VERSION],
        )
        .await?;
        // The owner's matching rules run over the new text (#23).
        let mut queued = false;
        if current == Some(version_id) {
            // A document with a path template is filed by it (its date may just have been found;
            // an imported one has never been filed).
            placements_due(&tx, owner, "d.id = $2", doc).await?;
            let has_rules: bool =
                col(&query_one(&tx, "SELECT EXISTS (SELECT 1 FROM match_rules WHERE owner_id = $1)", &[&owner]).await?, 0)?;
            // Workflows of "processed" run after the rules filed it (the match job queues
            // them), else now.
            let has_workflows: bool = col(
                &query_one(
                    &tx,
                    "SELECT EXISTS (SELECT 1 FROM workflows WHERE owner_id = $1 AND trigger = 'processed' AND enabled)",
                    &[&owner],
                )
                .await?,
                0,
            )?;
            if has_rules {
                queued = insert_job(&tx, &NewJob::match_after_processing(owner, doc, has_workflows), now).await?.is_some();
            } else if has_workflows {
                queued = workflows_due(&tx, owner, doc, "processed").await?;
            }
        }
        Self::commit(tx, ready.as_slice(), queued).await?;
        Ok(true)
    }

    async fn fail_version(&self, version_id: Id, error: &str) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let (doc, owner) = doc_owner_of_version(&tx, version_id).await?;
        exec(&tx, "UPDATE versions SET state = 'failed', error = $2 WHERE id = $1", &[&version_id, &error]).await?;
        exec(
            &tx,
            "UPDATE documents SET state = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND current_version_id = $4",
            &[&doc, &error, &now, &version_id],
        )
        .await?;
        // Other page jobs of this version have nothing left to do.
        exec(
            &tx,
            "UPDATE jobs SET state = 'failed', last_error = $4, updated_at = $2 \
             WHERE document_id = $1 AND state = 'queued' AND kind <> $3",
            &[&doc, &now, &crate::domain::jobs::kinds::PROCESS_VERSION, &lifecycle::ANOTHER_PAGE_FAILED],
        )
        .await?;
        Self::commit(tx, &[lifecycle::failed(owner, doc, error)], false).await
    }

    async fn version_by_id(&self, version_id: Id) -> DomainResult<Version> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {VERSION_COLS} FROM versions v WHERE v.id = $1"), &[&version_id]).await?;
        row.map(|r| version_from(&r, 0)).transpose()?.ok_or_else(|| DomainError::not_found(format!("version {version_id}")))
    }

    async fn page_records(&self, version_id: Id) -> DomainResult<Vec<Page>> {
        let c = self.client().await?;
        let rows = query(&c, &format!("SELECT {PAGE_COLS} FROM pages WHERE version_id = $1 ORDER BY number"), &[&version_id]).await?;
        all(rows, page_from)
    }

    async fn apply_page_edit(&self, edit: crate::domain::pages::PageEdit) -> DomainResult<crate::domain::pages::PageEditOutcome> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let (out, events, jobs) = pages::apply(&tx, &edit).await?;
        Self::commit(tx, &events, jobs).await?;
        Ok(out)
    }

    async fn set_page_images(&self, version_id: Id, images: Vec<(i32, String, String)>) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let events = pages::set_page_images(&tx, version_id, &images).await?;
        Self::commit(tx, &events, false).await
    }
}
