//! The one error type of the codec. Every variant means the connection's byte stream can no
//! longer be trusted: the caller should send an error (if it still can) and close.

/// Why bytes could not be decoded as a PostgreSQL protocol message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The declared length is over the caller's limit. Detected from the header alone, before
    /// any of the body is buffered, so a peer cannot make the gateway hold a huge message.
    #[error(
        "message declares {len} bytes, over the {max}-byte limit; send smaller messages or raise the gateway's maximum message size"
    )]
    TooLarge { len: usize, max: usize },
    /// The length word is negative or shorter than the message's fixed header.
    #[error(
        "invalid message length {0}: the peer is not speaking the PostgreSQL protocol, or the stream is out of sync"
    )]
    InvalidLength(i32),
    /// A startup packet asked for a protocol other than 3.x.
    #[error(
        "unsupported protocol version {}.{}: hoop speaks protocol 3.x (PostgreSQL 7.4 and later clients)",
        .0 >> 16,
        .0 & 0xffff
    )]
    UnsupportedVersion(u32),
    /// The body does not match the message's layout (missing NUL, counts past the end, ...).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}
