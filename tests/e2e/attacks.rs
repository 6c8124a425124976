//! Attacks on the token exchange, against the real `hoop serve` process: each is refused with its
//! own status and code, leaves exactly one audit event, and creates no credential and no role.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One hostile request and how hoop must answer it.
struct Attack {
    name: &'static str,
    authorization: Option<String>,
    body: String,
    status: StatusCode,
    /// Accepted codes; more than one only where either refusal is correct.
    codes: Vec<&'static str>,
}

impl Attack {
    fn new(name: &'static str, token: &str, status: StatusCode, code: &'static str) -> Attack {
        Attack {
            name,
            authorization: Some(format!("Bearer {token}")),
            body: json!({ "connection": CONNECTION }).to_string(),
            status,
            codes: vec![code],
        }
    }

    fn token(&self) -> Option<&str> {
        self.authorization.as_deref()?.strip_prefix("Bearer ")
    }
}

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;

/// GitHub claims of the trusted repository's run `run_id`, with `name` set to `value`.
fn claims_with(hoop: &Hoop, run_id: u64, name: &str, value: Value) -> Value {
    with_claim(hoop.github_claims(run_id), name, value)
}

fn attack_matrix(
    hoop: &Hoop,
    replayed: &str,
    foreign: &hoop::identity::issuer::DemoIssuer,
) -> Vec<Attack> {
    let github = &hoop.github;
    let jwk = github.public_jwk();
    let kid = jwk["kid"].clone();
    let modulus = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let t = now();
    let valid = hoop.github_token(20);

    let unsigned = compact_jws(
        &json!({"alg": "none", "typ": "JWT"}),
        &hoop.github_claims(21),
        b"",
    );
    let mallory = github.mint(&github.github_claims(AUDIENCE, "mallory/payments", 666, 22));
    let forged_payload = {
        let parts: Vec<&str> = mallory.split('.').collect();
        let ours = URL_SAFE_NO_PAD.encode(hoop.github_claims(22).to_string());
        format!("{}.{ours}.{}", parts[0], parts[2])
    };
    let flipped_signature = {
        let (input, signature) = valid.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 0x01;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
    };
    let same_jti = {
        let jti = serde_json::from_slice::<Value>(
            &URL_SAFE_NO_PAD
                .decode(replayed.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()["jti"]
            .clone();
        github.mint(&claims_with(hoop, 23, "jti", jti))
    };
    let pull_request =
        |event: &str| github.mint(&claims_with(hoop, 24, "event_name", json!(event)));

    vec![
        Attack::new("alg none", &unsigned, UNAUTHORIZED, "algorithm_not_allowed"),
        Attack::new(
            "HS256 keyed with the issuer's public JWK",
            &hs256_token(jwk.to_string().as_bytes(), &kid, &hoop.github_claims(25)),
            UNAUTHORIZED,
            "algorithm_not_allowed",
        ),
        Attack::new(
            "HS256 keyed with the issuer's RSA modulus",
            &hs256_token(&modulus, &kid, &hoop.github_claims(26)),
            UNAUTHORIZED,
            "algorithm_not_allowed",
        ),
        Attack::new(
            "payload swapped under a valid signature",
            &forged_payload,
            UNAUTHORIZED,
            "signature_invalid",
        ),
        Attack::new(
            "signature bit flipped",
            &flipped_signature,
            UNAUTHORIZED,
            "signature_invalid",
        ),
        Attack::new(
            "unknown kid",
            &github.sign_raw(
                &json!({"alg": "RS256", "typ": "JWT", "kid": "retired-key"}),
                &hoop.github_claims(27),
            ),
            UNAUTHORIZED,
            "unknown_key",
        ),
        Attack::new(
            "expired",
            &github.mint(&with_claim(
                with_claim(
                    claims_with(hoop, 28, "exp", json!(t - 3600)),
                    "iat",
                    json!(t - 3900),
                ),
                "nbf",
                json!(t - 3900),
            )),
            UNAUTHORIZED,
            "token_expired",
        ),
        Attack::new(
            "nbf in the future",
            &github.mint(&with_claim(
                claims_with(hoop, 29, "nbf", json!(t + 3600)),
                "exp",
                json!(t + 7200),
            )),
            UNAUTHORIZED,
            "token_not_yet_valid",
        ),
        Attack::new(
            "iat in the future",
            &github.mint(&with_claim(
                claims_with(hoop, 30, "iat", json!(t + 3600)),
                "exp",
                json!(t + 7200),
            )),
            UNAUTHORIZED,
            "token_issued_in_future",
        ),
        Attack::new(
            "audience of another service",
            &github.mint(&claims_with(hoop, 31, "aud", json!("another-service"))),
            UNAUTHORIZED,
            "audience_mismatch",
        ),
        Attack::new(
            "unconfigured issuer",
            &github.mint(&claims_with(
                hoop,
                32,
                "iss",
                json!("https://issuer.evil.example"),
            )),
            UNAUTHORIZED,
            "unknown_issuer",
        ),
        Attack {
            codes: vec!["unknown_key", "signature_invalid"],
            ..Attack::new(
                "foreign issuer's key claiming our iss",
                &foreign.mint(&hoop.github_claims(33)),
                UNAUTHORIZED,
                "unknown_key",
            )
        },
        Attack::new(
            "foreign issuer's key under our kid",
            &foreign.sign_raw(
                &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
                &hoop.github_claims(34),
            ),
            UNAUTHORIZED,
            "signature_invalid",
        ),
        Attack::new("replayed token", replayed, UNAUTHORIZED, "token_replayed"),
        Attack::new(
            "new token reusing a jti",
            &same_jti,
            UNAUTHORIZED,
            "token_replayed",
        ),
        Attack::new(
            "another repository",
            &mallory,
            StatusCode::FORBIDDEN,
            "no_matching_trust_rule",
        ),
        Attack::new(
            "pull_request run",
            &pull_request("pull_request"),
            StatusCode::FORBIDDEN,
            "pull_request_not_allowed",
        ),
        Attack::new(
            "pull_request_target run",
            &pull_request("pull_request_target"),
            StatusCode::FORBIDDEN,
            "pull_request_not_allowed",
        ),
        Attack::new(
            "no run_id claim",
            &github.mint(&claims_with(hoop, 35, "run_id", Value::Null)),
            UNAUTHORIZED,
            "missing_claim",
        ),
        Attack::new(
            "16 KiB + 1 byte token",
            &"a".repeat(16 * 1024 + 1),
            UNAUTHORIZED,
            "token_too_large",
        ),
        Attack::new(
            "20 KiB token",
            &"a".repeat(20 * 1024),
            UNAUTHORIZED,
            "token_too_large",
        ),
        Attack::new(
            "garbage token",
            "not-a-jwt",
            UNAUTHORIZED,
            "token_malformed",
        ),
        Attack::new(
            "two-part token",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",
            UNAUTHORIZED,
            "token_malformed",
        ),
        Attack {
            authorization: None,
            ..Attack::new("no Authorization header", "", UNAUTHORIZED, "missing_token")
        },
        Attack {
            body: "{not json".into(),
            ..Attack::new(
                "body is not JSON",
                &hoop.github_token(36),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            )
        },
        Attack {
            body: json!({"connection": CONNECTION, "role": "postgres"}).to_string(),
            ..Attack::new(
                "a role the rule does not grant",
                &hoop.github_token(38),
                StatusCode::FORBIDDEN,
                "role_not_granted",
            )
        },
        Attack {
            body: json!({"connection": "ledger"}).to_string(),
            ..Attack::new(
                "unknown connection",
                &hoop.github_token(37),
                StatusCode::BAD_REQUEST,
                "unknown_connection",
            )
        },
    ]
}

/// Sends one attack; returns what went wrong, if anything.
async fn check(hoop: &Hoop, attack: &Attack) -> Result<(), String> {
    let last_event = hoop.db.last_audit_id().await;
    let credentials = hoop.db.credential_count().await;
    let roles = hoop.db.run_roles().await;

    let reply = hoop
        .exchange_raw(attack.authorization.as_deref(), attack.body.clone())
        .await;
    let code = reply.error_code();
    if reply.status != attack.status || !attack.codes.contains(&code) {
        return Err(format!(
            "answered {} {code:?}, expected {} {:?}: {}",
            reply.status, attack.status, attack.codes, reply.text
        ));
    }
    if hoop.db.credential_count().await != credentials || hoop.db.run_roles().await != roles {
        return Err("a credential or a role was created".into());
    }
    let events = hoop.db.audit_events_after(last_event).await;
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| (e.get("action"), e.get("outcome"), e.get("code")))
        .collect();
    let expected = ("exchange".to_owned(), "denied".to_owned(), code.to_owned());
    if summary != [expected] {
        return Err(format!(
            "audit events {summary:?}, expected exactly one (exchange, denied, {code})"
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_refused_with_its_own_code_and_audited() {
    let hoop = Hoop::start(Options::default()).await;
    let foreign = foreign_issuer().await;
    let replayed = hoop.github_token(10);
    hoop.issue(&replayed).await;

    let attacks = attack_matrix(&hoop, &replayed, &foreign);
    let mut failures = Vec::new();
    for attack in &attacks {
        if let Err(e) = check(&hoop, attack).await {
            failures.push(format!("{}: {e}", attack.name));
        }
    }

    // No token (nor its signature alone) is kept, in the audit trail or in the log.
    let audit = hoop.db.table_text("hoop_audit_events").await;
    let log = hoop.log();
    for attack in &attacks {
        let Some(token) = attack.token().filter(|t| t.split('.').count() == 3) else {
            continue;
        };
        let signature = token.rsplit('.').next().unwrap();
        for (place, text) in [("hoop_audit_events", &audit), ("the process log", &log)] {
            if text.contains(token) || (signature.len() > 40 && text.contains(signature)) {
                failures.push(format!("{}: the token is in {place}", attack.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} attacks not handled as expected:\n{}",
        failures.len(),
        attacks.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_fails_closed_until_it_is_back() {
    let hoop = Hoop::start(Options::default()).await;
    hoop.github.set_available(false);
    let reply = hoop.exchange(&hoop.github_token(40)).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "issuer_unavailable"),
        "{}",
        reply.text
    );
    let events = hoop.db.audit_events("issuer_unavailable").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].get::<_, String>("outcome"), "error");
    assert_eq!(hoop.db.credential_count().await, 0);
    assert!(hoop.db.run_roles().await.is_empty());

    hoop.github.set_available(true);
    hoop.issue(&hoop.github_token(41)).await;
    // Keys fetched once stay in use while the issuer is down again.
    hoop.github.set_available(false);
    hoop.issue(&hoop.github_token(42)).await;
}
