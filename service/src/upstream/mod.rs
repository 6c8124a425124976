//! Per-run roles in upstream Postgres databases, created and dropped with each connection's
//! admin credentials — as Vault's database secrets engine does.
//!
//! A run role `LOGIN`s with a password derived from the server's secret key
//! ([`role_password`]), so only hoop can log in as it; it expires `VALID UNTIL` the
//! credential's expiry even if hoop never gets to drop it, and it inherits the privileges of
//! the trust rule's role and nothing else.
//!
//! Architecture Invariant: the upstream role's password never leaves hoop. Postgres receives
//! only its SCRAM verifier, so not even a statement log on the upstream holds it.

pub mod catalog;
mod config;
mod sql;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;

use crate::base::{ConnectionName, DbRole, Secret, SecretEnv};
use crate::credentials::{ScramVerifier, Username};
pub use config::{ConnectionConfig, ConnectionKind, RoleProvisioning, SslMode};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connection {connection}: admin_url is not a valid postgres:// URL")]
    InvalidUrl { connection: String },
    #[error("{key}: {reason}")]
    Secret {
        key: String,
        reason: crate::base::SecretError,
    },
    #[error("connection {0} is not configured")]
    UnknownConnection(String),
    #[error("connection {connection}: the upstream database is unreachable: {reason}")]
    Unavailable { connection: String, reason: String },
    #[error(
        "connection {connection}: the policy role {role} does not exist in the upstream \
         database; hoop's operators must create it (`hoop config check --upstream` lists every \
         missing one)"
    )]
    ParentRoleMissing { connection: String, role: String },
    #[error("connection {connection}: the admin role may not manage roles: {reason}")]
    NotPermitted { connection: String, reason: String },
    #[error("connection {connection}: {reason} (SQLSTATE {code})")]
    Database {
        connection: String,
        code: String,
        reason: String,
    },
}

/// How long a dropped role's sessions get to close on their own before they are terminated.
const SESSION_DRAIN: Duration = Duration::from_secs(1);

/// What a new run role looks like upstream.
pub struct RunRole<'a> {
    pub name: &'a Username,
    pub parent: &'a DbRole,
    pub valid_until: DateTime<Utc>,
    pub connection_limit: u32,
    /// Shown by `\du+` and in `pg_shdescription`: which run, which rule.
    pub comment: &'a str,
}

/// Where the gateway connects for a connection's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// The admin pools of every configured Postgres connection.
pub struct Upstreams {
    pools: HashMap<ConnectionName, Pool>,
    endpoints: HashMap<ConnectionName, Endpoint>,
    secret_key: hmac::Key,
}

impl Upstreams {
    /// Builds one lazily-connecting admin pool per connection; reads no network.
    pub fn new(
        connections: &[ConnectionConfig],
        secret_key: &Secret,
        env: &dyn SecretEnv,
    ) -> Result<Upstreams, UpstreamError> {
        let mut pools = HashMap::new();
        let mut endpoints = HashMap::new();
        for (i, c) in connections.iter().enumerate() {
            let name = c.name.to_string();
            let url = c
                .admin_url
                .resolve(env)
                .map_err(|reason| UpstreamError::Secret {
                    key: format!("connections[{i}].admin_url"),
                    reason,
                })?;
            let mut pg = tokio_postgres::Config::from_str(url.expose()).map_err(|_| {
                UpstreamError::InvalidUrl {
                    connection: name.clone(),
                }
            })?;
            // Owned objects are reassigned per database, so admin work happens in the
            // connection's own database.
            pg.dbname(&c.database);
            let host = match pg.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => {
                    return Err(UpstreamError::InvalidUrl {
                        connection: name.clone(),
                    });
                }
            };
            let port = pg.get_ports().first().copied().unwrap_or(5432);
            endpoints.insert(
                c.name.clone(),
                Endpoint {
                    host,
                    port,
                    database: c.database.clone(),
                },
            );
            pg.application_name("hoop-admin");
            pg.connect_timeout(Duration::from_secs(5));
            let manager = Manager::from_config(
                pg,
                tokio_postgres::NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            let pool = Pool::builder(manager)
                .max_size(c.admin_pool_size)
                .wait_timeout(Some(Duration::from_secs(5)))
                .create_timeout(Some(Duration::from_secs(5)))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| UpstreamError::Unavailable {
                    connection: name,
                    reason: e.to_string(),
                })?;
            pools.insert(c.name.clone(), pool);
        }
        Ok(Upstreams {
            pools,
            endpoints,
            secret_key: hmac::Key::new(hmac::HMAC_SHA256, secret_key.expose().as_bytes()),
        })
    }

    /// Where sessions of `connection` connect upstream.
    pub fn endpoint(&self, connection: &ConnectionName) -> Option<&Endpoint> {
        self.endpoints.get(connection)
    }

    /// A 32-byte key for `purpose`, derived from the server's secret key, so every replica and
    /// every restart derives the same one.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.secret_key);
        ctx.update(b"hoop derived key v1\0");
        ctx.update(purpose.as_bytes());
        ctx.sign()
            .as_ref()
            .try_into()
            .expect("HMAC-SHA-256 is 32 bytes")
    }

    /// The password hoop uses to log in upstream as a run role.
    pub fn role_password(&self, role: &Username) -> Secret {
        role_password(&self.secret_key, role)
    }

    async fn client(
        &self,
        connection: &ConnectionName,
    ) -> Result<deadpool_postgres::Client, UpstreamError> {
        let pool = self
            .pools
            .get(connection)
            .ok_or_else(|| UpstreamError::UnknownConnection(connection.to_string()))?;
        pool.get().await.map_err(|e| UpstreamError::Unavailable {
            connection: connection.to_string(),
            reason: match e {
                deadpool_postgres::PoolError::Backend(e) => e.to_string(),
                other => other.to_string(),
            },
        })
    }

    /// Creates the run role in one implicit transaction: it exists fully configured or not at all.
    pub async fn create_run_role(
        &self,
        connection: &ConnectionName,
        role: &RunRole<'_>,
    ) -> Result<(), UpstreamError> {
        let verifier = ScramVerifier::generate(self.role_password(role.name).expose());
        let batch = sql::create_role(role, &verifier);
        let client = self.client(connection).await?;
        client.batch_execute(&batch).await.map_err(|e| {
            // The only object CREATE ROLE … IN ROLE refers to is the parent role.
            if e.code() == Some(&SqlState::UNDEFINED_OBJECT) {
                UpstreamError::ParentRoleMissing {
                    connection: connection.to_string(),
                    role: role.parent.to_string(),
                }
            } else {
                classify(connection, e)
            }
        })
    }

    /// Creates the run role unless it exists; a concurrent creation of the same role counts as
    /// success.
    pub async fn create_run_role_if_missing(
        &self,
        connection: &ConnectionName,
        role: &RunRole<'_>,
    ) -> Result<(), UpstreamError> {
        if self.role_exists(connection, role.name.as_str()).await? {
            return Ok(());
        }
        match self.create_run_role(connection, role).await {
            // Two first connections raced: Postgres reports the loser as a duplicate object or,
            // when both passed its own existence check, as a unique violation on pg_authid.
            Err(UpstreamError::Database { code, .. })
                if code == SqlState::DUPLICATE_OBJECT.code()
                    || code == SqlState::UNIQUE_VIOLATION.code() =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Ends the role's sessions and drops it; objects it created go to its parent role.
    /// Idempotent: a role that is already gone is success.
    pub async fn drop_run_role(
        &self,
        connection: &ConnectionName,
        role: &Username,
        parent: &DbRole,
    ) -> Result<(), UpstreamError> {
        let client = self.client(connection).await?;
        let result = async {
            if !exists(&client, role.as_str()).await? {
                return Ok(());
            }
            // No new logins first, so no session can start between terminate and drop.
            client.batch_execute(&sql::disable_login(role)).await?;
            // Gateways end their own sessions with a message that says why (they were told
            // before this call); give them a moment to close before Postgres's blunter
            // "terminating connection due to administrator command".
            let deadline = tokio::time::Instant::now() + SESSION_DRAIN;
            while backends(&client, role.as_str()).await? > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    &[&role.as_str()],
                )
                .await?;
            client.batch_execute(&sql::drop_role(role, parent)).await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            // Dropped meanwhile by someone else (an operator, an older replica): the goal is met.
            Err(_) if !exists(&client, role.as_str()).await.unwrap_or(true) => Ok(()),
            Err(e) => Err(classify(connection, e)),
        }
    }

    /// Whether a role exists upstream.
    pub async fn role_exists(
        &self,
        connection: &ConnectionName,
        role: &str,
    ) -> Result<bool, UpstreamError> {
        let client = self.client(connection).await?;
        exists(&client, role)
            .await
            .map_err(|e| classify(connection, e))
    }
}

/// Live backends of a role.
async fn backends(
    client: &tokio_postgres::Client,
    role: &str,
) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await?;
    Ok(row.get(0))
}

async fn exists(
    client: &tokio_postgres::Client,
    role: &str,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await?
        .is_some())
}

/// `HMAC-SHA-256(secret_key, "hoop upstream role v1\0" || role)`, base64url. Deterministic, so
/// every replica (and the gateway, later) derives it without storing it anywhere.
pub fn role_password(secret_key: &hmac::Key, role: &Username) -> Secret {
    let mut ctx = hmac::Context::with_key(secret_key);
    ctx.update(b"hoop upstream role v1\0");
    ctx.update(role.as_str().as_bytes());
    Secret::new(URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
}

fn classify(connection: &ConnectionName, e: tokio_postgres::Error) -> UpstreamError {
    let connection = connection.to_string();
    let Some(db) = e.as_db_error() else {
        return UpstreamError::Unavailable {
            connection,
            reason: e.to_string(),
        };
    };
    let reason = db.message().to_owned();
    if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE {
        UpstreamError::NotPermitted { connection, reason }
    } else {
        UpstreamError::Database {
            connection,
            code: db.code().code().to_owned(),
            reason,
        }
    }
}
