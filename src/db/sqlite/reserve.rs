//! Disk space held back for the SQLite database. When the disk fills up (uploads are refused
//! before that, but another program can fill it), a write — trashing or purging documents to
//! free space, a login — fails with SQLITE_FULL. The writer then deletes this reserve file and
//! tries the write again, so the database can always record the deletes that free space; the
//! reserve is made again once the disk has room for it twice over.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// How much is held back: enough for the WAL frames of many deletes and logins.
pub(crate) const RESERVE_BYTES: u64 = 32 * 1024 * 1024;
/// How often a missing reserve is looked at again after a write.
const REPLENISH_EVERY_MS: i64 = 30_000;

pub(crate) struct SpaceReserve {
    path: PathBuf,
    /// The reserve is in place (known without a file-system call on every write).
    present: AtomicBool,
    /// When the reserve was last found missing and could not be made (0: never).
    last_try: AtomicI64,
}

impl SpaceReserve {
    pub(crate) fn beside(db: &Path) -> SpaceReserve {
        let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "docmerge.db".into());
        name.push("-reserve");
        SpaceReserve { path: db.with_file_name(name), present: AtomicBool::new(false), last_try: AtomicI64::new(0) }
    }

    /// Makes the reserve if it is missing and the disk has room for it twice over (at most every
    /// 30 s when it cannot). Returns whether the reserve is in place.
    pub(crate) fn replenish(&self) -> bool {
        if self.present.load(Ordering::Relaxed) {
            return true;
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= RESERVE_BYTES) {
            self.present.store(true, Ordering::Relaxed);
            return true;
        }
        let now = crate::domain::now_millis();
        let last = self.last_try.load(Ordering::Relaxed);
        if last != 0 && now - last < REPLENISH_EVERY_MS {
            return false;
        }
        self.last_try.store(now, Ordering::Relaxed);
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if crate::storage::free_bytes(dir).is_none_or(|free| free < 2 * RESERVE_BYTES) {
            return false;
        }
        let made = std::fs::File::create(&self.path).and_then(|f| {
            // Real blocks, not a sparse file: the space must be taken now to be given back later.
            // SAFETY: posix_fallocate works on the descriptor `f` keeps open.
            let rc = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, RESERVE_BYTES as libc::off_t) };
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            f.sync_all()
        });
        match made {
            Ok(()) => {
                self.last_try.store(0, Ordering::Relaxed);
                self.present.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::debug!(error = %e, "cannot make the database's space reserve");
                false
            }
        }
    }

    /// Gives the reserve's space back to the file system; true when there was one.
    pub(crate) fn release(&self) -> bool {
        self.present.store(false, Ordering::Relaxed);
        let had = std::fs::remove_file(&self.path).is_ok();
        if had {
            tracing::warn!(
                file = %self.path.display(),
                "the disk is full: released the database's {} MiB space reserve so that deleting documents (and logging in) still works; free space on the disk",
                RESERVE_BYTES / (1024 * 1024)
            );
            self.last_try.store(crate::domain::now_millis(), Ordering::Relaxed);
        }
        had
    }
}
