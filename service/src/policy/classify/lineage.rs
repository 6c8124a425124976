//! Column lineage: where each value a statement computes comes from, and what it does with it.
//!
//! Every column reference is resolved, through table and column aliases, subqueries, CTEs,
//! joins, set operations and `VALUES` lists, to the columns of the relations the statement names
//! ([`Source`]). Every use of such a value other than handing it to the client untouched is a
//! [`Flow`]: a function, an operator, a cast, a comparison, an ordering, a condition, or a copy
//! into another object. The analysis knows nothing of configuration: whether a flow is allowed
//! is decided by [`crate::policy::card_data`], which knows which columns hold card data and
//! can look names up in the upstream's catalog (a view is resolved there, through its
//! definition, with [`analyze_sql`]).
//!
//! The analysis over-approximates where it cannot be exact, never the other way: a column name
//! that might belong to several relations in scope (no catalog is read here) is attributed to
//! all of them, outer scopes included; a column renamed by position (`cards AS c(i, p)`) is
//! [`Column::Position`]; a node this module does not know passes every value under it into a
//! [`Use::Derived`] flow. What is *not* followed: values passed through a user function's
//! body, a trigger, or a prepared statement (`EXECUTE` is decided at its `PREPARE`).

use std::collections::BTreeSet;
use std::rc::Rc;

use pg_query::protobuf::{self as pb, a_const};
use pg_query::{NodeEnum, NodeRef};

use super::{ObjectName, StatementKind, children, kind, shape};

/// The column a value comes from, as the statement names it (possibly a view's column).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Source {
    /// `None` when the relation could not be told: a qualifier that names nothing in scope
    /// (`NEW.pan` in a rule action), or a column of an unknown relation.
    pub relation: Option<ObjectName>,
    pub column: Column,
}

/// Which column of a relation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Column {
    Name(String),
    /// 1-based, as renamed by a column alias list (`FROM cards AS c(i, p)`: `p` is 2).
    Position(u32),
    /// Every column: a whole-row reference (`SELECT c`, `row_to_json(c)`) or `*` into a copy.
    All,
}

/// One use of values from `sources` that is not "sent to the client as they are".
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Flow {
    pub sources: Vec<Source>,
    pub usage: Use,
}

/// What a statement does with a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Use {
    /// Revealed only in part, through a derivation on the short allow-list.
    Reveals(Reveal),
    /// Transformed, compared, ordered or tested in any other way (`reverse()`, `||`, `LIKE`,
    /// `::money`, `ORDER BY`, a condition): the words say how.
    Derived(String),
    /// Copied into something that outlives the statement or leaves the database.
    Stored(Store),
    /// A new relation or column of this name (CREATE TABLE, ADD COLUMN, a rename): were it
    /// named like a card-data column, copies into it would be allowed, and a table the
    /// session creates can carry triggers, rules and casts that send its rows anywhere.
    Defines,
    /// `t.name` where `t` is a relation: its column `name` if it has one, else function-call
    /// notation, `name(t)`, on the whole row (`c.row_to_json`, `c.leak` for a function that
    /// takes the table's row type). Only the catalog can tell; the sources are whole rows.
    RowFunction(String),
}

/// The derivations that reveal no more than PCI DSS 3.4.1 allows of a card number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Reveal {
    /// The first `n` characters (`left(x, n)`, `substr(x, 1, n)`).
    Leading(u8),
    /// The last `n` characters (`right(x, n)`).
    Trailing(u8),
    /// `length(x)` and its siblings.
    Length,
    /// `count(x)` (not `count(DISTINCT x)`, which compares rows).
    Count,
    /// `x = <constant or parameter>`, `x <> ...`, `x IN (<at most MAX_IN_LIST constants>)`,
    /// `x IS [NOT] DISTINCT FROM <constant>`, `CASE x WHEN <constant>`. Not grouping,
    /// DISTINCT, PARTITION BY, USING/NATURAL joins or set operations: they compare rows with
    /// one another, and rows may be guesses.
    Equality,
}

/// Where a stored value goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Store {
    /// A column of an existing relation (INSERT, UPDATE, MERGE, ON CONFLICT).
    Column(Source),
    /// A new object: CREATE TABLE AS, SELECT INTO, a view or materialized view.
    NewObject(ObjectName),
    /// Out of the database: COPY ... TO.
    CopyOut,
    /// Into a body that runs later (a rule action, a SQL-standard function body) or a context
    /// the analysis does not model.
    Body,
}

/// The lineage of one statement.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lineage {
    /// Sorted and free of duplicates.
    pub flows: Vec<Flow>,
    /// The output columns of the statement's query (SELECT list, VALUES, RETURNING), in order,
    /// when they can be told; what a view defined by this query exposes.
    pub outputs: Vec<Output>,
    /// Whether `outputs` lists every column (no `*` of unknown width in it).
    pub outputs_exact: bool,
    /// The kind of the query `outputs` are the rows of: the statement itself (SELECT, or DML
    /// with RETURNING), or the query a PREPARE (at its EXECUTE), a DECLARE CURSOR (at its
    /// FETCH) or an EXPLAIN ANALYZE runs. `None` when the statement returns no query's rows:
    /// an EXPLAIN without ANALYZE (it plans its target and runs nothing: its flows are still
    /// listed, since the planner estimates them from statistics that hold sampled values),
    /// CREATE TABLE AS, views, COPY, and every other kind.
    pub query_kind: Option<StatementKind>,
}

/// One output column and where its value comes from (sent as is).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Output {
    pub name: Option<String>,
    pub sources: Vec<Source>,
}

/// Why grouping, DISTINCT, set operations and joins on a column are not equality tests.
const ROWS_WHY: &str = "compares rows with one another, and the session may add rows of guesses";

/// A WITH RECURSIVE list is analysed at most this many times over before every column of it
/// is taken to hold anything any of them holds.
const MAX_RECURSIVE_PASSES: usize = 16;

/// An `IN (...)` list longer than this is a batch of guesses, not an equality test.
pub const MAX_IN_LIST: usize = 32;

/// The lineage of one parsed statement.
pub(super) fn of_statement(root: NodeRef<'_>) -> Lineage {
    let mut a = Analysis::default();
    let outputs = a.statement(root);
    a.finish(outputs)
}

/// Parses `sql` (a view's definition, as `pg_get_viewdef` prints it) and returns the lineage
/// of its one statement.
pub fn analyze_sql(sql: &str) -> Result<Lineage, String> {
    // Through the classifier's one lock: libpg_query swaps the process's stderr while it parses.
    let parsed =
        super::parser::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    let mut stmts = parsed.protobuf.stmts.iter();
    let (Some(raw), None) = (stmts.next(), stmts.next()) else {
        return Err("a view definition is one statement".into());
    };
    let Some(root) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
        return Err("an empty statement".into());
    };
    Ok(of_statement(root.to_ref()))
}

type Sources = BTreeSet<Source>;

/// One column of a query's output.
#[derive(Clone, Debug)]
enum Col {
    One {
        name: Option<String>,
        sources: Sources,
    },
    /// `*` or `t.*`: every column of a FROM item, of a width not known here.
    Expand(Rc<Item>),
    /// Columns of unknown number and names, each of which may carry any of these sources
    /// (set operations of different shapes, functions in FROM).
    Any(Sources),
}

/// A FROM item (or CTE) in scope.
#[derive(Debug)]
struct Item {
    /// The name it is referred to by: its alias, else the relation's or CTE's name.
    name: Option<String>,
    /// For a relation: its schema-qualified name, matched by `schema.table.column` refs.
    relation: Option<ObjectName>,
    /// Column aliases (`AS c(i, p)`), renaming the first columns.
    colnames: Vec<String>,
    shape: Shape,
}

#[derive(Debug)]
enum Shape {
    /// A relation: its columns are not known here.
    Relation(ObjectName),
    /// A subquery, CTE, VALUES list or aliased join: its output columns.
    Query(Vec<Col>),
}

#[derive(Default)]
struct Scope {
    items: Vec<Rc<Item>>,
    ctes: Vec<Rc<Item>>,
}

#[derive(Default)]
struct Analysis {
    flows: BTreeSet<Flow>,
    /// [`Lineage::query_kind`].
    query_kind: Option<StatementKind>,
    /// Per source, how many values the statement tests it for equality with: past
    /// MAX_IN_LIST, however written (`OR` chains, `CASE` arms, subqueries), a batch of guesses.
    equalities: std::collections::BTreeMap<Source, usize>,
    /// Innermost last.
    scopes: Vec<Scope>,
}

impl Analysis {
    fn finish(mut self, outputs: Option<Vec<Col>>) -> Lineage {
        let batch: Sources = self
            .equalities
            .iter()
            .filter(|(_, n)| **n > MAX_IN_LIST)
            .map(|(s, _)| s.clone())
            .collect();
        self.derived(
            &batch,
            format!("more than {MAX_IN_LIST} equality tests in one statement (a batch of guesses)"),
        );
        let (outputs, outputs_exact) = match outputs {
            Some(cols) => {
                let exact = cols.iter().all(|c| matches!(c, Col::One { .. }));
                let outputs = cols
                    .iter()
                    .map(|c| match c {
                        Col::One { name, sources } => Output {
                            name: name.clone(),
                            sources: sources.iter().cloned().collect(),
                        },
                        Col::Expand(item) => Output {
                            name: None,
                            sources: all_of(item).into_iter().collect(),
                        },
                        Col::Any(sources) => Output {
                            name: None,
                            sources: sources.iter().cloned().collect(),
                        },
                    })
                    .collect();
                (outputs, exact)
            }
            None => (Vec::new(), false),
        };
        Lineage {
            flows: self.flows.into_iter().collect(),
            outputs,
            outputs_exact,
            query_kind: self.query_kind,
        }
    }

    fn flow(&mut self, sources: &Sources, usage: Use) {
        if !sources.is_empty() {
            self.flows.insert(Flow {
                sources: sources.iter().cloned().collect(),
                usage,
            });
        }
    }

    /// An equality test of `sources` against `values` constants or parameters.
    fn equality(&mut self, sources: &Sources, values: usize) {
        for s in sources {
            *self.equalities.entry(s.clone()).or_default() += values;
        }
        self.flow(sources, Use::Reveals(Reveal::Equality));
    }

    fn derived(&mut self, sources: &Sources, how: impl Into<String>) {
        if !sources.is_empty() {
            self.flow(sources, Use::Derived(how.into()));
        }
    }

    /// A top-level statement; returns its query's outputs where it has them (they go to the
    /// client, untouched).
    fn statement(&mut self, root: NodeRef<'_>) -> Option<Vec<Col>> {
        match root {
            _ if shadowing_name(root).is_some() => {
                // A function, aggregate, type or collation named like one the allow-list
                // trusts would be used instead of it wherever the session's search_path puts
                // its schema first, or wherever it matches the argument types better
                // (`count(text)` beats the built-in `count("any")` whatever the path).
                let name = shadowing_name(root).unwrap_or_default();
                self.flow(
                    &unknown_all(),
                    Use::Derived(format!(
                        "a new object named {name}, like a built-in the card-data allow-list \
                         trusts"
                    )),
                );
                self.generic(root);
                None
            }
            NodeRef::SelectStmt(_)
            | NodeRef::InsertStmt(_)
            | NodeRef::UpdateStmt(_)
            | NodeRef::DeleteStmt(_)
            | NodeRef::MergeStmt(_) => {
                let cols = self.query(root);
                if matches!(root, NodeRef::SelectStmt(s) if s.into_clause.is_some()) {
                    // SELECT … INTO: the rows go into a new table (a flow), as with CREATE
                    // TABLE AS; none is returned.
                    return None;
                }
                self.query_kind = kind::of(root);
                Some(cols)
            }
            NodeRef::ExplainStmt(s) => {
                let outputs = s.query.as_deref().and_then(|q| self.statement_node(q));
                if shape::explain_analyzes(s) {
                    outputs
                } else {
                    // Planned, not run: no row of it is read or returned. What it would do
                    // with values stays listed: the planner estimates conditions from the
                    // columns' statistics, which hold sampled values.
                    self.query_kind = None;
                    None
                }
            }
            NodeRef::PrepareStmt(s) => s.query.as_deref().and_then(|q| self.statement_node(q)),
            NodeRef::DeclareCursorStmt(s) => {
                s.query.as_deref().and_then(|q| self.statement_node(q))
            }
            NodeRef::CreateTableAsStmt(s) => {
                let target = s
                    .into
                    .as_ref()
                    .and_then(|i| i.rel.as_ref())
                    .map(relation)
                    .unwrap_or_else(unnamed);
                match s.query.as_deref().and_then(|q| q.node.as_ref()) {
                    Some(NodeEnum::ExecuteStmt(_)) => {
                        // `CREATE TABLE t AS EXECUTE p`: what p returns is decided at its
                        // PREPARE, not here; it may be any column.
                        let any = Sources::from([Source {
                            relation: None,
                            column: Column::All,
                        }]);
                        self.flow(&any, Use::Stored(Store::NewObject(target)));
                    }
                    Some(q) => {
                        let cols = self.query(q.to_ref());
                        let names = s.into.as_ref().map(|i| &i.col_names[..]).unwrap_or(&[]);
                        self.define_columns(&target, names, &cols);
                        self.store_all(&cols, &Store::NewObject(target));
                    }
                    None => {}
                }
                None
            }
            NodeRef::ViewStmt(s) => {
                if let Some(q) = s.query.as_deref().and_then(|q| q.node.as_ref()) {
                    let target = s.view.as_ref().map(relation).unwrap_or_else(unnamed);
                    let cols = self.query(q.to_ref());
                    self.define_columns(&target, &s.aliases, &cols);
                    self.store_all(&cols, &Store::NewObject(target));
                }
                None
            }
            NodeRef::CopyStmt(s) => {
                if s.is_from {
                    // Rows come in; a WHERE filters them before they are stored.
                    self.with_relation_scope(s.relation.as_ref(), |a| {
                        if let Some(w) = s.where_clause.as_deref() {
                            let v = a.expr(w);
                            a.derived(&v, "a COPY ... WHERE condition");
                        }
                    });
                } else if let Some(rv) = &s.relation {
                    let rel = relation(rv);
                    let sources: Sources = if s.attlist.is_empty() {
                        Sources::from([Source {
                            relation: Some(rel),
                            column: Column::All,
                        }])
                    } else {
                        s.attlist
                            .iter()
                            .filter_map(string)
                            .map(|c| Source {
                                relation: Some(rel.clone()),
                                column: Column::Name(c.to_owned()),
                            })
                            .collect()
                    };
                    self.flow(&sources, Use::Stored(Store::CopyOut));
                } else if let Some(q) = s.query.as_deref().and_then(|q| q.node.as_ref()) {
                    let cols = self.query(q.to_ref());
                    self.store_all(&cols, &Store::CopyOut);
                }
                None
            }
            NodeRef::IndexStmt(s) => {
                self.with_relation_scope(s.relation.as_ref(), |a| {
                    for param in s.index_params.iter().chain(&s.index_including_params) {
                        if let Some(NodeEnum::IndexElem(e)) = &param.node
                            && let Some(expr) = e.expr.as_deref()
                        {
                            // ANALYZE keeps statistics of index expressions: their values
                            // become readable in pg_stats.
                            let v = a.expr(expr);
                            a.derived(&v, "an index expression");
                        }
                    }
                    if let Some(w) = s.where_clause.as_deref() {
                        let v = a.expr(w);
                        a.derived(&v, "a partial index condition");
                    }
                });
                None
            }
            NodeRef::ExecuteStmt(_) => None,
            NodeRef::CreateStmt(c) => {
                if let Some(rv) = &c.relation {
                    let rel = relation(rv);
                    let mut defined = Sources::new();
                    for elt in &c.table_elts {
                        match &elt.node {
                            Some(NodeEnum::ColumnDef(d)) => {
                                defined.insert(named(&rel, &d.colname));
                            }
                            Some(NodeEnum::TableLikeClause(_)) => {
                                defined.insert(all_columns(&rel));
                            }
                            _ => {}
                        }
                    }
                    if !c.inh_relations.is_empty() || c.of_typename.is_some() {
                        // Columns of another relation or type: names not known here.
                        defined.insert(all_columns(&rel));
                    }
                    self.flow(&defined, Use::Defines);
                }
                self.generic(root);
                None
            }
            NodeRef::AlterTableStmt(a) => {
                if let Some(rv) = &a.relation {
                    let rel = relation(rv);
                    let defined: Sources = a
                        .cmds
                        .iter()
                        .filter_map(|c| match &c.node {
                            Some(NodeEnum::AlterTableCmd(c)) => match c.def.as_deref() {
                                Some(pb::Node {
                                    node: Some(NodeEnum::ColumnDef(d)),
                                }) => Some(named(&rel, &d.colname)),
                                _ => None,
                            },
                            _ => None,
                        })
                        .collect();
                    self.flow(&defined, Use::Defines);
                }
                self.generic(root);
                None
            }
            NodeRef::RenameStmt(r) => {
                if let Some(rv) = &r.relation {
                    let rel = relation(rv);
                    let kind = pb::ObjectType::try_from(r.rename_type)
                        .unwrap_or(pb::ObjectType::Undefined);
                    let defined = match kind {
                        pb::ObjectType::ObjectColumn => named(&rel, &r.newname),
                        pb::ObjectType::ObjectTable
                        | pb::ObjectType::ObjectView
                        | pb::ObjectType::ObjectMatview
                        | pb::ObjectType::ObjectForeignTable => all_columns(&ObjectName {
                            schema: rel.schema.clone(),
                            name: r.newname.clone(),
                        }),
                        _ => {
                            self.generic(root);
                            return None;
                        }
                    };
                    self.flow(&Sources::from([defined]), Use::Defines);
                }
                self.generic(root);
                None
            }
            NodeRef::DefineStmt(d)
                if pb::ObjectType::try_from(d.kind) == Ok(pb::ObjectType::ObjectOperator) =>
            {
                // An operator named like `=` in a schema searched first would take the place
                // of the equality test the allow-list trusts; any operator may shadow another.
                self.flow(&unknown_all(), Use::Derived("a new operator".into()));
                self.generic(root);
                None
            }
            other => {
                self.generic(other);
                None
            }
        }
    }

    /// Any other statement: expressions in it (defaults, generated columns, checks, policies,
    /// rule actions, SQL-standard function bodies) are read in the scope of the relation it is
    /// about; every value under them is derived.
    fn generic(&mut self, node: NodeRef<'_>) {
        let rel = statement_relation(node);
        let row_names = matches!(node, NodeRef::RuleStmt(_) | NodeRef::CreateTrigStmt(_));
        self.with_relation_scope(rel, |a| {
            if row_names && let Some(rv) = rel {
                // NEW and OLD are whole rows of the relation: `NEW::text` is every column.
                for name in ["new", "old"] {
                    a.scope().items.push(Rc::new(Item {
                        name: Some(name.into()),
                        relation: Some(relation(rv)),
                        colnames: Vec::new(),
                        shape: Shape::Relation(relation(rv)),
                    }));
                }
            }
            children::for_each_child(node, &mut |child| {
                let v = a.expr_node(child);
                a.derived(&v, "an expression in a definition");
            });
        });
    }

    fn statement_node(&mut self, node: &pb::Node) -> Option<Vec<Col>> {
        node.node.as_ref().and_then(|n| self.statement(n.to_ref()))
    }

    /// The columns of a new relation made from a query: named by `names` (a column alias
    /// list), else by the query's outputs.
    fn define_columns(&mut self, target: &ObjectName, names: &[pb::Node], cols: &[Col]) {
        let mut defined = Sources::new();
        let mut aliases = names.iter().filter_map(string);
        for col in cols {
            match (aliases.next(), col) {
                (Some(name), _) => defined.insert(named(target, name)),
                (None, Col::One { name: Some(n), .. }) => defined.insert(named(target, n)),
                (None, _) => defined.insert(all_columns(target)),
            };
        }
        self.flow(&defined, Use::Defines);
    }

    fn store_all(&mut self, cols: &[Col], to: &Store) {
        let all: Sources = cols.iter().flat_map(col_sources).collect();
        self.flow(&all, Use::Stored(to.clone()));
    }

    fn with_relation_scope(&mut self, rv: Option<&pb::RangeVar>, f: impl FnOnce(&mut Analysis)) {
        let mut scope = Scope::default();
        if let Some(rv) = rv {
            scope.items.push(relation_item(rv));
        }
        self.scopes.push(scope);
        f(self);
        self.scopes.pop();
    }

    /// A query (SELECT, VALUES, set operation, or DML with RETURNING) in a new scope level;
    /// returns its output columns.
    fn query(&mut self, node: NodeRef<'_>) -> Vec<Col> {
        self.scopes.push(Scope::default());
        let cols = match node {
            NodeRef::SelectStmt(s) => self.select(s),
            NodeRef::InsertStmt(s) => self.insert(s),
            NodeRef::UpdateStmt(s) => self.update(s),
            NodeRef::DeleteStmt(s) => self.delete(s),
            NodeRef::MergeStmt(s) => self.merge(s),
            other => {
                let v = self.expr_node(other);
                vec![Col::Any(v)]
            }
        };
        self.scopes.pop();
        cols
    }

    fn query_node(&mut self, node: &pb::Node) -> Vec<Col> {
        match node.node.as_ref() {
            Some(n) => self.query(n.to_ref()),
            None => Vec::new(),
        }
    }

    fn with_clause(&mut self, with: Option<&pb::WithClause>) {
        let Some(with) = with else { return };
        let ctes: Vec<&pb::CommonTableExpr> = with
            .ctes
            .iter()
            .filter_map(|c| match &c.node {
                Some(NodeEnum::CommonTableExpr(cte)) => Some(&**cte),
                _ => None,
            })
            .collect();
        let item = |cte: &pb::CommonTableExpr, cols: Vec<Col>| {
            Rc::new(Item {
                name: Some(cte.ctename.clone()),
                relation: None,
                colnames: cte
                    .aliascolnames
                    .iter()
                    .filter_map(string)
                    .map(str::to_owned)
                    .collect(),
                shape: Shape::Query(cols),
            })
        };
        if !with.recursive {
            for cte in ctes {
                let cols = cte
                    .ctequery
                    .as_deref()
                    .map(|b| self.query_node(b))
                    .unwrap_or_default();
                let it = item(cte, cols);
                self.scope().ctes.push(it);
            }
            return;
        }
        // WITH RECURSIVE: every CTE may read itself and any other of the list, later ones
        // included, through any number of iterations (`SELECT c, a, b FROM r` rotates a value
        // through the columns one step per iteration). Passes start from empty CTEs and
        // repeat until no column gains a source.
        let mut cols: Vec<Vec<Col>> = ctes.iter().map(|_| Vec::new()).collect();
        let mut converged = false;
        for _ in 0..MAX_RECURSIVE_PASSES {
            let level = self.scope().ctes.len();
            for (cte, c) in ctes.iter().zip(&cols) {
                let it = item(cte, c.clone());
                self.scope().ctes.push(it);
            }
            let next: Vec<Vec<Col>> = ctes
                .iter()
                .map(|cte| {
                    cte.ctequery
                        .as_deref()
                        .map(|b| self.query_node(b))
                        .unwrap_or_default()
                })
                .collect();
            self.scope().ctes.truncate(level);
            let shape = |all: &[Vec<Col>]| -> Vec<Vec<Sources>> {
                all.iter()
                    .map(|c| c.iter().map(col_sources).collect())
                    .collect()
            };
            converged = shape(&next) == shape(&cols);
            cols = next;
            if converged {
                break;
            }
        }
        if !converged {
            // Every column may hold anything any of them holds.
            let all: Sources = cols.iter().flatten().flat_map(col_sources).collect();
            for c in &mut cols {
                *c = vec![Col::Any(all.clone())];
            }
        }
        for (cte, c) in ctes.iter().zip(cols) {
            let it = item(cte, c);
            self.scope().ctes.push(it);
        }
    }

    fn scope(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    fn select(&mut self, s: &pb::SelectStmt) -> Vec<Col> {
        self.with_clause(s.with_clause.as_ref());
        let op = pb::SetOperation::try_from(s.op).unwrap_or(pb::SetOperation::SetopNone);
        let cols = if !matches!(
            op,
            pb::SetOperation::SetopNone | pb::SetOperation::Undefined
        ) {
            let left = s
                .larg
                .as_deref()
                .map(|l| self.query(NodeRef::SelectStmt(l)))
                .unwrap_or_default();
            let right = s
                .rarg
                .as_deref()
                .map(|r| self.query(NodeRef::SelectStmt(r)))
                .unwrap_or_default();
            if op != pb::SetOperation::SetopUnion || !s.all {
                // UNION (without ALL), INTERSECT and EXCEPT compare the rows of both sides.
                let all: Sources = left.iter().chain(&right).flat_map(col_sources).collect();
                let how = match op {
                    pb::SetOperation::SetopIntersect => "INTERSECT",
                    pb::SetOperation::SetopExcept => "EXCEPT",
                    _ => "UNION",
                };
                self.derived(&all, format!("{how}, which {ROWS_WHY}"));
            }
            set_operation(left, right)
        } else if !s.values_lists.is_empty() {
            let mut columns: Vec<Sources> = Vec::new();
            for row in &s.values_lists {
                let Some(NodeEnum::List(list)) = &row.node else {
                    continue;
                };
                for (i, e) in list.items.iter().enumerate() {
                    let v = self.expr(e);
                    if columns.len() <= i {
                        columns.resize(i + 1, Sources::new());
                    }
                    columns[i].extend(v);
                }
            }
            columns
                .into_iter()
                .enumerate()
                .map(|(i, sources)| Col::One {
                    name: Some(format!("column{}", i + 1)),
                    sources,
                })
                .collect()
        } else {
            for item in &s.from_clause {
                let item = self.range_item(item);
                self.scope().items.extend(item);
            }
            if let Some(w) = s.where_clause.as_deref() {
                let v = self.expr(w);
                self.derived(&v, "a WHERE condition");
            }
            if let Some(h) = s.having_clause.as_deref() {
                let v = self.expr(h);
                self.derived(&v, "a HAVING condition");
            }
            for w in &s.window_clause {
                if let Some(NodeEnum::WindowDef(w)) = &w.node {
                    self.window(w);
                }
            }
            let cols = self.target_list(&s.target_list);
            for g in &s.group_clause {
                // Grouping compares rows with one another, not with one value the client
                // chose: rows of guesses (inserted into the card table, or a UNION ALL of a
                // VALUES list) would be grouped with the card that matches.
                // An output column's name or position (`GROUP BY 1`, `GROUP BY k` of `pan AS k`)
                // or an expression.
                let v = self.group_ref(g, &cols);
                self.derived(&v, format!("GROUP BY, which {ROWS_WHY}"));
            }
            if s.distinct_clause.iter().any(|d| d.node.is_none()) {
                // Plain DISTINCT: every output column.
                let all: Sources = cols.iter().flat_map(col_sources).collect();
                self.derived(&all, format!("DISTINCT, which {ROWS_WHY}"));
            }
            for d in &s.distinct_clause {
                let v = self.order_or_group_ref(d, &cols);
                self.derived(&v, format!("DISTINCT, which {ROWS_WHY}"));
            }
            if s.into_clause.is_some() {
                let target = s
                    .into_clause
                    .as_ref()
                    .and_then(|i| i.rel.as_ref())
                    .map(relation)
                    .unwrap_or_else(unnamed);
                let names = s
                    .into_clause
                    .as_ref()
                    .map(|i| &i.col_names[..])
                    .unwrap_or(&[]);
                self.define_columns(&target, names, &cols);
                self.store_all(&cols, &Store::NewObject(target));
            }
            cols
        };
        for n in sorted_by(&s.sort_clause) {
            let v = self.order_or_group_ref(n, &cols);
            self.derived(&v, "ORDER BY");
        }
        self.derive_each(
            [s.limit_count.as_deref(), s.limit_offset.as_deref()],
            "LIMIT or OFFSET",
        );
        cols
    }

    /// A GROUP BY item: as an ORDER BY item, also inside ROLLUP, CUBE and GROUPING SETS.
    fn group_ref(&mut self, node: &pb::Node, cols: &[Col]) -> Sources {
        match &node.node {
            Some(NodeEnum::GroupingSet(g)) => {
                let mut v = Sources::new();
                for c in &g.content {
                    v.extend(self.group_ref(c, cols));
                }
                v
            }
            Some(NodeEnum::RowExpr(r)) => {
                let mut v = Sources::new();
                for c in &r.args {
                    v.extend(self.group_ref(c, cols));
                }
                v
            }
            _ => self.order_or_group_ref(node, cols),
        }
    }

    /// An ORDER BY / DISTINCT ON item: an output column's name or position, or an expression.
    fn order_or_group_ref(&mut self, node: &pb::Node, cols: &[Col]) -> Sources {
        let mut v = Sources::new();
        match &node.node {
            Some(NodeEnum::AConst(c)) => {
                if let Some(a_const::Val::Ival(i)) = &c.val
                    && let Ok(k) = usize::try_from(i.ival)
                    && k >= 1
                {
                    v.extend(position_in(cols, k));
                }
            }
            Some(NodeEnum::ColumnRef(c)) if c.fields.len() == 1 => {
                if let Some(name) = c.fields.first().and_then(string) {
                    v.extend(name_in(cols, name).unwrap_or_default());
                }
                v.extend(self.expr(node));
            }
            _ => v.extend(self.expr(node)),
        }
        v
    }

    fn window(&mut self, w: &pb::WindowDef) {
        for p in &w.partition_clause {
            let v = self.expr(p);
            self.derived(&v, format!("PARTITION BY, which {ROWS_WHY}"));
        }
        self.derive_each(sorted_by(&w.order_clause).map(Some), "a window's ORDER BY");
        self.derive_each(
            [w.start_offset.as_deref(), w.end_offset.as_deref()],
            "a window frame",
        );
    }

    fn target_list(&mut self, targets: &[pb::Node]) -> Vec<Col> {
        let mut cols = Vec::new();
        for t in targets {
            let Some(NodeEnum::ResTarget(rt)) = &t.node else {
                continue;
            };
            let Some(val) = rt.val.as_deref() else {
                continue;
            };
            if let Some(NodeEnum::ColumnRef(c)) = &val.node
                && c.fields
                    .last()
                    .is_some_and(|f| matches!(f.node, Some(NodeEnum::AStar(_))))
            {
                cols.extend(self.star(c));
                continue;
            }
            let sources = self.expr(val);
            let name = if rt.name.is_empty() {
                implicit_name(val)
            } else {
                Some(rt.name.clone())
            };
            cols.push(Col::One { name, sources });
        }
        cols
    }

    /// `*` or `t.*` in a select list.
    fn star(&mut self, c: &pb::ColumnRef) -> Vec<Col> {
        let parts: Vec<&str> = c.fields.iter().filter_map(string).collect();
        if parts.is_empty() {
            let items = self
                .scopes
                .last()
                .map(|s| s.items.clone())
                .unwrap_or_default();
            return items.into_iter().map(Col::Expand).collect();
        }
        match self.find_item(&parts) {
            Some(item) => vec![Col::Expand(item)],
            None => vec![Col::Any(unknown_all())],
        }
    }

    fn returning(&mut self, r: Option<&pb::ReturningClause>) -> Vec<Col> {
        r.map(|r| self.target_list(&r.exprs)).unwrap_or_default()
    }

    fn target_item(&mut self, rv: Option<&pb::RangeVar>) -> Option<ObjectName> {
        let rv = rv?;
        self.scope().items.push(relation_item(rv));
        Some(relation(rv))
    }

    fn insert(&mut self, s: &pb::InsertStmt) -> Vec<Col> {
        self.with_clause(s.with_clause.as_ref());
        let target = s.relation.as_ref().map(relation);
        let columns = target_columns(&s.cols);
        if let Some(q) = s.select_stmt.as_deref() {
            let cols = self.query_node(q);
            self.store_positional(target.as_ref(), &columns, &cols);
        }
        // ON CONFLICT and RETURNING see the target (and EXCLUDED, the proposed row).
        if let Some(rv) = &s.relation {
            self.scope().items.push(relation_item(rv));
            self.scope().items.push(Rc::new(Item {
                name: Some("excluded".into()),
                relation: Some(relation(rv)),
                colnames: Vec::new(),
                shape: Shape::Relation(relation(rv)),
            }));
        }
        if let Some(oc) = s.on_conflict_clause.as_deref() {
            self.set_list(target.as_ref(), &oc.target_list);
            if let Some(w) = oc.where_clause.as_deref() {
                let v = self.expr(w);
                self.derived(&v, "an ON CONFLICT condition");
            }
            if let Some(infer) = oc.infer.as_deref() {
                for e in &infer.index_elems {
                    let v = self.expr_node_opt(e);
                    self.derived(&v, "an ON CONFLICT target");
                }
            }
        }
        self.returning(s.returning_clause.as_ref())
    }

    fn store_positional(&mut self, target: Option<&ObjectName>, columns: &[Column], cols: &[Col]) {
        let mut position = 0usize;
        for col in cols {
            match col {
                Col::One { sources, .. } => {
                    let column = columns.get(position).cloned().unwrap_or(Column::Position(
                        u32::try_from(position + 1).unwrap_or(u32::MAX),
                    ));
                    self.flow(
                        sources,
                        Use::Stored(Store::Column(Source {
                            relation: target.cloned(),
                            column,
                        })),
                    );
                    position += 1;
                }
                other => {
                    // Of unknown width: whatever it holds may land in any column.
                    let sources = col_sources(other);
                    self.flow(
                        &sources,
                        Use::Stored(Store::Column(Source {
                            relation: target.cloned(),
                            column: Column::All,
                        })),
                    );
                    position = usize::MAX / 2;
                }
            }
        }
    }

    /// `SET col = expr, (a, b) = (...)`.
    fn set_list(&mut self, target: Option<&ObjectName>, list: &[pb::Node]) {
        for t in list {
            let Some(NodeEnum::ResTarget(rt)) = &t.node else {
                continue;
            };
            let Some(val) = rt.val.as_deref() else {
                continue;
            };
            let sources = match &val.node {
                Some(NodeEnum::MultiAssignRef(m)) => self.expr_opt(m.source.as_deref()),
                _ => self.expr(val),
            };
            let column = if rt.indirection.is_empty() {
                Column::Name(rt.name.clone())
            } else {
                // `SET col[1] = ...`, `SET col.field = ...`: part of the column.
                Column::Name(rt.name.clone())
            };
            self.flow(
                &sources,
                Use::Stored(Store::Column(Source {
                    relation: target.cloned(),
                    column,
                })),
            );
        }
    }

    fn update(&mut self, s: &pb::UpdateStmt) -> Vec<Col> {
        self.with_clause(s.with_clause.as_ref());
        let target = self.target_item(s.relation.as_ref());
        for item in &s.from_clause {
            let item = self.range_item(item);
            self.scope().items.extend(item);
        }
        self.set_list(target.as_ref(), &s.target_list);
        if let Some(w) = s.where_clause.as_deref() {
            let v = self.expr(w);
            self.derived(&v, "a WHERE condition");
        }
        self.returning(s.returning_clause.as_ref())
    }

    fn delete(&mut self, s: &pb::DeleteStmt) -> Vec<Col> {
        self.with_clause(s.with_clause.as_ref());
        self.target_item(s.relation.as_ref());
        for item in &s.using_clause {
            let item = self.range_item(item);
            self.scope().items.extend(item);
        }
        if let Some(w) = s.where_clause.as_deref() {
            let v = self.expr(w);
            self.derived(&v, "a WHERE condition");
        }
        self.returning(s.returning_clause.as_ref())
    }

    fn merge(&mut self, s: &pb::MergeStmt) -> Vec<Col> {
        self.with_clause(s.with_clause.as_ref());
        let target = self.target_item(s.relation.as_ref());
        if let Some(src) = s.source_relation.as_deref() {
            let item = self.range_item(src);
            self.scope().items.extend(item);
        }
        if let Some(on) = s.join_condition.as_deref() {
            let v = self.expr(on);
            self.derived(&v, "a MERGE ... ON condition");
        }
        for when in &s.merge_when_clauses {
            let Some(NodeEnum::MergeWhenClause(w)) = &when.node else {
                continue;
            };
            if let Some(c) = w.condition.as_deref() {
                let v = self.expr(c);
                self.derived(&v, "a MERGE ... WHEN condition");
            }
            if w.values.is_empty() {
                self.set_list(target.as_ref(), &w.target_list);
            } else {
                let columns = target_columns(&w.target_list);
                let cols: Vec<Col> = w
                    .values
                    .iter()
                    .map(|v| Col::One {
                        name: None,
                        sources: self.expr(v),
                    })
                    .collect();
                self.store_positional(target.as_ref(), &columns, &cols);
            }
        }
        self.returning(s.returning_clause.as_ref())
    }

    /// A FROM item; joins without an alias put both sides in scope.
    fn range_item(&mut self, node: &pb::Node) -> Vec<Rc<Item>> {
        match &node.node {
            Some(NodeEnum::RangeVar(rv)) => {
                let unqualified = rv.schemaname.is_empty() && rv.catalogname.is_empty();
                if unqualified && let Some(cte) = self.find_cte(&rv.relname) {
                    let alias = rv.alias.as_ref();
                    let colnames = alias
                        .map(|a| {
                            a.colnames
                                .iter()
                                .filter_map(string)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    let cols = vec![Col::Expand(cte)];
                    return vec![Rc::new(Item {
                        name: Some(alias.map_or(rv.relname.clone(), |a| a.aliasname.clone())),
                        relation: None,
                        colnames,
                        shape: Shape::Query(cols),
                    })];
                }
                vec![relation_item(rv)]
            }
            Some(NodeEnum::RangeSubselect(sub)) => {
                let cols = sub
                    .subquery
                    .as_deref()
                    .map(|q| self.query_node(q))
                    .unwrap_or_default();
                vec![derived_item(sub.alias.as_ref(), cols)]
            }
            Some(NodeEnum::RangeFunction(f)) => {
                // Functions in FROM: what they are given is used by them.
                let mut v = Sources::new();
                for func in &f.functions {
                    v.extend(self.expr_node_opt(func));
                }
                self.derived(&v, "a function in FROM");
                vec![derived_item(
                    f.alias.as_ref(),
                    vec![Col::Any(Sources::new())],
                )]
            }
            Some(NodeEnum::JoinExpr(j)) => {
                self.scope();
                let level = self.scopes.len();
                let mut left = j
                    .larg
                    .as_deref()
                    .map(|l| self.range_item(l))
                    .unwrap_or_default();
                // The right side may be LATERAL: it sees the left; ON sees both.
                self.scope().items.extend(left.iter().cloned());
                let right = j
                    .rarg
                    .as_deref()
                    .map(|r| self.range_item(r))
                    .unwrap_or_default();
                self.scope().items.extend(right.iter().cloned());
                left.extend(right);
                if let Some(q) = j.quals.as_deref() {
                    let v = self.expr(q);
                    self.derived(&v, "a JOIN condition");
                }
                let mut using = Vec::new();
                if !j.using_clause.is_empty() {
                    // USING compares the named columns of both sides for equality.
                    for name in j.using_clause.iter().filter_map(string) {
                        let v = self.resolve(&[name]);
                        self.derived(&v, format!("JOIN ... USING, which {ROWS_WHY}"));
                        using.push(Col::One {
                            name: Some(name.to_owned()),
                            sources: v,
                        });
                    }
                }
                if j.is_natural {
                    let all: Sources = left.iter().flat_map(|i| all_of(i)).collect();
                    self.derived(&all, format!("NATURAL JOIN, which {ROWS_WHY}"));
                }
                let scope = &mut self.scopes[level - 1];
                let keep = scope.items.len() - left.len();
                scope.items.truncate(keep);
                let mut items = match &j.alias {
                    Some(alias) => {
                        let cols = left.into_iter().map(Col::Expand).collect();
                        vec![derived_item(Some(alias), cols)]
                    }
                    None => left,
                };
                if let Some(alias) = &j.join_using_alias {
                    // `JOIN ... USING (pan) AS j`: `j.pan` is the merged column.
                    items.push(derived_item(Some(alias), using));
                }
                items
            }
            Some(NodeEnum::RangeTableSample(t)) => {
                let mut items = t
                    .relation
                    .as_deref()
                    .map(|r| self.range_item(r))
                    .unwrap_or_default();
                let mut v = Sources::new();
                for a in t.args.iter().chain(t.repeatable.as_deref()) {
                    v.extend(self.expr(a));
                }
                self.derived(&v, "TABLESAMPLE");
                std::mem::take(&mut items)
            }
            Some(other) => {
                // XMLTABLE, JSON_TABLE and anything new: their inputs are transformed.
                let v = self.expr_node(other.to_ref());
                self.derived(&v, "a table function");
                vec![derived_item(None, vec![Col::Any(Sources::new())])]
            }
            None => Vec::new(),
        }
    }

    fn find_cte(&self, name: &str) -> Option<Rc<Item>> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.ctes.iter().rev())
            .find(|c| c.name.as_deref() == Some(name))
            .cloned()
    }

    /// The FROM item a qualifier names (`c`, `cards`, `public.cards`), innermost first.
    fn find_item(&self, qualifier: &[&str]) -> Option<Rc<Item>> {
        for scope in self.scopes.iter().rev() {
            for item in scope.items.iter().rev() {
                let hit = match qualifier {
                    [name] => item.name.as_deref() == Some(*name),
                    [.., schema, name] => {
                        item.relation.as_ref().is_some_and(|r| {
                            r.name == *name && r.schema.as_deref().is_none_or(|s| s == *schema)
                        }) && item.name.as_deref() == Some(*name)
                    }
                    [] => false,
                };
                if hit {
                    return Some(item.clone());
                }
            }
        }
        None
    }

    /// The sources of a column reference (`pan`, `c.pan`, `public.cards.pan`, a whole-row
    /// `c`). A bare name is looked up in every item of every scope level: without the catalog
    /// it cannot be told which relation has it, so all that might are named.
    fn resolve(&mut self, parts: &[&str]) -> Sources {
        let mut v = Sources::new();
        match parts {
            [] => {}
            [name] => {
                let mut whole_row = false;
                for scope in &self.scopes {
                    for item in &scope.items {
                        if let Some(s) = name_of(item, name) {
                            v.extend(s);
                        }
                        if item.name.as_deref() == Some(*name) {
                            whole_row = true;
                            v.extend(all_of(item));
                        }
                    }
                }
                if v.is_empty() && !whole_row && self.scopes.iter().all(|s| s.items.is_empty()) {
                    // No FROM item at all (a rule action's NEW.x, a default): unknown relation.
                    v.insert(Source {
                        relation: None,
                        column: Column::Name((*name).to_owned()),
                    });
                }
            }
            [_, ..] => {
                // As Postgres reads `a.b.c`: the longest qualifier that names a FROM item
                // (`schema.table.column`, then `table.column` and a field of it), else a
                // column of a composite type and fields of it (`r.f1` is field `f1` of a
                // column `r`, which may hold a whole card row or `ROW(pan)`).
                for k in (1..parts.len()).rev() {
                    let Some(item) = self.find_item(&parts[..k]) else {
                        continue;
                    };
                    match name_of(&item, parts[k]) {
                        Some(s) => {
                            // A column of a relation in it, or function-call notation: the
                            // catalog tells (a join alias holds the columns of both sides).
                            let mut relations = Sources::new();
                            if !item.colnames.iter().any(|c| c == parts[k]) {
                                expanded_relations(&item, parts[k], &mut relations);
                            }
                            self.flow(&relations, Use::RowFunction(parts[k].to_owned()));
                            v.extend(s)
                        }
                        None => {
                            // Not a column of it: `s.f` is function-call notation, `f(s)`, on
                            // the whole row.
                            let all = all_of(&item);
                            self.derived(&all, format!("{}() in function-call notation", parts[k]));
                        }
                    }
                    return v;
                }
                v.extend(self.resolve(&parts[..1]));
                for name in [parts[0], parts[parts.len() - 1]] {
                    v.insert(Source {
                        relation: None,
                        column: Column::Name(name.to_owned()),
                    });
                }
            }
        }
        v
    }

    /// Each present node's values, used as `how` says.
    fn derive_each<'n>(
        &mut self,
        nodes: impl IntoIterator<Item = Option<&'n pb::Node>>,
        how: &str,
    ) {
        for node in nodes.into_iter().flatten() {
            let v = self.expr(node);
            self.derived(&v, how);
        }
    }

    /// The union of the values of `nodes`, each passed through as it is.
    fn pass_through(&mut self, nodes: &[pb::Node]) -> Sources {
        let mut out = Sources::new();
        for n in nodes {
            out.extend(self.expr(n));
        }
        out
    }

    fn expr_opt(&mut self, node: Option<&pb::Node>) -> Sources {
        node.map(|n| self.expr(n)).unwrap_or_default()
    }

    fn expr_node_opt(&mut self, node: &pb::Node) -> Sources {
        self.expr(node)
    }

    fn expr(&mut self, node: &pb::Node) -> Sources {
        match node.node.as_ref() {
            Some(n) => self.expr_node(n.to_ref()),
            None => Sources::new(),
        }
    }

    /// The sources of an expression's value, as passed through untouched; every other use of
    /// a value under it is recorded as a flow.
    fn expr_node(&mut self, node: NodeRef<'_>) -> Sources {
        match node {
            NodeRef::ColumnRef(c) => {
                if c.fields
                    .last()
                    .is_some_and(|f| matches!(f.node, Some(NodeEnum::AStar(_))))
                {
                    // `t.*` inside an expression (`row_to_json(t.*)`, `ROW(t.*)`).
                    return self.star(c).iter().flat_map(col_sources).collect();
                }
                let parts: Vec<&str> = c.fields.iter().filter_map(string).collect();
                self.resolve(&parts)
            }
            NodeRef::AConst(_) | NodeRef::ParamRef(_) | NodeRef::SqlvalueFunction(_) => {
                Sources::new()
            }
            NodeRef::TypeCast(t) => {
                let v = self.expr_opt(t.arg.as_deref());
                if t.type_name.as_ref().is_some_and(is_lossless_text) {
                    v
                } else {
                    let to = t.type_name.as_ref().map(type_name).unwrap_or_default();
                    self.derived(&v, format!("a cast to {to}"));
                    Sources::new()
                }
            }
            NodeRef::CollateClause(c) => {
                let v = self.expr_opt(c.arg.as_deref());
                if is_trusted_collation(&c.collname) {
                    v
                } else {
                    // A nondeterministic collation makes `=` match many values (digits made
                    // ignorable, say): the equality test is no longer one guess.
                    let names: Vec<&str> = c.collname.iter().filter_map(string).collect();
                    self.derived(&v, format!("COLLATE {}", names.join(".")));
                    Sources::new()
                }
            }
            NodeRef::FuncCall(f) => self.func_call(f),
            NodeRef::AExpr(e) => self.a_expr(e),
            NodeRef::BoolExpr(b) => {
                for arg in &b.args {
                    let v = self.expr(arg);
                    self.derived(&v, "a condition");
                }
                Sources::new()
            }
            NodeRef::NullTest(n) => {
                // IS [NOT] NULL reveals nothing of the value.
                self.expr_opt(n.arg.as_deref());
                Sources::new()
            }
            NodeRef::BooleanTest(b) => {
                let v = self.expr_opt(b.arg.as_deref());
                self.derived(&v, "a condition");
                Sources::new()
            }
            NodeRef::CaseExpr(c) => {
                let subject = self.expr_opt(c.arg.as_deref());
                let mut out = Sources::new();
                for w in &c.args {
                    let Some(NodeEnum::CaseWhen(w)) = &w.node else {
                        continue;
                    };
                    let cond = w.expr.as_deref();
                    if c.arg.is_some() {
                        // CASE x WHEN v: an equality test of x against each v.
                        let constant = cond.is_some_and(is_constant);
                        let v = self.expr_opt(cond);
                        self.derived(&v, "a CASE comparison");
                        if constant {
                            self.equality(&subject, 1);
                        } else {
                            self.derived(&subject, "a CASE comparison with an expression");
                        }
                    } else {
                        let v = self.expr_opt(cond);
                        self.derived(&v, "a CASE condition");
                    }
                    out.extend(self.expr_opt(w.result.as_deref()));
                }
                out.extend(self.expr_opt(c.defresult.as_deref()));
                out
            }
            // Each passes its arguments' values through untouched.
            NodeRef::CoalesceExpr(c) => self.pass_through(&c.args),
            NodeRef::RowExpr(r) => self.pass_through(&r.args),
            NodeRef::AArrayExpr(a) => self.pass_through(&a.elements),
            NodeRef::AIndirection(i) => {
                let v = self.expr_opt(i.arg.as_deref());
                let subscripted = i
                    .indirection
                    .iter()
                    .any(|x| !matches!(x.node, Some(NodeEnum::String(_))));
                for x in &i.indirection {
                    if let Some(NodeEnum::AIndices(ix)) = &x.node {
                        for b in [ix.lidx.as_deref(), ix.uidx.as_deref()]
                            .into_iter()
                            .flatten()
                        {
                            let s = self.expr(b);
                            self.derived(&s, "a subscript");
                        }
                    }
                }
                if subscripted {
                    self.derived(&v, "a subscript");
                    Sources::new()
                } else {
                    v
                }
            }
            NodeRef::SubLink(s) => self.sub_link(s),
            NodeRef::SelectStmt(_)
            | NodeRef::InsertStmt(_)
            | NodeRef::UpdateStmt(_)
            | NodeRef::DeleteStmt(_)
            | NodeRef::MergeStmt(_) => {
                // A statement inside a definition (a rule action, a function body): what it
                // returns goes wherever that body sends it.
                let cols = self.query(node);
                self.store_all(&cols, &Store::Body);
                Sources::new()
            }
            NodeRef::ResTarget(rt) => self.expr_opt(rt.val.as_deref()),
            NodeRef::SortBy(by) => {
                let v = self.expr_opt(by.node.as_deref());
                self.derived(&v, "an ordering");
                Sources::new()
            }
            NodeRef::GroupingSet(g) => {
                let mut out = Sources::new();
                for c in &g.content {
                    out.extend(self.expr(c));
                }
                out
            }
            other => {
                // Anything else transforms what is under it.
                let mut v = Sources::new();
                children::for_each_child(other, &mut |child| v.extend(self.expr_node(child)));
                self.derived(&v, "an expression");
                Sources::new()
            }
        }
    }

    fn func_call(&mut self, f: &pb::FuncCall) -> Sources {
        let parts: Vec<&str> = f.funcname.iter().filter_map(string).collect();
        let name = parts.last().copied().unwrap_or_default();
        // Only the built-in functions are on the allow-list: `public.length` may be anything.
        let builtin = match parts.as_slice() {
            [_] => true,
            [schema, _] => *schema == "pg_catalog",
            _ => false,
        };
        if let Some(filter) = f.agg_filter.as_deref() {
            let v = self.expr(filter);
            self.derived(&v, "an aggregate FILTER");
        }
        for o in &f.agg_order {
            let v = self.expr(o);
            self.derived(&v, "an aggregate's ORDER BY");
        }
        if let Some(w) = f.over.as_deref() {
            self.window(w);
        }
        let args: Vec<Sources> = f.args.iter().map(|a| self.expr(a)).collect();
        let plain = builtin
            && !f.func_variadic
            && !f.agg_distinct
            && f.over.is_none()
            && f.agg_order.is_empty();
        let reveal = if plain {
            allowed_derivation(name, &f.args, f.agg_star)
        } else {
            None
        };
        match (reveal, args.first()) {
            (Some(reveal), Some(first)) => {
                self.flow(first, Use::Reveals(reveal));
                for rest in &args[1..] {
                    self.derived(rest, format!("{name}()"));
                }
            }
            _ => {
                let shown = parts.join(".");
                for a in &args {
                    self.derived(a, format!("{shown}()"));
                }
            }
        }
        Sources::new()
    }

    fn a_expr(&mut self, e: &pb::AExpr) -> Sources {
        let kind = pb::AExprKind::try_from(e.kind).unwrap_or(pb::AExprKind::Undefined);
        let op: Vec<&str> = e.name.iter().filter_map(string).collect();
        let builtin_op = match op.as_slice() {
            [_] => true,
            [schema, _] => *schema == "pg_catalog",
            _ => false,
        };
        let symbol = op.last().copied().unwrap_or_default();
        let l = self.expr_opt(e.lexpr.as_deref());
        let equality = builtin_op
            && match kind {
                pb::AExprKind::AexprOp => matches!(symbol, "=" | "<>" | "!="),
                pb::AExprKind::AexprDistinct | pb::AExprKind::AexprNotDistinct => true,
                _ => false,
            };
        if kind == pb::AExprKind::AexprIn {
            let list: Vec<&pb::Node> = match e.rexpr.as_deref().and_then(|r| r.node.as_ref()) {
                Some(NodeEnum::List(l)) => l.items.iter().collect(),
                _ => e.rexpr.as_deref().into_iter().collect(),
            };
            let constants = list.len() <= MAX_IN_LIST && list.iter().all(|n| is_constant(n));
            let mut r = Sources::new();
            for item in &list {
                r.extend(self.expr(item));
            }
            if builtin_op && constants {
                self.equality(&l, list.len());
            } else {
                self.derived(&l, "an IN list of expressions or many values");
            }
            self.derived(&r, "an IN list");
            return Sources::new();
        }
        let r = self.expr_opt(e.rexpr.as_deref());
        if equality {
            let l_const = e.lexpr.as_deref().is_some_and(is_constant);
            let r_const = e.rexpr.as_deref().is_some_and(is_constant);
            for (side, other_const) in [(&l, r_const), (&r, l_const)] {
                if other_const {
                    self.equality(side, 1);
                } else {
                    self.derived(side, "a comparison with an expression or column");
                }
            }
            return Sources::new();
        }
        let how = match kind {
            pb::AExprKind::AexprLike | pb::AExprKind::AexprIlike => "LIKE".to_owned(),
            pb::AExprKind::AexprSimilar => "SIMILAR TO".to_owned(),
            pb::AExprKind::AexprBetween
            | pb::AExprKind::AexprNotBetween
            | pb::AExprKind::AexprBetweenSym
            | pb::AExprKind::AexprNotBetweenSym => "BETWEEN".to_owned(),
            pb::AExprKind::AexprNullif => "NULLIF".to_owned(),
            pb::AExprKind::AexprOpAny | pb::AExprKind::AexprOpAll => {
                format!("operator {} ANY/ALL", op.join("."))
            }
            _ => format!("operator {}", op.join(".")),
        };
        self.derived(&l, how.clone());
        self.derived(&r, how);
        Sources::new()
    }

    fn sub_link(&mut self, s: &pb::SubLink) -> Sources {
        let kind = pb::SubLinkType::try_from(s.sub_link_type).unwrap_or(pb::SubLinkType::Undefined);
        let test = self.expr_opt(s.testexpr.as_deref());
        let cols = s
            .subselect
            .as_deref()
            .map(|q| self.query_node(q))
            .unwrap_or_default();
        let out: Sources = cols.iter().flat_map(col_sources).collect();
        match kind {
            pb::SubLinkType::ExistsSublink => Sources::new(),
            pb::SubLinkType::ExprSublink | pb::SubLinkType::ArraySublink => out,
            _ => {
                // IN / ANY / ALL (subquery), row comparisons: a comparison with a column.
                self.derived(&test, "a comparison with a subquery");
                self.derived(&out, "a comparison with a subquery");
                Sources::new()
            }
        }
    }
}

/// The name a statement gives a new function, aggregate, type, domain or collation, or
/// renames one to, when it is a name the allow-list trusts.
fn shadowing_name(root: NodeRef<'_>) -> Option<String> {
    let last = |names: &[pb::Node]| names.last().and_then(string).map(str::to_owned);
    let mut names: Vec<String> = Vec::new();
    match root {
        NodeRef::CreateFunctionStmt(f) => names.extend(last(&f.funcname)),
        NodeRef::DefineStmt(d) => names.extend(last(&d.defnames)),
        NodeRef::CreateDomainStmt(d) => names.extend(last(&d.domainname)),
        NodeRef::CompositeTypeStmt(t) => {
            names.extend(t.typevar.as_ref().map(|r| r.relname.clone()))
        }
        NodeRef::CreateEnumStmt(t) => names.extend(last(&t.type_name)),
        NodeRef::CreateRangeStmt(t) => {
            // A range type's constructor functions are named like it, and so are its
            // multirange type's.
            names.extend(last(&t.type_name));
            for p in &t.params {
                if let Some(NodeEnum::DefElem(d)) = &p.node
                    && let Some(NodeEnum::TypeName(tn)) =
                        d.arg.as_deref().and_then(|a| a.node.as_ref())
                {
                    names.extend(last(&tn.names));
                }
            }
        }
        NodeRef::RenameStmt(r) => {
            let kind = pb::ObjectType::try_from(r.rename_type).unwrap_or(pb::ObjectType::Undefined);
            if matches!(
                kind,
                pb::ObjectType::ObjectFunction
                    | pb::ObjectType::ObjectAggregate
                    | pb::ObjectType::ObjectProcedure
                    | pb::ObjectType::ObjectRoutine
                    | pb::ObjectType::ObjectType
                    | pb::ObjectType::ObjectDomain
                    | pb::ObjectType::ObjectCollation
            ) {
                names.push(r.newname.clone());
            }
        }
        _ => {}
    }
    names.into_iter().find(|n| is_trusted_name(n))
}

/// The functions, types and collations the allow-list trusts by name.
fn is_trusted_name(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "count"
            | "length"
            | "char_length"
            | "character_length"
            | "octet_length"
            | "bit_length"
            | "left"
            | "right"
            | "substr"
            | "substring"
            | "text"
            | "varchar"
    ) || TRUSTED_COLLATIONS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// Deterministic built-in collations: under them `=` is equality of the characters.
const TRUSTED_COLLATIONS: &[&str] = &["C", "POSIX", "default", "ucs_basic", "pg_c_utf8", "unicode"];

fn is_trusted_collation(collname: &[pb::Node]) -> bool {
    let names: Vec<&str> = collname.iter().filter_map(string).collect();
    match names.as_slice() {
        [name] | ["pg_catalog", name] => TRUSTED_COLLATIONS.contains(name),
        _ => false,
    }
}

fn named(rel: &ObjectName, column: &str) -> Source {
    Source {
        relation: Some(rel.clone()),
        column: Column::Name(column.to_owned()),
    }
}

fn all_columns(rel: &ObjectName) -> Source {
    Source {
        relation: Some(rel.clone()),
        column: Column::All,
    }
}

/// The column names an INSERT (or MERGE ... INSERT) lists for its values.
fn target_columns(list: &[pb::Node]) -> Vec<Column> {
    list.iter()
        .filter_map(|c| match &c.node {
            Some(NodeEnum::ResTarget(rt)) => Some(Column::Name(rt.name.clone())),
            _ => None,
        })
        .collect()
}

/// The expressions of an ORDER BY list.
fn sorted_by(list: &[pb::Node]) -> impl Iterator<Item = &pb::Node> {
    list.iter().filter_map(|item| match &item.node {
        Some(NodeEnum::SortBy(by)) => by.node.as_deref(),
        _ => None,
    })
}

/// Whether a node is a constant or a parameter (possibly cast): one value chosen by the client.
fn is_constant(node: &pb::Node) -> bool {
    match &node.node {
        Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_)) => true,
        Some(NodeEnum::TypeCast(t)) => t.arg.as_deref().is_some_and(is_constant),
        _ => false,
    }
}

/// The allow-listed derivations (built-in functions with constant arguments).
fn allowed_derivation(name: &str, args: &[pb::Node], star: bool) -> Option<Reveal> {
    let int = |i: usize| -> Option<i64> {
        match args.get(i).and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(a_const::Val::Ival(v)) => Some(i64::from(v.ival)),
                _ => None,
            },
            _ => None,
        }
    };
    let small = |n: i64, max: i64| {
        u8::try_from(n)
            .ok()
            .filter(|v| (1..=max).contains(&i64::from(*v)))
    };
    match (name, args.len()) {
        ("count", 1) if !star => Some(Reveal::Count),
        ("length" | "char_length" | "character_length" | "octet_length" | "bit_length", 1) => {
            Some(Reveal::Length)
        }
        ("left", 2) => int(1).and_then(|n| small(n, 6)).map(Reveal::Leading),
        ("right", 2) => int(1).and_then(|n| small(n, 4)).map(Reveal::Trailing),
        ("substr" | "substring", 3) if int(1) == Some(1) => {
            int(2).and_then(|n| small(n, 6)).map(Reveal::Leading)
        }
        _ => None,
    }
}

/// Casts that keep every character: to `text` or to `varchar` without a length.
fn is_lossless_text(t: &pb::TypeName) -> bool {
    let names: Vec<&str> = t.names.iter().filter_map(string).collect();
    let name = match names.as_slice() {
        [name] | ["pg_catalog", name] => *name,
        _ => return false,
    };
    t.typmods.is_empty() && t.array_bounds.is_empty() && matches!(name, "text" | "varchar")
}

fn type_name(t: &pb::TypeName) -> String {
    let names: Vec<&str> = t.names.iter().filter_map(string).collect();
    names.join(".")
}

fn string(node: &pb::Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::String(s)) => Some(&s.sval),
        _ => None,
    }
}

fn relation(rv: &pb::RangeVar) -> ObjectName {
    ObjectName {
        schema: (!rv.schemaname.is_empty()).then(|| rv.schemaname.clone()),
        name: rv.relname.clone(),
    }
}

fn unnamed() -> ObjectName {
    ObjectName {
        schema: None,
        name: String::new(),
    }
}

fn relation_item(rv: &pb::RangeVar) -> Rc<Item> {
    let rel = relation(rv);
    let alias = rv.alias.as_ref();
    Rc::new(Item {
        name: Some(alias.map_or(rv.relname.clone(), |a| a.aliasname.clone())),
        relation: Some(rel.clone()),
        colnames: alias
            .map(|a| {
                a.colnames
                    .iter()
                    .filter_map(string)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        shape: Shape::Relation(rel),
    })
}

fn derived_item(alias: Option<&pb::Alias>, cols: Vec<Col>) -> Rc<Item> {
    Rc::new(Item {
        name: alias.map(|a| a.aliasname.clone()),
        relation: None,
        colnames: alias
            .map(|a| {
                a.colnames
                    .iter()
                    .filter_map(string)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        shape: Shape::Query(cols),
    })
}

/// The name Postgres gives an output column written without `AS`.
fn implicit_name(val: &pb::Node) -> Option<String> {
    match &val.node {
        Some(NodeEnum::ColumnRef(c)) => c.fields.last().and_then(string).map(str::to_owned),
        Some(NodeEnum::FuncCall(f)) => f.funcname.last().and_then(string).map(str::to_owned),
        Some(NodeEnum::TypeCast(t)) => t.arg.as_deref().and_then(implicit_name),
        _ => None,
    }
}

fn unknown_all() -> Sources {
    Sources::from([Source {
        relation: None,
        column: Column::All,
    }])
}

fn col_sources(col: &Col) -> Sources {
    match col {
        Col::One { sources, .. } | Col::Any(sources) => sources.clone(),
        Col::Expand(item) => all_of(item),
    }
}

/// The relations whose columns an item exposes by name where `name` is not one of its
/// known output columns.
fn expanded_relations(item: &Item, name: &str, out: &mut Sources) {
    match &item.shape {
        Shape::Relation(rel) => {
            out.insert(all_columns(rel));
        }
        Shape::Query(cols) => {
            if cols
                .iter()
                .any(|c| matches!(c, Col::One { name: Some(n), .. } if n == name))
            {
                return;
            }
            for c in cols {
                if let Col::Expand(inner) = c
                    && !inner.colnames.iter().any(|n| n == name)
                {
                    expanded_relations(inner, name, out);
                }
            }
        }
    }
}

/// Every column of an item.
fn all_of(item: &Item) -> Sources {
    match &item.shape {
        Shape::Relation(rel) => Sources::from([Source {
            relation: Some(rel.clone()),
            column: Column::All,
        }]),
        Shape::Query(cols) => cols.iter().flat_map(col_sources).collect(),
    }
}

/// The sources of column `name` of `item`; `None` when the item certainly has no such column.
fn name_of(item: &Item, name: &str) -> Option<Sources> {
    if let Some(k) = item.colnames.iter().position(|c| c == name) {
        return Some(position_of(item, k + 1));
    }
    match &item.shape {
        Shape::Relation(rel) => Some(Sources::from([Source {
            relation: Some(rel.clone()),
            column: Column::Name(name.to_owned()),
        }])),
        Shape::Query(cols) => name_in(cols, name),
    }
}

/// Column `k` (1-based) of `item`.
fn position_of(item: &Item, k: usize) -> Sources {
    match &item.shape {
        Shape::Relation(rel) => Sources::from([Source {
            relation: Some(rel.clone()),
            column: Column::Position(u32::try_from(k).unwrap_or(u32::MAX)),
        }]),
        Shape::Query(cols) => position_in(cols, k),
    }
}

fn name_in(cols: &[Col], name: &str) -> Option<Sources> {
    let mut found: Option<Sources> = None;
    for col in cols {
        let hit = match col {
            Col::One {
                name: Some(n),
                sources,
            } if n == name => Some(sources.clone()),
            Col::One { .. } => None,
            Col::Expand(item) => name_of(item, name),
            Col::Any(sources) => Some(sources.clone()),
        };
        if let Some(hit) = hit {
            found.get_or_insert_with(Sources::new).extend(hit);
        }
    }
    found
}

fn position_in(cols: &[Col], k: usize) -> Sources {
    let mut at = 1usize;
    for (i, col) in cols.iter().enumerate() {
        match col {
            Col::One { sources, .. } => {
                if at == k {
                    return sources.clone();
                }
                at += 1;
            }
            Col::Expand(item) => {
                if let Shape::Relation(_) = item.shape
                    && i + 1 == cols.len()
                {
                    return position_of(item, k + 1 - at);
                }
                // Of unknown width: column k may be in it or anywhere after.
                return cols[i..].iter().flat_map(col_sources).collect();
            }
            Col::Any(_) => return cols[i..].iter().flat_map(col_sources).collect(),
        }
    }
    Sources::new()
}

/// The columns of `a UNION b` (and INTERSECT, EXCEPT): position by position.
fn set_operation(left: Vec<Col>, right: Vec<Col>) -> Vec<Col> {
    let exact = |cols: &[Col]| cols.iter().all(|c| matches!(c, Col::One { .. }));
    if exact(&left) && exact(&right) && left.len() == right.len() {
        left.into_iter()
            .zip(right)
            .map(|(l, r)| match (l, r) {
                (
                    Col::One {
                        name,
                        sources: mut a,
                    },
                    Col::One { sources: b, .. },
                ) => {
                    a.extend(b);
                    Col::One { name, sources: a }
                }
                _ => unreachable!("both sides are exact"),
            })
            .collect()
    } else {
        let all: Sources = left.iter().chain(&right).flat_map(col_sources).collect();
        vec![Col::Any(all)]
    }
}

/// The relation a definition is about, whose columns its expressions name.
fn statement_relation(node: NodeRef<'_>) -> Option<&pb::RangeVar> {
    match node {
        NodeRef::AlterTableStmt(s) => s.relation.as_ref(),
        NodeRef::CreateStmt(s) => s.relation.as_ref(),
        NodeRef::RuleStmt(s) => s.relation.as_ref(),
        NodeRef::CreatePolicyStmt(s) => s.table.as_ref(),
        NodeRef::AlterPolicyStmt(s) => s.table.as_ref(),
        NodeRef::CreateTrigStmt(s) => s.relation.as_ref(),
        _ => None,
    }
}
