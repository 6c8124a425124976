//! Where archive objects live and how they are named and hashed.
//!
//! Keys are relative to the archive root: a store's prefix is not part of them, so a bucket
//! copied under another prefix (or downloaded to a folder) still verifies.
//!
//! ```text
//! sessions/YYYY/MM/DD/<session_id>.jsonl.zst       the recording, zstd
//! sessions/YYYY/MM/DD/<session_id>.manifest.json   its signed manifest
//! digests/<replica>/YYYY/MM/DD/HH-MM-SS.json       a period digest, named by its period start
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::ArchiveError;
pub use crate::base::{SessionId, Sha256};

pub(super) const SESSIONS_DIR: &str = "sessions";
pub(super) const DIGESTS_DIR: &str = "digests";
pub(super) const AUDIT_DIR: &str = "audit";
pub(super) const RECORDING_SUFFIX: &str = ".jsonl.zst";
pub(super) const MANIFEST_SUFFIX: &str = ".manifest.json";

const NAME_RULE: &str = "use 1-128 ASCII letters, digits, `-`, `_`, `.`, not starting with `.`";

/// The rule for replica names and every key segment. A name that
/// passes it is one key segment: no `/`, never `.` or `..`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

crate::base::ids::name_id!(
    /// The gateway replica that seals archives and signs its own digest chain.
    ReplicaName,
    "replica name",
    is_name,
    NAME_RULE
);

/// An object's key relative to the archive root, `/`-separated. Built only from validated names
/// and dates, or parsed with the same rules, so it never climbs out of the root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    /// `sessions/YYYY/MM/DD/<session_id>.jsonl.zst`, dated by the session's last event.
    pub fn recording(session: &SessionId, day: NaiveDate) -> Self {
        ObjectKey(format!(
            "{}/{}{RECORDING_SUFFIX}",
            day_path(SESSIONS_DIR, day),
            session
        ))
    }

    /// `sessions/YYYY/MM/DD/<session_id>.manifest.json`, beside its recording.
    pub fn manifest(session: &SessionId, day: NaiveDate) -> Self {
        ObjectKey(format!(
            "{}/{}{MANIFEST_SUFFIX}",
            day_path(SESSIONS_DIR, day),
            session
        ))
    }

    /// `digests/<replica>/YYYY/MM/DD/HH-MM-SS.json`, named by the period's start (UTC).
    pub fn digest(replica: &ReplicaName, period_start: DateTime<Utc>) -> Self {
        ObjectKey(format!(
            "{}/{:02}-{:02}-{:02}.json",
            day_path(
                &format!("{DIGESTS_DIR}/{replica}"),
                period_start.date_naive()
            ),
            period_start.hour(),
            period_start.minute(),
            period_start.second(),
        ))
    }

    /// `audit/<replica>/YYYY/MM/DD/HH-MM-SS.json`: the audit segment of the digest period
    /// starting then.
    pub fn audit_segment(replica: &ReplicaName, period_start: DateTime<Utc>) -> Self {
        let digest = ObjectKey::digest(replica, period_start);
        ObjectKey(format!("{AUDIT_DIR}{}", &digest.0[DIGESTS_DIR.len()..]))
    }

    /// Parses a key found in a document or a folder: non-empty segments of
    /// `A–Z a–z 0–9 - _ .`, none starting with `.`.
    pub fn parse(key: &str) -> Result<Self, ArchiveError> {
        if !key.is_empty() && key.split('/').all(is_name) {
            Ok(ObjectKey(key.to_owned()))
        } else {
            Err(ArchiveError::InvalidName {
                what: "object key",
                value: key.escape_default().to_string(),
                rule: "use `/`-separated segments of ASCII letters, digits, `-`, `_`, `.`, \
                       none empty or starting with `.`",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key in a store that keeps the archive under `prefix`.
    pub fn with_prefix(&self, prefix: &Prefix) -> String {
        match &prefix.0 {
            Some(p) => format!("{p}/{}", self.0),
            None => self.0.clone(),
        }
    }

    /// Where the object lives in a folder laid out like the store.
    pub fn to_path(&self, root: &Path) -> PathBuf {
        self.0.split('/').fold(root.to_owned(), |p, s| p.join(s))
    }

    /// The date segments `<top>/…/YYYY/MM/DD/<file>` carry, if they are a real date. Public so
    /// a reader of a store can skip day folders outside a window before fetching anything.
    pub fn day(&self) -> Option<NaiveDate> {
        let segments: Vec<&str> = self.0.split('/').collect();
        let [.., y, m, d, _file] = segments.as_slice() else {
            return None;
        };
        NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// The replica and period start a digest key names (`digests/<replica>/YYYY/MM/DD/HH-MM-SS.json`);
    /// `None` for any other key. Lets a reader of a store pick the digests around a window from
    /// the listing alone, before fetching any.
    pub fn digest_start(&self) -> Option<(ReplicaName, DateTime<Utc>)> {
        let segments: Vec<&str> = self.0.split('/').collect();
        let [top, replica, _, _, _, file] = segments.as_slice() else {
            return None;
        };
        if *top != DIGESTS_DIR {
            return None;
        }
        let time = NaiveTime::parse_from_str(file.strip_suffix(".json")?, "%H-%M-%S").ok()?;
        let start = self.day()?.and_time(time).and_utc();
        let replica = ReplicaName::new(*replica).ok()?;
        // Only the key hoop writes names a period: `12-0-00.json` beside `12-00-00.json` must
        // not pass for it.
        (ObjectKey::digest(&replica, start) == *self).then_some((replica, start))
    }

    /// The file name (last segment).
    pub(super) fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The key of a sibling object in the same "directory".
    pub(super) fn sibling(&self, file_name: &str) -> ObjectKey {
        match self.0.rsplit_once('/') {
            Some((dir, _)) => ObjectKey(format!("{dir}/{file_name}")),
            None => ObjectKey(file_name.to_owned()),
        }
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = ArchiveError;
    fn try_from(value: String) -> Result<Self, ArchiveError> {
        ObjectKey::parse(&value)
    }
}

impl From<ObjectKey> for String {
    fn from(value: ObjectKey) -> String {
        value.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn day_path(top: &str, day: NaiveDate) -> String {
    format!(
        "{top}/{:04}/{:02}/{:02}",
        day.year(),
        day.month(),
        day.day()
    )
}

/// A store's optional key prefix (`hoop/prod`), without leading or trailing `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefix(Option<String>);

impl Prefix {
    pub fn none() -> Self {
        Prefix(None)
    }

    /// Accepts `a/b`, `a/b/` or `/a/b`; an empty string means no prefix.
    pub fn new(prefix: &str) -> Result<Self, ArchiveError> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Prefix(None));
        }
        ObjectKey::parse(trimmed).map(|k| Prefix(Some(k.0)))
    }
}

/// Stores `bytes` as the object `key` under `root`, creating its folders. An existing object
/// is never replaced (`create_new`): archives are written once.
pub(super) fn write_object(root: &Path, key: &ObjectKey, bytes: &[u8]) -> Result<(), ArchiveError> {
    let path = key.to_path(root);
    let io = |source| ArchiveError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    std::io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// Manifest times: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the recording's own shape.
pub(super) fn micros_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_the_layout() {
        let s = SessionId::parse("6f1c0000-0000-4000-8000-000000000001").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            ObjectKey::recording(&s, day).as_str(),
            "sessions/2026/01/02/6f1c0000-0000-4000-8000-000000000001.jsonl.zst"
        );
        let m = ObjectKey::manifest(&s, day);
        assert_eq!(
            m.as_str(),
            "sessions/2026/01/02/6f1c0000-0000-4000-8000-000000000001.manifest.json"
        );
        assert_eq!(m.day(), Some(day));
        let r = ReplicaName::new("gw-1").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap();
        assert_eq!(
            ObjectKey::digest(&r, start).as_str(),
            "digests/gw-1/2026/01/02/03-00-00.json"
        );
        let prefix = Prefix::new("/hoop/prod/").unwrap();
        assert_eq!(
            m.with_prefix(&prefix),
            "hoop/prod/sessions/2026/01/02/6f1c0000-0000-4000-8000-000000000001.manifest.json"
        );
        assert_eq!(m.with_prefix(&Prefix::new("").unwrap()), m.as_str());
    }

    #[test]
    fn names_and_keys_cannot_escape_the_root() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(129)] {
            assert!(ReplicaName::new(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "/a", "a//b", "a/../b", "a/./b", "a/", "a\\b"] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Prefix::new("a/../b").is_err());
    }

    #[test]
    fn sha256_hex_has_one_spelling() {
        let h = Sha256::of(b"");
        assert_eq!(
            h.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Sha256::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Sha256::from_hex(&h.to_hex().to_uppercase()), None);
        assert_eq!(Sha256::from_hex("00"), None);
    }
}
