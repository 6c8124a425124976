//! The sessions index: a row per gateway session, from connect to its closed recording.

use std::net::IpAddr;

use deadpool_postgres::GenericClient;

use super::StateError;
use crate::base::CredentialId;
use crate::base::SessionId;

pub struct NewSession<'a> {
    pub id: SessionId,
    pub credential_id: CredentialId,
    pub username: &'a str,
    pub connection: &'a str,
    pub database: &'a str,
    pub replica: &'a str,
    pub client_addr: Option<IpAddr>,
    pub tls: bool,
    pub application: Option<&'a str>,
    pub spool_path: &'a str,
}

/// How a session ended, with the figures of its recording.
pub struct SessionEnd<'a> {
    pub reason: &'a str,
    pub statements: i64,
    pub errors: i64,
    pub events: i64,
    pub chain_head: &'a str,
    pub recording_bytes: i64,
}

pub async fn insert_live(
    client: &impl GenericClient,
    s: &NewSession<'_>,
) -> Result<(), StateError> {
    client
        .execute(
            "INSERT INTO hoop_sessions (id, credential_id, username, connection, database, replica,
                 client_addr, tls, application, state, spool_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'live', $10)",
            &[
                &s.id.as_uuid(),
                &s.credential_id.as_uuid(),
                &s.username,
                &s.connection,
                &s.database,
                &s.replica,
                &s.client_addr.map(|a| a.to_string()),
                &s.tls,
                &s.application,
                &s.spool_path,
            ],
        )
        .await?;
    Ok(())
}

pub async fn finish(
    client: &impl GenericClient,
    id: SessionId,
    end: &SessionEnd<'_>,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE hoop_sessions SET state = 'ended', ended_at = now(), end_reason = $2,
                 statements = $3, errors = $4, events = $5, chain_head = $6, recording_bytes = $7
             WHERE id = $1 AND state = 'live'",
            &[
                &id.as_uuid(),
                &end.reason,
                &end.statements,
                &end.errors,
                &end.events,
                &end.chain_head,
                &end.recording_bytes,
            ],
        )
        .await?;
    Ok(())
}

/// Sessions of `replica` still marked live: a crash ended them. Returns their spool paths and
/// marks them `terminated`.
pub async fn terminate_leftovers(
    client: &impl GenericClient,
    replica: &str,
) -> Result<Vec<(SessionId, String)>, StateError> {
    let rows = client
        .query(
            "UPDATE hoop_sessions SET state = 'terminated', ended_at = now(),
                 end_reason = 'the gateway stopped without closing the session'
             WHERE replica = $1 AND state = 'live' RETURNING id, spool_path",
            &[&replica],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (SessionId::from_uuid(r.get(0)), r.get(1)))
        .collect())
}
