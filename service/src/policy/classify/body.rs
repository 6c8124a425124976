//! Bodies and SQL in strings: read with Postgres's own parsers where they can be.
//!
//! - A `LANGUAGE plpgsql` body (`DO`, `CREATE FUNCTION`, `CREATE PROCEDURE`) is compiled by
//!   libpg_query's copy of the PL/pgSQL compiler (`pg_query::parse_plpgsql`); every SQL text
//!   the compiled function holds (statements, `PERFORM`, assignments, conditions, `RETURN`,
//!   cursor queries, `EXECUTE` arguments...) is then parsed in the mode PL/pgSQL itself parses
//!   it in, and classified.
//! - A `LANGUAGE sql` body written as a string is parsed as SQL.
//! - `LANGUAGE internal` names a built-in C function: that name is reported as a function.
//! - SQL text given as a string constant to something that runs it (`EXECUTE 'DELETE …'` in
//!   PL/pgSQL, `query_to_xml('SELECT …', …)`) is parsed as SQL; anything but a single string
//!   constant makes the statement [`dynamic_sql`](super::Statement::dynamic_sql).
//!
//! Whatever cannot be read this way is *opaque* (fail closed): another language, a body that
//! does not compile, bodies nested deeper than [`MAX_DEPTH`], more body text than the budget,
//! and a text whose meaning depends on `standard_conforming_strings` at a time the gateway
//! cannot know (below).
//!
//! **String syntax.** SQL held in a body is parsed by Postgres when it runs, under the
//! `standard_conforming_strings` of that moment, which the text itself may change
//! (`SET standard_conforming_strings = off` inside a `DO` block). So every SQL text found here
//! that contains a backslash is parsed both ways and both readings are reported; one that
//! parses only one way is opaque. A PL/pgSQL body is split into statements when it is
//! compiled: a `DO` block now, in the session the gateway follows; a function at its first
//! call, in whatever session that is. libpg_query compiles with the setting on; a body in
//! which some plain string literal would end elsewhere with the setting off (`'a\'`) is
//! opaque, unless it is a `DO` block and the session has the setting on.

use std::cell::Cell;
use std::rc::Rc;

use pg_query::protobuf::{self as pb, a_const};
use pg_query::{NodeEnum, NodeRef, ParserOptions};
use serde_json::Value;

use super::{ObjectName, Statement, parser, walk};

/// Bodies inside bodies (a `DO` block whose `EXECUTE` runs a `DO` block...) are read this deep;
/// deeper ones are opaque.
pub(super) const MAX_DEPTH: usize = 8;

/// A PL/pgSQL body with more block-opening words than this (`BEGIN`, `LOOP`, `IF`, `CASE`,
/// counted anywhere in its text) is not compiled but opaque: the compiler and its JSON output
/// recurse once per nesting level, and this bounds the nesting.
const MAX_OPENERS: usize = 500;

/// What the walk of one text needs to read the bodies in it.
#[derive(Clone)]
pub(super) struct Context {
    /// `standard_conforming_strings` of the reading being walked.
    pub scs: bool,
    /// How many bodies or strings deep the walked text is (0: the classified text itself).
    pub depth: usize,
    /// Bytes of body text this classification may still parse, shared by every level: each
    /// level can read its text twice (the two string syntaxes), so without a budget nesting
    /// could multiply the work.
    budget: Rc<Cell<usize>>,
}

impl Context {
    /// The context of a classified text of `len` bytes read with `scs`.
    pub(super) fn new(scs: bool, len: usize) -> Context {
        Context {
            scs,
            depth: 0,
            budget: Rc::new(Cell::new(len.saturating_mul(4).saturating_add(64 << 10))),
        }
    }

    fn deeper(&self, scs: bool) -> Context {
        Context {
            scs,
            depth: self.depth + 1,
            budget: Rc::clone(&self.budget),
        }
    }

    /// Takes `len` bytes from the budget; false (and nothing taken) if that is more than is
    /// left, or if this level is already as deep as bodies are read.
    fn spend(&self, len: usize) -> bool {
        let left = self.budget.get();
        if self.depth >= MAX_DEPTH || len > left {
            return false;
        }
        self.budget.set(left - len);
        true
    }
}

/// What reading a body or a string found.
#[derive(Default)]
pub(super) struct Found {
    /// Each statement found, and whether its kind counts as an inner kind (a PL/pgSQL
    /// assignment is not a statement; its expression is).
    pub statements: Vec<(Statement, bool)>,
    /// Functions the body names without calling them in SQL (`LANGUAGE internal`).
    pub functions: Vec<ObjectName>,
    /// Something could not be read.
    pub opaque: bool,
    /// SQL built at run time: `EXECUTE` of anything but a string constant.
    pub dynamic: bool,
}

impl Found {
    fn opaque() -> Found {
        Found {
            opaque: true,
            ..Found::default()
        }
    }

    fn add(&mut self, other: Found) {
        self.statements.extend(other.statements);
        self.functions.extend(other.functions);
        self.opaque |= other.opaque;
        self.dynamic |= other.dynamic;
    }
}

/// A `DO` block.
pub(super) fn do_block(s: &pb::DoStmt, cx: &Context) -> Found {
    let mut language = "plpgsql";
    let mut source = None;
    for arg in &s.args {
        if let Some(NodeEnum::DefElem(d)) = &arg.node {
            match (d.defname.as_str(), d.arg.as_deref().and_then(string)) {
                ("language", Some(l)) => language = l,
                ("as", Some(body)) => source = Some(body),
                _ => {}
            }
        }
    }
    match (language, source) {
        ("plpgsql", Some(source)) => plpgsql(NodeRef::DoStmt(s), source, Some(cx.scs), cx),
        _ => Found::opaque(),
    }
}

/// A function or procedure whose body is a string (`AS '…'`); a SQL-standard body is part of
/// the statement's own tree and is walked with it.
pub(super) fn function(s: &pb::CreateFunctionStmt, cx: &Context) -> Found {
    let mut language = None;
    let mut body: Vec<&str> = Vec::new();
    for option in &s.options {
        if let Some(NodeEnum::DefElem(d)) = &option.node {
            match (
                d.defname.as_str(),
                d.arg.as_deref().map(|a| a.node.as_ref()),
            ) {
                ("language", Some(Some(NodeEnum::String(l)))) => language = Some(l.sval.as_str()),
                ("as", Some(Some(NodeEnum::List(l)))) => {
                    body = l.items.iter().filter_map(string).collect();
                }
                _ => {}
            }
        }
    }
    match (language, body.as_slice()) {
        (Some("plpgsql"), [source]) => {
            let s = &compilable(s);
            match trigger_return(s) {
                Some(returns) => trigger(s, source, returns, cx),
                None => plpgsql(NodeRef::CreateFunctionStmt(s), source, None, cx),
            }
        }
        (Some("sql"), [source]) => sql_text(source, cx),
        // `AS 'pg_read_file_v2'`: an alias of a built-in C function, which is what will run.
        (Some("internal"), [symbol]) => Found {
            functions: vec![ObjectName {
                schema: None,
                name: (*symbol).to_owned(),
            }],
            ..Found::default()
        },
        _ => Found::opaque(),
    }
}

/// The function as libpg_query's compiler can take it: a `VARIADIC` parameter becomes a plain
/// one (the compiler cannot look up the array type's element without a catalog, and the mode
/// only matters to callers).
fn compilable(s: &pb::CreateFunctionStmt) -> pb::CreateFunctionStmt {
    let mut s = s.clone();
    for parameter in &mut s.parameters {
        if let Some(NodeEnum::FunctionParameter(p)) = &mut parameter.node
            && p.mode() == pb::FunctionParameterMode::FuncParamVariadic
        {
            p.set_mode(pb::FunctionParameterMode::FuncParamIn);
        }
    }
    s
}

/// `RETURNS trigger` → `record`, `RETURNS event_trigger` → `void`: what a trigger function is
/// compiled as here (see [`trigger`]).
fn trigger_return(s: &pb::CreateFunctionStmt) -> Option<&'static str> {
    let returns = s.return_type.as_ref()?;
    match returns.names.last().and_then(string)? {
        "trigger" if !returns.setof => Some("record"),
        "event_trigger" if !returns.setof => Some("void"),
        _ => None,
    }
}

/// The variables PL/pgSQL gives a trigger function.
const TRIGGER_VARIABLES: &str = "DECLARE new record; old record; tg_name name; tg_when text; \
     tg_level text; tg_op text; tg_relid oid; tg_relname name; tg_table_name name; \
     tg_table_schema name; tg_nargs integer; tg_argv text[]; tg_event text; tg_tag text;\nBEGIN\n";

/// A trigger function. libpg_query writes invalid JSON for the variables PL/pgSQL makes for
/// triggers (`TG_OP`...: its JSON writer does not know their kind), so the body is compiled as
/// the body of an ordinary function (returning `record`, or `void` for an event trigger)
/// whose outer block declares those variables: the same statements, the same SQL texts. The
/// body's final `END` may or may not have a semicolon, which decides how it nests: the likely
/// form is tried first. Compiler options (`#variable_conflict …` lines), which must come
/// first, are moved before the declarations.
fn trigger(s: &pb::CreateFunctionStmt, source: &str, returns: &str, cx: &Context) -> Found {
    let ends_with_semicolon = source.trim_end().ends_with(';');
    let closings: [&str; 2] = if ends_with_semicolon {
        ["\nEND", "\n;END"]
    } else {
        ["\n;END", "\nEND"]
    };
    let (options, source) = compiler_options(source);
    let mut found = Found::opaque();
    for closing in closings {
        let wrapped = format!("{options}\n{TRIGGER_VARIABLES}{source}{closing}");
        let mut function = s.clone();
        function.return_type = Some(pb::TypeName {
            names: vec![pb::Node {
                node: Some(NodeEnum::String(pb::String {
                    sval: returns.to_owned(),
                })),
            }],
            typemod: -1,
            ..pb::TypeName::default()
        });
        for option in &mut function.options {
            if let Some(NodeEnum::DefElem(d)) = &mut option.node
                && d.defname == "as"
            {
                d.arg = Some(Box::new(pb::Node {
                    node: Some(NodeEnum::List(pb::List {
                        items: vec![pb::Node {
                            node: Some(NodeEnum::String(pb::String {
                                sval: wrapped.clone(),
                            })),
                        }],
                    })),
                }));
            }
        }
        found = plpgsql(NodeRef::CreateFunctionStmt(&function), &wrapped, None, cx);
        if !found.opaque {
            break;
        }
    }
    found
}

/// The leading lines of a PL/pgSQL body that start with `#` (compiler options), and the rest.
fn compiler_options(source: &str) -> (&str, &str) {
    let mut end = 0;
    loop {
        let rest = &source[end..];
        let trimmed = rest.trim_start();
        if !trimmed.starts_with('#') {
            break;
        }
        let start = end + (rest.len() - trimmed.len());
        end = source[start..]
            .find('\n')
            .map_or(source.len(), |newline| start + newline + 1);
    }
    source.split_at(end)
}

/// SQL text that will be run from a string (a SQL function's body, a constant given to
/// `EXECUTE` or to `query_to_xml`): every statement in it, under both string syntaxes if it
/// holds a backslash. Opaque if it does not parse (under either), or past the depth or budget.
pub(super) fn sql_text(text: &str, cx: &Context) -> Found {
    let mut found = Found::default();
    for &scs in readings(text) {
        if !cx.spend(text.len()) {
            return Found::opaque();
        }
        let Ok(parsed) = parser::parse(text, options(scs, ParserOptions::DEFAULT)) else {
            return Found::opaque();
        };
        let inner = cx.deeper(scs);
        for raw in &parsed.protobuf.stmts {
            found
                .statements
                .push((walk::statement(raw, text, &inner), true));
        }
    }
    found
}

/// The relation a `regclass` text names (`'public.cards'`, `'"Cards"'`), read as Postgres
/// reads a qualified name; `None` for an OID, for anything else, or past the budget.
pub(super) fn relation_name(text: &str, cx: &Context) -> Option<ObjectName> {
    if !cx.spend(text.len()) {
        return None;
    }
    let parsed = parser::parse(text, ParserOptions::TYPE_NAME).ok()?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return None;
    };
    // libpg_query gives the name's list of identifiers (a type's modifiers and array bounds,
    // which a relation name cannot have, make it something else).
    let names = match raw.stmt.as_ref().and_then(|n| n.node.as_ref())? {
        NodeEnum::List(list) => &list.items,
        NodeEnum::TypeName(t)
            if !t.setof && !t.pct_type && t.typmods.is_empty() && t.array_bounds.is_empty() =>
        {
            &t.names
        }
        _ => return None,
    };
    let parts: Vec<&str> = names.iter().filter_map(string).collect();
    if parts.len() != names.len() || parts.len() > 3 {
        return None;
    }
    ObjectName::from_parts(parts.into_iter())
}

/// A string constant, through any casts: `'x'`, `'x'::text`, `CAST('x' AS text)`, `$$x$$`.
pub(super) fn string_constant(node: &pb::Node) -> Option<&str> {
    let mut node = node;
    loop {
        match node.node.as_ref()? {
            NodeEnum::AConst(c) => {
                return match &c.val {
                    Some(a_const::Val::Sval(s)) if !c.isnull => Some(&s.sval),
                    _ => None,
                };
            }
            NodeEnum::TypeCast(c) => node = c.arg.as_deref()?,
            _ => return None,
        }
    }
}

fn string(node: &pb::Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::String(s)) => Some(&s.sval),
        _ => None,
    }
}

/// The string syntaxes a text must be read under: both if a backslash can make them differ.
fn readings(text: &str) -> &'static [bool] {
    if text.contains('\\') {
        &[true, false]
    } else {
        &[true]
    }
}

fn options(scs: bool, mode: ParserOptions) -> ParserOptions {
    if scs {
        mode
    } else {
        mode | ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
    }
}

/// A PL/pgSQL body: `stmt` is the `DO` or `CREATE FUNCTION` holding `source`; `compiled_with`
/// is the `standard_conforming_strings` it will be compiled under, if known.
fn plpgsql(stmt: NodeRef<'_>, source: &str, compiled_with: Option<bool>, cx: &Context) -> Found {
    if source.contains('\\') && compiled_with != Some(true) && !splits_alike(source) {
        return Found::opaque();
    }
    // `#option dump` makes the compiler print the function on stdout; no body needs options.
    if source.to_ascii_lowercase().contains("#option") || openers(source) > MAX_OPENERS {
        return Found::opaque();
    }
    if !cx.spend(source.len()) {
        return Found::opaque();
    }
    // The compiler takes a whole statement: give it this one, deparsed (the deparser writes
    // strings that read the same under the default syntax, which is the one it parses with).
    let Ok(text) = stmt.deparse(pg_query::DeparseOptions::default()) else {
        return Found::opaque();
    };
    let Ok(Value::Array(functions)) = parser::parse_plpgsql(&text) else {
        return Found::opaque();
    };
    let [function] = functions.as_slice() else {
        return Found::opaque();
    };
    let mut found = Found::default();
    // Every `PLpgSQL_expr` anywhere in the compiled function is SQL, whatever holds it; the
    // query of `EXECUTE`, `FOR … IN EXECUTE`, `OPEN … FOR EXECUTE` and `RETURN QUERY EXECUTE`
    // is an expression whose *value* is SQL too. An explicit stack: the JSON is at most as
    // deep as serde_json's own recursion limit allowed it to be.
    let mut stack: Vec<(&Value, bool)> = vec![(function, false)];
    while let Some((value, dynamic)) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, false))),
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "PLpgSQL_expr" {
                        found.add(expression(value, dynamic, cx));
                        continue;
                    }
                    let dynamic_field = match key.as_str() {
                        "PLpgSQL_stmt_dynexecute" | "PLpgSQL_stmt_dynfors" => Some("query"),
                        "PLpgSQL_stmt_open" | "PLpgSQL_stmt_return_query" => Some("dynquery"),
                        _ => None,
                    };
                    match (dynamic_field, value) {
                        (Some(field), Value::Object(statement)) => {
                            for (name, value) in statement {
                                stack.push((value, name == field));
                            }
                        }
                        _ => stack.push((value, false)),
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// One `PLpgSQL_expr`: `{"query": "…", "parseMode": n}`. With `dynamic`, its value is SQL that
/// `EXECUTE` runs.
fn expression(expr: &Value, dynamic: bool, cx: &Context) -> Found {
    let Some(query) = expr.get("query").and_then(Value::as_str) else {
        return Found::opaque();
    };
    // RawParseMode: 0 a statement, 2 an expression (read as `SELECT expr`), 3 to 5 an
    // assignment `target := expr`. Anything else (1 is a type name) is not expected here.
    let mode = match expr.get("parseMode").and_then(Value::as_i64).unwrap_or(0) {
        0 => ParserOptions::DEFAULT,
        2 => ParserOptions::PLPGSQL_EXPR,
        3 => ParserOptions::PLPGSQL_ASSIGN1,
        4 => ParserOptions::PLPGSQL_ASSIGN2,
        5 => ParserOptions::PLPGSQL_ASSIGN3,
        _ => return Found::opaque(),
    };
    let mut found = Found::default();
    for &scs in readings(query) {
        if !cx.spend(query.len()) {
            return Found::opaque();
        }
        let Ok(parsed) = parser::parse(query, options(scs, mode)) else {
            return Found::opaque();
        };
        let inner = cx.deeper(scs);
        for raw in &parsed.protobuf.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
                continue;
            };
            if dynamic {
                match executed_constant(node) {
                    Some(sql) => found.add(sql_text(sql, &inner)),
                    None => found.dynamic = true,
                }
            }
            let is_statement = !matches!(node, NodeEnum::PlassignStmt(_));
            found
                .statements
                .push((walk::statement(raw, query, &inner), is_statement));
        }
    }
    found
}

/// The string an `EXECUTE` runs, when its expression (`SELECT expr`) is one string constant.
fn executed_constant(node: &NodeEnum) -> Option<&str> {
    let NodeEnum::SelectStmt(s) = node else {
        return None;
    };
    let [target] = s.target_list.as_slice() else {
        return None;
    };
    let Some(NodeEnum::ResTarget(target)) = &target.node else {
        return None;
    };
    string_constant(target.val.as_deref()?)
}

/// Whether `source` splits into the same tokens under both string syntaxes: every plain string
/// literal (`'…'`, `N'…'`) ends at the same place when a backslash escapes the next character.
/// Then PL/pgSQL splits the body alike whatever the setting at its compilation; a literal's
/// *value* may still differ (`'\d'`), which is why each SQL text in it is parsed both ways.
fn splits_alike(source: &str) -> bool {
    let Ok(scanned) = parser::scan(source) else {
        return false;
    };
    scanned.tokens.iter().all(|token| {
        if token.token != pb::Token::Sconst as i32 {
            return true;
        }
        let (Ok(start), Ok(end)) = (usize::try_from(token.start), usize::try_from(token.end))
        else {
            return false;
        };
        let Some(text) = source.get(start..end) else {
            return false;
        };
        let body = match text.as_bytes() {
            [b'\'', ..] => &text.as_bytes()[1..],
            [b'N' | b'n', b'\'', ..] => &text.as_bytes()[2..],
            // E'…' reads backslashes either way; B'…', X'…' and $$…$$ never do.
            _ => return true,
        };
        // Read the literal as with the setting off: it must end where the token ends.
        let mut i = 0;
        loop {
            match body.get(i) {
                None => return false,
                Some(b'\\') => i += 2,
                Some(b'\'') if body.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => return i + 1 == body.len(),
                Some(_) => i += 1,
            }
        }
    })
}

/// How many words of `source` open a PL/pgSQL block (`BEGIN`, `LOOP`, `IF`, `CASE`), counted
/// with no regard to quoting: an upper bound on its nesting.
fn openers(source: &str) -> usize {
    source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            ["begin", "loop", "if", "case"]
                .iter()
                .any(|opener| word.eq_ignore_ascii_case(opener))
        })
        .count()
}

/// What a call of a function that runs SQL text, or reads relations named at run time, does
/// with its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Runs {
    /// The argument at this position is SQL text, run now.
    Sql(usize),
    /// The argument at this position names (`regclass`) a relation whose every row is read.
    Relation(usize),
    /// Reads relations that no argument names (a schema's or a database's every table).
    Unnamed,
    /// Runs SQL somewhere the gateway does not see: over another connection (dblink, Citus),
    /// in a background worker, or later (pg_cron).
    Elsewhere,
}

/// The functions that run SQL text given as an argument, in one place. Matched by name in any
/// schema (a same-named function elsewhere is flagged too): built-ins, and the extensions
/// that are commonly installed.
pub(super) fn runs_sql(schema: Option<&str>, name: &str, args: usize) -> Option<Runs> {
    Some(match name {
        "query_to_xml" | "query_to_xmlschema" | "query_to_xml_and_xmlschema" | "ts_stat" => {
            Runs::Sql(0)
        }
        // ts_rewrite(query, select text); the three-argument form takes no SQL.
        "ts_rewrite" if args == 2 => Runs::Sql(1),
        "table_to_xml" | "table_to_xmlschema" | "table_to_xml_and_xmlschema" => Runs::Relation(0),
        "schema_to_xml"
        | "schema_to_xmlschema"
        | "schema_to_xml_and_xmlschema"
        | "database_to_xml"
        | "database_to_xmlschema"
        | "database_to_xml_and_xmlschema" => Runs::Unnamed,
        _ if name.starts_with("dblink")
            || name.starts_with("run_command_on_")
            || name.starts_with("pg_background_launch")
            || schema == Some("cron") =>
        {
            Runs::Elsewhere
        }
        _ => return None,
    })
}
