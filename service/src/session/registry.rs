//! Live sessions of this replica, by credential: who to end when a credential stops being live
//! (revoked or expired on any replica) or the gateway shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};

use crate::base::{CredentialId, SessionId};

/// Why the gateway ends a session on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Revoked,
    Expired,
    Shutdown,
}

impl Ending {
    /// What the client is told.
    pub fn message(&self) -> &'static str {
        match self {
            Ending::Revoked => "terminating connection: the credential was revoked",
            Ending::Expired => "terminating connection: the credential expired",
            Ending::Shutdown => "terminating connection: the gateway is shutting down",
        }
    }

    /// What the recording and the sessions index say.
    pub fn reason(&self) -> &'static str {
        match self {
            Ending::Revoked => "credential revoked",
            Ending::Expired => "credential expired",
            Ending::Shutdown => "gateway shutdown",
        }
    }
}

type CredentialSessions = HashMap<SessionId, watch::Sender<Option<Ending>>>;

/// Live sessions by credential. Cloned handles share one table.
#[derive(Clone, Default)]
pub struct Registry {
    sessions: Arc<Mutex<HashMap<CredentialId, CredentialSessions>>>,
}

/// One registered session; dropping it unregisters the session.
pub struct Registration {
    registry: Registry,
    credential: CredentialId,
    session: SessionId,
    /// Set once when the session must end.
    pub ending: watch::Receiver<Option<Ending>>,
    /// Woken by the client's cancel: a statement held for approval is withdrawn.
    pub cancel: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(self.credential, self.session);
    }
}

impl Registry {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<CredentialId, CredentialSessions>> {
        // A panic elsewhere cannot leave the table half-written: every change is one insert
        // or remove.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(&self, credential: CredentialId, session: SessionId) -> Registration {
        let (tx, rx) = watch::channel(None);
        self.table()
            .entry(credential)
            .or_default()
            .insert(session, tx);
        Registration {
            registry: self.clone(),
            credential,
            session,
            ending: rx,
            cancel: Arc::new(Notify::new()),
        }
    }

    /// Ends every live session of `credential`; returns how many.
    pub fn end_credential(&self, credential: CredentialId, ending: Ending) -> usize {
        let sessions = self.table();
        sessions.get(&credential).map_or(0, |s| {
            s.values().for_each(|tx| {
                let _ = tx.send(Some(ending.clone()));
            });
            s.len()
        })
    }

    pub fn end_all(&self, ending: Ending) {
        for s in self.table().values() {
            for tx in s.values() {
                let _ = tx.send(Some(ending.clone()));
            }
        }
    }

    pub fn live_sessions(&self) -> usize {
        self.table().values().map(HashMap::len).sum()
    }

    fn remove(&self, credential: CredentialId, session: SessionId) {
        let mut sessions = self.table();
        if let Some(s) = sessions.get_mut(&credential) {
            s.remove(&session);
            if s.is_empty() {
                sessions.remove(&credential);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ending_a_credential_reaches_its_sessions_only_and_drop_unregisters() {
        let registry = Registry::default();
        let (a, b) = (CredentialId::new_random(), CredentialId::new_random());
        let mut a1 = registry.register(a, SessionId::new_random());
        let mut a2 = registry.register(a, SessionId::new_random());
        let b1 = registry.register(b, SessionId::new_random());
        assert_eq!(registry.live_sessions(), 3);

        assert_eq!(registry.end_credential(a, Ending::Revoked), 2);
        a1.ending.changed().await.unwrap();
        a2.ending.changed().await.unwrap();
        assert_eq!(*a1.ending.borrow(), Some(Ending::Revoked));
        assert!(
            !b1.ending.has_changed().unwrap(),
            "another credential's session goes on"
        );

        drop(a1);
        drop(a2);
        assert_eq!(registry.live_sessions(), 1);
        assert_eq!(registry.end_credential(a, Ending::Revoked), 0);
        registry.end_all(Ending::Shutdown);
        assert_eq!(*b1.ending.borrow(), Some(Ending::Shutdown));
    }
}
