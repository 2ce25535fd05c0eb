//! The subscription as metrics, the admin listener's `/sync` and tests see it: the applied and
//! acknowledged revisions, the replica whose stream is open, the last applied revisions with
//! their times, and how many events were refused for going backwards.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};

/// How many applied revisions [`SyncStatus::applied`] keeps.
pub const APPLIED_HISTORY: usize = 1000;

/// A revision the node applied, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRevision {
    pub revision: u64,
    /// Unix time in milliseconds.
    pub at_ms: u64,
}

/// The answer of the admin listener's `GET /sync`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The revision applied and persisted.
    pub revision: u64,
    /// The last revision a control plane accepted an ack for.
    pub acked: u64,
    /// Whether a sync stream is open.
    pub connected: bool,
    /// The replica the stream is open on; `null` while none is.
    pub control: Option<String>,
    /// The last [`APPLIED_HISTORY`] applied revisions, oldest first.
    pub applied: Vec<AppliedRevision>,
}

/// The subscription's state, shared by the sync client and its readers.
#[derive(Debug, Default)]
pub struct SyncStatus {
    pub(super) revision: AtomicU64,
    pub(super) acked: AtomicU64,
    /// The replica whose sync stream is open, if one is.
    control: RwLock<Option<String>>,
    applied: Mutex<VecDeque<AppliedRevision>>,
    refused_backwards: AtomicU64,
}

impl SyncStatus {
    /// The revision the node applied and persisted.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// The last revision the control plane accepted an ack for.
    pub fn acked_revision(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Whether the sync stream is open now.
    pub fn connected(&self) -> bool {
        self.control().is_some()
    }

    /// The URL of the replica whose sync stream is open now.
    pub fn control(&self) -> Option<String> {
        self.control
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last [`APPLIED_HISTORY`] revisions applied, oldest first.
    pub fn applied(&self) -> Vec<AppliedRevision> {
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        applied.iter().copied().collect()
    }

    /// Snapshots and updates refused because their revision was below the applied one.
    pub fn refused_backwards(&self) -> u64 {
        self.refused_backwards.load(Ordering::Relaxed)
    }

    /// Everything above, as `GET /sync` answers it.
    pub fn report(&self) -> SyncReport {
        SyncReport {
            revision: self.revision(),
            acked: self.acked_revision(),
            connected: self.connected(),
            control: self.control(),
            applied: self.applied(),
        }
    }

    /// Records the stream open on `control`, or (with `None`) none open.
    pub(super) fn set_control(&self, control: Option<&str>) {
        *self.control.write().unwrap_or_else(|e| e.into_inner()) = control.map(str::to_string);
    }

    /// Records `revision` as applied at `at_ms`, forgetting the oldest beyond the history's
    /// bound.
    pub(super) fn record_applied(&self, revision: u64, at_ms: u64) {
        self.revision.store(revision, Ordering::Relaxed);
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if applied.len() == APPLIED_HISTORY {
            applied.pop_front();
        }
        applied.push_back(AppliedRevision { revision, at_ms });
    }

    pub(super) fn count_refused_backwards(&self) {
        self.refused_backwards.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_keeps_the_last_applied_revisions_oldest_first() {
        let status = SyncStatus::default();
        for revision in 1..=APPLIED_HISTORY as u64 + 5 {
            status.record_applied(revision, 1000 + revision);
        }
        let applied = status.applied();
        assert_eq!(applied.len(), APPLIED_HISTORY);
        assert_eq!(
            applied[0],
            AppliedRevision {
                revision: 6,
                at_ms: 1006
            }
        );
        assert_eq!(
            applied.last().map(|a| a.revision),
            Some(APPLIED_HISTORY as u64 + 5)
        );
        assert_eq!(status.revision(), APPLIED_HISTORY as u64 + 5);
    }

    #[test]
    fn the_report_names_the_open_replica_or_null() {
        let status = SyncStatus::default();
        status.record_applied(7, 42);
        status.acked.store(7, Ordering::Relaxed);
        let closed = serde_json::to_value(status.report()).expect("serialises");
        assert_eq!(
            closed,
            serde_json::json!({
                "revision": 7, "acked": 7, "connected": false, "control": null,
                "applied": [{"revision": 7, "at_ms": 42}],
            })
        );
        status.set_control(Some("http://127.0.0.1:8700"));
        let open = status.report();
        assert!(open.connected);
        assert_eq!(open.control.as_deref(), Some("http://127.0.0.1:8700"));
        status.set_control(None);
        assert!(!status.connected());
    }
}
