//! Prometheus metrics served at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
    pub code: String,
}

pub struct Metrics {
    registry: Registry,
    pub exchanges: Family<OutcomeLabels, Counter>,
    pub revocations: Family<OutcomeLabels, Counter>,
    pub expirations: Counter,
    pub exchange_seconds: Histogram,
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
        Metrics {
            registry,
            exchanges,
            revocations,
            expirations,
            exchange_seconds,
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
