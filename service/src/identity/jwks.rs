//! Each issuer's signing keys: fetched from its JWKS, cached, refreshed on unknown key ids.
//!
//! The hot path is an `RwLock` read and an `Arc` clone; `DecodingKey`s are built once per fetch.
//! Fetches are single-flight behind a tokio `Mutex` and rate-limited, so a flood of tokens naming
//! random `kid`s costs the issuer at most one JWKS fetch per `jwks_min_refresh_interval`.
//!
//! Architecture Invariant: with no keys cached and the JWKS unreachable, verification fails
//! closed ([`IdentityError::IssuerUnavailable`]); keys already cached stay in use past their TTL
//! while a refresh fails.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use url::Url;

use super::IdentityError;
use crate::identity::IssuerConfig;

/// Bound on one discovery or JWKS request, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Real JWKS documents are a few KiB; anything far bigger is not one.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// What a key can verify, from its JWK `kty` and `crv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    fn of(jwk: &Jwk) -> Option<KeyType> {
        match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(KeyType::Rsa),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => Some(KeyType::P256),
                EllipticCurve::P384 => Some(KeyType::P384),
                _ => None,
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Some(KeyType::Ed25519)
            }
            // Symmetric (`oct`) keys are never usable: a JWKS is public.
            _ => None,
        }
    }

    fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyType::Rsa => alg.family() == AlgorithmFamily::Rsa,
            KeyType::P256 => alg == Algorithm::ES256,
            KeyType::P384 => alg == Algorithm::ES384,
            KeyType::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

/// One signing key of an issuer, decoded once when the JWKS was fetched.
pub(super) struct VerificationKey {
    kid: Option<String>,
    /// The JWK's own `alg`; when present, the only algorithm this key verifies.
    alg: Option<Algorithm>,
    key_type: KeyType,
    key: DecodingKey,
}

impl VerificationKey {
    pub(super) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    fn fits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|own| own == alg) && self.key_type.fits(alg)
    }

    /// `None` for keys that are not for verifying signatures with an algorithm we support.
    fn from_jwk(value: &serde_json::Value) -> Option<VerificationKey> {
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        let common = &jwk.common;
        if common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        if common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return None;
        }
        let alg = match common.key_algorithm {
            Some(alg) => Some(Algorithm::try_from(alg).ok()?),
            None => None,
        };
        if alg.is_some_and(|a| a.family() == AlgorithmFamily::Hmac) {
            return None;
        }
        let key_type = KeyType::of(&jwk)?;
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        Some(VerificationKey {
            kid: common.key_id.clone(),
            alg,
            key_type,
            key,
        })
    }
}

/// The usable keys of one JWKS fetch.
pub(super) struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
    fetched_at: Instant,
}

impl KeySet {
    /// The key for a token's `kid` and `alg`. A token without a `kid` gets a key only when
    /// exactly one fits its algorithm: picking among several would be a guess.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<VerificationKey>> {
        let mut usable = self.keys.iter().filter(|k| k.fits(alg));
        match kid {
            Some(kid) => usable.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => match (usable.next(), usable.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            },
        }
    }
}

/// Outcome of the last fetch, guarded by the single-flight lock.
#[derive(Default)]
struct FetchState {
    last_completed: Option<Instant>,
    last_error: Option<String>,
}

/// The JWKS cache of one issuer.
pub(super) struct JwksCache {
    /// `[[issuers]] name`, for errors and logs.
    issuer: String,
    issuer_url: String,
    jwks_url: Option<Url>,
    ttl: Duration,
    min_refresh_interval: Duration,
    http: reqwest::Client,
    current: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl JwksCache {
    pub(super) fn new(config: &IssuerConfig, http: reqwest::Client) -> JwksCache {
        JwksCache {
            issuer: config.name.clone(),
            issuer_url: config.issuer_url(),
            jwks_url: config.jwks_url.clone(),
            ttl: config.jwks_cache_ttl,
            min_refresh_interval: config.jwks_min_refresh_interval,
            http,
            current: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    /// The key to verify a token with `kid` and `alg`. A key not in the cache triggers one
    /// rate-limited refresh: the issuer may have rotated its keys since the last fetch.
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, IdentityError> {
        if let Some(key) = self.keys().await?.find(kid, alg) {
            return Ok(key);
        }
        self.refresh()
            .await?
            .find(kid, alg)
            .ok_or_else(|| IdentityError::UnknownKey {
                kid: kid.unwrap_or("(none)").to_owned(),
                issuer: self.issuer.clone(),
            })
    }

    /// Cached keys within their TTL, else a refresh.
    async fn keys(&self) -> Result<Arc<KeySet>, IdentityError> {
        match self.cached() {
            Some(keys) if keys.fetched_at.elapsed() < self.ttl => Ok(keys),
            _ => self.refresh().await,
        }
    }

    fn cached(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the JWKS, unless a fetch completed while this call waited (single flight) or
    /// cached keys exist and the last fetch is more recent than the minimum refresh interval.
    async fn refresh(&self) -> Result<Arc<KeySet>, IdentityError> {
        let asked = Instant::now();
        let mut state = self.fetch.lock().await;
        let cached = self.cached();
        if let Some(done) = state.last_completed {
            if done >= asked {
                return cached.ok_or_else(|| self.unavailable(state.last_error.clone()));
            }
            if let Some(keys) = &cached
                && done.elapsed() < self.min_refresh_interval
            {
                return Ok(keys.clone());
            }
        }

        let fetched = self.fetch_keys().await;
        state.last_completed = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(keys.clone());
                state.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                state.last_error = Some(reason.clone());
                match cached {
                    Some(keys) => {
                        tracing::warn!(issuer = %self.issuer, %reason, "JWKS refresh failed; keeping the cached keys");
                        Ok(keys)
                    }
                    None => Err(self.unavailable(Some(reason))),
                }
            }
        }
    }

    fn unavailable(&self, reason: Option<String>) -> IdentityError {
        IdentityError::IssuerUnavailable {
            issuer: self.issuer.clone(),
            reason: reason.unwrap_or_else(|| "the JWKS could not be fetched".into()),
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let jwks_url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => self.discover_jwks_url().await?,
        };
        let body = self.get(&jwks_url).await?;
        let keys = parse_jwks(&body).map_err(|e| format!("{jwks_url}: {e}"))?;
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
        })
    }

    /// OpenID Connect discovery: the document must name this very issuer, or its keys could be
    /// another issuer's.
    async fn discover_jwks_url(&self) -> Result<Url, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }

        let url = format!("{}/.well-known/openid-configuration", self.issuer_url);
        let url = Url::parse(&url).map_err(|e| format!("{url}: {e}"))?;
        let doc: Discovery = serde_json::from_slice(&self.get(&url).await?)
            .map_err(|e| format!("{url}: not an OpenID Connect discovery document: {e}"))?;
        if doc.issuer.trim_end_matches('/') != self.issuer_url {
            return Err(format!(
                "{url} names issuer {:?}, not {:?}; check the issuer's url",
                doc.issuer, self.issuer_url
            ));
        }
        let jwks_uri =
            Url::parse(&doc.jwks_uri).map_err(|e| format!("{url}: bad jwks_uri: {e}"))?;
        if !crate::base::url::is_secure_url(&jwks_uri) {
            return Err(format!(
                "{url}: jwks_uri {jwks_uri} must use https (plain http only for loopback)"
            ));
        }
        Ok(jwks_uri)
    }

    /// GET with a timeout and a size cap.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let too_big = || format!("GET {url}: the response exceeds {MAX_DOCUMENT_BYTES} bytes");
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The usable keys of a JWKS document; keys we cannot use are skipped, not fatal.
fn parse_jwks(body: &[u8]) -> Result<Vec<Arc<VerificationKey>>, String> {
    #[derive(Deserialize)]
    struct JwksDocument {
        keys: Vec<serde_json::Value>,
    }

    let doc: JwksDocument =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let keys: Vec<_> = doc
        .keys
        .iter()
        .filter_map(VerificationKey::from_jwk)
        .map(Arc::new)
        .collect();
    if keys.is_empty() {
        return Err("the JWKS holds no usable signing key".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use axum::Router;
    use axum::routing::get;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;
    use crate::identity::issuer::DemoIssuer;
    use crate::identity::{IssuerKind, SigningAlgorithm};

    async fn demo_issuer() -> DemoIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        DemoIssuer::start(listener).await.unwrap()
    }

    fn config(issuer_url: &str) -> IssuerConfig {
        IssuerConfig {
            name: "ci".into(),
            kind: IssuerKind::Github,
            url: Some(issuer_url.parse().unwrap()),
            audience: "hoop".into(),
            jwks_url: None,
            algorithms: vec![SigningAlgorithm::RS256],
            leeway: Duration::from_secs(60),
            jwks_min_refresh_interval: Duration::from_secs(30),
            jwks_cache_ttl: Duration::from_secs(3600),
        }
    }

    fn cache(config: &IssuerConfig) -> JwksCache {
        JwksCache::new(config, reqwest::Client::new())
    }

    fn kid_of(issuer: &DemoIssuer) -> String {
        issuer.public_jwk()["kid"].as_str().unwrap().to_owned()
    }

    fn p256_jwk(kid: &str) -> Value {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    fn key_set(keys: &[Value]) -> KeySet {
        let body = json!({ "keys": keys }).to_string();
        KeySet {
            keys: parse_jwks(body.as_bytes()).unwrap(),
            fetched_at: Instant::now(),
        }
    }

    /// Serves `body` at `/jwks` on loopback; returns its URL.
    async fn static_jwks(body: String) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let app = Router::new().route("/jwks", get(move || async move { body }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url.parse().unwrap()
    }

    #[tokio::test]
    async fn keys_that_cannot_verify_our_algorithms_are_skipped() {
        let issuer = demo_issuer().await;
        let rsa = issuer.public_jwk();
        let with = |field: &str, value: Value| {
            let mut jwk = rsa.clone();
            jwk[field] = value;
            jwk
        };
        let unusable = [
            with("use", json!("enc")),
            with("alg", json!("RSA-OAEP")),
            with("alg", json!("HS256")),
            with("key_ops", json!(["encrypt"])),
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"}),
            json!({"kty": "weird", "kid": "weird"}),
        ];
        for jwk in &unusable {
            let body = json!({ "keys": [jwk] }).to_string();
            assert!(parse_jwks(body.as_bytes()).is_err(), "{jwk}");
        }
        let mut keys = unusable.to_vec();
        keys.push(rsa.clone());
        keys.push(p256_jwk("ec"));
        assert_eq!(key_set(&keys).keys.len(), 2);
        assert!(parse_jwks(b"{\"not\": \"a jwks\"}").is_err());
    }

    #[tokio::test]
    async fn a_key_only_verifies_the_algorithms_it_fits() {
        let issuer = demo_issuer().await;
        let kid = kid_of(&issuer);
        let keys = key_set(&[issuer.public_jwk(), p256_jwk("ec")]);
        assert!(keys.find(Some(&kid), Algorithm::RS256).is_some());
        // The JWK pins RS256; an RSA key is never used for ECDSA or EdDSA.
        for alg in [
            Algorithm::RS384,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            assert!(keys.find(Some(&kid), alg).is_none(), "{alg:?}");
        }
        assert!(keys.find(Some("ec"), Algorithm::ES256).is_some());
        assert!(keys.find(Some("ec"), Algorithm::ES384).is_none());

        // Without a kid: only when exactly one key fits the algorithm.
        assert!(keys.find(None, Algorithm::RS256).is_some());
        let mut second = issuer.public_jwk();
        second["kid"] = json!("other");
        let keys = key_set(&[issuer.public_jwk(), second]);
        assert!(keys.find(None, Algorithm::RS256).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_cold_misses_share_one_fetch() {
        let issuer = demo_issuer().await;
        let cache = Arc::new(cache(&config(&issuer.url())));
        let kid = kid_of(&issuer);
        let lookups: Vec<_> = (0..20)
            .map(|_| {
                let (cache, kid) = (cache.clone(), kid.clone());
                tokio::spawn(async move { cache.key_for(Some(&kid), Algorithm::RS256).await })
            })
            .collect();
        for lookup in lookups {
            assert!(lookup.await.unwrap().is_ok());
        }
        assert_eq!(issuer.jwks_requests(), 1);
    }

    #[tokio::test]
    async fn expired_keys_are_refetched_and_kept_if_the_refetch_fails() {
        let issuer = demo_issuer().await;
        let mut config = config(&issuer.url());
        config.jwks_cache_ttl = Duration::ZERO;
        config.jwks_min_refresh_interval = Duration::ZERO;
        // Straight to the JWKS, so that every attempt shows in jwks_requests().
        config.jwks_url = Some(
            format!("{}/.well-known/jwks", issuer.url())
                .parse()
                .unwrap(),
        );
        let cache = cache(&config);
        let kid = kid_of(&issuer);
        cache.key_for(Some(&kid), Algorithm::RS256).await.unwrap();
        cache.key_for(Some(&kid), Algorithm::RS256).await.unwrap();
        assert_eq!(issuer.jwks_requests(), 2);

        issuer.set_available(false);
        cache.key_for(Some(&kid), Algorithm::RS256).await.unwrap();
        assert_eq!(issuer.jwks_requests(), 3);
    }

    #[tokio::test]
    async fn discovery_must_name_the_configured_issuer() {
        let issuer = demo_issuer().await;
        // Same server, other spelling: its discovery document names 127.0.0.1, not localhost.
        let port = issuer.url().rsplit(':').next().unwrap().to_owned();
        let mut config = config(&format!("http://localhost:{port}"));
        let err = cache(&config)
            .key_for(None, Algorithm::RS256)
            .await
            .err()
            .unwrap();
        match err {
            IdentityError::IssuerUnavailable { reason, .. } => {
                assert!(reason.contains("names issuer"), "{reason}")
            }
            err => panic!("{err:?}"),
        }
        // A configured jwks_url skips discovery.
        config.jwks_url = Some(
            format!("{}/.well-known/jwks", issuer.url())
                .parse()
                .unwrap(),
        );
        cache(&config)
            .key_for(None, Algorithm::RS256)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn oversized_or_invalid_documents_are_refused() {
        let issuer = demo_issuer().await;
        let huge = format!(
            "{{\"keys\": [], \"pad\": \"{}\"}}",
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        for (body, expected) in [(huge, "exceeds"), ("<html>".to_owned(), "not a JWKS")] {
            let mut config = config(&issuer.url());
            config.jwks_url = Some(static_jwks(body).await);
            match cache(&config)
                .key_for(None, Algorithm::RS256)
                .await
                .err()
                .unwrap()
            {
                IdentityError::IssuerUnavailable { reason, .. } => {
                    assert!(reason.contains(expected), "{reason}")
                }
                err => panic!("{err:?}"),
            }
        }
    }

    #[test]
    fn plain_http_jwks_uris_are_only_for_loopback() {
        let secure = |u: &str| crate::base::url::is_secure_url(&u.parse().unwrap());
        assert!(secure(
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        ));
        assert!(secure("http://127.0.0.1:8080/jwks"));
        assert!(secure("http://[::1]:8080/jwks"));
        assert!(!secure("http://issuer.example/jwks"));
        assert!(!secure("ftp://127.0.0.1/jwks"));
    }
}
