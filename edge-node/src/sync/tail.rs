//! Log events of tailed scripts, queued by the node's log hook and posted to the control plane
//! in batches.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use skiff_protocol::usage::Outcome;
use skiff_protocol::{InvocationSummary, TailEvent};
use skiff_runtime::LogEvent;
use tokio::sync::mpsc;

use super::client::ControlPlane;
use crate::registry::LogHook;
use crate::usage::{Invocation, Usage};

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
/// (dropped when the queue is full, so an isolate's thread never waits on the network), and
/// so is the end of each of their invocations, with its outcome and CPU time.
pub(crate) fn tail_hook(
    inner: LogHook,
    tailed: Arc<TailSet>,
    node: String,
    usage: &Usage,
) -> (LogHook, mpsc::Receiver<TailEvent>) {
    let (queue, events) = mpsc::channel(TAIL_QUEUE);
    let invocations = queue.clone();
    let (tailed_too, node_too) = (tailed.clone(), node.clone());
    usage.set_hook(Arc::new(move |invocation: &Invocation| {
        if tailed_too.contains(&invocation.script) {
            let _ = invocations.try_send(invocation_event(invocation, &node_too));
        }
    }));
    let hook: LogHook = Arc::new(move |event: LogEvent| {
        if tailed.contains(&event.script) {
            let _ = queue.try_send(TailEvent {
                script: event.script.clone(),
                version: event.version.clone(),
                node: node.clone(),
                level: event.level.as_str().to_string(),
                time_ms: event.time_ms,
                message: event.message.clone(),
                invocation: None,
            });
        }
        inner(event);
    });
    (hook, events)
}

/// The tail event that ends an invocation: `fetch 200 ok (cpu 1.2 ms, wall 3.4 ms)`.
fn invocation_event(invocation: &Invocation, node: &str) -> TailEvent {
    let cpu_ms = invocation.cpu.as_secs_f64() * 1e3;
    let wall_ms = invocation.wall.as_secs_f64() * 1e3;
    let status = invocation
        .status
        .map(|status| format!(" {status}"))
        .unwrap_or_default();
    let ok = invocation.outcome == Outcome::Ok;
    TailEvent {
        script: invocation.script.clone(),
        version: invocation.version.clone(),
        node: node.to_string(),
        level: if ok { "log" } else { "error" }.to_string(),
        time_ms: invocation.time_ms,
        message: format!(
            "{}{status} {} (cpu {cpu_ms:.1} ms, wall {wall_ms:.1} ms)",
            invocation.trigger.as_str(),
            invocation.outcome.as_str()
        ),
        invocation: Some(InvocationSummary {
            event: invocation.trigger.as_str().to_string(),
            outcome: invocation.outcome,
            cpu_ms,
            wall_ms,
            status: invocation.status,
        }),
    }
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
