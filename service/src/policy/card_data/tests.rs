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
pub(crate) const HOSTILE: &[&str] = &[
    // Transformations of the number.
    "SELECT reverse(pan) FROM cards WHERE id = 1",
    "SELECT encode(convert_to(pan, 'UTF8'), 'hex') FROM cards WHERE id = 1",
    "SELECT encode(convert_to(pan, 'UTF8'), 'base64') FROM cards WHERE id = 1",
    "SELECT translate(pan, '0123456789', 'abcdefghij') FROM cards WHERE id = 1",
    r"SELECT regexp_replace(pan, '(\d)', '\1x', 'g') FROM cards WHERE id = 1",
    "SELECT string_to_array(pan, NULL) FROM cards WHERE id = 1",
    "SELECT unnest(string_to_array(pan, NULL)) FROM cards WHERE id = 1",
    "SELECT substr(pan, 1, 8), substr(pan, 9) FROM cards WHERE id = 1",
    "SELECT substr(pan, 9) FROM cards WHERE id = 1",
    "SELECT substring(pan FROM 7 FOR 6) FROM cards WHERE id = 1",
    "SELECT lpad(pan, 19, '0') FROM cards WHERE id = 1",
    "SELECT pan::numeric::money FROM cards WHERE id = 1",
    "SELECT pan::xid8 FROM cards WHERE id = 1",
    "SELECT int8range(pan::bigint, NULL) FROM cards WHERE id = 1",
    "SELECT CAST(pan AS bigint) FROM cards WHERE id = 1",
    "SELECT pan::char(8) FROM cards WHERE id = 1",
    "SELECT pan::varchar(10) FROM cards WHERE id = 1",
    "SELECT pan::bytea FROM cards WHERE id = 1",
    "SELECT pan || '' FROM cards WHERE id = 1",
    "SELECT concat(pan, '') FROM cards WHERE id = 1",
    "SELECT format('%s', pan) FROM cards WHERE id = 1",
    "SELECT md5(pan) FROM cards WHERE id = 1",
    "SELECT left(pan, 8) FROM cards WHERE id = 1",
    "SELECT left(pan, -4) FROM cards WHERE id = 1",
    "SELECT right(pan, 5) FROM cards WHERE id = 1",
    "SELECT right(pan, -6) FROM cards WHERE id = 1",
    "SELECT public.length(pan) FROM cards WHERE id = 1",
    "SELECT max(pan) FROM cards WHERE id > 0",
    "SELECT string_agg(pan, ',') FROM cards WHERE id > 0",
    "SELECT array_agg(pan) FROM cards WHERE id > 0",
    "SELECT lag(pan) OVER (ORDER BY id) FROM cards WHERE id > 0",
    "SELECT rank() OVER (ORDER BY pan) FROM cards WHERE id > 0",
    "SELECT row_to_json(c) FROM cards c WHERE id = 1",
    "SELECT to_json(c.*) FROM cards c WHERE id = 1",
    "SELECT json_build_object('p', pan) FROM cards WHERE id = 1",
    "SELECT reverse(c::text) FROM cards c WHERE id = 1",
    "SELECT (string_to_array(pan, NULL))[1] FROM cards WHERE id = 1",
    // Column aliases in FROM, subqueries, CTEs, set operations, VALUES, joins.
    "SELECT reverse(p) FROM cards AS c(i, p) WHERE i = 1",
    "SELECT reverse(p) FROM cards c(i, p) LIMIT 1",
    "SELECT reverse(x.p) FROM (SELECT * FROM cards) x(i, p) LIMIT 1",
    "SELECT reverse(p) FROM (SELECT pan AS p FROM cards) s LIMIT 1",
    "SELECT reverse(s.p) FROM (SELECT id, pan p FROM cards) AS s WHERE s.id = 1",
    "WITH x AS (SELECT pan FROM cards) SELECT reverse(pan) FROM x LIMIT 1",
    "WITH x(a) AS (SELECT pan FROM cards) SELECT reverse(a) FROM x LIMIT 1",
    "WITH RECURSIVE r(p) AS (SELECT pan FROM cards UNION ALL SELECT p FROM r WHERE false) SELECT reverse(p) FROM r LIMIT 1",
    "SELECT reverse(p) FROM (SELECT pan FROM cards UNION SELECT 'x') u(p) LIMIT 1",
    "SELECT reverse(column1) FROM (VALUES ((SELECT pan FROM cards LIMIT 1))) v",
    "SELECT reverse(t.pan) FROM (cards JOIN orders ON true) AS t LIMIT 1",
    "SELECT reverse(pan) FROM cards JOIN orders USING (id) LIMIT 1",
    "SELECT reverse(cards.pan) FROM cards LIMIT 1",
    "SELECT reverse(public.cards.pan) FROM public.cards LIMIT 1",
    "SELECT reverse(\"pan\") FROM \"cards\" LIMIT 1",
    "SELECT (SELECT reverse(pan) FROM cards LIMIT 1)",
    "SELECT (SELECT reverse(c.pan) FROM orders o LIMIT 1) FROM cards c WHERE c.id = 1",
    "SELECT x FROM cards c, LATERAL unnest(ARRAY[c.pan]) AS u(x) WHERE c.id = 1",
    "SELECT * FROM cards c, LATERAL (SELECT reverse(c.pan)) r WHERE c.id = 1",
    // Predicate and ordering oracles.
    "SELECT id FROM cards WHERE substr(pan, 7, 1) = '1'",
    "SELECT id FROM cards WHERE pan LIKE '4111%'",
    "SELECT id FROM cards WHERE pan ILIKE '4111%'",
    "SELECT id FROM cards WHERE pan ~ '^4111'",
    "SELECT id FROM cards WHERE pan SIMILAR TO '4%'",
    "SELECT id FROM cards WHERE pan > '4111'",
    "SELECT id FROM cards WHERE pan BETWEEN '4' AND '5'",
    "SELECT id FROM cards WHERE pan::bigint > 4111111111111110",
    "SELECT id FROM cards WHERE starts_with(pan, '4111')",
    "SELECT id FROM cards WHERE position('1' in pan) = 7",
    "SELECT id FROM cards WHERE pan = ANY(ARRAY['4111111111111111'])",
    "SELECT id FROM cards WHERE pan IN (SELECT g FROM guesses g)",
    "SELECT c.id FROM cards c JOIN guesses g ON c.pan = g.x WHERE c.id > 0",
    "SELECT id FROM cards WHERE pan = reverse('1111111111111114')",
    "SELECT id FROM cards ORDER BY pan LIMIT 1",
    "SELECT id, pan FROM cards WHERE id > 0 ORDER BY 2",
    "SELECT id FROM cards WHERE id > 0 ORDER BY reverse(pan)",
    "SELECT CASE WHEN pan LIKE '4%' THEN 1 END FROM cards WHERE id = 1",
    "SELECT 1 FROM cards WHERE EXISTS (SELECT 1 WHERE pan LIKE '4%')",
    "SELECT count(*) FROM cards GROUP BY id HAVING max(pan) > '4'",
    "SELECT count(*) FILTER (WHERE pan LIKE '4%') FROM cards WHERE id > 0",
    "SELECT greatest(pan, '5') FROM cards WHERE id = 1",
    "DELETE FROM cards WHERE pan LIKE '4%'",
    "UPDATE cards SET holder = 'x' WHERE pan > '4'",
    "SELECT id FROM cards WHERE pan IN ('1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17','18','19','20','21','22','23','24','25','26','27','28','29','30','31','32','33')",
    "SELECT pan, count(*) FROM cards GROUP BY pan HAVING count(*) > 1",
    "UPDATE cards SET holder = holder RETURNING pan",
    // Copies into other objects.
    "CREATE TABLE loot AS SELECT p FROM cards c(i, p)",
    "CREATE TABLE loot AS SELECT pan FROM cards WHERE id = 1",
    "CREATE TABLE loot AS SELECT * FROM cards WHERE id = 1",
    "CREATE TEMP TABLE loot AS SELECT * FROM cards WHERE id = 1",
    "CREATE MATERIALIZED VIEW loot AS SELECT pan FROM cards",
    "CREATE VIEW loot AS SELECT p FROM cards c(i, p)",
    "CREATE VIEW loot AS SELECT * FROM cards",
    "SELECT * INTO loot FROM cards WHERE id = 1",
    "SELECT pan INTO TEMP loot FROM cards WHERE id = 1",
    "INSERT INTO loot SELECT pan FROM cards WHERE id = 1",
    "INSERT INTO loot (x) SELECT p FROM (SELECT pan AS p FROM cards) s LIMIT 1",
    "INSERT INTO loot SELECT * FROM cards WHERE id = 1",
    "INSERT INTO loot VALUES ((SELECT pan FROM cards LIMIT 1))",
    "WITH x AS (SELECT pan FROM cards WHERE id = 1) INSERT INTO loot SELECT pan FROM x",
    "UPDATE orders SET note = (SELECT pan FROM cards WHERE id = 1) WHERE id = 1",
    "UPDATE orders o SET note = c.pan FROM cards c WHERE o.card_id = c.id",
    "UPDATE cards SET holder = pan WHERE id = 1",
    "INSERT INTO cards (id, pan) VALUES (9, '4111') ON CONFLICT (id) DO UPDATE SET holder = excluded.pan",
    "MERGE INTO loot l USING cards c ON l.id = c.id WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.pan)",
    "COPY (SELECT pan FROM cards WHERE id = 1) TO STDOUT",
    "COPY cards (pan) TO STDOUT",
    "COPY cards TO STDOUT",
    "CREATE TABLE loot AS EXECUTE p(1)",
    "PREPARE p AS SELECT reverse(pan) FROM cards WHERE id = $1",
    "EXPLAIN ANALYZE SELECT reverse(pan) FROM cards WHERE id = 1",
    "DECLARE c CURSOR FOR SELECT reverse(pan) FROM cards WHERE id = 1",
    // Definitions that would compute from it later.
    "CREATE INDEX ON cards (reverse(pan))",
    "CREATE INDEX ON cards (id) WHERE pan LIKE '4%'",
    "ALTER TABLE cards ADD COLUMN r text GENERATED ALWAYS AS (reverse(pan)) STORED",
    "CREATE POLICY p ON cards USING (pan LIKE '4%')",
    "CREATE RULE r AS ON UPDATE TO cards DO ALSO INSERT INTO loot VALUES (NEW.pan)",
    "CREATE TRIGGER t BEFORE UPDATE ON cards FOR EACH ROW WHEN (NEW.pan LIKE '4%') EXECUTE FUNCTION f()",
    "CREATE FUNCTION leak() RETURNS text BEGIN ATOMIC SELECT pan FROM cards LIMIT 1; END",
    "CREATE FUNCTION length(text) RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION public.right(text, int) RETURNS text LANGUAGE sql AS 'SELECT $1'",
    "CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = texteq)",
    "DO $$ BEGIN INSERT INTO loot SELECT pan FROM cards; END $$",
    // Columns masked whole (a CVV) reveal none of their characters.
    "SELECT left(cvv, 1) FROM cards WHERE id = 1",
    "SELECT right(cvv, 2) FROM cards WHERE id = 1",
    "SELECT reverse(cvv) FROM cards WHERE id = 1",
    "SELECT id FROM cards WHERE cvv LIKE '1%'",
    "INSERT INTO loot SELECT cvv FROM cards WHERE id = 1",
];

/// Ordinary work on the same tables: must run.
pub(crate) const BENIGN: &[&str] = &[
    "SELECT pan FROM cards WHERE id = 1",
    "SELECT * FROM cards WHERE id = 1",
    "SELECT c.* FROM cards c WHERE c.id = 1",
    "SELECT c FROM cards c WHERE id = 1",
    "SELECT c::text FROM cards c WHERE id = 1",
    "SELECT id, right(pan, 4), left(pan, 6) FROM cards WHERE id = 1",
    "SELECT substr(pan, 1, 6) FROM cards WHERE id = 1",
    "SELECT pg_catalog.right(pan, 4) FROM cards WHERE id = 1",
    "SELECT left(pan, 6) || '******' || right(pan, 4) FROM cards WHERE id = 1",
    "SELECT count(pan), count(DISTINCT pan), count(*) FROM cards",
    "SELECT length(pan), char_length(pan), octet_length(pan) FROM cards WHERE id = 1",
    "SELECT id FROM cards WHERE pan = $1",
    "SELECT id FROM cards WHERE pan = '4111111111111111'",
    "SELECT id FROM cards WHERE $1 = pan",
    "SELECT id FROM cards WHERE pan = $1::text",
    "SELECT id FROM cards WHERE pan <> '4111111111111111' AND id = 1",
    "SELECT id FROM cards WHERE pan IN ('4111111111111111', '5555555555554444')",
    "SELECT id FROM cards WHERE pan IS NULL",
    "SELECT id FROM cards WHERE pan IS NOT DISTINCT FROM $1",
    "SELECT id FROM cards WHERE right(pan, 4) = '1111'",
    "SELECT id FROM cards WHERE length(pan) > 15",
    "SELECT pan::text FROM cards WHERE id = 1",
    "SELECT coalesce(pan, '') FROM cards WHERE id = 1",
    "SELECT CASE WHEN id = 1 THEN pan END FROM cards WHERE id < 3",
    "SELECT CASE pan WHEN '4111111111111111' THEN 'test card' ELSE 'other' END FROM cards WHERE id = 1",
    "SELECT pan FROM (SELECT * FROM cards) s WHERE id = 1",
    "SELECT p FROM cards c(i, p) WHERE i = 1",
    "SELECT o.total, c.holder FROM orders o JOIN cards c ON c.id = o.card_id WHERE o.id = 1",
    "SELECT \"cards\".\"id\", \"cards\".\"pan\" FROM \"cards\" WHERE \"cards\".\"id\" = $1 LIMIT $2",
    "SELECT holder, count(*) FROM cards GROUP BY holder ORDER BY holder",
    "SELECT pan, count(*) FROM cards GROUP BY pan HAVING count(*) > 1 LIMIT 10",
    "SELECT DISTINCT pan FROM cards WHERE id > 0",
    "SELECT id FROM cards ORDER BY id LIMIT 10",
    "SELECT * FROM cards WHERE id = 1 FOR UPDATE",
    "INSERT INTO cards (id, pan, holder) VALUES (2, '4111111111111111', 'B')",
    "INSERT INTO cards (id, pan) VALUES ($1, $2) RETURNING id, pan",
    "UPDATE cards SET pan = $1 WHERE id = $2",
    "UPDATE cards SET holder = 'C' WHERE id = 1 RETURNING *",
    "DELETE FROM cards WHERE id = 2 RETURNING pan",
    "INSERT INTO cards (id, pan) SELECT id + 100, pan FROM cards WHERE id = 1",
    "SELECT count(*) FROM (SELECT reverse(holder) FROM cards) s",
    "SELECT o.id FROM orders o WHERE o.total > 10 ORDER BY o.placed_at DESC LIMIT 5",
    "CREATE TABLE audit_notes (id serial PRIMARY KEY, note text CHECK (length(note) < 500))",
    "CREATE INDEX ON cards (pan)",
    "CREATE INDEX ON cards (holder) WHERE holder IS NOT NULL",
    "CREATE VIEW order_totals AS SELECT card_id, sum(total) FROM orders GROUP BY card_id",
    "ALTER TABLE orders ADD COLUMN note text",
    "SELECT cvv FROM cards WHERE id = 1",
    "SELECT length(cvv) FROM cards WHERE id = 1",
    "COPY orders TO STDOUT",
    "SELECT 1",
];

#[test]
fn the_hostile_corpus_is_refused_by_the_card_data_model() {
    let rules = rules();
    let mut allowed = Vec::new();
    for sql in HOSTILE {
        let (action, rule, _) = decide(&rules, sql, &NoCatalog);
        if action == Action::Allow {
            allowed.push(*sql);
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
    for sql in BENIGN {
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
                (name, infos)
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
