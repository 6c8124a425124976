//! The writer's queue: one FIFO for every session of the process, so each session's lines
//! reach the writer in the order they were chained.
//!
//! A request someone waits for ([`Waiter::Durable`], [`Waiter::Written`]) wakes the writer; one
//! nobody waits for (a statement's completion, a notice) does not: it rides the next request
//! that does, or the writer takes it when its wait runs out ([`Queue::take`]). A statement then
//! costs the writer one wake-up, not two.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::writer::{Request, Waiter};

pub(super) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    requests: VecDeque<Request>,
    /// Queued requests someone waits for.
    waited: usize,
    /// The writer thread runs; once it stopped (or died), nothing more is accepted.
    writer_running: bool,
    /// The spool is open; once it is dropped, the writer ends when the queue is empty.
    spool_open: bool,
}

/// The writer thread stopped: the request was not queued.
#[derive(Debug)]
pub(super) struct WriterStopped;

impl Queue {
    pub(super) fn new() -> Queue {
        Queue {
            state: Mutex::new(State {
                requests: VecDeque::new(),
                waited: 0,
                writer_running: true,
                spool_open: true,
            }),
            wake: Condvar::new(),
        }
    }

    /// Queues `request`, waking the writer if someone waits for it.
    pub(super) fn push(&self, request: Request) -> Result<(), WriterStopped> {
        let waits = !matches!(request.waiter, Waiter::Nobody);
        let mut state = self.lock();
        if !state.writer_running {
            return Err(WriterStopped);
        }
        state.requests.push_back(request);
        state.waited += usize::from(waits);
        drop(state);
        if waits {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Up to `max` requests, in order: waits until one someone waits for is queued or the spool
    /// closes, at most `timeout` (then takes what is queued, maybe nothing). `None` once the
    /// spool is closed and the queue is empty: the writer ends.
    pub(super) fn take(&self, max: usize, timeout: Duration) -> Option<Vec<Request>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.waited == 0 && state.spool_open {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if state.requests.is_empty() && !state.spool_open {
            return None;
        }
        let n = state.requests.len().min(max);
        let taken: Vec<Request> = state.requests.drain(..n).collect();
        let waited = taken
            .iter()
            .filter(|r| !matches!(r.waiter, Waiter::Nobody))
            .count();
        state.waited -= waited;
        Some(taken)
    }

    /// The spool is gone: no sender is left, the writer ends once the queue is empty.
    pub(super) fn close(&self) {
        self.lock().spool_open = false;
        self.wake.notify_one();
    }

    /// The writer thread ended (or died): later pushes fail, and what is queued is dropped, so
    /// every waiting sender learns it (its acknowledgement channel closes).
    pub(super) fn writer_stopped(&self) {
        let mut state = self.lock();
        state.writer_running = false;
        state.waited = 0;
        let dropped = std::mem::take(&mut state.requests);
        drop(state);
        drop(dropped);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
