//! Log events of tailed scripts, queued by the node's log hook and posted to the control plane
//! in batches.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use skiff_protocol::TailEvent;
use skiff_runtime::LogEvent;
use tokio::sync::mpsc;

use super::client::ControlPlane;
use crate::registry::LogHook;

/// Queued events (beyond them, events are dropped), batch size and period.
const TAIL_QUEUE: usize = 4096;
const TAIL_BATCH: usize = 100;
const TAIL_PERIOD: Duration = Duration::from_millis(100);

/// The scripts whose log events go to the control plane.
#[derive(Default)]
pub(crate) struct TailSet {
    scripts: RwLock<HashSet<String>>,
    /// Whether `scripts` is non-empty: the log hook's fast path.
    any: AtomicBool,
}

impl TailSet {
    pub(super) fn set(&self, scripts: impl IntoIterator<Item = String>) {
        let mut tailed = self.scripts.write().unwrap_or_else(|e| e.into_inner());
        *tailed = scripts.into_iter().collect();
        self.any.store(!tailed.is_empty(), Ordering::Relaxed);
    }

    fn contains(&self, script: &str) -> bool {
        self.any.load(Ordering::Relaxed)
            && self
                .scripts
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(script)
    }
}

/// Wraps the node's log hook: events of tailed scripts are also queued for the control plane
/// (dropped when the queue is full, so an isolate's thread never waits on the network).
pub(crate) fn tail_hook(
    inner: LogHook,
    tailed: Arc<TailSet>,
    node: String,
) -> (LogHook, mpsc::Receiver<TailEvent>) {
    let (queue, events) = mpsc::channel(TAIL_QUEUE);
    let hook: LogHook = Arc::new(move |event: LogEvent| {
        if tailed.contains(&event.script) {
            let _ = queue.try_send(TailEvent {
                script: event.script.clone(),
                version: event.version.clone(),
                node: node.clone(),
                level: event.level.as_str().to_string(),
                time_ms: event.time_ms,
                message: event.message.clone(),
            });
        }
        inner(event);
    });
    (hook, events)
}

/// Posts queued tail events in batches of up to [`TAIL_BATCH`], at most every
/// [`TAIL_PERIOD`]. A failed post drops its batch.
pub(super) async fn forward_logs(control: ControlPlane, mut events: mpsc::Receiver<TailEvent>) {
    let mut batch = Vec::with_capacity(TAIL_BATCH);
    while let Some(first) = events.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + TAIL_PERIOD;
        while batch.len() < TAIL_BATCH {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(err) = control.post_logs(&batch).await {
            tracing::debug!(%err, events = batch.len(), "tail events dropped");
        }
        batch.clear();
    }
}
