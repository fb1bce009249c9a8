//! `--features embed-runtime`: the PDF library and OCR models live inside the binary and are
//! unpacked once into `<storage.root>/runtime/` (lib/ and models/, the same shape as
//! `.runtime`), so one file is all a laptop needs. pdfium can only be loaded from a file, hence
//! unpacking rather than loading from memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub struct EmbeddedFile {
    /// Relative to the runtime directory, e.g. `lib/libpdfium.so`.
    pub path: &'static str,
    /// The sum pinned in scripts/fetch-runtime.sh (build.rs refused any other bytes);
    /// `None` for licence texts.
    pub sha256: Option<&'static str>,
    pub bytes: &'static [u8],
}

pub static FILES: &[EmbeddedFile] = include!(concat!(env!("OUT_DIR"), "/embedded_runtime.rs"));

/// Where the files go: `<storage.root>/runtime`, or `$XDG_DATA_HOME/docmerge/runtime` (default
/// `~/.local/share/docmerge/runtime`) when the storage root cannot be written.
pub fn unpack_dir(storage_root: &Path) -> PathBuf {
    let preferred = storage_root.join("runtime");
    if std::fs::create_dir_all(&preferred).is_ok() {
        return preferred;
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data_home.join("docmerge/runtime")
}

/// Unpacks every embedded file whose copy on disk is missing or differs, and checks each
/// pinned file's sha256 after writing it. Safe with several processes sharing the storage
/// root: each writes its own temp file and renames it into place.
pub fn ensure_unpacked(dir: &Path) -> Result<(), String> {
    let mut written = 0;
    for f in FILES {
        let dest = dir.join(f.path);
        if std::fs::read(&dest).is_ok_and(|on_disk| on_disk == f.bytes) {
            continue;
        }
        write_verified(f, &dest).map_err(|e| format!("could not unpack the embedded {} into {}: {e}", f.path, dest.display()))?;
        written += 1;
    }
    if written > 0 {
        tracing::info!(dir = %dir.display(), files = written, "unpacked the embedded PDF library and OCR models");
    }
    Ok(())
}

fn write_verified(f: &EmbeddedFile, dest: &Path) -> Result<(), String> {
    let parent = dest.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = parent.join(format!(".{}.{}.part", dest.file_name().and_then(|n| n.to_str()).unwrap_or("file"), std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        out.write_all(f.bytes).map_err(|e| e.to_string())?;
        out.sync_all().map_err(|e| e.to_string())?;
        drop(out);
        if let Some(pinned) = f.sha256 {
            let written = std::fs::read(&tmp).map_err(|e| e.to_string())?;
            let actual = hex::encode(Sha256::digest(&written));
            if actual != pinned {
                return Err(format!("the written file has sha256 {actual}, not the pinned {pinned} (disk full or failing?)"));
            }
        }
        std::fs::rename(&tmp, dest).map_err(|e| e.to_string())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
