//! Masking end to end: card numbers (PANs) stored every way Postgres can hold them, extracted
//! every way SQL can, through the real gateway with real clients (`psql` in text, tokio-postgres
//! in binary), must never reach the client's bytes or the session's recording; values that
//! are not card numbers must arrive exactly as Postgres sent them.

use crate::support::leaks::{
    AMEX, PANS, VISA, assert_no_leak_except, files_under, leaks, sealed_archives, without_links,
};
use crate::support::{Credential, GatewaySettings, Hoop, Options, stdout_of};
use serde_json::Value;
use tokio_postgres::types::{FromSql, Type};

/// The table every test reads: each PAN in every column type, plus columns a rule masks.
const SCHEMA: &str = "
CREATE TYPE card_ref AS (label text, number bigint);
CREATE TABLE cards (
    id int PRIMARY KEY,
    pan text UNIQUE,
    pan_varchar varchar(32),
    pan_char char(19),
    pan_bigint bigint,
    pan_numeric numeric,
    pan_spaced text,
    pan_dashed text,
    note text,
    doc json,
    docb jsonb,
    pans text[],
    numbers bigint[],
    ref card_ref,
    raw bytea,
    cvv text,
    exp_month int,
    CHECK (note <> 'forbidden')
);
INSERT INTO cards VALUES
 (1, '4111111111111111', '4111111111111111', '4111111111111111', 4111111111111111,
  4111111111111111, '4111 1111 1111 1111', '4111-1111-1111-1111', 'paid with 4111111111111111, thanks',
  '{\"pan\": \"4111111111111111\", \"n\": 4111111111111111}', '{\"pan\": \"4111111111111111\", \"n\": 4111111111111111}',
  ARRAY['4111111111111111', 'x'], ARRAY[4111111111111111, 7], ROW('visa', 4111111111111111),
  convert_to('card=4111111111111111', 'UTF8'), '123', 12),
 (2, '5555555555554444', '5555555555554444', '5555555555554444', 5555555555554444,
  5555555555554444, '5555 5555 5555 4444', '5555-5555-5555-4444', 'mc 5555555555554444',
  '{\"pan\": \"5555555555554444\"}', '{\"pan\": \"5555555555554444\"}',
  ARRAY['5555555555554444'], ARRAY[5555555555554444], ROW('mc', 5555555555554444),
  convert_to('5555555555554444', 'UTF8'), '456', 1),
 (3, '378282246310005', '378282246310005', '378282246310005', 378282246310005,
  378282246310005, '3782 822463 10005', '3782-822463-10005', 'amex 378282246310005',
  '{\"pan\": \"378282246310005\"}', '{\"pan\": \"378282246310005\"}',
  ARRAY['378282246310005'], ARRAY[378282246310005], ROW('amex', 378282246310005),
  convert_to('378282246310005', 'UTF8'), '7890', 3),
 (4, '6011111111111117', '6011111111111117', '6011111111111117', 6011111111111117,
  6011111111111117, '6011 1111 1111 1117', '6011-1111-1111-1117', 'discover 6011111111111117',
  '{\"pan\": \"6011111111111117\"}', '{\"pan\": \"6011111111111117\"}',
  ARRAY['6011111111111117'], ARRAY[6011111111111117], ROW('disc', 6011111111111117),
  convert_to('6011111111111117', 'UTF8'), '000', 9);
CREATE TABLE lookalikes (
    order_id bigint, phone text, placed_at timestamptz, ref uuid, big numeric, label text
);
INSERT INTO lookalikes VALUES
 (1000000000001, '+1 415 555 2671', '2026-12-02 04:44:14.123456+00',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 12345678901234567890, 'order 1000000000001'),
 (4111111111111112, '(415) 555-2671', '1999-01-01 00:00:00+00',
  '00000000-0000-0000-0000-000000000000', 4111111111111112, 'invoice 2026-12-02-000042'),
 (9223372036854775807, '0044 20 7946 0958', '2000-02-29 12:00:00+00',
  'f47ac10b-58cc-4372-a567-0e02b2c3d479', 1234567890123.45, 'id 123456789012 ok');
";

/// `text` in hex, as Postgres prints `bytea`.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The leak oracle over everything a client or a recording got.
fn assert_no_leak(what: &str, bytes: &[u8]) {
    assert_no_leak_except(what, bytes, &[]);
}

/// Every event of every recording in the spool (there must be some), oldest recording first.
fn recorded_events(hoop: &Hoop) -> Vec<Value> {
    let recordings = hoop.recordings();
    assert!(!recordings.is_empty(), "no recording in the spool to read");
    recordings
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// What the leak oracle reads of the spool: every event, without its chain link.
fn spool_bytes(hoop: &Hoop) -> Vec<u8> {
    without_links(&recorded_events(hoop))
}

/// A hoop whose test database holds the `cards` and `lookalikes` tables, readable (and, for
/// the error cases, writable) by the run role. `extra` is more configuration (`[masking]`,
/// `[archive]`).
async fn start(extra: Option<&str>) -> (Hoop, Credential) {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: extra.map(str::to_owned),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let db = hoop.db.client().await;
    db.batch_execute(SCHEMA).await.expect("creating the corpus");
    db.batch_execute(&format!(
        "GRANT SELECT, INSERT, UPDATE ON cards, lookalikes TO {r};
         GRANT USAGE ON TYPE card_ref TO {r};",
        r = hoop.db.reader
    ))
    .await
    .unwrap();
    let credential = hoop.issue(&hoop.github_token(7001)).await;
    (hoop, credential)
}

/// Extraction tricks over the corpus, one statement each; all go through one psql session.
const TEXT_CORPUS: &[&str] = &[
    "SELECT * FROM cards ORDER BY id",
    "SELECT pan, pan_varchar, pan_char, pan_bigint, pan_numeric FROM cards",
    "SELECT pan_spaced, pan_dashed, note FROM cards",
    "SELECT doc, docb, docb->'pan', docb->'n', doc->>'pan' FROM cards",
    "SELECT pans, numbers, pans[1], numbers[1] FROM cards",
    "SELECT ref, (ref).number, (ref).label FROM cards",
    "SELECT raw, encode(raw, 'escape'), encode(raw, 'hex') FROM cards",
    "SELECT substr(pan, 1, 16), substr(pan, 1), concat('card:', pan), 'x' || pan || 'y' FROM cards",
    "SELECT string_agg(pan, ', '), array_agg(pan), array_agg(pan_bigint) FROM cards",
    "SELECT row_to_json(c) FROM cards c",
    "SELECT to_json(pan), to_jsonb(pan_bigint), json_build_object('p', pan_numeric) FROM cards",
    "SELECT format('%s', pan), format('%s-%s', left(pan, 8), right(pan, 8)) FROM cards",
    "SELECT pan::text, pan_bigint::text, pan_numeric::text, pan_numeric::float8, pan_bigint::float8 FROM cards",
    "SELECT lpad(pan, 24, '0'), rpad(pan, 20, ' '), upper(pan), trim(pan_char) FROM cards",
    "SELECT pan_bigint + 0, pan_numeric * 1, pan_bigint::numeric(20,2) FROM cards",
    "SELECT row(pan, pan_bigint), (SELECT array_agg(c) FROM cards c) FROM cards",
    "SELECT jsonb_agg(docb), json_agg(pan_spaced) FROM cards",
    "SELECT 4111111111111111 AS literal, '5555-5555-5555-4444' AS dashed",
    "SELECT 1 AS \"4111111111111111\"",
    "SELECT pan FROM cards WHERE pan = '4111111111111111'",
];

#[tokio::test]
async fn psql_sees_every_card_number_masked_whatever_the_type_or_extraction() {
    let (hoop, credential) = start(None).await;
    let mut script = String::new();
    for sql in TEXT_CORPUS {
        script.push_str(sql);
        script.push_str(";\n");
    }
    let out = stdout_of(&hoop.psql_with_input(&credential, &["-f", "-"], &script));
    assert_no_leak("psql output", out.as_bytes());
    // The PCI display form: BIN and last four.
    let first = stdout_of(&hoop.psql(
        &credential,
        &["-c", "SELECT pan, pan_spaced, note FROM cards WHERE id = 1"],
    ));
    assert_eq!(
        first.trim(),
        "411111******1111|4111 11** **** 1111|paid with 411111******1111, thanks"
    );
    // JSON stays JSON: a number PAN becomes a string of its masked form.
    let json = stdout_of(&hoop.psql(&credential, &["-c", "SELECT doc FROM cards WHERE id = 1"]));
    let doc: Value = serde_json::from_str(json.trim()).expect("masked json parses");
    assert_eq!(doc["pan"], "411111******1111");
    assert_eq!(doc["n"], "411111******1111");

    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak("recordings", &spool_bytes(&hoop));
    // What was masked is recorded, by column and detector, without the values.
    let masked: Vec<Value> = recorded_events(&hoop)
        .into_iter()
        .filter(|e| e["kind"] == "masked")
        .collect();
    assert!(!masked.is_empty(), "no masked events recorded");
    let columns: Vec<&Value> = masked
        .iter()
        .flat_map(|e| e["columns"].as_array().unwrap())
        .collect();
    assert!(
        columns
            .iter()
            .any(|c| c["column"] == "pan" && c["values"] == 4 && c["by"][0] == "pan"),
        "{columns:?}"
    );
}

/// Any value's raw bytes, whatever its type (NULL is `None`).
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

#[tokio::test]
async fn binary_results_are_masked_or_nulled_by_type() {
    let (hoop, credential) = start(None).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    // tokio-postgres asks for every result column in binary.
    let rows = client
        .query("SELECT * FROM cards ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        for i in 0..row.len() {
            let value: Option<Raw> = row.get(i);
            if let Some(Raw(bytes)) = value {
                assert_no_leak(&format!("column {}", row.columns()[i].name()), &bytes);
            }
        }
        // A binary int8 or numeric cannot show `*`: the value arrives as NULL.
        assert!(row.get::<_, Option<i64>>("pan_bigint").is_none());
        assert!(row.get::<_, Option<Raw>>("pan_numeric").is_none());
        // Text types keep the display form.
        let pan: String = row.get("pan");
        assert!(pan.contains("*****"), "{pan}");
        let exp: i32 = row.get("exp_month");
        assert!(exp > 0);
    }
    let first: Value = rows[0].get("docb");
    assert_eq!(first["pan"], "411111******1111");
    assert_eq!(first["n"], "411111******1111");
    let pans: Vec<String> = rows[0].get("pans");
    assert_eq!(pans, ["411111******1111", "x"]);
    // An array of int8 loses the PAN element only.
    let numbers: Vec<Option<i64>> = rows[0].get("numbers");
    assert_eq!(numbers, [None, Some(7)]);

    // Extended protocol with bind parameters, a named statement reused, float8.
    let statement = client
        .prepare("SELECT pan, pan_bigint::float8, $1::text FROM cards WHERE id = $2")
        .await
        .unwrap();
    for id in [1, 2, 3, 4] {
        let row = client
            .query_one(&statement, &[&"order 42", &id])
            .await
            .unwrap();
        let pan: String = row.get(0);
        assert!(pan.contains("****"), "{pan}");
        assert!(row.get::<_, Option<f64>>(1).is_none());
        assert_eq!(row.get::<_, String>(2), "order 42");
    }
    // A PAN sent as a parameter comes back masked, and is recorded masked.
    let echoed: String = client
        .query_one("SELECT $1::text", &[&VISA])
        .await
        .unwrap()
        .get(0);
    assert_eq!(echoed, "411111******1111");
    let bigint: Option<i64> = client
        .query_one("SELECT $1::int8", &[&4111111111111111i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(bigint, None);
    drop(client);
    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak("recordings", &spool_bytes(&hoop));
    let binds: Vec<Value> = recorded_events(&hoop)
        .into_iter()
        .filter(|e| e["kind"] == "bind")
        .collect();
    assert!(
        binds.iter().any(|b| b["params"][0] == "411111******1111"),
        "a binary int8/text PAN parameter is recorded masked: {binds:?}"
    );
}

#[tokio::test]
async fn errors_notices_and_notifications_never_echo_a_card_number() {
    let (hoop, credential) = start(None).await;
    // A unique violation's DETAIL echoes the key.
    let dup = hoop.psql(
        &credential,
        &[
            "-c",
            "INSERT INTO cards (id, pan) VALUES (99, '4111111111111111')",
        ],
    );
    assert!(!dup.status.success());
    let stderr = String::from_utf8_lossy(&dup.stderr);
    assert!(stderr.contains("duplicate key"), "{stderr}");
    assert!(stderr.contains("411111******1111"), "{stderr}");
    assert_no_leak("unique violation", &dup.stderr);
    // A check failure's DETAIL shows the whole failing row.
    let check = hoop.psql(
        &credential,
        &["-c", "UPDATE cards SET note = 'forbidden' WHERE id = 2"],
    );
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("Failing row contains"), "{stderr}");
    assert_no_leak("check violation", &check.stderr);
    // RAISE NOTICE and RAISE EXCEPTION in a DO block; NOTIFY payloads.
    let script = "
        DO $$ BEGIN RAISE NOTICE 'card %', (SELECT pan FROM cards WHERE id = 3); END $$;
        LISTEN payments;
        NOTIFY payments, 'charge 6011111111111117 ok';
        SELECT 1;
        DO $$ BEGIN RAISE EXCEPTION 'bad card %', '5555555555554444' USING DETAIL = '4111 1111 1111 1111', HINT = 'try 378282246310005'; END $$;
    ";
    let out = hoop.psql_with_input(&credential, &["-v", "ON_ERROR_STOP=0", "-f", "-"], script);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stderr.contains("NOTICE:  card 3782"), "{stderr}");
    assert!(
        stdout.contains("Asynchronous notification")
            || stderr.contains("Asynchronous notification"),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("bad card 555555******4444"), "{stderr}");
    assert_no_leak("notices and notifications", out.stdout.as_slice());
    assert_no_leak("notices and errors", out.stderr.as_slice());
    // The session's own settings: application_name is echoed in ParameterStatus.
    let settings = stdout_of(&hoop.psql(
        &credential,
        &[
            "-c",
            "SET application_name = 'x 4111111111111111'",
            "-c",
            "SHOW application_name",
        ],
    ));
    assert_no_leak("settings", settings.as_bytes());
    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak("recordings", &spool_bytes(&hoop));
}

/// Card numbers everywhere a session can put them outside its results: the startup packet
/// (`application_name`, and `options`, `datestyle` and `timezone`, which hoop records but does
/// not forward), a reported setting (`application_name` again, answered by ParameterStatus),
/// custom settings, a NOTIFY, a notice, the DETAIL of a unique violation, a raised error's
/// DETAIL and HINT, a prepared statement's name and argument. A custom detector's match
/// (`ORD-…`) rides along in the application name.
fn leaky_session(hoop: &Hoop, credential: &Credential) -> std::process::Output {
    use std::io::Write as _;
    let script = r#"
        SET application_name = 'set 5555 5555 5555 4444';
        SET my.card = '4111111111111111';
        SHOW my.card;
        SELECT set_config('my.other', '6011-1111-1111-1117', false);
        LISTEN payments;
        NOTIFY payments, 'charge 6011111111111117 ok';
        SELECT 1;
        DO $$ BEGIN RAISE NOTICE 'card %', '378282246310005'; END $$;
        PREPARE "4111111111111111" AS SELECT $1::text;
        EXECUTE "4111111111111111"('5555555555554444');
        INSERT INTO cards (id, pan) VALUES (99, '4111111111111111');
        DO $$ BEGIN RAISE EXCEPTION 'bad card %', '5555555555554444' USING DETAIL = '4111 1111 1111 1111', HINT = 'try 378282246310005'; END $$;
    "#;
    let mut child = hoop
        .psql_command(credential)
        .env("PGAPPNAME", "card 4111111111111111 ORD-123456")
        .env("PGOPTIONS", "-c search_path=5555555555554444")
        .env("PGDATESTYLE", "3782 822463 10005")
        .env("PGTZ", "6011-1111-1111-1117")
        .args(["-v", "ON_ERROR_STOP=0", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("duplicate key"), "{stderr}");
    assert!(stderr.contains("bad card"), "{stderr}");
    out
}

/// The events of `kind`.
fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// `masking.results = false` shows results as they are, but what is recorded is masked all
/// the same, by the deployment's masker (its custom detector too): every startup parameter,
/// every ParameterStatus, notices, errors, notifications and statements.
#[tokio::test]
async fn startup_parameters_settings_and_diagnostics_are_recorded_masked_even_with_results_unmasked()
 {
    let config = format!(
        "[masking]\nresults = false\n{}",
        RULES.replace("[masking]\n", "")
    );
    let (hoop, credential) = start(Some(&config)).await;
    let out = leaky_session(&hoop, &credential);
    // Results are not masked here: the client sees the raw numbers, so the recording's
    // masking below is the recorder's own.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("card 378282246310005"), "{stderr}");
    hoop.wait_sessions_of_ended(&credential.username).await;

    let events = recorded_events(&hoop);
    let start = of_kind(&events, "session_start")[0];
    let params = start["params"].as_object().unwrap();
    assert_eq!(
        params["application_name"], "card 411111******1111 **********",
        "{start}"
    );
    assert_eq!(start["application_name"], params["application_name"]);
    for name in ["options", "datestyle", "user", "database"] {
        assert!(params.contains_key(name), "{name} is recorded: {start}");
    }
    assert!(
        of_kind(&events, "parameter_status")
            .iter()
            .any(|e| e["name"] == "application_name" && e["value"] == "set 5555 55** **** 4444"),
        "{events:#?}"
    );
    let errors = of_kind(&events, "error");
    assert!(
        errors.iter().any(|e| e["sqlstate"] == "23505"
            && e["detail"].as_str().unwrap().contains("(411111******1111)")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["detail"] == "4111 11** **** 1111" && e["hint"] == "try 378282*****0005"),
        "{errors:#?}"
    );
    assert!(
        of_kind(&events, "notice")
            .iter()
            .any(|e| e["message"] == "card 378282*****0005"),
        "{events:#?}"
    );
    assert_eq!(of_kind(&events, "notification")[0]["channel"], "payments");
    assert_no_leak("recordings", &spool_bytes(&hoop));
    let spool = String::from_utf8(spool_bytes(&hoop)).unwrap();
    assert!(!spool.contains("ORD-123456"), "the custom detector applies");
    // The sessions index keeps the application name too: masked as well.
    let rows = hoop
        .db
        .client()
        .await
        .query("SELECT coalesce(application, '') FROM hoop_sessions", &[])
        .await
        .unwrap();
    for row in rows {
        let application: String = row.get(0);
        assert_no_leak("hoop_sessions.application", application.as_bytes());
    }
}

/// The sealed archive of such a session holds no card number either: it is the spool file,
/// compressed and signed.
#[tokio::test(flavor = "multi_thread")]
async fn the_sealed_archive_of_a_leaky_session_holds_no_card_number() {
    let scratch = crate::support::ScratchDir::new();
    let root = scratch.0.join("archive");
    let generated = hoop::archive::generate().unwrap();
    let private = scratch.0.join("archive.key");
    std::fs::write(&private, generated.private_pem.expose()).unwrap();
    let archive = format!(
        "[archive]\nstore = {:?}\nsigning_key = {{ file = {:?} }}\ndigest_period = \"1s\"\n",
        format!("file://{}", root.display()),
        private.display().to_string(),
    );
    let (hoop, credential) = start(Some(&archive)).await;
    leaky_session(&hoop, &credential);
    hoop.wait_archived_and_digested(1).await;

    let archives = sealed_archives(&root);
    assert_eq!(archives.len(), 1, "{:?}", files_under(&root));
    let shown = without_links(&archives[0]);
    let text = String::from_utf8_lossy(&shown).into_owned();
    assert!(
        text.contains(r#""application_name":"card 411111******1111 ORD-123456""#),
        "the archive holds the session, masked: {text}"
    );
    assert!(text.contains(r#""kind":"parameter_status""#), "{text}");
    assert_no_leak("sealed archive", &shown);
    for manifest in files_under(&root)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
    {
        let manifest = hoop::archive::Manifest::parse(&std::fs::read(manifest).unwrap()).unwrap();
        let identity = serde_json::to_vec(&manifest.identity).unwrap();
        assert_no_leak("manifest identity", &identity);
    }
}

/// A `bytea`'s hex is masked wherever it sits: a whole value, inside an array, a record or
/// JSON, `encode(raw, 'hex')`, a COPY row, and an error's detail quoting the failing row.
#[tokio::test]
async fn bytea_hex_is_masked_wherever_it_sits() {
    let (hoop, credential) = start(None).await;
    let whole = stdout_of(&hoop.psql(&credential, &["-c", "SELECT raw FROM cards WHERE id = 2"]));
    assert_eq!(whole.trim(), format!("\\x{}", hex("555555******4444")));
    assert!(leaks(whole.as_bytes()).is_empty(), "{whole}");
    let masked = hex("555555******4444");
    for sql in [
        "SELECT ARRAY[raw] FROM cards WHERE id = 2",
        "SELECT ROW(id, raw) FROM cards WHERE id = 2",
        "SELECT row_to_json(c) FROM cards c WHERE id = 2",
        "SELECT encode(raw, 'hex') FROM cards WHERE id = 2",
        "SELECT upper(encode(raw, 'hex')) FROM cards WHERE id = 2",
        "COPY (SELECT raw FROM cards WHERE id = 2) TO STDOUT",
        "COPY (SELECT raw FROM cards WHERE id = 2) TO STDOUT (FORMAT csv)",
        "COPY (SELECT ARRAY[raw, raw] FROM cards WHERE id = 2) TO STDOUT",
    ] {
        let out = stdout_of(&hoop.psql(&credential, &["-c", sql]));
        assert!(out.contains(&masked), "{sql}: {out}");
        assert_no_leak(sql, out.as_bytes());
    }
    // Spellings that shift or split the hex, and escape format, over every row.
    for sql in [
        "SELECT encode(convert_to('#############' || pan, 'UTF8'), 'hex') FROM cards",
        "SELECT ARRAY[convert_to('sssssssssssss' || pan, 'UTF8')] FROM cards",
        "SELECT json_build_object('b', convert_to('#############' || pan, 'UTF8')) FROM cards",
        "SELECT encode(convert_to(to_char(pan_bigint, 'FM9,999,999,999,999,999'), 'UTF8'), 'hex') FROM cards",
        "SELECT encode(convert_to(pan, 'UTF8'), 'hex') || E'\\t' || encode(convert_to(pan, 'UTF8'), 'hex') FROM cards",
        "SET bytea_output = 'escape'; SELECT convert_to(E'line\\n' || pan, 'UTF8') FROM cards",
        "SET bytea_output = 'escape'; SELECT ARRAY['\\x01'::bytea || convert_to(pan, 'UTF8')] FROM cards",
    ] {
        let out = stdout_of(&hoop.psql(&credential, &["-c", sql]));
        // Masked: `*`, or `2a` in hex.
        assert!(out.contains('*') || out.contains("2a2a"), "{sql}: {out}");
        assert_no_leak(sql, out.as_bytes());
    }
    // An error that quotes the failing row (the check constraint on `note`).
    let check = hoop.psql(
        &credential,
        &["-c", "UPDATE cards SET note = 'forbidden' WHERE id = 2"],
    );
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("Failing row contains"), "{stderr}");
    assert_no_leak("a failing row's detail", &check.stderr);
    assert_no_leak("the recording", &spool_bytes(&hoop));
}

#[tokio::test]
async fn copy_out_is_masked_in_text_and_csv_and_binary_copy_is_refused() {
    let (hoop, credential) = start(None).await;
    for format in ["text", "csv"] {
        let sql = format!("COPY cards TO STDOUT (FORMAT {format})");
        let out = stdout_of(&hoop.psql(&credential, &["-c", &sql]));
        assert_eq!(out.lines().count(), 4, "{out}");
        assert!(out.contains("411111******1111"), "{out}");
        assert_no_leak(&format!("COPY {format}"), out.as_bytes());
    }
    // \copy is COPY TO STDOUT on the wire.
    let out = stdout_of(&hoop.psql(
        &credential,
        &[
            "-c",
            "\\copy (SELECT pan, note FROM cards) to stdout with csv",
        ],
    ));
    assert_no_leak("\\copy", out.as_bytes());
    // Binary COPY cannot be masked: refused, and the session stays usable.
    let out = hoop.psql(
        &credential,
        &[
            "-v",
            "ON_ERROR_STOP=0",
            "-c",
            "COPY cards TO STDOUT (FORMAT binary)",
            "-c",
            "SELECT 'still here'",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hoop refuses binary COPY"), "{stderr}");
    assert_no_leak("binary COPY", &out.stdout);
    assert!(String::from_utf8_lossy(&out.stdout).contains("still here"));
    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak("recordings", &spool_bytes(&hoop));
    assert!(
        recorded_events(&hoop)
            .iter()
            .any(|e| e["kind"] == "copy_out_refused")
    );
}

#[tokio::test]
async fn values_that_are_not_card_numbers_arrive_exactly_as_postgres_sent_them() {
    let (hoop, credential) = start(None).await;
    let sql = "SELECT order_id, phone, placed_at, ref, big, label, order_id::text, big::float8 FROM lookalikes ORDER BY 1";
    let through = stdout_of(&hoop.psql(&credential, &["-c", sql]));
    let direct = {
        let out = std::process::Command::new("psql")
            .args(["-X", "-A", "-t", "-c", sql, &hoop.db.url()])
            .output()
            .unwrap();
        stdout_of(&out)
    };
    assert_eq!(through, direct);
    // The same in binary.
    let gateway = hoop.connect_gateway(&credential).await.unwrap();
    let direct_client = hoop.db.client().await;
    let a = gateway.query(sql, &[]).await.unwrap();
    let b = direct_client.query(sql, &[]).await.unwrap();
    for (x, y) in a.iter().zip(&b) {
        for i in 0..x.len() {
            let (Raw(x), Raw(y)) = (x.get::<_, Raw>(i), y.get::<_, Raw>(i));
            assert_eq!(x, y, "column {i}");
        }
    }
}

const RULES: &str = r#"
[masking]
[[masking.columns]]
name = "card-secrets"
table = "public.cards"
columns = ["cvv", "exp_*"]

[[masking.detectors]]
name = "order-ref"
pattern = 'ORD-[0-9]{6}'
"#;

#[tokio::test]
async fn column_rules_and_custom_detectors_mask_whatever_the_content() {
    let (hoop, credential) = start(Some(RULES)).await;
    let out = stdout_of(&hoop.psql(
        &credential,
        &[
            "-c",
            "SELECT id, cvv, exp_month, 'ref ORD-123456' FROM cards ORDER BY id",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1|****||ref **********");
    assert_eq!(lines.len(), 4);
    // Binary: text columns become ****, other types NULL.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let row = client
        .query_one("SELECT cvv, exp_month, id FROM cards WHERE id = 2", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "****");
    assert_eq!(row.get::<_, Option<i32>>(1), None);
    assert_eq!(row.get::<_, i32>(2), 2);
    drop(client);
    hoop.wait_sessions_of_ended(&credential.username).await;
    let rules: Vec<Value> = recorded_events(&hoop)
        .into_iter()
        .filter(|e| e["kind"] == "masked")
        .flat_map(|e| e["columns"].as_array().unwrap().clone())
        .collect();
    assert!(
        rules
            .iter()
            .any(|c| c["column"] == "public.cards.cvv" && c["by"][0] == "rule:card-secrets"),
        "{rules:?}"
    );
    assert!(rules.iter().any(|c| c["by"][0] == "order-ref"), "{rules:?}");
    let spool = String::from_utf8(spool_bytes(&hoop)).unwrap();
    assert!(
        !spool.contains("ORD-123456"),
        "custom detectors apply to recordings too"
    );
}

#[tokio::test]
async fn token_style_gives_the_same_card_the_same_token() {
    let config = format!(
        "[masking]\nstyle = \"token\"\ntoken_key = \"{}\"\n",
        "k".repeat(40)
    );
    let (hoop, credential) = start(Some(&config)).await;
    let out = stdout_of(&hoop.psql(
        &credential,
        &["-c", "SELECT pan, pan_spaced FROM cards ORDER BY id"],
    ));
    assert_no_leak("tokens", out.as_bytes());
    for line in out.lines() {
        let (a, b) = line.split_once('|').unwrap();
        assert!(a.starts_with("pan_") && a.len() == 20, "{line}");
        assert_eq!(a, b, "spaced and plain forms of a card get one token");
    }
}

// ---- Hostile formats and types: the client chooses how a card number leaves ----

/// Types a hostile job can make: domains over decoded types, and a composite of them.
const HOSTILE_SCHEMA: &str = "
CREATE DOMAIN pan_xid8 AS xid8;
CREATE DOMAIN pan_int8 AS bigint;
CREATE DOMAIN pan_money AS money;
CREATE TYPE pan_pair AS (label text, id xid8, amount money);
";

/// Each statement turns the corpus's card numbers into a type or a text form that is not
/// plain text: 8-byte integers (`xid8`, `pg_lsn`, `money`), range bounds, geometric
/// coordinates, arrays and records of them, domains over them, types hoop has no decoder
/// for, zero padding and thousands grouping in every separator a locale uses.
const HOSTILE: &[&str] = &[
    // xid8, also through a domain (RowDescription names the domain's base type).
    "SELECT pan::xid8, pan_bigint::text::xid8, pan::pan_xid8 FROM cards",
    // Ranges and multiranges of numbers: a bound holding the PAN.
    "SELECT int8range(pan_bigint, NULL), int8range(NULL, pan_bigint), int8range(1, pan_bigint),
            int8range(pan_bigint, pan_bigint, '[]') FROM cards",
    "SELECT numrange(pan_numeric, NULL), numrange(pan_numeric, pan_numeric + 0.5),
            numrange(NULL, pan_numeric, '(]') FROM cards",
    "SELECT int8multirange(int8range(pan_bigint, NULL)),
            nummultirange(numrange(1, 2), numrange(pan_numeric, NULL)) FROM cards",
    // pg_lsn holding the PAN as its 64-bit position.
    "SELECT '0/0'::pg_lsn + pan_numeric,
            (to_hex(pan_bigint >> 32) || '/' || to_hex(pan_bigint & 4294967295))::pg_lsn FROM cards",
    // money: an int8 of cents in binary, `$4,111,111,111,111,111.00` in text.
    "SELECT pan_numeric::money, pan_bigint::money, pan::numeric::money, pan_numeric::money::pan_money
     FROM cards",
    // Arrays of them.
    "SELECT ARRAY[pan_numeric::money], ARRAY[pan::xid8, '7'::xid8], ARRAY[int8range(pan_bigint, NULL)],
            ARRAY['0/0'::pg_lsn + pan_numeric], ARRAY[pan_bigint::money] FROM cards",
    "SELECT array_agg(pan::xid8), array_agg(pan_numeric::money), array_agg(numrange(pan_numeric, NULL)),
            array_agg(int8multirange(int8range(pan_bigint, NULL))) FROM cards",
    // Records of them, nested too.
    "SELECT ROW(pan::xid8), ROW(1, pan_numeric::money), ROW(int8range(pan_bigint, NULL)),
            ROW(ROW(pan::xid8)), ROW('0/0'::pg_lsn + pan_numeric) FROM cards",
    // Domains inside arrays and records (their OID is the domain's, not a built-in type's).
    "SELECT pan_bigint::pan_int8, ARRAY[pan::pan_xid8], ROW(pan::pan_xid8), ARRAY[pan_bigint::pan_int8],
            ROW(pan_numeric::money::pan_money) FROM cards",
    // A user composite, alone and in an array.
    "SELECT ROW('x', pan::xid8, pan_numeric::money)::pan_pair,
            ARRAY[ROW('y', pan::xid8, 1::money)::pan_pair] FROM cards",
    // Geometric coordinates are float8s.
    "SELECT point(pan_bigint, 0), box(point(pan_bigint, 0), point(0, 0)), circle(point(0, pan_bigint), 1),
            lseg(point(1, 2), point(pan_bigint, 3)) FROM cards",
    // Types without a decoder.
    "SELECT pan_bigint::bit(64), (pan || ':' || pan || ':')::pg_snapshot, to_tsvector('simple', pan),
            (pan || ':' || pan || ':')::txid_snapshot FROM cards",
    // Zero padding: the 19-digit fixed-width field, and longer and shorter.
    "SELECT lpad(pan, 17, '0'), lpad(pan, 18, '0'), lpad(pan, 19, '0'), lpad(pan, 24, '0'),
            lpad(pan_bigint::text, 19, '0'), to_char(pan_bigint, 'FM' || repeat('0', 19)) FROM cards",
    // Thousands grouping as to_char and money print it, and in other locales' separators.
    "SELECT to_char(pan_numeric, 'FM9,999,999,999,999,999'), to_char(pan_numeric, 'FM999G999G999G999G999G999D00'),
            to_char(pan_numeric, 'FM0,000,000,000,000,000,000'), to_char(pan_bigint, '9,999,999,999,999,999') FROM cards",
    "SELECT translate(pan_numeric::money::text, ',.', '.,') || ' €', replace(pan_numeric::money::text, ',', ''''),
            replace(pan_numeric::money::text, ',', ' '), replace(pan_numeric::money::text, ',', '\u{a0}') || '\u{a0}€',
            'CHF ' || replace(replace(pan_numeric::money::text, '$', ''), ',', '\u{2019}'),
            replace(pan_numeric::money::text, ',', '\u{202f}') FROM cards",
    "SELECT json_build_object('total', pan_numeric::money), ARRAY[to_char(pan_numeric, 'FM9,999,999,999,999,999')],
            format('%s|%s', lpad(pan, 19, '0'), pan_numeric::money) FROM cards",
];

/// 4-digit groups of a number as binary `numeric` stores them (base 10000, big-endian u16s).
fn numeric_groups(digits: &str) -> Vec<u8> {
    let padded = format!("{}{digits}", "0".repeat((4 - digits.len() % 4) % 4));
    padded
        .as_bytes()
        .chunks(4)
        .flat_map(|c| {
            let group: u16 = std::str::from_utf8(c).unwrap().parse().unwrap();
            group.to_be_bytes()
        })
        .collect()
}

/// Every test PAN in `bytes` in any encoding the hostile corpus could produce: as text with
/// any separators or padding between its digits, as an 8-byte integer (times a power of ten:
/// money's cents), a float8, or numeric base-10000 digits; plus [`leaks`].
fn leaks_in_any_encoding(bytes: &[u8]) -> Vec<String> {
    let mut found = leaks(bytes);
    let text = String::from_utf8_lossy(bytes);
    let squeezed: String = text
        .chars()
        .filter(|c| {
            !matches!(
                c,
                ' ' | '-' | ',' | '.' | '\'' | '\u{a0}' | '\u{202f}' | '\u{2019}'
            )
        })
        .collect();
    for pan in PANS {
        if squeezed.contains(pan) {
            found.push(format!("{pan} (text, with separators)"));
        }
        let n: u64 = pan.parse().unwrap();
        for scale in [1u64, 10, 100, 1000, 10_000] {
            let Some(v) = n.checked_mul(scale) else {
                continue;
            };
            for needle in [v.to_be_bytes(), (v as i64).wrapping_neg().to_be_bytes()] {
                if bytes.windows(8).any(|w| w == needle) {
                    found.push(format!("{pan} (8-byte integer, times {scale})"));
                }
            }
        }
        if bytes.windows(8).any(|w| w == (n as f64).to_be_bytes()) {
            found.push(format!("{pan} (float8)"));
        }
        let groups = numeric_groups(pan);
        if bytes.windows(groups.len()).any(|w| w == groups) {
            found.push(format!("{pan} (numeric digits)"));
        }
    }
    found
}

fn assert_no_leak_in_any_encoding(what: &str, bytes: &[u8]) {
    let found = leaks_in_any_encoding(bytes);
    assert!(
        found.is_empty(),
        "{what}: card numbers leaked: {found:?}\n{:?}",
        String::from_utf8_lossy(bytes)
    );
}

async fn start_hostile() -> (Hoop, Credential) {
    let (hoop, credential) = start(None).await;
    let db = hoop.db.client().await;
    db.batch_execute(HOSTILE_SCHEMA)
        .await
        .expect("creating the hostile types");
    (hoop, credential)
}

#[test]
fn the_leak_check_sees_every_encoding() {
    // The check itself must find what the corpus tries: otherwise the tests below prove
    // nothing.
    let pan: i64 = VISA.parse().unwrap();
    for (what, bytes) in [
        ("int8", pan.to_be_bytes().to_vec()),
        ("money cents", (pan * 100).to_be_bytes().to_vec()),
        ("float8", (pan as f64).to_be_bytes().to_vec()),
        (
            "numeric",
            [vec![0, 4, 0, 3, 0, 0, 0, 0], numeric_groups(VISA)].concat(),
        ),
        ("money text", b"$4,111,111,111,111,111.00".to_vec()),
        ("padded", b"0004111111111111111".to_vec()),
        (
            "nbsp",
            "4\u{a0}111\u{a0}111\u{a0}111\u{a0}111\u{a0}111"
                .as_bytes()
                .to_vec(),
        ),
        ("amex numeric", numeric_groups(AMEX)),
    ] {
        assert!(!leaks_in_any_encoding(&bytes).is_empty(), "{what}");
    }
    assert!(leaks_in_any_encoding(b"$4,111,11*,***,**1,111.00").is_empty());
    assert!(leaks_in_any_encoding(&7i64.to_be_bytes()).is_empty());
}

#[tokio::test]
async fn hostile_binary_results_never_carry_a_card_number() {
    let (hoop, credential) = start_hostile().await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    // tokio-postgres asks for every result column in binary, whatever its type.
    for sql in HOSTILE {
        let rows = client
            .query(*sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!rows.is_empty(), "{sql}");
        for row in &rows {
            for i in 0..row.len() {
                if let Some(Raw(bytes)) = row.get::<_, Option<Raw>>(i) {
                    let what = format!("{sql} / column {i} ({})", row.columns()[i].type_());
                    assert_no_leak_in_any_encoding(&what, &bytes);
                }
            }
        }
    }
    // Numbers cannot show `*`: the PAN-holding value is NULL, its neighbours survive.
    let row = client
        .query_one(
            "SELECT pan::xid8, ARRAY[pan::xid8, '7'::xid8], int8range(pan_bigint, NULL),
                    pan_numeric::money, ROW(pan::xid8, 5)::text FROM cards WHERE id = 1",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<Raw>>(0).is_none());
    let Raw(array) = row.get::<_, Raw>(1);
    assert_eq!(&array[array.len() - 8..], 7u64.to_be_bytes());
    assert!(row.get::<_, Option<Raw>>(2).is_none());
    assert!(row.get::<_, Option<Raw>>(3).is_none());
    assert_eq!(row.get::<_, String>(4), "(411111******1111,5)");
    // Values that hold no card number arrive exactly as Postgres sent them.
    let harmless = "SELECT '7'::xid8, int8range(1, 10), 12.5::money, '0/16B3748'::pg_lsn,
                           ARRAY['1'::xid8, '2'::xid8], numrange(1.5, 1000000000001),
                           int8multirange(int8range(1, 2), int8range(5, 9)), point(1.5, 2),
                           ROW(1, 'x'::text, 2.5::money), '2026-12-02'::date, 'public.cards'::regclass,
                           ARRAY[ROW('z', '9'::xid8, 3::money)::pan_pair]";
    let direct = hoop.db.client().await;
    let (a, b) = (
        client.query_one(harmless, &[]).await.unwrap(),
        direct.query_one(harmless, &[]).await.unwrap(),
    );
    for i in 0..a.len() {
        let (Raw(x), Raw(y)) = (a.get::<_, Raw>(i), b.get::<_, Raw>(i));
        assert_eq!(x, y, "column {i} ({})", a.columns()[i].type_());
    }
    // What has no decoder is withheld even when it holds nothing: bit strings, snapshots,
    // and a domain inside an array.
    let row = client
        .query_one(
            "SELECT 5::bit(8), '10:20:'::pg_snapshot, ARRAY[7::pan_int8], 1",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<Raw>>(0).is_none());
    assert!(row.get::<_, Option<Raw>>(1).is_none());
    let Raw(array) = row.get::<_, Raw>(2);
    assert_eq!(
        &array[array.len() - 4..],
        (-1i32).to_be_bytes(),
        "the element is NULL"
    );
    assert_eq!(row.get::<_, i32>(3), 1);
    drop(client);
    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak_in_any_encoding("recordings", &spool_bytes(&hoop));
    let withheld = recorded_events(&hoop)
        .into_iter()
        .filter(|e| e["kind"] == "masked")
        .flat_map(|e| e["columns"].as_array().unwrap().clone())
        .any(|c| c["by"].as_array().unwrap().iter().any(|b| b == "withheld"));
    assert!(withheld, "withheld values are recorded as such");
}

#[tokio::test]
async fn hostile_text_results_never_carry_a_card_number() {
    let (hoop, credential) = start_hostile().await;
    let mut script = String::from("SET lc_monetary = 'C';\n");
    for sql in HOSTILE {
        script.push_str(sql);
        script.push_str(";\n");
    }
    let out = hoop.psql_with_input(&credential, &["-f", "-"], &script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    let stdout = stdout_of(&out);
    // Every statement returned its rows (four cards; one aggregate returns one row).
    assert!(stdout.lines().count() > (HOSTILE.len() - 1) * 4, "{stdout}");
    assert_no_leak_in_any_encoding("psql output", stdout.as_bytes());
    assert_no_leak_in_any_encoding("psql errors", &out.stderr);
    // The display forms: the BIN and last four at most, separators and padding kept.
    let shown = stdout_of(&hoop.psql(
        &credential,
        &[
            "-c",
            "SELECT pan_numeric::money, lpad(pan, 19, '0'), to_char(pan_numeric, 'FM9,999,999,999,999,999'),
                    pan::xid8, int8range(pan_bigint, NULL), point(pan_bigint, 0)
             FROM cards WHERE id = 1",
        ],
    ));
    assert_eq!(
        shown.trim(),
        "$4,111,11*,***,**1,111.00|000411*********1111|4,111,11*,***,**1,111|411111******1111|[411111******1111,)|(411111******1111,0)"
    );
    hoop.wait_sessions_of_ended(&credential.username).await;
    assert_no_leak_in_any_encoding("recordings", &spool_bytes(&hoop));
}
