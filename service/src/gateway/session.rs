//! One client connection, the PostgreSQL adapter's part: TLS negotiation, startup, SCRAM, the
//! upstream login as the run role, then the relay. Admission, the recording, the index, audit
//! and the end are the session core's ([`crate::session`]).
//!
//! ```text
//!  accept ─▶ negotiate ─▶ authenticate ─▶ core.admit ─▶ core.start ─▶ upstream ─▶ relay ─▶ close
//!            SSLRequest     SCRAM server     live? db?     registry,     login as     │     Session::close
//!            GSSENC: 'N'    28P01            role, spool   recording     run role     │
//!            Cancel ─▶ forwarded upstream (no session)                                 ▼
//!                                        ends: client/upstream gone, Terminate, revoked,
//!                                        expired, shutdown, recording failed
//! ```
//!
//! Architecture Invariant: no statement reaches the upstream before its recording event is on
//! stable storage; if the recording cannot be written, the session ends instead.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use hoop_protocol::backend::{self, Authentication, ErrorFields};
use hoop_protocol::frontend::{self, FrontendMessage};
use hoop_protocol::startup::{self, StartupMessage, StartupRequest};
use hoop_protocol::{Frame, ProtocolError, decode_frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Gateway;
use super::cancels::CancelTarget;
use super::encoding;
use super::masking;
use super::relay::{self, Ended};
use super::stream::ClientStream;
use super::upstream::{self, UpstreamConnectError};
use crate::credentials::ScramServer;
use crate::session::{LoginFacts, Refusal, RefusalClass};
use crate::state::credentials::CredentialRecord;

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

/// The SQLSTATE a PostgreSQL client gets for a refused login.
fn sqlstate_of(refusal: &Refusal) -> &'static str {
    match refusal.class {
        RefusalClass::NotAllowed => "28000",
        RefusalClass::BadPassword => "28P01",
        RefusalClass::Unsupported => "22023",
        RefusalClass::UpstreamUnavailable => "08004",
        RefusalClass::StateUnavailable => "08006",
        RefusalClass::SessionLimit => "53300",
        RefusalClass::SpoolFull => "53100",
        RefusalClass::NotRecordable => "58030",
        RefusalClass::ShuttingDown => "57P03",
    }
}

/// Refuses a login: audit event, then FATAL to the client.
async fn refuse(
    gateway: &Gateway,
    stream: &mut ClientStream,
    login: &LoginFacts,
    record: Option<&CredentialRecord>,
    refusal: Refusal,
) {
    gateway.core.refuse(login, record, &refusal).await;
    fatal(stream, sqlstate_of(&refusal), &refusal.message).await;
}

async fn session(
    gateway: &Gateway,
    stream: &mut ClientStream,
    startup: StartupMessage,
    peer: SocketAddr,
) -> Result<(), SessionError> {
    let login = LoginFacts {
        peer: peer.ip(),
        tls: stream.is_tls(),
        user: startup.get("user").unwrap_or_default().to_owned(),
        application: startup
            .get("application_name")
            .unwrap_or_default()
            .to_owned(),
    };
    if let Some(refusal) = startup_refusal(&startup, stream.is_tls(), gateway.config.require_tls) {
        refuse(gateway, stream, &login, None, refusal).await;
        return Ok(());
    }

    // The handshake timeout covers authentication too: a client that stalls mid-SCRAM holds
    // nothing for long.
    let authenticated = tokio::time::timeout(
        gateway.config.handshake_timeout,
        authenticate(gateway, stream, &login),
    );
    let Ok(authenticated) = authenticated.await else {
        fatal(stream, "08006", "canceling authentication due to timeout").await;
        return Err(SessionError::HandshakeTimeout);
    };
    let Some(record) = authenticated? else {
        return Ok(());
    };
    let database = startup.get("database").unwrap_or(&login.user).to_owned();
    open(gateway, stream, &startup, record, login, &database).await
}

/// Why a startup is refused before authentication.
fn startup_refusal(startup: &StartupMessage, tls: bool, require_tls: bool) -> Option<Refusal> {
    if !tls && require_tls {
        let msg = "hoop accepts only TLS connections: connect with sslmode=require (or stricter)";
        return Some(Refusal::new("tls_required", RefusalClass::NotAllowed, msg));
    }
    // Statements are classified as UTF-8, and the session is UTF-8 whatever the client asks;
    // a client that asks for another encoding would send bytes Postgres reads differently.
    if let Some(msg) =
        encoding::startup_encoding_refusal(startup.get("client_encoding"), startup.get("options"))
    {
        return Some(Refusal::new(
            "client_encoding_refused",
            RefusalClass::Unsupported,
            msg,
        ));
    }
    if startup
        .get("replication")
        .is_some_and(|v| v != "false" && v != "0")
    {
        let msg = "replication connections are not allowed through hoop";
        return Some(Refusal::new(
            "replication_refused",
            RefusalClass::NotAllowed,
            msg,
        ));
    }
    None
}

/// Runs SCRAM-SHA-256 against the credential's verifier. `None` after a refusal was sent.
async fn authenticate(
    gateway: &Gateway,
    stream: &mut ClientStream,
    login: &LoginFacts,
) -> Result<Option<CredentialRecord>, SessionError> {
    let user = login.user.as_str();
    let record = match gateway.core.credential(user).await {
        Ok(r) => r,
        Err(refusal) => {
            fatal(stream, sqlstate_of(&refusal), &refusal.message).await;
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
            tracing::info!(peer = %login.peer, user, reason = %detail, "gateway authentication failed");
            let msg = format!("password authentication failed for user \"{user}\"");
            let refusal = Refusal::new("password_failed", RefusalClass::BadPassword, msg);
            refuse(gateway, stream, login, record.as_ref(), refusal).await;
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

/// Admits the login (the core creates the role if needed and starts the recording), logs in
/// upstream as the run role, and relays.
async fn open(
    gateway: &Gateway,
    stream: &mut ClientStream,
    startup: &StartupMessage,
    record: CredentialRecord,
    login: LoginFacts,
    database: &str,
) -> Result<(), SessionError> {
    let core = &gateway.core;
    let admitted = match core.admit(&record, database).await {
        Ok(a) => a,
        Err(refusal) => {
            refuse(gateway, stream, &login, Some(&record), refusal).await;
            return Ok(());
        }
    };
    let max_sessions = record.max_sessions;
    let run_id = record.run_id.clone();
    let durability = admitted.connection.durability;
    let mut session = match core
        .start(record, &login, &startup.params, durability)
        .await
    {
        Ok(s) => s,
        Err((record, refusal)) => {
            refuse(gateway, stream, &login, Some(&record), refusal).await;
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
    let application = startup.get("application_name").unwrap_or_default();
    let app_name = format!("hoop run {run_id} {application}")
        .trim_end()
        .to_owned();
    params.push((
        "application_name".into(),
        app_name.chars().take(63).collect(),
    ));
    let endpoint = &admitted.endpoint;
    let user = session.credential().username.to_string();
    let password = session.upstream_password();
    let connecting = tokio::time::timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        upstream::connect(endpoint, &user, &password, params),
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
            let (refusal, sqlstate) = match &e {
                UpstreamConnectError::Refused(f) if f.sqlstate() == Some("53300") => (
                    Refusal::new(
                        "session_limit",
                        RefusalClass::SessionLimit,
                        format!(
                            "credential {user} already has its maximum of {max_sessions} sessions"
                        ),
                    ),
                    "53300".to_owned(),
                ),
                UpstreamConnectError::Refused(f) => (
                    Refusal::new(
                        "upstream_refused",
                        RefusalClass::UpstreamUnavailable,
                        format!(
                            "the upstream database refused the session: {}",
                            f.message().unwrap_or("?")
                        ),
                    ),
                    f.sqlstate().unwrap_or("08004").to_owned(),
                ),
                _ => (
                    Refusal::new(
                        "upstream_unavailable",
                        RefusalClass::UpstreamUnavailable,
                        e.to_string(),
                    ),
                    "08006".to_owned(),
                ),
            };
            // Audited and recorded before the client hears of it, as every refusal is.
            session.refuse(&refusal).await;
            fatal(stream, &sqlstate, &refusal.message).await;
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
        let refusal = Refusal::new("client_encoding_refused", RefusalClass::Unsupported, msg);
        session.refuse(&refusal).await;
        fatal(stream, sqlstate_of(&refusal), &refusal.message).await;
        return Ok(());
    }
    let cancel_key = gateway.cancels.new_key();
    if let Some(key) = &upstream.key {
        gateway.cancels.set_target(
            cancel_key.key.pid,
            CancelTarget {
                secret: cancel_key.key.secret.clone(),
                upstream: endpoint.clone(),
                upstream_key: key.clone(),
                held: session.registration().cancel.clone(),
            },
        );
    }
    if let Err(refusal) = session.connected().await {
        fatal(stream, sqlstate_of(&refusal), &refusal.message).await;
        let _ = session.close("state database unavailable").await;
        return Ok(());
    }

    let mut out = BytesMut::new();
    backend::encode_authentication(&Authentication::Ok, &mut out);
    let masking = core.masking();
    for (name, value) in &upstream.parameters {
        // Settings echo what a client set, and a client can set application_name to anything.
        let value = match masking.results {
            true => masking.masker.mask_str(value),
            false => value.into(),
        };
        backend::encode_parameter_status(name, &value, &mut out);
    }
    backend::encode_backend_key_data(&cancel_key.key, &mut out);
    backend::encode_ready_for_query(b'I', &mut out);
    if let Err(e) = stream.write_all(&out).await {
        let _ = session.close("client disconnected").await;
        return Err(e.into());
    }

    let connection = session.credential().connection.clone();
    let ended = relay::run(
        relay::Sides {
            client: stream,
            upstream: upstream.stream,
            pending: upstream.pending,
        },
        &mut session,
        relay::Controls {
            masking: masking::Masking {
                policy: &masking,
                catalog: &gateway.catalog,
                upstreams: core.upstreams(),
                connection: &connection,
            },
            statements: &gateway.statements,
        },
        gateway.config.max_message_bytes,
    )
    .await;
    if let Ended::RecordingFailed(e) = &ended {
        core.metrics().recording_failures.inc();
        tracing::error!(target: "hoop::alert", session_id = %session.id(), error = %e, "session recording failed; the session was ended");
    }
    drop(cancel_key);
    if let Err(e) = session.close(&ended.to_string()).await {
        tracing::error!(target: "hoop::alert", error = %e, "cannot close a session recording");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(params: &[(&str, &str)]) -> StartupMessage {
        StartupMessage {
            version: 196_608,
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn refused(params: &[(&str, &str)], tls: bool) -> Option<(&'static str, &'static str)> {
        startup_refusal(&startup(params), tls, true).map(|r| (r.code, sqlstate_of(&r)))
    }

    #[test]
    fn startups_are_refused_before_authentication_with_their_own_codes() {
        let user = ("user", "run-1-1-abcdef");
        assert_eq!(refused(&[user], true), None);
        assert_eq!(refused(&[user], false), Some(("tls_required", "28000")));
        assert_eq!(
            refused(&[user, ("replication", "database")], true),
            Some(("replication_refused", "28000"))
        );
        // The last value of a repeated parameter is the one Postgres would use.
        assert_eq!(
            refused(
                &[user, ("replication", "false"), ("replication", "true")],
                true
            ),
            Some(("replication_refused", "28000"))
        );
        assert_eq!(refused(&[user, ("replication", "0")], true), None);
        assert_eq!(
            refused(&[user, ("client_encoding", "SJIS")], true),
            Some(("client_encoding_refused", "22023"))
        );
        assert_eq!(
            refused(&[user, ("options", "-c client_encoding=BIG5")], true),
            Some(("client_encoding_refused", "22023"))
        );
        assert_eq!(refused(&[user, ("client_encoding", "UTF8")], true), None);
        // Without require_tls, plaintext is let through to authentication.
        assert!(startup_refusal(&startup(&[user]), false, false).is_none());
    }

    #[test]
    fn every_refusal_class_has_a_sqlstate_clients_act_on() {
        use RefusalClass as C;
        let cases = [
            (C::NotAllowed, "28000"),
            (C::BadPassword, "28P01"),
            (C::Unsupported, "22023"),
            (C::UpstreamUnavailable, "08004"),
            (C::StateUnavailable, "08006"),
            (C::SessionLimit, "53300"),
            (C::SpoolFull, "53100"),
            (C::NotRecordable, "58030"),
        ];
        for (class, sqlstate) in cases {
            assert_eq!(sqlstate_of(&Refusal::new("x", class, "m")), sqlstate);
        }
    }
}
