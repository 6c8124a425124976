//! Replicas under load, with faults: three real `hoop serve` replicas share one state database
//! and one archive store (moto S3 with Object Lock), and concurrent clients drive statements
//! through their gateways (TLS, SCRAM, tokio-postgres) while the test
//!
//! 1. SIGKILLs one replica mid-load and starts it again with the same name and spool (it closes
//!    the recordings the crash cut short as `terminated` and archives them),
//! 2. makes the archive store unreachable for `HOOP_LOAD_OUTAGE_SECS` (default 30 s),
//! 3. restarts the state database once (`pg_ctl restart -m fast`),
//!
//! then revokes every credential at once, at full concurrency, while each client's session is
//! still running statements. Afterwards it proves from the archives that `hoop archive verify
//! --store` accepts (signatures, hashes, every replica's digest chain continuous, Object Lock)
//! that every statement a client saw succeed is recorded exactly once, in the session it ran in,
//! and every statement that reached the upstream too; that every session a client opened is
//! archived once, ended or terminated; that no card number is in any archive; that the audit
//! trail counts the exchanges, sessions, refusals, approvals and revocations the clients saw;
//! and that every revocation answered 204 or 202, its role is gone and its sessions ended.
//!
//! Each client (`HOOP_LOAD_SESSIONS`, default 200) exchanges its own run's token, keeps one
//! session open at all times, and runs `HOOP_LOAD_STATEMENTS` tagged statements over sessions
//! of `HOOP_LOAD_SESSION_LENGTH` (default 100) statements each, ended at staggered points and
//! each opened on the next replica: INSERTs in the extended protocol (the tag a bind
//! parameter), SELECTs in the simple protocol, a SELECT of a card number every tenth (the client
//! must see it masked), a DELETE a `[[rules]]` deny refuses every fiftieth, and one INSERT an
//! `approve` rule holds until the test, as an approver, approves it through the API. A session
//! a fault ends is followed by a new one on the next replica, with the same credential.
//!
//! Scale: the issue asks for 200 concurrent sessions × 1,000 statements. On a 2-core machine
//! with the debug build that runs at 420-640 statements/s (depending on what else runs) and
//! takes 7-11 minutes in all, so the default here is 200 × 200 (about 3 minutes); run the full
//! scale with `HOOP_LOAD_STATEMENTS=1000`. The load lasts at least that many statements per
//! client, and until the last fault is over. The figures (sessions/s, statements/s, p50/p99 statement
//! latency, archive lag, revocation times, and what the clients saw during each fault) are
//! printed to stdout:
//! `HOOP_LOAD_STATEMENTS=1000 cargo nextest run -p hoop --test e2e replicas::three --no-capture`.
//!
//! Every database is the test's own: the state database and the upstream are private clusters
//! (`support::cluster`, started with `initdb`/`pg_ctl` on free loopback ports), so restarting
//! the state database disturbs no other test, and 200 sessions fit under the upstream's
//! connection limit. All traffic is on loopback.
//!
//! The module also holds the focused tests of what the load found: an audit event written
//! while the state database restarts is stored once it is back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;
use crate::support::leaks::{archive_events, assert_no_leak, files_under, without_links};
use crate::support::s3::S3Server;
use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hoop::identity::issuer::DemoIssuer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

const BUCKET: &str = "hoop-load";
const REPLICAS: [&str; 3] = ["load-a", "load-b", "load-c"];
/// The replica the test kills.
const KILLED: usize = 1;
const STATE_DATABASE: &str = "hoop_state";
const DATABASE: &str = "load";
const READER: &str = "load_reader";
const LOAD_REPOSITORY: &str = "acme/load";
const LOAD_REPOSITORY_ID: u64 = 4004;
/// Sessions one credential may hold: the one in use, and room for a replacement while the
/// upstream still counts a killed replica's backend.
const LOAD_MAX_SESSIONS: u32 = 4;
const APPROVER_TOKEN: &str = "hoopapr_load-approver-token";
const DENY_RULE: &str = "load-no-deletes";
const HOLD_RULE: &str = "load-held-writes";
const CARD: &str = "4111111111111111";
const MASKED_CARD: &str = "411111******1111";
/// Longest a statement may take before the client counts it as hung (a held one waits for the
/// approver, through the faults).
const STATEMENT_LIMIT: Duration = Duration::from_secs(60);
const HELD_LIMIT: Duration = Duration::from_secs(240);
/// How long a client keeps trying to open a session before it gives up.
const RECONNECT_LIMIT: Duration = Duration::from_secs(120);
/// Bound on every wait after the load: revocations completing, archives landing.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);
/// How long after a fault's recovery its effects are still counted as its own.
const FAULT_SETTLE: Duration = Duration::from_secs(5);

/// The scale, from the environment.
#[derive(Clone, Copy, Debug)]
struct Scale {
    clients: usize,
    statements: usize,
    session_length: usize,
    outage: Duration,
}

impl Scale {
    fn from_env() -> Scale {
        let var = |name: &str, default: usize| -> usize {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}={v:?} is not a count: {e}")),
                Err(_) => default,
            }
        };
        let scale = Scale {
            clients: var("HOOP_LOAD_SESSIONS", 200),
            statements: var("HOOP_LOAD_STATEMENTS", 200),
            session_length: var("HOOP_LOAD_SESSION_LENGTH", 100),
            outage: Duration::from_secs(var("HOOP_LOAD_OUTAGE_SECS", 30) as u64),
        };
        assert!(scale.clients >= 3, "HOOP_LOAD_SESSIONS must be at least 3");
        assert!(
            scale.statements >= 100,
            "HOOP_LOAD_STATEMENTS must be at least 100"
        );
        assert!(scale.session_length >= 10, "HOOP_LOAD_SESSION_LENGTH >= 10");
        scale
    }
}

// ---------------------------------------------------------------------------------------------
// What a statement is

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// INSERT in the extended protocol; the tag is a bind parameter.
    Insert,
    /// SELECT of its tag in the simple protocol.
    Select,
    /// SELECT of a card number: the client must see it masked.
    Masked,
    /// DELETE, refused by the deny rule (42501).
    Denied,
    /// INSERT held by the approve rule until the test approves it.
    Held,
    /// After the load: SELECTs until revocation ends the session.
    Tail,
}

/// The kind of client `client`'s statement `n` of `total`: one held statement per client,
/// spread over the middle half of the run.
fn kind_of(client: usize, n: usize, total: usize) -> Kind {
    if n == total / 4 + (client * 7) % (total / 2) {
        Kind::Held
    } else if n % 50 == 25 {
        Kind::Denied
    } else if n % 10 == 5 {
        Kind::Masked
    } else if n.is_multiple_of(2) {
        Kind::Insert
    } else {
        Kind::Select
    }
}

/// What the client saw of one statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Saw {
    Ok,
    /// An error with this SQLSTATE.
    Refused(String),
    /// The connection failed under it (no SQLSTATE).
    Lost,
    /// No answer within the limit.
    Hung,
    /// It succeeded with the wrong answer (an unmasked card, a refused statement that ran).
    Wrong(String),
}

impl Saw {
    fn label(&self) -> String {
        match self {
            Saw::Ok => "ok".into(),
            Saw::Refused(code) => format!("refused {code}"),
            Saw::Lost => "connection lost".into(),
            Saw::Hung => "hung".into(),
            Saw::Wrong(what) => format!("WRONG: {what}"),
        }
    }
}

#[derive(Clone, Debug)]
struct Statement {
    tag: String,
    kind: Kind,
    /// The session (application_name) it was sent on.
    session: String,
    replica: usize,
    /// When it was answered, since the load started.
    at: Duration,
    latency: Duration,
    saw: Saw,
    /// The error as the client saw it, for the report.
    error: Option<String>,
}

/// A session a client opened (the gateway accepted it).
#[derive(Clone, Debug)]
struct Opened {
    name: String,
    replica: usize,
    at: Duration,
    /// How it ended as the client saw it: `closed by the client`, or the error.
    ended: Option<String>,
    ended_at: Option<Duration>,
}

/// A session attempt the gateway did not accept.
#[derive(Clone, Debug)]
struct Refused {
    /// The application name the attempt gave.
    name: String,
    replica: usize,
    at: Duration,
    what: String,
    /// Refused with a SQLSTATE, rather than cut off (a connection error, no answer).
    refused: bool,
}

#[derive(Default, Debug)]
struct ClientLog {
    statements: Vec<Statement>,
    opened: Vec<Opened>,
    refused: Vec<Refused>,
    /// The client gave up: it could not open a session within [`RECONNECT_LIMIT`].
    gave_up: Option<String>,
    /// What a new session after the revocation got (it must be refused).
    after_revocation: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The replicas

struct ReplicaProcess {
    name: &'static str,
    config: ConfigFile,
    extra: String,
    config_path: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl ReplicaProcess {
    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.api_port)
    }

    fn gateway_port(&self) -> u16 {
        self.config.gateway_port
    }

    fn write_config(&mut self) {
        let text = self.config.render_with(&GatewaySettings {
            extra: Some(self.extra.clone()),
            ..GatewaySettings::default()
        });
        std::fs::write(&self.config_path, text).unwrap();
    }

    fn spawn(&mut self, env: &[(String, String)]) {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let config = self.config_path.display().to_string();
        let child = hoop_command(&["serve", "--config", &config], &env, &self.log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits (bounded) for `/healthz`; `Err` with the log when the process exited or the wait
    /// ran out.
    async fn healthy(&mut self, http: &reqwest::Client) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.api())).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(());
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() >= deadline {
                return Err(format!(
                    "{}: exit status {exited:?}\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, as a crash.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The recordings in the spool, live ones included.
    fn spooled(&self) -> usize {
        std::fs::read_dir(&self.config.spool_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for ReplicaProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the three replicas on fresh ports (again on others when a port was taken).
async fn start_replicas(replicas: &mut [ReplicaProcess], env: &[(String, String)]) {
    let http = reqwest::Client::new();
    for replica in replicas.iter_mut() {
        replica.write_config();
        replica.spawn(env);
    }
    for replica in replicas.iter_mut() {
        for attempt in 1.. {
            match replica.healthy(&http).await {
                Ok(()) => break,
                Err(log) if attempt < 4 && log.contains("Address already in use") => {
                    replica.kill();
                    replica.config.api_port = free_port();
                    replica.config.gateway_port = free_port();
                    replica.write_config();
                    replica.spawn(env);
                }
                Err(log) => panic!("replica did not become healthy: {log}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The clients

/// What every client shares.
struct Shared {
    scale: Scale,
    started: Instant,
    gateways: Vec<u16>,
    /// Statements answered (any outcome), for the fault schedule.
    answered: AtomicUsize,
    /// Clients that finished their statements (or gave up).
    load_done: AtomicUsize,
    /// Set once the last fault is over and its effects counted: the load may end.
    faults_over: AtomicBool,
    /// Set when the test stops waiting for revocations to end sessions.
    stop_tails: AtomicBool,
    /// Set once every revocation was sent: a session ending now was ended by it.
    revoked: AtomicBool,
}

impl Shared {
    fn since(&self) -> Duration {
        self.started.elapsed()
    }
}

struct Live {
    client: Client,
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    name: String,
    replica: usize,
}

async fn run_client(shared: Arc<Shared>, index: usize, credential: Credential) -> ClientLog {
    let mut log = ClientLog::default();
    let total = shared.scale.statements;
    let mut replica = index % REPLICAS.len();
    let mut attempt = 0usize;
    let mut live: Option<Live> = None;
    // Clients end their sessions at staggered points, as independent jobs would, rather than
    // all at once; each new session goes to the next replica, as a load balancer would send it.
    let length = shared.scale.session_length;
    let stagger = index * length / shared.scale.clients;
    // At least `total` statements, and more until every fault is over: the faults always
    // happen under load, however fast the machine.
    for n in 0.. {
        if n >= total && shared.faults_over.load(Ordering::SeqCst) {
            break;
        }
        if n > 0 && (n + stagger).is_multiple_of(length) && live.is_some() {
            close(&shared, live.take().unwrap(), &mut log).await;
            replica = (replica + 1) % REPLICAS.len();
        }
        if live.is_none() {
            match open(
                &shared,
                index,
                &credential,
                &mut replica,
                &mut attempt,
                &mut log,
            )
            .await
            {
                Some(l) => live = Some(l),
                None => {
                    shared.load_done.fetch_add(1, Ordering::SeqCst);
                    return finish(shared, log, live).await;
                }
            }
        }
        let current = live.as_mut().unwrap();
        let kind = kind_of(index, n, total);
        let tag = format!("c{index}-{n}");
        let statement = execute(&shared, current, kind, &tag, index, n).await;
        shared.answered.fetch_add(1, Ordering::Relaxed);
        let broken = statement.saw != Saw::Ok && current.client.is_closed();
        let lost = matches!(statement.saw, Saw::Lost | Saw::Hung);
        let error = statement.error.clone();
        log.statements.push(statement);
        if broken || lost {
            let dead = live.take().unwrap();
            lose(&shared, dead, &mut log, error).await;
            replica = (replica + 1) % REPLICAS.len();
        }
    }
    shared.load_done.fetch_add(1, Ordering::SeqCst);
    // The tail: the session stays busy until revocation ends it.
    let mut k = 0;
    loop {
        if shared.stop_tails.load(Ordering::SeqCst) {
            break;
        }
        if live.is_none() {
            if shared.revoked.load(Ordering::SeqCst) {
                break;
            }
            match open(
                &shared,
                index,
                &credential,
                &mut replica,
                &mut attempt,
                &mut log,
            )
            .await
            {
                Some(l) => live = Some(l),
                None => break,
            }
        }
        let current = live.as_mut().unwrap();
        let tag = format!("c{index}-t{k}");
        k += 1;
        let statement = execute(&shared, current, Kind::Tail, &tag, index, k).await;
        let failed = statement.saw != Saw::Ok;
        let error = statement.error.clone();
        log.statements.push(statement);
        if failed {
            // Revocation ends it (or something else did: the report shows what).
            let dead = live.take().unwrap();
            lose(&shared, dead, &mut log, error).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    finish(shared, log, live).await
}

/// Closes the session left open, if any.
async fn finish(shared: Arc<Shared>, mut log: ClientLog, live: Option<Live>) -> ClientLog {
    if let Some(l) = live {
        close(&shared, l, &mut log).await;
    }
    log
}

async fn open(
    shared: &Shared,
    index: usize,
    credential: &Credential,
    replica: &mut usize,
    attempt: &mut usize,
    log: &mut ClientLog,
) -> Option<Live> {
    let deadline = Instant::now() + RECONNECT_LIMIT;
    let mut pause = Duration::from_millis(50);
    loop {
        let name = format!("load-c{index}-k{attempt}");
        *attempt += 1;
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(shared.gateways[*replica])
            .user(&credential.username)
            .password(&credential.password)
            .dbname(DATABASE)
            .application_name(&name)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(Duration::from_secs(10));
        let connecting =
            tokio::time::timeout(Duration::from_secs(30), config.connect(gateway_tls()));
        let (what, refused) = match connecting.await {
            Ok(Ok((client, connection))) => {
                log.opened.push(Opened {
                    name: name.clone(),
                    replica: *replica,
                    at: shared.since(),
                    ended: None,
                    ended_at: None,
                });
                return Some(Live {
                    client,
                    connection: tokio::spawn(connection),
                    name,
                    replica: *replica,
                });
            }
            Ok(Err(e)) => (describe(&e), e.as_db_error().is_some()),
            Err(_) => ("no answer within 30s".to_owned(), false),
        };
        log.refused.push(Refused {
            name,
            replica: *replica,
            at: shared.since(),
            what: what.clone(),
            refused,
        });
        if Instant::now() >= deadline {
            log.gave_up = Some(format!(
                "client {index} could not open a session for {RECONNECT_LIMIT:?}: {what}"
            ));
            return None;
        }
        *replica = (*replica + 1) % REPLICAS.len();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// A connection error as the client saw it: its SQLSTATE and message, or the I/O error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => format!("{e}"),
    }
}

async fn close(shared: &Shared, live: Live, log: &mut ClientLog) {
    ended(shared, &live, log, "closed by the client".into());
    drop(live.client);
    // The connection task sends Terminate and ends.
    let _ = tokio::time::timeout(Duration::from_secs(10), live.connection).await;
}

/// A session the server ended or the connection lost. A FATAL that arrived while no statement
/// was pending is the connection task's error: that is what the server said.
async fn lose(shared: &Shared, mut dead: Live, log: &mut ClientLog, error: Option<String>) {
    let mut how = error.unwrap_or_else(|| "closed".into());
    match tokio::time::timeout(Duration::from_secs(2), &mut dead.connection).await {
        Ok(Ok(Err(e))) if e.as_db_error().is_some() || how == "connection closed" => {
            how = describe(&e);
        }
        Ok(_) => {}
        Err(_) => dead.connection.abort(),
    }
    ended(shared, &dead, log, how);
}

fn ended(shared: &Shared, live: &Live, log: &mut ClientLog, how: String) {
    if let Some(opened) = log.opened.iter_mut().rev().find(|o| o.name == live.name) {
        opened.ended = Some(how);
        opened.ended_at = Some(shared.since());
    }
}

async fn execute(
    shared: &Shared,
    live: &Live,
    kind: Kind,
    tag: &str,
    index: usize,
    n: usize,
) -> Statement {
    let start = Instant::now();
    let limit = if kind == Kind::Held {
        HELD_LIMIT
    } else {
        STATEMENT_LIMIT
    };
    let client = &live.client;
    let ran = async {
        match kind {
            Kind::Insert => client
                .query_typed(
                    "INSERT INTO load_rows (tag, client, n) VALUES ($1, $2, $3)",
                    &[
                        (&tag, Type::TEXT),
                        (&(index as i32), Type::INT4),
                        (&(n as i32), Type::INT4),
                    ],
                )
                .await
                .map(|_| None),
            Kind::Select | Kind::Tail => client
                .simple_query(&format!("SELECT '{tag}' AS tag, {n} + 1 AS next"))
                .await
                .map(|rows| {
                    (first_value(&rows, 0).as_deref() != Some(tag))
                        .then(|| format!("SELECT answered {:?}", first_value(&rows, 0)))
                }),
            Kind::Masked => client
                .simple_query(&format!("SELECT '{CARD}' AS card, '{tag}' AS tag"))
                .await
                .map(|rows| {
                    let card = first_value(&rows, 0);
                    (card.as_deref() != Some(MASKED_CARD))
                        .then(|| format!("the card arrived as {card:?}"))
                }),
            Kind::Denied => client
                .simple_query(&format!("DELETE FROM load_rows WHERE tag = '{tag}'"))
                .await
                .map(|_| Some("a denied DELETE ran".to_owned())),
            Kind::Held => client
                .simple_query(&format!("INSERT INTO load_held (tag) VALUES ('{tag}')"))
                .await
                .map(|_| None),
        }
    };
    let (saw, error) = match tokio::time::timeout(limit, ran).await {
        Ok(Ok(None)) => (Saw::Ok, None),
        Ok(Ok(Some(wrong))) => (Saw::Wrong(wrong.clone()), Some(wrong)),
        Ok(Err(e)) => match e.as_db_error() {
            Some(db) => (
                Saw::Refused(db.code().code().to_owned()),
                Some(describe(&e)),
            ),
            None => (Saw::Lost, Some(describe(&e))),
        },
        Err(_) => (Saw::Hung, Some(format!("no answer within {limit:?}"))),
    };
    Statement {
        tag: tag.to_owned(),
        kind,
        session: live.name.clone(),
        replica: live.replica,
        at: shared.since(),
        latency: start.elapsed(),
        saw,
        error,
    }
}

fn first_value(rows: &[SimpleQueryMessage], column: usize) -> Option<String> {
    rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(column).map(str::to_owned),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// The approver

#[derive(Default)]
struct ApproverLog {
    approved: usize,
    /// Answers other than 200 to a decision, and failed list calls, by what they were.
    failures: BTreeMap<String, usize>,
}

/// Approves every pending approval until `stop`, through whichever replica answers.
async fn approve_forever(apis: Vec<String>, stop: Arc<AtomicBool>) -> ApproverLog {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut log = ApproverLog::default();
    let mut decided: HashSet<String> = HashSet::new();
    let mut turn = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let api = &apis[turn % apis.len()];
        turn += 1;
        let listed = http
            .get(format!("{api}/v1/approvals?limit=500"))
            .bearer_auth(APPROVER_TOKEN)
            .send()
            .await;
        let body: Value = match listed {
            Ok(r) if r.status() == StatusCode::OK => r.json().await.unwrap_or(Value::Null),
            Ok(r) => {
                *log.failures
                    .entry(format!("list: {}", r.status()))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                *log.failures.entry("list: no answer".into()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let pending: Vec<String> = body["approvals"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["id"].as_str().map(str::to_owned))
                    .filter(|id| !decided.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        // Decided at once, as approvers on call would.
        let mut decisions = tokio::task::JoinSet::new();
        for id in pending {
            let request = http
                .post(format!("{api}/v1/approvals/{id}/approve"))
                .bearer_auth(APPROVER_TOKEN)
                .json(&json!({"comment": "load test"}));
            decisions.spawn(async move {
                let outcome = match request.send().await {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    Ok(r) => {
                        let status = r.status();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
                        Err((
                            status == StatusCode::CONFLICT,
                            format!("approve: {status} {code}"),
                        ))
                    }
                    Err(_) => Err((false, "approve: no answer".to_owned())),
                };
                (id, outcome)
            });
        }
        while let Some(decided_one) = decisions.join_next().await {
            let (id, outcome) = decided_one.unwrap();
            match outcome {
                Ok(()) => {
                    log.approved += 1;
                    decided.insert(id);
                }
                Err((settled, what)) => {
                    *log.failures.entry(what).or_default() += 1;
                    if settled {
                        decided.insert(id);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log
}

// ---------------------------------------------------------------------------------------------
// Figures

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A fault: what was done, from when to when (since the load started).
#[derive(Clone, Debug)]
struct Fault {
    name: String,
    start: Duration,
    /// When the fault was over (the replica healthy again, the store back, the database back).
    end: Duration,
    wall_start: chrono::DateTime<chrono::Utc>,
    wall_end: chrono::DateTime<chrono::Utc>,
}

impl Fault {
    fn begin(name: String, shared: &Shared) -> Fault {
        Fault {
            name,
            start: shared.since(),
            end: Duration::ZERO,
            wall_start: chrono::Utc::now(),
            wall_end: chrono::Utc::now(),
        }
    }

    fn ended(mut self, shared: &Shared) -> Fault {
        self.end = shared.since();
        self.wall_end = chrono::Utc::now();
        self
    }

    fn contains(&self, at: Duration) -> bool {
        at >= self.start && at <= self.end + FAULT_SETTLE
    }
}

/// Waits until `fraction` of all statements were answered (or the load is over).
async fn wait_progress(shared: &Shared, fraction: f64) {
    let total = shared.scale.clients * shared.scale.statements;
    let target = (total as f64 * fraction) as usize;
    while shared.answered.load(Ordering::Relaxed) < target
        && shared.load_done.load(Ordering::SeqCst) < shared.scale.clients
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The rig

/// What the load runs against: the state database and the upstream (private clusters), moto
/// behind its proxy, the issuers, and the three replicas with their files.
struct Rig {
    replicas: Vec<ReplicaProcess>,
    state: Arc<Mutex<Cluster>>,
    upstream: Cluster,
    s3: S3Server,
    github: DemoIssuer,
    _gitlab: DemoIssuer,
    /// The environment of `hoop serve`: the clusters' URLs, the store's AWS settings.
    env: Vec<(String, String)>,
    public_keys: Vec<PathBuf>,
    http: reqwest::Client,
    // Dropped last: it holds the replicas' logs and spools (kept when the test fails).
    dir: ScratchDir,
}

impl Rig {
    async fn start(scale: &Scale) -> Rig {
        let state = Cluster::start(
            "state",
            &[
                "max_connections = 300",
                "shared_buffers = 32MB",
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
            ],
        );
        state.create_database(STATE_DATABASE).await;
        let upstream = Cluster::start(
            "upstream",
            &[
                &format!("max_connections = {}", scale.clients * 3 + 100),
                "shared_buffers = 64MB",
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
            ],
        );
        upstream.create_database(DATABASE).await;
        upstream
            .client(DATABASE)
            .await
            .unwrap()
            .batch_execute(&format!(
                "CREATE ROLE {READER} NOLOGIN;
                 CREATE TABLE load_rows (tag text PRIMARY KEY, client int NOT NULL, n int NOT NULL);
                 CREATE TABLE load_held (tag text PRIMARY KEY);
                 GRANT SELECT, INSERT, DELETE ON load_rows TO {READER};
                 GRANT SELECT, INSERT ON load_held TO {READER};"
            ))
            .await
            .unwrap();
        let s3 = S3Server::start().await;
        s3.create_bucket(BUCKET, true).await;
        let github = start_issuer().await;
        let gitlab = start_issuer().await;
        let dir = ScratchDir::new();
        let secret_path = dir.write("secret_key", &random_secret_key());
        let mut env: Vec<(String, String)> = s3
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.push((STATE_URL_VAR.into(), state.url(STATE_DATABASE)));
        env.push((ADMIN_URL_VAR.into(), upstream.url(DATABASE)));
        env.push(("HOOP_LOG".into(), "info".into()));
        let mut public_keys = Vec::new();
        let mut replicas = Vec::new();
        for name in REPLICAS {
            // Each replica signs with its own key; the auditor pins all three.
            let key = hoop::archive::generate().unwrap();
            let private = dir.write(&format!("{name}.key"), key.private_pem.expose());
            public_keys.push(dir.write(&format!("{name}.key.pub"), &key.public_file));
            replicas.push(ReplicaProcess {
                name,
                config: ConfigFile {
                    replica: name,
                    api_port: free_port(),
                    gateway_port: free_port(),
                    spool_dir: dir.0.join(format!("spool-{name}")),
                    github_url: github.url(),
                    gitlab_url: gitlab.url(),
                    database: DATABASE.into(),
                    reader: READER.into(),
                    secret_key_path: secret_path.clone(),
                    reaper_interval: "5s",
                    role_provisioning: "first-connect",
                    durability: "statement",
                },
                extra: policy_and_archive(&private, &s3),
                config_path: dir.0.join(format!("{name}.toml")),
                log: dir.0.join(format!("{name}.log")),
                child: None,
            });
        }
        start_replicas(&mut replicas, &env).await;
        Rig {
            replicas,
            state: Arc::new(Mutex::new(state)),
            upstream,
            s3,
            github,
            _gitlab: gitlab,
            env,
            public_keys,
            http: reqwest::Client::new(),
            dir,
        }
    }

    fn apis(&self) -> Vec<String> {
        self.replicas.iter().map(ReplicaProcess::api).collect()
    }

    async fn state_client(&self) -> Client {
        let url = self.state.lock().unwrap().url(STATE_DATABASE);
        connect_retrying(&url).await
    }

    /// One credential per client, each exchanged on the replica its client starts on.
    async fn exchange_all(&self, clients: usize) -> Vec<Credential> {
        let apis = self.apis();
        let exchanges: Vec<_> = (0..clients)
            .map(|i| {
                let token = self.github.mint(&self.github.github_claims(
                    AUDIENCE,
                    LOAD_REPOSITORY,
                    LOAD_REPOSITORY_ID,
                    60_000 + i as u64,
                ));
                let request = self
                    .http
                    .post(format!("{}/v1/exchange", apis[i % apis.len()]))
                    .bearer_auth(token)
                    .json(&json!({"connection": CONNECTION}));
                tokio::spawn(async move {
                    let r = request.send().await.unwrap();
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, StatusCode::CREATED, "exchange: {body}");
                    Credential::from_body(&body)
                })
            })
            .collect();
        let mut credentials = Vec::new();
        for e in exchanges {
            credentials.push(e.await.unwrap());
        }
        credentials
    }

    /// The three faults, each once a share of the statements is answered: a replica killed and
    /// started again, the store unreachable for `outage`, the state database restarted.
    async fn inject_faults(&mut self, shared: &Shared, outage: Duration) -> Vec<Fault> {
        let mut faults = Vec::new();
        wait_progress(shared, 0.15).await;
        let fault = Fault::begin(
            format!("SIGKILL of {} and its restart", REPLICAS[KILLED]),
            shared,
        );
        self.replicas[KILLED].kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.replicas[KILLED].spawn(&self.env);
        if let Err(log) = self.replicas[KILLED].healthy(&self.http).await {
            panic!("the killed replica did not come back: {log}");
        }
        faults.push(fault.ended(shared));

        tokio::time::sleep(FAULT_SETTLE).await;
        wait_progress(shared, 0.35).await;
        let fault = Fault::begin(format!("archive store unreachable for {outage:?}"), shared);
        self.s3.set_down(true);
        tokio::time::sleep(outage).await;
        self.s3.set_down(false);
        faults.push(fault.ended(shared));

        tokio::time::sleep(FAULT_SETTLE).await;
        wait_progress(shared, 0.65).await;
        let fault = Fault::begin(
            "state database restart (pg_ctl restart -m fast)".into(),
            shared,
        );
        let state = self.state.clone();
        tokio::task::block_in_place(move || state.lock().unwrap().restart());
        faults.push(fault.ended(shared));
        faults
    }

    /// Waits (bounded) until every spool is empty and every archive is listed by a stored
    /// digest.
    async fn wait_archived(&self, state: &Client, problems: &mut Vec<String>) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let spooled: usize = self.replicas.iter().map(ReplicaProcess::spooled).sum();
            let row = state
                .query_one(
                    "SELECT (SELECT count(*) FROM hoop_archives WHERE digest_key IS NULL),
                            (SELECT count(*) FROM hoop_digests WHERE NOT stored)",
                    &[],
                )
                .await
                .unwrap();
            let (undigested, unstored): (i64, i64) = (row.get(0), row.get(1));
            if spooled == 0 && undigested == 0 && unstored == 0 {
                return;
            }
            if Instant::now() >= deadline {
                problems.push(format!(
                    "{SETTLE_LIMIT:?} after the revocations: {spooled} recordings still in the \
                     spools, {undigested} archives not in a digest, {unstored} digests not stored"
                ));
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `hoop archive verify --store` over the whole store with every replica's pinned key; the
    /// download is kept in `into` for the checks that follow.
    async fn verify(&self, into: &Path, problems: &mut Vec<String>) {
        match verify_store(&self.dir.0, into, &self.public_keys, &self.s3).await {
            Ok(report) => {
                let found = report["report"]["problems"].as_array().map_or(0, Vec::len);
                let pending = report["report"]["pending"].as_array().map_or(0, Vec::len);
                if report["ok"] != true || found > 0 || pending > 0 {
                    problems.push(format!(
                        "hoop archive verify: ok {}, {found} problems, {pending} pending: {}",
                        report["ok"],
                        truncate(&report["report"].to_string(), 4000)
                    ));
                }
            }
            Err(e) => problems.push(format!("hoop archive verify failed: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation

/// What one revocation answered, and how long it took.
struct RevokeAnswer {
    status: Option<StatusCode>,
    body: String,
    latency: Duration,
}

impl RevokeAnswer {
    /// 204 (done) or 202 (accepted, finished in the background).
    fn accepted(&self) -> bool {
        matches!(
            self.status,
            Some(StatusCode::NO_CONTENT) | Some(StatusCode::ACCEPTED)
        )
    }
}

/// Revokes every credential at once (a barrier releases them together), each with its own
/// password, spread over the replicas' APIs.
async fn revoke_all(rig: &Rig, credentials: &[Credential]) -> Vec<RevokeAnswer> {
    let apis = rig.apis();
    let barrier = Arc::new(tokio::sync::Barrier::new(credentials.len()));
    let revocations: Vec<_> = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let basic = STANDARD.encode(format!("{}:{}", c.username, c.password));
            let request = rig
                .http
                .delete(format!("{}/v1/credentials/{}", apis[i % apis.len()], c.id))
                .header("authorization", format!("Basic {basic}"))
                .timeout(Duration::from_secs(60));
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let sent = Instant::now();
                let (status, body) = match request.send().await {
                    Ok(r) => (Some(r.status()), r.text().await.unwrap_or_default()),
                    Err(e) => (None, e.to_string()),
                };
                RevokeAnswer {
                    status,
                    body,
                    latency: sent.elapsed(),
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for r in revocations {
        answers.push(r.await.unwrap());
    }
    answers
}

/// Polls `done` every 200 ms until it holds or [`SETTLE_LIMIT`] from `since` passed; how long
/// it took, or `None`.
async fn settled<F, Fut>(since: Instant, mut done: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if done().await {
            return Some(since.elapsed());
        }
        if since.elapsed() >= SETTLE_LIMIT {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each revoked credential opens no new session: what the gateway answers.
async fn connect_after_revocation(
    shared: &Shared,
    credentials: &[Credential],
    logs: &mut [ClientLog],
    problems: &mut Vec<String>,
) {
    for (i, c) in credentials.iter().enumerate() {
        let name = format!("load-c{i}-after");
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(shared.gateways[i % REPLICAS.len()])
            .user(&c.username)
            .password(&c.password)
            .dbname(DATABASE)
            .application_name(&name)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(Duration::from_secs(10));
        let at = shared.since();
        logs[i].after_revocation = Some(match config.connect(gateway_tls()).await {
            Ok((client, connection)) => {
                problems.push(format!("client {i} opened a session after its revocation"));
                logs[i].opened.push(Opened {
                    name,
                    replica: i % REPLICAS.len(),
                    at,
                    ended: Some("closed by the client".into()),
                    ended_at: Some(shared.since()),
                });
                drop(client);
                let _ = tokio::time::timeout(Duration::from_secs(10), connection).await;
                "accepted".into()
            }
            Err(e) => describe(&e),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The evidence

/// What the verified archives say.
struct Evidence {
    archives: Vec<Archived>,
    /// Each tag: the session (application name) and decision of every event recording it.
    recorded: HashMap<String, Vec<(String, String)>>,
    /// Archives by the application name of their session.
    by_session: HashMap<String, Vec<usize>>,
    /// `statement`/`parse` events the policy denied, by credential id.
    denied: HashMap<String, usize>,
    /// `approval_requested` events.
    holds: usize,
    /// `approval` events by outcome.
    approvals: BTreeMap<String, usize>,
}

impl Evidence {
    /// Reads every archive under `root` (panics if any holds a full card number).
    fn read(root: &Path) -> Evidence {
        let archives = read_archives(root);
        let mut evidence = Evidence {
            recorded: HashMap::new(),
            by_session: HashMap::new(),
            denied: HashMap::new(),
            holds: 0,
            approvals: BTreeMap::new(),
            archives: Vec::new(),
        };
        let tag_pattern = regex::Regex::new(r"'(c\d+-t?\d+)'").unwrap();
        for (index, archive) in archives.iter().enumerate() {
            assert_no_leak(&archive.session_id, &without_links(&archive.events));
            evidence
                .by_session
                .entry(archive.application.clone())
                .or_default()
                .push(index);
            let mut record = |tag: &str, decision: &str| {
                evidence
                    .recorded
                    .entry(tag.to_owned())
                    .or_default()
                    .push((archive.application.clone(), decision.to_owned()))
            };
            // A Bind belongs to the Parse before it: its decision is that one's.
            let mut decision = String::new();
            for event in &archive.events {
                match event["kind"].as_str().unwrap_or_default() {
                    kind @ ("statement" | "parse") => {
                        decision = event["decision"].as_str().unwrap_or_default().to_owned();
                        if decision == "deny" {
                            *evidence
                                .denied
                                .entry(archive.credential.clone())
                                .or_default() += 1;
                        }
                        if kind == "statement" {
                            let sql = event["sql"].as_str().unwrap_or_default();
                            for tag in tag_pattern.captures_iter(sql) {
                                record(&tag[1], &decision);
                            }
                        }
                    }
                    "bind" => {
                        if let Some(tag) = event["params"][0].as_str() {
                            record(tag, &decision);
                        }
                    }
                    "approval_requested" => evidence.holds += 1,
                    "approval" => {
                        let outcome = event["outcome"].as_str().unwrap_or_default();
                        *evidence.approvals.entry(outcome.to_owned()).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        evidence.archives = archives;
        evidence
    }

    /// The one (session, decision) that recorded `tag`, if it is recorded exactly once.
    fn once(&self, tag: &str) -> Option<&(String, String)> {
        match self.recorded.get(tag).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Every archive is whole, ended or terminated, and terminated only on the replica that
    /// crashed; no statement is recorded twice.
    fn check(&self, problems: &mut Vec<String>) {
        for archive in &self.archives {
            if !matches!(archive.end_state.as_str(), "ended" | "terminated") {
                problems.push(format!(
                    "archive {} has end state {:?}",
                    archive.session_id, archive.end_state
                ));
            }
            if archive.end_state == "terminated" && archive.replica != REPLICAS[KILLED] {
                problems.push(format!(
                    "archive {} of {} is terminated, though only {} crashed",
                    archive.session_id, archive.replica, REPLICAS[KILLED]
                ));
            }
        }
        for (tag, seen) in &self.recorded {
            if seen.len() > 1 {
                problems.push(format!("{tag} is recorded {} times: {seen:?}", seen.len()));
            }
        }
        for (name, found) in &self.by_session {
            if found.len() > 1 {
                problems.push(format!("session {name} has {} archives", found.len()));
            }
        }
    }
}

/// Every statement a client saw succeed is recorded once, in the session it ran in; a denied
/// one was refused with 42501 and recorded as denied; none was hung or answered wrongly; every
/// row the upstream holds was recorded (allowed or approved) before it got there.
fn check_statements(
    all: &[&Statement],
    evidence: &Evidence,
    upstream_tags: &[String],
    problems: &mut Vec<String>,
) {
    let mut unrecorded = Vec::new();
    let mut misplaced = Vec::new();
    for s in all.iter().filter(|s| s.saw == Saw::Ok) {
        match evidence.once(&s.tag) {
            None => unrecorded.push(s.tag.clone()),
            Some((session, _)) if *session != s.session => misplaced.push(format!(
                "{} ran on {} but is recorded in {session}",
                s.tag, s.session
            )),
            Some(_) => {}
        }
    }
    if !unrecorded.is_empty() {
        problems.push(format!(
            "{} statements a client saw succeed are not recorded exactly once: {:?}",
            unrecorded.len(),
            &unrecorded[..unrecorded.len().min(20)]
        ));
    }
    if !misplaced.is_empty() {
        problems.push(format!(
            "{} statements are recorded in another session: {:?}",
            misplaced.len(),
            &misplaced[..misplaced.len().min(20)]
        ));
    }
    for s in all {
        match &s.saw {
            Saw::Wrong(what) => problems.push(format!("{} ({:?}): {what}", s.tag, s.kind)),
            Saw::Hung => problems.push(format!(
                "{} ({:?}) got no answer: {:?}",
                s.tag, s.kind, s.error
            )),
            Saw::Refused(code) if s.kind == Kind::Denied => {
                if code != "42501" {
                    problems.push(format!("the denied {} was refused with {code}", s.tag));
                }
                if !matches!(evidence.once(&s.tag), Some((_, d)) if d == "deny") {
                    problems.push(format!(
                        "the denied {} is recorded as {:?}",
                        s.tag,
                        evidence.recorded.get(&s.tag)
                    ));
                }
            }
            _ => {}
        }
    }
    let unrecorded_upstream: Vec<&String> = upstream_tags
        .iter()
        .filter(|t| !matches!(evidence.once(t), Some((_, d)) if d == "allow" || d == "approve"))
        .collect();
    if !unrecorded_upstream.is_empty() {
        problems.push(format!(
            "{} rows reached the upstream without their statement recorded once: {:?}",
            unrecorded_upstream.len(),
            &unrecorded_upstream[..unrecorded_upstream.len().min(20)]
        ));
    }
}

/// Every session a client opened is archived once and indexed; every indexed or archived
/// session is one a client opened or tried to (a crash can cut a session off after the gateway
/// accepted it and before the client saw it); the index shows every session ended or
/// terminated, and stored. Returns how many sessions were cut off that way.
fn check_sessions(seen: &Seen<'_>, evidence: &Evidence, problems: &mut Vec<String>) -> usize {
    let opened: HashSet<&str> = seen.opened.iter().map(|o| o.name.as_str()).collect();
    let attempts: Vec<&Refused> = seen.logs.iter().flat_map(|l| &l.refused).collect();
    let cut_off: HashSet<&str> = attempts
        .iter()
        .filter(|a| !a.refused)
        .map(|a| a.name.as_str())
        .collect();
    let tried: HashSet<&str> = attempts.iter().map(|a| a.name.as_str()).collect();
    for o in &seen.opened {
        let archives = evidence.by_session.get(&o.name).map_or(0, Vec::len);
        if archives != 1 {
            problems.push(format!(
                "session {} (on {}) has {archives} archives",
                o.name, REPLICAS[o.replica]
            ));
        }
    }
    for name in evidence.by_session.keys() {
        if !opened.contains(name.as_str()) && !tried.contains(name.as_str()) {
            problems.push(format!(
                "an archive of session {name:?}, which no client opened"
            ));
        }
    }
    let mut indexed = HashSet::new();
    let mut lost_to_client = 0;
    for row in &seen.index {
        let (app, state, archived, replica): (Option<String>, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let app = app.unwrap_or_default();
        if state == "live" || archived != "stored" {
            problems.push(format!(
                "hoop_sessions: {app} on {replica} is {state}, archive {archived}"
            ));
        }
        if cut_off.contains(app.as_str()) {
            lost_to_client += 1;
        } else if !opened.contains(app.as_str()) {
            problems.push(format!(
                "hoop_sessions: {app} on {replica}, which no client opened"
            ));
        }
        indexed.insert(app);
    }
    for o in &seen.opened {
        if !indexed.contains(&o.name) {
            problems.push(format!("session {} is not in hoop_sessions", o.name));
        }
    }
    lost_to_client
}

/// The audit trail by (action, outcome, code).
type AuditCounts = BTreeMap<(String, String, String), i64>;

/// The audit trail counts what the clients saw: exchanges, sessions, denials, approvals, and
/// for each revocation one event for the call (`revoked`, or `revocation_pending` for a 202)
/// and, for a 202, one more when its role was dropped.
async fn check_audit(
    state: &Client,
    seen: &Seen<'_>,
    evidence: &Evidence,
    problems: &mut Vec<String>,
) -> (AuditCounts, usize) {
    let audit: AuditCounts = state
        .query(
            "SELECT action, outcome, code, count(*) FROM hoop_audit_events GROUP BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    let count = |action: &str, outcome: &str, code: &str| -> i64 {
        audit
            .get(&(action.into(), outcome.into(), code.into()))
            .copied()
            .unwrap_or(0)
    };
    let expected = [
        (
            "exchanges issued",
            count("exchange", "success", "issued"),
            seen.credentials.len(),
        ),
        (
            "gateway sessions connected",
            count("connect", "success", "connected"),
            seen.index.len(),
        ),
        (
            "approvals requested",
            count("approval", "success", "requested"),
            evidence.holds,
        ),
        (
            "approvals approved",
            count("approval", "success", "approved"),
            seen.approver.approved,
        ),
        // An approval approved whose statement did not run (its session gave up on it) would
        // tell an auditor the statement ran.
        (
            "approvals approved, against the approved holds recorded",
            count("approval", "success", "approved"),
            evidence.approvals.get("approved").copied().unwrap_or(0),
        ),
    ];
    for (what, audited, saw) in expected {
        if audited != saw as i64 {
            problems.push(format!("audit: {audited} {what}, the test saw {saw}"));
        }
    }
    // Each denial is audited as it is decided, before its recording event is durable: a
    // crash in between leaves one audited denial that the recording it cut short lacks. So,
    // per credential, the denials audited are those recorded, or one more where the killed
    // replica terminated one of its sessions.
    let audited_denials: HashMap<String, i64> = state
        .query(
            "SELECT credential_id::text, count(*) FROM hoop_audit_events
             WHERE action = 'statement' AND outcome = 'denied' AND code = $1 GROUP BY 1",
            &[&DENY_RULE],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let cut_short: HashSet<&str> = evidence
        .archives
        .iter()
        .filter(|a| a.end_state == "terminated")
        .map(|a| a.credential.as_str())
        .collect();
    let mut cut_denials = 0;
    for c in seen.credentials {
        let audited = audited_denials.get(&c.id).copied().unwrap_or(0);
        let recorded = evidence.denied.get(&c.id).copied().unwrap_or(0) as i64;
        let allowed = if cut_short.contains(c.id.as_str()) {
            recorded..=recorded + 1
        } else {
            recorded..=recorded
        };
        if !allowed.contains(&audited) {
            problems.push(format!(
                "audit: {audited} statements of credential {} denied by the deny rule, {recorded} \
                 recorded",
                c.id
            ));
        }
        cut_denials += usize::from(audited == recorded + 1);
    }
    let retirements: HashMap<(String, String, String), i64> = state
        .query(
            "SELECT credential_id::text, action, code, count(*) FROM hoop_audit_events
             WHERE action IN ('revoke', 'expire') AND outcome = 'success'
             GROUP BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    let of = |id: &str, action: &str, code: &str| {
        retirements
            .get(&(id.to_owned(), action.to_owned(), code.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    for (credential, answer) in seen.credentials.iter().zip(seen.revocations) {
        let id = credential.id.as_str();
        let pending = of(id, "revoke", "revocation_pending");
        let completed = of(id, "revoke", "revoked") + of(id, "expire", "revoked");
        let expected_pending = i64::from(answer.status == Some(StatusCode::ACCEPTED));
        if pending != expected_pending || completed != 1 {
            problems.push(format!(
                "audit: credential {id} (answered {:?}) has {pending} revocation_pending and \
                 {completed} revoked events",
                answer.status
            ));
        }
    }
    (audit, cut_denials)
}

// ---------------------------------------------------------------------------------------------
// The test

/// What the test saw and measured, for the checks and the figures.
struct Seen<'a> {
    scale: Scale,
    credentials: &'a [Credential],
    logs: &'a [ClientLog],
    opened: Vec<&'a Opened>,
    statements: Vec<&'a Statement>,
    approver: &'a ApproverLog,
    revocations: &'a [RevokeAnswer],
    faults: &'a [Fault],
    index: Vec<tokio_postgres::Row>,
    /// Since the load started: when it ended, and when the revocations were sent.
    load_time: Duration,
    revoked_at: Duration,
    timings: Timings,
}

/// How long each phase took.
#[derive(Default)]
struct Timings {
    set_up: Duration,
    faults_done: Duration,
    revocations_answered: Duration,
    roles_gone: Option<Duration>,
    sessions_ended: Option<Duration>,
    archived: Duration,
    verify: Duration,
    whole: Duration,
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_under_load_survive_a_crash_a_store_outage_and_a_state_restart() {
    let scale = Scale::from_env();
    let test_started = Instant::now();
    let mut problems: Vec<String> = Vec::new();
    let mut timings = Timings::default();
    let mut rig = Rig::start(&scale).await;
    timings.set_up = test_started.elapsed();
    let credentials = rig.exchange_all(scale.clients).await;

    // The load, with the faults.
    let shared = Arc::new(Shared {
        scale,
        started: Instant::now(),
        gateways: rig
            .replicas
            .iter()
            .map(ReplicaProcess::gateway_port)
            .collect(),
        answered: AtomicUsize::new(0),
        load_done: AtomicUsize::new(0),
        faults_over: AtomicBool::new(false),
        stop_tails: AtomicBool::new(false),
        revoked: AtomicBool::new(false),
    });
    let stop_approver = Arc::new(AtomicBool::new(false));
    let approver = tokio::spawn(approve_forever(rig.apis(), stop_approver.clone()));
    let clients: Vec<_> = credentials
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| tokio::spawn(run_client(shared.clone(), i, c)))
        .collect();
    let progress = tokio::spawn({
        let shared = shared.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                eprintln!(
                    "{:>5.0}s: {} statements answered, {} clients done",
                    shared.since().as_secs_f64(),
                    shared.answered.load(Ordering::Relaxed),
                    shared.load_done.load(Ordering::SeqCst)
                );
            }
        }
    });
    let faults = rig.inject_faults(&shared, scale.outage).await;
    tokio::time::sleep(FAULT_SETTLE).await;
    shared.faults_over.store(true, Ordering::SeqCst);
    timings.faults_done = shared.since();
    let load_deadline = Instant::now() + Duration::from_secs(900);
    while shared.load_done.load(Ordering::SeqCst) < scale.clients
        && !clients.iter().all(|c| c.is_finished())
    {
        assert!(
            Instant::now() < load_deadline,
            "the load did not finish within 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load_time = shared.since();
    stop_approver.store(true, Ordering::SeqCst);
    let approver = approver.await.unwrap();

    // Every credential revoked at once, while its session runs statements: each answer is 204
    // or 202, each role is gone and each session ended, within a bounded wait.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let revoke_started = Instant::now();
    let revoked_at = shared.since();
    let revocations = revoke_all(&rig, &credentials).await;
    shared.revoked.store(true, Ordering::SeqCst);
    timings.revocations_answered = revoke_started.elapsed();
    for (answer, c) in revocations.iter().zip(&credentials) {
        if !answer.accepted() {
            problems.push(format!(
                "revocation of credential {} answered {:?}: {}",
                c.id, answer.status, answer.body
            ));
        }
    }
    let usernames: Vec<String> = credentials.iter().map(|c| c.username.clone()).collect();
    let upstream = rig.upstream.client(DATABASE).await.unwrap();
    timings.roles_gone = settled(revoke_started, || async {
        let left: i64 = upstream
            .query_one(
                "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
                &[&usernames],
            )
            .await
            .unwrap()
            .get(0);
        left == 0
    })
    .await;
    if timings.roles_gone.is_none() {
        problems.push(format!(
            "revoked credentials' upstream roles still exist {SETTLE_LIMIT:?} after the \
             revocations"
        ));
    }
    timings.sessions_ended = settled(revoke_started, || async {
        clients.iter().all(|c| c.is_finished())
    })
    .await;
    if timings.sessions_ended.is_none() {
        let running = clients.iter().filter(|c| !c.is_finished()).count();
        problems.push(format!(
            "{running} clients' sessions were still running {SETTLE_LIMIT:?} after the \
             revocations"
        ));
        shared.stop_tails.store(true, Ordering::SeqCst);
    }
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.unwrap());
    }
    progress.abort();
    connect_after_revocation(&shared, &credentials, &mut logs, &mut problems).await;
    let state = rig.state_client().await;
    let index_closed = settled(revoke_started, || async {
        let live: i64 = state
            .query_one(
                "SELECT count(*) FROM hoop_sessions WHERE state = 'live'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        live == 0
    })
    .await;
    if index_closed.is_none() {
        problems.push(format!(
            "the sessions index still shows live sessions {SETTLE_LIMIT:?} after the revocations"
        ));
    }

    // The evidence: archived, verified by the auditor's command, then read.
    rig.wait_archived(&state, &mut problems).await;
    timings.archived = revoke_started.elapsed();
    let verify_started = Instant::now();
    let folder = rig.dir.0.join("evidence");
    rig.verify(&folder, &mut problems).await;
    timings.verify = verify_started.elapsed();
    let evidence = Evidence::read(&folder);
    evidence.check(&mut problems);
    let upstream_tags: Vec<String> = upstream
        .query(
            "SELECT tag FROM load_rows UNION ALL SELECT tag FROM load_held",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let seen = Seen {
        scale,
        credentials: &credentials,
        logs: &logs,
        opened: logs.iter().flat_map(|l| &l.opened).collect(),
        statements: logs.iter().flat_map(|l| &l.statements).collect(),
        approver: &approver,
        revocations: &revocations,
        faults: &faults,
        index: state
            .query(
                "SELECT application, state, archive_state, replica FROM hoop_sessions",
                &[],
            )
            .await
            .unwrap(),
        load_time,
        revoked_at,
        timings,
    };
    check_statements(&seen.statements, &evidence, &upstream_tags, &mut problems);
    let cut_off = check_sessions(&seen, &evidence, &mut problems);
    let (audit, cut_denials) = check_audit(&state, &seen, &evidence, &mut problems).await;
    for log in &logs {
        problems.extend(log.gave_up.clone());
    }
    let lags: Vec<(f64, chrono::DateTime<chrono::Utc>)> = state
        .query(
            "SELECT extract(epoch FROM stored_at - ended_at)::float8, ended_at
             FROM hoop_archives WHERE ended_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut seen = seen;
    seen.timings.whole = test_started.elapsed();
    println!(
        "{}",
        report(&seen, &evidence, &audit, &lags, cut_off, cut_denials)
    );
    if !problems.is_empty() {
        // Alike problems (the same text but for ids and numbers) are shown once, counted.
        let mut grouped: Vec<(String, usize, &String)> = Vec::new();
        for p in &problems {
            let key: String = trim_ids(p).chars().take(160).collect();
            match grouped.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, n, _)) => *n += 1,
                None => grouped.push((key, 1, p)),
            }
        }
        panic!(
            "{} problems:\n{}\nlogs of the replicas: {}",
            problems.len(),
            grouped
                .iter()
                .map(|(_, n, p)| format!("{n} x {}", truncate(p, 2000)))
                .collect::<Vec<_>>()
                .join("\n"),
            rig.dir.0.display()
        );
    }
}

/// The figures, and what the clients saw during each fault.
fn report(
    seen: &Seen<'_>,
    evidence: &Evidence,
    audit: &AuditCounts,
    lags: &[(f64, chrono::DateTime<chrono::Utc>)],
    cut_off: usize,
    cut_denials: usize,
) -> String {
    let (scale, t) = (&seen.scale, &seen.timings);
    let mut out = String::new();
    let mut line = |text: String| {
        out += &text;
        out.push('\n');
    };
    let load_secs = seen.load_time.as_secs_f64();
    let sorted = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let ok: Vec<&Statement> = seen
        .statements
        .iter()
        .copied()
        .filter(|s| s.saw == Saw::Ok && s.kind != Kind::Tail)
        .collect();
    line(format!(
        "== replicas under load: {} replicas, {} clients x {} statements (sessions of {}), \
         store outage {:?}",
        REPLICAS.len(),
        scale.clients,
        scale.statements,
        scale.session_length,
        scale.outage
    ));
    line(format!(
        "set-up {:.1}s; load {load_secs:.1}s (faults done at {:.1}s); revocations answered in \
         {}; archives settled {:.1}s after the revocations; verify {:.1}s; whole test {:.1}s",
        t.set_up.as_secs_f64(),
        t.faults_done.as_secs_f64(),
        ms(t.revocations_answered),
        t.archived.as_secs_f64(),
        t.verify.as_secs_f64(),
        t.whole.as_secs_f64()
    ));
    let load_opened = seen
        .opened
        .iter()
        .filter(|o| o.at <= seen.load_time)
        .count();
    line(format!(
        "throughput: {:.1} sessions/s ({load_opened} sessions opened during the load), {:.0} \
         statements/s ({} succeeded of {} sent)",
        load_opened as f64 / load_secs,
        ok.len() as f64 / load_secs,
        ok.len(),
        seen.statements
            .iter()
            .filter(|s| s.kind != Kind::Tail)
            .count()
    ));
    // The first sessions of every client open together (TLS, SCRAM, the run roles made):
    // latency once they are all open is the steady state.
    let warmed = seen
        .logs
        .iter()
        .filter_map(|l| l.opened.first().map(|o| o.at))
        .max()
        .unwrap_or_default();
    let latencies = sorted(
        ok.iter()
            .filter(|s| s.kind != Kind::Held)
            .map(|s| s.latency)
            .collect(),
    );
    let steady = sorted(
        ok.iter()
            .filter(|s| s.kind != Kind::Held && s.at > warmed)
            .map(|s| s.latency)
            .collect(),
    );
    let held = sorted(
        ok.iter()
            .filter(|s| s.kind == Kind::Held)
            .map(|s| s.latency)
            .collect(),
    );
    line(format!(
        "statement latency (succeeded, not held): p50 {} p99 {} max {}; once every client's first \
         session was open ({:.1}s): p50 {} p99 {}; held until approved: p50 {} p99 {} ({} held)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        warmed.as_secs_f64(),
        ms(percentile(&steady, 50.0)),
        ms(percentile(&steady, 99.0)),
        ms(percentile(&held, 50.0)),
        ms(percentile(&held, 99.0)),
        held.len()
    ));
    let mut slowest: Vec<&&Statement> = ok.iter().filter(|s| s.kind != Kind::Held).collect();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.latency));
    line(format!(
        "  slowest: {}",
        slowest
            .iter()
            .take(3)
            .map(|s| format!(
                "{} {:?} on {} at {:.1}s took {}",
                s.tag,
                s.kind,
                REPLICAS[s.replica],
                s.at.as_secs_f64(),
                ms(s.latency)
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    for kind in [
        Kind::Insert,
        Kind::Select,
        Kind::Masked,
        Kind::Denied,
        Kind::Held,
    ] {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for s in seen.statements.iter().filter(|s| s.kind == kind) {
            *by.entry(s.saw.label()).or_default() += 1;
        }
        line(format!("  {kind:?}: {by:?}"));
    }
    let lag_of = |keep: &dyn Fn(&chrono::DateTime<chrono::Utc>) -> bool| {
        sorted(
            lags.iter()
                .filter(|(_, ended)| keep(ended))
                .map(|(s, _)| Duration::from_secs_f64(s.max(0.0)))
                .collect(),
        )
    };
    let outage = &seen.faults[1];
    let all_lags = lag_of(&|_| true);
    let before = lag_of(&|ended| *ended < outage.wall_start);
    let during = lag_of(&|ended| *ended >= outage.wall_start && *ended <= outage.wall_end);
    let after = lag_of(&|ended| *ended > outage.wall_end);
    let figures = |lags: &[Duration]| {
        format!(
            "{} archives p50 {} p99 {} max {}",
            lags.len(),
            ms(percentile(lags, 50.0)),
            ms(percentile(lags, 99.0)),
            ms(lags.last().copied().unwrap_or_default())
        )
    };
    line(format!(
        "archive lag (session end to archive stored): {}; sessions ended before the store outage: \
         {}; during it: {}; after it (behind the backlog): {}",
        figures(&all_lags),
        figures(&before),
        figures(&during),
        figures(&after)
    ));
    let mut end_states: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for a in &evidence.archives {
        *end_states
            .entry((a.replica.as_str(), a.end_state.as_str()))
            .or_default() += 1;
    }
    let mut index_states: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in &seen.index {
        *index_states.entry((row.get(1), row.get(2))).or_default() += 1;
    }
    line(format!(
        "archives: {} by replica and end state {end_states:?}; recorded approvals {:?}; sessions \
         index {index_states:?}, of which {cut_off} accepted by a replica that crashed before \
         its client saw the session",
        evidence.archives.len(),
        evidence.approvals
    ));
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for a in seen.revocations {
        let label = a
            .status
            .map_or("no answer".to_owned(), |s| s.as_u16().to_string());
        *statuses.entry(label).or_default() += 1;
    }
    let revoke_latency = sorted(seen.revocations.iter().map(|a| a.latency).collect());
    line(format!(
        "revocation of {} credentials at once: answers {statuses:?}, latency p50 {} p99 {} max \
         {}; roles gone after {}; sessions ended after {}",
        seen.credentials.len(),
        ms(percentile(&revoke_latency, 50.0)),
        ms(percentile(&revoke_latency, 99.0)),
        ms(revoke_latency.last().copied().unwrap_or_default()),
        t.roles_gone.map_or("never".into(), ms),
        t.sessions_ended.map_or("never".into(), ms),
    ));
    let mut ends: BTreeMap<String, usize> = BTreeMap::new();
    for o in seen
        .opened
        .iter()
        .filter(|o| o.ended_at.is_some_and(|at| at >= seen.revoked_at))
    {
        *ends
            .entry(trim_ids(o.ended.as_deref().unwrap_or("?")))
            .or_default() += 1;
    }
    line(format!(
        "  the clients saw their sessions end with: {ends:?}"
    ));
    let mut after: BTreeMap<String, usize> = BTreeMap::new();
    for log in seen.logs {
        *after
            .entry(trim_ids(log.after_revocation.as_deref().unwrap_or("-")))
            .or_default() += 1;
    }
    line(format!(
        "  a new session after the revocation got: {after:?}"
    ));
    line(format!(
        "approver: {} approved, failures {:?}",
        seen.approver.approved, seen.approver.failures
    ));
    line(format!(
        "audit: {} (denials audited whose recording the crash cut before them: {cut_denials})",
        audit
            .iter()
            .map(|((a, o, c), n)| format!("{a}/{o}/{c}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for fault in seen.faults {
        line(fault_report(seen, fault));
    }
    let outside: Vec<&&Statement> = seen
        .statements
        .iter()
        .filter(|s| s.kind != Kind::Denied && s.kind != Kind::Tail && s.saw != Saw::Ok)
        .filter(|s| !seen.faults.iter().any(|f| f.contains(s.at)))
        .collect();
    line(format!(
        "outside the fault windows: {} statements failed{}",
        outside.len(),
        outside
            .iter()
            .take(5)
            .map(|s| format!(
                "; {} {:?} {}",
                s.tag,
                s.saw,
                s.error.as_deref().unwrap_or("")
            ))
            .collect::<String>()
    ));
    out
}

/// What the clients saw from a fault's start until [`FAULT_SETTLE`] after its end.
fn fault_report(seen: &Seen<'_>, fault: &Fault) -> String {
    let mut out = format!(
        "fault: {} from {:.1}s to {:.1}s (counted until {:.1}s)\n",
        fault.name,
        fault.start.as_secs_f64(),
        fault.end.as_secs_f64(),
        (fault.end + FAULT_SETTLE).as_secs_f64()
    );
    if fault.end + FAULT_SETTLE > seen.load_time {
        out += "  (the load ended within this window)\n";
    }
    let within: Vec<&&Statement> = seen
        .statements
        .iter()
        .filter(|s| s.kind != Kind::Tail && fault.contains(s.at))
        .collect();
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for s in &within {
        let label = match s.saw {
            Saw::Ok => "ok".to_owned(),
            _ => format!("{} on {}", s.saw.label(), REPLICAS[s.replica]),
        };
        *by.entry(label).or_default() += 1;
        if let Some(e) = &s.error {
            *errors.entry(trim_ids(e)).or_default() += 1;
        }
    }
    let mut latency: Vec<Duration> = within
        .iter()
        .filter(|s| s.saw == Saw::Ok && s.kind != Kind::Held)
        .map(|s| s.latency)
        .collect();
    latency.sort();
    out += &format!(
        "  statements: {by:?}; p99 of successes {}\n  statement errors: {errors:?}\n",
        ms(percentile(&latency, 99.0))
    );
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    for r in seen
        .logs
        .iter()
        .flat_map(|l| &l.refused)
        .filter(|r| fault.contains(r.at) && r.at < seen.revoked_at)
    {
        *refusals
            .entry(format!("{}: {}", REPLICAS[r.replica], trim_ids(&r.what)))
            .or_default() += 1;
    }
    let opened = seen.opened.iter().filter(|o| fault.contains(o.at)).count();
    out += &format!("  new sessions: {opened} opened; refused attempts: {refusals:?}\n");
    let mut ended: BTreeMap<String, usize> = BTreeMap::new();
    for o in seen.opened.iter().filter(|o| {
        o.ended_at
            .is_some_and(|at| fault.contains(at) && at < seen.revoked_at)
            && o.ended.as_deref() != Some("closed by the client")
    }) {
        *ended
            .entry(trim_ids(o.ended.as_deref().unwrap_or("?")))
            .or_default() += 1;
    }
    out += &format!("  sessions ended under the clients: {ended:?}");
    out
}

/// The sections every replica shares, with its own signing key.
fn policy_and_archive(signing_key: &Path, s3: &S3Server) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(APPROVER_TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        r#"
[[trust]]
name = "load"
issuer = "github"
claims = {{ repository_id = {LOAD_REPOSITORY_ID}, ref = "refs/heads/main" }}
connections = ["{CONNECTION}"]
ttl = "30m"
max_sessions = {LOAD_MAX_SESSIONS}

[[rules]]
id = "{DENY_RULE}"
action = "deny"
reason = "the load test never deletes"
kinds = ["delete"]
tables = ["load_rows"]

[[rules]]
id = "{HOLD_RULE}"
action = "approve"
reason = "the load test's held statement"
kinds = ["insert"]
tables = ["load_held"]

[approvals]
timeout = "5m"
notice_interval = "30s"

[[approvals.approvers]]
name = "load-approver"
token_sha256 = "{hash}"
github_id = 100

[archive]
store = "s3://{BUCKET}/prod"
signing_key = {{ file = {key:?} }}
digest_period = "5s"
alert_after = "10s"
retry_max = "2s"

[archive.s3]
{s3}"#,
        key = signing_key.display().to_string(),
        s3 = s3.settings_toml(),
    )
}

/// `hoop archive verify --store` over the whole store with every replica's pinned key, the
/// download kept in `into`; the JSON report when it ran.
async fn verify_store(
    dir: &Path,
    into: &Path,
    public_keys: &[PathBuf],
    s3: &S3Server,
) -> Result<Value, String> {
    let log = dir.join("verify.log");
    let out = dir.join("verify.json");
    let env = s3.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("HOOP_LOG", "warn"));
    let store = format!("s3://{BUCKET}/prod");
    let into_arg = into.display().to_string();
    let keys: Vec<String> = public_keys
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec![
        "archive",
        "verify",
        "--store",
        &store,
        "--s3-path-style",
        "--into",
        &into_arg,
        "--format",
        "json",
    ];
    for key in &keys {
        args.extend(["--public-key", key.as_str()]);
    }
    let mut command = hoop_command(&args, &env, &log);
    command.stdout(std::fs::File::create(&out).unwrap());
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + SETTLE_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Err(format!("did not finish within {SETTLE_LIMIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let report: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "exit {status}, no JSON report ({e}): {}{}",
            truncate(&text, 2000),
            truncate(&std::fs::read_to_string(&log).unwrap_or_default(), 2000)
        )
    })?;
    if !status.success() {
        return Err(format!(
            "exit {status}: {}",
            truncate(&report["report"].to_string(), 4000)
        ));
    }
    Ok(report)
}

/// One archive as downloaded: its manifest's facts and its recording's events.
struct Archived {
    session_id: String,
    replica: String,
    end_state: String,
    application: String,
    credential: String,
    events: Vec<Value>,
}

fn read_archives(root: &Path) -> Vec<Archived> {
    if !root.exists() {
        return Vec::new();
    }
    files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .map(|manifest_path| {
            let manifest: Value =
                serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
            let recording = PathBuf::from(
                manifest_path
                    .to_string_lossy()
                    .replace(".manifest.json", ".jsonl.zst"),
            );
            let events = archive_events(
                &recording.display().to_string(),
                &std::fs::read(&recording).unwrap(),
            );
            Archived {
                session_id: manifest["session_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                replica: manifest["replica"].as_str().unwrap_or_default().to_owned(),
                end_state: manifest["end_state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                application: events[0]["application_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                credential: events[0]["credential_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                events,
            }
        })
        .collect()
}

async fn connect_retrying(url: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("state database not reachable yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the state database is unreachable: {e}"),
        }
    }
}

/// `text` cut at `max` bytes (on a character boundary).
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Error texts with ids, user names and numbers taken out, so they group.
fn trim_ids(text: &str) -> String {
    let ids = regex::Regex::new(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|run-[0-9a-z-]+|\d+(\.\d+)?",
    )
    .unwrap();
    // A leading SQLSTATE (what `describe` puts first) is kept: it is the point.
    let sqlstate = regex::Regex::new(r"^[0-9A-Z]{5} ").unwrap();
    let (code, rest) = match sqlstate.find(text) {
        Some(m) => text.split_at(m.end()),
        None => ("", text),
    };
    format!("{code}{}", ids.replace_all(rest, "#"))
}

/// An audit event written while the state database is down for a moment (a restart) is stored
/// once it is back. The load test lost the audit events of refused statements and logins of
/// that moment, from the table and from the `hoop::audit` log alike.
#[tokio::test(flavor = "multi_thread")]
async fn an_audit_event_written_while_the_state_database_restarts_is_stored() {
    use hoop::audit::{Action, AuditEvent, AuditLog, Outcome};
    let mut cluster = Cluster::start("audit", &["fsync = off"]);
    cluster.create_database(STATE_DATABASE).await;
    let url = hoop::base::Secret::new(cluster.url(STATE_DATABASE));
    let store = hoop::state::Store::new(&url, 4).unwrap();
    store.migrate().await.unwrap();
    let audit = AuditLog::new(store, "audit-test".into());
    let event = |code: &str| AuditEvent::new(Action::Statement, Outcome::Denied, code, "refused");
    audit.record(&event("before")).await.unwrap();
    // The server stops; it is started again a moment after the next event is written.
    tokio::task::block_in_place(|| cluster.stop());
    let restart = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cluster.start_again();
        cluster
    });
    let during = audit.record(&event("during")).await;
    let cluster = tokio::task::block_in_place(|| restart.join().unwrap());
    during.expect("the event is stored once the state database is back");
    let codes: Vec<String> = cluster
        .client(STATE_DATABASE)
        .await
        .unwrap()
        .query("SELECT code FROM hoop_audit_events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(codes, ["before", "during"]);
}
