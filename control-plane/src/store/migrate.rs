//! Brings a store's schema up to [`SCHEMA_VERSION`], in one transaction, once: on PostgreSQL
//! replicas that start together wait for each other on an advisory lock. A store whose schema
//! is newer than this build knows is refused, before anything is written.

use super::{Store, Tx, args, postgres, schema};
use crate::error::StoreError;

/// The schema this build writes and reads: the number of migrations.
pub const SCHEMA_VERSION: u64 = schema::SQLITE.len() as u64;

const _: () = assert!(schema::SQLITE.len() == schema::POSTGRES.len());

pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.bookkeeping().await?;
    if let Store::Postgres(_) = store {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            args![postgres::MIGRATE_LOCK],
        )
        .await?;
    }
    tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    let found = match tx
        .query_opt("SELECT MAX(version) FROM schema_version", args![])
        .await?
    {
        Some(row) => row.opt_int(0)?.unwrap_or(0).max(0) as u64,
        None => 0,
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return tx.commit().await;
    }
    let migrations = match store {
        Store::Sqlite(_) => schema::SQLITE,
        Store::Postgres(_) => schema::POSTGRES,
    };
    for (index, sql) in migrations.iter().enumerate().skip(found as usize) {
        tx.batch(sql).await?;
        if index == 0 && matches!(store, Store::Sqlite(_)) {
            add_missing_columns(&mut tx).await?;
        }
        tracing::info!(version = index + 1, "store schema migrated");
    }
    tx.execute("DELETE FROM schema_version", args![]).await?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES ($1)",
        args![SCHEMA_VERSION],
    )
    .await?;
    tx.commit().await
}

/// Columns added to SQLite tables before migrations were numbered, with their definitions: a
/// database made before them gets them with migration 1.
const ADDED_COLUMNS: &[(&str, &str, &str)] =
    &[("versions", "config", "TEXT NOT NULL DEFAULT '{}'")];

async fn add_missing_columns(tx: &mut Tx) -> Result<(), StoreError> {
    for (table, column, definition) in ADDED_COLUMNS {
        let present = tx
            .query_one(
                &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = $1"),
                args![*column],
            )
            .await?
            .int(0)?
            > 0;
        if !present {
            tx.batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))
            .await?;
        }
    }
    Ok(())
}
