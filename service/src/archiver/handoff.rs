//! One recording from the spool to the store: seal, keep, put, confirm, record, delete.
//!
//! The sealed objects are written to `<spool>/sealed/` before anything is put, manifest last
//! (its presence means both are whole). A retry, in this process or after a crash, puts those
//! same bytes: the manifest's `sealed_at` and signature never change between attempts, so the
//! store never holds two versions of an archive.
//!
//! Recording the archive also closes its session in the sessions index if the index still
//! shows it live: the gateway's own close could not write it (the state database was
//! unreachable), and the recording's end event says how it ended.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::Utc;

use super::{ABANDONED_AFTER, Archiver, ArchiverError};
use crate::archive::{ArchiveError, EndState, SealedArchive, SessionId};
use crate::state::archives::{RecordedEnd, StoredArchive, record_stored};

/// The folder of sealed objects waiting for the store, inside the spool; private like the
/// spool itself ([`DIR_MODE`]).
const SEALED_DIR: &str = "sealed";

/// The mode of every spool folder: recordings are evidence, for hoop's user alone.
const DIR_MODE: u32 = 0o700;

/// What became of a spool file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Handed {
    /// Both objects are confirmed in the store and the spool file is gone.
    Stored,
    /// Its session has not ended (or ended moments ago without its end event): left for now.
    NotFinished,
    /// Its recorder went away without an end event long ago: closed as `terminated`; it is
    /// archived at the next pass.
    Closed,
}

pub(super) async fn archive(a: &Archiver, path: &Path) -> Result<Handed, ArchiverError> {
    let session = SessionId::parse(&super::session_of(path).unwrap_or_default())
        .map_err(crate::archive::ArchiveError::from)?;
    let sealed_dir = a.spool.dir().join(SEALED_DIR);
    let paths = SealedPaths::new(&sealed_dir, &session);
    let sealed = match paths.load()? {
        Some(sealed) => sealed,
        None => match seal(a, path, &session, &paths).await? {
            Some(sealed) => sealed,
            None => return close_if_abandoned(a, path).await,
        },
    };
    let m = &sealed.manifest;
    let ended_at = m.ended_at();
    let lock = a.lock_from(ended_at.unwrap_or_else(Utc::now));
    // The recording first: a manifest never names an object that is not there.
    a.put_confirmed(&sealed.recording_key, &sealed.recording, lock)
        .await?;
    a.put_confirmed(&sealed.manifest_key, &sealed.manifest_bytes, lock)
        .await?;
    let row = StoredArchive {
        entry: sealed.digest_entry(),
        replica: a.replica.to_string(),
        store: a.store.describe(),
        end_state: match m.end_state {
            EndState::Ended => "ended",
            EndState::Terminated => "terminated",
        }
        .to_owned(),
        run_id: m.identity.run_id.clone(),
        repository: m.identity.repository.clone(),
        connection: m.identity.connection.clone(),
        started_at: m.started_at(),
        ended_at,
        sealed_at: m.sealed_at().unwrap_or_else(Utc::now),
        retain_until: lock.retain_until,
        end: recorded_end(&sealed)?,
    };
    let mut client = a.deps.state.client().await?;
    record_stored(&mut client, &row).await?;
    a.deps.metrics.archives_stored.inc();
    tracing::info!(session_id = %session, manifest = %sealed.manifest_key, end_state = %row.end_state, retain_until = %lock.retain_until, "session archived");
    // Only now: both objects are confirmed and the row is committed.
    for file in [path, &paths.manifest, &paths.recording] {
        remove(file)?;
    }
    sync_dir(a.spool.dir())?;
    Ok(Handed::Stored)
}

/// Seals a finished recording and keeps the objects in `sealed/`; `None` when the recording
/// has not ended.
async fn seal(
    a: &Archiver,
    path: &Path,
    session: &SessionId,
    paths: &SealedPaths,
) -> Result<Option<SealedArchive>, ArchiverError> {
    let jsonl = fs::read(path).map_err(|source| io(path, source))?;
    if !ends_with_session_end(&jsonl) {
        return Ok(None);
    }
    let sealed = a
        .sealer
        .seal_bytes(session, &jsonl, &a.key, Utc::now())
        .map_err(|e| match e {
            ArchiveError::Chain(c) => ArchiverError::Recording(c.into()),
            other => other.into(),
        })?;
    paths.keep(&sealed)?;
    Ok(Some(sealed))
}

/// How the sealed recording says its session ended: the last event's reason and counts, the
/// manifest's figures.
fn recorded_end(sealed: &SealedArchive) -> Result<RecordedEnd, ArchiverError> {
    let m = &sealed.manifest;
    let jsonl = zstd::stream::decode_all(sealed.recording.as_slice())
        .map_err(|source| ArchiveError::Compression { source })?;
    let body = jsonl.strip_suffix(b"\n").unwrap_or(&jsonl);
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    let event: serde_json::Value = serde_json::from_slice(last).unwrap_or_default();
    let count = |name: &str| event.get(name).and_then(|v| v.as_i64()).unwrap_or(0);
    Ok(RecordedEnd {
        reason: event
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_owned(),
        statements: count("statements"),
        errors: count("errors"),
        events: i64::try_from(m.events).unwrap_or(i64::MAX),
        chain_head: m.chain_head.to_hex(),
        recording_bytes: i64::try_from(m.bytes).unwrap_or(i64::MAX),
    })
}

/// Whether the last line is the gateway's `session_end` event.
fn ends_with_session_end(jsonl: &[u8]) -> bool {
    let body = jsonl.strip_suffix(b"\n").unwrap_or(jsonl);
    if body.len() == jsonl.len() {
        return false; // a partial last line: still being written, or cut short
    }
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    serde_json::from_slice::<serde_json::Value>(last)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .is_some_and(|k| k == "session_end")
}

/// A recording that is not live in this process and has not ended: its recorder went away
/// (an error, a panic). Once it has been quiet for [`ABANDONED_AFTER`] it is closed.
async fn close_if_abandoned(a: &Archiver, path: &Path) -> Result<Handed, ArchiverError> {
    let quiet = fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| {
            SystemTime::now()
                .duration_since(t)
                .unwrap_or_default()
                .ge(&ABANDONED_AFTER)
        })
        .map_err(|source| io(path, source))?;
    if !quiet {
        return Ok(Handed::NotFinished);
    }
    let reason = "the session's recorder stopped without an end event";
    if a.spool.close_cut_short(path, reason).await? {
        tracing::warn!(path = %path.display(), "closed an abandoned recording as terminated");
    }
    Ok(Handed::Closed)
}

/// `<spool>/sealed/<session>.manifest.json` and `.jsonl.zst`.
struct SealedPaths {
    dir: PathBuf,
    manifest: PathBuf,
    recording: PathBuf,
}

impl SealedPaths {
    fn new(dir: &Path, session: &SessionId) -> Self {
        SealedPaths {
            dir: dir.to_owned(),
            manifest: dir.join(format!("{session}.manifest.json")),
            recording: dir.join(format!("{session}.jsonl.zst")),
        }
    }

    /// The objects an earlier attempt sealed. A pair that does not hold together (a crash
    /// mid-write cannot cause it: the manifest is renamed in last) is an error for an operator.
    fn load(&self) -> Result<Option<SealedArchive>, ArchiverError> {
        let manifest = match fs::read(&self.manifest) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&self.manifest, e)),
        };
        let recording = fs::read(&self.recording).map_err(|e| io(&self.recording, e))?;
        Ok(Some(SealedArchive::from_objects(manifest, recording)?))
    }

    /// Writes both objects durably, the recording first, each through a temporary file.
    fn keep(&self, sealed: &SealedArchive) -> Result<(), ArchiverError> {
        private_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        write_durably(&self.recording, &sealed.recording)?;
        write_durably(&self.manifest, &sealed.manifest_bytes)?;
        sync_dir(&self.dir)
    }
}

/// Creates `dir` with [`DIR_MODE`], or takes group and other access away from one an earlier
/// hoop made with the umask's mode (0755).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != DIR_MODE {
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), ArchiverError> {
    let tmp = path.with_extension("part");
    let written = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    written.map_err(|e| io(path, e))
}

fn remove(path: &Path) -> Result<(), ArchiverError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), ArchiverError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

fn io(path: &Path, source: std::io::Error) -> ArchiverError {
    ArchiverError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_sealed_folder_is_private_whether_new_or_left_open_by_an_earlier_hoop() {
        let spool = std::env::temp_dir().join(format!("hoop-spool-{}", uuid::Uuid::new_v4()));
        fs::DirBuilder::new().mode(0o700).create(&spool).unwrap();
        let sealed = spool.join(SEALED_DIR);
        private_dir(&sealed).unwrap();
        assert_eq!(mode(&sealed), 0o700);
        fs::set_permissions(&sealed, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&sealed).unwrap();
        assert_eq!(mode(&sealed), 0o700);
        fs::remove_dir_all(&spool).unwrap();
    }

    #[test]
    fn only_a_whole_last_session_end_line_counts_as_finished() {
        let ended = b"{\"kind\":\"session_start\"}\n{\"kind\":\"session_end\"}\n";
        assert!(ends_with_session_end(ended));
        assert!(!ends_with_session_end(b"{\"kind\":\"session_start\"}\n"));
        assert!(!ends_with_session_end(
            b"{\"kind\":\"session_start\"}\n{\"kind\":\"session_e"
        ));
        assert!(!ends_with_session_end(b"{\"kind\":\"session_end\"}"));
        assert!(!ends_with_session_end(b""));
    }
}
