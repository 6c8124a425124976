//! What the gateway reads from an upstream's catalog to mask results: the names behind a
//! RowDescription's table OID and attribute number, and the kind of user-defined types.

use std::collections::HashMap;

use super::{UpstreamError, Upstreams};
use crate::config::ConnectionName;

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

impl Upstreams {
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
            connection: connection.0.clone(),
            reason: e.to_string(),
        }
    }
}
