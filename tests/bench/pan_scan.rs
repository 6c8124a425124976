//! Throughput of the PAN scanner (`hoop::masking::pan`) on 16 MiB corpora, next to a regex
//! baseline, and the per-value cost of `Masker::mask_into`.
//!
//! Run with `cargo bench -p hoop --bench pan_scan` (a few minutes). Targets: ≥ 1 GB/s per core
//! on ordinary text, ≥ 400 MB/s on digit-heavy data. Criterion prints each benchmark's
//! throughput (`thrpt`, in MiB/s or GiB/s); the targets and the machine's load average are
//! printed before the figures (the machine may be shared: note the load next to them).
//!
//! Per corpus:
//! - `find`: `pan::find` over the whole corpus, every PAN counted;
//! - `contains_pan_per_line`: `pan::contains_pan` on each line, as the gateway scans each
//!   result value on its own (the per-call cost shows on short values);
//! - `mask_in_place`: `pan::mask_in_place` over a copy of the corpus (the copy is not timed);
//! - `regex`: the baseline, `regex::bytes::Regex` for 13–19 digits with optional single
//!   space or dash separators, then a digit-boundary, IIN and Luhn check of each candidate in
//!   plain Rust. It does less than hoop's scanner (no window search inside longer chains of
//!   groups, so `4111 1111 1111 1111 123` is missed), so it is a lower bound on a regex's cost.
//!
//! Then `mask_into` on one ~40-byte value, and per DataRow: 10,000 rows shaped like the
//! gateway benchmark's card table, relayed unmasked (a copy) or through `mask_data_row`.

use std::hint::black_box;
use std::time::Duration;

use std::sync::Arc;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use hoop::masking::Masker;
use hoop::masking::pan::{self, MaskStyle, iin::IIN_RANGES};
use hoop::masking::row::{ColumnPlan, MaskTally, RowPlan, mask_data_row};
use hoop::masking::value::{Format, ValueKind};
use hoop_protocol::Frame;
use hoop_protocol::rows::DataRowWriter;
use regex::bytes::Regex;

const SIZE: usize = 16 << 20;

/// SplitMix64, so every run measures the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn digits(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
    }
}

/// A Luhn-valid 16-digit Visa or Mastercard number, plain, spaced or dashed.
fn push_pan(rng: &mut Rng, out: &mut String) {
    let mut pan = String::from(rng.pick(&["4", "51", "55", "6011", "37"]));
    let len = if pan == "37" { 15 } else { 16 };
    let body = len - 1 - pan.len();
    rng.digits(&mut pan, body);
    let check = (0..10u8)
        .map(|d| format!("{pan}{d}"))
        .find(|n| luhn(n.as_bytes()))
        .unwrap();
    match rng.below(3) {
        0 => out.push_str(&check),
        layout => {
            let sep = if layout == 1 { " " } else { "-" };
            let groups: Vec<&str> = [0, 4, 8, 12]
                .iter()
                .map(|&i| &check[i..(i + 4).min(check.len())])
                .collect();
            out.push_str(&groups.join(sep));
        }
    }
}

/// Luhn over ASCII digits.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2, d * 2) {
                (0, _) => d,
                (_, twice) if twice > 9 => twice - 9,
                (_, twice) => twice,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

const WORDS: &str = "the session gateway accepted connection from client user query completed \
    while waiting for upstream server policy allowed statement select orders customers denied \
    approval pending recording flushed archive uploaded token exchange verified issuer audience \
    request";

fn words() -> Vec<&'static str> {
    WORDS.split_ascii_whitespace().collect()
}

/// English-like log lines with few digits (a duration or a count now and then) and a card
/// number in about 1 line in 500.
fn log_text(rng: &mut Rng, words: &[&str]) -> String {
    let mut text = String::with_capacity(SIZE + 256);
    while text.len() < SIZE {
        text.push_str(rng.pick(&["INFO ", "WARN ", "DEBUG ", "ERROR "]));
        for i in 0..8 + rng.below(14) {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(rng.pick(words));
        }
        if rng.below(3) == 0 {
            text.push_str(" in ");
            let n = 1 + rng.below(3) as usize;
            rng.digits(&mut text, n);
            text.push_str(" ms");
        }
        if rng.below(500) == 0 {
            text.push_str(" card ");
            push_pan(rng, &mut text);
        }
        text.push_str(".\n");
    }
    text.truncate(SIZE);
    text
}

/// CSV of orders: ids, timestamps, amounts, phone numbers, and a card number in 1 row in 20.
fn digit_heavy_csv(rng: &mut Rng) -> String {
    let mut text = String::with_capacity(SIZE + 256);
    while text.len() < SIZE {
        rng.digits(&mut text, 9);
        text.push_str(",2026-");
        rng.digits(&mut text, 2);
        text.push('-');
        rng.digits(&mut text, 2);
        text.push('T');
        rng.digits(&mut text, 2);
        text.push(':');
        rng.digits(&mut text, 2);
        text.push(':');
        rng.digits(&mut text, 2);
        text.push('.');
        rng.digits(&mut text, 6);
        text.push_str("Z,");
        let n = 1 + rng.below(5) as usize;
        rng.digits(&mut text, n);
        text.push('.');
        rng.digits(&mut text, 2);
        text.push_str(",+1-");
        rng.digits(&mut text, 3);
        text.push('-');
        rng.digits(&mut text, 3);
        text.push('-');
        rng.digits(&mut text, 4);
        text.push(',');
        match rng.below(20) {
            0 => push_pan(rng, &mut text),
            1 => rng.digits(&mut text, 19),
            _ => {
                text.push_str("ORD-");
                rng.digits(&mut text, 10);
            }
        }
        text.push('\n');
    }
    text.truncate(SIZE);
    text
}

/// A `bigint` column dumped as text: uniformly random i64 values, one per line. Most have 19
/// digits, so every value is a candidate, and those with a known IIN that pass Luhn (a few in
/// a hundred) are PANs to the scanner.
fn all_bigint(rng: &mut Rng) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(SIZE + 32);
    while text.len() < SIZE {
        writeln!(text, "{}", rng.next() as i64).unwrap();
    }
    text.truncate(SIZE);
    text
}

/// Log-like text with a card number every ~200 bytes.
fn pan_dense(rng: &mut Rng, words: &[&str]) -> String {
    let mut text = String::with_capacity(SIZE + 256);
    while text.len() < SIZE {
        let target = text.len() + 150 + rng.below(100) as usize;
        while text.len() < target {
            text.push_str(rng.pick(words));
            text.push(' ');
        }
        text.push_str("card ");
        push_pan(rng, &mut text);
        text.push_str(" ok\n");
    }
    text.truncate(SIZE);
    text
}

/// Ledger lines with amounts as `money` and `to_char` print them: thousands-grouped in the
/// separators of several locales (`,` `.` `'` no-break space) with a decimal part, and a card
/// number grouped the same way in about 1 line in 50. Exercises the grouped-number path.
fn money_ledger(rng: &mut Rng, words: &[&str]) -> String {
    let mut text = String::with_capacity(SIZE + 256);
    while text.len() < SIZE {
        text.push_str(rng.pick(words));
        text.push_str(" $");
        let (sep, point) =
            [(",", "."), (".", ","), ("'", "."), ("\u{a0}", ",")][rng.below(4) as usize];
        let head = 1 + rng.below(3) as usize;
        rng.digits(&mut text, head);
        for _ in 0..rng.below(5) {
            text.push_str(sep);
            rng.digits(&mut text, 3);
        }
        text.push_str(point);
        rng.digits(&mut text, 2);
        if rng.below(50) == 0 {
            let mut pan = String::new();
            push_pan(rng, &mut pan);
            let digits: Vec<u8> = pan.bytes().filter(u8::is_ascii_digit).collect();
            let first = match digits.len() % 3 {
                0 => 3,
                n => n,
            };
            text.push_str(" card ");
            text.push_str(std::str::from_utf8(&digits[..first]).unwrap());
            for group in digits[first..].chunks(3) {
                text.push_str(sep);
                text.push_str(std::str::from_utf8(group).unwrap());
            }
        }
        text.push('\n');
    }
    // A no-break space is two bytes: cut at a character boundary.
    let mut end = SIZE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// Worst case for the window search: single digits joined by single spaces, every start
/// passing the IIN table, so each start reads 19 digits. Not a target, a bound.
fn joined_single_digits(rng: &mut Rng) -> String {
    let mut text = String::with_capacity(SIZE + 2);
    while text.len() < SIZE {
        text.push(char::from(rng.pick(&["4", "5", "6"]).as_bytes()[0]));
        text.push(' ');
    }
    text.truncate(SIZE);
    text
}

/// The regex baseline: candidates from a regex, checked in plain Rust.
struct RegexBaseline {
    candidates: Regex,
}

impl RegexBaseline {
    fn new() -> RegexBaseline {
        RegexBaseline {
            // 13 to 19 digits, each after the first optionally preceded by one space or dash.
            candidates: Regex::new(r"(?-u)[0-9](?:[ -]?[0-9]){12,18}").unwrap(),
        }
    }

    /// How many PANs the baseline finds in `text`.
    fn count(&self, text: &[u8]) -> usize {
        self.candidates
            .find_iter(text)
            .filter(|m| {
                // Part of a longer number: not a PAN.
                let digit_at =
                    |i: Option<usize>| i.and_then(|i| text.get(i)).is_some_and(u8::is_ascii_digit);
                if digit_at(m.start().checked_sub(1)) || digit_at(Some(m.end())) {
                    return false;
                }
                let mut digits = [0u8; 19];
                let mut n = 0;
                for &b in m.as_bytes().iter().filter(|b| b.is_ascii_digit()) {
                    digits[n] = b;
                    n += 1;
                }
                known_iin(&digits[..n]) && luhn(&digits[..n])
            })
            .count()
    }
}

/// Whether the leading digits fall in one of hoop's IIN ranges (the table is data; the check
/// is the baseline's own).
fn known_iin(digits: &[u8]) -> bool {
    let first_six = digits[..6]
        .iter()
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    IIN_RANGES.iter().any(|r| {
        let prefix = first_six / 10u32.pow(6 - u32::from(r.digits));
        (r.low..=r.high).contains(&prefix)
    })
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn scanners(c: &mut Criterion) {
    let mut rng = Rng(2026);
    let words = words();
    // (name, text, with the per-line and regex benchmarks)
    let corpora = [
        ("log_text", log_text(&mut rng, &words), true),
        ("digit_heavy_csv", digit_heavy_csv(&mut rng), true),
        ("all_bigint", all_bigint(&mut rng), true),
        ("pan_every_200b", pan_dense(&mut rng, &words), true),
        (
            "worst_case_joined_digits",
            joined_single_digits(&mut rng),
            false,
        ),
        // Last, so the corpora above keep the bytes of earlier runs.
        ("money_ledger", money_ledger(&mut rng, &words), true),
    ];
    let baseline = RegexBaseline::new();
    eprintln!(
        "pan_scan: {} cores, load average {}; targets: ≥ 1 GB/s (954 MiB/s) per core on \
         log_text, ≥ 400 MB/s (381 MiB/s) on digit_heavy_csv",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    for (name, text, _) in &corpora {
        let h = text.as_bytes();
        eprintln!(
            "{name}: {} bytes, {} lines, {} PANs found by hoop, {} by the regex baseline",
            h.len(),
            h.split(|&b| b == b'\n').count(),
            pan::find(h).count(),
            baseline.count(h)
        );
    }
    let mut group = c.benchmark_group("pan");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(SIZE as u64));
    for (name, text, full) in &corpora {
        let h = text.as_bytes();
        group.bench_function(format!("{name}/find"), |b| {
            b.iter(|| pan::find(black_box(h)).count())
        });
        if *full {
            let lines: Vec<&[u8]> = h.split(|&b| b == b'\n').collect();
            group.bench_function(format!("{name}/contains_pan_per_line"), |b| {
                b.iter(|| {
                    lines
                        .iter()
                        .filter(|line| pan::contains_pan(black_box(line)))
                        .count()
                })
            });
        }
        group.bench_function(format!("{name}/mask_in_place"), |b| {
            b.iter_batched_ref(
                || h.to_vec(),
                |buf| pan::mask_in_place(black_box(buf), &MaskStyle::BinAndLastFour),
                BatchSize::LargeInput,
            )
        });
        if *full {
            group.bench_function(format!("{name}/regex"), |b| {
                b.iter(|| baseline.count(black_box(h)))
            });
        }
    }
    group.finish();
}

/// `Masker::mask_into` on one short text value, as the gateway calls it per result value.
fn per_value(c: &mut Criterion) {
    let masker = Masker::pci_default();
    let values: [(&str, &[u8]); 3] = [
        ("no_digits", b"shipped to the warehouse in Rotterdam ok"),
        ("digits_no_pan", b"order 10429 shipped 2026-03-14 qty 12 ok"),
        ("pan", b"paid with 4111 1111 1111 1111 thanks ok"),
    ];
    let mut group = c.benchmark_group("mask_into");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut scratch = Vec::with_capacity(64);
    for (name, value) in values {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(format!("{name}/{}B", value.len()), |b| {
            b.iter(|| masker.mask_into(black_box(value), &mut scratch))
        });
    }
    group.finish();
}

/// Text-format DataRows shaped like the gateway benchmark's `hoop_gwbench_cards`
/// (`id bigint, pan text, note text, amount numeric`, ~150 bytes); `pan` holds a test card
/// number in every row when `cards`, else a 16-digit order number (no known IIN). The note
/// holds a card number in 1 row in 10 either way.
fn card_rows(cards: bool, count: u64) -> Vec<Frame> {
    const PANS: [&str; 4] = [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
    ];
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for id in 1..=count {
        let pan = if cards {
            PANS[(id % 4) as usize].to_owned()
        } else {
            (1_000_000_000_000_000 + id).to_string()
        };
        let mut note = if id % 10 == 0 {
            format!("refund to card 4012 8888 8888 1881 approved, ticket {id}")
        } else {
            format!("order {id} shipped to the warehouse, customer notified by email")
        };
        while note.len() < 100 {
            note.push_str(" ok");
        }
        note.truncate(100);
        let amount = format!("{}.{:02}", (id % 100_000) / 100, id % 100);
        let mut row = DataRowWriter::new(&mut buf, 4);
        for value in [id.to_string(), pan, note, amount] {
            row.push(value.as_bytes());
        }
        row.finish();
        frames.push(Frame {
            tag: b'D',
            raw: buf.split().freeze(),
        });
    }
    frames
}

/// The gateway's per-row work on such rows: relayed as they are (`[masking] results = false`)
/// or masked by their plan (`mask_data_row`, what `hoop` does per DataRow), into one output
/// buffer as the relay does.
fn per_row(c: &mut Criterion) {
    const ROWS: u64 = 10_000;
    let masker = Masker::pci_default();
    let column = |name: &str, kind| ColumnPlan {
        label: Arc::from(name),
        kind,
        format: Format::Text,
        rule: None,
    };
    let plan = RowPlan {
        columns: vec![
            column("public.cards.id", ValueKind::Int8),
            column("public.cards.pan", ValueKind::Text),
            column("public.cards.note", ValueKind::Text),
            column("public.cards.amount", ValueKind::Numeric),
        ],
        fallback: None,
    };
    let mut group = c.benchmark_group("data_row");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, cards) in [("pan_in_every_row", true), ("no_pan_in_pan_column", false)] {
        let frames = card_rows(cards, ROWS);
        let bytes: usize = frames.iter().map(|f| f.raw.len()).sum();
        let mut check = BytesMut::new();
        let mut tally = MaskTally::default();
        for frame in &frames {
            mask_data_row(
                &plan,
                &masker,
                frame,
                &mut check,
                &mut Vec::new(),
                &mut tally,
            )
            .unwrap();
        }
        eprintln!(
            "data_row/{name}: {ROWS} rows, {bytes} bytes ({} per row), {} values masked",
            bytes as u64 / ROWS,
            tally.values()
        );
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut out = BytesMut::with_capacity(bytes);
        group.bench_function(format!("{name}/relay_unmasked"), |b| {
            b.iter(|| {
                out.clear();
                for frame in &frames {
                    out.extend_from_slice(&black_box(frame).raw);
                }
                out.len()
            })
        });
        let mut scratch = Vec::new();
        group.bench_function(format!("{name}/mask_data_row"), |b| {
            b.iter(|| {
                out.clear();
                let mut tally = MaskTally::default();
                for frame in &frames {
                    mask_data_row(
                        &plan,
                        &masker,
                        black_box(frame),
                        &mut out,
                        &mut scratch,
                        &mut tally,
                    )
                    .unwrap();
                }
                out.len()
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    scanners(&mut c);
    per_value(&mut c);
    per_row(&mut c);
    c.final_summary();
    eprintln!("pan_scan: load average at the end {}", load_average());
}
