//! Events and their line encoding: the one place that decides the bytes of a recording line.
//!
//! A line is `{"seq":N,"ts":"…","kind":"…",<fields…>,"prev":"<hex>"}` followed by `\n`; the full
//! specification is in `docs/recording-format.md`. The line is built by hand (not through a
//! `serde_json::Map`) so the key order is fixed by this code, not by a crate-wide serde feature.

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

use super::Durability;
use crate::base::hash::write_hex;
use crate::base::{ApprovalId, CredentialId, SessionId, Sha256};
use crate::masking::MaskedText;
use crate::policy::rules::Action;
use crate::policy::rules::Scope;

/// Prefix of the genesis preimage: line 0's `prev` is SHA-256 of `hoop-recording-v1:<session_id>`.
pub const GENESIS_PREFIX: &str = "hoop-recording-v1:";

/// Keys the recorder writes itself; no event field is named like them (the field names are
/// the fields of [`Event`]'s variants, and a test holds every variant to it).
pub const RESERVED_KEYS: [&str; 4] = ["seq", "ts", "kind", "prev"];

/// One recorded event: its kind is the variant, its fields the variant's fields, written in
/// the order they are declared here (`docs/recording-format.md` lists them).
///
/// Text a client, the upstream, an approver or a CI provider supplied is only ever
/// [`MaskedText`], which nothing but the deployment's [`crate::masking::Masker`] produces; the
/// other fields are numbers, booleans, ids, validated codes, or words chosen in code
/// (`&'static str`, enums). So a new field cannot record a card number by mistake: it would
/// have to be a `MaskedText` to hold text at all.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The first line of a session.
    SessionStart(SessionStart),
    /// A simple-protocol Query.
    Statement(Statement),
    Parse(Parse),
    Bind(Bind),
    Execute(Execute),
    FunctionCall(FunctionCall),
    /// The end of a COPY FROM STDIN: its size (the data itself is the table's content, never
    /// recorded) and whether the client finished it (CopyDone) or abandoned it (CopyFail).
    CopyInEnd {
        bytes: u64,
        completed: bool,
    },
    /// The client sent Terminate.
    Terminate,
    /// CommandComplete.
    Complete {
        tag: MaskedText,
    },
    /// ErrorResponse.
    Error(Diagnostic),
    /// NoticeResponse.
    Notice(Diagnostic),
    /// NotificationResponse: the channel, and the payload by size only.
    Notification {
        channel: MaskedText,
        payload_bytes: usize,
    },
    /// ParameterStatus during the session (a `SET` of a reported setting).
    ParameterStatus {
        name: MaskedText,
        value: MaskedText,
    },
    /// What a result had masked, per column; never a value.
    Masked {
        columns: Vec<MaskedColumn>,
    },
    /// A binary COPY TO STDOUT was refused.
    CopyOutRefused {
        reason: &'static str,
    },
    /// A statement was held and its approval requested.
    ApprovalRequested {
        approval_id: ApprovalId,
        rule: MaskedText,
    },
    /// A hold ended.
    Approval(ApprovalEnd),
    /// The statement rules of the configuration with this SHA-256 decide the statements from
    /// here on: written before the first decided statement and again after every reload that
    /// changes them, so each decision names the configuration that made it.
    Policy {
        version: Sha256,
    },
    /// Recovery closed a recording that a crash or a failure cut short. The line (and the
    /// `session_end` after it) carries the time of the last durable event, the latest instant
    /// the session is known to have been alive: its end is inferred, not observed. `noticed_at`
    /// is when recovery closed it.
    Terminated {
        reason: &'static str,
        noticed_at: DateTime<Utc>,
    },
    /// The last line of a session.
    SessionEnd(SessionEnd),
}

impl Event {
    /// The event's `kind`, as written in its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SessionStart(_) => "session_start",
            Event::Statement(_) => "statement",
            Event::Parse(_) => "parse",
            Event::Bind(_) => "bind",
            Event::Execute(_) => "execute",
            Event::FunctionCall(_) => "function_call",
            Event::CopyInEnd { .. } => "copy_in_end",
            Event::Terminate => "terminate",
            Event::Complete { .. } => "complete",
            Event::Error(_) => "error",
            Event::Notice(_) => "notice",
            Event::Notification { .. } => "notification",
            Event::ParameterStatus { .. } => "parameter_status",
            Event::Masked { .. } => "masked",
            Event::CopyOutRefused { .. } => "copy_out_refused",
            Event::ApprovalRequested { .. } => "approval_requested",
            Event::Approval(_) => "approval",
            Event::Policy { .. } => "policy",
            Event::Terminated { .. } => "terminated",
            Event::SessionEnd(_) => "session_end",
        }
    }

    /// A `session_end` without counts: a session that ended before its relay.
    pub fn session_end(reason: impl Into<Reason>) -> Event {
        Event::SessionEnd(SessionEnd {
            reason: reason.into(),
            statements: None,
            errors: None,
        })
    }
}

/// Who connected, for which run, from where. Identity fields come from the credential (the CI
/// provider's claims and hoop's configuration), the rest from the client's startup packet;
/// all of it is masked, because a repository or an `application_name` can be any text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionStart {
    #[serde(serialize_with = "as_display")]
    pub session_id: SessionId,
    pub credential_id: CredentialId,
    pub username: MaskedText,
    pub connection: MaskedText,
    pub database: MaskedText,
    pub trust_rule: MaskedText,
    pub repository: MaskedText,
    pub run_id: MaskedText,
    pub client_addr: IpAddr,
    pub tls: bool,
    /// When this session's statement records were made durable: the guarantee the
    /// recording was made under.
    pub durability: Durability,
    /// The client's `application_name` (empty when it sent none); also in `params`.
    pub application_name: MaskedText,
    /// Every startup parameter the client sent, forwarded or not.
    pub params: StartupParams,
}

/// A client's startup parameters, names and values masked, in the order sent. Written as one
/// JSON object; a name sent twice keeps its last value, as PostgreSQL does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartupParams(Vec<(MaskedText, MaskedText)>);

impl StartupParams {
    pub fn new(params: impl IntoIterator<Item = (MaskedText, MaskedText)>) -> StartupParams {
        let mut kept: Vec<(MaskedText, MaskedText)> = Vec::new();
        for (name, value) in params {
            // An object member appears once: JSON parsers disagree about which duplicate wins.
            match kept.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => kept.push((name, value)),
            }
        }
        StartupParams(kept)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(MaskedText, MaskedText)> {
        self.0.iter()
    }
}

impl Serialize for StartupParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A simple-protocol statement and the policy's decision on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statement {
    pub protocol: Protocol,
    pub sql: MaskedText,
    #[serde(serialize_with = "as_action")]
    pub decision: Action,
    /// The rule that decided; absent when none matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<MaskedText>,
    /// Rules in dry-run mode that would have denied or held it; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<MaskedText>,
}

/// How a statement came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Simple,
}

/// A Parse (a prepared statement's text) and the policy's decision on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parse {
    /// The prepared statement's name, as the client chose it.
    pub statement: MaskedText,
    pub sql: MaskedText,
    #[serde(serialize_with = "as_action")]
    pub decision: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<MaskedText>,
    /// Rules in dry-run mode that would have denied or held it; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<MaskedText>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bind {
    pub portal: MaskedText,
    pub statement: MaskedText,
    pub params: Vec<BindParam>,
}

/// One bind parameter as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BindParam {
    /// SQL NULL: `null`.
    Null,
    /// Rendered as text (by its type, for a binary value), masked and capped.
    Text(MaskedText),
    /// A binary value whose type cannot be read as text: its size only.
    Binary { binary_bytes: usize },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Execute {
    pub portal: MaskedText,
    pub max_rows: i32,
}

/// A fast-path FunctionCall: the function by oid (its arguments are not recorded) and the
/// policy's decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionCall {
    pub function_oid: u32,
    #[serde(serialize_with = "as_action")]
    pub decision: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<MaskedText>,
    /// Rules in dry-run mode that would have denied or held it; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<MaskedText>,
}

/// The fields of an ErrorResponse or NoticeResponse that are recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Absent when the upstream sent none, or something that is not a SQLSTATE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<SqlState>,
    pub message: MaskedText,
    /// Empty when there was none.
    pub detail: MaskedText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<MaskedText>,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub context: Option<MaskedText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_query: Option<MaskedText>,
}

/// A SQLSTATE: five characters from `0-9 A-Z`, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqlState([u8; 5]);

impl SqlState {
    pub fn parse(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            .then_some(SqlState(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Serialize for SqlState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One column of a `masked` event: its label, how many values were masked, and what masked
/// them (`pan`, a detector's name, `rule:<name>`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaskedColumn {
    /// The column's label: a name from the result or the catalog (an alias can be anything).
    pub column: MaskedText,
    pub values: u64,
    pub by: Vec<MaskedText>,
}

/// How a hold ended, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalEnd {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<ApprovalId>,
    pub outcome: ApprovalOutcome,
    /// The approver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<MaskedText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// A denial's comment, the approver's free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<MaskedText>,
    /// Why no approval could be requested or read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MaskedText>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    Approved,
    /// A run-wide approval covered the statement.
    Covered,
    Denied,
    Expired,
    /// The client cancelled the held statement.
    Withdrawn,
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionEnd {
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
}

/// Why something ended: the gateway's own words, or a message that can quote others (an
/// upstream's error, an I/O error), masked.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reason {
    Fixed(&'static str),
    Masked(MaskedText),
}

impl From<&'static str> for Reason {
    fn from(words: &'static str) -> Reason {
        Reason::Fixed(words)
    }
}

impl From<MaskedText> for Reason {
    fn from(text: MaskedText) -> Reason {
        Reason::Masked(text)
    }
}

fn as_display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn as_action<S: Serializer>(action: &Action, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(action.as_str())
}

/// `prev` of line 0: binds the recording to its session id.
pub fn chain_genesis(session_id: &str) -> Sha256 {
    let mut preimage = Vec::with_capacity(GENESIS_PREFIX.len() + session_id.len());
    preimage.extend_from_slice(GENESIS_PREFIX.as_bytes());
    preimage.extend_from_slice(session_id.as_bytes());
    Sha256::of(&preimage)
}

/// Appends one complete line (with its `\n`) for `event` to `buf`.
///
/// The event serializes as `{"kind":…,<fields>}`; its opening brace becomes the comma after
/// `ts` and its closing brace makes room for `prev`, so nothing is copied twice. Writing to a
/// `Vec` cannot fail, and no field type makes serde_json fail; an error is still passed on,
/// not unwrapped.
pub(super) fn encode_line(
    buf: &mut Vec<u8>,
    seq: u64,
    ts: DateTime<Utc>,
    event: &Event,
    prev: &Sha256,
) -> Result<(), serde_json::Error> {
    write!(buf, "{{\"seq\":{seq},\"ts\":\"").map_err(serde_json::Error::io)?;
    write_ts(buf, ts)?;
    buf.push(b'"');
    let object = buf.len();
    serde_json::to_writer(&mut *buf, event)?;
    // An internally tagged enum always writes its tag first.
    debug_assert!(buf[object..].starts_with(b"{\"kind\":"));
    debug_assert_eq!(buf.last(), Some(&b'}'));
    buf[object] = b',';
    buf.pop();
    buf.extend_from_slice(b",\"prev\":\"");
    write_hex(buf, prev.as_bytes());
    buf.extend_from_slice(b"\"}\n");
    Ok(())
}

/// RFC 3339, UTC, exactly six fractional digits: `2026-11-25T10:04:05.123456Z` (27 bytes).
/// Written field by field so the hot path does not allocate a `String` per event.
fn write_ts(buf: &mut Vec<u8>, ts: DateTime<Utc>) -> Result<(), serde_json::Error> {
    // chrono encodes a leap second as nanosecond >= 1e9; clamp it into the same second.
    let micros = (ts.nanosecond() / 1_000).min(999_999);
    write!(
        buf,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
    )
    .map_err(serde_json::Error::io)
}

/// Whether `ts` has the exact shape [`write_ts`] produces and is a real instant.
pub(super) fn is_valid_ts(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 27
        && b[19] == b'.'
        && b[26] == b'Z'
        && b[20..26].iter().all(u8::is_ascii_digit)
        && DateTime::parse_from_rfc3339(ts).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::pan::TokenKey;
    use crate::masking::{Detector, MaskStyle, Masker};
    use chrono::TimeZone;

    #[test]
    fn line_has_fixed_key_order_and_escapes() {
        let masker = Masker::pci_default();
        let ts = Utc.with_ymd_and_hms(2026, 11, 25, 10, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let event = Event::Statement(Statement {
            protocol: Protocol::Simple,
            sql: masker.mask_text("select '\"x\"'\n"),
            decision: Action::Allow,
            rule: None,
            dry_run: Vec::new(),
        });
        let mut buf = Vec::new();
        encode_line(&mut buf, 7, ts, &event, &Sha256::from_bytes([0xab; 32])).unwrap();
        let line = String::from_utf8(buf).unwrap();
        let expected = format!(
            "{{\"seq\":7,\"ts\":\"2026-11-25T10:04:05.123456Z\",\"kind\":\"statement\",\
             \"protocol\":\"simple\",\"sql\":\"select '\\\"x\\\"'\\n\",\"decision\":\"allow\",\
             \"prev\":\"{}\"}}\n",
            "ab".repeat(32)
        );
        assert_eq!(line, expected);
    }

    #[test]
    fn escapes_control_characters_and_keeps_utf8() {
        let masker = Masker::pci_default();
        let ts = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let event = Event::Notice(Diagnostic {
            sqlstate: SqlState::parse("01000"),
            message: masker.mask_text("é\t\u{1}"),
            detail: masker.mask_text(""),
            hint: None,
            context: None,
            internal_query: None,
        });
        let mut buf = Vec::new();
        encode_line(&mut buf, 0, ts, &event, &Sha256::from_bytes([0; 32])).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert!(
            line.contains(
                r#""kind":"notice","sqlstate":"01000","message":"é\t\u0001","detail":"""#
            ),
            "{line}"
        );
        assert!(line.contains("\"ts\":\"2026-01-02T03:04:05.000000Z\""));
    }

    #[test]
    fn sqlstates_are_five_digits_or_capitals() {
        assert_eq!(SqlState::parse("23505").unwrap().as_str(), "23505");
        assert_eq!(SqlState::parse("P0001").unwrap().as_str(), "P0001");
        for bad in ["", "2350", "235050", "p0001", "23 05", "ünï"] {
            assert_eq!(SqlState::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn startup_parameters_are_one_object_and_a_repeated_name_keeps_its_last_value() {
        let masker = Masker::pci_default();
        let m = |s: &str| masker.mask_text(s);
        let params = StartupParams::new([
            (m("application_name"), m("a")),
            (m("search_path"), m("public")),
            (m("application_name"), m("b")),
        ]);
        assert_eq!(
            serde_json::to_string(&params).unwrap(),
            r#"{"application_name":"b","search_path":"public"}"#
        );
    }

    /// Luhn-valid card numbers of several brands and lengths, written the ways the detector
    /// accepts (contiguous, spaced, dashed, glued to other text).
    const PANS: [&str; 6] = [
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782-822463-10005",
        "x6011111111111117y",
        "4012 8888 8888 1881",
        "3530111333300000",
    ];

    /// The same numbers, digits only, for the search.
    const PAN_DIGITS: [&str; 6] = [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "4012888888881881",
        "3530111333300000",
    ];

    /// What a custom detector of the tests' masker matches.
    const SECRET: &str = "secret-7391";

    /// Independent of the masking module: the textbook Luhn check.
    fn luhn(digits: &str) -> bool {
        let sum: u32 = digits
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                match (i % 2 == 1, d > 4) {
                    (true, true) => d * 2 - 9,
                    (true, false) => d * 2,
                    _ => d,
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    /// Card numbers in `text`: runs of 13 to 19 digits (single spaces or dashes between them
    /// allowed) that pass Luhn, the test numbers wherever they stand, and the secret.
    fn leaks(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut digits = String::new();
        for i in 0..=chars.len() {
            match chars.get(i) {
                Some(d) if d.is_ascii_digit() => digits.push(*d),
                Some(' ' | '-')
                    if !digits.is_empty() && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                }
                _ => {
                    if (13..=19).contains(&digits.len()) && luhn(&digits) {
                        found.push(digits.clone());
                    }
                    digits.clear();
                }
            }
        }
        let squeezed: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        for pan in PAN_DIGITS {
            if squeezed.contains(pan) {
                found.push(pan.to_owned());
            }
        }
        if text.contains(SECRET) {
            found.push(SECRET.to_owned());
        }
        found
    }

    /// Ids without a decimal digit, so the search sees only what the events carry.
    fn id() -> uuid::Uuid {
        uuid::Uuid::from_u128(0xabcd_efab_cdef_abcd_efab_cdef_abcd_efab)
    }

    /// One event of every kind, every text field holding `text` (or, for a kind that is only
    /// the gateway's words, nothing from outside at all).
    fn every_kind(masker: &Masker, text: &str) -> Vec<Event> {
        let t = || masker.mask_text(text);
        let diagnostic = || Diagnostic {
            sqlstate: SqlState::parse("23505"),
            message: t(),
            detail: t(),
            hint: Some(t()),
            context: Some(t()),
            internal_query: Some(t()),
        };
        let param = |format: i16, bytes: &[u8]| {
            use crate::masking::value::{Format, ValueKind};
            masker
                .mask_param(&ValueKind::Text, Format::from_code(format), bytes, 4096)
                .map_or(
                    BindParam::Binary {
                        binary_bytes: bytes.len(),
                    },
                    BindParam::Text,
                )
        };
        let events = vec![
            Event::SessionStart(SessionStart {
                session_id: SessionId::from_uuid(id()),
                credential_id: CredentialId::from_uuid(id()),
                username: t(),
                connection: t(),
                database: t(),
                trust_rule: t(),
                repository: t(),
                run_id: t(),
                client_addr: IpAddr::from([10, 0, 0, 7]),
                tls: true,
                durability: Durability::Statement,
                application_name: t(),
                params: StartupParams::new([(t(), t()), (masker.mask_text("search_path"), t())]),
            }),
            Event::Statement(Statement {
                protocol: Protocol::Simple,
                sql: t(),
                decision: Action::Deny,
                rule: Some(t()),
                dry_run: Vec::new(),
            }),
            Event::Parse(Parse {
                statement: t(),
                sql: t(),
                decision: Action::Approve,
                rule: Some(t()),
                dry_run: Vec::new(),
            }),
            Event::Bind(Bind {
                portal: t(),
                statement: t(),
                params: vec![
                    param(0, text.as_bytes()),
                    param(1, text.as_bytes()),
                    BindParam::Null,
                ],
            }),
            Event::Execute(Execute {
                portal: t(),
                max_rows: 0,
            }),
            Event::FunctionCall(FunctionCall {
                function_oid: 1,
                decision: Action::Allow,
                rule: Some(t()),
                dry_run: Vec::new(),
            }),
            Event::CopyInEnd {
                bytes: 12,
                completed: true,
            },
            Event::Terminate,
            Event::Complete { tag: t() },
            Event::Error(diagnostic()),
            Event::Notice(diagnostic()),
            Event::Notification {
                channel: t(),
                payload_bytes: text.len(),
            },
            Event::ParameterStatus {
                name: t(),
                value: t(),
            },
            Event::Masked {
                columns: vec![MaskedColumn {
                    column: t(),
                    values: 2,
                    by: vec![t()],
                }],
            },
            Event::CopyOutRefused {
                reason: "binary format",
            },
            Event::ApprovalRequested {
                approval_id: ApprovalId::from_uuid(id()),
                rule: t(),
            },
            Event::Approval(ApprovalEnd {
                approval_id: Some(ApprovalId::from_uuid(id())),
                outcome: ApprovalOutcome::Denied,
                by: Some(t()),
                scope: Some(Scope::Once),
                comment: Some(t()),
                error: Some(t()),
            }),
            Event::Policy {
                version: Sha256::of(text.as_bytes()),
            },
            Event::Terminated {
                reason: "the gateway stopped without closing the session",
                noticed_at: Utc::now(),
            },
            Event::SessionEnd(SessionEnd {
                reason: Reason::Masked(t()),
                statements: Some(3),
                errors: Some(1),
            }),
        ];
        // No wildcard: a new kind does not compile until it is added above.
        let _ = events.iter().map(|e| match e {
            Event::SessionStart(_)
            | Event::Statement(_)
            | Event::Parse(_)
            | Event::Bind(_)
            | Event::Execute(_)
            | Event::FunctionCall(_)
            | Event::CopyInEnd { .. }
            | Event::Terminate
            | Event::Complete { .. }
            | Event::Error(_)
            | Event::Notice(_)
            | Event::Notification { .. }
            | Event::ParameterStatus { .. }
            | Event::Masked { .. }
            | Event::CopyOutRefused { .. }
            | Event::ApprovalRequested { .. }
            | Event::Approval(_)
            | Event::Policy { .. }
            | Event::Terminated { .. }
            | Event::SessionEnd(_) => (),
        });
        events
    }

    fn maskers() -> Vec<Masker> {
        let detector = || vec![Detector::new("secret", r"secret-[0-9]{4}").unwrap()];
        let key = TokenKey::new(&[7; 32]).unwrap();
        [
            MaskStyle::BinAndLastFour,
            MaskStyle::LastFour,
            MaskStyle::Redact,
            MaskStyle::Token { key },
        ]
        .into_iter()
        .map(|style| Masker::new(style, detector()).unwrap())
        .collect()
    }

    fn line_of(event: &Event) -> String {
        let mut buf = Vec::new();
        encode_line(
            &mut buf,
            3,
            Utc::now(),
            event,
            &Sha256::from_bytes([0xee; 32]),
        )
        .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn no_kind_records_a_card_number_in_any_field() {
        let text = format!("card {} {SECRET} ok", PANS.join(" / "));
        let found = leaks(&text);
        for wanted in PAN_DIGITS.iter().chain([&SECRET]) {
            assert!(
                found.iter().any(|f| f == wanted),
                "the search finds {wanted}"
            );
        }
        for masker in maskers() {
            for event in every_kind(&masker, &text) {
                let line = line_of(&event);
                // Drop the chain link: a hash is random hex, not a recorded value.
                let value: serde_json::Value = serde_json::from_str(&line).unwrap();
                let mut fields = value.as_object().unwrap().clone();
                fields.remove("prev");
                let shown = serde_json::Value::Object(fields).to_string();
                assert_eq!(
                    leaks(&shown),
                    Vec::<String>::new(),
                    "{:?}: {shown}",
                    masker.style()
                );
            }
        }
    }

    #[test]
    fn every_kind_writes_its_own_name_and_verifies() {
        let masker = Masker::pci_default();
        let events = every_kind(&masker, "x");
        let kinds: std::collections::HashSet<_> = events.iter().map(Event::kind).collect();
        assert_eq!(kinds.len(), events.len(), "one event per kind");
        // The verifier's rules: key order, no repeated key, so no field named like a reserved
        // key either.
        let mut chain = super::super::chain::ChainWalker::new("s");
        let mut head = chain_genesis("s");
        for (seq, event) in events.iter().enumerate() {
            let mut buf = Vec::new();
            encode_line(&mut buf, seq as u64, Utc::now(), event, &head).unwrap();
            let line = &buf[..buf.len() - 1];
            chain
                .push(line)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            head = Sha256::of(line);
            let value: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(value["kind"], event.kind());
        }
    }

    #[test]
    fn genesis_is_sha256_of_the_tagged_session_id() {
        // Computed independently: printf 'hoop-recording-v1:s1' | sha256sum
        assert_eq!(
            chain_genesis("s1").to_hex(),
            "a49236d7a2eed8835d3a41c48cff942fee04cde8c527aeb1acadb952c1ba3895"
        );
        assert_eq!(
            Sha256::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn timestamp_shape_is_checked() {
        assert!(is_valid_ts("2026-11-25T10:04:05.123456Z"));
        assert!(!is_valid_ts("2026-11-25T10:04:05.123Z"));
        assert!(!is_valid_ts("2026-11-25T10:04:05.123456+00:00"));
        assert!(!is_valid_ts("2026-13-25T10:04:05.123456Z"));
    }
}
