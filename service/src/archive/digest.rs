//! Period digests: per replica and period, a signed list of the archives stored in it, chained
//! to the replica's previous digest (CloudTrail's digest files, for session archives).
//!
//! A manifest proves an archive is whole; only a digest proves none is missing. Each digest
//! names its predecessor by key, SHA-256 and signature, so deleting or replacing a digest
//! breaks the next one's link, and an empty period still gets a digest, so silence is never
//! mistaken for "nothing happened".

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::ArchiveError;
use super::audit_segment::AuditEntry;
use super::keys::{KeyId, Signature, SigningKey};
use super::layout::{ObjectKey, ReplicaName, SessionId, Sha256, write_object};
use super::signed::{self, Opened};

/// The `format` of a version 1 digest.
pub const DIGEST_FORMAT: &str = "hoop-archive-digest-v1";

/// One digest per hour: CloudTrail's cadence, and at most an hour in which a deletion is not
/// yet provable.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(3600);

/// A digest's period `[start, end)`, in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Period {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ArchiveError> {
        let invalid = |reason: &str| ArchiveError::InvalidPeriod {
            reason: reason.to_owned(),
        };
        if start.nanosecond() != 0 || end.nanosecond() != 0 {
            return Err(invalid("periods start and end on whole seconds"));
        }
        if start >= end {
            return Err(invalid("the period ends before it starts"));
        }
        Ok(Period { start, end })
    }

    /// The period of `length` holding `t`, aligned on multiples of `length` since the Unix
    /// epoch (for an hour: on the hour), so every replica cuts periods alike.
    pub fn containing(t: DateTime<Utc>, length: Duration) -> Result<Self, ArchiveError> {
        let secs = i64::try_from(length.as_secs()).unwrap_or(0);
        if secs == 0 || length.subsec_nanos() != 0 {
            return Err(ArchiveError::InvalidPeriod {
                reason: "a period is a positive whole number of seconds".into(),
            });
        }
        let start = t.timestamp().div_euclid(secs) * secs;
        let at = |s: i64| {
            DateTime::from_timestamp(s, 0).ok_or_else(|| ArchiveError::InvalidPeriod {
                reason: "the period is out of range".into(),
            })
        };
        Period::new(at(start)?, at(start + secs)?)
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn length(&self) -> TimeDelta {
        self.end - self.start
    }

    /// The period of the same length right after this one.
    pub fn next(&self) -> Period {
        Period {
            start: self.end,
            end: self.end + self.length(),
        }
    }
}

/// How a digest lists one archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestEntry {
    pub session_id: SessionId,
    pub manifest_key: ObjectKey,
    /// SHA-256 of the manifest as stored (its signature included).
    pub manifest_sha256: Sha256,
    pub recording_key: ObjectKey,
    /// SHA-256 of the `.jsonl.zst` object.
    pub object_sha256: Sha256,
    /// SHA-256 of the JSONL.
    pub content_sha256: Sha256,
}

/// The link to the replica's previous digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousDigest {
    pub key: ObjectKey,
    /// SHA-256 of the previous digest as stored.
    pub sha256: Sha256,
    /// The previous digest's signature, as in CloudTrail: the link names what was signed.
    pub signature: Signature,
}

impl PreviousDigest {
    /// The link to a digest read back from a store (after a restart, the chain continues
    /// from the newest digest there).
    pub fn of_stored(key: ObjectKey, bytes: &[u8]) -> Result<Self, ArchiveError> {
        let digest = Digest::parse(bytes)?;
        Ok(PreviousDigest {
            key,
            sha256: Sha256::of(bytes),
            signature: digest.signature,
        })
    }
}

/// A signed digest (`digests/<replica>/YYYY/MM/DD/HH-MM-SS.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// [`DIGEST_FORMAT`].
    pub format: String,
    pub replica: ReplicaName,
    #[serde(with = "whole_seconds")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "whole_seconds")]
    pub period_end: DateTime<Utc>,
    /// `null` only in a replica's first digest.
    pub previous: Option<PreviousDigest>,
    /// Sorted by manifest key; empty for an empty period.
    pub archives: Vec<DigestEntry>,
    /// The audit segment sealed with this digest; absent when the replica recorded no audit
    /// event since its previous digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditEntry>,
    pub key_id: KeyId,
    pub signature: Signature,
}

signed::signed_document!(Digest);

impl Digest {
    /// Parses a stored digest; the signature is checked by [`verify_folder`](super::verify_folder).
    pub fn parse(bytes: &[u8]) -> Result<Digest, ArchiveError> {
        Self::open(bytes).map(|o| o.document)
    }

    pub(super) fn open(bytes: &[u8]) -> Result<Opened<Digest>, ArchiveError> {
        signed::open(bytes, "digest", DIGEST_FORMAT)
    }

    /// Where this digest belongs.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::digest(&self.replica, self.period_start)
    }

    pub fn period(&self) -> Result<Period, ArchiveError> {
        Period::new(self.period_start, self.period_end)
    }
}

/// Collects one period's archives, then signs the digest. Pure: the caller decides which
/// archives were stored in the period and supplies the previous digest's link.
#[derive(Clone, Debug)]
pub struct DigestBuilder {
    replica: ReplicaName,
    period: Period,
    previous: Option<PreviousDigest>,
    entries: BTreeMap<ObjectKey, DigestEntry>,
    audit: Option<AuditEntry>,
}

impl DigestBuilder {
    /// `previous` is `None` only for a replica's first digest.
    pub fn new(replica: ReplicaName, period: Period, previous: Option<PreviousDigest>) -> Self {
        DigestBuilder {
            replica,
            period,
            previous,
            entries: BTreeMap::new(),
            audit: None,
        }
    }

    /// Lists the period's audit segment.
    pub fn audit(&mut self, entry: AuditEntry) {
        self.audit = Some(entry);
    }

    /// Lists an archive. Adding the same entry twice changes nothing; the same manifest key
    /// with other hashes is refused (one of the two is not what was stored).
    pub fn add(&mut self, entry: DigestEntry) -> Result<(), ArchiveError> {
        match self.entries.get(&entry.manifest_key) {
            Some(existing) if *existing != entry => Err(ArchiveError::DuplicateEntry {
                key: entry.manifest_key.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                self.entries.insert(entry.manifest_key.clone(), entry);
                Ok(())
            }
        }
    }

    pub fn seal(self, key: &SigningKey) -> Result<SealedDigest, ArchiveError> {
        let mut digest = Digest {
            format: DIGEST_FORMAT.to_owned(),
            replica: self.replica,
            period_start: self.period.start,
            period_end: self.period.end,
            previous: self.previous,
            archives: self.entries.into_values().collect(),
            audit: self.audit,
            key_id: key.key_id().clone(),
            signature: Signature([0; 64]),
        };
        let bytes = signed::seal(&mut digest, key)?;
        Ok(SealedDigest {
            key: digest.key(),
            digest,
            bytes,
        })
    }
}

/// A signed digest, its stored bytes and its key.
#[derive(Clone, Debug)]
pub struct SealedDigest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub key: ObjectKey,
}

impl SealedDigest {
    /// The `previous` link the next digest carries.
    pub fn link(&self) -> PreviousDigest {
        PreviousDigest {
            key: self.key.clone(),
            sha256: Sha256::of(&self.bytes),
            signature: self.digest.signature,
        }
    }

    /// Stores the digest in a folder laid out like the store; an existing one is not replaced.
    pub fn write_to(&self, root: &Path) -> Result<(), ArchiveError> {
        write_object(root, &self.key, &self.bytes)
    }
}

/// Period bounds: `YYYY-MM-DDTHH:MM:SSZ`, nothing else.
pub(super) mod whole_seconds {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format(FORMAT).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        chrono::NaiveDateTime::parse_from_str(&text, FORMAT)
            .ok()
            .filter(|t| t.format(FORMAT).to_string() == text)
            .map(|t| t.and_utc())
            .ok_or_else(|| serde::de::Error::custom("expected YYYY-MM-DDTHH:MM:SSZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_align_and_chain() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 42, 7).unwrap();
        let p = Period::containing(t, DEFAULT_PERIOD).unwrap();
        assert_eq!(
            p.start(),
            Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
        );
        assert_eq!(
            p.end(),
            Utc.with_ymd_and_hms(2026, 11, 25, 11, 0, 0).unwrap()
        );
        assert_eq!(p.next().start(), p.end());
        let q = Period::containing(t, Duration::from_secs(900)).unwrap();
        assert_eq!(
            q.start(),
            Utc.with_ymd_and_hms(2026, 11, 25, 10, 30, 0).unwrap()
        );
        assert!(Period::containing(t, Duration::ZERO).is_err());
        assert!(Period::containing(t, Duration::from_millis(1500)).is_err());
        assert!(Period::new(p.end(), p.start()).is_err());
        assert!(Period::new(t + TimeDelta::milliseconds(1), p.end()).is_err());
    }

    #[test]
    fn digests_sign_and_link() {
        let key = SigningKey::from_seed(&[7; 32]).unwrap();
        let replica = ReplicaName::new("gw-1").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let p = Period::containing(t, DEFAULT_PERIOD).unwrap();
        let first = DigestBuilder::new(replica.clone(), p, None)
            .seal(&key)
            .unwrap();
        assert_eq!(first.key.as_str(), "digests/gw-1/2026/11/25/10-00-00.json");
        let text = String::from_utf8(first.bytes.clone()).unwrap();
        assert!(
            text.contains("\"period_start\": \"2026-11-25T10:00:00Z\""),
            "{text}"
        );
        assert!(text.contains("\"previous\": null"), "{text}");
        assert!(text.contains("\"archives\": []"), "{text}");

        let second = DigestBuilder::new(replica, p.next(), Some(first.link()))
            .seal(&key)
            .unwrap();
        let parsed = Digest::parse(&second.bytes).unwrap();
        assert_eq!(parsed, second.digest);
        assert_eq!(
            PreviousDigest::of_stored(first.key.clone(), &first.bytes).unwrap(),
            first.link()
        );
        let opened = Digest::open(&second.bytes).unwrap();
        let mut ring = super::super::KeyRing::new();
        ring.insert(key.public_key().clone());
        assert_eq!(opened.check(&ring), Ok(()));

        let tampered = String::from_utf8(second.bytes.clone())
            .unwrap()
            .replace("11:00:00Z", "11:00:01Z");
        let opened = Digest::open(tampered.as_bytes()).unwrap();
        assert!(opened.check(&ring).is_err());
        assert!(
            Digest::parse(
                tampered
                    .replace("\"archives\"", "\"extra\": 1, \"archives\"")
                    .as_bytes()
            )
            .is_err()
        );
    }
}
