//! The node side: the sync channel (server-sent events), bundles by hash, acks, and the
//! admin view of the nodes (`GET /v1/nodes`, with its long poll on acks).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use skiff_protocol::{Ack, NODE_ID_HEADER, NodeList, SyncEvent};
use tokio::sync::{mpsc, watch};

use crate::error::{ApiError, StoreError};
use crate::extract::{JsonBody, QueryArgs};
use crate::state::AppState;
use crate::store;

/// How often an idle event stream gets a `: ping` comment.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// The longest a `GET /v1/nodes` long poll waits, whatever `timeout_ms` asks for.
const MAX_NODES_WAIT: Duration = Duration::from_secs(300);

/// A `text/event-stream` response whose frames come from `rx`; it ends when the sender is
/// dropped, and the sender sees `closed()` when the client goes away.
pub fn event_stream(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    });
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One `data:` frame carrying `value` as JSON.
pub fn data_frame<T: Serialize>(value: &T) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_default();
    Bytes::from(format!("data: {json}\n\n"))
}

/// Resolves once the control plane is shutting down.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

pub fn ping_frame() -> Bytes {
    Bytes::from_static(b": ping\n\n")
}

/// A ticker whose first tick is one period from now.
pub fn ping_ticker() -> tokio::time::Interval {
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

#[derive(Debug, Deserialize)]
pub struct SyncQuery {
    #[serde(default)]
    since: u64,
}

pub async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryArgs(query): QueryArgs<SyncQuery>,
) -> Result<Response, ApiError> {
    let node = headers
        .get(NODE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .ok_or_else(|| {
            ApiError::bad_request(format!("name the node in the {NODE_ID_HEADER} header"))
        })?
        .to_string();
    {
        let node = node.clone();
        state
            .store
            .call(move |conn| store::node_seen(conn, &node))
            .await?;
    }
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run_sync(state, node, query.since, tx));
    Ok(event_stream(rx))
}

/// The first event for a node that applied `since`: a snapshot, the changes since, or none.
fn first_event(
    conn: &rusqlite::Connection,
    since: u64,
) -> Result<(u64, Option<SyncEvent>), StoreError> {
    let current = store::current_revision(conn)?;
    if since == 0 || since > current {
        let (revision, scripts) = store::snapshot(conn)?;
        return Ok((revision, Some(SyncEvent::Snapshot { revision, scripts })));
    }
    update_since(conn, since)
}

/// An update with every script changed after `since`, or none when nothing changed.
fn update_since(
    conn: &rusqlite::Connection,
    since: u64,
) -> Result<(u64, Option<SyncEvent>), StoreError> {
    let (revision, changes) = store::changes(conn, since)?;
    if changes.is_empty() || revision <= since {
        return Ok((revision.max(since), None));
    }
    Ok((revision, Some(SyncEvent::Update { revision, changes })))
}

/// Feeds one node's sync stream until the node goes away or the control plane stops.
async fn run_sync(state: Arc<AppState>, node: String, since: u64, tx: mpsc::Sender<Bytes>) {
    let _connected = state.node_connected(&node);
    tracing::info!(node = %node, since, "node subscribed");
    let mut revisions = state.revision.subscribe();
    let mut tailed = state.tailed.subscribe();
    let mut shutdown = state.shutdown.subscribe();
    revisions.borrow_and_update();
    let tail_now = tailed.borrow_and_update().clone();

    let first = state.store.call(move |conn| first_event(conn, since)).await;
    let mut sent = match first {
        Ok((revision, event)) => {
            if let Some(event) = event
                && tx.send(data_frame(&event)).await.is_err()
            {
                return;
            }
            revision
        }
        Err(err) => {
            tracing::error!(node = %node, error = %err, "sync stream failed");
            return;
        }
    };
    if !tail_now.is_empty()
        && tx
            .send(data_frame(&SyncEvent::Tail { scripts: tail_now }))
            .await
            .is_err()
    {
        return;
    }

    let mut ping = ping_ticker();
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => break,
            _ = stopped(&mut shutdown) => break,
            changed = revisions.changed() => {
                if changed.is_err() {
                    break;
                }
                if *revisions.borrow_and_update() <= sent {
                    continue;
                }
                // Everything committed since the last event, however many revisions that is.
                let after = sent;
                match state.store.call(move |conn| update_since(conn, after)).await {
                    Ok((revision, event)) => {
                        sent = revision;
                        match event {
                            Some(event) => data_frame(&event),
                            None => continue,
                        }
                    }
                    Err(err) => {
                        tracing::error!(node = %node, error = %err, "sync stream failed");
                        break;
                    }
                }
            }
            changed = tailed.changed() => {
                if changed.is_err() {
                    break;
                }
                let scripts = tailed.borrow_and_update().clone();
                data_frame(&SyncEvent::Tail { scripts })
            }
            _ = ping.tick() => ping_frame(),
        };
        if tx.send(frame).await.is_err() {
            break;
        }
    }
    tracing::info!(node = %node, "node unsubscribed");
}

pub async fn get_bundle(
    State(state): State<Arc<AppState>>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = hash.clone();
    let bytes = state
        .store
        .call(move |conn| store::bundle(conn, &lookup))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no bundle {hash}")))?;
    Ok(([(CONTENT_TYPE, "application/json")], bytes).into_response())
}

pub async fn ack(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
    JsonBody(ack): JsonBody<Ack>,
) -> Result<StatusCode, ApiError> {
    let id = node.clone();
    state
        .store
        .call(move |conn| store::node_ack(conn, &id, ack.revision))
        .await?;
    tracing::debug!(node = %node, revision = ack.revision, "node acknowledged");
    state.node_event();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct NodesQuery {
    revision: Option<u64>,
    #[serde(default)]
    timeout_ms: u64,
}

async fn node_list(state: &AppState) -> Result<NodeList, ApiError> {
    let connected = state.connected_nodes();
    let (revision, mut nodes) = state
        .store
        .call(|conn| Ok((store::current_revision(conn)?, store::nodes(conn)?)))
        .await?;
    for node in &mut nodes {
        node.connected = connected.contains(&node.id);
    }
    Ok(NodeList { revision, nodes })
}

pub async fn list_nodes(
    State(state): State<Arc<AppState>>,
    QueryArgs(query): QueryArgs<NodesQuery>,
) -> Result<Json<NodeList>, ApiError> {
    let mut events = state.node_events.subscribe();
    let mut shutdown = state.shutdown.subscribe();
    let Some(wanted) = query.revision else {
        return Ok(Json(node_list(&state).await?));
    };
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(query.timeout_ms).min(MAX_NODES_WAIT);
    loop {
        events.borrow_and_update();
        let list = node_list(&state).await?;
        let caught_up = list
            .nodes
            .iter()
            .filter(|n| n.connected)
            .all(|n| n.revision >= wanted);
        if caught_up {
            return Ok(Json(list));
        }
        tokio::select! {
            changed = events.changed() => {
                if changed.is_err() {
                    return Ok(Json(list));
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(Json(node_list(&state).await?)),
            _ = stopped(&mut shutdown) => return Ok(Json(list)),
        }
    }
}
