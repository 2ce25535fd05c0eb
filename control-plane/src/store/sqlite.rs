//! The SQLite backend: one database file (WAL mode) behind one connection.
//!
//! A transaction holds the connection (a `tokio` mutex) from `BEGIN` to its end, and runs each
//! statement on a blocking thread, handing the connection over and back. Only one transaction
//! runs at a time, so readers and writers always see whole revisions. A transaction dropped
//! before its commit (its future cancelled, or an error returned) rolls back where the
//! connection is released.

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Mode, Row, Value};
use crate::error::StoreError;

/// The SQLite store. Cloning shares the connection.
#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let conn = Connection::open(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        })
        .await
        .map_err(|err| StoreError::Task(err.to_string()))??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub async fn begin(&self, mode: Mode) -> Result<SqliteTx, StoreError> {
        let guard = self.conn.clone().lock_owned().await;
        let mut tx = SqliteTx {
            conn: Some(Held(guard)),
            open: false,
        };
        let begin = match mode {
            Mode::Read => "BEGIN DEFERRED",
            Mode::Write | Mode::Bookkeeping => "BEGIN IMMEDIATE",
        };
        tx.run(move |conn| Ok(conn.execute_batch(begin)?)).await?;
        tx.open = true;
        Ok(tx)
    }
}

/// The connection while a transaction holds it; released with a rollback when that
/// transaction did not finish (wherever it is dropped: on the blocking thread or not).
struct Held(OwnedMutexGuard<Connection>);

impl Drop for Held {
    fn drop(&mut self) {
        if !self.0.is_autocommit()
            && let Err(err) = self.0.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %err, "could not roll back an unfinished transaction");
        }
    }
}

pub struct SqliteTx {
    conn: Option<Held>,
    open: bool,
}

impl SqliteTx {
    /// Runs `f` with the connection on a blocking thread.
    async fn run<T, F>(&mut self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let mut held = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Task("the transaction lost its connection".into()))?;
        let (held, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut held.0);
            (held, result)
        })
        .await
        .map_err(|err| StoreError::Task(err.to_string()))?;
        self.conn = Some(held);
        result
    }

    pub async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let sql = numbered(sql);
        self.run(move |conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            Ok(statement.execute(rusqlite::params_from_iter(args.iter()))? as u64)
        })
        .await
    }

    pub async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_string();
        self.run(move |conn| Ok(conn.execute_batch(&sql)?)).await
    }

    pub async fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let sql = numbered(sql);
        self.run(move |conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let columns = statement.column_count();
            let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let mut values = Vec::with_capacity(columns);
                for index in 0..columns {
                    values.push(value_of(row.get_ref(index)?));
                }
                out.push(Row(values));
            }
            Ok(out)
        })
        .await
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        if self.open {
            self.run(|conn| Ok(conn.execute_batch("COMMIT")?)).await?;
            self.open = false;
        }
        Ok(())
    }
}

/// `$1` placeholders as SQLite's `?1` (the SQL we write uses `$` for nothing else).
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

fn value_of(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
        })
    }
}
