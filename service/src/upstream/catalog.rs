//! What the gateway reads from an upstream's catalog to mask results: the names behind a
//! RowDescription's table OID and attribute number, and the kind of user-defined types.

use std::collections::HashMap;

use super::{UpstreamError, Upstreams};
use crate::base::ConnectionName;

/// A table's (or view's) qualified name and its columns by attribute number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableColumns {
    pub schema: String,
    pub table: String,
    pub columns: HashMap<i16, String>,
}

/// What a user-defined type is, as far as masking cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    /// `typtype = 'c'`: a composite (row) type.
    Composite,
    /// `typtype = 'e'`: an enum, sent as its label.
    Enum,
    /// `typcategory = 'A'`: an array of some type.
    Array,
    /// Anything else (base types of extensions, ranges, ...).
    Other,
}

/// A relation found by name: what the card-data model needs to follow a column to its base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedRelation {
    pub schema: String,
    pub name: String,
    /// Live columns in attribute order.
    pub columns: Vec<String>,
    /// `pg_get_viewdef` of a view or materialized view.
    pub definition: Option<String>,
}

impl Upstreams {
    /// Every relation (table, view, materialized view, partitioned or foreign table) named
    /// one of `names`, in any schema; the caller filters by schema when a name has one.
    pub async fn relations_named(
        &self,
        connection: &ConnectionName,
        names: &[String],
    ) -> Result<Vec<NamedRelation>, UpstreamError> {
        let client = self.client(connection).await?;
        let rows = client
            .query(
                "SELECT n.nspname::text, c.relname::text,
                        ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                              ORDER BY a.attnum),
                        CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END
                 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
                &[&names],
            )
            .await
            .map_err(|e| self.query_failed(connection, e))?;
        Ok(rows
            .iter()
            .map(|row| NamedRelation {
                schema: row.get(0),
                name: row.get(1),
                columns: row.get(2),
                definition: row.get(3),
            })
            .collect())
    }

    /// The names of the tables `oids` and of their live columns. Tables that no longer exist
    /// are absent from the answer.
    pub async fn table_columns(
        &self,
        connection: &ConnectionName,
        oids: &[u32],
    ) -> Result<HashMap<u32, TableColumns>, UpstreamError> {
        let client = self.client(connection).await?;
        let rows = client
            .query(
                "SELECT c.oid, n.nspname::text, c.relname::text, a.attnum, a.attname::text
                 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                 WHERE c.oid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&oids],
            )
            .await
            .map_err(|e| self.query_failed(connection, e))?;
        let mut tables: HashMap<u32, TableColumns> = HashMap::new();
        for row in rows {
            let table = tables.entry(row.get(0)).or_insert_with(|| TableColumns {
                schema: row.get(1),
                table: row.get(2),
                columns: HashMap::new(),
            });
            table.columns.insert(row.get(3), row.get(4));
        }
        Ok(tables)
    }

    /// What the user-defined types `oids` are. Unknown OIDs are absent from the answer.
    pub async fn user_types(
        &self,
        connection: &ConnectionName,
        oids: &[u32],
    ) -> Result<HashMap<u32, UserType>, UpstreamError> {
        let client = self.client(connection).await?;
        let rows = client
            .query(
                "SELECT oid, typtype::text, typcategory::text FROM pg_catalog.pg_type
                 WHERE oid = ANY($1)",
                &[&oids],
            )
            .await
            .map_err(|e| self.query_failed(connection, e))?;
        Ok(rows
            .iter()
            .map(|row| {
                let typtype: String = row.get(1);
                let category: String = row.get(2);
                let kind = match (typtype.as_str(), category.as_str()) {
                    ("c", _) => UserType::Composite,
                    ("e", _) => UserType::Enum,
                    (_, "A") => UserType::Array,
                    _ => UserType::Other,
                };
                (row.get(0), kind)
            })
            .collect())
    }

    fn query_failed(&self, connection: &ConnectionName, e: tokio_postgres::Error) -> UpstreamError {
        UpstreamError::Unavailable {
            connection: connection.to_string(),
            reason: e.to_string(),
        }
    }
}
