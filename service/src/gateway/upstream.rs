//! The gateway's side of an upstream connection: log in as the run role and collect what the
//! client must be told (parameter statuses, the upstream's cancel key).

use bytes::BytesMut;
use hoop_protocol::backend::{Authentication, BackendMessage, ErrorFields};
use hoop_protocol::startup::{self, CancelKey, StartupMessage};
use hoop_protocol::{ProtocolError, decode_frame, frontend};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::base::Secret;
use crate::upstream::Endpoint;

/// A logged-in upstream connection, ready for queries.
pub struct UpstreamSession {
    pub stream: TcpStream,
    /// Bytes read past the first ReadyForQuery (normally none).
    pub pending: BytesMut,
    pub parameters: Vec<(String, String)>,
    pub key: Option<CancelKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamConnectError {
    #[error("cannot reach the upstream database {0}")]
    Io(#[from] std::io::Error),
    /// The upstream refused; its error is relayed to the client as it is.
    #[error("the upstream database refused the session: {}", .0.message().unwrap_or("?"))]
    Refused(ErrorFields),
    #[error("the upstream database broke the protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("upstream authentication failed: {0}")]
    Auth(String),
}

/// Upstream messages during login are small; anything bigger is a broken server.
const MAX_LOGIN_MESSAGE: usize = 1024 * 1024;

pub async fn connect(
    endpoint: &Endpoint,
    user: &str,
    password: &Secret,
    params: Vec<(String, String)>,
) -> Result<UpstreamSession, UpstreamConnectError> {
    let mut stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
    stream.set_nodelay(true)?;
    let mut params = params;
    params.insert(0, ("user".into(), user.into()));
    params.insert(1, ("database".into(), endpoint.database.clone()));
    let mut out = BytesMut::new();
    startup::encode_startup(
        &StartupMessage {
            version: 196_608,
            params,
        },
        &mut out,
    );
    stream.write_all(&out).await?;

    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut scram: Option<ScramSha256> = None;
    let mut session = UpstreamSession {
        stream,
        pending: BytesMut::new(),
        parameters: Vec::new(),
        key: None,
    };
    loop {
        let frame = loop {
            if let Some(frame) = decode_frame(&mut buf, MAX_LOGIN_MESSAGE)? {
                break frame;
            }
            if session.stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        };
        let mut reply = BytesMut::new();
        match BackendMessage::decode(&frame)? {
            BackendMessage::Authentication(auth) => match auth {
                Authentication::Ok => {}
                Authentication::CleartextPassword => {
                    frontend::encode_password(password.expose(), &mut reply)
                }
                Authentication::Sasl { mechanisms } => {
                    if !mechanisms.iter().any(|m| m == "SCRAM-SHA-256") {
                        return Err(UpstreamConnectError::Auth(format!(
                            "the upstream offers only {mechanisms:?}; hoop speaks SCRAM-SHA-256"
                        )));
                    }
                    let client = ScramSha256::new(
                        password.expose().as_bytes(),
                        ChannelBinding::unsupported(),
                    );
                    frontend::encode_sasl_initial_response(
                        "SCRAM-SHA-256",
                        client.message(),
                        &mut reply,
                    );
                    scram = Some(client);
                }
                Authentication::SaslContinue(data) => {
                    let client = scram
                        .as_mut()
                        .ok_or_else(|| auth_error("SASL continue before SASL"))?;
                    client
                        .update(&data)
                        .map_err(|e| auth_error(&e.to_string()))?;
                    frontend::encode_sasl_response(client.message(), &mut reply);
                }
                Authentication::SaslFinal(data) => {
                    let client = scram
                        .as_mut()
                        .ok_or_else(|| auth_error("SASL final before SASL"))?;
                    // Verifies the server's signature: the upstream proved it knows the verifier.
                    client
                        .finish(&data)
                        .map_err(|e| auth_error(&e.to_string()))?;
                }
                Authentication::Md5Password { .. } | Authentication::Other(_) => {
                    return Err(auth_error(
                        "the upstream asks for an authentication method hoop does not use \
                         (configure scram-sha-256 or trust for the run roles in pg_hba.conf)",
                    ));
                }
            },
            BackendMessage::ParameterStatus { name, value } => {
                session.parameters.push((name, value))
            }
            BackendMessage::BackendKeyData(key) => session.key = Some(key),
            BackendMessage::ErrorResponse(fields) => {
                return Err(UpstreamConnectError::Refused(fields));
            }
            BackendMessage::ReadyForQuery { .. } => {
                session.pending = buf;
                return Ok(session);
            }
            // Notices during login (e.g. about an expiring password) are not the client's.
            _ => {}
        }
        if !reply.is_empty() {
            session.stream.write_all(&reply).await?;
        }
    }
}

fn auth_error(reason: &str) -> UpstreamConnectError {
    UpstreamConnectError::Auth(reason.to_owned())
}

/// Sends a CancelRequest for `key` to the upstream; errors are ignored, as Postgres's own
/// cancel is best effort too.
pub async fn cancel(endpoint: &Endpoint, key: &CancelKey) {
    let Ok(mut stream) = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await else {
        return;
    };
    let mut out = BytesMut::new();
    startup::encode_cancel(key, &mut out);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}
