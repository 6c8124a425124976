//! `[[trust]]`: which runs get which connections and roles.

use std::time::Duration;

use serde::Deserialize;

use crate::base::{ConnectionName, DbRole};

/// One claim condition of a trust rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ClaimMatcherConfig {
    /// Exact string equality.
    Exact(String),
    /// A number or boolean, compared to the claim's string form.
    Number(i64),
    Bool(bool),
    /// Shell-style glob; `*` does not cross `/`, `**` does.
    Glob {
        glob: String,
    },
    /// Regular expression, always anchored at both ends.
    Regex {
        regex: String,
    },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRuleConfig {
    /// Named in audit events when the rule decides.
    pub name: String,
    /// `[[issuers]] name` the token must come from.
    pub issuer: String,
    /// Every listed claim must match; a missing claim never matches.
    pub claims: std::collections::BTreeMap<String, ClaimMatcherConfig>,
    /// Connections this rule grants.
    pub connections: Vec<ConnectionName>,
    /// Upstream role granted; default: the connection's `default_role`.
    pub role: Option<DbRole>,
    /// Credential lifetime, capped by `server.max_ttl`.
    #[serde(default = "defaults::ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Concurrent database sessions one credential may hold.
    #[serde(default = "defaults::max_sessions")]
    pub max_sessions: u32,
    /// Pull-request-driven runs (a fork's code or anyone's input, and unknown events; see
    /// `identity::trigger_of` and docs/run-identity.md) only match when true.
    #[serde(default)]
    pub allow_pull_requests: bool,
}

mod defaults {
    use super::*;

    pub fn ttl() -> Duration {
        Duration::from_secs(15 * 60)
    }
    pub fn max_sessions() -> u32 {
        4
    }
}
