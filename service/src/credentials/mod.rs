//! Ephemeral credentials: the user name a run connects as and the password returned once.
//!
//! Architecture Invariant: a credential's password exists in the clear only in the exchange
//! response; hoop stores a SCRAM-SHA-256 verifier ([`ScramVerifier`]) and nothing from which
//! the password can be recovered.

mod scram;
mod scram_server;

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::base::{CredentialId, Secret};
use crate::identity::RunIdentity;

pub use scram::{ScramError, ScramVerifier};
pub use scram_server::{ScramServer, ScramServerError};

/// The database user name of a credential: `run-<run_id>-<attempt>-<6 random chars>`.
/// It is also the name of the per-run upstream role, so a DBA sees the run in `pg_stat_activity`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Builds the user name for a run. Run ids are digits (checked when the token was parsed);
    /// the random suffix keeps two exchanges of one run apart.
    pub fn for_run(run: &RunIdentity) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = [0u8; 6];
        fill_random(&mut raw);
        let suffix: String = raw
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        // Postgres truncates identifiers at 63 bytes; the run id is capped so the suffix survives.
        let run_id: String = run.run_id.as_str().chars().take(32).collect();
        Username(format!("run-{run_id}-{}-{suffix}", run.attempt))
    }
}

impl Username {
    /// A user name read back from hoop's own state.
    pub fn from_stored(name: String) -> Self {
        Username(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A freshly generated password: 32 random bytes, base64url (43 ASCII characters, so SASLprep
/// leaves it unchanged).
pub fn generate_password() -> Secret {
    let mut raw = [0u8; 32];
    fill_random(&mut raw);
    Secret::new(URL_SAFE_NO_PAD.encode(raw))
}

/// The secret that revokes one credential and does nothing else: `hoop-revoke.` and the
/// base64url `HMAC-SHA-256(key, "hoop revoke token v1\0" || credential id)`. Handed out once,
/// in the exchange response; hoop stores nothing for it, so any replica sharing the key checks
/// it. It outlives the job's id token, which is what a job that timed out still has to revoke
/// with.
pub struct RevokeToken;

impl RevokeToken {
    pub const PREFIX: &'static str = "hoop-revoke.";

    /// The token of credential `id` under `key`.
    pub fn issue(key: &[u8; 32], id: CredentialId) -> Secret {
        Secret::new(format!(
            "{}{}",
            Self::PREFIX,
            URL_SAFE_NO_PAD.encode(Self::mac(key, id))
        ))
    }

    /// Whether `presented` is the token of credential `id` under `key`, in constant time.
    pub fn verify(key: &[u8; 32], id: CredentialId, presented: &str) -> bool {
        let Some(encoded) = presented.strip_prefix(Self::PREFIX) else {
            return false;
        };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(encoded) else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(&mac, &Self::mac(key, id)).is_ok()
    }

    fn mac(key: &[u8; 32], id: CredentialId) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
        ctx.update(b"hoop revoke token v1\0");
        ctx.update(id.to_string().as_bytes());
        ctx.sign()
            .as_ref()
            .try_into()
            .expect("HMAC-SHA-256 is 32 bytes")
    }
}

fn fill_random(buf: &mut [u8]) {
    // The system RNG failing is not a condition hoop can continue under.
    SystemRandom::new()
        .fill(buf)
        .expect("the system random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoke_token_verifies_for_its_credential_and_key_only() {
        let (key, other_key) = ([7u8; 32], [8u8; 32]);
        let (id, other_id) = (CredentialId::new_random(), CredentialId::new_random());
        let token = RevokeToken::issue(&key, id);
        let text = token.expose();
        assert!(text.starts_with(RevokeToken::PREFIX), "{text}");
        assert!(RevokeToken::verify(&key, id, text));
        assert!(!RevokeToken::verify(&other_key, id, text));
        assert!(!RevokeToken::verify(&key, other_id, text));
        for forged in [
            "",
            RevokeToken::PREFIX,
            &text[RevokeToken::PREFIX.len()..],
            &format!("{text}A"),
            &text[..text.len() - 1],
            &format!("{}!!", RevokeToken::PREFIX),
        ] {
            assert!(!RevokeToken::verify(&key, id, forged), "{forged:?}");
        }
    }
    use crate::identity::{Provider, RunId};

    fn run(run_id: &str, attempt: u32) -> RunIdentity {
        RunIdentity {
            provider: Provider::Github,
            repository: "acme/payments".into(),
            repository_id: "1".into(),
            owner: "acme".into(),
            owner_id: "2".into(),
            run_id: RunId::new(run_id).unwrap(),
            attempt,
            job_id: None,
            git_ref: None,
            sha: None,
            workflow: None,
            environment: None,
            actor: None,
            actor_id: None,
            event: None,
            pull_request: false,
            run_url: None,
        }
    }

    #[test]
    fn usernames_show_the_run_and_differ_per_exchange() {
        let a = Username::for_run(&run("12345", 2));
        let b = Username::for_run(&run("12345", 2));
        assert!(
            a.0.starts_with("run-12345-2-") && a.0.len() == "run-12345-2-".len() + 6,
            "{a}"
        );
        assert_ne!(a, b);
        let long = Username::for_run(&run(&"9".repeat(20), 3));
        assert!(long.0.len() <= 63, "{long}");
    }

    #[test]
    fn passwords_are_32_random_bytes() {
        let a = generate_password();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a, generate_password());
    }
}
