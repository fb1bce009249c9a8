//! `docmerge bench archive`: a synthetic library of N documents (one page of text and a small
//! original each) is written as an archive, imported into a fresh database, exported again, and
//! the export imported into another fresh database. Each step runs as a child `docmerge`
//! process whose peak resident memory (VmHWM) is sampled from /proc.
//!
//! The synthetic archive writer is also what the tests use for a "larger" library.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::export::{BlobLine, HashedFile, blob_rel_path};
use crate::app::AppError;
use crate::domain::archive::*;

const WORDS: &[&str] = &[
    "invoice",
    "contract",
    "receipt",
    "insurance",
    "tax",
    "letter",
    "bank",
    "statement",
    "policy",
    "rent",
    "electricity",
    "water",
    "health",
    "salary",
    "pension",
    "car",
    "repair",
    "school",
    "phone",
    "internet",
    "garden",
    "ticket",
    "refund",
];

fn synthetic_text(i: usize) -> String {
    let mut s = format!("Document number {i}. ");
    let mut x = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for _ in 0..80 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s.push_str(WORDS[(x >> 33) as usize % WORDS.len()]);
        s.push(' ');
    }
    s
}

/// Writes a complete, valid archive of `documents` synthetic documents (owned by one user
/// `admin`, spread over 50 folders, two tags each) into the new directory `dir`.
pub fn write_synthetic_archive(dir: &Path, documents: usize) -> Result<(), AppError> {
    let io = |e: std::io::Error| AppError::Runtime(format!("writing the synthetic archive: {e}"));
    std::fs::create_dir_all(dir.join("data")).map_err(io)?;
    let mut files = Vec::new();
    let t0: i64 = 1_700_000_000_000;
    let mut table = |name: &str, rows: &mut dyn FnMut(&mut HashedFile) -> Result<(), AppError>| -> Result<(), AppError> {
        let mut f = HashedFile::create(dir, &format!("data/{name}.jsonl"))?;
        rows(&mut f)?;
        files.push(f.finish()?);
        Ok(())
    };
    table("users", &mut |f| {
        // The password hash of "admin-password-1" is not needed: the benchmark never logs in.
        Ok(f.line(&json!({"id": 1, "username": "admin", "password_hash": "$argon2id$synthetic", "is_admin": true, "disabled": false, "created_at": t0}))?)
    })?;
    table("api_tokens", &mut |_| Ok(()))?;
    table("folders", &mut |f| {
        f.line(&json!({"id": 1, "owner_id": 1, "parent_id": null, "name": "Home", "kind": "home", "created_at": t0, "updated_at": t0, "trashed_at": null}))?;
        f.line(&json!({"id": 2, "owner_id": 1, "parent_id": 1, "name": "Inbox", "kind": "inbox", "created_at": t0, "updated_at": t0, "trashed_at": null}))?;
        for i in 0..50 {
            f.line(&json!({"id": 3 + i, "owner_id": 1, "parent_id": 1, "name": format!("Folder {i}"), "kind": "folder", "created_at": t0, "updated_at": t0, "trashed_at": null}))?;
        }
        Ok(())
    })?;
    table("tags", &mut |f| {
        for (i, w) in WORDS.iter().enumerate() {
            f.line(&json!({"id": i + 1, "owner_id": 1, "name": w, "color": "#6b7280"}))?;
        }
        Ok(())
    })?;
    let original = |i: usize| format!("synthetic original {i}\n{}", synthetic_text(i)).into_bytes();
    let sha = |i: usize| crate::storage::sha256_hex(&original(i));
    table("documents", &mut |f| {
        for i in 1..=documents {
            let at = t0 + i as i64 * 1000;
            f.line(&json!({"id": i, "owner_id": 1, "folder_id": 3 + i % 50, "title": format!("Synthetic {i} {}", WORDS[i % WORDS.len()]),
                "state": "ready", "error": null, "current_version_id": i, "sha256": sha(i), "duplicate_of": null,
                "created_at": at, "updated_at": at, "trashed_at": null}))?;
        }
        Ok(())
    })?;
    table("versions", &mut |f| {
        for i in 1..=documents {
            f.line(&json!({"id": i, "document_id": i, "number": 1, "filename": format!("synthetic-{i}.txt"), "mime": "text/plain",
                "size": original(i).len(), "sha256": sha(i), "state": "ready", "error": null, "page_count": 1, "pages_done": 1,
                "searchable_sha256": null, "note": null, "created_at": t0 + i as i64 * 1000}))?;
        }
        Ok(())
    })?;
    table("pages", &mut |f| {
        for i in 1..=documents {
            f.line(&json!({"id": i, "version_id": i, "number": 1, "width": 595.0, "height": 842.0, "text": synthetic_text(i),
                "lines_json": "[]", "source": "text_layer", "thumbnail_sha256": null, "preview_sha256": null}))?;
        }
        Ok(())
    })?;
    table("document_tags", &mut |f| {
        for i in 1..=documents {
            let (a, b) = (1 + i % WORDS.len(), 1 + (i / 7) % WORDS.len());
            f.line(&json!({"document_id": i, "tag_id": a.min(b)}))?;
            if a != b {
                f.line(&json!({"document_id": i, "tag_id": a.max(b)}))?;
            }
        }
        Ok(())
    })?;
    table("folder_tags", &mut |_| Ok(()))?;
    // Blobs, listed in hash order as an export lists them.
    let mut blobs: Vec<(String, usize)> = (1..=documents).map(|i| (sha(i), i)).collect();
    blobs.sort_unstable();
    let mut list = HashedFile::create(dir, BLOB_LIST_FILE)?;
    for (sha, i) in blobs {
        let bytes = original(i);
        let p = dir.join(blob_rel_path(&sha));
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        std::fs::File::create(&p).and_then(|mut f| f.write_all(&bytes)).map_err(io)?;
        list.line(&BlobLine { sha256: sha, size: bytes.len() as u64, derived: false })?;
    }
    files.push(list.finish()?);
    let counts: BTreeMap<String, u64> =
        files.iter().map(|f| (f.path.trim_start_matches("data/").trim_end_matches(".jsonl").to_string(), f.rows)).collect();
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        docmerge_version: crate::VERSION.into(),
        created_at: chrono::Utc::now().to_rfc3339(),
        source_backend: "synthetic".into(),
        incremental_since: None,
        with_derived: false,
        files,
        counts,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| AppError::Runtime(e.to_string()))?;
    std::fs::write(dir.join(MANIFEST_FILE), json).map_err(io)
}

/// Runs `docmerge ARGS` with the database and storage root given; returns wall seconds and
/// the peak resident set (MiB) sampled from /proc/PID/status.
fn run_child(args: &[&str], database: &str, storage: &Path) -> Result<(f64, f64), AppError> {
    let exe = std::env::current_exe().map_err(|e| AppError::Runtime(e.to_string()))?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(args)
        .env("DOCMERGE__DATABASE__URL", database)
        .env("DOCMERGE__STORAGE__ROOT", storage)
        .env("DOCMERGE__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| AppError::Runtime(format!("cannot start docmerge: {e}")))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(line) = s.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak_kb = peak_kb.max(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0));
        }
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(st)) => return Err(AppError::Runtime(format!("docmerge {} failed ({st})", args.join(" ")))),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(AppError::Runtime(e.to_string())),
        }
    }
    Ok((started.elapsed().as_secs_f64(), peak_kb as f64 / 1024.0))
}

async fn fresh_database(base: &str, dir: &Path, tag: &str) -> Result<String, AppError> {
    if base.starts_with("sqlite") {
        return Ok(format!("sqlite://{}", dir.join(format!("{tag}.db")).display()));
    }
    let name = format!("dm_bench_archive_{tag}_{}", std::process::id());
    Ok(crate::db::create_scratch_database(base, &name).await?)
}

pub async fn bench_archive(databases: Vec<String>, documents: usize, dir: Option<PathBuf>) -> Result<(), AppError> {
    let databases = if databases.is_empty() { vec!["sqlite".to_string()] } else { databases };
    let _tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            let t = tempfile::tempdir().map_err(|e| AppError::Runtime(e.to_string()))?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
    };
    let synthetic = dir.join("synthetic");
    if !synthetic.join(MANIFEST_FILE).is_file() {
        eprintln!("writing a synthetic archive of {documents} documents to {}", synthetic.display());
        let s = synthetic.clone();
        tokio::task::spawn_blocking(move || write_synthetic_archive(&s, documents))
            .await
            .map_err(|e| AppError::Runtime(e.to_string()))??;
    }
    println!("export and import of {documents} synthetic documents (1 page of text, a ~700-byte original each)");
    println!("{:<10} {:<26} {:>10} {:>12} {:>14}", "backend", "step", "seconds", "docs/s", "peak RSS MiB");
    for (n, db) in databases.iter().enumerate() {
        let run_dir = dir.join(format!("run{n}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir).map_err(|e| AppError::Runtime(e.to_string()))?;
        let a = fresh_database(db, &run_dir, &format!("a{n}")).await?;
        let b = fresh_database(db, &run_dir, &format!("b{n}")).await?;
        let backend = if db.starts_with("sqlite") { "sqlite" } else { "postgres" };
        let archive = run_dir.join("export.tar");
        let steps: [(&str, Vec<String>, &String, PathBuf); 3] = [
            ("import (synthetic → A)", vec!["import".into(), synthetic.display().to_string()], &a, run_dir.join("data-a")),
            ("export (A → .tar)", vec!["export".into(), archive.display().to_string()], &a, run_dir.join("data-a")),
            ("import (.tar → B)", vec!["import".into(), archive.display().to_string()], &b, run_dir.join("data-b")),
        ];
        for (label, args, url, storage) in steps {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (secs, peak) = tokio::task::spawn_blocking({
                let (url, storage) = (url.clone(), storage.clone());
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                move || run_child(&args.iter().map(String::as_str).collect::<Vec<_>>(), &url, &storage)
            })
            .await
            .map_err(|e| AppError::Runtime(e.to_string()))??;
            println!("{:<10} {:<26} {:>10.1} {:>12.0} {:>14.1}", backend, label, secs, documents as f64 / secs, peak);
        }
        if backend == "postgres" {
            for tag in [format!("a{n}"), format!("b{n}")] {
                let _ = crate::db::postgres::drop_database(db, &format!("dm_bench_archive_{tag}_{}", std::process::id())).await;
            }
        }
    }
    Ok(())
}
