//! Client → server messages. [`FrontendMessage::decode`] types the messages the gateway
//! inspects (SQL text, statement and portal names, bind parameters); the encoders are what the
//! gateway sends upstream when it is the client.
//!
//! Byte payloads (`CopyData`, bind parameter values, `AuthResponse`) are zero-copy slices of the
//! frame's `raw` bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::body::{Reader, bounded_capacity, put_cstr, write_tagged};
use crate::{Frame, ProtocolError};

/// Frontend message tags, for callers that dispatch on [`Frame::tag`] without decoding.
pub mod tag {
    pub const QUERY: u8 = b'Q';
    pub const PARSE: u8 = b'P';
    pub const BIND: u8 = b'B';
    pub const EXECUTE: u8 = b'E';
    pub const DESCRIBE: u8 = b'D';
    pub const CLOSE: u8 = b'C';
    pub const SYNC: u8 = b'S';
    pub const FLUSH: u8 = b'H';
    pub const TERMINATE: u8 = b'X';
    pub const FUNCTION_CALL: u8 = b'F';
    pub const COPY_DATA: u8 = b'd';
    pub const COPY_DONE: u8 = b'c';
    pub const COPY_FAIL: u8 = b'f';
    /// PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all share this tag.
    pub const AUTH_RESPONSE: u8 = b'p';
}

/// What a Describe or Close names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `S`: a prepared statement.
    Statement,
    /// `P`: a portal.
    Portal,
}

impl Target {
    fn read(r: &mut Reader<'_>) -> Result<Target, ProtocolError> {
        match r.u8()? {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            _ => Err(ProtocolError::Malformed(
                "Describe/Close target must be 'S' or 'P'",
            )),
        }
    }
}

/// A decoded client → server message. Names are `""` for the unnamed statement or portal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontendMessage {
    /// Simple query; `sql` may hold several `;`-separated statements.
    Query {
        sql: String,
    },
    Parse {
        statement: String,
        sql: String,
        /// Parameter type OIDs; 0 leaves the type for the server to infer.
        param_types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        /// Empty: all text; one entry: applies to all; otherwise one per parameter.
        param_formats: Vec<i16>,
        /// `None` is SQL NULL.
        params: Vec<Option<Bytes>>,
        result_formats: Vec<i16>,
    },
    Execute {
        portal: String,
        /// 0 means no limit.
        max_rows: i32,
    },
    Describe {
        target: Target,
        name: String,
    },
    Close {
        target: Target,
        name: String,
    },
    Sync,
    Flush,
    Terminate,
    /// Only the function OID is decoded: the arguments are not inspected, the gateway blocks
    /// FunctionCall outright.
    FunctionCall {
        function_oid: u32,
    },
    CopyData(Bytes),
    CopyDone,
    CopyFail {
        message: String,
    },
    /// 'p': PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse — which one depends
    /// on the auth exchange, so the body is given raw. Interpret it with [`decode_password`]
    /// after AuthenticationCleartextPassword/MD5Password, [`decode_sasl_initial_response`] after
    /// AuthenticationSASL, and as raw SCRAM data after AuthenticationSASLContinue.
    AuthResponse(Bytes),
}

impl FrontendMessage {
    /// Decodes a framed client message. Unknown tags are [`ProtocolError::Malformed`], as are
    /// bodies that do not match their layout exactly (including trailing bytes).
    pub fn decode(frame: &Frame) -> Result<FrontendMessage, ProtocolError> {
        let mut r = Reader::new(frame.body());
        let msg = match frame.tag {
            tag::QUERY => FrontendMessage::Query {
                sql: r.cstr()?.to_owned(),
            },
            tag::PARSE => decode_parse(&mut r)?,
            tag::BIND => decode_bind(frame, &mut r)?,
            tag::EXECUTE => FrontendMessage::Execute {
                portal: r.cstr()?.to_owned(),
                max_rows: r.i32()?,
            },
            tag::DESCRIBE => FrontendMessage::Describe {
                target: Target::read(&mut r)?,
                name: r.cstr()?.to_owned(),
            },
            tag::CLOSE => FrontendMessage::Close {
                target: Target::read(&mut r)?,
                name: r.cstr()?.to_owned(),
            },
            tag::SYNC => FrontendMessage::Sync,
            tag::FLUSH => FrontendMessage::Flush,
            tag::TERMINATE => FrontendMessage::Terminate,
            tag::FUNCTION_CALL => {
                let function_oid = r.u32()?;
                r.rest();
                FrontendMessage::FunctionCall { function_oid }
            }
            tag::COPY_DATA => FrontendMessage::CopyData(frame.raw.slice_ref(r.rest())),
            tag::COPY_DONE => FrontendMessage::CopyDone,
            tag::COPY_FAIL => FrontendMessage::CopyFail {
                message: r.cstr()?.to_owned(),
            },
            tag::AUTH_RESPONSE => FrontendMessage::AuthResponse(frame.raw.slice_ref(r.rest())),
            _ => return Err(ProtocolError::Malformed("unknown frontend message")),
        };
        r.finish()?;
        Ok(msg)
    }
}

fn decode_parse(r: &mut Reader<'_>) -> Result<FrontendMessage, ProtocolError> {
    let statement = r.cstr()?.to_owned();
    let sql = r.cstr()?.to_owned();
    let count = r.count()?;
    let mut param_types = Vec::with_capacity(bounded_capacity(count, r, 4));
    for _ in 0..count {
        param_types.push(r.u32()?);
    }
    Ok(FrontendMessage::Parse {
        statement,
        sql,
        param_types,
    })
}

fn decode_bind(frame: &Frame, r: &mut Reader<'_>) -> Result<FrontendMessage, ProtocolError> {
    let portal = r.cstr()?.to_owned();
    let statement = r.cstr()?.to_owned();
    let param_formats = read_formats(r)?;
    let count = r.count()?;
    let mut params = Vec::with_capacity(bounded_capacity(count, r, 4));
    for _ in 0..count {
        params.push(read_param(frame, r)?);
    }
    let result_formats = read_formats(r)?;
    Ok(FrontendMessage::Bind {
        portal,
        statement,
        param_formats,
        params,
        result_formats,
    })
}

/// An `Int16` count followed by that many `Int16` format codes.
fn read_formats(r: &mut Reader<'_>) -> Result<Vec<i16>, ProtocolError> {
    let count = r.count()?;
    let mut formats = Vec::with_capacity(bounded_capacity(count, r, 2));
    for _ in 0..count {
        formats.push(r.i16()?);
    }
    Ok(formats)
}

/// A length-prefixed parameter value: -1 is NULL, any other negative length is invalid.
fn read_param(frame: &Frame, r: &mut Reader<'_>) -> Result<Option<Bytes>, ProtocolError> {
    match r.i32()? {
        -1 => Ok(None),
        len => {
            let len = usize::try_from(len)
                .map_err(|_| ProtocolError::Malformed("negative parameter length"))?;
            Ok(Some(frame.raw.slice_ref(r.take(len)?)))
        }
    }
}

/// Decodes the body of a SASLInitialResponse: the chosen mechanism and the initial client
/// response (`None` when its length is -1).
pub fn decode_sasl_initial_response(body: &[u8]) -> Result<(String, Option<Bytes>), ProtocolError> {
    let mut r = Reader::new(body);
    let mechanism = r.cstr()?.to_owned();
    let data = match r.i32()? {
        -1 => None,
        len => {
            let len = usize::try_from(len)
                .map_err(|_| ProtocolError::Malformed("negative SASL response length"))?;
            Some(Bytes::copy_from_slice(r.take(len)?))
        }
    };
    r.finish()?;
    Ok((mechanism, data))
}

/// Decodes the body of a cleartext PasswordMessage (also the carrier of an `md5...` hash).
pub fn decode_password(body: &[u8]) -> Result<String, ProtocolError> {
    let mut r = Reader::new(body);
    let password = r.cstr()?.to_owned();
    r.finish()?;
    Ok(password)
}

/// Writes a simple Query. `sql` is cut at an interior NUL, if any (see crate docs on strings).
pub fn encode_query(sql: &str, buf: &mut BytesMut) {
    write_tagged(tag::QUERY, buf, |b| put_cstr(b, sql));
}

/// Writes a PasswordMessage (cleartext, or an `md5...` hash).
pub fn encode_password(password: &str, buf: &mut BytesMut) {
    write_tagged(tag::AUTH_RESPONSE, buf, |b| put_cstr(b, password));
}

/// Writes a SASLInitialResponse carrying `data` as the client-first-message.
pub fn encode_sasl_initial_response(mechanism: &str, data: &[u8], buf: &mut BytesMut) {
    write_tagged(tag::AUTH_RESPONSE, buf, |b| {
        put_cstr(b, mechanism);
        b.put_i32(i32::try_from(data.len()).expect("a SASL response cannot exceed i32::MAX bytes"));
        b.put_slice(data);
    });
}

/// Writes a SASLResponse (e.g. the SCRAM client-final-message).
pub fn encode_sasl_response(data: &[u8], buf: &mut BytesMut) {
    write_tagged(tag::AUTH_RESPONSE, buf, |b| b.put_slice(data));
}

/// Writes a Describe of a statement or portal. The gateway sends one before an Execute of a
/// portal nobody described, to learn the types of the rows it is about to mask.
pub fn encode_describe(target: Target, name: &str, buf: &mut BytesMut) {
    write_tagged(tag::DESCRIBE, buf, |b| {
        b.put_u8(match target {
            Target::Statement => b'S',
            Target::Portal => b'P',
        });
        put_cstr(b, name);
    });
}

/// Writes a Parse. The gateway sends its own statements (a policy denial's error) this way.
pub fn encode_parse(statement: &str, sql: &str, param_types: &[u32], buf: &mut BytesMut) {
    write_tagged(tag::PARSE, buf, |b| {
        put_cstr(b, statement);
        put_cstr(b, sql);
        b.put_i16(i16::try_from(param_types.len()).expect("at most i16::MAX parameter types"));
        for oid in param_types {
            b.put_u32(*oid);
        }
    });
}

/// Writes a Bind of `statement` to `portal` with no parameters and text results.
pub fn encode_bind_without_parameters(portal: &str, statement: &str, buf: &mut BytesMut) {
    write_tagged(tag::BIND, buf, |b| {
        put_cstr(b, portal);
        put_cstr(b, statement);
        b.put_i16(0);
        b.put_i16(0);
        b.put_i16(0);
    });
}

/// Writes a Bind of `statement` to `portal` with these parameters and formats. The gateway
/// sends a client's Bind under another statement name this way.
pub fn encode_bind(
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    params: &[Option<Bytes>],
    result_formats: &[i16],
    buf: &mut BytesMut,
) {
    let count = |n: usize| i16::try_from(n).expect("a decoded Bind has at most i16::MAX entries");
    write_tagged(tag::BIND, buf, |b| {
        put_cstr(b, portal);
        put_cstr(b, statement);
        b.put_i16(count(param_formats.len()));
        for format in param_formats {
            b.put_i16(*format);
        }
        b.put_i16(count(params.len()));
        for param in params {
            match param {
                Some(value) => {
                    b.put_i32(i32::try_from(value.len()).expect("a decoded value fits a frame"));
                    b.put_slice(value);
                }
                None => b.put_i32(-1),
            }
        }
        b.put_i16(count(result_formats.len()));
        for format in result_formats {
            b.put_i16(*format);
        }
    });
}

/// Writes a Close of a statement or portal.
pub fn encode_close(target: Target, name: &str, buf: &mut BytesMut) {
    write_tagged(tag::CLOSE, buf, |b| {
        b.put_u8(match target {
            Target::Statement => b'S',
            Target::Portal => b'P',
        });
        put_cstr(b, name);
    });
}

/// Writes an Execute of `portal`; `max_rows` 0 means all rows.
pub fn encode_execute(portal: &str, max_rows: i32, buf: &mut BytesMut) {
    write_tagged(tag::EXECUTE, buf, |b| {
        put_cstr(b, portal);
        b.put_i32(max_rows);
    });
}

/// Writes a Terminate.
pub fn encode_terminate(buf: &mut BytesMut) {
    write_tagged(tag::TERMINATE, buf, |_| {});
}

/// Writes a Sync.
pub fn encode_sync(buf: &mut BytesMut) {
    write_tagged(tag::SYNC, buf, |_| {});
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::msg;

    #[test]
    fn bind_and_close_round_trip() {
        let mut buf = BytesMut::new();
        let params = vec![Some(Bytes::from_static(b"42")), None, Some(Bytes::new())];
        encode_bind("p", "s", &[0, 1], &params, &[1], &mut buf);
        encode_close(Target::Statement, "s", &mut buf);
        let mut next =
            || FrontendMessage::decode(&crate::decode_frame(&mut buf, 1024).unwrap().unwrap());
        assert_eq!(
            next(),
            Ok(FrontendMessage::Bind {
                portal: "p".into(),
                statement: "s".into(),
                param_formats: vec![0, 1],
                params,
                result_formats: vec![1],
            })
        );
        assert_eq!(
            next(),
            Ok(FrontendMessage::Close {
                target: Target::Statement,
                name: "s".into()
            })
        );
    }

    #[test]
    fn parse_bind_execute_round_trip() {
        let mut buf = BytesMut::new();
        encode_parse("s", "select $1", &[25], &mut buf);
        encode_bind_without_parameters("p", "s", &mut buf);
        encode_execute("p", 0, &mut buf);
        let mut next =
            || FrontendMessage::decode(&crate::decode_frame(&mut buf, 1024).unwrap().unwrap());
        assert_eq!(
            next(),
            Ok(FrontendMessage::Parse {
                statement: "s".into(),
                sql: "select $1".into(),
                param_types: vec![25]
            })
        );
        assert_eq!(
            next(),
            Ok(FrontendMessage::Bind {
                portal: "p".into(),
                statement: "s".into(),
                param_formats: vec![],
                params: vec![],
                result_formats: vec![]
            })
        );
        assert_eq!(
            next(),
            Ok(FrontendMessage::Execute {
                portal: "p".into(),
                max_rows: 0
            })
        );
    }

    #[test]
    fn describe_round_trips() {
        for target in [Target::Statement, Target::Portal] {
            let mut buf = BytesMut::new();
            encode_describe(target, "p1", &mut buf);
            let frame = crate::decode_frame(&mut buf, 1024).unwrap().unwrap();
            assert_eq!(
                FrontendMessage::decode(&frame),
                Ok(FrontendMessage::Describe {
                    target,
                    name: "p1".into()
                })
            );
        }
    }
    use crate::decode_frame;

    fn frame(bytes: &[u8]) -> Frame {
        let mut buf = BytesMut::from(bytes);
        let frame = decode_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert!(buf.is_empty(), "test bytes hold more than one frame");
        frame
    }

    fn decode(bytes: impl AsRef<[u8]>) -> Result<FrontendMessage, ProtocolError> {
        FrontendMessage::decode(&frame(bytes.as_ref()))
    }

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut buf = BytesMut::new();
        f(&mut buf);
        buf
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
    fn query_round_trips() {
        let bytes = encoded(|b| encode_query("select 1; select 2", b));
        assert_eq!(
            decode(&bytes),
            Ok(FrontendMessage::Query {
                sql: "select 1; select 2".into()
            })
        );
    }

    #[test]
    fn password_round_trips() {
        let bytes = encoded(|b| encode_password("s3cret", b));
        let Ok(FrontendMessage::AuthResponse(body)) = decode(&bytes) else {
            panic!("not an auth response");
        };
        assert_eq!(decode_password(&body), Ok("s3cret".into()));
    }

    #[test]
    fn sasl_initial_response_round_trips() {
        let data = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO";
        let bytes = encoded(|b| encode_sasl_initial_response("SCRAM-SHA-256", data, b));
        let Ok(FrontendMessage::AuthResponse(body)) = decode(&bytes) else {
            panic!("not an auth response");
        };
        assert_eq!(
            decode_sasl_initial_response(&body),
            Ok(("SCRAM-SHA-256".into(), Some(Bytes::from_static(data))))
        );
    }

    #[test]
    fn sasl_initial_response_without_data_is_none() {
        assert_eq!(
            decode_sasl_initial_response(b"SCRAM-SHA-256\0\xff\xff\xff\xff"),
            Ok(("SCRAM-SHA-256".into(), None))
        );
        for body in [
            &b"SCRAM-SHA-256\0\xff\xff\xff\xfe"[..],
            &b"SCRAM-SHA-256\0\0\0\0\x05abc"[..],
            &b"SCRAM-SHA-256"[..],
            &b"SCRAM-SHA-256\0\0\0\0\x01ab"[..],
        ] {
            assert!(decode_sasl_initial_response(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn sasl_response_round_trips() {
        let data = b"c=biws,r=abc,p=xyz";
        let bytes = encoded(|b| encode_sasl_response(data, b));
        assert_eq!(
            decode(&bytes),
            Ok(FrontendMessage::AuthResponse(Bytes::from_static(data)))
        );
    }

    #[test]
    fn sync_and_terminate_round_trip() {
        assert_eq!(decode(encoded(encode_sync)), Ok(FrontendMessage::Sync));
        assert_eq!(
            decode(encoded(encode_terminate)),
            Ok(FrontendMessage::Terminate)
        );
    }

    #[test]
    fn parse_decodes_names_sql_and_types() {
        assert_eq!(
            decode(msg(b'P', b"s1\0select $1\0\0\x01\0\0\0\x17")),
            Ok(FrontendMessage::Parse {
                statement: "s1".into(),
                sql: "select $1".into(),
                param_types: vec![23],
            })
        );
    }

    #[test]
    fn bind_decodes_formats_nulls_and_values() {
        let bytes = msg(
            b'B',
            b"p\0s1\0\0\x01\0\x01\0\x02\xff\xff\xff\xff\0\0\0\x02hi\0\x01\0\0",
        );
        assert_eq!(
            decode(bytes),
            Ok(FrontendMessage::Bind {
                portal: "p".into(),
                statement: "s1".into(),
                param_formats: vec![1],
                params: vec![None, Some(Bytes::from_static(b"hi"))],
                result_formats: vec![0],
            })
        );
    }

    #[test]
    fn execute_describe_close_decode() {
        assert_eq!(
            decode(msg(b'E', b"\0\0\0\0\x0a")),
            Ok(FrontendMessage::Execute {
                portal: String::new(),
                max_rows: 10
            })
        );
        assert_eq!(
            decode(msg(b'D', b"Ss1\0")),
            Ok(FrontendMessage::Describe {
                target: Target::Statement,
                name: "s1".into()
            })
        );
        assert_eq!(
            decode(msg(b'C', b"P\0")),
            Ok(FrontendMessage::Close {
                target: Target::Portal,
                name: String::new()
            })
        );
    }

    #[test]
    fn copy_and_function_call_decode() {
        assert_eq!(
            decode(msg(b'd', b"1\t2\n")),
            Ok(FrontendMessage::CopyData(Bytes::from_static(b"1\t2\n")))
        );
        assert_eq!(decode(msg(b'c', b"")), Ok(FrontendMessage::CopyDone));
        assert_eq!(
            decode(msg(b'f', b"oops\0")),
            Ok(FrontendMessage::CopyFail {
                message: "oops".into()
            })
        );
        assert_eq!(decode(msg(b'H', b"")), Ok(FrontendMessage::Flush));
        assert_eq!(
            decode(msg(b'F', b"\0\0\x04\xd2\0\0\0\0\0\0")),
            Ok(FrontendMessage::FunctionCall { function_oid: 1234 })
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        // Query without its NUL terminator.
        assert_malformed(msg(b'Q', b"select 1"));
        // Query with bytes after the NUL: the inspector and the server must agree on the SQL.
        assert_malformed(msg(b'Q', b"select 1\0x"));
        // Query with invalid UTF-8.
        assert_malformed(msg(b'Q', b"\xff\0"));
        // Parse declaring two parameter types but carrying one.
        assert_malformed(msg(b'P', b"\0x\0\0\x02\0\0\0\x17"));
        // Parse with a negative parameter count.
        assert_malformed(msg(b'P', b"\0x\0\xff\xff"));
        // Bind with a -2 parameter length.
        assert_malformed(msg(b'B', b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0"));
        // Bind with a value longer than the message.
        assert_malformed(msg(b'B', b"\0\0\0\0\0\x01\0\0\0\x09\0\0"));
        // Bind with a parameter count past the end.
        assert_malformed(msg(b'B', b"\0\0\0\0\0\x05"));
        // Describe with an unknown target.
        assert_malformed(msg(b'D', b"X\0\0"));
        // Execute missing max_rows.
        assert_malformed(msg(b'E', b"\0"));
        // Sync with a body.
        assert_malformed(msg(b'S', b"x"));
        // FunctionCall too short for its OID.
        assert_malformed(msg(b'F', b"\0\0"));
        // A backend-only tag.
        assert_malformed(msg(b'Z', b"I"));
    }

    #[test]
    fn pipelined_extended_batch_decodes_one_by_one() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&msg(b'P', b"\0select 1\0\0\0"));
        buf.extend_from_slice(&msg(b'B', b"\0\0\0\0\0\0\0\0"));
        buf.extend_from_slice(&msg(b'D', b"P\0"));
        buf.extend_from_slice(&msg(b'E', b"\0\0\0\0\0"));
        encode_sync(&mut buf);
        let mut decoded = Vec::new();
        while let Some(frame) = decode_frame(&mut buf, 1024).unwrap() {
            decoded.push(FrontendMessage::decode(&frame).unwrap());
        }
        assert!(matches!(decoded[0], FrontendMessage::Parse { .. }));
        assert!(matches!(decoded[1], FrontendMessage::Bind { .. }));
        assert!(matches!(
            decoded[2],
            FrontendMessage::Describe {
                target: Target::Portal,
                ..
            }
        ));
        assert!(matches!(decoded[3], FrontendMessage::Execute { .. }));
        assert_eq!(decoded[4], FrontendMessage::Sync);
        assert_eq!(decoded.len(), 5);
    }

    #[test]
    fn partial_batches_yield_the_complete_frames_and_keep_the_rest() {
        let mut whole = BytesMut::new();
        encode_query("select 1", &mut whole);
        encode_sync(&mut whole);
        let first_len = whole.len() - 5;
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut decoded = 0;
            while let Some(frame) = decode_frame(&mut buf, 1024).unwrap() {
                FrontendMessage::decode(&frame).unwrap();
                decoded += 1;
            }
            let expected = usize::from(cut >= first_len);
            assert_eq!(decoded, expected, "cut at {cut}");
            assert_eq!(buf.len(), cut - if expected == 1 { first_len } else { 0 });
        }
    }

    #[test]
    fn hostile_counts_do_not_reserve_memory_up_front() {
        // 32767 declared parameter types in a 9-byte body: refused, after reserving nothing big.
        assert_malformed(msg(b'P', b"\0\0\x7f\xff"));
    }
}
