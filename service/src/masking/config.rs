//! `[masking]`: the masking style, its key, custom detectors and column rules.

use serde::Deserialize;

use crate::base::SecretSource;

/// `[masking]`: what clients and recordings see of card numbers and of columns masked by rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// How a detected PAN is shown (default `bin-and-last-four`, the PCI DSS 3.4.1 maximum).
    #[serde(default)]
    pub style: PanStyle,
    /// The HMAC key of `style = "token"`: at least 32 bytes, the same on every replica.
    pub token_key: Option<SecretSource>,
    /// Mask what clients receive (default true). Recordings are masked whatever this says;
    /// false exists to measure masking's cost and is logged as an alert at start.
    #[serde(default = "defaults::mask_results")]
    pub results: bool,
    /// Columns masked whatever their content.
    #[serde(default)]
    pub columns: Vec<crate::masking::rules::ColumnRuleConfig>,
    /// Named regular expressions masked like PANs.
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            style: PanStyle::default(),
            token_key: None,
            results: defaults::mask_results(),
            columns: Vec::new(),
            detectors: Vec::new(),
        }
    }
}

/// `[masking] style`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanStyle {
    /// `411111******1111`
    #[default]
    BinAndLastFour,
    /// `************1111`
    LastFour,
    /// `****************`
    Redact,
    /// `pan_kqbtfmhdsrnplgcj`: a keyed HMAC of the digits (needs `token_key`).
    Token,
}

/// `[[masking.detectors]]`: a named pattern masked wherever PANs are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Named in recordings when it masks something.
    pub name: String,
    /// A regular expression (Rust `regex` syntax, unanchored; must not match the empty text).
    pub pattern: String,
}

mod defaults {
    pub fn mask_results() -> bool {
        true
    }
}
