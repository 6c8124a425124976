//! The relay's side of a held statement: waiting for its approval while the session goes on
//! relaying the upstream, and what an approval for one execution allows afterwards (one Bind,
//! under a statement name nothing else can reach). What the
//! client is told and how each ending reads are [`super::super::hold`]'s (pure).

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use hoop_protocol::frontend::{self, FrontendMessage, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::hold::{HoldNotice, HoldOutcome};
use super::super::policy::{self, Refusal};
use super::super::registry::Ending;
use super::super::session::fatal;
use super::{Ended, READ_CHUNK, Relay, ending_of};
use crate::approvals::{ApprovalId, ApprovalRecord, ApprovalState, HoldRequest, Resolution, Scope};
use crate::policy::classify::Classification;
use crate::policy::rules::Decision;
use crate::recording::Event;

/// A prepared statement approved for one execution.
///
/// Approve-once means once by construction: the client's name never exists upstream, so SQL
/// (`EXECUTE name`, `EXPLAIN ANALYZE EXECUTE name`, `CREATE TABLE ... AS EXECUTE name`, a
/// function or `DO` block reading `pg_prepared_statements`) has nothing to execute. Upstream
/// the statement exists under a private name only between the gateway's own Parse and Close,
/// written back to back around the one message that needs it (the approved Parse itself, a
/// Describe, the one Bind), so no client statement runs while it exists. If an earlier error
/// makes the upstream skip that Close, it skips every message up to the next Sync as well,
/// and the gateway closes the name again right after that Sync ([`Relay::closing`]).
pub(super) struct ApprovedOnce {
    id: ApprovalId,
    sql: String,
    param_types: Vec<u32>,
    /// The statement's name upstream: random, never the client's.
    private: String,
    /// Whether the one Bind was forwarded.
    bound: bool,
}

impl Relay<'_> {
    /// Notes a Parse approved for one execution; [`Self::forward_approved_once`] forwards it.
    pub(super) fn approve_once(&mut self, message: &FrontendMessage, id: ApprovalId) {
        if let FrontendMessage::Parse {
            statement,
            sql,
            param_types,
        } = message
        {
            let private = format!("hoop_once_{}", uuid::Uuid::new_v4().simple());
            let approved = ApprovedOnce {
                id,
                sql: sql.clone(),
                param_types: param_types.clone(),
                private,
                bound: false,
            };
            self.approved_once.insert(statement.clone(), approved);
        }
    }

    /// Forgets an approval whose statement the message replaces: a Parse of the same name, or
    /// a simple Query (which destroys the unnamed statement).
    pub(super) fn forget_replaced(&mut self, message: &FrontendMessage) {
        match message {
            FrontendMessage::Parse { statement, .. } => {
                self.approved_once.remove(statement);
            }
            FrontendMessage::Query { .. } | FrontendMessage::FunctionCall { .. } => {
                self.approved_once.remove("");
            }
            _ => {}
        }
    }

    /// A Bind of a prepared statement approved for one execution, bound a second time: refused
    /// (the approver saw one statement, not its every future parameter).
    pub(super) fn once_more(&mut self, message: &FrontendMessage) -> Option<Refusal> {
        let FrontendMessage::Bind { statement, .. } = message else {
            return None;
        };
        let approved = self.approved_once.get_mut(statement)?;
        if !std::mem::replace(&mut approved.bound, true) {
            return None;
        }
        Some(Refusal {
            sqlstate: "42501",
            message: format!(
                "{} {} approved one execution of this statement",
                policy::APPROVAL_PREFIX,
                approved.id
            ),
            detail: "a second execution needs its own approval".into(),
            hint: "prepare the statement again to request one".into(),
        })
    }

    /// Forwards a message about a statement approved for one execution under its private name
    /// (see [`ApprovedOnce`]), and closes private names again after a Sync. `false` when the
    /// message is none of these and is forwarded as usual.
    pub(super) fn forward_approved_once(&mut self, message: &FrontendMessage) -> bool {
        let named = match message {
            FrontendMessage::Parse { statement, .. }
            | FrontendMessage::Bind { statement, .. }
            | FrontendMessage::Describe {
                target: Target::Statement,
                name: statement,
            }
            | FrontendMessage::Close {
                target: Target::Statement,
                name: statement,
            } => statement,
            FrontendMessage::Sync if !self.closing.is_empty() => {
                self.masker.client(message);
                frontend::encode_sync(&mut self.out);
                // Nothing is skipped right after a Sync: these Closes run.
                for private in std::mem::take(&mut self.closing) {
                    frontend::encode_close(Target::Statement, &private, &mut self.out);
                    self.masker.injected_close();
                }
                return true;
            }
            _ => return false,
        };
        let Some(approved) = self.approved_once.get(named) else {
            return false;
        };
        let private = approved.private.clone();
        let out = &mut self.out;
        let parse = |out: &mut BytesMut| {
            frontend::encode_parse(&private, &approved.sql, &approved.param_types, out);
        };
        match message {
            FrontendMessage::Parse { .. } => {
                self.masker.client(message);
                parse(out);
            }
            FrontendMessage::Describe { .. } => {
                self.masker.injected_parse();
                parse(out);
                self.masker.client(message);
                frontend::encode_describe(Target::Statement, &private, out);
            }
            FrontendMessage::Bind {
                portal,
                param_formats,
                params,
                result_formats,
                ..
            } => {
                self.masker.injected_parse();
                parse(out);
                self.masker.client(message);
                frontend::encode_bind(portal, &private, param_formats, params, result_formats, out);
            }
            _ => {
                // The client's Close: answered by the upstream, and the approval is spent.
                self.masker.client(message);
                frontend::encode_close(Target::Statement, &private, out);
                self.approved_once.remove(named);
                return true;
            }
        }
        frontend::encode_close(Target::Statement, &private, out);
        self.masker.injected_close();
        if !self.closing.contains(&private) {
            self.closing.push(private);
        }
        true
    }

    /// Holds one statement until its approval is decided, the hold times out or the client
    /// cancels. Meanwhile the session goes on relaying what the upstream sends, reminds the
    /// client what it waits for, and ends as usual on revocation, expiry or shutdown
    /// (withdrawing the request). `Err` ends the session.
    pub(super) async fn hold(
        &mut self,
        decision: &Decision,
        classification: Option<&Classification>,
        sql: &str,
    ) -> Result<HoldOutcome, Ended> {
        self.held += 1;
        let rule = decision.rule.clone().unwrap_or_default();
        let unavailable = |why: String| HoldOutcome::Unavailable {
            rule: rule.clone(),
            why,
        };
        let Some(classification) = classification else {
            return Ok(unavailable(
                "the statement could not be fingerprinted".into(),
            ));
        };
        let approvals = self.session.approvals;
        let credential = self.session.credential;
        let shape = crate::policy::classify::approval_shape(sql, &classification.fingerprint);
        let fingerprint = &shape;
        // A text that reads differently under the two string syntaxes or in another client
        // encoding has more than one fingerprint, and only one would be compared: it is never
        // covered, always held.
        let covering = if !self.statements_policy.reads_one_way(sql).await {
            Ok(None)
        } else {
            approvals
                .covering(
                    &credential.issuer,
                    &credential.identity,
                    credential.connection.as_str(),
                    &rule,
                    fingerprint,
                )
                .await
        };
        match covering {
            Ok(Some(r)) => {
                return Ok(HoldOutcome::Covered {
                    id: r.id,
                    by: r.decided_by.unwrap_or_default(),
                });
            }
            Ok(None) => {}
            Err(e) => return Ok(unavailable(e.to_string())),
        }
        let masked = self.masker.policy().masker.mask_str(sql).into_owned();
        let requested = approvals
            .request(&HoldRequest {
                credential_id: credential.id,
                session_id: self.session.id,
                connection: credential.connection.as_str(),
                rule: &rule,
                reason: &decision.reason,
                statement: &masked,
                fingerprint,
                issuer: &credential.issuer,
                run: &credential.identity,
                audit: &self.audit.template,
            })
            .await;
        let (record, waiter) = match requested {
            Ok(requested) => requested,
            Err(e) => return Ok(unavailable(e.to_string())),
        };
        let id = record.id;
        self.recorder
            .append(Event::ApprovalRequested {
                approval_id: id,
                rule: self.masker.policy().masker.mask_text(&rule),
            })
            .map_err(Ended::RecordingFailed)?;
        let context = self.audit.template.clone();
        let withdraw = |why: &'static str| {
            let context = context.clone();
            async move {
                let resolution = Resolution::Withdrawn { why };
                if let Err(e) = approvals.close(id, &resolution, &context).await {
                    tracing::warn!(approval_id = %id, error = %e, "cannot mark an approval withdrawn; it expires unused");
                }
            }
        };
        let now = tokio::time::Instant::now();
        let until = |at: DateTime<Utc>| now + (at - Utc::now()).to_std().unwrap_or_default();
        let deadline = until(record.expires_at);
        let session_end = until(self.expires_at);
        let (url, command) = (approvals.url_of(id), approvals.command_for(id));
        let cancel = self.session.cancel.clone();
        // One registration for the whole hold: a cancel that arrives while a branch runs is
        // not lost between two polls.
        let cancelled = cancel.notified();
        tokio::pin!(cancelled);
        cancelled.as_mut().enable();
        let mut reminder = tokio::time::interval(approvals.notice_interval());
        loop {
            self.upstream_in.reserve(READ_CHUNK);
            // What the client pipelines behind the held statement waits here, within bounds.
            let room = self.client_in.len() < self.max_message + READ_CHUNK;
            if room {
                self.client_in.reserve(READ_CHUNK);
            }
            tokio::select! {
                _ = reminder.tick() => {
                    let notice = HoldNotice {
                        id,
                        rule: &rule,
                        reason: &decision.reason,
                        url: &url,
                        command: &command,
                        remaining: deadline.saturating_duration_since(tokio::time::Instant::now()),
                    };
                    let mut buf = BytesMut::new();
                    hoop_protocol::backend::encode_notice_response(&notice.fields(), &mut buf);
                    if self.client.write_all(&buf).await.is_err() {
                        withdraw("the client disconnected").await;
                        return Err(Ended::ClientGone);
                    }
                }
                () = waiter.changed() => {
                    if let Ok(r) = approvals.get(id).await
                        && let Some(outcome) = ended_hold(&r, approvals.timeout())
                    {
                        return Ok(outcome);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    let closed = approvals.close(id, &Resolution::Expired, &context).await;
                    let raced = match closed {
                        Ok(None) => approvals.get(id).await.ok(),
                        _ => None,
                    };
                    // A decision that beat the timeout stands; anything else is a timeout
                    // (a decision is refused past the deadline, so none can land later).
                    return Ok(raced
                        .and_then(|r| ended_hold(&r, approvals.timeout()))
                        .unwrap_or(HoldOutcome::Expired { id, after: approvals.timeout() }));
                }
                () = &mut cancelled => {
                    withdraw("the client cancelled the statement").await;
                    return Ok(HoldOutcome::Cancelled { id });
                }
                r = self.client.read_buf(&mut self.client_in), if room => match r {
                    Ok(0) | Err(_) => {
                        withdraw("the client disconnected").await;
                        return Err(Ended::ClientGone);
                    }
                    Ok(_) => {}
                },
                r = self.upstream.read_buf(&mut self.upstream_in) => {
                    let relayed = match r {
                        Ok(0) => Err(Ended::UpstreamGone),
                        Ok(_) => self.forward_upstream().await,
                        Err(e) => Err(Ended::Io(e)),
                    };
                    if let Err(ended) = relayed {
                        withdraw("the upstream session ended").await;
                        return Err(ended);
                    }
                }
                changed = self.ending.changed() => {
                    withdraw("the session was ended").await;
                    let why = ending_of(changed, &self.ending);
                    fatal(self.client, "57P01", why.message()).await;
                    return Err(Ended::By(why));
                }
                () = tokio::time::sleep_until(session_end) => {
                    withdraw("the credential expired").await;
                    fatal(self.client, "57P01", Ending::Expired.message()).await;
                    return Err(Ended::By(Ending::Expired));
                }
            }
        }
    }
}

/// How a decided approval ends its hold; `None` while it is pending.
fn ended_hold(record: &ApprovalRecord, timeout: std::time::Duration) -> Option<HoldOutcome> {
    let id = record.id;
    let by = record.decided_by.clone().unwrap_or_default();
    Some(match record.state {
        ApprovalState::Pending => return None,
        ApprovalState::Approved => HoldOutcome::Approved {
            id,
            by,
            scope: record.scope.unwrap_or(Scope::Once),
        },
        ApprovalState::Denied => HoldOutcome::Denied {
            id,
            by,
            comment: record.comment.clone(),
        },
        ApprovalState::Expired => HoldOutcome::Expired { id, after: timeout },
        ApprovalState::Withdrawn => HoldOutcome::Cancelled { id },
    })
}
