//! The card-data model end to end: every statement of `tests/corpora/card-data-hostile.sql`
//! and `tests/corpora/objects-hostile.sql` sent through the real gateway (simple and extended
//! protocol with tokio-postgres, and psql) is refused with SQLSTATE 42501 by a default rule,
//! after each one nothing changed upstream (no new relation, function, trigger, rule, policy or
//! statistics object, no row copied or changed), its recording shows the refusal and no
//! completion, and no full card number is in a recording. Every statement of
//! `tests/corpora/card-data-benign.sql` passes the policy.

use crate::support::leaks::{assert_no_leak, without_links};
use crate::support::{Credential, GatewaySettings, Hoop, Options, refused_statements};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

const HOSTILE: &str = include_str!("../corpora/card-data-hostile.sql");
const BENIGN: &str = include_str!("../corpora/card-data-benign.sql");
const OBJECTS: &str = include_str!("../corpora/objects-hostile.sql");
const PAN: &str = "4111111111111111";

const POLICY: &str = r#"
[policy]
protected_tables = ["cards"]
pan_columns = ["cards.pan"]

[[masking.columns]]
name = "cvv"
table = "cards"
columns = ["cvv"]
"#;

fn statements(corpus: &str) -> impl Iterator<Item = &str> {
    corpus
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
}

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
        "CREATE TABLE cards (id int PRIMARY KEY, pan text, holder text, cvv text);
         INSERT INTO cards VALUES (1, '{PAN}', 'A', '123');
         CREATE TABLE orders (id serial PRIMARY KEY, card_id int, total numeric,
                              placed_at timestamptz DEFAULT now(), note text);
         INSERT INTO orders (card_id, total) VALUES (1, 10), (1, 20);
         CREATE TABLE guesses (x text);
         CREATE TABLE loot (id int, x text, y text, z text);
         CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         GRANT ALL ON cards, orders, guesses, loot, orders_id_seq TO {r};
         GRANT CREATE ON SCHEMA public TO {r};",
        r = hoop.db.reader
    ))
    .await
    .unwrap();
    let credential = hoop.issue(&hoop.github_token(8301)).await;
    (hoop, credential)
}

/// What a hostile statement could have changed: objects in `public`, and every row of the
/// tables it could reach.
async fn upstream_state(db: &Client) -> String {
    let row = db
        .query_one(
            "SELECT
               (SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname)
                  FROM pg_class WHERE relnamespace = 'public'::regnamespace),
               (SELECT string_agg(proname, ',' ORDER BY proname)
                  FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
               (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)::text,
               (SELECT count(*) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
                  WHERE c.relnamespace = 'public'::regnamespace AND r.rulename <> '_RETURN')::text,
               (SELECT count(*) FROM pg_policy)::text,
               (SELECT count(*) FROM pg_statistic_ext)::text,
               (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace)::text,
               (SELECT string_agg(c::text, ',' ORDER BY id) FROM cards c),
               (SELECT count(*) FROM loot)::text,
               (SELECT string_agg(o.id || ':' || coalesce(o.note, ''), ',' ORDER BY id) FROM orders o)",
            &[],
        )
        .await
        .unwrap();
    (0..10)
        .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn refused_by_policy(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    (db.code() == &SqlState::INSUFFICIENT_PRIVILEGE
        && db
            .message()
            .starts_with("hoop policy denied this statement (rule default."))
    .then(|| db.message().to_owned())
}

/// How a corpus is sent through the gateway.
struct Runs {
    /// Statements with `$n` parameters also as one simple Query (else only extended).
    simple_with_parameters: bool,
    /// Every n-th statement through psql as well, each in a session of its own.
    psql_every: Option<usize>,
}

/// Sends every statement of `corpus` through the gateway and checks each case on its own: it
/// is refused by a default rule through the simple protocol (one Query), through the extended
/// protocol (Parse, then Bind and Execute had it been let through; only Parse when it has
/// parameters), and through psql as `runs` says; and after each attempt nothing changed
/// upstream. Panics with every case that ran or changed something; returns how many refusals
/// the recordings must hold.
async fn refuse_each(hoop: &Hoop, credential: &Credential, corpus: &str, runs: Runs) -> usize {
    let admin = hoop.db.client().await;
    let client = hoop.connect_gateway(credential).await.unwrap();
    let mut failures = Vec::new();
    let mut refusals = 0;
    for (i, sql) in statements(corpus).enumerate() {
        let parameters = sql.contains('$') && !sql.contains("$$");
        let mut attempts = Vec::new();
        if runs.simple_with_parameters || !parameters {
            attempts.push("simple");
        }
        attempts.push("extended");
        if runs.psql_every.is_some_and(|n| i % n == 0) {
            attempts.push("psql");
        }
        for how in attempts {
            let before = upstream_state(&admin).await;
            let refused = match how {
                "simple" => match client.simple_query(sql).await {
                    Err(e) if refused_by_policy(&e).is_some() => Ok(()),
                    other => Err(format!("{:?}", other.map(|_| "ran"))),
                },
                "extended" => {
                    let result = if parameters {
                        client.prepare(sql).await.map(|_| "prepared")
                    } else {
                        client.query(sql, &[]).await.map(|_| "ran")
                    };
                    match result {
                        Err(e) if refused_by_policy(&e).is_some() => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
                _ => {
                    let out = hoop.psql(credential, &["-c", sql]);
                    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                    if out.status.success() || !stderr.contains("hoop policy denied this statement")
                    {
                        Err(stderr)
                    } else {
                        Ok(())
                    }
                }
            };
            match refused {
                Ok(()) => refusals += 1,
                Err(outcome) => failures.push(format!("{how}: not refused: {sql}: {outcome}")),
            }
            let after = upstream_state(&admin).await;
            if after != before {
                failures.push(format!(
                    "{how}: changed the database: {sql}\n  before: {before}\n  after:  {after}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The session is still usable.
    let encoding = client.query_one("SHOW client_encoding", &[]).await.unwrap();
    assert_eq!(encoding.get::<_, String>(0), "UTF8");
    let ok = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap();
    assert_eq!(ok.get::<_, i64>(0), 2);
    refusals
}

/// After every session of `credential` ended: each refusal is in the recordings, answered by
/// its error and never completed, and the recordings and the log hold no card number.
async fn assert_refusals_recorded(hoop: &Hoop, credential: &Credential, refusals: usize) {
    hoop.wait_sessions_of_ended(&credential.username).await;
    let sessions = hoop.recorded_sessions();
    let refused: usize = sessions
        .iter()
        .map(|events| refused_statements(events).len())
        .sum();
    assert_eq!(refused, refusals);
    for events in &sessions {
        assert_no_leak("a recording", &without_links(events));
    }
    assert_no_leak("the log", hoop.log().as_bytes());
}

#[tokio::test]
async fn the_hostile_corpus_is_refused_and_changes_nothing() {
    let (hoop, credential) = start().await;
    let runs = Runs {
        simple_with_parameters: true,
        psql_every: Some(5),
    };
    let refusals = refuse_each(&hoop, &credential, HOSTILE, runs).await;
    // The evidence holds no full card number, though the statements quoted one.
    assert_refusals_recorded(&hoop, &credential, refusals).await;
    // Each refusal is audited under its rule.
    assert!(!hoop.db.audit_events("default.card-data").await.is_empty());
}

#[tokio::test]
async fn the_objects_corpus_is_refused_and_changes_nothing() {
    let (hoop, credential) = start().await;
    let runs = Runs {
        simple_with_parameters: false,
        psql_every: None,
    };
    let refusals = refuse_each(&hoop, &credential, OBJECTS, runs).await;
    assert_refusals_recorded(&hoop, &credential, refusals).await;
}

#[tokio::test]
async fn the_benign_corpus_passes_the_policy() {
    let (hoop, credential) = start().await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let mut refused = Vec::new();
    for sql in statements(BENIGN) {
        let result = if sql.contains('$') {
            client.prepare(sql).await.map(|_| ())
        } else {
            client.simple_query(sql).await.map(|_| ())
        };
        if let Err(e) = result
            && let Some(message) = refused_by_policy(&e)
        {
            refused.push(format!("{sql}: {message}"));
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    // A card number read as it is arrives masked.
    let row = client
        .query_one("SELECT pan, right(pan, 4) FROM cards WHERE id = 1", &[])
        .await
        .unwrap();
    let (pan, last4): (String, String) = (row.get(0), row.get(1));
    assert_ne!(pan, PAN);
    assert!(pan.ends_with("1111") && pan.contains('*'), "{pan}");
    assert_eq!(last4, "1111");
    // A constraint error quotes the failing row: a value masked whole (the CVV) is withheld.
    let e = client
        .batch_execute("UPDATE cards SET id = NULL WHERE id = 1")
        .await
        .unwrap_err();
    let detail = e.as_db_error().and_then(|d| d.detail()).unwrap_or_default();
    assert!(detail.starts_with("Failing row contains"), "{detail}");
    assert!(!detail.contains("123") && !detail.contains(PAN), "{detail}");
}

#[tokio::test]
async fn a_trigger_the_run_put_on_a_table_it_does_not_own_is_dropped_at_retirement() {
    let (hoop, credential) = start().await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    // Allowed: `orders` is not protected and its body names no card data. Its function is the
    // run's; the table is not.
    client
        .batch_execute(
            "CREATE FUNCTION note_order() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO loot (id) VALUES (NEW.id); RETURN NEW; END $$;
             CREATE TRIGGER note AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION note_order();
             CREATE TABLE run_scratch (id int);",
        )
        .await
        .unwrap();
    drop(client);
    let admin = hoop.db.client().await;
    let count = |sql: &'static str| {
        let admin = &admin;
        async move { admin.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM pg_trigger WHERE tgname = 'note' AND NOT tgisinternal").await,
        1
    );
    let reply = hoop
        .revoke_with_token(&credential.id, &hoop.github_token(8301))
        .await;
    assert!(reply.status.is_success(), "{}", reply.text);
    // The trigger on someone else's table is gone; the run's own table stays (reassigned).
    assert_eq!(
        count("SELECT count(*) FROM pg_trigger WHERE tgname = 'note' AND NOT tgisinternal").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM pg_class WHERE relname = 'run_scratch'").await,
        1
    );
    admin
        .batch_execute("INSERT INTO orders (card_id, total) VALUES (1, 1)")
        .await
        .unwrap();
    assert_eq!(count("SELECT count(*) FROM loot").await, 0);
}

#[tokio::test]
async fn psql_meta_commands_pg_dump_and_temp_tables_work() {
    let (hoop, credential) = start().await;
    hoop.db
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA reports AUTHORIZATION {r};
             CREATE TABLE reports.daily (day date PRIMARY KEY, total numeric);
             ALTER TABLE reports.daily OWNER TO {r};",
            r = hoop.db.reader
        ))
        .await
        .unwrap();
    for meta in [
        "\\d",
        "\\dt",
        "\\d cards",
        "\\d+ orders",
        "\\df",
        "\\dn",
        "\\dv",
        "\\di",
        "\\du",
        "\\l",
        "\\dx",
        "\\dp cards",
        "\\d reports.daily",
    ] {
        let out = hoop.psql(&credential, &["-c", meta]);
        assert!(
            out.status.success(),
            "{meta}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Temp tables, as test suites use them.
    let out = hoop.psql(
        &credential,
        &[
            "-c",
            "CREATE TEMP TABLE t (id int, note text); INSERT INTO t VALUES (1, 'x'); \
             UPDATE t SET note = 'y' WHERE id = 1; SELECT count(*) FROM t; DROP TABLE t",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
