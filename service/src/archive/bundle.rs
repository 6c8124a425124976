//! Sealing a finished recording: the zstd object and its signed manifest.
//!
//! The manifest states what the recording is (identity, time range, count, chain head, end
//! state) and hashes both the JSONL and the compressed object; [`RecordingFacts`] derives all of
//! it from the JSONL alone, so the verifier re-derives every field and compares.

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ArchiveError;
use super::digest::DigestEntry;
use super::keys::{KeyId, Signature, SigningKey};
use super::layout::{ObjectKey, ReplicaName, SessionId, Sha256, micros_time, write_object};
use super::signed::{self, Opened};
use crate::recording::{ChainError, ChainReport, verify_session};

/// The `format` of a version 1 manifest.
pub const MANIFEST_FORMAT: &str = "hoop-archive-v1";

/// zstd's default level: sealing runs on the gateway's host at every session end, where speed
/// matters more than the last few percent of size. Verification only decompresses, so the
/// level (and the zstd version) can change without touching the format.
const ZSTD_LEVEL: i32 = zstd::DEFAULT_COMPRESSION_LEVEL;

/// The kind of the gateway's first and last events.
const START_KIND: &str = "session_start";
const END_KIND: &str = "session_end";
/// The event recovery writes before the end event of a recording a crash cut short.
const TERMINATED_KIND: &str = "terminated";

/// How a session's recording ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    /// The gateway closed the session and wrote its `session_end`.
    Ended,
    /// A crash or a failure cut the session short: the last event is not `session_end`, or
    /// recovery closed it (a `terminated` event before it, or a reason starting `terminated`).
    Terminated,
}

/// The run identity the gateway wrote into the `session_start` event. A member the event does
/// not carry (or a recording that does not start with `session_start`) is `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionIdentity {
    pub repository: Option<String>,
    pub run_id: Option<String>,
    pub credential_id: Option<String>,
    pub connection: Option<String>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub trust_rule: Option<String>,
}

/// A signed manifest (`<session_id>.manifest.json`). Member order here is the stored order;
/// the signature does not depend on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    pub session_id: SessionId,
    /// The replica that sealed the archive; its digest chain lists it.
    pub replica: ReplicaName,
    pub identity: SessionIdentity,
    /// `ts` of the first event, verbatim.
    pub started_at: String,
    /// `ts` of the last event, verbatim; its UTC date is in the object keys.
    pub ended_at: String,
    /// When the archive was sealed (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub sealed_at: String,
    /// Number of events (lines).
    pub events: u64,
    /// Length of the JSONL.
    pub bytes: u64,
    /// SHA-256 of the last line without its newline: the recording's chain head.
    pub chain_head: Sha256,
    /// SHA-256 of the JSONL.
    pub content_sha256: Sha256,
    /// Length of the `.jsonl.zst` object.
    pub object_bytes: u64,
    /// SHA-256 of the `.jsonl.zst` object.
    pub object_sha256: Sha256,
    pub end_state: EndState,
    pub key_id: KeyId,
    /// Ed25519 over the canonical form of every other member.
    pub signature: Signature,
}

signed::signed_document!(Manifest);

impl Manifest {
    /// Parses a stored manifest (strictly; see [`canonical_form`](super::canonical_form)). The
    /// signature is checked by [`verify_folder`](super::verify_folder), against pinned keys.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ArchiveError> {
        Self::open(bytes).map(|o| o.document)
    }

    pub(super) fn open(bytes: &[u8]) -> Result<Opened<Manifest>, ArchiveError> {
        signed::open(bytes, "manifest", MANIFEST_FORMAT)
    }

    /// The UTC day of the last event, which dates the object keys.
    pub fn day(&self) -> Option<NaiveDate> {
        day_of(&self.ended_at)
    }

    /// Where this manifest belongs; `None` when `ended_at` is not a time.
    pub fn manifest_key(&self) -> Option<ObjectKey> {
        Some(ObjectKey::manifest(&self.session_id, self.day()?))
    }

    pub fn recording_key(&self) -> Option<ObjectKey> {
        Some(ObjectKey::recording(&self.session_id, self.day()?))
    }

    pub fn sealed_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.sealed_at)
    }

    /// `started_at` as a time (`None` when the first event's `ts` is not one).
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.started_at)
    }

    /// `ended_at` as a time.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.ended_at)
    }
}

pub(super) fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn day_of(ts: &str) -> Option<NaiveDate> {
    parse_time(ts).map(|t| t.date_naive())
}

/// Seals recordings for one replica.
#[derive(Clone, Debug)]
pub struct Archive {
    replica: ReplicaName,
}

impl Archive {
    pub fn new(replica: ReplicaName) -> Self {
        Archive { replica }
    }

    /// Seals the finished recording at `recording` (`<session_id>.jsonl`, the spool's file):
    /// checks its chain, compresses it and signs its manifest. Returns the objects to store;
    /// nothing is written.
    pub fn seal(&self, recording: &Path, key: &SigningKey) -> Result<SealedArchive, ArchiveError> {
        self.seal_at(recording, key, Utc::now())
    }

    /// [`Archive::seal`] with the sealing time given (tests, and a reproducible example).
    pub fn seal_at(
        &self,
        recording: &Path,
        key: &SigningKey,
        sealed_at: DateTime<Utc>,
    ) -> Result<SealedArchive, ArchiveError> {
        let session_id = recording
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|id| SessionId::parse(id).ok())
            .ok_or_else(|| ArchiveError::NotARecording {
                path: recording.to_owned(),
            })?;
        // Read once: the chain is checked on exactly the bytes that are compressed and hashed.
        let jsonl = fs::read(recording).map_err(|source| ArchiveError::Io {
            path: recording.to_owned(),
            source,
        })?;
        self.seal_bytes(&session_id, &jsonl, key, sealed_at)
            .map_err(|e| match e {
                ArchiveError::Chain(e) => ArchiveError::Chain(naming(e, recording)),
                other => other,
            })
    }

    /// [`Archive::seal_at`] of a recording already read: the JSONL of `session_id`.
    pub fn seal_bytes(
        &self,
        session_id: &SessionId,
        jsonl: &[u8],
        key: &SigningKey,
        sealed_at: DateTime<Utc>,
    ) -> Result<SealedArchive, ArchiveError> {
        let session_id = *session_id;
        let facts = RecordingFacts::derive(&session_id, jsonl)?;
        let day = day_of(&facts.ended_at).ok_or_else(|| ArchiveError::Document {
            what: "recording",
            reason: "the last event's ts is not a time".into(),
        })?;
        let object = compress(jsonl)?;
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            session_id,
            replica: self.replica.clone(),
            identity: facts.identity,
            started_at: facts.started_at,
            ended_at: facts.ended_at,
            sealed_at: micros_time(sealed_at),
            events: facts.events,
            bytes: facts.bytes,
            chain_head: facts.chain_head,
            content_sha256: facts.content_sha256,
            object_bytes: object.len() as u64,
            object_sha256: Sha256::of(&object),
            end_state: facts.end_state,
            key_id: key.key_id().clone(),
            signature: Signature([0; 64]),
        };
        let manifest_bytes = signed::seal(&mut manifest, key)?;
        Ok(SealedArchive {
            manifest,
            manifest_bytes,
            recording: object,
            manifest_key: ObjectKey::manifest(&session_id, day),
            recording_key: ObjectKey::recording(&session_id, day),
        })
    }
}

/// A sealed archive: two objects and their keys.
#[derive(Clone, Debug)]
pub struct SealedArchive {
    pub manifest: Manifest,
    /// The manifest as stored.
    pub manifest_bytes: Vec<u8>,
    /// The `.jsonl.zst` object.
    pub recording: Vec<u8>,
    pub manifest_key: ObjectKey,
    pub recording_key: ObjectKey,
}

impl SealedArchive {
    /// The sealed archive read back from its two objects (kept beside the spool until the
    /// store confirmed them, so a retry after a crash puts the same bytes). Checks that the
    /// object is the one the manifest hashed; the signature is the verifier's business.
    pub fn from_objects(manifest_bytes: Vec<u8>, recording: Vec<u8>) -> Result<Self, ArchiveError> {
        let manifest = Manifest::parse(&manifest_bytes)?;
        let mismatch = |reason: &str| ArchiveError::Document {
            what: "sealed archive",
            reason: reason.to_owned(),
        };
        if Sha256::of(&recording) != manifest.object_sha256 {
            return Err(mismatch("the object is not the one its manifest hashed"));
        }
        let (Some(manifest_key), Some(recording_key)) =
            (manifest.manifest_key(), manifest.recording_key())
        else {
            return Err(mismatch("the manifest's ended_at is not a time"));
        };
        Ok(SealedArchive {
            manifest,
            manifest_bytes,
            recording,
            manifest_key,
            recording_key,
        })
    }

    /// How a digest lists this archive.
    pub fn digest_entry(&self) -> DigestEntry {
        DigestEntry {
            session_id: self.manifest.session_id,
            manifest_key: self.manifest_key.clone(),
            manifest_sha256: Sha256::of(&self.manifest_bytes),
            recording_key: self.recording_key.clone(),
            object_sha256: self.manifest.object_sha256,
            content_sha256: self.manifest.content_sha256,
        }
    }

    /// Stores both objects in a folder laid out like the store, the recording first (a
    /// manifest never names an object that is not there yet). Existing objects are not replaced.
    pub fn write_to(&self, root: &Path) -> Result<(), ArchiveError> {
        write_object(root, &self.recording_key, &self.recording)?;
        write_object(root, &self.manifest_key, &self.manifest_bytes)
    }
}

fn compress(jsonl: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    zstd::stream::encode_all(jsonl, ZSTD_LEVEL)
        .map_err(|source| ArchiveError::Compression { source })
}

/// Decompresses at most `limit` bytes and says whether there were more: a manifest's `bytes`
/// bounds what a verifier inflates, so a crafted object cannot exhaust its memory.
pub(super) fn decompress(object: &[u8], limit: u64) -> io::Result<(Vec<u8>, bool)> {
    let decoder = zstd::stream::read::Decoder::new(object)?;
    let mut out = Vec::with_capacity(usize::try_from(limit.min(64 << 20)).unwrap_or(0));
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    let over = out.len() as u64 > limit;
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((out, over))
}

/// What a manifest states about a recording, derived from its JSONL alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RecordingFacts {
    pub identity: SessionIdentity,
    pub started_at: String,
    pub ended_at: String,
    pub events: u64,
    pub bytes: u64,
    pub chain_head: Sha256,
    pub content_sha256: Sha256,
    pub end_state: EndState,
}

impl RecordingFacts {
    /// Checks the chain of `jsonl` as the recording of `session_id` (the rules of
    /// `docs/recording-format.md`, through [`verify_session`]) and reads the facts.
    pub(super) fn derive(session_id: &SessionId, jsonl: &[u8]) -> Result<Self, ChainError> {
        let report = check_chain(session_id, jsonl)?;
        Ok(Self::from_checked(&report, jsonl))
    }

    /// The facts of a recording whose chain verified (`report` is its chain report).
    fn from_checked(report: &ChainReport, jsonl: &[u8]) -> Self {
        let mut lines = jsonl
            .strip_suffix(b"\n")
            .unwrap_or(jsonl)
            .split(|&b| b == b'\n');
        let first = lines.next().map(parse_line).unwrap_or_default();
        let mut from_end = jsonl
            .strip_suffix(b"\n")
            .unwrap_or(jsonl)
            .rsplit(|&b| b == b'\n');
        let last = from_end.next().map(parse_line).unwrap_or_default();
        let before_last = from_end.next().map(parse_line).unwrap_or_default();
        RecordingFacts {
            identity: identity_of(&first),
            started_at: report.first_ts.clone().unwrap_or_default(),
            ended_at: report.last_ts.clone().unwrap_or_default(),
            events: report.events,
            bytes: report.bytes,
            chain_head: report.head,
            content_sha256: Sha256::of(jsonl),
            end_state: end_state_of(&last, &before_last),
        }
    }
}

fn parse_line(line: &[u8]) -> Value {
    serde_json::from_slice(line).unwrap_or_default()
}

fn identity_of(first: &Value) -> SessionIdentity {
    if first.get("kind").and_then(Value::as_str) != Some(START_KIND) {
        return SessionIdentity::default();
    }
    // Strings as written; a number (a run id, say) by its JSON text; anything else is absent.
    let field = |name: &str| match first.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        _ => None,
    };
    SessionIdentity {
        repository: field("repository"),
        run_id: field("run_id"),
        credential_id: field("credential_id"),
        connection: field("connection"),
        database: field("database"),
        username: field("username"),
        trust_rule: field("trust_rule"),
    }
}

fn end_state_of(last: &Value, before_last: &Value) -> EndState {
    let kind = |v: &Value| v.get("kind").and_then(Value::as_str).map(str::to_owned);
    let closed_by_recovery = kind(before_last).as_deref() == Some(TERMINATED_KIND)
        || last
            .get("reason")
            .and_then(Value::as_str)
            .is_some_and(|r| r.starts_with(TERMINATED_KIND));
    if kind(last).as_deref() == Some(END_KIND) && !closed_by_recovery {
        EndState::Ended
    } else {
        EndState::Terminated
    }
}

/// Runs the recording module's verifier on `jsonl`. It reads files only, so the bytes go to a
/// private scratch file (mode 0600, removed on every path) in the system temp directory.
fn check_chain(session_id: &SessionId, jsonl: &[u8]) -> Result<ChainReport, ChainError> {
    let scratch =
        ScratchFile::create(jsonl).map_err(|(path, source)| ChainError::Io { path, source })?;
    verify_session(&scratch.0, &session_id.to_string())
}

/// A chain error about the scratch copy, told about the file it is a copy of.
fn naming(error: ChainError, path: &Path) -> ChainError {
    let path = path.to_owned();
    match error {
        ChainError::Line { line, problem, .. } => ChainError::Line {
            path,
            line,
            problem,
        },
        ChainError::Empty { .. } => ChainError::Empty { path },
        other => other,
    }
}

struct ScratchFile(PathBuf);

impl ScratchFile {
    fn create(bytes: &[u8]) -> Result<Self, (PathBuf, io::Error)> {
        let path =
            std::env::temp_dir().join(format!("hoop-archive-{}.scratch", uuid::Uuid::new_v4()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| (path.clone(), e))?;
        let scratch = ScratchFile(path);
        file.write_all(bytes).map_err(|e| (scratch.0.clone(), e))?;
        Ok(scratch)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
