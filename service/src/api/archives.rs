//! `/v1/archives` and `/v1/archive/objects`: auditors list archives and fetch the stored
//! objects themselves, byte for byte, to verify them with their own pinned keys.
//!
//! Authenticated with an auditor token (`Authorization: Bearer hoopaud_...`), checked against
//! the SHA-256 hashes in `[[archive.auditors]]`. Every read and every refusal is audited. The
//! listing comes from the sessions index; the objects come from the store, so what an auditor
//! downloads is what the store holds, never a copy hoop made.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState, person_token};
use crate::archive::{Manifest, ObjectKey};
use crate::archiver::{ArchiveAccess, Auditor};
use crate::audit::{Action, AuditEvent, Outcome};
use crate::state::archives::{self, ArchiveFilter, ArchiveRow};
use crate::worm::StoreError;

/// Most archives one list returns.
const MAX_LIST: i64 = 1000;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match &e {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "object_not_found"),
            StoreError::Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
            _ => (StatusCode::BAD_GATEWAY, "store_error"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The archive access and the auditor behind the request; refusals are audited.
async fn auditor(
    state: &ApiState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(Arc<ArchiveAccess>, Auditor), ApiError> {
    let Some(access) = state.archive.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "archive_not_configured",
            "this hoop has no [archive]: recordings are not archived",
        ));
    };
    let refused =
        |code: &'static str, message: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, message);
    let error = match person_token(headers) {
        None => refused(
            "missing_token",
            "send an auditor token as 'Authorization: Bearer <token>'",
        ),
        Some(token) => match access.authenticate(token) {
            Some(a) => return Ok((access.clone(), a)),
            None => refused("unknown_auditor", "the token is not an auditor's"),
        },
    };
    let mut event = AuditEvent::new(Action::Archive, Outcome::Denied, error.code, &error.message);
    event.remote_addr = Some(peer.ip());
    audit(state, &event).await;
    Err(error)
}

/// Records what an auditor read.
async fn audit_read(state: &ApiState, auditor: &Auditor, peer: SocketAddr, what: String) {
    let mut event = AuditEvent::new(Action::Archive, Outcome::Success, "archive_read", what);
    event.remote_addr = Some(peer.ip());
    event.subject = Some(format!("auditor:{}", auditor.name));
    audit(state, &event).await;
}

async fn audit(state: &ApiState, event: &AuditEvent) {
    if let Err(e) = state.broker.audit().record(event).await {
        tracing::error!(target: "hoop::alert", error = %e, code = %event.code, "cannot write an archive access audit event");
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    run_id: Option<String>,
    repository: Option<String>,
    connection: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD`: sessions that ended at or after.
    since: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD`: sessions that ended before.
    until: Option<String>,
    limit: Option<i64>,
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| {
            bad_request(format!(
                "{name} must be RFC 3339 or YYYY-MM-DD, not {value:?}"
            ))
        })
}

pub(super) async fn list(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, auditor) = auditor(&state, &headers, peer).await?;
    let filter = ArchiveFilter {
        run_id: query.run_id,
        repository: query.repository,
        connection: query.connection,
        since: parse_time("since", query.since.as_deref())?,
        until: parse_time("until", query.until.as_deref())?,
        limit: query.limit.unwrap_or(100).clamp(1, MAX_LIST),
    };
    let client = state.broker.store().client().await.map_err(unavailable)?;
    let rows = archives::list(&client, &filter)
        .await
        .map_err(unavailable)?;
    audit_read(
        &state,
        &auditor,
        peer,
        format!("listed {} archives", rows.len()),
    )
    .await;
    let archives: Vec<Value> = rows.iter().map(row_json).collect();
    Ok(Json(json!({ "archives": archives })))
}

pub(super) async fn show(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, auditor) = auditor(&state, &headers, peer).await?;
    let row = find(&state, &session_id).await?;
    let key = ObjectKey::parse(&row.manifest_key).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_index",
            e.to_string(),
        )
    })?;
    let bytes = access.store().get(&key).await?;
    let manifest = Manifest::parse(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "invalid_manifest",
            format!("the stored manifest {key} does not parse: {e}"),
        )
    })?;
    audit_read(&state, &auditor, peer, format!("read archive {session_id}")).await;
    let mut body = row_json(&row);
    body["manifest"] = serde_json::to_value(&manifest).unwrap_or(Value::Null);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ObjectsQuery {
    /// `sessions/...` or `digests/...`.
    prefix: String,
}

pub(super) async fn objects(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<ObjectsQuery>,
) -> Result<Json<Value>, ApiError> {
    let (access, auditor) = auditor(&state, &headers, peer).await?;
    let prefix = query.prefix.trim_start_matches('/');
    if !(prefix.starts_with("sessions/") || prefix.starts_with("digests/")) || prefix.contains("..")
    {
        return Err(bad_request(
            "prefix must start with sessions/ or digests/ (e.g. sessions/2026/12/)",
        ));
    }
    let listed = access.store().list(prefix).await?;
    audit_read(
        &state,
        &auditor,
        peer,
        format!("listed objects under {prefix}"),
    )
    .await;
    let objects: Vec<Value> = listed
        .iter()
        .map(|l| json!({"key": l.key.as_str(), "size": l.size}))
        .collect();
    Ok(Json(json!({ "objects": objects })))
}

/// One stored object, byte for byte, with its SHA-256 when the store reports one.
pub(super) async fn object(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let (access, auditor) = auditor(&state, &headers, peer).await?;
    let key = ObjectKey::parse(&key).map_err(|e| bad_request(e.to_string()))?;
    let bytes = access.store().get(&key).await?;
    audit_read(&state, &auditor, peer, format!("downloaded {key}")).await;
    let content_type = if key.as_str().ends_with(".zst") {
        "application/zstd"
    } else {
        "application/json"
    };
    // The hash of what is sent, so a proxy that changed it shows; the auditor's verifier
    // checks the manifest's and the digest's hashes anyway.
    let sha256 = crate::archive::Sha256::of(&bytes).to_hex();
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&sha256) {
        headers.insert("x-hoop-sha256", value);
    }
    Ok(response)
}

async fn find(state: &ApiState, session_id: &str) -> Result<ArchiveRow, ApiError> {
    let client = state.broker.store().client().await.map_err(unavailable)?;
    archives::get(&client, session_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "archive_not_found",
                format!("no stored archive of session {session_id}"),
            )
        })
}

fn unavailable(e: crate::state::StateError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        e.to_string(),
    )
}

fn row_json(r: &ArchiveRow) -> Value {
    json!({
        "session_id": r.session_id,
        "replica": r.replica,
        "run_id": r.run_id,
        "repository": r.repository,
        "connection": r.connection,
        "end_state": r.end_state,
        "started_at": r.started_at.map(|t| t.to_rfc3339()),
        "ended_at": r.ended_at.map(|t| t.to_rfc3339()),
        "stored_at": r.stored_at.to_rfc3339(),
        "retain_until": r.retain_until.to_rfc3339(),
        "manifest_key": r.manifest_key,
        "recording_key": r.recording_key,
        "digest_key": r.digest_key,
    })
}
