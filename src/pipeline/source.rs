//! File type sniffing and raster image sources (PNG, JPEG, TIFF): sizes from
//! headers before any pixel is decoded, then bounded decoding of one page.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use super::{Limits, PageInfo, PipelineError, SourceKind};

pub use crate::domain::filetype::sniff as sniff_type;

pub(crate) fn read_head(path: &Path, n: usize) -> Result<Vec<u8>, PipelineError> {
    let f = File::open(path).map_err(|e| PipelineError::io("open", path, e))?;
    let mut buf = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut buf).map_err(|e| PipelineError::io("read", path, e))?;
    Ok(buf)
}

pub(crate) fn describe_unknown(head: &[u8]) -> String {
    if head.starts_with(b"PK\x03\x04") {
        "a ZIP archive or office document".into()
    } else if head.starts_with(b"GIF8") {
        "a GIF image".into()
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "a WebP image".into()
    } else if head.iter().take(512).all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace()) {
        "plain text".into()
    } else {
        let hex: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("starts with bytes {}", hex.join(" "))
    }
}

pub(crate) fn check_pixels(width: u64, height: u64, limits: &Limits) -> Result<(), PipelineError> {
    if width == 0 || height == 0 {
        return Err(PipelineError::Damaged(format!("the image claims a size of {width}×{height} pixels")));
    }
    if width.saturating_mul(height) > limits.max_page_pixels {
        return Err(PipelineError::TooManyPixels { width, height, limit: limits.max_page_pixels });
    }
    Ok(())
}

fn image_error(e: image::ImageError) -> PipelineError {
    match e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            PipelineError::Damaged("the image data ends early".into())
        }
        image::ImageError::Limits(l) => PipelineError::Damaged(format!("the image needs too much memory to decode ({l})")),
        image::ImageError::Unsupported(u) => PipelineError::UnsupportedType(format!("image variant not supported: {u}")),
        other => PipelineError::Damaged(other.to_string()),
    }
}

fn decoder_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    // 4 bytes per pixel (RGBA8) plus slack for the decoder's own buffers.
    l.max_alloc = Some(limits.max_page_pixels.saturating_mul(4).saturating_add(64 << 20));
    l
}

/// Page sizes of a raster file, from headers only.
pub(crate) fn inspect_image(path: &Path, kind: SourceKind, limits: &Limits) -> Result<Vec<PageInfo>, PipelineError> {
    let page = |w: u32, h: u32| PageInfo { width: w as f32, height: h as f32, has_text_layer: false };
    match kind {
        SourceKind::Tiff => {
            let f = File::open(path).map_err(|e| PipelineError::io("open", path, e))?;
            let mut dec = tiff::decoder::Decoder::new(BufReader::new(f))
                .map_err(|e| PipelineError::Damaged(format!("the TIFF header cannot be read ({e})")))?;
            let mut pages = Vec::new();
            loop {
                let (w, h) = dec.dimensions().map_err(|e| PipelineError::Damaged(format!("TIFF page {} ({e})", pages.len() + 1)))?;
                check_pixels(w as u64, h as u64, limits)?;
                pages.push(page(w, h));
                if pages.len() as u64 > limits.max_pages as u64 {
                    // Count no further: the limit is exceeded whatever the total is.
                    return Err(PipelineError::TooManyPages { pages: pages.len() as u64, limit: limits.max_pages });
                }
                if !dec.more_images() {
                    break;
                }
                dec.next_image().map_err(|e| PipelineError::Damaged(format!("TIFF page {} ({e})", pages.len() + 1)))?;
            }
            Ok(pages)
        }
        SourceKind::Png | SourceKind::Jpeg => {
            let reader = ImageReader::open(path)
                .map_err(|e| PipelineError::io("open", path, e))?
                .with_guessed_format()
                .map_err(|e| PipelineError::io("read", path, e))?;
            let mut decoder = reader.into_decoder().map_err(image_error)?;
            let (w, h) = decoder.dimensions();
            check_pixels(w as u64, h as u64, limits)?;
            // EXIF orientation 5..8 swaps the displayed width and height.
            let swapped = matches!(
                decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms),
                image::metadata::Orientation::Rotate90
                    | image::metadata::Orientation::Rotate270
                    | image::metadata::Orientation::Rotate90FlipH
                    | image::metadata::Orientation::Rotate270FlipH
            );
            Ok(vec![if swapped { page(h, w) } else { page(w, h) }])
        }
        SourceKind::Pdf => unreachable!("PDFs are inspected by pdfium"),
    }
}

/// Decode one page of a raster file, upright (EXIF orientation applied).
pub(crate) fn decode_image_page(path: &Path, kind: SourceKind, index: u32, limits: &Limits) -> Result<DynamicImage, PipelineError> {
    match kind {
        SourceKind::Tiff if index > 0 => decode_tiff_page(path, index, limits),
        _ => {
            let mut reader = ImageReader::open(path)
                .map_err(|e| PipelineError::io("open", path, e))?
                .with_guessed_format()
                .map_err(|e| PipelineError::io("read", path, e))?;
            reader.limits(decoder_limits(limits));
            let mut decoder = reader.into_decoder().map_err(image_error)?;
            let (w, h) = decoder.dimensions();
            check_pixels(w as u64, h as u64, limits)?;
            let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
            let mut img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
            img.apply_orientation(orientation);
            Ok(img)
        }
    }
}

fn decode_tiff_page(path: &Path, index: u32, limits: &Limits) -> Result<DynamicImage, PipelineError> {
    use tiff::decoder::DecodingResult;
    let f = File::open(path).map_err(|e| PipelineError::io("open", path, e))?;
    let mut dec = tiff::decoder::Decoder::new(BufReader::new(f))
        .map_err(|e| PipelineError::Damaged(format!("the TIFF header cannot be read ({e})")))?;
    dec.seek_to_image(index as usize).map_err(|e| PipelineError::Damaged(format!("TIFF page {} cannot be found ({e})", index + 1)))?;
    let (w, h) = dec.dimensions().map_err(|e| PipelineError::Damaged(format!("TIFF page {} ({e})", index + 1)))?;
    check_pixels(w as u64, h as u64, limits)?;
    let color = dec.colortype().map_err(|e| PipelineError::Damaged(format!("TIFF page {} ({e})", index + 1)))?;
    let data = dec.read_image().map_err(|e| PipelineError::Damaged(format!("TIFF page {} cannot be decoded ({e})", index + 1)))?;
    let unsupported = || PipelineError::UnsupportedType(format!("TIFF page {} uses colour type {color:?}", index + 1));
    let img = match (color, data) {
        (tiff::ColorType::Gray(8), DecodingResult::U8(v)) => image::GrayImage::from_raw(w, h, v).map(DynamicImage::ImageLuma8),
        (tiff::ColorType::Gray(16), DecodingResult::U16(v)) => image::ImageBuffer::from_raw(w, h, v).map(DynamicImage::ImageLuma16),
        (tiff::ColorType::RGB(8), DecodingResult::U8(v)) => image::RgbImage::from_raw(w, h, v).map(DynamicImage::ImageRgb8),
        (tiff::ColorType::RGBA(8), DecodingResult::U8(v)) => image::RgbaImage::from_raw(w, h, v).map(DynamicImage::ImageRgba8),
        (tiff::ColorType::Gray(1), DecodingResult::U8(v)) => {
            // Packed bilevel rows: expand to 8-bit grey (0 = black, as PhotometricInterpretation BlackIsZero).
            let row_bytes = (w as usize).div_ceil(8);
            let mut out = vec![0u8; w as usize * h as usize];
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let byte = v.get(y * row_bytes + x / 8).copied().unwrap_or(0);
                    out[y * w as usize + x] = if byte & (0x80 >> (x % 8)) != 0 { 255 } else { 0 };
                }
            }
            image::GrayImage::from_raw(w, h, out).map(DynamicImage::ImageLuma8)
        }
        _ => return Err(unsupported()),
    };
    img.ok_or_else(|| PipelineError::Damaged(format!("TIFF page {} has less pixel data than its size", index + 1)))
}
