//! Text from clients and claims, made safe to show to a person.
//!
//! A held statement, a rule's reason, a repository name or an actor comes from a CI job or its
//! token: whoever wrote the job chooses its characters. Some characters change what a reader
//! sees without being seen themselves: bidirectional overrides and isolates reorder text
//! (`-- \u{202e}tsil` shows as `-- list`), zero-width and other default-ignorable characters
//! hide inside words, control characters rewrite a terminal, line separators break a line
//! where no line break shows. [`escape`] renders every such character visibly as `\u{…}`
//! (lowercase hex), so what an approver or auditor reads is the text that is held or recorded.
//!
//! One place decides what is escaped: the approvals CLI, API (`display`) and notifications and
//! the archive transcript all call it.
//!
//! Limits: the rendering is for reading, not reversible (a literal `\u{202e}` typed into a
//! statement looks like an escaped one); homoglyphs (a Cyrillic `а` for a Latin `a`) and
//! combining marks that overlay visible characters are shown as they are.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether line breaks and tabs survive, for multi-line text such as a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// `\n` and `\t` are kept; every other character below is escaped.
    Keep,
    /// `\n` and `\t` are escaped too: the text stays on one line (names, reasons, table cells).
    Escape,
}

/// `text` with every character that does not show as itself rendered as `\u{…}`. Borrowed
/// when nothing needed escaping.
pub fn escape(text: &str, lines: Lines) -> Cow<'_, str> {
    let Some(first) = text.char_indices().find(|&(_, c)| hidden(c, lines)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first.0]);
    for c in text[first.0..].chars() {
        if hidden(c, lines) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] keeping line breaks and tabs (statements).
pub fn text(text: &str) -> Cow<'_, str> {
    escape(text, Lines::Keep)
}

/// [`escape`] on one line (names, reasons, fields of a table row).
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, Lines::Escape)
}

/// Whether `c` must be shown escaped.
fn hidden(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' => lines == Lines::Escape,
        ' ' => false,
        // C0, DEL and C1 controls (general category Cc): escape sequences, carriage returns,
        // backspaces repaint a terminal.
        c if c.is_control() => true,
        // Line and paragraph separators (Zl, Zp): a line break no terminal shows as one.
        '\u{2028}' | '\u{2029}' => true,
        // Spaces other than U+0020 (Zs): they look like a space but are not one to Postgres,
        // so `payments\u{a0}` names another table than it seems to.
        '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => {
            true
        }
        c => format_or_ignorable(c) || private_or_noncharacter(c),
    }
}

/// Format characters (general category Cf: bidi controls, zero-width characters, tags,
/// prepended concatenation marks) and the other default-ignorable code points (variation
/// selectors, fillers, the combining grapheme joiner), which render as nothing.
fn format_or_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// Private-use characters (a font decides what they look like, often nothing) and
/// noncharacters.
fn private_or_noncharacter(c: char) -> bool {
    let n = u32::from(c);
    matches!(n, 0xe000..=0xf8ff | 0xf_0000..=0x10_ffff | 0xfdd0..=0xfdef) || n & 0xfffe == 0xfffe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in [
            "",
            "SELECT 1",
            "UPDATE payments SET note = 'déjà vu — ok' WHERE id = 7",
            "名前 = '東京'",
            "emoji 🙂 stays",
            "a\\u{202e}b (typed, not a control)",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(_)), "{s}");
            assert!(matches!(line(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn line_breaks_and_tabs_stay_in_text_and_are_escaped_on_a_line() {
        assert_eq!(text("SELECT 1\n\tFROM t"), "SELECT 1\n\tFROM t");
        assert_eq!(line("SELECT 1\n\tFROM t"), "SELECT 1\\u{a}\\u{9}FROM t");
        assert_eq!(text("a\r\nb"), "a\\u{d}\nb");
    }

    /// Every class of character that can make text read differently from what it is.
    #[test]
    fn every_class_of_hidden_character_is_escaped() {
        let classes: &[(&str, &[char])] = &[
            (
                "C0 controls",
                &['\0', '\u{7}', '\u{8}', '\r', '\u{1b}', '\u{1f}'],
            ),
            (
                "DEL and C1 controls",
                &['\u{7f}', '\u{80}', '\u{85}', '\u{9b}', '\u{9f}'],
            ),
            (
                "bidi embeddings and overrides",
                &['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'],
            ),
            (
                "bidi isolates",
                &['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'],
            ),
            ("bidi marks", &['\u{200e}', '\u{200f}', '\u{61c}']),
            (
                "zero-width characters",
                &['\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}'],
            ),
            (
                "invisible operators and word joiner",
                &['\u{2060}', '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}'],
            ),
            ("soft hyphen", &['\u{ad}']),
            (
                "Mongolian vowel separator and selectors",
                &['\u{180e}', '\u{180b}', '\u{180f}'],
            ),
            (
                "tag characters",
                &['\u{e0001}', '\u{e0020}', '\u{e0041}', '\u{e007f}'],
            ),
            (
                "variation selectors",
                &['\u{fe00}', '\u{fe0f}', '\u{e0100}', '\u{e01ef}'],
            ),
            (
                "other format characters",
                &[
                    '\u{600}',
                    '\u{6dd}',
                    '\u{70f}',
                    '\u{8e2}',
                    '\u{206a}',
                    '\u{206f}',
                    '\u{fff9}',
                    '\u{fffb}',
                    '\u{110bd}',
                    '\u{13430}',
                    '\u{1bca0}',
                    '\u{1d173}',
                ],
            ),
            (
                "fillers and joiners that render as nothing",
                &[
                    '\u{34f}', '\u{115f}', '\u{1160}', '\u{17b4}', '\u{3164}', '\u{ffa0}',
                ],
            ),
            ("line and paragraph separators", &['\u{2028}', '\u{2029}']),
            (
                "spaces that are not U+0020",
                &[
                    '\u{a0}', '\u{2000}', '\u{200a}', '\u{202f}', '\u{205f}', '\u{3000}',
                ],
            ),
            (
                "private use and noncharacters",
                &[
                    '\u{e000}',
                    '\u{f8ff}',
                    '\u{f0000}',
                    '\u{10fffd}',
                    '\u{fdd0}',
                    '\u{fffe}',
                    '\u{1ffff}',
                ],
            ),
        ];
        for (class, chars) in classes {
            for &c in *chars {
                let s = format!("a{c}b");
                let expected = format!("a\\u{{{:x}}}b", u32::from(c));
                assert_eq!(text(&s), expected, "{class}: U+{:04X}", u32::from(c));
                assert_eq!(line(&s), expected, "{class}: U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn a_reversed_comment_shows_what_it_hides() {
        // What a terminal shows as `DELETE FROM payments -- keep rows` runs a delete of all.
        let sneaky = "DELETE FROM payments -- \u{202e}swor peek\u{202c}";
        assert_eq!(
            text(sneaky),
            "DELETE FROM payments -- \\u{202e}swor peek\\u{202c}"
        );
        // A zero-width space splits a name the reader sees as one.
        assert_eq!(line("pay\u{200b}ments"), "pay\\u{200b}ments");
        // An ANSI sequence cannot clear the screen.
        assert_eq!(line("\u{1b}[2J"), "\\u{1b}[2J");
    }

    #[test]
    fn visible_characters_next_to_the_ranges_are_kept() {
        // Neighbours of escaped ranges: inverted exclamation mark, hyphenation point,
        // superscript zero, a presentation form, Arabic ligatures, an emoji.
        for c in [
            '\u{a1}',
            '\u{2027}',
            '\u{2070}',
            '\u{fe10}',
            '\u{fdcf}',
            '\u{fdf0}',
            '\u{1f600}',
        ] {
            let s = c.to_string();
            assert_eq!(line(&s), s, "U+{:04X}", u32::from(c));
        }
    }
}
