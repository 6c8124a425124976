//! Which events start a run that only the repository's writers control.
//!
//! A run is trusted with a database only when nobody outside the people who can push to the
//! repository chose its code or its input. Every event is on one of three lists per provider
//! (see `docs/run-identity.md` for the reasoning behind each):
//! - trusted: started by someone with write access, or by the repository itself;
//! - pull-request-driven: known to run code from a fork, or input anyone can write (a comment,
//!   an issue, a discussion), or to follow from such a run;
//! - anything else, a missing event included, is unknown: it counts as pull-request-driven
//!   (deny by default) unless a trust rule names the event exactly.

use serde::Serialize;

use super::Provider;

/// What a run's event says about who controls its code and input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Only people with write access, or the repository itself, start such runs.
    Trusted,
    /// Code or input from outside the repository's writers, or a run that follows from one.
    PullRequest,
    /// An event on neither list, or none: pull-request-driven unless a rule names it.
    Unknown,
}

/// GitHub `event_name`s whose runs only writers start. `merge_group`: a pull request enters
/// the merge queue only once branch protection is satisfied (reviews included), and only a
/// writer can queue it, so the queue runs what a push to the branch would run a moment later.
/// `repository_dispatch` and `workflow_dispatch` need a token or a login with write access.
const GITHUB_TRUSTED: &[&str] = &[
    "push",
    "workflow_dispatch",
    "repository_dispatch",
    "schedule",
    "merge_group",
    "release",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "registry_package",
    "page_build",
    "branch_protection_rule",
    "label",
    "milestone",
];

/// GitHub `event_name`s whose runs can carry code or input from anyone. `pull_request*` run a
/// pull request's code or act on it; `issue_comment`, `issues`, `discussion*` carry text anyone
/// can write; `workflow_run` follows another workflow, which may be a fork's pull request run,
/// and typically downloads its artifacts; `check_run`/`check_suite`/`status` report on any
/// commit, a fork's head included; `fork`, `watch` and `gollum` (wiki edits, open to anyone
/// on public repositories by default) are started by anyone.
const GITHUB_PULL_REQUEST: &[&str] = &[
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "issues",
    "discussion",
    "discussion_comment",
    "workflow_run",
    "check_run",
    "check_suite",
    "status",
    "fork",
    "watch",
    "gollum",
];

/// GitLab `pipeline_source`s only project members with the right role start. `chat`:
/// ChatOps runs a job for a chat user linked to a GitLab account with the Developer role, who
/// could push the same job; `api`, `web` and `webide` likewise need a member.
const GITLAB_TRUSTED: &[&str] = &["push", "schedule", "web", "api", "webide", "chat"];

/// GitLab `pipeline_source`s that run a merge request's code: merge request pipelines (merge
/// trains included, and those of fork merge requests run in the parent project) and pipelines
/// for GitHub pull requests of CI/CD-for-external-repositories projects.
const GITLAB_PULL_REQUEST: &[&str] = &["merge_request_event", "external_pull_request_event"];

// Left unknown on purpose, so they count as pull-request-driven unless a rule names them:
// GitLab `parent_pipeline` (a child pipeline: the token does not say whether its parent was a
// merge request pipeline), `pipeline` (a multi-project downstream pipeline, same problem) and
// `trigger` (whoever holds a trigger token, often another project's pipeline, with variables
// of their choosing); GitHub `dynamic` and every event added after this list was written.

/// GitHub `event_name`s on neither list: unknown to the trust rules, but real events, so a rule
/// that names one exactly means it (`config check` does not call them typos).
const GITHUB_OTHER: &[&str] = &[
    "dynamic",
    "public",
    "project",
    "project_card",
    "project_column",
];

/// GitLab `pipeline_source`s on neither list (see above), for the same purpose.
const GITLAB_OTHER: &[&str] = &[
    "parent_pipeline",
    "pipeline",
    "trigger",
    "external",
    "ondemand_dast_scan",
    "ondemand_dast_validation",
    "security_orchestration_policy",
    "container_registry_push",
    "duo_workflow",
    "pipeline_execution_policy_schedule",
];

/// Every event of `provider` hoop knows of: both lists and the events left unknown on purpose.
pub(super) fn known(provider: Provider) -> Vec<&'static str> {
    let lists: [&[&str]; 3] = match provider {
        Provider::Github => [GITHUB_TRUSTED, GITHUB_PULL_REQUEST, GITHUB_OTHER],
        Provider::Gitlab => [GITLAB_TRUSTED, GITLAB_PULL_REQUEST, GITLAB_OTHER],
    };
    lists.concat()
}

/// The trigger of a run started by `event` (GitHub `event_name`, GitLab `pipeline_source`).
pub fn trigger_of(provider: Provider, event: Option<&str>) -> Trigger {
    let Some(event) = event else {
        return Trigger::Unknown;
    };
    let (trusted, pull_request) = match provider {
        Provider::Github => (GITHUB_TRUSTED, GITHUB_PULL_REQUEST),
        Provider::Gitlab => (GITLAB_TRUSTED, GITLAB_PULL_REQUEST),
    };
    // Exact, case-sensitive: both forges send lowercase names, and `Push` is not `push`.
    if trusted.contains(&event) {
        Trigger::Trusted
    } else if pull_request.contains(&event) {
        Trigger::PullRequest
    } else {
        Trigger::Unknown
    }
}

/// The claim that names the event in `provider`'s tokens, which a trust rule pins to opt in
/// to an unknown event.
pub fn event_claim(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "event_name",
        Provider::Gitlab => "pipeline_source",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_events_per_list() {
        for event in GITHUB_TRUSTED {
            assert_eq!(trigger_of(Provider::Github, Some(event)), Trigger::Trusted);
        }
        for event in [
            "pull_request",
            "pull_request_target",
            "pull_request_review",
            "pull_request_review_comment",
            "issue_comment",
            "issues",
            "discussion",
            "discussion_comment",
            "workflow_run",
            "check_run",
            "check_suite",
            "status",
            "fork",
            "watch",
            "gollum",
        ] {
            assert_eq!(
                trigger_of(Provider::Github, Some(event)),
                Trigger::PullRequest,
                "{event}"
            );
        }
        for event in [
            "dynamic",
            "workflow_call",
            "Push",
            "push ",
            "",
            "merge_request_event",
        ] {
            assert_eq!(
                trigger_of(Provider::Github, Some(event)),
                Trigger::Unknown,
                "{event:?}"
            );
        }
        assert_eq!(trigger_of(Provider::Github, None), Trigger::Unknown);
    }

    #[test]
    fn gitlab_sources_per_list() {
        for source in ["push", "schedule", "web", "api", "webide", "chat"] {
            assert_eq!(
                trigger_of(Provider::Gitlab, Some(source)),
                Trigger::Trusted,
                "{source}"
            );
        }
        for source in ["merge_request_event", "external_pull_request_event"] {
            assert_eq!(
                trigger_of(Provider::Gitlab, Some(source)),
                Trigger::PullRequest,
                "{source}"
            );
        }
        for source in [
            "parent_pipeline",
            "pipeline",
            "trigger",
            "external",
            "ondemand_dast_scan",
            "security_orchestration_policy",
            "pull_request",
        ] {
            assert_eq!(
                trigger_of(Provider::Gitlab, Some(source)),
                Trigger::Unknown,
                "{source}"
            );
        }
        assert_eq!(trigger_of(Provider::Gitlab, None), Trigger::Unknown);
    }

    #[test]
    fn no_event_is_on_two_lists() {
        for provider in [Provider::Github, Provider::Gitlab] {
            let mut all = known(provider);
            let count = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), count, "{provider:?}");
        }
    }

    #[test]
    fn the_events_left_unknown_are_unknown() {
        for event in GITHUB_OTHER {
            assert_eq!(trigger_of(Provider::Github, Some(event)), Trigger::Unknown);
        }
        for source in GITLAB_OTHER {
            assert_eq!(trigger_of(Provider::Gitlab, Some(source)), Trigger::Unknown);
        }
    }
}
