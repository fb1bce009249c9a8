//! `rotate_page_images`: the thumbnail and preview of pages a page operation turned are turned
//! too (the stored JPEGs, decoded and re-encoded — nothing is rendered or recognised again).

use std::sync::Arc;

use async_trait::async_trait;

use crate::app::AppContext;
use crate::domain::DomainError;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, RotateArgs, TurnedPage};
use crate::domain::store::Store;
use crate::jobs::{JobError, JobHandler, Outcome, Registry, kinds, unexpected_job};
use crate::storage::BlobStore;

struct RotatePageImages {
    store: Arc<dyn Store>,
    blobs: BlobStore,
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

#[async_trait]
impl JobHandler for RotatePageImages {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::RotatePageImages(RotateArgs { version_id: vid, pages: wanted }) = &job.spec else {
            return Err(unexpected_job(job, crate::jobs::kinds::ROTATE_PAGE_IMAGES));
        };
        let vid = *vid;
        let pages = self.store.page_records(vid).await.map_err(|e| match e {
            DomainError::NotFound(_) => JobError::Abort("the document was deleted".into()),
            other => other.into(),
        })?;
        let mut todo = Vec::new();
        for TurnedPage(number, degrees, before) in wanted.iter().cloned() {
            // Already turned by an earlier attempt (or the page has no images): nothing to do.
            let Some(p) = pages.iter().find(|p| p.number == number && p.thumbnail_sha256 == before && before.is_some()) else {
                continue;
            };
            todo.push((number, degrees, p.thumbnail_sha256.clone(), p.preview_sha256.clone()));
        }
        if todo.is_empty() {
            return Ok(Outcome::Done);
        }
        let blobs = self.blobs.clone();
        let images = tokio::task::spawn_blocking(move || -> Result<Vec<(i32, String, String)>, JobError> {
            let turn = |sha: &Option<String>, degrees: u16| -> Result<String, JobError> {
                let sha = sha.as_deref().ok_or_else(|| JobError::Abort("a page has no image".into()))?;
                let bytes =
                    std::fs::read(blobs.path(sha)).map_err(|e| JobError::Abort(format!("the page image {sha} cannot be read: {e}")))?;
                let turned = crate::pipeline::rotate_jpeg(&bytes, degrees).map_err(|e| JobError::Abort(e.to_string()))?;
                blobs.put_bytes(&turned).map_err(retry)
            };
            todo.iter().map(|(n, d, thumb, preview)| Ok((*n, turn(thumb, *d)?, turn(preview, *d)?))).collect()
        })
        .await
        .map_err(|e| retry(format!("turning page images crashed: {e}")))??;
        self.store.set_page_images(vid, images).await?;
        Ok(Outcome::Done)
    }
}

pub fn register_jobs(registry: &mut Registry, ctx: &AppContext) {
    registry.register(kinds::ROTATE_PAGE_IMAGES, Arc::new(RotatePageImages { store: ctx.store.clone(), blobs: ctx.blobs.clone() }));
}
