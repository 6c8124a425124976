//! GitHub and GitLab claim sets, parsed into one typed [`RunIdentity`].
//!
//! Both issuers send ids as JSON strings; numbers are accepted too. Ids must be decimal digits,
//! so a trust rule pinning `repository_id = 42` cannot be met by `"42 "` or `"0x2a"`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::events::{self, Trigger};
use super::{IdentityError, Provider, RunId};

/// Who is asking: the CI run behind a verified token, in provider-neutral terms. Stored with
/// each credential (`hoop_credentials.identity`) and read back by the gateway for its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// GitHub `actor`; GitLab `user_login`. GitHub's token names the actor of the run's first
    /// attempt: it has no `triggering_actor` (who re-ran it), so dual control refuses to decide
    /// re-runs (`approvals::Approver::may_decide`).
    pub actor: Option<String>,
    /// GitHub `actor_id`; GitLab `user_id` (for a retried GitLab job, whoever retried it).
    /// Immutable, unlike the login: what dual control compares.
    pub actor_id: Option<String>,
    /// GitHub `event_name`; GitLab `pipeline_source`.
    pub event: Option<String>,
    /// The run's event is not one only the repository's writers start
    /// ([`RunIdentity::trigger`] is not `Trusted`): it may run a fork's code or input anyone
    /// wrote (a pull/merge request, a comment, an issue, a follow-up of such a run), or it is
    /// unknown. Kept in the stored identity for the statement rules (`run.pull_request`).
    pub pull_request: bool,
    /// Link to the run for humans (audit, approvals).
    pub run_url: Option<String>,
}

/// Longest claim string accepted: real claims are short; longer ones only bloat audit records.
const MAX_CLAIM_BYTES: usize = 1024;

/// GitHub's OIDC issuer; only its runs have a known web URL.
const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

impl RunIdentity {
    /// Who controls the run's code and input, by its event ([`events::trigger_of`]).
    pub fn trigger(&self) -> Trigger {
        events::trigger_of(self.provider, self.event.as_deref())
    }
}

/// Parses a verified claim set per the issuer's schema.
pub(super) fn parse_run_identity(
    provider: Provider,
    issuer_url: &str,
    claims: &Map<String, Value>,
) -> Result<RunIdentity, IdentityError> {
    check_claim_sizes(claims)?;
    let claims = Claims(claims);
    match provider {
        Provider::Github => github(issuer_url, claims),
        Provider::Gitlab => gitlab(issuer_url, claims),
    }
}

fn github(issuer_url: &str, c: Claims<'_>) -> Result<RunIdentity, IdentityError> {
    let repository = c.required_str("repository")?;
    let run_id = c.required_id("run_id")?;
    let attempt = c.attempt("run_attempt")?;
    let event = c.optional_str("event_name")?;
    let run_url = (issuer_url == GITHUB_ACTIONS_ISSUER).then(|| {
        format!("https://github.com/{repository}/actions/runs/{run_id}/attempts/{attempt}")
    });
    Ok(RunIdentity {
        provider: Provider::Github,
        repository_id: c.required_id("repository_id")?,
        owner: c.required_str("repository_owner")?,
        owner_id: c.required_id("repository_owner_id")?,
        attempt,
        job_id: None,
        git_ref: c.optional_str("ref")?,
        sha: c.optional_str("sha")?,
        workflow: c.optional_str("workflow_ref")?,
        environment: c.optional_str("environment")?,
        actor: c.optional_str("actor")?,
        actor_id: c.optional_id("actor_id")?,
        pull_request: events::trigger_of(Provider::Github, event.as_deref()) != Trigger::Trusted,
        event,
        run_url,
        run_id: RunId::new(run_id).map_err(|e| invalid("run_id", e.to_string()))?,
        repository,
    })
}

fn gitlab(issuer_url: &str, c: Claims<'_>) -> Result<RunIdentity, IdentityError> {
    let repository = c.required_str("project_path")?;
    let run_id = c.required_id("pipeline_id")?;
    let event = c.optional_str("pipeline_source")?;
    let run_url = Some(format!("{issuer_url}/{repository}/-/pipelines/{run_id}"));
    Ok(RunIdentity {
        provider: Provider::Gitlab,
        repository_id: c.required_id("project_id")?,
        owner: c.required_str("namespace_path")?,
        owner_id: c.required_id("namespace_id")?,
        attempt: 1,
        job_id: c.optional_id("job_id")?,
        git_ref: c.optional_str("ref")?,
        sha: c.optional_str("sha")?,
        workflow: c.optional_str("ci_config_ref_uri")?,
        environment: c.optional_str("environment")?,
        actor: c.optional_str("user_login")?,
        actor_id: c.optional_id("user_id")?,
        pull_request: events::trigger_of(Provider::Gitlab, event.as_deref()) != Trigger::Trusted,
        event,
        run_url,
        run_id: RunId::new(run_id).map_err(|e| invalid("run_id", e.to_string()))?,
        repository,
    })
}

/// Every string in the claim set, however nested, is at most [`MAX_CLAIM_BYTES`].
fn check_claim_sizes(claims: &Map<String, Value>) -> Result<(), IdentityError> {
    fn fits(value: &Value) -> bool {
        match value {
            Value::String(s) => s.len() <= MAX_CLAIM_BYTES,
            Value::Array(items) => items.iter().all(fits),
            Value::Object(map) => map
                .iter()
                .all(|(k, v)| k.len() <= MAX_CLAIM_BYTES && fits(v)),
            _ => true,
        }
    }
    match claims
        .iter()
        .find(|(name, value)| name.len() > MAX_CLAIM_BYTES || !fits(value))
    {
        None => Ok(()),
        Some((name, _)) => Err(invalid(
            &truncated(name, 64),
            format!("longer than {MAX_CLAIM_BYTES} bytes"),
        )),
    }
}

/// Typed reads of a claim set. `null` counts as absent.
#[derive(Clone, Copy)]
pub(super) struct Claims<'a>(pub(super) &'a Map<String, Value>);

impl Claims<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub(super) fn required_str(&self, name: &str) -> Result<String, IdentityError> {
        match self.optional_str(name)? {
            Some(s) if s.is_empty() => Err(invalid(name, "must not be empty")),
            Some(s) => Ok(s),
            None => Err(IdentityError::MissingClaim(name.into())),
        }
    }

    pub(super) fn optional_str(&self, name: &str) -> Result<Option<String>, IdentityError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(name, "must be a string")),
        }
    }

    fn required_id(&self, name: &str) -> Result<String, IdentityError> {
        self.optional_id(name)?
            .ok_or_else(|| IdentityError::MissingClaim(name.into()))
    }

    /// A decimal id, as a string (`"42"`) or a JSON number (`42`).
    fn optional_id(&self, name: &str) -> Result<Option<String>, IdentityError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if is_decimal(s) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(name, "must be a decimal id (digits only)")),
        }
    }

    /// A positive attempt number, as a string or a JSON number.
    fn attempt(&self, name: &str) -> Result<u32, IdentityError> {
        let id = self.required_id(name)?;
        match id.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(invalid(name, "must be a positive integer")),
        }
    }
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn invalid(claim: &str, reason: impl Into<String>) -> IdentityError {
    IdentityError::InvalidClaim {
        claim: claim.into(),
        reason: reason.into(),
    }
}

/// At most `max` characters of `s`, cut on a character boundary.
pub(super) fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test claims are objects"),
        }
    }

    fn github_claims() -> Map<String, Value> {
        object(json!({
            "repository": "octo-org/octo-repo",
            "repository_id": "42",
            "repository_owner": "octo-org",
            "repository_owner_id": "7",
            "run_id": "1001",
            "run_attempt": "2",
            "ref": "refs/heads/main",
            "sha": "abc123",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
            "actor": "octocat",
            "actor_id": "9",
            "event_name": "push",
        }))
    }

    fn parse_github(claims: &Map<String, Value>) -> Result<RunIdentity, IdentityError> {
        parse_run_identity(Provider::Github, GITHUB_ACTIONS_ISSUER, claims)
    }

    #[test]
    fn github_claims_parse_with_a_run_url() {
        let run = parse_github(&github_claims()).unwrap();
        assert_eq!(run.repository, "octo-org/octo-repo");
        assert_eq!(run.repository_id, "42");
        assert_eq!(run.owner_id, "7");
        assert_eq!(run.run_id, RunId::new("1001").unwrap());
        assert_eq!(run.attempt, 2);
        assert_eq!(run.job_id, None);
        assert!(!run.pull_request);
        assert_eq!(
            run.run_url.as_deref(),
            Some("https://github.com/octo-org/octo-repo/actions/runs/1001/attempts/2")
        );
        let enterprise = parse_run_identity(
            Provider::Github,
            "https://ghe.example/_services/token",
            &github_claims(),
        )
        .unwrap();
        assert_eq!(enterprise.run_url, None);
    }

    #[test]
    fn ids_may_be_json_numbers_but_only_digits() {
        let mut claims = github_claims();
        claims.insert("repository_id".into(), json!(42));
        claims.insert("run_attempt".into(), json!(3));
        let run = parse_github(&claims).unwrap();
        assert_eq!((run.repository_id.as_str(), run.attempt), ("42", 3));

        for bad in [
            json!("42 "),
            json!("0x2a"),
            json!(""),
            json!(-1),
            json!(4.2),
            json!(true),
        ] {
            claims.insert("repository_id".into(), bad.clone());
            let err = parse_github(&claims).unwrap_err();
            assert_eq!(err.code(), "invalid_claim", "{bad}");
        }
    }

    #[test]
    fn run_attempt_must_be_positive() {
        for bad in ["0", "-1", "99999999999"] {
            let mut claims = github_claims();
            claims.insert("run_attempt".into(), json!(bad));
            assert_eq!(
                parse_github(&claims).unwrap_err().code(),
                "invalid_claim",
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_required_claims_are_named() {
        for name in [
            "repository",
            "repository_id",
            "repository_owner_id",
            "run_id",
            "run_attempt",
        ] {
            let mut claims = github_claims();
            claims.remove(name);
            match parse_github(&claims) {
                Err(IdentityError::MissingClaim(missing)) => assert_eq!(missing, name),
                other => panic!("{name}: {other:?}"),
            }
            claims.insert(name.into(), Value::Null);
            assert_eq!(parse_github(&claims).unwrap_err().code(), "missing_claim");
        }
    }

    #[test]
    fn pull_request_driven_and_unknown_events_are_flagged() {
        for (event, trigger) in [
            ("push", Trigger::Trusted),
            ("workflow_dispatch", Trigger::Trusted),
            ("merge_group", Trigger::Trusted),
            ("pull_request", Trigger::PullRequest),
            ("pull_request_target", Trigger::PullRequest),
            ("pull_request_review", Trigger::PullRequest),
            ("pull_request_review_comment", Trigger::PullRequest),
            ("issue_comment", Trigger::PullRequest),
            ("issues", Trigger::PullRequest),
            ("discussion_comment", Trigger::PullRequest),
            ("workflow_run", Trigger::PullRequest),
            ("check_suite", Trigger::PullRequest),
            ("dynamic", Trigger::Unknown),
        ] {
            let mut claims = github_claims();
            claims.insert("event_name".into(), json!(event));
            let run = parse_github(&claims).unwrap();
            assert_eq!(run.trigger(), trigger, "{event}");
            assert_eq!(run.pull_request, trigger != Trigger::Trusted, "{event}");
        }
        let mut claims = github_claims();
        claims.remove("event_name");
        let run = parse_github(&claims).unwrap();
        assert_eq!((run.trigger(), run.pull_request), (Trigger::Unknown, true));
    }

    #[test]
    fn gitlab_sources_are_flagged() {
        for (source, trigger) in [
            ("push", Trigger::Trusted),
            ("merge_request_event", Trigger::PullRequest),
            ("external_pull_request_event", Trigger::PullRequest),
            ("parent_pipeline", Trigger::Unknown),
            ("trigger", Trigger::Unknown),
        ] {
            let claims = object(json!({
                "project_path": "group/project",
                "project_id": "20",
                "namespace_path": "group",
                "namespace_id": "72",
                "pipeline_id": "574",
                "pipeline_source": source,
            }));
            let run = parse_run_identity(Provider::Gitlab, "https://gitlab.example.com", &claims)
                .unwrap();
            assert_eq!(run.trigger(), trigger, "{source}");
            assert_eq!(run.pull_request, trigger != Trigger::Trusted, "{source}");
        }
    }

    #[test]
    fn oversized_claims_are_refused_even_nested() {
        let mut claims = github_claims();
        claims.insert(
            "extra".into(),
            json!(["ok", "x".repeat(MAX_CLAIM_BYTES + 1)]),
        );
        match parse_github(&claims) {
            Err(IdentityError::InvalidClaim { claim, .. }) => assert_eq!(claim, "extra"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gitlab_claims_parse() {
        let claims = object(json!({
            "project_path": "group/project",
            "project_id": "20",
            "namespace_path": "group",
            "namespace_id": 72,
            "pipeline_id": "574",
            "pipeline_source": "merge_request_event",
            "job_id": "302",
            "ref": "main",
            "user_login": "sample-user",
            "user_id": "1",
            "ci_config_ref_uri": "gitlab.example.com/group/project//.gitlab-ci.yml@refs/heads/main",
        }));
        let run =
            parse_run_identity(Provider::Gitlab, "https://gitlab.example.com", &claims).unwrap();
        assert_eq!(run.provider, Provider::Gitlab);
        assert_eq!(run.repository, "group/project");
        assert_eq!(run.owner_id, "72");
        assert_eq!(run.run_id, RunId::new("574").unwrap());
        assert_eq!(run.attempt, 1);
        assert_eq!(run.job_id.as_deref(), Some("302"));
        assert_eq!(run.actor.as_deref(), Some("sample-user"));
        assert!(run.pull_request);
        assert_eq!(
            run.run_url.as_deref(),
            Some("https://gitlab.example.com/group/project/-/pipelines/574")
        );
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("hi", 200), "hi");
    }
}
