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

mod catalog;
pub mod encoding;
mod hold;
mod masking;
mod policy;
mod registry;
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
use crate::config::GatewayConfig;
use crate::exchange::Broker;
use crate::gateway_tls::{GatewayTls, TlsError};
use crate::masking::MaskingPolicy;
use crate::recording::{RecordingError, Spool};

pub use policy::StatementPolicy;
pub use registry::{Ending, Registry};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
}

pub struct Gateway {
    broker: Arc<Broker>,
    tls: GatewayTls,
    spool: Arc<Spool>,
    registry: Registry,
    config: GatewayConfig,
    masking: MaskingPolicy,
    /// Classifies and decides every statement before it is forwarded.
    statements: StatementPolicy,
    /// Names result columns for column masking rules.
    catalog: catalog::Catalog,
    /// Holds statements for approval and hears of decisions.
    approvals: Arc<crate::approvals::Approvals>,
    /// Keys the fake SCRAM verifiers of unknown users; derived from the server key so an unknown
    /// user's salt stays the same across restarts and replicas, as a real user's does.
    mock_key: [u8; 32],
    /// The spool's size against `archive.max_spool_bytes`, kept by the archiver, which it
    /// wakes when a session ends.
    spool_gauge: Arc<crate::archiver::SpoolGauge>,
}

impl Gateway {
    /// Loads or generates the TLS certificate and opens the spool.
    pub fn new(
        broker: Arc<Broker>,
        config: GatewayConfig,
        masking: MaskingPolicy,
        statements: StatementPolicy,
        approvals: Arc<crate::approvals::Approvals>,
        public_host: &str,
    ) -> Result<Gateway, GatewayError> {
        if !masking.results {
            tracing::error!(target: "hoop::alert", "masking.results = false: card numbers in query results reach clients unmasked (PCI DSS 3.4.1); recordings stay masked");
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => GatewayTls::from_files(cert, key)?,
            _ => {
                let tls = GatewayTls::self_signed(&[public_host.to_owned(), "localhost".into()])?;
                tracing::warn!(
                    fingerprint = %tls.fingerprint_sha256,
                    "gateway TLS uses a self-signed certificate generated at start; configure gateway.tls_cert and gateway.tls_key for verify-full"
                );
                tls
            }
        };
        let spool = Spool::open(&config.spool_dir)?;
        let spool_limit = broker
            .config()
            .archive
            .as_ref()
            .and_then(|a| a.max_spool_bytes);
        let spool_gauge = Arc::new(crate::archiver::SpoolGauge::new(spool_limit));
        let mock_key = broker.upstreams().derived_key("scram mock verifier");
        Ok(Gateway {
            broker,
            tls,
            spool,
            registry: Registry::default(),
            config,
            masking,
            statements,
            catalog: catalog::Catalog::default(),
            approvals,
            mock_key,
            spool_gauge,
        })
    }

    pub fn tls(&self) -> &GatewayTls {
        &self.tls
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Closes recordings a crash left open ([`Spool::close_cut_short`]): every recording in the
    /// spool then ends cleanly and verifies. Recordings that do not verify are left untouched
    /// for an operator, with an alert. Run at start, before accepting sessions.
    pub async fn close_crashed_recordings(&self) -> usize {
        let files = match self.spool.leftovers() {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(target: "hoop::alert", error = %e, "cannot list the spool");
                return 0;
            }
        };
        let mut closed = 0;
        for path in files {
            let reason = "the gateway stopped without closing the session";
            match self.spool.close_cut_short(&path, reason).await {
                Ok(true) => closed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(target: "hoop::alert", path = %path.display(), error = %e, "cannot close a crashed recording; left for inspection")
                }
            }
        }
        closed
    }

    /// The spool, shared with the archiver.
    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// The spool's gauge, shared with the archiver.
    pub fn spool_gauge(&self) -> &Arc<crate::archiver::SpoolGauge> {
        &self.spool_gauge
    }

    /// Forwards a client's CancelRequest to the upstream its key maps to; a stale or foreign
    /// key cancels nothing.
    async fn cancel(&self, key: &CancelKey) {
        match self.registry.cancel_target(key) {
            Some(target) => {
                // Only a statement held right now hears it; a later hold is not cancelled.
                target.held.notify_waiters();
                upstream::cancel(&target.upstream, &target.upstream_key).await
            }
            None => tracing::info!(pid = key.pid, "cancel request with an unknown key ignored"),
        }
    }
}

/// Accepts gateway connections until `shutdown`, then ends the live sessions.
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
    gateway.registry.end_all(Ending::Shutdown);
    ender.abort();
}

/// Ends the live sessions of credentials revoked or expired on any replica.
async fn end_revoked_sessions(gateway: Arc<Gateway>) {
    let mut revocations = gateway.broker.subscribe_revocations();
    loop {
        match revocations.recv().await {
            Ok(id) => {
                let ended = gateway.registry.end_credential(id, Ending::Revoked);
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
