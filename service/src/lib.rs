//! hoop: run-scoped database access for CI pipelines.
//!
//! # Layout
//! - [`base`]: the bottom layer: validated ids, secrets, hashes, backoff, shutdown.
//! - [`config`]: the `hoop.toml` file, typed and validated.
//! - [`identity`]: OIDC id token verification (JWKS cache, claims → [`identity::RunIdentity`]).
//! - [`trust`]: trust rules, claims → a typed grant or a denial.
//! - [`credentials`]: ephemeral credentials (user names, SCRAM verifiers).
//! - [`upstream`]: per-run roles in upstream Postgres databases.
//! - [`state`]: hoop's own Postgres state (migrations, credentials, used token ids).
//! - [`bearer`]: API tokens of approvers and auditors (hashes only, constant-time lookup).
//! - [`audit`]: the audit trail of every exchange and revocation.
//! - [`recording`]: hash-chained session recordings, durable before a statement goes upstream.
//! - [`exchange`]: the token exchange and revocation use cases.
//! - [`session`]: the protocol-neutral session core: admission, recording, decisions, holds, end.
//! - [`gateway`]: the PostgreSQL gateway, a protocol adapter over [`session`]: TLS, SCRAM, relay.
//! - [`api`]: the HTTP API (axum) over [`exchange`].
//! - [`server`]: wiring and lifecycle of `hoop serve`, the reaper, graceful shutdown.
//! - [`authoring`]: `hoop policy test` and `explain`: a policy decided offline, by the server's code.
//! - [`watcher`]: the run watcher: revokes credentials whose CI run or job has completed.
//! - [`github`]: GitHub REST conventions the watcher and the notifications share.
//! - [`gitlab_rest`]: the transport of the gitlab crate's endpoints, shared by the watcher and notifications.
//! - [`gateway_tls`]: TLS for the Postgres gateway (PEM files or a self-signed certificate).
//! - [`demo`]: the self-contained demo and its demo-only OIDC issuer.
//! - [`display`]: client and claim text made safe to show to people (hidden characters escaped).
//! - [`masking`]: PAN detection and masking (pure; used on results, errors and recordings).
//! - [`policy`]: statement classification with Postgres's own parser (pure), for the rules.
//! - [`approvals`]: just-in-time approval of held statements: store, waiters, notifications.
//! - [`archive`]: signed session archives and period digests (format, keys, verification).
//! - [`archiver`]: the hand-off of finished recordings to the WORM store, and the digest chain.
//! - [`worm`]: write-once object stores for archives: S3 with Object Lock, or a folder.
//! - [`cli`]: the command line.

pub mod api;
pub mod approvals;
pub mod archive;
pub mod archiver;
pub mod audit;
pub mod authoring;
pub mod base;
pub mod bearer;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod display;
pub mod exchange;
pub mod gateway;
pub mod gateway_tls;
pub mod github;
pub mod gitlab_rest;
pub mod identity;
pub mod masking;
pub mod metrics;
pub mod policy;
pub mod recording;
pub mod server;
pub mod session;
pub mod state;
pub mod trust;
pub mod upstream;
pub mod watcher;
pub mod worm;
