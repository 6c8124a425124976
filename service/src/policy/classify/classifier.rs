//! [`Classifier`]: a cache of classifications, and parsing on big-stack threads: the calling
//! thread when it was started with [`PARSER_STACK`] (the gateway's runtime), else a worker.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::{Classification, ClassifyError, Syntax, classify_with, fingerprint_with};

/// Stack a thread needs to parse: libpg_query measures the stack it runs on and lets the
/// parser use at most 2 MB of it; the rest is headroom for its error handling and for the tree
/// walk. The classifier's workers have it; a runtime whose threads are started with it says so
/// with [`on_parser_stack`], and classifies on its own threads.
pub const PARSER_STACK: usize = 64 << 20;

/// Texts up to this length are parsed on the calling thread when it has [`PARSER_STACK`]
/// (microseconds of work, cheaper than the two context switches of a hand-off); longer ones go
/// to a worker, so one migration's parse does not hold up a runtime thread's other sessions.
const INLINE_MAX: usize = 4 << 10;

/// Parsing a thread may do inline before the task that crosses it yields: a client that sends
/// thousands of new short texts in one batch does not hold the thread's other sessions up.
const INLINE_SLICE: Duration = Duration::from_millis(1);

thread_local! {
    static HAS_PARSER_STACK: Cell<bool> = const { Cell::new(false) };
    /// Inline parsing on this thread since a task last yielded for it.
    static INLINE_SPENT: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Declares that the current thread was started with a stack of at least [`PARSER_STACK`]:
/// call it from the start hook of threads built with that size
/// (`tokio::runtime::Builder::thread_stack_size(PARSER_STACK).on_thread_start(on_parser_stack)`)
/// and from nowhere else.
pub fn on_parser_stack() {
    HAS_PARSER_STACK.with(|has| has.set(true));
}

fn inline(sql: &str) -> bool {
    sql.len() <= INLINE_MAX && HAS_PARSER_STACK.with(Cell::get)
}

/// Parses run inline so far (tests check which path ran; nextest runs each in a process).
#[cfg(test)]
pub(super) static INLINE_PARSES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Runs `parse` here, then yields to the runtime once this thread's inline parsing since the
/// last yield reaches [`INLINE_SLICE`].
async fn parse_inline<T>(parse: impl FnOnce() -> T) -> T {
    #[cfg(test)]
    INLINE_PARSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let parsed = parse();
    let spent = INLINE_SPENT.with(|spent| {
        let total = spent.get() + started.elapsed();
        spent.set(if total >= INLINE_SLICE {
            Duration::ZERO
        } else {
            total
        });
        total
    });
    if spent >= INLINE_SLICE {
        tokio::task::yield_now().await;
    }
    parsed
}

/// Texts longer than this are classified every time rather than cached, so the cache holds at
/// most `cache_entries` × 8 KiB of text (ORM and report queries are far shorter; long texts
/// are migrations, which run once).
const MAX_CACHED_TEXT: usize = 8 << 10;

type Outcome = Result<Classification, ClassifyError>;
type Fingerprinted = Result<String, ClassifyError>;

enum Reply {
    Blocking(mpsc::SyncSender<Outcome>),
    Async(tokio::sync::oneshot::Sender<Outcome>),
    Fingerprint(tokio::sync::oneshot::Sender<Fingerprinted>),
}

struct Job {
    sql: String,
    syntax: Syntax,
    reply: Reply,
}

/// One map per [`Syntax`]: the same text can mean two things.
#[derive(Default)]
struct Cache {
    by_syntax: [HashMap<String, Arc<Classification>>; 2],
}

impl Cache {
    fn map(&mut self, syntax: Syntax) -> &mut HashMap<String, Arc<Classification>> {
        &mut self.by_syntax[usize::from(syntax.standard_conforming_strings)]
    }

    fn len(&self) -> usize {
        self.by_syntax.iter().map(HashMap::len).sum()
    }
}

/// Classification with a bounded cache keyed by the exact text, and parsing on dedicated
/// threads with a large stack (deeply nested SQL must not overflow the gateway's task stacks).
///
/// The cache holds at most `cache_entries` texts; when it is full, about half of it (an
/// arbitrary half: the map's iteration order) is dropped before the next insert. Simple, and
/// a hot statement is back in the cache after its next use. Errors are not cached.
pub struct Classifier {
    max_len: usize,
    cache_entries: usize,
    cache: Mutex<Cache>,
    /// `None` if no worker thread could be started: classification then runs on the caller's
    /// thread, still safe (libpg_query checks the depth against the stack it has) but with less
    /// room for nesting.
    jobs: Option<mpsc::Sender<Job>>,
}

impl Classifier {
    /// A classifier for texts of at most `max_len` bytes, caching up to `cache_entries`
    /// classifications (0: no cache). Starts its worker threads (one per core, at most 4);
    /// they stop when the classifier is dropped.
    pub fn new(max_len: usize, cache_entries: usize) -> Classifier {
        let workers = thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut started = 0;
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            let spawned = thread::Builder::new()
                .name(format!("hoop-classify-{index}"))
                .stack_size(PARSER_STACK)
                .spawn(move || work(&receiver, max_len));
            if spawned.is_ok() {
                started += 1;
            }
        }
        Classifier {
            max_len,
            cache_entries,
            cache: Mutex::new(Cache::default()),
            jobs: (started > 0).then_some(sender),
        }
    }

    /// Classifies `sql` read with the default [`Syntax`], from the cache if the same text was
    /// seen. Blocking (a parse takes microseconds to milliseconds): call it from
    /// `tokio::task::spawn_blocking`, or use [`classify_async`](Self::classify_async).
    pub fn classify(&self, sql: &str) -> Result<Arc<Classification>, ClassifyError> {
        self.classify_with(sql, Syntax::default())
    }

    /// [`classify`](Self::classify) with the session's string [`Syntax`].
    pub fn classify_with(
        &self,
        sql: &str,
        syntax: Syntax,
    ) -> Result<Arc<Classification>, ClassifyError> {
        if let Some(hit) = self.cached(sql, syntax)? {
            return Ok(hit);
        }
        let (reply, outcome) = mpsc::sync_channel(1);
        let outcome = match self.submit(sql.to_owned(), syntax, Reply::Blocking(reply)) {
            Some(()) => outcome.recv().unwrap_or_else(|_| Err(worker_gone())),
            None => classify_with(sql, self.max_len, syntax),
        };
        Ok(self.remember(sql, syntax, outcome?))
    }

    /// [`classify`](Self::classify) for async callers: the parse runs on a worker thread while
    /// the task waits.
    pub async fn classify_async(
        self: &Arc<Self>,
        sql: &str,
    ) -> Result<Arc<Classification>, ClassifyError> {
        self.classify_async_with(sql, Syntax::default()).await
    }

    /// [`classify_async`](Self::classify_async) with the session's string [`Syntax`].
    pub async fn classify_async_with(
        self: &Arc<Self>,
        sql: &str,
        syntax: Syntax,
    ) -> Result<Arc<Classification>, ClassifyError> {
        // A hit (the common case: ORM texts repeat) copies nothing.
        if let Some(hit) = self.cached(sql, syntax)? {
            return Ok(hit);
        }
        let outcome = self
            .on_parser_stack(sql, syntax, Reply::Async, classify_with)
            .await;
        Ok(self.remember(sql, syntax, outcome?))
    }

    /// [`fingerprint_with`] on a big stack, not cached (only held statements need one).
    pub async fn fingerprint_async(&self, sql: &str, syntax: Syntax) -> Fingerprinted {
        self.on_parser_stack(sql, syntax, Reply::Fingerprint, fingerprint_with)
            .await
    }

    /// Runs `work` on a big stack: here when this thread has one and the text is short, else on
    /// a worker (answering through `reply`), else on a blocking thread if no worker started.
    async fn on_parser_stack<T: Send + 'static>(
        &self,
        sql: &str,
        syntax: Syntax,
        reply: fn(tokio::sync::oneshot::Sender<Result<T, ClassifyError>>) -> Reply,
        work: fn(&str, usize, Syntax) -> Result<T, ClassifyError>,
    ) -> Result<T, ClassifyError> {
        if inline(sql) {
            return parse_inline(|| work(sql, self.max_len, syntax)).await;
        }
        let (sender, outcome) = tokio::sync::oneshot::channel();
        match self.submit(sql.to_owned(), syntax, reply(sender)) {
            Some(()) => outcome.await.unwrap_or_else(|_| Err(worker_gone())),
            None => {
                let (text, max_len) = (sql.to_owned(), self.max_len);
                tokio::task::spawn_blocking(move || work(&text, max_len, syntax))
                    .await
                    .unwrap_or_else(|_| Err(worker_gone()))
            }
        }
    }

    /// How many classifications the cache holds now.
    pub fn cached_entries(&self) -> usize {
        self.lock_cache().len()
    }

    /// The size check, then the cache; `Ok(None)` is a miss.
    fn cached(
        &self,
        sql: &str,
        syntax: Syntax,
    ) -> Result<Option<Arc<Classification>>, ClassifyError> {
        super::within(sql, self.max_len)?;
        Ok(self.lock_cache().map(syntax).get(sql).cloned())
    }

    /// `None` if there is no worker to send the job to.
    fn submit(&self, sql: String, syntax: Syntax, reply: Reply) -> Option<()> {
        let job = Job { sql, syntax, reply };
        self.jobs.as_ref()?.send(job).ok()
    }

    fn remember(
        &self,
        sql: &str,
        syntax: Syntax,
        classification: Classification,
    ) -> Arc<Classification> {
        let classification = Arc::new(classification);
        if self.cache_entries == 0 || sql.len() > MAX_CACHED_TEXT {
            return classification;
        }
        let mut cache = self.lock_cache();
        if cache.len() >= self.cache_entries {
            let mut keep = false;
            for map in &mut cache.by_syntax {
                map.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        // Two callers may race on one text; the first classification stays, so every later
        // hit returns that same Arc.
        Arc::clone(
            cache
                .map(syntax)
                .entry(sql.to_owned())
                .or_insert(classification),
        )
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds plain data, valid whatever a panicking holder was doing.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("max_len", &self.max_len)
            .field("cache_entries", &self.cache_entries)
            .field("workers", &self.jobs.is_some())
            .finish_non_exhaustive()
    }
}

/// A worker: takes jobs until the classifier (the only sender) is dropped.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, max_len: usize) {
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            receiver.recv()
        };
        let Ok(job) = job else { return };
        let classified = || classify_with(&job.sql, max_len, job.syntax);
        // A caller that stopped waiting (a cancelled task) is not an error.
        match job.reply {
            Reply::Blocking(reply) => {
                let _ = reply.send(classified());
            }
            Reply::Async(reply) => {
                let _ = reply.send(classified());
            }
            Reply::Fingerprint(reply) => {
                let _ = reply.send(fingerprint_with(&job.sql, max_len, job.syntax));
            }
        }
    }
}

fn worker_gone() -> ClassifyError {
    ClassifyError::Internal {
        message: "the classifier's worker thread stopped".to_owned(),
    }
}
