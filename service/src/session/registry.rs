//! Live sessions of this replica, by credential: who to end when a credential stops being live
//! (revoked or expired on any replica) or the gateway shuts down, and the drain that comes
//! before a shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

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

/// The gateway is draining: it admits no new session, tells the live ones once, withdraws
/// their held statements, and ends whatever is still open at `deadline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drain {
    pub deadline: Instant,
}

impl Drain {
    /// What a live session is told when the drain starts.
    pub fn notice(&self) -> String {
        let left = self.deadline.saturating_duration_since(Instant::now());
        format!(
            "hoop is shutting down: this session ends in at most {}s; finish the current \
             work and reconnect (a new connection goes to another hoop)",
            left.as_secs()
        )
    }
}

type CredentialSessions = HashMap<SessionId, watch::Sender<Option<Ending>>>;

/// Live sessions by credential. Cloned handles share one table.
#[derive(Clone)]
pub struct Registry {
    sessions: Arc<Mutex<HashMap<CredentialId, CredentialSessions>>>,
    drain: Arc<watch::Sender<Option<Drain>>>,
    /// Woken whenever a session leaves the table.
    left: Arc<Notify>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            sessions: Arc::default(),
            drain: Arc::new(watch::channel(None).0),
            left: Arc::default(),
        }
    }
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
    /// Set once when the gateway starts draining.
    pub drain: watch::Receiver<Option<Drain>>,
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
            drain: self.drain.subscribe(),
        }
    }

    /// Starts the drain: every live session hears it once (and every session registered
    /// later sees it at once); they are ended at `deadline` by [`Registry::end_all`].
    pub fn drain(&self, deadline: Instant) {
        self.drain.send_replace(Some(Drain { deadline }));
    }

    /// The drain, once it has started.
    pub fn draining(&self) -> Option<Drain> {
        *self.drain.borrow()
    }

    /// Waits until no session is live or `until` passes; returns how many are still live.
    pub async fn wait_idle(&self, until: Instant) -> usize {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            let live = self.live_sessions();
            if live == 0 {
                return 0;
            }
            tokio::select! {
                () = left => {}
                () = tokio::time::sleep_until(until) => return self.live_sessions(),
            }
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
        drop(sessions);
        self.left.notify_waiters();
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

    #[tokio::test]
    async fn a_drain_reaches_live_and_later_sessions_and_idle_waits_for_the_last_one() {
        let registry = Registry::default();
        let credential = CredentialId::new_random();
        let mut early = registry.register(credential, SessionId::new_random());
        assert_eq!(registry.draining(), None);
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        registry.drain(deadline);
        early.drain.changed().await.unwrap();
        assert_eq!(*early.drain.borrow(), Some(Drain { deadline }));
        let late = registry.register(credential, SessionId::new_random());
        assert_eq!(
            *late.drain.borrow(),
            Some(Drain { deadline }),
            "a session registered during the drain sees it"
        );
        let notice = early.drain.borrow().unwrap().notice();
        assert!(
            notice.contains("at most 29s") || notice.contains("at most 30s"),
            "{notice}"
        );

        let waiting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_idle(deadline).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "two sessions are still live");
        drop(early);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one session is still live");
        drop(late);
        assert_eq!(waiting.await.unwrap(), 0);

        let stuck = registry.register(credential, SessionId::new_random());
        let soon = Instant::now() + std::time::Duration::from_millis(100);
        assert_eq!(
            registry.wait_idle(soon).await,
            1,
            "gives up at the deadline"
        );
        drop(stuck);
    }
}
