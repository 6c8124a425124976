//! `hoop demo`: a CI job's database access on embedded defaults, in a few printed steps.
//!
//! It prepares a fresh `hoop_demo` database on the local Postgres (state and upstream in one), starts
//! the demo-only OIDC issuer ([`issuer`]), the real API and the real gateway in-process on
//! loopback ports, and plays a CI job: exchange, replay, connect through the gateway (masked
//! results, refused statements, a statement held until an approver approves it), revoke, then
//! shows the session's verified recording and the audit trail.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::Value;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::base::ProcessEnv;
use crate::base::Shutdown;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::identity::issuer::DemoIssuer;
use crate::server;

const DEMO_DATABASE: &str = "hoop_demo";
const DEMO_ROLE: &str = "hoop_demo_reader";
const AUDIENCE: &str = "hoop-demo";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// A Postgres superuser (or CREATEDB + CREATEROLE) URL; the demo (re)creates `hoop_demo` there.
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
    let spool = std::env::temp_dir().join(format!("hoop-demo-spool-{}", std::process::id()));
    // The evidence: a folder store (the embedded default) and a fresh signing key. Both stay
    // after the demo, so the archive can be verified again with `hoop archive verify`.
    let evidence = std::env::temp_dir().join(format!("hoop-demo-evidence-{}", std::process::id()));
    let keys = DemoKeys::create(&evidence)?;
    let gateway_listener = server::bind("127.0.0.1:0".parse()?).await?;
    let gateway_port = gateway_listener.local_addr()?.port();
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let api = format!("http://{}", listener.local_addr()?);
    // The demo's approver: a fresh token, only its hash in the configuration.
    let (approver_token, approver_hash) = crate::approvals::new_token();
    let config = demo_config(
        &issuer.url(),
        &admin_url,
        gateway_port,
        &spool,
        &api,
        &approver_hash,
        &keys,
    )?;
    let statements = server::statement_policy(&config, "demo")?;
    let broker = server::build(&config, &ProcessEnv, "demo").await?;
    let approvals = Arc::new(server::approvals(&config, &broker, &ProcessEnv, "demo")?);
    let core = server::session_core(&config, &broker, approvals.clone(), &ProcessEnv, "demo")?;
    let gateway = Arc::new(Gateway::new(
        core.clone(),
        config.gateway.clone(),
        statements,
        "127.0.0.1",
    )?);
    let archive_config = config
        .archive
        .clone()
        .context("the demo configuration has an [archive]")?;
    let archiver = crate::archiver::Archiver::new(
        server::archiver_parts(&broker),
        &archive_config,
        core.spool().clone(),
        core.spool_gauge().clone(),
        core.archive_health().clone(),
        &ProcessEnv,
    )
    .await?;
    let archive_access = archiver.access(&archive_config.auditors);
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(archiver.run(shutdown.clone().wait(), Duration::from_secs(5)));
    tokio::spawn(approvals.clone().listen(shutdown.clone()));
    let state = crate::api::ApiState {
        broker: broker.clone(),
        approvals: approvals.clone(),
        archive: Some(archive_access),
        draining: shutdown.clone(),
        sessions: Some(core.clone()),
    };
    let serving = tokio::spawn(server::run(
        state,
        listener,
        Duration::from_secs(5),
        shutdown.clone(),
    ));
    tokio::spawn(crate::gateway::run(
        gateway.clone(),
        gateway_listener,
        shutdown,
    ));

    println!("hoop demo: a CI job's database access, on embedded defaults");
    println!(
        "  database (state and upstream)  {}",
        redact_url(&admin_url)
    );
    println!("  demo OIDC issuer (demo only)   {}", issuer.url());
    println!("  hoop API                       {api}");
    println!("  hoop gateway (TLS, recorded)   127.0.0.1:{gateway_port}\n");

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
    let (ca_cert, revoke_token) = (field("ca_cert"), field("revoke_token"));
    println!(
        "2. POST /v1/exchange -> 201: credential {id}\n   user {user}, password ({} chars, shown once), expires {} (trust rule {:?}), at most {} sessions at once\n   with the gateway's CA (for sslmode=verify-full) and a revoke token (shown once)",
        password.len(),
        field("expires_at"),
        field("trust_rule"),
        body["max_sessions"],
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

    // The job's client: unchanged libpq-style settings pointed at the gateway, verify-full TLS
    // against the CA the exchange handed out.
    let tls = client_tls(&ca_cert)?;
    let pg_url = format!(
        "postgres://{user}:{password}@127.0.0.1:{gateway_port}/{DEMO_DATABASE}?sslmode=require"
    );
    let (client, conn) = tokio_postgres::connect(&pg_url, tls.clone())
        .await
        .context("connecting through the gateway")?;
    let conn_task = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT current_user::text, current_setting('application_name'),
                    (SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = current_user),
                    (SELECT count(*) FROM payments)",
            &[],
        )
        .await?;
    println!(
        "5. through the gateway (TLS, SCRAM) as {} (VALID UNTIL {}, application_name {:?})\n   SELECT count(*) FROM payments -> {}",
        row.get::<_, String>(0),
        row.get::<_, String>(2),
        row.get::<_, String>(1),
        row.get::<_, i64>(3),
    );
    // Stored in full upstream; what leaves the gateway is the PCI display form.
    for row in client
        .query(
            "SELECT holder, number, cvv FROM cards ORDER BY id LIMIT 10",
            &[],
        )
        .await?
    {
        println!(
            "   SELECT holder, number, cvv FROM cards LIMIT 10 -> {} | {} | {}",
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
        );
    }
    // The statement policy decides before anything reaches the database.
    for sql in ["DROP TABLE cards", "SELECT number FROM cards"] {
        match client.batch_execute(sql).await {
            Ok(()) => bail!("{sql} ran; the statement policy should have refused it"),
            Err(e) => println!("   {sql} -> refused by hoop: {}", db_message(&e)),
        }
    }
    // A write to payments is held until someone other than the run's actor approves it.
    let update = "UPDATE payments SET amount_cents = amount_cents + 25 WHERE merchant = 'coffee'";
    let approver = async {
        let approval = wait_for_approval(&http, &api, approver_token.expose()).await?;
        let approval_id = approval["id"].as_str().unwrap_or_default().to_owned();
        println!(
            "   {update}\n     -> held for approval {approval_id} (rule {}); the job waits",
            approval["rule"].as_str().unwrap_or_default()
        );
        println!(
            "   approver: GET /v1/approvals -> {:?} from {} run {} by {}",
            approval["statement"].as_str().unwrap_or_default(),
            approval["run"]["repository"].as_str().unwrap_or_default(),
            approval["run"]["run_id"].as_str().unwrap_or_default(),
            approval["run"]["actor"].as_str().unwrap_or_default(),
        );
        let decided = http
            .post(format!("{api}/v1/approvals/{approval_id}/approve"))
            .bearer_auth(approver_token.expose())
            .json(&serde_json::json!({"comment": "reviewed in the demo"}))
            .send()
            .await?;
        println!(
            "   approver demo-approver (not the actor): POST /v1/approvals/{approval_id}/approve -> {}",
            decided.status().as_u16()
        );
        anyhow::Ok(())
    };
    let (held, approved) = tokio::join!(client.execute(update, &[]), approver);
    approved?;
    let rows = held.context("the approved statement failed")?;
    println!("   the held UPDATE -> ran after the approval: {rows} row updated");
    match client.execute("DELETE FROM payments", &[]).await {
        Ok(_) => bail!("the run role could delete rows; the demo role has too many privileges"),
        Err(e) => println!(
            "   DELETE FROM payments -> refused upstream: {}",
            db_message(&e)
        ),
    }

    // What the job's last step does, even when its id token has expired.
    let status = http
        .delete(format!("{api}/v1/credentials/{id}"))
        .header("authorization", format!("Bearer {revoke_token}"))
        .send()
        .await?
        .status();
    println!("6. DELETE /v1/credentials/{id} -> {}", status.as_u16());
    let live = client.query_one("SELECT 1", &[]).await;
    println!(
        "   the open session -> {}",
        match &live {
            Ok(_) => "STILL OPEN (unexpected)".to_string(),
            Err(e) => format!("ended: {}", db_message(e)),
        }
    );
    let _ = conn_task.await;
    let again = tokio_postgres::connect(&pg_url, tls).await;
    println!(
        "   connecting again -> {}",
        match &again {
            Ok(_) => "ACCEPTED (unexpected)".to_string(),
            Err(e) => format!("refused: {}", db_message(e)),
        }
    );

    // The session's evidence: recorded before each statement ran, then sealed, signed and
    // stored write-once, and listed in the replica's signed digest.
    let (manifest_key, recording_key) = wait_for_archive(&broker).await?;
    let manifest =
        crate::archive::Manifest::parse(&std::fs::read(manifest_key.to_path(&keys.archive_root))?)?;
    println!(
        "7. archive {manifest_key}\n   {} events, chain head {}…, {:?}, signed by {}",
        manifest.events,
        &manifest.chain_head.to_hex()[..16],
        manifest.end_state,
        manifest.key_id,
    );
    let jsonl = zstd::decode_all(std::fs::File::open(
        recording_key.to_path(&keys.archive_root),
    )?)?;
    for line in String::from_utf8(jsonl)?.lines() {
        let event: Value = serde_json::from_str(line)?;
        let detail = event
            .get("sql")
            .or(event.get("tag"))
            .or(event.get("message"))
            .or(event.get("reason"))
            .or(event.get("outcome"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        // What a result had masked: columns, counts and detectors, never the values.
        let masked = event
            .get("columns")
            .and_then(Value::as_array)
            .map(|columns| {
                columns
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ×{} by {}",
                            c["column"].as_str().unwrap_or("?"),
                            c["values"],
                            c["by"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            });
        println!(
            "   #{:<2} {:<14} {}",
            event["seq"],
            event["kind"].as_str().unwrap_or_default(),
            detail.or(masked).unwrap_or_default()
        );
    }
    let ring = crate::archive::KeyRing::from_text(&std::fs::read_to_string(&keys.public)?)?;
    let options = crate::archive::VerifyOptions {
        now: Some(chrono::Utc::now()),
        ..Default::default()
    };
    let report = crate::archive::verify_folder(&keys.archive_root, &ring, &options)?;
    println!(
        "8. the auditor's check against the pinned public key: {} archive(s), {} digest(s), {} problem(s)",
        report.archives,
        report.digests,
        report.problems.len()
    );
    println!(
        "   again, by hand: hoop archive verify --folder {} --public-key {}",
        keys.archive_root.display(),
        keys.public.display()
    );
    if !report.ok() {
        bail!("the demo's archive does not verify:\n{report}");
    }

    let rows = broker
        .store()
        .client()
        .await?
        .query(
            "SELECT action, outcome, code, coalesce(trust_rule, '-'), coalesce(subject, '-')
             FROM hoop_audit_events WHERE credential_id = $1::text::uuid OR (at > now() - interval '1 minute' AND outcome <> 'success')
             ORDER BY id LIMIT 12",
            &[&id],
        )
        .await?;
    println!("9. audit trail (never a token or a password):");
    for r in &rows {
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
    let _ = std::fs::remove_dir_all(&spool);
    if live.is_ok() || again.is_ok() {
        bail!("the revoked credential still works");
    }
    println!(
        "\ndone: the credential worked only for its run, only while it lived, and every statement is on record."
    );
    println!(
        "in a pipeline: the GitHub Action (action/) or the GitLab component (templates/hoop-db) do steps 1-2 and 6."
    );
    Ok(())
}

/// A TLS client that trusts exactly the gateway's certificate (what `sslmode=verify-full`
/// with `sslrootcert` does for libpq).
fn client_tls(certificate_pem: &str) -> anyhow::Result<MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(certificate_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The one pending approval, once the gateway has requested it.
async fn wait_for_approval(
    http: &reqwest::Client,
    api: &str,
    token: &str,
) -> anyhow::Result<Value> {
    for _ in 0..200 {
        let body: Value = http
            .get(format!("{api}/v1/approvals"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if let Some(first) = body["approvals"].as_array().and_then(|a| a.first()) {
            return Ok(first.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the held statement's approval never appeared")
}

/// The demo's one archive, once it is stored and a stored digest lists it.
async fn wait_for_archive(
    broker: &crate::exchange::Broker,
) -> anyhow::Result<(crate::archive::ObjectKey, crate::archive::ObjectKey)> {
    for _ in 0..300 {
        let row = broker
            .store()
            .client()
            .await?
            .query_opt(
                "SELECT manifest_key, recording_key FROM hoop_archives a
                 JOIN hoop_digests d ON d.key = a.digest_key AND d.stored",
                &[],
            )
            .await?;
        if let Some(row) = row {
            return Ok((
                crate::archive::ObjectKey::parse(row.get(0))?,
                crate::archive::ObjectKey::parse(row.get(1))?,
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the session was not archived and digested within 15 s")
}

/// The demo replica's signing key and the public key an auditor pins, beside its archive.
struct DemoKeys {
    private: std::path::PathBuf,
    public: std::path::PathBuf,
    archive_root: std::path::PathBuf,
}

impl DemoKeys {
    fn create(dir: &std::path::Path) -> anyhow::Result<DemoKeys> {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let generated = crate::archive::generate()?;
        let keys = DemoKeys {
            private: dir.join("signing.key"),
            public: dir.join("signing.key.pub"),
            archive_root: dir.join("archive"),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&keys.private)?;
        std::io::Write::write_all(&mut file, generated.private_pem.expose().as_bytes())?;
        std::fs::write(&keys.public, &generated.public_file)?;
        Ok(keys)
    }
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
    // A fresh database every time: the demo's state then always matches this build's schema
    // (a database left by an older demo may hold other migrations).
    // Two statements: neither may run inside the transaction block one Query would make.
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)"
        ))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {DEMO_DATABASE}"))
        .await?;
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
             CREATE TABLE IF NOT EXISTS cards (
                 id serial PRIMARY KEY, holder text NOT NULL, number text NOT NULL,
                 cvv text NOT NULL);
             INSERT INTO cards (holder, number, cvv)
                 SELECT * FROM (VALUES ('A. Lovelace', '4111111111111111', '123'),
                                       ('C. Babbage', '5555 5555 5555 4444', '456')) v
                 WHERE NOT EXISTS (SELECT 1 FROM cards);
             GRANT CONNECT ON DATABASE {DEMO_DATABASE} TO {DEMO_ROLE};
             GRANT SELECT ON payments, cards TO {DEMO_ROLE};
             GRANT UPDATE (amount_cents) ON payments TO {DEMO_ROLE};"
        ))
        .await?;
    let mut parsed = url::Url::parse(url)?;
    parsed.set_path(DEMO_DATABASE);
    Ok(parsed.to_string())
}

fn demo_config(
    issuer_url: &str,
    admin_url: &str,
    gateway_port: u16,
    spool: &std::path::Path,
    api: &str,
    approver_hash: &str,
    keys: &DemoKeys,
) -> anyhow::Result<Config> {
    let store = format!("file://{}", keys.archive_root.display());
    let signing_key = keys.private.display().to_string();
    let mut key = [0u8; 48];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("the system RNG failed"))?;
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let text = format!(
        r#"
        [server]
        api_listen = "127.0.0.1:0"
        gateway_listen = "127.0.0.1:{gateway_port}"
        state_database_url = {admin_url:?}
        secret_key = {key:?}
        max_ttl = "15m"

        [gateway]
        spool_dir = {spool:?}

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
        role_provisioning = "first-connect"

        [[trust]]
        name = "payments-main"
        issuer = "demo"
        claims = {{ repository_id = 1001, ref = "refs/heads/main" }}
        connections = ["payments"]
        ttl = "10m"
        max_sessions = 2

        # The default rule pack protects these tables and refuses unbounded reads of card numbers.
        [policy]
        protected_tables = ["cards", "payments"]
        pan_columns = ["cards.number"]

        # Writes to payments wait for an approver (who must not be the run's actor).
        [[rules]]
        id = "payments-writes"
        action = "approve"
        reason = "changes to payments need a second pair of eyes"
        kinds = ["update"]
        tables = ["payments"]

        [approvals]
        timeout = "1m"
        public_url = {api:?}

        [[approvals.approvers]]
        name = "demo-approver"
        token_sha256 = "{approver_hash}"
        # Dual control compares immutable user ids (the demo runs' actor is id 583231).
        github_id = 1000001
        github_login = "demo-approver"

        # Card numbers are masked wherever they appear; the CVV column whatever it holds.
        [[masking.columns]]
        name = "card-verification"
        table = "cards"
        columns = ["cvv"]

        # Finished sessions are sealed, signed and stored write-once; a digest every 2 s (an
        # hour in production) lists what was stored, so a missing archive shows.
        [archive]
        store = {store:?}
        signing_key = {{ file = {signing_key:?} }}
        digest_period = "2s"
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
