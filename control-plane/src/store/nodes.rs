//! Who may call, and who is connected where: token hashes, node credentials, the nodes (the
//! revision each acknowledged, the replica its sync stream is open on, when it was last seen),
//! the replicas' heartbeats, and the tail subscriptions and log events the replicas share.

use std::collections::BTreeMap;

use skiff_protocol::NodeStatus;

use super::{Tx, args, now_ms};
use crate::error::StoreError;

/// The stored token hashes by role (`admin`, `node`).
pub async fn token_hashes(tx: &mut Tx) -> Result<BTreeMap<String, String>, StoreError> {
    tx.query("SELECT role, sha256 FROM tokens", args![])
        .await?
        .iter()
        .map(|row| Ok((row.text(0)?, row.text(1)?)))
        .collect()
}

/// Replaces the stored hash of `role`'s token.
pub async fn set_token_hash(tx: &mut Tx, role: &str, hash: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tokens (role, sha256) VALUES ($1, $2)
         ON CONFLICT (role) DO UPDATE SET sha256 = excluded.sha256",
        args![role, hash],
    )
    .await?;
    Ok(())
}

/// Stores `hash` for `role` unless the role has one already; whether this one was stored.
pub async fn add_token_hash(tx: &mut Tx, role: &str, hash: &str) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "INSERT INTO tokens (role, sha256) VALUES ($1, $2) ON CONFLICT (role) DO NOTHING",
            args![role, hash],
        )
        .await?
        > 0)
}

/// Refuses a new node `id` once the rows of `table` reach `max_nodes`; `noun` names what is
/// counted in the log and the error.
async fn refuse_past_max_nodes(
    tx: &mut Tx,
    table: &str,
    noun: &str,
    id: &str,
    max_nodes: usize,
) -> Result<(), StoreError> {
    let count = tx
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), args![])
        .await?
        .uint(0)?;
    if count >= max_nodes as u64 {
        tracing::warn!(node = %id, max_nodes, "a new {noun} was refused: --max-nodes is reached");
        return Err(StoreError::Full(format!(
            "the control plane already has {count} {noun}s, its limit (--max-nodes \
             {max_nodes}); remove stale ones with DELETE /v1/nodes/{{id}}"
        )));
    }
    Ok(())
}

/// Notes that a node opened a sync stream on `replica` (a new node starts at revision 0). A
/// new node is refused when the store already has `max_nodes` of them.
pub async fn node_connected(
    tx: &mut Tx,
    id: &str,
    zone: Option<&str>,
    replica: &str,
    max_nodes: usize,
) -> Result<(), StoreError> {
    if !tx
        .exists("SELECT 1 FROM nodes WHERE id = $1", args![id])
        .await?
    {
        refuse_past_max_nodes(tx, "nodes", "node", id, max_nodes).await?;
    }
    tx.execute(
        "INSERT INTO nodes (id, revision, last_seen_ms, zone, replica) VALUES ($1, 0, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms,
             zone = COALESCE(excluded.zone, nodes.zone), replica = excluded.replica",
        args![id, now_ms(), zone, replica],
    )
    .await?;
    Ok(())
}

/// Notes that a node's sync stream on `replica` closed (unless it is open elsewhere now).
pub async fn node_disconnected(tx: &mut Tx, id: &str, replica: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE nodes SET replica = NULL, last_seen_ms = $3 WHERE id = $1 AND replica = $2",
        args![id, replica, now_ms()],
    )
    .await?;
    Ok(())
}

/// Records a node's acknowledged revision (the node's row exists: its sync stream made it).
pub async fn node_ack(tx: &mut Tx, id: &str, revision: u64) -> Result<(), StoreError> {
    let updated = tx
        .execute(
            "UPDATE nodes SET revision = $2, last_seen_ms = $3 WHERE id = $1",
            args![id, revision, now_ms()],
        )
        .await?;
    if updated == 0 {
        return Err(StoreError::NotFound(format!("no node {id:?}")));
    }
    Ok(())
}

/// Forgets a node and revokes its credential; false when there was neither.
pub async fn delete_node(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    let rows = tx
        .execute("DELETE FROM nodes WHERE id = $1", args![id])
        .await?
        + tx.execute("DELETE FROM node_credentials WHERE node = $1", args![id])
            .await?;
    Ok(rows > 0)
}

/// Stores the credential hash of a new node `id`. An id that has a credential already is a
/// conflict (only an admin can free it, by deleting the node), and so is a new one past
/// `max_nodes` credentials.
pub async fn enroll_node(
    tx: &mut Tx,
    id: &str,
    sha256: &str,
    max_nodes: usize,
) -> Result<(), StoreError> {
    if tx
        .exists("SELECT 1 FROM node_credentials WHERE node = $1", args![id])
        .await?
    {
        return Err(StoreError::Conflict(format!(
            "node {id:?} is enrolled already; an admin can delete it (DELETE /v1/nodes/{id}) \
             so that it may enroll again"
        )));
    }
    refuse_past_max_nodes(tx, "node_credentials", "enrolled node", id, max_nodes).await?;
    tx.execute(
        "INSERT INTO node_credentials (node, sha256, created_ms) VALUES ($1, $2, $3)",
        args![id, sha256, now_ms()],
    )
    .await?;
    Ok(())
}

/// The node whose credential has `sha256`, if any.
pub async fn credential_node(tx: &mut Tx, sha256: &str) -> Result<Option<String>, StoreError> {
    tx.query_opt(
        "SELECT node FROM node_credentials WHERE sha256 = $1",
        args![sha256],
    )
    .await?
    .map(|row| row.text(0))
    .transpose()
}

/// Every enrolled node's credential hash, as (sha256, node id).
pub async fn node_credentials(tx: &mut Tx) -> Result<Vec<(String, String)>, StoreError> {
    tx.query("SELECT sha256, node FROM node_credentials", args![])
        .await?
        .iter()
        .map(|row| Ok((row.text(0)?, row.text(1)?)))
        .collect()
}

/// When nodes count as live and connected.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// Nodes not seen for this long are left out.
    pub node_ttl_ms: u64,
    /// A replica whose heartbeat is older than this is gone, and its nodes disconnected.
    pub replica_gone_ms: u64,
}

/// When a node was last seen: its own row's time (its last connect, ack or disconnect), or
/// the heartbeat of the replica its stream is open on, whichever is later. (Heartbeats do not
/// write the node rows: that would contend with the acks for their locks.)
const LAST_SEEN: &str = "CASE WHEN r.heartbeat_ms > n.last_seen_ms THEN r.heartbeat_ms \
     ELSE n.last_seen_ms END";

/// The nodes seen within the TTL, by id. A node is connected when its sync stream is open on
/// a replica whose heartbeat is fresh.
pub async fn nodes(tx: &mut Tx, liveness: Liveness) -> Result<Vec<NodeStatus>, StoreError> {
    let now = now_ms();
    let rows = tx
        .query(
            &format!(
                "SELECT n.id, n.revision, {LAST_SEEN}, n.zone, r.url, r.heartbeat_ms
                 FROM nodes n LEFT JOIN replicas r ON r.id = n.replica
                 WHERE {LAST_SEEN} >= $1 ORDER BY n.id"
            ),
            args![now.saturating_sub(liveness.node_ttl_ms)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let heartbeat = row.opt_int(5)?.unwrap_or(0).max(0) as u64;
            let connected = heartbeat + liveness.replica_gone_ms >= now;
            Ok(NodeStatus {
                id: row.text(0)?,
                connected,
                revision: row.uint(1)?,
                last_seen_ms: row.uint(2)?,
                zone: row.opt_text(3)?,
                replica: if connected { row.opt_text(4)? } else { None },
            })
        })
        .collect()
}

/// A replica's heartbeat: it is alive, and so the nodes connected to it were seen now.
pub async fn heartbeat(tx: &mut Tx, replica: &str, url: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO replicas (id, url, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $3)
         ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
        args![replica, url, now_ms()],
    )
    .await?;
    Ok(())
}

/// Forgets replicas (and their tail subscriptions) gone for longer than `older_than_ms`, and
/// log events older than that.
pub async fn forget_stale(tx: &mut Tx, older_than_ms: u64) -> Result<(), StoreError> {
    let before = now_ms().saturating_sub(older_than_ms);
    tx.execute(
        "DELETE FROM tail_subscriptions WHERE replica IN
             (SELECT id FROM replicas WHERE heartbeat_ms < $1)",
        args![before],
    )
    .await?;
    tx.execute(
        "UPDATE nodes SET last_seen_ms = (SELECT heartbeat_ms FROM replicas WHERE id = nodes.replica),
             replica = NULL
         WHERE replica IN (SELECT id FROM replicas WHERE heartbeat_ms < $1)",
        args![before],
    )
    .await?;
    tx.execute(
        "DELETE FROM replicas WHERE heartbeat_ms < $1",
        args![before],
    )
    .await?;
    tx.execute(
        "DELETE FROM tail_events WHERE created_ms < $1",
        args![before],
    )
    .await?;
    Ok(())
}

/// Replaces `replica`'s tail subscriptions with `scripts` (subscriber counts by script).
pub async fn set_tail_subscriptions(
    tx: &mut Tx,
    replica: &str,
    scripts: &BTreeMap<String, usize>,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM tail_subscriptions WHERE replica = $1",
        args![replica],
    )
    .await?;
    for (script, subscribers) in scripts {
        tx.execute(
            "INSERT INTO tail_subscriptions (replica, script, subscribers) VALUES ($1, $2, $3)",
            args![replica, script, *subscribers],
        )
        .await?;
    }
    Ok(())
}

/// The scripts tailed on any live replica, by name.
pub async fn tailed_scripts(tx: &mut Tx, replica_gone_ms: u64) -> Result<Vec<String>, StoreError> {
    tx.query(
        "SELECT DISTINCT t.script FROM tail_subscriptions t
             JOIN replicas r ON r.id = t.replica
         WHERE r.heartbeat_ms >= $1 ORDER BY t.script",
        args![now_ms().saturating_sub(replica_gone_ms)],
    )
    .await?
    .iter()
    .map(|row| row.text(0))
    .collect()
}

/// Stores a log event for the replicas' tail subscribers; its id.
pub async fn add_tail_event(tx: &mut Tx, script: &str, event: &str) -> Result<i64, StoreError> {
    tx.query_one(
        "INSERT INTO tail_events (script, event, created_ms) VALUES ($1, $2, $3) RETURNING id",
        args![script, event, now_ms()],
    )
    .await?
    .int(0)
}

/// A stored log event's JSON, if it is still there.
pub async fn tail_event(tx: &mut Tx, id: i64) -> Result<Option<String>, StoreError> {
    tx.query_opt("SELECT event FROM tail_events WHERE id = $1", args![id])
        .await?
        .map(|row| row.text(0))
        .transpose()
}
