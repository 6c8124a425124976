//! One client connection: TLS negotiation, startup, SCRAM authentication, the upstream login
//! as the run role, then the relay, and finally the recording's last line.
//!
//! ```text
//!  accept ─▶ negotiate ─▶ authenticate ─▶ open (role, recording, upstream) ─▶ relay ─▶ close
//!            SSLRequest     SCRAM server     ensure_run_role, Spool::create      │        Recorder::finish
//!            GSSENC: 'N'    28P01/28000      upstream::connect                   │        sessions::finish
//!            Cancel ─▶ forwarded upstream (no session)                          ▼
//!                                                       ends: client/upstream gone, Terminate,
//!                                                       revoked, expired, shutdown, recording failed
//! ```
//!
//! Architecture Invariant: no statement reaches the upstream before its recording event is on
//! stable storage; if the recording cannot be written, the session ends instead.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use chrono::Utc;
use hoop_protocol::backend::{self, Authentication, ErrorFields};
use hoop_protocol::frontend::{self, FrontendMessage};
use hoop_protocol::startup::{self, StartupMessage, StartupRequest};
use hoop_protocol::{Frame, ProtocolError, decode_frame};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Gateway;
use super::encoding;
use super::masking;
use super::registry::CancelTarget;
use super::relay::{self, Ended};
use super::stream::ClientStream;
use super::upstream::{self, UpstreamConnectError};
use crate::audit::{Action, AuditEvent, Outcome};
use crate::base::SessionId;
use crate::config::RoleProvisioning;
use crate::credentials::ScramServer;
use crate::metrics::OutcomeLabels;
use crate::recording::{Event, SessionStart, StartupParams};
use crate::state::credentials::{self as creds, CredentialRecord};
use crate::state::sessions::{self, NewSession, SessionEnd};

/// Startup parameters passed on to the upstream; anything else is dropped (notably
/// `replication`, refused outright, `options`, which could set arbitrary GUCs, and
/// `standard_conforming_strings`). None of these changes how Postgres splits a text into
/// tokens. `client_encoding` is not among them: the gateway always asks for UTF8
/// ([`super::encoding`]).
const FORWARDED_PARAMETERS: &[&str] = &[
    "DateStyle",
    "TimeZone",
    "IntervalStyle",
    "extra_float_digits",
    "search_path",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
];

/// How long the upstream may take to accept the run role's login.
const UPSTREAM_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Startup packets are tiny; a large one is an attack or a mistake.
const MAX_STARTUP_BYTES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("the client sent data after SSLRequest before the TLS handshake")]
    BufferedBeforeTls,
    #[error("the handshake took longer than allowed")]
    HandshakeTimeout,
}

/// Serves one accepted connection to its end. Errors are the connection's own; they are logged
/// and never affect other sessions.
pub async fn serve(gateway: Arc<Gateway>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let handshake =
        tokio::time::timeout(gateway.config.handshake_timeout, negotiate(&gateway, tcp));
    let (mut stream, startup) = match handshake.await {
        Ok(Ok(Some(started))) => started,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "gateway connection closed during negotiation");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "gateway connection closed: {}", SessionError::HandshakeTimeout);
            return;
        }
    };
    if let Err(e) = session(&gateway, &mut stream, startup, peer).await {
        tracing::info!(%peer, error = %e, "gateway session ended with an error");
    }
    let _ = stream.shutdown().await;
}

/// SSLRequest / GSSENCRequest / CancelRequest, up to the StartupMessage.
async fn negotiate(
    gateway: &Gateway,
    mut tcp: TcpStream,
) -> Result<Option<(ClientStream, StartupMessage)>, SessionError> {
    let mut buf = BytesMut::with_capacity(512);
    loop {
        match read_startup(&mut tcp, &mut buf).await? {
            StartupRequest::SslRequest => {
                // Bytes buffered before the handshake would be plaintext an attacker injected
                // (CVE-2021-23214); never treat them as part of the TLS session.
                if !buf.is_empty() {
                    return Err(SessionError::BufferedBeforeTls);
                }
                tcp.write_all(b"S").await?;
                let accepted = gateway.tls.acceptor.accept(tcp).await;
                let mut stream = accepted.map_err(SessionError::Tls)?;
                return match read_startup(&mut stream, &mut buf).await? {
                    StartupRequest::Startup(m) => {
                        Ok(Some((ClientStream::Tls(Box::new(stream)), m)))
                    }
                    StartupRequest::Cancel(key) => {
                        gateway.cancel(&key).await;
                        Ok(None)
                    }
                    _ => Err(
                        ProtocolError::Malformed("a second SSL or GSS request inside TLS").into(),
                    ),
                };
            }
            StartupRequest::GssEncRequest => tcp.write_all(b"N").await?,
            StartupRequest::Cancel(key) => {
                gateway.cancel(&key).await;
                return Ok(None);
            }
            StartupRequest::Startup(m) => return Ok(Some((ClientStream::Plain(tcp), m))),
        }
    }
}

async fn read_startup<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<StartupRequest, SessionError> {
    loop {
        if let Some(request) = startup::decode(buf, MAX_STARTUP_BYTES)? {
            return Ok(request);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
}

/// Reads one tagged message during authentication.
async fn read_frame(stream: &mut ClientStream, buf: &mut BytesMut) -> Result<Frame, SessionError> {
    loop {
        if let Some(frame) = decode_frame(buf, MAX_STARTUP_BYTES)? {
            return Ok(frame);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
}

/// Sends a FATAL ErrorResponse; the connection is closed after it.
pub(super) async fn fatal(stream: &mut ClientStream, sqlstate: &str, message: &str) {
    let mut out = BytesMut::new();
    backend::encode_error_response(&ErrorFields::new("FATAL", sqlstate, message), &mut out);
    let _ = stream.write_all(&out).await;
}

fn count_login(gateway: &Gateway, outcome: Outcome, code: &str) {
    let labels = OutcomeLabels {
        outcome: outcome.as_str(),
        code: code.to_owned(),
    };
    gateway.broker.metrics().logins.get_or_create(&labels).inc();
}

/// FATAL for a client whose session cannot be looked up or indexed: hoop's own state is down.
async fn state_unavailable(stream: &mut ClientStream) {
    fatal(
        stream,
        "08006",
        "hoop cannot reach its state database; try again later",
    )
    .await;
}

/// Refuses a login: audit event, then FATAL to the client.
async fn refuse(
    gateway: &Gateway,
    stream: &mut ClientStream,
    peer: SocketAddr,
    user: &str,
    record: Option<&CredentialRecord>,
    (code, sqlstate, message): (&str, &str, String),
) {
    let mut event = AuditEvent::new(Action::Connect, Outcome::Denied, code, message.clone());
    event.remote_addr = Some(peer.ip());
    event.subject = Some(user.to_owned());
    if let Some(r) = record {
        event.credential_id = Some(r.id);
        event.connection = Some(r.connection.to_string());
        event.trust_rule = Some(r.trust_rule.clone());
    }
    if let Err(e) = gateway.broker.audit().record(&event).await {
        tracing::error!(error = %e, "cannot write the audit event of a refused gateway login");
    }
    count_login(gateway, Outcome::Denied, code);
    fatal(stream, sqlstate, &message).await;
}

/// An authenticated login in progress: what a refusal's audit event names.
struct Login<'a> {
    gateway: &'a Gateway,
    peer: SocketAddr,
    user: &'a str,
    record: &'a CredentialRecord,
}

impl Login<'_> {
    async fn refuse(&self, stream: &mut ClientStream, why: (&str, &str, String)) {
        refuse(
            self.gateway,
            stream,
            self.peer,
            self.user,
            Some(self.record),
            why,
        )
        .await;
    }
}

async fn session(
    gateway: &Gateway,
    stream: &mut ClientStream,
    startup: StartupMessage,
    peer: SocketAddr,
) -> Result<(), SessionError> {
    let user = startup.get("user").unwrap_or_default().to_owned();
    if let Some(why) = startup_refusal(&startup, stream.is_tls(), gateway.config.require_tls) {
        refuse(gateway, stream, peer, &user, None, why).await;
        return Ok(());
    }

    // The handshake timeout covers authentication too: a client that stalls mid-SCRAM holds
    // nothing for long.
    let authenticated = tokio::time::timeout(
        gateway.config.handshake_timeout,
        authenticate(gateway, stream, &user, peer),
    );
    let Ok(authenticated) = authenticated.await else {
        fatal(stream, "08006", "canceling authentication due to timeout").await;
        return Err(SessionError::HandshakeTimeout);
    };
    let Some(record) = authenticated? else {
        return Ok(());
    };
    let database = startup.get("database").unwrap_or(&user).to_owned();
    if let Some(why) = login_refusal(&record, &database) {
        refuse(gateway, stream, peer, &user, Some(&record), why).await;
        return Ok(());
    }
    open(gateway, stream, &startup, record, peer).await
}

/// Why a startup is refused before authentication: `(audit code, SQLSTATE, message)`.
fn startup_refusal(
    startup: &StartupMessage,
    tls: bool,
    require_tls: bool,
) -> Option<(&'static str, &'static str, String)> {
    if !tls && require_tls {
        let msg = "hoop accepts only TLS connections: connect with sslmode=require (or stricter)";
        return Some(("tls_required", "28000", msg.into()));
    }
    // Statements are classified as UTF-8, and the session is UTF-8 whatever the client asks;
    // a client that asks for another encoding would send bytes Postgres reads differently.
    if let Some(msg) =
        encoding::startup_encoding_refusal(startup.get("client_encoding"), startup.get("options"))
    {
        return Some(("client_encoding_refused", "22023", msg));
    }
    if startup
        .get("replication")
        .is_some_and(|v| v != "false" && v != "0")
    {
        let msg = "replication connections are not allowed through hoop";
        return Some(("replication_refused", "28000", msg.into()));
    }
    None
}

/// Runs SCRAM-SHA-256 against the credential's verifier. `None` after a refusal was sent.
async fn authenticate(
    gateway: &Gateway,
    stream: &mut ClientStream,
    user: &str,
    peer: SocketAddr,
) -> Result<Option<CredentialRecord>, SessionError> {
    let record = match gateway.broker.store().client().await {
        Ok(client) => creds::find_by_username(&client, user).await,
        Err(e) => Err(e),
    };
    let record = match record {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the gateway cannot read credentials");
            state_unavailable(stream).await;
            return Ok(None);
        }
    };
    // An unknown user runs the same exchange against a fake verifier and fails at the proof,
    // so the flow does not tell unknown users from wrong passwords.
    let mut scram = ScramServer::new(
        record.as_ref().map(|r| r.verifier.clone()),
        user,
        &gateway.mock_key,
    );
    let mut out = BytesMut::new();
    let mechanisms = vec![ScramServer::MECHANISM.to_owned()];
    backend::encode_authentication(&Authentication::Sasl { mechanisms }, &mut out);
    stream.write_all(&out).await?;

    let mut buf = BytesMut::new();
    let initial = expect_auth_response(stream, &mut buf).await?;
    let (mechanism, data) = frontend::decode_sasl_initial_response(&initial)?;
    let outcome = if mechanism != ScramServer::MECHANISM {
        Err(format!("unsupported SASL mechanism {mechanism:?}"))
    } else {
        match scram.client_first(data.as_deref().unwrap_or_default()) {
            Ok(server_first) => {
                out.clear();
                backend::encode_authentication(
                    &Authentication::SaslContinue(server_first.into()),
                    &mut out,
                );
                stream.write_all(&out).await?;
                let response = expect_auth_response(stream, &mut buf).await?;
                scram.client_final(&response).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    match (outcome, record) {
        (Ok(server_final), Some(record)) => {
            out.clear();
            backend::encode_authentication(
                &Authentication::SaslFinal(server_final.into()),
                &mut out,
            );
            stream.write_all(&out).await?;
            Ok(Some(record))
        }
        (outcome, record) => {
            let detail = outcome.err().unwrap_or_else(|| "unknown user".into());
            tracing::info!(%peer, user, reason = %detail, "gateway authentication failed");
            let msg = format!("password authentication failed for user \"{user}\"");
            refuse(
                gateway,
                stream,
                peer,
                user,
                record.as_ref(),
                ("password_failed", "28P01", msg),
            )
            .await;
            Ok(None)
        }
    }
}

async fn expect_auth_response(
    stream: &mut ClientStream,
    buf: &mut BytesMut,
) -> Result<bytes::Bytes, SessionError> {
    let frame = read_frame(stream, buf).await?;
    match FrontendMessage::decode(&frame)? {
        FrontendMessage::AuthResponse(body) => Ok(body),
        _ => Err(ProtocolError::Malformed("expected a SASL response").into()),
    }
}

/// Why an authenticated credential may still not log in: `(audit code, SQLSTATE, message)`.
fn login_refusal(
    record: &CredentialRecord,
    database: &str,
) -> Option<(&'static str, &'static str, String)> {
    if !record.is_live(Utc::now()) {
        use crate::state::credentials::CredentialState as S;
        let what = match record.state {
            S::Revoked | S::Revoking => "was revoked".to_owned(),
            S::Failed => "was never provisioned".to_owned(),
            _ => format!("expired at {}", record.expires_at.to_rfc3339()),
        };
        let msg = format!(
            "credential {} {what}; exchange a new id token",
            record.username
        );
        return Some(("credential_inactive", "28000", msg));
    }
    if database != record.database {
        let msg = format!(
            "credential {} is for database \"{}\", not \"{database}\"",
            record.username, record.database
        );
        return Some(("database_mismatch", "28000", msg));
    }
    None
}

/// Creates the role if needed, starts the recording and the upstream session, and relays.
async fn open(
    gateway: &Gateway,
    stream: &mut ClientStream,
    startup: &StartupMessage,
    record: CredentialRecord,
    peer: SocketAddr,
) -> Result<(), SessionError> {
    let user = record.username.0.clone();
    let login = Login {
        gateway,
        peer,
        user: &user,
        record: &record,
    };
    let conn_config = gateway
        .broker
        .config()
        .connection(&record.connection)
        .cloned();
    let (Some(conn_config), Some(endpoint)) = (
        conn_config,
        gateway
            .broker
            .upstreams()
            .endpoint(&record.connection)
            .cloned(),
    ) else {
        let msg = format!(
            "connection {} is no longer configured on this gateway",
            record.connection
        );
        login
            .refuse(stream, ("unknown_connection", "08004", msg))
            .await;
        return Ok(());
    };
    if conn_config.role_provisioning == RoleProvisioning::FirstConnect
        && let Err(e) = gateway.broker.ensure_run_role(record.id).await
    {
        tracing::error!(error = %e, credential_id = %record.id, "cannot create the run role");
        let msg = format!("hoop cannot create the upstream role: {e}");
        login.refuse(stream, (e.code(), "08004", msg)).await;
        return Ok(());
    }

    if let Some((bytes, limit)) = gateway.spool_gauge.over_limit() {
        tracing::error!(target: "hoop::alert", bytes, limit, "the spool is over archive.max_spool_bytes; refusing new sessions until the archive store takes the backlog");
        let msg = format!(
            "hoop's evidence spool holds {bytes} bytes of recordings not yet archived, over its \
             limit of {limit}: new sessions are refused until the archive store is reachable \
             again (PCI DSS 10.7); tell the operators"
        );
        login.refuse(stream, ("spool_full", "53100", msg)).await;
        return Ok(());
    }
    let session_id = SessionId::new_random();
    let registration = gateway.registry.register(record.id, session_id);
    let application = startup
        .get("application_name")
        .unwrap_or_default()
        .to_owned();
    // Everything the client sent, the run's identity too (claims are another party's text),
    // goes through the deployment's masker: recordings are storage (PCI DSS 3.5.1).
    let masker = &gateway.masking.masker;
    let first = Event::SessionStart(SessionStart {
        session_id,
        credential_id: record.id,
        username: masker.mask_text(&user),
        connection: masker.mask_text(record.connection.as_str()),
        database: masker.mask_text(&record.database),
        trust_rule: masker.mask_text(&record.trust_rule),
        repository: masker.mask_text(&record.repository),
        run_id: masker.mask_text(&record.run_id),
        client_addr: peer.ip(),
        tls: stream.is_tls(),
        application_name: masker.mask_text(&application),
        params: StartupParams::new(
            startup
                .params
                .iter()
                .map(|(name, value)| (masker.mask_text(name), masker.mask_text(value))),
        ),
    });
    let recorder = match gateway.spool.create(session_id, first).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(target: "hoop::alert", error = %e, "cannot start a session recording; refusing the session");
            gateway.broker.metrics().recording_failures.inc();
            let msg = "hoop cannot record this session, so it refuses it (PCI DSS 10.7); tell the operators";
            login
                .refuse(stream, ("recording_unavailable", "58030", msg.into()))
                .await;
            return Ok(());
        }
    };

    let mut params: Vec<(String, String)> = startup
        .params
        .iter()
        .filter(|(k, _)| FORWARDED_PARAMETERS.contains(&k.as_str()))
        .cloned()
        .collect();
    // The client's own value was checked (UTF-8 or SQL_ASCII, which converts nothing); the
    // upstream is told UTF8 either way. A startup value outranks role and database defaults.
    params.push(("client_encoding".into(), "UTF8".into()));
    let app_name = format!("hoop run {} {}", record.run_id, application)
        .trim_end()
        .to_owned();
    params.push((
        "application_name".into(),
        app_name.chars().take(63).collect(),
    ));
    let password = gateway.broker.upstreams().role_password(&record.username);
    let connecting = tokio::time::timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        upstream::connect(&endpoint, &user, &password, params),
    );
    let connected = connecting.await.unwrap_or_else(|_| {
        Err(UpstreamConnectError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from {}:{} within {UPSTREAM_CONNECT_TIMEOUT:?}",
                endpoint.host, endpoint.port
            ),
        )))
    });
    let upstream = match connected {
        Ok(u) => u,
        Err(e) => {
            let (code, sqlstate, msg) = match &e {
                UpstreamConnectError::Refused(f) if f.sqlstate() == Some("53300") => (
                    "session_limit",
                    "53300",
                    format!(
                        "credential {user} already has its maximum of {} sessions",
                        record.max_sessions
                    ),
                ),
                UpstreamConnectError::Refused(f) => (
                    "upstream_refused",
                    f.sqlstate().unwrap_or("08004"),
                    format!(
                        "the upstream database refused the session: {}",
                        f.message().unwrap_or("?")
                    ),
                ),
                _ => ("upstream_unavailable", "08006", e.to_string()),
            };
            login.refuse(stream, (code, sqlstate, msg.clone())).await;
            // The message quotes the upstream's error.
            let end = Event::session_end(masker.mask_text(&msg));
            let _ = recorder.finish(end).await;
            return Ok(());
        }
    };
    // Trust what the server says, not what was asked: a role or database default, or an
    // extension, could have left another encoding in force.
    let reported = upstream
        .parameters
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("client_encoding"));
    let refused = match reported {
        Some((name, value)) => encoding::reported_encoding_refusal(name, value),
        None => Some(format!(
            "the upstream did not report its client_encoding; hoop needs UTF8: {}",
            encoding::ENCODING_FIX
        )),
    };
    if let Some(msg) = refused {
        login
            .refuse(stream, ("client_encoding_refused", "22023", msg.clone()))
            .await;
        let _ = recorder
            .finish(Event::session_end(masker.mask_text(&msg)))
            .await;
        return Ok(());
    }
    if let Some(key) = &upstream.key {
        gateway.registry.set_cancel_target(
            registration.key.pid,
            CancelTarget {
                secret: registration.key.secret.clone(),
                upstream: endpoint.clone(),
                upstream_key: key.clone(),
                held: registration.cancel.clone(),
            },
        );
    }

    let spool_path = recorder.path().to_owned();
    let indexed = async {
        let client = gateway.broker.store().client().await?;
        sessions::insert_live(
            &client,
            &NewSession {
                id: session_id,
                credential_id: record.id,
                username: &user,
                connection: record.connection.as_str(),
                database: &record.database,
                replica: gateway.broker.audit().replica(),
                client_addr: Some(peer.ip()),
                tls: stream.is_tls(),
                // The sessions table is storage too.
                application: Some(masker.mask_text(&application).as_str()),
                spool_path: &spool_path.display().to_string(),
            },
        )
        .await
    };
    if let Err(e) = indexed.await {
        tracing::error!(error = %e, "cannot index a gateway session; refusing it");
        state_unavailable(stream).await;
        let _ = recorder
            .finish(Event::session_end("state database unavailable"))
            .await;
        return Ok(());
    }

    let mut out = BytesMut::new();
    backend::encode_authentication(&Authentication::Ok, &mut out);
    for (name, value) in &upstream.parameters {
        // Settings echo what a client set, and a client can set application_name to anything.
        let value = match gateway.masking.results {
            true => gateway.masking.masker.mask_str(value),
            false => value.into(),
        };
        backend::encode_parameter_status(name, &value, &mut out);
    }
    backend::encode_backend_key_data(&registration.key, &mut out);
    backend::encode_ready_for_query(b'I', &mut out);
    stream.write_all(&out).await?;

    let mut event = AuditEvent::new(
        Action::Connect,
        Outcome::Success,
        "connected",
        format!("session {session_id}"),
    );
    event.remote_addr = Some(peer.ip());
    event.subject = Some(user.clone());
    event.credential_id = Some(record.id);
    event.connection = Some(record.connection.to_string());
    event.trust_rule = Some(record.trust_rule.clone());
    if let Err(e) = gateway.broker.audit().record(&event).await {
        tracing::error!(error = %e, "cannot write the audit event of a gateway login");
    }
    tracing::info!(%session_id, user, %peer, "gateway session started");
    count_login(gateway, Outcome::Success, "connected");
    let metrics = gateway.broker.metrics();
    metrics.sessions_live.inc();

    let expires_at = record.expires_at;
    let outcome = relay::run(
        relay::Sides {
            client: stream,
            upstream: upstream.stream,
            pending: upstream.pending,
        },
        recorder,
        relay::Controls {
            masking: masking::Masking {
                policy: &gateway.masking,
                catalog: &gateway.catalog,
                upstreams: gateway.broker.upstreams(),
                connection: &record.connection,
            },
            statements: &gateway.statements,
            audit: relay::DenialAudit {
                log: gateway.broker.audit(),
                template: AuditEvent {
                    action: Action::Statement,
                    outcome: Outcome::Denied,
                    ..event
                },
            },
            session: relay::SessionFacts {
                id: session_id,
                credential: &record,
                approvals: &gateway.approvals,
                cancel: registration.cancel.clone(),
            },
        },
        registration.ending.clone(),
        expires_at,
        gateway.config.max_message_bytes,
    )
    .await;
    metrics.sessions_live.dec();
    metrics.statements.inc_by(outcome.statements);
    metrics.masked_values.inc_by(outcome.masked_values);
    metrics.statements_denied.inc_by(outcome.denied);
    metrics.statements_held.inc_by(outcome.held);
    let summary = match &outcome.recording {
        Ok(s) => json!({"events": s.events, "head": s.head}),
        Err(e) => json!({"error": e.to_string()}),
    };
    if let Ended::RecordingFailed(e) = &outcome.ended {
        metrics.recording_failures.inc();
        tracing::error!(target: "hoop::alert", %session_id, error = %e, "session recording failed; the session was ended");
    }
    let end = SessionEnd {
        reason: &outcome.ended.to_string(),
        statements: outcome.statements as i64,
        errors: outcome.errors as i64,
        events: outcome.recording.as_ref().map_or(0, |s| s.events as i64),
        chain_head: outcome.recording.as_ref().map_or("", |s| s.head.as_str()),
        recording_bytes: outcome.recording.as_ref().map_or(0, |s| s.bytes as i64),
    };
    match gateway.broker.store().client().await {
        Ok(client) => {
            if let Err(e) = sessions::finish(&client, session_id, &end).await {
                tracing::error!(%session_id, error = %e, "cannot close a session in the index");
            }
        }
        Err(e) => tracing::error!(%session_id, error = %e, "cannot close a session in the index"),
    }
    tracing::info!(%session_id, reason = %outcome.ended, statements = outcome.statements, %summary, "gateway session ended");
    gateway.spool_gauge.recording_finished();
    Ok(())
}
