//! The spool's writer thread: group commit across every session of the process.
//!
//! One round: block for a request, drain what else is queued (bounded), write each line in
//! order, `fdatasync` every touched file once (and the directory once if a file was created),
//! then acknowledge. Blocking I/O is right here: this is a plain thread, not a tokio worker.
//!
//! Architecture Invariant: an acknowledgement is `Ok` only if the file's synced length covers the
//! end of that line; after a failed write or sync the file is poisoned and nothing written to it
//! later is acknowledged (nothing later is even written).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::RecordingError;

/// Requests drained into one round at most, so one round's latency stays bounded under load.
const MAX_ROUND: usize = 4096;

/// Threads that sync one round's files in parallel (each takes a share of the files).
const MAX_SYNC_THREADS: usize = 16;

pub(super) type FileId = u64;
pub(super) type Ack = oneshot::Sender<Result<(), RecordingError>>;
pub(super) type AckReceiver = oneshot::Receiver<Result<(), RecordingError>>;

/// State shared between a [`Recorder`](super::Recorder) and the writer's view of its file.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) session_id: String,
    pub(super) path: PathBuf,
    /// Set once, by whoever sees the first failure; the recorder checks it before every append.
    poison: OnceLock<String>,
}

impl Shared {
    pub(super) fn new(session_id: &str, path: PathBuf) -> Self {
        Shared {
            session_id: session_id.to_owned(),
            path,
            poison: OnceLock::new(),
        }
    }

    pub(super) fn poison_reason(&self) -> Option<&str> {
        self.poison.get().map(String::as_str)
    }

    /// Marks the recording failed and raises the alert, once per recording.
    pub(super) fn poison(&self, reason: String) {
        if self.poison.set(reason).is_ok() {
            tracing::error!(
                target: "hoop::alert",
                session_id = %self.session_id,
                path = %self.path.display(),
                reason = self.poison_reason().unwrap_or_default(),
                "session recording failed; the gateway must refuse this session's statements (PCI DSS 10)"
            );
        }
    }
}

pub(super) struct Request {
    pub(super) id: FileId,
    pub(super) op: Op,
    pub(super) ack: Option<Ack>,
}

pub(super) enum Op {
    /// Create the file (`O_EXCL`, 0600) and write its first line.
    Create {
        shared: Arc<Shared>,
        line: Vec<u8>,
    },
    /// Reopen a recovered file of `len` bytes to append to it.
    Resume {
        shared: Arc<Shared>,
        len: u64,
    },
    Append(Vec<u8>),
    /// Append the last line, sync, and close.
    Close(Vec<u8>),
    /// The recorder went away without finishing: sync what was written and close.
    Release,
    /// Test hook: point an open recording at another file (`/dev/full`) to get real write errors.
    #[cfg(test)]
    Redirect(PathBuf),
}

/// A session file the writer holds open.
struct OpenFile {
    file: File,
    shared: Arc<Shared>,
    /// End of the last complete line written (where a failed write is cut back to).
    written: u64,
    /// End of the last line known to be on stable storage.
    synced: u64,
    created_this_round: bool,
    closing: bool,
}

impl OpenFile {
    fn poisoned(&self) -> bool {
        self.shared.poison_reason().is_some()
    }

    fn poisoned_error(&self) -> RecordingError {
        RecordingError::Poisoned {
            reason: self.shared.poison_reason().unwrap_or("unknown").to_owned(),
        }
    }

    fn io_error(&self, source: io::Error) -> RecordingError {
        RecordingError::Io {
            path: self.shared.path.clone(),
            source,
        }
    }

    /// Writes one line; if the write fails midway, cuts the file back to the last complete line
    /// so the spool never holds half a line, then poisons the recording.
    fn write_line(&mut self, line: &[u8]) -> Result<(), io::Error> {
        match self.file.write_all(line) {
            Ok(()) => {
                self.written += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.cut_back(self.written);
                self.shared.poison(format!("write failed: {e}"));
                Err(e)
            }
        }
    }

    /// Makes everything written durable, or poisons the recording and drops the unsynced tail:
    /// after a failed fsync the kernel may have discarded those pages, so they count as lost.
    fn sync(&mut self) {
        match self.file.sync_data() {
            Ok(()) => self.synced = self.written,
            Err(e) => {
                self.shared.poison(format!("fdatasync failed: {e}"));
                self.cut_back(self.synced);
            }
        }
    }

    fn cut_back(&mut self, len: u64) {
        if let Err(e) = self.file.set_len(len) {
            tracing::error!(
                target: "hoop::alert",
                path = %self.shared.path.display(),
                error = %e,
                "could not cut a failed recording back to its last complete line; \
                 `recover` will do it at the next start"
            );
        }
        self.written = len;
    }
}

/// An acknowledgement waiting for the sync phase of its round.
struct Pending {
    id: FileId,
    end: u64,
    ack: Ack,
}

#[derive(Default)]
struct Round {
    touched: Vec<FileId>,
    pending: Vec<Pending>,
}

pub(super) struct Writer {
    dir: PathBuf,
    files: HashMap<FileId, OpenFile>,
    rx: mpsc::UnboundedReceiver<Request>,
}

/// Starts the writer thread; it ends when every sender (the spool and its recorders) is gone.
pub(super) fn spawn(dir: PathBuf, rx: mpsc::UnboundedReceiver<Request>) -> io::Result<()> {
    let writer = Writer {
        dir,
        files: HashMap::new(),
        rx,
    };
    std::thread::Builder::new()
        .name("hoop-recording".into())
        .spawn(move || writer.run())
        .map(drop)
}

/// Raises the alert if the writer thread dies by panic: every recording then fails closed
/// (`Closed`), and operators must learn why.
struct PanicAlarm;

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                target: "hoop::alert",
                "the recording writer thread panicked; every session now refuses statements"
            );
        }
    }
}

impl Writer {
    fn run(mut self) {
        let _alarm = PanicAlarm;
        while let Some(first) = self.rx.blocking_recv() {
            let mut round = Round::default();
            self.apply(first, &mut round);
            while round.pending.len() + round.touched.len() < MAX_ROUND {
                match self.rx.try_recv() {
                    Ok(request) => self.apply(request, &mut round),
                    Err(_) => break,
                }
            }
            self.commit(round);
        }
    }

    /// Phase 1 of a round: performs the request's write (no sync yet).
    fn apply(&mut self, request: Request, round: &mut Round) {
        let Request { id, op, ack } = request;
        let result = match op {
            Op::Create { shared, line } => self.create(id, shared, line, round),
            Op::Resume { shared, len } => self.resume(id, shared, len),
            Op::Append(line) => self.append(id, &line, false, round),
            Op::Close(line) => self.append(id, &line, true, round),
            Op::Release => {
                self.release(id, round);
                Ok(None)
            }
            #[cfg(test)]
            Op::Redirect(path) => self.redirect(id, &path),
        };
        match (result, ack) {
            (Ok(Some(end)), Some(ack)) => round.pending.push(Pending { id, end, ack }),
            (Ok(None), Some(ack)) => drop(ack.send(Ok(()))),
            (Err(e), Some(ack)) => drop(ack.send(Err(e))),
            (_, None) => {}
        }
    }

    /// Returns the end offset of the written line: its acknowledgement waits for the sync.
    fn create(
        &mut self,
        id: FileId,
        shared: Arc<Shared>,
        line: Vec<u8>,
        round: &mut Round,
    ) -> Result<Option<u64>, RecordingError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&shared.path)
            .map_err(|source| open_error(&shared.path, source))?;
        let mut open = OpenFile {
            file,
            shared,
            written: 0,
            synced: 0,
            created_this_round: true,
            closing: false,
        };
        if let Err(e) = open.write_line(&line) {
            // Nothing of this session was acknowledged: leave no empty file for recovery.
            let _ = std::fs::remove_file(&open.shared.path);
            return Err(open.io_error(e));
        }
        let end = open.written;
        self.files.insert(id, open);
        round.touched.push(id);
        Ok(Some(end))
    }

    fn resume(
        &mut self,
        id: FileId,
        shared: Arc<Shared>,
        len: u64,
    ) -> Result<Option<u64>, RecordingError> {
        let path = shared.path.clone();
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|source| open_error(&path, source))?;
        let found = file
            .metadata()
            .map_err(|source| open_error(&path, source))?
            .len();
        if found != len {
            return Err(RecordingError::ResumeMismatch {
                path,
                expected: len,
                found,
            });
        }
        let open = OpenFile {
            file,
            shared,
            written: len,
            synced: len,
            created_this_round: false,
            closing: false,
        };
        self.files.insert(id, open);
        Ok(None)
    }

    fn append(
        &mut self,
        id: FileId,
        line: &[u8],
        close: bool,
        round: &mut Round,
    ) -> Result<Option<u64>, RecordingError> {
        let Some(open) = self.files.get_mut(&id) else {
            return Err(RecordingError::Closed);
        };
        open.closing |= close;
        if close {
            round.touched.push(id);
        }
        if open.poisoned() {
            return Err(open.poisoned_error());
        }
        open.write_line(line).map_err(|e| open.io_error(e))?;
        round.touched.push(id);
        Ok(Some(open.written))
    }

    fn release(&mut self, id: FileId, round: &mut Round) {
        if let Some(open) = self.files.get_mut(&id) {
            open.closing = true;
            round.touched.push(id);
        }
    }

    #[cfg(test)]
    fn redirect(&mut self, id: FileId, path: &Path) -> Result<Option<u64>, RecordingError> {
        let open = self.files.get_mut(&id).ok_or(RecordingError::Closed)?;
        open.file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| open_error(path, source))?;
        Ok(None)
    }

    /// Phase 2 of a round: one sync per touched file, the directory once if files were created,
    /// then the acknowledgements, then closes.
    fn commit(&mut self, mut round: Round) {
        round.touched.sort_unstable();
        round.touched.dedup();
        let created = self.sync_files(&round.touched);
        if created {
            self.sync_dir(&round.touched);
        }
        for Pending { id, end, ack } in round.pending {
            let result = match self.files.get(&id) {
                Some(open) if open.synced >= end => Ok(()),
                Some(open) => Err(open.poisoned_error()),
                None => Err(RecordingError::Closed),
            };
            let _ = ack.send(result);
        }
        for id in round.touched {
            if self.files.get(&id).is_some_and(|open| open.closing) {
                self.files.remove(&id);
            }
        }
    }

    /// Syncs every touched file with unsynced lines; returns whether one was created this round.
    ///
    /// Several files are synced from parallel threads: ext4 (jbd2) and XFS fold concurrent
    /// fsyncs into one journal commit, whereas one after another each pays a full commit, which
    /// made 8 sessions slower than 1 (measured, see `group_commit_throughput`).
    fn sync_files(&mut self, touched: &[FileId]) -> bool {
        let mut created = false;
        let mut dirty: Vec<&mut OpenFile> = Vec::with_capacity(touched.len());
        for (id, open) in &mut self.files {
            if touched.binary_search(id).is_ok() {
                created |= open.created_this_round;
                if open.written > open.synced {
                    dirty.push(open);
                }
            }
        }
        match dirty.as_mut_slice() {
            [] => {}
            [one] => one.sync(),
            many => std::thread::scope(|scope| {
                let lanes = many.len().min(MAX_SYNC_THREADS);
                for lane in many.chunks_mut(many.len().div_ceil(lanes)) {
                    scope.spawn(move || lane.iter_mut().for_each(|open| open.sync()));
                }
            }),
        }
        created
    }

    /// A new file's name is durable only once its directory is synced; until then a crash could
    /// lose the whole recording, so a failure here fails the files created this round.
    fn sync_dir(&mut self, touched: &[FileId]) {
        let result = File::open(&self.dir).and_then(|dir| dir.sync_all());
        for id in touched {
            let Some(open) = self.files.get_mut(id) else {
                continue;
            };
            if !std::mem::take(&mut open.created_this_round) {
                continue;
            }
            if let Err(e) = &result {
                open.shared.poison(format!("directory fsync failed: {e}"));
                open.synced = 0;
            }
        }
    }
}

fn open_error(path: &Path, source: io::Error) -> RecordingError {
    if source.kind() == io::ErrorKind::AlreadyExists {
        RecordingError::SessionExists {
            path: path.to_owned(),
        }
    } else {
        RecordingError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
