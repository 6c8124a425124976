//! Masking one DataRow by its plan: what each column's values are (kind and wire format) and
//! whether a column rule masks the column whatever its content.
//!
//! The row's bytes are copied to the output once and masked values are overwritten there when
//! they keep their length (digits become `*`, the default styles). Only a row in which a value
//! changes length (a token, a NULL, `****`) is re-framed, value by value.

use std::sync::Arc;

use bytes::BytesMut;
use hoop_protocol::Frame;
use hoop_protocol::ProtocolError;
use hoop_protocol::rows::{DataRowWriter, decode_data_row};

use super::value::{self, Format, ValueKind, Verdict};
use super::{ColumnRuleId, Hits, Masker};

/// How one result column is masked.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    /// Named in recordings: `schema.table.column` when the column comes from a table, else
    /// the result column's name.
    pub label: Arc<str>,
    pub kind: ValueKind,
    pub format: Format,
    /// A column rule masks every value of this column.
    pub rule: Option<ColumnRuleId>,
}

/// How the values of one result's rows are masked.
#[derive(Clone, Debug, Default)]
pub struct RowPlan {
    pub columns: Vec<ColumnPlan>,
    /// Columns past `columns` (a result whose shape is not known): scanned as this format.
    pub fallback: Option<Format>,
}

impl RowPlan {
    /// A plan for rows of an unknown shape: every value scanned as `format` (text PANs found,
    /// whatever the column).
    pub fn unknown(format: Format) -> RowPlan {
        RowPlan {
            columns: Vec::new(),
            fallback: Some(format),
        }
    }

    /// Whether no value of these rows can need masking (only inert columns, no rule).
    pub fn is_inert(&self) -> bool {
        self.fallback.is_none()
            && self
                .columns
                .iter()
                .all(|c| c.kind == ValueKind::Inert && c.rule.is_none())
    }

    fn column(&self, i: usize) -> Option<(&ValueKind, Format, Option<ColumnRuleId>)> {
        match self.columns.get(i) {
            Some(c) => Some((&c.kind, c.format, c.rule)),
            None => self.fallback.map(|f| (&ValueKind::Other, f, None)),
        }
    }
}

/// What was masked in one result, per column, for the recording's `masked` event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskTally {
    /// Per column index: values masked, and what found them.
    pub columns: Vec<ColumnTally>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnTally {
    pub values: u64,
    pub hits: Hits,
    pub by_rule: bool,
}

impl MaskTally {
    fn note(&mut self, column: usize, hits: Hits, by_rule: bool) {
        if self.columns.len() <= column {
            self.columns.resize(column + 1, ColumnTally::default());
        }
        let c = &mut self.columns[column];
        c.values += 1;
        c.hits.add(hits);
        c.by_rule |= by_rule;
    }

    pub fn is_empty(&self) -> bool {
        self.columns.iter().all(|c| c.values == 0)
    }

    /// Total values masked.
    pub fn values(&self) -> u64 {
        self.columns.iter().map(|c| c.values).sum()
    }
}

/// Masks one DataRow frame into `out`: the frame's bytes, with masked values overwritten in
/// place when they keep their length (the default styles), or a re-framed row when one does
/// not (a token, a NULL, `****`). `scratch` is reused across calls.
pub fn mask_data_row(
    plan: &RowPlan,
    masker: &Masker,
    frame: &Frame,
    out: &mut BytesMut,
    scratch: &mut Vec<u8>,
    tally: &mut MaskTally,
) -> Result<(), ProtocolError> {
    if plan.is_inert() {
        out.extend_from_slice(&frame.raw);
        return Ok(());
    }
    let row = decode_data_row(frame)?;
    let start = out.len();
    let base = frame.raw.as_ptr() as usize;
    out.extend_from_slice(&frame.raw);
    for (i, value) in row.iter().enumerate() {
        let verdict = decide(plan, masker, i, value, scratch, tally);
        match (verdict, value) {
            (Verdict::Unchanged, _) => {}
            (Verdict::Replaced, Some(v)) if v.len() == scratch.len() => {
                // `v` lies inside `frame.raw`, which was copied to `out` at `start`.
                let at = start + (v.as_ptr() as usize - base);
                out[at..at + v.len()].copy_from_slice(scratch);
            }
            _ => {
                reframe(plan, masker, frame, i, verdict, out, start, scratch, tally)?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Re-frames a row whose value `first` changes length: values before it are taken as already
/// masked in `out[start..]`, value `first` from `scratch` (or NULL), the rest decided now.
#[allow(clippy::too_many_arguments)]
fn reframe(
    plan: &RowPlan,
    masker: &Masker,
    frame: &Frame,
    first: usize,
    verdict: Verdict,
    out: &mut BytesMut,
    start: usize,
    scratch: &mut Vec<u8>,
    tally: &mut MaskTally,
) -> Result<(), ProtocolError> {
    let patched = Frame {
        tag: frame.tag,
        raw: out.split_off(start).freeze(),
    };
    let done = decode_data_row(&patched)?;
    let row = decode_data_row(frame)?;
    let mut writer = DataRowWriter::new(out, row.len());
    for earlier in done.iter().take(first) {
        writer.push_value(earlier);
    }
    let mut values = row.iter().enumerate().skip(first);
    if let Some((_, value)) = values.next() {
        emit(&mut writer, value, verdict, scratch);
    }
    for (i, value) in values {
        let verdict = decide(plan, masker, i, value, scratch, tally);
        emit(&mut writer, value, verdict, scratch);
    }
    writer.finish();
    Ok(())
}

/// The verdict on value `i` of a row; a replacement is left in `scratch`.
fn decide(
    plan: &RowPlan,
    masker: &Masker,
    i: usize,
    value: Option<&[u8]>,
    scratch: &mut Vec<u8>,
    tally: &mut MaskTally,
) -> Verdict {
    let (Some(bytes), Some((kind, format, rule))) = (value, plan.column(i)) else {
        return Verdict::Unchanged;
    };
    if rule.is_some() {
        tally.note(i, Hits::default(), true);
        return value::redact_value(kind, format, scratch);
    }
    let (verdict, hits) = value::mask_value(masker, kind, format, bytes, scratch);
    if verdict != Verdict::Unchanged {
        tally.note(i, hits, false);
    }
    verdict
}

fn emit(writer: &mut DataRowWriter<'_>, value: Option<&[u8]>, verdict: Verdict, scratch: &[u8]) {
    match verdict {
        Verdict::Unchanged => writer.push_value(value),
        Verdict::Replaced => writer.push(scratch),
        Verdict::Null => writer.push_null(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hoop_protocol::rows::DataRowWriter;

    use super::*;

    fn frame(values: &[Option<&[u8]>]) -> Frame {
        let mut buf = BytesMut::new();
        let mut w = DataRowWriter::new(&mut buf, values.len());
        for v in values {
            w.push_value(*v);
        }
        w.finish();
        Frame {
            tag: b'D',
            raw: buf.freeze(),
        }
    }

    fn column(kind: ValueKind, format: Format, rule: Option<ColumnRuleId>) -> ColumnPlan {
        ColumnPlan {
            label: "c".into(),
            kind,
            format,
            rule,
        }
    }

    fn masked(plan: &RowPlan, row: &Frame, tally: &mut MaskTally) -> Vec<Option<Vec<u8>>> {
        let mut out = BytesMut::from(&b"before"[..]);
        mask_data_row(
            plan,
            &Masker::pci_default(),
            row,
            &mut out,
            &mut Vec::new(),
            tally,
        )
        .unwrap();
        assert_eq!(&out[..6], b"before", "bytes already in the buffer are kept");
        let frame = Frame {
            tag: b'D',
            raw: Bytes::copy_from_slice(&out[6..]),
        };
        decode_data_row(&frame)
            .unwrap()
            .iter()
            .map(|v| v.map(<[u8]>::to_vec))
            .collect()
    }

    const PAN: &[u8] = b"4111111111111111";
    const INT8_PAN: [u8; 8] = 4111111111111111i64.to_be_bytes();

    #[test]
    fn rows_are_masked_in_place_and_reframed_only_when_a_length_changes() {
        let plan = RowPlan {
            columns: vec![
                column(ValueKind::Text, Format::Text, None),
                column(ValueKind::Int8, Format::Binary, None),
                column(ValueKind::Text, Format::Binary, Some(ColumnRuleId(0))),
                column(ValueKind::Inert, Format::Binary, None),
            ],
            fallback: None,
        };
        let mut tally = MaskTally::default();
        // Same length only: masked in place.
        let row = frame(&[
            Some(b"card 4111111111111111"),
            None,
            None,
            Some(b"4111111111111111"),
        ]);
        assert_eq!(
            masked(&plan, &row, &mut tally),
            [
                Some(b"card 411111******1111".to_vec()),
                None,
                None,
                Some(PAN.to_vec())
            ],
            "inert columns are never scanned"
        );
        // A NULL and a rule's `****` change lengths after an in-place mask.
        let row = frame(&[Some(PAN), Some(&INT8_PAN), Some(b"123"), Some(b"x")]);
        assert_eq!(
            masked(&plan, &row, &mut tally),
            [
                Some(b"411111******1111".to_vec()),
                None,
                Some(b"****".to_vec()),
                Some(b"x".to_vec())
            ]
        );
        assert_eq!(tally.values(), 4);
        assert!(tally.columns[2].by_rule && tally.columns[1].hits.pans == 1);
    }

    #[test]
    fn rows_of_an_unknown_shape_are_scanned_and_clean_rows_relayed_as_they_are() {
        let mut tally = MaskTally::default();
        let plan = RowPlan::unknown(Format::Text);
        let row = frame(&[Some(b"id 7"), Some(b"x4111-1111-1111-1111x")]);
        assert_eq!(
            masked(&plan, &row, &mut tally),
            [
                Some(b"id 7".to_vec()),
                Some(b"x4111-11**-****-1111x".to_vec())
            ]
        );
        let clean = frame(&[Some(b"order 1000000000001"), None]);
        let mut out = BytesMut::new();
        mask_data_row(
            &plan,
            &Masker::pci_default(),
            &clean,
            &mut out,
            &mut Vec::new(),
            &mut tally,
        )
        .unwrap();
        assert_eq!(&out[..], &clean.raw[..]);
    }

    #[test]
    fn binary_rows_of_an_unknown_shape_are_withheld() {
        // Binary values of unknown type cannot be read (a PAN as an int8 has no digits to
        // scan): every value becomes NULL, the row keeps its shape.
        let mut tally = MaskTally::default();
        let plan = RowPlan::unknown(Format::Binary);
        let row = frame(&[Some(&INT8_PAN), Some(b"id 7"), None]);
        assert_eq!(masked(&plan, &row, &mut tally), [None, None, None]);
        assert_eq!(tally.values(), 2);
        assert_eq!(tally.columns[0].hits, Hits::WITHHELD);
    }

    #[test]
    fn a_malformed_row_is_an_error_and_writes_nothing() {
        let plan = RowPlan::unknown(Format::Text);
        let bad = Frame {
            tag: b'D',
            raw: Bytes::from_static(b"D\0\0\0\x0a\0\x01\0\0\0\x09"),
        };
        let mut out = BytesMut::new();
        let result = mask_data_row(
            &plan,
            &Masker::pci_default(),
            &bad,
            &mut out,
            &mut Vec::new(),
            &mut MaskTally::default(),
        );
        assert!(result.is_err());
        assert!(out.is_empty());
    }
}
