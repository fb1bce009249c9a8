//! `docmerge bench contention`: can one kind of request starve the rest? Fills the same library
//! as `bench library`, starts `docmerge serve` as a child process, and measures a client listing
//! documents (one connection, random pages) first alone, then while `--searchers` connections
//! send worst-case searches (32 one-letter prefixes, 31 common words with a tag filter, a
//! 60-word phrase, common words with as many exclusions) as fast as they are answered. The
//! lister's p99 is the figure: searches are bounded by their time limit and take turns
//! (`limits.max_concurrent_searches`), so the rest of the API keeps its connections and cores.

use std::time::Duration;

use super::corpus::Vocabulary;
use super::library::{VOCABULARY, fill, start_serve};
use super::load::{LoadResult, Requests, wrk};
use super::{databases_or_sqlite, fresh_store, user_with_token};
use crate::app::AppError;
use crate::cli::ContentionArgs;

const PAGE_SIZE: u64 = 50;

/// The costliest searches the query language allows (each within its limits: 32 terms, 64 words).
fn worst_case_queries(vocab: &Vocabulary, tag: &str) -> Vec<String> {
    let common: Vec<&str> = (0..64).map(|r| vocab.word(r)).collect();
    let letters: String = "abcdefghijklmnopqrstuvwxyz012345".chars().map(|c| format!("{c}* ")).collect();
    let words_and_tag = format!("{} tag:\"{tag}\"", common[..31].join(" "));
    let phrase = format!("\"{}\"", common[..60].join(" "));
    let exclusions = format!("{} {}", common[..16].join(" "), common[16..32].iter().map(|w| format!("-{w}")).collect::<Vec<_>>().join(" "));
    vec![letters.trim().to_string(), words_and_tag, phrase, exclusions]
}

pub async fn run(args: ContentionArgs) -> Result<(), AppError> {
    let vocab = Vocabulary::new(VOCABULARY);
    println!(
        "Contention: {} documents (~{} pages); `docmerge serve` as a child process (server.workers = 2, defaults otherwise); \
         a lister (wrk -c1, GET /api/v1/documents?page=random) for {} s alone, then for {} s beside {} connections of worst-case searches",
        args.library.docs, args.library.pages, args.seconds, args.seconds, args.searchers
    );
    let mut rows: Vec<(String, String, LoadResult)> = Vec::new();
    let mut failures = Vec::new();
    for db in databases_or_sqlite(args.library.database.clone()) {
        let scratch = fresh_store(&db, "contention").await?;
        let store = scratch.store.clone();
        let backend = store.backend().to_string();
        eprintln!("{backend}: filling the library…");
        let (owner, token) = user_with_token(store.as_ref(), "bench").await?;
        fill(store.as_ref(), owner, &args.library, 7, &vocab).await?;
        let tag = store.tags(owner).await?.into_iter().next().map(|t| t.name).unwrap_or_default();

        let (serve, addr) = start_serve(&scratch).await?;
        let base = format!("http://{addr}");
        let lister_dir = scratch.dir.path().join("lister");
        let search_dir = scratch.dir.path().join("searchers");
        for d in [&lister_dir, &search_dir] {
            std::fs::create_dir_all(d).map_err(super::runtime_err)?;
        }
        let lister = Requests::Paged {
            prefix: format!("/api/v1/documents?page_size={PAGE_SIZE}&page="),
            pages: (args.library.docs as u64).div_ceil(PAGE_SIZE).max(1),
        };
        let searches = Requests::Pick(
            worst_case_queries(&vocab, &tag).iter().map(|q| format!("/api/v1/search?q={}", urlencoding::encode(q))).collect(),
        );
        // Warm-up of both kinds, unmeasured.
        tokio::task::block_in_place(|| wrk(&base, &token, &lister, args.seconds.min(3), 1, &lister_dir))?;
        tokio::task::block_in_place(|| wrk(&base, &token, &searches, args.seconds.min(3), 2, &search_dir))?;

        let alone = tokio::task::block_in_place(|| wrk(&base, &token, &lister, args.seconds, 1, &lister_dir))?;
        eprintln!("  {backend} lister alone: {alone:?}");
        let (with_search, search) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let searchers = s.spawn(|| wrk(&base, &token, &searches, args.seconds + 2, args.searchers, &search_dir));
                std::thread::sleep(Duration::from_secs(1));
                let listed = wrk(&base, &token, &lister, args.seconds, 1, &lister_dir);
                (listed, searchers.join().unwrap_or_else(|_| Err(AppError::Runtime("the search load panicked".into()))))
            })
        });
        let (with_search, search) = (with_search?, search?);
        eprintln!("  {backend} lister beside searches: {with_search:?}; searches: {search:?}");
        if with_search.errors > 0 || alone.errors > 0 {
            failures.push(format!("{backend}: the lister got {} errors", with_search.errors + alone.errors));
        }
        rows.push((backend.clone(), "c1  list documents, alone".into(), alone));
        rows.push((backend.clone(), format!("c1  list documents, beside {} searchers", args.searchers), with_search));
        rows.push((backend.clone(), format!("c{:<3} worst-case searches (non-2xx: time limit / busy)", args.searchers), search));
        drop(serve);
        drop(store);
        scratch.remove().await;
    }
    println!();
    println!("{:<10} {:<58} {:>9} {:>9} {:>9} {:>9}", "backend", "connections, request", "req/s", "p50 ms", "p99 ms", "non-2xx");
    for (backend, name, r) in &rows {
        println!("{:<10} {:<58} {:>9.1} {:>9.2} {:>9.2} {:>9}", backend, name, r.per_sec, r.p50_ms, r.p99_ms, r.errors);
    }
    if !failures.is_empty() {
        return Err(AppError::Runtime(failures.join("; ")));
    }
    Ok(())
}
