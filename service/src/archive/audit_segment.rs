//! Audit segments: the audit events a replica recorded, sealed at each digest period into a
//! signed document stored WORM beside the sessions (`audit/<replica>/YYYY/MM/DD/HH-MM-SS.json`,
//! named by the period's start) and listed, by key, hash and count, in that period's digest.
//! The digest chain then proves the audit trail as it proves the sessions: a segment deleted,
//! replaced or hidden breaks a listing.
//!
//! A segment holds the events the state database had not sealed when the period's digest was
//! written (delivery time, like the digest's archives): an event committed late goes into the
//! next segment. Each event is listed as stored, with its database id; `claims` is the claims
//! object as JSON text, so no claim a token carries (a fraction, a huge integer) can stop the
//! canonical form.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ArchiveError;
use super::digest::{Period, whole_seconds};
use super::keys::{KeyId, Signature, SigningKey};
use super::layout::{ObjectKey, ReplicaName, Sha256, write_object};
use super::signed::{self, Opened};

/// The `format` of a version 1 audit segment.
pub const AUDIT_SEGMENT_FORMAT: &str = "hoop-audit-segment-v1";

/// One audit event as stored (the columns of `hoop_audit_events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub id: i64,
    /// RFC 3339, UTC, microseconds.
    pub at: String,
    pub replica: String,
    pub action: String,
    pub outcome: String,
    pub code: String,
    pub message: String,
    pub remote_addr: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// The claims object as JSON text.
    pub claims: Option<String>,
    pub claims_verified: bool,
    pub trust_rule: Option<String>,
    pub connection: Option<String>,
    pub credential_id: Option<String>,
}

/// A signed audit segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSegment {
    /// [`AUDIT_SEGMENT_FORMAT`].
    pub format: String,
    pub replica: ReplicaName,
    /// The digest period whose digest lists this segment.
    #[serde(with = "whole_seconds")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "whole_seconds")]
    pub period_end: DateTime<Utc>,
    /// By id.
    pub events: Vec<AuditRecord>,
    pub key_id: KeyId,
    pub signature: Signature,
}

signed::signed_document!(AuditSegment);

impl AuditSegment {
    /// Parses a stored segment; the signature is checked by [`verify_folder`](super::verify_folder).
    pub fn parse(bytes: &[u8]) -> Result<AuditSegment, ArchiveError> {
        Self::open(bytes).map(|o| o.document)
    }

    pub(super) fn open(bytes: &[u8]) -> Result<Opened<AuditSegment>, ArchiveError> {
        signed::open(bytes, "audit segment", AUDIT_SEGMENT_FORMAT)
    }

    /// Where this segment belongs.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::audit_segment(&self.replica, self.period_start)
    }

    /// Signs the events of `period` (sorted here by id).
    pub fn seal(
        replica: ReplicaName,
        period: Period,
        mut events: Vec<AuditRecord>,
        key: &SigningKey,
    ) -> Result<SealedSegment, ArchiveError> {
        events.sort_by_key(|e| e.id);
        let mut segment = AuditSegment {
            format: AUDIT_SEGMENT_FORMAT.to_owned(),
            replica,
            period_start: period.start(),
            period_end: period.end(),
            events,
            key_id: key.key_id().clone(),
            signature: Signature([0; 64]),
        };
        let bytes = signed::seal(&mut segment, key)?;
        Ok(SealedSegment {
            key: segment.key(),
            segment,
            bytes,
        })
    }
}

/// How a digest lists its period's audit segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub key: ObjectKey,
    /// SHA-256 of the segment as stored.
    pub sha256: Sha256,
    pub events: u64,
}

/// A signed segment, its stored bytes and its key.
#[derive(Clone, Debug)]
pub struct SealedSegment {
    pub segment: AuditSegment,
    pub bytes: Vec<u8>,
    pub key: ObjectKey,
}

impl SealedSegment {
    /// The entry the period's digest carries.
    pub fn entry(&self) -> AuditEntry {
        AuditEntry {
            key: self.key.clone(),
            sha256: Sha256::of(&self.bytes),
            events: self.segment.events.len() as u64,
        }
    }

    /// Stores the segment in a folder laid out like the store; an existing one is not replaced.
    pub fn write_to(&self, root: &Path) -> Result<(), ArchiveError> {
        write_object(root, &self.key, &self.bytes)
    }
}
