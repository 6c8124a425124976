//! How a detected PAN is displayed: which digits survive, or which token replaces it.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;

use super::Match;
use super::scan::{is_digit, is_separator, joint_at, thousands_group_after};
use crate::masking::MaskingError;

/// How a detected PAN is displayed. PCI DSS 3.4.1 allows at most the BIN (first six) and the
/// last four digits.
#[derive(Clone, Debug)]
pub enum MaskStyle {
    /// `4111 11** **** 1111`: the first six and the last four digits are kept.
    BinAndLastFour,
    /// `**** **** **** 1111`: only the last four digits are kept.
    LastFour,
    /// `**** **** **** ****`: no digit is kept.
    Redact,
    /// `pan_kqbtfmhdsrnplgcj`: a keyed HMAC-SHA-256 of the digits, so one card can be followed
    /// through recordings without being readable. The length changes, so this style only
    /// applies through [`mask`](super::mask); [`mask_in_place`](super::mask_in_place) redacts.
    Token { key: TokenKey },
}

/// The secret key of [`MaskStyle::Token`]. Its bytes cannot be read back, and `Debug` never
/// shows them. Cloning shares the key.
#[derive(Clone)]
pub struct TokenKey(Arc<hmac::Key>);

impl TokenKey {
    /// The shortest accepted key, in bytes: the output size of SHA-256.
    pub const MIN_LEN: usize = 32;

    pub fn new(secret: &[u8]) -> Result<Self, MaskingError> {
        if secret.len() < Self::MIN_LEN {
            return Err(MaskingError::TokenKeyTooShort {
                len: secret.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(TokenKey(Arc::new(hmac::Key::new(
            hmac::HMAC_SHA256,
            secret,
        ))))
    }

    /// The token of a PAN: [`TOKEN_PREFIX`] and [`TOKEN_CHARS`] letters computed from its digits
    /// only, so `4111 1111 1111 1111`, `4,111,111,111,111,111` and `0004111111111111111` get
    /// the same token as `4111111111111111`.
    pub fn token(&self, pan: &[u8]) -> String {
        let mut token = String::with_capacity(TOKEN_LEN);
        self.write_token(pan, &mut token);
        token
    }

    pub(super) fn write_token(&self, pan: &[u8], out: &mut String) {
        let mut context = hmac::Context::with_key(&self.0);
        // Domain separation: this key may one day sign other things.
        context.update(b"hoop pan token v1\0");
        // Digits only, without the zeros of a padded PAN (no PAN starts with 0): the same
        // card gets the same token however it is spaced, grouped or padded.
        let mut leading = true;
        for mut digits in pan.split(|b| !is_digit(*b)) {
            if leading {
                let zeros = digits.iter().take_while(|b| **b == b'0').count();
                digits = &digits[zeros..];
                leading = digits.is_empty();
            }
            context.update(digits);
        }
        let tag = context.sign();
        out.push_str(TOKEN_PREFIX);
        // Letters only: a token holds no digit, so it can never look like (part of) a PAN,
        // and masking a masked text changes nothing.
        for byte in &tag.as_ref()[..TOKEN_CHARS / 2] {
            out.push(TOKEN_ALPHABET[usize::from(byte >> 4)] as char);
            out.push(TOKEN_ALPHABET[usize::from(byte & 0x0f)] as char);
        }
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "pan_";
/// Letters after the prefix: 16, that is 64 bits of the HMAC.
pub const TOKEN_CHARS: usize = 16;
/// The fixed length of a token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + TOKEN_CHARS;
/// Sixteen consonants, one per nibble: no digits, no vowels (no accidental words).
const TOKEN_ALPHABET: &[u8; 16] = b"bcdfghjklmnpqrst";

/// How many digits of one match survive, from its start and from its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Kept {
    head: u32,
    tail: u32,
}

impl Kept {
    /// The digits `style` keeps of match `m` in `h`. `previous_end` is the end of the match
    /// before it, if any.
    ///
    /// A side of the match that is joined by one separator to other digits (`123 4111…`,
    /// `…1111 123`), or followed by another thousands group (`…,111,000`), keeps nothing:
    /// kept digits there could join those neighbours into a new PAN-looking window, and
    /// masking a masked text must change nothing. Showing less is always allowed.
    pub(super) fn for_match(
        style: &MaskStyle,
        h: &[u8],
        m: Match,
        previous_end: Option<usize>,
    ) -> Self {
        let (head, tail) = match style {
            MaskStyle::BinAndLastFour => (6, 4),
            MaskStyle::LastFour => (0, 4),
            MaskStyle::Redact | MaskStyle::Token { .. } => (0, 0),
        };
        // A previous match right before the separator kept nothing on that side (it was
        // joined to us), so its bytes are not digits any more.
        let joined_before = m.start >= 2
            && is_separator(h[m.start - 1])
            && is_digit(h[m.start - 2])
            && previous_end != Some(m.start - 1);
        let joined_after = joint_at(h, m.end).is_some() || thousands_group_after(h, m.end);
        Kept {
            head: if joined_before { 0 } else { head },
            tail: if joined_after { 0 } else { tail },
        }
    }

    /// Masks the digits of `span` (one match) that are not kept.
    pub(super) fn apply_in_place(self, span: &mut [u8]) {
        let mut digit = self.digit_mask(span);
        for b in span.iter_mut().filter(|b| is_digit(**b)) {
            if digit() {
                *b = b'*';
            }
        }
    }

    /// Appends `span` (one match) to `out` with the digits that are not kept masked. A match
    /// may hold multi-byte thousands separators (a no-break space), kept as they are.
    pub(super) fn push_masked(self, span: &str, out: &mut String) {
        let mut digit = self.digit_mask(span.as_bytes());
        for c in span.chars() {
            let masked = c.is_ascii_digit() && digit();
            out.push(if masked { '*' } else { c });
        }
    }

    /// A closure to call once per digit of `span`, in order: `true` when that digit is masked.
    fn digit_mask(self, span: &[u8]) -> impl FnMut() -> bool + use<> {
        let total = span.iter().filter(|b| is_digit(**b)).count() as u32;
        // A match holds at least 13 digits, so the kept head and tail never overlap.
        let tail_from = total.saturating_sub(self.tail);
        let mut seen = 0u32;
        move || {
            let masked = seen >= self.head && seen < tail_from;
            seen += 1;
            masked
        }
    }
}
