//! Property: no input makes a decoder panic, and decoders consume exactly one message or
//! nothing. Inputs come from a seeded generator (reproducible, no extra crates): random bytes,
//! well-framed messages with random bodies under every known tag, and mutations of valid
//! messages. `fuzz/` explores the same property with coverage guidance.

use bytes::BytesMut;
use hoop_protocol::backend::{self, BackendMessage, ErrorFields};
use hoop_protocol::frontend::{self, FrontendMessage};
use hoop_protocol::rows::{self, DataRowWriter, FieldDescription};
use hoop_protocol::startup::{self, CancelKey, StartupMessage};
use hoop_protocol::{Frame, ProtocolError, decode_frame};

const CASES: usize = 200_000;
const TAGS: &[u8] = b"QPBEDCSHXFdcfpRKZNTI123nstGWAvV";

/// xorshift64*: deterministic, so a failure reproduces from the printed case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        // Bias towards bytes that matter to the layouts: NUL, 0xff, small counts, tags.
        (0..len)
            .map(|_| match self.below(4) {
                0 => 0,
                1 => 0xff,
                2 => TAGS[self.below(TAGS.len())],
                _ => self.next() as u8,
            })
            .collect()
    }
}

/// Writes one valid message into a buffer.
type Encoder = Box<dyn Fn(&mut BytesMut)>;

fn valid_messages() -> Vec<Vec<u8>> {
    let encoders: Vec<Encoder> = vec![
        Box::new(|b| frontend::encode_query("select 1; select 2", b)),
        Box::new(|b| frontend::encode_password("pw", b)),
        Box::new(|b| frontend::encode_sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=x", b)),
        Box::new(|b| frontend::encode_sasl_response(b"c=biws", b)),
        Box::new(frontend::encode_sync),
        Box::new(frontend::encode_terminate),
        Box::new(|b| b.extend_from_slice(b"B\0\0\0\x15\0s\0\0\x01\0\x01\0\x01\0\0\0\x02hi\0\0")),
        Box::new(|b| b.extend_from_slice(b"P\0\0\0\x13s\0select\0\0\x01\0\0\0\x17")),
        Box::new(|b| backend::encode_ready_for_query(b'I', b)),
        Box::new(|b| backend::encode_command_complete("SELECT 1", b)),
        Box::new(|b| backend::encode_parameter_status("TimeZone", "UTC", b)),
        Box::new(|b| {
            backend::encode_error_response(&ErrorFields::new("ERROR", "42000", "no"), b);
        }),
        Box::new(|b| {
            let auth = backend::Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256".into()],
            };
            backend::encode_authentication(&auth, b);
        }),
        Box::new(|b| {
            let key = CancelKey {
                pid: 7,
                secret: bytes::Bytes::from_static(b"abcd"),
            };
            backend::encode_backend_key_data(&key, b);
        }),
        Box::new(|b| backend::encode_notification_response(1, "ch", "pay", b)),
        Box::new(|b| {
            let field = FieldDescription {
                name: "card".into(),
                table_oid: 16384,
                column: 2,
                type_oid: 25,
                type_size: -1,
                type_modifier: -1,
                format: 0,
            };
            rows::encode_row_description(&[field], b);
        }),
        Box::new(|b| {
            let mut row = DataRowWriter::new(b, 3);
            row.push(b"4111");
            row.push_null();
            row.push(b"");
            row.finish();
        }),
        Box::new(|b| b.extend_from_slice(b"H\0\0\0\x0b\x01\0\x02\0\x01\0\x01")),
        Box::new(|b| b.extend_from_slice(b"t\0\0\0\x0a\0\x01\0\0\0\x17")),
        Box::new(|b| {
            let msg = StartupMessage {
                version: startup::PROTOCOL_3_0,
                params: vec![("user".into(), "u".into())],
            };
            startup::encode_startup(&msg, b);
        }),
        Box::new(startup::encode_ssl_request),
    ];
    encoders
        .iter()
        .map(|encode| {
            let mut buf = BytesMut::new();
            encode(&mut buf);
            buf.to_vec()
        })
        .collect()
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes.truncate(at),
            2 => bytes.insert(at, rng.next() as u8),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

/// A frame with a correct length word, so the body decoders (not the framer) see the noise.
fn framed(rng: &mut Rng) -> Vec<u8> {
    let body = rng.bytes(48);
    let mut raw = vec![TAGS[rng.below(TAGS.len())]];
    raw.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    raw.extend_from_slice(&body);
    raw
}

fn check_frames(input: &[u8], max_len: usize) {
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.len();
        match decode_frame(&mut buf, max_len) {
            Ok(Some(frame)) => {
                assert_eq!(before - buf.len(), frame.raw.len());
                check_messages(&frame);
            }
            Ok(None) | Err(_) => {
                assert_eq!(buf.len(), before, "consumed bytes without a frame");
                return;
            }
        }
    }
}

fn check_messages(frame: &Frame) {
    if let Ok(FrontendMessage::AuthResponse(body)) = FrontendMessage::decode(frame) {
        let _ = frontend::decode_password(&body);
        let _ = frontend::decode_sasl_initial_response(&body);
    }
    let _ = BackendMessage::decode(frame);
    let _ = rows::decode_row_description(frame);
    if let Ok(row) = rows::decode_data_row(frame) {
        assert_eq!(row.iter().count(), row.len());
    }
    let _ = rows::decode_copy_response(frame);
    let _ = rows::decode_parameter_description(frame);
}

fn check_startup(input: &[u8]) {
    let mut buf = BytesMut::from(input);
    let before = buf.len();
    match startup::decode(&mut buf, startup::MAX_STARTUP_LEN) {
        Ok(Some(_)) => assert!(buf.len() < before),
        Ok(None) | Err(_) => assert_eq!(buf.len(), before),
    }
}

fn check(input: &[u8]) {
    check_frames(input, hoop_protocol::DEFAULT_MAX_MESSAGE_LEN);
    check_frames(input, 16);
    check_startup(input);
    let _ = frontend::decode_password(input);
    let _ = frontend::decode_sasl_initial_response(input);
}

#[test]
fn arbitrary_input_never_panics_and_consumes_whole_messages_or_nothing() {
    let seeds = valid_messages();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..CASES {
        let input = match case % 3 {
            0 => rng.bytes(64),
            1 => framed(&mut rng),
            _ => {
                let seed = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, seed)
            }
        };
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "case {case} panicked on {input:?}");
    }
}

#[test]
fn every_valid_seed_decodes() {
    for seed in valid_messages() {
        let mut buf = BytesMut::from(&seed[..]);
        let framed = decode_frame(&mut buf, 1024);
        let started = startup::decode(&mut BytesMut::from(&seed[..]), startup::MAX_STARTUP_LEN);
        let ok = match framed {
            Ok(Some(frame)) => {
                FrontendMessage::decode(&frame).is_ok() || BackendMessage::decode(&frame).is_ok()
            }
            _ => false,
        };
        assert!(
            ok || matches!(started, Ok(Some(_))),
            "seed {seed:?} is not valid"
        );
    }
}

#[test]
fn errors_render_actionable_messages() {
    let err = ProtocolError::TooLarge { len: 10, max: 5 };
    assert!(err.to_string().contains("over the 5-byte limit"));
}
