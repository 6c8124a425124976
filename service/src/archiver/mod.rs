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
//! While the store or the state database is down, the step is retried with backoff; nothing
//! is dropped. After `alert_after` without an answer an alert is logged and audited once
//! (PCI DSS 10.7), and `hoop_archive_store_unreachable_seconds` shows the outage all along.
//! The spool's size is published to the session core ([`SpoolGauge`]), which refuses new sessions
//! above `max_spool_bytes`.
//!
//! Architecture Invariant: a spool recording is deleted only after both of its objects were
//! read back from the store as intended and its archive row was committed.

mod access;
mod config;
mod digests;
mod handoff;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

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

/// The archiver of one replica. Built before the gateway accepts sessions ([`Archiver::new`]
/// checks the store and the key), run as a task.
pub struct Archiver {
    deps: ArchiverDeps,
    store: Arc<dyn WormStore>,
    key: SigningKey,
    sealer: Archive,
    replica: ReplicaName,
    spool: Arc<Spool>,
    gauge: Arc<SpoolGauge>,
    retention: TimeDelta,
    period: Duration,
    alert_after: Duration,
    retry_max: Duration,
    /// Spool files that need an operator: not retried until restart.
    quarantined: HashSet<PathBuf>,
    outage: Outage,
}

impl Archiver {
    /// Opens the store and checks it can hold WORM evidence, and loads the signing key. An
    /// error here stops `hoop serve` before it accepts a session.
    pub async fn new(
        deps: ArchiverDeps,
        config: &ArchiveConfig,
        spool: Arc<Spool>,
        gauge: Arc<SpoolGauge>,
        env: &dyn SecretEnv,
    ) -> Result<Archiver, ArchiverError> {
        let key = config.signing_key(env).map_err(ArchiverError::Config)?;
        let replica = ReplicaName::new(deps.audit.replica()).map_err(|e| {
            ArchiverError::Config(format!("server.replica cannot name digests: {e}"))
        })?;
        let store = config.store.open(&config.s3).await?;
        store.check().await?;
        tracing::info!(store = %store.describe(), key_id = %key.key_id(), retention_days = config.retention_days, "archive store ready");
        if !store.has_locks() {
            tracing::warn!(store = %store.describe(), "the archive store is a folder: files are write-once and read-only, but not WORM against this host's administrators; use an S3 bucket with Object Lock for PCI DSS evidence");
        }
        Ok(Archiver {
            deps,
            store,
            sealer: Archive::new(replica.clone()),
            key,
            replica,
            spool,
            gauge,
            retention: config.retention(),
            period: config.digest_period,
            alert_after: config.alert_after,
            retry_max: config.retry_max,
            quarantined: HashSet::new(),
            outage: Outage::default(),
        })
    }

    /// The store and the auditors, for the API.
    pub fn access(&self, auditors: &[AuditorConfig]) -> Arc<ArchiveAccess> {
        Arc::new(ArchiveAccess::new(self.store.clone(), auditors))
    }

    /// Archives until `stop` resolves (the gateway has ended its sessions), then makes one
    /// last pass bounded by `drain` and returns. What is left stays in the spool for the next
    /// start.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>, drain: Duration) {
        let mut chain = loop {
            match digests::Chain::load(&self).await {
                Ok(chain) => break chain,
                Err(e) => {
                    self.failed("load the digest chain", &e).await;
                    if !e.is_transient() {
                        return;
                    }
                    tokio::time::sleep(self.outage.backoff(self.retry_max)).await;
                }
            }
        };
        tokio::pin!(stop);
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

    /// Due digests, then every finished recording; stops at the first transient failure.
    async fn pass(&mut self, chain: &mut digests::Chain) -> Pass {
        let files = match self.spool.leftovers() {
            Ok(files) => files,
            Err(e) => {
                self.failed("list the spool", &e.into()).await;
                return Pass::Failed;
            }
        };
        // Measured first: while the store is down the gateway must still see the spool grow.
        self.measure_spool(files.len());
        if let Err(e) = chain.write_due(self).await {
            self.failed("write a digest", &e).await;
            return Pass::Failed;
        }
        for path in files {
            if self.quarantined.contains(&path) {
                continue;
            }
            // A period may end while a long backlog drains: its digest comes first.
            if let Err(e) = chain.write_due(self).await {
                self.failed("write a digest", &e).await;
                return Pass::Failed;
            }
            let mut handed = handoff::archive(self, &path).await;
            if matches!(handed, Ok(handoff::Handed::Closed)) {
                handed = handoff::archive(self, &path).await;
            }
            match handed {
                Ok(_) => self.outage.answered(&self.deps).await,
                Err(e) if e.is_transient() => {
                    self.failed("archive a recording", &e).await;
                    return Pass::Failed;
                }
                Err(e) => self.quarantine(&path, &e).await,
            }
        }
        if let Ok(files) = self.spool.leftovers() {
            self.measure_spool(files.len());
        }
        self.outage.answered(&self.deps).await;
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

    /// A transient failure: logged (alert once the store has been down for `alert_after`).
    async fn failed(&mut self, what: &str, error: &ArchiverError) {
        if error.is_store_outage() {
            let alert = self.outage.unreachable(self.alert_after);
            let seconds = self.outage.seconds();
            self.deps
                .metrics
                .archive_store_unreachable_seconds
                .set(seconds as i64);
            if alert {
                tracing::error!(target: "hoop::alert", store = %self.store.describe(), seconds, error = %error, "the archive store has been unreachable for too long; recordings wait in the spool (PCI DSS 10.7)");
                self.audit(
                    Outcome::Error,
                    "store_unreachable",
                    format!(
                        "the archive store {} has not answered for {seconds}s: {error}",
                        self.store.describe()
                    ),
                )
                .await;
            } else {
                tracing::warn!(store = %self.store.describe(), error = %error, "cannot {what}; retrying");
            }
        } else {
            tracing::warn!(error = %error, "cannot {what}; retrying");
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

/// How long the store has been silent, and whether that was alerted.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
    alerted: bool,
    backoff: Option<Backoff>,
}

impl Outage {
    /// Records a failed attempt; `true` once, when the outage first exceeds `alert_after`.
    fn unreachable(&mut self, alert_after: Duration) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        let alert = !self.alerted && since.elapsed() >= alert_after;
        self.alerted |= alert;
        alert
    }

    fn seconds(&self) -> u64 {
        self.since.map_or(0, |s| s.elapsed().as_secs())
    }

    /// The next wait: doubling from [`FIRST_RETRY`] up to `max`, jittered.
    fn backoff(&mut self, max: Duration) -> Duration {
        self.backoff
            .get_or_insert_with(|| Backoff::new(FIRST_RETRY, max))
            .fail()
    }

    /// The store answered: the outage, if any, is over.
    async fn answered(&mut self, deps: &ArchiverDeps) {
        self.backoff = None;
        if let Some(since) = self.since.take() {
            deps.metrics.archive_store_unreachable_seconds.set(0);
            let seconds = since.elapsed().as_secs();
            tracing::info!(seconds, "the archive store answers again");
            if std::mem::take(&mut self.alerted) {
                let event = AuditEvent::new(
                    Action::Archive,
                    Outcome::Success,
                    "store_recovered",
                    format!("the archive store answers again after {seconds}s"),
                );
                if let Err(e) = deps.audit.record(&event).await {
                    tracing::error!(error = %e, "cannot write an archive audit event");
                }
            }
        }
    }
}

/// The session id a spool file is named after.
fn session_of(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}
