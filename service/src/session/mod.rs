//! The session core: everything a gateway session does that is not its wire format. A protocol
//! adapter ([`crate::gateway`] for PostgreSQL; MySQL and HTTP next) authenticates its client
//! in its own way, then asks the core, in this order:
//!
//! ```text
//!  Core::credential ─▶ (the adapter's authentication) ─▶ Core::admit ─▶ Core::start ─▶ Session
//!   look up a user       SCRAM, native password, bearer    live? database? role,   registry,
//!                                                          spool limit             recording
//!  Session::connected ─▶ per statement: Session::decided (audit, counts), Session::hold
//!   index + audit          and the recorder and masker ─▶ Session::close (recording, index)
//! ```
//!
//! Every refusal is a [`Refusal`] with a stable code: the core audits and counts it, the
//! adapter shows it in its own wire format.
//!
//! Architecture Invariant: a session exists only with its recording started; no statement
//! reaches an upstream before its event is durable (the adapter appends with
//! [`Recorder::append_durable`] before forwarding); a recording that cannot be written ends
//! the session.

mod hold;
mod registry;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use chrono::Utc;

use crate::archiver::StoreHealth;
use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::base::{ConnectionName, Secret, SessionId};
use crate::exchange::Broker;
use crate::masking::MaskingPolicy;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::policy::rules::{Action as RuleAction, Decision};
use crate::recording::{
    Durability, Event, Recorder, RecordingError, RecordingSummary, SessionEnd as EndEvent,
    SessionStart, Spool, SpoolGauge, StartupParams,
};
use crate::state::Store;
use crate::state::credentials::{self as creds, CredentialRecord, CredentialState};
use crate::state::sessions::{self, NewSession, SessionEnd};
use crate::upstream::{ConnectionConfig, Endpoint, RoleProvisioning, Upstreams};

pub use hold::{ApprovalDesk, Hold, HoldNotice, HoldOutcome, HoldStart, HoldStep, instant_of};
pub use registry::{Drain, Ending, Registration, Registry};

/// Why a login is refused: a stable code (audit events, metrics, docs), its class, and what
/// the client is told. The adapter shows the class in its protocol's terms (a SQLSTATE for
/// PostgreSQL, an error number for MySQL, a status for HTTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub class: RefusalClass,
    pub message: String,
}

/// What kind of refusal, for the client's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalClass {
    /// This client may not log in this way (TLS, credential state, database, replication).
    NotAllowed,
    /// Wrong password or unknown user (never told apart).
    BadPassword,
    /// The client asked for something hoop does not speak (another client encoding).
    Unsupported,
    /// The upstream cannot take the session (connection gone, run role not made).
    UpstreamUnavailable,
    /// hoop's own state database is unreachable.
    StateUnavailable,
    /// The credential already holds its maximum of sessions.
    SessionLimit,
    /// The evidence spool is over its limit.
    SpoolFull,
    /// The session cannot be recorded.
    NotRecordable,
    /// The gateway is draining before it stops; another replica takes the session.
    ShuttingDown,
}

impl Refusal {
    pub fn new(code: &'static str, class: RefusalClass, message: impl Into<String>) -> Self {
        Refusal {
            code,
            class,
            message: message.into(),
        }
    }

    /// hoop's state database cannot be read or written.
    pub fn state_unavailable() -> Self {
        Refusal::new(
            "state_unavailable",
            RefusalClass::StateUnavailable,
            "hoop cannot reach its state database; try again later",
        )
    }
}

/// Who is logging in, as far as the transport knows.
#[derive(Clone, Debug)]
pub struct LoginFacts {
    pub peer: IpAddr,
    pub tls: bool,
    /// The user name the client gave (anyone's text until authenticated).
    pub user: String,
    /// What the client calls itself (`application_name`, a User-Agent).
    pub application: String,
}

/// What the core needs, passed in by the server that wires it.
pub struct CoreParts {
    /// The exchange use case: it provisions run roles on first connect.
    pub broker: Arc<Broker>,
    pub store: Store,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
    pub upstreams: Arc<Upstreams>,
    pub connections: Vec<ConnectionConfig>,
    pub spool: Arc<Spool>,
    pub spool_gauge: Arc<SpoolGauge>,
    /// Whether the archive store can hold evidence, as the archiver last found it.
    pub archive_health: Arc<StoreHealth>,
    pub masking: MaskingPolicy,
    pub approvals: Arc<dyn ApprovalDesk>,
}

/// One replica's session core, shared by every gateway it runs.
pub struct Core {
    broker: Arc<Broker>,
    store: Store,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    upstreams: Arc<Upstreams>,
    connections: HashMap<ConnectionName, ConnectionConfig>,
    spool: Arc<Spool>,
    spool_gauge: Arc<SpoolGauge>,
    archive_health: Arc<StoreHealth>,
    /// Replaced by a reload; a session keeps the policy it started with.
    masking: ArcSwap<MaskingPolicy>,
    approvals: Arc<dyn ApprovalDesk>,
    registry: Registry,
}

/// An admitted login: where its upstream is, and as whom to log in there.
pub struct Admitted {
    pub endpoint: Endpoint,
    pub connection: ConnectionConfig,
}

impl Core {
    pub fn new(parts: CoreParts) -> Self {
        if !parts.masking.results {
            tracing::error!(target: "hoop::alert", "masking.results = false: card numbers in query results reach clients unmasked (PCI DSS 3.4.1); recordings stay masked");
        }
        Core {
            broker: parts.broker,
            store: parts.store,
            audit: parts.audit,
            metrics: parts.metrics,
            upstreams: parts.upstreams,
            connections: parts
                .connections
                .into_iter()
                .map(|c| (c.name.clone(), c))
                .collect(),
            spool: parts.spool,
            spool_gauge: parts.spool_gauge,
            archive_health: parts.archive_health,
            masking: ArcSwap::from_pointee(parts.masking),
            approvals: parts.approvals,
            registry: Registry::default(),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Credentials revoked or expired from now on, on any replica: their sessions end.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<crate::base::CredentialId> {
        self.broker.subscribe_revocations()
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

    /// The masking policy in force: a session takes it at its start and keeps it.
    pub fn masking(&self) -> Arc<MaskingPolicy> {
        self.masking.load_full()
    }

    /// Puts a new masking policy in force for the sessions that start from now on.
    pub fn replace_masking(&self, masking: MaskingPolicy) {
        if !masking.results {
            tracing::error!(target: "hoop::alert", "masking.results = false: card numbers in query results reach clients unmasked (PCI DSS 3.4.1); recordings stay masked");
        }
        self.masking.store(Arc::new(masking));
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// The spool's gauge, shared with the archiver.
    pub fn spool_gauge(&self) -> &Arc<SpoolGauge> {
        &self.spool_gauge
    }

    /// The archive store's health, set by the archiver.
    pub fn archive_health(&self) -> &Arc<StoreHealth> {
        &self.archive_health
    }

    /// Why every new session is refused now, whoever logs in: the gateway drains, the spool is
    /// over `archive.max_spool_bytes`, or the archive store cannot hold evidence. `admit`
    /// refuses with it, and `/readyz` answers 503 with it, so readiness says what the gateway
    /// does.
    pub fn refusing_every_session(&self) -> Option<Refusal> {
        if self.registry.draining().is_some() {
            return Some(Refusal::new(
                "shutting_down",
                RefusalClass::ShuttingDown,
                "hoop is shutting down and admits no new session: connect again (a new \
                 connection goes to another hoop)",
            ));
        }
        if let Some((bytes, limit)) = self.spool_gauge.over_limit() {
            return Some(Refusal::new(
                "spool_full",
                RefusalClass::SpoolFull,
                format!(
                    "hoop's evidence spool holds {bytes} bytes of recordings not yet archived, \
                     over its limit of {limit}: new sessions are refused until the archive \
                     store is reachable again (PCI DSS 10.7); tell the operators"
                ),
            ));
        }
        if self.archive_health.unusable().is_some() {
            return Some(Refusal::new(
                "archive_store_unusable",
                RefusalClass::NotRecordable,
                "hoop's archive store cannot hold session evidence as configured, so new \
                 sessions are refused until it is fixed (PCI DSS 10.5); tell the operators",
            ));
        }
        None
    }

    /// The credential a user name belongs to, if any.
    pub async fn credential(&self, user: &str) -> Result<Option<CredentialRecord>, Refusal> {
        let found = match self.store.client().await {
            Ok(client) => creds::find_by_username(&client, user).await,
            Err(e) => Err(e),
        };
        found.map_err(|e| {
            tracing::error!(error = %e, "the gateway cannot read credentials");
            Refusal::state_unavailable()
        })
    }

    /// Audits and counts a refused login; the adapter then tells its client.
    pub async fn refuse(
        &self,
        login: &LoginFacts,
        record: Option<&CredentialRecord>,
        refusal: &Refusal,
    ) {
        let mut event = AuditEvent::new(
            Action::Connect,
            Outcome::Denied,
            refusal.code,
            refusal.message.clone(),
        );
        event.remote_addr = Some(login.peer);
        event.subject = Some(login.user.clone());
        if let Some(r) = record {
            event.credential_id = Some(r.id);
            event.connection = Some(r.connection.to_string());
            event.trust_rule = Some(r.trust_rule.clone());
        }
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, "cannot write the audit event of a refused gateway login");
        }
        self.count_login(Outcome::Denied, refusal.code);
    }

    fn count_login(&self, outcome: Outcome, code: &str) {
        let labels = OutcomeLabels {
            outcome: outcome.as_str(),
            code: code.to_owned(),
        };
        self.metrics.logins.get_or_create(&labels).inc();
    }

    /// Whether an authenticated credential may open a session on `database` now: it is live,
    /// for that database, the gateway admits sessions at all ([`Core::refusing_every_session`]:
    /// not draining, the spool under its limit, the archive store usable), its connection is
    /// still configured, and its run role exists (created now on first connect).
    pub async fn admit(
        &self,
        record: &CredentialRecord,
        database: &str,
    ) -> Result<Admitted, Refusal> {
        if let Some(refusal) = login_refusal(record, database) {
            return Err(refusal);
        }
        if let Some(refusal) = self.refusing_every_session() {
            match refusal.class {
                RefusalClass::SpoolFull => {
                    tracing::error!(target: "hoop::alert", reason = %refusal.message, "the spool is over archive.max_spool_bytes; refusing new sessions until the archive store takes the backlog");
                }
                RefusalClass::NotRecordable => {
                    tracing::error!(target: "hoop::alert", store = ?self.archive_health.unusable(), "the archive store cannot hold evidence; refusing new sessions until it is fixed");
                }
                _ => {}
            }
            return Err(refusal);
        }
        let configured = self.connections.get(&record.connection).cloned();
        let endpoint = self.upstreams.endpoint(&record.connection).cloned();
        let (Some(connection), Some(endpoint)) = (configured, endpoint) else {
            return Err(Refusal::new(
                "unknown_connection",
                RefusalClass::UpstreamUnavailable,
                format!(
                    "connection {} is no longer configured on this gateway",
                    record.connection
                ),
            ));
        };
        if connection.role_provisioning == RoleProvisioning::FirstConnect
            && let Err(e) = self.broker.ensure_run_role(record.id).await
        {
            tracing::error!(error = %e, credential_id = %record.id, "cannot create the run role");
            // The credential is read from hoop's own database first: its outage is not the
            // upstream's.
            let class = match &e {
                crate::exchange::ExchangeError::State(_) => RefusalClass::StateUnavailable,
                _ => RefusalClass::UpstreamUnavailable,
            };
            return Err(Refusal::new(
                e.code(),
                class,
                format!("hoop cannot create the upstream role: {e}"),
            ));
        }
        Ok(Admitted {
            endpoint,
            connection,
        })
    }

    /// Registers the session and starts its recording with what the client sent (`params`,
    /// masked like every text: recordings are storage, PCI DSS 3.5.1). A session that cannot
    /// be recorded is refused.
    pub async fn start<'c>(
        &'c self,
        record: CredentialRecord,
        login: &LoginFacts,
        params: &[(String, String)],
        durability: Durability,
    ) -> Result<Session<'c>, (CredentialRecord, Refusal)> {
        let id = SessionId::new_random();
        let masking = self.masking.load();
        let masker = &masking.masker;
        let first = Event::SessionStart(SessionStart {
            session_id: id,
            credential_id: record.id,
            username: masker.mask_text(&login.user),
            connection: masker.mask_text(record.connection.as_str()),
            database: masker.mask_text(&record.database),
            trust_rule: masker.mask_text(&record.trust_rule),
            repository: masker.mask_text(&record.repository),
            run_id: masker.mask_text(&record.run_id),
            client_addr: login.peer,
            tls: login.tls,
            durability,
            application_name: masker.mask_text(&login.application),
            params: StartupParams::new(
                params
                    .iter()
                    .map(|(name, value)| (masker.mask_text(name), masker.mask_text(value))),
            ),
        });
        let recorder = match self.spool.create(id, first).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "hoop::alert", error = %e, "cannot start a session recording; refusing the session");
                self.metrics.recording_failures.inc();
                let refusal = Refusal::new(
                    "recording_unavailable",
                    RefusalClass::NotRecordable,
                    "hoop cannot record this session, so it refuses it (PCI DSS 10.7); tell the operators",
                );
                return Err((record, refusal));
            }
        };
        let registration = self.registry.register(record.id, id);
        let mut audit_template = AuditEvent::new(
            Action::Connect,
            Outcome::Success,
            "connected",
            format!("session {id}"),
        );
        audit_template.remote_addr = Some(login.peer);
        audit_template.subject = Some(login.user.clone());
        audit_template.credential_id = Some(record.id);
        audit_template.connection = Some(record.connection.to_string());
        audit_template.trust_rule = Some(record.trust_rule.clone());
        Ok(Session {
            core: self,
            id,
            credential: record,
            login: login.clone(),
            recorder,
            registration,
            audit_template,
            counts: Counts::default(),
            live: false,
            durability,
        })
    }
}

/// Why an authenticated credential may still not log in.
fn login_refusal(record: &CredentialRecord, database: &str) -> Option<Refusal> {
    if !record.is_live(Utc::now()) {
        let what = match record.state {
            CredentialState::Revoked | CredentialState::Revoking => "was revoked".to_owned(),
            CredentialState::Failed => "was never provisioned".to_owned(),
            _ => format!("expired at {}", record.expires_at.to_rfc3339()),
        };
        return Some(Refusal::new(
            "credential_inactive",
            RefusalClass::NotAllowed,
            format!(
                "credential {} {what}; exchange a new id token",
                record.username
            ),
        ));
    }
    if database != record.database {
        return Some(Refusal::new(
            "database_mismatch",
            RefusalClass::NotAllowed,
            format!(
                "credential {} is for database \"{}\", not \"{database}\"",
                record.username, record.database
            ),
        ));
    }
    None
}

/// What a session did, for its end and the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub statements: u64,
    pub errors: u64,
    pub masked_values: u64,
    /// Statements the policy denied.
    pub denied: u64,
    /// Statements held for approval.
    pub held: u64,
}

/// One live session: its credential, recording, registration and audit context.
pub struct Session<'c> {
    core: &'c Core,
    id: SessionId,
    credential: CredentialRecord,
    login: LoginFacts,
    pub recorder: Recorder,
    registration: Registration,
    /// Subject, credential, connection, trust rule and address of the session: every audit
    /// event of the session starts from it (never the SQL: statement text can hold card
    /// numbers; the recording holds it masked).
    audit_template: AuditEvent,
    pub counts: Counts,
    /// Indexed and counted as live ([`Session::connected`]).
    live: bool,
    /// When its statement records must be durable: its connection's, as its recording says.
    durability: Durability,
}

impl<'c> Session<'c> {
    pub fn id(&self) -> SessionId {
        self.id
    }

    pub fn core(&self) -> &'c Core {
        self.core
    }

    pub fn credential(&self) -> &CredentialRecord {
        &self.credential
    }

    /// When this session's statement records must be durable (named in its `session_start`).
    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The run role's password upstream.
    pub fn upstream_password(&self) -> Secret {
        self.core.upstreams.role_password(&self.credential.username)
    }

    /// The login was refused after the recording started (the upstream refused it, or spoke
    /// an encoding hoop does not read): audited, and the recording closed with the reason.
    pub async fn refuse(self, refusal: &Refusal) {
        self.core
            .refuse(&self.login, Some(&self.credential), refusal)
            .await;
        let reason = self.core.masking.load().masker.mask_text(&refusal.message);
        if let Err(e) = self.recorder.finish(Event::session_end(reason)).await {
            tracing::error!(session_id = %self.id, error = %e, "cannot close the recording of a refused session");
        }
    }

    /// The upstream accepted the login: the session is indexed, audited and counted. A session
    /// the index cannot hold is refused.
    pub async fn connected(&mut self) -> Result<(), Refusal> {
        let masking = self.core.masking.load();
        let masker = &masking.masker;
        let spool_path = self.recorder.path().display().to_string();
        let indexed = async {
            let client = self.core.store.client().await?;
            sessions::insert_live(
                &client,
                &NewSession {
                    id: self.id,
                    credential_id: self.credential.id,
                    username: &self.login.user,
                    connection: self.credential.connection.as_str(),
                    database: &self.credential.database,
                    replica: self.core.audit.replica(),
                    client_addr: Some(self.login.peer),
                    tls: self.login.tls,
                    // The sessions table is storage too.
                    application: Some(masker.mask_text(&self.login.application).as_str()),
                    spool_path: &spool_path,
                },
            )
            .await
        };
        if let Err(e) = indexed.await {
            tracing::error!(error = %e, "cannot index a gateway session; refusing it");
            return Err(Refusal::state_unavailable());
        }
        if let Err(e) = self.core.audit.record(&self.audit_template).await {
            tracing::error!(error = %e, "cannot write the audit event of a gateway login");
        }
        tracing::info!(session_id = %self.id, user = %self.login.user, peer = %self.login.peer, "gateway session started");
        self.core.count_login(Outcome::Success, "connected");
        self.core.metrics.sessions_live.inc();
        self.live = true;
        Ok(())
    }

    /// Audits a statement decision: what dry-run rules would have done, and a denial (the
    /// statement is refused either way; a lost audit row is an operator alert).
    pub async fn decided(&mut self, decision: &Decision) {
        for dry in &decision.dry_run {
            let mut event = self.audit_template.clone();
            event.action = Action::Statement;
            event.outcome = Outcome::Success;
            event.code = format!("dry_run:{}", dry.rule);
            event.message = format!(
                "the rule would {} this statement",
                match dry.action {
                    RuleAction::Approve => "hold",
                    _ => "deny",
                }
            );
            if let Err(e) = self.core.audit.record(&event).await {
                tracing::error!(target: "hoop::alert", error = %e, rule = %dry.rule, "cannot write the audit event of a dry-run rule");
            }
        }
        if decision.action == RuleAction::Deny {
            self.counts.denied += 1;
            let rule = decision.rule.as_deref().unwrap_or("policy");
            self.audit_denied(rule, &decision.reason).await;
        }
    }

    /// Audits something the session refused (a statement, or a setting it ended over), with
    /// the rule or cause as its code; a lost audit row is an operator alert.
    pub async fn audit_denied(&self, code: &str, message: &str) {
        let mut event = self.audit_template.clone();
        event.action = Action::Statement;
        event.outcome = Outcome::Denied;
        event.code = code.to_owned();
        event.message = message.to_owned();
        if let Err(e) = self.core.audit.record(&event).await {
            tracing::error!(target: "hoop::alert", error = %e, code, "cannot write the audit event of a refusal");
        }
    }

    /// Ends the session: the recording's last event (`reason`, masked: it can quote an error),
    /// the index row, the metrics, and the archiver woken. Returns the recording's summary.
    pub async fn close(self, reason: &str) -> Result<RecordingSummary, RecordingError> {
        let core = self.core;
        let last = Event::SessionEnd(EndEvent {
            reason: crate::recording::Reason::Masked(core.masking.load().masker.mask_text(reason)),
            statements: Some(self.counts.statements),
            errors: Some(self.counts.errors),
        });
        let recording = self.recorder.finish(last).await;
        let counts = self.counts;
        let metrics = &core.metrics;
        if self.live {
            metrics.sessions_live.dec();
        }
        metrics.statements.inc_by(counts.statements);
        metrics.masked_values.inc_by(counts.masked_values);
        metrics.statements_denied.inc_by(counts.denied);
        metrics.statements_held.inc_by(counts.held);
        if self.live {
            let end = SessionEnd {
                reason,
                statements: counts.statements as i64,
                errors: counts.errors as i64,
                events: recording.as_ref().map_or(0, |s| s.events as i64),
                chain_head: recording.as_ref().map_or("", |s| s.head.as_str()),
                recording_bytes: recording.as_ref().map_or(0, |s| s.bytes as i64),
            };
            let closed = async {
                let client = core.store.client().await?;
                sessions::finish(&client, self.id, &end).await
            };
            if let Err(e) = closed.await {
                tracing::error!(session_id = %self.id, error = %e, "cannot close a session in the index");
            }
        }
        tracing::info!(session_id = %self.id, %reason, statements = counts.statements, "gateway session ended");
        core.spool_gauge.recording_finished();
        recording
    }
}
