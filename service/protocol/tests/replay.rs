//! Replays hand-assembled sessions, byte for byte as the protocol docs lay them out
//! (<https://www.postgresql.org/docs/current/protocol-message-formats.html>), through the
//! decoders the gateway uses: a SCRAM login, a simple query, an extended-protocol batch and a
//! COPY from the client; the matching authentication, results, error and notification from the
//! server. The same bytes seed the fuzz corpus (`fuzz/corpus/`); regenerate it with
//! `cargo test -p hoop-protocol --test replay -- --ignored`.

use bytes::{Bytes, BytesMut};
use hoop_protocol::backend::{Authentication, BackendMessage};
use hoop_protocol::frontend::{self, FrontendMessage, Target};
use hoop_protocol::rows::{self, FieldDescription};
use hoop_protocol::startup::{self, StartupRequest};
use hoop_protocol::{DEFAULT_MAX_MESSAGE_LEN, Frame, decode_frame};

/// psql over SCRAM: SSLRequest (answered 'N'), then StartupMessage and the SASL exchange.
const CLIENT_LOGIN: &[&[u8]] = &[
    // SSLRequest: length 8, code 1234.5679.
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
    // StartupMessage: length 76, protocol 3.0, four parameters, terminator.
    b"\x00\x00\x00\x4c\x00\x03\x00\x00\
      user\0alice\0database\0app\0application_name\0psql\0client_encoding\0UTF8\0\0",
];

/// Tagged client messages after startup.
const CLIENT_MESSAGES: &[&[u8]] = &[
    // SASLInitialResponse: mechanism, Int32 length 28, client-first-message (RFC 7677).
    b"p\x00\x00\x00\x32SCRAM-SHA-256\0\x00\x00\x00\x1cn,,n=,r=rOprNGfwEbeRWgbNEkqO",
    // SASLResponse: client-final-message.
    b"p\x00\x00\x00\x6ec=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
      p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    // Simple Query holding two statements.
    b"Q\x00\x00\x00\x22SELECT * FROM runs; SELECT 2;\0",
    // Parse: statement "s0", one Int4 (OID 23) parameter.
    b"P\x00\x00\x00\x36s0\0SELECT id, name FROM users WHERE id = $1\0\x00\x01\x00\x00\x00\x17",
    // Bind: unnamed portal, statement "s0", binary params, one Int4 value 42, binary results.
    b"B\x00\x00\x00\x1a\0s0\0\x00\x01\x00\x01\x00\x01\x00\x00\x00\x04\x00\x00\x00\x2a\x00\x01\x00\x01",
    // Describe the unnamed portal.
    b"D\x00\x00\x00\x06P\0",
    // Execute the unnamed portal, no row limit.
    b"E\x00\x00\x00\x09\0\x00\x00\x00\x00",
    // Sync.
    b"S\x00\x00\x00\x04",
    // COPY FROM STDIN, one row of data, done.
    b"Q\x00\x00\x00\x19COPY runs FROM STDIN\0",
    b"d\x00\x00\x00\x0c1\talice\n",
    b"c\x00\x00\x00\x04",
    // Terminate.
    b"X\x00\x00\x00\x04",
];

/// The server's side: SCRAM, session parameters, a one-row result, an error and a notification.
const SERVER_MESSAGES: &[&[u8]] = &[
    // AuthenticationSASL: code 10, mechanism list, terminator.
    b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0",
    // AuthenticationSASLContinue: code 11, server-first-message.
    b"R\x00\x00\x00\x5e\x00\x00\x00\x0b\
      r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    // AuthenticationSASLFinal: code 12, server-final-message.
    b"R\x00\x00\x00\x36\x00\x00\x00\x0cv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    // AuthenticationOk.
    b"R\x00\x00\x00\x08\x00\x00\x00\x00",
    // ParameterStatus client_encoding=UTF8.
    b"S\x00\x00\x00\x19client_encoding\0UTF8\0",
    // BackendKeyData: pid 12345, 4-byte secret.
    b"K\x00\x00\x00\x0c\x00\x00\x30\x39\xde\xad\xbe\xef",
    // ReadyForQuery, idle.
    b"Z\x00\x00\x00\x05I",
    // RowDescription: two fields, id int4 and name text.
    b"T\x00\x00\x00\x32\x00\x02\
      id\0\x00\x00\x40\x00\x00\x01\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00\
      name\0\x00\x00\x40\x00\x00\x02\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00",
    // DataRow: "42", NULL.
    b"D\x00\x00\x00\x10\x00\x02\x00\x00\x00\x0242\xff\xff\xff\xff",
    // CommandComplete.
    b"C\x00\x00\x00\x0dSELECT 1\0",
    // ErrorResponse: severity (localized and not), SQLSTATE, message, position.
    b"E\x00\x00\x00\x3eSERROR\0VERROR\0C42P01\0Mrelation \"nope\" does not exist\0P15\0\0",
    // NotificationResponse: pid 12345, channel "jobs", payload "done".
    b"A\x00\x00\x00\x12\x00\x00\x30\x39jobs\0done\0",
    // ReadyForQuery, in a failed transaction.
    b"Z\x00\x00\x00\x05E",
];

fn joined(parts: &[&[u8]]) -> BytesMut {
    parts
        .iter()
        .copied()
        .flatten()
        .copied()
        .collect::<Vec<u8>>()[..]
        .into()
}

fn frames(buf: &mut BytesMut) -> Vec<Frame> {
    let frames: Vec<Frame> =
        std::iter::from_fn(|| decode_frame(buf, DEFAULT_MAX_MESSAGE_LEN).unwrap()).collect();
    assert!(buf.is_empty(), "{} bytes left unframed", buf.len());
    frames
}

#[test]
fn client_login_decodes() {
    let mut buf = joined(CLIENT_LOGIN);
    assert_eq!(
        startup::decode(&mut buf, startup::MAX_STARTUP_LEN),
        Ok(Some(StartupRequest::SslRequest))
    );
    let Ok(Some(StartupRequest::Startup(msg))) =
        startup::decode(&mut buf, startup::MAX_STARTUP_LEN)
    else {
        panic!("expected a StartupMessage");
    };
    assert!(buf.is_empty());
    assert_eq!(msg.version, startup::PROTOCOL_3_0);
    assert_eq!(msg.get("user"), Some("alice"));
    assert_eq!(msg.get("database"), Some("app"));
    assert_eq!(msg.get("client_encoding"), Some("UTF8"));
    assert_eq!(msg.params.len(), 4);
}

#[test]
fn cancel_request_decodes() {
    let mut buf =
        BytesMut::from(&b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x30\x39\xde\xad\xbe\xef"[..]);
    let Ok(Some(StartupRequest::Cancel(key))) = startup::decode(&mut buf, startup::MAX_STARTUP_LEN)
    else {
        panic!("expected a CancelRequest");
    };
    assert_eq!(key.pid, 12345);
    assert_eq!(&key.secret[..], b"\xde\xad\xbe\xef");
}

#[test]
fn client_messages_decode() {
    let mut buf = joined(CLIENT_MESSAGES);
    let decoded: Vec<FrontendMessage> = frames(&mut buf)
        .iter()
        .map(|f| FrontendMessage::decode(f).unwrap())
        .collect();

    let FrontendMessage::AuthResponse(first) = &decoded[0] else {
        panic!("expected SASLInitialResponse");
    };
    let (mechanism, data) = frontend::decode_sasl_initial_response(first).unwrap();
    assert_eq!(mechanism, "SCRAM-SHA-256");
    assert_eq!(data.as_deref(), Some(&b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"[..]));
    assert!(matches!(&decoded[1], FrontendMessage::AuthResponse(d) if d.starts_with(b"c=biws,")));

    assert_eq!(
        decoded[2],
        FrontendMessage::Query {
            sql: "SELECT * FROM runs; SELECT 2;".into()
        }
    );
    assert_eq!(
        decoded[3],
        FrontendMessage::Parse {
            statement: "s0".into(),
            sql: "SELECT id, name FROM users WHERE id = $1".into(),
            param_types: vec![23],
        }
    );
    assert_eq!(
        decoded[4],
        FrontendMessage::Bind {
            portal: String::new(),
            statement: "s0".into(),
            param_formats: vec![1],
            params: vec![Some(Bytes::from_static(&[0, 0, 0, 42]))],
            result_formats: vec![1],
        }
    );
    assert_eq!(
        decoded[5],
        FrontendMessage::Describe {
            target: Target::Portal,
            name: String::new()
        }
    );
    assert_eq!(
        decoded[6],
        FrontendMessage::Execute {
            portal: String::new(),
            max_rows: 0
        }
    );
    assert_eq!(decoded[7], FrontendMessage::Sync);
    assert!(matches!(&decoded[8], FrontendMessage::Query { sql } if sql.starts_with("COPY")));
    assert_eq!(
        decoded[9],
        FrontendMessage::CopyData(Bytes::from_static(b"1\talice\n"))
    );
    assert_eq!(decoded[10], FrontendMessage::CopyDone);
    assert_eq!(decoded[11], FrontendMessage::Terminate);
    assert_eq!(decoded.len(), 12);
}

#[test]
fn server_messages_decode() {
    let mut buf = joined(SERVER_MESSAGES);
    let frames = frames(&mut buf);
    // Relayed frames keep their exact bytes.
    for (frame, original) in frames.iter().zip(SERVER_MESSAGES) {
        assert_eq!(&frame.raw[..], *original);
    }
    let decoded: Vec<BackendMessage> = frames
        .iter()
        .map(|f| BackendMessage::decode(f).unwrap())
        .collect();

    assert_eq!(
        decoded[0],
        BackendMessage::Authentication(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()]
        })
    );
    assert!(matches!(
        &decoded[1],
        BackendMessage::Authentication(Authentication::SaslContinue(d)) if d.ends_with(b",i=4096")
    ));
    assert!(matches!(
        &decoded[2],
        BackendMessage::Authentication(Authentication::SaslFinal(d)) if d.starts_with(b"v=")
    ));
    assert_eq!(
        decoded[3],
        BackendMessage::Authentication(Authentication::Ok)
    );
    assert_eq!(
        decoded[4],
        BackendMessage::ParameterStatus {
            name: "client_encoding".into(),
            value: "UTF8".into()
        }
    );
    let BackendMessage::BackendKeyData(key) = &decoded[5] else {
        panic!("expected BackendKeyData");
    };
    assert_eq!(key.pid, 12345);
    assert_eq!(decoded[6], BackendMessage::ReadyForQuery { status: b'I' });
    assert_eq!(decoded[7], BackendMessage::RowDescription);
    let field = |name: &str, column, type_oid, type_size| FieldDescription {
        name: name.into(),
        table_oid: 16384,
        column,
        type_oid,
        type_size,
        type_modifier: -1,
        format: 0,
    };
    assert_eq!(
        rows::decode_row_description(&frames[7]),
        Ok(vec![field("id", 1, 23, 4), field("name", 2, 25, -1)])
    );
    assert_eq!(decoded[8], BackendMessage::DataRow);
    let row = rows::decode_data_row(&frames[8]).unwrap();
    assert_eq!(row.iter().collect::<Vec<_>>(), [Some(&b"42"[..]), None]);
    assert_eq!(
        decoded[9],
        BackendMessage::CommandComplete {
            tag: "SELECT 1".into()
        }
    );
    let BackendMessage::ErrorResponse(error) = &decoded[10] else {
        panic!("expected ErrorResponse");
    };
    assert_eq!(error.severity(), Some("ERROR"));
    assert_eq!(error.sqlstate(), Some("42P01"));
    assert_eq!(error.message(), Some("relation \"nope\" does not exist"));
    assert_eq!(error.get(b'P'), Some("15"));
    assert_eq!(
        decoded[11],
        BackendMessage::NotificationResponse {
            pid: 12345,
            channel: "jobs".into(),
            payload: "done".into()
        }
    );
    assert_eq!(decoded[12], BackendMessage::ReadyForQuery { status: b'E' });
}

#[test]
fn sessions_arriving_a_byte_at_a_time_decode_the_same() {
    let whole = joined(SERVER_MESSAGES);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in whole.iter() {
        buf.extend_from_slice(&[*byte]);
        while let Some(frame) = decode_frame(&mut buf, DEFAULT_MAX_MESSAGE_LEN).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), SERVER_MESSAGES.len());
}

/// Seed inputs for the fuzz targets: the frontend target reads startup packets then frames, the
/// backend target reads frames.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let client = [joined(CLIENT_LOGIN), joined(CLIENT_MESSAGES)].concat();
    let mut seeds = vec![
        ("frontend", "session".into(), client),
        (
            "frontend",
            "cancel".into(),
            b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x30\x39\xde\xad\xbe\xef".to_vec(),
        ),
        (
            "backend",
            "session".into(),
            joined(SERVER_MESSAGES).to_vec(),
        ),
    ];
    let startup = joined(&CLIENT_LOGIN[1..]).to_vec();
    for (i, message) in CLIENT_MESSAGES.iter().enumerate() {
        seeds.push((
            "frontend",
            format!("message-{i:02}"),
            [&startup[..], message].concat(),
        ));
    }
    for (i, message) in SERVER_MESSAGES.iter().enumerate() {
        seeds.push(("backend", format!("message-{i:02}"), message.to_vec()));
    }
    seeds
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn fuzz_seed_corpus_matches_these_sessions() {
    for (target, name, bytes) in seeds() {
        let path = corpus_dir().join(target).join(name);
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; regenerate with --ignored", path.display()));
        assert_eq!(
            stored,
            bytes,
            "{} is stale; regenerate with --ignored",
            path.display()
        );
    }
}

#[test]
#[ignore = "writes the fuzz seed corpus; run when the sessions above change"]
fn write_fuzz_seed_corpus() {
    for (target, name, bytes) in seeds() {
        let dir = corpus_dir().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
