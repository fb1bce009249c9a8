//! What a job does to a document: type sniffing and limits, text layers and
//! rendering (pdfium), OCR (rten + PP-OCRv6), thumbnails, searchable PDF.
//!
//! Synchronous and CPU-bound: callers run it inside `tokio::task::spawn_blocking`.
//! Knows nothing about HTTP or databases.

mod assemble;
#[cfg(feature = "embed-runtime")]
mod embedded;
mod error;
mod layout;
mod lines;
mod ocr;
mod pdf;
mod quotes;
mod runtime;
mod searchable;
mod source;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::DynamicImage;

pub use assemble::{PdfPiece, rotate_box, rotate_jpeg, rotate_page_text};
pub use error::PipelineError;
pub use ocr::OcrParams;
pub use runtime::RuntimePaths;
pub use source::sniff_type;

/// Bounds on the work one upload may cause.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_pages: u32,
    /// Per page: pixels of a raster page, or of a PDF page rendered at 300 dpi
    /// (PDF pages above it are rendered at a lower resolution, not refused).
    pub max_page_pixels: u64,
    /// Checked between processing stages: a page over it fails with `PageTimeout`.
    pub page_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pages: 1000, max_page_pixels: 100_000_000, page_timeout: Duration::from_secs(120) }
    }
}

/// The kind of an original: the domain's one file type (see `domain::filetype::sniff`).
pub use crate::domain::filetype::FileType as SourceKind;

#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub mime: &'static str,
    pub pages: Vec<PageInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageInfo {
    /// Displayed size: points for PDF (page rotation applied), pixels for images
    /// (EXIF orientation applied).
    pub width: f32,
    pub height: f32,
    pub has_text_layer: bool,
}

/// The recognised text of a page — one type from the pipeline through the store to the PDF
/// writer (see `domain::page_text`).
pub use crate::domain::page_text::{Line, PageText, TextSource, Word};

/// Clockwise degrees (0/90/180/270) that make text running from `from` to `to` (image
/// coordinates, y down) read left to right.
fn turn_of(from: [f32; 2], to: [f32; 2]) -> u16 {
    let (dx, dy) = (to[0] - from[0], to[1] - from[1]);
    if dx.abs() >= dy.abs() {
        if dx >= 0.0 { 0 } else { 180 }
    } else if dy < 0.0 {
        90
    } else {
        270
    }
}

#[derive(Debug, Clone)]
pub struct PageResult {
    pub text: PageText,
    /// ~256 px wide.
    pub thumbnail: Vec<u8>,
    /// ~1200 px wide.
    pub preview: Vec<u8>,
    pub image_mime: &'static str,
}

const OCR_DPI: f32 = 300.0;
const THUMBNAIL_WIDTH: u32 = 256;
const PREVIEW_WIDTH: u32 = 1200;
/// PDF pages bigger than this at 300 dpi (about A2) are rendered at a lower
/// resolution for OCR: it bounds memory (4 bytes per pixel) whatever the page size.
const MAX_RENDER_PIXELS: u64 = 40_000_000;

/// Width to render a preview at: `width`, narrower for pages taller than 2:1 so
/// that a strip-shaped page cannot produce a huge bitmap.
fn preview_width(page: PageInfo, width: u32) -> u32 {
    let aspect = page.height / page.width.max(1.0);
    if aspect > 2.0 { ((width as f32 * 2.0 / aspect) as u32).max(16) } else { width }
}

/// Loaded once per process (pdfium can be bound only once), Send + Sync, share it via Arc.
pub struct Engine {
    pdfium: &'static pdfium_render::prelude::Pdfium,
    ocr: ocr::OcrModels,
    /// Font for searchable-PDF words Helvetica cannot carry (`runtime::find_text_font`).
    text_font: Option<PathBuf>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Finds and loads pdfium and the OCR models (lookup order: `runtime::candidate_dirs`).
    pub fn load(paths: &RuntimePaths) -> Result<Engine, PipelineError> {
        if let Some(missing) = runtime::missing_message(paths) {
            return Err(PipelineError::RuntimeMissing(missing));
        }
        let found = |r: Result<runtime::Found, String>| r.map(|f| f.path).map_err(PipelineError::RuntimeMissing);
        let pdfium_path = found(runtime::find_pdfium(paths))?;
        let det = found(runtime::find_model(paths, runtime::DET_MODEL_FILE))?;
        let rec = found(runtime::find_model(paths, runtime::REC_MODEL_FILE))?;
        let dict = found(runtime::find_model(paths, runtime::DICT_FILE))?;
        let text_font = runtime::find_text_font(paths).map_err(PipelineError::RuntimeMissing)?;
        let pdfium = pdf::bind(&pdfium_path).map_err(PipelineError::RuntimeMissing)?;
        let ocr = ocr::OcrModels::load(&det, &rec, &dict).map_err(PipelineError::RuntimeMissing)?;
        Ok(Engine { pdfium, ocr, text_font })
    }

    /// Which runtime files were found where; cheap (nothing is loaded).
    pub fn check(paths: &RuntimePaths) -> Vec<(String, Result<String, String>)> {
        runtime::check(paths)
    }

    /// The text of an image file (first page, upright) with its lines found by the `ocrs` crate
    /// instead of this pipeline's layout (see `OcrModels::read_with_ocrs_layout`): the
    /// comparison in `docmerge bench ocr`.
    #[cfg(feature = "bench")]
    pub(crate) fn ocr_image_with_ocrs_layout(
        &self,
        path: &Path,
        ocrs: &ocrs::OcrEngine,
        ocrs_detector: bool,
        limits: &Limits,
    ) -> Result<String, PipelineError> {
        let info = self.inspect(path, limits)?;
        let img = source::decode_image_page(path, info.kind, 0, limits)?.to_luma8();
        let deadline = ocr::Deadline { at: Instant::now() + limits.page_timeout };
        self.ocr.read_with_ocrs_layout(&img, ocrs, ocrs_detector, &deadline).map_err(|e| ocr_failure(e, 1, limits))
    }

    /// Tune OCR (benchmarks, experiments). Not needed in normal use.
    pub fn ocr_params_mut(&mut self) -> &mut OcrParams {
        &mut self.ocr.params
    }

    /// Type from magic bytes, page count and sizes, limits — without decoding pixels.
    pub fn inspect(&self, path: &Path, limits: &Limits) -> Result<SourceInfo, PipelineError> {
        let head = source::read_head(path, crate::domain::filetype::SNIFF_BYTES)?;
        if head.is_empty() {
            return Err(PipelineError::Empty);
        }
        let kind = sniff_type(&head).ok_or_else(|| PipelineError::UnsupportedType(source::describe_unknown(&head)))?;
        let pages = match kind {
            SourceKind::Pdf => pdf::inspect(self.pdfium, path, limits)?,
            _ => source::inspect_image(path, kind, limits)?,
        };
        if pages.len() as u64 > limits.max_pages as u64 {
            return Err(PipelineError::TooManyPages { pages: pages.len() as u64, limit: limits.max_pages });
        }
        Ok(SourceInfo { kind, mime: kind.mime(), pages })
    }

    /// Text (text layer or OCR), thumbnail and preview of one page (0-based).
    pub fn process_page(&self, path: &Path, info: &SourceInfo, index: u32, limits: &Limits) -> Result<PageResult, PipelineError> {
        let started = Instant::now();
        let deadline = ocr::Deadline { at: started + limits.page_timeout };
        let page_info =
            *info.pages.get(index as usize).ok_or(PipelineError::NoSuchPage { page: index + 1, pages: info.pages.len() as u32 })?;

        let timeout = || PipelineError::PageTimeout { page: index + 1, limit: limits.page_timeout };

        let (page_image, text_layer) = match info.kind {
            SourceKind::Pdf => pdf::with_document(self.pdfium, path, |doc| {
                let page = doc
                    .pages()
                    .get(index as i32)
                    .map_err(|e| PipelineError::Damaged(format!("page {} cannot be read ({e})", index + 1)))?;
                if page_info.has_text_layer {
                    let (text, lines) = pdf::text_layer(&page)?;
                    // Rendering twice is cheaper than shrinking the preview.
                    let preview = pdf::render(&page, preview_width(page_info, PREVIEW_WIDTH))?;
                    let thumb = pdf::render(&page, preview_width(page_info, THUMBNAIL_WIDTH))?;
                    Ok((preview, Some((text, lines, thumb))))
                } else {
                    let max_pixels = limits.max_page_pixels.min(MAX_RENDER_PIXELS);
                    let (w, _) = render_size(page_info.width, page_info.height, max_pixels);
                    Ok((pdf::render(&page, w)?, None))
                }
            })?,
            kind => (source::decode_image_page(path, kind, index, limits)?, None),
        };
        if Instant::now() > deadline.at {
            return Err(timeout());
        }

        let (thumbnail, preview) = match &text_layer {
            Some((_, _, thumb)) => (encode_jpeg(thumb, 80)?, encode_jpeg(&page_image, 80)?),
            None => previews(&page_image)?,
        };
        let text = match text_layer {
            Some((text, lines, _)) => {
                PageText { text, lines, source: TextSource::TextLayer, width: page_info.width, height: page_info.height, rotation: 0 }
            }
            None => {
                let grey = page_image.to_luma8();
                drop(page_image);
                let page = self.ocr.ocr_page(&grey, &deadline).map_err(|e| ocr_failure(e, index + 1, limits))?;
                ocr_page_text(&page, grey.width() as f32, grey.height() as f32, page_info)
            }
        };
        Ok(PageResult { text, thumbnail, preview, image_mime: "image/jpeg" })
    }

    /// Searchable PDF: original PDF pages kept, invisible text added on OCR'd pages;
    /// images become one page each with the image and the invisible text.
    pub fn build_searchable_pdf(&self, path: &Path, info: &SourceInfo, pages: &[PageText], out: &Path) -> Result<(), PipelineError> {
        searchable::build(self.pdfium, self.text_font.as_deref(), path, info, pages, out)
    }

    /// A new PDF of pages copied from `sources` (not re-rendered), see `assemble`.
    pub fn assemble_pdf(&self, sources: &[PathBuf], pieces: &[PdfPiece], out: &Path) -> Result<(), PipelineError> {
        assemble::assemble(self.pdfium, sources, pieces, out)
    }
}

/// Pixel size to render a PDF page at 300 dpi, reduced to stay within the pixel limit.
fn render_size(width_pt: f32, height_pt: f32, max_pixels: u64) -> (u32, u32) {
    let mut scale = OCR_DPI / 72.0;
    let pixels = (width_pt * scale) as f64 * (height_pt * scale) as f64;
    if pixels > max_pixels as f64 {
        scale *= (max_pixels as f64 / pixels).sqrt() as f32;
    }
    (((width_pt * scale).round() as u32).max(1), ((height_pt * scale).round() as u32).max(1))
}

fn previews(img: &DynamicImage) -> Result<(Vec<u8>, Vec<u8>), PipelineError> {
    let shrink = |img: &DynamicImage, width: u32| -> DynamicImage {
        // jpeg-encoder takes u16 sizes: very tall pages are shrunk further.
        let scale = (width as f64 / img.width() as f64).min(60_000.0 / img.height() as f64).min(1.0);
        if scale >= 1.0 {
            img.clone()
        } else {
            let w = ((img.width() as f64 * scale).round() as u32).max(1);
            let h = ((img.height() as f64 * scale).round() as u32).max(1);
            img.resize_exact(w, h, image::imageops::FilterType::Triangle)
        }
    };
    let preview = shrink(img, PREVIEW_WIDTH);
    let thumb = shrink(&preview, THUMBNAIL_WIDTH);
    Ok((encode_jpeg(&thumb, 80)?, encode_jpeg(&preview, 80)?))
}

/// An OCR failure on page `page` (1-based) as the pipeline reports it.
fn ocr_failure(e: ocr::OcrError, page: u32, limits: &Limits) -> PipelineError {
    match e {
        ocr::OcrError::Timeout => PipelineError::PageTimeout { page, limit: limits.page_timeout },
        ocr::OcrError::Model(m) => PipelineError::Internal(m),
    }
}

/// JPEG bytes; grey when the picture has no colour (smaller and faster).
fn encode_jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let (w, h) = (img.width() as u16, img.height() as u16);
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, quality);
    let result = if let DynamicImage::ImageLuma8(luma) = img {
        enc.encode(luma.as_raw(), w, h, jpeg_encoder::ColorType::Luma)
    } else {
        let rgb = img.to_rgb8();
        if rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]) {
            let luma: Vec<u8> = rgb.pixels().map(|p| p[0]).collect();
            enc.encode(&luma, w, h, jpeg_encoder::ColorType::Luma)
        } else {
            enc.encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        }
    };
    result.map_err(|e| PipelineError::Internal(format!("thumbnail encoding failed: {e}")))?;
    Ok(out)
}

fn ocr_page_text(page: &ocr::OcrPage, img_w: f32, img_h: f32, info: PageInfo) -> PageText {
    let norm = |q: &[[f32; 2]; 4]| -> [f32; 4] {
        let xs = q.iter().map(|p| p[0]);
        let ys = q.iter().map(|p| p[1]);
        let x0 = xs.clone().fold(f32::MAX, f32::min) / img_w;
        let x1 = xs.fold(f32::MIN, f32::max) / img_w;
        let y0 = ys.clone().fold(f32::MAX, f32::min) / img_h;
        let y1 = ys.fold(f32::MIN, f32::max) / img_h;
        [x0.clamp(0.0, 1.0), y0.clamp(0.0, 1.0), x1.clamp(0.0, 1.0), y1.clamp(0.0, 1.0)]
    };
    let mut lines = Vec::new();
    for l in &page.lines {
        let words: Vec<Word> = l
            .words
            .iter()
            .map(|w| {
                let turn = turn_of(w.quad[0], w.quad[1]);
                Word { text: w.text.clone(), bbox: norm(&w.quad), turn: (turn != page.rotation).then_some(turn) }
            })
            .collect();
        let bbox = words
            .iter()
            .fold([1.0f32, 1.0, 0.0, 0.0], |a, w| [a[0].min(w.bbox[0]), a[1].min(w.bbox[1]), a[2].max(w.bbox[2]), a[3].max(w.bbox[3])]);
        if words.is_empty() {
            continue;
        }
        lines.push(Line { text: l.text.clone(), bbox, words });
    }
    let text = lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
    PageText { text, lines, source: TextSource::Ocr, width: info.width, height: info.height, rotation: page.rotation }
}

/// Where the tests and examples find runtime files: `DOCMERGE_RUNTIME_DIR`
/// (with lib/ and models/ inside), else the repository's `.runtime`.
pub fn runtime_paths_from_env() -> RuntimePaths {
    let dir = std::env::var_os("DOCMERGE_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".runtime"));
    RuntimePaths {
        pdfium_library: Some(dir.join("lib")),
        models_dir: Some(dir.join("models")),
        text_font: None,
        origin: Some("DOCMERGE_RUNTIME_DIR"),
    }
}

#[cfg(feature = "bench")]
pub mod bench;
mod service;
pub use runtime::FIX_HINT as RUNTIME_FIX_HINT;
pub use service::{
    check_runtime, engine, limits, ocr_file, prepare_runtime, register_jobs, runtime_paths, runtime_problem, runtime_status,
};
