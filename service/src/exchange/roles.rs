//! Whether the policy role a trust rule grants exists upstream, as the exchange asks it: once
//! synchronously, then from what was seen, re-asked in the background when that is older than
//! [`FRESH_FOR`]. A burst of exchanges never waits on the upstream for a role it has seen, and a
//! role found gone is refused from then on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::base::{ConnectionName, DbRole};
use crate::upstream::{UpstreamError, Upstreams};

/// How long a role seen upstream is taken to exist without asking again.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// How long the exchange waits for the upstream's answer before it goes on without one (an
/// upstream that accepts the query but never answers must not hold the exchange).
pub(super) const ASK_TIMEOUT: Duration = Duration::from_secs(2);

type Key = (ConnectionName, DbRole);

struct Seen {
    at: Instant,
    refreshing: bool,
}

/// Policy roles seen to exist upstream.
pub(super) struct PolicyRoles {
    upstreams: Arc<Upstreams>,
    seen: Arc<Mutex<HashMap<Key, Seen>>>,
}

impl PolicyRoles {
    pub(super) fn new(upstreams: Arc<Upstreams>) -> Self {
        PolicyRoles {
            upstreams,
            seen: Arc::default(),
        }
    }

    /// `Err(ParentRoleMissing)` when the upstream says `role` does not exist; `Ok` when it
    /// exists, was seen to, or cannot be asked now (the first connection reports the problem).
    pub(super) async fn check(
        &self,
        connection: &ConnectionName,
        role: &DbRole,
    ) -> Result<(), UpstreamError> {
        let key = (connection.clone(), role.clone());
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = seen.get_mut(&key) {
                if s.at.elapsed() >= FRESH_FOR && !s.refreshing {
                    s.refreshing = true;
                    tokio::spawn(refresh(self.upstreams.clone(), self.seen.clone(), key));
                }
                return Ok(());
            }
        }
        match ask(&self.upstreams, &key).await {
            Ok(true) => {
                let seen = Seen {
                    at: Instant::now(),
                    refreshing: false,
                };
                self.seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, seen);
                Ok(())
            }
            Ok(false) => Err(UpstreamError::ParentRoleMissing {
                connection: connection.to_string(),
                role: role.to_string(),
            }),
            Err(e) => {
                tracing::warn!(%connection, role = %role, error = %e, "cannot check that the policy role exists upstream; the exchange goes on");
                Ok(())
            }
        }
    }
}

/// Asks again in the background: a role found gone is forgotten, so the next exchange asks
/// and is refused; one that cannot be asked now is asked again at the next exchange.
async fn refresh(upstreams: Arc<Upstreams>, seen: Arc<Mutex<HashMap<Key, Seen>>>, key: Key) {
    let answer = ask(&upstreams, &key).await;
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    match answer {
        Ok(true) => {
            seen.insert(
                key,
                Seen {
                    at: Instant::now(),
                    refreshing: false,
                },
            );
        }
        Ok(false) => {
            tracing::warn!(target: "hoop::alert", connection = %key.0, role = %key.1, "a policy role the trust rules grant no longer exists upstream: exchanges for it are refused (upstream_role_missing) until it is created");
            seen.remove(&key);
        }
        Err(e) => {
            tracing::warn!(connection = %key.0, role = %key.1, error = %e, "cannot check again that the policy role exists upstream");
            if let Some(s) = seen.get_mut(&key) {
                s.refreshing = false;
            }
        }
    }
}

async fn ask(upstreams: &Upstreams, (connection, role): &Key) -> Result<bool, UpstreamError> {
    tokio::time::timeout(
        ASK_TIMEOUT,
        upstreams.role_exists(connection, role.as_str()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(UpstreamError::Unavailable {
            connection: connection.to_string(),
            reason: format!("no answer within {} s", ASK_TIMEOUT.as_secs()),
        })
    })
}
