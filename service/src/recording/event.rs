//! Events and their line encoding: the one place that decides the bytes of a recording line.
//!
//! A line is `{"seq":N,"ts":"…","kind":"…",<fields…>,"prev":"<hex>"}` followed by `\n`; the full
//! specification is in `docs/recording-format.md`. The line is built by hand (not through a
//! `serde_json::Map`) so the key order is fixed by this code, not by a crate-wide serde feature.

use std::fmt;
use std::io::Write as _;

use aws_lc_rs::digest::{SHA256, digest};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;

/// Prefix of the genesis preimage: line 0's `prev` is SHA-256 of `hoop-recording-v1:<session_id>`.
pub const GENESIS_PREFIX: &str = "hoop-recording-v1:";

/// Keys the recorder writes itself; an event may not carry them as fields.
pub const RESERVED_KEYS: [&str; 4] = ["seq", "ts", "kind", "prev"];

/// A caller-provided event: a kind plus fields in the order they were added.
///
/// Field names are `&'static str` on purpose: the gateway picks them in code, so a client can
/// never choose a top-level key, and building an event allocates nothing for the names.
/// Client-controlled maps (startup parameters, say) go in one field as a nested object.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub fields: Vec<(&'static str, Value)>,
}

impl Event {
    pub fn new(kind: &'static str) -> Self {
        Event {
            kind,
            fields: Vec::new(),
        }
    }

    /// Adds a field, or replaces the value of a field of the same name in place (a line never
    /// holds a key twice: JSON parsers disagree about which duplicate wins).
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    /// [`Event::with`] for an event held by reference.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The first field whose name the recorder reserves for itself, if any.
    pub(super) fn reserved_field(&self) -> Option<&'static str> {
        self.fields
            .iter()
            .map(|(k, _)| *k)
            .find(|k| RESERVED_KEYS.contains(k))
    }
}

/// A SHA-256 value in the chain: the genesis hash or the hash of a line.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// `prev` of line 0: binds the recording to its session id.
    pub fn genesis(session_id: &str) -> Self {
        let mut preimage = Vec::with_capacity(GENESIS_PREFIX.len() + session_id.len());
        preimage.extend_from_slice(GENESIS_PREFIX.as_bytes());
        preimage.extend_from_slice(session_id.as_bytes());
        Self::of(&preimage)
    }

    /// SHA-256 of `bytes` (a line without its trailing newline).
    pub fn of(bytes: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, bytes).as_ref());
        ChainHash(out)
    }

    /// Lower-case hex, as written in `prev`.
    pub fn to_hex(&self) -> String {
        let mut buf = Vec::with_capacity(64);
        write_hex(&mut buf, &self.0);
        // write_hex emits ASCII only.
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

fn write_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        buf.push(DIGITS[usize::from(b >> 4)]);
        buf.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// Appends one complete line (with its `\n`) for `event` to `buf`.
///
/// The caller has checked [`Event::reserved_field`]. Writing to a `Vec` cannot fail, so the only
/// error is serde_json's, which a `Value` never produces; it is still passed on, not unwrapped.
pub(super) fn encode_line(
    buf: &mut Vec<u8>,
    seq: u64,
    ts: DateTime<Utc>,
    event: &Event,
    prev: &ChainHash,
) -> Result<(), serde_json::Error> {
    write!(buf, "{{\"seq\":{seq},\"ts\":\"").map_err(serde_json::Error::io)?;
    write_ts(buf, ts)?;
    buf.extend_from_slice(b"\",\"kind\":");
    serde_json::to_writer(&mut *buf, event.kind)?;
    for (key, value) in &event.fields {
        buf.push(b',');
        serde_json::to_writer(&mut *buf, key)?;
        buf.push(b':');
        serde_json::to_writer(&mut *buf, value)?;
    }
    buf.extend_from_slice(b",\"prev\":\"");
    write_hex(buf, &prev.0);
    buf.extend_from_slice(b"\"}\n");
    Ok(())
}

/// RFC 3339, UTC, exactly six fractional digits: `2026-11-25T10:04:05.123456Z` (27 bytes).
/// Written field by field so the hot path does not allocate a `String` per event.
fn write_ts(buf: &mut Vec<u8>, ts: DateTime<Utc>) -> Result<(), serde_json::Error> {
    // chrono encodes a leap second as nanosecond >= 1e9; clamp it into the same second.
    let micros = (ts.nanosecond() / 1_000).min(999_999);
    write!(
        buf,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
    )
    .map_err(serde_json::Error::io)
}

/// Whether `ts` has the exact shape [`write_ts`] produces and is a real instant.
pub(super) fn is_valid_ts(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 27
        && b[19] == b'.'
        && b[26] == b'Z'
        && b[20..26].iter().all(u8::is_ascii_digit)
        && DateTime::parse_from_rfc3339(ts).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn line_has_fixed_key_order_and_escapes() {
        let ts = Utc.with_ymd_and_hms(2026, 11, 25, 10, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let event = Event::new("statement")
            .with("sql", "select '\"x\"'\n")
            .with("decision", "allow")
            .with("sql", "select 1");
        let mut buf = Vec::new();
        encode_line(&mut buf, 7, ts, &event, &ChainHash([0xab; 32])).unwrap();
        let line = String::from_utf8(buf).unwrap();
        let expected = format!(
            "{{\"seq\":7,\"ts\":\"2026-11-25T10:04:05.123456Z\",\"kind\":\"statement\",\
             \"sql\":\"select 1\",\"decision\":\"allow\",\"prev\":\"{}\"}}\n",
            "ab".repeat(32)
        );
        assert_eq!(line, expected);
    }

    #[test]
    fn escapes_control_characters_and_keeps_utf8() {
        let ts = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let event = Event::new("notice").with("message", "é\t\u{1}");
        let mut buf = Vec::new();
        encode_line(&mut buf, 0, ts, &event, &ChainHash([0; 32])).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert!(line.contains(r#""message":"é\t\u0001""#), "{line}");
        assert!(line.contains("\"ts\":\"2026-01-02T03:04:05.000000Z\""));
    }

    #[test]
    fn genesis_is_sha256_of_the_tagged_session_id() {
        // Computed independently: printf 'hoop-recording-v1:s1' | sha256sum
        assert_eq!(
            ChainHash::genesis("s1").to_hex(),
            "a49236d7a2eed8835d3a41c48cff942fee04cde8c527aeb1acadb952c1ba3895"
        );
        assert_eq!(
            ChainHash::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn timestamp_shape_is_checked() {
        assert!(is_valid_ts("2026-11-25T10:04:05.123456Z"));
        assert!(!is_valid_ts("2026-11-25T10:04:05.123Z"));
        assert!(!is_valid_ts("2026-11-25T10:04:05.123456+00:00"));
        assert!(!is_valid_ts("2026-13-25T10:04:05.123456Z"));
    }
}
