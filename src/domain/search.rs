//! The search query language, the same on both databases:
//! words (all must match; `word*` is a prefix), `"exact phrase"`, `-word` / `-"phrase"` (exclude),
//! `tag:NAME`, `folder:NAME`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`.
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
}

impl SearchQuery {
    pub fn has_text(&self) -> bool {
        !self.include.is_empty()
    }
}

const MAX_QUERY_CHARS: usize = 1000;
const MAX_TERMS: usize = 32;

pub fn parse_query(q: &str) -> Result<SearchQuery, DomainError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(DomainError::Invalid(format!("the search query is longer than {MAX_QUERY_CHARS} characters")));
    }
    let mut out = SearchQuery::default();
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
                "tag" => out.tags.push(value.to_string()),
                "folder" => out.folders.push(value.to_string()),
                "before" => out.before = Some(parse_date(value, key)?),
                "after" => out.after = Some(parse_date(value, key)?),
                _ => unreachable!("matched above"),
            }
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
    if out.include.len() + out.exclude.len() > MAX_TERMS {
        return Err(DomainError::Invalid(format!("the search query has more than {MAX_TERMS} terms")));
    }
    if out.include.is_empty() && !out.exclude.is_empty() {
        return Err(DomainError::Invalid("a search needs at least one word to look for, not only exclusions".into()));
    }
    Ok(out)
}

fn push(out: &mut SearchQuery, negate: bool, term: Term) {
    if negate { out.exclude.push(term) } else { out.include.push(term) }
}

/// Splits into lower-case alphanumeric words (what both full-text indexes tokenize on).
pub fn words_of(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
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
        let q = parse_query(r#"invoice "acme corp" -draft tag:tax folder:"tax 2024" after:2024-01-01 before:2024-12-31 rep*"#)
            .unwrap();
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
}

/// How many matching pages (and, apart from them, titles) of one user a search ranks at most:
/// the newest ones. Ranking every page that holds a word found on most pages would cost time in
/// proportion to the library; this bounds it. With fewer matches than this (the usual case for
/// a specific search) every match is ranked, and the result says when it was not
/// (`Paged::truncated`).
pub const RANKED_MATCHES: i64 = 1000;

/// One ranked index row: (row id, document id, page number (0 = title), score — higher is better).
pub type Candidate = (i64, i64, i32, f64);

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
    // For each word, which include term (index) it matches, if any.
    let term_of = |w: &str| -> Option<usize> {
        let w = w.to_lowercase();
        q.include.iter().position(|t| {
            if t.prefix { t.words.first().is_some_and(|p| w.starts_with(p.as_str())) } else { t.words.iter().any(|tw| *tw == w) }
        })
    };
    let hits: Vec<Option<usize>> = words.iter().map(|&(s, e)| term_of(&text[s..e])).collect();
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
    for (&(s, e), hit) in words[first..last].iter().zip(&hits[first..last]) {
        out.push_str(&text[pos..s]);
        if hit.is_some() {
            out.push('\u{1}');
            out.push_str(&text[s..e]);
            out.push('\u{2}');
        } else {
            out.push_str(&text[s..e]);
        }
        pos = e;
    }
    if last < n {
        out.push('…');
    }
    out
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
        assert!(s.contains("[Invoice] from [ACME] [corp], total due: 12 EUR. [Payment] reminder"), "{s}");
        assert!(!s.ends_with('…'), "{s}");
        assert!(!s.contains("[twenty"), "{s}");
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
