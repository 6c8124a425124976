//! The claims each issuer kind sends and what their values look like, as GitHub and GitLab
//! document them: what `hoop config check` holds trust rules against.
//!
//! GitHub: <https://docs.github.com/en/actions/reference/security/oidc> (and the
//! `claims_supported` of its discovery document); repository custom properties an organization
//! adds to its tokens arrive as `repo_property_<name>`. GitLab:
//! <https://docs.gitlab.com/ci/secrets/id_token_authentication/>.

use super::Provider;
use super::events;

/// What a claim's value looks like, as far as a matcher can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimValue {
    /// Free text.
    Text,
    /// A decimal id, as a string or a JSON number.
    Id,
    /// `"true"` or `"false"`, as a string.
    Flag,
    /// Seconds since the epoch, different in every token.
    Time,
    /// An array or an object: never matched by any matcher.
    Structure,
    /// One of a closed set of values.
    OneOf(&'static [&'static str]),
    /// The run's event ([`known_events`]); a set that grows as the forge adds events.
    Event,
}

/// One claim an issuer kind sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimSpec {
    pub name: &'static str,
    pub value: ClaimValue,
}

const fn spec(name: &'static str, value: ClaimValue) -> ClaimSpec {
    ClaimSpec { name, value }
}

use ClaimValue::{Event, Flag, Id, OneOf, Structure, Text, Time};

const REF_TYPES: &[&str] = &["branch", "tag"];

const GITHUB: &[ClaimSpec] = &[
    spec("aud", Text),
    spec("iss", Text),
    spec("sub", Text),
    spec("jti", Text),
    spec("iat", Time),
    spec("nbf", Time),
    spec("exp", Time),
    spec("actor", Text),
    spec("actor_id", Id),
    spec("base_ref", Text),
    spec("check_run_id", Id),
    spec("enterprise", Text),
    spec("enterprise_id", Id),
    spec("environment", Text),
    spec("environment_node_id", Text),
    spec("event_name", Event),
    spec("head_ref", Text),
    spec("issuer_scope", Text),
    spec("job_workflow_ref", Text),
    spec("job_workflow_sha", Text),
    spec("ref", Text),
    spec("ref_protected", Flag),
    spec("ref_type", OneOf(REF_TYPES)),
    spec("repository", Text),
    spec("repository_id", Id),
    spec("repository_owner", Text),
    spec("repository_owner_id", Id),
    spec(
        "repository_visibility",
        OneOf(&["public", "private", "internal"]),
    ),
    spec("run_attempt", Id),
    spec("run_id", Id),
    spec("run_number", Id),
    spec(
        "runner_environment",
        OneOf(&["github-hosted", "self-hosted"]),
    ),
    spec("sha", Text),
    spec("workflow", Text),
    spec("workflow_ref", Text),
    spec("workflow_sha", Text),
];

const GITLAB: &[ClaimSpec] = &[
    spec("aud", Text),
    spec("iss", Text),
    spec("sub", Text),
    spec("jti", Text),
    spec("iat", Time),
    spec("nbf", Time),
    spec("exp", Time),
    spec("namespace_id", Id),
    spec("namespace_path", Text),
    spec("project_id", Id),
    spec("project_path", Text),
    spec(
        "project_visibility",
        OneOf(&["public", "private", "internal"]),
    ),
    spec("user_id", Id),
    spec("user_login", Text),
    spec("user_email", Text),
    spec(
        "user_access_level",
        OneOf(&[
            "guest",
            "planner",
            "reporter",
            "developer",
            "maintainer",
            "owner",
        ]),
    ),
    spec("user_identities", Structure),
    spec("groups_direct", Structure),
    spec("pipeline_id", Id),
    spec("pipeline_source", Event),
    spec("job_id", Id),
    spec("ref", Text),
    spec("ref_type", OneOf(REF_TYPES)),
    spec("ref_path", Text),
    spec("ref_protected", Flag),
    spec("environment", Text),
    spec("environment_protected", Flag),
    spec(
        "deployment_tier",
        OneOf(&["production", "staging", "testing", "development", "other"]),
    ),
    spec(
        "environment_action",
        OneOf(&["start", "prepare", "stop", "verify", "access"]),
    ),
    spec("runner_id", Id),
    spec(
        "runner_environment",
        OneOf(&["gitlab-hosted", "self-hosted"]),
    ),
    spec("sha", Text),
    spec("ci_config_ref_uri", Text),
    spec("ci_config_sha", Text),
];

/// The prefix of the claims GitHub adds for repository custom properties an organization or
/// enterprise selected (`repo_property_team`).
pub const GITHUB_CUSTOM_PROPERTY_PREFIX: &str = "repo_property_";

/// Every claim `provider`'s tokens may carry, in the order its documentation lists them
/// (GitHub's custom property claims aside).
pub fn claims(provider: Provider) -> &'static [ClaimSpec] {
    match provider {
        Provider::Github => GITHUB,
        Provider::Gitlab => GITLAB,
    }
}

/// The claim `name` of `provider`'s tokens, if they carry one; a GitHub custom property claim
/// is free text.
pub fn claim(provider: Provider, name: &str) -> Option<ClaimSpec> {
    if let Some(spec) = claims(provider).iter().find(|c| c.name == name) {
        return Some(*spec);
    }
    (provider == Provider::Github && name.starts_with(GITHUB_CUSTOM_PROPERTY_PREFIX)).then_some(
        ClaimSpec {
            name: GITHUB_CUSTOM_PROPERTY_PREFIX,
            value: Text,
        },
    )
}

/// The claims of `provider`'s tokens that name the repository (project) or its owner, the id
/// and the path of the repository first. A trust rule that pins one of them is a rule "for"
/// that repository or owner: refusals name such a rule only to tokens it is for.
pub fn repository_claims(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Github => &[
            "repository_id",
            "repository",
            "repository_owner_id",
            "repository_owner",
            "enterprise_id",
            "enterprise",
        ],
        Provider::Gitlab => &[
            "project_id",
            "project_path",
            "namespace_id",
            "namespace_path",
        ],
    }
}

/// What `provider` calls a repository.
pub fn repository_word(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "repository",
        Provider::Gitlab => "project",
    }
}

/// The claim of `provider` that says what `name`, a claim of the other forge, says: GitLab's
/// `project_id` is GitHub's `repository_id`, GitHub's `event_name` is GitLab's
/// `pipeline_source`.
pub fn counterpart(provider: Provider, name: &str) -> Option<&'static str> {
    const PAIRS: &[(&str, &str)] = &[
        ("repository", "project_path"),
        ("repository_id", "project_id"),
        ("repository_owner", "namespace_path"),
        ("repository_owner_id", "namespace_id"),
        ("run_id", "pipeline_id"),
        ("event_name", "pipeline_source"),
        ("actor", "user_login"),
        ("actor_id", "user_id"),
        ("workflow_ref", "ci_config_ref_uri"),
        ("workflow_sha", "ci_config_sha"),
        ("repository_visibility", "project_visibility"),
    ];
    PAIRS.iter().find_map(|&(github, gitlab)| match provider {
        Provider::Github if name == gitlab => Some(github),
        Provider::Gitlab if name == github => Some(gitlab),
        _ => None,
    })
}

/// The forge's name as people write it.
pub fn forge_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "GitHub",
        Provider::Gitlab => "GitLab",
    }
}

/// Every event `provider` names in its event claim that hoop knows of: its trusted and
/// pull-request-driven lists and the events left unknown on purpose ([`events`]).
pub fn known_events(provider: Provider) -> Vec<&'static str> {
    events::known(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_claim_is_listed_once_and_the_parsed_ones_are_there() {
        for provider in [Provider::Github, Provider::Gitlab] {
            let names: Vec<_> = claims(provider).iter().map(|c| c.name).collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{provider:?}");
        }
        // What claims.rs reads into a RunIdentity.
        for name in [
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "run_id",
            "run_attempt",
            "event_name",
            "ref",
            "sha",
            "workflow_ref",
            "environment",
            "actor",
            "actor_id",
        ] {
            assert!(claim(Provider::Github, name).is_some(), "{name}");
        }
        for name in [
            "project_path",
            "project_id",
            "namespace_path",
            "namespace_id",
            "pipeline_id",
            "pipeline_source",
            "job_id",
            "ref",
            "sha",
            "ci_config_ref_uri",
            "environment",
            "user_login",
            "user_id",
        ] {
            assert!(claim(Provider::Gitlab, name).is_some(), "{name}");
        }
    }

    #[test]
    fn custom_properties_are_github_claims_only() {
        assert_eq!(
            claim(Provider::Github, "repo_property_team").map(|c| c.value),
            Some(Text)
        );
        assert_eq!(claim(Provider::Gitlab, "repo_property_team"), None);
        assert_eq!(claim(Provider::Github, "triggering_actor"), None);
    }

    #[test]
    fn counterparts_cross_forges_only() {
        assert_eq!(
            counterpart(Provider::Github, "project_id"),
            Some("repository_id")
        );
        assert_eq!(
            counterpart(Provider::Gitlab, "event_name"),
            Some("pipeline_source")
        );
        assert_eq!(counterpart(Provider::Github, "repository_id"), None);
    }
}
