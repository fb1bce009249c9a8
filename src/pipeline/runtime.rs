//! Where the runtime files (pdfium shared library, OCR models) are looked up.

use std::path::{Path, PathBuf};

pub const PDFIUM_FILE: &str = "libpdfium.so";
pub const DET_MODEL_FILE: &str = "PP-OCRv6_det_small.rten";
pub const REC_MODEL_FILE: &str = "PP-OCRv6_rec_small.rten";
pub const DICT_FILE: &str = "ppocrv6_dict.txt";

const FETCH_HINT: &str = "run scripts/fetch-runtime.sh (or install the docmerge package, which ships them)";

/// Explicit locations from the configuration; `None` means "search the usual places".
#[derive(Debug, Clone, Default)]
pub struct RuntimePaths {
    /// The pdfium shared library file itself, or a directory holding libpdfium.so.
    pub pdfium_library: Option<PathBuf>,
    /// Directory holding the OCR model files.
    pub models_dir: Option<PathBuf>,
    /// TrueType font for searchable-PDF words beyond Latin-1 (Polish, Czech, Greek, Cyrillic…).
    pub text_font: Option<PathBuf>,
}

/// Fonts with wide coverage (Latin, Greek, Cyrillic) where common systems keep them, in the
/// order tried when `pdf.text_font` is not set. Debian: `fonts-dejavu-core`.
pub const TEXT_FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// The font for text-layer words that Helvetica (WinAnsi) cannot carry. `Ok(None)`: none on
/// this system (those characters become '?' in the searchable PDF; the stored, searchable
/// text keeps them). An explicit path that does not exist is an error, not a silent fallback.
pub(crate) fn find_text_font(paths: &RuntimePaths) -> Result<Option<PathBuf>, String> {
    match &paths.text_font {
        Some(p) if p.is_file() => Ok(Some(p.clone())),
        Some(p) => Err(format!("the text-layer font {} (pdf.text_font) does not exist", p.display())),
        None => Ok(TEXT_FONT_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())),
    }
}

/// Candidate directories, in lookup order, for one kind of runtime file.
fn candidate_dirs(explicit: Option<&Path>, system_dir: &str, sub: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = explicit {
        dirs.push(p.to_path_buf());
        // An explicit path is authoritative: do not silently fall back elsewhere.
        return dirs;
    }
    dirs.push(PathBuf::from(system_dir));
    if let Ok(exe) = std::env::current_exe()
        && let Some(exe_dir) = exe.parent()
    {
        dirs.push(exe_dir.to_path_buf());
        dirs.push(exe_dir.join(sub));
        // `cargo run` / `cargo test`: target/{debug,release}/ -> repo root/.runtime
        // (tests and examples live one level deeper, in target/debug/deps|examples).
        for up in [exe_dir.join("../.."), exe_dir.join("../../..")] {
            dirs.push(up.join(".runtime").join(sub));
        }
    }
    dirs.push(PathBuf::from(".runtime").join(sub));
    dirs
}

fn find_file(explicit: Option<&Path>, system_dir: &str, sub: &str, file: &str) -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(p) = explicit
        && p.is_file()
    {
        return Ok(p.to_path_buf());
    }
    let dirs = candidate_dirs(explicit, system_dir, sub);
    for d in &dirs {
        let candidate = d.join(file);
        if candidate.is_file() {
            return Ok(candidate.canonicalize().unwrap_or(candidate));
        }
    }
    Err(dirs)
}

fn looked_in(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn find_pdfium(paths: &RuntimePaths) -> Result<PathBuf, String> {
    find_file(paths.pdfium_library.as_deref(), "/usr/lib/docmerge", "lib", PDFIUM_FILE)
        .map_err(|dirs| format!("the PDF library is missing: {PDFIUM_FILE} was not found in {}; {FETCH_HINT}", looked_in(&dirs)))
}

pub(crate) fn find_model(paths: &RuntimePaths, file: &str) -> Result<PathBuf, String> {
    let explicit = paths.models_dir.as_deref();
    let dirs = candidate_dirs(explicit, "/usr/share/docmerge/models", "models");
    for d in &dirs {
        let candidate = d.join(file);
        if candidate.is_file() {
            return Ok(candidate.canonicalize().unwrap_or(candidate));
        }
    }
    Err(format!("the OCR model file {file} is missing: it was not found in {}; {FETCH_HINT}", looked_in(&dirs)))
}

/// Cheap presence check for `docmerge check`: item, then where it was found or what to do.
pub fn check(paths: &RuntimePaths) -> Vec<(String, Result<String, String>)> {
    let mut out = vec![("PDF library (pdfium)".to_string(), find_pdfium(paths).map(|p| p.display().to_string()))];
    for (item, file) in
        [("OCR detection model", DET_MODEL_FILE), ("OCR recognition model", REC_MODEL_FILE), ("OCR character dictionary", DICT_FILE)]
    {
        out.push((item.to_string(), find_model(paths, file).map(|p| p.display().to_string())));
    }
    let font = find_text_font(paths).map(|found| match found {
        Some(p) => p.display().to_string(),
        None => "none found (optional): searchable PDFs write characters beyond Latin-1 as '?'; \
                 install fonts-dejavu-core or set pdf.text_font"
            .to_string(),
    });
    out.push(("Text-layer font (beyond Latin-1)".to_string(), font));
    out
}
