//! The worker pool: a few OS threads, each running many isolates.
//!
//! A `JsRuntime` is `!Send`: it is created on one pool thread and lives there until it is
//! dropped. Each thread runs a current-thread tokio runtime with a `LocalSet`; every isolate on
//! it is one local task that polls its event loop. The rest of the node only holds
//! [`IsolateHandle`]s, which are `Send`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::isolate::{self, IsolateHandle, IsolateOptions};
use crate::{RuntimeError, ScriptBundle};

type Job = Box<dyn FnOnce() + Send>;

struct PoolThread {
    jobs: mpsc::UnboundedSender<Job>,
    isolates: Arc<AtomicUsize>,
    join: Option<JoinHandle<()>>,
}

/// A fixed set of threads that isolates are placed on, the least loaded first.
pub struct WorkerPool {
    threads: Vec<PoolThread>,
    next: AtomicUsize,
}

impl WorkerPool {
    /// Starts `threads` worker threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let threads = (0..threads.max(1))
            .map(|index| {
                let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let join = std::thread::Builder::new()
                    .name(format!("skiff-isolates-{index}"))
                    .spawn(move || {
                        let local = tokio::task::LocalSet::new();
                        local.block_on(&runtime, async move {
                            while let Some(job) = rx.recv().await {
                                job();
                            }
                        });
                    })?;
                Ok(PoolThread {
                    jobs,
                    isolates: Arc::new(AtomicUsize::new(0)),
                    join: Some(join),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// A pool with one thread per available core.
    pub fn with_default_threads() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores)
    }

    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// Isolates alive on each thread, in thread order.
    pub fn isolates_per_thread(&self) -> Vec<usize> {
        self.threads
            .iter()
            .map(|t| t.isolates.load(Ordering::Relaxed))
            .collect()
    }

    /// Creates an isolate for `bundle` on the least loaded thread, evaluates the bundle, and
    /// returns a handle once the script is ready for requests.
    pub async fn load(
        &self,
        bundle: Arc<ScriptBundle>,
        options: IsolateOptions,
    ) -> Result<IsolateHandle, RuntimeError> {
        let thread = self.pick_thread();
        let (ready_tx, ready_rx) = oneshot::channel();
        let isolates = thread.isolates.clone();
        let job: Job = Box::new(move || {
            tokio::task::spawn_local(isolate::run(bundle, options, isolates, ready_tx));
        });
        thread.jobs.send(job).map_err(|_| RuntimeError::PoolGone)?;
        ready_rx.await.map_err(|_| RuntimeError::PoolGone)?
    }

    fn pick_thread(&self) -> &PoolThread {
        // Round-robin start, then the thread with the fewest isolates from there.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.threads.len();
        (0..n)
            .map(|i| &self.threads[(start + i) % n])
            .min_by_key(|t| t.isolates.load(Ordering::Relaxed))
            .unwrap_or(&self.threads[0])
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for thread in &mut self.threads {
            let (closed, _) = mpsc::unbounded_channel();
            thread.jobs = closed;
        }
        for thread in &mut self.threads {
            if let Some(join) = thread.join.take() {
                let _ = join.join();
            }
        }
    }
}
