//! Revocation, and the reaper that retires expired credentials: ending a credential's sessions
//! and dropping its upstream role, idempotently, on any replica.

use super::{Broker, Caller, ExchangeError, REVOCATIONS_CHANNEL, describe_token};
use crate::audit::{Action, AuditEvent, Outcome};
use crate::base::CredentialId;
use crate::base::Secret;
use crate::identity::VerifiedToken;
use crate::metrics::OutcomeLabels;
use crate::state::StateError;
use crate::state::credentials::{self as creds, CredentialRecord, CredentialState};

/// A provisioning row older than this belongs to an exchange that died midway.
const STUCK_PROVISIONING: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Token ids are remembered this long past their token's expiry (covers issuer leeway).
const TOKEN_ID_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Credentials retired per reaper transaction.
const REAP_BATCH: i64 = 100;

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

impl Broker {
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
            event.connection = Some(r.connection.to_string());
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
                    record.username.as_str().as_bytes(),
                )
                .is_ok();
                if !(record.verifier.verify_password(password.expose()) && name_ok) {
                    return Err(ExchangeError::InvalidCredentials);
                }
                event.subject = Some(record.username.to_string());
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
            event.connection = Some(record.connection.to_string());
            event.trust_rule = Some(record.trust_rule.clone());
            event.subject = Some(record.username.to_string());
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
            &[&REVOCATIONS_CHANNEL, &id.as_uuid().to_string()],
        )
        .await?;
    Ok(())
}

/// The token's run is the credential's run: same issuer, repository id and run id.
fn owns(token: &VerifiedToken, record: &CredentialRecord) -> bool {
    token.issuer == record.issuer
        && token.run.repository_id == record.repository_id
        && token.run.run_id.as_str() == record.run_id
}
