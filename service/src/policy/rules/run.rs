//! `[rules.run]`: conditions on the run a session belongs to (its verified claims, and the
//! trust rule and role its credential was granted).

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use super::Run;

/// `[rules.run]`: conditions on the run. Values are globs in the claim dialect (`*` stops at
/// `/`, `**` crosses it; case-insensitive); a claim the run's token does not carry never
/// matches.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConditions {
    /// The `[[trust]] name` of the rule that granted the run's credential.
    #[serde(default)]
    pub trust: Vec<String>,
    /// The upstream role the session runs as (the trust rule's `role`, or the connection's
    /// `default_role`).
    #[serde(default)]
    pub role: Vec<String>,
    /// `github` or `gitlab`.
    #[serde(default)]
    pub provider: Vec<String>,
    /// GitHub `owner/name`; GitLab `group/project`.
    #[serde(default)]
    pub repository: Vec<String>,
    /// The deployment environment of the job (GitHub `environment`, GitLab `environment`).
    #[serde(default)]
    pub environment: Vec<String>,
    /// The git ref (`refs/heads/main`; GitLab: the branch or tag name).
    #[serde(default, rename = "ref")]
    pub git_ref: Vec<String>,
    /// GitHub `event_name`; GitLab `pipeline_source`.
    #[serde(default)]
    pub event: Vec<String>,
    /// GitHub `actor`; GitLab `user_login`.
    #[serde(default)]
    pub actor: Vec<String>,
    /// GitHub `workflow_ref`; GitLab `ci_config_ref_uri`.
    #[serde(default)]
    pub workflow: Vec<String>,
    /// Only runs started by a pull or merge request (`true`) or only other runs (`false`).
    pub pull_request: Option<bool>,
}

impl RunConditions {
    /// Each condition's key (as written under `run.`) and its patterns.
    pub(super) fn lists(&self) -> [(RunClaim, &Vec<String>); 9] {
        [
            (RunClaim::Trust, &self.trust),
            (RunClaim::Role, &self.role),
            (RunClaim::Provider, &self.provider),
            (RunClaim::Repository, &self.repository),
            (RunClaim::Environment, &self.environment),
            (RunClaim::Ref, &self.git_ref),
            (RunClaim::Event, &self.event),
            (RunClaim::Actor, &self.actor),
            (RunClaim::Workflow, &self.workflow),
        ]
    }
}

/// Compiled [`RunConditions`].
#[derive(Default)]
pub(super) struct RunMatcher {
    /// Each claim's patterns, case-insensitive and case-sensitive.
    claims: Vec<(RunClaim, Vec<(GlobMatcher, GlobMatcher)>)>,
    pull_request: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunClaim {
    Trust,
    Role,
    Provider,
    Repository,
    Environment,
    Ref,
    Event,
    Actor,
    Workflow,
}

impl RunClaim {
    fn of<'a>(self, run: &Run<'a>) -> Option<&'a str> {
        let identity = run.identity;
        match self {
            RunClaim::Trust => Some(run.trust),
            RunClaim::Role => Some(run.role),
            RunClaim::Provider => Some(identity.provider.as_str()),
            RunClaim::Repository => Some(&identity.repository),
            RunClaim::Environment => identity.environment.as_deref(),
            RunClaim::Ref => identity.git_ref.as_deref(),
            RunClaim::Event => identity.event.as_deref(),
            RunClaim::Actor => identity.actor.as_deref(),
            RunClaim::Workflow => identity.workflow.as_deref(),
        }
    }

    /// The condition's key in a rule (`run.ref`).
    pub(super) fn key(self) -> &'static str {
        match self {
            RunClaim::Trust => "run.trust",
            RunClaim::Role => "run.role",
            RunClaim::Provider => "run.provider",
            RunClaim::Repository => "run.repository",
            RunClaim::Environment => "run.environment",
            RunClaim::Ref => "run.ref",
            RunClaim::Event => "run.event",
            RunClaim::Actor => "run.actor",
            RunClaim::Workflow => "run.workflow",
        }
    }
}

impl RunMatcher {
    pub(super) fn compile(c: &RunConditions) -> Result<RunMatcher, String> {
        let mut claims = Vec::new();
        for (claim, patterns) in c.lists() {
            if !patterns.is_empty() {
                let globs = patterns
                    .iter()
                    .map(|p| Ok((claim_glob(p)?, claim_glob_with(p, false)?)))
                    .collect::<Result<_, String>>()
                    .map_err(|e| format!("{}: {e}", claim.key()))?;
                claims.push((claim, globs));
            }
        }
        Ok(RunMatcher {
            claims,
            pull_request: c.pull_request,
        })
    }

    /// The keys of the claims this matcher reads (`run.ref`).
    pub(super) fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.claims.iter().map(|(claim, _)| claim.key())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.pull_request.is_none()
    }

    /// `Ok` when every condition holds for the run, else the key of one that does not; with no
    /// run known, only an empty matcher holds. `exact`: claims compare case-sensitively, as
    /// trust rules compare them (for allow rules and exceptions, which let statements
    /// through: `refs/heads/MAIN` is another branch than `refs/heads/main`); otherwise
    /// case-insensitively (a restricting rule errs towards matching).
    pub(super) fn check(&self, run: Option<&Run>, exact: bool) -> Result<(), &'static str> {
        let Some(run) = run else {
            return if self.is_empty() { Ok(()) } else { Err("run") };
        };
        if self
            .pull_request
            .is_some_and(|p| p != run.identity.pull_request)
        {
            return Err("run.pull_request");
        }
        for (claim, globs) in &self.claims {
            let holds = claim.of(run).is_some_and(|value| {
                globs.iter().any(|(loose, strict)| {
                    if exact {
                        strict.is_match(value)
                    } else {
                        loose.is_match(value)
                    }
                })
            });
            if !holds {
                return Err(claim.key());
            }
        }
        Ok(())
    }
}

/// A glob over a claim's value, in the dialect trust rules use: `*` and `?` stop at `/`, `**`
/// crosses it; case-insensitive (a restricting rule errs towards matching).
pub(super) fn claim_glob(pattern: &str) -> Result<GlobMatcher, String> {
    claim_glob_with(pattern, true)
}

fn claim_glob_with(pattern: &str, case_insensitive: bool) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {}", e.kind()))
}
