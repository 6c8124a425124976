//! Sealing real spool recordings into a folder and verifying it, then tampering with it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::masking::Masker;
use crate::recording::{
    Event, Protocol, SessionStart, Spool, StartupParams, Statement, chain_genesis, recover,
};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        TempDir(std::env::temp_dir().join(format!("hoop-archive-{tag}-{}", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32]).unwrap()
}

fn ring(keys: &[&SigningKey]) -> KeyRing {
    let mut ring = KeyRing::new();
    for k in keys {
        ring.insert(k.public_key().clone());
    }
    ring
}

fn replica() -> ReplicaName {
    ReplicaName::new("gw-1").unwrap()
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
}

fn hour(h: u32) -> Period {
    Period::containing(at(h, 0), DEFAULT_PERIOD).unwrap()
}

/// The gateway's first event, with the run identity the manifest copies. The recording's
/// session id (its file name) is what the manifest names; the event's own id is not read.
fn session_start(_session: &str) -> Event {
    let m = Masker::pci_default();
    Event::SessionStart(SessionStart {
        session_id: crate::base::SessionId::from_uuid(uuid::Uuid::nil()),
        credential_id: crate::base::CredentialId::from_uuid(
            uuid::Uuid::parse_str("5b0e8a52-1d2c-4a43-9a55-0e6f3c1b7a10").unwrap(),
        ),
        username: m.mask_text("run-4242-1-k3x9qa"),
        connection: m.mask_text("shop"),
        database: m.mask_text("shop"),
        trust_rule: m.mask_text("main-deploys"),
        repository: m.mask_text("acme/shop"),
        run_id: m.mask_text("4242"),
        client_addr: std::net::IpAddr::from([10, 0, 0, 7]),
        tls: true,
        durability: crate::recording::Durability::Statement,
        application_name: m.mask_text("psql"),
        params: StartupParams::default(),
    })
}

fn statement(i: usize) -> Event {
    Event::Statement(Statement {
        protocol: Protocol::Simple,
        sql: Masker::pci_default().mask_text(&format!("select * from orders where id = {i}")),
        decision: crate::policy::rules::Action::Allow,
        rule: None,
        dry_run: Vec::new(),
    })
}

/// A finished recording of `n` statements in `spool`.
async fn finished(spool: &Arc<Spool>, session: &str, n: usize) -> PathBuf {
    let mut recorder = spool
        .create(SessionId::named(session), session_start(session))
        .await
        .unwrap();
    for i in 0..n {
        recorder.append_durable(statement(i)).await.unwrap();
        recorder
            .append(Event::Complete {
                tag: Masker::pci_default().mask_text("SELECT 1"),
            })
            .unwrap();
    }
    recorder
        .finish(Event::session_end("client terminated"))
        .await
        .unwrap()
        .path
}

/// Three archives over three hours, the middle one empty, in a folder:
/// 10:00 lists `s-a` and `s-b`, 11:00 is empty, 12:00 lists `s-c`.
struct Fixture {
    _spool_dir: TempDir,
    root: TempDir,
    spool: Arc<Spool>,
    archives: Vec<SealedArchive>,
    digests: Vec<SealedDigest>,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_keys(&key(1), &key(1)).await
    }

    /// `old` signs the first period's archives and digest, `new` the rest.
    async fn with_keys(old: &SigningKey, new: &SigningKey) -> Self {
        let spool_dir = TempDir::new("spool");
        let root = TempDir::new("root");
        let spool = Spool::open(&spool_dir.0).unwrap();
        let archive = Archive::new(replica());
        let mut archives = Vec::new();
        for (session, n, sealed, key) in [
            ("s-a", 2, at(10, 5), old),
            ("s-b", 3, at(10, 20), old),
            ("s-c", 1, at(12, 10), new),
        ] {
            let path = finished(&spool, session, n).await;
            archives.push(archive.seal_at(&path, key, sealed).unwrap());
        }
        let mut first = DigestBuilder::new(replica(), hour(10), None);
        first.add(archives[0].digest_entry()).unwrap();
        first.add(archives[1].digest_entry()).unwrap();
        let first = first.seal(old).unwrap();
        let empty = DigestBuilder::new(replica(), hour(11), Some(first.link()))
            .seal(new)
            .unwrap();
        let mut third = DigestBuilder::new(replica(), hour(12), Some(empty.link()));
        third.add(archives[2].digest_entry()).unwrap();
        let third = third.seal(new).unwrap();
        let digests = vec![first, empty, third];
        for a in &archives {
            a.write_to(&root.0).unwrap();
        }
        for d in &digests {
            d.write_to(&root.0).unwrap();
        }
        Fixture {
            _spool_dir: spool_dir,
            root,
            spool,
            archives,
            digests,
        }
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        key.to_path(&self.root.0)
    }

    fn verify(&self, keys: &KeyRing) -> VerifyReport {
        self.verify_with(keys, &VerifyOptions::default())
    }

    fn verify_with(&self, keys: &KeyRing, options: &VerifyOptions) -> VerifyReport {
        verify_folder(&self.root.0, keys, options).unwrap()
    }

    fn jsonl(&self, i: usize) -> Vec<u8> {
        zstd::stream::decode_all(&self.archives[i].recording[..]).unwrap()
    }

    /// Replaces archive `i`'s object with `jsonl`, compressed; its manifest stays.
    fn replace_jsonl(&self, i: usize, jsonl: &[u8]) {
        let object = zstd::stream::encode_all(jsonl, 3).unwrap();
        fs::write(self.path(&self.archives[i].recording_key), object).unwrap();
    }
}

fn classes(report: &VerifyReport) -> Vec<ProblemClass> {
    let mut classes: Vec<_> = report.problems.iter().map(Problem::class).collect();
    classes.dedup();
    classes
}

fn checks(report: &VerifyReport) -> Vec<Check> {
    report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Modified { check, .. } => Some(*check),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn sealed_archives_and_digests_verify() {
    let f = Fixture::new().await;
    let report = f.verify(&ring(&[&key(1)]));
    assert!(report.ok(), "{report}");
    assert_eq!((report.archives, report.digests), (3, 3));
    assert!(report.pending.is_empty());
    assert!(
        report.to_string().starts_with("3 archives, 3 digests: ok"),
        "{report}"
    );

    let a = &f.archives[0];
    let m = &a.manifest;
    assert_eq!(m.format, MANIFEST_FORMAT);
    assert_eq!(m.session_id, SessionId::named("s-a"));
    assert_eq!(m.replica, replica());
    assert_eq!(m.events, 6);
    assert_eq!(m.end_state, EndState::Ended);
    assert_eq!(m.sealed_at, "2026-11-25T10:05:00.000000Z");
    assert_eq!(m.key_id, *key(1).key_id());
    assert_eq!(
        m.identity,
        SessionIdentity {
            repository: Some("acme/shop".into()),
            run_id: Some("4242".into()),
            credential_id: Some("5b0e8a52-1d2c-4a43-9a55-0e6f3c1b7a10".into()),
            connection: Some("shop".into()),
            database: Some("shop".into()),
            username: Some("run-4242-1-k3x9qa".into()),
            trust_rule: Some("main-deploys".into()),
        }
    );
    let spooled = fs::read(f.spool.path_for(&SessionId::named("s-a"))).unwrap();
    assert_eq!(f.jsonl(0), spooled, "the object holds the exact JSONL");
    assert_eq!(m.content_sha256, Sha256::of(&spooled));
    assert_eq!(m.bytes, spooled.len() as u64);
    let report = crate::recording::verify(&f.spool.path_for(&SessionId::named("s-a"))).unwrap();
    assert_eq!(m.chain_head, report.head);
    assert_eq!(m.started_at, report.first_ts.unwrap());
    assert_eq!(m.ended_at, report.last_ts.unwrap());
    let day = &m.ended_at[..10].replace('-', "/");
    assert_eq!(
        a.manifest_key.as_str(),
        format!("sessions/{day}/{}.manifest.json", SessionId::named("s-a"))
    );
    assert_eq!(
        a.recording_key.as_str(),
        format!("sessions/{day}/{}.jsonl.zst", SessionId::named("s-a"))
    );
    assert_eq!(Manifest::parse(&a.manifest_bytes).unwrap(), *m);
    assert_eq!(f.digests[1].digest.archives, vec![]);
    assert_eq!(
        f.digests[0].digest.archives,
        vec![f.archives[0].digest_entry(), f.archives[1].digest_entry()]
    );
}

#[tokio::test]
async fn a_changed_byte_in_the_object_is_modified() {
    let f = Fixture::new().await;
    let path = f.path(&f.archives[0].recording_key);
    let mut object = fs::read(&path).unwrap();
    let middle = object.len() / 2;
    object[middle] ^= 0x01;
    fs::write(&path, object).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert!(!report.ok());
    assert_eq!(classes(&report), vec![ProblemClass::Modified], "{report}");
    let checks = checks(&report);
    assert!(checks.contains(&Check::ObjectSha256), "{report}");
    assert!(checks.contains(&Check::DigestListing), "{report}");
    assert!(report.to_string().contains("MODIFIED"), "{report}");
}

#[tokio::test]
async fn removed_reordered_or_added_lines_are_modified() {
    type Edit = fn(&mut Vec<&[u8]>);
    let edits: [(&str, Edit, Check); 3] = [
        (
            "removed",
            |l| {
                l.remove(2);
            },
            Check::Chain,
        ),
        ("reordered", |l| l.swap(1, 2), Check::Chain),
        ("appended", |l| l.push(l[1]), Check::Decompress),
    ];
    for (what, edit, expected) in edits {
        let f = Fixture::new().await;
        let jsonl = f.jsonl(1);
        let mut lines: Vec<&[u8]> = jsonl
            .strip_suffix(b"\n")
            .unwrap()
            .split(|&b| b == b'\n')
            .collect();
        edit(&mut lines);
        let mut edited = lines.join(&b'\n');
        edited.push(b'\n');
        f.replace_jsonl(1, &edited);
        let report = f.verify(&ring(&[&key(1)]));
        assert_eq!(
            classes(&report),
            vec![ProblemClass::Modified],
            "{what}: {report}"
        );
        let checks = checks(&report);
        assert!(checks.contains(&Check::ObjectSha256), "{what}: {report}");
        assert!(checks.contains(&expected), "{what}: {report}");
    }
}

#[tokio::test]
async fn a_shorter_recording_with_a_valid_chain_is_caught_by_the_manifest() {
    // Cutting off the end keeps the chain valid: only the signed count and head show it.
    let f = Fixture::new().await;
    let jsonl = f.jsonl(1);
    let cut = &jsonl[..jsonl[..jsonl.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1];
    f.replace_jsonl(1, cut);
    let report = f.verify(&ring(&[&key(1)]));
    let checks = checks(&report);
    for expected in [
        Check::ContentSha256,
        Check::EventCount,
        Check::ChainHead,
        Check::Manifest,
    ] {
        assert!(checks.contains(&expected), "{expected:?}: {report}");
    }
    assert!(!checks.contains(&Check::Chain), "{report}");
}

#[tokio::test]
async fn manifests_signed_by_an_unpinned_key_or_edited_are_unsigned() {
    let f = Fixture::new().await;
    let a = &f.archives[0];
    let resealed = Archive::new(replica())
        .seal_at(
            &f.spool.path_for(&SessionId::named("s-a")),
            &key(9),
            at(10, 5),
        )
        .unwrap();
    fs::write(f.path(&a.manifest_key), &resealed.manifest_bytes).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    let unsigned: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.class() == ProblemClass::Unsigned)
        .collect();
    assert_eq!(
        unsigned,
        vec![&Problem::Unsigned {
            key: a.manifest_key.clone(),
            key_id: key(9).key_id().clone(),
            reason: UnsignedReason::UnknownKey,
        }],
        "{report}"
    );
    assert!(
        report.to_string().contains("which is not pinned"),
        "{report}"
    );

    // An edited member under the pinned key id: the signature no longer verifies.
    let text = String::from_utf8(a.manifest_bytes.clone()).unwrap();
    let edited = text.replace("\"events\": 6", "\"events\": 5");
    assert_ne!(edited, text);
    fs::write(f.path(&a.manifest_key), edited).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert!(report.problems.contains(&Problem::Unsigned {
        key: a.manifest_key.clone(),
        key_id: key(1).key_id().clone(),
        reason: UnsignedReason::BadSignature,
    }));
    assert!(checks(&report).contains(&Check::EventCount), "{report}");

    // A duplicated member is not a manifest at all.
    let duplicated = text.replacen("{\n", "{\n  \"events\": 5,\n", 1);
    fs::write(f.path(&a.manifest_key), duplicated).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert!(checks(&report).contains(&Check::Format), "{report}");
}

#[tokio::test]
async fn deleted_archives_are_missing() {
    let f = Fixture::new().await;
    let b = &f.archives[1];
    fs::remove_file(f.path(&b.manifest_key)).unwrap();
    fs::remove_file(f.path(&b.recording_key)).unwrap();
    let c = &f.archives[2];
    fs::remove_file(f.path(&c.recording_key)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert_eq!(classes(&report), vec![ProblemClass::Missing], "{report}");
    let missing: Vec<(String, Option<String>)> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Missing { key, listed_in } => {
                Some((key.to_string(), listed_in.as_ref().map(ToString::to_string)))
            }
            _ => None,
        })
        .collect();
    let listed_in = |d: usize| Some(f.digests[d].key.to_string());
    let mut expected = vec![
        (b.manifest_key.to_string(), listed_in(0)),
        (b.recording_key.to_string(), listed_in(0)),
        (c.recording_key.to_string(), listed_in(2)),
    ];
    expected.sort();
    assert_eq!(missing, expected, "{report}");
    assert!(report.to_string().contains("MISSING"), "{report}");
}

fn gaps(report: &VerifyReport) -> Vec<&Gap> {
    report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Gap { gap, .. } => Some(gap),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn deleted_digests_are_gaps() {
    // The empty period's digest: the next one links to a digest that is gone.
    let f = Fixture::new().await;
    fs::remove_file(f.path(&f.digests[1].key)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert_eq!(classes(&report), vec![ProblemClass::Gap], "{report}");
    assert_eq!(
        gaps(&report),
        vec![&Gap::MissingDigest {
            expected: f.digests[1].key.clone(),
            referenced_by: f.digests[2].key.clone(),
        }]
    );
    assert!(report.to_string().contains("GAP"), "{report}");

    // The first digest: the archives it listed are listed nowhere any more.
    let f = Fixture::new().await;
    fs::remove_file(f.path(&f.digests[0].key)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert_eq!(
        classes(&report),
        vec![ProblemClass::Gap, ProblemClass::NotCovered],
        "{report}"
    );
    assert_eq!(report.count(ProblemClass::NotCovered), 2, "{report}");

    // The last digest: without a clock its archive is only pending; with one, it is overdue
    // and the replica's chain is stale.
    let f = Fixture::new().await;
    fs::remove_file(f.path(&f.digests[2].key)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert!(report.ok(), "{report}");
    assert_eq!(report.pending.len(), 1);
    assert_eq!(report.pending[0].session_id, SessionId::named("s-c"));
    assert!(report.to_string().contains("pending"), "{report}");
    let options = VerifyOptions {
        now: Some(at(16, 0)),
        ..VerifyOptions::default()
    };
    let report = f.verify_with(&ring(&[&key(1)]), &options);
    assert_eq!(
        classes(&report),
        vec![ProblemClass::Gap, ProblemClass::NotCovered],
        "{report}"
    );
    assert!(matches!(gaps(&report)[..], [Gap::Stale { .. }]), "{report}");
    // Within the delay, the same folder is fine.
    let options = VerifyOptions {
        now: Some(at(13, 30)),
        ..VerifyOptions::default()
    };
    assert!(f.verify_with(&ring(&[&key(1)]), &options).ok());
}

#[tokio::test]
async fn a_replaced_digest_or_a_skipped_period_breaks_the_chain() {
    let k = key(1);
    let f = Fixture::new().await;
    // The empty digest re-signed with the same (pinned) key, with another body: its signature
    // verifies, but the next digest's link names the original.
    let forged = DigestBuilder::new(replica(), hour(11), Some(f.digests[0].link()));
    let mut forged = forged;
    forged.add(f.archives[2].digest_entry()).unwrap();
    let forged = forged.seal(&k).unwrap();
    fs::write(f.path(&f.digests[1].key), &forged.bytes).unwrap();
    let report = f.verify(&ring(&[&k]));
    assert_eq!(classes(&report), vec![ProblemClass::Gap], "{report}");
    assert!(
        matches!(gaps(&report)[..], [Gap::BrokenLink { digest, .. }] if *digest == f.digests[2].key),
        "{report}"
    );

    // A chain that skips 11:00 altogether: the link holds, the periods do not meet.
    let root = TempDir::new("skip");
    for a in &f.archives {
        a.write_to(&root.0).unwrap();
    }
    f.digests[0].write_to(&root.0).unwrap();
    let mut third = DigestBuilder::new(replica(), hour(12), Some(f.digests[0].link()));
    third.add(f.archives[2].digest_entry()).unwrap();
    third.seal(&k).unwrap().write_to(&root.0).unwrap();
    let report = verify_folder(&root.0, &ring(&[&k]), &VerifyOptions::default()).unwrap();
    assert_eq!(
        gaps(&report),
        vec![&Gap::MissingPeriod {
            after: f.digests[0].key.clone(),
            from: at(11, 0),
            to: at(12, 0),
        }],
        "{report}"
    );
}

#[tokio::test]
async fn a_rotated_key_keeps_old_archives_verifiable() {
    let (old, new) = (key(1), key(2));
    let f = Fixture::with_keys(&old, &new).await;
    assert_eq!(f.archives[0].manifest.key_id, *old.key_id());
    assert_eq!(f.archives[2].manifest.key_id, *new.key_id());
    let report = f.verify(&ring(&[&old, &new]));
    assert!(report.ok(), "{report}");

    // Pinning only the new key: everything the old key signed is unsigned.
    let report = f.verify(&ring(&[&new]));
    let unsigned: Vec<_> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Unsigned { key, reason, .. } => Some((key.clone(), *reason)),
            _ => None,
        })
        .collect();
    let mut expected = vec![
        (
            f.archives[0].manifest_key.clone(),
            UnsignedReason::UnknownKey,
        ),
        (
            f.archives[1].manifest_key.clone(),
            UnsignedReason::UnknownKey,
        ),
        (f.digests[0].key.clone(), UnsignedReason::UnknownKey),
    ];
    expected.sort();
    assert_eq!(unsigned, expected, "{report}");

    // Pins read from the public key files, both in one file.
    let pins = format!(
        "{}{}",
        old.public_key().to_file(),
        new.public_key().to_file()
    );
    assert!(f.verify(&KeyRing::from_text(&pins).unwrap()).ok());
}

#[tokio::test]
async fn a_recording_cut_short_is_sealed_as_terminated() {
    let spool_dir = TempDir::new("terminated");
    let spool = Spool::open(&spool_dir.0).unwrap();
    let archive = Archive::new(replica());

    // The connection task ended without an end event.
    let mut recorder = spool
        .create(SessionId::named("s-cut"), session_start("s-cut"))
        .await
        .unwrap();
    recorder.append_durable(statement(1)).await.unwrap();
    drop(recorder);
    let path = spool.path_for(&SessionId::named("s-cut"));
    let mut sealed = None;
    for _ in 0..100 {
        // The writer releases the file asynchronously; the durable line is already in it.
        match archive.seal(&path, &key(1)) {
            Ok(s) => {
                sealed = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    let sealed = sealed.unwrap();
    assert_eq!(sealed.manifest.end_state, EndState::Terminated);
    assert_eq!(sealed.manifest.events, 2);

    // Closed by the gateway's crash recovery: a `session_end` whose reason says terminated.
    let recovered = recover(&path).unwrap();
    spool
        .resume(&recovered)
        .await
        .unwrap()
        .finish(Event::session_end("terminated: the gateway stopped"))
        .await
        .unwrap();
    let closed = archive.seal(&path, &key(1)).unwrap();
    assert_eq!(closed.manifest.end_state, EndState::Terminated);
    assert_eq!(closed.manifest.events, 3);

    let root = TempDir::new("terminated-root");
    closed.write_to(&root.0).unwrap();
    let mut digest = DigestBuilder::new(replica(), hour(10), None);
    digest.add(closed.digest_entry()).unwrap();
    digest.seal(&key(1)).unwrap().write_to(&root.0).unwrap();
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
}

#[tokio::test]
async fn sealing_refuses_what_is_not_a_valid_recording() {
    let f = Fixture::new().await;
    let path = f.spool.path_for(&SessionId::named("s-b"));
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("id = 1", "id = 9", 1)).unwrap();
    let err = Archive::new(replica()).seal(&path, &key(1)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ArchiveError::Chain(_)), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    // Line 4 was edited: line 5's link names it.
    assert!(message.contains("line 5"), "{message}");

    let other = f._spool_dir.0.join("notes.txt");
    fs::write(&other, "x\n").unwrap();
    assert!(matches!(
        Archive::new(replica()).seal(&other, &key(1)),
        Err(ArchiveError::NotARecording { .. })
    ));
    // An archive is written once.
    assert!(f.archives[0].write_to(&f.root.0).is_err());
}

#[tokio::test]
async fn a_moved_manifest_is_out_of_place() {
    let f = Fixture::new().await;
    let a = &f.archives[0];
    let elsewhere = ObjectKey::parse("sessions/2020/01/01/s-a.manifest.json").unwrap();
    fs::create_dir_all(f.path(&elsewhere).parent().unwrap()).unwrap();
    fs::rename(f.path(&a.manifest_key), f.path(&elsewhere)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    assert!(
        report.problems.iter().any(|p| matches!(p,
        Problem::Modified { key, check: Check::Location, .. } if *key == elsewhere)),
        "{report}"
    );
    assert!(report.count(ProblemClass::Missing) >= 1, "{report}");
}

fn window(since: DateTime<Utc>, until: DateTime<Utc>) -> VerifyOptions {
    VerifyOptions {
        since: Some(since),
        until: Some(until),
        ..VerifyOptions::default()
    }
}

#[tokio::test]
async fn a_window_is_proven_by_the_digests_around_it() {
    let f = Fixture::new().await;
    // 11:00 to 12:00: the empty digest, checked through the link from 10:00 and the link of
    // 12:00, and what those two list.
    let report = f.verify_with(&ring(&[&key(1)]), &window(at(11, 0), at(12, 0)));
    assert!(report.ok(), "{report}");
    assert_eq!((report.digests, report.archives), (3, 3), "{report}");

    // The digest of the window deleted: the window holds no digest of its own, and the link
    // from after it shows what is gone.
    fs::remove_file(f.path(&f.digests[1].key)).unwrap();
    let report = f.verify_with(&ring(&[&key(1)]), &window(at(11, 0), at(11, 30)));
    assert_eq!(
        gaps(&report),
        vec![&Gap::MissingDigest {
            expected: f.digests[1].key.clone(),
            referenced_by: f.digests[2].key.clone(),
        }],
        "{report}"
    );

    // Everything before 12:00 deleted: a window from 12:00 cannot be entered by a link.
    fs::remove_file(f.path(&f.digests[0].key)).unwrap();
    let report = f.verify_with(
        &ring(&[&key(1)]),
        &VerifyOptions {
            since: Some(at(12, 0)),
            ..VerifyOptions::default()
        },
    );
    assert_eq!(gaps(&report).len(), 1, "{report}");
    assert!(!report.ok());
}

#[tokio::test]
async fn a_window_with_no_digest_around_it_is_uncovered() {
    let f = Fixture::new().await;
    // A week after the chain ends, with a clock: no replica was writing, nothing covers it.
    let later = at(12, 0) + TimeDelta::days(7);
    let options = VerifyOptions {
        now: Some(later + TimeDelta::days(1)),
        ..window(later, later + TimeDelta::hours(1))
    };
    let report = f.verify_with(&ring(&[&key(1)]), &options);
    assert_eq!(classes(&report), vec![ProblemClass::Uncovered], "{report}");
    assert!(
        report
            .to_string()
            .contains("UNCOVERED    2026-12-02T12:00:00Z to 2026-12-02T13:00:00Z: "),
        "{report}"
    );
    assert!(
        report.to_string().contains("no digest covers any of it"),
        "{report}"
    );
    // Without a clock the last digest is the window's entry link, but nothing after it
    // speaks of the window: still uncovered.
    let options = VerifyOptions {
        now: None,
        ..window(later, later + TimeDelta::hours(1))
    };
    let report = f.verify_with(&ring(&[&key(1)]), &options);
    assert_eq!(classes(&report), vec![ProblemClass::Uncovered], "{report}");
    assert!(
        report
            .to_string()
            .contains("the chains in scope end at 2026-11-25T13:00:00Z"),
        "{report}"
    );
    // A day before the chain begins: no digest speaks of that time either.
    let earlier = at(10, 0) - TimeDelta::days(1);
    let report = f.verify_with(
        &ring(&[&key(1)]),
        &window(earlier, earlier + TimeDelta::hours(1)),
    );
    assert_eq!(classes(&report), vec![ProblemClass::Uncovered], "{report}");
    assert_eq!((report.archives, report.digests), (0, 0), "{report}");
    // A window that starts before the chain and ends in it is covered from the first digest.
    let report = f.verify_with(&ring(&[&key(1)]), &window(earlier, at(10, 30)));
    assert!(report.ok(), "{report}");

    // An empty folder, or one that is not an archive root, verifies nothing: a problem.
    let empty = TempDir::new("empty");
    fs::create_dir_all(&empty.0).unwrap();
    let report = verify_folder(&empty.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert_eq!(classes(&report), vec![ProblemClass::Uncovered], "{report}");
    assert!(
        report.to_string().contains("no archive and no digest"),
        "{report}"
    );
    assert!(!report.ok());
}

/// Writes `archive` and a chain of `digests` hourly digests from the hour before it ended, the
/// one at index `listed_in` listing it; returns its `ended_at`.
fn chain_listing_at(
    root: &TempDir,
    archive: &SealedArchive,
    digests: usize,
    listed_in: usize,
) -> DateTime<Utc> {
    let ended = archive.manifest.ended_at().unwrap();
    let mut period = Period::containing(ended - TimeDelta::hours(1), DEFAULT_PERIOD).unwrap();
    let mut previous = None;
    for i in 0..digests {
        let mut builder = DigestBuilder::new(replica(), period, previous.take());
        if i == listed_in {
            builder.add(archive.digest_entry()).unwrap();
        }
        let sealed = builder.seal(&key(1)).unwrap();
        sealed.write_to(&root.0).unwrap();
        previous = Some(sealed.link());
        period = period.next();
    }
    archive.write_to(&root.0).unwrap();
    ended
}

#[tokio::test]
async fn a_late_seal_pulls_in_its_digest() {
    // A session that ended in the window but was sealed two hours later (a store outage): the
    // digests on to its seal are part of the window's proof, so it is covered.
    let spool_dir = TempDir::new("spool");
    let root = TempDir::new("late");
    let spool = Spool::open(&spool_dir.0).unwrap();
    let path = finished(&spool, "s-late", 1).await;
    let archive = Archive::new(replica())
        .seal_at(&path, &key(1), Utc::now() + TimeDelta::hours(2))
        .unwrap();
    let ended = chain_listing_at(&root, &archive, 4, 3);
    let options = window(ended - TimeDelta::seconds(1), ended + TimeDelta::seconds(1));
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &options).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!((report.digests, report.archives), (4, 1), "{report}");
}

#[tokio::test]
async fn the_report_serializes_each_problem_with_its_class() {
    let f = Fixture::new().await;
    fs::remove_file(f.path(&f.archives[2].recording_key)).unwrap();
    fs::remove_file(f.path(&f.digests[1].key)).unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["archives"], 3);
    assert_eq!(
        value["problems"],
        json!([
            {
                "class": "missing",
                "key": f.archives[2].recording_key.as_str(),
                "listed_in": f.digests[2].key.as_str(),
            },
            {
                "class": "gap",
                "replica": "gw-1",
                "gap": {
                    "kind": "missing_digest",
                    "expected": f.digests[1].key.as_str(),
                    "referenced_by": f.digests[2].key.as_str(),
                },
            },
        ])
    );
}

/// Writes a valid recording from `(ts, kind, fields)` lines, chaining them by hand as
/// `docs/recording-format.md` says.
fn write_recording(dir: &Path, session: &str, lines: &[(&str, &str, &str)]) -> PathBuf {
    let session = SessionId::parse(session)
        .unwrap_or_else(|_| SessionId::named(session))
        .to_string();
    let mut prev = chain_genesis(&session);
    let mut text = String::new();
    for (seq, (ts, kind, fields)) in lines.iter().enumerate() {
        let line = format!(
            r#"{{"seq":{seq},"ts":"{ts}","kind":"{kind}",{fields}"prev":"{}"}}"#,
            prev.to_hex()
        );
        prev = Sha256::of(line.as_bytes());
        text.push_str(&line);
        text.push('\n');
    }
    let path = dir.join(format!("{session}.jsonl"));
    fs::write(&path, text).unwrap();
    path
}

/// The worked example of `docs/archive-format.md`: fixed key, recording and times, so every
/// value in the document is reproduced here. Run with `--nocapture` to print them.
#[test]
fn worked_example() {
    let dir = TempDir::new("example");
    fs::create_dir_all(&dir.0).unwrap();
    let session = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let path = write_recording(
        &dir.0,
        session,
        &[
            (
                "2026-11-25T10:04:05.123456Z",
                "session_start",
                r#""session_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","credential_id":"5b0e8a52-1d2c-4a43-9a55-0e6f3c1b7a10","username":"run-4242-1-k3x9qa","connection":"shop","database":"shop","trust_rule":"main-deploys","repository":"acme/shop","run_id":"4242","client_addr":"10.0.0.7","tls":true,"application_name":"psql","#,
            ),
            (
                "2026-11-25T10:04:05.200000Z",
                "statement",
                r#""sql":"SELECT 1","decision":"allow","rule":null,"#,
            ),
            (
                "2026-11-25T10:04:05.201000Z",
                "complete",
                r#""tag":"SELECT 1","#,
            ),
            (
                "2026-11-25T10:04:06.000000Z",
                "session_end",
                r#""reason":"client terminated","statements":1,"errors":0,"#,
            ),
        ],
    );
    let key = SigningKey::from_seed(&[0x42; 32]).unwrap();
    let sealed_at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 4, 7).unwrap();
    let sealed = Archive::new(replica())
        .seal_at(&path, &key, sealed_at)
        .unwrap();
    let mut digest = DigestBuilder::new(replica(), hour(10), None);
    digest.add(sealed.digest_entry()).unwrap();
    let digest = digest.seal(&key).unwrap();

    let manifest_text = String::from_utf8(sealed.manifest_bytes.clone()).unwrap();
    let canonical =
        canonical_form(&serde_json::from_slice(&sealed.manifest_bytes).unwrap()).unwrap();
    println!("public key file:\n{}", key.public_key().to_file());
    println!("recording:\n{}", fs::read_to_string(&path).unwrap());
    println!("{}:\n{manifest_text}", sealed.manifest_key);
    println!(
        "canonical form:\n{}\n",
        String::from_utf8(canonical.clone()).unwrap()
    );
    println!("manifest sha256: {}", Sha256::of(&sealed.manifest_bytes));
    println!(
        "{}:\n{}",
        digest.key,
        String::from_utf8(digest.bytes.clone()).unwrap()
    );
    println!("digest sha256: {}", Sha256::of(&digest.bytes));

    // Independent of hoop's signer: the signature verifies over the canonical bytes with the
    // raw public key.
    assert!(
        key.public_key()
            .verify(&canonical, &sealed.manifest.signature)
    );
    let root = TempDir::new("example-root");
    sealed.write_to(&root.0).unwrap();
    digest.write_to(&root.0).unwrap();
    let report = verify_folder(&root.0, &ring(&[&key]), &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");

    // The values docs/archive-format.md shows.
    assert_eq!(key.key_id().as_str(), EXAMPLE_KEY_ID);
    assert_eq!(sealed.manifest.chain_head.to_hex(), EXAMPLE_CHAIN_HEAD);
    assert_eq!(
        sealed.manifest.content_sha256.to_hex(),
        EXAMPLE_CONTENT_SHA256
    );
    assert_eq!(
        sealed.manifest.signature.to_base64(),
        EXAMPLE_MANIFEST_SIGNATURE
    );
    assert_eq!(
        Sha256::of(&sealed.manifest_bytes).to_hex(),
        EXAMPLE_MANIFEST_SHA256
    );
    assert_eq!(
        digest.digest.signature.to_base64(),
        EXAMPLE_DIGEST_SIGNATURE
    );
}

const EXAMPLE_KEY_ID: &str = "ed25519:3097e2dee2cb4a34";
const EXAMPLE_CHAIN_HEAD: &str = "2a263c886b294eab45806684c0cdaf5801e6469d26ef4dc3c772dcd2c8c729d1";
const EXAMPLE_CONTENT_SHA256: &str =
    "9f71a41af52bde648be0616e4195d9362842e2bcade00d26cc1ab30824110e47";
const EXAMPLE_MANIFEST_SIGNATURE: &str =
    "1qUfTq+QQUnYowqG1uf1HCYaG8Y2/S186rVWE1COPSDY83RC5FT6eKApSCd0Aw+IGjPdClexMs6BJOojovoXCA==";
const EXAMPLE_MANIFEST_SHA256: &str =
    "398b9b388a41ca040ccf6ad4256a6519b48efc6d2e95a2d792d0574d06f7055c";
const EXAMPLE_DIGEST_SIGNATURE: &str =
    "CymJNIh2Q3vDcqBKHGO3cURqoKhQ/JqvZiY3gk0JsgzBftOzM9JOvwWG9w4FuoyhaOY5Xjf6Py7Dfg3JFlsBBw==";

fn audit_record(id: i64, code: &str) -> AuditRecord {
    AuditRecord {
        id,
        at: "2026-11-25T10:04:05.123456Z".into(),
        replica: "gw-1".into(),
        action: "exchange".into(),
        outcome: "success".into(),
        code: code.into(),
        message: "issued".into(),
        remote_addr: Some("10.0.0.7".into()),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        subject: Some("repo:acme/shop:ref:refs/heads/main".into()),
        claims: Some(r#"{"run_id":"4242","weight":0.5}"#.into()),
        claims_verified: true,
        trust_rule: Some("main-deploys".into()),
        connection: Some("shop".into()),
        credential_id: None,
    }
}

/// A one-digest folder whose digest lists an audit segment of `events` events.
fn audited_folder(events: i64) -> (TempDir, SealedSegment, SealedDigest) {
    let root = TempDir::new("audit");
    let records = (1..=events).map(|i| audit_record(i, "issued")).collect();
    let segment = AuditSegment::seal(replica(), hour(10), records, &key(1)).unwrap();
    let mut digest = DigestBuilder::new(replica(), hour(10), None);
    digest.audit(segment.entry());
    let digest = digest.seal(&key(1)).unwrap();
    segment.write_to(&root.0).unwrap();
    digest.write_to(&root.0).unwrap();
    (root, segment, digest)
}

#[test]
fn the_audit_trail_is_sealed_listed_and_verified_like_the_sessions() {
    let (root, segment, digest) = audited_folder(3);
    assert_eq!(
        segment.key.as_str(),
        "audit/gw-1/2026/11/25/10-00-00.json",
        "beside the digest, named by its period"
    );
    // A claim with a fraction rides as text: the canonical form never refuses a segment.
    assert!(String::from_utf8_lossy(&segment.bytes).contains(r#"\"weight\":0.5"#));
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!((report.audit_segments, report.audit_events), (1, 3));
    assert!(
        report
            .to_string()
            .contains("audit trail: 1 segments, 3 events"),
        "{report}"
    );

    // Replaced by a segment re-signed with the pinned key, one event fewer: the digest's
    // listing shows it.
    let fewer = AuditSegment::seal(
        replica(),
        hour(10),
        vec![audit_record(1, "issued"), audit_record(2, "issued")],
        &key(1),
    )
    .unwrap();
    fs::write(fewer.key.to_path(&root.0), &fewer.bytes).unwrap();
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert_eq!(
        checks(&report),
        vec![Check::DigestListing, Check::EventCount],
        "{report}"
    );

    // Signed by a key nobody pinned, in place of the original.
    let forged =
        AuditSegment::seal(replica(), hour(10), vec![audit_record(1, "x")], &key(2)).unwrap();
    fs::write(forged.key.to_path(&root.0), &forged.bytes).unwrap();
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert!(report.count(ProblemClass::Unsigned) == 1, "{report}");

    // Deleted: missing, and the digest that lists it is named.
    fs::remove_file(segment.key.to_path(&root.0)).unwrap();
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &VerifyOptions::default()).unwrap();
    assert_eq!(
        report.problems,
        vec![Problem::Missing {
            key: segment.key.clone(),
            listed_in: Some(digest.key.clone()),
        }]
    );
}

#[tokio::test]
async fn what_is_planted_beside_a_window_cannot_push_its_evidence_out() {
    let k = key(1);
    // A junk digest under a non-canonical name beside the window's exit digest names no
    // period, and a digest whose content belongs elsewhere is out of place even when no
    // chain in scope uses it.
    let f = Fixture::new().await;
    let exit = &f.digests[2].key;
    let junk = ObjectKey::parse(&exit.as_str().replace("12-00-00", "12-0-00")).unwrap();
    assert!(junk.digest_start().is_none());
    assert!(exit.digest_start().is_some());
    let elsewhere = DigestBuilder::new(
        ReplicaName::new("zz").unwrap(),
        Period::containing(at(1, 0) - TimeDelta::days(365), DEFAULT_PERIOD).unwrap(),
        None,
    )
    .seal(&key(2))
    .unwrap();
    fs::write(f.path(&junk), &elsewhere.bytes).unwrap();
    let report = f.verify_with(&ring(&[&k]), &window(at(11, 0), at(12, 0)));
    assert!(!report.ok(), "{report}");
    assert!(
        report.problems.iter().any(
            |p| matches!(p, Problem::Modified { key, check: Check::Location, .. } if *key == junk)
        ),
        "{report}"
    );

    // An archive of the window's day whose manifest was swapped for an unsigned one dated
    // long ago is still the window's: its date is not trusted, its folder is.
    let f = Fixture::new().await;
    let target = &f.archives[0];
    let mut manifest: serde_json::Value = serde_json::from_slice(&target.manifest_bytes).unwrap();
    manifest["ended_at"] = json!("1970-01-01T00:00:00.000000Z");
    fs::write(f.path(&target.manifest_key), manifest.to_string()).unwrap();
    let ended = f.archives[0].manifest.ended_at().unwrap();
    let options = window(ended - TimeDelta::minutes(1), ended + TimeDelta::minutes(1));
    let report = f.verify_with(&ring(&[&k]), &options);
    assert!(!report.ok(), "{report}");
    assert!(report.count(ProblemClass::Unsigned) >= 1, "{report}");
}

#[tokio::test]
async fn a_planted_name_cannot_drive_the_auditors_terminal() {
    let f = Fixture::new().await;
    let day = f.archives[0]
        .manifest_key
        .as_str()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let planted = ObjectKey::parse(&format!("{day}/planted.manifest.json")).unwrap();
    fs::write(
        f.path(&planted),
        "{\"format\":\"hoop-archive-v1\",\"\u{1b}[2J\u{1b}[Hall clear\":1}",
    )
    .unwrap();
    let report = f.verify(&ring(&[&key(1)]));
    let text = report.to_string();
    assert!(!report.ok(), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("planted.manifest.json"), "{text}");
}

#[tokio::test]
async fn an_archive_stored_long_after_its_seal_is_found_along_the_chain() {
    // Sealed a minute after it ended, stored four periods later (the store was down): only the
    // digest of the period it was stored in lists it. A window around its end follows the
    // chain that far, so it is covered, not NOT COVERED.
    let spool_dir = TempDir::new("spool");
    let root = TempDir::new("stored-late");
    let spool = Spool::open(&spool_dir.0).unwrap();
    let path = finished(&spool, "s-stored-late", 1).await;
    let archive = Archive::new(replica())
        .seal_at(&path, &key(1), Utc::now() + TimeDelta::minutes(1))
        .unwrap();
    let ended = chain_listing_at(&root, &archive, 7, 5);
    let options = window(ended - TimeDelta::seconds(1), ended + TimeDelta::seconds(1));
    let report = verify_folder(&root.0, &ring(&[&key(1)]), &options).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.archives, 1, "{report}");
    assert_eq!(
        report.digests, 6,
        "from the one before the window to the one listing it"
    );
}
