//! API tokens of people (approvers, auditors): random, shown once, configured only as their
//! SHA-256, and compared in constant time.
//!
//! Architecture Invariant: a token is never stored or logged; the configuration holds
//! [`TokenHash`]es, and a presented token is hashed, then compared with every configured hash,
//! so timing tells nothing about which or how many holders exist.

use crate::base::Secret;
use crate::base::hash::{hex, sha256};

/// The SHA-256 of a token, as `token_sha256` in the configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    /// From 64 hex digits (either case); `None` otherwise.
    pub fn parse(hex: &str) -> Option<TokenHash> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(TokenHash(hash))
    }

    pub fn of(token: &str) -> TokenHash {
        TokenHash(sha256(token.as_bytes()))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// The holder among `holders` whose hash is the presented token's. Every hash is compared.
pub fn find<'a, T>(
    holders: &'a [T],
    token: &str,
    hash_of: impl Fn(&T) -> &TokenHash,
) -> Option<&'a T> {
    let presented = TokenHash::of(token);
    let mut found = None;
    for holder in holders {
        let same =
            aws_lc_rs::constant_time::verify_slices_are_equal(&hash_of(holder).0, &presented.0)
                .is_ok();
        if same && found.is_none() {
            found = Some(holder);
        }
    }
    found
}

/// A new token with `prefix` (`hoopapr_`, `hoopaud_`: a leaked token says what it is) and the
/// hash that goes into the configuration.
pub fn new_token(prefix: &str) -> (Secret, TokenHash) {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .expect("the system random number generator failed");
    let token = format!("{prefix}{}", hex(&raw));
    let hash = TokenHash::of(&token);
    (Secret::new(token), hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let (token, hash) = new_token("hoopaud_");
        assert!(token.expose().starts_with("hoopaud_"));
        let holders = [("a", TokenHash::of("other")), ("b", hash)];
        let found = find(&holders, token.expose(), |h| &h.1);
        assert_eq!(found.map(|h| h.0), Some("b"));
        assert!(find(&holders, "nope", |h| &h.1).is_none());
        assert_eq!(TokenHash::parse(&hash.to_hex()), Some(hash));
        assert_eq!(TokenHash::parse(&hash.to_hex().to_uppercase()), Some(hash));
        assert!(TokenHash::parse("abc").is_none());
        assert!(TokenHash::parse(&"g".repeat(64)).is_none());
    }
}
