//! The calls into libpg_query, one at a time.
//!
//! libpg_query's parse functions (`pg_query_parse_protobuf_opts`, `pg_query_fingerprint_opts`,
//! `pg_query_parse_plpgsql`, `pg_query_scan`) redirect the process's **stderr** (file descriptor 2) into a pipe
//! for the length of the call and restore it afterwards. Two such calls overlapping on two
//! threads restore in the wrong order and can leave fd 2 pointing at a closed pipe for the rest
//! of the process's life, where the gateway's logs (the audit target among them) would vanish.
//! Every call goes through this lock, so at most one redirection is active at a time. What
//! another thread writes to stderr during a call still lands in the pipe: a log line may be
//! lost, and a PL/pgSQL body being read at that moment is reported as unreadable (opaque),
//! which fails closed.

use std::sync::Mutex;

use pg_query::{FingerprintOptions, ParserOptions};

static LIBPG_QUERY: Mutex<()> = Mutex::new(());

fn locked<T>(call: impl FnOnce() -> T) -> T {
    // A panic while the lock was held (inside pg_query's Rust wrapper) leaves nothing to repair:
    // the redirection is undone by the C code before it returns.
    let _guard = LIBPG_QUERY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    call()
}

pub(super) fn parse(sql: &str, options: ParserOptions) -> pg_query::Result<pg_query::ParseResult> {
    locked(|| pg_query::parse(sql, options))
}

pub(super) fn fingerprint(
    sql: &str,
    options: ParserOptions,
    fingerprint: FingerprintOptions,
) -> pg_query::Result<pg_query::Fingerprint> {
    locked(|| pg_query::fingerprint(sql, options, fingerprint))
}

pub(super) fn normalize(sql: &str) -> pg_query::Result<String> {
    locked(|| pg_query::normalize(sql))
}

/// The canonical text of a parse tree (keywords, spacing and comments Postgres's way).
pub(super) fn deparse(tree: &pg_query::protobuf::ParseResult) -> pg_query::Result<String> {
    locked(|| pg_query::deparse(tree, pg_query::DeparseOptions::default()))
}

pub(super) fn parse_plpgsql(sql: &str) -> pg_query::Result<serde_json::Value> {
    locked(|| pg_query::parse_plpgsql(sql))
}

pub(super) fn scan(sql: &str) -> pg_query::Result<pg_query::protobuf::ScanResult> {
    locked(|| pg_query::scan(sql))
}
