//! `hoop serve`: wiring, the reaper loop, reloads ([`reload`]), and the drain before a stop.

pub mod reload;

use std::future::Future;
use std::sync::Arc;

use crate::base::Shutdown;
use tokio::net::TcpListener;

use crate::approvals::Approvals;
use crate::approvals::notify::Notifier;
use crate::archiver::ArchiverDeps;
use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::base::{ConnectionName, DbRole, SecretEnv};
use crate::config::{Config, ConfigError};
use crate::exchange::{Broker, Issuing};
use crate::gateway::Gateway;
use crate::gateway::{InForce, StatementPolicy};
use crate::identity::Verifier;
use crate::masking::PanStyle;
use crate::masking::pan::TokenKey;
use crate::masking::{MaskStyle, Masker, MaskingPolicy};
use crate::metrics::Metrics;
use crate::policy::classify::Classifier;
use crate::recording::{Durability, Spool, SpoolGauge};
use crate::session::{Core, CoreParts};
use crate::state::{StateError, Store};
use crate::trust::TrustPolicy;
use crate::upstream::{UpstreamError, Upstreams};

/// Shortest secret key accepted, in bytes.
const MIN_SECRET_KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the API server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
    #[error(transparent)]
    Watcher(#[from] crate::watcher::WatcherError),
    #[error(transparent)]
    Archive(#[from] crate::archiver::ArchiverError),
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Builds the broker from a validated configuration: resolves secrets, connects to the state
/// database and applies migrations.
pub async fn build(
    config: &Config,
    env: &dyn SecretEnv,
    origin: &str,
) -> Result<Arc<Broker>, ServeError> {
    let trust = config.trust_policy(origin)?;
    let state_url = config
        .server
        .state_database_url
        .resolve(env)
        .map_err(|e| ConfigError::new(origin, format!("server.state_database_url: {e}")))?;
    let secret_key = config
        .server
        .secret_key
        .resolve(env)
        .map_err(|e| ConfigError::new(origin, format!("server.secret_key: {e}")))?;
    if secret_key.expose().len() < MIN_SECRET_KEY_BYTES {
        return Err(ConfigError::new(
            origin,
            format!(
                "server.secret_key must be at least {MIN_SECRET_KEY_BYTES} bytes \
                 (generate one with: openssl rand -base64 48)"
            ),
        )
        .into());
    }
    // Every secret is read before anything connects, so a missing one fails fast.
    let upstreams = Arc::new(Upstreams::new(&config.connections, &secret_key, env)?);
    let store = Store::new(&state_url, 16)?;
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied state database migrations");
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let verifier = Verifier::new(&config.issuers, http);
    let replica = config.server.replica.clone().unwrap_or_else(host_name);
    let audit = AuditLog::new(store.clone(), replica);
    let (public_host, public_port) = config.public_endpoint();
    // A generated certificate's CA is derived from the secret key, so the one handed out here
    // verifies the certificate the gateway generates when it starts.
    let gateway_ca = crate::gateway::handed_out_ca(
        &config.gateway,
        &public_host,
        &upstreams.derived_key(crate::gateway::CA_SEED),
    )
    .map_err(crate::gateway::GatewayError::from)?
    .map(Arc::from);
    let issuing = Issuing {
        connections: config.connections.clone(),
        public_host,
        public_port,
        gateway_ca,
    };
    Ok(Arc::new(Broker::new(
        issuing,
        verifier,
        trust,
        store,
        upstreams,
        audit,
        Arc::new(Metrics::new()),
    )))
}

/// A policy role the trust rules grant, and what the connection's database says of it.
pub struct PolicyRole {
    pub connection: ConnectionName,
    pub role: DbRole,
    /// The trust rules that grant it.
    pub rules: Vec<String>,
    /// Whether it exists upstream, or why that could not be asked.
    pub exists: Result<bool, crate::upstream::UpstreamError>,
}

/// Asks each connection's database (through its admin connection) whether every policy role
/// the trust rules grant exists there: a missing one means credentials that cannot log in.
pub async fn check_policy_roles(trust: &TrustPolicy, upstreams: &Upstreams) -> Vec<PolicyRole> {
    let mut out = Vec::new();
    for (connection, role, rules) in trust.granted_roles() {
        out.push(PolicyRole {
            connection: connection.clone(),
            role: role.clone(),
            rules: rules.into_iter().map(str::to_owned).collect(),
            exists: upstreams.role_exists(connection, role.as_str()).await,
        });
    }
    out
}

/// Logs an alert for each policy role that does not exist upstream (the exchange refuses
/// grants of it with `upstream_role_missing` until it is created).
async fn alert_missing_policy_roles(broker: Arc<Broker>) {
    let roles = check_policy_roles(&broker.trust(), broker.upstreams()).await;
    for r in roles {
        match r.exists {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                target: "hoop::alert",
                connection = %r.connection,
                role = %r.role,
                rules = %r.rules.join(", "),
                "a policy role the trust rules grant does not exist upstream: exchanges for it are refused (upstream_role_missing) until it is created"
            ),
            Err(e) => tracing::warn!(
                connection = %r.connection,
                role = %r.role,
                error = %e,
                "cannot check at start that a policy role exists upstream"
            ),
        }
    }
}

/// Serves the API on `listener` and runs the reaper and the completion of accepted
/// revocations until `shutdown`.
pub async fn run(
    state: crate::api::ApiState,
    listener: TcpListener,
    reaper_interval: std::time::Duration,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let reaper = tokio::spawn(reap_forever(
        state.broker.clone(),
        reaper_interval,
        shutdown.clone(),
    ));
    let revocations = tokio::spawn(state.broker.clone().complete_revocations(shutdown.clone()));
    let app =
        crate::api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.wait())
        .await?;
    reaper.abort();
    revocations.abort();
    Ok(())
}

/// Binds `addr` with an error that names it.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })
}

async fn reap_forever(broker: Arc<Broker>, every: std::time::Duration, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match broker.reap().await {
            Ok(report) if report.retired + report.failed > 0 => {
                tracing::info!(
                    retired = report.retired,
                    failed = report.failed,
                    "reaper pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reaper pass failed; will retry"),
        }
    }
}

/// The approvals service of `[approvals]`, its notifier's secrets read.
pub fn approvals(
    config: &Config,
    broker: &Broker,
    env: &dyn SecretEnv,
    origin: &str,
) -> Result<Approvals, ConfigError> {
    let notifier = Notifier::new(&config.approvals.notify, env)
        .map_err(|e| ConfigError::new(origin, e.to_string()))?;
    let default_url = format!("http://{}", config.server.api_listen);
    Ok(Approvals::new(
        broker.store().clone(),
        broker.audit().clone(),
        &config.approvals,
        notifier,
        &default_url,
    ))
}

/// What the archiver uses besides its store, from the broker's.
pub fn archiver_parts(broker: &Broker) -> ArchiverDeps {
    ArchiverDeps {
        state: broker.store().clone(),
        audit: broker.audit().clone(),
        metrics: broker.metrics().clone(),
    }
}

/// The session core of `[gateway]` and `[masking]`: the spool opened, its gauge limited by
/// `archive.max_spool_bytes`, the archive store's health (which the archiver sets), and the
/// broker's store, audit, metrics and upstreams handed over.
pub fn session_core(
    config: &Config,
    broker: &Arc<Broker>,
    approvals: Arc<Approvals>,
    env: &dyn SecretEnv,
    origin: &str,
) -> Result<Arc<Core>, ServeError> {
    let masking = masking_policy(config, env, origin)?;
    let spool = Spool::open_observed(&config.gateway.spool_dir, broker.metrics().journal.clone())?;
    let limit = config.archive.as_ref().and_then(|a| a.max_spool_bytes);
    Ok(Arc::new(Core::new(CoreParts {
        broker: broker.clone(),
        store: broker.store().clone(),
        audit: broker.audit().clone(),
        metrics: broker.metrics().clone(),
        upstreams: broker.upstreams().clone(),
        connections: config.connections.clone(),
        spool,
        spool_gauge: Arc::new(SpoolGauge::new(limit)),
        archive_health: Arc::default(),
        masking,
        approvals,
    })))
}

/// The statement policy of `[policy]` and `[[rules]]`.
pub fn statement_policy(config: &Config, origin: &str) -> Result<StatementPolicy, ConfigError> {
    let classifier = Arc::new(Classifier::new(
        config.policy.max_statement_bytes,
        CLASSIFIER_CACHE_ENTRIES,
    ));
    Ok(StatementPolicy::new(
        classifier,
        rules_in_force(config, origin)?,
    ))
}

/// The statement rules of `[policy]` and `[[rules]]`, named by the configuration's digest.
pub fn rules_in_force(config: &Config, origin: &str) -> Result<InForce, ConfigError> {
    Ok(InForce {
        version: config.digest(),
        rules: config.statement_rules(origin)?,
    })
}

/// Statement texts whose classification is kept (exact text → classification).
const CLASSIFIER_CACHE_ENTRIES: usize = 4096;

/// The masking policy of `[masking]`, with its token key read from its source.
pub fn masking_policy(
    config: &Config,
    env: &dyn SecretEnv,
    origin: &str,
) -> Result<MaskingPolicy, ConfigError> {
    let (detectors, columns) = config.masking_rules(origin)?;
    let config = &config.masking;
    let err = |key: &str, e: String| ConfigError::new(origin, format!("masking.{key}: {e}"));
    let style = match config.style {
        PanStyle::BinAndLastFour => MaskStyle::BinAndLastFour,
        PanStyle::LastFour => MaskStyle::LastFour,
        PanStyle::Redact => MaskStyle::Redact,
        PanStyle::Token => {
            let source = config
                .token_key
                .as_ref()
                .ok_or_else(|| err("token_key", "style \"token\" needs a key".into()))?;
            let secret = source
                .resolve(env)
                .map_err(|e| err("token_key", e.to_string()))?;
            let key = TokenKey::new(secret.expose().as_bytes())
                .map_err(|e| err("token_key", e.to_string()))?;
            MaskStyle::Token { key }
        }
    };
    Ok(MaskingPolicy {
        masker: Masker::new(style, detectors).map_err(|e| err("detectors", e.to_string()))?,
        columns,
        results: config.results,
    })
}

/// Runs `hoop serve` to completion: build, bind, serve the API and the gateway until `stop`
/// resolves.
pub async fn serve(
    config: Config,
    env: &dyn SecretEnv,
    origin: &str,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let api_listen = config.server.api_listen;
    let gateway_listen = config.server.gateway_listen;
    let reaper_interval = config.server.reaper_interval;
    let (public_host, _) = config.public_endpoint();
    let statements = statement_policy(&config, origin)?;
    let broker = build(&config, env, origin).await?;
    let approvals = Arc::new(approvals(&config, &broker, env, origin)?);
    let core = session_core(&config, &broker, approvals.clone(), env, origin)?;
    let gateway = Arc::new(Gateway::new(
        core.clone(),
        config.gateway.clone(),
        statements,
        &public_host,
    )?);
    let control_path = config.control_socket();
    // Built before anything listens, so a missing watcher token fails the start.
    let watcher = match &config.watcher {
        Some(w) => Some(crate::watcher::Watcher::new(
            broker.clone(),
            w,
            &config.watched_issuers(),
            env,
        )?),
        None => None,
    };
    // Before anything listens: a key that cannot sign, or a store that answers but cannot hold
    // WORM evidence (no Object Lock...), fails the start. A store that does not answer does
    // not: sessions are recorded into the spool, and the archiver checks the store again in the
    // background (crash recovery and the gateway do not wait for S3).
    let archiver = match &config.archive {
        Some(archive) => Some(
            crate::archiver::Archiver::new(
                archiver_parts(&broker),
                archive,
                core.spool().clone(),
                core.spool_gauge().clone(),
                core.archive_health().clone(),
                env,
            )
            .await?,
        ),
        None => {
            tracing::warn!(target: "hoop::alert", "no [archive] is configured: session recordings stay in the spool and are not archived to WORM storage (PCI DSS 10.3, 10.5)");
            None
        }
    };
    for connection in &config.connections {
        if connection.durability == Durability::Result {
            tracing::warn!(target: "hoop::alert", connection = %connection.name, "durability = \"result\": a crash of this host can lose the records of statements that ran but whose results no client received (PCI DSS 10.2, 10.3); keep \"statement\" for connections that hold cardholder data");
        }
    }
    close_leftover_sessions(&broker).await?;
    let closed = core.close_crashed_recordings().await;
    if closed > 0 {
        tracing::warn!(
            recordings = closed,
            "closed recordings a previous run left open"
        );
    }
    let listener = bind(api_listen).await?;
    let gateway_listener = bind(gateway_listen).await?;
    let control = reload::bind_control(&control_path).map_err(|source| ServeError::Bind {
        addr: control_path.display().to_string(),
        source,
    })?;
    tracing::info!(api = %listener.local_addr()?, gateway = %gateway_listener.local_addr()?, "hoop listening");
    // Two phases: `draining` starts at the stop signal (readiness goes false, the gateway
    // stops accepting and drains its sessions); `stopped` comes once the gateway has drained
    // (the API, the reaper and the listeners stop; the archiver makes its last pass).
    let (drain_trigger, draining) = Shutdown::new();
    let (stop_trigger, stopped) = Shutdown::new();
    tokio::spawn(relay_revocations(broker.clone(), stopped.clone()));
    tokio::spawn(alert_missing_policy_roles(broker.clone()));
    tokio::spawn(approvals.clone().listen(stopped.clone()));
    if let Some(watcher) = watcher {
        tokio::spawn(watcher.run(stopped.clone()));
    }
    let gateway_task = tokio::spawn(crate::gateway::run(
        gateway.clone(),
        gateway_listener,
        draining.clone(),
    ));
    let (gateway_done, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let archive_access = archiver
        .as_ref()
        .zip(config.archive.as_ref())
        .map(|(a, c)| a.access(&c.auditors));
    let archiver_task = archiver.map(|a| {
        tokio::spawn(a.run(
            async {
                let _ = gateway_stopped.await;
            },
            ARCHIVE_DRAIN,
        ))
    });
    let state = crate::api::ApiState {
        broker,
        approvals,
        archive: archive_access,
        draining,
        sessions: Some(core.clone()),
    };
    let version = config.digest();
    let reloader = reload::Reloader::new(
        std::path::Path::new(origin),
        env,
        config,
        state.clone(),
        gateway.clone(),
        core,
    );
    let started = AuditEvent::new(
        Action::Config,
        Outcome::Success,
        "config_loaded",
        format!("serving configuration {}", version.to_hex()),
    );
    if let Err(e) = state.broker.audit().record(&started).await {
        tracing::error!(error = %e, "cannot write the audit event of the configuration");
    }
    let mut api = tokio::spawn(run(state, listener, reaper_interval, stopped));
    tokio::pin!(stop);
    // Reloads are taken until the stop signal; a drain runs on the configuration it started with.
    let api_ended_early = tokio::select! {
        () = &mut stop => None,
        // The API server failed on its own: the rest stops the same way.
        ended = &mut api => Some(ended),
        () = reloader.serve(Some(control)) => None,
    };
    drop(reloader);
    let _ = std::fs::remove_file(&control_path);
    tracing::info!("shutting down: draining the gateway");
    drain_trigger.trigger();
    let _ = gateway_task.await;
    stop_trigger.trigger();
    let _ = gateway_done.send(());
    let api_result = match api_ended_early {
        Some(ended) => ended,
        None => api.await,
    };
    if let Some(task) = archiver_task {
        let _ = task.await;
    }
    api_result.map_err(|e| ServeError::Io(std::io::Error::other(e)))?
}

/// How long a stopping hoop keeps archiving what its last sessions recorded; the rest is
/// archived at the next start.
const ARCHIVE_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Sessions this replica left `live` when it last stopped without closing them (a crash):
/// marked `terminated` in the index; their spool files stay for the archive step.
async fn close_leftover_sessions(broker: &Broker) -> Result<(), ServeError> {
    let client = broker.store().client().await?;
    let left =
        crate::state::sessions::terminate_leftovers(&client, broker.audit().replica()).await?;
    for (id, path) in &left {
        tracing::warn!(session_id = %id, spool = %path, "a session was left open by a previous run; marked terminated");
    }
    Ok(())
}

/// Relays other replicas' `NOTIFY hoop_revocations` into the broker's revocation channel,
/// reconnecting after failures, until shutdown.
async fn relay_revocations(broker: Arc<Broker>, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let sender = broker.revocation_sender();
    loop {
        let listening = broker.store().listen(
            crate::exchange::REVOCATIONS_CHANNEL,
            || {},
            |payload| {
                if let Some(id) = crate::state::credentials::parse_id(payload) {
                    let _ = sender.send(id);
                }
            },
        );
        tokio::select! {
            () = &mut stop => return,
            result = listening => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "revocation notifications interrupted; reconnecting");
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hoop".into())
}
