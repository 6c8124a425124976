//! The GitHub side of the watcher: one request per run attempt, reduced to an [`Observation`].
//!
//! Octocrab's typed `get_attempt` is not used: it turns every non-2xx into an error without
//! the rate-limit headers the watcher must honour, and its `Run` model requires dozens of
//! fields. The raw `_get` keeps octocrab's auth, base URI and transport, and hands back status,
//! headers and body. Octocrab's `retry` feature is off for the same reason: it would sleep
//! through rate limits inside a pass.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use octocrab::Octocrab;
use serde::Deserialize;
use url::Url;

use super::WatcherError;
use super::decision::{Answer, Observation, RateLimit, RunState};
use crate::base::Secret;
use crate::github::{error_message, repository_path};
use crate::identity::Provider;

/// Bound on connecting to, and on reading from, the API.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of `GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}` the
/// watcher reads.
#[derive(Deserialize)]
struct Attempt {
    status: String,
    conclusion: Option<String>,
    html_url: Option<String>,
}

pub(super) struct GithubClient {
    octocrab: Octocrab,
}

impl GithubClient {
    /// `api` is the REST base (`https://api.github.com`, or `https://<host>/api/v3`).
    pub(super) fn new(api: &Url, token: &Secret) -> Result<GithubClient, WatcherError> {
        let client_error = |e: octocrab::Error| WatcherError::Client {
            provider: "GitHub",
            message: e.to_string(),
        };
        let octocrab = Octocrab::builder()
            .base_uri(api.as_str().trim_end_matches('/'))
            .map_err(client_error)?
            .personal_token(token.expose().to_owned())
            .set_connect_timeout(Some(TIMEOUT))
            .set_read_timeout(Some(TIMEOUT))
            .build()
            .map_err(client_error)?;
        Ok(GithubClient { octocrab })
    }

    /// Asks about one run attempt. `repository` is `owner/name` from a verified token.
    pub(super) async fn observe(&self, repository: &str, run_id: u64, attempt: u32) -> Observation {
        let Some(repo_path) = repository_path(repository) else {
            return Observation {
                answer: Answer::Unreachable(format!(
                    "repository {repository:?} is not of the form owner/name"
                )),
                limits: RateLimit::default(),
            };
        };
        let route = format!("/repos/{repo_path}/actions/runs/{run_id}/attempts/{attempt}");
        let (status, headers, body) = match self.get(&route).await {
            Ok(reply) => reply,
            Err(e) => {
                return Observation {
                    answer: Answer::Unreachable(e),
                    limits: RateLimit::default(),
                };
            }
        };
        let limits = RateLimit::from_headers(Provider::Github, &headers);
        let answer = if status.is_success() {
            match serde_json::from_slice::<Attempt>(&body) {
                Ok(a) => Answer::Run(RunState {
                    status: a.status,
                    conclusion: a.conclusion,
                    web_url: a.html_url,
                }),
                Err(e) => Answer::Unreachable(format!("unexpected run attempt body: {e}")),
            }
        } else if status == StatusCode::NOT_FOUND {
            Answer::NotFound {
                repository_visible: self.repository_visible(&repo_path).await,
            }
        } else {
            Answer::Status {
                code: status.as_u16(),
                message: error_message(&body),
            }
        };
        Observation { answer, limits }
    }

    /// Whether the token sees the repository (`GET /repos/{owner}/{repo}`); `None` when that
    /// answer is neither 2xx nor 404.
    async fn repository_visible(&self, repo_path: &str) -> Option<bool> {
        match self.get(&format!("/repos/{repo_path}")).await {
            Ok((status, _, _)) if status.is_success() => Some(true),
            Ok((StatusCode::NOT_FOUND, _, _)) => Some(false),
            _ => None,
        }
    }

    async fn get(&self, route: &str) -> Result<(StatusCode, HeaderMap, Vec<u8>), String> {
        let response = self
            .octocrab
            ._get(route)
            .await
            .map_err(|e| format!("GitHub API unreachable: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self
            .octocrab
            .body_to_string(response)
            .await
            .map_err(|e| format!("GitHub API response unreadable: {e}"))?;
        Ok((status, headers, body.into_bytes()))
    }
}
