//! Workers KV in the store: the authoritative namespaces and entries.
//!
//! Every write (a put, a delete, a namespace deletion) takes the next revision from the change
//! log, like a deploy, and stamps it on the entries it touches: the sync channel sends every
//! entry whose revision is above what a node has, and a node applies an entry only over an
//! older one, so two writers of one key end with the same value on every node. A deleted key
//! stays as a tombstone (no value) so that its deletion reaches the nodes; an expired key is
//! left out of every read and list from its expiration on.

use base64::Engine;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use skiff_protocol::kv::{
    INLINE_VALUE_BYTES, KvChange, KvEntry, KvKeyInfo, KvListPage, KvNamespaceInfo,
};

use crate::error::StoreError;
use crate::store::{log_change, now_ms};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kv_namespaces (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL
);
-- One row per key ever written; value NULL is a deleted key (a tombstone).
CREATE TABLE IF NOT EXISTS kv_entries (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BLOB,
    size        INTEGER NOT NULL DEFAULT 0,
    metadata    TEXT,
    expiration  INTEGER,
    revision    INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS kv_entries_by_revision ON kv_entries(revision);
"#;

/// The change-log row of a KV write names no script.
pub const KV_CHANGE: &str = "";

fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

pub fn create_namespace(tx: &Transaction<'_>, title: &str) -> Result<KvNamespaceInfo, StoreError> {
    let taken = tx
        .query_row(
            "SELECT 1 FROM kv_namespaces WHERE title = ?1",
            [title],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::Conflict(format!(
            "a KV namespace titled {title:?} exists already"
        )));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    tx.execute(
        "INSERT INTO kv_namespaces (id, title, created_ms) VALUES (?1, ?2, ?3)",
        params![id, title, now_ms() as i64],
    )?;
    Ok(KvNamespaceInfo {
        id,
        title: title.to_string(),
    })
}

pub fn namespaces(conn: &Connection) -> Result<Vec<KvNamespaceInfo>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, title FROM kv_namespaces ORDER BY title")?;
    let rows = stmt
        .query_map([], |row| {
            Ok(KvNamespaceInfo {
                id: row.get(0)?,
                title: row.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn namespace_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM kv_namespaces WHERE id = ?1",
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn require_namespace(conn: &Connection, id: &str) -> Result<(), StoreError> {
    if namespace_exists(conn, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "no KV namespace with id {id:?}"
        )))
    }
}

/// Deletes a namespace and every key in it (as tombstones, so that the nodes drop them too);
/// the revision, or `None` when the namespace held no live key.
pub fn delete_namespace(tx: &Transaction<'_>, id: &str) -> Result<Option<u64>, StoreError> {
    require_namespace(tx, id)?;
    tx.execute("DELETE FROM kv_namespaces WHERE id = ?1", [id])?;
    let live: i64 = tx.query_row(
        "SELECT COUNT(*) FROM kv_entries WHERE namespace = ?1 AND value IS NOT NULL",
        [id],
        |row| row.get(0),
    )?;
    if live == 0 {
        return Ok(None);
    }
    let revision = log_change(tx, KV_CHANGE)?;
    tx.execute(
        "UPDATE kv_entries SET value = NULL, size = 0, metadata = NULL, expiration = NULL,
             revision = ?2
         WHERE namespace = ?1 AND value IS NOT NULL",
        params![id, revision as i64],
    )?;
    Ok(Some(revision))
}

/// Writes a key (the limits are checked by the caller); the change as the nodes get it.
pub fn put(
    tx: &Transaction<'_>,
    namespace: &str,
    key: &str,
    value: &[u8],
    metadata: Option<&str>,
    expiration: Option<u64>,
) -> Result<KvChange, StoreError> {
    require_namespace(tx, namespace)?;
    let revision = log_change(tx, KV_CHANGE)?;
    tx.execute(
        "INSERT INTO kv_entries (namespace, key, value, size, metadata, expiration, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
             size = excluded.size, metadata = excluded.metadata,
             expiration = excluded.expiration, revision = excluded.revision",
        params![
            namespace,
            key,
            value,
            value.len() as i64,
            metadata,
            expiration.map(|e| e as i64),
            revision as i64
        ],
    )?;
    Ok(KvChange {
        namespace: namespace.to_string(),
        key: key.to_string(),
        revision,
        entry: Some(entry(Some(value), value.len(), metadata, expiration)),
    })
}

/// Deletes a key (a no-op write when it is absent: the key still gets a tombstone, so that
/// the answer always names a revision).
pub fn delete(tx: &Transaction<'_>, namespace: &str, key: &str) -> Result<KvChange, StoreError> {
    require_namespace(tx, namespace)?;
    let revision = log_change(tx, KV_CHANGE)?;
    tx.execute(
        "INSERT INTO kv_entries (namespace, key, value, size, revision)
         VALUES (?1, ?2, NULL, 0, ?3)
         ON CONFLICT (namespace, key) DO UPDATE SET value = NULL, size = 0, metadata = NULL,
             expiration = NULL, revision = excluded.revision",
        params![namespace, key, revision as i64],
    )?;
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

pub fn get(conn: &Connection, namespace: &str, key: &str) -> Result<Option<Found>, StoreError> {
    require_namespace(conn, namespace)?;
    Ok(conn
        .query_row(
            "SELECT value, metadata, expiration, revision FROM kv_entries
             WHERE namespace = ?1 AND key = ?2 AND value IS NOT NULL
               AND (expiration IS NULL OR expiration > ?3)",
            params![namespace, key, now_secs()],
            |row| {
                Ok(Found {
                    value: row.get(0)?,
                    metadata: row.get(1)?,
                    expiration: row.get::<_, Option<i64>>(2)?.map(|e| e as u64),
                    revision: row.get::<_, i64>(3)? as u64,
                })
            },
        )
        .optional()?)
}

/// One page of live keys with `prefix`, after the key `after`, in key order.
pub fn list(
    conn: &Connection,
    namespace: &str,
    prefix: &str,
    limit: usize,
    after: Option<&str>,
) -> Result<KvListPage, StoreError> {
    require_namespace(conn, namespace)?;
    let mut stmt = conn.prepare_cached(
        "SELECT key, metadata, expiration FROM kv_entries
         WHERE namespace = ?1 AND value IS NOT NULL AND key > ?2
           AND substr(key, 1, length(?3)) = ?3
           AND (expiration IS NULL OR expiration > ?4)
         ORDER BY key LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                namespace,
                after.unwrap_or(""),
                prefix,
                now_secs(),
                (limit + 1) as i64
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
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

fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KvChange> {
    let value: Option<Vec<u8>> = row.get(2)?;
    let size = row.get::<_, i64>(3)? as usize;
    let metadata: Option<String> = row.get(4)?;
    let expiration = row.get::<_, Option<i64>>(5)?.map(|e| e as u64);
    Ok(KvChange {
        namespace: row.get(0)?,
        key: row.get(1)?,
        revision: row.get::<_, i64>(6)? as u64,
        entry: value
            .as_deref()
            .map(|value| entry(Some(value), size, metadata.as_deref(), expiration)),
    })
}

const CHANGE_COLUMNS: &str = "namespace, key, value, size, metadata, expiration, revision";

/// Every key written or deleted after `since`, in its latest state.
pub fn changes_since(conn: &Connection, since: u64) -> Result<Vec<KvChange>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHANGE_COLUMNS} FROM kv_entries WHERE revision > ?1 ORDER BY revision"
    ))?;
    let changes = stmt
        .query_map([since as i64], change_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(changes)
}

/// Every live key, for a snapshot.
pub fn live_entries(conn: &Connection) -> Result<Vec<KvChange>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHANGE_COLUMNS} FROM kv_entries
         WHERE value IS NOT NULL AND (expiration IS NULL OR expiration > ?1)
         ORDER BY namespace, key"
    ))?;
    let changes = stmt
        .query_map([now_secs()], change_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(changes)
}
