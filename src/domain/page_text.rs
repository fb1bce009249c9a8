//! A page's recognised text with its layout: the one owning type from the pipeline (text layer
//! or OCR) through the store (the `pages.lines_json` column) to the searchable-PDF writer and
//! the page operations that turn it. Nothing passes it around as an opaque JSON string.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    /// x0, y0, x1, y1 normalised 0..1 of the displayed page, origin top-left.
    pub bbox: [f32; 4],
    /// Clockwise degrees (0/90/180/270) this word must be turned to read upright, when it
    /// differs from its page's `rotation` (text running up or down a margin). Absent: the page's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub text: String,
    /// x0, y0, x1, y1 normalised 0..1 of the displayed page, origin top-left.
    pub bbox: [f32; 4],
    /// Word boxes (OCR pages only; estimated from the recogniser's character positions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    TextLayer,
    Ocr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageText {
    pub text: String,
    pub lines: Vec<Line>,
    pub source: TextSource,
    /// Same units as `PageInfo`.
    pub width: f32,
    pub height: f32,
    /// OCR pages: clockwise degrees (0/90/180/270) the page image had to be turned
    /// for its text to read upright. Tells the PDF writer which way words run.
    #[serde(default)]
    pub rotation: u16,
}

impl TextSource {
    /// The `pages.source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TextSource::TextLayer => "text_layer",
            TextSource::Ocr => "ocr",
        }
    }
    pub fn parse(s: &str) -> TextSource {
        if s == "ocr" { TextSource::Ocr } else { TextSource::TextLayer }
    }
}

impl PageText {
    /// A stored page's layout. A row whose layout does not parse (written by a bulk load, or
    /// damaged) still has its text: it comes back as that text without line boxes.
    pub fn from_stored(layout_json: &str, text: &str, source: &str, width: f64, height: f64) -> PageText {
        serde_json::from_str(layout_json).unwrap_or_else(|_| PageText {
            text: text.to_string(),
            lines: Vec::new(),
            source: TextSource::parse(source),
            width: width as f32,
            height: height as f32,
            rotation: 0,
        })
    }

    /// The `pages.lines_json` column.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_and_read_back_whole_or_as_text_without_boxes() {
        let t = PageText {
            text: "Invoice 42".into(),
            lines: vec![Line { text: "Invoice 42".into(), bbox: [0.1, 0.1, 0.5, 0.2], words: Vec::new() }],
            source: TextSource::Ocr,
            width: 595.0,
            height: 842.0,
            rotation: 90,
        };
        assert_eq!(PageText::from_stored(&t.to_stored(), "ignored", "text_layer", 1.0, 1.0), t);
        let bare = PageText::from_stored("[]", "some text", "ocr", 100.0, 200.0);
        assert_eq!((bare.text.as_str(), bare.lines.len(), bare.source, bare.width), ("some text", 0, TextSource::Ocr, 100.0));
    }
}
