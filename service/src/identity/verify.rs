//! Token verification, in a fixed order: size and structure, algorithm, issuer, key,
//! signature, then claims. Nothing from the payload is trusted before the signature verifies;
//! until then it only selects which issuer's keys to try.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::{Claims, parse_run_identity, truncated};
use super::jwks::JwksCache;
use super::{IdentityError, MAX_TOKEN_BYTES, TokenId, VerifiedToken};
use crate::identity::{IssuerConfig, IssuerKind, SigningAlgorithm};

/// Claims worth recording about a refused token; everything else is dropped.
const AUDIT_CLAIMS: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "jti",
    "repository",
    "repository_id",
    "project_path",
    "project_id",
    "run_id",
    "pipeline_id",
    "ref",
    "environment",
    "actor",
    "user_login",
    "event_name",
];
/// Longest audit value, in characters.
const AUDIT_VALUE_CHARS: usize = 200;
/// Longest audit `aud` array kept.
const AUDIT_ARRAY_ITEMS: usize = 8;

/// Verifies OIDC id tokens against the configured issuers. Cheap to share behind an `Arc`.
pub struct Verifier {
    issuers: Vec<TrustedIssuer>,
}

/// A configured issuer, ready to verify with.
struct TrustedIssuer {
    name: String,
    url: String,
    kind: IssuerKind,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway_secs: i64,
    keys: JwksCache,
}

impl Verifier {
    pub fn new(issuers: &[IssuerConfig], http: reqwest::Client) -> Self {
        let issuers = issuers
            .iter()
            .map(|config| TrustedIssuer {
                name: config.name.clone(),
                url: config.issuer_url(),
                kind: config.kind,
                audience: config.audience.clone(),
                algorithms: config
                    .algorithms
                    .iter()
                    .copied()
                    .map(jwt_algorithm)
                    .collect(),
                leeway_secs: i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX),
                keys: JwksCache::new(config, http.clone()),
            })
            .collect();
        Verifier { issuers }
    }

    /// Verifies a compact JWS and parses its claims; see the module doc for the order of checks.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, IdentityError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdentityError::TooLarge {
                size: token.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let jws = CompactJws::split(token)?;
        let header = JoseHeader::decode(jws.header)?;
        let alg = header.algorithm()?;
        let claims = decode_payload(jws.payload)?;

        let issuer = self.issuer_named_by(&claims)?;
        if !issuer.algorithms.contains(&alg) {
            return Err(IdentityError::AlgorithmNotAllowed {
                alg: format!("{alg:?}"),
                issuer: issuer.name.clone(),
            });
        }
        let key = issuer.keys.key_for(header.kid.as_deref(), alg).await?;
        check_signature(&jws, key.decoding_key(), alg)?;

        issuer.verified_token(claims, Utc::now().timestamp())
    }

    /// The issuer whose URL the (not yet verified) `iss` claim names exactly.
    fn issuer_named_by(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<&TrustedIssuer, IdentityError> {
        let iss = Claims(claims)
            .optional_str("iss")?
            .ok_or_else(|| IdentityError::MissingClaim("iss".into()))?;
        let iss = iss.trim_end_matches('/');
        self.issuers
            .iter()
            .find(|issuer| issuer.url == iss)
            .ok_or_else(|| IdentityError::UnknownIssuer(truncated(iss, AUDIT_VALUE_CHARS)))
    }
}

impl TrustedIssuer {
    /// Checks the claims of a token whose signature verified with this issuer's key.
    fn verified_token(
        &self,
        claims: Map<String, Value>,
        now: i64,
    ) -> Result<VerifiedToken, IdentityError> {
        let c = Claims(&claims);
        self.check_audience(&claims)?;
        // The issuer was picked by this claim; checked again so this function stands alone.
        let issuer_url = c.required_str("iss")?;
        if issuer_url.trim_end_matches('/') != self.url {
            return Err(IdentityError::UnknownIssuer(truncated(
                &issuer_url,
                AUDIT_VALUE_CHARS,
            )));
        }
        let expires_at = self.check_lifetime(&claims, now)?;
        let token_id = TokenId::new(c.required_str("jti")?);
        let subject = c.required_str("sub")?;
        let run = parse_run_identity(self.kind, &self.url, &claims)?;
        Ok(VerifiedToken {
            issuer: self.name.clone(),
            issuer_url,
            subject,
            token_id,
            expires_at,
            run,
            claims,
        })
    }

    /// `aud` is a string equal to the configured audience, or an array containing it (RFC 7519
    /// §4.1.3 allows several audiences; the token is for us if we are one of them).
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        let ours = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if ours {
            Ok(())
        } else {
            Err(IdentityError::AudienceMismatch {
                expected: self.audience.clone(),
            })
        }
    }

    /// `exp` and `iat` are required, `nbf` optional; each is allowed the issuer's leeway.
    /// Returns the expiry.
    fn check_lifetime(
        &self,
        claims: &Map<String, Value>,
        now: i64,
    ) -> Result<DateTime<Utc>, IdentityError> {
        let leeway = self.leeway_secs;
        let exp = numeric_date(claims, "exp")?.ok_or(missing("exp"))?;
        if now.saturating_sub(leeway) >= exp.timestamp() {
            return Err(IdentityError::Expired(exp));
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && nbf.timestamp() > now.saturating_add(leeway)
        {
            return Err(IdentityError::NotYetValid(nbf));
        }
        let iat = numeric_date(claims, "iat")?.ok_or(missing("iat"))?;
        if iat.timestamp() > now.saturating_add(leeway) {
            return Err(IdentityError::IssuedInFuture(iat));
        }
        Ok(exp)
    }
}

/// A compact JWS cut into its three parts; nothing in it is trusted yet.
struct CompactJws<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    fn split(token: &'a str) -> Result<CompactJws<'a>, IdentityError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected three base64url parts separated by '.'"));
        };
        let signing_input = &token[..header.len() + 1 + payload.len()];
        Ok(CompactJws {
            header,
            payload,
            signature,
            signing_input,
        })
    }
}

/// The JOSE header fields verification uses. Decoded by hand rather than with
/// `jsonwebtoken::decode_header`, whose `Algorithm` cannot represent `none`: an `alg: none`
/// token must be refused as such, not as malformed.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

impl JoseHeader {
    fn decode(encoded: &str) -> Result<JoseHeader, IdentityError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| malformed("the header is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| malformed("the header is not a JSON object"))
    }

    /// The signing algorithm, refusing `none` and HMAC before anything else is looked at:
    /// with HMAC the "secret" would be a public key anyone can fetch.
    fn algorithm(&self) -> Result<Algorithm, IdentityError> {
        let refused = || IdentityError::AlgorithmNotAllowed {
            alg: truncated(&self.alg, 32),
            issuer: "*".into(),
        };
        let alg = Algorithm::from_str(&self.alg).map_err(|_| refused())?;
        if alg.family() == AlgorithmFamily::Hmac {
            return Err(refused());
        }
        // RFC 7515 §4.1.11: extensions marked critical must be understood; we know none.
        if self.crit.is_some() {
            return Err(malformed(
                "the header has a \"crit\" parameter, which is not supported",
            ));
        }
        Ok(alg)
    }
}

fn decode_payload(encoded: &str) -> Result<Map<String, Value>, IdentityError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| malformed("the payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| malformed("the payload is not a JSON object"))
}

fn check_signature(
    jws: &CompactJws<'_>,
    key: &jsonwebtoken::DecodingKey,
    alg: Algorithm,
) -> Result<(), IdentityError> {
    match jsonwebtoken::crypto::verify(jws.signature, jws.signing_input.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(IdentityError::SignatureInvalid),
        Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => {
            Err(malformed("the signature is not base64url"))
        }
        Err(_) => Err(IdentityError::SignatureInvalid),
    }
}

/// A JWT NumericDate (seconds since the epoch; fractions allowed and dropped).
fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, IdentityError> {
    let secs = match claims.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        Some(_) => None,
    };
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
        .map(Some)
        .ok_or_else(|| IdentityError::InvalidClaim {
            claim: name.into(),
            reason: "must be a number of seconds since 1970-01-01".into(),
        })
}

fn missing(claim: &str) -> IdentityError {
    IdentityError::MissingClaim(claim.into())
}

fn malformed(reason: &str) -> IdentityError {
    IdentityError::Malformed(reason.into())
}

fn jwt_algorithm(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::RS384 => Algorithm::RS384,
        SigningAlgorithm::RS512 => Algorithm::RS512,
        SigningAlgorithm::PS256 => Algorithm::PS256,
        SigningAlgorithm::PS384 => Algorithm::PS384,
        SigningAlgorithm::PS512 => Algorithm::PS512,
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::ES384 => Algorithm::ES384,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// Best-effort, UNVERIFIED claims of a token, for the audit record of a refusal: only the
/// [`AUDIT_CLAIMS`], strings cut to 200 characters. `None` if the token is too large or its
/// payload is not a JSON object. Never use the result for a decision.
pub fn peek_unverified_claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let claims = decode_payload(payload).ok()?;
    let peeked = AUDIT_CLAIMS
        .iter()
        .filter_map(|&name| Some((name.to_owned(), audit_value(claims.get(name)?)?)))
        .collect();
    Some(peeked)
}

fn audit_value(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) => Some(Value::String(truncated(s, AUDIT_VALUE_CHARS))),
        Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .take(AUDIT_ARRAY_ITEMS)
                .filter_map(audit_value)
                .collect(),
        )),
        Value::Null | Value::Object(_) => None,
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
