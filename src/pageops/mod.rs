//! Page operations as a use case: rotate, delete, reorder, move (to another document or a new
//! one), extract, merge, restore an older version.
//!
//! Every operation: (1) reads the documents and checks the request against them, (2) builds
//! each changed document's new PDF by copying pages out of the current versions' searchable
//! PDFs with pdfium (no rendering, no OCR: the pages keep their content streams and their
//! invisible text layer), (3) hands the store ONE edit that it checks against the versions the
//! client saw and writes in one transaction. Page text and boxes are copied (boxes of turned
//! pages are turned with the page); only thumbnails of turned pages are redone, by a job.
//!
//! The new version's file: the assembled PDF is both its "original" and its searchable PDF. It
//! is what the document now is (downloading the original of version 3 gives the pages of
//! version 3), it is already searchable because it is made of searchable pages, and the files
//! of every earlier version stay untouched (content-addressed), so any version downloads
//! byte-identical and can be restored.

mod jobs;

use std::path::PathBuf;

use crate::app::AppContext;
use crate::domain::pages::{
    DocEdit, NewDocument, NewPage, PageEdit, PageEditOutcome, VersionFile, check_degrees, check_editable, check_order, select_pages,
};
use crate::domain::{DocState, Document, DomainError, DomainResult, Id, Page, PageRecord};
use crate::pipeline::PdfPiece;

pub use jobs::register_jobs;

/// Where moved pages go.
#[derive(Clone, Debug)]
pub enum MoveTarget {
    /// Into another document, before page `position` (1-based; None: at the end).
    Document { id: Id, base_version: Id, position: Option<i32> },
    /// Into a new document in `folder_id` (None: the source's folder).
    NewDocument { folder_id: Option<Id>, title: Option<String> },
}

#[derive(Clone, Debug)]
pub enum Operation {
    Rotate {
        pages: Vec<i32>,
        degrees: i32,
    },
    Delete {
        pages: Vec<i32>,
    },
    Reorder {
        order: Vec<i32>,
    },
    Move {
        pages: Vec<i32>,
        to: MoveTarget,
    },
    /// A copy of the pages as a new document; the source keeps them.
    Extract {
        pages: Vec<i32>,
        folder_id: Option<Id>,
        title: Option<String>,
    },
}

/// A document as an operation reads it: its current version, pages and PDF.
struct Source {
    doc: Document,
    pages: Vec<Page>,
    pdf: PathBuf,
}

/// One page of a document being built: page `index` (0-based) of source `src`, turned by `rotate`.
#[derive(Clone, Copy, Debug)]
struct Item {
    src: usize,
    index: usize,
    rotate: u16,
}

async fn load(ctx: &AppContext, owner: Id, id: Id, base_version: Id) -> DomainResult<Source> {
    let doc = ctx.store.document(owner, id).await?;
    check_editable(id, base_version, Some(doc.version.id), doc.trashed_at.is_some(), doc.state.as_str())?;
    let sha = doc
        .version
        .searchable_sha256
        .clone()
        .ok_or_else(|| DomainError::Conflict(format!("document {id} has no searchable PDF yet; try again once it is ready")))?;
    let pdf = ctx.blobs.path(&sha);
    if !pdf.is_file() {
        return Err(DomainError::Storage(format!("the searchable PDF {sha} of document {id} is missing")));
    }
    let pages = ctx.store.pages(owner, id, None).await?;
    if pages.len() as i32 != doc.version.page_count {
        return Err(DomainError::Conflict(format!("document {id} is still being processed")));
    }
    Ok(Source { doc, pages, pdf })
}

fn stem(filename: &str) -> &str {
    filename.rsplit_once('.').map(|(s, _)| s).filter(|s| !s.is_empty()).unwrap_or(filename)
}

/// The stored page, copied to position `number` of a new version and turned by `rotate`.
fn copy_page(p: &Page, number: i32, rotate: u16) -> NewPage {
    let (mut width, mut height, mut layout) = (p.width, p.height, p.layout.clone());
    if !rotate.is_multiple_of(360) {
        if rotate % 180 == 90 {
            std::mem::swap(&mut width, &mut height);
        }
        layout = crate::pipeline::rotate_page_text(&layout, rotate);
    }
    NewPage {
        record: PageRecord {
            number,
            width,
            height,
            layout,
            thumbnail_sha256: p.thumbnail_sha256.clone(),
            preview_sha256: p.preview_sha256.clone(),
        },
        from_version: p.version_id,
        from_number: p.number,
        rotated: rotate % 360,
    }
}

/// Builds the PDF of each layout (one blocking task, the shared engine) and the page rows.
async fn build(ctx: &AppContext, sources: &[Source], layouts: Vec<(Vec<Item>, String)>) -> DomainResult<Vec<(VersionFile, Vec<NewPage>)>> {
    let engine = crate::pipeline::engine(&ctx.settings).map_err(DomainError::Storage)?;
    let paths: Vec<PathBuf> = sources.iter().map(|s| s.pdf.clone()).collect();
    let blobs = ctx.blobs.clone();
    let pieces: Vec<Vec<PdfPiece>> = layouts
        .iter()
        .map(|(items, _)| items.iter().map(|i| PdfPiece { source: i.src, index: i.index as u32, rotate: i.rotate }).collect())
        .collect();
    let files = tokio::task::spawn_blocking(move || -> DomainResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for p in &pieces {
            let tmp = blobs.temp_path(".pdf");
            if let Err(e) = engine.assemble_pdf(&paths, p, &tmp) {
                let _ = std::fs::remove_file(&tmp);
                return Err(DomainError::Storage(format!("assembling the new PDF failed: {e}")));
            }
            let size = std::fs::metadata(&tmp).map(|m| m.len() as i64).map_err(|e| DomainError::Storage(e.to_string()))?;
            out.push((blobs.put_file(&tmp)?, size));
        }
        Ok(out)
    })
    .await
    .map_err(|e| DomainError::Storage(format!("assembling the new PDF crashed: {e}")))??;
    Ok(layouts
        .into_iter()
        .zip(files)
        .map(|((items, filename), (sha, size))| {
            let pages =
                items.iter().enumerate().map(|(n, it)| copy_page(&sources[it.src].pages[it.index], n as i32 + 1, it.rotate)).collect();
            let file = VersionFile { filename, mime: "application/pdf".into(), size, sha256: sha.clone(), searchable_sha256: Some(sha) };
            (file, pages)
        })
        .collect())
}

fn whole(src: usize, n: usize) -> Vec<Item> {
    (0..n).map(|index| Item { src, index, rotate: 0 }).collect()
}

fn describe(numbers: &[i32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort();
    let list: Vec<String> = sorted.iter().map(i32::to_string).collect();
    if list.len() == 1 { format!("page {}", list[0]) } else { format!("pages {}", list.join(", ")) }
}

fn new_title(source: &Document, numbers: &[i32], given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let t = format!("{} ({})", source.title, describe(numbers));
        t.chars().take(crate::domain::MAX_TITLE_CHARS).collect()
    })
}

/// Applies one operation to document `id`, which the client saw at `base_version` (a version id).
// One match arm per operation, each a few lines of page arithmetic: read whole, the arms show
// side by side how every operation maps onto the same PageEdit (longer than 120 lines for that).
pub async fn apply(ctx: &AppContext, owner: Id, id: Id, base_version: Id, op: Operation) -> DomainResult<PageEditOutcome> {
    let src = load(ctx, owner, id, base_version).await?;
    let n = src.pages.len();
    let filename = format!("{}.pdf", stem(&src.doc.version.filename));
    let mut edit = PageEdit {
        owner,
        operation: "",
        edits: Vec::new(),
        create: None,
        trash: Vec::new(),
        unchanged: Vec::new(),
        max_attempts: ctx.settings.worker.max_attempts,
    };
    let mut sources = vec![src];
    let doc_edit = |file: VersionFile, pages: Vec<NewPage>, note: String| DocEdit {
        document_id: id,
        base_version_id: base_version,
        file,
        note,
        pages,
    };
    match op {
        Operation::Rotate { pages, degrees } => {
            let deg = check_degrees(degrees)?;
            let sel = select_pages(id, &pages, n)?;
            let mut items = whole(0, n);
            for i in sel {
                items[i].rotate = deg;
            }
            let mut built = build(ctx, &sources, vec![(items, filename)]).await?;
            let (file, new_pages) = built.remove(0);
            edit.operation = "rotate";
            edit.edits.push(doc_edit(file, new_pages, format!("rotated {} by {deg}°", describe(&pages))));
        }
        Operation::Delete { pages } => {
            let sel = select_pages(id, &pages, n)?;
            if sel.len() == n {
                return Err(DomainError::Invalid("a document cannot lose all its pages; move the document to the trash instead".into()));
            }
            let items: Vec<Item> = whole(0, n).into_iter().filter(|it| !sel.contains(&it.index)).collect();
            let (file, new_pages) = build(ctx, &sources, vec![(items, filename)]).await?.remove(0);
            edit.operation = "delete";
            edit.edits.push(doc_edit(file, new_pages, format!("deleted {}", describe(&pages))));
        }
        Operation::Reorder { order } => {
            let sel = check_order(id, &order, n)?;
            let items: Vec<Item> = sel.into_iter().map(|index| Item { src: 0, index, rotate: 0 }).collect();
            let (file, new_pages) = build(ctx, &sources, vec![(items, filename)]).await?.remove(0);
            edit.operation = "reorder";
            edit.edits.push(doc_edit(file, new_pages, "pages reordered".into()));
        }
        Operation::Move { pages, to } => {
            let sel = select_pages(id, &pages, n)?;
            if sel.len() == n {
                return Err(DomainError::Invalid(
                    "cannot move every page out of a document: it would be left empty; merge the whole document instead".into(),
                ));
            }
            let remaining: Vec<Item> = whole(0, n).into_iter().filter(|it| !sel.contains(&it.index)).collect();
            let moved: Vec<Item> = sel.iter().map(|&index| Item { src: 0, index, rotate: 0 }).collect();
            edit.operation = "move";
            match to {
                MoveTarget::Document { id: target, base_version: target_base, position } => {
                    if target == id {
                        return Err(DomainError::Invalid("pages are moved within a document with reorder, not move".into()));
                    }
                    let t = load(ctx, owner, target, target_base).await?;
                    let tn = t.pages.len();
                    let pos = position.unwrap_or(tn as i32 + 1);
                    if pos < 1 || pos as usize > tn + 1 {
                        return Err(DomainError::Invalid(format!(
                            "position {pos} is outside document {target}: use 1 to {} (before which page of the target the pages go)",
                            tn + 1
                        )));
                    }
                    let target_filename = format!("{}.pdf", stem(&t.doc.version.filename));
                    sources.push(t);
                    let mut items = whole(1, tn);
                    items.splice(pos as usize - 1..pos as usize - 1, moved);
                    let mut built = build(ctx, &sources, vec![(remaining, filename), (items, target_filename)]).await?;
                    let (tfile, tpages) = built.remove(1);
                    let (file, new_pages) = built.remove(0);
                    edit.edits.push(doc_edit(file, new_pages, format!("moved {} to document {target}", describe(&pages))));
                    edit.edits.push(DocEdit {
                        document_id: target,
                        base_version_id: target_base,
                        file: tfile,
                        note: format!("received {} of document {id}", describe(&pages)),
                        pages: tpages,
                    });
                }
                MoveTarget::NewDocument { folder_id, title } => {
                    let folder_id = folder_id.unwrap_or(sources[0].doc.folder_id);
                    let title = new_title(&sources[0].doc, &pages, title);
                    let mut built = build(ctx, &sources, vec![(remaining, filename.clone()), (moved, filename)]).await?;
                    let (nfile, npages) = built.remove(1);
                    let (file, new_pages) = built.remove(0);
                    edit.edits.push(doc_edit(file, new_pages, format!("moved {} to a new document", describe(&pages))));
                    edit.create = Some(NewDocument {
                        folder_id,
                        title,
                        tags_from: Some(id),
                        file: nfile,
                        note: format!("moved here from {} of document {id}", describe(&pages)),
                        pages: npages,
                    });
                }
            }
        }
        Operation::Extract { pages, folder_id, title } => {
            select_pages(id, &pages, n)?;
            let items: Vec<Item> = pages.iter().map(|&p| Item { src: 0, index: p as usize - 1, rotate: 0 }).collect();
            let folder_id = folder_id.unwrap_or(sources[0].doc.folder_id);
            let title = new_title(&sources[0].doc, &pages, title);
            let (file, npages) = build(ctx, &sources, vec![(items, filename)]).await?.remove(0);
            edit.operation = "extract";
            edit.unchanged.push((id, base_version));
            edit.create = Some(NewDocument {
                folder_id,
                title,
                tags_from: Some(id),
                file,
                note: format!("extracted from {} of document {id}", describe(&pages)),
                pages: npages,
            });
        }
    }
    ctx.store.apply_page_edit(edit).await
}

/// Merges whole documents, in the given order, into the first one (a new version of it); the
/// others go to the trash (restorable, with their own versions intact).
pub async fn merge(ctx: &AppContext, owner: Id, documents: &[(Id, Id)]) -> DomainResult<PageEditOutcome> {
    if documents.len() < 2 {
        return Err(DomainError::Invalid("merge needs at least two documents".into()));
    }
    for (i, (d, _)) in documents.iter().enumerate() {
        if documents[..i].iter().any(|(e, _)| e == d) {
            return Err(DomainError::Invalid(format!("document {d} is listed twice")));
        }
    }
    let mut sources = Vec::with_capacity(documents.len());
    for &(d, base) in documents {
        sources.push(load(ctx, owner, d, base).await?);
    }
    let items: Vec<Item> = sources.iter().enumerate().flat_map(|(s, src)| whole(s, src.pages.len())).collect();
    let filename = format!("{}.pdf", stem(&sources[0].doc.version.filename));
    let (file, pages) = build(ctx, &sources, vec![(items, filename)]).await?.remove(0);
    let others: Vec<String> = documents[1..].iter().map(|(d, _)| d.to_string()).collect();
    let (target, base) = documents[0];
    let edit = PageEdit {
        owner,
        operation: "merge",
        edits: vec![DocEdit {
            document_id: target,
            base_version_id: base,
            file,
            note: format!("merged with document {}", others.join(", ")),
            pages,
        }],
        create: None,
        trash: documents[1..].to_vec(),
        unchanged: Vec::new(),
        max_attempts: ctx.settings.worker.max_attempts,
    };
    ctx.store.apply_page_edit(edit).await
}

/// Makes an older version the newest: a new version with its file and its pages (text, boxes,
/// images) exactly as they were.
pub async fn restore_version(ctx: &AppContext, owner: Id, id: Id, base_version: Id, version_id: Id) -> DomainResult<PageEditOutcome> {
    let current = load(ctx, owner, id, base_version).await?;
    let old = ctx.store.version(owner, id, Some(version_id)).await?;
    if old.id == current.doc.version.id {
        return Err(DomainError::Invalid(format!("version {version_id} is already the current version")));
    }
    if old.state != DocState::Ready {
        return Err(DomainError::Conflict(format!("version {version_id} is {} and cannot be restored", old.state.as_str())));
    }
    let pages = ctx.store.pages(owner, id, Some(version_id)).await?;
    if pages.is_empty() {
        return Err(DomainError::Conflict(format!("version {version_id} has no pages to restore")));
    }
    let new_pages = pages.iter().map(|p| copy_page(p, p.number, 0)).collect();
    let file = VersionFile {
        filename: old.filename.clone(),
        mime: old.mime.clone(),
        size: old.size,
        sha256: old.sha256.clone(),
        searchable_sha256: old.searchable_sha256.clone(),
    };
    let edit = PageEdit {
        owner,
        operation: "restore_version",
        edits: vec![DocEdit {
            document_id: id,
            base_version_id: base_version,
            file,
            note: format!("restored from version {}", old.number),
            pages: new_pages,
        }],
        create: None,
        trash: Vec::new(),
        unchanged: Vec::new(),
        max_attempts: ctx.settings.worker.max_attempts,
    };
    ctx.store.apply_page_edit(edit).await
}
