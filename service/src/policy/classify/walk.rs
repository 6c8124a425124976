//! The walk over one statement's parse tree.
//!
//! Iterative (an explicit stack, never recursion), so the walk's own depth cannot overflow
//! whatever the tree; [`children::for_each_child`] guarantees every node is reached. Each node
//! is visited before its children, which lets a parent decide how a child is read:
//! - a relation a parent writes (`DELETE FROM cards`) is *claimed*: the parent records it as a
//!   write, and the relation's own visit adds no read;
//! - a `WITH` list opens a *scope* of CTE names, so `FROM d` inside it is not a table `d`.
//!   Scoping follows Postgres: a CTE body sees the CTEs listed before it (all of them with
//!   `RECURSIVE`), the statement sees them all, and a DML target never refers to a CTE.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use pg_query::protobuf as pb;
use pg_query::{NodeEnum, NodeRef};

use super::body::{self, Context, Found, Runs};
use super::kind::{self, StatementKind};
use super::{ColumnRef, CopyDirection, CopyInfo, ObjectName, Statement, children, shape};

/// Classifies one statement of `sql` (the text `raw` was parsed from); `cx` says how the text
/// was read and how deep in bodies it is.
pub(super) fn statement(raw: &pb::RawStmt, sql: &str, cx: &Context) -> Statement {
    let text_range = text_range(raw, sql);
    let Some(root) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
        // The parser never produces a RawStmt without a statement; describe it as unknown.
        return Statement::empty(StatementKind::Other, text_range);
    };
    let root = root.to_ref();
    let mut walk = Walk::new(cx.clone());
    walk.run(root);
    let mut statement = walk.finish(root, text_range);
    statement.lineage = super::lineage::of_statement(root);
    statement
}

impl Statement {
    pub(super) fn empty(kind: StatementKind, text_range: Range<usize>) -> Statement {
        Statement {
            kind,
            inner_kinds: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            columns: Vec::new(),
            star: false,
            copy: None,
            copies: Vec::new(),
            bounded: false,
            aggregates_only: false,
            window_functions: false,
            unbounded_writes: Vec::new(),
            opaque_body: false,
            dynamic_sql: false,
            cascade: false,
            setting: None,
            settings: Vec::new(),
            set_config: Vec::new(),
            prepared: None,
            text_range,
            lineage: Default::default(),
        }
    }
}

/// `stmt_location` and `stmt_len` are byte offsets; a length of 0 means "to the end".
fn text_range(raw: &pb::RawStmt, sql: &str) -> Range<usize> {
    let start = usize::try_from(raw.stmt_location)
        .unwrap_or(0)
        .min(sql.len());
    let end = match usize::try_from(raw.stmt_len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(len) => start.saturating_add(len).min(sql.len()),
    };
    start..end
}

/// Names of the CTEs visible at some point of the tree.
struct Scope<'a> {
    parent: Option<usize>,
    ctes: Vec<&'a str>,
}

/// What a parent decided about one of its descendants, keyed by the descendant's address.
#[derive(Clone, Copy)]
enum Claim {
    /// A relation the parent has already accounted for (a write target, or an alias listed in
    /// `FOR UPDATE OF`): its own visit records nothing.
    Recorded,
    /// A CTE: its body sees this scope.
    Scope(usize),
}

#[derive(Clone, Copy)]
struct Item<'a> {
    node: NodeRef<'a>,
    scope: usize,
}

struct Walk<'a> {
    cx: Context,
    scopes: Vec<Scope<'a>>,
    claims: HashMap<usize, Claim>,
    inner_kinds: Vec<StatementKind>,
    reads: Vec<ObjectName>,
    writes: Vec<ObjectName>,
    functions: Vec<ObjectName>,
    columns: Vec<ColumnRef>,
    star: bool,
    window_functions: bool,
    copies: Vec<CopyInfo>,
    unbounded_writes: Vec<ObjectName>,
    opaque_body: bool,
    dynamic_sql: bool,
    cascade: bool,
    settings: Vec<String>,
    set_config: Vec<Option<String>>,
    /// `SELECT set_config(name, …) FROM pg_settings WHERE name = '<constant>'` (how pg_dump
    /// sets a parameter only if the server has it): the calls in such a root's select list and
    /// the one name their `name` can be.
    settings_row: Option<(HashSet<usize>, String)>,
    /// Relation names, CTE names and aliases: what a bare name could be the whole row of.
    row_sources: HashSet<&'a str>,
    bare_columns: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn new(cx: Context) -> Walk<'a> {
        Walk {
            cx,
            scopes: Vec::new(),
            claims: HashMap::new(),
            inner_kinds: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            columns: Vec::new(),
            star: false,
            window_functions: false,
            copies: Vec::new(),
            unbounded_writes: Vec::new(),
            opaque_body: false,
            dynamic_sql: false,
            cascade: false,
            settings: Vec::new(),
            set_config: Vec::new(),
            settings_row: None,
            row_sources: HashSet::new(),
            bare_columns: Vec::new(),
        }
    }

    fn run(&mut self, root: NodeRef<'a>) {
        self.settings_row = settings_row(root);
        self.scopes.push(Scope {
            parent: None,
            ctes: Vec::new(),
        });
        let mut stack = vec![Item {
            node: root,
            scope: 0,
        }];
        let mut is_root = true;
        while let Some(item) = stack.pop() {
            let scope = self.visit(item, is_root);
            is_root = false;
            children::for_each_child(item.node, &mut |node| stack.push(Item { node, scope }));
        }
    }

    /// Records what `item` itself says; returns the scope its children see.
    fn visit(&mut self, item: Item<'a>, is_root: bool) -> usize {
        // A VALUES list (`INSERT … VALUES`, `FROM (VALUES …)`) is a SelectStmt to the parser but
        // reads nothing; its expressions are walked all the same.
        let values_list = matches!(item.node, NodeRef::SelectStmt(s) if !s.values_lists.is_empty());
        if !is_root
            && !values_list
            && let Some(kind) = kind::of(item.node)
        {
            self.inner_kinds.push(kind);
        }
        let scope = item.scope;
        match item.node {
            NodeRef::RangeVar(rv) => {
                self.row_sources.insert(&rv.relname);
                let unqualified = rv.schemaname.is_empty() && rv.catalogname.is_empty();
                let accounted_for = self.claim_of(NodeRef::RangeVar(rv)).is_some()
                    || (unqualified && self.is_cte(scope, &rv.relname));
                if !accounted_for {
                    self.reads.push(relation(rv));
                }
            }
            NodeRef::Alias(alias) => {
                self.row_sources.insert(&alias.aliasname);
            }
            NodeRef::CommonTableExpr(cte) => {
                self.row_sources.insert(&cte.ctename);
                if let Some(Claim::Scope(body)) = self.claim_of(NodeRef::CommonTableExpr(cte)) {
                    return body;
                }
            }
            NodeRef::AStar(_) => self.star = true,
            NodeRef::ColumnRef(c) => self.column(c),
            NodeRef::FuncCall(f) => {
                self.window_functions |= f.over.is_some();
                self.function(&f.funcname);
                self.call(f);
            }

            NodeRef::SelectStmt(s) => {
                if s.into_clause.is_some() {
                    // SELECT … INTO creates a table: as much a CREATE TABLE as CREATE TABLE AS.
                    self.inner_kinds.push(StatementKind::CreateTable);
                }
                for locking in &s.locking_clause {
                    if let Some(NodeEnum::LockingClause(l)) = &locking.node {
                        // `FOR UPDATE OF c` names FROM items (aliases), not relations.
                        for rel in &l.locked_rels {
                            if let Some(NodeEnum::RangeVar(rv)) = &rel.node {
                                self.claim(NodeRef::RangeVar(rv), Claim::Recorded);
                            }
                        }
                    }
                }
                return self.with_scope(scope, s.with_clause.as_ref());
            }
            NodeRef::InsertStmt(s) => {
                self.target(s.relation.as_ref(), returns(&s.returning_clause));
                self.stored_columns(&s.cols);
                if let Some(conflict) = &s.on_conflict_clause {
                    self.stored_columns(&conflict.target_list);
                }
                return self.with_scope(scope, s.with_clause.as_ref());
            }
            NodeRef::UpdateStmt(s) => {
                self.target(s.relation.as_ref(), returns(&s.returning_clause));
                self.stored_columns(&s.target_list);
                if !filters_rows(s.where_clause.as_deref()) {
                    self.unbounded_writes
                        .extend(s.relation.as_ref().map(relation));
                }
                return self.with_scope(scope, s.with_clause.as_ref());
            }
            NodeRef::DeleteStmt(s) => {
                self.target(s.relation.as_ref(), returns(&s.returning_clause));
                if !filters_rows(s.where_clause.as_deref()) {
                    self.unbounded_writes
                        .extend(s.relation.as_ref().map(relation));
                }
                return self.with_scope(scope, s.with_clause.as_ref());
            }
            NodeRef::MergeStmt(s) => {
                self.target(s.relation.as_ref(), returns(&s.returning_clause));
                for clause in &s.merge_when_clauses {
                    if let Some(NodeEnum::MergeWhenClause(w)) = &clause.node {
                        self.stored_columns(&w.target_list);
                    }
                }
                if merge_changes_rows(s) {
                    self.unbounded_writes
                        .extend(s.relation.as_ref().map(relation));
                }
                return self.with_scope(scope, s.with_clause.as_ref());
            }
            NodeRef::CopyStmt(s) => {
                self.copies.push(copy_info(s));
                if s.is_from {
                    self.target(s.relation.as_ref(), false);
                }
            }
            NodeRef::IntoClause(into) => self.target(into.rel.as_ref(), false),
            NodeRef::TruncateStmt(s) => {
                self.targets(&s.relations);
                self.cascade |= cascades(s.behavior);
            }
            NodeRef::LockStmt(s) => self.targets(&s.relations),
            NodeRef::CreateStmt(s) => {
                self.target(s.relation.as_ref(), false);
                // INHERITS (cards) and PARTITION OF cards change what `FROM cards` returns.
                self.targets(&s.inh_relations);
            }
            NodeRef::IndexStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::ViewStmt(s) => self.target(s.view.as_ref(), false),
            NodeRef::AlterTableStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::AlterTableCmd(cmd) => {
                // DROP COLUMN … CASCADE, DROP CONSTRAINT … CASCADE (and ALTER TYPE's attributes).
                self.cascade |= cascades(cmd.behavior);
                // ALTER TABLE … INHERIT cards: the parent changes too.
                if let Some(NodeEnum::RangeVar(rv)) = cmd.def.as_ref().and_then(|d| d.node.as_ref())
                {
                    self.target(Some(rv), false);
                }
            }
            NodeRef::PartitionCmd(p) => self.target(p.name.as_ref(), false),
            NodeRef::RenameStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::AlterObjectSchemaStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::AlterOwnerStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::CreateTrigStmt(s) => {
                self.target(s.relation.as_ref(), false);
                self.function(&s.funcname);
            }
            NodeRef::CreateEventTrigStmt(s) => self.function(&s.funcname),
            // Functions named so that Postgres will call them: operators, aggregates, base and
            // range types, text search parsers and templates (`DefElem`s naming a function),
            // casts, transforms, operator classes, languages, wrappers, access methods,
            // conversions, planner support functions.
            NodeRef::DefineStmt(s) => self.function_options(&s.definition),
            NodeRef::CreateRangeStmt(s) => self.function_options(&s.params),
            NodeRef::AlterTypeStmt(s) => self.function_options(&s.options),
            NodeRef::AlterOperatorStmt(s) => self.function_options(&s.options),
            NodeRef::CreateFdwStmt(s) => self.function_options(&s.func_options),
            NodeRef::AlterFdwStmt(s) => self.function_options(&s.func_options),
            NodeRef::AlterFunctionStmt(s) => self.function_options(&s.actions),
            NodeRef::CreateCastStmt(s) => {
                if let Some(func) = &s.func {
                    self.function(&func.objname);
                }
            }
            NodeRef::CreateTransformStmt(s) => {
                for func in [&s.fromsql, &s.tosql].into_iter().flatten() {
                    self.function(&func.objname);
                }
            }
            NodeRef::CreateOpClassItem(item) if item.itemtype == OPCLASS_ITEM_FUNCTION => {
                if let Some(func) = &item.name {
                    self.function(&func.objname);
                }
            }
            NodeRef::CreatePlangStmt(s) => {
                for name in [&s.plhandler, &s.plinline, &s.plvalidator] {
                    self.function(name);
                }
            }
            NodeRef::CreateAmStmt(s) => self.function(&s.handler_name),
            NodeRef::CreateConversionStmt(s) => self.function(&s.func_name),
            NodeRef::RuleStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::CreatePolicyStmt(s) => self.target(s.table.as_ref(), false),
            NodeRef::AlterPolicyStmt(s) => self.target(s.table.as_ref(), false),
            NodeRef::ClusterStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::ReindexStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::RefreshMatViewStmt(s) => self.target(s.relation.as_ref(), false),
            NodeRef::CreateSeqStmt(s) => self.target(s.sequence.as_ref(), false),
            NodeRef::AlterSeqStmt(s) => self.target(s.sequence.as_ref(), false),
            NodeRef::VacuumStmt(s) if s.is_vacuumcmd => {
                for rel in &s.rels {
                    if let Some(NodeEnum::VacuumRelation(vr)) = &rel.node {
                        self.target(vr.relation.as_ref(), false);
                    }
                }
            }
            NodeRef::GrantStmt(s) => {
                self.cascade |= cascades(s.behavior);
                let on_relations = matches!(
                    pb::ObjectType::try_from(s.objtype),
                    Ok(pb::ObjectType::ObjectTable | pb::ObjectType::ObjectSequence)
                );
                let named = pb::GrantTargetType::try_from(s.targtype)
                    == Ok(pb::GrantTargetType::AclTargetObject);
                if on_relations && named {
                    self.targets(&s.objects);
                }
            }
            NodeRef::GrantRoleStmt(s) => self.cascade |= cascades(s.behavior),
            NodeRef::AlterDomainStmt(s) => self.cascade |= cascades(s.behavior),
            NodeRef::DropSubscriptionStmt(s) => self.cascade |= cascades(s.behavior),
            // Drops everything the roles own, and revokes what they were granted.
            NodeRef::DropOwnedStmt(_) => self.cascade = true,
            NodeRef::DropStmt(s) => {
                self.cascade |= cascades(s.behavior);
                for object in &s.objects {
                    self.named_object(s.remove_type, object);
                }
            }
            NodeRef::CommentStmt(s) => {
                if let Some(object) = &s.object {
                    self.named_object(s.objtype, object);
                }
            }
            NodeRef::SecLabelStmt(s) => {
                if let Some(object) = &s.object {
                    self.named_object(s.objtype, object);
                }
            }
            NodeRef::VariableSetStmt(s) => {
                self.settings.extend(setting(s));
                self.settings.extend(transaction_modes(s));
            }
            // `BEGIN READ WRITE`, `START TRANSACTION ISOLATION LEVEL ...`: the transaction's
            // modes are the parameters they set.
            NodeRef::TransactionStmt(t) => self.settings.extend(mode_names(&t.options, "")),
            NodeRef::VariableShowStmt(s) => self.settings.push(s.name.to_ascii_lowercase()),
            NodeRef::DoStmt(s) => {
                let found = body::do_block(s, &self.cx);
                self.absorb(found);
            }
            NodeRef::CreateFunctionStmt(s) => {
                self.function_options(&s.options);
                if s.sql_body.is_none() {
                    let found = body::function(s, &self.cx);
                    self.absorb(found);
                }
            }
            _ => {}
        }
        scope
    }

    fn finish(mut self, root: NodeRef<'a>, text_range: Range<usize>) -> Statement {
        let whole_row = self
            .bare_columns
            .iter()
            .any(|name| self.row_sources.contains(name));
        let mut statement = Statement {
            kind: kind::of(root).unwrap_or(StatementKind::Other),
            inner_kinds: sorted(self.inner_kinds),
            reads: sorted(std::mem::take(&mut self.reads)),
            writes: sorted(std::mem::take(&mut self.writes)),
            functions: sorted(std::mem::take(&mut self.functions)),
            columns: sorted(std::mem::take(&mut self.columns)),
            star: self.star || whole_row,
            copy: None,
            copies: sorted(std::mem::take(&mut self.copies)),
            bounded: shape::bounded(root),
            aggregates_only: shape::aggregates_only(root),
            window_functions: self.window_functions,
            unbounded_writes: sorted(std::mem::take(&mut self.unbounded_writes)),
            opaque_body: self.opaque_body,
            dynamic_sql: self.dynamic_sql,
            cascade: self.cascade,
            setting: None,
            settings: sorted(std::mem::take(&mut self.settings)),
            set_config: sorted(std::mem::take(&mut self.set_config)),
            prepared: None,
            text_range,
            lineage: Default::default(),
        };
        match root {
            NodeRef::CopyStmt(s) => statement.copy = Some(copy_info(s)),
            NodeRef::VariableSetStmt(s) => statement.setting = setting(s),
            NodeRef::AlterSystemStmt(s) => statement.setting = s.setstmt.as_ref().and_then(setting),
            NodeRef::VariableShowStmt(s) => statement.setting = Some(s.name.to_ascii_lowercase()),
            NodeRef::PrepareStmt(s) => statement.prepared = Some(s.name.clone()),
            NodeRef::ExecuteStmt(s) => statement.prepared = Some(s.name.clone()),
            NodeRef::DeallocateStmt(s) if !s.isall && !s.name.is_empty() => {
                statement.prepared = Some(s.name.clone());
            }
            _ => {}
        }
        statement
    }

    fn claim(&mut self, node: NodeRef<'_>, claim: Claim) {
        self.claims.insert(children::address(node), claim);
    }

    fn claim_of(&self, node: NodeRef<'_>) -> Option<Claim> {
        self.claims.get(&children::address(node)).copied()
    }

    /// A relation the statement writes; with `also_read`, its rows also go back to the client.
    fn target(&mut self, rv: Option<&pb::RangeVar>, also_read: bool) {
        let Some(rv) = rv else { return };
        self.writes.push(relation(rv));
        if also_read {
            self.reads.push(relation(rv));
        }
        self.claim(NodeRef::RangeVar(rv), Claim::Recorded);
    }

    fn targets(&mut self, nodes: &[pb::Node]) {
        for node in nodes {
            if let Some(NodeEnum::RangeVar(rv)) = &node.node {
                self.target(Some(rv), false);
            }
        }
    }

    /// An object named by a list of identifiers, as DROP and COMMENT name them: a relation is
    /// written; for a part of a relation (trigger, rule, policy, column, constraint) the
    /// relation it belongs to is.
    fn named_object(&mut self, object_type: i32, object: &pb::Node) {
        use pb::ObjectType as T;
        let Some(NodeEnum::List(list)) = &object.node else {
            return;
        };
        let parts = || list.items.iter().filter_map(string);
        let name = match T::try_from(object_type) {
            Ok(
                T::ObjectTable
                | T::ObjectView
                | T::ObjectMatview
                | T::ObjectSequence
                | T::ObjectIndex
                | T::ObjectForeignTable,
            ) => ObjectName::from_parts(parts()),
            Ok(
                T::ObjectTrigger
                | T::ObjectRule
                | T::ObjectPolicy
                | T::ObjectColumn
                | T::ObjectTabconstraint,
            ) => {
                let owner: Vec<&str> = parts().collect();
                owner
                    .split_last()
                    .and_then(|(_, owner)| ObjectName::from_parts(owner.iter().copied()))
            }
            _ => None,
        };
        self.writes.extend(name);
    }

    fn function(&mut self, funcname: &[pb::Node]) {
        let parts: Vec<&str> = funcname.iter().filter_map(string).collect();
        self.functions
            .extend(ObjectName::from_parts(parts.iter().copied()));
    }

    /// The `DefElem`s of a definition that name a function (`SFUNC = f`, `RESTRICT = f`,
    /// `HANDLER h`, `SUPPORT s`...). The argument is a type name, a list of identifiers, or a
    /// string taken whole as one name, as Postgres's `defGetQualifiedName` takes it.
    fn function_options(&mut self, options: &[pb::Node]) {
        for option in options {
            let Some(NodeEnum::DefElem(d)) = &option.node else {
                continue;
            };
            if !FUNCTION_OPTIONS
                .iter()
                .any(|name| d.defname.eq_ignore_ascii_case(name))
            {
                continue;
            }
            match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::TypeName(t)) => self.function(&t.names),
                Some(NodeEnum::List(l)) => self.function(&l.items),
                Some(NodeEnum::String(s)) => self.functions.push(ObjectName {
                    schema: None,
                    name: s.sval.clone(),
                }),
                _ => {}
            }
        }
    }

    /// What a call does beyond being a call: `set_config`, and functions that run SQL text.
    fn call(&mut self, f: &pb::FuncCall) {
        let parts: Vec<&str> = f.funcname.iter().filter_map(string).collect();
        let Some((name, qualifier)) = parts.split_last() else {
            return;
        };
        if *name == "set_config" {
            let first = argument(f, 0, "setting_name");
            let mut setting = first
                .and_then(body::string_constant)
                .map(str::to_ascii_lowercase);
            if setting.is_none()
                && let Some((calls, only)) = &self.settings_row
                && calls.contains(&children::address(NodeRef::FuncCall(f)))
                && first.is_some_and(is_name_column)
            {
                setting = Some(only.clone());
            }
            self.set_config.push(setting);
        }
        let schema = qualifier.last().copied();
        let Some(runs) = body::runs_sql(schema, name, f.args.len()) else {
            return;
        };
        match runs {
            Runs::Sql(position) => {
                match argument(f, position, "").and_then(body::string_constant) {
                    Some(sql) => {
                        let found = body::sql_text(sql, &self.cx);
                        self.absorb(found);
                    }
                    None => self.dynamic_sql = true,
                }
            }
            Runs::Relation(position) => {
                let named = argument(f, position, "")
                    .and_then(body::string_constant)
                    .and_then(|name| body::relation_name(name, &self.cx));
                match named {
                    Some(name) => {
                        // Every column of every row, none named.
                        self.reads.push(name);
                        self.star = true;
                    }
                    None => self.dynamic_sql = true,
                }
            }
            Runs::Unnamed => self.dynamic_sql = true,
            Runs::Elsewhere => {
                self.dynamic_sql = true;
                // What can be read of it is reported too; arguments that are not SQL (a
                // connection string, a cursor name) do not parse and add nothing.
                for arg in &f.args {
                    if let Some(text) = body::string_constant(arg) {
                        let found = body::sql_text(text, &self.cx);
                        if !found.opaque {
                            self.absorb(found);
                        }
                    }
                }
            }
        }
    }

    /// Folds in what a body or a string held.
    fn absorb(&mut self, found: Found) {
        self.opaque_body |= found.opaque;
        self.dynamic_sql |= found.dynamic;
        self.functions.extend(found.functions);
        for (s, is_statement) in found.statements {
            if is_statement {
                self.inner_kinds.push(s.kind);
            }
            self.inner_kinds.extend(s.inner_kinds);
            self.reads.extend(s.reads);
            self.writes.extend(s.writes);
            self.functions.extend(s.functions);
            self.columns.extend(s.columns);
            self.star |= s.star;
            self.window_functions |= s.window_functions;
            self.copies.extend(s.copies);
            self.unbounded_writes.extend(s.unbounded_writes);
            self.opaque_body |= s.opaque_body;
            self.dynamic_sql |= s.dynamic_sql;
            self.cascade |= s.cascade;
            self.settings.extend(s.settings);
            self.set_config.extend(s.set_config);
        }
    }

    /// The columns an INSERT list, an UPDATE or ON CONFLICT `SET`, or a MERGE action stores
    /// into: referenced as much as the columns a statement reads.
    fn stored_columns(&mut self, targets: &'a [pb::Node]) {
        for t in targets {
            if let Some(NodeEnum::ResTarget(r)) = &t.node
                && !r.name.is_empty()
            {
                self.columns.push(ColumnRef {
                    qualifier: None,
                    name: r.name.clone(),
                });
            }
        }
    }

    fn column(&mut self, c: &'a pb::ColumnRef) {
        let parts: Vec<&'a str> = c.fields.iter().filter_map(string).collect();
        // `t.*` ends in an A_Star, which its own visit records; it names no column.
        let ends_in_star = c
            .fields
            .last()
            .is_some_and(|f| matches!(f.node, Some(NodeEnum::AStar(_))));
        if ends_in_star {
            return;
        }
        let Some((name, qualifier)) = parts.split_last() else {
            return;
        };
        if qualifier.is_empty() {
            self.bare_columns.push(name);
        }
        self.columns.push(ColumnRef {
            qualifier: (!qualifier.is_empty()).then(|| qualifier.join(".")),
            name: (*name).to_owned(),
        });
    }

    /// Opens the scope of a `WITH` list (if any) under `outer`; returns the scope the rest of
    /// the statement sees and claims each CTE's body scope.
    fn with_scope(&mut self, outer: usize, with: Option<&'a pb::WithClause>) -> usize {
        let Some(with) = with else { return outer };
        let ctes: Vec<&'a pb::CommonTableExpr> = with
            .ctes
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::CommonTableExpr(cte)) => Some(&**cte),
                _ => None,
            })
            .collect();
        let all = self.new_scope(outer, ctes.iter().map(|c| c.ctename.as_str()).collect());
        let mut before = outer;
        for cte in ctes {
            let body = if with.recursive { all } else { before };
            self.claim(NodeRef::CommonTableExpr(cte), Claim::Scope(body));
            before = self.new_scope(before, vec![cte.ctename.as_str()]);
        }
        all
    }

    fn new_scope(&mut self, parent: usize, ctes: Vec<&'a str>) -> usize {
        self.scopes.push(Scope {
            parent: Some(parent),
            ctes,
        });
        self.scopes.len() - 1
    }

    fn is_cte(&self, mut scope: usize, name: &str) -> bool {
        loop {
            let Some(s) = self.scopes.get(scope) else {
                return false;
            };
            if s.ctes.contains(&name) {
                return true;
            }
            match s.parent {
                Some(parent) => scope = parent,
                None => return false,
            }
        }
    }
}

/// `CreateOpClassItem.itemtype` of `FUNCTION n f(…)` (`OPCLASS_ITEM_FUNCTION`); 1 is an
/// operator, 3 a storage type.
const OPCLASS_ITEM_FUNCTION: i32 = 2;

/// Definition options whose argument names a function Postgres will call: `CREATE AGGREGATE`
/// (new and old syntax), `CREATE OPERATOR` and `ALTER OPERATOR … SET`, `CREATE TYPE` (base and
/// range) and `ALTER TYPE … SET`, `CREATE TEXT SEARCH PARSER` and `TEMPLATE`, `CREATE`/`ALTER
/// FOREIGN DATA WRAPPER`, and `SUPPORT` of `CREATE`/`ALTER FUNCTION`. Compared
/// case-insensitively (a quoted `"SFUNC"` is listed too: more names, never fewer).
const FUNCTION_OPTIONS: &[&str] = &[
    "sfunc",
    "sfunc1",
    "finalfunc",
    "combinefunc",
    "serialfunc",
    "deserialfunc",
    "msfunc",
    "minvfunc",
    "mfinalfunc",
    "function",
    "procedure",
    "restrict",
    "join",
    "input",
    "output",
    "receive",
    "send",
    "typmod_in",
    "typmod_out",
    "analyze",
    "subscript",
    "subtype_diff",
    "canonical",
    "start",
    "gettoken",
    "end",
    "lextypes",
    "headline",
    "init",
    "lexize",
    "handler",
    "validator",
    "support",
];

/// The argument at `position` of a call written positionally, or the one named `name`
/// (`setting_name => 'role'`); `None` when named notation leaves it unknown.
fn argument<'f>(f: &'f pb::FuncCall, position: usize, name: &str) -> Option<&'f pb::Node> {
    for arg in &f.args {
        if let Some(NodeEnum::NamedArgExpr(n)) = &arg.node
            && !name.is_empty()
            && n.name == name
        {
            return n.arg.as_deref();
        }
    }
    if f.func_variadic {
        return None;
    }
    // Positional arguments come before named ones.
    f.args
        .get(position)
        .filter(|arg| !matches!(arg.node, Some(NodeEnum::NamedArgExpr(_))))
}

fn cascades(behavior: i32) -> bool {
    pb::DropBehavior::try_from(behavior) == Ok(pb::DropBehavior::DropCascade)
}

fn copy_info(s: &pb::CopyStmt) -> CopyInfo {
    CopyInfo {
        direction: if s.is_from {
            CopyDirection::From
        } else {
            CopyDirection::To
        },
        program: s.is_program,
        stdio: !s.is_program && s.filename.is_empty(),
    }
}

/// A MERGE with an `UPDATE` or `DELETE` action changes every target row its join matches
/// (`ON true` matches them all); one with only `INSERT` and `DO NOTHING` actions changes none.
fn merge_changes_rows(s: &pb::MergeStmt) -> bool {
    s.merge_when_clauses
        .iter()
        .any(|clause| match &clause.node {
            Some(NodeEnum::MergeWhenClause(w)) => matches!(
                pb::CmdType::try_from(w.command_type),
                Ok(pb::CmdType::CmdUpdate | pb::CmdType::CmdDelete) | Err(_)
            ),
            _ => false,
        })
}

fn relation(rv: &pb::RangeVar) -> ObjectName {
    ObjectName {
        schema: (!rv.schemaname.is_empty()).then(|| rv.schemaname.clone()),
        name: rv.relname.clone(),
    }
}

fn string(node: &pb::Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::String(s)) => Some(&s.sval),
        _ => None,
    }
}

fn returns(returning: &Option<pb::ReturningClause>) -> bool {
    returning.as_ref().is_some_and(|r| !r.exprs.is_empty())
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort_unstable();
    items.dedup();
    items
}

/// The parameters `SET TRANSACTION ...` sets (`transaction_read_only`, `transaction_isolation`,
/// `transaction_deferrable`), and those `SET SESSION CHARACTERISTICS AS TRANSACTION ...` sets
/// (their `default_` forms): the same as `SET transaction_read_only = off`.
fn transaction_modes(s: &pb::VariableSetStmt) -> Vec<String> {
    if pb::VariableSetKind::try_from(s.kind) != Ok(pb::VariableSetKind::VarSetMulti) {
        return Vec::new();
    }
    match s.name.to_ascii_lowercase().as_str() {
        "transaction" => mode_names(&s.args, ""),
        "session characteristics" => mode_names(&s.args, "default_"),
        _ => Vec::new(),
    }
}

/// The names of transaction-mode options (DefElems), with `prefix`.
fn mode_names(options: &[pb::Node], prefix: &str) -> Vec<String> {
    options
        .iter()
        .filter_map(|o| match &o.node {
            Some(NodeEnum::DefElem(d)) if d.defname.starts_with("transaction_") => {
                Some(format!("{prefix}{}", d.defname.to_ascii_lowercase()))
            }
            _ => None,
        })
        .collect()
}

fn setting(s: &pb::VariableSetStmt) -> Option<String> {
    let all = pb::VariableSetKind::try_from(s.kind) == Ok(pb::VariableSetKind::VarResetAll);
    (!all).then(|| s.name.to_ascii_lowercase())
}

/// A WHERE clause that may keep fewer rows than all, read syntactically: it mentions a column
/// (or is `CURRENT OF` a cursor), except that an `OR` is as wide as its widest arm and a
/// comparison of a column with itself (`id = id`) keeps every row with a value. `WHERE true`,
/// `WHERE 1 = 1` and `WHERE pan IS NOT NULL OR true` do not filter; `WHERE id > 0` does, though
/// it may keep every row: a hint for rules, not a proof.
pub(super) fn filters_rows(where_clause: Option<&pb::Node>) -> bool {
    where_clause.is_some_and(filters)
}

fn filters(node: &pb::Node) -> bool {
    match &node.node {
        Some(NodeEnum::BoolExpr(b)) => match pb::BoolExprType::try_from(b.boolop) {
            Ok(pb::BoolExprType::AndExpr) => b.args.iter().any(filters),
            Ok(pb::BoolExprType::OrExpr) => !b.args.is_empty() && b.args.iter().all(filters),
            _ => mentions_column(node),
        },
        Some(NodeEnum::AExpr(e)) if compares_with_itself(e) => false,
        Some(_) => mentions_column(node),
        None => false,
    }
}

/// `a = a`, `a >= a`, `a <= a`, `a IS NOT DISTINCT FROM a` for one column reference `a`.
fn compares_with_itself(e: &pb::AExpr) -> bool {
    let operator = e.name.iter().filter_map(string).next_back();
    let reflexive = match pb::AExprKind::try_from(e.kind) {
        Ok(pb::AExprKind::AexprOp) => matches!(operator, Some("=" | ">=" | "<=")),
        Ok(pb::AExprKind::AexprNotDistinct) => true,
        _ => false,
    };
    fn column(side: &Option<Box<pb::Node>>) -> Option<&[pb::Node]> {
        match side.as_deref().map(|n| &n.node) {
            Some(Some(NodeEnum::ColumnRef(c))) => Some(&c.fields),
            _ => None,
        }
    }
    reflexive && column(&e.lexpr).is_some() && column(&e.lexpr) == column(&e.rexpr)
}

fn mentions_column(root: &pb::Node) -> bool {
    let Some(root) = root.node.as_ref() else {
        return false;
    };
    let mut stack = vec![root.to_ref()];
    while let Some(node) = stack.pop() {
        if matches!(node, NodeRef::ColumnRef(_) | NodeRef::CurrentOfExpr(_)) {
            return true;
        }
        children::for_each_child(node, &mut |child| stack.push(child));
    }
    false
}

/// The pg_dump idiom `SELECT set_config(name, '…', false) FROM pg_settings WHERE name = 'x'`:
/// `name` can only be `x` there. Returns the calls of the select list and `x`, lower-cased.
fn settings_row(root: NodeRef<'_>) -> Option<(HashSet<usize>, String)> {
    let NodeRef::SelectStmt(s) = root else {
        return None;
    };
    let [from] = s.from_clause.as_slice() else {
        return None;
    };
    let Some(NodeEnum::RangeVar(rv)) = &from.node else {
        return None;
    };
    let catalog = rv.schemaname.is_empty() || rv.schemaname == "pg_catalog";
    if !catalog || rv.relname != "pg_settings" || s.with_clause.is_some() {
        return None;
    }
    let Some(NodeEnum::AExpr(e)) = s.where_clause.as_deref().and_then(|w| w.node.as_ref()) else {
        return None;
    };
    let is_eq = e.kind == pb::AExprKind::AexprOp as i32
        && matches!(e.name.as_slice(), [op] if string(op) == Some("="));
    let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
        return None;
    };
    let constant = match (is_name_column(l), is_name_column(r)) {
        (true, false) => body::string_constant(r),
        (false, true) => body::string_constant(l),
        _ => None,
    };
    let only = constant.filter(|_| is_eq)?.to_ascii_lowercase();
    let calls = s
        .target_list
        .iter()
        .filter_map(|t| match &t.node {
            Some(NodeEnum::ResTarget(rt)) => {
                match rt.val.as_deref().and_then(|v| v.node.as_ref()) {
                    Some(NodeEnum::FuncCall(f)) => Some(children::address(NodeRef::FuncCall(f))),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    Some((calls, only))
}

/// A bare reference to the column `name` (or `pg_settings.name`).
fn is_name_column(node: &pb::Node) -> bool {
    match &node.node {
        Some(NodeEnum::ColumnRef(c)) => {
            let parts: Vec<&str> = c.fields.iter().filter_map(string).collect();
            matches!(
                parts.as_slice(),
                ["name"] | ["pg_settings", "name"] | ["pg_catalog", "pg_settings", "name"]
            )
        }
        _ => false,
    }
}
