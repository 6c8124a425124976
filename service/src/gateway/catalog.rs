//! Row plans: what each result column is, for masking. Column kinds come from type OIDs;
//! column rules need the names behind a RowDescription's table OID and attribute number, and
//! user-defined types need their kind, both read from the upstream catalog and cached.
//!
//! The cache is per gateway and per connection; entries live [`TTL`], and a session that runs
//! DDL (`CREATE`/`ALTER`/`DROP`) drops its connection's entries, so a renamed table is seen
//! under its new name at once by that session and within the TTL by every other.
//!
//! Fail closed: when the catalog cannot be read, columns that come from a table are masked as
//! if a rule named them ([`ColumnRuleId::UNRESOLVED`]), and values of user types are scanned
//! in text format and withheld (NULL) in binary, like any type hoop cannot decode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoop_protocol::rows::FieldDescription;

use super::policy::CatalogLookup;
use crate::base::ConnectionName;
use crate::masking::row::{ColumnPlan, RowPlan};
use crate::masking::value::{self, Format, ValueKind};
use crate::masking::{ColumnRuleId, MaskingPolicy};
use crate::policy::card_data::{RelationInfo, RelationSet};
use crate::policy::classify::{ObjectName, lineage};
use crate::upstream::Upstreams;
use crate::upstream::catalog::{TableColumns, UserType};

/// The catalog of one connection's upstream, as the statement policy reads it (through the
/// cache).
pub struct LiveCatalog<'a> {
    pub catalog: &'a Catalog,
    pub upstreams: &'a Upstreams,
    pub connection: &'a ConnectionName,
}

impl CatalogLookup for LiveCatalog<'_> {
    async fn relations(&self, names: &[ObjectName]) -> Option<Vec<(ObjectName, Arc<RelationSet>)>> {
        self.catalog
            .relations(self.upstreams, self.connection, names)
            .await
    }
}

/// How long catalog answers are trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// OIDs below this are built-in (FirstNormalObjectId).
const FIRST_USER_OID: u32 = 16384;

type Key = (ConnectionName, u32);
/// When a name was looked up, and every relation of that name.
type RelationEntry = (Instant, Arc<Vec<RelationInfo>>);
/// When an answer was read, and the table it named (`None`: no such table).
type TableEntry = (Instant, Option<Arc<TableColumns>>);

#[derive(Default)]
pub struct Catalog {
    tables: Mutex<HashMap<Key, TableEntry>>,
    types: Mutex<HashMap<Key, (Instant, UserType)>>,
    /// Relations by name as the card-data model looks them up (views with their definitions'
    /// lineage, parsed once).
    relations: Mutex<HashMap<(ConnectionName, String), RelationEntry>>,
}

impl Catalog {
    /// Forgets what is cached about `connection` (a session there ran DDL).
    pub fn invalidate(&self, connection: &ConnectionName) {
        let keep = |key: &Key| &key.0 != connection;
        lock(&self.tables).retain(|k, _| keep(k));
        lock(&self.types).retain(|k, _| keep(k));
        lock(&self.relations).retain(|k, _| &k.0 != connection);
    }

    /// What the catalog says each of `names` denotes (every schema's relation of that name,
    /// narrowed to the name's schema when it has one), for the card-data model; `None` when
    /// the catalog cannot be read (the caller refuses: fail closed).
    pub async fn relations(
        &self,
        upstreams: &Upstreams,
        connection: &ConnectionName,
        names: &[ObjectName],
    ) -> Option<Vec<(ObjectName, Arc<RelationSet>)>> {
        let mut by_name: HashMap<String, Arc<Vec<RelationInfo>>> = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.relations);
            for n in names {
                match cache.get(&(connection.clone(), n.name.clone())) {
                    Some((at, infos)) if at.elapsed() < TTL => {
                        by_name.insert(n.name.clone(), infos.clone());
                    }
                    _ => missing.push(n.name.clone()),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let rows = upstreams.relations_named(connection, &missing).await.ok()?;
            let now = Instant::now();
            let mut cache = lock(&self.relations);
            for name in missing {
                let infos: Vec<RelationInfo> = rows
                    .iter()
                    .filter(|r| r.name == name)
                    .map(|r| RelationInfo {
                        schema: r.schema.clone(),
                        name: r.name.clone(),
                        columns: r.columns.clone(),
                        view: r
                            .definition
                            .as_deref()
                            .map(|d| Arc::new(lineage::analyze_sql(d))),
                    })
                    .collect();
                let infos = Arc::new(infos);
                cache.insert((connection.clone(), name.clone()), (now, infos.clone()));
                by_name.insert(name, infos);
            }
        }
        Some(
            names
                .iter()
                .map(|n| {
                    let all = by_name.get(&n.name).cloned().unwrap_or_default();
                    // An unqualified name may be any of them (shared as cached); a qualified
                    // one only its schema's.
                    let infos = match &n.schema {
                        None => all,
                        Some(schema) => Arc::new(
                            all.iter()
                                .filter(|i| i.schema == *schema)
                                .cloned()
                                .collect(),
                        ),
                    };
                    (n.clone(), infos)
                })
                .collect(),
        )
    }

    /// The plan for rows with these columns and formats on `connection`.
    pub async fn plan(
        &self,
        upstreams: &Upstreams,
        policy: &MaskingPolicy,
        connection: &ConnectionName,
        fields: &[FieldDescription],
        formats: &[Format],
    ) -> RowPlan {
        let with_rules = policy.columns.any_for(connection.as_str());
        let tables = if with_rules {
            let oids: Vec<u32> = fields
                .iter()
                .map(|f| f.table_oid)
                .filter(|&oid| oid != 0)
                .collect();
            self.tables(upstreams, connection, &oids).await
        } else {
            Some(HashMap::new())
        };
        let user_oids: Vec<u32> = fields
            .iter()
            .map(|f| f.type_oid)
            .filter(|&oid| oid >= FIRST_USER_OID)
            .collect();
        let types = self.user_types(upstreams, connection, &user_oids).await;
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let kind = match (value::kind_of(f.type_oid), types.get(&f.type_oid)) {
                    (ValueKind::Other, Some(UserType::Composite)) => ValueKind::Record,
                    (ValueKind::Other, Some(UserType::Enum)) => ValueKind::Text,
                    (ValueKind::Other, Some(UserType::Array)) => ValueKind::Array,
                    (kind, _) => kind,
                };
                let source = tables
                    .as_ref()
                    .and_then(|t| t.get(&f.table_oid))
                    .and_then(|t| Some((t, t.columns.get(&f.column)?)));
                let rule = match (&tables, source) {
                    // System columns (tableoid, ctid, xmin...: attribute numbers below 1) hold
                    // no table data and match no rule.
                    _ if !with_rules || f.table_oid == 0 || f.column < 1 => None,
                    (None, _) => Some(ColumnRuleId::UNRESOLVED),
                    (Some(_), Some((t, column))) => {
                        policy
                            .columns
                            .find(connection.as_str(), &t.schema, &t.table, column)
                    }
                    // The table is gone or the column was added since the cache was filled:
                    // the next plan reads the catalog again.
                    (Some(_), None) => {
                        self.forget_table(connection, f.table_oid);
                        Some(ColumnRuleId::UNRESOLVED)
                    }
                };
                let label: Arc<str> = match source {
                    Some((t, column)) => format!("{}.{}.{}", t.schema, t.table, column).into(),
                    None => f.name.as_str().into(),
                };
                ColumnPlan {
                    label,
                    kind,
                    format: formats.get(i).copied().unwrap_or(Format::Text),
                    rule,
                }
            })
            .collect();
        RowPlan {
            columns,
            fallback: None,
        }
    }

    /// Names of the tables `oids`: `None` when the catalog cannot be read.
    async fn tables(
        &self,
        upstreams: &Upstreams,
        connection: &ConnectionName,
        oids: &[u32],
    ) -> Option<HashMap<u32, Arc<TableColumns>>> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.tables);
            for &oid in oids {
                match cache.get(&(connection.clone(), oid)) {
                    Some((at, entry)) if at.elapsed() < TTL => {
                        if let Some(t) = entry {
                            found.insert(oid, t.clone());
                        }
                    }
                    _ => missing.push(oid),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Some(found);
        }
        match upstreams.table_columns(connection, &missing).await {
            Ok(mut answer) => {
                let now = Instant::now();
                let mut cache = lock(&self.tables);
                for oid in missing {
                    let entry = answer.remove(&oid).map(Arc::new);
                    if let Some(t) = &entry {
                        found.insert(oid, t.clone());
                    }
                    cache.insert((connection.clone(), oid), (now, entry));
                }
                Some(found)
            }
            Err(e) => {
                tracing::error!(target: "hoop::alert", %connection, error = %e, "cannot read table names for column masking rules; masking every table column of the result");
                None
            }
        }
    }

    fn forget_table(&self, connection: &ConnectionName, oid: u32) {
        lock(&self.tables).remove(&(connection.clone(), oid));
    }

    /// Kinds of the user types `oids`; types the catalog did not describe are absent (of
    /// unknown kind: scanned in text, withheld in binary).
    async fn user_types(
        &self,
        upstreams: &Upstreams,
        connection: &ConnectionName,
        oids: &[u32],
    ) -> HashMap<u32, UserType> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.types);
            for &oid in oids {
                match cache.get(&(connection.clone(), oid)) {
                    Some((at, kind)) if at.elapsed() < TTL => {
                        found.insert(oid, *kind);
                    }
                    _ => missing.push(oid),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return found;
        }
        match upstreams.user_types(connection, &missing).await {
            Ok(answer) => {
                let now = Instant::now();
                let mut cache = lock(&self.types);
                for (oid, kind) in answer {
                    cache.insert((connection.clone(), oid), (now, kind));
                    found.insert(oid, kind);
                }
            }
            Err(e) => {
                tracing::warn!(%connection, error = %e, "cannot read user types; their values are scanned in text format and withheld in binary");
            }
        }
        found
    }
}

/// A poisoned lock only means another session panicked mid-update of a cache; the cache is
/// still a valid map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
