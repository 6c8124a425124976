//! The relay: client and upstream bytes, frame by frame, with every statement recorded before
//! it is forwarded.
//!
//! Buffers: `client_in` holds client bytes until they form whole frames (at most one partial
//! frame is kept, bounded by `max_message_bytes`); `upstream_in` likewise for the upstream (bounded
//! by Postgres's own 1 GiB message limit); `out` is reused for each batch written to the other
//! side. One task owns both sockets and awaits each write before reading more, so a slow client
//! stops the upstream reads (TCP backpressure) instead of growing a buffer.

use std::fmt;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use hoop_protocol::backend::{BackendMessage, ErrorFields};
use hoop_protocol::frontend::FrontendMessage;
use hoop_protocol::{Frame, decode_frame};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::registry::Ending;
use super::session::fatal;
use super::stream::ClientStream;
use crate::masking::pan::{self, MaskStyle};
use crate::recording::{Event, Recorder, RecordingError, RecordingSummary};

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
    pub recording: Result<RecordingSummary, RecordingError>,
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
}

pub async fn run(
    sides: Sides<'_>,
    recorder: Recorder,
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
            match self.client_event(&frame) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(e) => return Err(self.violation(e).await),
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
    fn client_event(&mut self, frame: &Frame) -> Result<Option<Event>, String> {
        if !matches!(
            frame.tag,
            b'Q' | b'P' | b'B' | b'E' | b'F' | b'X' | b'd' | b'c' | b'f'
        ) {
            return Ok(None);
        }
        let message = FrontendMessage::decode(frame).map_err(|e| e.to_string())?;
        Ok(match message {
            FrontendMessage::Query { sql } => {
                self.statements += 1;
                Some(
                    Event::new("statement")
                        .with("protocol", "simple")
                        .with("sql", masked(&sql)),
                )
            }
            FrontendMessage::Parse { statement, sql, .. } => Some(
                Event::new("parse")
                    .with("statement", statement)
                    .with("sql", masked(&sql)),
            ),
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                ..
            } => Some(
                Event::new("bind")
                    .with("portal", portal)
                    .with("statement", statement)
                    .with("params", recorded_params(&param_formats, &params)),
            ),
            FrontendMessage::Execute { portal, max_rows } => {
                self.statements += 1;
                Some(
                    Event::new("execute")
                        .with("portal", portal)
                        .with("max_rows", max_rows),
                )
            }
            FrontendMessage::FunctionCall { function_oid } => {
                self.statements += 1;
                Some(Event::new("function_call").with("function_oid", function_oid))
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
        })
    }

    /// Frames the upstream's bytes, notes completions and errors, and forwards them.
    async fn forward_upstream(&mut self) -> Result<(), Ended> {
        self.out.clear();
        loop {
            let frame = match decode_frame(&mut self.upstream_in, MAX_UPSTREAM_MESSAGE) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    fatal(
                        self.client,
                        "08P01",
                        "the upstream database broke the protocol",
                    )
                    .await;
                    return Err(Ended::ProtocolViolation(format!("upstream: {e}")));
                }
            };
            if matches!(frame.tag, b'C' | b'E' | b'N' | b'A')
                && let Some(event) = self.upstream_event(&frame)
            {
                self.recorder
                    .append(event)
                    .map_err(Ended::RecordingFailed)?;
            }
            self.out.extend_from_slice(&frame.raw);
        }
        if !self.out.is_empty() {
            self.client
                .write_all(&self.out)
                .await
                .map_err(|_| Ended::ClientGone)?;
        }
        Ok(())
    }

    fn upstream_event(&mut self, frame: &Frame) -> Option<Event> {
        match BackendMessage::decode(frame).ok()? {
            BackendMessage::CommandComplete { tag } => {
                Some(Event::new("complete").with("tag", tag))
            }
            BackendMessage::ErrorResponse(fields) => {
                self.errors += 1;
                Some(diagnostic("error", &fields))
            }
            BackendMessage::NoticeResponse(fields) => Some(diagnostic("notice", &fields)),
            BackendMessage::NotificationResponse {
                channel, payload, ..
            } => Some(
                Event::new("notification")
                    .with("channel", channel)
                    .with("payload_bytes", payload.len()),
            ),
            _ => None,
        }
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

fn diagnostic(kind: &'static str, fields: &ErrorFields) -> Event {
    Event::new(kind)
        .with("sqlstate", fields.sqlstate().unwrap_or_default().to_owned())
        .with("message", masked(fields.message().unwrap_or_default()))
        .with("detail", masked(fields.get(b'D').unwrap_or_default()))
}

/// Text as it may be recorded: card numbers masked (PCI DSS 3.5.1 covers audit logs too).
fn masked(text: &str) -> String {
    pan::mask(text, &MaskStyle::BinAndLastFour).into_owned()
}

/// Bind parameters for the recording: text values masked and capped, binary values as their
/// size only (they cannot be masked reliably without their types), NULL as null.
fn recorded_params(formats: &[i16], params: &[Option<bytes::Bytes>]) -> Value {
    let format_of = |i: usize| match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(i).copied().unwrap_or(0),
    };
    Value::Array(
        params
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                None => Value::Null,
                Some(bytes) if format_of(i) == 0 => {
                    let text = String::from_utf8_lossy(bytes);
                    let mut value = masked(&text);
                    if value.len() > MAX_RECORDED_PARAM {
                        let cut = (0..=MAX_RECORDED_PARAM)
                            .rev()
                            .find(|&i| value.is_char_boundary(i))
                            .unwrap_or(0);
                        value.truncate(cut);
                        value.push_str("…[truncated]");
                    }
                    Value::String(value)
                }
                Some(bytes) => serde_json::json!({"binary_bytes": bytes.len()}),
            })
            .collect(),
    )
}
