//! The audit trail's window in the state database: month partitions are created ahead, and
//! one older than `archive.audit_keep_days` is dropped only when every event in it is sealed
//! into a segment the store confirmed, and each of those segments, read back from the store
//! now, still hashes to what was sealed. The archive store keeps the trail for the retention;
//! the database keeps what must be at hand (PCI DSS 10.5.1: three months immediately
//! available).

use chrono::Utc;

use super::{Archiver, ArchiverError};
use crate::archive::Sha256;
use crate::audit::Outcome;
use crate::state::audit_trail;

/// Creates the coming month partitions and drops the old ones that are safe to drop. `true`
/// when an old partition waits for its events to be sealed or stored (worth another look at
/// the next digest rather than in an hour).
pub(super) async fn keep(a: &Archiver) -> Result<bool, ArchiverError> {
    let mut waiting = false;
    let client = a.deps.state.client().await?;
    audit_trail::ensure_partitions(&client).await?;
    let keep_until = Utc::now() - a.audit_keep;
    'partitions: for old in audit_trail::old_partitions(&client, keep_until).await? {
        if old.unsealed > 0 {
            tracing::info!(partition = %old.name, unsealed = old.unsealed, "an audit partition past the window still has unsealed events; kept");
            waiting = true;
            continue;
        }
        for (key, sealed, stored) in &old.segments {
            if !stored {
                tracing::info!(partition = %old.name, segment = %key, "an audit partition past the window waits for its segment to be stored; kept");
                waiting = true;
                continue 'partitions;
            }
            let found = Sha256::of(&a.store.get(key).await?);
            if found != *sealed {
                let message = format!(
                    "audit partition {} kept: its segment {key} in {} hashes to {found}, it was \
                     sealed as {sealed}",
                    old.name,
                    a.store.describe()
                );
                tracing::error!(target: "hoop::alert", "{message}");
                a.audit(Outcome::Error, "audit_segment_mismatch", message)
                    .await;
                continue 'partitions;
            }
        }
        audit_trail::drop_partition(&client, &old.name).await?;
        a.audit(
            Outcome::Success,
            "audit_partition_dropped",
            format!(
                "audit partition {} dropped from the state database: its events are in {} \
                 segments stored in {} and read back intact",
                old.name,
                old.segments.len(),
                a.store.describe()
            ),
        )
        .await;
    }
    Ok(waiting)
}
