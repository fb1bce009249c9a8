//! Scheduled backups through the job table (`backup.schedule`, `backup.path`, `backup.keep`).
//!
//! Every worker process runs a small scheduler that, for the latest scheduled time already
//! due, enqueues a `backup` job with the unique key `backup:<time>`. The unique key keeps a
//! second job from being queued while one is queued or running; the `backup_runs` row of the
//! time (claimed by the job in one statement) keeps a late duplicate from making the backup a
//! second time. So however many workers run on however many hosts, each scheduled backup is
//! made once.
//!
//! The job exports to `.incomplete-<name>` (itself written as `.partial` and renamed by the
//! exporter), reads the whole archive back (manifest, every data file's checksum and row count,
//! every file's bytes against its name), renames it to `docmerge-YYYYMMDDTHHMMSSZ.tar.zst`, and
//! only then deletes the backups beyond `backup.keep`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::export::BlobLine;
use crate::app::{AppContext, AppError};
use crate::config::Settings;
use crate::domain::archive::*;
use crate::domain::jobs::{BackupArgs, ClaimedJob, JobSpec, Lease, NewJob};
use crate::domain::{Millis, now_millis};
use crate::jobs::{JobError, JobHandler, Outcome, Registry, kinds};

/// A backup of a large library takes a while; the lease (heartbeat) keeps it ours meanwhile.
const BACKUP_TIMEOUT_SECS: i64 = 12 * 3600;
/// How often each worker's scheduler looks whether a backup is due.
const SCHEDULER_TICK: Duration = Duration::from_secs(30);
const PREFIX: &str = "docmerge-";
const SUFFIX: &str = ".tar.zst";
const INCOMPLETE: &str = ".incomplete-";

pub use crate::domain::schedule::Schedule;

/// `20261202T023000Z`: the name of a scheduled time (and of its backup file).
pub fn slot_key(slot: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(slot).map(|t| t.format("%Y%m%dT%H%M%SZ").to_string()).unwrap_or_else(|| slot.to_string())
}

pub fn archive_name(slot: Millis) -> String {
    format!("{PREFIX}{}{SUFFIX}", slot_key(slot))
}

/// A finished backup's file name (`docmerge-YYYYMMDDTHHMMSSZ.tar.zst`), as opposed to anything
/// else in the directory.
fn is_backup_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(SUFFIX))
        .is_some_and(|k| chrono::NaiveDateTime::parse_from_str(k, "%Y%m%dT%H%M%SZ").is_ok())
}

/// The finished backups in `dir`, oldest first.
pub fn list_backups(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| is_backup_name(&e.file_name().to_string_lossy())).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Deletes the oldest backups beyond `keep` (0: keep all), never `newest`. Returns the deleted.
pub fn rotate(dir: &Path, keep: u32, newest: &Path) -> Vec<PathBuf> {
    if keep == 0 {
        return Vec::new();
    }
    let all = list_backups(dir);
    let excess = all.len().saturating_sub(keep as usize);
    let mut deleted = Vec::new();
    for p in all.into_iter().filter(|p| p != newest).take(excess) {
        match std::fs::remove_file(&p) {
            Ok(()) => deleted.push(p),
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "could not delete an old backup")
            }
        }
    }
    deleted
}

fn fail(msg: String) -> AppError {
    AppError::Runtime(msg)
}

/// Reads a `.tar.zst` / `.tar` archive through once, without unpacking it: the manifest is
/// valid, every data file matches its size, sha256 and row count, every file under `blobs/`
/// hashes to its name, and every file `data/blobs.jsonl` lists is there. Returns the manifest.
pub fn verify_archive(path: &Path) -> Result<Manifest, AppError> {
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let reader: Box<dyn Read> = match super::ArchiveKind::of(path) {
        super::ArchiveKind::TarZst => {
            Box::new(zstd::Decoder::new(file).map_err(|e| fail(format!("{}: not a zstd file: {e}", path.display())))?)
        }
        super::ArchiveKind::Tar => Box::new(BufReader::with_capacity(1 << 20, file)),
        super::ArchiveKind::Directory => {
            return Err(fail(format!("{} is not a .tar or .tar.zst file", path.display())));
        }
    };
    let damaged = |what: &str, e: &dyn std::fmt::Display| fail(format!("{}: {what} is damaged: {e}", path.display()));
    let mut archive = tar::Archive::new(reader);
    let mut data: HashMap<String, (String, u64, u64)> = HashMap::new();
    let mut blobs: HashSet<[u8; 32]> = HashSet::new();
    let mut listed = 0u64;
    let mut manifest = None;
    let mut buf = vec![0u8; 256 * 1024];
    for entry in archive.entries().map_err(|e| damaged("the tar stream", &e))? {
        let mut entry = entry.map_err(|e| damaged("the tar stream", &e))?;
        let name = entry.path().map_err(|e| damaged("an entry name", &e))?.to_string_lossy().into_owned();
        if name == MANIFEST_FILE {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| damaged(&name, &e))?;
            manifest = Some(serde_json::from_slice::<Manifest>(&bytes).map_err(|e| damaged(&name, &e))?);
        } else if name.starts_with("data/") {
            let mut hasher = Sha256::new();
            let (mut size, mut rows) = (0u64, 0u64);
            let mut lines = BufReader::with_capacity(256 * 1024, &mut entry);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = lines.read_until(b'\n', &mut line).map_err(|e| damaged(&name, &e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&line);
                size += n as u64;
                rows += 1;
                if name == BLOB_LIST_FILE {
                    let b: BlobLine = serde_json::from_slice(&line).map_err(|e| damaged(&format!("{name} line {rows}"), &e))?;
                    let mut key = [0u8; 32];
                    if hex::decode_to_slice(&b.sha256, &mut key).is_err() || !blobs.contains(&key) {
                        return Err(fail(format!("{}: blobs/{} is listed but missing", path.display(), b.sha256)));
                    }
                    listed += 1;
                }
            }
            data.insert(name, (hex::encode(hasher.finalize()), size, rows));
        } else if let Some(sha) = name.strip_prefix("blobs/").and_then(|r| r.rsplit('/').next()) {
            let mut hasher = Sha256::new();
            loop {
                let k = entry.read(&mut buf).map_err(|e| damaged(&name, &e))?;
                if k == 0 {
                    break;
                }
                hasher.update(&buf[..k]);
            }
            let digest: [u8; 32] = hasher.finalize().into();
            if hex::encode(digest) != sha {
                return Err(fail(format!("{}: {name} is damaged: its content does not match its checksum", path.display())));
            }
            blobs.insert(digest);
        } else {
            return Err(fail(format!("{}: unexpected entry {name:?}", path.display())));
        }
    }
    let m = manifest.ok_or_else(|| fail(format!("{}: {MANIFEST_FILE} is missing (the export did not finish)", path.display())))?;
    super::import::validate_manifest(&m)?;
    for f in &m.files {
        match data.get(&f.path) {
            Some((sha, size, rows)) if *sha == f.sha256 && *size == f.size && *rows == f.rows => {}
            Some(_) => {
                return Err(fail(format!("{}: {} does not match the manifest", path.display(), f.path)));
            }
            None => return Err(fail(format!("{}: {} is missing", path.display(), f.path))),
        }
    }
    if listed != blobs.len() as u64 {
        return Err(fail(format!("{}: {} files in blobs/, {listed} listed in {BLOB_LIST_FILE}", path.display(), blobs.len())));
    }
    Ok(m)
}

/// Makes the backup of `slot` into `dir`: export, verify, rename, then rotate. Returns the
/// final path and its size.
pub async fn make_backup(ctx: &AppContext, slot: Millis) -> Result<(PathBuf, u64), AppError> {
    let dir = ctx.settings.backup_dir();
    std::fs::create_dir_all(&dir).map_err(|e| AppError::Config(format!("cannot create the backup directory {}: {e}", dir.display())))?;
    let name = archive_name(slot);
    let target = dir.join(&name);
    let incomplete = dir.join(format!("{INCOMPLETE}{name}"));
    // Leftovers of an earlier attempt at this same time (killed worker): start again.
    for p in [incomplete.clone(), dir.join(format!("{INCOMPLETE}{name}.partial"))] {
        if p.exists() {
            let _ = std::fs::remove_file(&p);
        }
    }
    if !target.exists() {
        super::export(ctx, super::ExportOptions { path: incomplete.clone(), with_derived: false, since: None }).await?;
        let check = incomplete.clone();
        let verified = tokio::task::spawn_blocking(move || verify_archive(&check)).await.map_err(|e| fail(e.to_string()))?;
        if let Err(e) = verified {
            let _ = std::fs::remove_file(&incomplete);
            return Err(fail(format!("the new backup failed verification and was deleted: {e}")));
        }
        std::fs::rename(&incomplete, &target).map_err(|e| fail(format!("cannot rename the backup into place: {e}")))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
    } else {
        // An earlier attempt renamed it into place and died before recording it: it was
        // verified before the rename; check it again rather than trust it blindly.
        let check = target.clone();
        tokio::task::spawn_blocking(move || verify_archive(&check)).await.map_err(|e| fail(e.to_string()))??;
    }
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    for old in rotate(&dir, ctx.settings.backup.keep, &target) {
        tracing::info!(file = %old.display(), "deleted an old backup (backup.keep = {})", ctx.settings.backup.keep);
    }
    Ok((target, size))
}

struct BackupJob {
    ctx: AppContext,
}

#[async_trait]
impl JobHandler for BackupJob {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::Backup(BackupArgs { slot }) = job.spec else {
            return Err(crate::jobs::unexpected_job(job, kinds::BACKUP));
        };
        let key = slot_key(slot);
        let archive = self.ctx.store.archive();
        if !archive.begin_backup(&key, job.id, now_millis()).await? {
            tracing::info!(slot = %key, "the backup of this time was made already; nothing to do");
            return Ok(Outcome::Done);
        }
        let started = Instant::now();
        tracing::info!(slot = %key, dir = %self.ctx.settings.backup_dir().display(), "backup started");
        match make_backup(&self.ctx, slot).await {
            Ok((path, size)) => {
                let duration_ms = started.elapsed().as_millis() as i64;
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                tracing::info!(file = %path.display(), bytes = size, seconds = duration_ms as f64 / 1000.0, "backup done and verified");
                let outcome = BackupOutcome::Done { finished_at: now_millis(), duration_ms, file, size: size as i64 };
                crate::jobs::retry_while_unreachable(job.id, "the backup's result", || archive.finish_backup(&key, outcome.clone()))
                    .await?;
                Ok(Outcome::Done)
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(slot = %key, error = %msg, "backup failed");
                let _ = archive.finish_backup(&key, BackupOutcome::Failed { at: now_millis(), error: msg.clone() }).await;
                Err(JobError::Retry(msg))
            }
        }
    }
}

pub fn register_job(registry: &mut Registry, ctx: &AppContext) {
    registry.register(kinds::BACKUP, Arc::new(BackupJob { ctx: ctx.clone() }));
}

/// The job of the latest due backup time, unless that backup was begun already.
pub async fn enqueue_due_backup(ctx: &AppContext, now: Millis) -> Result<Option<Millis>, AppError> {
    let schedule = Schedule::parse(&ctx.settings.backup.schedule).map_err(AppError::Config)?;
    let Some(slot) = schedule.latest_slot(now) else {
        return Ok(None);
    };
    let key = slot_key(slot);
    if ctx.store.archive().backup_state(&key).await?.is_some() {
        return Ok(None);
    }
    let job = NewJob::new(JobSpec::Backup(BackupArgs { slot }))
        .unique(format!("{}:{key}", kinds::BACKUP))
        .priority(-5)
        .max_attempts(3)
        .timeout_secs(BACKUP_TIMEOUT_SECS);
    let ids = ctx.store.enqueue(vec![job]).await?;
    Ok(ids.first().copied().flatten().map(|_| slot))
}

/// Each worker process looks every `SCHEDULER_TICK` whether a backup is due.
pub fn spawn_backup_scheduler(ctx: AppContext, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let schedule = Schedule::parse(&ctx.settings.backup.schedule).ok()?;
    if schedule.is_off() {
        return None;
    }
    Some(tokio::spawn(async move {
        tracing::info!(schedule = %ctx.settings.backup.schedule, dir = %ctx.settings.backup_dir().display(), "backup scheduler started");
        loop {
            match enqueue_due_backup(&ctx, now_millis()).await {
                Ok(Some(slot)) => {
                    tracing::info!(slot = %slot_key(slot), "queued the scheduled backup")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not schedule the backup; will try again")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(SCHEDULER_TICK) => {}
            }
        }
    }))
}

/// Whether the last successful backup is older than the schedule allows: the latest time due
/// before `now - grace` has no successful backup after it.
pub fn is_overdue(schedule: &Schedule, status: &BackupStatus, now: Millis) -> bool {
    match schedule.latest_slot(now - schedule.grace_ms()) {
        None => false,
        Some(slot) => status.last_success_at.is_none_or(|t| t < slot),
    }
}

/// The `/metrics` gauges: (name, value). Empty when backups are off and none was ever made.
pub fn metric_values(settings: &Settings, status: &BackupStatus, now: Millis) -> Vec<(&'static str, f64)> {
    let schedule = Schedule::parse(&settings.backup.schedule).unwrap_or(Schedule::Off);
    if schedule.is_off() && status.last_success_at.is_none() && status.failures_total == 0 {
        return Vec::new();
    }
    vec![
        ("docmerge_backup_last_success_timestamp_seconds", status.last_success_at.map(|t| t as f64 / 1000.0).unwrap_or(0.0)),
        ("docmerge_backup_last_duration_seconds", status.last_duration_ms.map(|t| t as f64 / 1000.0).unwrap_or(0.0)),
        ("docmerge_backup_last_size_bytes", status.last_size.unwrap_or(0) as f64),
        ("docmerge_backup_failures_total", status.failures_total as f64),
        ("docmerge_backup_overdue", if is_overdue(&schedule, status, now) { 1.0 } else { 0.0 }),
    ]
}

fn age(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// The `docmerge check` line: (ok, sentence).
pub fn check_line(settings: &Settings, status: &BackupStatus, now: Millis) -> (bool, String) {
    let schedule = match Schedule::parse(&settings.backup.schedule) {
        Ok(s) => s,
        Err(e) => return (false, format!("backup.schedule: {e}")),
    };
    let last = match (&status.last_success_at, &status.last_file) {
        (Some(t), file) => format!(
            "last backup {} ago ({}, {:.1} MB, {:.1} s)",
            age(now - t),
            file.as_deref().unwrap_or("?"),
            status.last_size.unwrap_or(0) as f64 / 1e6,
            status.last_duration_ms.unwrap_or(0) as f64 / 1000.0
        ),
        (None, _) => "no backup made yet".to_string(),
    };
    if schedule.is_off() {
        return (true, format!("scheduled backups are off (backup.schedule); {last}"));
    }
    let failures = match (&status.last_error, status.last_failure_at) {
        (Some(e), Some(t)) => format!("; last failure {} ago: {e}", age(now - t)),
        _ => String::new(),
    };
    if is_overdue(&schedule, status, now) {
        (
            false,
            format!(
                "backups are overdue: {last}, but the schedule {:?} wanted one by {}{failures}. Look at the worker logs (kind \"backup\") and {}",
                settings.backup.schedule,
                slot_key(schedule.latest_slot(now - schedule.grace_ms()).unwrap_or(now)),
                settings.backup_dir().display()
            ),
        )
    } else {
        (true, format!("backups {:?} into {}: {last}{failures}", settings.backup.schedule, settings.backup_dir().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn schedules_parse_or_say_what_to_write() {
        assert_eq!(Schedule::parse("off"), Ok(Schedule::Off));
        assert_eq!(Schedule::parse(""), Ok(Schedule::Off));
        assert_eq!(Schedule::parse("Daily at 02:30"), Ok(Schedule::DailyAt { minute: 150 }));
        assert_eq!(Schedule::parse("every 6 hours"), Ok(Schedule::Every { minutes: 360 }));
        assert_eq!(Schedule::parse("every hour"), Ok(Schedule::Every { minutes: 60 }));
        assert_eq!(Schedule::parse("every 15 minutes"), Ok(Schedule::Every { minutes: 15 }));
        for bad in ["daily at 25:00", "daily at 2:30", "every 0 minutes", "every 3 days", "30 2 * * *", "sometimes"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains("daily at 02:30"), "{bad}: {e}");
        }
    }

    #[test]
    fn latest_slot_is_the_last_scheduled_time_not_after_now() {
        let daily = Schedule::DailyAt { minute: 150 };
        assert_eq!(daily.latest_slot(at("2026-12-02T02:29:59Z")), Some(at("2026-12-01T02:30:00Z")));
        assert_eq!(daily.latest_slot(at("2026-12-02T02:30:00Z")), Some(at("2026-12-02T02:30:00Z")));
        assert_eq!(daily.latest_slot(at("2026-12-02T23:00:00Z")), Some(at("2026-12-02T02:30:00Z")));
        let six = Schedule::Every { minutes: 360 };
        assert_eq!(six.latest_slot(at("2026-12-02T13:10:00Z")), Some(at("2026-12-02T12:00:00Z")));
        assert_eq!(Schedule::Off.latest_slot(at("2026-12-02T13:10:00Z")), None);
        assert_eq!(archive_name(at("2026-12-02T02:30:00Z")), "docmerge-20261202T023000Z.tar.zst");
        assert!(is_backup_name("docmerge-20261202T023000Z.tar.zst"));
        assert!(!is_backup_name(".incomplete-docmerge-20261202T023000Z.tar.zst"));
        assert!(!is_backup_name("docmerge-20261202T023000Z.tar.zst.partial"));
    }

    #[test]
    fn overdue_after_the_grace_of_a_missed_time() {
        let daily = Schedule::DailyAt { minute: 150 };
        let mut status = BackupStatus { last_success_at: Some(at("2026-12-01T02:35:00Z")), ..Default::default() };
        // The 2 Dec 02:30 backup may still be running at 05:00 (grace 6 h) …
        assert!(!is_overdue(&daily, &status, at("2026-12-02T05:00:00Z")));
        // … but not at 09:00.
        assert!(is_overdue(&daily, &status, at("2026-12-02T09:00:00Z")));
        status.last_success_at = Some(at("2026-12-02T02:40:00Z"));
        assert!(!is_overdue(&daily, &status, at("2026-12-02T09:00:00Z")));
        assert!(!is_overdue(&Schedule::Off, &BackupStatus::default(), at("2026-12-02T09:00:00Z")));
        assert!(is_overdue(&daily, &BackupStatus::default(), at("2026-12-02T09:00:00Z")));
    }
}
