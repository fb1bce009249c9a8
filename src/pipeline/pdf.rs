//! pdfium: binding (once per process), inspection, text layers, rendering.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use image::{DynamicImage, GrayImage, RgbImage};
use pdfium_render::prelude::*;

use super::layout::{LayoutBox, reading_order};
use super::{Limits, Line, PageInfo, PipelineError};

static PDFIUM: Mutex<Option<&'static Pdfium>> = Mutex::new(None);

/// pdfium can be bound only once per process: the first successful bind wins and
/// every later Engine shares it.
pub(crate) fn bind(library: &Path) -> Result<&'static Pdfium, String> {
    let mut guard = PDFIUM.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = *guard {
        return Ok(p);
    }
    let bindings = Pdfium::bind_to_library(library).map_err(|e| {
        format!("the PDF library {} could not be loaded ({e}); run scripts/fetch-runtime.sh to install a working copy", library.display())
    })?;
    let pdfium: &'static Pdfium = Box::leak(Box::new(Pdfium::new(bindings)));
    *guard = Some(pdfium);
    Ok(pdfium)
}

pub(crate) fn map_load_error(e: PdfiumError) -> PipelineError {
    match e {
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError) => PipelineError::Encrypted,
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::FormatError) => {
            PipelineError::Damaged("the PDF structure cannot be read".into())
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::FileError) => {
            PipelineError::Damaged("the PDF file cannot be opened or read".into())
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::SecurityError) => {
            PipelineError::Damaged("the PDF uses an unsupported security handler".into())
        }
        PdfiumError::IoError(io) => PipelineError::Damaged(format!("the PDF cannot be read ({io})")),
        other => PipelineError::Damaged(format!("the PDF cannot be read ({other})")),
    }
}

/// pdfium says why a document did not load through one process-wide "last error", which the
/// next failed load on any thread overwrites; pdfium-render reads it right after its own load
/// call, so another thread's load landing in between gave one damaged PDF another's reason (a
/// truncated file reported "password-protected"). Every load holds this lock, so each reads
/// its own error; opening is short (the pages are parsed when used).
static LOADING: Mutex<()> = Mutex::new(());

pub(crate) fn open<'a>(pdfium: &'a Pdfium, path: &Path) -> Result<PdfDocument<'a>, PipelineError> {
    let _one_at_a_time = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    pdfium.load_pdf_from_file(path, None).map_err(map_load_error)
}

/// Which file an open document was read from: the path and the file's size and mtime, so a
/// file replaced under the same name is opened again.
#[derive(PartialEq)]
struct FileKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileKey {
    fn of(path: &Path) -> Result<FileKey, PipelineError> {
        let meta = std::fs::metadata(path).map_err(|e| PipelineError::Damaged(format!("the PDF cannot be read ({e})")))?;
        Ok(FileKey { path: path.to_path_buf(), len: meta.len(), modified: meta.modified().ok() })
    }
}

thread_local! {
    /// The document this thread read last. Page jobs of one version run one after another on
    /// the same few threads; opening the file again for every page parsed it again and walked
    /// the page tree from the start (pdfium's page lookup is linear in the page index), which
    /// made a 2,000-page document quadratic. One document per thread bounds the memory.
    static LAST_DOCUMENT: RefCell<Option<(FileKey, PdfDocument<'static>)>> = const { RefCell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// Documents `with_document` opened on this thread (tests check the reuse).
    pub(crate) static OPENED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Run `f` on the document at `path`, reusing this thread's open copy when it is the same file.
pub(crate) fn with_document<R>(
    pdfium: &'static Pdfium,
    path: &Path,
    f: impl FnOnce(&PdfDocument<'static>) -> Result<R, PipelineError>,
) -> Result<R, PipelineError> {
    let key = FileKey::of(path)?;
    LAST_DOCUMENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(k, _)| k != &key).unwrap_or(true) {
            // Close the previous document before opening the next: one at a time per thread.
            *slot = None;
            *slot = Some((key, open(pdfium, path)?));
            #[cfg(test)]
            OPENED.with(|n| n.set(n.get() + 1));
        }
        let (_, doc) = slot.as_ref().expect("document was just opened");
        f(doc)
    })
}

/// Minimum non-blank characters for a page's text layer to count as usable.
const MIN_TEXT_CHARS: usize = 8;

/// Is the page's existing text worth taking instead of OCR? Counts real
/// characters and rejects layers that are mostly unmapped glyphs (U+FFFD,
/// control or private-use code points), which fonts without a ToUnicode map produce.
pub(crate) fn text_is_usable(text: &str) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        if c == '\u{FFFD}' || c.is_control() || ('\u{E000}'..='\u{F8FF}').contains(&c) {
            bad += 1;
        } else {
            good += 1;
        }
    }
    good >= MIN_TEXT_CHARS && bad * 10 <= good
}

pub(crate) fn inspect(pdfium: &Pdfium, path: &Path, limits: &Limits) -> Result<Vec<PageInfo>, PipelineError> {
    let doc = open(pdfium, path)?;
    let n = doc.pages().len();
    if n <= 0 {
        return Err(PipelineError::Damaged("the PDF has no pages".into()));
    }
    if n as u64 > limits.max_pages as u64 {
        return Err(PipelineError::TooManyPages { pages: n as u64, limit: limits.max_pages });
    }
    let mut pages = Vec::with_capacity(n as usize);
    for i in 0..n {
        let page = doc.pages().get(i).map_err(|e| PipelineError::Damaged(format!("page {} cannot be read ({e})", i + 1)))?;
        let (w, h) = (page.width().value, page.height().value);
        if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
            return Err(PipelineError::Damaged(format!("page {} has no size", i + 1)));
        }
        let has_text_layer = page.text().map(|t| text_is_usable(&all_text(&t))).unwrap_or(false);
        pages.push(PageInfo { width: w, height: h, has_text_layer });
    }
    Ok(pages)
}

/// All text of a page. `PdfPageText::all()` clips to the *displayed* page size
/// taken as user-space bounds, which loses text on rotated (/Rotate 90/270) pages.
pub(crate) fn all_text(text: &PdfPageText) -> String {
    const FAR: f32 = 1.0e6;
    text.inside_rect(PdfRect::new(PdfPoints::new(-FAR), PdfPoints::new(-FAR), PdfPoints::new(FAR), PdfPoints::new(FAR)))
}

/// Affine map between the page's user space (points) and its displayed frame
/// normalised to 0..1 with origin top-left (rotation and crop box included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageFrame {
    /// [a, b, c, d, e, f]: nx = a*x + c*y + e, ny = b*x + d*y + f
    m: [f32; 6],
}

impl PageFrame {
    pub fn of(page: &PdfPage) -> Result<PageFrame, PipelineError> {
        // Sample the device mapping on a fine grid (pdfium returns integer pixels).
        const RES: i32 = 10_000;
        let cfg = PdfRenderConfig::new().set_target_size(RES, RES);
        let to_px = |x: f32, y: f32| -> Result<(f32, f32), PipelineError> {
            let (px, py) = page
                .points_to_pixels(PdfPoints::new(x), PdfPoints::new(y), &cfg)
                .map_err(|e| PipelineError::Internal(format!("page coordinate mapping failed: {e}")))?;
            Ok((px as f32 / RES as f32, py as f32 / RES as f32))
        };
        let (ox, oy) = to_px(0.0, 0.0)?;
        let (xx, xy) = to_px(1000.0, 0.0)?;
        let (yx, yy) = to_px(0.0, 1000.0)?;
        Ok(PageFrame { m: [(xx - ox) / 1000.0, (xy - oy) / 1000.0, (yx - ox) / 1000.0, (yy - oy) / 1000.0, ox, oy] })
    }

    pub fn to_norm(self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.m;
        (a * x + c * y + e, b * x + d * y + f)
    }

    pub fn to_user(self, nx: f32, ny: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.m;
        let det = a * d - b * c;
        let (px, py) = (nx - e, ny - f);
        ((d * px - c * py) / det, (-b * px + a * py) / det)
    }

    /// Normalised, top-left-origin box of a user-space rectangle.
    pub fn rect_to_norm(&self, r: &PdfRect) -> [f32; 4] {
        let pts = [
            self.to_norm(r.left().value, r.bottom().value),
            self.to_norm(r.right().value, r.top().value),
            self.to_norm(r.left().value, r.top().value),
            self.to_norm(r.right().value, r.bottom().value),
        ];
        let x0 = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min);
        let y0 = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min);
        let x1 = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max);
        let y1 = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max);
        [x0.clamp(0.0, 1.0), y0.clamp(0.0, 1.0), x1.clamp(0.0, 1.0), y1.clamp(0.0, 1.0)]
    }
}

/// Text and line boxes of a page's existing text layer (no OCR).
pub(crate) fn text_layer(page: &PdfPage) -> Result<(String, Vec<Line>), PipelineError> {
    let text = page.text().map_err(|e| PipelineError::Internal(format!("reading the text layer failed: {e}")))?;
    let frame = PageFrame::of(page)?;
    // Lines as pdfium's text extraction breaks them (it also decides where the
    // spaces between words go); boxes from the characters.
    let mut lines: Vec<Line> = Vec::new();
    let mut current = String::new();
    let mut bbox: Option<[f32; 4]> = None;
    let flush = |current: &mut String, bbox: &mut Option<[f32; 4]>, lines: &mut Vec<Line>| {
        let t = current.trim();
        if let (false, Some(b)) = (t.is_empty(), *bbox) {
            lines.push(Line { text: t.split_whitespace().collect::<Vec<_>>().join(" "), bbox: b, words: Vec::new() });
        }
        current.clear();
        *bbox = None;
    };
    for ch in text.chars().iter() {
        match ch.unicode_char() {
            Some('\r' | '\n') => flush(&mut current, &mut bbox, &mut lines),
            Some(c) => {
                current.push(c);
                if !c.is_whitespace()
                    && let Ok(r) = ch.loose_bounds()
                {
                    let b = frame.rect_to_norm(&r);
                    bbox = Some(match bbox {
                        None => b,
                        Some(a) => [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])],
                    });
                }
            }
            None => {}
        }
    }
    flush(&mut current, &mut bbox, &mut lines);
    // Same reading order as OCR pages (columns, table rows), from the line boxes.
    let boxes: Vec<LayoutBox> = lines
        .iter()
        .map(|l| LayoutBox { x0: l.bbox[0] * 1000.0, y0: l.bbox[1] * 1000.0, x1: l.bbox[2] * 1000.0, y1: l.bbox[3] * 1000.0 })
        .collect();
    let mut ordered = Vec::with_capacity(lines.len());
    for group in reading_order(&boxes) {
        let mut merged: Option<Line> = None;
        for i in group {
            let l = &lines[i];
            merged = Some(match merged {
                None => l.clone(),
                Some(mut m) => {
                    m.text.push(' ');
                    m.text.push_str(&l.text);
                    m.bbox = [m.bbox[0].min(l.bbox[0]), m.bbox[1].min(l.bbox[1]), m.bbox[2].max(l.bbox[2]), m.bbox[3].max(l.bbox[3])];
                    m
                }
            });
        }
        ordered.extend(merged);
    }
    let all = ordered.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
    Ok((all, ordered))
}

/// Render a page (BGRA; pdfium's grey bitmap format aborts the process) with
/// `width_px` as the displayed width.
pub(crate) fn render(page: &PdfPage, width_px: u32) -> Result<DynamicImage, PipelineError> {
    let cfg = PdfRenderConfig::new().set_target_width(width_px as i32).render_form_data(true).set_clear_color(PdfColor::WHITE);
    let bitmap = page.render_with_config(&cfg).map_err(|e| PipelineError::Internal(format!("rendering failed: {e}")))?;
    let format = bitmap.format().map_err(|e| PipelineError::Internal(format!("rendering failed: {e}")))?;
    let (w, h) = (bitmap.width() as u32, bitmap.height() as u32);
    let raw = bitmap.as_raw_bytes();
    drop(bitmap);
    match format {
        PdfBitmapFormat::BGRA | PdfBitmapFormat::BGRx => image_from_bgrx(&raw, w, h),
        _ => Err(PipelineError::Internal(format!("rendering produced an unexpected pixel format {format:?}"))),
    }
}

/// Pixels of a BGRx/BGRA bitmap (rows `stride` bytes apart) as a grey image when every pixel is
/// grey — text pages nearly always are, and grey is a third of the work for the previews,
/// their JPEGs and OCR — else as RGB.
pub(crate) fn image_from_bgrx(raw: &[u8], w: u32, h: u32) -> Result<DynamicImage, PipelineError> {
    let (wu, hu) = (w as usize, h as usize);
    let stride = raw.len().checked_div(hu).unwrap_or(0);
    if wu == 0 || hu == 0 || stride < wu * 4 {
        return Err(PipelineError::Internal(format!("rendering produced a {w}x{h} bitmap of {} bytes", raw.len())));
    }
    let rows = || raw.chunks_exact(stride).take(hu).map(|r| &r[..wu * 4]);
    let grey = rows().all(|r| r.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]));
    let bad = || PipelineError::Internal("rendering produced a bitmap of the wrong size".into());
    if grey {
        let mut luma = Vec::with_capacity(wu * hu);
        for r in rows() {
            luma.extend(r.chunks_exact(4).map(|p| p[0]));
        }
        GrayImage::from_raw(w, h, luma).map(DynamicImage::ImageLuma8).ok_or_else(bad)
    } else {
        let mut rgb = Vec::with_capacity(wu * hu * 3);
        for r in rows() {
            for p in r.chunks_exact(4) {
                rgb.extend_from_slice(&[p[2], p[1], p[0]]);
            }
        }
        RgbImage::from_raw(w, h, rgb).map(DynamicImage::ImageRgb8).ok_or_else(bad)
    }
}
