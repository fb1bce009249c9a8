//! The `rebuild_derived` job: an imported, ready version whose derived files were not in the
//! archive gets them back — thumbnails and previews rendered from the original, the searchable
//! PDF built from the original and the page text the archive brought. The text itself is never
//! recomputed, so search results stay exactly those of the exported library.

use std::sync::Arc;

use async_trait::async_trait;

use crate::app::AppContext;
use crate::config::Settings;
use crate::domain::jobs::{ClaimedJob, Lease};
use crate::domain::store::Store;
use crate::jobs::{JobError, JobHandler, Outcome, Registry, kinds};
use crate::pipeline::PageText;
use crate::storage::BlobStore;

struct RebuildDerived {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    blobs: BlobStore,
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

#[async_trait]
impl JobHandler for RebuildDerived {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let vid = job.spec.version_id().ok_or_else(|| crate::jobs::unexpected_job(job, crate::jobs::kinds::REBUILD_DERIVED))?;
        let version = self.store.version_by_id(vid).await.map_err(|e| match e {
            crate::domain::DomainError::NotFound(_) => JobError::Abort("the document was deleted".into()),
            other => other.into(),
        })?;
        let original = self.blobs.path(&version.sha256);
        if !original.is_file() {
            return Err(JobError::Abort(format!("the original file is missing from the storage ({})", version.sha256)));
        }
        let pages = self.store.page_records(vid).await?;
        let texts: Vec<PageText> = pages.iter().map(|p| p.layout.clone()).collect();
        let engine = crate::pipeline::engine(&self.settings).map_err(JobError::Retry)?;
        let limits = crate::pipeline::limits(&self.settings);
        let (blobs, out) = (self.blobs.clone(), self.blobs.temp_path(".pdf"));
        let numbers: Vec<i32> = pages.iter().map(|p| p.number).collect();
        let (searchable, page_files) = tokio::task::spawn_blocking(move || -> Result<_, JobError> {
            let info = engine.inspect(&original, &limits).map_err(|e| JobError::Abort(e.to_string()))?;
            let mut page_files = Vec::with_capacity(numbers.len());
            for n in numbers {
                // Renders the page again for its images; the text it also yields is dropped.
                let r =
                    engine.process_page(&original, &info, (n - 1).max(0) as u32, &limits).map_err(|e| retry(format!("page {n}: {e}")))?;
                page_files.push((n, blobs.put_bytes(&r.thumbnail).map_err(retry)?, blobs.put_bytes(&r.preview).map_err(retry)?));
            }
            let built = engine.build_searchable_pdf(&original, &info, &texts, &out);
            if let Err(e) = built {
                let _ = std::fs::remove_file(&out);
                return Err(retry(e));
            }
            Ok((blobs.put_file(&out).map_err(retry)?, page_files))
        })
        .await
        .map_err(|e| retry(format!("rebuilding crashed: {e}")))??;
        self.store.archive().set_derived(vid, &searchable, page_files).await?;
        Ok(Outcome::Done)
    }
}

pub fn register_jobs(registry: &mut Registry, ctx: &AppContext) {
    super::backup::register_job(registry, ctx);
    registry.register(
        kinds::REBUILD_DERIVED,
        Arc::new(RebuildDerived { settings: ctx.settings.clone(), store: ctx.store.clone(), blobs: ctx.blobs.clone() }),
    );
}
