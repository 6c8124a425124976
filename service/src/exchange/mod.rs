//! The token exchange and revocation use cases, and the reaper that retires expired
//! credentials ([`retire`]). Transport-free: the HTTP API calls these and maps [`ExchangeError`] to responses.
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

mod retire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::base::CredentialId;
use crate::base::{ConnectionName, DbRole, Secret};
use crate::credentials::{ScramVerifier, Username, generate_password};
use crate::identity::{
    IdentityError, RunIdentity, Trigger, VerifiedToken, Verifier, peek_unverified_claims,
};
use crate::metrics::{Metrics, OutcomeLabels, Phase, PhaseTimer};
use crate::state::credentials::{self as creds, CredentialState, NewCredential};
use crate::state::tokens::{self, TokenUse};
use crate::state::{StateError, Store};
use crate::trust::{DenyReason, TrustDecision, TrustPolicy};
use crate::upstream::RoleProvisioning;
use crate::upstream::{ConnectionConfig, RunRole, UpstreamError, Upstreams};
use arc_swap::ArcSwap;

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
        DenyReason::PullRequestNotAllowed {
            rule,
            event,
            trigger: Trigger::Unknown,
        } => format!(
            "trust rule {rule:?} matches, but this run's event ({}) is not one that only the \
             repository's writers start, so it counts as a pull/merge request; name the event \
             in the rule's claims (event_name or pipeline_source) or set allow_pull_requests \
             (docs/run-identity.md)",
            event.as_deref().map_or("none".into(), |e| format!("{e:?}"))
        ),
        DenyReason::PullRequestNotAllowed { rule, event, .. } => format!(
            "trust rule {rule:?} matches, but this run's event ({}) can run code or input from \
             outside the repository (a pull/merge request, a comment, an issue, or a run that \
             follows one) and the rule does not set allow_pull_requests (docs/run-identity.md)",
            event.as_deref().map_or("none".into(), |e| format!("{e:?}"))
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

pub use retire::{ReapReport, Revocation, RevokeAuth};

/// What an exchange asks for.
#[derive(Clone, Debug)]
pub struct ExchangeRequest {
    pub connection: ConnectionName,
    /// A specific role; it must be the one the matching trust rule grants.
    pub role: Option<DbRole>,
}

impl ExchangeRequest {
    pub fn new(connection: ConnectionName) -> Self {
        ExchangeRequest {
            connection,
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

/// What the exchange hands out: the connections a credential may name, and where its clients
/// connect (the gateway's public address).
#[derive(Clone, Debug)]
pub struct Issuing {
    pub connections: Vec<ConnectionConfig>,
    pub public_host: String,
    pub public_port: u16,
}

/// Issues, revokes and retires credentials.
pub struct Broker {
    issuing: Issuing,
    verifier: Verifier,
    /// Replaced by a reload; each exchange decides under one snapshot.
    trust: ArcSwap<TrustPolicy>,
    store: Store,
    upstreams: Arc<Upstreams>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    /// Credentials that stopped being live on this replica; other replicas learn it through
    /// `NOTIFY hoop_revocations` (see [`crate::state::Store::listen`]).
    revocations: broadcast::Sender<CredentialId>,
    /// Accepted revocations whose upstream role is still to be dropped, for
    /// [`Broker::complete_revocations`].
    unfinished: mpsc::UnboundedSender<CredentialId>,
    unfinished_queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<CredentialId>>>,
}

/// The Postgres channel on which replicas announce credentials that stopped being live.
pub const REVOCATIONS_CHANNEL: &str = "hoop_revocations";

impl Broker {
    pub fn new(
        issuing: Issuing,
        verifier: Verifier,
        trust: TrustPolicy,
        store: Store,
        upstreams: Arc<Upstreams>,
        audit: AuditLog,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (unfinished, unfinished_queue) = mpsc::unbounded_channel();
        Broker {
            issuing,
            verifier,
            trust: ArcSwap::from_pointee(trust),
            store,
            upstreams,
            audit,
            metrics,
            revocations: broadcast::channel(1024).0,
            unfinished,
            unfinished_queue: std::sync::Mutex::new(Some(unfinished_queue)),
        }
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Puts new trust rules in force for the exchanges that start from now on.
    pub fn replace_trust(&self, trust: TrustPolicy) {
        self.trust.store(Arc::new(trust));
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

    /// The upstream admin pools, for the server to hand to the session core.
    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    /// The metrics registry, for the server to hand to the other use cases.
    pub fn metrics(&self) -> &Arc<Metrics> {
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
        event.connection = Some(connection.to_string());
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
            .issuing
            .connections
            .iter()
            .find(|c| &c.name == connection)
            .ok_or_else(|| ExchangeError::UnknownConnection(connection.to_string()))?;
        // The token id is consumed whatever the trust rules say: a verified token is usable once.
        let decision = self.trust.load().evaluate(&verified, connection);
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
                    | DenyReason::PullRequestNotAllowed { rule, .. } => Some(rule.clone()),
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
                requested: requested.to_string(),
                granted: grant.role.to_string(),
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
        let (host, port) = (self.issuing.public_host.clone(), self.issuing.public_port);
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
            issued.run.run_id.as_str(),
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
