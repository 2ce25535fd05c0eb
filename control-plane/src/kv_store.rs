//! Workers KV in the store: the authoritative namespaces and entries.
//!
//! Every write (a put, a delete, a namespace deletion) takes the next revision from the change
//! log, like a deploy, and stamps it on the entries it touches: the sync channel sends every
//! entry whose revision is above what a node has, and a node applies an entry only over an
//! older one, so two writers of one key end with the same value on every node. A deleted key
//! stays as a tombstone (no value) so that its deletion reaches the nodes; an expired key is
//! left out of every read and list from its expiration on.

use base64::Engine;
use skiff_protocol::kv::{
    INLINE_VALUE_BYTES, KvChange, KvEntry, KvKeyInfo, KvListPage, KvNamespaceInfo,
};

use crate::error::StoreError;
use crate::store::{Row, Tx, args, log_change, now_ms};

/// The change-log row of a KV write names no script.
pub const KV_CHANGE: &str = "";

fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

pub async fn create_namespace(tx: &mut Tx, title: &str) -> Result<KvNamespaceInfo, StoreError> {
    if tx
        .exists("SELECT 1 FROM kv_namespaces WHERE title = $1", args![title])
        .await?
    {
        return Err(StoreError::Conflict(format!(
            "a KV namespace titled {title:?} exists already"
        )));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    tx.execute(
        "INSERT INTO kv_namespaces (id, title, created_ms) VALUES ($1, $2, $3)",
        args![&id, title, now_ms()],
    )
    .await?;
    Ok(KvNamespaceInfo {
        id,
        title: title.to_string(),
    })
}

pub async fn namespaces(tx: &mut Tx) -> Result<Vec<KvNamespaceInfo>, StoreError> {
    tx.query(
        "SELECT id, title FROM kv_namespaces ORDER BY title",
        args![],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(KvNamespaceInfo {
            id: row.text(0)?,
            title: row.text(1)?,
        })
    })
    .collect()
}

pub async fn namespace_exists(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    tx.exists("SELECT 1 FROM kv_namespaces WHERE id = $1", args![id])
        .await
}

async fn require_namespace(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    if namespace_exists(tx, id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "no KV namespace with id {id:?}"
        )))
    }
}

/// Deletes a namespace and every key in it (as tombstones, so that the nodes drop them too);
/// the revision, or `None` when the namespace held no live key.
pub async fn delete_namespace(tx: &mut Tx, id: &str) -> Result<Option<u64>, StoreError> {
    require_namespace(tx, id).await?;
    tx.execute("DELETE FROM kv_namespaces WHERE id = $1", args![id])
        .await?;
    let live = tx
        .query_one(
            "SELECT COUNT(*) FROM kv_entries WHERE namespace = $1 AND value IS NOT NULL",
            args![id],
        )
        .await?
        .int(0)?;
    if live == 0 {
        return Ok(None);
    }
    let revision = log_change(tx, KV_CHANGE).await?;
    tx.execute(
        "UPDATE kv_entries SET value = NULL, size = 0, metadata = NULL, expiration = NULL,
             revision = $2
         WHERE namespace = $1 AND value IS NOT NULL",
        args![id, revision],
    )
    .await?;
    Ok(Some(revision))
}

/// Writes a key (the limits are checked by the caller); the change as the nodes get it.
pub async fn put(
    tx: &mut Tx,
    namespace: &str,
    key: &str,
    value: &[u8],
    metadata: Option<&str>,
    expiration: Option<u64>,
) -> Result<KvChange, StoreError> {
    require_namespace(tx, namespace).await?;
    let revision = log_change(tx, KV_CHANGE).await?;
    tx.execute(
        "INSERT INTO kv_entries (namespace, key, value, size, metadata, expiration, revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
             size = excluded.size, metadata = excluded.metadata,
             expiration = excluded.expiration, revision = excluded.revision",
        args![
            namespace,
            key,
            value,
            value.len(),
            metadata,
            expiration,
            revision
        ],
    )
    .await?;
    Ok(KvChange {
        namespace: namespace.to_string(),
        key: key.to_string(),
        revision,
        entry: Some(entry(Some(value), value.len(), metadata, expiration)),
    })
}

/// Deletes a key (a no-op write when it is absent: the key still gets a tombstone, so that
/// the answer always names a revision).
pub async fn delete(tx: &mut Tx, namespace: &str, key: &str) -> Result<KvChange, StoreError> {
    require_namespace(tx, namespace).await?;
    let revision = log_change(tx, KV_CHANGE).await?;
    tx.execute(
        "INSERT INTO kv_entries (namespace, key, value, size, revision)
         VALUES ($1, $2, NULL, 0, $3)
         ON CONFLICT (namespace, key) DO UPDATE SET value = NULL, size = 0, metadata = NULL,
             expiration = NULL, revision = excluded.revision",
        args![namespace, key, revision],
    )
    .await?;
    Ok(KvChange {
        namespace: namespace.to_string(),
        key: key.to_string(),
        revision,
        entry: None,
    })
}

/// A live key's value, metadata and revision.
pub struct Found {
    pub value: Vec<u8>,
    pub metadata: Option<String>,
    pub expiration: Option<u64>,
    pub revision: u64,
}

pub async fn get(tx: &mut Tx, namespace: &str, key: &str) -> Result<Option<Found>, StoreError> {
    require_namespace(tx, namespace).await?;
    let row = tx
        .query_opt(
            "SELECT value, metadata, expiration, revision FROM kv_entries
             WHERE namespace = $1 AND key = $2 AND value IS NOT NULL
               AND (expiration IS NULL OR expiration > $3)",
            args![namespace, key, now_secs()],
        )
        .await?;
    row.map(|row| {
        Ok(Found {
            value: row.bytes(0)?,
            metadata: row.opt_text(1)?,
            expiration: row.opt_int(2)?.map(|e| e as u64),
            revision: row.uint(3)?,
        })
    })
    .transpose()
}

/// One page of live keys with `prefix`, after the key `after`, in key order.
pub async fn list(
    tx: &mut Tx,
    namespace: &str,
    prefix: &str,
    limit: usize,
    after: Option<&str>,
) -> Result<KvListPage, StoreError> {
    require_namespace(tx, namespace).await?;
    let rows = tx
        .query(
            "SELECT key, metadata, expiration FROM kv_entries
             WHERE namespace = $1 AND value IS NOT NULL AND key > $2
               AND substr(key, 1, length(CAST($3 AS TEXT))) = CAST($3 AS TEXT)
               AND (expiration IS NULL OR expiration > $4)
             ORDER BY key LIMIT $5",
            args![
                namespace,
                after.unwrap_or(""),
                prefix,
                now_secs(),
                limit + 1
            ],
        )
        .await?
        .iter()
        .map(|row| Ok((row.text(0)?, row.opt_text(1)?, row.opt_int(2)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(page(rows, limit))
}

/// A list page from up to `limit + 1` rows (the extra one says there is more).
pub fn page(mut rows: Vec<(String, Option<String>, Option<i64>)>, limit: usize) -> KvListPage {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let cursor = match (more, rows.last()) {
        (true, Some((last, _, _))) => Some(skiff_protocol::kv::encode_cursor(last)),
        _ => None,
    };
    KvListPage {
        keys: rows
            .into_iter()
            .map(|(name, metadata, expiration)| KvKeyInfo {
                name,
                expiration: expiration.map(|e| e as u64),
                metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            })
            .collect(),
        list_complete: !more,
        cursor,
    }
}

fn entry(
    value: Option<&[u8]>,
    size: usize,
    metadata: Option<&str>,
    expiration: Option<u64>,
) -> KvEntry {
    KvEntry {
        value: value
            .filter(|value| value.len() <= INLINE_VALUE_BYTES)
            .map(|value| base64::engine::general_purpose::STANDARD.encode(value)),
        size: size as u64,
        metadata: metadata.map(str::to_string),
        expiration,
    }
}

fn change_from_row(row: &Row) -> Result<KvChange, StoreError> {
    let value = row.opt_bytes(2)?;
    let size = row.uint(3)? as usize;
    let metadata = row.opt_text(4)?;
    let expiration = row.opt_int(5)?.map(|e| e as u64);
    Ok(KvChange {
        namespace: row.text(0)?,
        key: row.text(1)?,
        revision: row.uint(6)?,
        entry: value
            .as_deref()
            .map(|value| entry(Some(value), size, metadata.as_deref(), expiration)),
    })
}

const CHANGE_COLUMNS: &str = "namespace, key, value, size, metadata, expiration, revision";

/// Every key written or deleted after `since`, in its latest state.
pub async fn changes_since(tx: &mut Tx, since: u64) -> Result<Vec<KvChange>, StoreError> {
    tx.query(
        &format!("SELECT {CHANGE_COLUMNS} FROM kv_entries WHERE revision > $1 ORDER BY revision"),
        args![since],
    )
    .await?
    .iter()
    .map(change_from_row)
    .collect()
}

/// Every live key, for a snapshot.
pub async fn live_entries(tx: &mut Tx) -> Result<Vec<KvChange>, StoreError> {
    tx.query(
        &format!(
            "SELECT {CHANGE_COLUMNS} FROM kv_entries
             WHERE value IS NOT NULL AND (expiration IS NULL OR expiration > $1)
             ORDER BY namespace, key"
        ),
        args![now_secs()],
    )
    .await?
    .iter()
    .map(change_from_row)
    .collect()
}
