//! Scripts, their versions and bundles, deployments, secrets, and the change log whose row ids
//! are the revisions.
//!
//! Every write that changes what nodes serve runs in one [`Store::write`](super::Store::write)
//! transaction together with its change-log row, so a revision names exactly one committed
//! state.

use std::collections::BTreeMap;

use skiff_protocol::{
    DeployedVersion, Deployment, ScriptChange, ScriptState, ScriptSummary, VersionInfo, VersionList,
};

use super::{Row, Tx, args, now_ms};
use crate::error::StoreError;

/// Appends a change-log row for `script` and returns its revision.
pub async fn log_change(tx: &mut Tx, script: &str) -> Result<u64, StoreError> {
    tx.query_one(
        "INSERT INTO changes (script, created_ms) VALUES ($1, $2) RETURNING revision",
        args![script, now_ms()],
    )
    .await?
    .uint(0)
}

/// The latest revision (0 before the first change).
pub async fn current_revision(tx: &mut Tx) -> Result<u64, StoreError> {
    tx.query_one("SELECT COALESCE(MAX(revision), 0) FROM changes", args![])
        .await?
        .uint(0)
}

/// The scripts changed after `since`, in name order (KV writes name none).
pub async fn changed_since(tx: &mut Tx, since: u64) -> Result<Vec<String>, StoreError> {
    tx.query(
        "SELECT DISTINCT script FROM changes WHERE revision > $1 AND script <> '' ORDER BY script",
        args![since],
    )
    .await?
    .iter()
    .map(|row| row.text(0))
    .collect()
}

pub async fn script_exists(tx: &mut Tx, name: &str) -> Result<bool, StoreError> {
    tx.exists("SELECT 1 FROM scripts WHERE name = $1", args![name])
        .await
}

pub async fn require_script(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    if script_exists(tx, name).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no script named {name:?}")))
    }
}

/// Stores a bundle under its hash (a no-op when it is already there).
pub async fn put_bundle(tx: &mut Tx, hash: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO bundles (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
        args![hash, bytes],
    )
    .await?;
    Ok(())
}

pub async fn bundle(tx: &mut Tx, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    tx.query_opt("SELECT bytes FROM bundles WHERE sha256 = $1", args![hash])
        .await?
        .map(|row| row.bytes(0))
        .transpose()
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
pub async fn ensure_script(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO scripts (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        args![name, now_ms()],
    )
    .await?;
    Ok(())
}

pub async fn insert_version(tx: &mut Tx, v: &VersionInfo) -> Result<(), StoreError> {
    let config = VersionConfig {
        compatibility_flags: v.compatibility_flags.clone(),
        crons: v.crons.clone(),
        bindings: v.bindings.clone(),
    };
    tx.execute(
        "INSERT INTO versions (id, script, bundle, main_module, modules, size, vars, secret_names,
             compatibility_date, routes, startup_time_ms, created_ms, config)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        args![
            &v.id,
            &v.script,
            &v.bundle,
            &v.main_module,
            serde_json::to_string(&v.modules)?,
            v.size,
            serde_json::to_string(&v.vars)?,
            serde_json::to_string(&v.secret_names)?,
            v.compatibility_date.clone(),
            serde_json::to_string(&v.routes)?,
            v.startup_time_ms,
            v.created_ms,
            serde_json::to_string(&config)?,
        ],
    )
    .await?;
    Ok(())
}

const VERSION_COLUMNS: &str = "id, script, bundle, main_module, modules, size, vars, \
     secret_names, compatibility_date, routes, startup_time_ms, created_ms, config";

fn version_from_row(row: &Row) -> Result<VersionInfo, StoreError> {
    let config: VersionConfig = row.json(12)?;
    Ok(VersionInfo {
        id: row.text(0)?,
        script: row.text(1)?,
        bundle: row.text(2)?,
        main_module: row.text(3)?,
        modules: row.json(4)?,
        size: row.uint(5)?,
        vars: row.json(6)?,
        secret_names: row.json(7)?,
        compatibility_date: row.opt_text(8)?,
        routes: row.json(9)?,
        startup_time_ms: row.real(10)?,
        created_ms: row.uint(11)?,
        compatibility_flags: config.compatibility_flags,
        crons: config.crons,
        bindings: config.bindings,
    })
}

/// A script's versions, newest first.
pub async fn versions(tx: &mut Tx, script: &str) -> Result<Vec<VersionInfo>, StoreError> {
    tx.query(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE script = $1 ORDER BY seq DESC"),
        args![script],
    )
    .await?
    .iter()
    .map(version_from_row)
    .collect()
}

pub async fn version(tx: &mut Tx, id: &str) -> Result<Option<VersionInfo>, StoreError> {
    tx.query_opt(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE id = $1"),
        args![id],
    )
    .await?
    .as_ref()
    .map(version_from_row)
    .transpose()
}

/// Records a deployment carried by `revision`.
pub async fn insert_deployment(
    tx: &mut Tx,
    script: &str,
    deployment: &Deployment,
    revision: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO deployments (script, versions, created_ms, revision) VALUES ($1, $2, $3, $4)",
        args![
            script,
            serde_json::to_string(&deployment.versions)?,
            deployment.created_ms,
            revision,
        ],
    )
    .await?;
    Ok(())
}

fn deployment_from_row(row: &Row) -> Result<Deployment, StoreError> {
    Ok(Deployment {
        versions: row.json::<Vec<DeployedVersion>>(0)?,
        created_ms: row.uint(1)?,
    })
}

/// A script's deployments, newest first.
pub async fn deployments(tx: &mut Tx, script: &str) -> Result<Vec<Deployment>, StoreError> {
    tx.query(
        "SELECT versions, created_ms FROM deployments WHERE script = $1 ORDER BY seq DESC",
        args![script],
    )
    .await?
    .iter()
    .map(deployment_from_row)
    .collect()
}

pub async fn current_deployment(
    tx: &mut Tx,
    script: &str,
) -> Result<Option<Deployment>, StoreError> {
    tx.query_opt(
        "SELECT versions, created_ms FROM deployments WHERE script = $1
         ORDER BY seq DESC LIMIT 1",
        args![script],
    )
    .await?
    .as_ref()
    .map(deployment_from_row)
    .transpose()
}

pub async fn list_scripts(tx: &mut Tx) -> Result<Vec<ScriptSummary>, StoreError> {
    let names = tx
        .query("SELECT name FROM scripts ORDER BY name", args![])
        .await?
        .iter()
        .map(|row| row.text(0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut scripts = Vec::with_capacity(names.len());
    for name in names {
        let deployment = current_deployment(tx, &name).await?;
        scripts.push(ScriptSummary { name, deployment });
    }
    Ok(scripts)
}

pub async fn version_list(tx: &mut Tx, script: &str) -> Result<VersionList, StoreError> {
    require_script(tx, script).await?;
    Ok(VersionList {
        versions: versions(tx, script).await?,
        deployment: current_deployment(tx, script).await?,
    })
}

pub async fn put_secret(
    tx: &mut Tx,
    script: &str,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO secrets (script, name, value) VALUES ($1, $2, $3)
         ON CONFLICT (script, name) DO UPDATE SET value = excluded.value",
        args![script, name, value],
    )
    .await?;
    Ok(())
}

/// Deletes a secret; false when there was none.
pub async fn delete_secret(tx: &mut Tx, script: &str, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "DELETE FROM secrets WHERE script = $1 AND name = $2",
            args![script, name],
        )
        .await?
        > 0)
}

pub async fn secrets(tx: &mut Tx, script: &str) -> Result<BTreeMap<String, String>, StoreError> {
    tx.query(
        "SELECT name, value FROM secrets WHERE script = $1",
        args![script],
    )
    .await?
    .iter()
    .map(|row| Ok((row.text(0)?, row.text(1)?)))
    .collect()
}

/// Deletes a script with its versions, deployments and secrets, and the bundles no version
/// uses any more. False when there was no such script.
pub async fn delete_script(tx: &mut Tx, name: &str) -> Result<bool, StoreError> {
    let deleted = tx
        .execute("DELETE FROM scripts WHERE name = $1", args![name])
        .await?
        > 0;
    if deleted {
        tx.execute(
            "DELETE FROM bundles WHERE sha256 NOT IN (SELECT bundle FROM versions)",
            args![],
        )
        .await?;
    }
    Ok(deleted)
}

/// What a node needs to serve `name` now, or `None` when it is not deployed.
pub async fn script_state(tx: &mut Tx, name: &str) -> Result<Option<ScriptState>, StoreError> {
    let Some(deployment) = current_deployment(tx, name).await? else {
        return Ok(None);
    };
    let mut versions = Vec::with_capacity(deployment.versions.len());
    for deployed in &deployment.versions {
        let version = version(tx, &deployed.version_id).await?.ok_or_else(|| {
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
        secrets: secrets(tx, name).await?,
    }))
}

/// Every deployed script, with the revision the states belong to.
pub async fn snapshot(tx: &mut Tx) -> Result<(u64, Vec<ScriptState>), StoreError> {
    let revision = current_revision(tx).await?;
    let mut states = Vec::new();
    for summary in list_scripts(tx).await? {
        if let Some(state) = script_state(tx, &summary.name).await? {
            states.push(state);
        }
    }
    Ok((revision, states))
}

/// The current state of every script changed after `since`, with the current revision.
pub async fn changes(tx: &mut Tx, since: u64) -> Result<(u64, Vec<ScriptChange>), StoreError> {
    let revision = current_revision(tx).await?;
    let mut changes = Vec::new();
    for name in changed_since(tx, since).await? {
        let state = script_state(tx, &name).await?;
        changes.push(ScriptChange { name, state });
    }
    Ok((revision, changes))
}
