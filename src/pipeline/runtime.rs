//! Where the runtime files (pdfium shared library, OCR models) are looked up.

use std::path::{Path, PathBuf};

pub const PDFIUM_FILE: &str = "libpdfium.so";
pub const DET_MODEL_FILE: &str = "PP-OCRv6_det_small.rten";
pub const REC_MODEL_FILE: &str = "PP-OCRv6_rec_small.rten";
pub const DICT_FILE: &str = "ppocrv6_dict.txt";

/// What to do when a runtime file is not found anywhere.
const FETCH_HINT: &str = "use the release binary (it carries them), install the docmerge package, set DOCMERGE_RUNTIME_DIR \
     to a folder with lib/ and models/ (scripts/fetch-runtime.sh DIR fills one), or set pdf.library_path and ocr.models_dir";

/// The environment variable naming a folder with `lib/` and `models/` inside.
pub const RUNTIME_DIR_ENV: &str = "DOCMERGE_RUNTIME_DIR";

/// Explicit locations from the configuration; `None` means "search the usual places".
#[derive(Debug, Clone, Default)]
pub struct RuntimePaths {
    /// The pdfium shared library file itself, or a directory holding libpdfium.so.
    pub pdfium_library: Option<PathBuf>,
    /// Directory holding the OCR model files.
    pub models_dir: Option<PathBuf>,
    /// TrueType font for searchable-PDF words beyond Latin-1 (Polish, Czech, Greek, Cyrillic…).
    pub text_font: Option<PathBuf>,
    /// Where explicit paths come from, for `docmerge check` (None: the configuration).
    pub origin: Option<&'static str>,
}

impl RuntimePaths {
    fn origin(&self) -> &'static str {
        self.origin.unwrap_or("the configuration")
    }
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

/// Candidate directories, in lookup order, for one kind of runtime file, each with the name of
/// where it comes from: the configuration (authoritative: nothing else is tried), then
/// `DOCMERGE_RUNTIME_DIR`, then the packaged location, then beside the binary (and, for
/// `cargo run` / `cargo test`, the repository's `.runtime`), then the working directory's
/// `.runtime`. The embedded copy (release builds) comes after all of these.
fn candidate_dirs(explicit: Option<&Path>, origin: &'static str, system_dir: &str, sub: &str) -> Vec<(PathBuf, &'static str)> {
    let mut dirs = Vec::new();
    if let Some(p) = explicit {
        // An explicit path is authoritative: do not silently fall back elsewhere.
        dirs.push((p.to_path_buf(), origin));
        return dirs;
    }
    if let Some(d) = std::env::var_os(RUNTIME_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(d).join(sub), RUNTIME_DIR_ENV));
    }
    dirs.push((PathBuf::from(system_dir), "the packaged location"));
    if let Ok(exe) = std::env::current_exe()
        && let Some(exe_dir) = exe.parent()
    {
        dirs.push((exe_dir.to_path_buf(), "beside the binary"));
        dirs.push((exe_dir.join(sub), "beside the binary"));
        // `cargo run` / `cargo test`: target/{debug,release}/ -> repo root/.runtime
        // (tests and examples live one level deeper, in target/debug/deps|examples).
        for up in [exe_dir.join("../.."), exe_dir.join("../../..")] {
            dirs.push((up.join(".runtime").join(sub), "the source tree"));
        }
    }
    dirs.push((PathBuf::from(".runtime").join(sub), "the working directory"));
    dirs
}

/// A runtime file and where it was found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub path: PathBuf,
    pub from: &'static str,
}

impl Found {
    fn describe(&self) -> String {
        format!("{} (from {})", self.path.display(), self.from)
    }
}

fn find_file(explicit: Option<&Path>, origin: &'static str, system_dir: &str, sub: &str, file: &str) -> Result<Found, Vec<PathBuf>> {
    if let Some(p) = explicit
        && p.is_file()
    {
        return Ok(Found { path: p.to_path_buf(), from: origin });
    }
    let dirs = candidate_dirs(explicit, origin, system_dir, sub);
    for (d, from) in &dirs {
        let candidate = d.join(file);
        if candidate.is_file() {
            return Ok(Found { path: candidate.canonicalize().unwrap_or(candidate), from });
        }
    }
    Err(dirs.into_iter().map(|(d, _)| d).collect())
}

fn looked_in(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn find_pdfium(paths: &RuntimePaths) -> Result<Found, String> {
    find_file(paths.pdfium_library.as_deref(), paths.origin(), "/usr/lib/docmerge", "lib", PDFIUM_FILE)
        .map_err(|dirs| format!("{PDFIUM_FILE} was not found in {}", looked_in(&dirs)))
}

pub(crate) fn find_model(paths: &RuntimePaths, file: &str) -> Result<Found, String> {
    find_file(paths.models_dir.as_deref(), paths.origin(), "/usr/share/docmerge/models", "models", file)
        .map_err(|dirs| format!("{file} was not found in {}", looked_in(&dirs)))
}

/// What is missing, in one sentence with what to do once: None when every file is found.
pub(crate) fn missing_message(paths: &RuntimePaths) -> Option<String> {
    let mut parts = Vec::new();
    if let Err(e) = find_pdfium(paths) {
        parts.push(format!("the PDF library is missing ({e})"));
    }
    let models: Vec<&str> = [DET_MODEL_FILE, REC_MODEL_FILE, DICT_FILE].into_iter().filter(|f| find_model(paths, f).is_err()).collect();
    if !models.is_empty() {
        let dirs = candidate_dirs(paths.models_dir.as_deref(), paths.origin(), "/usr/share/docmerge/models", "models");
        let dirs: Vec<PathBuf> = dirs.into_iter().map(|(d, _)| d).collect();
        parts.push(format!("the OCR models are missing ({} not found in {})", models.join(", "), looked_in(&dirs)));
    }
    (!parts.is_empty()).then(|| format!("{}. To fix: {FETCH_HINT}", parts.join("; ")))
}

/// For `docmerge check`, after the lines of what is missing.
pub const FIX_HINT: &str = FETCH_HINT;

/// Whether the PDF library and every OCR model file are found without the embedded copy.
pub(crate) fn all_found(paths: &RuntimePaths) -> bool {
    find_pdfium(paths).is_ok() && [DET_MODEL_FILE, REC_MODEL_FILE, DICT_FILE].iter().all(|f| find_model(paths, f).is_ok())
}

/// Cheap presence check for `docmerge check`: item, then where it was found or what to do.
pub fn check(paths: &RuntimePaths) -> Vec<(String, Result<String, String>)> {
    let mut out = vec![("PDF library (pdfium)".to_string(), find_pdfium(paths).map(|f| f.describe()))];
    for (item, file) in
        [("OCR detection model", DET_MODEL_FILE), ("OCR recognition model", REC_MODEL_FILE), ("OCR character dictionary", DICT_FILE)]
    {
        out.push((item.to_string(), find_model(paths, file).map(|f| f.describe())));
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
