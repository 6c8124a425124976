//! The statement policy end to end: a bypass corpus sent through the real gateway with `psql`
//! (simple protocol) and tokio-postgres (extended protocol) must be denied (SQLSTATE 42501, the
//! rule named), each case changing nothing upstream and recorded as refused, never completed,
//! with the session still usable; a benign corpus of migrations, reports and ORM queries must
//! run untouched.

use std::process::Output;

use crate::support::leaks::{assert_no_leak, without_links};
use crate::support::{Credential, GatewaySettings, Hoop, Options, refused_statements};
use serde_json::Value;
use tokio_postgres::error::SqlState;

const POLICY: &str = r#"
[policy]
protected_tables = ["cards"]
pan_columns = ["cards.pan"]

[[rules]]
id = "no-card-writes"
action = "deny"
reason = "cards change only through the card service"
kinds = ["delete", "update", "insert"]
tables = ["public.cards"]
"#;

async fn start() -> (Hoop, Credential) {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(POLICY.to_owned()),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let db = hoop.db.client().await;
    db.batch_execute(&format!(
        "CREATE TABLE cards (id int PRIMARY KEY, pan text, holder text);
         INSERT INTO cards VALUES (1, '4111111111111111', 'A');
         CREATE TABLE orders (id serial PRIMARY KEY, card_id int, total numeric, placed_at timestamptz DEFAULT now());
         INSERT INTO orders (card_id, total) VALUES (1, 10), (1, 20);
         GRANT ALL ON cards, orders, orders_id_seq TO {r};
         GRANT CREATE ON SCHEMA public TO {r};",
        r = hoop.db.reader
    ))
    .await
    .unwrap();
    let credential = hoop.issue(&hoop.github_token(8101)).await;
    (hoop, credential)
}

fn denied(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "ran: {stderr}");
    stderr
}

/// Statements that must never run, each with the rule expected to stop it.
const BYPASSES: &[(&str, &str)] = &[
    ("DROP TABLE cards", "default.no-drop-protected"),
    (
        "/* harmless */ DROP TABLE cards",
        "default.no-drop-protected",
    ),
    (
        "-- a comment\nDROP TABLE cards",
        "default.no-drop-protected",
    ),
    ("dRoP tAbLe CARDS", "default.no-drop-protected"),
    ("DROP TABLE \"cards\"", "default.no-drop-protected"),
    ("DROP TABLE public.cards", "default.no-drop-protected"),
    ("SELECT 1; DROP TABLE cards", "default.no-drop-protected"),
    ("TRUNCATE cards", "default.no-drop-protected"),
    ("TRUNCATE TABLE orders, cards", "default.no-drop-protected"),
    ("DELETE FROM cards", "no-card-writes"),
    (
        "DELETE FROM cards WHERE pan = '4111111111111111'",
        "no-card-writes",
    ),
    (
        "UPDATE public.cards SET pan = NULL WHERE id = 1",
        "no-card-writes",
    ),
    (
        "WITH d AS (DELETE FROM cards RETURNING *) SELECT count(*) FROM d",
        "no-card-writes",
    ),
    (
        "WITH u AS (UPDATE cards SET holder = 'x' RETURNING 1) SELECT 1",
        "no-card-writes",
    ),
    ("PREPARE p AS DELETE FROM cards", "no-card-writes"),
    ("EXPLAIN ANALYZE DELETE FROM cards", "no-card-writes"),
    (
        "INSERT INTO cards SELECT id + 100, pan, holder FROM cards",
        "no-card-writes",
    ),
    ("COPY cards TO STDOUT", "default.no-copy-out-protected"),
    (
        "COPY (SELECT * FROM cards) TO STDOUT",
        "default.no-copy-out-protected",
    ),
    ("COPY orders FROM PROGRAM 'id'", "default.no-copy-program"),
    (
        "SELECT pg_read_file('/etc/passwd')",
        "default.no-server-files",
    ),
    (
        "SELECT pg_catalog.pg_read_file('/etc/passwd')",
        "default.no-server-files",
    ),
    ("SELECT lo_export(1, '/tmp/x')", "default.no-server-files"),
    (
        "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
        "default.no-server-files",
    ),
    (
        "DO $x$ BEGIN EXECUTE 'DROP TABLE cards'; END $x$",
        "default.no-drop-protected",
    ),
    (
        "CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS 'DELETE FROM cards'",
        "no-card-writes",
    ),
    ("SET client_encoding = 'SJIS'", "default.no-client-encoding"),
    ("SET ROLE postgres", "default.no-role-switch"),
    ("RESET ROLE", "default.no-role-switch"),
    (
        "SET SESSION AUTHORIZATION postgres",
        "default.no-role-switch",
    ),
    (
        "ALTER SYSTEM SET work_mem = '1GB'",
        "default.no-alter-system",
    ),
    (
        "GRANT SELECT ON orders TO PUBLIC",
        "default.no-role-changes",
    ),
    ("CREATE ROLE intruder", "default.no-role-changes"),
    ("SELECT pan FROM cards", "default.no-unbounded-pan-select"),
    ("SELECT * FROM cards", "default.no-unbounded-pan-select"),
    (
        "SELECT c.pan FROM cards c JOIN orders o ON o.card_id = c.id",
        "default.no-unbounded-pan-select",
    ),
];

/// What a statement of the corpus could have changed: the objects in `public` with their
/// grants, functions, large objects, the role it tries to create, `ALTER SYSTEM` settings,
/// and every row of the tables.
async fn upstream_state(admin: &tokio_postgres::Client) -> Vec<Option<String>> {
    let row = admin
        .query_one(
            "SELECT
               (SELECT string_agg(relname || ':' || relkind::text || ':' || coalesce(relacl::text, ''),
                                  ',' ORDER BY relname)
                  FROM pg_class WHERE relnamespace = 'public'::regnamespace),
               (SELECT string_agg(proname, ',' ORDER BY proname)
                  FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
               (SELECT count(*) FROM pg_largeobject_metadata)::text,
               (SELECT count(*) FROM pg_roles WHERE rolname = 'intruder')::text,
               (SELECT string_agg(name || '=' || setting, ',' ORDER BY name)
                  FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'),
               (SELECT string_agg(c::text, ',' ORDER BY id) FROM cards c),
               (SELECT string_agg(o::text, ',' ORDER BY id) FROM orders o)",
            &[],
        )
        .await
        .unwrap();
    (0..row.len()).map(|i| row.get(i)).collect()
}

#[tokio::test]
async fn the_bypass_corpus_is_denied_and_the_session_stays_usable() {
    let (hoop, credential) = start().await;
    let admin = hoop.db.client().await;
    let extended = hoop.connect_gateway(&credential).await.unwrap();
    for (sql, rule) in BYPASSES {
        let before = upstream_state(&admin).await;
        // Simple protocol: psql, in a session of its own.
        let out = hoop.psql(&credential, &["-c", sql]);
        let stderr = denied(&out);
        assert!(
            stderr.contains("hoop policy denied this statement") && stderr.contains(rule),
            "{sql:?}: expected rule {rule}: {stderr}"
        );
        assert!(
            !stderr.contains("CONTEXT"),
            "the denial's own context is dropped: {stderr}"
        );
        assert_eq!(
            upstream_state(&admin).await,
            before,
            "{sql:?} through psql changed the database"
        );
        // Extended protocol (Parse, Describe, then Bind and Execute had it passed), in one
        // session for the whole corpus.
        let e = extended
            .query(*sql, &[])
            .await
            .expect_err("refused through the extended protocol");
        let db = e.as_db_error().expect("an error from the server");
        assert_eq!(
            db.code(),
            &SqlState::INSUFFICIENT_PRIVILEGE,
            "{sql:?}: {db:?}"
        );
        assert!(
            db.message().contains(rule),
            "{sql:?}: expected rule {rule}: {db:?}"
        );
        assert_eq!(
            upstream_state(&admin).await,
            before,
            "{sql:?} through the extended protocol changed the database"
        );
    }
    drop(extended);
    // A session without standard_conforming_strings reads backslashes in strings as escapes:
    // this text is a SELECT and then a DROP to it, and a syntax error to the default parser.
    let out = hoop.psql(
        &credential,
        &[
            "-c",
            "SET standard_conforming_strings = off",
            "-c",
            "SELECT 'a\\'' ; DROP TABLE cards; --'",
        ],
    );
    let stderr = denied(&out);
    assert!(
        stderr.contains("hoop policy denied this statement"),
        "{stderr}"
    );
    // A client encoding whose characters can end in a backslash byte is refused at startup.
    let out = hoop
        .psql_command(&credential)
        .env("PGCLIENTENCODING", "SJIS")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    let stderr = denied(&out);
    assert!(stderr.contains("client_encoding"), "{stderr}");
    // \copy is COPY ... TO STDOUT on the wire.
    let stderr = denied(&hoop.psql(&credential, &["-c", "\\copy cards to '/dev/null'"]));
    assert!(stderr.contains("default.no-copy-out-protected"), "{stderr}");
    // Nothing ran: the table and its row are still there.
    let still = hoop
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM cards", &[])
        .await
        .unwrap();
    assert_eq!(still.get::<_, i64>(0), 1);

    // In one session: a denial inside a transaction aborts it as an error would, and the
    // session goes on.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let e = client.batch_execute("DROP TABLE cards").await.unwrap_err();
    let db = e.as_db_error().expect("an error from the server");
    assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE);
    assert!(db.message().contains("default.no-drop-protected"), "{db:?}");
    assert!(
        db.detail().is_some_and(|d| d.contains("not dropped")),
        "{db:?}"
    );
    client.batch_execute("BEGIN").await.unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
    assert!(client.batch_execute("TRUNCATE cards").await.is_err());
    let aborted = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(
        aborted.as_db_error().map(|d| d.code().clone()),
        Some(SqlState::IN_FAILED_SQL_TRANSACTION)
    );
    client.batch_execute("ROLLBACK").await.unwrap();
    // Extended protocol: a denied prepared statement cannot be bound or executed later.
    let prepared = client.prepare("DELETE FROM cards WHERE id = $1").await;
    let e = prepared.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // A second denial in the same session, and statements prepared before it still work.
    let kept = client.prepare("SELECT count(*) FROM orders").await.unwrap();
    for _ in 0..2 {
        let e = client.prepare("TRUNCATE cards").await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    }
    assert_eq!(
        client.query_one(&kept, &[]).await.unwrap().get::<_, i64>(0),
        2
    );
    // A second denial in the same session, and statements prepared before it still work.
    let kept = client.prepare("SELECT count(*) FROM orders").await.unwrap();
    for _ in 0..2 {
        let e = client.prepare("TRUNCATE cards").await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    }
    assert_eq!(
        client.query_one(&kept, &[]).await.unwrap().get::<_, i64>(0),
        2
    );
    // `LIMIT $1` bound to NULL limits nothing, like `LIMIT NULL`: a PAN select bounded only by
    // a parameter is refused at Parse, whatever the value would be.
    for (sql, limit) in [
        ("SELECT pan FROM cards LIMIT $1", None::<i64>),
        ("SELECT pan FROM cards LIMIT $1", Some(1)),
        ("SELECT * FROM cards FETCH FIRST $1 ROWS ONLY", None),
    ] {
        let e = client.query(sql, &[&limit]).await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
    }
    let e = client
        .simple_query("SELECT pan FROM cards LIMIT NULL")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let ok = client
        .query_one(
            "SELECT count(*) FROM orders WHERE total > $1::int",
            &[&5i32],
        )
        .await
        .unwrap();
    assert_eq!(ok.get::<_, i64>(0), 2);
    drop(client);

    // Every session of the test was the credential's: psql's and this one.
    hoop.wait_sessions_of_ended(&credential.username).await;
    let denials: Vec<Value> = hoop
        .recordings()
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|e| e["decision"] == "deny")
        .collect();
    // Each refusal above is recorded once: the corpus through psql and through the extended
    // protocol, the legacy-string text and `\copy` through psql; in the last session the DROP,
    // the TRUNCATE in the transaction, the prepared DELETE, the two rounds of two TRUNCATEs,
    // the three `LIMIT $1` and the `LIMIT NULL`.
    assert_eq!(
        denials.len(),
        2 * BYPASSES.len() + 2 + 1 + 1 + 1 + 4 + 3 + 1,
        "{denials:#?}"
    );
    // None of them ran: each was answered by its error, none completed.
    let refused: usize = hoop
        .recorded_sessions()
        .iter()
        .map(|events| refused_statements(events).len())
        .sum();
    assert_eq!(refused, denials.len());
    assert!(
        denials
            .iter()
            .all(|e| e["rule"].as_str().is_some_and(|r| !r.is_empty()))
    );
    // The PAN in a denied statement's text is masked in the recording too.
    assert!(
        denials
            .iter()
            .any(|e| e["sql"] == "DELETE FROM cards WHERE pan = '411111******1111'"),
        "{denials:#?}"
    );
    for path in hoop.recordings() {
        let events: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_no_leak(&path.display().to_string(), &without_links(&events));
    }
    // Every denial is an audit event naming its rule and the run's credential, without SQL.
    let mut rules: Vec<&str> = denials
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    rules.sort_unstable();
    rules.dedup();
    for rule in rules {
        let recorded = denials.iter().filter(|e| e["rule"] == rule).count();
        let audited = hoop.db.audit_events(rule).await;
        assert_eq!(audited.len(), recorded, "{rule}");
        for event in &audited {
            assert_eq!(event.get::<_, String>("action"), "statement");
            assert_eq!(event.get::<_, String>("outcome"), "denied");
            assert_eq!(
                event
                    .get::<_, Option<uuid::Uuid>>("credential_id")
                    .map(|id| id.to_string()),
                Some(credential.id.clone())
            );
        }
        // The message is the rule's reason, the same whatever the statement was.
        let messages: Vec<String> = audited.iter().map(|e| e.get("message")).collect();
        assert!(
            messages.iter().all(|m| *m == messages[0]),
            "{rule}: {messages:?}"
        );
        assert!(!messages[0].contains("411111"), "{rule}: {messages:?}");
    }
    // The denial counter counts them all once their sessions ended.
    let counted = format!("hoop_gateway_statements_denied_total {}", denials.len());
    crate::support::wait_until(&counted, || async {
        hoop.get("/metrics")
            .await
            .text
            .lines()
            .any(|l| l == counted)
    })
    .await;
}

/// Migrations, reports and ORM-style queries a CI job runs: none may be refused.
const BENIGN: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_notes (id bigserial PRIMARY KEY, note text NOT NULL)",
    "ALTER TABLE audit_notes ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now()",
    "CREATE INDEX IF NOT EXISTS audit_notes_created ON audit_notes (created_at)",
    "INSERT INTO audit_notes (note) VALUES ('deployed'), ('migrated')",
    "UPDATE orders SET total = total + 1 WHERE id = 1",
    "DELETE FROM audit_notes WHERE note = 'migrated'",
    "SELECT o.id, o.total, sum(o.total) OVER (ORDER BY o.id) FROM orders o ORDER BY o.id",
    "WITH t AS (SELECT card_id, sum(total) AS s FROM orders GROUP BY card_id) SELECT * FROM t",
    "SELECT count(*) FROM cards",
    "SELECT id, holder FROM cards WHERE id = 1",
    "SELECT pan FROM cards WHERE id = 1",
    "SELECT pan FROM cards LIMIT 1",
    "SELECT holder FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.total > 5",
    "BEGIN; SELECT 1; COMMIT",
    "SET search_path = public",
    "SHOW server_version",
    "SELECT now(), current_user, version()",
    "SELECT $$DROP TABLE cards$$",
    "DO $$ BEGIN PERFORM 1; END $$",
    "COPY (SELECT id, total FROM orders) TO STDOUT",
    "DROP TABLE audit_notes",
];

#[tokio::test]
async fn the_benign_corpus_runs_untouched() {
    let (hoop, credential) = start().await;
    for sql in BENIGN {
        let out = hoop.psql(&credential, &["-c", sql]);
        assert!(
            out.status.success(),
            "{sql:?} was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // ORM-style, through the extended protocol with parameters.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let rows = client
        .query(
            "SELECT \"orders\".\"id\", \"orders\".\"total\" FROM \"orders\" WHERE \"orders\".\"card_id\" = $1 ORDER BY \"orders\".\"id\" LIMIT $2",
            &[&1i32, &10i64],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    client
        .execute(
            "INSERT INTO orders (card_id, total) VALUES ($1, $2::int)",
            &[&1i32, &3i32],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_denial_cannot_be_turned_into_sql_with_legacy_string_syntax() {
    // The refusal of an unparsable text quotes the parser's error, which quotes the text: with
    // standard_conforming_strings off, a backslash must not end the literal early.
    let (hoop, credential) = start().await;
    let payload = "SELECT $$\\'; EXCEPTION WHEN OTHERS THEN DROP TABLE cards; END; --";
    let out = hoop.psql(
        &credential,
        &["-c", "SET standard_conforming_strings = off", "-c", payload],
    );
    let stderr = denied(&out);
    assert!(
        stderr.contains("hoop policy denied this statement (rule unclassifiable)"),
        "{stderr}"
    );
    let left: i64 = hoop
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM cards", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
}

/// `hoop policy test` on the worked example of docs/policy.md: the payments team's policy
/// passes its own case file, and a case the policy contradicts fails with exit code 1, naming
/// what was expected and what the policy decides (and why); a file that cannot run is 2.
#[test]
fn the_worked_example_passes_its_policy_tests_and_a_wrong_case_fails() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payments");
    let config = root.join("hoop.toml");
    let cases = root.join("policy.test.toml");
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
            .args(["policy", "test", "-c"])
            .arg(&config)
            .arg(file)
            .output()
            .unwrap()
    };
    let passed = run(&cases);
    let out = String::from_utf8_lossy(&passed.stdout);
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(!out.contains("FAIL") && out.contains("0 failed"), "{out}");

    let wrong =
        std::env::temp_dir().join(format!("hoop-policy-test-{}.toml", uuid::Uuid::new_v4()));
    let text = std::fs::read_to_string(&cases)
        .unwrap()
        .replace(
            "sql = \"UPDATE payments SET amount = 0 WHERE id = 42\"\nexpect = \"deny\"",
            "sql = \"UPDATE payments SET amount = 0 WHERE id = 42\"\nexpect = \"allow\"",
        )
        // A misspelt claim is no claim: the case says so.
        .replacen(
            "name = \"a branch reads one payment\"",
            "name = \"a branch reads one payment\"\nclaims = { enviroment = \"production\" }",
            1,
        );
    std::fs::write(&wrong, text).unwrap();
    let failed = run(&wrong);
    let out = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL a branch does not write\n")
            && out.contains(
                "expected allow by rule read-only-unless-migrating, got deny by rule \
                 read-only-unless-migrating"
            )
            && out.contains("rule read-only-unless-migrating (deny): decided")
            && out.contains("note: claims.enviroment (no GitHub token carries it)")
            && out.contains("1 failed"),
        "{out}"
    );

    std::fs::write(&wrong, "[[cases]]\nname = \"x\"\nsql = \"SELECT 1\"\nexpect = \"allow\"\nconnection = \"nope\"\nissuer = \"github\"\n").unwrap();
    let broken = run(&wrong);
    std::fs::remove_file(&wrong).unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("no [[connections]] is named \"nope\""),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );

    // A column pattern that names a table of the catalog but none of its columns can never
    // match: the file does not run.
    let typo = std::env::temp_dir().join(format!("hoop-policy-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &typo,
        std::fs::read_to_string(&config).unwrap().replace(
            "columns = [\"cvv\", \"exp_month\"",
            "columns = [\"cvc\", \"exp_month\"",
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
        .args(["policy", "test", "-c"])
        .arg(&typo)
        .arg(&cases)
        .output()
        .unwrap();
    std::fs::remove_file(&typo).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("masking.columns[0].columns[0]: \"public.cards.cvc\" names no column"),
        "{stderr}"
    );
}

/// `hoop policy explain` names the deciding rule, every rule considered and what the statement
/// reads, as text and as JSON.
#[test]
fn explain_names_the_deciding_rule_and_every_rule_considered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payments");
    let explain = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
            .args(["policy", "explain", "-c"])
            .arg(root.join("hoop.toml"))
            .arg("--cases")
            .arg(root.join("policy.test.toml"))
            .args([
                "--claim",
                "event_name=schedule",
                "--claim",
                "ref=refs/heads/main",
            ])
            .args([
                "--claim",
                "job_workflow_ref=acme/payments/.github/workflows/nightly.yml@refs/heads/main",
            ])
            .args(extra)
            .arg("SELECT id, amount FROM payments WHERE id > 0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = explain(&[]);
    for needle in [
        "trust: rule payments-nightly grants role ci_reader on payments",
        "decision: deny by rule nightly-aggregates-only",
        "reads: payments",
        "rule nightly-aggregates-only (deny): decided",
        "rule migrations-write-payments-only (deny): not for this session (run.trust)",
        "rule no-bulk-card-reads (deny): no match (tables)",
        "pack default.no-copy-program (deny): no match (copy_program)",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let json: Value = serde_json::from_str(&explain(&["--json"])).unwrap();
    assert_eq!(
        json["ruling"]["decision"]["rule"],
        "nightly-aggregates-only"
    );
    assert_eq!(json["grant"]["trust_rule"], "payments-nightly");
    let rules = json["ruling"]["rules"][0]["considered"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["rule"] == "nightly-aggregates-only"
        && r["outcome"]["outcome"] == "decided"));
}

/// `hoop policy test --upstream` reads the live catalog of the case's connection through its
/// admin connection, as the gateway does: a view over card numbers is followed to `cards.pan`
/// there, while without the catalog (no `[[catalog]]` facts) its name is taken as written.
#[tokio::test]
async fn policy_test_reads_the_live_catalog_when_asked() {
    let database = format!("hoop_policy_{}", uuid::Uuid::new_v4().simple());
    let (admin, connection) = tokio_postgres::connect(
        "host=127.0.0.1 user=postgres dbname=postgres",
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let (db, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 user=postgres dbname={database}"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let task = tokio::spawn(connection);
    db.batch_execute(
        "CREATE TABLE cards (id int, pan text, cvv text, holder text);
         CREATE VIEW card_listing AS SELECT id, pan FROM cards",
    )
    .await
    .unwrap();
    drop(db);
    let _ = task.await;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payments");
    let dir = std::env::temp_dir().join(format!("hoop-policy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = std::fs::read_to_string(root.join("hoop.toml"))
        .unwrap()
        .replace(
            "database = \"payments\"",
            &format!("database = \"{database}\""),
        );
    std::fs::write(dir.join("hoop.toml"), config).unwrap();
    let cases = std::fs::read_to_string(root.join("policy.test.toml")).unwrap();
    let defaults = &cases[..cases.find("[[catalog]]").unwrap()];
    std::fs::write(
        dir.join("live.test.toml"),
        format!(
            "{defaults}\n[[cases]]\nname = \"a view over card numbers is a bulk read of them\"\n\
             sql = \"SELECT pan FROM card_listing\"\nexpect = \"deny\"\n\
             rule = \"default.no-unbounded-pan-select\"\n"
        ),
    )
    .unwrap();
    let run = |upstream: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"));
        command
            .args(["policy", "test", "-c"])
            .arg(dir.join("hoop.toml"))
            .arg(dir.join("live.test.toml"))
            .env(
                "HOOP_PAYMENTS_ADMIN_URL",
                format!("postgres://postgres@127.0.0.1:5432/{database}"),
            );
        if upstream {
            command.arg("--upstream");
        }
        command.output().unwrap()
    };
    let live = run(true);
    let offline = run(false);
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert_eq!(live.status.code(), Some(0), "{}", text(&live));
    assert_eq!(offline.status.code(), Some(1), "{}", text(&offline));
    assert!(text(&offline).contains("got allow"), "{}", text(&offline));
}
