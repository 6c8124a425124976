//! A statement held for approval, in PostgreSQL's terms: the NoticeResponse a held client sees
//! while it waits, and each way a hold ends as an error (raised upstream, like a denial).
//!
//! Pure: the hold itself is the session core's ([`crate::session::Hold`]); the waiting loop is
//! the relay's ([`super::relay`]).

use std::time::Duration;

use hoop_protocol::backend::ErrorFields;

use super::policy::{APPROVAL_PREFIX, DENIAL_PREFIX, Refusal};
use crate::session::{HoldNotice, HoldOutcome};

/// What a refused client can do next: a hint is never empty (psql shows an empty HINT as a
/// bare `HINT:` line that says nothing), and that is checked when hoop is compiled: every hint
/// is a `const` made by [`Hint::new`], which refuses an empty or blank text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hint(&'static str);

impl Hint {
    const fn new(text: &'static str) -> Hint {
        assert!(!text.trim_ascii().is_empty(), "a hint says what to do next");
        Hint(text)
    }
}

/// After a denial.
const CHANGE_OR_ASK: Hint = Hint::new(
    "the statement did not run; change it, or ask the approver what they would approve, then \
     run it again to request a new approval",
);
/// After a timeout.
const ASK_FIRST: Hint = Hint::new(
    "run the statement again to request a new approval, and ask an approver to decide it while \
     the client waits",
);
/// After the client withdrew the request.
const RUN_AGAIN: Hint = Hint::new("run the statement again to request a new approval");
/// After the gateway withdrew it on its way down.
const NEW_CONNECTION: Hint =
    Hint::new("run it again on a new connection (it goes to another hoop)");
/// When no approval could be requested.
const LATER: Hint = Hint::new("try again later; the statement needs an approval to run");

/// The detail of a refusal: `text` unless it is blank, then `otherwise` (an empty DETAIL says
/// nothing either).
fn detail(text: Option<&str>, otherwise: &str) -> String {
    match text {
        Some(text) if !text.trim().is_empty() => text.to_owned(),
        _ => otherwise.to_owned(),
    }
}

/// Every refusal of a hold is made here, so none is without its hint and detail.
fn refused(sqlstate: &'static str, message: String, detail: String, hint: Hint) -> Refusal {
    Refusal {
        sqlstate,
        message,
        detail,
        hint: hint.0.to_owned(),
    }
}

/// The error the client gets in place of the statement; `None` when it runs.
pub fn refusal(outcome: &HoldOutcome) -> Option<Refusal> {
    let did_not_run = "the statement did not run";
    Some(match outcome {
        HoldOutcome::Approved { .. } | HoldOutcome::Covered { .. } => return None,
        HoldOutcome::Denied { id, by, comment } => refused(
            "42501",
            format!("{APPROVAL_PREFIX} {id} was denied by {by}"),
            detail(
                comment.as_deref(),
                &format!("{by} gave no reason; the statement did not run"),
            ),
            CHANGE_OR_ASK,
        ),
        HoldOutcome::Expired { id, after } => refused(
            "57014",
            format!(
                "{APPROVAL_PREFIX} {id} timed out after {}: nobody approved the statement",
                humantime::format_duration(*after)
            ),
            did_not_run.into(),
            ASK_FIRST,
        ),
        HoldOutcome::Cancelled { id } => refused(
            "57014",
            format!("{APPROVAL_PREFIX} {id} withdrawn: canceling statement due to user request"),
            format!("{did_not_run}, and the approval request was withdrawn"),
            RUN_AGAIN,
        ),
        HoldOutcome::ShuttingDown { id } => refused(
            "57014",
            format!("{APPROVAL_PREFIX} {id} withdrawn: hoop is shutting down"),
            did_not_run.into(),
            NEW_CONNECTION,
        ),
        HoldOutcome::Unavailable { rule, why } => refused(
            "42501",
            format!("{DENIAL_PREFIX} (rule {rule})"),
            format!("the statement needs an approval, and hoop could not request one ({why})"),
            LATER,
        ),
    })
}

/// What a held client sees, as a NoticeResponse repeated while it waits: the approval id,
/// the rule, and how an approver approves. A field with nothing to say is left out.
pub fn notice_fields(notice: &HoldNotice) -> ErrorFields {
    // Whole seconds: the reminder says "14m 30s", not nanoseconds.
    let remaining = Duration::from_secs(notice.remaining.as_secs());
    let fields = ErrorFields::new(
        "NOTICE",
        "01000",
        &format!(
            "{APPROVAL_PREFIX} {id}: statement held for approval (rule {rule}); waiting up \
             to {remaining}",
            id = notice.id,
            rule = notice.rule,
            remaining = humantime::format_duration(remaining),
        ),
    );
    let fields = if notice.reason.trim().is_empty() {
        fields
    } else {
        fields.with(b'D', &notice.reason)
    };
    fields.with(
        b'H',
        &format!(
            "an approver runs `{}` (how to see and decide it: {}); cancel the statement to \
             withdraw the request",
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

    /// psql prints an empty HINT or DETAIL as a bare label: no ending of a hold has one, a
    /// denial without a comment included.
    #[test]
    fn no_refusal_has_an_empty_hint_or_detail() {
        let denied = |comment: Option<&str>| HoldOutcome::Denied {
            id: id(),
            by: "lead".into(),
            comment: comment.map(str::to_owned),
        };
        let outcomes = [
            denied(None),
            denied(Some("")),
            denied(Some(" \n")),
            denied(Some("not during the freeze")),
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
        for outcome in &outcomes {
            let refusal = refusal(outcome).unwrap();
            assert!(!refusal.hint.trim().is_empty(), "{outcome:?}: {refusal:?}");
            assert!(
                !refusal.detail.trim().is_empty(),
                "{outcome:?}: {refusal:?}"
            );
        }
        let withdrawn = refusal(&HoldOutcome::Cancelled { id: id() }).unwrap();
        assert!(
            withdrawn.hint.contains("run the statement again"),
            "{withdrawn:?}"
        );
        assert_eq!(
            refusal(&denied(Some("not during the freeze")))
                .unwrap()
                .detail,
            "not during the freeze"
        );
        assert!(
            refusal(&denied(None))
                .unwrap()
                .detail
                .contains("lead gave no reason")
        );
    }

    #[test]
    fn a_notice_without_a_reason_has_no_empty_detail() {
        let notice = notice_fields(&HoldNotice {
            id: id(),
            rule: "r".into(),
            reason: String::new(),
            url: "https://hoop.example/approvals/5f1c".into(),
            command: "hoop approvals approve 5f1c".into(),
            remaining: Duration::from_secs(60),
        });
        assert_eq!(notice.get(b'D'), None);
        assert!(!notice.get(b'H').unwrap().is_empty());
    }

    #[test]
    fn the_notice_names_the_approval_and_how_to_approve() {
        let notice = notice_fields(&HoldNotice {
            id: id(),
            rule: "prod-migrations".into(),
            reason: "migrations on payments need a second pair of eyes".into(),
            url: "https://hoop.example/approvals/5f1c".into(),
            command: "hoop approvals approve 5f1c".into(),
            remaining: Duration::from_millis(90_500),
        });
        let message = notice.message().unwrap();
        assert!(
            message.contains(&id().to_string()) && message.contains("1m 30s"),
            "{message}"
        );
        let hint = notice.get(b'H').unwrap();
        assert!(
            hint.contains("hoop approvals approve 5f1c")
                && hint.contains("https://hoop.example/approvals/5f1c"),
            "{hint}"
        );
    }
}
