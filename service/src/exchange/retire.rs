//! Revocation, and the reaper that retires expired credentials: ending a credential's sessions
//! and dropping its upstream role, idempotently, on any replica.

use super::{Broker, Caller, ExchangeError, REVOCATIONS_CHANNEL, describe_token};
use crate::audit::{Action, AuditEvent, Outcome};
use std::sync::Arc;

use crate::base::Secret;
use crate::base::{Backoff, CredentialId, Shutdown};
use crate::credentials::RevokeToken;
use crate::identity::VerifiedToken;
use crate::metrics::OutcomeLabels;
use crate::state::StateError;
use crate::state::credentials::{self as creds, CredentialRecord, CredentialState};

/// A provisioning row older than this belongs to an exchange that died midway.
const STUCK_PROVISIONING: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Token ids are remembered this long past their token's expiry (covers issuer leeway).
const TOKEN_ID_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// A `revoking` row younger than this belongs to a revocation still dropping the role itself;
/// the reaper leaves it alone meanwhile, so the two do not race on the same role.
const REVOKING_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// Accepted revocations whose roles are dropped at once in the background.
const UNFINISHED_AT_ONCE: usize = 4;
/// First and longest wait between two attempts to drop the role of an accepted revocation.
const UNFINISHED_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
const UNFINISHED_RETRY_CAP: std::time::Duration = std::time::Duration::from_secs(10);
/// Credentials retired per reaper transaction.
const REAP_BATCH: i64 = 100;
/// How long a revocation waits for a row another replica's reaper holds before it leaves the
/// completion to that reaper.
const CLAIM_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// What a revocation achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The credential is retired: its upstream role is gone and its sessions were ended (or it
    /// was already revoked or expired).
    Done,
    /// The credential is `revoking`: no session is admitted for it, its sessions were told to
    /// end, and the reaper drops its upstream role (retrying until it is gone). Why it could
    /// not finish now.
    Pending(String),
}

/// The claim step of a revocation.
enum Claim {
    Claimed(Box<CredentialRecord>),
    AlreadyRetired,
    /// Locked past [`CLAIM_LOCK_TIMEOUT`] by a reaper retiring it.
    Busy,
}

/// How a revocation proves it may revoke.
pub enum RevokeAuth {
    /// An id token of the run that owns the credential (its `jti` is not consumed: revoking is
    /// idempotent, and a job may revoke with the token it exchanged).
    Token(String),
    /// The credential's own user name and password.
    Password { username: String, password: Secret },
    /// The credential's revoke token ([`crate::credentials::RevokeToken`]), handed out by its
    /// exchange: valid after the job's id token expired.
    RevokeToken(Secret),
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
    /// that is already revoked or expired succeeds. Once the caller is authorized the
    /// revocation is accepted for good: if the upstream cannot drop the role now, the answer is
    /// [`Revocation::Pending`] and the reaper completes it.
    pub async fn revoke(
        &self,
        id: CredentialId,
        auth: RevokeAuth,
        caller: Caller,
    ) -> Result<Revocation, ExchangeError> {
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
            RevokeAuth::Password { .. } | RevokeAuth::RevokeToken(_) => None,
        };
        let result = self.try_revoke(id, auth, &mut event).await;
        let (outcome, code) = match &result {
            Ok(revocation) => {
                describe_revocation(&mut event, revocation);
                let code = event.code.clone();
                if let Err(e) = self.audit.record(&event).await {
                    tracing::error!(error = %e, credential_id = %id, "cannot write the audit event of a revocation");
                    return Err(e.into());
                }
                (Outcome::Success, code)
            }
            Err(e) => {
                self.record_failure(event, token.as_deref().unwrap_or(""), e)
                    .await;
                (e.outcome(), e.code().to_owned())
            }
        };
        self.metrics
            .revocations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
                code,
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
    ) -> Result<Revocation, ExchangeError> {
        let result = self.retire(id, why).await;
        let mut event = AuditEvent::new(Action::Revoke, Outcome::Success, code, why);
        event.credential_id = Some(id);
        match &result {
            Ok(revocation) => describe_revocation(&mut event, revocation),
            Err(e) => {
                event.outcome = e.outcome();
                event.code = e.code().to_owned();
                event.message = format!("{why}: {e}");
            }
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
    ) -> Result<Revocation, ExchangeError> {
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
                event.message = "revoked with its password".into();
                self.retire(id, "revoked with its password").await
            }
            RevokeAuth::RevokeToken(presented) => {
                // Unknown id and wrong token answer alike, so ids cannot be probed.
                let record = record.ok_or(ExchangeError::InvalidRevokeToken)?;
                if !RevokeToken::verify(&self.revoke_key, id, presented.expose()) {
                    return Err(ExchangeError::InvalidRevokeToken);
                }
                event.subject = Some(record.username.to_string());
                event.message = "revoked with its revoke token".into();
                self.retire(id, "revoked with its revoke token").await
            }
        }
    }

    /// Marks a credential `revoking` (no session is admitted for it from then on), ends its
    /// gateway sessions on every replica, drops its upstream role and marks it `revoked`.
    ///
    /// Each state step is its own short transaction on one pooled connection at a time, and
    /// nothing holds a row lock while the role is dropped: a revocation never waits on the
    /// pool it holds, however many run at once. When the drop cannot finish now the row stays
    /// `revoking` and the reaper completes it ([`Revocation::Pending`]). Idempotent: a
    /// credential already retired is left as it is.
    async fn retire(&self, id: CredentialId, reason: &str) -> Result<Revocation, ExchangeError> {
        use CredentialState::*;
        let record = match self.claim_for_revocation(id, reason).await? {
            Claim::Claimed(record) => *record,
            Claim::AlreadyRetired => return Ok(Revocation::Done),
            Claim::Busy => {
                // Another replica's reaper holds the row while it drops the role: its sessions
                // are told again here, and the reaper (or the next pass) completes it.
                let _ = self.revocations.send(id);
                announce_end(&self.store.client().await?, id).await?;
                return Ok(Revocation::Pending(
                    "the credential is being retired by another replica".into(),
                ));
            }
        };
        // Local sessions end now; other replicas heard the notification at the claim's commit.
        let _ = self.revocations.send(id);
        let dropped = self
            .upstreams
            .drop_run_role(&record.connection, &record.username, &record.parent_role)
            .await;
        match dropped {
            Ok(()) => {
                let client = self.store.client().await?;
                creds::transition(&client, id, &[Revoking], Revoked, Some(reason)).await?;
                Ok(Revocation::Done)
            }
            Err(e) => {
                tracing::warn!(credential_id = %id, error = %e, "cannot drop an upstream run role now; retrying in the background");
                let _ = self.unfinished.send(id);
                Ok(Revocation::Pending(e.to_string()))
            }
        }
    }

    /// Completes accepted revocations whose role could not be dropped at once, retrying each
    /// with backoff until its role is gone (or another replica or the reaper finished it),
    /// until `shutdown`. What is left then is a `revoking` row the reaper of any replica
    /// completes. Runs once per broker; a second call returns at once.
    pub async fn complete_revocations(self: Arc<Self>, shutdown: Shutdown) {
        let queue = self
            .unfinished_queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut queue) = queue else { return };
        // Drops share the upstream's admin pool with exchanges and first connections.
        let slots = Arc::new(tokio::sync::Semaphore::new(UNFINISHED_AT_ONCE));
        let mut running = tokio::task::JoinSet::new();
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(id) = queue.recv() => {
                    let broker = self.clone();
                    let slots = slots.clone();
                    running.spawn(async move { broker.finish_revocation(id, &slots).await });
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        running.abort_all();
    }

    /// Retries one accepted revocation until its role is dropped.
    async fn finish_revocation(&self, id: CredentialId, slots: &tokio::sync::Semaphore) {
        let mut backoff = Backoff::new(UNFINISHED_RETRY, UNFINISHED_RETRY_CAP);
        loop {
            let Ok(_slot) = slots.acquire().await else {
                return;
            };
            match self.drop_revoked(id).await {
                Ok(true) => {
                    tracing::info!(credential_id = %id, attempts = backoff.failures() + 1, "revocation completed");
                    return;
                }
                Ok(false) => return,
                Err(e) => {
                    let wait = backoff.fail();
                    tracing::warn!(credential_id = %id, error = %e, retry_in = ?wait, "cannot drop the role of a revoked credential yet");
                    drop(_slot);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Drops the role of a `revoking` credential and marks it `revoked`: `Ok(true)` when this
    /// call did, `Ok(false)` when it is no longer `revoking` (done elsewhere).
    async fn drop_revoked(&self, id: CredentialId) -> Result<bool, ExchangeError> {
        use CredentialState::*;
        let record = creds::find(&self.store.client().await?, id).await?;
        let Some(record) = record.filter(|r| r.state == Revoking) else {
            return Ok(false);
        };
        self.upstreams
            .drop_run_role(&record.connection, &record.username, &record.parent_role)
            .await?;
        let client = self.store.client().await?;
        creds::transition(&client, id, &[Revoking], Revoked, None).await?;
        let mut event = AuditEvent::new(
            Action::Revoke,
            Outcome::Success,
            "revoked",
            "the upstream role of an accepted revocation was dropped",
        );
        event.credential_id = Some(id);
        event.connection = Some(record.connection.to_string());
        event.subject = Some(record.username.to_string());
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, credential_id = %id, "cannot write the audit event of a revocation");
        }
        Ok(true)
    }

    /// The first step of a revocation, in one short transaction: the row locked (waiting at
    /// most [`CLAIM_LOCK_TIMEOUT`] for another holder), moved to `revoking`, and every replica
    /// notified at commit.
    async fn claim_for_revocation(
        &self,
        id: CredentialId,
        reason: &str,
    ) -> Result<Claim, ExchangeError> {
        use CredentialState::*;
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        tx.batch_execute(CLAIM_LOCK_TIMEOUT)
            .await
            .map_err(StateError::from)?;
        let record = match creds::lock(&tx, id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(Claim::AlreadyRetired),
            Err(e) if e.is_lock_timeout() => return Ok(Claim::Busy),
            Err(e) => return Err(e.into()),
        };
        if !matches!(record.state, Provisioning | Active | Revoking) {
            return Ok(Claim::AlreadyRetired);
        }
        creds::transition(&tx, id, &[record.state], Revoking, Some(reason)).await?;
        announce_end(&tx, id).await?;
        tx.commit().await.map_err(StateError::from)?;
        Ok(Claim::Claimed(Box::new(record)))
    }

    /// One reaper pass: drops the upstream roles of expired, revoked-but-not-dropped and stuck
    /// credentials, and forgets old token ids. Safe to run on every replica at once.
    pub async fn reap(&self) -> Result<ReapReport, ExchangeError> {
        use CredentialState::*;
        let mut report = ReapReport::default();
        let mut ended = Vec::new();
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        for record in
            creds::lock_due_for_retirement(&tx, STUCK_PROVISIONING, REVOKING_GRACE, REAP_BATCH)
                .await?
        {
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

/// A pending revocation is audited as accepted, with why its completion was left to the reaper.
fn describe_revocation(event: &mut AuditEvent, revocation: &Revocation) {
    if let Revocation::Pending(why) = revocation {
        event.code = "revocation_pending".into();
        event.message = format!(
            "{}; the upstream role is dropped by the reaper: {why}",
            event.message
        );
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
