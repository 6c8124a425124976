//! Masking of cardholder data before it reaches a client or a recording.
//!
//! - [`pan`]: finds primary account numbers (card numbers) in text and masks them; pure, no
//!   allocation unless a copy is asked for.
//! - [`Masker`]: the deployment's masking policy for text: the PAN display style plus named
//!   custom detectors (regular expressions). The gateway runs it over result values, errors,
//!   notices, notifications and COPY data; the recorder over statement text and parameters.
//! - [`rules`]: column rules (`table.column` globs → mask always), compiled from `[masking]`.
//! - [`value`]: one result value of a given type and wire format (text or binary), masked.
//! - [`MaskedText`]: masked text, which only a [`Masker`] makes; recording events take their
//!   text as `MaskedText` only, so what is recorded has been masked by construction.
//!
//! Architecture Invariant: no function in this module widens what is shown of a PAN beyond
//! PCI DSS 3.4.1 (the BIN and the last four digits), whatever the input.

mod bytea;
mod config;
mod masked;
pub mod pan;
pub mod row;
pub mod rules;
pub mod value;

use std::borrow::Cow;

use regex::bytes::Regex;

pub use config::{DetectorConfig, MaskingConfig, PanStyle};
pub use masked::MaskedText;
pub use pan::MaskStyle;
pub use rules::{ColumnRuleId, ColumnRules};

/// Errors of the masking layer. Scanning and masking cannot fail; only building the policy
/// (a tokenization key, a detector's pattern, a column glob) can.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaskingError {
    #[error(
        "the PAN token key is {len} bytes; HMAC-SHA-256 tokens need at least {min} random bytes \
         (generate one with `openssl rand -hex 32`)"
    )]
    TokenKeyTooShort { len: usize, min: usize },
    #[error("detector {name:?}: invalid pattern: {reason}")]
    InvalidDetector { name: String, reason: String },
    #[error("at most {max} custom detectors are supported")]
    TooManyDetectors { max: usize },
    #[error("column rule {index}: invalid glob {glob:?}: {reason}")]
    InvalidGlob {
        index: usize,
        glob: String,
        reason: String,
    },
}

/// Everything the gateway masks with: the text masker, the column rules, and whether results
/// are masked at all (recordings always are).
#[derive(Debug)]
pub struct MaskingPolicy {
    pub masker: Masker,
    pub columns: std::sync::Arc<ColumnRules>,
    pub results: bool,
}

impl Default for MaskingPolicy {
    fn default() -> Self {
        MaskingPolicy {
            masker: Masker::pci_default(),
            columns: Default::default(),
            results: true,
        }
    }
}

/// A custom detector: a named regular expression whose matches are masked like PANs, byte for
/// byte with `*` (CVV in free text, national ids, IBANs...).
#[derive(Clone, Debug)]
pub struct Detector {
    pub name: String,
    regex: Regex,
}

impl Detector {
    /// Longest pattern accepted; keeps compilation and matching bounded.
    pub const MAX_PATTERN_LEN: usize = 512;

    pub fn new(name: &str, pattern: &str) -> Result<Detector, MaskingError> {
        let invalid = |reason: String| MaskingError::InvalidDetector {
            name: name.to_owned(),
            reason,
        };
        if pattern.len() > Self::MAX_PATTERN_LEN {
            return Err(invalid(format!(
                "longer than {} bytes",
                Self::MAX_PATTERN_LEN
            )));
        }
        let regex = regex::bytes::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        if regex.is_match(b"") {
            return Err(invalid("it matches the empty string".into()));
        }
        Ok(Detector {
            name: name.to_owned(),
            regex,
        })
    }
}

/// What masking one text found: how many PANs, and which custom detectors matched (bit `i` is
/// detector `i` of the [`Masker`]); for result values also how many binary values were
/// withheld unread (a type hoop cannot decode, malformed, or nested too deep).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    pub pans: u32,
    pub detectors: u64,
    pub withheld: u32,
}

impl Hits {
    /// One value withheld unread.
    pub const WITHHELD: Hits = Hits {
        pans: 0,
        detectors: 0,
        withheld: 1,
    };

    pub fn any(self) -> bool {
        self.pans > 0 || self.detectors != 0 || self.withheld > 0
    }

    pub fn add(&mut self, other: Hits) {
        self.pans += other.pans;
        self.detectors |= other.detectors;
        self.withheld += other.withheld;
    }
}

/// The masking policy for text: how PANs are shown, and the custom detectors. Cheap to share
/// (`Arc` it); immutable once built.
#[derive(Clone, Debug)]
pub struct Masker {
    style: MaskStyle,
    detectors: Vec<Detector>,
}

impl Masker {
    /// The most detectors one masker holds ([`Hits::detectors`] is a 64-bit set).
    pub const MAX_DETECTORS: usize = 64;

    pub fn new(style: MaskStyle, detectors: Vec<Detector>) -> Result<Masker, MaskingError> {
        if detectors.len() > Self::MAX_DETECTORS {
            return Err(MaskingError::TooManyDetectors {
                max: Self::MAX_DETECTORS,
            });
        }
        Ok(Masker { style, detectors })
    }

    /// PANs shown as BIN and last four, no custom detector: the default policy.
    pub fn pci_default() -> Masker {
        Masker {
            style: MaskStyle::BinAndLastFour,
            detectors: Vec::new(),
        }
    }

    pub fn style(&self) -> &MaskStyle {
        &self.style
    }

    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Whether masking may change the length of a text (tokens do; `*` for digits does not).
    pub fn keeps_length(&self) -> bool {
        !matches!(self.style, MaskStyle::Token { .. })
    }

    /// Masks `text` into `scratch` (cleared first) when it holds anything to mask; otherwise
    /// leaves `scratch` empty and returns no hits, and `text` may be used as it is. No
    /// allocation beyond `scratch`'s growth.
    pub fn mask_into(&self, text: &[u8], scratch: &mut Vec<u8>) -> Hits {
        match self.mask_bytea_text(text) {
            Some((unhidden, pans)) => {
                let mut hits = self.mask_plain_into(&unhidden, scratch);
                hits.pans += pans;
                if scratch.is_empty() {
                    scratch.extend_from_slice(&unhidden);
                }
                hits
            }
            None => self.mask_plain_into(text, scratch),
        }
    }

    /// Card numbers spelled in `bytea` text inside `text` (hex, or hidden by escape format's
    /// octal escapes), masked; `None` when there is none.
    fn mask_bytea_text(&self, text: &[u8]) -> Option<(Vec<u8>, u32)> {
        let hex = bytea::mask_hex_pans(text, &self.style);
        let current = hex.as_ref().map_or(text, |(t, _)| t.as_slice());
        match (bytea::mask_beside_escapes(current, &self.style), hex) {
            (Some((t, escaped)), hex) => Some((t, escaped + hex.map_or(0, |(_, n)| n))),
            (None, hex) => hex,
        }
    }

    /// [`Masker::mask_into`] without the pass over hex-spelled card numbers.
    fn mask_plain_into(&self, text: &[u8], scratch: &mut Vec<u8>) -> Hits {
        scratch.clear();
        let mut hits = Hits::default();
        let first = pan::find(text).next();
        if first.is_none() && self.detectors.is_empty() {
            return hits;
        }
        match (&self.style, first) {
            (_, None) => scratch.extend_from_slice(text),
            (MaskStyle::Token { .. }, Some(_)) => {
                // Tokens are ASCII; a lossy view is only taken of text that is not UTF-8, and
                // every PAN byte is ASCII, so no digit survives either way.
                let as_text = String::from_utf8_lossy(text);
                let masked = pan::mask(&as_text, &self.style);
                hits.pans = pan::find(text).count() as u32;
                scratch.extend_from_slice(masked.as_bytes());
            }
            (style, Some(first)) => {
                scratch.extend_from_slice(text);
                hits.pans = pan::mask_in_place_from(scratch, style, first) as u32;
            }
        }
        for (i, detector) in self.detectors.iter().enumerate() {
            let mut matched = false;
            // Matches are found on the bytes as they stand; masking them with `*` keeps every
            // other byte (and UTF-8 validity: a multi-byte char becomes several `*`).
            let spans: Vec<(usize, usize)> = detector
                .regex
                .find_iter(scratch)
                .map(|m| (m.start(), m.end()))
                .collect();
            for (start, end) in spans {
                scratch[start..end].fill(b'*');
                matched = true;
            }
            if matched {
                hits.detectors |= 1 << i;
            }
        }
        if !hits.any() {
            scratch.clear();
        }
        hits
    }

    /// Masks a text for display or recording; borrows it when nothing needed masking.
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if let Some((unhidden, _)) = self.mask_bytea_text(text.as_bytes()) {
            // Hex digits and `*` replace ASCII digits: still UTF-8.
            let unhidden = String::from_utf8_lossy(&unhidden).into_owned();
            return Cow::Owned(self.mask_str(&unhidden).into_owned());
        }
        if self.detectors.is_empty() {
            return pan::mask(text, &self.style);
        }
        let mut scratch = Vec::new();
        if !self.mask_into(text.as_bytes(), &mut scratch).any() {
            return Cow::Borrowed(text);
        }
        // Masking replaces ASCII digits and whole matches with ASCII, so UTF-8 text stays
        // UTF-8; the lossy conversion is a guard, never taken.
        Cow::Owned(String::from_utf8_lossy(&scratch).into_owned())
    }

    /// The names of the detectors in a [`Hits::detectors`] set, and `pan` when PANs were found.
    pub fn hit_names(&self, hits: Hits) -> Vec<&str> {
        let mut names = Vec::new();
        if hits.pans > 0 {
            names.push("pan");
        }
        if hits.withheld > 0 {
            names.push("withheld");
        }
        for (i, d) in self.detectors.iter().enumerate() {
            if hits.detectors & (1 << i) != 0 {
                names.push(d.name.as_str());
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker_with(detectors: &[(&str, &str)]) -> Masker {
        let detectors = detectors
            .iter()
            .map(|(n, p)| Detector::new(n, p).unwrap())
            .collect();
        Masker::new(MaskStyle::BinAndLastFour, detectors).unwrap()
    }

    #[test]
    fn text_without_anything_to_mask_is_left_alone() {
        let masker = masker_with(&[("ssn", r"\b\d{3}-\d{2}-\d{4}\b")]);
        let mut scratch = vec![1, 2, 3];
        assert_eq!(
            masker.mask_into(b"order 12345", &mut scratch),
            Hits::default()
        );
        assert!(scratch.is_empty());
        assert!(matches!(masker.mask_str("order 12345"), Cow::Borrowed(_)));
    }

    #[test]
    fn pans_and_detectors_are_masked_together() {
        let masker = masker_with(&[("ssn", r"\b\d{3}-\d{2}-\d{4}\b"), ("never", "zzz")]);
        let mut scratch = Vec::new();
        let hits = masker.mask_into(b"4111111111111111 and 078-05-1120", &mut scratch);
        assert_eq!(scratch, b"411111******1111 and ***********");
        assert_eq!(
            hits,
            Hits {
                pans: 1,
                detectors: 0b01,
                withheld: 0
            }
        );
        assert_eq!(masker.hit_names(hits), ["pan", "ssn"]);
        assert_eq!(
            masker.mask_str("ssn 078-05-1120 ünïcode"),
            "ssn *********** ünïcode"
        );
    }

    #[test]
    fn tokens_change_the_length() {
        let key = pan::TokenKey::new(&[7; 32]).unwrap();
        let masker = Masker::new(MaskStyle::Token { key }, vec![]).unwrap();
        assert!(!masker.keeps_length());
        let mut scratch = Vec::new();
        let hits = masker.mask_into(b"card 4111111111111111.", &mut scratch);
        assert_eq!(hits.pans, 1);
        let text = String::from_utf8(scratch).unwrap();
        assert!(
            text.starts_with("card pan_") && text.ends_with('.'),
            "{text}"
        );
        assert!(!pan::contains_pan(text.as_bytes()));
    }

    #[test]
    fn detectors_that_match_nothing_or_everything_are_refused() {
        assert!(matches!(
            Detector::new("empty", "x*"),
            Err(MaskingError::InvalidDetector { .. })
        ));
        assert!(matches!(
            Detector::new("bad", "("),
            Err(MaskingError::InvalidDetector { .. })
        ));
        let many = (0..65)
            .map(|i| Detector::new(&format!("d{i}"), "q").unwrap())
            .collect();
        assert!(Masker::new(MaskStyle::Redact, many).is_err());
    }
}
