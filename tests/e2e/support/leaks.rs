//! The leak oracle: finds full card numbers in what a client received or what hoop kept, by its
//! own reading of the bytes (independent of hoop's scanner), and reads the evidence it is run
//! on: spool recordings and sealed archives.
//!
//! A card number is found as a run of decimal digits (13 to 19, single spaces or dashes between
//! them allowed) that passes Luhn, or as one of the test cards [`PANS`] wherever it stands; and
//! the same inside what hex runs (`bytea` output `\x…`, `encode(…, 'hex')`) and base64 runs
//! decode to, and a test card written as a hex number.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// Test cards of four brands and lengths (all Luhn-valid, known IINs).
pub const VISA: &str = "4111111111111111";
pub const MASTERCARD: &str = "5555555555554444";
pub const AMEX: &str = "378282246310005";
pub const DISCOVER: &str = "6011111111111117";
pub const PANS: [&str; 4] = [VISA, MASTERCARD, AMEX, DISCOVER];

/// Hex or base64 shorter than this many characters cannot hold 13 digits.
const MIN_HEX_RUN: usize = 26;
const MIN_BASE64_RUN: usize = 18;

/// Independent of hoop's scanner: the textbook Luhn check.
pub fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d > 4 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Every card number in `bytes`, as text or hex- or base64-encoded (see the module).
pub fn leaks(bytes: &[u8]) -> Vec<String> {
    // hoop's own ids are UUIDs, whose hex groups can read as dashed digit runs
    // (`d3778413-3037-438e`): they are not values, so they are left out of the search.
    let uuid = regex::Regex::new(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .unwrap();
    let text = String::from_utf8_lossy(bytes);
    let text = uuid.replace_all(&text, "<uuid>");
    // Hashes and ids in hex (chain heads, digests) hold digit runs that are not decimal data:
    // the plain reading leaves out hex runs of 20 characters or more with a letter in them
    // (what they decode to is still read below).
    let hex = regex::Regex::new("[0-9a-fA-F]{20,}").unwrap();
    let plain = hex.replace_all(&text, |run: &regex::Captures| {
        let run = &run[0];
        if run.bytes().any(|b| b.is_ascii_alphabetic()) {
            "<hex>".to_owned()
        } else {
            run.to_owned()
        }
    });
    let mut found = plain_leaks(&plain);
    for (encoding, decoded) in decoded_runs(&text) {
        let decoded = String::from_utf8_lossy(&decoded);
        found.extend(
            plain_leaks(&decoded)
                .into_iter()
                .map(|pan| format!("{pan} ({encoding})")),
        );
    }
    let lower = text.to_ascii_lowercase();
    for pan in PANS {
        let hex = format!("{:x}", pan.parse::<u64>().unwrap());
        if lower.contains(&hex) {
            found.push(format!("{pan} (a hex number)"));
        }
    }
    found
}

/// Decimal digit runs that are card numbers, and test cards with spaces or dashes anywhere.
fn plain_leaks(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut digits = String::new();
    let chars: Vec<char> = text.chars().collect();
    for i in 0..=chars.len() {
        match chars.get(i).copied() {
            Some(d) if d.is_ascii_digit() => digits.push(d),
            Some(' ' | '-')
                if !digits.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) => {}
            _ => {
                if (13..=19).contains(&digits.len()) && luhn(&digits) {
                    found.push(digits.clone());
                }
                digits.clear();
            }
        }
    }
    let squeezed: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    for pan in PANS {
        if squeezed.contains(pan) {
            found.push(pan.to_owned());
        }
    }
    found
}

/// What the hex and base64 runs of `text` decode to, at every alignment a run could start at.
fn decoded_runs(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let base64 = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut decoded = Vec::new();
    for run in runs(text, |c| c.is_ascii_hexdigit(), MIN_HEX_RUN) {
        for start in 0..2 {
            let pairs = run.as_bytes()[start..].chunks_exact(2);
            let bytes = pairs
                .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                .collect();
            decoded.push(("hex", bytes));
        }
    }
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    for run in runs(text, is_base64, MIN_BASE64_RUN) {
        for start in 0..4 {
            let mut chars = &run[start..];
            if chars.len() % 4 == 1 {
                chars = &chars[..chars.len() - 1];
            }
            if let Ok(bytes) = base64.decode(chars) {
                decoded.push(("base64", bytes));
            }
        }
    }
    decoded
}

/// Maximal runs of characters `within` of at least `min` characters.
fn runs(text: &str, within: impl Fn(char) -> bool, min: usize) -> Vec<&str> {
    text.split(|c: char| !within(c))
        .filter(|run| run.len() >= min)
        .collect()
}

/// [`leaks`], after taking out every occurrence of the strings in `known`: leaks a test pins
/// elsewhere (each one asserted to be there), so that it sees every other one.
pub fn leaks_except(bytes: &[u8], known: &[String]) -> Vec<String> {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for known in known {
        text = text.replace(known.as_str(), "<known leak>");
    }
    leaks(text.as_bytes())
}

/// Panics with what was found, and the lines it was found in, if `bytes` holds a card number.
pub fn assert_no_leak(what: &str, bytes: &[u8]) {
    assert_no_leak_except(what, bytes, &[]);
}

/// [`assert_no_leak`] with the `known` leaks taken out (see [`leaks_except`]).
pub fn assert_no_leak_except(what: &str, bytes: &[u8], known: &[String]) {
    let found = leaks_except(bytes, known);
    if found.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !leaks_except(line.as_bytes(), known).is_empty())
        .collect();
    panic!(
        "{what}: card numbers leaked: {found:?}\nin:\n{}",
        if lines.is_empty() {
            text.into_owned()
        } else {
            lines.join("\n")
        }
    );
}

/// Events one JSON line each, without their chain links (`prev`: a hash is random hex, not a
/// recorded value): what the oracle reads of a recording.
pub fn without_links(events: &[Value]) -> Vec<u8> {
    let mut shown = Vec::new();
    for event in events {
        let mut event = event.clone();
        event.as_object_mut().unwrap().remove("prev");
        shown.extend(event.to_string().into_bytes());
        shown.push(b'\n');
    }
    shown
}

/// Every file under `root`, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The events of a sealed session archive: the object `<session>.jsonl.zst`, zstd-compressed
/// JSONL (`docs/archive-format.md`).
pub fn archive_events(what: &str, object: &[u8]) -> Vec<Value> {
    let jsonl =
        zstd::stream::decode_all(object).unwrap_or_else(|e| panic!("{what} is not zstd: {e}"));
    String::from_utf8(jsonl)
        .unwrap_or_else(|e| panic!("{what} is not UTF-8: {e}"))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The events of every sealed session archive (`*.jsonl.zst`) in the folder store at `root`,
/// one list per archive.
pub fn sealed_archives(root: &Path) -> Vec<Vec<Value>> {
    files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.zst"))
        .map(|path| archive_events(&path.display().to_string(), &std::fs::read(&path).unwrap()))
        .collect()
}

#[test]
fn the_oracle_sees_card_numbers_in_text_hex_and_base64_but_not_masked_ones() {
    use base64::engine::general_purpose::STANDARD;
    let hex = |text: &str| -> String { text.bytes().map(|b| format!("{b:02x}")).collect() };
    let found = [
        VISA.to_owned(),
        "5555-5555-5555-4444".to_owned(),
        "4111 1111 1111 1111".to_owned(),
        // bytea output, in a psql row and a JSON string.
        format!("1|\\x{}|x", hex(VISA)),
        format!("{{\"raw\":\"\\\\x{}\"}}", hex(&format!("card {AMEX}"))),
        // encode(…, 'hex'), upper case, and one nibble off the run's start.
        hex(DISCOVER).to_uppercase(),
        format!("a{}", hex(MASTERCARD)),
        // encode(…, 'base64'), padded or not, and inside a longer value.
        STANDARD.encode(VISA),
        STANDARD.encode(AMEX).trim_end_matches('=').to_owned(),
        STANDARD.encode(format!("paid with {MASTERCARD}, thanks")),
        format!("x{}", STANDARD.encode(format!("ab{DISCOVER}"))),
        // to_hex(pan::bigint).
        format!("{:x}", VISA.parse::<u64>().unwrap()),
        // Not a test card, but a card number all the same (Luhn, 16 digits).
        hex("4012888888881881"),
    ];
    for text in found {
        assert!(!leaks(text.as_bytes()).is_empty(), "{text}");
    }
    let masked = [
        "411111******1111".to_owned(),
        format!("\\x{}", hex("411111******1111")),
        STANDARD.encode("411111******1111"),
        // Ids, hashes and numbers that are not card numbers.
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_owned(),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        "\"head\":\"cc93494969903585cf7742e5b2fc3db92145df7c58e29b292d628a667e727e0c\"".to_owned(),
        "1000000000001 4111111111111112".to_owned(),
        STANDARD.encode("order 1000000000001"),
    ];
    for text in masked {
        assert!(
            leaks(text.as_bytes()).is_empty(),
            "{text}: {:?}",
            leaks(text.as_bytes())
        );
    }
}
