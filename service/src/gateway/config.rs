//! `[gateway]`: the PostgreSQL gateway's listener limits, TLS files and spool.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// PEM certificate chain clients see; with `tls_key`. Without both, a certificate is
    /// generated at start, signed by a CA derived from `server.secret_key`, and the exchange
    /// hands that CA out.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) the exchange hands to jobs (`ca_cert`) so their clients can use
    /// `sslmode=verify-full`; must verify `tls_cert` for the public host. Leave it out when the
    /// certificate chains to a CA the jobs already trust.
    pub tls_ca: Option<PathBuf>,
    /// Refuse clients that do not ask for TLS (default true). Credentials are passwords.
    #[serde(default = "defaults::require_tls")]
    pub require_tls: bool,
    /// Directory of the session recordings (created 0700 if missing).
    #[serde(default = "defaults::spool_dir")]
    pub spool_dir: PathBuf,
    /// Largest protocol message accepted, in bytes (a larger one closes that connection).
    #[serde(default = "defaults::max_message_bytes")]
    pub max_message_bytes: usize,
    /// Time a client has to finish TLS, startup and authentication.
    #[serde(default = "defaults::handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// How long a stopping gateway (SIGTERM) lets live sessions finish after telling them;
    /// what is still open then ends with FATAL 57P01 (default 30s).
    #[serde(default = "defaults::drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            require_tls: defaults::require_tls(),
            spool_dir: defaults::spool_dir(),
            max_message_bytes: defaults::max_message_bytes(),
            handshake_timeout: defaults::handshake_timeout(),
            drain_timeout: defaults::drain_timeout(),
        }
    }
}

mod defaults {
    use super::*;

    pub fn require_tls() -> bool {
        true
    }
    pub fn drain_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn spool_dir() -> PathBuf {
        PathBuf::from("hoop-spool")
    }
    pub fn max_message_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn handshake_timeout() -> Duration {
        Duration::from_secs(15)
    }
}
