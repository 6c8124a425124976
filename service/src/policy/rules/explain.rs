//! What `hoop policy explain` shows of a decision: every rule considered for each statement,
//! and why it did or did not match. Produced by the same evaluation that decides
//! ([`super::Rules::explain`]), never by a second reading of the rules.

use super::{Action, Decision};

/// One rule, considered for one statement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Considered {
    pub rule: String,
    /// Part of the default rule pack (a floor configured rules cannot lower).
    pub pack: bool,
    pub action: Action,
    pub outcome: Outcome,
}

/// Why a rule did or did not decide a statement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "key")]
pub enum Outcome {
    /// The first matching configured rule, or the first matching rule of the pack.
    Decided,
    /// Matched, but in dry-run mode (`enforce = false`): recorded, not enforced.
    DryRun,
    /// Matched, but an earlier rule of its list had decided.
    Shadowed,
    /// The rule does not apply to this session: the key that excludes it (`connections`,
    /// `run.ref`, ...).
    NotApplicable(&'static str),
    /// A condition on the statement does not hold: its key (`kinds`, `tables`, `unless`...).
    NoMatch(&'static str),
}

/// The evaluation of one statement of a text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatementTrace {
    /// Configured rules in file order, then the default pack.
    pub considered: Vec<Considered>,
    /// The card-data model's refusal, when it refused the statement.
    pub card_data: Option<Decision>,
    /// The statement's decision: the strictest of the configured rule, the pack and the
    /// card-data model.
    pub verdict: Decision,
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl serde::Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Decision", 4)?;
        st.serialize_field("action", &self.action)?;
        st.serialize_field("rule", &self.rule)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field(
            "dry_run",
            &self
                .dry_run
                .iter()
                .map(|d| (d.rule.as_str(), d.action.as_str()))
                .collect::<Vec<_>>(),
        )?;
        st.end()
    }
}

impl Considered {
    pub(super) fn of(rule: &super::Rule, pack: bool, outcome: Outcome) -> Considered {
        Considered {
            rule: rule.id.clone(),
            pack,
            action: rule.action,
            outcome,
        }
    }
}
