//! The PostgreSQL backend: a pool of connections (deadpool-postgres over tokio-postgres), and
//! one more connection per replica that `LISTEN`s for what other replicas commit.
//!
//! Write transactions take a transaction-scoped advisory lock first, so changes commit one at
//! a time in revision order, and announce the new revision with `NOTIFY` as they commit (the
//! notification is delivered only if the transaction commits). Read transactions are
//! `REPEATABLE READ`: every statement in one sees the same committed revision. A transaction
//! dropped before its commit rolls back on a background task before its connection goes back
//! to the pool (or the connection is discarded when that fails).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{Mode, Row, Value};
use crate::error::StoreError;

/// The `NOTIFY` channel of the control plane's replicas.
pub const CHANNEL: &str = "skiff_events";

/// The advisory lock writers hold (any number; it only has to be ours).
const WRITE_LOCK: i64 = 0x5e1f_c0de;

/// The advisory lock migrations hold, so that replicas starting together migrate once.
pub const MIGRATE_LOCK: i64 = 0x5e1f_0001;

/// Connections in the pool, per replica.
const POOL_SIZE: usize = 16;

/// How long a connection attempt or a wait for a pooled connection may take before the
/// request fails (instead of hanging while the database is down).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    config: Arc<tokio_postgres::Config>,
}

impl Postgres {
    /// Connects to the database at `url` (a `postgres://` URL) and checks that it answers.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|err| StoreError::Unavailable(format!("the PostgreSQL URL: {err}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("skiff-control");
        // The server's notices ("relation ... already exists, skipping") are not for the log.
        config.options("-c client_min_messages=warning");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        let store = Self {
            pool,
            config: Arc::new(config),
        };
        drop(store.client().await?);
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|err| StoreError::Unavailable(format!("PostgreSQL is unreachable: {err}")))
    }

    pub async fn begin(&self, mode: Mode) -> Result<PgTx, StoreError> {
        let client = self.client().await?;
        let mut tx = PgTx {
            client: Some(client),
            open: false,
            mode,
        };
        let begin = match mode {
            Mode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Mode::Write | Mode::Bookkeeping => "BEGIN",
        };
        tx.batch(begin).await?;
        tx.open = true;
        if mode == Mode::Write {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                vec![Value::Int(WRITE_LOCK)],
            )
            .await?;
        }
        Ok(tx)
    }

    /// Forwards every notification on [`CHANNEL`] to `events` until `events` is closed,
    /// reconnecting (with a `None` to say that some may have been missed) when the
    /// connection drops.
    pub async fn listen(self, events: mpsc::UnboundedSender<Option<String>>) {
        let mut delay = Duration::from_millis(100);
        while !events.is_closed() {
            match self.listen_once(&events).await {
                Ok(()) => delay = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(error = %err, "the PostgreSQL listener lost its connection");
                }
            }
            if events.send(None).is_err() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn listen_once(
        &self,
        events: &mpsc::UnboundedSender<Option<String>>,
    ) -> Result<(), tokio_postgres::Error> {
        let (client, mut connection) = self.config.connect(NoTls).await?;
        let (messages_tx, mut messages) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = stream.next().await {
                match message {
                    Ok(message) => {
                        if messages_tx.send(Ok(message)).is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        let _ = messages_tx.send(Err(err));
                        return;
                    }
                }
            }
        });
        let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
        if let Err(err) = listening {
            driver.abort();
            return Err(err);
        }
        // Listening now: whatever was committed before is for the catch-up read to find.
        if events.send(None).is_err() {
            driver.abort();
            return Ok(());
        }
        let result = loop {
            tokio::select! {
                _ = events.closed() => break Ok(()),
                message = messages.recv() => match message {
                    Some(Ok(AsyncMessage::Notification(note))) => {
                        if events.send(Some(note.payload().to_string())).is_err() {
                            break Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break Err(err),
                    None => break Ok(()),
                },
            }
        };
        driver.abort();
        drop(client);
        result
    }
}

pub struct PgTx {
    client: Option<Object>,
    open: bool,
    mode: Mode,
}

impl PgTx {
    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Task("the transaction lost its connection".into()))
    }

    pub async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(client.execute(&statement, &params).await?)
    }

    pub async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client()?.batch_execute(sql).await?)
    }

    pub async fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&statement, &params).await?;
        rows.iter().map(row_of).collect()
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        if self.mode == Mode::Write {
            // Delivered to every replica's listener when (and only if) this commits.
            let notify = format!(
                "SELECT pg_notify('{CHANNEL}', 'revision:' || COALESCE(MAX(revision), 0)) \
                 FROM changes"
            );
            self.execute(&notify, Vec::new()).await?;
        }
        self.batch("COMMIT").await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.open {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            // No runtime to roll back on: close the connection, which ends the transaction.
            Err(_) => drop(Object::take(client)),
        }
    }
}

fn row_of(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(index)?
                .map(|v| Value::Real(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Bytes)
        } else if *ty == Type::VOID {
            None
        } else {
            // TEXT, VARCHAR, NAME and the like.
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(text) => text.to_sql(ty, out),
            Value::Bytes(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
