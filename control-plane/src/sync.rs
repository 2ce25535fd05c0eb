//! The node side: the sync channel (server-sent events, which also carry the cron ticks the
//! scheduler gives the node), bundles by hash, acks, and the admin view of the nodes
//! (`GET /v1/nodes`, with its long poll on acks).
//!
//! A node's identity is the session its sync stream opened: `GET /v1/sync` answers with an
//! `x-skiff-session` header, and the node's bundle fetches, acks and log posts carry it with
//! their `x-skiff-node`. A request naming no open session of that node is refused (403), an
//! ack may name only a revision the session was sent (409 above it), and the store keeps at
//! most `max_nodes` node rows (409 for a new node past it).

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
use skiff_protocol::{
    Ack, EnrollRequest, Enrollment, NODE_ID_HEADER, NodeList, SESSION_HEADER, SyncEvent,
    ZONE_HEADER,
};
use tokio::sync::{mpsc, watch};

use crate::auth::Tokens;
use crate::error::{ApiError, StoreError};
use crate::extract::{JsonBody, QueryArgs};
use crate::replica::{self, REPLICA_GONE};
use crate::state::{AppState, Session, SessionGuard};
use crate::store::{self, Tx};
use crate::validate::validate_node_id;

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
        .ok_or_else(|| {
            ApiError::bad_request(format!("name the node in the {NODE_ID_HEADER} header"))
        })?
        .to_string();
    validate_node_id(&node)?;
    let zone = headers
        .get(ZONE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|zone| !zone.is_empty() && zone.len() <= 253)
        .map(str::to_string);
    let current = {
        let mut tx = state.store.bookkeeping().await?;
        let max_nodes = state.config.max_nodes;
        let replica = &state.replica.id;
        store::nodes::node_connected(&mut tx, &node, zone.as_deref(), replica, max_nodes).await?;
        let current = store::current_revision(&mut tx).await?;
        tx.commit().await?;
        current
    };
    replica::announce(&state, "nodes".into());
    // The node may acknowledge what it says it has, if the control plane issued it.
    let acknowledgeable = if query.since <= current {
        query.since
    } else {
        0
    };
    let session = state.open_session(&node, acknowledgeable);
    let session_id = session.session.id.clone();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run_sync(state, session, query.since, tx));
    let mut response = event_stream(rx);
    if let Ok(value) = session_id.parse() {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    Ok(response)
}

/// The open sync session a node request names in its `x-skiff-node` and `x-skiff-session`
/// headers; 403 when there is none.
pub fn node_session(state: &AppState, headers: &HeaderMap) -> Result<Arc<Session>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let session = match (header(NODE_ID_HEADER), header(SESSION_HEADER)) {
        (Some(node), Some(id)) => state.session(id, node),
        _ => None,
    };
    session.ok_or_else(|| {
        state
            .refused_node_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ApiError::forbidden(format!(
            "no open sync session: a node request carries the {NODE_ID_HEADER} and \
             {SESSION_HEADER} of its open GET /v1/sync stream"
        ))
    })
}

/// The first event for a node that applied `since`: a snapshot, the changes since, or none.
async fn first_event(tx: &mut Tx, since: u64) -> Result<(u64, Option<SyncEvent>), StoreError> {
    let current = store::current_revision(tx).await?;
    if since == 0 || since > current {
        let (revision, scripts) = store::snapshot(tx).await?;
        let kv = crate::kv_store::live_entries(tx).await?;
        return Ok((
            revision,
            Some(SyncEvent::Snapshot {
                revision,
                scripts,
                kv,
            }),
        ));
    }
    update_since(tx, since).await
}

/// An update with every script changed after `since`, or none when nothing changed.
async fn update_since(tx: &mut Tx, since: u64) -> Result<(u64, Option<SyncEvent>), StoreError> {
    let (revision, changes) = store::changes(tx, since).await?;
    let kv = crate::kv_store::changes_since(tx, since).await?;
    if (changes.is_empty() && kv.is_empty()) || revision <= since {
        return Ok((revision.max(since), None));
    }
    Ok((
        revision,
        Some(SyncEvent::Update {
            revision,
            changes,
            kv,
        }),
    ))
}

/// Runs `f` in a read transaction.
async fn read<T>(
    state: &AppState,
    f: impl AsyncFnOnce(&mut Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = state.store.read().await?;
    let value = f(&mut tx).await?;
    tx.commit().await?;
    Ok(value)
}

/// The update frame for streams at `after`, read once for all of them: when a change
/// commits, every stream wakes at the same revision, and the first to ask reads and encodes
/// the update while the others wait for it. An entry is the whole update from `after` to the
/// revision it names; it is used only while that revision is the latest this replica knows
/// of, since a stream has marked every revision up to the latest as seen before it asks (an
/// older entry would leave it waiting for the next change with one already committed).
async fn shared_update(state: &AppState, after: u64) -> Result<(u64, Option<Bytes>), StoreError> {
    let latest = *state.revision.borrow();
    let mut updates = state.updates.lock().await;
    if let Some(update) = updates.get(&after)
        && update.0 >= latest
    {
        return Ok(update.clone());
    }
    let (revision, event) = read(state, async |tx| update_since(tx, after).await).await?;
    let update = (revision, event.as_ref().map(data_frame));
    if updates.len() >= 16 {
        updates.clear();
    }
    updates.insert(after, update.clone());
    Ok(update)
}

/// The revision an event carries, which its session may then acknowledge.
fn event_revision(event: &SyncEvent) -> Option<u64> {
    match event {
        SyncEvent::Snapshot { revision, .. } | SyncEvent::Update { revision, .. } => {
            Some(*revision)
        }
        _ => None,
    }
}

/// Feeds one node's sync stream until the node goes away or the control plane stops.
async fn run_sync(
    state: Arc<AppState>,
    mut guard: SessionGuard,
    since: u64,
    tx: mpsc::Sender<Bytes>,
) {
    let session = guard.session.clone();
    let mut scheduled = guard.scheduled();
    let node = session.node.clone();
    tracing::info!(node = %node, since, "node subscribed");
    let mut revisions = state.revision.subscribe();
    let mut tailed = state.tailed.subscribe();
    let mut shutdown = state.shutdown.subscribe();
    revisions.borrow_and_update();
    let tail_now = tailed.borrow_and_update().clone();

    let first = read(&state, async |tx| first_event(tx, since).await).await;
    let mut sent = match first {
        Ok((revision, event)) => {
            if let Some(event) = event {
                if let Some(revision) = event_revision(&event) {
                    session.sending(revision);
                }
                if tx.send(data_frame(&event)).await.is_err() {
                    return;
                }
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
                match shared_update(&state, after).await {
                    Ok((revision, frame)) => {
                        sent = revision;
                        match frame {
                            Some(frame) => {
                                session.sending(revision);
                                frame
                            }
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
            tick = scheduled.recv() => match tick {
                Some(tick) => data_frame(&SyncEvent::Scheduled(tick)),
                // The session holds the sender as long as this loop runs.
                None => break,
            },
            _ = ping.tick() => ping_frame(),
        };
        if tx.send(frame).await.is_err() {
            break;
        }
    }
    drop(guard);
    tracing::info!(node = %node, "node unsubscribed");
}

/// `POST /v1/nodes/enroll`: a new node, by the shared node token, gets its own credential.
pub async fn enroll(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<EnrollRequest>,
) -> Result<(StatusCode, Json<Enrollment>), ApiError> {
    let node = request.node;
    validate_node_id(&node)?;
    let credential = Tokens::new_credential().map_err(|err| {
        tracing::error!(%err, "no system randomness for a node credential");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a credential",
        )
    })?;
    let hash = Tokens::credential_hash(&credential);
    let mut tx = state.store.bookkeeping().await?;
    store::nodes::enroll_node(&mut tx, &node, &hash, state.config.max_nodes).await?;
    tx.commit().await?;
    state.tokens.admit(hash, &node);
    tracing::info!(node = %node, "node enrolled");
    Ok((StatusCode::CREATED, Json(Enrollment { node, credential })))
}

pub async fn get_bundle(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    node_session(&state, &headers)?;
    let mut tx = state.store.read().await?;
    let bytes = store::bundle(&mut tx, &hash).await?;
    tx.commit().await?;
    let bytes = bytes.ok_or_else(|| ApiError::not_found(format!("no bundle {hash}")))?;
    Ok(([(CONTENT_TYPE, "application/json")], bytes).into_response())
}

pub async fn ack(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(node): Path<String>,
    JsonBody(ack): JsonBody<Ack>,
) -> Result<StatusCode, ApiError> {
    let session = node_session(&state, &headers)?;
    if session.node != node {
        state
            .refused_node_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::forbidden(format!(
            "node {} may acknowledge only for itself",
            session.node
        )));
    }
    let mut current = *state.revision.borrow();
    if ack.revision > current {
        // Another replica may have committed it a moment ago.
        let mut tx = state.store.read().await?;
        current = store::current_revision(&mut tx).await?;
        tx.commit().await?;
    }
    if ack.revision > current {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "revision {} was never issued (the latest is {current})",
                ack.revision
            ),
        ));
    }
    if ack.revision > session.sent() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "revision {} was not sent to this node (its sync stream is at {})",
                ack.revision,
                session.sent()
            ),
        ));
    }
    state.acks.record(&node, ack.revision).await?;
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
    let liveness = store::nodes::Liveness {
        node_ttl_ms: state.config.node_ttl.as_millis() as u64,
        replica_gone_ms: REPLICA_GONE.as_millis() as u64,
    };
    let mut tx = state.store.read().await?;
    let revision = store::current_revision(&mut tx).await?;
    let mut nodes = store::nodes::nodes(&mut tx, liveness).await?;
    tx.commit().await?;
    // This replica knows its own streams best (its heartbeat may not have run yet).
    let here = state.connected_nodes();
    for node in &mut nodes {
        if here.contains(&node.id) {
            node.connected = true;
            node.replica = Some(state.replica.url.clone());
        }
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

/// `DELETE /v1/nodes/{id}` (admin): forgets a node's row (it comes back if the node syncs
/// again).
pub async fn delete_node(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.bookkeeping().await?;
    let deleted = store::nodes::delete_node(&mut tx, &node).await?;
    tx.commit().await?;
    state.tokens.revoke(&node);
    replica::announce(&state, format!("revoke:{node}"));
    if !deleted {
        return Err(ApiError::not_found(format!("no node {node:?}")));
    }
    state.node_event();
    replica::announce(&state, "nodes".into());
    Ok(StatusCode::NO_CONTENT)
}
