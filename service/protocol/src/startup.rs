//! The untagged first messages of a connection: an `Int32` length (counting itself), an `Int32`
//! code, then a body. The code says which request it is: SSLRequest, GSSENCRequest,
//! CancelRequest, or a StartupMessage whose code is the protocol version.
//!
//! After [`StartupRequest::SslRequest`] or [`StartupRequest::GssEncRequest`] the caller must
//! check that `buf` is empty before answering: bytes sent ahead of the TLS handshake were not
//! encrypted and must not be treated as part of the session (CVE-2021-23214).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ProtocolError;
use crate::body::{Reader, put_cstr, write_untagged};
use crate::frame::declared_len;

/// Protocol 3.0, sent by every libpq before PostgreSQL 18.
pub const PROTOCOL_3_0: u32 = 3 << 16;
/// Protocol 3.2 (PostgreSQL 18): longer cancel keys.
pub const PROTOCOL_3_2: u32 = (3 << 16) | 2;
/// Code of a CancelRequest (1234.5678).
pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
/// Code of an SSLRequest (1234.5679).
pub const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
/// Code of a GSSENCRequest (1234.5680).
pub const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;
/// The cap PostgreSQL puts on a startup packet (`MAX_STARTUP_PACKET_LENGTH`); the natural
/// `max_len` for [`decode`].
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Length word plus code: the smallest startup packet.
const HEADER_LEN: usize = 8;

/// The key a client quotes to cancel a running query: the backend's process id and its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelKey {
    pub pid: i32,
    /// 4 bytes in protocol 3.0; 4 to 256 bytes from protocol 3.2.
    pub secret: Bytes,
}

impl CancelKey {
    pub const MIN_SECRET_LEN: usize = 4;
    pub const MAX_SECRET_LEN: usize = 256;

    /// Reads the pid and the secret (the rest of `r`), refusing secrets of an impossible length.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<CancelKey, ProtocolError> {
        let pid = r.i32()?;
        let secret = r.rest();
        if !(Self::MIN_SECRET_LEN..=Self::MAX_SECRET_LEN).contains(&secret.len()) {
            return Err(ProtocolError::Malformed(
                "cancel key secret must be 4 to 256 bytes",
            ));
        }
        Ok(CancelKey {
            pid,
            secret: Bytes::copy_from_slice(secret),
        })
    }

    pub(crate) fn write(&self, buf: &mut BytesMut) {
        buf.put_i32(self.pid);
        buf.put_slice(&self.secret);
    }
}

/// A StartupMessage: the protocol version and the `name=value` parameters (`user`, `database`,
/// `options`, `application_name`, GUCs...), in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupMessage {
    pub version: u32,
    pub params: Vec<(String, String)>,
}

impl StartupMessage {
    /// The value of parameter `name`. When a name repeats, the last value wins, because that is
    /// the one PostgreSQL applies: the gateway must authorize the same `user` the server sees.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The minor protocol version requested (0 for 3.0, 2 for 3.2).
    pub fn minor_version(&self) -> u16 {
        (self.version & 0xffff) as u16
    }
}

/// What a connection's first message asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupRequest {
    SslRequest,
    GssEncRequest,
    Cancel(CancelKey),
    Startup(StartupMessage),
}

/// The untagged first message(s) of a connection. `Ok(None)` = need more bytes (nothing
/// consumed). `max_len` bounds the declared length (see [`MAX_STARTUP_LEN`]) and is checked from
/// the length word alone. Only 3.x startup versions are accepted; negotiating a minor version
/// the gateway does not support is the caller's job (NegotiateProtocolVersion).
pub fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<StartupRequest>, ProtocolError> {
    let Some(word) = buf.get(..4) else {
        return Ok(None);
    };
    let len = declared_len([word[0], word[1], word[2], word[3]], HEADER_LEN, max_len)?;
    let Some(packet) = buf.get(..len) else {
        return Ok(None);
    };
    // Parse before consuming, so an error leaves the buffer as it was.
    let request = parse(&packet[4..])?;
    buf.advance(len);
    Ok(Some(request))
}

fn parse(packet: &[u8]) -> Result<StartupRequest, ProtocolError> {
    let mut r = Reader::new(packet);
    match r.u32()? {
        SSL_REQUEST_CODE => r.finish().map(|()| StartupRequest::SslRequest),
        GSSENC_REQUEST_CODE => r.finish().map(|()| StartupRequest::GssEncRequest),
        // The secret is the rest of the packet, so nothing can trail it.
        CANCEL_REQUEST_CODE => CancelKey::read(&mut r).map(StartupRequest::Cancel),
        version if version >> 16 == 3 => parse_params(r)
            .map(|params| StartupRequest::Startup(StartupMessage { version, params })),
        other => Err(ProtocolError::UnsupportedVersion(other)),
    }
}

/// `name\0value\0` pairs ended by an empty name; nothing may follow the terminator.
fn parse_params(mut r: Reader<'_>) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut params = Vec::new();
    loop {
        let name = r.cstr()?;
        if name.is_empty() {
            break;
        }
        let value = r.cstr()?;
        params.push((name.to_owned(), value.to_owned()));
    }
    r.finish()?;
    Ok(params)
}

/// Writes a StartupMessage. Parameters with an empty name are skipped: on the wire an empty name
/// ends the list, so writing one would silently drop every parameter after it.
pub fn encode_startup(msg: &StartupMessage, buf: &mut BytesMut) {
    write_untagged(buf, |b| {
        b.put_u32(msg.version);
        for (name, value) in msg.params.iter().filter(|(n, _)| !n.is_empty()) {
            put_cstr(b, name);
            put_cstr(b, value);
        }
        b.put_u8(0);
    });
}

/// Writes a CancelRequest (sent on a new connection to the server that owns `key`).
pub fn encode_cancel(key: &CancelKey, buf: &mut BytesMut) {
    write_untagged(buf, |b| {
        b.put_u32(CANCEL_REQUEST_CODE);
        key.write(b);
    });
}

/// Writes an SSLRequest; the server answers with a single byte, `S` or `N`.
pub fn encode_ssl_request(buf: &mut BytesMut) {
    write_untagged(buf, |b| b.put_u32(SSL_REQUEST_CODE));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> StartupMessage {
        StartupMessage {
            version: PROTOCOL_3_0,
            params: vec![
                ("user".into(), "ci".into()),
                ("database".into(), "app".into()),
                ("application_name".into(), "psql".into()),
            ],
        }
    }

    fn decode_all(bytes: &[u8]) -> Result<Option<StartupRequest>, ProtocolError> {
        decode(&mut BytesMut::from(bytes), MAX_STARTUP_LEN)
    }

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut buf = BytesMut::new();
        f(&mut buf);
        buf
    }

    #[test]
    fn startup_round_trips() {
        let msg = startup();
        let bytes = encoded(|b| encode_startup(&msg, b));
        assert_eq!(
            decode_all(&bytes),
            Ok(Some(StartupRequest::Startup(msg.clone())))
        );
        assert_eq!(msg.get("user"), Some("ci"));
        assert_eq!(msg.get("options"), None);
    }

    #[test]
    fn protocol_3_2_startup_is_accepted() {
        let msg = StartupMessage {
            version: PROTOCOL_3_2,
            params: vec![("user".into(), "ci".into())],
        };
        let bytes = encoded(|b| encode_startup(&msg, b));
        let Ok(Some(StartupRequest::Startup(got))) = decode_all(&bytes) else {
            panic!("not a startup");
        };
        assert_eq!(got.minor_version(), 2);
    }

    #[test]
    fn ssl_request_round_trips() {
        let bytes = encoded(encode_ssl_request);
        assert_eq!(&bytes[..], b"\0\0\0\x08\x04\xd2\x16\x2f");
        assert_eq!(decode_all(&bytes), Ok(Some(StartupRequest::SslRequest)));
    }

    #[test]
    fn gssenc_request_is_recognised() {
        assert_eq!(
            decode_all(b"\0\0\0\x08\x04\xd2\x16\x30"),
            Ok(Some(StartupRequest::GssEncRequest))
        );
    }

    #[test]
    fn cancel_round_trips_with_3_0_and_3_2_keys() {
        for secret_len in [4, 32, 256] {
            let key = CancelKey {
                pid: 4242,
                secret: Bytes::from(vec![7; secret_len]),
            };
            let bytes = encoded(|b| encode_cancel(&key, b));
            assert_eq!(bytes.len(), 12 + secret_len);
            assert_eq!(decode_all(&bytes), Ok(Some(StartupRequest::Cancel(key))));
        }
    }

    #[test]
    fn cancel_with_an_impossible_secret_is_malformed() {
        for secret_len in [0, 3, 257] {
            let key = CancelKey {
                pid: 1,
                secret: Bytes::from(vec![7; secret_len]),
            };
            let bytes = encoded(|b| encode_cancel(&key, b));
            assert!(matches!(
                decode_all(&bytes),
                Err(ProtocolError::Malformed(_))
            ));
        }
    }

    #[test]
    fn partial_input_at_every_split_point_needs_more_and_consumes_nothing() {
        let bytes = encoded(|b| encode_startup(&startup(), b));
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decode(&mut buf, MAX_STARTUP_LEN), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn ssl_request_then_startup_decode_one_by_one() {
        let mut buf = encoded(encode_ssl_request);
        encode_startup(&startup(), &mut buf);
        assert_eq!(
            decode(&mut buf, MAX_STARTUP_LEN),
            Ok(Some(StartupRequest::SslRequest))
        );
        assert!(matches!(
            decode(&mut buf, MAX_STARTUP_LEN),
            Ok(Some(StartupRequest::Startup(_)))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_length_is_refused_from_the_length_word_alone() {
        assert_eq!(
            decode_all(b"\x7f\xff\xff\xff"),
            Err(ProtocolError::TooLarge {
                len: 0x7fff_ffff,
                max: MAX_STARTUP_LEN
            })
        );
    }

    #[test]
    fn negative_or_short_length_is_invalid() {
        assert_eq!(
            decode_all(b"\xff\xff\xff\xfe"),
            Err(ProtocolError::InvalidLength(-2))
        );
        assert_eq!(
            decode_all(b"\0\0\0\x07\0\x03\0"),
            Err(ProtocolError::InvalidLength(7))
        );
    }

    #[test]
    fn non_3_versions_are_unsupported() {
        // Protocol 2.0, as sent by pre-7.4 clients.
        let err = decode_all(b"\0\0\0\x08\0\x02\0\0").unwrap_err();
        assert_eq!(err, ProtocolError::UnsupportedVersion(2 << 16));
        assert!(err.to_string().contains("2.0"));
        // An unknown 1234.x request code.
        assert_eq!(
            decode_all(b"\0\0\0\x08\x04\xd2\x16\x31"),
            Err(ProtocolError::UnsupportedVersion((1234 << 16) | 5681))
        );
    }

    #[test]
    fn malformed_startup_bodies_are_refused_and_not_consumed() {
        for bytes in [
            // Missing the list terminator.
            &b"\0\0\0\x10\0\x03\0\0user\0ci\0"[..],
            // Value without its NUL.
            &b"\0\0\0\x0f\0\x03\0\0user\0ci"[..],
            // Bytes after the terminator.
            &b"\0\0\0\x12\0\x03\0\0user\0ci\0\0x"[..],
            // SSLRequest with a body.
            &b"\0\0\0\x09\x04\xd2\x16\x2fx"[..],
            // Invalid UTF-8 in a name.
            &b"\0\0\0\x0e\0\x03\0\0\xff\0ci\0\0"[..],
        ] {
            assert_eq!(
                u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize,
                bytes.len(),
                "test packet's length word is wrong"
            );
            let mut buf = BytesMut::from(bytes);
            assert!(
                matches!(
                    decode(&mut buf, MAX_STARTUP_LEN),
                    Err(ProtocolError::Malformed(_))
                ),
                "{bytes:?}"
            );
            assert_eq!(buf.len(), bytes.len());
        }
    }

    #[test]
    fn repeated_parameters_resolve_to_the_last_like_postgres() {
        let msg = StartupMessage {
            version: PROTOCOL_3_0,
            params: vec![
                ("user".into(), "alice".into()),
                ("user".into(), "root".into()),
            ],
        };
        assert_eq!(msg.get("user"), Some("root"));
    }

    #[test]
    fn encode_skips_empty_names_so_later_params_survive() {
        let msg = StartupMessage {
            version: PROTOCOL_3_0,
            params: vec![("".into(), "x".into()), ("user".into(), "ci".into())],
        };
        let bytes = encoded(|b| encode_startup(&msg, b));
        let Ok(Some(StartupRequest::Startup(got))) = decode_all(&bytes) else {
            panic!("not a startup");
        };
        assert_eq!(got.params, vec![("user".to_owned(), "ci".to_owned())]);
    }
}
