//! Card data: which columns hold it, and which uses of them a statement may make.
//!
//! The classifier reports every statement's [`Lineage`]: each value it uses, resolved to the
//! columns it comes from, and how it uses it. This module knows which columns hold card data
//! (`policy.pan_columns`: card numbers; `[[masking.columns]]`: values masked whole, such as CVVs)
//! and refuses every use that could reveal more than PCI DSS 3.4.1 allows:
//!
//! - sent to the client as it is (masked there): allowed, so not even a flow;
//! - a card number's first six or last four characters (`left(pan, 6)`, `right(pan, 4)`,
//!   `substr(pan, 1, 6)`), its length, a count of it, an equality test with a constant or a
//!   parameter, grouping: allowed; a masked-whole column allows the same except its characters;
//! - anything else (another function, an operator, a cast other than to `text`, a comparison
//!   other than equality, an ordering, a condition, a copy into another table's column, a new
//!   table or view, COPY out, a body that runs later): refused.
//!
//! Names in the lineage are as the statement wrote them; [`Relations`] resolves them against
//! the upstream's catalog: a view is followed through its definition to its base columns (a
//! view that itself transforms card data taints every use of it), and a column renamed by
//! position (`cards AS c(i, p)`) is matched by the catalog's column order. A name the catalog
//! does not answer for is matched as written, and a position it cannot resolve counts as card
//! data when the relation holds any (fail closed).
//!
//! Pure: the gateway fetches the relations [`CardData::relations_needed`] names and decides
//! with them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use globset::GlobMatcher;

use super::classify::lineage::{Column, Flow, Lineage, Reveal, Source, Store, Use};
use super::classify::{ObjectName, Statement, StatementKind};
use super::rules::{NameGlob, glob, name_glob};

/// How sensitive a protected column is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataClass {
    /// A column rule masks it whole: nothing of its characters may be revealed.
    Masked,
    /// Card numbers: first six and last four may be revealed.
    Pan,
}

impl DataClass {
    /// Whether data of this class reveals no more than data of class `other` may.
    fn at_least_as_strict(self, other: DataClass) -> bool {
        self == other || self == DataClass::Masked
    }
}

/// One protected column pattern.
struct Protected {
    table: NameGlob,
    column: GlobMatcher,
    class: DataClass,
    /// As configured, for messages (`cards.pan`).
    label: String,
    /// Connections it applies to; empty: all.
    connections: Vec<String>,
}

/// A relation as the upstream's catalog describes it.
#[derive(Clone, Debug)]
pub struct RelationInfo {
    pub schema: String,
    pub name: String,
    /// Live columns in attribute order (what a column alias list renames by position).
    pub columns: Vec<String>,
    /// For a view or materialized view: its definition's lineage, or why it could not be read.
    pub view: Option<Arc<Result<Lineage, String>>>,
}

/// What the catalog says a name may denote: every relation of that name (in any schema when
/// the name is unqualified, since the session's `search_path` decides). Empty: none.
pub type RelationSet = Vec<RelationInfo>;

/// The catalog, as far as it was read for one decision.
pub trait Relations {
    /// `None` when the name was not looked up.
    fn get(&self, name: &ObjectName) -> Option<&RelationSet>;
}

/// No catalog: every relation is taken as a table whose column order is unknown.
pub struct NoCatalog;

impl Relations for NoCatalog {
    fn get(&self, _: &ObjectName) -> Option<&RelationSet> {
        static NONE: RelationSet = Vec::new();
        Some(&NONE)
    }
}

/// A snapshot of looked-up relations, keyed by the name as written; the sets are shared with
/// the gateway's catalog cache, not copied per statement.
#[derive(Default, Debug, Clone)]
pub struct RelationSnapshot {
    pub relations: HashMap<ObjectName, Arc<RelationSet>>,
}

impl Relations for RelationSnapshot {
    fn get(&self, name: &ObjectName) -> Option<&RelationSet> {
        self.relations.get(name).map(Arc::as_ref)
    }
}

/// Catalog columns holding sampled values of other columns (`pg_stats.histogram_bounds` of
/// `cards.pan` is a list of card numbers).
const STATISTICS_VALUES: &[&str] = &[
    "pg_statistic.stavalues*",
    "pg_stats.most_common_vals",
    "pg_stats.most_common_elems",
    "pg_stats.histogram_bounds",
    "pg_stats_ext.most_common_vals",
    "pg_stats_ext_exprs.most_common_vals",
    "pg_stats_ext_exprs.most_common_elems",
    "pg_stats_ext_exprs.histogram_bounds",
];

/// Built-in functions of a whole row, which `t.name` may call when `t` has no column `name`.
const ROW_FUNCTIONS: &[&str] = &[
    "row_to_json",
    "to_json",
    "to_jsonb",
    "hstore",
    "record_out",
    "record_send",
    "json_populate_record",
    "jsonb_populate_record",
];

/// Views are followed at most this deep (Postgres itself has no limit, but a chain this long
/// is not a schema anyone writes).
const MAX_VIEW_DEPTH: usize = 8;

/// Whether a use of protected data was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The default-pack rule id it is refused under.
    pub rule: &'static str,
    pub reason: String,
}

/// The rule id of refused uses of card data.
pub const CARD_DATA_RULE: &str = "default.card-data";
/// The rule id of unbounded reads of card numbers.
pub const UNBOUNDED_RULE: &str = "default.no-unbounded-pan-select";

/// The card-data columns of a deployment.
#[derive(Default)]
pub struct CardData {
    protected: Vec<Protected>,
}

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.protected.iter().map(|p| &p.label))
            .finish()
    }
}

/// A protected column a source reached, and whether it arrives transformed (through a view
/// that derives it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    class: DataClass,
    label: String,
    /// Set when a view on the way already transforms the value.
    through_derived_view: Option<String>,
}

impl CardData {
    /// `pan_columns`: `[schema.]table.column` globs of card numbers; `masked`: per column rule,
    /// its connections and `[schema.]table.column` globs.
    pub fn compile(
        pan_columns: &[String],
        masked: &[(Vec<String>, Vec<String>)],
    ) -> Result<CardData, String> {
        let mut protected = Vec::new();
        let mut add = |pattern: &str, class, connections: &[String]| -> Result<(), String> {
            let (table, column) = pattern.rsplit_once('.').unwrap_or(("*", pattern));
            if column.is_empty() || table.is_empty() {
                return Err(format!("{pattern:?} is not `table.column`"));
            }
            protected.push(Protected {
                table: name_glob(table)?,
                column: glob(column)?,
                class,
                label: pattern.to_owned(),
                connections: connections.to_vec(),
            });
            Ok(())
        };
        for p in pan_columns {
            add(p, DataClass::Pan, &[])?;
        }
        if !pan_columns.is_empty() || !masked.is_empty() {
            // Planner statistics keep sampled values of every column, card data included, and
            // show them to whoever may read the column.
            for p in STATISTICS_VALUES {
                add(p, DataClass::Pan, &[])?;
            }
        }
        for (connections, patterns) in masked {
            for p in patterns {
                add(p, DataClass::Masked, connections)?;
            }
        }
        Ok(CardData { protected })
    }

    /// Whether any column is protected for this connection.
    pub fn applies_to(&self, connection: &str) -> bool {
        self.protected.iter().any(|p| p.applies(connection))
    }

    /// Relations the lineage of `statements` names that `relations` has not looked up yet
    /// (views already looked up are followed into their definitions).
    pub fn relations_needed(
        &self,
        connection: &str,
        statements: &[Statement],
        relations: &dyn Relations,
    ) -> Vec<ObjectName> {
        if !self.applies_to(connection) {
            return Vec::new();
        }
        let mut needed = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for s in statements {
            needed_in(&s.lineage, relations, &mut needed, &mut seen, 0);
        }
        needed.into_iter().collect()
    }

    /// The decision on one statement: `Err` with the reason when it uses card data in a way the
    /// model refuses. `text` is the statement's text, lower-cased (bodies that cannot be
    /// analysed are searched in it).
    pub fn check(
        &self,
        connection: &str,
        statement: &Statement,
        text: &str,
        relations: &dyn Relations,
    ) -> Result<(), Refused> {
        if !self.applies_to(connection) {
            return Ok(());
        }
        let mut c = Checker {
            data: self,
            connection,
            relations,
        };
        for flow in &statement.lineage.flows {
            c.flow(flow, 0)?;
        }
        for output in &statement.lineage.outputs {
            for source in &output.sources {
                if let Some(hit) = c
                    .hits(source, 0)
                    .into_iter()
                    .find_map(|h| h.through_derived_view.map(|v| (h.label, v)))
                {
                    return Err(Refused {
                        rule: CARD_DATA_RULE,
                        reason: format!(
                            "{} holds card data, and the view {} transforms it before it \
                             would reach the client",
                            hit.0, hit.1
                        ),
                    });
                }
            }
        }
        self.unbounded(&mut c, statement)?;
        self.bodies(connection, statement, text)
    }

    /// Card numbers returned by a query without a WHERE that filters rows or a constant LIMIT
    /// (see [`Statement::bounded`]): every card at once, even if masked, is a bulk read the
    /// default pack refuses. The query is the statement's own SELECT, or UPDATE, DELETE or
    /// MERGE with RETURNING, or the query a PREPARE, DECLARE CURSOR or EXPLAIN ANALYZE runs
    /// ([`Lineage::query_kind`]); an EXPLAIN without ANALYZE reads no row. A MERGE has neither
    /// WHERE nor LIMIT: its RETURNING of card numbers is always refused.
    fn unbounded(&self, c: &mut Checker<'_>, statement: &Statement) -> Result<(), Refused> {
        let Some(query) = statement.lineage.query_kind else {
            return Ok(());
        };
        let reads_rows = matches!(
            query,
            StatementKind::Select
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Merge
        );
        if !reads_rows || (statement.bounded && query != StatementKind::Merge) {
            return Ok(());
        }
        for output in &statement.lineage.outputs {
            for source in &output.sources {
                if let Some(hit) = c
                    .hits(source, 0)
                    .into_iter()
                    .find(|h| h.class == DataClass::Pan)
                {
                    return Err(Refused {
                        rule: UNBOUNDED_RULE,
                        reason: unbounded_refusal(&hit.label, statement.kind, query),
                    });
                }
            }
        }
        Ok(())
    }

    /// DO blocks and function bodies: values are not followed through them, so a body that
    /// names a protected column cannot be created or run.
    fn bodies(&self, connection: &str, statement: &Statement, text: &str) -> Result<(), Refused> {
        let body = statement.opaque_body
            || [statement.kind]
                .iter()
                .chain(&statement.inner_kinds)
                .any(|k| {
                    matches!(
                        k,
                        StatementKind::Do
                            | StatementKind::CreateFunction
                            | StatementKind::CreateProcedure
                    )
                });
        if !body {
            return Ok(());
        }
        for p in self.protected.iter().filter(|p| p.applies(connection)) {
            let named = statement.columns.iter().any(|c| p.column.is_match(&c.name))
                || (statement.opaque_body && p.literal_column().is_some_and(|c| text.contains(c)));
            if named {
                return Err(Refused {
                    rule: CARD_DATA_RULE,
                    reason: format!(
                        "{} holds card data, and hoop does not follow values through DO blocks \
                         and function bodies: a body that names it is refused",
                        p.label
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Protected {
    fn applies(&self, connection: &str) -> bool {
        self.connections.is_empty() || self.connections.iter().any(|c| c == connection)
    }

    /// The column name, when the pattern is a plain name (searched for in unparsed bodies).
    fn literal_column(&self) -> Option<&str> {
        let name = self.label.rsplit('.').next()?;
        (!name.contains(['*', '?', '['])).then_some(name)
    }
}

fn needed_in(
    lineage: &Lineage,
    relations: &dyn Relations,
    needed: &mut BTreeSet<ObjectName>,
    seen: &mut BTreeSet<ObjectName>,
    depth: usize,
) {
    if depth > MAX_VIEW_DEPTH {
        return;
    }
    let sources = lineage
        .flows
        .iter()
        .flat_map(|f| {
            let stored = match &f.usage {
                Use::Stored(Store::Column(target)) => Some(target),
                _ => None,
            };
            f.sources.iter().chain(stored)
        })
        .chain(lineage.outputs.iter().flat_map(|o| &o.sources));
    for source in sources {
        let Some(rel) = &source.relation else {
            continue;
        };
        if !seen.insert(rel.clone()) {
            continue;
        }
        match relations.get(rel) {
            None => {
                needed.insert(rel.clone());
            }
            Some(set) => {
                for info in set {
                    if let Some(view) = &info.view
                        && let Ok(view) = view.as_ref()
                    {
                        needed_in(view, relations, needed, seen, depth + 1);
                    }
                }
            }
        }
    }
}

struct Checker<'a> {
    data: &'a CardData,
    connection: &'a str,
    relations: &'a dyn Relations,
}

impl Checker<'_> {
    fn flow(&mut self, flow: &Flow, depth: usize) -> Result<(), Refused> {
        if let Use::RowFunction(name) = &flow.usage {
            return self.row_function(flow, name, depth);
        }
        let hits: BTreeSet<Hit> = flow
            .sources
            .iter()
            .flat_map(|s| self.hits(s, depth))
            .collect();
        let Some(first) = hits.iter().next() else {
            return Ok(());
        };
        if let Some(view) = &first.through_derived_view {
            return Err(Refused {
                rule: CARD_DATA_RULE,
                reason: format!(
                    "{} holds card data, and the view {view} transforms it",
                    first.label
                ),
            });
        }
        for hit in &hits {
            let allowed = match &flow.usage {
                Use::Reveals(Reveal::Equality | Reveal::Length | Reveal::Count) => true,
                Use::Reveals(Reveal::Leading(n)) => hit.class == DataClass::Pan && *n <= 6,
                Use::Reveals(Reveal::Trailing(n)) => hit.class == DataClass::Pan && *n <= 4,
                Use::Derived(_) => false,
                Use::Stored(Store::Column(target)) => {
                    // Into a column protected at least as strongly: the data stays card data.
                    // A masked-whole value (a CVV) copied into a card-number column would
                    // have its first six and last four characters revealable, and would leave
                    // unmasked wherever masking recognises card numbers by their form.
                    self.target_columns(target).iter().all(|column| {
                        self.hits(column, depth).iter().any(|t| {
                            t.through_derived_view.is_none()
                                && t.class.at_least_as_strict(hit.class)
                        })
                    })
                }
                Use::Stored(_) | Use::Defines | Use::RowFunction(_) => false,
            };
            if !allowed {
                return Err(Refused {
                    rule: CARD_DATA_RULE,
                    reason: refusal(hit, &flow.usage),
                });
            }
        }
        Ok(())
    }

    /// The columns a copy may land in: a named one, or a position the catalog resolves. A
    /// position or `*` it cannot resolve is every column (`INSERT INTO cards SELECT id, holder,
    /// pan` puts the card number into the third, whatever its name): `None` of them is
    /// known to be card data, so the copy is refused.
    fn target_columns(&self, target: &Source) -> Vec<Source> {
        let unknown = || {
            vec![Source {
                relation: None,
                column: Column::Name(String::new()),
            }]
        };
        let k = match &target.column {
            Column::Name(_) => return vec![target.clone()],
            Column::Position(k) => usize::try_from(*k).ok().and_then(|k| k.checked_sub(1)),
            Column::All => None,
        };
        let (Some(k), Some(rel)) = (k, &target.relation) else {
            return unknown();
        };
        let infos = self.relations.get(rel).filter(|set| !set.is_empty());
        let Some(infos) = infos else {
            return unknown();
        };
        let mut columns = Vec::new();
        for info in infos {
            match info.columns.get(k) {
                Some(name) => columns.push(Source {
                    relation: target.relation.clone(),
                    column: Column::Name(name.clone()),
                }),
                None => return unknown(),
            }
        }
        columns
    }

    /// `t.name` on a relation `t`: a column when the catalog lists one of that name (or, with
    /// no catalog, unless it is a built-in function of a whole row); else a function applied
    /// to the whole row, card data included.
    fn row_function(&mut self, flow: &Flow, name: &str, depth: usize) -> Result<(), Refused> {
        // The sources are the relations a name may be a column of (both sides of a join
        // alias): a column of any of them is a column.
        let column = flow.sources.iter().any(|source| {
            let infos = source
                .relation
                .as_ref()
                .and_then(|r| self.relations.get(r))
                .filter(|set| !set.is_empty() && set.iter().all(|i| !i.columns.is_empty()));
            match infos {
                Some(infos) => infos.iter().any(|i| i.columns.iter().any(|c| c == name)),
                None => !ROW_FUNCTIONS.contains(&name),
            }
        });
        if column {
            return Ok(());
        }
        for source in &flow.sources {
            if let Some(hit) = self.hits(source, depth).into_iter().next() {
                return Err(Refused {
                    rule: CARD_DATA_RULE,
                    reason: refusal(&hit, &Use::Derived(format!("{name}() on a whole row"))),
                });
            }
        }
        Ok(())
    }

    /// The protected columns a source may be.
    fn hits(&self, source: &Source, depth: usize) -> Vec<Hit> {
        let protected = || {
            self.data
                .protected
                .iter()
                .filter(|p| p.applies(self.connection))
        };
        let direct = |p: &Protected| Hit {
            class: p.class,
            label: p.label.clone(),
            through_derived_view: None,
        };
        let Some(rel) = &source.relation else {
            // A relation the analysis could not tell: any relation.
            return protected()
                .filter(|p| match &source.column {
                    Column::Name(n) => p.column.is_match(n),
                    Column::Position(_) | Column::All => true,
                })
                .map(direct)
                .collect();
        };
        let infos = self
            .relations
            .get(rel)
            .filter(|set| !set.is_empty() && depth <= MAX_VIEW_DEPTH);
        let Some(infos) = infos else {
            // Not in the catalog (or not looked up): as written, positions unknown.
            return protected()
                .filter(|p| p.table.matches(rel))
                .filter(|p| match &source.column {
                    Column::Name(n) => p.column.is_match(n),
                    Column::Position(_) | Column::All => true,
                })
                .map(direct)
                .collect();
        };
        let mut hits = Vec::new();
        for info in infos {
            let qualified = ObjectName {
                schema: Some(info.schema.clone()),
                name: info.name.clone(),
            };
            match &info.view {
                Some(view) => match view.as_ref() {
                    Ok(view) => {
                        hits.extend(self.through_view(&qualified, info, view, source, depth))
                    }
                    Err(why) => hits.extend(protected().map(|p| Hit {
                        through_derived_view: Some(format!(
                            "{qualified} (its definition cannot be read: {why})"
                        )),
                        ..direct(p)
                    })),
                },
                None => {
                    let column = match &source.column {
                        Column::Name(n) => Some(n.as_str()),
                        Column::Position(k) => usize::try_from(*k)
                            .ok()
                            .and_then(|k| k.checked_sub(1))
                            .and_then(|k| info.columns.get(k))
                            .map(String::as_str),
                        Column::All => None,
                    };
                    hits.extend(
                        protected()
                            .filter(|p| p.table.matches(&qualified) || p.table.matches(rel))
                            .filter(|p| match column {
                                Some(n) => p.column.is_match(n),
                                None => match &source.column {
                                    Column::All => {
                                        info.columns.iter().any(|c| p.column.is_match(c))
                                            || info.columns.is_empty()
                                    }
                                    // A position past the known columns: fail closed.
                                    _ => true,
                                },
                            })
                            .map(direct),
                    );
                }
            }
        }
        hits
    }

    /// A view's column: the sources its definition gives it. A view that transforms card data
    /// anywhere in its definition taints every column of it.
    fn through_view(
        &self,
        name: &ObjectName,
        info: &RelationInfo,
        view: &Lineage,
        source: &Source,
        depth: usize,
    ) -> Vec<Hit> {
        let mut inner = Checker {
            data: self.data,
            connection: self.connection,
            relations: self.relations,
        };
        let derives = view.flows.iter().any(|f| inner.flow(f, depth + 1).is_err());
        let outputs: Vec<&Source> = match &source.column {
            Column::All => view.outputs.iter().flat_map(|o| &o.sources).collect(),
            Column::Name(n) => {
                let named: Vec<&Source> = view
                    .outputs
                    .iter()
                    .zip(info.columns.iter().map(Some).chain(std::iter::repeat(None)))
                    .filter(|(o, catalog_name)| {
                        o.name.as_deref() == Some(n.as_str())
                            || catalog_name.is_some_and(|c| c == n)
                    })
                    .flat_map(|(o, _)| &o.sources)
                    .collect();
                if named.is_empty() && !view.outputs_exact {
                    view.outputs.iter().flat_map(|o| &o.sources).collect()
                } else {
                    named
                }
            }
            Column::Position(k) => match usize::try_from(*k).ok().and_then(|k| k.checked_sub(1)) {
                Some(k) if view.outputs_exact => view
                    .outputs
                    .get(k)
                    .map(|o| o.sources.iter().collect())
                    .unwrap_or_default(),
                _ => view.outputs.iter().flat_map(|o| &o.sources).collect(),
            },
        };
        let mut hits: Vec<Hit> = outputs
            .into_iter()
            .flat_map(|s| self.hits(s, depth + 1))
            .collect();
        if derives {
            let all: Vec<Hit> = view
                .outputs
                .iter()
                .flat_map(|o| &o.sources)
                .chain(view.flows.iter().flat_map(|f| &f.sources))
                .flat_map(|s| self.hits(s, depth + 1))
                .collect();
            hits.extend(all.into_iter().map(|h| Hit {
                through_derived_view: Some(
                    h.through_derived_view.unwrap_or_else(|| name.to_string()),
                ),
                ..h
            }));
        }
        hits
    }
}

/// Why a bulk read of `label` is refused, and what would bound it, for a `query` run by a
/// statement of kind `statement`.
fn unbounded_refusal(label: &str, statement: StatementKind, query: StatementKind) -> String {
    let whose = match statement {
        StatementKind::Prepare => "the prepared query",
        StatementKind::DeclareCursor => "the cursor's query",
        StatementKind::Explain => "the query EXPLAIN ANALYZE runs",
        _ => "the query",
    };
    let bulk = "a bulk read, refused even masked";
    let filter = "a WHERE that filters rows by a column (`WHERE true` or `WHERE id = id` does not)";
    match query {
        StatementKind::Merge => format!(
            "{label} holds card numbers, and {whose} is a MERGE that returns it from every row \
             its join matches, with no WHERE or LIMIT to bound that ({bulk}): return other \
             columns, or read it with a bounded SELECT"
        ),
        StatementKind::Update | StatementKind::Delete => format!(
            "{label} holds card numbers, and {whose} may return it from every row it changes \
             ({bulk}): give the {} {filter}",
            query.as_str().to_uppercase()
        ),
        _ => format!(
            "{label} holds card numbers, and {whose} may return it from every row ({bulk}): \
             give it {filter} or a constant LIMIT (`LIMIT $1` may be bound to no limit); in a \
             UNION, INTERSECT or EXCEPT, a LIMIT of the whole or a filtering WHERE in every arm"
        ),
    }
}

fn refusal(hit: &Hit, usage: &Use) -> String {
    let what = match usage {
        Use::Reveals(Reveal::Leading(n)) => format!("its first {n} characters"),
        Use::Reveals(Reveal::Trailing(n)) => format!("its last {n} characters"),
        Use::Reveals(_) => "a derivation".to_owned(),
        Use::Derived(how) => how.clone(),
        Use::RowFunction(name) => format!("{name}() on a whole row"),
        Use::Stored(Store::Column(target)) => format!(
            "a copy into {}{}",
            target
                .relation
                .as_ref()
                .map(|r| format!("{r}."))
                .unwrap_or_default(),
            match &target.column {
                Column::Name(n) => n.clone(),
                Column::Position(k) => format!("column {k}"),
                Column::All => "*".to_owned(),
            }
        ),
        Use::Stored(Store::NewObject(o)) => format!("a copy into the new object {o}"),
        Use::Stored(Store::CopyOut) => "COPY ... TO".to_owned(),
        Use::Stored(Store::Body) => "a body or definition that runs later".to_owned(),
        Use::Defines => {
            "a new table, view or column of that name (copies into it would count as card \
             data, and a table the session makes can send its rows anywhere)"
                .to_owned()
        }
    };
    let allowed = match hit.class {
        DataClass::Pan => {
            "as it is (masked), its first six or last four digits, its length, a count, or an \
             equality test with a constant or parameter"
        }
        DataClass::Masked => {
            "as it is (masked), its length, a count, or an equality test with a constant or \
             parameter"
        }
    };
    format!(
        "{} holds card data and cannot be used in {what}; it may be read only {allowed}",
        hit.label
    )
}

#[cfg(test)]
mod tests;
