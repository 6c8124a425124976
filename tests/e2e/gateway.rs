//! The gateway end to end: real `hoop serve`, real Postgres, real `psql`, `pgbench` and
//! tokio-postgres, and raw protocol bytes for what no well-behaved client sends.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::*;
use bytes::BytesMut;
use hoop_protocol::backend::{Authentication, BackendMessage, ErrorFields};
use hoop_protocol::startup::{self, StartupMessage};
use hoop_protocol::{decode_frame, frontend};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::{DbError, SqlState};

const PGBENCH: &str = "/usr/lib/postgresql/15/bin/pgbench";

// ---------------------------------------------------------------------------------------------
// Helpers

fn stdout(out: &Output) -> String {
    stdout_of(out).trim().to_owned()
}

/// The events of a recording, after its hash chain verified.
fn verified_events(path: &Path) -> Vec<Value> {
    let report = hoop::recording::verify(path)
        .unwrap_or_else(|e| panic!("{} does not verify: {e}", path.display()));
    let events: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(report.events as usize, events.len());
    events
}

/// Every recording of `username`'s sessions, verified, oldest first.
fn recordings_of(hoop: &Hoop, username: &str) -> Vec<Vec<Value>> {
    hoop.recordings()
        .iter()
        .map(|p| verified_events(p))
        .filter(|events| events[0]["username"] == username)
        .collect()
}

/// The verified recording of `username`'s only session.
fn recording_of(hoop: &Hoop, username: &str) -> Vec<Value> {
    let mut found = recordings_of(hoop, username);
    assert_eq!(found.len(), 1, "one recording for {username}");
    found.pop().unwrap()
}

/// One line per event: its kind and the field that tells events of that kind apart (text with
/// its whitespace collapsed).
fn trace(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap();
            let key = match kind {
                "statement" | "parse" => "sql",
                "complete" => "tag",
                "error" => "sqlstate",
                "notice" => "message",
                "notification" => "channel",
                "copy_in_end" => "completed",
                "session_end" => "reason",
                _ => return kind.to_owned(),
            };
            let value = match &e[key] {
                Value::String(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
                other => other.to_string(),
            };
            format!("{kind} {value}")
        })
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn end_reason(events: &[Value]) -> &str {
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "session_end", "{last}");
    last["reason"].as_str().unwrap()
}

/// The server error that refused a login through the gateway.
async fn refusal(config: &tokio_postgres::Config) -> DbError {
    match config.connect(gateway_tls()).await {
        Ok(_) => panic!("the gateway accepted a login it must refuse"),
        Err(e) => e
            .as_db_error()
            .unwrap_or_else(|| panic!("not a server error: {e}"))
            .clone(),
    }
}

/// Asserts there is a denied `connect` audit event with `code` for `subject`.
async fn assert_connect_denied(hoop: &Hoop, code: &str, subject: &str) {
    let events = hoop.db.audit_events(code).await;
    assert!(
        events.iter().any(|e| {
            e.get::<_, String>("action") == "connect"
                && e.get::<_, String>("outcome") == "denied"
                && e.get::<_, Option<String>>("subject").as_deref() == Some(subject)
        }),
        "no denied connect event {code} for {subject}: {events:?}"
    );
}

/// Waits until a query containing `needle` runs upstream as `role`.
async fn wait_running(db: &TestDb, role: &str, needle: &str) {
    let admin = db.client().await;
    wait_until(&format!("{needle} to run as {role}"), || async {
        admin
            .query_opt(
                "SELECT 1 FROM pg_stat_activity
                 WHERE usename = $1 AND state = 'active' AND strpos(query, $2) > 0",
                &[&role, &needle],
            )
            .await
            .unwrap()
            .is_some()
    })
    .await;
}

/// Waits for a connection task the server is expected to end, and returns the server's error.
async fn server_ending(
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) -> DbError {
    let result = tokio::time::timeout(WAIT, connection)
        .await
        .expect("the gateway ends the session")
        .unwrap();
    let error = result.expect_err("the session ends with an error");
    error
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {error}"))
        .clone()
}

async fn grant(hoop: &Hoop, statement: &str) {
    let statement = statement
        .replace("{db}", &hoop.db.name)
        .replace("{reader}", &hoop.db.reader);
    hoop.db
        .client()
        .await
        .batch_execute(&statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A plaintext protocol client that logs in properly, then sends whatever it is told to.
struct RawClient {
    tcp: TcpStream,
    input: BytesMut,
}

impl RawClient {
    /// StartupMessage and SCRAM-SHA-256 up to ReadyForQuery (the gateway must allow plaintext).
    async fn login(hoop: &Hoop, credential: &Credential) -> RawClient {
        let mut client = RawClient::start(hoop, credential).await;
        let mut out = BytesMut::new();
        let mut scram = ScramSha256::new(
            credential.password.as_bytes(),
            ChannelBinding::unsupported(),
        );
        loop {
            out.clear();
            match client.next().await.expect("the gateway answers the login") {
                BackendMessage::Authentication(Authentication::Sasl { .. }) => {
                    frontend::encode_sasl_initial_response(
                        "SCRAM-SHA-256",
                        scram.message(),
                        &mut out,
                    )
                }
                BackendMessage::Authentication(Authentication::SaslContinue(data)) => {
                    scram.update(&data).unwrap();
                    frontend::encode_sasl_response(scram.message(), &mut out);
                }
                BackendMessage::Authentication(Authentication::SaslFinal(data)) => scram
                    .finish(&data)
                    .expect("the gateway proves the verifier"),
                BackendMessage::ReadyForQuery { .. } => return client,
                BackendMessage::ErrorResponse(e) => panic!("login refused: {e:?}"),
                _ => {}
            }
            if !out.is_empty() {
                client.send(&out).await;
            }
        }
    }

    /// Connects and sends only the StartupMessage.
    async fn start(hoop: &Hoop, credential: &Credential) -> RawClient {
        let tcp = TcpStream::connect(("127.0.0.1", hoop.gateway_port))
            .await
            .unwrap();
        let mut client = RawClient {
            tcp,
            input: BytesMut::new(),
        };
        let mut out = BytesMut::new();
        let params = [("user", &credential.username), ("database", &hoop.db.name)];
        startup::encode_startup(
            &StartupMessage {
                version: startup::PROTOCOL_3_0,
                params: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            &mut out,
        );
        client.send(&out).await;
        client
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next message; `None` once the gateway closed the connection.
    async fn next(&mut self) -> Option<BackendMessage> {
        let frame = self.next_frame().await?;
        Some(BackendMessage::decode(&frame).unwrap())
    }

    /// The next message's frame; `None` once the gateway closed the connection.
    async fn next_frame(&mut self) -> Option<hoop_protocol::Frame> {
        loop {
            if let Some(frame) = decode_frame(&mut self.input, usize::MAX).unwrap() {
                return Some(frame);
            }
            let read = tokio::time::timeout(WAIT, self.tcp.read_buf(&mut self.input))
                .await
                .expect("the gateway answers or closes");
            // A reset is a close too.
            if read.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Reads to the end of the connection; the last error the gateway sent before closing it.
    async fn error_before_close(&mut self) -> Option<ErrorFields> {
        let mut error = None;
        while let Some(message) = self.next().await {
            if let BackendMessage::ErrorResponse(fields) = message {
                error = Some(fields);
            }
        }
        error
    }
}

/// `VmHWM` of a process (its peak resident set), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    kib * 1024
}

// ---------------------------------------------------------------------------------------------
// psql

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_works_through_the_gateway_and_every_statement_is_recorded() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9001)).await;

    let out = hoop.psql(
        &credential,
        &[
            "-c",
            "SELECT count(*) FROM widgets",
            "-c",
            "SELECT current_user, current_setting('application_name')",
        ],
    );
    let text = stdout(&out);
    assert!(text.starts_with("3\n"), "{text}");
    assert!(text.contains(&credential.username), "{text}");
    assert!(text.contains("hoop run 9001"), "{text}");

    hoop.wait_sessions_ended(1).await;
    let metrics = hoop.get("/metrics").await.text;
    for line in [
        "hoop_gateway_logins_total{outcome=\"success\",code=\"connected\"} 1",
        "hoop_gateway_statements_total 2",
        "hoop_gateway_sessions_live 0",
    ] {
        assert!(
            metrics.contains(line),
            "{line:?} not in /metrics:\n{metrics}"
        );
    }
    let events = recording_of(&hoop, &credential.username);
    assert_eq!(events[0]["kind"], "session_start");
    assert_eq!(events[0]["tls"], true);
    assert_eq!(
        trace(&events),
        [
            "session_start",
            "policy",
            "statement SELECT count(*) FROM widgets",
            "complete SELECT 1",
            "statement SELECT current_user, current_setting('application_name')",
            "complete SELECT 1",
            "terminate",
            "session_end client terminated",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_batches_errors_copy_notices_and_notifications_are_relayed_and_recorded() {
    let hoop = Hoop::start(Options::default()).await;
    grant(&hoop, "GRANT TEMP ON DATABASE {db} TO {reader}").await;
    let credential = hoop.issue(&hoop.github_token(9101)).await;

    let commands = [
        "SELECT 1; SELECT 2",
        "BEGIN",
        "SELECT 1/0",
        "ROLLBACK",
        "SELECT 'still usable'",
        r"\copy widgets TO STDOUT",
        "CREATE TEMP TABLE parts (id integer, name text)",
        "COPY parts FROM STDIN",
        "SELECT string_agg(name, ',' ORDER BY id) FROM parts",
        "DO $$ BEGIN RAISE NOTICE 'hi'; END $$",
        "LISTEN c; NOTIFY c, 'x'",
    ];
    let mut args = vec!["-v", "ON_ERROR_STOP=0"];
    for command in commands {
        args.extend(["-c", command]);
    }
    let out = hoop.psql_with_input(&credential, &args, "4\tbolt\n5\tnut\n");
    let (text, errors) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "1",
        "2",
        "still usable",
        "1\tsprocket",
        "3\tcog",
        "bolt,nut",
        "Asynchronous notification \"c\" with payload \"x\" received from server process with PID",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "{expected:?} not in psql's output:\n{text}\n{errors}"
        );
    }
    assert!(errors.contains("ERROR:  division by zero"), "{errors}");
    assert!(errors.contains("NOTICE:  hi"), "{errors}");

    hoop.wait_sessions_ended(1).await;
    let events = recording_of(&hoop, &credential.username);
    assert_eq!(
        trace(&events),
        [
            "session_start",
            "policy",
            "statement SELECT 1; SELECT 2",
            "complete SELECT 1",
            "complete SELECT 1",
            "statement BEGIN",
            "complete BEGIN",
            "statement SELECT 1/0",
            "error 22012",
            "statement ROLLBACK",
            "complete ROLLBACK",
            "statement SELECT 'still usable'",
            "complete SELECT 1",
            "statement COPY widgets TO STDOUT",
            "complete COPY 3",
            "statement CREATE TEMP TABLE parts (id integer, name text)",
            "complete CREATE TABLE",
            "statement COPY parts FROM STDIN",
            "copy_in_end true",
            "complete COPY 2",
            "statement SELECT string_agg(name, ',' ORDER BY id) FROM parts",
            "complete SELECT 1",
            "statement DO $$ BEGIN RAISE NOTICE 'hi'; END $$",
            "notice hi",
            "complete DO",
            "statement LISTEN c; NOTIFY c, 'x'",
            "complete LISTEN",
            "complete NOTIFY",
            "notification c",
            "terminate",
            "session_end client terminated",
        ]
    );
    let error = of_kind(&events, "error")[0];
    assert_eq!(error["message"], "division by zero");
    // COPY data is the table's content: only its size is recorded.
    let copy = of_kind(&events, "copy_in_end")[0];
    assert_eq!(copy["bytes"], "4\tbolt\n5\tnut\n".len());
    assert_eq!(of_kind(&events, "notification")[0]["payload_bytes"], 1);
    assert_eq!(events.last().unwrap()["statements"], commands.len());
    assert_eq!(events.last().unwrap()["errors"], 1);
}

// ---------------------------------------------------------------------------------------------
// tokio-postgres: extended protocol over TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extended_protocol_over_tls_is_relayed_and_recorded() {
    let hoop = Hoop::start(Options::default()).await;
    grant(&hoop, "GRANT TEMP ON DATABASE {db} TO {reader}").await;
    let credential = hoop.issue(&hoop.github_token(9201)).await;
    let mut client = hoop.connect_gateway(&credential).await.unwrap();

    // One named statement, binary parameters and results, run twice.
    let echo_sql = "SELECT $1::int8 * 2, $2::text || '!', $3::bytea";
    let echo = client.prepare(echo_sql).await.unwrap();
    let inputs: [(i64, &str, Vec<u8>); 2] = [(21, "hi", vec![0, 1, 255]), (-4, "", vec![])];
    for (number, text, bytes) in &inputs {
        let row = client
            .query_one(&echo, &[number, text, bytes])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), number * 2);
        assert_eq!(row.get::<_, String>(1), format!("{text}!"));
        assert_eq!(&row.get::<_, Vec<u8>>(2), bytes);
    }
    let null = client
        .query_one("SELECT $1::text IS NULL", &[&None::<String>])
        .await
        .unwrap();
    assert!(null.get::<_, bool>(0));

    // Pipelined: three executions sent before the first answer, answered in order.
    let name_of = client
        .prepare("SELECT name FROM widgets WHERE id = $1")
        .await
        .unwrap();
    let (a, b, c) = tokio::join!(
        client.query_one(&name_of, &[&1i32]),
        client.query_one(&name_of, &[&2i32]),
        client.query_one(&name_of, &[&3i32]),
    );
    let names: Vec<String> = [a, b, c].into_iter().map(|r| r.unwrap().get(0)).collect();
    assert_eq!(names, ["sprocket", "gear", "cog"]);

    // Transactions.
    client
        .batch_execute("CREATE TEMP TABLE notes (body text)")
        .await
        .unwrap();
    let insert = "INSERT INTO notes VALUES ($1)";
    let tx = client.transaction().await.unwrap();
    tx.execute(insert, &[&"rolled back"]).await.unwrap();
    tx.rollback().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(insert, &[&"kept"]).await.unwrap();
    tx.commit().await.unwrap();
    let bodies: Vec<String> = client
        .query("SELECT body FROM notes", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(bodies, ["kept"]);
    drop(client);

    hoop.wait_sessions_ended(1).await;
    let events = recording_of(&hoop, &credential.username);
    assert_eq!(events[0]["tls"], true);
    let echo_parses: Vec<&Value> = of_kind(&events, "parse")
        .into_iter()
        .filter(|e| e["sql"] == echo_sql)
        .collect();
    assert_eq!(echo_parses.len(), 1, "a named statement is parsed once");
    let echo_name = echo_parses[0]["statement"].as_str().unwrap();
    assert!(!echo_name.is_empty());
    let echo_binds: Vec<&Value> = of_kind(&events, "bind")
        .into_iter()
        .filter(|e| e["statement"] == echo_name)
        .map(|e| &e["params"])
        .collect();
    assert_eq!(
        echo_binds,
        [
            &json!(["21", "hi", {"binary_bytes": 3}]),
            &json!(["-4", "", {"binary_bytes": 0}]),
        ],
        "binary numbers and text are recorded as text (masked), other binary values by size"
    );
    let binds = of_kind(&events, "bind");
    assert!(binds.iter().any(|e| e["params"] == json!([null])));
    assert_eq!(
        of_kind(&events, "execute").len(),
        binds.len(),
        "every bound portal was executed"
    );
    let tags: Vec<&str> = of_kind(&events, "complete")
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "SELECT 1",
            "SELECT 1",
            "SELECT 1",
            "SELECT 1",
            "SELECT 1",
            "SELECT 1",
            "CREATE TABLE",
            "START TRANSACTION",
            "INSERT 0 1",
            "ROLLBACK",
            "START TRANSACTION",
            "INSERT 0 1",
            "COMMIT",
            "SELECT 1",
        ]
    );
    let simple: Vec<&str> = of_kind(&events, "statement")
        .iter()
        .map(|e| e["sql"].as_str().unwrap())
        .collect();
    assert_eq!(
        simple,
        [
            "CREATE TEMP TABLE notes (body text)",
            "START TRANSACTION",
            "ROLLBACK",
            "START TRANSACTION",
            "COMMIT"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Cancel

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_the_running_query_and_a_forged_key_cancels_nothing() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9301)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let token = client.cancel_token();

    let sleeper = tokio::spawn(async move {
        let result = client.simple_query("SELECT pg_sleep(30)").await;
        (client, result)
    });
    wait_running(&hoop.db, &credential.username, "pg_sleep(30)").await;
    token.cancel_query(gateway_tls()).await.unwrap();
    let (client, result) = tokio::time::timeout(WAIT, sleeper)
        .await
        .expect("the cancelled query returns")
        .unwrap();
    let error = result.expect_err("the query was cancelled");
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");

    // A CancelRequest with a key the gateway never gave out (plaintext, as libpq may send it).
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(31)").await });
    wait_running(&hoop.db, &credential.username, "pg_sleep(31)").await;
    let mut forged = TcpStream::connect(("127.0.0.1", hoop.gateway_port))
        .await
        .unwrap();
    let mut request = Vec::from(16u32.to_be_bytes());
    request.extend(startup::CANCEL_REQUEST_CODE.to_be_bytes());
    request.extend(0x1234_5678u32.to_be_bytes());
    request.extend(0x0bad_cafeu32.to_be_bytes());
    forged.write_all(&request).await.unwrap();
    // The gateway closes a cancel connection once it has dealt with the request (forwarded it
    // upstream, had the key been one of its own).
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, forged.read_to_end(&mut rest))
        .await
        .expect("the gateway closes a cancel connection")
        .unwrap();
    assert!(rest.is_empty(), "a cancel request gets no answer");
    // The gateway dealt with it without forwarding anything: the query still runs.
    wait_until("the forged cancel request to be ignored", || async {
        hoop.log()
            .contains("cancel request with an unknown key ignored")
    })
    .await;
    wait_running(&hoop.db, &credential.username, "pg_sleep(31)").await;
    assert!(
        !sleeper.is_finished(),
        "a forged cancel key cancels nothing"
    );
    // The real key still cancels it.
    token.cancel_query(gateway_tls()).await.unwrap();
    let result = tokio::time::timeout(WAIT, sleeper)
        .await
        .expect("the cancelled query returns")
        .unwrap();
    let error = result.expect_err("the query was cancelled");
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Refused logins

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_logins_get_their_sqlstate_and_a_denied_audit_event() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9401)).await;
    let user = &credential.username;
    let password_failed =
        |user: &str| format!("password authentication failed for user \"{user}\"");

    let mut wrong_password = hoop.gateway_config(&credential);
    wrong_password.password("not-the-password");
    let e = refusal(&wrong_password).await;
    assert_eq!(
        (e.code(), e.severity()),
        (&SqlState::INVALID_PASSWORD, "FATAL")
    );
    assert_eq!(e.message(), password_failed(user));
    assert_connect_denied(&hoop, "password_failed", user).await;

    let unknown = format!("run-1-1-{}", random_suffix());
    let mut unknown_user = hoop.gateway_config(&credential);
    unknown_user.user(&unknown);
    let e = refusal(&unknown_user).await;
    assert_eq!(e.code(), &SqlState::INVALID_PASSWORD);
    assert_eq!(
        e.message(),
        password_failed(&unknown),
        "same as a wrong password"
    );
    assert_connect_denied(&hoop, "password_failed", &unknown).await;

    let mut wrong_database = hoop.gateway_config(&credential);
    wrong_database.dbname("postgres");
    let e = refusal(&wrong_database).await;
    assert_eq!(e.code(), &SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert!(
        e.message().contains(&format!(
            "is for database \"{}\", not \"postgres\"",
            hoop.db.name
        )),
        "{}",
        e.message()
    );
    assert_connect_denied(&hoop, "database_mismatch", user).await;

    let mut plaintext = hoop.gateway_config(&credential);
    plaintext.ssl_mode(SslMode::Disable);
    let e = refusal(&plaintext).await;
    assert_eq!(e.code(), &SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert!(e.message().contains("sslmode=require"), "{}", e.message());
    assert_connect_denied(&hoop, "tls_required", user).await;

    // The rule allows MAX_SESSIONS at once; one more is refused while they are open.
    let mut held = Vec::new();
    for _ in 0..MAX_SESSIONS {
        held.push(hoop.connect_gateway(&credential).await.unwrap());
    }
    let e = refusal(&hoop.gateway_config(&credential)).await;
    assert_eq!(e.code(), &SqlState::TOO_MANY_CONNECTIONS);
    assert!(
        e.message().contains(&format!(
            "already has its maximum of {MAX_SESSIONS} sessions"
        )),
        "{}",
        e.message()
    );
    assert_connect_denied(&hoop, "session_limit", user).await;
    for client in &held {
        client.simple_query("SELECT 1").await.unwrap();
    }

    let revoked = hoop.issue(&hoop.github_token(9402)).await;
    let reply = hoop
        .revoke_with_token(&revoked.id, &hoop.github_token(9402))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    let e = refusal(&hoop.gateway_config(&revoked)).await;
    assert_eq!(e.code(), &SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert!(e.message().contains("was revoked"), "{}", e.message());
    assert_connect_denied(&hoop, "credential_inactive", &revoked.username).await;
}

// ---------------------------------------------------------------------------------------------
// Sessions ended by the gateway

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_credential_ends_its_live_session() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9501)).await;
    let (client, connection) = hoop.gateway_session(&credential).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();

    let reply = hoop
        .revoke_with_token(&credential.id, &hoop.github_token(9501))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    let fatal = server_ending(connection).await;
    assert_eq!(
        (fatal.code(), fatal.severity()),
        (&SqlState::ADMIN_SHUTDOWN, "FATAL")
    );
    assert!(
        fatal.message().contains("credential was revoked"),
        "{}",
        fatal.message()
    );
    assert!(client.simple_query("SELECT 1").await.is_err());

    hoop.wait_sessions_ended(1).await;
    let events = recording_of(&hoop, &credential.username);
    assert_eq!(end_reason(&events), "credential revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_its_credential_expires_and_cannot_log_in_again() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.short_lived_token(9601)).await;
    let (client, connection) = hoop.gateway_session(&credential).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();

    let fatal = server_ending(connection).await;
    assert!(chrono::Utc::now() >= credential.expires_at);
    assert_eq!(fatal.code(), &SqlState::ADMIN_SHUTDOWN);
    assert!(
        fatal.message().contains("credential expired"),
        "{}",
        fatal.message()
    );
    hoop.wait_sessions_ended(1).await;
    assert_eq!(
        end_reason(&recording_of(&hoop, &credential.username)),
        "credential expired"
    );

    let e = refusal(&hoop.gateway_config(&credential)).await;
    assert_eq!(e.code(), &SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert!(e.message().contains("expired at"), "{}", e.message());
    assert_connect_denied(&hoop, "credential_inactive", &credential.username).await;
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_accepts_the_configured_certificate_only() {
    let certs = ScratchDir::new();
    let (ca, server) = write_certificate_chain(&certs, "gateway", &["localhost"]);
    let (other_ca, _) = write_certificate_chain(&certs, "other", &["localhost"]);
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            tls: Some(server),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let reply = hoop.exchange(&hoop.github_token(9701)).await;
    // A configured certificate without gateway.tls_ca: hoop knows no CA to hand out.
    assert!(reply.body.get("ca_cert").is_none(), "{}", reply.body);
    let credential = Credential::from_body(&reply.body);
    let psql = |host: &str, root: &Path| {
        hoop.psql_command(&credential)
            .args(["-c", "SELECT 'verified'"])
            .env("PGHOST", host)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", root)
            .output()
            .unwrap()
    };

    assert_eq!(stdout(&psql("localhost", &ca)), "verified");

    let untrusted = psql("localhost", &other_ca);
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("certificate verify failed"), "{stderr}");

    let wrong_name = psql("127.0.0.1", &ca);
    assert!(!wrong_name.status.success());
    let stderr = String::from_utf8_lossy(&wrong_name.stderr);
    assert!(stderr.contains("does not match host name"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Protocol abuse

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_abuse_closes_only_the_offending_connection() {
    const MAX_MESSAGE: usize = 65_536;
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            require_tls: Some(false),
            max_message_bytes: Some(MAX_MESSAGE),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let good = hoop
        .connect_gateway(&hoop.issue(&hoop.github_token(9801)).await)
        .await
        .unwrap();
    let count_widgets = || async {
        let row = good
            .query_one("SELECT count(*) FROM widgets", &[])
            .await
            .expect("the good session keeps working");
        assert_eq!(row.get::<_, i64>(0), 3);
    };
    count_widgets().await;

    let declared = u32::try_from(MAX_MESSAGE + 100).unwrap();
    let mut oversized = b"Q".to_vec();
    oversized.extend(declared.to_be_bytes());
    oversized.extend(b"SELECT 1");
    let garbage = [0xff, 0, 0, 0, 2].to_vec();
    for (ended, (run_id, bytes)) in [(9802, oversized), (9803, garbage)].into_iter().enumerate() {
        let credential = hoop.issue(&hoop.github_token(run_id)).await;
        let mut bad = RawClient::login(&hoop, &credential).await;
        bad.send(&bytes).await;
        let error = bad
            .error_before_close()
            .await
            .expect("an error before the close");
        assert_eq!(
            (error.severity(), error.sqlstate()),
            (Some("FATAL"), Some("08P01")),
            "{error:?}"
        );
        count_widgets().await;
        hoop.wait_sessions_ended(ended as i64 + 1).await;
        let events = recording_of(&hoop, &credential.username);
        assert!(
            end_reason(&events).starts_with("protocol violation"),
            "{}",
            end_reason(&events)
        );
        assert!(of_kind(&events, "statement").is_empty());
    }

    // A message cut short, then the client is gone: nothing of it is recorded or run.
    let credential = hoop.issue(&hoop.github_token(9804)).await;
    let mut truncated = RawClient::login(&hoop, &credential).await;
    let mut partial = b"Q".to_vec();
    partial.extend(100u32.to_be_bytes());
    partial.extend(b"SELECT 1");
    truncated.send(&partial).await;
    truncated.tcp.shutdown().await.unwrap();
    // The gateway closes its side too (a bounded wait).
    truncated.error_before_close().await;
    count_widgets().await;
    hoop.wait_sessions_ended(3).await;
    let events = recording_of(&hoop, &credential.username);
    assert_eq!(end_reason(&events), "client disconnected");
    assert!(of_kind(&events, "statement").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Recording failure

/// How large a file `hoop serve` may grow in the recording failure test (`RLIMIT_FSIZE`).
const FILE_SIZE_LIMIT: u64 = 4 << 20;

/// The spool cannot take a statement's event: `hoop serve` runs under a file size limit
/// (`RLIMIT_FSIZE`), and the event is larger than what the session's file may still grow by, so
/// the kernel writes the part that fits and refuses the rest (`EFBIG`), as a full disk does
/// (`ENOSPC`). No root and no mount needed, so this runs everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_the_statement_before_it_runs() {
    let hoop = Hoop::start(Options {
        file_size_limit: Some(FILE_SIZE_LIMIT),
        ..Options::default()
    })
    .await;
    grant(
        &hoop,
        "CREATE TABLE ledger (entry text); GRANT SELECT, INSERT ON ledger TO {reader}",
    )
    .await;
    let credential = hoop.issue(&hoop.github_token(9901)).await;
    let (client, connection) = hoop.gateway_session(&credential).await.unwrap();
    client
        .simple_query("INSERT INTO ledger VALUES ('recorded')")
        .await
        .unwrap();

    let filler = "x".repeat(usize::try_from(FILE_SIZE_LIMIT).unwrap() + (1 << 20));
    let refused = format!("INSERT INTO ledger VALUES ('{filler}')");
    let error = client
        .simple_query(&refused)
        .await
        .expect_err("the statement is refused");
    let fatal = match error.as_db_error() {
        Some(db) => db.clone(),
        None => server_ending(connection).await,
    };
    assert_eq!(
        (fatal.code().code(), fatal.severity()),
        ("58030", "FATAL"),
        "{fatal}"
    );
    let entries = || async {
        hoop.db
            .client()
            .await
            .query("SELECT entry FROM ledger ORDER BY entry DESC", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries().await,
        ["recorded"],
        "the unrecorded statement did not run"
    );
    hoop.wait_sessions_ended(1).await;
    // The recording holds complete lines only: the statement before, nothing of the refused
    // one, though the kernel had taken its first part.
    let events = recording_of(&hoop, &credential.username);
    assert!(
        trace(&events).contains(&"statement INSERT INTO ledger VALUES ('recorded')".to_owned()),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.to_string().contains("xxxxxxxx")),
        "{events:?}"
    );
    assert!(
        hoop.log().contains("File too large"),
        "the recording failed on the file size limit:\n{}",
        hoop.log()
    );

    // The limit is on one file, not the spool: the next session is recorded and runs.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    client
        .simple_query("INSERT INTO ledger VALUES ('again')")
        .await
        .unwrap();
    drop(client);
    hoop.wait_sessions_ended(2).await;
    assert_eq!(entries().await, ["recorded", "again"]);
    let again = recordings_of(&hoop, &credential.username)
        .into_iter()
        .flat_map(|events| trace(&events))
        .filter(|line| line == "statement INSERT INTO ledger VALUES ('again')")
        .count();
    assert_eq!(again, 1);
}

// ---------------------------------------------------------------------------------------------
// Load

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_through_the_gateway_in_every_query_mode() {
    let hoop = Hoop::start(Options::default()).await;
    let init = Command::new(PGBENCH)
        .args([
            "-i",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            &hoop.db.name,
        ])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    grant(
        &hoop,
        "GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history \
         TO {reader}",
    )
    .await;

    // GitLab credentials: pgbench's first connection (it reads the scale) may still count
    // upstream when its two clients connect, which the 2-session main rule would refuse.
    for (run_id, mode) in [(9951, "simple"), (9952, "extended"), (9953, "prepared")] {
        let credential = hoop.issue(&hoop.gitlab_token(run_id)).await;
        let out = Command::new(PGBENCH)
            .args(["-S", "-n", "-t", "200", "-c", "2", "-M", mode])
            .envs(hoop.pg_env(&credential))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success()
                && text.contains("number of transactions actually processed: 400/400"),
            "pgbench -M {mode}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // pgbench exits once it has sent Terminate; the gateway closes the recordings after.
        hoop.wait_sessions_of_ended(&credential.username).await;
        let events: Vec<Value> = recordings_of(&hoop, &credential.username)
            .into_iter()
            .flatten()
            .collect();
        let executed = match mode {
            "simple" => of_kind(&events, "statement").len(),
            _ => of_kind(&events, "execute").len(),
        };
        assert!(executed >= 400, "-M {mode}: {executed} statements recorded");
        let parses = of_kind(&events, "parse");
        let binds = of_kind(&events, "bind");
        match mode {
            "simple" => assert!(parses.is_empty() && binds.is_empty()),
            "extended" => assert_eq!(parses.len(), 400),
            _ => assert_eq!(parses.len(), 2, "one prepared statement per client"),
        }
        if mode != "simple" {
            // pgbench binds the account id as text: recorded as it was sent.
            assert_eq!(binds.len(), 400);
            for bind in binds {
                let aid = bind["params"][0].as_str().unwrap_or_default();
                assert!(aid.parse::<u32>().is_ok(), "{bind}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_streams_to_a_stalled_reader_in_bounded_memory() {
    const ROWS: usize = 300_000;
    const WIDTH: usize = 1000;
    const PEAK_RSS_BOUND: u64 = 200 << 20;
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9961)).await;

    // COPY, because psql writes COPY data as it arrives (a SELECT result is read whole first),
    // so a reader that stops stops psql, then the gateway, then the upstream.
    let sql =
        format!("COPY (SELECT repeat('x', {WIDTH}) FROM generate_series(1, {ROWS})) TO STDOUT");
    let mut psql = hoop
        .psql_command(&credential)
        .args(["-c", &sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = psql.stdout.take().unwrap();
    let (resume, paused) = std::sync::mpsc::channel::<()>();
    let reader = tokio::task::spawn_blocking(move || {
        let (mut bytes, mut lines) = (0usize, 0usize);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = pipe.read(&mut chunk).unwrap();
            if n == 0 {
                return (bytes, lines);
            }
            if bytes < 1 << 20 && bytes + n >= 1 << 20 {
                // Stops reading after the first MiB until told to go on (or the test is over).
                let _ = paused.recv();
            }
            bytes += n;
            lines += chunk[..n].iter().filter(|&&b| b == b'\n').count();
        }
    });
    // Backpressure all the way: the upstream backend ends up waiting to write to the gateway.
    let admin = hoop.db.client().await;
    wait_until("the upstream to wait on the stalled client", || async {
        admin
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND wait_event = 'ClientWrite'",
                &[&credential.username],
            )
            .await
            .unwrap()
            .is_some()
    })
    .await;
    resume.send(()).unwrap();
    let (bytes, lines) = reader.await.unwrap();
    let status = wait_for_exit(&mut psql, "psql").await;
    let mut errors = String::new();
    psql.stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert!(status.success(), "{errors}");
    assert_eq!(lines, ROWS);
    assert_eq!(bytes, ROWS * (WIDTH + 1));

    let peak = peak_rss(hoop.pid());
    assert!(
        peak < PEAK_RSS_BOUND,
        "hoop's peak RSS was {} MiB while relaying {} MiB",
        peak >> 20,
        bytes >> 20
    );
    hoop.wait_sessions_ended(1).await;
    let events = recording_of(&hoop, &credential.username);
    assert!(trace(&events).contains(&format!("complete COPY {ROWS}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_on_one_replica_ends_the_session_on_another() {
    let hoop = Hoop::start(Options::default()).await;
    let replica = hoop.second_replica().await;
    let credential = hoop.issue(&hoop.github_token(9901)).await;
    let config = hoop.gateway_config_on(&credential, replica.gateway_port);
    let (client, connection) = config.connect(gateway_tls()).await.unwrap();
    let connection = tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();

    // Revoked through the first replica's API; the session lives on the second's gateway.
    let reply = hoop
        .revoke_with_token(&credential.id, &hoop.github_token(9901))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    let fatal = server_ending(connection).await;
    assert_eq!(fatal.code(), &SqlState::ADMIN_SHUTDOWN);
    assert!(
        fatal.message().contains("credential was revoked"),
        "{}",
        fatal.message()
    );
    assert!(client.simple_query("SELECT 1").await.is_err());
    drop(replica);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_mid_authentication_is_cut_off() {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            require_tls: Some(false),
            handshake_timeout: Some("1s"),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let credential = hoop.issue(&hoop.github_token(9951)).await;
    let mut stalled = RawClient::start(&hoop, &credential).await;
    assert!(matches!(
        stalled.next().await,
        Some(BackendMessage::Authentication(Authentication::Sasl { .. }))
    ));
    // Never answers the SASL request.
    let error = stalled
        .error_before_close()
        .await
        .expect("an error before the close");
    assert_eq!(error.severity(), Some("FATAL"), "{error:?}");
    assert!(
        error
            .message()
            .unwrap_or_default()
            .contains("authentication due to timeout"),
        "{error:?}"
    );
    // The gateway still serves others.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Masking of rows nobody described

/// A tagged message built by hand: what a minimal driver sends.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![tag];
    bytes.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn rows_of_a_portal_nobody_described_are_typed_by_the_gateway_and_masked() {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            require_tls: Some(false),
            // Without deny rules a FunctionCall message may run (the default pack refuses it).
            extra: Some("[policy]\ndefault_rules = false\n".into()),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let credential = hoop.issue(&hoop.github_token(9901)).await;
    let mut client = RawClient::login(&hoop, &credential).await;
    // Parse, Bind with binary results, Execute, Sync: no Describe anywhere.
    let sql = b"SELECT '4111111111111111'::text, 4111111111111111::int8, 7::int4\0";
    let mut batch = message(b'P', &[b"\0".as_slice(), sql, &0i16.to_be_bytes()].concat());
    let bind = [
        b"\0\0".as_slice(),
        &0i16.to_be_bytes(),
        &0i16.to_be_bytes(),
        &1i16.to_be_bytes(),
        &1i16.to_be_bytes(),
    ]
    .concat();
    batch.extend(message(b'B', &bind));
    batch.extend(message(
        b'E',
        &[b"\0".as_slice(), &0i32.to_be_bytes()].concat(),
    ));
    batch.extend(message(b'S', b""));
    client.send(&batch).await;
    let mut tags = Vec::new();
    let mut values = Vec::new();
    while let Some(frame) = client.next_frame().await {
        tags.push(frame.tag);
        if frame.tag == b'D' {
            let row = hoop_protocol::rows::decode_data_row(&frame).unwrap();
            values = row.iter().map(|v| v.map(<[u8]>::to_vec)).collect();
        }
        if frame.tag == b'Z' {
            break;
        }
    }
    // The gateway's own Describe was answered to the gateway: the client sees no RowDescription.
    assert_eq!(tags, b"12DCZ", "{}", String::from_utf8_lossy(&tags));
    assert_eq!(
        values,
        [
            Some(b"411111******1111".to_vec()),
            None,
            Some(7i32.to_be_bytes().to_vec())
        ]
    );

    // A setting echoed in ParameterStatus, and a fast-path function result (quote_literal(text),
    // OID 1283, one text argument, text result).
    let mut batch = Vec::new();
    batch.extend(message(
        b'Q',
        b"SET application_name = 'x 4111111111111111'\0",
    ));
    let pan = b"4111111111111111";
    let call = [
        &1283i32.to_be_bytes()[..],
        &1i16.to_be_bytes(),
        &0i16.to_be_bytes(),
        &1i16.to_be_bytes(),
        &(pan.len() as i32).to_be_bytes(),
        pan,
        &0i16.to_be_bytes(),
    ]
    .concat();
    batch.extend(message(b'F', &call));
    client.send(&batch).await;
    let mut seen = Vec::new();
    let mut ready = 0;
    while let Some(frame) = client.next_frame().await {
        seen.push(frame.tag);
        if frame.tag == b'E' {
            panic!(
                "the function call failed: {:?}",
                BackendMessage::decode(&frame)
            );
        }
        assert!(
            !String::from_utf8_lossy(&frame.raw).contains("4111111111111111"),
            "a {} message carried the card number",
            char::from(frame.tag)
        );
        if frame.tag == b'S' {
            let Ok(BackendMessage::ParameterStatus { name, value }) =
                BackendMessage::decode(&frame)
            else {
                panic!("not a ParameterStatus");
            };
            assert_eq!(
                (name.as_str(), value.as_str()),
                ("application_name", "x 411111******1111")
            );
        }
        if frame.tag == b'V' {
            assert!(String::from_utf8_lossy(&frame.raw).contains("411111******1111"));
        }
        if frame.tag == b'Z' {
            ready += 1;
            if ready == 2 {
                break;
            }
        }
    }
    assert!(
        seen.contains(&b'S') && seen.contains(&b'V'),
        "{}",
        String::from_utf8_lossy(&seen)
    );
}
