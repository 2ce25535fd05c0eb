//! The worker pool: a few OS threads, each running many isolates.
//!
//! A `JsRuntime` is `!Send`: it is created on one pool thread and lives there until it is
//! dropped. Each thread runs a current-thread tokio runtime with a `LocalSet`; every isolate on
//! it is one local task that polls its event loop. The rest of the node only holds
//! [`IsolateHandle`]s, which are `Send`.
//!
//! # Why threads retire
//!
//! The QuickJS backend of deno_core (crate `v8x`) registers every native function a runtime
//! creates (about 800 per tenant isolate: ops, classes, accessors) in a per-thread dispatch
//! table that only grows, and passes the table index through QuickJS's 16-bit `magic` field.
//! After about 32,767 entries the index wraps and calls land on the wrong native function: on
//! this build the 42nd runtime created on one thread fails to boot ("SyntaxError: unexpected
//! token: 'undefined'" from an op returning the wrong value), whether or not earlier ones were
//! dropped. A runtime restored from the startup snapshot registers more (about 1,100): the 30th
//! such runtime on a thread fails. So a thread may create at most [`ISOLATES_PER_THREAD`]
//! isolates in its lifetime, a bound that leaves room with either kind of boot.
//! When its budget is spent it retires: it takes no new isolates, a fresh thread takes its
//! place, and it exits once the isolates it still runs have ended.
//!
//! # The warm pool
//!
//! Booting a runtime (deno's web extensions and Skiff's bootstrap) costs about 60 ms of CPU on
//! QuickJS, or about 10 ms restored from the startup snapshot (`snapshot.rs`); evaluating a
//! small tenant module afterwards costs about one. So each
//! thread keeps a few runtimes booted ahead of time ([`WorkerPool::with_warm`]): bootstrapped,
//! belonging to no tenant, never polled. [`WorkerPool::load`] gives one to the new tenant (its
//! configuration goes in just before its bundle is evaluated, under the same heap limit and
//! startup CPU limit as a freshly booted one) and boots one itself only when none is ready.
//! A local task on the thread refills the set after a take, once no isolate on the thread has
//! run for a short while, so that a boot (which the thread cannot interrupt) does not land in
//! front of a request. Pre-booted runtimes count against [`ISOLATES_PER_THREAD`]; a retiring
//! thread drops its warm runtimes and boots no more. Each costs about 6 MB of RSS.
//!
//! # Dedicated threads
//!
//! Isolates on a shared thread take turns, and a turn cannot be cut short, so one tenant's
//! long computation delays all the others there. An isolate asked for in [`Lane::Dedicated`]
//! gets a thread of its own instead, at a lower scheduling priority (nice
//! [`DEDICATED_NICE`]): the kernel preempts it in favour of the shared threads, and it runs on
//! whatever CPU they leave. The node moves isolates that turn hot there (see `heat.rs`). The
//! thread has no warm runtimes, boots the one isolate and exits when it ends. A pool runs at
//! most [`DEDICATED_PER_THREAD`] of them per shared thread; past that, isolates stay shared.
//!
//! The engine heap limit is fixed when a runtime is created: warm runtimes are booted with the
//! heap limit of the latest load on their thread, and a load that asks for another one boots
//! its own runtime.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::isolate::{self, BootedRuntime, IsolateHandle, IsolateOptions, Lane};
use crate::limits::{IsolateLimits, LimitKills, ThreadClock, WatchList, Watchdog};
use crate::{RuntimeError, ScriptBundle};

/// How many isolates one pool thread creates in its lifetime (see the module docs).
pub const ISOLATES_PER_THREAD: usize = 22;

/// How many booted runtimes each thread keeps ready by default (see the module docs).
pub const DEFAULT_WARM_PER_THREAD: usize = 2;

/// How many dedicated threads a pool may run per shared thread (see the module docs).
pub const DEDICATED_PER_THREAD: usize = 4;

/// The nice value of dedicated threads: below the shared threads (0), which the kernel then
/// prefers when both want a CPU.
pub const DEDICATED_NICE: i32 = 10;

/// Work for a pool thread, given that thread's context.
type Job = Box<dyn FnOnce(&ThreadContext) + Send>;

/// How often the watchdog looks at running JavaScript.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(2);

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

/// One thread's counts, shared between the pool and the thread.
pub(crate) struct ThreadLoad {
    /// Tenant isolates alive; the thread waits on `idle` for none when it retires.
    isolates: AtomicUsize,
    /// Runtimes created on the thread, or reserved for a load on its way to it.
    created: AtomicUsize,
    warm: Mutex<WarmCount>,
    /// Set when the pool retires the thread.
    retired: AtomicBool,
    /// Set while the thread boots a warm runtime, which it cannot interrupt for a load.
    refilling: AtomicBool,
    idle: Notify,
}

/// The warm runtimes of a thread as the pool sees them. The pool claims one for a load under
/// this lock; the thread publishes new ones and withdraws stale ones under it, so a claimed
/// runtime is always there when the load's job reaches the thread.
struct WarmCount {
    /// Warm runtimes ready and not claimed by a load.
    unclaimed: usize,
    /// The heap limit they were booted with: the one the thread's latest load asked for.
    heap_limit: usize,
    closed: bool,
}

impl WarmCount {
    fn claimable(&self, heap_limit: usize) -> bool {
        !self.closed && self.heap_limit == heap_limit && self.unclaimed > 0
    }
}

impl Default for ThreadLoad {
    fn default() -> Self {
        Self {
            isolates: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
            warm: Mutex::new(WarmCount {
                unclaimed: 0,
                heap_limit: IsolateLimits::default().memory,
                closed: false,
            }),
            retired: AtomicBool::new(false),
            refilling: AtomicBool::new(false),
            idle: Notify::new(),
        }
    }
}

impl ThreadLoad {
    fn count(&self) -> usize {
        self.isolates.load(Ordering::Acquire)
    }

    fn warm_count(&self) -> std::sync::MutexGuard<'_, WarmCount> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Warm runtimes ready for a load.
    fn warm(&self) -> usize {
        self.warm_count().unclaimed
    }

    /// True if a warm runtime booted with `heap_limit` is ready for a load.
    fn has_warm(&self, heap_limit: usize) -> bool {
        self.warm_count().claimable(heap_limit)
    }

    /// Claims a warm runtime booted with `heap_limit` for a load, if one is ready.
    fn claim_warm(&self, heap_limit: usize) -> bool {
        let mut warm = self.warm_count();
        let claimable = warm.claimable(heap_limit);
        if claimable {
            warm.unclaimed -= 1;
        }
        claimable
    }

    /// Counts one creation against the thread's budget, if any is left.
    fn reserve(&self) -> bool {
        self.created
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < ISOLATES_PER_THREAD).then_some(n + 1)
            })
            .is_ok()
    }

    fn exhausted(&self) -> bool {
        self.created.load(Ordering::Acquire) >= ISOLATES_PER_THREAD
    }

    /// How a load with `heap_limit` ranks this thread (lowest first). Threads with a warm
    /// runtime ready come first; of those, one that is not booting a runtime (a load placed on
    /// a booting thread waits for the boot: with the other thread idle, back-to-back cold
    /// starts took p50 2.9-6.6 ms instead of 2.2-2.4), then one that has spent its budget (its
    /// warm runtimes are its last, and it retires once they are used); then the least loaded.
    fn placement_rank(&self, heap_limit: usize) -> (bool, bool, bool, usize) {
        (
            !self.has_warm(heap_limit),
            self.refilling.load(Ordering::Acquire),
            !self.exhausted(),
            self.count(),
        )
    }
}

/// Counts one live tenant isolate on its thread for as long as it is held.
pub(crate) struct IsolateCount(Arc<ThreadLoad>);

impl IsolateCount {
    fn new(load: Arc<ThreadLoad>) -> Self {
        load.isolates.fetch_add(1, Ordering::AcqRel);
        Self(load)
    }
}

impl Drop for IsolateCount {
    fn drop(&mut self) {
        if self.0.isolates.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What a job finds on its pool thread.
struct ThreadContext {
    clock: Arc<ThreadClock>,
    load: Arc<ThreadLoad>,
    warm: Rc<WarmSet>,
}

/// The warm runtimes of one pool thread. Lives on that thread only; its count and heap limit
/// are published in the thread's [`ThreadLoad`].
struct WarmSet {
    /// How many to keep ready.
    target: usize,
    ready: RefCell<VecDeque<BootedRuntime>>,
    load: Arc<ThreadLoad>,
    /// Wakes the refill task.
    wake: Notify,
    demand: Arc<Demand>,
    /// The heap of the thread's first warm runtime: what isolates made from warm runtimes
    /// report until their own heap is measured (runtimes restored from one snapshot all start
    /// out alike).
    base_heap: std::cell::OnceCell<usize>,
}

/// When the last two loads reached the pool (any thread): while loads come in quick succession
/// (two within [`DEMAND_WINDOW`]), warm runtimes are being drained and refills hurry.
#[derive(Default)]
struct Demand(Mutex<[Option<Instant>; 2]>);

impl Demand {
    fn note(&self) {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *last = [last[1], Some(Instant::now())];
    }

    fn high(&self) -> bool {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            [Some(older), Some(_)] => older.elapsed() < DEMAND_WINDOW,
            _ => false,
        }
    }
}

impl WarmSet {
    fn new(target: usize, load: Arc<ThreadLoad>, demand: Arc<Demand>) -> Self {
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
    fn take_claimed(&self, heap_limit: usize) -> Option<BootedRuntime> {
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
    fn take_unclaimed(&self, heap_limit: usize) -> Option<BootedRuntime> {
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
    fn follow_heap_limit(&self, heap_limit: usize) {
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

    fn heap_limit(&self) -> usize {
        self.load.warm_count().heap_limit
    }

    /// Adds a freshly booted runtime, unless the set was closed or the heap limit changed
    /// while it booted.
    fn push(&self, booted: BootedRuntime) {
        let mut warm = self.load.warm_count();
        if warm.closed || warm.heap_limit != booted.heap_limit() {
            drop(warm);
            drop(booted);
            return;
        }
        self.ready.borrow_mut().push_back(booted);
        warm.unclaimed += 1;
    }

    fn wants_more(&self) -> bool {
        let warm = self.load.warm_count();
        !warm.closed && !self.load.retired.load(Ordering::Acquire) && warm.unclaimed < self.target
    }

    fn closed(&self) -> bool {
        self.load.warm_count().closed
    }

    /// Drops the warm runtimes and stops the refill: the thread is retiring or stopping, and
    /// every job sent to it has run, so none is claimed.
    fn close(&self) {
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
async fn refill(warm: Rc<WarmSet>, clock: Arc<ThreadClock>) {
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

struct PoolThread {
    jobs: mpsc::UnboundedSender<Job>,
    load: Arc<ThreadLoad>,
    join: JoinHandle<()>,
}

/// A thread whose creation budget is spent, running its remaining isolates.
struct RetiredThread {
    load: Arc<ThreadLoad>,
    join: JoinHandle<()>,
}

struct Threads {
    /// Threads that take new isolates.
    active: Vec<PoolThread>,
    retired: Vec<RetiredThread>,
    /// Threads of one isolate each (see the module docs).
    dedicated: Vec<RetiredThread>,
    spawned: usize,
}

/// How a pool thread is set up.
#[derive(Clone, Copy)]
enum ThreadKind {
    Shared { warm: usize },
    Dedicated,
}

/// A set of threads that isolates are placed on: where a warm runtime is ready, else on the
/// least loaded thread.
pub struct WorkerPool {
    threads: Mutex<Threads>,
    warm_per_thread: usize,
    max_dedicated: usize,
    warm_starts: Arc<AtomicU64>,
    demand: Arc<Demand>,
    stop: watch::Sender<bool>,
    watched: Arc<WatchList>,
    kills: Arc<LimitKills>,
    _watchdog: Watchdog,
}

impl WorkerPool {
    /// Starts `threads` worker threads (at least one), each keeping
    /// [`DEFAULT_WARM_PER_THREAD`] runtimes booted ahead of time.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        Self::with_warm(threads, DEFAULT_WARM_PER_THREAD)
    }

    /// Starts `threads` worker threads (at least one), each keeping `warm_per_thread` runtimes
    /// booted ahead of time (0: none; every load boots its own). Each costs about 6 MB.
    pub fn with_warm(threads: usize, warm_per_thread: usize) -> std::io::Result<Self> {
        // A thread must be able to create at least one isolate besides its warm runtimes.
        let warm_per_thread = warm_per_thread.min(ISOLATES_PER_THREAD - 1);
        crate::snapshot::prepare();
        let (stop, _) = watch::channel(false);
        let demand = Arc::<Demand>::default();
        let watchdog = Watchdog::start(WATCHDOG_INTERVAL)?;
        let watched = watchdog.watch_list();
        let mut state = Threads {
            active: Vec::new(),
            retired: Vec::new(),
            dedicated: Vec::new(),
            spawned: 0,
        };
        for _ in 0..threads.max(1) {
            let thread = spawn_thread(
                state.spawned,
                ThreadKind::Shared {
                    warm: warm_per_thread,
                },
                stop.subscribe(),
                watched.clone(),
                demand.clone(),
            )?;
            state.spawned += 1;
            state.active.push(thread);
        }
        Ok(Self {
            threads: Mutex::new(state),
            warm_per_thread,
            max_dedicated: threads.max(1) * DEDICATED_PER_THREAD,
            warm_starts: Arc::default(),
            demand,
            stop,
            watched,
            kills: Arc::default(),
            _watchdog: watchdog,
        })
    }

    /// A pool with one thread per available core.
    pub fn with_default_threads() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores)
    }

    /// Isolates alive on each thread that still takes new ones, in thread order.
    pub fn isolates_per_thread(&self) -> Vec<usize> {
        self.lock().active.iter().map(|t| t.load.count()).collect()
    }

    /// Isolates alive on all threads, retired and dedicated ones included. Warm runtimes are
    /// not isolates until a load takes them.
    pub fn isolates(&self) -> usize {
        let threads = self.lock();
        let active = threads.active.iter().map(|t| t.load.count());
        let others = threads.retired.iter().chain(&threads.dedicated);
        active.chain(others.map(|t| t.load.count())).sum()
    }

    /// Dedicated threads running (each runs one isolate, or is about to exit).
    pub fn dedicated_threads(&self) -> usize {
        let mut threads = self.lock();
        threads.dedicated.retain(|t| !t.join.is_finished());
        threads.dedicated.len()
    }

    /// True if a load in [`Lane::Dedicated`] would get a thread of its own now.
    pub fn can_dedicate(&self) -> bool {
        self.dedicated_threads() < self.max_dedicated
    }

    /// Booted runtimes ready for a load right now, over all threads that take new isolates.
    pub fn warm_pool_size(&self) -> usize {
        self.lock().active.iter().map(|t| t.load.warm()).sum()
    }

    /// Loads that were given a warm runtime, since the pool started.
    pub fn warm_starts(&self) -> u64 {
        self.warm_starts.load(Ordering::Acquire)
    }

    /// Isolates condemned for breaking a limit, by limit.
    pub fn limit_kills(&self) -> &LimitKills {
        &self.kills
    }

    /// Creates an isolate for `bundle` (in [`Lane::Shared`], from a warm runtime when a thread
    /// has one ready, else on the least loaded thread; in [`Lane::Dedicated`], on a new thread
    /// of its own if the pool may start one), evaluates the bundle, and returns a handle once
    /// the script is ready for requests.
    pub async fn load(
        &self,
        bundle: Arc<ScriptBundle>,
        mut options: IsolateOptions,
    ) -> Result<IsolateHandle, RuntimeError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        {
            let heap_limit = options.limits.memory;
            let dedicated = match options.lane {
                Lane::Dedicated => self.dedicated_thread()?,
                Lane::Shared => None,
            };
            let (jobs, claimed) = match dedicated {
                Some(jobs) => (jobs, false),
                None => {
                    options.lane = Lane::Shared;
                    self.place(heap_limit)?
                }
            };
            if claimed {
                self.warm_starts.fetch_add(1, Ordering::AcqRel);
            }
            let kills = self.kills.clone();
            let warm_starts = self.warm_starts.clone();
            self.demand.note();
            let job: Job = Box::new(move |thread| {
                let count = IsolateCount::new(thread.load.clone());
                let warm = if claimed {
                    thread.warm.take_claimed(heap_limit)
                } else {
                    thread.warm.follow_heap_limit(heap_limit);
                    let late = thread.warm.take_unclaimed(heap_limit);
                    if late.is_some() {
                        warm_starts.fetch_add(1, Ordering::AcqRel);
                    }
                    late
                };
                let clock = thread.clock.clone();
                tokio::task::spawn_local(isolate::run(
                    count, bundle, options, warm, clock, kills, ready_tx,
                ));
            });
            jobs.send(job).map_err(|_| RuntimeError::PoolGone)?;
        }
        ready_rx.await.map_err(|_| RuntimeError::PoolGone)?
    }

    /// Picks the thread for a load by [`ThreadLoad::placement_rank`]: an active one with a warm
    /// runtime ready for it, or else the least loaded one. Claims a warm runtime booted with
    /// `heap_limit` there if one is ready (`true`), else counts a creation against the
    /// thread's budget. A thread that has spent its budget and has no warm runtime left is
    /// retired and replaced.
    fn place(&self, heap_limit: usize) -> Result<(mpsc::UnboundedSender<Job>, bool), RuntimeError> {
        let mut threads = self.lock();
        threads.retired.retain(|t| !t.join.is_finished());
        loop {
            let index = (0..threads.active.len())
                .min_by_key(|&i| threads.active[i].load.placement_rank(heap_limit))
                .ok_or(RuntimeError::PoolGone)?;
            let thread = &threads.active[index];
            let claimed = thread.load.claim_warm(heap_limit);
            let placed = (claimed || thread.load.reserve()).then(|| (thread.jobs.clone(), claimed));
            let spent = thread.load.exhausted() && thread.load.warm() == 0;
            if placed.is_none() || spent {
                self.retire(&mut threads, index)?;
            }
            if let Some(placed) = placed {
                return Ok(placed);
            }
        }
    }

    /// Starts a dedicated thread for one isolate, unless the pool runs as many as it may. The
    /// caller sends the isolate's job through the returned queue and drops it: the thread runs
    /// that job and exits once the isolate has ended.
    fn dedicated_thread(&self) -> Result<Option<mpsc::UnboundedSender<Job>>, RuntimeError> {
        let mut threads = self.lock();
        threads.dedicated.retain(|t| !t.join.is_finished());
        if threads.dedicated.len() >= self.max_dedicated {
            return Ok(None);
        }
        let thread = spawn_thread(
            threads.spawned,
            ThreadKind::Dedicated,
            self.stop.subscribe(),
            self.watched.clone(),
            self.demand.clone(),
        )
        .map_err(|_| RuntimeError::PoolGone)?;
        threads.spawned += 1;
        thread.load.reserve();
        threads.dedicated.push(RetiredThread {
            load: thread.load,
            join: thread.join,
        });
        Ok(Some(thread.jobs))
    }

    /// Replaces active thread `index` with a fresh one. The old thread runs the jobs already
    /// sent to it, then sees the end of its queue, drops its warm runtimes and exits once its
    /// isolates have ended.
    fn retire(&self, threads: &mut Threads, index: usize) -> Result<(), RuntimeError> {
        let fresh = spawn_thread(
            threads.spawned,
            ThreadKind::Shared {
                warm: self.warm_per_thread,
            },
            self.stop.subscribe(),
            self.watched.clone(),
            self.demand.clone(),
        )
        .map_err(|_| RuntimeError::PoolGone)?;
        threads.spawned += 1;
        let old = std::mem::replace(&mut threads.active[index], fresh);
        old.load.retired.store(true, Ordering::Release);
        threads.retired.push(RetiredThread {
            load: old.load,
            join: old.join,
        });
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Threads> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn spawn_thread(
    index: usize,
    kind: ThreadKind,
    mut stop: watch::Receiver<bool>,
    watched: Arc<WatchList>,
    demand: Arc<Demand>,
) -> std::io::Result<PoolThread> {
    let (name, warm_per_thread) = match kind {
        ThreadKind::Shared { warm } => (format!("skiff-isolates-{index}"), warm),
        ThreadKind::Dedicated => (format!("skiff-dedicated-{index}"), 0),
    };
    let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
    let load = Arc::new(ThreadLoad::default());
    let thread_load = load.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let join = std::thread::Builder::new().name(name).spawn(move || {
        if let ThreadKind::Dedicated = kind
            && !crate::sys::lower_priority(DEDICATED_NICE)
        {
            tracing::warn!(
                nice = DEDICATED_NICE,
                "could not lower a dedicated thread's priority"
            );
        }
        let clock = ThreadClock::for_current_thread();
        watched.add(&clock);
        let warm = Rc::new(WarmSet::new(warm_per_thread, thread_load.clone(), demand));
        let context = ThreadContext {
            clock,
            load: thread_load,
            warm,
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            if context.warm.target > 0 {
                tokio::task::spawn_local(refill(context.warm.clone(), context.clock.clone()));
            }
            loop {
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => job(&context),
                        None => break,
                    },
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
            // Retired: serve the isolates still here until they end.
            context.warm.close();
            loop {
                let idle = context.load.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if context.load.count() == 0 {
                    break;
                }
                tokio::select! {
                    _ = idle => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
        });
        // Engines are dropped on their own thread: the warm runtimes, then (with the
        // LocalSet's tasks) the isolates still running.
        context.warm.close();
        drop(local);
    })?;
    Ok(PoolThread { jobs, load, join })
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let mut threads = self.lock();
        let active = std::mem::take(&mut threads.active);
        let retired = std::mem::take(&mut threads.retired);
        let dedicated = std::mem::take(&mut threads.dedicated);
        drop(threads);
        let mut joins = Vec::new();
        for thread in active {
            drop(thread.jobs);
            joins.push(thread.join);
        }
        joins.extend(retired.into_iter().chain(dedicated).map(|t| t.join));
        join_until(joins, Instant::now() + STOP_WAIT);
    }
}

/// How long a dropped pool waits for its threads to finish their isolates' work.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Joins `threads` that finish before `deadline`; the others are left running, detached, so
/// that one thread stuck in native code cannot keep a stopping node alive.
fn join_until(threads: Vec<JoinHandle<()>>, deadline: Instant) {
    let mut waiting = threads;
    while !waiting.is_empty() {
        let (finished, running): (Vec<_>, Vec<_>) =
            waiting.into_iter().partition(JoinHandle::is_finished);
        for thread in finished {
            let _ = thread.join();
        }
        waiting = running;
        if !waiting.is_empty() && Instant::now() >= deadline {
            tracing::warn!(
                threads = waiting.len(),
                "worker threads still running after {STOP_WAIT:?}; leaving them"
            );
            return;
        }
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_prefer_a_warm_thread_that_is_not_booting() {
        let heap_limit = IsolateLimits::default().memory;
        let thread = |warm: usize, refilling: bool| {
            let load = ThreadLoad::default();
            load.warm_count().unclaimed = warm;
            load.refilling.store(refilling, Ordering::Release);
            load
        };
        let idle_warm = thread(1, false);
        let booting_warm = thread(1, true);
        let idle_cold = thread(0, false);
        assert!(idle_warm.placement_rank(heap_limit) < booting_warm.placement_rank(heap_limit));
        assert!(
            booting_warm.placement_rank(heap_limit) < idle_cold.placement_rank(heap_limit),
            "waiting for a boot beats booting one"
        );
    }

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
