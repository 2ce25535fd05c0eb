//! The scripts a node serves and the cache of their live isolates.
//!
//! Each script has a deployment: one [`ScriptBundle`] (a version) serving everything, or
//! several with weights during a gradual rollout, each request picking one at random. Isolates
//! live in a moka cache keyed by script and version id, bounded by the engine heap they use and
//! by idle time; an evicted isolate is asked to stop, finishes what it accepted, and is
//! disposed. Replacing a deployment is atomic: a request sees the old one or the new one, and
//! the isolates of versions that left it drain before they end.
//!
//! An isolate whose long computations keep its shared pool thread busy (a *hot* one, see
//! `skiff_runtime`'s `heat.rs`) is moved to a dedicated thread: the registry boots the same
//! version there in the background and swaps it into the cache once it is ready; the old
//! isolate drains. Requests never wait for the move, and none fails because of it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, Lane, LogEvent, LogSink, OutboundPolicy,
    RuntimeError, ScriptBundle, WorkerPool,
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

/// A script's versions and their weights (percentages): what its requests are split over.
pub type Deployment = Vec<(ScriptBundle, f64)>;

/// Counters of the cache, for metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub cold_starts: std::sync::atomic::AtomicU64,
    pub evictions: std::sync::atomic::AtomicU64,
    /// Hot isolates moved to a dedicated thread.
    pub moved_to_dedicated: std::sync::atomic::AtomicU64,
}

/// One version of a deployment: the bundle and its isolate cache key.
#[derive(Clone)]
struct Deployed {
    bundle: Arc<ScriptBundle>,
    /// `NAME@VERSION_ID`: scripts with identical code and env still get isolates of their own.
    key: Arc<str>,
}

/// What a script serves: one version, or several with weights (a gradual rollout).
struct Current {
    first: Deployed,
    /// The other versions, each with the cumulative weight up to and including it; empty
    /// when one version serves everything.
    others: Box<[(Deployed, f64)]>,
    /// The weight of `first`.
    first_weight: f64,
}

impl Current {
    /// Builds a deployment from versions and weights (percentages, or any non-negative
    /// numbers). Versions with a zero, negative or non-finite weight are left out, unless every
    /// weight is such: then the first version serves everything. `None` if `versions` is
    /// empty.
    fn new(name: &str, versions: Deployment) -> Option<Self> {
        let serves = |weight: f64| weight.is_finite() && weight > 0.0;
        let everything_zero = !versions.iter().any(|(_, w)| serves(*w));
        let mut deployed = versions
            .into_iter()
            .enumerate()
            .filter(|(i, (_, weight))| serves(*weight) || (everything_zero && *i == 0))
            .map(|(_, (mut bundle, weight))| {
                bundle.name = name.to_string();
                let key: Arc<str> = format!("{name}@{}", bundle.version_id()).into();
                let weight = if serves(weight) { weight } else { 1.0 };
                (
                    Deployed {
                        bundle: Arc::new(bundle),
                        key,
                    },
                    weight,
                )
            });
        let (first, first_weight) = deployed.next()?;
        let mut cumulative = first_weight;
        let others = deployed
            .map(|(d, weight)| {
                cumulative += weight;
                (d, cumulative)
            })
            .collect();
        Some(Self {
            first,
            others,
            first_weight,
        })
    }

    /// The version a request gets: always `first` for a single version, else a weighted
    /// random pick.
    fn pick(&self) -> &Deployed {
        let Some((_, total)) = self.others.last() else {
            return &self.first;
        };
        let point = fastrand::f64() * total;
        if point < self.first_weight {
            return &self.first;
        }
        self.others
            .iter()
            .find(|(_, cumulative)| point < *cumulative)
            .map_or(&self.first, |(d, _)| d)
    }

    fn versions(&self) -> impl Iterator<Item = &Deployed> {
        std::iter::once(&self.first).chain(self.others.iter().map(|(d, _)| d))
    }

    fn keys(&self) -> Vec<Arc<str>> {
        self.versions().map(|d| d.key.clone()).collect()
    }
}

/// Script name -> current deployment; version -> live isolate.
pub struct ScriptRegistry {
    pool: Arc<WorkerPool>,
    defaults: IsolateDefaults,
    scripts: RwLock<HashMap<String, Current>>,
    isolates: Cache<Arc<str>, IsolateHandle>,
    /// Versions whose bundle failed to load, with the error: a bundle is immutable, so the
    /// error is remembered instead of re-booting it on every request.
    failed: Mutex<HashMap<Arc<str>, String>>,
    /// Versions whose isolate is being moved to a dedicated thread.
    moving: Arc<Mutex<HashSet<Arc<str>>>>,
    /// Isolates being put back into the cache under their own key so that moka weighs them
    /// again (see [`ScriptRegistry::reweigh_when_measured`]): the eviction listener leaves them
    /// running.
    reweighing: Arc<Mutex<Vec<IsolateHandle>>>,
    counters: Arc<CacheCounters>,
}

impl ScriptRegistry {
    pub fn new(pool: WorkerPool, defaults: IsolateDefaults, limits: CacheLimits) -> Self {
        let counters = Arc::new(CacheCounters::default());
        let evictions = counters.clone();
        let reweighing: Arc<Mutex<Vec<IsolateHandle>>> = Arc::default();
        let reweighed = reweighing.clone();
        let isolates = Cache::builder()
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            // Weights in KiB: the cache's capacity is a u64 and a weight a u32.
            .weigher(|_version: &Arc<str>, isolate: &IsolateHandle| {
                (isolate.heap_bytes() / 1024).clamp(1, u32::MAX as usize) as u32
            })
            .max_capacity(limits.memory_bytes / 1024)
            .time_to_idle(limits.idle_ttl)
            .eviction_listener(move |version, isolate: IsolateHandle, cause| {
                // Replaced by itself, to be weighed again: it stays in the cache.
                {
                    let mut reweighed = lock(&reweighed);
                    if let Some(i) = reweighed.iter().position(|r| r.same_isolate(&isolate)) {
                        reweighed.swap_remove(i);
                        return;
                    }
                }
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
            moving: Arc::default(),
            reweighing,
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

    /// Installs `bundle` as the only version of its script. The previous versions' isolates
    /// leave the cache and drain.
    pub fn replace(&self, bundle: ScriptBundle) {
        let name = bundle.name.clone();
        self.replace_split(&name, vec![(bundle, 100.0)]);
    }

    /// Makes `versions` the deployment of `name`: each request picks one at random by weight
    /// (percentages; see [`ScriptRegistry::apply`] for zero weights). Every bundle is served
    /// under `name`. An empty list removes the script.
    pub fn replace_split(&self, name: &str, versions: Deployment) {
        let versions = (!versions.is_empty()).then_some(versions);
        self.apply(vec![(name.to_string(), versions)]);
    }

    /// Applies several deployments at once, under one lock: a request sees every script as
    /// it was before or as it is after. `None` (or an empty list) removes the script.
    /// Versions with a zero, negative or non-finite weight are not served, unless every weight of a
    /// deployment is such, then its first version serves everything. Versions that leave a
    /// deployment leave the isolate cache and drain.
    pub fn apply(&self, changes: Vec<(String, Option<Deployment>)>) {
        let prepared: Vec<(String, Option<Current>)> = changes
            .into_iter()
            .map(|(name, versions)| {
                let current = versions.and_then(|v| Current::new(&name, v));
                (name, current)
            })
            .collect();
        let mut retired = Vec::new();
        {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            for (name, current) in prepared {
                let kept = current.as_ref().map(Current::keys).unwrap_or_default();
                let previous = match current {
                    Some(current) => scripts.insert(name, current),
                    None => scripts.remove(&name),
                };
                if let Some(previous) = previous {
                    retired.extend(previous.keys().into_iter().filter(|k| !kept.contains(k)));
                }
            }
        }
        for key in retired {
            self.retire(key);
        }
    }

    /// Loads `bundle` into a new isolate and, once it is ready, makes it the only version of
    /// its script. On a load error the previous deployment stays in place.
    pub async fn install(&self, bundle: ScriptBundle) -> Result<(), RuntimeError> {
        let name = bundle.name.clone();
        let Some(current) = Current::new(&name, vec![(bundle, 100.0)]) else {
            return Ok(());
        };
        let isolate = self.load(&current.first.key, &current.first.bundle).await?;
        self.isolates
            .insert(current.first.key.clone(), isolate)
            .await;
        let kept = current.first.key.clone();
        let previous = {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            scripts.insert(name, current)
        };
        if let Some(previous) = previous {
            for key in previous.keys() {
                if key != kept {
                    self.retire(key);
                }
            }
        }
        Ok(())
    }

    fn retire(&self, key: Arc<str>) {
        let isolates = self.isolates.clone();
        tokio::spawn(async move { isolates.invalidate(&key).await });
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) {
        self.apply(vec![(name.to_string(), None)]);
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

    /// The version of `name` a request gets now.
    fn current(&self, name: &str) -> Option<Deployed> {
        let scripts = self.scripts.read().unwrap_or_else(|e| e.into_inner());
        scripts.get(name).map(|c| c.pick().clone())
    }

    /// Every version of `name`'s deployment.
    fn deployed(&self, name: &str) -> Vec<Deployed> {
        let scripts = self.scripts.read().unwrap_or_else(|e| e.into_inner());
        scripts
            .get(name)
            .map(|c| c.versions().cloned().collect())
            .unwrap_or_default()
    }

    /// The live isolate of a version of `name` (picked by the deployment's weights), created
    /// if needed. `None` if no such script.
    pub async fn isolate(&self, name: &str) -> Option<Result<IsolateHandle, RuntimeError>> {
        let deployed = self.current(name)?;
        let isolate = self.isolate_of(name, &deployed).await;
        if matches!(&isolate, Ok(isolate) if isolate.is_closed()) {
            // Condemned or crashed: boot the version again.
            self.isolates.invalidate(&deployed.key).await;
            return Some(Box::pin(self.isolate(name)).await.unwrap_or_else(|| {
                Err(RuntimeError::IsolateGone {
                    script: name.to_string(),
                })
            }));
        }
        if let Ok(isolate) = &isolate
            && isolate.lane() == Lane::Shared
            && isolate.is_hot()
        {
            self.move_to_dedicated(&deployed, isolate);
        }
        Some(isolate)
    }

    /// Boots `deployed` again on a dedicated thread, in the background, and swaps it into the
    /// cache in place of `hot` once it is ready (unless the cache holds another isolate for the
    /// version by then: a newer one, or none). The one the cache lets go drains. Nothing
    /// happens if a move of this version is under way or the pool has no dedicated thread to
    /// give.
    fn move_to_dedicated(&self, deployed: &Deployed, hot: &IsolateHandle) {
        if !self.pool.can_dedicate() {
            return;
        }
        if !lock(&self.moving).insert(deployed.key.clone()) {
            return;
        }
        let pool = self.pool.clone();
        let options = IsolateOptions {
            lane: Lane::Dedicated,
            ..self.options(&deployed.bundle)
        };
        let bundle = deployed.bundle.clone();
        let key = deployed.key.clone();
        let hot = hot.clone();
        let isolates = self.isolates.clone();
        let moving = self.moving.clone();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            match pool.load(bundle, options).await {
                Ok(moved) if moved.lane() == Lane::Dedicated => {
                    let swapped = isolates
                        .entry(key.clone())
                        .and_compute_with(|entry| {
                            let op = match entry {
                                Some(entry) if entry.value().same_isolate(&hot) => {
                                    Op::Put(moved.clone())
                                }
                                _ => Op::Nop,
                            };
                            std::future::ready(op)
                        })
                        .await;
                    if matches!(swapped, CompResult::ReplacedWith(_)) {
                        counters
                            .moved_to_dedicated
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::info!(version = %key, "hot isolate moved to a dedicated thread");
                    } else {
                        moved.shutdown();
                    }
                }
                // No dedicated thread was left after all.
                Ok(shared) => shared.shutdown(),
                Err(err) => {
                    tracing::warn!(version = %key, %err, "moving a hot isolate failed");
                }
            }
            lock(&moving).remove(&key);
        });
    }

    async fn isolate_of(
        &self,
        name: &str,
        deployed: &Deployed,
    ) -> Result<IsolateHandle, RuntimeError> {
        if let Some(message) = self.failed_load(&deployed.key) {
            return Err(RuntimeError::Load {
                script: name.to_string(),
                message,
            });
        }
        // Concurrent first requests share one load.
        let isolate = self
            .isolates
            .try_get_with(deployed.key.clone(), async {
                self.counters
                    .cold_starts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.load(&deployed.key, &deployed.bundle).await
            })
            .await;
        isolate.map_err(|err| {
            let err = Arc::unwrap_or_clone(err);
            if let RuntimeError::Load { message, .. } = &err {
                lock(&self.failed).insert(deployed.key.clone(), message.clone());
            }
            err
        })
    }

    /// An isolate made from a warm runtime enters the cache weighing an estimate of its heap;
    /// once the isolate has measured its heap (after its first request), this puts it back in
    /// the cache under its key, which makes moka weigh it again (and evict others if the
    /// budget is now exceeded). Nothing happens if the cache no longer holds it.
    fn reweigh_when_measured(&self, key: Arc<str>, isolate: IsolateHandle) {
        let isolates = self.isolates.clone();
        let reweighing = self.reweighing.clone();
        tokio::spawn(async move {
            let estimate = isolate.heap_bytes();
            let measured = isolate.heap_measured().await;
            if !isolate.is_heap_measured() {
                return;
            }
            tracing::info!(
                version = %key,
                heap_kib = measured / 1024,
                estimate_kib = estimate / 1024,
                "isolate heap measured"
            );
            isolates
                .entry(key)
                .and_compute_with(|entry| {
                    let op = match entry {
                        Some(entry) if entry.value().same_isolate(&isolate) => {
                            lock(&reweighing).push(isolate.clone());
                            Op::Put(entry.into_value())
                        }
                        _ => Op::Nop,
                    };
                    std::future::ready(op)
                })
                .await;
            // The listener has run by now (moka awaits it before the update returns); drop
            // the mark if it did not see it.
            lock(&reweighing).retain(|r| !r.same_isolate(&isolate));
        });
    }

    fn failed_load(&self, version: &str) -> Option<String> {
        lock(&self.failed).get(version).cloned()
    }

    fn options(&self, bundle: &ScriptBundle) -> IsolateOptions {
        IsolateOptions {
            log: LogSink::new(&bundle.name, self.defaults.log.clone()),
            outbound: self.defaults.outbound.clone(),
            wait_until: self.defaults.wait_until,
            limits: self.defaults.limits,
            lane: Lane::Shared,
        }
    }

    /// Loads the isolate of version `key` (whose bundle is `bundle`) for the cache.
    async fn load(
        &self,
        key: &Arc<str>,
        bundle: &Arc<ScriptBundle>,
    ) -> Result<IsolateHandle, RuntimeError> {
        let options = self.options(bundle);
        let started = std::time::Instant::now();
        let result = self.pool.load(bundle.clone(), options).await;
        match &result {
            Ok(isolate) => tracing::info!(
                script = %bundle.name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                heap_kib = isolate.heap_bytes() / 1024,
                heap_measured = isolate.is_heap_measured(),
                "isolate ready"
            ),
            Err(err) => tracing::warn!(script = %bundle.name, %err, "script failed to load"),
        }
        if let Ok(isolate) = &result
            && !isolate.is_heap_measured()
        {
            self.reweigh_when_measured(key.clone(), isolate.clone());
        }
        result
    }

    /// Creates the isolates of every script now, so first requests do not wait.
    pub async fn warm_all(&self) {
        for name in self.names() {
            self.warm(&name).await;
        }
    }

    /// Creates the isolates of every version of `name`'s deployment now. A version that
    /// fails to load is remembered as failed (its requests get 503); nothing else happens.
    pub async fn warm(&self, name: &str) {
        for deployed in self.deployed(name) {
            let _ = self.isolate_of(name, &deployed).await;
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(source: &str) -> ScriptBundle {
        ScriptBundle::single("s", source)
    }

    #[test]
    fn a_split_picks_versions_by_weight() {
        let current = Current::new("s", vec![(version("a"), 90.0), (version("b"), 10.0)])
            .expect("a deployment");
        let b = current.others[0].0.key.clone();
        let picks = 100_000;
        let of_b = (0..picks).filter(|_| current.pick().key == b).count();
        let share = of_b as f64 / picks as f64;
        assert!((share - 0.10).abs() < 0.01, "b got {share}");
    }

    #[test]
    fn zero_weights_are_not_served() {
        let current = Current::new("s", vec![(version("a"), 0.0), (version("b"), 100.0)])
            .expect("a deployment");
        assert!(current.others.is_empty());
        assert_eq!(current.pick().bundle.modules["index.js"], "b");
        let all_zero = Current::new("s", vec![(version("a"), 0.0), (version("b"), f64::NAN)])
            .expect("a deployment");
        assert_eq!(all_zero.pick().bundle.modules["index.js"], "a");
        assert!(Current::new("s", Vec::new()).is_none());
    }

    #[test]
    fn identical_bundles_of_two_scripts_get_isolates_of_their_own() {
        let one = Current::new("one", vec![(version("x"), 100.0)]).expect("a deployment");
        let two = Current::new("two", vec![(version("x"), 100.0)]).expect("a deployment");
        assert_ne!(one.first.key, two.first.key);
        assert_eq!(two.first.bundle.name, "two");
    }
}
