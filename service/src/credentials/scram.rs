//! SCRAM-SHA-256 verifiers in Postgres's stored format (RFC 5802, RFC 7677).
//!
//! `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>` is what Postgres keeps
//! in `pg_authid.rolpassword`; hoop keeps the same for its credentials, so the gateway can run
//! the server side of SCRAM and never needs the password.

use std::fmt;
use std::num::NonZeroU32;

use crate::base::hash::{hmac_sha256, sha256};
use aws_lc_rs::pbkdf2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Postgres's default; the cost an attacker pays per guess against a stolen verifier.
pub const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; KEY_LEN],
    pub server_key: [u8; KEY_LEN],
}

#[derive(Debug, thiserror::Error)]
pub enum ScramError {
    #[error("not a SCRAM-SHA-256 verifier")]
    Malformed,
}

impl ScramVerifier {
    /// Derives a verifier for `password` with a fresh random salt.
    pub fn generate(password: &str) -> Self {
        let mut salt = vec![0u8; SALT_LEN];
        super::fill_random(&mut salt);
        Self::with_salt(password, salt, ITERATIONS)
    }

    fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let server_key = hmac_sha256(&salted, b"Server Key");
        ScramVerifier {
            iterations,
            salt,
            stored_key,
            server_key,
        }
    }

    /// Checks a password against the verifier in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let candidate = Self::with_salt(password, self.salt.clone(), self.iterations);
        aws_lc_rs::constant_time::verify_slices_are_equal(&candidate.stored_key, &self.stored_key)
            .is_ok()
    }

    pub fn parse(text: &str) -> Result<Self, ScramError> {
        let rest = text
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or(ScramError::Malformed)?;
        let (params, keys) = rest.split_once('$').ok_or(ScramError::Malformed)?;
        let (iterations, salt) = params.split_once(':').ok_or(ScramError::Malformed)?;
        let (stored, server) = keys.split_once(':').ok_or(ScramError::Malformed)?;
        let iterations: u32 = iterations.parse().map_err(|_| ScramError::Malformed)?;
        if iterations == 0 {
            return Err(ScramError::Malformed);
        }
        let decode = |s: &str| STANDARD.decode(s).map_err(|_| ScramError::Malformed);
        let key = |s: &str| -> Result<[u8; KEY_LEN], ScramError> {
            decode(s)?.try_into().map_err(|_| ScramError::Malformed)
        };
        Ok(ScramVerifier {
            iterations,
            salt: decode(salt)?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

/// The Postgres `rolpassword` form; safe to store and to send in `CREATE ROLE … PASSWORD`.
impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScramVerifier(iterations={})", self.iterations)
    }
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_verifies() {
        let v = ScramVerifier::generate("correct horse");
        let parsed = ScramVerifier::parse(&v.to_string()).unwrap();
        assert!(parsed == v);
        assert!(parsed.verify_password("correct horse"));
        assert!(!parsed.verify_password("correct horsf"));
        assert!(!format!("{v:?}").contains(&STANDARD.encode(v.stored_key)));
    }

    #[test]
    fn matches_postgres_protocols_own_verifier() {
        // postgres-protocol computes verifiers the way the Postgres server does; ours must
        // verify against one of its verifiers for the same password.
        let theirs = postgres_protocol::password::scram_sha_256(b"s3cret-pass");
        let v = ScramVerifier::parse(&theirs).unwrap();
        assert!(v.verify_password("s3cret-pass"));
        assert!(!v.verify_password("s3cret-pasS"));
    }

    #[test]
    fn malformed_verifiers_are_refused() {
        for bad in [
            "",
            "md5abc",
            "SCRAM-SHA-256$0:AA==$AA==:AA==",
            "SCRAM-SHA-256$4096:AA==$AA==:AA==",
        ] {
            assert!(ScramVerifier::parse(bad).is_err(), "{bad}");
        }
    }
}
