//! `docmerge bench matching` (#23): the matching rules' cost per document at library scale.
//! Fills a fresh database with the `bench library` library, gives the owner N rules (a mix of
//! every algorithm over the library's vocabulary, on new tags, the library's correspondents and
//! types, and folders), then runs what the `match_documents` job runs over every document:
//! load the text, match every rule, apply the plan with its history. Each part is timed.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::corpus::Vocabulary;
use super::library::{VOCABULARY, fill};
use super::{databases_or_sqlite, fresh_store, percentile, user_with_token};
use crate::app::AppError;
use crate::cli::MatchingBenchArgs;
use crate::domain::Id;
use crate::domain::matching::{Algorithm, CHUNK, MatchRule, Prepared, RuleSet, TargetKind, plan_with};
use crate::domain::metadata::LabelKind;
use crate::domain::store::BulkStore;

/// A rule over the vocabulary: words of the middle and rarer ranks (so that rules match some
/// documents, not all or none).
fn a_rule(vocab: &Vocabulary, rng: &mut StdRng, only: Option<Algorithm>) -> MatchRule {
    let word = |rng: &mut StdRng| vocab.word(rng.gen_range(2000..16000)).to_string();
    let pick = match only {
        Some(Algorithm::Any) => 0,
        Some(Algorithm::All) => 8,
        Some(Algorithm::Exact) => 12,
        Some(Algorithm::Regex) => 15,
        Some(Algorithm::Fuzzy) => 19,
        _ => rng.gen_range(0..20),
    };
    let (algorithm, pattern) = match pick {
        0..=7 => (Algorithm::Any, format!("{} {} {}", word(rng), word(rng), word(rng))),
        8..=11 => (Algorithm::All, format!("{} {}", word(rng), word(rng))),
        12..=14 => (Algorithm::Exact, format!("{} {}", word(rng), word(rng))),
        15..=17 => {
            let (a, b) = (word(rng), word(rng));
            (Algorithm::Regex, format!(r"\b{a}\w*\s+\w+\s+{}", b.chars().take(3).collect::<String>()))
        }
        _ => (Algorithm::Fuzzy, format!("{} {}", word(rng), word(rng))),
    };
    MatchRule { algorithm, pattern, insensitive: true }
}

async fn rules_for(
    store: &dyn BulkStore,
    owner: Id,
    n: usize,
    vocab: &Vocabulary,
    seed: u64,
    only: Option<Algorithm>,
) -> Result<(), AppError> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let correspondents = store.labels(owner, LabelKind::Correspondent).await?;
    let types = store.labels(owner, LabelKind::DocumentType).await?;
    let (home, _) = store.root_folders(owner).await?;
    let mut made = 0;
    for c in &correspondents {
        if made == n {
            return Ok(());
        }
        store.set_match_rule(owner, TargetKind::Correspondent, c.id, &a_rule(vocab, &mut rng, only)).await?;
        made += 1;
    }
    for t in &types {
        if made == n {
            return Ok(());
        }
        store.set_match_rule(owner, TargetKind::DocumentType, t.id, &a_rule(vocab, &mut rng, only)).await?;
        made += 1;
    }
    for i in 0..(n - made) / 10 {
        let f = store.create_folder(owner, home.id, &format!("Matched {i:03}")).await?;
        store.set_match_rule(owner, TargetKind::Folder, f.id, &a_rule(vocab, &mut rng, only)).await?;
        made += 1;
    }
    let mut i = 0;
    while made < n {
        let t = store.create_tag(owner, &format!("rule tag {i:04}"), "#6b7280").await?;
        store.set_match_rule(owner, TargetKind::Tag, t.id, &a_rule(vocab, &mut rng, only)).await?;
        made += 1;
        i += 1;
    }
    Ok(())
}

/// `--auto`: the library's correspondents and types get `auto` rules and the owner's model is
/// trained as the `train_classifier` job trains it (examples from the store, then learning).
/// The library's labels are drawn at random, so what it learns is noise: this times the work,
/// `bench classify` measures the accuracy.
async fn train_on_library(store: &dyn BulkStore, owner: Id) -> Result<(Option<crate::domain::classifier::Model>, String), AppError> {
    let auto = MatchRule { algorithm: Algorithm::Auto, pattern: String::new(), insensitive: true };
    for (kind, label) in [(TargetKind::Correspondent, LabelKind::Correspondent), (TargetKind::DocumentType, LabelKind::DocumentType)] {
        for l in store.labels(owner, label).await? {
            store.set_match_rule(owner, kind, l.id, &auto).await?;
        }
    }
    let t = Instant::now();
    let (n, trained) = crate::jobs::train_owner(store, owner).await.map_err(super::runtime_err)?;
    let (model, stats) = trained.ok_or_else(|| super::runtime_err("nothing to learn"))?;
    let took = t.elapsed().as_secs_f64();
    let bytes = model.encode();
    store.save_classifier(owner, "bench", &stats, &bytes).await?;
    let rss = super::classify::peak_rss_kb() as f64 / 1024.0;
    Ok((
        Some(model),
        format!(
            " ({n} docs trained in {took:.1} s, of which learning {:.1} s; model {:.1} MB; process peak RSS {rss:.0} MB)",
            stats.train_ms as f64 / 1000.0,
            bytes.len() as f64 / 1e6
        ),
    ))
}

pub async fn run(args: MatchingBenchArgs) -> Result<(), AppError> {
    let vocab = Vocabulary::new(VOCABULARY);
    let only = args.algorithm.as_deref().map(Algorithm::parse).transpose()?;
    println!(
        "Matching rules: {} documents (~{} pages, 150–400 words each), {} rules (any 40 %, all 20 %, exact 15 %, regex 15 %, fuzzy 10 %); \
         what the match_documents job does, over every document, in chunks of {CHUNK}",
        args.library.docs, args.library.pages, args.rules
    );
    let mut out = Vec::new();
    for db in databases_or_sqlite(args.library.database.clone()) {
        let scratch = fresh_store(&db, "match").await?;
        let store = scratch.store.clone();
        let backend = store.backend().to_string();
        eprintln!("{backend}: filling the library…");
        let (owner, _) = user_with_token(store.as_ref(), "bench").await?;
        fill(store.as_ref(), owner, &args.library, args.seed, &vocab).await?;
        rules_for(store.as_ref(), owner, args.rules, &vocab, args.seed, only).await?;
        let (model, trained) = if args.auto { train_on_library(store.as_ref(), owner).await? } else { (None, String::new()) };
        let rules = RuleSet::new(store.match_rules(owner).await?);
        eprintln!("{backend}: {} rules; matching every document…", rules.len());
        let ids = store.owned_documents(owner, &(1..=(args.library.docs as Id + 10)).collect::<Vec<_>>()).await?;
        let (mut load_s, mut match_s, mut apply_s) = (0.0, 0.0, 0.0);
        let mut per_doc_ms: Vec<f64> = Vec::with_capacity(ids.len());
        let (mut assigned, mut changed) = (0usize, 0usize);
        let started = Instant::now();
        for chunk in ids.chunks(CHUNK) {
            let t = Instant::now();
            let inputs = store.match_inputs(owner, chunk).await?;
            load_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut plans = Vec::with_capacity(inputs.len());
            for (state, text) in &inputs {
                let one = Instant::now();
                let auto = model.as_ref().map(|m| m.sure_of(text, 0.8)).unwrap_or_default();
                let p = plan_with(&rules, &Prepared::new(text), state, &auto);
                per_doc_ms.push(one.elapsed().as_secs_f64() * 1000.0);
                assigned += p.assigned.len();
                changed += usize::from(p.changes_something());
                plans.push(p);
            }
            match_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            store.apply_matches(owner, &plans, None).await?;
            apply_s += t.elapsed().as_secs_f64();
        }
        let total = started.elapsed().as_secs_f64();
        per_doc_ms.sort_by(f64::total_cmp);
        let n = ids.len().max(1) as f64;
        out.push(format!(
            "{backend:<9} {:>7} docs {:>4} rules{trained} | load text {:>6.3} ms/doc | match {:>6.3} ms/doc (p50 {:.3}, p99 {:.3}) | apply {:>6.3} ms/doc | whole job {:>6.0} docs/s ({:.0} s) | {} documents changed, {} assignments",
            ids.len(),
            rules.len(),
            load_s * 1000.0 / n,
            match_s * 1000.0 / n,
            percentile(&per_doc_ms, 50.0),
            percentile(&per_doc_ms, 99.0),
            apply_s * 1000.0 / n,
            n / total,
            total,
            changed,
            assigned
        ));
        scratch.remove().await;
    }
    println!();
    for line in out {
        println!("{line}");
    }
    Ok(())
}
