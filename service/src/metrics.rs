//! Prometheus metrics served at `GET /metrics`.

use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        Metrics {
            registry,
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
