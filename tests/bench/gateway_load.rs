//! End-to-end benchmark of the PostgreSQL gateway: the real `hoop serve` binary as a child
//! process (so its RSS is its own), a credential exchanged over HTTP for a demo-issuer token, and
//! the stock clients a CI job uses (`pgbench`, `psql`).
//!
//! In one run, against Postgres directly, PgBouncer (session mode) and the hoop targets of
//! [`HOOP_TARGETS`] (every hoop records; each `hoop serve` has a spool of its own and shares the
//! state database as another replica):
//! - `pgbench -S` (select-only), `-M simple` and `-M prepared`, 1 and 8 clients: TPS, its ratio
//!   to direct and to PgBouncer, p50/p99 latency from pgbench's per-transaction log, and for
//!   each hoop its journal's statements per sync and mean sync time over the run (`/metrics`);
//! - the performance targets of the gateway, judged on those runs and on the latency of a
//!   small append + `fdatasync` in the on-disk spool's directory, measured before each mode and
//!   client count (see [`targets_table`]): printed with met / not met, never asserted;
//! - a large `COPY ... TO STDOUT` streamed to `psql`: bytes/s, its ratio to direct, and hoop's
//!   RSS before each run and its peak during it (VmHWM, reset before the run), for ~100 MB and
//!   the full size, to show the gateway does not buffer the result;
//! - `SELECT *` of a table with a card number in every row (and in the free text of some),
//!   ~100 MB and the full size, against Postgres directly and the hoops with and without masked
//!   results (TLS off): bytes/s, its ratio to direct, and each hoop's RSS before and peak. The
//!   rows are read by a minimal in-process client that counts DataRow bytes without decoding
//!   them (psql would buffer the whole result, or with `FETCH_COUNT` add a round trip per batch
//!   and its own formatting to the measurement).
//!
//! Run with tests/bench/gateway.sh (it installs PgBouncer). Needs Postgres 15 at 127.0.0.1:5432
//! with trust auth for the superuser `postgres`. Environment: HOOP_BENCH_SECONDS (per pgbench
//! run, default 15), HOOP_BENCH_STREAM_MB (default 1024), HOOP_BENCH_TARGETS (the hoop targets,
//! comma-separated, default all of [`HOOP_TARGETS`]), HOOP_BENCH_DIR (where the run's files and
//! the on-disk spools go, default /var/tmp), HOOP_LOG (hoop's, default warn).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hoop::identity::issuer::DemoIssuer;
use hoop::masking::pan;
use hoop_protocol::backend::{Authentication, BackendMessage};
use hoop_protocol::startup::{self, StartupMessage};
use hoop_protocol::{decode_frame, frontend};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const PG_HOST: &str = "127.0.0.1";
const PG_PORT: u16 = 5432;
const PG_USER: &str = "postgres";
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PGBOUNCER: &str = "/usr/sbin/pgbouncer";
const DATABASE: &str = "hoop_gwbench";
/// The policy role of the run roles: CONNECT and SELECT on the pgbench tables.
const ROLE: &str = "hoop_gwbench_reader";
const SCALE: u32 = 10;
const AUDIENCE: &str = "hoop-gwbench";
const CONNECTION: &str = "bench";
const REPOSITORY_ID: u64 = 1001;
const MODES: [&str; 2] = ["simple", "prepared"];
const CLIENTS: [u32; 2] = [1, 8];
/// Bytes per row of the streamed COPY text: `repeat('x', 1000)` and a newline.
const STREAM_ROW_BYTES: u64 = 1001;
/// The smaller streaming run, to compare hoop's peak RSS with the full-size one.
const SMALL_STREAM_MB: u64 = 100;
const MIB: f64 = 1024.0 * 1024.0;
/// The masking run's table: a test card number in every row's `pan`, and one in the `note` of
/// 1 row in 10.
const CARDS_TABLE: &str = "hoop_gwbench_cards";
/// DataRow bytes per row of [`CARDS_TABLE`] in text format, a slight underestimate (the exact
/// figure is ~151): sizes the table so that its result is at least the size asked for. The
/// client counts the actual bytes.
const CARDS_ROW_BYTES: u64 = 150;
/// Rounds of the masking run (each target once per round, in turn).
const CARDS_ROUNDS: usize = 3;
/// The masking run checks 1 row in this many for (un)masked card numbers.
const CARDS_CHECK_EVERY: u64 = 4096;
/// Bound on a server becoming ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Where the on-disk spools go by default: /tmp may be tmpfs (it is on many distributions),
/// /var/tmp is on disk (it survives reboots).
const DEFAULT_DIR: &str = "/var/tmp";
/// Where the tmpfs spool goes.
const TMPFS_DIR: &str = "/dev/shm";

/// The hoop serving the disk-spool targets: what a production deployment runs.
const HOOP_DISK: HoopSpec = HoopSpec {
    name: "hoop",
    spool: SpoolOn::Disk,
    durability: Durability::Statement,
    mask_results: true,
};

/// The hoop targets a run can have (HOOP_BENCH_TARGETS chooses among them), in table order.
const HOOP_TARGETS: [HoopTarget; 5] = [
    HoopTarget {
        name: "hoop",
        server: &HOOP_DISK,
        sslmode: "disable",
        streamed: true,
    },
    // The CPU path: the same gateway with syncs that cost next to nothing.
    HoopTarget {
        name: "hoop-tmpfs",
        server: &HoopSpec {
            name: "hoop-tmpfs",
            spool: SpoolOn::Tmpfs,
            ..HOOP_DISK
        },
        sslmode: "disable",
        streamed: false,
    },
    // The sync overlaps the database's execution of the statement.
    HoopTarget {
        name: "hoop-result",
        server: &HoopSpec {
            name: "hoop-result",
            durability: Durability::Result,
            ..HOOP_DISK
        },
        sslmode: "disable",
        streamed: false,
    },
    // What masking results costs.
    HoopTarget {
        name: "hoop-nomask",
        server: &HoopSpec {
            name: "hoop-nomask",
            mask_results: false,
            ..HOOP_DISK
        },
        sslmode: "disable",
        streamed: true,
    },
    // What TLS costs: the same `hoop serve` as `hoop`.
    HoopTarget {
        name: "hoop+tls",
        server: &HOOP_DISK,
        sslmode: "require",
        streamed: true,
    },
];

struct Settings {
    seconds: u64,
    stream_mb: u64,
    /// HOOP_BENCH_TARGETS: the hoop targets of the run.
    hoops: Vec<&'static HoopTarget>,
    /// HOOP_BENCH_DIR: where the run's files and on-disk spools go.
    dir: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            seconds: env_number("HOOP_BENCH_SECONDS", 15),
            stream_mb: env_number("HOOP_BENCH_STREAM_MB", 1024),
            hoops: hoop_targets_from_env(),
            dir: std::env::var_os("HOOP_BENCH_DIR").map_or(DEFAULT_DIR.into(), PathBuf::from),
        }
    }

    /// What the streaming table covers: ~100 MB, then the full size.
    fn stream_sizes(&self) -> Vec<u64> {
        let mut sizes = vec![SMALL_STREAM_MB.min(self.stream_mb), self.stream_mb];
        sizes.dedup();
        sizes
    }

    /// The environment that reproduces this run.
    fn env_line(&self) -> String {
        let hoops: Vec<_> = self.hoops.iter().map(|t| t.name).collect();
        format!(
            "HOOP_BENCH_SECONDS={} HOOP_BENCH_STREAM_MB={} HOOP_BENCH_TARGETS={} HOOP_BENCH_DIR={}",
            self.seconds,
            self.stream_mb,
            hoops.join(","),
            self.dir.display()
        )
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The hoop targets HOOP_BENCH_TARGETS names (comma-separated), in [`HOOP_TARGETS`] order; all
/// of them when it is unset.
fn hoop_targets_from_env() -> Vec<&'static HoopTarget> {
    let Ok(list) = std::env::var("HOOP_BENCH_TARGETS") else {
        return HOOP_TARGETS.iter().collect();
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    for name in &names {
        assert!(
            HOOP_TARGETS.iter().any(|t| t.name == *name),
            "HOOP_BENCH_TARGETS: no hoop target {name:?}; there are {}",
            HOOP_TARGETS.map(|t| t.name).join(", ")
        );
    }
    HOOP_TARGETS
        .iter()
        .filter(|t| names.contains(&t.name))
        .collect()
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let settings = Settings::from_env();
    let scratch = Scratch::create(&settings.dir);
    let direct = Target {
        name: "direct",
        gateway: None,
        host: PG_HOST.into(),
        port: PG_PORT,
        user: PG_USER.into(),
        password: String::new(),
        sslmode: "disable",
        streamed: true,
    };
    prepare_database(&direct).await;

    let issuer = DemoIssuer::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let gateways = Gateways::start(&settings.hoops, &issuer, &scratch).await;
    let pgbouncer = PgBouncer::start(&scratch).await;
    let through_pgbouncer = Target {
        name: "pgbouncer",
        port: pgbouncer.port,
        streamed: false,
        ..direct.clone()
    };
    let mut targets = vec![direct, through_pgbouncer];
    targets.extend(settings.hoops.iter().map(|t| gateways.target(t)));
    let streamed: Vec<Target> = targets.iter().filter(|t| t.streamed).cloned().collect();

    println!(
        "hoop gateway benchmark: {} cores, load average {} (shared machine: other builds may run)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    print_hoop_targets(&settings.hoops, &scratch);
    let groups = pgbench_table(&targets, &settings, &scratch).await;
    targets_table(&targets, &groups);
    stream_table(&streamed, &settings).await;
    prepare_cards_table(cards_rows(settings.stream_mb)).await;
    // TLS is the same cost with masking or without: the raw client speaks none.
    let plain: Vec<_> = streamed
        .iter()
        .filter(|t| t.sslmode == "disable")
        .cloned()
        .collect();
    masking_table(&plain, &settings).await;
    gateways.revoke().await;

    println!("\nload average at the end {}", load_average());
    print_commands(&targets, &streamed, &gateways, &settings, &scratch);
    println!("run took {:.0} s", started.elapsed().as_secs_f64());
}

/// What a reader needs to rerun each measurement by hand.
fn print_commands(
    targets: &[Target],
    streamed: &[Target],
    gateways: &Gateways,
    settings: &Settings,
    scratch: &Scratch,
) {
    println!(
        "commands (PGPASSWORD elided; run files in {}, removed at the end):",
        scratch.disk.display()
    );
    println!(
        "  pgbench, shown at -M prepared -c 8 (every run: -M simple|prepared, -c 1|8, \
         -j min(c, 2)):"
    );
    for target in targets {
        let log_prefix = pgbench_log_dir(scratch, "prepared", 8, target).join("tx");
        let cmd = pgbench_command(target, "prepared", 8, settings.seconds, &log_prefix);
        println!("    {}", command_line(cmd.as_std()));
    }
    let shown = streamed.last().expect("direct is streamed");
    let copy = copy_command(shown, stream_rows(settings.stream_mb));
    println!("  COPY stream, shown for {}:", shown.name);
    println!("    {}", command_line(copy.as_std()));
    println!(
        "  SELECT * FROM {CARDS_TABLE} [LIMIT n] by the in-process client (simple query, text \
         format); with psql: psql -X -A -t -v FETCH_COUNT=10000 -o /dev/null -c \"SELECT * FROM \
         {CARDS_TABLE}\""
    );
    println!("  hoop serve, one per spool:");
    for (hoop, _) in &gateways.0 {
        println!("    {}", hoop.command);
    }
    println!(
        "  journal metrics, before and after each pgbench run of a hoop: curl -s API/metrics | \
         grep -E '^hoop_journal_(statements_per_sync|sync_seconds)_(sum|count) '"
    );
    println!(
        "  fsync probe, before each mode and client count: in-process, {FSYNC_SAMPLES} × (write \
         {FSYNC_APPEND_BYTES} B at the end of the last, fdatasync) to a file in {} preallocated \
         to {} MiB with fallocate",
        scratch.disk.display(),
        FSYNC_FILE_BYTES >> 20
    );
    println!("  {} tests/bench/gateway.sh", settings.env_line());
}

/// Each hoop target: where its spool is, on what file system, and how it is configured; with
/// a warning where a spool is not on the kind of file system its target stands for.
fn print_hoop_targets(hoops: &[&HoopTarget], scratch: &Scratch) {
    println!("hoop targets (every one records; one hoop serve per spool):");
    for target in hoops {
        let spec = target.server;
        let spool = scratch.spool(spec);
        let fs = FileSystem::of(&spool);
        println!(
            "  {:<12} spool {} on {fs}; durability {}; results {}; sslmode {}",
            target.name,
            spool.display(),
            spec.durability.name(),
            if spec.mask_results {
                "masked"
            } else {
                "unmasked"
            },
            target.sslmode,
        );
        match (spec.spool, fs.kind == "tmpfs") {
            (SpoolOn::Disk, true) => println!(
                "  warning: the spool of {} is on tmpfs, not on disk: set HOOP_BENCH_DIR to a \
                 directory on disk",
                target.name
            ),
            (SpoolOn::Tmpfs, false) => println!(
                "  warning: the spool of {} is on {}, not on tmpfs",
                target.name, fs.kind
            ),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// One mode and client count of the pgbench table.
struct Group {
    mode: &'static str,
    clients: u32,
    /// The on-disk spool's fsync latency, measured just before the runs.
    fsync: Latency,
    /// One per target, in target order.
    runs: Vec<PgbenchRun>,
}

impl Group {
    fn run(&self, targets: &[Target], name: &str) -> Option<&PgbenchRun> {
        Some(&self.runs[targets.iter().position(|t| t.name == name)?])
    }
}

/// `pgbench -S` for every mode and client count against every target, one table row each;
/// before each mode and client count, the fsync latency of the on-disk spool's directory.
async fn pgbench_table(targets: &[Target], settings: &Settings, scratch: &Scratch) -> Vec<Group> {
    println!(
        "\npgbench -S, scale {SCALE}, {} s per run; stmt/sync and sync ms: the hoop journal's \
         statements per fdatasync and mean fdatasync time over the run (hoop+tls shares hoop's \
         journal)\n{:<9}{:>3}  {:<12}{:>10}{:>9}{:>11}{:>9}{:>9}{:>11}{:>9}",
        settings.seconds,
        "mode",
        "c",
        "target",
        "tps",
        "×direct",
        "×pgbouncer",
        "p50 ms",
        "p99 ms",
        "stmt/sync",
        "sync ms"
    );
    let mut groups = Vec::new();
    for mode in MODES {
        for clients in CLIENTS {
            let dir = scratch.disk.clone();
            let fsync = tokio::task::spawn_blocking(move || fsync_latency(&dir))
                .await
                .unwrap();
            let mut runs = Vec::new();
            for target in targets {
                let log_dir = pgbench_log_dir(scratch, mode, clients, target);
                let before = target.journal().await;
                let mut run =
                    pgbench_select(target, mode, clients, settings.seconds, &log_dir).await;
                run.journal = before.zip(target.journal().await).map(|(b, a)| a.since(&b));
                runs.push(run);
            }
            let group = Group {
                mode,
                clients,
                fsync,
                runs,
            };
            let tps_of = |name| group.run(targets, name).unwrap().tps;
            let (direct, pgbouncer) = (tps_of("direct"), tps_of("pgbouncer"));
            for (target, run) in targets.iter().zip(&group.runs) {
                let (per_sync, sync_ms) =
                    run.journal.as_ref().map_or(("-".into(), "-".into()), |j| {
                        (
                            cell(j.statements_per_sync, 1, "n/a"),
                            cell(j.sync_seconds.map(|s| s * 1000.0), 3, "n/a"),
                        )
                    });
                println!(
                    "{mode:<9}{clients:>3}  {:<12}{:>10.0}{:>9.2}{:>11.2}{:>9.3}{:>9.3}{per_sync:>11}{sync_ms:>9}",
                    target.name,
                    run.tps,
                    run.tps / direct,
                    run.tps / pgbouncer,
                    run.p50_ms,
                    run.p99_ms
                );
            }
            groups.push(group);
        }
    }
    groups
}

/// `value` with `decimals` decimals, or `none`.
fn cell(value: Option<f64>, decimals: usize, none: &str) -> String {
    value.map_or(none.into(), |v| format!("{v:.decimals$}"))
}

fn pgbench_log_dir(scratch: &Scratch, mode: &str, clients: u32, target: &Target) -> PathBuf {
    scratch
        .disk
        .join(format!("pgbench-{mode}-{clients}-{}", target.name))
}

/// hoop ≥ this × the group-commit bound, spool on disk, `statement` durability.
const BOUND_SHARE: f64 = 0.8;
/// At one client, hoop's p50 over direct's ≤ one fsync + this.
const P50_SLACK_MS: f64 = 0.1;
/// hoop with its spool on tmpfs (the CPU path) ≥ this × PgBouncer, every mode and client count.
const TMPFS_SHARE: f64 = 1.0;
/// hoop with `result` durability, spool on disk, ≥ this × PgBouncer at [`RESULT_CLIENTS`].
const RESULT_SHARE: f64 = 0.7;
const RESULT_CLIENTS: u32 = 8;

/// The performance targets of the gateway, one row per mode and client count, judged on the
/// pgbench runs and the fsync latency measured before them, and printed only: a shared
/// machine's timing must never fail a run.
///
/// With `statement` durability no statement is forwarded before its record is synced, so a
/// client waits for one sync and then for the database: `c` clients can do at most
/// `c / (fsync + direct latency)` transactions per second if every sync serves all of them
/// (group commit). The fsync latency is this run's, of the disk the spool is on, so the bound
/// moves with the disk, not with a number measured elsewhere.
fn targets_table(targets: &[Target], groups: &[Group]) {
    let mark = |met: bool| if met { "✓" } else { "✗" };
    println!(
        "\ntargets (printed, never asserted; ✓ met, ✗ not met, - not measured or no target there):
  A  hoop (spool on disk, durability statement) ≥ {BOUND_SHARE:.1} × bound, bound = c / (fsync p50 + direct p50)
  B  at 1 client: +p50 = hoop p50 − direct p50 ≤ limit = fsync p50 + {P50_SLACK_MS:.1} ms
  C  hoop-tmpfs (spool on tmpfs) ≥ {TMPFS_SHARE:.1} × pgbouncer
  D  hoop-result (spool on disk, durability result) ≥ {RESULT_SHARE:.1} × pgbouncer at {RESULT_CLIENTS} clients
latencies in ms; fsync: the probe before the runs; hoop sync: hoop's own mean fdatasync over its run; bound and hoop in TPS
{:<9}{:>3}{:>10}{:>7}{:>10}{:>11}{:>8}{:>8}{:>7}{:>3}{:>8}{:>7}{:>3}{:>10}{:>3}{:>11}{:>3}",
        "mode",
        "c",
        "fsync p50",
        "p90",
        "hoop sync",
        "direct p50",
        "bound",
        "hoop",
        "×bound",
        "A",
        "+p50",
        "limit",
        "B",
        "tmpfs×pgb",
        "C",
        "result×pgb",
        "D",
    );
    for group in groups {
        let run = |name| group.run(targets, name);
        let (direct, pgbouncer) = (run("direct").unwrap(), run("pgbouncer").unwrap());
        let fsync = group.fsync.p50_ms;
        let limit = fsync + P50_SLACK_MS;
        let bound = f64::from(group.clients) * 1000.0 / (fsync + direct.p50_ms);
        let hoop = run("hoop");
        let hoop_sync = hoop.map_or("-".into(), |r| {
            let seconds = r.journal.as_ref().and_then(|j| j.sync_seconds);
            cell(seconds.map(|s| s * 1000.0), 3, "n/a")
        });
        let share = hoop.map(|r| r.tps / bound);
        let over = hoop.map(|r| r.p50_ms - direct.p50_ms);
        let versus_pgbouncer = |name| run(name).map(|r| r.tps / pgbouncer.tps);
        let (tmpfs, result) = (
            versus_pgbouncer("hoop-tmpfs"),
            versus_pgbouncer("hoop-result"),
        );
        // ✓ or ✗ where a target applies and its value was measured.
        let judge = |value: Option<f64>, applies: bool, met: &dyn Fn(f64) -> bool| match value {
            Some(v) if applies => mark(met(v)),
            _ => "-",
        };
        println!(
            "{:<9}{:>3}{fsync:>10.3}{:>7.3}{:>10}{:>11.3}{bound:>8.0}{:>8}{:>7}{:>3}{:>8}{limit:>7.3}{:>3}{:>10}{:>3}{:>11}{:>3}",
            group.mode,
            group.clients,
            group.fsync.p90_ms,
            hoop_sync,
            direct.p50_ms,
            cell(hoop.map(|r| r.tps), 0, "-"),
            cell(share, 2, "-"),
            judge(share, true, &|s| s >= BOUND_SHARE),
            cell(over, 3, "-"),
            judge(over, group.clients == 1, &|o| o <= limit),
            cell(tmpfs, 2, "-"),
            judge(tmpfs, true, &|s| s >= TMPFS_SHARE),
            cell(result, 2, "-"),
            judge(result, group.clients == RESULT_CLIENTS, &|s| s
                >= RESULT_SHARE),
        );
    }
}

/// Small appends, each made durable, per fsync probe.
const FSYNC_SAMPLES: usize = 200;
/// About one journal record of a pgbench statement (header, statement, session metadata).
const FSYNC_APPEND_BYTES: usize = 256;
/// The probe file's preallocation: a journal segment's.
const FSYNC_FILE_BYTES: u64 = 64 << 20;

/// Median and p90 of a latency sample.
struct Latency {
    p50_ms: f64,
    p90_ms: f64,
}

/// How long making one small append durable takes in `dir`: [`FSYNC_SAMPLES`] appends of
/// [`FSYNC_APPEND_BYTES`] bytes, each followed by `fdatasync`, to a new file preallocated with
/// `fallocate`. That is the write of one journal round (the journal preallocates its segments
/// the same way, and appends a round's records, then syncs), on the file system of the spool,
/// in this run: the cost that `statement` durability adds to a statement, and the one the
/// group-commit bound of [`targets_table`] is made of.
///
/// The probe runs while the benchmark is otherwise idle. Where a sync's latency depends on
/// what else the machine does (on a virtual machine, an idle vCPU can take a host scheduler
/// tick to wake for the completion), hoop's own syncs under load can be faster or slower than
/// the probe's: the targets table shows hoop's mean sync time next to the probe's.
fn fsync_latency(dir: &Path) -> Latency {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    if let Err(e) = rustix::fs::fallocate(
        &file,
        rustix::fs::FallocateFlags::empty(),
        0,
        FSYNC_FILE_BYTES,
    ) {
        eprintln!(
            "fsync probe: fallocate failed in {} ({e}): the appends grow the file",
            dir.display()
        );
    }
    file.sync_all().unwrap();
    let record = [b'r'; FSYNC_APPEND_BYTES];
    let mut sample_us: Vec<u64> = (0..FSYNC_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&record).unwrap();
            file.sync_data().unwrap();
            started.elapsed().as_micros().try_into().unwrap()
        })
        .collect();
    drop(file);
    std::fs::remove_file(&path).unwrap();
    sample_us.sort_unstable();
    Latency {
        p50_ms: percentile_ms(&sample_us, 0.50),
        p90_ms: percentile_ms(&sample_us, 0.90),
    }
}

/// The COPY stream at each size, direct and through hoop (PgBouncer is not streamed); for a
/// hoop, its RSS before the run and its peak.
async fn stream_table(targets: &[Target], settings: &Settings) {
    println!(
        "\nCOPY (SELECT repeat('x', 1000) ...) TO STDOUT, psql to /dev/null; hoop masks COPY data (hoop-nomask does not)\n{:>8}  {:<12}{:>9}{:>9}{:>15}{:>13}",
        "MiB", "target", "MiB/s", "×direct", "hoop RSS MiB", "peak MiB"
    );
    for megabytes in settings.stream_sizes() {
        let mut direct = None;
        for target in targets {
            let run = stream_copy(target, megabytes).await;
            let direct = *direct.get_or_insert(run.bytes_per_s);
            let (before, peak) = run.rss.map_or(("-".into(), "-".into()), |r| {
                (
                    format!("{:.1}", r.before_kib as f64 / 1024.0),
                    format!("{:.1}", r.peak_kib as f64 / 1024.0),
                )
            });
            println!(
                "{megabytes:>8}  {:<12}{:>9.1}{:>9.2}{before:>15}{peak:>13}",
                target.name,
                run.bytes_per_s / MIB,
                run.bytes_per_s / direct,
            );
        }
    }
}

struct PgbenchRun {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// A hoop's journal over the run.
    journal: Option<JournalRun>,
}

async fn pgbench_select(
    target: &Target,
    mode: &str,
    clients: u32,
    seconds: u64,
    log_dir: &Path,
) -> PgbenchRun {
    std::fs::create_dir_all(log_dir).unwrap();
    let mut cmd = pgbench_command(target, mode, clients, seconds, &log_dir.join("tx"));
    cmd.stdout(Stdio::piped());
    let out = run_checked(
        cmd,
        &format!("pgbench -M {mode} -c {clients} via {}", target.name),
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no tps in the pgbench output:\n{stdout}"));
    let mut latencies = transaction_latencies_us(log_dir);
    std::fs::remove_dir_all(log_dir).unwrap();
    assert!(!latencies.is_empty(), "pgbench logged no transaction");
    latencies.sort_unstable();
    PgbenchRun {
        tps,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        journal: None,
    }
}

fn pgbench_command(
    target: &Target,
    mode: &str,
    clients: u32,
    seconds: u64,
    log_prefix: &Path,
) -> Command {
    let mut cmd = target.client(&format!("{PG_BIN}/pgbench"));
    cmd.args(["-n", "-S", "-M", mode])
        .args(["-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &seconds.to_string()])
        .args(["-l", "--log-prefix"])
        .arg(log_prefix);
    cmd
}

/// The `time` column (µs) of every pgbench per-transaction log in `dir` (one file per thread):
/// `client_id transaction_no time script_no time_epoch time_us`.
fn transaction_latencies_us(dir: &Path) -> Vec<u64> {
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let time = line.split_whitespace().nth(2);
            latencies.push(
                time.and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("bad pgbench log line {line:?}")),
            );
        }
    }
    latencies
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    let i = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

struct StreamRun {
    bytes_per_s: f64,
    rss: Option<Rss>,
}

struct Rss {
    before_kib: u64,
    peak_kib: u64,
}

/// Streams `megabytes` MiB through `target`; for a hoop, its RSS before the run and its peak
/// during it.
async fn stream_copy(target: &Target, megabytes: u64) -> StreamRun {
    let rows = stream_rows(megabytes);
    let watch = target.gateway_pid();
    let before_kib = watch.map(|pid| {
        reset_peak_rss(pid);
        status_kib(pid, "VmRSS")
    });
    let started = Instant::now();
    run_checked(
        copy_command(target, rows),
        &format!("COPY of {megabytes} MiB via {}", target.name),
    )
    .await;
    let elapsed = started.elapsed();
    StreamRun {
        bytes_per_s: (rows * STREAM_ROW_BYTES) as f64 / elapsed.as_secs_f64(),
        rss: watch.zip(before_kib).map(|(pid, before_kib)| Rss {
            before_kib,
            peak_kib: status_kib(pid, "VmHWM"),
        }),
    }
}

fn stream_rows(megabytes: u64) -> u64 {
    megabytes * 1024 * 1024 / STREAM_ROW_BYTES
}

fn copy_command(target: &Target, rows: u64) -> Command {
    let mut cmd = target.client(&format!("{PG_BIN}/psql"));
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "COPY (SELECT repeat('x', 1000) FROM generate_series(1, {rows})) TO STDOUT"
        ))
        .stdout(Stdio::null());
    cmd
}

/// Rows of [`CARDS_TABLE`] whose result is at least `megabytes` MiB.
fn cards_rows(megabytes: u64) -> u64 {
    (megabytes * 1024 * 1024).div_ceil(CARDS_ROW_BYTES)
}

/// `SELECT *` of [`CARDS_TABLE`] at each size, direct, through hoop without masking and
/// through hoop masking results, [`CARDS_ROUNDS`] rounds in turn (the machine is shared: one
/// run can be slowed by another process); the median throughput, its range, and with a pid,
/// that hoop's RSS before the first round and its highest peak over the rounds.
async fn masking_table(targets: &[Target], settings: &Settings) {
    println!(
        "\nSELECT * FROM {CARDS_TABLE} (id bigint, pan text, note text, amount numeric; a card \
         number in every row, and in the note of 1 in 10), simple query, text format, DataRows \
         read by an in-process client; median of {CARDS_ROUNDS} rounds in turn; load average \
         {}\n{:>8}{:>10}  {:<12}{:>9}{:>15}{:>9}{:>15}{:>13}",
        load_average(),
        "MiB",
        "rows",
        "target",
        "MiB/s",
        "(min–max)",
        "×direct",
        "hoop RSS MiB",
        "peak MiB"
    );
    for megabytes in settings.stream_sizes() {
        let rows = cards_rows(megabytes);
        let sql = if megabytes == settings.stream_mb {
            format!("SELECT * FROM {CARDS_TABLE}")
        } else {
            format!("SELECT * FROM {CARDS_TABLE} LIMIT {rows}")
        };
        let mut speeds = vec![Vec::new(); targets.len()];
        let mut bytes = vec![0; targets.len()];
        let mut before = vec![None; targets.len()];
        let mut peak: Vec<Option<u64>> = vec![None; targets.len()];
        for _ in 0..CARDS_ROUNDS {
            for (i, target) in targets.iter().enumerate() {
                let watch = target.gateway_pid();
                let before_kib = watch.map(|pid| {
                    reset_peak_rss(pid);
                    status_kib(pid, "VmRSS")
                });
                let run = RawClient::connect(target).await.select(&sql).await;
                let peak_kib = watch.map(|pid| status_kib(pid, "VmHWM"));
                assert_eq!(run.rows, rows, "rows of {sql:?} via {}", target.name);
                // The pan column holds a card number in every row.
                let expected = if target.masks_results() {
                    0
                } else {
                    run.checked
                };
                assert_eq!(
                    run.checked_with_pan, expected,
                    "rows with a card number of {} checked via {}",
                    run.checked, target.name
                );
                speeds[i].push(run.bytes as f64 / run.elapsed.as_secs_f64());
                bytes[i] = run.bytes;
                before[i] = before[i].or(before_kib);
                peak[i] = peak[i].max(peak_kib);
            }
        }
        let medians: Vec<f64> = speeds.iter_mut().map(|s| median(s)).collect();
        let kib = |k: Option<u64>| k.map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        for (i, target) in targets.iter().enumerate() {
            let range = format!(
                "({:.0}–{:.0})",
                speeds[i][0] / MIB,
                speeds[i][speeds[i].len() - 1] / MIB
            );
            println!(
                "{:>8.0}{rows:>10}  {:<12}{:>9.1}{range:>15}{:>9.2}{:>15}{:>13}",
                bytes[i] as f64 / MIB,
                target.name,
                medians[i] / MIB,
                medians[i] / medians[0],
                kib(before[i]),
                kib(peak[i]),
            );
        }
    }
}

/// The median of `values`, which it sorts.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS (`clear_refs` 5, Linux 4.0+).
fn reset_peak_rss(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .unwrap_or_else(|e| panic!("cannot reset the peak RSS of {pid}: {e}"));
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Targets and client processes

/// Where a client connects, as libpq environment.
#[derive(Clone)]
struct Target {
    name: &'static str,
    /// The `hoop serve` behind a hoop target.
    gateway: Option<Arc<Hoop>>,
    host: String,
    port: u16,
    user: String,
    password: String,
    sslmode: &'static str,
    /// In the streaming and masking tables too (one statement each, so hoop-tmpfs and
    /// hoop-result would measure what hoop does).
    streamed: bool,
}

impl Target {
    /// `program` with this target's libpq environment.
    fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.user)
            .env("PGPASSWORD", &self.password)
            .env("PGDATABASE", DATABASE)
            .env("PGSSLMODE", self.sslmode)
            .env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// The pid of the `hoop serve` behind a hoop target, whose RSS the streaming runs watch.
    fn gateway_pid(&self) -> Option<u32> {
        self.gateway.as_ref().map(|hoop| hoop.server.pid())
    }

    /// Whether the client receives results masked.
    fn masks_results(&self) -> bool {
        self.gateway
            .as_ref()
            .is_some_and(|hoop| hoop.spec.mask_results)
    }

    /// The journal totals of the `hoop serve` behind a hoop target.
    async fn journal(&self) -> Option<JournalTotals> {
        Some(self.gateway.as_ref()?.journal().await)
    }
}

/// A minimal client for the masking run: logs in (trust, cleartext or SCRAM, no TLS), sends
/// one simple query and reads its result frame by frame from one buffer, counting DataRow bytes
/// without decoding them, so it costs little next to the server and gateway it measures (and
/// holds one read buffer, whatever the result's size).
struct RawClient {
    tcp: TcpStream,
    input: BytesMut,
    name: &'static str,
}

/// One result read by [`RawClient::select`].
struct SelectRun {
    rows: u64,
    /// DataRow bytes, headers included.
    bytes: u64,
    /// From sending the query to ReadyForQuery.
    elapsed: Duration,
    /// Rows checked for a card number (1 in [`CARDS_CHECK_EVERY`]), and how many held one.
    checked: u64,
    checked_with_pan: u64,
}

impl RawClient {
    const READ_BUFFER: usize = 256 * 1024;

    async fn connect(target: &Target) -> RawClient {
        assert_eq!(target.sslmode, "disable", "the raw client speaks no TLS");
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", target.name));
        tcp.set_nodelay(true).unwrap();
        let mut client = RawClient {
            tcp,
            input: BytesMut::with_capacity(Self::READ_BUFFER),
            name: target.name,
        };
        let mut out = BytesMut::new();
        startup::encode_startup(
            &StartupMessage {
                version: startup::PROTOCOL_3_0,
                params: vec![
                    ("user".into(), target.user.clone()),
                    ("database".into(), DATABASE.into()),
                ],
            },
            &mut out,
        );
        client.send(&out).await;
        let mut scram = None;
        loop {
            let frame = client.next_frame().await;
            let mut out = BytesMut::new();
            match BackendMessage::decode(&frame).unwrap() {
                BackendMessage::Authentication(Authentication::Ok) => {}
                BackendMessage::Authentication(Authentication::CleartextPassword) => {
                    frontend::encode_password(&target.password, &mut out)
                }
                BackendMessage::Authentication(Authentication::Sasl { .. }) => {
                    let client =
                        ScramSha256::new(target.password.as_bytes(), ChannelBinding::unsupported());
                    frontend::encode_sasl_initial_response(
                        "SCRAM-SHA-256",
                        client.message(),
                        &mut out,
                    );
                    scram = Some(client);
                }
                BackendMessage::Authentication(Authentication::SaslContinue(data)) => {
                    let scram = scram.as_mut().expect("SASL continue before SASL");
                    scram.update(&data).unwrap();
                    frontend::encode_sasl_response(scram.message(), &mut out);
                }
                BackendMessage::Authentication(Authentication::SaslFinal(data)) => scram
                    .as_mut()
                    .expect("SASL final before SASL")
                    .finish(&data)
                    .unwrap(),
                BackendMessage::Authentication(other) => {
                    panic!("{}: unexpected authentication {other:?}", target.name)
                }
                BackendMessage::ErrorResponse(e) => panic!("{}: login refused: {e:?}", target.name),
                BackendMessage::ReadyForQuery { .. } => return client,
                _ => {}
            }
            if !out.is_empty() {
                client.send(&out).await;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// Reads more bytes into the buffer; panics if the server closed the connection.
    async fn fill(&mut self) {
        self.input.reserve(Self::READ_BUFFER);
        let read = self.tcp.read_buf(&mut self.input).await.unwrap();
        assert!(read > 0, "{} closed the connection", self.name);
    }

    /// The next message (login only: the result is read by [`RawClient::select`]).
    async fn next_frame(&mut self) -> hoop_protocol::Frame {
        loop {
            if let Some(frame) = decode_frame(&mut self.input, 1 << 20).unwrap() {
                return frame;
            }
            self.fill().await;
        }
    }

    /// Runs `sql` (one simple query) and reads its result to ReadyForQuery.
    async fn select(mut self, sql: &str) -> SelectRun {
        let mut out = BytesMut::new();
        frontend::encode_query(sql, &mut out);
        let started = Instant::now();
        self.send(&out).await;
        let mut run = SelectRun {
            rows: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            checked: 0,
            checked_with_pan: 0,
        };
        loop {
            let mut at = 0;
            while let Some(header) = self.input.get(at..at + 5) {
                let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                let end = at + 1 + len as usize;
                let Some(frame) = self.input.get(at..end) else {
                    break;
                };
                match frame[0] {
                    b'D' => {
                        run.rows += 1;
                        run.bytes += frame.len() as u64;
                        if run.rows.is_multiple_of(CARDS_CHECK_EVERY) {
                            run.checked += 1;
                            run.checked_with_pan += u64::from(pan::contains_pan(&frame[5..]));
                        }
                    }
                    b'E' => panic!(
                        "{sql:?} via {} failed: {}",
                        self.name,
                        String::from_utf8_lossy(&frame[5..])
                    ),
                    b'Z' => {
                        run.elapsed = started.elapsed();
                        let mut terminate = BytesMut::new();
                        frontend::encode_terminate(&mut terminate);
                        self.send(&terminate).await;
                        return run;
                    }
                    _ => {}
                }
                at = end;
            }
            self.input.advance(at);
            self.fill().await;
        }
    }
}

/// Runs `cmd` (stdout as the caller set it up) and panics with its output if it fails.
async fn run_checked(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// `cmd` as a shell line, its libpq environment first.
fn command_line(cmd: &std::process::Command) -> String {
    let quote = |s: &str| {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+".contains(c))
        {
            s.to_owned()
        } else if !s.contains(['"', '$', '`', '\\', '!']) {
            format!("\"{s}\"")
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let env = cmd.get_envs().filter_map(|(k, v)| {
        let (k, v) = (k.to_str()?, v?.to_str()?);
        Some(if k == "PGPASSWORD" {
            format!("{k}=…")
        } else {
            format!("{k}={}", quote(v))
        })
    });
    let program = std::iter::once(quote(cmd.get_program().to_str().unwrap()));
    let args = cmd.get_args().map(|a| quote(&a.to_string_lossy()));
    env.chain(program).chain(args).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Database, servers and scratch files

async fn prepare_database(direct: &Target) {
    let admin = connect("postgres").await;
    // One statement per call: DROP/CREATE DATABASE refuse to run in a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
        // Run roles left by an interrupted run (a finished run revokes its credential).
        format!(
            "DO $$ DECLARE r record; BEGIN
                 FOR r IN SELECT m.rolname FROM pg_auth_members a
                          JOIN pg_roles m ON m.oid = a.member JOIN pg_roles p ON p.oid = a.roleid
                          WHERE p.rolname = '{ROLE}'
                 LOOP EXECUTE format('DROP ROLE %I', r.rolname); END LOOP;
             END $$"
        ),
        format!("CREATE DATABASE {DATABASE}"),
        format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} NOLOGIN; END IF; END $$"
        ),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let mut init = direct.client(&format!("{PG_BIN}/pgbench"));
    init.args(["-i", "-q", "-s", &SCALE.to_string()])
        .stdout(Stdio::null());
    run_checked(init, "pgbench -i").await;
    connect(DATABASE)
        .await
        .batch_execute(&format!(
            "GRANT CONNECT ON DATABASE {DATABASE} TO {ROLE};
             GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history
             TO {ROLE};"
        ))
        .await
        .unwrap();
}

/// (Re)creates [`CARDS_TABLE`] with `rows` rows, server-side. The card numbers are well-known
/// test PANs (Visa, Mastercard, Amex, Discover by `id % 4`; a spaced Visa in the notes), so
/// every row is Luhn-valid without computing check digits in SQL. Unlogged and frozen: the
/// runs read it from the page cache with hint bits set, so no run pays for the first scan.
async fn prepare_cards_table(rows: u64) {
    let started = Instant::now();
    let db = connect(DATABASE).await;
    for sql in [
        format!("DROP TABLE IF EXISTS {CARDS_TABLE}"),
        format!(
            "CREATE UNLOGGED TABLE {CARDS_TABLE} (id bigint, pan text, note text, amount numeric)"
        ),
        format!(
            "INSERT INTO {CARDS_TABLE}
             SELECT i,
                    (ARRAY['4111111111111111', '5555555555554444', '378282246310005',
                           '6011111111111117'])[(i % 4)::int + 1],
                    CASE WHEN i % 10 = 0
                         THEN rpad('refund to card 4012 8888 8888 1881 approved, ticket ' || i,
                                   100, ' ok')
                         ELSE rpad('order ' || i || ' shipped to the warehouse, customer \
                                    notified by email', 100, ' ok')
                    END,
                    round((i % 100000)::numeric / 100, 2)
             FROM generate_series(1::bigint, {rows}) AS i"
        ),
        format!("VACUUM (FREEZE, ANALYZE) {CARDS_TABLE}"),
        format!("GRANT SELECT ON {CARDS_TABLE} TO {ROLE}"),
    ] {
        db.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let size: i64 = db
        .query_one(&format!("SELECT pg_table_size('{CARDS_TABLE}')"), &[])
        .await
        .unwrap()
        .get(0);
    println!(
        "\n{CARDS_TABLE}: {rows} rows, {:.0} MiB on disk, made in {:.1} s",
        size as f64 / MIB,
        started.elapsed().as_secs_f64()
    );
}

async fn connect(database: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host(PG_HOST)
        .port(PG_PORT)
        .user(PG_USER)
        .dbname(database)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Postgres at {PG_HOST}:{PG_PORT}: {e}"));
    tokio::spawn(connection);
    client
}

/// A long-running child process (hoop, PgBouncer), killed when dropped, also on panic.
struct Server {
    name: &'static str,
    child: std::process::Child,
    log: PathBuf,
}

impl Server {
    /// Starts `cmd` with stdout and stderr in `log`.
    fn spawn(name: &'static str, mut cmd: std::process::Command, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Server { name, child, log }
    }

    /// Polls `ready` until it holds; panics with the log if the process exits or time runs out.
    async fn wait_ready(&mut self, mut ready: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ready().await {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{} did not become ready (exit status {exited:?}); log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hoop serve` (the release binary) with its HTTP API.
struct Hoop {
    spec: &'static HoopSpec,
    server: Server,
    api: String,
    http: reqwest::Client,
    /// How it was started, as a shell line.
    command: String,
}

/// One `hoop serve` of the run. Every one records (the default), has a spool of its own and
/// shares the state database as a replica of its own.
struct HoopSpec {
    /// Names its files (`<name>.toml`, `<name>.log`, `<name>-spool`) and replica.
    name: &'static str,
    spool: SpoolOn,
    durability: Durability,
    /// `[masking] results` (recordings are masked either way); false measures what masking
    /// costs.
    mask_results: bool,
}

/// A hoop target: a `hoop serve` and how the client connects to it.
struct HoopTarget {
    name: &'static str,
    server: &'static HoopSpec,
    sslmode: &'static str,
    /// In the streaming and masking tables too (see [`Target::streamed`]).
    streamed: bool,
}

/// Where a spool is: on disk, where a sync waits for the device, or on tmpfs, where it costs
/// next to nothing (what is left is the CPU path).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpoolOn {
    Disk,
    Tmpfs,
}

/// `durability` of the bench connection: when a statement's record must be durable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Before the statement is forwarded (the default).
    Statement,
    /// Before its result is released: the sync overlaps the database's execution.
    Result,
}

impl Durability {
    fn name(self) -> &'static str {
        match self {
            Durability::Statement => "statement",
            Durability::Result => "result",
        }
    }

    /// The `[[connections]]` line: none for the default, so that a build without the key
    /// takes the configuration.
    fn config_line(self) -> String {
        match self {
            Durability::Statement => String::new(),
            Durability::Result => format!("durability = \"{}\"\n", self.name()),
        }
    }
}

/// An exchanged credential: what a CI job hands to libpq.
struct Credential {
    id: String,
    username: String,
    password: String,
    host: String,
    port: u16,
}

/// The `hoop serve`s of the run, each with the credential its targets use.
struct Gateways(Vec<(Arc<Hoop>, Credential)>);

impl Gateways {
    /// Starts the `hoop serve` of each of `targets` (once for targets that share one) and
    /// exchanges a credential on it.
    async fn start(targets: &[&HoopTarget], issuer: &DemoIssuer, scratch: &Scratch) -> Gateways {
        let mut gateways = Gateways(Vec::new());
        for target in targets {
            if gateways.find(target.server).is_none() {
                let hoop = Hoop::start(target.server, issuer, scratch).await;
                let credential = hoop.exchange(issuer).await;
                gateways.0.push((Arc::new(hoop), credential));
            }
        }
        gateways
    }

    fn find(&self, spec: &HoopSpec) -> Option<&(Arc<Hoop>, Credential)> {
        self.0.iter().find(|(hoop, _)| hoop.spec.name == spec.name)
    }

    fn target(&self, target: &HoopTarget) -> Target {
        let (hoop, credential) = self.find(target.server).expect("hoop started");
        Target {
            name: target.name,
            gateway: Some(hoop.clone()),
            host: credential.host.clone(),
            port: credential.port,
            user: credential.username.clone(),
            password: credential.password.clone(),
            sslmode: target.sslmode,
            streamed: target.streamed,
        }
    }

    /// Revokes every credential (hoop drops its upstream role).
    async fn revoke(&self) {
        for (hoop, credential) in &self.0 {
            hoop.revoke(credential).await;
        }
    }
}

/// The sums and counts of the journal's histograms on `/metrics`; `None` where a build has no
/// such histogram.
struct JournalTotals {
    statements_per_sync: Option<HistogramTotals>,
    sync_seconds: Option<HistogramTotals>,
}

/// What a journal did over one run: the mean of each histogram's observations.
struct JournalRun {
    statements_per_sync: Option<f64>,
    sync_seconds: Option<f64>,
}

impl JournalTotals {
    fn parse(metrics: &str) -> JournalTotals {
        JournalTotals {
            statements_per_sync: HistogramTotals::parse(
                metrics,
                "hoop_journal_statements_per_sync",
            ),
            sync_seconds: HistogramTotals::parse(metrics, "hoop_journal_sync_seconds"),
        }
    }

    /// What happened between `earlier` and these totals.
    fn since(&self, earlier: &JournalTotals) -> JournalRun {
        let mean =
            |now: Option<HistogramTotals>, then: Option<HistogramTotals>| now?.mean_since(then?);
        JournalRun {
            statements_per_sync: mean(self.statements_per_sync, earlier.statements_per_sync),
            sync_seconds: mean(self.sync_seconds, earlier.sync_seconds),
        }
    }
}

/// `<name>_sum` and `<name>_count` of a histogram in OpenMetrics text.
#[derive(Clone, Copy)]
struct HistogramTotals {
    sum: f64,
    count: f64,
}

impl HistogramTotals {
    fn parse(metrics: &str, name: &str) -> Option<HistogramTotals> {
        let value = |suffix: &str| {
            metrics.lines().find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                if key.strip_prefix(name)? != suffix {
                    return None;
                }
                value.trim().parse().ok()
            })
        };
        Some(HistogramTotals {
            sum: value("_sum")?,
            count: value("_count")?,
        })
    }

    /// The mean of the observations since `earlier`; `None` if there were none.
    fn mean_since(self, earlier: HistogramTotals) -> Option<f64> {
        let count = self.count - earlier.count;
        (count > 0.0).then(|| (self.sum - earlier.sum) / count)
    }
}

impl Hoop {
    /// Starts `hoop serve` as `spec` says, with its files in `scratch`.
    async fn start(spec: &'static HoopSpec, issuer: &DemoIssuer, scratch: &Scratch) -> Hoop {
        let name = spec.name;
        let masking = if spec.mask_results {
            ""
        } else {
            "\n[masking]\nresults = false\n"
        };
        let api_port = free_port();
        let db = format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{DATABASE}");
        let config = scratch.write(
            &format!("{name}.toml"),
            &format!(
                r#"[server]
api_listen = "127.0.0.1:{api_port}"
gateway_listen = "127.0.0.1:{gateway_port}"
state_database_url = {db:?}
secret_key = "gwbench-secret-key-0123456789abcdef0123456789"
replica = "gwbench-{name}"

[gateway]
require_tls = false
spool_dir = {spool:?}
{masking}
[[issuers]]
name = "demo"
kind = "github"
url = {issuer:?}
audience = "{AUDIENCE}"

[[connections]]
name = "{CONNECTION}"
kind = "postgres"
admin_url = {db:?}
database = "{DATABASE}"
default_role = "{ROLE}"
sslmode = "disable"
role_provisioning = "exchange"
{durability}
[[trust]]
name = "gwbench"
issuer = "demo"
claims = {{ repository_id = {REPOSITORY_ID} }}
connections = ["{CONNECTION}"]
ttl = "1h"
max_sessions = 16
"#,
                gateway_port = free_port(),
                spool = scratch.spool(spec).display().to_string(),
                issuer = issuer.url(),
                durability = spec.durability.config_line(),
            ),
        );
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"));
        cmd.env_remove("HOOP_CONFIG")
            .env(
                "HOOP_LOG",
                std::env::var("HOOP_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .arg("serve")
            .arg("--config")
            .arg(&config);
        let command = command_line(&cmd);
        let mut hoop = Hoop {
            spec,
            server: Server::spawn("hoop serve", cmd, scratch.disk.join(format!("{name}.log"))),
            api: format!("http://127.0.0.1:{api_port}"),
            http: reqwest::Client::new(),
            command,
        };
        let (http, health) = (hoop.http.clone(), format!("{}/healthz", hoop.api));
        hoop.server
            .wait_ready(async || {
                http.get(&health)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
            })
            .await;
        hoop
    }

    /// The journal's histograms on `/metrics`.
    async fn journal(&self) -> JournalTotals {
        let r = self
            .http
            .get(format!("{}/metrics", self.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET /metrics of {}", self.spec.name);
        JournalTotals::parse(&r.text().await.unwrap())
    }

    /// `POST /v1/exchange` with a freshly minted token, as a CI job does.
    async fn exchange(&self, issuer: &DemoIssuer) -> Credential {
        let token = issuer.mint(&issuer.github_claims(AUDIENCE, "acme/payments", REPOSITORY_ID, 1));
        let r = self
            .http
            .post(format!("{}/v1/exchange", self.api))
            .bearer_auth(token)
            .json(&serde_json::json!({ "connection": CONNECTION }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            201,
            "exchange failed: {}",
            r.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = r.json().await.unwrap();
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {body}"))
                .to_owned()
        };
        Credential {
            id: field("credential_id"),
            username: field("username"),
            password: field("password"),
            host: field("host"),
            port: body["port"].as_u64().unwrap().try_into().unwrap(),
        }
    }

    /// Revokes the credential (hoop drops its upstream role).
    async fn revoke(&self, credential: &Credential) {
        let r = self
            .http
            .delete(format!("{}/v1/credentials/{}", self.api, credential.id))
            .basic_auth(&credential.username, Some(&credential.password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "revocation failed");
    }
}

/// PgBouncer in session mode in front of the bench database, as `nobody` (it refuses root).
struct PgBouncer {
    _server: Server,
    port: u16,
}

impl PgBouncer {
    async fn start(scratch: &Scratch) -> PgBouncer {
        let port = free_port();
        let users = scratch.write("pgbouncer-users.txt", &format!("\"{PG_USER}\" \"\"\n"));
        let ini = scratch.write(
            "pgbouncer.ini",
            &format!(
                "[databases]
{DATABASE} = host={PG_HOST} port={PG_PORT} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = session
max_client_conn = 100
default_pool_size = 20
",
                users = users.display()
            ),
        );
        let mut cmd = std::process::Command::new(PGBOUNCER);
        cmd.args(["-q", "-u", "nobody"]).arg(&ini);
        let mut server = Server::spawn("pgbouncer", cmd, scratch.disk.join("pgbouncer.log"));
        server
            .wait_ready(async || {
                tokio::net::TcpStream::connect((PG_HOST, port))
                    .await
                    .is_ok()
            })
            .await;
        PgBouncer {
            _server: server,
            port,
        }
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The run's files: configs, logs, pgbench logs and the on-disk spools in `disk` (under
/// HOOP_BENCH_DIR), the tmpfs spool in `tmpfs` (under [`TMPFS_DIR`]). Removed at the end, kept
/// after a panic.
struct Scratch {
    disk: PathBuf,
    tmpfs: PathBuf,
}

impl Scratch {
    fn create(dir: &Path) -> Scratch {
        let name = format!("hoop-gwbench-{}", std::process::id());
        let scratch = Scratch {
            disk: dir.join(&name),
            tmpfs: Path::new(TMPFS_DIR).join(&name),
        };
        for dir in [&scratch.disk, &scratch.tmpfs] {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            // PgBouncer reads its files as `nobody`.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        scratch
    }

    /// Writes `name` (world-readable) and returns its path.
    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.disk.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }

    /// The spool directory of a `hoop serve` (hoop creates it).
    fn spool(&self, spec: &HoopSpec) -> PathBuf {
        let parent = match spec.spool {
            SpoolOn::Disk => &self.disk,
            SpoolOn::Tmpfs => &self.tmpfs,
        };
        parent.join(format!("{}-spool", spec.name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in [&self.disk, &self.tmpfs] {
            if std::thread::panicking() {
                eprintln!("kept {} for inspection", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The file system a path is on, from `/proc/mounts`: the mount with the longest mount point
/// that contains the path.
struct FileSystem {
    /// `ext4`, `xfs`, `tmpfs`, ...
    kind: String,
    device: String,
    mount_point: PathBuf,
}

impl FileSystem {
    /// The file system of `path`, or of its nearest existing ancestor.
    fn of(path: &Path) -> FileSystem {
        let path = path
            .ancestors()
            .find_map(|p| p.canonicalize().ok())
            .unwrap_or_else(|| path.to_owned());
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        mounts
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (device, mount_point, kind) = (fields.next()?, fields.next()?, fields.next()?);
                // /proc/mounts writes a space in a path as \040.
                let mount_point = PathBuf::from(mount_point.replace("\\040", " "));
                path.starts_with(&mount_point).then(|| FileSystem {
                    kind: kind.into(),
                    device: device.into(),
                    mount_point,
                })
            })
            .max_by_key(|fs| fs.mount_point.components().count())
            .unwrap_or_else(|| panic!("no mount of {} in /proc/mounts", path.display()))
    }
}

impl std::fmt::Display for FileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} at {})",
            self.kind,
            self.device,
            self.mount_point.display()
        )
    }
}
