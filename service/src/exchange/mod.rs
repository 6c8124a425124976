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
mod roles;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::base::CredentialId;
use crate::base::{ConnectionName, DbRole, Secret};
use crate::credentials::{RevokeToken, ScramVerifier, Username, generate_password};
use crate::identity::{
    IdentityError, RunIdentity, Trigger, VerifiedToken, Verifier, peek_unverified_claims,
};
use crate::metrics::{Metrics, OutcomeLabels, Phase, PhaseTimer};
use crate::state::credentials::{self as creds, CredentialState, NewCredential};
use crate::state::tokens::{self, TokenUse};
use crate::state::{StateError, Store};
use crate::trust::{DenyReason, NearMiss, SeenClaim, TrustDecision, TrustPolicy};
use crate::upstream::RoleProvisioning;
use crate::upstream::{ConnectionConfig, RunRole, UpstreamError, Upstreams};
use arc_swap::ArcSwap;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("this token was already used; request a fresh id token for every exchange")]
    Replayed,
    #[error("{}", deny_message(.reason, .connection))]
    Denied {
        reason: DenyReason,
        /// The connection asked for, named in the refusal.
        connection: String,
    },
    #[error("connection {0:?} is not configured on this gateway")]
    UnknownConnection(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the user name and password do not belong to this credential")]
    InvalidCredentials,
    #[error(
        "this is not the revoke token of this credential (or no such credential exists); use the \
         revoke_token of the exchange that issued it"
    )]
    InvalidRevokeToken,
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

/// `ref "refs/heads/x"`, `ref "…" and environment (absent)`, `a, b and c`.
fn join_claims(claims: &[SeenClaim]) -> String {
    let parts: Vec<String> = claims.iter().map(ToString::to_string).collect();
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.join(""),
    }
}

fn deny_message(reason: &DenyReason, connection: &str) -> String {
    match reason {
        DenyReason::NoMatchingRule(near @ NearMiss::Claims { rule, claims, .. }) => format!(
            "no trust rule grants connection {connection:?} to this token: the nearest, {rule:?} \
             (a rule for this {}), does not accept its {} (docs/run-identity.md)",
            near.repository_word(),
            join_claims(claims)
        ),
        DenyReason::NoMatchingRule(near @ NearMiss::Repository { claims, .. }) => format!(
            "no trust rule for connection {connection:?} is for this {word} ({}); a rule must \
             name the {word} by its claims (docs/run-identity.md)",
            claims
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            word = near.repository_word()
        ),
        DenyReason::ConnectionNotGranted { rule } => {
            format!(
                "trust rule {rule:?} matches this run but does not grant the requested connection"
            )
        }
        DenyReason::PullRequestNotAllowed {
            rule,
            event,
            trigger: Trigger::Unknown,
            claim,
        } => format!(
            "trust rule {rule:?} matches, but this run's {claim} ({}) is not an event that only \
             the repository's writers start, so it counts as a pull/merge request; name the event \
             in the rule's claims ({claim} = \"...\") or set allow_pull_requests \
             (docs/run-identity.md)",
            event
                .as_deref()
                .map_or("absent".into(), |e| format!("{e:?}"))
        ),
        DenyReason::PullRequestNotAllowed {
            rule, event, claim, ..
        } => format!(
            "trust rule {rule:?} matches, but this run's {claim} ({}) can run code or input from \
             outside the repository (a pull/merge request, a comment, an issue, or a run that \
             follows one), and the rule does not set allow_pull_requests; run the job on an \
             event of the repository's writers (a push, a protected branch) instead \
             (docs/run-identity.md)",
            event
                .as_deref()
                .map_or("absent".into(), |e| format!("{e:?}"))
        ),
    }
}

impl ExchangeError {
    /// Stable, machine-readable cause.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Identity(e) => e.code(),
            ExchangeError::Replayed => "token_replayed",
            ExchangeError::Denied { reason, .. } => match reason {
                DenyReason::NoMatchingRule(_) => "no_matching_trust_rule",
                DenyReason::ConnectionNotGranted { .. } => "connection_not_granted",
                DenyReason::PullRequestNotAllowed { .. } => "pull_request_not_allowed",
            },
            ExchangeError::UnknownConnection(_) => "unknown_connection",
            ExchangeError::Upstream(UpstreamError::ParentRoleMissing { .. }) => {
                "upstream_role_missing"
            }
            ExchangeError::Upstream(UpstreamError::NotPermitted { .. }) => "upstream_not_permitted",
            ExchangeError::Upstream(_) => "upstream_unavailable",
            ExchangeError::State(_) => "state_unavailable",
            ExchangeError::InvalidCredentials | ExchangeError::InvalidRevokeToken => {
                "invalid_credentials"
            }
            ExchangeError::Inactive(_) => "credential_inactive",
            ExchangeError::RoleNotGranted { .. } => "role_not_granted",
            ExchangeError::NotYourCredential(_) => "not_your_credential",
        }
    }

    /// The token's claims a trust refusal is about, in the provider's words: those the nearest
    /// rule did not accept, or the event claim of a pull-request refusal.
    pub fn claims(&self) -> Vec<&str> {
        match self {
            ExchangeError::Denied { reason, .. } => match reason {
                DenyReason::NoMatchingRule(near) => near.claim_names(),
                DenyReason::PullRequestNotAllowed { claim, .. } => vec![claim],
                DenyReason::ConnectionNotGranted { .. } => Vec::new(),
            },
            _ => Vec::new(),
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
    /// Sessions the credential may have open at once.
    pub max_sessions: u32,
    /// The CA that verifies the gateway's certificate, when hoop knows it.
    pub ca_cert: Option<Arc<str>>,
    /// Revokes this credential and nothing else ([`RevokeToken`]); here and nowhere else.
    pub revoke_token: Secret,
}

/// What the exchange hands out: the connections a credential may name, and where its clients
/// connect (the gateway's public address).
#[derive(Clone, Debug)]
pub struct Issuing {
    pub connections: Vec<ConnectionConfig>,
    pub public_host: String,
    pub public_port: u16,
    /// PEM CA certificate(s) that verify the gateway's certificate for `public_host`, handed to
    /// every job so its clients can use `sslmode=verify-full`.
    pub gateway_ca: Option<Arc<str>>,
}

/// The purpose of the `server.secret_key` derivation that keys revoke tokens.
const REVOKE_TOKEN_KEY: &str = "revoke token v1";

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
    /// Whether a granted policy role exists upstream, asked before a token is used.
    roles: roles::PolicyRoles,
    /// Keys revoke tokens ([`RevokeToken`]); derived from the secret key once.
    revoke_key: [u8; 32],
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
        let roles = roles::PolicyRoles::new(upstreams.clone());
        let revoke_key = upstreams.derived_key(REVOKE_TOKEN_KEY);
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
            roles,
            revoke_key,
        }
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The trust rules in force now.
    pub fn trust(&self) -> Arc<TrustPolicy> {
        self.trust.load_full()
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
        // The token id is consumed whatever the trust rules say: a verified token is usable once.
        let decision = self.trust.load().evaluate(&verified, connection);
        let conn = self
            .issuing
            .connections
            .iter()
            .find(|c| &c.name == connection);
        // A connection that does not exist is named as such only to a token some rule is for;
        // to any other it is refused like a connection no rule grants it (and the token is
        // used), so connection names cannot be listed with a stranger's token.
        if conn.is_none()
            && !matches!(
                decision,
                TrustDecision::Denied {
                    reason: DenyReason::NoMatchingRule(NearMiss::Repository { .. })
                }
            )
        {
            return Err(ExchangeError::UnknownConnection(connection.to_string()));
        }
        if let TrustDecision::Granted(grant) = &decision {
            // Before the token is consumed: a policy role that is gone upstream is an operator's
            // error the job cannot fix, and it can send the same token once it is fixed.
            self.roles.check(connection, &grant.role).await?;
        }
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
                    DenyReason::NoMatchingRule(_) => None,
                    DenyReason::ConnectionNotGranted { rule }
                    | DenyReason::PullRequestNotAllowed { rule, .. } => Some(rule.clone()),
                };
                return Err(ExchangeError::Denied {
                    reason,
                    connection: connection.to_string(),
                });
            }
        };
        event.trust_rule = Some(grant.rule.clone());
        // Trust rules name configured connections only (checked at load).
        let conn = conn.ok_or_else(|| ExchangeError::UnknownConnection(connection.to_string()))?;
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
        let (verified_issuer, verified_token_id) =
            (verified.issuer.clone(), verified.token_id.clone());
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
            max_sessions: grant.max_sessions,
            ca_cert: self.issuing.gateway_ca.clone(),
            revoke_token: RevokeToken::issue(&self.revoke_key, id),
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
            // The role may exist all the same (CREATE ROLE committed, its answer was lost): it is
            // dropped, as far as the upstream lets, before the token is released for a retry
            // that would create another. One that cannot be dropped now leaves the credential
            // `provisioning`, which the reaper retires (dropping the role) once it is stuck.
            let dropped = tokio::time::timeout(
                roles::ASK_TIMEOUT,
                self.upstreams
                    .drop_run_role(connection, &issued.username, &grant.role),
            )
            .await;
            let mut client = self.store.client().await?;
            let tx = client.transaction().await.map_err(StateError::from)?;
            if matches!(dropped, Ok(Ok(()))) {
                creds::transition(
                    &tx,
                    id,
                    &[CredentialState::Provisioning],
                    CredentialState::Failed,
                    Some("upstream role creation failed"),
                )
                .await?;
            } else {
                tracing::warn!(credential_id = %id, role = %issued.username, "cannot make sure the run role of a failed exchange is gone upstream; the reaper drops it once the credential is stuck in provisioning");
            }
            // The token is released so the job may retry with it.
            tokens::release_token(&tx, &verified_issuer, &verified_token_id).await?;
            tx.commit().await.map_err(StateError::from)?;
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
