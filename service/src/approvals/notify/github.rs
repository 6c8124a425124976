//! The GitHub channel: a comment on the run's pull request (`refs/pull/<n>/merge` or `/head`),
//! otherwise on its commit.
//!
//! The typed `issues().create_comment` and `commits().create_comment` are not used: they read
//! the answer into octocrab's comment models, so a 201 whose body misses a field the model
//! requires (a GHES version, a stand-in) would count as a failure, and the retry would post
//! the comment again. The raw `_post` keeps octocrab's auth, base URI and transport, and the
//! status alone decides.

use std::time::Duration;

use octocrab::Octocrab;
use url::Url;

use super::{Address, Channel, NotifyError, is_commit_sha, with_causes};
use crate::base::Secret;
use crate::github::{error_message, repository_path};
use crate::identity::{Provider, RunIdentity};

/// Where on GitHub a notice goes. `repository` is a checked `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    PullRequest { repository: String, number: u64 },
    Commit { repository: String, sha: String },
}

impl Target {
    /// The REST route, relative to the API base.
    fn route(&self) -> String {
        match self {
            Target::PullRequest { repository, number } => {
                format!("/repos/{repository}/issues/{number}/comments")
            }
            Target::Commit { repository, sha } => {
                format!("/repos/{repository}/commits/{sha}/comments")
            }
        }
    }
}

/// The pull request of a GitHub run, or else its commit.
pub(super) fn address(run: &RunIdentity) -> Address<Target> {
    if run.provider != Provider::Github {
        return Address::NotApplicable;
    }
    let Some(repository) = repository_path(&run.repository) else {
        return Address::Invalid("the repository is not of the form owner/name".into());
    };
    if let Some(number) = run.git_ref.as_deref().and_then(pull_request_number) {
        return Address::At(Target::PullRequest { repository, number });
    }
    match run.sha.as_deref() {
        Some(sha) if is_commit_sha(sha) => Address::At(Target::Commit {
            repository,
            sha: sha.to_ascii_lowercase(),
        }),
        Some(_) => Address::Invalid("the sha is not a commit id".into()),
        None => Address::Invalid("the run has neither a pull request ref nor a sha".into()),
    }
}

/// `n` of `refs/pull/<n>/merge` or `refs/pull/<n>/head`.
fn pull_request_number(git_ref: &str) -> Option<u64> {
    let rest = git_ref.strip_prefix("refs/pull/")?;
    let (number, kind) = rest.split_once('/')?;
    if !matches!(kind, "merge" | "head") || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().filter(|n| *n > 0)
}

pub(super) struct GithubChannel {
    octocrab: Octocrab,
    /// The API base, for messages.
    api: String,
}

impl GithubChannel {
    /// `api` is the REST base (`https://api.github.com`, or `https://<host>/api/v3`).
    pub(super) fn new(
        api: &Url,
        token: &Secret,
        timeout: Duration,
    ) -> Result<GithubChannel, NotifyError> {
        if http::HeaderValue::from_str(&format!("Bearer {}", token.expose())).is_err() {
            return Err(NotifyError::Config {
                key: "github.token",
                message: "cannot be sent in an HTTP header (a newline or control character?)"
                    .into(),
            });
        }
        let client_error = |e: octocrab::Error| NotifyError::Client {
            channel: Channel::Github,
            message: with_causes(&e),
        };
        let api = api.as_str().trim_end_matches('/').to_owned();
        let octocrab = Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(client_error)?
            .personal_token(token.expose().to_owned())
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .set_write_timeout(Some(timeout))
            .build()
            .map_err(client_error)?;
        Ok(GithubChannel { octocrab, api })
    }

    pub(super) async fn deliver(&self, target: &Target, body: &str) -> Result<(), NotifyError> {
        let route = target.route();
        let endpoint = format!("{}{route}", self.api);
        let unreachable = |e: octocrab::Error| NotifyError::Unreachable {
            channel: Channel::Github,
            endpoint: endpoint.clone(),
            message: with_causes(&e),
        };
        let response = self
            .octocrab
            ._post(route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The body only explains the refusal; an unreadable one does not change it.
        let text = self
            .octocrab
            .body_to_string(response)
            .await
            .unwrap_or_default();
        Err(NotifyError::Rejected {
            channel: Channel::Github,
            endpoint,
            status: status.as_u16(),
            message: error_message(text.as_bytes()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::notify::tests::notice;

    #[test]
    fn pull_request_numbers_come_from_merge_and_head_refs_only() {
        assert_eq!(pull_request_number("refs/pull/42/merge"), Some(42));
        assert_eq!(pull_request_number("refs/pull/7/head"), Some(7));
        for other in [
            "refs/heads/main",
            "refs/pull/42",
            "refs/pull/42/",
            "refs/pull/x/merge",
            "refs/pull/+4/merge",
            "refs/pull/0/merge",
            "refs/pull/42/merge/extra",
            "refs/tags/refs/pull/42/merge",
            "refs/pull//merge",
        ] {
            assert_eq!(pull_request_number(other), None, "{other}");
        }
    }

    #[test]
    fn runs_are_addressed_by_pull_request_then_commit() {
        let mut run = notice().run;
        run.git_ref = Some("refs/pull/42/merge".into());
        assert_eq!(
            address(&run),
            Address::At(Target::PullRequest {
                repository: "acme/payments".into(),
                number: 42
            })
        );
        run.git_ref = Some("refs/heads/main".into());
        let Address::At(target) = address(&run) else {
            panic!("a push run with a sha has a commit");
        };
        assert_eq!(
            target.route(),
            "/repos/acme/payments/commits/0123456789abcdef0123456789abcdef01234567/comments"
        );
        run.sha = Some("../../issues/1".into());
        assert!(matches!(address(&run), Address::Invalid(_)));
        run.sha = None;
        assert!(matches!(address(&run), Address::Invalid(_)));
        run.repository = "acme/payments/issues".into();
        run.git_ref = Some("refs/pull/42/merge".into());
        assert!(matches!(address(&run), Address::Invalid(_)));
        run.provider = Provider::Gitlab;
        assert_eq!(address(&run), Address::NotApplicable);
    }
}
