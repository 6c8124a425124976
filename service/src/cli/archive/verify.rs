//! `hoop archive verify`: a folder, or a store through a download into a scratch folder, checked
//! by [`verify_folder`] against pinned keys; for a store with Object Lock, every object's lock
//! too (COMPLIANCE mode, retained long enough), reported as [`Problem::Unlocked`] in the same
//! report.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::Args;
use serde_json::json;

use super::download::{Plan, Selection};
use super::list::ended_at;
use super::{
    FilterArgs, Outcome, S3Args, ScratchFolder, TextFormat, Window, WindowArgs, in_parallel,
    midnight, pinned_keys,
};
use crate::archive::{
    AuditRecord, AuditSegment, ObjectKey, Problem, VerifyOptions, VerifyReport, digest_candidates,
    verify_folder,
};
use crate::cli::table::Table;
use crate::worm::{HiddenObject, LockMode, ObjectInfo, StoreUrl, WormStore};

/// PCI DSS 10.5.1: a year of audit log history.
const DEFAULT_RETENTION_DAYS: u32 = 365;

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    s3: S3Args,
    /// A pinned public key file (`hoop keys generate` wrote it as `<key>.pub`); repeat it, or
    /// concatenate files, to pin the keys of a rotation.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    public_keys: Vec<PathBuf>,
    #[command(flatten)]
    window: WindowArgs,
    /// How long an archive may wait for its digest, and a replica go without one, before it
    /// is a problem (a deleted latest digest shows this way).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2h")]
    max_digest_delay: Duration,
    /// Verify as of this time (RFC 3339) rather than now, e.g. to repeat a past verification.
    #[arg(long, value_parser = parse_instant, conflicts_with = "no_clock")]
    now: Option<DateTime<Utc>>,
    /// Use no clock: an archive after its replica's last digest is pending however old.
    #[arg(long)]
    no_clock: bool,
    /// Days every object must stay locked after its session ended (digests: after their
    /// period), as the gateway's `archive.retention_days`. Checked on stores with Object Lock.
    #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS)]
    retention_days: u32,
    /// With --store: keep the downloaded copy in this folder (resumable) instead of a scratch
    /// folder removed afterwards.
    #[arg(long)]
    into: Option<PathBuf>,
    /// `text`: a summary, then one line per problem; `json`: the whole report.
    #[arg(long, value_enum, default_value_t)]
    format: TextFormat,
    /// After a clean report, print the audit events of the window (who got which credential,
    /// every refusal, revocation, approval and auditor read) from the segments just verified.
    /// Nothing is printed from evidence that did not verify.
    #[arg(long)]
    events: bool,
}

/// `--store` or `--folder`, exactly one.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Source {
    /// The archive store: `s3://bucket/prefix` or `file:///path`.
    #[arg(long)]
    store: Option<StoreUrl>,
    /// A folder laid out like the store (what `hoop archive download` writes).
    #[arg(long)]
    folder: Option<PathBuf>,
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}): 2026-01-31T12:00:00Z"))
}

pub(super) async fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let window = Window::of(&args.window)?;
    let keys = pinned_keys(&args.public_keys)?;
    let options = VerifyOptions {
        since: window.since,
        until: window.until,
        now: if args.no_clock {
            None
        } else {
            Some(args.now.unwrap_or_else(Utc::now))
        },
        max_digest_delay: args.max_digest_delay,
    };
    let (source, (report, events), locks) = match (&args.source.store, &args.source.folder) {
        (_, Some(folder)) => {
            if args.into.is_some() {
                anyhow::bail!("--into goes with --store: a folder is verified where it is");
            }
            let report = verify_folder(folder, &keys, &options)
                .with_context(|| format!("verifying {}", folder.display()))?;
            let events = audit_events(args.events, folder, &report, &window)?;
            (
                folder.display().to_string(),
                (report, events),
                Locks::NotAStore,
            )
        }
        (Some(url), None) => {
            let store = args.s3.open(url).await?;
            let retention = TimeDelta::days(i64::from(args.retention_days));
            let (report, locks) =
                verify_store(&store, &window, &args, &keys, &options, retention).await?;
            (store.describe(), report, locks)
        }
        (None, None) => anyhow::bail!("give --store or --folder"),
    };
    let pinned: Vec<String> = keys.ids().map(ToString::to_string).collect();
    match args.format {
        TextFormat::Text => {
            outln!(
                "verified {source} with the pinned keys {}",
                pinned.join(", ")
            );
            let time = |t: Option<DateTime<Utc>>, none: &str| {
                t.map_or(none.to_owned(), |t| {
                    t.to_rfc3339_opts(SecondsFormat::Secs, true)
                })
            };
            outln!(
                "window {} to {}; clock {}; {}",
                time(options.since, "the first archive"),
                time(options.until, "the last"),
                time(options.now, "none (--no-clock)"),
                locks.describe(args.retention_days),
            );
            out!("{report}");
            if let Some(events) = &events {
                out!("{}", events_table(events));
            }
        }
        TextFormat::Json => {
            let out = json!({
                "source": source,
                "pinned_keys": pinned,
                "since": options.since,
                "until": options.until,
                "now": options.now,
                "locks_checked": matches!(locks, Locks::Checked),
                "ok": report.ok(),
                "report": report,
                "events": events,
            });
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(if report.ok() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// With `--events` and a clean report, the audit events of the window from the segments the
/// report verified, by time; `None` otherwise (nothing is read from evidence that failed).
fn audit_events(
    wanted: bool,
    folder: &Path,
    report: &VerifyReport,
    window: &Window,
) -> anyhow::Result<Option<Vec<AuditRecord>>> {
    if !wanted || !report.ok() {
        if wanted {
            eprintln!("the audit events are not shown: the report has problems");
        }
        return Ok(None);
    }
    let mut events = Vec::new();
    for key in &report.audit_keys {
        let path = key.to_path(folder);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {key}"))?;
        let segment = AuditSegment::parse(&bytes).with_context(|| format!("reading {key}"))?;
        events.extend(segment.events.into_iter().filter(|e| {
            DateTime::parse_from_rfc3339(&e.at)
                .is_ok_and(|at| window.contains(at.with_timezone(&Utc)))
        }));
    }
    events.sort_by(|a, b| (&a.at, a.id).cmp(&(&b.at, b.id)));
    events.dedup_by_key(|e| e.id);
    Ok(Some(events))
}

/// The audit events as a table for people.
fn events_table(events: &[AuditRecord]) -> String {
    let mut table = Table::new(&[
        "AT",
        "REPLICA",
        "ACTION",
        "OUTCOME",
        "CODE",
        "SUBJECT",
        "CLAIMS",
        "CONNECTION",
        "MESSAGE",
    ]);
    for e in events {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        table.row([
            e.at.clone(),
            e.replica.clone(),
            e.action.clone(),
            e.outcome.clone(),
            e.code.clone(),
            or_dash(&e.subject),
            // A refused token's claims are recorded unverified: say which ones are.
            if e.claims_verified {
                "verified"
            } else {
                "unverified"
            }
            .to_owned(),
            or_dash(&e.connection),
            e.message.clone(),
        ]);
    }
    format!(
        "{}{} audit events in the window, from the segments its digests list (events sealed \
         late, after an archiver outage, show with a later --until)\n",
        table.render(),
        events.len()
    )
}

/// Whether the report covers Object Lock.
enum Locks {
    /// `--folder`: a copy has no locks.
    NotAStore,
    /// The store has no locks to report (a folder store).
    Unsupported,
    Checked,
}

impl Locks {
    fn describe(&self, retention_days: u32) -> String {
        match self {
            Locks::NotAStore => "locks not checked (a folder)".to_owned(),
            Locks::Unsupported => "locks not checked (the store has no Object Lock)".to_owned(),
            Locks::Checked => {
                format!("Object Lock checked: COMPLIANCE, at least {retention_days} days")
            }
        }
    }
}

async fn verify_store(
    store: &Arc<dyn WormStore>,
    window: &Window,
    args: &VerifyArgs,
    keys: &crate::archive::KeyRing,
    options: &VerifyOptions,
    retention: TimeDelta,
) -> anyhow::Result<((VerifyReport, Option<Vec<AuditRecord>>), Locks)> {
    let selection = Selection {
        archives: true,
        filters: FilterArgs::default(),
    };
    let plan = Plan::make(store, window, &selection).await?;
    let scratch;
    let folder = match &args.into {
        Some(into) => into.clone(),
        None => {
            scratch = ScratchFolder::new("verify")?;
            scratch.path().to_owned()
        }
    };
    plan.fetch(store, &folder, std::io::stderr().is_terminal())
        .await?;
    let mut report = verify_folder(&folder, keys, options)
        .with_context(|| format!("verifying the copy in {}", folder.display()))?;
    report.add_problems(hidden_objects(store, window, &plan, &report).await?);
    if !store.has_locks() {
        let events = audit_events(args.events, &folder, &report, window)?;
        return Ok(((report, events), Locks::Unsupported));
    }
    let objects = locked_objects(&plan, retention);
    let problems = in_parallel(objects, |(key, needed)| {
        let store = Arc::clone(store);
        async move {
            let info = store.head(&key).await;
            info.map(|info| lock_problem(&key, info.as_ref(), needed))
                .with_context(|| format!("reading the lock of {key}"))
        }
    })
    .await?;
    let problems: Vec<Problem> = problems
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    report.add_problems(problems);
    let events = audit_events(args.events, &folder, &report, window)?;
    Ok(((report, events), Locks::Checked))
}

/// The objects in scope that a delete marker hides: digests that would be among the window's
/// if they were not hidden, and objects in the window's day folders or in the folder of one
/// the report found missing (an archive, an audit segment). Each is its own problem, with the command that restores it.
async fn hidden_objects(
    store: &Arc<dyn WormStore>,
    window: &Window,
    plan: &Plan,
    report: &VerifyReport,
) -> anyhow::Result<Vec<Problem>> {
    let hidden_digests = store.hidden("digests/").await.with_context(|| {
        format!(
            "listing the delete markers under digests/ in {}",
            store.describe()
        )
    })?;
    let mut problems = Vec::new();
    if !hidden_digests.is_empty() {
        let mut keys: Vec<ObjectKey> = plan.digests.iter().map(|d| d.key.clone()).collect();
        keys.extend(hidden_digests.iter().map(|h| h.key.clone()));
        let options = window.options();
        let sealed = plan.sealed();
        let scope: BTreeSet<ObjectKey> = digest_candidates(&keys, &options, &sealed)
            .into_iter()
            .collect();
        problems.extend(
            hidden_digests
                .into_iter()
                .filter(|h| scope.contains(&h.key))
                .map(hidden_problem),
        );
    }
    let mut prefixes: BTreeSet<String> = window.session_prefixes(Utc::now()).into_iter().collect();
    // Whatever the report found missing may be hidden: its folder is listed too (an archive
    // filed under another day, an audit segment).
    for problem in &report.problems {
        if let Problem::Missing { key, .. } = problem
            && let Some((folder, _)) = key.as_str().rsplit_once('/')
        {
            prefixes.insert(format!("{folder}/"));
        }
    }
    let mut seen = BTreeSet::new();
    for prefix in prefixes {
        let hidden = store.hidden(&prefix).await.with_context(|| {
            format!(
                "listing the delete markers under {prefix} in {}",
                store.describe()
            )
        })?;
        for h in hidden {
            if seen.insert(h.key.clone()) {
                problems.push(hidden_problem(h));
            }
        }
    }
    Ok(problems)
}

fn hidden_problem(h: HiddenObject) -> Problem {
    Problem::Hidden {
        key: h.key,
        by: h.by,
        restore: h.restore,
    }
}

/// Every downloaded object with the earliest retain-until it needs: the session's `ended_at`
/// (for both objects of an archive) or the digest's `period_end`, plus the retention. An
/// object whose document cannot be read needs at least its key's day plus the retention.
fn locked_objects(plan: &Plan, retention: TimeDelta) -> Vec<(ObjectKey, DateTime<Utc>)> {
    let key_day = |key: &ObjectKey| key.day().map(midnight);
    let mut objects = Vec::new();
    for a in &plan.archives {
        let base = a
            .parsed()
            .and_then(ended_at)
            .or_else(|| key_day(&a.manifest_key));
        let Some(base) = base else { continue };
        if a.manifest_bytes.is_some() {
            objects.push((a.manifest_key.clone(), base + retention));
        }
        if a.recording_size.is_some() {
            objects.push((a.recording_key.clone(), base + retention));
        }
    }
    for (key, _, period_end) in &plan.segments {
        objects.push((key.clone(), *period_end + retention));
    }
    for d in &plan.digests {
        let base = d
            .digest
            .as_ref()
            .map(|d| d.period_end)
            .or_else(|| key_day(&d.key));
        if let Some(base) = base {
            objects.push((d.key.clone(), base + retention));
        }
    }
    objects
}

/// Retain-until dates are kept to the second (S3) while `ended_at` has microseconds: a lock
/// this much short of the exact instant is the store's rounding, not a shortfall.
const ROUNDING: TimeDelta = TimeDelta::seconds(1);

/// The lock problem of one object, if any: none, not COMPLIANCE, or retained for less than
/// until `needed`.
fn lock_problem(
    key: &ObjectKey,
    info: Option<&ObjectInfo>,
    needed: DateTime<Utc>,
) -> Option<Problem> {
    let unlocked = |detail: String| {
        Some(Problem::Unlocked {
            key: key.clone(),
            detail,
        })
    };
    let Some(info) = info else {
        return unlocked("the store no longer holds it (deleted while verifying?)".to_owned());
    };
    let Some(lock) = info.lock else {
        return unlocked(format!(
            "no Object Lock, needs COMPLIANCE until {}",
            needed.to_rfc3339()
        ));
    };
    let mut faults = Vec::new();
    if lock.mode != LockMode::Compliance {
        faults.push(format!(
            "mode {} (removable by users allowed to bypass it), needs COMPLIANCE",
            lock.mode.as_str()
        ));
    }
    if lock.retain_until + ROUNDING < needed {
        faults.push(format!(
            "retained until {}, needs {}",
            lock.retain_until.to_rfc3339(),
            needed.to_rfc3339()
        ));
    }
    if faults.is_empty() {
        None
    } else {
        unlocked(faults.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worm::Lock;
    use chrono::TimeZone as _;

    fn info(lock: Option<Lock>) -> ObjectInfo {
        ObjectInfo {
            size: 1,
            sha256: None,
            lock,
            version_id: None,
        }
    }

    fn detail(problem: Option<Problem>) -> Option<String> {
        problem.map(|p| match p {
            Problem::Unlocked { detail, .. } => detail,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn a_lock_must_be_compliance_and_long_enough() {
        let key = ObjectKey::parse("sessions/2026/01/02/s.jsonl.zst").unwrap();
        let needed =
            Utc.with_ymd_and_hms(2027, 1, 2, 10, 0, 0).unwrap() + TimeDelta::microseconds(123_456);
        let lock = |mode, retain_until| Some(Lock { mode, retain_until });
        let second = needed - TimeDelta::microseconds(123_456);
        assert_eq!(
            lock_problem(
                &key,
                Some(&info(lock(LockMode::Compliance, second))),
                needed
            ),
            None,
            "rounded down to the second"
        );
        assert_eq!(
            lock_problem(
                &key,
                Some(&info(lock(
                    LockMode::Compliance,
                    needed + TimeDelta::days(9)
                ))),
                needed
            ),
            None
        );
        let short = detail(lock_problem(
            &key,
            Some(&info(lock(
                LockMode::Compliance,
                needed - TimeDelta::days(1),
            ))),
            needed,
        ))
        .unwrap();
        assert!(
            short.starts_with("retained until 2027-01-01T10:00:00.123456+00:00, needs 2027-01-02"),
            "{short}"
        );
        let governance = detail(lock_problem(
            &key,
            Some(&info(lock(LockMode::Governance, needed))),
            needed,
        ))
        .unwrap();
        assert!(governance.starts_with("mode GOVERNANCE"), "{governance}");
        let none = detail(lock_problem(&key, Some(&info(None)), needed)).unwrap();
        assert!(none.starts_with("no Object Lock"), "{none}");
        let gone = detail(lock_problem(&key, None, needed)).unwrap();
        assert!(gone.contains("no longer holds it"), "{gone}");
        let p = lock_problem(&key, Some(&info(None)), needed).unwrap();
        assert!(
            p.to_string()
                .starts_with("UNLOCKED     sessions/2026/01/02/s.jsonl.zst: no Object Lock"),
            "{p}"
        );
    }
}
