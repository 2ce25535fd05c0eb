//! The store: one SQLite database (`DATA_DIR/control.db`, WAL mode) behind one connection.
//!
//! Every write that changes what nodes serve runs in one transaction together with its
//! change-log row, so a revision names exactly one committed state. The connection sits behind
//! a mutex and is only used inside `spawn_blocking` ([`Store::call`]); readers and writers
//! therefore see whole revisions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use skiff_protocol::{
    DeployedVersion, Deployment, NodeStatus, ScriptChange, ScriptState, ScriptSummary, VersionInfo,
    VersionList,
};

use crate::error::StoreError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS scripts (
    name        TEXT PRIMARY KEY,
    created_ms  INTEGER NOT NULL
);
-- Content-addressed: sha256 of the canonical bundle bytes.
CREATE TABLE IF NOT EXISTS bundles (
    sha256  TEXT PRIMARY KEY,
    bytes   BLOB NOT NULL
);
-- Immutable; seq orders a script's versions, id is the public (uuid v4) name.
CREATE TABLE IF NOT EXISTS versions (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    script              TEXT NOT NULL REFERENCES scripts(name) ON DELETE CASCADE,
    bundle              TEXT NOT NULL REFERENCES bundles(sha256),
    main_module         TEXT NOT NULL,
    modules             TEXT NOT NULL,  -- JSON array of paths
    size                INTEGER NOT NULL,
    vars                TEXT NOT NULL,  -- JSON object
    secret_names        TEXT NOT NULL,  -- JSON array
    compatibility_date  TEXT,
    routes              TEXT NOT NULL,  -- JSON array
    startup_time_ms     REAL NOT NULL,
    created_ms          INTEGER NOT NULL,
    config              TEXT NOT NULL DEFAULT '{}'  -- JSON: VersionConfig
);
CREATE INDEX IF NOT EXISTS versions_by_script ON versions(script, seq);
-- Every deployment ever made; a script's current one is its highest seq.
CREATE TABLE IF NOT EXISTS deployments (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    script      TEXT NOT NULL REFERENCES scripts(name) ON DELETE CASCADE,
    versions    TEXT NOT NULL,  -- JSON array of {version_id, percentage}
    created_ms  INTEGER NOT NULL,
    revision    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_script ON deployments(script, seq);
CREATE TABLE IF NOT EXISTS secrets (
    script  TEXT NOT NULL REFERENCES scripts(name) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (script, name)
);
-- Only the sha256 of each token.
CREATE TABLE IF NOT EXISTS tokens (
    role    TEXT PRIMARY KEY,
    sha256  TEXT NOT NULL UNIQUE
);
-- One row per change to what nodes serve; the revision is the row id.
CREATE TABLE IF NOT EXISTS changes (
    revision    INTEGER PRIMARY KEY AUTOINCREMENT,
    script      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    id            TEXT PRIMARY KEY,
    revision      INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);
-- Each enrolled node's credential, as its sha256.
CREATE TABLE IF NOT EXISTS node_credentials (
    node        TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL
);
"#;

/// The SQLite store. Cloning shares the connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and its schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::kv_store::SCHEMA)?;
        add_missing_columns(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|err| StoreError::Task(err.to_string()))?
    }

    /// Like [`Store::call`], inside one transaction that commits when `f` succeeds.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Appends a change-log row for `script` and returns its revision.
pub fn log_change(tx: &Transaction<'_>, script: &str) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO changes (script, created_ms) VALUES (?1, ?2)",
        params![script, now_ms() as i64],
    )?;
    Ok(tx.last_insert_rowid() as u64)
}

/// The latest revision (0 before the first change).
pub fn current_revision(conn: &Connection) -> Result<u64, StoreError> {
    let revision: i64 = conn.query_row(
        "SELECT COALESCE(MAX(revision), 0) FROM changes",
        [],
        |row| row.get(0),
    )?;
    Ok(revision as u64)
}

/// The scripts changed after `since`, in name order (KV writes name none).
pub fn changed_since(conn: &Connection, since: u64) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT script FROM changes WHERE revision > ?1 AND script <> '' ORDER BY script",
    )?;
    let names = stmt
        .query_map([since as i64], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

pub fn script_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    row_exists(conn, "SELECT 1 FROM scripts WHERE name = ?1", name)
}

/// Whether `select` (a `SELECT 1 ... WHERE key = ?1`) finds a row for `key`.
fn row_exists(conn: &Connection, select: &str, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(select, [key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Refuses a new node `id` once `count` (a `SELECT COUNT(*)`) reaches `max_nodes`; `noun`
/// names what is counted in the log and the error.
fn refuse_past_max_nodes(
    conn: &Connection,
    count: &str,
    noun: &str,
    id: &str,
    max_nodes: usize,
) -> Result<(), StoreError> {
    let count: i64 = conn.query_row(count, [], |row| row.get(0))?;
    if count as u64 >= max_nodes as u64 {
        tracing::warn!(node = %id, max_nodes, "a new {noun} was refused: --max-nodes is reached");
        return Err(StoreError::Full(format!(
            "the control plane already has {count} {noun}s, its limit (--max-nodes \
             {max_nodes}); remove stale ones with DELETE /v1/nodes/{{id}}"
        )));
    }
    Ok(())
}

pub fn require_script(conn: &Connection, name: &str) -> Result<(), StoreError> {
    if script_exists(conn, name)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no script named {name:?}")))
    }
}

/// Stores a bundle under its hash (a no-op when it is already there).
pub fn put_bundle(tx: &Transaction<'_>, hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO bundles (sha256, bytes) VALUES (?1, ?2)",
        params![hash, bytes],
    )?;
    Ok(())
}

pub fn bundle(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT bytes FROM bundles WHERE sha256 = ?1",
            [hash],
            |row| row.get(0),
        )
        .optional()?)
}

/// Columns added to tables after their first release, with their definitions: a database made
/// before gets them on open.
const ADDED_COLUMNS: &[(&str, &str, &str)] =
    &[("versions", "config", "TEXT NOT NULL DEFAULT '{}'")];

fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, definition) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            params![column],
            |row| row.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    Ok(())
}

/// What a version carries besides its code, vars and secrets: the `config` column.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct VersionConfig {
    #[serde(default)]
    compatibility_flags: Vec<String>,
    #[serde(default)]
    crons: Vec<String>,
    #[serde(default)]
    bindings: Vec<skiff_protocol::Binding>,
}

/// Creates the script row if it is new.
pub fn ensure_script(tx: &Transaction<'_>, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO scripts (name, created_ms) VALUES (?1, ?2)",
        params![name, now_ms() as i64],
    )?;
    Ok(())
}

pub fn insert_version(tx: &Transaction<'_>, v: &VersionInfo) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO versions (id, script, bundle, main_module, modules, size, vars, secret_names,
             compatibility_date, routes, startup_time_ms, created_ms, config)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            v.id,
            v.script,
            v.bundle,
            v.main_module,
            serde_json::to_string(&v.modules)?,
            v.size as i64,
            serde_json::to_string(&v.vars)?,
            serde_json::to_string(&v.secret_names)?,
            v.compatibility_date,
            serde_json::to_string(&v.routes)?,
            v.startup_time_ms,
            v.created_ms as i64,
            serde_json::to_string(&VersionConfig {
                compatibility_flags: v.compatibility_flags.clone(),
                crons: v.crons.clone(),
                bindings: v.bindings.clone(),
            })?,
        ],
    )?;
    Ok(())
}

const VERSION_COLUMNS: &str = "id, script, bundle, main_module, modules, size, vars, \
     secret_names, compatibility_date, routes, startup_time_ms, created_ms, config";

fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionInfo> {
    fn json<T: serde::de::DeserializeOwned>(
        row: &rusqlite::Row<'_>,
        index: usize,
    ) -> rusqlite::Result<T> {
        let text: String = row.get(index)?;
        serde_json::from_str(&text).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(err),
            )
        })
    }
    let config: VersionConfig = json(row, 12)?;
    Ok(VersionInfo {
        id: row.get(0)?,
        script: row.get(1)?,
        bundle: row.get(2)?,
        main_module: row.get(3)?,
        modules: json(row, 4)?,
        size: row.get::<_, i64>(5)? as u64,
        vars: json(row, 6)?,
        secret_names: json(row, 7)?,
        compatibility_date: row.get(8)?,
        routes: json(row, 9)?,
        startup_time_ms: row.get(10)?,
        created_ms: row.get::<_, i64>(11)? as u64,
        compatibility_flags: config.compatibility_flags,
        crons: config.crons,
        bindings: config.bindings,
    })
}

/// A script's versions, newest first.
pub fn versions(conn: &Connection, script: &str) -> Result<Vec<VersionInfo>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE script = ?1 ORDER BY seq DESC"
    ))?;
    let versions = stmt
        .query_map([script], version_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(versions)
}

pub fn version(conn: &Connection, id: &str) -> Result<Option<VersionInfo>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE id = ?1"),
            [id],
            version_from_row,
        )
        .optional()?)
}

/// Records a deployment carried by `revision`.
pub fn insert_deployment(
    tx: &Transaction<'_>,
    script: &str,
    deployment: &Deployment,
    revision: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO deployments (script, versions, created_ms, revision) VALUES (?1, ?2, ?3, ?4)",
        params![
            script,
            serde_json::to_string(&deployment.versions)?,
            deployment.created_ms as i64,
            revision as i64,
        ],
    )?;
    Ok(())
}

/// A script's deployments, newest first.
pub fn deployments(conn: &Connection, script: &str) -> Result<Vec<Deployment>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT versions, created_ms FROM deployments WHERE script = ?1 ORDER BY seq DESC",
    )?;
    let rows = stmt
        .query_map([script], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(versions, created_ms)| {
            Ok(Deployment {
                versions: serde_json::from_str::<Vec<DeployedVersion>>(&versions)?,
                created_ms: created_ms as u64,
            })
        })
        .collect()
}

pub fn current_deployment(
    conn: &Connection,
    script: &str,
) -> Result<Option<Deployment>, StoreError> {
    let row = conn
        .query_row(
            "SELECT versions, created_ms FROM deployments WHERE script = ?1
             ORDER BY seq DESC LIMIT 1",
            [script],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )
        .optional()?;
    row.map(|(versions, created_ms)| {
        Ok(Deployment {
            versions: serde_json::from_str(&versions)?,
            created_ms: created_ms as u64,
        })
    })
    .transpose()
}

pub fn list_scripts(conn: &Connection) -> Result<Vec<ScriptSummary>, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM scripts ORDER BY name")?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    names
        .into_iter()
        .map(|name| {
            let deployment = current_deployment(conn, &name)?;
            Ok(ScriptSummary { name, deployment })
        })
        .collect()
}

pub fn version_list(conn: &Connection, script: &str) -> Result<VersionList, StoreError> {
    require_script(conn, script)?;
    Ok(VersionList {
        versions: versions(conn, script)?,
        deployment: current_deployment(conn, script)?,
    })
}

pub fn put_secret(
    tx: &Transaction<'_>,
    script: &str,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO secrets (script, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (script, name) DO UPDATE SET value = excluded.value",
        params![script, name, value],
    )?;
    Ok(())
}

/// Deletes a secret; false when there was none.
pub fn delete_secret(tx: &Transaction<'_>, script: &str, name: &str) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM secrets WHERE script = ?1 AND name = ?2",
        params![script, name],
    )? > 0)
}

pub fn secrets(conn: &Connection, script: &str) -> Result<BTreeMap<String, String>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, value FROM secrets WHERE script = ?1")?;
    let secrets = stmt
        .query_map([script], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<BTreeMap<String, String>, _>>()?;
    Ok(secrets)
}

/// Deletes a script with its versions, deployments and secrets, and the bundles no version
/// uses any more. False when there was no such script.
pub fn delete_script(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    let deleted = tx.execute("DELETE FROM scripts WHERE name = ?1", [name])? > 0;
    if deleted {
        tx.execute(
            "DELETE FROM bundles WHERE sha256 NOT IN (SELECT bundle FROM versions)",
            [],
        )?;
    }
    Ok(deleted)
}

/// What a node needs to serve `name` now, or `None` when it is not deployed.
pub fn script_state(conn: &Connection, name: &str) -> Result<Option<ScriptState>, StoreError> {
    let Some(deployment) = current_deployment(conn, name)? else {
        return Ok(None);
    };
    let mut versions = Vec::with_capacity(deployment.versions.len());
    for deployed in &deployment.versions {
        let version = version(conn, &deployed.version_id)?.ok_or_else(|| {
            StoreError::Invalid(format!(
                "deployment of {name:?} names missing version {}",
                deployed.version_id
            ))
        })?;
        versions.push(version);
    }
    Ok(Some(ScriptState {
        name: name.to_string(),
        deployment,
        versions,
        secrets: secrets(conn, name)?,
    }))
}

/// Every deployed script, with the revision the states belong to.
pub fn snapshot(conn: &Connection) -> Result<(u64, Vec<ScriptState>), StoreError> {
    let revision = current_revision(conn)?;
    let mut states = Vec::new();
    for summary in list_scripts(conn)? {
        if let Some(state) = script_state(conn, &summary.name)? {
            states.push(state);
        }
    }
    Ok((revision, states))
}

/// The current state of every script changed after `since`, with the current revision.
pub fn changes(conn: &Connection, since: u64) -> Result<(u64, Vec<ScriptChange>), StoreError> {
    let revision = current_revision(conn)?;
    let mut changes = Vec::new();
    for name in changed_since(conn, since)? {
        let state = script_state(conn, &name)?;
        changes.push(ScriptChange { name, state });
    }
    Ok((revision, changes))
}

/// Replaces the stored hash of `role`'s token.
pub fn set_token_hash(conn: &Connection, role: &str, hash: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (role, sha256) VALUES (?1, ?2)
         ON CONFLICT (role) DO UPDATE SET sha256 = excluded.sha256",
        params![role, hash],
    )?;
    Ok(())
}

/// Notes that a node was seen (a new node starts at revision 0). A new node is refused when
/// the store already has `max_nodes` of them.
pub fn node_seen(tx: &Transaction<'_>, id: &str, max_nodes: usize) -> Result<(), StoreError> {
    if !row_exists(tx, "SELECT 1 FROM nodes WHERE id = ?1", id)? {
        refuse_past_max_nodes(tx, "SELECT COUNT(*) FROM nodes", "node", id, max_nodes)?;
    }
    tx.execute(
        "INSERT INTO nodes (id, revision, last_seen_ms) VALUES (?1, 0, ?2)
         ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
        params![id, now_ms() as i64],
    )?;
    Ok(())
}

/// Records a node's acknowledged revision (the node's row exists: its sync stream made it).
pub fn node_ack(conn: &Connection, id: &str, revision: u64) -> Result<(), StoreError> {
    let updated = conn.execute(
        "UPDATE nodes SET revision = ?2, last_seen_ms = ?3 WHERE id = ?1",
        params![id, revision as i64, now_ms() as i64],
    )?;
    if updated == 0 {
        return Err(StoreError::NotFound(format!("no node {id:?}")));
    }
    Ok(())
}

/// Forgets a node and revokes its credential; false when there was neither.
pub fn delete_node(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let rows = conn.execute("DELETE FROM nodes WHERE id = ?1", [id])?
        + conn.execute("DELETE FROM node_credentials WHERE node = ?1", [id])?;
    Ok(rows > 0)
}

/// Stores the credential hash of a new node `id`. An id that has a credential already is a
/// conflict (only an admin can free it, by deleting the node), and so is a new one past
/// `max_nodes` credentials.
pub fn enroll_node(
    tx: &Transaction<'_>,
    id: &str,
    sha256: &str,
    max_nodes: usize,
) -> Result<(), StoreError> {
    if row_exists(tx, "SELECT 1 FROM node_credentials WHERE node = ?1", id)? {
        return Err(StoreError::Conflict(format!(
            "node {id:?} is enrolled already; an admin can delete it (DELETE /v1/nodes/{id}) \
             so that it may enroll again"
        )));
    }
    refuse_past_max_nodes(
        tx,
        "SELECT COUNT(*) FROM node_credentials",
        "enrolled node",
        id,
        max_nodes,
    )?;
    tx.execute(
        "INSERT INTO node_credentials (node, sha256, created_ms) VALUES (?1, ?2, ?3)",
        params![id, sha256, now_ms() as i64],
    )?;
    Ok(())
}

/// Every enrolled node's credential hash, as (sha256, node id).
pub fn node_credentials(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT sha256, node FROM node_credentials")?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every node ever seen (the `connected` flags are filled in by the caller).
pub fn nodes(conn: &Connection) -> Result<Vec<NodeStatus>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, revision, last_seen_ms FROM nodes ORDER BY id")?;
    let nodes = stmt
        .query_map([], |row| {
            Ok(NodeStatus {
                id: row.get(0)?,
                connected: false,
                revision: row.get::<_, i64>(1)? as u64,
                last_seen_ms: row.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made before the `config` column gets it on open, and its versions read with
    /// an empty configuration.
    #[test]
    fn a_database_from_before_gets_the_added_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("control.db");
        {
            let old_schema = SCHEMA.replace(
                ",\n    config              TEXT NOT NULL DEFAULT '{}'  -- JSON: VersionConfig",
                "",
            );
            assert_ne!(old_schema, SCHEMA, "the column is in the schema");
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&old_schema).expect("old schema");
            conn.execute_batch(
                "INSERT INTO scripts VALUES ('old', 0);
                 INSERT INTO bundles VALUES ('h', x'00');
                 INSERT INTO versions (id, script, bundle, main_module, modules, size, vars,
                     secret_names, compatibility_date, routes, startup_time_ms, created_ms)
                 VALUES ('v1', 'old', 'h', 'index.js', '[]', 1, '{}', '[]', NULL, '[]', 1.0, 0);",
            )
            .expect("an old version");
        }
        let store = Store::open(&path).expect("opens and migrates");
        let conn = store.conn.lock().expect("lock");
        let versions = versions(&conn, "old").expect("reads");
        assert_eq!(versions.len(), 1);
        assert!(versions[0].crons.is_empty() && versions[0].bindings.is_empty());
        drop(conn);
        Store::open(&path).expect("opens again without adding it twice");
    }
}
