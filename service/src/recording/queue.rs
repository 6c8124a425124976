//! The writer's queue: one FIFO for every session of the process, so each session's lines
//! reach the writer in the order they were chained.
//!
//! A request someone waits for ([`Waiter::Durable`], [`Waiter::Written`]) wakes the writer; one
//! nobody waits for (a statement's completion, a notice) does not: it rides the next request
//! that does, or the writer takes it when its wait runs out ([`Queue::take`]). A statement then
//! costs the writer one wake-up, not two. A backlog of [`BACKLOG`] requests wakes the writer
//! whoever waits: a flood of notices is written as fast as the writer can, not 10 ms apart.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::writer::{Request, Waiter};

/// Queued requests that wake the writer even if nobody waits for them.
pub(super) const BACKLOG: usize = 1024;

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
        let wake = waits || state.requests.len() >= BACKLOG;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Up to `max` requests, in order: waits until one someone waits for is queued, a backlog
    /// builds up or the spool closes, at most `timeout` (then takes what is queued, maybe
    /// nothing). `None` once the spool is closed and the queue is empty: the writer ends.
    pub(super) fn take(&self, max: usize, timeout: Duration) -> Option<Vec<Request>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.waited == 0 && state.requests.len() < BACKLOG && state.spool_open {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{BACKLOG, Queue};
    use crate::recording::writer::{Op, Request, Waiter};

    /// No writer's wait ends by itself within a test: only a wake-up ends it.
    const FOREVER: Duration = Duration::from_secs(3600);

    fn request(waiter: Waiter) -> Request {
        Request {
            id: 1,
            op: Op::Release,
            waiter,
        }
    }

    #[test]
    fn a_request_nobody_waits_for_waits_for_the_writers_timeout() {
        let queue = Queue::new();
        queue.push(request(Waiter::Nobody)).unwrap();
        let started = Instant::now();
        let taken = queue.take(16, Duration::from_millis(50)).unwrap();
        assert_eq!(taken.len(), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "it woke the writer"
        );
    }

    #[test]
    fn a_request_someone_waits_for_wakes_the_writer_and_takes_the_queue_in_order() {
        let queue = Arc::new(Queue::new());
        let writer = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.take(16, FOREVER).unwrap())
        };
        queue.push(request(Waiter::Nobody)).unwrap();
        let (ack, _answer) = tokio::sync::oneshot::channel();
        queue.push(request(Waiter::Durable(ack))).unwrap();
        let taken = writer.join().unwrap();
        let waited: Vec<bool> = taken
            .iter()
            .map(|r| !matches!(r.waiter, Waiter::Nobody))
            .collect();
        assert!(waited.ends_with(&[true]), "{waited:?}");
    }

    #[test]
    fn a_backlog_wakes_the_writer_whoever_waits() {
        let queue = Arc::new(Queue::new());
        let writer = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.take(BACKLOG, FOREVER).unwrap().len())
        };
        for _ in 0..BACKLOG {
            queue.push(request(Waiter::Nobody)).unwrap();
        }
        assert!(writer.join().unwrap() > 0);
    }

    #[test]
    fn after_the_writer_stopped_nothing_is_queued_and_waiters_learn_it() {
        let queue = Queue::new();
        let (ack, answer) = tokio::sync::oneshot::channel();
        queue.push(request(Waiter::Durable(ack))).unwrap();
        queue.writer_stopped();
        assert!(
            answer.blocking_recv().is_err(),
            "the queued request was dropped"
        );
        assert!(queue.push(request(Waiter::Nobody)).is_err());
    }

    #[test]
    fn a_closed_spool_ends_the_writer_once_the_queue_is_empty() {
        let queue = Queue::new();
        queue.push(request(Waiter::Nobody)).unwrap();
        queue.close();
        assert_eq!(queue.take(16, FOREVER).map(|r| r.len()), Some(1));
        assert!(queue.take(16, FOREVER).is_none());
    }
}
