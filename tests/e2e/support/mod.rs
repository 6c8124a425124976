//! The end-to-end harness: a throwaway Postgres database, demo OIDC issuers, a `hoop.toml`, and
//! the real `hoop` binary run as a child process.
//!
//! Every test owns its database `hoop_t_<random>` (hoop's state and the upstream in one) and its
//! parent role `hoop_t_<random>_reader`, so tests run in parallel. Both are dropped when the
//! [`TestDb`] is, after the process is killed.

pub mod cluster;
pub mod fronts;
pub mod leaks;
pub mod s3;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hoop::credentials::{ScramVerifier, Username};
use hoop::identity::issuer::DemoIssuer;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

pub const AUDIENCE: &str = "hoop-test";
pub const CONNECTION: &str = "payments";
/// Matched by trust rule `payments-main` (ttl 10m, max_sessions [`MAX_SESSIONS`]).
pub const REPOSITORY: &str = "acme/payments";
pub const REPOSITORY_ID: u64 = 1001;
pub const MAIN_RULE: &str = "payments-main";
pub const MAX_SESSIONS: u32 = 2;
/// Matched by trust rule `payments-short-lived` (ttl [`SHORT_TTL`]).
pub const SHORT_LIVED_REPOSITORY: &str = "acme/nightly";
pub const SHORT_LIVED_REPOSITORY_ID: u64 = 3003;
pub const SHORT_LIVED_RULE: &str = "payments-short-lived";
pub const SHORT_TTL: &str = "2s";
/// Matched by trust rule `payments-gitlab`.
pub const GITLAB_PROJECT: &str = "acme/ledger";
pub const GITLAB_PROJECT_ID: u64 = 2002;
/// Environment variables holding the secrets `{ env = ... }` in the generated `hoop.toml`.
pub const STATE_URL_VAR: &str = "HOOP_E2E_STATE_URL";
pub const ADMIN_URL_VAR: &str = "HOOP_E2E_ADMIN_URL";
/// The table the parent role may SELECT from (and nothing else).
pub const TABLE: &str = "widgets";
/// Bound on every wait in the suite.
pub const WAIT: Duration = Duration::from_secs(20);

const PG_HOST: &str = "127.0.0.1";
const PG_PORT: u16 = 5432;
pub const PUBLIC_HOST: &str = "db.hoop.test";
const PUBLIC_PORT: u16 = 7432;

/// A short random lowercase suffix for names.
pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Polls `check` every 100 ms until it holds; panics naming `what` after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The database

/// A database of its own and a NOLOGIN parent role with SELECT on [`TABLE`].
pub struct TestDb {
    pub name: String,
    pub reader: String,
    /// Sent in every URL: trust auth ignores it, so the logs can be searched for it.
    pub url_password: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let suffix = random_suffix();
        let db = TestDb {
            name: format!("hoop_t_{suffix}"),
            reader: format!("hoop_t_{suffix}_reader"),
            url_password: format!("url-secret-{suffix}"),
        };
        let admin = connect(&db.url_for("postgres")).await;
        // CREATE DATABASE refuses to run in the implicit transaction of a multi-statement batch.
        for statement in [
            format!("CREATE DATABASE {}", db.name),
            format!("CREATE ROLE {} NOLOGIN", db.reader),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        db.client()
            .await
            .batch_execute(&format!(
                "CREATE TABLE {TABLE} (id integer PRIMARY KEY, name text NOT NULL);
                 INSERT INTO {TABLE} VALUES (1, 'sprocket'), (2, 'gear'), (3, 'cog');
                 GRANT SELECT ON {TABLE} TO {reader};",
                reader = db.reader
            ))
            .await
            .expect("creating the test table");
        db
    }

    /// `postgres://postgres:<url_password>@127.0.0.1:5432/<database>`.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@{PG_HOST}:{PG_PORT}/{database}",
            self.url_password
        )
    }

    pub fn url(&self) -> String {
        self.url_for(&self.name)
    }

    /// A superuser session on the test database.
    pub async fn client(&self) -> Client {
        connect(&self.url()).await
    }

    /// A session as `user` on the test database.
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host(PG_HOST)
            .port(PG_PORT)
            .user(user)
            .password(password)
            .dbname(&self.name)
            .connect(NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    pub async fn role_exists(&self, role: &str) -> bool {
        self.client()
            .await
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .unwrap()
            .is_some()
    }

    /// Roles that are members of the parent role: the run roles hoop created for this test.
    pub async fn run_roles(&self) -> Vec<String> {
        self.client()
            .await
            .query(
                "SELECT m.rolname::text FROM pg_auth_members a
                 JOIN pg_roles m ON m.oid = a.member JOIN pg_roles p ON p.oid = a.roleid
                 WHERE p.rolname = $1 ORDER BY 1",
                &[&self.reader],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The upstream role's `rolpassword`, parsed as a SCRAM verifier.
    pub async fn role_verifier(&self, role: &str) -> ScramVerifier {
        let row = self
            .client()
            .await
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .unwrap();
        let text: String = row.get(0);
        ScramVerifier::parse(&text).unwrap_or_else(|e| panic!("rolpassword {text:?}: {e}"))
    }

    pub async fn credential_state(&self, id: &str) -> String {
        self.client()
            .await
            .query_one(
                "SELECT state FROM hoop_credentials WHERE id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap_or_else(|e| panic!("no credential {id}: {e}"))
            .get(0)
    }

    pub async fn credential_count(&self) -> i64 {
        self.client()
            .await
            .query_one("SELECT count(*) FROM hoop_credentials", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Audit events with `code`, oldest first.
    pub async fn audit_events(&self, code: &str) -> Vec<Row> {
        self.client()
            .await
            .query(
                "SELECT * FROM hoop_audit_events WHERE code = $1 ORDER BY id",
                &[&code],
            )
            .await
            .unwrap()
    }

    /// Audit events with an id above `after`, oldest first.
    pub async fn audit_events_after(&self, after: i64) -> Vec<Row> {
        self.client()
            .await
            .query(
                "SELECT * FROM hoop_audit_events WHERE id > $1 ORDER BY id",
                &[&after],
            )
            .await
            .unwrap()
    }

    pub async fn last_audit_id(&self) -> i64 {
        self.client()
            .await
            .query_one("SELECT coalesce(max(id), 0) FROM hoop_audit_events", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Every row of `table` as JSON text, to search for what must never be stored.
    pub async fn table_text(&self, table: &str) -> String {
        self.client()
            .await
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestDb {
    /// Best effort, with `psql` because `Drop` cannot await. The database goes first: it holds
    /// the grants that would otherwise keep the roles from being dropped. One `-c` per
    /// statement, as DROP DATABASE refuses to run in a multi-statement transaction.
    fn drop(&mut self) {
        let drop_run_roles = format!(
            "DO $$ DECLARE r record; BEGIN
                 FOR r IN SELECT m.rolname FROM pg_auth_members a
                          JOIN pg_roles m ON m.oid = a.member JOIN pg_roles p ON p.oid = a.roleid
                          WHERE p.rolname = '{}'
                 LOOP EXECUTE format('DROP ROLE %I', r.rolname); END LOOP;
             END $$",
            self.reader
        );
        let statements = [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            drop_run_roles,
            format!("DROP ROLE IF EXISTS {}", self.reader),
        ];
        let mut psql = Command::new("psql");
        psql.args([
            "-X", "-q", "-h", PG_HOST, "-U", "postgres", "-d", "postgres",
        ]);
        for statement in &statements {
            psql.args(["-c", statement]);
        }
        let _ = psql.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Postgres: {e}"));
    tokio::spawn(connection);
    client
}

// ---------------------------------------------------------------------------------------------
// Files

/// A scratch directory, removed on drop unless the test failed (its hoop log stays for reading).
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> ScratchDir {
        let path = std::env::temp_dir().join(format!("hoop-e2e-{}", random_suffix()));
        std::fs::create_dir_all(&path).unwrap();
        ScratchDir(path)
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What a generated `hoop.toml` points at.
#[derive(Clone)]
pub struct ConfigFile {
    /// Distinct per process sharing a state database.
    pub replica: &'static str,
    pub api_port: u16,
    pub gateway_port: u16,
    pub spool_dir: PathBuf,
    pub github_url: String,
    pub gitlab_url: String,
    pub database: String,
    pub reader: String,
    pub secret_key_path: PathBuf,
    pub reaper_interval: &'static str,
    /// `exchange` or `first-connect`.
    pub role_provisioning: &'static str,
    /// The connection's `durability`: `statement` or `result`.
    pub durability: &'static str,
}

/// A PEM certificate chain and its key, for `[gateway] tls_cert` and `tls_key`.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA, and a server certificate and key for `names` that it signed, as PEM files.
pub fn write_certificate_chain(
    dir: &ScratchDir,
    prefix: &str,
    names: &[&str],
) -> (PathBuf, TlsFiles) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("hoop e2e {prefix} CA"));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let ca_path = dir.write(&format!("{prefix}-ca.pem"), &ca.pem());
    let files = TlsFiles {
        cert: dir.write(&format!("{prefix}-server.pem"), &server.pem()),
        key: dir.write(&format!("{prefix}-server.key"), &server_key.serialize_pem()),
    };
    (ca_path, files)
}

/// `[gateway]` settings a test may set; `None` leaves hoop's default.
#[derive(Clone, Debug, Default)]
pub struct GatewaySettings {
    /// Without it hoop generates a certificate signed by its derived CA.
    pub tls: Option<TlsFiles>,
    /// `tls_ca`, with `tls`.
    pub tls_ca: Option<PathBuf>,
    pub require_tls: Option<bool>,
    pub max_message_bytes: Option<usize>,
    pub handshake_timeout: Option<&'static str>,
    pub drain_timeout: Option<&'static str>,
    /// Sections appended to the file verbatim (`[masking]`, `[policy]`, `[[rules]]`...).
    pub extra: Option<String>,
}

impl GatewaySettings {
    /// The lines that follow `spool_dir` in `[gateway]`.
    fn render(&self) -> String {
        let mut lines = String::new();
        if let Some(tls) = &self.tls {
            lines += &format!(
                "tls_cert = {:?}\ntls_key = {:?}\n",
                tls.cert.display().to_string(),
                tls.key.display().to_string()
            );
        }
        if let Some(ca) = &self.tls_ca {
            lines += &format!("tls_ca = {:?}\n", ca.display().to_string());
        }
        if let Some(required) = self.require_tls {
            lines += &format!("require_tls = {required}\n");
        }
        if let Some(bytes) = self.max_message_bytes {
            lines += &format!("max_message_bytes = {bytes}\n");
        }
        if let Some(timeout) = self.handshake_timeout {
            lines += &format!("handshake_timeout = {timeout:?}\n");
        }
        if let Some(timeout) = self.drain_timeout {
            lines += &format!("drain_timeout = {timeout:?}\n");
        }
        lines
    }
}

impl ConfigFile {
    /// The file text, with hoop's default gateway settings.
    pub fn render(&self) -> String {
        self.render_with(&GatewaySettings::default())
    }

    /// The file text. Secrets come from `{ env }` and `{ file }` sources only.
    pub fn render_with(&self, gateway: &GatewaySettings) -> String {
        format!(
            r#"[server]
api_listen = "127.0.0.1:{api_port}"
gateway_listen = "127.0.0.1:{gateway_port}"
public_host = "{PUBLIC_HOST}"
public_port = {PUBLIC_PORT}
state_database_url = {{ env = "{STATE_URL_VAR}" }}
secret_key = {{ file = {key_path:?} }}
reaper_interval = "{reaper}"
replica = "{replica}"

[gateway]
spool_dir = {spool_dir:?}
{gateway_settings}
[[issuers]]
name = "github"
kind = "github"
url = "{github}"
audience = "{AUDIENCE}"
jwks_min_refresh_interval = "1s"

[[issuers]]
name = "gitlab"
kind = "gitlab"
url = "{gitlab}"
audience = "{AUDIENCE}"

[[connections]]
name = "{CONNECTION}"
kind = "postgres"
admin_url = {{ env = "{ADMIN_URL_VAR}" }}
database = "{database}"
default_role = "{reader}"
sslmode = "disable"
role_provisioning = "{role_provisioning}"
durability = "{durability}"

[[trust]]
name = "{MAIN_RULE}"
issuer = "github"
claims = {{ repository_id = {REPOSITORY_ID}, ref = "refs/heads/main" }}
connections = ["{CONNECTION}"]
ttl = "10m"
max_sessions = {MAX_SESSIONS}

[[trust]]
name = "{SHORT_LIVED_RULE}"
issuer = "github"
claims = {{ repository_id = {SHORT_LIVED_REPOSITORY_ID}, ref = "refs/heads/main" }}
connections = ["{CONNECTION}"]
ttl = "{SHORT_TTL}"

[[trust]]
name = "payments-gitlab"
issuer = "gitlab"
claims = {{ project_id = {GITLAB_PROJECT_ID}, ref = "main" }}
connections = ["{CONNECTION}"]

{extra}
"#,
            extra = gateway.extra.as_deref().unwrap_or_default(),
            replica = self.replica,
            api_port = self.api_port,
            gateway_port = self.gateway_port,
            spool_dir = self.spool_dir.display().to_string(),
            gateway_settings = gateway.render(),
            key_path = self.secret_key_path.display().to_string(),
            reaper = self.reaper_interval,
            github = self.github_url,
            gitlab = self.gitlab_url,
            database = self.database,
            reader = self.reader,
            role_provisioning = self.role_provisioning,
            durability = self.durability,
        )
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A random 64-character secret key.
pub fn random_secret_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

// ---------------------------------------------------------------------------------------------
// The process

/// `hoop <args>` with stdout and stderr appended to `log`; env vars set as given.
pub fn hoop_command(args: &[&str], env: &[(&str, &str)], log: &Path) -> Command {
    hoop_command_limited(args, env, log, None)
}

/// [`hoop_command`], run by `prlimit` under a file size limit of `file_size_limit` bytes
/// (`RLIMIT_FSIZE`) if given, with `SIGXFSZ` ignored (its default action kills the process):
/// a write that would grow a file past the limit is cut short by the kernel and the next one
/// fails with `EFBIG`. `sh` sets the signal disposition, which survives both `exec`s, so the
/// child's pid is hoop's own.
fn hoop_command_limited(
    args: &[&str],
    env: &[(&str, &str)],
    log: &Path,
    file_size_limit: Option<u64>,
) -> Command {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let hoop = env!("CARGO_BIN_EXE_hoop");
    let mut cmd = match file_size_limit {
        None => Command::new(hoop),
        Some(bytes) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", "trap '' XFSZ; exec \"$@\"", "sh", "prlimit"])
                .arg(format!("--fsize={bytes}"))
                .args(["--", hoop]);
            sh
        }
    };
    cmd.args(args)
        .env_remove(STATE_URL_VAR)
        .env_remove(ADMIN_URL_VAR)
        .env_remove("HOOP_CONFIG")
        // Debug logs included: nothing secret may reach the log at any level.
        .env("HOOP_LOG", "debug")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    cmd
}

/// Waits (bounded) for `child` to exit; kills it and panics if it does not.
pub async fn wait_for_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{what} did not exit within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The standard output of a command that must have succeeded (a failure panics with both
/// streams).
pub fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must terminate; returns its status and its combined output.
pub async fn run_to_exit(mut cmd: Command, log: &Path, what: &str) -> (ExitStatus, String) {
    let mut child = cmd.spawn().unwrap();
    let status = wait_for_exit(&mut child, what).await;
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

/// An HTTP response: status, headers, text, and the text as JSON (`Null` if it is not).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    /// `error.code`, or "" for a success.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A string field of the body; panics naming it if absent.
    pub fn field(&self, name: &str) -> &str {
        self.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("no string {name:?} in {}", self.body))
    }
}

/// How a [`Hoop`] is started.
pub struct Options {
    pub reaper_interval: &'static str,
    pub role_provisioning: &'static str,
    /// The connection's `durability` (`statement`, hoop's default, or `result`).
    pub durability: &'static str,
    /// The recordings' directory; `spool` in the scratch directory if `None`.
    pub spool_dir: Option<PathBuf>,
    pub gateway: GatewaySettings,
    /// More environment for `hoop serve` (the archive store's AWS settings).
    pub env: Vec<(String, String)>,
    /// Runs `hoop serve` under this file size limit in bytes (`RLIMIT_FSIZE`, set with
    /// `prlimit`), with `SIGXFSZ` ignored: a write that would grow a file past it is cut short
    /// by the kernel and the next one fails with `EFBIG`, as on a full disk, without root.
    pub file_size_limit: Option<u64>,
}

impl Options {
    /// The defaults with `extra` appended to the configuration (`[[trust]]`, `[[connections]]`,
    /// `[[rules]]`...).
    pub fn with_extra(extra: impl Into<String>) -> Options {
        Options {
            gateway: GatewaySettings {
                extra: Some(extra.into()),
                ..GatewaySettings::default()
            },
            ..Options::default()
        }
    }
}

impl Default for Options {
    /// A reaper that stays out of the way; expiry tests ask for a fast one.
    fn default() -> Self {
        Options {
            reaper_interval: "1h",
            role_provisioning: "exchange",
            durability: "statement",
            spool_dir: None,
            gateway: GatewaySettings::default(),
            env: Vec::new(),
            file_size_limit: None,
        }
    }
}

/// A running `hoop serve` with its issuers, database and configuration.
pub struct Hoop {
    pub github: DemoIssuer,
    pub gitlab: DemoIssuer,
    pub db: TestDb,
    pub secret_key: String,
    child: Option<Child>,
    /// The API's base URL, `http://127.0.0.1:PORT`.
    pub api: String,
    pub gateway_port: u16,
    pub spool_dir: PathBuf,
    config_path: PathBuf,
    config: ConfigFile,
    gateway: GatewaySettings,
    env: Vec<(String, String)>,
    file_size_limit: Option<u64>,
    log_path: PathBuf,
    http: reqwest::Client,
    // Dropped last: it holds the log.
    dir: ScratchDir,
}

impl Hoop {
    pub async fn start(options: Options) -> Hoop {
        let db = TestDb::create().await;
        let github = start_issuer().await;
        let gitlab = start_issuer().await;
        let dir = ScratchDir::new();
        let secret_key = random_secret_key();
        let api_port = free_port();
        let gateway_port = free_port();
        let spool_dir = options.spool_dir.unwrap_or_else(|| dir.0.join("spool"));
        let config = ConfigFile {
            replica: "e2e",
            api_port,
            gateway_port,
            spool_dir: spool_dir.clone(),
            github_url: github.url(),
            gitlab_url: gitlab.url(),
            database: db.name.clone(),
            reader: db.reader.clone(),
            secret_key_path: dir.write("secret_key", &secret_key),
            reaper_interval: options.reaper_interval,
            role_provisioning: options.role_provisioning,
            durability: options.durability,
        };
        let mut hoop = Hoop {
            github,
            gitlab,
            secret_key,
            child: None,
            api: format!("http://127.0.0.1:{api_port}"),
            gateway_port,
            spool_dir,
            config_path: dir.write("hoop.toml", &config.render_with(&options.gateway)),
            config: config.clone(),
            gateway: options.gateway.clone(),
            env: options.env.clone(),
            file_size_limit: options.file_size_limit,
            log_path: dir.0.join("hoop.log"),
            http: reqwest::Client::new(),
            db,
            dir,
        };
        // A port free_port handed out can be taken by another test before hoop binds it: then
        // start again on other ports.
        for attempt in 1.. {
            hoop.child = Some(hoop.serve(&hoop.config_path, &hoop.log_path));
            match hoop.healthy().await {
                Ok(()) => break,
                Err(log) if attempt < 4 && log.contains("Address already in use") => {
                    hoop.config.api_port = free_port();
                    hoop.config.gateway_port = free_port();
                    hoop.api = format!("http://127.0.0.1:{}", hoop.config.api_port);
                    hoop.gateway_port = hoop.config.gateway_port;
                    let text = hoop.config.render_with(&hoop.gateway);
                    hoop.config_path = hoop.dir.write("hoop.toml", &text);
                    std::fs::write(&hoop.log_path, "").unwrap();
                }
                Err(log) => panic!("hoop serve did not become healthy; log:\n{log}"),
            }
        }
        hoop
    }

    async fn spawn(&mut self) {
        let child = self.serve(&self.config_path, &self.log_path);
        self.child = Some(child);
        self.wait_healthy().await;
    }

    /// `hoop serve --config <config>` on this test's database, logging to `log`.
    fn serve(&self, config: &Path, log: &Path) -> Child {
        let url = self.db.url();
        let config = config.display().to_string();
        let mut env = vec![(STATE_URL_VAR, url.as_str()), (ADMIN_URL_VAR, url.as_str())];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        hoop_command_limited(
            &["serve", "--config", &config],
            &env,
            log,
            self.file_size_limit,
        )
        .spawn()
        .unwrap()
    }

    /// A second `hoop serve` on the same state database, secret key and issuers, with its own
    /// ports, spool and replica name: what a second replica behind a load balancer is.
    pub async fn second_replica(&self) -> Replica {
        let mut config = self.config.clone();
        config.replica = "e2e-b";
        config.api_port = free_port();
        config.gateway_port = free_port();
        config.spool_dir = self.dir.0.join("spool-b");
        let path = self
            .dir
            .write("hoop-b.toml", &config.render_with(&self.gateway));
        let log = self.dir.0.join("hoop-b.log");
        let mut replica = Replica {
            child: self.serve(&path, &log),
            api: format!("http://127.0.0.1:{}", config.api_port),
            gateway_port: config.gateway_port,
        };
        let deadline = Instant::now() + WAIT;
        while !matches!(self.http.get(format!("{}/healthz", replica.api)).send().await, Ok(r) if r.status() == StatusCode::OK)
        {
            let exited = replica.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the second replica did not become healthy ({exited:?}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        replica
    }

    async fn wait_healthy(&mut self) {
        if let Err(log) = self.healthy().await {
            panic!("hoop serve did not become healthy; log:\n{log}");
        }
    }

    /// Waits (bounded) for `/healthz`; `Err` with the exit status and log when the process
    /// exited or the wait ran out.
    async fn healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.api)).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(());
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() >= deadline {
                return Err(format!("exit status {exited:?}\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process (SIGKILL, as a crash would) and starts it again on the same files.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Stops with SIGTERM and returns the exit status (bounded wait).
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("hoop is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        wait_for_exit(&mut child, "hoop serve after SIGTERM").await
    }

    /// Sends `signal` (`TERM`, `HUP`...) to the running process and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit on its own, after a signal.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("hoop is running");
        wait_for_exit(&mut child, "hoop serve").await
    }

    /// The configuration file `hoop serve` reads.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The configuration file's text with `extra` in place of the test's extra sections.
    pub fn config_text(&self, extra: &str) -> String {
        let gateway = GatewaySettings {
            extra: Some(extra.to_owned()),
            ..self.gateway.clone()
        };
        self.config.render_with(&gateway)
    }

    /// Starts the process again after [`Hoop::terminate`].
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "hoop is still running");
        self.spawn().await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id of the running `hoop serve`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("hoop is running").id()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The test's scratch directory (configuration, log, spool).
    pub fn scratch(&self) -> &ScratchDir {
        &self.dir
    }

    pub fn github_claims(&self, run_id: u64) -> Value {
        self.github
            .github_claims(AUDIENCE, REPOSITORY, REPOSITORY_ID, run_id)
    }

    /// A fresh, valid GitHub token of `run_id` in [`REPOSITORY`].
    pub fn github_token(&self, run_id: u64) -> String {
        self.github.mint(&self.github_claims(run_id))
    }

    /// A fresh, valid GitHub token of `run_id` in [`SHORT_LIVED_REPOSITORY`] (ttl [`SHORT_TTL`]).
    pub fn short_lived_token(&self, run_id: u64) -> String {
        self.github.mint(&self.github.github_claims(
            AUDIENCE,
            SHORT_LIVED_REPOSITORY,
            SHORT_LIVED_REPOSITORY_ID,
            run_id,
        ))
    }

    /// A fresh, valid GitLab token of `run_id` in [`GITLAB_PROJECT`] (the default session limit).
    pub fn gitlab_token(&self, run_id: u64) -> String {
        self.gitlab.mint(&self.gitlab.gitlab_claims(
            AUDIENCE,
            GITLAB_PROJECT,
            GITLAB_PROJECT_ID,
            run_id,
        ))
    }

    /// The password hoop derives for the upstream role `username`.
    pub fn role_password(&self, username: &str) -> String {
        derived_role_password(&self.secret_key, username)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::read(
            self.http
                .get(format!("{}{path}", self.api))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `POST /v1/exchange` for [`CONNECTION`].
    pub async fn exchange(&self, token: &str) -> Reply {
        self.exchange_for(token, CONNECTION).await
    }

    pub async fn exchange_for(&self, token: &str, connection: &str) -> Reply {
        let body = json!({ "connection": connection }).to_string();
        self.exchange_raw(Some(&format!("Bearer {token}")), body)
            .await
    }

    /// `POST /v1/exchange` with any `Authorization` header (or none) and any body.
    pub async fn exchange_raw(&self, authorization: Option<&str>, body: String) -> Reply {
        let mut request = self
            .http
            .post(format!("{}/v1/exchange", self.api))
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    /// Exchanges `token` and asserts the credential was issued.
    pub async fn issue(&self, token: &str) -> Credential {
        let reply = self.exchange(token).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "exchange: {:?}",
            reply.body
        );
        Credential::from_body(&reply.body)
    }

    pub async fn revoke_with_token(&self, id: &str, token: &str) -> Reply {
        self.revoke(id, &format!("Bearer {token}")).await
    }

    pub async fn revoke_with_password(&self, id: &str, username: &str, password: &str) -> Reply {
        let basic = STANDARD.encode(format!("{username}:{password}"));
        self.revoke(id, &format!("Basic {basic}")).await
    }

    async fn revoke(&self, id: &str, authorization: &str) -> Reply {
        let response = self
            .http
            .delete(format!("{}/v1/credentials/{id}", self.api))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// Connects upstream as the credential's role, the way the gateway will: with the password
    /// derived from the secret key.
    pub async fn connect_as(
        &self,
        credential: &Credential,
    ) -> Result<Client, tokio_postgres::Error> {
        let password = self.role_password(&credential.username);
        self.db.connect_as(&credential.username, &password).await
    }
}

/// Client-side helpers for sessions through the gateway.
impl Hoop {
    /// libpq environment for a credential, pointed at the gateway (TLS required).
    pub fn pg_env(&self, credential: &Credential) -> Vec<(&'static str, String)> {
        vec![
            ("PGHOST", "127.0.0.1".into()),
            ("PGPORT", self.gateway_port.to_string()),
            ("PGUSER", credential.username.clone()),
            ("PGPASSWORD", credential.password.clone()),
            ("PGDATABASE", self.db.name.clone()),
            ("PGSSLMODE", "require".into()),
            ("PGCONNECT_TIMEOUT", "10".into()),
        ]
    }

    /// Runs `psql -X -A -t -v ON_ERROR_STOP=1 <args>` through the gateway.
    pub fn psql(&self, credential: &Credential, args: &[&str]) -> std::process::Output {
        self.psql_with_input(credential, args, "")
    }

    pub fn psql_with_input(
        &self,
        credential: &Credential,
        args: &[&str],
        stdin: &str,
    ) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .psql_command(credential)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql must be installed (tests/setup installs postgresql-client)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `psql -X -A -t -v ON_ERROR_STOP=1` through the gateway, to add arguments, environment
    /// and stdio to.
    pub fn psql_command(&self, credential: &Credential) -> Command {
        let mut psql = Command::new("psql");
        psql.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .envs(self.pg_env(credential))
            .env_remove("PGSERVICE");
        psql
    }

    /// tokio-postgres settings for a credential, pointed at the gateway; use with
    /// [`gateway_tls`] (sslmode=require).
    pub fn gateway_config(&self, credential: &Credential) -> tokio_postgres::Config {
        self.gateway_config_on(credential, self.gateway_port)
    }

    /// The same, for the gateway listening on `port` (another replica's).
    pub fn gateway_config_on(&self, credential: &Credential, port: u16) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user(&credential.username)
            .password(&credential.password)
            .dbname(&self.db.name)
            .ssl_mode(SslMode::Require)
            .connect_timeout(WAIT);
        config
    }

    /// A TLS session through the gateway; the connection task is returned so a test can see
    /// how the server ended it.
    pub async fn gateway_session(
        &self,
        credential: &Credential,
    ) -> Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>), tokio_postgres::Error>
    {
        let (client, connection) = self
            .gateway_config(credential)
            .connect(gateway_tls())
            .await?;
        Ok((client, tokio::spawn(connection)))
    }

    /// A TLS session through the gateway.
    pub async fn connect_gateway(
        &self,
        credential: &Credential,
    ) -> Result<Client, tokio_postgres::Error> {
        self.gateway_session(credential)
            .await
            .map(|(client, _)| client)
    }

    /// Waits until `count` gateway sessions are closed in the index (recordings finished).
    pub async fn wait_sessions_ended(&self, count: i64) {
        wait_until(&format!("{count} ended gateway sessions"), || async {
            let row = self
                .db
                .client()
                .await
                .query_one(
                    "SELECT count(*) FROM hoop_sessions WHERE state = 'ended'",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0) >= count
        })
        .await;
    }

    /// Waits until `username` has at least one gateway session and none is still live, so
    /// every one of its recordings is finished.
    pub async fn wait_sessions_of_ended(&self, username: &str) {
        wait_until(&format!("the sessions of {username} to end"), || async {
            let row = self
                .db
                .client()
                .await
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE state = 'live') \
                     FROM hoop_sessions WHERE username = $1",
                    &[&username],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0) > 0 && row.get::<_, i64>(1) == 0
        })
        .await;
    }

    /// Waits until `count` archives are stored and a stored digest lists each of them.
    pub async fn wait_archived_and_digested(&self, count: i64) {
        wait_until(
            &format!("{count} archives listed by stored digests"),
            || async {
                let row = self
                    .db
                    .client()
                    .await
                    .query_one(
                        "SELECT count(*), count(*) FILTER (WHERE digest_key IN
                         (SELECT key FROM hoop_digests WHERE stored))
                     FROM hoop_archives",
                        &[],
                    )
                    .await
                    .unwrap();
                row.get::<_, i64>(0) == count && row.get::<_, i64>(1) == count
            },
        )
        .await;
    }

    /// The session recordings in the spool, newest last.
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.spool_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
    }
}

/// The events of every recording in the spool, one list per session, oldest first.
impl Hoop {
    pub fn recorded_sessions(&self) -> Vec<Vec<Value>> {
        self.recordings()
            .iter()
            .map(|path| {
                std::fs::read_to_string(path)
                    .unwrap()
                    .lines()
                    .map(|line| serde_json::from_str(line).unwrap())
                    .collect()
            })
            .collect()
    }
}

/// The statements the policy refused in one session's recording (`statement` and `parse`
/// events with `"decision": "deny"`), their recorded text in order. Panics if one of them ran:
/// a refused statement is answered by its 42501 error and never completes (no `complete`
/// event before the client's next message is recorded), and a Bind of a prepared statement
/// whose Parse was refused completes nothing either.
pub fn refused_statements(events: &[Value]) -> Vec<String> {
    struct Open {
        sql: String,
        /// Whether a 42501 error must answer it (a Bind of a refused statement gets another).
        must_error: bool,
        errored: bool,
    }
    let mut refused = Vec::new();
    let mut refused_names = std::collections::HashSet::new();
    let mut open: Option<Open> = None;
    for event in events {
        let kind = event["kind"].as_str().unwrap_or_default();
        let starts_another = matches!(
            kind,
            "statement"
                | "parse"
                | "bind"
                | "execute"
                | "function_call"
                | "terminate"
                | "session_end"
        );
        if starts_another {
            if let Some(done) = open.take() {
                assert!(
                    done.errored || !done.must_error,
                    "the refused {:?} got no error",
                    done.sql
                );
            }
            let name = event["statement"].as_str().unwrap_or_default().to_owned();
            if event["decision"] == "deny" {
                let sql = event["sql"].as_str().unwrap_or_default().to_owned();
                refused.push(sql.clone());
                if kind == "parse" {
                    refused_names.insert(name);
                }
                open = Some(Open {
                    sql,
                    must_error: true,
                    errored: false,
                });
            } else if kind == "parse" {
                refused_names.remove(&name);
            } else if kind == "bind" && refused_names.contains(&name) {
                open = Some(Open {
                    sql: format!("Bind of the refused statement {name:?}"),
                    must_error: false,
                    errored: false,
                });
            }
        } else if let Some(open) = &mut open {
            match kind {
                "complete" => panic!("the refused {:?} completed: {event}", open.sql),
                "error" if open.must_error => {
                    assert_eq!(
                        event["sqlstate"], "42501",
                        "the refused {:?}: {event}",
                        open.sql
                    );
                    open.errored = true;
                }
                _ => {}
            }
        }
    }
    if let Some(done) = open {
        assert!(
            done.errored || !done.must_error,
            "the refused {:?} got no error",
            done.sql
        );
    }
    refused
}

#[test]
fn refused_statements_are_found_and_one_that_completed_is_not_passed() {
    let deny = |kind: &str, sql: &str| json!({"kind": kind, "statement": "s1", "sql": sql, "decision": "deny"});
    let error = json!({"kind": "error", "sqlstate": "42501"});
    let complete = json!({"kind": "complete", "tag": "DELETE 1"});
    let allowed = json!({"kind": "statement", "sql": "SELECT 1", "decision": "allow"});
    let bind = json!({"kind": "bind", "portal": "", "statement": "s1"});
    let refused = refused_statements(&[
        deny("statement", "DROP TABLE cards"),
        error.clone(),
        allowed.clone(),
        complete.clone(),
        deny("parse", "DELETE FROM cards"),
        error.clone(),
    ]);
    assert_eq!(refused, ["DROP TABLE cards", "DELETE FROM cards"]);
    for events in [
        vec![
            deny("statement", "DELETE FROM cards"),
            error.clone(),
            complete.clone(),
        ],
        vec![deny("statement", "DELETE FROM cards"), complete.clone()],
        vec![
            deny("parse", "DELETE FROM cards"),
            error.clone(),
            bind,
            complete,
        ],
        vec![deny("statement", "DELETE FROM cards"), allowed],
    ] {
        let caught = std::panic::catch_unwind(|| refused_statements(&events));
        assert!(caught.is_err(), "{events:?} passed");
    }
}

/// The upstream password hoop derives for a run role from the server's secret key.
pub fn derived_role_password(secret_key: &str, username: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret_key.as_bytes());
    hoop::upstream::role_password(&key, &Username::from_stored(username.to_owned()))
        .expose()
        .to_owned()
}

/// hoop's broker built in-process on a fresh test database with the harness configuration,
/// for tests of library calls the HTTP API does not expose (the gateway's first connect, the
/// run watcher's passes).
pub struct InProcessHoop {
    pub broker: Arc<hoop::exchange::Broker>,
    /// The parsed configuration the broker was built from.
    pub config: hoop::config::Config,
    /// The variables its `{ env = ... }` secrets read.
    pub env: std::collections::HashMap<String, String>,
    pub github: DemoIssuer,
    pub gitlab: DemoIssuer,
    pub db: TestDb,
    pub secret_key: String,
    pub dir: ScratchDir,
}

impl InProcessHoop {
    /// `extra` appends sections to the generated `hoop.toml` (it may write files in the scratch
    /// directory); `env` adds variables its secrets name.
    pub async fn start(
        role_provisioning: &'static str,
        extra: impl FnOnce(&ScratchDir) -> String,
        env: &[(&str, &str)],
    ) -> InProcessHoop {
        let db = TestDb::create().await;
        let (github, gitlab) = (start_issuer().await, start_issuer().await);
        let dir = ScratchDir::new();
        let secret_key = random_secret_key();
        let mut text = ConfigFile {
            replica: "e2e",
            api_port: free_port(),
            gateway_port: free_port(),
            spool_dir: dir.0.join("spool"),
            github_url: github.url(),
            gitlab_url: gitlab.url(),
            database: db.name.clone(),
            reader: db.reader.clone(),
            secret_key_path: dir.write("secret_key", &secret_key),
            reaper_interval: "1h",
            role_provisioning,
            durability: "statement",
        }
        .render();
        text += &extra(&dir);
        let mut vars = std::collections::HashMap::from([
            (STATE_URL_VAR.to_owned(), db.url()),
            (ADMIN_URL_VAR.to_owned(), db.url()),
        ]);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = hoop::config::Config::from_toml(&text, "hoop.toml").unwrap();
        let broker = hoop::server::build(&config, &vars, "hoop.toml")
            .await
            .unwrap();
        InProcessHoop {
            broker,
            config,
            env: vars,
            github,
            gitlab,
            db,
            secret_key,
            dir,
        }
    }

    /// Exchanges `token` for a credential on the harness connection.
    pub async fn exchange(&self, token: &str) -> hoop::exchange::IssuedCredential {
        let request = hoop::exchange::ExchangeRequest::new(
            hoop::base::ConnectionName::new(CONNECTION).unwrap(),
        );
        let caller = hoop::exchange::Caller::default();
        self.broker.exchange(token, &request, caller).await.unwrap()
    }
}

/// A second `hoop serve` process; killed on drop.
pub struct Replica {
    child: Child,
    pub api: String,
    pub gateway_port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hoop {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {} ---", self.log_path.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A demo OIDC issuer on a free loopback port.
pub async fn start_issuer() -> DemoIssuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    DemoIssuer::start(listener).await.unwrap()
}

/// A demo issuer that no configuration trusts.
pub async fn foreign_issuer() -> DemoIssuer {
    start_issuer().await
}

/// The parts of an exchange response tests use again.
#[derive(Clone, Debug)]
pub struct Credential {
    pub id: String,
    pub username: String,
    pub password: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Credential {
    pub fn from_body(body: &Value) -> Credential {
        let text = |k: &str| {
            body[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k:?} in {body}"))
                .to_owned()
        };
        Credential {
            id: text("credential_id"),
            username: text("username"),
            password: text("password"),
            expires_at: chrono::DateTime::parse_from_rfc3339(&text("expires_at"))
                .unwrap()
                .to_utc(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// `claims` with `name` set to `value` (`Null` removes it).
pub fn with_claim(mut claims: Value, name: &str, value: Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
    claims
}

/// A compact JWS over `header` and `claims` with `signature` bytes as given.
pub fn compact_jws(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An HS256 token whose HMAC key is public material (the classic key-confusion attack).
pub fn hs256_token(key: &[u8], kid: &Value, claims: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let unsigned = compact_jws(&header, claims, b"");
    let signing_input = unsigned.trim_end_matches('.');
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------------
// TLS to the gateway

/// TLS for tokio-postgres that accepts any server certificate, like libpq's sslmode=require:
/// the default gateway certificate is self-signed. Test use only.
pub fn gateway_tls() -> MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertForTests(provider)))
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

/// Accepts every certificate but still checks the handshake signatures (so the peer holds the
/// key of the certificate it sent). Never outside tests.
#[derive(Debug)]
struct AcceptAnyServerCertForTests(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServerCertForTests {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
