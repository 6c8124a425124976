//! A rule's conditions on one statement, compiled, and how they are quantified over the
//! statement's kinds, tables, functions and columns.

use globset::GlobMatcher;

use super::{NameGlob, RuleConfig, UnlessConfig, glob, glob_exact, name_glob};
use crate::policy::classify::lineage::{Column, Source, Store, Use};
use crate::policy::classify::{CopyDirection, ObjectName, Statement, StatementKind};

/// How list conditions (kinds, tables, writes, functions, columns) hold over a statement's
/// items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quantifier {
    /// Restricting rules (deny, approve): *any* item fits.
    Any,
    /// Allow rules: *every* item fits, and there is at least one.
    Every,
    /// `[rules.unless]`: every item fits; a statement without such items fits ("every table
    /// written is in …" holds for a statement that writes none).
    EveryOrNone,
}

/// Kinds that create, change or drop objects (what they change is in `writes` when it is a
/// relation, and nowhere when it is another object).
fn changes_objects(kind: StatementKind) -> bool {
    use StatementKind as K;
    !matches!(
        kind,
        K::Select
            | K::Insert
            | K::Update
            | K::Delete
            | K::Merge
            | K::Copy
            | K::Set
            | K::Reset
            | K::Show
            | K::Prepare
            | K::Execute
            | K::Deallocate
            | K::Transaction
            | K::Explain
            | K::Listen
            | K::Unlisten
            | K::DeclareCursor
            | K::Fetch
            | K::CloseCursor
            | K::Discard
    )
}

/// A column pattern: `column`, `table.column` or `schema.table.column`.
pub(super) struct ColumnGlob {
    table: Option<NameGlob>,
    column: GlobMatcher,
    /// Case-sensitive, for allow rules and exceptions.
    exact_column: GlobMatcher,
}

impl ColumnGlob {
    fn compile(pattern: &str) -> Result<ColumnGlob, String> {
        let parts: Vec<&str> = pattern.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(format!(
                "{pattern:?} is neither `column`, `table.column` nor `schema.table.column`"
            ));
        }
        let (table, column) = pattern.rsplit_once('.').unwrap_or(("", pattern));
        Ok(ColumnGlob {
            table: if table.is_empty() {
                None
            } else {
                Some(name_glob(table)?)
            },
            column: glob(column)?,
            exact_column: glob_exact(column)?,
        })
    }
}

/// The statement conditions of one rule (or of its `unless`).
#[derive(Default)]
pub(super) struct Conditions {
    kinds: Vec<StatementKind>,
    tables: Vec<NameGlob>,
    writes: Vec<NameGlob>,
    functions: Vec<NameGlob>,
    columns: Vec<ColumnGlob>,
    bounded: Option<bool>,
    copy: Option<CopyDirection>,
    copy_program: bool,
    settings: Vec<String>,
    opaque_body_mentions: Vec<String>,
    unbounded_writes: Vec<NameGlob>,
    cascade: bool,
    dynamic_sql: bool,
    copy_server_file: bool,
    computed_setting: bool,
    setting_changes: bool,
    aggregates_only: Option<bool>,
    window_functions: Option<bool>,
}

fn kinds(list: &[String]) -> Result<Vec<StatementKind>, String> {
    list.iter()
        .map(|k| StatementKind::from_name(k).ok_or_else(|| format!("unknown statement kind {k:?}")))
        .collect()
}

fn names(key: &str, list: &[String]) -> Result<Vec<NameGlob>, String> {
    list.iter()
        .map(|p| name_glob(p).map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn columns(list: &[String]) -> Result<Vec<ColumnGlob>, String> {
    list.iter()
        .map(|p| ColumnGlob::compile(p).map_err(|e| format!("columns: {e}")))
        .collect()
}

impl Conditions {
    pub(super) fn compile(c: &RuleConfig) -> Result<Conditions, String> {
        let copy = match c.copy.as_deref() {
            None => None,
            Some("to") => Some(CopyDirection::To),
            Some("from") => Some(CopyDirection::From),
            Some(other) => return Err(format!("copy must be \"to\" or \"from\", not {other:?}")),
        };
        Ok(Conditions {
            bounded: c.bounded,
            copy,
            copy_program: c.copy_program,
            settings: c.settings.iter().map(|n| n.to_lowercase()).collect(),
            opaque_body_mentions: c.opaque_body_mentions.clone(),
            unbounded_writes: names("unbounded_writes", &c.unbounded_writes)?,
            cascade: c.cascade,
            dynamic_sql: c.dynamic_sql,
            copy_server_file: c.copy_server_file,
            computed_setting: c.computed_setting,
            setting_changes: c.setting_changes,
            aggregates_only: c.aggregates_only,
            window_functions: c.window_functions,
            ..Conditions::lists(&c.kinds, &c.tables, &c.writes, &c.functions, &c.columns)?
        })
    }

    pub(super) fn compile_unless(c: &UnlessConfig) -> Result<Conditions, String> {
        Conditions::lists(&c.kinds, &c.tables, &c.writes, &c.functions, &c.columns)
    }

    /// The list conditions a rule and an exception both have; no other condition.
    fn lists(
        kind_names: &[String],
        tables: &[String],
        writes: &[String],
        functions: &[String],
        column_patterns: &[String],
    ) -> Result<Conditions, String> {
        Ok(Conditions {
            kinds: kinds(kind_names)?,
            tables: names("tables", tables)?,
            writes: names("writes", writes)?,
            functions: names("functions", functions)?,
            columns: columns(column_patterns)?,
            ..Conditions::default()
        })
    }

    /// Whether no condition is set (the conditions hold for every statement).
    pub(super) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
            && self.tables.is_empty()
            && self.writes.is_empty()
            && self.functions.is_empty()
            && self.columns.is_empty()
            && self.bounded.is_none()
            && self.copy.is_none()
            && !self.copy_program
            && self.settings.is_empty()
            && self.opaque_body_mentions.is_empty()
            && self.unbounded_writes.is_empty()
            && !self.cascade
            && !self.dynamic_sql
            && !self.copy_server_file
            && !self.computed_setting
            && self.aggregates_only.is_none()
            && self.window_functions.is_none()
    }

    /// `Ok` when every condition holds for `s`, one statement of a text (`text` lower-cased),
    /// else the key of the first condition that does not.
    pub(super) fn check(
        &self,
        s: &Statement,
        text: &str,
        q: Quantifier,
    ) -> Result<(), &'static str> {
        fn fits<T>(
            q: Quantifier,
            mut items: impl Iterator<Item = T>,
            fit: impl Fn(&T) -> bool,
        ) -> bool {
            match q {
                Quantifier::Any => items.any(|i| fit(&i)),
                Quantifier::EveryOrNone => items.all(|i| fit(&i)),
                Quantifier::Every => {
                    let mut seen = false;
                    let all = items.all(|i| {
                        seen = true;
                        fit(&i)
                    });
                    seen && all
                }
            }
        }
        fn require(holds: bool, key: &'static str) -> Result<(), &'static str> {
            if holds { Ok(()) } else { Err(key) }
        }
        if !self.opaque_body_mentions.is_empty() {
            require(
                s.opaque_body && self.opaque_body_mentions.iter().any(|n| text.contains(n)),
                "opaque_body",
            )?;
        }
        let kinds = || std::iter::once(s.kind).chain(s.inner_kinds.iter().copied());
        // What lets statements through (allow rules, exceptions) matches names exactly.
        let exact = q != Quantifier::Any;
        let named = |globs: &[NameGlob], name: &crate::policy::classify::ObjectName| {
            globs.iter().any(|g| {
                if exact {
                    g.matches_exactly(name)
                } else {
                    g.matches(name)
                }
            })
        };
        let copies = || s.copy.iter().chain(&s.copies);
        if !self.kinds.is_empty() {
            require(
                fits(q, kinds(), |k| {
                    self.kinds.contains(k) || self.kinds.contains(&k.family())
                }),
                "kinds",
            )?;
        }
        if !self.tables.is_empty() {
            require(
                fits(q, s.reads.iter().chain(&s.writes), |t| {
                    named(&self.tables, t)
                }),
                "tables",
            )?;
        }
        if !self.writes.is_empty() {
            require(
                fits(q, s.writes.iter(), |t| named(&self.writes, t))
                    // "Every object changed is one of these tables": a statement that changes
                    // an object that is no table (a type, a function, a schema, the database)
                    // writes none, and does not hold vacuously.
                    && !(q == Quantifier::EveryOrNone
                        && s.writes.is_empty()
                        && kinds().any(changes_objects)),
                "writes",
            )?;
        }
        if !self.functions.is_empty() {
            require(
                fits(q, s.functions.iter(), |f| named(&self.functions, f)),
                "functions",
            )?;
        }
        if !self.columns.is_empty() {
            require(self.columns_fit(s, q), "columns")?;
        }
        if let Some(b) = self.bounded {
            require(b == s.bounded, "bounded")?;
        }
        if let Some(d) = self.copy {
            require(copies().any(|c| c.direction == d), "copy")?;
        }
        if self.copy_program {
            require(copies().any(|c| c.program), "copy_program")?;
        }
        if self.copy_server_file {
            require(copies().any(|c| !c.program && !c.stdio), "copy")?;
        }
        if !self.settings.is_empty() {
            // Every parameter the statement sets anywhere: SET/RESET/SHOW, SET clauses of
            // ALTER ROLE/DATABASE/FUNCTION, and constant names given to set_config. A SHOW
            // reads a parameter; only the pack's `changes` rules skip it.
            let shown_only = self.setting_changes && s.kind == StatementKind::Show;
            let mut settings = s
                .setting
                .iter()
                .chain(&s.settings)
                .filter(|_| !shown_only)
                .chain(s.set_config.iter().flatten())
                .map(|n| n.to_lowercase());
            require(settings.any(|n| self.settings.contains(&n)), "settings")?;
        }
        if !self.unbounded_writes.is_empty() {
            require(
                s.unbounded_writes
                    .iter()
                    .any(|t| self.unbounded_writes.iter().any(|g| g.matches(t))),
                "unbounded_writes",
            )?;
        }
        if self.cascade {
            require(s.cascade, "cascade")?;
        }
        if self.dynamic_sql {
            require(s.dynamic_sql, "dynamic_sql")?;
        }
        if self.computed_setting {
            require(s.set_config.iter().any(Option::is_none), "set_config")?;
        }
        if let Some(a) = self.aggregates_only {
            require(a == s.aggregates_only, "aggregates_only")?;
        }
        if let Some(w) = self.window_functions {
            require(w == s.window_functions, "window_functions")?;
        }
        Ok(())
    }

    /// The column condition.
    ///
    /// A restricting rule's pattern matches a column reference, or a column the statement
    /// stores into (`UPDATE ... SET c`, `INSERT INTO t (c)`), by its name; a qualified pattern
    /// (`cards.cvv`) also needs a relation of the statement that its table part names, since
    /// a reference's qualifier may be an alias. Every column of a relation counts when the
    /// statement reads `*`, a whole row, columns renamed by position (`cards AS c(i, p)`), or
    /// copies a table out (`COPY cards TO STDOUT`), or stores into every column.
    ///
    /// An allow rule's or an exception's list must hold for every column, resolved: every
    /// reference's name fits a pattern, and every column the statement's lineage resolves to
    /// a relation fits a pattern of that relation (exactly: case and schema as written); a
    /// column it cannot resolve, renamed by position, or every column, fits none.
    fn columns_fit(&self, s: &Statement, q: Quantifier) -> bool {
        let mut every_column = s.star
            || s.copy
                .as_ref()
                .is_some_and(|c| c.direction == CopyDirection::To);
        let mut stored = Vec::new();
        let mut sources = Vec::new();
        // `t.name` of a relation `t`: its column `name`, or a function of its whole row; either
        // way it is `name` of `t` to a list (a function must be listed to fit).
        let mut row_names = Vec::new();
        for flow in &s.lineage.flows {
            if let Use::RowFunction(name) = &flow.usage
                && q != Quantifier::Any
            {
                for source in &flow.sources {
                    row_names.push((source.relation.as_ref(), name.as_str()));
                }
                continue;
            }
            sources.extend(&flow.sources);
            if let Use::Stored(Store::Column(target)) = &flow.usage {
                sources.push(target);
                if let Column::Name(name) = &target.column {
                    stored.push(name.as_str());
                }
            }
        }
        for output in &s.lineage.outputs {
            sources.extend(&output.sources);
        }
        if sources
            .iter()
            .any(|source| matches!(source.column, Column::Position(_) | Column::All))
        {
            every_column = true;
        }
        let names = || {
            s.columns
                .iter()
                .map(|c| c.name.as_str())
                .chain(stored.iter().copied())
        };
        match q {
            Quantifier::Any => {
                let relation_named =
                    |table: &NameGlob| s.reads.iter().chain(&s.writes).any(|r| table.matches(r));
                let named = |name: &str| {
                    self.columns.iter().any(|p| {
                        p.column.is_match(name) && p.table.as_ref().is_none_or(relation_named)
                    })
                };
                (every_column
                    && self
                        .columns
                        .iter()
                        .any(|p| p.table.as_ref().is_none_or(relation_named)))
                    || names().any(named)
            }
            Quantifier::Every | Quantifier::EveryOrNone => {
                let name_fits =
                    |name: &str| self.columns.iter().any(|p| p.exact_column.is_match(name));
                let source_fits = |source: &&Source| match (&source.relation, &source.column) {
                    (Some(relation), Column::Name(name)) => self.columns.iter().any(|p| {
                        p.exact_column.is_match(name)
                            && p.table.as_ref().is_none_or(|t| t.matches_exactly(relation))
                    }),
                    _ => false,
                };
                let row_name_fits = |(relation, name): &(Option<&ObjectName>, &str)| {
                    relation.is_some_and(|relation| {
                        self.columns.iter().any(|p| {
                            p.exact_column.is_match(name)
                                && p.table.as_ref().is_none_or(|t| t.matches_exactly(relation))
                        })
                    })
                };
                !every_column
                    && (q == Quantifier::EveryOrNone || names().next().is_some())
                    && names().all(name_fits)
                    && sources.iter().all(source_fits)
                    && row_names.iter().all(row_name_fits)
            }
        }
    }
}
