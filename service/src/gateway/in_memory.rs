//! A gateway session over in-memory streams, without Postgres or a network: the real
//! [`relay`](super::relay) between two [`DuplexStream`]s, on a real session core. The relay's
//! tests build their sessions here, and the relay benchmark (`tests/bench/relay.rs`) measures
//! the per-statement path through [`InMemorySession`]. `hoop serve` never uses it.
//!
//! The session core's state database is a closed port: audits fail (and are logged), approvals
//! cannot be requested unless a desk is given, and a statement the policy allows never touches
//! it. Its spool is real, in the folder the caller names, so every statement is recorded through
//! the chain, the journal and its sync exactly as in production.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::catalog::Catalog;
use super::masking::Masking;
use super::policy::StatementPolicy;
use super::relay::{self, Controls, Sides};
use crate::approvals::Approvals;
use crate::approvals::notify::Notifier;
use crate::audit::AuditLog;
use crate::base::{ConnectionName, CredentialId, DbRole, Secret};
use crate::credentials::{ScramVerifier, Username};
use crate::exchange::{Broker, Issuing};
use crate::identity::{Provider, RunId, RunIdentity, Verifier};
use crate::masking::MaskingPolicy;
use crate::metrics::Metrics;
use crate::recording::{Durability, RecordingError, RecordingSummary, Spool, SpoolGauge};
use crate::session::{ApprovalDesk, Core, CoreParts, LoginFacts, Refusal, Session};
use crate::state::Store;
use crate::state::credentials::{CredentialRecord, CredentialState};
use crate::trust::TrustPolicy;
use crate::upstream::Upstreams;

pub use super::relay::Ended;

/// The connection every in-memory session is on.
pub const CONNECTION: &str = "cards";

/// Largest client message the relay accepts here.
const MAX_MESSAGE: usize = 1 << 20;

/// Bytes each in-memory stream buffers before a writer waits for its reader.
const STREAM_BUFFER: usize = 1 << 16;

/// How long an [`InMemorySession`]'s credential lives: longer than any benchmark.
const SESSION_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// A session core whose state database is a closed port, recording into a spool in
/// `spool_dir`; `desk` takes approvals (by default they cannot be requested).
pub(crate) fn core(
    spool_dir: &Path,
    desk: Option<Arc<dyn ApprovalDesk>>,
) -> Result<Core, RecordingError> {
    let store = Store::new(&Secret::new("postgres://hoop@127.0.0.1:1/none"), 1)
        .expect("a valid state database URL");
    let audit = AuditLog::new(store.clone(), "test".into());
    let metrics = Arc::new(Metrics::new());
    let env: HashMap<String, String> = HashMap::new();
    let upstreams = Arc::new(
        Upstreams::new(&[], &Secret::new("k".repeat(32)), &env).expect("no upstream is configured"),
    );
    let broker = Arc::new(Broker::new(
        Issuing {
            connections: Vec::new(),
            public_host: "127.0.0.1".into(),
            public_port: 1,
            gateway_ca: None,
        },
        Verifier::new(&[], reqwest::Client::new()),
        TrustPolicy::compile(&[], |_| None, Duration::from_secs(60)).expect("no trust rule"),
        store.clone(),
        upstreams.clone(),
        audit.clone(),
        metrics.clone(),
    ));
    let approvals: Arc<dyn ApprovalDesk> = match desk {
        Some(desk) => desk,
        None => Arc::new(Approvals::new(
            store.clone(),
            audit.clone(),
            &Default::default(),
            Notifier::new(&Default::default(), &env).expect("no approval notifier"),
            "http://127.0.0.1:1",
        )),
    };
    Ok(Core::new(CoreParts {
        broker,
        store,
        audit,
        metrics,
        upstreams,
        connections: Vec::new(),
        spool: Spool::open(spool_dir)?,
        spool_gauge: Arc::new(SpoolGauge::new(None)),
        archive_health: Arc::default(),
        masking: MaskingPolicy::default(),
        approvals,
    }))
}

/// An active credential of run 77 of `acme/shop` on [`CONNECTION`], expiring in `expires_in`.
pub(crate) fn credential(expires_in: chrono::TimeDelta) -> CredentialRecord {
    let now = chrono::Utc::now();
    CredentialRecord {
        id: CredentialId::new_random(),
        username: Username::from_stored("run-77-1-abcdef".into()),
        verifier: ScramVerifier::generate("unused"),
        connection: ConnectionName::new(CONNECTION).expect("a valid connection name"),
        database: "cards".into(),
        parent_role: DbRole::new("ci_reader").expect("a valid role name"),
        trust_rule: "main".into(),
        issuer: "github".into(),
        repository: "acme/shop".into(),
        repository_id: "1".into(),
        run_id: "77".into(),
        identity: RunIdentity {
            provider: Provider::Github,
            repository: "acme/shop".into(),
            repository_id: "1".into(),
            owner: "acme".into(),
            owner_id: "2".into(),
            run_id: RunId::new("77").expect("a valid run id"),
            attempt: 1,
            job_id: None,
            git_ref: Some("refs/heads/main".into()),
            sha: None,
            workflow: None,
            environment: None,
            actor: None,
            actor_id: None,
            event: Some("push".into()),
            pull_request: false,
            run_url: None,
        },
        max_sessions: 4,
        state: CredentialState::Active,
        created_at: now,
        expires_at: now + expires_in,
    }
}

/// Starts a session of a fresh [`credential`] (its recording opened in the core's spool), as
/// the gateway does once the upstream accepted the login; it is not indexed.
pub(crate) async fn session(
    core: &Core,
    expires_in: chrono::TimeDelta,
    durability: Durability,
) -> Result<Session<'_>, Refusal> {
    let login = LoginFacts {
        peer: [127, 0, 0, 1].into(),
        tls: true,
        user: "run-77-1-abcdef".into(),
        application: "psql".into(),
    };
    core.start(credential(expires_in), &login, &[], durability)
        .await
        .map_err(|(_, refusal)| refusal)
}

/// Runs the relay for `session` between `client` (the gateway's end of the client's stream)
/// and `upstream` (its end of the upstream's), under `statements` and the core's masking
/// policy, until the session ends. The one place the in-memory relay's controls are built.
pub(crate) async fn relay(
    session: &mut Session<'_>,
    statements: &StatementPolicy,
    client: &mut DuplexStream,
    upstream: DuplexStream,
) -> Ended {
    let catalog = Catalog::default();
    let core = session.core();
    let connection = session.credential().connection.clone();
    let masking = core.masking();
    let controls = Controls {
        masking: Masking {
            policy: &masking,
            catalog: &catalog,
            upstreams: core.upstreams(),
            connection: &connection,
        },
        statements,
    };
    let sides = Sides {
        client,
        upstream,
        pending: BytesMut::new(),
    };
    relay::run(sides, session, controls, MAX_MESSAGE).await
}

/// Two ends of an in-memory stream: the gateway's, and its peer's.
pub(crate) fn streams() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(STREAM_BUFFER)
}

/// Why an in-memory session did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the spool: {0}")]
    Spool(#[from] RecordingError),
    #[error("the session was refused: {}", .0.message)]
    Refused(Refusal),
}

/// A live gateway session relaying on a task of its own: write the client's messages to
/// `client` and read its answers there; play the upstream on `upstream`. The session ends as a
/// real one does (the client sends Terminate or hangs up, the upstream hangs up); then
/// [`Relaying::closed`] tells how, with its recording closed.
pub struct InMemorySession {
    /// The client's end of its connection to the gateway.
    pub client: DuplexStream,
    /// The upstream's end of the gateway's connection to it.
    pub upstream: DuplexStream,
    pub relaying: Relaying,
}

/// The task relaying an [`InMemorySession`].
pub struct Relaying(JoinHandle<Option<Closed>>);

/// How an [`InMemorySession`] ended, and its closed recording.
#[derive(Debug)]
pub struct Closed {
    pub ended: Ended,
    pub recording: Result<RecordingSummary, RecordingError>,
}

impl InMemorySession {
    /// Opens a spool in `spool_dir` (created if missing; on tmpfs its syncs cost next to nothing),
    /// starts one session of a run credential, and relays it under `statements` on a task of the
    /// current tokio runtime, with the connection's `durability`.
    pub async fn start(
        spool_dir: &Path,
        statements: StatementPolicy,
        durability: Durability,
    ) -> Result<InMemorySession, StartError> {
        let core = core(spool_dir, None)?;
        let (client, mut client_end) = streams();
        let (upstream, upstream_end) = streams();
        let (started, start) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut session = match session(&core, SESSION_LIFETIME, durability).await {
                Ok(session) => session,
                Err(refusal) => {
                    let _ = started.send(Err(refusal));
                    return None;
                }
            };
            let _ = started.send(Ok(()));
            let ended = relay(&mut session, &statements, &mut client_end, upstream_end).await;
            let recording = session.close(&ended.to_string()).await;
            Some(Closed { ended, recording })
        });
        match start.await {
            Ok(Ok(())) => Ok(InMemorySession {
                client,
                upstream,
                relaying: Relaying(task),
            }),
            Ok(Err(refusal)) => Err(StartError::Refused(refusal)),
            // The task went away without a word: it panicked.
            Err(_) => std::panic::resume_unwind(
                task.await
                    .expect_err("the task reports its start before it returns")
                    .into_panic(),
            ),
        }
    }
}

impl Relaying {
    /// Waits until the session has ended and its recording is closed.
    ///
    /// # Panics
    /// If the relay panicked (the panic goes on here).
    pub async fn closed(self) -> Closed {
        self.0
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            .expect("a started session relays until it ends")
    }
}
