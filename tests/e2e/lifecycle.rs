//! A server's life around its sessions: the drain before a stop (SIGTERM) and the reload of
//! its rules (`hoop reload`, SIGHUP), on the real binary with real sessions.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client};

use crate::support::*;

/// A gateway session whose notices arrive on a channel (the harness's own sessions drop them).
async fn session_with_notices(
    hoop: &Hoop,
    credential: &Credential,
) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (client, mut connection) = hoop
        .gateway_config(credential)
        .connect(gateway_tls())
        .await
        .expect("a gateway session");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => {
                    let _ = tx.send(format!("{}: {}", notice.severity(), notice.message()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (client, rx)
}

/// Waits (bounded) for a notice that contains `needle`.
async fn notice_containing(notices: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(notice) = notices.recv().await {
            if notice.contains(needle) {
                return Some(notice);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(notice)) => notice,
        _ => panic!("no notice containing {needle:?} arrived"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_live_sessions_then_exits_cleanly() {
    let mut hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            drain_timeout: Some("3s"),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let credential = hoop.issue(&hoop.github_token(31_001)).await;
    let (session, mut notices) = session_with_notices(&hoop, &credential).await;
    session.simple_query("SELECT 1").await.unwrap();
    assert_eq!(hoop.get("/readyz").await.status, StatusCode::OK);

    hoop.signal("TERM");
    // Readiness goes false at once, while the API still answers (approvals, revocations).
    wait_until("readiness to report the drain", || async {
        hoop.get("/readyz").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let reply = hoop.get("/readyz").await;
    assert_eq!(reply.body["error"]["code"], "draining", "{:?}", reply.body);
    // The live session is told, and goes on until the drain ends.
    let notice = notice_containing(&mut notices, "shutting down").await;
    assert!(notice.starts_with("WARNING"), "{notice}");
    assert!(notice.contains("at most"), "{notice}");
    session
        .simple_query("SELECT 2")
        .await
        .expect("a live session keeps working during the drain");
    // No new session: the listener is closed.
    let refused = hoop.connect_gateway(&credential).await;
    assert!(
        refused.is_err(),
        "a new session was admitted during the drain"
    );

    // At drain_timeout the session ends with FATAL 57P01.
    wait_until("the drain to end the session", || async {
        session.is_closed() || session.simple_query("SELECT 3").await.is_err()
    })
    .await;
    let status = hoop.wait_exit().await;
    assert!(
        status.success(),
        "hoop exited with {status:?}:\n{}",
        hoop.log()
    );
    let (state, reason): (String, String) = {
        let row = hoop
            .db
            .client()
            .await
            .query_one(
                "SELECT state, coalesce(end_reason, '') FROM hoop_sessions",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(state, "ended");
    assert!(reason.contains("shutdown"), "{reason}");
    let recording = std::fs::read_to_string(hoop.recordings().last().unwrap()).unwrap();
    let last = recording.lines().last().unwrap();
    assert!(
        last.contains("session_end") && last.contains("gateway shutdown"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_no_session_exits_at_once() {
    let mut hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            drain_timeout: Some("60s"),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    hoop.signal("TERM");
    let status = hoop.wait_exit().await;
    assert!(status.success(), "{status:?}:\n{}", hoop.log());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an idle gateway does not wait out its drain timeout"
    );
}

/// `hoop reload --config FILE` with the test's database environment.
async fn reload(hoop: &Hoop) -> (bool, String) {
    let log = hoop.config_path().with_file_name("reload.log");
    let _ = std::fs::remove_file(&log);
    let config = hoop.config_path().display().to_string();
    let (status, _) = run_to_exit(
        hoop_command(&["reload", "--config", &config], &[], &log),
        &log,
        "hoop reload",
    )
    .await;
    (status.success(), std::fs::read_to_string(&log).unwrap())
}

const DENY_WIDGETS: &str = r#"
[[rules]]
id = "no-widgets"
action = "deny"
tables = ["widgets"]
reason = "widgets are off limits"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_rules_of_live_sessions_and_a_bad_file_changes_nothing() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(32_001)).await;
    let session = hoop.connect_gateway(&credential).await.unwrap();
    let read = format!("SELECT count(*) FROM {TABLE}");
    session.simple_query(&read).await.expect("allowed at first");

    // A stricter file: the live session's next statement is decided by it.
    let stricter = hoop.config_text(DENY_WIDGETS);
    std::fs::write(hoop.config_path(), &stricter).unwrap();
    let (ok, out) = reload(&hoop).await;
    assert!(ok, "{out}");
    let version = hoop::base::Sha256::of(stricter.as_bytes()).to_hex();
    assert!(
        out.contains(&format!("reloaded: configuration {version} in force")),
        "{out}"
    );
    let denied = session.simple_query(&read).await.unwrap_err();
    assert_eq!(denied.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let message = denied.as_db_error().unwrap().message();
    assert!(message.contains("no-widgets"), "{message}");
    // The same file again changes nothing.
    let (ok, out) = reload(&hoop).await;
    assert!(ok && out.contains("already in force"), "{out}");

    // A file that does not validate is refused as a whole; the rules in force stay.
    let broken = stricter.replace(r#"action = "deny""#, r#"action = "explode""#);
    std::fs::write(hoop.config_path(), &broken).unwrap();
    let (ok, out) = reload(&hoop).await;
    assert!(!ok, "a broken file was accepted: {out}");
    assert!(
        out.contains("explode"),
        "the refusal names the problem: {out}"
    );
    assert!(
        session.simple_query(&read).await.is_err(),
        "the stricter rules stay"
    );

    // A key only a restart applies is refused too, and named.
    let moved = stricter.replace(r#"reaper_interval = "1h""#, r#"reaper_interval = "2h""#);
    assert_ne!(moved, stricter);
    std::fs::write(hoop.config_path(), &moved).unwrap();
    let (ok, out) = reload(&hoop).await;
    assert!(!ok && out.contains("server.reaper_interval"), "{out}");

    // SIGHUP reloads too: back to the permissive file.
    std::fs::write(hoop.config_path(), hoop.config_text("")).unwrap();
    hoop.signal("HUP");
    wait_until("SIGHUP to put the permissive rules back", || async {
        session.simple_query(&read).await.is_ok()
    })
    .await;

    // Every reload is audited with the file's digest.
    let audited: Vec<(String, String)> = hoop
        .db
        .client()
        .await
        .query(
            "SELECT code, message FROM hoop_audit_events WHERE action = 'config' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let codes: Vec<&str> = audited.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "config_loaded",
            "config_reloaded",
            "config_unchanged",
            "config_reload_refused",
            "config_reload_refused",
            "config_reloaded"
        ]
    );
    assert!(audited[1].1.contains(&version), "{:?}", audited[1]);
    assert!(audited[5].1.contains("SIGHUP"), "{:?}", audited[5]);

    // The recording names the configuration that decided each statement.
    drop(session);
    hoop.wait_sessions_ended(1).await;
    let recording = std::fs::read_to_string(hoop.recordings().last().unwrap()).unwrap();
    let kinds: Vec<serde_json::Value> = recording
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["kind"] == "policy" || e["kind"] == "statement")
        .collect();
    let policy_versions: Vec<&str> = kinds
        .iter()
        .filter(|e| e["kind"] == "policy")
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        policy_versions.len(),
        3,
        "start, stricter, permissive: {kinds:#?}"
    );
    assert_eq!(policy_versions[1], version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_who_may_exchange() {
    let hoop = Hoop::start(Options::default()).await;
    const OTHER: &str = "acme/reports";
    const OTHER_ID: u64 = 4004;
    let token = |run: u64| {
        hoop.github
            .mint(&hoop.github.github_claims(AUDIENCE, OTHER, OTHER_ID, run))
    };
    assert_eq!(hoop.exchange(&token(1)).await.status, StatusCode::FORBIDDEN);
    let trusted = format!(
        r#"
[[trust]]
name = "reports"
issuer = "github"
claims = {{ repository_id = {OTHER_ID}, ref = "refs/heads/main" }}
connections = ["{CONNECTION}"]
"#
    );
    std::fs::write(hoop.config_path(), hoop.config_text(&trusted)).unwrap();
    let (ok, out) = reload(&hoop).await;
    assert!(ok, "{out}");
    let reply = hoop.exchange(&token(2)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["trust_rule"], "reports");
}
