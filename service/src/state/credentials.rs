//! Credential rows and their lifecycle:
//! `provisioning → active → (revoking →) revoked | expired`, or `provisioning → failed`.
//!
//! Functions take any client so callers can compose them with audit events in one transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::StateError;
use crate::base::CredentialId;
use crate::base::{ConnectionName, DbRole};
use crate::credentials::{ScramVerifier, Username};
use crate::identity::RunIdentity;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// Row written, upstream role being created.
    Provisioning,
    Active,
    /// Revoked; the upstream role may still exist and is being dropped.
    Revoking,
    Revoked,
    Expired,
    /// The upstream role could not be created.
    Failed,
}

impl CredentialState {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialState::Provisioning => "provisioning",
            CredentialState::Active => "active",
            CredentialState::Revoking => "revoking",
            CredentialState::Revoked => "revoked",
            CredentialState::Expired => "expired",
            CredentialState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StateError> {
        Ok(match s {
            "provisioning" => CredentialState::Provisioning,
            "active" => CredentialState::Active,
            "revoking" => CredentialState::Revoking,
            "revoked" => CredentialState::Revoked,
            "expired" => CredentialState::Expired,
            "failed" => CredentialState::Failed,
            other => return Err(StateError::Corrupt(format!("credential state {other:?}"))),
        })
    }
}

/// A new credential.
pub struct NewCredential<'a> {
    pub id: CredentialId,
    pub username: &'a Username,
    pub verifier: &'a ScramVerifier,
    pub connection: &'a ConnectionName,
    pub database: &'a str,
    pub parent_role: &'a DbRole,
    pub trust_rule: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub run: &'a RunIdentity,
    pub max_sessions: u32,
    pub expires_at: DateTime<Utc>,
    /// `Provisioning` when the upstream role is created next, `Active` when it is created on
    /// first connect.
    pub state: CredentialState,
}

/// A stored credential.
#[derive(Clone, Debug)]
pub struct CredentialRecord {
    pub id: CredentialId,
    pub username: Username,
    pub verifier: ScramVerifier,
    pub connection: ConnectionName,
    pub database: String,
    pub parent_role: DbRole,
    pub trust_rule: String,
    pub issuer: String,
    pub repository: String,
    pub repository_id: String,
    pub run_id: String,
    /// The verified claims of the run, as the exchange stored them: the gateway's rules and
    /// approvals read them.
    pub identity: RunIdentity,
    pub max_sessions: u32,
    pub state: CredentialState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, username, scram_verifier, connection, database, parent_role, trust_rule, \
     issuer, repository, repository_id, run_id, identity, max_sessions, state, created_at, expires_at";

impl CredentialRecord {
    fn from_row(row: &Row) -> Result<Self, StateError> {
        let verifier: String = row.get("scram_verifier");
        let max_sessions: i32 = row.get("max_sessions");
        Ok(CredentialRecord {
            id: CredentialId::from_uuid(row.get("id")),
            username: Username::from_stored(row.get("username")),
            verifier: ScramVerifier::parse(&verifier)
                .map_err(|e| StateError::Corrupt(e.to_string()))?,
            connection: ConnectionName::new(row.get::<_, String>("connection"))
                .map_err(|e| StateError::Corrupt(e.to_string()))?,
            database: row.get("database"),
            parent_role: DbRole::new(row.get::<_, String>("parent_role"))
                .map_err(|e| StateError::Corrupt(e.to_string()))?,
            trust_rule: row.get("trust_rule"),
            issuer: row.get("issuer"),
            repository: row.get("repository"),
            repository_id: row.get("repository_id"),
            run_id: row.get("run_id"),
            identity: serde_json::from_value(row.get("identity"))
                .map_err(|e| StateError::Corrupt(format!("credential identity: {e}")))?,
            max_sessions: u32::try_from(max_sessions).unwrap_or(1),
            state: CredentialState::parse(row.get("state"))?,
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
        })
    }

    /// Usable now: active and not past its expiry.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state == CredentialState::Active && now < self.expires_at
    }
}

pub async fn insert(client: &impl GenericClient, c: &NewCredential<'_>) -> Result<(), StateError> {
    let identity = serde_json::to_value(c.run).map_err(|e| StateError::Corrupt(e.to_string()))?;
    let max_sessions = i32::try_from(c.max_sessions).unwrap_or(i32::MAX);
    let attempt = i32::try_from(c.run.attempt).unwrap_or(i32::MAX);
    client
        .execute(
            "INSERT INTO hoop_credentials (id, username, scram_verifier, connection, database,
                 parent_role, trust_rule, issuer, subject, provider, repository, repository_id,
                 run_id, run_attempt, job_id, identity, max_sessions, state, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $19, $18)",
            &[
                &c.id.as_uuid(),
                &c.username.as_str(),
                &c.verifier.to_string(),
                &c.connection.as_str(),
                &c.database,
                &c.parent_role.as_str(),
                &c.trust_rule,
                &c.issuer,
                &c.subject,
                &c.run.provider.as_str(),
                &c.run.repository,
                &c.run.repository_id,
                &c.run.run_id.as_str(),
                &attempt,
                &c.run.job_id,
                &identity,
                &max_sessions,
                &c.expires_at,
                &c.state.as_str(),
            ],
        )
        .await?;
    Ok(())
}

/// Moves a credential from one state to another; false when it was not in `from`.
pub async fn transition(
    client: &impl GenericClient,
    id: CredentialId,
    from: &[CredentialState],
    to: CredentialState,
    reason: Option<&str>,
) -> Result<bool, StateError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let n = client
        .execute(
            "UPDATE hoop_credentials SET state = $3,
                 revoked_at = CASE WHEN $3 IN ('revoking', 'revoked', 'expired')
                                   THEN coalesce(revoked_at, now()) ELSE revoked_at END,
                 revoke_reason = coalesce(revoke_reason, $4),
                 retired_at = CASE WHEN $3 IN ('revoked', 'expired', 'failed')
                                   THEN now() ELSE retired_at END
             WHERE id = $1 AND state = ANY($2)",
            &[&id.as_uuid(), &from, &to.as_str(), &reason],
        )
        .await?;
    Ok(n == 1)
}

pub async fn find(
    client: &impl GenericClient,
    id: CredentialId,
) -> Result<Option<CredentialRecord>, StateError> {
    select_one(client, "id = $1", &id.as_uuid()).await
}

/// The credential a gateway client logs in as.
pub async fn find_by_username(
    client: &impl GenericClient,
    username: &str,
) -> Result<Option<CredentialRecord>, StateError> {
    select_one(client, "username = $1", &username).await
}

/// Reads a credential and locks its row until the transaction ends; call inside a transaction.
pub async fn lock(
    client: &impl GenericClient,
    id: CredentialId,
) -> Result<Option<CredentialRecord>, StateError> {
    select_one(client, "id = $1 FOR UPDATE", &id.as_uuid()).await
}

async fn select_one(
    client: &impl GenericClient,
    filter: &str,
    param: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<CredentialRecord>, StateError> {
    let sql = format!("SELECT {COLUMNS} FROM hoop_credentials WHERE {filter}");
    client
        .query_opt(&sql, &[param])
        .await?
        .as_ref()
        .map(CredentialRecord::from_row)
        .transpose()
}

/// Credentials whose upstream role must be dropped now: expired while active, revoked but not
/// yet dropped (and not just claimed by a revocation still dropping it itself, younger than
/// `revoking_grace`), or stuck in provisioning (a crash mid-exchange). Locked with SKIP LOCKED
/// so replicas share the work; call inside a transaction.
pub async fn lock_due_for_retirement(
    client: &impl GenericClient,
    stuck_after: chrono::Duration,
    revoking_grace: chrono::Duration,
    limit: i64,
) -> Result<Vec<CredentialRecord>, StateError> {
    let stuck_before = Utc::now() - stuck_after;
    let claimed_before = Utc::now() - revoking_grace;
    let sql = format!(
        "SELECT {COLUMNS} FROM hoop_credentials
         WHERE (state = 'active' AND expires_at <= now())
            OR (state = 'revoking' AND coalesce(revoked_at, created_at) < $3)
            OR (state = 'provisioning' AND created_at < $1)
         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    client
        .query(&sql, &[&stuck_before, &limit, &claimed_before])
        .await?
        .iter()
        .map(CredentialRecord::from_row)
        .collect()
}

/// A live credential and the CI run it belongs to, for the run watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRun {
    pub id: CredentialId,
    pub issuer: String,
    /// `github` or `gitlab`.
    pub provider: String,
    pub repository: String,
    pub repository_id: String,
    pub run_id: String,
    pub attempt: i32,
    pub job_id: Option<String>,
}

/// Credentials that are live now, with their runs.
pub async fn live_runs(client: &impl GenericClient) -> Result<Vec<LiveRun>, StateError> {
    let rows = client
        .query(
            "SELECT id, issuer, provider, repository, repository_id, run_id, run_attempt, job_id
             FROM hoop_credentials WHERE state = 'active' AND expires_at > now()
             ORDER BY created_at",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveRun {
            id: CredentialId::from_uuid(r.get(0)),
            issuer: r.get(1),
            provider: r.get(2),
            repository: r.get(3),
            repository_id: r.get(4),
            run_id: r.get(5),
            attempt: r.get(6),
            job_id: r.get(7),
        })
        .collect())
}

/// Parses a credential id from a path segment.
pub fn parse_id(text: &str) -> Option<CredentialId> {
    Uuid::parse_str(text).ok().map(CredentialId::from_uuid)
}
