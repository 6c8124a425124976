//! The token exchange end to end: the real `hoop serve` process, real tokens from a demo OIDC
//! issuer, real Postgres roles.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_gets_a_run_scoped_role_and_nothing_secret_is_kept() {
    let hoop = Hoop::start(Options::default()).await;
    let token = hoop.github_token(4242);
    // hoop counts the TTL from the whole second of the exchange.
    let second = |t: chrono::DateTime<chrono::Utc>| {
        chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap()
    };
    let before = second(chrono::Utc::now());
    let reply = hoop.exchange(&token).await;
    let after = second(chrono::Utc::now());
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let credential = Credential::from_body(&reply.body);
    let body = &reply.body;

    let prefix = "run-4242-1-";
    let suffix = credential.username.strip_prefix(prefix).unwrap_or("");
    assert!(
        suffix.len() == 6
            && suffix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "username {:?} is not {prefix}<6 chars>",
        credential.username
    );
    assert_eq!(credential.password.len(), 43);
    assert_eq!(body["host"], "db.hoop.test");
    assert_eq!(body["port"], 7432);
    assert_eq!(body["database"], json!(hoop.db.name));
    assert_eq!(body["sslmode"], "disable");
    assert_eq!(
        reply.field("database_url"),
        format!(
            "postgres://{}:{}@db.hoop.test:7432/{}?sslmode=disable",
            credential.username, credential.password, hoop.db.name
        )
    );
    assert_eq!(body["trust_rule"], MAIN_RULE);
    assert_eq!(body["run"]["provider"], "github");
    assert_eq!(body["run"]["repository"], REPOSITORY);
    assert_eq!(body["run"]["run_id"], "4242");
    assert_eq!(body["run"]["attempt"], 1);
    let ttl = chrono::TimeDelta::minutes(10);
    assert!(
        before + ttl <= credential.expires_at && credential.expires_at <= after + ttl,
        "expires_at {} is not 10 minutes after the exchange ({before} to {after})",
        credential.expires_at
    );

    // The upstream role: expiry, session limit, parent, and a verifier of the derived password.
    let admin = hoop.db.client().await;
    let role = admin
        .query_one(
            "SELECT rolvaliduntil, rolconnlimit, rolcanlogin, rolsuper, rolcreaterole
             FROM pg_roles WHERE rolname = $1",
            &[&credential.username],
        )
        .await
        .expect("the run role exists upstream");
    assert_eq!(
        role.get::<_, chrono::DateTime<chrono::Utc>>(0),
        credential.expires_at
    );
    assert_eq!(role.get::<_, i32>(1), MAX_SESSIONS as i32);
    assert!(role.get::<_, bool>(2) && !role.get::<_, bool>(3) && !role.get::<_, bool>(4));
    assert_eq!(hoop.db.run_roles().await, vec![credential.username.clone()]);
    let upstream_verifier = hoop.db.role_verifier(&credential.username).await;
    assert!(upstream_verifier.verify_password(&hoop.role_password(&credential.username)));
    assert!(
        !upstream_verifier.verify_password(&credential.password),
        "the client password must not log in upstream directly"
    );

    // The role has the parent's privileges and no more.
    let session = hoop.connect_as(&credential).await.unwrap();
    let who: String = session
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, credential.username);
    let count: i64 = session
        .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
    let insert = session
        .execute(&format!("INSERT INTO {TABLE} VALUES (4, 'bolt')"), &[])
        .await
        .expect_err("the run role must not write");
    assert_eq!(insert.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));

    // hoop keeps a verifier of the client password, and the password itself nowhere.
    let stored: String = admin
        .query_one(
            "SELECT scram_verifier FROM hoop_credentials WHERE id = $1::text::uuid",
            &[&credential.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        hoop::credentials::ScramVerifier::parse(&stored)
            .unwrap()
            .verify_password(&credential.password)
    );
    let role_password = hoop.role_password(&credential.username);
    for table in ["hoop_credentials", "hoop_audit_events"] {
        let text = hoop.db.table_text(table).await;
        assert!(!text.contains(&credential.password), "password in {table}");
        assert!(!text.contains(&role_password), "role password in {table}");
    }
    let log = hoop.log();
    assert!(
        log.contains(&credential.username),
        "the log does not show the issuance, so searching it proves nothing"
    );
    // A log written to a file is plain text, and its audit lines name values as they are.
    assert!(
        !log.contains('\u{1b}'),
        "terminal escapes in a redirected log"
    );
    let audit = log
        .lines()
        .find(|l| l.contains("hoop::audit") && l.contains("issued"))
        .unwrap_or_else(|| panic!("no audit line for the issuance:\n{log}"));
    assert!(
        audit.contains("remote_addr=127.0.0.1") && !audit.contains("Some("),
        "{audit}"
    );
    for (what, secret) in [
        ("client password", credential.password.as_str()),
        ("role password", &role_password),
        ("secret key", &hoop.secret_key),
        ("database URL password", &hoop.db.url_password),
    ] {
        assert!(!log.contains(secret), "the {what} is in the process log");
    }

    let issued = hoop.db.audit_events("issued").await;
    assert_eq!(issued.len(), 1);
    let event = &issued[0];
    assert_eq!(event.get::<_, String>("action"), "exchange");
    assert_eq!(event.get::<_, String>("outcome"), "success");
    assert_eq!(
        event.get::<_, Option<String>>("trust_rule").as_deref(),
        Some(MAIN_RULE)
    );
    assert!(event.get::<_, bool>("claims_verified"));
    assert_eq!(
        event
            .get::<_, Option<uuid::Uuid>>("credential_id")
            .map(|u| u.to_string()),
        Some(credential.id.clone())
    );
    assert_eq!(event.get::<_, String>("replica"), "e2e");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_with_the_password_drops_the_role_idempotently() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(5001)).await;
    hoop.connect_as(&credential)
        .await
        .expect("the role logs in before revocation");

    for attempt in ["first", "second"] {
        let reply = hoop
            .revoke_with_password(&credential.id, &credential.username, &credential.password)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{attempt} revoke: {:?}",
            reply.body
        );
    }
    assert!(!hoop.db.role_exists(&credential.username).await);
    let refused = hoop
        .connect_as(&credential)
        .await
        .expect_err("the role is gone");
    assert_eq!(
        refused.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    );
    assert_eq!(hoop.db.credential_state(&credential.id).await, "revoked");

    let revoked = hoop.db.audit_events("revoked").await;
    assert_eq!(revoked.len(), 2, "one `revoked` audit event per call");
    for event in &revoked {
        assert_eq!(event.get::<_, String>("action"), "revoke");
        assert_eq!(event.get::<_, String>("outcome"), "success");
        assert_eq!(
            event
                .get::<_, Option<uuid::Uuid>>("credential_id")
                .map(|u| u.to_string()),
            Some(credential.id.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owning_run_or_the_password_may_revoke() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(6001)).await;

    let other_run = hoop
        .revoke_with_token(&credential.id, &hoop.github_token(6002))
        .await;
    assert_eq!(
        (other_run.status, other_run.error_code()),
        (StatusCode::FORBIDDEN, "not_your_credential")
    );
    let wrong_password = hoop
        .revoke_with_password(&credential.id, &credential.username, "not-the-password")
        .await;
    assert_eq!(
        (wrong_password.status, wrong_password.error_code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // An unknown id answers like another run's credential, so ids cannot be probed.
    let unknown = uuid::Uuid::new_v4().to_string();
    let missing = hoop
        .revoke_with_token(&unknown, &hoop.github_token(6001))
        .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (StatusCode::FORBIDDEN, "not_your_credential")
    );
    assert!(hoop.db.role_exists(&credential.username).await);
    assert_eq!(hoop.db.credential_state(&credential.id).await, "active");
    for (code, count) in [("not_your_credential", 2), ("invalid_credentials", 1)] {
        let events = hoop.db.audit_events(code).await;
        assert_eq!(events.len(), count, "audit events {code}");
        assert!(
            events
                .iter()
                .all(|e| e.get::<_, String>("outcome") == "denied")
        );
    }

    let same_run = hoop
        .revoke_with_token(&credential.id, &hoop.github_token(6001))
        .await;
    assert_eq!(
        same_run.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        same_run.body
    );
    assert!(!hoop.db.role_exists(&credential.username).await);
    assert_eq!(hoop.db.credential_state(&credential.id).await, "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_ends_a_live_session_of_the_role() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(7001)).await;
    let session = hoop.connect_as(&credential).await.unwrap();
    session
        .simple_query("SELECT 1")
        .await
        .expect("the session works");

    let reply = hoop
        .revoke_with_password(&credential.id, &credential.username, &credential.password)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    // pg_terminate_backend signals the backend; the signal is handled asynchronously.
    wait_until("the revoked role's session to be terminated", || {
        let session = &session;
        async move { session.simple_query("SELECT 1").await.is_err() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_drops_expired_roles() {
    let hoop = Hoop::start(Options {
        reaper_interval: "1s",
        ..Options::default()
    })
    .await;
    let token = hoop.github.mint(&hoop.github.github_claims(
        AUDIENCE,
        SHORT_LIVED_REPOSITORY,
        SHORT_LIVED_REPOSITORY_ID,
        8001,
    ));
    let credential = hoop.issue(&token).await;
    assert!(hoop.db.role_exists(&credential.username).await);

    wait_until("the credential to expire", || async {
        hoop.db.credential_state(&credential.id).await == "expired"
    })
    .await;
    assert!(chrono::Utc::now() >= credential.expires_at);
    assert!(!hoop.db.role_exists(&credential.username).await);
    let events = hoop.db.audit_events("expired").await;
    assert_eq!(events.len(), 1, "one `expired` audit event");
    assert_eq!(events[0].get::<_, String>("action"), "expire");
    assert_eq!(events[0].get::<_, String>("outcome"), "success");
    assert_eq!(
        events[0].get::<_, Option<String>>("trust_rule").as_deref(),
        Some(SHORT_LIVED_RULE)
    );
}

/// A credential of the short-lived rule (ttl [`SHORT_TTL`]) for `run_id`.
async fn short_lived(hoop: &Hoop, run_id: u64) -> Credential {
    hoop.issue(&hoop.short_lived_token(run_id)).await
}

async fn wait_expiry_passed(credential: &Credential) {
    wait_until("the short-lived credential's expiry to pass", || async {
        chrono::Utc::now() > credential.expires_at
    })
    .await;
}

/// The reaper runs once at start, then every `reaper_interval` (an hour here): expiries that
/// passed while no hoop ran are found by the next start. Every wait is on a condition; no
/// credential has to outlive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_survive_a_restart_and_expire_while_hoop_is_down() {
    let mut hoop = Hoop::start(Options::default()).await;
    let kept = hoop.issue(&hoop.github_token(9001)).await;
    // Expires while this process runs: its only reaper pass was at its start.
    let expired_before_the_crash = short_lived(&hoop, 9002).await;
    let replayed_later = hoop.github_token(9003);
    hoop.issue(&replayed_later).await;
    wait_expiry_passed(&expired_before_the_crash).await;
    assert_eq!(
        hoop.db.credential_state(&expired_before_the_crash.id).await,
        "active"
    );

    // A crash: the credentials and the replay guard are in the state database, not in memory.
    hoop.restart().await;
    let replay = hoop.exchange(&replayed_later).await;
    assert_eq!(
        (replay.status, replay.error_code()),
        (StatusCode::UNAUTHORIZED, "token_replayed")
    );
    let reply = hoop
        .revoke_with_password(&kept.id, &kept.username, &kept.password)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert!(!hoop.db.role_exists(&kept.username).await);
    // The new process's start-up pass retires what expired before it started.
    wait_until("the start-up pass to expire the credential", || async {
        hoop.db.credential_state(&expired_before_the_crash.id).await == "expired"
    })
    .await;
    assert!(
        !hoop
            .db
            .role_exists(&expired_before_the_crash.username)
            .await
    );

    // Issued after that pass: nothing in this process expires it before the stop.
    let short_lived = short_lived(&hoop, 9004).await;
    // A graceful stop, then the credential expires while no hoop runs.
    let status = hoop.terminate().await;
    assert!(
        status.success(),
        "hoop serve exited with {status} on SIGTERM"
    );
    wait_expiry_passed(&short_lived).await;
    assert_eq!(hoop.db.credential_state(&short_lived.id).await, "active");
    assert!(hoop.db.role_exists(&short_lived.username).await);
    hoop.start_again().await;
    wait_until(
        "the reaper's startup pass to expire the credential",
        || async { hoop.db.credential_state(&short_lived.id).await == "expired" },
    )
    .await;
    assert!(!hoop.db.role_exists(&short_lived.username).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_token_gets_a_credential() {
    let hoop = Hoop::start(Options::default()).await;
    let claims = hoop
        .gitlab
        .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, 574);
    let reply = hoop.exchange(&hoop.gitlab.mint(&claims)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["run"]["provider"], "gitlab");
    assert_eq!(reply.body["run"]["repository"], GITLAB_PROJECT);
    assert_eq!(reply.body["run"]["run_id"], "574");
    assert_eq!(reply.body["trust_rule"], "payments-gitlab");
    let credential = Credential::from_body(&reply.body);
    assert!(
        credential.username.starts_with("run-574-1-"),
        "{}",
        credential.username
    );
    assert!(hoop.db.role_exists(&credential.username).await);

    // A GitHub token of the same numeric id does not match the GitLab rule.
    let github = hoop.github.mint(&hoop.github.github_claims(
        AUDIENCE,
        GITLAB_PROJECT,
        GITLAB_PROJECT_ID,
        575,
    ));
    let denied = hoop.exchange(&github).await;
    assert_eq!(
        (denied.status, denied.error_code()),
        (StatusCode::FORBIDDEN, "no_matching_trust_rule")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_report_exchanges() {
    let hoop = Hoop::start(Options::default()).await;
    let ready = hoop.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);

    let token = hoop.github_token(1101);
    hoop.issue(&token).await;
    let replay = hoop.exchange(&token).await;
    assert_eq!(replay.error_code(), "token_replayed");

    let response = hoop.get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    let metrics = response.text;
    for series in [
        r#"hoop_exchanges_total{outcome="success",code="issued"} 1"#,
        r#"hoop_exchanges_total{outcome="denied",code="token_replayed"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|line| line == series),
            "{series} missing from /metrics:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_enforces_the_session_limit() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(1201)).await;
    let mut sessions = Vec::new();
    for n in 0..MAX_SESSIONS {
        let session = hoop
            .connect_as(&credential)
            .await
            .unwrap_or_else(|e| panic!("session {n} of {MAX_SESSIONS}: {e}"));
        sessions.push(session);
    }
    let refused = hoop
        .connect_as(&credential)
        .await
        .expect_err("one session more than max_sessions");
    assert_eq!(
        refused.code(),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    let message = refused
        .as_db_error()
        .map(|e| e.message())
        .unwrap_or_default();
    assert!(
        message.contains("too many connections for role"),
        "{message}"
    );
}

/// A revocation and a reaper pass may meet on the same `revoking` row; both must end well.
/// A reaper every 10 ms makes the meeting likely instead of rare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_do_not_race_a_busy_reaper() {
    let hoop = Hoop::start(Options {
        reaper_interval: "10ms",
        ..Options::default()
    })
    .await;
    let mut failed = Vec::new();
    for run in 0..50 {
        let credential = hoop.issue(&hoop.github_token(13_000 + run)).await;
        let reply = hoop
            .revoke_with_password(&credential.id, &credential.username, &credential.password)
            .await;
        if reply.status != StatusCode::NO_CONTENT {
            failed.push(format!("{}: {}", reply.status, reply.text));
        }
    }
    let errors: Vec<String> = hoop
        .db
        .client()
        .await
        .query(
            "SELECT action || ' ' || code || ': ' || message FROM hoop_audit_events
             WHERE outcome <> 'success' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        failed.is_empty() && errors.is_empty(),
        "{} of 50 revocations failed: {failed:#?}\naudit errors: {errors:#?}",
        failed.len()
    );
    assert!(hoop.db.run_roles().await.is_empty());
}

/// Revocations at full concurrency (more than the state pool's 16 connections), each of a
/// credential with a live upstream session: every one is accepted and completes — none answers
/// 503 because the others hold the pool — and every role and session is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_at_full_concurrency_all_complete() {
    const RUNS: u64 = 40;
    let hoop = std::sync::Arc::new(Hoop::start(Options::default()).await);
    let mut live = Vec::new();
    for run in 0..RUNS {
        let credential = hoop.issue(&hoop.github_token(14_000 + run)).await;
        let session = hoop
            .connect_as(&credential)
            .await
            .expect("the role logs in");
        live.push((credential, session));
    }
    let replies = tokio::task::JoinSet::from_iter(live.iter().map(|(credential, _)| {
        let hoop = hoop.clone();
        let credential = credential.clone();
        async move {
            hoop.revoke_with_password(&credential.id, &credential.username, &credential.password)
                .await
        }
    }))
    .join_all()
    .await;
    let refused: Vec<String> = replies
        .iter()
        .filter(|r| !matches!(r.status, StatusCode::NO_CONTENT | StatusCode::ACCEPTED))
        .map(|r| format!("{}: {}", r.status, r.text))
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {RUNS} concurrent revocations were not accepted: {refused:#?}",
        refused.len()
    );
    wait_until("every revoked role to be dropped", || async {
        hoop.db.run_roles().await.is_empty()
    })
    .await;
    for (credential, session) in &live {
        assert!(
            session.simple_query("SELECT 1").await.is_err(),
            "a session of revoked {} still runs statements",
            credential.username
        );
        wait_until("the credential to be marked revoked", || async {
            hoop.db.credential_state(&credential.id).await == "revoked"
        })
        .await;
    }
    // Every request is audited (`revoked` or `revocation_pending`), and every pending one
    // again when its role is dropped.
    let pending = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(
        hoop.db.audit_events("revocation_pending").await.len(),
        pending
    );
    assert_eq!(
        hoop.db.audit_events("revoked").await.len(),
        RUNS as usize,
        "one `revoked` per credential: the request's or its completion's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_the_granted_role_is_accepted() {
    let hoop = Hoop::start(Options::default()).await;
    let body = json!({"connection": CONNECTION, "role": hoop.db.reader}).to_string();
    let token = hoop.github_token(4343);
    let reply = hoop
        .exchange_raw(Some(&format!("Bearer {token}")), body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let credential = Credential::from_body(&reply.body);
    let client = hoop.connect_as(&credential).await.unwrap();
    let granted: bool = client
        .query_one(
            "SELECT pg_has_role(current_user, $1::text, 'MEMBER')",
            &[&hoop.db.reader],
        )
        .await
        .unwrap()
        .get(0);
    assert!(granted, "the run role is a member of the requested role");
}

/// Every event that can run a fork's code or anyone's input, and every unknown or missing one,
/// is refused by a rule without `allow_pull_requests`, naming the event; trusted events pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_driven_and_unknown_events_are_refused() {
    let hoop = Hoop::start(Options::default()).await;
    let github = |run_id: u64, event: Option<&str>| {
        let mut claims = hoop.github_claims(run_id);
        match event {
            Some(e) => claims["event_name"] = json!(e),
            None => {
                claims.as_object_mut().unwrap().remove("event_name");
            }
        }
        hoop.github.mint(&claims)
    };
    let refused = [
        Some("pull_request_target"),
        Some("pull_request_review"),
        Some("issue_comment"),
        Some("issues"),
        Some("discussion_comment"),
        Some("workflow_run"),
        Some("check_suite"),
        Some("dynamic"),
        None,
    ];
    for (i, event) in refused.into_iter().enumerate() {
        let reply = hoop.exchange(&github(4600 + i as u64, event)).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::FORBIDDEN, "pull_request_not_allowed"),
            "{event:?}: {:?}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        let named = event.map_or("absent".to_owned(), |e| format!("{e:?}"));
        assert!(message.contains(&named), "{event:?}: {message}");
    }
    for (i, event) in ["push", "workflow_dispatch", "merge_group"]
        .into_iter()
        .enumerate()
    {
        let reply = hoop.exchange(&github(4700 + i as u64, Some(event))).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{event}: {:?}",
            reply.body
        );
    }

    let gitlab = |pipeline_id: u64, source: &str| {
        let mut claims =
            hoop.gitlab
                .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, pipeline_id);
        claims["pipeline_source"] = json!(source);
        hoop.gitlab.mint(&claims)
    };
    for (i, source) in [
        "merge_request_event",
        "external_pull_request_event",
        "parent_pipeline",
        "trigger",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = hoop.exchange(&gitlab(4800 + i as u64, source)).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::FORBIDDEN, "pull_request_not_allowed"),
            "{source}: {:?}",
            reply.body
        );
    }
    let reply = hoop.exchange(&gitlab(4900, "web")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}
