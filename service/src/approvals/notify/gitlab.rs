//! The GitLab channel: a note on the job's merge request (`refs/merge-requests/<iid>/head` or
//! `/merge`), otherwise a comment on its commit, through the gitlab crate's typed endpoints
//! (`CreateMergeRequestNote`, `CommentOnCommit`) over a transport of hoop's own.
//!
//! The transport is [`crate::gitlab_rest::GitlabRest`], shared with the watcher. The answer is only
//! checked for its status ([`gitlab::api::ignore`]), so a note that was created is never posted
//! again because its body did not parse.

use std::time::Duration;

use gitlab::api::projects::merge_requests::notes::CreateMergeRequestNote;
use gitlab::api::projects::repository::commits::CommentOnCommit;
use gitlab::api::{ApiError, AsyncQuery};
use url::Url;

use super::{Address, Channel, NotifyError, body_excerpt, is_commit_sha, shown_url, with_causes};
use crate::base::Secret;
use crate::gitlab_rest::{GitlabRest, GitlabRestError};
use crate::identity::{Provider, RunIdentity};

/// Where on GitLab a notice goes: in the project with id `project`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    MergeRequest { project: u64, iid: u64 },
    Commit { project: u64, sha: String },
}

impl Target {
    /// The REST route, relative to `<instance>/api/v4/`.
    fn route(&self) -> String {
        match self {
            Target::MergeRequest { project, iid } => {
                format!("projects/{project}/merge_requests/{iid}/notes")
            }
            Target::Commit { project, sha } => {
                format!("projects/{project}/repository/commits/{sha}/comments")
            }
        }
    }
}

/// The merge request of a GitLab job, or else its commit. The project is addressed by id
/// (`repository_id`): a path can be renamed or recycled, an id cannot.
pub(super) fn address(run: &RunIdentity) -> Address<Target> {
    if run.provider != Provider::Gitlab {
        return Address::NotApplicable;
    }
    let project = match run.repository_id.parse::<u64>() {
        Ok(id) if run.repository_id.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => return Address::Invalid("the project id is not a number".into()),
    };
    if let Some(iid) = run.git_ref.as_deref().and_then(merge_request_iid) {
        return Address::At(Target::MergeRequest { project, iid });
    }
    match run.sha.as_deref() {
        Some(sha) if is_commit_sha(sha) => Address::At(Target::Commit {
            project,
            sha: sha.to_ascii_lowercase(),
        }),
        Some(_) => Address::Invalid("the sha is not a commit id".into()),
        None => Address::Invalid("the job has neither a merge request ref nor a sha".into()),
    }
}

/// `iid` of `refs/merge-requests/<iid>/head` or `refs/merge-requests/<iid>/merge`.
fn merge_request_iid(git_ref: &str) -> Option<u64> {
    let rest = git_ref.strip_prefix("refs/merge-requests/")?;
    let (iid, kind) = rest.split_once('/')?;
    if !matches!(kind, "head" | "merge") || !iid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    iid.parse().ok().filter(|n| *n > 0)
}

pub(super) struct GitlabChannel {
    rest: GitlabRest,
}

impl GitlabChannel {
    /// `instance` is the GitLab URL, with a path if GitLab is served under one.
    pub(super) fn new(
        instance: &Url,
        token: &Secret,
        timeout: Duration,
    ) -> Result<GitlabChannel, NotifyError> {
        let rest = GitlabRest::new(&shown_url(instance), token, timeout).map_err(|e| match e {
            GitlabRestError::BadToken => NotifyError::Config {
                key: "gitlab.token",
                message: "cannot be sent in an HTTP header (a newline or control character?)"
                    .into(),
            },
            other => NotifyError::Client {
                channel: Channel::Gitlab,
                message: with_causes(&other),
            },
        })?;
        Ok(GitlabChannel { rest })
    }

    pub(super) async fn deliver(&self, target: &Target, body: &str) -> Result<(), NotifyError> {
        let endpoint = format!("{}{}", self.rest.api(), target.route());
        let result = match target {
            Target::MergeRequest { project, iid } => {
                let note = CreateMergeRequestNote::builder()
                    .project(*project)
                    .merge_request(*iid)
                    .body(body)
                    .build()
                    .map_err(|e| self.unbuildable(e.to_string()))?;
                gitlab::api::ignore(note).query_async(&self.rest).await
            }
            Target::Commit { project, sha } => {
                let comment = CommentOnCommit::builder()
                    .project(*project)
                    .commit(sha.as_str())
                    .note(body)
                    .build()
                    .map_err(|e| self.unbuildable(e.to_string()))?;
                gitlab::api::ignore(comment).query_async(&self.rest).await
            }
        };
        result.map_err(|e| from_api_error(e, endpoint))
    }

    fn unbuildable(&self, message: String) -> NotifyError {
        NotifyError::Client {
            channel: Channel::Gitlab,
            message: format!("cannot build the request: {message}"),
        }
    }
}

/// An error of the gitlab crate, with the endpoint it concerns.
fn from_api_error(error: ApiError<GitlabRestError>, endpoint: String) -> NotifyError {
    let rejected = |status: http::StatusCode, message: String| NotifyError::Rejected {
        channel: Channel::Gitlab,
        endpoint: endpoint.clone(),
        status: status.as_u16(),
        message,
    };
    match error {
        ApiError::Client { source } => NotifyError::Unreachable {
            channel: Channel::Gitlab,
            endpoint: endpoint.clone(),
            message: with_causes(&source),
        },
        ApiError::GitlabWithStatus { status, msg } => rejected(status, msg),
        ApiError::GitlabObjectWithStatus { status, obj }
        | ApiError::GitlabUnrecognizedWithStatus { status, obj } => {
            rejected(status, obj.to_string())
        }
        ApiError::GitlabService { status, data } => rejected(status, body_excerpt(&data)),
        ApiError::GitlabRateLimited { .. } => {
            rejected(http::StatusCode::TOO_MANY_REQUESTS, "rate limited".into())
        }
        other => NotifyError::Unreachable {
            channel: Channel::Gitlab,
            endpoint: endpoint.clone(),
            message: with_causes(&other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::notify::tests::notice;

    #[test]
    fn merge_request_iids_come_from_head_and_merge_refs_only() {
        assert_eq!(merge_request_iid("refs/merge-requests/3/head"), Some(3));
        assert_eq!(merge_request_iid("refs/merge-requests/12/merge"), Some(12));
        for other in [
            "main",
            "refs/heads/main",
            "refs/merge-requests/3",
            "refs/merge-requests/x/head",
            "refs/merge-requests/0/head",
            "refs/merge-requests/3/train",
            "refs/merge-requests/3/head/x",
        ] {
            assert_eq!(merge_request_iid(other), None, "{other}");
        }
    }

    #[test]
    fn jobs_are_addressed_by_project_id() {
        let mut run = notice().run;
        assert_eq!(address(&run), Address::NotApplicable);
        run.provider = Provider::Gitlab;
        run.repository_id = "7".into();
        run.git_ref = Some("refs/merge-requests/3/head".into());
        assert_eq!(
            address(&run),
            Address::At(Target::MergeRequest { project: 7, iid: 3 })
        );
        run.git_ref = Some("main".into());
        let Address::At(target) = address(&run) else {
            panic!("a branch job with a sha has a commit");
        };
        assert_eq!(
            target.route(),
            "projects/7/repository/commits/0123456789abcdef0123456789abcdef01234567/comments"
        );
        run.repository_id = "+7".into();
        assert!(matches!(address(&run), Address::Invalid(_)));
    }

    #[test]
    fn the_api_base_keeps_a_path_prefix_and_drops_user_info() {
        let token = Secret::new("glpat-x");
        for (instance, expected) in [
            ("https://gitlab.com", "https://gitlab.com/api/v4/"),
            (
                "https://user:pw@example.com/gitlab/",
                "https://example.com/gitlab/api/v4/",
            ),
        ] {
            let channel = GitlabChannel::new(
                &Url::parse(instance).unwrap(),
                &token,
                Duration::from_secs(1),
            )
            .unwrap();
            assert_eq!(channel.rest.api().as_str(), expected);
        }
    }

    #[test]
    fn errors_keep_their_status_and_endpoint() {
        let e = from_api_error(
            ApiError::GitlabWithStatus {
                status: http::StatusCode::FORBIDDEN,
                msg: "403 Forbidden".into(),
            },
            "https://gitlab.example/api/v4/projects/7/merge_requests/3/notes".into(),
        );
        assert_eq!(
            e.to_string(),
            "GitLab: POST https://gitlab.example/api/v4/projects/7/merge_requests/3/notes \
             answered HTTP 403: 403 Forbidden"
        );
        assert!(e.is_retryable());
    }
}
