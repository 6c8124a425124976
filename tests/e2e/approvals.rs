//! Just-in-time approvals end to end: a statement an `approve` rule matches is held by the real
//! gateway while real clients (`psql`, tokio-postgres) wait; approvers decide through the real
//! API and the real `hoop approvals` command; the held statement runs or fails with its own
//! error, and every step is in the recording and the audit trail.

use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;

/// The approver tokens of the tests; their SHA-256 hashes go into the configuration.
const LEAD_TOKEN: &str = "hoopapr_lead-test-token";
/// The demo issuer's GitHub runs are started by `octocat`, user id 583231: this approver has
/// that id (under another login, as after a rename), so they are the actor.
const ACTOR_TOKEN: &str = "hoopapr_octocat-test-token";
/// The demo issuer's GitHub actor id.
const ACTOR_ID: u64 = 583231;

const MIGRATION: &str = "ALTER TABLE payments ADD COLUMN note text";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The shared key of the webhook the first test receives.
const WEBHOOK_SECRET: &str = "webhook-test-secret-0123456789";

/// `[[rules]]` holding changes of `payments`, and two approvers, with `timeout`.
fn policy(timeout: &str) -> String {
    policy_with(timeout, "")
}

fn policy_with(timeout: &str, notify: &str) -> String {
    format!(
        r#"
[policy]
protected_tables = ["cards"]

[[rules]]
id = "payments-migrations"
action = "approve"
reason = "schema changes of payments need a second pair of eyes"
kinds = ["alter", "delete"]
tables = ["payments"]

[approvals]
timeout = "{timeout}"
notice_interval = "1s"

[[approvals.approvers]]
name = "lead"
token_sha256 = "{lead}"
github_id = 100
gitlab_id = 200
github_login = "lead-gh"
gitlab_login = "lead-gl"

[[approvals.approvers]]
name = "octo"
token_sha256 = "{actor}"
github_id = {ACTOR_ID}
github_login = "octocat-renamed"

{notify}
"#,
        lead = sha256_hex(LEAD_TOKEN),
        actor = sha256_hex(ACTOR_TOKEN),
    )
}

async fn start(timeout: &str) -> Hoop {
    start_with(policy(timeout)).await
}

async fn start_with(extra: String) -> Hoop {
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some(extra),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    hoop.db
        .client()
        .await
        .batch_execute(&format!(
            "CREATE TABLE payments (id int PRIMARY KEY, amount numeric);
             INSERT INTO payments VALUES (1, 10), (2, 20), (3, 30);
             CREATE TABLE cards (id int PRIMARY KEY, pan text);
             ALTER TABLE payments OWNER TO {r};
             GRANT ALL ON cards TO {r};",
            r = hoop.db.reader
        ))
        .await
        .unwrap();
    hoop
}

/// The approvals API of `api` as `token`.
struct Approver<'a> {
    api: &'a str,
    token: &'a str,
    http: reqwest::Client,
}

impl<'a> Approver<'a> {
    fn new(api: &'a str, token: &'a str) -> Self {
        Approver {
            api,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(self.token)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.api))
            .bearer_auth(self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Waits for exactly one pending approval and returns it.
    async fn pending(&self) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get("/v1/approvals").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if let Some([one]) = body["approvals"].as_array().map(Vec::as_slice) {
                return one.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no single pending approval: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn state_of(&self, id: &str) -> String {
        let (status, body) = self.get(&format!("/v1/approvals/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["state"].as_str().unwrap().to_owned()
    }
}

/// `psql -c sql` started in the background, its output collected.
fn spawn_psql(hoop: &Hoop, credential: &Credential, sql: &str) -> Child {
    hoop.psql_command(credential)
        .args(["-c", sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn output_of(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// `hoop approvals <args>` against `api` with `token`.
fn approvals_cli(api: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoop"))
        .arg("approvals")
        .args(args)
        .args(["--url", api])
        .env("HOOP_APPROVER_TOKEN", token)
        .output()
        .unwrap()
}

async fn column_exists(hoop: &Hoop, column: &str) -> bool {
    hoop.db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_name = 'payments' AND column_name = $1",
            &[&column],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 1
}

fn events_of(hoop: &Hoop, username: &str) -> Vec<Value> {
    hoop.recordings()
        .iter()
        .map(|p| {
            hoop::recording::verify(p).unwrap();
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

/// What the webhook receiver got: each request's signature header and raw body.
type Deliveries = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback.
async fn webhook_receiver() -> (String, Deliveries) {
    let seen: Deliveries = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let signature = headers
                    .get("x-hoop-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock().unwrap().push((signature, body.to_vec()));
                StatusCode::NO_CONTENT
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_held_migration_runs_once_an_approver_approves_it_with_the_cli() {
    let (hook, delivered) = webhook_receiver().await;
    let notify = format!(
        "[approvals.notify]\nbackoff = \"100ms\"\n\n[approvals.notify.webhook]\nurl = {hook:?}\nsecret = {WEBHOOK_SECRET:?}\n"
    );
    let hoop = start_with(policy_with("2m", &notify)).await;
    let credential = hoop.issue(&hoop.github_token(9301)).await;
    let psql = spawn_psql(&hoop, &credential, MIGRATION);
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let pending = lead.pending().await;
    let id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["rule"], "payments-migrations");
    assert_eq!(pending["statement"], MIGRATION);
    assert_eq!(pending["run"]["run_id"], "9301");
    assert_eq!(pending["run"]["actor"], "octocat");
    assert!(!column_exists(&hoop, "note").await, "ran before approval");

    // The webhook was told, with a body signed by the shared key.
    wait_until("the webhook delivery", || async {
        !delivered.lock().unwrap().is_empty()
    })
    .await;
    let (signature, body) = delivered.lock().unwrap()[0].clone();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let expected: String = aws_lc_rs::hmac::sign(&key, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(signature, format!("sha256={expected}"));
    let notice: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(notice["event"], "approval.requested");
    assert_eq!(notice["approval_id"], json!(id));
    assert_eq!(notice["statement"], MIGRATION);
    assert!(notice["approve_command"].as_str().unwrap().contains(&id));

    let shown = approvals_cli(&hoop.api, LEAD_TOKEN, &["show", &id]);
    let text = stdout_of(&shown);
    assert!(shown.status.success() && text.contains(MIGRATION), "{text}");
    let approved = approvals_cli(&hoop.api, LEAD_TOKEN, &["approve", &id, "--comment", "ok"]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );

    let out = output_of(psql).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The client was told what it waits for, and how an approver approves.
    assert!(
        stderr.contains(&format!("hoop approval {id}: statement held for approval"))
            && stderr.contains("hoop approvals approve"),
        "{stderr}"
    );
    assert!(column_exists(&hoop, "note").await);
    assert_eq!(lead.state_of(&id).await, "approved");

    // Approved once: the same statement is held again.
    let again = spawn_psql(
        &hoop,
        &credential,
        "ALTER TABLE payments ADD COLUMN other text",
    );
    let second = lead.pending().await;
    assert_ne!(second["id"], pending["id"]);
    let (status, _) = lead
        .post(
            &format!("/v1/approvals/{}/deny", second["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!output_of(again).await.status.success());

    hoop.wait_sessions_of_ended(&credential.username).await;
    let events = events_of(&hoop, &credential.username);
    let statement = events
        .iter()
        .find(|e| e["kind"] == "statement" && e["sql"] == MIGRATION)
        .unwrap();
    assert_eq!(statement["decision"], "approve");
    assert_eq!(statement["rule"], "payments-migrations");
    let decided: Vec<&Value> = events.iter().filter(|e| e["kind"] == "approval").collect();
    assert_eq!(decided.len(), 2, "{decided:?}");
    assert_eq!(
        (
            &decided[0]["outcome"],
            &decided[0]["by"],
            &decided[0]["approval_id"]
        ),
        (&json!("approved"), &json!("lead"), &json!(id))
    );
    assert_eq!(decided[1]["outcome"], "denied");
    // The approval event precedes the statement's completion.
    let approval_at = events.iter().position(|e| e["kind"] == "approval").unwrap();
    assert!(
        events[approval_at..]
            .iter()
            .any(|e| e["kind"] == "complete" && e["tag"] == "ALTER TABLE")
    );
    for code in ["requested", "approved", "denied"] {
        assert!(
            !hoop.db.audit_events(code).await.is_empty(),
            "no {code} audit event"
        );
    }
}

#[tokio::test]
async fn a_denied_statement_fails_with_its_own_error_and_the_session_goes_on() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9302)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let decider = async {
        let pending = lead.pending().await;
        let id = pending["id"].as_str().unwrap().to_owned();
        let (status, body) = lead
            .post(
                &format!("/v1/approvals/{id}/deny"),
                json!({"comment": "not during the freeze"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "denied");
        id
    };
    // tokio-postgres speaks the extended protocol: the hold is at Parse.
    let (held, id) = tokio::join!(
        client.execute("DELETE FROM payments WHERE id = $1", &[&1i32]),
        decider
    );
    let e = held.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE);
    assert_eq!(
        db.message(),
        format!("hoop approval {id} was denied by lead")
    );
    assert_eq!(db.detail(), Some("not during the freeze"));
    assert!(db.where_().is_none(), "the DO block's context leaked");
    // The session is usable, the row is still there, and a denied approval cannot be revived.
    let rows: i64 = client
        .query_one("SELECT count(*) FROM payments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 3);
    let (status, body) = lead
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_pending");

    // Inside a transaction block a refused held statement aborts the transaction, as any
    // failed statement does.
    client.batch_execute("BEGIN").await.unwrap();
    let (held, _) = tokio::join!(
        client.batch_execute("DELETE FROM payments WHERE id = 2"),
        async {
            let pending = lead.pending().await;
            let id = pending["id"].as_str().unwrap().to_owned();
            lead.post(&format!("/v1/approvals/{id}/deny"), json!({}))
                .await
        }
    );
    assert_eq!(
        held.unwrap_err().code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let aborted = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(aborted.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    client.batch_execute("ROLLBACK").await.unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn an_undecided_hold_times_out_and_reminds_the_client_while_it_waits() {
    let hoop = start("3s").await;
    let credential = hoop.issue(&hoop.github_token(9303)).await;
    let out = hoop.psql(&credential, &["-c", MIGRATION]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("timed out after 3s: nobody approved the statement"),
        "{stderr}"
    );
    // Reminded every second while it waited.
    let reminders = stderr.matches("statement held for approval").count();
    assert!(reminders >= 2, "{reminders} notices: {stderr}");
    assert!(!column_exists(&hoop, "note").await);
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let (_, body) = lead.get("/v1/approvals?state=all").await;
    let all = body["approvals"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["state"], "expired");
    // Too late: an expired approval cannot be approved.
    let (status, _) = lead
        .post(
            &format!("/v1/approvals/{}/approve", all[0]["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!hoop.db.audit_events("expired").await.is_empty());
}

#[tokio::test]
async fn cancelling_or_disconnecting_withdraws_the_request() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9304)).await;
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);

    // A cancel (the client's CancelRequest, as psql's Ctrl-C sends it).
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let cancel = client.cancel_token();
    let (held, id) = tokio::join!(client.batch_execute(MIGRATION), async {
        let pending = lead.pending().await;
        cancel.cancel_query(gateway_tls()).await.unwrap();
        pending["id"].as_str().unwrap().to_owned()
    });
    let e = held.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::QUERY_CANCELED);
    assert!(db.message().contains("withdrawn"), "{}", db.message());
    // psql would print an empty hint as a bare `HINT:` line.
    assert!(
        db.hint()
            .is_some_and(|h| h.contains("run the statement again")),
        "{:?}",
        db.hint()
    );
    assert!(db.detail().is_some_and(|d| !d.trim().is_empty()));
    assert_eq!(lead.state_of(&id).await, "withdrawn");
    client.batch_execute("SELECT 1").await.unwrap();
    assert!(!column_exists(&hoop, "note").await);

    // A client that goes away.
    let mut psql = spawn_psql(&hoop, &credential, MIGRATION);
    let pending = lead.pending().await;
    psql.kill().unwrap();
    let _ = psql.wait();
    let id = pending["id"].as_str().unwrap().to_owned();
    wait_until("the request to be withdrawn", || async {
        lead.state_of(&id).await == "withdrawn"
    })
    .await;
    let (status, _) = lead
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!column_exists(&hoop, "note").await);
    assert!(hoop.db.audit_events("withdrawn").await.len() >= 2);
}

/// `hoop approvals <args>` with its standard output a pipe whose reader is gone before
/// anything is written (`hoop approvals list | head -1` once head has its line); returns the
/// exit status and stderr.
fn approvals_cli_into_closed_pipe(api: &str, token: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoop"))
        .arg("approvals")
        .args(args)
        .args(["--url", api])
        .env("HOOP_APPROVER_TOKEN", token)
        .env_remove("HOOP_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The only reader of the pipe goes away: every write gets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of the first `HINT:` line of a notice in psql's stderr.
fn notice_hint(stderr: &str) -> &str {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("HINT:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no HINT in {stderr}"))
}

#[tokio::test]
async fn an_approver_follows_the_notice_to_a_page_and_reads_the_whole_statement() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9310)).await;
    // A harmless start, a long comment, and a dangerous end.
    let padding = "x".repeat(4_800);
    let statement = format!("SELECT 1 /* {padding} */; DELETE FROM payments");
    let psql = spawn_psql(&hoop, &credential, &statement);
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let pending = lead.pending().await;
    let id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["statement"], statement);

    // `list` shows its start and its end, and how much is elided between them.
    let listed = stdout_of(&approvals_cli(&hoop.api, LEAD_TOKEN, &["list"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("no row of {id}: {listed}"));
    assert!(row.contains("SELECT 1 /* xxx"), "{row}");
    assert!(row.ends_with("xxx */; DELETE FROM payments"), "{row}");
    assert!(row.contains(" bytes elided⟩ … "), "{row}");
    assert!(
        listed.contains("`hoop approvals show <id>` prints all of it"),
        "{listed}"
    );
    // `show` prints all of it.
    let shown = stdout_of(&approvals_cli(&hoop.api, LEAD_TOKEN, &["show", &id]));
    assert!(shown.contains(&statement), "{shown}");

    // A reader that goes away ends the output, not the command.
    let show = ["show", id.as_str()];
    let show_json = ["show", id.as_str(), "--json"];
    let commands: [&[&str]; 5] = [
        &["list"],
        &["list", "--json"],
        &show,
        &show_json,
        &["token"],
    ];
    for args in commands {
        let (code, stderr) = approvals_cli_into_closed_pipe(&hoop.api, LEAD_TOKEN, args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }

    let (status, _) = lead
        .post(&format!("/v1/approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let out = output_of(psql).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);

    // The notice's hint links to a page a browser can show, without a token.
    let hint = notice_hint(&stderr);
    let url = hint
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/approvals/"))
        .unwrap_or_else(|| panic!("no URL in the hint: {hint}"))
        .trim_end_matches([')', ';', '.']);
    assert_eq!(url, format!("{}/approvals/{id}", hoop.api), "{hint}");
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let body = page.text().await.unwrap();
    for part in [
        format!("hoop approvals show {id}"),
        format!("hoop approvals approve {id}"),
        format!("hoop approvals deny {id}"),
        "--comment".to_owned(),
        "hoop approvals token".to_owned(),
        "dashboard".to_owned(),
    ] {
        assert!(body.contains(&part), "{part} missing from {body}");
    }
    // Nothing an approver token protects: not the statement, not the run.
    for secret in [
        "DELETE FROM payments",
        "xxxx",
        "octocat",
        "9310",
        "payments-migrations",
    ] {
        assert!(!body.contains(secret), "{secret} shown on {body}");
    }

    // A bad id is a 404 page, whatever it holds, escaped.
    for bad in [
        "not-an-id".to_owned(),
        id.to_uppercase(),
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
    ] {
        let page = reqwest::get(format!("{}/approvals/{bad}", hoop.api))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(
            page.headers()["content-security-policy"],
            headers["content-security-policy"]
        );
        let body = page.text().await.unwrap();
        assert!(body.contains("is not an approval id"), "{bad}: {body}");
        assert!(!body.contains("<script>"), "{bad}: {body}");
    }

    // The JSON API is where it was, and still wants a token.
    let api = reqwest::get(format!("{}/v1/approvals/{id}", hoop.api))
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let error: Value = api.json().await.unwrap();
    assert_eq!(error["error"]["code"], "missing_token");
    assert_eq!(lead.state_of(&id).await, "denied");
}

#[tokio::test]
async fn the_runs_actor_cannot_approve_and_strangers_are_refused() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9305)).await;
    // A comment a terminal would show reversed, and a zero-width space: the approver sees
    // both escaped, in the API's display fields and in `hoop approvals show` and `list`.
    let sneaky = format!("{MIGRATION} -- \u{202e}eton\u{202c} ok\u{200b}");
    let psql = spawn_psql(&hoop, &credential, &sneaky);
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let pending = lead.pending().await;
    let id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["statement"], sneaky, "the raw field is exact");
    let escaped = format!("{MIGRATION} -- \\u{{202e}}eton\\u{{202c}} ok\\u{{200b}}");
    assert_eq!(pending["display"]["statement"], escaped);
    assert_eq!(pending["display"]["run"]["actor"], "octocat");
    assert_eq!(pending["run"]["actor_id"], ACTOR_ID.to_string());
    for args in [vec!["show", id.as_str()], vec!["list"]] {
        let shown = approvals_cli(&hoop.api, LEAD_TOKEN, &args);
        let stdout = String::from_utf8_lossy(&shown.stdout);
        assert!(shown.status.success(), "{args:?}: {stdout}");
        // `list` shows this short statement whole, its hidden characters escaped.
        assert!(stdout.contains(" -- \\u{202e}et"), "{args:?}: {stdout}");
        assert!(
            !stdout.contains(['\u{202e}', '\u{202c}', '\u{200b}']),
            "{args:?}: {stdout}"
        );
    }

    // octocat started the run: dual control refuses their approval, by their user id although
    // their configured login differs, with the CLI too.
    let actor = Approver::new(&hoop.api, ACTOR_TOKEN);
    let (status, body) = actor
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "dual_control");
    let cli = approvals_cli(&hoop.api, ACTOR_TOKEN, &["approve", &id]);
    assert!(!cli.status.success());
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("dual_control"),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(lead.state_of(&id).await, "pending");
    assert_eq!(hoop.db.audit_events("dual_control").await.len(), 2);

    // No token, or a token that is not an approver's.
    let stranger = Approver::new(&hoop.api, "hoopapr_guess");
    let (status, body) = stranger
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = stranger.get("/v1/approvals").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let anonymous = reqwest::Client::new()
        .get(format!("{}/v1/approvals", hoop.api))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(hoop.db.audit_events("unknown_approver").await.len(), 2);
    assert_eq!(hoop.db.audit_events("missing_token").await.len(), 1);

    // Another approver decides; the statement runs.
    let (status, _) = lead
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(output_of(psql).await.status.success());
    assert!(column_exists(&hoop, "note").await);
}

#[tokio::test]
async fn an_approval_on_another_replica_releases_the_statement() {
    let hoop = start("2m").await;
    let second = hoop.second_replica().await;
    let credential = hoop.issue(&hoop.github_token(9306)).await;
    let psql = spawn_psql(&hoop, &credential, MIGRATION);
    let on_second = Approver::new(&second.api, LEAD_TOKEN);
    let pending = on_second.pending().await;
    assert_eq!(pending["replica"], "e2e");
    let (status, body) = on_second
        .post(
            &format!("/v1/approvals/{}/approve", pending["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = output_of(psql).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(column_exists(&hoop, "note").await);
}

#[tokio::test]
async fn a_run_wide_approval_covers_the_same_fingerprint_for_that_run_only() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9307)).await;
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let psql = spawn_psql(&hoop, &credential, "DELETE FROM payments WHERE id = 1");
    let pending = lead.pending().await;
    let cli = approvals_cli(
        &hoop.api,
        LEAD_TOKEN,
        &["approve", pending["id"].as_str().unwrap(), "--for-run"],
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(output_of(psql).await.status.success());

    // Same run, another session, other constants: runs without a hold.
    let out = hoop.psql(&credential, &["-c", "DELETE FROM payments WHERE id = 2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another statement shape is held again; so is the same statement in another run.
    let other_run = hoop.issue(&hoop.github_token(9308)).await;
    let held = spawn_psql(&hoop, &other_run, "DELETE FROM payments WHERE id = 3");
    let pending = lead.pending().await;
    assert_eq!(pending["run"]["run_id"], "9308");
    lead.post(
        &format!("/v1/approvals/{}/deny", pending["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert!(!output_of(held).await.status.success());

    // A re-run (attempt 2) of the approved run is not covered: whoever re-ran it (possibly the
    // approver) is not in its token. Nobody can decide it either; the client gives up.
    let mut claims = hoop.github_claims(9307);
    claims["run_attempt"] = json!("2");
    let rerun = hoop.issue(&hoop.github.mint(&claims)).await;
    let mut held = spawn_psql(&hoop, &rerun, "DELETE FROM payments WHERE id = 3");
    let pending = lead.pending().await;
    assert_eq!(
        (&pending["run"]["run_id"], &pending["run"]["attempt"]),
        (&json!("9307"), &json!(2))
    );
    let id = pending["id"].as_str().unwrap().to_owned();
    let (status, body) = lead
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "dual_control_unknown");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("re-run")),
        "{body}"
    );
    held.kill().unwrap();
    let _ = output_of(held).await;
    wait_until("the re-run's request withdrawn", || async {
        lead.state_of(&id).await == "withdrawn"
    })
    .await;

    let left: i64 = hoop
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM payments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);

    hoop.wait_sessions_of_ended(&credential.username).await;
    let events = events_of(&hoop, &credential.username);
    let covered: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "approval" && e["outcome"] == "covered")
        .collect();
    assert_eq!(covered.len(), 1, "{events:?}");
}

#[tokio::test]
async fn without_approvers_a_default_pack_hold_is_a_denial() {
    // No [approvals]: the default pack's hold on bodies naming protected tables denies.
    let hoop = Hoop::start(Options {
        gateway: GatewaySettings {
            extra: Some("[policy]\nprotected_tables = [\"cards\"]\n".into()),
            ..GatewaySettings::default()
        },
        ..Options::default()
    })
    .await;
    let credential = hoop.issue(&hoop.github_token(9309)).await;
    let out = hoop.psql(
        &credential,
        &["-c", "DO LANGUAGE plperl $$ my $t = 'cards'; $$"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("rule default.opaque-body-protected") && stderr.contains("has none"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_prepared_statement_approved_once_runs_once() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9310)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    // The approver sees `$1`, not the values: one approval, one execution.
    let (prepared, _) = tokio::join!(
        client.prepare("DELETE FROM payments WHERE id = $1"),
        async {
            let pending = lead.pending().await;
            assert_eq!(pending["statement"], "DELETE FROM payments WHERE id = $1");
            lead.post(
                &format!("/v1/approvals/{}/approve", pending["id"].as_str().unwrap()),
                json!({}),
            )
            .await
        }
    );
    let statement = prepared.unwrap();
    assert_eq!(client.execute(&statement, &[&1i32]).await.unwrap(), 1);
    let again = client.execute(&statement, &[&2i32]).await.unwrap_err();
    let db = again.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE);
    assert!(
        db.message()
            .contains("approved one execution of this statement"),
        "{}",
        db.message()
    );
    let left: i64 = client
        .query_one("SELECT count(*) FROM payments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 2);
}

async fn payments_left(hoop: &Hoop) -> i64 {
    hoop.db
        .client()
        .await
        .query_one("SELECT count(*) FROM payments", &[])
        .await
        .unwrap()
        .get(0)
}

/// The statement name the client gave the (last) Parse of `sql`, from the session's recording,
/// which is written before anything is forwarded.
fn parsed_name(hoop: &Hoop, username: &str, sql: &str) -> String {
    hoop.recordings()
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .filter(|e| e["kind"] == "parse" && e["sql"] == sql)
        .filter_map(|e| e["statement"].as_str().map(str::to_owned))
        .next_back()
        .unwrap_or_else(|| panic!("no parse of {sql} by {username}"))
}

/// Every way SQL can name a prepared statement, for `name` with one integer parameter.
fn sql_executions(name: &str) -> Vec<String> {
    vec![
        format!("EXECUTE {name}(2)"),
        format!("EXECUTE \"{name}\"(2)"),
        format!("EXPLAIN ANALYZE EXECUTE {name}(2)"),
        format!("CREATE TEMP TABLE copied AS EXECUTE {name}(2)"),
        format!("SELECT 1; EXECUTE {name}(2)"),
        format!("BEGIN; EXECUTE {name}(2); COMMIT"),
        format!("DEALLOCATE {name}"),
    ]
}

/// A DO block that executes every prepared statement of the session it can find with one
/// integer parameter (the approved statement's shape): what a
/// function or DO block the gateway cannot see into could do.
const EXECUTE_EVERYTHING: &str = "DO $$ DECLARE n text; BEGIN \
     FOR n IN SELECT name FROM pg_prepared_statements \
       WHERE parameter_types = '{integer}'::regtype[] LOOP \
       EXECUTE format('EXECUTE %I(2)', n); EXECUTE format('EXECUTE %I(3)', n); \
     END LOOP; END $$";

#[tokio::test]
async fn a_statement_approved_once_through_the_protocol_cannot_be_reached_from_sql() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9311)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let (prepared, _) = tokio::join!(
        client.prepare("DELETE FROM payments WHERE id = $1"),
        async {
            let pending = lead.pending().await;
            lead.post(
                &format!("/v1/approvals/{}/approve", pending["id"].as_str().unwrap()),
                json!({}),
            )
            .await
        }
    );
    let statement = prepared.unwrap();
    let name = parsed_name(
        &hoop,
        &credential.username,
        "DELETE FROM payments WHERE id = $1",
    );
    // Before its one execution: SQL cannot see or run it, under its name or any other.
    for sql in sql_executions(&name) {
        let e = client.batch_execute(&sql).await.unwrap_err();
        assert_eq!(
            e.code(),
            Some(&SqlState::UNDEFINED_PSTATEMENT),
            "{sql}: {e:?}"
        );
        client.batch_execute("ROLLBACK").await.unwrap();
    }
    // A block that runs every prepared statement it can list: the default pack refuses
    // dynamic SQL, and were it allowed, the approved statement is not there to be found.
    if let Err(e) = client.batch_execute(EXECUTE_EVERYTHING).await {
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    }
    let visible: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements \
             WHERE parameter_types = '{integer}'::regtype[]",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        visible, 0,
        "the approved statement exists upstream between messages"
    );
    assert_eq!(payments_left(&hoop).await, 3);

    // DEALLOCATE ALL does not lose the approval, nor does it give a second one.
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    // Its one execution, and a second Bind pipelined behind it.
    let (once, twice) = tokio::join!(
        client.execute(&statement, &[&1i32]),
        client.execute(&statement, &[&2i32])
    );
    assert_eq!(once.unwrap(), 1);
    let e = twice.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert!(
        e.as_db_error()
            .unwrap()
            .message()
            .contains("approved one execution"),
        "{e:?}"
    );
    // After it: still nothing for SQL to run.
    // A block that runs every prepared statement it can list: the default pack refuses
    // dynamic SQL, and were it allowed, the approved statement is not there to be found.
    if let Err(e) = client.batch_execute(EXECUTE_EVERYTHING).await {
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    }
    for sql in sql_executions(&name) {
        assert!(client.batch_execute(&sql).await.is_err(), "{sql}");
        client.batch_execute("ROLLBACK").await.unwrap();
    }
    assert!(client.execute(&statement, &[&3i32]).await.is_err());
    assert_eq!(payments_left(&hoop).await, 2);
    // The session is fine, and the same text prepared again is held again.
    let (again, _) = tokio::join!(
        client.prepare("DELETE FROM payments WHERE id = $1"),
        async {
            let pending = lead.pending().await;
            lead.post(
                &format!("/v1/approvals/{}/deny", pending["id"].as_str().unwrap()),
                json!({}),
            )
            .await
        }
    );
    assert_eq!(
        again.unwrap_err().code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert_eq!(payments_left(&hoop).await, 2);
}

/// A parameter the client accepts for any type and the server refuses for an int4.
#[derive(Debug)]
struct NotAnInt;

impl tokio_postgres::types::ToSql for NotAnInt {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(b"xy");
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[tokio::test]
async fn an_approved_statement_whose_bind_fails_leaves_nothing_behind() {
    // A Bind that fails makes the upstream skip the gateway's Close up to the next Sync; the
    // gateway closes the private statement again right after that Sync.
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9312)).await;
    let client = hoop.connect_gateway(&credential).await.unwrap();
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let (prepared, _) = tokio::join!(
        client.prepare_typed("DELETE FROM payments WHERE id = $1::int", &[]),
        async {
            let pending = lead.pending().await;
            lead.post(
                &format!("/v1/approvals/{}/approve", pending["id"].as_str().unwrap()),
                json!({}),
            )
            .await
        }
    );
    let statement = prepared.unwrap();
    // Two bytes are no binary int4: the Bind fails upstream.
    let e = client.execute(&statement, &[&NotAnInt]).await.unwrap_err();
    assert!(e.code().is_some(), "{e:?}");
    // A block that runs every prepared statement it can list: the default pack refuses
    // dynamic SQL, and were it allowed, the approved statement is not there to be found.
    if let Err(e) = client.batch_execute(EXECUTE_EVERYTHING).await {
        assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    }
    let visible: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements \
             WHERE parameter_types = '{integer}'::regtype[]",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(visible, 0);
    assert_eq!(payments_left(&hoop).await, 3);
}

#[tokio::test]
async fn a_held_statement_cannot_be_prepared_with_sql_so_each_execution_is_held() {
    let hoop = start("2m").await;
    let credential = hoop.issue(&hoop.github_token(9313)).await;
    for sql in [
        "PREPARE p AS DELETE FROM payments WHERE id = 1",
        "PREPARE p (int) AS DELETE FROM payments WHERE id = $1; EXECUTE p(1); EXECUTE p(2)",
        "PREPARE p AS WITH gone AS (DELETE FROM payments RETURNING 1) SELECT count(*) FROM gone",
    ] {
        let out = hoop.psql(&credential, &["-c", sql]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql}");
        assert!(
            stderr.contains("rule payments-migrations")
                && stderr.contains("cannot be prepared with SQL PREPARE"),
            "{sql}: {stderr}"
        );
    }
    // Refused at once: no approval was even requested.
    let lead = Approver::new(&hoop.api, LEAD_TOKEN);
    let (_, body) = lead.get("/v1/approvals?state=all").await;
    assert_eq!(body["approvals"].as_array().unwrap().len(), 0, "{body}");
    assert_eq!(payments_left(&hoop).await, 3);
    // Each execution of the statement itself is held: two in one session, two approvals.
    let client = hoop.connect_gateway(&credential).await.unwrap();
    for id in [1, 2] {
        let sql = format!("DELETE FROM payments WHERE id = {id}");
        let (ran, _) = tokio::join!(client.batch_execute(&sql), async {
            let pending = lead.pending().await;
            lead.post(
                &format!("/v1/approvals/{}/approve", pending["id"].as_str().unwrap()),
                json!({}),
            )
            .await
        });
        ran.unwrap();
    }
    assert_eq!(payments_left(&hoop).await, 1);
}
