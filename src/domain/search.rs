//! The search query language, the same on both databases:
//! words (all must match; `word*` is a prefix), `"exact phrase"`, `-word` / `-"phrase"` (exclude),
//! `tag:NAME`, `folder:NAME`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD` (when added), and the
//! metadata filters of `domain::query` (`correspondent:`, `type:`, `asn:`, `created…`,
//! `added…`, custom fields with `:` `<` `>` `<=` `>=`, `has:` / `no:`).
//! Each backend turns a parsed [`SearchQuery`] into its own syntax; user text never reaches SQL
//! or an FTS parser unescaped.

use super::{DomainError, Millis};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// Lower-cased words; more than one = a phrase.
    pub words: Vec<String>,
    pub prefix: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub include: Vec<Term>,
    pub exclude: Vec<Term>,
    pub tags: Vec<String>,
    pub folders: Vec<String>,
    pub before: Option<Millis>,
    pub after: Option<Millis>,
    /// Correspondent, type, ASN, dates, custom fields, `has:`/`no:` (domain::query).
    pub meta: Vec<super::query::MetaFilter>,
    /// The order of a search that only filters (words are ranked instead).
    pub sort: super::DocSort,
    /// How long the database may work on this search before it is stopped (both backends).
    pub time_limit: std::time::Duration,
    /// A search that only filters counts every match (a bulk edit needs them all); otherwise
    /// counting stops after [`FILTER_COUNT_CAP`] (`truncated` then says there are more).
    pub count_all: bool,
}

/// A search that only filters counts its matches up to here: past it, counting costs more than
/// the page itself (every match read), and "more than 1,000" says enough (as for words, [`RANKED_MATCHES`]).
pub const FILTER_COUNT_CAP: i64 = 1_000;

impl SearchQuery {
    pub fn has_text(&self) -> bool {
        !self.include.is_empty()
    }

    /// The same query with each word of at least [`PREFIX_MIN_CHARS`] characters (not a phrase,
    /// not already `word*`) also matching as the start of a longer word: `linn` finds
    /// "LinnSequencer". None when no word changes.
    pub fn widened(&self) -> Option<SearchQuery> {
        let mut wide = self.clone();
        let mut changed = false;
        for t in &mut wide.include {
            if !t.prefix && t.words.len() == 1 && t.words[0].chars().count() >= PREFIX_MIN_CHARS {
                t.prefix = true;
                changed = true;
            }
        }
        changed.then_some(wide)
    }
}

/// Fewer matching documents than this, and the words are also looked up as the start of longer
/// words (below the exact matches). Searches that find enough cost nothing more.
pub const FEW_MATCHES: i64 = 10;

/// Shorter words are not widened: a one- or two-letter prefix matches half the dictionary.
pub const PREFIX_MIN_CHARS: usize = 3;

const MAX_QUERY_CHARS: usize = 1000;
/// Words, phrases, exclusions and `tag:` / `folder:` filters together: every one of them is work
/// for the database, so all of them count.
pub const MAX_TERMS: usize = 32;
/// Words across all terms (a phrase of many words is as much work as many words).
pub const MAX_WORDS: usize = 64;
/// The default for `limits.search_timeout_secs`.
pub const DEFAULT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn parse_query(q: &str) -> Result<SearchQuery, DomainError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(DomainError::Invalid(format!("the search query is longer than {MAX_QUERY_CHARS} characters")));
    }
    let mut out = SearchQuery { time_limit: DEFAULT_TIME_LIMIT, ..SearchQuery::default() };
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let negate = chars[i] == '-';
        if negate {
            i += 1;
            if i >= chars.len() || chars[i].is_whitespace() {
                continue;
            }
        }
        if chars[i] == '"' {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && chars[end] != '"' {
                end += 1;
            }
            if end >= chars.len() {
                return Err(DomainError::Invalid("a quoted phrase is missing its closing quote".into()));
            }
            let phrase: String = chars[start..end].iter().collect();
            // `"due date"<2026-01-01`: a quoted field name.
            if !negate && end + 1 < chars.len() && matches!(chars[end + 1], ':' | '<' | '>') {
                let mut j = end + 1;
                let (op, len) = operator(&chars[j..]);
                j += len;
                let vstart = j;
                if j < chars.len() && chars[j] == '"' {
                    let close = chars[j + 1..].iter().position(|c| *c == '"');
                    let Some(off) = close else { return Err(DomainError::Invalid("a quoted value is missing its closing quote".into())) };
                    j = j + 1 + off + 1;
                } else {
                    while j < chars.len() && !chars[j].is_whitespace() {
                        j += 1;
                    }
                }
                let value: String = chars[vstart..j].iter().collect();
                match super::query::parse_filter(&phrase, op, value.trim_matches('"'))? {
                    Some(f) => out.meta.push(f),
                    None => push_reserved(&mut out, &phrase, value.trim_matches('"'))?,
                }
                i = j;
                continue;
            }
            let words = words_of(&phrase);
            if !words.is_empty() {
                push(&mut out, negate, Term { words, prefix: false });
            }
            i = end + 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            // `key:"a value with spaces"` stays one token.
            if chars[i] == ':' && i + 1 < chars.len() && chars[i + 1] == '"' {
                let close = chars[i + 2..].iter().position(|c| *c == '"');
                match close {
                    Some(off) => {
                        i = i + 2 + off + 1;
                        continue;
                    }
                    None => return Err(DomainError::Invalid("a quoted value is missing its closing quote".into())),
                }
            }
            i += 1;
        }
        let token: String = chars[start..i].iter().collect();
        if let Some((key, value)) = token.split_once(':')
            && !negate
            && matches!(key.to_ascii_lowercase().as_str(), "tag" | "folder" | "before" | "after")
        {
            let value = value.trim_matches('"');
            if value.is_empty() {
                return Err(DomainError::Invalid(format!("{key}: needs a value, e.g. {key}:invoices")));
            }
            match key.to_ascii_lowercase().as_str() {
                // The same filter twice narrows nothing: kept once (names compare case-insensitively).
                "tag" => push_filter(&mut out.tags, value),
                "folder" => push_filter(&mut out.folders, value),
                "before" => out.before = Some(parse_date(value, key)?),
                "after" => out.after = Some(parse_date(value, key)?),
                _ => unreachable!("matched above"),
            }
            continue;
        }
        if !negate
            && let Some((key, op, value)) = split_filter(&token)
            && let Some(f) = super::query::parse_filter(key, op, value)?
        {
            out.meta.push(f);
            continue;
        }
        let prefix = token.ends_with('*');
        let words = words_of(&token);
        if words.is_empty() {
            continue;
        }
        // "foo-bar" or "e.mail" split into several words: treat them as a phrase.
        push(&mut out, negate, Term { prefix: prefix && words.len() == 1, words });
    }
    let terms = out.include.len() + out.exclude.len() + out.tags.len() + out.folders.len() + out.meta.len();
    if terms > MAX_TERMS {
        return Err(DomainError::Invalid(format!(
            "the search query has {terms} terms (words, phrases, exclusions, tag: and folder: filters); at most {MAX_TERMS} are allowed"
        )));
    }
    let words: usize = out.include.iter().chain(&out.exclude).map(|t| t.words.len()).sum();
    if words > MAX_WORDS {
        return Err(DomainError::Invalid(format!("the search query has {words} words; at most {MAX_WORDS} are allowed")));
    }
    if out.include.is_empty() && !out.exclude.is_empty() {
        return Err(DomainError::Invalid("a search needs at least one word to look for, not only exclusions".into()));
    }
    let filters = !out.tags.is_empty() || !out.folders.is_empty() || out.before.is_some() || out.after.is_some() || !out.meta.is_empty();
    if out.include.is_empty() && !filters {
        // `*`, `-`, `""`, `%` or an emoji: nothing the indexes could look up. Listing every
        // document instead would answer a question nobody asked.
        return Err(DomainError::Invalid(
            "the search query has no word to look for (letters or digits), nor a filter (tag:, folder:, correspondent:, type:, created…, a field…)".into(),
        ));
    }
    Ok(out)
}

/// `<`, `<=`, `>`, `>=` or `:` at the start of `chars`, and how many characters it takes.
fn operator(chars: &[char]) -> (super::query::Op, usize) {
    use super::query::Op;
    match (chars.first(), chars.get(1)) {
        (Some('<'), Some('=')) => (Op::Le, 2),
        (Some('>'), Some('=')) => (Op::Ge, 2),
        (Some('<'), _) => (Op::Lt, 1),
        (Some('>'), _) => (Op::Gt, 1),
        _ => (Op::Is, 1),
    }
}

/// `key OP value` in one unquoted token: the key starts with a letter, the value is not empty.
fn split_filter(token: &str) -> Option<(&str, super::query::Op, &str)> {
    let at = token.find([':', '<', '>'])?;
    let key = &token[..at];
    if !key.chars().next().is_some_and(char::is_alphabetic) {
        return None;
    }
    let rest: Vec<char> = token[at..].chars().collect();
    let (op, len) = operator(&rest);
    let value = token[at..].char_indices().nth(len).map(|(i, _)| &token[at + i..]).unwrap_or("").trim_matches('"');
    (!value.is_empty()).then_some((key, op, value))
}

/// `"tag":x` and the like: the older filters with a quoted key.
fn push_reserved(out: &mut SearchQuery, key: &str, value: &str) -> Result<(), DomainError> {
    match key.to_ascii_lowercase().as_str() {
        "tag" => push_filter(&mut out.tags, value),
        "folder" => push_filter(&mut out.folders, value),
        "before" => out.before = Some(parse_date(value, key)?),
        "after" => out.after = Some(parse_date(value, key)?),
        _ => {}
    }
    Ok(())
}

/// The error of a search stopped at its time limit (either backend).
pub fn too_slow(limit: std::time::Duration) -> DomainError {
    DomainError::TooExpensive(format!(
        "the search took longer than {} s and was stopped: make it more specific (fewer or rarer words, or a filter)",
        limit.as_secs_f64()
    ))
}

fn push_filter(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v.to_lowercase() == value.to_lowercase()) {
        list.push(value.to_string());
    }
}

fn push(out: &mut SearchQuery, negate: bool, term: Term) {
    if negate { out.exclude.push(term) } else { out.include.push(term) }
}

/// Splits into lower-case alphanumeric words (what both full-text indexes tokenize on).
pub fn words_of(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

/// `after:` means from the start of that day on; `before:` before the start of that day.
fn parse_date(value: &str, key: &str) -> Result<Millis, DomainError> {
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| DomainError::Invalid(format!("{key}: needs a date like 2024-01-31, not {value:?}")))?;
    let dt = date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    Ok(dt.timestamp_millis())
}

#[cfg(test)]
mod tests {
    #[test]
    fn best_row_per_document_then_by_score() {
        use super::best_per_document;
        // (row, document, page, score)
        let rows = vec![(1, 10, 1, 0.5), (2, 10, 2, 0.9), (3, 11, 1, 0.9), (-10, 10, 0, 0.9), (4, 12, 3, 0.1)];
        let best = best_per_document(rows);
        // Document 10: the title (page 0) and page 2 tie at 0.9; the lower page number wins.
        // Equal scores: the newer document (higher id) first.
        assert_eq!(best, vec![(3, 11, 1, 0.9), (-10, 10, 0, 0.9), (4, 12, 3, 0.1)]);
    }

    use super::*;

    #[test]
    fn parses_all_forms() {
        let q = parse_query(r#"invoice "acme corp" -draft tag:tax folder:"tax 2024" after:2024-01-01 before:2024-12-31 rep*"#).unwrap();
        assert_eq!(q.include.len(), 3);
        assert_eq!(q.include[1].words, vec!["acme", "corp"]);
        assert!(q.include[2].prefix);
        assert_eq!(q.exclude[0].words, vec!["draft"]);
        assert_eq!(q.tags, vec!["tax"]);
        assert_eq!(q.folders, vec!["tax 2024"]);
        assert!(q.after.unwrap() < q.before.unwrap());
    }

    #[test]
    fn hostile_input_is_reduced_to_words() {
        let q = parse_query("'; DROP TABLE documents; -- NEAR(a b) OR *").unwrap();
        for t in &q.include {
            for w in &t.words {
                assert!(w.chars().all(char::is_alphanumeric), "{w}");
            }
        }
        assert!(parse_query("\"unclosed").is_err());
        assert!(parse_query("before:yesterday").is_err());
        assert!(parse_query("-only").is_err());
    }

    #[test]
    fn filters_count_towards_the_term_limit() {
        // 166 tag filters once made PostgreSQL plan for 50 s: every filter counts as a term.
        let many_tags: String = (0..MAX_TERMS + 1).map(|i| format!("tag:t{i} ")).collect();
        let err = parse_query(&many_tags).unwrap_err().to_string();
        assert!(err.contains("at most 32"), "{err}");
        let many_folders: String = (0..MAX_TERMS + 1).map(|i| format!("folder:f{i} ")).collect();
        assert!(parse_query(&many_folders).is_err());
        let mixed: String = (0..20).map(|i| format!("w{i} tag:t{i} ")).collect();
        assert!(parse_query(&mixed).is_err());
        // The same tag repeated is one filter, whatever its case.
        let same = "tag:x ".repeat(166);
        let q = parse_query(&same[..same.len().min(999)]).unwrap();
        assert_eq!(q.tags, vec!["x"]);
        assert_eq!(parse_query("tag:Tax tag:tax folder:A folder:a").unwrap().folders, vec!["A"]);
        let long_phrase = format!("\"{}\"", (0..MAX_WORDS + 1).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" "));
        assert!(parse_query(&long_phrase).unwrap_err().to_string().contains("words"));
    }

    #[test]
    fn a_query_with_nothing_to_look_for_is_refused() {
        for q in ["*", "-", "\"\"", "%", "😀", "* - %", "\u{200d}"] {
            let err = parse_query(q).expect_err(q).to_string();
            assert!(err.contains("no word to look for"), "{q}: {err}");
        }
        assert!(parse_query("tag:x").is_ok());
        assert!(parse_query("after:2024-01-01").is_ok());
        assert!(parse_query("a*").is_ok());
    }
}

/// How many matching pages (and, apart from them, titles) of one user a search ranks at most:
/// the newest ones. Ranking every page that holds a word found on most pages would cost time in
/// proportion to the library; this bounds it. With fewer matches than this (the usual case for
/// a specific search) every match is ranked, and the result says when it was not
/// (`Paged::truncated`).
pub const RANKED_MATCHES: i64 = 1000;

/// One ranked index row: (row id, document id, page number (0 = title), score — higher is better).
pub type Candidate = (i64, i64, i32, f64);

/// Windows of row ids, newest first, for collecting the newest matches of a search without
/// reading every match: `[from, below)` ranges from the top of `lowest..=highest` down, the first
/// a sixteenth of the range, each later one as wide as the density of matches seen so far says
/// the rest needs (with a quarter to spare), eight times what was read when nothing matched yet.
#[derive(Debug, Clone)]
pub struct IdWindows {
    lowest: i64,
    below: i64,
    read: i64,
    first: i64,
}

impl IdWindows {
    /// No window is narrower than this many ids.
    const MIN_SPAN: i64 = 64;

    pub fn new(lowest: i64, highest: i64) -> Self {
        let first = ((highest - lowest + 1) / 16).max(Self::MIN_SPAN);
        IdWindows { lowest, below: highest.saturating_add(1), read: 0, first }
    }

    /// The next window `(from, below)` to read while `found < want`, or `None` when enough were
    /// found or every id was read.
    pub fn next(&mut self, found: i64, want: i64) -> Option<(i64, i64)> {
        if found >= want || self.below <= self.lowest {
            return None;
        }
        let span = if self.read == 0 {
            self.first
        } else if found == 0 {
            self.read.saturating_mul(8)
        } else {
            let per_match = self.read as f64 / found as f64;
            ((want - found) as f64 * per_match * 1.25).ceil().min(i64::MAX as f64) as i64
        };
        let from = self.below.saturating_sub(span.max(Self::MIN_SPAN)).max(self.lowest);
        Some((from, self.below))
    }

    /// Every id from `id` (inclusive) up to the last window's top has been read.
    pub fn read_down_to(&mut self, id: i64) {
        let id = id.clamp(self.lowest, self.below);
        self.read += self.below - id;
        self.below = id;
    }
}

/// Keeps each document's best row (highest score, then the lowest page number) and orders the
/// documents by score, newest document first among equal scores.
pub fn best_per_document(mut rows: Vec<Candidate>) -> Vec<Candidate> {
    rows.sort_by(|a, b| a.1.cmp(&b.1).then(b.3.total_cmp(&a.3)).then(a.2.cmp(&b.2)));
    rows.dedup_by_key(|r| r.1);
    rows.sort_by(|a, b| b.3.total_cmp(&a.3).then(b.1.cmp(&a.1)));
    rows
}

/// Words shown in a search result's snippet.
pub const SNIPPET_WORDS: usize = 24;

/// A search result's snippet, cut from the matched page's (or title's) stored text in the same way
/// on both backends: the window of `SNIPPET_WORDS` words holding the most different searched
/// words (then the most matches), searched words wrapped in `\u{1}` … `\u{2}` (see
/// `snippet_html`), "…" where text was cut off. Matching is by whole lower-cased word, or by
/// prefix for `word*` terms, as the search indexes tokenise.
pub fn snippet(text: &str, q: &SearchQuery) -> String {
    // Byte ranges of the text's words.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    // For each word, which include term (index) it matches, if any; a phrase matches only where
    // all its words stand in a row, and is marked as one (`joined`: continues the mark before).
    let lower: Vec<String> = words.iter().map(|&(s, e)| text[s..e].to_lowercase()).collect();
    let mut hits: Vec<Option<usize>> = vec![None; words.len()];
    let mut joined = vec![false; words.len()];
    for (ti, t) in q.include.iter().enumerate() {
        if t.words.len() > 1 {
            let k = t.words.len();
            let mut i = 0;
            while i + k <= lower.len() {
                if lower[i..i + k] == t.words[..] && hits[i..i + k].iter().all(Option::is_none) {
                    hits[i..i + k].iter_mut().for_each(|h| *h = Some(ti));
                    joined[i + 1..i + k].iter_mut().for_each(|j| *j = true);
                    i += k;
                } else {
                    i += 1;
                }
            }
        } else if let Some(w) = t.words.first() {
            for (i, lw) in lower.iter().enumerate() {
                let matched = if t.prefix { lw.starts_with(w.as_str()) } else { lw == w };
                if matched && hits[i].is_none() {
                    hits[i] = Some(ti);
                }
            }
        }
    }
    let n = words.len();
    let span = SNIPPET_WORDS.min(n);
    // Best window start: most distinct terms, then most hits, then earliest; the first hit is
    // placed a few words in so it has some context before it.
    let mut best = (0usize, 0usize, 0usize);
    if span > 0 {
        for (i, h) in hits.iter().enumerate() {
            if h.is_none() {
                continue;
            }
            let s = i.saturating_sub(3).min(n - span);
            let mut seen = 0u64;
            let mut count = 0;
            for t in hits[s..s + span].iter().flatten() {
                seen |= 1u64 << (t % 64);
                count += 1;
            }
            let key = (seen.count_ones() as usize, count);
            if key > (best.0, best.1) {
                best = (key.0, key.1, s);
            }
        }
    }
    let first = best.2;
    let last = (first + span).min(n);
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    let mut pos = words.get(first).map_or(0, |w| w.0);
    for i in first..last {
        let (s, e) = words[i];
        let continues = joined[i] && i > first;
        if !continues {
            out.push_str(&text[pos..s]);
            if hits[i].is_some() {
                out.push('\u{1}');
            }
        } else {
            // Inside a phrase: the spaces between its words stay inside the mark.
            out.push_str(&text[pos..s]);
        }
        out.push_str(&text[s..e]);
        let phrase_goes_on = i + 1 < last && joined[i + 1];
        if hits[i].is_some() && !phrase_goes_on {
            out.push('\u{2}');
        }
        pos = e;
    }
    if last < n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod window_tests {
    use super::IdWindows;

    /// Reads `matches` (ascending ids) through the windows as the search does, `limit` rows per
    /// read; returns what was kept and how many ids the windows covered.
    fn collect(lowest: i64, highest: i64, matches: &[i64], want: i64) -> (Vec<i64>, i64, usize) {
        let mut w = IdWindows::new(lowest, highest);
        let mut kept: Vec<i64> = Vec::new();
        let mut reads = 0;
        let mut covered = 0;
        while let Some((from, below)) = w.next(kept.len() as i64, want) {
            assert!(from < below, "empty window {from}..{below}");
            reads += 1;
            let limit = (want - kept.len() as i64) as usize;
            let rows: Vec<i64> = matches.iter().rev().copied().filter(|m| *m >= from && *m < below).take(limit).collect();
            let stop = if rows.len() == limit { *rows.last().unwrap() } else { from };
            covered += below - stop;
            kept.extend(rows);
            w.read_down_to(stop);
        }
        (kept, covered, reads)
    }

    fn newest(matches: &[i64], n: usize) -> Vec<i64> {
        matches.iter().rev().take(n).copied().collect()
    }

    #[test]
    fn keeps_exactly_the_newest_matches_whatever_their_density() {
        for (every, count) in [(1, 300_000), (3, 300_000), (100, 300_000), (5_000, 300_000), (1, 50), (7, 900)] {
            let matches: Vec<i64> = (1..=count).filter(|i| i % every == 0).collect();
            let (kept, _, reads) = collect(1, count, &matches, 1001);
            assert_eq!(kept, newest(&matches, 1001), "one in {every} of {count}");
            assert!(reads <= 6, "one in {every}: {reads} reads");
        }
    }

    #[test]
    fn a_phrase_on_one_page_in_a_hundred_reads_about_the_newest_thousand() {
        let matches: Vec<i64> = (1..=300_000).filter(|i| i % 100 == 0).collect();
        let (kept, covered, _) = collect(1, 300_000, &matches, 1001);
        assert_eq!(kept.len(), 1001);
        // The newest 1,001 matches span 100,100 ids; all 300,000 would be read without windows.
        assert!(covered < 140_000, "covered {covered} ids");
    }

    #[test]
    fn clustered_and_missing_matches_end() {
        // All matches among the oldest ids, then none at all.
        let old: Vec<i64> = (10..40).collect();
        assert_eq!(collect(1, 1_000_000, &old, 1001).0, newest(&old, 1001));
        assert!(collect(1, 1_000_000, &[], 1001).0.is_empty());
        assert!(collect(5, 5, &[5], 1001).0 == vec![5]);
    }
}

#[cfg(test)]
mod snippet_tests {
    use super::*;

    fn show(s: &str) -> String {
        s.replace('\u{1}', "[").replace('\u{2}', "]")
    }

    #[test]
    fn marks_words_phrases_and_prefixes_in_the_best_window() {
        let text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen \
                    seventeen eighteen nineteen twenty twentyone twentytwo twentythree twentyfour Invoice from ACME corp, \
                    total due: 12 EUR. Payment reminder.";
        let q = parse_query(r#"invoice "acme corp" pay*"#).unwrap();
        let s = show(&snippet(text, &q));
        assert!(s.starts_with('…'), "{s}");
        // The phrase is one mark, spaces and all (#21: it used to read as separate words).
        assert!(s.contains("[Invoice] from [ACME corp], total due: 12 EUR. [Payment] reminder"), "{s}");
        assert!(!s.ends_with('…'), "{s}");
        assert!(!s.contains("[twenty"), "{s}");
    }

    #[test]
    fn a_phrase_is_marked_only_where_its_words_stand_together() {
        let q = parse_query(r#""acme corp""#).unwrap();
        assert_eq!(show(&snippet("ACME ships; ACME  Corp pays corp", &q)), "ACME ships; [ACME  Corp] pays corp");
        let q = parse_query(r#""new york" york"#).unwrap();
        assert_eq!(show(&snippet("York to New York", &q)), "[York] to [New York]");
    }

    #[test]
    fn widened_words_match_as_prefixes_and_short_ones_stay() {
        let q = parse_query(r#"linn ab "acme corp" inv*"#).unwrap();
        let w = q.widened().unwrap();
        assert!(w.include[0].prefix, "linn widens");
        assert!(!w.include[1].prefix, "two letters stay exact");
        assert!(!w.include[2].prefix, "a phrase stays a phrase");
        assert_eq!(show(&snippet("The LinnSequencer", &w)), "The [LinnSequencer]");
        assert!(parse_query("ab").unwrap().widened().is_none());
    }

    #[test]
    fn short_text_and_no_match_are_whole_and_unmarked() {
        let q = parse_query("missing").unwrap();
        assert_eq!(snippet("Invoice 2024 — ACME", &q), "Invoice 2024 — ACME");
        assert_eq!(snippet("", &q), "");
        let long: String = (0..100).map(|i| format!("w{i} ")).collect();
        let s = snippet(&long, &q);
        assert!(s.starts_with("w0 ") && s.ends_with('…'), "{s}");
        assert_eq!(s.split_whitespace().count(), SNIPPET_WORDS);
    }

    #[test]
    fn case_and_non_ascii_words() {
        let q = parse_query("ÉTÉ").unwrap();
        assert_eq!(show(&snippet("Un été chaud", &q)), "Un [été] chaud");
    }
}
