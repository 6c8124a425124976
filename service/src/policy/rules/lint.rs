//! `config check` findings about `[[rules]]`: what loads but cannot work as its author meant.
//! Each names the key at fault (`rules[2].columns[0]`) and the fix.

use super::run::{RunClaim, claim_glob};
use super::{Action, PolicyConfig, RuleConfig, default_pack};
use crate::base::lint::{Finding, nearest};
use crate::identity::Provider;

/// What the rest of the configuration offers the rules' conditions.
pub struct LintContext<'a> {
    /// `[[trust]] name`s, in file order.
    pub trust_rules: Vec<&'a str>,
    /// Every role a trust rule grants (its `role`, or its connections' `default_role`).
    pub roles: Vec<&'a str>,
    /// The kinds of the configured issuers.
    pub providers: Vec<Provider>,
}

/// Every finding about the configured rules.
pub fn lint(policy: &PolicyConfig, rules: &[RuleConfig], context: &LintContext) -> Vec<Finding> {
    let mut findings = Vec::new();
    let pack = if policy.default_rules {
        default_pack(policy)
    } else {
        Vec::new()
    };
    for (i, rule) in rules.iter().enumerate() {
        let key = format!("rules[{i}]");
        lint_run(
            &format!("{key}.run"),
            &rule.run,
            rule.action,
            context,
            &mut findings,
        );
        for (u, unless) in rule.unless.iter().enumerate() {
            // An exception lets statements through: its run conditions are read like an allow
            // rule's.
            lint_run(
                &format!("{key}.unless[{u}].run"),
                &unless.run,
                Action::Allow,
                context,
                &mut findings,
            );
        }
        if rule.action != Action::Allow {
            for (c, column) in rule.columns.iter().enumerate() {
                if !column.contains('.') {
                    findings.push(Finding::warning(
                        format!("{key}.columns[{c}]"),
                        format!(
                            "{column:?} names a column of any table, so this rule also matches \
                             every `SELECT *` (and `t.*`, and a whole-row reference) of any table"
                        ),
                        format!(
                            "qualify it with its table: \"cards.{column}\" matches `cards`'s \
                             column, and a `*` only of a statement that reads `cards`"
                        ),
                    ));
                }
            }
        }
        if let Some(earlier) = rules[..i].iter().position(|e| shadows(e, rule)) {
            findings.push(Finding::warning(
                key.clone(),
                format!(
                    "rule {:?} never decides: rules[{earlier}] ({:?}) comes first and matches \
                     every statement it matches",
                    rule.id, rules[earlier].id
                ),
                format!(
                    "remove it, or move it before rules[{earlier}] if it is meant to win; \
                     `hoop policy explain` shows which rule decides a statement"
                ),
            ));
        }
        if rule.action == Action::Allow {
            for floor in pack.iter().filter(|p| overlaps(rule, p)) {
                findings.push(Finding::warning(
                    key.clone(),
                    format!(
                        "allow rule {:?} cannot let through what the default pack's {:?} \
                         refuses: the pack is a floor no configured rule lowers",
                        rule.id, floor.id
                    ),
                    "narrow the rule to what the pack allows, or (knowing what it protects) set \
                     policy.default_rules = false"
                        .to_owned(),
                ));
            }
        }
    }
    findings
}

/// Run conditions that can match nothing, or not what they seem to.
fn lint_run(
    key: &str,
    run: &super::RunConditions,
    action: Action,
    context: &LintContext,
    findings: &mut Vec<Finding>,
) {
    for (claim, patterns) in run.lists() {
        for (p, pattern) in patterns.iter().enumerate() {
            let at = format!("{key}.{}[{p}]", claim.key().trim_start_matches("run."));
            let Ok(glob) = claim_glob(pattern) else {
                continue;
            };
            let known: Option<(&str, &[&str])> = match claim {
                RunClaim::Trust => Some(("[[trust]] rule", &context.trust_rules)),
                RunClaim::Role => Some(("role granted by a trust rule", &context.roles)),
                RunClaim::Provider => Some(("provider", &["github", "gitlab"])),
                _ => None,
            };
            if let Some((what, names)) = known
                && !names.iter().any(|n| glob.is_match(n))
            {
                let fix = match nearest(pattern, names.iter().copied()) {
                    Some(near) => format!("did you mean {near:?}? known: {}", names.join(", ")),
                    None => format!("known: {}", names.join(", ")),
                };
                findings.push(Finding::error(
                    at.clone(),
                    format!("{pattern:?} matches no {what}, so this condition never holds"),
                    fix,
                ));
            }
            if claim == RunClaim::Ref
                && context.providers.contains(&Provider::Github)
                && !pattern.starts_with("refs/")
                && !pattern.starts_with(['*', '?', '[', '{'])
                && !run
                    .provider
                    .iter()
                    .all(|p| p.eq_ignore_ascii_case("gitlab"))
            {
                findings.push(Finding::warning(
                    at.clone(),
                    format!(
                        "GitHub sends full refs (refs/heads/{pattern}): {pattern:?} matches \
                         GitLab runs only, whose ref is the bare branch or tag name"
                    ),
                    format!(
                        "for GitHub write \"refs/heads/{pattern}\"; for GitLab only, add \
                         provider = [\"gitlab\"]"
                    ),
                ));
            }
            if has_partial_double_star(pattern) {
                findings.push(Finding::warning(
                    at.clone(),
                    format!(
                        "`**` in {pattern:?} is not a whole `/` segment, so it is a plain `*` \
                         that stops at `/`"
                    ),
                    "write `**` between slashes or at an end (`refs/heads/**`), or `*/**` after \
                     other characters (`ci.yml@*/**`)"
                        .to_owned(),
                ));
            }
            if matches!(
                claim,
                RunClaim::Ref | RunClaim::Workflow | RunClaim::Repository
            ) && action != Action::Allow
                && has_lone_star(pattern)
            {
                findings.push(Finding::warning(
                    at,
                    format!(
                        "`*` in {pattern:?} stops at `/` (rules read claims in the trust rules' \
                         glob dialect): it does not match deeper paths such as \
                         refs/heads/feature/x"
                    ),
                    "write `**` where the rule must match across `/`".to_owned(),
                ));
            }
        }
    }
}

/// A `**` with other characters than `/` beside it (`@**`, `release**`): globs give it its
/// crossing meaning only as a whole segment.
fn has_partial_double_star(pattern: &str) -> bool {
    pattern.match_indices("**").any(|(i, _)| {
        let before = pattern[..i].chars().next_back();
        let after = pattern[i + 2..].chars().next();
        !matches!(before, None | Some('/')) || !matches!(after, None | Some('/'))
    })
}

/// A `*` that is not part of `**`.
fn has_lone_star(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'*'
            && bytes.get(i + 1) != Some(&b'*')
            && (i == 0 || bytes[i - 1] != b'*')
            && (i == 0 || bytes[i - 1] != b'\\')
    })
}

/// Whether `earlier` matches every statement `later` matches, for every session `later`
/// applies to: the same conditions (whatever the action), or an earlier rule of the same
/// scope with no condition on statements but its kinds, covering `later`'s kinds.
fn shadows(earlier: &RuleConfig, later: &RuleConfig) -> bool {
    if earlier.enforce == Some(false) || !earlier.unless.is_empty() {
        return false;
    }
    let scope = |r: &RuleConfig| {
        let mut r = r.clone();
        r.id.clear();
        r.reason = None;
        r.action = Action::Deny;
        r.enforce = None;
        r
    };
    let (e, l) = (scope(earlier), scope(later));
    if format!("{e:?}") == format!("{l:?}") {
        return true;
    }
    let kinds_only = |r: &RuleConfig| {
        let mut r = r.clone();
        r.kinds.clear();
        r
    };
    let same_scope_but_kinds = format!("{:?}", kinds_only(&e))
        == format!(
            "{:?}",
            RuleConfig {
                connections: l.connections.clone(),
                run: l.run.clone(),
                ..RuleConfig::default()
            }
        );
    same_scope_but_kinds
        && earlier.action != Action::Allow
        && !earlier.kinds.is_empty()
        && !later.kinds.is_empty()
        && later.kinds.iter().all(|k| earlier.kinds.contains(k))
}

/// Whether an allow rule names statements a rule of the pack refuses: a kind in common, and
/// (when the pack rule names tables) a table in common.
fn overlaps(allow: &RuleConfig, pack: &RuleConfig) -> bool {
    if pack.kinds.is_empty() || allow.kinds.is_empty() {
        return false;
    }
    let kind = allow.kinds.iter().any(|k| pack.kinds.contains(k));
    let tables = |r: &RuleConfig| {
        r.tables
            .iter()
            .chain(&r.writes)
            .cloned()
            .collect::<Vec<_>>()
    };
    let pack_tables = tables(pack);
    let allow_tables = tables(allow);
    kind && (pack_tables.is_empty()
        || allow_tables.is_empty()
        || allow_tables.iter().any(|t| {
            pack_tables
                .iter()
                .any(|p| p.eq_ignore_ascii_case(t) || p.rsplit('.').next() == Some(t.as_str()))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rules::RunConditions;

    fn context() -> LintContext<'static> {
        LintContext {
            trust_rules: vec!["payments-migrations", "payments-branches"],
            roles: vec!["ci_migrator", "ci_reader"],
            providers: vec![Provider::Github],
        }
    }

    fn keys(policy: &PolicyConfig, rules: &[RuleConfig]) -> Vec<(String, bool)> {
        lint(policy, rules, &context())
            .into_iter()
            .map(|f| (f.key, f.severity == crate::base::lint::Severity::Error))
            .collect()
    }

    #[test]
    fn conditions_that_name_nothing_or_not_what_they_seem_are_found() {
        let rules = [
            RuleConfig {
                id: "typo".into(),
                kinds: vec!["update".into()],
                run: RunConditions {
                    trust: vec!["payments-migratoins".into()],
                    role: vec!["ci_admin".into()],
                    provider: vec!["gitlab".into(), "github".into()],
                    git_ref: vec!["main".into(), "refs/heads/*".into()],
                    ..RunConditions::default()
                },
                columns: vec!["cvv".into(), "cards.pan".into()],
                ..RuleConfig::default()
            },
            RuleConfig {
                id: "fine".into(),
                kinds: vec!["delete".into()],
                run: RunConditions {
                    trust: vec!["payments-*".into()],
                    git_ref: vec!["refs/heads/**".into()],
                    workflow: vec!["acme/x/.github/workflows/ci.yml@**".into()],
                    ..RunConditions::default()
                },
                columns: vec!["cards.cvv".into()],
                ..RuleConfig::default()
            },
        ];
        let found = keys(&PolicyConfig::default(), &rules);
        assert_eq!(
            found,
            vec![
                ("rules[0].run.trust[0]".into(), true),
                ("rules[0].run.role[0]".into(), true),
                ("rules[0].run.ref[0]".into(), false),
                ("rules[0].run.ref[1]".into(), false),
                ("rules[0].columns[0]".into(), false),
                ("rules[1].run.workflow[0]".into(), false),
            ]
        );
        let typo = lint(&PolicyConfig::default(), &rules, &context());
        assert!(
            typo[0].fix.contains("\"payments-migrations\""),
            "{:?}",
            typo[0]
        );
    }

    #[test]
    fn shadowed_rules_and_allow_rules_under_the_pack_are_found() {
        let deny_writes = RuleConfig {
            id: "no-writes".into(),
            kinds: vec!["insert".into(), "update".into(), "delete".into()],
            ..RuleConfig::default()
        };
        let later = RuleConfig {
            id: "no-deletes".into(),
            action: Action::Approve,
            kinds: vec!["delete".into()],
            ..RuleConfig::default()
        };
        let same = RuleConfig {
            id: "again".into(),
            action: Action::Allow,
            ..deny_writes.clone()
        };
        let narrower = RuleConfig {
            id: "not-covered".into(),
            kinds: vec!["delete".into(), "truncate".into()],
            tables: vec!["payments".into()],
            ..RuleConfig::default()
        };
        let policy = PolicyConfig {
            protected_tables: vec!["public.cards".into()],
            ..PolicyConfig::default()
        };
        let lenient = RuleConfig {
            id: "truncate-ok".into(),
            action: Action::Allow,
            kinds: vec!["truncate".into()],
            tables: vec!["cards".into()],
            ..RuleConfig::default()
        };
        let found = keys(&policy, &[deny_writes, later, same, narrower, lenient]);
        assert_eq!(
            found,
            vec![
                ("rules[1]".into(), false),
                ("rules[2]".into(), false),
                ("rules[4]".into(), false),
            ],
            "a rule with a kind the earlier one lacks is not shadowed"
        );
    }
}
