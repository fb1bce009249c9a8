//! `docmerge import PATH`: verify everything first, then load the rows in chunked
//! transactions that record their progress, then queue the work the workers must redo.
//!
//! 1. A tar archive is unpacked into a scratch directory under the storage root.
//! 2. Verification, before the database is touched: the manifest's format, each data file's
//!    size, sha256 and row count, every line parses as a JSON object; each listed file's bytes
//!    hash to its name while it is copied into the blob store (content-addressed, so a copy
//!    made before a later failure is harmless). Any failure names the item and stops.
//! 3. Rows, table by table in the archive's order, `CHUNK_ROWS` per transaction; each
//!    transaction also writes the search index entries and the number of lines done. Killed
//!    half-way and run again, the import skips what was committed and continues.
//! 4. Jobs: a rebuild for ready versions whose derived files were not exported; processing for
//!    documents that were still queued or processing at export time.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::export::{BlobLine, blob_rel_path};
use super::{ArchiveKind, io_err, progress_bar};
use crate::app::{AppContext, AppError};
use crate::domain::archive::*;
use crate::domain::jobs::{JobSpec, NewJob, VersionArgs};
use crate::jobs::kinds;

const CHUNK_ROWS: usize = 500;
/// Files copied into the blob store between two syncs of the storage file system.
const SYNC_EVERY_FILES: u64 = 2000;
const SYNC_EVERY_BYTES: u64 = 256 << 20;
const VERSION_BATCH: i64 = 1000;

#[derive(Debug, Default)]
pub struct ImportSummary {
    pub rows: u64,
    pub blobs: u64,
    pub resumed: bool,
    pub already_done: bool,
    pub rebuild_jobs: u64,
    pub process_jobs: u64,
    pub seconds: f64,
}

fn bad(msg: String) -> AppError {
    AppError::Runtime(msg)
}

pub async fn import(ctx: &AppContext, path: &Path) -> Result<ImportSummary, AppError> {
    let started = Instant::now();
    if !path.exists() {
        return Err(AppError::Config(format!("{} does not exist", path.display())));
    }
    let kind = ArchiveKind::of(path);
    let (root, _scratch) = match kind {
        ArchiveKind::Directory => (path.to_path_buf(), None),
        _ => {
            let dir = tempfile::Builder::new()
                .prefix("import-")
                .tempdir_in(ctx.blobs.root().join("tmp"))
                .map_err(|e| AppError::Runtime(format!("cannot create a scratch directory in the storage root: {e}")))?;
            let (p, d) = (path.to_path_buf(), dir.path().to_path_buf());
            tokio::task::spawn_blocking(move || unpack(&p, kind, &d)).await.map_err(|e| AppError::Runtime(e.to_string()))??;
            (dir.path().to_path_buf(), Some(dir))
        }
    };

    // ---- verify -------------------------------------------------------------------------
    let manifest = read_manifest(&root)?;
    let mode = if manifest.incremental_since.is_some() { ImportMode::Apply } else { ImportMode::Restore };
    let archive_id = manifest.archive_id();
    let (progress, existing) = ctx.store.archive().import_progress().await?;
    let resuming = progress.as_ref().is_some_and(|p| p.archive_id == archive_id);
    if resuming && progress.as_ref().is_some_and(|p| p.finished) {
        return Ok(ImportSummary { already_done: true, seconds: started.elapsed().as_secs_f64(), ..Default::default() });
    }
    // A converted paperless-ngx export numbers its rows above the existing ones: it may go
    // into an instance in use (and never replaces a row: Restore skips present ids).
    let into_existing = manifest.source_backend == crate::domain::archive::PAPERLESS_SOURCE;
    if !resuming && existing > 0 && mode == ImportMode::Restore && !into_existing {
        return Err(AppError::Config(format!(
            "the target database is not empty ({existing} users and documents): import a full archive into a new, empty database"
        )));
    }
    {
        let (root2, m2) = (root.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || verify_data_files(&root2, &m2)).await.map_err(|e| AppError::Runtime(e.to_string()))??;
    }
    let blobs = {
        let (root2, ctx2) = (root.clone(), ctx.clone());
        tokio::task::spawn_blocking(move || copy_blobs_verified(&ctx2, &root2)).await.map_err(|e| AppError::Runtime(e.to_string()))??
    };

    // ---- rows ---------------------------------------------------------------------------
    let archive = ctx.store.archive();
    archive.begin_import(&archive_id).await?;
    let mut rows_total = 0;
    let bar = progress_bar("rows");
    bar.set_length(TABLES.iter().map(|t| manifest.counts.get(t.name).copied().unwrap_or(0)).sum());
    for t in TABLES {
        if t.optional() && !manifest.files.iter().any(|f| f.path == t.file()) {
            continue; // an older archive: none of these rows
        }
        let done = progress.as_ref().filter(|_| resuming).map(|p| p.lines_done(t.name)).unwrap_or(0);
        bar.set_message(t.name);
        bar.inc(done);
        let file = root.join(t.file());
        let reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(&file).map_err(|e| io_err(&file, e))?);
        let mut lines = reader.lines();
        let mut line_no = 0u64;
        // Lines committed by an earlier run are skipped, never inserted twice.
        while line_no < done {
            if lines.next().is_none() {
                break;
            }
            line_no += 1;
        }
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        loop {
            let next = lines.next();
            if let Some(line) = next.as_ref() {
                let line = line.as_ref().map_err(|e| bad(format!("{}: {e}", t.file())))?;
                line_no += 1;
                let row: Row = serde_json::from_str(line).map_err(|e| bad(format!("{} line {line_no}: {e}", t.file())))?;
                chunk.push(row);
            }
            if chunk.len() == CHUNK_ROWS || (next.is_none() && !chunk.is_empty()) {
                let n = chunk.len() as u64;
                archive.import_rows(t, std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS)), line_no, mode).await?;
                rows_total += n;
                bar.inc(n);
            }
            if next.is_none() {
                break;
            }
        }
    }
    bar.finish_and_clear();

    // ---- jobs (before the import is marked finished, so a rerun still queues them) ------
    let (rebuild_jobs, process_jobs) = queue_jobs(ctx).await?;
    archive.finish_import().await?;
    Ok(ImportSummary {
        rows: rows_total,
        blobs,
        resumed: resuming,
        already_done: false,
        rebuild_jobs,
        process_jobs,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn read_manifest(root: &Path) -> Result<Manifest, AppError> {
    let p = root.join(MANIFEST_FILE);
    let bytes = std::fs::read(&p).map_err(|_| {
        bad(format!("{MANIFEST_FILE} is missing in {}: not a docmerge archive, or an export that did not finish", root.display()))
    })?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(format!("{MANIFEST_FILE} is damaged: {e}")))?;
    validate_manifest(&m)?;
    Ok(m)
}

/// The manifest is of a format this build reads and lists every file an import needs.
pub(super) fn validate_manifest(m: &Manifest) -> Result<(), AppError> {
    if m.format != FORMAT_NAME {
        return Err(bad(format!("{MANIFEST_FILE}: not a docmerge archive (format {:?})", m.format)));
    }
    if m.format_version > FORMAT_VERSION {
        return Err(bad(format!(
            "{MANIFEST_FILE}: archive format {} is newer than this docmerge understands ({FORMAT_VERSION}): upgrade docmerge",
            m.format_version
        )));
    }
    for t in TABLES.iter().filter(|t| !t.optional()) {
        if !m.files.iter().any(|f| f.path == t.file()) {
            return Err(bad(format!("{MANIFEST_FILE} does not list {}", t.file())));
        }
    }
    if !m.files.iter().any(|f| f.path == BLOB_LIST_FILE) {
        return Err(bad(format!("{MANIFEST_FILE} does not list {BLOB_LIST_FILE}")));
    }
    Ok(())
}

/// Size, sha256 and row count of every data file, and every line a JSON object.
fn verify_data_files(root: &Path, m: &Manifest) -> Result<(), AppError> {
    for f in &m.files {
        if f.path.contains("..") || !f.path.starts_with("data/") {
            return Err(bad(format!("{MANIFEST_FILE} names an unexpected file {:?}", f.path)));
        }
        let p = root.join(&f.path);
        let file = std::fs::File::open(&p).map_err(|_| bad(format!("{} is missing", f.path)))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut hasher = Sha256::new();
        let (mut size, mut rows) = (0u64, 0u64);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|e| bad(format!("{}: {e}", f.path)))?;
            if n == 0 {
                break;
            }
            hasher.update(&line);
            size += n as u64;
            rows += 1;
            if line.last() != Some(&b'\n') || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&line).is_err() {
                return Err(bad(format!("{} line {rows} is damaged (truncated or not a JSON object)", f.path)));
            }
        }
        let sha = hex::encode(hasher.finalize());
        if size != f.size || sha != f.sha256 {
            return Err(bad(format!("{} is damaged: its checksum does not match the manifest", f.path)));
        }
        if rows != f.rows {
            return Err(bad(format!("{} has {rows} rows, the manifest says {}", f.path, f.rows)));
        }
    }
    Ok(())
}

/// Copies every listed file into the blob store, checking that its bytes hash to its name.
/// Files are not fsynced one by one (two fsyncs per small file dominated the import): each
/// batch of `SYNC_EVERY_FILES` files (or `SYNC_EVERY_BYTES`) is made durable with one
/// `syncfs`, and the last batch is synced before this returns — so every file is on disk
/// before the first row that refers to it is committed.
fn copy_blobs_verified(ctx: &AppContext, root: &Path) -> Result<u64, AppError> {
    let (mut pending_files, mut pending_bytes) = (0u64, 0u64);
    let list = root.join(BLOB_LIST_FILE);
    let reader = BufReader::new(std::fs::File::open(&list).map_err(|e| io_err(&list, e))?);
    let bar = progress_bar("files");
    let mut n = 0;
    for line in reader.lines() {
        let line = line.map_err(|e| io_err(&list, e))?;
        let blob: BlobLine = serde_json::from_str(&line).map_err(|e| bad(format!("{BLOB_LIST_FILE}: {e}")))?;
        if blob.sha256.len() != 64 || !blob.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(format!("{BLOB_LIST_FILE}: {:?} is not a sha256", blob.sha256)));
        }
        let rel = blob_rel_path(&blob.sha256);
        if ctx.blobs.exists(&blob.sha256) {
            // Already there (an earlier run, or the same file in this instance): the store's
            // copy is immutable and was verified when it was written.
            n += 1;
            continue;
        }
        let src = root.join(&rel);
        let mut input = std::fs::File::open(&src).map_err(|_| bad(format!("{rel} is missing")))?;
        let tmp = ctx.blobs.temp_path(".import");
        let mut out = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        let copied = (|| -> std::io::Result<()> {
            loop {
                let k = input.read(&mut buf)?;
                if k == 0 {
                    return Ok(());
                }
                hasher.update(&buf[..k]);
                size += k as u64;
                std::io::Write::write_all(&mut out, &buf[..k])?;
            }
        })();
        drop(out);
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(bad(format!("{rel}: {e}")));
        }
        if hex::encode(hasher.finalize()) != blob.sha256 || size != blob.size {
            let _ = std::fs::remove_file(&tmp);
            return Err(bad(format!("{rel} is damaged: its content does not match its checksum")));
        }
        ctx.blobs.place_unsynced(&tmp, &blob.sha256)?;
        n += 1;
        bar.inc(1);
        pending_files += 1;
        pending_bytes += size;
        if pending_files >= SYNC_EVERY_FILES || pending_bytes >= SYNC_EVERY_BYTES {
            ctx.blobs.sync_all_written()?;
            (pending_files, pending_bytes) = (0, 0);
        }
    }
    if pending_files > 0 {
        ctx.blobs.sync_all_written()?;
    }
    bar.finish_and_clear();
    Ok(n)
}

/// Unpacks a tar (or tar.zst) archive into `dest`, refusing names outside the archive tree.
fn unpack(path: &Path, kind: ArchiveKind, dest: &Path) -> Result<(), AppError> {
    let file = std::fs::File::open(path).map_err(|e| AppError::Config(format!("cannot read {}: {e}", path.display())))?;
    let reader: Box<dyn Read> = match kind {
        ArchiveKind::TarZst => Box::new(zstd::Decoder::new(file).map_err(|e| bad(format!("{}: not a zstd file: {e}", path.display())))?),
        _ => Box::new(BufReader::with_capacity(1 << 20, file)),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| bad(format!("{}: not a tar archive: {e}", path.display())))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("{} is damaged: {e}", path.display())))?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let raw: PathBuf = entry.path().map_err(|e| bad(format!("{}: {e}", path.display())))?.into_owned();
        // `./data/x` (tar run by hand) is `data/x`; anything leaving the tree is refused.
        let mut name = PathBuf::new();
        for c in raw.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::Normal(part) => name.push(part),
                _ => return Err(bad(format!("{}: unexpected entry {:?} in the archive", path.display(), raw))),
            }
        }
        let text = name.to_string_lossy().into_owned();
        let allowed = text == MANIFEST_FILE || text.starts_with("data/") || text.starts_with("blobs/");
        if !allowed || !entry.header().entry_type().is_file() {
            return Err(bad(format!("{}: unexpected entry {text:?} in the archive", path.display())));
        }
        let target = dest.join(&name);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let mut out = std::fs::File::create(&target).map_err(|e| io_err(&target, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| bad(format!("{text} in {} is damaged: {e}", path.display())))?;
    }
    Ok(())
}

/// Queues a rebuild for each ready version whose derived files are not in the blob store, and
/// processing for each current version that was queued or processing (its jobs were not in
/// the archive). Unique keys keep a rerun from queueing the same work twice.
async fn queue_jobs(ctx: &AppContext) -> Result<(u64, u64), AppError> {
    let archive = ctx.store.archive();
    let (mut rebuild, mut process) = (0u64, 0u64);
    let mut after = 0;
    loop {
        let batch = archive.versions_after(after, VERSION_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.version_id;
        let mut jobs = Vec::new();
        for v in &batch {
            let needs_rebuild = v.state == "ready" && v.derived.iter().any(|sha| !ctx.blobs.exists(sha));
            if needs_rebuild {
                jobs.push(
                    NewJob::new(JobSpec::RebuildDerived(VersionArgs { version_id: v.version_id }))
                        .priority(1)
                        .unique(format!("{}:{}", kinds::REBUILD_DERIVED, v.version_id))
                        .max_attempts(ctx.settings.worker.max_attempts)
                        .for_document(v.owner_id, v.document_id),
                );
                rebuild += 1;
            } else if v.is_current && (v.state == "queued" || v.state == "processing") {
                jobs.push(NewJob::process_version(v.owner_id, v.document_id, v.version_id, ctx.settings.worker.max_attempts));
                process += 1;
            }
        }
        if !jobs.is_empty() {
            ctx.store.enqueue(jobs).await?;
        }
    }
    Ok((rebuild, process))
}
