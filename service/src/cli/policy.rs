//! `hoop policy test FILE` and `hoop policy explain SQL`: a configuration's decisions, offline,
//! through the server's own code ([`crate::authoring`]). Exit codes: 0 every case passed,
//! 1 a case failed, 2 the command could not run (a file that does not load, a case that names
//! an unknown connection or issuer).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::authoring::cases::{CaseFile, Expect};
use crate::authoring::catalog::CatalogFacts;
use crate::authoring::{LiveCatalogs, Outcome, RunSpec, Workbench};
use crate::base::{ConnectionName, ProcessEnv};
use crate::config::Config;
use crate::display;
use crate::policy::rules::{Decision, Outcome as RuleOutcome, StatementTrace};
use crate::trust::DenyReason;

#[derive(clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(clap::Subcommand)]
enum PolicyCommand {
    /// Run a policy test file: each case's claims, connection and SQL against the
    /// configuration, compared with the decision and rule it expects. Exit 1 on a mismatch.
    Test(TestArgs),
    /// Explain one statement from one run: the decision, the deciding rule, every rule
    /// considered and why it did or did not match, and what the statement reads and writes.
    Explain(ExplainArgs),
}

#[derive(clap::Args)]
struct TestArgs {
    /// Path to hoop.toml.
    #[arg(long, short, env = "HOOP_CONFIG")]
    config: PathBuf,
    /// The policy test file (TOML: [defaults], [[catalog]], [[cases]]).
    file: PathBuf,
    /// Explain every case, not only the failed ones.
    #[arg(long, short)]
    verbose: bool,
    /// Read each connection's live catalog through its admin_url (secrets from the
    /// environment) instead of the file's [[catalog]] facts.
    #[arg(long)]
    upstream: bool,
}

#[derive(clap::Args)]
struct ExplainArgs {
    /// Path to hoop.toml.
    #[arg(long, short, env = "HOOP_CONFIG")]
    config: PathBuf,
    /// A policy test file whose [defaults] (connection, issuer, claims) and [[catalog]] apply.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// The connection (default: the test file's, else the only one configured).
    #[arg(long)]
    connection: Option<String>,
    /// The `[[issuers]] name` (default: the test file's, else the only one configured).
    #[arg(long)]
    issuer: Option<String>,
    /// A claim of the run's token, `name=value` (repeatable; over the test file's defaults);
    /// the value is a string.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
    /// Read the connection's live catalog through its admin_url (secrets from the
    /// environment) instead of the test file's [[catalog]] facts.
    #[arg(long)]
    upstream: bool,
    /// The statement text, as the client sends it.
    sql: String,
}

pub async fn run(args: PolicyArgs) -> ExitCode {
    let result = match args.command {
        PolicyCommand::Test(args) => test(&args).await,
        PolicyCommand::Explain(args) => explain(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(config: &Path) -> anyhow::Result<Workbench> {
    let origin = config.display().to_string();
    let config = Config::load(config)?;
    Ok(Workbench::new(config, &origin)?)
}

fn read_cases(path: &Path) -> anyhow::Result<CaseFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the file: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

async fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let bench = load(&args.config)?;
    let file = read_cases(&args.file)?;
    let origin = args.file.display().to_string();
    let live = if args.upstream {
        Some(LiveCatalogs::new(bench.config(), &ProcessEnv)?)
    } else {
        None
    };
    let results = bench.run_cases(&file, &origin, live.as_ref()).await?;
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        let status = if r.passed { "ok  " } else { "FAIL" };
        outln!("{status} {}", display::line(&r.name));
        if !r.passed {
            outln!(
                "     expected {}, got {}",
                expectation(r.expected, r.expected_rule.as_deref()),
                expectation(r.got, r.rule.as_deref())
            );
        }
        if !r.missing.is_empty() {
            outln!(
                "     note: {}: a condition on a claim the token does not carry never holds",
                display::line(&r.missing.join(", "))
            );
        }
        if !r.passed || args.verbose {
            print_outcome(&r.outcome, "     ");
        }
    }
    outln!(
        "{} cases: {} passed, {failed} failed",
        results.len(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn expectation(expect: Expect, rule: Option<&str>) -> String {
    match rule {
        Some(rule) => format!("{} by rule {}", expect.as_str(), display::line(rule)),
        None => expect.as_str().to_owned(),
    }
}

async fn explain(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let bench = load(&args.config)?;
    let (defaults, facts) = match &args.cases {
        Some(path) => {
            let file = read_cases(path)?;
            (file.defaults, file.catalog)
        }
        None => Default::default(),
    };
    let catalog = CatalogFacts::new(&facts).map_err(anyhow::Error::msg)?;
    let config = bench.config();
    let only = |names: Vec<String>, what: &str| match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(anyhow::anyhow!("name the {what} (--{what})")),
    };
    let connection = match args.connection.clone().or(defaults.connection) {
        Some(c) => c,
        None => only(
            config
                .connections
                .iter()
                .map(|c| c.name.as_str().to_owned())
                .collect(),
            "connection",
        )?,
    };
    let issuer = match args.issuer.clone().or(defaults.issuer) {
        Some(i) => i,
        None => only(
            config.issuers.iter().map(|i| i.name.clone()).collect(),
            "issuer",
        )?,
    };
    let mut claims = serde_json::Map::new();
    for (name, value) in &defaults.claims {
        claims.insert(
            name.clone(),
            crate::authoring::cases::claim_json(value)
                .map_err(|e| anyhow::anyhow!("claims.{name}: {e}"))?,
        );
    }
    for claim in &args.claims {
        let (name, value) = claim
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--claim {claim:?}: write NAME=VALUE"))?;
        claims.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
    }
    let run = RunSpec {
        connection,
        issuer,
        claims,
    };
    let outcome = if args.upstream {
        let live = LiveCatalogs::new(config, &ProcessEnv)?;
        let connection = ConnectionName::new(&run.connection)
            .map_err(|e| anyhow::anyhow!("--connection: {e}"))?;
        bench.decide(&run, &args.sql, &live.of(&connection)).await
    } else {
        bench.decide(&run, &args.sql, &catalog).await
    }
    .map_err(anyhow::Error::msg)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&json(&outcome))?);
    } else {
        print_outcome(&outcome, "");
    }
    Ok(ExitCode::SUCCESS)
}

/// The explanation of one outcome, for people.
fn print_outcome(outcome: &Outcome, indent: &str) {
    let run = &outcome.token.run;
    outln!(
        "{indent}run: {} {} ref {} environment {} event {}",
        run.provider.as_str(),
        display::line(&run.repository),
        display::line(run.git_ref.as_deref().unwrap_or("-")),
        display::line(run.environment.as_deref().unwrap_or("-")),
        display::line(run.event.as_deref().unwrap_or("-")),
    );
    let grant = match &outcome.grant {
        Ok(grant) => grant,
        Err(reason) => {
            outln!("{indent}trust: no credential: {}", denial(reason));
            return;
        }
    };
    outln!(
        "{indent}trust: rule {} grants role {} on {}",
        display::line(&grant.rule),
        grant.role.as_str(),
        grant.connection.as_str()
    );
    let Some(ruling) = &outcome.ruling else {
        return;
    };
    outln!("{indent}decision: {}", decision(&ruling.decision));
    let Some(classification) = &ruling.classification else {
        outln!("{indent}  the text could not be classified");
        return;
    };
    for (i, (statement, trace)) in classification
        .statements
        .iter()
        .zip(&outcome.traces)
        .enumerate()
    {
        outln!(
            "{indent}statement {} of {}: {}",
            i + 1,
            classification.statements.len(),
            statement.kind
        );
        let names = |list: &[crate::policy::classify::ObjectName]| {
            if list.is_empty() {
                "-".to_owned()
            } else {
                list.iter()
                    .map(|n| display::line(&n.to_string()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let kinds: Vec<&str> = statement.inner_kinds.iter().map(|k| k.as_str()).collect();
        outln!(
            "{indent}  nested kinds: {}",
            if kinds.is_empty() {
                "-".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        outln!("{indent}  reads: {}", names(&statement.reads));
        outln!("{indent}  writes: {}", names(&statement.writes));
        outln!("{indent}  functions: {}", names(&statement.functions));
        let columns: Vec<String> = statement
            .columns
            .iter()
            .map(|c| match &c.qualifier {
                Some(q) => format!("{q}.{}", c.name),
                None => c.name.clone(),
            })
            .chain(statement.star.then(|| "*".to_owned()))
            .map(|c| display::line(&c).into_owned())
            .collect();
        outln!(
            "{indent}  columns: {}",
            if columns.is_empty() {
                "-".to_owned()
            } else {
                columns.join(", ")
            }
        );
        outln!(
            "{indent}  bounded (WHERE/LIMIT): {}",
            if statement.bounded { "yes" } else { "no" }
        );
        print_trace(trace, indent);
    }
}

fn print_trace(trace: &StatementTrace, indent: &str) {
    outln!("{indent}  verdict: {}", decision(&trace.verdict));
    for c in &trace.considered {
        let source = if c.pack { "pack" } else { "rule" };
        let why = match &c.outcome {
            RuleOutcome::Decided => "decided".to_owned(),
            RuleOutcome::DryRun => "matched (dry run: recorded, not enforced)".to_owned(),
            RuleOutcome::Shadowed => "matched, but an earlier rule decided".to_owned(),
            RuleOutcome::NotApplicable(key) => format!("not for this session ({key})"),
            RuleOutcome::NoMatch(key) => format!("no match ({key})"),
        };
        outln!(
            "{indent}    {source} {} ({}): {why}",
            display::line(&c.rule),
            c.action.as_str()
        );
    }
    match &trace.card_data {
        Some(refused) => outln!("{indent}    card data: {}", decision(refused)),
        None => outln!("{indent}    card data: no refusal"),
    }
}

fn decision(d: &Decision) -> String {
    let mut text = d.action.as_str().to_owned();
    if let Some(rule) = &d.rule {
        text.push_str(&format!(" by rule {}", display::line(rule)));
    }
    if !d.reason.is_empty() {
        text.push_str(&format!(": {}", display::line(&d.reason)));
    }
    for dry in &d.dry_run {
        text.push_str(&format!(
            " [dry run: {} would {}]",
            display::line(&dry.rule),
            dry.action.as_str()
        ));
    }
    text
}

fn denial(reason: &DenyReason) -> String {
    match reason {
        DenyReason::NoMatchingRule(_) => "no trust rule of this issuer matches the claims".into(),
        DenyReason::ConnectionNotGranted { rule } => format!(
            "trust rule {} matches, but does not grant this connection",
            display::line(rule)
        ),
        DenyReason::PullRequestNotAllowed { rule, .. } => format!(
            "trust rule {} matches, but the run is pull-request-driven and the rule does not \
             allow pull requests",
            display::line(rule)
        ),
    }
}

/// The explanation as JSON.
fn json(outcome: &Outcome) -> serde_json::Value {
    let grant = match &outcome.grant {
        Ok(g) => serde_json::json!({
            "trust_rule": g.rule,
            "role": g.role.as_str(),
            "connection": g.connection.as_str(),
        }),
        Err(reason) => serde_json::json!({ "refused": denial(reason) }),
    };
    let ruling = outcome.ruling.as_ref().map(|r| {
        serde_json::json!({
            "decision": r.decision,
            "statements": r.classification.as_ref().map(|c| &c.statements),
            "rules": outcome.traces,
        })
    });
    serde_json::json!({ "run": outcome.token.run, "grant": grant, "ruling": ruling })
}
