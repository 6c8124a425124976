//! The replica's digest chain: one signed digest per elapsed period, each linking to the one
//! before, listing every archive stored since.
//!
//! A digest is first committed to `hoop_digests` (exact bytes) together with the claim on the
//! archives it lists, then put in the store. After a crash between the two the same bytes are
//! put again, so the chain never forks; after the state database was lost, the chain goes on
//! from the newest digest in the store.

use std::time::{Duration, Instant};

/// How often the audit window is kept: partitions are months, an hour is plenty.
const WINDOW_EVERY: Duration = Duration::from_secs(3600);

use chrono::{DateTime, Utc};

use super::{Archiver, ArchiverError, audit_window};
use crate::archive::{AuditSegment, Digest, DigestBuilder, ObjectKey, Period, PreviousDigest};
use crate::state::StateError;
use crate::state::archives::{self, NewDigest};
use crate::state::audit_trail;

/// Where the chain stands.
pub(super) struct Chain {
    /// The next period to write a digest for.
    next: Period,
    previous: Option<PreviousDigest>,
    /// A digest committed to the state database but not yet confirmed in the store.
    unstored: Option<Unstored>,
    /// When the audit window was last kept ([`audit_window::keep`]).
    window_kept: Option<Instant>,
}

struct Unstored {
    key: ObjectKey,
    body: Vec<u8>,
    period: Period,
    /// The audit segment the digest lists, put before the digest.
    segment: Option<(ObjectKey, Vec<u8>)>,
}

impl Chain {
    /// Picks the chain up from the state database, else from the store, else starts it with
    /// the current period.
    pub(super) async fn load(a: &Archiver) -> Result<Chain, ArchiverError> {
        let client = a.deps.state.client().await?;
        let replica = a.replica.as_str();
        if let Some(row) = archives::latest_digest(&client, replica).await? {
            let previous = PreviousDigest::of_stored(row.key.clone(), &row.body)?;
            let next = following(row.period, a.period)?;
            let segment = if row.stored {
                None
            } else {
                audit_trail::unstored_segment(&client, replica, row.period.start()).await?
            };
            let unstored = (!row.stored).then_some(Unstored {
                key: row.key,
                body: row.body,
                period: row.period,
                segment,
            });
            return Ok(Chain {
                next,
                previous: Some(previous),
                unstored,
                window_kept: None,
            });
        }
        if let Some((key, body)) = newest_in_store(a).await? {
            let digest = Digest::parse(&body)?;
            tracing::warn!(digest = %key, "the state database knows no digest of this replica; continuing the chain from the newest one in the store");
            return Ok(Chain {
                next: following(digest.period()?, a.period)?,
                previous: Some(PreviousDigest::of_stored(key, &body)?),
                unstored: None,
                window_kept: None,
            });
        }
        Ok(Chain {
            next: Period::containing(Utc::now(), a.period)?,
            previous: None,
            unstored: None,
            window_kept: None,
        })
    }

    /// How long until the next digest is due.
    pub(super) fn until_due(&self, now: DateTime<Utc>) -> Duration {
        (self.next.end() - now).to_std().unwrap_or(Duration::ZERO)
    }

    /// Stores a digest left unstored, then writes one per elapsed period.
    pub(super) async fn write_due(&mut self, a: &Archiver) -> Result<(), ArchiverError> {
        self.flush(a).await?;
        while Utc::now() >= self.next.end() {
            let period = self.next;
            let mut client = a.deps.state.client().await?;
            let tx = client.transaction().await.map_err(StateError::from)?;
            let listed = archives::undigested(&tx, a.replica.as_str()).await?;
            let events = audit_trail::unsealed(&tx, a.replica.as_str()).await?;
            let mut builder = DigestBuilder::new(a.replica.clone(), period, self.previous.clone());
            for entry in &listed {
                builder.add(entry.clone())?;
            }
            // Sealing events past the database's window makes an old partition droppable:
            // look at the window after this digest rather than within the hour.
            let keep_until = Utc::now() - a.audit_keep;
            if events.iter().any(|e| {
                DateTime::parse_from_rfc3339(&e.at)
                    .is_ok_and(|at| at.with_timezone(&Utc) < keep_until)
            }) {
                self.window_kept = None;
            }
            let segment = if events.is_empty() {
                None
            } else {
                let segment = AuditSegment::seal(a.replica.clone(), period, events, &a.key)?;
                audit_trail::insert_segment(&tx, a.replica.as_str(), period, &segment).await?;
                builder.audit(segment.entry());
                Some((segment.key, segment.bytes))
            };
            let sealed = builder.seal(&a.key)?;
            archives::insert_digest(
                tx,
                &NewDigest {
                    replica: a.replica.as_str(),
                    period,
                    key: &sealed.key,
                    body: &sealed.bytes,
                    listed: &listed,
                },
            )
            .await?;
            // Committed: this digest is the chain's, whatever the store says next.
            self.previous = Some(sealed.link());
            self.next = following(period, a.period)?;
            self.unstored = Some(Unstored {
                key: sealed.key,
                body: sealed.bytes,
                period,
                segment,
            });
            self.flush(a).await?;
        }
        self.keep_audit_window(a).await;
        Ok(())
    }

    /// Keeps the audit window at most once per [`WINDOW_EVERY`] (at every digest while an old
    /// partition waits for sealing); a failure is logged and retried then, never in the way
    /// of a digest.
    async fn keep_audit_window(&mut self, a: &Archiver) {
        if self.window_kept.is_some_and(|t| t.elapsed() < WINDOW_EVERY) {
            return;
        }
        self.window_kept = match audit_window::keep(a).await {
            Ok(false) => Some(Instant::now()),
            // An old partition waits for the sealing this digest write goes on with.
            Ok(true) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep the audit window in the state database; retried within the hour");
                Some(Instant::now())
            }
        };
    }

    async fn flush(&mut self, a: &Archiver) -> Result<(), ArchiverError> {
        let Some(u) = &self.unstored else {
            return Ok(());
        };
        // The segment first: a digest in the store never lists a segment that is not.
        if let Some((key, body)) = &u.segment {
            a.put_confirmed(key, body, a.lock_from(u.period.end()))
                .await?;
            let client = a.deps.state.client().await?;
            audit_trail::mark_segment_stored(&client, key).await?;
            tracing::debug!(segment = %key, "audit segment stored");
        }
        a.put_confirmed(&u.key, &u.body, a.lock_from(u.period.end()))
            .await?;
        let client = a.deps.state.client().await?;
        archives::mark_digest_stored(&client, a.replica.as_str(), u.period).await?;
        a.deps.metrics.digests_stored.inc();
        tracing::debug!(digest = %u.key, "digest stored");
        self.unstored = None;
        Ok(())
    }
}

/// The period after `last`: it starts where `last` ended and ends at the next multiple of the
/// configured length since the Unix epoch. With an unchanged length that is a whole period;
/// after `digest_period` changed, one shorter period bridges to the new alignment, so the chain
/// stays unbroken and every replica cuts the same periods again.
fn following(last: Period, length: Duration) -> Result<Period, ArchiverError> {
    let aligned = Period::containing(last.end(), length)?;
    Ok(Period::new(last.end(), aligned.end())?)
}

/// The newest digest of this replica in the store (keys sort by period start).
async fn newest_in_store(a: &Archiver) -> Result<Option<(ObjectKey, Vec<u8>)>, ArchiverError> {
    let prefix = format!("digests/{}/", a.replica);
    let listed = a.store.list(&prefix).await?;
    let Some(newest) = listed.into_iter().map(|l| l.key).max() else {
        return Ok(None);
    };
    let body = a.store.get(&newest).await?;
    Ok(Some((newest, body.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, 0).unwrap()
    }

    fn minutes(n: u64) -> Duration {
        Duration::from_secs(60 * n)
    }

    #[test]
    fn periods_stay_aligned_when_the_length_changes() {
        // 1m periods, then digest_period = 2m from 18:19: one 1m period bridges to 18:20.
        let last = Period::new(at(18, 18), at(18, 19)).unwrap();
        let bridge = following(last, minutes(2)).unwrap();
        assert_eq!((bridge.start(), bridge.end()), (at(18, 19), at(18, 20)));
        let next = following(bridge, minutes(2)).unwrap();
        assert_eq!((next.start(), next.end()), (at(18, 20), at(18, 22)));
        assert_eq!(next, Period::containing(at(18, 21), minutes(2)).unwrap());
        // Unchanged, a whole period; shortened, already aligned.
        let same = following(next, minutes(2)).unwrap();
        assert_eq!((same.start(), same.end()), (at(18, 22), at(18, 24)));
        let shorter = following(same, minutes(1)).unwrap();
        assert_eq!((shorter.start(), shorter.end()), (at(18, 24), at(18, 25)));
        // An hour after 18:24 (1m): bridges to 19:00.
        let hourly = following(shorter, minutes(60)).unwrap();
        assert_eq!((hourly.start(), hourly.end()), (at(18, 25), at(19, 0)));
    }
}
