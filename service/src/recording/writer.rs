//! The spool's writer thread: group commit across every session of the process.
//!
//! One round: block for a request, drain what else is queued (bounded), write each line to its
//! session file in order (no sync), append the round's lines to the shared journal, then ONE
//! `fdatasync` of the journal makes the whole round durable, whichever sessions it touched. The
//! directory is synced once if a file was created; a finishing session's file is synced in
//! parallel with the journal. Then the round is acknowledged. Blocking I/O is right here: this
//! is a plain thread, not a tokio worker.
//!
//! A round syncs only if someone waits for it ([`Waiter::Durable`], a closing file). Lines
//! nobody waits for (a statement's completion, notices) do not wake the writer ([`Queue`]):
//! they are written with the next request someone waits for, or within [`LAZY_SYNC`] if none
//! comes, and become durable with the next round that syncs, or [`LAZY_SYNC`] after they were
//! written: a statement pays for one wake-up of the writer and one sync, not for its
//! completion's as well. A crash can lose the completions and notices of the last 20 ms; it
//! cannot lose a line someone waited for.
//!
//! Architecture Invariant: a durable acknowledgement is `Ok` only if the line is on stable
//! storage (the journal synced past its record, or its file synced past it) and its recording
//! is not poisoned; a written acknowledgement ([`Waiter::Written`]) only if the line is in its
//! file and the journal. After a failed write or sync the recording is poisoned, its file is cut
//! back to its durable lines (and those acknowledged as written: their statements may have
//! run), and nothing written to it later is acknowledged (nothing later is even written). A
//! failed journal write or sync poisons every recording with a line not yet synced.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::RecordingError;
use super::journal::{Journal, Journaled, Record};
use super::queue::Queue;
use crate::metrics::JournalMetrics;

/// Requests drained into one round at most, so one round's latency stays bounded under load.
const MAX_ROUND: usize = 4096;

/// How long a line nobody waits for may stay queued, then written but not synced, when no
/// request someone waits for comes first.
pub(super) const LAZY_SYNC: Duration = Duration::from_millis(10);

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
    pub(super) waiter: Waiter,
}

/// Who waits for a request, and for what.
pub(super) enum Waiter {
    /// Nobody: the line becomes durable with the next round that syncs, at most [`LAZY_SYNC`]
    /// later.
    Nobody,
    /// The line on stable storage; for a request without a line, its outcome.
    Durable(Ack),
    /// First the line written to its file and to the journal (a crash of the process can no
    /// longer lose it), then the line on stable storage.
    Written { written: Ack, durable: Ack },
}

impl Waiter {
    /// The two acknowledgements of a [`Waiter::Written`], or the one of a `Durable`.
    fn split(self) -> (Option<Ack>, Option<Ack>) {
        match self {
            Waiter::Nobody => (None, None),
            Waiter::Durable(ack) => (None, Some(ack)),
            Waiter::Written { written, durable } => (Some(written), Some(durable)),
        }
    }
}

pub(super) enum Op {
    /// Create the file (`O_EXCL`, 0600) and write its first line.
    Create {
        shared: Arc<Shared>,
        record: Record,
    },
    /// Reopen a recovered file of `len` bytes to append to it.
    Resume {
        shared: Arc<Shared>,
        len: u64,
    },
    Append(Record),
    /// Append the last line, sync the file, and close it.
    Close(Record),
    /// The recorder went away without finishing: sync what was written and close.
    Release,
    /// Test hook: point an open recording at another file (`/dev/full`) to get real write errors.
    #[cfg(test)]
    Redirect(PathBuf),
    /// Test hook: point the journal's active segment at another file, likewise.
    #[cfg(test)]
    RedirectJournal(PathBuf),
    /// Test hook: every journal sync from now on first passes this gate, so a test that closes
    /// it holds every sync (and only the syncs: lines are still written and acknowledged).
    #[cfg(test)]
    GateSyncs(Arc<SyncGate>),
}

/// A session file the writer holds open.
struct OpenFile {
    file: File,
    shared: Arc<Shared>,
    /// End of the last complete line written (where a failed write is cut back to).
    written: u64,
    /// End of the last line on stable storage, through the journal or the file's own sync.
    durable: u64,
    /// End of the last line the file itself has on stable storage.
    synced: u64,
    /// End of the last line acknowledged as written ([`Waiter::Written`]): its statement may
    /// have been forwarded, so a failure never cuts it off, durable or not.
    forwarded: u64,
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

    /// Makes everything written durable in the file itself, or poisons the recording and drops
    /// the lines that were not durable: after a failed fsync the kernel may have discarded those
    /// pages, so they count as lost (the durable ones are still in the journal).
    fn sync(&mut self) {
        match self.file.sync_data() {
            Ok(()) => {
                self.synced = self.written;
                self.durable = self.durable.max(self.synced);
            }
            Err(e) => self.failed(format!("fdatasync failed: {e}")),
        }
    }

    /// The journal lost this round: the lines are not durable, so they go.
    fn journal_failed(&mut self, reason: &str) {
        self.failed(format!("journal failed: {reason}"));
    }

    /// Poisons the recording and cuts off the lines that are not durable, except those whose
    /// statements may have run (`forwarded`): their record stays in the file, the best
    /// evidence there is, and the alert says it may not be durable.
    fn failed(&mut self, reason: String) {
        self.shared.poison(reason);
        if self.forwarded > self.durable {
            tracing::error!(
                target: "hoop::alert",
                session_id = %self.shared.session_id,
                path = %self.shared.path.display(),
                "statements of this session were forwarded (durability = \"result\") before their \
                 records could be made durable; the records stay in the session file, but a crash \
                 of the host may still lose them"
            );
        }
        let keep = self.durable.max(self.forwarded);
        if self.written > keep {
            self.cut_back(keep);
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
        self.synced = self.synced.min(len);
    }
}

/// An acknowledgement waiting for a phase of its round.
struct Pending {
    id: FileId,
    end: u64,
    ack: Ack,
}

#[derive(Default)]
struct Round {
    /// Files created or closing this round.
    touched: Vec<FileId>,
    /// Lines written to their files this round, for the journal.
    records: Vec<Journaled>,
    /// Acknowledged once the round's lines are written to the journal.
    written: Vec<Pending>,
    /// Acknowledged once the round's lines are on stable storage.
    pending: Vec<Pending>,
    /// Sync even if nobody waits: lines have waited [`LAZY_SYNC`].
    overdue: bool,
}

pub(super) struct Writer {
    dir: PathBuf,
    files: HashMap<FileId, OpenFile>,
    queue: Arc<Queue>,
    journal: Journal,
    /// Lines in the journal since its last sync (file, end of the line): what the next sync
    /// makes durable, or what a failure of the journal takes.
    unsynced: Vec<(FileId, u64)>,
    /// When the oldest of `unsynced` was written.
    unsynced_since: Option<Instant>,
    metrics: JournalMetrics,
    #[cfg(test)]
    sync_gate: Option<Arc<SyncGate>>,
}

/// Test hook: a gate the writer's journal syncs wait at while it is closed.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct SyncGate {
    closed: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

#[cfg(test)]
impl SyncGate {
    pub(crate) fn close(&self) {
        *self.state() = true;
    }

    pub(crate) fn open(&self) {
        *self.state() = false;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.state();
        while *closed {
            closed = self
                .opened
                .wait(closed)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, bool> {
        self.closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts the writer thread; it ends when every sender (the spool and its recorders) is gone.
pub(super) fn spawn(
    dir: PathBuf,
    journal: Journal,
    queue: Arc<Queue>,
    metrics: JournalMetrics,
) -> io::Result<()> {
    let writer = Writer {
        dir,
        files: HashMap::new(),
        queue,
        journal,
        unsynced: Vec::new(),
        unsynced_since: None,
        metrics,
        #[cfg(test)]
        sync_gate: None,
    };
    std::thread::Builder::new()
        .name("hoop-recording".into())
        .spawn(move || writer.run())
        .map(drop)
}

/// Closes the queue when the writer thread ends, and raises the alert if it dies by panic:
/// every recording then fails closed (`Closed`), and operators must learn why.
struct PanicAlarm(Arc<Queue>);

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        self.0.writer_stopped();
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
        let _alarm = PanicAlarm(self.queue.clone());
        loop {
            let wait = match self.unsynced_since {
                Some(since) => LAZY_SYNC.saturating_sub(since.elapsed()),
                None => LAZY_SYNC,
            };
            let Some(requests) = self.queue.take(MAX_ROUND, wait) else {
                break;
            };
            let mut round = Round::default();
            for request in requests {
                self.apply(request, &mut round);
            }
            round.overdue = self
                .unsynced_since
                .is_some_and(|since| since.elapsed() >= LAZY_SYNC);
            self.commit(round);
        }
        // Every sender is gone: what nobody waited for is made durable before the thread ends.
        if self.unsynced_since.is_some() {
            self.commit(Round {
                overdue: true,
                ..Round::default()
            });
        }
    }

    /// Phase 1 of a round: performs the request's write to its session file (no sync yet).
    fn apply(&mut self, request: Request, round: &mut Round) {
        let Request { id, op, waiter } = request;
        let result = match op {
            Op::Create { shared, record } => self.create(id, shared, record, round),
            Op::Resume { shared, len } => self.resume(id, shared, len),
            Op::Append(record) => self.append(id, record, false, round),
            Op::Close(record) => self.append(id, record, true, round),
            Op::Release => {
                self.release(id, round);
                Ok(None)
            }
            #[cfg(test)]
            Op::Redirect(path) => self.redirect(id, &path),
            #[cfg(test)]
            Op::GateSyncs(gate) => {
                self.sync_gate = Some(gate);
                Ok(None)
            }
            #[cfg(test)]
            Op::RedirectJournal(path) => self
                .journal
                .redirect_for_test(&path)
                .map(|()| None)
                .map_err(|source| open_error(&path, source)),
        };
        let (written, durable) = waiter.split();
        match result {
            Ok(Some(end)) => {
                if let Some(ack) = written {
                    round.written.push(Pending { id, end, ack });
                }
                if let Some(ack) = durable {
                    round.pending.push(Pending { id, end, ack });
                }
            }
            // A request without a line is answered at once, on its first acknowledgement.
            Ok(None) => {
                if let Some(ack) = written.or(durable) {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(e) => {
                if let Some(ack) = written.or(durable) {
                    let _ = ack.send(Err(e));
                }
            }
        }
    }

    /// Returns the end offset of the written line: its acknowledgement waits for the sync.
    fn create(
        &mut self,
        id: FileId,
        shared: Arc<Shared>,
        record: Record,
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
            durable: 0,
            synced: 0,
            forwarded: 0,
            created_this_round: true,
            closing: false,
        };
        if let Err(e) = open.write_line(record.line()) {
            // Nothing of this session was acknowledged: leave no empty file for recovery.
            let _ = std::fs::remove_file(&open.shared.path);
            return Err(open.io_error(e));
        }
        let end = open.written;
        self.files.insert(id, open);
        round.touched.push(id);
        round.records.push(Journaled { id, end, record });
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
            durable: len,
            synced: len,
            forwarded: len,
            created_this_round: false,
            closing: false,
        };
        self.files.insert(id, open);
        Ok(None)
    }

    fn append(
        &mut self,
        id: FileId,
        record: Record,
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
        open.write_line(record.line())
            .map_err(|e| open.io_error(e))?;
        let end = open.written;
        round.records.push(Journaled { id, end, record });
        Ok(Some(end))
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

    /// Phase 2 of a round: the journal written; the `written` acknowledgements; then, if
    /// anyone waits for it (or lines have waited [`LAZY_SYNC`]), the journal synced once
    /// (finishing files synced alongside), the directory once if files were created, sealed
    /// journal segments retired, then the acknowledgements, then closes.
    fn commit(&mut self, mut round: Round) {
        round.touched.sort_unstable();
        round.touched.dedup();
        let journal_path = self.journal.path();
        let written = self.journal.write(&round.records);
        if !round.records.is_empty() {
            self.unsynced_since.get_or_insert_with(Instant::now);
        }
        self.unsynced
            .extend(round.records.iter().map(|r| (r.id, r.end)));
        let closing = round
            .touched
            .iter()
            .any(|id| self.files.get(id).is_some_and(|open| open.closing));
        let sync = written.is_err() || round.overdue || closing || !round.pending.is_empty();
        let journal = match (written, sync) {
            (Ok(()), false) => {
                self.acknowledge_written(round.written);
                return;
            }
            (Ok(()), true) => {
                self.acknowledge_written(std::mem::take(&mut round.written));
                self.sync(&round.touched, round.pending.len())
            }
            // The segment was cut back to its last sync: every unsynced line is gone.
            (Err(e), _) => Err(e),
        };
        let unsynced = std::mem::take(&mut self.unsynced);
        self.unsynced_since = None;
        self.settle_journal(&journal, &journal_path, &unsynced);
        self.settle_files(&round.touched);
        if round.touched.iter().any(|id| self.is_created(*id)) {
            self.sync_dir(&round.touched);
        }
        self.retire_segments();
        let journal_error = journal.err().map(|e| (journal_path, e));
        self.acknowledge(round.written, journal_error.as_ref());
        self.acknowledge(round.pending, journal_error.as_ref());
        for id in round.touched {
            if self.files.get(&id).is_some_and(|open| open.closing) {
                self.files.remove(&id);
            }
        }
    }

    /// The `written` acknowledgements of a round whose journal write succeeded: `Ok` unless
    /// the recording failed. From here on those lines are never cut off.
    fn acknowledge_written(&mut self, written: Vec<Pending>) {
        for Pending { id, end, ack } in written {
            let result = match self.files.get_mut(&id) {
                Some(open) if !open.poisoned() => {
                    open.forwarded = open.forwarded.max(end);
                    Ok(())
                }
                Some(open) => Err(open.poisoned_error()),
                None => Err(RecordingError::Closed),
            };
            let _ = ack.send(result);
        }
    }

    fn acknowledge(&self, pending: Vec<Pending>, journal_error: Option<&(PathBuf, io::Error)>) {
        for Pending { id, end, ack } in pending {
            let _ = ack.send(self.ack_result(id, end, journal_error));
        }
    }

    /// Syncs the journal and, in parallel, the files that close this round; `waiters` wait
    /// for it (the metric of how many statements one sync serves).
    fn sync(&mut self, touched: &[FileId], waiters: usize) -> io::Result<()> {
        #[cfg(test)]
        if let Some(gate) = &self.sync_gate {
            gate.pass();
        }
        let started = Instant::now();
        let journal = self.journal.to_sync();
        let measured = journal.is_some();
        let mut closing = dirty_files(&mut self.files, touched, |open| open.closing);
        let synced = parallel_sync(journal, &mut closing).unwrap_or(Ok(()));
        if measured {
            self.metrics.observe_sync(started.elapsed(), waiters);
        }
        synced
    }

    /// Counts the lines written since the last sync as durable, or poisons their recordings.
    fn settle_journal(&mut self, result: &io::Result<()>, path: &Path, lines: &[(FileId, u64)]) {
        self.journal.synced(result, lines);
        match result {
            Ok(()) => {
                for &(id, end) in lines {
                    if let Some(open) = self.files.get_mut(&id) {
                        open.durable = open.durable.max(end);
                    }
                }
            }
            Err(e) => {
                tracing::error!(
                    target: "hoop::alert",
                    path = %path.display(),
                    error = %e,
                    lines = lines.len(),
                    "the recording journal failed; every session with a line not yet synced is refused"
                );
                let reason = e.to_string();
                for &(id, _) in lines {
                    if let Some(open) = self.files.get_mut(&id) {
                        open.journal_failed(&reason);
                    }
                }
            }
        }
    }

    /// Tells the journal how far the closing files are synced.
    fn settle_files(&mut self, touched: &[FileId]) {
        for id in touched {
            if let Some(open) = self.files.get(id) {
                self.journal.file_synced(*id, open.synced);
            }
        }
    }

    fn is_created(&self, id: FileId) -> bool {
        self.files
            .get(&id)
            .is_some_and(|open| open.created_this_round)
    }

    fn ack_result(
        &self,
        id: FileId,
        end: u64,
        journal_error: Option<&(PathBuf, io::Error)>,
    ) -> Result<(), RecordingError> {
        if let Some((path, e)) = journal_error {
            return Err(RecordingError::Io {
                path: path.clone(),
                source: copy_io_error(e),
            });
        }
        match self.files.get(&id) {
            Some(open) if open.durable >= end && !open.poisoned() => Ok(()),
            Some(open) => Err(open.poisoned_error()),
            None => Err(RecordingError::Closed),
        }
    }

    /// Sealed journal segments wait for their sessions' files: sync those (in parallel), then
    /// delete every segment nothing waits for. Once per segment, so rarely.
    fn retire_segments(&mut self) {
        let awaited = self.journal.awaited();
        if awaited.is_empty() {
            self.journal.retire(|_| true);
            return;
        }
        let mut dirty = dirty_files(&mut self.files, &awaited, |_| true);
        parallel_sync(None, &mut dirty);
        for id in awaited {
            if let Some(open) = self.files.get(&id) {
                self.journal.file_synced(id, open.synced);
            }
        }
        let files = &self.files;
        self.journal.retire(|id| files.contains_key(&id));
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
            }
        }
    }
}

/// The open files among `ids` (sorted) that match `filter` and have unsynced lines.
fn dirty_files<'f>(
    files: &'f mut HashMap<FileId, OpenFile>,
    ids: &[FileId],
    filter: impl Fn(&OpenFile) -> bool,
) -> Vec<&'f mut OpenFile> {
    files
        .iter_mut()
        .filter(|(id, open)| {
            ids.binary_search(id).is_ok() && filter(open) && open.written > open.synced
        })
        .map(|(_, open)| open)
        .collect()
}

/// Syncs the journal file (on this thread) and `files` (on helper threads) at the same time;
/// returns the journal's result. ext4 (jbd2) and XFS fold concurrent fsyncs into one journal
/// commit, whereas one after another each pays a full commit. No thread is started when there
/// are no files, which is every round but a session's last.
fn parallel_sync(journal: Option<&File>, files: &mut [&mut OpenFile]) -> Option<io::Result<()>> {
    if files.is_empty() {
        return journal.map(File::sync_data);
    }
    std::thread::scope(|scope| {
        let lanes = files.len().min(MAX_SYNC_THREADS);
        for lane in files.chunks_mut(files.len().div_ceil(lanes)) {
            scope.spawn(move || lane.iter_mut().for_each(|open| open.sync()));
        }
        journal.map(File::sync_data)
    })
}

/// `io::Error` is not `Clone`; every acknowledgement of a failed round gets its own copy.
fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
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
