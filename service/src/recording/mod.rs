//! Session recording: a hash-chained, append-only event file per gateway session.
//!
//! A [`Spool`] owns the spool directory and one writer thread that does group commit through a
//! shared journal: every line of every session is written to its session file (no sync) and
//! appended to `<spool>/journal/<n>.wal`; one `fdatasync` of the journal per round that someone
//! waits for makes all of the round's lines durable, then they are acknowledged. Lines nobody
//! waits for ride the next round, or go within 10 ms. Session files are synced when their
//! session finishes and before a journal segment holding their lines is deleted. At
//! [`Spool::open`] the journal a crash left is replayed into the session files. A [`Recorder`]
//! builds and hashes its session's lines (`seq`, `ts`, `prev` = SHA-256 of the previous line)
//! and waits for the acknowledgement. [`verify`] checks a file offline; [`recover`] repairs
//! what a crash left. The line format and the journal are specified in
//! `docs/recording-format.md`; auditors verify only the session files.
//!
//! Events are typed ([`Event`], one variant per kind): the text they carry is
//! [`crate::masking::MaskedText`], which only the deployment's masker makes, so no line can
//! hold text that was not masked.
//!
//! Architecture Invariant: a statement event is on stable storage (in the synced journal, and
//! in its session file once replayed or synced) before [`Recorder::append_durable`] returns
//! `Ok`; after a failed write or sync the recording is poisoned, nothing written after the
//! failure is ever acknowledged, and the file holds only complete lines (fail closed, PCI DSS
//! 10.7). A failed journal write or sync poisons every recording with a line in that round.

mod chain;
mod event;
mod journal;
mod queue;
mod replay;
mod spool;
mod writer;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

pub use chain::{
    ChainError, ChainReport, LineProblem, RecoveredRecording, recover, verify, verify_session,
};
pub use event::{
    ApprovalEnd, ApprovalOutcome, Bind, BindParam, Diagnostic, Event, Execute, FunctionCall,
    GENESIS_PREFIX, MaskedColumn, Parse, Protocol, RESERVED_KEYS, Reason, SessionEnd, SessionStart,
    SqlState, StartupParams, Statement, chain_genesis,
};
pub use spool::{Recorder, RecordingSummary, Spool, SpoolGauge, Syncing};

/// When a statement's record must be on stable storage, per connection (`durability` in
/// `[[connections]]`; `docs/operations.md` states each guarantee next to PCI DSS 10.2/10.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Nothing is forwarded before its record is durable: every statement the database ran
    /// is recorded, whatever crashes.
    #[default]
    Statement,
    /// The record is written (page cache) before the statement is forwarded, synced while the
    /// database executes it, and the result reaches the client only once the record is
    /// durable. A crash of the process loses nothing; a crash of the host can lose the
    /// records of statements whose results no client received.
    Result,
}

/// Errors of the recording layer. Every one of them means "do not forward the statement".
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("recording spool I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the spool directory {dir} is not writable ({source}); fix its permissions or mount, \
         or configure another directory"
    )]
    NotWritable {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the spool directory {dir} is locked by another hoop process; give each process its own \
         spool directory"
    )]
    Locked { dir: PathBuf },
    #[error(
        "this session's recording failed earlier ({reason}); its statements are refused until \
         the session ends"
    )]
    Poisoned { reason: String },
    #[error("the recording writer has stopped; no statement can be recorded")]
    Closed,
    #[error("a recording for this session already exists: {path}")]
    SessionExists { path: PathBuf },
    #[error("invalid session id `{session_id}`: use 1-128 ASCII letters, digits, `-`, `_`, `.`")]
    InvalidSessionId { session_id: String },
    #[error("could not encode an event: {source}")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is {found} bytes, recovery saw {expected}: it changed since it was recovered")]
    ResumeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("the recording does not verify, so it is left for inspection: {0}")]
    DoesNotVerify(#[from] ChainError),
}
