//! [`MaskedText`]: text that has been through the deployment's [`Masker`].
//!
//! Recordings are storage under PCI DSS 3.5.1, so every text a recording event carries that a
//! client, an upstream, an approver or a CI provider supplied is a `MaskedText`. Its field is
//! private and this module is the only one that fills it: outside the masking module, the
//! only way to get one is to hand the text to a `Masker`. The type has no `From<String>`, no
//! `Default` and no `Deserialize`, so neither a conversion nor a parsed document can make one.

use std::fmt;

use serde::{Serialize, Serializer};

use super::Masker;
use super::value::{self, Format, ValueKind};

/// Marks a recorded bind parameter that was cut to its first bytes.
const TRUNCATED: &str = "…[truncated]";

/// Text masked by the deployment's [`Masker`]: no PAN and nothing a custom detector matches.
///
/// Only a masker makes one. None of these compile, each for the reason its error code names
/// (no conversion, a private field, no deserializer, no default; rustdoc compares the codes
/// on nightly only, or with `RUSTC_BOOTSTRAP=1`):
///
/// ```compile_fail,E0277
/// let text: hoop::masking::MaskedText = String::from("4111111111111111").into();
/// ```
///
/// ```compile_fail,E0423
/// let text = hoop::masking::MaskedText(String::from("4111111111111111"));
/// ```
///
/// ```compile_fail,E0277
/// let text: hoop::masking::MaskedText = serde_json::from_str("\"4111111111111111\"").unwrap();
/// ```
///
/// ```compile_fail,E0599
/// let text = hoop::masking::MaskedText::default();
/// ```
///
/// ```
/// let text = hoop::masking::Masker::pci_default().mask_text("4111111111111111");
/// assert_eq!(text.as_str(), "411111******1111");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskedText(String);

impl MaskedText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for MaskedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MaskedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for MaskedText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl PartialEq<str> for MaskedText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MaskedText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Masker {
    /// `text` masked, for a recording (or anything else stored).
    pub fn mask_text(&self, text: &str) -> MaskedText {
        MaskedText(self.mask_str(text).into_owned())
    }

    /// Bytes that should be text (invalid UTF-8 replaced), masked.
    pub fn mask_text_lossy(&self, bytes: &[u8]) -> MaskedText {
        self.mask_text(&String::from_utf8_lossy(bytes))
    }

    /// A bind parameter as recorded: rendered by its type and format ([`value::recorded_text`])
    /// and masked, at most `max` bytes of it. `None` when its type cannot be read as text (the
    /// caller records its size).
    pub fn mask_param(
        &self,
        kind: &ValueKind,
        format: Format,
        bytes: &[u8],
        max: usize,
    ) -> Option<MaskedText> {
        let text = value::recorded_text(self, kind, format, bytes)?;
        if text.len() <= max {
            return Some(MaskedText(text));
        }
        let cut = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        // Masked again after the cut: the head of a digit run too long to be a card number
        // (which masking leaves alone) can itself be one.
        let mut head = self.mask_str(&text[..cut]).into_owned();
        head.push_str(TRUNCATED);
        Some(MaskedText(head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::Detector;
    use crate::masking::pan::{self, MaskStyle};

    #[test]
    fn text_is_masked_by_the_pan_detector_and_custom_detectors() {
        let ssn = Detector::new("ssn", r"\b\d{3}-\d{2}-\d{4}\b").unwrap();
        let masker = Masker::new(MaskStyle::BinAndLastFour, vec![ssn]).unwrap();
        let masked = masker.mask_text("card 4111-1111-1111-1111, ssn 078-05-1120");
        assert_eq!(masked, "card 4111-11**-****-1111, ssn ***********");
        assert_eq!(
            masker.mask_text_lossy(b"5555 5555 5555 4444\xff"),
            "5555 55** **** 4444\u{fffd}"
        );
    }

    #[test]
    fn a_cut_parameter_is_masked_after_the_cut() {
        let masker = Masker::pci_default();
        // 24 digits with no padding zeros: not a card number as a whole, but its first 16
        // digits are one.
        let long = "411111111111111199999999";
        assert!(!pan::contains_pan(masker.mask_str(long).as_bytes()));
        let recorded = masker
            .mask_param(&ValueKind::Text, Format::Text, long.as_bytes(), 16)
            .unwrap();
        assert_eq!(recorded, "411111******1111…[truncated]");
        let short = masker
            .mask_param(&ValueKind::Text, Format::Text, b"42", 16)
            .unwrap();
        assert_eq!(short, "42");
    }
}
