//! What an upstream server (or anything impersonating one) can send the gateway: tagged
//! messages. Besides "never panics", checks that the messages the gateway re-encodes itself
//! (CommandComplete, ParameterStatus, ReadyForQuery) round-trip to the exact bytes.
#![no_main]

use bytes::BytesMut;
use hoop_protocol::backend::{self, BackendMessage};
use hoop_protocol::{DEFAULT_MAX_MESSAGE_LEN, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut buf, DEFAULT_MAX_MESSAGE_LEN) {
        let mut again = BytesMut::new();
        match BackendMessage::decode(&frame) {
            Ok(BackendMessage::CommandComplete { tag }) => {
                backend::encode_command_complete(&tag, &mut again);
            }
            Ok(BackendMessage::ParameterStatus { name, value }) => {
                backend::encode_parameter_status(&name, &value, &mut again);
            }
            Ok(BackendMessage::ReadyForQuery { status }) => {
                backend::encode_ready_for_query(status, &mut again);
            }
            _ => continue,
        }
        assert_eq!(&again[..], &frame.raw[..], "message does not round-trip");
    }
});
