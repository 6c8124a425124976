//! OIDC id token verification: which CI run is asking.
//!
//! [`Verifier::verify`] turns a compact JWS into a [`VerifiedToken`] or an [`IdentityError`]
//! with a stable code. Keys come from each issuer's JWKS ([`jwks`]), claims are parsed into a
//! typed [`RunIdentity`] per issuer kind ([`claims`]).
//!
//! Architecture Invariant: a token is trusted only after its signature verified with a key of
//! the issuer its `iss` names, with an algorithm that issuer is pinned to; `none` and HMAC
//! algorithms are refused before any key is looked at.

mod claims;
mod config;
mod events;
pub mod issuer;
mod jwks;
pub mod schema;
mod verify;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use claims::RunIdentity;
pub use config::{IssuerConfig, IssuerKind, IssuerKind as Provider, SigningAlgorithm};
pub use events::{Trigger, event_claim, trigger_of};
pub use verify::{Verifier, peek_unverified_claims};

/// Largest token accepted, in bytes. Real GitHub and GitLab tokens are about 1-2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A CI run: GitHub's `run_id`, GitLab's `pipeline_id`: 1-20 decimal digits, so it can go
/// into a user name, a role name and a URL as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn new(id: impl Into<String>) -> Result<Self, crate::base::IdError> {
        let id = id.into();
        if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
            Ok(RunId(id))
        } else {
            Err(crate::base::IdError {
                what: "run id",
                value: id
                    .chars()
                    .take(40)
                    .collect::<String>()
                    .escape_default()
                    .to_string(),
                rule: "1-20 decimal digits",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = crate::base::IdError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        RunId::new(id)
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token's `jti`: refused a second time until the token expires. The issuer's text, kept
/// only to compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TokenId(String);

impl TokenId {
    pub fn new(jti: String) -> Self {
        TokenId(jti)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A token whose signature, issuer, audience and lifetime checked out.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// `[[issuers]] name` of the issuer that signed it.
    pub issuer: String,
    /// The exact `iss` claim.
    pub issuer_url: String,
    pub subject: String,
    pub token_id: TokenId,
    pub expires_at: DateTime<Utc>,
    pub run: RunIdentity,
    /// All claims, for trust rule matching. Values are JSON as the issuer sent them.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedToken {
    /// The token a run with these claims would present to `issuer`, assumed rather than
    /// verified: `hoop policy test` and `explain` decide offline what such a run would get.
    /// The claims are read exactly as the verifier reads a real token's (the issuer's claim
    /// schema, sizes, ids); nothing is signed or checked against a key. The server never
    /// builds one.
    pub fn assumed(
        issuer: &IssuerConfig,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Result<VerifiedToken, IdentityError> {
        let mut claims = claims;
        // Real tokens always carry the audience; one for another audience is refused before
        // any trust rule is read.
        match claims.get("aud") {
            None => {
                claims.insert("aud".into(), issuer.audience.clone().into());
            }
            Some(aud) => {
                let ours = match aud {
                    serde_json::Value::String(a) => *a == issuer.audience,
                    serde_json::Value::Array(list) => list
                        .iter()
                        .any(|a| a.as_str() == Some(issuer.audience.as_str())),
                    _ => false,
                };
                if !ours {
                    return Err(IdentityError::InvalidClaim {
                        claim: "aud".into(),
                        reason: format!(
                            "the exchange refuses a token that is not for audience {:?} (this \
                             issuer's `audience`)",
                            issuer.audience
                        ),
                    });
                }
            }
        }
        let issuer_url = issuer.issuer_url();
        let run = claims::parse_run_identity(issuer.kind, &issuer_url, &claims)?;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(VerifiedToken {
            issuer: issuer.name.clone(),
            subject: text("sub"),
            token_id: TokenId::new(text("jti")),
            expires_at: Utc::now() + chrono::Duration::minutes(5),
            issuer_url,
            run,
            claims,
        })
    }
}

/// Why a token was refused. Each variant has a stable [`code`](IdentityError::code) that the
/// API returns and audit events record.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token is {size} bytes; at most {max} are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("the token is signed with {alg:?}, which issuer {issuer} is not allowed to use")]
    AlgorithmNotAllowed { alg: String, issuer: String },
    #[error("the token's issuer {0:?} is not configured")]
    UnknownIssuer(String),
    #[error("no key {kid:?} in the JWKS of issuer {issuer}")]
    UnknownKey { kid: String, issuer: String },
    #[error("the token's signature does not verify")]
    SignatureInvalid,
    #[error("the token expired at {0}; request a fresh one")]
    Expired(DateTime<Utc>),
    #[error("the token is not valid before {0}")]
    NotYetValid(DateTime<Utc>),
    #[error("the token was issued in the future ({0}); check the issuer's clock")]
    IssuedInFuture(DateTime<Utc>),
    #[error("the token's audience is not {expected:?}; request the token with that audience")]
    AudienceMismatch { expected: String },
    #[error("the token lacks the claim {0:?}")]
    MissingClaim(String),
    #[error("the token's claim {claim:?} is invalid: {reason}")]
    InvalidClaim { claim: String, reason: String },
    #[error("the keys of issuer {issuer} cannot be fetched: {reason}")]
    IssuerUnavailable { issuer: String, reason: String },
}

impl IdentityError {
    /// Stable, machine-readable cause.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Malformed(_) => "token_malformed",
            IdentityError::TooLarge { .. } => "token_too_large",
            IdentityError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            IdentityError::UnknownIssuer(_) => "unknown_issuer",
            IdentityError::UnknownKey { .. } => "unknown_key",
            IdentityError::SignatureInvalid => "signature_invalid",
            IdentityError::Expired(_) => "token_expired",
            IdentityError::NotYetValid(_) => "token_not_yet_valid",
            IdentityError::IssuedInFuture(_) => "token_issued_in_future",
            IdentityError::AudienceMismatch { .. } => "audience_mismatch",
            IdentityError::MissingClaim(_) => "missing_claim",
            IdentityError::InvalidClaim { .. } => "invalid_claim",
            IdentityError::IssuerUnavailable { .. } => "issuer_unavailable",
        }
    }
}
