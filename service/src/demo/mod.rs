//! `hoop demo`: the whole token exchange on embedded defaults, in a few printed steps.
//!
//! It prepares a `hoop_demo` database on the local Postgres (state and upstream in one), starts
//! the demo-only OIDC issuer ([`issuer`]) and the real API in-process on loopback ports, and
//! plays a CI job: exchange, replay, connect as the per-run role, revoke.

pub mod issuer;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::Value;

use crate::config::{Config, ProcessEnv};
use crate::server::{self, Shutdown};
use issuer::DemoIssuer;

const DEMO_DATABASE: &str = "hoop_demo";
const DEMO_ROLE: &str = "hoop_demo_reader";
const AUDIENCE: &str = "hoop-demo";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// A Postgres superuser (or CREATEDB + CREATEROLE) URL; the demo creates `hoop_demo` there.
    #[arg(
        long,
        env = "HOOP_DEMO_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let admin_url = prepare_database(&args.database_url).await?;
    let issuer = DemoIssuer::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let config = demo_config(&issuer.url(), &admin_url)?;
    let broker = server::build(config, &ProcessEnv, "demo").await?;
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let api = format!("http://{}", listener.local_addr()?);
    let (trigger, shutdown) = Shutdown::new();
    let serving = tokio::spawn(server::run(
        broker.clone(),
        listener,
        Duration::from_secs(5),
        shutdown,
    ));

    println!("hoop demo: token exchange on embedded defaults");
    println!(
        "  database (state and upstream)  {}",
        redact_url(&admin_url)
    );
    println!("  demo OIDC issuer (demo only)   {}", issuer.url());
    println!("  hoop API                       {api}\n");

    let http = reqwest::Client::new();
    let claims = issuer.github_claims(AUDIENCE, "acme/payments", 1001, 4242);
    let token = issuer.mint(&claims);
    println!(
        "1. CI job acme/payments (repository_id 1001) run 4242 on refs/heads/main gets an id token (aud {AUDIENCE})"
    );

    let (status, body) = post_exchange(&http, &api, &token).await?;
    if status != 201 {
        bail!("exchange failed with {status}: {body}");
    }
    let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    let (id, user, password) = (field("credential_id"), field("username"), field("password"));
    println!(
        "2. POST /v1/exchange -> 201: credential {id}\n   user {user}, password ({} chars, shown once), expires {} (trust rule {:?})",
        password.len(),
        field("expires_at"),
        field("trust_rule"),
    );

    let (status, body) = post_exchange(&http, &api, &token).await?;
    println!(
        "3. the same token again -> {status} {}",
        body["error"]["code"].as_str().unwrap_or("?")
    );

    let other = issuer.mint(&issuer.github_claims(AUDIENCE, "mallory/payments", 666, 4243));
    let (status, body) = post_exchange(&http, &api, &other).await?;
    println!(
        "4. a token of another repository -> {status} {}",
        body["error"]["code"].as_str().unwrap_or("?")
    );

    let role_password = broker
        .upstreams()
        .role_password(&crate::credentials::Username(user.clone()));
    let mut pg = tokio_postgres::Config::from_str(&admin_url)?;
    pg.user(&user)
        .password(role_password.expose())
        .dbname(DEMO_DATABASE);
    let (client, conn) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting as the run role")?;
    let conn_task = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT current_user::text, (SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = current_user),
                    (SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = current_user),
                    (SELECT count(*) FROM payments)",
            &[],
        )
        .await?;
    println!(
        "5. connected upstream as {} (VALID UNTIL {2}; role comment {1:?})\n   SELECT count(*) FROM payments -> {3}",
        row.get::<_, String>(0),
        row.get::<_, String>(1),
        row.get::<_, String>(2),
        row.get::<_, i64>(3),
    );
    match client.execute("DELETE FROM payments", &[]).await {
        Ok(_) => bail!("the run role could delete rows; the demo role has too many privileges"),
        Err(e) => println!("   DELETE FROM payments -> refused: {}", db_message(&e)),
    }

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let status = http
        .delete(format!("{api}/v1/credentials/{id}"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await?
        .status();
    drop(client);
    let _ = conn_task.await;
    let again = pg.connect(tokio_postgres::NoTls).await;
    println!(
        "6. DELETE /v1/credentials/{id} -> {}; role dropped, connecting again -> {}",
        status.as_u16(),
        match &again {
            Ok(_) => "ACCEPTED (unexpected)".to_string(),
            Err(e) => format!("refused: {}", db_message(e)),
        }
    );

    let rows = broker
        .store()
        .client()
        .await?
        .query(
            "SELECT action, outcome, code, coalesce(trust_rule, '-'), coalesce(subject, '-')
             FROM hoop_audit_events WHERE credential_id = $1::text::uuid OR (at > now() - interval '1 minute' AND outcome <> 'success')
             ORDER BY id DESC LIMIT 6",
            &[&id],
        )
        .await?;
    println!("7. audit trail (never a token or a password):");
    for r in rows.iter().rev() {
        println!(
            "   {:<8} {:<8} {:<24} rule {:<16} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3),
            r.get::<_, String>(4)
        );
    }
    trigger.trigger();
    serving.await??;
    if again.is_ok() {
        bail!("the revoked credential still connects");
    }
    println!("\ndone: the credential worked only for its run, only while it lived.");
    Ok(())
}

async fn post_exchange(
    http: &reqwest::Client,
    api: &str,
    token: &str,
) -> anyhow::Result<(u16, Value)> {
    let response = http
        .post(format!("{api}/v1/exchange"))
        .bearer_auth(token)
        .json(&serde_json::json!({"connection": "payments"}))
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// Creates the demo database, its reader role and a small table; returns the admin URL of the
/// demo database.
async fn prepare_database(url: &str) -> anyhow::Result<String> {
    let mut pg =
        tokio_postgres::Config::from_str(url).context("--database-url is not a postgres URL")?;
    let (client, conn) = pg.connect(tokio_postgres::NoTls).await.with_context(|| {
        format!(
            "cannot connect to {} (is Postgres running?)",
            redact_url(url)
        )
    })?;
    tokio::spawn(conn);
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&DEMO_DATABASE],
        )
        .await?;
    if exists.is_none() {
        client
            .batch_execute(&format!("CREATE DATABASE {DEMO_DATABASE}"))
            .await?;
    }
    pg.dbname(DEMO_DATABASE);
    let (client, conn) = pg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{DEMO_ROLE}') THEN
                     CREATE ROLE {DEMO_ROLE} NOLOGIN;
                 END IF;
             END $$;
             CREATE TABLE IF NOT EXISTS payments (
                 id serial PRIMARY KEY, merchant text NOT NULL, amount_cents integer NOT NULL,
                 card_last4 text NOT NULL);
             INSERT INTO payments (merchant, amount_cents, card_last4)
                 SELECT * FROM (VALUES ('coffee', 450, '4242'), ('books', 2599, '1881'),
                                       ('rail', 8900, '0005')) v
                 WHERE NOT EXISTS (SELECT 1 FROM payments);
             GRANT CONNECT ON DATABASE {DEMO_DATABASE} TO {DEMO_ROLE};
             GRANT SELECT ON payments TO {DEMO_ROLE};"
        ))
        .await?;
    let mut parsed = url::Url::parse(url)?;
    parsed.set_path(DEMO_DATABASE);
    Ok(parsed.to_string())
}

fn demo_config(issuer_url: &str, admin_url: &str) -> anyhow::Result<Config> {
    let mut key = [0u8; 48];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("the system RNG failed"))?;
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let text = format!(
        r#"
        [server]
        api_listen = "127.0.0.1:0"
        state_database_url = {admin_url:?}
        secret_key = {key:?}
        max_ttl = "15m"

        [[issuers]]
        name = "demo"
        kind = "github"
        url = {issuer_url:?}
        audience = "{AUDIENCE}"

        [[connections]]
        name = "payments"
        kind = "postgres"
        admin_url = {admin_url:?}
        database = "{DEMO_DATABASE}"
        default_role = "{DEMO_ROLE}"
        sslmode = "disable"

        [[trust]]
        name = "payments-main"
        issuer = "demo"
        claims = {{ repository_id = 1001, ref = "refs/heads/main" }}
        connections = ["payments"]
        ttl = "10m"
        max_sessions = 2
        "#
    );
    Ok(Config::from_toml(&text, "demo")?)
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

/// A URL with its password replaced, for printing.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparsable URL)".into(),
    }
}
