//! What the exchange hands a pipeline beyond the password, and what it tells one it refuses:
//! the gateway's CA (verify-full on every replica), the session limit, a revoke token that
//! outlives the job's id token, refusals that name the claim in the provider's words, the
//! marker that tells hoop's API from anything else at a URL, and policy roles missing upstream.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;
use hoop::identity::issuer::DemoIssuer;

/// `psql -c "SELECT 'verified'"` through the gateway on `port` as `credential`, with
/// `sslmode=verify-full`, `host` and the root certificate file `root`.
fn psql_verify_full(
    hoop: &Hoop,
    credential: &Credential,
    host: &str,
    port: u16,
    root: &Path,
) -> std::process::Output {
    hoop.psql_command(credential)
        .args(["-c", "SELECT 'verified'"])
        .env("PGHOST", host)
        .env("PGPORT", port.to_string())
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", root)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_the_exchange_hands_out_verifies_the_generated_certificate_of_every_replica() {
    let hoop = Hoop::start(Options::default()).await;
    let reply = hoop.exchange(&hoop.github_token(9801)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["max_sessions"], json!(MAX_SESSIONS));
    let ca = reply.field("ca_cert");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let credential = Credential::from_body(&reply.body);
    let files = ScratchDir::new();
    let root = files.write("hoop-ca.pem", ca);

    let out = psql_verify_full(&hoop, &credential, "localhost", hoop.gateway_port, &root);
    assert_eq!(stdout_of(&out).trim(), "verified");
    // The certificate names the public host and localhost, not the address psql dialled.
    let out = psql_verify_full(&hoop, &credential, "127.0.0.1", hoop.gateway_port, &root);
    assert!(!out.status.success());

    // Another replica generated its own certificate at its own start; the CA one replica
    // handed out verifies it, because both derive the CA from the shared secret key.
    let second = hoop.second_replica().await;
    let out = psql_verify_full(&hoop, &credential, "localhost", second.gateway_port, &root);
    assert!(
        out.status.success(),
        "second replica: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = hoop.exchange(&hoop.github_token(9802)).await;
    assert_eq!(
        again.field("ca_cert"),
        ca,
        "the CA is the same for every exchange"
    );

    // A CA of another name and key does not verify it.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let stranger = files.write("stranger.pem", &params.self_signed(&key).unwrap().pem());
    let out = psql_verify_full(
        &hoop,
        &credential,
        "localhost",
        hoop.gateway_port,
        &stranger,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_tls_ca_is_handed_out_and_one_that_does_not_verify_the_certificate_stops_the_start()
 {
    let certs = ScratchDir::new();
    let names = [PUBLIC_HOST, "localhost"];
    let (ca, server) = write_certificate_chain(&certs, "gateway", &names);
    let (other_ca, _) = write_certificate_chain(&certs, "other", &names);
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            tls: Some(server),
            tls_ca: Some(ca.clone()),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let reply = hoop.exchange(&hoop.github_token(9811)).await;
    assert_eq!(
        reply.field("ca_cert").trim(),
        std::fs::read_to_string(&ca).unwrap().trim()
    );

    let mut wrong = hoop
        .config_text("")
        .replace(&ca.display().to_string(), &other_ca.display().to_string());
    assert_ne!(wrong, hoop.config_text(""), "the CA path is in the file");
    wrong.push('\n');
    let path = certs.write("wrong.toml", &wrong);
    let log = certs.0.join("check.log");
    let status = hoop_command(
        &["config", "check", "--config", &path.display().to_string()],
        &[
            (STATE_URL_VAR, "postgres://x@127.0.0.1:1/x"),
            (ADMIN_URL_VAR, "postgres://x@127.0.0.1:1/x"),
        ],
        &log,
    )
    .status()
    .unwrap();
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("gateway.tls_ca") && out.contains("does not verify gateway.tls_cert"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revoke_token_revokes_its_own_credential_after_the_id_token_expired() {
    let hoop = Hoop::start(Options::default()).await;
    // A token that verifies now only thanks to the issuer leeway (60 s), and will not in 6 s:
    // a job that timed out holds such a token when its after_script runs.
    let now = chrono::Utc::now().timestamp();
    let claims = with_claim(hoop.github_claims(9821), "iat", json!(now - 120));
    let claims = with_claim(claims, "nbf", json!(now - 120));
    let claims = with_claim(claims, "exp", json!(now - 55));
    let token = hoop.github.mint(&claims);
    let reply = hoop.exchange(&token).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let revoke_token = reply.field("revoke_token").to_owned();
    assert!(revoke_token.starts_with("hoop-revoke."), "{revoke_token}");
    let credential = Credential::from_body(&reply.body);
    let other = hoop.exchange(&hoop.github_token(9822)).await.body.clone();
    let other_id = other["credential_id"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_secs(6)).await;
    let expired = hoop.revoke_with_token(&credential.id, &token).await;
    assert_eq!(expired.error_code(), "token_expired", "{:?}", expired.body);

    // Not another credential's, and nothing but the exact token.
    for (id, presented) in [
        (other_id.as_str(), revoke_token.as_str()),
        (credential.id.as_str(), &format!("{revoke_token}x")),
        (credential.id.as_str(), "hoop-revoke."),
        (
            credential.id.as_str(),
            other["revoke_token"].as_str().unwrap(),
        ),
    ] {
        let refused = hoop.revoke_with_token(id, presented).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            "{id} {presented}: {:?}",
            refused.body
        );
    }
    assert_eq!(hoop.db.credential_state(&other_id).await, "active");
    assert_eq!(
        stdout_of(&hoop.psql(&credential, &["-c", "SELECT 1"])).trim(),
        "1"
    );

    let revoked = hoop.revoke_with_token(&credential.id, &revoke_token).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:?}", revoked.body);
    assert_eq!(hoop.db.credential_state(&credential.id).await, "revoked");
    assert!(!hoop.db.role_exists(&credential.username).await);
    let audit = hoop.db.audit_events("revoked").await;
    let audit: Vec<String> = audit.iter().map(|r| r.get("message")).collect();
    assert_eq!(audit, ["revoked with its revoke token"]);
    // The token is in no log line.
    assert!(!hoop.log().contains(&revoke_token["hoop-revoke.".len()..]));
}

/// The `error` object of a refused exchange of `claims`, minted by `issuer`.
async fn refusal(hoop: &Hoop, issuer: &DemoIssuer, claims: Value) -> (StatusCode, Value) {
    let reply = hoop.exchange(&issuer.mint(&claims)).await;
    (reply.status, reply.body["error"].clone())
}

fn names(error: &Value) -> Vec<&str> {
    error["claims"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_claim_in_the_providers_words_and_no_rule_of_another_repository() {
    let hoop = Hoop::start(Options::default()).await;
    let rules = [MAIN_RULE, SHORT_LIVED_RULE, "payments-gitlab"];

    // GitHub, this repository, another branch: the nearest rule and the claim it refuses.
    let claims = with_claim(
        hoop.github_claims(9831),
        "ref",
        json!("refs/heads/feature/x"),
    );
    let (status, error) = refusal(&hoop, &hoop.github, claims).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["code"], "no_matching_trust_rule");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&format!("{MAIN_RULE:?}")), "{message}");
    assert!(
        message.contains(r#"ref "refs/heads/feature/x""#),
        "{message}"
    );
    assert_eq!(names(&error), ["ref"]);

    // Another repository: its own repository claims, and not one rule's name.
    let claims = hoop
        .github
        .github_claims(AUDIENCE, "mallory/tools", 666, 9832);
    let (_, error) = refusal(&hoop, &hoop.github, claims).await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("repository_id") && message.contains("666"),
        "{message}"
    );
    assert!(message.contains("mallory/tools"), "{message}");
    for rule in rules {
        assert!(
            !message.contains(rule),
            "{rule} named to a stranger: {message}"
        );
    }
    assert_eq!(names(&error), ["repository_id", "repository"]);

    // A stranger cannot tell a connection that does not exist from one no rule grants it, and
    // its token is used either way.
    for connection in [CONNECTION, "no-such-connection"] {
        let token = hoop.github.mint(&hoop.github.github_claims(
            AUDIENCE,
            "mallory/tools",
            666,
            9837,
        ));
        let reply = hoop.exchange_for(&token, connection).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::FORBIDDEN, "no_matching_trust_rule"),
            "{connection}: {:?}",
            reply.body
        );
        let again = hoop.exchange_for(&token, connection).await;
        assert_eq!(again.error_code(), "token_replayed", "{connection}");
    }
    // A job some rule is for is told the connection does not exist.
    let typo = hoop
        .exchange_for(&hoop.github_token(9838), "paymnets")
        .await;
    assert_eq!(typo.error_code(), "unknown_connection");

    // GitLab speaks of projects, in GitLab's claim names.
    let gitlab = |run| {
        hoop.gitlab
            .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, run)
    };
    let (_, error) = refusal(
        &hoop,
        &hoop.gitlab,
        with_claim(gitlab(9833), "ref", json!("feature")),
    )
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(r#""payments-gitlab""#), "{message}");
    assert!(message.contains(r#"ref "feature""#), "{message}");
    assert!(message.contains("a rule for this project"), "{message}");
    assert!(!message.contains("repository"), "{message}");
    assert_eq!(names(&error), ["ref"]);
    let stranger = hoop
        .gitlab
        .gitlab_claims(AUDIENCE, "mallory/ledger", 777, 9834);
    let (_, error) = refusal(&hoop, &hoop.gitlab, stranger).await;
    assert_eq!(names(&error), ["project_id", "project_path"]);
    assert!(
        !error["message"]
            .as_str()
            .unwrap()
            .contains("payments-gitlab")
    );

    // Pull and merge requests: the event claim of each forge, with its value.
    for (issuer, claims, claim, event) in [
        (
            &hoop.github,
            hoop.github_claims(9835),
            "event_name",
            "pull_request",
        ),
        (
            &hoop.gitlab,
            gitlab(9836),
            "pipeline_source",
            "merge_request_event",
        ),
    ] {
        let (_, error) = refusal(&hoop, issuer, with_claim(claims, claim, json!(event))).await;
        assert_eq!(error["code"], "pull_request_not_allowed");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{claim} ({event:?})")),
            "{message}"
        );
        assert_eq!(names(&error), [claim]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_api_marker_and_unknown_paths_answer_json() {
    let hoop = Hoop::start(Options::default()).await;
    let marker = |reply: &Reply| {
        reply
            .headers
            .get("x-hoop-api")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let issued = hoop.exchange(&hoop.github_token(9841)).await;
    assert_eq!(issued.status, StatusCode::CREATED);
    assert_eq!(marker(&issued).as_deref(), Some("1"));
    assert_eq!(marker(&hoop.get("/healthz").await).as_deref(), Some("1"));

    let http = reqwest::Client::new();
    let doubled = Reply::read(
        http.post(format!("{}/v1/v1/exchange", hoop.api))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doubled.status, StatusCode::NOT_FOUND);
    assert_eq!(doubled.error_code(), "not_found");
    assert_eq!(marker(&doubled).as_deref(), Some("1"));
    let message = doubled.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ends in /v1"), "{message}");

    // What axum cannot read is answered as JSON too, and audited.
    let big = Reply::read(
        http.post(format!("{}/v1/exchange", hoop.api))
            .header(
                "authorization",
                format!("Bearer {}", hoop.github_token(9842)),
            )
            .body("x".repeat(5000))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (big.status, big.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    assert_eq!(marker(&big).as_deref(), Some("1"));
    let bad_id = Reply::read(
        http.delete(format!("{}/v1/credentials/%ff", hoop.api))
            .header("authorization", "Bearer x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (bad_id.status, bad_id.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{}",
        bad_id.text
    );
    assert!(!hoop.db.audit_events("body_too_large").await.is_empty());

    let wrong_method = hoop.get("/v1/exchange").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
    assert_eq!(marker(&wrong_method).as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_role_missing_upstream_refuses_the_exchange_without_using_the_token() {
    const MISSING: &str = "ci_migrator_e2e_missing";
    const REPO_ID: u64 = 4404;
    let extra = format!(
        r#"[[trust]]
name = "migrations"
issuer = "github"
claims = {{ repository_id = {REPO_ID}, ref = "refs/heads/main" }}
connections = ["{CONNECTION}"]
role = "{MISSING}"
"#
    );
    let hoop = Hoop::start(Options {
        // The role is not needed at the exchange: only the check can refuse it.
        role_provisioning: "first-connect",
        ..Options::with_extra(extra)
    })
    .await;
    let admin = hoop.db.client().await;
    admin
        .batch_execute(&format!("DROP ROLE IF EXISTS {MISSING}"))
        .await
        .unwrap();
    let token = hoop.github.mint(&hoop.github.github_claims(
        AUDIENCE,
        "acme/migrations",
        REPO_ID,
        9851,
    ));
    let refused = hoop.exchange(&token).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "upstream_role_missing"),
        "{:?}",
        refused.body
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    // `hoop serve` said so at its start already.
    let alert = "a policy role the trust rules grant does not exist upstream";
    let deadline = std::time::Instant::now() + WAIT;
    while !hoop.log().contains(alert) {
        assert!(
            std::time::Instant::now() < deadline,
            "no alert at start:\n{}",
            hoop.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hoop.log().contains(&format!("role={MISSING}")),
        "{}",
        hoop.log()
    );
    assert!(
        message.contains(MISSING) && message.contains(CONNECTION),
        "{message}"
    );

    // `config check --upstream` names it too.
    let log = hoop.scratch().0.join("check.log");
    let url = hoop.db.url();
    let status = hoop_command(
        &[
            "config",
            "check",
            "--upstream",
            "--config",
            &hoop.config_path().display().to_string(),
        ],
        &[(STATE_URL_VAR, url.as_str()), (ADMIN_URL_VAR, url.as_str())],
        &log,
    )
    .status()
    .unwrap();
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!("policy role {MISSING} does not exist upstream")),
        "{out}"
    );
    assert!(out.contains("granted by trust rule migrations"), "{out}");

    // Once an operator creates it, the same token is accepted: the refusal did not use it.
    admin
        .batch_execute(&format!(
            "CREATE ROLE {MISSING} NOLOGIN; GRANT SELECT ON {TABLE} TO {MISSING}"
        ))
        .await
        .unwrap();
    let issued = hoop.exchange(&token).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.body);
    let replay = hoop.exchange(&token).await;
    assert_eq!(replay.error_code(), "token_replayed");
    let credential = Credential::from_body(&issued.body);
    let revoked = hoop
        .revoke_with_token(&credential.id, issued.field("revoke_token"))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    // Gone again after it was seen: the exchange that finds the sighting old goes on and asks
    // in the background; from the answer on, exchanges are refused.
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON {TABLE} FROM {MISSING}; DROP ROLE {MISSING}"
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let mut run = 9860;
    let fresh = |run: u64| {
        hoop.github.mint(
            &hoop
                .github
                .github_claims(AUDIENCE, "acme/migrations", REPO_ID, run),
        )
    };
    let stale = hoop.exchange(&fresh(run)).await;
    assert_eq!(stale.status, StatusCode::CREATED, "{:?}", stale.body);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        run += 1;
        let reply = hoop.exchange(&fresh(run)).await;
        if reply.error_code() == "upstream_role_missing" {
            break;
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        assert!(
            std::time::Instant::now() < deadline,
            "still issued after the role was gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hoop.log().contains("no longer exists upstream"),
        "{}",
        hoop.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_the_upstream_fails_leaves_its_token_unused_and_no_credential() {
    // An admin without CREATEROLE: the upstream refuses the run role at the exchange.
    let weak = format!("hoop_e2e_weak_{}", uuid::Uuid::new_v4().simple());
    const REPO_ID: u64 = 5505;
    let extra = format!(
        r#"[[connections]]
name = "weak"
kind = "postgres"
admin_url = "postgres://{weak}@127.0.0.1:5432/postgres"
database = "postgres"
default_role = "pg_monitor"
sslmode = "disable"
role_provisioning = "exchange"

[[trust]]
name = "weak"
issuer = "github"
claims = {{ repository_id = {REPO_ID}, ref = "refs/heads/main" }}
connections = ["weak"]
"#
    );
    let hoop = Hoop::start(Options::with_extra(extra)).await;
    let admin = hoop.db.client().await;
    admin
        .batch_execute(&format!("CREATE ROLE {weak} LOGIN NOCREATEROLE"))
        .await
        .unwrap();
    let token = hoop.github.mint(
        &hoop
            .github
            .github_claims(AUDIENCE, "acme/weak", REPO_ID, 9871),
    );
    for attempt in 1..=2 {
        let reply = hoop.exchange_for(&token, "weak").await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "upstream_not_permitted"),
            "attempt {attempt}: {:?}",
            reply.body
        );
    }
    let states: Vec<String> = admin
        .query(
            "SELECT state FROM hoop_credentials WHERE connection = 'weak' ORDER BY created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        states,
        ["failed", "failed"],
        "each attempt failed, none is live"
    );
    // A refusal by policy, by contrast, uses the token.
    let main = hoop.github_token(9872);
    hoop.issue(&main).await;
    assert_eq!(hoop.exchange(&main).await.error_code(), "token_replayed");
    admin
        .batch_execute(&format!("DROP ROLE {weak}"))
        .await
        .unwrap();
}
