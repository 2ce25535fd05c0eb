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
//! dropped. So a thread may create at most [`ISOLATES_PER_THREAD`] isolates in its lifetime.
//! When its budget is spent it retires: it takes no new isolates, a fresh thread takes its
//! place, and it exits once the isolates it still runs have ended.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::isolate::{self, IsolateHandle, IsolateOptions};
use crate::limits::{LimitKills, ThreadClock, WatchList, Watchdog};
use crate::{RuntimeError, ScriptBundle};

/// How many isolates one pool thread creates in its lifetime (see the module docs).
pub const ISOLATES_PER_THREAD: usize = 32;

/// Work for a pool thread, given that thread's CPU clock.
type Job = Box<dyn FnOnce(&Arc<ThreadClock>) + Send>;

/// How often the watchdog looks at running JavaScript.
const WATCHDOG_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

/// Live isolates on one thread; the thread waits on `idle` when it retires.
#[derive(Default)]
pub(crate) struct ThreadLoad {
    isolates: AtomicUsize,
    idle: Notify,
}

impl ThreadLoad {
    pub(crate) fn isolate_started(&self) {
        self.isolates.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn isolate_ended(&self) {
        if self.isolates.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    fn count(&self) -> usize {
        self.isolates.load(Ordering::Acquire)
    }
}

struct PoolThread {
    jobs: mpsc::UnboundedSender<Job>,
    load: Arc<ThreadLoad>,
    created: usize,
    join: JoinHandle<()>,
}

struct Threads {
    /// Threads that take new isolates.
    active: Vec<PoolThread>,
    /// Threads whose creation budget is spent, running their remaining isolates.
    retired: Vec<PoolThread>,
    spawned: usize,
}

/// A set of threads that isolates are placed on, the least loaded first.
pub struct WorkerPool {
    threads: Mutex<Threads>,
    stop: watch::Sender<bool>,
    watched: Arc<WatchList>,
    kills: Arc<LimitKills>,
    _watchdog: Watchdog,
}

impl WorkerPool {
    /// Starts `threads` worker threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (stop, _) = watch::channel(false);
        let watchdog = Watchdog::start(WATCHDOG_INTERVAL)?;
        let watched = watchdog.watch_list();
        let mut state = Threads {
            active: Vec::new(),
            retired: Vec::new(),
            spawned: 0,
        };
        for _ in 0..threads.max(1) {
            let thread = spawn_thread(state.spawned, stop.subscribe(), watched.clone())?;
            state.spawned += 1;
            state.active.push(thread);
        }
        Ok(Self {
            threads: Mutex::new(state),
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

    /// Isolates alive on all threads, retired ones included.
    pub fn isolates(&self) -> usize {
        let threads = self.lock();
        threads
            .active
            .iter()
            .chain(&threads.retired)
            .map(|t| t.load.count())
            .sum()
    }

    /// Isolates condemned for breaking a limit, by limit.
    pub fn limit_kills(&self) -> &LimitKills {
        &self.kills
    }

    /// Creates an isolate for `bundle` on the least loaded thread, evaluates the bundle, and
    /// returns a handle once the script is ready for requests.
    pub async fn load(
        &self,
        bundle: Arc<ScriptBundle>,
        options: IsolateOptions,
    ) -> Result<IsolateHandle, RuntimeError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        {
            let (jobs, load) = self.reserve()?;
            let kills = self.kills.clone();
            let job: Job = Box::new(move |clock| {
                let clock = clock.clone();
                tokio::task::spawn_local(isolate::run(
                    bundle, options, load, clock, kills, ready_tx,
                ));
            });
            jobs.send(job).map_err(|_| RuntimeError::PoolGone)?;
        }
        ready_rx.await.map_err(|_| RuntimeError::PoolGone)?
    }

    /// Picks the least loaded active thread and counts one creation against its budget,
    /// retiring and replacing it when the budget is spent.
    fn reserve(&self) -> Result<(mpsc::UnboundedSender<Job>, Arc<ThreadLoad>), RuntimeError> {
        let mut threads = self.lock();
        threads.retired.retain(|t| !t.join.is_finished());
        let index = (0..threads.active.len())
            .min_by_key(|&i| threads.active[i].load.count())
            .ok_or(RuntimeError::PoolGone)?;
        let thread = &mut threads.active[index];
        thread.created += 1;
        let picked = (thread.jobs.clone(), thread.load.clone());
        if thread.created >= ISOLATES_PER_THREAD {
            let fresh = spawn_thread(threads.spawned, self.stop.subscribe(), self.watched.clone())
                .map_err(|_| RuntimeError::PoolGone)?;
            threads.spawned += 1;
            let old = std::mem::replace(&mut threads.active[index], fresh);
            threads.retired.push(old);
        }
        Ok(picked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Threads> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn spawn_thread(
    index: usize,
    mut stop: watch::Receiver<bool>,
    watched: Arc<WatchList>,
) -> std::io::Result<PoolThread> {
    let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
    let load = Arc::new(ThreadLoad::default());
    let thread_load = load.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let join = std::thread::Builder::new()
        .name(format!("skiff-isolates-{index}"))
        .spawn(move || {
            let clock = ThreadClock::for_current_thread();
            watched.add(&clock);
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                loop {
                    tokio::select! {
                        job = rx.recv() => match job {
                            Some(job) => job(&clock),
                            None => break,
                        },
                        _ = stop.wait_for(|stop| *stop) => return,
                    }
                }
                // Retired: serve the isolates still here until they end.
                loop {
                    let idle = thread_load.idle.notified();
                    tokio::pin!(idle);
                    idle.as_mut().enable();
                    if thread_load.count() == 0 {
                        break;
                    }
                    tokio::select! {
                        _ = idle => {}
                        _ = stop.wait_for(|stop| *stop) => return,
                    }
                }
            });
        })?;
    Ok(PoolThread {
        jobs,
        load,
        created: 0,
        join,
    })
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let mut threads = self.lock();
        let mut all = std::mem::take(&mut threads.active);
        all.append(&mut threads.retired);
        drop(threads);
        for thread in all {
            drop(thread.jobs);
            let _ = thread.join.join();
        }
    }
}
