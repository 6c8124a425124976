//! Tests on real files with real `fdatasync`, in the system temp directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::base::{CredentialId, SessionId, Sha256};
use crate::masking::Masker;
use crate::policy::rules::Action;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hoop-rec-{tag}-{}", uuid::Uuid::new_v4()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn masker() -> Masker {
    Masker::pci_default()
}

fn sql_statement(sql: &str) -> Event {
    Event::Statement(Statement {
        protocol: Protocol::Simple,
        sql: masker().mask_text(sql),
        decision: Action::Allow,
        rule: None,
        dry_run: Vec::new(),
    })
}

fn statement(i: usize) -> Event {
    sql_statement(&format!("select * from orders where id = {i}"))
}

fn complete(i: usize) -> Event {
    Event::Complete {
        tag: masker().mask_text(&format!("SELECT {i}")),
    }
}

fn start_event() -> Event {
    let m = masker();
    let id = uuid::Uuid::nil();
    Event::SessionStart(SessionStart {
        session_id: SessionId::from_uuid(id),
        credential_id: CredentialId::from_uuid(id),
        username: m.mask_text("run-1-1-abc"),
        connection: m.mask_text("shop"),
        database: m.mask_text("shop"),
        trust_rule: m.mask_text("main"),
        repository: m.mask_text("acme/shop"),
        run_id: m.mask_text("1"),
        client_addr: std::net::IpAddr::from([127, 0, 0, 1]),
        tls: false,
        durability: crate::recording::Durability::Statement,
        application_name: m.mask_text("psql"),
        params: StartupParams::default(),
    })
}

fn end() -> Event {
    Event::session_end("client terminated")
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

/// A finished recording of `n` statements between a start and an end event.
async fn recorded(spool: &Arc<Spool>, session: &str, n: usize) -> RecordingSummary {
    let first = start_event();
    let mut recorder = spool
        .create(SessionId::named(session), first)
        .await
        .unwrap();
    for i in 0..n {
        recorder.append_durable(statement(i)).await.unwrap();
        recorder.append(complete(i)).unwrap();
    }
    recorder.finish(end()).await.unwrap()
}

#[tokio::test]
async fn append_and_finish_produce_an_exact_chain() {
    let tmp = TempDir::new("chain");
    let spool = Spool::open(&tmp.0).unwrap();
    let summary = recorded(&spool, "sess-1", 3).await;

    let report = verify(&summary.path).unwrap();
    assert_eq!(report.events, 8);
    assert_eq!(summary.events, 8);
    assert_eq!(report.head.to_hex(), summary.head);
    assert_eq!(report.bytes, summary.bytes);
    assert_eq!(fs::metadata(&summary.path).unwrap().len(), summary.bytes);
    assert_eq!(report.last_kind.as_deref(), Some("session_end"));

    // Re-derive every link independently of the walker.
    let lines = lines(&summary.path);
    let mut prev =
        Sha256::of(format!("hoop-recording-v1:{}", SessionId::named("sess-1")).as_bytes()).to_hex();
    for (seq, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["seq"], json!(seq));
        assert_eq!(value["prev"], json!(prev), "line {}", seq + 1);
        assert!(line.starts_with(&format!("{{\"seq\":{seq},\"ts\":\"")));
        assert!(line.ends_with(&format!(",\"prev\":\"{prev}\"}}")));
        prev = Sha256::of(line.as_bytes()).to_hex();
    }
    assert_eq!(prev, summary.head);
    assert!(lines[1].contains(
        r#""kind":"statement","protocol":"simple","sql":"select * from orders where id = 0","decision":"allow","prev""#
    ));

    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(&summary.path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&tmp.0).unwrap().permissions());
    assert_eq!(dir_mode & 0o777, 0o700);
}

/// Tampers with a fresh 8-line recording and returns the line `verify` names.
async fn tampered(edit: impl FnOnce(&mut Vec<String>)) -> (u64, String) {
    let tmp = TempDir::new("tamper");
    let spool = Spool::open(&tmp.0).unwrap();
    let summary = recorded(&spool, "sess-t", 3).await;
    let mut content = lines(&summary.path);
    edit(&mut content);
    write_lines(&summary.path, &content);
    let err = verify(&summary.path).unwrap_err();
    (err.line().unwrap(), err.to_string())
}

#[tokio::test]
async fn tampering_is_detected_and_located() {
    // A changed byte in line 4: line 5's prev no longer matches.
    let (line, msg) = tampered(|l| {
        let edited = l[3].replacen("id = 1", "id = 7", 1);
        assert_ne!(edited, l[3]);
        l[3] = edited;
    })
    .await;
    assert_eq!(line, 5, "{msg}");
    assert!(msg.contains("previous line was altered"), "{msg}");

    // A changed byte that breaks the JSON is named on its own line.
    let (line, msg) = tampered(|l| l[3] = l[3].replacen('{', "[", 1)).await;
    assert_eq!(line, 4, "{msg}");

    // Line 3 deleted: the line now at 3 carries seq 3.
    let (line, msg) = tampered(|l| drop(l.remove(2))).await;
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("seq is 3, expected 2"), "{msg}");

    // Lines 3 and 4 swapped.
    let (line, msg) = tampered(|l| l.swap(2, 3)).await;
    assert_eq!(line, 3, "{msg}");

    // The first line moved to another session's genesis.
    let (line, msg) = tampered(|l| {
        let other = chain_genesis(&SessionId::named("someone-else").to_string()).to_hex();
        let mine = chain_genesis(&SessionId::named("sess-t").to_string()).to_hex();
        l[0] = l[0].replace(&mine, &other);
    })
    .await;
    assert_eq!(line, 1, "{msg}");
    assert!(msg.contains("genesis"), "{msg}");

    // A field renamed to a reserved key.
    let (line, msg) = tampered(|l| l[1] = l[1].replacen("\"sql\"", "\"seq\"", 1)).await;
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("duplicate key `seq`"), "{msg}");
}

#[tokio::test]
async fn a_cut_last_line_is_named() {
    let tmp = TempDir::new("cut");
    let spool = Spool::open(&tmp.0).unwrap();
    let summary = recorded(&spool, "sess-c", 3).await;
    let len = fs::metadata(&summary.path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&summary.path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let err = verify(&summary.path).unwrap_err();
    assert_eq!(err.line(), Some(8), "{err}");
    assert!(err.to_string().contains("incomplete"), "{err}");
}

#[tokio::test]
async fn recover_cuts_a_partial_line_and_resume_terminates_the_chain() {
    let tmp = TempDir::new("recover");
    let spool = Spool::open(&tmp.0).unwrap();
    let mut recorder = spool
        .create(SessionId::named("sess-r"), start_event())
        .await
        .unwrap();
    for i in 0..4 {
        recorder.append_durable(statement(i)).await.unwrap();
    }
    let path = recorder.path().to_owned();
    let (events, head, bytes) = (recorder.next_seq(), recorder.head(), recorder.bytes());
    drop(recorder);
    // A crash mid-write: half a line after the last complete one.
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, b"{\"seq\":5,\"ts\":\"2026-").unwrap();
    drop(file);
    assert_eq!(spool.leftovers().unwrap(), vec![path.clone()]);
    assert!(verify(&path).is_err());

    let recovered = recover(&path).unwrap();
    assert_eq!(recovered.truncated_bytes, 20);
    assert_eq!(recovered.events(), events);
    assert_eq!(recovered.head(), head);
    assert_eq!(recovered.chain.bytes, bytes);
    assert_eq!(recovered.chain.last_kind.as_deref(), Some("statement"));
    assert_eq!(verify(&path).unwrap().head, head);
    // Idempotent.
    assert_eq!(recover(&path).unwrap().truncated_bytes, 0);

    let mut resumed = spool.resume(&recovered).await.unwrap();
    assert!(
        spool.leftovers().unwrap().is_empty(),
        "a live recording is not a leftover"
    );
    resumed
        .append_durable(Event::Terminated {
            reason: "gateway restarted",
            noticed_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let summary = resumed.finish(end()).await.unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(report.events, events + 2);
    assert_eq!(report.head.to_hex(), summary.head);
}

#[tokio::test]
async fn recover_refuses_a_tampered_complete_line() {
    let tmp = TempDir::new("recover-bad");
    let spool = Spool::open(&tmp.0).unwrap();
    let summary = recorded(&spool, "sess-b", 2).await;
    let mut content = lines(&summary.path);
    content.remove(1);
    write_lines(&summary.path, &content);
    let len = fs::metadata(&summary.path).unwrap().len();
    assert_eq!(recover(&summary.path).unwrap_err().line(), Some(2));
    assert_eq!(
        fs::metadata(&summary.path).unwrap().len(),
        len,
        "nothing cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_all_verify_and_acks_follow_writes() {
    let tmp = TempDir::new("concurrent");
    let spool = Spool::open(&tmp.0).unwrap();
    let mut tasks = Vec::new();
    for s in 0..16 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let session = format!("sess-{s}");
            let mut recorder = spool
                .create(SessionId::named(&session), start_event())
                .await
                .unwrap();
            for i in 0..200 {
                recorder.append_durable(statement(i)).await.unwrap();
                // The ack came after the bytes were written: the file already holds the line.
                let len = fs::metadata(recorder.path()).unwrap().len();
                assert!(len >= recorder.bytes(), "acked before written");
            }
            recorder.finish(end()).await.unwrap()
        }));
    }
    for task in tasks {
        let summary = task.await.unwrap();
        let report = verify(&summary.path).unwrap();
        assert_eq!(report.events, 202);
        assert_eq!(report.head.to_hex(), summary.head);
    }
    assert_eq!(spool.leftovers().unwrap().len(), 16);
}

/// Polls `future` once, so it sends its request to the writer, and checks it now waits.
fn send_and_leave_waiting<F: std::future::Future>(future: std::pin::Pin<&mut F>) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        future.poll(&mut cx).is_pending(),
        "answered before the writer ran"
    );
}

/// A spool in a fresh folder, and a session started in it named `tag`.
async fn one_session(tag: &str) -> (TempDir, Arc<Spool>, Recorder) {
    let tmp = TempDir::new(tag);
    let spool = Spool::open(&tmp.0).unwrap();
    let recorder = spool
        .create(SessionId::named(tag), start_event())
        .await
        .unwrap();
    (tmp, spool, recorder)
}

/// A statement pays for one sync: its completion (nobody waits for it) is written with the next
/// statement and rides its sync. A session of `n` statements, each durable before the next,
/// costs `n` syncs (plus the start's), not `2n`.
#[tokio::test]
async fn a_completion_rides_the_next_statements_sync() {
    let (_tmp, spool, mut recorder) = one_session("lazy").await;
    let before = spool.journal_syncs();
    const N: u64 = 20;
    let mut last_statement_synced = 0;
    for i in 0..N as usize {
        recorder.append_durable(statement(i)).await.unwrap();
        // Nothing is left unsynced right after a durable append.
        last_statement_synced = spool.journal_syncs();
        recorder.append(complete(i)).unwrap();
    }
    let syncs = last_statement_synced - before;
    // A completion waits at most LAZY_SYNC for a statement; on a slow machine a few do sync
    // alone, never every one.
    assert!(syncs < N + N / 2, "{syncs} syncs for {N} statements");
    // The last completion becomes durable LAZY_SYNC later, with nobody waiting for it: one
    // sync, then an idle writer syncs no more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while spool.journal_syncs() == last_statement_synced && std::time::Instant::now() < deadline {
        std::thread::sleep(super::writer::LAZY_SYNC);
    }
    assert_eq!(spool.journal_syncs(), last_statement_synced + 1);
    std::thread::sleep(super::writer::LAZY_SYNC * 3);
    assert_eq!(
        spool.journal_syncs(),
        last_statement_synced + 1,
        "an idle writer does not sync"
    );
    let summary = recorder.finish(end()).await.unwrap();
    assert_eq!(verify(&summary.path).unwrap().events, 2 * N + 2);
}

/// `append_written` returns once the line is in its file and the journal, while the sync is
/// held; its `Syncing` resolves only once a sync covered it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_line_is_in_its_file_before_it_is_durable() {
    let (_tmp, spool, mut recorder) = one_session("written").await;
    let gate = spool.gate_syncs_for_test().await;
    gate.close();
    let syncing = recorder.append_written(statement(1)).await.unwrap();
    let text = fs::read_to_string(recorder.path()).unwrap();
    assert!(text.contains("where id = 1"), "{text}");
    let mut durable = Box::pin(syncing.durable());
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut durable).await;
    assert!(early.is_err(), "durable while the sync is held");
    gate.open();
    durable.await.unwrap();
    let summary = recorder.finish(end()).await.unwrap();
    assert_eq!(verify(&summary.path).unwrap().events, 3);
}

/// A line acknowledged as written may have had its statement run (`result` durability): when
/// the journal then fails to sync, the recording is poisoned and the line's `Syncing` fails,
/// but the line stays in its file, whereas a line nobody was told of is cut off. The journal is
/// a FIFO: writes succeed, `fdatasync` fails (EINVAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_keeps_the_lines_acknowledged_as_written() {
    let (tmp, spool, mut recorder) = one_session("written-kept").await;
    let fifo = tmp.0.join("journal.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reading_end = fifo.clone();
    let reader = std::thread::spawn(move || fs::File::open(reading_end).unwrap());
    spool.redirect_journal_for_test(&fifo).await.unwrap();
    let _reader = reader.join().unwrap();
    let syncing = recorder.append_written(statement(7)).await.unwrap();
    let failed = syncing.durable().await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(recorder.is_poisoned());
    let text = fs::read_to_string(recorder.path()).unwrap();
    assert!(
        text.contains("where id = 7"),
        "the record of a statement that may have run was cut off: {text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// A failed journal write fails the `written` acknowledgement: the statement is not forwarded.
#[tokio::test]
async fn a_failed_journal_write_fails_append_written() {
    let (_tmp, spool, mut recorder) = one_session("written-fail").await;
    spool
        .redirect_journal_for_test(Path::new("/dev/full"))
        .await
        .unwrap();
    let failed = recorder.append_written(statement(1)).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(recorder.is_poisoned());
}

/// Group commit: durable appends of many sessions queued while the writer is busy are made
/// durable by one journal sync. The writer is held in a known place: a recording redirected to
/// a FIFO (a test hook), whose open blocks until the test opens the FIFO's other end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_appends_queued_behind_a_busy_writer_share_one_journal_sync() {
    let tmp = TempDir::new("group");
    let spool = Spool::open(&tmp.0).unwrap();
    let gate = spool
        .create(SessionId::named("gate"), start_event())
        .await
        .unwrap();
    let mut recorders = Vec::new();
    for s in 0..16 {
        recorders.push(
            spool
                .create(SessionId::named(&format!("sess-{s}")), start_event())
                .await
                .unwrap(),
        );
    }
    let fifo = tmp.0.join("gate.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let before = spool.journal_syncs();

    let mut held = std::pin::pin!(gate.redirect_for_test(&fifo));
    send_and_leave_waiting(held.as_mut());
    let mut appends: Vec<_> = recorders
        .iter_mut()
        .enumerate()
        .map(|(i, recorder)| Box::pin(recorder.append_durable(statement(i))))
        .collect();
    for append in &mut appends {
        send_and_leave_waiting(append.as_mut());
    }
    // The writer is in (or on its way to) the FIFO's open: opening the reading end lets it go
    // on, and everything queued behind it is one round.
    let reading_end = fifo.clone();
    let reader = tokio::task::spawn_blocking(move || fs::File::open(reading_end).unwrap());
    held.await.unwrap();
    for append in appends {
        append.await.unwrap();
    }
    // The writer takes its round once before it blocks in the open: either the FIFO alone
    // (then all 16 appends are the next round) or the FIFO and the appends queued by then (then
    // the rest are one more). Without group commit it would be 16.
    let syncs = spool.journal_syncs() - before;
    assert!(
        (1..=2).contains(&syncs),
        "{syncs} journal syncs for 16 sessions"
    );
    drop(reader.await.unwrap());
    for recorder in recorders {
        let summary = recorder.finish(end()).await.unwrap();
        assert_eq!(verify(&summary.path).unwrap().events, 3);
    }
}

#[tokio::test]
async fn misuse_is_refused_without_breaking_the_chain() {
    let tmp = TempDir::new("misuse");
    let spool = Spool::open(&tmp.0).unwrap();
    let mut recorder = spool
        .create(SessionId::named("sess-m"), start_event())
        .await
        .unwrap();
    assert!(!recorder.is_poisoned());
    assert!(matches!(
        spool
            .create(SessionId::named("sess-m"), start_event())
            .await,
        Err(RecordingError::SessionExists { .. })
    ));
    assert!(matches!(
        Spool::open(&tmp.0),
        Err(RecordingError::Locked { .. })
    ));
    assert_eq!(recorder.append_durable(statement(0)).await.unwrap(), 1);
    let summary = recorder.finish(end()).await.unwrap();
    assert_eq!(verify(&summary.path).unwrap().events, 3);
    // A finished session's file exists: its id cannot be reused.
    assert!(matches!(
        spool
            .create(SessionId::named("sess-m"), start_event())
            .await,
        Err(RecordingError::SessionExists { .. })
    ));
}

/// A spool with two recordings, the victim having one durable statement; returns the victim's
/// acknowledged length too.
async fn victim_and_bystander(name: &str) -> (TempDir, Arc<Spool>, Recorder, Recorder, u64) {
    let tmp = TempDir::new(name);
    let spool = Spool::open(&tmp.0).unwrap();
    let mut victim = spool
        .create(SessionId::named("victim"), start_event())
        .await
        .unwrap();
    let bystander = spool
        .create(SessionId::named("bystander"), start_event())
        .await
        .unwrap();
    victim.append_durable(statement(0)).await.unwrap();
    let good_len = victim.bytes();
    (tmp, spool, victim, bystander, good_len)
}

fn assert_no_space(err: &RecordingError) {
    assert!(
        matches!(err, RecordingError::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{err}"
    );
}

/// Real ENOSPC from the kernel: `/dev/full` fails every write with "No space left on device".
/// The recording is pointed at it after its first lines (a test-only writer hook), which works
/// as root too, where a read-only directory would not stop writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_poisons_only_that_recording() {
    let (_tmp, _spool, mut victim, mut bystander, good_len) = victim_and_bystander("full").await;

    victim
        .redirect_for_test(Path::new("/dev/full"))
        .await
        .unwrap();
    let err = victim.append_durable(statement(1)).await.unwrap_err();
    assert_no_space(&err);
    assert!(victim.is_poisoned());
    assert!(matches!(
        victim.append(statement(2)),
        Err(RecordingError::Poisoned { .. })
    ));
    assert!(matches!(
        victim.append_durable(statement(3)).await,
        Err(RecordingError::Poisoned { .. })
    ));
    let victim_path = victim.path().to_owned();
    assert!(matches!(
        victim.finish(end()).await,
        Err(RecordingError::Poisoned { .. })
    ));

    // The real file holds exactly the acknowledged, complete lines.
    assert_eq!(fs::metadata(&victim_path).unwrap().len(), good_len);
    assert_eq!(verify(&victim_path).unwrap().events, 2);

    // Another session of the same spool carries on.
    bystander.append_durable(statement(0)).await.unwrap();
    let summary = bystander.finish(end()).await.unwrap();
    assert_eq!(verify(&summary.path).unwrap().events, 3);
}

/// Tells the child process of [`a_full_disk_mid_line_leaves_only_complete_lines`] that it is the
/// child, and the directory to record in.
const FSIZE_CHILD_DIR: &str = "HOOP_TEST_FSIZE_CHILD_DIR";
/// The child's file size limit, in bytes.
const FSIZE_LIMIT: u64 = 64 << 10;
/// The child's last line on success, so the parent knows the test really ran there.
const FSIZE_CHILD_DONE: &str = "file size limit test: done";

/// A session file that reaches the process's file size limit (`RLIMIT_FSIZE`) mid-line: the
/// kernel writes the part of the line that fits, then refuses the rest with `EFBIG`, exactly as
/// a full disk does with `ENOSPC`. The limit is per process, so this test runs itself again in
/// a child process of this test binary under `prlimit`, with `SIGXFSZ` ignored (its default
/// action kills the process). Needs neither root nor a mount, so it runs everywhere.
#[tokio::test]
async fn a_full_disk_mid_line_leaves_only_complete_lines() {
    match std::env::var_os(FSIZE_CHILD_DIR) {
        Some(dir) => full_file_mid_line(Path::new(&dir)).await,
        None => run_under_file_size_limit("a_full_disk_mid_line_leaves_only_complete_lines"),
    }
}

/// Runs the test `name` of this module in a child process of this test binary whose files may
/// not grow past [`FSIZE_LIMIT`], and asserts that it passed.
fn run_under_file_size_limit(name: &str) {
    let tmp = TempDir::new("fsize");
    fs::create_dir_all(&tmp.0).unwrap();
    // `hoop::recording::tests` without the crate: the name the test harness knows it by.
    let module = module_path!().split_once("::").unwrap().1;
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; exec \"$@\"", "sh", "prlimit"])
        .arg(format!("--fsize={FSIZE_LIMIT}"))
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", &format!("{module}::{name}"), "--nocapture"])
        .env(FSIZE_CHILD_DIR, &tmp.0)
        .output()
        .expect("sh and prlimit (util-linux) run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(FSIZE_CHILD_DONE),
        "the child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child's side, under the file size limit.
async fn full_file_mid_line(dir: &Path) {
    // Journal segments sealed small, so no segment reaches the limit: the session file does.
    let spool =
        Spool::open_with_segment_bytes(&dir.join("spool"), 8 << 10, Default::default()).unwrap();
    let mut recorder = spool
        .create(SessionId::named("sess-full"), start_event())
        .await
        .unwrap();
    let filler = "x".repeat(1000);
    let mut acked = recorder.bytes();
    let mut events: u64 = 1;
    let err = loop {
        match recorder.append_durable(sql_statement(&filler)).await {
            Ok(_) => {
                acked = recorder.bytes();
                events += 1;
            }
            Err(e) => break e,
        }
    };
    // The session file's own write failed (not the journal's), for its size.
    assert!(
        matches!(&err, RecordingError::Io { path, source }
            if source.raw_os_error() == Some(27) && path == recorder.path()),
        "{err}"
    );
    assert!(recorder.is_poisoned());
    assert!(matches!(
        recorder.append(statement(0)),
        Err(RecordingError::Poisoned { .. })
    ));
    // The refused line straddled the limit, so the kernel took its first part before refusing
    // the rest.
    let refused = recorder.bytes() - acked;
    assert!(
        acked < FSIZE_LIMIT && acked + refused > FSIZE_LIMIT,
        "{acked} + {refused}"
    );
    let path = recorder.path().to_owned();
    drop(recorder);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        acked,
        "cut back to the last line"
    );
    let report = verify(&path).unwrap();
    assert_eq!(report.events, events);
    assert!(report.events > 10, "{report:?}");
    println!("{FSIZE_CHILD_DONE} after {events} events, {acked} bytes");
}

// ---------------------------------------------------------------------------------------------
// The journal

/// Total length of the journal segments in a spool.
fn journal_bytes(spool: &Path) -> u64 {
    segments(spool)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum()
}

/// The journal segments in a spool, sorted.
fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(spool.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    found.sort();
    found
}

fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// What a session left when the process "crashed": its file's length after `keep` durable
/// statements, and the final chain state.
struct Crashed {
    path: PathBuf,
    kept_len: u64,
    events: u64,
    head: Sha256,
    bytes: u64,
}

/// Records a start and `n` statements (each followed by a completion), then drops everything
/// without finishing: the journal holds every line, the file is complete but never synced.
async fn crashed_session(dir: &Path, session: &str, n: usize, keep: usize) -> Crashed {
    let spool = Spool::open(dir).unwrap();
    let mut recorder = spool
        .create(SessionId::named(session), start_event())
        .await
        .unwrap();
    let mut kept_len = recorder.bytes();
    for i in 0..n {
        recorder.append_durable(statement(i)).await.unwrap();
        recorder.append(complete(i)).unwrap();
        if i < keep {
            kept_len = recorder.bytes();
        }
    }
    recorder.append_durable(statement(n)).await.unwrap();
    let crashed = Crashed {
        path: recorder.path().to_owned(),
        kept_len,
        events: recorder.next_seq(),
        head: recorder.head(),
        bytes: recorder.bytes(),
    };
    drop(recorder);
    drop(spool);
    crashed
}

/// Reopens a spool until the previous instance's lock is gone (its last `Arc` may be dropped
/// by a recorder a moment later).
fn reopen(dir: &Path) -> Arc<Spool> {
    for _ in 0..100 {
        match Spool::open(dir) {
            Err(RecordingError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other.unwrap(),
        }
    }
    panic!("the spool stayed locked");
}

/// The gateway's `close_crashed_recordings`, for one file.
async fn close_crashed(spool: &Arc<Spool>, path: &Path) -> ChainReport {
    let recovered = recover(path).unwrap();
    let resumed = spool.resume(&recovered).await.unwrap();
    resumed
        .finish(Event::session_end("terminated"))
        .await
        .unwrap();
    verify(path).unwrap()
}

#[tokio::test]
async fn replay_restores_lines_the_file_lost_after_the_journal_sync() {
    let tmp = TempDir::new("replay");
    let crashed = crashed_session(&tmp.0, "sess-j", 6, 2).await;
    assert!(!segments(&tmp.0).is_empty(), "the crash left the journal");
    // The crash came after the journal sync, before the file's pages reached the disk: the
    // file ends after line 5 with half of line 6.
    set_len(&crashed.path, crashed.kept_len + 15);
    assert!(verify(&crashed.path).is_err());

    let spool = reopen(&tmp.0);
    let report = verify(&crashed.path).unwrap();
    assert_eq!(report.events, crashed.events);
    assert_eq!(report.head, crashed.head);
    assert_eq!(report.bytes, crashed.bytes);
    assert!(segments(&tmp.0).is_empty(), "replayed segments are deleted");
    assert_eq!(spool.leftovers().unwrap(), vec![crashed.path.clone()]);

    let closed = close_crashed(&spool, &crashed.path).await;
    assert_eq!(closed.events, crashed.events + 1);
    assert_eq!(closed.last_kind.as_deref(), Some("session_end"));
}

#[tokio::test]
async fn replay_rebuilds_a_file_that_lost_everything_but_its_name() {
    let tmp = TempDir::new("replay-empty");
    let crashed = crashed_session(&tmp.0, "sess-e", 3, 0).await;
    set_len(&crashed.path, 0);
    let spool = reopen(&tmp.0);
    let report = verify(&crashed.path).unwrap();
    assert_eq!((report.events, report.head), (crashed.events, crashed.head));
    assert_eq!(
        close_crashed(&spool, &crashed.path).await.events,
        crashed.events + 1
    );
}

#[tokio::test]
async fn a_torn_journal_tail_is_ignored_and_earlier_records_replayed() {
    let tmp = TempDir::new("torn");
    let crashed = crashed_session(&tmp.0, "sess-torn", 4, 1).await;
    let segment = segments(&tmp.0).pop().unwrap();
    // The last record (the final statement) lost its last 10 bytes: the segment ends there,
    // before its preallocated zeros.
    let bytes = fs::read(&segment).unwrap();
    assert!(
        bytes.len() as u64 >= journal::SEGMENT_BYTES,
        "the segment is preallocated"
    );
    let records_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    set_len(&segment, records_end as u64 - 10);
    set_len(&crashed.path, crashed.kept_len);

    let spool = reopen(&tmp.0);
    let report = verify(&crashed.path).unwrap();
    assert_eq!(report.events, crashed.events - 1, "all but the torn record");
    assert_eq!(report.last_kind.as_deref(), Some("complete"));
    assert!(segments(&tmp.0).is_empty());
    assert_eq!(
        close_crashed(&spool, &crashed.path).await.events,
        crashed.events
    );
}

#[tokio::test]
async fn a_journal_that_does_not_continue_the_file_is_left_for_an_operator() {
    let tmp = TempDir::new("fork");
    let crashed = crashed_session(&tmp.0, "sess-fork", 3, 1).await;
    // The file's line 2 was rewritten (a valid chain of 2 lines, but not the journal's).
    let mut content = lines(&crashed.path);
    content.truncate(2);
    content[1] = content[1].replacen("id = 0", "id = 9", 1);
    write_lines(&crashed.path, &content);
    let before = fs::read(&crashed.path).unwrap();
    assert_eq!(verify(&crashed.path).unwrap().events, 2);

    let spool = reopen(&tmp.0);
    assert_eq!(fs::read(&crashed.path).unwrap(), before, "left as it was");
    assert!(
        spool.leftovers().unwrap().is_empty(),
        "not closed as a leftover"
    );
    assert_eq!(segments(&tmp.0).len(), 1, "the journal is kept as evidence");
    drop(spool);
    // Still held at the next start.
    assert!(reopen(&tmp.0).leftovers().unwrap().is_empty());
}

#[tokio::test]
async fn segments_rotate_and_are_deleted_once_their_sessions_are_synced() {
    let tmp = TempDir::new("rotate");
    let spool = Spool::open_with_segment_bytes(&tmp.0, 4096, Default::default()).unwrap();
    // An idle session with lines in the first segment: retiring it must sync this file.
    let idle = spool
        .create(SessionId::named("idle"), start_event())
        .await
        .unwrap();
    let mut busy = spool
        .create(SessionId::named("busy"), start_event())
        .await
        .unwrap();
    let mut first = None;
    for i in 0..200 {
        busy.append_durable(statement(i)).await.unwrap();
        let now = segments(&tmp.0);
        assert!(now.len() <= 1, "sealed segments are retired: {now:?}");
        first = first.or_else(|| now.first().cloned());
    }
    let last = segments(&tmp.0).pop().unwrap();
    assert!(journal_bytes(&tmp.0) <= 4096 + 512);
    let number = |p: &Path| -> u64 { p.file_stem().unwrap().to_str().unwrap().parse().unwrap() };
    assert!(
        number(&last) >= number(&first.unwrap()) + 5,
        "{last:?}: the journal rotated"
    );
    let idle_path = idle.path().to_owned();
    drop(idle);
    busy.finish(end()).await.unwrap();
    assert_eq!(verify(&idle_path).unwrap().events, 1);
    assert_eq!(
        verify(&spool.path_for(&SessionId::named("busy")))
            .unwrap()
            .events,
        202
    );
}

/// Real ENOSPC from the journal: every recording with a line in the failed round is refused
/// and cut back to its acknowledged lines; the next round gets a new segment.
#[tokio::test]
async fn a_failed_journal_write_poisons_the_round_and_the_journal_moves_on() {
    let (_tmp, spool, mut victim, mut bystander, good_len) =
        victim_and_bystander("journal-full").await;

    spool
        .redirect_journal_for_test(Path::new("/dev/full"))
        .await
        .unwrap();
    let err = victim.append_durable(statement(1)).await.unwrap_err();
    assert_no_space(&err);
    assert!(victim.is_poisoned());
    assert!(matches!(
        victim.append_durable(statement(2)).await,
        Err(RecordingError::Poisoned { .. })
    ));
    let victim_path = victim.path().to_owned();
    drop(victim);
    assert_eq!(fs::metadata(&victim_path).unwrap().len(), good_len);
    assert_eq!(verify(&victim_path).unwrap().events, 2);

    // The bystander had no line in that round: it carries on in a new segment.
    bystander.append_durable(statement(0)).await.unwrap();
    let summary = bystander.finish(end()).await.unwrap();
    assert_eq!(verify(&summary.path).unwrap().events, 3);
    assert!(spool.journal_syncs() >= 4);
}

#[test]
fn journal_records_round_trip_and_detect_damage() {
    let mut bytes = journal::SEGMENT_MAGIC.to_vec();
    let mut lines_in = Vec::new();
    for seq in 0..3u64 {
        let mut record = journal::Record::new("sess-r", seq, 16);
        let line = format!("{{\"seq\":{seq}}}\n");
        record.line_buffer().extend_from_slice(line.as_bytes());
        record.seal();
        assert_eq!(record.line(), line.as_bytes());
        bytes.extend_from_slice(record.bytes());
        lines_in.push(line);
    }
    let parsed = journal::parse_segment(&bytes).unwrap();
    assert_eq!(parsed.torn, 0);
    let got: Vec<_> = parsed
        .entries
        .iter()
        .map(|e| (e.seq, e.session_id, std::str::from_utf8(e.line).unwrap()))
        .collect();
    assert_eq!(
        got,
        (0..3)
            .map(|i| (i as u64, "sess-r", lines_in[i].as_str()))
            .collect::<Vec<_>>()
    );
    // A flipped byte in the second record: only the first survives.
    let second = journal::SEGMENT_MAGIC.len() + (bytes.len() - 8) / 3;
    let mut damaged = bytes.clone();
    damaged[second + 50] ^= 1;
    let parsed = journal::parse_segment(&damaged).unwrap();
    assert_eq!(parsed.entries.len(), 1);
    assert_eq!(parsed.torn, bytes.len() - second);
    assert!(journal::parse_segment(b"NOTAWAL1").is_none());
}

#[test]
fn a_spool_open_to_other_users_is_closed_at_open() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = TempDir::new("wide");
    fs::create_dir_all(&tmp.0).unwrap();
    fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o755)).unwrap();
    let _spool = Spool::open(&tmp.0).unwrap();
    let mode = fs::metadata(&tmp.0).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
