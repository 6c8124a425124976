//! The relay: client and upstream bytes, frame by frame. Every statement is decided by the
//! statement policy ([`super::policy`]) and recorded before it is forwarded (a denied one is
//! replaced by its denial; a held one waits for its approval, [`super::hold`], while the
//! session keeps relaying what the upstream still sends); every upstream frame is masked
//! ([`super::masking`]) before it reaches the client.
//!
//! Buffers: `client_in` holds client bytes until they form whole frames (at most one partial
//! frame is kept, bounded by `max_message_bytes`); `upstream_in` likewise for the upstream (bounded
//! by Postgres's own 1 GiB message limit); `out` is reused for each batch written to the other
//! side. One task owns both sockets and awaits each write before reading more, so a slow client
//! stops the upstream reads (TCP backpressure) instead of growing a buffer.

mod encoding;
mod held;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;
use chrono::Utc;
use hoop_protocol::backend::{BackendMessage, ErrorFields};
use hoop_protocol::frontend::{self, FrontendMessage, Target};
use hoop_protocol::{Frame, decode_frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::catalog::LiveCatalog;
use super::masking::{Fault, Masking, ResultMasker};
use super::policy::{self, Refusal, StatementPolicy};
use super::results::ClientStep;
use crate::approvals::Scope;
use crate::base::Sha256;
use crate::masking::MaskedText;
use crate::masking::Masker;
use crate::masking::value::{self, Format};
use crate::policy::classify::Classification;
use crate::policy::rules::{Action, Decision, Run, Subject};
use crate::recording::{
    Bind, BindParam, Diagnostic, Durability, Event, Execute, FunctionCall, Parse, Protocol,
    RecordingError, SqlState, Statement, Syncing,
};
use crate::session::{Drain, Ending, HoldOutcome, Session};

/// Postgres refuses messages over 1 GiB; the upstream is trusted up to that.
const MAX_UPSTREAM_MESSAGE: usize = 1 << 30;
/// Bytes asked for per read.
const READ_CHUNK: usize = 64 * 1024;
/// Bind parameters longer than this are recorded truncated (a bytea image is not evidence).
const MAX_RECORDED_PARAM: usize = 4096;

/// What the relay reads from and writes to the client: a TCP or TLS stream in production,
/// an in-memory duplex in tests.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}

/// The upstream side, likewise.
pub trait UpstreamIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> UpstreamIo for T {}

pub struct Sides<'a, C, U> {
    pub client: &'a mut C,
    pub upstream: U,
    /// Upstream bytes read during login past its ReadyForQuery.
    pub pending: BytesMut,
}

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    /// The client sent Terminate.
    Terminated,
    ClientGone,
    UpstreamGone,
    By(Ending),
    RecordingFailed(RecordingError),
    ProtocolViolation(String),
    /// The upstream reported a client_encoding other than UTF8.
    EncodingChanged(String),
    Io(std::io::Error),
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Terminated => f.write_str("client terminated"),
            Ended::ClientGone => f.write_str("client disconnected"),
            Ended::UpstreamGone => f.write_str("upstream closed the connection"),
            Ended::By(e) => f.write_str(e.reason()),
            Ended::RecordingFailed(e) => write!(f, "recording failed: {e}"),
            Ended::ProtocolViolation(e) => write!(f, "protocol violation: {e}"),
            Ended::EncodingChanged(e) => write!(f, "client encoding changed: {e}"),
            Ended::Io(e) => write!(f, "connection error: {e}"),
        }
    }
}

struct Relay<'a, 'c, C, U> {
    client: &'a mut C,
    upstream: U,
    /// The session core's handle: recording, counts, audit, holds.
    session: &'a mut Session<'c>,
    client_in: BytesMut,
    upstream_in: BytesMut,
    out: BytesMut,
    max_message: usize,
    copy_in_bytes: u64,
    masker: ResultMasker<'a>,
    statements_policy: &'a StatementPolicy,
    /// Statements replaced by a refusal; names the refusal's statement and portal.
    refused: u64,
    /// Prepared statements approved for one execution, by the client's name.
    approved_once: HashMap<String, held::ApprovedOnce>,
    /// Gateway statement names to close right after the client's next Sync: refusals, and
    /// private names whose Close an earlier error may have made the upstream skip.
    closing: Vec<String>,
    ending: watch::Receiver<Option<Ending>>,
    /// The gateway's drain; the session is told once.
    drain: watch::Receiver<Option<Drain>>,
    /// The configuration whose rules the recording last named ([`Event::Policy`]).
    policy_version: Option<Sha256>,
    durability: Durability,
    /// `result` durability: the newest statement record forwarded before it was durable.
    /// Nothing upstream reaches the client before it is (a later record's sync covers every
    /// earlier one).
    syncing: Option<Syncing>,
}

/// What the relay enforces on a session: masking of what comes back, the statement policy on
/// what goes up, and where denials are audited.
pub struct Controls<'a> {
    pub masking: Masking<'a>,
    pub statements: &'a StatementPolicy,
}

/// Relays until the session ends; returns how. The caller closes the session (its recording's
/// last event names the ending).
pub async fn run<'a, 'c, C: ClientIo, U: UpstreamIo>(
    sides: Sides<'a, C, U>,
    session: &'a mut Session<'c>,
    controls: Controls<'a>,
    max_message: usize,
) -> Ended {
    let ending = session.registration().ending.clone();
    let mut drain = session.registration().drain.clone();
    // A session that starts while the gateway drains is told at once.
    drain.mark_changed();
    let mut told_of_drain = false;
    let expires_at = session.credential().expires_at;
    let durability = session.durability();
    let mut relay = Relay {
        client: sides.client,
        upstream: sides.upstream,
        session,
        client_in: BytesMut::with_capacity(READ_CHUNK),
        upstream_in: sides.pending,
        out: BytesMut::with_capacity(READ_CHUNK),
        max_message,
        copy_in_bytes: 0,
        masker: ResultMasker::new(controls.masking),
        statements_policy: controls.statements,
        refused: 0,
        approved_once: HashMap::new(),
        closing: Vec::new(),
        ending,
        drain,
        policy_version: None,
        durability,
        syncing: None,
    };
    let until_expiry = (expires_at - Utc::now()).to_std().unwrap_or_default();
    let expiry = tokio::time::sleep(until_expiry);
    tokio::pin!(expiry);
    let ended = loop {
        relay.client_in.reserve(READ_CHUNK);
        relay.upstream_in.reserve(READ_CHUNK);
        let step = tokio::select! {
            r = relay.client.read_buf(&mut relay.client_in) => match r {
                Ok(0) => Err(Ended::ClientGone),
                Ok(_) => relay.forward_client().await,
                // A TLS client that hangs up without close_notify has simply gone.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Ended::ClientGone),
                Err(e) => Err(Ended::Io(e)),
            },
            r = relay.upstream.read_buf(&mut relay.upstream_in) => match r {
                Ok(0) => Err(relay.upstream_gone().await),
                Ok(_) => relay.forward_upstream().await,
                Err(e) => Err(Ended::Io(e)),
            },
            changed = relay.ending.changed() => {
                let why = ending_of(changed, &relay.ending);
                fatal(&mut *relay.client, "57P01", why.message()).await;
                Err(Ended::By(why))
            }
            () = &mut expiry => {
                fatal(&mut *relay.client, "57P01", Ending::Expired.message()).await;
                Err(Ended::By(Ending::Expired))
            }
            changed = relay.drain.changed(), if !told_of_drain => {
                let drain = *relay.drain.borrow_and_update();
                match (changed, drain) {
                    (Ok(()), Some(drain)) => {
                        told_of_drain = true;
                        relay.tell_client(&drain.notice()).await
                    }
                    (Ok(()), None) => Ok(()),
                    // The registry is gone: there is no drain to hear of.
                    (Err(_), _) => {
                        told_of_drain = true;
                        Ok(())
                    }
                }
            }
        };
        if let Err(ended) = step {
            break ended;
        }
    };
    let _ = relay.upstream.shutdown().await;
    relay.session.counts.masked_values += relay.masker.masked_values();
    ended
}

impl<C: ClientIo, U: UpstreamIo> Relay<'_, '_, C, U> {
    /// A WARNING of the gateway's own to the client, between two whole messages (PostgreSQL
    /// clients take a NoticeResponse at any point).
    async fn tell_client(&mut self, message: &str) -> Result<(), Ended> {
        let mut buf = BytesMut::new();
        hoop_protocol::backend::encode_notice_response(
            &ErrorFields::new("WARNING", "01000", message),
            &mut buf,
        );
        self.client
            .write_all(&buf)
            .await
            .map_err(|_| Ended::ClientGone)
    }
}

/// Sends a FATAL ErrorResponse; the connection is closed after it.
pub(super) async fn fatal<W: AsyncWrite + Unpin>(client: &mut W, sqlstate: &str, message: &str) {
    let mut out = BytesMut::new();
    hoop_protocol::backend::encode_error_response(
        &ErrorFields::new("FATAL", sqlstate, message),
        &mut out,
    );
    let _ = client.write_all(&out).await;
}

/// Why the registry ended the session.
fn ending_of(
    changed: Result<(), watch::error::RecvError>,
    ending: &watch::Receiver<Option<Ending>>,
) -> Ending {
    match changed {
        Ok(()) => ending.borrow().clone().unwrap_or(Ending::Shutdown),
        Err(_) => Ending::Shutdown,
    }
}

impl<C: ClientIo, U: UpstreamIo> Relay<'_, '_, C, U> {
    /// Frames the client's bytes, records what they ask for, then forwards them. `Err` ends
    /// the session.
    async fn forward_client(&mut self) -> Result<(), Ended> {
        self.out.clear();
        let mut events = Vec::new();
        let mut terminate = false;
        loop {
            let frame = match decode_frame(&mut self.client_in, self.max_message) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return Err(self.violation(e.to_string()).await),
            };
            let message = match decode_client(&frame) {
                Ok(message) => message,
                Err(e) => return Err(self.violation(e).await),
            };
            terminate |= frame.tag == b'X';
            let Some(message) = &message else {
                self.out.extend_from_slice(&frame.raw);
                continue;
            };
            self.forget_replaced(message);
            let ruling = self.decide(message, &mut events).await;
            let decision = ruling.as_ref().map(|(d, _)| d);
            if let Some(event) = self.client_event(message, decision) {
                events.push(event);
            }
            let refusal = match ruling {
                Some((d, _)) if policy::denies(&d) => Some(Refusal::denied(&d)),
                None => self.once_more(message),
                Some((d, classification)) if policy::holds(&d) => {
                    // What came before the held statement runs now; what comes after waits
                    // in `client_in` until the hold ends.
                    self.flush(&mut events).await?;
                    let outcome = self
                        .hold(&d, classification.as_deref(), statement_text(message))
                        .await?;
                    // `out` carried upstream results to the client during the hold.
                    self.out.clear();
                    if let HoldOutcome::Approved {
                        id,
                        scope: Scope::Once,
                        ..
                    } = &outcome
                    {
                        self.approve_once(message, *id);
                    }
                    events.push(outcome.event(&self.masker.policy().masker));
                    super::hold::refusal(&outcome)
                }
                _ => None,
            };
            match (message, refusal) {
                (FrontendMessage::Parse { .. } | FrontendMessage::Bind { .. }, Some(r)) => {
                    // The client's statement is never created upstream: the gateway's own
                    // statement raises the refusal in its place.
                    self.refused += 1;
                    self.masker.injected();
                    self.statements_policy
                        .encode_refused_parse(&r, self.refused, &mut self.out);
                    let name = self.statements_policy.refusal_statement(self.refused);
                    self.closing.push(name);
                }
                (_, Some(r)) => {
                    self.masker.client(message);
                    self.statements_policy
                        .encode_refused_query(&r, &mut self.out);
                }
                _ if self.forward_approved_once(message) => {}
                _ => {
                    if let ClientStep::DescribeFirst(portal) = self.masker.client(message) {
                        // The rows of an undescribed portal must be typed before they are
                        // masked; the answer to this Describe is swallowed on its way back.
                        frontend::encode_describe(Target::Portal, &portal, &mut self.out);
                    }
                    self.out.extend_from_slice(&frame.raw);
                }
            }
        }
        self.flush(&mut events).await?;
        if terminate {
            Err(Ended::Terminated)
        } else {
            Ok(())
        }
    }

    /// Records `events` (all but the last ride on the last one's sync: one durable append per
    /// batch), then forwards `out`. With `statement` durability nothing goes upstream before
    /// its events are durable; with `result`, before they are written, and nothing comes back
    /// to the client before they are durable ([`Self::release`]).
    async fn flush(&mut self, events: &mut Vec<Event>) -> Result<(), Ended> {
        let last = events.pop();
        for event in events.drain(..) {
            self.session
                .recorder
                .append(event)
                .map_err(Ended::RecordingFailed)?;
        }
        if let Some(event) = last {
            let recorder = &mut self.session.recorder;
            let recorded = match self.durability {
                Durability::Statement => recorder.append_durable(event).await.map(|_| None),
                Durability::Result => recorder.append_written(event).await.map(Some),
            };
            match recorded {
                Ok(None) => {}
                Ok(Some(syncing)) => self.syncing = Some(syncing),
                Err(e) => {
                    fatal(
                        self.client,
                        "58030",
                        "hoop cannot record this statement, so it was not run; the session ends",
                    )
                    .await;
                    return Err(Ended::RecordingFailed(e));
                }
            }
        }
        if !self.out.is_empty() {
            self.upstream
                .write_all(&self.out)
                .await
                .map_err(|_| Ended::UpstreamGone)?;
            self.out.clear();
        }
        Ok(())
    }

    /// The statement policy's decision on a Query, Parse or FunctionCall, with the text's
    /// classification; `None` for other messages.
    async fn decide(
        &mut self,
        message: &FrontendMessage,
        events: &mut Vec<Event>,
    ) -> Option<(Decision, Option<Arc<Classification>>)> {
        if !matches!(
            message,
            FrontendMessage::Query { .. }
                | FrontendMessage::Parse { .. }
                | FrontendMessage::FunctionCall { .. }
        ) {
            return None;
        }
        // One snapshot of the rules decides the whole statement; the recording names it
        // before the first statement it decides.
        let in_force = self.statements_policy.in_force();
        if self.policy_version != Some(in_force.version) {
            self.policy_version = Some(in_force.version);
            events.push(Event::Policy {
                version: in_force.version,
            });
        }
        let rules = &in_force.rules;
        let connection = &self.masker.connection().as_str();
        let credential = self.session.credential();
        let subject = Subject::new(
            connection,
            Run {
                identity: &credential.identity,
                trust: &credential.trust_rule,
                role: credential.parent_role.as_str(),
            },
        );
        let (decision, classification) = match message {
            FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. } => {
                let (catalog, upstreams) = self.masker.catalog();
                let live = LiveCatalog {
                    catalog,
                    upstreams,
                    connection: self.masker.connection(),
                };
                let ruling = self
                    .statements_policy
                    .rule(rules, &subject, sql, &live)
                    .await;
                (ruling.decision, ruling.classification)
            }
            _ => (rules.function_call(&subject), None),
        };
        self.session.decided(&decision).await;
        Some((decision, classification))
    }

    /// The recording event for a client message, if it is one the evidence needs. Every text
    /// in it (SQL, statement and portal names, parameters) goes through the masker.
    fn client_event(
        &mut self,
        message: &FrontendMessage,
        decision: Option<&Decision>,
    ) -> Option<Event> {
        let policy = self.masker.policy();
        let masker = &policy.masker;
        // Query, Parse and FunctionCall are always decided; the default keeps a missing
        // decision from ever reading as an allowance.
        let action = decision.map_or(Action::Deny, |d| d.action);
        let rule = decision
            .and_then(|d| d.rule.as_deref())
            .map(|r| masker.mask_text(r));
        let dry_run: Vec<MaskedText> = decision
            .map(|d| {
                d.dry_run
                    .iter()
                    .map(|r| masker.mask_text(&r.rule))
                    .collect()
            })
            .unwrap_or_default();
        match message {
            FrontendMessage::Query { sql } => {
                self.session.counts.statements += 1;
                Some(Event::Statement(Statement {
                    protocol: Protocol::Simple,
                    sql: masker.mask_text(sql),
                    decision: action,
                    rule,
                    dry_run,
                }))
            }
            FrontendMessage::Parse { statement, sql, .. } => Some(Event::Parse(Parse {
                statement: masker.mask_text(statement),
                sql: masker.mask_text(sql),
                decision: action,
                rule,
                dry_run,
            })),
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                ..
            } => {
                let types = self.masker.param_types(statement);
                Some(Event::Bind(Bind {
                    portal: masker.mask_text(portal),
                    statement: masker.mask_text(statement),
                    params: recorded_params(masker, &types, param_formats, params),
                }))
            }
            FrontendMessage::Execute { portal, max_rows } => {
                self.session.counts.statements += 1;
                Some(Event::Execute(Execute {
                    portal: masker.mask_text(portal),
                    max_rows: *max_rows,
                }))
            }
            FrontendMessage::FunctionCall { function_oid } => {
                self.session.counts.statements += 1;
                Some(Event::FunctionCall(FunctionCall {
                    function_oid: *function_oid,
                    decision: action,
                    rule,
                    dry_run,
                }))
            }
            FrontendMessage::CopyData(data) => {
                // COPY data is not recorded (it is the table's content), only its size.
                self.copy_in_bytes += data.len() as u64;
                None
            }
            FrontendMessage::CopyDone | FrontendMessage::CopyFail { .. } => {
                let bytes = std::mem::take(&mut self.copy_in_bytes);
                let completed = matches!(message, FrontendMessage::CopyDone);
                Some(Event::CopyInEnd { bytes, completed })
            }
            FrontendMessage::Terminate => Some(Event::Terminate),
            _ => None,
        }
    }

    /// Frames the upstream's bytes, notes completions and errors, masks what could carry a
    /// card number, and forwards them.
    async fn forward_upstream(&mut self) -> Result<(), Ended> {
        self.out.clear();
        loop {
            let frame = match decode_frame(&mut self.upstream_in, MAX_UPSTREAM_MESSAGE) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return Err(self.upstream_violation(e.to_string()).await),
            };
            if let Some(why) = Self::encoding_changed(&frame) {
                return Err(self.end_for_encoding(why).await);
            }
            // Recorded after masking, so what a result masked comes before its completion.
            let event = match frame.tag {
                b'C' | b'E' | b'N' | b'A' | b'S' => self.upstream_event(&frame),
                _ => None,
            };
            let relayed = self
                .masker
                .relay(frame, &mut self.out, &mut self.session.recorder)
                .await;
            match relayed {
                Ok(()) => {}
                Err(Fault::Malformed(e)) => return Err(self.upstream_violation(e).await),
                Err(Fault::Recording(e)) => return Err(Ended::RecordingFailed(e)),
            }
            if let Some(event) = event {
                self.session
                    .recorder
                    .append(event)
                    .map_err(Ended::RecordingFailed)?;
            }
        }
        if !self.out.is_empty() {
            self.release().await?;
            self.client
                .write_all(&self.out)
                .await
                .map_err(|_| Ended::ClientGone)?;
        }
        Ok(())
    }

    /// Waits until the statements forwarded so far are durably recorded, before anything the
    /// upstream sent goes to the client (`result` durability). A record that never becomes
    /// durable ends the session: its result is withheld.
    pub(super) async fn release(&mut self) -> Result<(), Ended> {
        let Some(syncing) = self.syncing.take() else {
            return Ok(());
        };
        if let Err(e) = syncing.durable().await {
            fatal(
                self.client,
                "58030",
                "hoop cannot record this statement durably, so its result is withheld; the \
                 session ends",
            )
            .await;
            return Err(Ended::RecordingFailed(e));
        }
        Ok(())
    }

    /// The recording event for an upstream message, its text masked whether or not results
    /// are (`masking.results = false` leaves results alone, never recordings).
    fn upstream_event(&mut self, frame: &Frame) -> Option<Event> {
        let policy = self.masker.policy();
        let masker = &policy.masker;
        match BackendMessage::decode(frame).ok()? {
            BackendMessage::CommandComplete { tag } => Some(Event::Complete {
                tag: masker.mask_text(&tag),
            }),
            BackendMessage::ErrorResponse(fields) => {
                self.session.counts.errors += 1;
                Some(Event::Error(diagnostic(masker, &fields)))
            }
            BackendMessage::NoticeResponse(fields) => {
                Some(Event::Notice(diagnostic(masker, &fields)))
            }
            BackendMessage::NotificationResponse {
                channel, payload, ..
            } => Some(Event::Notification {
                channel: masker.mask_text(&channel),
                payload_bytes: payload.len(),
            }),
            // A `SET` of a reported setting: what the session now runs with.
            BackendMessage::ParameterStatus { name, value } => Some(Event::ParameterStatus {
                name: masker.mask_text(&name),
                value: masker.mask_text(&value),
            }),
            _ => None,
        }
    }

    /// The upstream closed the connection. The client learns it once the statements before
    /// are durably recorded (`result` durability): that the upstream answered is an answer.
    pub(super) async fn upstream_gone(&mut self) -> Ended {
        self.release().await.err().unwrap_or(Ended::UpstreamGone)
    }

    async fn upstream_violation(&mut self, reason: String) -> Ended {
        // Even that the upstream answered is its answer: not before the record is durable.
        if let Err(ended) = self.release().await {
            return ended;
        }
        fatal(
            &mut *self.client,
            "08P01",
            "the upstream database broke the protocol",
        )
        .await;
        Ended::ProtocolViolation(format!("upstream: {reason}"))
    }

    async fn violation(&mut self, reason: String) -> Ended {
        fatal(
            &mut *self.client,
            "08P01",
            &format!("protocol violation: {reason}"),
        )
        .await;
        Ended::ProtocolViolation(reason)
    }
}

/// The SQL text of a Query or Parse.
fn statement_text(message: &FrontendMessage) -> &str {
    match message {
        FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. } => sql,
        _ => "",
    }
}

/// Client messages the relay inspects, decoded; the rest (COPY data sizes aside) pass as bytes.
fn decode_client(frame: &Frame) -> Result<Option<FrontendMessage>, String> {
    if !matches!(
        frame.tag,
        b'Q' | b'P' | b'B' | b'E' | b'F' | b'X' | b'd' | b'c' | b'f' | b'D' | b'C' | b'S'
    ) {
        return Ok(None);
    }
    FrontendMessage::decode(frame)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn diagnostic(masker: &Masker, fields: &ErrorFields) -> Diagnostic {
    let masked = |code: u8| fields.get(code).map(|v| masker.mask_text(v));
    Diagnostic {
        sqlstate: fields.sqlstate().and_then(SqlState::parse),
        message: masker.mask_text(fields.message().unwrap_or_default()),
        detail: masker.mask_text(fields.get(b'D').unwrap_or_default()),
        hint: masked(b'H'),
        context: masked(b'W'),
        internal_query: masked(b'q'),
    }
}

/// Bind parameters for the recording: values masked and capped; a binary value whose type
/// cannot be read as text is recorded as its size only. `types` are the statement's parameter
/// types, as far as known (0 or missing: unknown).
fn recorded_params(
    masker: &Masker,
    types: &[u32],
    formats: &[i16],
    params: &[Option<bytes::Bytes>],
) -> Vec<BindParam> {
    let format_of = |i: usize| match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(i).copied().unwrap_or(0),
    };
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let Some(bytes) = p else {
                return BindParam::Null;
            };
            let kind = value::kind_of(types.get(i).copied().unwrap_or(0));
            let format = Format::from_code(format_of(i));
            match masker.mask_param(&kind, format, bytes, MAX_RECORDED_PARAM) {
                Some(text) => BindParam::Text(text),
                None => BindParam::Binary {
                    binary_bytes: bytes.len(),
                },
            }
        })
        .collect()
}
