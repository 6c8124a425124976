//! The configuration file (`hoop.toml`): typed, `deny_unknown_fields`, validated at load.
//!
//! Parsing gives typed values; [`Config::validate`] checks what serde cannot (references between
//! sections, limits, well-formed names) and names the offending key in every error. Claim
//! matchers are compiled by [`crate::trust::TrustPolicy`], which `hoop config check` also runs.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::base::lint::Finding;
use crate::base::url::is_secure_url;
use crate::base::{ConnectionName, SecretSource, Sha256};
use crate::gateway::GatewayConfig;
use crate::identity::{IssuerConfig, IssuerKind};
use crate::masking::{ColumnRules, Detector, MaskingConfig, PanStyle};
use crate::policy::rules::Rules;
use crate::trust::{TrustPolicy, TrustRuleConfig};
use crate::upstream::ConnectionConfig;
use crate::watcher::WatcherConfig;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub gateway: GatewayConfig,
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    #[serde(default)]
    pub connections: Vec<ConnectionConfig>,
    #[serde(default)]
    pub trust: Vec<TrustRuleConfig>,
    /// The run watcher; absent: credentials live until revoked by their run or expired.
    #[serde(default)]
    pub watcher: Option<WatcherConfig>,
    /// How card numbers and other sensitive values are masked in results and recordings.
    #[serde(default)]
    pub masking: MaskingConfig,
    /// The statement policy's default rule pack and what it protects.
    #[serde(default)]
    pub policy: crate::policy::rules::PolicyConfig,
    /// Statement rules, in order: the first that matches decides, before the default pack.
    #[serde(default)]
    pub rules: Vec<crate::policy::rules::RuleConfig>,
    /// Just-in-time approvals of statements `approve` rules hold: approvers, timeout,
    /// notifications.
    #[serde(default)]
    pub approvals: crate::approvals::ApprovalsConfig,
    /// Where finished recordings are archived (signed, WORM). Absent: recordings stay in the
    /// spool, and `hoop serve` warns that nothing is archived.
    #[serde(default)]
    pub archive: Option<crate::archiver::ArchiveConfig>,
    /// What validation compiled ([`Config::from_toml`]), so no section is compiled twice.
    #[serde(skip)]
    compiled: Compiled,
    /// The text it was read from: its digest and its keys.
    #[serde(skip)]
    source: Source,
}

/// The configuration text, as a digest (the version recordings and audit events name), as
/// TOML (what a reload compares) and as written (where `config check` finds a key's line).
#[derive(Clone, Debug, Default)]
struct Source {
    digest: Option<Sha256>,
    table: toml::Table,
    text: Arc<str>,
}

/// The control socket's file name in the spool folder, unless `server.control_socket` says.
const CONTROL_SOCKET: &str = "hoop.sock";

/// What a reload may change ([`Config::restart_changes`]): `section` alone for a whole
/// section, `section.key` for one key of it. Everything else takes a restart.
pub const RELOADABLE: &[&str] = &[
    "trust",
    "rules",
    "masking",
    "policy.default_rules",
    "policy.protected_tables",
    "policy.pan_columns",
    "approvals.approvers",
    "archive.auditors",
];

/// The sections validation compiles, kept for the server.
#[derive(Clone, Default)]
struct Compiled {
    rules: Option<Arc<Rules>>,
    columns: Option<Arc<ColumnRules>>,
    detectors: Vec<Detector>,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("rules", &self.rules.is_some())
            .field("detectors", &self.detectors.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP API (token exchange, revocation, health, metrics).
    #[serde(default = "defaults::api_listen")]
    pub api_listen: SocketAddr,
    /// Address of the database gateway; credentials point clients here.
    #[serde(default = "defaults::gateway_listen")]
    pub gateway_listen: SocketAddr,
    /// Host name given to clients in credentials; defaults to the gateway's listen address.
    pub public_host: Option<String>,
    /// Port given to clients in credentials; defaults to the gateway's listen port.
    pub public_port: Option<u16>,
    /// Postgres database holding hoop's runtime state.
    pub state_database_url: SecretSource,
    /// At least 32 bytes; derives the passwords of per-run upstream roles. Same on every replica.
    pub secret_key: SecretSource,
    /// Upper bound on any credential's lifetime, whatever a trust rule asks for.
    #[serde(default = "defaults::max_ttl", with = "humantime_serde")]
    pub max_ttl: Duration,
    /// How often expired credentials are revoked and used token ids forgotten.
    #[serde(default = "defaults::reaper_interval", with = "humantime_serde")]
    pub reaper_interval: Duration,
    /// Name of this replica in audit events; defaults to the host name.
    pub replica: Option<String>,
    /// Unix socket `hoop reload` asks the running server on (mode 0600); defaults to
    /// `hoop.sock` in `gateway.spool_dir`.
    pub control_socket: Option<std::path::PathBuf>,
}

mod defaults {
    use super::*;

    pub fn api_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn gateway_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 6432))
    }
    pub fn max_ttl() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn reaper_interval() -> Duration {
        Duration::from_secs(15)
    }
}

/// A configuration that cannot be used, with the file and the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(origin: &str, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.to_owned(),
            message: message.into(),
        }
    }
}

/// Longest leeway accepted: clock skew beyond this is a broken clock, not skew.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Shortest watcher interval accepted: tests use 1s; production wants a minute (rate limits).
const MIN_WATCHER_INTERVAL: Duration = Duration::from_secs(1);

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read the file: {e}")))?;
        Config::from_toml(&text, &origin)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string()))?;
        config.compiled = config.validate(origin)?;
        config.source = Source {
            digest: Some(Sha256::of(text.as_bytes())),
            table: toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string()))?,
            text: Arc::from(text),
        };
        Ok(config)
    }

    /// What loads but probably does not work as meant, each finding at its key: every
    /// section's lints, by the layer that owns the section.
    pub fn lint(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        findings.extend(crate::trust::lint(&self.trust, |issuer| {
            self.issuer(issuer).map(|i| i.kind)
        }));
        let roles: Vec<&str> = self
            .trust
            .iter()
            .flat_map(|t| match &t.role {
                Some(role) => vec![role.as_str()],
                None => t
                    .connections
                    .iter()
                    .filter_map(|c| self.connection(c)?.default_role.as_ref())
                    .map(|r| r.as_str())
                    .collect(),
            })
            .collect();
        let context = crate::policy::rules::LintContext {
            trust_rules: self.trust.iter().map(|t| t.name.as_str()).collect(),
            roles,
            providers: self.issuers.iter().map(|i| i.kind).collect(),
        };
        findings.extend(crate::policy::rules::lint(
            &self.policy,
            &self.rules,
            &context,
        ));
        findings
    }

    /// [`Config::lint`] with each finding's line in the text this configuration was read
    /// from, sorted by line; `origin` names the file.
    pub fn lint_located(&self, origin: &str) -> Vec<Located> {
        Located::all(origin, &self.source.text, self.lint())
    }

    /// Where the running server takes `hoop reload` requests.
    pub fn control_socket(&self) -> std::path::PathBuf {
        self.server
            .control_socket
            .clone()
            .unwrap_or_else(|| self.gateway.spool_dir.join(CONTROL_SOCKET))
    }

    /// [`Config::control_socket`] of a file that need not validate (a reload of a broken file
    /// is still asked for, so the running server refuses it and audits the refusal): only the
    /// two keys that place the socket are read.
    pub fn control_socket_of(path: &Path) -> Result<std::path::PathBuf, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read the file: {e}")))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            ConfigError::new(
                &origin,
                format!("{e} (pass --socket to reach the server anyway)"),
            )
        })?;
        let key = |section: &str, key: &str| {
            table
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(toml::Value::as_str)
                .map(std::path::PathBuf::from)
        };
        Ok(key("server", "control_socket").unwrap_or_else(|| {
            key("gateway", "spool_dir")
                .unwrap_or_else(|| GatewayConfig::default().spool_dir)
                .join(CONTROL_SOCKET)
        }))
    }

    /// The SHA-256 of the text this configuration was read from: the version recordings and
    /// audit events name.
    pub fn digest(&self) -> Sha256 {
        self.source.digest.unwrap_or_else(|| Sha256::of(b""))
    }

    /// The keys whose values differ between this configuration and `other`, outside
    /// [`RELOADABLE`]: what a reload cannot apply (`server.api_listen`, `connections`, ...).
    pub fn restart_changes(&self, other: &Config) -> Vec<String> {
        let (old, new) = (&self.source.table, &other.source.table);
        let mut changed = Vec::new();
        let sections: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for section in sections {
            if RELOADABLE.contains(&section.as_str()) {
                continue;
            }
            let (a, b) = (old.get(section), new.get(section));
            match (a, b) {
                (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
                    let keys: std::collections::BTreeSet<&String> =
                        a.keys().chain(b.keys()).collect();
                    for key in keys {
                        let path = format!("{section}.{key}");
                        if !RELOADABLE.contains(&path.as_str()) && a.get(key) != b.get(key) {
                            changed.push(path);
                        }
                    }
                }
                (Some(toml::Value::Table(t)), None) | (None, Some(toml::Value::Table(t))) => {
                    for key in t.keys() {
                        let path = format!("{section}.{key}");
                        if !RELOADABLE.contains(&path.as_str()) {
                            changed.push(path);
                        }
                    }
                }
                _ if a != b => changed.push(section.clone()),
                _ => {}
            }
        }
        changed
    }

    /// The statement rules (`[policy]`, `[[rules]]`), as validation compiled them.
    pub fn statement_rules(&self, origin: &str) -> Result<Arc<Rules>, ConfigError> {
        match &self.compiled.rules {
            Some(rules) => Ok(rules.clone()),
            None => Ok(Arc::new(
                self.validate_rules()
                    .map_err(|e| ConfigError::new(origin, e))?,
            )),
        }
    }

    /// The masking detectors and column rules, as validation compiled them.
    pub fn masking_rules(
        &self,
        origin: &str,
    ) -> Result<(Vec<Detector>, Arc<ColumnRules>), ConfigError> {
        match &self.compiled.columns {
            Some(columns) => Ok((self.compiled.detectors.clone(), columns.clone())),
            None => {
                let (detectors, columns) = self
                    .validate_masking()
                    .map_err(|e| ConfigError::new(origin, e))?;
                Ok((detectors, Arc::new(columns)))
            }
        }
    }

    /// The trust rules, compiled; errors name the file and the rule's key.
    pub fn trust_policy(&self, origin: &str) -> Result<TrustPolicy, ConfigError> {
        let default_role = |c: &ConnectionName| self.connection(c)?.default_role.clone();
        TrustPolicy::compile(&self.trust, default_role, self.server.max_ttl)
            .map_err(|e| ConfigError::new(origin, e.to_string()))
    }

    pub fn issuer(&self, name: &str) -> Option<&IssuerConfig> {
        self.issuers.iter().find(|i| i.name == name)
    }

    pub fn connection(&self, name: &ConnectionName) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| &c.name == name)
    }

    /// Host and port that credentials send clients to.
    pub fn public_endpoint(&self) -> (String, u16) {
        let host = self
            .server
            .public_host
            .clone()
            .unwrap_or_else(|| self.server.gateway_listen.ip().to_string());
        (
            host,
            self.server
                .public_port
                .unwrap_or(self.server.gateway_listen.port()),
        )
    }

    /// Checks everything serde cannot: unique names, references, limits and safe values.
    fn validate(&self, origin: &str) -> Result<Compiled, ConfigError> {
        let err = |m: String| Err(ConfigError::new(origin, m));
        if self.server.max_ttl.is_zero() {
            return err("server.max_ttl must be greater than zero".into());
        }
        if self.server.reaper_interval.is_zero() {
            return err("server.reaper_interval must be greater than zero".into());
        }
        let g = &self.gateway;
        if g.tls_cert.is_some() != g.tls_key.is_some() {
            return err(
                "gateway.tls_cert and gateway.tls_key go together: set both or neither".into(),
            );
        }
        if g.tls_ca.is_some() && g.tls_cert.is_none() {
            return err(
                "gateway.tls_ca goes with gateway.tls_cert and tls_key: without them the gateway \
                 generates its certificate, and the exchange hands out that certificate's CA"
                    .into(),
            );
        }
        if g.max_message_bytes < 1024 {
            return err("gateway.max_message_bytes must be at least 1024".into());
        }
        if let Some(archive) = &self.archive
            && let Err(m) = archive.validate()
        {
            return err(m);
        }

        let mut names = HashSet::new();
        let mut urls = HashSet::new();
        for (i, iss) in self.issuers.iter().enumerate() {
            let key = format!("issuers[{i}]");
            if !names.insert(iss.name.as_str()) {
                return err(format!(
                    "{key}.name: issuer {:?} is defined twice",
                    iss.name
                ));
            }
            if !urls.insert(iss.issuer_url()) {
                return err(format!(
                    "{key}.url: two issuers share the URL {}",
                    iss.issuer_url()
                ));
            }
            for (field, url) in [
                ("url", iss.url.as_ref()),
                ("jwks_url", iss.jwks_url.as_ref()),
            ] {
                if let Some(url) = url
                    && !is_secure_url(url)
                {
                    return err(format!(
                        "{key}.{field}: {url} must use https (plain http is accepted only for loopback addresses)"
                    ));
                }
            }
            if iss.audience.trim().is_empty() {
                return err(format!("{key}.audience must not be empty"));
            }
            if iss.algorithms.is_empty() {
                return err(format!("{key}.algorithms must list at least one algorithm"));
            }
            if iss.leeway > MAX_LEEWAY {
                return err(format!("{key}.leeway must be at most 5m"));
            }
        }

        let mut conns = HashSet::new();
        for (i, c) in self.connections.iter().enumerate() {
            let key = format!("connections[{i}]");
            if !conns.insert(&c.name) {
                return err(format!(
                    "{key}.name: connection {:?} is defined twice",
                    c.name.as_str()
                ));
            }
            if c.admin_pool_size == 0 {
                return err(format!("{key}.admin_pool_size must be at least 1"));
            }
        }

        let mut rules = HashSet::new();
        for (i, t) in self.trust.iter().enumerate() {
            let key = format!("trust[{i}]");
            if !rules.insert(t.name.as_str()) {
                return err(format!(
                    "{key}.name: trust rule {:?} is defined twice",
                    t.name
                ));
            }
            if self.issuer(&t.issuer).is_none() {
                return err(format!(
                    "{key}.issuer: no [[issuers]] is named {:?}",
                    t.issuer
                ));
            }
            if t.claims.is_empty() {
                return err(format!(
                    "{key}.claims must list at least one claim (pin repository_id or project_id)"
                ));
            }
            if t.connections.is_empty() {
                return err(format!(
                    "{key}.connections must list at least one connection"
                ));
            }
            for (j, name) in t.connections.iter().enumerate() {
                let Some(conn) = self.connection(name) else {
                    return err(format!(
                        "{key}.connections[{j}]: no [[connections]] is named {:?}",
                        name.as_str()
                    ));
                };
                if t.role.is_none() && conn.default_role.is_none() {
                    return err(format!(
                        "{key}.role: connection {:?} has no default_role, so the rule must name a role",
                        name.as_str()
                    ));
                }
            }
            if t.ttl.is_zero() {
                return err(format!("{key}.ttl must be greater than zero"));
            }
            if t.max_sessions == 0 {
                return err(format!("{key}.max_sessions must be at least 1"));
            }
        }
        if let Some(w) = &self.watcher {
            self.validate_watcher(w)
                .map_err(|m| ConfigError::new(origin, m))?;
        }
        let (detectors, columns) = self
            .validate_masking()
            .map_err(|m| ConfigError::new(origin, m))?;
        let rules = self
            .validate_rules()
            .map_err(|m| ConfigError::new(origin, m))?;
        Ok(Compiled {
            rules: Some(Arc::new(rules)),
            columns: Some(Arc::new(columns)),
            detectors,
        })
    }

    /// Whether `approve` rules can be granted: there are approvers.
    pub fn approvals_available(&self) -> crate::policy::rules::Approvals {
        if self.approvals.approvers.is_empty() {
            crate::policy::rules::Approvals::Unavailable
        } else {
            crate::policy::rules::Approvals::Available
        }
    }

    /// Rules compile (kinds exist, globs parse, every rule has a condition, ids are unique) and
    /// name configured connections.
    fn validate_rules(&self) -> Result<Rules, String> {
        if self.policy.max_statement_bytes < 1024 {
            return Err("policy.max_statement_bytes must be at least 1024".into());
        }
        self.approvals.validate()?;
        let rules = Rules::compile(
            &self.policy,
            &self.rules,
            self.approvals_available(),
            &self.masking.columns,
        )
        .map_err(|e| e.to_string())?;
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, name) in rule.connections.iter().enumerate() {
                if ConnectionName::new(name.as_str())
                    .map_or(true, |n| self.connection(&n).is_none())
                {
                    return Err(format!(
                        "rules[{i}].connections[{j}]: no [[connections]] is named {name:?}"
                    ));
                }
            }
        }
        Ok(rules)
    }

    /// Patterns and globs compile, connection names exist, a token style has its key.
    fn validate_masking(&self) -> Result<(Vec<Detector>, ColumnRules), String> {
        let m = &self.masking;
        if m.style == PanStyle::Token && m.token_key.is_none() {
            return Err(
                "masking.token_key: style \"token\" needs a key of at least 32 bytes \
                 (e.g. token_key = { env = \"HOOP_PAN_TOKEN_KEY\" })"
                    .into(),
            );
        }
        if m.style != PanStyle::Token && m.token_key.is_some() {
            return Err("masking.token_key is only used with style = \"token\"".into());
        }
        let mut names = HashSet::new();
        let mut detectors = Vec::with_capacity(m.detectors.len());
        for (i, d) in m.detectors.iter().enumerate() {
            if d.name.is_empty() || d.name == "pan" || !names.insert(d.name.as_str()) {
                return Err(format!(
                    "masking.detectors[{i}].name: {:?} must be unique, non-empty and not \"pan\"",
                    d.name
                ));
            }
            detectors.push(
                Detector::new(&d.name, &d.pattern)
                    .map_err(|e| format!("masking.detectors[{i}].pattern: {e}"))?,
            );
        }
        if m.detectors.len() > crate::masking::Masker::MAX_DETECTORS {
            return Err(format!(
                "masking.detectors: at most {} detectors",
                crate::masking::Masker::MAX_DETECTORS
            ));
        }
        let columns =
            ColumnRules::compile(&m.columns).map_err(|e| format!("masking.columns: {e}"))?;
        for (i, rule) in m.columns.iter().enumerate() {
            for (j, name) in rule.connections.iter().enumerate() {
                if ConnectionName::new(name.as_str())
                    .map_or(true, |n| self.connection(&n).is_none())
                {
                    return Err(format!(
                        "masking.columns[{i}].connections[{j}]: no [[connections]] is named {name:?}"
                    ));
                }
            }
        }
        Ok((detectors, columns))
    }

    fn validate_watcher(&self, w: &WatcherConfig) -> Result<(), String> {
        if w.interval < MIN_WATCHER_INTERVAL {
            return Err("watcher.interval must be at least 1s".into());
        }
        if w.github_token.is_none() && w.gitlab_token.is_none() {
            return Err(
                "[watcher] needs github_token or gitlab_token (or both); without a token there is \
                 nothing to watch, so remove the section"
                    .into(),
            );
        }
        if !is_secure_url(&w.github_api_url) {
            return Err(format!(
                "watcher.github_api_url: {} must use https (plain http is accepted only for loopback addresses)",
                w.github_api_url
            ));
        }
        if let Some(url) = &w.gitlab_url
            && !is_secure_url(url)
        {
            return Err(format!(
                "watcher.gitlab_url: {url} must use https (plain http is accepted only for loopback addresses)"
            ));
        }
        if w.gitlab_token.is_some() && w.gitlab_url.is_none() {
            let gitlab_issuers = self
                .issuers
                .iter()
                .filter(|i| i.kind == IssuerKind::Gitlab)
                .count();
            if gitlab_issuers != 1 {
                return Err(format!(
                    "watcher.gitlab_url: set it; it defaults to the url of the gitlab issuer, \
                     but {gitlab_issuers} gitlab issuers are configured"
                ));
            }
        }
        Ok(())
    }

    /// What the run watcher needs to know of the issuers.
    pub fn watched_issuers(&self) -> crate::watcher::WatchedIssuers {
        let count = |kind| self.issuers.iter().filter(|i| i.kind == kind).count();
        crate::watcher::WatchedIssuers {
            github: count(IssuerKind::Github),
            gitlab: count(IssuerKind::Gitlab),
            gitlab_url: self.watcher_gitlab_url(),
        }
    }

    /// The GitLab instance the watcher asks about jobs: `watcher.gitlab_url`, or else the URL
    /// of the one gitlab-kind issuer (validation guarantees there is one when it matters).
    pub fn watcher_gitlab_url(&self) -> Option<String> {
        let configured = self.watcher.as_ref()?.gitlab_url.as_ref();
        match configured {
            Some(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
            None => self
                .issuers
                .iter()
                .find(|i| i.kind == IssuerKind::Gitlab)
                .map(IssuerConfig::issuer_url),
        }
    }
}

mod locate;

pub use locate::{Located, line_of};

#[cfg(test)]
mod tests;
