//! `docmerge bench library`: REST API speed at scale. Fills a fresh database with a synthetic
//! library through `Store::bulk_load_for_bench`, starts `docmerge serve` as a child process,
//! and loads it with `wrk` from another process.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::corpus::{PHRASES, Vocabulary};
use super::load::{LoadResult, Requests, wrk};
use super::{Role, Scratch, databases_or_sqlite, free_port, fresh_store, user_with_token, wait_until_up};
use crate::app::AppError;
use crate::cli::{LibraryArgs, LibrarySize};
use crate::domain::store::BulkStore;
use crate::domain::{Id, SyntheticDoc};

pub(super) const VOCABULARY: usize = 20_000;
const LOAD_BATCH: usize = 1_000;
const PAGE_SIZE: u64 = 50;
/// Share of the documents in the one big folder (the rest are spread over all others).
const BIG_FOLDER_SHARE: f64 = 0.2;

pub(super) struct Library {
    big_folder: Id,
    big_folder_items: u64,
    pages_written: u64,
    fill_secs: f64,
    /// Correspondents and document types (#22): every document has one of each (a tenth has no
    /// correspondent), a date, and three in five an amount in the monetary field "Amount".
    correspondents: Vec<Id>,
    types: Vec<(Id, String)>,
    /// The documents of the first type (a tenth of the library): what the bulk edit changes.
    first_type_docs: Vec<Id>,
}

/// Correspondents and document types of the synthetic library.
const CORRESPONDENTS: usize = 50;
const TYPES: usize = 10;

pub(super) async fn fill(store: &dyn BulkStore, owner: Id, args: &LibrarySize, seed: u64, vocab: &Vocabulary) -> Result<Library, AppError> {
    let started = Instant::now();
    let (home, _inbox) = store.root_folders(owner).await?;
    // A two-level tree: 20 top-level folders with 9 subfolders each (for the default 200).
    let top_count = (args.folders / 10).max(1);
    let mut folders = Vec::with_capacity(args.folders);
    let mut top = Vec::new();
    for i in 0..top_count {
        let f = store.create_folder(owner, home.id, &format!("{} {i:02}", vocab.title(&mut StdRng::seed_from_u64(i as u64)))).await?;
        top.push(f.id);
        folders.push(f.id);
    }
    let mut i = 0;
    while folders.len() < args.folders {
        let parent = top[i % top.len()];
        let f = store.create_folder(owner, parent, &format!("Subfolder {i:03}")).await?;
        folders.push(f.id);
        i += 1;
    }
    let big_folder = top[0];
    let big_subfolders = (args.folders.saturating_sub(top_count)).div_ceil(top_count) as u64;
    let mut tags = Vec::new();
    for t in 0..30 {
        tags.push(store.create_tag(owner, &format!("{} {t}", vocab.word(40 + t * 7)), "#6b7280").await?.id);
    }

    let mut correspondents = Vec::with_capacity(CORRESPONDENTS);
    for c in 0..CORRESPONDENTS {
        let name = format!("{} {c}", vocab.word(100 + c * 3));
        correspondents.push(store.create_label(owner, crate::domain::metadata::LabelKind::Correspondent, &name, None, &[]).await?.id);
    }
    let mut types = Vec::with_capacity(TYPES);
    for t in 0..TYPES {
        let name = format!("Type {t}");
        types.push((store.create_label(owner, crate::domain::metadata::LabelKind::DocumentType, &name, None, &[]).await?.id, name));
    }
    let amount_field = store.create_field(owner, "Amount", crate::domain::metadata::FieldKind::Monetary, Some("EUR"), &[]).await?.id;
    let mut first_type_docs = Vec::new();

    let mut rng = StdRng::seed_from_u64(seed);
    let avg_pages = (args.pages as f64 / args.docs.max(1) as f64).max(1.0);
    let max_pages = ((avg_pages * 2.0).round() as usize).max(1) - if avg_pages > 1.0 { 1 } else { 0 };
    let now = crate::domain::now_millis();
    let five_years: i64 = 5 * 365 * 24 * 3600 * 1000;
    let (mut written, mut pages_written, mut in_big) = (0usize, 0u64, 0u64);
    let mut next_report = args.docs / 10;
    while written < args.docs {
        let n = LOAD_BATCH.min(args.docs - written);
        let mut batch = Vec::with_capacity(n);
        for k in 0..n {
            let folder_id = if rng.gen_bool(BIG_FOLDER_SHARE) { big_folder } else { folders[rng.gen_range(0..folders.len())] };
            if folder_id == big_folder {
                in_big += 1;
            }
            let page_count = rng.gen_range(1..=max_pages);
            let pages: Vec<String> = (0..page_count).map(|_| vocab.page(&mut rng)).collect();
            pages_written += page_count as u64;
            let tag_ids = (0..rng.gen_range(0..=3)).map(|_| tags[rng.gen_range(0..tags.len())]).collect();
            let size: i64 = pages.iter().map(|p| p.len() as i64).sum::<i64>() + 20_000;
            let created_at = now - rng.gen_range(0..five_years);
            // Written up to a month before it was added.
            let date = chrono::DateTime::from_timestamp_millis(created_at - rng.gen_range(0..30) * 86_400_000)
                .map(|d| d.date_naive().format("%Y-%m-%d").to_string());
            let meta = crate::domain::SyntheticMeta {
                correspondent_id: (!rng.gen_bool(0.1)).then(|| correspondents[rng.gen_range(0..correspondents.len())]),
                document_type_id: Some(types[rng.gen_range(0..types.len())].0),
                date,
                amount: rng.gen_bool(0.6).then(|| (amount_field, (rng.gen_range(100..100_000) as f64) / 100.0)),
            };
            batch.push(SyntheticDoc {
                folder_id,
                title: vocab.title(&mut rng),
                filename: format!("scan-{}.pdf", written + k),
                sha256: format!("{:064x}", (written + k) as u128 * 0x9e37_79b9_7f4a_7c15),
                size,
                created_at,
                tag_ids,
                pages,
                meta,
            });
        }
        let first_type: Vec<bool> = batch.iter().map(|d| d.meta.document_type_id == Some(types[0].0)).collect();
        let ids = store.bulk_load_for_bench(owner, batch).await?;
        first_type_docs.extend(ids.into_iter().zip(first_type).filter(|(_, f)| *f).map(|(id, _)| id));
        written += n;
        if written >= next_report {
            eprintln!("  filled {written} of {} documents ({pages_written} pages) in {:.0} s", args.docs, started.elapsed().as_secs_f64());
            next_report += (args.docs / 10).max(1);
        }
    }
    store.analyze_after_bulk_load().await?;
    Ok(Library {
        big_folder,
        big_folder_items: in_big + big_subfolders,
        pages_written,
        fill_secs: started.elapsed().as_secs_f64(),
        correspondents,
        types,
        first_type_docs,
    })
}

/// A one-page PDF (about 600 bytes), as a scanner app might send.
fn small_pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        {
            let text = "BT /F1 18 Tf 72 760 Td (Invoice 2024-117: benchmark upload) Tj ET";
            format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len())
        },
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    super::pages::pdf_from_objects(&objects)
}

fn multipart(boundary: &str, file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"invoice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn search_paths(queries: &[String]) -> Vec<String> {
    queries.iter().map(|q| format!("/api/v1/search?q={}", urlencoding::encode(q))).collect()
}

/// `docmerge serve` as a child process on the scratch library (server.workers = 2, defaults
/// otherwise), up and ready; returns it and its address.
pub(super) async fn start_serve(scratch: &Scratch) -> Result<(Role, String), AppError> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let log = scratch.dir.path().join("serve.log");
    let env = [
        ("DOCMERGE__DATABASE__URL", scratch.url.clone()),
        ("DOCMERGE__STORAGE__ROOT", scratch.dir.path().join("data").display().to_string()),
        ("DOCMERGE__SERVER__BIND", addr.clone()),
        ("DOCMERGE__SERVER__WORKERS", "2".to_string()),
    ];
    let mut serve = Role::spawn("serve", &env, log.clone())?;
    wait_until_up(&mut serve, &addr, "/readyz", &log).await?;
    Ok((serve, addr))
}

pub async fn run(args: LibraryArgs) -> Result<(), AppError> {
    let vocab = Vocabulary::new(VOCABULARY);
    println!(
        "REST API at scale: {} documents (~{} pages, 150–400 words each), {} folders, 30 tags; `docmerge serve` as a child process \
         (server.workers = 2); wrk -t2 -c{:?} for {} s per row from a second process",
        args.library.docs, args.library.pages, args.library.folders, args.connections, args.seconds
    );
    let mut rows: Vec<(String, String, LoadResult)> = Vec::new();
    let mut notes = Vec::new();
    for db in databases_or_sqlite(args.library.database.clone()) {
        let scratch = fresh_store(&db, "lib").await?;
        let store = scratch.store.clone();
        let backend = store.backend().to_string();
        eprintln!("{backend}: filling the library…");
        let (owner, token) = user_with_token(store.as_ref(), "bench").await?;
        let lib = fill(store.as_ref(), owner, &args.library, args.seed, &vocab).await?;

        let (serve, addr) = start_serve(&scratch).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_start = serve.rss_kib()?;

        let base = format!("http://{addr}");
        let work = scratch.dir.path();
        let secs = args.seconds;
        let children_pages = lib.big_folder_items.div_ceil(PAGE_SIZE).max(1);
        let doc_pages = (args.library.docs as u64).div_ceil(PAGE_SIZE).max(1);
        let common: Vec<String> = (25..35).map(|r| vocab.word(r).to_string()).collect();
        let rare: Vec<String> = (3000..3010).map(|r| vocab.word(r).to_string()).collect();
        let phrases: Vec<String> = PHRASES.iter().map(|p| format!("\"{p}\"")).collect();
        // The start of a word, as people type it (`linn` for "LinnSequencer"): the exact word finds
        // nothing, so the search looks again for words that begin with it (domain::search).
        let starts = |ranks: std::ops::Range<usize>| -> Vec<String> {
            ranks
                .map(|r| vocab.word(r))
                .filter(|w| w.chars().count() >= 7)
                .map(|w| w.chars().take(4).collect::<String>())
                .filter(|start| vocab.rank(start).is_none())
                .take(10)
                .collect()
        };
        let (common_starts, rare_starts) = (starts(20..400), starts(3000..3400));
        let boundary = "dmbench7MA4YWxkTrZu0gW";
        // Metadata (#22): correspondent + type + a year of dates; a custom field query; both.
        let mut pick = StdRng::seed_from_u64(args.seed + 7);
        let filtered: Vec<String> = (0..40)
            .map(|_| {
                let c = lib.correspondents[pick.gen_range(0..lib.correspondents.len())];
                let t = lib.types[pick.gen_range(0..lib.types.len())].0;
                let y = pick.gen_range(2022..=2026);
                format!("/api/v1/documents?correspondent={c}&document_type={t}&date_from={y}-01-01&date_to={y}-12-31&page_size={PAGE_SIZE}")
            })
            .collect();
        let amounts: Vec<String> = [100, 150, 200, 300, 500, 750, 900].iter().map(|n| format!("amount>{n}")).collect();
        let combined: Vec<String> = (0..20)
            .map(|i| format!("type:\"{}\" amount>{} created:{}", lib.types[i % lib.types.len()].1, 100 + 40 * i, 2022 + i % 5))
            .collect();
        let lists = Requests::Paged { prefix: format!("/api/v1/documents?page_size={PAGE_SIZE}&page="), pages: doc_pages };
        let runs = vec![
            ("metadata: documents ?correspondent&document_type&date range".to_string(), Requests::Pick(filtered)),
            ("metadata: search amount>N (custom field, ~50% of docs)".to_string(), Requests::Pick(search_paths(&amounts))),
            ("metadata: search type:T amount>N created:YYYY".to_string(), Requests::Pick(search_paths(&combined))),
            (
                format!("folder children ({} items, random page)", lib.big_folder_items),
                Requests::Paged {
                    prefix: format!("/api/v1/folders/{}/children?page_size={PAGE_SIZE}&page=", lib.big_folder),
                    pages: children_pages,
                },
            ),
            (
                format!("documents ?sort=title ({} docs, random page)", args.library.docs),
                Requests::Paged { prefix: format!("/api/v1/documents?sort=title&page_size={PAGE_SIZE}&page="), pages: doc_pages },
            ),
            (format!("search common word ({}…)", common[0]), Requests::Pick(search_paths(&common))),
            (format!("search rare word ({}…)", rare[0]), Requests::Pick(search_paths(&rare))),
            (format!("search phrase ({}…)", phrases[0]), Requests::Pick(search_paths(&phrases))),
            (format!("search start of a common word ({}…)", common_starts[0]), Requests::Pick(search_paths(&common_starts))),
            (format!("search start of a rare word ({}…)", rare_starts[0]), Requests::Pick(search_paths(&rare_starts))),
        ];
        let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| name.contains(o.as_str()));
        let runs: Vec<(String, Requests)> = runs.into_iter().filter(|(name, _)| wanted(name)).collect();
        // Unmeasured warm-up (as long as one measurement, at most 5 s) of every request kind:
        // the rows then show the steady state, not the first reads of a just-filled database
        // into its cache, nor PostgreSQL seek points being built for the first time.
        for (_, requests) in &runs {
            tokio::task::block_in_place(|| wrk(&base, &token, requests, secs.min(5), 4, work))?;
        }
        for &conns in &args.connections {
            for (name, requests) in &runs {
                let r = tokio::task::block_in_place(|| wrk(&base, &token, requests, secs, conns, work))?;
                eprintln!("  {backend} c{conns} {name}: {r:?}");
                rows.push((backend.clone(), format!("c{conns:<3} {name}"), r));
            }
        }
        let upload = Requests::Post {
            path: "/api/v1/documents".into(),
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body: multipart(boundary, &small_pdf()),
        };
        let upload_conns = args.connections.iter().copied().max().unwrap_or(4).min(8);
        if wanted("upload") {
            let r = tokio::task::block_in_place(|| wrk(&base, &token, &upload, secs, upload_conns, work))?;
            rows.push((backend.clone(), format!("c{upload_conns:<3} upload 1-page PDF (docs/s = req/s)"), r));
        }
        // Bulk edit (#22) of the first type's documents by a `docmerge worker`, while the API
        // is loaded; the same load alone just before, for comparison.
        if wanted("metadata: bulk edit") {
            let (bulk, bulk_notes) = bulk_edit_under_load(&scratch, store.as_ref(), owner, &lib, &base, &token, work, &lists).await?;
            rows.extend(bulk.into_iter().map(|(n, r)| (backend.clone(), n, r)));
            notes.extend(bulk_notes.into_iter().map(|n| format!("{backend}: {n}")));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = serve.rss_kib()?;
        notes.push(format!(
            "{backend}: filled {} documents / {} pages in {:.0} s; serve RSS idle after start {:.1} MB, idle after the load {:.1} MB",
            args.library.docs,
            lib.pages_written,
            lib.fill_secs,
            rss_start as f64 / 1024.0,
            rss_after as f64 / 1024.0
        ));
        drop(serve);
        drop(store);
        if args.keep {
            scratch.keep();
        } else {
            scratch.remove().await;
        }
    }
    println!();
    println!("{:<10} {:<62} {:>9} {:>9} {:>9} {:>8}", "backend", "connections, request", "req/s", "p50 ms", "p99 ms", "errors");
    for (backend, name, r) in &rows {
        println!("{:<10} {:<62} {:>9.0} {:>9.2} {:>9.2} {:>8}", backend, name, r.per_sec, r.p50_ms, r.p99_ms, r.errors);
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    if let Some((b, n, r)) = rows.iter().find(|(_, _, r)| r.errors > 0) {
        return Err(AppError::Runtime(format!("{b} {n}: {} of {} requests failed", r.errors, r.requests)));
    }
    Ok(())
}

/// Bulk-tags the first type's documents (about a tenth of the library) as one `bulk_edit` job
/// run by a `docmerge worker` child process, and measures the list API in 1-second windows
/// while it runs (and once before, alone). Returns rows and a note with the job's time.
#[allow(clippy::too_many_arguments)]
async fn bulk_edit_under_load(
    scratch: &Scratch,
    store: &dyn BulkStore,
    owner: Id,
    lib: &Library,
    base: &str,
    token: &str,
    work: &std::path::Path,
    lists: &Requests,
) -> Result<(Vec<(String, LoadResult)>, Vec<String>), AppError> {
    use crate::domain::bulk::{BulkArgs, BulkEdit};
    use crate::domain::jobs::{JobSpec, JobState, NewJob};
    const CONNS: u32 = 4;
    let mut rows = Vec::new();
    let alone = tokio::task::block_in_place(|| wrk(base, token, lists, 5, CONNS, work))?;
    rows.push((format!("c{CONNS:<3} metadata: bulk edit — documents page alone, before"), alone));
    let log = scratch.dir.path().join("worker.log");
    let env = [
        ("DOCMERGE__DATABASE__URL", scratch.url.clone()),
        ("DOCMERGE__STORAGE__ROOT", scratch.dir.path().join("data").display().to_string()),
    ];
    let worker = Role::spawn("worker", &env, log)?;
    let tag = store.create_tag(owner, "bulk-benchmark", "#aa0000").await?.id;
    let docs = lib.first_type_docs.clone();
    let n = docs.len();
    let mut job = NewJob::new(JobSpec::BulkEdit(BulkArgs {
        owner_id: owner,
        documents: docs,
        edit: BulkEdit { add_tags: vec![tag], ..BulkEdit::default() },
    }))
    .priority(crate::domain::bulk::PRIORITY)
    .timeout_secs(3600);
    job.owner_id = Some(owner);
    let started = Instant::now();
    let enqueued_at = crate::domain::now_millis();
    let id = store.enqueue(vec![job]).await?.pop().flatten().ok_or_else(|| AppError::Runtime("the bulk job was not queued".into()))?;
    let mut windows: Vec<LoadResult> = Vec::new();
    let secs = loop {
        let j = store.job(id).await?;
        match j.state {
            // From queued to done, as the job row says (the load windows poll coarsely).
            JobState::Done => break (j.updated_at - enqueued_at).max(1) as f64 / 1000.0,
            JobState::Failed => return Err(AppError::Runtime(format!("the bulk job failed: {:?}", j.last_error))),
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(AppError::Runtime("the bulk job did not finish in 30 minutes".into()));
        }
        windows.push(tokio::task::block_in_place(|| wrk(base, token, lists, 1, CONNS, work))?);
    };
    drop(worker);
    let tagged = store
        .list_documents(
            owner,
            &crate::domain::DocumentFilter { tag_id: Some(tag), ..Default::default() },
            crate::domain::PageReq { page: 1, page_size: 1 },
        )
        .await?
        .total;
    if tagged as usize != n {
        return Err(AppError::Runtime(format!("the bulk edit tagged {tagged} of {n} documents")));
    }
    if let Some(worst) = windows.iter().max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms)) {
        let mut p50s: Vec<f64> = windows.iter().map(|w| w.p50_ms).collect();
        p50s.sort_by(f64::total_cmp);
        let requests = windows.iter().map(|w| w.requests).sum();
        let errors = windows.iter().map(|w| w.errors).sum();
        let per_sec = windows.iter().map(|w| w.per_sec).sum::<f64>() / windows.len() as f64;
        rows.push((
            format!("c{CONNS:<3} metadata: bulk edit — documents page during it (worst 1 s p99)"),
            LoadResult { p50_ms: super::percentile(&p50s, 50.0), p99_ms: worst.p99_ms, requests, per_sec, errors },
        ));
    }
    let note = format!(
        "bulk edit (add a tag) of {n} documents as one job: {secs:.1} s ({:.0} documents/s), {} load windows",
        n as f64 / secs,
        windows.len()
    );
    Ok((rows, vec![note]))
}
