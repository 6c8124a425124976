//! A statement held for approval: what the client is told while it waits, and how each way a
//! hold can end becomes an error (raised upstream, like a denial) and a recording event.
//!
//! Pure: the waiting itself is the relay's ([`super::relay`]), the approval store is
//! [`crate::approvals`].

use std::time::Duration;

use hoop_protocol::backend::ErrorFields;

use super::policy::{APPROVAL_PREFIX, DENIAL_PREFIX, Refusal};
use crate::approvals::{ApprovalId, Scope};
use crate::masking::Masker;
use crate::recording::{ApprovalEnd, ApprovalOutcome, Event};

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
    /// No approval could be requested or read (the state database is down): refused.
    Unavailable { rule: String, why: String },
}

impl HoldOutcome {
    /// The error the client gets in place of the statement; `None` when it runs.
    pub fn refusal(&self) -> Option<Refusal> {
        let approve_first = "ask an approver before running it again";
        Some(match self {
            HoldOutcome::Approved { .. } | HoldOutcome::Covered { .. } => return None,
            HoldOutcome::Denied { id, by, comment } => Refusal {
                sqlstate: "42501",
                message: format!("{APPROVAL_PREFIX} {id} was denied by {by}"),
                detail: comment.clone().unwrap_or_default(),
                hint: "the statement did not run".into(),
            },
            HoldOutcome::Expired { id, after } => Refusal {
                sqlstate: "57014",
                message: format!(
                    "{APPROVAL_PREFIX} {id} timed out after {}: nobody approved the statement",
                    humantime::format_duration(*after)
                ),
                detail: "the statement did not run".into(),
                hint: approve_first.into(),
            },
            HoldOutcome::Cancelled { id } => Refusal {
                sqlstate: "57014",
                message: format!(
                    "{APPROVAL_PREFIX} {id} withdrawn: canceling statement due to user request"
                ),
                detail: "the statement did not run".into(),
                hint: String::new(),
            },
            HoldOutcome::Unavailable { rule, why } => Refusal {
                sqlstate: "42501",
                message: format!("{DENIAL_PREFIX} (rule {rule})"),
                detail: format!(
                    "the statement needs an approval, and hoop could not request one ({why})"
                ),
                hint: "try again later".into(),
            },
        })
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
            HoldOutcome::Unavailable { why, .. } => ApprovalEnd {
                error: Some(masker.mask_text(why)),
                ..end(None, ApprovalOutcome::Unavailable)
            },
        })
    }
}

/// What a held client sees (a NoticeResponse, repeated while it waits): the approval id, the
/// rule, and how an approver approves.
pub struct HoldNotice<'a> {
    pub id: ApprovalId,
    pub rule: &'a str,
    pub reason: &'a str,
    pub url: &'a str,
    pub command: &'a str,
    pub remaining: Duration,
}

impl HoldNotice<'_> {
    pub fn fields(&self) -> ErrorFields {
        // Whole seconds: the reminder says "14m 30s", not nanoseconds.
        let remaining = Duration::from_secs(self.remaining.as_secs());
        ErrorFields::new(
            "NOTICE",
            "01000",
            &format!(
                "{APPROVAL_PREFIX} {id}: statement held for approval (rule {rule}); waiting up \
                 to {remaining}",
                id = self.id,
                rule = self.rule,
                remaining = humantime::format_duration(remaining),
            ),
        )
        .with(b'D', self.reason)
        .with(
            b'H',
            &format!(
                "an approver runs `{}` or opens {}; cancel to withdraw the request",
                self.command, self.url
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::policy::is_denial;

    fn id() -> ApprovalId {
        ApprovalId::parse("5f1c0c5e-8d0b-4c1e-9a57-3c1f7a0e2b11").unwrap()
    }

    #[test]
    fn each_ending_has_its_own_error_and_only_approvals_run() {
        let outcomes = [
            HoldOutcome::Denied {
                id: id(),
                by: "lead".into(),
                comment: Some("not during the freeze".into()),
            },
            HoldOutcome::Expired {
                id: id(),
                after: Duration::from_secs(900),
            },
            HoldOutcome::Cancelled { id: id() },
            HoldOutcome::Unavailable {
                rule: "r".into(),
                why: "state database unavailable".into(),
            },
        ];
        let mut messages = std::collections::HashSet::new();
        for outcome in &outcomes {
            let refusal = outcome.refusal().unwrap();
            // The gateway strips the DO block's context from every one of them.
            assert!(
                is_denial(Some(refusal.sqlstate), Some(&refusal.message)),
                "{refusal:?}"
            );
            assert!(messages.insert(refusal.message.clone()));
        }
        assert!(outcomes[1].refusal().unwrap().message.contains("15m"));
        let approved = HoldOutcome::Approved {
            id: id(),
            by: "lead".into(),
            scope: Scope::Run,
        };
        assert!(approved.refusal().is_none());
    }

    #[test]
    fn the_notice_names_the_approval_and_how_to_approve() {
        let notice = HoldNotice {
            id: id(),
            rule: "prod-migrations",
            reason: "migrations on payments need a second pair of eyes",
            url: "https://hoop.example/v1/approvals/5f1c",
            command: "hoop approvals approve 5f1c",
            remaining: Duration::from_millis(90_500),
        }
        .fields();
        let message = notice.message().unwrap();
        assert!(
            message.contains(&id().to_string()) && message.contains("1m 30s"),
            "{message}"
        );
        assert!(
            notice
                .get(b'H')
                .unwrap()
                .contains("hoop approvals approve 5f1c")
        );
    }
}
