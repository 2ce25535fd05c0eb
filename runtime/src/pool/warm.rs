//! The warm runtimes of a pool thread: booted ahead of time, belonging to no tenant, taken by
//! loads and refilled when the thread is quiet (see the pool's module docs).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::load::ThreadLoad;
use crate::isolate::BootedRuntime;
use crate::limits::ThreadClock;

/// How long no isolate on a thread must have run before the thread boots a warm runtime. A boot
/// holds the thread (about 60 ms from scratch), so it waits for a real lull: a thread that never
/// has one (steady traffic) does not refill, and its next cold start boots as it would without a
/// pool, rather than every request on it waiting behind a boot.
const REFILL_QUIET: Duration = Duration::from_millis(100);

/// The same while loads drain the pool's warm runtimes ([`Demand`]), once boots restore the
/// startup snapshot (about 12 ms): the thread only has to be idle, so that it boots the next
/// load's runtime while the client is still reading this one's response (200 cold starts back
/// to back, old and new rule alternating: mean 10.5 ms -> 7 ms, p99 27 ms -> 19 ms). Otherwise
/// a refill waits for the longer lull: refilling in every short gap cost each node a boot
/// right after each deploy (propagation p50 47 ms -> 119 ms with 10 nodes sharing 2 cores).
const REFILL_QUIET_IN_DEMAND: Duration = Duration::from_millis(2);

/// Two loads on a pool this close together mean its warm runtimes are in demand: a burst of
/// cold starts, not deploys a second apart.
const DEMAND_WINDOW: Duration = Duration::from_millis(250);

/// How long a refill waits after a boot failed before it tries again.
const REFILL_RETRY: Duration = Duration::from_secs(1);

/// Arena pages (4 KiB each, 16 MiB) the engine keeps in memory on each isolate thread after a
/// boot, so that the next isolate's objects go into pages already faulted in rather than pages
/// the kernel must supply while a request waits (3.3 ms of an 800 KB bundle's cold start).
const ARENA_PAGES_AHEAD: usize = 4096;

/// The warm runtimes of one pool thread. Lives on that thread only; its count and heap limit
/// are published in the thread's [`ThreadLoad`].
pub(super) struct WarmSet {
    /// How many to keep ready.
    pub(super) target: usize,
    pub(super) ready: RefCell<VecDeque<BootedRuntime>>,
    pub(super) load: Arc<ThreadLoad>,
    /// Wakes the refill task.
    pub(super) wake: Notify,
    pub(super) demand: Arc<Demand>,
    /// The heap of the thread's first warm runtime: what isolates made from warm runtimes
    /// report until their own heap is measured (runtimes restored from one snapshot all start
    /// out alike).
    pub(super) base_heap: std::cell::OnceCell<usize>,
}

/// When the last two loads reached the pool (any thread): while loads come in quick succession
/// (two within [`DEMAND_WINDOW`]), warm runtimes are being drained and refills hurry.
#[derive(Default)]
pub(super) struct Demand(Mutex<[Option<Instant>; 2]>);

impl Demand {
    pub(super) fn note(&self) {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *last = [last[1], Some(Instant::now())];
    }

    pub(super) fn high(&self) -> bool {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            [Some(older), Some(_)] => older.elapsed() < DEMAND_WINDOW,
            _ => false,
        }
    }
}

impl WarmSet {
    pub(super) fn new(target: usize, load: Arc<ThreadLoad>, demand: Arc<Demand>) -> Self {
        Self {
            target,
            ready: RefCell::default(),
            load,
            wake: Notify::new(),
            demand,
            base_heap: std::cell::OnceCell::new(),
        }
    }

    /// The warm runtime the pool claimed for a load with `heap_limit`.
    pub(super) fn take_claimed(&self, heap_limit: usize) -> Option<BootedRuntime> {
        let mut ready = self.ready.borrow_mut();
        let index = ready.iter().position(|r| r.heap_limit() == heap_limit)?;
        let taken = ready.remove(index);
        drop(ready);
        self.wake.notify_one();
        taken
    }

    /// A warm runtime booted with `heap_limit` that no load has claimed, for a load that was
    /// placed here when none was ready: one finished booting since (typically the boot the
    /// load's job waited behind). The load takes it instead of booting its own and hands back
    /// the creation it reserved.
    pub(super) fn take_unclaimed(&self, heap_limit: usize) -> Option<BootedRuntime> {
        {
            let mut warm = self.load.warm_count();
            if !warm.claimable(heap_limit) {
                return None;
            }
            warm.unclaimed -= 1;
        }
        let taken = self.take_claimed(heap_limit);
        match taken {
            Some(_) => {
                self.load.created.fetch_sub(1, Ordering::AcqRel);
            }
            None => self.load.warm_count().unclaimed += 1,
        }
        taken
    }

    /// Makes `heap_limit` the one warm runtimes are booted with, for a load that asked for it
    /// and found none. Unclaimed runtimes booted with the previous limit are dropped.
    pub(super) fn follow_heap_limit(&self, heap_limit: usize) {
        let (previous, stale) = {
            let mut warm = self.load.warm_count();
            if warm.heap_limit == heap_limit {
                return;
            }
            let previous = std::mem::replace(&mut warm.heap_limit, heap_limit);
            (previous, std::mem::take(&mut warm.unclaimed))
        };
        let mut dropped = Vec::with_capacity(stale);
        {
            let mut ready = self.ready.borrow_mut();
            while dropped.len() < stale {
                let Some(index) = ready.iter().position(|r| r.heap_limit() == previous) else {
                    break;
                };
                dropped.extend(ready.remove(index));
            }
        }
        drop(dropped);
        self.wake.notify_one();
    }

    pub(super) fn heap_limit(&self) -> usize {
        self.load.warm_count().heap_limit
    }

    /// Adds a freshly booted runtime, unless the set was closed or the heap limit changed
    /// while it booted.
    pub(super) fn push(&self, booted: BootedRuntime) {
        let mut warm = self.load.warm_count();
        if warm.closed || warm.heap_limit != booted.heap_limit() {
            drop(warm);
            drop(booted);
            return;
        }
        self.ready.borrow_mut().push_back(booted);
        warm.unclaimed += 1;
    }

    pub(super) fn wants_more(&self) -> bool {
        let warm = self.load.warm_count();
        !warm.closed && !self.load.retired.load(Ordering::Acquire) && warm.unclaimed < self.target
    }

    pub(super) fn closed(&self) -> bool {
        self.load.warm_count().closed
    }

    /// Drops the warm runtimes and stops the refill: the thread is retiring or stopping, and
    /// every job sent to it has run, so none is claimed.
    pub(super) fn close(&self) {
        {
            let mut warm = self.load.warm_count();
            warm.closed = true;
            warm.unclaimed = 0;
        }
        let drained: Vec<_> = self.ready.borrow_mut().drain(..).collect();
        self.wake.notify_one();
        drop(drained);
    }
}

/// Keeps `warm` at its target: boots a runtime whenever one is missing and the thread is quiet,
/// while the thread's creation budget lasts.
pub(super) async fn refill(warm: Rc<WarmSet>, clock: Arc<ThreadClock>) {
    loop {
        while !warm.wants_more() {
            if warm.closed() {
                return;
            }
            warm.wake.notified().await;
        }
        wait_until_quiet(&clock, &warm).await;
        if !warm.wants_more() {
            continue;
        }
        if !warm.load.reserve() {
            // The budget is spent: the pool retires this thread once its warm runtimes are
            // claimed.
            return;
        }
        let started = std::time::Instant::now();
        warm.load.refilling.store(true, Ordering::Release);
        let booted = BootedRuntime::boot(warm.heap_limit());
        warm.load.refilling.store(false, Ordering::Release);
        // A boot counts as activity: the next one waits for another lull, letting work that
        // queued up meanwhile run first.
        clock.touch();
        match booted {
            Ok(mut booted) => {
                let base_heap = *warm.base_heap.get_or_init(|| booted.measure_heap());
                booted.set_heap_estimate(base_heap);
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "warm runtime booted"
                );
                warm.push(booted);
                deno_core::v8::fill_arena_pages(ARENA_PAGES_AHEAD);
            }
            Err(err) => {
                tracing::warn!(%err, "booting a warm runtime failed");
                tokio::time::sleep(REFILL_RETRY).await;
            }
        }
    }
}

/// Waits until no isolate on this thread has run (and nothing booted) for [`REFILL_QUIET`]
/// ([`REFILL_QUIET_IN_DEMAND`] while the pool's warm runtimes are in demand and boots restore
/// the snapshot), letting every task that is ready run first.
async fn wait_until_quiet(clock: &ThreadClock, warm: &WarmSet) {
    loop {
        tokio::task::yield_now().await;
        let needed = if warm.demand.high() && crate::snapshot::snapshot_ready() {
            REFILL_QUIET_IN_DEMAND
        } else {
            REFILL_QUIET
        };
        let quiet = clock.quiet_for();
        if quiet >= needed {
            return;
        }
        // Demand can start while this waits: look again at least that often.
        tokio::time::sleep((needed - quiet).min(REFILL_QUIET_IN_DEMAND)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load placed while no warm runtime was ready takes one that finished booting before
    /// its job ran, and hands back the creation it had reserved; a runtime another load has
    /// claimed stays for that load.
    #[test]
    fn a_load_takes_a_runtime_that_finished_booting_after_it_was_placed() {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        tokio::task::LocalSet::new().block_on(&tokio, async {
            let load = Arc::new(ThreadLoad::default());
            let warm = WarmSet::new(1, load.clone(), Arc::default());
            let heap_limit = warm.heap_limit();
            let created = || load.created.load(Ordering::Acquire);

            assert!(load.reserve(), "the warm runtime's creation");
            warm.push(BootedRuntime::boot(heap_limit).expect("boots"));
            assert!(
                load.reserve(),
                "the load's own, reserved when none was ready"
            );
            assert!(warm.take_unclaimed(heap_limit).is_some());
            assert_eq!(
                (load.warm(), created()),
                (0, 1),
                "the reservation handed back"
            );
            assert!(warm.take_unclaimed(heap_limit).is_none(), "none left");

            assert!(load.reserve());
            warm.push(BootedRuntime::boot(heap_limit).expect("boots"));
            assert!(
                load.claim_warm(heap_limit),
                "a load whose job is still queued"
            );
            assert!(
                warm.take_unclaimed(heap_limit).is_none(),
                "claimed: not taken"
            );
            assert!(
                warm.take_claimed(heap_limit).is_some(),
                "there for its load"
            );
        });
    }
}
