//! `[approvals]` in hoop.toml: how long a statement is held, who may decide, who is told.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::notify::NotifyConfig;

/// `[approvals]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// How long a statement is held before it fails as timed out (default 15m, at most 24h).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the held client is reminded, with a NoticeResponse, what it waits for
    /// (default 30s).
    #[serde(default = "default_notice_interval", with = "humantime_serde")]
    pub notice_interval: Duration,
    /// Base URL approvers reach this API at, given in notices and notifications; defaults to
    /// `http://<server.api_listen>`.
    pub public_url: Option<Url>,
    /// Who may decide. Without approvers, `approve` rules cannot be configured and the default
    /// pack's holds become denials.
    #[serde(default)]
    pub approvers: Vec<ApproverConfig>,
    /// Where a new approval is announced.
    #[serde(default)]
    pub notify: NotifyConfig,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            timeout: default_timeout(),
            notice_interval: default_notice_interval(),
            public_url: None,
            approvers: Vec::new(),
            notify: NotifyConfig::default(),
        }
    }
}

/// `[[approvals.approvers]]`: one person (or team account) who may approve.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverConfig {
    /// Named in audit events, recordings and the client's messages.
    pub name: String,
    /// Hex SHA-256 of the approver's API token (`hoop approvals token` makes a pair); the token
    /// itself is never in the file.
    pub token_sha256: String,
    /// The approver's GitHub login: dual control refuses their decisions on runs they started.
    pub github_login: Option<String>,
    /// The approver's GitLab username, for the same check on GitLab runs.
    pub gitlab_login: Option<String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_notice_interval() -> Duration {
    Duration::from_secs(30)
}

/// Longest hold allowed: a credential rarely lives longer, and a held session is a held
/// connection.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl ApprovalsConfig {
    /// Checks what serde cannot: bounds, names, token hashes.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout < Duration::from_secs(1) || self.timeout > MAX_TIMEOUT {
            return Err("approvals.timeout must be between 1s and 24h".into());
        }
        if self.notice_interval < Duration::from_secs(1) {
            return Err("approvals.notice_interval must be at least 1s".into());
        }
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (i, a) in self.approvers.iter().enumerate() {
            let key = format!("approvals.approvers[{i}]");
            if a.name.trim().is_empty() {
                return Err(format!("{key}.name must not be empty"));
            }
            if !names.insert(a.name.as_str()) {
                return Err(format!(
                    "{key}.name: approver {:?} is defined twice",
                    a.name
                ));
            }
            let hash = a.token_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{key}.token_sha256 must be 64 hex digits (the SHA-256 of the token; \
                     `hoop approvals token` prints one)"
                ));
            }
            if !hashes.insert(hash) {
                return Err(format!("{key}.token_sha256: two approvers share a token"));
            }
            for (field, login) in [
                ("github_login", &a.github_login),
                ("gitlab_login", &a.gitlab_login),
            ] {
                if login.as_deref().is_some_and(|l| l.trim().is_empty()) {
                    return Err(format!("{key}.{field} must not be empty when set"));
                }
            }
        }
        self.notify.validate().map_err(|e| e.to_string())?;
        if let Some(url) = &self.public_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(format!("approvals.public_url: {url} is not an http(s) URL"));
        }
        Ok(())
    }
}
