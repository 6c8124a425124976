//! Versioned schema migrations from the repository's `migrations/` folder, compiled in.
//!
//! Applied in one transaction under an advisory lock, so replicas starting together apply each
//! migration once. A database whose schema is newer than this binary, or whose applied
//! migrations differ from the files, is refused rather than guessed at.

use deadpool_postgres::Client;

use super::StateError;

/// `(version, name, sql)`, in order. Add a file, then a line here; never edit an applied file.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "sessions",
        include_str!("../../../migrations/0002_sessions.sql"),
    ),
    (
        3,
        "approvals",
        include_str!("../../../migrations/0003_approvals.sql"),
    ),
    (
        4,
        "archives",
        include_str!("../../../migrations/0004_archives.sql"),
    ),
    (
        5,
        "audit_trail",
        include_str!("../../../migrations/0005_audit_trail.sql"),
    ),
];

/// Arbitrary constant identifying hoop's migration lock.
const LOCK_KEY: i64 = 0x0068_6f6f_706d_6967; // "hoopmig"

pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies what is missing; returns the versions it applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, StateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hoop_schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let rows = tx
        .query(
            "SELECT version, name, checksum FROM hoop_schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let mut applied = Vec::new();
    for row in &rows {
        let (version, name, checksum): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
        let Some((_, _, sql)) = MIGRATIONS.iter().find(|m| m.0 == version) else {
            return Err(StateError::SchemaTooNew {
                found: version,
                known: latest_version(),
            });
        };
        if checksum != checksum_of(sql) {
            return Err(StateError::MigrationChanged { version, name });
        }
        applied.push(version);
    }
    let mut newly = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO hoop_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[version, name, &checksum_of(sql)],
        )
        .await?;
        newly.push(*version);
    }
    tx.commit().await?;
    Ok(newly)
}

fn checksum_of(sql: &str) -> String {
    crate::base::Sha256::of(sql.as_bytes()).to_hex()
}
