//! `role_provisioning = "first-connect"`: the exchange writes only hoop's state, and the
//! per-run role appears when the gateway first needs it (`Broker::ensure_run_role`). Driven
//! in-process, since that call belongs to the gateway, not to the HTTP API.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;

use hoop::config::{Config, Secret};
use hoop::demo::issuer::DemoIssuer;
use hoop::exchange::{Broker, Caller, ExchangeRequest, IssuedCredential, RevokeAuth};
use support::*;

struct InProcess {
    broker: std::sync::Arc<Broker>,
    github: DemoIssuer,
    db: TestDb,
    secret_key: String,
    _gitlab: DemoIssuer,
    _dir: ScratchDir,
}

impl InProcess {
    async fn start() -> InProcess {
        let db = TestDb::create().await;
        let (github, gitlab) = (start_issuer().await, start_issuer().await);
        let dir = ScratchDir::new();
        let secret_key = random_secret_key();
        let text = ConfigFile {
            replica: "e2e",
            api_port: free_port(),
            gateway_port: free_port(),
            spool_dir: dir.0.join("spool"),
            github_url: github.url(),
            gitlab_url: gitlab.url(),
            database: db.name.clone(),
            reader: db.reader.clone(),
            secret_key_path: dir.write("secret_key", &secret_key),
            reaper_interval: "1h",
            role_provisioning: "first-connect",
        }
        .render();
        let env = HashMap::from([
            (STATE_URL_VAR.to_owned(), db.url()),
            (ADMIN_URL_VAR.to_owned(), db.url()),
        ]);
        let config = Config::from_toml(&text, "hoop.toml").unwrap();
        let broker = hoop::server::build(config, &env, "hoop.toml")
            .await
            .unwrap();
        InProcess {
            broker,
            github,
            db,
            secret_key,
            _gitlab: gitlab,
            _dir: dir,
        }
    }

    async fn exchange(&self, run_id: u64) -> IssuedCredential {
        let claims = self
            .github
            .github_claims(AUDIENCE, REPOSITORY, REPOSITORY_ID, run_id);
        self.broker
            .exchange(
                &self.github.mint(&claims),
                &ExchangeRequest::new(CONNECTION),
                Caller::default(),
            )
            .await
            .unwrap()
    }

    fn role_password(&self, username: &str) -> String {
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.secret_key.as_bytes());
        hoop::upstream::role_password(&key, &hoop::credentials::Username(username.into()))
            .expose()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_created_on_first_connect_and_only_once() {
    let hoop = InProcess::start().await;
    let issued = hoop.exchange(8001).await;
    let user = issued.username.0.clone();
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
    assert!(verifier.verify_password(&hoop.role_password(&user)));
    let client = hoop
        .db
        .connect_as(&user, &hoop.role_password(&user))
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
    let hoop = InProcess::start().await;
    let issued = hoop.exchange(8002).await;
    hoop.broker
        .revoke(
            issued.id,
            RevokeAuth::Password {
                username: issued.username.0.clone(),
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
