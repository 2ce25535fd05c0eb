//! How much an isolate keeps its thread from its neighbours.
//!
//! Isolates on one pool thread take turns, and a turn cannot be cut short: a request that
//! computes for 40 ms delays every other isolate on the thread by 40 ms. Short slices are
//! harmless (an isolate yields its thread after a 1 ms turn between requests); what hurts the
//! neighbours is CPU spent in *long* slices. [`Heat`] adds that up per one-second window, and an
//! isolate that spent more than [`HOT_CPU`] of a window in slices of at least [`LONG_SLICE`] is
//! *hot*. The node then moves a hot isolate to a dedicated thread of its own, which the kernel
//! preempts like any thread (see `pool.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A slice at least this long keeps the thread's other isolates waiting noticeably: twice the
/// 1 ms turn, so a busy isolate of short requests (whose slices end just past its turn) stays
/// under it. A tenant whose requests compute for 4 ms, sent back to back, kept its thread busy
/// without ever reaching the 5 ms this used to be, and its neighbour's p99 went from 0.6 to
/// 6-13 ms (`bench/isolates.sh`'s steady-rate measurement with such a tenant as B).
pub const LONG_SLICE: Duration = Duration::from_millis(2);

/// CPU in long slices per one-second window that makes an isolate hot: a tenth of a core.
pub const HOT_CPU: Duration = Duration::from_millis(100);

/// CPU an isolate spent in long slices, in the current and the previous one-second window.
/// Written by the isolate's thread only; read from anywhere.
#[derive(Debug)]
pub(crate) struct Heat {
    made: Instant,
    /// The window `current` counts: whole seconds after `made`.
    window: AtomicU64,
    current: AtomicU64,
    previous: AtomicU64,
}

impl Default for Heat {
    fn default() -> Self {
        Self {
            made: Instant::now(),
            window: AtomicU64::new(0),
            current: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }
}

impl Heat {
    fn window_now(&self) -> u64 {
        self.made.elapsed().as_secs()
    }

    /// Records a finished slice that used `cpu`.
    pub(crate) fn record(&self, cpu: Duration) {
        if cpu < LONG_SLICE {
            return;
        }
        let now = self.window_now();
        let window = self.window.load(Ordering::Acquire);
        if now != window {
            let carried = if now == window + 1 {
                self.current.load(Ordering::Acquire)
            } else {
                0
            };
            self.previous.store(carried, Ordering::Release);
            self.current.store(0, Ordering::Release);
            self.window.store(now, Ordering::Release);
        }
        let nanos = cpu.as_nanos().try_into().unwrap_or(u64::MAX);
        self.current.fetch_add(nanos, Ordering::AcqRel);
    }

    /// True if the current or the previous window holds [`HOT_CPU`] of long slices.
    pub(crate) fn is_hot(&self) -> bool {
        let window = self.window.load(Ordering::Acquire);
        let current = self.current.load(Ordering::Acquire);
        let previous = self.previous.load(Ordering::Acquire);
        let (current, previous) = match self.window_now().saturating_sub(window) {
            0 => (current, previous),
            1 => (0, current),
            _ => (0, 0),
        };
        let hot = HOT_CPU.as_nanos() as u64;
        current >= hot || previous >= hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_slices_make_an_isolate_hot_and_short_ones_do_not() {
        let busy = Heat::default();
        for _ in 0..1000 {
            busy.record(Duration::from_millis(1));
        }
        assert!(!busy.is_hot(), "a second of 1 ms slices is not hot");
        let past_turn = Heat::default();
        for _ in 0..500 {
            past_turn.record(Duration::from_micros(1900));
        }
        assert!(
            !past_turn.is_hot(),
            "slices that end just past a 1 ms turn are not hot"
        );

        let medium = Heat::default();
        for _ in 0..40 {
            medium.record(Duration::from_millis(3));
        }
        assert!(medium.is_hot(), "3 ms slices add up like long computations");

        let heavy = Heat::default();
        heavy.record(Duration::from_millis(40));
        heavy.record(Duration::from_millis(40));
        assert!(!heavy.is_hot(), "80 ms is under the threshold");
        heavy.record(Duration::from_millis(40));
        assert!(heavy.is_hot());
    }

    #[test]
    fn heat_fades_after_two_windows() {
        // 150 ms of long slices recorded in window 0 of a meter made `ago` earlier.
        let recorded = |ago: u64| Heat {
            made: Instant::now()
                .checked_sub(Duration::from_millis(ago))
                .expect("the clock is older than that"),
            window: AtomicU64::new(0),
            current: AtomicU64::new(150_000_000),
            previous: AtomicU64::new(0),
        };
        assert!(recorded(0).is_hot());
        assert!(recorded(1500).is_hot(), "the previous window still counts");
        assert!(!recorded(2500).is_hot(), "two windows later it has cooled");
    }
}
