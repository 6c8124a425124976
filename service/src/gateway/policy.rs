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

use arc_swap::ArcSwap;
use bytes::BytesMut;
use hoop_protocol::frontend;

use super::encoding::{self, AsciiUnsafe};
use crate::base::Sha256;
use crate::policy::card_data::{RelationSet, RelationSnapshot};
use crate::policy::classify::{
    Classification, Classifier, ClassifyError, ObjectName, StatementKind, Syntax,
};
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

/// Where a decision reads the upstream's catalog, for the card-data model (views followed to
/// their base columns, columns renamed by position): the gateway's cache of the live catalog
/// ([`super::catalog::LiveCatalog`]), or facts given to `hoop policy test`.
pub trait CatalogLookup {
    /// What the catalog says each name denotes; `None` when it cannot be read (the statement
    /// is refused: fail closed).
    fn relations(
        &self,
        names: &[ObjectName],
    ) -> impl Future<Output = Option<Vec<(ObjectName, Arc<RelationSet>)>>> + Send;
}

/// The statement policy's ruling on one text.
#[derive(Debug)]
pub struct Ruling {
    pub decision: Decision,
    /// `None` when the text could not be classified.
    pub classification: Option<Arc<Classification>>,
    /// The relations the card-data model looked up in the catalog.
    pub relations: RelationSnapshot,
}

/// Statement rules and the configuration they were compiled from.
pub struct InForce {
    /// SHA-256 of the configuration file.
    pub version: Sha256,
    pub rules: Arc<Rules>,
}

/// The deployment's statement policy: the classifier, and the rules in force, which a reload
/// replaces between two statements.
pub struct StatementPolicy {
    pub classifier: Arc<Classifier>,
    in_force: ArcSwap<InForce>,
    /// Dollar-quote tag of the denial blocks; random per process, so no configured text can end
    /// the block early.
    tag: String,
}

impl StatementPolicy {
    pub fn new(classifier: Arc<Classifier>, in_force: InForce) -> StatementPolicy {
        let tag = format!("hoop_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        StatementPolicy {
            classifier,
            in_force: ArcSwap::from_pointee(in_force),
            tag,
        }
    }

    /// The rules in force now. A statement is decided under one snapshot from start to end,
    /// whatever a reload does meanwhile.
    pub fn in_force(&self) -> Arc<InForce> {
        self.in_force.load_full()
    }

    /// Puts new rules in force for every statement decided from now on, in every session.
    pub fn replace(&self, in_force: InForce) {
        self.in_force.store(Arc::new(in_force));
    }

    /// The decision on `sql` from a session of `connection`, with its classification when the
    /// text could be classified.
    ///
    /// The text is decided in every reading Postgres could give it, and the strictest decision
    /// wins; the gateway does not bet on a session setting that can change between the moment
    /// it reads a pipelined statement and the moment Postgres parses it:
    /// - a text with a backslash under both string syntaxes (`standard_conforming_strings` on
    ///   and off);
    /// - a text with a byte ≥ 0x80 also as each client encoding whose characters can contain
    ///   ASCII bytes would make Postgres read it ([`encoding::reread`]): the session is UTF-8
    ///   by construction, but a statement the gateway cannot see through (a function, a `DO`
    ///   block) could change that just before this one runs.
    pub async fn decide(
        &self,
        rules: &Rules,
        subject: &Subject<'_>,
        sql: &str,
    ) -> (Decision, Option<Arc<Classification>>) {
        let mut strictest = self.decide_both_syntaxes(rules, subject, sql).await;
        if !denies(&strictest.0) && encoding::needs_rereading(sql) {
            for text in alternative_readings(sql) {
                let other = self.decide_both_syntaxes(rules, subject, &text).await;
                if strictness(other.0.action) > strictness(strictest.0.action) {
                    strictest = other;
                    if denies(&strictest.0) {
                        break;
                    }
                }
            }
        }
        (
            prepared_hold_refused(strictest.0, strictest.1.as_deref()),
            strictest.1,
        )
    }

    /// The gateway's ruling on the text of a Query or Parse message: [`Self::decide`], then,
    /// unless that denies, the card-data model again with the relations the text names looked
    /// up in `catalog`. `hoop policy test` and `explain` rule through this same function.
    pub async fn rule(
        &self,
        rules: &Rules,
        subject: &Subject<'_>,
        sql: &str,
        catalog: &impl CatalogLookup,
    ) -> Ruling {
        let (decision, classification) = self.decide(rules, subject, sql).await;
        let mut relations = RelationSnapshot::default();
        let decision = match &classification {
            Some(c) if !denies(&decision) => {
                match card_data_with_catalog(rules, subject, sql, c, catalog, &mut relations).await
                {
                    // A refusal replaces the decision; what dry-run rules would have done is
                    // still recorded.
                    Some(refused) => Decision {
                        dry_run: decision.dry_run,
                        ..refused
                    },
                    None => decision,
                }
            }
            _ => decision,
        };
        Ruling {
            decision,
            classification,
            relations,
        }
    }

    /// The fingerprint of `sql` in its UTF-8 reading with standard strings, the one
    /// [`Self::reads_one_way`] compares the other readings with; `None` if it has none.
    pub async fn fingerprint(&self, sql: &str) -> Option<String> {
        self.classifier
            .fingerprint_async(sql, Syntax::default())
            .await
            .ok()
    }

    /// Whether every reading of `sql` (see [`Self::decide`]) is the same statement as its
    /// UTF-8 reading with standard strings, fingerprint for fingerprint. A run-wide approval
    /// compares one fingerprint, so only such a text may be covered by one.
    pub async fn reads_one_way(&self, sql: &str) -> bool {
        if sql.contains('\\') {
            return false;
        }
        if !encoding::needs_rereading(sql) {
            return true;
        }
        let fingerprint = |text: String| async move { self.fingerprint(&text).await };
        let Some(own) = fingerprint(sql.to_owned()).await else {
            return false;
        };
        for text in alternative_readings(sql) {
            if text.contains('\\') || fingerprint(text).await.as_ref() != Some(&own) {
                return false;
            }
        }
        true
    }

    /// [`Self::decide_with`] under the default syntax, and for a text with a backslash under
    /// `standard_conforming_strings = off` too; the stricter decision.
    async fn decide_both_syntaxes(
        &self,
        rules: &Rules,
        subject: &Subject<'_>,
        sql: &str,
    ) -> (Decision, Option<Arc<Classification>>) {
        let (decision, classification) = self
            .decide_with(rules, subject, sql, Syntax::default())
            .await;
        if !sql.contains('\\') || denies(&decision) {
            return (decision, classification);
        }
        let legacy = Syntax {
            standard_conforming_strings: false,
        };
        match self.decide_with(rules, subject, sql, legacy).await {
            (other, c) if strictness(other.action) > strictness(decision.action) => (other, c),
            _ => (decision, classification),
        }
    }

    async fn decide_with(
        &self,
        rules: &Rules,
        subject: &Subject<'_>,
        sql: &str,
        syntax: Syntax,
    ) -> (Decision, Option<Arc<Classification>>) {
        let classified = self.classifier.classify_async_with(sql, syntax).await;
        match classified {
            Ok(c) => (rules.decide(subject, sql, &c), Some(c)),
            Err(e) => (rules.undecidable(subject, &undecidable_why(&e)), None),
        }
    }

    /// A simple Query that raises the refusal upstream.
    pub fn encode_refused_query(&self, refusal: &Refusal, buf: &mut BytesMut) {
        frontend::encode_query(&self.raise_block(refusal), buf);
    }

    /// Parse, Bind and Execute that raise the refusal upstream, in place of a refused Parse.
    /// Their statement and portal are named for this refusal (`serial` counts the session's
    /// refusals), so the client's unnamed statement and portal are left as they were.
    pub fn encode_refused_parse(&self, refusal: &Refusal, serial: u64, buf: &mut BytesMut) {
        let name = self.refusal_statement(serial);
        frontend::encode_parse(&name, &self.raise_block(refusal), &[], buf);
        frontend::encode_bind_without_parameters(&name, &name, buf);
        frontend::encode_execute(&name, 0, buf);
    }

    /// The name of the statement [`Self::encode_refused_parse`] prepares for refusal `serial`.
    /// It stays prepared until the gateway closes it after the client's next Sync (the error
    /// it raises makes the upstream skip a Close sent any sooner).
    pub fn refusal_statement(&self, serial: u64) -> String {
        format!("{}_{serial}", self.tag)
    }

    /// `DO $tag$ BEGIN RAISE EXCEPTION USING ERRCODE = '42501', ... END $tag$`. A blank
    /// DETAIL or HINT is left out, so no client shows an empty `HINT:` line.
    fn raise_block(&self, refusal: &Refusal) -> String {
        let mut fields = format!(
            "ERRCODE = '{code}', MESSAGE = {message}",
            code = refusal.sqlstate,
            message = literal(&refusal.message, &self.tag),
        );
        for (name, text) in [("DETAIL", &refusal.detail), ("HINT", &refusal.hint)] {
            if !text.trim().is_empty() {
                fields.push_str(&format!(", {name} = {}", literal(text, &self.tag)));
            }
        }
        format!(
            "DO ${tag}$ BEGIN RAISE EXCEPTION USING {fields}; END ${tag}$",
            tag = self.tag
        )
    }
}

/// The card-data model's refusal with the relations a text names looked up in the upstream's
/// catalog (views followed to their base columns, positions resolved), which it leaves in
/// `snapshot`; `None` when it refuses nothing (or no column of this connection holds card
/// data). Only the card-data model is decided again: the other rules do not read the catalog.
async fn card_data_with_catalog(
    rules: &Rules,
    subject: &Subject<'_>,
    sql: &str,
    classification: &Classification,
    catalog: &impl CatalogLookup,
    snapshot: &mut RelationSnapshot,
) -> Option<Decision> {
    /// Views defined on views: one catalog round per level.
    const MAX_ROUNDS: usize = 8;
    let card = rules.card_data();
    if !card.applies_to(subject.connection) {
        return None;
    }
    for _ in 0..MAX_ROUNDS {
        let needed =
            card.relations_needed(subject.connection, &classification.statements, snapshot);
        if needed.is_empty() {
            break;
        }
        match catalog.relations(&needed).await {
            Some(found) => snapshot.relations.extend(found),
            None => return Some(Decision::catalog_unavailable()),
        }
    }
    rules.card_data_refusal(subject, sql, classification, snapshot)
}

/// The distinct texts Postgres could parse for `sql` in an ASCII-unsafe client encoding, other
/// than `sql` itself; an encoding in which Postgres would refuse the bytes adds none.
fn alternative_readings(sql: &str) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for encoding in AsciiUnsafe::ALL {
        if let Some(text) = encoding::reread(sql.as_bytes(), encoding)
            && text != sql
            && !texts.contains(&text)
        {
            texts.push(text);
        }
    }
    texts
}

/// A held text that prepares a statement with SQL `PREPARE` is denied instead: an approval is
/// for one execution, and a prepared statement can be executed again by name (`EXECUTE`,
/// `EXPLAIN ANALYZE EXECUTE`, `CREATE TABLE ... AS EXECUTE`, or from a function or `DO` block
/// the gateway cannot see into). Without it, every execution of such a statement is the
/// statement itself, and is held.
fn prepared_hold_refused(decision: Decision, classification: Option<&Classification>) -> Decision {
    let prepares = classification.is_some_and(|c| {
        c.statements
            .iter()
            .any(|s| s.kind == StatementKind::Prepare)
    });
    if !holds(&decision) || !prepares {
        return decision;
    }
    Decision {
        action: Action::Deny,
        reason: format!(
            "{}; a statement that needs an approval cannot be prepared with SQL PREPARE, because \
             an approval is for one execution: send the statement itself (or Parse it through \
             the extended protocol) and each execution is held",
            decision.reason
        ),
        rule: decision.rule,
        dry_run: decision.dry_run,
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
    use crate::policy::rules::{Approvals, PolicyConfig, RuleConfig};

    /// The default pack protecting `cards` and `audit_notes`, and a rule holding deletes from
    /// `payments`.
    fn statement_policy() -> StatementPolicy {
        let policy = PolicyConfig {
            protected_tables: vec!["cards".into(), "audit_notes".into()],
            pan_columns: vec!["cards.pan".into()],
            ..PolicyConfig::default()
        };
        let held = RuleConfig {
            id: "payments-deletes".into(),
            action: Action::Approve,
            reason: Some("deletes from payments need a second pair of eyes".into()),
            kinds: vec!["delete".into()],
            tables: vec!["payments".into()],
            ..RuleConfig::default()
        };
        let rules = Rules::compile(&policy, &[held], Approvals::Available, &[]).unwrap();
        StatementPolicy::new(
            Arc::new(Classifier::new(1 << 20, 100)),
            InForce {
                version: Sha256::of(b"test"),
                rules: Arc::new(rules),
            },
        )
    }

    async fn action_of(policy: &StatementPolicy, sql: &str) -> (Action, Option<String>) {
        let in_force = policy.in_force();
        let (decision, _) = policy
            .decide(&in_force.rules, &Subject::connection("main"), sql)
            .await;
        (decision.action, decision.rule)
    }

    #[tokio::test]
    async fn text_smuggled_through_an_ascii_unsafe_encoding_is_denied() {
        let policy = statement_policy();
        for sql in [
            // SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, GB18030: 0x81 0x5C is one character.
            "SELECT length(E'丁\\'); DROP TABLE audit_notes; --')",
            "SELECT E'丁\\'; TRUNCATE cards; --'",
            // 0x81 0x5F is a backslash in SHIFT_JIS_2004: the doubled quote closes the string.
            "SELECT E'丁_''; DROP TABLE cards; --'",
            // The swallowed byte is a backslash before a quote in a legacy string.
            "SELECT '丁\\'; DROP TABLE cards; --'",
            // A Parse-sized text: one statement to UTF-8, two to BIG5.
            "SELECT 1 WHERE 'x' = E'丁\\' OR true; COPY cards TO STDOUT; --'",
        ] {
            let (action, rule) = action_of(&policy, sql).await;
            assert_eq!(action, Action::Deny, "{sql}: {rule:?}");
        }
        // Each encoding reads the text its own way; SJIS and BIG5 alone already decide.
        let (action, _) = action_of(&policy, "SELECT E'丁\\'; DELETE FROM payments; --'").await;
        assert_eq!(action, Action::Approve);
    }

    #[tokio::test]
    async fn utf8_text_that_reads_the_same_in_every_encoding_is_allowed() {
        let policy = statement_policy();
        for sql in [
            "SELECT 'café', 'naïve', 'Ā'",
            "SELECT '丁', '東京' AS city",
            "SELECT 1 AS \"丁a\"",
            "INSERT INTO orders (note) VALUES ('à la carte')",
            "SELECT 'Straße' WHERE 'x' <> 'ü'",
        ] {
            let (action, rule) = action_of(&policy, sql).await;
            assert_eq!(action, Action::Allow, "{sql}: {rule:?}");
        }
        assert!(policy.reads_one_way("SELECT 'café' FROM orders").await);
        assert!(
            policy
                .reads_one_way("DELETE FROM payments WHERE id = 1")
                .await
        );
        assert!(
            !policy
                .reads_one_way("SELECT E'丁\\'; DELETE FROM payments; --'")
                .await
        );
        assert!(!policy.reads_one_way("SELECT 'a\\'").await);
    }

    #[tokio::test]
    async fn every_sql_way_to_change_the_client_encoding_is_denied() {
        let policy = statement_policy();
        for sql in [
            "SET client_encoding = 'SJIS'",
            "SET client_encoding TO DEFAULT",
            "SET LOCAL client_encoding = 'SJIS'",
            "SET SESSION client_encoding = 'SJIS'",
            "SET NAMES 'SJIS'",
            "RESET client_encoding",
            "BEGIN; SET client_encoding = 'BIG5'; COMMIT",
            "SET \"client_encoding\" = 'SJIS'",
            "SET CLIENT_ENCODING = 'SJIS'",
        ] {
            let (action, rule) = action_of(&policy, sql).await;
            assert_eq!(action, Action::Deny, "{sql}: {rule:?}");
            assert_eq!(rule.as_deref(), Some("default.no-client-encoding"), "{sql}");
        }
        // Defaults for later sessions and set_config are denied too (the startup UTF8 would
        // outrank a default, and a change made any other way ends the session when reported,
        // but nothing is left to those).
        for sql in [
            "ALTER ROLE me SET client_encoding = 'SJIS'",
            "ALTER ROLE ALL IN DATABASE d SET client_encoding = 'SJIS'",
            "ALTER DATABASE d SET client_encoding = 'SJIS'",
            "SELECT set_config('client_encoding', 'SJIS', false)",
            "SELECT pg_catalog.set_config('CLIENT_ENCODING'::text, 'SJIS', false)",
        ] {
            let (action, rule) = action_of(&policy, sql).await;
            assert_eq!(action, Action::Deny, "{sql}");
            assert!(
                matches!(
                    rule.as_deref(),
                    Some("default.no-client-encoding" | "default.no-role-changes")
                ),
                "{sql}: {rule:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_held_statement_cannot_be_prepared_with_sql() {
        let policy = statement_policy();
        assert_eq!(
            action_of(&policy, "DELETE FROM payments WHERE id = 1")
                .await
                .0,
            Action::Approve
        );
        for sql in [
            "PREPARE p AS DELETE FROM payments WHERE id = $1",
            "PREPARE p (int) AS DELETE FROM payments WHERE id = $1; EXECUTE p(1)",
            "SELECT 1; PREPARE p AS WITH d AS (DELETE FROM payments RETURNING 1) SELECT 1",
        ] {
            let (action, rule) = action_of(&policy, sql).await;
            assert_eq!(action, Action::Deny, "{sql}");
            assert_eq!(rule.as_deref(), Some("payments-deletes"), "{sql}");
        }
        // A PREPARE nothing holds is prepared as usual.
        assert_eq!(
            action_of(&policy, "PREPARE q AS SELECT 1").await.0,
            Action::Allow
        );
    }

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

    #[test]
    fn a_blank_detail_or_hint_is_left_out_of_the_raised_error() {
        let policy = statement_policy();
        let mut refusal = Refusal {
            sqlstate: "42501",
            message: "m".into(),
            detail: "the detail".into(),
            hint: "the hint".into(),
        };
        let block = policy.raise_block(&refusal);
        assert!(block.contains("DETAIL = E'the detail'") && block.contains("HINT = E'the hint'"));
        refusal.detail = String::new();
        refusal.hint = "  ".into();
        let block = policy.raise_block(&refusal);
        assert!(
            !block.contains("DETAIL") && !block.contains("HINT"),
            "{block}"
        );
        assert!(block.contains("MESSAGE = E'm'; END"), "{block}");
    }
}
