//! `docmerge bench pages`: page operations on long documents — rotate one page of a document
//! and move pages between two documents — timed from the call to the committed new versions
//! (PDF assembly with pdfium, page rows, search index, events). Born-digital text pages, so the
//! figures do not depend on OCR; the documents go through the real pipeline first.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{databases_or_sqlite, fresh_store, percentile, runtime_err};
use crate::app::{AppContext, AppError};
use crate::cli::PagesBenchArgs;
use crate::config::Settings;
use crate::domain::{DocState, Id, NewUpload};
use crate::pageops::{MoveTarget, Operation};

/// A born-digital PDF: one text page (US Letter, Helvetica at `font_size`, no images) per
/// entry, one text line per line of the entry, written directly. Also the test fixtures' PDF.
pub fn text_pdf<S: AsRef<str>>(pages: &[S], font_size: u32) -> Vec<u8> {
    let n = pages.len();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let leading = font_size as usize * 4 / 3;
    for (i, text) in pages.iter().enumerate() {
        let content: Vec<String> = text
            .as_ref()
            .lines()
            .enumerate()
            .map(|(l, t)| format!("BT /F1 {font_size} Tf 72 {} Td ({t}) Tj ET", 720 - (leading * l) as i64))
            .collect();
        let content = content.join("\n");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
            5 + 2 * i
        ));
        objects.push(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()));
    }
    pdf_from_objects(&objects)
}

/// Serialises numbered PDF objects (1-based, object 1 the catalog) with their xref table.
pub(crate) fn pdf_from_objects(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

fn page_texts(doc: usize, pages: usize) -> Vec<String> {
    (1..=pages)
        .map(|p| {
            (0..12)
                .map(|l| {
                    format!("Document {doc} page {p} line {l}: invoice total amount due reference number {}", doc * 100_000 + p * 100 + l)
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// Uploads `docs` documents of `pages` pages each and runs the real pipeline until all are ready.
async fn ingest(ctx: &AppContext, owner: Id, docs: usize, pages: usize) -> Result<Vec<Id>, AppError> {
    let inbox = ctx.store.root_folders(owner).await?.1.id;
    let mut ids = Vec::new();
    for d in 0..docs {
        let sha = ctx.blobs.put_bytes(&text_pdf(&page_texts(d, pages), 12))?;
        let size = std::fs::metadata(ctx.blobs.path(&sha)).map_err(runtime_err)?.len() as i64;
        let up = NewUpload {
            owner_id: owner,
            folder_id: inbox,
            title: format!("bench document {d}"),
            filename: format!("bench-{d}.pdf"),
            mime: "application/pdf".into(),
            size,
            sha256: sha,
            tag_names: Vec::new(),
            reject_duplicates: false,
            max_attempts: 3,
            source: None,
        };
        ids.push(ctx.store.create_upload(up).await?.document.id);
    }
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(crate::roles::worker::run_embedded(ctx.clone(), shutdown.clone()));
    let started = Instant::now();
    loop {
        let mut ready = 0;
        for &id in &ids {
            let d = ctx.store.document(owner, id).await?;
            match d.state {
                DocState::Ready => ready += 1,
                DocState::Failed => return Err(AppError::Runtime(format!("document {id} failed: {}", d.error.unwrap_or_default()))),
                _ => {}
            }
        }
        if ready == ids.len() {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err(AppError::Runtime("the documents were not processed within an hour".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("  processed {docs} × {pages} pages in {:.1} s", started.elapsed().as_secs_f64());
    // Stop the worker: the measured operations run alone (their thumbnail jobs wait).
    shutdown.cancel();
    let _ = worker.await;
    Ok(ids)
}

async fn timed(ctx: &AppContext, owner: Id, id: Id, op: Operation) -> Result<f64, AppError> {
    let base = ctx.store.document(owner, id).await?.version.id;
    let started = Instant::now();
    crate::pageops::apply(ctx, owner, id, base, op).await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn row(backend: &str, what: &str, pages: usize, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{:<10} {:<34} {:>6} {:>5} {:>9.1} {:>9.1} {:>9.1}",
        backend,
        what,
        pages,
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

pub async fn run(settings: Settings, args: PagesBenchArgs) -> Result<(), AppError> {
    if args.pages < args.moved + 1 {
        return Err(AppError::Config(format!("--pages must be larger than --moved ({})", args.moved)));
    }
    println!(
        "page operations on born-digital documents of {} pages: time from the call to the committed new version(s), {} runs each",
        args.pages, args.runs
    );
    println!("{:<10} {:<34} {:>6} {:>5} {:>9} {:>9} {:>9}", "backend", "operation", "pages", "runs", "p50 ms", "p90 ms", "max ms");
    for db in databases_or_sqlite(args.database.clone()) {
        let scratch = fresh_store(&db, "pages").await?;
        let mut s = settings.clone();
        s.database.url = scratch.url.clone();
        s.storage.root = scratch.dir.path().join("data");
        let ctx = AppContext::build(s, false).await?;
        let owner = ctx.store.create_user("bench-pages", "bench-no-login", false).await?.id;
        let ids = ingest(&ctx, owner, 2, args.pages).await?;
        let (a, b) = (ids[0], ids[1]);
        let backend = ctx.store.backend();
        let mut rotate = Vec::new();
        for r in 0..args.runs {
            let page = (r * 37 % args.pages) as i32 + 1;
            rotate.push(timed(&ctx, owner, a, Operation::Rotate { pages: vec![page], degrees: 90 }).await?);
        }
        row(backend, "rotate 1 page", args.pages, rotate);
        let mut moves = Vec::new();
        for r in 0..args.runs {
            // Back and forth, so both documents stay about the same length.
            let (from, to) = if r % 2 == 0 { (a, b) } else { (b, a) };
            let to_base = ctx.store.document(owner, to).await?.version.id;
            let n = ctx.store.document(owner, from).await?.version.page_count;
            let pages: Vec<i32> = (0..args.moved as i32).map(|i| (i * 7 + r as i32) % n + 1).collect();
            let target = MoveTarget::Document { id: to, base_version: to_base, position: Some(2) };
            moves.push(timed(&ctx, owner, from, Operation::Move { pages, to: target }).await?);
        }
        row(backend, &format!("move {} pages to another document", args.moved), args.pages, moves);
        let (da, db_) = (ctx.store.document(owner, a).await?, ctx.store.document(owner, b).await?);
        if da.version.page_count + db_.version.page_count != 2 * args.pages as i32 {
            return Err(AppError::Runtime("pages were lost or duplicated by the moves".into()));
        }
        drop(ctx);
        scratch.remove().await;
    }
    Ok(())
}
