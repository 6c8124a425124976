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

mod sql;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::config::{ConnectionConfig, ConnectionName, DbRole, Secret, SecretEnv};
use crate::credentials::{ScramVerifier, Username};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connection {connection}: admin_url is not a valid postgres:// URL")]
    InvalidUrl { connection: String },
    #[error("connection {connection}: cannot read admin_url: {reason}")]
    Secret { connection: String, reason: String },
    #[error("connection {0} is not configured")]
    UnknownConnection(String),
    #[error("connection {connection}: the upstream database is unreachable: {reason}")]
    Unavailable { connection: String, reason: String },
    #[error("connection {connection}: role {role} does not exist upstream; create it first")]
    ParentRoleMissing { connection: String, role: String },
    #[error("connection {connection}: the admin role may not manage roles: {reason}")]
    NotPermitted { connection: String, reason: String },
    #[error("connection {connection}: {reason}")]
    Database { connection: String, reason: String },
}

/// What a new run role looks like upstream.
pub struct RunRole<'a> {
    pub name: &'a Username,
    pub parent: &'a DbRole,
    pub valid_until: DateTime<Utc>,
    pub connection_limit: u32,
    /// Shown by `\du+` and in `pg_shdescription`: which run, which rule.
    pub comment: &'a str,
}

/// The admin pools of every configured Postgres connection.
pub struct Upstreams {
    pools: HashMap<ConnectionName, Pool>,
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
        for c in connections {
            let name = c.name.0.clone();
            let url = c
                .admin_url
                .resolve(env)
                .map_err(|reason| UpstreamError::Secret {
                    connection: name.clone(),
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
            secret_key: hmac::Key::new(hmac::HMAC_SHA256, secret_key.expose().as_bytes()),
        })
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
            .ok_or_else(|| UpstreamError::UnknownConnection(connection.0.clone()))?;
        pool.get().await.map_err(|e| UpstreamError::Unavailable {
            connection: connection.0.clone(),
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
        client
            .batch_execute(&batch)
            .await
            .map_err(|e| classify(connection, role.parent, e))
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
        let exists = client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role.0])
            .await
            .map_err(|e| classify(connection, parent, e))?;
        if exists.is_none() {
            return Ok(());
        }
        // No new logins first, so no session can start between terminate and drop.
        client
            .batch_execute(&sql::disable_login(role))
            .await
            .map_err(|e| classify(connection, parent, e))?;
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                &[&role.0],
            )
            .await
            .map_err(|e| classify(connection, parent, e))?;
        client
            .batch_execute(&sql::drop_role(role, parent))
            .await
            .map_err(|e| classify(connection, parent, e))
    }

    /// Whether a role exists upstream (operations and tests).
    pub async fn role_exists(
        &self,
        connection: &ConnectionName,
        role: &str,
    ) -> Result<bool, UpstreamError> {
        let client = self.client(connection).await?;
        let row = client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(|e| UpstreamError::Database {
                connection: connection.0.clone(),
                reason: e.to_string(),
            })?;
        Ok(row.is_some())
    }
}

/// `HMAC-SHA-256(secret_key, "hoop upstream role v1\0" || role)`, base64url. Deterministic, so
/// every replica (and the gateway, later) derives it without storing it anywhere.
pub fn role_password(secret_key: &hmac::Key, role: &Username) -> Secret {
    let mut ctx = hmac::Context::with_key(secret_key);
    ctx.update(b"hoop upstream role v1\0");
    ctx.update(role.0.as_bytes());
    Secret::new(URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
}

fn classify(
    connection: &ConnectionName,
    parent: &DbRole,
    e: tokio_postgres::Error,
) -> UpstreamError {
    use tokio_postgres::error::SqlState;
    let connection = connection.0.clone();
    match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_OBJECT => UpstreamError::ParentRoleMissing {
            connection,
            role: parent.0.clone(),
        },
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => UpstreamError::NotPermitted {
            connection,
            reason: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        },
        Some(_) => UpstreamError::Database {
            connection,
            reason: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        },
        None => UpstreamError::Unavailable {
            connection,
            reason: e.to_string(),
        },
    }
}
