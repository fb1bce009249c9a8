//! Only does something with `--features embed-runtime`: checks the runtime files to embed
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
    if std::env::var_os("CARGO_FEATURE_EMBED_RUNTIME").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DOCMERGE_EMBED_DIR");
    println!("cargo:rerun-if-changed=scripts/fetch-runtime.sh");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
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
