//! Live sessions of this replica: who to end when a credential stops being live, and where a
//! client's cancel key points upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use bytes::Bytes;
use hoop_protocol::startup::CancelKey;
use tokio::sync::{Notify, watch};

use crate::base::CredentialId;
use crate::base::SessionId;
use crate::upstream::Endpoint;

/// Why the gateway ends a session on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Revoked,
    Expired,
    Shutdown,
}

impl Ending {
    /// The FATAL message the client sees.
    pub fn message(&self) -> &'static str {
        match self {
            Ending::Revoked => "terminating connection: the credential was revoked",
            Ending::Expired => "terminating connection: the credential expired",
            Ending::Shutdown => "terminating connection: the gateway is shutting down",
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Ending::Revoked => "credential revoked",
            Ending::Expired => "credential expired",
            Ending::Shutdown => "gateway shutdown",
        }
    }
}

/// Where a client's CancelRequest goes: the upstream server and the key it gave the gateway.
#[derive(Clone, Debug)]
pub struct CancelTarget {
    pub secret: Bytes,
    pub upstream: Endpoint,
    pub upstream_key: CancelKey,
    /// Woken by a cancel: a statement held for approval is not running upstream, so the
    /// session itself must hear of it.
    pub held: Arc<Notify>,
}

/// What a session keeps while it is registered; dropping it deregisters the session.
pub struct Registration<'a> {
    registry: &'a Registry,
    credential: CredentialId,
    session: SessionId,
    pub key: CancelKey,
    pub ending: watch::Receiver<Option<Ending>>,
    /// What a CancelRequest with [`Self::key`] wakes ([`CancelTarget::held`]).
    pub cancel: Arc<Notify>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry
            .remove(self.credential, self.session, self.key.pid);
    }
}

/// The live sessions of one credential, each with the sender that ends it.
type CredentialSessions = HashMap<SessionId, watch::Sender<Option<Ending>>>;

#[derive(Default)]
pub struct Registry {
    // std Mutex: held only for map operations, never across an await.
    sessions: Mutex<HashMap<CredentialId, CredentialSessions>>,
    cancels: Mutex<HashMap<i32, CancelTarget>>,
}

impl Registry {
    /// Registers a session and gives it a fresh cancel key of the gateway's own: clients never
    /// see upstream process ids or secrets.
    pub fn register(&self, credential: CredentialId, session: SessionId) -> Registration<'_> {
        let (tx, rx) = watch::channel(None);
        self.sessions
            .lock()
            .expect("registry lock")
            .entry(credential)
            .or_default()
            .insert(session, tx);
        let key = loop {
            let mut raw = [0u8; 8];
            SystemRandom::new()
                .fill(&mut raw)
                .expect("the system random number generator failed");
            let pid = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]);
            if pid != 0
                && !self
                    .cancels
                    .lock()
                    .expect("registry lock")
                    .contains_key(&pid)
            {
                break CancelKey {
                    pid,
                    secret: Bytes::copy_from_slice(&raw[4..]),
                };
            }
        };
        Registration {
            registry: self,
            credential,
            session,
            key,
            ending: rx,
            cancel: Arc::new(Notify::new()),
        }
    }

    /// Records where the session's cancel key points, once the upstream gave its own key.
    pub fn set_cancel_target(&self, pid: i32, target: CancelTarget) {
        self.cancels
            .lock()
            .expect("registry lock")
            .insert(pid, target);
    }

    /// The upstream to cancel for a client's key; a stale or foreign key gets nothing.
    pub fn cancel_target(&self, key: &CancelKey) -> Option<CancelTarget> {
        let cancels = self.cancels.lock().expect("registry lock");
        let target = cancels.get(&key.pid)?;
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(&target.secret, &key.secret);
        same.is_ok().then(|| target.clone())
    }

    /// Ends every live session of a credential.
    pub fn end_credential(&self, credential: CredentialId, ending: Ending) -> usize {
        let sessions = self.sessions.lock().expect("registry lock");
        sessions.get(&credential).map_or(0, |s| {
            s.values().for_each(|tx| {
                let _ = tx.send(Some(ending.clone()));
            });
            s.len()
        })
    }

    /// Ends every live session (shutdown).
    pub fn end_all(&self, ending: Ending) {
        for s in self.sessions.lock().expect("registry lock").values() {
            for tx in s.values() {
                let _ = tx.send(Some(ending.clone()));
            }
        }
    }

    pub fn live_sessions(&self) -> usize {
        self.sessions
            .lock()
            .expect("registry lock")
            .values()
            .map(HashMap::len)
            .sum()
    }

    fn remove(&self, credential: CredentialId, session: SessionId, pid: i32) {
        let mut sessions = self.sessions.lock().expect("registry lock");
        if let Some(s) = sessions.get_mut(&credential) {
            s.remove(&session);
            if s.is_empty() {
                sessions.remove(&credential);
            }
        }
        drop(sessions);
        self.cancels.lock().expect("registry lock").remove(&pid);
    }
}
