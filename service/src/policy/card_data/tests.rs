//! The card-data model over the classifier's lineage: a hostile corpus that must be refused
//! (each statement bounded with a WHERE, so only the card-data model stands in the way) and a
//! benign corpus that must run.

use std::sync::Arc;

use super::*;
use crate::masking::rules::ColumnRuleConfig;
use crate::policy::classify::{classify, lineage};
use crate::policy::rules::{
    Action, Approvals, CARD_DATA_RULE, PolicyConfig, RuleConfig, Rules, Subject, UNBOUNDED_RULE,
};

fn rules() -> Rules {
    let policy = PolicyConfig {
        protected_tables: vec!["cards".into()],
        pan_columns: vec!["cards.pan".into()],
        ..PolicyConfig::default()
    };
    let masked = ColumnRuleConfig {
        name: Some("cvv".into()),
        table: "cards".into(),
        columns: vec!["cvv".into()],
        connections: Vec::new(),
    };
    Rules::compile(&policy, &[], Approvals::Available, &[masked]).unwrap()
}

fn decide(rules: &Rules, sql: &str, relations: &dyn Relations) -> (Action, Option<String>, String) {
    let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let d = rules.decide_with(&Subject::connection("payments"), sql, &c, relations);
    (d.action, d.rule, d.reason)
}

/// Each is bounded (WHERE or LIMIT) and touches no protected table otherwise: only the
/// card-data model refuses it.
pub(crate) const HOSTILE: &str = include_str!("../../../../tests/corpora/card-data-hostile.sql");

/// Ordinary work on the same tables: must run.
pub(crate) const BENIGN: &str = include_str!("../../../../tests/corpora/card-data-benign.sql");

/// The statements of a corpus file: one per line, `--` comments and blank lines skipped.
pub(crate) fn statements(corpus: &str) -> impl Iterator<Item = &str> {
    corpus
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
}

#[test]
fn the_hostile_corpus_is_refused_by_the_card_data_model() {
    let rules = rules();
    let mut allowed = Vec::new();
    for sql in statements(HOSTILE) {
        let (action, rule, _) = decide(&rules, sql, &NoCatalog);
        if action == Action::Allow {
            allowed.push(sql);
        } else {
            let rule = rule.unwrap_or_default();
            assert!(rule.starts_with("default."), "{sql}: {rule}");
        }
    }
    assert!(allowed.is_empty(), "allowed: {allowed:#?}");
}

#[test]
fn the_benign_corpus_runs() {
    let rules = rules();
    let mut refused = Vec::new();
    for sql in statements(BENIGN) {
        let (action, rule, reason) = decide(&rules, sql, &NoCatalog);
        if action != Action::Allow {
            refused.push(format!("{sql}: {rule:?} {reason}"));
        }
    }
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

#[test]
fn refusals_name_the_column_and_what_is_allowed() {
    let (_, rule, reason) = decide(
        &rules(),
        "SELECT reverse(pan) FROM cards WHERE id = 1",
        &NoCatalog,
    );
    assert_eq!(rule.as_deref(), Some(CARD_DATA_RULE));
    assert!(reason.contains("cards.pan"), "{reason}");
    assert!(reason.contains("reverse()"), "{reason}");
    assert!(reason.contains("last four"), "{reason}");
}

fn table(schema: &str, name: &str, columns: &[&str]) -> RelationInfo {
    RelationInfo {
        schema: schema.into(),
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        view: None,
    }
}

fn view(schema: &str, name: &str, columns: &[&str], definition: &str) -> RelationInfo {
    RelationInfo {
        view: Some(Arc::new(lineage::analyze_sql(definition))),
        ..table(schema, name, columns)
    }
}

fn snapshot(entries: Vec<(&str, Vec<RelationInfo>)>) -> RelationSnapshot {
    RelationSnapshot {
        relations: entries
            .into_iter()
            .map(|(name, infos)| {
                let name = match name.split_once('.') {
                    Some((s, n)) => ObjectName {
                        schema: Some(s.into()),
                        name: n.into(),
                    },
                    None => ObjectName {
                        schema: None,
                        name: name.into(),
                    },
                };
                (name, Arc::new(infos))
            })
            .collect(),
    }
}

#[test]
fn views_are_followed_to_their_base_columns() {
    let rules = rules();
    let cards = table("public", "cards", &["id", "pan", "holder", "cvv"]);
    let catalog = snapshot(vec![
        ("cards", vec![cards.clone()]),
        (
            "card_view",
            vec![view(
                "public",
                "card_view",
                &["id", "number"],
                "SELECT id, pan AS number FROM cards",
            )],
        ),
        (
            "nested",
            vec![view(
                "public",
                "nested",
                &["n"],
                "SELECT number AS n FROM card_view",
            )],
        ),
        (
            "reversed",
            vec![view(
                "public",
                "reversed",
                &["id", "r"],
                "SELECT id, reverse(pan) AS r FROM cards",
            )],
        ),
        (
            "harmless",
            vec![view(
                "public",
                "harmless",
                &["id", "holder"],
                "SELECT id, holder FROM cards",
            )],
        ),
    ]);
    for sql in [
        "SELECT reverse(number) FROM card_view WHERE id = 1",
        "SELECT id FROM card_view WHERE number LIKE '4%'",
        "SELECT reverse(n) FROM nested LIMIT 1",
        "SELECT reverse(x) FROM card_view v(i, x) LIMIT 1",
        "SELECT r FROM reversed WHERE id = 1",
        "SELECT id FROM reversed WHERE id = 1",
        "CREATE TABLE loot AS SELECT number FROM card_view",
    ] {
        let (action, rule, reason) = decide(&rules, sql, &catalog);
        assert_eq!(action, Action::Deny, "{sql}: {reason}");
        assert_eq!(rule.as_deref(), Some(CARD_DATA_RULE), "{sql}");
    }
    for sql in [
        "SELECT number FROM card_view WHERE id = 1",
        "SELECT right(number, 4) FROM card_view WHERE id = 1",
        "SELECT reverse(holder) FROM harmless WHERE id = 1",
        "SELECT reverse(i::text) FROM card_view v(i, x) LIMIT 1",
    ] {
        let (action, _, reason) = decide(&rules, sql, &catalog);
        assert_eq!(action, Action::Allow, "{sql}: {reason}");
    }
}

#[test]
fn positions_are_resolved_by_the_catalog() {
    let rules = rules();
    let catalog = snapshot(vec![(
        "cards",
        vec![table("public", "cards", &["id", "pan", "holder"])],
    )]);
    // Without a catalog, any aliased column of a card table may be the card number.
    assert_eq!(
        decide(
            &rules,
            "SELECT reverse(i::text) FROM cards c(i, p) LIMIT 1",
            &NoCatalog
        )
        .0,
        Action::Deny
    );
    // With it, column 1 is `id`.
    assert_eq!(
        decide(
            &rules,
            "SELECT reverse(i::text) FROM cards c(i, p) LIMIT 1",
            &catalog
        )
        .0,
        Action::Allow
    );
    assert_eq!(
        decide(
            &rules,
            "SELECT reverse(p) FROM cards c(i, p) LIMIT 1",
            &catalog
        )
        .0,
        Action::Deny
    );
    assert_eq!(
        decide(
            &rules,
            "SELECT reverse(h) FROM cards c(i, p, h) LIMIT 1",
            &catalog
        )
        .0,
        Action::Allow
    );
}

#[test]
fn relations_needed_follow_views() {
    let rules = rules();
    let c = classify("SELECT reverse(number) FROM card_view WHERE id = 1").unwrap();
    let needed =
        rules
            .card_data()
            .relations_needed("payments", &c.statements, &RelationSnapshot::default());
    assert_eq!(
        needed,
        vec![ObjectName {
            schema: None,
            name: "card_view".into()
        }]
    );
    let catalog = snapshot(vec![(
        "card_view",
        vec![view(
            "public",
            "card_view",
            &["id", "number"],
            "SELECT id, pan AS number FROM billing.cards",
        )],
    )]);
    let needed = rules
        .card_data()
        .relations_needed("payments", &c.statements, &catalog);
    assert_eq!(
        needed,
        vec![ObjectName {
            schema: Some("billing".into()),
            name: "cards".into()
        }]
    );
}

#[test]
fn without_card_columns_nothing_is_checked() {
    let rules = Rules::compile(&PolicyConfig::default(), &[], Approvals::Available, &[]).unwrap();
    assert_eq!(
        decide(
            &rules,
            "SELECT reverse(pan) FROM cards WHERE id = 1",
            &NoCatalog
        )
        .0,
        Action::Allow
    );
}

#[test]
fn function_call_notation_on_a_whole_row_is_a_function() {
    let rules = rules();
    let catalog = snapshot(vec![
        (
            "cards",
            vec![table("public", "cards", &["id", "pan", "holder", "cvv"])],
        ),
        (
            "orders",
            vec![table(
                "public",
                "orders",
                &["id", "card_id", "total", "note"],
            )],
        ),
    ]);
    // `c.leak` is `leak(c)` when `cards` has no column `leak`: a function of every column.
    for sql in [
        "SELECT c.leak FROM cards c WHERE id = 1",
        "SELECT cards.row_to_json FROM cards WHERE id = 1",
        "SELECT o.id FROM orders o JOIN cards c ON c.id = o.card_id WHERE c.leak IS NULL",
        "SELECT j.leak FROM (cards JOIN orders ON orders.card_id = cards.id) AS j LIMIT 1",
    ] {
        let (action, rule, reason) = decide(&rules, sql, &catalog);
        assert_eq!(action, Action::Deny, "{sql}: {reason}");
        assert_eq!(rule.as_deref(), Some(CARD_DATA_RULE), "{sql}");
    }
    for sql in [
        "SELECT c.holder, c.pan FROM cards c WHERE c.id = 1",
        "SELECT o.note FROM orders o WHERE o.id = 1",
        "SELECT o.total, c.holder FROM orders o JOIN cards c ON c.id = o.card_id WHERE o.id = 1",
        "SELECT j.total, j.holder FROM (cards JOIN orders ON orders.card_id = cards.id) AS j LIMIT 1",
    ] {
        let (action, _, reason) = decide(&rules, sql, &catalog);
        assert_eq!(action, Action::Allow, "{sql}: {reason}");
    }
}

/// The card-data model alone (`cards.pan` holds card numbers) on the one statement of `sql`.
fn model_check(sql: &str) -> Result<(), Refused> {
    let model = CardData::compile(&["cards.pan".to_owned()], &[]).unwrap();
    let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let [statement] = c.statements.as_slice() else {
        panic!("{sql}: one statement expected");
    };
    model.check("payments", statement, &sql.to_lowercase(), &NoCatalog)
}

const MERGE_RETURNING: &str = "MERGE INTO cards c USING staging s ON c.id = s.id \
                               WHEN MATCHED THEN DO NOTHING RETURNING c.pan";

#[test]
fn unbounded_card_reads_are_judged_on_the_query_that_runs() {
    // The query runs now, at EXECUTE or at FETCH, and returns every card number.
    let refused = [
        "SELECT pan FROM cards".to_owned(),
        "PREPARE r AS SELECT id, pan FROM cards".into(),
        "PREPARE r AS SELECT * FROM cards".into(),
        "PREPARE r AS SELECT pan FROM cards WHERE true".into(),
        "PREPARE r AS SELECT pan FROM cards WHERE id = id".into(),
        "PREPARE r(int) AS SELECT pan FROM cards LIMIT $1".into(),
        "PREPARE r AS SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards".into(),
        "PREPARE r AS WITH x AS (SELECT pan FROM cards WHERE id = 1) SELECT pan FROM x, cards"
            .into(),
        "PREPARE r AS UPDATE cards SET holder = 'x' RETURNING pan".into(),
        "DECLARE c CURSOR FOR SELECT pan FROM cards".into(),
        "DECLARE c CURSOR WITH HOLD FOR SELECT pan FROM cards WHERE pan IS NULL OR true".into(),
        "EXPLAIN ANALYZE SELECT pan FROM cards".into(),
        "EXPLAIN ANALYSE VERBOSE SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE true) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE 1) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE on) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT pan FROM cards".into(),
        "EXPLAIN (analyse) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE 'maybe') SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE 2) SELECT pan FROM cards".into(),
        "EXPLAIN (ANALYZE off, ANALYZE on) SELECT pan FROM cards".into(),
        "EXPLAIN ANALYZE DELETE FROM cards RETURNING pan".into(),
        format!("EXPLAIN ANALYZE {MERGE_RETURNING}"),
        format!("PREPARE r AS {MERGE_RETURNING}"),
    ];
    for sql in &refused {
        let refusal = model_check(sql).expect_err(sql);
        assert_eq!(refusal.rule, UNBOUNDED_RULE, "{sql}: {}", refusal.reason);
    }
    let allowed = [
        // The inner query filters or has a constant LIMIT.
        "PREPARE r(int) AS SELECT id, pan FROM cards WHERE id = $1",
        "PREPARE r AS SELECT pan FROM cards LIMIT 1",
        "PREPARE r AS DELETE FROM cards WHERE id = $1 RETURNING pan",
        "DECLARE c CURSOR FOR SELECT pan FROM cards WHERE id = 1",
        "EXPLAIN ANALYZE SELECT pan FROM cards WHERE id = 1",
        "EXPLAIN (ANALYZE true) SELECT pan FROM cards FETCH FIRST 3 ROWS ONLY",
        "SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards WHERE id = 2",
        "(SELECT pan FROM cards UNION ALL SELECT pan FROM cards) LIMIT 2",
        // Plans only: no row is read.
        "EXPLAIN SELECT pan FROM cards",
        "EXPLAIN VERBOSE SELECT * FROM cards",
        "EXPLAIN (FORMAT JSON) SELECT c FROM cards c",
        "EXPLAIN (ANALYZE off) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE false, FORMAT JSON) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 0) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 'OFF') SELECT pan FROM cards",
        "EXPLAIN UPDATE cards SET holder = 'x' RETURNING pan",
        "EXPLAIN DECLARE c CURSOR FOR SELECT pan FROM cards",
        // No card number returned, or none read.
        "SELECT count(pan) FROM cards",
        "CREATE TABLE t AS SELECT id, holder FROM cards WHERE id = 1",
        "SELECT id, holder INTO t FROM cards WHERE id = 1",
        "SELECT id, holder INTO t FROM cards",
    ];
    for sql in allowed {
        assert_eq!(model_check(sql), Ok(()), "{sql}");
    }
    assert_eq!(model_check(&format!("EXPLAIN {MERGE_RETURNING}")), Ok(()));
}

#[test]
fn explain_without_analyze_still_refuses_what_it_would_do_with_card_data() {
    // Planning runs nothing, but estimates a condition from the column's statistics, which
    // hold sampled card numbers (`WHERE pan < '4…'` against the histogram): the uses the
    // model refuses stay refused, and copies stay copies.
    for sql in [
        "EXPLAIN SELECT id FROM cards WHERE pan LIKE '4111%'",
        "EXPLAIN SELECT id FROM cards WHERE pan < '4111111111111111'",
        "EXPLAIN SELECT reverse(pan) FROM cards",
        "EXPLAIN (ANALYZE off) SELECT id FROM cards ORDER BY pan",
        "EXPLAIN CREATE TABLE loot AS SELECT pan FROM cards",
    ] {
        let refusal = model_check(sql).expect_err(sql);
        assert_eq!(refusal.rule, CARD_DATA_RULE, "{sql}");
    }
}

#[test]
fn unbounded_refusals_say_what_would_bound_the_query() {
    let reason = |sql: &str| model_check(sql).expect_err(sql).reason;
    let r = reason("SELECT pan FROM cards WHERE true");
    assert!(
        r.starts_with("cards.pan holds card numbers, and the query "),
        "{r}"
    );
    for part in [
        "a WHERE that filters rows by a column",
        "`WHERE true`",
        "a constant LIMIT",
    ] {
        assert!(r.contains(part), "{r}");
    }
    let r = reason("SELECT pan FROM cards LIMIT $1");
    assert!(r.contains("`LIMIT $1` may be bound to no limit"), "{r}");
    let r = reason("SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards");
    assert!(r.contains("every arm"), "{r}");
    let r = reason("PREPARE r AS SELECT pan FROM cards");
    assert!(r.contains("the prepared query"), "{r}");
    let r = reason("DECLARE c CURSOR FOR SELECT pan FROM cards");
    assert!(r.contains("the cursor's query"), "{r}");
    let r = reason("EXPLAIN ANALYZE SELECT pan FROM cards");
    assert!(r.contains("the query EXPLAIN ANALYZE runs"), "{r}");
    // UPDATE and DELETE take no LIMIT: only a WHERE bounds them.
    for (sql, verb) in [
        ("UPDATE cards SET holder = 'x' RETURNING pan", "UPDATE"),
        ("DELETE FROM cards WHERE true RETURNING pan", "DELETE"),
        ("PREPARE r AS DELETE FROM cards RETURNING pan", "DELETE"),
    ] {
        let r = reason(sql);
        assert!(r.contains(&format!("give the {verb} a WHERE")), "{r}");
        assert!(r.contains("every row it changes"), "{r}");
        assert!(!r.contains("LIMIT"), "{r}");
    }
    // A MERGE has neither: no advice to add one.
    let r = reason(MERGE_RETURNING);
    assert!(
        r.contains("is a MERGE") && r.contains("no WHERE or LIMIT"),
        "{r}"
    );
    assert!(!r.contains("give it"), "{r}");
}

/// A team's own rule on unbounded reads (`bounded = false`) sees the query a PREPARE, CREATE
/// TABLE AS, DECLARE or EXPLAIN ANALYZE runs, and a plain EXPLAIN as reading nothing.
#[test]
fn configured_bounded_rules_judge_the_query_that_runs() {
    let policy = PolicyConfig {
        protected_tables: vec!["cards".into()],
        pan_columns: vec!["cards.pan".into()],
        ..PolicyConfig::default()
    };
    let team = RuleConfig {
        id: "team.add-a-where".into(),
        action: Action::Deny,
        reason: Some("add a WHERE".into()),
        kinds: vec!["select".into()],
        tables: vec!["cards".into()],
        bounded: Some(false),
        ..RuleConfig::default()
    };
    let rules = Rules::compile(&policy, &[team], Approvals::Available, &[]).unwrap();
    for sql in [
        "PREPARE r(int) AS SELECT id, pan FROM cards WHERE id = $1",
        "CREATE TABLE t AS SELECT id, holder FROM cards WHERE id = 1",
        "SELECT id, holder INTO t FROM cards WHERE id = 1",
        "DECLARE c CURSOR FOR SELECT id, holder FROM cards WHERE id = 1",
        "EXPLAIN ANALYZE SELECT pan FROM cards WHERE id = 1",
        "EXPLAIN SELECT pan FROM cards",
        "EXPLAIN (ANALYZE off) SELECT holder FROM cards",
    ] {
        let (action, rule, reason) = decide(&rules, sql, &NoCatalog);
        assert_eq!(action, Action::Allow, "{sql}: {rule:?} {reason}");
    }
    for sql in [
        "PREPARE r AS SELECT id, holder FROM cards",
        "PREPARE r AS SELECT id, holder FROM cards WHERE true",
        "CREATE TABLE t AS SELECT id, holder FROM cards",
        "SELECT id, holder INTO t FROM cards",
        "DECLARE c CURSOR FOR SELECT holder FROM cards",
        "EXPLAIN ANALYZE SELECT holder FROM cards",
        "EXPLAIN (ANALYZE on) SELECT holder FROM cards",
    ] {
        let (action, rule, _) = decide(&rules, sql, &NoCatalog);
        assert_eq!(action, Action::Deny, "{sql}");
        assert_eq!(rule.as_deref(), Some("team.add-a-where"), "{sql}");
    }
}
