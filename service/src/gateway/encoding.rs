//! One client encoding: UTF-8. What the gateway classifies is the text as UTF-8; Postgres
//! parses the text after converting it from the session's `client_encoding`. The two agree
//! only while that encoding is UTF-8 (or another whose characters never contain ASCII bytes),
//! so the gateway keeps it UTF-8 in three layers:
//!
//! 1. startup: the client's `client_encoding` is never forwarded; the gateway asks for `UTF8`
//!    upstream and refuses a client that asks for anything else ([`startup_encoding_refusal`]);
//! 2. the server's word: the session is refused, or ended, when a ParameterStatus reports a
//!    `client_encoding` other than `UTF8` ([`reported_encoding_refusal`]), however it was changed
//!    (a role or database default, `set_config` with a computed name, a function's `SET`);
//! 3. the pipelining window: between the statement that changes the encoding and the
//!    ParameterStatus that reports it, the client may already have sent the next statement.
//!    So a text with a byte ≥ 0x80 is also classified as each client-only encoding whose
//!    characters can contain ASCII bytes would make Postgres read it ([`reread`]), and the
//!    strictest decision wins (`gateway/policy.rs`).
//!
//! Why only those encodings. Every other encoding Postgres supports (LATIN1-10, WIN125x,
//! WIN866/874, KOI8-R/U, ISO-8859-5..8, EUC-*, MULE_INTERNAL, SQL_ASCII) requires every byte
//! of a multi-byte character to be ≥ 0x80 and converts every non-ASCII character to a
//! non-ASCII one: a UTF-8 text reads with the same quotes, backslashes, semicolons and
//! comment markers in them, so its tokens are UTF-8's. (Checked against Postgres 15 by
//! converting every single high byte and every high byte + ASCII byte pair with
//! `convert_from`.) In SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC and GB18030 the second byte of a
//! character can be ASCII (0x40-0x7E, a backslash included), so a UTF-8 character whose last
//! byte is a lead byte there swallows the ASCII byte after it; and SHIFT_JIS_2004 converts two
//! characters (0x815F, 0x81B0) to the ASCII `\` and `~`. JOHAB is listed because it is
//! client-only and multi-byte, although Postgres's validator accepts only trail bytes ≥ 0xA1.

use std::fmt;

/// A client-only encoding whose multi-byte characters can contain ASCII bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsciiUnsafe {
    Sjis,
    ShiftJis2004,
    Big5,
    Gbk,
    Uhc,
    Gb18030,
    Johab,
}

impl AsciiUnsafe {
    pub const ALL: [AsciiUnsafe; 7] = [
        AsciiUnsafe::Sjis,
        AsciiUnsafe::ShiftJis2004,
        AsciiUnsafe::Big5,
        AsciiUnsafe::Gbk,
        AsciiUnsafe::Uhc,
        AsciiUnsafe::Gb18030,
        AsciiUnsafe::Johab,
    ];

    /// Postgres's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AsciiUnsafe::Sjis => "SJIS",
            AsciiUnsafe::ShiftJis2004 => "SHIFT_JIS_2004",
            AsciiUnsafe::Big5 => "BIG5",
            AsciiUnsafe::Gbk => "GBK",
            AsciiUnsafe::Uhc => "UHC",
            AsciiUnsafe::Gb18030 => "GB18030",
            AsciiUnsafe::Johab => "JOHAB",
        }
    }
}

impl fmt::Display for AsciiUnsafe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What stands for a converted multi-byte character in a re-read text: any non-ASCII
/// character lexes alike (Postgres's scanner treats every byte ≥ 0x80 as a letter).
const PLACEHOLDER: char = '\u{00e9}';

/// The text Postgres would parse if `bytes` arrived in a session whose `client_encoding` is
/// `encoding`: ASCII bytes kept, each character of the encoding replaced by [`PLACEHOLDER`]
/// (or by the ASCII character it converts to). `None` when Postgres would refuse the bytes
/// before parsing them ("invalid byte sequence", or a character with no UTF-8 equivalent that
/// the rules below know of): nothing of such a text runs, so that reading needs no decision.
///
/// The character boundaries are Postgres's (`pg_*_mblen` in `src/common/wchar.c`), and so are
/// the validity checks (`pg_*_verifychar`), narrowed only where every pair outside the range
/// fails to convert in Postgres 15 (an ASCII trail byte below 0x40 in BIG5, GBK, UHC and
/// GB18030). A narrower check than Postgres's would hide a reading; a wider one only adds one.
pub fn reread(bytes: &[u8], encoding: AsciiUnsafe) -> Option<String> {
    let mut text = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            text.push(char::from(b));
            i += 1;
            continue;
        }
        let len = char_len(encoding, &bytes[i..])?;
        let character = &bytes[i..i + len];
        text.push(converted_ascii(encoding, character).unwrap_or(PLACEHOLDER));
        i += len;
    }
    Some(text)
}

/// Whether any ASCII-unsafe encoding reads `text` with other tokens than UTF-8 might: only a
/// text with a byte ≥ 0x80 can be read differently.
pub fn needs_rereading(text: &str) -> bool {
    !text.is_ascii()
}

/// The length of the valid character starting with the high byte `s[0]`, or `None` if Postgres
/// refuses it.
fn char_len(encoding: AsciiUnsafe, s: &[u8]) -> Option<usize> {
    let lead = s[0];
    let at = |i: usize| s.get(i).copied();
    match encoding {
        AsciiUnsafe::Sjis | AsciiUnsafe::ShiftJis2004 => {
            // One-byte half-width katakana, else a lead byte and a trail byte.
            if (0xa1..=0xdf).contains(&lead) {
                return Some(1);
            }
            let trail = at(1)?;
            let head = matches!(lead, 0x81..=0x9f | 0xe0..=0xfc);
            let tail = matches!(trail, 0x40..=0x7e | 0x80..=0xfc);
            (head && tail).then_some(2)
        }
        AsciiUnsafe::Big5 | AsciiUnsafe::Gbk | AsciiUnsafe::Uhc => {
            // Postgres only asks that the trail byte is not NUL; the conversion tables have no
            // character whose trail byte is below 0x40.
            let trail = at(1)?;
            (trail >= 0x40).then_some(2)
        }
        AsciiUnsafe::Gb18030 => {
            let second = at(1)?;
            if second.is_ascii_digit() {
                // Four bytes: lead, digit, high byte, digit.
                let (third, fourth) = (at(2)?, at(3)?);
                let valid = matches!(lead, 0x81..=0xfe)
                    && matches!(third, 0x81..=0xfe)
                    && fourth.is_ascii_digit();
                return valid.then_some(4);
            }
            let valid = matches!(lead, 0x81..=0xfe) && matches!(second, 0x40..=0x7e | 0x80..=0xfe);
            valid.then_some(2)
        }
        AsciiUnsafe::Johab => {
            // Postgres reads JOHAB with EUC's lengths and accepts only trail bytes 0xA1-0xFE.
            let len = if lead == 0x8f { 3 } else { 2 };
            let trails = s.get(1..len)?;
            trails
                .iter()
                .all(|t| (0xa1..=0xfe).contains(t))
                .then_some(len)
        }
    }
}

/// The ASCII character a multi-byte character converts to, for the few that do.
fn converted_ascii(encoding: AsciiUnsafe, character: &[u8]) -> Option<char> {
    match (encoding, character) {
        // SHIFT_JIS_2004's table maps these to U+005C and U+007E.
        (AsciiUnsafe::ShiftJis2004, [0x81, 0x5f]) => Some('\\'),
        (AsciiUnsafe::ShiftJis2004, [0x81, 0xb0]) => Some('~'),
        _ => None,
    }
}

/// Whether `name` is a name Postgres resolves to UTF8: it ignores case and every
/// non-alphanumeric character, and knows `utf8` and `unicode`.
pub fn is_utf8_name(name: &str) -> bool {
    matches!(clean(name).as_str(), "utf8" | "unicode")
}

/// Postgres's `clean_encoding_name`: lower case, alphanumerics only.
fn clean(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The fix every encoding refusal names.
pub const ENCODING_FIX: &str = "set PGCLIENTENCODING=UTF8 (or client_encoding=UTF8)";

/// Why a client's startup `client_encoding` (or `options`) is refused, if it is. A UTF-8 name
/// is accepted, and so is `SQL_ASCII` (no conversion: the server validates the bytes as
/// UTF-8, exactly as for UTF8; psql on a terminal in the C locale asks for it). Whatever the
/// client asked, the gateway asks the upstream for UTF8.
pub fn startup_encoding_refusal(
    client_encoding: Option<&str>,
    options: Option<&str>,
) -> Option<String> {
    if let Some(encoding) = client_encoding
        && !is_utf8_name(encoding)
        && clean(encoding) != "sqlascii"
    {
        return Some(format!(
            "hoop accepts only UTF-8 clients, not client_encoding {encoding:?}: {ENCODING_FIX}"
        ));
    }
    // `options` is never forwarded; a client that sets the encoding there would otherwise
    // believe it got it.
    if let Some(options) = options
        && clean(options).contains("clientencoding")
    {
        return Some(format!(
            "hoop does not forward startup options and accepts only UTF-8 clients: {ENCODING_FIX}"
        ));
    }
    None
}

/// Why a `client_encoding` the upstream reports ends the session, if it does: anything but
/// UTF8 means Postgres now reads the client's bytes differently from the classifier.
pub fn reported_encoding_refusal(name: &str, value: &str) -> Option<String> {
    if !name.eq_ignore_ascii_case("client_encoding") || value == "UTF8" {
        return None;
    }
    Some(format!(
        "the session's client_encoding became {value:?}; hoop classifies statements as UTF-8, so \
         the session ends: {ENCODING_FIX} and do not change it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, encoding: AsciiUnsafe) -> Option<String> {
        reread(text.as_bytes(), encoding)
    }

    #[test]
    fn ascii_reads_the_same_everywhere() {
        let sql = "SELECT 'a\\'' ; DROP TABLE cards; -- \"x\"";
        for encoding in AsciiUnsafe::ALL {
            assert_eq!(read(sql, encoding).as_deref(), Some(sql), "{encoding}");
        }
    }

    #[test]
    fn sjis_swallows_the_backslash_after_a_utf8_character_ending_in_0x81() {
        // 丁 is E4 B8 81; 0x81 0x5C is one SJIS character.
        let sql = "SELECT length(E'丁\\'); DROP TABLE audit_notes; --')";
        for encoding in [AsciiUnsafe::Sjis, AsciiUnsafe::ShiftJis2004] {
            let text = read(sql, encoding).unwrap();
            assert_eq!(text, "SELECT length(E'éé'); DROP TABLE audit_notes; --')");
        }
    }

    #[test]
    fn big5_gbk_and_uhc_swallow_backslashes_quotes_are_refused() {
        // E4 B8 | 81 5C: a two-byte character each.
        let sql = "SELECT E'丁\\'; DROP TABLE cards; --'";
        for encoding in [
            AsciiUnsafe::Big5,
            AsciiUnsafe::Gbk,
            AsciiUnsafe::Uhc,
            AsciiUnsafe::Gb18030,
        ] {
            let text = read(sql, encoding).unwrap();
            assert_eq!(text, "SELECT E'éé'; DROP TABLE cards; --'", "{encoding}");
        }
        // 0x81 0x27 (a quote) is no character in any of them: Postgres refuses the text
        // before parsing it.
        for encoding in AsciiUnsafe::ALL {
            assert_eq!(read("SELECT '丁'", encoding), None, "{encoding}");
        }
    }

    #[test]
    fn a_swallowed_letter_can_hide_a_keyword() {
        // Ā is C4 80: one GBK character.
        assert_eq!(read("SELECT 'Ā'", AsciiUnsafe::Gbk).unwrap(), "SELECT 'é'");
        // E4 B8 | 81 61: the letter after 丁 is part of a BIG5 character.
        let text = read("SELECT 1 AS \"丁a\"", AsciiUnsafe::Big5).unwrap();
        assert_eq!(text, "SELECT 1 AS \"éé\"");
    }

    #[test]
    fn shift_jis_2004_turns_two_characters_into_ascii() {
        // 丁_ is E4 B8 81 5F: in SHIFT_JIS_2004 0x815F converts to a backslash.
        let sql = "SELECT E'丁_''; DROP TABLE cards; --'";
        assert_eq!(
            read(sql, AsciiUnsafe::ShiftJis2004).unwrap(),
            "SELECT E'é\\''; DROP TABLE cards; --'"
        );
        assert_eq!(
            read(sql, AsciiUnsafe::Sjis).unwrap(),
            "SELECT E'éé''; DROP TABLE cards; --'"
        );
        assert_eq!(
            reread(&[0x81, 0xb0], AsciiUnsafe::ShiftJis2004).unwrap(),
            "~"
        );
    }

    #[test]
    fn sjis_katakana_are_single_bytes_and_bad_leads_are_refused() {
        // é is C3 A9: two half-width katakana in SJIS.
        assert_eq!(
            read("SELECT 'é'", AsciiUnsafe::Sjis).unwrap(),
            "SELECT 'éé'"
        );
        // à is C3 A0: 0xA0 is no SJIS lead byte.
        assert_eq!(read("SELECT 'à'", AsciiUnsafe::Sjis), None);
        for bad in [0x80u8, 0xa0, 0xfd, 0xfe, 0xff] {
            assert_eq!(reread(&[bad, 0x41], AsciiUnsafe::Sjis), None, "{bad:x}");
        }
        // A lead byte at the very end has no trail byte.
        assert_eq!(reread(b"x\x81", AsciiUnsafe::Sjis), None);
    }

    #[test]
    fn gb18030_four_byte_characters_swallow_digits() {
        // 0x81 0x30 0x81 0x30 is one four-byte character (U+0080).
        assert_eq!(
            reread(b"SELECT 1\x81\x30\x81\x30; DROP", AsciiUnsafe::Gb18030).unwrap(),
            "SELECT 1é; DROP"
        );
        // In GBK the same bytes are two two-byte characters... with a digit trail: refused.
        assert_eq!(reread(b"\x81\x30\x81\x30", AsciiUnsafe::Gbk), None);
        // A high byte and a digit that do not make four bytes are refused.
        assert_eq!(reread(b"\x81\x30\x41\x30", AsciiUnsafe::Gb18030), None);
        assert_eq!(reread(b"\x81\x30", AsciiUnsafe::Gb18030), None);
        // Two-byte: any trail 0x40-0x7E, 0x80-0xFE; a backslash included.
        assert_eq!(reread(b"E'\x81\\'", AsciiUnsafe::Gb18030).unwrap(), "E'é'");
        assert_eq!(reread(b"\xff\x41", AsciiUnsafe::Gb18030), None);
        assert_eq!(reread(b"\x81\xff", AsciiUnsafe::Gb18030), None);
    }

    #[test]
    fn johab_never_swallows_ascii() {
        assert_eq!(reread(b"\x88\x5c'", AsciiUnsafe::Johab), None);
        assert_eq!(reread(b"\x88\xa1'", AsciiUnsafe::Johab).unwrap(), "é'");
        assert_eq!(reread(b"\x8f\xa1\xa1'", AsciiUnsafe::Johab).unwrap(), "é'");
        assert_eq!(reread(b"\x8f\xa1\x41'", AsciiUnsafe::Johab), None);
    }

    #[test]
    fn utf8_names_as_postgres_normalises_them() {
        for name in [
            "UTF8", "utf8", "UTF-8", "utf_8", "Unicode", "u-t-f 8", "UNICODE",
        ] {
            assert!(is_utf8_name(name), "{name}");
        }
        for name in [
            "SJIS",
            "windows932",
            "S.JIS",
            "shift_jis_2004",
            "BIG5",
            "GBK",
            "UHC",
            "JOHAB",
            "GB18030",
            "LATIN1",
            "win1252",
            "utf16",
            "",
        ] {
            assert!(!is_utf8_name(name), "{name}");
            assert!(
                startup_encoding_refusal(Some(name), None).is_some(),
                "{name}"
            );
        }
        assert!(startup_encoding_refusal(Some("SQL_ASCII"), None).is_none());
        assert!(startup_encoding_refusal(Some("u t f 8"), None).is_none());
        assert!(startup_encoding_refusal(None, Some("-c search_path=x")).is_none());
        let refused = startup_encoding_refusal(None, Some("-c client_encoding=SJIS")).unwrap();
        assert!(refused.contains(ENCODING_FIX), "{refused}");
        assert!(startup_encoding_refusal(None, Some("--client-encoding=sjis")).is_some());
    }

    #[test]
    fn only_a_reported_utf8_keeps_the_session() {
        assert!(reported_encoding_refusal("client_encoding", "UTF8").is_none());
        assert!(reported_encoding_refusal("TimeZone", "SJIS").is_none());
        for value in ["SJIS", "SQL_ASCII", "LATIN1", "utf8", ""] {
            assert!(
                reported_encoding_refusal("client_encoding", value).is_some(),
                "{value}"
            );
        }
    }
}
