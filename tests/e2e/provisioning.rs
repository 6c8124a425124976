//! `role_provisioning = "first-connect"`: the exchange writes only hoop's state, and the
//! per-run role appears when the gateway first needs it (`Broker::ensure_run_role`). Driven
//! in-process, since that call belongs to the gateway, not to the HTTP API.

use crate::support::*;
use hoop::base::Secret;
use hoop::exchange::{Caller, IssuedCredential, RevokeAuth};

/// The harness' in-process hoop with `role_provisioning = "first-connect"`.
async fn start() -> InProcessHoop {
    InProcessHoop::start("first-connect", |_| String::new(), &[]).await
}

/// A credential of GitHub run `run_id` of [`REPOSITORY`].
async fn issue(hoop: &InProcessHoop, run_id: u64) -> IssuedCredential {
    let claims = hoop
        .github
        .github_claims(AUDIENCE, REPOSITORY, REPOSITORY_ID, run_id);
    hoop.exchange(&hoop.github.mint(&claims)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_created_on_first_connect_and_only_once() {
    let hoop = start().await;
    let issued = issue(&hoop, 8001).await;
    let user = issued.username.to_string();
    assert!(
        !hoop.db.role_exists(&user).await,
        "no upstream role at exchange time"
    );
    assert_eq!(
        hoop.db.credential_state(&issued.id.to_string()).await,
        "active"
    );
    assert_eq!(hoop.db.audit_events("issued").await.len(), 1);

    // Two sessions connecting at once both succeed, and one role results.
    let (a, b) = tokio::join!(
        hoop.broker.ensure_run_role(issued.id),
        hoop.broker.ensure_run_role(issued.id)
    );
    a.unwrap();
    b.unwrap();
    hoop.broker.ensure_run_role(issued.id).await.unwrap();

    let row = hoop
        .db
        .client()
        .await
        .query_one(
            "SELECT rolvaliduntil, rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap();
    let valid_until: chrono::DateTime<chrono::Utc> = row.get(0);
    assert_eq!(valid_until, issued.expires_at);
    assert_eq!(row.get::<_, i32>(1), MAX_SESSIONS as i32);
    let verifier = hoop.db.role_verifier(&user).await;
    assert!(verifier.verify_password(&derived_role_password(&hoop.secret_key, &user)));
    let client = hoop
        .db
        .connect_as(&user, &derived_role_password(&hoop.secret_key, &user))
        .await
        .unwrap();
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
    drop(client);

    hoop.broker
        .revoke(
            issued.id,
            RevokeAuth::Password {
                username: user.clone(),
                password: issued.password,
            },
            Caller::default(),
        )
        .await
        .unwrap();
    assert!(
        !hoop.db.role_exists(&user).await,
        "revocation drops the role"
    );
    let again = hoop.broker.ensure_run_role(issued.id).await.unwrap_err();
    assert_eq!(again.code(), "credential_inactive");
    assert!(
        !hoop.db.role_exists(&user).await,
        "a revoked credential never gets a role again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_that_never_connected_revokes_cleanly() {
    let hoop = start().await;
    let issued = issue(&hoop, 8002).await;
    hoop.broker
        .revoke(
            issued.id,
            RevokeAuth::Password {
                username: issued.username.to_string(),
                password: Secret::new(issued.password.expose()),
            },
            Caller::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        hoop.db.credential_state(&issued.id.to_string()).await,
        "revoked"
    );
    assert_eq!(hoop.db.audit_events("revoked").await.len(), 1);
}
