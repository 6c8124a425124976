//! Archive signing keys: the Ed25519 private key a replica signs with, the public keys auditors
//! pin, and their key ids.
//!
//! The public key file is a standard PEM `SubjectPublicKeyInfo` (RFC 8410) preceded by one
//! explanatory line naming its key id. Standard PEM, rather than a format of hoop's own, lets an
//! auditor check a signature with `openssl pkeyutl -verify -pubin -rawin` and no hoop at all;
//! RFC 7468 lets text stand outside the PEM boundaries, and OpenSSL ignores it.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ArchiveError;
use super::layout::Sha256;
use crate::base::Secret;
use crate::base::hash::hex;

/// Every key id starts with this: the algorithm, so a later algorithm gets its own ids.
pub const KEY_ID_PREFIX: &str = "ed25519:";

/// The DER of an Ed25519 `SubjectPublicKeyInfo` is this 12-byte header, then the 32-byte key.
const SPKI_HEADER: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PUBLIC_PEM_LABEL: &str = "PUBLIC KEY";
const PRIVATE_PEM_LABEL: &str = "PRIVATE KEY";
const EXPLANATORY_TEXT: &str = "hoop archive signing key";
/// Why a public key cannot sign: said whichever form it came in.
const PUBLIC_NOT_PRIVATE: &str = "this is a public key (`-----BEGIN PUBLIC KEY-----`, the `.pub` \
     file auditors pin), not a private key; give the private key file that `hoop keys generate` \
     wrote";

/// `ed25519:` and the first 16 hex digits of the SHA-256 of the raw 32-byte public key.
///
/// A key id only says which pinned key to try: the signature is checked with the pinned key
/// itself, so a key made to collide with a pinned id still fails verification.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub fn of(raw_public_key: &[u8; 32]) -> Self {
        let hash = Sha256::of(raw_public_key);
        KeyId(format!("{KEY_ID_PREFIX}{}", hex(&hash.as_bytes()[..8])))
    }

    pub fn parse(text: &str) -> Result<Self, ArchiveError> {
        let ok = text.strip_prefix(KEY_ID_PREFIX).is_some_and(|h| {
            h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(KeyId(text.to_owned()))
        } else {
            Err(ArchiveError::InvalidName {
                what: "key id",
                value: text.escape_default().to_string(),
                rule: "use `ed25519:` and 16 lower-case hex digits",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = ArchiveError;
    fn try_from(value: String) -> Result<Self, ArchiveError> {
        KeyId::parse(&value)
    }
}

impl From<KeyId> for String {
    fn from(value: KeyId) -> String {
        value.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ed25519 signature (64 bytes), standard base64 with padding in documents.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = BASE64.decode(text).ok()?;
        Some(Signature(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Signature::from_base64(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 bytes in standard base64"))
    }
}

/// A public key auditors pin.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    raw: [u8; 32],
    id: KeyId,
}

impl PublicKey {
    pub fn from_raw(raw: [u8; 32]) -> Self {
        PublicKey {
            id: KeyId::of(&raw),
            raw,
        }
    }

    /// An Ed25519 `SubjectPublicKeyInfo` in DER (44 bytes).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, ArchiveError> {
        match der.strip_prefix(&SPKI_HEADER[..]) {
            Some(raw) => raw
                .try_into()
                .map(PublicKey::from_raw)
                .map_err(|_| public_error("the Ed25519 key is not 32 bytes")),
            None => Err(public_error(
                "not an Ed25519 SubjectPublicKeyInfo (RFC 8410); only Ed25519 keys are accepted",
            )),
        }
    }

    /// Reads a public key file holding exactly one key.
    pub fn parse(text: &str) -> Result<Self, ArchiveError> {
        let mut keys = Self::parse_all(text)?;
        match (keys.pop(), keys.is_empty()) {
            (Some(key), true) => Ok(key),
            _ => Err(public_error(
                "the file holds several keys; use KeyRing::from_text",
            )),
        }
    }

    /// Reads every `PUBLIC KEY` block of a file (several pinned keys may share one file). A
    /// key id written in the explanatory line before a block must be that key's id: a pin file
    /// whose label lies is refused rather than trusted.
    pub fn parse_all(text: &str) -> Result<Vec<Self>, ArchiveError> {
        let blocks = pem_blocks(text, PUBLIC_PEM_LABEL).map_err(public_error)?;
        if blocks.is_empty() {
            return Err(public_error(
                "no `-----BEGIN PUBLIC KEY-----` block; pin the file `hoop keys generate` wrote",
            ));
        }
        blocks
            .into_iter()
            .map(|block| {
                let key = PublicKey::from_spki_der(&block.der)?;
                match block.labelled_id {
                    Some(id) if id != key.id.as_str() => Err(public_error(
                        "the key id in the file's text does not match the key it holds",
                    )),
                    _ => Ok(key),
                }
            })
            .collect()
    }

    /// The public key file: one explanatory line with the key id, then the PEM block.
    pub fn to_file(&self) -> String {
        let mut der = SPKI_HEADER.to_vec();
        der.extend_from_slice(&self.raw);
        format!(
            "{EXPLANATORY_TEXT} {}\n{}",
            self.id,
            pem_encode(PUBLIC_PEM_LABEL, &der)
        )
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub fn raw(&self) -> &[u8; 32] {
        &self.raw
    }

    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.raw)
            .verify(message, &signature.0)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

fn public_error(reason: impl Into<String>) -> ArchiveError {
    ArchiveError::PublicKey {
        reason: reason.into(),
    }
}

fn signing_error(reason: impl Into<String>) -> ArchiveError {
    ArchiveError::SigningKey {
        reason: reason.into(),
    }
}

/// The private key a replica signs manifests and digests with. Its `Debug` shows the key id
/// only: the key material never reaches a log line.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public.id)
    }
}

impl SigningKey {
    /// A key from configuration (`SecretSource` inline, env or file): a PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`, what `hoop keys generate` and
    /// `openssl genpkey -algorithm ed25519` write), or one line of standard base64 holding the
    /// 32-byte seed or the PKCS#8 DER (convenient in an environment variable).
    pub fn from_secret(secret: &Secret) -> Result<Self, ArchiveError> {
        let text = secret.expose().trim();
        if text.contains("-----BEGIN") {
            return Self::from_pem(text);
        }
        let bytes = BASE64.decode(text).map_err(|_| {
            signing_error("neither a PEM `PRIVATE KEY` nor standard base64 of a seed or PKCS#8")
        })?;
        Self::from_der_or_seed(&bytes)
    }

    /// The bytes of a key file: PEM, PKCS#8 DER, or the raw 32-byte seed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ArchiveError> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => Self::from_pem(text),
            _ => Self::from_der_or_seed(bytes),
        }
    }

    /// A PKCS#8 (v1 or v2) Ed25519 key in PEM. Encrypted keys are refused.
    pub fn from_pem(text: &str) -> Result<Self, ArchiveError> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(signing_error(
                "the key is encrypted; decrypt it (openssl pkcs8 -in key.pem -out plain.pem) and \
                 keep it in a secret store instead",
            ));
        }
        let mut blocks = pem_blocks(text, PRIVATE_PEM_LABEL).map_err(signing_error)?;
        match (blocks.pop(), blocks.is_empty()) {
            (Some(block), true) => Self::from_pkcs8_der(&block.der),
            (None, _) if text.contains(&format!("-----BEGIN {PUBLIC_PEM_LABEL}-----")) => {
                Err(signing_error(PUBLIC_NOT_PRIVATE))
            }
            (None, _) => Err(signing_error("no `-----BEGIN PRIVATE KEY-----` block")),
            (Some(_), false) => Err(signing_error("the file holds several private keys")),
        }
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, ArchiveError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| signing_error(format!("not an Ed25519 PKCS#8 key ({e})")))?;
        Ok(Self::from_pair(pair))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, ArchiveError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| signing_error(format!("not an Ed25519 seed ({e})")))?;
        Ok(Self::from_pair(pair))
    }

    fn from_der_or_seed(bytes: &[u8]) -> Result<Self, ArchiveError> {
        if bytes.len() == SPKI_HEADER.len() + 32 && bytes.starts_with(&SPKI_HEADER) {
            return Err(signing_error(PUBLIC_NOT_PRIVATE));
        }
        match <&[u8; 32]>::try_from(bytes) {
            Ok(seed) => Self::from_seed(seed),
            Err(_) => Self::from_pkcs8_der(bytes),
        }
    }

    fn from_pair(pair: Ed25519KeyPair) -> Self {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(pair.public_key().as_ref());
        SigningKey {
            pair,
            public: PublicKey::from_raw(raw),
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> &KeyId {
        &self.public.id
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        Signature(out)
    }
}

/// A new key pair, for `hoop keys generate`.
#[derive(Debug)]
pub struct GeneratedKey {
    pub key_id: KeyId,
    /// PKCS#8 v1 PEM, the form OpenSSL writes and reads.
    pub private_pem: Secret,
    /// The file auditors pin ([`PublicKey::to_file`]).
    pub public_file: String,
}

pub fn generate() -> Result<GeneratedKey, ArchiveError> {
    let pair = Ed25519KeyPair::generate()
        .map_err(|_| signing_error("the system cannot generate a key"))?;
    let der = pair
        .to_pkcs8v1()
        .map_err(|_| signing_error("cannot encode the new key as PKCS#8"))?;
    let key = SigningKey::from_pair(pair);
    Ok(GeneratedKey {
        key_id: key.key_id().clone(),
        private_pem: Secret::new(pem_encode(PRIVATE_PEM_LABEL, der.as_ref())),
        public_file: key.public.to_file(),
    })
}

/// Why a signature is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsignedReason {
    /// No pinned key has the document's key id (an unknown signer, or a key not pinned yet).
    UnknownKey,
    /// The pinned key with that id did not make this signature over this document.
    BadSignature,
}

/// The public keys an auditor pins. Several, for rotation: an archive names the key id it was
/// signed with, and stays verifiable as long as that key stays pinned.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl KeyRing {
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Every key of one or more concatenated public key files.
    pub fn from_text(text: &str) -> Result<Self, ArchiveError> {
        let mut ring = KeyRing::new();
        for key in PublicKey::parse_all(text)? {
            ring.insert(key);
        }
        Ok(ring)
    }

    /// Pins a key. A key id names one key (ids are derived from the key), so pinning the same
    /// key twice changes nothing.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.id.clone(), key);
    }

    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `signature` over `message` with the pinned key named `id`.
    pub fn check(
        &self,
        id: &KeyId,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), UnsignedReason> {
        let key = self.keys.get(id).ok_or(UnsignedReason::UnknownKey)?;
        if key.verify(message, signature) {
            Ok(())
        } else {
            Err(UnsignedReason::BadSignature)
        }
    }
}

struct PemBlock {
    der: Vec<u8>,
    /// The first `ed25519:…` word of the explanatory line just before the block.
    labelled_id: Option<String>,
}

/// The blocks of `label` in `text`; other labels and text between blocks are skipped.
fn pem_blocks(text: &str, label: &str) -> Result<Vec<PemBlock>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut last_text: Option<&str> = None;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != begin {
            if !line.is_empty() && !line.starts_with("-----") {
                last_text = Some(line);
            }
            continue;
        }
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("`{begin}` has no `{end}`"));
        }
        let der = BASE64
            .decode(&body)
            .map_err(|_| format!("the `{label}` block is not valid base64"))?;
        let labelled_id = last_text
            .take()
            .and_then(|t| t.split_whitespace().find(|w| w.starts_with(KEY_ID_PREFIX)))
            .map(str::to_owned);
        blocks.push(PemBlock { der, labelled_id });
    }
    Ok(blocks)
}

/// RFC 7468 strict form: 64-character lines, final newline.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032, section 7.1, test 1: a known seed, public key and signature of "".
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rfc_key() -> SigningKey {
        SigningKey::from_seed(&unhex(SEED).try_into().unwrap()).unwrap()
    }

    #[test]
    fn signs_like_rfc_8032() {
        let key = rfc_key();
        assert_eq!(hex(key.public_key().raw()), PUBLIC);
        let sig = key.sign(b"");
        assert_eq!(hex(&sig.0), SIGNATURE);
        assert!(key.public_key().verify(b"", &sig));
        assert!(!key.public_key().verify(b"x", &sig));
        let id = KeyId::of(key.public_key().raw());
        assert_eq!(id.as_str().len(), KEY_ID_PREFIX.len() + 16);
        assert_eq!(
            &id.as_str()[KEY_ID_PREFIX.len()..],
            &Sha256::of(&unhex(PUBLIC)).to_hex()[..16]
        );
    }

    #[test]
    fn generated_keys_round_trip_through_their_files() {
        let generated = generate().unwrap();
        let key = SigningKey::from_secret(&generated.private_pem).unwrap();
        assert_eq!(key.key_id(), &generated.key_id);
        assert!(format!("{key:?} {generated:?}").contains(generated.key_id.as_str()));
        assert!(!format!("{generated:?}").contains("PRIVATE"));
        let public = PublicKey::parse(&generated.public_file).unwrap();
        assert_eq!(public.id(), &generated.key_id);
        assert!(generated.public_file.starts_with(&format!(
            "hoop archive signing key {}\n-----BEGIN PUBLIC KEY-----\n",
            generated.key_id
        )));
        let sig = key.sign(b"manifest");
        assert!(public.verify(b"manifest", &sig));
    }

    #[test]
    fn signing_keys_load_from_every_accepted_form() {
        let key = rfc_key();
        let der = key.pair.to_pkcs8v1().unwrap();
        let pem = pem_encode(PRIVATE_PEM_LABEL, der.as_ref());
        let v2 = key.pair.to_pkcs8().unwrap();
        let forms = [
            SigningKey::from_secret(&Secret::new(pem.clone())).unwrap(),
            SigningKey::from_secret(&Secret::new(BASE64.encode(unhex(SEED)))).unwrap(),
            SigningKey::from_secret(&Secret::new(BASE64.encode(der.as_ref()))).unwrap(),
            SigningKey::from_bytes(pem.as_bytes()).unwrap(),
            SigningKey::from_bytes(der.as_ref()).unwrap(),
            SigningKey::from_bytes(v2.as_ref()).unwrap(),
            SigningKey::from_bytes(&unhex(SEED)).unwrap(),
        ];
        for form in forms {
            assert_eq!(form.key_id(), key.key_id());
        }
        for bad in [
            "",
            "not base64!",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n",
        ] {
            let err = SigningKey::from_secret(&Secret::new(bad)).unwrap_err();
            assert!(!err.to_string().contains(SEED), "{err}");
        }
    }

    #[test]
    fn a_public_key_given_as_the_signing_key_is_named_as_such() {
        let generated = generate().unwrap();
        let public = generated.public_file.clone();
        let der = pem_blocks(&public, PUBLIC_PEM_LABEL).unwrap().remove(0).der;
        for err in [
            SigningKey::from_secret(&Secret::new(public.clone())).unwrap_err(),
            SigningKey::from_bytes(public.as_bytes()).unwrap_err(),
            SigningKey::from_secret(&Secret::new(BASE64.encode(&der))).unwrap_err(),
            SigningKey::from_bytes(&der).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(text.contains("this is a public key"), "{text}");
            assert!(text.contains("hoop keys generate"), "{text}");
        }
    }

    #[test]
    fn public_key_files_are_checked() {
        let key = rfc_key();
        let file = key.public_key().to_file();
        let other = generate().unwrap();
        let both = format!("{file}\n{}", other.public_file);
        let ring = KeyRing::from_text(&both).unwrap();
        assert_eq!(ring.ids().count(), 2);
        assert!(PublicKey::parse(&both).is_err());

        let relabelled = file.replace(key.key_id().as_str(), other.key_id.as_str());
        assert!(PublicKey::parse(&relabelled).is_err());
        let unlabelled = file.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(PublicKey::parse(&unlabelled).unwrap().id(), key.key_id());
        assert!(PublicKey::parse("hello").is_err());

        let sig = key.sign(b"m");
        assert_eq!(ring.check(key.key_id(), b"m", &sig), Ok(()));
        assert_eq!(
            ring.check(&other.key_id, b"m", &sig),
            Err(UnsignedReason::BadSignature)
        );
        let stranger = KeyId::parse("ed25519:0000000000000000").unwrap();
        assert_eq!(
            ring.check(&stranger, b"m", &sig),
            Err(UnsignedReason::UnknownKey)
        );
    }

    #[test]
    fn the_public_key_file_is_plain_spki() {
        // What `openssl pkey -pubin` reads: the DER is the fixed header, then the raw key.
        let key = rfc_key();
        let file = key.public_key().to_file();
        let blocks = pem_blocks(&file, PUBLIC_PEM_LABEL).unwrap();
        assert_eq!(
            hex(&blocks[0].der),
            format!("302a300506032b6570032100{PUBLIC}")
        );
    }
}
