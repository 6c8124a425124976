//! Replicas sharing a state database, and what survives its restart. The state database here
//! is a private cluster (`support::cluster`), so restarting it disturbs no other test.

use std::time::Duration;

use crate::support::cluster::Cluster;

const STATE_DATABASE: &str = "hoop_state";

/// An audit event written while the state database is down for a moment (a restart) is stored
/// once it is back. The load test lost the audit events of refused statements and logins of
/// that moment, from the table and from the `hoop::audit` log alike.
#[tokio::test(flavor = "multi_thread")]
async fn an_audit_event_written_while_the_state_database_restarts_is_stored() {
    use hoop::audit::{Action, AuditEvent, AuditLog, Outcome};
    let mut cluster = Cluster::start("audit", &["fsync = off"]);
    cluster.create_database(STATE_DATABASE).await;
    let url = hoop::base::Secret::new(cluster.url(STATE_DATABASE));
    let store = hoop::state::Store::new(&url, 4).unwrap();
    store.migrate().await.unwrap();
    let audit = AuditLog::new(store, "audit-test".into());
    let event = |code: &str| AuditEvent::new(Action::Statement, Outcome::Denied, code, "refused");
    audit.record(&event("before")).await.unwrap();
    // The server stops; it is started again a moment after the next event is written.
    tokio::task::block_in_place(|| cluster.stop());
    let restart = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cluster.start_again();
        cluster
    });
    let during = audit.record(&event("during")).await;
    let cluster = tokio::task::block_in_place(|| restart.join().unwrap());
    during.expect("the event is stored once the state database is back");
    let codes: Vec<String> = cluster
        .client(STATE_DATABASE)
        .await
        .unwrap()
        .query("SELECT code FROM hoop_audit_events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(codes, ["before", "during"]);
}
