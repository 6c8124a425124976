//! Group commit of the recording spool (`hoop::recording::Spool`), measured: durable appends per
//! second for one session alone and for 8 concurrent sessions sharing the journal's syncs, in
//! the system temp directory (so on its file system and disk). Printed, never asserted: the
//! figures depend on the disk. That one sync serves every session queued in a round is a test
//! (`recording::tests::durable_appends_queued_behind_a_busy_writer_share_one_journal_sync`).
//!
//! Run with `cargo bench -p hoop --bench group_commit`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hoop::base::{CredentialId, SessionId};
use hoop::masking::Masker;
use hoop::policy::rules::Action;
use hoop::recording::{Event, Protocol, SessionStart, Spool, StartupParams, Statement};

const PER_SESSION: usize = 300;

fn start_event(masker: &Masker, session: &str, id: SessionId) -> Event {
    Event::SessionStart(SessionStart {
        session_id: id,
        credential_id: CredentialId::from_uuid(uuid::Uuid::nil()),
        username: masker.mask_text(session),
        connection: masker.mask_text("shop"),
        database: masker.mask_text("shop"),
        trust_rule: masker.mask_text("main"),
        repository: masker.mask_text("acme/shop"),
        run_id: masker.mask_text("1"),
        client_addr: std::net::IpAddr::from([127, 0, 0, 1]),
        tls: false,
        durability: hoop::recording::Durability::Statement,
        application_name: masker.mask_text("bench"),
        params: StartupParams::default(),
    })
}

fn statement(masker: &Masker, i: usize) -> Event {
    Event::Statement(Statement {
        protocol: Protocol::Simple,
        sql: masker.mask_text(&format!("select * from orders where id = {i}")),
        decision: Action::Allow,
        rule: None,
        dry_run: Vec::new(),
    })
}

/// Durable appends per second of `sessions` concurrent sessions of `n` statements each, and
/// what was run.
async fn durable_rate(spool: &Arc<Spool>, tag: &str, sessions: usize, n: usize) -> (f64, String) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let spool = spool.clone();
        let session = format!("{tag}-{s}");
        tasks.push(tokio::spawn(async move {
            let masker = Masker::pci_default();
            let id = SessionId::new_random();
            let mut recorder = spool
                .create(id, start_event(&masker, &session, id))
                .await
                .unwrap();
            for i in 0..n {
                recorder
                    .append_durable(statement(&masker, i))
                    .await
                    .unwrap();
            }
            recorder
                .finish(Event::session_end("client terminated"))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = (sessions * n) as f64 / elapsed;
    (rate, format!("{sessions}x{n} in {elapsed:.2}s"))
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("hoop-bench-group-commit-{}", uuid::Uuid::new_v4()));
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tmp = TempDir::new();
        let spool = Spool::open(tmp.path()).unwrap();
        let (one, _) = durable_rate(&spool, "solo", 1, PER_SESSION).await;
        let syncs_before = spool.journal_syncs();
        let (eight, rounds) = durable_rate(&spool, "group", 8, PER_SESSION).await;
        let syncs = spool.journal_syncs() - syncs_before;
        println!(
            "group commit: 1 session {one:.0} durable appends/s; 8 sessions {eight:.0}/s total \
             ({:.1}x, {:.0}/s per session); {rounds}, {syncs} journal syncs",
            eight / one,
            eight / 8.0
        );
    });
}
