//! The gateway end to end: real `hoop serve`, real Postgres, real `psql` and tokio-postgres.

#[path = "support/mod.rs"]
mod support;

use support::*;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_works_through_the_gateway_and_every_statement_is_recorded() {
    let hoop = Hoop::start(Options::default()).await;
    let credential = hoop.issue(&hoop.github_token(9001)).await;

    let out = hoop.psql(
        &credential,
        &[
            "-c",
            "SELECT count(*) FROM widgets",
            "-c",
            "SELECT current_user, current_setting('application_name')",
        ],
    );
    let text = stdout(&out);
    assert!(text.starts_with("3\n"), "{text}");
    assert!(text.contains(&credential.username), "{text}");
    assert!(text.contains("hoop run 9001"), "{text}");

    hoop.wait_sessions_ended(1).await;
    let recordings = hoop.recordings();
    assert_eq!(recordings.len(), 1, "one recording per session");
    let report = hoop::recording::verify(&recordings[0]).expect("the hash chain verifies");
    let events = events(&recordings[0]);
    assert_eq!(report.events as usize, events.len());
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"session_start"));
    assert_eq!(kinds.last(), Some(&"session_end"));
    let sql: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "statement")
        .map(|e| e["sql"].as_str().unwrap())
        .collect();
    assert_eq!(
        sql,
        [
            "SELECT count(*) FROM widgets",
            "SELECT current_user, current_setting('application_name')"
        ]
    );
}
