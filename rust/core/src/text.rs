//! Text normalisation (NFKC, full case folding, whitespace collapse) and tokenisation into
//! Unicode words (UAX #29) or characters.

use std::borrow::Cow;

use caseless::Caseless;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_segmentation::UnicodeSegmentation;

/// Which normalisation steps run, in this order: NFKC, case folding, whitespace collapse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NormalizeOptions {
    pub nfkc: bool,
    pub casefold: bool,
    pub collapse_whitespace: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions { nfkc: true, casefold: true, collapse_whitespace: true }
    }
}

/// Normalise `text`. Borrowed when nothing changes (common for ASCII lowercase text).
///
/// - NFKC: compatibility composition ('ﬁ' → "fi", full-width digits → ASCII); identity on ASCII.
/// - case folding: full Unicode default case folding ('Straße' → "strasse"); ASCII fast path.
/// - whitespace: every run of Unicode whitespace becomes one ' ', ends trimmed.
pub fn normalize<'t>(text: &'t str, opts: &NormalizeOptions) -> Cow<'t, str> {
    if text.is_ascii() {
        return normalize_ascii(text, opts);
    }
    let mut s: Cow<'t, str> = Cow::Borrowed(text);
    if opts.nfkc && !s.is_ascii() && is_nfkc_quick(s.chars()) != IsNormalized::Yes {
        s = Cow::Owned(nfkc_runs(&s));
    }
    if opts.casefold {
        if s.is_ascii() {
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                s = Cow::Owned(s.to_ascii_lowercase());
            }
        } else if let Some(folded) = fold_mixed(&s) {
            s = Cow::Owned(folded);
        }
    }
    if opts.collapse_whitespace && needs_collapse(&s) {
        let mut out = String::with_capacity(s.len());
        for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        s = Cow::Owned(out);
    }
    s
}

/// NFKC of `s` a piece at a time, cut before each run of ASCII whitespace: such a character
/// has combining class 0 and passes the quick check (nothing composes with it or reorders
/// across it), so the pieces normalise apart; only those the quick check does not pass are
/// normalised (a text with one ligature or full-width digit is not decomposed and recomposed
/// whole).
fn nfkc_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (lead, _, end) in ws_pieces(s) {
        let piece = &s[lead..end];
        if piece.is_ascii() || is_nfkc_quick(piece.chars()) == IsNormalized::Yes {
            out.push_str(piece);
        } else {
            out.extend(piece.nfkc());
        }
    }
    out
}

/// The pieces of `s` cut before each run of ASCII whitespace, as (piece start, start of its
/// run of other characters, piece end); the last piece may be whitespace only.
fn ws_pieces(s: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= b.len() {
            return None;
        }
        let lead = i;
        while i < b.len() && is_ascii_ws(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_ascii_ws(b[i]) {
            i += 1;
        }
        Some((lead, start, i))
    })
}

/// Full default case folding of `s`, `None` where it changes nothing. A char at a time (the
/// folding maps each character alone), ASCII by lowercasing: text with a few non-ASCII
/// characters (a curly quote, an accent) folds at nearly the ASCII speed.
fn fold_mixed(s: &str) -> Option<String> {
    let same = |c: char| {
        if c.is_ascii() {
            !c.is_ascii_uppercase()
        } else {
            let mut f = std::iter::once(c).default_case_fold();
            f.next() == Some(c) && f.next().is_none()
        }
    };
    let first = s.char_indices().find(|&(_, c)| !same(c))?.0;
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(std::iter::once(c).default_case_fold());
        }
    }
    Some(out)
}

/// `char::is_whitespace` on an ASCII byte (includes U+000B, unlike `u8::is_ascii_whitespace`).
#[inline]
fn is_ascii_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// [`normalize`] of ASCII text in one pass: NFKC is the identity, folding is lowercasing.
fn normalize_ascii<'t>(text: &'t str, opts: &NormalizeOptions) -> Cow<'t, str> {
    let b = text.as_bytes();
    let fold = opts.casefold && b.iter().any(u8::is_ascii_uppercase);
    let collapse = opts.collapse_whitespace && needs_collapse_ascii(b);
    if !fold && !collapse {
        return Cow::Borrowed(text);
    }
    if !collapse {
        return Cow::Owned(text.to_ascii_lowercase());
    }
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut pending_space = false;
    for &c in b {
        if is_ascii_ws(c) {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(if fold { c.to_ascii_lowercase() } else { c });
        }
    }
    // only ASCII bytes were pushed
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

fn needs_collapse_ascii(b: &[u8]) -> bool {
    let mut prev_space = true; // leading whitespace needs trimming
    for &c in b {
        if is_ascii_ws(c) {
            if prev_space || c != b' ' {
                return true;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    prev_space && !b.is_empty()
}

fn needs_collapse(s: &str) -> bool {
    let mut prev_space = true; // leading whitespace needs trimming
    for c in s.chars() {
        if c.is_whitespace() {
            if prev_space || c != ' ' {
                return true;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    prev_space && !s.is_empty()
}

/// Word tokens (UAX #29 words, and the symbol segments of [`is_symbol_token`]: ASCII
/// punctuation and spaces dropped) or every character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenMode {
    Word,
    Char,
}

/// Call `f` on each token of `text` (already normalised) without allocating.
pub fn for_each_token<'t>(text: &'t str, mode: TokenMode, mut f: impl FnMut(&'t str)) {
    match mode {
        TokenMode::Word => {
            if text.is_ascii() {
                ascii_words(text, f)
            } else {
                mixed_words(text, f)
            }
        }
        TokenMode::Char => {
            for (i, c) in text.char_indices() {
                f(&text[i..i + c.len_utf8()]);
            }
        }
    }
}

/// The words of non-ASCII `text`: UAX #29 segments with a letter or digit, and symbols. Most
/// such text is ASCII but for a quote or an accent, so it goes a run at a time, the runs cut
/// at ASCII whitespace: an ASCII run by [`ascii_words`], another by the general segmenter.
/// A word boundary falls on both sides of ASCII whitespace except before an Extend, Format or
/// ZWJ character (rule WB4 joins it to the whitespace) or another space (WB3d): a run opening
/// with a non-ASCII character that is no letter or digit is segmented together with the runs
/// before it, so the segments are those of the whole text (a property test says so).
fn mixed_words<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    // the region being gathered: (start, end, all ASCII)
    let mut region: Option<(usize, usize, bool)> = None;
    for (lead, start, end) in ws_pieces(text) {
        let run = &text[start..end];
        if run.is_empty() {
            break;
        }
        let ascii = run.is_ascii();
        let joins = run.chars().next().is_some_and(|c| !c.is_ascii() && !c.is_alphanumeric());
        region = match region {
            Some((from, _, _)) if joins => Some((from, end, false)),
            Some(r) => {
                region_words(text, r, &mut f);
                Some((lead, end, ascii))
            }
            None => Some((lead, end, ascii)),
        };
    }
    if let Some(r) = region {
        region_words(text, r, &mut f);
    }
}

/// The words of `text[start..end]` for [`mixed_words`].
fn region_words<'t>(text: &'t str, (start, end, ascii): (usize, usize, bool), f: &mut impl FnMut(&'t str)) {
    let part = &text[start..end];
    if ascii {
        ascii_words(part, f);
    } else {
        // `unicode_words` keeps the segments with a letter or digit; symbols are kept too
        part.split_word_bounds()
            .filter(|s| s.chars().any(char::is_alphanumeric) || is_symbol_token(s))
            .for_each(f);
    }
}

/// Whether a UAX #29 segment without a letter or digit is a token all the same: it holds a
/// non-ASCII symbol (an emoji, '✓', '∆', '€'), a non-ASCII punctuation mark other than quotes,
/// brackets and dashes ('§', '¶', '†', '•'), a private-use or an invisible format character (a
/// zero-width space). Such a character is a backdoor trigger as good as a rare word, and
/// dropping it with the punctuation would hide it from every detector. ASCII punctuation stays
/// dropped (so ASCII text tokenises as before), and so does what NFKC turns into ASCII ('…').
pub fn is_symbol_token(segment: &str) -> bool {
    use GeneralCategory as G;
    segment.chars().any(|c| {
        !c.is_ascii()
            && matches!(
                c.general_category(),
                G::OtherSymbol
                    | G::MathSymbol
                    | G::CurrencySymbol
                    | G::ModifierSymbol
                    | G::OtherPunctuation
                    | G::PrivateUse
                    | G::Format
            )
    })
}

/// The tokens of `text` (already normalised).
pub fn tokenize(text: &str, mode: TokenMode) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_token(text, mode, |t| out.push(t));
    out
}

/// UAX #29 words for ASCII text, without the general segmenter: letters/digits/underscore runs,
/// joined across `'` between letters and `.`/`,`/`'`/`;` between digits (MidLetter, MidNum),
/// `.` between letters (MidNumLet) — the cases that occur in ASCII. Equal to `unicode_words`
/// on ASCII input (checked by a property test).
pub(crate) fn ascii_words<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    let b = text.as_bytes();
    let n = b.len();
    let is_w = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < n {
        if !is_w(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        loop {
            while i < n && is_w(b[i]) {
                i += 1;
            }
            if i + 1 < n && is_w(b[i + 1]) {
                let (prev, mid, next) = (b[i - 1], b[i], b[i + 1]);
                let letters = prev.is_ascii_alphabetic() && next.is_ascii_alphabetic();
                let digits = prev.is_ascii_digit() && next.is_ascii_digit();
                let joins = match mid {
                    b'\'' | b'.' | b':' => letters || (digits && mid != b':'),
                    b',' | b';' => digits,
                    _ => false,
                };
                if joins {
                    i += 1;
                    continue;
                }
            }
            break;
        }
        // unicode_words keeps only segments with an alphanumeric character ("__" is not a word)
        if b[start..i].iter().any(u8::is_ascii_alphanumeric) {
            f(&text[start..i]);
        }
    }
}
