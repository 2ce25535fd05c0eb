//! The HTTP side of cron triggers: a node's report on a tick it ran
//! (`POST /v1/scheduled/{id}`), and a script's schedules in Cloudflare's shape
//! (`GET /v1/scripts/{name}/schedules`). The scheduler itself is [`crate::cron`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use skiff_protocol::ScheduledReport;
use skiff_protocol::usage::Outcome;

use crate::cron::MAX_ATTEMPTS;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::replica;
use crate::state::AppState;
use crate::store::{self, ticks};
use crate::sync::node_session;

/// Recent ticks `GET /v1/scripts/{name}/schedules` lists.
const RECENT_TICKS: u64 = 20;

/// `POST /v1/scheduled/{id}` (node, session): how the node's run of a tick ended.
pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(report): JsonBody<ScheduledReport>,
) -> Result<StatusCode, ApiError> {
    let session = node_session(&state, &headers)?;
    let mut tx = state.store.bookkeeping().await?;
    let tick = ticks::tick(&mut tx, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no scheduled tick {id:?}")))?;
    if tick.node.as_deref() != Some(session.node.as_str()) {
        state
            .refused_node_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::forbidden(format!(
            "tick {id} is not assigned to node {}",
            session.node
        )));
    }
    let late_success = tick.state == "pending" && report.outcome == Outcome::Ok;
    if matches!(tick.state.as_str(), "done" | "failed")
        || (tick.state == "pending" && !late_success)
    {
        // Reported already (it finished, or waits for a retry): the first report counts. A
        // success from the node that had a tick taken back (it was late) still finishes it.
        return Ok(StatusCode::NO_CONTENT);
    }
    let retry = report.outcome != Outcome::Ok && !report.no_retry && tick.attempts < MAX_ATTEMPTS;
    let recorded = ticks::report(&mut tx, &tick, report.outcome, retry).await?;
    tx.commit().await?;
    if recorded {
        tracing::info!(tick = %id, script = %tick.script, node = %session.node,
            outcome = report.outcome.as_str(), retry, "cron tick reported");
        if retry {
            state.scheduler_wake.notify_one();
            if let store::Store::Postgres(_) = state.store {
                replica::announce(&state, "scheduled".into());
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One cron trigger of a script, as Cloudflare's API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub cron: String,
    /// When the deployed version that declares it was uploaded (RFC 3339, UTC).
    pub created_on: String,
    /// When the deployment that serves it was made.
    pub modified_on: String,
}

/// A tick of a script's cron triggers, as `GET /v1/scripts/{name}/schedules` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TickStatus {
    pub id: String,
    pub cron: String,
    pub scheduled_time_ms: u64,
    /// `pending`, `assigned`, `done`, `failed` or `missed`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub attempts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// `GET /v1/scripts/{name}/schedules` answer: Cloudflare's `{"schedules": [...]}`, plus
/// Skiff's recent ticks (newest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedules {
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub ticks: Vec<TickStatus>,
}

fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `GET /v1/scripts/{name}/schedules` (admin).
pub async fn schedules(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Schedules>, ApiError> {
    let mut tx = state.store.read().await?;
    store::require_script(&mut tx, &name).await?;
    let deployed = ticks::script_crons(&mut tx, Some(&name)).await?.pop();
    let recent = ticks::recent_ticks(&mut tx, &name, RECENT_TICKS).await?;
    tx.commit().await?;
    let schedules = deployed
        .map(|s| {
            s.crons
                .iter()
                .map(|cron| Schedule {
                    cron: cron.clone(),
                    created_on: rfc3339(s.version_ms),
                    modified_on: rfc3339(s.deployment_ms),
                })
                .collect()
        })
        .unwrap_or_default();
    let ticks = recent
        .into_iter()
        .map(|t| TickStatus {
            id: t.id,
            cron: t.cron,
            scheduled_time_ms: t.scheduled_time_ms,
            state: t.state,
            node: t.node,
            attempts: t.attempts,
            outcome: t.outcome,
        })
        .collect();
    Ok(Json(Schedules { schedules, ticks }))
}
