//! What the recogniser reads: lines of words with their places (the OCR's output, which
//! later steps such as quote curling refine).

/// One recognised word, in the coordinates of the upright image.
#[derive(Debug, Clone)]
pub(crate) struct OcrWord {
    pub text: String,
    /// Corners of the word: top-left, top-right, bottom-right, bottom-left.
    pub quad: [[f32; 2]; 4],
}

#[derive(Debug, Clone)]
pub(crate) struct OcrLine {
    pub text: String,
    pub words: Vec<OcrWord>,
    pub confidence: f32,
}
