//! Typographic quotes on OCR'd pages.
//!
//! The recogniser reads most closing quotes and apostrophes of typeset text as straight ones
//! (`It's`, `“chain"`) while it reads opening ones curly. On a page where it read at least one
//! curly quote, the type is typographic, so the straight ones it read are made curly too, by
//! their place in the word: an apostrophe inside or at the end of a word is `’`, a quote
//! opening a word is `“`/`‘`, one closing it `”`/`’`. Pages where nothing was read curly (a
//! typewritten letter, a form in Arial) are left exactly as read.

use super::lines::OcrLine;

fn is_curly(c: char) -> bool {
    matches!(c, '‘' | '’' | '“' | '”')
}

/// Make the straight quotes of `lines` (one page, in reading order) curly when the page shows
/// curly ones elsewhere; line texts and word texts stay character for character aligned.
pub(crate) fn curl_quotes(lines: &mut [OcrLine]) {
    if !lines.iter().any(|l| l.text.chars().any(is_curly)) {
        return;
    }
    for line in lines.iter_mut() {
        if !line.text.contains(['\'', '"']) {
            continue;
        }
        let curled = curl_line(&line.text);
        // Words are the line's non-space characters in order: hand them out again.
        let mut glyphs = curled.chars().filter(|c| !c.is_whitespace());
        let words: Vec<String> = line.words.iter().map(|w| glyphs.by_ref().take(w.text.chars().count()).collect()).collect();
        if glyphs.next().is_none() && words.iter().zip(&line.words).all(|(new, old)| new.chars().count() == old.text.chars().count()) {
            for (w, text) in line.words.iter_mut().zip(words) {
                w.text = text;
            }
        }
        line.text = curled;
    }
}

/// One line's straight quotes made curly by their place in the word.
fn curl_line(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let opens_after = |p: Option<char>| p.is_none_or(|p| p.is_whitespace() || matches!(p, '(' | '[' | '{' | '—' | '–' | '-' | '/'));
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let word_follows = next.is_some_and(|n| !n.is_whitespace());
        let curled = match c {
            '"' if opens_after(prev) && word_follows => '“',
            '"' if !opens_after(prev) => '”',
            // An apostrophe opens a quotation only when a closing one follows on the line
            // ('chopping'); otherwise, at a word's start, it stands for left-out letters ('90s).
            '\'' if opens_after(prev) && next.is_some_and(char::is_alphanumeric) && closes_later(&chars[i + 1..]) => '‘',
            '\'' if !opens_after(prev) || next.is_some_and(char::is_alphanumeric) => '’',
            other => other,
        };
        out.push(curled);
    }
    out
}

/// Whether a single quote closes a word further on (`x'` or `x’` not followed by a letter).
fn closes_later(rest: &[char]) -> bool {
    rest.windows(2)
        .enumerate()
        .any(|(k, w)| matches!(w[1], '\'' | '’') && !w[0].is_whitespace() && !rest.get(k + 2).is_some_and(|n| n.is_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::ocr::OcrWord;

    fn line(text: &str) -> OcrLine {
        let words = text.split_whitespace().map(|w| OcrWord { text: w.to_string(), quad: [[0.0; 2]; 4] }).collect();
        OcrLine { text: text.to_string(), words, confidence: 0.9 }
    }

    #[test]
    fn straight_quotes_become_curly_on_a_page_set_with_curly_ones() {
        let mut page = vec![
            line("Then it’s a “good” start."),
            line("It's many \"nice\" words like \"Huardest gefburn\"? and “chain\" or"),
            line("without 'chopping' notes, the Sequencer's track, a 3½\" disk, '90s"),
        ];
        curl_quotes(&mut page);
        assert_eq!(page[0].text, "Then it’s a “good” start.");
        assert_eq!(page[1].text, "It’s many “nice” words like “Huardest gefburn”? and “chain” or");
        assert_eq!(page[2].text, "without ‘chopping’ notes, the Sequencer’s track, a 3½” disk, ’90s");
        // The words carry the same characters as the line.
        let words: Vec<&str> = page[1].words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, page[1].text.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn a_page_without_curly_quotes_is_left_as_read() {
        let mut page = vec![line("SENATOR'S TRANSPORTATION"), line("a \"quoted\" word, 5' 10\"")];
        let before: Vec<String> = page.iter().map(|l| l.text.clone()).collect();
        curl_quotes(&mut page);
        assert_eq!(page.iter().map(|l| l.text.clone()).collect::<Vec<_>>(), before);
        assert_eq!(page[0].words[0].text, "SENATOR'S");
    }
}
