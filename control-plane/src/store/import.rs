//! Moves a single-machine platform over: every row of a SQLite store into an empty store, in
//! one write transaction, so an interrupted import leaves the target as empty as it was.

use super::{Store, Value, args, schema};
use crate::error::StoreError;

/// What an import copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Rows per table, in [`schema::TABLES`] order.
    pub rows: Vec<(String, u64)>,
    /// The revision the target carries on from.
    pub revision: u64,
}

pub async fn import(source: &Store, target: &Store) -> Result<Imported, StoreError> {
    if !matches!(source, Store::Sqlite(_)) {
        return Err(StoreError::Invalid(
            "an import reads a SQLite store (sqlite:PATH)".into(),
        ));
    }
    let mut from = source.read().await?;
    let mut to = target.write().await?;
    for table in ["scripts", "changes", "tokens", "kv_namespaces", "nodes"] {
        let rows = to
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), args![])
            .await?
            .uint(0)?;
        if rows > 0 {
            return Err(StoreError::Conflict(format!(
                "the target store is not empty (its {table} table has {rows} rows): an import \
                 goes into a new, empty database"
            )));
        }
    }
    let mut imported = Imported::default();
    for table in schema::TABLES {
        let columns = from
            .query(
                &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
                args![],
            )
            .await?
            .iter()
            .map(|row| row.text(0))
            .collect::<Result<Vec<_>, _>>()?;
        let list = columns.join(", ");
        let placeholders = (1..=columns.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!("INSERT INTO {table} ({list}) VALUES ({placeholders})");
        let rows = from
            .query(&format!("SELECT {list} FROM {table}"), args![])
            .await?;
        for row in &rows {
            to.execute(&insert, row.0.clone()).await?;
        }
        imported.rows.push((table.to_string(), rows.len() as u64));
    }
    if let Store::Postgres(_) = target {
        // The identity columns carry on after the imported rows.
        for (table, column) in schema::IDENTITIES {
            to.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                         COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                ),
                Vec::<Value>::new(),
            )
            .await?;
        }
    }
    imported.revision = super::current_revision(&mut to).await?;
    from.commit().await?;
    to.commit().await?;
    Ok(imported)
}
