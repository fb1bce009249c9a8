//! The date a document was written, read from the text of its first pages.
//!
//! A scanned letter or invoice carries the date it was written near its top (`Berlin, den
//! 31.12.2025`, `Invoice date: Dec. 31, 2025`, `Paris, le 1er janvier 2025`); that date, not the
//! day the paper went through the scanner, is what a user sorts and searches by.
//! [`extract_date`] finds it in three steps:
//!
//! 1. **Tokens.** The first [`DateRules::max_chars`] characters (pages joined with a newline) are
//!    cut into runs of digits, runs of letters (lowercased), runs of whitespace and single other
//!    characters. No regular expressions: one pass over the characters.
//! 2. **Candidates.** A small matcher tries, at each token, the formats below. A candidate must
//!    stand on its own: it is not glued to letters or digits (`Email`, `131.12.2025`), not the
//!    middle of a longer chain of numbers (`10.10.10.12`, `1.12.2025.3`), not a phone number
//!    (`030 12.34.5678`), and it is a real day of the calendar between [`DateRules::floor`] and
//!    [`DateRules::today`].
//!    - `iso`: `2025-12-31`, `2025/12/31`, `2025.12.31` (a timestamp `2025-12-31T10:00` too);
//!    - `numeric`: `31.12.2025`, `12/31/2025`, `31-12-25`, read by [`DateRules::order`] unless one
//!      of the two numbers is above 12, or unless the document's own unambiguous dates (say
//!      `05/24/2019`) all use the other order;
//!    - `day-month-name`: `31. Dezember 2025`, `1er janvier 2025`, `31st of December 2025`,
//!      `31-Dec-2025`, `31 de diciembre de 2025`;
//!    - `month-name-day`: `December 31st, 2025`, `Dec. 31, 2025`;
//!    - `month-year`: `Dezember 2025`, `décembre 2025` (read as the 1st of the month).
//!
//!    Month names are English, German, French, Spanish, Italian and Dutch, full or abbreviated,
//!    with or without accents (`month_number`).
//! 3. **Plausibility.** Every candidate gets a score (see `Label::weight` and `score`). A label
//!    before it on its line — or, when nothing is, in the cell of the line above (a label over its
//!    value, a table's column header) — raises it (`Datum:`, `Invoice date`, `Fait à … le`) or
//!    lowers it when it names another kind of date (`fällig`, `due`, `geboren`, `valid until`,
//!    `Lieferdatum`) or another paper (`Ihr Schreiben vom`); either end of a range
//!    (`01.12.2025 – 31.12.2025`) is a period's. The further down the page and the later the
//!    page, the lower. A full date always beats a bare month and year; among equal scores the
//!    earliest in the text wins.

use std::cmp::Reverse;

use chrono::{Datelike, NaiveDate};

/// Rule name of an ISO date: `2025-12-31`, `2025/12/31`, `2025.12.31`.
pub const RULE_ISO: &str = "iso";
/// Rule name of an all-numeric date: `31.12.2025`, `12/31/2025`, `31-12-25`.
pub const RULE_NUMERIC: &str = "numeric";
/// Rule name of a day, a month name and a year: `31. Dezember 2025`, `1er janvier 2025`.
pub const RULE_DAY_MONTH_NAME: &str = "day-month-name";
/// Rule name of a month name, a day and a year: `December 31st, 2025`.
pub const RULE_MONTH_NAME_DAY: &str = "month-name-day";
/// Rule name of a month name and a year without a day (`Dezember 2025`): the 1st of the month.
pub const RULE_MONTH_YEAR: &str = "month-year";

/// How an all-numeric date like 03/04/2025 is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayMonthOrder {
    /// 03/04/2025 is the 3rd of April (most of the world).
    DayFirst,
    /// 03/04/2025 is the 4th of March (the United States).
    MonthFirst,
}

impl DayMonthOrder {
    /// `dmy` or `day-first` → [`DayMonthOrder::DayFirst`]; `mdy` or `month-first` →
    /// [`DayMonthOrder::MonthFirst`] (ignoring case and surrounding whitespace); else None.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dmy" | "day-first" => Some(DayMonthOrder::DayFirst),
            "mdy" | "month-first" => Some(DayMonthOrder::MonthFirst),
            _ => None,
        }
    }

    /// `dmy` or `mdy`, as [`DayMonthOrder::parse`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            DayMonthOrder::DayFirst => "dmy",
            DayMonthOrder::MonthFirst => "mdy",
        }
    }
}

/// What [`extract_date`] accepts.
#[derive(Clone, Debug)]
pub struct DateRules {
    /// How an all-numeric date whose day and month are both 12 or less is read.
    pub order: DayMonthOrder,
    /// No date before this one is accepted (e.g. 1900-01-01).
    pub floor: NaiveDate,
    /// No date after this one is accepted (the day of processing).
    pub today: NaiveDate,
    /// How many characters of text (from the start of page 1, pages joined with a newline) are looked at.
    pub max_chars: usize,
}

/// A date found in a document's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundDate {
    /// The day the document was (most plausibly) written on.
    pub date: NaiveDate,
    /// Which rule picked it, one of the RULE_* constants, e.g. "iso", "numeric", "day-month-name", "month-name-day", "month-year".
    pub rule: &'static str,
    /// The text that was read as the date, as it appears.
    pub text: String,
}

/// The most plausible date the document was written on, or None.
///
/// `pages` are the texts of the document's pages, page 1 first; only the first
/// [`DateRules::max_chars`] characters of them (joined with a newline) are read. Linear in that
/// text; never panics.
pub fn extract_date(pages: &[&str], rules: &DateRules) -> Option<FoundDate> {
    let (text, page_starts) = join_pages(pages, rules.max_chars);
    let scanner = Scanner { text: &text, toks: tokenize(&text) };
    let matches = scanner.find_all();
    let order = effective_order(&matches, rules.order);
    // Token indexes where matches begin and end, for ranges (`01.12.2025 - 31.12.2025`).
    let firsts: Vec<usize> = matches.iter().map(|m| m.first).collect();
    let lasts: Vec<usize> = matches.iter().map(|m| m.end - 1).collect();

    let (_, m, date) = matches
        .iter()
        .filter_map(|m| {
            let date = m.resolve(order, rules.today).filter(|d| (rules.floor..=rules.today).contains(d))?;
            let label = match scanner.label_before(m) {
                Some((Label::NotADate, _)) => return None,
                Some((label, true)) => Some(label),
                // A weak label (`le`, `bis`) or none: one end of a range is a period's.
                _ if scanner.joined_to_date(m, &firsts, &lasts) => Some(Label::Period),
                weak => weak.map(|(label, _)| label),
            };
            let tok = &scanner.toks[m.first];
            let page = page_starts.partition_point(|&s| s <= tok.char_pos).saturating_sub(1);
            let in_page = tok.char_pos - page_starts.get(page).copied().unwrap_or(0);
            let short_year = matches!(m.parts, Parts::Fixed { short: true, .. } | Parts::Numeric { short: true, .. });
            // A full date before a month and year, then the score, then the earliest.
            let rank = (m.rule != RULE_MONTH_YEAR, score(label, page, in_page, short_year), Reverse(tok.start));
            Some((rank, m, date))
        })
        .max_by_key(|&(rank, _, _)| rank)?;
    Some(FoundDate { date, rule: m.rule, text: text[scanner.toks[m.first].start..scanner.toks[m.end - 1].end].to_string() })
}

/// Parses one date typed by a user or written in a query: ISO 2025-12-31 only (strict: four
/// digits, two, two; surrounding whitespace is ignored). Returns None when invalid.
pub fn parse_iso(s: &str) -> Option<NaiveDate> {
    let b = s.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| digits.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')));
    NaiveDate::from_ymd_opt(i32::try_from(number(&b[0..4])?).ok()?, number(&b[5..7])?, number(&b[8..10])?)
}

// ---------------------------------------------------------------------------------------------
// Scoring

/// What the words just before a date say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// The date the document was written: `Datum`, `Date`, `Rechnungsdatum`, `Invoice date`,
    /// `dated`, `Date de facture`, `Fait à … le`.
    Written,
    /// A word that usually leads to a letter's date but says little on its own: `Berlin, den`,
    /// `am`, `le`, `du`, `vom`, `Stand`.
    Intro,
    /// When goods or a service were delivered: `Lieferdatum`, `delivery`, `livraison`.
    Delivery,
    /// The start or end of a period: `Leistungszeitraum`, `period`, either end of `01.12. - 31.12.`.
    Period,
    /// When the paper arrived (a stamp): `Eingang`, `received`, `reçu`.
    Received,
    /// The date of another paper this one refers to: `your letter dated`, `Ihr Schreiben vom`,
    /// `votre courrier du`.
    Reference,
    /// When something must be paid or done: `fällig`, `due`, `payable`, `échéance`, `Zahlungsziel`.
    Due,
    /// Until when something holds: `gültig bis`, `valid until`, `expires`, `valable jusqu'au`.
    Validity,
    /// A person's birthday: `geboren`, `born`, `date of birth`, `né le`, `Geburtsdatum`.
    Birth,
    /// The number is not a date at all: `Tel.`, `Fax`, `Version`, `IBAN` (only as the word right
    /// before it: `Version vom 12.03.2025` is a date).
    NotADate,
}

impl Label {
    /// The scoring table. Page and position cost at most 30 on page 1 and 50 more per further
    /// page (see [`score`]), so a `Written` label (+40) outweighs a date's position on its page,
    /// and `Birth` (-80) loses even against a plain date on page 2.
    fn weight(self) -> i64 {
        match self {
            Label::Written => 40,
            Label::Intro => 15,
            Label::Delivery => -15,
            Label::Period => -25,
            Label::Received => -25,
            Label::Reference => -20,
            Label::Due => -40,
            Label::Validity => -40,
            Label::Birth => -80,
            Label::NotADate => 0,
        }
    }
}

/// A candidate's score (higher is better):
///
/// | what                                   | points                      |
/// |----------------------------------------|-----------------------------|
/// | its label ([`Label::weight`])          | -80 … +40                   |
/// | characters before it on its page       | -1 per 100, at most -30     |
/// | its page                               | -50 per page after the 1st  |
/// | a two-digit year (`31.12.25`)          | -5                          |
///
/// A full date always beats a bare month and year whatever their scores (the caller compares
/// that first), and ties go to the earliest in the text.
fn score(label: Option<Label>, page: usize, in_page: usize, short_year: bool) -> i64 {
    let label = label.map_or(0, Label::weight);
    let position = (in_page / 100).min(30) as i64;
    let page = page.min(1_000_000) as i64 * 50;
    label - position - page - if short_year { 5 } else { 0 }
}

/// What a word before a date says.
enum Cue {
    /// Decides the label on its own.
    Stop(Label),
    /// `date`, `Datum`: the word before it may say what date this is (`due date`, `invoice date`).
    DateNoun,
    /// A label only if nothing more specific is found two words further back (`fällig am`, `né le`).
    Weak(Label),
}

/// The words that label a date (lowercased; with and without accents and umlauts, as OCR may lose them).
fn cue(w: &str) -> Option<Cue> {
    let label = match w {
        "date" | "datum" | "fecha" | "data" => return Some(Cue::DateNoun),
        "den" | "am" | "le" | "du" | "vom" | "stand" | "el" => return Some(Cue::Weak(Label::Intro)),
        "bis" | "until" | "till" | "jusqu" => return Some(Cue::Weak(Label::Validity)),
        // `dated` may belong to another paper: `your letter dated`.
        "dated" | "datiert" => return Some(Cue::Weak(Label::Written)),
        "your" | "ihr" | "ihre" | "ihrem" | "ihren" | "ihres" | "our" | "unser" | "unsere" | "unserem" | "unseres" | "votre" | "vos"
        | "notre" | "nos" | "bezug" | "reference" | "référence" | "re" => Label::Reference,
        "rechnungsdatum" | "ausstellungsdatum" | "belegdatum" | "briefdatum" | "dokumentdatum" | "erstellungsdatum" | "ausgestellt"
        | "erstellt" | "issued" | "issue" | "signed" | "unterzeichnet" | "unterschrieben" | "fait" | "émis" | "emis" | "établi"
        | "etabli" => Label::Written,
        "lieferdatum" | "liefertermin" | "lieferung" | "geliefert" | "leistungsdatum" | "versanddatum" | "versand" | "delivery"
        | "delivered" | "shipped" | "shipping" | "ship" | "livraison" | "livré" | "livre" => Label::Delivery,
        "leistungszeitraum" | "abrechnungszeitraum" | "zeitraum" | "period" | "période" | "periode" | "periodo" => Label::Period,
        "eingang" | "eingegangen" | "eingangsdatum" | "eingangsstempel" | "received" | "reçu" | "recu" | "scanned" | "gescannt" => {
            Label::Received
        }
        "due" | "fällig" | "faellig" | "fallig" | "fälligkeit" | "faelligkeit" | "falligkeit" | "fälligkeitsdatum"
        | "faelligkeitsdatum" | "zahlbar" | "payable" | "échéance" | "echeance" | "zahlungsziel" | "zahlungsfrist" | "frist"
        | "deadline" | "limite" | "spätestens" | "spaetestens" | "vencimiento" | "scadenza" | "vervaldatum" => Label::Due,
        "valid" | "gültig" | "gueltig" | "gultig" | "gültigkeit" | "expires" | "expire" | "expiry" | "expiration" | "ablauf"
        | "ablaufdatum" | "valable" | "validité" | "validite" => Label::Validity,
        "geboren" | "geb" | "geburtsdatum" | "geburtstag" | "born" | "birth" | "birthday" | "dob" | "né" | "née" | "naissance"
        | "nacimiento" | "nascita" | "geboortedatum" => Label::Birth,
        "tel" | "telefon" | "telephone" | "téléphone" | "tél" | "phone" | "fax" | "mobil" | "mobile" | "handy" | "version" | "ver"
        | "v" | "iban" | "bic" | "konto" | "kontonummer" | "blz" | "isbn" => Label::NotADate,
        // Any other German compound on -datum (`Druckdatum`, `Bestelldatum`) names a date of the paper.
        _ if w.len() > "datum".len() && w.ends_with("datum") => Label::Written,
        _ => return None,
    };
    Some(Cue::Stop(label))
}

/// The word before `date`/`Datum` that says which date it is (`due date`, `delivery date`);
/// None for the date of the document itself (`invoice date`, `issue date`, `Date:`).
fn qualifier(w: &str) -> Option<Label> {
    match (cue(w), w) {
        (Some(Cue::Stop(label)), _) if label != Label::Written => Some(label),
        (_, "payment") => Some(Label::Due),
        (_, "end" | "closing" | "termination") => Some(Label::Validity),
        (_, "start" | "begin" | "opening") => Some(Label::Period),
        (_, "receipt" | "entry" | "arrival") => Some(Label::Received),
        (_, "dispatch" | "service") => Some(Label::Delivery),
        _ => None,
    }
}

/// Words skipped when looking for a label (`Fait à Paris, le`, `Date of birth`).
const FILLERS: &[&str] = &["à", "a", "the", "of", "de", "d", "l", "la", "der", "die", "das", "des", "dem"];
/// Words that join two dates into a range (besides dashes).
const RANGE_WORDS: &[&str] = &["bis", "to", "until", "till", "through", "thru", "au", "al", "tot"];
/// How many words before a date are looked at for a label.
const LABEL_WORDS: usize = 5;
/// How many tokens before a date are looked at for a label (bounds the work on odd text).
const LABEL_TOKENS: usize = 40;
/// How many tokens of a line are walked to find the cell above a date (bounds the work on odd text).
const LINE_TOKENS: usize = 400;
/// A run of more spaces than this between words is a column gap: words beyond it belong to
/// another cell. (Between a label and its date it is allowed: `Datum:        31.12.2025`.)
const WIDE_GAP: usize = 2;

/// What [`Scanner::scan_cell`] found.
struct CellScan {
    label: Option<(Label, bool)>,
    /// How many words (not fillers) it passed.
    words: usize,
    stop: Stop,
}

/// Where [`Scanner::scan_cell`] stopped.
enum Stop {
    /// At this whitespace token holding the line break (with at most one blank line).
    LineBreak(usize),
    /// At a number; `after_gap` when a column gap was between it and the date.
    Number { after_gap: bool },
    /// Anywhere else (a label, a word limit, the start of the text).
    Other,
}

// ---------------------------------------------------------------------------------------------
// Month names

/// The month a (lowercased) month name or abbreviation names: English, German, French, Spanish,
/// Italian and Dutch, with spellings that lost their accents or umlauts (`Marz`, `aout`,
/// `decembre`, `fevr`).
fn month_number(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" | "januar" | "jänner" | "jaenner" | "janner" | "jän" | "janvier" | "janv" | "enero" | "ene" | "gennaio"
        | "gen" | "januari" => 1,
        "february" | "feb" | "febr" | "februar" | "feber" | "février" | "fevrier" | "févr" | "fevr" | "fév" | "fev" | "febrero"
        | "febbraio" | "februari" => 2,
        "march" | "mar" | "märz" | "maerz" | "marz" | "mär" | "mrz" | "mars" | "marzo" | "maart" | "mrt" => 3,
        "april" | "apr" | "avril" | "avr" | "abril" | "abr" | "aprile" => 4,
        "may" | "mai" | "mayo" | "maggio" | "mag" | "mei" => 5,
        "june" | "jun" | "juni" | "juin" | "junio" | "giugno" | "giu" => 6,
        "july" | "jul" | "juli" | "juillet" | "juil" | "julio" | "luglio" | "lug" => 7,
        "august" | "aug" | "août" | "aout" | "agosto" | "ago" | "augustus" => 8,
        "september" | "sep" | "sept" | "septembre" | "septiembre" | "setiembre" | "settembre" | "set" => 9,
        "october" | "oct" | "oktober" | "okt" | "octobre" | "octubre" | "ottobre" | "ott" => 10,
        "november" | "nov" | "novembre" | "noviembre" => 11,
        "december" | "dec" | "dezember" | "dez" | "décembre" | "decembre" | "déc" | "diciembre" | "dic" | "dicembre" => 12,
        _ => return None,
    })
}

/// Abbreviations that are also common words (`set`, `ago`); a bare `set 2025` is not read as a
/// month and year (with a day, `12 set 2025`, they are).
const WORDLIKE_MONTHS: &[&str] = &["set", "ago", "gen", "mag"];
/// Ordinal endings glued to a day: `1st`, `2nd`, `3rd`, `4th`, `1er`, `1re`.
const ORDINALS: &[&str] = &["st", "nd", "rd", "th", "er", "re", "ère"];
/// Words between the parts of a date: `31 de diciembre de 2025`, `1st of January 2025`.
const CONNECTORS: &[&str] = &["de", "del", "of"];

// ---------------------------------------------------------------------------------------------
// Text and tokens

/// The pages joined with a newline, cut after `max_chars` characters, and the character index at
/// which each page (that was reached) starts.
fn join_pages(pages: &[&str], max_chars: usize) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    let mut used = 0usize;
    for (n, page) in pages.iter().enumerate() {
        if n > 0 {
            if used >= max_chars {
                break;
            }
            text.push('\n');
            used += 1;
        }
        if used >= max_chars {
            break;
        }
        starts.push(used);
        let left = max_chars - used;
        let cut = page.char_indices().nth(left).map_or(page.len(), |(at, _)| at);
        let taken = &page[..cut];
        text.push_str(taken);
        used += taken.chars().count();
    }
    (text, starts)
}

/// One token: a run of digits, a run of letters, a run of whitespace, or one other character.
#[derive(Debug)]
struct Token {
    kind: Kind,
    /// Byte offsets in the joined text.
    start: usize,
    end: usize,
    /// Character index of the start in the joined text.
    char_pos: usize,
    /// Characters between the start of its line and its start.
    col: usize,
}

#[derive(Debug)]
enum Kind {
    /// ASCII digits: how many, and their value (of the first four, enough for any date part).
    Num { len: usize, value: u32 },
    /// Letters, lowercased and without combining accents; None when too long to be any word we
    /// look for.
    Word(Option<Box<str>>),
    /// Whitespace: how many characters and how many line breaks.
    Space { chars: usize, newlines: usize },
    /// Any other single character.
    Punct(char),
}

/// Words longer than this are no month and no label; they are not lowercased.
const MAX_WORD_CHARS: usize = 24;

fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\x0b' | '\x0c' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// A hyphen or dash between numbers (`31-12-2025`) or dates (`01.12.2025 – 31.12.2025`).
fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}')
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut char_pos = 0usize;
    let mut line_start = 0usize;
    while let Some((start, c)) = chars.next() {
        let col = char_pos - line_start;
        let first_pos = char_pos;
        char_pos += 1;
        let mut end = start + c.len_utf8();
        let kind = if c.is_ascii_digit() {
            let mut len = 1;
            let mut value = u32::from(c) - u32::from('0');
            while let Some(&(at, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                chars.next();
                char_pos += 1;
                end = at + 1;
                len += 1;
                if len <= 4 {
                    value = value * 10 + (u32::from(d) - u32::from('0'));
                }
            }
            Kind::Num { len, value }
        } else if c.is_alphabetic() || is_combining(c) {
            let mut count = 1;
            while let Some(&(at, d)) = chars.peek() {
                if !(d.is_alphabetic() || is_combining(d)) {
                    break;
                }
                chars.next();
                char_pos += 1;
                end = at + d.len_utf8();
                count += 1;
            }
            let word = (count <= MAX_WORD_CHARS)
                .then(|| text[start..end].chars().flat_map(char::to_lowercase).filter(|&c| !is_combining(c)).collect::<String>().into());
            Kind::Word(word)
        } else if c.is_whitespace() {
            // "\r\n" is one line break; a lone "\r" is one too.
            let breaks = |c: char, next: Option<char>| is_line_break(c) || (c == '\r' && next != Some('\n'));
            let mut chars_in = 1;
            let mut newlines = 0;
            if breaks(c, chars.peek().map(|&(_, d)| d)) {
                newlines += 1;
                line_start = char_pos;
            }
            while let Some(&(at, d)) = chars.peek() {
                if !d.is_whitespace() {
                    break;
                }
                chars.next();
                char_pos += 1;
                end = at + d.len_utf8();
                chars_in += 1;
                if breaks(d, chars.peek().map(|&(_, e)| e)) {
                    newlines += 1;
                    line_start = char_pos;
                }
            }
            Kind::Space { chars: chars_in, newlines }
        } else {
            Kind::Punct(c)
        };
        toks.push(Token { kind, start, end, char_pos: first_pos, col });
    }
    toks
}

// ---------------------------------------------------------------------------------------------
// Matching

/// A date found in the tokens, before it is checked against the calendar and the rules.
#[derive(Debug)]
struct Match {
    rule: &'static str,
    /// Its first token and the token after its last.
    first: usize,
    end: usize,
    parts: Parts,
}

#[derive(Debug)]
enum Parts {
    /// Year, month and day in known places; `short` for a two-digit year.
    Fixed { y: u32, m: u32, d: u32, short: bool },
    /// `a.b.y`: which of `a` and `b` is the day depends on the order.
    Numeric { a: u32, b: u32, y: u32, short: bool },
}

impl Match {
    fn resolve(&self, order: DayMonthOrder, today: NaiveDate) -> Option<NaiveDate> {
        match self.parts {
            Parts::Fixed { y, m, d, short } => make_date(y, m, d, short, today),
            Parts::Numeric { a, b, y, short } => {
                // A number above 12 cannot be the month: that reading wins whatever the order.
                let day_first = if a > 12 {
                    true
                } else if b > 12 {
                    false
                } else {
                    order == DayMonthOrder::DayFirst
                };
                let (d, m) = if day_first { (a, b) } else { (b, a) };
                make_date(y, m, d, short, today)
            }
        }
    }
}

/// The calendar day, if there is one. A two-digit year takes the century that keeps the date
/// not after `today` and closest to it (`31.12.25` → 2025; `01.01.27` in 2026 → 1927).
fn make_date(y: u32, m: u32, d: u32, short: bool, today: NaiveDate) -> Option<NaiveDate> {
    let y = i32::try_from(y).ok()?;
    if !short {
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    let century = today.year() - today.year().rem_euclid(100);
    [century, century - 100].into_iter().find_map(|c| NaiveDate::from_ymd_opt(c + y, m, d).filter(|date| *date <= today))
}

/// The order ambiguous numeric dates are read in: the configured one, unless the document's
/// unambiguous numeric dates (one number above 12) all use the other order — a US statement full
/// of `05/24/2019` reads its `05/03/2019` as the 3rd of May even when day-first is configured.
fn effective_order(matches: &[Match], configured: DayMonthOrder) -> DayMonthOrder {
    let (mut day_first, mut month_first) = (0, 0);
    for m in matches {
        if let Parts::Numeric { a, b, .. } = m.parts {
            if (13..=31).contains(&a) && (1..=12).contains(&b) {
                day_first += 1;
            } else if (13..=31).contains(&b) && (1..=12).contains(&a) {
                month_first += 1;
            }
        }
    }
    match configured {
        DayMonthOrder::DayFirst if month_first > 0 && day_first == 0 => DayMonthOrder::MonthFirst,
        DayMonthOrder::MonthFirst if day_first > 0 && month_first == 0 => DayMonthOrder::DayFirst,
        order => order,
    }
}

/// Up to this many spaces (no line break) around the separators of a numeric date: `31 .12.2025`.
const NUM_GAP: usize = 2;
/// Up to this many spaces (no line break) between the parts of a date with a month name.
const NAME_GAP: usize = 3;

struct Scanner<'a> {
    text: &'a str,
    toks: Vec<Token>,
}

impl Scanner<'_> {
    fn kind(&self, i: usize) -> Option<&Kind> {
        self.toks.get(i).map(|t| &t.kind)
    }

    /// The length and value of a number at `i`.
    fn num(&self, i: usize) -> Option<(usize, u32)> {
        match self.kind(i)? {
            Kind::Num { len, value } => Some((*len, *value)),
            _ => None,
        }
    }

    /// The lowercased word at `i`.
    fn word(&self, i: usize) -> Option<&str> {
        match self.kind(i)? {
            Kind::Word(Some(w)) => Some(w),
            _ => None,
        }
    }

    /// Past an optional run of at most `max` spaces without a line break at `i`; None when a
    /// longer run (or a line break) is there.
    fn small_space(&self, i: usize, max: usize) -> Option<usize> {
        match self.kind(i) {
            Some(Kind::Space { chars, newlines }) => (*newlines == 0 && *chars <= max).then_some(i + 1),
            _ => Some(i),
        }
    }

    /// A numeric date's separator at `i` (`.`, `/` or a hyphen, spaces around it allowed): the
    /// separator (hyphens as `-`) and the index after it.
    fn num_sep(&self, i: usize) -> Option<(char, usize)> {
        let j = self.small_space(i, NUM_GAP)?;
        let c = match self.kind(j)? {
            Kind::Punct(c @ ('.' | '/')) => *c,
            Kind::Punct(c) if is_dash(*c) && !matches!(c, '\u{2013}' | '\u{2014}') => '-',
            _ => return None,
        };
        Some((c, self.small_space(j + 1, NUM_GAP)?))
    }

    /// What may stand between the parts of a date with a month name: a few spaces, at most one
    /// of `. , - / '`, a few spaces — but something. Returns the index after it and the mark.
    fn name_gap(&self, i: usize) -> Option<(usize, Option<char>)> {
        let j = self.small_space(i, NAME_GAP)?;
        let (k, mark) = match self.kind(j) {
            Some(Kind::Punct(c @ ('.' | ',' | '/' | '\'' | '\u{2019}'))) => (self.small_space(j + 1, NAME_GAP)?, Some(*c)),
            Some(Kind::Punct(c)) if is_dash(*c) => (self.small_space(j + 1, NAME_GAP)?, Some('-')),
            _ => (j, None),
        };
        (k > i).then_some((k, mark))
    }

    /// Past a connecting word and the gap after it (`de`, `of`), if one is at `i`.
    fn connector(&self, i: usize, mark: Option<char>) -> (usize, Option<char>) {
        if self.word(i).is_some_and(|w| CONNECTORS.contains(&w))
            && let Some(after) = self.name_gap(i + 1)
        {
            return after;
        }
        (i, mark)
    }

    /// A day at `i` (1 to 31, one or two digits, maybe with an ordinal ending glued to it) and
    /// the index after it.
    fn day(&self, i: usize) -> Option<(u32, usize)> {
        let (len, d) = self.num(i)?;
        if len > 2 || !(1..=31).contains(&d) {
            return None;
        }
        match self.kind(i + 1) {
            Some(Kind::Word(w)) => w.as_deref().filter(|w| ORDINALS.contains(w)).map(|_| (d, i + 2)),
            _ => Some((d, i + 1)),
        }
    }

    /// A year after a month name at `i`: four digits, or two after `-`, `/` or `'` (`31-Dec-25`,
    /// `Dec '25`). Returns the year, whether it was short, and the index after it.
    fn name_year(&self, i: usize, mark: Option<char>) -> Option<(u32, bool, usize)> {
        match self.num(i)? {
            (4, y) => Some((y, false, i + 1)),
            (2, y) if matches!(mark, Some('-' | '/' | '\'' | '\u{2019}')) => Some((y, true, i + 1)),
            _ => None,
        }
    }

    /// Whether the token before `i` lets a date start at `i`: not glued to a word or a number,
    /// not the tail of a chain of numbers (`10.1.12.2025`, `12:31.12.2025`), not after a phone
    /// prefix (`030 12.34.5678`, `+49 30 12.03.95`). `last_end` is where the previous match
    /// ended: a date may follow another through a hyphen (`01.12.2025-31.12.2025`).
    fn free_before(&self, i: usize, last_end: Option<usize>) -> bool {
        let Some(p) = i.checked_sub(1) else { return true };
        match &self.toks[p].kind {
            Kind::Word(_) | Kind::Num { .. } => false,
            Kind::Punct(c) => {
                let after_number = p.checked_sub(1).is_some_and(|q| matches!(self.kind(q), Some(Kind::Num { .. })));
                if *c == '+' {
                    false
                } else if !after_number {
                    true
                } else if is_dash(*c) {
                    last_end == Some(p)
                } else {
                    !matches!(c, '.' | '/' | ',' | ':')
                }
            }
            Kind::Space { chars, newlines } => !(*newlines == 0 && *chars <= 1 && self.phone_prefix(p)),
        }
    }

    /// Whether the tokens before the single space at `p` look like the start of a phone number:
    /// a number starting with 0 (`030`), a number after `+` (`+49`, `+49 30`), or `(030)`.
    fn phone_prefix(&self, p: usize) -> bool {
        let Some(q) = p.checked_sub(1) else { return false };
        let starts_with_zero = |i: usize| self.toks.get(i).is_some_and(|t| self.text[t.start..].starts_with('0'));
        let plus_before = |i: usize| i.checked_sub(1).is_some_and(|j| matches!(self.kind(j), Some(Kind::Punct('+'))));
        match self.kind(q) {
            Some(Kind::Num { .. }) => {
                if starts_with_zero(q) || plus_before(q) {
                    return true;
                }
                // `+49 30 12.03.95`: one more group back.
                let Some(s) = q.checked_sub(1) else { return false };
                matches!(self.kind(s), Some(Kind::Space { chars: 1, newlines: 0 }))
                    && s.checked_sub(1).is_some_and(|r| matches!(self.kind(r), Some(Kind::Num { .. })) && plus_before(r))
            }
            Some(Kind::Punct(')')) => q.checked_sub(1).is_some_and(|r| matches!(self.kind(r), Some(Kind::Num { .. }))),
            _ => false,
        }
    }

    /// Whether a date ending before `end` stands on its own: not glued to a word (except the `T`
    /// of an ISO timestamp) and not followed by `.5`, `/2`, `:30`, `,50`. A hyphen to another date
    /// is allowed when `chain` (`01.12.2025-31.12.2025`).
    fn free_after(&self, end: usize, chain: bool) -> bool {
        let number_follows = |i: usize| matches!(self.kind(i), Some(Kind::Num { .. }));
        match self.kind(end) {
            None | Some(Kind::Space { .. }) => true,
            Some(Kind::Num { .. }) => false,
            Some(Kind::Word(w)) => w.as_deref() == Some("t") && number_follows(end + 1),
            Some(Kind::Punct(c)) => {
                if !number_follows(end + 1) {
                    true
                } else if is_dash(*c) {
                    chain && self.match_at(end + 1, false).is_some()
                } else {
                    !matches!(c, '.' | '/' | ',' | ':')
                }
            }
        }
    }

    /// Every date-like match in the text, left to right, not overlapping.
    fn find_all(&self) -> Vec<Match> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut last_end = None;
        while i < self.toks.len() {
            if self.free_before(i, last_end)
                && let Some(m) = self.match_at(i, true)
            {
                i = m.end;
                last_end = Some(m.end);
                out.push(m);
            } else {
                i += 1;
            }
        }
        out
    }

    /// The date that starts at token `i`, if any (the caller checks what is before it).
    fn match_at(&self, i: usize, chain: bool) -> Option<Match> {
        match self.kind(i)? {
            Kind::Num { len: 4, value } => self.iso(i, *value, chain),
            Kind::Num { len: 1 | 2, .. } => self.numeric(i, chain).or_else(|| self.day_month_name(i, chain)),
            Kind::Word(Some(w)) => {
                let month = month_number(w)?;
                self.month_name_day(i, month, chain).or_else(|| self.month_year(i, month, w, chain))
            }
            _ => None,
        }
    }

    /// `2025-12-31`, `2025/12/31`, `2025.12.31`.
    fn iso(&self, i: usize, y: u32, chain: bool) -> Option<Match> {
        let (sep, j) = self.num_sep(i + 1)?;
        let (1 | 2, m) = self.num(j)? else { return None };
        let (sep2, k) = self.num_sep(j + 1)?;
        let (1 | 2, d) = self.num(k)? else { return None };
        let end = k + 1;
        (sep == sep2 && self.free_after(end, chain)).then_some(Match {
            rule: RULE_ISO,
            first: i,
            end,
            parts: Parts::Fixed { y, m, d, short: false },
        })
    }

    /// `31.12.2025`, `12/31/2025`, `31-12-25`; not `3.1.12` (a section number, more likely than a
    /// date without leading zeros and with a two-digit year).
    fn numeric(&self, i: usize, chain: bool) -> Option<Match> {
        let (alen, a) = self.num(i)?;
        let (sep, j) = self.num_sep(i + 1)?;
        let (blen @ (1 | 2), b) = self.num(j)? else { return None };
        let (sep2, k) = self.num_sep(j + 1)?;
        let (ylen @ (2 | 4), y) = self.num(k)? else { return None };
        let end = k + 1;
        let section = sep == '.' && ylen == 2 && alen == 1 && blen == 1;
        (sep == sep2 && !section && self.free_after(end, chain)).then_some(Match {
            rule: RULE_NUMERIC,
            first: i,
            end,
            parts: Parts::Numeric { a, b, y, short: ylen == 2 },
        })
    }

    /// `31. Dezember 2025`, `1er janvier 2025`, `31st of December, 2025`, `31-Dec-25`.
    fn day_month_name(&self, i: usize, chain: bool) -> Option<Match> {
        let (d, j) = self.day(i)?;
        let (j, mark) = self.name_gap(j)?;
        let (j, _) = self.connector(j, mark);
        let m = month_number(self.word(j)?)?;
        let (k, mark) = self.name_gap(j + 1)?;
        let (k, mark) = self.connector(k, mark);
        let (y, short, end) = self.name_year(k, mark)?;
        self.free_after(end, chain).then_some(Match { rule: RULE_DAY_MONTH_NAME, first: i, end, parts: Parts::Fixed { y, m, d, short } })
    }

    /// `December 31st, 2025`, `Dec. 31, 2025`.
    fn month_name_day(&self, i: usize, m: u32, chain: bool) -> Option<Match> {
        let (j, _) = self.name_gap(i + 1)?;
        let (d, j) = self.day(j)?;
        let (k, mark) = self.name_gap(j)?;
        let (y, short, end) = self.name_year(k, mark)?;
        self.free_after(end, chain).then_some(Match { rule: RULE_MONTH_NAME_DAY, first: i, end, parts: Parts::Fixed { y, m, d, short } })
    }

    /// `Dezember 2025`, `Dec. 2025`, `diciembre de 2025`: the 1st of the month.
    fn month_year(&self, i: usize, m: u32, w: &str, chain: bool) -> Option<Match> {
        if WORDLIKE_MONTHS.contains(&w) {
            return None;
        }
        let (j, mark) = self.name_gap(i + 1)?;
        let (j, _) = self.connector(j, mark);
        let (4, y) = self.num(j)? else { return None };
        let end = j + 1;
        self.free_after(end, chain).then_some(Match {
            rule: RULE_MONTH_YEAR,
            first: i,
            end,
            parts: Parts::Fixed { y, m, d: 1, short: false },
        })
    }

    /// The label of the date `m`, and whether it is sure (a weak one like `le` or `bis` may be
    /// overruled by a range). The nearest label before the date on its line wins
    /// (`Rechnungsdatum: 31.12.2025`, `Fait à Lyon, le 15 févr. 2025`). When nothing but
    /// punctuation and column gaps is before the date on its line, the label is looked for in the
    /// cell of the line above that stands over the date — a label above its value (`Datum:⏎
    /// 31.12.2025`) or the header of a table column (`Rechnungsdatum   Fälligkeitsdatum⏎
    /// 31.12.2025       14.01.2026`).
    fn label_before(&self, m: &Match) -> Option<(Label, bool)> {
        let own = self.scan_cell(m.first);
        if own.label.is_some() || own.words > 0 {
            return own.label;
        }
        let line_break = match own.stop {
            Stop::LineBreak(i) => i,
            // `4711      31.12.2025`: another column's value before the date, a table row.
            Stop::Number { after_gap: true } => self.line_break_before(m.first)?,
            _ => return None,
        };
        let cell_end = self.cell_above(line_break, self.toks[m.first].col, self.end_col(m.end - 1))?;
        self.scan_cell(cell_end + 1).label
    }

    /// Looks back from token `from` (exclusive) for a label: over at most a few words, stopping at
    /// a number, a line break, or a column gap once words were seen; the nearest label wins, a
    /// weak one only if nothing more specific follows within two words (`fällig am`, `né le`).
    fn scan_cell(&self, from: usize) -> CellScan {
        let mut i = from;
        let mut words = 0;
        let mut weak: Option<Label> = None;
        let mut after_weak = 0;
        let mut date_noun = false;
        let mut after_gap = false;
        let mut stop = Stop::Other;
        for _ in 0..LABEL_TOKENS {
            let Some(p) = i.checked_sub(1) else { break };
            i = p;
            match &self.toks[i].kind {
                Kind::Num { .. } => {
                    stop = Stop::Number { after_gap };
                    break;
                }
                Kind::Space { chars, newlines } => {
                    if *newlines > 0 {
                        // At most one blank line between a label and its date.
                        if *newlines <= 2 {
                            stop = Stop::LineBreak(i);
                        }
                        break;
                    } else if *chars > WIDE_GAP {
                        if words > 0 {
                            break;
                        }
                        after_gap = true;
                    }
                }
                Kind::Punct(_) => {}
                Kind::Word(w) => {
                    let w = w.as_deref().unwrap_or("");
                    if FILLERS.contains(&w) {
                        continue;
                    }
                    words += 1;
                    if date_noun {
                        return CellScan { label: Some((qualifier(w).unwrap_or(Label::Written), true)), words, stop };
                    }
                    if words > LABEL_WORDS {
                        break;
                    }
                    if weak.is_some() {
                        after_weak += 1;
                        if after_weak > 2 {
                            break;
                        }
                    }
                    match cue(w) {
                        Some(Cue::Stop(Label::NotADate)) if words > 1 => {}
                        Some(Cue::Stop(label)) => return CellScan { label: Some((label, true)), words, stop },
                        Some(Cue::DateNoun) => date_noun = true,
                        Some(Cue::Weak(label)) => {
                            weak.get_or_insert(label);
                        }
                        None => {}
                    }
                }
            }
        }
        let label = if date_noun { Some((Label::Written, true)) } else { weak.map(|label| (label, false)) };
        CellScan { label, words, stop }
    }

    /// The index of the whitespace token holding the line break before token `i` (at most one
    /// blank line), if it is near enough.
    fn line_break_before(&self, i: usize) -> Option<usize> {
        (i.saturating_sub(LINE_TOKENS)..i).rev().find_map(|j| match self.kind(j) {
            Some(Kind::Space { newlines, .. }) if *newlines > 0 => Some((*newlines <= 2).then_some(j)),
            _ => None,
        })?
    }

    /// The last token of the cell of the line before `line_break` (cells are separated by column
    /// gaps) that spans some of the columns `left..right`; the rightmost such cell.
    fn cell_above(&self, line_break: usize, left: usize, right: usize) -> Option<usize> {
        // The cell being walked (right to left): its last token and its columns.
        let mut cell: Option<(usize, usize, usize)> = None;
        let overlaps = |cell: Option<(usize, usize, usize)>| cell.filter(|&(_, l, r)| l < right && left < r).map(|(last, _, _)| last);
        for j in (line_break.saturating_sub(LINE_TOKENS)..line_break).rev() {
            match &self.toks[j].kind {
                Kind::Space { newlines, .. } if *newlines > 0 => return overlaps(cell),
                Kind::Space { chars, .. } if *chars > WIDE_GAP => {
                    if let Some(last) = overlaps(cell) {
                        return Some(last);
                    }
                    cell = None;
                }
                _ => {
                    let col = self.toks[j].col;
                    cell = Some(cell.map_or((j, col, self.end_col(j)), |(last, _, r)| (last, col, r)));
                }
            }
        }
        // The start of the text, or a line too long to walk.
        if line_break <= LINE_TOKENS { overlaps(cell) } else { None }
    }

    /// The column just after token `t`.
    fn end_col(&self, t: usize) -> usize {
        let tok = &self.toks[t];
        let chars = match self.toks.get(t + 1) {
            Some(next) => next.char_pos - tok.char_pos,
            None => self.text[tok.start..tok.end].chars().count(),
        };
        tok.col + chars
    }

    /// Whether the match is one end of a range: a dash or `bis`/`to`/`au` joins it to another
    /// match (`01.12.2025 – 31.12.2025`, `03/01/2025 to 03/31/2025`).
    /// `firsts` and `lasts` are the first and last token indexes of all matches, in order.
    fn joined_to_date(&self, m: &Match, firsts: &[usize], lasts: &[usize]) -> bool {
        let is_link = |i: usize| match self.kind(i) {
            Some(Kind::Punct(c)) => is_dash(*c),
            Some(Kind::Word(Some(w))) => RANGE_WORDS.contains(&&**w),
            _ => false,
        };
        let is_gap = |i: usize| matches!(self.kind(i), Some(Kind::Space { newlines: 0, chars }) if *chars <= NAME_GAP);
        // Forward: [space] link [space] next match.
        let mut j = m.end;
        if is_gap(j) {
            j += 1;
        }
        if is_link(j) {
            let k = if is_gap(j + 1) { j + 2 } else { j + 1 };
            if firsts.binary_search(&k).is_ok() {
                return true;
            }
        }
        // Backward: previous match [space] link [space].
        let Some(mut j) = m.first.checked_sub(1) else { return false };
        if is_gap(j) {
            let Some(p) = j.checked_sub(1) else { return false };
            j = p;
        }
        if !is_link(j) {
            return false;
        }
        let Some(mut k) = j.checked_sub(1) else { return false };
        if is_gap(k) {
            let Some(p) = k.checked_sub(1) else { return false };
            k = p;
        }
        lasts.binary_search(&k).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DayMonthOrder::{DayFirst, MonthFirst};

    fn day(s: &str) -> NaiveDate {
        parse_iso(s).unwrap_or_else(|| panic!("bad date in test: {s}"))
    }

    fn rules(order: DayMonthOrder, today: &str) -> DateRules {
        DateRules { order, floor: day("1900-01-01"), today: day(today), max_chars: 5000 }
    }

    /// One real-world way of writing a date, in a short letter head or sentence.
    struct Case {
        text: &'static str,
        order: DayMonthOrder,
        /// The date expected (ISO), or None.
        want: Option<&'static str>,
        /// The rule expected (ignored when `want` is None).
        rule: &'static str,
    }

    const fn case(text: &'static str, order: DayMonthOrder, want: Option<&'static str>, rule: &'static str) -> Case {
        Case { text, order, want, rule }
    }

    /// Processed on this day (so 2026-07-01 is in the future).
    const TODAY: &str = "2026-06-15";

    const ENGLISH: &[Case] = &[
        case(
            "ACME Widgets Ltd\n12 High Street\nLondon EC1A 1BB\n\n31 December 2025\n\nDear Ms Smith,",
            DayFirst,
            Some("2025-12-31"),
            RULE_DAY_MONTH_NAME,
        ),
        case("INVOICE\nInvoice date: December 31st, 2025\nDue date: January 30, 2026", MonthFirst, Some("2025-12-31"), RULE_MONTH_NAME_DAY),
        // The due date comes first; the labelled invoice date wins.
        case(
            "Payment due: January 30, 2026\nPlease pay by bank transfer.\nInvoice date: Dec. 31, 2025",
            MonthFirst,
            Some("2025-12-31"),
            RULE_MONTH_NAME_DAY,
        ),
        // A statement period (a range) before the statement date.
        case("Statement period: 03/01/2025 to 03/31/2025\nStatement date: 04/02/2025", MonthFirst, Some("2025-04-02"), RULE_NUMERIC),
        // The same under day-first: 03/31/2025 shows the document writes month first.
        case("Statement period: 03/01/2025 to 03/31/2025\nStatement date: 04/02/2025", DayFirst, Some("2025-04-02"), RULE_NUMERIC),
        // Ambiguous: the configured order decides.
        case("Meeting notes 03/04/2025", MonthFirst, Some("2025-03-04"), RULE_NUMERIC),
        case("Meeting notes 03/04/2025", DayFirst, Some("2025-04-03"), RULE_NUMERIC),
        // Unambiguous: 13 cannot be a month, whatever the order.
        case("Date: 13/04/2025", MonthFirst, Some("2025-04-13"), RULE_NUMERIC),
        // A birth date in a form.
        case(
            "Application form\nName: John Smith\nDate of birth: 14 July 1980\nSigned on 2 March 2025",
            DayFirst,
            Some("2025-03-02"),
            RULE_DAY_MONTH_NAME,
        ),
        case("Dated: 31-Dec-2025", MonthFirst, Some("2025-12-31"), RULE_DAY_MONTH_NAME),
        // A phone number that looks like a date is not one.
        case("Phone 030 12.34.5678\nLondon, 5th May 2025", DayFirst, Some("2025-05-05"), RULE_DAY_MONTH_NAME),
        // An amount next to a date.
        case("Total: 12.30 EUR, paid on 2025-11-02", DayFirst, Some("2025-11-02"), RULE_ISO),
        case("Quarterly report, September 2025\nPrepared by the finance team", MonthFirst, Some("2025-09-01"), RULE_MONTH_YEAR),
        // In the future: rejected, nothing else.
        case("This offer expires on 31 December 2099.", MonthFirst, None, ""),
        // A time, a page counter, a version number.
        case("Posted at 12:30, page 1/2, version 1.2.2025", DayFirst, None, ""),
        // A two-digit year; 15 cannot be a month even though day-first is configured.
        case("Receipt 03/15/25 14:02 Total $12.30", DayFirst, Some("2025-03-15"), RULE_NUMERIC),
        case("Sept. 3, 2024 - Minutes of the board meeting", MonthFirst, Some("2024-09-03"), RULE_MONTH_NAME_DAY),
        // A future date rejected for another candidate.
        case("Letter date: 1 July 2026\nReference: our letter of 3 June 2026", DayFirst, Some("2026-06-03"), RULE_DAY_MONTH_NAME),
        case("Board of Education\nAGENDA\nApril 6, 2016\n7:30 a.m.", MonthFirst, Some("2016-04-06"), RULE_MONTH_NAME_DAY),
        // The date of the letter answered is not this letter's date.
        case(
            "JOHN DOE\n123 Main St.\nSpringfield, IL 62701\n\nMarch 14, 2025\n\nDear Mr. Smith,\nThank you for your letter dated February 2, 2025.",
            MonthFirst,
            Some("2025-03-14"),
            RULE_MONTH_NAME_DAY,
        ),
    ];

    const GERMAN: &[Case] = &[
        case(
            "Stadtwerke Musterstadt GmbH\nMusterstraße 1\n12345 Musterstadt\n\nBerlin, den 31.12.2025",
            DayFirst,
            Some("2025-12-31"),
            RULE_NUMERIC,
        ),
        case("Rechnungsdatum: 31. Dezember 2025", DayFirst, Some("2025-12-31"), RULE_DAY_MONTH_NAME),
        // A due date before the letter's date label.
        case("Fällig am 14.01.2026\n\nRechnung Nr. 2025-117\nDatum: 15.12.2025", DayFirst, Some("2025-12-15"), RULE_NUMERIC),
        // A birth date in a form.
        case("Antrag auf Kindergeld\nGeburtsdatum: 01.02.1980\nAntrag gestellt am 03.03.2025", DayFirst, Some("2025-03-03"), RULE_NUMERIC),
        // An amount next to a date.
        case("Betrag 12.30 EUR, überwiesen am 05.06.2025", DayFirst, Some("2025-06-05"), RULE_NUMERIC),
        // Phone and fax numbers that look like dates.
        case("Tel. 030 12.34.5678, Fax 030 12.34.5679\nMünchen, 7. März 2025", DayFirst, Some("2025-03-07"), RULE_DAY_MONTH_NAME),
        case("Kontoauszug Maerz 2025", DayFirst, Some("2025-03-01"), RULE_MONTH_YEAR),
        // A two-digit year.
        case("Stand: 31.12.25", DayFirst, Some("2025-12-31"), RULE_NUMERIC),
        // No 31st of February.
        case("Datum: 31.02.2025", DayFirst, None, ""),
        // `Mai` in `Email` and `mar` in `Marketing` are no months.
        case("Kontakt per Email 2025 und Marketing 2024", DayFirst, None, ""),
        case("Leistungszeitraum: 01.11.2025 - 30.11.2025\nRechnungsdatum: 02.12.2025", DayFirst, Some("2025-12-02"), RULE_NUMERIC),
        case("Hamburg, 1.4.2025", DayFirst, Some("2025-04-01"), RULE_NUMERIC),
        case("Lieferdatum 28.11.2025\nRechnung vom 30.11.2025", DayFirst, Some("2025-11-30"), RULE_NUMERIC),
        // In the future.
        case("Gültig bis 31.12.2027", DayFirst, None, ""),
        // Before the floor.
        case("Urkunde vom 3. Oktober 1899", DayFirst, None, ""),
        case("Zahlbar bis 20.01.2026 ohne Abzug. Köln, 05.01.2026", DayFirst, Some("2026-01-05"), RULE_NUMERIC),
        case("Ihr Schreiben vom 02.03.2025\nKöln, 10.03.2025", DayFirst, Some("2025-03-10"), RULE_NUMERIC),
        // `Konto` is a label only right before a number.
        case("Wir haben Ihr Konto am 12.03.2025 belastet.", DayFirst, Some("2025-03-12"), RULE_NUMERIC),
        case("Mietvertrag\nMietbeginn: 1. Juli 2025\nUnterschrieben am 20. Juni 2025", DayFirst, Some("2025-06-20"), RULE_DAY_MONTH_NAME),
        // OCR spacing.
        case("Datum 31 .12.2025", DayFirst, Some("2025-12-31"), RULE_NUMERIC),
        // A service period glued with a hyphen: its first day (no other date).
        case("Leistungszeitraum 01.12.2025-31.12.2025", DayFirst, Some("2025-12-01"), RULE_NUMERIC),
    ];

    const FRENCH: &[Case] = &[
        case("Paris, le 1er janvier 2025", DayFirst, Some("2025-01-01"), RULE_DAY_MONTH_NAME),
        case("Fait à Lyon, le 15 févr. 2025", DayFirst, Some("2025-02-15"), RULE_DAY_MONTH_NAME),
        case("Date de facture : 31/12/2025\nDate d'échéance : 31/01/2026", DayFirst, Some("2025-12-31"), RULE_NUMERIC),
        // The due date comes first.
        case("Date d'échéance : 31/01/2026\nFacture du 31/12/2025", DayFirst, Some("2025-12-31"), RULE_NUMERIC),
        // A birth date.
        case("Né le 14 juillet 1975 à Marseille\nDemande déposée le 2 mai 2025", DayFirst, Some("2025-05-02"), RULE_DAY_MONTH_NAME),
        case("Relevé de compte - décembre 2025", DayFirst, Some("2025-12-01"), RULE_MONTH_YEAR),
        case("Nantes, le 3 aout 2025", DayFirst, Some("2025-08-03"), RULE_DAY_MONTH_NAME),
        // An amount next to a date.
        case("Montant : 12,30 EUR, payé le 15 août 2025", DayFirst, Some("2025-08-15"), RULE_DAY_MONTH_NAME),
        // A phone number, then an ambiguous date under both orders.
        case("Tél. : 01 23 45 67 89\nNantes, le 04/03/2025", DayFirst, Some("2025-03-04"), RULE_NUMERIC),
        case("Tél. : 01 23 45 67 89\nNantes, le 04/03/2025", MonthFirst, Some("2025-04-03"), RULE_NUMERIC),
        case("Courrier du 31 decembre 2024", DayFirst, Some("2024-12-31"), RULE_DAY_MONTH_NAME),
        // `é` written as `e` and a combining accent, as some text layers do.
        case("Lille, le 31 de\u{301}cembre 2024", DayFirst, Some("2024-12-31"), RULE_DAY_MONTH_NAME),
        case("Marseille, le 31/02/2025", DayFirst, None, ""),
        // In the future.
        case("Valable jusqu'au 30/09/2030", DayFirst, None, ""),
        // A two-digit year.
        case("Édité le 05.06.25", DayFirst, Some("2025-06-05"), RULE_NUMERIC),
        case("Compte rendu de la réunion de mars 2025", DayFirst, Some("2025-03-01"), RULE_MONTH_YEAR),
        case("Attestation\nDate de naissance : 12/05/1990\nFait à Bordeaux, le 10/04/2025", DayFirst, Some("2025-04-10"), RULE_NUMERIC),
        case("Votre courrier du 02/03/2025\nLille, le 10 mars 2025", DayFirst, Some("2025-03-10"), RULE_DAY_MONTH_NAME),
        // Unambiguous under month-first.
        case("Bordeaux, le 13/04/2025", MonthFirst, Some("2025-04-13"), RULE_NUMERIC),
    ];

    const OTHER: &[Case] = &[
        case("Madrid, 31 de diciembre de 2025", DayFirst, Some("2025-12-31"), RULE_DAY_MONTH_NAME),
        case("Roma, 5 settembre 2025", DayFirst, Some("2025-09-05"), RULE_DAY_MONTH_NAME),
        case("Amsterdam, 3 maart 2025", DayFirst, Some("2025-03-03"), RULE_DAY_MONTH_NAME),
        case("export 2025-12-31T10:00:00Z", DayFirst, Some("2025-12-31"), RULE_ISO),
        case("Host 10.10.10.12 answered", DayFirst, None, ""),
        case("Release 2025.12.31", DayFirst, Some("2025-12-31"), RULE_ISO),
    ];

    fn check(cases: &[Case], language: &str) {
        let mut failures = Vec::new();
        for c in cases {
            let found = extract_date(&[c.text], &rules(c.order, TODAY));
            let got = found.as_ref().map(|f| (f.date, f.rule));
            let want = c.want.map(|w| (day(w), c.rule));
            if got != want {
                failures.push(format!("{:?} ({}): want {want:?}, got {found:?}", c.text, c.order.as_str()));
            }
            if let Some(f) = &found {
                assert!(c.text.contains(&f.text), "{:?}: the text read {:?} is not in the input", c.text, f.text);
            }
        }
        assert!(failures.is_empty(), "{language}: {} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    }

    #[test]
    fn the_table_is_big_enough() {
        assert!(ENGLISH.len() >= 12 && GERMAN.len() >= 12 && FRENCH.len() >= 12);
        assert!(ENGLISH.len() + GERMAN.len() + FRENCH.len() + OTHER.len() >= 36);
    }

    #[test]
    fn english_dates() {
        check(ENGLISH, "English");
    }

    #[test]
    fn german_dates() {
        check(GERMAN, "German");
    }

    #[test]
    fn french_dates() {
        check(FRENCH, "French");
    }

    #[test]
    fn other_languages_and_formats() {
        check(OTHER, "other");
    }

    #[test]
    fn reports_the_text_as_written() {
        let found = extract_date(&["Invoice date: December 31st, 2025."], &rules(MonthFirst, TODAY));
        assert_eq!(found, Some(FoundDate { date: day("2025-12-31"), rule: RULE_MONTH_NAME_DAY, text: "December 31st, 2025".into() }));
        let found = extract_date(&["Berlin, 31. Dez. 2025"], &rules(DayFirst, TODAY)).map(|f| f.text);
        assert_eq!(found.as_deref(), Some("31. Dez. 2025"));
    }

    #[test]
    fn a_full_date_beats_a_month_and_year() {
        let text = format!("Jahresbericht Dezember 2025\n{}\nKöln, 03.12.2025", "Lorem ipsum dolor sit amet. ".repeat(100));
        let found = extract_date(&[&text], &rules(DayFirst, TODAY)).map(|f| (f.date, f.rule));
        assert_eq!(found, Some((day("2025-12-03"), RULE_NUMERIC)));
    }

    #[test]
    fn page_one_beats_page_two() {
        let found = extract_date(&["Berlin, 01.12.2025", "Datum: 31.12.2025"], &rules(DayFirst, TODAY)).map(|f| f.date);
        assert_eq!(found, Some(day("2025-12-01")));
        // Without a date on page 1, page 2 has it.
        let found = extract_date(&["Sehr geehrte Damen und Herren,", "Datum: 31.12.2025"], &rules(DayFirst, TODAY)).map(|f| f.date);
        assert_eq!(found, Some(day("2025-12-31")));
    }

    #[test]
    fn labels_above_their_dates() {
        let read = |text: &str, order| extract_date(&[text], &rules(order, TODAY)).map(|f| f.date);
        let want = Some(day("2025-12-31"));
        assert_eq!(read("Rechnungsdatum   Fälligkeitsdatum\n31.12.2025       14.01.2026", DayFirst), want);
        assert_eq!(read("Fälligkeitsdatum   Rechnungsdatum\n14.01.2026         31.12.2025", DayFirst), want);
        assert_eq!(read("Due Date      Invoice Date\n01/14/2026    12/31/2025", MonthFirst), want);
        assert_eq!(
            read(
                "Lieferung 02.12.2025\nRechnungsnummer      Kundennummer      Datum\n2025-0117            4711              31.12.2025",
                DayFirst
            ),
            want
        );
        assert_eq!(read("Zahlungsziel 15.01.2026\nDatum:\n31.12.2025", DayFirst), want);
        // Words before the date on its own line: the line above is not asked.
        assert_eq!(
            read("Kunde                   Fällig\nMax Muster   31.12.2025\n\nBerlin, 02.01.2026", DayFirst),
            Some(day("2025-12-31"))
        );
    }

    #[test]
    fn earlier_wins_among_equals() {
        let found = extract_date(&["Köln, 02.12.2025\n\nBezug: Schreiben 01.12.2025"], &rules(DayFirst, TODAY)).map(|f| f.date);
        assert_eq!(found, Some(day("2025-12-02")));
    }

    #[test]
    fn two_digit_years_take_the_nearest_century_not_in_the_future() {
        let r = rules(DayFirst, "2026-12-01");
        let year = |text: &str| extract_date(&[text], &r).map(|f| f.date);
        assert_eq!(year("Stand 31.12.25"), Some(day("2025-12-31")));
        assert_eq!(year("Stand 01.12.26"), Some(day("2026-12-01")));
        assert_eq!(year("Stand 02.12.26"), Some(day("1926-12-02")));
        assert_eq!(year("Stand 31.12.99"), Some(day("1999-12-31")));
        assert_eq!(year("Stand 29.02.25"), None, "no leap day in 2025 or 1925");
    }

    #[test]
    fn looks_at_max_chars_characters_only() {
        let mut r = rules(DayFirst, TODAY);
        r.max_chars = 15;
        assert_eq!(extract_date(&["ééééé 31.12.2025"], &r), None, "the year is cut off");
        r.max_chars = 16;
        assert_eq!(extract_date(&["ééééé 31.12.2025"], &r).map(|f| f.date), Some(day("2025-12-31")), "characters, not bytes");
        r.max_chars = 5;
        assert_eq!(extract_date(&["Hallo", "31.12.2025"], &r), None, "page 2 is past the limit");
        r.max_chars = 0;
        assert_eq!(extract_date(&["31.12.2025"], &r), None);
        assert_eq!(extract_date(&[], &rules(DayFirst, TODAY)), None);
    }

    #[test]
    fn order_names() {
        assert_eq!(DayMonthOrder::parse("dmy"), Some(DayFirst));
        assert_eq!(DayMonthOrder::parse("Day-First"), Some(DayFirst));
        assert_eq!(DayMonthOrder::parse("mdy"), Some(MonthFirst));
        assert_eq!(DayMonthOrder::parse(" month-first "), Some(MonthFirst));
        assert_eq!(DayMonthOrder::parse("ymd"), None);
        for order in [DayFirst, MonthFirst] {
            assert_eq!(DayMonthOrder::parse(order.as_str()), Some(order));
        }
    }

    #[test]
    fn parses_iso_strictly() {
        assert_eq!(parse_iso("2025-12-31"), NaiveDate::from_ymd_opt(2025, 12, 31));
        assert_eq!(parse_iso(" 2024-02-29 "), NaiveDate::from_ymd_opt(2024, 2, 29));
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-12-32",
            "2025-1-05",
            "25-12-31",
            "2025/12/31",
            "31.12.2025",
            "2025-12-31x",
            "",
            "２０２５-12-31",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad:?}");
        }
    }

    /// A small deterministic generator (xorshift), so the test needs no crate.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Whatever comes out respects the rules and was read from the input.
    fn assert_sane(pages: &[&str], r: &DateRules) {
        if let Some(f) = extract_date(pages, r) {
            assert!(f.date >= r.floor && f.date <= r.today, "{f:?} out of range");
            assert!(!f.text.is_empty() && pages.iter().any(|p| p.contains(&f.text)), "{f:?} not from the input");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let pieces = [
            "0", "1", "2", "3", "9", "12", "31", "2025", "25", "0000", "99999", ".", "/", "-", "–", ":", ",", "'", "+", "(", ")", " ",
            "  ", "\n", "\r\n", "\t", "\u{a0}", "\u{ad}", "\u{301}", "é", "ß", "日", "🙂", "T", "st", "er", "de", "of", "Dez", "Mai",
            "march", "févr", "Datum", "le", "am", "fällig", "geboren", "Tel", "bis",
        ];
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let text: String = (0..noise.below(60)).map(|_| pieces[noise.below(pieces.len())]).collect();
            let mut r = rules(if round % 2 == 0 { DayFirst } else { MonthFirst }, TODAY);
            r.max_chars = noise.below(80);
            let cut = noise.below(text.len() + 1);
            let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let (a, b) = text.split_at(cut);
            assert_sane(&[a, b], &r);
            assert_sane(&[&text], &rules(DayFirst, TODAY));
        }
        for _ in 0..500 {
            let bytes: Vec<u8> = (0..noise.below(400)).map(|_| noise.next() as u8).collect();
            assert_sane(&[&String::from_utf8_lossy(&bytes)], &rules(DayFirst, TODAY));
        }
        let mut r = rules(DayFirst, TODAY);
        r.max_chars = usize::MAX;
        for text in [
            "9".repeat(100_000),
            "1.".repeat(50_000),
            "./-".repeat(30_000),
            "\n".repeat(50_000),
            "31.12.2025-".repeat(10_000),
            "Dezember ".repeat(20_000),
            "é\u{301}".repeat(30_000),
            "a".repeat(100_000),
        ] {
            assert_sane(&[&text, &text], &r);
        }
        let extremes = DateRules { order: DayFirst, floor: NaiveDate::MIN, today: NaiveDate::MAX, max_chars: usize::MAX };
        assert_sane(&["31.12.99 Dez 2025 1.1.1 0.0.0000 2025-00-00"], &extremes);
    }

    #[test]
    fn a_megabyte_of_text_is_read_quickly() {
        let letter = "Musterfirma GmbH, Tel. 030 12.34.5678, Betrag 12.30 EUR, fällig am 14.01.2026. Berlin, den 31.12.2025. ";
        let text = letter.repeat(1_000_000 / letter.len() + 1);
        let mut r = rules(DayFirst, TODAY);
        r.max_chars = usize::MAX;
        let started = std::time::Instant::now();
        let found = extract_date(&[&text], &r).map(|f| f.date);
        assert_eq!(found, Some(day("2025-12-31")));
        assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
    }

    /// The ground truth texts of the project's evaluation corpus (`/work/shared/corpus`, see its
    /// README): the date a person would call each document's date, and the rule that finds it.
    /// The `img-*.p1` texts are the same pages as the `bd-*` ones.
    const CORPUS: &[(&str, Option<&str>, &str)] = &[
        // A school board agenda: "April 6, 2016" at the top right, beside the district's address.
        ("bd-cupertino-agenda.gt.txt", Some("2016-04-06"), RULE_MONTH_NAME_DAY),
        ("img-cupertino-agenda.p1.gt.txt", Some("2016-04-06"), RULE_MONTH_NAME_DAY),
        // A US Senate expenditure report: a table with no date of its own. The first date in it is
        // the first "date posted", 05/03/2019 — acceptable as the report's date (it lists 2019
        // postings). It is read month-first even under day-first because the table's unambiguous
        // dates (05/24/2019, 03/21/2019) are month-first.
        ("bd-senate-expenditures.gt.txt", Some("2019-05-03"), RULE_NUMERIC),
        ("img-senate-expenditures.p1.gt.txt", Some("2019-05-03"), RULE_NUMERIC),
        // Filler text, test pages, an ad for a sequencer (a phone number, "3 1/2 ” disk"): no date.
        ("bd-latex-blindtext.gt.txt", None, ""),
        ("img-latex-blindtext.p1.gt.txt", None, ""),
        ("bd-paperless-simple.gt.txt", None, ""),
        ("img-paperless-simple.p1.gt.txt", None, ""),
        ("scan-paperless-simple.gt.txt", None, ""),
        ("bd-paperless-with-form.gt.txt", None, ""),
        ("img-paperless-with-form.p1.gt.txt", None, ""),
        ("scan-linn.gt.txt", None, ""),
        ("scan-phototest.gt.txt", None, ""),
    ];

    #[test]
    fn corpus_documents() {
        let dir = std::env::var("DOCMERGE_TEST_CORPUS")
            .expect("DOCMERGE_TEST_CORPUS must name the OCR evaluation corpus folder (e.g. /work/shared/corpus); this test does not skip");
        let dir = std::path::Path::new(&dir);
        let read =
            |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("cannot read {name} in {}: {e}", dir.display()));
        let mut failures = Vec::new();
        for order in [DayFirst, MonthFirst] {
            let r = rules(order, "2026-12-01");
            for &(name, want, rule) in CORPUS {
                let found = extract_date(&[&read(name)], &r);
                let got = found.as_ref().map(|f| (f.date, f.rule));
                if got != want.map(|w| (day(w), rule)) {
                    failures.push(format!("{name} ({}): want {want:?} {rule}, got {found:?}", order.as_str()));
                }
            }
        }
        // Texts not in the table (a corpus that grew): read them all the same, and show what was found.
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let name = entry.expect("a directory entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".gt.txt") && !CORPUS.iter().any(|&(n, _, _)| n == name) {
                let found = extract_date(&[&read(&name)], &rules(DayFirst, "2026-12-01"));
                eprintln!("corpus file {name} is not in the table; found {found:?}");
            }
        }
        assert!(failures.is_empty(), "{} corpus files wrong:\n{}", failures.len(), failures.join("\n"));
    }
}
