//! Usage metering: nodes post their per-minute aggregates (`POST /v1/usage`, each batch
//! stored once however often it arrives), and the admin reads them back added up per minute,
//! hour or day (`GET /v1/usage`). The store side is [`crate::store::usage`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use skiff_protocol::usage::{UsageAggregate, UsageBatch, UsageReport, UsageRow};

use crate::error::ApiError;
use crate::extract::{JsonBody, QueryArgs};
use crate::state::AppState;
use crate::store::{self, now_ms};
use crate::sync::node_session;

/// The most aggregates one `POST /v1/usage` may carry.
pub const MAX_AGGREGATES: usize = 1000;

/// The longest batch id.
const MAX_BATCH_ID: usize = 128;

/// What `GET /v1/usage` covers without `since_ms`.
const DEFAULT_SPAN_MS: u64 = 24 * 3600 * 1000;

/// `POST /v1/usage` (node, session).
pub async fn post_usage(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<UsageBatch>,
) -> Result<StatusCode, ApiError> {
    let session = node_session(&state, &headers)?;
    if batch.aggregates.len() > MAX_AGGREGATES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a usage batch holds at most {MAX_AGGREGATES} aggregates"),
        ));
    }
    if batch.id.is_empty() || batch.id.len() > MAX_BATCH_ID {
        return Err(ApiError::bad_request(format!(
            "a usage batch id is 1 to {MAX_BATCH_ID} bytes"
        )));
    }
    let mut tx = state.store.bookkeeping().await?;
    let stored = store::usage::store_batch(
        &mut tx,
        &batch.id,
        &session.node,
        &batch.aggregates,
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    tracing::debug!(node = %session.node, batch = %batch.id, stored,
        aggregates = batch.aggregates.len(), "usage batch");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    script: Option<String>,
    since_ms: Option<u64>,
    by: Option<String>,
}

/// The length of a period `by` names, in milliseconds.
fn period_ms(by: &str) -> Option<u64> {
    match by {
        "minute" => Some(60_000),
        "hour" => Some(3_600_000),
        "day" => Some(86_400_000),
        _ => None,
    }
}

/// `GET /v1/usage?script=NAME&since_ms=T&by=minute|hour|day` (admin).
pub async fn get_usage(
    State(state): State<Arc<AppState>>,
    QueryArgs(query): QueryArgs<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let by = query.by.unwrap_or_else(|| "hour".into());
    let period = period_ms(&by)
        .ok_or_else(|| ApiError::bad_request(format!("bad by={by:?}: use minute, hour or day")))?;
    let since_ms = query
        .since_ms
        .unwrap_or_else(|| now_ms().saturating_sub(DEFAULT_SPAN_MS));
    let mut tx = state.store.read().await?;
    let minutes = store::usage::minutes(&mut tx, query.script.as_deref(), since_ms).await?;
    tx.commit().await?;
    Ok(Json(report(&minutes, since_ms, &by, period)))
}

/// Adds `minutes` up per script per period (UTC, from the epoch), oldest first, and per
/// script over everything.
fn report(minutes: &[UsageAggregate], since_ms: u64, by: &str, period: u64) -> UsageReport {
    let mut periods: BTreeMap<(u64, &str), UsageAggregate> = BTreeMap::new();
    let mut totals: BTreeMap<&str, UsageAggregate> = BTreeMap::new();
    for minute in minutes {
        let start = minute.minute_ms - minute.minute_ms % period;
        periods
            .entry((start, minute.script.as_str()))
            .or_insert_with(|| UsageAggregate {
                script: minute.script.clone(),
                minute_ms: start,
                ..UsageAggregate::default()
            })
            .merge(minute);
        totals
            .entry(minute.script.as_str())
            .or_insert_with(|| UsageAggregate {
                script: minute.script.clone(),
                minute_ms: since_ms,
                ..UsageAggregate::default()
            })
            .merge(minute);
    }
    UsageReport {
        since_ms,
        by: by.to_string(),
        rows: periods.values().map(row).collect(),
        totals: totals.values().map(row).collect(),
    }
}

fn row(aggregate: &UsageAggregate) -> UsageRow {
    let quantile_ms = |q| {
        aggregate
            .cpu_histogram
            .quantile(q)
            .map_or(0.0, |micros| micros / 1000.0)
    };
    UsageRow {
        script: aggregate.script.clone(),
        start_ms: aggregate.minute_ms,
        requests: aggregate.requests(),
        errors: aggregate.errors(),
        outcomes: aggregate.outcomes.clone(),
        scheduled: aggregate.scheduled,
        cpu_ms: aggregate.cpu_us as f64 / 1000.0,
        cpu_ms_p50: quantile_ms(0.5),
        cpu_ms_p99: quantile_ms(0.99),
        wall_ms: aggregate.wall_us as f64 / 1000.0,
        request_bytes: aggregate.request_bytes,
        response_bytes: aggregate.response_bytes,
        subrequests: aggregate.subrequests,
    }
}

#[cfg(test)]
mod tests {
    use skiff_protocol::usage::Outcome;

    use super::*;

    fn minute(script: &str, minute_ms: u64, requests: u64) -> UsageAggregate {
        let mut aggregate = UsageAggregate {
            script: script.into(),
            minute_ms,
            cpu_us: requests * 1000,
            ..UsageAggregate::default()
        };
        aggregate.outcomes.insert(Outcome::Ok, requests);
        for _ in 0..requests {
            aggregate.cpu_histogram.record(1000);
        }
        aggregate
    }

    #[test]
    fn minutes_add_up_per_period_and_script_oldest_first() {
        let hour = 3_600_000;
        let minutes = [
            minute("a", 0, 1),
            minute("a", 60_000, 2),
            minute("a", hour, 4),
            minute("b", 60_000, 8),
        ];
        let by_hour = report(&minutes, 0, "hour", hour);
        let rows: Vec<_> = by_hour
            .rows
            .iter()
            .map(|r| (r.script.as_str(), r.start_ms, r.requests))
            .collect();
        assert_eq!(rows, [("a", 0, 3), ("b", 0, 8), ("a", hour, 4)]);
        let totals: Vec<_> = by_hour
            .totals
            .iter()
            .map(|r| (r.script.as_str(), r.requests, r.cpu_ms))
            .collect();
        assert_eq!(totals, [("a", 7, 7.0), ("b", 8, 8.0)]);
        let p50 = by_hour.totals[0].cpu_ms_p50;
        assert!((p50 - 1.0).abs() < 0.1, "{p50}");
        assert_eq!(report(&minutes, 0, "day", 86_400_000).rows.len(), 2);
        assert_eq!(report(&minutes, 0, "minute", 60_000).rows.len(), 4);
    }
}
