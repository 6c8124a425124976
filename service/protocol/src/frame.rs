//! Framing of tagged messages: one `Byte1` tag, an `Int32` length that counts itself and the
//! body (not the tag), then the body. Every message after startup, in both directions, has this
//! shape, so the gateway splits frames once and only decodes the ones it needs to inspect.

use bytes::{Bytes, BytesMut};

use crate::ProtocolError;

/// Tag plus length word.
pub const HEADER_LEN: usize = 5;

/// One framed message as it came off the wire: its tag and the complete bytes (tag + length +
/// body), so the gateway can relay it without re-encoding.
///
/// Invariant (when built by [`decode_frame`]): `raw[0] == tag` and the length word in `raw`
/// matches `raw.len() - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub raw: Bytes,
}

impl Frame {
    /// The body: everything after the 5-byte header. Empty for a hand-built frame shorter than
    /// a header, so no caller can make this panic.
    pub fn body(&self) -> &[u8] {
        self.raw.get(HEADER_LEN..).unwrap_or_default()
    }
}

/// Splits one tagged message off the front of `buf`. `Ok(None)` = need more bytes (nothing
/// consumed). Same framing both directions.
///
/// `max_len` bounds the declared length (which counts the length word and the body). It is
/// checked as soon as the 5-byte header is present, so an oversized message is refused before
/// its body is buffered.
///
/// Hot path (every DataRow of a large result goes through here): reads the header, then
/// `split_to(..).freeze()`; no allocation beyond that split. It deliberately does not reserve
/// room for an incomplete body: a peer could then make the gateway allocate `max_len` per
/// connection with 5 bytes. The reading side grows the buffer as bytes actually arrive.
pub fn decode_frame(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, ProtocolError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let tag = header[0];
    let len = declared_len([header[1], header[2], header[3], header[4]], 4, max_len)?;
    // `len` excludes the tag; it is at most `max_len`, so `+ 1` cannot overflow in practice,
    // but saturate anyway so a `usize::MAX` limit stays correct.
    let total = len.saturating_add(1);
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(Frame {
        tag,
        raw: buf.split_to(total).freeze(),
    }))
}

/// Validates a length word: at least `min` (the fixed part of the message including the word
/// itself) and at most `max`. Shared with the untagged startup packets.
pub(crate) fn declared_len(word: [u8; 4], min: usize, max: usize) -> Result<usize, ProtocolError> {
    let raw = i32::from_be_bytes(word);
    let len = usize::try_from(raw)
        .ok()
        .filter(|&len| len >= min)
        .ok_or(ProtocolError::InvalidLength(raw))?;
    if len > max {
        return Err(ProtocolError::TooLarge { len, max });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_bytes() -> Vec<u8> {
        b"Q\0\0\0\x0dselect 1\0".to_vec()
    }

    #[test]
    fn splits_one_frame_and_keeps_the_raw_bytes() {
        let mut buf = BytesMut::from(&query_bytes()[..]);
        let frame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(frame.tag, b'Q');
        assert_eq!(&frame.raw[..], &query_bytes()[..]);
        assert_eq!(frame.body(), b"select 1\0");
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_input_at_every_split_point_needs_more_and_consumes_nothing() {
        let bytes = query_bytes();
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decode_frame(&mut buf, 1024), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn oversized_length_is_refused_from_the_header_alone() {
        // 2 GiB - 1 declared, only the header present.
        let mut buf = BytesMut::from(&b"D\x7f\xff\xff\xff"[..]);
        assert_eq!(
            decode_frame(&mut buf, crate::DEFAULT_MAX_MESSAGE_LEN),
            Err(ProtocolError::TooLarge {
                len: 0x7fff_ffff,
                max: crate::DEFAULT_MAX_MESSAGE_LEN
            })
        );
    }

    #[test]
    fn limit_is_inclusive() {
        let mut buf = BytesMut::from(&b"S\0\0\0\x04"[..]);
        assert!(decode_frame(&mut buf, 4).unwrap().is_some());
        let mut buf = BytesMut::from(&b"S\0\0\0\x05x"[..]);
        assert!(matches!(
            decode_frame(&mut buf, 4),
            Err(ProtocolError::TooLarge { len: 5, max: 4 })
        ));
    }

    #[test]
    fn negative_or_short_length_is_invalid() {
        for (bytes, len) in [
            (&b"Q\xff\xff\xff\xff"[..], -1),
            (&b"Q\x80\0\0\0"[..], i32::MIN),
            (&b"Q\0\0\0\0"[..], 0),
            (&b"Q\0\0\0\x03"[..], 3),
        ] {
            let mut buf = BytesMut::from(bytes);
            assert_eq!(
                decode_frame(&mut buf, 1024),
                Err(ProtocolError::InvalidLength(len))
            );
        }
    }

    #[test]
    fn pipelined_frames_come_out_one_by_one() {
        let mut buf = BytesMut::from(&b"P\0\0\0\x08\0\0\0\0S\0\0\0\x04Q\0\0"[..]);
        let tags: Vec<u8> = std::iter::from_fn(|| decode_frame(&mut buf, 1024).unwrap())
            .map(|f| f.tag)
            .collect();
        assert_eq!(tags, b"PS");
        // The truncated Query stays in the buffer untouched.
        assert_eq!(&buf[..], b"Q\0\0");
    }

    #[test]
    fn empty_body_frames_are_fine() {
        let mut buf = BytesMut::from(&b"S\0\0\0\x04"[..]);
        let frame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert!(frame.body().is_empty());
    }

    #[test]
    fn hand_built_short_frame_has_an_empty_body() {
        let frame = Frame {
            tag: b'Q',
            raw: Bytes::from_static(b"Q"),
        };
        assert!(frame.body().is_empty());
    }
}
