//! Typed access to the result messages the gateway rewrites (RowDescription, DataRow) or needs
//! to read (ParameterDescription, Copy{In,Out,Both}Response). [`BackendMessage::decode`]
//! recognises these by tag alone; the decoders here run only on the frames a caller chooses to
//! inspect, so relaying stays a tag match.
//!
//! [`BackendMessage::decode`]: crate::backend::BackendMessage::decode

use std::iter::FusedIterator;

use bytes::{BufMut, BytesMut};

use crate::backend::tag;
use crate::body::{Reader, bounded_capacity, put_cstr, write_tagged};
use crate::frame::HEADER_LEN;
use crate::{Frame, ProtocolError};

/// One column of a RowDescription ('T').
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDescription {
    /// The column's name (or alias) in the result.
    pub name: String,
    /// OID of the table the column comes from, 0 when it is not a plain table column.
    pub table_oid: u32,
    /// Attribute number of the column in that table, 0 when `table_oid` is 0.
    pub column: i16,
    /// OID of the column's data type.
    pub type_oid: u32,
    /// `pg_type.typlen`: negative for variable-width types.
    pub type_size: i16,
    /// `pg_attribute.atttypmod`, type-specific (e.g. `varchar(n)`); -1 when unused.
    pub type_modifier: i32,
    /// 0 text, 1 binary. Always 0 in a RowDescription answering Describe of a statement: the
    /// format is not known until Bind.
    pub format: i16,
}

/// Name NUL, four `Int32`/`Int16` pairs: the smallest a field can be on the wire.
const FIELD_DESCRIPTION_MIN_LEN: usize = 1 + 4 + 2 + 4 + 2 + 4 + 2;

/// Decodes a RowDescription. Names are strict UTF-8 like every other name in the crate (see
/// the crate docs on strings): a masking rule matches columns by name, and a lossy name that
/// re-encodes to different bytes would both miss the rule and alter the result.
pub fn decode_row_description(frame: &Frame) -> Result<Vec<FieldDescription>, ProtocolError> {
    expect_tag(frame, tag::ROW_DESCRIPTION, "not a RowDescription")?;
    let mut r = Reader::new(frame.body());
    let count = r.count()?;
    let mut fields = Vec::with_capacity(bounded_capacity(count, &r, FIELD_DESCRIPTION_MIN_LEN));
    for _ in 0..count {
        fields.push(FieldDescription {
            name: r.cstr()?.to_owned(),
            table_oid: r.u32()?,
            column: r.i16()?,
            type_oid: r.u32()?,
            type_size: r.i16()?,
            type_modifier: r.i32()?,
            format: r.i16()?,
        });
    }
    r.finish()?;
    Ok(fields)
}

/// Writes a RowDescription. Names are cut at an interior NUL (see `put_cstr`).
///
/// # Panics
/// If there are more than `i16::MAX` fields, which the protocol cannot express.
pub fn encode_row_description(fields: &[FieldDescription], buf: &mut BytesMut) {
    write_tagged(tag::ROW_DESCRIPTION, buf, |b| {
        b.put_i16(column_count(fields.len()));
        for field in fields {
            put_cstr(b, &field.name);
            b.put_u32(field.table_oid);
            b.put_i16(field.column);
            b.put_u32(field.type_oid);
            b.put_i16(field.type_size);
            b.put_i32(field.type_modifier);
            b.put_i16(field.format);
        }
    });
}

/// The values of one DataRow ('D'), borrowed from its frame.
///
/// [`decode_data_row`] checks the whole layout before returning, so iterating yields plain
/// `Option<&[u8]>` values and a caller rewriting the row never sees an error halfway through
/// (with half a row already written). The check walks the length words only, never the
/// values, so a row costs two passes over its column headers and no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRowFields<'a> {
    columns: usize,
    /// The body after the column count: exactly `columns` length-prefixed values.
    values: &'a [u8],
}

impl<'a> DataRowFields<'a> {
    /// The number of columns (values) in the row.
    pub fn len(&self) -> usize {
        self.columns
    }

    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    /// The values in column order; `None` is SQL NULL.
    pub fn iter(&self) -> DataRowValues<'a> {
        DataRowValues {
            remaining: self.columns,
            r: Reader::new(self.values),
        }
    }
}

impl<'a> IntoIterator for DataRowFields<'a> {
    type Item = Option<&'a [u8]>;
    type IntoIter = DataRowValues<'a>;

    fn into_iter(self) -> DataRowValues<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &DataRowFields<'a> {
    type Item = Option<&'a [u8]>;
    type IntoIter = DataRowValues<'a>;

    fn into_iter(self) -> DataRowValues<'a> {
        self.iter()
    }
}

/// Iterator over a [`DataRowFields`]' values.
#[derive(Clone, Debug)]
pub struct DataRowValues<'a> {
    remaining: usize,
    r: Reader<'a>,
}

impl<'a> Iterator for DataRowValues<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        self.remaining = self.remaining.checked_sub(1)?;
        // Cannot fail: `decode_data_row` read these same bytes successfully. Should it ever,
        // ending the iteration is still no panic.
        match read_value(&mut self.r) {
            Ok(value) => Some(value),
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for DataRowValues<'_> {}

impl FusedIterator for DataRowValues<'_> {}

/// Decodes a DataRow without copying or allocating: see [`DataRowFields`] for what is checked
/// up front. A length below -1, a value running past the end, or bytes after the last value
/// are [`ProtocolError::Malformed`].
pub fn decode_data_row(frame: &Frame) -> Result<DataRowFields<'_>, ProtocolError> {
    expect_tag(frame, tag::DATA_ROW, "not a DataRow")?;
    let mut r = Reader::new(frame.body());
    let columns = r.count()?;
    let values = r.rest();
    let mut check = Reader::new(values);
    for _ in 0..columns {
        read_value(&mut check)?;
    }
    check.finish()?;
    Ok(DataRowFields { columns, values })
}

/// A length-prefixed value: -1 is NULL, any other negative length is invalid.
fn read_value<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, ProtocolError> {
    match r.i32()? {
        -1 => Ok(None),
        len => {
            let len = usize::try_from(len)
                .map_err(|_| ProtocolError::Malformed("negative DataRow value length"))?;
            r.take(len).map(Some)
        }
    }
}

/// Writes one DataRow value by value, for rewriting a row without building it in memory first.
///
/// `write_tagged`'s closure cannot span the caller's loop, so the writer measures the length
/// itself: [`DataRowWriter::finish`] patches the length word and column count. Until then the
/// buffer holds an incomplete message; dropping the writer unfinished (an early `?` in the
/// caller) truncates it away, so `buf` only ever holds whole frames.
#[must_use = "a DataRowWriter dropped without finish() removes its row from the buffer"]
#[derive(Debug)]
pub struct DataRowWriter<'b> {
    buf: &'b mut BytesMut,
    /// Where the tag is.
    start: usize,
    columns: usize,
    pushed: usize,
    finished: bool,
}

impl<'b> DataRowWriter<'b> {
    /// Starts a DataRow of `columns` values at the end of `buf`.
    ///
    /// # Panics
    /// If `columns` exceeds `i16::MAX`, which the protocol cannot express.
    pub fn new(buf: &'b mut BytesMut, columns: usize) -> DataRowWriter<'b> {
        let start = buf.len();
        buf.put_u8(tag::DATA_ROW);
        buf.put_i32(0);
        buf.put_i16(column_count(columns));
        DataRowWriter {
            buf,
            start,
            columns,
            pushed: 0,
            finished: false,
        }
    }

    /// Appends a SQL NULL.
    pub fn push_null(&mut self) {
        self.buf.put_i32(-1);
        self.pushed += 1;
    }

    /// Appends a value (an empty slice is the empty string, not NULL).
    ///
    /// # Panics
    /// If `value` exceeds `i32::MAX` bytes, which the protocol cannot express.
    pub fn push(&mut self, value: &[u8]) {
        let len = i32::try_from(value.len())
            .expect("a DataRow value cannot be longer than i32::MAX bytes");
        self.buf.put_i32(len);
        self.buf.put_slice(value);
        self.pushed += 1;
    }

    /// Appends `value`, or NULL for `None`: the shape [`DataRowValues`] yields.
    pub fn push_value(&mut self, value: Option<&[u8]>) {
        match value {
            Some(value) => self.push(value),
            None => self.push_null(),
        }
    }

    /// Completes the frame. The column count written is the number of values pushed, so even a
    /// miscounting caller in a release build emits a DataRow that parses (and that the client
    /// refuses for its column count) rather than one that desynchronises the stream.
    ///
    /// # Panics
    /// If the message exceeds `i32::MAX` bytes, or (debug builds) if the number of values
    /// pushed differs from the count given to [`DataRowWriter::new`].
    pub fn finish(mut self) {
        debug_assert_eq!(
            self.pushed, self.columns,
            "DataRow declared {} columns but {} values were pushed",
            self.columns, self.pushed
        );
        let len = i32::try_from(self.buf.len() - self.start - 1)
            .expect("a PostgreSQL message cannot be longer than i32::MAX bytes");
        let count = column_count(self.pushed);
        let (len_at, count_at) = (self.start + 1, self.start + HEADER_LEN);
        self.buf[len_at..count_at].copy_from_slice(&len.to_be_bytes());
        self.buf[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
        self.finished = true;
    }
}

impl Drop for DataRowWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.start);
        }
    }
}

/// A CopyInResponse ('G'), CopyOutResponse ('H') or CopyBothResponse ('W'); which one is the
/// frame's tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyResponse {
    /// The overall format as sent (`Int8`): 0 text, 1 binary.
    pub format: u8,
    /// One format code per column, as sent: 0 text, 1 binary (all 0 when `format` is 0).
    pub column_formats: Vec<i16>,
}

/// Decodes a Copy{In,Out,Both}Response. Format codes are returned as sent, not checked: the
/// upstream server is the authority on them and the gateway relays them unchanged.
pub fn decode_copy_response(frame: &Frame) -> Result<CopyResponse, ProtocolError> {
    if !matches!(
        frame.tag,
        tag::COPY_IN_RESPONSE | tag::COPY_OUT_RESPONSE | tag::COPY_BOTH_RESPONSE
    ) {
        return Err(ProtocolError::Malformed("not a CopyResponse"));
    }
    let mut r = Reader::new(frame.body());
    let format = r.u8()?;
    let count = r.count()?;
    let mut column_formats = Vec::with_capacity(bounded_capacity(count, &r, 2));
    for _ in 0..count {
        column_formats.push(r.i16()?);
    }
    r.finish()?;
    Ok(CopyResponse {
        format,
        column_formats,
    })
}

/// Decodes a ParameterDescription ('t'): the type OID of each parameter of a prepared
/// statement.
pub fn decode_parameter_description(frame: &Frame) -> Result<Vec<u32>, ProtocolError> {
    expect_tag(
        frame,
        tag::PARAMETER_DESCRIPTION,
        "not a ParameterDescription",
    )?;
    let mut r = Reader::new(frame.body());
    let count = r.count()?;
    let mut types = Vec::with_capacity(bounded_capacity(count, &r, 4));
    for _ in 0..count {
        types.push(r.u32()?);
    }
    r.finish()?;
    Ok(types)
}

fn expect_tag(frame: &Frame, tag: u8, what: &'static str) -> Result<(), ProtocolError> {
    if frame.tag == tag {
        Ok(())
    } else {
        Err(ProtocolError::Malformed(what))
    }
}

/// An `Int16` column count.
fn column_count(columns: usize) -> i16 {
    i16::try_from(columns).expect("a PostgreSQL row cannot have more than i16::MAX columns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::msg;
    use crate::decode_frame;

    fn frame(bytes: impl AsRef<[u8]>) -> Frame {
        let mut buf = BytesMut::from(bytes.as_ref());
        let frame = decode_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert!(buf.is_empty(), "test bytes hold more than one frame");
        frame
    }

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut buf = BytesMut::new();
        f(&mut buf);
        buf
    }

    fn values<'a>(row: &DataRowFields<'a>) -> Vec<Option<&'a [u8]>> {
        row.iter().collect()
    }

    fn assert_needs_more_at_every_split_point(bytes: &[u8]) {
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decode_frame(&mut buf, 1024), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    fn fields() -> Vec<FieldDescription> {
        vec![
            FieldDescription {
                name: "id".into(),
                table_oid: 16384,
                column: 1,
                type_oid: 23,
                type_size: 4,
                type_modifier: -1,
                format: 0,
            },
            FieldDescription {
                name: "card_number".into(),
                table_oid: 16384,
                column: 2,
                type_oid: 1043,
                type_size: -1,
                type_modifier: 23,
                format: 1,
            },
            FieldDescription {
                name: String::new(),
                table_oid: 0,
                column: 0,
                type_oid: 25,
                type_size: -1,
                type_modifier: -1,
                format: 0,
            },
        ]
    }

    fn data_row(values: &[Option<&[u8]>]) -> BytesMut {
        encoded(|b| {
            let mut row = DataRowWriter::new(b, values.len());
            for value in values {
                row.push_value(*value);
            }
            row.finish();
        })
    }

    #[test]
    fn row_description_round_trips() {
        for fields in [fields(), vec![]] {
            let bytes = encoded(|b| encode_row_description(&fields, b));
            assert_eq!(decode_row_description(&frame(&bytes)), Ok(fields));
        }
    }

    #[test]
    fn row_description_matches_the_documented_layout() {
        let bytes = msg(
            b'T',
            b"\0\x01id\0\0\0\x40\0\0\x01\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
        );
        assert_eq!(
            decode_row_description(&frame(&bytes)),
            Ok(fields()[..1].to_vec())
        );
        assert_eq!(
            encoded(|b| encode_row_description(&fields()[..1], b)),
            bytes
        );
    }

    #[test]
    fn row_description_names_are_cut_at_an_interior_nul() {
        let mut fields = fields();
        fields[0].name = "id\0; x".into();
        let bytes = encoded(|b| encode_row_description(&fields, b));
        fields[0].name = "id".into();
        assert_eq!(decode_row_description(&frame(&bytes)), Ok(fields));
    }

    #[test]
    fn data_row_with_nulls_and_empty_strings_round_trips() {
        let row: &[Option<&[u8]>] = &[Some(b"42"), None, Some(b""), Some(b"4111 1111"), None];
        let bytes = data_row(row);
        let frame = frame(&bytes);
        let decoded = decode_data_row(&frame).unwrap();
        assert_eq!(decoded.len(), 5);
        assert!(!decoded.is_empty());
        assert_eq!(values(&decoded), row);
        assert_eq!(decoded.iter().len(), 5);
        assert_eq!(
            &bytes[..],
            b"D\0\0\0\x25\0\x05\0\0\0\x0242\xff\xff\xff\xff\0\0\0\0\0\0\0\x094111 1111\xff\xff\xff\xff"
        );
    }

    #[test]
    fn data_row_with_zero_columns_round_trips() {
        let bytes = data_row(&[]);
        assert_eq!(&bytes[..], b"D\0\0\0\x06\0\0");
        let frame = frame(&bytes);
        let decoded = decode_data_row(&frame).unwrap();
        assert!(decoded.is_empty());
        assert_eq!(decoded.iter().next(), None);
    }

    #[test]
    fn data_row_values_borrow_the_frame() {
        let frame = frame(data_row(&[Some(b"abc")]));
        let row = decode_data_row(&frame).unwrap();
        let value = row.iter().next().flatten().unwrap();
        assert!(frame.raw.as_ptr_range().contains(&value.as_ptr()));
    }

    #[test]
    fn data_row_rewritten_value_by_value_matches_the_original() {
        let original = frame(data_row(&[Some(b"1"), None, Some(b"")]));
        let mut out = BytesMut::new();
        let row = decode_data_row(&original).unwrap();
        let mut writer = DataRowWriter::new(&mut out, row.len());
        for value in &row {
            writer.push_value(value);
        }
        writer.finish();
        assert_eq!(&out[..], &original.raw[..]);
    }

    #[test]
    fn data_row_iteration_is_fused_and_exact() {
        let frame = frame(data_row(&[None, Some(b"x")]));
        let row = decode_data_row(&frame).unwrap();
        let mut it = row.iter();
        assert_eq!(it.size_hint(), (2, Some(2)));
        assert_eq!(it.next(), Some(None));
        assert_eq!(it.next(), Some(Some(&b"x"[..])));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        assert_eq!(it.len(), 0);
    }

    #[test]
    fn writer_appends_after_existing_frames() {
        let mut buf = BytesMut::new();
        encode_row_description(&fields()[..1], &mut buf);
        let mut row = DataRowWriter::new(&mut buf, 1);
        row.push(b"7");
        row.finish();
        let description = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(decode_row_description(&description).unwrap().len(), 1);
        let frame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(values(&decode_data_row(&frame).unwrap()), [Some(&b"7"[..])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn writer_dropped_unfinished_leaves_only_whole_frames() {
        let mut buf = BytesMut::new();
        encode_row_description(&fields()[..1], &mut buf);
        let before = buf.clone();
        {
            let mut row = DataRowWriter::new(&mut buf, 2);
            row.push(b"half a row");
        }
        assert_eq!(buf, before);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "declared 2 columns but 1 values were pushed")]
    fn writer_miscount_is_caught_in_debug_builds() {
        let mut buf = BytesMut::new();
        let mut row = DataRowWriter::new(&mut buf, 2);
        row.push_null();
        row.finish();
    }

    #[test]
    fn copy_responses_decode_for_every_tag() {
        for tag in *b"GHW" {
            assert_eq!(
                decode_copy_response(&frame(msg(tag, b"\x01\0\x02\0\x01\0\x01"))),
                Ok(CopyResponse {
                    format: 1,
                    column_formats: vec![1, 1]
                })
            );
            assert_eq!(
                decode_copy_response(&frame(msg(tag, b"\0\0\0"))),
                Ok(CopyResponse {
                    format: 0,
                    column_formats: vec![]
                })
            );
        }
    }

    #[test]
    fn parameter_description_decodes() {
        assert_eq!(
            decode_parameter_description(&frame(msg(b't', b"\0\x02\0\0\0\x17\0\0\x04\x13"))),
            Ok(vec![23, 1043])
        );
        assert_eq!(
            decode_parameter_description(&frame(msg(b't', b"\0\0"))),
            Ok(vec![])
        );
    }

    #[test]
    fn partial_input_at_every_split_point_needs_more_and_consumes_nothing() {
        assert_needs_more_at_every_split_point(&encoded(|b| encode_row_description(&fields(), b)));
        assert_needs_more_at_every_split_point(&data_row(&[Some(b"42"), None, Some(b"")]));
        assert_needs_more_at_every_split_point(&msg(b'H', b"\0\0\x01\0\0"));
        assert_needs_more_at_every_split_point(&msg(b't', b"\0\x01\0\0\0\x17"));
    }

    #[track_caller]
    fn assert_malformed<T: std::fmt::Debug>(result: Result<T, ProtocolError>) {
        assert!(
            matches!(result, Err(ProtocolError::Malformed(_))),
            "{result:?}"
        );
    }

    #[test]
    fn malformed_row_descriptions_are_refused() {
        let valid = encoded(|b| encode_row_description(&fields()[..1], b));
        let body = &valid[HEADER_LEN..];
        // Negative count.
        assert_malformed(decode_row_description(&frame(msg(b'T', b"\xff\xff"))));
        // Two fields declared, one present.
        let mut two = body.to_vec();
        two[1] = 2;
        assert_malformed(decode_row_description(&frame(msg(b'T', &two))));
        // Trailing bytes.
        assert_malformed(decode_row_description(&frame(msg(
            b'T',
            &[body, b"x"].concat(),
        ))));
        // Field cut short, and a name without its NUL.
        assert_malformed(decode_row_description(&frame(msg(
            b'T',
            &body[..body.len() - 1],
        ))));
        assert_malformed(decode_row_description(&frame(msg(b'T', b"\0\x01id"))));
        // Name that is not UTF-8.
        assert_malformed(decode_row_description(&frame(msg(
            b'T',
            &[b"\0\x01\xff".as_slice(), &body[4..]].concat(),
        ))));
        // Missing count, and the wrong tag.
        assert_malformed(decode_row_description(&frame(msg(b'T', b""))));
        assert_malformed(decode_row_description(&frame(msg(b'D', body))));
    }

    #[test]
    fn malformed_data_rows_are_refused() {
        // Negative count.
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\xff\xff"))));
        // Length -2, and the most negative length.
        assert_malformed(decode_data_row(&frame(msg(
            b'D',
            b"\0\x01\xff\xff\xff\xfe",
        ))));
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0\x01\x80\0\0\0"))));
        // A value running past the end.
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0\x01\0\0\0\x05abc"))));
        // A length word cut short.
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0\x01\0\0"))));
        // More columns declared than present.
        assert_malformed(decode_data_row(&frame(msg(
            b'D',
            b"\0\x02\xff\xff\xff\xff",
        ))));
        // Trailing bytes after the last value (and after zero values).
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0\x01\0\0\0\x01ab"))));
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0\0\xff\xff\xff\xff"))));
        // Missing count, and the wrong tag.
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\0"))));
        assert_malformed(decode_data_row(&frame(msg(b'T', b"\0\0"))));
    }

    #[test]
    fn malformed_copy_responses_are_refused() {
        // Negative count, formats past the end, trailing bytes, no format byte, wrong tag.
        assert_malformed(decode_copy_response(&frame(msg(b'H', b"\0\xff\xff"))));
        assert_malformed(decode_copy_response(&frame(msg(b'H', b"\0\0\x02\0\0"))));
        assert_malformed(decode_copy_response(&frame(msg(b'H', b"\0\0\0x"))));
        assert_malformed(decode_copy_response(&frame(msg(b'G', b""))));
        assert_malformed(decode_copy_response(&frame(msg(b'd', b"\0\0\0"))));
    }

    #[test]
    fn malformed_parameter_descriptions_are_refused() {
        // Negative count, OIDs past the end, trailing bytes, no count, wrong tag.
        assert_malformed(decode_parameter_description(&frame(msg(b't', b"\xff\xff"))));
        assert_malformed(decode_parameter_description(&frame(msg(
            b't',
            b"\0\x02\0\0\0\x17",
        ))));
        assert_malformed(decode_parameter_description(&frame(msg(
            b't',
            b"\0\x01\0\0\0\x17\0",
        ))));
        assert_malformed(decode_parameter_description(&frame(msg(b't', b"\0"))));
        assert_malformed(decode_parameter_description(&frame(msg(b'T', b"\0\0"))));
    }

    #[test]
    fn hostile_counts_do_not_reserve_memory_up_front() {
        // 32767 declared fields/OIDs/formats in tiny bodies: refused, after reserving nothing big.
        assert_malformed(decode_row_description(&frame(msg(b'T', b"\x7f\xff"))));
        assert_malformed(decode_parameter_description(&frame(msg(b't', b"\x7f\xff"))));
        assert_malformed(decode_copy_response(&frame(msg(b'W', b"\0\x7f\xff"))));
        assert_malformed(decode_data_row(&frame(msg(b'D', b"\x7f\xff"))));
    }
}
