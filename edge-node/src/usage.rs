//! Usage metering: every invocation (a request, a cron tick) ends as one [`Invocation`], which
//! goes to the node's Prometheus counters, to `skiff tail` when its script is tailed, and, on
//! a node that syncs, into per-script, per-minute [`UsageAggregate`]s that `sync/usage.rs`
//! ships to the control plane.
//!
//! The isolate fills in what only it knows (CPU time on the isolate thread's CPU clock, the
//! one its CPU limit uses; subrequests; whether the handler threw; whether a limit stopped
//! it) through a [`Meter`]; the node adds what only it knows (body bytes, status, whether the
//! client went away). Each side holds a clone of the meter until it is done, and the last one
//! dropped ends the invocation (see [`Usage::meter`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use skiff_protocol::usage::{Outcome, UsageAggregate};
use skiff_runtime::{Meter, MeterReading, MeterStop};

/// What started an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Fetch,
    Scheduled,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Fetch => "fetch",
            Trigger::Scheduled => "scheduled",
        }
    }
}

/// One finished invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub script: String,
    pub version: String,
    pub trigger: Trigger,
    pub outcome: Outcome,
    pub cpu: Duration,
    pub wall: Duration,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub subrequests: u32,
    /// The response status of a fetch that got one.
    pub status: Option<u16>,
    /// When it ended, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

impl Invocation {
    fn from_reading(script: &str, version: &str, trigger: Trigger, reading: &MeterReading) -> Self {
        let outcome = match reading.stopped_by {
            Some(MeterStop::Cpu) => Outcome::ExceededCpu,
            Some(MeterStop::Memory) => Outcome::ExceededMemory,
            None if reading.exception => Outcome::Exception,
            None if reading.canceled => Outcome::Canceled,
            None => Outcome::Ok,
        };
        Self {
            script: script.to_string(),
            version: version.to_string(),
            trigger,
            outcome,
            cpu: reading.cpu,
            wall: reading.started.elapsed(),
            request_bytes: reading.request_bytes,
            response_bytes: reading.response_bytes,
            subrequests: reading.subrequests,
            status: reading.status,
            time_ms: now_ms(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Called with every finished invocation (the tail forwarder).
pub(crate) type InvocationHook = Arc<dyn Fn(&Invocation) + Send + Sync>;

/// A node's Prometheus counters for one script.
#[derive(Default)]
struct ScriptCounters {
    outcomes: [u64; Outcome::ALL.len()],
    scheduled: u64,
    cpu_us: u64,
}

/// The node's usage meter.
pub struct Usage {
    /// Aggregates not yet taken for shipping; only kept on a node that ships them.
    aggregates: Option<Mutex<HashMap<(String, u64), UsageAggregate>>>,
    counters: Mutex<BTreeMap<String, ScriptCounters>>,
    hook: RwLock<Option<InvocationHook>>,
    /// Aggregates dropped because the control plane stayed unreachable past the buffer.
    dropped: AtomicU64,
    /// Batches waiting to be shipped.
    pending: AtomicU64,
}

/// The node's hold on a metered invocation: dropping it ends the node's part. A request that
/// never reached its isolate (refused, or the isolate was gone) is [`MeterGuard::discard`]ed
/// and counts nowhere.
pub(crate) struct MeterGuard {
    meter: Meter,
    discarded: Arc<AtomicBool>,
}

impl MeterGuard {
    pub(crate) fn meter(&self) -> &Meter {
        &self.meter
    }

    pub(crate) fn discard(&self) {
        self.discarded.store(true, Ordering::Relaxed);
    }
}

impl Default for Usage {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Usage {
    /// `ship`: keep aggregates for the control plane (a node that syncs).
    pub fn new(ship: bool) -> Self {
        Self {
            aggregates: ship.then(Default::default),
            counters: Mutex::default(),
            hook: RwLock::default(),
            dropped: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// A meter for one invocation of `script` at `version`; the invocation is recorded when
    /// the guard and every clone of its meter (the isolate's) are gone.
    pub(crate) fn meter(
        self: &Arc<Self>,
        script: &str,
        version: &str,
        trigger: Trigger,
    ) -> MeterGuard {
        let usage = Arc::downgrade(self);
        let discarded = Arc::new(AtomicBool::new(false));
        let skip = discarded.clone();
        let (script, version) = (script.to_string(), version.to_string());
        let meter = Meter::new(move |reading: &MeterReading| {
            if skip.load(Ordering::Relaxed) {
                return;
            }
            if let Some(usage) = usage.upgrade() {
                usage.record(Invocation::from_reading(
                    &script, &version, trigger, reading,
                ));
            }
        });
        MeterGuard { meter, discarded }
    }

    pub(crate) fn set_hook(&self, hook: InvocationHook) {
        *self.hook.write().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Counts one finished invocation everywhere it goes.
    pub fn record(&self, invocation: Invocation) {
        let cpu_us = invocation.cpu.as_micros() as u64;
        {
            let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            let counters = match counters.get_mut(&invocation.script) {
                Some(counters) => counters,
                None => counters.entry(invocation.script.clone()).or_default(),
            };
            counters.outcomes[outcome_index(invocation.outcome)] += 1;
            counters.cpu_us += cpu_us;
            counters.scheduled += u64::from(invocation.trigger == Trigger::Scheduled);
        }
        if let Some(aggregates) = &self.aggregates {
            let minute_ms = invocation.time_ms - invocation.time_ms % 60_000;
            let mut aggregates = aggregates.lock().unwrap_or_else(|e| e.into_inner());
            let aggregate = aggregates
                .entry((invocation.script.clone(), minute_ms))
                .or_insert_with(|| UsageAggregate {
                    script: invocation.script.clone(),
                    minute_ms,
                    ..UsageAggregate::default()
                });
            *aggregate.outcomes.entry(invocation.outcome).or_default() += 1;
            aggregate.scheduled += u64::from(invocation.trigger == Trigger::Scheduled);
            aggregate.cpu_us += cpu_us;
            aggregate.wall_us += invocation.wall.as_micros() as u64;
            aggregate.request_bytes += invocation.request_bytes;
            aggregate.response_bytes += invocation.response_bytes;
            aggregate.subrequests += u64::from(invocation.subrequests);
            aggregate.cpu_histogram.record(cpu_us);
        }
        let hook = self.hook.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(hook) = hook {
            hook(&invocation);
        }
    }

    /// Takes every aggregate recorded since the last call.
    pub(crate) fn take(&self) -> Vec<UsageAggregate> {
        let Some(aggregates) = &self.aggregates else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut *aggregates.lock().unwrap_or_else(|e| e.into_inner()));
        let mut taken: Vec<UsageAggregate> = taken.into_values().collect();
        taken.sort_by(|a, b| (a.minute_ms, &a.script).cmp(&(b.minute_ms, &b.script)));
        taken
    }

    pub(crate) fn count_dropped(&self, aggregates: u64) {
        self.dropped.fetch_add(aggregates, Ordering::Relaxed);
    }

    pub(crate) fn set_pending(&self, batches: usize) {
        self.pending.store(batches as u64, Ordering::Relaxed);
    }

    /// Aggregates dropped because the control plane stayed unreachable past the buffer.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The Prometheus counters: invocations by script and outcome, CPU seconds by script.
    pub(crate) fn render(&self, out: &mut String) {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP skiff_invocations_total Invocations (requests and cron ticks) that reached a script, by how they ended (Cloudflare's outcome names).\n# TYPE skiff_invocations_total counter"
        );
        for (script, counters) in counters.iter() {
            for (i, outcome) in Outcome::ALL.iter().enumerate() {
                if counters.outcomes[i] > 0 {
                    let _ = writeln!(
                        out,
                        "skiff_invocations_total{{script=\"{script}\",outcome=\"{}\"}} {}",
                        outcome.as_str(),
                        counters.outcomes[i]
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP skiff_scheduled_invocations_total Cron ticks run, by script.\n# TYPE skiff_scheduled_invocations_total counter"
        );
        for (script, counters) in counters.iter().filter(|(_, c)| c.scheduled > 0) {
            let _ = writeln!(
                out,
                "skiff_scheduled_invocations_total{{script=\"{script}\"}} {}",
                counters.scheduled
            );
        }
        let _ = writeln!(
            out,
            "# HELP skiff_invocation_cpu_seconds_total CPU time of invocations on the isolate threads' CPU clocks, by script.\n# TYPE skiff_invocation_cpu_seconds_total counter"
        );
        for (script, counters) in counters.iter() {
            let _ = writeln!(
                out,
                "skiff_invocation_cpu_seconds_total{{script=\"{script}\"}} {}",
                counters.cpu_us as f64 / 1e6
            );
        }
        let _ = writeln!(
            out,
            "# HELP skiff_usage_dropped_total Usage aggregates dropped because the control plane stayed unreachable longer than the node buffers them.\n# TYPE skiff_usage_dropped_total counter\nskiff_usage_dropped_total {}",
            self.dropped()
        );
        let _ = writeln!(
            out,
            "# HELP skiff_usage_pending_batches Usage batches waiting to be shipped to the control plane.\n# TYPE skiff_usage_pending_batches gauge\nskiff_usage_pending_batches {}",
            self.pending.load(Ordering::Relaxed)
        );
    }
}

fn outcome_index(outcome: Outcome) -> usize {
    Outcome::ALL
        .iter()
        .position(|o| *o == outcome)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(script: &str, outcome: Outcome, cpu_ms: u64) -> Invocation {
        Invocation {
            script: script.into(),
            version: "v".into(),
            trigger: Trigger::Fetch,
            outcome,
            cpu: Duration::from_millis(cpu_ms),
            wall: Duration::from_millis(cpu_ms + 1),
            request_bytes: 3,
            response_bytes: 10,
            subrequests: 1,
            status: Some(200),
            time_ms: 120_500,
        }
    }

    #[test]
    fn invocations_add_up_per_script_and_minute() {
        let usage = Usage::new(true);
        usage.record(invocation("a", Outcome::Ok, 20));
        usage.record(invocation("a", Outcome::Exception, 30));
        usage.record(invocation("b", Outcome::Ok, 5));
        let taken = usage.take();
        assert_eq!(taken.len(), 2);
        let a = &taken[0];
        assert_eq!((a.script.as_str(), a.minute_ms), ("a", 120_000));
        assert_eq!((a.requests(), a.errors(), a.cpu_us), (2, 1, 50_000));
        assert_eq!((a.response_bytes, a.subrequests), (20, 2));
        assert!(usage.take().is_empty(), "taken once");
        let mut page = String::new();
        usage.render(&mut page);
        assert!(
            page.contains("skiff_invocations_total{script=\"a\",outcome=\"exception\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("skiff_invocation_cpu_seconds_total{script=\"a\"} 0.05"),
            "{page}"
        );
    }

    #[test]
    fn a_node_that_does_not_ship_keeps_only_counters() {
        let usage = Usage::new(false);
        usage.record(invocation("a", Outcome::Ok, 1));
        assert!(usage.take().is_empty());
    }

    #[test]
    fn a_discarded_meter_counts_nowhere_and_a_kept_one_once() {
        let usage = Arc::new(Usage::new(true));
        let guard = usage.meter("a", "v", Trigger::Fetch);
        guard.discard();
        drop(guard);
        assert!(usage.take().is_empty());
        let guard = usage.meter("a", "v", Trigger::Fetch);
        let isolate_side = guard.meter().clone();
        drop(guard);
        assert!(usage.take().is_empty(), "the isolate still holds it");
        drop(isolate_side);
        assert_eq!(usage.take().len(), 1);
    }
}
