//! Trust rules: which verified CI runs may have which database access.
//!
//! [`TrustPolicy::evaluate`] is a pure function from a verified token and a requested
//! connection to a typed [`TrustDecision`]. Deny by default; the first rule in file order whose
//! every condition holds wins, and its name goes into the audit trail.
//!
//! Architecture Invariant: a claim the token does not carry never matches, whatever the matcher
//! (an empty glob or `.*` regex does not make a missing claim match).

mod config;
pub mod lint;
mod matcher;

use std::time::Duration;

use crate::base::{ConnectionName, DbRole};
use crate::identity::{Provider, Trigger, VerifiedToken, event_claim, schema};

pub use config::{ClaimMatcherConfig, TrustRuleConfig};
pub use lint::lint;
pub use matcher::ClaimMatcher;

/// One compiled `[[trust]]` rule.
#[derive(Debug)]
pub struct TrustRule {
    pub name: String,
    pub issuer: String,
    pub claims: Vec<(String, ClaimMatcher)>,
    pub connections: Vec<ConnectionName>,
    /// Already resolved against the connection's `default_role` where the rule names none.
    roles: Vec<DbRole>,
    pub ttl: Duration,
    pub max_sessions: u32,
    pub allow_pull_requests: bool,
}

impl TrustRule {
    /// Whether the rule admits a run with this trigger, its claims having matched. Trusted
    /// events always; pull-request-driven ones with `allow_pull_requests`; an unknown event
    /// also when the rule names it exactly in its claims (`event_name = "dynamic"`,
    /// `pipeline_source = "parent_pipeline"`): the author chose that event by name, whereas a
    /// glob or regex might only have let it through. A missing event cannot be named.
    fn admits(&self, trigger: Trigger, provider: Provider) -> bool {
        match trigger {
            Trigger::Trusted => true,
            _ if self.allow_pull_requests => true,
            Trigger::PullRequest => false,
            Trigger::Unknown => {
                let claim = event_claim(provider);
                self.claims
                    .iter()
                    .any(|(name, m)| name == claim && matches!(m, ClaimMatcher::Exact(_)))
            }
        }
    }
}

/// What the trust rules grant a run for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub rule: String,
    pub connection: ConnectionName,
    pub role: DbRole,
    /// Already capped by `server.max_ttl`.
    pub ttl: Duration,
    pub max_sessions: u32,
}

/// The outcome of evaluating the trust rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustDecision {
    Granted(Grant),
    /// No rule matched. `closest` names a rule whose claims matched but that does not grant
    /// the connection or excludes pull requests, to make the error actionable.
    Denied {
        reason: DenyReason,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// No rule of this issuer matches the token's claims.
    NoMatchingRule(NearMiss),
    /// A rule matches the claims but does not grant the requested connection.
    ConnectionNotGranted { rule: String },
    /// A rule matches, but the run's event is pull-request-driven (or unknown) and the rule
    /// does not allow it.
    PullRequestNotAllowed {
        rule: String,
        /// The run's event (GitHub `event_name`, GitLab `pipeline_source`), if it names one.
        event: Option<String>,
        /// `PullRequest` or `Unknown`.
        trigger: Trigger,
        /// The claim that names the event: `event_name` (GitHub), `pipeline_source` (GitLab).
        claim: &'static str,
    },
}

/// Why no rule matched, as far as the caller may be told: the claims of the nearest rule that
/// is for the token's own repository, or, when there is none, only that (with the token's
/// repository claims). Rules for other repositories are never named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NearMiss {
    /// `rule` pins the token's repository (every repository claim it names matched) and grants
    /// the connection, but does not accept `claims`; the rule of this kind with the fewest
    /// such claims, the first in file order among equals.
    Claims {
        rule: String,
        claims: Vec<SeenClaim>,
        provider: Provider,
    },
    /// No rule that grants the connection pins this repository: the token's repository claims.
    Repository {
        claims: Vec<SeenClaim>,
        provider: Provider,
    },
}

impl NearMiss {
    /// The claim names to report, in the provider's own words.
    pub fn claim_names(&self) -> Vec<&str> {
        let (NearMiss::Claims { claims, .. } | NearMiss::Repository { claims, .. }) = self;
        claims.iter().map(|c| c.name.as_str()).collect()
    }

    /// What the provider calls a repository: `repository` (GitHub), `project` (GitLab).
    pub fn repository_word(&self) -> &'static str {
        let (NearMiss::Claims { provider, .. } | NearMiss::Repository { provider, .. }) = self;
        schema::repository_word(*provider)
    }
}

/// A claim of the token as a refusal shows it: its name and its value (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenClaim {
    pub name: String,
    pub value: Option<String>,
}

impl SeenClaim {
    /// Longest value shown; a longer one ends in `…`.
    const MAX_CHARS: usize = 120;

    fn of(token: &VerifiedToken, name: &str) -> SeenClaim {
        let value = token.claims.get(name).map(|v| {
            // Quoted and escaped like a Rust string; anything in an array or object that does not
            // show as itself (bidi overrides, line separators) as `\u{…}`.
            let text = match v {
                serde_json::Value::String(s) => format!("{s:?}"),
                other => crate::display::line(&other.to_string()).into_owned(),
            };
            if text.chars().count() > Self::MAX_CHARS {
                let cut: String = text.chars().take(Self::MAX_CHARS).collect();
                format!("{cut}…")
            } else {
                text
            }
        });
        SeenClaim {
            name: name.to_owned(),
            value,
        }
    }
}

impl std::fmt::Display for SeenClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} {v}", self.name),
            None => write!(f, "{} (absent)", self.name),
        }
    }
}

/// A trust rule that does not compile, with the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TrustConfigError {
    pub key: String,
    pub message: String,
}

#[derive(Debug)]
pub struct TrustPolicy {
    rules: Vec<TrustRule>,
    max_ttl: Duration,
}

impl TrustPolicy {
    /// Compiles every rule's matchers; errors name the rule and claim. `default_role` is a
    /// connection's `default_role`; `max_ttl` caps every grant's lifetime.
    pub fn compile(
        trust: &[TrustRuleConfig],
        default_role: impl Fn(&ConnectionName) -> Option<DbRole>,
        max_ttl: Duration,
    ) -> Result<TrustPolicy, TrustConfigError> {
        let mut rules = Vec::with_capacity(trust.len());
        for (i, t) in trust.iter().enumerate() {
            let mut claims = Vec::with_capacity(t.claims.len());
            for (claim, m) in &t.claims {
                let matcher = ClaimMatcher::compile(m).map_err(|e| TrustConfigError {
                    key: format!("trust[{i}].claims.{claim}"),
                    message: e.to_string(),
                })?;
                claims.push((claim.clone(), matcher));
            }
            let roles = t
                .connections
                .iter()
                .map(|c| {
                    t.role
                        .clone()
                        .or_else(|| default_role(c))
                        .ok_or_else(|| TrustConfigError {
                            key: format!("trust[{i}].role"),
                            message: format!("no role for {c}"),
                        })
                })
                .collect::<Result<_, _>>()?;
            rules.push(TrustRule {
                name: t.name.clone(),
                issuer: t.issuer.clone(),
                claims,
                connections: t.connections.clone(),
                roles,
                ttl: t.ttl,
                max_sessions: t.max_sessions,
                allow_pull_requests: t.allow_pull_requests,
            });
        }
        Ok(TrustPolicy { rules, max_ttl })
    }

    pub fn rules(&self) -> &[TrustRule] {
        &self.rules
    }

    /// Every policy role a rule grants, per connection, with the rules that grant it, in file
    /// order of their first grant.
    pub fn granted_roles(&self) -> Vec<(&ConnectionName, &DbRole, Vec<&str>)> {
        let mut out: Vec<(&ConnectionName, &DbRole, Vec<&str>)> = Vec::new();
        for rule in &self.rules {
            for (connection, role) in rule.connections.iter().zip(&rule.roles) {
                match out
                    .iter_mut()
                    .find(|(c, r, _)| *c == connection && *r == role)
                {
                    Some((_, _, rules)) => rules.push(&rule.name),
                    None => out.push((connection, role, vec![&rule.name])),
                }
            }
        }
        out
    }

    /// Decides whether `token` may have `connection`. Deny by default, first match wins.
    pub fn evaluate(&self, token: &VerifiedToken, connection: &ConnectionName) -> TrustDecision {
        let mut near_miss = None;
        for rule in self.rules.iter().filter(|r| r.issuer == token.issuer) {
            let claims_match = rule
                .claims
                .iter()
                .all(|(name, m)| match token.claims.get(name) {
                    Some(value) => m.matches(value),
                    None => false,
                });
            if !claims_match {
                continue;
            }
            let trigger = token.run.trigger();
            if !rule.admits(trigger, token.run.provider) {
                near_miss.get_or_insert(DenyReason::PullRequestNotAllowed {
                    rule: rule.name.clone(),
                    event: token.run.event.clone(),
                    trigger,
                    claim: event_claim(token.run.provider),
                });
                continue;
            }
            let Some(at) = rule.connections.iter().position(|c| c == connection) else {
                near_miss.get_or_insert(DenyReason::ConnectionNotGranted {
                    rule: rule.name.clone(),
                });
                continue;
            };
            return TrustDecision::Granted(Grant {
                rule: rule.name.clone(),
                connection: connection.clone(),
                role: rule.roles[at].clone(),
                ttl: rule.ttl.min(self.max_ttl),
                max_sessions: rule.max_sessions,
            });
        }
        TrustDecision::Denied {
            reason: near_miss
                .unwrap_or_else(|| DenyReason::NoMatchingRule(self.near_miss(token, connection))),
        }
    }

    /// The nearest miss a caller may be told about (see [`NearMiss`]). Only on a refusal.
    fn near_miss(&self, token: &VerifiedToken, connection: &ConnectionName) -> NearMiss {
        let provider = token.run.provider;
        let repository = schema::repository_claims(provider);
        let accepts =
            |name: &str, m: &ClaimMatcher| token.claims.get(name).is_some_and(|v| m.matches(v));
        let nearest = self
            .rules
            .iter()
            .filter(|r| r.issuer == token.issuer && r.connections.contains(connection))
            // A rule is for the token's repository when every repository claim it names holds,
            // and one of them names it exactly: a glob or regex there (`.*`, `acme-*`) could
            // hold for anyone, and such a rule is never named.
            .filter(|r| {
                let pinned = r
                    .claims
                    .iter()
                    .filter(|(n, _)| repository.contains(&n.as_str()));
                let mut exact = false;
                for (name, m) in pinned {
                    if !accepts(name, m) {
                        return false;
                    }
                    exact |= matches!(m, ClaimMatcher::Exact(_));
                }
                exact
            })
            .map(|r| {
                let failed: Vec<&str> = r
                    .claims
                    .iter()
                    .filter(|(n, m)| !accepts(n, m))
                    .map(|(n, _)| n.as_str())
                    .collect();
                (r, failed)
            })
            // min_by_key keeps the first of equals: file order.
            .min_by_key(|(_, failed)| failed.len());
        match nearest {
            Some((rule, failed)) => NearMiss::Claims {
                rule: rule.name.clone(),
                claims: failed.iter().map(|n| SeenClaim::of(token, n)).collect(),
                provider,
            },
            None => NearMiss::Repository {
                claims: repository
                    .iter()
                    .take(2)
                    .map(|n| SeenClaim::of(token, n))
                    .collect(),
                provider,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Provider, RunId, RunIdentity, TokenId};
    use serde_json::json;

    /// The rules in `rules` (TOML `[[trust]]` tables) over two connections, `payments`
    /// (default role `ci_reader`) and `ledger` (none), capped at 30 minutes.
    fn compiled(rules: &str) -> Result<TrustPolicy, TrustConfigError> {
        #[derive(serde::Deserialize)]
        struct Section {
            #[serde(default)]
            trust: Vec<TrustRuleConfig>,
        }
        let section: Section = toml::from_str(rules).unwrap();
        let default_role = |c: &ConnectionName| {
            (c.as_str() == "payments").then(|| DbRole::new("ci_reader").unwrap())
        };
        TrustPolicy::compile(&section.trust, default_role, Duration::from_secs(30 * 60))
    }

    fn policy(rules: &str) -> TrustPolicy {
        compiled(rules).unwrap()
    }

    fn token(issuer: &str, claims: serde_json::Value, pull_request: bool) -> VerifiedToken {
        let event = if pull_request { "pull_request" } else { "push" };
        event_token(issuer, claims, Provider::Github, Some(event))
    }

    /// A token whose run was started by `event`; `claims` are what the rules see (the event
    /// claim is added when `event` is set and `claims` lacks it).
    fn event_token(
        issuer: &str,
        mut claims: serde_json::Value,
        provider: Provider,
        event: Option<&str>,
    ) -> VerifiedToken {
        if let Some(e) = event {
            let map = claims.as_object_mut().unwrap();
            map.entry(event_claim(provider)).or_insert(json!(e));
        }
        let run_event = event.map(str::to_owned);
        let pull_request = crate::identity::trigger_of(provider, event) != Trigger::Trusted;
        VerifiedToken {
            issuer: issuer.into(),
            issuer_url: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:acme/payments:ref:refs/heads/main".into(),
            token_id: TokenId::new("j1".into()),
            expires_at: chrono::Utc::now(),
            run: RunIdentity {
                provider,
                repository: "acme/payments".into(),
                repository_id: "42".into(),
                owner: "acme".into(),
                owner_id: "7".into(),
                run_id: RunId::new("100").unwrap(),
                attempt: 1,
                job_id: None,
                git_ref: Some("refs/heads/main".into()),
                sha: None,
                workflow: None,
                environment: None,
                actor: None,
                actor_id: None,
                event: run_event,
                pull_request,
                run_url: None,
            },
            claims: claims.as_object().unwrap().clone(),
        }
    }

    const RULES: &str = r#"
        [[trust]]
        name = "deploy"
        issuer = "github"
        claims = { repository_id = 42, ref = { glob = "refs/heads/release/*" } }
        connections = ["payments"]
        ttl = "2h"
        [[trust]]
        name = "main"
        issuer = "github"
        claims = { repository_id = "42", ref = "refs/heads/main", environment = { regex = "prod|staging" } }
        connections = ["payments", "ledger"]
        role = "ci_migrator"
        ttl = "10m"
        max_sessions = 1
    "#;

    #[test]
    fn first_matching_rule_grants_with_capped_ttl() {
        let p = policy(RULES);
        let t = token(
            "github",
            json!({"repository_id": "42", "ref": "refs/heads/release/1.2"}),
            false,
        );
        let TrustDecision::Granted(g) = p.evaluate(&t, &ConnectionName::new("payments").unwrap())
        else {
            panic!("denied")
        };
        assert_eq!(g.rule, "deploy");
        assert_eq!(g.role, DbRole::new("ci_reader").unwrap());
        assert_eq!(g.ttl, Duration::from_secs(1800), "capped by server.max_ttl");
    }

    /// The near miss of a refusal of `claims` for `connection` under `rules`.
    fn near(rules: &str, claims: serde_json::Value, connection: &str) -> NearMiss {
        let d = policy(rules).evaluate(
            &token("github", claims, false),
            &ConnectionName::new(connection).unwrap(),
        );
        match d {
            TrustDecision::Denied {
                reason: DenyReason::NoMatchingRule(near),
            } => near,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_names_the_nearest_rule_of_the_tokens_repository_and_its_failed_claims() {
        // Two rules of repository 42 grant payments: "deploy" fails on ref only, "main" on ref
        // and environment, so "deploy" is nearer.
        let got = near(
            RULES,
            json!({"repository_id": "42", "ref": "refs/heads/x"}),
            "payments",
        );
        let NearMiss::Claims { rule, claims, .. } = &got else {
            panic!("{got:?}")
        };
        assert_eq!(rule, "deploy");
        assert_eq!(got.claim_names(), ["ref"]);
        assert_eq!(claims[0].to_string(), r#"ref "refs/heads/x""#);
        // Only "main" grants ledger: its two claims, the absent one said so.
        let got = near(
            RULES,
            json!({"repository_id": "42", "ref": "refs/heads/x"}),
            "ledger",
        );
        assert_eq!(got.claim_names(), ["environment", "ref"]);
        let NearMiss::Claims { claims, .. } = &got else {
            panic!("{got:?}")
        };
        assert_eq!(claims[0].to_string(), "environment (absent)");
        // Equals: the first in file order.
        let twins = format!(
            "{RULES}\n{}",
            RULES
                .replace("\"deploy\"", "\"deploy-2\"")
                .replace("\"main\"", "\"main-2\"")
        );
        let got = near(
            &twins,
            json!({"repository_id": "42", "ref": "refs/heads/x"}),
            "payments",
        );
        assert!(
            matches!(&got, NearMiss::Claims { rule, .. } if rule == "deploy"),
            "{got:?}"
        );
    }

    #[test]
    fn a_refusal_names_no_rule_of_another_repository_nor_one_that_pins_no_repository() {
        let got = near(
            RULES,
            json!({"repository_id": "43", "repository": "m/x", "ref": "refs/heads/main"}),
            "payments",
        );
        assert!(matches!(got, NearMiss::Repository { .. }), "{got:?}");
        assert_eq!(got.claim_names(), ["repository_id", "repository"]);
        // A rule that pins only the subject could be anyone's: it is not named either.
        let by_subject = r#"
            [[trust]]
            name = "by-subject"
            issuer = "github"
            claims = { sub = "repo:acme/payments:ref:refs/heads/main" }
            connections = ["payments"]
        "#;
        let got = near(
            by_subject,
            json!({"repository_id": "42", "sub": "repo:m/x:ref:refs/heads/main"}),
            "payments",
        );
        assert!(matches!(got, NearMiss::Repository { .. }), "{got:?}");
        // Nor one whose repository claims are patterns that could hold for anyone.
        let by_pattern = r#"
            [[trust]]
            name = "any-repository"
            issuer = "github"
            claims = { repository = { regex = ".*" }, sub = "repo:umbrella/x:environment:prod" }
            connections = ["payments"]
        "#;
        let claims = json!({"repository": "m/x", "sub": "repo:m/x:ref:refs/heads/main"});
        let got = near(by_pattern, claims, "payments");
        assert!(matches!(got, NearMiss::Repository { .. }), "{got:?}");
        // A value that is not a string is escaped like one.
        let custom = r#"
            [[trust]]
            name = "custom"
            issuer = "github"
            claims = { repository_id = "42", repo_property_team = "payments" }
            connections = ["payments"]
        "#;
        let claims =
            json!({"repository_id": "42", "repo_property_team": ["a\u{202e}b", "x\u{2028}y"]});
        let got = near(custom, claims, "payments");
        let NearMiss::Claims { claims, .. } = &got else {
            panic!("{got:?}")
        };
        let shown = claims[0].to_string();
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{2028}'),
            "{shown}"
        );
        assert!(shown.contains("\\u{202e}"), "{shown}");
        // A value is shown whole up to its limit, then cut.
        let long = "r".repeat(500);
        let got = near(
            RULES,
            json!({"repository_id": "42", "ref": long}),
            "payments",
        );
        let NearMiss::Claims { claims, .. } = &got else {
            panic!("{got:?}")
        };
        let shown = claims[0].value.as_deref().unwrap();
        assert_eq!(shown.chars().count(), SeenClaim::MAX_CHARS + 1, "{shown}");
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn rule_role_overrides_the_connection_default() {
        let p = policy(RULES);
        let t = token(
            "github",
            json!({"repository_id": "42", "ref": "refs/heads/main", "environment": "prod"}),
            false,
        );
        let TrustDecision::Granted(g) = p.evaluate(&t, &ConnectionName::new("ledger").unwrap())
        else {
            panic!("denied")
        };
        assert_eq!(
            (g.rule.as_str(), g.role.as_str(), g.max_sessions),
            ("main", "ci_migrator", 1)
        );
    }

    #[test]
    fn every_claim_must_match_and_a_missing_claim_never_matches() {
        let p = policy(RULES);
        let conn = ConnectionName::new("payments").unwrap();
        let cases = [
            json!({"repository_id": "43", "ref": "refs/heads/main", "environment": "prod"}),
            json!({"repository_id": "42", "ref": "refs/heads/main"}),
            json!({"repository_id": "42", "ref": "refs/heads/main", "environment": "production"}),
            json!({"repository_id": "42", "ref": "refs/heads/release/1/2"}),
        ];
        for claims in cases {
            let d = p.evaluate(&token("github", claims.clone(), false), &conn);
            assert!(
                matches!(
                    d,
                    TrustDecision::Denied {
                        reason: DenyReason::NoMatchingRule(_)
                    }
                ),
                "{claims}"
            );
        }
    }

    #[test]
    fn another_issuers_rules_never_apply() {
        let p = policy(RULES);
        let t = token(
            "gitlab",
            json!({"repository_id": "42", "ref": "refs/heads/release/1"}),
            false,
        );
        assert!(matches!(
            p.evaluate(&t, &ConnectionName::new("payments").unwrap()),
            TrustDecision::Denied {
                reason: DenyReason::NoMatchingRule(_)
            }
        ));
    }

    #[test]
    fn pull_requests_only_match_rules_that_allow_them() {
        let p = policy(RULES);
        let t = token(
            "github",
            json!({"repository_id": "42", "ref": "refs/heads/release/1"}),
            true,
        );
        assert_eq!(
            p.evaluate(&t, &ConnectionName::new("payments").unwrap()),
            TrustDecision::Denied {
                reason: DenyReason::PullRequestNotAllowed {
                    rule: "deploy".into(),
                    event: Some("pull_request".into()),
                    trigger: Trigger::PullRequest,
                    claim: "event_name",
                }
            }
        );
        let allowing = RULES.replacen(
            "ttl = \"2h\"",
            "ttl = \"2h\"\nallow_pull_requests = true",
            1,
        );
        let p = policy(&allowing);
        assert!(matches!(
            p.evaluate(&t, &ConnectionName::new("payments").unwrap()),
            TrustDecision::Granted(_)
        ));
    }

    #[test]
    fn a_matching_rule_without_the_connection_is_reported() {
        let p = policy(RULES);
        let t = token(
            "github",
            json!({"repository_id": "42", "ref": "refs/heads/release/1"}),
            false,
        );
        assert_eq!(
            p.evaluate(&t, &ConnectionName::new("ledger").unwrap()),
            TrustDecision::Denied {
                reason: DenyReason::ConnectionNotGranted {
                    rule: "deploy".into()
                }
            }
        );
    }

    fn granted(p: &TrustPolicy, t: &VerifiedToken) -> bool {
        matches!(
            p.evaluate(t, &ConnectionName::new("payments").unwrap()),
            TrustDecision::Granted(_)
        )
    }

    const OPEN_RULE: &str = r#"
        [[trust]]
        name = "any-event"
        issuer = "github"
        claims = { repository_id = "42" }
        connections = ["payments"]
        [[trust]]
        name = "any-gitlab-source"
        issuer = "gitlab"
        claims = { repository_id = "42" }
        connections = ["payments"]
    "#;

    /// Every GitHub event that can run a fork's code or anyone's input, each refused by a rule
    /// without `allow_pull_requests`, and admitted with it.
    #[test]
    fn every_pull_request_driven_github_event_is_refused() {
        let p = policy(OPEN_RULE);
        let allowing = OPEN_RULE.replace(
            "connections = [\"payments\"]",
            "connections = [\"payments\"]\nallow_pull_requests = true",
        );
        let lenient = policy(&allowing);
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
            let t = event_token(
                "github",
                json!({"repository_id": "42"}),
                Provider::Github,
                Some(event),
            );
            assert_eq!(
                p.evaluate(&t, &ConnectionName::new("payments").unwrap()),
                TrustDecision::Denied {
                    reason: DenyReason::PullRequestNotAllowed {
                        rule: "any-event".into(),
                        event: Some(event.into()),
                        trigger: Trigger::PullRequest,
                        claim: "event_name",
                    }
                },
                "{event}"
            );
            assert!(granted(&lenient, &t), "{event}");
        }
        for event in [
            "push",
            "workflow_dispatch",
            "repository_dispatch",
            "schedule",
            "merge_group",
            "release",
        ] {
            let t = event_token(
                "github",
                json!({"repository_id": "42"}),
                Provider::Github,
                Some(event),
            );
            assert!(granted(&p, &t), "{event}");
        }
    }

    #[test]
    fn every_pull_request_driven_gitlab_source_is_refused() {
        let p = policy(OPEN_RULE);
        for source in [
            "merge_request_event",
            "external_pull_request_event",
            "parent_pipeline",
            "pipeline",
            "trigger",
            "external",
        ] {
            let t = event_token(
                "gitlab",
                json!({"repository_id": "42"}),
                Provider::Gitlab,
                Some(source),
            );
            assert!(!granted(&p, &t), "{source}");
        }
        for source in ["push", "schedule", "web", "api", "webide", "chat"] {
            let t = event_token(
                "gitlab",
                json!({"repository_id": "42"}),
                Provider::Gitlab,
                Some(source),
            );
            assert!(granted(&p, &t), "{source}");
        }
    }

    /// An unknown or missing event is refused unless the rule allows pull requests or names
    /// the event exactly; a pattern that merely lets it through does not opt in, and naming a
    /// known pull-request event does not replace `allow_pull_requests`.
    #[test]
    fn unknown_events_need_a_rule_that_names_them() {
        let rules = r#"
            [[trust]]
            name = "by-pattern"
            issuer = "github"
            claims = { repository_id = "42", event_name = { regex = "push|dynamic|pull_request" } }
            connections = ["payments"]
            [[trust]]
            name = "named"
            issuer = "github"
            claims = { repository_id = "42", event_name = "dynamic" }
            connections = ["payments"]
            [[trust]]
            name = "named-pr"
            issuer = "github"
            claims = { repository_id = "42", event_name = "pull_request" }
            connections = ["payments"]
            [[trust]]
            name = "child-pipelines"
            issuer = "gitlab"
            claims = { repository_id = "42", pipeline_source = "parent_pipeline", ref_protected = "true" }
            connections = ["payments"]
        "#;
        let p = policy(rules);
        let github = |event: Option<&str>| {
            event_token(
                "github",
                json!({"repository_id": "42"}),
                Provider::Github,
                event,
            )
        };
        let d = p.evaluate(
            &github(Some("dynamic")),
            &ConnectionName::new("payments").unwrap(),
        );
        assert!(
            matches!(d, TrustDecision::Granted(ref g) if g.rule == "named"),
            "{d:?}"
        );
        let d = p.evaluate(
            &github(Some("workflow_call")),
            &ConnectionName::new("payments").unwrap(),
        );
        assert!(matches!(
            d,
            TrustDecision::Denied {
                reason: DenyReason::NoMatchingRule(_)
            }
        ));
        let d = p.evaluate(
            &github(Some("pull_request")),
            &ConnectionName::new("payments").unwrap(),
        );
        assert_eq!(
            d,
            TrustDecision::Denied {
                reason: DenyReason::PullRequestNotAllowed {
                    rule: "by-pattern".into(),
                    event: Some("pull_request".into()),
                    trigger: Trigger::PullRequest,
                    claim: "event_name",
                }
            }
        );
        // No event claim at all: nothing can name it.
        let open = policy(OPEN_RULE);
        let d = open.evaluate(&github(None), &ConnectionName::new("payments").unwrap());
        assert_eq!(
            d,
            TrustDecision::Denied {
                reason: DenyReason::PullRequestNotAllowed {
                    rule: "any-event".into(),
                    event: None,
                    trigger: Trigger::Unknown,
                    claim: "event_name",
                }
            }
        );
        let child = |protected: &str| {
            event_token(
                "gitlab",
                json!({"repository_id": "42", "ref_protected": protected}),
                Provider::Gitlab,
                Some("parent_pipeline"),
            )
        };
        assert!(granted(&p, &child("true")));
        assert!(!granted(&p, &child("false")));
    }

    #[test]
    fn bad_patterns_are_refused_at_load_naming_the_claim() {
        let bad = RULES.replace("prod|staging", "prod(");
        let e = compiled(&bad).unwrap_err().to_string();
        assert!(e.contains("trust[1].claims.environment"), "{e}");
    }
}
