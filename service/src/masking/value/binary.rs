//! Binary-format values: numbers rendered as decimal text and scanned, ranges, arrays and
//! records walked element by element, anything else withheld.
//!
//! Every length is read with bounds checks and a structure is validated whole before anything
//! is masked, so a malformed value is withheld instead of half a rebuild.

use super::{
    FIRST_USER_OID, Format, IntegerDigits, MAX_DEPTH, ValueKind, Verdict, json, kind_of, mask_at,
    scan,
};
use crate::masking::{Hits, Masker, pan};

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
        // An OID, four bytes: fewer digits than any PAN has.
        ValueKind::Reg if value.len() == 4 => (Verdict::Unchanged, Hits::default()),
        // Longer than the type's binary form: not what its type says.
        ValueKind::Inert | ValueKind::Reg => withheld(),
        ValueKind::Text | ValueKind::Bytea | ValueKind::FramedText => scan(masker, value, scratch),
        ValueKind::Json => json::mask(masker, value, scratch),
        ValueKind::Jsonb => match value.split_first() {
            Some((1, text)) => {
                let (verdict, hits) = json::mask(masker, text, scratch);
                if verdict == Verdict::Replaced {
                    scratch.insert(0, 1);
                }
                (verdict, hits)
            }
            // A version this code does not know: its layout is unknown too.
            _ => withheld(),
        },
        ValueKind::Int8 => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => {
                let mut digits = IntegerDigits::new();
                number(masker, digits.of_i64(i64::from_be_bytes(bytes)), scratch)
            }
            Err(_) => withheld(),
        },
        ValueKind::Uint64 => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => {
                let mut digits = IntegerDigits::new();
                number(masker, digits.of(false, u64::from_be_bytes(bytes)), scratch)
            }
            Err(_) => withheld(),
        },
        ValueKind::Money => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => money(masker, i64::from_be_bytes(bytes), scratch),
            Err(_) => withheld(),
        },
        ValueKind::Float8 => match <[u8; 8]>::try_from(value) {
            Ok(bytes) => float8(masker, bytes, scratch),
            Err(_) => withheld(),
        },
        ValueKind::Geometric(oid) => geometric(masker, *oid, value, scratch),
        ValueKind::Numeric => match Numeric::parse(value) {
            Some(numeric) => mask_numeric(masker, &numeric, scratch),
            None => withheld(),
        },
        ValueKind::Range(subtype) => range(masker, *subtype, value, scratch, depth),
        ValueKind::Multirange(subtype) => multirange(masker, *subtype, value, scratch, depth),
        ValueKind::Array => nested(masker, value, scratch, depth, Shape::Array),
        ValueKind::Record => nested(masker, value, scratch, depth, Shape::Record),
        // Not known to be harmless, and no decoder: withheld.
        ValueKind::Other => withheld(),
    }
}

/// A value withheld unread: SQL NULL, counted.
fn withheld() -> (Verdict, Hits) {
    (Verdict::Null, Hits::WITHHELD)
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

/// A `float8` holding an integral PAN; any other float is left alone (not integral, or too
/// small or too large to be one).
fn float8(masker: &Masker, bytes: [u8; 8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let mut digits = IntegerDigits::new();
    match digits.of_f64(f64::from_be_bytes(bytes)) {
        Some(integer) => number(masker, integer, scratch),
        None => (Verdict::Unchanged, Hits::default()),
    }
}

/// The most fraction digits `money` prints (`cash_out` falls back to 2 beyond 10).
const MONEY_MAX_FRACTION: usize = 10;

/// A binary `money` is an `int8` of the currency's smallest unit; which digits are the whole
/// units depends on the session's `lc_monetary` (2 fraction digits for dollars, 0 for yen, 3
/// for dinars). NULL when the number itself, or its whole units under any fraction a locale
/// may set, is a PAN.
fn money(masker: &Masker, v: i64, scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let mut rendered = IntegerDigits::new();
    let digits = rendered.of_i64(v);
    let (verdict, hits) = number(masker, digits, scratch);
    if verdict != Verdict::Unchanged {
        return (verdict, hits);
    }
    let unsigned = digits.strip_prefix(b"-").unwrap_or(digits);
    for fraction in 1..=MONEY_MAX_FRACTION.min(unsigned.len()) {
        if pan::contains_pan(&unsigned[..unsigned.len() - fraction]) {
            return (
                Verdict::Null,
                Hits {
                    pans: 1,
                    ..Hits::default()
                },
            );
        }
    }
    (Verdict::Unchanged, hits)
}

/// `point`, `lseg`, `box`, `line`, `circle` are fixed runs of `float8`; `path` is a `closed`
/// byte and `polygon` nothing, each followed by an `int4` point count and the points. NULL
/// when any coordinate is an integral PAN; withheld when the size does not add up.
fn geometric(masker: &Masker, oid: u32, value: &[u8], scratch: &mut Vec<u8>) -> (Verdict, Hits) {
    let floats = match oid {
        // point; lseg, box; line, circle.
        600 => (value.len() == 16).then_some(value),
        601 | 603 => (value.len() == 32).then_some(value),
        628 | 718 => (value.len() == 24).then_some(value),
        602 | 604 => {
            let header = if oid == 602 { 5 } else { 4 };
            read_i32(value, header - 4)
                .and_then(|points| usize::try_from(points).ok())
                .and_then(|points| points.checked_mul(16))
                .filter(|size| header.checked_add(*size) == Some(value.len()))
                .and_then(|_| value.get(header..))
        }
        _ => None,
    };
    let Some(floats) = floats else {
        return withheld();
    };
    let mut hits = Hits::default();
    for coordinate in floats.chunks_exact(8) {
        let bytes: [u8; 8] = coordinate.try_into().unwrap_or_default();
        let (verdict, found) = float8(masker, bytes, scratch);
        hits.add(found);
        if verdict != Verdict::Unchanged {
            return (Verdict::Null, hits);
        }
    }
    (Verdict::Unchanged, hits)
}

/// Range flags (`rangetypes.h`): a bound is sent only when none of these is set on its side.
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;
const RANGE_LB_NULL: u8 = 0x20;
const RANGE_UB_NULL: u8 = 0x40;

/// A binary range: a flags byte, then each bound present as `i32 length` and its bytes.
/// Each bound is masked as its subtype; a bound that would change makes the whole range NULL
/// (a bound cannot show `*`, and dropping one would change what the range means).
fn range(
    masker: &Masker,
    subtype: u32,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
) -> (Verdict, Hits) {
    if depth >= MAX_DEPTH {
        return withheld();
    }
    let Some((&flags, _)) = value.split_first() else {
        return withheld();
    };
    let mut at = 1;
    let mut bounds: [Option<&[u8]>; 2] = [None, None];
    for (side, absent) in [
        RANGE_EMPTY | RANGE_LB_INF | RANGE_LB_NULL,
        RANGE_EMPTY | RANGE_UB_INF | RANGE_UB_NULL,
    ]
    .into_iter()
    .enumerate()
    {
        if flags & absent != 0 {
            continue;
        }
        let bound = read_i32(value, at)
            .and_then(|len| usize::try_from(len).ok())
            .and_then(|len| value.get(at + 4..(at + 4).checked_add(len)?));
        let Some(bound) = bound else {
            return withheld();
        };
        at += 4 + bound.len();
        bounds[side] = Some(bound);
    }
    if at != value.len() {
        return withheld();
    }
    let kind = kind_of(subtype);
    let mut hits = Hits::default();
    for bound in bounds.into_iter().flatten() {
        let (verdict, found) = mask_at(masker, &kind, Format::Binary, bound, scratch, depth + 1);
        hits.add(found);
        if verdict != Verdict::Unchanged {
            scratch.clear();
            return (Verdict::Null, hits);
        }
    }
    scratch.clear();
    (Verdict::Unchanged, hits)
}

/// A binary multirange: `i32 count`, then each range as `i32 length` and its bytes. NULL
/// whole when any of its ranges would be.
fn multirange(
    masker: &Masker,
    subtype: u32,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
) -> (Verdict, Hits) {
    let Some(count) = read_i32(value, 0).and_then(|n| usize::try_from(n).ok()) else {
        return withheld();
    };
    // Every range takes at least its length word and a flags byte.
    if count > value.len() / 5 {
        return withheld();
    }
    // Two walks over the ranges, validating then masking, so nothing is allocated.
    let ranges = || {
        let mut at = 4;
        std::iter::from_fn(move || {
            let one = read_i32(value, at)
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| value.get(at + 4..(at + 4).checked_add(len)?))?;
            at += 4 + one.len();
            Some((one, at))
        })
        .take(count)
    };
    let (mut read, mut end) = (0, 4);
    for (_, at) in ranges() {
        read += 1;
        end = at;
    }
    if read != count || end != value.len() {
        return withheld();
    }
    let mut hits = Hits::default();
    for (one, _) in ranges() {
        let (verdict, found) = range(masker, subtype, one, scratch, depth + 1);
        hits.add(found);
        if verdict != Verdict::Unchanged {
            return (Verdict::Null, hits);
        }
    }
    (Verdict::Unchanged, hits)
}

/// A nested value of a user type (an array's element, a record's field): the catalog only
/// resolved the top-level column, so its kind is unknown. Bytes that parse as a binary record
/// are masked as one (a user composite), then scanned raw as well, since the guess may be
/// wrong; anything else (an enum label, a domain over a number, an extension's type) is
/// withheld.
fn mask_user_nested(
    masker: &Masker,
    value: &[u8],
    scratch: &mut Vec<u8>,
    depth: u32,
) -> (Verdict, Hits) {
    if depth >= MAX_DEPTH || Layout::parse(value, Shape::Record).is_none() {
        return withheld();
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
        // Fail closed, unread.
        return withheld();
    }
    let Some(layout) = Layout::parse(value, shape) else {
        return withheld();
    };
    // Arrays name one element type; records one per field. Elements of an inert type cost a
    // length check each (one longer than any inert type's binary form is scanned).
    let array_kind = (shape == Shape::Array).then(|| kind_of(layout.element_oid));
    // A user type's elements: its kind is not known here (see `mask_user_nested`).
    let user = |oid: u32, kind: &ValueKind| *kind == ValueKind::Other && oid >= FIRST_USER_OID;
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
        let oid = if shape == Shape::Array {
            layout.element_oid
        } else {
            element.oid
        };
        let (verdict, element_hits) = if user(oid, kind) {
            scratch.clear();
            mask_user_nested(masker, bytes, scratch, depth + 1)
        } else {
            mask_at(masker, kind, Format::Binary, bytes, scratch, depth + 1)
        };
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
