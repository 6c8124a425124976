//! hoop's own state in Postgres: credentials, used token ids, sessions, approvals, archives,
//! audit events.
//!
//! [`Store`] owns the connection pool; each table's queries live beside the concept they serve
//! ([`credentials`], [`tokens`], [`sessions`]). The schema comes from `migrations/` ([`migrations`]).

pub mod approvals;
pub mod archives;
pub mod audit_trail;
pub mod credentials;
mod migrations;
pub mod sessions;
pub mod tokens;

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::base::Secret;

pub use migrations::latest_version as latest_schema_version;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state database URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("the state database is unreachable: {0}")]
    Unavailable(String),
    #[error("state database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error(
        "the state database has schema version {found}, newer than this hoop knows ({known}); \
         run a newer hoop or restore the database"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error("applied migration {version} ({name}) differs from the file shipped with hoop")]
    MigrationChanged { version: i32, name: String },
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StateError {
    /// Whether a statement gave up waiting for a row lock (`lock_timeout`, SQLSTATE 55P03).
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, StateError::Database(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE))
    }
}

impl From<deadpool_postgres::PoolError> for StateError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StateError::Database(e),
            other => StateError::Unavailable(other.to_string()),
        }
    }
}

/// The state database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// For connections outside the pool (LISTEN).
    pg: tokio_postgres::Config,
}

impl Store {
    /// Builds the pool; connections are opened lazily, so this does not touch the network.
    pub fn new(url: &Secret, max_size: usize) -> Result<Store, StateError> {
        // The URL may hold a password: report the parse error without echoing it.
        let pg = tokio_postgres::Config::from_str(url.expose())
            .map_err(|_| StateError::InvalidUrl("not a valid postgres:// URL".into()))?;
        let manager = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StateError::Unavailable(e.to_string()))?;
        Ok(Store { pool, pg })
    }

    pub async fn client(&self) -> Result<deadpool_postgres::Client, StateError> {
        Ok(self.pool.get().await?)
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i32>, StateError> {
        let mut client = self.client().await?;
        migrations::migrate(&mut client).await
    }

    /// Listens on a notification channel and calls `on` with each payload, until the
    /// connection fails (the caller reconnects). `listening` runs once LISTEN is in place:
    /// from then on no notification is missed. Uses its own connection: LISTEN must not be
    /// left behind on a pooled one.
    pub async fn listen(
        &self,
        channel: &str,
        listening: impl FnOnce(),
        on: impl Fn(&str),
    ) -> Result<(), StateError> {
        use tokio_postgres::AsyncMessage;
        let (client, mut connection) = self.pg.connect(tokio_postgres::NoTls).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // poll_message both drives the connection and yields its notifications.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                }
            }
        });
        let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
        client.batch_execute(&format!("LISTEN {quoted}")).await?;
        listening();
        while let Some(payload) = rx.recv().await {
            on(&payload);
        }
        match driver.await {
            Ok(result) => result.map_err(StateError::from),
            Err(e) => Err(StateError::Unavailable(e.to_string())),
        }
    }

    /// `SELECT 1`: is the state database reachable now.
    pub async fn ping(&self) -> Result<(), StateError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}
