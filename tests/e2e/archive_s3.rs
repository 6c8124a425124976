//! WORM archives in S3 with Object Lock, end to end: the real `hoop serve` archives real gateway
//! sessions into a real S3 server (moto, on loopback, behind a proxy that can play an outage),
//! every object carries COMPLIANCE retention and cannot be deleted, an outage loses and
//! duplicates nothing, and the auditor's `hoop archive verify --store` passes on what is there.

use std::path::{Path, PathBuf};

use crate::support::leaks::{archive_events, assert_no_leak, without_links};
use crate::support::s3::S3Server;
use crate::support::*;
use chrono::{TimeDelta, Utc};

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

/// `hoop archive verify --store s3://...` with the pinned key; its exit code and output.
async fn verify_store(f: &Fixture) -> (std::process::ExitStatus, String) {
    let log = f.scratch.0.join("verify.log");
    let env = f.s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_to_exit(
        hoop_command(
            &[
                "archive",
                "verify",
                "--store",
                &format!("s3://{BUCKET}/prod"),
                "--public-key",
                &f.public_key.display().to_string(),
                "--s3-path-style",
            ],
            &env,
            &log,
        ),
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
    for i in 0..50 {
        one_session(&f.hoop, &credential, i).await;
    }
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
}

#[tokio::test(flavor = "multi_thread")]
async fn new_sessions_are_refused_while_the_spool_is_over_its_limit() {
    let f = start("max_spool_bytes = 1").await;
    let credential = f.hoop.issue(&f.hoop.github_token(7103)).await;
    f.s3.set_down(true);
    one_session(&f.hoop, &credential, 0).await;
    // The archiver measures the spool on its next attempt: then the gateway refuses.
    wait_until("a refusal for a full spool", || async {
        match f.hoop.connect_gateway(&credential).await {
            Ok(_) => false,
            Err(e) => e.as_db_error().is_some_and(|d| d.code().code() == "53100"),
        }
    })
    .await;
    assert!(!f.hoop.db.audit_events("spool_full").await.is_empty());
    f.s3.set_down(false);
    f.hoop.wait_archived_and_digested(1).await;
    wait_until("sessions to be accepted again", || async {
        f.hoop.connect_gateway(&credential).await.is_ok()
    })
    .await;
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
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
