//! The webhook channel: the notice as JSON, POSTed with an HMAC-SHA-256 signature of the exact
//! body bytes (`X-Hoop-Signature: sha256=<hex>`), a delivery id and a timestamp.
//!
//! The body carries the delivery id and the time again (`delivery`, `sent_at`), so a receiver
//! that checks freshness or de-duplicates relies on signed values, not on headers. Redirects
//! are not followed: a signed notice goes to the configured URL or nowhere.

use std::time::Duration;

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use super::{Channel, Notice, NoticeDisplay, NotifyError, body_excerpt, shown_url, with_causes};
use crate::base::Secret;

/// `event` of every payload this channel sends.
pub const EVENT: &str = "approval.requested";

/// `version` of the payload's shape; raised when a field changes meaning or goes away.
pub const VERSION: u32 = 1;

/// What the receiver gets: the notice's fields, flattened, after these.
#[derive(Serialize)]
struct Payload<'a> {
    event: &'static str,
    version: u32,
    /// The same on every try of one notice (also `X-Hoop-Delivery`).
    delivery: uuid::Uuid,
    /// When this try was sent (also `X-Hoop-Timestamp`, in Unix seconds).
    sent_at: DateTime<Utc>,
    #[serde(flatten)]
    notice: &'a Notice,
    /// The notice's client and claim text as a person must see it (hidden characters escaped,
    /// [`crate::display`]); the fields above stay exact, for programs. A receiver that shows
    /// the notice to someone (chat, e-mail, a ticket) shows these.
    display: NoticeDisplay,
}

pub(super) struct WebhookChannel {
    http: reqwest::Client,
    url: Url,
    key: hmac::Key,
}

impl WebhookChannel {
    pub(super) fn new(
        url: &Url,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<WebhookChannel, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hoop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client {
                channel: Channel::Webhook,
                message: with_causes(&e),
            })?;
        Ok(WebhookChannel {
            http,
            url: url.clone(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes()),
        })
    }

    pub(super) async fn deliver(
        &self,
        notice: &Notice,
        delivery: uuid::Uuid,
    ) -> Result<(), NotifyError> {
        let sent_at = Utc::now();
        let body = payload(notice, delivery, sent_at)?;
        let endpoint = shown_url(&self.url);
        let response = self
            .http
            .post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("X-Hoop-Signature", signature(&self.key, &body))
            .header("X-Hoop-Delivery", delivery.to_string())
            .header("X-Hoop-Timestamp", sent_at.timestamp().to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::Unreachable {
                channel: Channel::Webhook,
                endpoint: endpoint.clone(),
                message: with_causes(&e.without_url()),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The body only explains the refusal; an unreadable one does not change it.
        let body = response.bytes().await.unwrap_or_default();
        Err(NotifyError::Rejected {
            channel: Channel::Webhook,
            endpoint,
            status: status.as_u16(),
            message: body_excerpt(&body),
        })
    }
}

/// The exact bytes that are signed and sent.
fn payload(
    notice: &Notice,
    delivery: uuid::Uuid,
    sent_at: DateTime<Utc>,
) -> Result<Vec<u8>, NotifyError> {
    serde_json::to_vec(&Payload {
        event: EVENT,
        version: VERSION,
        delivery,
        sent_at,
        notice,
        display: notice.display(),
    })
    .map_err(|e| NotifyError::Client {
        channel: Channel::Webhook,
        message: format!("cannot encode the notice: {e}"),
    })
}

/// `sha256=<lowercase hex HMAC-SHA-256 of body>`.
fn signature(key: &hmac::Key, body: &[u8]) -> String {
    format!(
        "sha256={}",
        crate::base::hash::hex(hmac::sign(key, body).as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::notify::tests::notice;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            signature(&key, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_payload_is_the_notice_with_event_version_and_delivery() {
        let notice = notice();
        let delivery = uuid::Uuid::new_v4();
        let body = payload(&notice, delivery, notice.requested_at).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["event"], EVENT);
        assert_eq!(json["version"], VERSION);
        assert_eq!(json["delivery"], delivery.to_string());
        assert_eq!(json["approval_id"], notice.approval_id.to_string());
        assert_eq!(json["statement"], notice.statement);
        assert_eq!(json["run"]["provider"], "github");
        assert_eq!(json["run"]["repository"], "acme/payments");
        assert_eq!(json["display"]["statement"], notice.statement);
    }

    #[test]
    fn the_payload_keeps_the_exact_text_and_adds_the_escaped_one() {
        let mut notice = notice();
        notice.statement = "DELETE FROM payments -- \u{202e}llun\u{202c}\n".into();
        notice.run.actor = Some("octo\u{200b}cat".into());
        notice.reason = "why\u{2028}".into();
        let body = payload(&notice, uuid::Uuid::new_v4(), notice.requested_at).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["statement"], notice.statement);
        assert_eq!(
            json["display"]["statement"],
            "DELETE FROM payments -- \\u{202e}llun\\u{202c}\n"
        );
        assert_eq!(json["display"]["actor"], "octo\\u{200b}cat");
        assert_eq!(json["display"]["reason"], "why\\u{2028}");
        assert_eq!(json["display"]["repository"], "acme/payments");
    }
}
