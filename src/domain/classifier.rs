//! The "auto" classifier (#23): learned per owner from how they filed their documents, for
//! the correspondent, the document type, the folder (one label each) and the tags (any number).
//!
//! The model, chosen on measured accuracy (BENCHMARKS.md, "Auto classifier"): words and word
//! pairs weighted by tf-idf (sublinear term counts, L2-normalised), and per field a linear
//! model trained by the averaged perceptron — one-of-many for a single label, one yes/no model
//! per tag. Training is a few passes of sparse additions (seconds for 10,000 documents on one
//! core); classifying a document is one sparse product. Confidences are calibrated on a
//! tenth of the documents held out of a first training (softmax temperature for one-of-many,
//! a logistic curve for tags), then the model is trained again on everything. The words
//! behind a suggestion are the features that pushed the winner furthest past the runner-up.
//!
//! Pure: the store gives the examples, the job stores the model's bytes ([`Model::encode`]).

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::Id;
use super::matching::TargetKind;

/// The part of a document's text the classifier reads (the first pages carry the letterhead,
/// the subject and the kind of document).
pub const TEXT_CHARS: usize = 10_000;
/// Pages read for it.
pub const TEXT_PAGES: i64 = 6;
/// Passes over the examples.
const EPOCHS: usize = 8;
/// An example is learned from until its label wins by this much (a unit vector, unit steps):
/// measured better than learning only from mistakes (BENCHMARKS.md, "Auto classifier").
const MARGIN: f32 = 1.0;
/// A feature must appear in this many training documents.
const MIN_DF: u32 = 2;
/// A label is learned from at least this many documents.
pub const MIN_EXAMPLES: usize = 2;
/// At most this many features…
const MAX_VOCAB: usize = 150_000;
/// …and at most this many weights over all fields (the vocabulary shrinks, most frequent
/// features kept, when an owner has very many labels): bounds the memory a training takes.
const WEIGHT_BUDGET: usize = 12_000_000;
/// Features kept per document (the highest tf-idf weights).
pub const DOC_FEATURES: usize = 400;
/// Words kept as the explanation of one suggestion.
const WHY_WORDS: usize = 5;
/// Held out for calibration (one in ten), when there are at least this many documents.
const CALIBRATE_FROM: usize = 40;
const MAGIC: &[u8; 4] = b"DMC1";

/// Appends a page to a document's text for the classifier, up to [`TEXT_CHARS`] bytes (cut at a
/// character boundary).
pub fn add_page(text: &mut String, page: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    let mut cut = TEXT_CHARS.saturating_sub(text.len()).min(page.len());
    while !page.is_char_boundary(cut) {
        cut -= 1;
    }
    text.push_str(&page[..cut]);
}

/// One document as training sees it: its text and, per field, its labels (None: the field
/// says nothing about this document — e.g. no correspondent set is not a label "none").
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Example {
    pub text: String,
    pub correspondent: Option<Id>,
    pub document_type: Option<Id>,
    pub folder: Option<Id>,
    pub tags: Option<Vec<Id>>,
}

impl Example {
    fn labels(&self, kind: TargetKind) -> Option<Vec<Id>> {
        match kind {
            TargetKind::Correspondent => self.correspondent.map(|l| vec![l]),
            TargetKind::DocumentType => self.document_type.map(|l| vec![l]),
            TargetKind::Folder => self.folder.map(|l| vec![l]),
            TargetKind::Tag => self.tags.clone(),
            TargetKind::PathTemplate => None,
        }
    }
}

/// What the classifier thinks of one document for one label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub kind: TargetKind,
    pub target_id: Id,
    /// Calibrated: of the held-out documents given this confidence, about this share was right.
    pub confidence: f32,
    /// The words that weighed most for it.
    pub words: Vec<String>,
}

impl Prediction {
    /// As an `auto` matching rule reads it (and the document's history shows it).
    pub fn learned(&self) -> super::matching::Learned {
        super::matching::Learned {
            kind: self.kind,
            target_id: self.target_id,
            why: format!("{:.0} % sure, from the words {}", self.confidence * 100.0, self.words.join(", ")),
        }
    }
}

/// How well each field did on the held-out tenth (before the final training), for the UI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldStats {
    pub kind: Option<TargetKind>,
    pub labels: usize,
    pub examples: usize,
    /// Share of held-out documents whose label (tags: whose every tag decision) was right.
    pub held_out_accuracy: Option<f32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    pub documents: usize,
    pub features: usize,
    pub fields: Vec<FieldStats>,
    pub train_ms: u64,
}

/// A `train_classifier` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainArgs {
    pub owner_id: Id,
    /// Train even when nothing changed since the last model ("Train now").
    #[serde(default)]
    pub force: bool,
}

/// A stored model, without its bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierInfo {
    pub id: Id,
    pub created_at: super::Millis,
    pub fingerprint: String,
    pub stats: TrainStats,
}

/// One field's linear model: per feature (and a last row for the bias) the weights of the
/// labels it has any; a confidence curve.
#[derive(Clone, Debug, PartialEq)]
struct Head {
    kind: TargetKind,
    labels: Vec<Id>,
    /// Row offsets into `entries` (features + 1 for the bias, + 1 end).
    rows: Vec<u32>,
    entries: Vec<(u32, f32)>,
    /// One-of-many: softmax(score × a). Tags: sigmoid(score × a + b).
    a: f32,
    b: f32,
}

/// A trained model: the vocabulary and one head per field that had labels to learn.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    hashes: Vec<u64>,
    terms: Vec<String>,
    idf: Vec<f32>,
    index: HashMap<u64, u32>,
    heads: Vec<Head>,
}

// ---------------------------------------------------------------------------------------------
// Features

fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
const FNV0: u64 = 0xcbf29ce484222325;

/// Lowercase words: letters and digits; a word needs a letter and two characters, or is a
/// number of up to four digits (a year); very long runs are not words.
fn words(text: &str) -> Vec<String> {
    let cut = text.char_indices().nth(TEXT_CHARS).map_or(text.len(), |(i, _)| i);
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        let n = cur.chars().count();
        let letter = cur.chars().any(char::is_alphabetic);
        if (letter && (2..=40).contains(&n)) || (!letter && (2..=4).contains(&n)) {
            out.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    for ch in text[..cut].chars() {
        if ch.is_alphanumeric() {
            cur.extend(ch.to_lowercase());
        } else if !cur.is_empty() {
            flush(&mut cur, &mut out);
        }
    }
    if !cur.is_empty() {
        flush(&mut cur, &mut out);
    }
    out
}

/// Every feature of a text (words and neighbouring pairs) with its count; `name` is called
/// for each to let the caller keep the spelling.
fn features(text: &str, mut name: impl FnMut(u64, &dyn Fn() -> String)) -> HashMap<u64, u32> {
    let ws = words(text);
    let mut counts: HashMap<u64, u32> = HashMap::with_capacity(ws.len() * 2);
    let mut prev: Option<(u64, &str)> = None;
    for w in &ws {
        let h = fnv(w.as_bytes(), FNV0);
        *counts.entry(h).or_default() += 1;
        name(h, &|| w.clone());
        if let Some((ph, pw)) = prev {
            let pair = fnv(w.as_bytes(), fnv(b" ", ph));
            *counts.entry(pair).or_default() += 1;
            name(pair, &|| format!("{pw} {w}"));
        }
        prev = Some((h, w));
    }
    counts
}

/// A document as a sparse unit vector over the vocabulary (tf-idf, sublinear counts).
#[derive(Clone, Debug, Default)]
struct Row {
    idx: Vec<u32>,
    val: Vec<f32>,
}

fn row_of(counts: &HashMap<u64, u32>, index: &HashMap<u64, u32>, idf: &[f32]) -> Row {
    let mut pairs: Vec<(u32, f32)> =
        counts.iter().filter_map(|(h, c)| index.get(h).map(|&i| (i, (1.0 + (*c as f32).ln()) * idf[i as usize]))).collect();
    if pairs.len() > DOC_FEATURES {
        // A long document keeps its most telling features (the rest weigh little after
        // normalising, and would cost memory in every training).
        pairs.select_nth_unstable_by(DOC_FEATURES, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        pairs.truncate(DOC_FEATURES);
    }
    pairs.sort_unstable_by_key(|p| p.0);
    let norm = pairs.iter().map(|p| p.1 * p.1).sum::<f32>().sqrt();
    let norm = if norm > 0.0 { norm } else { 1.0 };
    Row { idx: pairs.iter().map(|p| p.0).collect(), val: pairs.iter().map(|p| p.1 / norm).collect() }
}

// ---------------------------------------------------------------------------------------------
// Training

/// Dense weights while training (features + bias row) × labels, with the averaging sums.
struct Dense {
    k: usize,
    w: Vec<f32>,
    u: Vec<f32>,
    c: f32,
}

impl Dense {
    fn new(rows: usize, k: usize) -> Dense {
        Dense { k, w: vec![0.0; rows * k], u: vec![0.0; rows * k], c: 1.0 }
    }

    fn bias_row(&self) -> usize {
        self.w.len() / self.k - 1
    }

    fn scores(&self, x: &Row, out: &mut [f32]) {
        let k = self.k;
        let b = self.bias_row() * k;
        out.copy_from_slice(&self.w[b..b + k]);
        for (&i, &v) in x.idx.iter().zip(&x.val) {
            let r = i as usize * k;
            for (o, w) in out.iter_mut().zip(&self.w[r..r + k]) {
                *o += v * w;
            }
        }
    }

    fn update(&mut self, x: &Row, label: usize, sign: f32) {
        let (k, c, b) = (self.k, self.c, self.bias_row());
        for (&i, &v) in x.idx.iter().zip(&x.val).chain(std::iter::once((&(b as u32), &1.0f32))) {
            let at = i as usize * k + label;
            self.w[at] += sign * v;
            self.u[at] += sign * c * v;
        }
    }

    /// The averaged weights, as sparse rows.
    fn finish(self) -> (Vec<u32>, Vec<(u32, f32)>) {
        let (k, c) = (self.k, self.c);
        let mut rows = Vec::with_capacity(self.w.len() / k + 1);
        let mut entries = Vec::new();
        for r in 0..self.w.len() / k {
            rows.push(entries.len() as u32);
            for l in 0..k {
                let v = self.w[r * k + l] - self.u[r * k + l] / c;
                if v.abs() > 1e-7 {
                    entries.push((l as u32, v));
                }
            }
        }
        rows.push(entries.len() as u32);
        (rows, entries)
    }
}

struct Task<'a> {
    kind: TargetKind,
    labels: Vec<Id>,
    /// Per example: label positions (None: not an example of this field).
    ys: Vec<Option<Vec<usize>>>,
    rows: &'a [Row],
}

impl<'a> Task<'a> {
    /// Labels as positions in `labels`.
    fn new(kind: TargetKind, labels: Vec<Id>, ys: Vec<Option<Vec<Id>>>, rows: &'a [Row]) -> Task<'a> {
        let pos: HashMap<Id, usize> = labels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
        let ys = ys.into_iter().map(|y| y.map(|ls| ls.iter().filter_map(|l| pos.get(l).copied()).collect())).collect();
        Task { kind, labels, ys, rows }
    }

    fn multi(&self) -> bool {
        self.kind == TargetKind::Tag
    }

    fn train(&self, features: usize, on: &[usize], seed: u64) -> Dense {
        let k = self.labels.len();
        let mut d = Dense::new(features + 1, k);
        let mut order: Vec<usize> = on.iter().copied().filter(|&i| self.ys[i].is_some()).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut s = vec![0.0f32; k];
        for _ in 0..EPOCHS {
            order.shuffle(&mut rng);
            for &i in &order {
                let (x, y) = (&self.rows[i], self.ys[i].as_deref().unwrap_or(&[]));
                d.scores(x, &mut s);
                if self.multi() {
                    for (l, &sl) in s.iter().enumerate() {
                        let want = if y.contains(&l) { 1.0 } else { -1.0 };
                        if want * sl <= MARGIN {
                            d.update(x, l, want);
                        }
                    }
                } else if let Some(&t) = y.first() {
                    let rival = (0..k).filter(|&l| l != t).max_by(|&a, &b| s[a].total_cmp(&s[b]));
                    if let Some(r) = rival.filter(|&r| s[r] + MARGIN >= s[t]) {
                        d.update(x, t, 1.0);
                        d.update(x, r, -1.0);
                    }
                }
                d.c += 1.0;
            }
        }
        d
    }
}

fn softmax_top(s: &[f32], a: f32) -> (usize, f32, Option<usize>) {
    let mut idx: Vec<usize> = (0..s.len()).collect();
    idx.sort_unstable_by(|&x, &y| s[y].total_cmp(&s[x]));
    let max = s[idx[0]];
    let z: f32 = s.iter().map(|v| ((v - max) * a).exp()).sum();
    (idx[0], 1.0 / z, idx.get(1).copied())
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Fits the confidence curve on held-out scores by the smallest log loss over a grid.
fn calibrate(multi: bool, held: &[(Vec<f32>, Vec<usize>)]) -> (f32, f32) {
    let scales: Vec<f32> = (0..40).map(|i| 0.25 * 1.2f32.powi(i)).collect();
    let shifts: Vec<f32> = if multi { (0..33).map(|i| -8.0 + 0.5 * i as f32).collect() } else { vec![0.0] };
    let mut best = (f32::INFINITY, 1.0, 0.0);
    for &a in &scales {
        for &b in &shifts {
            let mut loss = 0.0f32;
            for (s, y) in held {
                if multi {
                    for (l, &sl) in s.iter().enumerate() {
                        let p = sigmoid(sl * a + b).clamp(1e-6, 1.0 - 1e-6);
                        loss -= if y.contains(&l) { p.ln() } else { (1.0 - p).ln() };
                    }
                } else if let Some(&t) = y.first() {
                    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let z: f32 = s.iter().map(|v| ((v - max) * a).exp()).sum();
                    loss -= (((s[t] - max) * a).exp() / z).max(1e-6).ln();
                }
            }
            if loss < best.0 {
                best = (loss, a, b);
            }
        }
    }
    (best.1, best.2)
}

/// The held-out share right: one-of-many, the top label; tags, every yes/no.
fn accuracy(multi: bool, held: &[(Vec<f32>, Vec<usize>)]) -> Option<f32> {
    if held.is_empty() {
        return None;
    }
    let right = held
        .iter()
        .filter(|(s, y)| {
            if multi { s.iter().enumerate().all(|(l, &v)| (v > 0.0) == y.contains(&l)) } else { y.first() == Some(&softmax_top(s, 1.0).0) }
        })
        .count();
    Some(right as f32 / held.len() as f32)
}

/// A training fed page by page, so that no more than a page of texts is held at once: first
/// every text is counted ([`Trainer::count`]), then every example is added ([`Trainer::add`],
/// the same documents in the same order), then [`Trainer::finish`] learns. What is kept per
/// document is its vector (at most [`DOC_FEATURES`] features) and its labels.
#[derive(Default)]
pub struct Trainer {
    started: Option<std::time::Instant>,
    df: HashMap<u64, u32>,
    counted: usize,
    vocab: Option<Vocab>,
    rows: Vec<Row>,
    labels: Vec<[Option<Vec<Id>>; 4]>,
}

struct Vocab {
    hashes: Vec<u64>,
    index: HashMap<u64, u32>,
    idf: Vec<f32>,
    terms: Vec<String>,
}

/// Per example, a field's labels (None: not an example of that field).
type Labels = Vec<Option<Vec<Id>>>;

/// The fields in the order of [`Example`]'s labels.
const FIELDS: [TargetKind; 4] = [TargetKind::Correspondent, TargetKind::DocumentType, TargetKind::Folder, TargetKind::Tag];

impl Trainer {
    pub fn new() -> Trainer {
        Trainer { started: Some(std::time::Instant::now()), ..Trainer::default() }
    }

    /// First pass: one document's text.
    pub fn count(&mut self, text: &str) {
        for h in features(text, |_, _| {}).into_keys() {
            *self.df.entry(h).or_default() += 1;
        }
        self.counted += 1;
    }

    /// Between the passes: the vocabulary (features in two documents or more, the most
    /// frequent first, up to the caps).
    fn vocabulary(&mut self) -> &Vocab {
        if self.vocab.is_none() {
            let n = self.counted;
            let mut vocab: Vec<(u64, u32)> = std::mem::take(&mut self.df).into_iter().filter(|(_, c)| *c >= MIN_DF).collect();
            vocab.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // Weights are bounded later (per field); the vocabulary by its own cap here.
            vocab.truncate(MAX_VOCAB);
            vocab.sort_unstable_by_key(|v| v.0);
            let index = vocab.iter().enumerate().map(|(i, v)| (v.0, i as u32)).collect();
            let idf = vocab.iter().map(|v| ((1.0 + n as f32) / (1.0 + v.1 as f32)).ln() + 1.0).collect();
            self.vocab = Some(Vocab { hashes: vocab.iter().map(|v| v.0).collect(), index, idf, terms: vec![String::new(); vocab.len()] });
        }
        self.vocab.as_ref().expect("just built")
    }

    /// Second pass: one example (its text as a vector, and its labels).
    pub fn add(&mut self, e: &Example) {
        self.vocabulary();
        let v = self.vocab.as_mut().expect("built above");
        let counts = features(&e.text, |h, spell| {
            if let Some(&i) = v.index.get(&h)
                && v.terms[i as usize].is_empty()
            {
                v.terms[i as usize] = spell();
            }
        });
        self.rows.push(row_of(&counts, &v.index, &v.idf));
        self.labels.push(FIELDS.map(|k| e.labels(k)));
    }

    /// Learns every field with labels to tell apart. None when no field has two labels (or,
    /// for tags, a tag on at least [`MIN_EXAMPLES`] documents).
    pub fn finish(mut self) -> Option<(Model, TrainStats)> {
        self.vocabulary();
        let n = self.rows.len();
        let mut tasks: Vec<(TargetKind, Vec<Id>, Labels)> = Vec::new();
        for (f, kind) in FIELDS.into_iter().enumerate() {
            let ys: Vec<Option<Vec<Id>>> = self.labels.iter_mut().map(|l| l[f].take()).collect();
            let mut count: HashMap<Id, usize> = HashMap::new();
            for l in ys.iter().flatten().flatten() {
                *count.entry(*l).or_default() += 1;
            }
            let mut labels: Vec<Id> = count.into_iter().filter(|(_, c)| *c >= MIN_EXAMPLES).map(|(l, _)| l).collect();
            labels.sort_unstable();
            let enough = if kind == TargetKind::Tag { !labels.is_empty() } else { labels.len() >= 2 };
            if enough {
                tasks.push((kind, labels, ys));
            }
        }
        if tasks.is_empty() {
            return None;
        }
        let Vocab { mut hashes, mut index, mut idf, mut terms } = self.vocab.take().expect("built above");
        // Many labels: fewer features, the most frequent kept, so the weights stay bounded.
        let labels_total: usize = tasks.iter().map(|t| t.1.len()).sum();
        let cap = (WEIGHT_BUDGET / labels_total.max(1)).max(1000);
        let mut rows = std::mem::take(&mut self.rows);
        if hashes.len() > cap {
            let mut by_df: Vec<usize> = (0..hashes.len()).collect();
            // A lower idf is a higher document frequency.
            by_df.sort_unstable_by(|&a, &b| idf[a].total_cmp(&idf[b]).then(hashes[a].cmp(&hashes[b])));
            let mut new_of = vec![u32::MAX; hashes.len()];
            let mut kept: Vec<usize> = by_df.into_iter().take(cap).collect();
            kept.sort_unstable();
            for (new, &old) in kept.iter().enumerate() {
                new_of[old] = new as u32;
            }
            for r in rows.iter_mut() {
                let (idx, val): (Vec<u32>, Vec<f32>) = r
                    .idx
                    .iter()
                    .zip(&r.val)
                    .filter(|(i, _)| new_of[**i as usize] != u32::MAX)
                    .map(|(i, v)| (new_of[*i as usize], *v))
                    .unzip();
                *r = Row { idx, val };
            }
            hashes = kept.iter().map(|&i| hashes[i]).collect();
            idf = kept.iter().map(|&i| idf[i]).collect();
            terms = kept.iter().map(|&i| std::mem::take(&mut terms[i])).collect();
            index = hashes.iter().enumerate().map(|(i, h)| (*h, i as u32)).collect();
        }
        let features = hashes.len();
        let all: Vec<usize> = (0..n).collect();
        let (fit, held): (Vec<usize>, Vec<usize>) =
            if n >= CALIBRATE_FROM { all.iter().partition(|&&i| i % 10 != 7) } else { (all.clone(), vec![]) };
        let mut heads = Vec::new();
        let mut stats = TrainStats { documents: n, features, ..TrainStats::default() };
        // The fields learn side by side (one thread each; they share the documents' vectors).
        let learned: Vec<(FieldStats, Head)> = std::thread::scope(|scope| {
            let (rows, fit, held, all) = (&rows, &fit, &held, &all);
            let running: Vec<_> = tasks
                .into_iter()
                .map(|(kind, labels, ys)| scope.spawn(move || learn(Task::new(kind, labels, ys, rows), features, fit, held, all)))
                .collect();
            running.into_iter().filter_map(|t| t.join().ok()).collect()
        });
        for (field, head) in learned {
            stats.fields.push(field);
            heads.push(head);
        }
        stats.train_ms = self.started.map_or(0, |t| t.elapsed().as_millis() as u64);
        Some((Model { hashes, terms, idf, index, heads }, stats))
    }
}

/// Trains a model on examples held in memory (the two passes of a [`Trainer`]).
pub fn train(examples: Vec<Example>) -> Option<(Model, TrainStats)> {
    let mut t = Trainer::new();
    for e in &examples {
        t.count(&e.text);
    }
    for e in &examples {
        t.add(e);
    }
    drop(examples);
    t.finish()
}

/// One field: calibrated on the held-out tenth of a first training (when there is one), then
/// trained on every example.
fn learn(task: Task<'_>, features: usize, fit: &[usize], held: &[usize], all: &[usize]) -> (FieldStats, Head) {
    let multi = task.multi();
    let examples_of = task.ys.iter().filter(|y| y.is_some()).count();
    let (a, b, acc) = if held.is_empty() {
        // Too few documents to hold some out: an example learned with the margin scores about
        // 1 above its rivals (one-of-many) or above 0 (a tag), which these curves read as
        // about 95 % sure.
        (if multi { 3.0 } else { 4.0 }, 0.0, None)
    } else {
        // Averaged weights for scoring the held-out part.
        let (r, e) = task.train(features, fit, 17).finish();
        let avg = dense_from(&r, &e, task.labels.len());
        let mut s = vec![0.0; task.labels.len()];
        let scored: Vec<(Vec<f32>, Vec<usize>)> = held
            .iter()
            .filter_map(|&i| {
                let y = task.ys[i].clone()?;
                if !multi && y.is_empty() {
                    return None;
                }
                avg.scores(&task.rows[i], &mut s);
                Some((s.clone(), y))
            })
            .collect();
        let (a, b) = calibrate(multi, &scored);
        (a, b, accuracy(multi, &scored))
    };
    let (rows, entries) = task.train(features, all, 17).finish();
    let field = FieldStats { kind: Some(task.kind), labels: task.labels.len(), examples: examples_of, held_out_accuracy: acc };
    (field, Head { kind: task.kind, labels: task.labels, rows, entries, a, b })
}

fn dense_from(rows: &[u32], entries: &[(u32, f32)], k: usize) -> Dense {
    let mut d = Dense::new(rows.len() - 1, k);
    for r in 0..rows.len() - 1 {
        for &(l, v) in &entries[rows[r] as usize..rows[r + 1] as usize] {
            d.w[r * k + l as usize] = v;
        }
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Classifying

impl Head {
    fn scores(&self, x: &Row) -> Vec<f32> {
        let mut s = vec![0.0f32; self.labels.len()];
        let bias = self.rows.len() - 2;
        let row = |r: usize| &self.entries[self.rows[r] as usize..self.rows[r + 1] as usize];
        for &(l, w) in row(bias) {
            s[l as usize] += w;
        }
        for (&i, &v) in x.idx.iter().zip(&x.val) {
            for &(l, w) in row(i as usize) {
                s[l as usize] += v * w;
            }
        }
        s
    }

    /// The features that weighed most for `label` (against `rival`, when there is one).
    fn why(&self, x: &Row, label: usize, rival: Option<usize>, terms: &[String]) -> Vec<String> {
        let weight = |r: usize, l: usize| {
            self.entries[self.rows[r] as usize..self.rows[r + 1] as usize].iter().find(|e| e.0 as usize == l).map_or(0.0, |e| e.1)
        };
        let mut parts: Vec<(f32, u32)> = x
            .idx
            .iter()
            .zip(&x.val)
            .map(|(&i, &v)| (v * (weight(i as usize, label) - rival.map_or(0.0, |r| weight(i as usize, r))), i))
            .filter(|p| p.0 > 0.0)
            .collect();
        parts.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        parts.into_iter().take(WHY_WORDS).map(|p| terms[p.1 as usize].clone()).collect()
    }
}

impl Model {
    fn row(&self, text: &str) -> Row {
        row_of(&features(text, |_, _| {}), &self.index, &self.idf)
    }

    /// What the model thinks of a text: the top label of each one-of-many field and every tag
    /// at or above `min_confidence`, most confident first.
    pub fn classify(&self, text: &str, min_confidence: f32) -> Vec<Prediction> {
        let x = self.row(text);
        let mut out = Vec::new();
        for h in &self.heads {
            let s = h.scores(&x);
            if h.kind == TargetKind::Tag {
                for (l, &v) in s.iter().enumerate() {
                    let p = sigmoid(v * h.a + h.b);
                    if p >= min_confidence {
                        out.push(Prediction {
                            kind: h.kind,
                            target_id: h.labels[l],
                            confidence: p,
                            words: h.why(&x, l, None, &self.terms),
                        });
                    }
                }
            } else {
                let (top, p, rival) = softmax_top(&s, h.a);
                if p >= min_confidence {
                    out.push(Prediction {
                        kind: h.kind,
                        target_id: h.labels[top],
                        confidence: p,
                        words: h.why(&x, top, rival, &self.terms),
                    });
                }
            }
        }
        out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        out
    }

    /// What the model is at least `min_confidence` sure of, as `auto` rules read it.
    pub fn sure_of(&self, text: &str, min_confidence: f32) -> Vec<super::matching::Learned> {
        self.classify(text, min_confidence).iter().map(Prediction::learned).collect()
    }

    /// The labels each field knows.
    pub fn labels(&self, kind: TargetKind) -> &[Id] {
        self.heads.iter().find(|h| h.kind == kind).map_or(&[], |h| &h.labels)
    }

    pub fn features(&self) -> usize {
        self.hashes.len()
    }

    // -----------------------------------------------------------------------------------------
    // Bytes: little-endian, a magic and a format number first.

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.hashes.len() * 24 + self.heads.iter().map(|h| h.entries.len() * 8).sum::<usize>());
        b.extend_from_slice(MAGIC);
        put_u32(&mut b, self.hashes.len() as u32);
        for ((h, t), idf) in self.hashes.iter().zip(&self.terms).zip(&self.idf) {
            b.extend_from_slice(&h.to_le_bytes());
            b.extend_from_slice(&idf.to_le_bytes());
            put_u32(&mut b, t.len() as u32);
            b.extend_from_slice(t.as_bytes());
        }
        put_u32(&mut b, self.heads.len() as u32);
        for h in &self.heads {
            put_u32(&mut b, TargetKind::ALL.iter().position(|k| *k == h.kind).unwrap_or(0) as u32);
            b.extend_from_slice(&h.a.to_le_bytes());
            b.extend_from_slice(&h.b.to_le_bytes());
            put_u32(&mut b, h.labels.len() as u32);
            for l in &h.labels {
                b.extend_from_slice(&l.to_le_bytes());
            }
            put_u32(&mut b, h.rows.len() as u32);
            for r in &h.rows {
                put_u32(&mut b, *r);
            }
            for (l, w) in &h.entries {
                put_u32(&mut b, *l);
                b.extend_from_slice(&w.to_le_bytes());
            }
        }
        b
    }

    pub fn decode(bytes: &[u8]) -> Result<Model, String> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a docmerge classifier model (or one of a newer format)".into());
        }
        let n = r.u32()? as usize;
        let (mut hashes, mut terms, mut idf) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            hashes.push(r.u64()?);
            idf.push(r.f32()?);
            let len = r.u32()? as usize;
            terms.push(String::from_utf8(r.take(len)?.to_vec()).map_err(|_| "a term is not UTF-8")?);
        }
        let mut heads = Vec::new();
        for _ in 0..r.u32()? {
            let kind = *TargetKind::ALL.get(r.u32()? as usize).ok_or("unknown field")?;
            let (a, b) = (r.f32()?, r.f32()?);
            let labels = (0..r.u32()?).map(|_| r.u64().map(|v| v as Id)).collect::<Result<Vec<_>, _>>()?;
            let rows = (0..r.u32()?).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            if rows.len() != n + 2 || rows.windows(2).any(|w| w[0] > w[1]) {
                return Err("the model's rows do not fit its vocabulary".into());
            }
            let count = *rows.last().unwrap_or(&0) as usize;
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let (l, w) = (r.u32()?, r.f32()?);
                if l as usize >= labels.len() {
                    return Err("a weight names a label the model does not have".into());
                }
                entries.push((l, w));
            }
            heads.push(Head { kind, labels, rows, entries, a, b });
        }
        let index = hashes.iter().enumerate().map(|(i, h)| (*h, i as u32)).collect();
        Ok(Model { hashes, terms, idf, index, heads })
    }
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("the model is cut short")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| "short")?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "short")?))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().map_err(|_| "short")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, c: Option<Id>, t: Option<Id>, tags: &[Id]) -> Example {
        Example { text: text.into(), correspondent: c, document_type: t, folder: None, tags: Some(tags.to_vec()) }
    }

    fn library() -> Vec<Example> {
        let mut out = Vec::new();
        for i in 0..60 {
            let n = i % 3;
            let (who, c) = [
                ("Stadtwerke Nord electricity meter kilowatt", 1),
                ("Allianz insurance policy premium", 2),
                ("Dr Weber dental clinic patient", 3),
            ][n];
            let (what, t, tag) =
                if i % 2 == 0 { ("invoice amount due please pay", 10, 100) } else { ("reminder overdue second notice", 11, 101) };
            out.push(ex(&format!("{who} customer {i} {what} regards"), Some(c), Some(t), &[tag]));
        }
        out
    }

    #[test]
    fn learns_fields_and_explains() {
        let (model, stats) = train(library()).unwrap();
        assert_eq!(stats.fields.len(), 3, "{stats:?}");
        assert!(stats.fields.iter().all(|f| f.held_out_accuracy == Some(1.0)), "{stats:?}");
        let p = model.classify("Allianz: your policy premium, second notice, overdue", 0.0);
        let c = p.iter().find(|p| p.kind == TargetKind::Correspondent).unwrap();
        assert_eq!(c.target_id, 2);
        assert!(c.confidence > 0.5, "{c:?}");
        assert!(c.words.iter().any(|w| ["allianz", "policy", "premium"].contains(&w.as_str())), "{c:?}");
        assert_eq!(p.iter().find(|p| p.kind == TargetKind::DocumentType).unwrap().target_id, 11);
        let tags: Vec<Id> = p.iter().filter(|p| p.kind == TargetKind::Tag && p.confidence >= 0.5).map(|p| p.target_id).collect();
        assert_eq!(tags, vec![101]);
    }

    #[test]
    fn round_trips_through_bytes_and_refuses_garbage() {
        let (model, _) = train(library()).unwrap();
        let bytes = model.encode();
        let back = Model::decode(&bytes).unwrap();
        assert_eq!(back, model);
        assert!(Model::decode(&bytes[..bytes.len() / 2]).is_err());
        assert!(Model::decode(b"hello world").is_err());
    }

    #[test]
    fn nothing_to_learn_is_no_model() {
        assert!(train(vec![ex("a letter", Some(1), None, &[]), ex("another", Some(1), None, &[])]).is_none());
        assert!(train(vec![]).is_none());
    }

    #[test]
    fn words_are_lowercase_and_numbers_short() {
        assert_eq!(words("Rechnung Nr. 2024-000123 über 12,50 EUR"), vec!["rechnung", "nr", "2024", "über", "12", "50", "eur"]);
    }
}
