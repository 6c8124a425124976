//! What `hoop config check` finds in `[[trust]]` rules that load but cannot work as meant: a
//! claim the issuer kind never sends, a value its claim never holds (a GitHub `ref` without
//! `refs/`, an id that is not digits, an event no forge sends), a rule an earlier one shadows.
//!
//! The facts come from [`crate::identity::schema`]; every finding names its key
//! (`trust[1].claims.enviroment`) so `config` can give its line.

use crate::base::lint::{Finding, key_step, nearest};
use crate::identity::schema::{self, ClaimSpec, ClaimValue, GITHUB_CUSTOM_PROPERTY_PREFIX};
use crate::identity::{Provider, Trigger, event_claim, trigger_of};

use super::{ClaimMatcherConfig, TrustRuleConfig};

/// The findings of every rule in `rules`; `provider` gives the kind of an `[[issuers]] name`
/// (a rule whose issuer has none is left to validation).
pub fn lint(
    rules: &[TrustRuleConfig],
    provider: impl Fn(&str) -> Option<Provider>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let Some(provider) = provider(&rule.issuer) else {
            continue;
        };
        for (name, matcher) in &rule.claims {
            let key = format!("trust[{i}].claims.{}", key_step(name));
            match schema::claim(provider, name) {
                None => findings.push(unknown_claim(provider, &key, name)),
                Some(spec) => findings.extend(value_finding(provider, &key, name, spec, matcher)),
            }
        }
        findings.extend(pull_request_event_without_opt_in(provider, i, rule));
        findings.extend(no_repository(provider, i, rule));
        findings.extend(shadowed(rules, i));
    }
    findings
}

/// A claim name `provider`'s tokens never carry: an error when it is a typo of one they do or a
/// claim of the other forge, a warning otherwise (a claim newer than hoop's list, or a custom
/// one, may exist).
fn unknown_claim(provider: Provider, key: &str, name: &str) -> Finding {
    let forge = schema::forge_name(provider);
    let known = claim_names(provider);
    let other = match provider {
        Provider::Github => Provider::Gitlab,
        Provider::Gitlab => Provider::Github,
    };
    if schema::claim(other, name).is_some() {
        let fix = match schema::counterpart(provider, name) {
            Some(ours) => format!(
                "{forge}'s claim for it is \"{ours}\"; or is the rule's issuer meant to be a {} one?",
                other.as_str()
            ),
            None => format!(
                "is the rule's issuer meant to be a {} one? {forge} claims: {known}",
                other.as_str()
            ),
        };
        return Finding::error(
            key,
            format!(
                "\"{name}\" is a {} claim: {forge} tokens never carry it, so this rule never matches",
                schema::forge_name(other)
            ),
            fix,
        );
    }
    let names = schema::claims(provider).iter().map(|c| c.name);
    if let Some(meant) = nearest(name, names) {
        return Finding::error(
            key,
            format!("{forge} tokens carry no claim \"{name}\", so this rule never matches"),
            format!("did you mean \"{meant}\"? {forge} claims: {known}"),
        );
    }
    let custom = match provider {
        Provider::Github => format!(
            "; repository custom properties an organization adds to its tokens are named \
             {GITHUB_CUSTOM_PROPERTY_PREFIX}<property>"
        ),
        Provider::Gitlab => String::new(),
    };
    Finding::warning(
        key,
        format!(
            "{forge} documents no claim \"{name}\": a token without it never matches this rule"
        ),
        format!("keep it only if your tokens carry it{custom}. {forge} claims: {known}"),
    )
}

/// The claim names of `provider`, as a fix lists them.
fn claim_names(provider: Provider) -> String {
    let names: Vec<&str> = schema::claims(provider).iter().map(|c| c.name).collect();
    names.join(", ")
}

/// How a matcher is written, for a message: `"main"`, `42`, `true`, `{ glob = "x" }`.
fn written(matcher: &ClaimMatcherConfig) -> String {
    match matcher {
        ClaimMatcherConfig::Exact(s) => format!("{s:?}"),
        ClaimMatcherConfig::Number(n) => n.to_string(),
        ClaimMatcherConfig::Bool(b) => b.to_string(),
        ClaimMatcherConfig::Glob { glob } => format!("{{ glob = {glob:?} }}"),
        ClaimMatcherConfig::Regex { regex } => format!("{{ regex = {regex:?} }}"),
    }
}

/// The text an exact matcher compares with (a number or boolean by its text, as
/// [`super::ClaimMatcher`] compiles them); `None` for patterns.
fn exact_text(matcher: &ClaimMatcherConfig) -> Option<String> {
    match matcher {
        ClaimMatcherConfig::Exact(s) => Some(s.clone()),
        ClaimMatcherConfig::Number(n) => Some(n.to_string()),
        ClaimMatcherConfig::Bool(b) => Some(b.to_string()),
        ClaimMatcherConfig::Glob { .. } | ClaimMatcherConfig::Regex { .. } => None,
    }
}

/// The part of a glob before its first wildcard: what every match starts with.
fn glob_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    &glob[..end]
}

/// A value the claim never holds.
fn value_finding(
    provider: Provider,
    key: &str,
    name: &str,
    spec: ClaimSpec,
    matcher: &ClaimMatcherConfig,
) -> Option<Finding> {
    let forge = schema::forge_name(provider);
    let shown = written(matcher);
    let exact = exact_text(matcher);
    match spec.value {
        ClaimValue::Structure => Some(Finding::error(
            key,
            format!(
                "\"{name}\" is a list in {forge} tokens, and a list never matches a claim \
                 matcher, so this rule never matches"
            ),
            "remove it: rules match text, number and boolean claims only",
        )),
        ClaimValue::Id => {
            let text = exact?;
            let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            (!digits).then(|| {
                Finding::error(
                    key,
                    format!(
                        "\"{name}\" is a decimal id in {forge} tokens, so {shown} never matches"
                    ),
                    format!("write the number itself: {name} = 123456789"),
                )
            })
        }
        ClaimValue::Flag => {
            let text = exact?;
            if text == "true" || text == "false" {
                return None;
            }
            let meant = match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => "true",
                _ => "false",
            };
            Some(Finding::error(
                key,
                format!(
                    "\"{name}\" is \"true\" or \"false\" in {forge} tokens, so {shown} never matches"
                ),
                format!("write {name} = \"{meant}\""),
            ))
        }
        ClaimValue::OneOf(values) => one_of(forge, key, name, &shown, &exact?, values, false),
        ClaimValue::Event => {
            let events = schema::known_events(provider);
            one_of(forge, key, name, &shown, &exact?, &events, true)
        }
        ClaimValue::Text | ClaimValue::Time => ref_finding(provider, key, name, matcher),
    }
}

/// A value outside the values a claim takes: an error when it is a typo of one, a warning
/// when the list is one the forge adds to (events) or when it may merely be newer than it.
fn one_of(
    forge: &str,
    key: &str,
    name: &str,
    shown: &str,
    text: &str,
    values: &[&str],
    events: bool,
) -> Option<Finding> {
    if values.contains(&text) {
        return None;
    }
    let listed = values.join(", ");
    if let Some(meant) = nearest(text, values.iter().copied()) {
        return Some(Finding::error(
            key,
            format!("{forge} never sends {name} = {shown}, so this rule never matches"),
            format!("did you mean \"{meant}\"? values: {listed}"),
        ));
    }
    let what = if events { "an event" } else { "a value" };
    let unknown = if events {
        " (an event hoop does not know is refused unless a rule names it exactly, as this one does)"
    } else {
        ""
    };
    Some(Finding::warning(
        key,
        format!(
            "{shown} is not {what} {forge} documents for {name}: a token without it never matches this rule{unknown}"
        ),
        format!("keep it only if your tokens carry it; values: {listed}"),
    ))
}

/// A `ref` written the other forge's way: GitHub's `ref` is the full ref (`refs/heads/main`),
/// GitLab's the bare branch or tag name (`main`, with `ref_path` the full one); GitHub's
/// `head_ref` and `base_ref` are bare branch names.
fn ref_finding(
    provider: Provider,
    key: &str,
    name: &str,
    matcher: &ClaimMatcherConfig,
) -> Option<Finding> {
    let shown = written(matcher);
    let (text, glob) = match matcher {
        ClaimMatcherConfig::Exact(s) => (s.as_str(), false),
        ClaimMatcherConfig::Glob { glob } => (glob.as_str(), true),
        _ => return None,
    };
    let rewrite = |value: String| {
        if glob {
            format!("{name} = {{ glob = {value:?} }}")
        } else {
            format!("{name} = {value:?}")
        }
    };
    // What every value the matcher accepts starts with.
    let start = if glob { glob_prefix(text) } else { text };
    let full = start.starts_with("refs/");
    let could_be_full = full || "refs/".starts_with(start);
    match (provider, name) {
        (Provider::Github, "ref") if !could_be_full => Some(Finding::error(
            key,
            format!(
                "GitHub's ref is the full ref (refs/heads/main, refs/tags/v1.2), so {shown} never \
                 matches"
            ),
            format!(
                "write {} (or refs/tags/... for a tag)",
                rewrite(format!("refs/heads/{text}"))
            ),
        )),
        (Provider::Github, "head_ref" | "base_ref") if full => {
            let bare = strip_ref(text);
            Some(Finding::error(
                key,
                format!(
                    "GitHub's {name} is the bare branch name of a pull request (main), so {shown} \
                     never matches"
                ),
                format!("write {}", rewrite(bare.to_owned())),
            ))
        }
        (Provider::Gitlab, "ref")
            if start.starts_with("refs/heads/") || start.starts_with("refs/tags/") =>
        {
            let bare = strip_ref(text);
            let kind = if start.starts_with("refs/tags/") {
                "tag"
            } else {
                "branch"
            };
            Some(Finding::error(
                key,
                format!(
                    "GitLab's ref is the bare branch or tag name (main), so {shown} never matches; \
                     the full ref is ref_path"
                ),
                format!(
                    "write {} with ref_type = \"{kind}\", or match ref_path instead",
                    rewrite(bare.to_owned())
                ),
            ))
        }
        (Provider::Gitlab, "ref_path") if !could_be_full => Some(Finding::error(
            key,
            format!(
                "GitLab's ref_path is the full ref (refs/heads/main), so {shown} never matches"
            ),
            format!(
                "write {} (or refs/tags/... for a tag), or match ref instead",
                rewrite(format!("refs/heads/{text}"))
            ),
        )),
        _ => None,
    }
}

/// `refs/heads/main` → `main`, `refs/tags/v1` → `v1`, any other `refs/x/y` → `y`.
fn strip_ref(full: &str) -> &str {
    for prefix in ["refs/heads/", "refs/tags/"] {
        if let Some(rest) = full.strip_prefix(prefix) {
            return rest;
        }
    }
    full.strip_prefix("refs/")
        .and_then(|r| r.split_once('/'))
        .map_or(full, |(_, rest)| rest)
}

/// A rule naming a pull-request-driven event exactly without `allow_pull_requests`: such runs
/// are refused whatever the rule names ([`super::TrustRule`]), so it never matches.
fn pull_request_event_without_opt_in(
    provider: Provider,
    i: usize,
    rule: &TrustRuleConfig,
) -> Option<Finding> {
    if rule.allow_pull_requests {
        return None;
    }
    let claim = event_claim(provider);
    let text = exact_text(rule.claims.get(claim)?)?;
    (trigger_of(provider, Some(&text)) == Trigger::PullRequest).then(|| {
        Finding::error(
            format!("trust[{i}].claims.{claim}"),
            format!(
                "\"{text}\" runs may carry a fork's code or anyone's input, and this rule does not \
                 set allow_pull_requests, so it never matches"
            ),
            "add allow_pull_requests = true if these runs are meant to get access, or remove the rule",
        )
    })
}

/// A rule that names no claim of the repository (nor `sub`, which carries it): every repository
/// whose token has its other claims matches, and a `job_workflow_ref` or `environment` is carried
/// by any repository that calls the shared workflow or names the environment.
fn no_repository(provider: Provider, i: usize, rule: &TrustRuleConfig) -> Option<Finding> {
    let repository = schema::repository_claims(provider);
    let pinned = rule
        .claims
        .keys()
        .any(|name| name == "sub" || repository.contains(&name.as_str()));
    (!pinned).then(|| {
        let (id, owner) = match provider {
            Provider::Github => ("repository_id", "repository_owner_id"),
            Provider::Gitlab => ("project_id", "namespace_id"),
        };
        Finding::error(
            format!("trust[{i}].claims"),
            format!(
                "trust rule {:?} names no claim of the {} ({}), so a token of any {} with its \
                 other claims matches it",
                rule.name,
                schema::repository_word(provider),
                repository.join(", "),
                schema::repository_word(provider),
            ),
            format!(
                "pin {id} (one {}) or {owner} (its owner) exactly",
                schema::repository_word(provider)
            ),
        )
    })
}

/// How a matcher compares, whatever its spelling: `42` and `"42"` are one exact matcher.
fn canonical(matcher: &ClaimMatcherConfig) -> (u8, String) {
    match matcher {
        ClaimMatcherConfig::Glob { glob } => (1, glob.clone()),
        ClaimMatcherConfig::Regex { regex } => (2, regex.clone()),
        exact => (0, exact_text(exact).unwrap_or_default()),
    }
}

/// Rule `j` can never decide when an earlier rule of its issuer has the same claim matchers,
/// admits every run it admits and grants every connection it grants: the earlier rule always
/// decides first.
fn shadowed(rules: &[TrustRuleConfig], j: usize) -> Option<Finding> {
    let later = &rules[j];
    let claims = |r: &TrustRuleConfig| -> Vec<(String, (u8, String))> {
        r.claims
            .iter()
            .map(|(name, m)| (name.clone(), canonical(m)))
            .collect()
    };
    let theirs = claims(later);
    let (i, earlier) = rules[..j].iter().enumerate().find(|&(_, earlier)| {
        earlier.issuer == later.issuer
            && (earlier.allow_pull_requests || !later.allow_pull_requests)
            && later
                .connections
                .iter()
                .all(|c| earlier.connections.contains(c))
            && claims(earlier) == theirs
    })?;
    Some(Finding::warning(
        format!("trust[{j}]"),
        format!(
            "trust rule \"{}\" never decides: trust[{i}] (\"{}\") comes first with the same issuer \
             and claims and grants every connection it does",
            later.name, earlier.name
        ),
        format!(
            "remove it, or narrow its claims and move it before trust[{i}] if it is meant to win"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::lint::Severity;

    /// The findings of `rules` (`[[trust]]` tables) with issuers `github` and `gitlab` of those
    /// kinds.
    #[test]
    fn a_rule_that_names_no_repository_is_an_error() {
        let f = lint_of(
            r#"[[trust]]
            name = "shared-workflow"
            issuer = "github"
            claims = { job_workflow_ref = "acme/shared/.github/workflows/db.yml@refs/heads/main" }
            connections = ["payments"]"#,
        );
        let f: Vec<_> = f.iter().filter(|f| f.key == "trust[0].claims").collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message.contains("names no claim of the repository"),
            "{}",
            f[0].message
        );
        for pinned in [
            r#"repository_owner_id = "7""#,
            r#"sub = "repo:acme/x:ref:refs/heads/main""#,
        ] {
            let f = lint_of(&format!(
                r#"[[trust]]
                name = "ok"
                issuer = "github"
                claims = {{ {pinned}, job_workflow_ref = "acme/shared/.github/workflows/db.yml@refs/heads/main" }}
                connections = ["payments"]"#
            ));
            assert!(
                f.iter().all(|f| f.key != "trust[0].claims"),
                "{pinned}: {f:?}"
            );
        }
    }

    fn lint_of(rules: &str) -> Vec<Finding> {
        #[derive(serde::Deserialize)]
        struct Section {
            trust: Vec<TrustRuleConfig>,
        }
        let section: Section = toml::from_str(rules).unwrap();
        lint(&section.trust, |issuer| match issuer {
            "github" => Some(Provider::Github),
            "gitlab" => Some(Provider::Gitlab),
            _ => None,
        })
    }

    fn rule(issuer: &str, claims: &str) -> String {
        format!(
            "[[trust]]\nname = \"r\"\nissuer = \"{issuer}\"\nclaims = {{ {claims} }}\n\
             connections = [\"payments\"]\n"
        )
    }

    /// The findings of one rule about its claims, leaving out that it names no repository
    /// claim (tested on its own): these rules name one claim at a time.
    fn of_claims(issuer: &str, claims: &str) -> Vec<Finding> {
        let mut findings = lint_of(&rule(issuer, claims));
        findings.retain(|f| f.key != "trust[0].claims");
        findings
    }

    /// The one finding of one rule.
    fn only(issuer: &str, claims: &str) -> Finding {
        let findings = of_claims(issuer, claims);
        assert_eq!(findings.len(), 1, "{claims}: {findings:#?}");
        findings.into_iter().next().unwrap()
    }

    fn clean(issuer: &str, claims: &str) {
        let findings = of_claims(issuer, claims);
        assert!(findings.is_empty(), "{claims}: {findings:#?}");
    }

    #[test]
    fn a_misspelt_claim_is_an_error_naming_the_claim_meant() {
        let f = only("github", "repository_id = 42, enviroment = \"prod\"");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.key, "trust[0].claims.enviroment");
        assert_eq!(
            f.message,
            "GitHub tokens carry no claim \"enviroment\", so this rule never matches"
        );
        assert!(
            f.fix
                .starts_with("did you mean \"environment\"? GitHub claims: aud, iss, sub,"),
            "{}",
            f.fix
        );
        let f = only("gitlab", "project_id = 42, pipline_source = \"push\"");
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.fix.starts_with("did you mean \"pipeline_source\"?"),
            "{}",
            f.fix
        );
    }

    #[test]
    fn an_unknown_claim_far_from_any_is_a_warning_mentioning_custom_claims() {
        let f = only("github", "repository_id = 42, team = \"payments\"");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.key, "trust[0].claims.team");
        assert!(f.fix.contains("repo_property_<property>"), "{}", f.fix);
        clean(
            "github",
            "repository_id = 42, repo_property_team = \"payments\"",
        );
        let f = only("gitlab", "project_id = 42, team = \"payments\"");
        assert_eq!(f.severity, Severity::Warning);
        assert!(!f.fix.contains("repo_property_<property>"), "{}", f.fix);
        // A custom property is a GitHub claim: never in a GitLab token.
        let f = only(
            "gitlab",
            "project_id = 42, repo_property_team = \"payments\"",
        );
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("is a GitHub claim"), "{}", f.message);
    }

    #[test]
    fn the_other_forges_claim_is_an_error_naming_ours() {
        let f = only("github", "project_id = 42");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("is a GitLab claim"), "{}", f.message);
        assert!(
            f.fix
                .starts_with("GitHub's claim for it is \"repository_id\""),
            "{}",
            f.fix
        );
        let f = only("gitlab", "project_id = 42, event_name = \"push\"");
        assert!(f.fix.contains("\"pipeline_source\""), "{}", f.fix);
    }

    #[test]
    fn github_refs_are_full_and_gitlab_refs_bare() {
        let f = only("github", "repository_id = 42, ref = \"main\"");
        assert_eq!(
            (f.severity, f.key.as_str()),
            (Severity::Error, "trust[0].claims.ref")
        );
        assert_eq!(
            f.fix,
            "write ref = \"refs/heads/main\" (or refs/tags/... for a tag)"
        );
        let f = only(
            "github",
            "repository_id = 42, ref = { glob = \"release/*\" }",
        );
        assert!(
            f.fix.contains("ref = { glob = \"refs/heads/release/*\" }"),
            "{}",
            f.fix
        );
        clean("github", "repository_id = 42, ref = \"refs/heads/main\"");
        clean(
            "github",
            "repository_id = 42, ref = { glob = \"refs/tags/*\" }",
        );
        clean("github", "repository_id = 42, ref = { glob = \"**\" }");
        clean("github", "repository_id = 42, ref = { glob = \"re*\" }");
        clean("github", "repository_id = 42, ref = { regex = \"main\" }");
        let f = only(
            "github",
            "repository_id = 42, head_ref = \"refs/heads/feature\"",
        );
        assert_eq!(f.fix, "write head_ref = \"feature\"");

        let f = only("gitlab", "project_id = 42, ref = \"refs/heads/main\"");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(
            f.fix,
            "write ref = \"main\" with ref_type = \"branch\", or match ref_path instead"
        );
        let f = only(
            "gitlab",
            "project_id = 42, ref = { glob = \"refs/tags/v*\" }",
        );
        assert!(
            f.fix
                .contains("ref = { glob = \"v*\" } with ref_type = \"tag\""),
            "{}",
            f.fix
        );
        clean(
            "gitlab",
            "project_id = 42, ref = \"main\", ref_path = \"refs/heads/main\"",
        );
        let f = only("gitlab", "project_id = 42, ref_path = \"main\"");
        assert!(
            f.fix.starts_with("write ref_path = \"refs/heads/main\""),
            "{}",
            f.fix
        );
    }

    #[test]
    fn events_are_checked_against_the_known_ones() {
        let f = only("github", "repository_id = 42, event_name = \"pus\"");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.key, "trust[0].claims.event_name");
        assert!(
            f.fix.starts_with("did you mean \"push\"? values: push,"),
            "{}",
            f.fix
        );
        let f = only(
            "gitlab",
            "project_id = 42, pipeline_source = \"merge_requests_event\"",
        );
        assert!(
            f.fix.starts_with("did you mean \"merge_request_event\"?"),
            "{}",
            f.fix
        );
        let f = only(
            "github",
            "repository_id = 42, event_name = \"brand_new_event\"",
        );
        assert_eq!(f.severity, Severity::Warning);
        // Events hoop leaves unknown on purpose, named to opt in, are real events.
        clean("github", "repository_id = 42, event_name = \"dynamic\"");
        clean(
            "gitlab",
            "project_id = 42, pipeline_source = \"parent_pipeline\"",
        );
        clean(
            "gitlab",
            "project_id = 42, pipeline_source = { regex = \"pus\" }",
        );
    }

    #[test]
    fn a_pull_request_event_needs_allow_pull_requests() {
        let f = only(
            "github",
            "repository_id = 42, event_name = \"pull_request\"",
        );
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.fix.starts_with("add allow_pull_requests = true"),
            "{}",
            f.fix
        );
        let allowed = rule(
            "github",
            "repository_id = 42, event_name = \"pull_request\"",
        ) + "allow_pull_requests = true\n";
        assert!(lint_of(&allowed).is_empty());
    }

    #[test]
    fn values_of_the_wrong_type_that_never_match() {
        let f = only("github", "repository_id = \"acme/payments\"");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("is a decimal id"), "{}", f.message);
        let f = only("github", "repository_id = true");
        assert_eq!(f.severity, Severity::Error);
        let f = only("gitlab", "project_id = 42, ref_protected = \"yes\"");
        assert_eq!(f.fix, "write ref_protected = \"true\"");
        let f = only("gitlab", "project_id = 42, environment_protected = 0");
        assert_eq!(f.fix, "write environment_protected = \"false\"");
        let f = only("gitlab", "project_id = 42, groups_direct = \"acme\"");
        assert!(f.message.contains("is a list"), "{}", f.message);
        let f = only("gitlab", "project_id = 42, ref_type = \"branchh\"");
        assert!(f.fix.starts_with("did you mean \"branch\"?"), "{}", f.fix);
        // Numbers and booleans compare with the claim's text: these match.
        clean(
            "github",
            "repository_id = 42, repository_owner_id = \"7\", ref_protected = true",
        );
        clean(
            "gitlab",
            "project_id = 42, ref_protected = \"false\", environment = \"42\"",
        );
    }

    #[test]
    fn a_rule_behind_an_identical_one_is_shadowed() {
        let first = rule("github", "repository_id = 42, ref = \"refs/heads/main\"");
        let same = rule(
            "github",
            "ref = \"refs/heads/main\", repository_id = \"42\"",
        );
        let findings = lint_of(&format!("{first}{same}"));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(
            (findings[0].severity, findings[0].key.as_str()),
            (Severity::Warning, "trust[1]")
        );
        assert!(
            findings[0].message.contains("trust[0]"),
            "{}",
            findings[0].message
        );

        // Not shadowed: another connection, pull requests only it allows, other claims, another
        // issuer.
        let more = same.replace("[\"payments\"]", "[\"payments\", \"ledger\"]");
        let prs = format!("{same}allow_pull_requests = true\n");
        let other = rule(
            "github",
            "repository_id = 42, ref = { glob = \"refs/heads/main\" }",
        );
        let gitlab = rule("gitlab", "repository_id = 42, ref = \"refs/heads/main\"");
        for later in [more, prs, other] {
            assert!(lint_of(&format!("{first}{later}")).is_empty(), "{later}");
        }
        let findings = lint_of(&format!("{first}{gitlab}"));
        assert!(
            findings.iter().all(|f| f.key != "trust[1]"),
            "{findings:#?}"
        );
    }
}
