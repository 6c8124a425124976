//! A statement held for approval, in PostgreSQL's terms: the NoticeResponse a held client sees
//! while it waits, and each way a hold ends as an error (raised upstream, like a denial).
//!
//! Pure: the hold itself is the session core's ([`crate::session::Hold`]); the waiting loop is
//! the relay's ([`super::relay`]).

use std::time::Duration;

use hoop_protocol::backend::ErrorFields;

use super::policy::{APPROVAL_PREFIX, DENIAL_PREFIX, Refusal};
use crate::session::{HoldNotice, HoldOutcome};

/// The error the client gets in place of the statement; `None` when it runs.
pub fn refusal(outcome: &HoldOutcome) -> Option<Refusal> {
    let approve_first = "ask an approver before running it again";
    Some(match outcome {
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
        HoldOutcome::ShuttingDown { id } => Refusal {
            sqlstate: "57014",
            message: format!("{APPROVAL_PREFIX} {id} withdrawn: hoop is shutting down"),
            detail: "the statement did not run".into(),
            hint: "run it again on a new connection (it goes to another hoop)".into(),
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

/// What a held client sees, as a NoticeResponse repeated while it waits: the approval id,
/// the rule, and how an approver approves.
pub fn notice_fields(notice: &HoldNotice) -> ErrorFields {
    // Whole seconds: the reminder says "14m 30s", not nanoseconds.
    let remaining = Duration::from_secs(notice.remaining.as_secs());
    ErrorFields::new(
        "NOTICE",
        "01000",
        &format!(
            "{APPROVAL_PREFIX} {id}: statement held for approval (rule {rule}); waiting up \
             to {remaining}",
            id = notice.id,
            rule = notice.rule,
            remaining = humantime::format_duration(remaining),
        ),
    )
    .with(b'D', &notice.reason)
    .with(
        b'H',
        &format!(
            "an approver runs `{}` or opens {}; cancel to withdraw the request",
            notice.command, notice.url
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::{ApprovalId, Scope};
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
            HoldOutcome::ShuttingDown { id: id() },
            HoldOutcome::Unavailable {
                rule: "r".into(),
                why: "state database unavailable".into(),
            },
        ];
        let mut messages = std::collections::HashSet::new();
        for outcome in &outcomes {
            let refusal = refusal(outcome).unwrap();
            // The gateway strips the DO block's context from every one of them.
            assert!(
                is_denial(Some(refusal.sqlstate), Some(&refusal.message)),
                "{refusal:?}"
            );
            assert!(messages.insert(refusal.message.clone()));
        }
        assert!(refusal(&outcomes[1]).unwrap().message.contains("15m"));
        let approved = HoldOutcome::Approved {
            id: id(),
            by: "lead".into(),
            scope: Scope::Run,
        };
        assert!(refusal(&approved).is_none());
    }

    #[test]
    fn the_notice_names_the_approval_and_how_to_approve() {
        let notice = notice_fields(&HoldNotice {
            id: id(),
            rule: "prod-migrations".into(),
            reason: "migrations on payments need a second pair of eyes".into(),
            url: "https://hoop.example/v1/approvals/5f1c".into(),
            command: "hoop approvals approve 5f1c".into(),
            remaining: Duration::from_millis(90_500),
        });
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
