//! Statement classification with Postgres's own parser.
//!
//! [`classify`] parses a SQL text with libpg_query (the `pg_query` crate) and walks **every
//! node** of the resulting tree, so what a rule needs to see is found wherever the grammar
//! allows it: DML inside a `WITH`, a `PREPARE` body, an `EXPLAIN ANALYZE` target, a subquery,
//! a set operation, `RETURNING`, `MERGE`, `INSERT … SELECT`, a `DEFAULT` expression, one
//! statement of several in one Query message. Comments, case, quoting and dollar quoting are
//! the parser's business, not ours: `SELECT $$DROP TABLE cards$$` is a SELECT of a string.
//!
//! Bodies are analysed where Postgres's own parsers can read them (see `body.rs`): PL/pgSQL
//! (`DO`, `CREATE FUNCTION`/`PROCEDURE … LANGUAGE plpgsql`) through libpg_query's copy of the
//! PL/pgSQL compiler, whose every embedded SQL text (statements, `PERFORM`, assignments,
//! conditions, `RETURN`, cursor queries) is parsed and classified; SQL bodies written as
//! strings; SQL-standard bodies (`BEGIN ATOMIC`, `RETURN expr`), part of the statement's tree.
//! What they do is folded into the statement (inner kinds, reads, writes, functions, columns,
//! `*`, settings, COPYs, unbounded writes). SQL given as one string constant to something that
//! runs it (PL/pgSQL `EXECUTE '…'`, `query_to_xml('…', …)`) is classified the same way.
//!
//! What is *not* analysed, and says so: bodies in other languages, bodies that do not compile,
//! bodies whose reading depends on `standard_conforming_strings` at a time the gateway cannot
//! know, bodies nested more than 8 deep, and more body text than four times the statement's
//! own (all [`Statement::opaque_body`]); SQL built at run time (`EXECUTE format(…)`,
//! `query_to_xml($1, …)`, dblink: [`Statement::dynamic_sql`]); what an existing function, a
//! view, a rule, a trigger or an operator does when it runs (only names written in the text
//! are reported); which prepared statement an `EXECUTE` runs (the `PREPARE` is where its body
//! is seen, and [`Statement::prepared`] names it so a session can connect the two); what a
//! `CREATE EXTENSION` script does. Names are not resolved against the catalog: an unqualified
//! `cards` is whichever `cards` the session's `search_path` finds, `t.f` for a function `f` of
//! a row type (attribute notation) looks like a column, and so does a PL/pgSQL variable.
//!
//! The text must be read as the server will read it: see [`Syntax`]
//! (`standard_conforming_strings`).
//!
//! [`Classifier`] adds a bounded cache and runs the parser on worker threads with a large
//! stack. Invariants:
//! - no input panics or aborts the process: parser errors, too-deep trees and texts over the
//!   size cap are [`ClassifyError`]s;
//! - every list in a [`Statement`] is sorted and free of duplicates, so results compare and
//!   cache deterministically;
//! - names are the parser's: unquoted identifiers folded to lower case, quoted ones as
//!   written. `"PG_READ_FILE"` is a different function from `pg_read_file`, as in Postgres.

mod body;
mod children;
mod classifier;
mod kind;
pub mod lineage;
mod parser;
mod shape;
mod walk;

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;

use pg_query::{FingerprintOptions, ParserOptions};

pub use classifier::{Classifier, PARSER_STACK, on_parser_stack};
pub use kind::StatementKind;

/// The size cap [`classify`] applies; [`Classifier::new`] takes its own.
pub const DEFAULT_MAX_LEN: usize = 1 << 20;

/// A relation or function name as the parser saw it: unquoted identifiers already folded to
/// lower case by the parser, quoted ones kept as written. A catalog (database) qualifier, as
/// in `db.public.cards`, is dropped: Postgres only accepts the current database there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ObjectName {
    pub schema: Option<String>,
    pub name: String,
}

impl ObjectName {
    /// A name from the parser's list of identifiers (`[schema,] name`, or
    /// `catalog, schema, name`); `None` if the list is empty or holds something else.
    fn from_parts<'a>(parts: impl DoubleEndedIterator<Item = &'a str>) -> Option<ObjectName> {
        let mut parts = parts.rev();
        let name = parts.next()?.to_owned();
        let schema = parts.next().map(str::to_owned);
        Some(ObjectName { schema, name })
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Which way a COPY moves rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyDirection {
    /// `COPY … FROM`: rows into a table.
    From,
    /// `COPY … TO`: rows out of a table or query.
    To,
}

/// The shape of a COPY statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CopyInfo {
    pub direction: CopyDirection,
    /// `FROM PROGRAM` / `TO PROGRAM`: a shell command run by the database server.
    pub program: bool,
    /// `FROM STDIN` / `TO STDOUT`: the data travels over the connection (psql's `\copy`
    /// arrives like this). False for a server-side file or a program.
    pub stdio: bool,
}

/// A column reference as written (`pan`, `c.pan`, `public.cards.pan`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ColumnRef {
    /// Everything before the column name, joined with `.` (`c` in `c.pan`, `public.cards` in
    /// `public.cards.pan`); `None` for a bare column name.
    pub qualifier: Option<String>,
    pub name: String,
}

/// What one statement of a SQL text does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    pub kind: StatementKind,
    /// Every statement kind found *inside* this one (CTE bodies, PREPARE and EXPLAIN targets,
    /// subqueries, set-operation arms, rule actions, `BEGIN ATOMIC` bodies, `SELECT … INTO`
    /// as [`StatementKind::CreateTable`], the statements of analysed PL/pgSQL and SQL bodies
    /// and of constant SQL strings run by `EXECUTE` or `query_to_xml`; a PL/pgSQL expression
    /// counts as a `select`), so DML nested in a SELECT's WITH or in a DO block is visible.
    pub inner_kinds: Vec<StatementKind>,
    /// Relations read anywhere: FROM, JOIN, subqueries, CTE bodies, USING, MERGE sources,
    /// `COPY … TO`, `LIKE`/`REFERENCES` sources, view definitions; and the target of DML with
    /// a `RETURNING` list, whose rows go back to the client. A name that refers to a CTE in
    /// scope is not a relation and is not listed.
    pub reads: Vec<ObjectName>,
    /// Relations written, created, altered, dropped, truncated, locked, vacuumed, copied into,
    /// granted on, or commented on, anywhere (DML inside CTEs, PREPARE and EXPLAIN targets
    /// included; EXPLAIN without ANALYZE does not run its target, but it is listed all the same).
    /// `DROP SCHEMA … CASCADE` and `DROP OWNED` name no relation: rules catch them by kind and
    /// by [`Statement::cascade`]. Analysed bodies count.
    pub writes: Vec<ObjectName>,
    /// Every function called anywhere (function-call syntax in any expression, DEFAULTs,
    /// CHECKs, `CALL`, `FROM f()`, analysed bodies), and every function a statement names so
    /// that Postgres will call it later: triggers and event triggers; `CREATE OPERATOR`
    /// (`FUNCTION`/`PROCEDURE`, `RESTRICT`, `JOIN`) and `ALTER OPERATOR … SET`; `CREATE
    /// AGGREGATE` (`SFUNC`, `FINALFUNC`, `COMBINEFUNC`, `SERIALFUNC`, `DESERIALFUNC`, `MSFUNC`,
    /// `MINVFUNC`, `MFINALFUNC`, old syntax too); `CREATE TYPE` (`INPUT`, `OUTPUT`, `RECEIVE`,
    /// `SEND`, `TYPMOD_IN`, `TYPMOD_OUT`, `ANALYZE`, `SUBSCRIPT`; ranges' `SUBTYPE_DIFF`,
    /// `CANONICAL`) and `ALTER TYPE … SET`; `CREATE CAST … WITH FUNCTION`; `CREATE TRANSFORM`;
    /// `FUNCTION n f(…)` of `CREATE OPERATOR CLASS` and `ALTER OPERATOR FAMILY … ADD`; `CREATE
    /// LANGUAGE` (`HANDLER`, `INLINE`, `VALIDATOR`); `CREATE`/`ALTER FOREIGN DATA WRAPPER`
    /// (`HANDLER`, `VALIDATOR`); `CREATE ACCESS METHOD … HANDLER`; `CREATE CONVERSION … FROM`;
    /// `CREATE TEXT SEARCH PARSER`/`TEMPLATE`; `SUPPORT` of `CREATE`/`ALTER FUNCTION`; the C
    /// symbol of a `LANGUAGE internal` function. Names are the parser's, schema kept
    /// (`pg_catalog.pg_read_file`); a name written as a string there (`SFUNC = 'f'`) is one name,
    /// as Postgres takes it. SQL-standard forms that the parser turns into calls appear as the
    /// parser names them (`EXTRACT` is `pg_catalog.extract`). Operators and casts used in
    /// expressions are not listed (their functions are found in the catalog, not the text),
    /// nor `regproc` literals (`'pg_read_file'::regproc` is a lookup: it runs nothing), nor
    /// functions only altered, granted, commented on or dropped.
    pub functions: Vec<ObjectName>,
    /// Column references anywhere (select list, WHERE, JOIN conditions, ORDER BY, RETURNING),
    /// and the columns stored into (an INSERT's column list, `SET` of UPDATE, ON CONFLICT and
    /// MERGE), unqualified.
    pub columns: Vec<ColumnRef>,
    /// A `*` or `t.*` anywhere, or a whole-row reference: a bare name that is also a relation
    /// or alias of the statement (`SELECT c FROM cards c`, `row_to_json(c)`), which returns
    /// every column without naming one. Conservative: a column that happens to share a
    /// relation's name sets it too.
    pub star: bool,
    /// Set for a COPY statement. A server-side file is `stdio == false && !program`.
    pub copy: Option<CopyInfo>,
    /// Every COPY in the statement, this one and those in analysed bodies (`DO $$ BEGIN COPY
    /// cards TO PROGRAM '…'; END $$`).
    pub copies: Vec<CopyInfo>,
    /// The statement's query has a WHERE clause that filters rows (as
    /// [`Statement::unbounded_writes`] reads one: it mentions a column, `WHERE id = id` and an
    /// `OR … true` do not count), or a LIMIT / FETCH FIRST of a constant. The query is the
    /// top-level SELECT, UPDATE or DELETE, or the one a PREPARE, DECLARE CURSOR, CREATE TABLE
    /// AS (or MATERIALIZED VIEW), `COPY (query) TO` or EXPLAIN ANALYZE runs (`PREPARE p AS
    /// SELECT … WHERE id = $1` is bounded). A set operation is bounded by a constant LIMIT of
    /// its own or when every arm is. A syntactic hint for rules, not a guarantee: `WHERE true`,
    /// `LIMIT ALL` and `LIMIT $1` (which may be bound to NULL) do not count, `WHERE id > 0`
    /// does; a CTE or subquery does not bound the query it is in. True for an EXPLAIN without
    /// ANALYZE, which plans its target and reads no row: `ANALYZE` is read as Postgres reads
    /// the option (`(ANALYZE off)`, `(ANALYZE 0)`, `(ANALYZE false)` are without it; `(analyse)`,
    /// `(ANALYZE on)`, `(ANALYZE 1)` with it), and a value Postgres would refuse counts as
    /// ANALYZE. False for every other kind (MERGE, INSERT, `COPY cards TO`, `CREATE TABLE …
    /// AS EXECUTE`).
    pub bounded: bool,
    /// The statement returns one row of summaries: a SELECT (top-level kind `select`, not
    /// `SELECT … INTO`; or the query a PREPARE, DECLARE CURSOR or EXPLAIN returns rows of)
    /// without GROUP BY (a row per group, and a group of one row is the row itself), whose
    /// every output column is built only of summarizing aggregate calls, scalar subqueries
    /// that are themselves aggregates only, constants, parameters, casts, operators (NULLIF,
    /// IN and BETWEEN lists included), `CASE`, `COALESCE`, `GREATEST` and `LEAST`, with at
    /// least one summary among them; a query that reads a FROM must aggregate itself (a
    /// scalar subquery alone runs once per row: `SELECT (SELECT max(a) FROM (SELECT p.id AS
    /// a) s) FROM payments p` is not). In a set operation every arm must be so, and a VALUES
    /// list never is. Summarizing aggregates, unqualified or in `pg_catalog`: `count`, `sum`,
    /// `avg`, `min`, `max`, `bool_and`, `bool_or`, `every`, `bit_and`, `bit_or`, `bit_xor`,
    /// `stddev`, `stddev_pop`, `stddev_samp`, `variance`, `var_pop`, `var_samp`, `corr`,
    /// `covar_pop`, `covar_samp`, the nine `regr_*`, and with `WITHIN GROUP`
    /// `percentile_cont`, `percentile_disc` and `mode`; DISTINCT, FILTER and an aggregate's
    /// ordering are allowed. `min`, `max`, `percentile_disc` and `mode` return one row's value:
    /// the card-data model decides on their arguments separately (`max(pan)` is aggregates
    /// only, and refused there). Not summaries: aggregates that return the rows themselves
    /// (`array_agg`, `string_agg`, `json*_agg`, `json*_object_agg*`, `xmlagg`, `range_agg`,
    /// `range_intersect_agg`); any other function (a user-defined aggregate cannot be told
    /// from a function without the catalog; set-returning functions, `round()`,
    /// `current_date` are out too); a call in another schema (`public.count`); a window call
    /// (`count(*) OVER ()`) anywhere in the output; a column reference outside an aggregate's
    /// arguments; `*` or a whole-row reference anywhere in the output (`count(c.*)` too);
    /// EXISTS, IN, ANY and ARRAY subqueries. HAVING, ORDER BY, LIMIT and what the FROM reads
    /// are not constrained (`SELECT count(*) FROM (SELECT pan FROM cards) s` is aggregates
    /// only), nor what a WITH does. False for every other kind, and for a statement with no
    /// summary in its output (`SELECT 1`).
    pub aggregates_only: bool,
    /// A window function call (`… OVER (…)`, `… OVER w`) anywhere: select list, subqueries,
    /// CTEs, set-operation arms, other statements' queries (PREPARE, EXPLAIN, CREATE TABLE AS,
    /// views, RETURNING), analysed bodies and constant SQL strings run by `EXECUTE` or
    /// `query_to_xml`. A `WINDOW w AS (…)` clause that no call uses is not one.
    pub window_functions: bool,
    /// Every relation an UPDATE or DELETE anywhere (CTEs, PREPARE bodies, EXPLAIN targets,
    /// rule actions, analysed bodies) changes without a WHERE that filters, and every MERGE
    /// target with an UPDATE or DELETE action (its join decides which rows, and `ON true`
    /// takes them all). Syntactic and conservative: a WHERE filters when it mentions a column
    /// or is `CURRENT OF`; an OR filters only if every arm does (`WHERE pan IS NULL OR true`
    /// does not); a column compared with itself (`WHERE id = id`) does not; `WHERE true`,
    /// `WHERE 1 = 1` do not. `WHERE id > 0` does, though it may keep every row.
    pub unbounded_writes: Vec<ObjectName>,
    /// Something in the statement runs code the classifier could not read: a body in another
    /// language than PL/pgSQL or SQL (C, plpython...), a body that does not compile, bodies
    /// nested more than 8 deep, a PL/pgSQL function body with a string literal that ends
    /// elsewhere when `standard_conforming_strings` is off (`'a\'`: how it splits depends on
    /// the setting when it is first called), SQL that parses under only one of the two
    /// settings, `#option dump`, or more body text than the classifier reads for one
    /// statement. Rules must treat it as unknown. PL/pgSQL bodies (`DO`, functions,
    /// procedures), SQL bodies written as strings and SQL-standard bodies are analysed: what
    /// their statements do is folded into this statement.
    pub opaque_body: bool,
    /// SQL the statement builds or names at run time, so that the classifier cannot see it:
    /// PL/pgSQL `EXECUTE`, `FOR … IN EXECUTE`, `OPEN … FOR EXECUTE` or `RETURN QUERY EXECUTE`
    /// of anything but a single string constant (a constant is classified); a call of a
    /// function that runs SQL text (`query_to_xml*`, `ts_stat`, two-argument `ts_rewrite`)
    /// with anything but a constant; `table_to_xml*` of anything but a constant name (a
    /// constant name is a read of every column); `schema_to_xml*`, `database_to_xml*`; and
    /// functions that run SQL elsewhere, whatever their arguments (`dblink*`,
    /// `run_command_on_*`, `pg_background_launch*`, any function in schema `cron`).
    pub dynamic_sql: bool,
    /// `DROP … CASCADE` (schemas included), `DROP OWNED`, `TRUNCATE … CASCADE`, `ALTER TABLE
    /// … DROP COLUMN/CONSTRAINT … CASCADE`, `ALTER DOMAIN … DROP CONSTRAINT … CASCADE`,
    /// `REVOKE … CASCADE`, `DROP SUBSCRIPTION … CASCADE`, anywhere: the statement may remove
    /// or change objects it does not name.
    pub cascade: bool,
    /// The run-time parameter of SET, RESET, SHOW and ALTER SYSTEM, lower-cased as Postgres
    /// compares parameter names (`role`, `search_path`, `all`); `None` for RESET ALL and for
    /// other kinds.
    pub setting: Option<String>,
    /// Every run-time parameter named by a SET, RESET, SHOW or ALTER SYSTEM anywhere in the
    /// statement or its analysed bodies, and by the `SET` clauses of `ALTER ROLE`, `ALTER
    /// DATABASE` and `CREATE`/`ALTER FUNCTION`; lower-cased. `RESET ALL` names none.
    pub settings: Vec<String>,
    /// One entry for each distinct first argument of a `set_config` call (any schema)
    /// anywhere, analysed bodies included: the parameter name lower-cased when it is a string
    /// constant (through casts: `'ROLE'::text` is `role`), `None` when it is anything else (a
    /// parameter, a column, an expression). `SELECT set_config('role', 'admin', false)` is
    /// `SET ROLE admin` in effect.
    pub set_config: Vec<Option<String>>,
    /// The prepared statement named by PREPARE, EXECUTE or DEALLOCATE (`None` for
    /// `DEALLOCATE ALL` and for other kinds).
    pub prepared: Option<String>,
    /// Where this statement is in the classified text, in bytes.
    pub text_range: Range<usize>,
    /// Where its values come from and what it does with them ([`lineage`]): what the card-data
    /// rules decide on.
    pub lineage: lineage::Lineage,
}

/// What a whole SQL text does, statement by statement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Classification {
    /// In text order; empty for a text with no statement (only comments or semicolons).
    pub statements: Vec<Statement>,
}

/// Why a text could not be classified. The policy must treat every one as "unknown", never
/// as "harmless".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ClassifyError {
    #[error("the statement text is {len} bytes; at most {max} are classified (send it in parts)")]
    TooLong { len: usize, max: usize },
    #[error("the statement does not parse: {message}")]
    Parse { message: String },
    #[error("the statement is nested too deeply to classify (simplify its nesting)")]
    TooDeep,
    /// The classifier itself failed (a worker thread gone, a bug caught). Never expected.
    #[error("the statement could not be classified: {message}")]
    Internal { message: String },
}

/// How the server will read the text's string literals, which decides where strings, and so
/// statements, end. With `standard_conforming_strings = off`, `SELECT 'x\''; DROP TABLE cards;
/// --'` is a SELECT and then a DROP; with it on (Postgres's default since 9.1) it is one SELECT
/// of a string. A client can turn it off (`SET`, startup options, role or database defaults),
/// so the gateway must follow the session's value, which the server reports in ParameterStatus
/// messages, and classify with it. It is the only setting that changes how a text parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Syntax {
    pub standard_conforming_strings: bool,
}

impl Default for Syntax {
    fn default() -> Self {
        Syntax {
            standard_conforming_strings: true,
        }
    }
}

impl Syntax {
    fn parser_options(self) -> ParserOptions {
        if self.standard_conforming_strings {
            ParserOptions::DEFAULT
        } else {
            ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
        }
    }
}

/// Classifies a SQL text (one Query message, possibly several statements; or one Parse
/// message) on the caller's thread, with the default [`Syntax`] and the [`DEFAULT_MAX_LEN`]
/// cap. The gateway uses [`Classifier`], which also caches and runs on a large stack; a caller
/// of this function should leave the parser at least 2 MiB of stack.
pub fn classify(sql: &str) -> Result<Classification, ClassifyError> {
    classify_with(sql, DEFAULT_MAX_LEN, Syntax::default())
}

/// [`classify`] with a size cap of `max_len` bytes, checked before anything is parsed, and the
/// session's string [`Syntax`].
pub fn classify_with(
    sql: &str,
    max_len: usize,
    syntax: Syntax,
) -> Result<Classification, ClassifyError> {
    within(sql, max_len)?;
    guarded(|| parse_and_walk(sql, syntax.parser_options()))
}

/// pg_query's fingerprint of the whole text read with `syntax` (16 hex digits). Constants do
/// not count (`WHERE id = 1` and `WHERE id = 2` share one), relation names do in full, schema
/// included (Postgres 17 rules; Postgres 18's default would let `FROM secret.cards c` share the
/// fingerprint of `FROM public.orders c`). It drops more than constants, though (`SET DEFAULT
/// 'a'` and `DROP DEFAULT` share one): approvals use [`approval_shape`]. Only held statements
/// need one, so it is not part of a [`Classification`] (it costs a parse of its own).
pub fn fingerprint_with(
    sql: &str,
    max_len: usize,
    syntax: Syntax,
) -> Result<String, ClassifyError> {
    within(sql, max_len)?;
    let options = syntax.parser_options();
    guarded(|| {
        // Parsed first: the tree is then known to be shallow enough for the fingerprint's own
        // recursion (see `parser_error`).
        parser::parse(sql, options).map_err(parser_error)?;
        let fingerprint = parser::fingerprint(
            sql,
            options,
            FingerprintOptions::RANGEVAR_PG17_COMPAT | FingerprintOptions::FULL_RELNAME,
        )
        .map_err(parser_error)?;
        Ok(fingerprint.hex)
    })
}

/// The size cap, checked before anything is parsed.
pub(super) fn within(sql: &str, max_len: usize) -> Result<(), ClassifyError> {
    match sql.len() > max_len {
        true => Err(ClassifyError::TooLong {
            len: sql.len(),
            max: max_len,
        }),
        false => Ok(()),
    }
}

/// pg_query's own Rust code indexes and casts in places; whatever it or the walk might do on an
/// input nobody foresaw, a panic here becomes an error, not a dead gateway.
fn guarded<T>(call: impl FnOnce() -> Result<T, ClassifyError>) -> Result<T, ClassifyError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(ClassifyError::Internal {
            message: "the parser wrapper panicked".to_owned(),
        })
    })
}

fn parse_and_walk(sql: &str, options: ParserOptions) -> Result<Classification, ClassifyError> {
    let parsed = parser::parse(sql, options).map_err(parser_error)?;
    let cx = body::Context::new(options == ParserOptions::DEFAULT, sql.len());
    let statements = parsed
        .protobuf
        .stmts
        .iter()
        .map(|raw| walk::statement(raw, sql, &cx))
        .collect();
    Ok(Classification { statements })
}

/// The shape a run-wide approval covers: `fingerprint` (the text's, from its
/// [`Classification`]), a dash, and 16 hex digits of the SHA-256 of the text with only its
/// constants replaced (pg_query's normalize keeps every keyword, name and sub-command; it keeps
/// the constants of DDL too), printed back from its tree so spelling, case and comments do not
/// count. A text that cannot be read so counts as itself. Computed only when a statement is
/// held: it parses the text twice more.
pub fn approval_shape(sql: &str, fingerprint: &str) -> String {
    let canonical = parser::normalize(sql)
        .ok()
        .and_then(|n| parser::parse(&n, ParserOptions::DEFAULT).ok())
        .and_then(|tree| parser::deparse(&tree.protobuf).ok())
        .unwrap_or_else(|| sql.to_owned());
    let digest = crate::base::Sha256::of(canonical.as_bytes()).to_hex();
    format!("{fingerprint}-{}", &digest[..16])
}

/// Maps pg_query's errors. Depth is bounded three times before any of our code sees a tree:
/// the grammar's own stack holds 10,000 entries ("memory exhausted" past that); libpg_query
/// measures the calling thread's stack and raises "stack depth limit exceeded" (using at most
/// 2 MB of it, like a Postgres backend); and prost refuses to decode messages nested more than
/// 100 deep, which is the limit met first in practice: 22 nested subqueries or CASEs, 46
/// terms of `a + b + …` or `a || b || …` (AND, OR and IN lists are flat: no limit). All three
/// mean [`ClassifyError::TooDeep`].
fn parser_error(error: pg_query::Error) -> ClassifyError {
    match error {
        pg_query::Error::Parse(message)
            if message.contains("stack depth limit exceeded")
                || message.starts_with("memory exhausted") =>
        {
            ClassifyError::TooDeep
        }
        pg_query::Error::Decode(error) if error.to_string().contains("recursion limit") => {
            ClassifyError::TooDeep
        }
        pg_query::Error::Parse(message) => ClassifyError::Parse { message },
        pg_query::Error::Conversion(_) => ClassifyError::Parse {
            message: "the statement text contains a NUL byte".to_owned(),
        },
        other => ClassifyError::Parse {
            message: other.to_string(),
        },
    }
}
