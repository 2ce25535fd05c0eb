//! Usage per script per minute, added up from the nodes' batches.
//!
//! A batch is stored once: its id goes into `usage_batches` in the transaction that adds its
//! aggregates, so a batch sent again (its first post failed, or its answer was lost) finds its
//! id there and changes nothing. Each (script, minute) row is merged read-modify-write: an
//! upsert that touches the row takes its row lock (PostgreSQL; SQLite has one writer) and
//! returns its latest committed state, the merge happens here, and the row is written back
//! before the transaction ends. A batch locks its rows in (script, minute) order, so two
//! replicas storing batches at once cannot deadlock.

use std::collections::BTreeMap;

use skiff_protocol::usage::{CpuHistogram, Outcome, UsageAggregate};

use super::{Row, Tx, args};
use crate::error::StoreError;

const USAGE_COLUMNS: &str = "script, minute_ms, outcomes, scheduled, cpu_us, wall_us, \
                             request_bytes, response_bytes, subrequests, cpu_histogram";

fn aggregate_from_row(row: &Row) -> Result<UsageAggregate, StoreError> {
    Ok(UsageAggregate {
        script: row.text(0)?,
        minute_ms: row.uint(1)?,
        outcomes: row.json::<BTreeMap<Outcome, u64>>(2)?,
        scheduled: row.uint(3)?,
        cpu_us: row.uint(4)?,
        wall_us: row.uint(5)?,
        request_bytes: row.uint(6)?,
        response_bytes: row.uint(7)?,
        subrequests: row.uint(8)?,
        cpu_histogram: row.json::<CpuHistogram>(9)?,
    })
}

/// Stores batch `id` from `node` unless it was stored before; whether it was stored now.
/// Aggregates of one script and minute are merged (in the batch, and with the stored row).
pub async fn store_batch(
    tx: &mut Tx,
    id: &str,
    node: &str,
    aggregates: &[UsageAggregate],
    now_ms: u64,
) -> Result<bool, StoreError> {
    let new = tx
        .execute(
            "INSERT INTO usage_batches (id, node, received_ms) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            args![id, node, now_ms],
        )
        .await?;
    if new == 0 {
        return Ok(false);
    }
    let mut merged: BTreeMap<(&str, u64), UsageAggregate> = BTreeMap::new();
    for aggregate in aggregates {
        let minute_ms = aggregate.minute_ms - aggregate.minute_ms % 60_000;
        merged
            .entry((aggregate.script.as_str(), minute_ms))
            .or_insert_with(|| UsageAggregate {
                script: aggregate.script.clone(),
                minute_ms,
                ..UsageAggregate::default()
            })
            .merge(aggregate);
    }
    for ((script, minute_ms), aggregate) in merged {
        // Locks the row (creating it empty) and reads its latest committed state.
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO usage_minutes ({USAGE_COLUMNS})
                     VALUES ($1, $2, '{{}}', 0, 0, 0, 0, 0, 0, '{{}}')
                     ON CONFLICT (script, minute_ms) DO UPDATE SET minute_ms = excluded.minute_ms
                     RETURNING {USAGE_COLUMNS}"
                ),
                args![script, minute_ms],
            )
            .await?;
        let mut stored = aggregate_from_row(&row)?;
        stored.merge(&aggregate);
        tx.execute(
            "UPDATE usage_minutes SET outcomes = $3, scheduled = $4, cpu_us = $5, wall_us = $6,
                 request_bytes = $7, response_bytes = $8, subrequests = $9, cpu_histogram = $10
             WHERE script = $1 AND minute_ms = $2",
            args![
                script,
                minute_ms,
                serde_json::to_string(&stored.outcomes)?,
                stored.scheduled,
                stored.cpu_us,
                stored.wall_us,
                stored.request_bytes,
                stored.response_bytes,
                stored.subrequests,
                serde_json::to_string(&stored.cpu_histogram)?,
            ],
        )
        .await?;
    }
    Ok(true)
}

/// The stored minutes from `since_ms` on, of `script` or of every script, by script and
/// minute.
pub async fn minutes(
    tx: &mut Tx,
    script: Option<&str>,
    since_ms: u64,
) -> Result<Vec<UsageAggregate>, StoreError> {
    let rows = match script {
        Some(script) => {
            tx.query(
                &format!(
                    "SELECT {USAGE_COLUMNS} FROM usage_minutes
                     WHERE script = $1 AND minute_ms >= $2 ORDER BY script, minute_ms"
                ),
                args![script, since_ms],
            )
            .await?
        }
        None => {
            tx.query(
                &format!(
                    "SELECT {USAGE_COLUMNS} FROM usage_minutes
                     WHERE minute_ms >= $1 ORDER BY script, minute_ms"
                ),
                args![since_ms],
            )
            .await?
        }
    };
    rows.iter().map(aggregate_from_row).collect()
}

/// Deletes usage rows and remembered batch ids older than `before_ms`.
pub async fn forget_before(tx: &mut Tx, before_ms: u64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM usage_minutes WHERE minute_ms < $1",
        args![before_ms],
    )
    .await?;
    tx.execute(
        "DELETE FROM usage_batches WHERE received_ms < $1",
        args![before_ms],
    )
    .await?;
    Ok(())
}
