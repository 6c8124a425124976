//! End-to-end load on the token exchange: real HTTP, real Postgres, tokens minted ahead by the
//! demo issuer so only hoop's work is measured (JWKS cached after the first request).
//!
//! Reports exchanges/s and p50/p99 latency at 1, 16 and 64 concurrent clients for both
//! `role_provisioning` modes: the upstream `CREATE ROLE` on the exchange path, or deferred to
//! the first connection (measured separately, as the gateway will run it), plus revocations
//! (`DROP ROLE`) and the mean time of each exchange phase from `/metrics`.
//!
//! Environment: HOOP_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
//! HOOP_BENCH_REQUESTS (per concurrency level, default 2000).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use hoop::base::CredentialId;
use hoop::base::ProcessEnv;
use hoop::base::Shutdown;
use hoop::config::Config;
use hoop::identity::issuer::DemoIssuer;
use hoop::server;

const DATABASE: &str = "hoop_bench";
const ROLE: &str = "hoop_bench_reader";

struct Issued {
    id: String,
    auth: String,
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("HOOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let requests: usize = std::env::var("HOOP_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let db_url = prepare(&admin).await;
    let issuer = DemoIssuer::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let config = Config::from_toml(&config_text(&issuer.url(), &db_url), "bench").unwrap();
    let broker = server::build(&config, &ProcessEnv, "bench").await.unwrap();
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = Shutdown::new();
    let approvals = Arc::new(server::approvals(&config, &broker, &ProcessEnv, "bench").unwrap());
    let state = hoop::api::ApiState {
        broker: broker.clone(),
        approvals,
        archive: None,
        draining: shutdown.clone(),
        sessions: None,
    };
    tokio::spawn(server::run(
        state,
        listener,
        Duration::from_secs(3600),
        shutdown,
    ));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();

    println!(
        "hoop exchange benchmark: {requests} requests per level, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Warm the JWKS cache and the pools.
    let warm = exchange_all(&http, &api, mint(&issuer, 8, 0), "bench", 4).await;
    revoke_all(&http, &api, warm.1, 4).await;

    let modes = [
        ("role at exchange", "bench"),
        ("role at first connect", "bench_lazy"),
    ];
    for concurrency in [1usize, 16, 64] {
        for (m, (mode, connection)) in modes.iter().enumerate() {
            let run_base = (concurrency * 10 + m) as u64 * 1_000_000;
            let tokens = mint(&issuer, requests, run_base);
            let before = phase_totals(&http, &api).await;
            let (lat, issued) = exchange_all(&http, &api, tokens, connection, concurrency).await;
            report(&format!("exchange, {mode}"), concurrency, &lat);
            let after = phase_totals(&http, &api).await;
            let mean = |phase: &str| {
                let (s0, c0) = before.get(phase).copied().unwrap_or_default();
                let (s1, c1) = after.get(phase).copied().unwrap_or_default();
                (s1 - s0) / (c1 - c0).max(1.0) * 1000.0
            };
            println!(
                "    mean per phase: verify {:.2} ms, state {:.2} ms, CREATE ROLE {:.2} ms, activate {:.2} ms",
                mean("Verify"),
                mean("State"),
                mean("UpstreamRole"),
                mean("Activate")
            );
            if *connection == "bench_lazy" {
                let lat = first_connect_all(&broker, &issued, concurrency).await;
                report("  first connect: CREATE ROLE", concurrency, &lat);
            }
            let lat = revoke_all(&http, &api, issued, concurrency).await;
            report("  revoke: terminate + DROP ROLE", concurrency, &lat);
        }
    }
    trigger.trigger();
}

/// `phase → (sum seconds, count)` of the exchange phase histogram, from `/metrics`.
async fn phase_totals(
    http: &reqwest::Client,
    api: &str,
) -> std::collections::HashMap<String, (f64, f64)> {
    let text = http
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut totals = std::collections::HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("hoop_exchange_phase_duration_seconds_") else {
            continue;
        };
        let (kind, rest) = rest.split_once("{phase=\"").unwrap_or(("", ""));
        let Some((phase, value)) = rest.split_once("\"} ") else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let entry = totals.entry(phase.to_owned()).or_insert((0.0, 0.0));
        match kind {
            "sum" => entry.0 = value,
            "count" => entry.1 = value,
            _ => {}
        }
    }
    totals
}

fn report(what: &str, concurrency: usize, lat: &Latencies) {
    println!(
        "{what:<38} c={concurrency:<3} n={:<6} {:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        lat.samples.len(),
        lat.samples.len() as f64 / lat.wall.as_secs_f64(),
        lat.percentile(0.50),
        lat.percentile(0.99),
    );
}

struct Latencies {
    samples: Vec<Duration>,
    wall: Duration,
}

impl Latencies {
    fn percentile(&self, p: f64) -> f64 {
        let mut s = self.samples.clone();
        s.sort();
        let i = ((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1;
        s[i].as_secs_f64() * 1000.0
    }
}

fn mint(issuer: &DemoIssuer, n: usize, run_base: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            issuer.mint(&issuer.github_claims(
                "hoop-bench",
                "acme/payments",
                1001,
                run_base + i as u64 + 1,
            ))
        })
        .collect()
}

/// Runs `work(i)` for i in 0..n on `concurrency` tasks; returns per-call latencies and results.
async fn drive<T, F, Fut>(n: usize, concurrency: usize, work: F) -> (Latencies, Vec<T>)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return out;
                    }
                    let t = Instant::now();
                    let r = work(i).await;
                    out.push((t.elapsed(), r));
                }
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        for (d, r) in t.await.unwrap() {
            samples.push(d);
            results.push(r);
        }
    }
    (
        Latencies {
            samples,
            wall: started.elapsed(),
        },
        results,
    )
}

async fn exchange_all(
    http: &reqwest::Client,
    api: &str,
    tokens: Vec<String>,
    connection: &'static str,
    concurrency: usize,
) -> (Latencies, Vec<Issued>) {
    let (http, api, tokens) = (http.clone(), api.to_owned(), Arc::new(tokens));
    let n = tokens.len();
    drive(n, concurrency, move |i| {
        let (http, api, tokens) = (http.clone(), api.clone(), tokens.clone());
        async move {
            let r = http
                .post(format!("{api}/v1/exchange"))
                .bearer_auth(&tokens[i])
                .json(&serde_json::json!({ "connection": connection }))
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
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                body["username"].as_str().unwrap(),
                body["password"].as_str().unwrap()
            ));
            Issued {
                id: body["credential_id"].as_str().unwrap().to_owned(),
                auth: format!("Basic {basic}"),
            }
        }
    })
    .await
}

async fn revoke_all(
    http: &reqwest::Client,
    api: &str,
    issued: Vec<Issued>,
    concurrency: usize,
) -> Latencies {
    let (http, api, issued) = (http.clone(), api.to_owned(), Arc::new(issued));
    let n = issued.len();
    // 202: accepted, the role dropped in the background (any other answer aborts the run).
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = pending.clone();
    let latencies = drive(n, concurrency, move |i| {
        let (http, api, issued, pending) =
            (http.clone(), api.clone(), issued.clone(), counted.clone());
        async move {
            let c = &issued[i];
            let r = http
                .delete(format!("{api}/v1/credentials/{}", c.id))
                .header("authorization", &c.auth)
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                204 => {}
                202 => {
                    pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                status => panic!("revoke failed: {status} {}", r.text().await.unwrap()),
            }
        }
    })
    .await
    .0;
    let pending = pending.load(std::sync::atomic::Ordering::Relaxed);
    if pending > 0 {
        println!("    {pending} of {n} revocations answered 202 (role dropped in the background)");
    }
    latencies
}

/// What the gateway will do on a credential's first connection in first-connect mode.
async fn first_connect_all(
    broker: &Arc<hoop::exchange::Broker>,
    issued: &[Issued],
    concurrency: usize,
) -> Latencies {
    let ids: Arc<Vec<CredentialId>> = Arc::new(
        issued
            .iter()
            .map(|c| CredentialId::parse(&c.id).unwrap())
            .collect(),
    );
    let broker = broker.clone();
    drive(ids.len(), concurrency, move |i| {
        let (broker, ids) = (broker.clone(), ids.clone());
        async move { broker.ensure_run_role(ids[i]).await.unwrap() }
    })
    .await
    .0
}

async fn prepare(admin: &str) -> String {
    let pg = tokio_postgres::Config::from_str(admin).unwrap();
    let (client, conn) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to Postgres");
    tokio::spawn(conn);
    for sql in [
        format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {DATABASE}"),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
    client
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} NOLOGIN; END IF; END $$;"
        ))
        .await
        .unwrap();
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(DATABASE);
    url.to_string()
}

fn config_text(issuer: &str, db: &str) -> String {
    format!(
        r#"
        [server]
        state_database_url = {db:?}
        secret_key = "bench-secret-key-0123456789abcdef0123456789"
        [[issuers]]
        name = "demo"
        kind = "github"
        url = {issuer:?}
        audience = "hoop-bench"
        [[connections]]
        name = "bench"
        kind = "postgres"
        admin_url = {db:?}
        database = "{DATABASE}"
        default_role = "{ROLE}"
        admin_pool_size = 16
        [[connections]]
        name = "bench_lazy"
        kind = "postgres"
        admin_url = {db:?}
        database = "{DATABASE}"
        default_role = "{ROLE}"
        admin_pool_size = 16
        role_provisioning = "first-connect"
        [[trust]]
        name = "bench"
        issuer = "demo"
        claims = {{ repository_id = 1001 }}
        connections = ["bench", "bench_lazy"]
        "#
    )
}
