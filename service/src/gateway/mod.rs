//! The PostgreSQL gateway: clients connect with their run credential; the gateway
//! authenticates them, logs in upstream as the run role, and relays the session while
//! deciding and recording every statement before it runs and masking what comes back.
//!
//! - [`session`]: one connection's lifecycle (negotiate, authenticate, open, relay, close).
//! - [`relay`]: the frame-by-frame relay and what it records.
//! - [`policy`]: the statement policy's decisions, and denials raised upstream.
//! - [`encoding`]: one client encoding (UTF-8), and how other encodings would re-read a text.
//! - [`hold`]: a statement held for approval: the client's notices, how a hold ends.
//! - [`masking`] with [`results`] and [`catalog`]: result masking, row typing, column names.
//! - [`upstream`]: the gateway's login upstream and upstream cancels.
//! - [`registry`]: live sessions (ending them on revocation) and cancel keys.
//! - [`stream`]: plain or TLS client streams behind one type.
//! - [`in_memory`]: a session relayed over in-memory streams, for the relay's tests and benchmark.

mod cancels;
mod catalog;
mod config;
pub mod encoding;
mod hold;
pub mod in_memory;
mod masking;
mod policy;
mod relay;
mod results;
mod session;
mod stream;
mod upstream;

use std::sync::Arc;

use hoop_protocol::startup::CancelKey;
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

use crate::base::Shutdown;
use crate::gateway_tls::{GatewayTls, TlsError};
use crate::session::{Core, Ending};

pub use catalog::{Catalog, LiveCatalog};
pub use config::GatewayConfig;
pub use policy::{CatalogLookup, InForce, Ruling, StatementPolicy};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The PostgreSQL protocol adapter over the session core.
pub struct Gateway {
    core: Arc<Core>,
    tls: GatewayTls,
    config: GatewayConfig,
    /// Classifies and decides every statement before it is forwarded.
    statements: StatementPolicy,
    /// Names result columns for column masking rules.
    catalog: catalog::Catalog,
    /// Where a client's CancelRequest goes upstream.
    cancels: cancels::Cancels,
    /// Keys the fake SCRAM verifiers of unknown users; derived from the server key so an unknown
    /// user's salt stays the same across restarts and replicas, as a real user's does.
    mock_key: [u8; 32],
}

impl Gateway {
    /// Loads or generates the TLS certificate.
    pub fn new(
        core: Arc<Core>,
        config: GatewayConfig,
        statements: StatementPolicy,
        public_host: &str,
    ) -> Result<Gateway, GatewayError> {
        let tls = load_tls(&config, public_host, &core.upstreams().derived_key(CA_SEED))?;
        let mock_key = core.upstreams().derived_key("scram mock verifier");
        Ok(Gateway {
            core,
            tls,
            config,
            statements,
            catalog: catalog::Catalog::default(),
            cancels: cancels::Cancels::default(),
            mock_key,
        })
    }

    pub fn tls(&self) -> &GatewayTls {
        &self.tls
    }

    /// The statement policy, whose rules a reload replaces.
    pub fn statements(&self) -> &StatementPolicy {
        &self.statements
    }

    /// Forwards a client's CancelRequest to the upstream its key maps to; a stale or foreign
    /// key cancels nothing.
    async fn cancel(&self, key: &CancelKey) {
        match self.cancels.target(key) {
            Some(target) => {
                // Only a statement held right now hears it; a later hold is not cancelled.
                target.held.notify_waiters();
                upstream::cancel(&target.upstream, &target.upstream_key).await
            }
            None => tracing::info!(pid = key.pid, "cancel request with an unknown key ignored"),
        }
    }
}

/// Accepts gateway connections until `shutdown`, then drains: no new connection or session,
/// the live sessions told and given `gateway.drain_timeout` to finish, the rest ended with
/// FATAL 57P01. Returns once every session has closed its recording (or [`CLOSE_WAIT`] passed).
pub async fn run(gateway: Arc<Gateway>, listener: TcpListener, shutdown: Shutdown) {
    let ender = tokio::spawn(end_revoked_sessions(gateway.clone()));
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(session::serve(gateway.clone(), tcp, peer));
                }
                // Out of file descriptors and the like: keep serving the sessions we have.
                Err(e) => {
                    tracing::warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    drain(&gateway).await;
    ender.abort();
}

/// How long ended sessions get to close their recordings before the gateway stops waiting.
/// The purpose of the `server.secret_key` derivation that seeds the generated gateway CA.
pub const CA_SEED: &str = "gateway ca v1";

/// The gateway's TLS: the operator's files (with the CA handed to jobs, `tls_ca`, checked
/// against them for `public_host`), or a certificate for `public_host` and `localhost` signed
/// by the CA derived from `seed`.
pub fn load_tls(
    config: &GatewayConfig,
    public_host: &str,
    seed: &[u8; 32],
) -> Result<GatewayTls, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            GatewayTls::from_files(cert, key, config.tls_ca.as_deref(), public_host)
        }
        _ => {
            let tls = GatewayTls::generated(seed, &generated_names(public_host))?;
            tracing::info!(
                fingerprint = %tls.fingerprint_sha256,
                "gateway TLS uses a certificate generated at start, signed by the CA derived from server.secret_key; the exchange hands that CA to jobs for sslmode=verify-full"
            );
            Ok(tls)
        }
    }
}

/// The CA the exchange hands to jobs (`None`: the operator's certificate chains to a CA they
/// trust already): `tls_ca`, checked against the operator's files as [`load_tls`] does, or the
/// CA derived from `seed` that signs the generated certificate, without generating one.
pub fn handed_out_ca(
    config: &GatewayConfig,
    public_host: &str,
    seed: &[u8; 32],
) -> Result<Option<String>, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Ok(GatewayTls::from_files(cert, key, config.tls_ca.as_deref(), public_host)?.ca_pem)
        }
        _ => GatewayTls::derived_ca_pem(seed, &generated_names(public_host)).map(Some),
    }
}

/// The names a generated certificate (and its CA's name constraints) carry.
fn generated_names(public_host: &str) -> Vec<String> {
    vec![public_host.to_owned(), "localhost".into()]
}

const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn drain(gateway: &Gateway) {
    let registry = gateway.core.registry();
    let timeout = gateway.config.drain_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    registry.drain(deadline);
    let live = registry.live_sessions();
    tracing::info!(
        sessions = live,
        timeout = %humantime::format_duration(timeout),
        "draining: new sessions are refused and live sessions were told"
    );
    let left = registry.wait_idle(deadline).await;
    if left > 0 {
        tracing::info!(
            sessions = left,
            "drain timeout: ending the sessions still open"
        );
        registry.end_all(Ending::Shutdown);
        let stuck = registry
            .wait_idle(tokio::time::Instant::now() + CLOSE_WAIT)
            .await;
        if stuck > 0 {
            tracing::warn!(
                sessions = stuck,
                "sessions did not close in time; their recordings are closed at the next start"
            );
        }
    } else if live > 0 {
        tracing::info!("every session ended within the drain");
    }
}

/// Ends the live sessions of credentials revoked or expired on any replica.
async fn end_revoked_sessions(gateway: Arc<Gateway>) {
    let mut revocations = gateway.core.revocations();
    loop {
        match revocations.recv().await {
            Ok(id) => {
                let ended = gateway.core.registry().end_credential(id, Ending::Revoked);
                if ended > 0 {
                    tracing::info!(credential_id = %id, sessions = ended, "ended the sessions of a revoked credential");
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "revocation notices were dropped")
            }
            Err(RecvError::Closed) => return,
        }
    }
}
