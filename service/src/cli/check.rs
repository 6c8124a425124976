//! `hoop config check`: validate and compile the file, read its secrets, then lint it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::base::ProcessEnv;
use crate::base::lint::Severity;
use crate::config::Config;

#[derive(clap::Args)]
pub(super) struct CheckArgs {
    /// Path to hoop.toml.
    #[arg(long, short, env = "HOOP_CONFIG")]
    config: PathBuf,
    /// Fail (exit 1) on warnings too, not only on errors: for CI.
    #[arg(long)]
    deny_warnings: bool,
    /// Also connect to each connection's database with its admin_url and check that every
    /// policy role the trust rules grant exists there (a missing one is an error).
    #[arg(long)]
    upstream: bool,
}

/// Exit 0 when the file is usable and nothing fails the check; 1 when it is not (an `Err`) or
/// a finding is an error (or a warning, with `--deny-warnings`).
pub(super) async fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = &args.config;
    let origin = path.display().to_string();
    let config = Config::load(path)?;
    let policy = config.trust_policy(&origin)?;
    let server = &config.server;
    let mut warnings = 0usize;
    for (key, source) in [
        ("server.state_database_url", &server.state_database_url),
        ("server.secret_key", &server.secret_key),
    ] {
        source
            .resolve(&ProcessEnv)
            .map_err(|e| anyhow::anyhow!("{origin}: {key}: {e}"))?;
    }
    if let (Some(cert), Some(key)) = (&config.gateway.tls_cert, &config.gateway.tls_key) {
        let (public_host, _) = config.public_endpoint();
        let tls = crate::gateway_tls::GatewayTls::from_files(
            cert,
            key,
            config.gateway.tls_ca.as_deref(),
            &public_host,
        )
        .map_err(|e| anyhow::anyhow!("{origin}: gateway.tls_cert/tls_key/tls_ca: {e}"))?;
        outln!(
            "gateway certificate SHA-256 fingerprint {}",
            tls.fingerprint_sha256
        );
    }
    if let Some(w) = &config.watcher {
        for (key, source) in [
            ("watcher.github_token", &w.github_token),
            ("watcher.gitlab_token", &w.gitlab_token),
        ] {
            if let Some(source) = source {
                source
                    .resolve(&ProcessEnv)
                    .map_err(|e| anyhow::anyhow!("{origin}: {key}: {e}"))?;
            }
        }
    }
    for (i, c) in config.connections.iter().enumerate() {
        c.admin_url
            .resolve(&ProcessEnv)
            .map_err(|e| anyhow::anyhow!("{origin}: connections[{i}].admin_url: {e}"))?;
    }
    let masking = crate::server::masking_policy(&config, &ProcessEnv, &origin)?;
    crate::server::statement_policy(&config, &origin)?;
    let archive_key = match &config.archive {
        Some(archive) => Some(
            archive
                .signing_key(&ProcessEnv)
                .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?,
        ),
        None => None,
    };
    outln!(
        "{origin}: ok ({} issuers, {} connections, {} trust rules, {} statement rules{}, {} masking column rules, {} detectors)",
        config.issuers.len(),
        config.connections.len(),
        policy.rules().len(),
        config.rules.len(),
        if config.policy.default_rules {
            " + the default pack"
        } else {
            ""
        },
        config.masking.columns.len(),
        masking.masker.detectors().len(),
    );
    if let (Some(archive), Some(key)) = (&config.archive, &archive_key) {
        outln!(
            "archive: store {} (not contacted: `hoop serve` checks it), signing key {}, {} days of retention",
            archive.store,
            key.key_id(),
            archive.retention_days
        );
    }
    let approvers = &config.approvals.approvers;
    if !approvers.is_empty() {
        outln!(
            "{} approvers; held statements time out after {}",
            approvers.len(),
            humantime::format_duration(config.approvals.timeout)
        );
    }
    for a in approvers {
        // Validation required at least one id; say which forge's runs they cannot decide.
        for (forge, id) in [("github", a.github_id), ("gitlab", a.gitlab_id)] {
            let used = config.issuers.iter().any(|i| i.kind.as_str() == forge);
            if used && id.is_none() {
                warnings += 1;
                outln!(
                    "warning: approver {:?} has no {forge}_id: dual control cannot be checked on {forge} runs, so their decisions on them are refused",
                    a.name
                );
            }
        }
    }
    if !config.policy.default_rules {
        warnings += 1;
        outln!(
            "warning: policy.default_rules = false: COPY PROGRAM, server-file functions, SET ROLE and the like are not refused unless a rule says so"
        );
    }
    if !masking.results {
        warnings += 1;
        outln!(
            "warning: masking.results = false: card numbers in results reach clients unmasked (PCI DSS 3.4.1)"
        );
    }
    for rule in policy.rules() {
        let pinned = rule.claims.iter().any(|(claim, _)| {
            matches!(
                claim.as_str(),
                "repository_id" | "repository_owner_id" | "project_id" | "namespace_id"
            )
        });
        if !pinned {
            warnings += 1;
            outln!(
                "warning: trust rule {:?} matches no numeric id (repository_id, repository_owner_id, \
                 project_id or namespace_id); names can be recycled by another owner",
                rule.name
            );
        }
    }
    let findings = config.lint_located(&origin);
    for finding in &findings {
        outln!("{finding}");
    }
    let mut errors = findings
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .count();
    if args.upstream {
        errors += check_roles_upstream(&config, &policy, &origin).await?;
    }
    warnings += findings.len() - errors;
    // Every warning printed counts, the ones above the findings included.
    if errors + warnings > 0 {
        outln!(
            "{origin}: {errors} {}, {warnings} {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    let fails = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if fails {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints what each connection's database says of the policy roles granted on it; returns the
/// number of errors (a role that is missing, or a database that cannot be asked).
async fn check_roles_upstream(
    config: &Config,
    policy: &crate::trust::TrustPolicy,
    origin: &str,
) -> anyhow::Result<usize> {
    let secret_key = config
        .server
        .secret_key
        .resolve(&ProcessEnv)
        .map_err(|e| anyhow::anyhow!("{origin}: server.secret_key: {e}"))?;
    let upstreams = crate::upstream::Upstreams::new(&config.connections, &secret_key, &ProcessEnv)?;
    let mut errors = 0;
    for r in crate::server::check_policy_roles(policy, &upstreams).await {
        let granted_by = format!(
            "granted by trust rule{} {}",
            if r.rules.len() == 1 { "" } else { "s" },
            r.rules.join(", ")
        );
        match r.exists {
            Ok(true) => outln!(
                "connection {}: policy role {} exists ({granted_by})",
                r.connection,
                r.role
            ),
            Ok(false) => {
                errors += 1;
                outln!(
                    "error: connection {}: policy role {} does not exist upstream ({granted_by}); exchanges for it are refused with upstream_role_missing\n  fix: CREATE ROLE {} NOLOGIN; then GRANT it what the policy allows",
                    r.connection,
                    r.role,
                    r.role
                );
            }
            Err(e) => {
                errors += 1;
                outln!("error: {e}");
            }
        }
    }
    Ok(errors)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}
