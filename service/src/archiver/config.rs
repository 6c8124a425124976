//! `[archive]` in hoop.toml: where session archives go, how long they are locked, who signs
//! them, and who may read them through the API.

use std::time::Duration;

use serde::Deserialize;

use crate::base::SecretSource;
use crate::worm::{S3Settings, StoreUrl};

/// PCI DSS 10.5.1: audit log history is retained for at least twelve months.
pub const PCI_MIN_RETENTION_DAYS: u32 = 365;

/// `[archive]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// `s3://bucket/prefix` (S3 Object Lock, COMPLIANCE mode) or `file:///path` (write-once
    /// files; not WORM against the host's root).
    pub store: StoreUrl,
    /// The replica's Ed25519 signing key (`hoop keys generate` makes one): `{ file = ... }` or
    /// `{ env = ... }`. Auditors pin its public key.
    pub signing_key: SecretSource,
    /// Endpoint, region and addressing of an S3 store (credentials come from the standard
    /// AWS chain, never from this file).
    #[serde(default)]
    pub s3: S3Settings,
    /// Days every object stays locked after its session ended (default and minimum 365).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Allows `retention_days` below 365: for test and demo stores only, never PCI evidence.
    #[serde(default)]
    pub non_pci_short_retention: bool,
    /// Length of a digest period (default 1h; a whole number of seconds, at least 1s).
    #[serde(default = "default_digest_period", with = "humantime_serde")]
    pub digest_period: Duration,
    /// How long the store may stay unreachable before an alert-level log and audit event
    /// (default 15m; the `hoop_archive_store_unreachable_seconds` metric shows it at once).
    #[serde(default = "default_alert_after", with = "humantime_serde")]
    pub alert_after: Duration,
    /// Days the state database keeps audit events (default and PCI minimum 92: three months
    /// immediately available, PCI DSS 10.5.1). Older month partitions are dropped once every
    /// event in them is in a stored audit segment, read back intact.
    #[serde(default = "default_audit_keep_days")]
    pub audit_keep_days: u32,
    /// Longest wait between two attempts while the store is down (default 1m).
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// Refuse new gateway sessions while the spool holds more than this many bytes of
    /// recordings (the store has been down for long). Absent: no limit.
    pub max_spool_bytes: Option<u64>,
    /// Who may list, download and verify archives through the API.
    #[serde(default)]
    pub auditors: Vec<AuditorConfig>,
}

/// `[[archive.auditors]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditorConfig {
    /// Named in audit events.
    pub name: String,
    /// Hex SHA-256 of the auditor's API token (`hoop archive auditor-token` prints a token
    /// and its hash); the token itself is never in the file.
    pub token_sha256: String,
}

fn default_retention_days() -> u32 {
    PCI_MIN_RETENTION_DAYS
}

fn default_digest_period() -> Duration {
    crate::archive::DEFAULT_PERIOD
}

fn default_alert_after() -> Duration {
    Duration::from_secs(15 * 60)
}

/// Three months, as PCI DSS 10.5.1 wants immediately available.
pub const PCI_MIN_AUDIT_KEEP_DAYS: u32 = 92;

fn default_audit_keep_days() -> u32 {
    PCI_MIN_AUDIT_KEEP_DAYS
}

fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}

impl ArchiveConfig {
    /// Checks what serde cannot: retention, period, token hashes.
    pub fn validate(&self) -> Result<(), String> {
        if self.retention_days == 0 {
            return Err("archive.retention_days must be at least 1".into());
        }
        if self.retention_days < PCI_MIN_RETENTION_DAYS && !self.non_pci_short_retention {
            return Err(format!(
                "archive.retention_days = {} is below the {PCI_MIN_RETENTION_DAYS} days PCI DSS \
                 10.5.1 requires; set archive.non_pci_short_retention = true only for a store \
                 that holds no PCI evidence",
                self.retention_days
            ));
        }
        if self.retention_days > 36_500 {
            return Err("archive.retention_days must be at most 36500 (100 years)".into());
        }
        if self.audit_keep_days < PCI_MIN_AUDIT_KEEP_DAYS && !self.non_pci_short_retention {
            return Err(format!(
                "archive.audit_keep_days = {} is below the {PCI_MIN_AUDIT_KEEP_DAYS} days (three \
                 months) PCI DSS 10.5.1 wants immediately available; set \
                 archive.non_pci_short_retention = true only for a deployment that holds no PCI \
                 evidence",
                self.audit_keep_days
            ));
        }
        if self.audit_keep_days == 0 {
            return Err("archive.audit_keep_days must be at least 1".into());
        }
        let period = self.digest_period;
        if period.as_secs() == 0 || period.subsec_nanos() != 0 || period.as_secs() > 86_400 {
            return Err(
                "archive.digest_period must be a whole number of seconds between 1s and 24h".into(),
            );
        }
        if self.retry_max < Duration::from_millis(100) {
            return Err("archive.retry_max must be at least 100ms".into());
        }
        if self.max_spool_bytes == Some(0) {
            return Err("archive.max_spool_bytes must be positive when set".into());
        }
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (i, a) in self.auditors.iter().enumerate() {
            let key = format!("archive.auditors[{i}]");
            if a.name.trim().is_empty() {
                return Err(format!("{key}.name must not be empty"));
            }
            if !names.insert(a.name.as_str()) {
                return Err(format!("{key}.name: auditor {:?} is defined twice", a.name));
            }
            let Some(hash) = crate::bearer::TokenHash::parse(&a.token_sha256) else {
                return Err(format!(
                    "{key}.token_sha256 must be 64 hex digits (the SHA-256 of the token; \
                     `hoop archive auditor-token` prints one)"
                ));
            };
            if !hashes.insert(hash.to_hex()) {
                return Err(format!("{key}.token_sha256: two auditors share a token"));
            }
        }
        Ok(())
    }

    /// How long objects stay locked.
    pub fn retention(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.retention_days))
    }
}
