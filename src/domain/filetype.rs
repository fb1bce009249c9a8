//! File types are decided by their first bytes, never by their name.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

pub fn sniff(head: &[u8]) -> Option<FileType> {
    // A PDF header may follow a little junk (up to 1 KiB is tolerated by readers); we look at
    // the first 64 bytes.
    if head.windows(5).take(60).any(|w| w == b"%PDF-") {
        return Some(FileType::Pdf);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(FileType::Png);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(FileType::Jpeg);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some(FileType::Tiff);
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
