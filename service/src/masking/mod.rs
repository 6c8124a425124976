//! Masking of cardholder data before it reaches a client or a recording.
//!
//! [`pan`] finds primary account numbers (card numbers) in text and masks them; it is pure (no
//! I/O, no allocation unless a copy is asked for), so the gateway can run it over DataRow,
//! ErrorResponse, NoticeResponse and COPY bytes in place, and the recorder over query text.
//!
//! Architecture Invariant: no function in this module widens what is shown of a PAN beyond
//! PCI DSS 3.4.1 (the BIN and the last four digits), whatever the input.

pub mod pan;

/// Errors of the masking layer. Scanning and masking cannot fail; only building a
/// tokenization key can.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaskingError {
    #[error(
        "the PAN token key is {len} bytes; HMAC-SHA-256 tokens need at least {min} random bytes \
         (generate one with `openssl rand -hex 32`)"
    )]
    TokenKeyTooShort { len: usize, min: usize },
}
