//! Matching rules (#23): a tag, correspondent, document type or folder says which text it
//! belongs to — any of some words, all of them, an exact phrase, a regular expression or a
//! phrase spelt with a typo or two. Applied when a document finishes processing and again on
//! demand; which rule assigned what is recorded in the document's history.
//!
//! Everything here is pure: the store loads the rules and the text, [`plan`] decides, the
//! store applies the plan in one transaction.

use serde::{Deserialize, Serialize};

use super::{DomainError, DomainResult, Id};

/// How a rule's pattern is compared with a document's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Never matches (the default: a label without a rule).
    None,
    /// Any of the pattern's words (or "quoted phrases") appears as a whole word.
    Any,
    /// Every one of them does.
    All,
    /// The whole pattern appears as written (whitespace runs count as one space), between word
    /// boundaries.
    Exact,
    /// A regular expression, run by a linear-time engine (no backtracking: a pathological
    /// pattern costs time proportional to the text, never more).
    Regex,
    /// The pattern appears with at most a few typos (edit distance, growing with its length).
    Fuzzy,
    /// No pattern: the owner's learned classifier decides (domain::classifier), when it is sure
    /// enough (`classifier.apply_confidence`).
    Auto,
}

impl Algorithm {
    pub const ALL: [Algorithm; 7] =
        [Algorithm::None, Algorithm::Any, Algorithm::All, Algorithm::Exact, Algorithm::Regex, Algorithm::Fuzzy, Algorithm::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::None => "none",
            Algorithm::Any => "any",
            Algorithm::All => "all",
            Algorithm::Exact => "exact",
            Algorithm::Regex => "regex",
            Algorithm::Fuzzy => "fuzzy",
            Algorithm::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> DomainResult<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            DomainError::Invalid(format!("algorithm: {s:?} is not one of {}", Algorithm::ALL.map(Algorithm::as_str).join(", ")))
        })
    }
}

/// What a rule is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Tag,
    Correspondent,
    DocumentType,
    Folder,
    /// A path template (domain::path_templates): the document gets it and is placed by it.
    PathTemplate,
}

impl TargetKind {
    pub const ALL: [TargetKind; 5] =
        [TargetKind::Tag, TargetKind::Correspondent, TargetKind::DocumentType, TargetKind::Folder, TargetKind::PathTemplate];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Tag => "tag",
            TargetKind::Correspondent => "correspondent",
            TargetKind::DocumentType => "document_type",
            TargetKind::Folder => "folder",
            TargetKind::PathTemplate => "path_template",
        }
    }

    /// Whether the learned classifier knows this kind (an `auto` rule needs it to).
    pub fn learned(self) -> bool {
        self != TargetKind::PathTemplate
    }

    pub fn parse(s: &str) -> DomainResult<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| DomainError::not_found(format!("rule target kind {s:?}")))
    }

    /// The table holding the targets of this kind.
    pub fn table(self) -> &'static str {
        match self {
            TargetKind::Tag => "tags",
            TargetKind::Correspondent => "correspondents",
            TargetKind::DocumentType => "document_types",
            TargetKind::Folder => "folders",
            TargetKind::PathTemplate => "path_templates",
        }
    }
}

/// A rule as a user writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRule {
    pub algorithm: Algorithm,
    #[serde(default)]
    pub pattern: String,
    /// Compare without regard to case (the default).
    #[serde(default = "yes")]
    pub insensitive: bool,
}

fn yes() -> bool {
    true
}

/// The longest pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 1000;
/// How much compiled program one regular expression may take (bytes): a pattern that would
/// need more is refused when it is saved, not when a worker runs it.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Matching reads at most this many characters of a document's text (the first pages are
/// where letterheads, subjects and reference numbers are).
pub const MAX_TEXT_CHARS: usize = 200_000;

/// Adds a page to a document's text for matching (pages in order, one per line); false once the
/// text holds more than matching reads, so the caller can stop reading pages.
pub fn add_page(text: &mut String, page: &str) -> bool {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(page);
    text.len() < MAX_TEXT_CHARS * 4
}

impl MatchRule {
    /// Refuses a rule that could never match or could not be run, naming why.
    pub fn validate(&self) -> DomainResult<()> {
        if self.pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(DomainError::Invalid(format!("pattern: at most {MAX_PATTERN_CHARS} characters")));
        }
        if !matches!(self.algorithm, Algorithm::None | Algorithm::Auto) && self.pattern.trim().is_empty() {
            return Err(DomainError::Invalid(format!("pattern: the {} algorithm needs a pattern", self.algorithm.as_str())));
        }
        Compiled::new(self).map(|_| ())
    }
}

/// A target with its rule, as the store loads them (targets that are gone or in the trash are
/// left out by the store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetRule {
    pub kind: TargetKind,
    pub target_id: Id,
    pub target_name: String,
    #[serde(flatten)]
    pub rule: MatchRule,
}

/// A document's text prepared once for every rule: the words (as found and, for
/// case-insensitive rules, lowercased) and the text with whitespace runs as one space.
pub struct Prepared {
    spaced: String,
    spaced_lower: String,
    words: Vec<(usize, String)>,
    words_lower: Vec<String>,
    /// Where each word starts in `spaced`, and each lowercased word in `spaced_lower` (None in
    /// the rare text whose lowercasing splits words differently).
    starts: Vec<usize>,
    starts_lower: Option<Vec<usize>>,
    /// Where each word is (as written, and lowercased), made when a rule first asks.
    index: std::cell::OnceCell<std::collections::HashMap<String, Vec<usize>>>,
    index_lower: std::cell::OnceCell<std::collections::HashMap<String, Vec<usize>>>,
}

impl Prepared {
    pub fn new(text: &str) -> Prepared {
        let cut = match text.char_indices().nth(MAX_TEXT_CHARS) {
            Some((i, _)) => &text[..i],
            None => text,
        };
        let spaced = cut.split_whitespace().collect::<Vec<_>>().join(" ");
        let spaced_lower = spaced.to_lowercase();
        let words = words_of(&spaced);
        let words_lower: Vec<String> = words.iter().map(|(_, w)| w.to_lowercase()).collect();
        let starts = words.iter().map(|(i, _)| *i).collect();
        let lower = words_of(&spaced_lower);
        let starts_lower = (lower.len() == words.len() && lower.iter().zip(&words_lower).all(|((_, a), b)| a == b))
            .then(|| lower.into_iter().map(|(i, _)| i).collect());
        Prepared {
            spaced,
            spaced_lower,
            words,
            words_lower,
            starts,
            starts_lower,
            index: Default::default(),
            index_lower: Default::default(),
        }
    }

    fn positions(&self, insensitive: bool) -> &std::collections::HashMap<String, Vec<usize>> {
        let build = |words: &mut dyn Iterator<Item = &String>| {
            let mut m: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
            for (i, w) in words.enumerate() {
                m.entry(w.clone()).or_default().push(i);
            }
            m
        };
        if insensitive {
            self.index_lower.get_or_init(|| build(&mut self.words_lower.iter()))
        } else {
            self.index.get_or_init(|| build(&mut self.words.iter().map(|(_, w)| w)))
        }
    }
}

fn words_of(s: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(st) = start.take() {
            out.push((st, s[st..i].to_string()));
        }
    }
    if let Some(st) = start {
        out.push((st, s[st..].to_string()));
    }
    out
}

/// The pattern's terms for `any` and `all`: words, or "quoted phrases", each a word sequence.
fn terms(pattern: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, part) in pattern.split('"').enumerate() {
        if i % 2 == 1 {
            let phrase: Vec<String> = words_of(part).into_iter().map(|(_, w)| w).collect();
            if !phrase.is_empty() {
                out.push(phrase);
            }
        } else {
            for w in part.split_whitespace() {
                let phrase: Vec<String> = words_of(w).into_iter().map(|(_, w)| w).collect();
                if !phrase.is_empty() {
                    out.push(phrase);
                }
            }
        }
    }
    out
}

/// Where a rule matched: the byte offset in the prepared text and what was found there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub at: usize,
    pub found: String,
}

/// A rule ready to run.
pub enum Compiled {
    Never,
    Terms { all: bool, insensitive: bool, terms: Vec<Vec<String>> },
    Exact { insensitive: bool, needle: String },
    Regex(regex::Regex),
    Fuzzy { insensitive: bool, words: usize, needle: Vec<char>, max_edits: usize, pieces: Vec<String> },
}

/// A match within `edits` edits contains one of `edits + 1` pieces of the needle unchanged
/// (pigeonhole): the pieces to look for before measuring any distance.
fn pieces_of(needle: &[char], edits: usize) -> Vec<String> {
    let n = edits + 1;
    let len = needle.len() / n;
    (0..n).map(|i| needle[i * len..if i + 1 == n { needle.len() } else { (i + 1) * len }].iter().collect()).collect()
}

/// Typos allowed in a fuzzy pattern of this many characters: none below 4, then one per 6.
fn fuzzy_edits(chars: usize) -> usize {
    if chars < 4 { 0 } else { (chars / 6).clamp(1, 4) }
}

impl Compiled {
    pub fn new(rule: &MatchRule) -> DomainResult<Compiled> {
        let ins = rule.insensitive;
        let lower = |s: &str| if ins { s.to_lowercase() } else { s.to_string() };
        Ok(match rule.algorithm {
            // An auto rule is decided by the classifier's predictions (see [`plan_with`]).
            Algorithm::None | Algorithm::Auto => Compiled::Never,
            Algorithm::Any | Algorithm::All => {
                let terms: Vec<Vec<String>> = terms(&rule.pattern).into_iter().map(|t| t.iter().map(|w| lower(w)).collect()).collect();
                if terms.is_empty() {
                    return Err(DomainError::Invalid("pattern: no words to look for".into()));
                }
                Compiled::Terms { all: rule.algorithm == Algorithm::All, insensitive: ins, terms }
            }
            Algorithm::Exact => {
                Compiled::Exact { insensitive: ins, needle: lower(&rule.pattern.split_whitespace().collect::<Vec<_>>().join(" ")) }
            }
            Algorithm::Regex => regex::RegexBuilder::new(&rule.pattern)
                .case_insensitive(ins)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Compiled::Regex)
                .map_err(|e| {
                    DomainError::Invalid(format!("pattern: not a regular expression we can run: {}", first_line(&e.to_string())))
                })?,
            Algorithm::Fuzzy => {
                let spaced = lower(&words_of(&rule.pattern).into_iter().map(|(_, w)| w).collect::<Vec<_>>().join(" "));
                if spaced.is_empty() {
                    return Err(DomainError::Invalid("pattern: no words to look for".into()));
                }
                let needle: Vec<char> = spaced.chars().collect();
                let max_edits = fuzzy_edits(needle.len());
                let pieces = pieces_of(&needle, max_edits);
                Compiled::Fuzzy { insensitive: ins, words: spaced.split(' ').count(), max_edits, needle, pieces }
            }
        })
    }

    /// The first place the rule matches, if it does.
    pub fn find(&self, text: &Prepared) -> Option<Hit> {
        match self {
            Compiled::Never => None,
            Compiled::Terms { all, insensitive, terms } => {
                let index = text.positions(*insensitive);
                let word_at = |i: usize| if *insensitive { text.words_lower[i].as_str() } else { text.words[i].1.as_str() };
                let mut first: Option<Hit> = None;
                for term in terms {
                    match find_phrase(index, &word_at, text.words.len(), term) {
                        Some(i) => {
                            let at = text.words[i].0;
                            let end_word = &text.words[i + term.len() - 1];
                            let hit = Hit { at, found: text.spaced[at..end_word.0 + end_word.1.len()].to_string() };
                            if !*all {
                                return Some(hit);
                            }
                            if first.as_ref().is_none_or(|f| hit.at < f.at) {
                                first = Some(hit);
                            }
                        }
                        None if *all => return None,
                        None => {}
                    }
                }
                first
            }
            Compiled::Exact { insensitive, needle } => {
                let hay = if *insensitive { &text.spaced_lower } else { &text.spaced };
                let mut from = 0;
                while let Some(i) = hay[from..].find(needle.as_str()).map(|i| i + from) {
                    let end = i + needle.len();
                    let before_ok = hay[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric())
                        || !needle.chars().next().is_some_and(char::is_alphanumeric);
                    let after_ok = hay[end..].chars().next().is_none_or(|c| !c.is_alphanumeric())
                        || !needle.chars().next_back().is_some_and(char::is_alphanumeric);
                    if before_ok && after_ok {
                        return Some(Hit { at: i, found: original_span(text, *insensitive, i, end) });
                    }
                    from = i + hay[i..].chars().next().map_or(1, char::len_utf8);
                }
                None
            }
            Compiled::Regex(re) => re.find(&text.spaced).map(|m| Hit { at: m.start(), found: clip(m.as_str()) }),
            Compiled::Fuzzy { insensitive, words, needle, max_edits, pieces } => {
                let ins = *insensitive;
                let hay = if ins { &text.spaced_lower } else { &text.spaced };
                let n = text.words.len();
                let word = |i: usize| if ins { text.words_lower[i].as_str() } else { text.words[i].1.as_str() };
                // The words where a piece of the needle occurs: only windows holding one of
                // them can be close enough (see pieces_of).
                let starts: Option<&[usize]> = if ins { text.starts_lower.as_deref() } else { Some(&text.starts) };
                let mut candidates: Vec<usize> = Vec::new();
                for p in pieces {
                    for (off, _) in hay.match_indices(p.as_str()) {
                        match starts {
                            Some(st) => candidates.push(st.partition_point(|&s| s <= off).saturating_sub(1)),
                            None => {
                                candidates = (0..n).collect();
                                break;
                            }
                        }
                    }
                }
                candidates.sort_unstable();
                candidates.dedup();
                let mut tried = std::collections::HashSet::new();
                let mut best: Option<(usize, usize, usize)> = None; // (edits, first word, word count)
                let mut buf: Vec<char> = Vec::with_capacity(needle.len() * 2);
                for &w in &candidates {
                    for start in w.saturating_sub(*words)..=w {
                        for count in words.saturating_sub(1).max(1)..=words + 1 {
                            if start + count > n || start + count <= w || !tried.insert((start, count)) {
                                continue;
                            }
                            buf.clear();
                            for k in start..start + count {
                                if k > start {
                                    buf.push(' ');
                                }
                                buf.extend(word(k).chars());
                            }
                            if buf.len().abs_diff(needle.len()) > *max_edits {
                                continue;
                            }
                            if let Some(d) = bounded_edit_distance(&buf, needle, *max_edits)
                                && best.is_none_or(|b| d < b.0 || (d == b.0 && start < b.1))
                            {
                                best = Some((d, start, count));
                            }
                        }
                    }
                }
                best.map(|(_, start, count)| {
                    let at = text.words[start].0;
                    let last = &text.words[start + count - 1];
                    Hit { at, found: clip(&text.spaced[at..last.0 + last.1.len()]) }
                })
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

/// At most 80 characters of what matched (for the history and the UI).
fn clip(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The original-case text at a span of the lowercased text (lowercasing can change lengths, so
/// the span is mapped by character counts).
fn original_span(text: &Prepared, insensitive: bool, start: usize, end: usize) -> String {
    if !insensitive || text.spaced.len() == text.spaced_lower.len() {
        return clip(text.spaced.get(start..end).unwrap_or_default());
    }
    let (cs, ce) = (text.spaced_lower[..start].chars().count(), text.spaced_lower[..end].chars().count());
    clip(&text.spaced.chars().skip(cs).take(ce - cs).collect::<String>())
}

/// The first place the phrase's words follow each other (by the word index: the places of its
/// first word, then a look at the next ones).
fn find_phrase<'a>(
    index: &std::collections::HashMap<String, Vec<usize>>,
    word_at: &dyn Fn(usize) -> &'a str,
    count: usize,
    phrase: &[String],
) -> Option<usize> {
    let (first, rest) = phrase.split_first()?;
    index.get(first)?.iter().copied().find(|&i| i + phrase.len() <= count && rest.iter().enumerate().all(|(k, p)| word_at(i + 1 + k) == p))
}

/// Levenshtein distance of two strings if it is at most `max` (a band of the table only).
fn bounded_edit_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[b.len()] <= max).then_some(prev[b.len()])
}

/// Every rule of an owner, compiled once for many documents.
pub struct RuleSet {
    rules: Vec<(TargetRule, Compiled)>,
}

impl RuleSet {
    /// Compiles the rules; one that no longer compiles (saved by an older version) is skipped.
    pub fn new(rules: Vec<TargetRule>) -> RuleSet {
        RuleSet { rules: rules.into_iter().filter_map(|r| Compiled::new(&r.rule).ok().map(|c| (r, c))).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Some rule leaves the decision to the classifier.
    pub fn has_auto(&self) -> bool {
        self.rules.iter().any(|(r, _)| r.rule.algorithm == Algorithm::Auto)
    }
}

/// What a document has now, as far as matching cares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocState {
    pub document_id: Id,
    pub tag_ids: Vec<Id>,
    pub correspondent_id: Option<Id>,
    pub document_type_id: Option<Id>,
    pub folder_id: Id,
    /// The document is in its owner's Inbox (where uploads land): only then may a folder rule
    /// move it; a folder the user chose stands.
    pub in_inbox: bool,
    pub path_template_id: Option<Id>,
}

/// One assignment and the rule behind it (kept in the history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub kind: TargetKind,
    pub target_id: Id,
    pub target_name: String,
    pub algorithm: Algorithm,
    pub pattern: String,
    /// What in the text matched.
    pub found: String,
}

/// What matching would change on one document: only additions (tags) and empty slots filled
/// (correspondent, type, a folder for an Inbox document); a user's choice is never replaced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchPlan {
    pub document_id: Id,
    pub add_tags: Vec<Id>,
    pub correspondent_id: Option<Id>,
    pub document_type_id: Option<Id>,
    pub folder_id: Option<Id>,
    #[serde(default)]
    pub path_template_id: Option<Id>,
    pub assigned: Vec<Assignment>,
    /// Rules that matched but changed nothing (the tag was there already, a correspondent was
    /// set, a second candidate lost to an earlier one).
    pub also_matched: Vec<Assignment>,
}

impl MatchPlan {
    pub fn changes_something(&self) -> bool {
        !self.assigned.is_empty()
    }
}

/// Runs every rule over the text and decides. Tags: each matching tag is added. Correspondent,
/// type and folder: when the slot is empty, the candidate whose match comes first in the text
/// wins (a letterhead beats a mention further down).
pub fn plan(rules: &RuleSet, text: &Prepared, doc: &DocState) -> MatchPlan {
    plan_with(rules, text, doc, &[])
}

/// A target the learned classifier (domain::classifier) is sure enough of, as an `auto` rule
/// reads it: why, in words (how sure, from which words).
#[derive(Clone, Debug, PartialEq)]
pub struct Learned {
    pub kind: TargetKind,
    pub target_id: Id,
    pub why: String,
}

/// [`plan`] with what the classifier is sure enough of for the document: an `auto` rule matches
/// when its target is among them. A rule that found its pattern in the text beats the
/// classifier for a correspondent, type or folder.
pub fn plan_with(rules: &RuleSet, text: &Prepared, doc: &DocState, auto: &[Learned]) -> MatchPlan {
    let mut out = MatchPlan { document_id: doc.document_id, ..MatchPlan::default() };
    let mut best: [Option<(usize, Assignment)>; 4] = [None, None, None, None];
    for (rule, compiled) in &rules.rules {
        let hit = if rule.rule.algorithm == Algorithm::Auto {
            auto.iter().find(|p| p.kind == rule.kind && p.target_id == rule.target_id).map(|p| Hit { at: usize::MAX, found: p.why.clone() })
        } else {
            compiled.find(text)
        };
        let Some(hit) = hit else { continue };
        let a = Assignment {
            kind: rule.kind,
            target_id: rule.target_id,
            target_name: rule.target_name.clone(),
            algorithm: rule.rule.algorithm,
            pattern: rule.rule.pattern.clone(),
            found: hit.found,
        };
        let slot = match rule.kind {
            TargetKind::Tag => {
                if doc.tag_ids.contains(&rule.target_id) || out.add_tags.contains(&rule.target_id) {
                    out.also_matched.push(a);
                } else {
                    out.add_tags.push(rule.target_id);
                    out.assigned.push(a);
                }
                continue;
            }
            TargetKind::Correspondent if doc.correspondent_id.is_none() => 0,
            TargetKind::DocumentType if doc.document_type_id.is_none() => 1,
            TargetKind::Folder if doc.in_inbox && rule.target_id != doc.folder_id => 2,
            TargetKind::PathTemplate if doc.path_template_id.is_none() => 3,
            _ => {
                out.also_matched.push(a);
                continue;
            }
        };
        match &best[slot] {
            Some((at, _)) if *at <= hit.at => out.also_matched.push(a),
            _ => {
                if let Some((_, lost)) = best[slot].replace((hit.at, a)) {
                    out.also_matched.push(lost);
                }
            }
        }
    }
    for (slot, won) in best.into_iter().enumerate() {
        let Some((_, a)) = won else { continue };
        match slot {
            0 => out.correspondent_id = Some(a.target_id),
            1 => out.document_type_id = Some(a.target_id),
            2 => out.folder_id = Some(a.target_id),
            _ => out.path_template_id = Some(a.target_id),
        }
        out.assigned.push(a);
    }
    out
}

impl DocState {
    /// A document's state; `inbox` is its owner's Inbox folder.
    pub fn of(doc: &super::Document, inbox: Id) -> DocState {
        DocState {
            document_id: doc.id,
            tag_ids: doc.tags.iter().map(|t| t.id).collect(),
            correspondent_id: doc.meta.correspondent.as_ref().map(|l| l.id),
            document_type_id: doc.meta.document_type.as_ref().map(|l| l.id),
            folder_id: doc.folder_id,
            in_inbox: doc.folder_id == inbox,
            path_template_id: doc.meta.path_template.as_ref().map(|l| l.id),
        }
    }
}

/// A plan checked against the document as it is when it is applied (a user may have filled a
/// slot or filed the document since it was made): the patch, the tags to add and the
/// assignments that still hold. None when nothing is left to do.
pub fn still_applies(plan: &MatchPlan, now: &DocState) -> Option<(super::metadata::DocumentPatch, Vec<Id>, Vec<Assignment>)> {
    let mut patch = super::metadata::DocumentPatch::default();
    let add_tags: Vec<Id> = plan.add_tags.iter().copied().filter(|t| !now.tag_ids.contains(t)).collect();
    let mut kept = Vec::new();
    for a in &plan.assigned {
        let holds = match a.kind {
            TargetKind::Tag => add_tags.contains(&a.target_id),
            TargetKind::Correspondent => now.correspondent_id.is_none(),
            TargetKind::DocumentType => now.document_type_id.is_none(),
            TargetKind::Folder => now.in_inbox && now.folder_id != a.target_id,
            TargetKind::PathTemplate => now.path_template_id.is_none(),
        };
        if !holds {
            continue;
        }
        match a.kind {
            TargetKind::Tag => {}
            TargetKind::Correspondent => patch.correspondent_id = Some(Some(a.target_id)),
            TargetKind::DocumentType => patch.document_type_id = Some(Some(a.target_id)),
            TargetKind::Folder => patch.folder_id = Some(a.target_id),
            TargetKind::PathTemplate => patch.path_template_id = Some(Some(a.target_id)),
        }
        kept.push(a.clone());
    }
    (!kept.is_empty()).then_some((patch, add_tags, kept))
}

/// Who changed a document by its rules, for its history: docmerge, action `matched`, with the
/// rules that held.
pub fn edited_by(kept: &[Assignment]) -> super::metadata::EditedBy {
    super::metadata::EditedBy {
        actor_id: None,
        action: super::metadata::actions::MATCHED,
        why: Some(("rules", serde_json::to_value(kept).unwrap_or_default())),
    }
}

/// Documents per transaction when a job applies plans.
pub const CHUNK: usize = 50;

/// A `match_documents` job (after processing: one document; "re-run matching": a selection).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchArgs {
    pub owner_id: Id,
    pub documents: Vec<Id>,
    /// After processing: the owner's "processed" workflows run once the rules are applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub then_workflows: bool,
}

/// A match job runs before processing jobs, like a bulk edit.
pub const PRIORITY: i32 = 15;

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(a: Algorithm, p: &str) -> MatchRule {
        MatchRule { algorithm: a, pattern: p.into(), insensitive: true }
    }

    fn hit(a: Algorithm, p: &str, text: &str) -> Option<String> {
        Compiled::new(&rule(a, p)).unwrap().find(&Prepared::new(text)).map(|h| h.found)
    }

    #[test]
    fn any_all_and_phrases() {
        let t = "ACME Corp.\nInvoice no. 2025-117\nTotal due: 1.234,00 EUR";
        assert_eq!(hit(Algorithm::Any, "rechnung invoice", t).as_deref(), Some("Invoice"));
        assert_eq!(hit(Algorithm::Any, "rechnung facture", t), None);
        assert_eq!(hit(Algorithm::All, "invoice acme", t).as_deref(), Some("ACME"));
        assert_eq!(hit(Algorithm::All, "invoice reminder", t), None);
        assert_eq!(hit(Algorithm::Any, "\"total due\"", t).as_deref(), Some("Total due"));
        assert_eq!(hit(Algorithm::Any, "\"due total\"", t), None);
        // Whole words only.
        assert_eq!(hit(Algorithm::Any, "voice", t), None);
        let cs = MatchRule { algorithm: Algorithm::Any, pattern: "acme".into(), insensitive: false };
        assert!(Compiled::new(&cs).unwrap().find(&Prepared::new(t)).is_none());
    }

    #[test]
    fn exact_respects_word_boundaries_and_whitespace() {
        let t = "Stadtwerke  München\nGmbH, Abrechnung";
        assert_eq!(hit(Algorithm::Exact, "stadtwerke münchen gmbh", t).as_deref(), Some("Stadtwerke München GmbH"));
        assert_eq!(hit(Algorithm::Exact, "werke münchen", t), None);
        assert_eq!(hit(Algorithm::Exact, "gmbh,", t).as_deref(), Some("GmbH,"));
    }

    #[test]
    fn a_pathological_regex_runs_in_linear_time() {
        let text = format!("{}b", "a".repeat(50_000));
        let started = std::time::Instant::now();
        assert_eq!(hit(Algorithm::Regex, "^(a+)+$", &text), None);
        assert_eq!(hit(Algorithm::Regex, "(a|aa)+c", &text), None);
        // Generous: a backtracking engine would not finish at all.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(hit(Algorithm::Regex, r"invoice\s+no\.?\s*\d+", "INVOICE No. 77").as_deref(), Some("INVOICE No. 77"));
        assert!(rule(Algorithm::Regex, "(unclosed").validate().is_err());
        assert!(rule(Algorithm::Regex, r"\w{1000}{1000}").validate().is_err(), "too large a program is refused on save");
    }

    #[test]
    fn fuzzy_tolerates_typos_in_proportion() {
        let t = "Sehr geehrte Damen und Herren, Ihre Versicherungsnumer lautet 4711. Allianz Versicherungs-AG";
        assert_eq!(hit(Algorithm::Fuzzy, "versicherungsnummer", t).as_deref(), Some("Versicherungsnumer"));
        assert_eq!(hit(Algorithm::Fuzzy, "allianz versicherungs ag", t).as_deref(), Some("Allianz Versicherungs-AG"));
        assert_eq!(hit(Algorithm::Fuzzy, "alianz", t).as_deref(), Some("Allianz"));
        assert_eq!(hit(Algorithm::Fuzzy, "ergo", t), None);
        assert_eq!(hit(Algorithm::Fuzzy, "und", "and"), None, "short words must be exact");
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(rule(Algorithm::Any, "  ").validate().is_err());
        assert!(rule(Algorithm::None, "").validate().is_ok());
        assert!(rule(Algorithm::Any, &"x".repeat(1001)).validate().is_err());
        assert!(Algorithm::parse("auto-ish").is_err());
        assert!(rule(Algorithm::Auto, "").validate().is_ok(), "auto needs no pattern");
    }

    #[test]
    fn the_earliest_candidate_wins_and_user_choices_stand() {
        let rules = RuleSet::new(vec![
            TargetRule { kind: TargetKind::Correspondent, target_id: 1, target_name: "Bank".into(), rule: rule(Algorithm::Any, "bank") },
            TargetRule { kind: TargetKind::Correspondent, target_id: 2, target_name: "ACME".into(), rule: rule(Algorithm::Any, "acme") },
            TargetRule { kind: TargetKind::Tag, target_id: 10, target_name: "invoice".into(), rule: rule(Algorithm::Any, "invoice") },
            TargetRule { kind: TargetKind::Tag, target_id: 11, target_name: "paid".into(), rule: rule(Algorithm::Any, "paid") },
            TargetRule { kind: TargetKind::Folder, target_id: 20, target_name: "Finance".into(), rule: rule(Algorithm::Any, "invoice") },
        ]);
        let text = Prepared::new("ACME Ltd — invoice, please pay to our bank");
        let doc = DocState { document_id: 5, tag_ids: vec![11], folder_id: 3, in_inbox: true, ..DocState::default() };
        let p = plan(&rules, &text, &doc);
        assert_eq!(p.correspondent_id, Some(2));
        assert_eq!(p.add_tags, vec![10]);
        assert_eq!(p.folder_id, Some(20));
        assert_eq!(p.also_matched.len(), 1, "the bank lost to ACME");
        let filed = DocState { correspondent_id: Some(1), in_inbox: false, tag_ids: vec![10], ..doc };
        let p = plan(&rules, &text, &filed);
        assert!(!p.changes_something(), "{p:?}");
    }

    #[test]
    fn auto_rules_follow_the_classifier_and_lose_to_text() {
        let auto = MatchRule { algorithm: Algorithm::Auto, pattern: String::new(), insensitive: true };
        let target = |kind, id: Id, rule: MatchRule| TargetRule { kind, target_id: id, target_name: format!("t{id}"), rule };
        let rules = RuleSet::new(vec![
            target(TargetKind::Correspondent, 1, rule(Algorithm::Any, "bank")),
            target(TargetKind::Correspondent, 2, auto.clone()),
            target(TargetKind::Tag, 10, auto.clone()),
            target(TargetKind::Tag, 11, auto),
        ]);
        assert!(rules.has_auto());
        let said = |kind, id: Id, confidence: f32| Learned {
            kind,
            target_id: id,
            why: format!("{:.0} % sure, from the words acme, acme ltd", confidence * 100.0),
        };
        let doc = DocState { document_id: 7, folder_id: 3, in_inbox: true, ..DocState::default() };
        let p = plan_with(
            &rules,
            &Prepared::new("a letter"),
            &doc,
            &[said(TargetKind::Correspondent, 2, 0.9), said(TargetKind::Tag, 10, 0.95)],
        );
        assert_eq!((p.correspondent_id, p.add_tags.clone()), (Some(2), vec![10]), "{p:?}");
        let why = p.assigned.iter().find(|a| a.kind == TargetKind::Correspondent).unwrap();
        assert_eq!((why.algorithm, why.found.as_str()), (Algorithm::Auto, "90 % sure, from the words acme, acme ltd"));
        // A rule that found its words beats the classifier.
        let p = plan_with(&rules, &Prepared::new("pay to your bank"), &doc, &[said(TargetKind::Correspondent, 2, 0.99)]);
        assert_eq!(p.correspondent_id, Some(1), "{p:?}");
        // No predictions (no model yet, or none sure enough): auto rules match nothing.
        assert!(!plan(&rules, &Prepared::new("acme"), &doc).changes_something());
    }
}
