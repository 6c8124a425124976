//! Offline chain checks: [`verify`] for auditors and the archiver, [`recover`] for crash recovery.
//!
//! Both read the file through one [`ChainWalker`], so a file `recover` accepts is exactly a file
//! `verify` accepts once its partial last line is gone.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::event::{chain_genesis, is_valid_ts};
use crate::base::Sha256;

/// What a valid recording proves: how many events, and the hash of its last line.
///
/// A chain only proves that nothing was changed *before* its head: compare [`ChainReport::head`]
/// (and `events`) with the signed archive manifest, or a removed last line goes unnoticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub session_id: String,
    pub events: u64,
    /// SHA-256 of the last line (its bytes without the newline).
    pub head: Sha256,
    pub bytes: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    /// `kind` of the last event: whether the session ended cleanly (`end`) or was cut off.
    pub last_kind: Option<String>,
}

/// A recording after [`recover`]: every remaining line verifies; append from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredRecording {
    pub path: PathBuf,
    /// The chain state of the complete lines. `events` is 0 when the crash came before the first
    /// line was durable; the next line is then seq 0 with the genesis `prev`.
    pub chain: ChainReport,
    /// Bytes of a partial last line that were cut off (0 when the file ended cleanly).
    pub truncated_bytes: u64,
}

impl RecoveredRecording {
    pub fn events(&self) -> u64 {
        self.chain.events
    }

    pub fn head(&self) -> Sha256 {
        self.chain.head
    }
}

/// Why a recording does not verify. Line numbers count from 1, like an editor's
/// (line N holds seq N-1 in a valid file).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("cannot read or repair recording {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: the file name is not `<session_id>.jsonl`, so the genesis hash cannot be \
         computed; pass the session id from the archive manifest (verify_session)"
    )]
    NoSessionId { path: PathBuf },
    #[error("{path}: the recording holds no event (every recording starts with one)")]
    Empty { path: PathBuf },
    #[error("{path}, line {line}: {problem}")]
    Line {
        path: PathBuf,
        line: u64,
        problem: LineProblem,
    },
}

impl ChainError {
    /// The 1-based line a [`ChainError::Line`] names.
    pub fn line(&self) -> Option<u64> {
        match self {
            ChainError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("not a valid JSON object: {0}")]
    InvalidJson(String),
    #[error("incomplete: no trailing newline (the write of this line was cut off)")]
    Incomplete,
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    #[error(
        "key #{position} is `{found}`, expected `{expected}` (order: seq, ts, kind, fields, prev)"
    )]
    KeyOrder {
        position: usize,
        expected: &'static str,
        found: String,
    },
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` has the wrong type or format")]
    BadValue(&'static str),
    #[error("seq is {found}, expected {expected} (a line was removed, inserted or reordered)")]
    Seq { expected: u64, found: u64 },
    #[error(
        "`prev` is not the genesis hash of session `{0}` (wrong session, or lines before it were removed)"
    )]
    Genesis(String),
    #[error(
        "`prev` does not match the SHA-256 of the previous line (the previous line was altered, \
         or lines were removed or reordered)"
    )]
    PrevMismatch,
}

/// Checks a spool file: the session id is its file stem (`<session_id>.jsonl`).
pub fn verify(path: &Path) -> Result<ChainReport, ChainError> {
    verify_session(path, &session_id_of(path)?)
}

/// Checks a recording whose session id is known from elsewhere (an archive manifest).
pub fn verify_session(path: &Path, session_id: &str) -> Result<ChainReport, ChainError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let walked = walk(path, BufReader::new(file), session_id)?;
    if walked.partial_tail > 0 {
        return Err(line_error(
            path,
            walked.state.next_line(),
            LineProblem::Incomplete,
        ));
    }
    if walked.state.events == 0 {
        return Err(ChainError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(walked.state.report())
}

/// Crash recovery for a spool file a previous process left behind: cuts off a partial last line
/// (a crash mid-write), makes that durable, and returns the chain state to continue from.
///
/// A complete line that does not verify is an error, never repaired: lines are written whole,
/// so a bad complete line means tampering or media damage, which an operator must see.
pub fn recover(path: &Path) -> Result<RecoveredRecording, ChainError> {
    let session_id = session_id_of(path)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| io_error(path, source))?;
    let walked = walk(path, BufReader::new(&file), &session_id)?;
    if walked.partial_tail > 0 {
        file.set_len(walked.state.bytes)
            .and_then(|()| file.sync_data())
            .map_err(|source| io_error(path, source))?;
    }
    Ok(RecoveredRecording {
        path: path.to_owned(),
        chain: walked.state.report(),
        truncated_bytes: walked.partial_tail,
    })
}

/// The session id a spool file name carries.
pub(super) fn session_id_of(path: &Path) -> Result<String, ChainError> {
    let no_id = || ChainError::NoSessionId {
        path: path.to_owned(),
    };
    if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        return Err(no_id());
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(no_id)?;
    Ok(stem.to_owned())
}

fn io_error(path: &Path, source: io::Error) -> ChainError {
    ChainError::Io {
        path: path.to_owned(),
        source,
    }
}

fn line_error(path: &Path, line: u64, problem: LineProblem) -> ChainError {
    ChainError::Line {
        path: path.to_owned(),
        line,
        problem,
    }
}

struct Walked {
    state: ChainWalker,
    /// Length of trailing bytes without a newline.
    partial_tail: u64,
}

/// Reads complete lines through the walker; a trailing fragment is reported, not judged.
fn walk(path: &Path, mut reader: impl BufRead, session_id: &str) -> Result<Walked, ChainError> {
    let mut state = ChainWalker::new(session_id);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| io_error(path, source))?;
        match line.last() {
            None => {
                return Ok(Walked {
                    state,
                    partial_tail: 0,
                });
            }
            Some(b'\n') => {
                let number = state.next_line();
                state
                    .push(&line[..n - 1])
                    .map_err(|problem| line_error(path, number, problem))?;
            }
            Some(_) => {
                return Ok(Walked {
                    state,
                    partial_tail: n as u64,
                });
            }
        }
    }
}

/// The chain rules, one complete line (without `\n`) at a time.
pub(super) struct ChainWalker {
    session_id: String,
    events: u64,
    head: Sha256,
    bytes: u64,
    first_ts: Option<String>,
    last_ts: Option<String>,
    last_kind: Option<String>,
}

impl ChainWalker {
    pub(super) fn new(session_id: &str) -> Self {
        ChainWalker {
            session_id: session_id.to_owned(),
            events: 0,
            head: chain_genesis(session_id),
            bytes: 0,
            first_ts: None,
            last_ts: None,
            last_kind: None,
        }
    }

    /// Continues the chain of a recording already walked (journal replay).
    pub(super) fn resume(report: &ChainReport) -> Self {
        ChainWalker {
            session_id: report.session_id.clone(),
            events: report.events,
            head: report.head,
            bytes: report.bytes,
            first_ts: report.first_ts.clone(),
            last_ts: report.last_ts.clone(),
            last_kind: report.last_kind.clone(),
        }
    }

    /// Lines accepted so far: the seq the next line must carry.
    pub(super) fn events(&self) -> u64 {
        self.events
    }

    /// The 1-based number of the line `push` is about to judge.
    fn next_line(&self) -> u64 {
        self.events + 1
    }

    pub(super) fn push(&mut self, line: &[u8]) -> Result<(), LineProblem> {
        let object: OrderedObject =
            serde_json::from_slice(line).map_err(|e| LineProblem::InvalidJson(e.to_string()))?;
        let parsed = check_shape(&object.0)?;
        if parsed.seq != self.events {
            return Err(LineProblem::Seq {
                expected: self.events,
                found: parsed.seq,
            });
        }
        if parsed.prev != self.head.to_hex() {
            return Err(if self.events == 0 {
                LineProblem::Genesis(self.session_id.clone())
            } else {
                LineProblem::PrevMismatch
            });
        }
        self.head = Sha256::of(line);
        self.events += 1;
        self.bytes += line.len() as u64 + 1;
        if self.first_ts.is_none() {
            self.first_ts = Some(parsed.ts.to_owned());
        }
        self.last_ts = Some(parsed.ts.to_owned());
        self.last_kind = Some(parsed.kind.to_owned());
        Ok(())
    }

    pub(super) fn report(&self) -> ChainReport {
        ChainReport {
            session_id: self.session_id.clone(),
            events: self.events,
            head: self.head,
            bytes: self.bytes,
            first_ts: self.first_ts.clone(),
            last_ts: self.last_ts.clone(),
            last_kind: self.last_kind.clone(),
        }
    }
}

/// The recorder-owned values of one line.
struct Parsed<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'a str,
    prev: &'a str,
}

/// Key order (seq, ts, kind, …, prev), no duplicates, and the type and format of each reserved key.
/// With those two rules a field can never be named like a reserved key.
fn check_shape(entries: &[(String, Value)]) -> Result<Parsed<'_>, LineProblem> {
    check_no_duplicates(entries)?;
    let key_at = |position: usize, expected: &'static str| -> Result<&Value, LineProblem> {
        match entries.get(position) {
            None => Err(LineProblem::Missing(expected)),
            Some((key, value)) if key == expected => Ok(value),
            Some((key, _)) => Err(LineProblem::KeyOrder {
                position: position + 1,
                expected,
                found: key.clone(),
            }),
        }
    };
    let seq = key_at(0, "seq")?
        .as_u64()
        .ok_or(LineProblem::BadValue("seq"))?;
    let ts = key_at(1, "ts")?
        .as_str()
        .filter(|ts| is_valid_ts(ts))
        .ok_or(LineProblem::BadValue("ts"))?;
    let kind = key_at(2, "kind")?
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or(LineProblem::BadValue("kind"))?;
    let prev = key_at(entries.len().max(4) - 1, "prev")?
        .as_str()
        .filter(|p| p.len() == 64 && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or(LineProblem::BadValue("prev"))?;
    Ok(Parsed {
        seq,
        ts,
        kind,
        prev,
    })
}

fn check_no_duplicates(entries: &[(String, Value)]) -> Result<(), LineProblem> {
    for (i, (key, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(k, _)| k == key) {
            return Err(LineProblem::DuplicateKey(key.clone()));
        }
    }
    Ok(())
}

/// A JSON object's members in file order, duplicates kept: `serde_json::Map` would sort them
/// (or drop duplicates), hiding exactly what a verifier must see.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedObjectVisitor)
    }
}

struct OrderedObjectVisitor;

impl<'de> Visitor<'de> for OrderedObjectVisitor {
    type Value = OrderedObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Value>()?));
        }
        Ok(OrderedObject(entries))
    }
}
