//! Page operations on PDFs: a new PDF assembled from pages of existing ones. Pages are
//! imported with pdfium (content streams, fonts and images copied as they are — a born-digital
//! page stays vector and selectable, an OCR'd page keeps its invisible text layer) and turned
//! by setting the page's /Rotate, never re-rendered.

use std::path::{Path, PathBuf};

use pdfium_render::prelude::*;

use super::{Line, PageText, PipelineError, Word, pdf};

/// One page of the PDF to build: page `index` (0-based) of `sources[source]`, turned clockwise
/// by `rotate` degrees (0, 90, 180, 270) on top of the rotation it already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfPiece {
    pub source: usize,
    pub index: u32,
    pub rotate: u16,
}

fn internal(what: &'static str) -> impl Fn(PdfiumError) -> PipelineError {
    move |e| PipelineError::Internal(format!("{what}: {e}"))
}

fn rotation_of(degrees: u16) -> PdfPageRenderRotation {
    match degrees % 360 {
        90 => PdfPageRenderRotation::Degrees90,
        180 => PdfPageRenderRotation::Degrees180,
        270 => PdfPageRenderRotation::Degrees270,
        _ => PdfPageRenderRotation::None,
    }
}

fn degrees_of(r: PdfPageRenderRotation) -> u16 {
    match r {
        PdfPageRenderRotation::None => 0,
        PdfPageRenderRotation::Degrees90 => 90,
        PdfPageRenderRotation::Degrees180 => 180,
        PdfPageRenderRotation::Degrees270 => 270,
    }
}

pub(crate) fn assemble(pdfium: &Pdfium, sources: &[PathBuf], pieces: &[PdfPiece], out: &Path) -> Result<(), PipelineError> {
    if pieces.is_empty() {
        return Err(PipelineError::Internal("a PDF needs at least one page".into()));
    }
    let docs = sources.iter().map(|p| pdf::open(pdfium, p)).collect::<Result<Vec<_>, _>>()?;
    let mut target = pdfium.create_new_pdf().map_err(internal("creating a PDF"))?;
    // Runs of consecutive pages of one source are imported in one call (shared resources are
    // copied once per run).
    let mut start = 0;
    while start < pieces.len() {
        let first = pieces[start];
        let mut end = start + 1;
        while end < pieces.len() && pieces[end].source == first.source && pieces[end].index == pieces[end - 1].index + 1 {
            end += 1;
        }
        let src = docs.get(first.source).ok_or_else(|| PipelineError::Internal("no such source PDF".into()))?;
        let last = first.index as i32 + (end - start) as i32 - 1;
        let at = target.pages().len();
        target.pages_mut().copy_page_range_from_document(src, first.index as i32..=last, at).map_err(internal("copying pages"))?;
        start = end;
    }
    for (i, piece) in pieces.iter().enumerate() {
        if piece.rotate.is_multiple_of(360) {
            continue;
        }
        let mut page = target.pages().get(i as i32).map_err(internal("opening a copied page"))?;
        let now = page.rotation().map(degrees_of).unwrap_or(0);
        page.set_rotation(rotation_of(now + piece.rotate));
    }
    let tmp = out.with_extension("pdf.part");
    target.save_to_file(&tmp).map_err(internal("writing the PDF"))?;
    drop(target);
    drop(docs);
    std::fs::rename(&tmp, out).map_err(|e| PipelineError::io("move into place", out, e))
}

/// A box (x0, y0, x1, y1; 0..1, origin top-left) of a page turned clockwise by `degrees`.
pub fn rotate_box(b: [f32; 4], degrees: u16) -> [f32; 4] {
    let [x0, y0, x1, y1] = b;
    match degrees % 360 {
        90 => [1.0 - y1, x0, 1.0 - y0, x1],
        180 => [1.0 - x1, 1.0 - y1, 1.0 - x0, 1.0 - y0],
        270 => [y0, 1.0 - x1, y1, 1.0 - x0],
        _ => b,
    }
}

/// The stored text of a page turned clockwise by `degrees`: same text, boxes moved with the
/// page, width and height swapped for quarter turns. Not OCR'd again.
pub fn rotate_page_text(text: &PageText, degrees: u16) -> PageText {
    let d = degrees % 360;
    let mut t = text.clone();
    t.lines = text
        .lines
        .iter()
        .map(|l| Line {
            text: l.text.clone(),
            bbox: rotate_box(l.bbox, d),
            words: l
                .words
                .iter()
                .map(|w| Word { text: w.text.clone(), bbox: rotate_box(w.bbox, d), turn: w.turn.map(|turn| (turn + 360 - d) % 360) })
                .collect(),
        })
        .collect();
    if d == 90 || d == 270 {
        std::mem::swap(&mut t.width, &mut t.height);
    }
    // How far the page image must still be turned for the text to read upright.
    t.rotation = (text.rotation + 360 - d) % 360;
    t
}

/// A JPEG thumbnail or preview turned clockwise by `degrees` (re-encoded).
pub fn rotate_jpeg(bytes: &[u8], degrees: u16) -> Result<Vec<u8>, PipelineError> {
    let img = image::load_from_memory(bytes).map_err(|e| PipelineError::Internal(format!("a page image cannot be read: {e}")))?;
    let turned = match degrees % 360 {
        90 => img.rotate90(),
        180 => img.rotate180(),
        270 => img.rotate270(),
        _ => img,
    };
    super::encode_jpeg(&turned, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_turned_four_times_is_where_it_was() {
        let close = |a: [f32; 4], e: [f32; 4]| a.iter().zip(e).all(|(x, y)| (x - y).abs() < 1e-6);
        let b = [0.1, 0.2, 0.4, 0.3];
        let mut r = b;
        for _ in 0..4 {
            r = rotate_box(r, 90);
        }
        assert!(close(r, b), "{r:?} != {b:?}");
        // A line near the top of a portrait page ends up near the right edge after 90°.
        assert!(close(rotate_box(b, 90), [0.7, 0.1, 0.8, 0.4]), "{:?}", rotate_box(b, 90));
        assert!(close(rotate_box(b, 180), [0.6, 0.7, 0.9, 0.8]), "{:?}", rotate_box(b, 180));
        assert!(close(rotate_box(b, 270), [0.2, 0.6, 0.3, 0.9]), "{:?}", rotate_box(b, 270));
        assert!(close(rotate_box(rotate_box(b, 90), 270), b));
    }
}
