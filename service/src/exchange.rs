//! The token exchange and revocation use cases, and the reaper that retires expired
//! credentials. Transport-free: the HTTP API calls these and maps [`ExchangeError`] to responses.
//!
//! An exchange runs: verify the token → find the connection → evaluate trust rules → consume
//! the token id (replay guard) and write the credential in one transaction → create the
//! upstream run role → mark it `active` with its audit event in one transaction. A crash
//! between steps leaves a `provisioning` row that the reaper cleans up. With
//! `role_provisioning = "first-connect"` the credential is written `active` with its audit event
//! in the first transaction, and [`Broker::ensure_run_role`] creates the role later.
//!
//! Architecture Invariant: every call to [`Broker::exchange`] and [`Broker::revoke`] writes
//! exactly one audit event, whatever the outcome; a success is committed together with its
//! event, so no credential is ever active without one.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::config::{Config, ConnectionName, DbRole, RoleProvisioning, Secret};
use crate::credentials::{CredentialId, ScramVerifier, Username, generate_password};
use crate::identity::{
    IdentityError, RunIdentity, VerifiedToken, Verifier, peek_unverified_claims,
};
use crate::metrics::{Metrics, OutcomeLabels, Phase, PhaseTimer};
use crate::state::credentials::{self as creds, CredentialRecord, CredentialState, NewCredential};
use crate::state::tokens::{self, TokenUse};
use crate::state::{StateError, Store};
use crate::trust::{DenyReason, TrustDecision, TrustPolicy};
use crate::upstream::{RunRole, UpstreamError, Upstreams};

/// A provisioning row older than this belongs to an exchange that died midway.
const STUCK_PROVISIONING: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Token ids are remembered this long past their token's expiry (covers issuer leeway).
const TOKEN_ID_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Credentials retired per reaper transaction.
const REAP_BATCH: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("this token was already used; request a fresh id token for every exchange")]
    Replayed,
    #[error("{}", deny_message(.0))]
    Denied(DenyReason),
    #[error("connection {0:?} is not configured on this gateway")]
    UnknownConnection(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the user name and password do not belong to this credential")]
    InvalidCredentials,
    /// Unknown ids answer the same, so ids cannot be probed with a token of any run.
    #[error(
        "credential {0} does not exist or belongs to another run; a run can revoke only its own \
         credentials"
    )]
    NotYourCredential(CredentialId),
    #[error("credential {0} is revoked or expired")]
    Inactive(CredentialId),
    #[error(
        "role {requested:?} was requested, but trust rule {rule:?} grants {granted:?}; omit the \
         role or ask for the policy to grant it"
    )]
    RoleNotGranted {
        requested: String,
        granted: String,
        rule: String,
    },
}

fn deny_message(reason: &DenyReason) -> String {
    match reason {
        DenyReason::NoMatchingRule => {
            "no trust rule matches this token's claims for the requested \
             issuer; check repository_id, ref and environment against the policy"
                .into()
        }
        DenyReason::ConnectionNotGranted { rule } => {
            format!(
                "trust rule {rule:?} matches this run but does not grant the requested connection"
            )
        }
        DenyReason::PullRequestNotAllowed { rule } => format!(
            "trust rule {rule:?} matches, but this run was started by a pull/merge request and the \
             rule does not set allow_pull_requests"
        ),
    }
}

impl ExchangeError {
    /// Stable, machine-readable cause.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Identity(e) => e.code(),
            ExchangeError::Replayed => "token_replayed",
            ExchangeError::Denied(DenyReason::NoMatchingRule) => "no_matching_trust_rule",
            ExchangeError::Denied(DenyReason::ConnectionNotGranted { .. }) => {
                "connection_not_granted"
            }
            ExchangeError::Denied(DenyReason::PullRequestNotAllowed { .. }) => {
                "pull_request_not_allowed"
            }
            ExchangeError::UnknownConnection(_) => "unknown_connection",
            ExchangeError::Upstream(UpstreamError::ParentRoleMissing { .. }) => {
                "upstream_role_missing"
            }
            ExchangeError::Upstream(UpstreamError::NotPermitted { .. }) => "upstream_not_permitted",
            ExchangeError::Upstream(_) => "upstream_unavailable",
            ExchangeError::State(_) => "state_unavailable",
            ExchangeError::InvalidCredentials => "invalid_credentials",
            ExchangeError::Inactive(_) => "credential_inactive",
            ExchangeError::RoleNotGranted { .. } => "role_not_granted",
            ExchangeError::NotYourCredential(_) => "not_your_credential",
        }
    }

    /// Refusals are the caller's; errors are ours or upstream's.
    pub fn outcome(&self) -> Outcome {
        match self {
            ExchangeError::Identity(IdentityError::IssuerUnavailable { .. })
            | ExchangeError::Upstream(_)
            | ExchangeError::State(_) => Outcome::Error,
            _ => Outcome::Denied,
        }
    }
}

/// What an exchange asks for.
#[derive(Clone, Debug)]
pub struct ExchangeRequest {
    pub connection: ConnectionName,
    /// A specific role; it must be the one the matching trust rule grants.
    pub role: Option<DbRole>,
}

impl ExchangeRequest {
    pub fn new(connection: &str) -> Self {
        ExchangeRequest {
            connection: ConnectionName(connection.to_owned()),
            role: None,
        }
    }
}

/// Who is calling, as far as the transport knows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller {
    pub remote_addr: Option<IpAddr>,
}

/// A freshly issued credential. The password is here and nowhere else.
#[derive(Debug)]
pub struct IssuedCredential {
    pub id: CredentialId,
    pub username: Username,
    pub password: Secret,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub sslmode: &'static str,
    pub expires_at: DateTime<Utc>,
    pub run: RunIdentity,
    pub trust_rule: String,
}

/// How a revocation proves it may revoke.
pub enum RevokeAuth {
    /// An id token of the run that owns the credential (its `jti` is not consumed: revoking is
    /// idempotent, and a job may revoke with the token it exchanged).
    Token(String),
    /// The credential's own user name and password.
    Password { username: String, password: Secret },
}

/// What one reaper pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReapReport {
    pub retired: usize,
    pub failed: usize,
    pub tokens_forgotten: u64,
}

/// Issues, revokes and retires credentials.
pub struct Broker {
    config: Arc<Config>,
    verifier: Verifier,
    trust: TrustPolicy,
    store: Store,
    upstreams: Upstreams,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    /// Credentials that stopped being live on this replica; other replicas learn it through
    /// `NOTIFY hoop_revocations` (see [`crate::state::Store::listen`]).
    revocations: broadcast::Sender<CredentialId>,
}

/// The Postgres channel on which replicas announce credentials that stopped being live.
pub const REVOCATIONS_CHANNEL: &str = "hoop_revocations";

impl Broker {
    pub fn new(
        config: Arc<Config>,
        verifier: Verifier,
        trust: TrustPolicy,
        store: Store,
        upstreams: Upstreams,
        audit: AuditLog,
        metrics: Arc<Metrics>,
    ) -> Self {
        Broker {
            config,
            verifier,
            trust,
            store,
            upstreams,
            audit,
            metrics,
            revocations: broadcast::channel(1024).0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Credentials revoked or expired from now on, on any replica; live sessions of them end.
    pub fn subscribe_revocations(&self) -> broadcast::Receiver<CredentialId> {
        self.revocations.subscribe()
    }

    /// The sender side, for the notification relay of other replicas' revocations.
    pub fn revocation_sender(&self) -> broadcast::Sender<CredentialId> {
        self.revocations.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Exchanges an id token for a credential on `connection`.
    pub async fn exchange(
        &self,
        token: &str,
        request: &ExchangeRequest,
        caller: Caller,
    ) -> Result<IssuedCredential, ExchangeError> {
        let connection = &request.connection;
        let started = Instant::now();
        let mut event = AuditEvent::new(Action::Exchange, Outcome::Success, "issued", "");
        event.remote_addr = caller.remote_addr;
        event.connection = Some(connection.0.clone());
        let result = self.try_exchange(token, request, &mut event).await;
        if let Err(e) = &result {
            self.record_failure(event, token, e).await;
        }
        let (outcome, code) = match &result {
            Ok(_) => (Outcome::Success, "issued"),
            Err(e) => (e.outcome(), e.code()),
        };
        self.metrics
            .exchanges
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
                code: code.into(),
            })
            .inc();
        self.metrics
            .exchange_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn try_exchange(
        &self,
        token: &str,
        request: &ExchangeRequest,
        event: &mut AuditEvent,
    ) -> Result<IssuedCredential, ExchangeError> {
        let connection = &request.connection;
        let mut phases = PhaseTimer::start();
        let verified = self.verifier.verify(token).await?;
        phases.mark(&self.metrics, Phase::Verify);
        describe_token(event, &verified);
        let conn = self
            .config
            .connection(connection)
            .ok_or_else(|| ExchangeError::UnknownConnection(connection.0.clone()))?;
        // The token id is consumed whatever the trust rules say: a verified token is usable once.
        let decision = self.trust.evaluate(&verified, connection);
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        let token_use = tokens::use_token(
            &tx,
            &verified.issuer,
            &verified.token_id,
            verified.expires_at,
        )
        .await?;
        if token_use == TokenUse::Replayed {
            return Err(ExchangeError::Replayed);
        }
        let grant = match decision {
            TrustDecision::Granted(g) => g,
            TrustDecision::Denied { reason } => {
                tx.commit().await.map_err(StateError::from)?;
                event.trust_rule = match &reason {
                    DenyReason::NoMatchingRule => None,
                    DenyReason::ConnectionNotGranted { rule }
                    | DenyReason::PullRequestNotAllowed { rule } => Some(rule.clone()),
                };
                return Err(ExchangeError::Denied(reason));
            }
        };
        event.trust_rule = Some(grant.rule.clone());
        if let Some(requested) = &request.role
            && *requested != grant.role
        {
            tx.commit().await.map_err(StateError::from)?;
            return Err(ExchangeError::RoleNotGranted {
                requested: requested.0.clone(),
                granted: grant.role.0.clone(),
                rule: grant.rule,
            });
        }

        let id = CredentialId::new_random();
        event.credential_id = Some(id);
        let username = Username::for_run(&verified.run);
        let password = generate_password();
        let verifier = ScramVerifier::generate(password.expose());
        let ttl = chrono::TimeDelta::from_std(grant.ttl).unwrap_or(chrono::TimeDelta::MAX);
        // Whole seconds: Postgres's VALID UNTIL and clients both see the same instant.
        let expires_at =
            DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default() + ttl;
        let run = &verified.run;
        let at_exchange = conn.role_provisioning == RoleProvisioning::Exchange;
        creds::insert(
            &tx,
            &NewCredential {
                id,
                username: &username,
                verifier: &verifier,
                connection,
                database: &conn.database,
                parent_role: &grant.role,
                trust_rule: &grant.rule,
                issuer: &verified.issuer,
                subject: &verified.subject,
                run,
                max_sessions: grant.max_sessions,
                expires_at,
                state: if at_exchange {
                    CredentialState::Provisioning
                } else {
                    CredentialState::Active
                },
            },
        )
        .await?;
        event.message = format!("issued {username} until {}", expires_at.to_rfc3339());
        let (host, port) = self.config.public_endpoint();
        let issued = IssuedCredential {
            id,
            username,
            password,
            host,
            port,
            database: conn.database.clone(),
            sslmode: conn.sslmode.as_str(),
            expires_at,
            run: verified.run,
            trust_rule: grant.rule,
        };
        if !at_exchange {
            event.insert(&tx, self.audit.replica()).await?;
        }
        tx.commit().await.map_err(StateError::from)?;
        drop(client);
        phases.mark(&self.metrics, Phase::State);
        if !at_exchange {
            return Ok(issued);
        }

        let comment = role_comment(
            id,
            &issued.run.run_id.0,
            &issued.run.repository,
            &issued.trust_rule,
        );
        let role = RunRole {
            name: &issued.username,
            parent: &grant.role,
            valid_until: expires_at,
            connection_limit: grant.max_sessions,
            comment: &comment,
        };
        if let Err(e) = self.upstreams.create_run_role(connection, &role).await {
            let client = self.store.client().await?;
            creds::transition(
                &client,
                id,
                &[CredentialState::Provisioning],
                CredentialState::Failed,
                Some("upstream role creation failed"),
            )
            .await?;
            return Err(e.into());
        }
        phases.mark(&self.metrics, Phase::UpstreamRole);

        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        let activated = creds::transition(
            &tx,
            id,
            &[CredentialState::Provisioning],
            CredentialState::Active,
            None,
        )
        .await?;
        if !activated {
            return Err(
                StateError::Corrupt(format!("credential {id} left provisioning early")).into(),
            );
        }
        event.insert(&tx, self.audit.replica()).await?;
        tx.commit().await.map_err(StateError::from)?;
        phases.mark(&self.metrics, Phase::Activate);
        Ok(issued)
    }

    /// Creates the credential's upstream role if it does not exist yet: the first-connect half
    /// of `role_provisioning = "first-connect"`. Idempotent, and safe when two sessions race.
    pub async fn ensure_run_role(&self, id: CredentialId) -> Result<(), ExchangeError> {
        let record = creds::find(&self.store.client().await?, id)
            .await?
            .filter(|r| r.is_live(Utc::now()))
            .ok_or(ExchangeError::Inactive(id))?;
        let comment = role_comment(id, &record.run_id, &record.repository, &record.trust_rule);
        let role = RunRole {
            name: &record.username,
            parent: &record.parent_role,
            valid_until: record.expires_at,
            connection_limit: record.max_sessions,
            comment: &comment,
        };
        Ok(self
            .upstreams
            .create_run_role_if_missing(&record.connection, &role)
            .await?)
    }

    /// Revokes a credential and drops its upstream role. Idempotent: revoking a credential
    /// that is already revoked or expired succeeds.
    pub async fn revoke(
        &self,
        id: CredentialId,
        auth: RevokeAuth,
        caller: Caller,
    ) -> Result<(), ExchangeError> {
        let mut event = AuditEvent::new(
            Action::Revoke,
            Outcome::Success,
            "revoked",
            "revoked by its run",
        );
        event.remote_addr = caller.remote_addr;
        event.credential_id = Some(id);
        let token = match &auth {
            RevokeAuth::Token(t) => Some(t.clone()),
            RevokeAuth::Password { .. } => None,
        };
        let result = self.try_revoke(id, auth, &mut event).await;
        match &result {
            Ok(()) => {
                if let Err(e) = self.audit.record(&event).await {
                    tracing::error!(error = %e, credential_id = %id, "cannot write the audit event of a revocation");
                    return Err(e.into());
                }
            }
            Err(e) => {
                self.record_failure(event, token.as_deref().unwrap_or(""), e)
                    .await
            }
        }
        let (outcome, code) = match &result {
            Ok(()) => (Outcome::Success, "revoked"),
            Err(e) => (e.outcome(), e.code()),
        };
        self.metrics
            .revocations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
                code: code.into(),
            })
            .inc();
        result
    }

    /// Revokes a credential on hoop's own initiative (its CI run completed, as the run watcher
    /// saw), with an audit event naming `why`. Idempotent like [`Broker::revoke`].
    pub async fn revoke_because(
        &self,
        id: CredentialId,
        code: &str,
        why: &str,
    ) -> Result<(), ExchangeError> {
        let result = self.retire(id, why).await;
        let mut event = AuditEvent::new(Action::Revoke, Outcome::Success, code, why);
        event.credential_id = Some(id);
        if let Err(e) = &result {
            event.outcome = e.outcome();
            event.code = e.code().to_owned();
            event.message = format!("{why}: {e}");
        }
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, credential_id = %id, "cannot write the audit event of a revocation");
        }
        self.metrics
            .revocations
            .get_or_create(&OutcomeLabels {
                outcome: event.outcome.as_str(),
                code: event.code.clone(),
            })
            .inc();
        result
    }

    async fn try_revoke(
        &self,
        id: CredentialId,
        auth: RevokeAuth,
        event: &mut AuditEvent,
    ) -> Result<(), ExchangeError> {
        let record = creds::find(&self.store.client().await?, id).await?;
        if let Some(r) = &record {
            event.connection = Some(r.connection.0.clone());
            event.trust_rule = Some(r.trust_rule.clone());
        }
        match auth {
            RevokeAuth::Token(token) => {
                let verified = self.verifier.verify(&token).await?;
                describe_token(event, &verified);
                match record {
                    Some(record) if owns(&verified, &record) => {
                        self.retire(id, "revoked by its run").await
                    }
                    _ => Err(ExchangeError::NotYourCredential(id)),
                }
            }
            RevokeAuth::Password { username, password } => {
                // Unknown id and wrong password answer alike, so ids cannot be probed.
                let record = record.ok_or(ExchangeError::InvalidCredentials)?;
                let name_ok = aws_lc_rs::constant_time::verify_slices_are_equal(
                    username.as_bytes(),
                    record.username.0.as_bytes(),
                )
                .is_ok();
                if !(record.verifier.verify_password(password.expose()) && name_ok) {
                    return Err(ExchangeError::InvalidCredentials);
                }
                event.subject = Some(record.username.0.clone());
                self.retire(id, "revoked with its password").await
            }
        }
    }

    /// Drops a credential's upstream role and marks it `revoked`, holding the row lock
    /// throughout so the reaper and concurrent revocations keep off it. If the drop fails the
    /// row is left `revoking`: no new session is admitted for it, and the reaper retries.
    /// Idempotent: a credential already retired is left as it is.
    async fn retire(&self, id: CredentialId, reason: &str) -> Result<(), ExchangeError> {
        use CredentialState::*;
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        let Some(record) = creds::lock(&tx, id).await? else {
            return Ok(());
        };
        if !matches!(record.state, Provisioning | Active | Revoking) {
            return Ok(());
        }
        // Gateway sessions end first, with a message that says why, before dropping the role
        // makes the upstream kill their backends. The notice goes out at once (its own
        // autocommit statement); the row lock keeps the reaper off meanwhile.
        let _ = self.revocations.send(id);
        announce_end(&self.store.client().await?, id).await?;
        let dropped = self
            .upstreams
            .drop_run_role(&record.connection, &record.username, &record.parent_role)
            .await;
        let end = if dropped.is_ok() { Revoked } else { Revoking };
        creds::transition(&tx, id, &[record.state], end, Some(reason)).await?;
        tx.commit().await.map_err(StateError::from)?;
        Ok(dropped?)
    }

    /// One reaper pass: drops the upstream roles of expired, revoked-but-not-dropped and stuck
    /// credentials, and forgets old token ids. Safe to run on every replica at once.
    pub async fn reap(&self) -> Result<ReapReport, ExchangeError> {
        use CredentialState::*;
        let mut report = ReapReport::default();
        let mut ended = Vec::new();
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        for record in creds::lock_due_for_retirement(&tx, STUCK_PROVISIONING, REAP_BATCH).await? {
            let (end, reason, code) = match record.state {
                Active => (Expired, "expired", "expired"),
                Revoking => (Revoked, "revoked", "revoked"),
                _ => (Failed, "exchange did not complete", "abandoned"),
            };
            let dropped = self
                .upstreams
                .drop_run_role(&record.connection, &record.username, &record.parent_role)
                .await;
            let mut event = AuditEvent::new(Action::Expire, Outcome::Success, code, reason);
            event.credential_id = Some(record.id);
            event.connection = Some(record.connection.0.clone());
            event.trust_rule = Some(record.trust_rule.clone());
            event.subject = Some(record.username.0.clone());
            match dropped {
                Ok(()) => {
                    creds::transition(&tx, record.id, &[record.state], end, Some(reason)).await?;
                    announce_end(&tx, record.id).await?;
                    ended.push(record.id);
                    report.retired += 1;
                    self.metrics.expirations.inc();
                }
                Err(e) => {
                    tracing::warn!(credential_id = %record.id, error = %e, "cannot drop an upstream run role; will retry");
                    event.outcome = Outcome::Error;
                    event.code = "upstream_unavailable".into();
                    event.message = e.to_string();
                    report.failed += 1;
                }
            }
            event.insert(&tx, self.audit.replica()).await?;
        }
        tx.commit().await.map_err(StateError::from)?;
        for id in ended {
            let _ = self.revocations.send(id);
        }
        report.tokens_forgotten = self.store.forget_expired_tokens(TOKEN_ID_GRACE).await?;
        Ok(report)
    }

    /// Audits a request the transport refused before it reached a use case (no bearer token,
    /// a body that is not JSON, ...), so that every refused request leaves an event.
    pub async fn record_refusal(&self, action: Action, caller: Caller, code: &str, message: &str) {
        let mut event = AuditEvent::new(action, Outcome::Denied, code, message);
        event.remote_addr = caller.remote_addr;
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, code, "cannot write an audit event");
        }
        let family = match action {
            Action::Revoke => &self.metrics.revocations,
            _ => &self.metrics.exchanges,
        };
        family
            .get_or_create(&OutcomeLabels {
                outcome: Outcome::Denied.as_str(),
                code: code.into(),
            })
            .inc();
    }

    /// Writes the audit event of a refused or failed call. If even that fails, the refusal
    /// stands and the failure is logged at error level (the caller gets its error either way).
    async fn record_failure(&self, mut event: AuditEvent, token: &str, error: &ExchangeError) {
        event.outcome = error.outcome();
        event.code = error.code().to_owned();
        event.message = error.to_string();
        if event.claims.is_none() && !token.is_empty() {
            event.claims = peek_unverified_claims(token).map(serde_json::Value::Object);
            event.claims_verified = false;
            if let Some(claims) = &event.claims {
                event.issuer = claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                event.subject = claims
                    .get("sub")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
        }
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, code = event.code, "cannot write an audit event");
        }
    }
}

/// Tells every replica that a credential is no longer live (on commit, when `client` is in a
/// transaction).
async fn announce_end(
    client: &impl deadpool_postgres::GenericClient,
    id: CredentialId,
) -> Result<(), StateError> {
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&REVOCATIONS_CHANNEL, &id.0.to_string()],
        )
        .await?;
    Ok(())
}

/// Shown by `\du+` upstream: which credential, run and rule a role belongs to.
fn role_comment(id: CredentialId, run_id: &str, repository: &str, rule: &str) -> String {
    format!("hoop credential {id}: run {run_id} of {repository} (trust rule {rule})")
}

fn describe_token(event: &mut AuditEvent, verified: &VerifiedToken) {
    event.issuer = Some(verified.issuer.clone());
    event.subject = Some(verified.subject.clone());
    event.claims = serde_json::to_value(&verified.run).ok();
    event.claims_verified = true;
}

/// The token's run is the credential's run: same issuer, repository id and run id.
fn owns(token: &VerifiedToken, record: &CredentialRecord) -> bool {
    token.issuer == record.issuer
        && token.run.repository_id == record.repository_id
        && token.run.run_id.0 == record.run_id
}
