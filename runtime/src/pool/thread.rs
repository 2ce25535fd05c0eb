//! The pool's threads: each a current-thread tokio runtime with a `LocalSet`, shared (many
//! isolates and warm runtimes) or dedicated (one isolate at a lower priority); a shared thread
//! retires when its creation budget is spent and ends with its last isolate.

use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::load::ThreadLoad;
use super::warm::{Demand, WarmSet, refill};
use super::{DEDICATED_NICE, Job};
use crate::limits::{ThreadClock, WatchList};

/// What a job finds on its pool thread.
pub(super) struct ThreadContext {
    pub(super) clock: Arc<ThreadClock>,
    pub(super) load: Arc<ThreadLoad>,
    pub(super) warm: Rc<WarmSet>,
}

pub(super) struct PoolThread {
    pub(super) jobs: mpsc::UnboundedSender<Job>,
    pub(super) load: Arc<ThreadLoad>,
    pub(super) join: JoinHandle<()>,
}

/// A thread whose creation budget is spent, running its remaining isolates.
pub(super) struct RetiredThread {
    pub(super) load: Arc<ThreadLoad>,
    pub(super) join: JoinHandle<()>,
}

pub(super) struct Threads {
    /// Threads that take new isolates.
    pub(super) active: Vec<PoolThread>,
    pub(super) retired: Vec<RetiredThread>,
    /// Threads of one isolate each (see the module docs).
    pub(super) dedicated: Vec<RetiredThread>,
    pub(super) spawned: usize,
}

/// How a pool thread is set up.
#[derive(Clone, Copy)]
pub(super) enum ThreadKind {
    Shared { warm: usize },
    Dedicated,
}

pub(super) fn spawn_thread(
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
        drop(context);
        drop(runtime);
        // The thread's allocator arena outlives it (the next thread takes it over): what the
        // engines freed there, the top of the arena included, goes back to the system now.
        crate::sys::release_freed_memory();
    })?;
    Ok(PoolThread { jobs, load, join })
}

/// How long a dropped pool waits for its threads to finish their isolates' work.
pub(super) const STOP_WAIT: Duration = Duration::from_secs(5);

/// Joins `threads` that finish before `deadline`; the others are left running, detached, so
/// that one thread stuck in native code cannot keep a stopping node alive.
pub(super) fn join_until(threads: Vec<JoinHandle<()>>, deadline: Instant) {
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
