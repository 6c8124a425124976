//! Catalog facts given in a policy test file, read the way the gateway reads the live catalog:
//! every relation of a name in any schema for an unqualified name, a view through its
//! definition's lineage.

use std::sync::Arc;

use serde::Deserialize;

use crate::gateway::{CatalogLookup, LiveCatalog};
use crate::policy::card_data::{RelationInfo, RelationSet};
use crate::policy::classify::{ObjectName, lineage};

/// `[[catalog]]`: one relation of the upstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationFact {
    /// `schema.name`, or `name` (schema `public`).
    pub relation: String,
    /// Its columns in attribute order.
    pub columns: Vec<String>,
    /// For a view: its definition (`SELECT ...`), as `pg_get_viewdef` would print it.
    pub view: Option<String>,
}

/// The facts of a test file, compiled.
#[derive(Debug, Default)]
pub struct CatalogFacts {
    relations: Vec<RelationInfo>,
}

impl CatalogFacts {
    pub fn new(facts: &[RelationFact]) -> Result<CatalogFacts, String> {
        let mut relations = Vec::with_capacity(facts.len());
        for (i, f) in facts.iter().enumerate() {
            let (schema, name) = match f.relation.split_once('.') {
                Some((schema, name)) if !schema.is_empty() && !name.contains('.') => (schema, name),
                None if !f.relation.is_empty() => ("public", f.relation.as_str()),
                _ => {
                    return Err(format!(
                        "catalog[{i}].relation: {:?} is neither `name` nor `schema.name`",
                        f.relation
                    ));
                }
            };
            let view = match &f.view {
                None => None,
                Some(sql) => {
                    let lineage = lineage::analyze_sql(sql);
                    if let Err(e) = &lineage {
                        return Err(format!("catalog[{i}].view: {e}"));
                    }
                    Some(Arc::new(lineage))
                }
            };
            relations.push(RelationInfo {
                schema: schema.to_owned(),
                name: name.to_owned(),
                columns: f.columns.clone(),
                view,
            });
        }
        Ok(CatalogFacts { relations })
    }
}

impl CatalogLookup for CatalogFacts {
    async fn relations(&self, names: &[ObjectName]) -> Option<Vec<(ObjectName, Arc<RelationSet>)>> {
        Some(
            names
                .iter()
                .map(|n| {
                    let set: RelationSet = self
                        .relations
                        .iter()
                        .filter(|r| {
                            r.name == n.name && n.schema.as_ref().is_none_or(|s| *s == r.schema)
                        })
                        .cloned()
                        .collect();
                    (n.clone(), Arc::new(set))
                })
                .collect(),
        )
    }
}

/// The catalog a case is decided with: the file's facts, or the live catalog of the case's
/// connection read through its admin connection, with the gateway's own cache and lookup.
pub enum CaseCatalog<'a> {
    Facts(&'a CatalogFacts),
    Live(LiveCatalog<'a>),
}

impl CatalogLookup for CaseCatalog<'_> {
    async fn relations(&self, names: &[ObjectName]) -> Option<Vec<(ObjectName, Arc<RelationSet>)>> {
        match self {
            CaseCatalog::Facts(facts) => facts.relations(names).await,
            CaseCatalog::Live(live) => live.relations(names).await,
        }
    }
}

impl CatalogFacts {
    /// Whether the facts describe any relation (then column patterns can be checked).
    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// Column patterns (`table.column`, `schema.table.column`) that name a relation the facts
    /// know but none of its columns: a pattern that can never match (`cards.cvc` for
    /// `cards.cvv`). Each is `(key, message)`. A pattern whose table the facts do not know is
    /// not judged.
    pub fn unmatched_columns(
        &self,
        patterns: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let glob = |p: &str| {
            globset::GlobBuilder::new(p)
                .case_insensitive(true)
                .build()
                .ok()
                .map(|g| g.compile_matcher())
        };
        let mut unmatched = Vec::new();
        for (key, pattern) in patterns {
            let pattern = pattern.as_str();
            let parts: Vec<&str> = pattern.split('.').collect();
            let (schema, table, column) = match parts.as_slice() {
                [table, column] => (None, *table, *column),
                [schema, table, column] => (Some(*schema), *table, *column),
                _ => continue,
            };
            let (Some(table_glob), Some(column_glob)) = (glob(table), glob(column)) else {
                continue;
            };
            let schema_glob = schema.and_then(glob);
            let relations: Vec<&RelationInfo> = self
                .relations
                .iter()
                .filter(|r| {
                    table_glob.is_match(&r.name)
                        && schema_glob.as_ref().is_none_or(|s| s.is_match(&r.schema))
                })
                .collect();
            if !relations.is_empty()
                && !relations
                    .iter()
                    .any(|r| r.columns.iter().any(|c| column_glob.is_match(c)))
            {
                let known = relations
                    .iter()
                    .map(|r| format!("{}.{} ({})", r.schema, r.name, r.columns.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ");
                unmatched.push((
                    key,
                    format!("{pattern:?} names no column of {known}, so it can never match"),
                ));
            }
        }
        unmatched
    }
}
