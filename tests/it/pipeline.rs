//! End to end through separate processes (`serve` + 2 × `worker`): the corpus becomes
//! searchable, the searchable PDF carries the same text, bad input fails with a reason.

use std::collections::HashMap;
use std::time::Duration;

use crate::harness::{Db, Proc, Stack, corpus_dir, db_tests, tiny_png};

/// Whitespace-normalised character error rate (Levenshtein / reference length).
pub fn cer(hyp: &str, reference: &str) -> f64 {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect::<Vec<char>>();
    let (h, r) = (norm(hyp), norm(reference));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    let mut cur = vec![0; h.len() + 1];
    for (i, rc) in r.iter().enumerate() {
        cur[0] = i + 1;
        for (j, hc) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rc != hc)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[h.len()] as f64 / r.len() as f64
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn pdftotext(pdf: &[u8], dir: &std::path::Path) -> String {
    let p = dir.join(format!("s-{}.pdf", rand::random::<u32>()));
    std::fs::write(&p, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", p.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (Debian poppler-utils) is needed: .ci/run installs it");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn corpus_end_to_end(db: Db) {
    let corpus = corpus_dir();
    let stack = Stack::start(db, 2, &[]).await;
    let api = stack.admin().await;
    let mut files: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| (n.starts_with("img-") || n.starts_with("io-") || n.starts_with("bd-")) && !n.ends_with(".txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus has the img-/io-/bd- files: {files:?}");
    let mut docs: HashMap<String, i64> = HashMap::new();
    for f in &files {
        let (s, up) = api.upload(f, std::fs::read(corpus.join(f)).unwrap(), &[]).await;
        assert_eq!(s, 202, "{f}: {up}");
        docs.insert(f.clone(), up["document"]["id"].as_i64().unwrap());
    }
    let gt_of = |f: &str| -> String {
        let stem = f.trim_end_matches(".pdf").trim_end_matches(".png");
        let name = if let Some(rest) = stem.strip_prefix("io-") { format!("bd-{rest}.gt.txt") } else { format!("{stem}.gt.txt") };
        std::fs::read_to_string(corpus.join(name)).unwrap()
    };
    // Word frequencies across all ground truths, to pick a distinctive word per document.
    let mut df: HashMap<String, usize> = HashMap::new();
    for f in &files {
        let mut ws = words(&gt_of(f));
        ws.sort();
        ws.dedup();
        for w in ws {
            *df.entry(w).or_default() += 1;
        }
    }
    for f in &files {
        let id = docs[f];
        let d = api.wait_done(id, Duration::from_secs(600)).await;
        assert_eq!(d["state"], "ready", "{f}: {d}");
        let (_, pages) = api.get(&format!("/api/v1/documents/{id}/pages")).await;
        let stored: Vec<String> = pages["items"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap().to_string()).collect();
        let stored = stored.join("\n");
        let gt = gt_of(f);
        let c = cer(&stored, &gt);
        // The pooled CER/WER figures are the OCR benchmark's job; here a sanity bound per page
        // (multi-column reading order differs from pdftotext -layout).
        assert!(c < 0.6, "{f}: stored text is far from the ground truth (CER {c:.3})");
        if f.starts_with("bd-") {
            assert_eq!(pages["items"][0]["source"], "text_layer", "{f} is born digital: no OCR");
        } else {
            assert_eq!(pages["items"][0]["source"], "ocr", "{f} has no text layer");
        }
        // A distinctive ground-truth word that the text contains finds the document.
        let stored_words: std::collections::HashSet<String> = words(&stored).into_iter().collect();
        let mut candidates: Vec<String> =
            words(&gt).into_iter().filter(|w| w.len() >= 6 && w.chars().all(char::is_alphabetic) && stored_words.contains(w)).collect();
        candidates.sort_by_key(|w| (df[w], std::cmp::Reverse(w.len())));
        let word = candidates.first().unwrap_or_else(|| panic!("{f}: no ground-truth word of 6+ letters was recognised"));
        let (_, hits) = api.get(&format!("/api/v1/search?q={word}&page_size=100")).await;
        let found: Vec<i64> = hits["items"].as_array().unwrap().iter().map(|h| h["document"]["id"].as_i64().unwrap()).collect();
        assert!(found.contains(&id), "{f}: searching {word:?} does not find document {id}: {hits}");
        // The searchable PDF carries the same text as the database (same CER within 2 points).
        let (s, pdf) = api.get_bytes(&format!("/api/v1/documents/{id}/download?kind=searchable")).await;
        assert_eq!(s, 200);
        assert!(pdf.starts_with(b"%PDF"));
        let from_pdf = pdftotext(&pdf, stack.db.dir.path());
        let c_pdf = cer(&from_pdf, &gt);
        assert!((c_pdf - c).abs() < 0.05, "{f}: searchable PDF CER {c_pdf:.3} vs stored {c:.3}");
        // Thumbnails and previews are real images with cache headers.
        let (s, img) = api.get_bytes(&format!("/api/v1/documents/{id}/pages/1/thumbnail")).await;
        assert_eq!(s, 200);
        assert!(image::load_from_memory(&img).map(|i| i.width() > 100 && i.width() <= 300).unwrap_or(false), "{f}: thumbnail");
    }
    // The work was spread over both workers.
    let (l0, l1) = (stack.log("worker0"), stack.log("worker1"));
    assert!(!l0.contains("panicked") && !l1.contains("panicked"));
}
db_tests!(corpus_end_to_end);

async fn bad_inputs_fail_with_reasons(db: Db) {
    let corpus = corpus_dir();
    let stack = Stack::start(db, 1, &[]).await;
    let api = stack.admin().await;
    let rejected = [("bad-zero-byte.pdf", 400, "empty"), ("bad-png-named.pdf", 415, "PNG")];
    for (f, status, words) in rejected {
        let (s, b) = api.upload(f, std::fs::read(corpus.join(f)).unwrap(), &[]).await;
        assert_eq!(s, status, "{f}: {b}");
        assert!(b["message"].as_str().unwrap().contains(words), "{f}: {b}");
    }
    let failing = [
        ("bad-encrypted-password-is-test.pdf", "password-protected"),
        ("bad-truncated-cupertino.pdf", "truncated or damaged"),
        ("bad-header-only.pdf", "truncated or damaged"),
        ("bad-bomb-40000x40000-1bit.png", "40000×40000 pixels, over the limit"),
        ("bad-2000-pages.pdf", "2000 pages, over the limit of 1000"),
    ];
    let mut ids = Vec::new();
    for (f, _) in failing {
        let (s, b) = api.upload(f, std::fs::read(corpus.join(f)).unwrap(), &[]).await;
        assert_eq!(s, 202, "{f}: {b}");
        ids.push(b["document"]["id"].as_i64().unwrap());
    }
    for ((f, reason), id) in failing.iter().zip(&ids) {
        let d = api.wait_done(*id, Duration::from_secs(120)).await;
        assert_eq!(d["state"], "failed", "{f}: {d}");
        assert!(d["error"].as_str().unwrap().contains(reason), "{f}: {d}");
        // The original is kept and downloads byte-identical.
        let (s, bytes) = api.get_bytes(&format!("/api/v1/documents/{id}/download")).await;
        assert_eq!(s, 200);
        assert_eq!(bytes, std::fs::read(corpus.join(f)).unwrap(), "{f}: original kept");
        // Permanent errors are not retried.
        let (_, jobs) = api.get(&format!("/api/v1/jobs?document={id}")).await;
        assert!(jobs["items"].as_array().unwrap().iter().all(|j| j["attempts"].as_i64() == Some(1)), "{f}: {jobs}");
    }
    // The worker is still running and still works.
    let (_, ok) = api.upload("ok.png", tiny_png(200, 100), &[]).await;
    let d = api.wait_done(ok["document"]["id"].as_i64().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(d["state"], "ready", "{d}");
    assert!(!stack.log("worker0").contains("panicked"));
}
db_tests!(bad_inputs_fail_with_reasons);

/// A page over the pixel limit fails; after the operator raises the limit, reprocessing works.
async fn reprocess_after_raising_a_limit(db: Db) {
    let mut stack = Stack::start(db, 0, &[]).await;
    let api = stack.admin().await;
    let mut env = stack.env.clone();
    env.push(("DOCMERGE__LIMITS__MAX_PAGE_PIXELS", "100000".into()));
    let strict = Proc::spawn("strict-worker", &["worker"], &env, stack.db.dir.path());
    let (_, up) = api.upload("big.png", tiny_png(800, 600), &[]).await;
    let id = up["document"]["id"].as_i64().unwrap();
    let d = api.wait_done(id, Duration::from_secs(60)).await;
    assert_eq!(d["state"], "failed");
    assert!(d["error"].as_str().unwrap().contains("800×600 pixels, over the limit of 100000"), "{d}");
    drop(strict);
    stack.procs.push(Proc::spawn("worker", &["worker"], &stack.env, stack.db.dir.path()));
    let (s, _) = api.post(&format!("/api/v1/documents/{id}/reprocess"), &serde_json::json!({})).await;
    assert_eq!(s, 202);
    let d = api.wait_done(id, Duration::from_secs(60)).await;
    assert_eq!(d["state"], "ready", "{d}");
    assert_eq!(d["error"], serde_json::Value::Null);
}
db_tests!(reprocess_after_raising_a_limit);

#[test]
fn cer_is_levenshtein_over_reference_length() {
    assert_eq!(cer("hello world", "hello  world"), 0.0);
    assert!((cer("helo world", "hello world") - 1.0 / 11.0).abs() < 1e-9);
    assert_eq!(cer("", "abc"), 1.0);
}
