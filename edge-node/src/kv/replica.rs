//! A node's copy of the KV namespaces: a SQLite file in the data directory (in memory for a
//! node without one), written by config sync and by the node's own writes, read by tenants.
//!
//! Each key keeps the revision of the write that made it; a change is applied only over an
//! older one, so the order in which a node hears of two writes (its own answer, the sync
//! stream, a reconnect's resend) never matters. Deleted keys stay as tombstones for the same
//! reason. A value too large to travel in a sync event is recorded without its bytes
//! (`value` NULL, `present` 1) until a read fetches them.

use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use skiff_protocol::kv::{KvChange, KvKeyInfo, KvListPage, encode_cursor};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kv_entries (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    present     INTEGER NOT NULL,  -- 0: deleted (a tombstone)
    value       BLOB,              -- NULL while a large value is not fetched yet
    metadata    TEXT,
    expiration  INTEGER,
    revision    INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"#;

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `None` for a large value this node has not fetched yet.
    pub value: Option<Bytes>,
    pub metadata: Option<String>,
    pub revision: u64,
}

/// The node's KV replica. Every call is a short SQLite statement under one lock.
pub struct KvReplica {
    conn: Mutex<Connection>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("KV replica: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("KV replica: malformed value in a change of {namespace}/{key}")]
    Value { namespace: String, key: String },
}

impl KvReplica {
    /// Opens (creating if needed) the replica at `path`.
    pub fn open(path: &Path) -> Result<Self, ReplicaError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with(conn)
    }

    /// A replica that lives in memory only.
    pub fn in_memory() -> Result<Self, ReplicaError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, ReplicaError> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `changes`, each only over an older state of its key, in one transaction.
    pub fn apply(&self, changes: &[KvChange]) -> Result<(), ReplicaError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for change in changes {
            apply_one(&tx, change)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the replica the snapshot `entries` at `revision`: every key the snapshot does not
    /// hold and that was not written after it is dropped.
    pub fn replace(&self, revision: u64, entries: &[KvChange]) -> Result<(), ReplicaError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS snapshot_keys (namespace TEXT, key TEXT,
                 PRIMARY KEY (namespace, key)) WITHOUT ROWID",
            [],
        )?;
        tx.execute("DELETE FROM snapshot_keys", [])?;
        for change in entries {
            apply_one(&tx, change)?;
            tx.execute(
                "INSERT OR IGNORE INTO snapshot_keys (namespace, key) VALUES (?1, ?2)",
                params![change.namespace, change.key],
            )?;
        }
        tx.execute(
            "DELETE FROM kv_entries WHERE revision <= ?1 AND NOT EXISTS (
                 SELECT 1 FROM snapshot_keys s
                 WHERE s.namespace = kv_entries.namespace AND s.key = kv_entries.key)",
            [revision as i64],
        )?;
        tx.execute("DELETE FROM snapshot_keys", [])?;
        tx.commit()?;
        Ok(())
    }

    /// The live entry of `key` at `now` (seconds since the epoch).
    pub fn get(&self, namespace: &str, key: &str, now: u64) -> Result<Option<Found>, ReplicaError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT value, metadata, revision FROM kv_entries
             WHERE namespace = ?1 AND key = ?2 AND present = 1
               AND (expiration IS NULL OR expiration > ?3)",
        )?;
        Ok(stmt
            .query_row(params![namespace, key, now as i64], |row| {
                Ok(Found {
                    value: row.get::<_, Option<Vec<u8>>>(0)?.map(Bytes::from),
                    metadata: row.get(1)?,
                    revision: row.get::<_, i64>(2)? as u64,
                })
            })
            .optional()?)
    }

    /// Stores the fetched bytes of a large value, if the key is still at `revision`.
    pub fn fill(
        &self,
        namespace: &str,
        key: &str,
        revision: u64,
        value: &[u8],
    ) -> Result<(), ReplicaError> {
        self.lock().execute(
            "UPDATE kv_entries SET value = ?4
             WHERE namespace = ?1 AND key = ?2 AND revision = ?3 AND present = 1",
            params![namespace, key, revision as i64, value],
        )?;
        Ok(())
    }

    /// One page of live keys with `prefix` after the key `after`, in key order.
    pub fn list(
        &self,
        namespace: &str,
        prefix: &str,
        limit: usize,
        after: Option<&str>,
        now: u64,
    ) -> Result<KvListPage, ReplicaError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT key, metadata, expiration FROM kv_entries
             WHERE namespace = ?1 AND present = 1 AND key > ?2
               AND substr(key, 1, length(?3)) = ?3
               AND (expiration IS NULL OR expiration > ?4)
             ORDER BY key LIMIT ?5",
        )?;
        let mut rows = stmt
            .query_map(
                params![
                    namespace,
                    after.unwrap_or(""),
                    prefix,
                    now as i64,
                    (limit + 1) as i64
                ],
                |row| {
                    Ok(KvKeyInfo {
                        name: row.get(0)?,
                        metadata: row
                            .get::<_, Option<String>>(1)?
                            .and_then(|m| serde_json::from_str(&m).ok()),
                        expiration: row.get::<_, Option<i64>>(2)?.map(|e| e as u64),
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let cursor = match (more, rows.last()) {
            (true, Some(last)) => Some(encode_cursor(&last.name)),
            _ => None,
        };
        Ok(KvListPage {
            keys: rows,
            list_complete: !more,
            cursor,
        })
    }

    /// The highest revision of any key (a node without a control plane numbers its own
    /// writes after it).
    pub fn max_revision(&self) -> Result<u64, ReplicaError> {
        let revision: i64 = self.lock().query_row(
            "SELECT COALESCE(MAX(revision), 0) FROM kv_entries",
            [],
            |row| row.get(0),
        )?;
        Ok(revision as u64)
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, change: &KvChange) -> Result<(), ReplicaError> {
    let (present, value, metadata, expiration) = match &change.entry {
        None => (false, None, None, None),
        Some(entry) => {
            let value = match &entry.value {
                Some(encoded) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map_err(|_| ReplicaError::Value {
                            namespace: change.namespace.clone(),
                            key: change.key.clone(),
                        })?,
                ),
                None => None,
            };
            (true, value, entry.metadata.clone(), entry.expiration)
        }
    };
    tx.execute(
        "INSERT INTO kv_entries (namespace, key, present, value, metadata, expiration, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (namespace, key) DO UPDATE SET present = excluded.present,
             value = excluded.value, metadata = excluded.metadata,
             expiration = excluded.expiration, revision = excluded.revision
         WHERE excluded.revision > kv_entries.revision",
        params![
            change.namespace,
            change.key,
            present,
            value,
            metadata,
            expiration.map(|e| e as i64),
            change.revision as i64
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use skiff_protocol::kv::KvEntry;

    use super::*;

    fn put(key: &str, value: &str, revision: u64) -> KvChange {
        KvChange {
            namespace: "ns".into(),
            key: key.into(),
            revision,
            entry: Some(KvEntry {
                value: Some(base64::engine::general_purpose::STANDARD.encode(value)),
                size: value.len() as u64,
                metadata: None,
                expiration: None,
            }),
        }
    }

    fn value(replica: &KvReplica, key: &str) -> Option<Bytes> {
        replica
            .get("ns", key, 0)
            .expect("get")
            .and_then(|found| found.value)
    }

    #[test]
    fn an_older_change_never_overwrites_a_newer_one() {
        let replica = KvReplica::in_memory().expect("replica");
        replica.apply(&[put("k", "new", 5)]).expect("apply");
        replica.apply(&[put("k", "old", 4)]).expect("apply");
        assert_eq!(value(&replica, "k").as_deref(), Some(&b"new"[..]));
        let delete = KvChange {
            entry: None,
            ..put("k", "", 6)
        };
        replica.apply(&[delete]).expect("apply");
        assert_eq!(value(&replica, "k"), None);
        // A resent older write does not bring the key back.
        replica.apply(&[put("k", "new", 5)]).expect("apply");
        assert_eq!(value(&replica, "k"), None);
    }

    #[test]
    fn a_snapshot_keeps_only_its_keys_and_later_writes() {
        let replica = KvReplica::in_memory().expect("replica");
        replica
            .apply(&[put("gone", "x", 1), put("later", "y", 9)])
            .expect("apply");
        replica.replace(5, &[put("kept", "z", 3)]).expect("replace");
        assert_eq!(value(&replica, "gone"), None);
        assert_eq!(value(&replica, "kept").as_deref(), Some(&b"z"[..]));
        assert_eq!(value(&replica, "later").as_deref(), Some(&b"y"[..]));
    }

    #[test]
    fn lists_page_in_key_order_without_expired_keys() {
        let replica = KvReplica::in_memory().expect("replica");
        let mut expired = put("b-expired", "x", 2);
        if let Some(entry) = &mut expired.entry {
            entry.expiration = Some(100);
        }
        replica
            .apply(&[
                put("b2", "x", 1),
                put("b1", "x", 3),
                put("a", "x", 4),
                expired,
            ])
            .expect("apply");
        let first = replica.list("ns", "b", 1, None, 200).expect("list");
        assert_eq!(first.keys[0].name, "b1");
        assert!(!first.list_complete);
        let after = skiff_protocol::kv::decode_cursor(first.cursor.as_deref().expect("cursor"));
        let second = replica
            .list("ns", "b", 1, after.as_deref(), 200)
            .expect("list");
        assert_eq!(second.keys[0].name, "b2");
        assert!(second.list_complete && second.cursor.is_none());
        // Before its expiration the key is listed.
        let early = replica.list("ns", "b", 10, None, 50).expect("list");
        assert_eq!(early.keys.len(), 3);
    }
}
