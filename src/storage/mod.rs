//! Content-addressed blob store under the storage root: `blobs/ab/cd/<sha256>`. Originals are
//! immutable; derived files (searchable PDF, thumbnails) are blobs too and can be rebuilt.
//! Writes go to `tmp/`, are fsynced, then renamed into place: a crash leaves either nothing or
//! a complete file (plus a temp file that the next start removes).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::domain::DomainError;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

/// An incoming file being written: hashed and size-checked while it streams.
pub struct Incoming {
    file: std::fs::File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    done: bool,
}

impl Incoming {
    /// Appends a chunk; fails once the size goes over the limit (the temp file is removed on drop).
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), DomainError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(DomainError::TooLarge(format!("the file is larger than the upload limit of {} MiB", self.limit / (1024 * 1024))));
        }
        if self.head.len() < crate::domain::filetype::SNIFF_BYTES {
            let take = (crate::domain::filetype::SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).map_err(|e| io_error("cannot write the upload", e))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first bytes, for sniffing the type.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// fsyncs and moves the file into the blob store; returns its sha256.
    pub fn commit(mut self, store: &BlobStore) -> Result<String, DomainError> {
        self.file.sync_all().map_err(|e| io_error("cannot sync the upload", e))?;
        let sha = hex::encode(std::mem::take(&mut self.hasher).finalize());
        store.move_into_place(&self.path, &sha)?;
        self.done = true;
        Ok(sha)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl BlobStore {
    pub fn open(root: &Path) -> Result<BlobStore, DomainError> {
        for sub in ["blobs", "tmp"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| DomainError::Storage(format!("cannot create {}: {e}", root.join(sub).display())))?;
        }
        Ok(BlobStore { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, sha: &str) -> PathBuf {
        if sha.len() < 4 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            // Never a path outside the store, whatever the database says.
            return self.root.join("blobs").join("invalid");
        }
        self.root.join("blobs").join(&sha[0..2]).join(&sha[2..4]).join(sha)
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.path(sha).is_file()
    }

    pub fn temp_path(&self, suffix: &str) -> PathBuf {
        let name = format!("{}-{}{}", std::process::id(), hex::encode(rand::random::<[u8; 8]>()), suffix);
        self.root.join("tmp").join(name)
    }

    pub fn incoming(&self, limit: u64) -> Result<Incoming, DomainError> {
        let path = self.temp_path(".upload");
        let file =
            std::fs::File::create(&path).map_err(|e| io_error(format!("cannot create a temporary file in {}", self.root.display()), e))?;
        Ok(Incoming { file, path, hasher: Sha256::new(), size: 0, limit, head: Vec::new(), done: false })
    }

    fn move_into_place(&self, tmp: &Path, sha: &str) -> Result<(), DomainError> {
        self.place_unsynced(tmp, sha)?;
        if let Some(dir) = self.path(sha).parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Bulk import: moves a verified temp file into place WITHOUT syncing it. The caller must
    /// call `sync_all_written` before anything (a database row) refers to the blob.
    pub fn place_unsynced(&self, tmp: &Path, sha: &str) -> Result<(), DomainError> {
        let dest = self.path(sha);
        if self.touch(sha) {
            // Same content already stored: keep the existing immutable copy (touched, so that a
            // sweep running now keeps it; see `sweep`).
            let _ = std::fs::remove_file(tmp);
            return Ok(());
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
        }
        std::fs::rename(tmp, &dest).map_err(|e| io_error("cannot move the file into place", e))
    }

    /// Makes everything written under the storage root durable — file contents, new names and
    /// directories — with one `syncfs` of its file system: a batch of thousands of small files
    /// costs one flush instead of two fsyncs each.
    pub fn sync_all_written(&self) -> Result<(), DomainError> {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(self.root.join("blobs")).map_err(|e| io_error("cannot open the storage root", e))?;
        // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io_error("cannot sync the storage root", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Stores bytes (derived files); returns their sha256.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String, DomainError> {
        let sha = hex::encode(Sha256::digest(bytes));
        if self.touch(&sha) {
            return Ok(sha);
        }
        let tmp = self.temp_path(".blob");
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_error("cannot write a file", e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error("cannot write a file", e)
        })?;
        self.move_into_place(&tmp, &sha)?;
        Ok(sha)
    }

    /// Moves a finished file (e.g. a searchable PDF written to a temp path) into the store.
    pub fn put_file(&self, tmp: &Path) -> Result<String, DomainError> {
        let mut f = std::fs::File::open(tmp).map_err(|e| io_error(format!("cannot read {}", tmp.display()), e))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut f, &mut hasher).map_err(|e| io_error("cannot store a file", e))?;
        let sha = hex::encode(hasher.finalize());
        std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| io_error("cannot store a file", e))?;
        self.move_into_place(tmp, &sha)?;
        Ok(sha)
    }

    /// Marks a stored file as just used (its modification time), if it exists. Every reuse of
    /// an existing file goes through here, before the row that refers to it is written: a sweep
    /// never deletes a file touched after it started. False when there is no such file (then
    /// the caller stores its own copy).
    pub fn touch(&self, sha: &str) -> bool {
        std::fs::File::open(self.path(sha)).and_then(|f| f.set_modified(SystemTime::now())).is_ok()
    }

    /// How long ago the stored file was last written or touched (None: no such file).
    pub fn unused_for(&self, sha: &str) -> Option<Duration> {
        std::fs::metadata(self.path(sha)).and_then(|m| m.modified()).ok().map(|t| t.elapsed().unwrap_or_default())
    }

    /// Every stored file not written or touched for `grace` (the full orphan sweep's candidates).
    pub fn untouched_for(&self, grace: Duration) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(level1) = std::fs::read_dir(self.root.join("blobs")) else { return out };
        for a in level1.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
                for f in std::fs::read_dir(b.path()).into_iter().flatten().flatten() {
                    let name = f.file_name().to_string_lossy().to_string();
                    if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) && older_than(&f.path(), grace) {
                        out.push(name);
                    }
                }
            }
        }
        out
    }

    /// Deletes the stored files among `candidates` that no row refers to, safely against an
    /// identical upload landing meanwhile (files are shared by content, across owners):
    ///
    /// 1. only files untouched for `grace` are considered;
    /// 2. `referenced` (the database) drops those still in use;
    /// 3. each remaining file is renamed aside (atomically; an upload that now finds no file
    ///    stores its own copy);
    /// 4. `referenced` is asked again, and a file set aside is put back if a row refers to it
    ///    now or it was touched since the sweep began (an upload reusing it whose row is not
    ///    committed yet); otherwise it is deleted.
    pub async fn sweep<F, Fut>(&self, candidates: Vec<String>, grace: Duration, referenced: F) -> Result<SweepReport, DomainError>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>, DomainError>>,
    {
        let began = SystemTime::now() - Duration::from_secs(1); // file times are not finer than this everywhere
        let mut report = SweepReport::default();
        let mut old: Vec<String> = candidates.into_iter().filter(|sha| older_than(&self.path(sha), grace)).collect();
        old.sort();
        old.dedup();
        let in_use = referenced(old.clone()).await?;
        let aside_dir = self.root.join("blobs").join(".sweep");
        std::fs::create_dir_all(&aside_dir).map_err(|e| io_error("cannot prepare the sweep", e))?;
        let mut aside = Vec::new();
        for sha in old.into_iter().filter(|s| !in_use.contains(s)) {
            let to = aside_dir.join(format!("{sha}.{}", hex::encode(rand::random::<[u8; 4]>())));
            if std::fs::rename(self.path(&sha), &to).is_ok() {
                aside.push((sha, to));
            }
        }
        let in_use = referenced(aside.iter().map(|a| a.0.clone()).collect()).await;
        for (sha, from) in aside {
            let touched = std::fs::metadata(&from).and_then(|m| m.modified()).is_ok_and(|t| t >= began);
            let keep = match &in_use {
                Ok(used) => touched || used.contains(&sha),
                Err(_) => true, // cannot tell: keep everything
            };
            if !keep {
                let _ = std::fs::remove_file(&from);
                report.deleted += 1;
            } else if self.path(&sha).is_file() {
                // An upload stored its own copy meanwhile (same content): ours is not needed.
                let _ = std::fs::remove_file(&from);
                report.kept += 1;
            } else {
                std::fs::rename(&from, self.path(&sha)).map_err(|e| io_error("cannot put a swept file back", e))?;
                report.kept += 1;
            }
        }
        in_use.map(|_| report)
    }

    /// Removes temp files left by a crash (older than `min_age`).
    pub fn clean_temp(&self, min_age: std::time::Duration) -> usize {
        let mut n = 0;
        if let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                let old = e.metadata().and_then(|m| m.modified()).map(|t| t.elapsed().unwrap_or_default() > min_age).unwrap_or(false);
                if old && std::fs::remove_file(e.path()).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Checks that the root is writable (for `docmerge check` and `/readyz`).
    pub fn check_writable(&self) -> Result<(), DomainError> {
        let p = self.temp_path(".check");
        std::fs::write(&p, b"ok").map_err(|e| io_error(format!("the storage root {} is not writable", self.root.display()), e))?;
        let _ = std::fs::remove_file(p);
        Ok(())
    }
}

/// What a sweep did: files deleted, and files set aside but kept (used again meanwhile).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub deleted: usize,
    pub kept: usize,
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default() >= age)
}

/// A file-system error as a domain error: a full disk, a quota or a read-only file system is
/// `StorageFull` (507: the operator must act), anything else `Storage`.
pub fn io_error(what: impl Into<String>, e: std::io::Error) -> DomainError {
    let what = what.into();
    if is_out_of_space(&e) { DomainError::StorageFull(format!("{what}: {e}")) } else { DomainError::Storage(format!("{what}: {e}")) }
}

pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EROFS))
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes one struct we own; the path is NUL-terminated.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn age(store: &BlobStore, sha: &str, by: Duration) {
        std::fs::File::open(store.path(sha)).unwrap().set_modified(SystemTime::now() - by).unwrap();
    }

    /// `referenced` answers from a list that the test changes between the sweep's two looks.
    async fn sweep_with(store: &BlobStore, sha: &str, first: Vec<String>, second: Vec<String>, at_look: impl Fn(usize)) -> SweepReport {
        let calls = Mutex::new(0);
        store
            .sweep(vec![sha.to_string()], Duration::from_secs(60), |asked| {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                let answer = if n == 1 { first.clone() } else { second.clone() };
                at_look(n);
                async move { Ok(asked.into_iter().filter(|s| answer.contains(s)).collect()) }
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn sweep_deletes_only_what_nothing_uses_even_against_a_racing_upload() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let sha = store.put_bytes(b"the same scan").unwrap();
        let hour = Duration::from_secs(3600);

        // Used too recently: not even looked at.
        assert_eq!(sweep_with(&store, &sha, vec![], vec![], |_| {}).await, SweepReport::default());
        assert!(store.exists(&sha));

        // A row refers to it: kept.
        age(&store, &sha, hour);
        assert_eq!(sweep_with(&store, &sha, vec![sha.clone()], vec![sha.clone()], |_| {}).await, SweepReport::default());
        assert!(store.exists(&sha));

        // An identical upload commits its row between the sweep's two looks: put back.
        let r = sweep_with(&store, &sha, vec![], vec![sha.clone()], |_| {}).await;
        assert_eq!(r, SweepReport { deleted: 0, kept: 1 });
        assert!(store.exists(&sha), "the upload's file is there");

        // An identical upload reuses the file (touches it) before the sweep sets it aside, its
        // row not committed yet when the sweep looks again: kept because it was touched.
        age(&store, &sha, hour);
        let r = sweep_with(&store, &sha, vec![], vec![], |look| {
            if look == 1 {
                assert!(store.touch(&sha));
            }
        })
        .await;
        assert_eq!(r, SweepReport { deleted: 0, kept: 1 });
        assert!(store.exists(&sha));

        // The upload comes after the file was set aside: it finds none, stores its own copy and
        // commits its row before the second look; the copy set aside is dropped, the new one stays.
        age(&store, &sha, hour);
        let r = sweep_with(&store, &sha, vec![], vec![sha.clone()], |look| {
            if look == 2 {
                assert!(!store.exists(&sha), "set aside");
                assert_eq!(store.put_bytes(b"the same scan").unwrap(), sha);
            }
        })
        .await;
        assert_eq!(r, SweepReport { deleted: 0, kept: 1 });
        assert!(store.exists(&sha));

        // Nothing refers to it and nobody touched it: deleted, and nothing is left aside.
        age(&store, &sha, hour);
        assert_eq!(sweep_with(&store, &sha, vec![], vec![], |_| {}).await, SweepReport { deleted: 1, kept: 0 });
        assert!(!store.exists(&sha));
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/.sweep")).unwrap().count(), 0);
        // An upload of the same content afterwards simply stores it again.
        assert_eq!(store.put_bytes(b"the same scan").unwrap(), sha);
        assert!(store.exists(&sha));
    }

    #[test]
    fn the_orphan_sweep_lists_only_old_stored_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (old, new) = (store.put_bytes(b"old").unwrap(), store.put_bytes(b"new").unwrap());
        age(&store, &old, Duration::from_secs(7200));
        std::fs::write(dir.path().join("blobs/stray.txt"), b"x").unwrap();
        assert_eq!(store.untouched_for(Duration::from_secs(3600)), vec![old.clone()]);
        assert!(store.unused_for(&new).unwrap() < Duration::from_secs(60));
    }
}
