//! `[[issuers]]`: the OIDC issuers whose tokens are accepted.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// The claim schema an issuer's tokens follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuerKind {
    Github,
    Gitlab,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::Github => "github",
            IssuerKind::Gitlab => "gitlab",
        }
    }
}

/// Asymmetric JWS algorithms an issuer may be pinned to. `none` and HMAC are not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Name used by trust rules (`[[trust]] issuer`).
    pub name: String,
    /// Claim schema: `github` or `gitlab`.
    pub kind: IssuerKind,
    /// Exact `iss` value. Defaults: github → `https://token.actions.githubusercontent.com`,
    /// gitlab → `https://gitlab.com`. Set it for GitHub Enterprise or self-managed GitLab.
    pub url: Option<Url>,
    /// The `aud` every token must carry, exactly.
    pub audience: String,
    /// JWKS location; default: discovered from `<url>/.well-known/openid-configuration`.
    pub jwks_url: Option<Url>,
    /// Accepted signature algorithms (default `["RS256"]`).
    #[serde(default = "defaults::algorithms")]
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    #[serde(default = "defaults::leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// Minimum time between two JWKS fetches caused by unknown key ids.
    #[serde(default = "defaults::jwks_refresh_interval", with = "humantime_serde")]
    pub jwks_min_refresh_interval: Duration,
    /// How long fetched keys are used before they are fetched again.
    #[serde(default = "defaults::jwks_cache_ttl", with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
}

impl IssuerConfig {
    /// The exact `iss` claim this issuer's tokens carry.
    pub fn issuer_url(&self) -> String {
        match (&self.url, self.kind) {
            (Some(u), _) => u.as_str().trim_end_matches('/').to_owned(),
            (None, IssuerKind::Github) => "https://token.actions.githubusercontent.com".into(),
            (None, IssuerKind::Gitlab) => "https://gitlab.com".into(),
        }
    }
}

mod defaults {
    use super::*;

    pub fn algorithms() -> Vec<SigningAlgorithm> {
        vec![SigningAlgorithm::RS256]
    }
    pub fn leeway() -> Duration {
        Duration::from_secs(60)
    }
    pub fn jwks_refresh_interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn jwks_cache_ttl() -> Duration {
        Duration::from_secs(3600)
    }
}
