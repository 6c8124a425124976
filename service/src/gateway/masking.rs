//! The upstream side of masking: every message that can carry a value is masked before it
//! reaches the client (rows by their plan, text-bearing messages field by field, COPY data as
//! text), and what was masked is recorded, never the values. See `docs/masking.md`.
//!
//! [`ResultMasker`] owns the session's [`Tracker`] (which result each row belongs to) and the
//! plan and tally of the result in progress; the relay hands it every upstream frame and every
//! client message it forwards.

use std::sync::Arc;

use bytes::BytesMut;
use hoop_protocol::Frame;
use hoop_protocol::backend::{self, BackendMessage, ErrorFields};
use hoop_protocol::frontend::FrontendMessage;
use hoop_protocol::rows::{self, FieldDescription};

use super::catalog::Catalog;
use super::results::{ClientStep, RowSource, Tracker, UpstreamStep};
use crate::base::ConnectionName;
use crate::masking::row::{self as row_masking, MaskTally, RowPlan};
use crate::masking::value::Format;
use crate::masking::{Hits, Masker, MaskingPolicy};
use crate::recording::{Event, MaskedColumn, Recorder, RecordingError};
use crate::upstream::Upstreams;

/// What the relay masks with: the deployment's policy, the catalog cache that names result
/// columns, and the session's connection.
pub struct Masking<'a> {
    pub policy: &'a MaskingPolicy,
    pub catalog: &'a Catalog,
    pub upstreams: &'a Upstreams,
    pub connection: &'a ConnectionName,
}

/// Why an upstream message could not be relayed.
pub enum Fault {
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

/// Masks one session's results.
pub struct ResultMasker<'a> {
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

impl<'a> ResultMasker<'a> {
    pub fn new(masking: Masking<'a>) -> ResultMasker<'a> {
        ResultMasker {
            tracker: Tracker::new(masking.policy.results),
            masking,
            plan: None,
            tally: MaskTally::default(),
            masked_values: 0,
            copy_out: None,
            swallow_complete: false,
            scratch: Vec::new(),
        }
    }

    pub fn policy(&self) -> &'a MaskingPolicy {
        self.masking.policy
    }

    /// The session's connection.
    /// The catalog cache and the upstreams it reads (the card-data model looks relations up).
    pub fn catalog(&self) -> (&'a Catalog, &'a Upstreams) {
        (self.masking.catalog, self.masking.upstreams)
    }

    pub fn connection(&self) -> &'a ConnectionName {
        self.masking.connection
    }

    /// Values masked so far in the session.
    pub fn masked_values(&self) -> u64 {
        self.masked_values
    }

    /// Notes a client message about to be forwarded (with result masking off, no Describe is
    /// ever asked for).
    pub fn client(&mut self, message: &FrontendMessage) -> ClientStep {
        self.tracker.client(message)
    }

    /// Notes the gateway's own Parse, Bind and Execute of a policy denial.
    pub fn injected(&mut self) {
        self.tracker.injected();
    }

    /// Notes the gateway's own Parse ([`Tracker::injected_parse`]).
    pub fn injected_parse(&mut self) {
        self.tracker.injected_parse();
    }

    /// Notes the gateway's own Close ([`Tracker::injected_close`]).
    pub fn injected_close(&mut self) {
        self.tracker.injected_close();
    }

    /// The parameter types of a prepared statement, as far as known.
    pub fn param_types(&self, statement: &str) -> Vec<u32> {
        self.tracker
            .statement(statement)
            .map(|s| s.param_types().to_vec())
            .unwrap_or_default()
    }

    /// Appends `frame` to `out` masked: rows by their plan, text-bearing messages field by
    /// field, COPY data as text. `Err` is an upstream message that does not parse.
    pub async fn relay(
        &mut self,
        frame: Frame,
        out: &mut BytesMut,
        recorder: &mut Recorder,
    ) -> Result<(), Fault> {
        let policy = self.masking.policy;
        let masker = &policy.masker;
        if !policy.results {
            // Nothing is masked; the tracker still follows the session, so the answers to the
            // gateway's own messages never reach the client.
            if !matches!(
                self.tracker.upstream(frame.tag, None, None),
                UpstreamStep::Swallow
            ) {
                out.extend_from_slice(&frame.raw);
            }
            return Ok(());
        }
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
                push_row_description(masker, &fields, &frame, out);
                return Ok(());
            }
            UpstreamStep::Described(fields) => {
                push_row_description(masker, &fields, &frame, out);
                return Ok(());
            }
            UpstreamStep::Row(source) => {
                let plan = self.row_plan(source).await;
                row_masking::mask_data_row(
                    &plan,
                    masker,
                    &frame,
                    out,
                    &mut self.scratch,
                    &mut self.tally,
                )?;
                self.plan = Some(plan);
                return Ok(());
            }
            UpstreamStep::ResultEnd => self.flush_tally(recorder)?,
            UpstreamStep::Relay => {}
        }
        match frame.tag {
            b'E' | b'N' => {
                let fields = match BackendMessage::decode(&frame)? {
                    BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f) => f,
                    _ => unreachable_fields(),
                };
                let denial = super::policy::is_denial(fields.sqlstate(), fields.message());
                let column_rules = self
                    .masking
                    .policy
                    .columns
                    .any_for(self.masking.connection.as_str());
                let masked = ErrorFields(
                    fields
                        .0
                        .iter()
                        // A denial's context (`PL/pgSQL function inline_code_block ...`) and
                        // source location are the gateway's, not the client's statement's.
                        .filter(|(code, _)| !(denial && matches!(code, b'W' | b'F' | b'L' | b'R')))
                        .map(|(code, v)| {
                            if *code == b'D' && column_rules && echoes_values(v) {
                                (*code, withheld_detail(v))
                            } else {
                                (*code, masker.mask_str(v).into_owned())
                            }
                        })
                        .collect(),
                );
                if masked == fields {
                    out.extend_from_slice(&frame.raw);
                } else if frame.tag == b'E' {
                    backend::encode_error_response(&masked, out);
                } else {
                    backend::encode_notice_response(&masked, out);
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
                        out.extend_from_slice(&frame.raw);
                    } else {
                        backend::encode_notification_response(pid, &c, &p, out);
                    }
                }
                _ => out.extend_from_slice(&frame.raw),
            },
            b'S' => match BackendMessage::decode(&frame)? {
                BackendMessage::ParameterStatus { name, value } => {
                    let masked = masker.mask_str(&value);
                    if masked == value {
                        out.extend_from_slice(&frame.raw);
                    } else {
                        backend::encode_parameter_status(&name, &masked, out);
                    }
                }
                _ => out.extend_from_slice(&frame.raw),
            },
            b'H' => {
                let response = rows::decode_copy_response(&frame)?;
                if response.format == 0 && response.column_formats.iter().all(|&f| f == 0) {
                    self.copy_out = Some(CopyOut::Text);
                    out.extend_from_slice(&frame.raw);
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
                    backend::encode_error_response(&refusal, out);
                    recorder.append(Event::CopyOutRefused {
                        reason: "binary format",
                    })?;
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
                    push_copy_data(&self.scratch, out);
                } else {
                    out.extend_from_slice(&frame.raw);
                }
            }
            b'c' => {
                self.copy_out = None;
                out.extend_from_slice(&frame.raw);
            }
            b'C' if std::mem::take(&mut self.swallow_complete) => {}
            b'C' => {
                if is_ddl(&frame) {
                    self.masking.catalog.invalidate(self.masking.connection);
                }
                out.extend_from_slice(&frame.raw);
            }
            b'V' => {
                let hits = masker.mask_into(frame.body(), &mut self.scratch);
                if hits.any() && masker.keeps_length() {
                    // Same length: the value's length word still holds.
                    let start = out.len();
                    out.extend_from_slice(&frame.raw[..5]);
                    out.extend_from_slice(&self.scratch);
                    debug_assert_eq!(out.len() - start, frame.raw.len());
                } else if hits.any() {
                    backend::encode_error_response(
                        &ErrorFields::new(
                            "ERROR",
                            "42501",
                            "hoop withheld a function call result that held a card number",
                        ),
                        out,
                    );
                } else {
                    out.extend_from_slice(&frame.raw);
                }
            }
            _ => out.extend_from_slice(&frame.raw),
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

    fn tally_copy(&mut self, hits: Hits) {
        self.tally.columns.resize(1, Default::default());
        let c = &mut self.tally.columns[0];
        c.values += 1;
        c.hits.add(hits);
        self.plan = None;
    }

    /// Records what the result that just ended had masked: per column, how many values and
    /// what found them; never the values.
    fn flush_tally(&mut self, recorder: &mut Recorder) -> Result<(), RecordingError> {
        if self.tally.is_empty() {
            return Ok(());
        }
        let tally = std::mem::take(&mut self.tally);
        let plan = self.plan.take();
        let policy = self.masking.policy;
        let masker = &policy.masker;
        let columns: Vec<MaskedColumn> = tally
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.values > 0)
            .map(|(i, c)| {
                let column = plan.as_ref().and_then(|p| p.columns.get(i));
                // A label is a result's column name or alias: client text like any other.
                let label = column.map_or_else(
                    || {
                        if plan.is_none() {
                            masker.mask_text("copy")
                        } else {
                            masker.mask_text(&format!("#{i}"))
                        }
                    },
                    |c| masker.mask_text(c.label.as_ref()),
                );
                let mut by: Vec<_> = masker
                    .hit_names(c.hits)
                    .into_iter()
                    .map(|name| masker.mask_text(name))
                    .collect();
                if c.by_rule
                    && let Some(rule) = column.and_then(|c| c.rule)
                {
                    by.push(masker.mask_text(&format!("rule:{}", policy.columns.name(rule))));
                }
                MaskedColumn {
                    column: label,
                    values: c.values,
                    by,
                }
            })
            .collect();
        self.masked_values += tally.values();
        recorder.append(Event::Masked { columns }).map(|_| ())
    }
}

/// A DETAIL that quotes a row's or a key's values (`Failing row contains (...)`, `Key (cvv)=(123)
/// already exists`): with column rules, a value masked whole in results (a CVV) would be quoted
/// whole here, where no column tells which value is which.
fn echoes_values(detail: &str) -> bool {
    detail.starts_with("Failing row contains") || detail.starts_with("Key (")
}

/// The DETAIL with its values withheld, keeping what kind of detail it was.
fn withheld_detail(detail: &str) -> String {
    let what = if detail.starts_with("Key (") {
        "Key"
    } else {
        "Failing row contains"
    };
    format!("{what} (values withheld by hoop: this connection has masked columns)")
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
