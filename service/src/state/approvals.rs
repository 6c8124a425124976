//! The approvals table: a row per held statement, from request to decision.
//!
//! Every change of state is one conditional `UPDATE ... WHERE state = 'pending'` that also
//! sends `NOTIFY hoop_approvals, '<id>'` (delivered at commit), so a decision, a timeout and a
//! withdrawal race safely: exactly one of them moves the row, and every replica hears of it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::StateError;
use crate::base::CredentialId;
use crate::base::{ApprovalId, SessionId};
use crate::identity::RunIdentity;
pub use crate::policy::rules::Scope;

/// The notification channel of approval changes; the payload is the approval id.
pub const CHANNEL: &str = "hoop_approvals";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    /// Nobody decided within the timeout.
    Expired,
    /// The client cancelled or went away, or the session ended, before a decision.
    Withdrawn,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalState> {
        Some(match text {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "expired" => ApprovalState::Expired,
            "withdrawn" => ApprovalState::Withdrawn,
            _ => return None,
        })
    }
}

/// A new approval, as the gateway requests it.
pub struct NewApproval<'a> {
    pub id: ApprovalId,
    pub credential_id: CredentialId,
    pub session_id: SessionId,
    pub replica: &'a str,
    pub connection: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    /// Masked.
    pub statement: &'a str,
    pub fingerprint: &'a str,
    pub issuer: &'a str,
    pub run: &'a RunIdentity,
    /// From now, by the database's clock (the one decisions are checked against).
    pub timeout: std::time::Duration,
}

/// A stored approval.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub credential_id: Uuid,
    pub session_id: Uuid,
    pub replica: String,
    pub connection: String,
    pub rule: String,
    pub reason: String,
    pub statement: String,
    pub fingerprint: String,
    pub run: RunIdentity,
    pub state: ApprovalState,
    pub scope: Option<Scope>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
}

const COLUMNS: &str = "id, credential_id, session_id, replica, connection, rule, reason, \
     statement, fingerprint, identity, state, scope, requested_at, expires_at, decided_at, \
     decided_by, comment";

impl ApprovalRecord {
    fn from_row(row: &Row) -> Result<Self, StateError> {
        let state: String = row.get("state");
        let scope: Option<String> = row.get("scope");
        Ok(ApprovalRecord {
            id: ApprovalId::from_uuid(row.get("id")),
            credential_id: row.get("credential_id"),
            session_id: row.get("session_id"),
            replica: row.get("replica"),
            connection: row.get("connection"),
            rule: row.get("rule"),
            reason: row.get("reason"),
            statement: row.get("statement"),
            fingerprint: row.get("fingerprint"),
            run: serde_json::from_value(row.get("identity"))
                .map_err(|e| StateError::Corrupt(format!("approval identity: {e}")))?,
            state: ApprovalState::parse(&state)
                .ok_or_else(|| StateError::Corrupt(format!("approval state {state:?}")))?,
            scope: match scope.as_deref() {
                None => None,
                Some("once") => Some(Scope::Once),
                Some("run") => Some(Scope::Run),
                Some(other) => {
                    return Err(StateError::Corrupt(format!("approval scope {other:?}")));
                }
            },
            requested_at: row.get("requested_at"),
            expires_at: row.get("expires_at"),
            decided_at: row.get("decided_at"),
            decided_by: row.get("decided_by"),
            comment: row.get("comment"),
        })
    }
}

fn records(rows: &[Row]) -> Result<Vec<ApprovalRecord>, StateError> {
    rows.iter().map(ApprovalRecord::from_row).collect()
}

/// Stores a pending approval and returns it as stored, in one statement: a second read could
/// fail (the state database restarting) after the row exists, leaving a pending approval that
/// no session waits for, which an approver could still approve.
pub async fn insert(
    client: &impl GenericClient,
    a: &NewApproval<'_>,
) -> Result<ApprovalRecord, StateError> {
    let identity = serde_json::to_value(a.run).map_err(|e| StateError::Corrupt(e.to_string()))?;
    let sql = format!(
        "INSERT INTO hoop_approvals (id, credential_id, session_id, replica, connection, rule,
                 reason, statement, fingerprint, issuer, repository, repository_id, run_id, actor,
                 run_url, identity, state, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   'pending', now() + make_interval(secs => $17))
         RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &sql,
            &[
                &a.id.as_uuid(),
                &a.credential_id.as_uuid(),
                &a.session_id.as_uuid(),
                &a.replica,
                &a.connection,
                &a.rule,
                &a.reason,
                &a.statement,
                &a.fingerprint,
                &a.issuer,
                &a.run.repository,
                &a.run.repository_id,
                &a.run.run_id.as_str(),
                &a.run.actor,
                &a.run.run_url,
                &identity,
                &a.timeout.as_secs_f64(),
            ],
        )
        .await?;
    ApprovalRecord::from_row(&row)
}

pub async fn get(
    client: &impl GenericClient,
    id: ApprovalId,
) -> Result<Option<ApprovalRecord>, StateError> {
    let sql = format!("SELECT {COLUMNS} FROM hoop_approvals WHERE id = $1");
    client
        .query_opt(&sql, &[&id.as_uuid()])
        .await?
        .as_ref()
        .map(ApprovalRecord::from_row)
        .transpose()
}

/// Newest first, at most `limit`; only `state` when given.
pub async fn list(
    client: &impl GenericClient,
    state: Option<ApprovalState>,
    limit: i64,
) -> Result<Vec<ApprovalRecord>, StateError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hoop_approvals WHERE ($1::text IS NULL OR state = $1)
         ORDER BY requested_at DESC LIMIT $2"
    );
    let state = state.map(ApprovalState::as_str);
    records(&client.query(&sql, &[&state, &limit]).await?)
}

/// How a pending approval ends.
pub enum Resolution<'a> {
    Approved {
        scope: Scope,
        by: &'a str,
        comment: Option<&'a str>,
    },
    Denied {
        by: &'a str,
        comment: Option<&'a str>,
    },
    Expired,
    Withdrawn {
        why: &'a str,
    },
}

/// Moves a pending approval to its end state and notifies every replica. `None` when it was
/// not pending (or, for a decision, already past its expiry): someone else moved it first.
pub async fn resolve(
    client: &impl GenericClient,
    id: ApprovalId,
    resolution: &Resolution<'_>,
) -> Result<Option<ApprovalRecord>, StateError> {
    let (state, scope, by, comment, decision) = match resolution {
        Resolution::Approved { scope, by, comment } => (
            ApprovalState::Approved,
            Some(scope.as_str()),
            Some(*by),
            *comment,
            true,
        ),
        Resolution::Denied { by, comment } => {
            (ApprovalState::Denied, None, Some(*by), *comment, true)
        }
        Resolution::Expired => (ApprovalState::Expired, None, None, None, false),
        Resolution::Withdrawn { why } => (ApprovalState::Withdrawn, None, None, Some(*why), false),
    };
    // A decision arriving after the deadline loses to the timeout, even if the holder has
    // not marked the row expired yet.
    let sql = format!(
        "WITH moved AS (
             UPDATE hoop_approvals
             SET state = $2, scope = $3, decided_by = $4, comment = $5, decided_at = now()
             WHERE id = $1 AND state = 'pending' AND (NOT $6 OR expires_at > now())
             RETURNING {COLUMNS})
         SELECT moved.*, pg_notify('{CHANNEL}', moved.id::text) FROM moved"
    );
    client
        .query_opt(
            &sql,
            &[
                &id.as_uuid(),
                &state.as_str(),
                &scope,
                &by,
                &comment,
                &decision,
            ],
        )
        .await?
        .as_ref()
        .map(ApprovalRecord::from_row)
        .transpose()
}

/// The run-wide approval covering `fingerprint` for the run of this credential, on the same
/// connection and under the same rule, if any. Only within the same attempt: a GitHub re-run
/// is started by someone its token does not name, possibly the approver, who would otherwise
/// run statements under their own approval (dual control refuses to decide re-runs for the
/// same reason). GitLab runs have one attempt, so this covers the whole pipeline.
pub async fn covering(
    client: &impl GenericClient,
    issuer: &str,
    run: &RunIdentity,
    connection: &str,
    rule: &str,
    fingerprint: &str,
) -> Result<Option<ApprovalRecord>, StateError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hoop_approvals
         WHERE issuer = $1 AND repository_id = $2 AND run_id = $3 AND connection = $4
           AND rule = $5 AND fingerprint = $6 AND state = 'approved' AND scope = 'run'
           AND identity->>'attempt' = $7
         ORDER BY decided_at DESC LIMIT 1"
    );
    client
        .query_opt(
            &sql,
            &[
                &issuer,
                &run.repository_id,
                &run.run_id.as_str(),
                &connection,
                &rule,
                &fingerprint,
                &run.attempt.to_string(),
            ],
        )
        .await?
        .as_ref()
        .map(ApprovalRecord::from_row)
        .transpose()
}
