//! The audit trail's way to the archive store (`hoop_audit_events.segment_key`,
//! `hoop_audit_segments`) and its bounded window in the state database (monthly partitions).
//!
//! Each replica seals the events it recorded into a segment when it writes a digest: the
//! events are claimed `FOR UPDATE` in the digest's transaction, the segment's exact bytes are
//! kept here until the store has confirmed them, and each event's `segment_key` is set once
//! (the only change the append-only trigger allows). A month partition is dropped only when
//! every event in it is in a segment the store holds and that was read back intact.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::StateError;
use crate::archive::{AuditRecord, ObjectKey, Period, SealedSegment, Sha256};

/// At most this many events go into one segment; the rest wait for the next period, so a
/// backlog (the archiver down for a day) is sealed in bounded pieces.
pub const SEGMENT_LIMIT: i64 = 50_000;

/// Claims the oldest events of `replica` no segment holds yet, in the digest's transaction.
pub async fn unsealed(
    tx: &deadpool_postgres::Transaction<'_>,
    replica: &str,
) -> Result<Vec<AuditRecord>, StateError> {
    let rows = tx
        .query(
            "SELECT id, at, replica, action, outcome, code, message, remote_addr, issuer,
                 subject, claims, claims_verified, trust_rule, connection, credential_id
             FROM hoop_audit_events WHERE replica = $1 AND segment_key IS NULL
             ORDER BY id LIMIT $2 FOR UPDATE",
            &[&replica, &SEGMENT_LIMIT],
        )
        .await?;
    Ok(rows.iter().map(record_of).collect())
}

fn record_of(r: &Row) -> AuditRecord {
    let at: DateTime<Utc> = r.get(1);
    let claims: Option<serde_json::Value> = r.get(10);
    let credential: Option<uuid::Uuid> = r.get(14);
    AuditRecord {
        id: r.get(0),
        at: at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        replica: r.get(2),
        action: r.get(3),
        outcome: r.get(4),
        code: r.get(5),
        message: r.get(6),
        remote_addr: r.get(7),
        issuer: r.get(8),
        subject: r.get(9),
        claims: claims.map(|c| c.to_string()),
        claims_verified: r.get(11),
        trust_rule: r.get(12),
        connection: r.get(13),
        credential_id: credential.map(|c| c.to_string()),
    }
}

/// Keeps the sealed segment's bytes and marks its events sealed, in the digest's transaction.
pub async fn insert_segment(
    tx: &deadpool_postgres::Transaction<'_>,
    replica: &str,
    period: Period,
    segment: &SealedSegment,
) -> Result<(), StateError> {
    let ids: Vec<i64> = segment.segment.events.iter().map(|e| e.id).collect();
    tx.execute(
        "INSERT INTO hoop_audit_segments (replica, period_start, key, sha256, body, events)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &replica,
            &period.start(),
            &segment.key.as_str(),
            &Sha256::of(&segment.bytes).to_hex(),
            &segment.bytes,
            &(ids.len() as i32),
        ],
    )
    .await?;
    let sealed = tx
        .execute(
            "UPDATE hoop_audit_events SET segment_key = $2
             WHERE replica = $1 AND id = ANY($3) AND segment_key IS NULL",
            &[&replica, &segment.key.as_str(), &ids],
        )
        .await?;
    if sealed != ids.len() as u64 {
        return Err(StateError::Corrupt(format!(
            "sealing {}: {sealed} of {} events were still unsealed",
            segment.key,
            ids.len()
        )));
    }
    Ok(())
}

/// The segment of `replica`'s digest period starting at `start` that the store has not
/// confirmed yet: its key and exact bytes.
pub async fn unstored_segment(
    client: &impl GenericClient,
    replica: &str,
    start: DateTime<Utc>,
) -> Result<Option<(ObjectKey, Vec<u8>)>, StateError> {
    let row = client
        .query_opt(
            "SELECT key, body FROM hoop_audit_segments
             WHERE replica = $1 AND period_start = $2 AND NOT stored",
            &[&replica, &start],
        )
        .await?;
    row.map(|r| {
        let key = ObjectKey::parse(r.get(0))
            .map_err(|_| StateError::Corrupt("hoop_audit_segments.key".into()))?;
        Ok((key, r.get(1)))
    })
    .transpose()
}

pub async fn mark_segment_stored(
    client: &impl GenericClient,
    key: &ObjectKey,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE hoop_audit_segments SET stored = true WHERE key = $1",
            &[&key.as_str()],
        )
        .await?;
    Ok(())
}

/// A month partition of the audit events, past the window the database keeps.
#[derive(Clone, Debug)]
pub struct OldPartition {
    pub name: String,
    /// Events in it that no segment holds yet.
    pub unsealed: i64,
    /// The segments its events are in, with the SHA-256 each was sealed with and whether the
    /// store confirmed it.
    pub segments: Vec<(ObjectKey, Sha256, bool)>,
}

/// Creates the month partitions of this month and the next two (the default partition takes
/// whatever falls outside them, so an insert never fails for want of one).
pub async fn ensure_partitions(client: &impl GenericClient) -> Result<(), StateError> {
    client
        .batch_execute(
            "SELECT hoop_audit_partition_ensure(now());
             SELECT hoop_audit_partition_ensure(now() + interval '1 month');
             SELECT hoop_audit_partition_ensure(now() + interval '2 months');",
        )
        .await?;
    Ok(())
}

/// The month partitions whose every event is older than `keep_until`, with what it takes to
/// decide whether each may go.
pub async fn old_partitions(
    client: &impl GenericClient,
    keep_until: DateTime<Utc>,
) -> Result<Vec<OldPartition>, StateError> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent
             WHERE p.relname = 'hoop_audit_events' AND c.relname ~ '^hoop_audit_events_[0-9]{4}_[0-9]{2}$'
             ORDER BY c.relname",
            &[],
        )
        .await?;
    let mut old = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let Some(month_end) = month_end_of(&name) else {
            continue;
        };
        if month_end > keep_until {
            continue;
        }
        // The name came from the catalogue and matched the pattern above: safe to quote.
        let quoted = format!("\"{name}\"");
        let unsealed: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {quoted} WHERE segment_key IS NULL"),
                &[],
            )
            .await?
            .get(0);
        let segments = client
            .query(
                &format!(
                    "SELECT DISTINCT e.segment_key, s.sha256, coalesce(s.stored, false)
                     FROM {quoted} e LEFT JOIN hoop_audit_segments s ON s.key = e.segment_key
                     WHERE e.segment_key IS NOT NULL"
                ),
                &[],
            )
            .await?;
        let corrupt = || StateError::Corrupt(format!("{name}.segment_key"));
        let segments = segments
            .iter()
            .map(|r| {
                let key = ObjectKey::parse(r.get(0)).map_err(|_| corrupt())?;
                let sha: Option<String> = r.get(1);
                let sha = sha.and_then(|s| Sha256::from_hex(&s)).ok_or_else(corrupt)?;
                Ok((key, sha, r.get(2)))
            })
            .collect::<Result<Vec<_>, StateError>>()?;
        old.push(OldPartition {
            name,
            unsealed,
            segments,
        });
    }
    Ok(old)
}

/// Drops a month partition [`old_partitions`] named (its events are all in stored segments).
pub async fn drop_partition(client: &impl GenericClient, name: &str) -> Result<(), StateError> {
    if month_end_of(name).is_none() {
        return Err(StateError::Corrupt(format!(
            "{name} is not an audit month partition"
        )));
    }
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS \"{name}\""))
        .await?;
    Ok(())
}

/// The first instant after the month a partition name (`hoop_audit_events_YYYY_MM`) covers.
fn month_end_of(name: &str) -> Option<DateTime<Utc>> {
    let rest = name.strip_prefix("hoop_audit_events_")?;
    let (year, month) = rest.split_once('_')?;
    let (year, month): (i32, u32) = (year.parse().ok()?, month.parse().ok()?);
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn partition_names_give_the_end_of_their_month() {
        assert_eq!(
            month_end_of("hoop_audit_events_2026_12"),
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            month_end_of("hoop_audit_events_2026_02"),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        );
        for bad in [
            "hoop_audit_events_default",
            "hoop_audit_events_2026_13",
            "x_2026_01",
        ] {
            assert_eq!(month_end_of(bad), None, "{bad}");
        }
    }
}
