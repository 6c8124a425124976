//! The evidence hand-off: finished recordings leave the spool for the WORM store, and every
//! period the replica signs a digest of what it stored.
//!
//! One task per replica ([`Archiver::run`]) does everything in order, so the digest of a
//! period is written only when every archive stored before it is in the store and in the
//! state database:
//! 1. digests that are due ([`digests`]): one per elapsed period, empty ones too;
//! 2. each finished recording in the spool ([`handoff`]): sealed (kept beside the spool until
//!    confirmed, so a retry puts the same bytes), put with Object Lock, read back (HEAD: size,
//!    checksum, lock mode and retain-until), recorded, and only then deleted from the spool;
//! 3. recordings whose recorder went away without an end event are closed as `terminated`
//!    after [`ABANDONED_AFTER`], then archived like the others.
//!
//! The store is checked before anything is put in it ([`WormStore::check`]: Object Lock,
//! versioning). [`Archiver::new`] tries once, at start: a store that answers but cannot hold
//! WORM evidence stops `hoop serve` (nothing has been accepted yet, and a deployment that does
//! not start is the plainest signal); a store that does not answer lets it start, and the task
//! keeps checking in the background while sessions are recorded into the spool. A store found
//! unusable later (it answered only after the start) cannot stop a running server: new sessions
//! are refused instead ([`StoreHealth`], read by the session core and `/readyz`) until a check
//! passes.
//!
//! While the store or the state database is down, the step is retried with backoff; nothing
//! is dropped. `hoop_archive_store_unreachable_seconds` counts the outage from its first failed
//! attempt, every second ([`watch_outage`]), and after `alert_after` an alert is logged and
//! audited once, on time rather than at the next attempt (PCI DSS 10.7). The spool's size is
//! published to the session core ([`SpoolGauge`]), which refuses new sessions above
//! `max_spool_bytes`.
//!
//! Architecture Invariant: a spool recording is deleted only after both of its objects were
//! read back from the store as intended and its archive row was committed.

mod access;
mod audit_window;
mod config;
mod digests;
mod handoff;

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

pub use access::{ArchiveAccess, Auditor};
pub use config::{ArchiveConfig, AuditorConfig, PCI_MIN_RETENTION_DAYS, validate_auditor_name};

use crate::archive::{Archive, ArchiveError, ObjectKey, ReplicaName, SigningKey};
use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::base::{Backoff, SecretEnv};
use crate::metrics::Metrics;
use crate::recording::{RecordingError, Spool, SpoolGauge};
use crate::state::StateError;
use crate::state::Store;
use crate::worm::{Lock, LockMode, StoreError, WormStore};

/// A recording whose recorder is gone, without an end event, for this long is closed as
/// `terminated` (a live session writes far more often; a crash leaves it for ever).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// How often the spool is scanned when nothing wakes the archiver.
const SCAN_INTERVAL: Duration = Duration::from_secs(5);

/// First wait after a failed attempt; doubled up to `retry_max`.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// How long `hoop serve` waits for the store's first check before it starts without it.
pub const START_CHECK_WAIT: Duration = Duration::from_secs(10);

/// How often the outage metric moves while the store is down.
const OUTAGE_TICK: Duration = Duration::from_secs(1);

/// Errors of the hand-off. Whether a step is retried is [`ArchiverError::is_transient`].
#[derive(Debug, thiserror::Error)]
pub enum ArchiverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error("spool I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store holds something else at the key, or holds it without the lock asked for.
    #[error("{key} in {store} is not what hoop stored: {detail}")]
    Conflict {
        store: String,
        key: String,
        detail: String,
    },
    #[error("the archive configuration cannot be used: {0}")]
    Config(String),
}

impl ArchiverError {
    /// Whether retrying later can succeed: an unreachable store or state database, a full
    /// disk. A recording that does not verify, or a conflicting object, needs an operator.
    fn is_transient(&self) -> bool {
        match self {
            ArchiverError::Store(e) => e.is_transient(),
            ArchiverError::State(_) | ArchiverError::Io { .. } => true,
            ArchiverError::Recording(e) => !matches!(e, RecordingError::DoesNotVerify(_)),
            ArchiverError::Archive(ArchiveError::Io { .. }) => true,
            ArchiverError::Archive(_)
            | ArchiverError::Conflict { .. }
            | ArchiverError::Config(_) => false,
        }
    }

    /// Whether the store (rather than the state database or the disk) failed to answer.
    fn is_store_outage(&self) -> bool {
        matches!(self, ArchiverError::Store(e) if e.is_transient())
    }
}

/// What the archiver uses besides its store: hoop's state database (the archives and digests
/// tables), the audit trail and the metrics.
#[derive(Clone)]
pub struct ArchiverDeps {
    pub state: Store,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
}

/// Whether the archive store answered but cannot hold WORM evidence (no Object Lock, no
/// versioning, no such bucket...). Set by the archiver, read by the session core, which
/// refuses new sessions meanwhile, and by `/readyz`.
#[derive(Debug, Default)]
pub struct StoreHealth {
    unusable: Mutex<Option<String>>,
}

impl StoreHealth {
    /// Why the store cannot be used, while it cannot.
    pub fn unusable(&self) -> Option<String> {
        self.unusable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the reason (`None`: usable) and returns the one before.
    fn set_unusable(&self, reason: Option<String>) -> Option<String> {
        let mut current = self.unusable.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, reason)
    }
}

/// The archiver of one replica. Built before the gateway accepts sessions ([`Archiver::new`]
/// loads the key and checks the store once), run as a task.
pub struct Archiver {
    deps: ArchiverDeps,
    store: Arc<dyn WormStore>,
    key: SigningKey,
    sealer: Archive,
    replica: ReplicaName,
    spool: Arc<Spool>,
    gauge: Arc<SpoolGauge>,
    health: Arc<StoreHealth>,
    retention: TimeDelta,
    /// How long the state database keeps audit events.
    audit_keep: TimeDelta,
    period: Duration,
    alert_after: Duration,
    retry_max: Duration,
    /// Spool files that need an operator: not retried until restart.
    quarantined: HashSet<PathBuf>,
    outage: Arc<Outage>,
    /// The store passed [`WormStore::check`]; nothing is put in it before.
    checked: bool,
}

impl Archiver {
    /// Loads the signing key, opens the store and checks it once, for at most
    /// [`START_CHECK_WAIT`]. An error here stops `hoop serve` before it accepts a session: a key
    /// that cannot sign, or a store that answers but cannot hold WORM evidence
    /// ([`StoreError::Unusable`]). A store that does not answer is no error: the archiver starts
    /// with an outage and checks again in the background ([`Archiver::run`]).
    pub async fn new(
        deps: ArchiverDeps,
        config: &ArchiveConfig,
        spool: Arc<Spool>,
        gauge: Arc<SpoolGauge>,
        health: Arc<StoreHealth>,
        env: &dyn SecretEnv,
    ) -> Result<Archiver, ArchiverError> {
        let key = config.signing_key(env).map_err(ArchiverError::Config)?;
        let replica = ReplicaName::new(deps.audit.replica()).map_err(|e| {
            ArchiverError::Config(format!("server.replica cannot name digests: {e}"))
        })?;
        let store = config.store.open(&config.s3).await?;
        let mut archiver = Archiver {
            deps,
            store,
            sealer: Archive::new(replica.clone()),
            key,
            replica,
            spool,
            gauge,
            health,
            retention: config.retention(),
            audit_keep: TimeDelta::days(i64::from(config.audit_keep_days)),
            period: config.digest_period,
            alert_after: config.alert_after,
            retry_max: config.retry_max,
            quarantined: HashSet::new(),
            outage: Arc::new(Outage::default()),
            checked: false,
        };
        let checked = match tokio::time::timeout(START_CHECK_WAIT, archiver.store.check()).await {
            Ok(checked) => checked,
            Err(_) => Err(StoreError::Unavailable {
                store: archiver.store.describe(),
                reason: format!(
                    "no answer to the start-up check within {}s",
                    START_CHECK_WAIT.as_secs()
                ),
            }),
        };
        match checked {
            Ok(()) => archiver.ready(),
            Err(e) if e.is_transient() => archiver.start_unchecked(e).await,
            Err(e) => return Err(e.into()),
        }
        Ok(archiver)
    }

    /// The store passed its check: archiving can start.
    fn ready(&mut self) {
        self.checked = true;
        tracing::info!(store = %self.store.describe(), key_id = %self.key.key_id(), retention_days = self.retention.num_days(), "archive store ready");
        if !self.store.has_locks() {
            tracing::warn!(store = %self.store.describe(), "the archive store is a folder: files are write-once and read-only, but not WORM against this host's administrators; use an S3 bucket with Object Lock for PCI DSS evidence");
        }
    }

    /// The store did not answer at start: hoop starts anyway, with an outage from now on.
    async fn start_unchecked(&mut self, error: StoreError) {
        self.outage.failed(&error.to_string());
        tracing::warn!(store = %self.store.describe(), error = %error, "starting without the archive store: sessions are recorded into the spool and archived once the store answers and passes its check (Object Lock, versioning), which is retried in the background");
        self.audit(
            Outcome::Error,
            "store_unchecked",
            format!(
                "started without checking the archive store ({error}); recordings wait in the \
                 spool until it answers and passes its check"
            ),
        )
        .await;
    }

    /// The store and the auditors, for the API.
    pub fn access(&self, auditors: &[AuditorConfig]) -> Arc<ArchiveAccess> {
        Arc::new(ArchiveAccess::new(self.store.clone(), auditors))
    }

    /// Archives until `stop` resolves (the gateway has ended its sessions), then makes one
    /// last pass bounded by `drain` and returns. What is left stays in the spool for the next
    /// start. Beside the work, the outage watch keeps the unreachable-seconds metric current
    /// and raises the alert on time.
    pub async fn run(mut self, stop: impl Future<Output = ()>, drain: Duration) {
        let watch = watch_outage(
            self.outage.clone(),
            self.deps.metrics.clone(),
            self.alert_after,
            AlertLog {
                audit: self.deps.audit.clone(),
                store: self.store.describe(),
            },
        );
        tokio::select! {
            () = watch => {}
            () = self.work(stop, drain) => {}
        }
    }

    async fn work(&mut self, stop: impl Future<Output = ()>, drain: Duration) {
        tokio::pin!(stop);
        if !self.checked && !self.check_until_usable(&mut stop).await {
            return;
        }
        let mut chain = loop {
            match digests::Chain::load(self).await {
                Ok(chain) => break chain,
                Err(e) => {
                    self.failed("load the digest chain", &e);
                    if !e.is_transient() {
                        return;
                    }
                    let pause = self.outage.backoff(self.retry_max);
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        };
        loop {
            let waited = self.pass(&mut chain).await;
            let pause = match waited {
                Pass::Done => chain.until_due(Utc::now()).min(SCAN_INTERVAL),
                Pass::Failed => self.outage.backoff(self.retry_max),
            };
            tokio::select! {
                () = &mut stop => break,
                () = self.gauge.finished() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        if tokio::time::timeout(drain, self.pass(&mut chain))
            .await
            .is_err()
        {
            tracing::warn!(
                "the archiver's last pass did not finish before shutdown; the rest is archived at the next start"
            );
        }
    }

    /// The store's check, until it passes; `false` when `stop` came first. Meanwhile the spool
    /// is measured (`max_spool_bytes` holds while the store is away), a store that does not
    /// answer is an outage, and one that answers but cannot be used refuses new sessions.
    async fn check_until_usable(&mut self, stop: &mut (impl Future<Output = ()> + Unpin)) -> bool {
        loop {
            if let Ok(files) = self.spool.leftovers() {
                self.measure_spool(files.len());
            }
            let pause = match self.store.check().await {
                Ok(()) => {
                    self.usable().await;
                    return true;
                }
                Err(e) if e.is_transient() => {
                    self.failed("check the archive store", &e.into());
                    self.outage.backoff(self.retry_max)
                }
                Err(e) => {
                    self.unusable(&e).await;
                    self.retry_max
                }
            };
            tokio::select! {
                () = &mut *stop => return false,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// A check passed after the start: new sessions are admitted again (if they were refused),
    /// and archiving starts.
    async fn usable(&mut self) {
        self.answered().await;
        let was_unusable = self.health.set_unusable(None).is_some();
        self.deps.metrics.archive_store_unusable.set(0);
        self.ready();
        self.audit(
            Outcome::Success,
            "store_checked",
            format!(
                "the archive store {} answers and can hold WORM evidence; archiving starts{}",
                self.store.describe(),
                if was_unusable {
                    " and new sessions are admitted again"
                } else {
                    ""
                }
            ),
        )
        .await;
    }

    /// The store answered but cannot hold WORM evidence: fail closed, as a start would have
    /// (new sessions refused, alerted and audited once per reason), and check again later.
    async fn unusable(&mut self, error: &StoreError) {
        self.answered().await;
        let reason = error.to_string();
        let before = self.health.set_unusable(Some(reason.clone()));
        self.deps.metrics.archive_store_unusable.set(1);
        if before.as_deref() == Some(reason.as_str()) {
            tracing::debug!(error = %reason, "the archive store still cannot be used");
            return;
        }
        tracing::error!(target: "hoop::alert", store = %self.store.describe(), error = %reason, "the archive store cannot hold WORM evidence: new gateway sessions are refused until it is fixed; recordings wait in the spool (PCI DSS 10.5)");
        self.audit(
            Outcome::Error,
            "store_unusable",
            format!("new gateway sessions are refused: {reason}"),
        )
        .await;
    }

    /// Due digests, then every finished recording; stops at the first transient failure.
    async fn pass(&mut self, chain: &mut digests::Chain) -> Pass {
        let files = match self.spool.leftovers() {
            Ok(files) => files,
            Err(e) => {
                self.failed("list the spool", &e.into());
                return Pass::Failed;
            }
        };
        // Measured first: while the store is down the gateway must still see the spool grow.
        self.measure_spool(files.len());
        if let Err(e) = chain.write_due(self).await {
            self.failed("write a digest", &e);
            return Pass::Failed;
        }
        for path in files {
            if self.quarantined.contains(&path) {
                continue;
            }
            // A period may end while a long backlog drains: its digest comes first.
            if let Err(e) = chain.write_due(self).await {
                self.failed("write a digest", &e);
                return Pass::Failed;
            }
            let mut handed = handoff::archive(self, &path).await;
            if matches!(handed, Ok(handoff::Handed::Closed)) {
                handed = handoff::archive(self, &path).await;
            }
            match handed {
                Ok(_) => self.answered().await,
                Err(e) if e.is_transient() => {
                    self.failed("archive a recording", &e);
                    return Pass::Failed;
                }
                Err(e) => self.quarantine(&path, &e).await,
            }
        }
        if let Ok(files) = self.spool.leftovers() {
            self.measure_spool(files.len());
        }
        self.answered().await;
        Pass::Done
    }

    /// Publishes the spool's size (every recording, live ones too) and the backlog.
    fn measure_spool(&self, waiting: usize) {
        let bytes = std::fs::read_dir(self.spool.dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0);
        self.gauge.measured(bytes);
        let metrics = &self.deps.metrics;
        metrics.spool_bytes.set(bytes as i64);
        metrics.archive_backlog.set(waiting as i64);
    }

    /// A transient failure, logged. A store that does not answer starts (or goes on with) an
    /// outage: the metric moves now, the watch does the rest.
    fn failed(&self, what: &str, error: &ArchiverError) {
        if error.is_store_outage() {
            let length = self.outage.failed(&error.to_string());
            self.deps
                .metrics
                .archive_store_unreachable_seconds
                .set(i64::try_from(length.as_secs()).unwrap_or(i64::MAX));
            tracing::warn!(store = %self.store.describe(), seconds = length.as_secs(), error = %error, "cannot {what}; retrying");
        } else {
            tracing::warn!(error = %error, "cannot {what}; retrying");
        }
    }

    /// The store answered: an outage, if any, is over (metric back to 0, audited when it had
    /// been alerted).
    async fn answered(&self) {
        let Some(ended) = self.outage.answered() else {
            return;
        };
        self.deps.metrics.archive_store_unreachable_seconds.set(0);
        let seconds = ended.length.as_secs();
        tracing::info!(store = %self.store.describe(), seconds, "the archive store answers again");
        if ended.alerted {
            self.audit(
                Outcome::Success,
                "store_recovered",
                format!(
                    "the archive store {} answers again after {seconds}s",
                    self.store.describe()
                ),
            )
            .await;
        }
    }

    /// A recording that cannot be archived as it is: left in the spool, alerted, audited.
    async fn quarantine(&mut self, path: &Path, error: &ArchiverError) {
        tracing::error!(target: "hoop::alert", path = %path.display(), error = %error, "a recording cannot be archived; it stays in the spool for inspection");
        self.deps.metrics.archives_quarantined.inc();
        self.quarantined.insert(path.to_owned());
        let session = session_of(path).unwrap_or_default();
        if let Ok(client) = self.deps.state.client().await
            && let Err(e) = crate::state::archives::mark_quarantined(&client, &session).await
        {
            tracing::warn!(error = %e, "cannot mark a session quarantined");
        }
        self.audit(
            Outcome::Error,
            "recording_quarantined",
            format!("session {session}: {error}"),
        )
        .await;
    }

    async fn audit(&self, outcome: Outcome, code: &str, message: String) {
        let event = AuditEvent::new(Action::Archive, outcome, code, message);
        if let Err(e) = self.deps.audit.record(&event).await {
            tracing::error!(error = %e, code, "cannot write an archive audit event");
        }
    }

    /// The lock of an object about an event that happened at `at`: COMPLIANCE until `at` plus
    /// the retention, in whole seconds rounded up, and at least a day ahead (a store refuses a
    /// date in the past; an old recording found late is still kept a day).
    fn lock_from(&self, at: DateTime<Utc>) -> Lock {
        let until = (at + self.retention).max(Utc::now() + TimeDelta::days(1));
        let whole = DateTime::from_timestamp(until.timestamp() + 1, 0).unwrap_or(until);
        Lock {
            mode: LockMode::Compliance,
            retain_until: whole,
        }
    }

    /// Puts `bytes` at `key` unless the store already holds exactly them, then reads the
    /// object back and checks it is what was meant: size, checksum, and the lock.
    async fn put_confirmed(
        &self,
        key: &ObjectKey,
        bytes: &[u8],
        lock: Lock,
    ) -> Result<(), ArchiverError> {
        // The store refuses a key that exists (If-None-Match on S3, an exclusive create in a
        // folder): a retry after a crash, or a put whose answer was lost, then checks what is
        // there instead.
        match self
            .store
            .put(key, bytes::Bytes::copy_from_slice(bytes), lock)
            .await
        {
            Ok(()) | Err(StoreError::Exists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let info = self
            .store
            .head(key)
            .await?
            .ok_or_else(|| StoreError::Unavailable {
                store: self.store.describe(),
                reason: format!("{key} was put but is not there yet"),
            })?;
        let conflict = |detail: String| ArchiverError::Conflict {
            store: self.store.describe(),
            key: key.to_string(),
            detail,
        };
        if info.size != bytes.len() as u64 {
            return Err(conflict(format!(
                "{} bytes stored, {} meant",
                info.size,
                bytes.len()
            )));
        }
        let sha = crate::archive::Sha256::of(bytes);
        match info.sha256 {
            Some(stored) if stored != sha => {
                return Err(conflict("its SHA-256 differs from what was put".into()));
            }
            Some(_) => {}
            // The store reports no checksum (a folder): compare the bytes themselves.
            None => {
                if self.store.get(key).await?.as_ref() != bytes {
                    return Err(conflict("its content differs from what was put".into()));
                }
            }
        }
        if self.store.has_locks() {
            match info.lock {
                Some(l)
                    if l.mode == LockMode::Compliance
                        && l.retain_until >= lock.retain_until - TimeDelta::seconds(1) => {}
                Some(l) => {
                    return Err(conflict(format!(
                        "locked in {} mode until {}, meant COMPLIANCE until {}",
                        l.mode.as_str(),
                        l.retain_until,
                        lock.retain_until
                    )));
                }
                None => return Err(conflict("it carries no Object Lock retention".into())),
            }
        }
        Ok(())
    }
}

enum Pass {
    Done,
    Failed,
}

/// How long the store has been silent, and whether that was alerted. Shared by the archiver,
/// which records its attempts, and [`watch_outage`], which turns the outage into the metric and
/// the alert as time passes, whatever the attempts are doing.
#[derive(Default)]
struct Outage {
    state: Mutex<OutageState>,
    /// An outage started: the watch looks at once rather than at its next tick.
    started: Notify,
}

#[derive(Default)]
struct OutageState {
    /// The first failed attempt of the outage.
    since: Option<Instant>,
    alerted: bool,
    /// The latest failure, for the alert.
    error: String,
    backoff: Option<Backoff>,
}

/// What the watch does at one instant.
#[derive(Debug, PartialEq, Eq)]
struct WatchStep {
    /// The outage's length (zero without one): the metric.
    length: Duration,
    /// The alert, due now and not raised before: the latest error.
    alert: Option<String>,
    /// When to look again: the next tick, or the alert's due time if sooner.
    next: Instant,
}

/// An outage that ended: its length, and whether it had been alerted.
struct Ended {
    length: Duration,
    alerted: bool,
}

impl Outage {
    fn state(&self) -> std::sync::MutexGuard<'_, OutageState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a failed attempt: the outage starts now unless it already runs. Returns its
    /// length.
    fn failed(&self, error: &str) -> Duration {
        let now = Instant::now();
        let mut state = self.state();
        state.error = error.to_owned();
        let since = match state.since {
            Some(since) => since,
            None => {
                state.since = Some(now);
                self.started.notify_one();
                now
            }
        };
        now.saturating_duration_since(since)
    }

    /// Where the outage stands at `now`; marks the alert raised when it is due.
    fn step(&self, now: Instant, alert_after: Duration) -> WatchStep {
        let mut state = self.state();
        let tick = now + OUTAGE_TICK;
        let Some(since) = state.since else {
            return WatchStep {
                length: Duration::ZERO,
                alert: None,
                next: tick,
            };
        };
        let length = now.saturating_duration_since(since);
        let due = since + alert_after;
        let alert = (!state.alerted && now >= due).then(|| state.error.clone());
        state.alerted |= alert.is_some();
        WatchStep {
            length,
            alert,
            next: if state.alerted { tick } else { tick.min(due) },
        }
    }

    /// The next wait: doubling from [`FIRST_RETRY`] up to `max`, jittered.
    fn backoff(&self, max: Duration) -> Duration {
        self.state()
            .backoff
            .get_or_insert_with(|| Backoff::new(FIRST_RETRY, max))
            .fail()
    }

    /// The store answered: the outage that was running, if any.
    fn answered(&self) -> Option<Ended> {
        let mut state = self.state();
        state.backoff = None;
        let since = state.since.take()?;
        Some(Ended {
            length: since.elapsed(),
            alerted: std::mem::take(&mut state.alerted),
        })
    }
}

/// Where the alert of an outage goes: the alert log and the audit trail ([`AlertLog`]), or a
/// test's list.
trait OutageAlerts {
    fn alert(&self, seconds: u64, error: &str) -> impl Future<Output = ()> + Send;
}

/// The alert of a long outage, as an operator sees it: a `hoop::alert` log line and a
/// `store_unreachable` audit event.
struct AlertLog {
    audit: AuditLog,
    store: String,
}

impl OutageAlerts for AlertLog {
    async fn alert(&self, seconds: u64, error: &str) {
        tracing::error!(target: "hoop::alert", store = %self.store, seconds, error = %error, "the archive store has been unreachable for too long; recordings wait in the spool (PCI DSS 10.7)");
        let event = AuditEvent::new(
            Action::Archive,
            Outcome::Error,
            "store_unreachable",
            format!("no answer from the archive store for {seconds}s: {error}"),
        );
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, code = "store_unreachable", "cannot write an archive audit event");
        }
    }
}

/// Keeps `hoop_archive_store_unreachable_seconds` current while the store is down (every
/// [`OUTAGE_TICK`], from the first failed attempt) and raises the alert once the outage is
/// `alert_after` old, at that moment rather than at the next attempt. Runs until dropped.
async fn watch_outage(
    outage: Arc<Outage>,
    metrics: Arc<Metrics>,
    alert_after: Duration,
    alerts: impl OutageAlerts,
) {
    loop {
        let step = outage.step(Instant::now(), alert_after);
        metrics
            .archive_store_unreachable_seconds
            .set(i64::try_from(step.length.as_secs()).unwrap_or(i64::MAX));
        if let Some(error) = &step.alert {
            alerts.alert(step.length.as_secs(), error).await;
        }
        tokio::select! {
            () = tokio::time::sleep_until(step.next) => {}
            () = outage.started.notified() => {}
        }
    }
}

/// The session id a spool file is named after.
fn session_of(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alerts a watch raised: when, the outage's length then, and the error.
    #[derive(Clone, Default)]
    struct Raised(Arc<Mutex<Vec<(Instant, u64, String)>>>);

    impl Raised {
        fn all(&self) -> Vec<(Instant, u64, String)> {
            self.0.lock().unwrap().clone()
        }
    }

    impl OutageAlerts for Raised {
        async fn alert(&self, seconds: u64, error: &str) {
            let raised = (Instant::now(), seconds, error.to_owned());
            self.0.lock().unwrap().push(raised);
        }
    }

    fn unreachable_seconds(metrics: &Metrics) -> i64 {
        metrics.archive_store_unreachable_seconds.get()
    }

    /// Waits until `offset` after `origin` on the paused clock (which jumps to the next timer
    /// whenever every task waits, so the watch runs exactly as it would in that time).
    async fn at(origin: Instant, offset: Duration) {
        tokio::time::sleep_until(origin + offset).await;
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[tokio::test(start_paused = true)]
    async fn the_outage_metric_counts_from_the_first_failure_and_the_alert_fires_at_alert_after() {
        let outage = Arc::new(Outage::default());
        let metrics = Arc::new(Metrics::new());
        let raised = Raised::default();
        let watch = tokio::spawn(watch_outage(
            outage.clone(),
            metrics.clone(),
            Duration::from_secs(20),
            raised.clone(),
        ));
        let origin = Instant::now();
        at(origin, secs(2.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 0, "no outage yet");

        // The first failed attempt starts the outage; the next attempts come rarely (backoff).
        let first = Instant::now();
        outage.failed("cannot reach it: connection refused");
        at(first, secs(0.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 0);
        at(first, secs(16.0)).await;
        outage.failed("cannot reach it: connection refused (again)");
        at(first, secs(16.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 16);
        // No attempt for a while: the metric goes on moving.
        at(first, secs(18.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 18);
        at(first, secs(19.9)).await;
        assert!(raised.all().is_empty(), "alerted before alert_after");

        // The alert comes at alert_after from the first failure, not at the next attempt.
        at(first, secs(20.5)).await;
        let alerts = raised.all();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let (when, seconds, error) = &alerts[0];
        assert_eq!(*when, first + Duration::from_secs(20));
        assert_eq!(*seconds, 20);
        assert_eq!(error, "cannot reach it: connection refused (again)");
        at(first, secs(33.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 33);
        assert_eq!(raised.all().len(), 1, "one alert per outage");

        // The store answers: the outage is over, and a new one is measured and alerted anew.
        let ended = outage.answered().expect("an outage was running");
        assert!(ended.alerted);
        assert_eq!(ended.length.as_secs(), 33);
        at(first, secs(34.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 0);
        let second = Instant::now();
        outage.failed("the request timed out");
        at(second, secs(5.5)).await;
        assert_eq!(unreachable_seconds(&metrics), 5);
        at(second, secs(20.5)).await;
        let alerts = raised.all();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(alerts[1].0, second + Duration::from_secs(20));
        watch.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_alert_after_shorter_than_a_tick_is_still_on_time() {
        let outage = Arc::new(Outage::default());
        let metrics = Arc::new(Metrics::new());
        let raised = Raised::default();
        let watch = tokio::spawn(watch_outage(
            outage.clone(),
            metrics,
            Duration::from_millis(300),
            raised.clone(),
        ));
        let origin = Instant::now();
        at(origin, secs(0.7)).await;
        let first = Instant::now();
        outage.failed("down");
        at(first, secs(0.5)).await;
        let alerts = raised.all();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].0, first + Duration::from_millis(300));
        watch.abort();
    }

    #[test]
    fn store_health_reports_the_reason_until_it_is_cleared() {
        let health = StoreHealth::default();
        assert_eq!(health.unusable(), None);
        assert_eq!(health.set_unusable(Some("no Object Lock".into())), None);
        assert_eq!(health.unusable().as_deref(), Some("no Object Lock"));
        assert_eq!(health.set_unusable(None).as_deref(), Some("no Object Lock"));
        assert_eq!(health.unusable(), None);
    }
}
