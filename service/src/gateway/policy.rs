//! Statement policy at the gateway: classify what a client sends, decide, and turn a denial
//! into an error raised by the upstream itself.
//!
//! A denied statement never reaches the upstream. In its place the gateway sends a `DO` block
//! that raises SQLSTATE 42501 with the rule id and the reason, so the error comes from Postgres
//! with Postgres's own semantics: inside a transaction block the transaction is aborted, and in
//! the extended protocol the upstream skips every message up to the client's Sync. The session
//! stays usable, and nothing about the denial depends on the gateway imitating Postgres.
//!
//! - simple Query (all its statements) and FunctionCall: replaced by a Query of the `DO` block;
//! - Parse: replaced by Parse, Bind and Execute of the `DO` block under a statement and portal
//!   named for the denial; their ParseComplete and BindComplete are consumed by the gateway
//!   ([`super::results::Tracker::injected`]). The client's statement is never created, so no
//!   later Bind or Execute can run it.

use std::sync::Arc;

use bytes::BytesMut;
use hoop_protocol::frontend;

use crate::policy::classify::{Classification, Classifier, ClassifyError, Syntax};
use crate::policy::rules::{Action, Decision, Rules, Subject};

/// How every denial's message starts.
pub const DENIAL_PREFIX: &str = "hoop policy denied this statement";
/// How every message about a held statement's approval starts.
pub const APPROVAL_PREFIX: &str = "hoop approval";

/// Whether an ErrorResponse was raised by one of the gateway's `DO` blocks: its context and
/// source-location fields describe that block, not the client's statement, and are dropped.
pub fn is_denial(sqlstate: Option<&str>, message: Option<&str>) -> bool {
    matches!(sqlstate, Some("42501" | "57014"))
        && message.is_some_and(|m| m.starts_with(DENIAL_PREFIX) || m.starts_with(APPROVAL_PREFIX))
}

/// An error the upstream raises in place of a statement that does not run: a denial, or a
/// held statement that was not approved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub sqlstate: &'static str,
    pub message: String,
    pub detail: String,
    pub hint: String,
}

impl Refusal {
    /// The refusal of a denied statement: 42501 naming the rule.
    pub fn denied(decision: &Decision) -> Refusal {
        let rule = decision.rule.as_deref().unwrap_or("policy");
        Refusal {
            sqlstate: "42501",
            message: format!("{DENIAL_PREFIX} (rule {rule})"),
            detail: decision.reason.clone(),
            hint: "ask the owners of the statement policy, or run it outside CI".into(),
        }
    }
}

/// The deployment's statement policy.
pub struct StatementPolicy {
    pub classifier: Arc<Classifier>,
    pub rules: Rules,
    /// Dollar-quote tag of the denial blocks; random per process, so no configured text can end
    /// the block early.
    tag: String,
}

impl StatementPolicy {
    pub fn new(classifier: Arc<Classifier>, rules: Rules) -> StatementPolicy {
        let tag = format!("hoop_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        StatementPolicy {
            classifier,
            rules,
            tag,
        }
    }

    /// The decision on `sql` from a session of `connection`, with its classification when the
    /// text could be classified.
    ///
    /// A text with a backslash is classified under both string syntaxes
    /// (`standard_conforming_strings` on and off) and the stricter decision wins: the setting
    /// can change between the moment the gateway reads a pipelined statement and the moment
    /// Postgres parses it, so the gateway does not bet on either.
    pub async fn decide(
        &self,
        subject: &Subject<'_>,
        sql: &str,
    ) -> (Decision, Option<Arc<Classification>>) {
        let (decision, classification) = self.decide_with(subject, sql, Syntax::default()).await;
        if !sql.contains('\\') || denies(&decision) {
            return (decision, classification);
        }
        let legacy = Syntax {
            standard_conforming_strings: false,
        };
        match self.decide_with(subject, sql, legacy).await {
            (other, c) if strictness(other.action) > strictness(decision.action) => (other, c),
            _ => (decision, classification),
        }
    }

    async fn decide_with(
        &self,
        subject: &Subject<'_>,
        sql: &str,
        syntax: Syntax,
    ) -> (Decision, Option<Arc<Classification>>) {
        let classified = self.classifier.classify_async_with(sql, syntax).await;
        match classified {
            Ok(c) => (self.rules.decide(subject, sql, &c), Some(c)),
            Err(e) => (self.rules.undecidable(subject, &undecidable_why(&e)), None),
        }
    }

    /// The decision on a FunctionCall message ([`Rules::function_call`]).
    pub fn function_call(&self, subject: &Subject<'_>) -> Decision {
        self.rules.function_call(subject)
    }

    /// A simple Query that raises the refusal upstream.
    pub fn encode_refused_query(&self, refusal: &Refusal, buf: &mut BytesMut) {
        frontend::encode_query(&self.raise_block(refusal), buf);
    }

    /// Parse, Bind and Execute that raise the refusal upstream, in place of a refused Parse.
    /// Their statement and portal are named for this refusal (`serial` counts the session's
    /// refusals), so the client's unnamed statement and portal are left as they were.
    pub fn encode_refused_parse(&self, refusal: &Refusal, serial: u64, buf: &mut BytesMut) {
        let name = format!("{}_{serial}", self.tag);
        frontend::encode_parse(&name, &self.raise_block(refusal), &[], buf);
        frontend::encode_bind_without_parameters(&name, &name, buf);
        frontend::encode_execute(&name, 0, buf);
    }

    /// `DO $tag$ BEGIN RAISE EXCEPTION USING ERRCODE = '42501', ... END $tag$`.
    fn raise_block(&self, refusal: &Refusal) -> String {
        format!(
            "DO ${tag}$ BEGIN RAISE EXCEPTION USING ERRCODE = '{code}', MESSAGE = {message}, \
             DETAIL = {detail}, HINT = {hint}; END ${tag}$",
            tag = self.tag,
            code = refusal.sqlstate,
            message = literal(&refusal.message, &self.tag),
            detail = literal(&refusal.detail, &self.tag),
            hint = literal(&refusal.hint, &self.tag),
        )
    }
}

/// Deny over approve over allow.
fn strictness(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Approve => 1,
        Action::Deny => 2,
    }
}

fn undecidable_why(e: &ClassifyError) -> String {
    e.to_string()
}

/// `text` as a SQL string literal inside a `$tag$` block. An escape string (`E'...'`, with
/// backslashes and quotes doubled) reads the same whatever `standard_conforming_strings` the
/// client set; NULs (which would end the protocol string) are removed, and so is the tag, until
/// no removal can leave a new one behind.
fn literal(text: &str, tag: &str) -> String {
    let mut clean = text.replace('\0', "");
    while clean.contains(tag) {
        clean = clean.replace(tag, "");
    }
    format!("E'{}'", clean.replace('\\', "\\\\").replace('\'', "''"))
}

/// Whether a decision keeps the statement from the upstream for good.
pub fn denies(decision: &Decision) -> bool {
    decision.action == Action::Deny
}

/// Whether a decision holds the statement for an approver.
pub fn holds(decision: &Decision) -> bool {
    decision.action == Action::Approve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_break_out_of_the_block() {
        let tag = "hoop_abc";
        assert_eq!(literal("it's", tag), "E'it''s'");
        assert_eq!(literal("a\0b", tag), "E'ab'");
        assert_eq!(literal("x $hoop_abc$ y", tag), "E'x $$ y'");
        // A backslash cannot escape the closing quote, whatever standard_conforming_strings.
        assert_eq!(literal("\\'; DROP", tag), "E'\\\\''; DROP'");
        // Removing the tag cannot assemble another one.
        assert_eq!(literal("hoop_hoop_abcabc", tag), "E''");
    }
}
