//! Offline verification of a folder laid out like the archive store.
//!
//! First the scope: the digests that prove the window (per replica, those whose period meets
//! it, the one right before it and the one right after it, and on to the digest of the last
//! archive of the window to be sealed), and the archives of the window (ended in it, or listed
//! by one of those digests). A window is covered only by links that reach into it from outside
//! it: a window no digest covers is a problem, never a pass. Then the archives (manifest
//! signature, location, object hash, content hash, chain, every manifest field re-derived from
//! the JSONL), the digests (signature, location, the chain of each replica, what each lists) and
//! coverage (every archive listed by some digest). Every problem is collected, none stops the
//! run: an auditor wants the whole list. A store and a complete copy of it select the same
//! scope, so `verify --store` and `verify --folder` agree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use super::ArchiveError;
use super::audit_segment::AuditSegment;
use super::bundle::{Manifest, RecordingFacts, decompress};
use super::digest::Digest;
use super::keys::{KeyId, KeyRing, UnsignedReason};
use super::layout::{
    AUDIT_DIR, DIGESTS_DIR, MANIFEST_SUFFIX, ObjectKey, RECORDING_SUFFIX, ReplicaName,
    SESSIONS_DIR, SessionId, Sha256,
};
use crate::display::line;
use crate::recording::ChainError;

/// A period of an hour plus an hour of slack for a digest to be written and stored.
pub const DEFAULT_MAX_DIGEST_DELAY: Duration = Duration::from_secs(2 * 3600);

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Archives of sessions that ended on or after this day, digests of periods ending after it.
    pub since: Option<DateTime<Utc>>,
    /// Archives of sessions that ended before this day's end, digests of periods starting
    /// before it.
    pub until: Option<DateTime<Utc>>,
    /// The verifier's clock. Without it, an archive newer than its replica's last digest is
    /// only pending; with it, one pending for longer than `max_digest_delay`, or a replica
    /// without a digest for that long, is a problem (a deleted latest digest shows this way).
    pub now: Option<DateTime<Utc>>,
    pub max_digest_delay: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            since: None,
            until: None,
            now: None,
            max_digest_delay: DEFAULT_MAX_DIGEST_DELAY,
        }
    }
}

impl VerifyOptions {
    fn selects_day(&self, day: Option<NaiveDate>) -> bool {
        let Some(day) = day else { return true };
        let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let Some(start) = start else { return true };
        self.selects(start, start + TimeDelta::days(1))
    }

    /// Whether the instant `t` is in the window `[since, until)`.
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    fn selects(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| end > s) && self.until.is_none_or(|u| start < u)
    }

    fn delay(&self) -> TimeDelta {
        TimeDelta::from_std(self.max_digest_delay).unwrap_or(TimeDelta::MAX)
    }
}

/// Which check found a modification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The object could not be read.
    Read,
    /// Not a well-formed manifest or digest of a known format.
    Format,
    /// Stored under another key than the one its content names (moved or renamed).
    Location,
    /// The `.jsonl.zst` object is not the one the manifest hashed.
    ObjectSha256,
    /// The object is not a zstd stream, or holds more than the manifest's `bytes`.
    Decompress,
    /// The decompressed JSONL is not the one the manifest hashed.
    ContentSha256,
    /// The JSONL's hash chain does not verify.
    Chain,
    EventCount,
    ChainHead,
    /// Another manifest member disagrees with the recording (`detail` names it).
    Manifest,
    /// The stored manifest or object is not the one a digest lists.
    DigestListing,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Read => "read",
            Check::Format => "format",
            Check::Location => "location",
            Check::ObjectSha256 => "object_sha256",
            Check::Decompress => "decompress",
            Check::ContentSha256 => "content_sha256",
            Check::Chain => "chain",
            Check::EventCount => "event_count",
            Check::ChainHead => "chain_head",
            Check::Manifest => "manifest",
            Check::DigestListing => "digest_listing",
        }
    }
}

/// A break in a replica's digest chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gap {
    /// A digest links to one that is not there (deleted).
    MissingDigest {
        expected: ObjectKey,
        referenced_by: ObjectKey,
    },
    /// A digest's link does not match the digest before it (replaced, re-signed, or a chain
    /// restarted midway).
    BrokenLink { digest: ObjectKey, detail: String },
    /// The chain links, but periods are missing between two digests.
    MissingPeriod {
        after: ObjectKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// No digest for longer than `max_digest_delay` (needs [`VerifyOptions::now`]).
    Stale {
        last: ObjectKey,
        period_end: DateTime<Utc>,
    },
}

/// The classes a problem falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemClass {
    Uncovered,
    Missing,
    Hidden,
    Modified,
    Unsigned,
    Gap,
    NotCovered,
    Unlocked,
}

impl ProblemClass {
    pub const ALL: [ProblemClass; 8] = [
        ProblemClass::Uncovered,
        ProblemClass::Missing,
        ProblemClass::Hidden,
        ProblemClass::Modified,
        ProblemClass::Unsigned,
        ProblemClass::Gap,
        ProblemClass::NotCovered,
        ProblemClass::Unlocked,
    ];

    /// The class as the report and `--format json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemClass::Uncovered => "uncovered",
            ProblemClass::Missing => "missing",
            ProblemClass::Hidden => "hidden",
            ProblemClass::Modified => "modified",
            ProblemClass::Unsigned => "unsigned",
            ProblemClass::Gap => "gap",
            ProblemClass::NotCovered => "not_covered",
            ProblemClass::Unlocked => "unlocked",
        }
    }
}

/// One thing wrong with the folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Problem {
    /// Nothing proves what the window held: no digest of any replica meets it or follows it
    /// (a mistyped prefix, an empty folder, or evidence hidden or deleted wholesale).
    Uncovered {
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    /// An object a manifest or a digest names is not there.
    Missing {
        key: ObjectKey,
        /// The digest that lists it, if one does.
        #[serde(skip_serializing_if = "Option::is_none")]
        listed_in: Option<ObjectKey>,
    },
    /// An object is not what was sealed.
    Modified {
        key: ObjectKey,
        check: Check,
        detail: String,
    },
    /// A manifest or digest whose signature no pinned key vouches for.
    Unsigned {
        key: ObjectKey,
        key_id: KeyId,
        reason: UnsignedReason,
    },
    Gap {
        replica: ReplicaName,
        gap: Gap,
    },
    /// An archive that no digest lists, though its replica's digests have moved past it (or,
    /// with a clock, it has waited longer than `max_digest_delay`).
    NotCovered {
        key: ObjectKey,
        session_id: SessionId,
    },
    /// An object the store does not hold under the Object Lock the archive needs (no lock,
    /// GOVERNANCE mode, or retained for too short). A folder cannot show this: the store
    /// reports locks, so whoever reads the store adds these with [`VerifyReport::add_problems`].
    Unlocked {
        key: ObjectKey,
        detail: String,
    },
    /// An object whose original version is hidden: by a delete marker (listings and reads
    /// skip it) or by newer versions put over it (reads return those), while the locked
    /// original stays in the bucket. Only a store shows this (its versions), so whoever reads
    /// the store adds these, like [`Problem::Unlocked`].
    Hidden {
        key: ObjectKey,
        /// What hides it, with the version ids.
        by: String,
        /// How to get the original back.
        restore: String,
    },
}

impl Problem {
    pub fn class(&self) -> ProblemClass {
        match self {
            Problem::Missing { .. } => ProblemClass::Missing,
            Problem::Modified { .. } => ProblemClass::Modified,
            Problem::Unsigned { .. } => ProblemClass::Unsigned,
            Problem::Gap { .. } => ProblemClass::Gap,
            Problem::NotCovered { .. } => ProblemClass::NotCovered,
            Problem::Unlocked { .. } => ProblemClass::Unlocked,
            Problem::Hidden { .. } => ProblemClass::Hidden,
            Problem::Uncovered { .. } => ProblemClass::Uncovered,
        }
    }

    /// The object the problem is about; for a gap, the digest it was found at; none for a
    /// window.
    fn key(&self) -> Option<&ObjectKey> {
        Some(match self {
            Problem::Missing { key, .. }
            | Problem::Modified { key, .. }
            | Problem::Unsigned { key, .. }
            | Problem::NotCovered { key, .. }
            | Problem::Unlocked { key, .. }
            | Problem::Hidden { key, .. } => key,
            Problem::Gap { gap, .. } => match gap {
                Gap::MissingDigest { referenced_by, .. } => referenced_by,
                Gap::BrokenLink { digest, .. } => digest,
                Gap::MissingPeriod { after, .. } => after,
                Gap::Stale { last, .. } => last,
            },
            Problem::Uncovered { .. } => return None,
        })
    }
}

/// An archive newer than its replica's latest digest: its digest is not written yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub key: ObjectKey,
    pub session_id: SessionId,
    pub replica: ReplicaName,
    pub sealed_at: String,
}

/// The outcome of [`verify_folder`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Archives (manifest keys) examined.
    pub archives: u64,
    /// Digests examined.
    pub digests: u64,
    /// Audit segments the digests in scope list, examined.
    pub audit_segments: u64,
    /// Audit events in those segments.
    pub audit_events: u64,
    /// The keys of those segments, to read their events once the report is clean.
    #[serde(skip)]
    pub audit_keys: Vec<ObjectKey>,
    /// Sorted by class, then key.
    pub problems: Vec<Problem>,
    /// Informational: archives whose digest is not due yet.
    pub pending: Vec<Pending>,
}

impl VerifyReport {
    /// True when nothing is wrong; pending archives do not count.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn count(&self, class: ProblemClass) -> usize {
        self.problems.iter().filter(|p| p.class() == class).count()
    }

    /// Adds problems found outside the folder (the store's locks and delete markers) and sorts
    /// the list again, so the report stays one list in one order. An object found hidden is
    /// not also reported missing: it is there, under a delete marker.
    pub fn add_problems(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.problems.extend(problems);
        let hidden: BTreeSet<ObjectKey> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Hidden { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        self.problems
            .retain(|p| !matches!(p, Problem::Missing { key, .. } if hidden.contains(key)));
        *self = std::mem::take(self).finish();
    }

    fn finish(mut self) -> Self {
        self.problems
            .sort_by(|a, b| (a.class(), a.key()).cmp(&(b.class(), b.key())));
        // An object can be missing for its manifest and for a digest: keep one, with the digest.
        self.problems
            .dedup_by(|later, earlier| match (later, earlier) {
                (
                    Problem::Missing {
                        key: k2,
                        listed_in: l2,
                    },
                    Problem::Missing {
                        key: k1,
                        listed_in: l1,
                    },
                ) if k1 == k2 => {
                    if l1.is_none() {
                        *l1 = l2.take();
                    }
                    true
                }
                (later, earlier) => later == earlier,
            });
        self.pending.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} archives, {} digests: {}",
            self.archives,
            self.digests,
            if self.ok() {
                "ok".to_owned()
            } else {
                let classes: Vec<String> = ProblemClass::ALL
                    .into_iter()
                    .map(|class| (class, self.count(class)))
                    .filter(|(_, n)| *n > 0)
                    .map(|(class, n)| format!("{n} {}", class.as_str().replace('_', " ")))
                    .collect();
                format!("{} problems ({})", self.problems.len(), classes.join(", "))
            }
        )?;
        writeln!(
            f,
            "audit trail: {} segments, {} events",
            self.audit_segments, self.audit_events
        )?;
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        for p in &self.pending {
            writeln!(
                f,
                "pending      {}: sealed at {} by {}, after that replica's last digest",
                p.key, p.sealed_at, p.replica
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { key, listed_in } => {
                write!(f, "MISSING      {key}")?;
                match listed_in {
                    Some(digest) => write!(f, " (listed in {digest})"),
                    None => f.write_str(" (named by its manifest)"),
                }
            }
            // Details quote what was found (a parser's message can carry a name from the
            // document): shown escaped, so a planted file cannot drive the auditor's terminal.
            Problem::Modified { key, check, detail } => {
                write!(
                    f,
                    "MODIFIED     {key}: {}: {}",
                    check.as_str(),
                    line(detail)
                )
            }
            Problem::Unsigned {
                key,
                key_id,
                reason,
            } => match reason {
                UnsignedReason::UnknownKey => {
                    write!(
                        f,
                        "UNSIGNED     {key}: signed by {key_id}, which is not pinned"
                    )
                }
                UnsignedReason::BadSignature => write!(
                    f,
                    "UNSIGNED     {key}: the signature does not verify with the pinned key {key_id}"
                ),
            },
            Problem::Gap { replica, gap } => {
                write!(f, "GAP          replica {replica}: ")?;
                match gap {
                    Gap::MissingDigest {
                        expected,
                        referenced_by,
                    } => write!(f, "{expected} is missing ({referenced_by} links to it)"),
                    Gap::BrokenLink { digest, detail } => {
                        write!(f, "{digest}: {}", line(detail))
                    }
                    Gap::MissingPeriod { after, from, to } => {
                        write!(f, "no digest from {from} to {to} (after {after})")
                    }
                    Gap::Stale { last, period_end } => {
                        write!(f, "no digest since {period_end} (the last is {last})")
                    }
                }
            }
            Problem::NotCovered { key, session_id } => write!(
                f,
                "NOT COVERED  {key} (session {session_id}): listed in no digest, and not newer \
                 than its replica's last digest"
            ),
            Problem::Unlocked { key, detail } => {
                write!(f, "UNLOCKED     {key}: {}", line(detail))
            }
            Problem::Hidden { key, by, restore } => write!(
                f,
                "HIDDEN       {key}: {} hides the original; the locked version is still \
                 stored. Restore it: {}",
                line(by),
                line(restore)
            ),
            Problem::Uncovered {
                since,
                until,
                reason,
            } => {
                let time = |t: &Option<DateTime<Utc>>, none: &'static str| {
                    t.map_or(none.to_owned(), |t| {
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    })
                };
                write!(
                    f,
                    "UNCOVERED    {} to {}: {}",
                    time(since, "the beginning"),
                    time(until, "now"),
                    line(reason)
                )
            }
        }
    }
}

/// Verifies the folder `root`, laid out like the store (its prefix is the folder itself),
/// against the pinned `keys`. An `Err` means the verification could not run (the folder cannot
/// be listed, a scratch file cannot be written); everything wrong with the archives is in the
/// report.
pub fn verify_folder(
    root: &Path,
    keys: &KeyRing,
    options: &VerifyOptions,
) -> Result<VerifyReport, ArchiveError> {
    let folder = Folder::scan(root)?;
    let mut run = Run {
        root,
        keys,
        options,
        folder: &folder,
        hashes: HashMap::new(),
        loaded: BTreeSet::new(),
        report: VerifyReport::default(),
    };
    let loaded = run.load_digests();
    run.loaded = loaded.iter().map(|d| d.key.clone()).collect();
    // The archives that ended in the window, and when the last of each replica's was sealed:
    // its digest, however late, is part of what proves the window.
    let mut in_window = BTreeSet::new();
    let mut sealed: HashMap<ReplicaName, DateTime<Utc>> = HashMap::new();
    // The signed archives of the window, by replica: each must be listed by a digest in scope.
    let mut owed: HashMap<ReplicaName, BTreeSet<ObjectKey>> = HashMap::new();
    for (key, files) in &folder.archives {
        match run.window_position(key, files) {
            Position::Outside => {}
            Position::Undated => {
                in_window.insert(key);
            }
            Position::Inside(manifest) => {
                in_window.insert(key);
                owed.entry(manifest.replica.clone())
                    .or_default()
                    .insert(key.clone());
                if let Some(at) = manifest.sealed_at() {
                    let last = sealed.entry(manifest.replica.clone()).or_insert(at);
                    *last = (*last).max(at);
                }
            }
        }
    }
    let digests = select_digests(&loaded, options, &sealed);
    let digests = follow_until_listed(&loaded, digests, &owed);
    run.check_digests(&digests);
    // A digest filed near the window that is out of place or signed by no pinned key is a
    // problem even when no chain in scope uses it: planted beside the window's own, it could
    // otherwise push them out of what a reader fetches.
    let selected: BTreeSet<&ObjectKey> = digests.iter().map(|d| &d.key).collect();
    for d in &loaded {
        if !selected.contains(&d.key) && run.near_window(&d.key) {
            run.check_digests(&[d]);
            run.report.digests -= 1;
        }
    }
    let listed: BTreeSet<&ObjectKey> = digests
        .iter()
        .flat_map(|d| d.digest.archives.iter().map(|e| &e.manifest_key))
        .collect();
    let mut archives = Vec::new();
    for (key, files) in &folder.archives {
        if in_window.contains(key) || listed.contains(key) {
            run.report.archives += 1;
            if let Some(checked) = run.check_archive(key, files)? {
                archives.push(checked);
            }
        }
    }
    run.check_chains(&digests);
    run.check_listings(&digests);
    run.check_segments(&digests);
    run.check_coverage(&archives, &digests);
    // Only a digest whose period meets the window or follows it speaks of it; the one before
    // it is the entry link, not coverage.
    let covering = digests
        .iter()
        .any(|d| options.since.is_none_or(|s| d.digest.period_end > s));
    if !covering {
        let last_end = digests.iter().map(|d| d.digest.period_end).max();
        let reason = if folder.archives.is_empty() && folder.digests.is_empty() {
            "there is no archive and no digest here: nothing was verified (a mistyped prefix or \
             folder, or the wrong store?)"
                .to_owned()
        } else if let Some(end) = last_end {
            format!(
                "no digest covers any of it yet: the chains in scope end at {}; a digest is \
                 written when its period ends, so verify again after the next one",
                end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        } else if archives.is_empty() {
            "no digest covers any of it: every replica's chain begins after it, or ended before \
             it and was not due to write another; nothing proves what the window held (if \
             evidence was hidden or deleted, verify the whole store without a window)"
                .to_owned()
        } else {
            format!(
                "no digest covers the window's {} archives yet: a replica writes its first \
                 digest at the end of its first period; verify again after it",
                archives.len()
            )
        };
        run.problem(Problem::Uncovered {
            since: options.since,
            until: options.until,
            reason,
        });
    }
    Ok(run.report.finish())
}

/// Extends each replica's digests in scope along its chain until every signed archive of the
/// window it owes is listed (or the chain ends): an archive stored long after it was sealed (a
/// store outage) is listed by the digest of the period it was stored in, past the span its
/// seal gives.
fn follow_until_listed<'a>(
    loaded: &'a [LoadedDigest],
    mut selected: Vec<&'a LoadedDigest>,
    owed: &HashMap<ReplicaName, BTreeSet<ObjectKey>>,
) -> Vec<&'a LoadedDigest> {
    for (replica, archives) in owed {
        let mut unlisted: BTreeSet<&ObjectKey> = archives.iter().collect();
        let mut last_start = None;
        for d in selected.iter().filter(|d| &d.digest.replica == replica) {
            for e in &d.digest.archives {
                unlisted.remove(&e.manifest_key);
            }
            last_start = last_start.max(Some(d.digest.period_start));
        }
        let Some(last_start) = last_start else {
            continue;
        };
        let mut later: Vec<&LoadedDigest> = loaded
            .iter()
            .filter(|d| &d.digest.replica == replica && d.digest.period_start > last_start)
            .collect();
        later.sort_by_key(|d| (d.digest.period_start, d.key.clone()));
        for d in later {
            if unlisted.is_empty() {
                break;
            }
            for e in &d.digest.archives {
                unlisted.remove(&e.manifest_key);
            }
            selected.push(d);
        }
    }
    selected
}

/// The longest digest period (`archive.digest_period` is at most a day).
const LONGEST_PERIOD: TimeDelta = TimeDelta::days(1);

/// The digest keys a reader of a store fetches so that [`verify_folder`] on the copy selects
/// what it would select on the whole store: per replica, by the period start each key names,
/// those that may meet the window stretched to `sealed` (the latest seal of the replica's
/// archives in the window), one after them and two before them (the one before the window, and
/// the one its link names). Keys that name no period are all kept.
pub fn digest_candidates(
    keys: &[ObjectKey],
    options: &VerifyOptions,
    sealed: &HashMap<ReplicaName, DateTime<Utc>>,
) -> Vec<ObjectKey> {
    let mut chains: BTreeMap<ReplicaName, Vec<(DateTime<Utc>, &ObjectKey)>> = BTreeMap::new();
    let mut picked = Vec::new();
    for key in keys {
        match key.digest_start() {
            Some((replica, start)) => chains.entry(replica).or_default().push((start, key)),
            None => picked.push(key.clone()),
        }
    }
    for (replica, mut chain) in chains {
        chain.sort();
        let from = options.since.map(|s| s - LONGEST_PERIOD);
        let to = match (options.until, sealed.get(&replica)) {
            (Some(until), Some(at)) => Some(until.max(*at + TimeDelta::seconds(1))),
            (until, _) => until,
        };
        let inside = |t: DateTime<Utc>| from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e);
        let first = chain.iter().position(|(t, _)| inside(*t));
        let past = chain.iter().rposition(|(t, _)| inside(*t)).map(|i| i + 1);
        let (start, end) = match (first, past) {
            (Some(first), Some(past)) => (first.saturating_sub(2), past),
            // Nothing inside: the last two before and the first one after.
            _ => {
                let after = chain
                    .iter()
                    .position(|(t, _)| to.is_some_and(|e| *t >= e))
                    .unwrap_or(chain.len());
                (after.saturating_sub(2), after)
            }
        };
        let end = end.min(chain.len() - 1);
        picked.extend(
            chain[start..=end.max(start)]
                .iter()
                .map(|(_, k)| (*k).clone()),
        );
    }
    picked.sort();
    picked.dedup();
    picked
}

/// Where an archive falls against the window, by its manifest's `ended_at`.
enum Position {
    Outside,
    /// Ended in the window, by a manifest that parses.
    Inside(Box<Manifest>),
    /// No manifest, or one that does not parse or has no `ended_at`: dated by the key's day.
    Undated,
}

/// The digests that prove the window, in order per replica: those whose period meets it, the
/// one right before it (whose link the first one must match) and the one right after it (whose
/// link the last one must match), and on to the one holding the latest `sealed` time of the
/// replica's archives in the window. Without a window, every digest.
///
/// A replica with no digest meeting the window or after it counts only when it may still be
/// writing one (no clock, or its last period ended less than `max_digest_delay` before the
/// window): a replica retired long before adds nothing. What is hidden or deleted in between
/// shows as a broken link; what is hidden, a store reports by its delete markers.
fn select_digests<'a>(
    loaded: &'a [LoadedDigest],
    options: &VerifyOptions,
    sealed: &HashMap<ReplicaName, DateTime<Utc>>,
) -> Vec<&'a LoadedDigest> {
    let mut chains: BTreeMap<&ReplicaName, Vec<&LoadedDigest>> = BTreeMap::new();
    for d in loaded {
        chains.entry(&d.digest.replica).or_default().push(d);
    }
    let mut selected = Vec::new();
    for (replica, mut chain) in chains {
        chain.sort_by_key(|d| (d.digest.period_start, d.key.clone()));
        let last = chain.len() - 1;
        // The span to prove: the window, stretched to the seal of its last archive.
        let span_end = match (options.until, sealed.get(replica)) {
            (Some(until), Some(at)) => Some(until.max(*at + TimeDelta::seconds(1))),
            (until, _) => until,
        };
        // The first digest not wholly before the window; the one before it is the entry link.
        let first = chain
            .iter()
            .position(|d| options.since.is_none_or(|s| d.digest.period_end > s));
        let considered = first.is_some()
            || match (options.since, options.now) {
                (Some(since), Some(_)) => chain[last].digest.period_end + options.delay() >= since,
                _ => true,
            };
        if !considered {
            continue;
        }
        // A chain that begins after the span says nothing about it: the replica did not
        // exist yet.
        if let Some(i) = first
            && i == 0
            && chain[0].digest.previous.is_none()
            && span_end.is_some_and(|e| chain[0].digest.period_start >= e)
        {
            continue;
        }
        let start = first.map_or(last, |i| i.saturating_sub(1));
        // The first digest wholly after the span is the exit link.
        let end = chain
            .iter()
            .position(|d| span_end.is_some_and(|e| d.digest.period_start >= e))
            .unwrap_or(last);
        selected.extend(chain[start..=end.max(start)].iter().copied());
    }
    selected
}

/// What the folder holds, by key.
struct Folder {
    /// Manifest key → which of the archive's two objects are present.
    archives: BTreeMap<ObjectKey, ArchiveFiles>,
    recordings: BTreeSet<ObjectKey>,
    digests: BTreeSet<ObjectKey>,
    segments: BTreeSet<ObjectKey>,
}

#[derive(Default)]
struct ArchiveFiles {
    manifest: bool,
    recording: Option<ObjectKey>,
}

impl Folder {
    fn scan(root: &Path) -> Result<Folder, ArchiveError> {
        let mut folder = Folder {
            archives: BTreeMap::new(),
            recordings: BTreeSet::new(),
            digests: BTreeSet::new(),
            segments: BTreeSet::new(),
        };
        if !root.is_dir() {
            return Err(ArchiveError::Io {
                path: root.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        let mut keys = Vec::new();
        for top in [SESSIONS_DIR, DIGESTS_DIR, AUDIT_DIR] {
            list(&root.join(top), top, &mut keys)?;
        }
        for key in keys {
            let name = key.file_name().to_owned();
            if key.as_str().starts_with(AUDIT_DIR) {
                if name.ends_with(".json") {
                    folder.segments.insert(key);
                }
            } else if key.as_str().starts_with(DIGESTS_DIR) {
                if name.ends_with(".json") {
                    folder.digests.insert(key);
                }
            } else if name.ends_with(MANIFEST_SUFFIX) {
                folder.archives.entry(key).or_default().manifest = true;
            } else if let Some(session) = name.strip_suffix(RECORDING_SUFFIX) {
                let manifest = key.sibling(&format!("{session}{MANIFEST_SUFFIX}"));
                folder.recordings.insert(key.clone());
                folder.archives.entry(manifest).or_default().recording = Some(key);
            }
        }
        Ok(folder)
    }
}

/// Every file under `dir` as an object key (`prefix/…`); names that cannot be keys are skipped.
fn list(dir: &Path, prefix: &str, out: &mut Vec<ObjectKey>) -> Result<(), ArchiveError> {
    let io = |source| ArchiveError::Io {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let key = format!("{prefix}/{name}");
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            list(&entry.path(), &key, out)?;
        } else if kind.is_file()
            && let Ok(key) = ObjectKey::parse(&key)
        {
            out.push(key);
        }
    }
    Ok(())
}

/// An archive whose manifest parsed.
struct CheckedArchive {
    key: ObjectKey,
    manifest: Manifest,
    trusted: bool,
}

/// A digest that parsed.
struct LoadedDigest {
    key: ObjectKey,
    sha256: Sha256,
    digest: Digest,
    /// Why no pinned key vouches for it; `None` when one does.
    unsigned: Option<UnsignedReason>,
}

impl LoadedDigest {
    fn trusted(&self) -> bool {
        self.unsigned.is_none()
    }
}

struct Run<'a> {
    root: &'a Path,
    keys: &'a KeyRing,
    options: &'a VerifyOptions,
    folder: &'a Folder,
    /// SHA-256 of objects already read, so a digest's listing does not read them again.
    hashes: HashMap<ObjectKey, Sha256>,
    /// The digests that parsed, in scope or not.
    loaded: BTreeSet<ObjectKey>,
    report: VerifyReport,
}

impl Run<'_> {
    fn problem(&mut self, problem: Problem) {
        self.report.problems.push(problem);
    }

    fn modified(&mut self, key: &ObjectKey, check: Check, detail: impl Into<String>) {
        self.problem(Problem::Modified {
            key: key.clone(),
            check,
            detail: detail.into(),
        });
    }

    fn read(&mut self, key: &ObjectKey) -> Option<Vec<u8>> {
        match fs::read(key.to_path(self.root)) {
            Ok(bytes) => {
                self.hashes.insert(key.clone(), Sha256::of(&bytes));
                Some(bytes)
            }
            Err(e) => {
                self.modified(key, Check::Read, e.to_string());
                None
            }
        }
    }

    fn hash(&mut self, key: &ObjectKey) -> Option<Sha256> {
        match self.hashes.get(key) {
            Some(h) => Some(*h),
            None => self.read(key).map(|b| Sha256::of(&b)),
        }
    }

    /// The checks of one archive, in the documented order.
    fn check_archive(
        &mut self,
        key: &ObjectKey,
        files: &ArchiveFiles,
    ) -> Result<Option<CheckedArchive>, ArchiveError> {
        if !files.manifest {
            self.problem(Problem::Missing {
                key: key.clone(),
                listed_in: None,
            });
            return Ok(None);
        }
        let Some(bytes) = self.read(key) else {
            return Ok(None);
        };
        let opened = match Manifest::open(&bytes) {
            Ok(opened) => opened,
            Err(e) => {
                self.modified(key, Check::Format, e.to_string());
                return Ok(None);
            }
        };
        let trusted = match opened.check(self.keys) {
            Ok(()) => true,
            Err(reason) => {
                self.problem(Problem::Unsigned {
                    key: key.clone(),
                    key_id: opened.document.key_id.clone(),
                    reason,
                });
                false
            }
        };
        let manifest = opened.document;
        if manifest.manifest_key().as_ref() != Some(key) {
            let names = manifest
                .manifest_key()
                .map_or_else(|| "no valid key".to_owned(), |k| k.to_string());
            self.modified(
                key,
                Check::Location,
                format!("the manifest belongs at {names}"),
            );
        }
        let checked = CheckedArchive {
            key: key.clone(),
            manifest,
            trusted,
        };
        self.check_recording(&checked, files)?;
        Ok(Some(checked))
    }

    fn check_recording(
        &mut self,
        archive: &CheckedArchive,
        files: &ArchiveFiles,
    ) -> Result<(), ArchiveError> {
        let manifest = &archive.manifest;
        let Some(object_key) = files.recording.clone() else {
            let expected = archive.key.sibling(&format!(
                "{}{RECORDING_SUFFIX}",
                archive.key.file_name().trim_end_matches(MANIFEST_SUFFIX)
            ));
            self.problem(Problem::Missing {
                key: expected,
                listed_in: None,
            });
            return Ok(());
        };
        let Some(object) = self.read(&object_key) else {
            return Ok(());
        };
        if Sha256::of(&object) != manifest.object_sha256 {
            self.modified(
                &object_key,
                Check::ObjectSha256,
                format!(
                    "{} bytes hash to {}, the manifest says {} bytes hashing to {}",
                    object.len(),
                    Sha256::of(&object),
                    manifest.object_bytes,
                    manifest.object_sha256
                ),
            );
        }
        let jsonl = match decompress(&object, manifest.bytes) {
            Ok((_, true)) => {
                let detail = format!("holds more than the manifest's {} bytes", manifest.bytes);
                self.modified(&object_key, Check::Decompress, detail);
                return Ok(());
            }
            Ok((jsonl, false)) => jsonl,
            Err(e) => {
                self.modified(&object_key, Check::Decompress, e.to_string());
                return Ok(());
            }
        };
        if Sha256::of(&jsonl) != manifest.content_sha256 {
            self.modified(
                &object_key,
                Check::ContentSha256,
                format!(
                    "the JSONL hashes to {}, the manifest says {}",
                    Sha256::of(&jsonl),
                    manifest.content_sha256
                ),
            );
        }
        let facts = match RecordingFacts::derive(&manifest.session_id, &jsonl) {
            Ok(facts) => facts,
            Err(ChainError::Line { line, problem, .. }) => {
                self.modified(&object_key, Check::Chain, format!("line {line}: {problem}"));
                return Ok(());
            }
            Err(ChainError::Empty { .. }) => {
                self.modified(&object_key, Check::Chain, "the recording holds no event");
                return Ok(());
            }
            Err(other) => return Err(ArchiveError::Chain(other)),
        };
        if facts.events != manifest.events {
            let detail = format!(
                "{} events, the manifest says {}",
                facts.events, manifest.events
            );
            self.modified(&object_key, Check::EventCount, detail);
        }
        if facts.chain_head != manifest.chain_head {
            let detail = format!(
                "the chain ends at {}, the manifest says {}",
                facts.chain_head, manifest.chain_head
            );
            self.modified(&object_key, Check::ChainHead, detail);
        }
        let fields = [
            ("identity", facts.identity == manifest.identity),
            ("started_at", facts.started_at == manifest.started_at),
            ("ended_at", facts.ended_at == manifest.ended_at),
            ("bytes", facts.bytes == manifest.bytes),
            ("end_state", facts.end_state == manifest.end_state),
        ];
        for (field, agrees) in fields {
            if !agrees {
                let detail = format!("`{field}` does not match the recording");
                self.modified(&archive.key, Check::Manifest, detail);
            }
        }
        Ok(())
    }

    fn load_digests(&mut self) -> Vec<LoadedDigest> {
        let mut loaded = Vec::new();
        for key in &self.folder.digests {
            // One that cannot be read is reported when its key dates it near the window (a
            // period starts at most a day before the window it meets); one that can be read
            // is placed by its period.
            let near = self.near_window(key);
            let bytes = match fs::read(key.to_path(self.root)) {
                Ok(bytes) => bytes,
                Err(e) => {
                    if near {
                        self.modified(key, Check::Read, e.to_string());
                    }
                    continue;
                }
            };
            self.hashes.insert(key.clone(), Sha256::of(&bytes));
            let opened = match Digest::open(&bytes) {
                Ok(opened) => opened,
                Err(e) => {
                    if near {
                        self.modified(key, Check::Format, e.to_string());
                    }
                    continue;
                }
            };
            let digest = &opened.document;
            if let Err(e) = digest.period() {
                if near {
                    self.modified(key, Check::Format, e.to_string());
                }
                continue;
            }
            let unsigned = opened.check(self.keys).err();
            loaded.push(LoadedDigest {
                key: key.clone(),
                sha256: Sha256::of(&bytes),
                digest: opened.document,
                unsigned,
            });
        }
        loaded
    }

    /// Whether a key's day puts it within a day before the window or in it (or the key has no
    /// day): where a digest of the window could be filed.
    fn near_window(&self, key: &ObjectKey) -> bool {
        let day = key.day();
        self.options.selects_day(day) || self.options.selects_day(day.and_then(|d| d.succ_opt()))
    }

    /// The signature and place of each digest in scope.
    fn check_digests(&mut self, digests: &[&LoadedDigest]) {
        for d in digests {
            self.report.digests += 1;
            if let Some(reason) = d.unsigned {
                self.problem(Problem::Unsigned {
                    key: d.key.clone(),
                    key_id: d.digest.key_id.clone(),
                    reason,
                });
            }
            if d.digest.key() != d.key {
                let detail = format!("the digest belongs at {}", d.digest.key());
                self.modified(&d.key, Check::Location, detail);
            }
        }
    }

    /// Where the archive of `key` falls against the window.
    fn window_position(&mut self, key: &ObjectKey, files: &ArchiveFiles) -> Position {
        let by_day = || {
            if self.options.selects_day(key.day()) {
                Position::Undated
            } else {
                Position::Outside
            }
        };
        if !files.manifest {
            return by_day();
        }
        let Ok(bytes) = fs::read(key.to_path(self.root)) else {
            return by_day();
        };
        // Only a manifest a pinned key signed, filed where its own `ended_at` puts it, is
        // dated by what it says; any other is dated by the folder it was found in, so an
        // unsigned or moved manifest in the window's days is checked, not skipped.
        let Ok(opened) = Manifest::open(&bytes) else {
            return by_day();
        };
        let trusted = opened.check(self.keys).is_ok();
        let manifest = opened.document;
        if !trusted || manifest.manifest_key().as_ref() != Some(key) {
            return by_day();
        }
        match manifest.ended_at() {
            Some(t) if self.options.contains(t) => Position::Inside(Box::new(manifest)),
            Some(_) => Position::Outside,
            None => by_day(),
        }
    }

    /// Each replica's digests, by period: every link names the digest before it (key, hash,
    /// signature), and the periods meet.
    fn check_chains(&mut self, digests: &[&LoadedDigest]) {
        let mut chains: BTreeMap<&ReplicaName, Vec<&LoadedDigest>> = BTreeMap::new();
        for d in digests {
            chains.entry(&d.digest.replica).or_default().push(d);
        }
        for (replica, mut chain) in chains {
            chain.sort_by_key(|d| (d.digest.period_start, d.key.clone()));
            for (i, d) in chain.iter().enumerate() {
                let gap = match i.checked_sub(1).map(|p| chain[p]) {
                    None => self.first_link(d),
                    Some(before) => self.link(before, d),
                };
                if let Some(gap) = gap {
                    self.problem(Problem::Gap {
                        replica: replica.clone(),
                        gap,
                    });
                }
            }
            self.check_stale(replica, &chain);
        }
    }

    /// The earliest digest in scope: its link must be null (the replica's first digest), or
    /// name a digest that is there (whose own links belong to an earlier window). A window is
    /// covered only through the link that reaches into it from before it, so a missing
    /// predecessor is a gap whatever the window.
    fn first_link(&self, d: &LoadedDigest) -> Option<Gap> {
        let previous = d.digest.previous.as_ref()?;
        if self.loaded.contains(&previous.key) {
            return None;
        }
        if self.folder.digests.contains(&previous.key) {
            return Some(Gap::BrokenLink {
                digest: d.key.clone(),
                detail: format!("links to {}, which cannot be read", previous.key),
            });
        }
        Some(Gap::MissingDigest {
            expected: previous.key.clone(),
            referenced_by: d.key.clone(),
        })
    }

    fn link(&self, before: &LoadedDigest, d: &LoadedDigest) -> Option<Gap> {
        let broken = |detail: String| {
            Some(Gap::BrokenLink {
                digest: d.key.clone(),
                detail,
            })
        };
        let Some(previous) = &d.digest.previous else {
            return broken(format!(
                "its link is null (a new chain), but {} comes before it",
                before.key
            ));
        };
        if previous.key != before.key {
            if !self.folder.digests.contains(&previous.key) {
                return Some(Gap::MissingDigest {
                    expected: previous.key.clone(),
                    referenced_by: d.key.clone(),
                });
            }
            return broken(format!(
                "links to {}, not to the digest before it, {}",
                previous.key, before.key
            ));
        }
        if previous.sha256 != before.sha256 {
            return broken(format!(
                "{} hashes to {}, the link says {} (changed after it was linked)",
                before.key, before.sha256, previous.sha256
            ));
        }
        if previous.signature != before.digest.signature {
            return broken(format!(
                "the link names another signature than {}'s",
                before.key
            ));
        }
        let (end, start) = (before.digest.period_end, d.digest.period_start);
        if end < start {
            return Some(Gap::MissingPeriod {
                after: before.key.clone(),
                from: end,
                to: start,
            });
        }
        if end > start {
            return broken(format!("its period overlaps {}'s", before.key));
        }
        None
    }

    fn check_stale(&mut self, replica: &ReplicaName, chain: &[&LoadedDigest]) {
        let (Some(now), Some(last)) = (self.options.now, chain.last()) else {
            return;
        };
        let reference = self.options.until.map_or(now, |u| u.min(now));
        // A window is left through the link of the digest after it: once that one is due, a
        // chain that stops inside the window (its continuation deleted, or replaced by junk
        // filed beside it) is stale however recent the window's own digests are.
        let exit_due = self
            .options
            .until
            .is_some_and(|u| u + self.options.delay() < now && last.digest.period_start < u);
        if exit_due || last.digest.period_end + self.options.delay() < reference {
            self.problem(Problem::Gap {
                replica: replica.clone(),
                gap: Gap::Stale {
                    last: last.key.clone(),
                    period_end: last.digest.period_end,
                },
            });
        }
    }

    /// What each trusted digest in scope lists is there, as it was listed.
    fn check_listings(&mut self, digests: &[&LoadedDigest]) {
        for d in digests.iter().filter(|d| d.trusted()) {
            for entry in &d.digest.archives {
                let objects = [
                    (&entry.manifest_key, entry.manifest_sha256, "manifest"),
                    (
                        &entry.recording_key,
                        entry.object_sha256,
                        "recording object",
                    ),
                ];
                for (key, listed, what) in objects {
                    if !self.exists(key) {
                        self.problem(Problem::Missing {
                            key: key.clone(),
                            listed_in: Some(d.key.clone()),
                        });
                        continue;
                    }
                    match self.hash(key) {
                        Some(found) if found != listed => {
                            let detail = format!(
                                "the {what} hashes to {found}, {} lists {listed} (replaced after \
                                 it was listed)",
                                d.key
                            );
                            self.modified(key, Check::DigestListing, detail);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The audit segment each trusted digest in scope lists: there, as listed, signed by a
    /// pinned key, where it belongs, of the replica and period of its digest, with the events
    /// the digest counts.
    fn check_segments(&mut self, digests: &[&LoadedDigest]) {
        for d in digests.iter().filter(|d| d.trusted()) {
            let Some(entry) = &d.digest.audit else {
                continue;
            };
            if !self.folder.segments.contains(&entry.key) {
                self.problem(Problem::Missing {
                    key: entry.key.clone(),
                    listed_in: Some(d.key.clone()),
                });
                continue;
            }
            self.report.audit_segments += 1;
            self.report.audit_keys.push(entry.key.clone());
            let Some(bytes) = self.read(&entry.key) else {
                continue;
            };
            let found = Sha256::of(&bytes);
            if found != entry.sha256 {
                let detail = format!(
                    "the audit segment hashes to {found}, {} lists {} (replaced after it was \
                     listed)",
                    d.key, entry.sha256
                );
                self.modified(&entry.key, Check::DigestListing, detail);
            }
            let opened = match AuditSegment::open(&bytes) {
                Ok(opened) => opened,
                Err(e) => {
                    self.modified(&entry.key, Check::Format, e.to_string());
                    continue;
                }
            };
            if let Err(reason) = opened.check(self.keys) {
                self.problem(Problem::Unsigned {
                    key: entry.key.clone(),
                    key_id: opened.document.key_id.clone(),
                    reason,
                });
            }
            let segment = opened.document;
            self.report.audit_events += segment.events.len() as u64;
            if segment.key() != entry.key {
                let detail = format!("the audit segment belongs at {}", segment.key());
                self.modified(&entry.key, Check::Location, detail);
            }
            if segment.replica != d.digest.replica
                || segment.period_start != d.digest.period_start
                || segment.period_end != d.digest.period_end
            {
                let detail = format!(
                    "the segment is of replica {} from {} to {}, its digest {} of replica {} \
                     from {} to {}",
                    segment.replica,
                    segment.period_start,
                    segment.period_end,
                    d.key,
                    d.digest.replica,
                    d.digest.period_start,
                    d.digest.period_end
                );
                self.modified(&entry.key, Check::Manifest, detail);
            }
            if segment.events.len() as u64 != entry.events {
                let detail = format!(
                    "{} events, {} lists {}",
                    segment.events.len(),
                    d.key,
                    entry.events
                );
                self.modified(&entry.key, Check::EventCount, detail);
            }
        }
    }

    fn exists(&self, key: &ObjectKey) -> bool {
        self.folder.recordings.contains(key)
            || self.folder.archives.get(key).is_some_and(|f| f.manifest)
    }

    /// Every archive in the window is listed by a trusted digest, or is newer than its
    /// replica's last one (pending).
    fn check_coverage(&mut self, archives: &[CheckedArchive], digests: &[&LoadedDigest]) {
        let trusted: Vec<&LoadedDigest> = digests.iter().copied().filter(|d| d.trusted()).collect();
        let listed: BTreeSet<&ObjectKey> = trusted
            .iter()
            .flat_map(|d| d.digest.archives.iter().map(|e| &e.manifest_key))
            .collect();
        let mut last_end: HashMap<&ReplicaName, DateTime<Utc>> = HashMap::new();
        for d in &trusted {
            let end = last_end
                .entry(&d.digest.replica)
                .or_insert(d.digest.period_end);
            *end = (*end).max(d.digest.period_end);
        }
        for archive in archives {
            if listed.contains(&archive.key) {
                continue;
            }
            let m = &archive.manifest;
            let pending = archive.trusted
                && m.sealed_at().is_some_and(|sealed| {
                    let after_last = last_end.get(&m.replica).is_none_or(|end| sealed >= *end);
                    let overdue = self
                        .options
                        .now
                        .is_some_and(|now| sealed + self.options.delay() < now);
                    after_last && !overdue
                });
            if pending {
                self.report.pending.push(Pending {
                    key: archive.key.clone(),
                    session_id: m.session_id,
                    replica: m.replica.clone(),
                    sealed_at: m.sealed_at.clone(),
                });
            } else {
                self.problem(Problem::NotCovered {
                    key: archive.key.clone(),
                    session_id: m.session_id,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> ObjectKey {
        ObjectKey::parse(k).unwrap()
    }

    #[test]
    fn problems_from_the_store_join_the_one_sorted_list() {
        let mut report = VerifyReport {
            archives: 1,
            digests: 1,
            audit_segments: 0,
            audit_events: 0,
            audit_keys: Vec::new(),
            problems: vec![Problem::Missing {
                key: key("sessions/2026/01/02/b.jsonl.zst"),
                listed_in: None,
            }],
            pending: Vec::new(),
        };
        report.add_problems([
            Problem::Unlocked {
                key: key("sessions/2026/01/02/b.manifest.json"),
                detail: "no Object Lock".into(),
            },
            Problem::Unlocked {
                key: key("digests/gw-1/2026/01/02/10-00-00.json"),
                detail: "mode GOVERNANCE, needs COMPLIANCE".into(),
            },
        ]);
        let classes: Vec<ProblemClass> = report.problems.iter().map(Problem::class).collect();
        assert_eq!(
            classes,
            [
                ProblemClass::Missing,
                ProblemClass::Unlocked,
                ProblemClass::Unlocked
            ]
        );
        let text = report.to_string();
        assert!(
            text.starts_with("1 archives, 1 digests: 3 problems (1 missing, 2 unlocked)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "UNLOCKED     digests/gw-1/2026/01/02/10-00-00.json: mode GOVERNANCE, needs \
                 COMPLIANCE\nUNLOCKED     sessions/2026/01/02/b.manifest.json: no Object Lock"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&report.problems[1]).unwrap();
        assert_eq!(json["class"], "unlocked");
        assert_eq!(json["key"], "digests/gw-1/2026/01/02/10-00-00.json");
    }
}
