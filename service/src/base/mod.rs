//! The bottom layer: values every other layer shares and nothing here depends on them.
//!
//! - [`ids`]: validated identifiers (sessions, credentials, approvals, connections, roles).
//! - [`secret`]: secrets that never print their value, and where they are read from.
//! - [`hash`]: SHA-256, HMAC-SHA-256 and lower-case hex, from one backend.
//! - [`backoff`]: exponential backoff with jitter, for every retry loop.
//! - [`shutdown`]: the graceful stop every long-running task listens to.
//! - [`lint`]: findings of `config check` (what loads but is probably not meant).
//! - [`url`]: which URLs hoop may call (https, or http to loopback).

pub mod backoff;
pub mod hash;
pub mod ids;
pub mod lint;
pub mod secret;
pub mod shutdown;
pub mod url;

pub use backoff::Backoff;
pub use hash::Sha256;
pub use ids::{ApprovalId, ConnectionName, CredentialId, DbRole, IdError, SessionId};
pub use secret::{ProcessEnv, Secret, SecretEnv, SecretError, SecretSource};
pub use shutdown::{Shutdown, ShutdownTrigger};
