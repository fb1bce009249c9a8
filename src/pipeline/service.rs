//! The pipeline as the rest of docmerge uses it: one shared engine per process, the three job
//! kinds (process_version → process_page × N → finish_version), `docmerge ocr FILE`, and the
//! runtime checks of `docmerge check`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Engine, Limits, PageText, PipelineError, RuntimePaths, SourceInfo, TextSource};
use crate::app::{AppContext, AppError};
use crate::config::Settings;
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob, PageArgs, VersionArgs};
use crate::domain::store::Store;
use crate::domain::{Id, PageRecord};
use crate::jobs::{JobError, JobHandler, Outcome, Registry, kinds, retry_while_unreachable, unexpected_job};
use crate::storage::BlobStore;

pub fn runtime_paths(settings: &Settings) -> RuntimePaths {
    let opt = |s: &str| if s.is_empty() { None } else { Some(PathBuf::from(s)) };
    RuntimePaths {
        pdfium_library: opt(&settings.pdf.library_path),
        models_dir: opt(&settings.ocr.models_dir),
        text_font: opt(&settings.pdf.text_font),
        origin: None,
    }
}

/// The runtime files this process uses. Explicit settings win; otherwise the usual places
/// (`runtime::candidate_dirs`), and last, in a binary built with `embed-runtime` (the default),
/// its own copies, unpacked (once per process at most) into the data directory.
fn resolved_runtime_paths(settings: &Settings) -> Result<RuntimePaths, String> {
    let paths = runtime_paths(settings);
    #[cfg(feature = "embed-runtime")]
    if paths.pdfium_library.is_none() && paths.models_dir.is_none() && !super::runtime::all_found(&paths) {
        static UNPACKED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
        let dir = UNPACKED
            .get_or_init(|| {
                let dir = super::embedded::unpack_dir(&settings.storage.root);
                super::embedded::ensure_unpacked(&dir).map(|()| dir)
            })
            .clone()?;
        return Ok(RuntimePaths {
            pdfium_library: Some(dir.join("lib")),
            models_dir: Some(dir.join("models")),
            text_font: paths.text_font,
            origin: Some("the embedded copy"),
        });
    }
    Ok(paths)
}

/// Makes the runtime files ready before a role reports ready (unpacks embedded ones; a no-op
/// otherwise). A failure is logged, not fatal: jobs then retry with the same clear reason.
pub fn prepare_runtime(settings: &Settings) {
    if let Err(e) = resolved_runtime_paths(settings) {
        tracing::error!(error = %e, "runtime files are not ready");
    }
}

pub fn limits(settings: &Settings) -> Limits {
    Limits {
        max_pages: settings.limits.max_pages,
        max_page_pixels: settings.limits.max_page_pixels,
        page_timeout: Duration::from_secs(settings.limits.page_timeout_secs),
    }
}

/// The engine is loaded once and shared. Only a success is kept: while the runtime files are
/// missing each job fails with the reason, and once the operator has put them in place a
/// reprocess works without a restart (pdfium itself is bound at most once, `pdf::bind`).
static ENGINE: Mutex<Option<Arc<Engine>>> = Mutex::new(None);

pub fn engine(settings: &Settings) -> Result<Arc<Engine>, String> {
    let mut guard = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = guard.as_ref() {
        return Ok(e.clone());
    }
    let paths = resolved_runtime_paths(settings)?;
    let engine = Arc::new(Engine::load(&paths).map_err(|e| e.to_string())?);
    *guard = Some(engine.clone());
    Ok(engine)
}

/// Set when this process runs the document jobs (`worker` or `all`): only then does it speak
/// for the runtime files.
static PROCESSES_HERE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process can process pages: `None` when it does not run the document jobs (a
/// lone `serve` knows nothing of the workers' hosts), else `Some(None)` when ready or
/// `Some(Some(why))`, in words (the UI's banner and `/api/v1/config`).
pub fn runtime_status(settings: &Settings) -> Option<Option<String>> {
    PROCESSES_HERE.load(std::sync::atomic::Ordering::Relaxed).then(|| runtime_problem(settings))
}

/// Why the runtime files are not usable, if they are not. Cheap: looks for the files, loads
/// nothing (unless they were loaded already).
pub fn runtime_problem(settings: &Settings) -> Option<String> {
    if ENGINE.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
        return None;
    }
    match resolved_runtime_paths(settings) {
        Err(e) => Some(e),
        Ok(paths) => super::runtime::missing_message(&paths).or_else(|| super::runtime::find_text_font(&paths).err()),
    }
}

pub fn check_runtime(settings: &Settings) -> Vec<(String, Result<String, String>)> {
    let paths = match resolved_runtime_paths(settings) {
        Ok(p) => p,
        Err(e) => return vec![("embedded PDF library and OCR models".into(), Err(e))],
    };
    let mut out = Engine::check(&paths);
    if out.iter().all(|(_, r)| r.is_ok()) {
        let loaded = engine(settings).map(|_| "loaded".to_string());
        out.push(("PDF library and OCR models load".into(), loaded));
    }
    out
}

fn source_name(s: TextSource) -> &'static str {
    match s {
        TextSource::TextLayer => "text_layer",
        TextSource::Ocr => "ocr",
    }
}

/// What the page jobs share: the engine, settings, blobs, and a small cache of inspected
/// sources (so N page jobs of one version on this worker inspect the file once).
struct Pipeline {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    blobs: BlobStore,
    sources: Mutex<HashMap<Id, Arc<SourceInfo>>>,
}

impl Pipeline {
    fn engine(&self) -> Result<Arc<Engine>, JobError> {
        // Missing runtime files are the operator's to fix: the document fails now with exactly
        // what to do (instead of sitting in the queue), and a reprocess after the fix works.
        engine(&self.settings).map_err(JobError::Abort)
    }

    async fn original(&self, version_id: Id) -> Result<(PathBuf, crate::domain::Version), JobError> {
        let v = self.store.version_by_id(version_id).await.map_err(|e| match e {
            crate::domain::DomainError::NotFound(_) => JobError::Abort("the document was deleted".into()),
            other => other.into(),
        })?;
        let path = self.blobs.path(&v.sha256);
        if !path.is_file() {
            return Err(JobError::Abort(format!("the original file is missing from the storage ({})", v.sha256)));
        }
        Ok((path, v))
    }

    async fn inspect(&self, version_id: Id, path: &Path) -> Result<Arc<SourceInfo>, JobError> {
        if let Some(info) = self.sources.lock().unwrap_or_else(|p| p.into_inner()).get(&version_id) {
            return Ok(info.clone());
        }
        let engine = self.engine()?;
        let limits = limits(&self.settings);
        let p = path.to_path_buf();
        let info = tokio::task::spawn_blocking(move || engine.inspect(&p, &limits))
            .await
            .map_err(|e| JobError::Retry(format!("inspecting the file crashed: {e}")))?
            .map_err(pipeline_error)?;
        let info = Arc::new(info);
        let mut cache = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(version_id, info.clone());
        Ok(info)
    }

    async fn fail_document(&self, job: &ClaimedJob, error: &str) {
        if let Some(vid) = job.spec.version_id()
            && let Err(e) = self.store.fail_version(vid, error).await
        {
            tracing::warn!(version = vid, error = %e, "could not mark the document failed");
        }
    }
}

fn pipeline_error(e: PipelineError) -> JobError {
    if let PipelineError::Io { source, .. } = &e
        && crate::storage::is_out_of_space(source)
    {
        return JobError::Abort(format!("{e}; free space in the storage, then reprocess the document"));
    }
    if e.is_permanent() { JobError::Abort(e.to_string()) } else { JobError::Retry(e.to_string()) }
}

/// Storing a derived file failed: a full or read-only storage fails the document with that
/// reason at once (retrying cannot help until an operator acts); anything else is retried.
fn storage_error(e: crate::domain::DomainError) -> JobError {
    match e {
        crate::domain::DomainError::StorageFull(m) => {
            JobError::Abort(format!("the storage is full or read-only ({m}); free space, then reprocess the document"))
        }
        other => JobError::Retry(other.to_string()),
    }
}

fn version_of(job: &ClaimedJob) -> Result<Id, JobError> {
    job.spec.version_id().ok_or_else(|| JobError::Abort(format!("a {} job has no version", job.kind())))
}

struct ProcessVersion(Arc<Pipeline>);
struct ProcessPage(Arc<Pipeline>);
struct FinishVersion(Arc<Pipeline>);

#[async_trait]
impl JobHandler for ProcessVersion {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let p = &self.0;
        let vid = version_of(job)?;
        let (path, version) = p.original(vid).await?;
        let info = p.inspect(vid, &path).await?;
        let n = info.pages.len();
        if n == 0 {
            return Err(JobError::Abort("the document has no pages".into()));
        }
        let doc = version.document_id;
        let owner = job.owner_id.unwrap_or_default();
        let timeout = (p.settings.limits.page_timeout_secs as i64) + 60;
        // Pages that need OCR first in line is not needed: all pages of a version have the
        // same priority, slightly below new uploads so short documents are not starved.
        let page_jobs: Vec<NewJob> = (0..n)
            .map(|i| {
                NewJob::new(JobSpec::ProcessPage(PageArgs { version_id: vid, index: i as u32 }))
                    .priority(5)
                    .unique(format!("process_page:{vid}:{i}"))
                    .max_attempts(job.max_attempts)
                    .timeout_secs(timeout)
                    .for_document(owner, doc)
            })
            .collect();
        let ok =
            retry_while_unreachable(job.id, "the page jobs", || p.store.begin_version(lease, vid, n as i32, page_jobs.clone())).await?;
        Ok(Outcome::CompletedInTransaction(ok))
    }

    async fn on_failed(&self, job: &ClaimedJob, error: &str) {
        self.0.fail_document(job, error).await;
    }
}

#[async_trait]
impl JobHandler for ProcessPage {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let p = &self.0;
        let JobSpec::ProcessPage(PageArgs { version_id: vid, index }) = job.spec else {
            return Err(unexpected_job(job, kinds::PROCESS_PAGE));
        };
        let (path, version) = p.original(vid).await?;
        let info = p.inspect(vid, &path).await?;
        let engine = p.engine()?;
        let limits = limits(&p.settings);
        let (path2, info2) = (path.clone(), info.clone());
        let result = tokio::task::spawn_blocking(move || engine.process_page(&path2, &info2, index, &limits))
            .await
            .map_err(|e| JobError::Retry(format!("processing page {} crashed: {e}", index + 1)))?
            .map_err(pipeline_error)?;
        let blobs = p.blobs.clone();
        let (thumb, preview) = (result.thumbnail, result.preview);
        let (thumb_sha, preview_sha) = tokio::task::spawn_blocking(move || -> Result<(String, String), crate::domain::DomainError> {
            Ok((blobs.put_bytes(&thumb)?, blobs.put_bytes(&preview)?))
        })
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?
        .map_err(storage_error)?;
        let text = result.text;
        let record = PageRecord {
            number: index as i32 + 1,
            width: text.width as f64,
            height: text.height as f64,
            layout: text,
            thumbnail_sha256: Some(thumb_sha),
            preview_sha256: Some(preview_sha),
        };
        let finish = NewJob::new(JobSpec::FinishVersion(VersionArgs { version_id: vid }))
            .priority(6)
            .unique(format!("finish_version:{vid}"))
            .max_attempts(job.max_attempts)
            .timeout_secs(600)
            .for_document(job.owner_id.unwrap_or_default(), version.document_id);
        // The page is the expensive part: a database blip must not throw it away (fenced write).
        let ok = retry_while_unreachable(job.id, "the page", || p.store.store_page(lease, vid, record.clone(), finish.clone())).await?;
        Ok(Outcome::CompletedInTransaction(ok))
    }

    async fn on_failed(&self, job: &ClaimedJob, error: &str) {
        let page = if let JobSpec::ProcessPage(a) = &job.spec { a.index + 1 } else { 0 };
        self.0.fail_document(job, &format!("page {page}: {error}")).await;
    }
}

#[async_trait]
impl JobHandler for FinishVersion {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let p = &self.0;
        let vid = version_of(job)?;
        let (path, _version) = p.original(vid).await?;
        let info = p.inspect(vid, &path).await?;
        let pages = p.store.page_records(vid).await?;
        let texts: Vec<PageText> = pages.into_iter().map(|pg| pg.layout).collect();
        // The date the document was written, from its first pages (kept unless a user set one).
        let rules = p.settings.metadata.date_rules(chrono::Local::now().date_naive());
        let first: Vec<&str> = texts.iter().take(2).map(|t| t.text.as_str()).collect();
        let found = crate::domain::dates::extract_date(&first, &rules);
        if texts.len() != info.pages.len() {
            return Err(JobError::Retry(format!("{} of {} pages are stored", texts.len(), info.pages.len())));
        }
        let engine = p.engine()?;
        let out = p.blobs.temp_path(".pdf");
        let out2 = out.clone();
        let built = tokio::task::spawn_blocking(move || engine.build_searchable_pdf(&path, &info, &texts, &out2))
            .await
            .map_err(|e| JobError::Retry(format!("building the searchable PDF crashed: {e}")))?;
        if let Err(e) = built {
            let _ = std::fs::remove_file(&out);
            return Err(pipeline_error(e));
        }
        let blobs = p.blobs.clone();
        let out2 = out.clone();
        let sha =
            tokio::task::spawn_blocking(move || blobs.put_file(&out2)).await.map_err(|e| JobError::Retry(e.to_string()))?.map_err(|e| {
                let _ = std::fs::remove_file(&out);
                storage_error(e)
            })?;
        let ok = retry_while_unreachable(job.id, "the finished version", || p.store.finish_version(lease, vid, Some(&sha), found.clone()))
            .await?;
        p.sources.lock().unwrap_or_else(|p| p.into_inner()).remove(&vid);
        Ok(Outcome::CompletedInTransaction(ok))
    }

    async fn on_failed(&self, job: &ClaimedJob, error: &str) {
        self.0.fail_document(job, &format!("building the searchable PDF failed: {error}")).await;
    }
}

pub fn register_jobs(registry: &mut Registry, ctx: &AppContext) {
    PROCESSES_HERE.store(true, std::sync::atomic::Ordering::Relaxed);
    let p = Arc::new(Pipeline {
        settings: ctx.settings.clone(),
        store: ctx.store.clone(),
        blobs: ctx.blobs.clone(),
        sources: Mutex::new(HashMap::new()),
    });
    registry.register(kinds::PROCESS_VERSION, Arc::new(ProcessVersion(p.clone())));
    registry.register(kinds::PROCESS_PAGE, Arc::new(ProcessPage(p.clone())));
    registry.register(kinds::FINISH_VERSION, Arc::new(FinishVersion(p)));
    // Load the engine in the background now, so the first page does not wait for it.
    let settings = ctx.settings.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = engine(&settings) {
            tracing::error!("{e}");
        }
    });
}

/// `docmerge ocr FILE [-o out.pdf] [--text]`: the same pipeline on one file, with a progress
/// bar; prints the text when `print_text`, writes the searchable PDF to `output` if given.
pub async fn ocr_file(settings: &Settings, file: &Path, output: Option<&Path>, print_text: bool) -> Result<(), AppError> {
    if !file.is_file() {
        return Err(AppError::Config(format!("{} is not a file", file.display())));
    }
    let settings = settings.clone();
    let args_file = file.to_path_buf();
    let output = output.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || -> Result<(), AppError> {
        let engine = engine(&settings).map_err(AppError::Config)?;
        let limits = limits(&settings);
        let info = engine.inspect(&args_file, &limits).map_err(|e| AppError::Runtime(format!("{}: {e}", args_file.display())))?;
        let n = info.pages.len() as u64;
        let bar = indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template("{spinner} page {pos}/{len} [{bar:30}] {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let started = std::time::Instant::now();
        let mut texts = Vec::with_capacity(n as usize);
        for i in 0..n {
            let r =
                engine.process_page(&args_file, &info, i as u32, &limits).map_err(|e| AppError::Runtime(format!("page {}: {e}", i + 1)))?;
            bar.set_message(source_name(r.text.source));
            bar.inc(1);
            texts.push(r.text);
        }
        bar.finish_and_clear();
        if print_text {
            let all: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
            println!("{}", all.join("\n\u{c}\n"));
        }
        if let Some(out) = output {
            engine
                .build_searchable_pdf(&args_file, &info, &texts, &out)
                .map_err(|e| AppError::Runtime(format!("writing {}: {e}", out.display())))?;
            eprintln!("wrote {} ({} pages)", out.display(), n);
        }
        eprintln!("{} pages in {:.2} s", n, started.elapsed().as_secs_f64());
        Ok(())
    })
    .await
    .map_err(|e| AppError::Runtime(e.to_string()))?
}
