//! One result value, masked according to its type and wire format.
//!
//! (Skeleton: the binary decoders are being written; until then every value is scanned as
//! bytes, which masks text PANs but not numbers held in binary.)

use super::{Hits, Masker};

/// The wire format of a value: the format code of RowDescription, Bind or CopyOutResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    /// 0 is text; any other code is binary (1 is the only other one Postgres defines).
    pub fn from_code(code: i16) -> Format {
        if code == 0 { Format::Text } else { Format::Binary }
    }
}

/// How a type's values are masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Cannot hold a PAN in either format (bool, int2, int4, oid, float4, date, ...): skipped.
    Inert,
    /// Text in both formats: text, varchar, bpchar, name, "char", unknown, xml, enum labels.
    Text,
    Json,
    /// Binary jsonb is a version byte (1) and the JSON text.
    Jsonb,
    Bytea,
    Int8,
    Numeric,
    Float8,
    /// An array; binary arrays name their element type, so the element kind is known there.
    Array,
    /// A composite or `record` value: text in text format, self-describing fields in binary.
    Record,
    /// Any other type: text format scanned as text, binary scanned as raw bytes.
    Other,
}

/// The kind of a built-in type by its OID; unknown OIDs are [`ValueKind::Other`].
pub fn kind_of(_type_oid: u32) -> ValueKind {
    ValueKind::Other
}

/// What became of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the value as it is.
    Unchanged,
    /// Send the bytes in `scratch` instead.
    Replaced,
    /// Send SQL NULL instead: the type cannot show a masked value (a PAN held in a binary
    /// `int8`, say).
    Null,
}

/// Masks one value; `scratch` (cleared first) receives the replacement when the verdict is
/// [`Verdict::Replaced`].
pub fn mask_value(
    masker: &Masker,
    _kind: &ValueKind,
    _format: Format,
    value: &[u8],
    scratch: &mut Vec<u8>,
) -> (Verdict, Hits) {
    let hits = masker.mask_into(value, scratch);
    let verdict = if hits.any() {
        Verdict::Replaced
    } else {
        Verdict::Unchanged
    };
    (verdict, hits)
}

/// The replacement of a value a column rule masks whatever its content.
pub fn redact_value(kind: &ValueKind, format: Format, scratch: &mut Vec<u8>) -> Verdict {
    scratch.clear();
    match (kind, format) {
        (ValueKind::Text, _) | (ValueKind::Other, Format::Text) => {
            scratch.extend_from_slice(b"****");
            Verdict::Replaced
        }
        _ => Verdict::Null,
    }
}

/// A value as a recording shows it (bind parameters): its text, masked, when its type and
/// format let it be read as text; `None` when only its size should be recorded.
pub fn recorded_text(
    masker: &Masker,
    kind: &ValueKind,
    format: Format,
    value: &[u8],
) -> Option<String> {
    match (kind, format) {
        (_, Format::Text) | (ValueKind::Text | ValueKind::Json, Format::Binary) => {
            let text = String::from_utf8_lossy(value);
            Some(masker.mask_str(&text).into_owned())
        }
        _ => None,
    }
}
