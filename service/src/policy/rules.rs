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

    /// `Ok` when the rule applies to `subject` and matches `s`; else why not.
    fn considered(&self, s: &Statement, text: &str, subject: &Subject) -> Result<(), Outcome> {
        self.applies_to(subject).map_err(Outcome::NotApplicable)?;
        self.check(s, text, subject).map_err(Outcome::NoMatch)
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
                let checked = rule.considered(statement, &lower, subject);
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
                let checked = rule.considered(statement, &lower, subject);
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
mod tests;
