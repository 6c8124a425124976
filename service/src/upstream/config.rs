//! `[[connections]]`: the upstream databases and how per-run roles are made in them.

use serde::Deserialize;

use crate::base::{ConnectionName, DbRole, SecretSource};
use crate::recording::Durability;

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
    /// When a statement's record must be durable: before it is forwarded (`statement`, the
    /// default) or before its result is released (`result`).
    #[serde(default)]
    pub durability: Durability,
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

mod defaults {
    use super::*;

    pub fn sslmode() -> SslMode {
        SslMode::Require
    }
    pub fn admin_pool_size() -> usize {
        4
    }
}
