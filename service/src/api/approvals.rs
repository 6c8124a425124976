//! `/v1/approvals`: approvers list, read and decide held statements.
//!
//! Authenticated with an approver token (`Authorization: Bearer hoopapr_...`), checked against
//! the SHA-256 hashes in `[[approvals.approvers]]`. A missing or unknown token is refused and
//! audited; so is every decision, recorded or refused.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::approvals::{
    ApprovalError, ApprovalId, ApprovalRecord, ApprovalState, Approver, Resolution, Scope,
};

/// Most approvals one list returns.
const MAX_LIST: i64 = 500;

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        let status = match &e {
            ApprovalError::State(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApprovalError::NotFound(_) => StatusCode::NOT_FOUND,
            ApprovalError::NotPending { .. } => StatusCode::CONFLICT,
            ApprovalError::DualControl { .. } | ApprovalError::DualControlUnknown { .. } => {
                StatusCode::FORBIDDEN
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// The approver behind the request's bearer token; refusals are audited.
async fn approver(
    state: &ApiState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Approver, ApiError> {
    let approvals = &state.approvals;
    let refused = |code: &'static str, message: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message.to_owned())
    };
    let error = match super::person_token(headers) {
        None => refused(
            "missing_token",
            "send an approver token as 'Authorization: Bearer <token>'",
        ),
        Some(token) => match approvals.approvers().authenticate(token) {
            Some(approver) => return Ok(approver),
            None => refused("unknown_approver", "the token is not an approver's"),
        },
    };
    approvals
        .record_refusal(error.code, &error.message, Some(peer.ip()))
        .await;
    Err(error)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// `pending` (default), `approved`, `denied`, `expired`, `withdrawn` or `all`.
    state: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    approver(&state, &headers, peer).await?;
    let filter = match query.state.as_deref().unwrap_or("pending") {
        "all" => None,
        name => Some(ApprovalState::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "state must be pending, approved, denied, expired, withdrawn or all, not \
                     {name:?}"
                ),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let found = state.approvals.list(filter, limit).await?;
    let approvals: Vec<Value> = found.iter().map(|a| approval_json(&state, a)).collect();
    Ok(Json(json!({ "approvals": approvals })))
}

fn parse_approval_id(id: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(id.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the approval id must be a UUID in lower-case hyphenated form",
        )
    })
}

pub(super) async fn show(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    approver(&state, &headers, peer).await?;
    let id = parse_approval_id(&id)?;
    let record = state.approvals.get(id).await?;
    Ok(Json(approval_json(&state, &record)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    /// Approvals only: `once` (default) or `run`.
    scope: Option<Scope>,
    comment: Option<String>,
}

/// Longest comment kept: it is shown to the run and stored with the approval.
const MAX_COMMENT_CHARS: usize = 1000;

fn decision_body(body: &[u8]) -> Result<DecisionBody, ApiError> {
    if body.is_empty() {
        return Ok(DecisionBody::default());
    }
    let parsed: DecisionBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "the body must be JSON like {{\"scope\": \"once\" | \"run\", \"comment\": \
                 \"...\"}}: {e}"
            ),
        )
    })?;
    if parsed
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the comment is longer than {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(parsed)
}

pub(super) async fn approve(
    state: State<ApiState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, peer, headers, id, body, true).await
}

pub(super) async fn deny(
    state: State<ApiState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, peer, headers, id, body, false).await
}

async fn decide(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    let approver = approver(&state, &headers, peer).await?;
    let id = parse_approval_id(&id)?;
    let body = decision_body(&body)?;
    let comment = body.comment.as_deref().filter(|c| !c.trim().is_empty());
    let resolution = if approve {
        Resolution::Approved {
            scope: body.scope.unwrap_or(Scope::Once),
            by: &approver.name,
            comment,
        }
    } else {
        if body.scope.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a denial has no scope",
            ));
        }
        Resolution::Denied {
            by: &approver.name,
            comment,
        }
    };
    let record = state
        .approvals
        .decide(id, &approver, &resolution, Some(peer.ip()))
        .await?;
    Ok(Json(approval_json(&state, &record)))
}

fn approval_json(state: &ApiState, a: &ApprovalRecord) -> Value {
    let run = &a.run;
    json!({
        "id": a.id,
        "state": a.state,
        "rule": a.rule,
        "reason": a.reason,
        "statement": a.statement,
        "fingerprint": a.fingerprint,
        "connection": a.connection,
        "session_id": a.session_id,
        "credential_id": a.credential_id,
        "replica": a.replica,
        "run": {
            "provider": run.provider.as_str(),
            "repository": run.repository,
            "run_id": run.run_id,
            "attempt": run.attempt,
            "ref": run.git_ref,
            "sha": run.sha,
            "environment": run.environment,
            "actor": run.actor,
            "actor_id": run.actor_id,
            "event": run.event,
            "pull_request": run.pull_request,
            "run_url": run.run_url,
        },
        "requested_at": a.requested_at.to_rfc3339(),
        "expires_at": a.expires_at.to_rfc3339(),
        "decided_at": a.decided_at.map(|t| t.to_rfc3339()),
        "decided_by": a.decided_by,
        "scope": a.scope,
        "comment": a.comment,
        "approve_command": state.approvals.command_for(a.id),
        "display": display_json(a),
    })
}

/// The text fields a client or a token chose, as a person must be shown them: every
/// character that does not show as itself (bidi controls, zero-width and other invisible
/// characters, controls) escaped as `\u{…}` ([`crate::display`]). The raw fields above stay
/// exact, for programs; a screen (the CLI, a dashboard) shows these.
fn display_json(a: &ApprovalRecord) -> Value {
    use crate::display::{line, text};
    let run = &a.run;
    let opt = |v: &Option<String>| v.as_deref().map(|s| line(s).into_owned());
    json!({
        "statement": text(&a.statement),
        "rule": line(&a.rule),
        "reason": line(&a.reason),
        "connection": line(&a.connection),
        "decided_by": opt(&a.decided_by),
        "comment": a.comment.as_deref().map(|c| text(c).into_owned()),
        "run": {
            "repository": line(&run.repository),
            "run_id": line(run.run_id.as_str()),
            "ref": opt(&run.git_ref),
            "sha": opt(&run.sha),
            "environment": opt(&run.environment),
            "actor": opt(&run.actor),
            "event": opt(&run.event),
            "workflow": opt(&run.workflow),
            "run_url": opt(&run.run_url),
        },
    })
}
