//! The shape of a statement's result, read from its tree: whether an EXPLAIN runs its target,
//! whether the query that returns or reads rows is bounded ([`Statement::bounded`]), and
//! whether its output is only summaries of rows ([`Statement::aggregates_only`]).
//!
//! [`Statement::bounded`]: super::Statement::bounded
//! [`Statement::aggregates_only`]: super::Statement::aggregates_only

use std::collections::HashSet;

use pg_query::protobuf::{self as pb, a_const};
use pg_query::{NodeEnum, NodeRef};

use super::children;
use super::walk::filters_rows;

/// Whether an EXPLAIN runs its target (ANALYZE), as Postgres reads its options: `ANALYZE`,
/// `(ANALYZE)`, `(analyse)` and `(ANALYZE <value>)` with the value read as `defGetBoolean`
/// reads it (`true`/`false`/`on`/`off` in any case, `1`/`0`; none is true). Fail closed: an
/// `analyze` option whose value cannot be read so (Postgres refuses it) counts as running, as
/// does an option that is not a plain `name value`; only when every `analyze` option is false
/// does the EXPLAIN run nothing. The name is compared case-insensitively and in both spellings
/// (a quoted `"ANALYZE"` is an error in Postgres; more options taken for ANALYZE, never fewer).
pub(super) fn explain_analyzes(s: &pb::ExplainStmt) -> bool {
    s.options.iter().any(|option| match &option.node {
        Some(NodeEnum::DefElem(d)) => {
            let analyze = d.defname.eq_ignore_ascii_case("analyze")
                || d.defname.eq_ignore_ascii_case("analyse");
            analyze && boolean(d.arg.as_deref()) != Some(false)
        }
        _ => true,
    })
}

/// A `DefElem`'s value as Postgres's `defGetBoolean` reads it; `None` where it raises an error.
fn boolean(arg: Option<&pb::Node>) -> Option<bool> {
    let Some(arg) = arg else {
        return Some(true);
    };
    let word = |s: &str| {
        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("on") {
            Some(true)
        } else if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("off") {
            Some(false)
        } else {
            None
        }
    };
    let integer = |i: i32| match i {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    };
    match arg.node.as_ref()? {
        NodeEnum::Integer(i) => integer(i.ival),
        NodeEnum::Boolean(b) => Some(b.boolval),
        NodeEnum::String(s) => word(&s.sval),
        NodeEnum::AConst(c) if !c.isnull => match c.val.as_ref()? {
            a_const::Val::Ival(i) => integer(i.ival),
            a_const::Val::Boolval(b) => Some(b.boolval),
            a_const::Val::Sval(s) => word(&s.sval),
            _ => None,
        },
        _ => None,
    }
}

/// [`super::Statement::bounded`]: the statement's own SELECT, UPDATE or DELETE, or the query
/// that a PREPARE, DECLARE CURSOR, CREATE TABLE AS, `COPY (query) TO` or EXPLAIN ANALYZE runs;
/// true for an EXPLAIN that runs nothing.
pub(super) fn bounded(root: NodeRef<'_>) -> bool {
    let inner = |query: Option<&pb::Node>| {
        query
            .and_then(|q| q.node.as_ref())
            .is_some_and(|q| bounded(q.to_ref()))
    };
    match root {
        NodeRef::SelectStmt(s) => select_bounded(s),
        NodeRef::UpdateStmt(s) => filters_rows(s.where_clause.as_deref()),
        NodeRef::DeleteStmt(s) => filters_rows(s.where_clause.as_deref()),
        NodeRef::PrepareStmt(s) => inner(s.query.as_deref()),
        NodeRef::DeclareCursorStmt(s) => inner(s.query.as_deref()),
        // `CREATE TABLE t AS EXECUTE p` runs a query decided at its PREPARE: not bounded here.
        NodeRef::CreateTableAsStmt(s) => inner(s.query.as_deref()),
        // `COPY cards TO …` (no query) copies every row.
        NodeRef::CopyStmt(s) => inner(s.query.as_deref()),
        // Without ANALYZE, EXPLAIN plans its target and runs nothing: no row is read.
        NodeRef::ExplainStmt(s) => !explain_analyzes(s) || inner(s.query.as_deref()),
        _ => false,
    }
}

/// A SELECT with a constant LIMIT or a filtering WHERE; a set operation with a constant LIMIT
/// of its own, or every arm of which is bounded.
fn select_bounded(s: &pb::SelectStmt) -> bool {
    if constant_limit(s.limit_count.as_deref()) {
        return true;
    }
    if is_set_operation(s) {
        return match (s.larg.as_deref(), s.rarg.as_deref()) {
            (Some(l), Some(r)) => select_bounded(l) && select_bounded(r),
            _ => false,
        };
    }
    filters_rows(s.where_clause.as_deref())
}

fn is_set_operation(s: &pb::SelectStmt) -> bool {
    !matches!(
        pb::SetOperation::try_from(s.op),
        Ok(pb::SetOperation::SetopNone | pb::SetOperation::Undefined) | Err(_)
    )
}

/// `LIMIT 10`, `FETCH FIRST 10 ROWS ONLY`; not `LIMIT ALL` or `LIMIT NULL` (a null constant to
/// the parser), nor an expression, nor `LIMIT $1`: a parameter's value is bound after the
/// statement is decided, and bound to NULL it limits nothing, like `LIMIT NULL`.
fn constant_limit(limit: Option<&pb::Node>) -> bool {
    match limit.and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::AConst(c)) => {
            !c.isnull && matches!(c.val, Some(a_const::Val::Ival(_) | a_const::Val::Fval(_)))
        }
        _ => false,
    }
}

/// Aggregates that return a summary of their rows: a number, a truth value, or (`min`, `max`)
/// one row's value.
const SUMMARIZING: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
];

/// Ordered-set aggregates that summarize (`percentile_disc` and `mode` return one row's
/// value); written with `WITHIN GROUP`.
const ORDERED_SET: &[&str] = &["percentile_cont", "percentile_disc", "mode"];

/// [`super::Statement::aggregates_only`].
pub(super) fn aggregates_only(root: NodeRef<'_>) -> bool {
    let inner = |query: Option<&pb::Node>| {
        query
            .and_then(|q| q.node.as_ref())
            .is_some_and(|q| aggregates_only(q.to_ref()))
    };
    let s = match root {
        NodeRef::SelectStmt(s) => s,
        // The query whose rows the statement returns: a prepared statement's, a cursor's, and
        // the one EXPLAIN plans (or runs, with ANALYZE; it returns the plan either way).
        NodeRef::PrepareStmt(p) => return inner(p.query.as_deref()),
        NodeRef::DeclareCursorStmt(d) => return inner(d.query.as_deref()),
        NodeRef::ExplainStmt(e) => return inner(e.query.as_deref()),
        _ => return false,
    };
    // SELECT … INTO makes a table and returns nothing.
    if s.into_clause.is_some() {
        return false;
    }
    summarizes(s, &row_names(root))
}

/// Every arm of a set operation, or the select list: built of summaries, at least one of them.
fn summarizes(s: &pb::SelectStmt, rows: &HashSet<&str>) -> bool {
    if is_set_operation(s) {
        return match (s.larg.as_deref(), s.rarg.as_deref()) {
            (Some(l), Some(r)) => summarizes(l, rows) && summarizes(r, rows),
            _ => false,
        };
    }
    // GROUP BY returns a row per group, and groups of one row are the rows themselves
    // (`SELECT max(holder) FROM cards GROUP BY id`).
    if !s.values_lists.is_empty() || s.into_clause.is_some() || !s.group_clause.is_empty() {
        return false;
    }
    let mut summary = Summary::default();
    for target in &s.target_list {
        let Some(NodeEnum::ResTarget(rt)) = &target.node else {
            return false;
        };
        match rt.val.as_deref() {
            Some(val) if built_of_summaries(val, rows, &mut summary) => {}
            _ => return false,
        }
    }
    // A query that reads rows returns one row only when it aggregates them itself: a scalar
    // subquery alone is run once per row it reads
    // (`SELECT (SELECT max(a) FROM (SELECT p.id AS a) s) FROM payments p`).
    summary.direct || (summary.nested && s.from_clause.is_empty())
}

/// Which summaries an output list holds.
#[derive(Default)]
struct Summary {
    /// A summarizing aggregate call of this query.
    direct: bool,
    /// A scalar subquery that is aggregates only.
    nested: bool,
}

/// An output expression made only of summarizing aggregate calls, scalar subqueries that are
/// themselves aggregates only, constants, parameters, casts, operators, `CASE`, `COALESCE`,
/// `NULLIF`, `GREATEST` and `LEAST`; `summary` is set when a summary is found.
fn built_of_summaries(node: &pb::Node, rows: &HashSet<&str>, summary: &mut Summary) -> bool {
    let mut each = |nodes: &mut dyn Iterator<Item = Option<&pb::Node>>| {
        for n in nodes.flatten() {
            if !built_of_summaries(n, rows, summary) {
                return false;
            }
        }
        true
    };
    match node.node.as_ref() {
        Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_)) => true,
        Some(NodeEnum::TypeCast(t)) => each(&mut [t.arg.as_deref()].into_iter()),
        Some(NodeEnum::CollateClause(c)) => each(&mut [c.arg.as_deref()].into_iter()),
        // Operators, NULLIF, IN and BETWEEN (whose right side is a list).
        Some(NodeEnum::AExpr(e)) => each(&mut [e.lexpr.as_deref(), e.rexpr.as_deref()].into_iter()),
        Some(NodeEnum::List(l)) => each(&mut l.items.iter().map(Some)),
        Some(NodeEnum::BoolExpr(b)) => each(&mut b.args.iter().map(Some)),
        Some(NodeEnum::NullTest(n)) => each(&mut [n.arg.as_deref()].into_iter()),
        Some(NodeEnum::BooleanTest(b)) => each(&mut [b.arg.as_deref()].into_iter()),
        Some(NodeEnum::CoalesceExpr(c)) => each(&mut c.args.iter().map(Some)),
        Some(NodeEnum::MinMaxExpr(m)) => each(&mut m.args.iter().map(Some)),
        Some(NodeEnum::CaseExpr(c)) => {
            let whens = c.args.iter().flat_map(|w| match &w.node {
                Some(NodeEnum::CaseWhen(w)) => [w.expr.as_deref(), w.result.as_deref()],
                // Not a WHEN arm: a node to refuse.
                _ => [Some(w), None],
            });
            each(
                &mut [c.arg.as_deref(), c.defresult.as_deref()]
                    .into_iter()
                    .chain(whens),
            )
        }
        Some(NodeEnum::FuncCall(f)) => {
            let ok = summarizing_call(f, rows);
            summary.direct |= ok;
            ok
        }
        Some(NodeEnum::SubLink(sub)) => {
            let scalar = pb::SubLinkType::try_from(sub.sub_link_type)
                == Ok(pb::SubLinkType::ExprSublink)
                && sub.testexpr.is_none();
            let ok = scalar
                && match sub.subselect.as_deref().and_then(|q| q.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(q)) => summarizes(q, rows),
                    _ => false,
                };
            summary.nested |= ok;
            ok
        }
        // Column references (raw values, group keys, whole rows), `*`, other functions (set-
        // returning ones included), arrays, rows, subscripts, EXISTS and ARRAY subqueries...
        _ => false,
    }
}

/// A call of a summarizing aggregate of `pg_catalog` (or unqualified), not as a window
/// function, with no window call, `*` or whole-row reference in its arguments, FILTER or
/// ordering.
fn summarizing_call(f: &pb::FuncCall, rows: &HashSet<&str>) -> bool {
    if f.over.is_some() || f.func_variadic {
        return false;
    }
    let parts: Vec<&str> = f
        .funcname
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    if parts.len() != f.funcname.len() {
        return false;
    }
    let name = match parts.as_slice() {
        [name] | ["pg_catalog", name] => *name,
        _ => return false,
    };
    let known = if f.agg_within_group {
        ORDERED_SET.contains(&name)
    } else {
        SUMMARIZING.contains(&name)
    };
    if !known || (f.agg_star && name != "count") {
        return false;
    }
    // An ordered-set aggregate's direct argument is a fraction: one number. An array of them
    // (`percentile_disc('{0, 0.1, …, 1}'::float8[])`) returns a value per fraction, as many rows
    // as it lists; a parameter could be bound to one.
    if f.agg_within_group && !f.args.iter().all(is_number) {
        return false;
    }
    let mut stack = Vec::new();
    children::for_each_child(NodeRef::FuncCall(f), &mut |child| stack.push(child));
    while let Some(node) = stack.pop() {
        match node {
            NodeRef::AStar(_) => return false,
            NodeRef::FuncCall(g) if g.over.is_some() => return false,
            NodeRef::ColumnRef(c) if whole_row(c, rows) => return false,
            _ => {}
        }
        children::for_each_child(node, &mut |child| stack.push(child));
    }
    true
}

/// A numeric constant, possibly negated or cast to a scalar type.
fn is_number(node: &pb::Node) -> bool {
    match &node.node {
        Some(NodeEnum::AConst(c)) => {
            matches!(c.val, Some(a_const::Val::Ival(_) | a_const::Val::Fval(_)))
        }
        Some(NodeEnum::TypeCast(t)) => {
            t.type_name
                .as_ref()
                .is_some_and(|n| n.array_bounds.is_empty())
                && t.arg.as_deref().is_some_and(is_number)
        }
        _ => false,
    }
}

/// A bare name that is also a relation, alias or CTE name of the statement: the whole row.
fn whole_row(c: &pb::ColumnRef, rows: &HashSet<&str>) -> bool {
    match c.fields.as_slice() {
        [field] => {
            matches!(&field.node, Some(NodeEnum::String(s)) if rows.contains(s.sval.as_str()))
        }
        _ => false,
    }
}

/// Relation names, aliases and CTE names anywhere in the statement.
fn row_names(root: NodeRef<'_>) -> HashSet<&str> {
    let mut names = HashSet::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        match node {
            NodeRef::RangeVar(rv) => {
                names.insert(rv.relname.as_str());
            }
            NodeRef::Alias(a) => {
                names.insert(a.aliasname.as_str());
            }
            NodeRef::CommonTableExpr(c) => {
                names.insert(c.ctename.as_str());
            }
            _ => {}
        }
        children::for_each_child(node, &mut |child| stack.push(child));
    }
    names
}
