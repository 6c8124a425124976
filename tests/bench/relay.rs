//! CPU cost of one statement through the gateway's relay, over in-memory streams: no Postgres,
//! no sockets, no TLS. A fake client and a fake upstream play `pgbench -S` against the real
//! relay ([`hoop::gateway::in_memory`]): each statement is decided by the default policy pack
//! (classified by libpg_query), recorded (hash chain, journal, group commit) before it goes up,
//! and its one-row result masked on its way back. The spool is on tmpfs (`/dev/shm`), so a
//! journal `fdatasync` costs next to nothing and what is measured is CPU.
//!
//! One iteration is one whole round trip, as `pgbench -S` makes it:
//! - `simple_varying`: Query `SELECT abalance FROM pgbench_accounts WHERE aid = N;` with a
//!   pseudo-random N in 1..=100000 (pgbench's scale 1): almost every text is new to the
//!   classifier's cache (4096 entries, as `hoop serve` keeps), so each one is parsed;
//! - `simple_fixed`: the same text every time: a cache hit;
//! - `prepared`: Parse once; then per statement Bind (N as a text parameter), Describe of the
//!   portal, Execute, Sync, as libpq's `PQsendQueryPrepared` sends them for `pgbench -M prepared`.
//!
//! The upstream answers RowDescription (`abalance int4`), one DataRow, CommandComplete
//! `SELECT 1` and ReadyForQuery (BindComplete first for `prepared`); the client reads up to the
//! ReadyForQuery. Each case runs on one long-lived session (its own spool), on a
//! current-thread tokio runtime (the relay, both fake peers) whose thread has the parser's stack
//! and classifies where the relay runs; the spool's writer is a thread of its own, as in
//! `hoop serve`. The `*_direct` cases are
//! the same fake peers talking to each other with no gateway between them: what the harness
//! itself costs, to subtract.
//!
//! # Time per statement (criterion)
//!
//! ```text
//! cargo bench -p hoop --bench relay
//! cargo bench -p hoop --bench relay -- simple_varying      # one case
//! ```
//!
//! # Instructions per statement (callgrind)
//!
//! With `HOOP_RELAY_STATEMENTS=N` the bench runs N statements of the case `HOOP_RELAY_CASE`
//! (default `simple_varying`; any case name above, `_direct` ones too) without criterion, prints
//! what it ran, and exits. Build once, then run the binary under callgrind twice, with many and
//! with few statements:
//!
//! ```text
//! cargo bench -p hoop --bench relay --no-run        # prints the binary: target/release/deps/relay-<hash>
//! BIN=$(ls -t target/release/deps/relay-* | grep -v '\.d$' | head -1)
//! HOOP_RELAY_CASE=simple_varying HOOP_RELAY_STATEMENTS=20000 \
//!   valgrind --tool=callgrind --callgrind-out-file=callgrind.relay.20000 "$BIN"
//! HOOP_RELAY_CASE=simple_varying HOOP_RELAY_STATEMENTS=2000 \
//!   valgrind --tool=callgrind --callgrind-out-file=callgrind.relay.2000 "$BIN"
//! callgrind_annotate callgrind.relay.20000 | head -40              # self cost
//! callgrind_annotate --inclusive=yes callgrind.relay.20000 | head -40
//! ```
//!
//! Instructions per statement = (total Ir of the 20000 run − total Ir of the 2000 run) / 18000:
//! the difference removes the setup (libpg_query's and aws-lc's initialisation, the spool, the
//! session) that a single run would spread over its statements. The total is the `Collected` /
//! `PROGRAM TOTALS` line of `callgrind_annotate`; a function's share per statement is likewise its
//! Ir in the big run less its Ir in the small one (the inclusive Ir of a recursive function, such
//! as upb's `encode_message` under libpg_query's parse, counts its recursion over and over: read
//! its self Ir, or its non-recursive caller's inclusive Ir). Every thread counts (callgrind sums them): the
//! relay's and the spool's writer. Do not narrow the count with
//! `--toggle-collect`: it counts only what runs inside the named function's frames on its own
//! thread, and the relay task is polled by the runtime outside the client's frames while the
//! writer is a thread of its own. Valgrind hides the SHA extensions from
//! aws-lc, so SHA-256 runs its AVX code there: its instruction count is not that of SHA-NI, and
//! that code retires several instructions per cycle, so its share of instructions overstates its
//! share of time. `target/` is `$CARGO_TARGET_DIR` when that is set.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use hoop::base::Sha256;
use hoop::gateway::in_memory::{Closed, Ended, InMemorySession, Relaying};
use hoop::gateway::{InForce, StatementPolicy};
use hoop::policy::classify::{Classifier, DEFAULT_MAX_LEN, PARSER_STACK, on_parser_stack};
use hoop::policy::rules::{Approvals, PolicyConfig, Rules};
use hoop::recording::Durability;
use hoop_protocol::backend;
use hoop_protocol::frontend::{self, Target};
use hoop_protocol::rows::{DataRowWriter, FieldDescription, encode_row_description};
use hoop_protocol::{Frame, decode_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Statements to run without criterion (for callgrind).
const STATEMENTS_VAR: &str = "HOOP_RELAY_STATEMENTS";
/// The case they run.
const CASE_VAR: &str = "HOOP_RELAY_CASE";

/// The classifier's cache, as `hoop serve` sizes it.
const CLASSIFIER_CACHE_ENTRIES: usize = 4096;
/// pgbench's `aid` range at scale 1.
const ACCOUNTS: u64 = 100_000;
const PREPARED: &str = "P_0";
const PREPARED_SQL: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";
const FIXED_SQL: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 4242;";
/// The one value of the one row each statement returns.
const ABALANCE: &[u8] = b"-2810";
/// The OID of `pgbench_accounts` in the RowDescription (any user table's).
const ACCOUNTS_OID: u32 = 16_397;
const INT4: u32 = 23;
/// Frames bounded like the gateway's own.
const MAX_FRAME: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Traffic {
    SimpleVarying,
    SimpleFixed,
    Prepared,
}

impl Traffic {
    fn name(self) -> &'static str {
        match self {
            Traffic::SimpleVarying => "simple_varying",
            Traffic::SimpleFixed => "simple_fixed",
            Traffic::Prepared => "prepared",
        }
    }

    /// Frames the client receives per statement.
    fn frames_back(self) -> usize {
        match self {
            // RowDescription, DataRow, CommandComplete, ReadyForQuery.
            Traffic::SimpleVarying | Traffic::SimpleFixed => 4,
            // BindComplete first.
            Traffic::Prepared => 5,
        }
    }
}

/// What a run measures: `traffic`, through the gateway or (the harness alone) without it.
#[derive(Clone, Copy, Debug)]
struct Case {
    traffic: Traffic,
    gateway: bool,
}

impl Case {
    const ALL: [Case; 6] = [
        Case::through(Traffic::SimpleVarying),
        Case::through(Traffic::SimpleFixed),
        Case::through(Traffic::Prepared),
        Case::direct(Traffic::SimpleVarying),
        Case::direct(Traffic::SimpleFixed),
        Case::direct(Traffic::Prepared),
    ];

    const fn through(traffic: Traffic) -> Case {
        Case {
            traffic,
            gateway: true,
        }
    }

    const fn direct(traffic: Traffic) -> Case {
        Case {
            traffic,
            gateway: false,
        }
    }

    fn name(self) -> String {
        if self.gateway {
            self.traffic.name().to_owned()
        } else {
            format!("{}_direct", self.traffic.name())
        }
    }

    fn named(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The default policy pack, as `hoop serve` runs it with an empty `[policy]` and no `[[rules]]`.
fn statement_policy() -> StatementPolicy {
    let rules = Rules::compile(&PolicyConfig::default(), &[], Approvals::Available, &[])
        .expect("the default pack compiles");
    StatementPolicy::new(
        Arc::new(Classifier::new(DEFAULT_MAX_LEN, CLASSIFIER_CACHE_ENTRIES)),
        InForce {
            version: Sha256::of(b"relay bench"),
            rules: Arc::new(rules),
        },
    )
}

/// A spool folder on tmpfs (the system temp dir where there is no `/dev/shm`), removed on
/// drop.
struct SpoolDir(PathBuf);

impl SpoolDir {
    fn new(case: &str) -> SpoolDir {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_owned()
        } else {
            eprintln!("no /dev/shm: the spool is in the temp dir, its syncs go to a disk");
            std::env::temp_dir()
        };
        SpoolDir(base.join(format!(
            "hoop-relay-bench-{}-{case}",
            uuid::Uuid::new_v4().simple()
        )))
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// pgbench's random `aid`: xorshift64, deterministic from run to run.
struct Aids(u64);

impl Aids {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % ACCOUNTS + 1
    }
}

/// The fake client: writes one statement's messages, reads to its ReadyForQuery.
struct Client {
    io: DuplexStream,
    traffic: Traffic,
    out: BytesMut,
    input: BytesMut,
    sql: String,
    aids: Aids,
    statements: u64,
}

impl Client {
    fn new(io: DuplexStream, traffic: Traffic) -> Client {
        Client {
            io,
            traffic,
            out: BytesMut::with_capacity(4096),
            input: BytesMut::with_capacity(64 * 1024),
            sql: String::with_capacity(128),
            aids: Aids(0x9E37_79B9_7F4A_7C15),
            statements: 0,
        }
    }

    /// What comes before the first statement: `prepared` prepares its statement.
    async fn prepare(&mut self) {
        if self.traffic == Traffic::Prepared {
            frontend::encode_parse(PREPARED, PREPARED_SQL, &[], &mut self.out);
            frontend::encode_sync(&mut self.out);
            self.send().await;
            // ParseComplete, ReadyForQuery.
            assert_eq!(self.until_ready().await, 2, "Parse answered otherwise");
        }
    }

    /// `n` round trips; how long they took.
    async fn run(&mut self, n: u64) -> Duration {
        let started = Instant::now();
        for _ in 0..n {
            self.round_trip().await;
        }
        started.elapsed()
    }

    async fn round_trip(&mut self) {
        match self.traffic {
            Traffic::SimpleVarying => {
                self.sql.clear();
                let aid = self.aids.next();
                write!(
                    self.sql,
                    "SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"
                )
                .expect("a String takes any text");
                frontend::encode_query(&self.sql, &mut self.out);
            }
            Traffic::SimpleFixed => frontend::encode_query(FIXED_SQL, &mut self.out),
            Traffic::Prepared => {
                let aid = Bytes::from(self.aids.next().to_string());
                frontend::encode_bind("", PREPARED, &[], &[Some(aid)], &[0], &mut self.out);
                frontend::encode_describe(Target::Portal, "", &mut self.out);
                frontend::encode_execute("", 0, &mut self.out);
                frontend::encode_sync(&mut self.out);
            }
        }
        self.send().await;
        let frames = self.until_ready().await;
        assert_eq!(frames, self.traffic.frames_back(), "an unexpected answer");
        self.statements += 1;
    }

    async fn send(&mut self) {
        self.io
            .write_all(&self.out)
            .await
            .expect("the gateway reads");
        self.out.clear();
    }

    /// Reads up to a ReadyForQuery; how many frames came, it included. An error fails the
    /// bench: it would measure a refusal, not a relayed statement.
    async fn until_ready(&mut self) -> usize {
        let mut frames = 0;
        loop {
            while let Some(frame) = decode_frame(&mut self.input, MAX_FRAME).expect("frames") {
                frames += 1;
                match frame.tag {
                    b'Z' => return frames,
                    b'E' => panic!("the statement failed: {}", error_text(&frame)),
                    _ => {}
                }
            }
            let read = self.io.read_buf(&mut self.input).await.expect("a read");
            assert!(read > 0, "the connection closed before ReadyForQuery");
        }
    }

    /// Ends the session as pgbench does.
    async fn terminate(&mut self) {
        frontend::encode_terminate(&mut self.out);
        self.send().await;
    }
}

fn error_text(frame: &Frame) -> String {
    match backend::BackendMessage::decode(frame) {
        Ok(backend::BackendMessage::ErrorResponse(fields)) => format!(
            "{} {}",
            fields.sqlstate().unwrap_or_default(),
            fields.message().unwrap_or_default()
        ),
        _ => "an undecodable ErrorResponse".to_owned(),
    }
}

/// The upstream's answers, encoded once.
struct Answers {
    row_description: Bytes,
    data_row: Bytes,
    complete: Bytes,
    ready: Bytes,
    parse_complete: Bytes,
    bind_complete: Bytes,
}

impl Answers {
    fn new() -> Answers {
        let mut row_description = BytesMut::new();
        encode_row_description(
            &[FieldDescription {
                name: "abalance".into(),
                table_oid: ACCOUNTS_OID,
                column: 3,
                type_oid: INT4,
                type_size: 4,
                type_modifier: -1,
                format: 0,
            }],
            &mut row_description,
        );
        let mut data_row = BytesMut::new();
        let mut row = DataRowWriter::new(&mut data_row, 1);
        row.push(ABALANCE);
        row.finish();
        let mut complete = BytesMut::new();
        backend::encode_command_complete("SELECT 1", &mut complete);
        let mut ready = BytesMut::new();
        backend::encode_ready_for_query(b'I', &mut ready);
        Answers {
            row_description: row_description.freeze(),
            data_row: data_row.freeze(),
            complete: complete.freeze(),
            ready: ready.freeze(),
            parse_complete: Bytes::from_static(&[b'1', 0, 0, 0, 4]),
            bind_complete: Bytes::from_static(&[b'2', 0, 0, 0, 4]),
        }
    }
}

/// The fake upstream: answers every statement with one row, until the gateway hangs up (or
/// the client sends Terminate). Returns the statements it answered.
async fn upstream(mut io: DuplexStream) -> u64 {
    let answers = Answers::new();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::with_capacity(4096);
    let mut statements = 0;
    loop {
        while let Some(frame) = decode_frame(&mut input, MAX_FRAME).expect("frames") {
            match frame.tag {
                b'Q' => {
                    for answer in [
                        &answers.row_description,
                        &answers.data_row,
                        &answers.complete,
                        &answers.ready,
                    ] {
                        out.put_slice(answer);
                    }
                    statements += 1;
                }
                b'P' => out.put_slice(&answers.parse_complete),
                b'B' => out.put_slice(&answers.bind_complete),
                b'D' if frame.body().first() == Some(&b'P') => {
                    out.put_slice(&answers.row_description)
                }
                b'E' => {
                    out.put_slice(&answers.data_row);
                    out.put_slice(&answers.complete);
                    statements += 1;
                }
                b'S' => out.put_slice(&answers.ready),
                b'X' => return statements,
                other => panic!("the fake upstream does not answer {:?}", other as char),
            }
        }
        if !out.is_empty() {
            io.write_all(&out).await.expect("the gateway reads");
            out.clear();
        }
        match io.read_buf(&mut input).await {
            Ok(0) | Err(_) => return statements,
            Ok(_) => {}
        }
    }
}

/// One case's session: the client, the upstream's task, and the gateway between them.
struct Bench {
    case: Case,
    client: Client,
    upstream: JoinHandle<u64>,
    gateway: Option<(Relaying, SpoolDir)>,
}

/// What a finished case did.
struct Finished {
    statements: u64,
    /// Recording events and bytes, through the gateway.
    recorded: Option<(u64, u64)>,
}

impl Bench {
    async fn start(case: Case) -> Bench {
        let (client, upstream_io, gateway) = if case.gateway {
            let spool = SpoolDir::new(&case.name());
            let session =
                InMemorySession::start(&spool.0, statement_policy(), Durability::Statement)
                    .await
                    .expect("an in-memory session starts");
            (
                session.client,
                session.upstream,
                Some((session.relaying, spool)),
            )
        } else {
            let (client, upstream) = tokio::io::duplex(1 << 16);
            (client, upstream, None)
        };
        let mut client = Client::new(client, case.traffic);
        let upstream = tokio::spawn(upstream(upstream_io));
        client.prepare().await;
        Bench {
            case,
            client,
            upstream,
            gateway,
        }
    }

    /// Terminates the session and checks that every statement went up, was answered, and
    /// (through the gateway) was recorded.
    async fn finish(mut self) -> Finished {
        self.client.terminate().await;
        let statements = self.client.statements;
        let answered = self.upstream.await.expect("the fake upstream");
        assert_eq!(
            answered,
            statements,
            "{}: statements lost",
            self.case.name()
        );
        let recorded = match self.gateway.take() {
            None => None,
            Some((relaying, _spool)) => {
                let Closed { ended, recording } = relaying.closed().await;
                assert!(matches!(ended, Ended::Terminated), "{ended}");
                let summary = recording.expect("the recording closes");
                let expected = expected_events(self.case.traffic, statements);
                assert_eq!(summary.events, expected, "{}: events", self.case.name());
                Some((summary.events, summary.bytes))
            }
        };
        Finished {
            statements,
            recorded,
        }
    }
}

/// Events a recording of `statements` holds: session_start, policy, (parse), per statement
/// its own (statement, or bind and execute) and complete, terminate, session_end.
fn expected_events(traffic: Traffic, statements: u64) -> u64 {
    match traffic {
        Traffic::SimpleVarying | Traffic::SimpleFixed => 4 + 2 * statements,
        Traffic::Prepared => 5 + 3 * statements,
    }
}

/// Runs `n` statements of `case` and says what it ran (for callgrind).
fn counted(runtime: &Runtime, case: Case, n: u64) {
    let (elapsed, finished) = runtime.block_on(async {
        let mut bench = Bench::start(case).await;
        let elapsed = bench.client.run(n).await;
        (elapsed, bench.finish().await)
    });
    let per = elapsed.as_secs_f64() * 1e6 / n.max(1) as f64;
    print!(
        "{}: {} statements in {:.3}s ({per:.2} µs each)",
        case.name(),
        finished.statements,
        elapsed.as_secs_f64()
    );
    match finished.recorded {
        Some((events, bytes)) => println!("; recording: {events} events, {bytes} bytes"),
        None => println!("; no gateway"),
    }
}

fn main() {
    // As in `hoop serve`, the runtime's thread has the parser's stack, so a statement is
    // classified where its session runs.
    std::thread::Builder::new()
        .name("relay-bench".into())
        .stack_size(PARSER_STACK)
        .spawn(|| {
            on_parser_stack();
            bench();
        })
        .expect("the bench thread starts")
        .join()
        .expect("the bench ran");
}

fn bench() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Ok(n) = std::env::var(STATEMENTS_VAR) {
        let n: u64 = n
            .parse()
            .unwrap_or_else(|_| panic!("{STATEMENTS_VAR} is a count of statements, not {n:?}"));
        let name = std::env::var(CASE_VAR).unwrap_or_else(|_| "simple_varying".to_owned());
        let case = Case::named(&name).unwrap_or_else(|| {
            let names: Vec<String> = Case::ALL.iter().map(|c| c.name()).collect();
            panic!(
                "{CASE_VAR}: no case {name:?}; the cases: {}",
                names.join(", ")
            )
        });
        counted(&runtime, case, n);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    for case in Case::ALL {
        let mut bench = runtime.block_on(Bench::start(case));
        group.bench_function(case.name(), |b| {
            b.iter_custom(|iters| runtime.block_on(bench.client.run(iters)))
        });
        runtime.block_on(bench.finish());
    }
    group.finish();
    c.final_summary();
}
