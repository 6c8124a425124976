//! One result value, masked according to its type and wire format.
//!
//! Scanning a value's bytes as text ([`Masker::mask_into`]) finds PANs written as digits, which
//! is every text-format value and every binary value that is text on the wire. It misses a PAN
//! held as a number in binary (`int8`, `numeric`, `float8`, as elements of arrays or fields of
//! records), as hex (`bytea` in text format), in exponent form (`float8` text, JSON numbers
//! like `4.111111111111111e15`) or as a bare JSON number whose masked form would no longer be
//! JSON. This module decodes those forms, renders the numbers as decimal digits, and scans
//! those.
//!
//! Binary values are closed by construction: every binary value is decoded by a decoder that
//! knows its type (text scanned, numbers rendered and scanned, ranges, arrays and records
//! walked), or belongs to the allow-list of types that cannot hold a PAN ([`ValueKind::Inert`],
//! [`ValueKind::Reg`]), or is **withheld** (SQL NULL, counted in [`Hits::withheld`]). Raw
//! bytes of a type hoop does not know are never relayed: a PAN held as an 8-byte integer
//! (`xid8`, `money`, a domain over either, an extension's type) has no digits to scan.
//!
//! Decisions, each one erring on the side of masking:
//! - A binary number that holds a PAN becomes SQL NULL ([`Verdict::Null`]): its type cannot
//!   show `*`. A range or multirange with such a bound becomes NULL whole.
//! - Malformed binary (a length that does not add up, an unknown version byte) is withheld.
//! - Arrays and records nested deeper than [`MAX_DEPTH`] become NULL without being looked at.
//! - A binary value of an inert type longer than any inert type's binary form (20 bytes) is
//!   not what its type says, and is withheld.
//! - A nested value of a user type (OID 16384 and up: the catalog only maps the top-level
//!   column) that parses as a binary record is masked as one, and scanned as raw bytes as
//!   well (a user composite inside an array or record); any other one is withheld (an enum
//!   or a domain inside an array or record).
//!
//! Known limits, documented rather than handled:
//! - Text inside JSON strings is scanned as written: a PAN spelled with `\u` escapes
//!   (`"\u0034111…"`) is not decoded, and so not found.
//! - In text format, arrays and records are scanned as text (with exponent forms written out,
//!   see `mask_exponents_text`): a `bytea` element in hex inside them is not decoded, and a
//!   `text` value that reads `4.111111111111111e+15` (`pan::float8::text`) is not either.
//! - Custom detectors see the rendering of binary numbers (so a binary number they match becomes
//!   NULL), but the plain form of a JSON number in exponent notation only when it has 13 to 19
//!   digits on one side of its point (the only such numbers that are rewritten).
//!
//! Allocation: none on the path where nothing is masked, beyond `scratch`'s growth (measured
//! with a counting allocator for every kind), except under a policy with custom detectors for
//! two rare shapes, which cost one buffer each: a hex `bytea` text value, and a binary
//! `numeric` whose text is longer than 160 bytes (the detectors need the decoded or rendered
//! bytes and an output of their own).

mod binary;
mod json;
#[cfg(test)]
mod tests;

use super::{Hits, Masker};

/// OIDs below this are built-in (FirstNormalObjectId): above it, a type is the database's own.
pub const FIRST_USER_OID: u32 = 16384;

/// How deeply binary arrays and records may nest before a value is nulled unread. Postgres
/// allows deeper nesting than anyone uses; recursion must stay bounded whatever the input.
pub const MAX_DEPTH: u32 = 8;

/// The wire format of a value: the format code of RowDescription, Bind or CopyOutResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    /// 0 is text; any other code is binary (1 is the only other one Postgres defines).
    pub fn from_code(code: i16) -> Format {
        if code == 0 {
            Format::Text
        } else {
            Format::Binary
        }
    }
}

/// How a type's values are masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Cannot hold a PAN in either format (bool, int2, int4, oid, float4, date, ...): skipped.
    /// The allow-list of binary types relayed unread, each a fixed size of at most 20 bytes.
    Inert,
    /// An OID that prints as a name (`regclass`, `regtype`, ...): text scanned (a name can be
    /// digits), binary is the 4-byte OID and relayed.
    Reg,
    /// Text in both formats: text, varchar, bpchar, name, "char", unknown, xml, enum labels.
    Text,
    Json,
    /// Binary jsonb is a version byte (1) and the JSON text.
    Jsonb,
    Bytea,
    /// Text inside a binary framing of counts, lengths and terminators (`tsvector`,
    /// `tsquery`, `jsonpath`): binary scanned as bytes, where the text is contiguous.
    FramedText,
    Int8,
    Numeric,
    Float8,
    /// A 64-bit unsigned number: `xid8` (printed in decimal) and `pg_lsn` (printed in hex, but
    /// its binary form is the 64-bit position clients read as an integer).
    Uint64,
    /// `money`: binary is an `int8` of the currency's smallest unit; text is formatted by
    /// `lc_monetary` (`$4,111,111,111,111,111.00`), which the scanner reads.
    Money,
    /// A geometric type (the OID says which): binary is `float8` coordinates.
    Geometric(u32),
    /// A built-in range of the subtype with this OID: binary bounds decoded by that type.
    Range(u32),
    /// A built-in multirange of the subtype with this OID.
    Multirange(u32),
    /// An array; binary arrays name their element type, so the element kind is known there.
    Array,
    /// A composite or `record` value: text in text format, self-describing fields in binary.
    Record,
    /// Any other type: text format scanned as text, binary **withheld** (NULL).
    Other,
}

/// OIDs of the built-in array types (pg_type.dat, `typcategory => 'A'`, plus `int2vector`
/// and `oidvector`, whose binary form is an array's, and the `anyarray` pseudo-types), sorted.
const ARRAY_OIDS: &[u32] = &[
    22, 30, 143, 199, 271, 629, 651, 719, 775, 791, 1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008,
    1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016, 1017, 1018, 1019, 1020, 1021, 1022, 1027, 1028,
    1034, 1040, 1041, 1115, 1182, 1183, 1185, 1187, 1231, 1263, 1270, 1561, 1563, 2201, 2207, 2208,
    2209, 2210, 2211, 2277, 2287, 2949, 2951, 3221, 3643, 3644, 3645, 3735, 3770, 3807, 3905, 3907,
    3909, 3911, 3913, 3927, 4073, 4090, 4097, 4192, 5039, 5078, 6150, 6151, 6152, 6153, 6155, 6157,
];

/// The kind of a built-in type by its OID; unknown OIDs are [`ValueKind::Other`].
///
/// Inert types are those whose text form cannot hold a 13-digit group and whose binary form
/// is a fixed-size number or address of at most 20 bytes (a timestamp is 8 bytes of
/// microseconds; `int4` prints at most 10 digits; a `uuid`'s text would even look like joined
/// digit groups). Date and time types count time, and print it as a calendar: a PAN turned
/// into one (`to_timestamp(pan / 1e6)`) is a transformed number, which the text form does not
/// show either. When in doubt a type is not inert: `money` (an `int8` of cents), `xid8` and
/// `pg_lsn` are decoded, and every type not named here is withheld in binary.
pub fn kind_of(type_oid: u32) -> ValueKind {
    match type_oid {
        // bool, int2, int4, oid, xid, cid, tid, float4, date, time, timestamp, timestamptz,
        // timetz, interval, uuid, inet, cidr, macaddr, macaddr8, void.
        16 | 21 | 23 | 26 | 28 | 29 | 27 | 700 | 1082 | 1083 | 1114 | 1184 | 1266 | 1186 | 2950
        | 869 | 650 | 829 | 774 | 2278 => ValueKind::Inert,
        // regproc, regprocedure, regoper, regoperator, regclass, regtype, regconfig,
        // regdictionary, regnamespace, regrole, regcollation.
        24 | 2202 | 2203 | 2204 | 2205 | 2206 | 3734 | 3769 | 4089 | 4096 | 4191 => ValueKind::Reg,
        // text, varchar, bpchar, name, "char", unknown, xml, refcursor.
        25 | 1043 | 1042 | 19 | 18 | 705 | 142 | 1790 => ValueKind::Text,
        114 => ValueKind::Json,
        3802 => ValueKind::Jsonb,
        17 => ValueKind::Bytea,
        // tsvector, tsquery, jsonpath.
        3614 | 3615 | 4072 => ValueKind::FramedText,
        20 => ValueKind::Int8,
        1700 => ValueKind::Numeric,
        701 => ValueKind::Float8,
        // xid8, pg_lsn.
        5069 | 3220 => ValueKind::Uint64,
        790 => ValueKind::Money,
        // point, lseg, path, box, polygon, line, circle.
        600 | 601 | 602 | 603 | 604 | 628 | 718 => ValueKind::Geometric(type_oid),
        3904 => ValueKind::Range(23),
        3906 => ValueKind::Range(1700),
        3908 => ValueKind::Range(1114),
        3910 => ValueKind::Range(1184),
        3912 => ValueKind::Range(1082),
        3926 => ValueKind::Range(20),
        4451 => ValueKind::Multirange(23),
        4532 => ValueKind::Multirange(1700),
        4533 => ValueKind::Multirange(1114),
        4534 => ValueKind::Multirange(1184),
        4535 => ValueKind::Multirange(1082),
        4536 => ValueKind::Multirange(20),
        2249 => ValueKind::Record,
        oid if ARRAY_OIDS.binary_search(&oid).is_ok() => ValueKind::Array,
        _ => ValueKind::Other,
    }
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
///
/// Every value of a result passes here: when nothing is masked, nothing is allocated beyond
/// `scratch`'s growth (see the module documentation for the one exception).
pub fn mask_value(
    masker: &Masker,
    kind: &ValueKind,
    format: Format,
    value: &[u8],
    scratch: &mut Vec<u8>,
) -> (Verdict, Hits) {
    mask_at(masker, kind, format, value, scratch, 0)
}

/// [`mask_value`] for a value nested `depth` arrays or records deep.
fn mask_at(
    masker: &Masker,
    kind: &ValueKind,
    format: Format,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
) -> (Verdict, Hits) {
    scratch.clear();
    match format {
        Format::Text => mask_text(masker, kind, value, scratch),
        Format::Binary => binary::mask(masker, kind, value, scratch, depth),
    }
}

fn mask_text(
    masker: &Masker,
    kind: &ValueKind,
    value: &[u8],
    scratch: &mut Vec<u8>,
) -> (Verdict, Hits) {
    match kind {
        ValueKind::Inert => (Verdict::Unchanged, Hits::default()),
        // Text-format jsonb is plain JSON text, like json.
        ValueKind::Json | ValueKind::Jsonb => json::mask(masker, value, scratch),
        ValueKind::Bytea => mask_bytea_text(masker, value, scratch),
        ValueKind::Float8 => mask_float8_text(masker, value, scratch),
        // Printed by Postgres from values that may be `float8` (coordinates, array elements,
        // record fields): exponent forms are written out first.
        ValueKind::Geometric(_)
        | ValueKind::Range(_)
        | ValueKind::Multirange(_)
        | ValueKind::Array
        | ValueKind::Record
        | ValueKind::Other => mask_exponents_text(masker, value, scratch),
        // Everything else prints digits as digits (money grouped by thousands), which the
        // scanner reads as they are.
        ValueKind::Text
        | ValueKind::Reg
        | ValueKind::FramedText
        | ValueKind::Int8
        | ValueKind::Numeric
        | ValueKind::Uint64
        | ValueKind::Money => scan(masker, value, scratch),
    }
}

/// The value's bytes scanned as text: [`Masker::mask_into`] with its verdict.
fn scan(masker: &Masker, value: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let hits = masker.mask_into(value, scratch);
    if hits.any() {
        (Verdict::Replaced, hits)
    } else {
        (Verdict::Unchanged, hits)
    }
}

/// Hex-format `bytea` (`\x4111…`, what Postgres prints by default) is decoded and the bytes
/// scanned: a PAN stored as bytes would otherwise reach the client as hex digits no scanner
/// sees. The replacement is re-encoded as lowercase hex. Escape format, or hex that does not
/// decode, is scanned as text.
fn mask_bytea_text(masker: &Masker, value: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let Some(hex) = value.strip_prefix(b"\\x") else {
        return scan(masker, value, scratch);
    };
    if !decode_hex(hex, scratch) {
        return scan(masker, value, scratch);
    }
    let mut decoded = std::mem::take(scratch);
    // Into the empty buffer: it only allocates when there is something to write (a PAN, or
    // any value under custom detectors).
    let hits = masker.mask_into(&decoded, scratch);
    if !hits.any() {
        decoded.clear();
        *scratch = decoded;
        return (Verdict::Unchanged, hits);
    }
    // `decoded` is spare now: the re-encoding goes there, then swaps in.
    decoded.clear();
    decoded.reserve(2 + 2 * scratch.len());
    decoded.extend_from_slice(b"\\x");
    for &b in scratch.iter() {
        decoded.push(HEX[usize::from(b >> 4)]);
        decoded.push(HEX[usize::from(b & 0x0f)]);
    }
    std::mem::swap(scratch, &mut decoded);
    (Verdict::Replaced, hits)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decodes `bytea` hex digits (after `\x`) into `out`, as Postgres reads them: pairs of hex
/// digits, whitespace allowed between pairs. `false` when `hex` is not that.
fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    out.reserve(hex.len() / 2);
    let mut bytes = hex.iter().copied();
    while let Some(high) = bytes.next() {
        if matches!(high, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        let (Some(high), Some(low)) = (hex_value(high), bytes.next().and_then(hex_value)) else {
            out.clear();
            return false;
        };
        out.push((high << 4) | low);
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `float8` text holding a PAN prints in exponent form (`4.111111111111111e+15`), which no
/// digit scanner recognises: an integral value of 13 to 19 digits is rendered as an integer
/// and scanned; if that finds anything, the masked integer replaces the value. Otherwise the
/// text is scanned as written (Postgres prints smaller values with all their digits).
fn mask_float8_text(masker: &Masker, value: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let parsed = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<f64>().ok());
    let mut digits = IntegerDigits::new();
    if let Some(integer) = parsed.and_then(|v| digits.of_f64(v)) {
        let hits = masker.mask_into(integer, scratch);
        if hits.any() {
            return (Verdict::Replaced, hits);
        }
    }
    scan(masker, value, scratch)
}

/// Text printed from values that may hold `float8`s (`point(4111111111111111, 0)` prints
/// `(4.111111111111111e+15,0)`, an array `{4.111111111111111e+15}`): every token made of
/// number characters that parses as an integral float of 13 to 19 digits is written out as
/// an integer and scanned; when that finds something, the masked integer replaces the token.
/// Then the whole text is scanned as usual. Text with no `e` costs one search for it.
fn mask_exponents_text(masker: &Masker, value: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    if !value.iter().any(|&b| b == b'e' || b == b'E') {
        return scan(masker, value, scratch);
    }
    let number_byte = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    let mut rewritten: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut hits = Hits::default();
    let mut i = 0;
    while i < value.len() {
        if !number_byte(value[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < value.len() && number_byte(value[i]) {
            i += 1;
        }
        let token = &value[start..i];
        if !token.iter().any(|&b| b == b'e' || b == b'E') {
            continue;
        }
        let parsed = std::str::from_utf8(token)
            .ok()
            .and_then(|t| t.parse::<f64>().ok());
        let mut digits = IntegerDigits::new();
        let Some(integer) = parsed.and_then(|v| digits.of_f64(v)) else {
            continue;
        };
        let found = masker.mask_into(integer, scratch);
        if found.any() {
            let out = rewritten.get_or_insert_with(|| Vec::with_capacity(value.len()));
            out.extend_from_slice(&value[copied..start]);
            out.extend_from_slice(scratch);
            copied = i;
            hits.add(found);
        }
    }
    let Some(mut out) = rewritten else {
        return scan(masker, value, scratch);
    };
    out.extend_from_slice(&value[copied..]);
    let rest = masker.mask_into(&out, scratch);
    hits.add(rest);
    if !rest.any() {
        *scratch = out;
    }
    (Verdict::Replaced, hits)
}

/// A stack buffer for the decimal digits of a 64-bit integer, sign included.
struct IntegerDigits {
    buf: [u8; 24],
}

impl IntegerDigits {
    fn new() -> IntegerDigits {
        IntegerDigits { buf: [0; 24] }
    }

    /// The decimal digits of `sign * magnitude`.
    fn of(&mut self, negative: bool, mut magnitude: u64) -> &[u8] {
        // Written right to left; 20 digits and a sign fit.
        let mut at = self.buf.len();
        loop {
            at -= 1;
            self.buf[at] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            self.buf[at] = b'-';
        }
        &self.buf[at..]
    }

    fn of_i64(&mut self, v: i64) -> &[u8] {
        self.of(v < 0, v.unsigned_abs())
    }

    /// The digits of an integral `v` with 13 to 19 digits (the only floats that can be a
    /// PAN), `None` for any other value.
    fn of_f64(&mut self, v: f64) -> Option<&[u8]> {
        let magnitude = v.abs();
        let integral = v.is_finite() && v.fract() == 0.0;
        // 1e19 < u64::MAX, so the conversion below is exact for every integral value here.
        if !integral || !(1e12..1e19).contains(&magnitude) {
            return None;
        }
        Some(self.of(v.is_sign_negative(), magnitude as u64))
    }
}

/// The replacement of a value a column rule masks whatever its content: `****` where the
/// type is text, a JSON string where it is JSON, NULL where no replacement would parse.
pub fn redact_value(kind: &ValueKind, format: Format, scratch: &mut Vec<u8>) -> Verdict {
    scratch.clear();
    let replacement: &[u8] = match (kind, format) {
        (ValueKind::Text, _) => b"****",
        // The text of any other type that is not a plain number (which could not parse `****`
        // and becomes NULL below).
        (
            ValueKind::Other
            | ValueKind::Reg
            | ValueKind::FramedText
            | ValueKind::Uint64
            | ValueKind::Money
            | ValueKind::Geometric(_)
            | ValueKind::Range(_)
            | ValueKind::Multirange(_),
            Format::Text,
        ) => b"****",
        (ValueKind::Json, _) | (ValueKind::Jsonb, Format::Text) => b"\"****\"",
        (ValueKind::Jsonb, Format::Binary) => b"\x01\"****\"",
        _ => return Verdict::Null,
    };
    scratch.extend_from_slice(replacement);
    Verdict::Replaced
}

/// A value as a recording shows it (bind parameters): its text, masked, when its type and
/// format let it be read as text; `None` when only its size should be recorded.
///
/// Whatever the kind says, the text is scanned once more as it is recorded: a parameter
/// declared `int4` but sent as `4111111111111111` is an error for Postgres, and still must
/// not reach a recording.
pub fn recorded_text(
    masker: &Masker,
    kind: &ValueKind,
    format: Format,
    value: &[u8],
) -> Option<String> {
    let masked = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        masker.mask_str(&text).into_owned()
    };
    match (kind, format) {
        (_, Format::Text) => {
            // Kind-aware first (hex bytea, float exponents, JSON numbers), then as text.
            let mut scratch = Vec::new();
            match mask_value(masker, kind, format, value, &mut scratch).0 {
                Verdict::Unchanged => Some(masked(value)),
                Verdict::Replaced => Some(masked(&scratch)),
                Verdict::Null => None,
            }
        }
        (ValueKind::Text | ValueKind::Json, Format::Binary) => Some(masked(value)),
        (ValueKind::Jsonb, Format::Binary) => match value.split_first() {
            Some((1, json)) => Some(masked(json)),
            _ => None,
        },
        (ValueKind::Int8 | ValueKind::Numeric | ValueKind::Float8, Format::Binary) => {
            binary::decimal_text(kind, value).map(|text| masked(text.as_bytes()))
        }
        (_, Format::Binary) => None,
    }
}
