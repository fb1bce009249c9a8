//! `docmerge bench classify` (#23): the auto classifier on a labelled library of letters this
//! benchmark writes — 14 correspondents (some in the same trade, so they share words), 8
//! document types, 8 folders, 20 tags that follow from the sender, the kind of letter and what
//! it says, and a share of documents filed wrongly on purpose. Trained on 80 %, scored on the
//! other 20 %: accuracy per field, training time and peak memory, classification time per
//! document. With `--vs-paperless PYTHON` the same split goes to paperless-ngx's algorithm
//! (scikit-learn's MLPClassifier over a CountVectorizer bag of words and word pairs, as its
//! classifier module builds them) in a child process, side by side.

use std::io::Write;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::corpus::Vocabulary;
use super::runtime_err;
use crate::app::AppError;
use crate::cli::ClassifyBenchArgs;
use crate::domain::Id;
use crate::domain::classifier::{Example, Model, train};
use crate::domain::matching::TargetKind;

/// The script that runs paperless-ngx's classifier on the same split (written to a temp file).
const PAPERLESS: &str = include_str!("paperless_classifier.py");

struct Sender {
    name: &'static str,
    street: &'static str,
    trade: usize,
}

const SENDERS: [Sender; 14] = [
    Sender { name: "Stadtwerke Nordhafen", street: "Hafenstraße 12, 24103 Kiel", trade: 0 },
    Sender { name: "Ostsee Energie GmbH", street: "Am Kai 4, 18055 Rostock", trade: 0 },
    Sender { name: "Allianz Versicherungs-AG", street: "Königinstraße 28, 80802 München", trade: 1 },
    Sender { name: "HUK-Coburg", street: "Bahnhofsplatz, 96444 Coburg", trade: 1 },
    Sender { name: "Sparkasse Holstein", street: "Hagenstraße 19, 23843 Bad Oldesloe", trade: 2 },
    Sender { name: "ING-DiBa AG", street: "Theodor-Heuss-Allee 2, 60486 Frankfurt", trade: 2 },
    Sender { name: "Telekom Deutschland", street: "Landgrabenweg 151, 53227 Bonn", trade: 3 },
    Sender { name: "Praxis Dr. med. Weber", street: "Lindenallee 3, 24105 Kiel", trade: 4 },
    Sender { name: "Finanzamt Kiel-Nord", street: "Feldstraße 23, 24105 Kiel", trade: 5 },
    Sender { name: "Hausverwaltung Brinkmann", street: "Holtenauer Straße 88, 24105 Kiel", trade: 6 },
    Sender { name: "Autohaus Petersen", street: "Werftstraße 210, 24143 Kiel", trade: 7 },
    Sender { name: "ADAC Schleswig-Holstein", street: "Saarbrückenstraße 54, 24114 Kiel", trade: 7 },
    Sender { name: "Nordsee Online-Shop", street: "Postfach 1120, 26382 Wilhelmshaven", trade: 8 },
    Sender { name: "Deutsche Rentenversicherung", street: "Ruhrstraße 2, 10709 Berlin", trade: 9 },
];

/// Per trade: its words, its folder (index into FOLDERS) and its tags.
const TRADES: [(&[&str], usize, &[usize]); 10] = [
    (&["electricity", "meter reading", "kilowatt hours", "tariff", "gas supply", "annual consumption", "energy"], 3, &[7]),
    (&["insurance policy", "premium", "insured person", "claim", "coverage", "deductible", "liability"], 1, &[3]),
    (&["account", "transfer", "interest rate", "balance", "direct debit", "IBAN", "overdraft"], 0, &[8]),
    (&["mobile contract", "data volume", "internet connection", "router", "monthly fee", "phone number"], 3, &[15, 16]),
    (&["patient", "treatment", "diagnosis", "prescription", "appointment", "health insurance card"], 2, &[4]),
    (&["tax assessment", "income tax", "tax return", "refund", "tax number", "deduction"], 4, &[2]),
    (&["apartment", "rent", "service charges", "heating costs", "tenancy", "caretaker"], 3, &[6]),
    (&["vehicle", "inspection", "registration", "tyres", "workshop", "mileage"], 5, &[5]),
    (&["order", "delivery", "parcel", "return label", "item", "shipping"], 6, &[11]),
    (&["pension", "contribution years", "retirement", "insurance record", "pension notice"], 7, &[14]),
];

const FOLDERS: [&str; 8] = ["Finance", "Insurance", "Health", "Home", "Tax", "Car", "Shopping", "Pension"];

/// A document type: its name, subject lines, phrases and tags.
type Kind = (&'static str, &'static [&'static str], &'static [&'static str], &'static [usize]);

/// Per type: subject lines, its phrases, its tags.
const TYPES: [Kind; 8] = [
    (
        "Invoice",
        &["Invoice", "Your invoice", "Invoice for"],
        &["please pay the amount", "invoice number", "total amount", "payable within 14 days", "net amount plus VAT"],
        &[1],
    ),
    (
        "Reminder",
        &["Payment reminder", "Second reminder", "Reminder"],
        &["overdue", "we have not yet received", "final notice", "late fee", "please settle immediately"],
        &[1, 9, 10],
    ),
    (
        "Contract",
        &["Your contract", "Contract confirmation", "Agreement"],
        &["terms and conditions", "term of the contract", "notice period", "signature", "hereby agree"],
        &[9, 19],
    ),
    (
        "Statement",
        &["Statement", "Annual statement", "Account statement"],
        &["statement period", "opening balance", "closing balance", "summary of", "for the year"],
        &[19],
    ),
    (
        "Receipt",
        &["Receipt", "Payment confirmation", "Thank you for your payment"],
        &["we have received your payment", "paid in full", "receipt number", "thank you for your payment"],
        &[0],
    ),
    (
        "Letter",
        &["Information", "Your enquiry", "Changes to"],
        &["we would like to inform you", "if you have any questions", "please do not hesitate", "kind regards"],
        &[],
    ),
    (
        "Certificate",
        &["Certificate", "Confirmation", "Proof of"],
        &["we hereby confirm", "valid until", "certificate number", "for presentation to"],
        &[12, 19],
    ),
    (
        "Notice",
        &["Notice of change", "Price adjustment", "Important notice"],
        &["will change on", "new price", "right of termination", "effective from"],
        &[10, 17],
    ),
];

const TAGS: [&str; 20] = [
    "paid",
    "unpaid",
    "tax-relevant",
    "insurance",
    "health",
    "car",
    "house",
    "utilities",
    "bank",
    "important",
    "to-do",
    "online",
    "proof",
    "kids",
    "pension",
    "subscription",
    "internet",
    "price-change",
    "warranty",
    "keep-forever",
];

const FILLER: &[&str] = &[
    "Dear Sir or Madam,",
    "Dear customer,",
    "Thank you for your trust.",
    "Please keep this letter for your records.",
    "You can also reach us online at any time.",
    "This letter was created automatically and is valid without a signature.",
    "Our office hours are Monday to Friday from 8 to 18.",
    "Please quote the reference number in all correspondence.",
];

/// One labelled letter (true labels, then what the library says — sometimes wrong).
pub struct Letter {
    pub text: String,
    pub correspondent: Id,
    pub document_type: Id,
    pub folder: Id,
    pub tags: Vec<Id>,
}

/// `n` letters, `noise` of each field filed wrongly.
pub fn letters(n: usize, noise: f64, seed: u64) -> Vec<Letter> {
    let mut rng = StdRng::seed_from_u64(seed);
    let vocab = Vocabulary::new(20_000);
    (0..n)
        .map(|i| {
            let s = rng.gen_range(0..SENDERS.len());
            let sender = &SENDERS[s];
            let (trade_words, folder, trade_tags) = TRADES[sender.trade];
            let t = rng.gen_range(0..TYPES.len());
            let (_, subjects, phrases, type_tags) = TYPES[t];
            let year = rng.gen_range(2019..=2026);
            let mut text = String::new();
            // A letterhead most of the time (a photo of the middle page has none).
            if rng.gen_bool(0.8) {
                text.push_str(&format!("{}\n{}\n", sender.name, sender.street));
            }
            text.push_str(&format!(
                "Jana Hansen\nBlumenweg {}\n24106 Kiel\n\nKiel, {:02}.{:02}.{year}\n\n{} {}/{}\n\n{}\n",
                rng.gen_range(1..90),
                rng.gen_range(1..29),
                rng.gen_range(1..13),
                subjects.choose(&mut rng).unwrap_or(&""),
                rng.gen_range(1000..99999),
                year,
                FILLER.choose(&mut rng).unwrap_or(&"")
            ));
            let mut tags: Vec<usize> = trade_tags.iter().chain(type_tags).copied().collect();
            let sentences = rng.gen_range(4..10);
            for _ in 0..sentences {
                let mut sentence = Vec::new();
                match rng.gen_range(0..5) {
                    0 | 1 => sentence.push(trade_words.choose(&mut rng).unwrap_or(&"").to_string()),
                    2 => sentence.push(phrases.choose(&mut rng).unwrap_or(&"").to_string()),
                    3 => sentence.push(FILLER.choose(&mut rng).unwrap_or(&"").to_string()),
                    _ => {}
                }
                for _ in 0..rng.gen_range(4..12) {
                    sentence.push(vocab.sample(&mut rng).to_string());
                }
                sentence.shuffle(&mut rng);
                text.push_str(&sentence.join(" "));
                text.push_str(".\n");
            }
            // Tags that follow from what the letter says.
            if rng.gen_bool(0.15) {
                text.push_str("The warranty period is two years from delivery.\n");
                tags.push(18);
            }
            if rng.gen_bool(0.1) {
                text.push_str("This concerns your child Emma Hansen (school class 4b).\n");
                tags.push(13);
            }
            if rng.gen_bool(0.12) {
                text.push_str("You can download this document in your online customer portal.\n");
                tags.push(11);
            }
            text.push_str(&format!("Total: {},{:02} EUR\nKind regards\n{}\n", rng.gen_range(5..3000), rng.gen_range(0..100), sender.name));
            let wrong = |right: usize, of: usize, rng: &mut StdRng| if rng.gen_bool(noise) { rng.gen_range(0..of) } else { right };
            let c = wrong(s, SENDERS.len(), &mut rng);
            let ty = wrong(t, TYPES.len(), &mut rng);
            let f = wrong(folder, FOLDERS.len(), &mut rng);
            if rng.gen_bool(noise) {
                let flip = rng.gen_range(0..TAGS.len());
                if let Some(p) = tags.iter().position(|&x| x == flip) {
                    tags.remove(p);
                } else {
                    tags.push(flip);
                }
            }
            tags.sort_unstable();
            tags.dedup();
            let _ = i;
            Letter {
                text,
                correspondent: c as Id + 1,
                document_type: ty as Id + 101,
                folder: f as Id + 201,
                tags: tags.into_iter().map(|x| x as Id + 301).collect(),
            }
        })
        .collect()
}

/// Accuracy of a model on held-out letters: one-of-many fields, the top label; tags, the whole
/// set at confidence ≥ 0.5 (and the share of tag decisions right).
fn score(model: &Model, test: &[Letter]) -> (serde_json::Value, f64) {
    let mut right = [0usize; 3];
    let (mut tag_sets, mut tag_bits) = (0usize, 0usize);
    let started = Instant::now();
    for l in test {
        let p = model.classify(&l.text, 0.0);
        let top = |k: TargetKind| p.iter().find(|p| p.kind == k).map(|p| p.target_id);
        right[0] += (top(TargetKind::Correspondent) == Some(l.correspondent)) as usize;
        right[1] += (top(TargetKind::DocumentType) == Some(l.document_type)) as usize;
        right[2] += (top(TargetKind::Folder) == Some(l.folder)) as usize;
        let mut tags: Vec<Id> = p.iter().filter(|p| p.kind == TargetKind::Tag && p.confidence >= 0.5).map(|p| p.target_id).collect();
        tags.sort_unstable();
        tag_sets += (tags == l.tags) as usize;
        tag_bits += (0..TAGS.len() as Id).filter(|t| tags.contains(&(t + 301)) == l.tags.contains(&(t + 301))).count();
    }
    let per_doc_ms = started.elapsed().as_secs_f64() * 1000.0 / test.len().max(1) as f64;
    let n = test.len().max(1) as f64;
    (
        json!({
            "correspondent": right[0] as f64 / n,
            "document_type": right[1] as f64 / n,
            "folder": right[2] as f64 / n,
            "tags_exact": tag_sets as f64 / n,
            "tags_decisions": tag_bits as f64 / (n * TAGS.len() as f64),
        }),
        per_doc_ms,
    )
}

/// Peak resident memory of this process (kB), and a reset of the peak (Linux: clear_refs 5).
pub(crate) fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub async fn run(args: ClassifyBenchArgs) -> Result<(), AppError> {
    let all = letters(args.docs, args.noise, args.seed);
    let mut train_set = Vec::with_capacity(all.len());
    let mut test = Vec::with_capacity(all.len() / 5 + 1);
    for (i, l) in all.into_iter().enumerate() {
        if i % 5 == 0 { test.push(l) } else { train_set.push(l) }
    }
    let examples: Vec<Example> = train_set
        .iter()
        .map(|l| Example {
            text: l.text.clone(),
            correspondent: Some(l.correspondent),
            document_type: Some(l.document_type),
            folder: Some(l.folder),
            tags: Some(l.tags.clone()),
        })
        .collect();
    println!(
        "classifier: {} letters ({} to train, {} held out), {} correspondents, {} types, {} folders, {} tags, {:.0} % filed wrongly per field",
        args.docs,
        examples.len(),
        test.len(),
        SENDERS.len(),
        TYPES.len(),
        FOLDERS.len(),
        TAGS.len(),
        args.noise * 100.0
    );
    let baseline_file = if let Some(python) = &args.vs_paperless {
        let dir = tempfile::tempdir().map_err(runtime_err)?;
        let data = dir.path().join("letters.jsonl");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&data).map_err(runtime_err)?);
        for (split, l) in train_set.iter().map(|l| ("train", l)).chain(test.iter().map(|l| ("test", l))) {
            let line = json!({"split": split, "text": l.text, "correspondent": l.correspondent, "document_type": l.document_type,
                "folder": l.folder, "tags": l.tags});
            writeln!(f, "{line}").map_err(runtime_err)?;
        }
        f.flush().map_err(runtime_err)?;
        drop(f);
        Some((dir, data, python.clone()))
    } else {
        None
    };
    drop(train_set);
    let text_mb = examples.iter().map(|e| e.text.len()).sum::<usize>() as f64 / 1e6;
    let before = rss_kb();
    reset_peak_rss();
    let started = Instant::now();
    let (model, stats) =
        tokio::task::spawn_blocking(move || train(examples)).await.map_err(runtime_err)?.ok_or_else(|| runtime_err("nothing to learn"))?;
    let train_s = started.elapsed().as_secs_f64();
    let peak = peak_rss_kb();
    let bytes = model.encode();
    let (ours, per_doc_ms) = score(&model, &test);
    println!("\n| | docmerge (averaged perceptron, tf-idf words + pairs) |");
    println!("|---|---:|");
    println!("| training, wall | {train_s:.2} s |");
    println!(
        "| peak RSS while training (before: {:.0} MB, texts {text_mb:.0} MB) | {:.0} MB |",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!("| features / model size | {} / {:.1} MB |", stats.features, bytes.len() as f64 / 1e6);
    println!("| classifying, per document | {per_doc_ms:.3} ms |");
    let Some((_dir, data, python)) = baseline_file else {
        println!("\naccuracy on the held-out 20 %: {ours}");
        return Ok(());
    };
    let script = data.with_file_name("paperless_classifier.py");
    std::fs::write(&script, PAPERLESS).map_err(runtime_err)?;
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&data)
        .output()
        .await
        .map_err(|e| runtime_err(format!("cannot run {python}: {e}")))?;
    if !out.status.success() {
        return Err(runtime_err(format!("paperless-ngx's classifier failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| runtime_err(format!("its answer: {e}")))?;
    println!("\n| held-out accuracy | docmerge | paperless-ngx (MLP, scikit-learn {}) |", theirs["sklearn"].as_str().unwrap_or("?"));
    println!("|---|---:|---:|");
    for f in ["correspondent", "document_type", "folder", "tags_exact", "tags_decisions"] {
        println!("| {f} | {:.3} | {:.3} |", ours[f].as_f64().unwrap_or(0.0), theirs["accuracy"][f].as_f64().unwrap_or(0.0));
    }
    let their_train = theirs["train_s"].as_f64().unwrap_or(0.0);
    println!("| training, wall | {train_s:.2} s | {their_train:.2} s ({:.1}× ours) |", their_train / train_s.max(1e-9));
    println!("| peak RSS of the process | {:.0} MB | {:.0} MB |", peak as f64 / 1024.0, theirs["peak_rss_mb"].as_f64().unwrap_or(0.0));
    println!("| classifying, per document | {per_doc_ms:.3} ms | {:.3} ms |", theirs["classify_ms"].as_f64().unwrap_or(0.0));
    println!("\nRESULT {}", json!({"ours": ours, "theirs": theirs["accuracy"], "train_s": train_s, "their_train_s": their_train}));
    Ok(())
}
