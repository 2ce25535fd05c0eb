//! Live logs: nodes post their tenants' log events (`POST /v1/logs`); `skiff tail` subscribers
//! (`GET /v1/scripts/{name}/tail`) get those of their script. The set of tailed scripts goes
//! to every node over the sync channel, so nodes forward only what someone reads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use skiff_protocol::TailEvent;
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store;
use crate::sync::{data_frame, event_stream, ping_frame, ping_ticker, stopped};

pub async fn post_logs(
    State(state): State<Arc<AppState>>,
    JsonBody(events): JsonBody<Vec<TailEvent>>,
) -> StatusCode {
    for event in events {
        // No subscriber is not an error: the events are simply not wanted.
        let _ = state.tail.send(Arc::new(event));
    }
    StatusCode::NO_CONTENT
}

pub async fn tail(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = name.clone();
    state
        .store
        .call(move |conn| store::require_script(conn, &lookup))
        .await?;
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
