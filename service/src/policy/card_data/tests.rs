//! The card-data model over the classifier's lineage: a hostile corpus that must be refused
//! (each statement bounded with a WHERE, so only the card-data model stands in the way) and a
//! benign corpus that must run.

use std::sync::Arc;

use super::*;
use crate::masking::rules::ColumnRuleConfig;
use crate::policy::classify::{classify, lineage};
use crate::policy::rules::{Action, Approvals, CARD_DATA_RULE, PolicyConfig, Rules, Subject};

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
