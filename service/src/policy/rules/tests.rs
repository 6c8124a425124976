//! The rules over classified statements: the pack, ordering, the language, explain.

use super::*;
use crate::policy::classify::classify;

fn policy() -> PolicyConfig {
    PolicyConfig {
        protected_tables: vec!["cards".into(), "billing.*".into()],
        pan_columns: vec!["cards.pan".into()],
        ..PolicyConfig::default()
    }
}

fn decide(rules: &Rules, sql: &str) -> Decision {
    let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    rules.decide(&Subject::connection("payments"), sql, &c)
}

/// The rule that denies or holds `sql`.
fn denied_by(rules: &Rules, sql: &str) -> Option<String> {
    let d = decide(rules, sql);
    (d.action != Action::Allow).then(|| d.rule.unwrap_or_default())
}

/// `tests/corpora/objects-hostile.sql`: every statement refused by a default rule.
#[test]
fn the_objects_corpus_is_refused_by_the_default_pack() {
    let rules = Rules::compile(&policy(), &[], Approvals::Unavailable, &[]).unwrap();
    let corpus = include_str!("../../../../tests/corpora/objects-hostile.sql");
    let mut allowed = Vec::new();
    for sql in corpus
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
    {
        let d = match classify(sql) {
            Ok(c) => rules.decide(&Subject::connection("payments"), sql, &c),
            Err(e) => rules.undecidable(&Subject::connection("payments"), &e.to_string()),
        };
        if d.action != Action::Deny
            || !d
                .rule
                .as_deref()
                .is_some_and(|r| r.starts_with("default.") || r == "unclassifiable")
        {
            allowed.push(format!("{sql}: {:?} {:?}", d.action, d.rule));
        }
    }
    assert!(allowed.is_empty(), "not refused:\n{}", allowed.join("\n"));
}

#[test]
fn allow_rules_need_every_table_and_kind_and_cannot_lower_the_pack() {
    let configured = [
        RuleConfig {
            id: "migrations-bookkeeping".into(),
            action: Action::Allow,
            kinds: vec!["insert".into()],
            writes: vec!["schema_migrations".into()],
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "ddl-is-fine".into(),
            action: Action::Allow,
            kinds: vec!["alter".into()],
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "no-payment-writes".into(),
            action: Action::Deny,
            kinds: vec!["update".into(), "delete".into()],
            tables: vec!["payments".into()],
            ..RuleConfig::default()
        },
    ];
    let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
    for (sql, rule) in [
        (
            "WITH d AS (UPDATE payments SET amount = 0 RETURNING 1) \
             INSERT INTO schema_migrations SELECT 99 FROM d LIMIT 1",
            "no-payment-writes",
        ),
        (
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
            "default.no-role-changes",
        ),
        (
            "ALTER TABLE cards RENAME TO c2",
            "default.no-backdoor-protected",
        ),
    ] {
        assert_eq!(denied_by(&rules, sql).as_deref(), Some(rule), "{sql}");
    }
    // What the allow rules are for still runs.
    assert_eq!(
        denied_by(&rules, "INSERT INTO schema_migrations VALUES (100)"),
        None
    );
    assert_eq!(
        denied_by(&rules, "ALTER TABLE public.orders ADD COLUMN note text"),
        None
    );
}

#[test]
fn the_default_pack_denies_what_it_lists() {
    let rules = Rules::compile(&policy(), &[], Approvals::Available, &[]).unwrap();
    for (sql, rule) in [
        ("DROP TABLE cards", "default.no-drop-protected"),
        ("TRUNCATE billing.invoices", "default.no-drop-protected"),
        ("COPY cards TO STDOUT", "default.no-copy-out-protected"),
        ("COPY x FROM PROGRAM 'id'", "default.no-copy-program"),
        (
            "SELECT pg_read_file('/etc/passwd')",
            "default.no-server-files",
        ),
        (
            "SELECT public.dblink_exec('x', 'y')",
            "default.no-server-files",
        ),
        ("SET ROLE admin", "default.no-role-switch"),
        (
            "PREPARE TRANSACTION 'x'",
            "default.no-prepared-transactions",
        ),
        ("COMMIT PREPARED 'x'", "default.no-prepared-transactions"),
        (
            "BEGIN; SELECT 1; PREPARE TRANSACTION 'x'",
            "default.no-prepared-transactions",
        ),
        ("ALTER SYSTEM SET fsync = off", "default.no-alter-system"),
        ("GRANT admin TO me", "default.no-role-changes"),
        ("SET client_encoding = 'SJIS'", "default.no-client-encoding"),
        ("SET NAMES 'LATIN1'", "default.no-client-encoding"),
        ("TRUNCATE elsewhere.cards", "default.no-drop-protected"),
        ("SELECT pan FROM cards", "default.no-unbounded-pan-select"),
        (
            "SELECT * FROM public.cards",
            "default.no-unbounded-pan-select",
        ),
        (
            "DO $$ BEGIN DELETE FROM cards; END $$",
            "default.no-unbounded-write-protected",
        ),
    ] {
        assert_eq!(denied_by(&rules, sql).as_deref(), Some(rule), "{sql}");
    }
    for sql in [
        "SELECT pan FROM cards WHERE id = 1",
        "SELECT pan FROM cards LIMIT 5",
        "SELECT count(*) FROM cards",
        "DROP TABLE other.scratch",
        "COPY public.orders TO STDOUT",
        "SELECT $$DROP TABLE cards$$",
    ] {
        assert_eq!(denied_by(&rules, sql), None, "{sql}");
    }
    // `billing.*` covers every unqualified name: the search path decides where it lands.
    assert!(denied_by(&rules, "DROP TABLE scratch").is_some());
    // A glob among the protected tables cannot be searched for in a body: every body is
    // refused. With plain names, only bodies that name one.
    let body = "DO LANGUAGE plperl $$ 1; $$";
    assert!(denied_by(&rules, body).is_some());
    let plain = PolicyConfig {
        protected_tables: vec!["cards".into()],
        ..PolicyConfig::default()
    };
    let rules = Rules::compile(&plain, &[], Approvals::Available, &[]).unwrap();
    assert_eq!(denied_by(&rules, body), None);
    assert!(
        denied_by(
            &rules,
            "CREATE FUNCTION f() RETURNS int LANGUAGE plperl AS 'return 1; # Cards'"
        )
        .is_some()
    );
}

#[test]
fn configured_rules_come_first_and_one_denied_statement_denies_the_text() {
    let configured = [
        RuleConfig {
            id: "scratch".into(),
            action: Action::Allow,
            kinds: vec!["drop".into()],
            tables: vec!["cards".into()],
            connections: vec!["sandbox".into()],
            ..RuleConfig::default()
        },
        RuleConfig {
            id: "no-card-writes".into(),
            action: Action::Deny,
            kinds: vec!["delete".into()],
            tables: vec!["public.cards".into()],
            ..RuleConfig::default()
        },
    ];
    let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
    assert_eq!(
        denied_by(
            &rules,
            "SELECT 1; WITH d AS (DELETE FROM cards RETURNING 1) SELECT 1"
        )
        .as_deref(),
        Some("no-card-writes")
    );
    // A bare name may resolve to any schema (search_path): a dotted pattern matches it.
    let ledger = RuleConfig {
        id: "ledger".into(),
        action: Action::Deny,
        kinds: vec!["drop".into()],
        tables: vec!["billing.ledger".into()],
        ..RuleConfig::default()
    };
    let strict = Rules::compile(
        &PolicyConfig::default(),
        &[ledger],
        Approvals::Available,
        &[],
    )
    .unwrap();
    assert!(denied_by(&strict, "DROP TABLE ledger").is_some());
    assert!(denied_by(&strict, "DROP TABLE billing.ledger").is_some());
    assert!(denied_by(&strict, "DROP TABLE other.ledger").is_none());
    // The default pack is a floor: an allow rule cannot switch it off, on its connection
    // or anywhere.
    let c = classify("DROP TABLE cards").unwrap();
    assert_eq!(
        rules
            .decide(&Subject::connection("sandbox"), "DROP TABLE cards", &c)
            .rule
            .as_deref(),
        Some("default.no-drop-protected")
    );
    assert_eq!(
        rules
            .decide(&Subject::connection("payments"), "DROP TABLE cards", &c)
            .action,
        Action::Deny
    );
}

#[test]
fn unclassifiable_text_is_denied_while_a_deny_rule_applies() {
    let rules = Rules::compile(&policy(), &[], Approvals::Available, &[]).unwrap();
    assert_eq!(
        rules
            .undecidable(&Subject::connection("payments"), "syntax error")
            .action,
        Action::Deny
    );
    assert_eq!(
        rules
            .function_call(&Subject::connection("payments"))
            .rule
            .as_deref(),
        Some("default.no-function-call")
    );
    let none = Rules::compile(
        &PolicyConfig {
            default_rules: false,
            ..PolicyConfig::default()
        },
        &[],
        Approvals::Available,
        &[],
    )
    .unwrap();
    assert_eq!(
        none.undecidable(&Subject::connection("payments"), "syntax error")
            .action,
        Action::Allow
    );
    assert_eq!(
        none.function_call(&Subject::connection("payments")).action,
        Action::Allow
    );
}

/// A run granted by trust rule `main` as role `ci_writer`.
fn granted(identity: &RunIdentity) -> Run<'_> {
    Run {
        identity,
        trust: "main",
        role: "ci_writer",
    }
}

fn run(environment: Option<&str>, pull_request: bool) -> RunIdentity {
    RunIdentity {
        provider: crate::identity::Provider::Github,
        repository: "acme/ledger".into(),
        repository_id: "1".into(),
        owner: "acme".into(),
        owner_id: "2".into(),
        run_id: crate::identity::RunId::new("77").unwrap(),
        attempt: 1,
        job_id: None,
        git_ref: Some("refs/heads/main".into()),
        sha: None,
        workflow: None,
        environment: environment.map(str::to_owned),
        actor: Some("dev".into()),
        actor_id: None,
        event: Some("push".into()),
        pull_request,
        run_url: None,
    }
}

#[test]
fn approve_sits_between_deny_and_allow_and_rules_can_name_the_run() {
    let configured = [RuleConfig {
        id: "prod-migrations".into(),
        action: Action::Approve,
        kinds: vec!["alter".into()],
        tables: vec!["payments".into()],
        run: RunConditions {
            environment: vec!["prod*".into()],
            repository: vec!["ACME/*".into()],
            ..RunConditions::default()
        },
        ..RuleConfig::default()
    }];
    let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
    let alter = "ALTER TABLE public.payments ADD COLUMN note text";
    let c = classify(alter).unwrap();
    let production = run(Some("production"), false);
    let held = rules.decide(&Subject::new("payments", granted(&production)), alter, &c);
    assert_eq!(
        (held.action, held.rule.as_deref()),
        (Action::Approve, Some("prod-migrations"))
    );
    // Another environment, a run without one, or no run known: the rule does not apply.
    for other in [run(Some("staging"), false), run(None, false)] {
        let d = rules.decide(&Subject::new("payments", granted(&other)), alter, &c);
        assert_eq!(d.action, Action::Allow);
    }
    let d = rules.decide(&Subject::connection("payments"), alter, &c);
    assert_eq!(d.action, Action::Allow);
    // In one text, a denied statement outranks a held one.
    let both = format!("{alter}; DROP TABLE cards");
    let c = classify(&both).unwrap();
    let d = rules.decide(&Subject::new("payments", granted(&production)), &both, &c);
    assert_eq!(d.rule.as_deref(), Some("default.no-drop-protected"));
    // A body the classifier cannot read that names a protected table is held by the
    // default pack.
    let body = "DO LANGUAGE plperl $$ my $t = 'cards'; $$";
    assert_eq!(decide(&rules, body).action, Action::Approve);
    // Without approvers it is denied instead, and a configured approve rule is refused.
    let none = Rules::compile(&policy(), &[], Approvals::Unavailable, &[]).unwrap();
    let d = decide(&none, body);
    assert_eq!(d.action, Action::Deny);
    assert!(
        d.reason.contains("no approver") || d.reason.contains("has none"),
        "{}",
        d.reason
    );
    let e = Rules::compile(&policy(), &configured, Approvals::Unavailable, &[]).unwrap_err();
    assert!(e.to_string().contains("approvers"), "{e}");
    // A pull-request condition.
    let pr_only = RuleConfig {
        id: "pr".into(),
        action: Action::Deny,
        kinds: vec!["delete".into()],
        run: RunConditions {
            pull_request: Some(true),
            ..RunConditions::default()
        },
        ..RuleConfig::default()
    };
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &[pr_only],
        Approvals::Available,
        &[],
    )
    .unwrap();
    let delete = "DELETE FROM t WHERE id = 1";
    let c = classify(delete).unwrap();
    let pr = run(None, true);
    let push = run(None, false);
    assert_eq!(
        rules
            .decide(&Subject::new("x", granted(&pr)), delete, &c)
            .action,
        Action::Deny
    );
    assert_eq!(
        rules
            .decide(&Subject::new("x", granted(&push)), delete, &c)
            .action,
        Action::Allow
    );
}

#[test]
fn bad_rules_are_refused_with_their_index() {
    for (bad, needle) in [
        (
            RuleConfig {
                id: "x".into(),
                ..RuleConfig::default()
            },
            "no condition",
        ),
        (
            RuleConfig {
                id: "y".into(),
                kinds: vec!["obliterate".into()],
                ..RuleConfig::default()
            },
            "unknown statement kind",
        ),
        (
            RuleConfig {
                id: "z".into(),
                tables: vec!["[x".into()],
                ..RuleConfig::default()
            },
            "invalid glob",
        ),
    ] {
        let e = Rules::compile(
            &PolicyConfig::default(),
            std::slice::from_ref(&bad),
            Approvals::Available,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("rules[0]") && e.contains(needle), "{e}");
    }
    let twice = RuleConfig {
        id: "default.no-alter-system".into(),
        kinds: vec!["drop".into()],
        ..RuleConfig::default()
    };
    assert!(matches!(
        Rules::compile(
            &PolicyConfig::default(),
            &[twice],
            Approvals::Available,
            &[]
        ),
        Err(RuleError::ReservedId(_))
    ));
    let a = RuleConfig {
        id: "same".into(),
        kinds: vec!["drop".into()],
        ..RuleConfig::default()
    };
    let e = Rules::compile(
        &PolicyConfig::default(),
        &[a.clone(), a],
        Approvals::Available,
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rules[1]") && e.contains("rules[0]"), "{e}");
}

fn toml_rules(text: &str) -> Vec<RuleConfig> {
    #[derive(Deserialize)]
    struct File {
        rules: Vec<RuleConfig>,
    }
    toml::from_str::<File>(text).unwrap().rules
}

fn decide_as(rules: &Rules, trust: &str, role: &str, sql: &str) -> Decision {
    let identity = run(None, false);
    let c = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let subject = Subject::new(
        "payments",
        Run {
            identity: &identity,
            trust,
            role,
        },
    );
    rules.decide(&subject, sql, &c)
}

#[test]
fn unless_excepts_when_every_item_fits_and_any_exception_holds() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "read-only"
        action = "deny"
        [[rules.unless]]
        kinds = ["select", "show", "transaction"]
        [[rules.unless]]
        run.trust = ["migrations"]

        [[rules]]
        id = "migrations-write-their-tables"
        action = "deny"
        run.role = ["ci_migrator"]
        [[rules.unless]]
        writes = ["payments", "schema_migrations"]
        "#,
    );
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &configured,
        Approvals::Available,
        &[],
    )
    .unwrap();
    let branch = |sql: &str| decide_as(&rules, "branches", "ci_reader", sql);
    let migration = |sql: &str| decide_as(&rules, "migrations", "ci_migrator", sql);
    for sql in [
        "SELECT id FROM payments WHERE id = 1",
        "BEGIN; SELECT 1; COMMIT",
        "SHOW search_path",
    ] {
        assert_eq!(branch(sql).action, Action::Allow, "{sql}");
    }
    for sql in [
        "UPDATE payments SET amount = 0 WHERE id = 1",
        // A write nested in a read is not every kind a read.
        "WITH d AS (DELETE FROM payments WHERE id = 1 RETURNING id) SELECT * FROM d",
        "EXPLAIN ANALYZE DELETE FROM payments WHERE id = 1",
        "PREPARE p AS INSERT INTO payments VALUES (1)",
        "CREATE TABLE t (id int)",
        "SELECT 1; DROP TABLE payments",
    ] {
        assert_eq!(
            branch(sql).rule.as_deref(),
            Some("read-only"),
            "{sql}: {:?}",
            branch(sql)
        );
    }
    // The second exception lets the migration through the first rule; the second rule
    // keeps its writes to its tables ("every table written is in ...").
    for sql in [
        "UPDATE payments SET amount = 0 WHERE id = 1",
        "INSERT INTO schema_migrations VALUES (1); UPDATE public.payments SET x = 1 WHERE id = 2",
        "SELECT 1",
    ] {
        assert_eq!(migration(sql).action, Action::Allow, "{sql}");
    }
    for sql in [
        "UPDATE customers SET email = NULL WHERE id = 7",
        "WITH d AS (DELETE FROM customers WHERE id = 7 RETURNING id) \
         INSERT INTO schema_migrations SELECT 1 FROM d",
    ] {
        assert_eq!(
            migration(sql).rule.as_deref(),
            Some("migrations-write-their-tables"),
            "{sql}"
        );
    }
    // run.role and run.trust name what the exchange granted.
    assert_eq!(
        decide_as(
            &rules,
            "migrations",
            "ci_reader",
            "UPDATE customers SET a = 1 WHERE id = 1"
        )
        .action,
        Action::Allow
    );
}

#[test]
fn a_qualified_column_pattern_needs_its_table_and_an_unqualified_one_any() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "no-cvv"
        action = "deny"
        columns = ["public.cards.cvv"]

        [[rules]]
        id = "no-secret-anywhere"
        action = "approve"
        columns = ["secret"]
        "#,
    );
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &configured,
        Approvals::Available,
        &[],
    )
    .unwrap();
    let by = |sql: &str| denied_by(&rules, sql);
    for sql in [
        "SELECT cvv FROM cards WHERE id = 1",
        "SELECT c.cvv FROM public.cards c WHERE id = 1",
        "SELECT * FROM cards WHERE id = 1",
        "SELECT x FROM cards x WHERE id = 1",
        "UPDATE cards SET cvv = '123' WHERE id = 1",
        "SELECT o.id FROM orders o JOIN cards c ON c.id = o.card_id WHERE c.cvv = '1'",
    ] {
        assert_eq!(by(sql).as_deref(), Some("no-cvv"), "{sql}");
    }
    for sql in [
        "SELECT cvv FROM orders WHERE id = 1",
        "SELECT id FROM cards WHERE id = 1",
        "SELECT id FROM billing.cards WHERE id = 1",
    ] {
        assert_eq!(by(sql), None, "{sql}");
    }
    // An unqualified pattern names a column of any table, and so every `*`.
    assert_eq!(
        by("SELECT * FROM orders").as_deref(),
        Some("no-secret-anywhere")
    );
    for bad in ["a.b.c.d", "cards.", ".cvv", "cards..cvv"] {
        let rule = RuleConfig {
            id: "bad".into(),
            columns: vec![bad.into()],
            ..RuleConfig::default()
        };
        let e = Rules::compile(&PolicyConfig::default(), &[rule], Approvals::Available, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("columns"), "{bad}: {e}");
    }
}

#[test]
fn run_globs_read_claims_like_trust_rules() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "one-level"
        action = "deny"
        kinds = ["delete"]
        run.ref = ["refs/heads/*"]

        [[rules]]
        id = "any-depth"
        action = "deny"
        kinds = ["update"]
        run.ref = ["refs/heads/**"]
        "#,
    );
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &configured,
        Approvals::Available,
        &[],
    )
    .unwrap();
    let mut identity = run(None, false);
    identity.git_ref = Some("refs/heads/feature/x".into());
    let subject = Subject::new("payments", granted(&identity));
    let action = |sql: &str| rules.decide(&subject, sql, &classify(sql).unwrap()).action;
    assert_eq!(action("DELETE FROM t WHERE id = 1"), Action::Allow);
    assert_eq!(action("UPDATE t SET a = 1 WHERE id = 1"), Action::Deny);
    identity.git_ref = Some("refs/heads/main".into());
    let subject = Subject::new("payments", granted(&identity));
    let c = classify("DELETE FROM t WHERE id = 1").unwrap();
    assert_eq!(
        rules
            .decide(&subject, "DELETE FROM t WHERE id = 1", &c)
            .action,
        Action::Deny
    );
}

#[test]
fn a_rule_needs_a_statement_condition_and_an_exception_one_condition() {
    for (text, needle) in [
        (
            "[[rules]]\nid = \"x\"\naction = \"deny\"\nrun.trust = [\"a\"]\n[[rules.unless]]\nrun.trust = [\"b\"]",
            "no condition on the statement",
        ),
        (
            "[[rules]]\nid = \"x\"\naction = \"deny\"\nkinds = [\"drop\"]\n[[rules.unless]]\n",
            "unless[0] has no condition",
        ),
        (
            "[[rules]]\nid = \"x\"\naction = \"deny\"\nkinds = [\"drop\"]\n[rules.unless]\nkinds = [\"nuke\"]",
            "unless[0].unknown statement kind",
        ),
    ] {
        let e = Rules::compile(
            &PolicyConfig::default(),
            &toml_rules(text),
            Approvals::Available,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(needle), "{e}");
    }
}

/// `explain` is the decision's own evaluation: the same decision on every text of a
/// hostile corpus, and one outcome per rule per statement.
#[test]
fn explain_decides_as_decide_does_and_names_every_rule() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "no-payment-writes"
        action = "deny"
        kinds = ["update", "delete"]
        tables = ["payments"]

        [[rules]]
        id = "ddl-held"
        action = "approve"
        kinds = ["alter"]
        "#,
    );
    let rules = Rules::compile(&policy(), &configured, Approvals::Available, &[]).unwrap();
    let subject = Subject::connection("payments");
    let corpus = include_str!("../../../../tests/corpora/objects-hostile.sql");
    let texts = corpus
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .chain([
            "UPDATE payments SET a = 1 WHERE id = 1",
            "ALTER TABLE t ADD COLUMN c int; SELECT 1",
            "SELECT 1",
        ]);
    let total = configured.len() + default_pack(&policy()).len();
    for sql in texts {
        let Ok(c) = classify(sql) else { continue };
        let decided = rules.decide(&subject, sql, &c);
        let (explained, traces) = rules.explain(&subject, sql, &c, &NoCatalog);
        assert_eq!(decided, explained, "{sql}");
        assert_eq!(traces.len(), c.statements.len(), "{sql}");
        for trace in &traces {
            assert_eq!(trace.considered.len(), total, "{sql}");
            let deciding = trace
                .considered
                .iter()
                .filter(|r| r.outcome == Outcome::Decided)
                .count();
            assert!(
                deciding <= 2,
                "{sql}: one configured rule and one of the pack"
            );
        }
    }
}

/// What lets statements through (allow rules, exceptions) reads names and claims exactly;
/// what restricts leans towards matching.
#[test]
fn exceptions_match_exactly_and_restrictions_loosely() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "writes-public-payments-only"
        action = "deny"
        [[rules.unless]]
        writes = ["public.payments"]

        [[rules]]
        id = "no-settlements-off-main"
        action = "deny"
        kinds = ["select"]
        tables = ["settlements"]
        [[rules.unless]]
        run.ref = ["refs/heads/main"]

        [[rules]]
        id = "no-emails"
        action = "deny"
        columns = ["customers.email"]
        "#,
    );
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &configured,
        Approvals::Available,
        &[],
    )
    .unwrap();
    let by = |sql: &str| denied_by(&rules, sql);
    assert_eq!(by("UPDATE public.payments SET a = 1 WHERE id = 1"), None);
    for sql in [
        // An unqualified name goes where search_path says; a quoted one is another table.
        "UPDATE payments SET a = 1 WHERE id = 1",
        "UPDATE public.\"Payments\" SET a = 1 WHERE id = 1",
        "UPDATE \"PUBLIC\".payments SET a = 1 WHERE id = 1",
    ] {
        assert_eq!(
            by(sql).as_deref(),
            Some("writes-public-payments-only"),
            "{sql}"
        );
    }
    // A restricting rule's table pattern still matches any case and schema.
    assert_eq!(
        by("SELECT 1 FROM \"Settlements\"").as_deref(),
        Some("no-settlements-off-main")
    );
    let mut identity = run(None, false);
    identity.git_ref = Some("refs/heads/MAIN".into());
    let subject = Subject::new("payments", granted(&identity));
    let sql = "SELECT id FROM settlements WHERE id = 1";
    let c = classify(sql).unwrap();
    assert_eq!(
        rules.decide(&subject, sql, &c).rule.as_deref(),
        Some("no-settlements-off-main"),
        "refs/heads/MAIN is another branch"
    );
    identity.git_ref = Some("refs/heads/main".into());
    let subject = Subject::new("payments", granted(&identity));
    assert_eq!(rules.decide(&subject, sql, &c).action, Action::Allow);
    // Columns renamed by position, and a table copied out whole, name every column.
    for sql in [
        "SELECT e FROM customers AS c(i, e) WHERE i = 1",
        "COPY customers TO STDOUT",
        "COPY customers (id) TO STDOUT",
    ] {
        assert_eq!(by(sql).as_deref(), Some("no-emails"), "{sql}");
    }
}

/// "Every table written is in ..." does not hold vacuously for a statement that changes an
/// object that is no table; qualified column references resolve to their table.
#[test]
fn exceptions_see_objects_that_are_not_tables_and_qualified_columns() {
    let configured = toml_rules(
        r#"
        [[rules]]
        id = "writes-payments-only"
        action = "deny"
        [[rules.unless]]
        writes = ["payments"]

        [[rules]]
        id = "card-ids-only"
        action = "deny"
        tables = ["cards"]
        [[rules.unless]]
        columns = ["cards.id", "payments.*"]
        "#,
    );
    let rules = Rules::compile(
        &PolicyConfig::default(),
        &configured,
        Approvals::Available,
        &[],
    )
    .unwrap();
    let by = |sql: &str| denied_by(&rules, sql);
    for sql in [
        "ALTER TYPE payment_status RENAME VALUE 'paid' TO 'refunded'",
        "ALTER FUNCTION refund(int) SECURITY DEFINER",
        "ALTER DATABASE payments SET search_path = evil",
        "CREATE SCHEMA side",
        "ALTER DOMAIN email DROP CONSTRAINT email_check",
    ] {
        assert_eq!(by(sql).as_deref(), Some("writes-payments-only"), "{sql}");
    }
    for sql in [
        "SELECT 1",
        "ALTER TABLE payments ADD COLUMN note text",
        "BEGIN READ ONLY",
    ] {
        assert_eq!(by(sql), None, "{sql}");
    }
    for sql in [
        "SELECT cards.id FROM cards WHERE cards.id = 1",
        "SELECT c.id, p.amount FROM cards c JOIN payments p ON p.card_id = c.id WHERE c.id = 1",
    ] {
        assert_eq!(by(sql), None, "{sql}");
    }
    for sql in [
        "SELECT c.holder FROM cards c WHERE c.id = 1",
        "SELECT c.row_to_json FROM cards c WHERE c.id = 1",
        "SELECT c.id FROM cards AS c(i) WHERE i = 1",
    ] {
        assert_eq!(by(sql).as_deref(), Some("card-ids-only"), "{sql}");
    }
}
