//! `docmerge bench placement` (#23): path templates at library scale. Fills a fresh database
//! with the `bench library` library (every document has a type, nine in ten a correspondent,
//! all a date), then times what a user's actions cost: giving every document type the template
//! `Finance/{type}/{correspondent}/{created:%Y}` (a bulk edit job per type gives it to each of
//! its documents, with its history entry), the `place_documents` job filing every document (folders made as needed), a renamed
//! correspondent (its documents filed again), and a changed template (every document again).

use std::time::Instant;

use super::corpus::Vocabulary;
use super::library::{VOCABULARY, fill};
use super::{databases_or_sqlite, fresh_store, user_with_token};
use crate::app::AppError;
use crate::cli::PlacementBenchArgs;
use crate::domain::Id;
use crate::domain::bulk::BulkChunk;
use crate::domain::jobs::{JobSpec, kinds};
use crate::domain::metadata::LabelKind;
use crate::domain::path_templates::{CHUNK, TemplateSpec};
use crate::domain::store::BulkStore;

/// Runs the owner's queued placement job as a worker does; returns (documents looked at, moved).
async fn run_job(store: &dyn BulkStore, owner: Id) -> Result<(usize, usize), AppError> {
    let mut jobs = store.claim("bench", &[kinds::PLACE_DOCUMENTS.to_string()], 1, 3_600_000).await?;
    let job = jobs.pop().ok_or_else(|| super::runtime_err("no placement job was queued"))?;
    let lease = job.lease("bench");
    let (mut seen, mut moved) = (0, 0);
    loop {
        let b = store.place_due(owner, CHUNK, &lease).await?.ok_or_else(|| super::runtime_err("lost the lease"))?;
        seen += b.seen;
        moved += b.moved;
        if !b.more || b.seen == 0 {
            break;
        }
    }
    store.complete(&[lease]).await?;
    Ok((seen, moved))
}

pub async fn run(args: PlacementBenchArgs) -> Result<(), AppError> {
    let vocab = Vocabulary::new(VOCABULARY);
    println!(
        "Path templates: {} documents; template Finance/{{type}}/{{correspondent}}/{{created:%Y}}, given through the document types; \
         the place_documents job in chunks of {CHUNK}",
        args.library.docs
    );
    let mut out = Vec::new();
    for db in databases_or_sqlite(args.library.database.clone()) {
        let scratch = fresh_store(&db, "place").await?;
        let store = scratch.store.clone();
        let backend = store.backend().to_string();
        eprintln!("{backend}: filling the library…");
        let (owner, _) = user_with_token(store.as_ref(), "bench").await?;
        fill(store.as_ref(), owner, &args.library, args.seed, &vocab).await?;
        let spec =
            |t: &str| TemplateSpec { name: "Finance".into(), template: t.into(), fallback: "Unknown".into(), filename: None }.validate();
        let template = store.create_path_template(owner, &spec("Finance/{type}/{correspondent}/{created:%Y}")?).await?;

        eprintln!("{backend}: giving the document types the template…");
        let t = Instant::now();
        for ty in store.labels(owner, LabelKind::DocumentType).await? {
            store.set_type_path_template(owner, ty.id, Some(template.id)).await?;
        }
        // The bulk edit jobs that give the types' documents the template, as a worker runs them.
        while let Some(job) = store.claim("bench", &[kinds::BULK_EDIT.to_string()], 1, 3_600_000).await?.pop() {
            let JobSpec::BulkEdit(args) = &job.spec else { return Err(super::runtime_err("not a bulk edit")) };
            let (lease, total) = (job.lease("bench"), args.documents.len());
            for (i, part) in args.documents.chunks(crate::domain::bulk::CHUNK).enumerate() {
                let done_after = ((i + 1) * crate::domain::bulk::CHUNK).min(total) as i64;
                let chunk = BulkChunk {
                    owner_id: owner,
                    documents: part.to_vec(),
                    edit: args.edit.clone(),
                    done_after,
                    total: total as i64,
                    max_attempts: 3,
                };
                store.bulk_edit_chunk(&lease, &chunk).await?;
            }
            store.complete(&[lease]).await?;
        }
        let assign = t.elapsed().as_secs_f64();

        eprintln!("{backend}: filing every document…");
        let t = Instant::now();
        let (first_n, first_moved) = run_job(store.as_ref(), owner).await?;
        let first = t.elapsed().as_secs_f64();
        let folders = store
            .children(
                owner,
                store.root_folders(owner).await?.0.id,
                crate::domain::ChildSort::NameAsc,
                crate::domain::PageReq { page: 1, page_size: 1 },
            )
            .await?
            .total;

        eprintln!("{backend}: renaming a correspondent…");
        let c = store.labels(owner, LabelKind::Correspondent).await?.into_iter().max_by_key(|l| l.document_count).expect("a correspondent");
        let t = Instant::now();
        store.update_label(owner, LabelKind::Correspondent, c.id, Some(&format!("{} (renamed)", c.name)), None, None).await?;
        let (rename_n, _) = run_job(store.as_ref(), owner).await?;
        let rename = t.elapsed().as_secs_f64();

        eprintln!("{backend}: changing the template…");
        let t = Instant::now();
        store.update_path_template(owner, template.id, &spec("Archive/{created:%Y}/{correspondent}")?).await?;
        let (all_n, all_moved) = run_job(store.as_ref(), owner).await?;
        let all = t.elapsed().as_secs_f64();

        out.push(format!(
            "{backend:<9} {:>7} docs | template given: {:>6.0} docs/s ({assign:.1} s) | first filing: {:>6.0} docs/s ({first:.1} s, {first_moved} of {first_n} moved; {folders} top folders) | \
             correspondent renamed: {rename_n} docs in {rename:.2} s | template changed: {:>6.0} docs/s ({all:.1} s, {all_moved} of {all_n} moved)",
            args.library.docs,
            first_n as f64 / assign.max(1e-9),
            first_n as f64 / first.max(1e-9),
            all_n as f64 / all.max(1e-9),
        ));
        scratch.remove().await;
    }
    println!();
    for line in out {
        println!("{line}");
    }
    Ok(())
}
