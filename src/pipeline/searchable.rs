//! Searchable PDF: an invisible text layer (render mode 3) laid over the
//! recognised words, so selecting or searching a word lands on it.

use std::path::Path;

use pdfium_render::prelude::*;

use super::pdf::{self, PageFrame};
use super::{PageText, PipelineError, SourceInfo, SourceKind, TextSource, source};

/// Font size used to create text objects; the object matrix does the real sizing.
const BASE_SIZE: f32 = 10.0;
/// Resolution assumed for raster uploads when sizing their PDF page.
const IMAGE_DPI: f32 = 300.0;

fn internal(what: &str) -> impl Fn(PdfiumError) -> PipelineError + '_ {
    move |e| PipelineError::Internal(format!("{what}: {e}"))
}

/// The fonts words are written with: Helvetica for what WinAnsi can carry, a TrueType font
/// (loaded only when a page needs it) for the rest.
#[derive(Clone, Copy)]
struct Fonts {
    latin: PdfFontToken,
    wide: Option<PdfFontToken>,
}

impl Fonts {
    fn load(doc: &mut PdfDocument, text_font: Option<&Path>, pages: &[PageText]) -> Fonts {
        let latin = doc.fonts_mut().helvetica();
        let needs_wide = pages.iter().any(|p| p.source == TextSource::Ocr && !p.text.chars().all(|c| c.is_whitespace() || is_winansi(c)));
        let wide = match text_font {
            Some(font) if needs_wide => match doc.fonts_mut().load_true_type_from_file(font, true) {
                Ok(token) => Some(token),
                Err(e) => {
                    tracing::warn!(font = %font.display(), error = %e, "could not load the text-layer font; characters beyond Latin-1 are written as '?'");
                    None
                }
            },
            _ => None,
        };
        Fonts { latin, wide }
    }

    /// The word as it will be written and the font to write it with.
    fn pick(&self, word: &str) -> (String, PdfFontToken) {
        match self.wide {
            Some(wide) if !word.chars().all(is_winansi) => (word.to_string(), wide),
            _ => (winansi(word), self.latin),
        }
    }
}

pub(crate) fn build(
    pdfium: &Pdfium,
    text_font: Option<&Path>,
    path: &Path,
    info: &SourceInfo,
    pages: &[PageText],
    out: &Path,
) -> Result<(), PipelineError> {
    if pages.len() != info.pages.len() {
        return Err(PipelineError::Internal(format!("{} page texts given for a document of {} pages", pages.len(), info.pages.len())));
    }
    let tmp = out.with_extension("pdf.part");
    match info.kind {
        SourceKind::Pdf => {
            let mut doc = pdf::open(pdfium, path)?;
            let fonts = Fonts::load(&mut doc, text_font, pages);
            for (i, text) in pages.iter().enumerate() {
                if text.source != TextSource::Ocr || text.lines.is_empty() {
                    continue; // pages with their own text layer stay untouched
                }
                let mut page = doc.pages().get(i as i32).map_err(internal("opening a page"))?;
                add_invisible_text(&doc, &mut page, fonts, text)?;
            }
            doc.save_to_file(&tmp).map_err(internal("writing the searchable PDF"))?;
        }
        kind => {
            let mut doc = pdfium.create_new_pdf().map_err(internal("creating a PDF"))?;
            let fonts = Fonts::load(&mut doc, text_font, pages);
            let limits = super::Limits { max_page_pixels: u64::MAX, ..Default::default() };
            for (i, text) in pages.iter().enumerate() {
                let (wpx, hpx) = (info.pages[i].width, info.pages[i].height);
                let (w, h) = (wpx * 72.0 / IMAGE_DPI, hpx * 72.0 / IMAGE_DPI);
                let mut page = doc
                    .pages_mut()
                    .create_page_at_end(PdfPagePaperSize::Custom(PdfPoints::new(w), PdfPoints::new(h)))
                    .map_err(internal("adding a page"))?;
                page.set_content_regeneration_strategy(PdfPageContentRegenerationStrategy::Manual);
                let object = if kind == SourceKind::Jpeg && jpeg_is_upright(path) {
                    // The JPEG stream is embedded as it is (no re-encoding).
                    let mut o = PdfPageImageObject::new_from_jpeg_file(&doc, path).map_err(internal("embedding the JPEG"))?;
                    o.scale(w, h).map_err(internal("placing the image"))?;
                    o
                } else {
                    let img = source::decode_image_page(path, kind, i as u32, &limits)?;
                    PdfPageImageObject::new_with_size(&doc, &img, PdfPoints::new(w), PdfPoints::new(h))
                        .map_err(internal("embedding the image"))?
                };
                page.objects_mut().add_image_object(object).map_err(internal("placing the image"))?;
                add_invisible_text(&doc, &mut page, fonts, text)?;
                page.regenerate_content().map_err(internal("writing the page"))?;
            }
            doc.save_to_file(&tmp).map_err(internal("writing the searchable PDF"))?;
        }
    }
    std::fs::rename(&tmp, out).map_err(|e| PipelineError::io("move into place", out, e))
}

fn jpeg_is_upright(path: &Path) -> bool {
    use image::ImageDecoder;
    let Ok(reader) = image::ImageReader::open(path) else { return false };
    let Ok(reader) = reader.with_guessed_format() else { return false };
    let Ok(mut dec) = reader.into_decoder() else { return false };
    matches!(dec.orientation(), Ok(image::metadata::Orientation::NoTransforms))
}

/// Whether the standard Helvetica (WinAnsi) encoding can carry this character; pdfium
/// drops or garbles the others.
fn is_winansi(c: char) -> bool {
    (' '..='~').contains(&c) || ('\u{A0}'..='\u{FF}').contains(&c) || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
}

/// The text with every character WinAnsi cannot carry replaced by '?'.
fn winansi(text: &str) -> String {
    text.chars().map(|c| if is_winansi(c) { c } else { '?' }).collect()
}

fn add_invisible_text<'a>(doc: &PdfDocument<'a>, page: &mut PdfPage<'a>, fonts: Fonts, text: &PageText) -> Result<(), PipelineError> {
    page.set_content_regeneration_strategy(PdfPageContentRegenerationStrategy::Manual);
    let frame = PageFrame::of(page)?;
    // Displayed page size in points, to work in isotropic units.
    let (dw, dh) = (page.width().value, page.height().value);
    // Direction words run in, and "up" for the glyphs, in displayed coordinates (y down).
    let direction = |turn: u16| -> ((f32, f32), (f32, f32)) {
        match turn {
            90 => ((0.0, -1.0), (-1.0, 0.0)),
            180 => ((-1.0, 0.0), (0.0, 1.0)),
            270 => ((0.0, 1.0), (1.0, 0.0)),
            _ => ((1.0, 0.0), (0.0, -1.0)),
        }
    };
    for line in &text.lines {
        let words: Vec<(String, [f32; 4], u16)> = if line.words.is_empty() {
            vec![(line.text.clone(), line.bbox, text.rotation)]
        } else {
            line.words.iter().map(|w| (w.text.clone(), w.bbox, w.turn.unwrap_or(text.rotation))).collect()
        };
        for (word, b, turn) in words {
            let (dir, up) = direction(turn);
            let (word, font) = fonts.pick(word.trim());
            if word.is_empty() {
                continue;
            }
            let (x0, y0, x1, y1) = (b[0] * dw, b[1] * dh, b[2] * dw, b[3] * dh);
            let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            let length = (dir.0.abs() * (x1 - x0) + dir.1.abs() * (y1 - y0)).max(0.1);
            let thick = (up.0.abs() * (x1 - x0) + up.1.abs() * (y1 - y0)).max(0.1);
            // Baseline a fifth of the box above its bottom; glyph height ~ the box.
            let p0 = (
                cx - dir.0 * length / 2.0 - up.0 * thick / 2.0 + up.0 * 0.2 * thick,
                cy - dir.1 * length / 2.0 - up.1 * thick / 2.0 + up.1 * 0.2 * thick,
            );
            let p1 = (p0.0 + dir.0 * length, p0.1 + dir.1 * length);
            let p2 = (p0.0 + up.0 * 0.8 * thick, p0.1 + up.1 * 0.8 * thick);
            let user = |p: (f32, f32)| frame.to_user(p.0 / dw, p.1 / dh);
            let (u0, u1, u2) = (user(p0), user(p1), user(p2));

            // Width of the bare word at BASE_SIZE: the matrix stretches it onto the box.
            let natural =
                PdfPageTextObject::new(doc, &word, font, PdfPoints::new(BASE_SIZE)).and_then(|o| o.width()).map(|w| w.value).unwrap_or(0.0);
            // A trailing space keeps words apart for text extraction (copy/paste, pdftotext).
            let mut obj =
                PdfPageTextObject::new(doc, format!("{word} "), font, PdfPoints::new(BASE_SIZE)).map_err(internal("creating text"))?;
            obj.set_render_mode(PdfPageTextRenderMode::Invisible).map_err(internal("creating text"))?;
            let natural = if natural > 0.01 { natural } else { BASE_SIZE * 0.5 * word.chars().count() as f32 };
            let m = PdfMatrix::new(
                (u1.0 - u0.0) / natural,
                (u1.1 - u0.1) / natural,
                (u2.0 - u0.0) / BASE_SIZE,
                (u2.1 - u0.1) / BASE_SIZE,
                u0.0,
                u0.1,
            );
            obj.apply_matrix(m).map_err(internal("placing text"))?;
            page.objects_mut().add_text_object(obj).map_err(internal("placing text"))?;
        }
    }
    page.regenerate_content().map_err(internal("writing the page"))?;
    Ok(())
}
