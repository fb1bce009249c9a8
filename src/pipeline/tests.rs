//! Tests make their own fixtures (PDFs written with pdfium, images rendered from
//! them). Runtime files come from `DOCMERGE_RUNTIME_DIR` (default: the repo's
//! `.runtime`); corpus tests need `DOCMERGE_TEST_CORPUS`. Both fail loudly when missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{DynamicImage, GrayImage};
use pdfium_render::prelude::*;

use super::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let paths = runtime_paths_from_env();
        Engine::load(&paths).unwrap_or_else(|e| {
            panic!(
                "runtime files are needed for this test and were not found ({e}). \
                 Run scripts/fetch-runtime.sh, or set DOCMERGE_RUNTIME_DIR to a directory with lib/ and models/."
            )
        })
    })
}

fn corpus() -> PathBuf {
    let dir = std::env::var_os("DOCMERGE_TEST_CORPUS")
        .expect("DOCMERGE_TEST_CORPUS must point at the OCR evaluation corpus (e.g. /work/shared/corpus)");
    PathBuf::from(dir)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pipeline-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const SAMPLE_LINES: [&str; 3] =
    ["Quarterly invoice for garden supplies", "Total amount due 1234 dollars", "Payment within thirty days please"];

/// A born-digital one-page PDF (US Letter) with SAMPLE_LINES in 20 pt Helvetica.
fn write_text_pdf(path: &Path, pages: usize) {
    let pdfium = engine().pdfium;
    let mut doc = pdfium.create_new_pdf().unwrap();
    let font = doc.fonts_mut().helvetica();
    for _ in 0..pages {
        let mut page = doc.pages_mut().create_page_at_end(PdfPagePaperSize::a4()).unwrap();
        for (i, line) in SAMPLE_LINES.iter().enumerate() {
            page.objects_mut()
                .create_text_object(PdfPoints::new(72.0), PdfPoints::new(700.0 - 40.0 * i as f32), *line, font, PdfPoints::new(20.0))
                .unwrap();
        }
    }
    doc.save_to_file(path).unwrap();
}

/// SAMPLE_LINES rendered to grey pixels at 300 dpi (via pdfium).
fn sample_image() -> GrayImage {
    let dir = tmpdir("sample");
    let pdf_path = dir.join("sample.pdf");
    write_text_pdf(&pdf_path, 1);
    let doc = engine().pdfium.load_pdf_from_file(&pdf_path, None).unwrap();
    let page = doc.pages().get(0).unwrap();
    let img = pdf::render(&page, (page.width().value / 72.0 * 300.0) as u32).unwrap();
    img.to_luma8()
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn assert_reads_sample(text: &str) {
    let got = normalise(text);
    for line in SAMPLE_LINES {
        assert!(got.contains(&normalise(line)), "expected {line:?} in OCR output {got:?}");
    }
}

fn rotate_small_angle(img: &GrayImage, degrees: f32) -> GrayImage {
    let (w, h) = img.dimensions();
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
        if sx >= 0.0 && sy >= 0.0 && (sx as u32) < w && (sy as u32) < h { *img.get_pixel(sx as u32, sy as u32) } else { image::Luma([255]) }
    })
}

fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).unwrap();
    buf.into_inner()
}

// ---------------------------------------------------------------- no runtime needed

#[test]
fn sniffs_types_from_magic_bytes() {
    assert_eq!(sniff_type(b"%PDF-1.7\n"), Some(SourceKind::Pdf));
    assert_eq!(sniff_type(b"\x89PNG\r\n\x1a\n\0\0"), Some(SourceKind::Png));
    assert_eq!(sniff_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(SourceKind::Jpeg));
    assert_eq!(sniff_type(b"II*\0\x08\0\0\0"), Some(SourceKind::Tiff));
    assert_eq!(sniff_type(b"MM\0*\0\0\0\x08"), Some(SourceKind::Tiff));
    assert_eq!(sniff_type(b"PK\x03\x04"), None);
    assert_eq!(sniff_type(b""), None);
    // Junk before the header is tolerated, as PDF readers do.
    assert_eq!(sniff_type(b"\r\n%PDF-1.4"), Some(SourceKind::Pdf));
}

#[test]
fn errors_are_sentences_and_classified() {
    let e = PipelineError::TooManyPixels { width: 40000, height: 40000, limit: 100_000_000 };
    assert_eq!(e.to_string(), "image is 40000×40000 pixels, over the limit of 100000000 pixels");
    assert!(e.is_permanent());
    let e = PipelineError::TooManyPages { pages: 2000, limit: 1000 };
    assert_eq!(e.to_string(), "document has 2000 pages, over the limit of 1000");
    let e = PipelineError::PageTimeout { page: 3, limit: std::time::Duration::from_secs(120) };
    assert_eq!(e.to_string(), "page 3 took longer than 120 s");
    assert!(!e.is_permanent());
    assert!(PipelineError::Encrypted.to_string().starts_with("password-protected PDF"));
    // The file's own faults are told apart by their words (no reprocess offered for them).
    use crate::domain::lifecycle::reprocess_helps;
    for e in
        [PipelineError::UnsupportedType("x".into()), PipelineError::Empty, PipelineError::Damaged("x".into()), PipelineError::Encrypted]
    {
        assert!(!reprocess_helps(Some(&e.to_string())), "{e}");
    }
    for e in [
        PipelineError::TooManyPages { pages: 9, limit: 1 },
        PipelineError::RuntimeMissing("no models".into()),
        PipelineError::Internal("x".into()),
    ] {
        assert!(reprocess_helps(Some(&e.to_string())), "{e}");
    }
    assert!(!PipelineError::RuntimeMissing("x".into()).is_permanent());
}

#[test]
fn page_text_round_trips_as_json() {
    let t = PageText {
        text: "a b".into(),
        lines: vec![Line { text: "a b".into(), bbox: [0.1, 0.2, 0.3, 0.4], words: vec![] }],
        source: TextSource::Ocr,
        width: 612.0,
        height: 792.0,
        rotation: 90,
    };
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.contains("\"source\":\"ocr\""));
    assert_eq!(serde_json::from_str::<PageText>(&json).unwrap(), t);
}

#[test]
fn render_size_respects_pixel_limit() {
    assert_eq!(render_size(612.0, 792.0, 100_000_000), (2550, 3300));
    let (w, h) = render_size(7200.0, 7200.0, 100_000_000);
    assert!((w as u64 * h as u64) <= 100_000_000 + 20_000, "{w}x{h}");
}

#[test]
fn missing_runtime_says_what_to_run() {
    let nowhere = tmpdir("nowhere");
    let paths =
        RuntimePaths { pdfium_library: Some(nowhere.join("lib")), models_dir: Some(nowhere.join("models")), text_font: None, origin: None };
    let report = Engine::check(&paths);
    assert_eq!(report.len(), 5);
    // The four required files fail and say where they were looked for; the optional
    // text-layer font comes last.
    for (item, status) in &report[..4] {
        let msg = status.as_ref().expect_err(item);
        assert!(msg.contains("was not found in") && msg.contains("nowhere"), "{item}: {msg}");
    }
    assert!(report[4].0.contains("font"), "{:?}", report[4]);
    // The engine's error names everything missing and says what to do, once.
    let err = Engine::load(&paths).expect_err("nothing to load").to_string();
    assert!(err.starts_with("the PDF library is missing (libpdfium.so"), "{err}");
    assert!(err.contains("the OCR models are missing (PP-OCRv6_det_small.rten, PP-OCRv6_rec_small.rten, ppocrv6_dict.txt"), "{err}");
    assert_eq!(err.matches("scripts/fetch-runtime.sh").count(), 1, "{err}");
    // An explicit font that does not exist is an error, not a silent fallback.
    let wrong = RuntimePaths { text_font: Some(nowhere.join("no.ttf")), ..paths };
    let font = Engine::check(&wrong).pop().unwrap();
    assert!(font.1.as_ref().is_err_and(|m| m.contains("pdf.text_font")), "{font:?}");
}

// ---------------------------------------------------------------- runtime needed

#[test]
fn check_finds_the_runtime_files() {
    for (item, status) in Engine::check(&runtime_paths_from_env()) {
        assert!(status.is_ok(), "{item}: {status:?} (run scripts/fetch-runtime.sh or set DOCMERGE_RUNTIME_DIR)");
    }
}

#[test]
fn rejects_empty_unknown_and_oversized_inputs_before_decoding() {
    let dir = tmpdir("bad");
    let limits = Limits::default();
    let empty = dir.join("empty.pdf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(engine().inspect(&empty, &limits), Err(PipelineError::Empty)));

    let text = dir.join("notes.pdf");
    std::fs::write(&text, b"just some words, not a PDF").unwrap();
    let e = engine().inspect(&text, &limits).unwrap_err();
    assert!(matches!(e, PipelineError::UnsupportedType(_)), "{e}");
    assert!(e.to_string().contains("plain text"), "{e}");

    // A 200×100 PNG whose header is rewritten to claim 50000×50000: must fail from the header.
    let mut png = png_bytes(&DynamicImage::ImageLuma8(GrayImage::new(200, 100)));
    png[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb = dir.join("bomb.png");
    std::fs::write(&bomb, &png).unwrap();
    let e = engine().inspect(&bomb, &limits).unwrap_err();
    assert!(matches!(e, PipelineError::TooManyPixels { width: 50_000, height: 50_000, .. }), "{e}");

    // Truncated PNG: inspect reads the header; decoding the page fails cleanly.
    let good = png_bytes(&DynamicImage::ImageLuma8(sample_image()));
    let truncated = dir.join("truncated.png");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let info = engine().inspect(&truncated, &limits).unwrap();
    let e = engine().process_page(&truncated, &info, 0, &limits).unwrap_err();
    assert!(matches!(e, PipelineError::Damaged(_)), "{e}");
    assert!(e.is_permanent());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn too_many_pdf_pages_fail_in_inspect() {
    let dir = tmpdir("pages");
    let path = dir.join("three.pdf");
    write_text_pdf(&path, 3);
    let limits = Limits { max_pages: 2, ..Default::default() };
    let e = engine().inspect(&path, &limits).unwrap_err();
    assert_eq!(e.to_string(), "document has 3 pages, over the limit of 2");
}

#[test]
fn born_digital_pdf_takes_the_text_layer() {
    let dir = tmpdir("bd");
    let path = dir.join("bd.pdf");
    write_text_pdf(&path, 2);
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert_eq!(info.kind, SourceKind::Pdf);
    assert_eq!(info.pages.len(), 2);
    assert!(info.pages.iter().all(|p| p.has_text_layer));
    assert!((info.pages[0].width - 595.0).abs() < 1.0);
    let r = engine().process_page(&path, &info, 1, &limits).unwrap();
    assert_eq!(r.text.source, TextSource::TextLayer);
    assert_reads_sample(&r.text.text);
    assert_eq!(r.text.lines.len(), 3);
    // First line sits near the top-left: x 72/595, baseline 700 pt from the bottom of 842.
    let b = r.text.lines[0].bbox;
    assert!((b[0] - 72.0 / 595.0).abs() < 0.02 && b[1] > 0.12 && b[3] < 0.2, "{b:?}");
    assert!(r.thumbnail.starts_with(&[0xFF, 0xD8]) && r.preview.starts_with(&[0xFF, 0xD8]));
    let thumb = image::load_from_memory(&r.thumbnail).unwrap();
    assert_eq!(thumb.width(), THUMBNAIL_WIDTH);
    assert_eq!(image::load_from_memory(&r.preview).unwrap().width(), PREVIEW_WIDTH);
}

#[test]
fn pages_of_one_pdf_share_an_open_document_until_the_file_changes() {
    let dir = tmpdir("doc-cache");
    let (path, other) = (dir.join("a.pdf"), dir.join("b.pdf"));
    write_text_pdf(&path, 3);
    write_text_pdf(&other, 1);
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    let opened = || pdf::OPENED.with(|n| n.get());
    let before = opened();
    for i in 0..3 {
        let r = engine().process_page(&path, &info, i, &limits).unwrap();
        assert_reads_sample(&r.text.text);
    }
    assert_eq!(opened() - before, 1, "three pages of one file, one open");
    // Another file closes the first; coming back opens it again.
    let pages = |p: &Path| pdf::with_document(engine().pdfium, p, |d| Ok(d.pages().len())).unwrap();
    assert_eq!(pages(&other), 1);
    assert_eq!(pages(&path), 3);
    assert_eq!(opened() - before, 3);
    // The same path with other contents is read again, not served from the open copy.
    write_text_pdf(&path, 5);
    assert_eq!(pages(&path), 5);
    assert_eq!(opened() - before, 4);
    // A file that is gone is an error, not the stale copy.
    std::fs::remove_file(&path).unwrap();
    assert!(pdf::with_document(engine().pdfium, &path, |d| Ok(d.pages().len())).is_err());
}

#[test]
fn rendered_bitmaps_become_grey_images_unless_they_have_colour() {
    // Two rows of two BGRx pixels, each row padded to 12 bytes.
    let grey_px = [[10, 10, 10, 255], [200, 200, 200, 255]];
    let mut raw = Vec::new();
    for _ in 0..2 {
        for p in grey_px {
            raw.extend_from_slice(&p);
        }
        raw.extend_from_slice(&[0, 0, 0, 0]);
    }
    let img = pdf::image_from_bgrx(&raw, 2, 2).unwrap();
    let DynamicImage::ImageLuma8(g) = &img else { panic!("a grey bitmap should give a grey image, got {:?}", img.color()) };
    assert_eq!(g.as_raw(), &vec![10, 200, 10, 200]);
    // One coloured pixel (blue in BGR order) makes the whole image RGB, channels swapped.
    raw[4..8].copy_from_slice(&[255, 0, 0, 255]);
    let img = pdf::image_from_bgrx(&raw, 2, 2).unwrap();
    let DynamicImage::ImageRgb8(c) = &img else { panic!("a colour bitmap should give an RGB image, got {:?}", img.color()) };
    assert_eq!(c.get_pixel(1, 0).0, [0, 0, 255]);
    assert_eq!(c.get_pixel(0, 1).0, [10, 10, 10]);
    // A buffer too short for its size is an error, not a panic.
    assert!(pdf::image_from_bgrx(&raw[..10], 2, 2).is_err());
    // The JPEG of a grey image is a one-channel JPEG.
    let jpeg = encode_jpeg(&DynamicImage::ImageLuma8(g.clone()), 80).unwrap();
    assert_eq!(image::load_from_memory(&jpeg).unwrap().color(), image::ColorType::L8);
}

#[test]
fn ocrs_line_grouping_reads_a_simple_page_for_the_bench_comparison() {
    // `docmerge bench ocr --engines ocrs-layout`: the ocrs crate groups this pipeline's boxes
    // into lines; three well-separated lines come out whole and in order.
    let dir = tmpdir("ocrs-layout");
    let path = dir.join("scan.png");
    sample_image().save(&path).unwrap();
    let ocrs = ocrs::OcrEngine::new(ocrs::OcrEngineParams::default()).unwrap();
    let text = engine().ocr_image_with_ocrs_layout(&path, &ocrs, false, &Limits::default()).unwrap();
    assert_reads_sample(&text);
    let lines: Vec<String> = text.lines().map(normalise).collect();
    assert_eq!(lines, SAMPLE_LINES.iter().map(|l| normalise(l)).collect::<Vec<_>>());
    // Asking for the ocrs detector without its model is an error in words, not a panic.
    let err = engine().ocr_image_with_ocrs_layout(&path, &ocrs, true, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("ocrs"), "{err}");
}

#[test]
fn detecting_only_the_inked_part_finds_the_same_lines_as_the_whole_page() {
    // The sample page has wide blank margins (three lines near the top of an A4 page): the
    // detector is given the inked part only. The boxes come out where the whole page puts them
    // (the detector sees a little less context, so within a few pixels) and read the same.
    let img = sample_image();
    let paths = runtime_paths_from_env();
    let model = |f: &str| runtime::find_model(&paths, f).expect("OCR models (run scripts/fetch-runtime.sh)").path;
    let (det, rec, dict) = (model(runtime::DET_MODEL_FILE), model(runtime::REC_MODEL_FILE), model(runtime::DICT_FILE));
    let mut whole = ocr::OcrModels::load(&det, &rec, &dict).unwrap();
    whole.params.det_crop_to_ink = false;
    let cropped = &engine().ocr;
    assert!(cropped.params.det_crop_to_ink, "cropping to the ink is the default");
    let deadline = ocr::Deadline { at: std::time::Instant::now() + std::time::Duration::from_secs(120) };
    let key = |r: &rten_imageproc::RotatedRect| {
        let c = r.center();
        (c.y, c.x, r.width(), r.height())
    };
    let mut a: Vec<_> = whole.detect(&img, &deadline).unwrap().iter().map(key).collect();
    let mut b: Vec<_> = cropped.detect(&img, &deadline).unwrap().iter().map(key).collect();
    a.sort_by(|p, q| p.partial_cmp(q).unwrap());
    b.sort_by(|p, q| p.partial_cmp(q).unwrap());
    assert_eq!(a.len(), SAMPLE_LINES.len(), "{a:?}");
    assert_eq!(a.len(), b.len(), "whole page {a:?}\ninked part {b:?}");
    for (p, q) in a.iter().zip(&b) {
        let line_h = p.3;
        assert!((p.0 - q.0).abs() < 0.15 * line_h && (p.1 - q.1).abs() < 0.15 * line_h, "centres: whole page {p:?} vs inked part {q:?}");
        assert!((p.2 - q.2).abs() < 0.03 * p.2 && (p.3 - q.3).abs() < 0.15 * line_h, "sizes: whole page {p:?} vs inked part {q:?}");
    }
    let text = |m: &ocr::OcrModels| m.ocr_page(&img, &deadline).unwrap().lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
    let (read_whole, read_cropped) = (text(&whole), text(cropped));
    assert_eq!(read_whole, read_cropped);
    assert_reads_sample(&read_cropped.join("\n"));
}

#[test]
fn png_upload_is_ocrd_with_line_boxes() {
    let dir = tmpdir("png");
    let img = sample_image();
    let path = dir.join("scan.png");
    img.save(&path).unwrap();
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert_eq!((info.kind, info.pages[0].width as u32), (SourceKind::Png, img.width()));
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert_eq!(r.text.source, TextSource::Ocr);
    assert_reads_sample(&r.text.text);
    assert_eq!(r.text.lines.len(), 3, "{:?}", r.text.lines);
    // Reading order and placement: the first line is at the top, ~1 inch from the left.
    let b = r.text.lines[0].bbox;
    assert!((b[0] - 72.0 / 595.0).abs() < 0.02, "{b:?}");
    assert!(r.text.lines[1].bbox[1] > b[3]);
}

#[test]
fn rotated_and_skewed_scans_still_read() {
    let dir = tmpdir("rot");
    let base = sample_image();
    let limits = Limits::default();
    let cases: Vec<(&str, GrayImage, u16)> = vec![
        ("r90", image::imageops::rotate90(&base), 270),
        ("r180", image::imageops::rotate180(&base), 180),
        ("r270", image::imageops::rotate270(&base), 90),
        ("skew", rotate_small_angle(&base, 2.5), 0),
    ];
    for (name, img, expected_rotation) in cases {
        let path = dir.join(format!("{name}.png"));
        img.save(&path).unwrap();
        let info = engine().inspect(&path, &limits).unwrap();
        let r = engine().process_page(&path, &info, 0, &limits).unwrap();
        assert_eq!(r.text.rotation, expected_rotation, "{name}");
        assert_reads_sample(&r.text.text);
    }
}

#[test]
fn text_running_up_or_down_the_margin_is_read() {
    let mut page = sample_image();
    // The first sample line as a label: its ink rows and columns, with a little paper around.
    let ink_rows: Vec<u32> = (0..page.height()).filter(|&y| (0..page.width()).any(|x| page.get_pixel(x, y).0[0] < 128)).collect();
    let (top, mut bottom) = (ink_rows[0], ink_rows[0]);
    for &y in &ink_rows {
        if y > bottom + 10 {
            break; // the gap before the second line
        }
        bottom = y;
    }
    let ink_cols: Vec<u32> = (0..page.width()).filter(|&x| (top..=bottom).any(|y| page.get_pixel(x, y).0[0] < 128)).collect();
    let (left, right) = (ink_cols[0] - 15, ink_cols[ink_cols.len() - 1] + 15);
    let label = image::imageops::crop_imm(&page, left, top - 15, right - left, bottom - top + 30).to_image();
    // Up the right margin (turned a quarter anticlockwise) and down the left one (clockwise).
    let up = image::imageops::rotate270(&label);
    let down = image::imageops::rotate90(&label);
    let (w, h) = page.dimensions();
    image::imageops::replace(&mut page, &up, (w - up.width() - 60) as i64, (h - up.height() - 300) as i64);
    image::imageops::replace(&mut page, &down, 60, (h - down.height() - 300) as i64);

    let dir = tmpdir("standing");
    let path = dir.join("margins.png");
    page.save(&path).unwrap();
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert_eq!(r.text.rotation, 0);
    assert_reads_sample(&r.text.text);
    let got = normalise(&r.text.text);
    let label_text = normalise(SAMPLE_LINES[0]);
    assert_eq!(got.matches(&label_text).count(), 3, "the line and both margin labels in {got:?}");
    // Each margin reading is its own line, after the body text (its middle is lower on the page).
    let labels: Vec<&Line> = r.text.lines.iter().filter(|l| normalise(&l.text) == label_text).collect();
    assert_eq!(labels.len(), 3);
    let tall: Vec<&&Line> = labels.iter().filter(|l| l.bbox[3] - l.bbox[1] > 2.0 * (l.bbox[2] - l.bbox[0])).collect();
    assert_eq!(tall.len(), 2, "two standing line boxes: {labels:?}");
    let last_body = r.text.lines.iter().position(|l| normalise(&l.text) == normalise(SAMPLE_LINES[2])).unwrap();
    let first_label = r.text.lines.iter().position(|l| std::ptr::eq(l, *tall[0])).unwrap();
    assert!(first_label > last_body, "{:?}", r.text.lines);

    // In the searchable PDF the margin words run the way they are printed: each one is found
    // at its box, and text extraction gives them whole.
    let out = dir.join("margins.pdf");
    engine().build_searchable_pdf(&path, &info, std::slice::from_ref(&r.text), &out).unwrap();
    let (extracted, centres) = text_at_boxes(&out, &r.text);
    for (word, ch) in r.text.lines.iter().flat_map(|l| &l.words).zip(&centres) {
        assert!(word.text.contains(*ch), "char {ch:?} at the centre of {word:?}");
    }
    let turns: Vec<Option<u16>> = tall.iter().map(|l| l.words[0].turn).collect();
    assert_eq!(turns, [Some(90), Some(270)], "up the right margin, then down the left one");
    assert_eq!(normalise(&extracted).matches(&label_text).count(), 3, "{extracted:?}");
}

#[test]
fn image_only_pdf_is_ocrd_and_searchable_pdf_keeps_the_page() {
    let dir = tmpdir("io");
    let img = DynamicImage::ImageLuma8(sample_image());
    let pdfium = engine().pdfium;
    let path = dir.join("io.pdf");
    {
        let mut doc = pdfium.create_new_pdf().unwrap();
        let mut page = doc.pages_mut().create_page_at_end(PdfPagePaperSize::a4()).unwrap();
        let (w, h) = (page.width(), page.height());
        let obj = PdfPageImageObject::new_with_size(&doc, &img, w, h).unwrap();
        page.objects_mut().add_image_object(obj).unwrap();
        doc.save_to_file(&path).unwrap();
    }
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert!(!info.pages[0].has_text_layer);
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert_eq!(r.text.source, TextSource::Ocr);
    assert_reads_sample(&r.text.text);

    let out = dir.join("searchable.pdf");
    engine().build_searchable_pdf(&path, &info, std::slice::from_ref(&r.text), &out).unwrap();
    assert_words_land_on_their_boxes(&out, &r.text);
}

/// The sample page saved as a PNG upload in a fresh directory, inspected.
fn sample_png_upload(name: &str) -> (PathBuf, PathBuf, SourceInfo) {
    let dir = tmpdir(name);
    let path = dir.join("scan.png");
    sample_image().save(&path).unwrap();
    let info = engine().inspect(&path, &Limits::default()).unwrap();
    (dir, path, info)
}

#[test]
fn image_upload_becomes_a_searchable_pdf() {
    let (dir, path, info) = sample_png_upload("img2pdf");
    let limits = Limits::default();
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    let out = dir.join("scan.pdf");
    engine().build_searchable_pdf(&path, &info, std::slice::from_ref(&r.text), &out).unwrap();
    assert_words_land_on_their_boxes(&out, &r.text);
    // The page carries the image (an image object covering the page).
    let doc = engine().pdfium.load_pdf_from_file(&out, None).unwrap();
    let page = doc.pages().get(0).unwrap();
    assert!(page.objects().iter().any(|o| o.as_image_object().is_some()));
}

/// Every OCR word must be found, via pdfium's text extraction of the written PDF,
/// at (approximately) the place OCR saw it.
fn assert_words_land_on_their_boxes(pdf_path: &Path, text: &PageText) {
    let (extracted, centres) = text_at_boxes(pdf_path, text);
    assert_reads_sample(&extracted);
    // Centre of each OCR box, in user space: the char there must belong to that word.
    for (word, ch) in text.lines.iter().flat_map(|l| &l.words).zip(&centres) {
        assert!(word.text.contains(*ch), "char {ch:?} at the centre of {word:?}");
    }
    assert!(centres.len() >= 12, "only {} words checked", centres.len());
}

// ---------------------------------------------------------------- corpus

#[test]
fn corpus_bad_inputs_fail_cleanly() {
    let c = corpus();
    let limits = Limits::default();
    let expect = |name: &str, check: &dyn Fn(&PipelineError) -> bool| {
        let e = engine().inspect(&c.join(name), &limits).expect_err(name);
        assert!(check(&e), "{name}: {e}");
        assert!(e.is_permanent(), "{name}: {e}");
    };
    expect("bad-zero-byte.pdf", &|e| matches!(e, PipelineError::Empty));
    expect("bad-header-only.pdf", &|e| matches!(e, PipelineError::Damaged(_)));
    expect("bad-truncated-cupertino.pdf", &|e| matches!(e, PipelineError::Damaged(_)));
    expect("bad-encrypted-password-is-test.pdf", &|e| e.to_string().starts_with("password-protected PDF"));
    expect("bad-2000-pages.pdf", &|e| matches!(e, PipelineError::TooManyPages { pages: 2000, limit: 1000 }));
    expect("bad-bomb-40000x40000-1bit.png", &|e| matches!(e, PipelineError::TooManyPixels { width: 40000, height: 40000, .. }));
    let info = engine().inspect(&c.join("bad-png-named.pdf"), &limits).unwrap();
    assert_eq!(info.kind, SourceKind::Png);
}

#[test]
fn corpus_born_digital_and_image_only_pdfs_take_the_right_path() {
    let c = corpus();
    let limits = Limits::default();
    for name in ["bd-cupertino-agenda.pdf", "bd-latex-blindtext.pdf", "bd-senate-expenditures.pdf", "bd-paperless-with-form.pdf"] {
        let info = engine().inspect(&c.join(name), &limits).unwrap();
        assert!(info.pages.iter().all(|p| p.has_text_layer), "{name}");
        let r = engine().process_page(&c.join(name), &info, 0, &limits).unwrap();
        assert_eq!(r.text.source, TextSource::TextLayer, "{name}");
    }
    for name in ["io-paperless-simple.pdf", "io-latex-blindtext.pdf"] {
        let info = engine().inspect(&c.join(name), &limits).unwrap();
        assert!(info.pages.iter().all(|p| !p.has_text_layer), "{name}");
    }
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn ocr_over_the_page_timeout_is_a_transient_error() {
    let dir = tmpdir("timeout");
    let path = dir.join("scan.png");
    sample_image().save(&path).unwrap();
    let limits = Limits { page_timeout: std::time::Duration::ZERO, ..Default::default() };
    let info = engine().inspect(&path, &limits).unwrap();
    let e = engine().process_page(&path, &info, 0, &limits).unwrap_err();
    assert!(matches!(e, PipelineError::PageTimeout { page: 1, .. }), "{e}");
    assert!(!e.is_permanent());
}

#[test]
fn multi_page_tiff_pages_are_separate() {
    use tiff::encoder::{TiffEncoder, colortype::Gray8};
    let dir = tmpdir("tiff");
    let path = dir.join("two.tif");
    let text_page = sample_image();
    let blank = GrayImage::from_pixel(800, 600, image::Luma([255]));
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = TiffEncoder::new(std::io::BufWriter::new(file)).unwrap();
        enc.write_image::<Gray8>(blank.width(), blank.height(), blank.as_raw()).unwrap();
        enc.write_image::<Gray8>(text_page.width(), text_page.height(), text_page.as_raw()).unwrap();
    }
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert_eq!(info.kind, SourceKind::Tiff);
    assert_eq!(info.pages.len(), 2);
    assert_eq!((info.pages[0].width, info.pages[1].width), (800.0, text_page.width() as f32));
    let first = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert!(first.text.text.trim().is_empty(), "{:?}", first.text.text);
    let second = engine().process_page(&path, &info, 1, &limits).unwrap();
    assert_reads_sample(&second.text.text);
    let e = engine().process_page(&path, &info, 2, &limits).unwrap_err();
    assert!(matches!(e, PipelineError::NoSuchPage { page: 3, pages: 2 }), "{e}");

    let too_few = Limits { max_pages: 1, ..Default::default() };
    assert!(matches!(engine().inspect(&path, &too_few), Err(PipelineError::TooManyPages { .. })));
}

#[test]
fn jpeg_exif_orientation_is_applied() {
    use image::ImageEncoder;
    let dir = tmpdir("exif");
    // Stored sideways (rotated 90° counter-clockwise); EXIF orientation 6 says
    // "rotate 90° clockwise to display".
    let stored = image::imageops::rotate270(&sample_image());
    let exif: Vec<u8> = vec![
        b'I', b'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, // TIFF header, IFD at 8
        0x01, 0x00, // one entry
        0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, // Orientation = 6
        0x00, 0x00, 0x00, 0x00, // no next IFD
    ];
    let path = dir.join("photo.jpg");
    {
        let mut out = std::fs::File::create(&path).unwrap();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        enc.set_exif_metadata(exif).unwrap();
        enc.write_image(stored.as_raw(), stored.width(), stored.height(), image::ExtendedColorType::L8).unwrap();
    }
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert_eq!(info.kind, SourceKind::Jpeg);
    // Displayed size: portrait again.
    assert_eq!((info.pages[0].width as u32, info.pages[0].height as u32), (stored.height(), stored.width()));
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert_eq!(r.text.rotation, 0, "EXIF orientation should already make it upright");
    assert_reads_sample(&r.text.text);
    // The searchable PDF of an EXIF-rotated JPEG is upright too.
    let out = dir.join("photo.pdf");
    engine().build_searchable_pdf(&path, &info, std::slice::from_ref(&r.text), &out).unwrap();
    assert_words_land_on_their_boxes(&out, &r.text);
}

#[test]
fn rotated_pdf_page_gets_its_text_layer_the_right_way_round() {
    // An image-only page with /Rotate 90: pdfium shows it turned clockwise, so
    // the OCR reads it turned back, and the invisible words must follow the text.
    let dir = tmpdir("rotpdf");
    let img = DynamicImage::ImageLuma8(sample_image());
    let path = dir.join("rotated.pdf");
    {
        let mut doc = engine().pdfium.create_new_pdf().unwrap();
        let mut page = doc.pages_mut().create_page_at_end(PdfPagePaperSize::a4()).unwrap();
        let (w, h) = (page.width(), page.height());
        let obj = PdfPageImageObject::new_with_size(&doc, &img, w, h).unwrap();
        page.objects_mut().add_image_object(obj).unwrap();
        page.set_rotation(PdfPageRenderRotation::Degrees90);
        doc.save_to_file(&path).unwrap();
    }
    let limits = Limits::default();
    let info = engine().inspect(&path, &limits).unwrap();
    assert!(info.pages[0].width > info.pages[0].height, "displayed landscape: {:?}", info.pages[0]);
    let r = engine().process_page(&path, &info, 0, &limits).unwrap();
    assert_eq!(r.text.rotation, 270);
    assert_reads_sample(&r.text.text);
    let out = dir.join("rotated-searchable.pdf");
    engine().build_searchable_pdf(&path, &info, std::slice::from_ref(&r.text), &out).unwrap();
    assert_words_land_on_their_boxes(&out, &r.text);
}

/// A page text with one line per word, each word on its own band of the page.
fn page_text_of_words(words: &[&str], width: f32, height: f32) -> PageText {
    let lines: Vec<Line> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let y0 = 0.1 + i as f32 * 0.08;
            let bbox = [0.1, y0, 0.1 + 0.03 * w.chars().count() as f32, y0 + 0.04];
            Line { text: w.to_string(), bbox, words: vec![Word { text: w.to_string(), bbox, turn: None }] }
        })
        .collect();
    PageText { text: words.join("\n"), lines, source: TextSource::Ocr, width, height, rotation: 0 }
}

/// The text pdfium extracts from page 1, and the character found at the centre of each box.
fn text_at_boxes(pdf_path: &Path, text: &PageText) -> (String, Vec<char>) {
    let doc = engine().pdfium.load_pdf_from_file(pdf_path, None).unwrap();
    let page = doc.pages().get(0).unwrap();
    let layer = page.text().unwrap();
    let frame = pdf::PageFrame::of(&page).unwrap();
    let chars = layer.chars();
    let centre_chars = text
        .lines
        .iter()
        .flat_map(|l| &l.words)
        .map(|w| {
            let (ux, uy) = frame.to_user((w.bbox[0] + w.bbox[2]) / 2.0, (w.bbox[1] + w.bbox[3]) / 2.0);
            chars
                .iter()
                .find(|c| c.loose_bounds().map(|b| b.contains(PdfPoints::new(ux), PdfPoints::new(uy))).unwrap_or(false))
                .and_then(|c| c.unicode_char())
                .unwrap_or_else(|| panic!("no text at the centre of {w:?}"))
        })
        .collect();
    (pdf::all_text(&layer), centre_chars)
}

#[test]
fn searchable_pdf_carries_words_beyond_latin1_with_the_text_font() {
    let (dir, path, info) = sample_png_upload("wide-font");
    let words = ["Zażółć", "gęślą", "Καλημέρα", "Привет", "Straße", "Invoice"];
    let text = page_text_of_words(&words, info.pages[0].width, info.pages[0].height);
    let font =
        engine().text_font.clone().expect("a TrueType text-layer font is needed for this test: install fonts-dejavu-core (.ci/run does)");

    let out = dir.join("wide.pdf");
    searchable::build(engine().pdfium, Some(&font), &path, &info, std::slice::from_ref(&text), &out).unwrap();
    let (extracted, centres) = text_at_boxes(&out, &text);
    for w in words {
        assert!(extracted.contains(w), "{w:?} missing from the text layer: {extracted:?}");
    }
    for (w, c) in words.iter().zip(&centres) {
        assert!(w.contains(*c), "char {c:?} at the centre of {w:?}");
    }

    // Without a font the PDF still gets written: the Latin-1 words whole, the rest with '?'.
    let out = dir.join("latin.pdf");
    searchable::build(engine().pdfium, None, &path, &info, std::slice::from_ref(&text), &out).unwrap();
    let (extracted, _) = text_at_boxes(&out, &text);
    assert!(extracted.contains("Straße") && extracted.contains("Invoice"), "{extracted:?}");
    assert!(extracted.contains("Za?ó??") && extracted.contains("??????"), "{extracted:?}");
    let without = std::fs::metadata(&out).unwrap().len();

    // A page that needs no other font does not carry one (the font file is hundreds of KB).
    let latin = page_text_of_words(&["Straße", "Invoice"], info.pages[0].width, info.pages[0].height);
    let out = dir.join("latin-only.pdf");
    searchable::build(engine().pdfium, Some(&font), &path, &info, std::slice::from_ref(&latin), &out).unwrap();
    let font_size = std::fs::metadata(&font).unwrap().len();
    let latin_only = std::fs::metadata(&out).unwrap().len();
    assert!(latin_only < without + font_size / 4, "latin-only PDF {latin_only} B, font {font_size} B");
}

#[test]
fn turning_a_page_turns_the_words_running_up_its_margin_too() {
    let mut text = page_text_of_words(&["Body", "Margin"], 1000.0, 1400.0);
    text.lines[1].words[0].turn = Some(90); // runs up the page
    let turned = rotate_page_text(&text, 90);
    assert_eq!(turned.rotation, 270);
    assert_eq!(turned.lines[0].words[0].turn, None, "ordinary words follow the page");
    assert_eq!(turned.lines[1].words[0].turn, Some(0), "a quarter turn clockwise sets it level");
    assert_eq!(rotate_page_text(&text, 270).lines[1].words[0].turn, Some(180));
    // Stored page texts from before the field read as they were.
    let old: Word = serde_json::from_str(r#"{"text":"Body","bbox":[0.1,0.1,0.2,0.2]}"#).unwrap();
    assert_eq!(old.turn, None);
    assert!(!serde_json::to_string(&turned.lines[0].words[0]).unwrap().contains("turn"));
}

#[test]
fn damaged_pdfs_read_at_the_same_time_each_get_their_own_reason() {
    // pdfium keeps one process-wide "last error" that a failed load sets and the caller reads
    // after it: two failing loads on two threads must not read each other's.
    let c = corpus();
    let limits = Limits::default();
    let threads: Vec<_> = [("bad-encrypted-password-is-test.pdf", true), ("bad-truncated-cupertino.pdf", false)]
        .into_iter()
        .flat_map(|f| [f, f])
        .map(|(name, encrypted)| {
            let (path, limits) = (c.join(name), limits.clone());
            std::thread::spawn(move || {
                for round in 0..150 {
                    let e = engine().inspect(&path, &limits).expect_err(name);
                    let says_password = e.to_string().starts_with("password-protected PDF");
                    assert_eq!(says_password, encrypted, "{name}, round {round}: {e}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread saw another file's reason");
    }
}
