//! `[watcher]`: the run watcher's interval and CI API access.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::base::SecretSource;

/// `[watcher]`: revoke credentials whose CI run or job has completed, by polling the CI APIs
/// (the safety net for cancelled jobs and dead runners that never run their revoke step).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatcherConfig {
    /// Time between two passes over the live credentials (default 60s, at least 1s).
    #[serde(default = "defaults::watcher_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// GitHub token with `actions:read` on the watched repositories; without it GitHub runs
    /// are not watched.
    pub github_token: Option<SecretSource>,
    /// GitHub REST API base (default `https://api.github.com`; GHES: `https://<host>/api/v3`).
    #[serde(default = "defaults::github_api_url")]
    pub github_api_url: Url,
    /// GitLab token with `read_api`; without it GitLab jobs are not watched.
    pub gitlab_token: Option<SecretSource>,
    /// GitLab instance URL (default: the `url` of the one gitlab-kind issuer).
    pub gitlab_url: Option<Url>,
}

mod defaults {
    use super::*;

    pub fn watcher_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn github_api_url() -> Url {
        Url::parse("https://api.github.com").expect("a valid URL")
    }
}
