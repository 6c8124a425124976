//! What a client can send the gateway: startup packets (SSLRequest/GSSENCRequest may precede
//! the StartupMessage), then tagged messages. Besides "never panics", checks that a decoded
//! StartupMessage or Query re-encodes to the exact bytes it came from: if the gateway's view of
//! a message could differ from its bytes, a relayed statement could differ from the recorded one.
#![no_main]

use bytes::BytesMut;
use hoop_protocol::frontend::{self, FrontendMessage};
use hoop_protocol::startup::{self, StartupRequest};
use hoop_protocol::{DEFAULT_MAX_MESSAGE_LEN, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    if !startup_phase(&mut buf) {
        return;
    }
    while let Ok(Some(frame)) = decode_frame(&mut buf, DEFAULT_MAX_MESSAGE_LEN) {
        match FrontendMessage::decode(&frame) {
            Ok(FrontendMessage::Query { sql }) => {
                let mut again = BytesMut::new();
                frontend::encode_query(&sql, &mut again);
                assert_eq!(&again[..], &frame.raw[..], "Query does not round-trip");
            }
            Ok(FrontendMessage::AuthResponse(body)) => {
                let _ = frontend::decode_password(&body);
                let _ = frontend::decode_sasl_initial_response(&body);
            }
            _ => {}
        }
    }
});

/// Decodes startup packets until a StartupMessage; false when the session would end there.
fn startup_phase(buf: &mut BytesMut) -> bool {
    loop {
        let before = buf.clone();
        match startup::decode(buf, startup::MAX_STARTUP_LEN) {
            Ok(Some(StartupRequest::SslRequest | StartupRequest::GssEncRequest)) => continue,
            Ok(Some(StartupRequest::Startup(msg))) => {
                let consumed = &before[..before.len() - buf.len()];
                let mut again = BytesMut::new();
                startup::encode_startup(&msg, &mut again);
                assert_eq!(&again[..], consumed, "StartupMessage does not round-trip");
                return true;
            }
            Ok(Some(StartupRequest::Cancel(_))) | Ok(None) | Err(_) => return false,
        }
    }
}
