//! Demo and test only: a real OpenID Connect issuer on a loopback listener, signing GitHub
//! Actions and GitLab CI shaped id tokens with a throwaway RSA key.
//!
//! `hoop demo` and the test suite use it so that every token goes through real discovery, a real
//! JWKS fetch and real signature checks. `hoop serve` never starts it: a deployment trusts only
//! the issuers in its configuration.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long minted tokens live, like GitHub's (5 minutes).
const TOKEN_LIFETIME_SECS: i64 = 300;

/// A running demo issuer. Dropping it stops the server.
pub struct DemoIssuer {
    shared: Arc<Shared>,
    /// Dropping the sender resolves the server's graceful shutdown signal.
    _shutdown: oneshot::Sender<()>,
}

/// State shared with the HTTP handlers.
struct Shared {
    url: String,
    key: RwLock<Arc<SigningKey>>,
    jwks_requests: AtomicUsize,
    available: AtomicBool,
}

struct SigningKey {
    kid: String,
    pair: KeyPair,
    /// The public half, as served in the JWKS.
    jwk: Value,
}

impl SigningKey {
    fn generate() -> std::io::Result<SigningKey> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| std::io::Error::other("RSA key generation failed"))?;
        let kid = format!("demo-{:016x}", rand::random::<u64>());
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        });
        Ok(SigningKey { kid, pair, jwk })
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("RSA signing with a freshly generated key does not fail");
        signature
    }
}

impl DemoIssuer {
    /// Serves discovery and the JWKS on `listener` until the `DemoIssuer` is dropped.
    pub async fn start(listener: tokio::net::TcpListener) -> std::io::Result<DemoIssuer> {
        let url = issuer_url(listener.local_addr()?);
        let shared = Arc::new(Shared {
            url,
            key: RwLock::new(Arc::new(SigningKey::generate()?)),
            jwks_requests: AtomicUsize::new(0),
            available: AtomicBool::new(true),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks))
            .with_state(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "demo issuer stopped");
            }
        });
        Ok(DemoIssuer {
            shared,
            _shutdown: shutdown,
        })
    }

    /// The issuer URL, `http://127.0.0.1:PORT`: the `iss` of every token it mints.
    pub fn url(&self) -> String {
        self.shared.url.clone()
    }

    /// An RS256 token over `claims`, signed with the current key and naming its `kid`.
    pub fn mint(&self, claims: &Value) -> String {
        let key = self.shared.current_key();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
        sign_compact(&key, &header, claims)
    }

    /// An RS256 signature with the current key over ANY header, for attack tests (a header
    /// claiming another `alg`, a foreign `kid`, ...).
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        sign_compact(&self.shared.current_key(), header, claims)
    }

    /// The current public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        self.shared.current_key().jwk.clone()
    }

    /// Replaces the key with a new one under a new `kid`; the JWKS then serves only the new key.
    pub fn rotate_key(&self) {
        let key = SigningKey::generate().expect("RSA key generation failed");
        *self
            .shared
            .key
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }

    /// A complete GitHub Actions claim set for a push to `main`, valid for 5 minutes from now.
    pub fn github_claims(
        &self,
        audience: &str,
        repository: &str,
        repository_id: u64,
        run_id: u64,
    ) -> Value {
        let (iat, exp) = lifetime();
        let owner = repository.split('/').next().unwrap_or(repository);
        let sha = random_sha();
        let workflow_ref = format!("{repository}/.github/workflows/deploy.yml@refs/heads/main");
        json!({
            "iss": self.url(),
            "aud": audience,
            "sub": format!("repo:{repository}:ref:refs/heads/main"),
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "ref_protected": "true",
            "sha": sha,
            "repository": repository,
            "repository_id": repository_id.to_string(),
            "repository_owner": owner,
            "repository_owner_id": owner_id(owner).to_string(),
            "repository_visibility": "private",
            "run_id": run_id.to_string(),
            "run_number": "1",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
            "actor": "octocat",
            "actor_id": "583231",
            "workflow": "deploy",
            "workflow_ref": workflow_ref,
            "workflow_sha": sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": sha,
            "event_name": "push",
            "head_ref": "",
            "base_ref": "",
        })
    }

    /// A complete GitLab CI claim set for a push pipeline on `main`, valid for 5 minutes.
    pub fn gitlab_claims(
        &self,
        audience: &str,
        project_path: &str,
        project_id: u64,
        pipeline_id: u64,
    ) -> Value {
        let (iat, exp) = lifetime();
        let namespace = project_path
            .rsplit_once('/')
            .map_or(project_path, |(ns, _)| ns);
        let host = self.shared.url.trim_start_matches("http://");
        json!({
            "iss": self.url(),
            "aud": audience,
            "sub": format!("project_path:{project_path}:ref_type:branch:ref:main"),
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "namespace_id": owner_id(namespace).to_string(),
            "namespace_path": namespace,
            "project_id": project_id.to_string(),
            "project_path": project_path,
            "project_visibility": "private",
            "user_id": "1",
            "user_login": "demo-user",
            "user_email": "demo-user@example.com",
            "user_access_level": "developer",
            "pipeline_id": pipeline_id.to_string(),
            "pipeline_source": "push",
            "job_id": pipeline_id.saturating_mul(10).saturating_add(1).to_string(),
            "ref": "main",
            "ref_type": "branch",
            "ref_path": "refs/heads/main",
            "ref_protected": "true",
            "sha": random_sha(),
            "runner_id": 1,
            "runner_environment": "gitlab-hosted",
            "ci_config_ref_uri": format!("{host}/{project_path}//.gitlab-ci.yml@refs/heads/main"),
            "ci_config_sha": random_sha(),
        })
    }

    /// Requests the JWKS endpoint received, answered or not (tests check rate limiting).
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// When `false`, discovery and the JWKS answer 503.
    pub fn set_available(&self, up: bool) {
        self.shared.available.store(up, Ordering::SeqCst);
    }
}

impl Shared {
    fn current_key(&self) -> Arc<SigningKey> {
        self.key
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn unavailable(&self) -> Option<Response> {
        let down = !self.available.load(Ordering::SeqCst);
        down.then(|| (StatusCode::SERVICE_UNAVAILABLE, "demo issuer is down").into_response())
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(down) = shared.unavailable() {
        return down;
    }
    Json(json!({
        "issuer": shared.url,
        "jwks_uri": format!("{}/.well-known/jwks", shared.url),
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "claims_supported": [
            "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
            "repository_id", "repository_owner", "repository_owner_id", "run_id", "run_attempt",
            "actor", "actor_id", "workflow_ref", "event_name", "environment", "project_path",
            "project_id", "namespace_path", "namespace_id", "pipeline_id", "pipeline_source",
            "job_id", "user_login", "user_id", "ci_config_ref_uri",
        ],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(down) = shared.unavailable() {
        return down;
    }
    Json(json!({ "keys": [shared.current_key().jwk] })).into_response()
}

fn sign_compact(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", encode_json(header), encode_json(claims));
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn issuer_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `iat` (also `nbf`) and `exp` of a token minted now.
fn lifetime() -> (i64, i64) {
    let now = chrono::Utc::now().timestamp();
    (now, now + TOKEN_LIFETIME_SECS)
}

fn random_sha() -> String {
    crate::base::hash::hex(&rand::random::<[u8; 20]>())
}

/// A stable made-up numeric id for an owner or namespace name, so repeated runs agree.
fn owner_id(name: &str) -> u64 {
    name.bytes()
        .fold(1_000u64, |id, b| (id * 31 + u64::from(b)) % 100_000_000)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn start() -> DemoIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        DemoIssuer::start(listener).await.unwrap()
    }

    async fn get_json(url: &str) -> (StatusCode, Option<Value>) {
        let response = reqwest::get(url).await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.ok())
    }

    fn decode_part(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn serves_discovery_and_the_current_key() {
        let issuer = start().await;
        assert!(issuer.url().starts_with("http://127.0.0.1:"));
        let (status, doc) = get_json(&format!(
            "{}/.well-known/openid-configuration",
            issuer.url()
        ))
        .await;
        let doc = doc.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["issuer"], json!(issuer.url()));
        assert_eq!(
            doc["jwks_uri"],
            json!(format!("{}/.well-known/jwks", issuer.url()))
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );

        let (_, jwks) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
        assert_eq!(jwks.unwrap()["keys"], json!([issuer.public_jwk()]));
        assert_eq!(issuer.jwks_requests(), 1);

        let old = issuer.public_jwk();
        issuer.rotate_key();
        assert_ne!(issuer.public_jwk()["kid"], old["kid"]);
        let (_, jwks) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
        assert_eq!(jwks.unwrap()["keys"], json!([issuer.public_jwk()]));
    }

    #[tokio::test]
    async fn minted_tokens_name_the_current_key() {
        let issuer = start().await;
        let claims = issuer.github_claims("hoop", "octo-org/octo-repo", 42, 7);
        let token = issuer.mint(&claims);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": issuer.public_jwk()["kid"]})
        );
        assert_eq!(decode_part(parts[1]), claims);
        assert_eq!(claims["iss"], json!(issuer.url()));
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        assert!(claims.get("environment").is_none());
        assert_ne!(
            claims["jti"],
            issuer.github_claims("hoop", "o/r", 1, 1)["jti"]
        );

        let gitlab = issuer.gitlab_claims("hoop", "group/sub/project", 20, 574);
        assert_eq!(gitlab["namespace_path"], json!("group/sub"));
        assert_eq!(gitlab["pipeline_id"], json!("574"));
    }

    #[tokio::test]
    async fn answers_503_when_unavailable() {
        let issuer = start().await;
        issuer.set_available(false);
        for path in ["openid-configuration", "jwks"] {
            let (status, _) = get_json(&format!("{}/.well-known/{path}", issuer.url())).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        }
        assert_eq!(issuer.jwks_requests(), 1);
        issuer.set_available(true);
        let (status, _) = get_json(&format!("{}/.well-known/jwks", issuer.url())).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn dropping_the_issuer_stops_the_server() {
        let issuer = start().await;
        let url = format!("{}/.well-known/jwks", issuer.url());
        drop(issuer);
        // Shutdown is asynchronous; give the server task a moment to close the listener.
        for _ in 0..40 {
            if reqwest::get(&url).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the demo issuer still answers after being dropped");
    }
}
