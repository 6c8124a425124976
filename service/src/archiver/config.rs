//! `[archive]` in hoop.toml: where session archives go, how long they are locked, who signs
//! them, and who may read them through the API.

use std::time::Duration;

use serde::Deserialize;

use crate::archive::{ArchiveError, SigningKey};
use crate::base::{SecretEnv, SecretSource};
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

/// Checks an auditor's name as `[[archive.auditors]]` takes it (and `hoop archive
/// auditor-token --name`): not blank, no control characters (it is written into audit events
/// and log lines as `auditor:<name>`). The error completes "name ...".
pub fn validate_auditor_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "must not hold control characters ({})",
            name.escape_default()
        ));
    }
    Ok(())
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
            validate_auditor_name(&a.name).map_err(|e| format!("{key}.name {e}"))?;
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

    /// Reads `archive.signing_key` and checks it can sign: what `hoop config check`, a reload
    /// and `hoop serve` all do, so a key that cannot sign (a public key, an encrypted or
    /// unreadable one) fails each of them the same way, naming where the key came from.
    pub fn signing_key(&self, env: &dyn SecretEnv) -> Result<SigningKey, String> {
        let secret = self
            .signing_key
            .resolve(env)
            .map_err(|e| format!("archive.signing_key: {e}"))?;
        SigningKey::from_secret(&secret).map_err(|e| {
            let reason = match e {
                ArchiveError::SigningKey { reason } => reason,
                other => other.to_string(),
            };
            // `hoop keys generate --out K` writes K and K.pub: name the one that signs.
            let private = match &self.signing_key {
                SecretSource::File { file } => file
                    .to_str()
                    .and_then(|f| f.strip_suffix(".pub"))
                    .map(|f| {
                        format!(" (`hoop keys generate` wrote it beside the `.pub` file: {f})")
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            };
            format!(
                "archive.signing_key ({}): {reason}{private}",
                self.signing_key.origin()
            )
        })
    }

    /// How long objects stay locked.
    pub fn retention(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.retention_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn config(signing_key: &str) -> ArchiveConfig {
        toml::from_str(&format!(
            "store = \"file:///var/lib/hoop/archive\"\nsigning_key = {signing_key}\n"
        ))
        .unwrap()
    }

    /// A private folder for key files, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!("hoop-keys-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_signing_key_is_loaded_and_a_public_key_is_named_with_its_path() {
        let dir = Scratch::new();
        let generated = crate::archive::generate().unwrap();
        let private = dir.0.join("archive.pem");
        let public = dir.0.join("archive.pem.pub");
        std::fs::write(&private, generated.private_pem.expose()).unwrap();
        std::fs::write(&public, &generated.public_file).unwrap();
        let env = HashMap::<String, String>::new();

        let key = config(&format!("{{ file = {:?} }}", private.display().to_string()))
            .signing_key(&env)
            .unwrap();
        assert_eq!(key.key_id(), &generated.key_id);

        let e = config(&format!("{{ file = {:?} }}", public.display().to_string()))
            .signing_key(&env)
            .unwrap_err();
        assert!(
            e.starts_with(&format!(
                "archive.signing_key ({}): this is a public key",
                public.display()
            )),
            "{e}"
        );
        assert!(
            e.contains("give the private key file that `hoop keys generate` wrote"),
            "{e}"
        );
        assert!(e.ends_with(&format!("{})", private.display())), "{e}");

        let env = HashMap::from([("HOOP_ARCHIVE_KEY".to_owned(), generated.public_file)]);
        let e = config("{ env = \"HOOP_ARCHIVE_KEY\" }")
            .signing_key(&env)
            .unwrap_err();
        assert!(
            e.starts_with(
                "archive.signing_key (environment variable HOOP_ARCHIVE_KEY): this is a public key"
            ),
            "{e}"
        );

        let missing = dir.0.join("absent.pem");
        let e = config(&format!("{{ file = {:?} }}", missing.display().to_string()))
            .signing_key(&env)
            .unwrap_err();
        assert!(e.starts_with("archive.signing_key: "), "{e}");
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn auditor_names_must_be_printable_and_not_blank() {
        assert!(validate_auditor_name("alice (external audit)").is_ok());
        assert!(validate_auditor_name("Zoë").is_ok());
        for bad in ["", "   ", "a\nb", "a\u{1b}[2J"] {
            assert!(validate_auditor_name(bad).is_err(), "{bad:?}");
        }
    }
}
