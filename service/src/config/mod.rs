//! The configuration file (`hoop.toml`): typed, `deny_unknown_fields`, validated at load.
//!
//! Parsing gives typed values; [`Config::validate`] checks what serde cannot (references between
//! sections, limits, well-formed names) and names the offending key in every error. Claim
//! matchers are compiled by [`crate::trust::TrustPolicy`], which `hoop config check` also runs.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::base::url::is_secure_url;
use crate::base::{ConnectionName, DbRole, SecretSource};

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
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// PEM certificate chain clients see; with `tls_key`. Without both, a self-signed
    /// certificate is generated at start and its SHA-256 fingerprint logged.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse clients that do not ask for TLS (default true). Credentials are passwords.
    #[serde(default = "defaults::require_tls")]
    pub require_tls: bool,
    /// Directory of the session recordings (created 0700 if missing).
    #[serde(default = "defaults::spool_dir")]
    pub spool_dir: PathBuf,
    /// Largest protocol message accepted, in bytes (a larger one closes that connection).
    #[serde(default = "defaults::max_message_bytes")]
    pub max_message_bytes: usize,
    /// Time a client has to finish TLS, startup and authentication.
    #[serde(default = "defaults::handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            tls_cert: None,
            tls_key: None,
            require_tls: defaults::require_tls(),
            spool_dir: defaults::spool_dir(),
            max_message_bytes: defaults::max_message_bytes(),
            handshake_timeout: defaults::handshake_timeout(),
        }
    }
}

/// `[masking]`: what clients and recordings see of card numbers and of columns masked by rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// How a detected PAN is shown (default `bin-and-last-four`, the PCI DSS 3.4.1 maximum).
    #[serde(default)]
    pub style: PanStyle,
    /// The HMAC key of `style = "token"`: at least 32 bytes, the same on every replica.
    pub token_key: Option<SecretSource>,
    /// Mask what clients receive (default true). Recordings are masked whatever this says;
    /// false exists to measure masking's cost and is logged as an alert at start.
    #[serde(default = "defaults::mask_results")]
    pub results: bool,
    /// Columns masked whatever their content.
    #[serde(default)]
    pub columns: Vec<crate::masking::rules::ColumnRuleConfig>,
    /// Named regular expressions masked like PANs.
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            style: PanStyle::default(),
            token_key: None,
            results: defaults::mask_results(),
            columns: Vec::new(),
            detectors: Vec::new(),
        }
    }
}

/// `[masking] style`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanStyle {
    /// `411111******1111`
    #[default]
    BinAndLastFour,
    /// `************1111`
    LastFour,
    /// `****************`
    Redact,
    /// `pan_kqbtfmhdsrnplgcj`: a keyed HMAC of the digits (needs `token_key`).
    Token,
}

/// `[[masking.detectors]]`: a named pattern masked wherever PANs are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Named in recordings when it masks something.
    pub name: String,
    /// A regular expression (Rust `regex` syntax, unanchored; must not match the empty text).
    pub pattern: String,
}

/// The claim schema an issuer's tokens follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuerKind {
    Github,
    Gitlab,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::Github => "github",
            IssuerKind::Gitlab => "gitlab",
        }
    }
}

/// Asymmetric JWS algorithms an issuer may be pinned to. `none` and HMAC are not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Name used by trust rules (`[[trust]] issuer`).
    pub name: String,
    /// Claim schema: `github` or `gitlab`.
    pub kind: IssuerKind,
    /// Exact `iss` value. Defaults: github → `https://token.actions.githubusercontent.com`,
    /// gitlab → `https://gitlab.com`. Set it for GitHub Enterprise or self-managed GitLab.
    pub url: Option<Url>,
    /// The `aud` every token must carry, exactly.
    pub audience: String,
    /// JWKS location; default: discovered from `<url>/.well-known/openid-configuration`.
    pub jwks_url: Option<Url>,
    /// Accepted signature algorithms (default `["RS256"]`).
    #[serde(default = "defaults::algorithms")]
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    #[serde(default = "defaults::leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// Minimum time between two JWKS fetches caused by unknown key ids.
    #[serde(default = "defaults::jwks_refresh_interval", with = "humantime_serde")]
    pub jwks_min_refresh_interval: Duration,
    /// How long fetched keys are used before they are fetched again.
    #[serde(default = "defaults::jwks_cache_ttl", with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
}

impl IssuerConfig {
    /// The exact `iss` claim this issuer's tokens carry.
    pub fn issuer_url(&self) -> String {
        match (&self.url, self.kind) {
            (Some(u), _) => u.as_str().trim_end_matches('/').to_owned(),
            (None, IssuerKind::Github) => "https://token.actions.githubusercontent.com".into(),
            (None, IssuerKind::Gitlab) => "https://gitlab.com".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Postgres,
}

/// What clients are told to use for `PGSSLMODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub name: ConnectionName,
    pub kind: ConnectionKind,
    /// Connection URL of an upstream role allowed to create and drop roles (CREATEROLE).
    pub admin_url: SecretSource,
    /// Database the per-run role works in.
    pub database: String,
    /// Role granted to per-run roles when the trust rule names none.
    pub default_role: Option<DbRole>,
    /// `PGSSLMODE` handed to clients (default `require`).
    #[serde(default = "defaults::sslmode")]
    pub sslmode: SslMode,
    /// Size of the admin connection pool.
    #[serde(default = "defaults::admin_pool_size")]
    pub admin_pool_size: usize,
    /// When the per-run upstream role is created (default `first-connect`).
    #[serde(default)]
    pub role_provisioning: RoleProvisioning,
}

/// When a credential's per-run upstream role is created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleProvisioning {
    /// During the exchange: the credential is returned once its role exists upstream.
    Exchange,
    /// When the gateway first connects upstream for the credential: exchanges touch only
    /// hoop's state database, and runs that never connect never create a role.
    #[default]
    FirstConnect,
}

/// One claim condition of a trust rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ClaimMatcherConfig {
    /// Exact string equality.
    Exact(String),
    /// A number or boolean, compared to the claim's string form.
    Number(i64),
    Bool(bool),
    /// Shell-style glob; `*` does not cross `/`, `**` does.
    Glob {
        glob: String,
    },
    /// Regular expression, always anchored at both ends.
    Regex {
        regex: String,
    },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRuleConfig {
    /// Named in audit events when the rule decides.
    pub name: String,
    /// `[[issuers]] name` the token must come from.
    pub issuer: String,
    /// Every listed claim must match; a missing claim never matches.
    pub claims: std::collections::BTreeMap<String, ClaimMatcherConfig>,
    /// Connections this rule grants.
    pub connections: Vec<ConnectionName>,
    /// Upstream role granted; default: the connection's `default_role`.
    pub role: Option<DbRole>,
    /// Credential lifetime, capped by `server.max_ttl`.
    #[serde(default = "defaults::ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Concurrent database sessions one credential may hold.
    #[serde(default = "defaults::max_sessions")]
    pub max_sessions: u32,
    /// Pull-request-driven runs (a fork's code or anyone's input, and unknown events; see
    /// `identity::trigger_of` and docs/run-identity.md) only match when true.
    #[serde(default)]
    pub allow_pull_requests: bool,
}

/// `[watcher]`: revoke credentials whose CI run or job has completed, by polling the CI APIs
/// (the safety net for cancelled jobs and dead runners that never run their revoke step).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatcherConfig {
    /// Time between two passes over the live credentials (default 60s, at least 1s).
    #[serde(default = "defaults::watcher_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// GitHub token with `actions:read` on the watched repositories; without it GitHub runs
    /// are not watched.
    pub github_token: Option<SecretSource>,
    /// GitHub REST API base (default `https://api.github.com`; GHES: `https://<host>/api/v3`).
    #[serde(default = "defaults::github_api_url")]
    pub github_api_url: Url,
    /// GitLab token with `read_api`; without it GitLab jobs are not watched.
    pub gitlab_token: Option<SecretSource>,
    /// GitLab instance URL (default: the `url` of the one gitlab-kind issuer).
    pub gitlab_url: Option<Url>,
}

mod defaults {
    use super::*;

    pub fn watcher_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn github_api_url() -> Url {
        Url::parse("https://api.github.com").expect("a valid URL")
    }

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
    pub fn algorithms() -> Vec<SigningAlgorithm> {
        vec![SigningAlgorithm::RS256]
    }
    pub fn leeway() -> Duration {
        Duration::from_secs(60)
    }
    pub fn jwks_refresh_interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn jwks_cache_ttl() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn sslmode() -> SslMode {
        SslMode::Require
    }
    pub fn admin_pool_size() -> usize {
        4
    }
    pub fn ttl() -> Duration {
        Duration::from_secs(15 * 60)
    }
    pub fn max_sessions() -> u32 {
        4
    }
    pub fn require_tls() -> bool {
        true
    }
    pub fn spool_dir() -> PathBuf {
        PathBuf::from("hoop-spool")
    }
    pub fn max_message_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn handshake_timeout() -> Duration {
        Duration::from_secs(15)
    }
    pub fn mask_results() -> bool {
        true
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
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string()))?;
        config.validate(origin)?;
        Ok(config)
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
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
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
            self.validate_watcher(w).or_else(err)?;
        }
        self.validate_masking().or_else(err)?;
        self.validate_rules().or_else(err)?;
        Ok(())
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
    fn validate_rules(&self) -> Result<(), String> {
        if self.policy.max_statement_bytes < 1024 {
            return Err("policy.max_statement_bytes must be at least 1024".into());
        }
        self.approvals.validate()?;
        crate::policy::rules::Rules::compile(
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
        Ok(())
    }

    /// Patterns and globs compile, connection names exist, a token style has its key.
    fn validate_masking(&self) -> Result<(), String> {
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
        for (i, d) in m.detectors.iter().enumerate() {
            if d.name.is_empty() || d.name == "pan" || !names.insert(d.name.as_str()) {
                return Err(format!(
                    "masking.detectors[{i}].name: {:?} must be unique, non-empty and not \"pan\"",
                    d.name
                ));
            }
            crate::masking::Detector::new(&d.name, &d.pattern)
                .map_err(|e| format!("masking.detectors[{i}].pattern: {e}"))?;
        }
        if m.detectors.len() > crate::masking::Masker::MAX_DETECTORS {
            return Err(format!(
                "masking.detectors: at most {} detectors",
                crate::masking::Masker::MAX_DETECTORS
            ));
        }
        crate::masking::ColumnRules::compile(&m.columns)
            .map_err(|e| format!("masking.columns: {e}"))?;
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
        Ok(())
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

#[cfg(test)]
mod tests;
