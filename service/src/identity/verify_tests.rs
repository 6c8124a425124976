//! The verifier against a real issuer on loopback: valid tokens and every attack.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;
use crate::identity::RunId;
use crate::identity::issuer::DemoIssuer;

const AUDIENCE: &str = "hoop";

async fn demo_issuer() -> DemoIssuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    DemoIssuer::start(listener).await.unwrap()
}

fn issuer_config(issuer_url: &str, kind: IssuerKind) -> IssuerConfig {
    IssuerConfig {
        name: kind.as_str().into(),
        kind,
        url: Some(issuer_url.parse().unwrap()),
        audience: AUDIENCE.into(),
        jwks_url: None,
        algorithms: vec![SigningAlgorithm::RS256],
        leeway: Duration::from_secs(60),
        jwks_min_refresh_interval: Duration::from_secs(30),
        jwks_cache_ttl: Duration::from_secs(3600),
    }
}

fn verifier_for(configs: &[IssuerConfig]) -> Verifier {
    Verifier::new(configs, reqwest::Client::new())
}

/// A demo issuer trusted as a GitHub issuer, with default cache settings.
async fn github() -> (DemoIssuer, Verifier) {
    let issuer = demo_issuer().await;
    let verifier = verifier_for(&[issuer_config(&issuer.url(), IssuerKind::Github)]);
    (issuer, verifier)
}

fn github_claims(issuer: &DemoIssuer) -> Value {
    issuer.github_claims(AUDIENCE, "octo-org/octo-repo", 42, 1001)
}

/// GitHub claims with one claim replaced (`Value::Null` removes it).
fn github_claims_with(issuer: &DemoIssuer, name: &str, value: Value) -> Value {
    let mut claims = github_claims(issuer);
    let map = claims.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.into(), value);
    }
    claims
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn refusal(verifier: &Verifier, token: &str) -> IdentityError {
    verifier
        .verify(token)
        .await
        .expect_err("the token must be refused")
}

#[test]
fn the_verifier_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Verifier>();
}

#[tokio::test]
async fn a_valid_github_token_verifies() {
    let (issuer, verifier) = github().await;
    let claims = github_claims(&issuer);
    let token = verifier.verify(&issuer.mint(&claims)).await.unwrap();

    assert_eq!(token.issuer, "github");
    assert_eq!(token.issuer_url, issuer.url());
    assert_eq!(token.subject, "repo:octo-org/octo-repo:ref:refs/heads/main");
    assert_eq!(token.token_id.as_str(), claims["jti"].as_str().unwrap());
    assert_eq!(
        token.expires_at.timestamp(),
        claims["exp"].as_i64().unwrap()
    );
    assert_eq!(token.claims, *claims.as_object().unwrap());
    let run = token.run;
    assert_eq!(run.provider, IssuerKind::Github);
    assert_eq!(run.repository, "octo-org/octo-repo");
    assert_eq!(run.repository_id, "42");
    assert_eq!(run.owner, "octo-org");
    assert_eq!(
        run.owner_id,
        claims["repository_owner_id"].as_str().unwrap()
    );
    assert_eq!(run.run_id, RunId::new("1001").unwrap());
    assert_eq!(run.attempt, 1);
    assert_eq!(run.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(run.sha.as_deref(), claims["sha"].as_str());
    assert_eq!(run.workflow.as_deref(), claims["workflow_ref"].as_str());
    assert_eq!(run.environment, None);
    assert_eq!(run.actor.as_deref(), Some("octocat"));
    assert_eq!(run.event.as_deref(), Some("push"));
    assert!(!run.pull_request);
    // Only github.com's own issuer has a known run URL.
    assert_eq!(run.run_url, None);
}

#[tokio::test]
async fn a_valid_gitlab_token_verifies() {
    let issuer = demo_issuer().await;
    let verifier = verifier_for(&[issuer_config(&issuer.url(), IssuerKind::Gitlab)]);
    let claims = issuer.gitlab_claims(AUDIENCE, "group/project", 20, 574);
    let token = verifier.verify(&issuer.mint(&claims)).await.unwrap();

    assert_eq!(token.issuer, "gitlab");
    let run = token.run;
    assert_eq!(run.provider, IssuerKind::Gitlab);
    assert_eq!(run.repository, "group/project");
    assert_eq!(run.repository_id, "20");
    assert_eq!(run.owner, "group");
    assert_eq!(run.run_id, RunId::new("574").unwrap());
    assert_eq!(run.attempt, 1);
    assert_eq!(run.job_id.as_deref(), claims["job_id"].as_str());
    assert_eq!(run.git_ref.as_deref(), Some("main"));
    assert_eq!(run.actor.as_deref(), Some("demo-user"));
    assert_eq!(run.actor_id.as_deref(), Some("1"));
    assert_eq!(
        run.workflow.as_deref(),
        claims["ci_config_ref_uri"].as_str()
    );
    assert_eq!(run.event.as_deref(), Some("push"));
    assert!(!run.pull_request);
    let expected_url = format!("{}/group/project/-/pipelines/574", issuer.url());
    assert_eq!(run.run_url, Some(expected_url));
}

#[tokio::test]
async fn fork_pull_requests_are_flagged() {
    let (issuer, verifier) = github().await;
    let claims = github_claims_with(&issuer, "event_name", json!("pull_request_target"));
    let token = verifier.verify(&issuer.mint(&claims)).await.unwrap();
    assert!(token.run.pull_request);

    let issuer = demo_issuer().await;
    let verifier = verifier_for(&[issuer_config(&issuer.url(), IssuerKind::Gitlab)]);
    let mut claims = issuer.gitlab_claims(AUDIENCE, "group/project", 20, 574);
    claims["pipeline_source"] = json!("merge_request_event");
    let token = verifier.verify(&issuer.mint(&claims)).await.unwrap();
    assert!(token.run.pull_request);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (issuer, verifier) = github().await;
    let payload = b64(github_claims(&issuer).to_string());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
        let err = refusal(&verifier, &format!("{header}.{payload}.")).await;
        assert!(
            matches!(err, IdentityError::AlgorithmNotAllowed { .. }),
            "{alg}: {err:?}"
        );
    }
    assert_eq!(
        issuer.jwks_requests(),
        0,
        "refused before any key was looked at"
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (issuer, verifier) = github().await;
    let jwk = issuer.public_jwk();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string()),
        b64(github_claims(&issuer).to_string())
    );
    let modulus = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    for secret in [jwk.to_string().into_bytes(), modulus] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(mac.finalize().into_bytes()));
        let err = refusal(&verifier, &token).await;
        assert!(
            matches!(err, IdentityError::AlgorithmNotAllowed { .. }),
            "{err:?}"
        );
    }
    assert_eq!(issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn an_algorithm_the_issuer_is_not_pinned_to_is_refused() {
    let (issuer, verifier) = github().await;
    let header = json!({"alg": "RS384", "kid": issuer.public_jwk()["kid"]});
    let token = issuer.sign_raw(&header, &github_claims(&issuer));
    match refusal(&verifier, &token).await {
        IdentityError::AlgorithmNotAllowed { alg, issuer } => {
            assert_eq!((alg.as_str(), issuer.as_str()), ("RS384", "github"));
        }
        err => panic!("{err:?}"),
    }
}

#[tokio::test]
async fn a_flipped_signature_byte_is_refused() {
    let (issuer, verifier) = github().await;
    let token = issuer.mint(&github_claims(&issuer));
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[100] ^= 0x01;
    let token = format!("{signing_input}.{}", b64(signature));
    assert!(matches!(
        refusal(&verifier, &token).await,
        IdentityError::SignatureInvalid
    ));
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (issuer, verifier) = github().await;
    let token = issuer.mint(&github_claims(&issuer));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = github_claims_with(&issuer, "repository_id", json!("1"));
    let token = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
    assert!(matches!(
        refusal(&verifier, &token).await,
        IdentityError::SignatureInvalid
    ));
}

#[tokio::test]
async fn random_kids_are_unknown_and_cost_at_most_one_fetch_per_interval() {
    let (issuer, verifier) = github().await;
    verifier
        .verify(&issuer.mint(&github_claims(&issuer)))
        .await
        .unwrap();
    let fetches = issuer.jwks_requests();
    assert_eq!(fetches, 1);

    for _ in 0..50 {
        let header = json!({"alg": "RS256", "kid": format!("k{}", rand::random::<u64>())});
        let token = issuer.sign_raw(&header, &github_claims(&issuer));
        let err = refusal(&verifier, &token).await;
        assert!(matches!(err, IdentityError::UnknownKey { .. }), "{err:?}");
    }
    assert!(
        issuer.jwks_requests() <= fetches + 1,
        "{} fetches",
        issuer.jwks_requests()
    );
}

#[tokio::test]
async fn a_rotated_key_waits_for_the_refresh_interval_then_verifies() {
    let issuer = demo_issuer().await;
    let old_key = issuer.mint(&github_claims(&issuer));
    // A verifier whose refresh interval cannot pass during the test: the unknown kid of a
    // rotated key may not trigger a fetch, however long the test takes.
    let mut config = issuer_config(&issuer.url(), IssuerKind::Github);
    config.jwks_min_refresh_interval = Duration::from_secs(3600);
    let limited = verifier_for(&[config.clone()]);
    limited.verify(&old_key).await.unwrap();
    issuer.rotate_key();
    let new_key = issuer.mint(&github_claims(&issuer));
    for _ in 0..3 {
        let err = refusal(&limited, &new_key).await;
        assert!(matches!(err, IdentityError::UnknownKey { .. }), "{err:?}");
    }
    assert_eq!(issuer.jwks_requests(), 1);

    // One whose interval passes: refused while the cache is fresh, then verified by the one
    // fetch the interval allows (polled, bounded; each try inside the interval fetches nothing).
    config.jwks_min_refresh_interval = Duration::from_secs(1);
    let verifier = verifier_for(&[config]);
    let fresh = issuer.mint(&github_claims(&issuer));
    verifier.verify(&fresh).await.unwrap();
    issuer.rotate_key();
    let newer_key = issuer.mint(&github_claims(&issuer));
    assert_eq!(issuer.jwks_requests(), 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Err(err) = verifier.verify(&newer_key).await {
        assert!(matches!(err, IdentityError::UnknownKey { .. }), "{err:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated key never verified"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(issuer.jwks_requests(), 3);
    // The JWKS no longer serves the older keys.
    for key in [&old_key, &fresh] {
        let err = refusal(&verifier, key).await;
        assert!(matches!(err, IdentityError::UnknownKey { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_key() {
    let (issuer, verifier) = github().await;
    let token = issuer.sign_raw(&json!({"alg": "RS256"}), &github_claims(&issuer));
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_second_issuer_cannot_sign_for_the_first() {
    let (issuer, verifier) = github().await;
    let intruder = demo_issuer().await;
    let claims = github_claims(&issuer);

    let err = refusal(&verifier, &intruder.mint(&claims)).await;
    assert!(matches!(err, IdentityError::UnknownKey { .. }), "{err:?}");

    // Naming the real issuer's kid does not help: the signature does not verify with it.
    let header = json!({"alg": "RS256", "kid": issuer.public_jwk()["kid"]});
    let err = refusal(&verifier, &intruder.sign_raw(&header, &claims)).await;
    assert!(matches!(err, IdentityError::SignatureInvalid), "{err:?}");
    assert_eq!(intruder.jwks_requests(), 0);
}

#[tokio::test]
async fn lifetime_claims_are_checked_with_leeway() {
    let (issuer, verifier) = github().await;
    let cases = [
        ("exp", json!(now() - 120), "token_expired"),
        ("nbf", json!(now() + 600), "token_not_yet_valid"),
        ("exp", Value::Null, "missing_claim"),
        ("iat", Value::Null, "missing_claim"),
        ("exp", json!("tomorrow"), "invalid_claim"),
    ];
    for (name, value, code) in cases {
        let token = issuer.mint(&github_claims_with(&issuer, name, value.clone()));
        assert_eq!(
            refusal(&verifier, &token).await.code(),
            code,
            "{name} = {value}"
        );
    }

    let mut claims = github_claims_with(&issuer, "iat", json!(now() + 600));
    claims["exp"] = json!(now() + 900);
    let err = refusal(&verifier, &issuer.mint(&claims)).await;
    assert!(matches!(err, IdentityError::IssuedInFuture(_)), "{err:?}");

    // Within the 60 s leeway, clock skew is tolerated.
    let mut claims = github_claims_with(&issuer, "exp", json!(now() - 10));
    claims["nbf"] = json!(now() + 30);
    claims["iat"] = json!(now() + 30);
    verifier.verify(&issuer.mint(&claims)).await.unwrap();
    // nbf is optional.
    let claims = github_claims_with(&issuer, "nbf", Value::Null);
    verifier.verify(&issuer.mint(&claims)).await.unwrap();
}

#[tokio::test]
async fn the_audience_must_be_ours() {
    let (issuer, verifier) = github().await;
    for aud in [
        json!("someone-else"),
        json!(["a", "b"]),
        json!("HOOP"),
        Value::Null,
    ] {
        let token = issuer.mint(&github_claims_with(&issuer, "aud", aud.clone()));
        let err = refusal(&verifier, &token).await;
        assert!(
            matches!(err, IdentityError::AudienceMismatch { .. }),
            "{aud}: {err:?}"
        );
    }
    let token = issuer.mint(&github_claims_with(
        &issuer,
        "aud",
        json!(["other", AUDIENCE]),
    ));
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_unconfigured_issuer_is_refused() {
    let (issuer, verifier) = github().await;
    let claims = github_claims_with(&issuer, "iss", json!("https://evil.example"));
    let err = refusal(&verifier, &issuer.mint(&claims)).await;
    assert!(matches!(err, IdentityError::UnknownIssuer(ref iss) if iss == "https://evil.example"));
    let claims = github_claims_with(&issuer, "iss", Value::Null);
    assert_eq!(
        refusal(&verifier, &issuer.mint(&claims)).await.code(),
        "missing_claim"
    );
}

#[tokio::test]
async fn required_claims_must_be_present_and_well_formed() {
    let (issuer, verifier) = github().await;
    for name in ["run_id", "repository_id", "jti", "sub"] {
        let token = issuer.mint(&github_claims_with(&issuer, name, Value::Null));
        match refusal(&verifier, &token).await {
            IdentityError::MissingClaim(missing) => assert_eq!(missing, name),
            err => panic!("{name}: {err:?}"),
        }
    }
    for (name, value) in [("repository_id", json!("42abc")), ("run_id", json!("-5"))] {
        let token = issuer.mint(&github_claims_with(&issuer, name, value));
        match refusal(&verifier, &token).await {
            IdentityError::InvalidClaim { claim, .. } => assert_eq!(claim, name),
            err => panic!("{name}: {err:?}"),
        }
    }
    let long = "x".repeat(1025);
    let token = issuer.mint(&github_claims_with(&issuer, "ref", json!(long)));
    assert_eq!(refusal(&verifier, &token).await.code(), "invalid_claim");
}

#[tokio::test]
async fn an_oversized_token_is_refused_before_decoding() {
    let (issuer, verifier) = github().await;
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);
    match refusal(&verifier, &token).await {
        IdentityError::TooLarge { size, max } => {
            assert_eq!((size, max), (token.len(), MAX_TOKEN_BYTES))
        }
        err => panic!("{err:?}"),
    }
    let claims = github_claims_with(&issuer, "padding", json!(vec!["y".repeat(1000); 16]));
    let err = refusal(&verifier, &issuer.mint(&claims)).await;
    assert!(matches!(err, IdentityError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let (issuer, verifier) = github().await;
    let good = issuer.mint(&github_claims(&issuer));
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        "garbage".to_owned(),
        String::new(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.{}", parts[2]),
        format!("!!!.{}.{}", parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64("not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("[1,2]"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], b64("not json"), parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "%%%"),
    ];
    for token in cases {
        let err = refusal(&verifier, &token).await;
        assert!(
            matches!(err, IdentityError::Malformed(_)),
            "{token}: {err:?}"
        );
    }
    let header = json!({"alg": "RS256", "crit": ["exp"]});
    let err = refusal(
        &verifier,
        &issuer.sign_raw(&header, &github_claims(&issuer)),
    )
    .await;
    assert!(matches!(err, IdentityError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_jwks_with_a_cold_cache_fails_closed() {
    let (issuer, verifier) = github().await;
    issuer.set_available(false);
    let token = issuer.mint(&github_claims(&issuer));
    let err = refusal(&verifier, &token).await;
    assert!(
        matches!(err, IdentityError::IssuerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("503"), "{err}");

    issuer.set_available(true);
    verifier.verify(&token).await.unwrap();
}

#[test]
fn peeked_claims_are_filtered_and_truncated() {
    let claims = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": ["hoop", "x".repeat(500)],
        "repository_id": "42",
        "run_id": 7,
        "actor": "é".repeat(300),
        "secret_looking": "dropped",
        "environment": {"nested": "dropped"},
    });
    let token = format!("{}.{}.sig", b64("{}"), b64(claims.to_string()));
    let peeked = peek_unverified_claims(&token).unwrap();
    let keys: Vec<&str> = peeked.keys().map(String::as_str).collect();
    assert_eq!(keys, ["actor", "aud", "iss", "repository_id", "run_id"]);
    assert_eq!(peeked["actor"].as_str().unwrap().chars().count(), 200);
    assert_eq!(peeked["aud"][1].as_str().unwrap().len(), 200);
    assert_eq!(peeked["run_id"], json!(7));

    assert_eq!(peek_unverified_claims("garbage"), None);
    assert_eq!(
        peek_unverified_claims(&"a.b.c".repeat(MAX_TOKEN_BYTES)),
        None
    );
}
