//! [`Spool`] (the directory, its journal and its writer thread) and [`Recorder`] (one
//! session's chain).

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, oneshot};

use super::RecordingError;
use super::chain::RecoveredRecording;
use super::event::{Event, chain_genesis, encode_line};
use super::journal::{self, Journal, Record};
use super::queue::Queue;
use super::replay;
use super::writer::{self, AckReceiver, FileId, Op, Request, Shared, Waiter};
use crate::base::{SessionId, Sha256};
use crate::metrics::JournalMetrics;

/// The spool directory and its writer thread. Opened once per process and shared (`Arc`).
///
/// The directory is locked (`flock` on `<dir>/.lock`) for the spool's lifetime, so a second
/// process cannot treat this process's live recordings as crash leftovers. The journal
/// (`<dir>/journal/`) a previous process left is replayed when the spool is opened.
pub struct Spool {
    dir: PathBuf,
    /// The writer thread's requests.
    queue: Arc<Queue>,
    next_id: AtomicU64,
    /// Session ids with a live [`Recorder`] in this process.
    live: Mutex<HashSet<String>>,
    /// Session ids whose files journal replay left for an operator: never leftovers.
    held: HashSet<String>,
    /// Journal `fdatasync`s that made a round durable (a metric; tests count the syncs of a
    /// round, the group_commit bench compares them with the durable appends).
    journal_syncs: Arc<AtomicU64>,
    _lock: File,
}

impl Drop for Spool {
    /// The last recorder and the spool are gone: the writer writes and syncs what is queued,
    /// then ends.
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

impl Spool {
    /// Opens (creating it with mode 0700 if missing) and locks the spool directory, checks that
    /// a file can really be created in it, replays the journal a previous process left (every
    /// line it made durable is restored to its session file), and starts the writer thread.
    pub fn open(dir: &Path) -> Result<Arc<Spool>, RecordingError> {
        Self::open_observed(dir, JournalMetrics::default())
    }

    /// [`Spool::open`], its journal's syncs measured into `metrics`.
    pub fn open_observed(
        dir: &Path,
        metrics: JournalMetrics,
    ) -> Result<Arc<Spool>, RecordingError> {
        Self::open_with_segment_bytes(dir, journal::SEGMENT_BYTES, metrics)
    }

    /// [`Spool::open`] with journal segments sealed at `segment_bytes` (tests use small ones).
    pub(super) fn open_with_segment_bytes(
        dir: &Path,
        segment_bytes: u64,
        metrics: JournalMetrics,
    ) -> Result<Arc<Spool>, RecordingError> {
        let not_writable = |source| RecordingError::NotWritable {
            dir: dir.to_owned(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(not_writable)?;
        // A spool made by hand or by an older version may be wider: recordings are cardholder
        // evidence, readable by hoop's user only.
        let mode = fs::metadata(dir)
            .map_err(not_writable)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(not_writable)?;
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the spool directory was open to other users; set to 0700");
        }
        let lock = lock_dir(dir)?;
        probe_writable(dir).map_err(not_writable)?;
        let replayed = replay::replay(dir)?;
        let journal_syncs = Arc::new(AtomicU64::new(0));
        let journal = Journal::new(
            journal::dir_of(dir),
            segment_bytes,
            replayed.next_segment,
            journal_syncs.clone(),
        );
        let queue = Arc::new(Queue::new());
        writer::spawn(dir.to_owned(), journal, queue.clone(), metrics).map_err(|source| {
            RecordingError::Io {
                path: dir.to_owned(),
                source,
            }
        })?;
        Ok(Arc::new(Spool {
            dir: dir.to_owned(),
            queue,
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashSet::new()),
            held: replayed.held,
            journal_syncs,
            _lock: lock,
        }))
    }

    /// How many journal syncs made a round durable since the spool was opened. Far fewer than
    /// durable appends under concurrency: that is the group commit.
    pub fn journal_syncs(&self) -> u64 {
        self.journal_syncs.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the recording of `session_id` lives: `<dir>/<session_id>.jsonl`.
    pub fn path_for(&self, session_id: &SessionId) -> PathBuf {
        self.dir.join(format!("{session_id}.jsonl"))
    }

    /// Creates `<dir>/<session_id>.jsonl` (`O_EXCL`, mode 0600) and makes the first event and
    /// the file's directory entry durable before returning.
    pub async fn create(
        self: &Arc<Self>,
        session_id: SessionId,
        first: Event,
    ) -> Result<Recorder, RecordingError> {
        let id = session_id.to_string();
        let path = self.path_for(&session_id);
        let shared = Arc::new(Shared::new(&id, path));
        let mut recorder = self.recorder(shared.clone(), 0, chain_genesis(&id), 0)?;
        let created = async {
            let (_, ack) = recorder.submit(&first, Wait::Durable, |record| Op::Create {
                shared,
                record,
            })?;
            recorder.wait(ack.durable).await
        }
        .await;
        match created {
            Ok(()) => Ok(recorder),
            Err(e) => Err(recorder.abandon(e)),
        }
    }

    /// Reopens a recording that [`recover`](super::recover) repaired, to append to it (typically
    /// a `terminated` event, then [`Recorder::finish`]).
    pub async fn resume(
        self: &Arc<Self>,
        recovered: &RecoveredRecording,
    ) -> Result<Recorder, RecordingError> {
        let chain = &recovered.chain;
        let session_id =
            SessionId::parse(&chain.session_id).map_err(|_| RecordingError::InvalidSessionId {
                session_id: chain.session_id.escape_default().to_string(),
            })?;
        let path = self.path_for(&session_id);
        let shared = Arc::new(Shared::new(&chain.session_id, path));
        let recorder = self.recorder(shared.clone(), chain.events, chain.head, chain.bytes)?;
        let (ack_tx, ack) = oneshot::channel();
        let op = Op::Resume {
            shared,
            len: chain.bytes,
        };
        let resumed = async {
            recorder.send(op, Waiter::Durable(ack_tx))?;
            recorder.wait(Some(ack)).await
        }
        .await;
        match resumed {
            Ok(()) => Ok(recorder),
            Err(e) => Err(recorder.abandon(e)),
        }
    }

    /// Closes a recording that a crash or a failure cut short (its recorder is gone): cuts off
    /// a trailing partial line, then appends `terminated` (with `reason`, the caller's own
    /// words: it is recorded unmasked, so it is a `&'static str`) and `session_end`, so
    /// it verifies and can be archived. A recording that already ends with `session_end` is
    /// left as it is (`Ok(false)`). One that does not verify is an error: an operator must look.
    pub async fn close_cut_short(
        self: &Arc<Self>,
        path: &Path,
        reason: &'static str,
    ) -> Result<bool, RecordingError> {
        let recovered = super::recover(path)?;
        if recovered.chain.last_kind.as_deref() == Some("session_end") {
            return Ok(false);
        }
        let noticed_at = Utc::now();
        // The session is known alive until its last durable event, not later: the closing
        // lines carry that time, so the archive is dated (and filed) by when the session
        // stopped, not by when a restart came round to it.
        let last_alive = recovered
            .chain
            .last_ts
            .as_deref()
            .and_then(|ts| DateTime::parse_from_rfc3339(ts).ok())
            .map(|ts| ts.with_timezone(&Utc));
        let mut recorder = self.resume(&recovered).await?;
        recorder.fixed_ts = last_alive;
        recorder.append(Event::Terminated { reason, noticed_at })?;
        recorder.finish(Event::session_end("terminated")).await?;
        Ok(true)
    }

    /// Spool files (`*.jsonl`) that no live recorder of this process owns, sorted: at start,
    /// the sessions a crash left behind (already completed from the journal); later, also
    /// finished recordings not yet archived. Files journal replay left for an operator (it
    /// raised an alert) are not listed.
    pub fn leftovers(&self) -> Result<Vec<PathBuf>, RecordingError> {
        let io = |source| RecordingError::Io {
            path: self.dir.clone(),
            source,
        };
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_spool_file = path.extension().is_some_and(|e| e == "jsonl");
            let is_live = path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| live.contains(s) || self.held.contains(s));
            if is_spool_file && !is_live && path.is_file() {
                found.push(path);
            }
        }
        found.sort();
        Ok(found)
    }

    /// Registers a live recorder; a session id can have one recorder at a time.
    fn recorder(
        self: &Arc<Self>,
        shared: Arc<Shared>,
        next_seq: u64,
        head: Sha256,
        bytes: u64,
    ) -> Result<Recorder, RecordingError> {
        let fresh = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(shared.session_id.clone());
        if !fresh {
            return Err(RecordingError::SessionExists {
                path: shared.path.clone(),
            });
        }
        Ok(Recorder {
            spool: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            shared,
            next_seq,
            head,
            bytes,
            line_hint: 256,
            finished: false,
            fixed_ts: None,
        })
    }
}

fn lock_dir(dir: &Path) -> Result<File, RecordingError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| RecordingError::NotWritable {
            dir: dir.to_owned(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(RecordingError::Locked {
            dir: dir.to_owned(),
        }),
        Err(TryLockError::Error(source)) => Err(RecordingError::Io { path, source }),
    }
}

/// Permission bits are not enough to know (root ignores them; a read-only mount does not):
/// create, write and sync a real file.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".probe-{}", uuid::Uuid::new_v4()));
    let result = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(b"probe\n")?;
            f.sync_data()
        });
    let removed = fs::remove_file(&path);
    result.and(removed)
}

/// The spool's size, as the archiver last measured it, and its limit
/// (`archive.max_spool_bytes`): the session core reads it before it opens a recording.
#[derive(Debug, Default)]
pub struct SpoolGauge {
    bytes: AtomicU64,
    limit: Option<u64>,
    /// Wakes the archiver (a session ended).
    wake: Notify,
}

impl SpoolGauge {
    pub fn new(limit: Option<u64>) -> Self {
        SpoolGauge {
            bytes: AtomicU64::new(0),
            limit,
            wake: Notify::new(),
        }
    }

    /// `Some((bytes, limit))` when the spool holds more than its limit: new sessions wait
    /// until the store has taken some.
    pub fn over_limit(&self) -> Option<(u64, u64)> {
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.limit.filter(|l| bytes > *l).map(|l| (bytes, l))
    }

    /// A recording was finished: archive it now rather than at the next scan.
    pub fn recording_finished(&self) {
        self.wake.notify_one();
    }

    /// Resolves when a recording was finished since the last call.
    pub async fn finished(&self) {
        self.wake.notified().await;
    }

    /// The spool's size as just measured.
    pub fn measured(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }
}

/// What a finished recording is: the archiver signs `head` and `events` into the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingSummary {
    pub session_id: String,
    pub path: PathBuf,
    pub events: u64,
    /// Hex SHA-256 of the last line (without its newline).
    pub head: String,
    pub bytes: u64,
}

/// One session's recording, owned by its connection task. Holds the chain state (next seq,
/// head) so lines are built and hashed on the caller's side; the writer thread only writes.
pub struct Recorder {
    spool: Arc<Spool>,
    id: FileId,
    shared: Arc<Shared>,
    next_seq: u64,
    head: Sha256,
    bytes: u64,
    /// Length of the previous line: sizes the next line buffer so it rarely reallocates.
    line_hint: usize,
    finished: bool,
    /// The `ts` of every line from here, instead of the clock: only the closing lines of a
    /// recording cut short, which carry the time of its last durable event.
    fixed_ts: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.shared.path)
            .field("next_seq", &self.next_seq)
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}

impl Recorder {
    /// Appends and returns once the line is on stable storage (`fdatasync` of the spool's
    /// journal), sharing the sync with every other session queued in the same round (group
    /// commit). The session file has the line too (written, synced at `finish`).
    ///
    /// Forward the statement upstream only after this returned `Ok`. Dropping the future early
    /// keeps the chain intact (the line is still written) but proves nothing about durability.
    pub async fn append_durable(&mut self, event: Event) -> Result<u64, RecordingError> {
        let (seq, ack) = self.submit(&event, Wait::Durable, Op::Append)?;
        self.wait(ack.durable).await?;
        Ok(seq)
    }

    /// Appends and returns once the line is written to its file and to the journal (in the
    /// page cache: a crash of the process can no longer lose it, a crash of the host can),
    /// with the [`Syncing`] that resolves once it is on stable storage. For the `result`
    /// durability: forward the statement after this, release its result after the `Syncing`.
    pub async fn append_written(&mut self, event: Event) -> Result<Syncing, RecordingError> {
        let (_, ack) = self.submit(&event, Wait::Written, Op::Append)?;
        self.wait(ack.written).await?;
        Ok(Syncing {
            ack: ack.durable,
            shared: self.shared.clone(),
        })
    }

    /// Appends without waiting, and without waking the writer: the line is written with the
    /// next line someone waits for, or within 10 ms, and becomes durable with the next sync, at
    /// most 10 ms after that. For events after the fact (completions, notices). A failure shows
    /// up as `Poisoned` on a later call.
    pub fn append(&mut self, event: Event) -> Result<u64, RecordingError> {
        self.submit(&event, Wait::Nothing, Op::Append)
            .map(|(seq, _)| seq)
    }

    /// Writes the last event durably, syncs the session file and closes it. On error the file
    /// stays in the spool and is found by [`Spool::leftovers`].
    pub async fn finish(mut self, last: Event) -> Result<RecordingSummary, RecordingError> {
        let (_, ack) = self.submit(&last, Wait::Durable, Op::Close)?;
        self.wait(ack.durable).await?;
        self.finished = true;
        Ok(RecordingSummary {
            session_id: self.shared.session_id.clone(),
            path: self.shared.path.clone(),
            events: self.next_seq,
            head: self.head.to_hex(),
            bytes: self.bytes,
        })
    }

    /// Drops a recorder that never opened its file, without the "no end event" warning.
    fn abandon(mut self, error: RecordingError) -> RecordingError {
        self.finished = true;
        error
    }

    pub fn is_poisoned(&self) -> bool {
        self.shared.poison_reason().is_some()
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The seq the next event gets (= events accepted so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Hash of the last accepted line.
    pub fn head(&self) -> Sha256 {
        self.head
    }

    /// File length once every accepted line is written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Encodes and hashes the line here (off the writer thread) and queues it. The chain state
    /// advances only once the line is queued, so a rejected event leaves no gap.
    fn submit(
        &mut self,
        event: &Event,
        wait: Wait,
        op: impl FnOnce(Record) -> Op,
    ) -> Result<(u64, Receivers), RecordingError> {
        if let Some(reason) = self.shared.poison_reason() {
            return Err(RecordingError::Poisoned {
                reason: reason.to_owned(),
            });
        }
        let seq = self.next_seq;
        let mut record = Record::new(&self.shared.session_id, seq, self.line_hint + 64);
        let ts = self.fixed_ts.unwrap_or_else(Utc::now);
        encode_line(record.line_buffer(), seq, ts, event, &self.head)
            .map_err(|source| RecordingError::Encode { source })?;
        record.seal();
        let line = record.line();
        let head = Sha256::of(&line[..line.len() - 1]);
        let len = line.len();
        let (waiter, receivers) = wait.waiter();
        self.send(op(record), waiter)?;
        self.next_seq += 1;
        self.head = head;
        self.bytes += len as u64;
        self.line_hint = len;
        Ok((seq, receivers))
    }

    fn send(&self, op: Op, waiter: Waiter) -> Result<(), RecordingError> {
        let request = Request {
            id: self.id,
            op,
            waiter,
        };
        self.spool
            .queue
            .push(request)
            .map_err(|_| self.writer_gone())
    }

    async fn wait(&self, ack: Option<AckReceiver>) -> Result<(), RecordingError> {
        match ack {
            None => Ok(()),
            Some(ack) => ack.await.unwrap_or_else(|_| Err(self.writer_gone())),
        }
    }

    fn writer_gone(&self) -> RecordingError {
        self.shared
            .poison("the recording writer thread stopped".to_owned());
        RecordingError::Closed
    }

    /// Test hook: sends this recording's next writes to `path` (e.g. `/dev/full`).
    #[cfg(test)]
    pub(crate) async fn redirect_for_test(&self, path: &Path) -> Result<(), RecordingError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Redirect(path.to_owned()), Waiter::Durable(tx))?;
        self.wait(Some(rx)).await
    }
}

#[cfg(test)]
impl Spool {
    /// Test hook: from now on every journal sync waits while the returned gate is closed (the
    /// writer still writes and acknowledges lines as written).
    pub(crate) async fn gate_syncs_for_test(&self) -> Arc<writer::SyncGate> {
        let gate = Arc::new(writer::SyncGate::default());
        let (tx, rx) = oneshot::channel();
        let request = Request {
            id: FileId::MAX,
            op: Op::GateSyncs(gate.clone()),
            waiter: Waiter::Durable(tx),
        };
        self.queue.push(request).expect("the writer runs");
        rx.await
            .expect("the writer answers")
            .expect("the gate is set");
        gate
    }

    /// Test hook: sends the journal's next writes to `path` (e.g. `/dev/full`).
    pub(super) async fn redirect_journal_for_test(
        &self,
        path: &Path,
    ) -> Result<(), RecordingError> {
        let (tx, rx) = oneshot::channel();
        let request = Request {
            id: FileId::MAX,
            op: Op::RedirectJournal(path.to_owned()),
            waiter: Waiter::Durable(tx),
        };
        self.queue
            .push(request)
            .map_err(|_| RecordingError::Closed)?;
        rx.await.unwrap_or(Err(RecordingError::Closed))
    }
}

/// What [`Recorder::submit`] waits for.
#[derive(Clone, Copy)]
enum Wait {
    Nothing,
    Written,
    Durable,
}

/// The receiving ends of a request's acknowledgements.
struct Receivers {
    written: Option<AckReceiver>,
    durable: Option<AckReceiver>,
}

impl Wait {
    fn waiter(self) -> (Waiter, Receivers) {
        let mut receivers = Receivers {
            written: None,
            durable: None,
        };
        let channel = |slot: &mut Option<AckReceiver>| {
            let (tx, rx) = oneshot::channel();
            *slot = Some(rx);
            tx
        };
        let waiter = match self {
            Wait::Nothing => Waiter::Nobody,
            Wait::Durable => Waiter::Durable(channel(&mut receivers.durable)),
            Wait::Written => Waiter::Written {
                written: channel(&mut receivers.written),
                durable: channel(&mut receivers.durable),
            },
        };
        (waiter, receivers)
    }
}

/// A line written but not yet on stable storage ([`Recorder::append_written`]).
#[must_use = "a result may be released only once its statement is durable"]
pub struct Syncing {
    ack: Option<AckReceiver>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Syncing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncing")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Syncing {
    /// Resolves once the line is on stable storage; `Err` if it never will be (the recording
    /// is then poisoned).
    pub async fn durable(self) -> Result<(), RecordingError> {
        match self.ack {
            None => Ok(()),
            Some(ack) => ack.await.unwrap_or_else(|_| {
                self.shared
                    .poison("the recording writer thread stopped".to_owned());
                Err(RecordingError::Closed)
            }),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.finished {
            // The connection task ended without `finish` (panic, cancellation, error): release
            // the file; it stays in the spool for recovery and archiving as `terminated`.
            let _ = self.send(Op::Release, Waiter::Nobody);
            if !std::thread::panicking() {
                tracing::warn!(
                    session_id = %self.shared.session_id,
                    "session recording dropped without an end event"
                );
            }
        }
        self.spool
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.shared.session_id);
    }
}
