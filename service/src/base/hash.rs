//! SHA-256 and HMAC-SHA-256 from one backend (aws-lc-rs, as TLS uses), and lower-case hex,
//! the one spelling of a hash in hoop's documents.

use std::fmt;

use aws_lc_rs::{digest, hmac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-256 value; lower-case hex when written.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        Sha256(sha256(bytes))
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Exactly 64 lower-case hex digits: the only spelling a document may use, so two
    /// spellings of one hash can never both verify.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        ::hex::decode_to_slice(text, &mut out).ok()?;
        Some(Sha256(out))
    }
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    tag.as_ref().try_into().expect("HMAC-SHA-256 is 32 bytes")
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// Appends the lower-case hex of `bytes` to `out` (hot paths that build a line in place).
pub fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    ::hex::encode_to_slice(bytes, &mut out[start..]).expect("the slice is twice the input");
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Sha256::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lower-case hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 and RFC 4231 test case 2.
        assert_eq!(
            Sha256::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut line = b"prev=".to_vec();
        write_hex(&mut line, &[0x00, 0xab, 0xff]);
        assert_eq!(line, b"prev=00abff");
    }

    #[test]
    fn one_spelling_only() {
        let h = Sha256::of(b"x");
        assert_eq!(Sha256::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Sha256::from_hex(&h.to_hex().to_uppercase()), None);
        assert_eq!(Sha256::from_hex(&h.to_hex()[1..]), None);
        assert_eq!(Sha256::from_hex(&format!("{}0", h.to_hex())), None);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Sha256>("\"zz\"").is_err());
    }
}
