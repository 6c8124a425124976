//! Card numbers in the two text forms of `bytea`, wherever they sit in a text: an element of
//! an array, a field of a record, a JSON string, a COPY row, a row an error message quotes,
//! `encode(x, 'hex')`, a statement's literal. (A whole `bytea` column is decoded by its type,
//! [`super::value`].)
//!
//! - **Hex** (`\x3431…`, two hex digits a byte): each run of hex digits (whitespace between
//!   them allowed, as Postgres reads a literal) is decoded at both pair alignments, the bytes
//!   masked like any text (thousands separators and all), and the changed pairs written back
//!   as lower-case hex in place. Same length: `*` is `2a`.
//! - **Escape** (`\012`, three octal digits for a byte that is not printable; the backslash is
//!   doubled inside an array or record): an escape right before or after a card number would
//!   join its digits into a longer run no scanner takes for a card number (`\0124111…`). The
//!   text is scanned once more with the escapes' digits blanked, and what that scan masks is
//!   masked.

use super::pan::{self, MaskStyle};

/// The fewest digits a card number has.
const MIN_DIGITS: usize = 13;
/// The fewest hex digits that can spell one.
const SHORTEST: usize = 2 * MIN_DIGITS;

/// Tokens cannot keep a text's length: inside `bytea` text a card number is redacted under them.
fn in_place_style(style: &MaskStyle) -> &MaskStyle {
    match style {
        MaskStyle::Token { .. } => &MaskStyle::Redact,
        other => other,
    }
}

/// `text` with every hex-spelled card number masked, and how many there were; `None` when
/// there is none (the common case: no allocation).
pub(super) fn mask_hex_pans(text: &[u8], style: &MaskStyle) -> Option<(Vec<u8>, u32)> {
    // The one check most texts see: a hex-spelled card number has a `3` for each of its 13 or
    // more digits.
    if text.len() < SHORTEST
        || memchr::memchr_iter(b'3', text)
            .nth(MIN_DIGITS - 1)
            .is_none()
    {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let mut count = 0;
    // A write-back at one alignment can only hide digits, but the other alignment reads what it
    // wrote: scan again until nothing changes (twice at most in practice).
    let mut scratch = Scratch::default();
    // Runs of hex digits alone, then runs with whitespace between the digits (a literal);
    // each on its own, so whitespace never joins two hex values into one longer number.
    // Again while a round changed something (rare: twice at most in practice).
    for _ in 0..2 {
        let mut changed = false;
        for spaced in [false, true] {
            let current = out.as_deref().unwrap_or(text);
            if let Some((next, n)) = hex_pass(current, style, spaced, &mut scratch) {
                count += n;
                out = Some(next);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    out.map(|o| (o, count))
}

/// One pass of [`mask_hex_pans`].
fn hex_pass(
    text: &[u8],
    style: &MaskStyle,
    spaced: bool,
    scratch: &mut Scratch,
) -> Option<(Vec<u8>, u32)> {
    let mut out: Option<Vec<u8>> = None;
    let mut count = 0;
    // Look at the last byte of each window as long as the shortest spelling and skip the whole
    // window when it cannot belong to one (Horspool's skip): text without long runs of hex
    // digits is barely read.
    let mut i = 0;
    while i + SHORTEST <= text.len() {
        let last = i + SHORTEST - 1;
        if !in_run(text[last], spaced) {
            i = last + 1;
            continue;
        }
        let mut start = last;
        while start > i && in_run(text[start - 1], spaced) {
            start -= 1;
        }
        let mut end = last + 1;
        while end < text.len() && in_run(text[end], spaced) {
            end += 1;
        }
        count += mask_run(text, (start, end, spaced), style, scratch, &mut out);
        i = end;
    }
    out.map(|o| (o, count))
}

/// A byte of a hex run: a hex digit, or (`spaced`) whitespace between them.
fn in_run(b: u8, spaced: bool) -> bool {
    b.is_ascii_hexdigit() || (spaced && matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

#[derive(Default)]
struct Scratch {
    /// Where the run's hex digits are.
    digits: Vec<usize>,
    decoded: Vec<u8>,
    masked: Vec<u8>,
}

/// Masks the hex-spelled card numbers of `text[start..end]`, at both pair alignments, into
/// `out`; returns how many.
fn mask_run(
    text: &[u8],
    (start, end, spaced): (usize, usize, bool),
    style: &MaskStyle,
    s: &mut Scratch,
    out: &mut Option<Vec<u8>>,
) -> u32 {
    // Counted before anything is copied: a hex-spelled card number has at least 26 hex digits
    // and a `3` for each of its 13 or more digits.
    let run = &text[start..end];
    let hex_digits = run.iter().filter(|b| b.is_ascii_hexdigit()).count();
    if hex_digits < SHORTEST
        || (spaced && hex_digits == run.len())
        || run.iter().filter(|&&b| b == b'3').count() < MIN_DIGITS
    {
        return 0;
    }
    s.digits.clear();
    s.digits
        .extend((start..end).filter(|&k| text[k].is_ascii_hexdigit()));
    // A spaced run without whitespace was read as a plain one.
    if s.digits.len() < SHORTEST || (spaced && s.digits.len() == end - start) {
        return 0;
    }
    let mut count = 0;
    for alignment in 0..2 {
        let pairs = &s.digits[alignment..];
        s.decoded.clear();
        s.decoded.extend(
            pairs
                .chunks_exact(2)
                .map(|p| (nibble(text[p[0]]) << 4) | nibble(text[p[1]])),
        );
        if !pan::contains_pan(&s.decoded) {
            continue;
        }
        s.masked.clear();
        s.masked.extend_from_slice(&s.decoded);
        let masked = pan::mask_in_place(&mut s.masked, in_place_style(style));
        count += masked as u32;
        let buf = out.get_or_insert_with(|| text.to_vec());
        for (k, (before, after)) in s.decoded.iter().zip(&s.masked).enumerate() {
            if before != after {
                let pair = hex::encode([*after]);
                buf[pairs[2 * k]] = pair.as_bytes()[0];
                buf[pairs[2 * k + 1]] = pair.as_bytes()[1];
            }
        }
    }
    count
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// `text` with the card numbers that escape-format octal escapes (`\012`) would hide masked,
/// and how many; `None` when there is none.
pub(super) fn mask_beside_escapes(text: &[u8], style: &MaskStyle) -> Option<(Vec<u8>, u32)> {
    if text.len() < MIN_DIGITS + 4 {
        return None;
    }
    let mut view: Option<Vec<u8>> = None;
    let mut k = 0;
    while let Some(offset) = text.get(k..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        // Any number of backslashes: inside an array or a record the escape's own backslash
        // is doubled (`{"\\0014111…"}`). Reading an escaped backslash and digits as an
        // escape can only mask more.
        let mut at = k + offset;
        while text.get(at + 1) == Some(&b'\\') {
            at += 1;
        }
        match text.get(at + 1..at + 4) {
            Some(digits) if digits.iter().all(|d| (b'0'..=b'7').contains(d)) => {
                view.get_or_insert_with(|| text.to_vec())[at + 1..at + 4].fill(b'o');
                k = at + 4;
            }
            _ => k = at + 1,
        }
    }
    let mut view = view?;
    let found = pan::mask_in_place(&mut view, in_place_style(style));
    if found == 0 {
        return None;
    }
    let mut out = text.to_vec();
    for (o, v) in out.iter_mut().zip(&view) {
        if *v == b'*' {
            *o = b'*';
        }
    }
    Some((out, found as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(text: &str) -> String {
        hex::encode(text.as_bytes())
    }

    fn escaped(text: &str) -> Option<String> {
        mask_beside_escapes(text.as_bytes(), &MaskStyle::BinAndLastFour)
            .map(|(t, _)| String::from_utf8(t).unwrap())
    }

    fn masked(text: &str) -> Option<String> {
        mask_hex_pans(text.as_bytes(), &MaskStyle::BinAndLastFour)
            .map(|(t, _)| String::from_utf8(t).unwrap())
    }

    #[test]
    fn hex_spelled_card_numbers_are_masked_wherever_they_sit() {
        let pan = hex_of("5555555555554444");
        let shown = hex_of("555555******4444");
        for (before, after) in [
            (format!("\\x{pan}"), format!("\\x{shown}")),
            (
                format!("{{\"\\\\x{pan}\"}}"),
                format!("{{\"\\\\x{shown}\"}}"),
            ),
            (
                format!("(2,\"\\\\x{pan}\")"),
                format!("(2,\"\\\\x{shown}\")"),
            ),
            (
                format!("{{\"raw\":\"\\\\x{pan}\"}}"),
                format!("{{\"raw\":\"\\\\x{shown}\"}}"),
            ),
            (format!("2\t\\\\x{pan}\n"), format!("2\t\\\\x{shown}\n")),
            (pan.clone(), shown.clone()),
            (pan.to_uppercase(), shown.clone()),
            (
                hex_of("card 4111 1111 1111 1111 ok"),
                hex_of("card 4111 11** **** 1111 ok"),
            ),
        ] {
            assert_eq!(masked(&before).as_deref(), Some(after.as_str()), "{before}");
        }
        let (_, count) =
            mask_hex_pans(format!("{pan} {pan}").as_bytes(), &MaskStyle::LastFour).unwrap();
        assert_eq!(count, 2);
        let (tokened, _) = mask_hex_pans(pan.as_bytes(), &MaskStyle::Redact).unwrap();
        assert_eq!(tokened, hex_of("****************").as_bytes());
    }

    #[test]
    fn other_hex_is_left_alone() {
        for text in [
            // A SHA-256, a UUID, digits that fail Luhn, too few digits, plain decimal digits.
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned(),
            "6f1c0000-0000-4000-8000-000000000001".to_owned(),
            hex_of("5555555555554445"),
            hex_of("411111111111"),
            "3333333333333333333333333333333333".to_owned(),
            String::new(),
        ] {
            assert_eq!(masked(&text), None, "{text}");
        }
    }

    #[test]
    fn any_alignment_separator_or_whitespace_is_read() {
        let shown = hex_of("555555******4444");
        // Bytes whose hex ends in 3 before the number shift a reading by one digit.
        for prefix in [
            "#############",
            "sssssssssssss",
            "SSSSSSSSSSSSSS",
            "c",
            "\u{3}\u{13}",
        ] {
            let text = hex_of(&format!("{prefix}5555555555554444"));
            let out = masked(&text).unwrap_or_default();
            assert!(out.ends_with(&shown), "{prefix:?}: {out}");
        }
        for grouped in [
            "4,111,111,111,111,111",
            "4.111.111.111.111.111",
            "4'111'111'111'111'111",
        ] {
            let out = masked(&hex_of(grouped)).unwrap_or_default();
            assert!(!out.is_empty() && out != hex_of(grouped), "{grouped}");
            assert!(
                !String::from_utf8(hex::decode(&out).unwrap())
                    .unwrap()
                    .contains("111,111,111"),
                "{grouped}: {out}"
            );
        }
        let spaced = "\\x34 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31";
        let out = masked(spaced).unwrap();
        assert!(out.contains("2a"), "{out}");
        let with_newlines = spaced.replace(' ', "\n");
        assert!(masked(&with_newlines).unwrap().contains("2a"));
    }

    #[test]
    fn octal_escapes_beside_a_card_number_do_not_hide_it() {
        assert_eq!(
            escaped("line\\0124111111111111111").as_deref(),
            Some("line\\012411111******1111")
        );
        assert_eq!(
            escaped("caf\\303\\2514111111111111111").as_deref(),
            Some("caf\\303\\251411111******1111")
        );
        assert_eq!(
            escaped("4111111111111111\\012").as_deref(),
            Some("411111******1111\\012")
        );
        // Inside an array the escape's backslash is doubled.
        assert_eq!(
            escaped("{\"\\\\0014111111111111111\"}").as_deref(),
            Some("{\"\\\\001411111******1111\"}")
        );
        assert_eq!(escaped("no escapes 4111111111111111"), None);
        assert_eq!(escaped("\\012 and 1234"), None);
    }
}
