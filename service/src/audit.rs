//! The audit trail: every exchange, revocation, expiry and gateway login, allowed or refused,
//! and the configuration each server ran.
//!
//! Each event is a row in `hoop_audit_events` (append-only, enforced by a trigger) and a
//! structured log line on the `hoop::audit` target. [`AuditLog::record`] retries an event
//! whose connection failed for a few seconds; one the state database still does not take is
//! logged all the same, marked `stored = false`.
//!
//! Architecture Invariant: no audit event holds a token or a password. Claims come either from
//! a verified token's typed [`RunIdentity`](crate::identity::RunIdentity) or from a fixed
//! allow-list of unverified claims (flagged `claims_verified = false`).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use deadpool_postgres::GenericClient;

use crate::base::CredentialId;
use crate::state::{StateError, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Exchange,
    Revoke,
    Expire,
    /// A login to the gateway.
    Connect,
    /// A statement the statement policy refused.
    Statement,
    /// A held statement's approval: requested, decided, expired or withdrawn, and refused
    /// attempts to decide it.
    Approval,
    /// The evidence pipeline: an archive or digest that could not be stored, a recording left
    /// for an operator, the archive store unreachable; auditors' reads of the archive API.
    Archive,
    /// The configuration a server runs: at its start and at every reload, applied or refused,
    /// with the file's SHA-256.
    Config,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Exchange => "exchange",
            Action::Revoke => "revoke",
            Action::Expire => "expire",
            Action::Connect => "connect",
            Action::Statement => "statement",
            Action::Approval => "approval",
            Action::Archive => "archive",
            Action::Config => "config",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused: the caller or its token was not entitled.
    Denied,
    /// Failed on hoop's side or upstream; the caller may retry.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// One audit event. Build with [`AuditEvent::new`] and the `with_*` setters.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub action: Action,
    pub outcome: Outcome,
    pub code: String,
    pub message: String,
    pub remote_addr: Option<IpAddr>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub claims: Option<serde_json::Value>,
    pub claims_verified: bool,
    pub trust_rule: Option<String>,
    pub connection: Option<String>,
    pub credential_id: Option<CredentialId>,
}

impl AuditEvent {
    pub fn new(action: Action, outcome: Outcome, code: &str, message: impl Into<String>) -> Self {
        AuditEvent {
            action,
            outcome,
            code: code.to_owned(),
            message: message.into(),
            remote_addr: None,
            issuer: None,
            subject: None,
            claims: None,
            claims_verified: false,
            trust_rule: None,
            connection: None,
            credential_id: None,
        }
    }

    /// Writes the event with `client` (a transaction when it must commit with other changes)
    /// and logs it.
    pub async fn insert(
        &self,
        client: &impl GenericClient,
        replica: &str,
    ) -> Result<(), StateError> {
        client
            .execute(
                "INSERT INTO hoop_audit_events (replica, action, outcome, code, message,
                     remote_addr, issuer, subject, claims, claims_verified, trust_rule,
                     connection, credential_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &replica,
                    &self.action.as_str(),
                    &self.outcome.as_str(),
                    &self.code,
                    &self.message,
                    &self.remote_addr.map(|a| a.to_string()),
                    &self.issuer,
                    &self.subject,
                    &self.claims,
                    &self.claims_verified,
                    &self.trust_rule,
                    &self.connection,
                    &self.credential_id.map(|c| c.as_uuid()),
                ],
            )
            .await?;
        self.log();
        Ok(())
    }

    fn log(&self) {
        tracing::info!(
            target: "hoop::audit",
            action = self.action.as_str(),
            outcome = self.outcome.as_str(),
            code = %self.code,
            message = %self.message,
            // An absent value is left out of the line (not `None`); a present one is plain
            // (`127.0.0.1`, not `Some(127.0.0.1)`).
            remote_addr = self.remote_addr.map(tracing::field::display),
            issuer = self.issuer.as_deref(),
            subject = self.subject.as_deref(),
            trust_rule = self.trust_rule.as_deref(),
            connection = self.connection.as_deref(),
            credential_id = self.credential_id.map(|c| tracing::field::display(c.as_uuid())),
        );
    }

    /// The event as a log line on the `hoop::audit` target, marked as not in the table: what
    /// log shipping keeps of an event the state database did not take.
    fn log_unstored(&self, error: &StateError) {
        tracing::error!(
            target: "hoop::audit",
            stored = false,
            %error,
            action = self.action.as_str(),
            outcome = self.outcome.as_str(),
            code = %self.code,
            message = %self.message,
            // An absent value is left out of the line (not `None`); a present one is plain
            // (`127.0.0.1`, not `Some(127.0.0.1)`).
            remote_addr = self.remote_addr.map(tracing::field::display),
            issuer = self.issuer.as_deref(),
            subject = self.subject.as_deref(),
            trust_rule = self.trust_rule.as_deref(),
            connection = self.connection.as_deref(),
            credential_id = self.credential_id.map(|c| tracing::field::display(c.as_uuid())),
        );
    }
}

/// How long [`AuditLog::record`] keeps trying to store an event while the state database's
/// connections fail (a restart, a failover): long enough for `pg_ctl restart`, short enough
/// that a refusal waiting on its audit event is not held up for long.
const RETRY_FOR: Duration = Duration::from_secs(3);
/// The first pause between attempts; doubled after each.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Whether `error` is a connection that failed or could not be made, which a new connection
/// can get past: no SQLSTATE (closed, I/O, refused), a connection exception (08), the server
/// shutting down or starting (57P01-57P03), or the pool unable to hand out a connection in time.
fn is_connection_failure(error: &StateError) -> bool {
    match error {
        StateError::Unavailable(_) => true,
        StateError::Database(e) => match e.code() {
            None => true,
            Some(code) => {
                let code = code.code();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
            }
        },
        _ => false,
    }
}

/// Writes audit events on their own connection.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    replica: String,
}

impl AuditLog {
    pub fn new(store: Store, replica: String) -> Self {
        AuditLog { store, replica }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Stores the event and logs it. A failed connection is retried on a new one for up to
    /// [`RETRY_FOR`] (a state database restart would otherwise lose the refusals and logins of
    /// that moment); an event that still cannot be stored is logged on the `hoop::audit` target
    /// with `stored = false`, so log shipping keeps it, and the error is returned.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), StateError> {
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            let stored = async {
                let client = self.store.client().await?;
                event.insert(&client, &self.replica).await
            };
            match stored.await {
                Ok(()) => return Ok(()),
                Err(e) if is_connection_failure(&e) && started.elapsed() + pause < RETRY_FOR => {
                    tracing::debug!(error = %e, "cannot store an audit event yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    event.log_unstored(&e);
                    return Err(e);
                }
            }
        }
    }
}
