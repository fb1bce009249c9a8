//! Errors of the document pipeline. Every Display is one plain sentence a user
//! can act on; `is_permanent` tells the job runner whether a retry can help.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("unsupported file type ({0}); upload a PDF, PNG, JPEG or TIFF file")]
    UnsupportedType(String),

    #[error("the file is empty")]
    Empty,

    #[error("the file is truncated or damaged: {0}")]
    Damaged(String),

    #[error("password-protected PDF; remove the password and upload it again")]
    Encrypted,

    #[error("document has {pages} pages, over the limit of {limit}")]
    TooManyPages { pages: u64, limit: u32 },

    #[error("image is {width}×{height} pixels, over the limit of {limit} pixels")]
    TooManyPixels { width: u64, height: u64, limit: u64 },

    #[error("page {page} took longer than {} s", .limit.as_secs())]
    PageTimeout { page: u32, limit: Duration },

    #[error("page {page} does not exist (the document has {pages} pages)")]
    NoSuchPage { page: u32, pages: u32 },

    /// A runtime file (pdfium, OCR models) is missing or unusable: operator action needed.
    #[error("{0}")]
    RuntimeMissing(String),

    /// Reading or writing a file failed (disk full, permissions, NFS hiccup).
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// An unexpected failure inside pdfium or the OCR runtime.
    #[error("internal processing error: {0}")]
    Internal(String),
}

impl PipelineError {
    /// True when the input itself is bad: retrying the same file cannot succeed.
    /// False for transient or operator-fixable conditions (I/O, missing runtime files,
    /// timeouts on a busy machine, internal errors).
    pub fn is_permanent(&self) -> bool {
        match self {
            PipelineError::UnsupportedType(_)
            | PipelineError::Empty
            | PipelineError::Damaged(_)
            | PipelineError::Encrypted
            | PipelineError::TooManyPages { .. }
            | PipelineError::TooManyPixels { .. }
            | PipelineError::NoSuchPage { .. } => true,
            PipelineError::PageTimeout { .. }
            | PipelineError::RuntimeMissing(_)
            | PipelineError::Io { .. }
            | PipelineError::Internal(_) => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        PipelineError::Io { action, path: path.display().to_string(), source }
    }
}
