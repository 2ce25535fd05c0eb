//! Usage metering of one invocation: what it cost (CPU, subrequests) and how it went.
//!
//! The node creates a [`Meter`] per invocation and hands a clone to the isolate with the
//! request ([`crate::FetchRequest::meter`], [`crate::ScheduledRequest::meter`]). Each side
//! drops its clone when it is done with the invocation: the node once the response body is
//! sent, the isolate once the invocation is over (its response sent and its `waitUntil` work
//! settled) or the isolate is disposed. The last drop runs the meter's `on_done` with the final
//! [`MeterReading`], once, on whichever thread dropped it.
//!
//! Every field is an atomic: a meter is written from the isolate's thread and the node's
//! without a lock, and nothing is allocated after [`Meter::new`].

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limit that stopped an invocation's isolate while the invocation was in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeterStop {
    Cpu,
    Memory,
}

/// What a [`Meter`] recorded, as its `on_done` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterReading {
    /// When [`Meter::new`] ran: `started.elapsed()` in `on_done` is the invocation's wall time.
    pub started: Instant,
    /// The isolate CPU charged to this invocation: each slice of the isolate's CPU split evenly
    /// among the invocations in flight during it.
    pub cpu: Duration,
    /// Outbound `fetch()` calls (and service binding fetches) the invocation made within its
    /// subrequest budget.
    pub subrequests: u32,
    /// The handler threw or its promise rejected (for a fetch, the invocation was answered
    /// 500 "Internal Server Error").
    pub exception: bool,
    /// Set when the isolate was condemned by a limit while this invocation was in flight.
    pub stopped_by: Option<MeterStop>,
    /// Set by the node: [`Meter::set_request_bytes`].
    pub request_bytes: u64,
    /// Set by the node: [`Meter::set_response_bytes`].
    pub response_bytes: u64,
    /// Set by the node: [`Meter::set_status`].
    pub status: Option<u16>,
    /// Set by the node: [`Meter::set_canceled`] (the client went away).
    pub canceled: bool,
}

type OnDone = Box<dyn FnOnce(&MeterReading) + Send>;

/// The usage meter of one invocation (see the module docs). Cloning is cheap (an `Arc`); the
/// last clone dropped runs `on_done`.
#[derive(Clone)]
pub struct Meter(Arc<MeterInner>);

struct MeterInner {
    started: Instant,
    cpu_nanos: AtomicU64,
    subrequests: AtomicU32,
    exception: AtomicBool,
    /// 0: none, 1: CPU, 2: memory.
    stopped_by: AtomicU8,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// 0: none, else the status plus one.
    status: AtomicU32,
    canceled: AtomicBool,
    on_done: Mutex<Option<OnDone>>,
}

impl Meter {
    /// A meter whose `on_done` runs once, with the final reading, when its last clone is
    /// dropped.
    pub fn new(on_done: impl FnOnce(&MeterReading) + Send + 'static) -> Self {
        Self(Arc::new(MeterInner {
            started: Instant::now(),
            cpu_nanos: AtomicU64::new(0),
            subrequests: AtomicU32::new(0),
            exception: AtomicBool::new(false),
            stopped_by: AtomicU8::new(0),
            request_bytes: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            status: AtomicU32::new(0),
            canceled: AtomicBool::new(false),
            on_done: Mutex::new(Some(Box::new(on_done))),
        }))
    }

    /// The bytes of the request body the node read.
    pub fn set_request_bytes(&self, bytes: u64) {
        self.0.request_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The bytes of the response body the node sent.
    pub fn set_response_bytes(&self, bytes: u64) {
        self.0.response_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The status the client was answered with.
    pub fn set_status(&self, status: u16) {
        self.0
            .status
            .store(u32::from(status) + 1, Ordering::Relaxed);
    }

    /// The client went away before the response was complete.
    pub fn set_canceled(&self) {
        self.0.canceled.store(true, Ordering::Relaxed);
    }

    /// What the meter holds now.
    pub fn reading(&self) -> MeterReading {
        self.0.reading()
    }

    pub(crate) fn add_cpu(&self, cpu_nanos: u64) {
        self.0.cpu_nanos.fetch_add(cpu_nanos, Ordering::Relaxed);
    }

    pub(crate) fn add_subrequest(&self) {
        self.0.subrequests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_exception(&self) {
        self.0.exception.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_stopped_by(&self, stop: MeterStop) {
        let code = match stop {
            MeterStop::Cpu => 1,
            MeterStop::Memory => 2,
        };
        let _ = self
            .0
            .stopped_by
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    }
}

impl MeterInner {
    fn reading(&self) -> MeterReading {
        MeterReading {
            started: self.started,
            cpu: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed)),
            subrequests: self.subrequests.load(Ordering::Relaxed),
            exception: self.exception.load(Ordering::Relaxed),
            stopped_by: match self.stopped_by.load(Ordering::Relaxed) {
                1 => Some(MeterStop::Cpu),
                2 => Some(MeterStop::Memory),
                _ => None,
            },
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            response_bytes: self.response_bytes.load(Ordering::Relaxed),
            status: match self.status.load(Ordering::Relaxed) {
                0 => None,
                plus_one => u16::try_from(plus_one - 1).ok(),
            },
            canceled: self.canceled.load(Ordering::Relaxed),
        }
    }
}

impl Drop for MeterInner {
    fn drop(&mut self) {
        let on_done = self
            .on_done
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(on_done) = on_done {
            let reading = self.reading();
            // The last clone may be dropped on an isolate's thread: a panic in the node's
            // callback must not take that thread (and its other tenants) down.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_done(&reading)));
            if ran.is_err() {
                tracing::error!("a meter's on_done callback panicked");
            }
        }
    }
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Meter").field(&self.reading()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_done_runs_once_when_the_last_clone_goes() {
        let (tx, rx) = std::sync::mpsc::channel();
        let meter = Meter::new(move |reading| tx.send(reading.clone()).expect("send"));
        let isolate_side = meter.clone();
        meter.set_status(200);
        meter.set_response_bytes(12);
        isolate_side.add_cpu(1_500_000);
        isolate_side.add_subrequest();
        isolate_side.set_stopped_by(MeterStop::Memory);
        isolate_side.set_stopped_by(MeterStop::Cpu);
        drop(meter);
        assert!(rx.try_recv().is_err(), "one clone is still alive");
        drop(isolate_side);
        let reading = rx.try_recv().expect("on_done ran");
        assert_eq!(reading.status, Some(200));
        assert_eq!(reading.response_bytes, 12);
        assert_eq!(reading.cpu, Duration::from_micros(1500));
        assert_eq!(reading.subrequests, 1);
        assert_eq!(
            reading.stopped_by,
            Some(MeterStop::Memory),
            "the first stop stays"
        );
        assert!(!reading.exception && !reading.canceled);
        assert!(rx.try_recv().is_err(), "exactly once");
    }

    #[test]
    fn a_panicking_on_done_does_not_unwind_into_the_dropper() {
        let meter = Meter::new(|_| panic!("node bug"));
        drop(meter);
    }
}
