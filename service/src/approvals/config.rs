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
    /// The approver's numeric GitHub user id (`gh api users/<login> --jq .id`): dual control
    /// refuses their decisions on runs whose `actor_id` it is. Without it they cannot decide
    /// GitHub runs. Ids, unlike logins, are never renamed or recycled.
    pub github_id: Option<u64>,
    /// The approver's numeric GitLab user id (profile page, or `/api/v4/users?username=`),
    /// compared with the run's `user_id`. Without it they cannot decide GitLab runs.
    pub gitlab_id: Option<u64>,
    /// The approver's GitHub login, for display, and compared too (case-insensitively) with
    /// the run's `actor`: a match refuses, it never allows. Needs `github_id`.
    pub github_login: Option<String>,
    /// The approver's GitLab username, likewise (`user_login`). Needs `gitlab_id`.
    pub gitlab_login: Option<String>,
}

/// Where an approver's numeric id is found, for error messages.
fn how_to_find_id(forge: &str) -> &'static str {
    if forge == "github" {
        "`gh api users/<login> --jq .id`, or https://api.github.com/users/<login>"
    } else {
        "on the user's GitLab profile, or /api/v4/users?username=<login>"
    }
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
            for (forge, login_key, login, id) in [
                ("github", "github_login", &a.github_login, a.github_id),
                ("gitlab", "gitlab_login", &a.gitlab_login, a.gitlab_id),
            ] {
                if login.as_deref().is_some_and(|l| l.trim().is_empty()) {
                    return Err(format!("{key}.{login_key} must not be empty when set"));
                }
                if id == Some(0) {
                    return Err(format!("{key}.{forge}_id must be a user id (1 or more)"));
                }
                // Dual control compares ids: a login alone would let a renamed account, or one
                // that took over a released login, pass for someone else.
                if login.is_some() && id.is_none() {
                    return Err(format!(
                        "{key} ({:?}): {login_key} is set but {forge}_id is not; dual control \
                         compares immutable user ids, so add {forge}_id = <numeric id> ({})",
                        a.name,
                        how_to_find_id(forge)
                    ));
                }
            }
            if a.github_id.is_none() && a.gitlab_id.is_none() {
                return Err(format!(
                    "{key} ({:?}) has neither github_id nor gitlab_id, so dual control could \
                     never be checked and every decision would be refused; add github_id = \
                     <numeric id> ({}) and/or gitlab_id = <numeric id> ({})",
                    a.name,
                    how_to_find_id("github"),
                    how_to_find_id("gitlab")
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals(approver: &str) -> Result<(), String> {
        let text = format!(
            "[[approvers]]\nname = \"lead\"\ntoken_sha256 = \"{}\"\n{approver}",
            "ab".repeat(32)
        );
        toml::from_str::<ApprovalsConfig>(&text)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn approvers_need_an_id_for_each_forge_they_decide_on() {
        approvals("github_id = 583231").unwrap();
        approvals("gitlab_id = 45\ngitlab_login = \"lead\"").unwrap();
        approvals("github_id = 1\ngithub_login = \"lead\"\ngitlab_id = 2").unwrap();

        let e = approvals("github_login = \"lead\"").unwrap_err();
        assert!(
            e.contains("github_login is set but github_id is not")
                && e.contains("github_id = <numeric id>"),
            "{e}"
        );
        let e = approvals("github_id = 1\ngitlab_login = \"lead\"").unwrap_err();
        assert!(e.contains("add gitlab_id"), "{e}");
        let e = approvals("").unwrap_err();
        assert!(e.contains("neither github_id nor gitlab_id"), "{e}");
        let e = approvals("github_id = 0").unwrap_err();
        assert!(e.contains("github_id must be a user id"), "{e}");
        assert!(approvals("github_id = -3").is_err());
        assert!(approvals("github_id = \"12\"").is_err());
    }
}
