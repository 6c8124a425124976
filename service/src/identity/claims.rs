//! GitHub and GitLab claim sets, parsed into one typed [`RunIdentity`].

use serde::Serialize;

use super::{Provider, RunId};

/// Who is asking: the CI run behind a verified token, in provider-neutral terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunIdentity {
    pub provider: Provider,
    /// GitHub `repository` (`owner/name`); GitLab `project_path`.
    pub repository: String,
    /// GitHub `repository_id`; GitLab `project_id`. Names can be recycled; ids cannot.
    pub repository_id: String,
    /// GitHub `repository_owner`; GitLab `namespace_path`.
    pub owner: String,
    /// GitHub `repository_owner_id`; GitLab `namespace_id`.
    pub owner_id: String,
    /// GitHub `run_id`; GitLab `pipeline_id`.
    pub run_id: RunId,
    /// GitHub `run_attempt`; GitLab has no attempts (always 1; a retried job has a new job id).
    pub attempt: u32,
    /// GitLab `job_id`; GitHub tokens carry no job id.
    pub job_id: Option<String>,
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    /// GitHub `workflow_ref`; GitLab `ci_config_ref_uri`.
    pub workflow: Option<String>,
    pub environment: Option<String>,
    /// GitHub `actor`; GitLab `user_login`.
    pub actor: Option<String>,
    /// GitHub `actor_id`; GitLab `user_id`.
    pub actor_id: Option<String>,
    /// GitHub `event_name`; GitLab `pipeline_source`.
    pub event: Option<String>,
    /// The run was started by a pull/merge request event, which may run code from a fork.
    pub pull_request: bool,
    /// Link to the run for humans (audit, approvals).
    pub run_url: Option<String>,
}
