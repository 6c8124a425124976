//! A statement held for a person's approval, whatever the protocol: asking for the approval
//! (or finding one that covers it), the wait's events (a reminder is due, a decision landed,
//! the deadline passed), withdrawing it, and each way a hold ends as a recording event.
//!
//! The protocol adapter owns the wait loop: it keeps relaying its upstream and watching its
//! client while it awaits [`Hold::next`], and tells its client in its own wire format.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Session;
use crate::approvals::{
    ApprovalError, ApprovalRecord, ApprovalState, Approvals, HoldRequest, Resolution, Scope, Waiter,
};
use crate::audit::AuditEvent;
use crate::base::ApprovalId;
use crate::identity::RunIdentity;
use crate::masking::Masker;
use crate::policy::rules::Decision;
use crate::recording::{ApprovalEnd, ApprovalOutcome, Event, RecordingError};

/// Where approvals are asked for and decided: [`crate::approvals::Approvals`], the state
/// database and its notifications; in the relay's unit tests, a stand-in in memory.
#[async_trait::async_trait]
pub trait ApprovalDesk: Send + Sync {
    /// The run-wide approval that already covers this statement, if one does.
    async fn covering(
        &self,
        issuer: &str,
        run: &RunIdentity,
        connection: &str,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError>;
    /// Stores a pending approval and subscribes to its changes.
    async fn request(
        &self,
        hold: &HoldRequest<'_>,
    ) -> Result<(ApprovalRecord, Waiter), ApprovalError>;
    async fn get(&self, id: ApprovalId) -> Result<ApprovalRecord, ApprovalError>;
    /// Ends a pending approval (expired, withdrawn); `None` when it was decided first.
    async fn close(
        &self,
        id: ApprovalId,
        resolution: &Resolution<'_>,
        context: &AuditEvent,
    ) -> Result<Option<ApprovalRecord>, ApprovalError>;
    /// Where an approver sees it, and the command an approver runs.
    fn url_of(&self, id: ApprovalId) -> String;
    fn command_for(&self, id: ApprovalId) -> String;
    /// How often a held client is reminded, and how long a hold lasts.
    fn notice_interval(&self) -> Duration;
    fn timeout(&self) -> Duration;
}

/// The approvals service of this replica is the desk.
#[async_trait::async_trait]
impl ApprovalDesk for Approvals {
    async fn covering(
        &self,
        issuer: &str,
        run: &RunIdentity,
        connection: &str,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        Approvals::covering(self, issuer, run, connection, rule, fingerprint).await
    }

    async fn request(
        &self,
        hold: &HoldRequest<'_>,
    ) -> Result<(ApprovalRecord, Waiter), ApprovalError> {
        Approvals::request(self, hold).await
    }

    async fn get(&self, id: ApprovalId) -> Result<ApprovalRecord, ApprovalError> {
        Approvals::get(self, id).await
    }

    async fn close(
        &self,
        id: ApprovalId,
        resolution: &Resolution<'_>,
        context: &AuditEvent,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        Approvals::close(self, id, resolution, context).await
    }

    fn url_of(&self, id: ApprovalId) -> String {
        Approvals::url_of(self, id)
    }

    fn command_for(&self, id: ApprovalId) -> String {
        Approvals::command_for(self, id)
    }

    fn notice_interval(&self) -> std::time::Duration {
        Approvals::notice_interval(self)
    }

    fn timeout(&self) -> std::time::Duration {
        Approvals::timeout(self)
    }
}

/// Why a hold is withdrawn when the gateway drains.
const SHUTTING_DOWN: &str = "the gateway is shutting down";

/// How a hold ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldOutcome {
    /// An approver approved it; the statement runs.
    Approved {
        id: ApprovalId,
        by: String,
        scope: Scope,
    },
    /// An earlier approval for the rest of the run covers its fingerprint; the statement runs
    /// without a new hold.
    Covered { id: ApprovalId, by: String },
    Denied {
        id: ApprovalId,
        by: String,
        comment: Option<String>,
    },
    /// Nobody decided before the timeout.
    Expired { id: ApprovalId, after: Duration },
    /// The client cancelled the statement while it was held.
    Cancelled { id: ApprovalId },
    /// The gateway started draining while the statement was held: withdrawn, so nobody
    /// approves a statement this gateway will not run; the session goes on until the drain ends.
    ShuttingDown { id: ApprovalId },
    /// No approval could be requested or read (the state database is down): refused.
    Unavailable { rule: String, why: String },
}

impl HoldOutcome {
    /// Whether the statement runs.
    pub fn runs(&self) -> bool {
        matches!(
            self,
            HoldOutcome::Approved { .. } | HoldOutcome::Covered { .. }
        )
    }

    /// The recording event of the hold's end. The approver's name, a denial's comment and an
    /// error's text are masked: an approver can type anything, and errors quote their input.
    pub fn event(&self, masker: &Masker) -> Event {
        let end = |approval_id: Option<ApprovalId>, outcome| ApprovalEnd {
            approval_id,
            outcome,
            by: None,
            scope: None,
            comment: None,
            error: None,
        };
        Event::Approval(match self {
            HoldOutcome::Approved { id, by, scope } => ApprovalEnd {
                by: Some(masker.mask_text(by)),
                scope: Some(*scope),
                ..end(Some(*id), ApprovalOutcome::Approved)
            },
            HoldOutcome::Covered { id, by } => ApprovalEnd {
                by: Some(masker.mask_text(by)),
                scope: Some(Scope::Run),
                ..end(Some(*id), ApprovalOutcome::Covered)
            },
            HoldOutcome::Denied { id, by, comment } => ApprovalEnd {
                by: Some(masker.mask_text(by)),
                comment: comment.as_deref().map(|c| masker.mask_text(c)),
                ..end(Some(*id), ApprovalOutcome::Denied)
            },
            HoldOutcome::Expired { id, .. } => end(Some(*id), ApprovalOutcome::Expired),
            HoldOutcome::Cancelled { id } => end(Some(*id), ApprovalOutcome::Withdrawn),
            HoldOutcome::ShuttingDown { id } => ApprovalEnd {
                error: Some(masker.mask_text(SHUTTING_DOWN)),
                ..end(Some(*id), ApprovalOutcome::Withdrawn)
            },
            HoldOutcome::Unavailable { why, .. } => ApprovalEnd {
                error: Some(masker.mask_text(why)),
                ..end(None, ApprovalOutcome::Unavailable)
            },
        })
    }
}

/// What a held client is reminded of while it waits: the approval id, the rule, and how an
/// approver approves. Each protocol shows it its own way (a NoticeResponse in PostgreSQL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldNotice {
    pub id: ApprovalId,
    pub rule: String,
    pub reason: String,
    pub url: String,
    pub command: String,
    /// Until the hold times out.
    pub remaining: Duration,
}

/// Where a hold is after its first step.
pub enum HoldStart<'a> {
    /// Decided at once: covered by an earlier approval, or no approval could be requested.
    Ended(HoldOutcome),
    /// Requested; the adapter waits on it.
    Waiting(Box<Hold<'a>>),
}

/// What a hold's wait brings.
#[derive(Debug)]
pub enum HoldStep {
    /// Time to remind the client.
    Remind(HoldNotice),
    /// The hold is over.
    Ended(HoldOutcome),
}

/// A requested approval being waited for.
pub struct Hold<'a> {
    approvals: &'a dyn ApprovalDesk,
    id: ApprovalId,
    notice: HoldNotice,
    deadline: tokio::time::Instant,
    waiter: Waiter,
    reminder: tokio::time::Interval,
    /// Audit context of the session, for the approval's own events.
    context: crate::audit::AuditEvent,
}

impl<'c> Session<'c> {
    /// Starts holding the statement `sql` that `decision` holds: an approval for the rest of
    /// the run that covers its fingerprint ends the hold at once; otherwise an approval is
    /// requested (and recorded) and the caller waits on it. `reads_one_way` is the dialect's
    /// word that the text has a single reading (a text with several fingerprints is never
    /// covered, always held). `Err` only when the recording failed: the session ends.
    pub async fn hold(
        &mut self,
        decision: &Decision,
        fingerprint: Option<&str>,
        reads_one_way: bool,
        sql: &str,
    ) -> Result<HoldStart<'c>, RecordingError> {
        self.counts.held += 1;
        let core = self.core;
        let approvals: &'c dyn ApprovalDesk = &*core.approvals;
        let rule = decision.rule.clone().unwrap_or_default();
        let unavailable = |why: String| {
            Ok(HoldStart::Ended(HoldOutcome::Unavailable {
                rule: rule.clone(),
                why,
            }))
        };
        let Some(fingerprint) = fingerprint else {
            return unavailable("the statement could not be fingerprinted".into());
        };
        let credential = &self.credential;
        let covering = match reads_one_way {
            false => Ok(None),
            true => {
                approvals
                    .covering(
                        &credential.issuer,
                        &credential.identity,
                        credential.connection.as_str(),
                        &rule,
                        fingerprint,
                    )
                    .await
            }
        };
        match covering {
            Ok(Some(r)) => {
                return Ok(HoldStart::Ended(HoldOutcome::Covered {
                    id: r.id,
                    by: r.decided_by.unwrap_or_default(),
                }));
            }
            Ok(None) => {}
            Err(e) => return unavailable(e.to_string()),
        }
        let masking = core.masking();
        let masker = &masking.masker;
        let masked = masker.mask_str(sql).into_owned();
        let requested = approvals
            .request(&HoldRequest {
                credential_id: credential.id,
                session_id: self.id,
                connection: credential.connection.as_str(),
                rule: &rule,
                reason: &decision.reason,
                statement: &masked,
                fingerprint,
                issuer: &credential.issuer,
                run: &credential.identity,
                audit: &self.audit_template,
            })
            .await;
        let (record, waiter) = match requested {
            Ok(requested) => requested,
            Err(e) => return unavailable(e.to_string()),
        };
        let id = record.id;
        self.recorder.append(Event::ApprovalRequested {
            approval_id: id,
            rule: masker.mask_text(&rule),
        })?;
        let deadline = instant_of(record.expires_at);
        Ok(HoldStart::Waiting(Box::new(Hold {
            approvals,
            id,
            notice: HoldNotice {
                id,
                rule,
                reason: decision.reason.clone(),
                url: approvals.url_of(id),
                command: approvals.command_for(id),
                remaining: Duration::ZERO,
            },
            deadline,
            waiter,
            reminder: tokio::time::interval(approvals.notice_interval()),
            context: self.audit_template.clone(),
        })))
    }
}

/// `at` on the monotonic clock.
pub fn instant_of(at: DateTime<Utc>) -> tokio::time::Instant {
    tokio::time::Instant::now() + (at - Utc::now()).to_std().unwrap_or_default()
}

impl Hold<'_> {
    pub fn id(&self) -> ApprovalId {
        self.id
    }

    /// The next thing that happens to the hold: a reminder is due (the first at once), a
    /// decision landed, or the deadline passed. Cancel-safe: the caller may drop it to serve
    /// its client or upstream and call it again.
    pub async fn next(&mut self) -> HoldStep {
        loop {
            tokio::select! {
                _ = self.reminder.tick() => {
                    let remaining = self.deadline.saturating_duration_since(tokio::time::Instant::now());
                    return HoldStep::Remind(HoldNotice { remaining, ..self.notice.clone() });
                }
                () = self.waiter.changed() => {
                    if let Ok(r) = self.approvals.get(self.id).await
                        && let Some(outcome) = ended_hold(&r, self.approvals.timeout())
                    {
                        return HoldStep::Ended(outcome);
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => {
                    let closed = self.approvals.close(self.id, &Resolution::Expired, &self.context).await;
                    let raced = match closed {
                        Ok(None) => self.approvals.get(self.id).await.ok(),
                        _ => None,
                    };
                    // A decision that beat the timeout stands; anything else is a timeout
                    // (a decision is refused past the deadline, so none can land later).
                    let after = self.approvals.timeout();
                    return HoldStep::Ended(
                        raced
                            .and_then(|r| ended_hold(&r, after))
                            .unwrap_or(HoldOutcome::Expired { id: self.id, after }),
                    );
                }
            }
        }
    }

    /// The client cancelled the statement: the request is withdrawn.
    pub async fn cancel(self) -> HoldOutcome {
        let id = self.id;
        self.withdraw("the client cancelled the statement").await;
        HoldOutcome::Cancelled { id }
    }

    /// The gateway drains while the statement is held: the request is withdrawn.
    pub async fn shut_down(self) -> HoldOutcome {
        let id = self.id;
        self.withdraw(SHUTTING_DOWN).await;
        HoldOutcome::ShuttingDown { id }
    }

    /// The session ends while the statement is held: the request is withdrawn, so nobody
    /// approves a statement that will never run.
    pub async fn withdraw(self, why: &'static str) {
        let resolution = Resolution::Withdrawn { why };
        if let Err(e) = self
            .approvals
            .close(self.id, &resolution, &self.context)
            .await
        {
            tracing::warn!(approval_id = %self.id, error = %e, "cannot mark an approval withdrawn; it expires unused");
        }
    }
}

/// How a decided approval ends its hold; `None` while it is pending.
fn ended_hold(record: &ApprovalRecord, timeout: Duration) -> Option<HoldOutcome> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::ApprovalOutcome;

    fn id() -> ApprovalId {
        ApprovalId::parse("5f1c0c5e-8d0b-4c1e-9a57-3c1f7a0e2b11").unwrap()
    }

    #[test]
    fn only_approvals_run_and_every_ending_is_recorded_masked() {
        let m = Masker::pci_default();
        let pan = "4111111111111111";
        let outcomes = [
            (
                HoldOutcome::Approved {
                    id: id(),
                    by: format!("lead {pan}"),
                    scope: Scope::Once,
                },
                true,
                ApprovalOutcome::Approved,
            ),
            (
                HoldOutcome::Covered {
                    id: id(),
                    by: "lead".into(),
                },
                true,
                ApprovalOutcome::Covered,
            ),
            (
                HoldOutcome::Denied {
                    id: id(),
                    by: "lead".into(),
                    comment: Some(format!("not {pan}")),
                },
                false,
                ApprovalOutcome::Denied,
            ),
            (
                HoldOutcome::Expired {
                    id: id(),
                    after: Duration::from_secs(1),
                },
                false,
                ApprovalOutcome::Expired,
            ),
            (
                HoldOutcome::Cancelled { id: id() },
                false,
                ApprovalOutcome::Withdrawn,
            ),
            (
                HoldOutcome::Unavailable {
                    rule: "r".into(),
                    why: format!("down {pan}"),
                },
                false,
                ApprovalOutcome::Unavailable,
            ),
        ];
        for (outcome, runs, recorded) in outcomes {
            assert_eq!(outcome.runs(), runs, "{outcome:?}");
            let Event::Approval(end) = outcome.event(&m) else {
                panic!("{outcome:?}");
            };
            assert_eq!(end.outcome, recorded);
            let json = serde_json::to_string(&end).unwrap();
            assert!(!json.contains(pan), "{json}");
        }
    }
}
