//! The HTTP API, versioned under `/v1`, JSON in and out.
//!
//! | route | purpose |
//! |---|---|
//! | `POST /v1/exchange` | id token (`Authorization: Bearer`) + `{"connection": ...}` → credential |
//! | `DELETE /v1/credentials/{id}` | revoke (204 done, 202 accepted and completing); `Bearer` revoke token of the exchange, `Bearer` id token of the same run, or `Basic` user:password |
//! | `GET /v1/approvals` | held statements (`?state=pending`); approver token |
//! | `GET /v1/approvals/{id}` | one approval; approver token |
//! | `POST /v1/approvals/{id}/approve` | `{"scope": "once" \| "run", "comment": ...}`; approver token |
//! | `POST /v1/approvals/{id}/deny` | `{"comment": ...}`; approver token |
//! | `GET /approvals/{id}` | an HTML page for a person: how to see and decide the approval with `hoop approvals`; no token, nothing of the approval shown |
//! | `GET /v1/archives` | stored archives (`?run_id= &repository= &connection= &since= &until=`); auditor token |
//! | `GET /v1/archives/{session_id}` | one archive with its stored manifest; auditor token |
//! | `GET /v1/archive/objects?prefix=` | the store's objects under `sessions/…` or `digests/…`; auditor token |
//! | `GET /v1/archive/objects/{key}` | one stored object, byte for byte; auditor token |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the gateway admits new sessions (not draining, spool under its limit, archive store usable) and the state database answers |
//! | `GET /metrics` | Prometheus text format |
//!
//! API errors are `{"error": {"code": "...", "message": "..."}}` with a stable code per cause
//! (a trust refusal adds `"claims"`: the token's claims the nearest rule did not accept). Every
//! answer, unknown paths' 404 included, carries [`API_MARKER`].

use std::net::SocketAddr;
use std::sync::Arc;

mod approval_page;
mod approvals;
mod archives;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use crate::approvals::Approvals;
use crate::audit::Action;
use crate::base::{ConnectionName, DbRole, Secret, Shutdown};
use crate::credentials::RevokeToken;
use crate::exchange::{
    Broker, Caller, ExchangeError, ExchangeRequest, IssuedCredential, Revocation, RevokeAuth,
};
use crate::identity::{IdentityError, MAX_TOKEN_BYTES};
use crate::state::credentials::parse_id;

/// Request bodies are tiny; anything bigger is refused before it is read.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub broker: Arc<Broker>,
    pub approvals: Arc<Approvals>,
    /// The archive store and its auditors; `None` without `[archive]`.
    pub archive: Option<Arc<crate::archiver::ArchiveAccess>>,
    /// Triggered when the server starts draining: `/readyz` answers 503 from then on.
    pub draining: Shutdown,
    /// The gateway's session core: `/readyz` answers 503 while it refuses every new session.
    /// `None` where no gateway runs.
    pub sessions: Option<Arc<crate::session::Core>>,
}

impl FromRef<ApiState> for Arc<Broker> {
    fn from_ref(state: &ApiState) -> Arc<Broker> {
        state.broker.clone()
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/exchange", post(exchange))
        .route("/v1/credentials/{id}", delete(revoke))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", get(approvals::show))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route(approval_page::ROUTE, get(approval_page::page))
        .route("/v1/archives", get(archives::list))
        .route("/v1/archives/{session_id}", get(archives::show))
        .route("/v1/archive/objects", get(archives::objects))
        .route("/v1/archive/objects/{*key}", get(archives::object))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(mark_as_hoop))
        .with_state(state)
}

/// The header every answer of this API carries, so a client can tell hoop's API from the
/// gateway's port, a proxy's error page or another server at a mistyped URL.
pub const API_MARKER: (&str, &str) = ("x-hoop-api", "1");

async fn mark_as_hoop(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::HeaderName::from_static(API_MARKER.0),
        HeaderValue::from_static(API_MARKER.1),
    );
    response
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // As sent, with whatever does not show as itself (raw bidi or control bytes) escaped.
    let path = crate::display::line(uri.path());
    let fix = if path.starts_with("/v1/v1/") {
        "; the base URL ends in /v1: give the API's base URL without it (POST /v1/exchange is \
         appended to it)"
    } else {
        "; the API's paths start with /v1/ under its base URL (POST /v1/exchange)"
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("hoop's API has no {path}{fix}"),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not take {method} (docs/api.md)",
            crate::display::line(uri.path())
        ),
    )
}

/// The token of an `Authorization: Bearer <token>` header of an approver or an auditor.
fn person_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// An API error: status, stable code, and a message that says what to fix.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The token's claims a trust refusal is about (`error.claims`); empty for other errors.
    claims: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            claims: Vec::new(),
        }
    }
}

impl From<ExchangeError> for ApiError {
    fn from(e: ExchangeError) -> Self {
        use ExchangeError as E;
        let status = match &e {
            E::Identity(IdentityError::IssuerUnavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            E::Identity(_) | E::Replayed | E::InvalidCredentials | E::InvalidRevokeToken => {
                StatusCode::UNAUTHORIZED
            }
            E::Denied { .. }
            | E::NotYourCredential(_)
            | E::Inactive(_)
            | E::RoleNotGranted { .. } => StatusCode::FORBIDDEN,
            E::UnknownConnection(_) => StatusCode::BAD_REQUEST,
            E::Upstream(_) | E::State(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut error = ApiError::new(status, e.code(), e.to_string());
        error.claims = e.claims().into_iter().map(str::to_owned).collect();
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if !self.claims.is_empty() {
            error["claims"] = json!(self.claims);
        }
        let body = json!({ "error": error });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    connection: ConnectionName,
    /// Optional: the role the caller expects; it must be the one its trust rule grants.
    role: Option<DbRole>,
}

async fn exchange(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        remote_addr: Some(peer.ip()),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return Err(refused(&broker, Action::Exchange, caller, body_refused(&e)).await),
    };
    let (token, body) = match parse_exchange(&headers, &body) {
        Ok(parsed) => parsed,
        Err(e) => return Err(refused(&broker, Action::Exchange, caller, e).await),
    };
    let issued = broker
        .exchange(
            token,
            &ExchangeRequest {
                connection: body.connection,
                role: body.role,
            },
            caller,
        )
        .await?;
    let mut response = (StatusCode::CREATED, axum::Json(credential_json(&issued))).into_response();
    // The body holds a password: no cache may keep it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn parse_exchange<'h>(
    headers: &'h HeaderMap,
    body: &[u8],
) -> Result<(&'h str, ExchangeBody), ApiError> {
    let token = bearer_token(headers)?;
    let request = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body must be JSON like {{\"connection\": \"name\"}}: {e}"),
        )
    })?;
    Ok((token, request))
}

/// A body axum could not read: over [`MAX_BODY_BYTES`], or cut short.
fn body_refused(e: &BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than {MAX_BODY_BYTES} bytes; it is {{\"connection\": \"name\"}}"
            ),
        )
    } else {
        ApiError::new(
            e.status(),
            "invalid_request",
            format!(
                "the body could not be read: {}",
                crate::display::line(&e.body_text())
            ),
        )
    }
}

/// Audits a request refused here, before it reached the broker, and passes the error on.
async fn refused(broker: &Broker, action: Action, caller: Caller, e: ApiError) -> ApiError {
    broker
        .record_refusal(action, caller, e.code, &e.message)
        .await;
    e
}

fn credential_json(c: &IssuedCredential) -> serde_json::Value {
    let url = format!(
        "postgres://{}:{}@{}:{}/{}?sslmode={}",
        c.username,
        c.password.expose(),
        url_host(&c.host),
        c.port,
        c.database,
        c.sslmode
    );
    let mut body = json!({
        "credential_id": c.id,
        "username": c.username,
        "password": c.password.expose(),
        "host": c.host,
        "port": c.port,
        "database": c.database,
        "sslmode": c.sslmode,
        "database_url": url,
        "expires_at": c.expires_at.to_rfc3339(),
        "trust_rule": c.trust_rule,
        "max_sessions": c.max_sessions,
        "revoke_token": c.revoke_token.expose(),
        "run": {
            "provider": c.run.provider.as_str(),
            "repository": c.run.repository,
            "repository_id": c.run.repository_id,
            "run_id": c.run.run_id,
            "attempt": c.run.attempt,
            "run_url": c.run.run_url,
        },
    });
    // Absent, not null, when hoop does not know the CA (the certificate chains to a public one).
    if let Some(ca) = &c.ca_cert {
        body["ca_cert"] = json!(ca.as_ref());
    }
    body
}

/// IPv6 literals need brackets in URLs.
fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

async fn revoke(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller {
        remote_addr: Some(peer.ip()),
    };
    let parsed = id
        .ok()
        .and_then(|Path(id)| parse_id(&id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the credential id must be a UUID",
            )
        })
        .and_then(|id| Ok((id, revoke_auth(&headers)?)));
    let (id, auth) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return Err(refused(&broker, Action::Revoke, caller, e).await),
    };
    match broker.revoke(id, auth, caller).await? {
        Revocation::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        Revocation::Pending(why) => {
            let body = json!({
                "state": "revoking",
                "message": format!(
                    "revocation accepted: the credential admits no session and its sessions were \
                     ended; its upstream role is dropped as soon as the upstream allows ({why})"
                ),
            });
            Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
        }
    }
}

fn authorization(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send the CI job's OIDC id token as 'Authorization: Bearer <token>'",
        )
    })?;
    if value.len() > MAX_TOKEN_BYTES + 16 {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_too_large",
            format!("the Authorization header is larger than {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    value.to_str().map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_malformed",
            "the Authorization header is not ASCII",
        )
    })
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = authorization(headers)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "the Authorization header must be 'Bearer <id token>'",
        )),
    }
}

fn revoke_auth(headers: &HeaderMap) -> Result<RevokeAuth, ApiError> {
    let value = authorization(headers)?;
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "revoke with 'Authorization: Bearer <revoke_token of the exchange>', 'Authorization: \
             Bearer <id token of the same run>' or 'Authorization: Basic <user:password of the \
             credential>'",
        )
    };
    let (scheme, rest) = value.split_once(' ').ok_or_else(invalid)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        if token.starts_with(RevokeToken::PREFIX) {
            return Ok(RevokeAuth::RevokeToken(Secret::new(token)));
        }
        return Ok(RevokeAuth::Token(token.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(RevokeAuth::Password {
        username: username.to_owned(),
        password: Secret::new(password),
    })
}

/// Ready means a new gateway session would be admitted: 503 with the reason's code while the
/// server drains (`draining`), while the gateway refuses every session (`spool_full`,
/// `archive_store_unusable`), or while the state database does not answer
/// (`state_unavailable`).
async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    if state.draining.is_triggered() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "hoop is shutting down: it admits no new gateway session",
        ));
    }
    if let Some(refusal) = state
        .sessions
        .as_ref()
        .and_then(|core| core.refusing_every_session())
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            refusal.code,
            format!("the gateway refuses every new session: {}", refusal.message),
        ));
    }
    state.broker.store().ping().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_unavailable",
            e.to_string(),
        )
    })?;
    Ok("ready\n")
}

async fn metrics(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        broker.metrics().render(),
    )
}
