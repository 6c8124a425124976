//! The integration and end-to-end tests of the `hoop` package, in one test binary (`e2e`): one
//! link of the service instead of one per file. Each file is a module; run one with
//! `cargo nextest run -p hoop --test e2e <module>::` (e.g. `gateway::`).

mod support;

// The token exchange, its attacks, `hoop serve` and role provisioning.
mod attacks;
mod exchange;
mod handout;
mod lifecycle;
mod provisioning;
mod serve;

// The gateway, masking (the leak corpus through psql and binary tokio-postgres), the statement
// policy (bypass and benign corpora), the card-data model, one client encoding, the
// durability modes under a crash.
mod card_data;
mod durability;
mod encoding;
mod gateway;
mod masking;
mod policy;

// Pipelines: the GitLab CI template, scripts run with sh against hoop.
mod gitlab;

// Just-in-time approvals through the real gateway, API and `hoop approvals` CLI; their
// notifications (webhook, GitHub, GitLab) against local stand-ins, in-process.
mod approvals;
mod notify;

// WORM archives of real sessions in a folder store and through a real S3 server with Object
// Lock (moto); the archive stores themselves (hoop::worm); the auditor's command line.
mod archive;
mod archive_s3;
mod auditor;
mod store;

// The run watcher against stand-ins of the GitHub and GitLab APIs, driven in-process.
mod watcher;

// Three replicas under load (concurrent sessions of tagged statements) while one crashes, the
// archive store goes away and the state database restarts; then every credential is revoked at
// once (it runs alone: .config/nextest.toml). What survives a state database restart.
mod replicas;
