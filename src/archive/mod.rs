//! Backup, restore and moving between databases: `docmerge export PATH` and
//! `docmerge import PATH`. The format and the backend port are in `domain::archive`; this
//! module writes and reads the files, shows progress, and queues the work the import leaves
//! for the workers (rebuilding derived files, processing documents caught half-way).

pub mod backup;
#[cfg(feature = "bench")]
pub mod bench;
pub mod export;
pub mod import;
pub mod paperless;
pub mod rebuild;

use std::io::Write;
use std::path::Path;

use crate::app::AppError;
use crate::domain::{DomainError, Millis};

pub use export::{ExportOptions, ExportSummary, export};
pub use import::{ImportSummary, import};
pub use rebuild::register_jobs;

/// `docmerge export`: runs the export and prints what it wrote.
pub async fn export_command(ctx: &crate::app::AppContext, args: crate::cli::ExportArgs) -> Result<(), AppError> {
    let since = args.incremental.as_deref().map(parse_since).transpose()?;
    let summary = export(ctx, ExportOptions { path: args.path.clone(), with_derived: args.with_derived, since }).await?;
    let counts: Vec<String> = summary.manifest.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("exported to {} in {:.1} s: {}", args.path.display(), summary.seconds, counts.join(", "));
    if !summary.missing_originals.is_empty() {
        eprintln!(
            "warning: {} original files were missing from the storage and are not in the export (first: {})",
            summary.missing_originals.len(),
            summary.missing_originals[0]
        );
    }
    Ok(())
}

/// `docmerge import`: runs (or continues) the import and prints what it did.
pub async fn import_command(ctx: &crate::app::AppContext, args: crate::cli::ImportArgs) -> Result<(), AppError> {
    if let Some(dir) = &args.from_paperless {
        return paperless::import_paperless(ctx, dir, args.owner.as_deref()).await;
    }
    if args.owner.is_some() {
        return Err(AppError::Config("--owner goes with --from-paperless (a docmerge archive keeps its owners)".into()));
    }
    let Some(path) = args.path.clone() else {
        return Err(AppError::Config("give the archive to import (PATH), or --from-paperless DIR".into()));
    };
    let s = import(ctx, &path).await?;
    if s.already_done {
        println!("{} was imported already: nothing to do", path.display());
        return Ok(());
    }
    println!(
        "imported {} in {:.1} s: {} rows, {} files{}; queued {} rebuilds of derived files and {} documents to process",
        path.display(),
        s.seconds,
        s.rows,
        s.blobs,
        if s.resumed { " (continued an interrupted import)" } else { "" },
        s.rebuild_jobs,
        s.process_jobs
    );
    Ok(())
}

/// What `PATH` names: a directory tree, or the same tree in a tar file (optionally zstd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    Directory,
    Tar,
    TarZst,
}

impl ArchiveKind {
    pub fn of(path: &Path) -> ArchiveKind {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            ArchiveKind::TarZst
        } else if name.ends_with(".tar") {
            ArchiveKind::Tar
        } else {
            ArchiveKind::Directory
        }
    }
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> DomainError {
    DomainError::Storage(format!("{}: {e}", path.display()))
}

/// A progress bar on standard error with counts and throughput (hidden when not a terminal).
pub(crate) fn progress_bar(unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::no_length();
    let template = format!("{{spinner}} {{msg:12}} {{human_pos}}/{{human_len}} {unit} [{{bar:25}}] {{per_sec}} {{elapsed_precise}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar
}

/// Parses `--incremental SINCE`: RFC 3339, or a date (midnight UTC).
pub fn parse_since(s: &str) -> Result<Millis, AppError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    Err(AppError::Config(format!("--incremental {s:?}: give a date (2024-05-01) or an RFC 3339 time (2024-05-01T22:00:00Z)")))
}

/// The tar file being written (plain or zstd-compressed).
pub(crate) struct TarOut {
    builder: tar::Builder<Box<dyn Write + Send>>,
    rename_into_place: Option<Box<dyn FnOnce() -> std::io::Result<()> + Send>>,
}

struct ZstdFinisher(Option<zstd::Encoder<'static, std::fs::File>>);

impl Write for ZstdFinisher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.as_mut() {
            Some(e) => e.write(buf),
            None => Err(std::io::Error::other("the archive is closed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.as_mut() {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for ZstdFinisher {
    fn drop(&mut self) {
        // The zstd frame must be ended or the file is unreadable; `TarOut::finish` drops the
        // builder (and so this) after writing the tar trailer.
        if let Some(e) = self.0.take()
            && let Ok(f) = e.finish()
        {
            let _ = f.sync_all();
        }
    }
}

impl TarOut {
    /// None for a directory export.
    pub(crate) fn create(path: &Path, kind: ArchiveKind) -> Result<Option<TarOut>, AppError> {
        if kind == ArchiveKind::Directory {
            return Ok(None);
        }
        // Written under a temporary name and renamed at the end: a file with the final name
        // is always a complete archive.
        let partial = partial_path(path);
        let file = std::fs::File::create(&partial).map_err(|e| AppError::Config(format!("cannot create {}: {e}", partial.display())))?;
        let writer: Box<dyn Write + Send> = match kind {
            ArchiveKind::TarZst => {
                let enc = zstd::Encoder::new(file, 3).map_err(|e| AppError::Runtime(format!("zstd: {e}")))?;
                Box::new(ZstdFinisher(Some(enc)))
            }
            _ => Box::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        };
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        let (from, to) = (partial.clone(), path.to_path_buf());
        Ok(Some(TarOut { builder, rename_into_place: Some(Box::new(move || std::fs::rename(from, to))) }))
    }

    pub(crate) fn append_file(&mut self, src: &Path, name: &str) -> Result<(), AppError> {
        let mut f = std::fs::File::open(src).map_err(|e| AppError::Runtime(format!("cannot read {}: {e}", src.display())))?;
        self.builder.append_file(name, &mut f).map_err(|e| AppError::Runtime(format!("cannot write {name} to the archive: {e}")))
    }

    pub(crate) fn append_bytes(&mut self, bytes: &[u8], name: &str) -> Result<(), AppError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        self.builder
            .append_data(&mut header, name, bytes)
            .map_err(|e| AppError::Runtime(format!("cannot write {name} to the archive: {e}")))
    }

    pub(crate) fn finish(mut self) -> Result<(), AppError> {
        let writer = self.builder.into_inner().map_err(|e| AppError::Runtime(format!("cannot finish the archive: {e}")))?;
        drop(writer);
        if let Some(rename) = self.rename_into_place.take() {
            rename().map_err(|e| AppError::Runtime(format!("cannot finish the archive: {e}")))?;
        }
        Ok(())
    }
}

fn partial_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}
