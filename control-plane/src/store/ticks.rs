//! Ticks of cron triggers: one row per (script, cron, scheduled time), created by whichever
//! replica's scheduler inserts it first, and handed from state to state by compare-and-set
//! updates, so that replicas racing on the same tick never both act on it.
//!
//! A tick is `pending` (no node has it), `assigned` (one node should run it now), or finished:
//! `done` (reported ok), `failed` (a failure with no retry left, or `noRetry`) or `missed`
//! (a newer tick of the same trigger was created before it ran). `node` is the node it is
//! assigned to, or the one it was last assigned to; `attempts` counts assignments.

use skiff_protocol::usage::Outcome;
use skiff_protocol::{DeployedVersion, ScheduledTick};

use super::{Row, Tx, args, now_ms};
use crate::error::StoreError;

/// What a script's deployment schedules: the crons of its largest-share version.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptCrons {
    pub script: String,
    pub crons: Vec<String>,
    /// When the deployment was made (milliseconds since the epoch).
    pub deployment_ms: u64,
    /// The revision that carried the deployment.
    pub revision: u64,
    /// When the deployed version was uploaded.
    pub version_ms: u64,
}

/// The version of a deployment with the largest share (the first of equals).
pub fn main_version(versions: &[DeployedVersion]) -> Option<&DeployedVersion> {
    versions
        .iter()
        .fold(None, |best: Option<&DeployedVersion>, v| match best {
            Some(b) if b.percentage >= v.percentage => Some(b),
            _ => Some(v),
        })
}

/// The crons of every deployed script (or of `only` that one), by script name; scripts
/// without crons are left out.
pub async fn script_crons(tx: &mut Tx, only: Option<&str>) -> Result<Vec<ScriptCrons>, StoreError> {
    const CURRENT: &str = "SELECT d.script, d.versions, d.created_ms, d.revision
         FROM deployments d
         WHERE d.seq = (SELECT MAX(seq) FROM deployments WHERE script = d.script)";
    let rows = match only {
        Some(script) => {
            tx.query(&format!("{CURRENT} AND d.script = $1"), args![script])
                .await?
        }
        None => {
            tx.query(&format!("{CURRENT} ORDER BY d.script"), args![])
                .await?
        }
    };
    let mut all = Vec::new();
    for row in rows {
        let script = row.text(0)?;
        let versions: Vec<DeployedVersion> = row.json(1)?;
        let Some(main) = main_version(&versions) else {
            continue;
        };
        let Some(version) = super::version(tx, &main.version_id).await? else {
            continue;
        };
        if version.crons.is_empty() {
            continue;
        }
        all.push(ScriptCrons {
            script,
            crons: version.crons,
            deployment_ms: row.uint(2)?,
            revision: row.uint(3)?,
            version_ms: version.created_ms,
        });
    }
    Ok(all)
}

/// One stored tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub id: String,
    pub script: String,
    pub cron: String,
    pub scheduled_time_ms: u64,
    pub state: String,
    pub node: Option<String>,
    pub attempts: u64,
    /// Real time (not the scheduler's clock) of the latest assignment.
    pub assigned_ms: Option<u64>,
    pub outcome: Option<String>,
}

impl Tick {
    pub fn wire(&self) -> ScheduledTick {
        ScheduledTick {
            id: self.id.clone(),
            script: self.script.clone(),
            cron: self.cron.clone(),
            scheduled_time_ms: self.scheduled_time_ms,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "done" | "failed" | "missed")
    }
}

const TICK_COLUMNS: &str =
    "id, script, cron, scheduled_time_ms, state, node, attempts, assigned_ms, outcome";

fn tick_from_row(row: &Row) -> Result<Tick, StoreError> {
    Ok(Tick {
        id: row.text(0)?,
        script: row.text(1)?,
        cron: row.text(2)?,
        scheduled_time_ms: row.uint(3)?,
        state: row.text(4)?,
        node: row.opt_text(5)?,
        attempts: row.uint(6)?,
        assigned_ms: row.opt_int(7)?.map(|v| v.max(0) as u64),
        outcome: row.opt_text(8)?,
    })
}

/// The id of the tick of `cron` of `script` due at `time_ms`: the same on every replica.
pub fn tick_id(script: &str, cron: &str, time_ms: u64) -> String {
    let digest = skiff_protocol::sha256_hex(format!("{script}\n{cron}\n{time_ms}").as_bytes());
    digest[..32].to_string()
}

/// Creates the tick (pending) unless it exists; whether this call created it. A created tick
/// makes the unfinished older ticks of the same trigger `missed`.
pub async fn create_tick(
    tx: &mut Tx,
    script: &str,
    cron: &str,
    time_ms: u64,
) -> Result<Option<String>, StoreError> {
    let id = tick_id(script, cron, time_ms);
    let created = tx
        .execute(
            "INSERT INTO scheduled_ticks (id, script, cron, scheduled_time_ms, state, created_ms)
             VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT DO NOTHING",
            args![&id, script, cron, time_ms, now_ms()],
        )
        .await?;
    if created == 0 {
        return Ok(None);
    }
    tx.execute(
        "UPDATE scheduled_ticks SET state = 'missed'
         WHERE script = $1 AND cron = $2 AND scheduled_time_ms < $3
             AND state IN ('pending', 'assigned')",
        args![script, cron, time_ms],
    )
    .await?;
    Ok(Some(id))
}

/// Marks `missed` every unfinished tick that a newer tick of its trigger has overtaken (two
/// replicas creating ticks of one trigger at once can each miss the other's).
pub async fn miss_overtaken(tx: &mut Tx) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE scheduled_ticks SET state = 'missed'
         WHERE state IN ('pending', 'assigned') AND EXISTS (
             SELECT 1 FROM scheduled_ticks newer
             WHERE newer.script = scheduled_ticks.script AND newer.cron = scheduled_ticks.cron
                 AND newer.scheduled_time_ms > scheduled_ticks.scheduled_time_ms)",
        args![],
    )
    .await
}

/// The unfinished ticks (pending or assigned), oldest first.
pub async fn open_ticks(tx: &mut Tx) -> Result<Vec<Tick>, StoreError> {
    tx.query(
        &format!(
            "SELECT {TICK_COLUMNS} FROM scheduled_ticks WHERE state IN ('pending', 'assigned')
             ORDER BY scheduled_time_ms, id"
        ),
        args![],
    )
    .await?
    .iter()
    .map(tick_from_row)
    .collect()
}

pub async fn tick(tx: &mut Tx, id: &str) -> Result<Option<Tick>, StoreError> {
    tx.query_opt(
        &format!("SELECT {TICK_COLUMNS} FROM scheduled_ticks WHERE id = $1"),
        args![id],
    )
    .await?
    .as_ref()
    .map(tick_from_row)
    .transpose()
}

/// The latest ticks of `script`, newest first.
pub async fn recent_ticks(tx: &mut Tx, script: &str, limit: u64) -> Result<Vec<Tick>, StoreError> {
    tx.query(
        &format!(
            "SELECT {TICK_COLUMNS} FROM scheduled_ticks WHERE script = $1
             ORDER BY scheduled_time_ms DESC, cron LIMIT $2"
        ),
        args![script, limit],
    )
    .await?
    .iter()
    .map(tick_from_row)
    .collect()
}

/// Gives `tick` (as read, pending) to `node`; false when someone changed it first.
pub async fn assign(tx: &mut Tx, tick: &Tick, node: &str) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "UPDATE scheduled_ticks
             SET state = 'assigned', node = $2, attempts = attempts + 1, assigned_ms = $3
             WHERE id = $1 AND state = 'pending' AND attempts = $4",
            args![&tick.id, node, now_ms(), tick.attempts],
        )
        .await?
        == 1)
}

/// Takes `tick` (as read, assigned) back from its node: pending again, or `failed` when it
/// has had `max_attempts`. False when someone changed it first.
pub async fn unassign(tx: &mut Tx, tick: &Tick, max_attempts: u64) -> Result<bool, StoreError> {
    let state = if tick.attempts >= max_attempts {
        "failed"
    } else {
        "pending"
    };
    Ok(tx
        .execute(
            "UPDATE scheduled_ticks SET state = $2
             WHERE id = $1 AND state = 'assigned' AND attempts = $3 AND node = $4",
            args![&tick.id, state, tick.attempts, tick.node.as_deref()],
        )
        .await?
        == 1)
}

/// Records `node`'s report on `tick` (as read): `done` for ok, `pending` again for a failure
/// that may be retried, `failed` otherwise; a tick that finished already keeps its state
/// and gets only the outcome. False when someone changed it first.
pub async fn report(
    tx: &mut Tx,
    tick: &Tick,
    outcome: Outcome,
    retry: bool,
) -> Result<bool, StoreError> {
    let state = if tick.finished() {
        tick.state.as_str()
    } else if outcome == Outcome::Ok {
        "done"
    } else if retry {
        "pending"
    } else {
        "failed"
    };
    Ok(tx
        .execute(
            "UPDATE scheduled_ticks SET state = $2, outcome = $3
             WHERE id = $1 AND state = $4 AND attempts = $5",
            args![
                &tick.id,
                state,
                outcome.as_str(),
                &tick.state,
                tick.attempts
            ],
        )
        .await?
        == 1)
}

/// Deletes finished ticks created before `before_ms` (real time).
pub async fn forget_finished(tx: &mut Tx, before_ms: u64) -> Result<u64, StoreError> {
    tx.execute(
        "DELETE FROM scheduled_ticks
         WHERE created_ms < $1 AND state IN ('done', 'failed', 'missed')",
        args![before_ms],
    )
    .await
}

/// The connected nodes (their stream is open on a replica whose heartbeat is under
/// `replica_gone_ms` old) with the revision each acknowledged, by id.
pub async fn connected_nodes(
    tx: &mut Tx,
    replica_gone_ms: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    tx.query(
        "SELECT n.id, n.revision FROM nodes n JOIN replicas r ON r.id = n.replica
         WHERE r.heartbeat_ms >= $1 ORDER BY n.id",
        args![now_ms().saturating_sub(replica_gone_ms)],
    )
    .await?
    .iter()
    .map(|row| Ok((row.text(0)?, row.uint(1)?)))
    .collect()
}
