//! What an upstream server (or anything impersonating one) can send the gateway: tagged
//! messages. Besides "never panics", checks that the messages the gateway re-encodes itself
//! (CommandComplete, ParameterStatus, ReadyForQuery, NotificationResponse, RowDescription,
//! DataRow) round-trip to the exact bytes.
#![no_main]

use bytes::BytesMut;
use hoop_protocol::backend::{self, BackendMessage};
use hoop_protocol::rows::{self, DataRowWriter};
use hoop_protocol::{DEFAULT_MAX_MESSAGE_LEN, Frame, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut buf, DEFAULT_MAX_MESSAGE_LEN) {
        // Decoders the gateway only runs on frames it chose to inspect: whatever the tag, they
        // refuse or decode, never panic.
        let _ = rows::decode_copy_response(&frame);
        let _ = rows::decode_parameter_description(&frame);
        if let Some(again) = reencode(&frame) {
            assert_eq!(&again[..], &frame.raw[..], "message does not round-trip");
        }
    }
});

/// The frame rebuilt from its decoded form, for the messages the gateway re-encodes.
fn reencode(frame: &Frame) -> Option<BytesMut> {
    let mut again = BytesMut::new();
    let fields = rows::decode_row_description(frame);
    let row = rows::decode_data_row(frame);
    match BackendMessage::decode(frame) {
        Ok(BackendMessage::CommandComplete { tag }) => {
            backend::encode_command_complete(&tag, &mut again);
        }
        Ok(BackendMessage::ParameterStatus { name, value }) => {
            backend::encode_parameter_status(&name, &value, &mut again);
        }
        Ok(BackendMessage::ReadyForQuery { status }) => {
            backend::encode_ready_for_query(status, &mut again);
        }
        Ok(BackendMessage::NotificationResponse {
            pid,
            channel,
            payload,
        }) => {
            backend::encode_notification_response(pid, &channel, &payload, &mut again);
        }
        Ok(BackendMessage::RowDescription) => {
            rows::encode_row_description(&fields.ok()?, &mut again);
        }
        Ok(BackendMessage::DataRow) => {
            let row = row.ok()?;
            let mut writer = DataRowWriter::new(&mut again, row.len());
            for value in &row {
                writer.push_value(value);
            }
            writer.finish();
        }
        _ => return None,
    }
    Some(again)
}
