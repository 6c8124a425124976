//! Stored archives and each replica's digest chain (`hoop_archives`, `hoop_digests`), and the
//! archive state of the sessions index.
//!
//! The store is the evidence; these rows are the replica's bookkeeping: which archives a digest
//! has yet to list, and the exact bytes of the newest digest until the store has confirmed it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::StateError;
use crate::archive::{DigestEntry, ObjectKey, Period, SessionId, Sha256};

/// An archive both of whose objects the store has confirmed.
#[derive(Clone, Debug)]
pub struct StoredArchive {
    pub entry: DigestEntry,
    pub replica: String,
    pub store: String,
    pub end_state: String,
    pub run_id: Option<String>,
    pub repository: Option<String>,
    pub connection: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub sealed_at: DateTime<Utc>,
    pub retain_until: DateTime<Utc>,
    /// How the recording says its session ended.
    pub end: RecordedEnd,
}

/// How a session ended, as its recording's last event and its manifest say: what the sessions
/// index holds once the session is closed (`sessions::finish`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedEnd {
    /// The `session_end` event's reason (masked, as recorded).
    pub reason: String,
    pub statements: i64,
    pub errors: i64,
    pub events: i64,
    pub chain_head: String,
    pub recording_bytes: i64,
}

/// Records a stored archive and marks its session `stored`, in one transaction. Recording the
/// same archive twice (a retry after a crash) changes nothing.
///
/// A session the index still shows `live` is closed with what its recording says: an archived
/// recording has its end event, so the session is over, and its own close could not write the
/// index (the state database was unreachable then). Otherwise the row would stay `live` for
/// good, and be marked `terminated` at its replica's next start. When the gateway's close and
/// this race, the first one closes the row with the same figures; the other changes nothing.
pub async fn record_stored(
    client: &mut deadpool_postgres::Client,
    a: &StoredArchive,
) -> Result<(), StateError> {
    let tx = client.transaction().await?;
    let e = &a.entry;
    tx.execute(
        "INSERT INTO hoop_archives (session_id, replica, store, manifest_key, manifest_sha256,
             recording_key, object_sha256, content_sha256, end_state, run_id, repository,
             connection, started_at, ended_at, sealed_at, retain_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (session_id) DO NOTHING",
        &[
            &e.session_id.to_string(),
            &a.replica,
            &a.store,
            &e.manifest_key.as_str(),
            &e.manifest_sha256.to_hex(),
            &e.recording_key.as_str(),
            &e.object_sha256.to_hex(),
            &e.content_sha256.to_hex(),
            &a.end_state,
            &a.run_id,
            &a.repository,
            &a.connection,
            &a.started_at,
            &a.ended_at,
            &a.sealed_at,
            &a.retain_until,
        ],
    )
    .await?;
    let end = &a.end;
    // Every SET expression reads the row as it was, so `state = 'live'` is the old state.
    tx.execute(
        "UPDATE hoop_sessions SET archive_state = 'stored', archived_at = now(),
             state = CASE WHEN state = 'live' THEN $2 ELSE state END,
             ended_at = CASE WHEN state = 'live' THEN coalesce($3, now()) ELSE ended_at END,
             end_reason = CASE WHEN state = 'live' THEN $4 ELSE end_reason END,
             statements = CASE WHEN state = 'live' THEN $5 ELSE statements END,
             errors = CASE WHEN state = 'live' THEN $6 ELSE errors END,
             events = CASE WHEN state = 'live' THEN $7 ELSE events END,
             chain_head = CASE WHEN state = 'live' THEN $8 ELSE chain_head END,
             recording_bytes = CASE WHEN state = 'live' THEN $9 ELSE recording_bytes END
         WHERE id::text = $1",
        // Spool ids that are not UUIDs have no sessions row; the text comparison matches none.
        &[
            &e.session_id.to_string(),
            &a.end_state,
            &a.ended_at,
            &end.reason,
            &end.statements,
            &end.errors,
            &end.events,
            &end.chain_head,
            &end.recording_bytes,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a session whose recording cannot be archived (it does not verify): its file stays in
/// the spool for an operator.
pub async fn mark_quarantined(
    client: &impl GenericClient,
    session_id: &str,
) -> Result<(), StateError> {
    // Spool ids that are not UUIDs have no sessions row; the text comparison matches none.
    client
        .execute(
            "UPDATE hoop_sessions SET archive_state = 'quarantined' WHERE id::text = $1",
            &[&session_id],
        )
        .await?;
    Ok(())
}

/// The newest digest of `replica`, as this database knows it.
#[derive(Clone, Debug)]
pub struct DigestRow {
    pub period: Period,
    pub key: ObjectKey,
    pub body: Vec<u8>,
    pub stored: bool,
}

pub async fn latest_digest(
    client: &impl GenericClient,
    replica: &str,
) -> Result<Option<DigestRow>, StateError> {
    let row = client
        .query_opt(
            "SELECT period_start, period_end, key, body, stored FROM hoop_digests
             WHERE replica = $1 ORDER BY period_start DESC LIMIT 1",
            &[&replica],
        )
        .await?;
    row.map(|r| {
        let corrupt = |what: &str| StateError::Corrupt(format!("hoop_digests.{what}"));
        Ok(DigestRow {
            period: Period::new(r.get(0), r.get(1)).map_err(|_| corrupt("period"))?,
            key: ObjectKey::parse(r.get(2)).map_err(|_| corrupt("key"))?,
            body: r.get(3),
            stored: r.get(4),
        })
    })
    .transpose()
}

/// Claims for the next digest every archive of `replica` no digest lists yet, in a transaction
/// the caller commits with [`insert_digest`].
pub async fn undigested(
    tx: &deadpool_postgres::Transaction<'_>,
    replica: &str,
) -> Result<Vec<DigestEntry>, StateError> {
    let rows = tx
        .query(
            "SELECT session_id, manifest_key, manifest_sha256, recording_key, object_sha256,
                 content_sha256
             FROM hoop_archives WHERE replica = $1 AND digest_key IS NULL
             ORDER BY manifest_key FOR UPDATE",
            &[&replica],
        )
        .await?;
    rows.iter().map(entry_of).collect()
}

fn entry_of(r: &Row) -> Result<DigestEntry, StateError> {
    let corrupt = |what: &str| StateError::Corrupt(format!("hoop_archives.{what}"));
    let sha = |i: usize, what: &str| Sha256::from_hex(r.get(i)).ok_or_else(|| corrupt(what));
    Ok(DigestEntry {
        session_id: SessionId::parse(r.get(0)).map_err(|_| corrupt("session_id"))?,
        manifest_key: ObjectKey::parse(r.get(1)).map_err(|_| corrupt("manifest_key"))?,
        manifest_sha256: sha(2, "manifest_sha256")?,
        recording_key: ObjectKey::parse(r.get(3)).map_err(|_| corrupt("recording_key"))?,
        object_sha256: sha(4, "object_sha256")?,
        content_sha256: sha(5, "content_sha256")?,
    })
}

/// A sealed digest about to be put in the store.
pub struct NewDigest<'a> {
    pub replica: &'a str,
    pub period: Period,
    pub key: &'a ObjectKey,
    pub body: &'a [u8],
    pub listed: &'a [DigestEntry],
}

/// Records the digest (not yet stored) and marks the archives it lists, then commits.
pub async fn insert_digest(
    tx: deadpool_postgres::Transaction<'_>,
    d: &NewDigest<'_>,
) -> Result<(), StateError> {
    let sessions: Vec<String> = d.listed.iter().map(|e| e.session_id.to_string()).collect();
    tx.execute(
        "INSERT INTO hoop_digests (replica, period_start, period_end, key, sha256, body, archives)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &d.replica,
            &d.period.start(),
            &d.period.end(),
            &d.key.as_str(),
            &Sha256::of(d.body).to_hex(),
            &d.body,
            &(d.listed.len() as i32),
        ],
    )
    .await?;
    tx.execute(
        "UPDATE hoop_archives SET digest_key = $2 WHERE replica = $1 AND session_id = ANY($3)",
        &[&d.replica, &d.key.as_str(), &sessions],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn mark_digest_stored(
    client: &impl GenericClient,
    replica: &str,
    period: Period,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE hoop_digests SET stored = true WHERE replica = $1 AND period_start = $2",
            &[&replica, &period.start()],
        )
        .await?;
    Ok(())
}

/// Filters of an archive listing; every one given must hold.
#[derive(Clone, Debug, Default)]
pub struct ArchiveFilter {
    pub run_id: Option<String>,
    pub repository: Option<String>,
    pub connection: Option<String>,
    /// Sessions that ended at or after.
    pub since: Option<DateTime<Utc>>,
    /// Sessions that ended before.
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// A row of [`list`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct ArchiveRow {
    pub session_id: String,
    pub replica: String,
    pub manifest_key: String,
    pub recording_key: String,
    pub end_state: String,
    pub run_id: Option<String>,
    pub repository: Option<String>,
    pub connection: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub stored_at: DateTime<Utc>,
    pub retain_until: DateTime<Utc>,
    pub digest_key: Option<String>,
}

/// The columns [`row_of`] reads, in its order.
const ARCHIVE_ROW: &str = "SELECT session_id, replica, manifest_key, recording_key, end_state,
     run_id, repository, connection, started_at, ended_at, stored_at, retain_until, digest_key
     FROM hoop_archives";

/// Stored archives matching `filter`, newest first.
pub async fn list(
    client: &impl GenericClient,
    filter: &ArchiveFilter,
) -> Result<Vec<ArchiveRow>, StateError> {
    let rows = client
        .query(
            &format!(
                "{ARCHIVE_ROW} WHERE ($1::text IS NULL OR run_id = $1)
               AND ($2::text IS NULL OR repository = $2)
               AND ($3::text IS NULL OR connection = $3)
               AND ($4::timestamptz IS NULL OR ended_at >= $4)
               AND ($5::timestamptz IS NULL OR ended_at < $5)
             ORDER BY ended_at DESC NULLS LAST, session_id LIMIT $6"
            ),
            &[
                &filter.run_id,
                &filter.repository,
                &filter.connection,
                &filter.since,
                &filter.until,
                &filter.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(row_of).collect())
}

/// One stored archive by session id.
pub async fn get(
    client: &impl GenericClient,
    session_id: &str,
) -> Result<Option<ArchiveRow>, StateError> {
    let row = client
        .query_opt(
            &format!("{ARCHIVE_ROW} WHERE session_id = $1"),
            &[&session_id],
        )
        .await?;
    Ok(row.as_ref().map(row_of))
}

fn row_of(r: &Row) -> ArchiveRow {
    ArchiveRow {
        session_id: r.get(0),
        replica: r.get(1),
        manifest_key: r.get(2),
        recording_key: r.get(3),
        end_state: r.get(4),
        run_id: r.get(5),
        repository: r.get(6),
        connection: r.get(7),
        started_at: r.get(8),
        ended_at: r.get(9),
        stored_at: r.get(10),
        retain_until: r.get(11),
        digest_key: r.get(12),
    }
}
