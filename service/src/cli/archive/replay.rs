//! `hoop archive replay`: one session's recording as a readable transcript
//! ([`Transcript`]), after checking the archive it comes from.
//!
//! The archive is checked by [`verify_folder`] over a scratch folder holding just its two
//! objects: signature (when keys are pinned), object and content hashes, chain, and every
//! manifest member. Whether other archives are missing is `verify`'s question, not this one's.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use chrono::Utc;
use clap::Args;

use super::{Outcome, S3Args, ScratchFolder, TextFormat, Window, WindowArgs, pinned_keys};
use crate::archive::{
    KeyRing, Manifest, ObjectKey, Problem, ProblemClass, SessionId, Transcript, VerifyOptions,
    decompress_recording, verify_folder,
};
use crate::worm::{StoreError, StoreUrl};

/// The most a recording without a manifest (which would bound it) is inflated to.
const UNBOUNDED_LIMIT: u64 = 1 << 30;

#[derive(Args)]
pub struct ReplayArgs {
    /// A session id, or the path of a `.jsonl.zst` object (its manifest is read from beside
    /// it) or of a spool `.jsonl` recording.
    session: String,
    /// The archive store to find the session in: `s3://bucket/prefix` or `file:///path`.
    #[arg(long, conflicts_with = "folder")]
    store: Option<StoreUrl>,
    /// A folder laid out like the store to find the session in.
    #[arg(long)]
    folder: Option<PathBuf>,
    #[command(flatten)]
    s3: S3Args,
    /// Pinned public key files: the manifest's signature is checked with them. Without one,
    /// the archive's hashes and chain are checked, its signature is not.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Narrow the search of a store to these days (a session is filed under the day it
    /// ended); without them every day folder is listed.
    #[command(flatten)]
    window: WindowArgs,
    /// `text` for a transcript; `json` prints the recording's events as JSON lines, as
    /// recorded (the check goes to stderr).
    #[arg(long, value_enum, default_value_t)]
    format: TextFormat,
}

/// What was found for the session.
struct Found {
    /// Where it was found, for the check line.
    origin: String,
    /// The manifest's key and bytes, when there is a manifest.
    manifest: Option<(ObjectKey, Vec<u8>)>,
    recording: Recording,
}

enum Recording {
    /// The `.jsonl.zst` object, at this key (or beside the manifest, for a path).
    Object(Vec<u8>),
    /// A spool `.jsonl` file, not archived.
    Jsonl(PathBuf),
}

pub(super) async fn run(args: ReplayArgs) -> anyhow::Result<Outcome> {
    let keys = if args.public_keys.is_empty() {
        None
    } else {
        Some(pinned_keys(&args.public_keys)?)
    };
    let found = find(&args).await?;
    let checked = check(&found, keys.as_ref())?;
    let mut report = format!("archive    {}\n", found.origin);
    for line in &checked.lines {
        report.push_str(&format!("checked    {line}\n"));
    }
    for problem in &checked.problems {
        report.push_str(&format!("{problem}\n"));
    }
    let (jsonl, manifest) = (&checked.jsonl, checked.manifest.as_ref());
    match args.format {
        TextFormat::Text => {
            out!("{report}\n{}", Transcript::new(jsonl, manifest));
        }
        TextFormat::Json => {
            eprint!("{report}");
            crate::cli::output::write_bytes(jsonl);
        }
    }
    Ok(if checked.problems.is_empty() && !checked.failed {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

async fn find(args: &ReplayArgs) -> anyhow::Result<Found> {
    let as_path = Path::new(&args.session);
    let is_file = args.session.ends_with(".jsonl") || args.session.ends_with(".jsonl.zst");
    if is_file && as_path.is_file() {
        return from_path(as_path);
    }
    let session = SessionId::parse(args.session.as_str()).with_context(|| {
        format!(
            "`{}` is neither a session id nor a .jsonl.zst or .jsonl file",
            args.session
        )
    })?;
    let manifest_name = format!("{session}.manifest.json");
    let window = Window::of(&args.window)?;
    match (&args.store, &args.folder) {
        (Some(url), _) => {
            let store = args.s3.open(url).await?;
            let mut keys = Vec::new();
            for prefix in window.session_prefixes(Utc::now()) {
                let listed = store
                    .list(&prefix)
                    .await
                    .with_context(|| format!("listing {prefix} in {}", store.describe()))?;
                keys.extend(listed.into_iter().map(|l| l.key));
            }
            let key = unique(
                &session,
                keys.into_iter()
                    .filter(|k| k.as_str().ends_with(&format!("/{manifest_name}"))),
            )?;
            let recording_key = super::recording_key_of(&key)
                .with_context(|| format!("{key} is not a manifest key"))?;
            let manifest = store.get(&key).await?;
            let object = match store.get(&recording_key).await {
                Ok(bytes) => bytes,
                Err(StoreError::NotFound { .. }) => Bytes::new(),
                Err(e) => return Err(e).with_context(|| format!("reading {recording_key}")),
            };
            Ok(Found {
                origin: format!("{key} in {}", store.describe()),
                manifest: Some((key, manifest.to_vec())),
                recording: Recording::Object(object.to_vec()),
            })
        }
        (None, Some(folder)) => {
            let mut keys = Vec::new();
            collect_keys(&folder.join("sessions"), "sessions", &mut keys)?;
            let key = unique(
                &session,
                keys.into_iter()
                    .filter(|k| k.as_str().ends_with(&format!("/{manifest_name}")))
                    .filter(|k| k.day().is_none_or(|d| window.meets_day(d))),
            )?;
            let recording_key = super::recording_key_of(&key)
                .with_context(|| format!("{key} is not a manifest key"))?;
            let manifest = read(&key.to_path(folder))?;
            let object = read_optional(&recording_key.to_path(folder))?;
            Ok(Found {
                origin: format!("{key} in {}", folder.display()),
                manifest: Some((key, manifest)),
                recording: Recording::Object(object.unwrap_or_default()),
            })
        }
        (None, None) => bail!("give --store or --folder to find session {session} in"),
    }
}

/// The one manifest key of the session.
fn unique(session: &SessionId, keys: impl Iterator<Item = ObjectKey>) -> anyhow::Result<ObjectKey> {
    let mut keys: Vec<ObjectKey> = keys.collect();
    match keys.len() {
        0 => bail!("no archive of session {session} (looked for {session}.manifest.json)"),
        1 => Ok(keys.remove(0)),
        _ => bail!(
            "session {session} has several manifests, which verify reports: {}",
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A `.jsonl.zst` with its manifest beside it, or a spool `.jsonl`.
fn from_path(path: &Path) -> anyhow::Result<Found> {
    let origin = path.display().to_string();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Some(stem) = name.strip_suffix(".jsonl.zst") {
        let manifest_path = path.with_file_name(format!("{stem}.manifest.json"));
        let manifest = read_optional(&manifest_path)?;
        let manifest = match manifest {
            Some(bytes) => {
                let key = Manifest::parse(&bytes)
                    .ok()
                    .and_then(|m| m.manifest_key())
                    .or_else(|| ObjectKey::parse(&format!("{stem}.manifest.json")).ok())
                    .with_context(|| format!("{} has no usable name", manifest_path.display()))?;
                Some((key, bytes))
            }
            None => None,
        };
        return Ok(Found {
            origin,
            manifest,
            recording: Recording::Object(read(path)?),
        });
    }
    Ok(Found {
        origin,
        manifest: None,
        recording: Recording::Jsonl(path.to_owned()),
    })
}

/// The outcome of checking what was found.
struct Checked {
    /// What was checked, for people.
    lines: Vec<String>,
    /// What the archive's verification found.
    problems: Vec<Problem>,
    /// A check without a [`Problem`] of its own failed (a spool file's chain).
    failed: bool,
    /// The recording to show.
    jsonl: Vec<u8>,
    /// The manifest, when there is one that parses.
    manifest: Option<Manifest>,
}

fn check(found: &Found, keys: Option<&KeyRing>) -> anyhow::Result<Checked> {
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    match (&found.manifest, &found.recording) {
        (_, Recording::Jsonl(path)) => {
            checks.push("a spool recording, not an archive: no manifest, no signature".to_owned());
            let jsonl = read(path)?;
            let failed = match crate::recording::verify(path) {
                Ok(chain) => {
                    checks.push(format!(
                        "its chain verifies: {} events, head {}",
                        chain.events,
                        chain.head.to_hex()
                    ));
                    false
                }
                Err(e) => {
                    checks.push(format!("ITS CHAIN DOES NOT VERIFY: {e}"));
                    true
                }
            };
            Ok(Checked {
                lines: checks,
                problems,
                failed,
                jsonl,
                manifest: None,
            })
        }
        (None, Recording::Object(object)) => {
            checks.push("no manifest beside the object: signature and hashes not checked".into());
            let jsonl = decompress_recording(object, UNBOUNDED_LIMIT)?;
            Ok(Checked {
                lines: checks,
                problems,
                failed: false,
                jsonl,
                manifest: None,
            })
        }
        (Some((key, bytes)), Recording::Object(object)) => {
            let manifest = match Manifest::parse(bytes) {
                Ok(m) => m,
                Err(e) => bail!("the manifest {key} cannot be read: {e}"),
            };
            if object.is_empty() {
                bail!(
                    "the recording of {key} is missing (the store or folder has no {}.jsonl.zst)",
                    manifest.session_id
                );
            }
            let recording_key = super::recording_key_of(key)
                .with_context(|| format!("{key} is not a manifest key"))?;
            let scratch = ScratchFolder::new("replay")?;
            for (k, b) in [(key, bytes.as_slice()), (&recording_key, object.as_slice())] {
                let path = k.to_path(scratch.path());
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                fs::write(&path, b)?;
            }
            let ring = keys.cloned().unwrap_or_default();
            let report = verify_folder(scratch.path(), &ring, &VerifyOptions::default())?;
            problems.extend(report.problems.into_iter().filter(|p| {
                // Digests are not part of one archive; without pinned keys the signature is
                // not asked about.
                !matches!(
                    p.class(),
                    ProblemClass::NotCovered | ProblemClass::Uncovered
                ) && (keys.is_some() || p.class() != ProblemClass::Unsigned)
            }));
            let signed = !problems.iter().any(|p| p.class() == ProblemClass::Unsigned);
            checks.push(match keys {
                None => format!(
                    "signature not checked (no --public-key; signed by {})",
                    manifest.key_id
                ),
                Some(_) if signed => format!("signature by the pinned key {}", manifest.key_id),
                Some(_) => format!("SIGNATURE NOT VALID (key {})", manifest.key_id),
            });
            checks.push(if problems.is_empty() {
                "object, content, chain and manifest agree".to_owned()
            } else {
                format!("{} problems:", problems.len())
            });
            let jsonl = decompress_recording(object, manifest.bytes)
                .or_else(|_| decompress_recording(object, UNBOUNDED_LIMIT))
                .with_context(|| format!("decompressing {recording_key}"))?;
            Ok(Checked {
                lines: checks,
                problems,
                failed: false,
                jsonl,
                manifest: Some(manifest),
            })
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Every file under `dir` as an object key (`prefix/…`); names that cannot be keys are skipped.
fn collect_keys(dir: &Path, prefix: &str, out: &mut Vec<ObjectKey>) -> anyhow::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let key = format!("{prefix}/{name}");
        if entry.file_type()?.is_dir() {
            collect_keys(&entry.path(), &key, out)?;
        } else if let Ok(key) = ObjectKey::parse(&key) {
            out.push(key);
        }
    }
    Ok(())
}
