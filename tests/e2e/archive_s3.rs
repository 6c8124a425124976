//! WORM archives in S3 with Object Lock, end to end: the real `hoop serve` archives real gateway
//! sessions into a real S3 server (moto, on loopback, behind a proxy that can play an outage),
//! every object carries COMPLIANCE retention and cannot be deleted, an outage loses and
//! duplicates nothing, and the auditor's `hoop archive verify --store` passes on what is there.

use std::path::{Path, PathBuf};

use crate::support::leaks::{archive_events, assert_no_leak, without_links};
use crate::support::s3::S3Server;
use crate::support::*;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockConfiguration, ObjectLockEnabled, VersioningConfiguration,
};
use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;

const BUCKET: &str = "hoop-evidence";

struct Fixture {
    s3: S3Server,
    scratch: ScratchDir,
    public_key: PathBuf,
    hoop: Hoop,
}

/// moto with a locked bucket, and hoop archiving into it under `prod/`.
async fn start(extra: &str) -> Fixture {
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET, true).await;
    start_on(s3, extra).await
}

/// hoop archiving into `BUCKET` under `prod/` of `s3`, as the caller prepared it.
async fn start_on(s3: S3Server, extra: &str) -> Fixture {
    let scratch = ScratchDir::new();
    let generated = hoop::archive::generate().unwrap();
    let private = scratch.write("archive.key", generated.private_pem.expose());
    let public_key = scratch.write("archive.key.pub", &generated.public_file);
    let section = format!(
        "[archive]\nstore = \"s3://{BUCKET}/prod\"\nsigning_key = {{ file = {:?} }}\n\
         digest_period = \"1s\"\nalert_after = \"1s\"\nretry_max = \"500ms\"\n{extra}\n\
         [archive.s3]\n{}",
        private.display().to_string(),
        s3.settings_toml()
    );
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(section),
            ..GatewaySettings::default()
        },
        env: s3
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        ..Options::default()
    })
    .await;
    Fixture {
        s3,
        scratch,
        public_key,
        hoop,
    }
}

/// One short session through the gateway, waited for until it has ended.
async fn one_session(hoop: &Hoop, credential: &Credential, ended_before: i64) {
    let client = hoop.connect_gateway(credential).await.unwrap();
    client
        .simple_query("SELECT 'evidence', 'card 4111111111111111'")
        .await
        .unwrap();
    drop(client);
    hoop.wait_sessions_ended(ended_before + 1).await;
}

/// Every object version under the store's prefix: (key, version id).
async fn versions(s3: &S3Server) -> Vec<(String, String)> {
    let listed = s3
        .client()
        .list_object_versions()
        .bucket(BUCKET)
        .prefix("prod/")
        .send()
        .await
        .unwrap();
    assert!(
        listed.delete_markers().is_empty(),
        "no delete marker hides an archive"
    );
    listed
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_owned(),
                v.version_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The value of a metric without labels, from `/metrics`.
async fn metric(hoop: &Hoop, name: &str) -> i64 {
    let text = hoop.get("/metrics").await.text;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// `/readyz`'s status and error code (empty when ready).
async fn readiness(hoop: &Hoop) -> (StatusCode, String) {
    let reply = hoop.get("/readyz").await;
    let code = reply.body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply.status, code)
}

/// The messages of the audit events with `code`.
async fn audit_messages(hoop: &Hoop, code: &str) -> Vec<String> {
    hoop.db
        .audit_events(code)
        .await
        .iter()
        .map(|row| row.get::<_, String>("message"))
        .collect()
}

/// `hoop archive verify --store s3://...` with the pinned key; its exit code and output.
async fn verify_store(f: &Fixture) -> (std::process::ExitStatus, String) {
    verify_store_with(f, &format!("s3://{BUCKET}/prod"), &[]).await
}

/// `hoop archive verify --store <store> <extra>` with the pinned key; its exit code and output.
async fn verify_store_with(
    f: &Fixture,
    store: &str,
    extra: &[&str],
) -> (std::process::ExitStatus, String) {
    let log = f
        .scratch
        .0
        .join(format!("verify-{}.log", uuid::Uuid::new_v4()));
    let env = f.s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let public_key = f.public_key.display().to_string();
    let mut args = vec![
        "archive",
        "verify",
        "--store",
        store,
        "--public-key",
        &public_key,
        "--s3-path-style",
    ];
    args.extend_from_slice(extra);
    run_to_exit(
        hoop_command(&args, &env, &log),
        &log,
        "hoop archive verify --store",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_object_is_locked_in_compliance_mode_and_its_versions_cannot_be_deleted() {
    let f = start("").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7101)).await;
    for i in 0..2 {
        one_session(&f.hoop, &credential, i).await;
    }
    f.hoop.wait_archived_and_digested(2).await;
    let objects = versions(&f.s3).await;
    let sessions = objects
        .iter()
        .filter(|(k, _)| k.starts_with("prod/sessions/"))
        .count();
    assert_eq!(sessions, 4, "two objects per archive, one version each");
    assert!(
        objects
            .iter()
            .any(|(k, _)| k.starts_with("prod/digests/e2e/"))
    );
    let a_year = Utc::now() + TimeDelta::days(364);
    for (key, version) in &objects {
        let head =
            f.s3.client()
                .head_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
        let until = head.object_lock_retain_until_date().expect("retain-until");
        assert!(
            until.secs() > a_year.timestamp(),
            "{key} is retained a year"
        );
        let deleted =
            f.s3.client()
                .delete_object()
                .bucket(BUCKET)
                .key(key)
                .version_id(version)
                .send()
                .await;
        assert!(deleted.is_err(), "deleting {key} {version} must be refused");
    }
    assert_eq!(versions(&f.s3).await, objects, "nothing was deleted");
    // What is sealed is the masked recording: the statement's card number is not in it.
    let mut sealed = 0;
    for (key, _) in objects.iter().filter(|(k, _)| k.ends_with(".jsonl.zst")) {
        let object =
            f.s3.client()
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        let text = without_links(&archive_events(key, &bytes));
        assert!(
            String::from_utf8_lossy(&text).contains("'card 411111******1111'"),
            "{key}: {}",
            String::from_utf8_lossy(&text)
        );
        assert_no_leak(key, &text);
        sealed += 1;
    }
    assert_eq!(sealed, 2);
    let (status, output) = verify_store(&f).await;
    assert!(status.success(), "verify --store: {output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_during_50_sessions_loses_and_duplicates_nothing() {
    let f = start("").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7102)).await;
    f.s3.set_down(true);
    let outage_began = Utc::now();
    for i in 0..50 {
        one_session(&f.hoop, &credential, i).await;
    }
    let sessions_done = Utc::now();
    // Everything waits in the spool while the store is down; the outage is alerted.
    assert_eq!(f.hoop.recordings().len(), 50);
    wait_until("the outage alert", || async {
        !f.hoop.db.audit_events("store_unreachable").await.is_empty()
    })
    .await;
    f.s3.set_down(false);
    f.hoop.wait_archived_and_digested(50).await;
    wait_until("the spool to empty", || async {
        f.hoop.recordings().is_empty()
    })
    .await;
    let objects = versions(&f.s3).await;
    let mut keys: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("prod/sessions/"))
        .collect();
    assert_eq!(keys.len(), 100, "50 archives, two objects each");
    keys.dedup();
    assert_eq!(keys.len(), 100, "one version of each object");
    wait_until("the recovery to be audited", || async {
        !f.hoop.db.audit_events("store_recovered").await.is_empty()
    })
    .await;
    let (status, output) = verify_store(&f).await;
    assert!(status.success(), "verify --store: {output}");
    // The window of the outage alone: its archives were stored periods after they were
    // sealed, and the chain is followed to the digests that list them.
    let since = outage_began.to_rfc3339();
    let until = sessions_done.to_rfc3339();
    let window = ["--since", since.as_str(), "--until", until.as_str()];
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert!(
        status.success(),
        "verify --store of the outage's window: {output}"
    );
    assert!(output.contains("50 archives"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_sessions_are_refused_while_the_spool_is_over_its_limit() {
    let f = start("max_spool_bytes = 1").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7103)).await;
    f.s3.set_down(true);
    one_session(&f.hoop, &credential, 0).await;
    // The archiver measures the spool on its next attempt; readiness then says what the gateway
    // does. Waiting on readiness, not on a connection, opens no second session before it.
    wait_until("readiness to report a full spool", || async {
        readiness(&f.hoop).await == (StatusCode::SERVICE_UNAVAILABLE, "spool_full".to_owned())
    })
    .await;
    let Err(refused) = f.hoop.connect_gateway(&credential).await else {
        panic!("a session was accepted while the spool is full");
    };
    assert_eq!(
        refused.as_db_error().map(|d| d.code().code()),
        Some("53100"),
        "{refused}"
    );
    assert!(!f.hoop.db.audit_events("spool_full").await.is_empty());
    f.s3.set_down(false);
    f.hoop.wait_archived_and_digested(1).await;
    wait_until("sessions to be accepted again", || async {
        f.hoop.connect_gateway(&credential).await.is_ok()
    })
    .await;
    assert_eq!(readiness(&f.hoop).await, (StatusCode::OK, String::new()));
}

/// S3 does not answer when hoop starts: it starts anyway (API, gateway, crash recovery), records
/// into the spool, shows the outage, and archives once the store answers and passes its check.
#[tokio::test(flavor = "multi_thread")]
async fn hoop_starts_while_the_store_is_down_and_archives_once_it_answers() {
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET, true).await;
    s3.set_down(true);
    let f = start_on(s3, "").await;
    assert_eq!(readiness(&f.hoop).await, (StatusCode::OK, String::new()));
    let credential = f.hoop.issue(&f.hoop.github_token(7104)).await;
    one_session(&f.hoop, &credential, 0).await;
    assert_eq!(
        f.hoop.recordings().len(),
        1,
        "the session waits in the spool"
    );

    // The start is audited and logged with the store's bucket and endpoint.
    let started = audit_messages(&f.hoop, "store_unchecked").await;
    let store = format!("s3://{BUCKET}/prod at {}", f.s3.endpoint());
    assert!(
        started.len() == 1 && started[0].contains(&store),
        "{started:?}"
    );
    assert!(f.hoop.log().contains(&store), "{}", f.hoop.log());
    // The outage shows at once and is alerted after alert_after (1s).
    wait_until("the outage metric to move", || async {
        metric(&f.hoop, "hoop_archive_store_unreachable_seconds").await >= 2
    })
    .await;
    wait_until("the outage alert", || async {
        !f.hoop.db.audit_events("store_unreachable").await.is_empty()
    })
    .await;
    assert_eq!(audit_messages(&f.hoop, "store_checked").await.len(), 0);

    f.s3.set_down(false);
    f.hoop.wait_archived_and_digested(1).await;
    assert_eq!(audit_messages(&f.hoop, "store_checked").await.len(), 1);
    assert!(!f.hoop.db.audit_events("store_recovered").await.is_empty());
    assert_eq!(
        metric(&f.hoop, "hoop_archive_store_unreachable_seconds").await,
        0
    );
    let (status, output) = verify_store(&f).await;
    assert!(status.success(), "verify --store: {output}");
}

/// A store that was away at the start and then answers without Object Lock cannot stop the
/// running server: it fails closed by refusing new sessions (and readiness) until the bucket is
/// fixed, with the steps in the order S3 takes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_found_unusable_after_the_start_refuses_new_sessions_until_it_is_fixed() {
    let s3 = S3Server::start().await;
    // Neither versioning nor Object Lock.
    s3.client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.set_down(true);
    let f = start_on(s3, "").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7105)).await;
    one_session(&f.hoop, &credential, 0).await;

    f.s3.set_down(false);
    wait_until("readiness to report the unusable store", || async {
        readiness(&f.hoop).await
            == (
                StatusCode::SERVICE_UNAVAILABLE,
                "archive_store_unusable".to_owned(),
            )
    })
    .await;
    let refused = f.hoop.connect_gateway(&credential).await.unwrap_err();
    assert_eq!(
        refused.as_db_error().map(|d| d.code().code()),
        Some("58030"),
        "{refused}"
    );
    assert!(
        !f.hoop
            .db
            .audit_events("archive_store_unusable")
            .await
            .is_empty()
    );
    assert_eq!(metric(&f.hoop, "hoop_archive_store_unusable").await, 1);
    let unusable = audit_messages(&f.hoop, "store_unusable").await;
    assert_eq!(unusable.len(), 1, "alerted once: {unusable:?}");
    let fix = &unusable[0];
    let versioning = fix.find("put-bucket-versioning").expect(fix);
    let lock = fix.find("put-object-lock-configuration").expect(fix);
    assert!(versioning < lock, "{fix}");

    // The fix, in that order; the archiver checks again and the gateway admits sessions.
    f.s3.client()
        .put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    f.s3.client()
        .put_object_lock_configuration()
        .bucket(BUCKET)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_until("readiness after the fix", || async {
        readiness(&f.hoop).await.0 == StatusCode::OK
    })
    .await;
    assert_eq!(metric(&f.hoop, "hoop_archive_store_unusable").await, 0);
    one_session(&f.hoop, &credential, 1).await;
    f.hoop.wait_archived_and_digested(2).await;
    assert_eq!(audit_messages(&f.hoop, "store_checked").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_without_object_lock_stops_the_start_with_the_fix() {
    let s3 = S3Server::start().await;
    s3.create_bucket("plain", false).await;
    let scratch = ScratchDir::new();
    let db = TestDb::create().await;
    let generated = hoop::archive::generate().unwrap();
    let private = scratch.write("archive.key", generated.private_pem.expose());
    let config = scratch.write(
        "hoop.toml",
        &format!(
            "[server]\nstate_database_url = {{ env = \"{STATE_URL_VAR}\" }}\n\
             secret_key = \"0123456789abcdef0123456789abcdef\"\napi_listen = \"127.0.0.1:0\"\n\
             gateway_listen = \"127.0.0.1:0\"\n\n[gateway]\nspool_dir = {:?}\n\n\
             [archive]\nstore = \"s3://plain\"\nsigning_key = {{ file = {:?} }}\n\n\
             [archive.s3]\n{}",
            scratch.0.join("spool").display().to_string(),
            private.display().to_string(),
            s3.settings_toml()
        ),
    );
    let log = scratch.0.join("hoop.log");
    let url = db.url();
    let mut env: Vec<(&str, String)> = s3.env();
    env.push((STATE_URL_VAR, url));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, output) = run_to_exit(
        hoop_command(&["serve", "--config", &path(&config)], &env, &log),
        &log,
        "hoop serve on a bucket without Object Lock",
    )
    .await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("Object Lock"), "{output}");
    assert!(
        output.contains("object-lock-enabled-for-bucket"),
        "{output}"
    );
    assert!(
        output.contains(&format!("s3://plain at {}", s3.endpoint())),
        "the bucket and its endpoint are named: {output}"
    );
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The text of an object in the bucket.
async fn object_text(s3: &S3Server, key: &str) -> String {
    let object = s3
        .client()
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
}

/// Adds a delete marker on top of `key` (what anyone with `s3:DeleteObject` can do to a locked
/// object); returns the marker's version id.
async fn hide(s3: &S3Server, key: &str) -> String {
    let deleted = s3
        .client()
        .delete_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.delete_marker(), Some(true), "{key}");
    deleted.version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_hidden_by_delete_markers_fails_a_windowed_verify_with_the_restore_command() {
    let f = start("").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7104)).await;
    one_session(&f.hoop, &credential, 0).await;
    f.hoop.wait_archived_and_digested(1).await;
    // The archive, its end, and the digest that lists it.
    let listed =
        f.s3.client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("prod/")
            .send()
            .await
            .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    let manifest_key = keys
        .iter()
        .find(|k| k.ends_with(".manifest.json"))
        .unwrap()
        .clone();
    let manifest: serde_json::Value =
        serde_json::from_str(&object_text(&f.s3, &manifest_key).await).unwrap();
    let ended: chrono::DateTime<Utc> = manifest["ended_at"].as_str().unwrap().parse().unwrap();
    let relative = manifest_key.strip_prefix("prod/").unwrap();
    let mut digest_key = None;
    for key in keys.iter().filter(|k| k.starts_with("prod/digests/")) {
        if object_text(&f.s3, key).await.contains(relative) {
            digest_key = Some(key.clone());
        }
    }
    let digest_key = digest_key.expect("a digest lists the archive");
    // Two more digests after it, so the chain goes on past what gets hidden.
    wait_until("two digests after the archive's", || async {
        let listed =
            f.s3.client()
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix("prod/digests/")
                .send()
                .await
                .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| *k > digest_key.as_str())
            .count()
            >= 2
    })
    .await;
    let recording_key = manifest_key.replace(".manifest.json", ".jsonl.zst");
    let since = (ended - TimeDelta::seconds(1)).to_rfc3339();
    let until = (ended + TimeDelta::seconds(1)).to_rfc3339();
    let window = ["--since", since.as_str(), "--until", until.as_str()];
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert!(
        status.success(),
        "the window verifies before anything is hidden: {output}"
    );

    // Hide the digest and both objects of the archive, as a hostile run with s3:DeleteObject
    // would: the listing no longer shows them, the locked versions stay.
    let mut markers = Vec::new();
    for key in [&digest_key, &manifest_key, &recording_key] {
        markers.push((key.clone(), hide(&f.s3, key).await));
    }
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert_eq!(status.code(), Some(1), "{output}");
    for (key, marker) in &markers {
        let relative = key.strip_prefix("prod/").unwrap();
        assert!(
            output.contains(&format!(
                "HIDDEN       {relative}: a delete marker ({marker}) hides the original"
            )),
            "{key}: {output}"
        );
        assert!(
            output.contains(&format!(
                "aws s3api delete-object --bucket {BUCKET} --key {key} --version-id {marker}"
            )),
            "{key}: {output}"
        );
    }
    assert!(
        output.contains("GAP"),
        "the chain shows the hidden digest: {output}"
    );
    assert!(!output.contains(": ok"), "{output}");
    // The whole store says the same.
    let (status, output) = verify_store(&f).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains("HIDDEN"), "{output}");

    // Removing the markers, as the printed command does, restores the evidence.
    for (key, marker) in &markers {
        f.s3.client()
            .delete_object()
            .bucket(BUCKET)
            .key(key)
            .version_id(marker)
            .send()
            .await
            .unwrap();
    }
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert!(status.success(), "restored: {output}");

    // A new version put over the recording (what s3:PutObject without If-None-Match does on a
    // versioned bucket): reads return it, the locked original stays, and verify says both.
    f.s3.client()
        .put_object()
        .bucket(BUCKET)
        .key(&recording_key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"not the recording",
        ))
        .send()
        .await
        .unwrap();
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert_eq!(status.code(), Some(1), "{output}");
    let relative = recording_key.strip_prefix("prod/").unwrap();
    assert!(
        output.contains(&format!(
            "HIDDEN       {relative}: 1 newer versions put over the original"
        )),
        "{output}"
    );
    assert!(output.contains("MODIFIED"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_prefix_or_an_empty_window_is_a_problem_and_store_and_folder_agree() {
    let f = start("").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7105)).await;
    one_session(&f.hoop, &credential, 0).await;
    f.hoop.wait_archived_and_digested(1).await;
    // A prefix that holds nothing.
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prd"), &[]).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains("UNCOVERED"), "{output}");
    assert!(output.contains("no archive and no digest"), "{output}");
    // A window years before the store existed: nothing covers it.
    let window = ["--since", "2020-01-01", "--until", "2020-01-02"];
    let (status, output) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("UNCOVERED    2020-01-01T00:00:00Z to 2020-01-03T00:00:00Z"),
        "{output}"
    );

    // The last minute, from the store and from a download of it: the same selection.
    let since = (Utc::now() - TimeDelta::minutes(1)).to_rfc3339();
    let until = Utc::now().to_rfc3339();
    let window = [
        "--since",
        since.as_str(),
        "--until",
        until.as_str(),
        "--no-clock",
    ];
    let (status, from_store) = verify_store_with(&f, &format!("s3://{BUCKET}/prod"), &window).await;
    assert!(status.success(), "{from_store}");
    let folder = f.scratch.0.join("download");
    let env = f.s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = f.scratch.0.join("download.log");
    let (status, output) = run_to_exit(
        hoop_command(
            &[
                "archive",
                "download",
                "--store",
                &format!("s3://{BUCKET}/prod"),
                "--s3-path-style",
                "--into",
                &path(&folder),
                "--since",
                &since,
                "--until",
                &until,
            ],
            &env,
            &log,
        ),
        &log,
        "hoop archive download",
    )
    .await;
    assert!(status.success(), "{output}");
    let log = f.scratch.0.join("verify-folder.log");
    let public_key = path(&f.public_key);
    let (status, from_folder) = run_to_exit(
        hoop_command(
            &[
                "archive",
                "verify",
                "--folder",
                &path(&folder),
                "--public-key",
                &public_key,
                "--since",
                &since,
                "--until",
                &until,
                "--no-clock",
            ],
            &env,
            &log,
        ),
        &log,
        "hoop archive verify --folder",
    )
    .await;
    assert!(status.success(), "{from_folder}");
    let summary = |text: &str| {
        text.lines()
            .find(|l| l.contains(" archives, ") && l.contains(" digests: "))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(!summary(&from_store).is_empty(), "{from_store}");
    assert_eq!(
        summary(&from_store),
        summary(&from_folder),
        "{from_store}\n{from_folder}"
    );
}
