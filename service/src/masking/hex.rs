//! Card numbers spelled in hex inside other text: `encode(x, 'hex')`, and a hex `bytea` that is
//! not a whole column (an element of an array, a field of a record, a JSON string, a COPY row,
//! a row an error message quotes). Postgres writes every such `bytea` as `\x` and two hex
//! digits per byte, and a card number stored as bytes is its ASCII digits: `3X` pairs.
//!
//! A run of at least 13 digit pairs (`30`-`39`), with space and dash pairs (`20`, `2d`)
//! between them, is decoded, masked like any text (same length: `*` is `2a`), and written back
//! as lower-case hex in place. Nothing else that is hex is touched, so hashes and UUIDs pass.

use super::pan::{self, MaskStyle};

/// The fewest digits a card number has.
const MIN_DIGITS: usize = 13;

/// `text` with every hex-spelled card number masked, and how many there were; `None` when
/// there is none (the common case: no allocation).
pub(super) fn mask_hex_pans(text: &[u8], style: &MaskStyle) -> Option<(Vec<u8>, u32)> {
    const SHORTEST: usize = 2 * MIN_DIGITS;
    let mut out: Option<Vec<u8>> = None;
    let mut count = 0;
    let mut decoded = Vec::new();
    // Every byte of a hex-spelled card number is a decimal digit or `d`: look at the last byte
    // of each window as long as the shortest one, and skip the whole window when it is not
    // (Horspool's skip), so text without long digit runs is barely read.
    let mut i = 0;
    while i + SHORTEST <= text.len() {
        let last = i + SHORTEST - 1;
        if !spells_hex_digit(text[last]) {
            i = last + 1;
            continue;
        }
        let mut start = last;
        while start > i && spells_hex_digit(text[start - 1]) {
            start -= 1;
        }
        let mut end = last + 1;
        while end < text.len() && spells_hex_digit(text[end]) {
            end += 1;
        }
        if end - start >= SHORTEST {
            count += mask_run(text, start, end, style, &mut decoded, &mut out);
        }
        i = end;
    }
    out.map(|o| (o, count))
}

/// Whether `b` can be a byte of a hex-spelled digit, space or dash pair (`3X`, `20`, `2d`).
fn spells_hex_digit(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'd' | b'D')
}

/// Masks the hex-spelled card numbers in `text[start..end]` (a run of [`spells_hex_digit`]
/// bytes) into `out`; returns how many.
fn mask_run(
    text: &[u8],
    start: usize,
    end: usize,
    style: &MaskStyle,
    decoded: &mut Vec<u8>,
    out: &mut Option<Vec<u8>>,
) -> u32 {
    let mut count = 0;
    let mut i = start;
    while let Some(offset) = memchr::memchr(b'3', &text[i..end]) {
        let from = i + offset;
        let (to, digits) = digit_pairs(&text[..end], from);
        if digits < MIN_DIGITS {
            i = from + 1;
            continue;
        }
        decoded.clear();
        decoded.extend(
            text[from..to]
                .chunks_exact(2)
                .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])),
        );
        // Tokens cannot keep the length: a hex-spelled card number is redacted under them.
        let style = match style {
            MaskStyle::Token { .. } => &MaskStyle::Redact,
            other => other,
        };
        let masked = pan::mask_in_place(decoded, style);
        if masked > 0 {
            count += masked as u32;
            let buf = out.get_or_insert_with(|| text.to_vec());
            buf[from..to].copy_from_slice(hex::encode(&*decoded).as_bytes());
        }
        i = to;
    }
    count
}

/// From `start`, the end of the run of pairs that spell digits, spaces or dashes, and how many
/// of them are digits.
fn digit_pairs(text: &[u8], start: usize) -> (usize, usize) {
    let mut end = start;
    let mut digits = 0;
    while let (Some(&high), Some(&low)) = (text.get(end), text.get(end + 1)) {
        match (high, low) {
            (b'3', b'0'..=b'9') => digits += 1,
            (b'2', b'0' | b'd' | b'D') => {}
            _ => break,
        }
        end += 2;
    }
    (end, digits)
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(text: &str) -> String {
        hex::encode(text.as_bytes())
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
}
