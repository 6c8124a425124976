//! The scanner: digit groups, chains of groups, and PAN windows over them.
//!
//! Vocabulary: a *group* is a maximal run of ASCII digits. Two groups are *joined* when exactly
//! one separator (space or dash) stands between them. A *window* is a sequence of joined
//! groups, all joined by the same separator, holding 13 to 19 digits; it is a PAN when its
//! digits pass the IIN table and Luhn. Overlapping PAN windows are reported as one match.
//! Two more kinds of window: a *padded* group (leading zeros, then 13 to 19 digits), and a
//! *thousands-grouped* number (groups of three after a first of one to three, joined by one
//! thousands separator: [`THOUSANDS`]), whose leading zeros do not count either.
//!
//! Every position is visited a bounded number of times: a group is read once on the fast path,
//! and at most once per start within the 19-digit reach of a window when groups are joined
//! (a thousands-grouped number is read at most 13 digits ahead to decide whether to search
//! it).

use super::Match;
use super::iin;

pub(super) const MIN_DIGITS: u32 = 13;
pub(super) const MAX_DIGITS: u32 = 19;

/// `x * 2`, minus 9 when that is two digits: the Luhn treatment of every second digit.
const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

#[inline(always)]
pub(super) fn is_digit(b: u8) -> bool {
    b.wrapping_sub(b'0') < 10
}

#[inline(always)]
pub(super) fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// The separator after a group ending at `end` when another group follows it
/// (`digit SEP digit`), else `None`.
#[inline(always)]
pub(super) fn joint_at(h: &[u8], end: usize) -> Option<u8> {
    match h.get(end..end + 2) {
        Some(&[sep, next]) if is_separator(sep) && is_digit(next) => Some(sep),
        _ => None,
    }
}

/// Position of the first ASCII digit at or after `from`.
///
/// Blocks of 32 bytes are tested with a branch-free fold, which the compiler turns into a few
/// SIMD compares; only a block that holds a digit is searched byte by byte.
#[inline]
fn next_digit(h: &[u8], from: usize) -> Option<usize> {
    const BLOCK: usize = 32;
    // Digit-dense data: the next digit is usually a few bytes away.
    const NEAR: usize = 8;
    let rest = h.get(from..)?;
    if let Some(i) = rest.iter().take(NEAR).position(|&b| is_digit(b)) {
        return Some(from + i);
    }
    let rest = rest.get(NEAR..)?;
    let mut base = from + NEAR;
    let mut blocks = rest.chunks_exact(BLOCK);
    for block in &mut blocks {
        if block.iter().fold(false, |any, &b| any | is_digit(b)) {
            return block.iter().position(|&b| is_digit(b)).map(|i| base + i);
        }
        base += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| is_digit(b))
        .map(|i| base + i)
}

/// End (exclusive) of the group of digits starting at `start`.
#[inline]
fn group_end(h: &[u8], start: usize) -> usize {
    h[start..]
        .iter()
        .position(|&b| !is_digit(b))
        .map_or(h.len(), |i| start + i)
}

/// Digits of a window read left to right: count, the first six (for the IIN), and the Luhn
/// sum under both parities, since the parity is fixed by the window's last digit.
#[derive(Default)]
struct Digits {
    count: u32,
    first_six: u32,
    /// `luhn[p]`: digits at index parity `p` taken plain, the others doubled.
    luhn: [u32; 2],
}

impl Digits {
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        let d = usize::from(byte - b'0');
        if self.count < 6 {
            self.first_six = self.first_six * 10 + d as u32;
        }
        let parity = (self.count & 1) as usize;
        self.luhn[parity] += d as u32;
        self.luhn[parity ^ 1] += DOUBLED[d];
        self.count += 1;
    }

    /// Luhn over the digits pushed so far: the rightmost digit is taken plain.
    #[inline(always)]
    fn luhn_valid(&self) -> bool {
        self.luhn[((self.count + 1) & 1) as usize].is_multiple_of(10)
    }
}

/// Whether a lone group of 13–19 digits is a PAN.
#[inline]
fn group_is_pan(group: &[u8]) -> bool {
    let first_six = group[..6]
        .iter()
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    if iin::brand_of(first_six).is_none() {
        return false;
    }
    // Luhn from the right with the parity known: no table, no indexed accumulator (this runs
    // for every 13–19 digit number of a result).
    let mut sum = 0u32;
    let mut double = false;
    for &b in group.iter().rev() {
        let d = u32::from(b - b'0');
        sum += if double {
            let x = d * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            d
        };
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// End of the longest PAN window that starts with the group at `start`, if any.
fn longest_window(h: &[u8], start: usize) -> Option<usize> {
    let mut digits = Digits::default();
    let mut separator = None;
    let mut best = None;
    let mut i = start;
    loop {
        while let Some(&b) = h.get(i).filter(|b| is_digit(**b)) {
            if digits.count == MAX_DIGITS {
                return best;
            }
            digits.push(b);
            let known = match digits.count {
                2 => iin::may_start(digits.first_six),
                6 => iin::brand_of(digits.first_six).is_some(),
                _ => true,
            };
            if !known {
                return None;
            }
            i += 1;
        }
        if digits.count >= MIN_DIGITS && digits.luhn_valid() {
            best = Some(i);
        }
        match joint_at(h, i) {
            Some(sep) if separator.is_none_or(|s| s == sep) => {
                separator = Some(sep);
                i += 1;
            }
            _ => return best,
        }
    }
}

/// The thousands separators of number and money formatting, as `lc_numeric` and
/// `lc_monetary` print them (`4,111,111`, `4.111.111`, `4'111'111`, and the no-break spaces
/// and the right single quotation mark some locales use), longest first where they share a
/// first byte. A plain space is a card separator already ([`is_separator`]).
const THOUSANDS: [&[u8]; 7] = [
    b",",
    b".",
    b"'",
    "\u{a0}".as_bytes(),
    "\u{202f}".as_bytes(),
    "\u{2009}".as_bytes(),
    "\u{2019}".as_bytes(),
];

/// The length of a thousands separator starting at `at`, if one does.
#[inline(always)]
fn thousands_sep_at(h: &[u8], at: usize) -> Option<usize> {
    let first = *h.get(at)?;
    // Most bytes are not the first byte of any separator: one test rejects them.
    match first {
        b',' | b'.' | b'\'' => return Some(1),
        0xC2 | 0xE2 => {}
        _ => return None,
    }
    let rest = h.get(at..)?;
    THOUSANDS
        .iter()
        .find(|sep| rest.starts_with(sep))
        .map(|sep| sep.len())
}

/// The separator after a group ending at `end` when it is a thousands separator followed by
/// a digit: `(its bytes' length, where the next group starts)`.
#[inline]
fn thousands_joint_at(h: &[u8], end: usize) -> Option<(usize, usize)> {
    let len = thousands_sep_at(h, end)?;
    let next = end + len;
    h.get(next).filter(|b| is_digit(**b)).map(|_| (len, next))
}

/// Whether a thousands group of exactly three digits follows the match ending at `end`
/// (`…1111,222`): the number goes on, so the match's tail is not the end of a number and is
/// shown no more than a side joined by a card separator (see `style::Kept`).
pub(super) fn thousands_group_after(h: &[u8], end: usize) -> bool {
    thousands_joint_at(h, end).is_some_and(|(_, next)| group_end(h, next) - next == 3)
}

/// The most leading zeros a thousands-grouped PAN may have (`0,000,004,111,…`): more than any
/// fixed-width field pads a 13-digit PAN with.
const MAX_GROUPED_ZEROS: u32 = 12;

/// End of the longest PAN written as a thousands-grouped number that starts with the group at
/// `start..end` (`4,111,111,111,111,111`, `4.111.111.111.111.111,00`, `$4,111,…`): a first
/// group of one to three digits, then groups of exactly three joined by one and the same
/// thousands separator. Leading zeros do not count (`0,004,111,…` is a padded PAN).
///
/// Like groups joined by card separators, a grouped number is searched from each of its
/// groups (`12,345,411,111,…` holds a window from `411`): a window that only started at a
/// number's first group would appear once a PAN before it is masked (`****,411,111,…`), and
/// masking a masked text must find nothing.
fn thousands_window(h: &[u8], start: usize, end: usize) -> Option<usize> {
    let mut digits = Digits::default();
    let mut best = None;
    let mut separator: Option<&[u8]> = None;
    let (mut group_start, mut group_stop) = (start, end);
    let mut zeros = 0;
    loop {
        for &b in &h[group_start..group_stop] {
            if digits.count == 0 && b == b'0' {
                // Padding is bounded here (unlike a lone group, which is read once, a grouped
                // number is read from each of its groups).
                zeros += 1;
                if zeros > MAX_GROUPED_ZEROS {
                    return None;
                }
                continue;
            }
            if digits.count == MAX_DIGITS {
                return best;
            }
            digits.push(b);
            let known = match digits.count {
                2 => iin::may_start(digits.first_six),
                6 => iin::brand_of(digits.first_six).is_some(),
                _ => true,
            };
            if !known {
                return best;
            }
        }
        if digits.count >= MIN_DIGITS && digits.luhn_valid() {
            best = Some(group_stop);
        }
        let Some((len, next)) = thousands_joint_at(h, group_stop) else {
            return best;
        };
        let sep = &h[group_stop..group_stop + len];
        if separator.is_some_and(|s| s != sep) {
            return best;
        }
        let next_end = group_end(h, next);
        if next_end - next != 3 {
            return best;
        }
        separator = Some(sep);
        (group_start, group_stop) = (next, next_end);
    }
}

/// Whether a zero-padded group (`0004111111111111111`, `lpad(pan, 19, '0')`) is a PAN: its
/// digits after the leading zeros are 13 to 19 and one. The zeros are part of the match.
#[inline]
fn padded_group_is_pan(group: &[u8]) -> bool {
    let significant = group
        .iter()
        .position(|&b| b != b'0')
        .map_or(&group[group.len()..], |i| &group[i..]);
    significant.len() < group.len()
        && (MIN_DIGITS as usize..=MAX_DIGITS as usize).contains(&significant.len())
        && group_is_pan(significant)
}

/// End of the longest PAN window that starts with the group at `start..end`, of any kind: the
/// group alone or joined by card separators, zero-padded, or thousands-grouped.
#[inline]
fn window_end_at(h: &[u8], start: usize, end: usize) -> Option<usize> {
    let len = end - start;
    if len > MAX_DIGITS as usize {
        // Some other number: no window inside it is a PAN, unless it is a PAN padded with
        // zeros (`lpad(pan, 24, '0')`, fixed-width exports). Then the whole group is the
        // match, so a match never starts right after a digit.
        return padded_group_is_pan(&h[start..end]).then_some(end);
    }
    let mut best = None;
    if len > MIN_DIGITS as usize && h[start] == b'0' && padded_group_is_pan(&h[start..end]) {
        best = Some(end);
    }
    let card = if joint_at(h, end).is_some() {
        longest_window(h, start)
    } else {
        (len >= MIN_DIGITS as usize && group_is_pan(&h[start..end])).then_some(end)
    };
    best = best.max(card);
    if len <= 3 && thousands_sep_at(h, end).is_some() {
        best = best.max(thousands_window(h, start, end));
    }
    best
}

/// The first match at or after `pos`. `pos` must not be inside a group (0, or the end of a
/// previous match).
pub(super) fn next_match(h: &[u8], mut pos: usize) -> Option<Match> {
    loop {
        let start = next_digit(h, pos)?;
        let end = group_end(h, start);
        let len = end - start;
        if len > MAX_DIGITS as usize {
            // Some other number, unless a padded PAN (see `window_end_at`).
            if padded_group_is_pan(&h[start..end]) {
                return Some(Match { start, end });
            }
            pos = end;
            continue;
        }
        if joint_at(h, end).is_some() {
            // Joined by a card separator (so no thousands separator follows): card windows,
            // and a padded group. `window_end_at` for these two, without its other checks.
            let mut window = longest_window(h, start);
            if len > MIN_DIGITS as usize && h[start] == b'0' && padded_group_is_pan(&h[start..end])
            {
                window = window.max(Some(end));
            }
            match window {
                Some(window_end) => return Some(merge_overlapping(h, start, end, window_end)),
                None => {
                    pos = end;
                    continue;
                }
            }
        }
        if len >= MIN_DIGITS as usize {
            // The common case: a lone group. A group this long starts no grouped number and
            // holds no other window.
            let group = &h[start..end];
            if group_is_pan(group) || (group[0] == b'0' && padded_group_is_pan(group)) {
                return Some(Match { start, end });
            }
        } else if len <= 3
            && let Some((last_start, digits)) = thousands_chain(h, end)
        {
            // A thousands-grouped number. With fewer than 13 digits in all, no window starts
            // inside it (from a group followed by the same separator, a window is a suffix of
            // the chain): only its last group may go on, joined by a card separator or by
            // another thousands separator, so the search resumes there.
            if digits + len >= MIN_DIGITS as usize {
                if let Some(window_end) = window_end_at(h, start, end) {
                    return Some(merge_overlapping(h, start, end, window_end));
                }
                pos = end;
            } else {
                pos = last_start;
            }
            continue;
        }
        pos = end;
    }
}

/// The groups that follow a group ending at `end` as a thousands-grouped number (one and the
/// same separator, three digits each), read until they hold 13 digits: where the last one
/// read starts, and how many digits they hold. `None` when no such group follows.
#[inline]
fn thousands_chain(h: &[u8], end: usize) -> Option<(usize, usize)> {
    let (len, first) = thousands_joint_at(h, end)?;
    if !three_digits_at(h, first) {
        return None;
    }
    let sep = &h[end..end + len];
    let mut last_start = first;
    let mut digits = 3;
    // Enough to know whether a PAN may start here: walking a long chain from each of its
    // groups would be quadratic.
    while digits < MIN_DIGITS as usize
        && let Some((len, next)) = thousands_joint_at(h, last_start + 3)
    {
        if &h[last_start + 3..last_start + 3 + len] != sep || !three_digits_at(h, next) {
            break;
        }
        last_start = next;
        digits += 3;
    }
    Some((last_start, digits))
}

/// Whether a group of exactly three digits starts at `at` (a digit at `at` is known).
#[inline(always)]
fn three_digits_at(h: &[u8], at: usize) -> bool {
    match h.get(at + 1..) {
        Some([b1, b2, rest @ ..]) => {
            is_digit(*b1) && is_digit(*b2) && rest.first().is_none_or(|b| !is_digit(*b))
        }
        _ => false,
    }
}

/// Grows the match `start..window_end` with every PAN window that starts inside it, until
/// none does: overlapping windows are one match.
fn merge_overlapping(h: &[u8], start: usize, first_group_end: usize, window_end: usize) -> Match {
    let mut end = window_end;
    let mut group_end_at = first_group_end;
    // The bytes between two groups of one match are a separator (one to three bytes): a
    // plain search, which keeps `next_digit` inlined in the hot loop of `next_match`.
    while let Some(next) = h[..end]
        .get(group_end_at..)
        .and_then(|rest| rest.iter().position(|&b| is_digit(b)))
        .map(|i| group_end_at + i)
    {
        let next_end = group_end(h, next);
        if let Some(other_end) = window_end_at(h, next, next_end) {
            end = end.max(other_end);
        }
        group_end_at = next_end;
    }
    Match { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_digit_across_blocks() {
        let mut text = vec![b'x'; 100];
        assert_eq!(next_digit(&text, 0), None);
        for at in [0, 1, 31, 32, 33, 63, 64, 95, 96, 99] {
            text.fill(b'x');
            text[at] = b'7';
            assert_eq!(next_digit(&text, 0), Some(at));
            assert_eq!(next_digit(&text, at), Some(at));
            assert_eq!(next_digit(&text, at + 1), None);
        }
        assert_eq!(next_digit(&text, 200), None);
    }

    #[test]
    fn luhn_parities() {
        for (number, valid) in [
            ("4111111111111111", true),
            ("4111111111111112", false),
            ("378282246310005", true),
            ("30569309025904", true),
            ("79927398713", true),
            ("79927398710", false),
        ] {
            let mut digits = Digits::default();
            number.bytes().for_each(|b| digits.push(b));
            assert_eq!(digits.luhn_valid(), valid, "{number}");
        }
    }
}
