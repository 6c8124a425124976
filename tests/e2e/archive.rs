//! WORM archives end to end: the real `hoop serve` archives the recordings of real gateway
//! sessions into a store (a folder here; S3 Object Lock through a real S3 server in
//! `archive_s3.rs`), signs a digest every period, survives a crash mid-session, and what it
//! stored verifies with pinned keys.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::support::leaks::{assert_no_leak, files_under, sealed_archives, without_links};
use crate::support::*;
use hoop::archive::{KeyRing, Manifest, VerifyOptions, verify_folder};

/// A signing key for the test's replica, and the pinned public key.
struct Keys {
    private: PathBuf,
    ring: KeyRing,
    public_file: String,
}

fn keys(dir: &Path) -> Keys {
    let generated = hoop::archive::generate().unwrap();
    let private = dir.join("archive.key");
    std::fs::write(&private, generated.private_pem.expose()).unwrap();
    Keys {
        private,
        ring: KeyRing::from_text(&generated.public_file).unwrap(),
        public_file: generated.public_file,
    }
}

/// `[archive]` for a folder store with a one-second digest period.
fn folder_archive(root: &Path, key: &Path, extra: &str) -> String {
    format!(
        "[archive]\nstore = {:?}\nsigning_key = {{ file = {:?} }}\ndigest_period = \"1s\"\n{extra}\n",
        format!("file://{}", root.display()),
        key.display().to_string(),
    )
}

async fn start_with_archive(section: String) -> Hoop {
    Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(section),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await
}

/// Waits until the replica has stored `count` digests.
async fn wait_digests_stored(hoop: &Hoop, count: i64) {
    wait_until(&format!("{count} stored digests"), || async {
        let client = hoop.db.client().await;
        let row = client
            .query_one("SELECT count(*) FROM hoop_digests WHERE stored", &[])
            .await
            .unwrap();
        row.get::<_, i64>(0) >= count
    })
    .await;
}

fn manifests(root: &Path) -> Vec<Manifest> {
    files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .map(|p| Manifest::parse(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_sessions_leave_the_spool_for_a_signed_digested_folder_store() {
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let keys = keys(&scratch.0);
    let hoop = start_with_archive(folder_archive(&root, &keys.private, "")).await;
    let credential = hoop.issue(&hoop.github_token(6101)).await;
    for i in 0..3 {
        let sql = format!("SELECT {i} AS n, 'card 4111111111111111' AS note");
        let out = hoop.psql(&credential, &["-c", &sql]);
        assert!(out.status.success(), "psql: {}", stdout_of(&out));
    }
    hoop.wait_archived_and_digested(3).await;
    wait_until("the spool to hold no recording", || async {
        hoop.recordings().is_empty()
    })
    .await;

    let stored = manifests(&root);
    assert_eq!(stored.len(), 3, "one manifest per session");
    // What is sealed is the masked recording: the statement's card number is not in it.
    let archives = sealed_archives(&root);
    assert_eq!(archives.len(), 3, "one archive per session");
    for events in &archives {
        let text = without_links(events);
        assert!(
            String::from_utf8_lossy(&text).contains("'card 411111******1111'"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert_no_leak("a sealed archive", &text);
    }
    for m in &stored {
        assert_eq!(m.identity.run_id.as_deref(), Some("6101"));
        assert_eq!(m.identity.repository.as_deref(), Some(REPOSITORY));
        assert_eq!(m.replica.as_str(), "e2e");
    }
    for file in files_under(&root) {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "{} is read-only", file.display());
    }
    // Every folder of the spool is private: the spool, its journal and the sealed objects.
    let mut folders = vec![hoop.spool_dir.clone()];
    for entry in std::fs::read_dir(&hoop.spool_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    assert!(
        folders.iter().any(|f| f.ends_with("sealed")),
        "the archiver sealed into spool/sealed: {folders:?}"
    );
    for folder in &folders {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is 0700", folder.display());
    }
    // The sessions index knows where each session's evidence is.
    let client = hoop.db.client().await;
    let states: Vec<String> = client
        .query("SELECT archive_state FROM hoop_sessions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, vec!["stored"; 3]);

    let report = verify_folder(&root, &keys.ring, &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.archives, 3);
    assert!(report.digests >= 1);
    assert!(report.pending.is_empty(), "every archive is in a digest");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_cut_short_by_a_crash_is_archived_as_terminated_after_the_restart() {
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let keys = keys(&scratch.0);
    let mut hoop = start_with_archive(folder_archive(&root, &keys.private, "")).await;
    let credential = hoop.issue(&hoop.github_token(6102)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    client
        .simple_query("SELECT 'before the crash'")
        .await
        .unwrap();
    wait_digests_stored(&hoop, 1).await;
    // The session stays quiet a while before the crash: its end is when it was last heard of.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let crashed_at = chrono::Utc::now();
    // SIGKILL while the session is open: no end event, no archive.
    hoop.restart().await;
    drop(client);
    hoop.wait_archived_and_digested(1).await;

    let stored = manifests(&root);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].end_state, hoop::archive::EndState::Terminated);
    // Dated by its last durable event, not by the restart that closed it; the recording says
    // the end was inferred and when recovery noticed.
    let ended = stored[0].ended_at().unwrap();
    assert!(
        ended < crashed_at - chrono::TimeDelta::seconds(1),
        "ended_at {ended} is the restart's time, not the last event's (crash at {crashed_at})"
    );
    let events = &sealed_archives(&root)[0];
    let terminated = events
        .iter()
        .find(|e| e["kind"] == "terminated")
        .expect("a terminated event");
    let noticed: chrono::DateTime<chrono::Utc> =
        terminated["noticed_at"].as_str().unwrap().parse().unwrap();
    assert!(noticed >= crashed_at, "{terminated}");
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "session_end");
    assert_eq!(last["ts"], terminated["ts"], "{last}");
    let client = hoop.db.client().await;
    let row = client
        .query_one(
            "SELECT s.state, s.archive_state, a.end_state FROM hoop_sessions s
             JOIN hoop_archives a ON a.session_id = s.id::text",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "terminated");
    assert_eq!(row.get::<_, String>(1), "stored");
    assert_eq!(row.get::<_, String>(2), "terminated");
    let report = verify_folder(&root, &keys.ring, &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
    // The digest chain went on across the restart: no gap, no second chain.
    assert!(report.digests >= 2, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_hoop_cannot_write_stops_the_start_with_the_reason() {
    let scratch = ScratchDir::new();
    let db = TestDb::create().await;
    let keys = keys(&scratch.0);
    // A folder below a regular file cannot be created, even by root.
    let blocker = scratch.write("not-a-folder", "");
    let section = folder_archive(&blocker.join("archive"), &keys.private, "");
    let config = scratch.write(
        "hoop.toml",
        &minimal_config(&scratch.0.join("spool"), &section),
    );
    let log = scratch.0.join("hoop.log");
    let url = db.url();
    let (status, output) = run_to_exit(
        hoop_command(
            &["serve", "--config", &config.display().to_string()],
            &[(STATE_URL_VAR, &url)],
            &log,
        ),
        &log,
        "hoop serve with an unusable archive store",
    )
    .await;
    assert!(!status.success(), "hoop serve must not start: {output}");
    assert!(
        output.contains("archive store") && output.contains("not-a-folder"),
        "the error names the store: {output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_below_a_year_is_refused_unless_declared_non_pci() {
    let scratch = ScratchDir::new();
    let keys = keys(&scratch.0);
    let root = scratch.0.join("archive");
    for (extra, accepted) in [
        ("retention_days = 30", false),
        ("retention_days = 30\nnon_pci_short_retention = true", true),
        ("retention_days = 365", true),
    ] {
        let section = folder_archive(&root, &keys.private, extra);
        let config = scratch.write(
            "check.toml",
            &minimal_config(&scratch.0.join("spool"), &section),
        );
        let log = scratch.0.join("check.log");
        let (status, output) = run_to_exit(
            hoop_command(
                &["config", "check", "--config", &config.display().to_string()],
                &[(STATE_URL_VAR, "postgres://127.0.0.1/unused")],
                &log,
            ),
            &log,
            "hoop config check",
        )
        .await;
        assert_eq!(status.success(), accepted, "{extra}: {output}");
        if !accepted {
            assert!(output.contains("PCI DSS 10.5.1"), "{output}");
        }
    }
}

/// A configuration with no issuer and no connection: enough to start, or to fail starting.
fn minimal_config(spool: &Path, archive: &str) -> String {
    format!(
        r#"[server]
state_database_url = {{ env = "{STATE_URL_VAR}" }}
secret_key = "0123456789abcdef0123456789abcdef"
api_listen = "127.0.0.1:0"
gateway_listen = "127.0.0.1:0"

[gateway]
spool_dir = {spool:?}

{archive}"#,
        spool = spool.display().to_string()
    )
}

/// An auditor token and its `[[archive.auditors]]` entry, as `hoop archive auditor-token
/// --name` prints them.
async fn auditor(name: &str, dir: &Path) -> (String, String) {
    let log = dir.join("auditor-token.log");
    let _ = std::fs::remove_file(&log);
    let (status, output) = run_to_exit(
        hoop_command(&["archive", "auditor-token", "--name", name], &[], &log),
        &log,
        "hoop archive auditor-token",
    )
    .await;
    assert!(status.success(), "{output}");
    let token = output
        .split_whitespace()
        .find(|w| w.starts_with("hoopaud_"))
        .unwrap_or_else(|| panic!("no token in {output}"))
        .to_owned();
    let entry = &output[output.find("[[archive.auditors]]").expect(&output)..];
    (token, entry.to_owned())
}

#[tokio::test]
async fn the_auditor_token_command_needs_a_valid_name() {
    let scratch = ScratchDir::new();
    let (token, entry) = auditor("QSA \"external\"", &scratch.0).await;
    assert_eq!(token.len(), "hoopaud_".len() + 64);
    assert!(entry.contains("name = "), "{entry}");
    assert!(!entry.contains("..."), "the entry is complete: {entry}");
    for args in [
        &["archive", "auditor-token"][..],
        &["archive", "auditor-token", "--name", " "][..],
    ] {
        let log = scratch.0.join("refused.log");
        let _ = std::fs::remove_file(&log);
        let (status, output) = run_to_exit(hoop_command(args, &[], &log), &log, "refused").await;
        assert!(!status.success(), "{args:?}: {output}");
        assert!(output.contains("--name"), "{args:?}: {output}");
    }
}

/// A public key given as `archive.signing_key` is named, with its path, by `hoop config check`,
/// `hoop serve` and a reload.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_key_as_the_signing_key_is_named_by_check_serve_and_reload() {
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let generated = hoop::archive::generate().unwrap();
    let private = scratch.write("archive.pem", generated.private_pem.expose());
    let public = scratch.write("archive.pem.pub", &generated.public_file);
    let expected = format!(
        "archive.signing_key ({}): this is a public key",
        public.display()
    );
    let section = folder_archive(&root, &public, "");
    let config = scratch.write(
        "hoop.toml",
        &minimal_config(&scratch.0.join("spool"), &section),
    );
    for command in [&["config", "check"][..], &["serve"][..]] {
        let log = scratch.0.join("refused.log");
        let _ = std::fs::remove_file(&log);
        let mut args = command.to_vec();
        let path = config.display().to_string();
        args.extend(["--config", &path]);
        let db = TestDb::create().await;
        let url = db.url();
        let (status, output) = run_to_exit(
            hoop_command(&args, &[(STATE_URL_VAR, &url)], &log),
            &log,
            "hoop with a public signing key",
        )
        .await;
        assert!(!status.success(), "{command:?}: {output}");
        assert!(output.contains(&expected), "{command:?}: {output}");
        assert!(
            output.contains("give the private key file that `hoop keys generate` wrote"),
            "{command:?}: {output}"
        );
        assert!(
            output.contains(&private.display().to_string()),
            "{command:?}: {output}"
        );
    }

    // A running hoop whose key file is replaced by the public key refuses the next reload.
    let key = scratch.write("running.pem", generated.private_pem.expose());
    let hoop = start_with_archive(folder_archive(&root, &key, "")).await;
    std::fs::write(&key, &generated.public_file).unwrap();
    let (_, entry) = auditor("qsa", &scratch.0).await;
    std::fs::write(
        hoop.config_path(),
        hoop.config_text(&folder_archive(&root, &key, &entry)),
    )
    .unwrap();
    let log = scratch.0.join("reload.log");
    let (status, output) = run_to_exit(
        hoop_command(
            &[
                "reload",
                "--config",
                &hoop.config_path().display().to_string(),
            ],
            &[],
            &log,
        ),
        &log,
        "hoop reload",
    )
    .await;
    assert!(!status.success(), "{output}");
    assert!(
        output.contains(&format!(
            "archive.signing_key ({}): this is a public key",
            key.display()
        )),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auditors_list_and_download_the_stored_objects_through_the_api() {
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let keys = keys(&scratch.0);
    let (token, entry) = auditor("qsa", &scratch.0).await;
    let hoop = start_with_archive(folder_archive(&root, &keys.private, &entry)).await;
    let credential = hoop.issue(&hoop.github_token(6103)).await;
    let out = hoop.psql(&credential, &["-c", "SELECT 'audited'"]);
    assert!(out.status.success(), "psql: {}", stdout_of(&out));
    hoop.wait_archived_and_digested(1).await;

    let http = reqwest::Client::new();
    let get = |path: String, token: Option<&str>| {
        let mut request = http.get(format!("{}{path}", hoop.api));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    // No token, and a token that is not an auditor's: refused, and audited.
    for t in [None, Some("hoopaud_not-a-real-token")] {
        let reply = get("/v1/archives".into(), t).await.unwrap();
        assert_eq!(reply.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    assert_eq!(hoop.db.audit_events("missing_token").await.len(), 1);
    assert_eq!(hoop.db.audit_events("unknown_auditor").await.len(), 1);

    let listed: serde_json::Value = get("/v1/archives?run_id=6103".into(), Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let archives = listed["archives"].as_array().unwrap();
    assert_eq!(archives.len(), 1, "{listed}");
    let none: serde_json::Value = get("/v1/archives?run_id=1".into(), Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none["archives"].as_array().unwrap().is_empty());

    let session = archives[0]["session_id"].as_str().unwrap();
    let shown: serde_json::Value = get(format!("/v1/archives/{session}"), Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["manifest"]["session_id"], session);
    assert_eq!(shown["manifest"]["identity"]["run_id"], "6103");

    // Every object comes back byte for byte as the store holds it.
    for prefix in ["sessions/", "digests/"] {
        let objects: serde_json::Value =
            get(format!("/v1/archive/objects?prefix={prefix}"), Some(&token))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let objects = objects["objects"].as_array().unwrap();
        assert!(!objects.is_empty(), "objects under {prefix}");
        for o in objects {
            let key = o["key"].as_str().unwrap();
            let reply = get(format!("/v1/archive/objects/{key}"), Some(&token))
                .await
                .unwrap();
            assert_eq!(reply.status(), reqwest::StatusCode::OK, "{key}");
            let body = reply.bytes().await.unwrap();
            let on_disk = std::fs::read(root.join(key)).unwrap();
            assert_eq!(body.as_ref(), on_disk.as_slice(), "{key}");
        }
    }
    let outside = get("/v1/archive/objects?prefix=../".into(), Some(&token))
        .await
        .unwrap();
    assert_eq!(outside.status(), reqwest::StatusCode::BAD_REQUEST);
    let reads = hoop.db.audit_events("archive_read").await;
    assert!(reads.len() >= 4, "every read is audited");
}

/// SIGTERM: the drain ends the session, its recording is sealed, stored and digested, and
/// only then does the process exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_by_the_drain_is_archived_before_the_process_exits() {
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let keys = keys(&scratch.0);
    let mut hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(folder_archive(&root, &keys.private, "")),
            drain_timeout: Some("1s"),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let credential = hoop.issue(&hoop.github_token(6103)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    client
        .simple_query("SELECT 'before the stop'")
        .await
        .unwrap();
    hoop.signal("TERM");
    let status = hoop.wait_exit().await;
    assert!(status.success(), "{status:?}:\n{}", hoop.log());
    drop(client);

    let stored = manifests(&root);
    assert_eq!(stored.len(), 1, "archived before the exit");
    assert_eq!(stored[0].end_state, hoop::archive::EndState::Ended);
    let report = verify_folder(&root, &keys.ring, &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
    assert!(
        hoop.recordings().is_empty(),
        "the spool copy is gone once stored"
    );
}

/// A session whose own close could not write the sessions index (the state database was
/// unreachable then) stayed `live` there for good, and was marked `terminated` at its replica's
/// next start. Archiving its recording closes it with what the recording says; a row its close
/// did end keeps what that close wrote.
#[tokio::test(flavor = "multi_thread")]
async fn archiving_a_recording_closes_a_session_the_index_still_shows_live() {
    use hoop::archive::{DigestEntry, ObjectKey, SessionId, Sha256};
    use hoop::state::archives::{RecordedEnd, StoredArchive, record_stored};
    use hoop::state::sessions::{self, NewSession, SessionEnd};

    let hoop = InProcessHoop::start("first-connect", |_| String::new(), &[]).await;
    let token = hoop.github.mint(&hoop.github.github_claims(
        AUDIENCE,
        REPOSITORY,
        REPOSITORY_ID,
        7301,
    ));
    let issued = hoop.exchange(&token).await;
    let mut client = hoop.broker.store().client().await.unwrap();
    let (unclosed, closed) = (SessionId::new_random(), SessionId::new_random());
    for id in [unclosed, closed] {
        let session = NewSession {
            id,
            credential_id: issued.id,
            username: issued.username.as_str(),
            connection: CONNECTION,
            database: &hoop.db.name,
            replica: "e2e",
            client_addr: None,
            tls: true,
            application: None,
            spool_path: "spool/session.jsonl",
        };
        sessions::insert_live(&client, &session).await.unwrap();
    }
    let own_close = SessionEnd {
        reason: "client terminated",
        statements: 3,
        errors: 0,
        events: 6,
        chain_head: "head-of-its-own-close",
        recording_bytes: 100,
    };
    sessions::finish(&client, closed, &own_close).await.unwrap();

    let ended_at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .to_utc();
    for id in [unclosed, closed] {
        let key = |ext: &str| ObjectKey::parse(&format!("sessions/2026/01/02/{id}.{ext}")).unwrap();
        let archive = StoredArchive {
            entry: DigestEntry {
                session_id: id,
                manifest_key: key("manifest.json"),
                manifest_sha256: Sha256::of(b"manifest"),
                recording_key: key("jsonl.zst"),
                object_sha256: Sha256::of(b"object"),
                content_sha256: Sha256::of(b"content"),
            },
            replica: "e2e".into(),
            store: "file:///evidence".into(),
            end_state: "ended".into(),
            run_id: Some("7301".into()),
            repository: Some(REPOSITORY.into()),
            connection: Some(CONNECTION.into()),
            started_at: None,
            ended_at: Some(ended_at),
            sealed_at: ended_at,
            retain_until: ended_at,
            end: RecordedEnd {
                reason: "client terminated".into(),
                statements: 7,
                errors: 1,
                events: 12,
                chain_head: "head-of-the-recording".into(),
                recording_bytes: 999,
            },
        };
        record_stored(&mut client, &archive).await.unwrap();
    }

    let row = |id: SessionId| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT state, archive_state, end_reason, statements, errors, events,
                         chain_head, recording_bytes, ended_at
                     FROM hoop_sessions WHERE id = $1",
                    &[&id.as_uuid()],
                )
                .await
                .unwrap()
        }
    };
    let r = row(unclosed).await;
    assert_eq!(r.get::<_, String>(0), "ended");
    assert_eq!(r.get::<_, String>(1), "stored");
    assert_eq!(r.get::<_, String>(2), "client terminated");
    assert_eq!(
        (r.get::<_, i64>(3), r.get::<_, i64>(4), r.get::<_, i64>(5)),
        (7, 1, 12)
    );
    assert_eq!(r.get::<_, String>(6), "head-of-the-recording");
    assert_eq!(r.get::<_, i64>(7), 999);
    assert_eq!(r.get::<_, chrono::DateTime<chrono::Utc>>(8), ended_at);
    let r = row(closed).await;
    assert_eq!(r.get::<_, String>(0), "ended");
    assert_eq!(r.get::<_, String>(1), "stored");
    assert_eq!(r.get::<_, i64>(3), 3, "its own close's figures are kept");
    assert_eq!(r.get::<_, String>(6), "head-of-its-own-close");
}

/// Every audit event id in the segments under `root`.
fn sealed_event_ids(root: &Path) -> std::collections::BTreeSet<i64> {
    files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/audit/"))
        .flat_map(|p| {
            let segment = hoop::archive::AuditSegment::parse(&std::fs::read(&p).unwrap()).unwrap();
            segment.events.into_iter().map(|e| e.id)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_is_sealed_into_the_store_and_a_month_leaves_the_database_only_once_stored()
{
    let scratch = ScratchDir::new();
    let root = scratch.0.join("archive");
    let keys = keys(&scratch.0);
    let hoop = start_with_archive(folder_archive(&root, &keys.private, "")).await;
    let client = hoop.db.client().await;
    // A month past the window the database keeps: one event, in its own partition.
    client
        .batch_execute("SELECT hoop_audit_partition_ensure(now() - interval '4 months')")
        .await
        .unwrap();
    let old: i64 = client
        .query_one(
            "INSERT INTO hoop_audit_events (at, replica, action, outcome, code, message)
             VALUES (now() - interval '4 months', 'e2e', 'exchange', 'denied', 'old_refusal',
                     'an exchange refused four months ago')
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let old_partition: String = client
        .query_one(
            "SELECT 'hoop_audit_events_' || to_char(now() - interval '4 months', 'YYYY_MM')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // This run's events: an exchange.
    let _credential = hoop.issue(&hoop.github_token(6110)).await;
    // Every event gets sealed into a segment the store holds, and the old month goes.
    wait_until("every audit event sealed", || async {
        let row = client
            .query_one(
                "SELECT count(*) FROM hoop_audit_events WHERE segment_key IS NULL AND code <> 'audit_partition_dropped'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == 0
    })
    .await;
    wait_until("the old month dropped", || async {
        !hoop
            .db
            .audit_events("audit_partition_dropped")
            .await
            .is_empty()
    })
    .await;
    let gone: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&old_partition])
        .await
        .unwrap()
        .get(0);
    assert_eq!(gone, None, "{old_partition} is dropped");
    wait_digests_stored(&hoop, 3).await;

    // The store holds every event the database sealed, the dropped one too.
    let sealed = sealed_event_ids(&root);
    assert!(
        sealed.contains(&old),
        "the old event is in the store: {sealed:?}"
    );
    let in_database: Vec<i64> = client
        .query(
            "SELECT id FROM hoop_audit_events WHERE segment_key IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!in_database.is_empty());
    for id in &in_database {
        assert!(
            sealed.contains(id),
            "event {id} is sealed but not in the store"
        );
    }
    let exchange: i64 = client
        .query_one(
            "SELECT id FROM hoop_audit_events WHERE action = 'exchange' AND outcome = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(sealed.contains(&exchange));
    let report = verify_folder(&root, &keys.ring, &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{report}");
    assert!(report.audit_events >= 2, "{report}");
    // The auditor reads the trail from the store, verified first.
    let public = scratch.write("archive.pub", &keys.public_file);
    let log = scratch.0.join("events.log");
    let (status, output) = run_to_exit(
        hoop_command(
            &[
                "archive",
                "verify",
                "--folder",
                &root.display().to_string(),
                "--public-key",
                &public.display().to_string(),
                "--events",
            ],
            &[],
            &log,
        ),
        &log,
        "hoop archive verify --events",
    )
    .await;
    assert!(status.success(), "{output}");
    assert!(
        output.contains("an exchange refused four months ago"),
        "{output}"
    );
    assert!(output.contains("exchange  success"), "{output}");
    assert!(output.contains("CLAIMS"), "{output}");

    // Still append-only: sealing is the one change, and only once.
    for statement in [
        "UPDATE hoop_audit_events SET message = 'rewritten' WHERE id = $1",
        "UPDATE hoop_audit_events SET segment_key = 'audit/elsewhere.json' WHERE id = $1",
        "DELETE FROM hoop_audit_events WHERE id = $1",
    ] {
        let refused = client.execute(statement, &[&exchange]).await.unwrap_err();
        assert!(
            refused.to_string().contains("append-only")
                || format!("{refused:?}").contains("append-only"),
            "{statement}: {refused:?}"
        );
    }

    // A tampered segment in the store is caught: the one holding the exchange (segments seal
    // what came in their window; the others may hold only later events).
    let segment = files_under(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/audit/"))
        .find(|p| {
            std::fs::read_to_string(p).is_ok_and(|text| text.contains("\"action\": \"exchange\""))
        })
        .expect("a segment holds the exchange");
    let mut perms = std::fs::metadata(&segment).unwrap().permissions();
    perms.set_mode(0o600);
    std::fs::set_permissions(&segment, perms).unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let tampered = text.replacen("\"action\": \"exchange\"", "\"action\": \"exchangf\"", 1);
    assert_ne!(tampered, text);
    std::fs::write(&segment, tampered).unwrap();
    let report = verify_folder(&root, &keys.ring, &VerifyOptions::default()).unwrap();
    assert!(!report.ok(), "{report}");
}
