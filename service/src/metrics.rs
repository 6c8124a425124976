//! Prometheus metrics served at `GET /metrics`.

use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
    pub code: String,
}

/// The steps of a token exchange, timed separately so the cost of each is visible.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Phase {
    /// Token verification (JWKS cache, signature, claims).
    Verify,
    /// Replay guard, trust rules and the credential row, in one state transaction.
    State,
    /// `CREATE ROLE` upstream.
    UpstreamRole,
    /// Activation and audit event, in one state transaction.
    Activate,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: Phase,
}

/// Times consecutive phases: each `mark` records the time since the previous one.
pub struct PhaseTimer(Instant);

impl PhaseTimer {
    pub fn start() -> Self {
        PhaseTimer(Instant::now())
    }

    pub fn mark(&mut self, metrics: &Metrics, phase: Phase) {
        let now = Instant::now();
        metrics
            .exchange_phase_seconds
            .get_or_create(&PhaseLabels { phase })
            .observe((now - self.0).as_secs_f64());
        self.0 = now;
    }
}

pub struct Metrics {
    registry: Registry,
    pub exchanges: Family<OutcomeLabels, Counter>,
    pub revocations: Family<OutcomeLabels, Counter>,
    pub expirations: Counter,
    pub exchange_seconds: Histogram,
    pub exchange_phase_seconds: Family<PhaseLabels, Histogram>,
    /// Gateway logins by outcome and code (`connected`, `password_failed`, ...).
    pub logins: Family<OutcomeLabels, Counter>,
    pub sessions_live: Gauge,
    /// Statements recorded and forwarded, counted when their session ends.
    pub statements: Counter,
    /// Sessions refused or ended because their recording could not be written (PCI DSS 10.7).
    pub recording_failures: Counter,
    /// Result values masked by the gateway (counted when their session ends).
    pub masked_values: Counter,
    /// Statements the statement policy denied (counted when their session ends).
    pub statements_denied: Counter,
    /// Statements held for an approval, whatever came of it (counted when their session ends).
    pub statements_held: Counter,
    /// Session archives stored and confirmed in the archive store.
    pub archives_stored: Counter,
    /// Digests stored and confirmed in the archive store.
    pub digests_stored: Counter,
    /// Recordings left in the spool because they do not verify (an operator must look).
    pub archives_quarantined: Counter,
    /// Finished recordings in the spool waiting for the archive store.
    pub archive_backlog: Gauge,
    /// Bytes of the spool's recordings, live and waiting (what `max_spool_bytes` bounds).
    pub spool_bytes: Gauge,
    /// Seconds since the first failed attempt of an outage of the archive store, moving every
    /// second while it lasts; 0 while the store answers (PCI DSS 10.7: alert on it).
    pub archive_store_unreachable_seconds: Gauge,
    /// 1 while the archive store answers but cannot hold WORM evidence (no Object Lock, no
    /// versioning, no bucket), when new sessions are refused; 0 otherwise.
    pub archive_store_unusable: Gauge,
    /// The recording journal's syncs: how long each takes and how many statements it serves.
    pub journal: JournalMetrics,
}

/// What the recording writer measures of its journal syncs (group commit).
#[derive(Clone, Debug)]
pub struct JournalMetrics {
    /// Seconds per `fdatasync` of the journal.
    pub sync_seconds: Histogram,
    /// Statements (and other waited-for events) each sync made durable: 1 at one client,
    /// more as sessions share a sync. Its `_count` is the number of syncs.
    pub statements_per_sync: Histogram,
}

impl Default for JournalMetrics {
    fn default() -> Self {
        JournalMetrics {
            sync_seconds: Histogram::new(exponential_buckets(0.000_025, 2.0, 14)),
            statements_per_sync: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
        }
    }
}

impl JournalMetrics {
    pub fn observe_sync(&self, took: std::time::Duration, statements: usize) {
        self.sync_seconds.observe(took.as_secs_f64());
        self.statements_per_sync.observe(statements as f64);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hoop");
        let exchanges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "exchanges",
            "Token exchanges by outcome and code",
            exchanges.clone(),
        );
        let revocations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "revocations",
            "Credential revocations by outcome and code",
            revocations.clone(),
        );
        let expirations = Counter::default();
        registry.register(
            "credentials_retired_by_reaper",
            "Credentials whose upstream role the reaper dropped",
            expirations.clone(),
        );
        let exchange_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "exchange_duration_seconds",
            "Time to answer a token exchange",
            exchange_seconds.clone(),
        );
        let exchange_phase_seconds = Family::<PhaseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "exchange_phase_duration_seconds",
            "Time spent in each phase of successful token exchanges",
            exchange_phase_seconds.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "gateway_logins",
            "Gateway logins by outcome and code",
            logins.clone(),
        );
        let sessions_live = Gauge::default();
        registry.register(
            "gateway_sessions_live",
            "Gateway sessions open now",
            sessions_live.clone(),
        );
        let statements = Counter::default();
        registry.register(
            "gateway_statements",
            "Statements recorded and forwarded (counted at session end)",
            statements.clone(),
        );
        let recording_failures = Counter::default();
        registry.register(
            "gateway_recording_failures",
            "Sessions refused or ended because their recording could not be written",
            recording_failures.clone(),
        );
        let masked_values = Counter::default();
        registry.register(
            "gateway_masked_values",
            "Result values masked (card numbers, custom detectors, column rules), counted at session end",
            masked_values.clone(),
        );
        let statements_denied = Counter::default();
        registry.register(
            "gateway_statements_denied",
            "Statements the statement policy denied, counted at session end",
            statements_denied.clone(),
        );
        let statements_held = Counter::default();
        registry.register(
            "gateway_statements_held",
            "Statements held for a just-in-time approval, counted at session end",
            statements_held.clone(),
        );
        let archives_stored = Counter::default();
        registry.register(
            "archives_stored",
            "Session archives stored and confirmed in the archive store",
            archives_stored.clone(),
        );
        let digests_stored = Counter::default();
        registry.register(
            "archive_digests_stored",
            "Signed period digests stored and confirmed in the archive store",
            digests_stored.clone(),
        );
        let archives_quarantined = Counter::default();
        registry.register(
            "archives_quarantined",
            "Recordings left in the spool because they do not verify",
            archives_quarantined.clone(),
        );
        let archive_backlog = Gauge::default();
        registry.register(
            "archive_backlog",
            "Finished recordings in the spool waiting to be archived",
            archive_backlog.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register(
            "spool_bytes",
            "Bytes of session recordings in the spool, live and waiting",
            spool_bytes.clone(),
        );
        let archive_store_unreachable_seconds = Gauge::default();
        registry.register(
            "archive_store_unreachable_seconds",
            "Seconds since the first failed attempt of an archive store outage; 0 while the store answers",
            archive_store_unreachable_seconds.clone(),
        );
        let archive_store_unusable = Gauge::default();
        registry.register(
            "archive_store_unusable",
            "1 while the archive store answers but cannot hold WORM evidence and new sessions are refused",
            archive_store_unusable.clone(),
        );
        let journal = JournalMetrics::default();
        registry.register(
            "journal_sync_seconds",
            "Time per fdatasync of the recording journal",
            journal.sync_seconds.clone(),
        );
        registry.register(
            "journal_statements_per_sync",
            "Statements each recording journal sync made durable (group commit across sessions)",
            journal.statements_per_sync.clone(),
        );
        Metrics {
            registry,
            journal,
            archives_stored,
            digests_stored,
            archives_quarantined,
            archive_backlog,
            spool_bytes,
            archive_store_unreachable_seconds,
            archive_store_unusable,
            masked_values,
            statements_denied,
            statements_held,
            logins,
            sessions_live,
            statements,
            recording_failures,
            exchanges,
            revocations,
            expirations,
            exchange_seconds,
            exchange_phase_seconds,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
