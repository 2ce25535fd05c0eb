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
//!
//! The parts: `load.rs` (a thread's counts, by which loads are placed), `warm.rs` (the warm
//! runtimes), `thread.rs` (the threads: shared, retiring, dedicated).

mod load;
mod thread;
mod warm;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::isolate::{self, IsolateHandle, IsolateOptions, Lane};
use crate::limits::{LimitKills, WatchList, Watchdog};
use crate::{RuntimeError, ScriptBundle};
use load::IsolateCount;
use thread::{
    RetiredThread, STOP_WAIT, ThreadContext, ThreadKind, Threads, join_until, spawn_thread,
};
use warm::Demand;

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
        crate::sys::tune_allocator();
        skiff_js_api::seed_crypto_random();
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

    /// Threads that take new isolates (the retiring and dedicated ones aside).
    pub fn threads(&self) -> usize {
        self.lock().active.len()
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
        options: IsolateOptions,
    ) -> Result<IsolateHandle, RuntimeError> {
        self.load_placed(bundle, options, None).await
    }

    /// Like [`WorkerPool::load`] in [`Lane::Shared`], on a thread other than `other`'s if the
    /// pool has one: for a second isolate of a busy version, which gains nothing beside the
    /// first.
    pub(crate) async fn load_apart(
        &self,
        bundle: Arc<ScriptBundle>,
        options: IsolateOptions,
        other: &IsolateHandle,
    ) -> Result<IsolateHandle, RuntimeError> {
        let options = IsolateOptions {
            lane: Lane::Shared,
            ..options
        };
        self.load_placed(bundle, options, Some(other.thread()))
            .await
    }

    async fn load_placed(
        &self,
        bundle: Arc<ScriptBundle>,
        mut options: IsolateOptions,
        avoid: Option<usize>,
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
                    self.place(heap_limit, avoid)?
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
                let thread_key = thread_key(&thread.load);
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
                    count, thread_key, bundle, options, warm, clock, kills, ready_tx,
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
    /// retired and replaced. The thread `avoid` (a [`thread_key`]) is passed over while
    /// another takes loads.
    fn place(
        &self,
        heap_limit: usize,
        avoid: Option<usize>,
    ) -> Result<(mpsc::UnboundedSender<Job>, bool), RuntimeError> {
        let mut threads = self.lock();
        threads.retired.retain(|t| !t.join.is_finished());
        loop {
            let avoided = |i: usize| Some(thread_key(&threads.active[i].load)) == avoid;
            let index = (0..threads.active.len())
                .min_by_key(|&i| {
                    (
                        avoided(i) && threads.active.len() > 1,
                        threads.active[i].load.placement_rank(heap_limit),
                    )
                })
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

/// Names the thread whose counts are `load` as long as it lives (an isolate's
/// [`IsolateHandle::thread`]).
fn thread_key(load: &Arc<load::ThreadLoad>) -> usize {
    Arc::as_ptr(load) as usize
}
