//! The command line: parses arguments, sets up logging, runs one command.
//! `anyhow` lives here, at the binary's edge, and nowhere else.

#[macro_use]
mod output;

mod approvals;
mod archive;
mod check;
mod keys;
mod policy;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::base::ProcessEnv;
use crate::config::Config;
use crate::policy::classify;
use crate::state::Store;

#[derive(Parser)]
#[command(
    name = "hoop",
    version,
    about = "Run-scoped database access for CI pipelines"
)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, env = "HOOP_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// Path to hoop.toml.
    #[arg(long, short, env = "HOOP_CONFIG")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (token exchange, revocation, approvals, archives, health, metrics)
    /// and the PostgreSQL gateway, which records every session; archive finished recordings to
    /// the WORM store. SIGTERM drains, SIGHUP reloads the rules.
    Serve(ConfigArg),
    /// Apply state database migrations and exit.
    Migrate(ConfigArg),
    /// Make the running server reload its rules (trust, statement rules, masking, approvers,
    /// auditors) from its file, without dropping a session; prints the outcome. SIGHUP does
    /// the same without an answer.
    Reload(ReloadArgs),
    /// Work with the configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// A self-contained demo against the local Postgres, with a demo-only OIDC issuer.
    Demo(crate::demo::DemoArgs),
    /// List, show, approve and deny statements held for approval (against a running hoop).
    Approvals(approvals::ApprovalsArgs),
    /// Make an archive signing key, or show the public key auditors pin.
    Keys(keys::KeysArgs),
    /// List, download, verify and replay session archives (the auditor's side).
    Archive(archive::ArchiveArgs),
    /// Test and explain the statement policy offline: `policy test FILE` runs a file of cases
    /// (claims, connection, SQL → expected decision), `policy explain SQL` says why.
    Policy(policy::PolicyArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the file, compile its rules, read its secrets and load the archive signing
    /// key; connects to nothing. Then lint it: print what loads but does not work as meant
    /// (`FILE:LINE: SEVERITY: KEY: message` and a fix); exit 1 on an error finding.
    Check(check::CheckArgs),
}

/// Entry point of the `hoop` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its logs would only interleave with it.
    let default_level = if matches!(
        cli.command,
        Command::Demo(_)
            | Command::Approvals(_)
            | Command::Keys(_)
            | Command::Archive(_)
            | Command::Policy(_)
    ) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, default_level);
    // The gateway classifies statements on the runtime's own threads (no hand-off to a parser
    // thread): they get the stack the parser needs.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(classify::PARSER_STACK)
        .on_thread_start(classify::on_parser_stack)
        // Blocking threads get that stack too (address space, not memory): keep their number
        // well under tokio's default of 512.
        .max_blocking_threads(64)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    match output::failure() {
        Some(reason) => {
            eprintln!("error: the output could not be written whole: {reason}");
            ExitCode::from(2)
        }
        None => code,
    }
}

/// Targets whose debug and info logs print SQL text and parameters of hoop's own state and
/// admin connections (SCRAM verifiers, demo data): capped at warn whatever `HOOP_LOG` says, so no
/// filter setting can put a secret or a card number in a log line.
const CAPPED_TARGETS: &[&str] = &["tokio_postgres=warn"];

fn init_logging(format: LogFormat, default_level: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("HOOP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    for directive in CAPPED_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Colour only for a person at a terminal: a log redirected to a file or a collector gets
    // plain text, without escape sequences (NO_COLOR turns it off everywhere).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(arg) => {
            let config = Config::load(&arg.config)?;
            let origin = arg.config.display().to_string();
            crate::server::serve(config, &ProcessEnv, &origin, crate::server::signal()).await?;
            Ok(())
        }
        Command::Migrate(arg) => {
            let config = Config::load(&arg.config)?;
            let url = config
                .server
                .state_database_url
                .resolve(&ProcessEnv)
                .map_err(|e| anyhow::anyhow!("server.state_database_url: {e}"))?;
            let applied = Store::new(&url, 1)?
                .migrate()
                .await
                .context("migrating the state database")?;
            let latest = crate::state::latest_schema_version();
            if applied.is_empty() {
                outln!("state database is up to date (schema version {latest})");
            } else {
                outln!("applied migrations {applied:?}; schema version {latest}");
            }
            Ok(())
        }
        // 1: the file cannot be used, or a finding fails the check.
        Command::Config {
            command: ConfigCommand::Check(args),
        } => return check::run(&args).await,
        Command::Reload(args) => reload(&args).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Approvals(args) => approvals::run(args).await,
        Command::Keys(args) => keys::run(args),
        // Archive commands have exit codes of their own (1: a problem found, 2: could not run).
        Command::Archive(args) => return Ok(archive::run(args).await),
        // So do policy tests (1: a case failed, 2: could not run).
        Command::Policy(args) => return Ok(policy::run(args).await),
    }
    .map(|()| ExitCode::SUCCESS)
}

#[derive(clap::Args)]
struct ReloadArgs {
    /// The running server's configuration file (it names the control socket).
    #[arg(long, short, default_value = "hoop.toml")]
    config: std::path::PathBuf,
    /// The control socket, when the file cannot be read here.
    #[arg(long)]
    socket: Option<std::path::PathBuf>,
}

async fn reload(args: &ReloadArgs) -> anyhow::Result<()> {
    let socket = match &args.socket {
        Some(socket) => socket.clone(),
        None => Config::control_socket_of(&args.config)?,
    };
    let reloaded = crate::server::reload::request_reload(&socket)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    if reloaded.unchanged {
        outln!(
            "configuration {} is already in force; nothing changed",
            reloaded.version.to_hex()
        );
    } else {
        outln!(
            "reloaded: configuration {} in force",
            reloaded.version.to_hex()
        );
    }
    Ok(())
}
