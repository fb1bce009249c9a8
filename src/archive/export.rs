//! `docmerge export PATH`: the snapshot streams row by row into `data/*.jsonl` (hashed as it is
//! written), then the files are copied, then the manifest is written last. Memory stays flat
//! whatever the library size: nothing holds more than one row or one buffer of a file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::{ArchiveKind, io_err, progress_bar};
use crate::app::{AppContext, AppError};
use crate::domain::archive::*;
use crate::domain::{DomainError, DomainResult, Millis};

pub struct ExportOptions {
    pub path: PathBuf,
    pub with_derived: bool,
    /// Incremental: only rows changed at or after this time.
    pub since: Option<Millis>,
}

#[derive(Debug)]
pub struct ExportSummary {
    pub manifest: Manifest,
    pub missing_originals: Vec<String>,
    pub seconds: f64,
}

/// A file being written and hashed at once.
pub(super) struct HashedFile {
    pub(super) path: String,
    out: BufWriter<std::fs::File>,
    hasher: Sha256,
    size: u64,
    rows: u64,
}

impl HashedFile {
    pub(super) fn create(root: &Path, rel: &str) -> DomainResult<HashedFile> {
        let full = root.join(rel);
        let file = std::fs::File::create(&full).map_err(|e| io_err(&full, e))?;
        Ok(HashedFile { path: rel.to_string(), out: BufWriter::with_capacity(256 * 1024, file), hasher: Sha256::new(), size: 0, rows: 0 })
    }

    pub(super) fn line(&mut self, value: &impl serde::Serialize) -> DomainResult<()> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| DomainError::Storage(e.to_string()))?;
        bytes.push(b'\n');
        self.hasher.update(&bytes);
        self.size += bytes.len() as u64;
        self.rows += 1;
        self.out.write_all(&bytes).map_err(|e| DomainError::Storage(format!("cannot write {}: {e}", self.path)))
    }

    pub(super) fn finish(mut self) -> DomainResult<ManifestFile> {
        self.out.flush().map_err(|e| DomainError::Storage(format!("cannot write {}: {e}", self.path)))?;
        let file = self.out.into_inner().map_err(|e| DomainError::Storage(format!("cannot write {}: {e}", self.path)))?;
        file.sync_all().map_err(|e| DomainError::Storage(format!("cannot sync {}: {e}", self.path)))?;
        Ok(ManifestFile { path: self.path, sha256: hex::encode(self.hasher.finalize()), size: self.size, rows: self.rows })
    }
}

/// Where the snapshot goes: one JSON-lines file per table plus a list of the blobs to copy.
struct SinkState {
    root: PathBuf,
    current: Option<HashedFile>,
    done: Vec<ManifestFile>,
    blob_list: Option<BufWriter<std::fs::File>>,
    blobs_listed: u64,
    bar: indicatif::ProgressBar,
}

impl SinkState {
    fn close_current(&mut self) -> DomainResult<()> {
        if let Some(f) = self.current.take() {
            self.done.push(f.finish()?);
        }
        Ok(())
    }
}

struct FileSink(Arc<Mutex<SinkState>>);

impl FileSink {
    fn state(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RowSink for FileSink {
    fn begin_table(&mut self, table: &'static TableSpec) -> DomainResult<()> {
        let mut s = self.state();
        s.close_current()?;
        s.bar.set_message(table.name);
        let f = HashedFile::create(&s.root, &table.file())?;
        s.current = Some(f);
        Ok(())
    }

    fn row(&mut self, table: &'static TableSpec, row: Row) -> DomainResult<()> {
        let mut s = self.state();
        match s.current.as_mut() {
            Some(f) => f.line(&row)?,
            None => return Err(DomainError::Storage(format!("row of {} before its table began", table.name))),
        }
        s.bar.inc(1);
        Ok(())
    }

    fn blob(&mut self, blob: BlobRef) -> DomainResult<()> {
        let mut s = self.state();
        s.close_current()?;
        if s.blob_list.is_none() {
            let p = s.root.join("data/blobs.pending");
            let f = std::fs::File::create(&p).map_err(|e| io_err(&p, e))?;
            s.blob_list = Some(BufWriter::new(f));
        }
        let mut line = serde_json::to_vec(&blob).map_err(|e| DomainError::Storage(e.to_string()))?;
        line.push(b'\n');
        if let Some(w) = s.blob_list.as_mut() {
            w.write_all(&line).map_err(|e| DomainError::Storage(format!("cannot write the blob list: {e}")))?;
        }
        s.blobs_listed += 1;
        Ok(())
    }
}

/// One line of `data/blobs.jsonl`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct BlobLine {
    pub sha256: String,
    pub size: u64,
    pub derived: bool,
}

pub fn blob_rel_path(sha: &str) -> String {
    format!("blobs/{}/{}", &sha[..2.min(sha.len())], sha)
}

pub async fn export(ctx: &AppContext, opts: ExportOptions) -> Result<ExportSummary, AppError> {
    let started = Instant::now();
    let kind = ArchiveKind::of(&opts.path);
    // The tree is built in the target directory itself, or for a tar file in a scratch
    // directory beside it (same disk) that is removed afterwards.
    let (root, _scratch) = match kind {
        ArchiveKind::Directory => {
            if opts.path.exists() && std::fs::read_dir(&opts.path).map(|mut d| d.next().is_some()).unwrap_or(true) {
                return Err(AppError::Config(format!("{} exists and is not empty: export into a new directory", opts.path.display())));
            }
            (opts.path.clone(), None)
        }
        _ => {
            if opts.path.exists() {
                return Err(AppError::Config(format!("{} exists already: export into a new file", opts.path.display())));
            }
            let parent = opts.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let dir = tempfile::Builder::new()
                .prefix(".docmerge-export-")
                .tempdir_in(parent)
                .map_err(|e| AppError::Config(format!("cannot write in {}: {e}", parent.display())))?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    std::fs::create_dir_all(root.join("data")).map_err(|e| AppError::Config(format!("cannot create {}: {e}", root.display())))?;

    let bar = progress_bar("rows");
    let state = Arc::new(Mutex::new(SinkState {
        root: root.clone(),
        current: None,
        done: Vec::new(),
        blob_list: None,
        blobs_listed: 0,
        bar: bar.clone(),
    }));
    let filter = SnapshotFilter { since: opts.since, with_derived: opts.with_derived };
    ctx.store.archive().export_snapshot(filter, Box::new(FileSink(state.clone()))).await?;
    bar.finish_and_clear();
    let (mut files, blobs_listed) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.close_current()?;
        if let Some(mut w) = s.blob_list.take() {
            w.flush().map_err(|e| AppError::Runtime(format!("cannot write the blob list: {e}")))?;
        }
        (std::mem::take(&mut s.done), s.blobs_listed)
    };

    // Files: copied (directory) or streamed (tar) after the snapshot; they are immutable, so
    // the copy is as consistent as the rows.
    let ctx2 = ctx.clone();
    let root2 = root.clone();
    let out_path = opts.path.clone();
    let (blob_file, missing, mut tar) = tokio::task::spawn_blocking(move || -> Result<_, AppError> {
        let mut tar = super::TarOut::create(&out_path, kind)?;
        if let Some(t) = tar.as_mut() {
            for f in std::fs::read_dir(root2.join("data")).map_err(|e| io_err(&root2, e))?.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".jsonl") {
                    t.append_file(&f.path(), &format!("data/{name}"))?;
                }
            }
        }
        let (blob_file, missing) = copy_blobs(&ctx2, &root2, blobs_listed, tar.as_mut())?;
        if let Some(t) = tar.as_mut() {
            t.append_file(&root2.join(BLOB_LIST_FILE), BLOB_LIST_FILE)?;
        }
        Ok((blob_file, missing, tar))
    })
    .await
    .map_err(|e| AppError::Runtime(format!("copying files failed: {e}")))??;
    files.push(blob_file);

    let mut counts = BTreeMap::new();
    for f in &files {
        let name = f.path.trim_start_matches("data/").trim_end_matches(".jsonl").to_string();
        counts.insert(name, f.rows);
    }
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        docmerge_version: crate::VERSION.into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source_backend: ctx.store.backend().into(),
        incremental_since: opts
            .since
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        with_derived: opts.with_derived,
        files,
        counts,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| AppError::Runtime(e.to_string()))?;
    match tar.as_mut() {
        Some(t) => {
            t.append_bytes(&json, MANIFEST_FILE)?;
        }
        None => {
            let tmp = root.join("manifest.json.partial");
            std::fs::write(&tmp, &json)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&tmp, root.join(MANIFEST_FILE)))
                .map_err(|e| AppError::Runtime(format!("cannot write the manifest: {e}")))?;
        }
    }
    if let Some(t) = tar {
        t.finish()?;
    }
    Ok(ExportSummary { manifest, missing_originals: missing, seconds: started.elapsed().as_secs_f64() })
}

/// Copies each listed blob (or appends it to the tar) and writes the final `data/blobs.jsonl`
/// with the sizes of the files that were there. Missing originals are reported, not fatal:
/// the export holds everything that exists.
fn copy_blobs(
    ctx: &AppContext,
    root: &Path,
    listed: u64,
    mut tar: Option<&mut super::TarOut>,
) -> Result<(ManifestFile, Vec<String>), AppError> {
    let pending = root.join("data/blobs.pending");
    let mut out = HashedFile::create(root, BLOB_LIST_FILE)?;
    let mut missing = Vec::new();
    let bar = progress_bar("files");
    bar.set_length(listed);
    if pending.is_file() {
        let reader = std::io::BufReader::new(std::fs::File::open(&pending).map_err(|e| io_err(&pending, e))?);
        for line in reader.lines() {
            let line = line.map_err(|e| io_err(&pending, e))?;
            let blob: BlobRef = serde_json::from_str(&line).map_err(|e| AppError::Runtime(format!("blob list: {e}")))?;
            let src = ctx.blobs.path(&blob.sha256);
            let size = match std::fs::metadata(&src) {
                Ok(m) => m.len(),
                Err(_) => {
                    if !blob.derived {
                        missing.push(blob.sha256.clone());
                    }
                    continue;
                }
            };
            let rel = blob_rel_path(&blob.sha256);
            match tar.as_deref_mut() {
                Some(t) => t.append_file(&src, &rel)?,
                None => {
                    let dest = root.join(&rel);
                    if let Some(dir) = dest.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
                    }
                    std::fs::copy(&src, &dest).map_err(|e| io_err(&dest, e))?;
                }
            }
            out.line(&BlobLine { sha256: blob.sha256, size, derived: blob.derived })?;
            bar.inc(1);
        }
        let _ = std::fs::remove_file(&pending);
    }
    bar.finish_and_clear();
    Ok((out.finish()?, missing))
}
