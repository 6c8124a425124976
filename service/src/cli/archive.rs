//! `hoop archive list|download|verify|replay`: the auditor's side of the session archives.
//!
//! Everything reads a store (`--store s3://…` or `file://…`) or a folder laid out like one; the
//! verification itself is [`crate::archive::verify_folder`], so a downloaded folder and a store
//! are checked by the same code. Exit codes: 0 when all is well, 1 when the evidence has a
//! problem (verify found one, a replayed archive does not check), 2 when the command could not
//! run (bad arguments, unreachable store).

mod download;
mod list;
mod replay;
mod verify;

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use clap::{Args, Subcommand, ValueEnum};

use crate::archive::{KeyRing, Manifest, ObjectKey};
use crate::worm::{S3Settings, StoreUrl, WormStore};

#[derive(Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// The archives in a store, read from their manifests (nothing is verified).
    List(list::ListArgs),
    /// Copy archives and the digests of their period into a folder laid out like the store.
    Download(download::DownloadArgs),
    /// Verify archives and digests against pinned public keys; exit 1 on any problem.
    Verify(verify::VerifyArgs),
    /// Print one session's recording as a readable transcript.
    Replay(replay::ReplayArgs),
    /// Make a new auditor API token and print it with the `[[archive.auditors]]` entry that
    /// admits it (the token's SHA-256 under the auditor's name), ready to paste into hoop.toml.
    AuditorToken(AuditorTokenArgs),
}

#[derive(Args)]
struct AuditorTokenArgs {
    /// The auditor's name, as audit events show it (`auditor:<name>`); unique among
    /// `[[archive.auditors]]`.
    #[arg(long)]
    name: String,
}

/// How an archive command ended, as the process exit code.
enum Outcome {
    /// Nothing wrong (exit 0).
    Clean,
    /// The command ran and found a problem with the evidence (exit 1).
    Problems,
}

pub async fn run(args: ArchiveArgs) -> ExitCode {
    let result = match args.command {
        ArchiveCommand::List(args) => list::run(args).await,
        ArchiveCommand::Download(args) => download::run(args).await,
        ArchiveCommand::Verify(args) => verify::run(args).await,
        ArchiveCommand::Replay(args) => replay::run(args).await,
        ArchiveCommand::AuditorToken(args) => auditor_token(&args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `hoop archive auditor-token --name NAME`: a new token, shown once, and its entry.
fn auditor_token(args: &AuditorTokenArgs) -> anyhow::Result<Outcome> {
    crate::archiver::validate_auditor_name(&args.name)
        .map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let (token, hash) = crate::bearer::new_token("hoopaud_");
    outln!(
        "token (give it to the auditor; it is not shown again):\n  {}\n",
        token.expose()
    );
    outln!(
        "add this to hoop.toml on every replica, then run `hoop reload`:\n\n{}",
        auditor_entry(&args.name, &hash.to_hex())
    );
    Ok(Outcome::Clean)
}

/// The `[[archive.auditors]]` entry of a token hash, its name quoted as TOML needs.
fn auditor_entry(name: &str, token_sha256: &str) -> String {
    format!(
        "[[archive.auditors]]\nname = {}\ntoken_sha256 = \"{token_sha256}\"\n",
        toml::Value::String(name.to_owned())
    )
}

/// `--store` and the S3 settings it may need. Credentials come from the standard AWS chain
/// (environment, profile, web identity, instance metadata), never from an argument.
#[derive(Args, Clone)]
struct S3Args {
    /// An S3-compatible endpoint (MinIO, a VPC endpoint) for an `s3://` store.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    s3_endpoint: Option<url::Url>,
    /// The bucket's region (default: the AWS chain's, else us-east-1).
    #[arg(long)]
    s3_region: Option<String>,
    /// Path-style addressing (`https://endpoint/bucket/key`), which most S3-compatible servers
    /// need.
    #[arg(long)]
    s3_path_style: bool,
}

impl S3Args {
    async fn open(&self, url: &StoreUrl) -> anyhow::Result<Arc<dyn WormStore>> {
        let settings = S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            force_path_style: self.s3_path_style,
        };
        url.open(&settings)
            .await
            .with_context(|| format!("opening the archive store {url}"))
    }
}

/// The time window, by the sessions' `ended_at` and the digests' periods.
#[derive(Args, Clone, Default)]
struct WindowArgs {
    /// From this day (`2026-01-01`, from 00:00 UTC) or instant (RFC 3339), inclusive.
    #[arg(long)]
    since: Option<Since>,
    /// To this day (`2026-01-31`: through its end, UTC) or instant (RFC 3339), exclusive.
    #[arg(long)]
    until: Option<Until>,
}

/// The start of a window: a day means its first instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Since(DateTime<Utc>);

/// The end of a window: a day means the whole day is in, so the window ends at the next
/// midnight (UTC); an instant is the end itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Until(DateTime<Utc>);

impl FromStr for Since {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match parse_day_or_instant(text)? {
            DayOrInstant::Day(day) => Ok(Since(midnight(day))),
            DayOrInstant::Instant(t) => Ok(Since(t)),
        }
    }
}

impl FromStr for Until {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match parse_day_or_instant(text)? {
            DayOrInstant::Day(day) => day
                .succ_opt()
                .map(|next| Until(midnight(next)))
                .ok_or_else(|| format!("`{text}` is the last day chrono knows")),
            DayOrInstant::Instant(t) => Ok(Until(t)),
        }
    }
}

enum DayOrInstant {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

fn parse_day_or_instant(text: &str) -> Result<DayOrInstant, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(DayOrInstant::Day(day));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| DayOrInstant::Instant(t.with_timezone(&Utc)))
        .map_err(|_| {
            format!(
                "`{text}` is neither a day (2026-01-31) nor an RFC 3339 time (2026-01-31T12:00:00Z)"
            )
        })
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The window in instants, checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Window {
    fn of(args: &WindowArgs) -> anyhow::Result<Window> {
        let window = Window {
            since: args.since.map(|s| s.0),
            until: args.until.map(|u| u.0),
        };
        if let (Some(since), Some(until)) = (window.since, window.until)
            && since >= until
        {
            anyhow::bail!("--since {since} is not before --until {until}: the window is empty");
        }
        Ok(window)
    }

    /// The verifier's options for this window, without a clock: what selects digests and
    /// archives.
    fn options(&self) -> crate::archive::VerifyOptions {
        crate::archive::VerifyOptions {
            since: self.since,
            until: self.until,
            ..crate::archive::VerifyOptions::default()
        }
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    /// Whether `[start, end)` meets the window.
    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| end > s) && self.until.is_none_or(|u| start < u)
    }

    /// Whether a UTC day meets the window.
    fn meets_day(&self, day: NaiveDate) -> bool {
        let start = midnight(day);
        self.overlaps(start, start + TimeDelta::days(1))
    }

    /// The key prefixes to list for the archives of the window: its day folders when it spans
    /// a few weeks, its month folders when longer, everything when it has no start. Listing
    /// is what costs on a store with years of evidence; the day folders keep it to the window.
    fn session_prefixes(&self, now: DateTime<Utc>) -> Vec<String> {
        let Some(since) = self.since else {
            return vec!["sessions/".to_owned()];
        };
        let until = self.until.unwrap_or(now + TimeDelta::days(1));
        let first = since.date_naive();
        let last = (until - TimeDelta::nanoseconds(1)).date_naive().max(first);
        let days = first.iter_days().take_while(|d| *d <= last);
        let mut prefixes: Vec<String> = if (last - first).num_days() <= 62 {
            days.map(|d| format!("sessions/{}/", d.format("%Y/%m/%d")))
                .collect()
        } else {
            days.map(|d| format!("sessions/{}/", d.format("%Y/%m")))
                .collect()
        };
        prefixes.dedup();
        prefixes
    }
}

/// `--run-id`, `--repository`, `--connection`: exact matches on the manifest's identity.
#[derive(Args, Clone, Default)]
struct FilterArgs {
    /// Only the sessions of this CI run id.
    #[arg(long)]
    run_id: Option<String>,
    /// Only the sessions of this repository (`owner/name`, or a GitLab project path).
    #[arg(long)]
    repository: Option<String>,
    /// Only the sessions through this hoop connection.
    #[arg(long)]
    connection: Option<String>,
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        self.run_id.is_none() && self.repository.is_none() && self.connection.is_none()
    }

    fn matches(&self, manifest: &Manifest) -> bool {
        let id = &manifest.identity;
        let agrees = |wanted: &Option<String>, found: &Option<String>| {
            wanted.as_ref().is_none_or(|w| found.as_ref() == Some(w))
        };
        agrees(&self.run_id, &id.run_id)
            && agrees(&self.repository, &id.repository)
            && agrees(&self.connection, &id.connection)
    }
}

/// Requests in flight at once against a store: enough to hide S3's latency on many small
/// objects, few enough not to be throttled.
const PARALLEL: usize = 16;

/// `f` over every item, [`PARALLEL`] at a time; results in completion order.
async fn in_parallel<T, R, F, Fut>(
    items: impl IntoIterator<Item = T>,
    f: F,
) -> anyhow::Result<Vec<R>>
where
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut done = Vec::new();
    for item in items {
        if running.len() >= PARALLEL
            && let Some(result) = running.join_next().await
        {
            done.push(result.context("a store request failed to run")?);
        }
        running.spawn(f(item));
    }
    while let Some(result) = running.join_next().await {
        done.push(result.context("a store request failed to run")?);
    }
    Ok(done)
}

/// The pinned keys of every `--public-key` file (a file may hold several).
fn pinned_keys(files: &[PathBuf]) -> anyhow::Result<KeyRing> {
    let mut ring = KeyRing::new();
    for file in files {
        let text = fs::read_to_string(file)
            .with_context(|| format!("reading the public key file {}", file.display()))?;
        let keys = KeyRing::from_text(&text)
            .with_context(|| format!("reading the public key file {}", file.display()))?;
        for id in keys.ids() {
            if let Some(key) = keys.get(id) {
                ring.insert(key.clone());
            }
        }
    }
    Ok(ring)
}

/// The recording beside a manifest key: `<session_id>.jsonl.zst` in the same day folder. Taken
/// from the key, not from the manifest's content, which may be what was tampered with.
fn recording_key_of(manifest_key: &ObjectKey) -> Option<ObjectKey> {
    let key = manifest_key.as_str();
    let stem = key.strip_suffix(".manifest.json")?;
    ObjectKey::parse(&format!("{stem}.jsonl.zst")).ok()
}

/// A private folder under the system temp directory (mode 0700), removed with what it holds
/// when dropped: where `verify --store` and `replay` put what they check.
struct ScratchFolder(PathBuf);

impl ScratchFolder {
    fn new(purpose: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("hoop-{purpose}-{}", uuid::Uuid::new_v4()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating the scratch folder {}", path.display()))?;
        Ok(ScratchFolder(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFolder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `--format` of list.
#[derive(Clone, Copy, Default, ValueEnum)]
enum ListFormat {
    #[default]
    Table,
    Json,
}

/// `--format` of verify and replay.
#[derive(Clone, Copy, Default, ValueEnum)]
enum TextFormat {
    #[default]
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn utc(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    #[test]
    fn days_and_instants_bound_the_window() {
        assert_eq!("2026-01-01".parse::<Since>(), Ok(Since(utc(2026, 1, 1, 0))));
        assert_eq!("2026-01-31".parse::<Until>(), Ok(Until(utc(2026, 2, 1, 0))));
        assert_eq!(
            "2026-01-31T12:00:00Z".parse::<Until>(),
            Ok(Until(utc(2026, 1, 31, 12)))
        );
        assert_eq!(
            "2026-01-31T14:00:00+02:00".parse::<Since>(),
            Ok(Since(utc(2026, 1, 31, 12)))
        );
        for bad in ["2026-13-01", "yesterday", "2026-01-31 12:00", ""] {
            let e = bad.parse::<Since>().unwrap_err();
            assert!(e.contains("neither a day"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_empty_window_is_refused() {
        let args = WindowArgs {
            since: Some("2026-01-31".parse().unwrap()),
            until: Some("2026-01-31".parse().unwrap()),
        };
        assert!(Window::of(&args).is_ok(), "the 31st is included");
        let args = WindowArgs {
            since: Some("2026-02-01".parse().unwrap()),
            until: Some("2026-01-31".parse().unwrap()),
        };
        assert!(Window::of(&args).is_err());
    }

    #[test]
    fn a_window_lists_its_day_or_month_folders() {
        let now = utc(2026, 3, 10, 9);
        assert_eq!(Window::default().session_prefixes(now), ["sessions/"]);
        let days = Window {
            since: Some(utc(2026, 1, 30, 10)),
            until: Some(utc(2026, 2, 2, 0)),
        };
        assert_eq!(
            days.session_prefixes(now),
            [
                "sessions/2026/01/30/",
                "sessions/2026/01/31/",
                "sessions/2026/02/01/"
            ]
        );
        let open_ended = Window {
            since: Some(utc(2026, 3, 10, 0)),
            until: None,
        };
        assert_eq!(
            open_ended.session_prefixes(now),
            ["sessions/2026/03/10/", "sessions/2026/03/11/"]
        );
        let months = Window {
            since: Some(utc(2025, 11, 15, 0)),
            until: Some(utc(2026, 2, 1, 0)),
        };
        assert_eq!(
            months.session_prefixes(now),
            [
                "sessions/2025/11/",
                "sessions/2025/12/",
                "sessions/2026/01/"
            ]
        );
        assert!(days.meets_day(NaiveDate::from_ymd_opt(2026, 1, 30).unwrap()));
        assert!(!days.meets_day(NaiveDate::from_ymd_opt(2026, 2, 2).unwrap()));
        assert!(days.contains(utc(2026, 1, 30, 10)));
        assert!(!days.contains(utc(2026, 1, 30, 9)));
    }

    #[test]
    fn filters_match_the_identity_exactly() {
        let manifest = |repository: &str, run: &str| {
            let mut m: Manifest = serde_json::from_value(serde_json::json!({
                "format": "hoop-archive-v1", "session_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "replica": "r",
                "identity": {"repository": null, "run_id": null, "credential_id": null,
                             "connection": "shop", "database": null, "username": null,
                             "trust_rule": null},
                "started_at": "", "ended_at": "", "sealed_at": "", "events": 1, "bytes": 1,
                "chain_head": "0".repeat(64), "content_sha256": "0".repeat(64),
                "object_bytes": 1, "object_sha256": "0".repeat(64), "end_state": "ended",
                "key_id": "ed25519:0000000000000000",
                "signature": "A".repeat(86) + "==",
            }))
            .unwrap();
            m.identity.repository = Some(repository.into());
            m.identity.run_id = Some(run.into());
            m
        };
        let filter = FilterArgs {
            repository: Some("acme/shop".into()),
            ..FilterArgs::default()
        };
        assert!(filter.matches(&manifest("acme/shop", "1")));
        assert!(!filter.matches(&manifest("acme/shop-2", "1")));
        let filter = FilterArgs {
            run_id: Some("1".into()),
            connection: Some("shop".into()),
            ..FilterArgs::default()
        };
        assert!(filter.matches(&manifest("x/y", "1")));
        assert!(!filter.matches(&manifest("x/y", "12")));
        assert!(FilterArgs::default().is_empty());
    }

    #[test]
    fn the_auditor_entry_pastes_into_hoop_toml_as_is() {
        #[derive(serde::Deserialize)]
        struct File {
            archive: Section,
        }
        #[derive(serde::Deserialize)]
        struct Section {
            auditors: Vec<crate::archiver::AuditorConfig>,
        }
        let hash = "ab".repeat(32);
        for name in ["alice", "Quality \"QSA\" team", "back\\slash", "Zoë"] {
            let entry = auditor_entry(name, &hash);
            assert!(
                entry.starts_with("[[archive.auditors]]\nname = "),
                "{entry}"
            );
            let file: File = toml::from_str(&entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            let auditor = &file.archive.auditors[0];
            assert_eq!(auditor.name, name);
            assert_eq!(auditor.token_sha256, hash);
        }
    }

    #[test]
    fn the_recording_sits_beside_its_manifest() {
        let m = ObjectKey::parse("sessions/2026/01/02/s-1.manifest.json").unwrap();
        assert_eq!(
            recording_key_of(&m).unwrap().as_str(),
            "sessions/2026/01/02/s-1.jsonl.zst"
        );
        assert!(recording_key_of(&ObjectKey::parse("digests/a.json").unwrap()).is_none());
    }
}
