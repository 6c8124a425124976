//! The shape of a statement's result, read from its tree: whether an EXPLAIN runs its target,
//! and whether the query that returns or reads rows is bounded ([`Statement::bounded`]).
//!
//! [`Statement::bounded`]: super::Statement::bounded

use pg_query::protobuf::{self as pb, a_const};
use pg_query::{NodeEnum, NodeRef};

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
