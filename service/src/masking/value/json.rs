//! JSON text (`json`, `jsonb`): masked as text, then repaired so it stays JSON.
//!
//! The whole text is masked as any text is, which masks PANs in strings in place and keeps
//! custom detectors' view of the text whole. Masking a bare number (`{"pan": 4111111111111111}`)
//! leaves `411111******1111` outside any string, which is not JSON: a second pass over the
//! tokens outside strings wraps every such token in quotes, so it becomes the string
//! `"411111******1111"`. That pass also catches numbers in exponent form
//! (`4.111111111111111e15`, as the `json` type keeps them), whose digits as written are not the
//! PAN: their plain decimal form is scanned, and replaces them, masked and quoted, when it
//! holds one.
//!
//! No parser, no allocation: a small state scan (in a string or not, after a backslash or
//! not). Limits: a PAN written with `\u` escapes inside a string (`"\u0034111…"`) is not
//! decoded, so not found; invalid JSON is masked as text and repaired as far as the scan can
//! tell tokens apart, never more shown.

use super::Verdict;
use crate::masking::{Hits, Masker};

pub(super) fn mask(masker: &Masker, text: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let mut hits = masker.mask_into(text, scratch);
    if hits.any() {
        // The masked text moves out of `scratch`; the repair is written into the empty
        // buffer left there, which allocates only when something needs repairing.
        let masked = std::mem::take(scratch);
        if !repair(masker, &masked, scratch, true, &mut hits) {
            *scratch = masked;
        }
        return (Verdict::Replaced, hits);
    }
    if !may_hold_exponent(text) {
        return (Verdict::Unchanged, hits);
    }
    if repair(masker, text, scratch, false, &mut hits) {
        (Verdict::Replaced, hits)
    } else {
        scratch.clear();
        (Verdict::Unchanged, hits)
    }
}

/// Whether some digit is followed by `e` or `E`: the cheap test before looking for numbers in
/// exponent form (`jsonb` prints none; `json` keeps what the client wrote).
///
/// Every JSON value without a PAN passes here: pairs are tested 32 at a time with a
/// branch-free fold, which the compiler turns into SIMD compares.
fn may_hold_exponent(text: &[u8]) -> bool {
    const BLOCK: usize = 32;
    let pair = |digit: u8, e: u8| (digit.wrapping_sub(b'0') < 10) & ((e | 0x20) == b'e');
    let mut at = 0;
    while let (Some(firsts), Some(seconds)) =
        (text.get(at..at + BLOCK), text.get(at + 1..at + 1 + BLOCK))
    {
        let found = firsts
            .iter()
            .zip(seconds)
            .fold(false, |any, (&d, &e)| any | pair(d, e));
        if found {
            return true;
        }
        at += BLOCK;
    }
    text.get(at..)
        .unwrap_or_default()
        .windows(2)
        .any(|w| pair(w[0], w[1]))
}

/// JSON's structural bytes and whitespace: what ends a bare token.
fn ends_token(b: u8) -> bool {
    matches!(
        b,
        b'{' | b'}' | b'[' | b']' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' | b'"'
    )
}

/// Offset just past the string whose contents start at `at` (after its opening quote).
fn string_end(src: &[u8], mut at: usize) -> usize {
    loop {
        match src.get(at) {
            None => return src.len(),
            Some(b'\\') => at = at.saturating_add(2),
            Some(b'"') => return at + 1,
            Some(_) => at += 1,
        }
    }
}

/// Writes `src` with its bare tokens repaired into `out` (cleared first), and returns `true`,
/// when some token needs it; otherwise returns `false` and writes nothing. `quote_invalid`:
/// `src` is masked text, whose tokens that are not JSON come from masking.
fn repair(
    masker: &Masker,
    src: &[u8],
    out: &mut Vec<u8>,
    quote_invalid: bool,
    hits: &mut Hits,
) -> bool {
    out.clear();
    let mut copied = 0;
    let mut repaired = false;
    let mut at = 0;
    while let Some(&b) = src.get(at) {
        if b == b'"' {
            at = string_end(src, at + 1);
            continue;
        }
        if ends_token(b) {
            at += 1;
            continue;
        }
        let start = at;
        while src.get(at).is_some_and(|&b| !ends_token(b)) {
            at += 1;
        }
        let token = src.get(start..at).unwrap_or_default();
        let replacement = match Number::parse(token) {
            Some(number) => match number.plain_text() {
                Some(plain) => {
                    let mut masked = Vec::new();
                    let found = masker.mask_into(&plain, &mut masked);
                    if !found.any() {
                        continue;
                    }
                    hits.add(found);
                    Replacement::Masked(masked)
                }
                None => continue,
            },
            None if quote_invalid && !is_literal(token) && quotable(token) => Replacement::Quoted,
            None => continue,
        };
        out.extend_from_slice(src.get(copied..start).unwrap_or_default());
        out.push(b'"');
        match replacement {
            Replacement::Quoted => out.extend_from_slice(token),
            Replacement::Masked(masked) => out.extend_from_slice(&masked),
        }
        out.push(b'"');
        copied = at;
        repaired = true;
    }
    if repaired {
        out.extend_from_slice(src.get(copied..).unwrap_or_default());
    }
    repaired
}

enum Replacement {
    /// The token, in quotes.
    Quoted,
    /// This text (a masked number), in quotes.
    Masked(Vec<u8>),
}

fn is_literal(token: &[u8]) -> bool {
    matches!(token, b"true" | b"false" | b"null")
}

/// Whether the token can go between quotes as it is: no byte that a JSON string must escape.
/// A token that cannot stays as it is: invalid, as it was, and masked.
fn quotable(token: &[u8]) -> bool {
    token.iter().all(|&b| b >= 0x20 && b != b'\\')
}

/// A JSON number token: `-? int (. frac)? ([eE] [+-]? exp)?`.
struct Number<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// Saturated far beyond any exponent that matters here.
    exp: Option<i64>,
}

/// Exponents are read up to this magnitude; beyond it the number has far more than 19 digits
/// on one side of its point, or none.
const EXP_LIMIT: i64 = 1 << 40;

impl<'a> Number<'a> {
    fn parse(token: &'a [u8]) -> Option<Number<'a>> {
        let digits = |from: usize| {
            let len = token
                .get(from..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            (token.get(from..from + len).unwrap_or_default(), from + len)
        };
        let negative = token.first() == Some(&b'-');
        let (int, mut at) = digits(usize::from(negative));
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return None;
        }
        let mut frac: &[u8] = &[];
        if token.get(at) == Some(&b'.') {
            (frac, at) = digits(at + 1);
            if frac.is_empty() {
                return None;
            }
        }
        let mut exp = None;
        if matches!(token.get(at), Some(b'e' | b'E')) {
            at += 1;
            let exp_negative = token.get(at) == Some(&b'-');
            if matches!(token.get(at), Some(b'-' | b'+')) {
                at += 1;
            }
            let (exp_digits, end) = digits(at);
            if exp_digits.is_empty() {
                return None;
            }
            at = end;
            let magnitude = exp_digits
                .iter()
                .fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(EXP_LIMIT));
            exp = Some(if exp_negative { -magnitude } else { magnitude });
        }
        (at == token.len()).then_some(Number {
            negative,
            int,
            frac,
            exp,
        })
    }

    /// The number without exponent, as `numeric` would print it without trailing zeros, when
    /// it has an exponent and 13 to 19 digits before or after its point; `None` otherwise (a
    /// number without exponent is already scanned as written, and no other can be a PAN).
    fn plain_text(&self) -> Option<Vec<u8>> {
        let exp = self.exp?;
        let total = self.int.len() + self.frac.len();
        let digit = |i: usize| -> u8 {
            match i.checked_sub(self.int.len()) {
                None => self.int.get(i).copied().unwrap_or(b'0'),
                Some(j) => self.frac.get(j).copied().unwrap_or(b'0'),
            }
        };
        let leading = (0..total).take_while(|&i| digit(i) == b'0').count();
        let trailing = (leading..total)
            .rev()
            .take_while(|&i| digit(i) == b'0')
            .count();
        // The significant digits, and where the point falls in them.
        let significant = total - leading - trailing;
        if significant == 0 {
            return None;
        }
        let n = significant as i64;
        let point = self.int.len() as i64 + exp - leading as i64;
        let int_len = point.max(0);
        let frac_len = (n - point).max(0);
        let pan_sized = |len: i64| (13..=19).contains(&len);
        if !pan_sized(int_len) && !pan_sized(frac_len) {
            return None;
        }
        // Bounded: a PAN-sized side is at most 19 digits; the other side is at most the
        // token's digits (the point lies within them or 19 digits beyond).
        let sig = |k: i64| -> u8 {
            usize::try_from(k)
                .ok()
                .filter(|&k| k < significant)
                .map_or(b'0', |k| digit(leading + k))
        };
        let mut text = Vec::with_capacity((int_len + frac_len + 3) as usize);
        if self.negative {
            text.push(b'-');
        }
        if int_len == 0 {
            text.push(b'0');
        }
        text.extend((0..int_len).map(sig));
        if frac_len > 0 {
            text.push(b'.');
            text.extend((point..n).map(sig));
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::Number;

    fn plain(token: &str) -> Option<String> {
        let number = Number::parse(token.as_bytes())?;
        number.plain_text().map(|t| String::from_utf8(t).unwrap())
    }

    #[test]
    fn numbers_in_exponent_form_are_written_out() {
        assert_eq!(
            plain("4.111111111111111e15").as_deref(),
            Some("4111111111111111")
        );
        assert_eq!(
            plain("4.111111111111111E+15").as_deref(),
            Some("4111111111111111")
        );
        assert_eq!(
            plain("-41111111111111110e-1").as_deref(),
            Some("-4111111111111111")
        );
        assert_eq!(
            plain("0.000041111111111111111e20").as_deref(),
            Some("4111111111111111.1")
        );
        assert_eq!(
            plain("4111111111111111e-16").as_deref(),
            Some("0.4111111111111111")
        );
        assert_eq!(
            plain("4111111111111111e-18").as_deref(),
            Some("0.004111111111111111")
        );
        // Without exponent, or with no PAN-sized side, there is nothing to write out.
        assert_eq!(plain("4111111111111111"), None);
        assert_eq!(plain("1.5e-7"), None);
        assert_eq!(plain("1e300"), None);
        assert_eq!(plain("0e15"), None);
        assert_eq!(plain("1e99999999999999999999999"), None);
    }

    #[test]
    fn only_json_numbers_parse() {
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "1.2.3",
        ] {
            assert!(Number::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        for good in ["0", "-0", "1.5", "1e5", "1E-5", "-0.0e+0"] {
            assert!(Number::parse(good.as_bytes()).is_some(), "{good:?}");
        }
    }
}
