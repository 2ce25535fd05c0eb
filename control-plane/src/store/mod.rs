//! The store: everything the platform knows (scripts, versions, bundles, deployments, secrets,
//! KV, tokens, nodes), in SQLite (one machine, the default) or PostgreSQL (any number of
//! control-plane replicas on one database).
//!
//! One interface, two implementations. The queries are written once ([`scripts`], [`nodes`],
//! [`ticks`], [`usage`], `kv_store`), in the SQL the two databases share, against a
//! transaction [`Tx`]; each backend ([`sqlite`], [`postgres`]) only runs statements, converts
//! values, and opens transactions of the three kinds below. Placeholders are written `$1`, `$2`, ... (PostgreSQL's), which the
//! SQLite backend turns into `?1`, `?2`, ... (its numbered form, the same meaning). The
//! schemas differ only in column types; [`schema`] holds both, as one list of migrations.
//!
//! A transaction is one of:
//! - [`Store::read`]: a consistent snapshot (one revision, whole).
//! - [`Store::write`]: a change to what nodes serve. Writers are serialised platform-wide
//!   (SQLite's one writer; PostgreSQL's transaction-scoped advisory lock), so revisions are
//!   committed in the order they are handed out and a reader never sees revision N+1 before N.
//! - [`Store::bookkeeping`]: node rows and credentials, cron ticks and usage, which take no
//!   revision and need no platform-wide serialising (what must not interleave takes row locks:
//!   compare-and-set updates, upserts).
//!
//! A transaction rolls back unless [`Tx::commit`] is called, also when its future is dropped.

pub mod import;
mod migrate;
pub mod nodes;
pub mod postgres;
pub mod schema;
pub mod scripts;
pub mod sqlite;
pub mod ticks;
pub mod usage;

use std::fmt;
use std::path::PathBuf;

use crate::error::StoreError;

pub use migrate::SCHEMA_VERSION;
pub use scripts::*;

/// Where the store is: `sqlite:PATH` or `postgres://USER:PASS@HOST:PORT/DB`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreSpec {
    /// Parses `sqlite:PATH`, `postgres://...` or `postgresql://...`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("sqlite: needs a path, as in sqlite:/var/lib/skiff/control.db".into());
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Self::Postgres(text.to_string()))
        } else {
            Err(format!(
                "unknown store {:?}: give sqlite:PATH or postgres://USER:PASS@HOST:PORT/DB",
                redact(text)
            ))
        }
    }

    /// The store's address with any password replaced by `***`, for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => redact(url),
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `scheme://user:password@host/...` with the password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The store. Cloning shares the connection (SQLite) or the pool (PostgreSQL).
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// What a transaction is for; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
    Bookkeeping,
}

impl Store {
    /// Opens the store and brings its schema up to [`SCHEMA_VERSION`]; a schema newer than
    /// that is refused.
    pub async fn open(spec: &StoreSpec) -> Result<Self, StoreError> {
        let store = match spec {
            StoreSpec::Sqlite(path) => Store::Sqlite(sqlite::Sqlite::open(path).await?),
            StoreSpec::Postgres(url) => Store::Postgres(postgres::Postgres::connect(url).await?),
        };
        migrate::migrate(&store).await?;
        Ok(store)
    }

    pub async fn begin(&self, mode: Mode) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Sqlite(db) => Tx::Sqlite(db.begin(mode).await?),
            Store::Postgres(db) => Tx::Postgres(Box::new(db.begin(mode).await?)),
        })
    }

    /// A consistent snapshot.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        self.begin(Mode::Read).await
    }

    /// A serialised change to what nodes serve.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        self.begin(Mode::Write).await
    }

    /// Node rows and credentials.
    pub async fn bookkeeping(&self) -> Result<Tx, StoreError> {
        self.begin(Mode::Bookkeeping).await
    }

    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.read().await?;
        tx.query_one("SELECT 1", args![]).await?;
        tx.commit().await
    }
}

/// One open transaction; see [`Store::begin`]. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(sqlite::SqliteTx),
    Postgres(Box<postgres::PgTx>),
}

impl Tx {
    /// Runs a statement; the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.execute(sql, args).await,
            Tx::Postgres(tx) => tx.execute(sql, args).await,
        }
    }

    /// Runs several statements without arguments (schema changes).
    pub async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.batch(sql).await,
            Tx::Postgres(tx) => tx.batch(sql).await,
        }
    }

    pub async fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.query(sql, args).await,
            Tx::Postgres(tx) => tx.query(sql, args).await,
        }
    }

    /// The first row, if any.
    pub async fn query_opt(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }

    /// The first row; an error when there is none.
    pub async fn query_one(&mut self, sql: &str, args: Vec<Value>) -> Result<Row, StoreError> {
        self.query_opt(sql, args)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }

    /// Whether `sql` (a `SELECT 1 ...`) finds a row.
    pub async fn exists(&mut self, sql: &str, args: Vec<Value>) -> Result<bool, StoreError> {
        Ok(self.query_opt(sql, args).await?.is_some())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// A value passed to or read from a statement: the types both databases store.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Value::Int(value as i64)
    }
}

impl From<usize> for Value {
    fn from(value: usize) -> Self {
        Value::Int(value as i64)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Int(value.into())
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Real(value)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(value.clone())
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_string())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Bytes(value)
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value::Bytes(value.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// The arguments of a statement: `args![name, revision]`.
#[macro_export]
#[doc(hidden)]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::store::Value::from($arg)),*]
    };
}
pub use args;

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in a row")))
    }

    fn mismatch(&self, index: usize, wanted: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "column {index} is {:?}, not {wanted}",
            self.0.get(index)
        ))
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            Value::Int(value) => Ok(Some(*value)),
            _ => Err(self.mismatch(index, "an integer")),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.opt_int(index)?
            .ok_or_else(|| self.mismatch(index, "an integer"))
    }

    /// A non-negative integer (revisions, sizes, times).
    pub fn uint(&self, index: usize) -> Result<u64, StoreError> {
        Ok(self.int(index)?.max(0) as u64)
    }

    pub fn real(&self, index: usize) -> Result<f64, StoreError> {
        match self.get(index)? {
            Value::Real(value) => Ok(*value),
            Value::Int(value) => Ok(*value as f64),
            _ => Err(self.mismatch(index, "a number")),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            Value::Text(value) => Ok(Some(value.clone())),
            _ => Err(self.mismatch(index, "text")),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?
            .ok_or_else(|| self.mismatch(index, "text"))
    }

    pub fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            Value::Bytes(value) => Ok(Some(value.clone())),
            _ => Err(self.mismatch(index, "bytes")),
        }
    }

    pub fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(index)?
            .ok_or_else(|| self.mismatch(index, "bytes"))
    }

    /// A text column holding JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, StoreError> {
        Ok(serde_json::from_str(&self.text(index)?)?)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_addresses_parse_and_never_show_the_password() {
        assert_eq!(
            StoreSpec::parse("sqlite:/var/lib/skiff/control.db"),
            Ok(StoreSpec::Sqlite("/var/lib/skiff/control.db".into()))
        );
        let pg = StoreSpec::parse("postgres://skiff:hunter2@db:5432/skiff").expect("parses");
        assert_eq!(pg.redacted(), "postgres://skiff:***@db:5432/skiff");
        assert!(!format!("{pg:?}").contains("hunter2"));
        let err = StoreSpec::parse("mysql://root:hunter2@db/x").expect_err("refused");
        assert!(
            err.contains("sqlite:PATH") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(StoreSpec::parse("sqlite:").is_err());
    }
}

#[cfg(test)]
mod suite;
