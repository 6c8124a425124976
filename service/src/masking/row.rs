//! Masking one DataRow by its plan: what each column's values are (kind and wire format) and
//! whether a column rule masks the column whatever its content.
//!
//! The fast path is a row in which nothing is masked: its values are scanned where they stand
//! and the caller relays the frame's bytes unchanged. Only a row holding something to mask is
//! re-framed, value by value into the output buffer (a masked value may change length: a
//! token, a NULL, `****`).

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

/// Masks one DataRow frame into `out`: the frame's own bytes when nothing needed masking, a
/// re-framed row otherwise. `scratch` is reused across calls.
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
    let mut values = row.iter().enumerate();
    let (first, first_value, first_verdict) = loop {
        let Some((i, value)) = values.next() else {
            out.extend_from_slice(&frame.raw);
            return Ok(());
        };
        let verdict = decide(plan, masker, i, value, scratch, tally);
        if verdict != Verdict::Unchanged {
            break (i, value, verdict);
        }
    };
    // Something changes: re-frame the row, the values before the first change as they were.
    let mut writer = DataRowWriter::new(out, row.len());
    for earlier in row.iter().take(first) {
        writer.push_value(earlier);
    }
    emit(&mut writer, first_value, first_verdict, scratch);
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
