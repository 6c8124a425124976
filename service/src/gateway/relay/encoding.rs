//! The relay's side of "one client encoding": the moment the upstream reports a
//! `client_encoding` other than UTF8, the session ends ([`super::super::encoding`]).

use hoop_protocol::Frame;
use hoop_protocol::backend::BackendMessage;

use super::super::encoding::reported_encoding_refusal;
use super::super::session::fatal;
use super::{Ended, Relay};

impl Relay<'_> {
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
        let mut event = self.audit.template.clone();
        event.code = "client_encoding_changed".into();
        event.message = why.clone();
        if let Err(e) = self.audit.log.record(&event).await {
            tracing::error!(target: "hoop::alert", error = %e, "cannot write the audit event of a session ended for its client_encoding");
        }
        fatal(self.client, "22023", &why).await;
        Ended::EncodingChanged(why)
    }
}
