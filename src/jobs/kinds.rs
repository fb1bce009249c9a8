//! The job kinds, by name (the `kind` column).

/// Inspect an uploaded version, then fan out one `process_page` job per page.
pub const PROCESS_VERSION: &str = "process_version";
/// Text layer or OCR, thumbnails, for one page.
pub const PROCESS_PAGE: &str = "process_page";
/// Searchable PDF, search index, `ready` — once every page is done.
pub const FINISH_VERSION: &str = "finish_version";
/// Periodic housekeeping: old events and finished jobs.
pub const PRUNE: &str = "prune";
/// Does nothing: the queue benchmark's job.
pub const NOOP: &str = "noop";
/// Appends `job id` to the file named in the payload — only registered when
/// `DOCMERGE_ENABLE_TEST_JOBS=1` (the exactly-once and crash-recovery tests count these lines).
pub const TEST_APPEND: &str = "test.append";
/// Re-creates the derived files (searchable PDF, thumbnails) of an imported, ready version
/// from its original and its stored text — queued by `docmerge import`.
pub const REBUILD_DERIVED: &str = "rebuild_derived";
/// Turns the thumbnail and preview of pages rotated by a page operation (the page's text and
/// PDF content are not touched: the operation already turned those).
pub const ROTATE_PAGE_IMAGES: &str = "rotate_page_images";
/// A scheduled backup (`backup.schedule`): export, verify, rotate — see archive::backup.
pub const BACKUP: &str = "backup";
