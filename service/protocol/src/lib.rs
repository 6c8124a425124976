//! # Layout
//!
//! The PostgreSQL frontend/backend wire protocol (version 3.x) as a codec over [`bytes::BytesMut`].
//!
//! - [`frame`]: splits one tagged message (tag, `i32` length, body) off a buffer; the same framing
//!   serves both directions, so the gateway can relay [`Frame::raw`] without re-encoding.
//! - [`startup`]: the untagged first messages of a connection: StartupMessage, SSLRequest,
//!   GSSENCRequest, CancelRequest.
//! - [`frontend`]: client → server messages decoded from a [`Frame`], and the encoders the gateway
//!   uses when it is the client upstream.
//! - [`backend`]: server → client messages decoded from a [`Frame`], and the encoders the gateway
//!   uses to talk to its own clients.
//! - [`rows`]: typed RowDescription, DataRow (zero-copy reader, in-place writer),
//!   ParameterDescription and Copy{In,Out,Both}Response, for the frames the gateway reads or
//!   rewrites rather than relays.
//! - [`error`]: [`ProtocolError`], the one error type of the crate.
//! - `body` (private): the bounds-checked cursor decoders read bodies with, and the writer every
//!   encoder frames its output through.
//!
//! Decoders return `Ok(None)` for an incomplete message ("need more bytes": nothing is consumed)
//! and `Err` only for bytes that can never become a valid message. Names follow
//! <https://www.postgresql.org/docs/current/protocol-message-formats.html>.
//!
//! Strings: hoop sessions run with `client_encoding = UTF8`, so names, SQL text and startup
//! parameters are decoded with [`String::from_utf8`] and invalid UTF-8 is
//! [`ProtocolError::Malformed`]. Only error and notice field values are decoded lossily, because
//! the server may send them before `client_encoding` applies (startup failures).
//!
//! Architecture Invariant: the codec never touches a socket. It does no I/O, depends on no async
//! runtime and holds no policy: callers read bytes into a `BytesMut`, call the decoders, and
//! decide what to do with the result.
//!
//! Architecture Invariant: no input makes a decoder panic; every length and count is checked
//! against the bytes actually present (fuzzed by `fuzz/`).

pub mod backend;
mod body;
pub mod error;
pub mod frame;
pub mod frontend;
pub mod rows;
pub mod startup;

pub use error::ProtocolError;
pub use frame::{Frame, decode_frame};

/// Default cap on one message's declared length (64 MiB). Postgres itself accepts up to 1 GiB
/// per message, but a gateway that buffers each message whole needs a tighter bound per
/// connection; raise it per deployment if clients send larger values.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;
