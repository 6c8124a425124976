//! Primary account number (card number) detection and masking.
//!
//! A PAN is 13–19 ASCII digits that starts with a known IIN ([`iin::IIN_RANGES`]) and passes
//! Luhn, written in one of three ways:
//! - contiguously, or in groups joined by single spaces or by single dashes (one separator
//!   kind per number): `4111 1111 1111 1111`;
//! - thousands-grouped, as `money` and `to_char` print numbers in any locale: a group of one
//!   to three digits, then groups of exactly three joined by one and the same `,` `.` `'`,
//!   no-break space, narrow no-break space, thin space or `’`: `$4,111,111,111,111,111.00`,
//!   `4.111.111.111.111.111,00 €`;
//! - after leading zeros, in a run of any length: `0004111111111111111` (`lpad(pan, 19,
//!   '0')`), `0,004,111,…`.
//!
//! Other bytes are delimiters, so `card4111111111111111x` holds a PAN; a digit right before or
//! after a candidate makes it part of a longer number instead.
//!
//! Decisions, each one erring on the side of masking:
//! - A contiguous run of more than 19 digits is some other number: no window inside it is a
//!   PAN, except a PAN padded with leading zeros (`000000004111111111111111`): then the
//!   whole run is the match (the zeros count as its head, so less is shown). The same holds
//!   for shorter runs: `04111111111111111` is a padded PAN, not some 17-digit number.
//! - Joined groups are searched window by window, so `4111 1111 1111 1111 123` (a PAN and a
//!   CVV) and `paid 100 4111111111111111` are found. Overlapping PAN windows form one match,
//!   whose digits may then exceed 19. Thousands-grouped numbers are searched from each group
//!   too (`12,345,411,111,…`), so masking a PAN never uncovers another.
//! - Double separators (`4111  1111 …`) and mixed separators (`4111-1111 1111-1111`) are not
//!   joints: such text is not a PAN. Neither are `,` `.` `'` between groups that are not of
//!   three digits (`4111.1111.1111.1111`, `1234567890123.45`): no locale prints numbers so,
//!   and CSV and decimals would read as card numbers.
//! - Any 13–19 digit number with a known IIN that passes Luhn is masked, ids included:
//!   the text cannot tell them apart, and one in ten such numbers passes; amounts of 10^12
//!   and more, and CSV lists of three-digit numbers, may read as one.
//!
//! Architecture Invariant: [`mask_in_place`] never changes the length of its input, never
//! touches a byte outside a match, and leaves text in which [`find`] finds nothing; masking a
//! masked text changes nothing.

pub mod iin;
mod scan;
mod style;

#[cfg(test)]
pub(crate) mod tests;

use std::borrow::Cow;
use std::iter::FusedIterator;
use std::ops::Range;

pub use style::{MaskStyle, TOKEN_CHARS, TOKEN_LEN, TOKEN_PREFIX, TokenKey};

use style::Kept;

/// Where a PAN is: a byte range of the input, separators included. Both ends are digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    pub start: usize,
    pub end: usize,
}

impl Match {
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// Finds PANs in text (bytes: only ASCII digits, spaces and dashes matter, any other byte is a
/// delimiter), left to right, without allocating.
pub fn find(haystack: &[u8]) -> Matches<'_> {
    Matches { haystack, pos: 0 }
}

/// The iterator of [`find`].
#[derive(Clone, Debug)]
pub struct Matches<'a> {
    haystack: &'a [u8],
    pos: usize,
}

impl Iterator for Matches<'_> {
    type Item = Match;

    fn next(&mut self) -> Option<Match> {
        let m = scan::next_match(self.haystack, self.pos)?;
        self.pos = m.end;
        Some(m)
    }
}

impl FusedIterator for Matches<'_> {}

/// Whether `haystack` holds at least one PAN.
pub fn contains_pan(haystack: &[u8]) -> bool {
    scan::next_match(haystack, 0).is_some()
}

/// Masks every PAN in place, preserving length and separators: digits become `*` except the
/// ones `style` keeps (`BinAndLastFour`: `4111 11** **** 1111`; `LastFour`:
/// `**** **** **** 1111`; `Redact`: all of them). [`MaskStyle::Token`] cannot keep the length
/// and redacts here. Returns how many PANs were masked.
///
/// Same-length masking keeps protocol framing intact (the gateway masks DataRow bytes in
/// place). A side of a PAN joined by one separator to other digits keeps no digit.
pub fn mask_in_place(buf: &mut [u8], style: &MaskStyle) -> usize {
    match scan::next_match(buf, 0) {
        Some(first) => mask_in_place_from(buf, style, first),
        None => 0,
    }
}

/// [`mask_in_place`] for a caller that already found the first match (with [`find`] on these
/// same bytes), so the scan does not start over: the hot path of a value that holds a PAN.
pub fn mask_in_place_from(buf: &mut [u8], style: &MaskStyle, first: Match) -> usize {
    let mut count = 0;
    let mut previous_end = None;
    let mut next = Some(first);
    while let Some(m) = next {
        Kept::for_match(style, buf, m, previous_end).apply_in_place(&mut buf[m.range()]);
        count += 1;
        previous_end = Some(m.end);
        next = scan::next_match(buf, m.end);
    }
    count
}

/// Masks every PAN of `text` into a new string, as [`mask_in_place`] does, or replaces it by
/// its token under [`MaskStyle::Token`]. Borrows `text` when it holds no PAN.
///
/// ```
/// use hoop::masking::pan::{MaskStyle, mask};
///
/// let masked = mask("paid with 4111-1111-1111-1111, thanks", &MaskStyle::BinAndLastFour);
/// assert_eq!(masked, "paid with 4111-11**-****-1111, thanks");
/// ```
pub fn mask<'a>(text: &'a str, style: &MaskStyle) -> Cow<'a, str> {
    let h = text.as_bytes();
    let Some(first) = scan::next_match(h, 0) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + TOKEN_LEN);
    let mut copied = 0;
    let mut previous_end = None;
    let mut next = Some(first);
    while let Some(m) = next {
        // Match bounds are ASCII digits, hence char boundaries.
        out.push_str(&text[copied..m.start]);
        let span = &h[m.range()];
        match style {
            MaskStyle::Token { key } => key.write_token(span, &mut out),
            _ => Kept::for_match(style, h, m, previous_end).push_masked(&text[m.range()], &mut out),
        }
        copied = m.end;
        previous_end = Some(m.end);
        next = scan::next_match(h, m.end);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}
