//! The relay's side of "one client encoding": the moment the upstream reports a
//! `client_encoding` other than UTF8, the session ends ([`super::super::encoding`]).

use hoop_protocol::Frame;
use hoop_protocol::backend::BackendMessage;

use super::super::encoding::reported_encoding_refusal;
use super::{ClientIo, Ended, Relay, UpstreamIo, fatal};

impl<C: ClientIo, U: UpstreamIo> Relay<'_, '_, C, U> {
    /// Why an upstream ParameterStatus ends the session, if it does.
    pub(super) fn encoding_changed(frame: &Frame) -> Option<String> {
        if frame.tag != b'S' {
            return None;
        }
        match BackendMessage::decode(frame).ok()? {
            BackendMessage::ParameterStatus { name, value } => {
                reported_encoding_refusal(&name, &value)
            }
            _ => None,
        }
    }

    /// Ends the session over a changed encoding: nothing more goes to either side (the batch
    /// being relayed is dropped), the client gets a FATAL, and the change is audited; the
    /// recording's last line names it.
    pub(super) async fn end_for_encoding(&mut self, why: String) -> Ended {
        self.out.clear();
        self.session
            .audit_denied("client_encoding_changed", &why)
            .await;
        // The message tells of what the upstream answered: not before the record is durable.
        if let Err(ended) = self.release().await {
            return ended;
        }
        fatal(&mut *self.client, "22023", &why).await;
        Ended::EncodingChanged(why)
    }
}
