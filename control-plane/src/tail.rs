//! Live logs: nodes post their tenants' log events (`POST /v1/logs`); `skiff tail` subscribers
//! (`GET /v1/scripts/{name}/tail`) get those of their script. The set of tailed scripts goes
//! to every node over the sync channel, so nodes forward only what someone reads.
//!
//! A log post comes from a node's open sync session (see `sync.rs`), and every event in it
//! names that node and a script that is tailed now; otherwise the whole batch is refused with
//! 403 and counted. A batch holds at most [`MAX_LOG_BATCH`] events (413 above).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use skiff_protocol::TailEvent;
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store;
use crate::sync::{data_frame, event_stream, node_session, ping_frame, ping_ticker, stopped};

/// The most events one `POST /v1/logs` may carry (nodes send at most 100).
pub const MAX_LOG_BATCH: usize = 1000;

pub async fn post_logs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(events): JsonBody<Vec<TailEvent>>,
) -> Result<StatusCode, ApiError> {
    let session = node_session(&state, &headers)?;
    if events.len() > MAX_LOG_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a log batch holds at most {MAX_LOG_BATCH} events"),
        ));
    }
    let refused = {
        let tailed = state.tailed.borrow();
        events.iter().find_map(|event| {
            if event.node != session.node {
                Some(format!(
                    "a log event names node {:?}; node {} may post only its own",
                    event.node, session.node
                ))
            } else if !tailed.contains(&event.script) {
                Some(format!(
                    "a log event names script {:?}, which nobody tails",
                    event.script
                ))
            } else {
                None
            }
        })
    };
    if let Some(message) = refused {
        state
            .refused_log_events
            .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(node = %session.node, %message, "log batch refused");
        return Err(ApiError::forbidden(message));
    }
    crate::replica::publish_logs(&state, events).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tail(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.read().await?;
    store::require_script(&mut tx, &name).await?;
    tx.commit().await?;
    let events = state.tail.subscribe();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run_tail(state, name, events, tx));
    Ok(event_stream(rx))
}

async fn run_tail(
    state: Arc<AppState>,
    script: String,
    mut events: broadcast::Receiver<Arc<TailEvent>>,
    tx: mpsc::Sender<Bytes>,
) {
    let _subscribed = state.tail_subscribed(&script);
    let mut shutdown = state.shutdown.subscribe();
    let mut ping = ping_ticker();
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => break,
            _ = stopped(&mut shutdown) => break,
            event = events.recv() => match event {
                Ok(event) if event.script == script => data_frame(&*event),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Bytes::from(format!(": {missed} events dropped: the subscriber fell behind\n\n"))
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = ping.tick() => ping_frame(),
        };
        if tx.send(frame).await.is_err() {
            break;
        }
    }
}
