use std::borrow::Cow;

use super::iin::IIN_RANGES;
use super::*;

fn matches(text: &str) -> Vec<&str> {
    find(text.as_bytes()).map(|m| &text[m.range()]).collect()
}

/// `body` followed by the digit that makes it pass Luhn.
fn with_check_digit(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|n| luhn(n))
        .expect("one check digit always fits")
}

/// Textbook Luhn over the digits of `number`, independent of the scanner's (shared with the
/// value tests).
pub(crate) fn luhn(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
        .filter(u8::is_ascii_digit)
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn key(byte: u8) -> TokenKey {
    TokenKey::new(&[byte; 32]).unwrap()
}

#[test]
fn zero_padded_pans_are_found_and_other_long_numbers_are_not() {
    assert_eq!(
        matches("000000004111111111111111"),
        ["000000004111111111111111"]
    );
    // The padding counts as the head: fewer digits are shown, never more.
    assert_eq!(
        mask("x 000000004111111111111111 y", &MaskStyle::BinAndLastFour),
        "x 000000**************1111 y"
    );
    assert!(matches("12345678901234567890").is_empty());
    assert!(matches("00000004111111111111112").is_empty());
}

#[test]
fn padded_pans_of_any_length_are_found() {
    // `lpad(pan, n, '0')` for every n from one zero upwards: the fixed-width field of card
    // files is 19 digits, which a 16-digit PAN fills with three zeros.
    for pan in ["4111111111111111", "378282246310005", "4222222222222"] {
        for zeros in 1..=10 {
            let padded = format!("{}{pan}", "0".repeat(zeros));
            assert_eq!(matches(&padded), [padded.as_str()], "{padded}");
            let text = format!("id={padded};");
            let masked = mask(&text, &MaskStyle::BinAndLastFour);
            assert!(!masked.contains(pan), "{masked}");
            assert!(!contains_pan(masked.as_bytes()), "{masked}");
        }
    }
    assert_eq!(
        mask("0004111111111111111", &MaskStyle::BinAndLastFour),
        "000411*********1111"
    );
    // Padding that hides nothing valid is no PAN.
    assert!(matches("0004111111111111112").is_empty());
    assert!(matches("0001234567890123456").is_empty());
    assert!(matches("0000000000000000000").is_empty());
}

#[test]
fn thousands_grouped_pans_are_found_in_every_money_format() {
    // What `money` and `to_char` print in the locales a session can choose: the thousands
    // separator (`,` `.` `'`, no-break spaces, the typographic apostrophe), a currency symbol
    // before or after, a decimal part, a sign.
    for text in [
        "$4,111,111,111,111,111.00",
        "-$4,111,111,111,111,111.00",
        "($4,111,111,111,111,111.00)",
        "4.111.111.111.111.111,00 €",
        "€ 4.111.111.111.111.111,00",
        "CHF 4'111'111'111'111'111.00",
        "Fr. 4\u{2019}111\u{2019}111\u{2019}111\u{2019}111\u{2019}111.00",
        "4\u{a0}111\u{a0}111\u{a0}111\u{a0}111\u{a0}111,00\u{a0}€",
        "4\u{202f}111\u{202f}111\u{202f}111\u{202f}111\u{202f}111,00 €",
        "4\u{2009}111\u{2009}111\u{2009}111\u{2009}111\u{2009}111",
        "4 111 111 111 111 111,00 kr",
        "¥4,111,111,111,111,111",
        "4,111,111,111,111,111",
        "4,111,111,111,111,111.000",
        "0,004,111,111,111,111,111",
        "378,282,246,310,005.50",
        "5,555,555,555,554,444.00",
        "{\"total\":\"$4,111,111,111,111,111.00\"}",
    ] {
        let found = matches(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        let digits: String = found[0].chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0');
        assert!(
            luhn(significant) && significant.len() >= 13,
            "{text}: {digits}"
        );
        let masked = mask(text, &MaskStyle::BinAndLastFour);
        assert!(!contains_pan(masked.as_bytes()), "{masked}");
        let mut in_place = text.as_bytes().to_vec();
        assert_eq!(mask_in_place(&mut in_place, &MaskStyle::LastFour), 1);
        assert!(!contains_pan(&in_place), "{text}");
    }
    assert_eq!(
        mask("$4,111,111,111,111,111.00", &MaskStyle::BinAndLastFour),
        "$4,111,11*,***,**1,111.00"
    );
    // A grouped number that goes on past the PAN shows no tail.
    assert_eq!(
        mask("4,111,111,111,111,111,000", &MaskStyle::BinAndLastFour),
        "4,111,11*,***,***,***,000"
    );
    assert_eq!(
        mask("4.111.111.111.111.111,00", &MaskStyle::BinAndLastFour),
        "4.111.11*.***.**1.111,00"
    );
}

#[test]
fn long_grouped_numbers_are_scanned_in_linear_time() {
    // A hostile value: one grouped number of 300,000 groups. Reading it from each group to
    // its end would take ~10^11 steps, which never finishes: the test runner's timeout
    // (.config/nextest.toml) ends such a run as a failure. Linear, it takes milliseconds.
    let mut text = String::from("1");
    text.push_str(&",000".repeat(300_000));
    text.push_str(",1");
    assert!(matches(&text).is_empty());
    text.push_str(",4,111,111,111,111,111");
    assert_eq!(matches(&text).len(), 1);
}

#[test]
fn detects_test_cards_of_every_brand() {
    for pan in [
        "4111111111111111",
        "5555555555554444",
        "2223000048400011",
        "378282246310005",
        "6011111111111117",
        "6011000990139424",
        "3530111333300000",
        "30569309025904",
        "6200000000000005",
        "8100000000000002",
        "5018000000000009",
        "4222222222222",
    ] {
        assert!(luhn(pan), "{pan} is not a Luhn-valid test number");
        assert_eq!(matches(pan), [pan], "{pan}");
        assert!(contains_pan(pan.as_bytes()), "{pan}");
    }
}

#[test]
fn detects_nineteen_digit_pans_in_every_layout() {
    let pan = with_check_digit("601100099013942123");
    assert_eq!(pan.len(), 19);
    assert_eq!(matches(&pan), [pan.as_str()]);
    let spaced = format!(
        "{} {} {} {} {}",
        &pan[..4],
        &pan[4..8],
        &pan[8..12],
        &pan[12..16],
        &pan[16..]
    );
    assert_eq!(matches(&spaced), [spaced.as_str()]);
    let dashed = spaced.replace(' ', "-");
    assert_eq!(matches(&dashed), [dashed.as_str()]);
    let six_thirteen = format!("{} {}", &pan[..6], &pan[6..]);
    assert_eq!(matches(&six_thirteen), [six_thirteen.as_str()]);
}

#[test]
fn detects_grouped_pans() {
    for pan in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "3782 822463 10005",
        "3782-822463-10005",
        "3056 930902 5904",
        "41 11 11 11 11 11 11 11",
        "411111 1111111111",
    ] {
        assert_eq!(matches(pan), [pan], "{pan}");
    }
}

#[test]
fn detects_pans_in_context() {
    let cases = [
        (
            r#"{"card":"4111111111111111","exp":"12/28"}"#,
            "4111111111111111",
        ),
        (r#"{"pan": "5555 5555 5555 4444"}"#, "5555 5555 5555 4444"),
        ("card4111111111111111x", "4111111111111111"),
        ("4111111111111111 is at the start", "4111111111111111"),
        ("at the end: 378282246310005", "378282246310005"),
        ("tab\t4111-1111-1111-1111\n", "4111-1111-1111-1111"),
        ("amount 4111111111111111.00", "4111111111111111"),
        ("**4111111111111111**", "4111111111111111"),
        ("* 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("café 4111111111111111 ünïcode", "4111111111111111"),
        // A PAN followed by a CVV, or preceded by an amount, still counts.
        ("4111 1111 1111 1111 123", "4111 1111 1111 1111"),
        ("paid 100 4111111111111111", "4111111111111111"),
        ("12345678901234567890 4111111111111111", "4111111111111111"),
        ("4111-1111-1111-1111 2026", "4111-1111-1111-1111"),
    ];
    for (text, pan) in cases {
        assert_eq!(matches(text), [pan], "{text}");
    }
    assert_eq!(
        matches("4111111111111111,5555555555554444;378282246310005"),
        ["4111111111111111", "5555555555554444", "378282246310005"]
    );
    assert_eq!(
        matches("4111111111111111 5555555555554444"),
        ["4111111111111111", "5555555555554444"]
    );
}

#[test]
fn overlapping_windows_are_one_match() {
    // A PAN followed by three digits that also make a valid 19-digit number: one match.
    let long = with_check_digit("4111 1111 1111 1111 12");
    assert_eq!(matches(&long), [long.as_str()]);

    // "6 4111 1111 1103" (13 digits, Maestro) and "4111 1111 1103 1111" (16, Visa) are both
    // valid: masking them apart would show most of the second one, so they are one match.
    let text = "6 4111 1111 1103 1111";
    assert!(luhn(&text[..16]) && luhn(&text[2..]));
    assert_eq!(matches(text), [text]);
    assert_eq!(
        &*mask(text, &MaskStyle::BinAndLastFour),
        "6 4111 1*** **** 1111"
    );

    // Spaced groups beyond 19 digits are searched window by window (documented decision):
    // the first four groups are a PAN; being joined to more digits, it keeps no last four.
    let text = "4111 1111 1111 1111 1111 1111";
    assert_eq!(matches(text), ["4111 1111 1111 1111"]);
    assert_eq!(
        &*mask(text, &MaskStyle::BinAndLastFour),
        "4111 11** **** **** 1111 1111"
    );
}

#[test]
fn false_positive_corpus() {
    let iin_unknown = with_check_digit("999999999999999");
    let cases: Vec<&str> = vec![
        "4111111111111112",
        "41111111111111111111",
        "x41111111111111111111x",
        "4111111111111111111111111111111111",
        "14111111111111111",
        "411111111111",
        "123e4567-e89b-12d3-a456-426614174000",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-4123-9123-123456789012",
        "2026-11-25T23:18:07.123456Z",
        "2026-11-25 23:18:07.123456+00",
        "+1-555-123-4567",
        "+1 555 123 4567",
        "+44 20 7946 0958",
        "123-45-6789",
        "ORD-0000123456",
        "9223372036854775807",
        "-9223372036854775808",
        "1234567890123.45",
        "4111  1111 1111 1111",
        "4111 1111  1111 1111",
        "4111--1111-1111-1111",
        "4111-1111 1111-1111",
        "4111 1111-1111 1111",
        "4111_1111_1111_1111",
        "4111.1111.1111.1111",
        "4111,1111,1111,1111",
        "4,111,111,111,111,112",
        "4,111,111,111,111,11",
        "41,11,11,11,11,11,11,11",
        "4,111,111,111,111.111",
        "4,111.111,111,111,111",
        "192.168.100.200",
        "1,234,567,890,123.45",
        "0,000,000,000,000,000",
        "00000000000000000",
        "$1,234.56",
        "411111******1111",
        "4111 11** **** 1111",
        "**** **** **** 1111",
        &iin_unknown,
        "",
        "no digits at all",
    ];
    for text in cases {
        assert_eq!(matches(text), Vec::<&str>::new(), "{text:?}");
        assert!(!contains_pan(text.as_bytes()), "{text:?}");
    }
}

#[test]
fn bin_and_last_four() {
    let style = MaskStyle::BinAndLastFour;
    for (text, masked) in [
        ("4111111111111111", "411111******1111"),
        ("4111 1111 1111 1111", "4111 11** **** 1111"),
        ("4111-1111-1111-1111", "4111-11**-****-1111"),
        ("3782 822463 10005", "3782 82**** *0005"),
        ("30569309025904", "305693****5904"),
        (
            r#"{"card":"4111111111111111","n":12}"#,
            r#"{"card":"411111******1111","n":12}"#,
        ),
    ] {
        let mut buf = text.as_bytes().to_vec();
        assert_eq!(mask_in_place(&mut buf, &style), 1, "{text}");
        assert_eq!(buf, masked.as_bytes(), "{text}");
        assert_eq!(mask(text, &style), masked);
    }
}

#[test]
fn last_four_and_redact() {
    let text = "a 4111 1111 1111 1111 b 378282246310005 c";
    assert_eq!(
        mask(text, &MaskStyle::LastFour),
        "a **** **** **** 1111 b ***********0005 c"
    );
    assert_eq!(
        mask(text, &MaskStyle::Redact),
        "a **** **** **** **** b *************** c"
    );
    let mut buf = text.as_bytes().to_vec();
    assert_eq!(mask_in_place(&mut buf, &MaskStyle::LastFour), 2);
    assert_eq!(buf, b"a **** **** **** 1111 b ***********0005 c");
}

#[test]
fn joined_sides_keep_no_digit() {
    let style = MaskStyle::BinAndLastFour;
    assert_eq!(mask("4111111111111111 123", &style), "411111********** 123");
    assert_eq!(
        mask("1234567 4111111111111111", &style),
        "1234567 ************1111"
    );
    assert_eq!(
        mask("4111111111111111 5555555555554444", &style),
        "411111********** 555555******4444"
    );
}

#[test]
fn masking_is_idempotent_and_leaves_other_text_alone() {
    let text = "ids 9223372036854775807, 2026-11-25T23:18:07Z; cards 4111 1111 1111 1111 123 / \
                1234567 5555555555554444 and 378282246310005.";
    for style in [
        MaskStyle::BinAndLastFour,
        MaskStyle::LastFour,
        MaskStyle::Redact,
    ] {
        let mut once = text.as_bytes().to_vec();
        assert_eq!(mask_in_place(&mut once, &style), 3);
        assert_eq!(once.len(), text.len());
        assert!(!contains_pan(&once));
        let mut twice = once.clone();
        assert_eq!(mask_in_place(&mut twice, &style), 0);
        assert_eq!(twice, once);
        assert!(matches!(
            mask(std::str::from_utf8(&once).unwrap(), &style),
            Cow::Borrowed(_)
        ));
    }
    let clean = "nothing to see: 2026-11-25, +1-555-123-4567";
    assert!(matches!(mask(clean, &MaskStyle::Redact), Cow::Borrowed(_)));
}

#[test]
fn token_style() {
    let k1 = MaskStyle::Token { key: key(1) };
    let k2 = MaskStyle::Token { key: key(2) };
    let plain = mask("card 4111111111111111.", &k1);
    let spaced = mask("card 4111 1111 1111 1111.", &k1);
    let dashed = mask("card 4111-1111-1111-1111.", &k1);
    assert_eq!(plain, spaced);
    assert_eq!(plain, dashed);
    for same in [
        "card 4,111,111,111,111,111.",
        "card 0004111111111111111.",
        "card 0,004,111,111,111,111,111.",
    ] {
        assert_eq!(mask(same, &k1), plain, "{same}");
    }
    assert_ne!(plain, mask("card 4111111111111111.", &k2));
    assert_ne!(plain, mask("card 5555555555554444.", &k1));

    let token = &plain["card ".len()..plain.len() - 1];
    assert_eq!(token.len(), TOKEN_LEN);
    assert!(token.starts_with(TOKEN_PREFIX));
    assert!(!token.bytes().any(|b| b.is_ascii_digit()), "{token}");
    assert_eq!(key(1).token(b"4111 1111 1111 1111"), token);
    assert!(!contains_pan(plain.as_bytes()));
    assert!(matches!(mask(&plain, &k1), Cow::Borrowed(_)));

    // In place, a token cannot fit: the PAN is redacted.
    let mut buf = b"4111111111111111".to_vec();
    assert_eq!(mask_in_place(&mut buf, &k1), 1);
    assert_eq!(buf, b"****************");
}

#[test]
fn token_key_is_opaque_and_strong() {
    assert_eq!(
        TokenKey::new(&[7; 31]).unwrap_err(),
        crate::masking::MaskingError::TokenKeyTooShort { len: 31, min: 32 }
    );
    let style = MaskStyle::Token { key: key(9) };
    assert!(!format!("{style:?}").contains("9, 9"));
    assert!(format!("{style:?}").contains("redacted"));
}

// ---- Property test: the scanner against a brute-force oracle, masking invariants ----

/// SplitMix64: a tiny deterministic generator, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn digit(&mut self) -> char {
        char::from(b'0' + self.below(10) as u8)
    }
}

/// A Luhn-valid number with a known IIN, in one of the layouts people write.
fn random_pan(rng: &mut Rng) -> String {
    let row = IIN_RANGES[rng.below(IIN_RANGES.len())];
    let prefix = row.low + rng.below((row.high - row.low + 1) as usize) as u32;
    let len = 13 + rng.below(7);
    let mut body = prefix.to_string();
    while body.len() < len - 1 {
        body.push(rng.digit());
    }
    let pan = with_check_digit(&body);
    match rng.below(7) {
        0 | 1 => pan,
        // Zero-padded, as `lpad` or a fixed-width field writes it.
        4 => format!("{}{pan}", "0".repeat(1 + rng.below(8))),
        // Grouped by threes from the right, as number and money formatting write it.
        5 | 6 => {
            let sep = [",", ".", "'", "\u{a0}", "\u{202f}"][rng.below(5)];
            let padded = if rng.below(4) == 0 {
                format!("00{pan}")
            } else {
                pan
            };
            let head = match padded.len() % 3 {
                0 => 3,
                n => n,
            };
            let mut grouped = padded[..head].to_owned();
            for chunk in padded.as_bytes()[head..].chunks(3) {
                grouped.push_str(sep);
                grouped.push_str(std::str::from_utf8(chunk).unwrap());
            }
            grouped
        }
        layout => {
            let sep = if layout == 2 { ' ' } else { '-' };
            let mut grouped = String::new();
            let mut rest = pan.as_str();
            while !rest.is_empty() {
                let take = (1 + rng.below(6)).min(rest.len());
                if !grouped.is_empty() {
                    grouped.push(sep);
                }
                grouped.push_str(&rest[..take]);
                rest = &rest[take..];
            }
            grouped
        }
    }
}

fn random_text(rng: &mut Rng, digit_heavy: bool) -> String {
    let mut text = String::new();
    for _ in 0..1 + rng.below(14) {
        match rng.below(if digit_heavy { 10 } else { 16 }) {
            0..=2 => text.push_str(&random_pan(rng)),
            3..=5 => {
                for _ in 0..1 + rng.below(22) {
                    text.push(rng.digit());
                }
            }
            6 | 7 => text.push(' '),
            8 => text.push('-'),
            9 => text.push_str(
                ["  ", "--", " -", "*", ".", ",", "\n", "'", "\u{a0}", "0"][rng.below(10)],
            ),
            _ => text.push_str(["a", "card ", "é", "_", "x9", "\"", "{"][rng.below(7)]),
        }
    }
    text
}

/// Every PAN window by brute force, merged when overlapping.
fn oracle(h: &[u8]) -> Vec<Match> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < h.len() {
        if h[i].is_ascii_digit() {
            let start = i;
            while i < h.len() && h[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((start, i));
        } else {
            i += 1;
        }
    }
    let known = |digits: &str| {
        IIN_RANGES.iter().any(|row| {
            let p: u32 = digits[..usize::from(row.digits)].parse().unwrap();
            (row.low..=row.high).contains(&p)
        })
    };
    let mut windows: Vec<Match> = Vec::new();
    for &(start, end) in &groups {
        // A zero-padded PAN: a group with leading zeros whose significant digits are one.
        let digits = std::str::from_utf8(&h[start..end]).unwrap();
        let significant = digits.trim_start_matches('0');
        if digits.len() > significant.len()
            && (13..=19).contains(&significant.len())
            && known(significant)
            && luhn(significant)
        {
            windows.push(Match { start, end });
        }
    }
    // Thousands-grouped numbers: from any group of 1 to 3 digits, groups of exactly 3 joined
    // by one and the same separator; windows whose digits after leading zeros are a PAN.
    let seps: [&[u8]; 7] = [
        b",",
        b".",
        b"'",
        "\u{a0}".as_bytes(),
        "\u{202f}".as_bytes(),
        "\u{2009}".as_bytes(),
        "\u{2019}".as_bytes(),
    ];
    let sep_between = |previous_end: usize, start: usize| -> Option<&[u8]> {
        let between = &h[previous_end..start];
        seps.iter().find(|s| **s == between).copied()
    };
    for a in 0..groups.len() {
        let (start, end) = groups[a];
        if end - start > 3 {
            continue;
        }
        let mut separator: Option<&[u8]> = None;
        let mut digits = String::new();
        for b in a..groups.len() {
            if b > a {
                let Some(sep) = sep_between(groups[b - 1].1, groups[b].0) else {
                    break;
                };
                if separator.is_some_and(|s| s != sep) || groups[b].1 - groups[b].0 != 3 {
                    break;
                }
                separator = Some(sep);
            }
            digits.push_str(std::str::from_utf8(&h[groups[b].0..groups[b].1]).unwrap());
            let significant = digits.trim_start_matches('0');
            // At most 12 leading zeros.
            if significant.len() > 19 || digits.len() - significant.len() > 12 {
                break;
            }
            if significant.len() >= 13 && known(significant) && luhn(significant) {
                windows.push(Match {
                    start,
                    end: groups[b].1,
                });
            }
        }
    }
    for a in 0..groups.len() {
        let mut separator = None;
        let mut digits = String::new();
        for b in a..groups.len() {
            if b > a {
                let (previous_end, start) = (groups[b - 1].1, groups[b].0);
                let sep = h[previous_end];
                if start != previous_end + 1 || !(sep == b' ' || sep == b'-') {
                    break;
                }
                if separator.is_some_and(|s| s != sep) {
                    break;
                }
                separator = Some(sep);
            }
            digits.push_str(std::str::from_utf8(&h[groups[b].0..groups[b].1]).unwrap());
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && known(&digits) && luhn(&digits) {
                windows.push(Match {
                    start: groups[a].0,
                    end: groups[b].1,
                });
            }
        }
    }
    windows.sort_by_key(|w| w.start);
    let mut merged: Vec<Match> = Vec::new();
    for w in windows {
        match merged.last_mut() {
            Some(last) if w.start < last.end => last.end = last.end.max(w.end),
            _ => merged.push(w),
        }
    }
    merged
}

fn check_masked(original: &str, masked: &[u8], found: &[Match], style: &MaskStyle) {
    assert_eq!(masked.len(), original.len());
    let o = original.as_bytes();
    let mut outside = 0;
    for m in found {
        assert_eq!(&masked[outside..m.start], &o[outside..m.start]);
        let digits: Vec<(u8, u8)> = o[m.range()]
            .iter()
            .zip(&masked[m.range()])
            .filter(|(b, _)| b.is_ascii_digit())
            .map(|(b, c)| (*b, *c))
            .collect();
        let (head, tail) = match style {
            MaskStyle::BinAndLastFour => (6, 4),
            MaskStyle::LastFour => (0, 4),
            _ => (0, 0),
        };
        for (i, (before, after)) in digits.iter().enumerate() {
            let may_keep = i < head || i >= digits.len() - tail;
            assert!(
                *after == b'*' || (may_keep && after == before),
                "digit {i} of {:?} in {original:?}",
                &original[m.range()]
            );
        }
        for (b, c) in o[m.range()].iter().zip(&masked[m.range()]) {
            if !b.is_ascii_digit() {
                assert_eq!(b, c, "separators survive");
            }
        }
        outside = m.end;
    }
    assert_eq!(&masked[outside..], &o[outside..]);
}

#[test]
fn property_scanner_matches_oracle_and_masking_is_safe() {
    let styles = [
        MaskStyle::BinAndLastFour,
        MaskStyle::LastFour,
        MaskStyle::Redact,
    ];
    let token = MaskStyle::Token { key: key(3) };
    let mut found_any = 0;
    for seed in 0..40_000u64 {
        let mut rng = Rng(seed);
        let text = random_text(&mut rng, seed % 2 == 0);
        let h = text.as_bytes();
        let found: Vec<Match> = find(h).collect();
        assert_eq!(found, oracle(h), "seed {seed}: {text:?}");
        assert_eq!(contains_pan(h), !found.is_empty(), "seed {seed}");
        found_any += usize::from(!found.is_empty());
        for m in &found {
            assert!(h[m.start].is_ascii_digit() && h[m.end - 1].is_ascii_digit());
            assert!(m.start == 0 || !h[m.start - 1].is_ascii_digit());
            assert!(m.end == h.len() || !h[m.end].is_ascii_digit());
        }
        for style in &styles {
            let mut buf = h.to_vec();
            assert_eq!(mask_in_place(&mut buf, style), found.len(), "seed {seed}");
            check_masked(&text, &buf, &found, style);
            assert!(!contains_pan(&buf), "seed {seed}: {text:?} -> {buf:?}");
            let mut again = buf.clone();
            assert_eq!(mask_in_place(&mut again, style), 0, "seed {seed}");
            assert_eq!(again, buf, "seed {seed}: masking is idempotent");
            let copy = mask(&text, style);
            assert_eq!(copy.as_bytes(), buf.as_slice(), "seed {seed}");
            assert_eq!(matches!(copy, Cow::Borrowed(_)), found.is_empty());
        }
        let tokenized = mask(&text, &token);
        assert!(!contains_pan(tokenized.as_bytes()), "seed {seed}");
        if found.is_empty() {
            assert!(matches!(tokenized, Cow::Borrowed(_)));
        }
    }
    // The generator must actually exercise the detector.
    assert!(found_any > 10_000, "only {found_any} texts held a PAN");
}
