//! OCR on rten with the PaddleOCR PP-OCRv6 small models: DB text detection,
//! CTC line recognition, page orientation. Contours and minimum-area boxes come
//! from rten-imageproc (as in ocrs); reading order is our own (layout.rs), which
//! measured far better than ocrs' line grouping on multi-column pages and tables.

use std::path::Path;
use std::time::Instant;

use image::GrayImage;
use rten::Model;

use super::layout;
use rten_imageproc::{PointF, RetrievalMode, RotatedRect, Vec2, find_contours, min_area_rect, simplify_polygon};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, NdTensorView};

/// Tunables, measured on the dev corpus (see the pipeline report).
#[derive(Debug, Clone)]
pub struct OcrParams {
    /// Longest side of the image fed to the detector (rounded to a multiple of 32).
    pub det_max_side: u32,
    /// Probability above which a detector pixel counts as text.
    pub det_threshold: f32,
    /// Minimum mean probability inside a candidate box.
    pub box_threshold: f32,
    /// DB "unclip" ratio: how far shrunk text kernels are grown back.
    pub unclip_ratio: f32,
    /// Maximum summed padded width of one recognition batch, in pixels at height 48.
    pub rec_batch_width: usize,
    /// Crops wider than this (at height 48) are cut at blank gaps into pieces of
    /// `piece_min..=piece_max` columns where the line allows: the recogniser's cost grows
    /// with width and it was trained on short crops.
    pub piece_max: usize,
    pub piece_min: usize,
    /// Horizontal scale of line crops relative to their height-48 aspect ratio. The
    /// recogniser was trained on lines squeezed to fit 320 columns and reads them as well
    /// (0.7 measured best on the corpus) at proportionally less cost; 0.4 fails.
    pub rec_x_scale: f32,
    /// Feed the detector only the part of the page that has ink on it (plus a blank border):
    /// the detector is convolutional, so blank margins cost time and find nothing.
    pub det_crop_to_ink: bool,
}

impl Default for OcrParams {
    fn default() -> Self {
        OcrParams {
            det_max_side: 1280,
            det_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            rec_batch_width: 6000,
            piece_max: 800,
            piece_min: 320,
            rec_x_scale: 0.7,
            det_crop_to_ink: true,
        }
    }
}

pub(crate) struct OcrModels {
    det: Model,
    rec: Model,
    /// Class index -> text. Index 0 is the CTC blank, the last class is the space.
    classes: Vec<String>,
    pub params: OcrParams,
}

pub(crate) use super::lines::{OcrLine, OcrWord};

#[derive(Debug, Clone)]
pub(crate) struct OcrPage {
    /// Clockwise rotation (0, 90, 180, 270) applied to the input to make the text upright.
    pub rotation: u16,
    /// Lines in reading order; coordinates are in the *input* image (not the rotated one).
    pub lines: Vec<OcrLine>,
}

pub(crate) struct Deadline {
    pub at: Instant,
}

#[derive(Debug)]
pub(crate) enum OcrError {
    Timeout,
    Model(String),
}

impl Deadline {
    fn check(&self) -> Result<(), OcrError> {
        if Instant::now() > self.at { Err(OcrError::Timeout) } else { Ok(()) }
    }
}

/// A text line crop sampled along a (possibly skewed) rectangle.
struct LineCrop {
    /// Grey pixels, height 48.
    pixels: Vec<u8>,
    width: usize,
    /// Geometry to map crop x back to image coordinates.
    origin: Vec2,
    dir: Vec2,
    normal: Vec2,
    length: f32,
    thickness: f32,
}

struct Recognised {
    text: String,
    confidence: f32,
    /// Per emitted char: (char text, centre x in crop pixels).
    chars: Vec<(String, f32)>,
    /// Width of one CTC timestep in crop pixels.
    step: f32,
}

const REC_HEIGHT: usize = 48;
const MAX_REC_WIDTH: usize = 3200;
const ORIENTATION_SAMPLE_LINES: usize = 6;
const ORIENTATION_SAMPLE_WIDTH: usize = 400;
/// Mean character confidence above which a page's first reading is taken as upright
/// without comparing it with the page turned by 180°.
const CONFIDENT_UPRIGHT: f32 = 0.9;
/// Narrowest blank gap (columns at height 48) to cut a line crop in.
const MIN_CUT_GAP: usize = 3;
/// Paper-coloured columns added on each cut side of a piece.
const PIECE_MARGIN: usize = 8;
/// A crop row holds the line's own glyphs (not a neighbour's ascenders or descenders) when it
/// has at least 1/`DENSE_ROW_SHARE` of the inkiest row's ink.
const DENSE_ROW_SHARE: usize = 6;

impl OcrModels {
    pub fn load(det: &Path, rec: &Path, dict: &Path) -> Result<Self, String> {
        let mut options = rten::ModelOptions::with_all_ops();
        // Pre-packing the weights once at load makes every convolution/matmul cheaper.
        options.prepack_weights(true);
        let det_model = options.load_file(det).map_err(|e| {
            format!("the OCR detection model {} could not be loaded ({e}); run scripts/fetch-runtime.sh again", det.display())
        })?;
        let rec_model = options.load_file(rec).map_err(|e| {
            format!("the OCR recognition model {} could not be loaded ({e}); run scripts/fetch-runtime.sh again", rec.display())
        })?;
        let dict_text = std::fs::read_to_string(dict)
            .map_err(|e| format!("the OCR dictionary {} could not be read ({e}); run scripts/fetch-runtime.sh again", dict.display()))?;
        let mut classes = vec![String::new()];
        classes.extend(dict_text.lines().map(|l| l.trim_end_matches('\r').to_string()));
        classes.push(" ".to_string());
        Ok(OcrModels { det: det_model, rec: rec_model, classes, params: OcrParams::default() })
    }

    /// Full page OCR: orientation, detection, recognition, reading order.
    pub fn ocr_page(&self, img: &GrayImage, deadline: &Deadline) -> Result<OcrPage, OcrError> {
        let started = Instant::now();
        let mut rotation: u16 = 0;
        let mut upright = std::borrow::Cow::Borrowed(img);
        let mut rects = self.detect(&upright, deadline)?;

        // Pages turned by 90/270: most lines come out taller than wide.
        if is_mostly_vertical(&rects) {
            let turned = image::imageops::rotate90(img);
            let turned_rects = self.detect(&turned, deadline)?;
            if !is_mostly_vertical(&turned_rects) {
                upright = std::borrow::Cow::Owned(turned);
                rects = turned_rects;
                rotation = 90;
            }
        }
        deadline.check()?;
        let detected = started.elapsed();

        let mut read = self.read_lines(&upright, &rects, deadline)?;
        let mut flip_checked = false;
        // 0 vs 180: upright text reads with high confidence, so the comparison with the
        // page turned over (a second recognition of a sample of lines) is needed only
        // when the first reading is doubtful.
        if read.mean_confidence() < CONFIDENT_UPRIGHT {
            flip_checked = true;
            if self.looks_upside_down(&upright, &rects)? {
                let (w, h) = upright.dimensions();
                rects = rects.iter().map(|r| rotate_rect_180(r, w as f32, h as f32)).collect();
                upright = std::borrow::Cow::Owned(image::imageops::rotate180(upright.as_ref()));
                rotation = (rotation + 180) % 360;
                deadline.check()?;
                read = self.read_lines(&upright, &rects, deadline)?;
            }
        }
        tracing::debug!(
            boxes = rects.len(),
            pieces = read.pieces,
            detect_ms = detected.as_millis() as u64,
            read_ms = (started.elapsed() - detected).as_millis() as u64,
            flip_checked,
            "OCR page"
        );

        let (uw, uh) = upright.dimensions();
        let to_input = |p: [f32; 2]| -> [f32; 2] { unrotate_point(p, rotation, uw as f32, uh as f32) };

        let mut lines = Vec::new();
        let mut k = 0;
        for group in &read.ordered {
            let mut line = OcrLine { text: String::new(), words: Vec::new(), confidence: 0.0 };
            let mut conf_sum = 0.0;
            let mut n = 0;
            for _ in group {
                let (crop, rec) = (&read.crops[k], &read.recognised[k]);
                k += 1;
                if rec.text.trim().is_empty() || rec.confidence < 0.5 {
                    continue;
                }
                for word in words_of(crop, rec) {
                    line.words.push(OcrWord { text: word.text, quad: word.quad.map(to_input) });
                }
                if !line.text.is_empty() {
                    line.text.push(' ');
                }
                line.text.push_str(rec.text.trim());
                conf_sum += rec.confidence;
                n += 1;
            }
            if n > 0 {
                line.confidence = conf_sum / n as f32;
                lines.push(line);
            }
        }
        super::quotes::curl_quotes(&mut lines);
        Ok(OcrPage { rotation, lines })
    }

    /// The text of an upright page whose lines are found by the `ocrs` crate: its line grouping
    /// and reading order over this pipeline's detected boxes, or (`ocrs_detector`) over the words
    /// found by the ocrs engine's own detection model; the lines are read by this pipeline's
    /// recogniser. For the comparison in `docmerge bench ocr` only.
    #[cfg(feature = "bench")]
    pub(crate) fn read_with_ocrs_layout(
        &self,
        img: &GrayImage,
        ocrs: &ocrs::OcrEngine,
        ocrs_detector: bool,
        deadline: &Deadline,
    ) -> Result<String, OcrError> {
        let model_error = |e: String| OcrError::Model(format!("ocrs: {e}"));
        let input = ocrs
            .prepare_input(ocrs::ImageSource::from_bytes(img.as_raw(), img.dimensions()).map_err(|e| model_error(e.to_string()))?)
            .map_err(|e| model_error(e.to_string()))?;
        let boxes =
            if ocrs_detector { ocrs.detect_words(&input).map_err(|e| model_error(e.to_string()))? } else { self.detect(img, deadline)? };
        let lines = ocrs.find_text_lines(&input, &boxes);
        let rects: Vec<RotatedRect> = lines
            .iter()
            .filter_map(|words| {
                let corners: Vec<PointF> = words.iter().flat_map(|r| r.corners()).collect();
                let r = min_area_rect(&corners)?.orient_towards(Vec2::from_xy(0.0, -1.0));
                if !ocrs_detector {
                    return Some(r);
                }
                // ocrs's word boxes are tight; this recogniser was trained on crops with a margin
                // like the one the DB detector's unclip leaves.
                let h = r.height();
                Some(RotatedRect::new(r.center(), r.up_axis(), r.width() + 0.6 * h, h))
            })
            .collect();
        let crops: Vec<LineCrop> = rects.iter().map(|r| crop_line(img, r, self.params.rec_x_scale)).collect();
        let (read, _) = self.recognize(&crops, deadline)?;
        Ok(read.iter().filter(|r| !r.text.trim().is_empty() && r.confidence >= 0.5).map(|r| r.text.trim()).collect::<Vec<_>>().join("\n"))
    }

    /// Reading order, crops and recognition of the detected boxes of an upright page.
    fn read_lines(&self, upright: &GrayImage, rects: &[RotatedRect], deadline: &Deadline) -> Result<PageReading, OcrError> {
        // Reading order: columns, then lines (boxes on one row joined).
        let (ordered, standing) = self.reading_order(rects);
        let x_scale = self.params.rec_x_scale;
        let boxes: Vec<(&RotatedRect, bool)> =
            ordered.iter().zip(&standing).flat_map(|(group, &stands)| group.iter().map(move |r| (r, stands))).collect();
        // Sampling the crops is the longest stretch of a page on one thread: the cores share it.
        let crops_of = |part: &[(&RotatedRect, bool)]| -> Vec<LineCrop> {
            let mut crops = Vec::with_capacity(part.len());
            for &(r, stands) in part {
                if stands {
                    crops.extend(standing_crops(upright, r, x_scale));
                } else {
                    crops.push(crop_line(upright, r, x_scale));
                }
            }
            crops
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let crops: Vec<LineCrop> = if threads > 1 && boxes.len() >= 8 {
            let per = boxes.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = boxes.chunks(per).map(|part| scope.spawn(move || crops_of(part))).collect();
                parts.into_iter().flat_map(|h| h.join().expect("sampling line crops panicked")).collect()
            })
        } else {
            crops_of(&boxes)
        };
        let (recognised, pieces) = self.recognize(&crops, deadline)?;
        // One reading per box: of a standing box's two, the more confident one.
        let mut readings = crops.into_iter().zip(recognised);
        let (mut kept_crops, mut kept) = (Vec::new(), Vec::new());
        for (group, &stands) in ordered.iter().zip(&standing) {
            for _ in group {
                let first = readings.next().expect("one reading per crop");
                let second = if stands { readings.next() } else { None };
                let (crop, rec) = match second {
                    Some(other) if other.1.confidence > first.1.confidence => other,
                    _ => first,
                };
                kept_crops.push(crop);
                kept.push(rec);
            }
        }
        Ok(PageReading { ordered, crops: kept_crops, recognised: kept, pieces })
    }

    /// Lines (groups of boxes) in reading order, computed in the deskewed frame, and for each
    /// whether it is a standing box (text running up or down the page; read on its own and
    /// placed before the first line whose middle is below its own).
    fn reading_order(&self, rects: &[RotatedRect]) -> (Vec<Vec<RotatedRect>>, Vec<bool>) {
        let mut angles: Vec<f32> = rects
            .iter()
            .filter(|r| r.width() > 3.0 * r.height())
            .map(|r| {
                let d = text_direction(r);
                d.y.atan2(d.x)
            })
            .collect();
        angles.sort_by(|a, b| a.total_cmp(b));
        let skew = angles.get(angles.len() / 2).copied().unwrap_or(0.0);
        let (s, c) = (-skew).sin_cos();
        let standing = standing_boxes(rects);
        let flat: Vec<usize> = (0..rects.len()).filter(|&i| !standing[i]).collect();
        let boxes: Vec<layout::LayoutBox> = flat
            .iter()
            .map(|&i| {
                let r = &rects[i];
                let p = r.center();
                let (x, y) = (c * p.x - s * p.y, s * p.x + c * p.y);
                // Detector boxes are grown (unclip) until neighbouring lines touch; lay out
                // with their cores so line gaps exist.
                let (hw, hh) = (r.width() / 2.0 - r.height() * 0.2, r.height() * 0.3);
                layout::LayoutBox { x0: x - hw, y0: y - hh, x1: x + hw, y1: y + hh }
            })
            .collect();
        let layout_lines = layout::reading_order(&boxes);
        let line_middles: Vec<f32> = layout_lines
            .iter()
            .map(|line| line.iter().map(|&j| (boxes[j].y0 + boxes[j].y1) / 2.0).sum::<f32>() / line.len() as f32)
            .collect();
        // Each standing box goes before the first line whose middle is below its own.
        let mut standing_at: Vec<(usize, f32, RotatedRect)> = (0..rects.len())
            .filter(|&i| standing[i])
            .map(|i| {
                let p = rects[i].center();
                let middle = s * p.x + c * p.y;
                (line_middles.iter().position(|&y| y > middle).unwrap_or(line_middles.len()), middle, rects[i])
            })
            .collect();
        standing_at.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut standing_at = standing_at.into_iter().peekable();
        let mut lines: Vec<(Vec<RotatedRect>, bool)> = Vec::with_capacity(rects.len());
        for (k, line) in layout_lines.into_iter().enumerate() {
            while let Some((_, _, r)) = standing_at.next_if(|st| st.0 <= k) {
                lines.push((vec![r], true));
            }
            lines.push((line.into_iter().map(|j| rects[flat[j]]).collect(), false));
        }
        lines.extend(standing_at.map(|(_, _, r)| (vec![r], true)));
        lines.into_iter().unzip()
    }

    /// DB detector: probability map -> connected components -> rotated boxes (image coordinates).
    pub fn detect(&self, img: &GrayImage, deadline: &Deadline) -> Result<Vec<RotatedRect>, OcrError> {
        let p = &self.params;
        let (w, h) = img.dimensions();
        let scale = (p.det_max_side as f32 / w.max(h) as f32).min(1.0);
        let round32 = |v: f32| ((v / 32.0).round() as u32).max(1) * 32;
        let (dw, dh) = (round32(w as f32 * scale), round32(h as f32 * scale));
        let small = image::imageops::resize(img, dw, dh, image::imageops::FilterType::Triangle);
        // Detector pixels -> full resolution: the scale of the whole resized page.
        let (sx, sy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        // Only the inked part of the page goes to the detector, at the same scale; (ox, oy) is
        // where that part starts in the resized page.
        let region = if p.det_crop_to_ink { ink_region(&small) } else { None };
        let (ox, oy) = region.map_or((0.0, 0.0), |r| (r.0 as f32, r.1 as f32));
        let small = match region {
            Some((x, y, cw, ch)) => image::imageops::crop_imm(&small, x, y, cw, ch).to_image(),
            None => small,
        };
        let (dw, dh) = small.dimensions();
        // PaddleOCR feeds BGR with ImageNet mean/std listed in that channel order;
        // for grey input all three channels carry the same value.
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let (dwu, dhu) = (dw as usize, dh as usize);
        let mut data = Vec::with_capacity(3 * dhu * dwu);
        for c in 0..3 {
            data.extend(small.as_raw().iter().map(|px| (*px as f32 / 255.0 - MEAN[c]) / STD[c]));
        }
        let input = NdTensor::from_data([1, 3, dhu, dwu], data);
        deadline.check()?;
        let out = self.det.run_one(input.view().into(), None).map_err(|e| OcrError::Model(format!("text detection failed: {e}")))?;
        let prob: NdTensor<f32, 4> = out.try_into().map_err(|e| OcrError::Model(format!("text detection output: {e:?}")))?;
        let prob = prob.slice([0, 0]);
        let mask = prob.map(|v| *v > p.det_threshold);

        let mut rects = Vec::new();
        for poly in find_contours(mask.view(), RetrievalMode::External).iter() {
            if poly.len() < 4 {
                continue;
            }
            let pts: Vec<_> = poly.iter().map(|p| p.to_f32()).collect();
            let simplified = simplify_polygon(&pts, 1.0);
            let Some(rect) = min_area_rect(&simplified) else { continue };
            if rect.width().min(rect.height()) < 2.0 {
                continue;
            }
            if box_score(prob, &rect, poly.iter().map(|p| (p.x, p.y))) < p.box_threshold {
                continue;
            }
            // Unclip: grow by area * ratio / perimeter on every side.
            let (rw, rh) = (rect.width(), rect.height());
            let d = rw * rh * p.unclip_ratio / (2.0 * (rw + rh));
            let grown = RotatedRect::new(rect.center(), rect.up_axis(), rw + 2.0 * d, rh + 2.0 * d);
            // Back to full-resolution coordinates.
            let c = grown.center();
            let up = grown.up_axis();
            let up_scaled = Vec2::from_xy(up.x * sx, up.y * sy);
            let perp = up.perpendicular();
            let perp_scaled = Vec2::from_xy(perp.x * sx, perp.y * sy);
            let full = RotatedRect::new(
                rten_imageproc::PointF::from_yx((c.y + oy) * sy, (c.x + ox) * sx),
                up_scaled,
                grown.width() * perp_scaled.length(),
                grown.height() * up_scaled.length(),
            );
            rects.push(full.orient_towards(Vec2::from_xy(0.0, -1.0)));
        }
        Ok(rects)
    }

    fn looks_upside_down(&self, img: &GrayImage, rects: &[RotatedRect]) -> Result<bool, OcrError> {
        let mut longest: Vec<&RotatedRect> = rects.iter().filter(|r| r.width() > 2.0 * r.height()).collect();
        longest.sort_by(|a, b| b.width().total_cmp(&a.width()));
        longest.truncate(ORIENTATION_SAMPLE_LINES);
        if longest.is_empty() {
            return Ok(false);
        }
        let no_deadline = Deadline { at: Instant::now() + std::time::Duration::from_secs(3600) };
        // A few hundred pixels of a few lines are enough to tell upright from upside down.
        let upright: Vec<LineCrop> =
            longest.iter().map(|r| truncate_crop(crop_line(img, r, self.params.rec_x_scale), ORIENTATION_SAMPLE_WIDTH)).collect();
        let flipped: Vec<LineCrop> = upright.iter().map(flip_crop).collect();
        let (a, _) = self.recognize(&upright, &no_deadline)?;
        let (b, _) = self.recognize(&flipped, &no_deadline)?;
        let mean = |v: &[Recognised]| {
            v.iter().map(|r| r.confidence * r.chars.len().max(1) as f32).sum::<f32>()
                / v.iter().map(|r| r.chars.len().max(1) as f32).sum::<f32>()
        };
        Ok(mean(&b) > mean(&a) + 0.05)
    }

    /// Recognise crops; long ones are cut into pieces at blank gaps (see `cut_points`),
    /// recognised separately and joined again. Results in input order, plus the number
    /// of pieces recognised.
    fn recognize(&self, crops: &[LineCrop], deadline: &Deadline) -> Result<(Vec<Recognised>, usize), OcrError> {
        let mut pieces = Vec::new();
        for (ci, crop) in crops.iter().enumerate() {
            let cuts = cut_points(crop, self.params.piece_min, self.params.piece_max);
            let mut x0 = 0;
            let mut space_before = false;
            for &(cut, at_word_gap) in cuts.cuts.iter().chain(std::iter::once(&(crop.width, false))) {
                pieces.push(Piece { crop: ci, x0, x1: cut, space_before, paper: cuts.paper });
                (x0, space_before) = (cut, at_word_gap);
            }
        }
        let recognised = self.recognize_pieces(crops, &pieces, deadline)?;
        let mut results: Vec<Recognised> = crops.iter().map(|_| Recognised::empty()).collect();
        for (piece, rec) in pieces.iter().zip(recognised) {
            results[piece.crop].append(rec, piece.x0 as f32, piece.space_before);
        }
        Ok((results, pieces.len()))
    }

    /// Recognise pieces of crops in width-sorted batches; results in input order, with
    /// character positions relative to the piece.
    fn recognize_pieces(&self, crops: &[LineCrop], pieces: &[Piece], deadline: &Deadline) -> Result<Vec<Recognised>, OcrError> {
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&i| pieces[i].width(crops));
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            // Grow the batch while the padded area stays within budget.
            let mut end = start + 1;
            while end < order.len() {
                let w = pieces[order[end]].width(crops);
                if w * (end + 1 - start) > self.params.rec_batch_width || end - start >= 16 {
                    break;
                }
                end += 1;
            }
            batches.push(&order[start..end]);
            start = end;
        }
        let mut results: Vec<Option<Recognised>> = (0..pieces.len()).map(|_| None).collect();
        for batch in &batches {
            deadline.check()?;
            for (pi, r) in self.recognize_batch(crops, pieces, batch)? {
                results[pi] = Some(r);
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(Recognised::empty)).collect())
    }

    /// One recognition run over the pieces `batch` (indices into `pieces`), padded to the widest.
    fn recognize_batch(&self, crops: &[LineCrop], pieces: &[Piece], batch: &[usize]) -> Result<Vec<(usize, Recognised)>, OcrError> {
        let bw = batch.iter().map(|&pi| pieces[pi].width(crops)).max().unwrap_or(0).max(16);
        // Padding is 0 after normalisation (mid grey), as in PaddleOCR.
        let plane_len = REC_HEIGHT * bw;
        let mut data = vec![0f32; batch.len() * 3 * plane_len];
        for (bi, &pi) in batch.iter().enumerate() {
            let piece = &pieces[pi];
            let crop = &crops[piece.crop];
            let item = &mut data[bi * 3 * plane_len..(bi + 1) * 3 * plane_len];
            let (first, rest) = item.split_at_mut(plane_len);
            let (left, right) = piece.margins(crop.width);
            let paper = piece.paper as f32 / 127.5 - 1.0;
            for (y, row) in first.chunks_exact_mut(bw).enumerate() {
                let src = &crop.pixels[y * crop.width + piece.x0..y * crop.width + piece.x1];
                row[..left].fill(paper);
                for (d, &px) in row[left..].iter_mut().zip(src) {
                    *d = px as f32 / 127.5 - 1.0;
                }
                row[left + src.len()..left + src.len() + right].fill(paper);
            }
            // Grey input: the three (BGR) channels are the same.
            rest[..plane_len].copy_from_slice(first);
            rest[plane_len..].copy_from_slice(first);
        }
        let input = NdTensor::from_data([batch.len(), 3, REC_HEIGHT, bw], data);
        let out = self.rec.run_one(input.view().into(), None).map_err(|e| OcrError::Model(format!("text recognition failed: {e}")))?;
        let probs: NdTensor<f32, 3> = out.try_into().map_err(|e| OcrError::Model(format!("text recognition output: {e:?}")))?;
        let steps = probs.size(1);
        let step = bw as f32 / steps.max(1) as f32;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(bi, &pi)| {
                let mut r = ctc_greedy(probs.slice([bi]), &self.classes, step);
                // Timesteps past the piece's own width are padding; positions relative to
                // the piece's first column.
                let left = pieces[pi].margins(crops[pieces[pi].crop].width).0 as f32;
                r.chars.retain(|(_, x)| *x <= pieces[pi].width(crops) as f32 + step);
                for c in &mut r.chars {
                    c.1 = (c.1 - left).max(0.0);
                }
                (pi, r)
            })
            .collect())
    }
}

/// Detected boxes of a page read in order: `ordered` flattened matches `crops` and `recognised`.
struct PageReading {
    ordered: Vec<Vec<RotatedRect>>,
    crops: Vec<LineCrop>,
    recognised: Vec<Recognised>,
    pieces: usize,
}

impl PageReading {
    /// Character-weighted mean recognition confidence (1 for a page without text).
    fn mean_confidence(&self) -> f32 {
        let chars: usize = self.recognised.iter().map(|r| r.chars.len()).sum();
        if chars == 0 {
            return 1.0;
        }
        self.recognised.iter().map(|r| r.confidence * r.chars.len() as f32).sum::<f32>() / chars as f32
    }
}

/// Columns `x0..x1` of line crop `crop`, recognised on their own.
struct Piece {
    crop: usize,
    x0: usize,
    x1: usize,
    /// Cut at a word gap: a space separates this piece from the one before.
    space_before: bool,
    /// Grey level of the paper, for the margin added at cut sides.
    paper: u8,
}

impl Piece {
    /// Blank margin before and after the piece's columns: a cut leaves only half a gap
    /// on each side, where a whole line has the detector's margin.
    fn margins(&self, crop_width: usize) -> (usize, usize) {
        let m = |cut: bool| if cut { PIECE_MARGIN } else { 0 };
        (m(self.x0 > 0), m(self.x1 < crop_width))
    }

    /// Columns fed to the recogniser, margins included.
    fn width(&self, crops: &[LineCrop]) -> usize {
        let (l, r) = self.margins(crops[self.crop].width);
        l + self.x1 - self.x0 + r
    }
}

impl Recognised {
    fn empty() -> Self {
        Recognised { text: String::new(), confidence: 0.0, chars: vec![], step: 1.0 }
    }

    /// Append the reading of the next piece of the same crop, which starts at crop column `x0`.
    fn append(&mut self, mut next: Recognised, x0: f32, space_before: bool) {
        // Spaces at the cut are decided by the gap, not by the recogniser.
        while next.chars.first().is_some_and(|c| c.0.trim().is_empty()) {
            next.chars.remove(0);
        }
        while next.chars.last().is_some_and(|c| c.0.trim().is_empty()) {
            next.chars.pop();
        }
        let next_text = next.text.trim();
        if next.chars.is_empty() || next_text.is_empty() {
            return;
        }
        let (n0, n1) = (self.chars.len() as f32, next.chars.len() as f32);
        if !self.chars.is_empty() {
            while self.chars.last().is_some_and(|c| c.0.trim().is_empty()) {
                self.chars.pop();
            }
            self.text.truncate(self.text.trim_end().len());
            if space_before {
                self.text.push(' ');
                self.chars.push((" ".to_string(), x0));
            }
        }
        self.confidence = (self.confidence * n0 + next.confidence * n1) / (n0 + n1);
        self.text.push_str(next_text);
        self.chars.extend(next.chars.into_iter().map(|(c, x)| (c, x + x0)));
        self.step = next.step;
    }
}

/// Blank border kept around the ink for the detector, in detector pixels: its convolutions see
/// paper, not the image edge, beside the outermost text.
const INK_BORDER: u32 = 32;
/// A pixel this far from the paper's grey level (either way: dark print or light print on a
/// dark ground) is ink.
const INK_CONTRAST: u8 = 40;

/// The part of a page worth detecting text in: the bounds of every pixel that differs from the
/// paper (the most common grey level) by more than `INK_CONTRAST`, grown by `INK_BORDER` and out
/// to the 32-pixel grid within the image, as (x, y, width, height). `None` when that would save
/// little (a full page, a photo) or when nothing stands out (a blank page is still detected
/// whole, so faint text is not skipped).
fn ink_region(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let (w, h) = img.dimensions();
    let mut hist = [0u32; 256];
    for px in img.as_raw() {
        hist[*px as usize] += 1;
    }
    let paper = (0..256).max_by_key(|v| hist[*v]).unwrap_or(255) as u8;
    let is_ink = |px: &u8| px.abs_diff(paper) > INK_CONTRAST;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (y, row) in img.as_raw().chunks_exact(w as usize).enumerate() {
        let Some(first) = row.iter().position(is_ink) else { continue };
        let last = row.iter().rposition(is_ink).unwrap_or(first);
        x0 = x0.min(first as u32);
        x1 = x1.max(last as u32 + 1);
        y0 = y0.min(y as u32);
        y1 = y1.max(y as u32 + 1);
    }
    if x0 >= x1 {
        return None;
    }
    // The crop starts on the detector's 32-pixel grid (the network downsamples by 32), so its
    // features line up with those of the whole page; the boxes come out within a few pixels of
    // the whole page's (the border gives the outermost text a little less context).
    let span = |lo: u32, hi: u32, size: u32| -> (u32, u32) {
        let lo = lo.saturating_sub(INK_BORDER) / 32 * 32;
        let hi = (hi + INK_BORDER).min(size);
        let len = ((hi - lo).div_ceil(32).max(1) * 32).min(size);
        (lo.min(size - len), len)
    };
    let (x, cw) = span(x0, x1, w);
    let (y, ch) = span(y0, y1, h);
    if (cw as u64 * ch as u64) * 10 > (w as u64 * h as u64) * 9 {
        return None;
    }
    Some((x, y, cw, ch))
}

/// Mean text probability inside the (rotated) box: skewed lines must not be
/// diluted by the background of their axis-aligned bounds.
fn box_score<I: Iterator<Item = (i32, i32)>>(prob: NdTensorView<f32, 2>, rect: &RotatedRect, pts: I) -> f32 {
    let [h, w] = prob.shape();
    let (mut x0, mut y0, mut x1, mut y1) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    for (x, y) in pts {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (x0, y0) = (x0.max(0) as usize, y0.max(0) as usize);
    let (x1, y1) = ((x1.max(0) as usize).min(w - 1), (y1.max(0) as usize).min(h - 1));
    let mut sum = 0.0;
    let mut n = 0usize;
    // Slightly enlarged so one-pixel-thin boxes still contain their pixel centres.
    let r = rect.expanded(1.0, 1.0);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if r.contains(rten_imageproc::PointF::from_yx(y as f32, x as f32)) {
                sum += prob[[y, x]];
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { sum / n as f32 }
}

/// Boxes of text set on end — a page number printed up the margin, a label along a table's
/// edge: more than twice as tall as wide and taller than two ordinary (wider than tall) boxes.
/// One of them beside a table would join every row it stands next to into one band of the
/// layout (no horizontal gap between them), so they are left out of the layout and read last.
fn standing_boxes(rects: &[RotatedRect]) -> Vec<bool> {
    let mut heights: Vec<f32> = rects.iter().filter(|r| r.width() >= r.height()).map(|r| r.height()).collect();
    if heights.is_empty() {
        return vec![false; rects.len()];
    }
    heights.sort_by(|a, b| a.total_cmp(b));
    let line_h = heights[heights.len() / 2];
    rects.iter().map(|r| r.height() > 2.0 * r.width() && r.height() > 2.0 * line_h).collect()
}

fn is_mostly_vertical(rects: &[RotatedRect]) -> bool {
    // Count only boxes long enough to have a clear direction (a few characters).
    let (mut vertical, mut horizontal) = (0usize, 0usize);
    for r in rects {
        let (w, h) = (r.width(), r.height());
        if h > 2.0 * w {
            vertical += 1;
        } else if w > 2.0 * h {
            horizontal += 1;
        }
    }
    vertical >= 3 && vertical > 2 * horizontal
}

fn rotate_rect_180(r: &RotatedRect, w: f32, h: f32) -> RotatedRect {
    let c = r.center();
    let up = r.up_axis();
    RotatedRect::new(rten_imageproc::PointF::from_yx(h - c.y, w - c.x), Vec2::from_xy(-up.x, -up.y), r.width(), r.height())
        .orient_towards(Vec2::from_xy(0.0, -1.0))
}

/// Map a point of the upright image back to the input image, given the clockwise
/// rotation that was applied to the input.
fn unrotate_point(p: [f32; 2], rotation: u16, uw: f32, uh: f32) -> [f32; 2] {
    let [x, y] = p;
    match rotation {
        // rotate90 (cw): input (x, y) -> (h0 - y, x); upright size (h0, w0)
        90 => [y, uw - x],
        180 => [uw - x, uh - y],
        // 270 = 90 then 180
        270 => {
            let (x2, y2) = (uw - x, uh - y);
            [y2, uw - x2]
        }
        _ => [x, y],
    }
}

/// Unit vector along which the text of an upright-oriented box runs (positive x).
fn text_direction(r: &RotatedRect) -> Vec2 {
    let dir = r.up_axis().perpendicular();
    if dir.x < 0.0 { Vec2::from_xy(-dir.x, -dir.y) } else { dir }
}

/// Sample a text line along its (possibly tilted) rectangle into a 48-pixel-high strip.
fn crop_line(img: &GrayImage, r: &RotatedRect, x_scale: f32) -> LineCrop {
    let up = r.up_axis(); // points "up" (negative y) after orient_towards
    let normal = Vec2::from_xy(-up.x, -up.y); // pointing down the page
    crop_along(img, r.center(), text_direction(r), normal, r.width().max(1.0), r.height().max(1.0), x_scale)
}

/// The two readings of a standing box (text running up or down the page, e.g. a page number
/// printed up the margin): along its long side upwards, glyph tops to the left, and downwards,
/// glyph tops to the right. Which one is text is for the recogniser to say.
fn standing_crops(img: &GrayImage, r: &RotatedRect, x_scale: f32) -> [LineCrop; 2] {
    let up = r.up_axis(); // along the long side for a standing box
    let (length, thickness) = (r.height().max(1.0), r.width().max(1.0));
    // Glyph "down" is the text direction turned a quarter clockwise (image y points down).
    let crop = |dir: Vec2| crop_along(img, r.center(), dir, Vec2::from_xy(-dir.y, dir.x), length, thickness, x_scale);
    [crop(up), crop(Vec2::from_xy(-up.x, -up.y))]
}

/// Sample the strip of `length` × `thickness` image pixels centred on `c`, running along
/// `dir` with glyph bottoms towards `normal`, into a 48-pixel-high crop.
fn crop_along(img: &GrayImage, c: PointF, dir: Vec2, normal: Vec2, length: f32, thickness: f32, x_scale: f32) -> LineCrop {
    let width = ((x_scale * REC_HEIGHT as f32 * length / thickness).round() as usize).clamp(8, MAX_REC_WIDTH);
    let origin =
        Vec2::from_xy(c.x - dir.x * length / 2.0 - normal.x * thickness / 2.0, c.y - dir.y * length / 2.0 - normal.y * thickness / 2.0);
    let (iw, ih) = img.dimensions();
    let raw = img.as_raw();
    let sample = |x: f32, y: f32| -> f32 {
        let x = x.clamp(0.0, iw as f32 - 1.0);
        let y = y.clamp(0.0, ih as f32 - 1.0);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(iw as usize - 1), (y0 + 1).min(ih as usize - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |xx: usize, yy: usize| raw[yy * iw as usize + xx] as f32;
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut pixels = vec![0u8; width * REC_HEIGHT];
    let (sx, sy) = (length / width as f32, thickness / REC_HEIGHT as f32);
    // When shrinking a lot, average a few samples per output pixel to avoid aliasing.
    let taps = ((sx.max(sy)).ceil() as usize).clamp(1, 3);
    for j in 0..REC_HEIGHT {
        for i in 0..width {
            let mut acc = 0.0;
            for ty in 0..taps {
                for tx in 0..taps {
                    let u = (i as f32 + (tx as f32 + 0.5) / taps as f32) * sx;
                    let v = (j as f32 + (ty as f32 + 0.5) / taps as f32) * sy;
                    acc += sample(origin.x + dir.x * u + normal.x * v, origin.y + dir.y * u + normal.y * v);
                }
            }
            pixels[j * width + i] = (acc / (taps * taps) as f32).round().clamp(0.0, 255.0) as u8;
        }
    }
    LineCrop { pixels, width, origin, dir, normal, length, thickness }
}

/// Where to cut a long crop: `(column, at a word gap)` pairs, left to right. Each cut is
/// in the middle of the widest run of blank columns within `piece_min..=piece_max` of the
/// previous cut (or, failing that, the next usable gap further on); none when the crop
/// is short or has no contrast.
fn cut_points(crop: &LineCrop, piece_min: usize, piece_max: usize) -> Cuts {
    let w = crop.width;
    let none = Cuts { cuts: Vec::new(), paper: 255 };
    if w <= piece_max {
        return none;
    }
    // Ink is what is clearly darker than the paper: halfway between the darkest few
    // percent and the typical light pixel.
    let mut hist = [0usize; 256];
    for &p in &crop.pixels {
        hist[p as usize] += 1;
    }
    let percentile = |q: f32| -> i32 {
        let target = (q * crop.pixels.len() as f32) as usize;
        let mut seen = 0;
        for (v, &n) in hist.iter().enumerate() {
            seen += n;
            if seen > target {
                return v as i32;
            }
        }
        255
    };
    let (dark, light) = (percentile(0.02), percentile(0.8));
    if light - dark < 48 {
        return none;
    }
    let ink = ((dark + light) / 2) as u8;
    // Rows near the crop's edges belong to the unclip margin, where neighbouring lines reach in,
    // unless the line's own glyphs fill them (a box drawn tight, the feet of an L): the rows
    // where the line's ink is dense are always looked at.
    let row_ink: Vec<usize> = crop.pixels.chunks_exact(w).map(|row| row.iter().filter(|&&p| p <= ink).count()).collect();
    let dense = row_ink.iter().max().copied().unwrap_or(0).div_ceil(DENSE_ROW_SHARE).max(1);
    let band_top = row_ink.iter().position(|&n| n >= dense).unwrap_or(REC_HEIGHT);
    let band_end = row_ink.iter().rposition(|&n| n >= dense).map_or(0, |r| r + 1);
    let (r0, r1) = ((REC_HEIGHT / 8).min(band_top), (REC_HEIGHT - REC_HEIGHT / 8).max(band_end));
    let mut blank = vec![true; w];
    for row in crop.pixels.chunks_exact(w).take(r1).skip(r0) {
        for (b, &p) in blank.iter_mut().zip(row) {
            *b &= p > ink;
        }
    }
    // Runs of blank columns inside the text, as (start, end).
    let mut runs = Vec::new();
    let mut x = 0;
    while x < w {
        if blank[x] {
            let s = x;
            while x < w && blank[x] {
                x += 1;
            }
            if s > 0 && x < w {
                runs.push((s, x));
            }
        } else {
            x += 1;
        }
    }
    // Most gaps are between letters: a gap well over the typical one is between words.
    let mut widths: Vec<usize> = runs.iter().map(|r| r.1 - r.0).collect();
    widths.sort_unstable();
    let letter_gap = widths.get(widths.len() / 2).copied().unwrap_or(1);
    let word_gap = (2 * letter_gap + 1).max(MIN_CUT_GAP + 1);
    runs.retain(|r| r.1 - r.0 >= MIN_CUT_GAP);

    let mut cuts = Vec::new();
    let mut pos = 0;
    while w - pos > piece_max {
        let (lo, hi) = (pos + piece_min, pos + piece_max);
        // The widest gap reaching into the window: in a window of several words it is a
        // word gap.
        let best = runs.iter().filter(|r| r.1 > lo && r.0 < hi).max_by_key(|r| (r.1 - r.0, r.0));
        let Some(&(s, e)) = best.or_else(|| runs.iter().find(|r| r.0 >= hi)) else { break };
        let cut = (s.max(pos + 1) + e) / 2;
        cuts.push((cut, e - s >= word_gap));
        pos = cut;
    }
    Cuts { cuts, paper: light.clamp(0, 255) as u8 }
}

/// Where to cut a line crop, and the paper's grey level.
struct Cuts {
    /// `(column, at a word gap)`, left to right.
    cuts: Vec<(usize, bool)>,
    paper: u8,
}

/// Keep the middle `max_width` columns of a crop (geometry no longer matters for these).
fn truncate_crop(c: LineCrop, max_width: usize) -> LineCrop {
    if c.width <= max_width {
        return c;
    }
    let start = (c.width - max_width) / 2;
    let mut pixels = Vec::with_capacity(max_width * REC_HEIGHT);
    for row in c.pixels.chunks(c.width) {
        pixels.extend_from_slice(&row[start..start + max_width]);
    }
    LineCrop { pixels, width: max_width, ..c }
}

fn flip_crop(c: &LineCrop) -> LineCrop {
    let mut pixels = c.pixels.clone();
    pixels.reverse();
    LineCrop { pixels, width: c.width, origin: c.origin, dir: c.dir, normal: c.normal, length: c.length, thickness: c.thickness }
}

fn ctc_greedy(probs: NdTensorView<f32, 2>, classes: &[String], step: f32) -> Recognised {
    let [steps, n_classes] = probs.shape();
    // The exported model ends in softmax; guard against logits anyway.
    let mut text = String::new();
    let mut chars = Vec::new();
    let mut conf_sum = 0.0;
    let mut prev = 0usize;
    // Rows are read as plain slices: ~19,000 classes per timestep, on one thread while the
    // inference pool waits, so indexing the view element by element was a visible cost.
    let contiguous = probs.to_contiguous();
    let rows = contiguous.data().chunks_exact(n_classes.max(1));
    for (t, row) in rows.take(steps).enumerate() {
        let best_p = row_max(row);
        let best = row.iter().position(|&v| v == best_p).unwrap_or(0);
        let p = if !(0.0..=1.0).contains(&best_p) {
            let denom: f32 = row.iter().map(|&v| (v - best_p).exp()).sum();
            1.0 / denom
        } else {
            best_p
        };
        if best != 0 && best != prev && best < classes.len() {
            text.push_str(&classes[best]);
            chars.push((classes[best].clone(), (t as f32 + 0.5) * step));
            conf_sum += p;
        }
        prev = best;
    }
    let confidence = if chars.is_empty() { 0.0 } else { conf_sum / chars.len() as f32 };
    Recognised { text, confidence, chars, step }
}

/// The largest value of a row, over 16 running maxima at once (a loop the compiler turns into
/// vector instructions; one running maximum is a chain it cannot).
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; 16];
    let chunks = row.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    lanes.iter().chain(rest).fold(f32::MIN, |m, &v| if v > m { v } else { m })
}

/// Split a recognised line into words with boxes estimated from CTC timestep positions.
fn words_of(crop: &LineCrop, rec: &Recognised) -> Vec<OcrWord> {
    let scale = crop.length / crop.width as f32; // image px per crop px
    let mut words = Vec::new();
    let mut current: Vec<&(String, f32)> = Vec::new();
    let flush = |current: &mut Vec<&(String, f32)>, words: &mut Vec<OcrWord>| {
        if current.is_empty() {
            return;
        }
        let text: String = current.iter().map(|(c, _)| c.as_str()).collect();
        let half = rec.step * 0.6;
        let x0 = (current[0].1 - half).max(0.0) * scale;
        let x1 = (current[current.len() - 1].1 + half).min(crop.width as f32) * scale;
        let at = |u: f32, v: f32| -> [f32; 2] {
            [crop.origin.x + crop.dir.x * u + crop.normal.x * v, crop.origin.y + crop.dir.y * u + crop.normal.y * v]
        };
        // Trim the unclip margin a little so boxes hug the glyphs.
        let (v0, v1) = (crop.thickness * 0.15, crop.thickness * 0.85);
        words.push(OcrWord { text, quad: [at(x0, v0), at(x1, v0), at(x1, v1), at(x0, v1)] });
        current.clear();
    };
    for ch in &rec.chars {
        if ch.0.trim().is_empty() {
            flush(&mut current, &mut words);
        } else {
            current.push(ch);
        }
    }
    flush(&mut current, &mut words);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A height-48 crop of "words": 6-column letters 3 apart, words 14 apart.
    fn synthetic_line(words: usize, letters: usize) -> LineCrop {
        let mut cols: Vec<bool> = vec![false; 10];
        for w in 0..words {
            for l in 0..letters {
                cols.extend([true; 6]);
                if l + 1 < letters {
                    cols.extend([false; 3]);
                }
            }
            if w + 1 < words {
                cols.extend([false; 14]);
            }
        }
        cols.extend([false; 10]);
        let width = cols.len();
        let mut pixels = vec![250u8; width * REC_HEIGHT];
        for y in 12..36 {
            for (x, ink) in cols.iter().enumerate() {
                if *ink {
                    pixels[y * width + x] = 20;
                }
            }
        }
        let v = Vec2::from_xy(1.0, 0.0);
        LineCrop { pixels, width, origin: v, dir: v, normal: Vec2::from_xy(0.0, 1.0), length: width as f32, thickness: 48.0 }
    }

    #[test]
    fn text_set_on_end_beside_a_table_is_left_out_of_the_layout() {
        let rect = |cx: f32, cy: f32, w: f32, h: f32| {
            RotatedRect::new(rten_imageproc::PointF::from_yx(cy, cx), Vec2::from_xy(0.0, -1.0), w, h)
                .orient_towards(Vec2::from_xy(0.0, -1.0))
        };
        // Table rows 30 px tall, one page number standing 120 px tall at the right.
        let mut rects: Vec<RotatedRect> = (0..8)
            .flat_map(|row| [rect(200.0, 50.0 + 40.0 * row as f32, 300.0, 30.0), rect(700.0, 50.0 + 40.0 * row as f32, 80.0, 30.0)])
            .collect();
        rects.push(rect(900.0, 150.0, 30.0, 120.0));
        // A single letter (about as tall as wide) stays in the layout.
        rects.push(rect(100.0, 400.0, 30.0, 32.0));
        let standing = standing_boxes(&rects);
        assert_eq!(standing.iter().filter(|s| **s).count(), 1);
        assert!(standing[16]);
        assert!(standing_boxes(&[]).is_empty());
    }

    #[test]
    fn long_lines_are_cut_at_word_gaps_into_bounded_pieces() {
        let crop = synthetic_line(40, 5);
        let cuts = cut_points(&crop, 320, 800);
        assert!(!cuts.cuts.is_empty());
        assert_eq!(cuts.paper, 250);
        let mut prev = 0;
        for &(x, at_word_gap) in &cuts.cuts {
            assert!(at_word_gap, "cut at {x} is not between words");
            // Blank on both sides of the cut: it is inside a gap.
            assert!((x - 3..x + 3).all(|c| crop.pixels[24 * crop.width + c] == 250), "cut at {x} touches ink");
            assert!(x - prev <= 800 && x - prev >= 320 - 14, "piece {prev}..{x}");
            prev = x;
        }
        assert!(crop.width - prev <= 800);
        // Short lines stay whole.
        assert!(cut_points(&synthetic_line(10, 5), 320, 800).cuts.is_empty());
    }

    #[test]
    fn a_tight_box_is_not_cut_through_the_foot_of_a_letter() {
        // A box drawn tight: glyphs fill rows 2..46. The third letter of every word is an L
        // whose foot (rows 43..46) runs 12 columns on, nearly up to the next letter: between
        // the rows of a normal crop's middle the gap after its stem looks wider than the
        // 14 columns between words.
        let mut cols: Vec<(bool, bool)> = vec![(false, false); 10]; // (stem row ink, foot row ink)
        for w in 0..40 {
            for l in 0..5 {
                if l == 2 {
                    cols.extend([(true, true); 3]);
                    cols.extend([(false, true); 12]);
                } else {
                    cols.extend([(true, true); 6]);
                }
                if l < 4 {
                    cols.extend([(false, false); 3]);
                }
            }
            if w < 39 {
                cols.extend([(false, false); 14]);
            }
        }
        cols.extend([(false, false); 10]);
        let width = cols.len();
        let mut pixels = vec![250u8; width * REC_HEIGHT];
        for y in 2..46 {
            for (x, &(stem, foot)) in cols.iter().enumerate() {
                if (y < 43 && stem) || (y >= 43 && foot) {
                    pixels[y * width + x] = 20;
                }
            }
        }
        let v = Vec2::from_xy(1.0, 0.0);
        let crop = LineCrop { pixels, width, origin: v, dir: v, normal: Vec2::from_xy(0.0, 1.0), length: width as f32, thickness: 48.0 };
        let cuts = cut_points(&crop, 320, 800);
        assert!(!cuts.cuts.is_empty());
        for &(x, at_word_gap) in &cuts.cuts {
            assert!((0..REC_HEIGHT).all(|y| crop.pixels[y * width + x] == 250), "cut at {x} goes through a letter");
            assert!(at_word_gap && !cols[x - 5].0 && !cols[x + 5].0, "cut at {x} is not between words");
        }
    }

    #[test]
    fn row_max_is_the_largest_score_whatever_the_row_length() {
        for len in [1usize, 15, 16, 17, 100, 18_710] {
            let row: Vec<f32> = (0..len).map(|i| ((i * 7919) % 1013) as f32 / -97.0).collect();
            let expected = row.iter().copied().fold(f32::MIN, f32::max);
            assert_eq!(row_max(&row), expected, "length {len}");
            // The highest score in the last, partial chunk is found too.
            let mut tail = row.clone();
            *tail.last_mut().unwrap() = 5.0;
            assert_eq!(row_max(&tail), 5.0, "length {len}");
        }
    }

    #[test]
    fn pieces_join_with_a_space_only_at_word_gaps() {
        let rec = |text: &str, x: f32| Recognised {
            text: text.to_string(),
            confidence: 0.9,
            chars: text.chars().enumerate().map(|(i, c)| (c.to_string(), x + 8.0 * i as f32)).collect(),
            step: 8.0,
        };
        let mut line = Recognised::empty();
        line.append(rec("total ", 0.0), 0.0, false);
        line.append(rec(" due", 4.0), 400.0, true);
        line.append(rec("ing", 0.0), 700.0, false);
        assert_eq!(line.text, "total dueing");
        assert_eq!(line.chars.iter().map(|c| c.0.as_str()).collect::<String>(), "total dueing");
        // Character positions are in the whole crop's columns.
        let d = line.chars.iter().find(|c| c.0 == "d").unwrap();
        assert_eq!(d.1, 412.0);
        assert!((line.confidence - 0.9).abs() < 1e-6);
    }

    #[test]
    fn the_detector_sees_only_the_inked_part_of_the_page() {
        // A 640×960 page with one dark block of text-like ink at (100..300, 200..260).
        let mut page = GrayImage::from_pixel(640, 960, image::Luma([245]));
        for y in 200..260 {
            for x in 100..300 {
                page.put_pixel(x, y, image::Luma([30]));
            }
        }
        let (x, y, w, h) = ink_region(&page).expect("a small block of ink on a large page is cropped");
        assert!(x <= 100 - INK_BORDER && y <= 200 - INK_BORDER, "border kept before the ink: {x},{y}");
        assert!(x + w >= 300 + INK_BORDER && y + h >= 260 + INK_BORDER, "and after it: {w}x{h}");
        assert_eq!((x % 32, y % 32, w % 32, h % 32), (0, 0, 0, 0), "on the detector's 32-pixel grid");
        assert!(x + w <= 640 && y + h <= 960);
        assert!(w * h < 640 * 960 / 4, "{w}x{h} is most of the page");

        // Light print on a dark ground is ink too.
        let mut dark = GrayImage::from_pixel(640, 960, image::Luma([20]));
        for y in 600..640 {
            for x in 400..600 {
                dark.put_pixel(x, y, image::Luma([230]));
            }
        }
        let (x, y, w, h) = ink_region(&dark).expect("white text on black");
        assert!(x <= 400 && y <= 600 && x + w >= 600 && y + h >= 640);

        // A blank page and a page inked edge to edge are detected whole; so is faint noise only.
        assert_eq!(ink_region(&GrayImage::from_pixel(640, 960, image::Luma([250]))), None);
        let mut full = page.clone();
        full.put_pixel(2, 2, image::Luma([0]));
        full.put_pixel(637, 957, image::Luma([0]));
        assert_eq!(ink_region(&full), None);
        let mut faint = GrayImage::from_pixel(640, 960, image::Luma([245]));
        faint.put_pixel(320, 480, image::Luma([245 - INK_CONTRAST]));
        assert_eq!(ink_region(&faint), None);
    }
}
