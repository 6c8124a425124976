//! The auditor's command line end to end: `hoop keys` and `hoop archive list|download|verify|
//! replay`, the real binary over a folder store (also read as a `file://` store) that the test
//! builds with `hoop::archive` from real spool recordings: three sessions, and a replica's chain
//! of three hourly digests ending in the current hour. Each tampering happens on a copy.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, TimeDelta, Utc};
use hoop::archive::{
    Archive, DEFAULT_PERIOD, DigestBuilder, Manifest, Period, PublicKey, ReplicaName,
    SealedArchive, SealedDigest, Signature, SigningKey, canonical_form,
};
use hoop::base::CredentialId;
use hoop::base::SessionId;
use hoop::masking::Masker;
use hoop::policy::rules::Action;
use hoop::recording::{
    Diagnostic, Event, Protocol, Reason, SessionEnd, SessionStart, Spool, SqlState, StartupParams,
    Statement,
};
use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("hoop-auditor-{tag}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the real binary; no AWS endpoint from the environment leaks in.
fn hoop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoop"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("HOOP_LOG")
        .output()
        .expect("run hoop")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The sessions of the fixture: id, repository, run, connection, statements.
const SESSIONS: [(&str, &str, &str, &str); 3] = [
    (
        "a1a1a1a1-0000-4000-8000-000000000001",
        "acme/shop",
        "100",
        "shop",
    ),
    (
        "b2b2b2b2-0000-4000-8000-000000000002",
        "acme/shop",
        "101",
        "ledger",
    ),
    (
        "c3c3c3c3-0000-4000-8000-000000000003",
        "acme/billing",
        "200",
        "shop",
    ),
];

/// A store folder with three archives and three digests, and the pinned key file.
struct Fixture {
    dir: TempDir,
    root: PathBuf,
    public_key: PathBuf,
    archives: Vec<SealedArchive>,
    digests: Vec<SealedDigest>,
}

fn signing_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32]).unwrap()
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = TempDir::new("fixture");
        let root = dir.path().join("store");
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let key = signing_key();
        let public_key = dir.path().join("archive.pub");
        fs::write(&public_key, key.public_key().to_file()).unwrap();
        let replica = ReplicaName::new("gw-1").unwrap();
        let archive = Archive::new(replica.clone());
        let now = Utc::now();
        let mut archives = Vec::new();
        for (session, repository, run, connection) in SESSIONS {
            // Recorded as the gateway records: typed events, text through the masker.
            let m = Masker::pci_default();
            let statement = |sql: &str, decision, rule: Option<&str>| {
                Event::Statement(Statement {
                    protocol: Protocol::Simple,
                    sql: m.mask_text(sql),
                    decision,
                    rule: rule.map(|r| m.mask_text(r)),
                    dry_run: Vec::new(),
                })
            };
            let start = Event::SessionStart(SessionStart {
                session_id: SessionId::parse(session).unwrap(),
                credential_id: CredentialId::parse("5b0e8a52-1d2c-4a43-9a55-0e6f3c1b7a10").unwrap(),
                username: m.mask_text(&format!("run-{run}-1-k3x9qa")),
                connection: m.mask_text(connection),
                database: m.mask_text(connection),
                trust_rule: m.mask_text("main-deploys"),
                repository: m.mask_text(repository),
                run_id: m.mask_text(run),
                client_addr: std::net::IpAddr::from([10, 0, 0, 7]),
                tls: true,
                durability: hoop::recording::Durability::Statement,
                application_name: m.mask_text("psql"),
                params: StartupParams::default(),
            });
            let mut recorder = spool
                .create(SessionId::parse(session).unwrap(), start)
                .await
                .unwrap();
            recorder
                .append_durable(statement(
                    &format!("SELECT * FROM orders WHERE run = {run}"),
                    Action::Allow,
                    None,
                ))
                .await
                .unwrap();
            recorder
                .append(Event::Complete {
                    tag: m.mask_text("SELECT 3"),
                })
                .unwrap();
            recorder
                .append_durable(statement(
                    "DROP TABLE cards",
                    Action::Deny,
                    Some("protect-cards"),
                ))
                .await
                .unwrap();
            recorder
                .append(Event::Error(Diagnostic {
                    sqlstate: SqlState::parse("42501"),
                    message: m.mask_text("hoop refused the statement (rule protect-cards)"),
                    detail: m.mask_text(""),
                    hint: None,
                    context: None,
                    internal_query: None,
                }))
                .unwrap();
            let path = recorder
                .finish(Event::SessionEnd(SessionEnd {
                    reason: Reason::Fixed("client terminated"),
                    statements: Some(2),
                    errors: Some(1),
                }))
                .await
                .unwrap()
                .path;
            archives.push(archive.seal_at(&path, &key, now).unwrap());
        }
        let current = Period::containing(now, DEFAULT_PERIOD).unwrap();
        let hour = TimeDelta::hours(1);
        let period = |back: i32| {
            let start = current.start() - hour * back;
            Period::new(start, start + hour).unwrap()
        };
        let first = DigestBuilder::new(replica.clone(), period(2), None)
            .seal(&key)
            .unwrap();
        let second = DigestBuilder::new(replica.clone(), period(1), Some(first.link()))
            .seal(&key)
            .unwrap();
        let mut third = DigestBuilder::new(replica, current, Some(second.link()));
        for a in &archives {
            third.add(a.digest_entry()).unwrap();
        }
        let third = third.seal(&key).unwrap();
        let digests = vec![first, second, third];
        for a in &archives {
            a.write_to(&root).unwrap();
        }
        for d in &digests {
            d.write_to(&root).unwrap();
        }
        Fixture {
            dir,
            root,
            public_key,
            archives,
            digests,
        }
    }

    /// A copy of the store to tamper with.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        copy_dir(&self.root, &to);
        to
    }

    fn verify_folder(&self, folder: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "archive",
            "verify",
            "--folder",
            path(folder),
            "--public-key",
            path(&self.public_key),
        ];
        args.extend_from_slice(extra);
        hoop(&args)
    }

    /// The UTC day the sessions ended (they all end within a second of each other).
    fn day(&self) -> String {
        self.archives[0].manifest.ended_at[..10].to_owned()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// Every file under `root`, relative, with its bytes.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), root, out);
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string();
                out.push((rel, fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn keys_generate_writes_the_pair_once_and_never_prints_the_private_key() {
    let dir = TempDir::new("keys");
    let out_path = dir.path().join("archive.pem");
    let out = hoop(&["keys", "generate", "--out", path(&out_path)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let printed = stdout(&out);
    let public_path = dir.path().join("archive.pem.pub");
    assert!(printed.contains(path(&public_path)), "{printed}");
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    let private = fs::read(&out_path).unwrap();
    assert!(String::from_utf8_lossy(&private).contains("-----BEGIN PRIVATE KEY-----"));
    assert!(!printed.contains(String::from_utf8_lossy(&private).lines().nth(1).unwrap()));
    let mode = fs::metadata(&out_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = SigningKey::from_bytes(&private).unwrap();
    let public_file = fs::read_to_string(&public_path).unwrap();
    let public = PublicKey::parse(&public_file).unwrap();
    assert_eq!(&public, key.public_key());
    assert!(
        printed.contains(&format!("key id {}", public.id())),
        "{printed}"
    );

    // Never over an existing key, nor over an existing public file.
    let again = hoop(&["keys", "generate", "--out", path(&out_path)]);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    assert_eq!(fs::read(&out_path).unwrap(), private);
    assert_eq!(fs::read_to_string(&public_path).unwrap(), public_file);
    let other = dir.path().join("other.pem");
    fs::write(dir.path().join("other.pem.pub"), "pinned elsewhere").unwrap();
    let refused = hoop(&["keys", "generate", "--out", path(&other)]);
    assert_eq!(code(&refused), 1);
    assert!(!other.exists(), "no private key without its public file");

    let shown = hoop(&["keys", "show-public", "--key", path(&out_path)]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    assert_eq!(stdout(&shown), public_file);
}

#[tokio::test]
async fn list_reads_the_manifests_as_a_table_or_json() {
    let f = Fixture::new().await;
    let store = file_url(&f.root);
    let out = hoop(&["archive", "list", "--store", &store]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ENDED AT") && lines[0].contains("END STATE"),
        "{table}"
    );
    for (session, repository, run, connection) in SESSIONS {
        let row = lines
            .iter()
            .find(|l| l.contains(session))
            .unwrap_or_else(|| panic!("{session}: {table}"));
        for cell in [repository, run, connection, "  6  ", "ended"] {
            assert!(row.contains(cell), "{cell}: {row}");
        }
    }
    assert!(table.contains("3 archives in"), "{table}");

    let only = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["archive", "list", "--store", &store, "--format", "json"];
        all.extend_from_slice(args);
        let out = hoop(&all);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let parsed: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
        parsed
            .iter()
            .map(|m| m["session_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        only(&[]),
        [
            "a1a1a1a1-0000-4000-8000-000000000001",
            "b2b2b2b2-0000-4000-8000-000000000002",
            "c3c3c3c3-0000-4000-8000-000000000003"
        ]
    );
    assert_eq!(
        only(&["--repository", "acme/shop"]),
        [
            "a1a1a1a1-0000-4000-8000-000000000001",
            "b2b2b2b2-0000-4000-8000-000000000002"
        ]
    );
    assert_eq!(
        only(&["--run-id", "200"]),
        ["c3c3c3c3-0000-4000-8000-000000000003"]
    );
    assert_eq!(
        only(&["--connection", "shop"]),
        [
            "a1a1a1a1-0000-4000-8000-000000000001",
            "c3c3c3c3-0000-4000-8000-000000000003"
        ]
    );
    let day = f.day();
    assert_eq!(only(&["--since", &day, "--until", &day]).len(), 3);
    let ended = &f.archives[0].manifest.ended_at;
    let after: DateTime<Utc> = ended.parse::<DateTime<Utc>>().unwrap() + TimeDelta::days(1);
    assert!(only(&["--since", &after.to_rfc3339()]).is_empty());
    let before = (after - TimeDelta::days(2)).format("%Y-%m-%d").to_string();
    assert!(only(&["--until", &before]).is_empty());

    // A JSON element is the manifest.
    let out = hoop(&[
        "archive",
        "list",
        "--store",
        path(&f.root),
        "--format",
        "json",
    ]);
    let parsed: Vec<Manifest> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(parsed[0], f.archives[0].manifest);

    let bad = hoop(&["archive", "list", "--store", &store, "--since", "last week"]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("neither a day"), "{}", stderr(&bad));
}

#[tokio::test]
async fn download_copies_the_store_and_resumes_a_cut_file() {
    let f = Fixture::new().await;
    let into = f.dir.path().join("download");
    let download = |extra: &[&str]| {
        let mut args = vec![
            "archive",
            "download",
            "--store",
            path(&f.root),
            "--into",
            path(&into),
        ];
        args.extend_from_slice(extra);
        let out = hoop(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
    };
    let said = download(&[]);
    assert!(
        said.contains("3 archives, 3 digests and 0 audit segments"),
        "{said}"
    );
    assert!(said.contains("fetched 9 objects"), "{said}");
    assert!(said.contains("nothing was verified"), "{said}");
    assert_eq!(files(&into), files(&f.root));

    // Cut a recording short, leave a stray partial of another: both are completed.
    let cut = f.archives[0].recording_key.to_path(&into);
    let whole = fs::read(&cut).unwrap();
    fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let other = f.archives[1].recording_key.to_path(&into);
    let other_bytes = fs::read(&other).unwrap();
    fs::remove_file(&other).unwrap();
    let mut part = other.clone().into_os_string();
    part.push(".part");
    fs::write(&part, &other_bytes[..10]).unwrap();
    let said = download(&[]);
    assert!(said.contains("fetched 0 objects"), "{said}");
    assert!(said.contains("resumed 2"), "{said}");
    assert!(said.contains("7 already complete"), "{said}");
    assert_eq!(files(&into), files(&f.root));

    let said = download(&[]);
    assert!(said.contains("9 already complete"), "{said}");

    // The copy verifies on its own.
    let out = f.verify_folder(&into, &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // Filters narrow the archives; the digests always come along.
    let narrow = f.dir.path().join("narrow");
    let out = hoop(&[
        "archive",
        "download",
        "--store",
        &file_url(&f.root),
        "--into",
        path(&narrow),
        "--run-id",
        "200",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 archives, 3 digests and 0 audit segments"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("filtered"), "{}", stdout(&out));
    assert!(f.archives[2].recording_key.to_path(&narrow).is_file());
    assert!(!f.archives[0].manifest_key.to_path(&narrow).exists());
    for d in &f.digests {
        assert!(d.key.to_path(&narrow).is_file(), "{}", d.key);
    }
}

#[tokio::test]
async fn a_clean_store_verifies_as_a_folder_and_as_a_store() {
    let f = Fixture::new().await;
    let out = f.verify_folder(&f.root, &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("3 archives, 3 digests: ok"), "{text}");
    assert!(text.contains("locks not checked (a folder)"), "{text}");

    for store in [file_url(&f.root), path(&f.root).to_owned()] {
        let out = hoop(&[
            "archive",
            "verify",
            "--store",
            &store,
            "--public-key",
            path(&f.public_key),
        ]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("3 archives, 3 digests: ok"), "{text}");
        assert!(text.contains("the store has no Object Lock"), "{text}");
    }

    let day = f.day();
    let out = f.verify_folder(
        &f.root,
        &["--since", &day, "--until", &day, "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["report"]["archives"], 3);
    assert_eq!(report["report"]["problems"], Value::Array(vec![]));

    // Could not run: exit 2.
    let missing = f.dir.path().join("nowhere");
    assert_eq!(code(&f.verify_folder(&missing, &[])), 2);
    let out = hoop(&["archive", "verify", "--folder", path(&f.root)]);
    assert_eq!(code(&out), 2, "no pinned key");
    let out = hoop(&[
        "archive",
        "verify",
        "--folder",
        path(&f.root),
        "--public-key",
        path(&f.root),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[tokio::test]
async fn tampering_is_found_and_named() {
    let f = Fixture::new().await;

    // One byte of a recording object.
    let folder = f.copy("byte");
    let object = f.archives[0].recording_key.to_path(&folder);
    let mut bytes = fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&object, &bytes).unwrap();
    let out = f.verify_folder(&folder, &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let expected = format!(
        "MODIFIED     {}: object_sha256",
        f.archives[0].recording_key
    );
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
    // The same through the store path.
    let out = hoop(&[
        "archive",
        "verify",
        "--store",
        &file_url(&folder),
        "--public-key",
        path(&f.public_key),
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));

    // A deleted archive.
    let folder = f.copy("deleted-archive");
    fs::remove_file(f.archives[1].recording_key.to_path(&folder)).unwrap();
    fs::remove_file(f.archives[1].manifest_key.to_path(&folder)).unwrap();
    let out = f.verify_folder(&folder, &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "MISSING      {} (listed in {})",
            f.archives[1].manifest_key, f.digests[2].key
        )),
        "{text}"
    );
    assert!(text.contains("2 problems (2 missing)"), "{text}");

    // A deleted digest in the middle of the chain.
    let folder = f.copy("deleted-digest");
    fs::remove_file(f.digests[1].key.to_path(&folder)).unwrap();
    let out = f.verify_folder(&folder, &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "GAP          replica gw-1: {} is missing",
            f.digests[1].key
        )),
        "{text}"
    );

    // The latest digest deleted: its archives are pending until the clock says it is overdue.
    let folder = f.copy("deleted-latest");
    fs::remove_file(f.digests[2].key.to_path(&folder)).unwrap();
    let out = f.verify_folder(&folder, &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("pending"), "{}", stdout(&out));
    let later = (Utc::now() + TimeDelta::hours(4)).to_rfc3339();
    let out = f.verify_folder(&folder, &["--now", &later]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("GAP          replica gw-1: no digest since"),
        "{text}"
    );
    assert!(text.contains("NOT COVERED"), "{text}");
    let out = f.verify_folder(&folder, &["--no-clock"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // A manifest re-signed with a key that is not pinned.
    let folder = f.copy("resigned");
    let manifest = f.archives[2].manifest_key.to_path(&folder);
    let mut doc: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let other = SigningKey::from_seed(&[9; 32]).unwrap();
    let object = doc.as_object_mut().unwrap();
    object.remove("signature");
    object.insert("key_id".into(), other.key_id().to_string().into());
    let signature: Signature = other.sign(&canonical_form(&doc).unwrap());
    doc["signature"] = signature.to_base64().into();
    fs::write(&manifest, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = f.verify_folder(&folder, &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "UNSIGNED     {}: signed by {}, which is not pinned",
            f.archives[2].manifest_key,
            other.key_id()
        )),
        "{text}"
    );
    // Pinning the other key too does not make the replaced manifest pass: the digest lists
    // the original.
    let other_pub = f.dir.path().join("other.pub");
    fs::write(&other_pub, other.public_key().to_file()).unwrap();
    let out = f.verify_folder(&folder, &["--public-key", path(&other_pub)]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("digest_listing"), "{}", stdout(&out));
}

#[tokio::test]
async fn replay_prints_the_transcript_of_a_checked_archive() {
    let f = Fixture::new().await;
    let out = hoop(&[
        "archive",
        "replay",
        "a1a1a1a1-0000-4000-8000-000000000001",
        "--folder",
        path(&f.root),
        "--public-key",
        path(&f.public_key),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for expected in [
        "signature by the pinned key ed25519:",
        "object, content, chain and manifest agree",
        "session     a1a1a1a1-0000-4000-8000-000000000001",
        "run         100 of acme/shop (trust rule main-deploys)",
        "statement  SELECT * FROM orders WHERE run = 100  [allow]",
        "complete   SELECT 3",
        "statement  DROP TABLE cards  [deny: protect-cards]",
        "error      42501 hoop refused the statement (rule protect-cards)",
        "end        client terminated (2 statements, 1 errors)",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }

    let out = hoop(&[
        "archive",
        "replay",
        "b2b2b2b2-0000-4000-8000-000000000002",
        "--store",
        &file_url(&f.root),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("signature not checked"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("WHERE run = 101"), "{}", stdout(&out));

    // The object's path, and the events as JSON lines.
    let object = f.archives[2].recording_key.to_path(&f.root);
    let out = hoop(&["archive", "replay", path(&object), "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 6);
    assert_eq!(events[1]["sql"], "SELECT * FROM orders WHERE run = 200");

    // A tampered archive is shown, but the command says so and exits 1.
    let folder = f.copy("replay-tampered");
    let manifest = f.archives[0].manifest_key.to_path(&folder);
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(&manifest, text.replace("\"events\": 6", "\"events\": 5")).unwrap();
    let out = hoop(&[
        "archive",
        "replay",
        "a1a1a1a1-0000-4000-8000-000000000001",
        "--folder",
        path(&folder),
        "--public-key",
        path(&f.public_key),
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("SIGNATURE NOT VALID"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("event_count"), "{}", stdout(&out));

    let out = hoop(&[
        "archive",
        "replay",
        "d4d4d4d4-0000-4000-8000-000000000004",
        "--folder",
        path(&f.root),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no archive of session d4d4d4d4-0000-4000-8000-000000000004"),
        "{}",
        stderr(&out)
    );
}

/// Runs the real binary with its output piped into a reader that exits at once (`| true`);
/// returns hoop's own exit code and its stderr.
fn hoop_into_closed_pipe(args: &[&str]) -> (i32, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#""$@" | true; exit "${PIPESTATUS[0]}""#)
        .arg("hoop")
        .arg(env!("CARGO_BIN_EXE_hoop"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("HOOP_LOG")
        .output()
        .expect("run bash");
    (code(&out), stderr(&out))
}

#[tokio::test]
async fn a_reader_that_goes_away_leaves_the_exit_code_alone() {
    let f = Fixture::new().await;
    let store = file_url(&f.root);
    let key = path(&f.public_key);
    for _ in 0..5 {
        let (code, err) = hoop_into_closed_pipe(&["archive", "list", "--store", &store]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let (code, err) = hoop_into_closed_pipe(&[
            "archive",
            "verify",
            "--folder",
            path(&f.root),
            "--public-key",
            key,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        // The recording's JSON lines too.
        let (code, err) = hoop_into_closed_pipe(&[
            "archive",
            "replay",
            "a1a1a1a1-0000-4000-8000-000000000001",
            "--folder",
            path(&f.root),
            "--public-key",
            key,
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A problem found stays exit 1 when nobody reads the report.
    let copy = f.dir.path().join("cut");
    copy_dir(&f.root, &copy);
    fs::remove_file(f.archives[0].recording_key.to_path(&copy)).unwrap();
    let (code, err) = hoop_into_closed_pipe(&[
        "archive",
        "verify",
        "--folder",
        path(&copy),
        "--public-key",
        key,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
