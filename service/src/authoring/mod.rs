//! Policy authoring: `hoop policy test` and `hoop policy explain` decide, offline, what a run
//! with given claims would get for a statement, through the code the server runs: the trust
//! rules' [`TrustPolicy::evaluate`] for the credential, the gateway's
//! [`StatementPolicy::rule`] for the statement (every reading of the text, the rules, the
//! default pack, the card-data model over the catalog), and [`Rules::explain`] for why.
//!
//! The catalog is the test file's `[[catalog]]` facts ([`catalog::CatalogFacts`]). Nothing
//! connects anywhere; no credential is made.

pub mod cases;
pub mod catalog;

use std::sync::Arc;

use crate::base::{ConnectionName, Secret, SecretEnv};
use crate::config::Config;
use crate::gateway::{Catalog, CatalogLookup, InForce, LiveCatalog, Ruling, StatementPolicy};
use crate::identity::VerifiedToken;
use crate::policy::classify::Classifier;
use crate::policy::rules::{Decision, Rules, Run, StatementTrace, Subject};
use crate::trust::{DenyReason, Grant, TrustDecision, TrustPolicy};

use crate::upstream::Upstreams;
use cases::{Case, CaseFile, Expect, claim_json};
use catalog::{CaseCatalog, CatalogFacts};

/// Errors of policy authoring: a case or file that cannot be run (not a failed expectation).
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("case {case:?}: {message}")]
    Case { case: String, message: String },
}

/// The live catalogs of a configuration's connections.
pub struct LiveCatalogs {
    catalog: Catalog,
    upstreams: Upstreams,
}

impl LiveCatalogs {
    /// Admin pools for every connection (they connect on first use).
    pub fn new(config: &Config, env: &dyn SecretEnv) -> Result<LiveCatalogs, AuthoringError> {
        // Role passwords are never derived here: any key will do.
        let key = Secret::new(uuid::Uuid::new_v4().to_string());
        let upstreams =
            Upstreams::new(&config.connections, &key, env).map_err(|e| AuthoringError::File {
                file: "connections".into(),
                message: e.to_string(),
            })?;
        Ok(LiveCatalogs {
            catalog: Catalog::default(),
            upstreams,
        })
    }

    pub fn of<'a>(&'a self, connection: &'a ConnectionName) -> LiveCatalog<'a> {
        LiveCatalog {
            catalog: &self.catalog,
            upstreams: &self.upstreams,
            connection,
        }
    }
}

/// A configuration's trust rules and statement policy, ready to decide offline.
pub struct Workbench {
    config: Config,
    trust: TrustPolicy,
    statements: StatementPolicy,
    rules: Arc<Rules>,
}

/// Who a case's statement comes from: a connection, an issuer, and the run's claims.
pub struct RunSpec {
    pub connection: String,
    pub issuer: String,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// What the configuration does with one run's statement.
pub struct Outcome {
    pub token: VerifiedToken,
    /// `Err`: the trust rules grant the run nothing for the connection.
    pub grant: Result<Grant, DenyReason>,
    /// `None` when there is no grant (no session, no statement).
    pub ruling: Option<Ruling>,
    /// Every rule's outcome per statement, for `explain`.
    pub traces: Vec<StatementTrace>,
}

impl Outcome {
    /// The outcome as a case's expectation.
    pub fn expect(&self) -> Expect {
        match &self.ruling {
            None => Expect::NotGranted,
            Some(r) => Expect::of(r.decision.action),
        }
    }

    pub fn decision(&self) -> Option<&Decision> {
        self.ruling.as_ref().map(|r| &r.decision)
    }
}

impl Workbench {
    pub fn new(config: Config, origin: &str) -> Result<Workbench, AuthoringError> {
        let trust = config.trust_policy(origin)?;
        let rules = config.statement_rules(origin)?;
        let classifier = Arc::new(Classifier::new(config.policy.max_statement_bytes, 256));
        let statements = StatementPolicy::new(
            classifier,
            InForce {
                version: config.digest(),
                rules: rules.clone(),
            },
        );
        Ok(Workbench {
            config,
            trust,
            statements,
            rules,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What `run` would get for `sql`: the trust rules' grant, then the gateway's ruling and
    /// every rule's outcome, with `catalog` as the upstream's catalog.
    pub async fn decide(
        &self,
        run: &RunSpec,
        sql: &str,
        catalog: &impl CatalogLookup,
    ) -> Result<Outcome, String> {
        let connection = ConnectionName::new(&run.connection)
            .map_err(|e| format!("connection: {e}"))
            .and_then(|c| {
                self.config
                    .connection(&c)
                    .map(|_| c)
                    .ok_or_else(|| format!("no [[connections]] is named {:?}", run.connection))
            })?;
        let issuer = self
            .config
            .issuer(&run.issuer)
            .ok_or_else(|| format!("no [[issuers]] is named {:?}", run.issuer))?;
        let token = VerifiedToken::assumed(issuer, run.claims.clone())
            .map_err(|e| format!("the claims are not a token this issuer could send: {e}"))?;
        let grant = match self.trust.evaluate(&token, &connection) {
            TrustDecision::Granted(grant) => grant,
            TrustDecision::Denied { reason } => {
                return Ok(Outcome {
                    token,
                    grant: Err(reason),
                    ruling: None,
                    traces: Vec::new(),
                });
            }
        };
        let subject = Subject::new(
            connection.as_str(),
            Run {
                identity: &token.run,
                trust: &grant.rule,
                role: grant.role.as_str(),
            },
        );
        let ruling = self
            .statements
            .rule(&self.rules, &subject, sql, catalog)
            .await;
        let traces = match &ruling.classification {
            Some(c) => self.rules.explain(&subject, sql, c, &ruling.relations).1,
            None => Vec::new(),
        };
        Ok(Outcome {
            token,
            grant: Ok(grant),
            ruling: Some(ruling),
            traces,
        })
    }

    /// Every table-qualified column pattern of the configuration, with its key: rules'
    /// `columns` (and their exceptions'), `policy.pan_columns`, `[[masking.columns]]`.
    fn column_patterns(&self) -> Vec<(String, String)> {
        let config = &self.config;
        let mut patterns = Vec::new();
        for (i, rule) in config.rules.iter().enumerate() {
            for (j, c) in rule.columns.iter().enumerate() {
                patterns.push((format!("rules[{i}].columns[{j}]"), c.clone()));
            }
            for (u, unless) in rule.unless.iter().enumerate() {
                for (j, c) in unless.columns.iter().enumerate() {
                    patterns.push((format!("rules[{i}].unless[{u}].columns[{j}]"), c.clone()));
                }
            }
        }
        for (j, c) in config.policy.pan_columns.iter().enumerate() {
            patterns.push((format!("policy.pan_columns[{j}]"), c.clone()));
        }
        for (i, m) in config.masking.columns.iter().enumerate() {
            for (j, c) in m.columns.iter().enumerate() {
                patterns.push((
                    format!("masking.columns[{i}].columns[{j}]"),
                    format!("{}.{c}", m.table),
                ));
            }
        }
        patterns
    }

    /// Claim names of a case that its issuer's tokens never carry, as `claims.<name>
    /// (unknown to <forge>)`.
    fn unknown_claims(&self, run: &RunSpec) -> Vec<String> {
        let Some(issuer) = self.config.issuer(&run.issuer) else {
            return Vec::new();
        };
        run.claims
            .keys()
            .filter(|name| {
                crate::identity::schema::claim(issuer.kind, name).is_none()
                    && !(issuer.kind == crate::identity::Provider::Github
                        && name.starts_with(crate::identity::schema::GITHUB_CUSTOM_PROPERTY_PREFIX))
            })
            .map(|name| {
                format!(
                    "claims.{name} (no {} token carries it)",
                    crate::identity::schema::forge_name(issuer.kind)
                )
            })
            .collect()
    }

    /// The `run.*` conditions of the rules whose claim the outcome's token does not carry.
    fn missing_claims(&self, outcome: &Outcome) -> Vec<String> {
        let run = &outcome.token.run;
        self.rules
            .run_claims_read()
            .into_iter()
            .filter(|key| match *key {
                "run.environment" => run.environment.is_none(),
                "run.ref" => run.git_ref.is_none(),
                "run.event" => run.event.is_none(),
                "run.actor" => run.actor.is_none(),
                "run.workflow" => run.workflow.is_none(),
                _ => false,
            })
            .map(str::to_owned)
            .collect()
    }

    /// Runs every case of a test file, with the file's catalog facts or, given `live`, each
    /// case's connection's live catalog.
    pub async fn run_cases(
        &self,
        file: &CaseFile,
        origin: &str,
        live: Option<&LiveCatalogs>,
    ) -> Result<Vec<CaseResult>, AuthoringError> {
        let facts = CatalogFacts::new(&file.catalog).map_err(|message| AuthoringError::File {
            file: origin.into(),
            message,
        })?;
        if !facts.is_empty() {
            let unmatched = facts.unmatched_columns(self.column_patterns());
            if !unmatched.is_empty() {
                let lines: Vec<String> = unmatched
                    .into_iter()
                    .map(|(key, message)| format!("{key}: {message}"))
                    .collect();
                return Err(AuthoringError::File {
                    file: origin.into(),
                    message: format!(
                        "the configuration names columns the catalog does not have:\n  {}",
                        lines.join("\n  ")
                    ),
                });
            }
        }
        if file.cases.is_empty() {
            return Err(AuthoringError::File {
                file: origin.into(),
                message: "the file has no [[cases]]".into(),
            });
        }
        let mut results = Vec::with_capacity(file.cases.len());
        for case in &file.cases {
            let run = run_spec(file, case).map_err(|message| AuthoringError::Case {
                case: case.name.clone(),
                message,
            })?;
            let connection = ConnectionName::new(&run.connection).ok();
            let catalog = match (live, &connection) {
                (Some(live), Some(connection)) => CaseCatalog::Live(live.of(connection)),
                _ => CaseCatalog::Facts(&facts),
            };
            let outcome = self
                .decide(&run, &case.sql, &catalog)
                .await
                .map_err(|message| AuthoringError::Case {
                    case: case.name.clone(),
                    message,
                })?;
            let got = outcome.expect();
            let rule = outcome.decision().and_then(|d| d.rule.clone());
            let passed = got == case.expect
                && case
                    .rule
                    .as_ref()
                    .is_none_or(|want| rule.as_deref() == Some(want.as_str()));
            let mut missing = self.missing_claims(&outcome);
            let unknown = self.unknown_claims(&run);
            missing.extend(unknown);
            results.push(CaseResult {
                missing,
                name: case.name.clone(),
                expected: case.expect,
                expected_rule: case.rule.clone(),
                got,
                rule,
                passed,
                outcome,
            });
        }
        Ok(results)
    }
}

/// One case's result.
pub struct CaseResult {
    pub name: String,
    pub expected: Expect,
    pub expected_rule: Option<String>,
    pub got: Expect,
    /// The deciding rule, if one decided.
    pub rule: Option<String>,
    pub passed: bool,
    pub outcome: Outcome,
    /// `run.*` conditions of the rules that read a claim this case's token does not carry
    /// (they never hold for it, which a passing case does not show), and claim names the
    /// issuer never sends (a misspelt claim is no claim).
    pub missing: Vec<String>,
}

/// A case's run: its own connection, issuer and claims over the file's defaults.
pub fn run_spec(file: &CaseFile, case: &Case) -> Result<RunSpec, String> {
    let connection = case
        .connection
        .clone()
        .or_else(|| file.defaults.connection.clone())
        .ok_or("no connection: set `connection` in the case or in [defaults]")?;
    let issuer = case
        .issuer
        .clone()
        .or_else(|| file.defaults.issuer.clone())
        .ok_or("no issuer: set `issuer` in the case or in [defaults]")?;
    let mut claims = serde_json::Map::new();
    for (name, value) in file.defaults.claims.iter().chain(&case.claims) {
        claims.insert(
            name.clone(),
            claim_json(value).map_err(|e| format!("claims.{name}: {e}"))?,
        );
    }
    Ok(RunSpec {
        connection,
        issuer,
        claims,
    })
}
