//! Statement rules: a classified statement and its session ▶ a typed decision.
//!
//! Rules come from `[[rules]]` in the configuration, in file order, then the default rule pack
//! (unless `policy.default_rules = false`). The first rule whose every condition holds decides;
//! a statement no rule matches is allowed. A text of several statements is decided statement by
//! statement, and the strictest decision wins: deny, then approve, then allow (one denied
//! statement denies the text; one held statement holds all of it).
//!
//! Conditions of one rule are all required; the values listed for one condition are
//! alternatives. Table and function globs are case-insensitive and match `schema.name` when
//! the pattern has a dot, else the bare name (any schema): masking one statement too many is
//! the safe mistake.
//!
//! A rule may also name the run it applies to (`[rules.run]`: repository, environment, ref,
//! event, actor, workflow, provider, pull request), read from the run's verified claims.
//!
//! Pure: no I/O. Architecture Invariant: a text that cannot be classified is denied whenever a
//! deny or approve rule applies to its session (fail closed); the default pack always applies.

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use super::card_data::{CardData, NoCatalog, Relations};
use super::classify::{Classification, ObjectName, Statement};
use crate::identity::RunIdentity;
use crate::masking::rules::ColumnRuleConfig;

mod conditions;
mod explain;
mod lint;
mod run;

use conditions::{Conditions, Quantifier};
pub use explain::{Considered, Outcome, StatementTrace};
pub use lint::{LintContext, lint};
pub use run::RunConditions;
use run::RunMatcher;

/// What a rule does with the statements it matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    #[default]
    Deny,
    /// Hold the statement until an approver allows it (or it is denied, or times out).
    Approve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Approve => "approve",
        }
    }
}

/// What an approval of a held statement covers (`approve` rules hold; an approver grants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The held statement only.
    Once,
    /// Every statement of the same fingerprint for the rest of the run.
    Run,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Run => "run",
        }
    }
}

/// Whether the deployment can grant approvals (it has approvers). Without them an `approve`
/// rule of the default pack denies instead, and a configured one is a configuration error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approvals {
    Available,
    Unavailable,
}

/// Who sends a statement: the session's connection and, once logged in, its run.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub connection: &'a str,
    pub run: Option<Run<'a>>,
}

/// A logged-in session's run: its verified claims, and what the exchange granted it.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    pub identity: &'a RunIdentity,
    /// The `[[trust]]` rule that granted the credential (`run.trust`).
    pub trust: &'a str,
    /// The upstream role the credential's session runs as (`run.role`).
    pub role: &'a str,
}

impl<'a> Subject<'a> {
    pub fn new(connection: &'a str, run: Run<'a>) -> Subject<'a> {
        Subject {
            connection,
            run: Some(run),
        }
    }

    /// A connection with no run known (tests): rules naming a run never match.
    pub fn connection(connection: &'a str) -> Subject<'a> {
        Subject {
            connection,
            run: None,
        }
    }
}

/// `[policy]`: the default rule pack and what it protects.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The default rule pack (see [`default_pack`]); on unless turned off.
    #[serde(default = "default_true")]
    pub default_rules: bool,
    /// Tables the default pack protects from DROP, TRUNCATE and COPY TO (globs).
    #[serde(default)]
    pub protected_tables: Vec<String>,
    /// `table.column` globs holding card numbers: the default pack refuses SELECTs of them
    /// without a WHERE or LIMIT.
    #[serde(default)]
    pub pan_columns: Vec<String>,
    /// Longest statement text classified; a longer one cannot be decided, so it is denied.
    #[serde(default = "default_max_statement_bytes")]
    pub max_statement_bytes: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default_rules: true,
            protected_tables: Vec::new(),
            pan_columns: Vec::new(),
            max_statement_bytes: default_max_statement_bytes(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_max_statement_bytes() -> usize {
    1 << 20
}

/// `[[rules]]`: one rule as configured.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Named in the client's error, the recording and the audit trail.
    pub id: String,
    pub action: Action,
    /// Shown to the client with a denial.
    #[serde(default)]
    pub reason: Option<String>,
    /// Connections the rule applies to; empty: all.
    #[serde(default)]
    pub connections: Vec<String>,
    /// Statement kinds (`drop`, `select`, `copy`, `set_role`...), top-level or nested.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Tables read or written (globs).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables written (globs).
    #[serde(default)]
    pub writes: Vec<String>,
    /// Functions called (globs).
    #[serde(default)]
    pub functions: Vec<String>,
    /// Column names referenced (globs); `*` targets count as every column.
    #[serde(default)]
    pub columns: Vec<String>,
    /// `false`: only statements without WHERE or LIMIT; `true`: only bounded ones.
    pub bounded: Option<bool>,
    /// COPY direction: `to` or `from`.
    pub copy: Option<String>,
    /// Only COPY ... PROGRAM.
    #[serde(default)]
    pub copy_program: bool,
    /// Only sessions of runs whose claims match.
    #[serde(default)]
    pub run: RunConditions,
    /// Run-time parameters set, reset or shown (`SET x`, `ALTER SYSTEM SET x`); names compared
    /// case-insensitively.
    #[serde(default)]
    pub settings: Vec<String>,
    /// Tables an UPDATE or DELETE anywhere in the statement changes without a filtering WHERE
    /// (or a MERGE with UPDATE/DELETE actions targets) (globs).
    #[serde(default)]
    pub unbounded_writes: Vec<String>,
    /// Only statements that may remove or change objects they do not name (`... CASCADE`,
    /// `DROP OWNED`).
    #[serde(default)]
    pub cascade: bool,
    /// Only statements that build SQL at run time (PL/pgSQL `EXECUTE` of a non-constant,
    /// functions that run SQL texts or reach other servers).
    #[serde(default)]
    pub dynamic_sql: bool,
    /// Only COPY to or from a file on the database server (not STDIN/STDOUT, not PROGRAM),
    /// anywhere in the statement (set by the default pack).
    #[serde(skip)]
    pub copy_server_file: bool,
    /// `true`: only SELECTs whose every output column is a summarizing aggregate (`count`,
    /// `sum`, `avg`, `min`, `max`...; not `array_agg`/`string_agg`/`json_agg`); `false`: only
    /// statements that are not such a SELECT.
    pub aggregates_only: Option<bool>,
    /// `true`: only statements calling a window function (`... OVER (...)`) anywhere; `false`:
    /// only statements calling none.
    pub window_functions: Option<bool>,
    /// Exceptions (`[[rules.unless]]`, or one `[rules.unless]` table): the rule does not match
    /// a statement for which every condition of one of them holds.
    #[serde(default, deserialize_with = "one_or_many")]
    pub unless: Vec<UnlessConfig>,
    /// Only statements calling `set_config` with a parameter name that is not a constant (set
    /// by the default pack).
    #[serde(skip)]
    pub computed_setting: bool,
    /// `settings` counts only parameters the statement changes, not a top-level SHOW (set by
    /// the default pack).
    #[serde(skip)]
    pub setting_changes: bool,
    /// `false`: a dry run. The rule's decisions are recorded and audited (`would_deny`,
    /// `would_hold`) but nothing is refused or held: how a team rolls out a new rule.
    #[serde(default)]
    pub enforce: Option<bool>,
    /// Only DO blocks and function bodies whose text mentions one of these names (lower case;
    /// set by the default pack, not configurable: bodies are not parsed, so this is a text
    /// search that errs on the side of matching).
    #[serde(skip)]
    pub opaque_body_mentions: Vec<String>,
}

/// `[[rules.unless]]`: when every condition listed in one of them holds, the rule does not
/// match.
///
/// List conditions hold when *every* item of the statement fits the list, and when the
/// statement has no such item: `writes = ["schema_migrations"]` holds for a statement that
/// writes only `schema_migrations`, or writes nothing. A `*` never fits `columns`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlessConfig {
    /// Every statement kind (top-level and nested) is one of these.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Every table read or written is one of these (globs).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Every table written is one of these (globs).
    #[serde(default)]
    pub writes: Vec<String>,
    /// Every function called is one of these (globs).
    #[serde(default)]
    pub functions: Vec<String>,
    /// Every column referenced is one of these (globs; `table.column` or `column`).
    #[serde(default)]
    pub columns: Vec<String>,
    /// The run matches these conditions.
    #[serde(default)]
    pub run: RunConditions,
}

/// One table or an array of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<UnlessConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Box<UnlessConfig>),
        Many(Vec<UnlessConfig>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![*one],
        OneOrMany::Many(many) => many,
    })
}

/// Errors of the policy layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("rules[{index}] ({id}): {message}")]
    Invalid {
        index: usize,
        id: String,
        message: String,
    },
    #[error(
        "rules[{second}]: rule id {id:?} is already the id of rules[{first}]; ids name one rule"
    )]
    DuplicateId {
        id: String,
        first: usize,
        second: usize,
    },
    #[error(
        "rule id {0:?}: ids starting with `default.` belong to the default rule pack; rename the \
         rule"
    )]
    ReservedId(String),
    #[error("policy.pan_columns or [[masking.columns]]: {0}")]
    CardData(String),
}

/// A compiled rule.
struct Rule {
    id: String,
    action: Action,
    enforce: bool,
    reason: String,
    connections: Vec<String>,
    when: Conditions,
    run: RunMatcher,
    unless: Vec<Unless>,
}

/// A compiled `[rules.unless]`.
struct Unless {
    when: Conditions,
    run: RunMatcher,
}

/// A glob over `schema.name` (pattern with a dot) or the bare name, compiled twice: leaning
/// towards matching, for rules that restrict, and exact, for what lets statements through.
pub(super) struct NameGlob {
    schema: Option<GlobMatcher>,
    name: GlobMatcher,
    exact_schema: Option<GlobMatcher>,
    exact_name: GlobMatcher,
}

impl NameGlob {
    /// Case-insensitive, and an unqualified name matches whatever the pattern's schema: the
    /// session's `search_path` decides where it resolves, and a client can set it.
    pub(super) fn matches(&self, name: &ObjectName) -> bool {
        self.name.is_match(&name.name)
            && match (&self.schema, &name.schema) {
                (Some(pattern), Some(schema)) => pattern.is_match(schema),
                _ => true,
            }
    }

    /// For allow rules and exceptions, which let statements through: case-sensitive (a
    /// quoted `"Payments"` is another table than `payments`), and a pattern with a schema
    /// matches only a name written with one (an unqualified name goes wherever the session's
    /// `search_path` says).
    pub(super) fn matches_exactly(&self, name: &ObjectName) -> bool {
        self.exact_name.is_match(&name.name)
            && match (&self.exact_schema, &name.schema) {
                (Some(pattern), Some(schema)) => pattern.is_match(schema),
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

pub(super) fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    glob_with(pattern, true)
}

/// A case-sensitive [`glob`], for what lets statements through.
pub(super) fn glob_exact(pattern: &str) -> Result<GlobMatcher, String> {
    glob_with(pattern, false)
}

fn glob_with(pattern: &str, case_insensitive: bool) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {}", e.kind()))
}

pub(super) fn name_glob(pattern: &str) -> Result<NameGlob, String> {
    match pattern.rsplit_once('.') {
        Some((schema, name)) if !schema.is_empty() && !name.is_empty() => Ok(NameGlob {
            schema: Some(glob(schema)?),
            name: glob(name)?,
            exact_schema: Some(glob_with(schema, false)?),
            exact_name: glob_with(name, false)?,
        }),
        Some(_) => Err(format!("{pattern:?} is neither `name` nor `schema.name`")),
        None => Ok(NameGlob {
            schema: None,
            name: glob(pattern)?,
            exact_schema: None,
            exact_name: glob_with(pattern, false)?,
        }),
    }
}

impl Rule {
    fn compile(c: &RuleConfig) -> Result<Rule, String> {
        if c.id.trim().is_empty() {
            return Err("id must not be empty".into());
        }
        let mut unless = Vec::with_capacity(c.unless.len());
        for (i, u) in c.unless.iter().enumerate() {
            let compiled = Unless {
                when: Conditions::compile_unless(u).map_err(|e| format!("unless[{i}].{e}"))?,
                run: RunMatcher::compile(&u.run).map_err(|e| format!("unless[{i}].{e}"))?,
            };
            if compiled.when.is_empty() && compiled.run.is_empty() {
                return Err(format!("unless[{i}] has no condition"));
            }
            unless.push(compiled);
        }
        let rule = Rule {
            id: c.id.clone(),
            action: c.action,
            enforce: c.enforce.unwrap_or(true),
            reason: c.reason.clone().unwrap_or_else(|| match c.action {
                Action::Deny => "the statement policy refuses it".into(),
                Action::Approve => "the statement policy holds it for an approver".into(),
                Action::Allow => String::new(),
            }),
            connections: c.connections.clone(),
            when: Conditions::compile(c)?,
            run: RunMatcher::compile(&c.run)?,
            unless,
        };
        if rule.when.is_empty() && rule.unless.iter().all(|u| u.when.is_empty()) {
            return Err(
                "the rule has no condition on the statement (kinds, tables, writes, functions, \
                 columns, copy, ... or an `unless` one), so it would match every statement"
                    .into(),
            );
        }
        Ok(rule)
    }

    /// `Ok` when the rule applies to the subject's sessions, else the key that excludes them.
    fn applies_to(&self, subject: &Subject) -> Result<(), &'static str> {
        if !(self.connections.is_empty()
            || self.connections.iter().any(|c| c == subject.connection))
        {
            return Err("connections");
        }
        self.run
            .check(subject.run.as_ref(), self.action == Action::Allow)
    }

    /// `Ok` when the rule matches `s`, one statement of `text` (lower-cased), for `subject`
    /// (to which it applies), else the key of a condition that does not hold (`unless` when
    /// the exception holds).
    ///
    /// A restricting rule (deny, approve) matches when *any* table, function, column or kind
    /// of the statement fits its lists; an `allow` rule only when *every* one does, so an
    /// allow rule for `schema_migrations` cannot let a statement that also writes `payments`
    /// through (`WITH d AS (UPDATE payments ...) INSERT INTO schema_migrations ...`). An
    /// `unless` holds when every item fits its lists (see [`Quantifier::EveryOrNone`]).
    fn check(&self, s: &Statement, text: &str, subject: &Subject) -> Result<(), &'static str> {
        let q = match self.action {
            Action::Allow => Quantifier::Every,
            Action::Deny | Action::Approve => Quantifier::Any,
        };
        self.when.check(s, text, q)?;
        let excepted = self.unless.iter().any(|u| {
            u.run.check(subject.run.as_ref(), true).is_ok()
                && u.when.check(s, text, Quantifier::EveryOrNone).is_ok()
        });
        if excepted {
            return Err("unless");
        }
        Ok(())
    }
}

/// What the policy says about one text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The deciding rule; `None` when no rule matched (allowed).
    pub rule: Option<String>,
    /// For a denial or a hold: why, in words for the person reading the client's error.
    pub reason: String,
    /// Rules in dry-run mode (`enforce = false`) that would have denied or held the text.
    pub dry_run: Vec<DryRun>,
}

/// What a rule in dry-run mode would have done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DryRun {
    pub rule: String,
    pub action: Action,
}

impl Decision {
    fn allow() -> Decision {
        Decision {
            action: Action::Allow,
            rule: None,
            reason: String::new(),
            dry_run: Vec::new(),
        }
    }

    fn by(rule: &Rule) -> Decision {
        Decision {
            action: rule.action,
            rule: Some(rule.id.clone()),
            reason: rule.reason.clone(),
            dry_run: Vec::new(),
        }
    }

    /// The refusal when the catalog that card-data decisions need cannot be read.
    pub fn catalog_unavailable() -> Decision {
        Decision {
            action: Action::Deny,
            rule: Some(CARD_DATA_RULE.into()),
            reason: "hoop cannot read the upstream's catalog to follow card data through views, \
                     so it refuses the statement rather than guess; try again"
                .into(),
            dry_run: Vec::new(),
        }
    }

    /// Deny over approve over allow; between equals, the one that names a rule.
    fn stricter_than(&self, other: &Decision) -> bool {
        match strictness(self.action).cmp(&strictness(other.action)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => other.rule.is_none() && self.rule.is_some(),
        }
    }
}

fn strictness(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Approve => 1,
        Action::Deny => 2,
    }
}

pub use super::card_data::{CARD_DATA_RULE, UNBOUNDED_RULE};

/// The compiled rules of a deployment: configured ones, then the default pack, which is a
/// floor: a configured rule can be stricter than the pack, never more lenient.
pub struct Rules {
    configured: Vec<Rule>,
    pack: Vec<Rule>,
    card_data: CardData,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.configured.iter().chain(&self.pack).map(|r| &r.id))
            .finish()
    }
}

impl Rules {
    /// `masked_columns`: the `[[masking.columns]]` rules, whose columns are card data too.
    pub fn compile(
        policy: &PolicyConfig,
        configured: &[RuleConfig],
        approvals: Approvals,
        masked_columns: &[ColumnRuleConfig],
    ) -> Result<Rules, RuleError> {
        let mut ids = std::collections::HashMap::new();
        let mut pack = if policy.default_rules {
            default_pack(policy)
        } else {
            Vec::new()
        };
        if approvals == Approvals::Unavailable {
            for rule in pack.iter_mut().filter(|r| r.action == Action::Approve) {
                rule.action = Action::Deny;
                let reason = rule.reason.take().unwrap_or_default();
                rule.reason = Some(format!(
                    "{reason}; it needs an approver, and this deployment has none"
                ));
            }
        }
        let mut compiled = (Vec::new(), Vec::new());
        for (index, c) in configured.iter().chain(&pack).enumerate() {
            let is_pack = index >= configured.len();
            if !is_pack && c.id.starts_with("default.") {
                return Err(RuleError::ReservedId(c.id.clone()));
            }
            if let Some(first) = ids.insert(c.id.clone(), index) {
                return Err(RuleError::DuplicateId {
                    id: c.id.clone(),
                    first,
                    second: index,
                });
            }
            let invalid = |message: String| RuleError::Invalid {
                index,
                id: c.id.clone(),
                message,
            };
            if c.action == Action::Approve && approvals == Approvals::Unavailable {
                return Err(invalid(
                    "action \"approve\" needs approvers: add [[approvals.approvers]]".into(),
                ));
            }
            let rule = Rule::compile(c).map_err(invalid)?;
            if is_pack {
                compiled.1.push(rule);
            } else {
                compiled.0.push(rule);
            }
        }
        let card_data = if policy.default_rules {
            let masked: Vec<(Vec<String>, Vec<String>)> = masked_columns
                .iter()
                .map(|m| {
                    let columns = m
                        .columns
                        .iter()
                        .map(|c| format!("{}.{c}", m.table))
                        .collect();
                    (m.connections.clone(), columns)
                })
                .collect();
            CardData::compile(&policy.pan_columns, &masked).map_err(RuleError::CardData)?
        } else {
            CardData::default()
        };
        Ok(Rules {
            configured: compiled.0,
            pack: compiled.1,
            card_data,
        })
    }

    /// The `run.*` conditions the configured rules and their exceptions read (`run.workflow`),
    /// so `hoop policy test` can say when a case's token lacks a claim one of them needs.
    pub fn run_claims_read(&self) -> std::collections::BTreeSet<&'static str> {
        self.configured
            .iter()
            .flat_map(|r| {
                r.run
                    .keys()
                    .chain(r.unless.iter().flat_map(|u| u.run.keys()))
            })
            .collect()
    }

    /// The card-data columns (for the gateway, which looks their relations up).
    pub fn card_data(&self) -> &CardData {
        &self.card_data
    }

    /// Whether a deny or approve rule applies to the subject (then unclassifiable text is
    /// denied).
    pub fn may_deny(&self, subject: &Subject) -> bool {
        self.configured
            .iter()
            .chain(&self.pack)
            .any(|r| r.action != Action::Allow && r.enforce && r.applies_to(subject).is_ok())
            || self.card_data.applies_to(subject.connection)
    }

    /// The decision on a classified text (`sql` is its text) without a catalog: relation
    /// names are taken as written (see [`Rules::decide_with`]).
    pub fn decide(&self, subject: &Subject, sql: &str, text: &Classification) -> Decision {
        self.decide_with(subject, sql, text, &NoCatalog)
    }

    /// The decision on a classified text, per statement the strictest of: the first matching
    /// configured rule (rules in dry-run mode are noted and skipped), the first matching rule
    /// of the default pack, and the card-data model; over the statements, the strictest.
    pub fn decide_with(
        &self,
        subject: &Subject,
        sql: &str,
        text: &Classification,
        relations: &dyn Relations,
    ) -> Decision {
        self.evaluate(subject, sql, text, relations, None)
    }

    /// [`Rules::decide_with`], with every rule's outcome for every statement of the text.
    pub fn explain(
        &self,
        subject: &Subject,
        sql: &str,
        text: &Classification,
        relations: &dyn Relations,
    ) -> (Decision, Vec<StatementTrace>) {
        let mut traces = Vec::new();
        let decision = self.evaluate(subject, sql, text, relations, Some(&mut traces));
        (decision, traces)
    }

    /// The one evaluation behind [`Rules::decide_with`] and [`Rules::explain`]. Without a
    /// trace it stops at the first matching rule of each list and at the first denied
    /// statement; with one it goes on, to say what every rule did.
    fn evaluate(
        &self,
        subject: &Subject,
        sql: &str,
        text: &Classification,
        relations: &dyn Relations,
        mut trace: Option<&mut Vec<StatementTrace>>,
    ) -> Decision {
        // Only body rules read the text; lower-case it once, and only for a text with a body.
        let lower = if text.statements.iter().any(|s| s.opaque_body) {
            sql.to_lowercase()
        } else {
            String::new()
        };
        let tracing = trace.is_some();
        let mut decision = Decision::allow();
        let mut dry_run = Vec::new();
        for statement in &text.statements {
            let mut considered = Vec::new();
            let mut verdict = Decision::allow();
            let mut decided = false;
            for rule in &self.configured {
                let checked = rule
                    .applies_to(subject)
                    .map_err(Outcome::NotApplicable)
                    .and_then(|()| {
                        rule.check(statement, &lower, subject)
                            .map_err(Outcome::NoMatch)
                    });
                let outcome = match checked {
                    Err(outcome) => outcome,
                    Ok(()) if decided => Outcome::Shadowed,
                    Ok(()) if !rule.enforce => {
                        if rule.action != Action::Allow {
                            dry_run.push(DryRun {
                                rule: rule.id.clone(),
                                action: rule.action,
                            });
                        }
                        Outcome::DryRun
                    }
                    Ok(()) => {
                        verdict = Decision::by(rule);
                        decided = true;
                        Outcome::Decided
                    }
                };
                if tracing {
                    considered.push(Considered::of(rule, false, outcome));
                } else if decided {
                    break;
                }
            }
            let mut floor = None;
            for rule in &self.pack {
                let checked = rule
                    .applies_to(subject)
                    .map_err(Outcome::NotApplicable)
                    .and_then(|()| {
                        rule.check(statement, &lower, subject)
                            .map_err(Outcome::NoMatch)
                    });
                let outcome = match checked {
                    Err(outcome) => outcome,
                    Ok(()) if floor.is_some() => Outcome::Shadowed,
                    Ok(()) => {
                        floor = Some(Decision::by(rule));
                        Outcome::Decided
                    }
                };
                if tracing {
                    considered.push(Considered::of(rule, true, outcome));
                } else if floor.is_some() {
                    break;
                }
            }
            if let Some(floor) = floor
                && floor.stricter_than(&verdict)
            {
                verdict = floor;
            }
            let mut card_data = None;
            if (verdict.action != Action::Deny || tracing)
                && let Err(refused) =
                    self.card_data
                        .check(subject.connection, statement, &lower, relations)
            {
                let refusal = Decision {
                    action: Action::Deny,
                    rule: Some(refused.rule.into()),
                    reason: refused.reason,
                    dry_run: Vec::new(),
                };
                if verdict.action != Action::Deny {
                    verdict = refusal.clone();
                }
                card_data = Some(refusal);
            }
            if verdict.stricter_than(&decision) {
                decision = verdict.clone();
            }
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(StatementTrace {
                    considered,
                    card_data,
                    verdict,
                });
            } else if decision.action == Action::Deny {
                break;
            }
        }
        dry_run.sort_by(|a, b| a.rule.cmp(&b.rule));
        dry_run.dedup();
        decision.dry_run = dry_run;
        decision
    }

    /// The card-data model alone on a classified text, with `relations` from the catalog: a
    /// denial, or `None`. The gateway adds it to [`Rules::decide`]'s decision once the
    /// relations the text names have been looked up, without deciding the other rules again.
    pub fn card_data_refusal(
        &self,
        subject: &Subject,
        sql: &str,
        text: &Classification,
        relations: &dyn Relations,
    ) -> Option<Decision> {
        let lower = if text.statements.iter().any(|s| s.opaque_body) {
            sql.to_lowercase()
        } else {
            String::new()
        };
        text.statements.iter().find_map(|statement| {
            let refused = self
                .card_data
                .check(subject.connection, statement, &lower, relations)
                .err()?;
            Some(Decision {
                action: Action::Deny,
                rule: Some(refused.rule.into()),
                reason: refused.reason,
                dry_run: Vec::new(),
            })
        })
    }

    /// The decision on a FunctionCall protocol message: it names its function by OID and
    /// carries its arguments as values, nothing a rule can see, so it is refused whenever a deny
    /// rule applies.
    pub fn function_call(&self, subject: &Subject) -> Decision {
        if self.may_deny(subject) {
            Decision {
                action: Action::Deny,
                rule: Some("default.no-function-call".into()),
                reason: "the FunctionCall protocol message names its function by OID, which \
                         rules cannot see; call the function in SQL instead"
                    .into(),
                dry_run: Vec::new(),
            }
        } else {
            Decision::allow()
        }
    }

    /// The decision on a text that could not be classified: denied when any deny rule applies.
    pub fn undecidable(&self, subject: &Subject, why: &str) -> Decision {
        if self.may_deny(subject) {
            Decision {
                action: Action::Deny,
                rule: Some("unclassifiable".into()),
                reason: format!(
                    "hoop could not classify the statement ({why}), so it refuses it rather than \
                     guess"
                ),
                dry_run: Vec::new(),
            }
        } else {
            Decision::allow()
        }
    }
}

/// Functions that read or write the server's files, large objects on disk, or other servers.
const FILE_AND_NETWORK_FUNCTIONS: &[&str] = &[
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "lo_*",
    "loread",
    "lowrite",
    "pg_file_*",
    "pg_logdir_ls",
    "pg_ls_*",
    "dblink*",
];

/// Built-in (and common extension) functions that run a SQL text or read a whole table named by
/// a string: the policy cannot see what they read, so nothing decides it.
const SQL_TEXT_FUNCTIONS: &[&str] = &[
    "query_to_xml*",
    "cursor_to_xml*",
    "table_to_xml*",
    "schema_to_xml*",
    "database_to_xml*",
    "ts_stat",
    "ts_rewrite",
    "crosstab*",
    "connectby",
];

/// The default rule pack, ids `default.*`. Protected tables and PAN columns come from
/// `[policy]`; the rules on functions, COPY PROGRAM, ALTER SYSTEM and roles hold everywhere.
pub fn default_pack(policy: &PolicyConfig) -> Vec<RuleConfig> {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut pack = vec![
        RuleConfig {
            id: "default.no-copy-program".into(),
            action: Action::Deny,
            reason: Some("COPY ... PROGRAM runs a shell command on the database server".into()),
            copy_program: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-server-files".into(),
            action: Action::Deny,
            reason: Some(
                "functions that read server files, move large objects to disk or reach other \
                 servers are not available through hoop"
                    .into(),
            ),
            functions: strings(FILE_AND_NETWORK_FUNCTIONS),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-sql-in-strings".into(),
            action: Action::Deny,
            reason: Some(
                "this function runs a SQL text or reads a table named by a string, which the \
                 statement policy cannot see; run the query itself"
                    .into(),
            ),
            functions: strings(SQL_TEXT_FUNCTIONS),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-alter-system".into(),
            action: Action::Deny,
            reason: Some("ALTER SYSTEM changes the server's configuration".into()),
            kinds: strings(&["alter_system"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-role-switch".into(),
            action: Action::Deny,
            reason: Some(
                "a run's session keeps the run's role: SET ROLE, RESET ROLE and SET SESSION \
                 AUTHORIZATION are refused"
                    .into(),
            ),
            kinds: strings(&["set_role", "reset_role", "set_session_authorization"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-client-encoding".into(),
            action: Action::Deny,
            reason: Some(
                "the gateway classifies statements as UTF-8; client_encoding stays UTF8".into(),
            ),
            settings: strings(&["client_encoding", "names"]),
            setting_changes: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-role-setting".into(),
            action: Action::Deny,
            reason: Some(
                "a run's session keeps the run's role: the role and session_authorization \
                 parameters are not set, by SET, set_config or a SET clause"
                    .into(),
            ),
            settings: strings(&["role", "session_authorization"]),
            setting_changes: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-computed-setting".into(),
            action: Action::Deny,
            reason: Some(
                "set_config with a parameter name that is not a constant could set any \
                 parameter (the role, the client encoding); name the parameter in the text"
                    .into(),
            ),
            computed_setting: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-dynamic-sql".into(),
            action: Action::Deny,
            reason: Some(
                "this builds SQL at run time (EXECUTE of a computed text, or a function that runs \
                 SQL or reaches another server), which the statement policy cannot see; write \
                 the statements themselves"
                    .into(),
            ),
            dynamic_sql: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-cascade".into(),
            action: Action::Deny,
            reason: Some(
                "CASCADE and DROP OWNED remove objects the statement does not name (a sequence's \
                 table default, views, constraints, everything a role owns); drop each object \
                 by name"
                    .into(),
            ),
            cascade: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-drop-owned".into(),
            action: Action::Deny,
            reason: Some(
                "ownership is managed outside CI runs: DROP OWNED, REASSIGN OWNED and OWNER TO \
                 are refused"
                    .into(),
            ),
            kinds: strings(&["drop_owned", "alter_owner"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-foreign-data".into(),
            action: Action::Deny,
            reason: Some(
                "foreign data wrappers, servers, user mappings and foreign tables reach other \
                 servers, outside the gateway's view"
                    .into(),
            ),
            kinds: strings(&["foreign_data"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-server-file-copy".into(),
            action: Action::Deny,
            reason: Some(
                "COPY to or from a file on the database server is not available through hoop; \
                 use COPY ... FROM STDIN / TO STDOUT (psql's \\copy)"
                    .into(),
            ),
            copy_server_file: true,
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-prepared-transactions".into(),
            action: Action::Deny,
            reason: Some(
                "a prepared transaction outlives the session and keeps its locks until someone \
                 commits or rolls it back; commit or roll back within the session"
                    .into(),
            ),
            kinds: strings(&["prepared_transaction"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "default.no-role-changes".into(),
            action: Action::Deny,
            reason: Some("roles and grants are managed outside CI runs".into()),
            kinds: strings(&["create_role", "alter_role", "drop_role", "grant", "revoke"]),
            ..RuleConfig::default()
        },
    ];
    if !policy.protected_tables.is_empty() {
        pack.push(RuleConfig {
            id: "default.no-drop-protected".into(),
            action: Action::Deny,
            reason: Some("protected tables are not dropped or truncated from a CI run".into()),
            kinds: strings(&["drop", "truncate"]),
            tables: policy.protected_tables.clone(),
            ..RuleConfig::default()
        });
        // A DO block or function body is not parsed: one that names a protected table is held
        // for approval (refused where there are no approvers); when a table pattern is a glob
        // it cannot be searched for, so every body is held.
        let mentions = policy
            .protected_tables
            .iter()
            .map(|t| {
                let name = t.rsplit('.').next().unwrap_or(t).to_lowercase();
                if name.contains(['*', '?', '[']) {
                    String::new()
                } else {
                    name
                }
            })
            .collect();
        pack.push(RuleConfig {
            id: "default.opaque-body-protected".into(),
            action: Action::Approve,
            reason: Some(
                "DO blocks and function bodies are not analysed, and this one names a \
                 protected table"
                    .into(),
            ),
            opaque_body_mentions: mentions,
            ..RuleConfig::default()
        });
        pack.push(RuleConfig {
            id: "default.no-unbounded-write-protected".into(),
            action: Action::Deny,
            reason: Some(
                "protected tables are not emptied or overwritten whole: UPDATE and DELETE need a \
                 WHERE that filters rows (also inside WITH, PREPARE and function bodies)"
                    .into(),
            ),
            unbounded_writes: policy.protected_tables.clone(),
            ..RuleConfig::default()
        });
        pack.push(RuleConfig {
            id: "default.no-backdoor-protected".into(),
            action: Action::Deny,
            reason: Some(
                "protected tables are not renamed, moved, given away, or given triggers, rules \
                 or row-level policies from a CI run"
                    .into(),
            ),
            kinds: strings(&[
                "rename",
                "alter_owner",
                "set_schema",
                "create_trigger",
                "create_rule",
                "create_policy",
            ]),
            writes: policy.protected_tables.clone(),
            ..RuleConfig::default()
        });
        pack.push(RuleConfig {
            id: "default.approve-alter-protected".into(),
            action: Action::Approve,
            reason: Some("schema changes of a protected table need an approver".into()),
            kinds: strings(&["alter", "lock", "other", "create_table"]),
            writes: policy.protected_tables.clone(),
            ..RuleConfig::default()
        });
        pack.push(RuleConfig {
            id: "default.no-copy-out-protected".into(),
            action: Action::Deny,
            reason: Some("protected tables are not copied out of the database".into()),
            copy: Some("to".into()),
            tables: policy.protected_tables.clone(),
            ..RuleConfig::default()
        });
    }
    // Card-number columns (`policy.pan_columns`) are guarded by the card-data model
    // (`card_data.rs`), which refuses bulk reads (`default.no-unbounded-pan-select`) and every
    // use of them beyond the allow-list (`default.card-data`).
    pack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::classify::classify;

    fn policy() -> PolicyConfig {
        PolicyConfig {
            protected_tables: vec!["cards".into(), "billing.*".into()],
            pan_columns: vec!["cards.pan".into()],
            ..PolicyConfig::default()
        }
    }

    fn decide(rules: &Rules, sql: &str) -> Decision {
        let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rules.decide(&Subject::connection("payments"), sql, &c)
    }

    /// The rule that denies or holds `sql`.
    fn denied_by(rules: &Rules, sql: &str) -> Option<String> {
        let d = decide(rules, sql);
        (d.action != Action::Allow).then(|| d.rule.unwrap_or_default())
    }

    /// `tests/corpora/objects-hostile.sql`: every statement refused by a default rule.
    #[test]
    fn the_objects_corpus_is_refused_by_the_default_pack() {
        let rules = Rules::compile(&policy(), &[], Approvals::Unavailable, &[]).unwrap();
        let corpus = include_str!("../../../tests/corpora/objects-hostile.sql");
        let mut allowed = Vec::new();
        for sql in corpus
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
        {
            let d = match classify(sql) {
                Ok(c) => rules.decide(&Subject::connection("payments"), sql, &c),
                Err(e) => rules.undecidable(&Subject::connection("payments"), &e.to_string()),
            };
            if d.action != Action::Deny
                || !d
                    .rule
                    .as_deref()
                    .is_some_and(|r| r.starts_with("default.") || r == "unclassifiable")
            {
                allowed.push(format!("{sql}: {:?} {:?}", d.action, d.rule));
            }
        }
        assert!(allowed.is_empty(), "not refused:\n{}", allowed.join("\n"));
    }

    #[test]
    fn allow_rules_need_every_table_and_kind_and_cannot_lower_the_pack() {
        let configured = [
            RuleConfig {
                id: "migrations-bookkeeping".into(),
                action: Action::Allow,
                kinds: vec!["insert".into()],
                writes: vec!["schema_migrations".into()],
                ..RuleConfig::default()
            },
            RuleConfig {
                id: "ddl-is-fine".into(),
                action: Action::Allow,
                kinds: vec!["alter".into()],
                ..RuleConfig::default()
            },
            RuleConfig {
                id: "no-payment-writes".into(),
                action: Action::Deny,
                kinds: vec!["update".into(), "delete".into()],
                tables: vec!["payments".into()],
                ..RuleConfig::default()
            },
        ];
        let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
        for (sql, rule) in [
            (
                "WITH d AS (UPDATE payments SET amount = 0 RETURNING 1) \
                 INSERT INTO schema_migrations SELECT 99 FROM d LIMIT 1",
                "no-payment-writes",
            ),
            (
                "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
                "default.no-role-changes",
            ),
            (
                "ALTER TABLE cards RENAME TO c2",
                "default.no-backdoor-protected",
            ),
        ] {
            assert_eq!(denied_by(&rules, sql).as_deref(), Some(rule), "{sql}");
        }
        // What the allow rules are for still runs.
        assert_eq!(
            denied_by(&rules, "INSERT INTO schema_migrations VALUES (100)"),
            None
        );
        assert_eq!(
            denied_by(&rules, "ALTER TABLE public.orders ADD COLUMN note text"),
            None
        );
    }

    #[test]
    fn the_default_pack_denies_what_it_lists() {
        let rules = Rules::compile(&policy(), &[], Approvals::Available, &[]).unwrap();
        for (sql, rule) in [
            ("DROP TABLE cards", "default.no-drop-protected"),
            ("TRUNCATE billing.invoices", "default.no-drop-protected"),
            ("COPY cards TO STDOUT", "default.no-copy-out-protected"),
            ("COPY x FROM PROGRAM 'id'", "default.no-copy-program"),
            (
                "SELECT pg_read_file('/etc/passwd')",
                "default.no-server-files",
            ),
            (
                "SELECT public.dblink_exec('x', 'y')",
                "default.no-server-files",
            ),
            ("SET ROLE admin", "default.no-role-switch"),
            (
                "PREPARE TRANSACTION 'x'",
                "default.no-prepared-transactions",
            ),
            ("COMMIT PREPARED 'x'", "default.no-prepared-transactions"),
            (
                "BEGIN; SELECT 1; PREPARE TRANSACTION 'x'",
                "default.no-prepared-transactions",
            ),
            ("ALTER SYSTEM SET fsync = off", "default.no-alter-system"),
            ("GRANT admin TO me", "default.no-role-changes"),
            ("SET client_encoding = 'SJIS'", "default.no-client-encoding"),
            ("SET NAMES 'LATIN1'", "default.no-client-encoding"),
            ("TRUNCATE elsewhere.cards", "default.no-drop-protected"),
            ("SELECT pan FROM cards", "default.no-unbounded-pan-select"),
            (
                "SELECT * FROM public.cards",
                "default.no-unbounded-pan-select",
            ),
            (
                "DO $$ BEGIN DELETE FROM cards; END $$",
                "default.no-unbounded-write-protected",
            ),
        ] {
            assert_eq!(denied_by(&rules, sql).as_deref(), Some(rule), "{sql}");
        }
        for sql in [
            "SELECT pan FROM cards WHERE id = 1",
            "SELECT pan FROM cards LIMIT 5",
            "SELECT count(*) FROM cards",
            "DROP TABLE other.scratch",
            "COPY public.orders TO STDOUT",
            "SELECT $$DROP TABLE cards$$",
        ] {
            assert_eq!(denied_by(&rules, sql), None, "{sql}");
        }
        // `billing.*` covers every unqualified name: the search path decides where it lands.
        assert!(denied_by(&rules, "DROP TABLE scratch").is_some());
        // A glob among the protected tables cannot be searched for in a body: every body is
        // refused. With plain names, only bodies that name one.
        let body = "DO LANGUAGE plperl $$ 1; $$";
        assert!(denied_by(&rules, body).is_some());
        let plain = PolicyConfig {
            protected_tables: vec!["cards".into()],
            ..PolicyConfig::default()
        };
        let rules = Rules::compile(&plain, &[], Approvals::Available, &[]).unwrap();
        assert_eq!(denied_by(&rules, body), None);
        assert!(
            denied_by(
                &rules,
                "CREATE FUNCTION f() RETURNS int LANGUAGE plperl AS 'return 1; # Cards'"
            )
            .is_some()
        );
    }

    #[test]
    fn configured_rules_come_first_and_one_denied_statement_denies_the_text() {
        let configured = [
            RuleConfig {
                id: "scratch".into(),
                action: Action::Allow,
                kinds: vec!["drop".into()],
                tables: vec!["cards".into()],
                connections: vec!["sandbox".into()],
                ..RuleConfig::default()
            },
            RuleConfig {
                id: "no-card-writes".into(),
                action: Action::Deny,
                kinds: vec!["delete".into()],
                tables: vec!["public.cards".into()],
                ..RuleConfig::default()
            },
        ];
        let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
        assert_eq!(
            denied_by(
                &rules,
                "SELECT 1; WITH d AS (DELETE FROM cards RETURNING 1) SELECT 1"
            )
            .as_deref(),
            Some("no-card-writes")
        );
        // A bare name may resolve to any schema (search_path): a dotted pattern matches it.
        let ledger = RuleConfig {
            id: "ledger".into(),
            action: Action::Deny,
            kinds: vec!["drop".into()],
            tables: vec!["billing.ledger".into()],
            ..RuleConfig::default()
        };
        let strict = Rules::compile(
            &PolicyConfig::default(),
            &[ledger],
            Approvals::Available,
            &[],
        )
        .unwrap();
        assert!(denied_by(&strict, "DROP TABLE ledger").is_some());
        assert!(denied_by(&strict, "DROP TABLE billing.ledger").is_some());
        assert!(denied_by(&strict, "DROP TABLE other.ledger").is_none());
        // The default pack is a floor: an allow rule cannot switch it off, on its connection
        // or anywhere.
        let c = classify("DROP TABLE cards").unwrap();
        assert_eq!(
            rules
                .decide(&Subject::connection("sandbox"), "DROP TABLE cards", &c)
                .rule
                .as_deref(),
            Some("default.no-drop-protected")
        );
        assert_eq!(
            rules
                .decide(&Subject::connection("payments"), "DROP TABLE cards", &c)
                .action,
            Action::Deny
        );
    }

    #[test]
    fn unclassifiable_text_is_denied_while_a_deny_rule_applies() {
        let rules = Rules::compile(&policy(), &[], Approvals::Available, &[]).unwrap();
        assert_eq!(
            rules
                .undecidable(&Subject::connection("payments"), "syntax error")
                .action,
            Action::Deny
        );
        assert_eq!(
            rules
                .function_call(&Subject::connection("payments"))
                .rule
                .as_deref(),
            Some("default.no-function-call")
        );
        let none = Rules::compile(
            &PolicyConfig {
                default_rules: false,
                ..PolicyConfig::default()
            },
            &[],
            Approvals::Available,
            &[],
        )
        .unwrap();
        assert_eq!(
            none.undecidable(&Subject::connection("payments"), "syntax error")
                .action,
            Action::Allow
        );
        assert_eq!(
            none.function_call(&Subject::connection("payments")).action,
            Action::Allow
        );
    }

    /// A run granted by trust rule `main` as role `ci_writer`.
    fn granted(identity: &RunIdentity) -> Run<'_> {
        Run {
            identity,
            trust: "main",
            role: "ci_writer",
        }
    }

    fn run(environment: Option<&str>, pull_request: bool) -> RunIdentity {
        RunIdentity {
            provider: crate::identity::Provider::Github,
            repository: "acme/ledger".into(),
            repository_id: "1".into(),
            owner: "acme".into(),
            owner_id: "2".into(),
            run_id: crate::identity::RunId::new("77").unwrap(),
            attempt: 1,
            job_id: None,
            git_ref: Some("refs/heads/main".into()),
            sha: None,
            workflow: None,
            environment: environment.map(str::to_owned),
            actor: Some("dev".into()),
            actor_id: None,
            event: Some("push".into()),
            pull_request,
            run_url: None,
        }
    }

    #[test]
    fn approve_sits_between_deny_and_allow_and_rules_can_name_the_run() {
        let configured = [RuleConfig {
            id: "prod-migrations".into(),
            action: Action::Approve,
            kinds: vec!["alter".into()],
            tables: vec!["payments".into()],
            run: RunConditions {
                environment: vec!["prod*".into()],
                repository: vec!["ACME/*".into()],
                ..RunConditions::default()
            },
            ..RuleConfig::default()
        }];
        let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
        let alter = "ALTER TABLE public.payments ADD COLUMN note text";
        let c = classify(alter).unwrap();
        let production = run(Some("production"), false);
        let held = rules.decide(&Subject::new("payments", granted(&production)), alter, &c);
        assert_eq!(
            (held.action, held.rule.as_deref()),
            (Action::Approve, Some("prod-migrations"))
        );
        // Another environment, a run without one, or no run known: the rule does not apply.
        for other in [run(Some("staging"), false), run(None, false)] {
            let d = rules.decide(&Subject::new("payments", granted(&other)), alter, &c);
            assert_eq!(d.action, Action::Allow);
        }
        let d = rules.decide(&Subject::connection("payments"), alter, &c);
        assert_eq!(d.action, Action::Allow);
        // In one text, a denied statement outranks a held one.
        let both = format!("{alter}; DROP TABLE cards");
        let c = classify(&both).unwrap();
        let d = rules.decide(&Subject::new("payments", granted(&production)), &both, &c);
        assert_eq!(d.rule.as_deref(), Some("default.no-drop-protected"));
        // A body the classifier cannot read that names a protected table is held by the
        // default pack.
        let body = "DO LANGUAGE plperl $$ my $t = 'cards'; $$";
        assert_eq!(decide(&rules, body).action, Action::Approve);
        // Without approvers it is denied instead, and a configured approve rule is refused.
        let none = Rules::compile(&policy(), &[], Approvals::Unavailable, &[]).unwrap();
        let d = decide(&none, body);
        assert_eq!(d.action, Action::Deny);
        assert!(
            d.reason.contains("no approver") || d.reason.contains("has none"),
            "{}",
            d.reason
        );
        let e = Rules::compile(&policy(), &configured, Approvals::Unavailable, &[]).unwrap_err();
        assert!(e.to_string().contains("approvers"), "{e}");
        // A pull-request condition.
        let pr_only = RuleConfig {
            id: "pr".into(),
            action: Action::Deny,
            kinds: vec!["delete".into()],
            run: RunConditions {
                pull_request: Some(true),
                ..RunConditions::default()
            },
            ..RuleConfig::default()
        };
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &[pr_only],
            Approvals::Available,
            &[],
        )
        .unwrap();
        let delete = "DELETE FROM t WHERE id = 1";
        let c = classify(delete).unwrap();
        let pr = run(None, true);
        let push = run(None, false);
        assert_eq!(
            rules
                .decide(&Subject::new("x", granted(&pr)), delete, &c)
                .action,
            Action::Deny
        );
        assert_eq!(
            rules
                .decide(&Subject::new("x", granted(&push)), delete, &c)
                .action,
            Action::Allow
        );
    }

    #[test]
    fn bad_rules_are_refused_with_their_index() {
        for (bad, needle) in [
            (
                RuleConfig {
                    id: "x".into(),
                    ..RuleConfig::default()
                },
                "no condition",
            ),
            (
                RuleConfig {
                    id: "y".into(),
                    kinds: vec!["obliterate".into()],
                    ..RuleConfig::default()
                },
                "unknown statement kind",
            ),
            (
                RuleConfig {
                    id: "z".into(),
                    tables: vec!["[x".into()],
                    ..RuleConfig::default()
                },
                "invalid glob",
            ),
        ] {
            let e = Rules::compile(
                &PolicyConfig::default(),
                std::slice::from_ref(&bad),
                Approvals::Available,
                &[],
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("rules[0]") && e.contains(needle), "{e}");
        }
        let twice = RuleConfig {
            id: "default.no-alter-system".into(),
            kinds: vec!["drop".into()],
            ..RuleConfig::default()
        };
        assert!(matches!(
            Rules::compile(
                &PolicyConfig::default(),
                &[twice],
                Approvals::Available,
                &[]
            ),
            Err(RuleError::ReservedId(_))
        ));
        let a = RuleConfig {
            id: "same".into(),
            kinds: vec!["drop".into()],
            ..RuleConfig::default()
        };
        let e = Rules::compile(
            &PolicyConfig::default(),
            &[a.clone(), a],
            Approvals::Available,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("rules[1]") && e.contains("rules[0]"), "{e}");
    }

    fn toml_rules(text: &str) -> Vec<RuleConfig> {
        #[derive(Deserialize)]
        struct File {
            rules: Vec<RuleConfig>,
        }
        toml::from_str::<File>(text).unwrap().rules
    }

    fn decide_as(rules: &Rules, trust: &str, role: &str, sql: &str) -> Decision {
        let identity = run(None, false);
        let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let subject = Subject::new(
            "payments",
            Run {
                identity: &identity,
                trust,
                role,
            },
        );
        rules.decide(&subject, sql, &c)
    }

    #[test]
    fn unless_excepts_when_every_item_fits_and_any_exception_holds() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "read-only"
            action = "deny"
            [[rules.unless]]
            kinds = ["select", "show", "transaction"]
            [[rules.unless]]
            run.trust = ["migrations"]

            [[rules]]
            id = "migrations-write-their-tables"
            action = "deny"
            run.role = ["ci_migrator"]
            [[rules.unless]]
            writes = ["payments", "schema_migrations"]
            "#,
        );
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &configured,
            Approvals::Available,
            &[],
        )
        .unwrap();
        let branch = |sql: &str| decide_as(&rules, "branches", "ci_reader", sql);
        let migration = |sql: &str| decide_as(&rules, "migrations", "ci_migrator", sql);
        for sql in [
            "SELECT id FROM payments WHERE id = 1",
            "BEGIN; SELECT 1; COMMIT",
            "SHOW search_path",
        ] {
            assert_eq!(branch(sql).action, Action::Allow, "{sql}");
        }
        for sql in [
            "UPDATE payments SET amount = 0 WHERE id = 1",
            // A write nested in a read is not every kind a read.
            "WITH d AS (DELETE FROM payments WHERE id = 1 RETURNING id) SELECT * FROM d",
            "EXPLAIN ANALYZE DELETE FROM payments WHERE id = 1",
            "PREPARE p AS INSERT INTO payments VALUES (1)",
            "CREATE TABLE t (id int)",
            "SELECT 1; DROP TABLE payments",
        ] {
            assert_eq!(
                branch(sql).rule.as_deref(),
                Some("read-only"),
                "{sql}: {:?}",
                branch(sql)
            );
        }
        // The second exception lets the migration through the first rule; the second rule
        // keeps its writes to its tables ("every table written is in ...").
        for sql in [
            "UPDATE payments SET amount = 0 WHERE id = 1",
            "INSERT INTO schema_migrations VALUES (1); UPDATE public.payments SET x = 1 WHERE id = 2",
            "SELECT 1",
        ] {
            assert_eq!(migration(sql).action, Action::Allow, "{sql}");
        }
        for sql in [
            "UPDATE customers SET email = NULL WHERE id = 7",
            "WITH d AS (DELETE FROM customers WHERE id = 7 RETURNING id) \
             INSERT INTO schema_migrations SELECT 1 FROM d",
        ] {
            assert_eq!(
                migration(sql).rule.as_deref(),
                Some("migrations-write-their-tables"),
                "{sql}"
            );
        }
        // run.role and run.trust name what the exchange granted.
        assert_eq!(
            decide_as(
                &rules,
                "migrations",
                "ci_reader",
                "UPDATE customers SET a = 1 WHERE id = 1"
            )
            .action,
            Action::Allow
        );
    }

    #[test]
    fn a_qualified_column_pattern_needs_its_table_and_an_unqualified_one_any() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "no-cvv"
            action = "deny"
            columns = ["public.cards.cvv"]

            [[rules]]
            id = "no-secret-anywhere"
            action = "approve"
            columns = ["secret"]
            "#,
        );
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &configured,
            Approvals::Available,
            &[],
        )
        .unwrap();
        let by = |sql: &str| denied_by(&rules, sql);
        for sql in [
            "SELECT cvv FROM cards WHERE id = 1",
            "SELECT c.cvv FROM public.cards c WHERE id = 1",
            "SELECT * FROM cards WHERE id = 1",
            "SELECT x FROM cards x WHERE id = 1",
            "UPDATE cards SET cvv = '123' WHERE id = 1",
            "SELECT o.id FROM orders o JOIN cards c ON c.id = o.card_id WHERE c.cvv = '1'",
        ] {
            assert_eq!(by(sql).as_deref(), Some("no-cvv"), "{sql}");
        }
        for sql in [
            "SELECT cvv FROM orders WHERE id = 1",
            "SELECT id FROM cards WHERE id = 1",
            "SELECT id FROM billing.cards WHERE id = 1",
        ] {
            assert_eq!(by(sql), None, "{sql}");
        }
        // An unqualified pattern names a column of any table, and so every `*`.
        assert_eq!(
            by("SELECT * FROM orders").as_deref(),
            Some("no-secret-anywhere")
        );
        for bad in ["a.b.c.d", "cards.", ".cvv", "cards..cvv"] {
            let rule = RuleConfig {
                id: "bad".into(),
                columns: vec![bad.into()],
                ..RuleConfig::default()
            };
            let e = Rules::compile(&PolicyConfig::default(), &[rule], Approvals::Available, &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains("columns"), "{bad}: {e}");
        }
    }

    #[test]
    fn run_globs_read_claims_like_trust_rules() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "one-level"
            action = "deny"
            kinds = ["delete"]
            run.ref = ["refs/heads/*"]

            [[rules]]
            id = "any-depth"
            action = "deny"
            kinds = ["update"]
            run.ref = ["refs/heads/**"]
            "#,
        );
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &configured,
            Approvals::Available,
            &[],
        )
        .unwrap();
        let mut identity = run(None, false);
        identity.git_ref = Some("refs/heads/feature/x".into());
        let subject = Subject::new("payments", granted(&identity));
        let action = |sql: &str| rules.decide(&subject, sql, &classify(sql).unwrap()).action;
        assert_eq!(action("DELETE FROM t WHERE id = 1"), Action::Allow);
        assert_eq!(action("UPDATE t SET a = 1 WHERE id = 1"), Action::Deny);
        identity.git_ref = Some("refs/heads/main".into());
        let subject = Subject::new("payments", granted(&identity));
        let c = classify("DELETE FROM t WHERE id = 1").unwrap();
        assert_eq!(
            rules
                .decide(&subject, "DELETE FROM t WHERE id = 1", &c)
                .action,
            Action::Deny
        );
    }

    #[test]
    fn a_rule_needs_a_statement_condition_and_an_exception_one_condition() {
        for (text, needle) in [
            (
                "[[rules]]\nid = \"x\"\naction = \"deny\"\nrun.trust = [\"a\"]\n[[rules.unless]]\nrun.trust = [\"b\"]",
                "no condition on the statement",
            ),
            (
                "[[rules]]\nid = \"x\"\naction = \"deny\"\nkinds = [\"drop\"]\n[[rules.unless]]\n",
                "unless[0] has no condition",
            ),
            (
                "[[rules]]\nid = \"x\"\naction = \"deny\"\nkinds = [\"drop\"]\n[rules.unless]\nkinds = [\"nuke\"]",
                "unless[0].unknown statement kind",
            ),
        ] {
            let e = Rules::compile(
                &PolicyConfig::default(),
                &toml_rules(text),
                Approvals::Available,
                &[],
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    /// `explain` is the decision's own evaluation: the same decision on every text of a
    /// hostile corpus, and one outcome per rule per statement.
    #[test]
    fn explain_decides_as_decide_does_and_names_every_rule() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "no-payment-writes"
            action = "deny"
            kinds = ["update", "delete"]
            tables = ["payments"]

            [[rules]]
            id = "ddl-held"
            action = "approve"
            kinds = ["alter"]
            "#,
        );
        let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
        let subject = Subject::connection("payments");
        let corpus = include_str!("../../../tests/corpora/objects-hostile.sql");
        let texts = corpus
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .chain([
                "UPDATE payments SET a = 1 WHERE id = 1",
                "ALTER TABLE t ADD COLUMN c int; SELECT 1",
                "SELECT 1",
            ]);
        let total = configured.len() + default_pack(&policy()).len();
        for sql in texts {
            let Ok(c) = classify(sql) else { continue };
            let decided = rules.decide(&subject, sql, &c);
            let (explained, traces) = rules.explain(&subject, sql, &c, &NoCatalog);
            assert_eq!(decided, explained, "{sql}");
            assert_eq!(traces.len(), c.statements.len(), "{sql}");
            for trace in &traces {
                assert_eq!(trace.considered.len(), total, "{sql}");
                let deciding = trace
                    .considered
                    .iter()
                    .filter(|r| r.outcome == Outcome::Decided)
                    .count();
                assert!(
                    deciding <= 2,
                    "{sql}: one configured rule and one of the pack"
                );
            }
        }
    }

    /// What lets statements through (allow rules, exceptions) reads names and claims exactly;
    /// what restricts leans towards matching.
    #[test]
    fn exceptions_match_exactly_and_restrictions_loosely() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "writes-public-payments-only"
            action = "deny"
            [[rules.unless]]
            writes = ["public.payments"]

            [[rules]]
            id = "no-settlements-off-main"
            action = "deny"
            kinds = ["select"]
            tables = ["settlements"]
            [[rules.unless]]
            run.ref = ["refs/heads/main"]

            [[rules]]
            id = "no-emails"
            action = "deny"
            columns = ["customers.email"]
            "#,
        );
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &configured,
            Approvals::Available,
            &[],
        )
        .unwrap();
        let by = |sql: &str| denied_by(&rules, sql);
        assert_eq!(by("UPDATE public.payments SET a = 1 WHERE id = 1"), None);
        for sql in [
            // An unqualified name goes where search_path says; a quoted one is another table.
            "UPDATE payments SET a = 1 WHERE id = 1",
            "UPDATE public.\"Payments\" SET a = 1 WHERE id = 1",
            "UPDATE \"PUBLIC\".payments SET a = 1 WHERE id = 1",
        ] {
            assert_eq!(
                by(sql).as_deref(),
                Some("writes-public-payments-only"),
                "{sql}"
            );
        }
        // A restricting rule's table pattern still matches any case and schema.
        assert_eq!(
            by("SELECT 1 FROM \"Settlements\"").as_deref(),
            Some("no-settlements-off-main")
        );
        let mut identity = run(None, false);
        identity.git_ref = Some("refs/heads/MAIN".into());
        let subject = Subject::new("payments", granted(&identity));
        let sql = "SELECT id FROM settlements WHERE id = 1";
        let c = classify(sql).unwrap();
        assert_eq!(
            rules.decide(&subject, sql, &c).rule.as_deref(),
            Some("no-settlements-off-main"),
            "refs/heads/MAIN is another branch"
        );
        identity.git_ref = Some("refs/heads/main".into());
        let subject = Subject::new("payments", granted(&identity));
        assert_eq!(rules.decide(&subject, sql, &c).action, Action::Allow);
        // Columns renamed by position, and a table copied out whole, name every column.
        for sql in [
            "SELECT e FROM customers AS c(i, e) WHERE i = 1",
            "COPY customers TO STDOUT",
            "COPY customers (id) TO STDOUT",
        ] {
            assert_eq!(by(sql).as_deref(), Some("no-emails"), "{sql}");
        }
    }

    /// "Every table written is in ..." does not hold vacuously for a statement that changes an
    /// object that is no table; qualified column references resolve to their table.
    #[test]
    fn exceptions_see_objects_that_are_not_tables_and_qualified_columns() {
        let configured = toml_rules(
            r#"
            [[rules]]
            id = "writes-payments-only"
            action = "deny"
            [[rules.unless]]
            writes = ["payments"]

            [[rules]]
            id = "card-ids-only"
            action = "deny"
            tables = ["cards"]
            [[rules.unless]]
            columns = ["cards.id", "payments.*"]
            "#,
        );
        let rules = Rules::compile(
            &PolicyConfig::default(),
            &configured,
            Approvals::Available,
            &[],
        )
        .unwrap();
        let by = |sql: &str| denied_by(&rules, sql);
        for sql in [
            "ALTER TYPE payment_status RENAME VALUE 'paid' TO 'refunded'",
            "ALTER FUNCTION refund(int) SECURITY DEFINER",
            "ALTER DATABASE payments SET search_path = evil",
            "CREATE SCHEMA side",
            "ALTER DOMAIN email DROP CONSTRAINT email_check",
        ] {
            assert_eq!(by(sql).as_deref(), Some("writes-payments-only"), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "ALTER TABLE payments ADD COLUMN note text",
            "BEGIN READ ONLY",
        ] {
            assert_eq!(by(sql), None, "{sql}");
        }
        for sql in [
            "SELECT cards.id FROM cards WHERE cards.id = 1",
            "SELECT c.id, p.amount FROM cards c JOIN payments p ON p.card_id = c.id WHERE c.id = 1",
        ] {
            assert_eq!(by(sql), None, "{sql}");
        }
        for sql in [
            "SELECT c.holder FROM cards c WHERE c.id = 1",
            "SELECT c.row_to_json FROM cards c WHERE c.id = 1",
            "SELECT c.id FROM cards AS c(i) WHERE i = 1",
        ] {
            assert_eq!(by(sql).as_deref(), Some("card-ids-only"), "{sql}");
        }
    }
}
