//! File types are decided by their first bytes, never by their name.

/// How many first bytes [`sniff`] looks at: PDF readers accept the `%PDF-` header anywhere in
/// the first 1024 bytes, so the upload check and the pipeline both read that many.
pub const SNIFF_BYTES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Pdf,
    Png,
    Jpeg,
    Tiff,
}

impl FileType {
    pub fn mime(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Tiff => "image/tiff",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            FileType::Pdf => "a PDF",
            FileType::Png => "a PNG image",
            FileType::Jpeg => "a JPEG image",
            FileType::Tiff => "a TIFF image",
        }
    }
    /// File name extensions that belong to this type.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileType::Pdf => &["pdf"],
            FileType::Png => &["png"],
            FileType::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            FileType::Tiff => &["tif", "tiff"],
        }
    }
    pub fn from_extension(ext: &str) -> Option<FileType> {
        let ext = ext.to_ascii_lowercase();
        [FileType::Pdf, FileType::Png, FileType::Jpeg, FileType::Tiff].into_iter().find(|t| t.extensions().contains(&ext.as_str()))
    }
}

/// The one file-type sniffer (the upload check and the pipeline alike): the image signatures at
/// the start, else a PDF header within the first [`SNIFF_BYTES`]. Never the file name.
pub fn sniff(head: &[u8]) -> Option<FileType> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(FileType::Png);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(FileType::Jpeg);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some(FileType::Tiff);
    }
    if head[..head.len().min(SNIFF_BYTES)].windows(5).any(|w| w == b"%PDF-") {
        return Some(FileType::Pdf);
    }
    None
}

/// A safe display name: the last path component, no control characters, at most 255 chars.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    // A name of dots before its extension ("....pdf") keeps the extension: "upload.pdf".
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && !ext.contains(' ') => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let stem = stem.trim_start_matches('.').trim();
    let stem = if stem.is_empty() { "upload" } else { stem };
    let name = match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_string(),
    };
    name.chars().take(255).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_and_cleans_names() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(FileType::Pdf));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(FileType::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(FileType::Jpeg));
        assert_eq!(sniff(b"II*\0abc"), Some(FileType::Tiff));
        assert_eq!(sniff(b"hello"), None);
        // A PDF header behind junk, as PDF readers accept it: within the first 1024 bytes (the
        // upload check used to look at 64, the pipeline at 1024).
        let mut junk = vec![b' '; 900];
        junk.extend_from_slice(b"%PDF-1.4\n");
        assert_eq!(sniff(&junk), Some(FileType::Pdf));
        let mut far = vec![b' '; SNIFF_BYTES];
        far.extend_from_slice(b"%PDF-1.4\n");
        assert_eq!(sniff(&far), None);
        // Signatures at the start win over a "%PDF-" later in the bytes.
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n%PDF-1.4"), Some(FileType::Png));
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\x\\..\\scan.pdf"), "scan.pdf");
        assert_eq!(clean_filename("....pdf"), "upload.pdf");
        assert_eq!(clean_filename(".hidden.pdf"), "hidden.pdf");
        assert_eq!(clean_filename("a.b.pdf"), "a.b.pdf");
        assert_eq!(clean_filename("..."), "upload");
        assert_eq!(clean_filename("..."), "upload");
        assert_eq!(clean_filename("a\u{0}b.pdf"), "ab.pdf");
    }
}
