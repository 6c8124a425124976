//! Signed session archives and period digests: the format, its keys, and offline verification.
//!
//! A finished recording is sealed into two objects ([`Archive::seal`]): the JSONL, byte for
//! byte, zstd-compressed, and a manifest that an Ed25519 key signs (identity, time range, event
//! count, chain head, hashes). Every period a replica signs a [`Digest`] listing the archives it
//! stored in the period and linking to its previous digest, so a deleted or replaced archive, or
//! a deleted digest, shows. [`verify_folder`] checks a folder laid out like the store against
//! pinned public keys ([`KeyRing`]). Nothing here uploads: the stores build on these bytes.
//! The format is specified in `docs/archive-format.md`.
//!
//! Architecture Invariant: a signature covers the canonical form of a document
//! ([`canonical_form`]), never bytes a verifier would have to re-create by serializing its own
//! structs; the verifier computes it from the JSON as stored, so an unknown or duplicated field
//! fails verification instead of being dropped.

mod audit_segment;
mod bundle;
mod digest;
mod keys;
mod layout;
mod signed;
mod transcript;
mod verify;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

pub use audit_segment::{
    AUDIT_SEGMENT_FORMAT, AuditEntry, AuditRecord, AuditSegment, SealedSegment,
};
pub use bundle::{Archive, EndState, MANIFEST_FORMAT, Manifest, SealedArchive, SessionIdentity};
pub use digest::{
    DEFAULT_PERIOD, DIGEST_FORMAT, Digest, DigestBuilder, DigestEntry, Period, PreviousDigest,
    SealedDigest,
};
pub use keys::{
    GeneratedKey, KEY_ID_PREFIX, KeyId, KeyRing, PublicKey, Signature, SigningKey, UnsignedReason,
    generate,
};
pub use layout::{ObjectKey, Prefix, ReplicaName, SessionId, Sha256};
pub use signed::canonical_form;
pub use transcript::{Transcript, TranscriptLine, decompress_recording};
pub use verify::{
    Check, DEFAULT_MAX_DIGEST_DELAY, Gap, Pending, Problem, ProblemClass, VerifyOptions,
    VerifyReport, digest_candidates, verify_folder,
};

use crate::recording::ChainError;

/// Errors of the archive layer: sealing, key handling, digest building, reading a folder.
///
/// What verification finds wrong with an archive is not an error but a [`Problem`] in the
/// [`VerifyReport`]; these errors mean the work itself could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive signing key cannot be used: {reason}")]
    SigningKey { reason: String },
    #[error("the public key cannot be used: {reason}")]
    PublicKey { reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a spool recording: its name must be `<session_id>.jsonl`")]
    NotARecording { path: PathBuf },
    #[error("the recording does not verify, so it is not archived (inspect it): {0}")]
    Chain(#[from] ChainError),
    #[error("invalid {what} `{value}`: {rule}")]
    InvalidName {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error(transparent)]
    InvalidId(#[from] crate::base::IdError),
    #[error("invalid digest period: {reason}")]
    InvalidPeriod { reason: String },
    #[error("cannot compress or decompress a recording: {source}")]
    Compression {
        #[source]
        source: io::Error,
    },
    #[error("cannot encode an archive document: {source}")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error("not a valid {what}: {reason}")]
    Document { what: &'static str, reason: String },
    #[error("the digest already lists {key} with other hashes; an archive is listed once")]
    DuplicateEntry { key: String },
}
