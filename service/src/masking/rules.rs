//! Column rules: result columns that are masked whatever their content (CVV, expiry dates,
//! cardholder names, other personal data), named by `schema.table.column` globs.
//!
//! A rule matches a column of a table when the connection is one of its `connections` (or it
//! lists none), the table glob matches (`schema.table`, or `table` for any schema) and one of
//! its column globs matches. Matching is case-insensitive: masking one column too many is the
//! safe mistake. The first matching rule names the mask in recordings.

use globset::{Glob, GlobBuilder, GlobMatcher};

use super::MaskingError;

/// A column rule as configured (`[[masking.columns]]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRuleConfig {
    /// Named in recordings; default `columns[<index>]`.
    pub name: Option<String>,
    /// `schema.table` or `table` (any schema); globs (`*`, `?`, `[abc]`) on each part.
    pub table: String,
    /// Column names or globs.
    pub columns: Vec<String>,
    /// Connections the rule applies to; empty: every connection.
    #[serde(default)]
    pub connections: Vec<String>,
}

/// Index of a rule in [`ColumnRules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnRuleId(pub usize);

impl ColumnRuleId {
    /// The column's table could not be named (the upstream catalog did not answer): it is
    /// masked, since a rule might cover it.
    pub const UNRESOLVED: ColumnRuleId = ColumnRuleId(usize::MAX);
}

struct ColumnRule {
    name: String,
    schema: Option<GlobMatcher>,
    table: GlobMatcher,
    columns: Vec<GlobMatcher>,
    connections: Vec<String>,
}

/// The compiled column rules of a deployment.
#[derive(Default)]
pub struct ColumnRules {
    rules: Vec<ColumnRule>,
}

impl std::fmt::Debug for ColumnRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| &r.name))
            .finish()
    }
}

fn glob(index: usize, pattern: &str) -> Result<GlobMatcher, MaskingError> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| MaskingError::InvalidGlob {
            index,
            glob: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

impl ColumnRules {
    pub fn compile(configs: &[ColumnRuleConfig]) -> Result<ColumnRules, MaskingError> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let invalid = |glob: &str, reason: &str| MaskingError::InvalidGlob {
                index: i,
                glob: glob.to_owned(),
                reason: reason.to_owned(),
            };
            let (schema, table) = match c.table.split_once('.') {
                Some((schema, table)) => (Some(glob(i, schema)?), table),
                None => (None, c.table.as_str()),
            };
            if table.is_empty() || table.contains('.') {
                return Err(invalid(&c.table, "expected `table` or `schema.table`"));
            }
            if c.columns.is_empty() {
                return Err(invalid("", "the rule lists no columns"));
            }
            rules.push(ColumnRule {
                name: c.name.clone().unwrap_or_else(|| format!("columns[{i}]")),
                schema,
                table: glob(i, table)?,
                columns: c
                    .columns
                    .iter()
                    .map(|p| glob(i, p))
                    .collect::<Result<_, _>>()?,
                connections: c.connections.clone(),
            });
        }
        Ok(ColumnRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule applies to `connection` (otherwise result columns need no catalog
    /// lookup).
    pub fn any_for(&self, connection: &str) -> bool {
        self.rules.iter().any(|r| r.applies_to(connection))
    }

    /// The first rule that masks `schema.table.column` on `connection`.
    pub fn find(
        &self,
        connection: &str,
        schema: &str,
        table: &str,
        column: &str,
    ) -> Option<ColumnRuleId> {
        self.rules
            .iter()
            .position(|r| {
                r.applies_to(connection)
                    && r.schema.as_ref().is_none_or(|s| s.is_match(schema))
                    && r.table.is_match(table)
                    && r.columns.iter().any(|c| c.is_match(column))
            })
            .map(ColumnRuleId)
    }

    pub fn name(&self, id: ColumnRuleId) -> &str {
        if id == ColumnRuleId::UNRESOLVED {
            return "unresolved-table";
        }
        self.rules.get(id.0).map_or("?", |r| r.name.as_str())
    }
}

impl ColumnRule {
    fn applies_to(&self, connection: &str) -> bool {
        self.connections.is_empty() || self.connections.iter().any(|c| c == connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(table: &str, columns: &[&str], connections: &[&str]) -> ColumnRuleConfig {
        ColumnRuleConfig {
            name: None,
            table: table.into(),
            columns: columns.iter().map(|s| s.to_string()).collect(),
            connections: connections.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn schema_table_and_column_globs() {
        let rules = ColumnRules::compile(&[
            rule("public.cards", &["cvv", "exp_*"], &[]),
            rule("customers", &["*name"], &["payments"]),
            rule("vault_*.*", &["secret"], &[]),
        ])
        .unwrap();
        let find = |conn, schema, table, column| rules.find(conn, schema, table, column);
        assert_eq!(find("x", "public", "cards", "cvv"), Some(ColumnRuleId(0)));
        assert_eq!(
            find("x", "public", "CARDS", "Exp_Month"),
            Some(ColumnRuleId(0))
        );
        assert_eq!(find("x", "other", "cards", "cvv"), None);
        assert_eq!(find("x", "public", "cards", "pan"), None);
        assert_eq!(
            find("payments", "billing", "customers", "full_name"),
            Some(ColumnRuleId(1))
        );
        assert_eq!(find("reports", "billing", "customers", "full_name"), None);
        assert_eq!(
            find("x", "vault_eu", "keys", "secret"),
            Some(ColumnRuleId(2))
        );
        assert_eq!(rules.name(ColumnRuleId(1)), "columns[1]");
        assert!(rules.any_for("reports") && !rules.is_empty());
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            rule("a.b.c", &["x"], &[]),
            rule("public.", &["x"], &[]),
            rule("cards", &[], &[]),
            rule("cards", &["[x"], &[]),
        ] {
            assert!(
                ColumnRules::compile(std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
