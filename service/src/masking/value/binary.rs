//! Binary-format values: numbers rendered as decimal text and scanned, arrays and records
//! walked element by element.
//!
//! Every length is read with bounds checks and a structure is validated whole before anything
//! is masked, so a malformed value falls back to a raw scan instead of half a rebuild.

use super::{Format, IntegerDigits, MAX_DEPTH, ValueKind, Verdict, json, kind_of, mask_at, scan};
use crate::masking::{Hits, Masker};

/// The longest binary form of an inert type: an IPv6 `inet` (4 header bytes and 16 address
/// bytes). `uuid` is 16, `timetz` 12, the others 8 or less.
const MAX_INERT_LEN: usize = 20;

pub(super) fn mask(
    masker: &Masker,
    kind: &ValueKind,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
) -> (Verdict, Hits) {
    match kind {
        ValueKind::Inert if value.len() <= MAX_INERT_LEN => (Verdict::Unchanged, Hits::default()),
        // Longer than any inert type's binary form: not what its type says, so scanned.
        ValueKind::Inert => scan(masker, value, scratch),
        ValueKind::Text | ValueKind::Bytea => scan(masker, value, scratch),
        ValueKind::Json => json::mask(masker, value, scratch),
        ValueKind::Jsonb => match value.split_first() {
            Some((1, text)) => {
                let (verdict, hits) = json::mask(masker, text, scratch);
                if verdict == Verdict::Replaced {
                    scratch.insert(0, 1);
                }
                (verdict, hits)
            }
            // A version this code does not know: its bytes are all there is to scan.
            _ => scan(masker, value, scratch),
        },
        ValueKind::Int8 => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => {
                let mut digits = IntegerDigits::new();
                number(masker, digits.of_i64(i64::from_be_bytes(bytes)), scratch)
            }
            Err(_) => scan(masker, value, scratch),
        },
        ValueKind::Float8 => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => {
                let mut digits = IntegerDigits::new();
                match digits.of_f64(f64::from_be_bytes(bytes)) {
                    Some(integer) => number(masker, integer, scratch),
                    // Not integral, or too small or too large to be a PAN.
                    None => (Verdict::Unchanged, Hits::default()),
                }
            }
            Err(_) => scan(masker, value, scratch),
        },
        ValueKind::Numeric => match Numeric::parse(value) {
            Some(numeric) => mask_numeric(masker, &numeric, scratch),
            None => scan(masker, value, scratch),
        },
        ValueKind::Array => nested(masker, value, scratch, depth, Shape::Array),
        ValueKind::Record => nested(masker, value, scratch, depth, Shape::Record),
        ValueKind::Other => mask_other(masker, value, scratch, depth),
    }
}

/// A binary number rendered as `digits`: NULL when scanning those finds anything, since the
/// type cannot show a masked digit.
fn number(masker: &Masker, digits: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let hits = masker.mask_into(digits, scratch);
    scratch.clear();
    if hits.any() {
        (Verdict::Null, hits)
    } else {
        (Verdict::Unchanged, hits)
    }
}

/// A value of a type hoop does not know is scanned as raw bytes. Nested in an array or a
/// record, it may be a user composite (the caller's catalog only resolves top-level columns):
/// bytes that parse as a binary record are masked as one, then scanned raw as well, since the
/// guess may be wrong.
fn mask_other(masker: &Masker, value: &[u8], scratch: &mut Vec<u8>, depth: u32) -> (Verdict, Hits) {
    if depth == 0 || depth >= MAX_DEPTH || Layout::parse(value, Shape::Record).is_none() {
        return scan(masker, value, scratch);
    }
    let (verdict, mut hits) = nested(masker, value, scratch, depth, Shape::Record);
    match verdict {
        Verdict::Unchanged => scan(masker, value, scratch),
        Verdict::Replaced => {
            let rebuilt = std::mem::take(scratch);
            let raw = masker.mask_into(&rebuilt, scratch);
            if raw.any() {
                hits.add(raw);
            } else {
                *scratch = rebuilt;
            }
            (Verdict::Replaced, hits)
        }
        Verdict::Null => (Verdict::Null, hits),
    }
}

/// Values of a binary array or record are masked one by one with the kind their OID names;
/// when any changes, the whole value is rebuilt with the new element lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `i32 ndim, i32 has_null, u32 element OID, ndim × (i32 size, i32 lower bound)`, then
    /// the elements, each `i32 length` (-1: NULL) and its bytes.
    Array,
    /// `i32 field count`, then each field: `u32 OID, i32 length` (-1: NULL) and its bytes.
    Record,
}

/// Postgres' MAXDIM.
const MAX_DIMENSIONS: i32 = 6;

/// A validated array or record: where its elements start and how many there are.
struct Layout {
    /// The element OID of an array (records name one per field).
    element_oid: u32,
    /// Offset of the first element.
    first: usize,
    count: usize,
}

impl Layout {
    /// Validates the whole value: header, every element length, and the exact total length.
    fn parse(value: &[u8], shape: Shape) -> Option<Layout> {
        let (element_oid, first, count) = match shape {
            Shape::Array => {
                let ndim = read_i32(value, 0)?;
                let flags = read_i32(value, 4)?;
                let element_oid = read_u32(value, 8)?;
                if !(0..=MAX_DIMENSIONS).contains(&ndim) || !(flags == 0 || flags == 1) {
                    return None;
                }
                let mut count: usize = if ndim == 0 { 0 } else { 1 };
                let mut at = 12;
                for _ in 0..ndim {
                    let size = read_i32(value, at)?;
                    let lower = read_i32(value, at + 4)?;
                    if size < 0 || lower.checked_add(size).is_none() {
                        return None;
                    }
                    count = count.checked_mul(usize::try_from(size).ok()?)?;
                    at += 8;
                }
                (element_oid, at, count)
            }
            Shape::Record => {
                let count = usize::try_from(read_i32(value, 0)?).ok()?;
                (0, 4, count)
            }
        };
        // Every element takes at least its length word: a count the bytes cannot hold is
        // refused before any loop runs on it.
        let per_element = if shape == Shape::Array { 4 } else { 8 };
        if count > value.len().saturating_sub(first) / per_element {
            return None;
        }
        let layout = Layout {
            element_oid,
            first,
            count,
        };
        let mut end = first;
        for element in layout.elements(value, shape) {
            end = element?.end;
        }
        (end == value.len()).then_some(layout)
    }

    fn elements<'a>(&self, value: &'a [u8], shape: Shape) -> Elements<'a> {
        Elements {
            value,
            shape,
            at: self.first,
            left: self.count,
        }
    }
}

/// One element of an array or record.
struct Element<'a> {
    /// The record field's OID (arrays: 0, the layout has it).
    oid: u32,
    /// Offset of the length word: what a rebuild replaces starts here.
    start: usize,
    /// Offset just past the element.
    end: usize,
    /// `None` for SQL NULL.
    bytes: Option<&'a [u8]>,
}

/// The elements of a value, in order; an element that does not fit is `None` and ends it.
struct Elements<'a> {
    value: &'a [u8],
    shape: Shape,
    at: usize,
    left: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Option<Element<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let element = self.read();
        if element.is_none() {
            self.left = 0;
        }
        Some(element)
    }
}

impl<'a> Elements<'a> {
    fn read(&mut self) -> Option<Element<'a>> {
        let mut at = self.at;
        let mut oid = 0;
        if self.shape == Shape::Record {
            oid = read_u32(self.value, at)?;
            at += 4;
        }
        let start = at;
        let len = read_i32(self.value, at)?;
        at += 4;
        let bytes = match len {
            -1 => None,
            len => {
                let end = at.checked_add(usize::try_from(len).ok()?)?;
                let bytes = self.value.get(at..end)?;
                at = end;
                Some(bytes)
            }
        };
        self.at = at;
        Some(Element {
            oid,
            start,
            end: at,
            bytes,
        })
    }
}

fn read_i32(value: &[u8], at: usize) -> Option<i32> {
    let bytes = value.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(bytes.try_into().ok()?))
}

fn read_u32(value: &[u8], at: usize) -> Option<u32> {
    let bytes = value.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Masks every element of an array or record; rebuilds the value into `scratch` when one
/// changed. Malformed values are scanned raw; values nested too deep are nulled.
fn nested(
    masker: &Masker,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
    shape: Shape,
) -> (Verdict, Hits) {
    if depth >= MAX_DEPTH {
        // Fail closed, unread: whatever it holds is counted as one PAN.
        return (
            Verdict::Null,
            Hits {
                pans: 1,
                detectors: 0,
            },
        );
    }
    let Some(layout) = Layout::parse(value, shape) else {
        return scan(masker, value, scratch);
    };
    // Arrays name one element type; records one per field. Elements of an inert type cost a
    // length check each (one longer than any inert type's binary form is scanned).
    let array_kind = (shape == Shape::Array).then(|| kind_of(layout.element_oid));
    let mut hits = Hits::default();
    let mut rebuild = Rebuild::default();
    let mut nulled = false;
    // The elements' own scratch is `scratch`: the rebuild goes to a buffer of its own, which
    // only exists once something changed.
    for element in layout.elements(value, shape) {
        let Some(element) = element else { break };
        let Some(bytes) = element.bytes else { continue };
        let field_kind;
        let kind = match &array_kind {
            Some(kind) => kind,
            None => {
                field_kind = kind_of(element.oid);
                &field_kind
            }
        };
        let (verdict, element_hits) =
            mask_at(masker, kind, Format::Binary, bytes, scratch, depth + 1);
        hits.add(element_hits);
        match verdict {
            Verdict::Unchanged => {}
            Verdict::Replaced => {
                nulled |=
                    !rebuild.replace(value, element.start, element.end, Some(scratch.as_slice()));
            }
            Verdict::Null => {
                rebuild.replace(value, element.start, element.end, None);
                nulled = true;
            }
        }
    }
    scratch.clear();
    let Some(mut rebuilt) = rebuild.finish(value) else {
        return (Verdict::Unchanged, hits);
    };
    if shape == Shape::Array && nulled {
        // has_null: the header's second word.
        if let Some(flags) = rebuilt.get_mut(4..8) {
            flags.copy_from_slice(&1i32.to_be_bytes());
        }
    }
    *scratch = rebuilt;
    (Verdict::Replaced, hits)
}

/// A copy of a value with some elements replaced, made on the first replacement.
#[derive(Default)]
struct Rebuild {
    out: Option<Vec<u8>>,
    /// How much of the original has been copied (or replaced) so far.
    copied: usize,
}

impl Rebuild {
    /// Replaces `value[start..end]` (a length word and its bytes) by `bytes`, or by NULL.
    /// Returns `false` when the element had to become NULL instead (longer than a length
    /// word can say).
    fn replace(&mut self, value: &[u8], start: usize, end: usize, bytes: Option<&[u8]>) -> bool {
        let out = self
            .out
            .get_or_insert_with(|| Vec::with_capacity(value.len().saturating_add(16)));
        out.extend_from_slice(value.get(self.copied..start).unwrap_or_default());
        self.copied = end;
        let len = bytes.and_then(|b| i32::try_from(b.len()).ok().map(|len| (b, len)));
        match len {
            Some((bytes, len)) => {
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(bytes);
                true
            }
            None => {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                bytes.is_none()
            }
        }
    }

    fn finish(self, value: &[u8]) -> Option<Vec<u8>> {
        let mut out = self.out?;
        out.extend_from_slice(value.get(self.copied..).unwrap_or_default());
        Some(out)
    }
}

/// A binary `numeric`: `u16 ndigits, i16 weight, u16 sign, u16 dscale`, then `ndigits`
/// base-10000 digits, the first of them worth `10000^weight`.
pub(super) struct Numeric<'a> {
    weight: i16,
    sign: u16,
    dscale: u16,
    /// The digits, two bytes each, big-endian.
    digits: &'a [u8],
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// Postgres' NUMERIC_DSCALE_MASK: the largest display scale.
const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;

impl<'a> Numeric<'a> {
    /// Validates as Postgres' `numeric_recv` does: a known sign, a scale within the mask,
    /// digits below 10000, and exactly the bytes the digit count says.
    pub(super) fn parse(value: &'a [u8]) -> Option<Numeric<'a>> {
        let word = |at: usize| -> Option<u16> {
            let bytes = value.get(at..at + 2)?;
            Some(u16::from_be_bytes(bytes.try_into().ok()?))
        };
        let ndigits = usize::from(word(0)?);
        let weight = word(2)? as i16;
        let sign = word(4)?;
        let dscale = word(6)?;
        let digits = value.get(8..)?;
        let known_sign = matches!(
            sign,
            NUMERIC_POS | NUMERIC_NEG | NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF
        );
        if !known_sign || dscale & NUMERIC_DSCALE_MASK != dscale || digits.len() != 2 * ndigits {
            return None;
        }
        let numeric = Numeric {
            weight,
            sign,
            dscale,
            digits,
        };
        (0..ndigits)
            .all(|i| numeric.digit(i as i64) < 10000)
            .then_some(numeric)
    }

    /// Base-10000 digit `i` (0 is the first); 0 outside the stored digits.
    fn digit(&self, i: i64) -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(2))
            .and_then(|at| self.digits.get(at..at.checked_add(2)?))
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn special(&self) -> Option<&'static [u8]> {
        match self.sign {
            NUMERIC_NAN => Some(b"NaN"),
            NUMERIC_PINF => Some(b"Infinity"),
            NUMERIC_NINF => Some(b"-Infinity"),
            _ => None,
        }
    }

    /// The length of [`Numeric::render`]'s output, computed without rendering.
    fn rendered_len(&self) -> usize {
        if let Some(special) = self.special() {
            return special.len();
        }
        let sign = usize::from(self.sign == NUMERIC_NEG);
        let integer = match usize::try_from(self.weight) {
            Err(_) => 1,
            Ok(weight) => decimal_width(self.digit(0)) + 4 * weight,
        };
        let fraction = match self.dscale {
            0 => 0,
            dscale => 1 + usize::from(dscale),
        };
        sign + integer + fraction
    }

    /// The text Postgres prints (`numeric_out`): sign, integer part without leading zeros,
    /// and `dscale` fraction digits.
    fn render(&self, out: &mut impl Push) {
        if let Some(special) = self.special() {
            special.iter().for_each(|&b| out.push(b));
            return;
        }
        if self.sign == NUMERIC_NEG {
            out.push(b'-');
        }
        let weight = i64::from(self.weight);
        if weight < 0 {
            out.push(b'0');
        } else {
            for d in 0..=weight {
                let digit = self.digit(d);
                let skip = if d == 0 { 4 - decimal_width(digit) } else { 0 };
                push_group(out, digit, skip, 4);
            }
        }
        let mut left = usize::from(self.dscale);
        if left > 0 {
            out.push(b'.');
        }
        let mut d = weight + 1;
        while left > 0 {
            let take = left.min(4);
            push_group(out, self.digit(d), 0, take);
            left -= take;
            d += 1;
        }
    }
}

/// Digits of `0..10000` printed without leading zeros (0 is one digit).
fn decimal_width(digit: u16) -> usize {
    match digit {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => 4,
    }
}

/// Pushes the four decimal digits of `digit`, skipping `skip` leading ones and stopping after
/// the `take`-th.
fn push_group(out: &mut impl Push, digit: u16, skip: usize, take: usize) {
    let decimals = [
        digit / 1000 % 10,
        digit / 100 % 10,
        digit / 10 % 10,
        digit % 10,
    ];
    for &d in decimals.iter().take(take).skip(skip) {
        out.push(b'0' + d as u8);
    }
}

/// Somewhere to render a number.
pub(super) trait Push {
    fn push(&mut self, b: u8);
}

impl Push for Vec<u8> {
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }
}

/// A fixed stack buffer; bytes past its end are dropped (callers check the length first).
struct StackText {
    buf: [u8; STACK_TEXT],
    len: usize,
}

/// Longest rendering kept on the stack: `numeric(38, 10)` and much more.
const STACK_TEXT: usize = 160;

impl Push for StackText {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
}

/// A `numeric` is NULL when its decimal text holds anything to mask. The text is rendered on
/// the stack when short; a longer one goes to `scratch` and is scanned into an empty buffer,
/// which only allocates when something is found or custom detectors run.
fn mask_numeric(masker: &Masker, numeric: &Numeric<'_>, scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    if numeric.rendered_len() <= STACK_TEXT {
        let mut text = StackText {
            buf: [0; STACK_TEXT],
            len: 0,
        };
        numeric.render(&mut text);
        return number(
            masker,
            text.buf.get(..text.len).unwrap_or_default(),
            scratch,
        );
    }
    scratch.clear();
    numeric.render(scratch);
    let mut rendered = std::mem::take(scratch);
    let verdict = number(masker, &rendered, scratch);
    rendered.clear();
    *scratch = rendered;
    verdict
}

/// The decimal text of a binary `int8`, `numeric` or `float8` (for recordings); `None` when
/// the bytes are not one.
pub(super) fn decimal_text(kind: &ValueKind, value: &[u8]) -> Option<String> {
    match kind {
        ValueKind::Int8 => Some(i64::from_be_bytes(value.try_into().ok()?).to_string()),
        ValueKind::Float8 => {
            let v = f64::from_be_bytes(value.try_into().ok()?);
            Some(if v.is_nan() {
                "NaN".to_owned()
            } else if v.is_infinite() {
                if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
            } else if v.fract() == 0.0 && v.abs() < 1e19 {
                // All the digits, as the integer a PAN would be.
                format!("{v}")
            } else {
                format!("{v:?}")
            })
        }
        ValueKind::Numeric => {
            let numeric = Numeric::parse(value)?;
            let mut text = Vec::with_capacity(numeric.rendered_len());
            numeric.render(&mut text);
            // Rendered from ASCII digits, signs and letters only.
            String::from_utf8(text).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod testing {
    //! Renders for the tests, through the same code.
    use super::Numeric;

    pub fn numeric_text(value: &[u8]) -> Option<String> {
        let numeric = Numeric::parse(value)?;
        let mut text = Vec::new();
        numeric.render(&mut text);
        assert_eq!(text.len(), numeric.rendered_len());
        String::from_utf8(text).ok()
    }
}
