//! `hoop archive download`: copies archives and the digests of their window into a folder laid
//! out like the store (`ObjectKey::to_path`), so `verify --folder` checks it offline.
//!
//! Resumable: a file already complete (the store's size, and its SHA-256 when the store reports
//! one) is kept; a shorter one continues from its end (`get_from`). Every object is written to
//! `<name>.part` first and renamed when whole, so a file under its own name is never partial
//! unless someone cut it. Nothing is verified here; `verify` does that.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, OpenOptions};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::list::{Dating, FoundArchive, ended_at, find_archives_in, get_all};
use super::{FilterArgs, Outcome, S3Args, Window, WindowArgs, in_parallel};
use crate::archive::{Digest, ObjectKey, ReplicaName, Sha256, digest_candidates};
use crate::worm::{StoreUrl, WormStore};

#[derive(Args)]
pub struct DownloadArgs {
    /// The archive store: `s3://bucket/prefix` or `file:///path`.
    #[arg(long)]
    store: StoreUrl,
    #[command(flatten)]
    s3: S3Args,
    /// The folder to fill (created if missing); files already there are kept or completed.
    #[arg(long)]
    into: PathBuf,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    filters: FilterArgs,
    /// Only the digests (always downloaded with archives: they are small, and verify needs
    /// them).
    #[arg(long)]
    digests: bool,
}

pub(super) async fn run(args: DownloadArgs) -> anyhow::Result<Outcome> {
    let window = Window::of(&args.window)?;
    let store = args.s3.open(&args.store).await?;
    let selection = Selection {
        archives: !args.digests,
        filters: args.filters.clone(),
    };
    let plan = Plan::make(&store, &window, &selection).await?;
    let tally = plan
        .fetch(&store, &args.into, std::io::stderr().is_terminal())
        .await?;
    outln!(
        "{} archives, {} digests and {} audit segments from {} in {}",
        plan.archives.len(),
        plan.digests.len(),
        plan.segments.len(),
        store.describe(),
        args.into.display()
    );
    outln!("{tally}");
    if !args.filters.is_empty() {
        outln!(
            "filtered: the digests also list archives that were not downloaded; verifying this \
             folder reports them missing (download without --run-id/--repository/--connection \
             to verify the window)"
        );
    }
    outln!(
        "nothing was verified: hoop archive verify --folder {} --public-key <pinned key file>",
        args.into.display()
    );
    Ok(Outcome::Clean)
}

/// What to download besides the digests.
pub(super) struct Selection {
    pub archives: bool,
    pub filters: FilterArgs,
}

/// The objects a download fetches.
pub(super) struct Plan {
    pub archives: Vec<FoundArchive>,
    /// The digests that prove the window, as fetched.
    pub digests: Vec<PlannedDigest>,
    /// The audit segments those digests list, as fetched, with the end of the period of the
    /// digest that lists each (its lock runs from there).
    pub segments: Vec<(ObjectKey, Bytes, DateTime<Utc>)>,
    sealed: HashMap<ReplicaName, DateTime<Utc>>,
}

pub(super) struct PlannedDigest {
    pub key: ObjectKey,
    pub bytes: Bytes,
    /// `None` when the stored bytes are not a digest (verify reports it).
    pub digest: Option<Digest>,
}

impl Plan {
    /// The archives `selection` picks in the window and the digests that prove it (around
    /// the window, and on to the seal of its last archive). Without filters, also every
    /// archive those digests list, even one that ended outside the window: the folder then
    /// holds all that the digests name, and `verify --folder` selects from it exactly what
    /// `verify --store` selects from the store.
    pub async fn make(
        store: &Arc<dyn WormStore>,
        window: &Window,
        selection: &Selection,
    ) -> anyhow::Result<Plan> {
        let in_window =
            find_archives_in(store, window, &FilterArgs::default(), Dating::WholeDays).await?;
        let mut sealed: HashMap<ReplicaName, DateTime<Utc>> = HashMap::new();
        for m in in_window.iter().filter_map(FoundArchive::parsed) {
            if let Some(at) = m.sealed_at() {
                let last = sealed.entry(m.replica.clone()).or_insert(at);
                *last = (*last).max(at);
            }
        }
        let (mut digests, all_keys) = find_digests(store, window, &sealed).await?;
        let owed = in_window
            .iter()
            .filter_map(FoundArchive::parsed)
            .filter(|m| ended_at(m).is_some_and(|t| window.contains(t)))
            .filter_map(|m| Some((m.replica.clone(), m.manifest_key()?)));
        follow_until_listed(store, &mut digests, &all_keys, owed).await?;
        let mut archives = if !selection.archives {
            Vec::new()
        } else if selection.filters.is_empty() {
            in_window
        } else {
            in_window
                .into_iter()
                .filter(|a| a.parsed().is_some_and(|m| selection.filters.matches(m)))
                .collect()
        };
        if selection.archives && selection.filters.is_empty() {
            let have: BTreeSet<ObjectKey> =
                archives.iter().map(|a| a.manifest_key.clone()).collect();
            let listed: BTreeSet<(ObjectKey, ObjectKey)> = digests
                .iter()
                .filter_map(|d| d.digest.as_ref())
                .flat_map(|d| &d.archives)
                .filter(|e| !have.contains(&e.manifest_key))
                .map(|e| (e.manifest_key.clone(), e.recording_key.clone()))
                .collect();
            archives.extend(listed_archives(store, listed).await?);
            archives.sort_by(|a, b| a.manifest_key.cmp(&b.manifest_key));
        }
        let listed: Vec<(ObjectKey, DateTime<Utc>)> = digests
            .iter()
            .filter_map(|d| d.digest.as_ref())
            .filter_map(|d| d.audit.as_ref().map(|a| (a.key.clone(), d.period_end)))
            .collect();
        let ends: HashMap<ObjectKey, DateTime<Utc>> = listed.iter().cloned().collect();
        let segments = get_all(store, listed.into_iter().map(|(k, _)| k).collect())
            .await?
            .into_iter()
            .filter_map(|(key, bytes)| {
                let end = *ends.get(&key)?;
                Some((key, bytes?, end))
            })
            .collect();
        Ok(Plan {
            archives,
            digests,
            segments,
            sealed,
        })
    }

    /// Per replica, the latest seal of the window's archives (what [`digest_candidates`]
    /// stretches the window to).
    pub fn sealed(&self) -> HashMap<ReplicaName, DateTime<Utc>> {
        self.sealed.clone()
    }

    /// Fetches every planned object into `root`, with a progress bar on stderr when asked.
    pub async fn fetch(
        &self,
        store: &Arc<dyn WormStore>,
        root: &Path,
        progress: bool,
    ) -> anyhow::Result<Tally> {
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let mut known: Vec<(&ObjectKey, &Bytes)> = Vec::new();
        let mut recordings = Vec::new();
        for a in &self.archives {
            if let Some(bytes) = &a.manifest_bytes {
                known.push((&a.manifest_key, bytes));
            }
            if let Some(size) = a.recording_size {
                recordings.push((a.recording_key.clone(), size));
            }
        }
        known.extend(self.digests.iter().map(|d| (&d.key, &d.bytes)));
        known.extend(self.segments.iter().map(|(key, bytes, _)| (key, bytes)));
        let total = known.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
            + recordings.iter().map(|(_, size)| size).sum::<u64>();
        let bar = progress_bar(total, progress);
        let mut tally = Tally::default();
        for (key, bytes) in known {
            let fetched = write_known(&key.to_path(root), bytes)
                .with_context(|| format!("writing {key} into {}", root.display()))?;
            let written = if fetched == Fetched::Complete {
                0
            } else {
                bytes.len() as u64
            };
            tally.add(fetched, written);
            bar.inc(bytes.len() as u64);
        }
        let results = in_parallel(recordings, |(key, size)| {
            let store = Arc::clone(store);
            let path = key.to_path(root);
            let bar = bar.clone();
            async move {
                let result = fetch_object(&*store, &key, size, &path)
                    .await
                    .with_context(|| format!("downloading {key}"));
                bar.inc(size);
                result
            }
        })
        .await?;
        bar.finish_and_clear();
        for result in results {
            let (fetched, bytes) = result?;
            tally.add(fetched, bytes);
        }
        Ok(tally)
    }
}

/// The digests that prove the window ([`digest_candidates`]): those around it, and on to the
/// seal of its last archive per replica (`sealed`), picked by the period their key names.
async fn find_digests(
    store: &Arc<dyn WormStore>,
    window: &Window,
    sealed: &HashMap<ReplicaName, DateTime<Utc>>,
) -> anyhow::Result<(Vec<PlannedDigest>, Vec<ObjectKey>)> {
    let listed = store
        .list("digests/")
        .await
        .with_context(|| format!("listing digests/ in {}", store.describe()))?;
    let keys: Vec<ObjectKey> = listed
        .into_iter()
        .map(|l| l.key)
        .filter(|k| k.as_str().ends_with(".json"))
        .collect();
    let options = window.options();
    let candidates = digest_candidates(&keys, &options, sealed);
    Ok((fetch_digests(store, candidates).await?, keys))
}

async fn fetch_digests(
    store: &Arc<dyn WormStore>,
    keys: Vec<ObjectKey>,
) -> anyhow::Result<Vec<PlannedDigest>> {
    let mut digests = Vec::new();
    for (key, bytes) in get_all(store, keys).await? {
        let Some(bytes) = bytes else { continue };
        let digest = Digest::parse(&bytes).ok();
        digests.push(PlannedDigest { key, bytes, digest });
    }
    Ok(digests)
}

/// Digests fetched per round while following a chain.
const FOLLOW_BATCH: usize = 24;
/// How far a chain is followed for an archive stored late: a month of hourly digests.
const FOLLOW_AT_MOST: usize = 31 * 24;

/// Fetches each replica's later digests, in order, until every archive of the window it owes
/// is listed (or the chain ends, or [`FOLLOW_AT_MOST`]): an archive stored long after it was
/// sealed is listed by a digest past the span its seal gives. `verify_folder` follows the
/// same chains on the copy.
async fn follow_until_listed(
    store: &Arc<dyn WormStore>,
    digests: &mut Vec<PlannedDigest>,
    all_keys: &[ObjectKey],
    owed: impl Iterator<Item = (ReplicaName, ObjectKey)>,
) -> anyhow::Result<()> {
    let mut unlisted: HashMap<ReplicaName, BTreeSet<ObjectKey>> = HashMap::new();
    for (replica, key) in owed {
        unlisted.entry(replica).or_default().insert(key);
    }
    let listed = |d: &PlannedDigest| -> Vec<ObjectKey> {
        d.digest
            .as_ref()
            .map(|d| d.archives.iter().map(|e| e.manifest_key.clone()).collect())
            .unwrap_or_default()
    };
    for d in digests.iter() {
        for key in listed(d) {
            for owed in unlisted.values_mut() {
                owed.remove(&key);
            }
        }
    }
    for (replica, mut owed) in unlisted {
        if owed.is_empty() {
            continue;
        }
        let fetched: BTreeSet<ObjectKey> = digests.iter().map(|d| d.key.clone()).collect();
        let last = fetched
            .iter()
            .filter_map(|k| k.digest_start())
            .filter(|(r, _)| *r == replica)
            .map(|(_, t)| t)
            .max();
        let Some(last) = last else { continue };
        let mut later: Vec<(DateTime<Utc>, ObjectKey)> = all_keys
            .iter()
            .filter_map(|k| {
                let (r, t) = k.digest_start()?;
                (r == replica && t > last && !fetched.contains(k)).then(|| (t, k.clone()))
            })
            .collect();
        later.sort();
        later.truncate(FOLLOW_AT_MOST);
        for batch in later.chunks(FOLLOW_BATCH) {
            if owed.is_empty() {
                break;
            }
            let keys = batch.iter().map(|(_, k)| k.clone()).collect();
            let mut more = fetch_digests(store, keys).await?;
            more.sort_by(|a, b| a.key.cmp(&b.key));
            for d in more {
                if owed.is_empty() {
                    break;
                }
                for key in listed(&d) {
                    owed.remove(&key);
                }
                digests.push(d);
            }
        }
    }
    Ok(())
}

/// Archives named by digests but outside the listed day folders: their manifests, and the
/// size of their recordings.
async fn listed_archives(
    store: &Arc<dyn WormStore>,
    listed: BTreeSet<(ObjectKey, ObjectKey)>,
) -> anyhow::Result<Vec<FoundArchive>> {
    let (manifests, recordings): (Vec<ObjectKey>, Vec<ObjectKey>) = listed.into_iter().unzip();
    let fetched = get_all(store, manifests).await?;
    let sizes = in_parallel(recordings.clone(), |key| {
        let store = Arc::clone(store);
        async move {
            store
                .head(&key)
                .await
                .map(|info| (key, info.map(|i| i.size)))
        }
    })
    .await?;
    let sizes: std::collections::BTreeMap<ObjectKey, Option<u64>> =
        sizes.into_iter().collect::<Result<_, _>>()?;
    Ok(fetched
        .into_iter()
        .zip(recordings)
        .map(|((manifest_key, bytes), recording_key)| FoundArchive {
            manifest: bytes
                .as_ref()
                .map(|b| crate::archive::Manifest::parse(b).map_err(|e| e.to_string())),
            manifest_bytes: bytes,
            recording_size: sizes.get(&recording_key).copied().flatten(),
            manifest_key,
            recording_key,
        })
        .collect())
}

fn progress_bar(total: u64, visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fetched {
    /// Already in the folder, whole.
    Complete,
    Downloaded,
    /// A partial file was completed from where it stopped.
    Resumed,
    /// The folder's copy differed from the store's, and was replaced by it.
    Replaced,
}

/// What a download did.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub downloaded: u64,
    pub resumed: u64,
    pub complete: u64,
    pub replaced: u64,
    pub bytes: u64,
}

impl Tally {
    /// Counts one object, of which `bytes` were transferred.
    fn add(&mut self, fetched: Fetched, bytes: u64) {
        match fetched {
            Fetched::Complete => self.complete += 1,
            Fetched::Downloaded => self.downloaded += 1,
            Fetched::Resumed => self.resumed += 1,
            Fetched::Replaced => self.replaced += 1,
        }
        self.bytes += bytes;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} objects, resumed {}, {} already complete, replaced {} that differed from \
             the store; {} transferred",
            self.downloaded,
            self.resumed,
            self.complete,
            self.replaced,
            HumanBytes(self.bytes)
        )
    }
}

/// Writes an object already fetched (a manifest or a digest) unless the folder holds exactly
/// these bytes.
fn write_known(path: &Path, bytes: &[u8]) -> anyhow::Result<Fetched> {
    let existing = match fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(Fetched::Complete),
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let part = part_path(path);
    create_parent(path)?;
    fs::write(&part, bytes).with_context(|| format!("writing {}", part.display()))?;
    finish(&part, path)?;
    Ok(if existing {
        Fetched::Replaced
    } else {
        Fetched::Downloaded
    })
}

/// Downloads `key` (`size` bytes in the store) to `path`, continuing a partial copy; returns
/// what it did and how many bytes it transferred.
async fn fetch_object(
    store: &dyn WormStore,
    key: &ObjectKey,
    size: u64,
    path: &Path,
) -> anyhow::Result<(Fetched, u64)> {
    let part = part_path(path);
    let mut replaced = false;
    match fs::metadata(path).map(|m| m.len()) {
        Ok(len) if len == size => {
            let sha256 = store.head(key).await?.and_then(|info| info.sha256);
            match sha256 {
                Some(expected) if file_sha256(path)? != expected => {
                    fs::remove_file(path)?;
                    remove_if_present(&part)?;
                    replaced = true;
                }
                _ => return Ok((Fetched::Complete, 0)),
            }
        }
        // A copy cut short under its own name continues like a `.part`.
        Ok(len) if len < size => fs::rename(path, &part)?,
        Ok(_) => {
            fs::remove_file(path)?;
            replaced = true;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut offset = match fs::metadata(&part).map(|m| m.len()) {
        Ok(len) if len <= size => len,
        Ok(_) => {
            fs::remove_file(&part)?;
            0
        }
        Err(_) => 0,
    };
    let resumed = offset > 0;
    let mut transferred = 0;
    // A resumed copy whose beginning was not the store's is caught by the checksum and
    // fetched again, once, from the start.
    for attempt in 0..2 {
        if offset < size {
            let bytes = if offset == 0 {
                store.get(key).await?
            } else {
                store.get_from(key, offset).await?
            };
            append(&part, offset, &bytes)?;
            transferred += bytes.len() as u64;
        }
        let len = fs::metadata(&part)?.len();
        if len != size {
            bail!("the store sent {len} bytes in all, its listing says {size}");
        }
        let expected = if resumed || attempt > 0 {
            store.head(key).await?.and_then(|info| info.sha256)
        } else {
            None
        };
        match expected {
            Some(expected) if file_sha256(&part)? != expected => {
                if attempt > 0 {
                    bail!("the downloaded object does not hash to the SHA-256 the store reports");
                }
                fs::remove_file(&part)?;
                offset = 0;
            }
            _ => break,
        }
    }
    finish(&part, path)?;
    let fetched = match (replaced, resumed) {
        (true, _) => Fetched::Replaced,
        (false, true) => Fetched::Resumed,
        (false, false) => Fetched::Downloaded,
    };
    Ok((fetched, transferred))
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".part");
    path.with_file_name(name)
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Appends `bytes` to `part`, which must hold exactly `offset` bytes (none when it is new).
fn append(part: &Path, offset: u64, bytes: &[u8]) -> anyhow::Result<()> {
    create_parent(part)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(part)
        .with_context(|| format!("opening {}", part.display()))?;
    let len = file.metadata()?.len();
    if len != offset {
        bail!(
            "{} changed while downloading ({len} bytes, expected {offset})",
            part.display()
        );
    }
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", part.display()))
}

/// The `.part` file becomes the object.
fn finish(part: &Path, path: &Path) -> anyhow::Result<()> {
    fs::rename(part, path)
        .with_context(|| format!("renaming {} to {}", part.display(), path.display()))
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn file_sha256(path: &Path) -> anyhow::Result<Sha256> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::of(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_are_named_part() {
        assert_eq!(
            part_path(Path::new("/x/sessions/2026/01/02/s.jsonl.zst")),
            Path::new("/x/sessions/2026/01/02/s.jsonl.zst.part")
        );
    }

    #[test]
    fn known_objects_are_rewritten_only_when_they_differ() {
        let dir = super::super::ScratchFolder::new("download-test").unwrap();
        let path = dir.path().join("a/b.json");
        assert_eq!(write_known(&path, b"one").unwrap(), Fetched::Downloaded);
        assert_eq!(write_known(&path, b"one").unwrap(), Fetched::Complete);
        assert_eq!(write_known(&path, b"two").unwrap(), Fetched::Replaced);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!part_path(&path).exists());
    }
}
