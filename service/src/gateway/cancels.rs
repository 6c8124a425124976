//! PostgreSQL cancel keys: the key each client gets in BackendKeyData, and where a
//! CancelRequest carrying it goes upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use bytes::Bytes;
use hoop_protocol::startup::CancelKey;
use tokio::sync::Notify;

use crate::upstream::Endpoint;

/// Where a client's CancelRequest goes: the upstream server and the key it gave the gateway.
#[derive(Clone, Debug)]
pub struct CancelTarget {
    pub secret: Bytes,
    pub upstream: Endpoint,
    pub upstream_key: CancelKey,
    /// Woken by a cancel: a statement held for approval is withdrawn.
    pub held: Arc<Notify>,
}

/// Cancel keys of live sessions, by the `pid` clients send back.
#[derive(Clone, Default)]
pub struct Cancels {
    targets: Arc<Mutex<HashMap<i32, Option<CancelTarget>>>>,
}

/// A key handed out; dropping it forgets the key.
pub struct KeyGuard {
    cancels: Cancels,
    pub key: CancelKey,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        self.cancels.table().remove(&self.key.pid);
    }
}

impl Cancels {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Option<CancelTarget>>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh random key (non-zero pid unique on this replica, 4 secret bytes).
    pub fn new_key(&self) -> KeyGuard {
        loop {
            let mut raw = [0u8; 8];
            SystemRandom::new()
                .fill(&mut raw)
                .expect("the system random number generator failed");
            let pid = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]);
            let mut table = self.table();
            if pid != 0 && !table.contains_key(&pid) {
                table.insert(pid, None);
                return KeyGuard {
                    cancels: self.clone(),
                    key: CancelKey {
                        pid,
                        secret: Bytes::copy_from_slice(&raw[4..]),
                    },
                };
            }
        }
    }

    pub fn set_target(&self, pid: i32, target: CancelTarget) {
        if let Some(slot) = self.table().get_mut(&pid) {
            *slot = Some(target);
        }
    }

    /// The target of `key`, compared in constant time; a stale or foreign key has none.
    pub fn target(&self, key: &CancelKey) -> Option<CancelTarget> {
        let table = self.table();
        let target = table.get(&key.pid)?.as_ref()?;
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(&target.secret, &key.secret);
        same.is_ok().then(|| target.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(secret: &Bytes) -> CancelTarget {
        CancelTarget {
            secret: secret.clone(),
            upstream: Endpoint {
                host: "127.0.0.1".into(),
                port: 5432,
                database: "db".into(),
            },
            upstream_key: CancelKey {
                pid: 7,
                secret: Bytes::from_static(b"up"),
            },
            held: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn only_the_exact_live_key_finds_its_target() {
        let cancels = Cancels::default();
        let guard = cancels.new_key();
        let key = guard.key.clone();
        assert!(
            cancels.target(&key).is_none(),
            "no target before login ends"
        );
        cancels.set_target(key.pid, target(&key.secret));
        assert!(cancels.target(&key).is_some());
        let forged = CancelKey {
            pid: key.pid,
            secret: Bytes::from_static(b"nope"),
        };
        assert!(cancels.target(&forged).is_none());
        drop(guard);
        assert!(
            cancels.target(&key).is_none(),
            "a finished session's key cancels nothing"
        );
    }
}
