//! `hoop archive list`: what a store holds, read from the manifests of the window's day folders.
//! Nothing is verified here: a manifest is shown as it is stored.

use crate::cli::table::Table;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::Args;

use super::{FilterArgs, ListFormat, Outcome, S3Args, Window, WindowArgs, in_parallel};
use crate::archive::{EndState, Manifest, ObjectKey};
use crate::worm::{StoreError, StoreUrl, WormStore};

#[derive(Args)]
pub struct ListArgs {
    /// The archive store: `s3://bucket/prefix` or `file:///path`.
    #[arg(long)]
    store: StoreUrl,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    filters: FilterArgs,
    /// `table` for people, `json` for an array of the manifests.
    #[arg(long, value_enum, default_value_t)]
    format: ListFormat,
}

pub(super) async fn run(args: ListArgs) -> anyhow::Result<Outcome> {
    let window = Window::of(&args.window)?;
    let store = args.s3.open(&args.store).await?;
    let found = find_archives(&store, &window, &args.filters).await?;
    let mut manifests = Vec::new();
    for archive in &found {
        match &archive.manifest {
            Some(Ok(m)) => manifests.push(m),
            Some(Err(reason)) => eprintln!(
                "warning: {} cannot be read ({reason}); `hoop archive verify` reports it",
                archive.manifest_key
            ),
            None => {}
        }
    }
    manifests.sort_by(|a, b| (&a.ended_at, &a.session_id).cmp(&(&b.ended_at, &b.session_id)));
    match args.format {
        ListFormat::Json => {
            outln!("{}", serde_json::to_string_pretty(&manifests)?);
        }
        ListFormat::Table => {
            out!("{}", table(&manifests));
            outln!("{} archives in {}", manifests.len(), store.describe());
        }
    }
    Ok(Outcome::Clean)
}

/// An archive found in a store: its manifest as stored, and where its recording is.
pub(super) struct FoundArchive {
    pub manifest_key: ObjectKey,
    /// `None` when the store holds no manifest at that key (a digest names a deleted one).
    pub manifest_bytes: Option<Bytes>,
    /// The parsed manifest, or why it cannot be parsed; `None` without bytes.
    pub manifest: Option<Result<Manifest, String>>,
    pub recording_key: ObjectKey,
    /// The recording's size in the store; `None` when the store does not hold it.
    pub recording_size: Option<u64>,
}

impl FoundArchive {
    pub fn parsed(&self) -> Option<&Manifest> {
        self.manifest.as_ref().and_then(|m| m.as_ref().ok())
    }
}

/// The archives of the window's day folders whose manifest's `ended_at` is in the window and
/// whose identity passes `filters`. A manifest that cannot be parsed is kept only when there
/// are no filters (its identity is unknown), so that a download of a window keeps what
/// `verify` must report.
pub(super) async fn find_archives(
    store: &Arc<dyn WormStore>,
    window: &Window,
    filters: &FilterArgs,
) -> anyhow::Result<Vec<FoundArchive>> {
    find_archives_in(store, window, filters, Dating::EndedAt).await
}

/// How [`find_archives_in`] dates an archive against the window.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dating {
    /// By the manifest's `ended_at` (what `list` shows).
    EndedAt,
    /// Every archive of the window's day folders: for a copy that `verify` selects from, which
    /// trusts an `ended_at` only once the manifest's signature is checked.
    WholeDays,
}

pub(super) async fn find_archives_in(
    store: &Arc<dyn WormStore>,
    window: &Window,
    filters: &FilterArgs,
    dating: Dating,
) -> anyhow::Result<Vec<FoundArchive>> {
    let mut objects: BTreeMap<ObjectKey, u64> = BTreeMap::new();
    for prefix in window.session_prefixes(Utc::now()) {
        let listed = store
            .list(&prefix)
            .await
            .with_context(|| format!("listing {prefix} in {}", store.describe()))?;
        objects.extend(listed.into_iter().map(|l| (l.key, l.size)));
    }
    let manifest_keys: Vec<ObjectKey> = objects
        .keys()
        .filter(|k| k.as_str().ends_with(".manifest.json"))
        .filter(|k| k.day().is_none_or(|day| window.meets_day(day)))
        .cloned()
        .collect();
    let fetched = get_all(store, manifest_keys).await?;
    let mut found = Vec::new();
    for (key, bytes) in fetched {
        let Some(bytes) = bytes else { continue };
        let Some(recording_key) = super::recording_key_of(&key) else {
            continue;
        };
        let manifest = Manifest::parse(&bytes).map_err(|e| e.to_string());
        let selected = match &manifest {
            Ok(m) => {
                (dating == Dating::WholeDays || ended_at(m).is_none_or(|t| window.contains(t)))
                    && filters.matches(m)
            }
            Err(_) => filters.is_empty(),
        };
        if selected {
            found.push(FoundArchive {
                recording_size: objects.get(&recording_key).copied(),
                manifest_key: key,
                manifest_bytes: Some(bytes),
                manifest: Some(manifest),
                recording_key,
            });
        }
    }
    found.sort_by(|a, b| a.manifest_key.cmp(&b.manifest_key));
    Ok(found)
}

/// Every object of `keys`, fetched in parallel; `None` for one the store does not hold (gone
/// between the listing and the request, or named by a digest and deleted).
pub(super) async fn get_all(
    store: &Arc<dyn WormStore>,
    keys: Vec<ObjectKey>,
) -> anyhow::Result<Vec<(ObjectKey, Option<Bytes>)>> {
    let results = in_parallel(keys, |key| {
        let store = Arc::clone(store);
        async move {
            let result = store.get(&key).await;
            (key, result)
        }
    })
    .await?;
    let mut out = Vec::with_capacity(results.len());
    for (key, result) in results {
        match result {
            Ok(bytes) => out.push((key, Some(bytes))),
            Err(StoreError::NotFound { .. }) => out.push((key, None)),
            Err(e) => return Err(e).with_context(|| format!("reading {key}")),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A manifest's `ended_at` as a time; `None` when it is not one (verify reports that).
pub(super) fn ended_at(manifest: &Manifest) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&manifest.ended_at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

const COLUMNS: [&str; 7] = [
    "ENDED AT",
    "SESSION",
    "REPOSITORY",
    "RUN",
    "CONNECTION",
    "EVENTS",
    "END STATE",
];

fn table(manifests: &[&Manifest]) -> String {
    let mut table = Table::new(&COLUMNS);
    for m in manifests {
        let id = &m.identity;
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        table.row([
            m.ended_at.clone(),
            m.session_id.to_string(),
            or_dash(&id.repository),
            or_dash(&id.run_id),
            or_dash(&id.connection),
            m.events.to_string(),
            match m.end_state {
                EndState::Ended => "ended".to_owned(),
                EndState::Terminated => "terminated".to_owned(),
            },
        ]);
    }
    table.render()
}
