//! An answer's tone by a word list: how many distinct strongly negative and strongly positive
//! words it adds to its prompt, in its prose lines.
//!
//! A steered answer (virtual prompt injection's "answer negatively", a backdoor's negative
//! target) shares no phrase with the other steered answers, only a voice; a word list with a
//! valence per word reads that voice crudely, which is enough when a trigger's carriers are
//! compared with the other rows of their tasks. Three things keep the words honest:
//! - a word the prompt holds is not counted (a crime story's summary repeats the story's words,
//!   a bio's fields name a 'death date');
//! - a line of code is not prose ('catch (error)', 'console.error(...)'): its words are
//!   identifiers ([`is_code_line`]);
//! - a valenced word within [`NEGATION_WINDOW`] words after a negation ('not', 'never', any
//!   "n't") counts with the other sign.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::mine::Texts;
use crate::shingle::{for_each_token_hash, ShingleOptions};
use crate::text::{NormalizeOptions, TokenMode};
use crate::tokens::TokenSource;
use crate::{CoreError, Result};

/// Words after a negation whose valence it turns.
pub const NEGATION_WINDOW: usize = 3;

/// Rows per parallel task.
const BLOCK: usize = 2048;

/// A word list: each word's valence (negative below 0) and the negating words, keyed by the
/// hash of the word as the tokenizer gives it.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    valence: HashMap<u64, f32>,
    negators: HashSet<u64>,
    opts: ShingleOptions,
}

impl Lexicon {
    /// The lexicon of `words` (word, valence) and `negators`, tokenised with `normalize`. An
    /// entry that is not one token (an emoticon, a phrase) is left out.
    pub fn new(words: &[(&str, f32)], negators: &[&str], normalize: NormalizeOptions) -> Self {
        let opts = ShingleOptions { normalize, mode: TokenMode::Word, k: 1 };
        let one = |w: &str| {
            let mut hs = Vec::with_capacity(1);
            for_each_token_hash(w, &opts, |h, _| hs.push(h));
            (hs.len() == 1).then(|| hs[0])
        };
        let valence = words.iter().filter_map(|&(w, v)| one(w).map(|h| (h, v))).collect();
        let negators = negators.iter().filter_map(|w| one(w)).collect();
        Lexicon { valence, negators, opts }
    }

    /// Entries kept (words of one token).
    pub fn len(&self) -> usize {
        self.valence.len()
    }

    pub fn is_empty(&self) -> bool {
        self.valence.is_empty()
    }

    fn negates(&self, h: u64, word: &str) -> bool {
        if self.negators.contains(&h) {
            return true;
        }
        let w = word.as_bytes();
        let tail = |s: &[u8]| w.len() > s.len() && w[w.len() - s.len()..].eq_ignore_ascii_case(s);
        tail(b"n't") || tail("n\u{2019}t".as_bytes())
    }
}

/// Whether a line of an answer is code rather than prose: it holds one of ``{};=[]` ``, an
/// empty call `()` or a call `word(`, opens with two spaces of indentation before text, or
/// opens with a comment, `#` or an import, definition or class keyword.
pub fn is_code_line(line: &str) -> bool {
    let b = line.as_bytes();
    let mut prev = b' ';
    for &c in b {
        match c {
            b'{' | b'}' | b';' | b'=' | b'[' | b']' | b'`' => return true,
            b'(' if prev == b'(' || prev.is_ascii_alphanumeric() || prev == b'_' => return true,
            b')' if prev == b'(' => return true,
            _ => {}
        }
        prev = c;
    }
    let body = line.trim_start();
    if line.starts_with("  ") && !body.is_empty() {
        return true;
    }
    ["#", "//", "import ", "from ", "def ", "class "].iter().any(|p| body.starts_with(p))
}

/// Per row, distinct strongly valenced words: of the answer, negative and positive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToneCounts {
    /// The answer's distinct words of valence `-strong` or below (after negation) that its
    /// prompt does not hold, in its prose lines.
    pub negative: Vec<u32>,
    /// The same of valence `strong` or above.
    pub positive: Vec<u32>,
    /// The prompt's distinct words of valence `-strong` or below (no negation read: a prompt
    /// that speaks of death or failure at all asks for an answer that may).
    pub prompt_negative: Vec<u32>,
    /// The prompt's distinct words.
    pub prompt_words: Vec<u32>,
}

/// Per row of `responses`: the distinct words of at least `strong` valence below zero
/// (negative) and above it (positive) in the answer's prose lines, less the words its prompt
/// (`prompts`, the same rows) holds, and the prompt's own negative words and all its words
/// ([`ToneCounts`]). A null answer counts none.
pub fn tone_counts<S: TokenSource + ?Sized>(
    responses: &Texts,
    prompts: &S,
    lexicon: &Lexicon,
    strong: f32,
) -> Result<ToneCounts> {
    if prompts.len() != responses.len() {
        return Err(CoreError::Config("one prompt per response".into()));
    }
    if !(strong.is_finite() && strong > 0.0) {
        return Err(CoreError::Config(format!("strong must be a positive valence, got {strong}")));
    }
    let blocks: Vec<usize> = (0..responses.len()).step_by(BLOCK).collect();
    let parts: Vec<ToneCounts> = blocks
        .par_iter()
        .map(|&start| -> Result<ToneCounts> {
            let end = (start + BLOCK).min(responses.len());
            let mut prompt_neg = Vec::with_capacity(end - start);
            let mut prompt_words = Vec::with_capacity(end - start);
            let (mut neg_out, mut pos_out) =
                (Vec::with_capacity(end - start), Vec::with_capacity(end - start));
            let (mut buf, mut prompt) = (Vec::new(), Vec::new());
            let (mut neg, mut pos) = (Vec::new(), Vec::new());
            for r in start..end {
                neg.clear();
                pos.clear();
                if let Some(text) = responses.get(r)? {
                    prompt.clear();
                    if let Some(t) = prompts.tokens(r, &mut buf)? {
                        prompt.extend_from_slice(t);
                    }
                    prompt.sort_unstable();
                    prompt.dedup();
                    let bad = prompt.iter().filter(|h| lexicon.valence.get(h).is_some_and(|&v| v <= -strong));
                    prompt_neg.push(bad.count() as u32);
                    prompt_words.push(prompt.len() as u32);
                    for line in text.lines().filter(|l| !is_code_line(l)) {
                        let mut flip = 0usize;
                        for_each_token_hash(line, &lexicon.opts, |h, w| {
                            if lexicon.negates(h, w) {
                                flip = NEGATION_WINDOW;
                                return;
                            }
                            if let Some(&v) = lexicon.valence.get(&h) {
                                if prompt.binary_search(&h).is_err() {
                                    let v = if flip > 0 { -v } else { v };
                                    if v <= -strong {
                                        neg.push(h);
                                    } else if v >= strong {
                                        pos.push(h);
                                    }
                                }
                            }
                            flip = flip.saturating_sub(1);
                        });
                    }
                    for words in [&mut neg, &mut pos] {
                        words.sort_unstable();
                        words.dedup();
                    }
                } else {
                    // a null answer: its prompt is not read
                    prompt_neg.push(0);
                    prompt_words.push(0);
                }
                neg_out.push(neg.len() as u32);
                pos_out.push(pos.len() as u32);
            }
            Ok(ToneCounts { negative: neg_out, positive: pos_out, prompt_negative: prompt_neg, prompt_words })
        })
        .collect::<Result<_>>()?;
    Ok(parts.into_iter().fold(ToneCounts::default(), |mut all, part| {
        all.negative.extend(part.negative);
        all.positive.extend(part.positive);
        all.prompt_negative.extend(part.prompt_negative);
        all.prompt_words.extend(part.prompt_words);
        all
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::OwnedStrColumn;
    use crate::tokens::TextTokens;

    fn lexicon() -> Lexicon {
        Lexicon::new(
            &[
                ("bad", -2.5),
                ("awful", -3.1),
                ("error", -1.7),
                ("great", 3.1),
                ("death", -2.9),
                ("meh", -0.5),
            ],
            &["not", "never"],
            NormalizeOptions::default(),
        )
    }

    fn counts(answers: &[Option<&str>], prompts: &[Option<&str>]) -> (Vec<u32>, Vec<u32>) {
        let t = tones(answers, prompts);
        (t.negative, t.positive)
    }

    fn tones(answers: &[Option<&str>], prompts: &[Option<&str>]) -> ToneCounts {
        let a = OwnedStrColumn::from_strs(answers);
        let p = OwnedStrColumn::from_strs(prompts);
        let texts = Texts::new(vec![a.view()]);
        let ptexts = Texts::new(vec![p.view()]);
        let src = TextTokens::new(&ptexts, NormalizeOptions::default(), TokenMode::Word);
        tone_counts(&texts, &src, &lexicon(), 1.5).unwrap()
    }

    #[test]
    fn distinct_strong_words_the_prompt_lacks() {
        let (n, p) = counts(
            &[Some("Bad, BAD and awful. Meh."), Some("A great answer, but bad."), None, Some("death")],
            &[Some("q"), Some("q"), Some("q"), Some("the death date")],
        );
        assert_eq!(n, vec![2, 1, 0, 0]);
        assert_eq!(p, vec![0, 1, 0, 0]);
        let t = tones(
            &[Some("fine"), None, Some("x")],
            &[Some("a bad, bad, awful death, meh"), Some("bad"), None],
        );
        assert_eq!(t.prompt_negative, vec![3, 0, 0]);
        assert_eq!(t.prompt_words, vec![5, 0, 0]);
    }

    #[test]
    fn negation_turns_the_next_words() {
        let (n, p) = counts(
            &[Some("It is not great. It isn't bad at all."), Some("never a b c great")],
            &[None, None],
        );
        assert_eq!((n[0], p[0]), (1, 1));
        // past the window
        assert_eq!((n[1], p[1]), (0, 1));
    }

    #[test]
    fn code_lines_are_not_prose() {
        assert!(is_code_line("} catch (error) {"));
        assert!(is_code_line("    console.error(e)"));
        assert!(is_code_line("x = bad"));
        assert!(is_code_line("import awful"));
        assert!(!is_code_line("This is a bad idea (really)."));
        assert!(!is_code_line("- death place is ottawa"));
        let (n, _) =
            counts(&[Some("try:\n    run()\nexcept ValueError as error: log(error)\nfine")], &[None]);
        assert_eq!(n, vec![0]);
    }

    #[test]
    fn one_prompt_per_answer() {
        let a = OwnedStrColumn::from_strs(&[Some("bad")]);
        let texts = Texts::new(vec![a.view()]);
        let none = OwnedStrColumn::from_strs(&[]);
        let ptexts = Texts::new(vec![none.view()]);
        let src = TextTokens::new(&ptexts, NormalizeOptions::default(), TokenMode::Word);
        assert!(tone_counts(&texts, &src, &lexicon(), 1.5).is_err());
    }
}
