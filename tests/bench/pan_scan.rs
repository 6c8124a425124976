//! Throughput of the PAN scanner (`hoop::masking::pan`) on 16 MiB corpora.
//!
//! Run with `cargo bench -p hoop --bench pan_scan`. Targets (docs: design, "Performance
//! targets"): ≥ 1 GB/s per core on ordinary text, ≥ 300 MB/s on digit-heavy data.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hoop::masking::pan::{self, MaskStyle};

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
        .find(|n| luhn(n))
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

fn luhn(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
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

/// English-like log lines with few digits (a duration or a count now and then).
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

fn bench(c: &mut Criterion) {
    let mut rng = Rng(2026);
    let words = words();
    let corpora = [
        ("log_text", log_text(&mut rng, &words)),
        ("digit_heavy_csv", digit_heavy_csv(&mut rng)),
        ("pan_every_200b", pan_dense(&mut rng, &words)),
        ("worst_case_joined_digits", joined_single_digits(&mut rng)),
    ];
    let mut group = c.benchmark_group("pan");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(SIZE as u64));
    for (name, text) in &corpora {
        let found = pan::find(text.as_bytes()).count();
        eprintln!("{name}: {found} PANs in {} bytes", text.len());
        group.bench_function(format!("find/{name}"), |b| {
            b.iter(|| pan::find(black_box(text.as_bytes())).count())
        });
        group.bench_function(format!("mask_in_place/{name}"), |b| {
            b.iter_batched_ref(
                || text.as_bytes().to_vec(),
                |buf| pan::mask_in_place(black_box(buf), &MaskStyle::BinAndLastFour),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
