//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres's `auth-scram.c` runs it,
//! against a stored [`ScramVerifier`]: the gateway authenticates a run without ever holding its
//! password.
//!
//! Architecture Invariant: this module does no I/O. The gateway carries the bytes of
//! `SASLInitialResponse` / `SASLResponse` in and `AuthenticationSASLContinue` /
//! `AuthenticationSASLFinal` out; a failed exchange is reported to the client as Postgres does,
//! with one generic "password authentication failed" whatever the [`ScramServerError`] was.

use crate::base::hash::{hmac_sha256, sha256};
use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::ScramVerifier;

/// Postgres's `SCRAM_RAW_NONCE_LEN`: 18 random bytes, 24 base64 characters.
const SERVER_NONCE_LEN: usize = 18;
/// SCRAM messages are a few hundred bytes (libpq's client-final-message is ~100); a cap keeps
/// hostile input from costing memory or time. Postgres caps SASL messages at 64 KiB
/// (`PG_MAX_AUTH_TOKEN_LENGTH`); nothing legitimate comes close to this smaller limit.
const MAX_MESSAGE_LEN: usize = 4096;
/// Salt length of the verifiers hoop generates (`scram::SALT_LEN`); mock verifiers use the same
/// so an unknown user's `s=` looks like a real one.
const MOCK_SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// A SCRAM-SHA-256 exchange, server side, for one connection.
///
/// The gateway offers [`ScramServer::MECHANISM`] in `AuthenticationSASL` and then calls, in
/// this order and once each:
/// 1. [`ScramServer::new`] with the stored verifier of the startup user (`None` if there is none),
/// 2. [`ScramServer::client_first`] with the `SASLInitialResponse` data; sends the result as
///    `AuthenticationSASLContinue`,
/// 3. [`ScramServer::client_final`] with the `SASLResponse` data; on `Ok` sends the result as
///    `AuthenticationSASLFinal`, then `AuthenticationOk`. The client is authenticated **only**
///    when this returns `Ok`.
///
/// Any other order gives [`ScramServerError::OutOfOrder`], and after any error the exchange is
/// over: every later call is out of order too, so a client cannot retry a proof on one exchange.
///
/// Only `SCRAM-SHA-256` is offered, not `SCRAM-SHA-256-PLUS`: channel binding
/// (`tls-server-end-point`) needs the hash of the gateway's TLS certificate, which this type does
/// not know yet. When it is offered, a `y,,` gs2 header must start being refused (it would then
/// mean a downgrade attack, as in Postgres); see [`ScramServer::client_first`].
#[derive(Debug)]
pub struct ScramServer {
    verifier: ScramVerifier,
    /// True for an unknown user: the exchange runs on a mock verifier and fails at the proof.
    doomed: bool,
    server_nonce: String,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for the client-first-message.
    Initial,
    /// server-first-message sent, waiting for the client-final-message.
    FirstSent {
        /// `c=` value the client-final-message must carry: base64 of the gs2 header.
        channel_binding: &'static str,
        client_first_bare: String,
        server_first: String,
        /// client nonce + server nonce, the `r=` of the client-final-message.
        nonce: String,
    },
    /// Succeeded or failed; nothing more is accepted.
    Done,
}

/// Why an exchange failed. For the gateway's logs: the client is only told that password
/// authentication failed, as Postgres does.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramServerError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error(
        "the client requires SCRAM channel binding (SCRAM-SHA-256-PLUS), which the gateway does \
         not offer yet; connect with channel_binding=prefer or channel_binding=disable"
    )]
    ChannelBindingNotSupported,
    #[error("the nonce of the client-final-message is not the one of this exchange")]
    NonceMismatch,
    #[error("the SCRAM proof is wrong (wrong password or unknown user)")]
    InvalidProof,
    #[error("SCRAM message out of order (the exchange is over or has not started)")]
    OutOfOrder,
}

impl ScramServer {
    /// The SASL mechanism name sent in `AuthenticationSASL`.
    pub const MECHANISM: &'static str = "SCRAM-SHA-256";

    /// Starts an exchange for the startup user `username`.
    ///
    /// `verifier` None = unknown user: the exchange runs against a deterministic fake verifier
    /// (salt and keys are HMACs of the user name under `mock_key`, like Postgres's mock
    /// authentication) so the client cannot tell unknown users from wrong passwords by the flow,
    /// the salt, or the timing; it always fails at the proof. `mock_key` should be a server
    /// secret that is stable across restarts, so an unknown user's salt never changes either.
    pub fn new(verifier: Option<ScramVerifier>, username: &str, mock_key: &[u8]) -> Self {
        let mut raw = [0u8; SERVER_NONCE_LEN];
        super::fill_random(&mut raw);
        Self::with_server_nonce(verifier, username, mock_key, STANDARD.encode(raw))
    }

    fn with_server_nonce(
        verifier: Option<ScramVerifier>,
        username: &str,
        mock_key: &[u8],
        server_nonce: String,
    ) -> Self {
        let (verifier, doomed) = match verifier {
            Some(v) => (v, false),
            None => (mock_verifier(username, mock_key), true),
        };
        ScramServer {
            verifier,
            doomed,
            server_nonce,
            state: State::Initial,
        }
    }

    /// Replays an exchange with a fixed server nonce; tests only, a real nonce must be random.
    #[cfg(test)]
    fn with_fixed_nonce(verifier: Option<ScramVerifier>, server_nonce: &str) -> Self {
        Self::with_server_nonce(verifier, "", b"test mock key", server_nonce.to_owned())
    }

    /// SASLInitialResponse data (client-first-message) → server-first-message.
    ///
    /// Accepts the gs2 headers `n,,` (no channel binding) and `y,,` (the client supports channel
    /// binding but thinks the server does not: true, we offer no `-PLUS`). Refuses `p=…`
    /// (channel binding requested) and an authorization identity (`n,a=…`), as Postgres does.
    /// The user name in the message is ignored: Postgres authenticates the startup user, and
    /// libpq sends an empty one.
    pub fn client_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramServerError> {
        if !matches!(self.state, State::Initial) {
            self.state = State::Done;
            return Err(ScramServerError::OutOfOrder);
        }
        // Whatever happens next, this exchange is not in its initial state any more.
        self.state = State::Done;
        let text = message_text(data)?;
        let (channel_binding, client_first_bare) = parse_gs2_header(text)?;
        let client_nonce = parse_client_first_bare(client_first_bare)?;

        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        self.state = State::FirstSent {
            channel_binding,
            client_first_bare: client_first_bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first.into_bytes())
    }

    /// SASLResponse data (client-final-message) → server-final-message (`v=…`) when the proof
    /// verifies; the client is authenticated only then.
    ///
    /// Checks, in Postgres's order: the channel-binding attribute matches the gs2 header
    /// (`c=biws` for `n,,`, `c=eSws` for `y,,`), the nonce is this exchange's combined nonce,
    /// then the proof, compared in constant time.
    pub fn client_final(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramServerError> {
        let State::FirstSent {
            channel_binding,
            client_first_bare,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramServerError::OutOfOrder);
        };
        let text = message_text(data)?;
        let final_message = parse_client_final(text)?;
        if final_message.channel_binding != channel_binding {
            return Err(ScramServerError::Malformed(
                "the channel-binding attribute does not match the gs2 header",
            ));
        }
        if final_message.nonce != nonce {
            return Err(ScramServerError::NonceMismatch);
        }

        let auth_message = format!(
            "{client_first_bare},{server_first},{}",
            final_message.without_proof
        );
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof holds iff
        // H(ClientKey) = StoredKey. A mock verifier goes through the same computation so an
        // unknown user costs the same time as a wrong password.
        let client_signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; KEY_LEN];
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(final_message.proof.iter().zip(client_signature))
        {
            *k = p ^ s;
        }
        let candidate = sha256(&client_key);
        let matches =
            constant_time::verify_slices_are_equal(candidate.as_ref(), &self.verifier.stored_key)
                .is_ok();
        if !matches || self.doomed {
            return Err(ScramServerError::InvalidProof);
        }

        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

/// The fake verifier of an unknown user: deterministic per user (a client that asks twice sees
/// the same salt, as for a real user) and unguessable without `mock_key`. Its keys match no
/// password anyone knows, and `doomed` fails the exchange even if one did.
fn mock_verifier(username: &str, mock_key: &[u8]) -> ScramVerifier {
    let derive = |label: &[u8]| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, mock_key);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(label);
        ctx.update(&[0]);
        ctx.update(username.as_bytes());
        let tag = ctx.sign();
        <[u8; KEY_LEN]>::try_from(tag.as_ref()).expect("HMAC-SHA-256 is 32 bytes")
    };
    ScramVerifier {
        iterations: super::scram::ITERATIONS,
        salt: derive(b"hoop scram mock salt")[..MOCK_SALT_LEN].to_vec(),
        stored_key: derive(b"hoop scram mock stored key"),
        server_key: derive(b"hoop scram mock server key"),
    }
}

/// SCRAM messages are printable text; NUL would also end the string on the Postgres wire.
fn message_text(data: &[u8]) -> Result<&str, ScramServerError> {
    if data.is_empty() {
        return Err(ScramServerError::Malformed("empty message"));
    }
    if data.len() > MAX_MESSAGE_LEN {
        return Err(ScramServerError::Malformed("message too long"));
    }
    if data.contains(&0) {
        return Err(ScramServerError::Malformed("NUL byte in message"));
    }
    std::str::from_utf8(data).map_err(|_| ScramServerError::Malformed("message is not UTF-8"))
}

/// Splits the gs2 header off a client-first-message: (`c=` value to expect, client-first-bare).
fn parse_gs2_header(text: &str) -> Result<(&'static str, &str), ScramServerError> {
    let (channel_binding, rest) = if let Some(rest) = text.strip_prefix("n,") {
        ("biws", rest) // base64("n,,")
    } else if let Some(rest) = text.strip_prefix("y,") {
        ("eSws", rest) // base64("y,,")
    } else if text.starts_with("p=") {
        return Err(ScramServerError::ChannelBindingNotSupported);
    } else {
        return Err(ScramServerError::Malformed(
            "the gs2 channel-binding flag must be n, y or p",
        ));
    };
    if rest.starts_with("a=") {
        return Err(ScramServerError::Malformed(
            "authorization identities (a=) are not supported",
        ));
    }
    let bare = rest.strip_prefix(',').ok_or(ScramServerError::Malformed(
        "the gs2 header must end with an empty authorization identity",
    ))?;
    Ok((channel_binding, bare))
}

/// client-first-bare = [reserved-mext ","] username "," nonce ["," extensions] → the nonce.
fn parse_client_first_bare(bare: &str) -> Result<&str, ScramServerError> {
    let mut attrs = bare.split(',');
    let user = attrs.next().unwrap_or_default();
    if user.starts_with("m=") {
        return Err(ScramServerError::Malformed(
            "mandatory SCRAM extensions (m=) are not supported",
        ));
    }
    // The value is ignored (Postgres uses the startup user), but the attribute must be there.
    if !user.starts_with("n=") {
        return Err(ScramServerError::Malformed(
            "client-first-message has no user name attribute (n=)",
        ));
    }
    let nonce = attribute(attrs.next(), "r=", "client-first-message has no nonce (r=)")?;
    // RFC 5802: printable ASCII except ','. We echo it in server-first, so check it.
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ScramServerError::Malformed(
            "the client nonce must be non-empty printable ASCII",
        ));
    }
    check_extensions(attrs)?;
    Ok(nonce)
}

struct ClientFinal<'a> {
    channel_binding: &'a str,
    nonce: &'a str,
    /// client-final-message-without-proof, the last part of the AuthMessage.
    without_proof: &'a str,
    proof: [u8; KEY_LEN],
}

/// client-final-message = "c=" cbind "," "r=" nonce ["," extensions] "," "p=" proof.
fn parse_client_final(text: &str) -> Result<ClientFinal<'_>, ScramServerError> {
    // Values cannot contain ',', so the last ",p=" starts the proof; if anything followed the
    // proof it would land in the proof's base64 and fail to decode.
    let (without_proof, proof) = text.rsplit_once(",p=").ok_or(ScramServerError::Malformed(
        "client-final-message has no proof attribute (p=)",
    ))?;
    let mut attrs = without_proof.split(',');
    let channel_binding = attribute(
        attrs.next(),
        "c=",
        "client-final-message has no channel binding (c=)",
    )?;
    let nonce = attribute(attrs.next(), "r=", "client-final-message has no nonce (r=)")?;
    check_extensions(attrs)?;
    let proof = STANDARD
        .decode(proof)
        .ok()
        .and_then(|p| <[u8; KEY_LEN]>::try_from(p).ok())
        .ok_or(ScramServerError::Malformed(
            "the proof is not 32 bytes of base64",
        ))?;
    Ok(ClientFinal {
        channel_binding,
        nonce,
        without_proof,
        proof,
    })
}

/// The value of a required attribute, which must come at this position.
fn attribute<'a>(
    attr: Option<&'a str>,
    prefix: &str,
    missing: &'static str,
) -> Result<&'a str, ScramServerError> {
    attr.and_then(|a| a.strip_prefix(prefix))
        .ok_or(ScramServerError::Malformed(missing))
}

/// Optional extensions are ignored, as in Postgres, but must be well-formed attributes.
fn check_extensions<'a>(attrs: impl Iterator<Item = &'a str>) -> Result<(), ScramServerError> {
    for attr in attrs {
        let b = attr.as_bytes();
        if b.len() < 2 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
            return Err(ScramServerError::Malformed(
                "expected an attribute of the form x=value",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use aws_lc_rs::pbkdf2;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    use super::*;

    const MOCK_KEY: &[u8] = b"a stable server secret";

    fn server_for(password: &str) -> ScramServer {
        ScramServer::new(
            Some(ScramVerifier::generate(password)),
            "run-1-1-abcdef",
            MOCK_KEY,
        )
    }

    /// Runs a whole exchange with postgres-protocol's client (the one tokio-postgres uses).
    fn exchange(
        server: &mut ScramServer,
        password: &str,
        cb: ChannelBinding,
    ) -> Result<(), ScramServerError> {
        let mut client = ScramSha256::new(password.as_bytes(), cb);
        let server_first = server.client_first(client.message())?;
        client
            .update(&server_first)
            .expect("client accepts server-first");
        let server_final = server.client_final(client.message())?;
        client
            .finish(&server_final)
            .expect("client accepts our server signature");
        Ok(())
    }

    #[test]
    fn right_password_authenticates_and_client_verifies_the_server() {
        let mut server = server_for("s3cret");
        exchange(&mut server, "s3cret", ChannelBinding::unsupported()).unwrap(); // "n,,"
        let mut server = server_for("s3cret");
        exchange(&mut server, "s3cret", ChannelBinding::unrequested()).unwrap(); // "y,,"
    }

    #[test]
    fn verifiers_from_postgres_protocol_work_too() {
        let stored = postgres_protocol::password::scram_sha_256(b"pg-made");
        let verifier = ScramVerifier::parse(&stored).unwrap();
        let mut server = ScramServer::new(Some(verifier), "u", MOCK_KEY);
        exchange(&mut server, "pg-made", ChannelBinding::unrequested()).unwrap();
    }

    #[test]
    fn wrong_password_fails_at_the_proof() {
        let mut server = server_for("s3cret");
        let err = exchange(&mut server, "s3creT", ChannelBinding::unrequested()).unwrap_err();
        assert_eq!(err, ScramServerError::InvalidProof);
        // The exchange is over: no second try on the same one.
        assert_eq!(
            server.client_final(b"c=eSws,r=x,p=AA==").unwrap_err(),
            ScramServerError::OutOfOrder
        );
    }

    #[test]
    fn unknown_user_goes_through_the_same_flow_and_fails_at_the_proof() {
        let mut server = ScramServer::new(None, "nobody", MOCK_KEY);
        let mut client = ScramSha256::new(b"guess", ChannelBinding::unrequested());
        let server_first = server.client_first(client.message()).unwrap();
        let text = String::from_utf8(server_first.clone()).unwrap();
        // Looks like a real user's: a 16-byte salt and the usual iteration count.
        let salt = text.split(",s=").nth(1).unwrap().split(',').next().unwrap();
        assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);
        assert!(text.ends_with(&format!(",i={}", super::super::scram::ITERATIONS)));
        client.update(&server_first).unwrap();
        assert_eq!(
            server.client_final(client.message()).unwrap_err(),
            ScramServerError::InvalidProof
        );

        // Same user, same salt; another user or another key, another salt.
        let salt_of = |user: &str, key: &[u8]| {
            let mut s = ScramServer::new(None, user, key);
            let first = s.client_first(b"n,,n=,r=abc").unwrap();
            let first = String::from_utf8(first).unwrap();
            first.split(",s=").nth(1).unwrap().to_owned()
        };
        assert_eq!(salt_of("nobody", MOCK_KEY), salt_of("nobody", MOCK_KEY));
        assert_ne!(salt_of("nobody", MOCK_KEY), salt_of("nobody2", MOCK_KEY));
        assert_ne!(salt_of("nobody", MOCK_KEY), salt_of("nobody", b"other"));
    }

    #[test]
    fn tampered_nonce_is_refused() {
        let mut server = server_for("s3cret");
        let mut client = ScramSha256::new(b"s3cret", ChannelBinding::unrequested());
        let server_first = server.client_first(client.message()).unwrap();
        client.update(&server_first).unwrap();
        let honest = String::from_utf8(client.message().to_vec()).unwrap();
        // Drop the last character of the combined nonce.
        let (before, proof) = honest.rsplit_once(",p=").unwrap();
        let tampered = format!("{},p={proof}", &before[..before.len() - 1]);
        assert_eq!(
            server.client_final(tampered.as_bytes()).unwrap_err(),
            ScramServerError::NonceMismatch
        );
    }

    #[test]
    fn channel_binding_requests_are_refused() {
        let mut server = server_for("s3cret");
        let client = ScramSha256::new(b"s3cret", ChannelBinding::tls_server_end_point(vec![1; 32]));
        assert!(client.message().starts_with(b"p=tls-server-end-point,,"));
        assert_eq!(
            server.client_first(client.message()).unwrap_err(),
            ScramServerError::ChannelBindingNotSupported
        );
    }

    #[test]
    fn channel_binding_attribute_must_match_the_gs2_header() {
        let mut server = server_for("s3cret");
        let mut client = ScramSha256::new(b"s3cret", ChannelBinding::unrequested()); // y,,
        let server_first = server.client_first(client.message()).unwrap();
        client.update(&server_first).unwrap();
        let honest = String::from_utf8(client.message().to_vec()).unwrap();
        let downgraded = honest.replacen("c=eSws", "c=biws", 1);
        assert!(matches!(
            server.client_final(downgraded.as_bytes()),
            Err(ScramServerError::Malformed(_))
        ));
    }

    #[test]
    fn messages_out_of_order_are_refused() {
        let mut server = server_for("s3cret");
        assert_eq!(
            server.client_final(b"c=biws,r=abc,p=AA==").unwrap_err(),
            ScramServerError::OutOfOrder
        );
        // And that ended the exchange.
        assert_eq!(
            server.client_first(b"n,,n=,r=abc").unwrap_err(),
            ScramServerError::OutOfOrder
        );

        let mut server = server_for("s3cret");
        server.client_first(b"n,,n=,r=abc").unwrap();
        assert_eq!(
            server.client_first(b"n,,n=,r=abc").unwrap_err(),
            ScramServerError::OutOfOrder
        );

        let mut server = server_for("s3cret");
        exchange(&mut server, "s3cret", ChannelBinding::unrequested()).unwrap();
        assert_eq!(
            server.client_first(b"n,,n=,r=abc").unwrap_err(),
            ScramServerError::OutOfOrder
        );
    }

    #[test]
    fn malformed_client_first_messages_are_refused() {
        let huge = format!("n,,n=,r={}", "a".repeat(MAX_MESSAGE_LEN));
        let cases: &[&[u8]] = &[
            b"",
            b"garbage",
            b"n",
            b"n,",
            b"n,,",
            b"x,,n=,r=abc",
            b"p",
            b"n,a=admin,n=,r=abc",
            b"n,,r=abc",
            b"n,,n=",
            b"n,,n=,",
            b"n,,n=,r=",
            b"n,,n=,x=abc",
            b"n,,m=ext,n=,r=abc",
            b"n,,n=,r=ab,c",
            b"n,,n=,r=a\x01b",
            b"n,,n=,r=abc,=x",
            b"n,,n=\0,r=abc",
            b"n,,n=\xff,r=abc",
            huge.as_bytes(),
        ];
        for case in cases {
            let mut server = server_for("s3cret");
            assert!(
                matches!(
                    server.client_first(case),
                    Err(ScramServerError::Malformed(_))
                ),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
        // Optional extensions are ignored, as in Postgres.
        server_for("s3cret")
            .client_first(b"n,,n=someone,r=abc,x=ext")
            .unwrap();
    }

    #[test]
    fn malformed_client_final_messages_are_refused() {
        let fixed = |server: &mut ScramServer| {
            server.client_first(b"n,,n=,r=abc").unwrap();
        };
        let proof = STANDARD.encode([0u8; 32]);
        let nonce = "abcSERVERNONCE";
        let huge = format!("c=biws,r={nonce},p={}", "A".repeat(MAX_MESSAGE_LEN));
        let cases: Vec<String> = vec![
            String::new(),
            "garbage".into(),
            format!("c=biws,r={nonce}"),
            format!("r={nonce},p={proof}"),
            format!("c=biws,p={proof}"),
            format!("c=biws,r={nonce},p=not base64!"),
            format!("c=biws,r={nonce},p=AAAA"),
            format!("c=biws,r={nonce},p={proof},x=after"),
            format!("c=biws,r={nonce},=bad,p={proof}"),
            format!("c=eSws,r={nonce},p={proof}"),
            format!("c=biws,r={nonce},p="),
            huge,
        ];
        for case in cases {
            let mut server = ScramServer::with_fixed_nonce(
                Some(ScramVerifier::generate("s3cret")),
                "SERVERNONCE",
            );
            fixed(&mut server);
            assert!(
                matches!(
                    server.client_final(case.as_bytes()),
                    Err(ScramServerError::Malformed(_))
                ),
                "{case:?}"
            );
        }
        // Well-formed but wrong: a zero proof is an invalid proof, not a malformed message.
        let mut server =
            ScramServer::with_fixed_nonce(Some(ScramVerifier::generate("s3cret")), "SERVERNONCE");
        fixed(&mut server);
        assert_eq!(
            server
                .client_final(format!("c=biws,r={nonce},x=ext,p={proof}").as_bytes())
                .unwrap_err(),
            ScramServerError::InvalidProof
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz; the real one belongs in a cargo-fuzz target.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"npyrcmsia=,,,=0123456789+/ABCxyz\0\xff";
        for len in 0..200 {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let mut server = server_for("s3cret");
            let _ = server.client_first(&bytes);
            let mut server = server_for("s3cret");
            server.client_first(b"n,,n=,r=abc").unwrap();
            let _ = server.client_final(&bytes);
        }
    }

    /// The verifier Postgres would store for `password`, computed here independently of
    /// `ScramVerifier` (RFC 5802 §3).
    fn verifier(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap(),
            salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    #[test]
    fn replays_the_rfc_7677_exchange() {
        // RFC 7677 §3: user "user", password "pencil".
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mut server = ScramServer::with_fixed_nonce(
            Some(verifier("pencil", &salt, 4096)),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        let server_first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&server_first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&server_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn server_nonces_are_random_and_long_enough() {
        let first = |s: &mut ScramServer| String::from_utf8(s.client_first(b"n,,n=,r=c").unwrap());
        let a = first(&mut server_for("x")).unwrap();
        let b = first(&mut server_for("x")).unwrap();
        let nonce = |m: &str| {
            m.strip_prefix("r=c")
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(nonce(&a), nonce(&b));
        assert_eq!(STANDARD.decode(nonce(&a)).unwrap().len(), SERVER_NONCE_LEN);
    }
}
