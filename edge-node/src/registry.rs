//! The scripts a node serves and the cache of their live isolates.
//!
//! Each script has one current [`ScriptBundle`] (its version). Isolates live in an
//! [`IsolateCache`] keyed by version id, bounded by the engine heap they use and by idle time;
//! an evicted isolate is asked to stop, finishes what it accepted, and is disposed. Replacing a
//! script swaps its current version atomically: a request sees the old version or the new one,
//! and the old isolate drains before it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, LogEvent, LogSink, OutboundPolicy, RuntimeError,
    ScriptBundle, WorkerPool,
};

/// Receives every log event of every isolate on the node.
pub type LogHook = Arc<dyn Fn(LogEvent) + Send + Sync>;

/// How isolates of this node are configured.
#[derive(Clone)]
pub struct IsolateDefaults {
    pub outbound: OutboundPolicy,
    pub wait_until: Duration,
    pub limits: IsolateLimits,
    pub log: LogHook,
}

/// Bounds of the isolate cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// Total engine heap of cached isolates, in bytes.
    pub memory_bytes: u64,
    /// An isolate that served nothing for this long is evicted.
    pub idle_ttl: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 4 * 1024 * 1024 * 1024,
            idle_ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// Counters of the cache, for metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub cold_starts: std::sync::atomic::AtomicU64,
    pub evictions: std::sync::atomic::AtomicU64,
}

/// A script's current version.
struct Current {
    bundle: Arc<ScriptBundle>,
    version: Arc<str>,
}

/// Script name -> current version; version id -> live isolate.
pub struct ScriptRegistry {
    pool: Arc<WorkerPool>,
    defaults: IsolateDefaults,
    scripts: RwLock<HashMap<String, Current>>,
    isolates: Cache<Arc<str>, IsolateHandle>,
    /// Versions whose bundle failed to load, with the error: a bundle is immutable, so the
    /// error is remembered instead of re-booting it on every request.
    failed: Mutex<HashMap<Arc<str>, String>>,
    counters: Arc<CacheCounters>,
}

impl ScriptRegistry {
    pub fn new(pool: WorkerPool, defaults: IsolateDefaults, limits: CacheLimits) -> Self {
        let counters = Arc::new(CacheCounters::default());
        let evictions = counters.clone();
        let isolates = Cache::builder()
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            // Weights in KiB: the cache's capacity is a u64 and a weight a u32.
            .weigher(|_version: &Arc<str>, isolate: &IsolateHandle| {
                (isolate.heap_bytes() / 1024).clamp(1, u32::MAX as usize) as u32
            })
            .max_capacity(limits.memory_bytes / 1024)
            .time_to_idle(limits.idle_ttl)
            .eviction_listener(move |version, isolate: IsolateHandle, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    evictions
                        .evictions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                tracing::debug!(%version, ?cause, "isolate leaves the cache");
                isolate.shutdown();
            })
            .build();
        Self {
            pool: Arc::new(pool),
            defaults,
            scripts: RwLock::new(HashMap::new()),
            isolates,
            failed: Mutex::new(HashMap::new()),
            counters,
        }
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Isolates in the cache.
    pub fn cached_isolates(&self) -> u64 {
        self.isolates.entry_count()
    }

    /// Applies pending evictions now (moka does it lazily); for tests and metrics.
    pub async fn run_pending_evictions(&self) {
        self.isolates.run_pending_tasks().await;
    }

    /// Installs `bundle` as the current version of its script. The previous version's isolate
    /// leaves the cache and drains.
    pub fn replace(&self, bundle: ScriptBundle) {
        let version: Arc<str> = bundle.version_id().into();
        let name = bundle.name.clone();
        let previous = {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            scripts.insert(
                name,
                Current {
                    bundle: Arc::new(bundle),
                    version: version.clone(),
                },
            )
        };
        if let Some(previous) = previous
            && previous.version != version
        {
            self.retire(previous.version);
        }
    }

    /// Loads `bundle` into a new isolate and, once it is ready, makes it the current version
    /// of its script. On a load error the previous version stays in place.
    pub async fn install(&self, bundle: ScriptBundle) -> Result<(), RuntimeError> {
        let version: Arc<str> = bundle.version_id().into();
        let bundle = Arc::new(bundle);
        let isolate = self.load(&bundle).await?;
        self.isolates.insert(version.clone(), isolate).await;
        let previous = {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            scripts.insert(
                bundle.name.clone(),
                Current {
                    bundle,
                    version: version.clone(),
                },
            )
        };
        if let Some(previous) = previous
            && previous.version != version
        {
            self.retire(previous.version);
        }
        Ok(())
    }

    fn retire(&self, version: Arc<str>) {
        let isolates = self.isolates.clone();
        tokio::spawn(async move { isolates.invalidate(&version).await });
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) {
        let removed = {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            scripts.remove(name)
        };
        if let Some(removed) = removed {
            self.retire(removed.version);
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        let scripts = self.scripts.read().unwrap_or_else(|e| e.into_inner());
        scripts.contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        let scripts = self.scripts.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = scripts.keys().cloned().collect();
        names.sort();
        names
    }

    fn current(&self, name: &str) -> Option<(Arc<ScriptBundle>, Arc<str>)> {
        let scripts = self.scripts.read().unwrap_or_else(|e| e.into_inner());
        scripts
            .get(name)
            .map(|c| (c.bundle.clone(), c.version.clone()))
    }

    /// The live isolate of `name`'s current version, created if needed. `None` if no such
    /// script.
    pub async fn isolate(&self, name: &str) -> Option<Result<IsolateHandle, RuntimeError>> {
        let (bundle, version) = self.current(name)?;
        if let Some(message) = self.failed_load(&version) {
            return Some(Err(RuntimeError::Load {
                script: name.to_string(),
                message,
            }));
        }
        // Concurrent first requests share one load.
        let isolate = self
            .isolates
            .try_get_with(version.clone(), async {
                self.counters
                    .cold_starts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.load(&bundle).await
            })
            .await;
        let isolate = match isolate {
            Ok(isolate) => isolate,
            Err(err) => {
                let err = Arc::unwrap_or_clone(err);
                if let RuntimeError::Load { message, .. } = &err {
                    self.failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(version, message.clone());
                }
                return Some(Err(err));
            }
        };
        if isolate.is_closed() {
            // Condemned or crashed: boot the version again.
            self.isolates.invalidate(&version).await;
            return Some(Box::pin(self.isolate(name)).await.unwrap_or_else(|| {
                Err(RuntimeError::IsolateGone {
                    script: name.to_string(),
                })
            }));
        }
        Some(Ok(isolate))
    }

    fn failed_load(&self, version: &str) -> Option<String> {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.get(version).cloned()
    }

    async fn load(&self, bundle: &Arc<ScriptBundle>) -> Result<IsolateHandle, RuntimeError> {
        let options = IsolateOptions {
            log: LogSink::new(&bundle.name, self.defaults.log.clone()),
            outbound: self.defaults.outbound.clone(),
            wait_until: self.defaults.wait_until,
            limits: self.defaults.limits,
        };
        let started = std::time::Instant::now();
        let result = self.pool.load(bundle.clone(), options).await;
        match &result {
            Ok(isolate) => tracing::info!(
                script = %bundle.name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                heap_kib = isolate.heap_bytes() / 1024,
                "isolate ready"
            ),
            Err(err) => tracing::warn!(script = %bundle.name, %err, "script failed to load"),
        }
        result
    }

    /// Creates the isolates of every script now, so first requests do not wait.
    pub async fn warm_all(&self) {
        for name in self.names() {
            let _ = self.isolate(&name).await;
        }
    }

    /// Stops serving everything; every isolate drains and stops.
    pub async fn shutdown_all(&self) {
        self.scripts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.isolates.invalidate_all();
        self.isolates.run_pending_tasks().await;
    }
}
