//! The relay: client and upstream bytes, frame by frame, with every statement recorded before
//! it is forwarded.
//!
//! Buffers: `client_in` holds client bytes until they form whole frames (at most one partial
//! frame is kept, bounded by `max_message_bytes`); `upstream_in` likewise for the upstream (bounded
//! by Postgres's own 1 GiB message limit); `out` is reused for each batch written to the other
//! side. One task owns both sockets and awaits each write before reading more, so a slow client
//! stops the upstream reads (TCP backpressure) instead of growing a buffer.

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use hoop_protocol::backend::{self, BackendMessage, ErrorFields};
use hoop_protocol::frontend::{self, FrontendMessage, Target};
use hoop_protocol::rows::{self, FieldDescription};
use hoop_protocol::{Frame, decode_frame};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::catalog::Catalog;
use super::registry::Ending;
use super::results::{ClientStep, RowSource, Tracker, UpstreamStep};
use super::session::fatal;
use super::stream::ClientStream;
use crate::config::ConnectionName;
use crate::masking::row::{self as row_masking, MaskTally, RowPlan};
use crate::masking::value::{self, Format};
use crate::masking::{Masker, MaskingPolicy};
use crate::recording::{Event, Recorder, RecordingError, RecordingSummary};
use crate::upstream::Upstreams;

/// Postgres refuses messages over 1 GiB; the upstream is trusted up to that.
const MAX_UPSTREAM_MESSAGE: usize = 1 << 30;
/// Bytes asked for per read.
const READ_CHUNK: usize = 64 * 1024;
/// Bind parameters longer than this are recorded truncated (a bytea image is not evidence).
const MAX_RECORDED_PARAM: usize = 4096;

pub struct Sides<'a> {
    pub client: &'a mut ClientStream,
    pub upstream: TcpStream,
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
            Ended::Io(e) => write!(f, "connection error: {e}"),
        }
    }
}

pub struct Outcome {
    pub ended: Ended,
    pub statements: u64,
    pub errors: u64,
    pub masked_values: u64,
    pub recording: Result<RecordingSummary, RecordingError>,
}

/// What the relay masks with: the deployment's policy, the catalog cache that names result
/// columns, and the session's connection.
pub struct Masking<'a> {
    pub policy: &'a MaskingPolicy,
    pub catalog: &'a Catalog,
    pub upstreams: &'a Upstreams,
    pub connection: &'a ConnectionName,
}

/// Why an upstream message could not be relayed.
enum Fault {
    /// It does not parse: the upstream broke the protocol.
    Malformed(String),
    Recording(RecordingError),
}

impl From<RecordingError> for Fault {
    fn from(e: RecordingError) -> Self {
        Fault::Recording(e)
    }
}

impl From<hoop_protocol::ProtocolError> for Fault {
    fn from(e: hoop_protocol::ProtocolError) -> Self {
        Fault::Malformed(e.to_string())
    }
}

/// The COPY TO STDOUT in progress, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CopyOut {
    /// Text or CSV: each CopyData is masked as text.
    Text,
    /// Binary: refused (its values carry no types to mask them by); the upstream's CopyData,
    /// CopyDone and CommandComplete are swallowed, the client got an error instead.
    Refused,
}

struct Relay<'a> {
    client: &'a mut ClientStream,
    upstream: TcpStream,
    recorder: Recorder,
    client_in: BytesMut,
    upstream_in: BytesMut,
    out: BytesMut,
    max_message: usize,
    statements: u64,
    errors: u64,
    copy_in_bytes: u64,
    masking: Masking<'a>,
    tracker: Tracker,
    /// The plan of the rows being masked now, and what was masked in their result so far.
    plan: Option<Arc<RowPlan>>,
    tally: MaskTally,
    masked_values: u64,
    copy_out: Option<CopyOut>,
    /// A refused binary COPY's CommandComplete is still to come (and to swallow).
    swallow_complete: bool,
    scratch: Vec<u8>,
}

pub async fn run(
    sides: Sides<'_>,
    recorder: Recorder,
    masking: Masking<'_>,
    mut ending: watch::Receiver<Option<Ending>>,
    expires_at: DateTime<Utc>,
    max_message: usize,
) -> Outcome {
    let mut relay = Relay {
        client: sides.client,
        upstream: sides.upstream,
        recorder,
        client_in: BytesMut::with_capacity(READ_CHUNK),
        upstream_in: sides.pending,
        out: BytesMut::with_capacity(READ_CHUNK),
        max_message,
        statements: 0,
        errors: 0,
        copy_in_bytes: 0,
        masking,
        tracker: Tracker::default(),
        plan: None,
        tally: MaskTally::default(),
        masked_values: 0,
        copy_out: None,
        swallow_complete: false,
        scratch: Vec::new(),
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
                Ok(0) => Err(Ended::UpstreamGone),
                Ok(_) => relay.forward_upstream().await,
                Err(e) => Err(Ended::Io(e)),
            },
            changed = ending.changed() => {
                let why = match changed {
                    Ok(()) => ending.borrow().clone().unwrap_or(Ending::Shutdown),
                    Err(_) => Ending::Shutdown,
                };
                fatal(relay.client, "57P01", why.message()).await;
                Err(Ended::By(why))
            }
            () = &mut expiry => {
                fatal(relay.client, "57P01", Ending::Expired.message()).await;
                Err(Ended::By(Ending::Expired))
            }
        };
        if let Err(ended) = step {
            break ended;
        }
    };
    let _ = relay.upstream.shutdown().await;
    let last = Event::new("session_end")
        .with("reason", ended.to_string())
        .with("statements", relay.statements)
        .with("errors", relay.errors);
    let recording = relay.recorder.finish(last).await;
    Outcome {
        ended,
        statements: relay.statements,
        errors: relay.errors,
        masked_values: relay.masked_values,
        recording,
    }
}

impl Relay<'_> {
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
            if let Some(message) = &message {
                if let Some(event) = self.client_event(message) {
                    events.push(event);
                }
                if let ClientStep::DescribeFirst(portal) = self.tracker.client(message) {
                    // The rows of an undescribed portal must be typed before they are masked;
                    // the answer to this Describe is swallowed on its way back.
                    frontend::encode_describe(Target::Portal, &portal, &mut self.out);
                }
            }
            terminate |= frame.tag == b'X';
            self.out.extend_from_slice(&frame.raw);
        }
        // All events before the last one ride on its sync: one durable append per batch.
        let last = events.pop();
        for event in events {
            self.recorder
                .append(event)
                .map_err(Ended::RecordingFailed)?;
        }
        if let Some(event) = last
            && let Err(e) = self.recorder.append_durable(event).await
        {
            fatal(
                self.client,
                "58030",
                "hoop cannot record this statement, so it was not run; the session ends",
            )
            .await;
            return Err(Ended::RecordingFailed(e));
        }
        if !self.out.is_empty() {
            self.upstream
                .write_all(&self.out)
                .await
                .map_err(|_| Ended::UpstreamGone)?;
        }
        if terminate {
            Err(Ended::Terminated)
        } else {
            Ok(())
        }
    }

    /// The recording event for a client message, if it is one the evidence needs.
    fn client_event(&mut self, message: &FrontendMessage) -> Option<Event> {
        let policy = self.masking.policy;
        let masker = &policy.masker;
        match message {
            FrontendMessage::Query { sql } => {
                self.statements += 1;
                Some(
                    Event::new("statement")
                        .with("protocol", "simple")
                        .with("sql", masker.mask_str(sql).into_owned()),
                )
            }
            FrontendMessage::Parse { statement, sql, .. } => Some(
                Event::new("parse")
                    .with("statement", statement.clone())
                    .with("sql", masker.mask_str(sql).into_owned()),
            ),
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                ..
            } => {
                let types = self
                    .tracker
                    .statement(statement)
                    .map(|s| s.param_types().to_vec())
                    .unwrap_or_default();
                Some(
                    Event::new("bind")
                        .with("portal", portal.clone())
                        .with("statement", statement.clone())
                        .with(
                            "params",
                            recorded_params(masker, &types, param_formats, params),
                        ),
                )
            }
            FrontendMessage::Execute { portal, max_rows } => {
                self.statements += 1;
                Some(
                    Event::new("execute")
                        .with("portal", portal.clone())
                        .with("max_rows", *max_rows),
                )
            }
            FrontendMessage::FunctionCall { function_oid } => {
                self.statements += 1;
                Some(Event::new("function_call").with("function_oid", *function_oid))
            }
            FrontendMessage::CopyData(data) => {
                // COPY data is not recorded (it is the table's content), only its size.
                self.copy_in_bytes += data.len() as u64;
                None
            }
            FrontendMessage::CopyDone | FrontendMessage::CopyFail { .. } => {
                let bytes = std::mem::take(&mut self.copy_in_bytes);
                let done = matches!(message, FrontendMessage::CopyDone);
                Some(
                    Event::new("copy_in_end")
                        .with("bytes", bytes)
                        .with("completed", done),
                )
            }
            FrontendMessage::Terminate => Some(Event::new("terminate")),
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
            // Recorded after masking, so what a result masked comes before its completion.
            let event = match frame.tag {
                b'C' | b'E' | b'N' | b'A' => self.upstream_event(&frame),
                _ => None,
            };
            if self.masking.policy.results {
                match self.mask_upstream(frame).await {
                    Ok(()) => {}
                    Err(Fault::Malformed(e)) => return Err(self.upstream_violation(e).await),
                    Err(Fault::Recording(e)) => return Err(Ended::RecordingFailed(e)),
                }
            } else {
                self.out.extend_from_slice(&frame.raw);
            }
            if let Some(event) = event {
                self.recorder
                    .append(event)
                    .map_err(Ended::RecordingFailed)?;
            }
        }
        if !self.out.is_empty() {
            self.client
                .write_all(&self.out)
                .await
                .map_err(|_| Ended::ClientGone)?;
        }
        Ok(())
    }

    /// Appends `frame` to `out` masked: rows by their plan, text-bearing messages field by
    /// field, COPY data as text. `Err` is an upstream message that does not parse.
    async fn mask_upstream(&mut self, frame: Frame) -> Result<(), Fault> {
        let policy = self.masking.policy;
        let masker = &policy.masker;
        let (fields, params) = match frame.tag {
            b'T' => {
                let fields = rows::decode_row_description(&frame)?;
                (Some(Arc::from(fields)), None)
            }
            b't' => {
                let params = rows::decode_parameter_description(&frame)?;
                (None, Some(params))
            }
            _ => (None, None),
        };
        match self.tracker.upstream(frame.tag, fields, params) {
            UpstreamStep::Swallow => return Ok(()),
            UpstreamStep::Describes(fields) => {
                let formats: Vec<Format> =
                    fields.iter().map(|f| Format::from_code(f.format)).collect();
                let plan = Arc::new(self.plan(&fields, &formats).await);
                self.tracker.set_current_plan(plan);
                push_row_description(masker, &fields, &frame, &mut self.out);
                return Ok(());
            }
            UpstreamStep::Described => {
                let fields = rows::decode_row_description(&frame)?;
                push_row_description(masker, &fields, &frame, &mut self.out);
                return Ok(());
            }
            UpstreamStep::Row(source) => {
                let plan = self.row_plan(source).await;
                row_masking::mask_data_row(
                    &plan,
                    masker,
                    &frame,
                    &mut self.out,
                    &mut self.scratch,
                    &mut self.tally,
                )?;
                self.plan = Some(plan);
                return Ok(());
            }
            UpstreamStep::ResultEnd => self.flush_tally()?,
            UpstreamStep::Relay => {}
        }
        match frame.tag {
            b'E' | b'N' => {
                let fields = match BackendMessage::decode(&frame)? {
                    BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f) => f,
                    _ => unreachable_fields(),
                };
                let masked = ErrorFields(
                    fields
                        .0
                        .iter()
                        .map(|(code, v)| (*code, masker.mask_str(v).into_owned()))
                        .collect(),
                );
                if masked == fields {
                    self.out.extend_from_slice(&frame.raw);
                } else if frame.tag == b'E' {
                    backend::encode_error_response(&masked, &mut self.out);
                } else {
                    backend::encode_notice_response(&masked, &mut self.out);
                }
            }
            b'A' => match BackendMessage::decode(&frame)? {
                BackendMessage::NotificationResponse {
                    pid,
                    channel,
                    payload,
                } => {
                    let (c, p) = (masker.mask_str(&channel), masker.mask_str(&payload));
                    if c == channel && p == payload {
                        self.out.extend_from_slice(&frame.raw);
                    } else {
                        backend::encode_notification_response(pid, &c, &p, &mut self.out);
                    }
                }
                _ => self.out.extend_from_slice(&frame.raw),
            },
            b'S' => match BackendMessage::decode(&frame)? {
                BackendMessage::ParameterStatus { name, value } => {
                    let masked = masker.mask_str(&value);
                    if masked == value {
                        self.out.extend_from_slice(&frame.raw);
                    } else {
                        backend::encode_parameter_status(&name, &masked, &mut self.out);
                    }
                }
                _ => self.out.extend_from_slice(&frame.raw),
            },
            b'H' => {
                let response = rows::decode_copy_response(&frame)?;
                if response.format == 0 && response.column_formats.iter().all(|&f| f == 0) {
                    self.copy_out = Some(CopyOut::Text);
                    self.out.extend_from_slice(&frame.raw);
                } else {
                    self.copy_out = Some(CopyOut::Refused);
                    self.swallow_complete = true;
                    let refusal = ErrorFields::new(
                        "ERROR",
                        "0A000",
                        "hoop refuses binary COPY TO STDOUT: its values carry no types, so \
                         card numbers in them could not be masked",
                    )
                    .with(b'H', "use COPY ... TO STDOUT (FORMAT text) or (FORMAT csv)");
                    backend::encode_error_response(&refusal, &mut self.out);
                    self.recorder
                        .append(Event::new("copy_out_refused").with("reason", "binary format"))?;
                }
            }
            b'd' | b'c' if self.copy_out == Some(CopyOut::Refused) => {
                if frame.tag == b'c' {
                    self.copy_out = None;
                }
            }
            b'd' => {
                let payload = frame.body();
                let hits = masker.mask_into(payload, &mut self.scratch);
                if hits.any() {
                    self.tally_copy(hits);
                    push_copy_data(&self.scratch, &mut self.out);
                } else {
                    self.out.extend_from_slice(&frame.raw);
                }
            }
            b'c' => {
                self.copy_out = None;
                self.out.extend_from_slice(&frame.raw);
            }
            b'C' if std::mem::take(&mut self.swallow_complete) => {}
            b'C' => {
                if is_ddl(&frame) {
                    self.masking.catalog.invalidate(self.masking.connection);
                }
                self.out.extend_from_slice(&frame.raw);
            }
            b'V' => {
                let hits = masker.mask_into(frame.body(), &mut self.scratch);
                if hits.any() && masker.keeps_length() {
                    // Same length: the value's length word still holds.
                    let start = self.out.len();
                    self.out.extend_from_slice(&frame.raw[..5]);
                    self.out.extend_from_slice(&self.scratch);
                    debug_assert_eq!(self.out.len() - start, frame.raw.len());
                } else if hits.any() {
                    backend::encode_error_response(
                        &ErrorFields::new(
                            "ERROR",
                            "42501",
                            "hoop withheld a function call result that held a card number",
                        ),
                        &mut self.out,
                    );
                } else {
                    self.out.extend_from_slice(&frame.raw);
                }
            }
            _ => self.out.extend_from_slice(&frame.raw),
        }
        Ok(())
    }

    /// The plan for rows of `source`, built (and kept on the portal) the first time.
    async fn row_plan(&mut self, source: RowSource) -> Arc<RowPlan> {
        match source {
            RowSource::Current(plan) => plan,
            RowSource::Portal(portal) => {
                if let Some(plan) = portal.plan.get() {
                    return plan.clone();
                }
                let Some((fields, formats)) = portal.columns() else {
                    return Arc::new(RowPlan::unknown(Format::Text));
                };
                let plan = Arc::new(self.plan(&fields, &formats).await);
                portal.plan.get_or_init(|| plan).clone()
            }
            RowSource::Unknown(portal) => {
                let format = portal.map_or(Format::Text, |p| p.bound_format(0));
                Arc::new(RowPlan::unknown(format))
            }
        }
    }

    async fn plan(&self, fields: &[FieldDescription], formats: &[Format]) -> RowPlan {
        let m = &self.masking;
        m.catalog
            .plan(m.upstreams, m.policy, m.connection, fields, formats)
            .await
    }

    fn tally_copy(&mut self, hits: crate::masking::Hits) {
        self.tally.columns.resize(1, Default::default());
        let c = &mut self.tally.columns[0];
        c.values += 1;
        c.hits.add(hits);
        self.plan = None;
    }

    /// Records what the result that just ended had masked: per column, how many values and
    /// what found them; never the values.
    fn flush_tally(&mut self) -> Result<(), RecordingError> {
        if self.tally.is_empty() {
            return Ok(());
        }
        let tally = std::mem::take(&mut self.tally);
        let plan = self.plan.take();
        let policy = self.masking.policy;
        let masker = &policy.masker;
        let columns: Vec<Value> = tally
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.values > 0)
            .map(|(i, c)| {
                let column = plan.as_ref().and_then(|p| p.columns.get(i));
                let label = column.map_or_else(
                    || {
                        if plan.is_none() {
                            "copy".to_owned()
                        } else {
                            format!("#{i}")
                        }
                    },
                    |c| c.label.to_string(),
                );
                let mut by: Vec<String> = masker
                    .hit_names(c.hits)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                if c.by_rule
                    && let Some(rule) = column.and_then(|c| c.rule)
                {
                    by.push(format!("rule:{}", policy.columns.name(rule)));
                }
                json!({"column": label, "values": c.values, "by": by})
            })
            .collect();
        self.masked_values += tally.values();
        self.recorder
            .append(Event::new("masked").with("columns", Value::Array(columns)))
            .map(|_| ())
    }

    fn upstream_event(&mut self, frame: &Frame) -> Option<Event> {
        let policy = self.masking.policy;
        let masker = &policy.masker;
        match BackendMessage::decode(frame).ok()? {
            BackendMessage::CommandComplete { tag } => {
                Some(Event::new("complete").with("tag", tag))
            }
            BackendMessage::ErrorResponse(fields) => {
                self.errors += 1;
                Some(diagnostic(masker, "error", &fields))
            }
            BackendMessage::NoticeResponse(fields) => Some(diagnostic(masker, "notice", &fields)),
            BackendMessage::NotificationResponse {
                channel, payload, ..
            } => Some(
                Event::new("notification")
                    .with("channel", masker.mask_str(&channel).into_owned())
                    .with("payload_bytes", payload.len()),
            ),
            _ => None,
        }
    }

    async fn upstream_violation(&mut self, reason: String) -> Ended {
        fatal(
            self.client,
            "08P01",
            "the upstream database broke the protocol",
        )
        .await;
        Ended::ProtocolViolation(format!("upstream: {reason}"))
    }

    async fn violation(&mut self, reason: String) -> Ended {
        fatal(
            self.client,
            "08P01",
            &format!("protocol violation: {reason}"),
        )
        .await;
        Ended::ProtocolViolation(reason)
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

/// `ErrorResponse` and `NoticeResponse` decode to their fields; any other message here would be
/// a decoder bug, answered with no fields (so nothing unmasked is kept).
fn unreachable_fields() -> ErrorFields {
    ErrorFields(Vec::new())
}

/// A RowDescription, its column names masked (an alias can be a card number).
fn push_row_description(
    masker: &Masker,
    fields: &[FieldDescription],
    frame: &Frame,
    out: &mut BytesMut,
) {
    if fields
        .iter()
        .all(|f| matches!(masker.mask_str(&f.name), std::borrow::Cow::Borrowed(_)))
    {
        out.extend_from_slice(&frame.raw);
        return;
    }
    let masked: Vec<FieldDescription> = fields
        .iter()
        .map(|f| FieldDescription {
            name: masker.mask_str(&f.name).into_owned(),
            ..f.clone()
        })
        .collect();
    rows::encode_row_description(&masked, out);
}

/// A CopyData message holding `payload`.
fn push_copy_data(payload: &[u8], out: &mut BytesMut) {
    use bytes::BufMut;
    out.put_u8(b'd');
    // COPY rows come from one upstream message (≤ 1 GiB), and masking keeps or shortens most.
    out.put_i32(i32::try_from(payload.len() + 4).unwrap_or(i32::MAX));
    out.put_slice(payload);
}

/// Whether a CommandComplete tag is DDL that can rename, add or drop columns or types.
fn is_ddl(frame: &Frame) -> bool {
    let tag = frame.body();
    [&b"ALTER "[..], b"DROP ", b"CREATE "]
        .iter()
        .any(|p| tag.starts_with(p))
}

fn diagnostic(masker: &Masker, kind: &'static str, fields: &ErrorFields) -> Event {
    let mut event = Event::new(kind)
        .with("sqlstate", fields.sqlstate().unwrap_or_default().to_owned())
        .with(
            "message",
            masker
                .mask_str(fields.message().unwrap_or_default())
                .into_owned(),
        )
        .with(
            "detail",
            masker
                .mask_str(fields.get(b'D').unwrap_or_default())
                .into_owned(),
        );
    for (code, name) in [(b'H', "hint"), (b'W', "where"), (b'q', "internal_query")] {
        if let Some(v) = fields.get(code) {
            event = event.with(name, masker.mask_str(v).into_owned());
        }
    }
    event
}

/// Bind parameters for the recording: values masked and capped; a binary value whose type
/// cannot be read as text is recorded as its size only. `types` are the statement's parameter
/// types, as far as known (0 or missing: unknown).
fn recorded_params(
    masker: &Masker,
    types: &[u32],
    formats: &[i16],
    params: &[Option<bytes::Bytes>],
) -> Value {
    let format_of = |i: usize| match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(i).copied().unwrap_or(0),
    };
    Value::Array(
        params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let Some(bytes) = p else {
                    return Value::Null;
                };
                let kind = value::kind_of(types.get(i).copied().unwrap_or(0));
                let format = Format::from_code(format_of(i));
                match value::recorded_text(masker, &kind, format, bytes) {
                    Some(mut text) => {
                        if text.len() > MAX_RECORDED_PARAM {
                            let cut = (0..=MAX_RECORDED_PARAM)
                                .rev()
                                .find(|&i| text.is_char_boundary(i))
                                .unwrap_or(0);
                            text.truncate(cut);
                            text.push_str("…[truncated]");
                        }
                        Value::String(text)
                    }
                    None => json!({"binary_bytes": bytes.len()}),
                }
            })
            .collect(),
    )
}
