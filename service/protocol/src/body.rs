//! Reading and writing message bodies. Decoders read through [`Reader`], which checks every
//! length against the bytes present; encoders frame through [`write_tagged`]/[`write_untagged`],
//! so a length word is always measured, never hand-counted.

use bytes::{BufMut, BytesMut};

use crate::ProtocolError;

/// A cursor over one message body. Every read is bounds-checked and fails with
/// [`ProtocolError::Malformed`], so decoders never index past the end.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(ProtocolError::Malformed(
                "field runs past the end of the message",
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let bytes = self.take(N)?;
        // `take` returned exactly N bytes, so the conversion cannot fail.
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i16(&mut self) -> Result<i16, ProtocolError> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, ProtocolError> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        self.array().map(u32::from_be_bytes)
    }

    /// An `Int16` element count. Negative counts are refused rather than read as zero.
    pub(crate) fn count(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(self.i16()?).map_err(|_| ProtocolError::Malformed("negative count"))
    }

    /// A C string's bytes, without the NUL.
    pub(crate) fn cstr_bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let end = memchr::memchr(0, self.buf).ok_or(ProtocolError::Malformed(
            "string is missing its NUL terminator",
        ))?;
        let s = self.take(end)?;
        self.buf = &self.buf[1..];
        Ok(s)
    }

    /// A C string that must be UTF-8: names and SQL the gateway inspects or records.
    pub(crate) fn cstr(&mut self) -> Result<&'a str, ProtocolError> {
        std::str::from_utf8(self.cstr_bytes()?)
            .map_err(|_| ProtocolError::Malformed("string is not valid UTF-8"))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Ends decoding. Trailing bytes are refused, as Postgres does (`pq_getmsgend`): two parsers
    /// that disagree on where a message ends are how smuggled statements get past an inspector.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::Malformed("trailing bytes after the message"))
        }
    }
}

/// Capacity for a vector of `count` elements each at least `min_wire_size` bytes on the wire:
/// never more than the body could hold, so a 10-byte message cannot reserve megabytes.
pub(crate) fn bounded_capacity(count: usize, reader: &Reader<'_>, min_wire_size: usize) -> usize {
    count.min(reader.remaining() / min_wire_size.max(1))
}

/// Writes one tagged message: tag, length word, then whatever `body` writes.
pub(crate) fn write_tagged(tag: u8, buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(tag);
    write_untagged(buf, body);
}

/// Writes a length word followed by `body`. The length counts itself and the body, never a tag.
///
/// # Panics
/// If the message exceeds `i32::MAX` bytes, which the protocol cannot express.
pub(crate) fn write_untagged(buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_i32(0);
    body(buf);
    let len = i32::try_from(buf.len() - start)
        .expect("a PostgreSQL message cannot be longer than i32::MAX bytes");
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Writes `s` as a C string. A string cannot carry a NUL on the wire, so `s` is cut at its first
/// NUL: that is what any C-string reader would see anyway, and the frame stays well formed.
pub(crate) fn put_cstr(buf: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    buf.put_slice(&bytes[..end]);
    buf.put_u8(0);
}

/// A tagged message with `body`, for tests that exercise decoders on hand-written bodies.
#[cfg(test)]
pub(crate) fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write_tagged(tag, &mut buf, |b| b.put_slice(body));
    buf.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_measures_the_length_word() {
        assert_eq!(msg(b'Q', b"x\0"), b"Q\0\0\0\x06x\0");
    }

    #[test]
    fn reader_refuses_reads_past_the_end() {
        let mut r = Reader::new(&[0, 1, 2]);
        assert!(r.i32().is_err());
        assert_eq!(r.i16(), Ok(1));
        assert!(r.i16().is_err());
        assert_eq!(r.u8(), Ok(2));
        assert!(r.u8().is_err());
    }

    #[test]
    fn cstr_needs_a_nul_and_valid_utf8() {
        assert_eq!(Reader::new(b"abc\0").cstr(), Ok("abc"));
        assert!(Reader::new(b"abc").cstr().is_err());
        assert!(Reader::new(b"\xff\0").cstr().is_err());
        assert_eq!(Reader::new(b"\xff\0").cstr_bytes(), Ok(&b"\xff"[..]));
    }

    #[test]
    fn negative_counts_are_malformed() {
        assert!(Reader::new(&(-1i16).to_be_bytes()).count().is_err());
    }

    #[test]
    fn finish_refuses_trailing_bytes() {
        assert!(Reader::new(b"x").finish().is_err());
        assert!(Reader::new(b"").finish().is_ok());
    }

    #[test]
    fn put_cstr_cuts_at_an_interior_nul() {
        let mut buf = BytesMut::new();
        put_cstr(&mut buf, "select 1\0; drop table t");
        assert_eq!(&buf[..], b"select 1\0");
    }

    #[test]
    fn bounded_capacity_never_exceeds_the_body() {
        let r = Reader::new(&[0; 10]);
        assert_eq!(bounded_capacity(32_767, &r, 4), 2);
        assert_eq!(bounded_capacity(1, &r, 4), 1);
    }
}
