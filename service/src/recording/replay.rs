//! Crash recovery from the journal, run by [`Spool::open`](super::Spool::open) before the writer
//! starts: every line the journal made durable ends up in its session file.
//!
//! For each segment in order, each record whose session file exists is compared with the file:
//! lines the file already holds (by `seq`) are skipped, the next ones are checked against the
//! file's chain (`seq`, `prev` = the file's head, the line's shape) and appended, then the file
//! is synced. A file's partial last line is cut first ([`recover`](super::recover)). A torn
//! segment tail is ignored: nothing in it was acknowledged. Replayed segments are deleted.
//!
//! Architecture Invariant: replay only ever appends lines that continue a file's verified chain.
//! A file that does not verify, or that the journal does not continue, is *held*: an alert is
//! raised, the file is left as it is for an operator (not offered as a leftover), and the
//! segments with its lines are kept.

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::RecordingError;
use super::chain::{self, ChainWalker};
use super::journal::{self, Entry};
use crate::base::SessionId;

/// What replay leaves for the spool.
pub(super) struct Replayed {
    /// Session ids whose files are left for an operator.
    pub(super) held: HashSet<String>,
    /// The number the writer's first segment gets (after any kept segment).
    pub(super) next_segment: u64,
}

/// Replays and deletes the segments of `<spool>/journal` (creating the directory if missing).
pub(super) fn replay(spool: &Path) -> Result<Replayed, RecordingError> {
    let dir = journal::dir_of(spool);
    ensure_dir(spool, &dir).map_err(|source| io_error(&dir, source))?;
    let segments = list_segments(&dir).map_err(|source| io_error(&dir, source))?;
    let mut sessions = HashMap::new();
    let mut touched = Vec::with_capacity(segments.len());
    for (_, path) in &segments {
        let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
        touched.push(replay_segment(spool, path, &bytes, &mut sessions));
    }
    let held: HashSet<String> = sessions
        .into_iter()
        .filter_map(|(id, session)| matches!(session, Session::Held).then_some(id))
        .collect();
    for ((_, path), ids) in segments.iter().zip(touched) {
        let keep = ids.is_none_or(|ids| ids.iter().any(|id| held.contains(id)));
        if !keep {
            fs::remove_file(path).map_err(|source| io_error(path, source))?;
        }
    }
    Ok(Replayed {
        held,
        next_segment: segments.last().map_or(0, |(n, _)| n + 1),
    })
}

fn io_error(path: &Path, source: io::Error) -> RecordingError {
    RecordingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates the journal directory (0700) and makes its entry durable.
fn ensure_dir(spool: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().mode(0o700).create(dir)?;
    File::open(spool)?.sync_all()
}

/// The segments, oldest first.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(seq) = journal::segment_seq(&path) {
            found.push((seq, path));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Replays one segment; returns the session ids it holds lines of, or `None` when it is not a
/// journal segment at all (kept, with an alert).
fn replay_segment(
    spool: &Path,
    path: &Path,
    bytes: &[u8],
    sessions: &mut HashMap<String, Session>,
) -> Option<HashSet<String>> {
    let Some(parsed) = journal::parse_segment(bytes) else {
        if bytes.len() < journal::SEGMENT_MAGIC.len() {
            // Torn while it was being created: it never held a record.
            return Some(HashSet::new());
        }
        tracing::error!(target: "hoop::alert", path = %path.display(), "not a journal segment (bad magic); kept for an operator");
        return None;
    };
    if parsed.torn > 0 {
        tracing::warn!(path = %path.display(), bytes = parsed.torn, "ignored the torn tail of a journal segment (never acknowledged)");
    }
    let mut ids = HashSet::new();
    for entry in &parsed.entries {
        if !ids.contains(entry.session_id) {
            ids.insert(entry.session_id.to_owned());
        }
        sessions
            .entry(entry.session_id.to_owned())
            .or_insert_with(|| Session::open(spool, entry.session_id))
            .apply(entry);
    }
    for session in sessions.values_mut() {
        session.flush();
    }
    Some(ids)
}

enum Session {
    /// No file in the spool (archived, or its creation was never acknowledged): nothing to do.
    Absent,
    /// Left for an operator.
    Held,
    Open {
        path: PathBuf,
        walker: ChainWalker,
        /// Lines checked and waiting to be appended at the end of the segment.
        append: Vec<u8>,
    },
}

impl Session {
    fn open(spool: &Path, session_id: &str) -> Session {
        if SessionId::parse(session_id).is_err() {
            tracing::error!(target: "hoop::alert", session_id = %session_id.escape_default(), "the journal names an invalid session id; its lines are not replayed");
            return Session::Held;
        }
        let path = spool.join(format!("{session_id}.jsonl"));
        if !path.exists() {
            return Session::Absent;
        }
        match chain::recover(&path) {
            Ok(recovered) => Session::Open {
                walker: ChainWalker::resume(&recovered.chain),
                path,
                append: Vec::new(),
            },
            Err(e) => {
                tracing::error!(target: "hoop::alert", path = %path.display(), error = %e, "a recording with lines in the journal does not verify; left for an operator");
                Session::Held
            }
        }
    }

    fn apply(&mut self, entry: &Entry<'_>) {
        let Session::Open {
            path,
            walker,
            append,
        } = self
        else {
            return;
        };
        if entry.seq < walker.events() {
            return;
        }
        match walker.push(&entry.line[..entry.line.len() - 1]) {
            Ok(()) => append.extend_from_slice(entry.line),
            Err(problem) => {
                tracing::error!(
                    target: "hoop::alert",
                    path = %path.display(),
                    seq = entry.seq,
                    %problem,
                    "the journal does not continue this recording's chain; file left for an operator"
                );
                *self = Session::Held;
            }
        }
    }

    /// Appends and syncs the lines gathered from one segment.
    fn flush(&mut self) {
        let Session::Open { path, append, .. } = self else {
            return;
        };
        if append.is_empty() {
            return;
        }
        let written = OpenOptions::new()
            .append(true)
            .open(&*path)
            .and_then(|mut file| {
                file.write_all(append)?;
                file.sync_data()
            });
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), bytes = append.len(), "restored journaled lines to a recording");
                append.clear();
            }
            Err(e) => {
                tracing::error!(target: "hoop::alert", path = %path.display(), error = %e, "cannot restore journaled lines to a recording; left for an operator");
                *self = Session::Held;
            }
        }
    }
}
