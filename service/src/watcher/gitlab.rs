//! The GitLab side of the watcher: the gitlab crate's `Job` endpoint, queried with
//! [`AsyncQuery`] over a small transport of hoop's own, reduced to an [`Observation`].
//!
//! The transport is [`crate::gitlab_rest::GitlabRest`] (it says why the crate's `AsyncGitlab` is
//! not used); the crate builds the request and reads the answer, 429 rate-limit headers
//! included.

use std::time::Duration;

use gitlab::api::projects::Project;
use gitlab::api::projects::jobs::Job;
use gitlab::api::{ApiError, AsyncQuery};
use serde::Deserialize;

use super::WatcherError;
use super::decision::{Answer, Observation, RateLimit, RunState};
use crate::base::Secret;
use crate::gitlab_rest::{GitlabRest, GitlabRestError};

/// Bound on one request, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of `GET /api/v4/projects/{id}/jobs/{job_id}` the watcher reads.
#[derive(Deserialize)]
struct JobStatus {
    status: String,
    web_url: Option<String>,
}

pub(super) struct GitlabClient {
    rest: GitlabRest,
}

impl GitlabClient {
    /// `instance` is the GitLab URL (`https://gitlab.com`, or a self-managed one, with a path
    /// if GitLab is served under one).
    pub(super) fn new(instance: &str, token: &Secret) -> Result<GitlabClient, WatcherError> {
        let rest = GitlabRest::new(instance, token, TIMEOUT).map_err(|e| match e {
            GitlabRestError::BadToken => WatcherError::BadToken("gitlab_token"),
            other => WatcherError::Client {
                provider: "GitLab",
                message: other.to_string(),
            },
        })?;
        Ok(GitlabClient { rest })
    }

    /// Asks about one job of the project with id `project_id`.
    pub(super) async fn observe(&self, project_id: u64, job_id: u64) -> Observation {
        let endpoint = Job::builder().project(project_id).job(job_id).build();
        let result: Result<JobStatus, _> = match endpoint {
            Ok(endpoint) => endpoint.query_async(&self.rest).await,
            Err(e) => {
                return Observation {
                    answer: Answer::Unreachable(format!("cannot build the job request: {e}")),
                    limits: RateLimit::default(),
                };
            }
        };
        match result {
            Ok(job) => Observation {
                answer: Answer::Run(RunState {
                    status: job.status,
                    conclusion: None,
                    web_url: job.web_url,
                }),
                limits: RateLimit::default(),
            },
            Err(e) => {
                let observation = from_error(e);
                if matches!(observation.answer, Answer::Status { code: 404, .. }) {
                    return Observation {
                        answer: Answer::NotFound {
                            repository_visible: self.project_visible(project_id).await,
                        },
                        limits: observation.limits,
                    };
                }
                observation
            }
        }
    }

    /// Whether the token sees the project (`GET /api/v4/projects/{id}`); `None` when that
    /// answer is neither 2xx nor 404.
    async fn project_visible(&self, project_id: u64) -> Option<bool> {
        let endpoint = Project::builder().project(project_id).build().ok()?;
        match gitlab::api::ignore(endpoint).query_async(&self.rest).await {
            Ok(()) => Some(true),
            Err(e) => match from_error(e).answer {
                Answer::Status { code: 404, .. } => Some(false),
                _ => None,
            },
        }
    }
}

/// What an error of the gitlab crate says, as an observation.
fn from_error(error: ApiError<GitlabRestError>) -> Observation {
    let status = |code: http::StatusCode, message: String| Observation {
        answer: Answer::Status {
            code: code.as_u16(),
            message,
        },
        limits: RateLimit::default(),
    };
    match error {
        // The crate reads the 429 headers into this variant, with 0 for a missing one.
        ApiError::GitlabRateLimited {
            rl_remaining,
            rl_reset,
            retry_after,
            ..
        } => Observation {
            answer: Answer::Status {
                code: 429,
                message: "rate limited".into(),
            },
            limits: RateLimit {
                remaining: Some(rl_remaining as u64),
                reset: (rl_reset.timestamp() > 0).then_some(rl_reset),
                retry_after: (!retry_after.is_zero()).then_some(retry_after),
            },
        },
        ApiError::GitlabWithStatus { status: code, msg } => status(code, msg),
        ApiError::GitlabObjectWithStatus { status: code, obj }
        | ApiError::GitlabUnrecognizedWithStatus { status: code, obj } => {
            status(code, obj.to_string())
        }
        ApiError::GitlabService { status: code, data } => status(
            code,
            String::from_utf8_lossy(&data).chars().take(200).collect(),
        ),
        other => Observation {
            answer: Answer::Unreachable(format!("GitLab API: {other}")),
            limits: RateLimit::default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_status_and_rate_limit() {
        let reset = chrono::DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let o = from_error(ApiError::GitlabRateLimited {
            rl_limit: 0,
            rl_name: String::new(),
            rl_observed: 0,
            rl_remaining: 0,
            rl_reset: reset,
            retry_after: Duration::ZERO,
        });
        assert!(matches!(o.answer, Answer::Status { code: 429, .. }));
        assert_eq!(o.limits.reset, Some(reset));
        assert_eq!(o.limits.retry_after, None);
        let o = from_error(ApiError::GitlabWithStatus {
            status: http::StatusCode::UNAUTHORIZED,
            msg: "401 Unauthorized".into(),
        });
        assert_eq!(
            o.answer,
            Answer::Status {
                code: 401,
                message: "401 Unauthorized".into()
            }
        );
        let o = from_error(ApiError::GitlabService {
            status: http::StatusCode::BAD_GATEWAY,
            data: b"<html>".to_vec(),
        });
        assert!(matches!(o.answer, Answer::Status { code: 502, .. }));
    }
}
