//! WORM object stores for session archives and digests: S3 with Object Lock, and folders.
//!
//! A [`WormStore`] writes an object once and never replaces or deletes it. [`S3Store`] (via
//! aws-sdk-s3) puts every object with `ObjectLockMode=COMPLIANCE` and a retain-until date, a
//! SHA-256 checksum and `If-None-Match: *`, and its [`WormStore::check`] refuses a bucket without
//! Object Lock. [`FileStore`] (via object_store's local file system) is the embedded default: files are
//! created exclusively and made read-only, nothing is ever deleted; it has no lock to report.
//!
//! Keys given to a store are [`ObjectKey`]s relative to the archive root; the store adds its own
//! prefix. Nothing here knows what an archive is: [`crate::archiver`] decides what to put.
//!
//! Architecture Invariant: no method of a [`WormStore`] deletes or overwrites an object, and
//! [`WormStore::put`] of a key that exists fails with [`StoreError::Exists`] rather than
//! replacing it (an S3 bucket with versioning would otherwise keep a second version).

mod file;
mod s3;
mod url;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::archive::{ObjectKey, Sha256};

pub use file::FileStore;
pub use s3::{S3Settings, S3Store};
pub use url::{BucketName, StoreUrl};

/// The Object Lock a stored object carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    pub mode: LockMode,
    pub retain_until: DateTime<Utc>,
}

/// S3 Object Lock retention modes. hoop only ever writes [`LockMode::Compliance`]; a verifier
/// reports anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// No user, root included, can shorten or remove the retention.
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can: not WORM for PCI DSS 10.3.
    Governance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        }
    }
}

/// What a store says about one stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// SHA-256 of the object as the store computed or recorded it (S3's full-object
    /// `ChecksumSHA256`), when it reports one.
    pub sha256: Option<Sha256>,
    /// `None` when the object has no retention, or the store has no such notion (folders).
    pub lock: Option<Lock>,
    /// The S3 version id, when the bucket is versioned.
    pub version_id: Option<String>,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: ObjectKey,
    pub size: u64,
}

/// An object whose original version something hides: a versioned bucket lets anyone allowed
/// `s3:DeleteObject` put a delete marker on top of a locked object (it drops out of listings
/// and reads), and anyone allowed `s3:PutObject` put a new version on top (reads return it);
/// the locked original stays either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenObject {
    pub key: ObjectKey,
    /// What hides it: a delete marker, or versions put over the original, with their ids.
    pub by: String,
    /// How to get the original back.
    pub restore: String,
}

/// A write-once object store holding an archive root.
#[async_trait]
pub trait WormStore: Send + Sync + std::fmt::Debug {
    /// Where the store is, for messages: `s3://bucket/prefix at https://endpoint` (an endpoint
    /// that was set) or `s3://bucket/prefix in eu-west-1` (AWS's), `file:///var/lib/hoop/archive`.
    /// Every [`StoreError`] a store returns carries it.
    fn describe(&self) -> String;

    /// Whether objects carry a lock that [`WormStore::head`] reports: S3 yes, folders no. A
    /// verifier checks locks only where this is true.
    fn has_locks(&self) -> bool;

    /// Checks, before anything is put, that the store can hold WORM evidence: for S3, that the
    /// bucket exists, has versioning and Object Lock enabled; for a folder, that it exists
    /// (created if missing) and a file can be written in it. The error says how to fix it:
    /// [`StoreError::Unusable`] when the store answered and cannot be used as it is,
    /// [`StoreError::Unavailable`] when it did not answer.
    async fn check(&self) -> Result<(), StoreError>;

    /// Stores `bytes` at `key` once, with `lock` where the store supports it, and an integrity
    /// checksum the store verifies on receipt. A `key` that exists is
    /// [`StoreError::Exists`]: never replaced.
    async fn put(&self, key: &ObjectKey, bytes: Bytes, lock: Lock) -> Result<(), StoreError>;

    /// What the store holds at `key` (its current version); `None` when there is nothing.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError>;

    /// The whole object at `key`; [`StoreError::NotFound`] when there is nothing.
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError>;

    /// The object's bytes from `offset` to its end (resumable downloads).
    async fn get_from(&self, key: &ObjectKey, offset: u64) -> Result<Bytes, StoreError>;

    /// Every object whose key starts with `prefix` (relative to the archive root, e.g.
    /// `sessions/2026/12/`), sorted by key. Keys that are not valid [`ObjectKey`]s are skipped.
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError>;

    /// Every object under `prefix` whose current version is a delete marker or that has more
    /// than one version (hoop writes each key once), sorted by key. Stores without versions
    /// have none.
    async fn hidden(&self, prefix: &str) -> Result<Vec<HiddenObject>, StoreError>;
}

/// Errors of the object stores.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered with a server error: worth retrying.
    #[error("the archive store {store} is unavailable: {reason}")]
    Unavailable { store: String, reason: String },
    /// The store cannot hold WORM evidence as configured (no Object Lock, no such bucket,
    /// a folder that cannot be written): retrying does not help, the operator must act.
    #[error("the archive store {store} cannot be used: {reason}")]
    Unusable { store: String, reason: String },
    #[error("{key} already exists in {store}; objects are never replaced")]
    Exists { store: String, key: String },
    #[error("{key} is not in {store}")]
    NotFound { store: String, key: String },
    /// The store refused the request (access denied, a rejected checksum, a lock that forbids
    /// it).
    #[error("the archive store {store} refused {operation} of {key}: {reason}")]
    Refused {
        store: String,
        operation: &'static str,
        key: String,
        reason: String,
    },
    #[error("invalid archive store URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl StoreError {
    /// Whether retrying the same request later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// An error and its sources as one line (`a: b: c`), a source left out when the text before
/// already says it. The SDK's own rendering ends with a debug dump, unfit for an operator.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
