//! Used token ids: each `jti` is accepted once per issuer until the token expires.

use chrono::{DateTime, Utc};

use deadpool_postgres::GenericClient;

use super::{StateError, Store};
use crate::identity::TokenId;

/// Whether this was the token's first use.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenUse {
    First,
    Replayed,
}

/// Records a token id (call inside the transaction that acts on the token); a second use of the same id is reported as [`TokenUse::Replayed`].
/// The primary key makes this race-free across replicas.
pub async fn use_token(
    client: &impl GenericClient,
    issuer: &str,
    jti: &TokenId,
    expires_at: DateTime<Utc>,
) -> Result<TokenUse, StateError> {
    let inserted = client
        .execute(
            "INSERT INTO hoop_used_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&issuer, &jti.as_str(), &expires_at],
        )
        .await?;
    Ok(if inserted == 1 {
        TokenUse::First
    } else {
        TokenUse::Replayed
    })
}

/// Forgets one use of a token id: for an exchange that consumed the token and then failed on
/// hoop's side (the upstream could not create the role), so the job may send the same token
/// again. A token refused by policy stays used.
pub async fn release_token(
    client: &impl GenericClient,
    issuer: &str,
    jti: &TokenId,
) -> Result<(), StateError> {
    client
        .execute(
            "DELETE FROM hoop_used_tokens WHERE issuer = $1 AND jti = $2",
            &[&issuer, &jti.as_str()],
        )
        .await?;
    Ok(())
}

impl Store {
    /// Forgets token ids whose tokens expired more than `grace` ago (a replay would now fail
    /// on expiry anyway). Returns how many were forgotten.
    pub async fn forget_expired_tokens(&self, grace: chrono::Duration) -> Result<u64, StateError> {
        let cutoff = Utc::now() - grace;
        Ok(self
            .client()
            .await?
            .execute(
                "DELETE FROM hoop_used_tokens WHERE expires_at < $1",
                &[&cutoff],
            )
            .await?)
    }
}
