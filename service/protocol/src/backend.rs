//! Server → client messages. [`BackendMessage::decode`] types what the gateway reacts to
//! (authentication, parameter status, cancel keys, errors, command tags, transaction status);
//! result and COPY payloads are relayed as the frame's raw bytes.
//!
//! Variants without fields (RowDescription, DataRow, Copy*, ...) are recognised by their tag
//! alone: their bodies are **not** validated. The gateway relays those frames unchanged, the
//! upstream server is the authority on their layout, and DataRow is the hot path of large
//! results, so decoding it costs one tag match and nothing more. A caller that must read or
//! rewrite one decodes it with [`crate::rows`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::body::{Reader, put_cstr, write_tagged};
use crate::startup::CancelKey;
use crate::{Frame, ProtocolError};

/// Backend message tags, for callers that dispatch on [`Frame::tag`] without decoding.
pub mod tag {
    pub const AUTHENTICATION: u8 = b'R';
    pub const PARAMETER_STATUS: u8 = b'S';
    pub const BACKEND_KEY_DATA: u8 = b'K';
    pub const READY_FOR_QUERY: u8 = b'Z';
    pub const ERROR_RESPONSE: u8 = b'E';
    pub const NOTICE_RESPONSE: u8 = b'N';
    pub const COMMAND_COMPLETE: u8 = b'C';
    pub const ROW_DESCRIPTION: u8 = b'T';
    pub const DATA_ROW: u8 = b'D';
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    pub const PARSE_COMPLETE: u8 = b'1';
    pub const BIND_COMPLETE: u8 = b'2';
    pub const CLOSE_COMPLETE: u8 = b'3';
    pub const NO_DATA: u8 = b'n';
    pub const PORTAL_SUSPENDED: u8 = b's';
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    pub const COPY_IN_RESPONSE: u8 = b'G';
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    pub const COPY_DATA: u8 = b'd';
    pub const COPY_DONE: u8 = b'c';
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
}

/// ReadyForQuery transaction status bytes.
pub mod transaction_status {
    /// Not in a transaction block.
    pub const IDLE: u8 = b'I';
    /// In a transaction block.
    pub const IN_TRANSACTION: u8 = b'T';
    /// In a failed transaction block: statements are refused until it ends.
    pub const FAILED: u8 = b'E';
}

/// Fields of an ErrorResponse or NoticeResponse, as `(field type, value)` in wire order.
/// Field types are the protocol's single bytes: `S` severity, `V` non-localized severity,
/// `C` SQLSTATE, `M` message, `D` detail, `H` hint, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFields(pub Vec<(u8, String)>);

impl ErrorFields {
    /// Severity (e.g. `ERROR`, `FATAL`), sent both localized (`S`) and not (`V`), SQLSTATE and
    /// message: the fields every client expects.
    pub fn new(severity: &str, sqlstate: &str, message: &str) -> ErrorFields {
        ErrorFields(vec![
            (b'S', severity.to_owned()),
            (b'V', severity.to_owned()),
            (b'C', sqlstate.to_owned()),
            (b'M', message.to_owned()),
        ])
    }

    /// Adds a field, e.g. `.with(b'D', detail)` or `.with(b'H', hint)`.
    pub fn with(mut self, code: u8, value: &str) -> ErrorFields {
        self.0.push((code, value.to_owned()));
        self
    }

    /// The first value of field `code`.
    pub fn get(&self, code: u8) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    /// The non-localized severity when present (servers since 9.6), else the localized one.
    pub fn severity(&self) -> Option<&str> {
        self.get(b'V').or_else(|| self.get(b'S'))
    }

    pub fn sqlstate(&self) -> Option<&str> {
        self.get(b'C')
    }

    pub fn message(&self) -> Option<&str> {
        self.get(b'M')
    }

    /// Values are decoded lossily: the server may send errors before `client_encoding`
    /// applies, and an undecodable error must still reach the client.
    fn read(mut r: Reader<'_>) -> Result<ErrorFields, ProtocolError> {
        let mut fields = Vec::new();
        loop {
            let code = r.u8()?;
            if code == 0 {
                break;
            }
            let value = String::from_utf8_lossy(r.cstr_bytes()?).into_owned();
            fields.push((code, value));
        }
        r.finish()?;
        Ok(ErrorFields(fields))
    }

    /// Fields with type 0 are skipped: 0 terminates the list on the wire.
    fn write(&self, buf: &mut BytesMut) {
        for (code, value) in self.0.iter().filter(|(c, _)| *c != 0) {
            buf.put_u8(*code);
            put_cstr(buf, value);
        }
        buf.put_u8(0);
    }
}

/// An Authentication request ('R'), by its `Int32` code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// 0: authentication succeeded.
    Ok,
    /// 3
    CleartextPassword,
    /// 5
    Md5Password { salt: [u8; 4] },
    /// 10: the SASL mechanisms the server offers, in its order of preference.
    Sasl { mechanisms: Vec<String> },
    /// 11: server-first-message.
    SaslContinue(Bytes),
    /// 12: server-final-message.
    SaslFinal(Bytes),
    /// Any other code (Kerberos, GSS, SSPI); its data is not decoded. Encodes as the bare code,
    /// so `Other(0)` would read back as [`Authentication::Ok`]: never build it.
    Other(i32),
}

const AUTH_OK: i32 = 0;
const AUTH_CLEARTEXT: i32 = 3;
const AUTH_MD5: i32 = 5;
const AUTH_SASL: i32 = 10;
const AUTH_SASL_CONTINUE: i32 = 11;
const AUTH_SASL_FINAL: i32 = 12;

impl Authentication {
    fn read(frame: &Frame, mut r: Reader<'_>) -> Result<Authentication, ProtocolError> {
        let auth = match r.i32()? {
            AUTH_OK => Authentication::Ok,
            AUTH_CLEARTEXT => Authentication::CleartextPassword,
            AUTH_MD5 => {
                let mut salt = [0; 4];
                salt.copy_from_slice(r.take(4)?);
                Authentication::Md5Password { salt }
            }
            AUTH_SASL => Authentication::Sasl {
                mechanisms: read_mechanisms(&mut r)?,
            },
            AUTH_SASL_CONTINUE => Authentication::SaslContinue(frame.raw.slice_ref(r.rest())),
            AUTH_SASL_FINAL => Authentication::SaslFinal(frame.raw.slice_ref(r.rest())),
            other => {
                r.rest();
                Authentication::Other(other)
            }
        };
        r.finish()?;
        Ok(auth)
    }
}

/// Mechanism names, ended by an empty name.
fn read_mechanisms(r: &mut Reader<'_>) -> Result<Vec<String>, ProtocolError> {
    let mut mechanisms = Vec::new();
    loop {
        let name = r.cstr()?;
        if name.is_empty() {
            return Ok(mechanisms);
        }
        mechanisms.push(name.to_owned());
    }
}

/// A decoded server → client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendMessage {
    Authentication(Authentication),
    ParameterStatus {
        name: String,
        value: String,
    },
    BackendKeyData(CancelKey),
    /// `status` is one of [`transaction_status`]; anything else is refused at decode.
    ReadyForQuery {
        status: u8,
    },
    ErrorResponse(ErrorFields),
    NoticeResponse(ErrorFields),
    /// The command tag, e.g. `INSERT 0 1` or `SELECT 5`.
    CommandComplete {
        tag: String,
    },
    RowDescription,
    DataRow,
    EmptyQueryResponse,
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    ParameterDescription,
    CopyInResponse,
    CopyOutResponse,
    CopyBothResponse,
    CopyData,
    CopyDone,
    NotificationResponse {
        pid: i32,
        channel: String,
        payload: String,
    },
    NegotiateProtocolVersion,
    FunctionCallResponse,
}

impl BackendMessage {
    /// Decodes a framed server message. Messages with fields must match their layout exactly;
    /// field-less variants are recognised by tag alone (see the module docs). Unknown tags are
    /// [`ProtocolError::Malformed`].
    pub fn decode(frame: &Frame) -> Result<BackendMessage, ProtocolError> {
        if let Some(relayed) = relayed_by_tag(frame.tag) {
            return Ok(relayed);
        }
        let mut r = Reader::new(frame.body());
        let msg = match frame.tag {
            tag::AUTHENTICATION => {
                return Authentication::read(frame, r).map(BackendMessage::Authentication);
            }
            tag::ERROR_RESPONSE => return ErrorFields::read(r).map(BackendMessage::ErrorResponse),
            tag::NOTICE_RESPONSE => {
                return ErrorFields::read(r).map(BackendMessage::NoticeResponse);
            }
            // The secret is the rest of the body, so nothing can trail it.
            tag::BACKEND_KEY_DATA => {
                return CancelKey::read(&mut r).map(BackendMessage::BackendKeyData);
            }
            tag::PARAMETER_STATUS => BackendMessage::ParameterStatus {
                name: r.cstr()?.to_owned(),
                value: r.cstr()?.to_owned(),
            },
            tag::READY_FOR_QUERY => BackendMessage::ReadyForQuery {
                status: read_transaction_status(&mut r)?,
            },
            tag::COMMAND_COMPLETE => BackendMessage::CommandComplete {
                tag: r.cstr()?.to_owned(),
            },
            tag::NOTIFICATION_RESPONSE => BackendMessage::NotificationResponse {
                pid: r.i32()?,
                channel: r.cstr()?.to_owned(),
                payload: r.cstr()?.to_owned(),
            },
            _ => return Err(ProtocolError::Malformed("unknown backend message")),
        };
        r.finish()?;
        Ok(msg)
    }
}

/// The field-less variants, whose bodies the gateway relays without reading.
fn relayed_by_tag(tag: u8) -> Option<BackendMessage> {
    Some(match tag {
        tag::ROW_DESCRIPTION => BackendMessage::RowDescription,
        tag::DATA_ROW => BackendMessage::DataRow,
        tag::EMPTY_QUERY_RESPONSE => BackendMessage::EmptyQueryResponse,
        tag::PARSE_COMPLETE => BackendMessage::ParseComplete,
        tag::BIND_COMPLETE => BackendMessage::BindComplete,
        tag::CLOSE_COMPLETE => BackendMessage::CloseComplete,
        tag::NO_DATA => BackendMessage::NoData,
        tag::PORTAL_SUSPENDED => BackendMessage::PortalSuspended,
        tag::PARAMETER_DESCRIPTION => BackendMessage::ParameterDescription,
        tag::COPY_IN_RESPONSE => BackendMessage::CopyInResponse,
        tag::COPY_OUT_RESPONSE => BackendMessage::CopyOutResponse,
        tag::COPY_BOTH_RESPONSE => BackendMessage::CopyBothResponse,
        tag::COPY_DATA => BackendMessage::CopyData,
        tag::COPY_DONE => BackendMessage::CopyDone,
        tag::NEGOTIATE_PROTOCOL_VERSION => BackendMessage::NegotiateProtocolVersion,
        tag::FUNCTION_CALL_RESPONSE => BackendMessage::FunctionCallResponse,
        _ => return None,
    })
}

fn read_transaction_status(r: &mut Reader<'_>) -> Result<u8, ProtocolError> {
    match r.u8()? {
        status @ (transaction_status::IDLE
        | transaction_status::IN_TRANSACTION
        | transaction_status::FAILED) => Ok(status),
        _ => Err(ProtocolError::Malformed(
            "ReadyForQuery status must be 'I', 'T' or 'E'",
        )),
    }
}

/// Writes an Authentication request. SASL mechanisms with an empty name are skipped: an empty
/// name ends the list on the wire.
pub fn encode_authentication(auth: &Authentication, buf: &mut BytesMut) {
    write_tagged(tag::AUTHENTICATION, buf, |b| match auth {
        Authentication::Ok => b.put_i32(AUTH_OK),
        Authentication::CleartextPassword => b.put_i32(AUTH_CLEARTEXT),
        Authentication::Md5Password { salt } => {
            b.put_i32(AUTH_MD5);
            b.put_slice(salt);
        }
        Authentication::Sasl { mechanisms } => {
            b.put_i32(AUTH_SASL);
            for mechanism in mechanisms.iter().filter(|m| !m.is_empty()) {
                put_cstr(b, mechanism);
            }
            b.put_u8(0);
        }
        Authentication::SaslContinue(data) => {
            b.put_i32(AUTH_SASL_CONTINUE);
            b.put_slice(data);
        }
        Authentication::SaslFinal(data) => {
            b.put_i32(AUTH_SASL_FINAL);
            b.put_slice(data);
        }
        Authentication::Other(code) => b.put_i32(*code),
    });
}

pub fn encode_parameter_status(name: &str, value: &str, buf: &mut BytesMut) {
    write_tagged(tag::PARAMETER_STATUS, buf, |b| {
        put_cstr(b, name);
        put_cstr(b, value);
    });
}

/// Writes BackendKeyData: the key the client will quote in a CancelRequest. For a gateway this
/// is its own key for the client session, never the upstream's.
pub fn encode_backend_key_data(key: &CancelKey, buf: &mut BytesMut) {
    write_tagged(tag::BACKEND_KEY_DATA, buf, |b| key.write(b));
}

/// Writes ReadyForQuery; `status` should be one of [`transaction_status`].
pub fn encode_ready_for_query(status: u8, buf: &mut BytesMut) {
    write_tagged(tag::READY_FOR_QUERY, buf, |b| b.put_u8(status));
}

pub fn encode_error_response(fields: &ErrorFields, buf: &mut BytesMut) {
    write_tagged(tag::ERROR_RESPONSE, buf, |b| fields.write(b));
}

pub fn encode_notice_response(fields: &ErrorFields, buf: &mut BytesMut) {
    write_tagged(tag::NOTICE_RESPONSE, buf, |b| fields.write(b));
}

pub fn encode_command_complete(tag: &str, buf: &mut BytesMut) {
    write_tagged(tag::COMMAND_COMPLETE, buf, |b| put_cstr(b, tag));
}

/// Writes a NotificationResponse, e.g. to relay one with its payload masked. `channel` and
/// `payload` are cut at an interior NUL, if any.
pub fn encode_notification_response(pid: i32, channel: &str, payload: &str, buf: &mut BytesMut) {
    write_tagged(tag::NOTIFICATION_RESPONSE, buf, |b| {
        b.put_i32(pid);
        put_cstr(b, channel);
        put_cstr(b, payload);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::msg;
    use crate::decode_frame;

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut buf = BytesMut::new();
        f(&mut buf);
        buf
    }

    fn decode(bytes: impl AsRef<[u8]>) -> Result<BackendMessage, ProtocolError> {
        let mut buf = BytesMut::from(bytes.as_ref());
        let frame = decode_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert!(buf.is_empty(), "test bytes hold more than one frame");
        BackendMessage::decode(&frame)
    }

    fn assert_malformed(bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        assert!(
            matches!(decode(bytes), Err(ProtocolError::Malformed(_))),
            "{bytes:?} -> {:?}",
            decode(bytes)
        );
    }

    #[test]
    fn every_authentication_round_trips() {
        for auth in [
            Authentication::Ok,
            Authentication::CleartextPassword,
            Authentication::Md5Password { salt: *b"salt" },
            Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
            },
            Authentication::Sasl { mechanisms: vec![] },
            Authentication::SaslContinue(Bytes::from_static(b"r=abc,s=c2FsdA==,i=4096")),
            Authentication::SaslFinal(Bytes::from_static(b"v=c2lnbmF0dXJl")),
            Authentication::Other(7),
        ] {
            let bytes = encoded(|b| encode_authentication(&auth, b));
            assert_eq!(decode(&bytes), Ok(BackendMessage::Authentication(auth)));
        }
    }

    #[test]
    fn status_and_key_round_trip() {
        let bytes = encoded(|b| encode_parameter_status("server_version", "17.2", b));
        assert_eq!(
            decode(&bytes),
            Ok(BackendMessage::ParameterStatus {
                name: "server_version".into(),
                value: "17.2".into()
            })
        );
        let key = CancelKey {
            pid: 99,
            secret: Bytes::from_static(&[1, 2, 3, 4]),
        };
        let bytes = encoded(|b| encode_backend_key_data(&key, b));
        assert_eq!(decode(&bytes), Ok(BackendMessage::BackendKeyData(key)));
        for status in *b"ITE" {
            let bytes = encoded(|b| encode_ready_for_query(status, b));
            assert_eq!(decode(&bytes), Ok(BackendMessage::ReadyForQuery { status }));
        }
        let bytes = encoded(|b| encode_command_complete("INSERT 0 1", b));
        assert_eq!(
            decode(&bytes),
            Ok(BackendMessage::CommandComplete {
                tag: "INSERT 0 1".into()
            })
        );
    }

    #[test]
    fn error_and_notice_round_trip() {
        let fields = ErrorFields::new("FATAL", "28P01", "password authentication failed")
            .with(b'D', "run 42 has ended")
            .with(b'H', "start a new run");
        let bytes = encoded(|b| encode_error_response(&fields, b));
        let Ok(BackendMessage::ErrorResponse(got)) = decode(&bytes) else {
            panic!("not an error");
        };
        assert_eq!(got, fields);
        assert_eq!(got.severity(), Some("FATAL"));
        assert_eq!(got.sqlstate(), Some("28P01"));
        assert_eq!(got.message(), Some("password authentication failed"));
        assert_eq!(got.get(b'H'), Some("start a new run"));
        assert_eq!(got.get(b'P'), None);

        let notice = ErrorFields::new("WARNING", "01000", "careful");
        let bytes = encoded(|b| encode_notice_response(&notice, b));
        assert_eq!(decode(&bytes), Ok(BackendMessage::NoticeResponse(notice)));
    }

    #[test]
    fn error_fields_are_decoded_lossily() {
        let Ok(BackendMessage::ErrorResponse(fields)) = decode(msg(b'E', b"M\xff\0\0")) else {
            panic!("not an error");
        };
        assert_eq!(fields.message(), Some("\u{fffd}"));
    }

    #[test]
    fn severity_falls_back_to_the_localized_field() {
        let fields = ErrorFields(vec![(b'S', "ERREUR".into())]);
        assert_eq!(fields.severity(), Some("ERREUR"));
    }

    #[test]
    fn relayed_messages_are_recognised_by_tag_without_reading_the_body() {
        // A DataRow whose body is nonsense still decodes: the gateway relays it untouched.
        assert_eq!(decode(msg(b'D', b"\xff\xff")), Ok(BackendMessage::DataRow));
        assert_eq!(
            decode(msg(b'T', b"\0\0")),
            Ok(BackendMessage::RowDescription)
        );
        assert_eq!(decode(msg(b'd', b"x")), Ok(BackendMessage::CopyData));
        for (tag, msg) in [
            (b'I', BackendMessage::EmptyQueryResponse),
            (b'1', BackendMessage::ParseComplete),
            (b'2', BackendMessage::BindComplete),
            (b'3', BackendMessage::CloseComplete),
            (b'n', BackendMessage::NoData),
            (b's', BackendMessage::PortalSuspended),
            (b't', BackendMessage::ParameterDescription),
            (b'G', BackendMessage::CopyInResponse),
            (b'H', BackendMessage::CopyOutResponse),
            (b'W', BackendMessage::CopyBothResponse),
            (b'c', BackendMessage::CopyDone),
            (b'v', BackendMessage::NegotiateProtocolVersion),
            (b'V', BackendMessage::FunctionCallResponse),
        ] {
            assert_eq!(decode([tag, 0, 0, 0, 4]), Ok(msg));
        }
    }

    #[test]
    fn notification_decodes() {
        assert_eq!(
            decode(msg(b'A', b"\0\0\x30\x39jobs\0done:42\0")),
            Ok(BackendMessage::NotificationResponse {
                pid: 12345,
                channel: "jobs".into(),
                payload: "done:42".into()
            })
        );
    }

    #[test]
    fn notification_round_trips() {
        for (pid, channel, payload) in [(12345, "jobs", "card ************1111"), (-1, "", "")] {
            let bytes = encoded(|b| encode_notification_response(pid, channel, payload, b));
            assert_eq!(
                decode(&bytes),
                Ok(BackendMessage::NotificationResponse {
                    pid,
                    channel: channel.into(),
                    payload: payload.into()
                })
            );
        }
        assert_eq!(
            encoded(|b| encode_notification_response(12345, "jobs", "done:42", b)),
            msg(b'A', b"\0\0\x30\x39jobs\0done:42\0")
        );
        // An interior NUL would otherwise end the payload early and leave trailing bytes.
        let bytes = encoded(|b| encode_notification_response(1, "jobs", "a\0b", b));
        assert_eq!(
            decode(&bytes),
            Ok(BackendMessage::NotificationResponse {
                pid: 1,
                channel: "jobs".into(),
                payload: "a".into()
            })
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        // Authentication without its code.
        assert_malformed(msg(b'R', b"\0\0"));
        // AuthenticationOk with trailing bytes.
        assert_malformed(msg(b'R', b"\0\0\0\0x"));
        // MD5 with a short salt.
        assert_malformed(msg(b'R', b"\0\0\0\x05ab"));
        // SASL mechanism list without its terminator.
        assert_malformed(msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0"));
        // ParameterStatus missing the value's NUL.
        assert_malformed(msg(b'S', b"a\0bc"));
        // BackendKeyData with a 2-byte secret.
        assert_malformed(msg(b'K', b"\0\0\0\x01ab"));
        // ReadyForQuery with an unknown status, and with none.
        assert_malformed(msg(b'Z', b"X"));
        assert_malformed(msg(b'Z', b""));
        // ErrorResponse without the final terminator.
        assert_malformed(msg(b'E', b"Mab\0"));
        // CommandComplete without NUL.
        assert_malformed(msg(b'C', b"SELE"));
        // Notification payload missing.
        assert_malformed(msg(b'A', b"\0\0\0\x01jobs\0"));
        // A frontend-only tag.
        assert_malformed(msg(b'Q', b"\0"));
    }

    #[test]
    fn partial_input_at_every_split_point_needs_more_and_consumes_nothing() {
        for bytes in [
            encoded(|b| {
                encode_error_response(&ErrorFields::new("ERROR", "42P01", "no such table"), b)
            }),
            encoded(|b| encode_notification_response(7, "jobs", "done", b)),
        ] {
            for cut in 0..bytes.len() {
                let mut buf = BytesMut::from(&bytes[..cut]);
                assert_eq!(decode_frame(&mut buf, 1024), Ok(None), "cut at {cut}");
                assert_eq!(buf.len(), cut);
            }
        }
    }

    #[test]
    fn encoders_keep_frames_well_formed_with_awkward_strings() {
        // A NUL inside a value, and a field type 0, would otherwise end the list early.
        let fields = ErrorFields(vec![(b'M', "a\0b".into()), (0, "x".into())]);
        let bytes = encoded(|b| encode_error_response(&fields, b));
        assert_eq!(
            decode(&bytes),
            Ok(BackendMessage::ErrorResponse(ErrorFields(vec![(
                b'M',
                "a".into()
            )])))
        );
    }
}
