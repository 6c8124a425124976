//! One client encoding, end to end: the gateway classifies statements as UTF-8, so a session
//! through it is UTF-8 from startup to end. Clients asking for another encoding are refused,
//! role defaults cannot change it, a change the server reports ends the session, and a
//! statement pipelined behind such a change cannot smuggle another one past the policy.

use crate::support::{Credential, GatewaySettings, Hoop, Options};
use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

const POLICY: &str = r#"
[policy]
protected_tables = ["cards", "audit_notes"]
"#;

/// One SELECT to a UTF-8 reader; a SELECT and a DROP TABLE to SJIS, BIG5, GBK, UHC and
/// GB18030 (丁 ends in 0x81, and 0x81 0x5C is one character there: the backslash is gone).
const SMUGGLED: &str = "SELECT length(E'丁\\'); DROP TABLE cards; --')";

async fn start() -> (Hoop, Credential) {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(POLICY.to_owned()),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    hoop.db
        .client()
        .await
        .batch_execute(&format!(
            "CREATE TABLE cards (id int PRIMARY KEY, pan text);
             INSERT INTO cards VALUES (1, '4111111111111111');
             GRANT ALL ON cards TO {r};
             -- A function the gateway cannot see into that switches the session to SJIS.
             CREATE FUNCTION to_sjis() RETURNS text LANGUAGE plpgsql AS
               $f$ BEGIN RETURN set_config('client_encoding', 'SJIS', false); END $f$;
             GRANT EXECUTE ON FUNCTION to_sjis() TO {r};",
            r = hoop.db.reader
        ))
        .await
        .unwrap();
    let credential = hoop.issue(&hoop.github_token(8701)).await;
    (hoop, credential)
}

async fn cards_left(hoop: &Hoop) -> i64 {
    hoop.db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'cards' AND relkind = 'r'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn events(hoop: &Hoop, username: &str) -> Vec<Value> {
    hoop.recordings()
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|events| events[0]["username"] == username)
        .flatten()
        .collect()
}

#[tokio::test]
async fn clients_asking_for_another_encoding_are_refused_at_startup() {
    let (hoop, credential) = start().await;
    let refused = [
        "windows932",
        "S.JIS",
        "SJIS",
        "shift_jis_2004",
        "Shift-JIS",
        "big5",
        "gbk",
        "uhc",
        "johab",
        "gb18030",
        "LATIN1",
        "win1252",
        "EUC_JP",
    ];
    for encoding in refused {
        let out = hoop
            .psql_command(&credential)
            .env("PGCLIENTENCODING", encoding)
            .args(["-c", "SELECT 1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{encoding} was accepted");
        assert!(
            stderr.contains("hoop accepts only UTF-8 clients")
                && stderr.contains("PGCLIENTENCODING=UTF8"),
            "{encoding}: {stderr}"
        );
    }
    let audited = hoop.db.audit_events("client_encoding_refused").await;
    assert_eq!(audited.len(), refused.len());

    // UTF-8 under any name Postgres knows it by, and SQL_ASCII (no conversion): the session
    // is UTF8 either way, as the server reports it.
    for encoding in ["UTF8", "utf-8", "Unicode", "u-t-f 8", "SQL_ASCII"] {
        let out = hoop
            .psql_command(&credential)
            .env("PGCLIENTENCODING", encoding)
            .args(["-c", "SHOW client_encoding"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{encoding}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "UTF8");
    }
    // `options` is not forwarded; one that sets the encoding is refused rather than ignored.
    let out = hoop
        .psql_command(&credential)
        .env("PGOPTIONS", "-c client_encoding=SJIS")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(cards_left(&hoop).await == 1);
}

#[tokio::test]
async fn a_statement_that_reads_as_two_in_an_ascii_unsafe_encoding_is_denied() {
    // The session is UTF-8, so this is one SELECT here; but a statement run just before it
    // might have changed the encoding, so it is decided as SJIS, BIG5... would read it too.
    let (hoop, credential) = start().await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    for sql in [
        SMUGGLED,
        // SHIFT_JIS_2004 converts 0x815F to a backslash: the doubled quote closes the string.
        "SELECT E'丁_''; DROP TABLE cards; --'",
    ] {
        let e = client.simple_query(sql).await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
        assert!(
            e.as_db_error()
                .unwrap()
                .message()
                .contains("default.no-drop-protected"),
            "{e}"
        );
        // The extended protocol too.
        let e = client.prepare(sql).await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
    }
    // Text that reads the same in every encoding runs.
    let rows = client
        .simple_query("SELECT '丁', '東京', 'café', 'à la carte' AS \"名前\"")
        .await
        .unwrap();
    assert!(matches!(rows[1], SimpleQueryMessage::Row(_)));
    assert_eq!(cards_left(&hoop).await, 1);
}

#[tokio::test]
async fn an_encoding_change_ends_the_session_and_what_was_pipelined_behind_it_never_smuggles() {
    let (hoop, credential) = start().await;
    // Pipelined: the function that switches to SJIS and the smuggled text go out together,
    // before the upstream has answered the first; the second is decided while the session is
    // still UTF-8 as far as anyone can tell.
    let (client, connection) = hoop.gateway_session(&credential).await.unwrap();
    let (first, second) = tokio::join!(
        client.simple_query("SELECT to_sjis()"),
        client.simple_query(SMUGGLED)
    );
    assert!(second.is_err());
    let ended = connection.await.unwrap();
    // The FATAL reaches the first query, or the connection when nothing waits for it.
    let said = format!("{first:?} {ended:?}");
    assert!(said.contains("client_encoding became"), "{said}");
    assert!(first.is_err(), "the session went on in SJIS: {first:?}");
    assert!(client.is_closed());
    assert_eq!(cards_left(&hoop).await, 1);

    // One after the other: the change is reported and the session ends before the next.
    let (client, connection) = hoop.gateway_session(&credential).await.unwrap();
    let first = client.simple_query("SELECT to_sjis()").await;
    assert!(client.simple_query(SMUGGLED).await.is_err());
    let said = format!("{first:?} {:?}", connection.await.unwrap());
    assert!(said.contains("client_encoding became"), "{said}");
    assert!(client.is_closed());
    assert_eq!(cards_left(&hoop).await, 1);

    hoop.wait_sessions_of_ended(&credential.username).await;
    let recorded = events(&hoop, &credential.username);
    let ends: Vec<&Value> = recorded
        .iter()
        .filter(|e| e["kind"] == "session_end")
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("client encoding changed"))
        })
        .collect();
    assert_eq!(ends.len(), 2, "{recorded:?}");
    assert_eq!(
        hoop.db.audit_events("client_encoding_changed").await.len(),
        2
    );
}

#[tokio::test]
async fn role_and_database_defaults_cannot_change_the_encoding() {
    let (hoop, credential) = start().await;
    // The first session creates the run role; then its defaults and the database's say SJIS.
    let out = hoop.psql(&credential, &["-c", "SELECT 1"]);
    assert!(out.status.success());
    let admin = hoop.db.client().await;
    admin
        .batch_execute(&format!(
            "ALTER ROLE \"{}\" SET client_encoding = 'SJIS';
             ALTER ROLE {} SET client_encoding = 'SJIS';
             ALTER DATABASE {} SET client_encoding = 'BIG5';",
            credential.username, hoop.db.reader, hoop.db.name
        ))
        .await
        .unwrap();
    // The gateway asks for UTF8 at startup, which outranks every default; psql without a
    // terminal asks for nothing, so before, these defaults would have applied.
    let out = hoop.psql(&credential, &["-c", "SHOW client_encoding"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "UTF8");
    let out = hoop.psql(&credential, &["-c", SMUGGLED]);
    assert!(!out.status.success());
    assert_eq!(cards_left(&hoop).await, 1);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} RESET client_encoding",
            hoop.db.name
        ))
        .await
        .unwrap();
}

/// The gateway's re-reading of a text against Postgres itself: wherever Postgres converts a
/// character from an ASCII-unsafe encoding, the re-reading accepts it too, with the same ASCII
/// characters in the result (a narrower rule than Postgres's would hide a reading).
#[tokio::test]
async fn the_rereading_agrees_with_postgres_on_every_character_with_an_ascii_byte() {
    use hoop::gateway::encoding::{AsciiUnsafe, reread};
    let db = crate::support::TestDb::create().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE FUNCTION pg_temp.conv(b bytea, enc text) RETURNS text LANGUAGE plpgsql AS \
             $f$ BEGIN RETURN convert_from(b, enc); EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$",
        )
        .await
        .unwrap();
    let ascii = |text: &str| text.chars().filter(char::is_ascii).collect::<String>();
    for encoding in AsciiUnsafe::ALL {
        // Every high byte alone and followed by every ASCII byte and by every high byte, and
        // GB18030's four-byte shape.
        let rows = client
            .query(
                "SELECT b, pg_temp.conv(b, $1) FROM (
                   SELECT set_byte('\\x00'::bytea, 0, l) AS b FROM generate_series(128, 255) l
                   UNION ALL
                   SELECT set_byte(set_byte('\\x0000'::bytea, 0, l), 1, t)
                   FROM generate_series(128, 255) l, generate_series(1, 255) t
                   UNION ALL
                   SELECT set_byte(set_byte(set_byte(set_byte('\\x00000000'::bytea, 0, l), 1, d),
                                   2, 129), 3, d)
                   FROM generate_series(129, 254, 25) l, generate_series(48, 57) d
                 ) AS bytes",
                &[&encoding.name()],
            )
            .await
            .unwrap();
        let mut accepted = 0;
        for row in rows {
            let bytes: Vec<u8> = row.get(0);
            let Some(converted) = row.get::<_, Option<String>>(1) else {
                continue;
            };
            accepted += 1;
            let ours = reread(&bytes, encoding)
                .unwrap_or_else(|| panic!("{encoding}: Postgres reads {bytes:x?}, hoop refuses"));
            assert_eq!(
                ascii(&ours),
                ascii(&converted),
                "{encoding}: {bytes:x?} is {converted:?} to Postgres"
            );
        }
        assert!(accepted > 1000, "{encoding}: {accepted}");
    }
}
