//! Ships the node's usage aggregates (`usage.rs`) to the control plane (`POST /v1/usage`)
//! every [`super::SyncConfig::usage_period`].
//!
//! Each period's aggregates become one batch with an id of its own (this process's id and a
//! sequence number), kept until the control plane has taken it: a post that fails is sent
//! again, with the same id, at the next period, and the control plane stores a batch once
//! however often it arrives. The node keeps at most [`MAX_PENDING_AGGREGATES`]; past that the
//! oldest batches are dropped and counted (`skiff_usage_dropped_total`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use skiff_protocol::usage::UsageBatch;
use tokio::sync::watch;

use super::client::ControlPlane;
use crate::usage::Usage;

/// Aggregates the node buffers while the control plane cannot take them (about 16 MB).
pub(crate) const MAX_PENDING_AGGREGATES: usize = 20_000;
/// Aggregates per posted batch, as the control plane takes them.
const MAX_BATCH: usize = 1_000;
/// How long shutdown waits to ship what is left.
const FINAL_SHIP: Duration = Duration::from_secs(2);

pub(super) struct Shipper {
    control: ControlPlane,
    usage: Arc<Usage>,
    /// Unique to this process: batch ids are `BOOT-SEQ`.
    boot: String,
    next: u64,
    pending: VecDeque<UsageBatch>,
}

impl Shipper {
    pub(super) fn new(control: ControlPlane, usage: Arc<Usage>, node: &str) -> Self {
        let boot = format!("{node}-{:016x}", fastrand::u64(..));
        Self {
            control,
            usage,
            boot,
            next: 0,
            pending: VecDeque::new(),
        }
    }

    /// Takes what was metered since the last call into batches, then drops the oldest beyond
    /// the buffer.
    fn batch(&mut self) {
        let aggregates = self.usage.take();
        for chunk in aggregates.chunks(MAX_BATCH) {
            self.next += 1;
            self.pending.push_back(UsageBatch {
                id: format!("{}-{}", self.boot, self.next),
                aggregates: chunk.to_vec(),
            });
        }
        let mut held: usize = self.pending.iter().map(|b| b.aggregates.len()).sum();
        while held > MAX_PENDING_AGGREGATES
            && let Some(oldest) = self.pending.pop_front()
        {
            held -= oldest.aggregates.len();
            self.usage.count_dropped(oldest.aggregates.len() as u64);
            tracing::warn!(
                batch = %oldest.id,
                aggregates = oldest.aggregates.len(),
                "usage dropped: the control plane has not taken it for too long"
            );
        }
        self.usage.set_pending(self.pending.len());
    }

    /// Posts the pending batches in order, stopping at the first that fails.
    async fn ship(&mut self) {
        while let Some(batch) = self.pending.front() {
            match self.control.post_usage(batch).await {
                Ok(()) => {
                    self.pending.pop_front();
                }
                Err(err) => {
                    tracing::debug!(%err, pending = self.pending.len(), "usage not shipped yet");
                    break;
                }
            }
        }
        self.usage.set_pending(self.pending.len());
    }

    /// Ships every `period` until `stop` flips, then once more (briefly).
    pub(super) async fn run(mut self, period: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
            self.batch();
            self.ship().await;
        }
        self.batch();
        let _ = tokio::time::timeout(FINAL_SHIP, self.ship()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::SyncConfig;
    use crate::usage::{Invocation, Trigger};
    use skiff_protocol::usage::Outcome;

    /// `count` invocations of as many scripts: `count` aggregates.
    fn record_scripts(usage: &Usage, count: usize) {
        for i in 0..count {
            usage.record(Invocation {
                script: format!("s{i}"),
                version: "v".into(),
                trigger: Trigger::Fetch,
                outcome: Outcome::Ok,
                cpu: Duration::from_millis(1),
                wall: Duration::from_millis(1),
                request_bytes: 0,
                response_bytes: 0,
                subrequests: 0,
                status: Some(200),
                time_ms: 60_000,
            });
        }
    }

    #[tokio::test]
    async fn unshipped_usage_is_kept_under_its_id_up_to_the_bound_then_dropped_and_counted() {
        // A control plane that is not there: a port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", closed.local_addr().expect("address"));
        drop(closed);
        let data = tempfile::tempdir().expect("tempdir");
        let config = SyncConfig::new(url, "token", data.path()).expect("config");
        let usage = Arc::new(Usage::new(true));
        let mut shipper = Shipper::new(
            ControlPlane::new(&config).expect("client"),
            usage.clone(),
            "n",
        );

        let periods = MAX_PENDING_AGGREGATES / MAX_BATCH;
        for _ in 0..periods {
            record_scripts(&usage, MAX_BATCH);
            shipper.batch();
            shipper.ship().await;
        }
        assert_eq!(
            shipper.pending.len(),
            periods,
            "all kept while within the bound"
        );
        assert_eq!(usage.dropped(), 0);
        let first = shipper.pending[0].id.clone();
        assert!(first.ends_with("-1"), "{first}");

        // One period more: the oldest batch goes, counted; the rest keep their ids.
        record_scripts(&usage, MAX_BATCH);
        shipper.batch();
        shipper.ship().await;
        assert_eq!(shipper.pending.len(), periods);
        assert_eq!(usage.dropped(), MAX_BATCH as u64);
        assert!(shipper.pending[0].id.ends_with("-2"));
        let mut page = String::new();
        usage.render(&mut page);
        assert!(
            page.contains(&format!("skiff_usage_dropped_total {MAX_BATCH}")),
            "{page}"
        );
        assert!(
            page.contains(&format!("skiff_usage_pending_batches {periods}")),
            "{page}"
        );
    }
}
