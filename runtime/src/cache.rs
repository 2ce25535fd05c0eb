//! The isolate cache: one live isolate per version, booted on its first request.
//!
//! Isolates live in a moka cache keyed by version, bounded by the engine heap they use and by
//! idle time; an evicted isolate is asked to stop, finishes what it accepted, and is disposed.
//! An isolate made from a warm runtime enters weighing an estimate of its heap and is weighed
//! again once its heap is measured. A version whose own code failed to load is remembered, so
//! that it is not booted on every request; a platform fault is not, so the version boots again
//! on the next request.
//!
//! A busy version runs more than one isolate: when even the least busy of its isolates has
//! requests waiting ([`SCALE_OUT_QUEUED`]), the cache starts another on a different pool
//! thread, up to [`CacheLimits::isolates_per_version`] (one per thread by default), and sends
//! each request to the isolate with the fewest waiting. The extras live beside the cache (they
//! are not weighed); one that has served nothing for [`CacheLimits::scale_in_after`] is let go,
//! and all of a version's go when its cached isolate leaves the cache. Global state is per
//! isolate, as on Cloudflare, where it is never promised to be shared.
//!
//! An isolate whose long computations keep its shared pool thread busy (a *hot* one, see
//! `heat.rs`) is moved to a dedicated thread: the cache boots the same version there in the
//! background and swaps it in once it is ready; the old isolate drains: it serves what it was
//! sent, then closes its queue, and a request that reaches it after that (its sender took the
//! isolate from the cache just before the swap) goes on to the new one. Requests never wait
//! for the move, and none fails because of it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};

use crate::{IsolateHandle, IsolateOptions, Lane, RuntimeError, ScriptBundle, WorkerPool};

/// Bounds of the isolate cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// Total engine heap of cached isolates, in bytes.
    pub memory_bytes: u64,
    /// An isolate that served nothing for this long is evicted.
    pub idle_ttl: Duration,
    /// Isolates one version may run at once when busy (see the module docs: "A busy
    /// version"); 0 means one per pool thread.
    pub isolates_per_version: usize,
    /// An extra isolate of a busy version that served nothing for this long is let go.
    pub scale_in_after: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 4 * 1024 * 1024 * 1024,
            idle_ttl: Duration::from_secs(15 * 60),
            isolates_per_version: 0,
            scale_in_after: Duration::from_secs(10),
        }
    }
}

/// Requests waiting in the least busy isolate of a version past which the version gets
/// another isolate (if its cap allows).
const SCALE_OUT_QUEUED: u64 = 4;

/// Counters of the cache, for metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub cold_starts: AtomicU64,
    pub evictions: AtomicU64,
    /// Hot isolates moved to a dedicated thread.
    pub moved_to_dedicated: AtomicU64,
    /// Extra isolates started for busy versions, and let go once their load fell.
    pub scaled_out: AtomicU64,
    pub scaled_in: AtomicU64,
}

/// Versions whose own code failed to load that are remembered at most; the oldest are
/// forgotten first (and boot again if asked for).
const MAX_FAILED_VERSIONS: u64 = 10_000;

/// One version to serve: its cache key, its bundle and how its isolates are set up.
#[derive(Clone)]
pub struct Version {
    /// Unique per version on this node (the registry uses `NAME@VERSION_ID`).
    pub key: Arc<str>,
    pub bundle: Arc<ScriptBundle>,
    pub options: IsolateOptions,
}

/// Version key -> live isolate, over a [`WorkerPool`].
pub struct IsolateCache {
    pool: Arc<WorkerPool>,
    isolates: Cache<Arc<str>, IsolateHandle>,
    /// Versions whose own code failed to load, with the error: a version is immutable, so
    /// the error is remembered instead of booting it on every request.
    failed: moka::sync::Cache<Arc<str>, RuntimeError>,
    /// Versions whose isolate is being moved to a dedicated thread.
    moving: Arc<Mutex<HashSet<Arc<str>>>>,
    /// Isolates being put back into the cache under their own key so that moka weighs them
    /// again (see [`IsolateCache::reweigh_when_measured`]): the eviction listener leaves them
    /// running.
    reweighing: Arc<Mutex<Vec<IsolateHandle>>>,
    extras: Arc<Mutex<Extras>>,
    /// Isolates one version may run at once (the cached one and its extras).
    per_version: usize,
    scale_in_after: Duration,
    counters: Arc<CacheCounters>,
}

/// The extra isolates of busy versions, beside the one in the cache (see the module docs).
#[derive(Default)]
struct Extras {
    running: HashMap<Arc<str>, Vec<IsolateHandle>>,
    /// Versions whose next extra isolate is booting.
    booting: HashSet<Arc<str>>,
}

impl Extras {
    /// Lets every extra isolate of `key` go.
    fn let_go(&mut self, key: &str) {
        for extra in self.running.remove(key).unwrap_or_default() {
            extra.shutdown();
        }
    }
}

impl IsolateCache {
    pub fn new(pool: WorkerPool, limits: CacheLimits) -> Self {
        let counters = Arc::new(CacheCounters::default());
        let evictions = counters.clone();
        let reweighing: Arc<Mutex<Vec<IsolateHandle>>> = Arc::default();
        let reweighed = reweighing.clone();
        let extras: Arc<Mutex<Extras>> = Arc::default();
        let extras_gone = extras.clone();
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
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(%version, ?cause, "isolate leaves the cache");
                isolate.shutdown();
                // Replaced by another isolate of the same version, the extras stay theirs.
                if cause != RemovalCause::Replaced {
                    lock(&extras_gone).let_go(&version);
                }
            })
            .build();
        let per_version = match limits.isolates_per_version {
            0 => pool.threads(),
            n => n,
        };
        Self {
            pool: Arc::new(pool),
            isolates,
            failed: moka::sync::Cache::new(MAX_FAILED_VERSIONS),
            moving: Arc::default(),
            reweighing,
            extras,
            per_version,
            scale_in_after: limits.scale_in_after,
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
    pub fn len(&self) -> u64 {
        self.isolates.entry_count()
    }

    /// Extra isolates running beside the cached ones of busy versions.
    pub fn extra_isolates(&self) -> usize {
        lock(&self.extras).running.values().map(Vec::len).sum()
    }

    /// True if the cache holds no isolate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies pending evictions now (moka does it lazily); for tests and metrics.
    pub async fn run_pending_tasks(&self) {
        self.isolates.run_pending_tasks().await;
    }

    /// The live isolate of `version` for one request, booted if needed (concurrent first
    /// requests share one load): of a busy version's isolates, the one with the fewest
    /// requests waiting. A condemned or crashed isolate is replaced by a new one; a hot one is
    /// moved to a dedicated thread in the background, and a busy version gets another isolate
    /// in the background.
    pub async fn get(&self, version: &Version) -> Result<IsolateHandle, RuntimeError> {
        let isolate = self.get_cached(version).await?;
        Ok(self.spread(version, isolate))
    }

    async fn get_cached(&self, version: &Version) -> Result<IsolateHandle, RuntimeError> {
        let mut isolate = self.get_or_load(version).await;
        if matches!(&isolate, Ok(isolate) if isolate.is_closed()) {
            self.isolates.invalidate(&version.key).await;
            isolate = self.get_or_load(version).await;
        }
        if let Ok(isolate) = &isolate
            && isolate.lane() == Lane::Shared
            && isolate.is_hot()
        {
            self.move_to_dedicated(version, isolate);
        }
        isolate
    }

    /// The versions whose isolates are in the cache, busiest first (by the requests each was
    /// sent), at most `limit`.
    pub fn busiest(&self, limit: usize) -> Vec<Arc<str>> {
        let mut keys: Vec<(Arc<str>, u64)> = self
            .isolates
            .iter()
            .map(|(key, isolate)| ((*key).clone(), isolate.requests()))
            .collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        keys.into_iter().take(limit).map(|(key, _)| key).collect()
    }

    /// Boots `version` now and puts its isolate in the cache in place of any other, which
    /// hands it the requests that reach it after it has drained.
    pub async fn install(&self, version: &Version) -> Result<(), RuntimeError> {
        let isolate = self.load(version, version.options.clone()).await;
        let isolate = self.remember_failure(&version.key, isolate)?;
        self.isolates
            .entry(version.key.clone())
            .and_compute_with(|entry| {
                if let Some(entry) = entry {
                    entry.value().forward_to(&isolate);
                }
                std::future::ready(Op::Put(isolate))
            })
            .await;
        Ok(())
    }

    /// Lets `key`'s isolate go: it leaves the cache and drains. Its remembered failure, if
    /// any, is forgotten too.
    pub fn retire(&self, key: Arc<str>) {
        self.failed.invalidate(&key);
        let isolates = self.isolates.clone();
        tokio::spawn(async move { isolates.invalidate(&key).await });
    }

    /// Lets every isolate go; each drains and stops.
    pub async fn clear(&self) {
        self.failed.invalidate_all();
        self.isolates.invalidate_all();
        self.isolates.run_pending_tasks().await;
    }

    async fn get_or_load(&self, version: &Version) -> Result<IsolateHandle, RuntimeError> {
        if let Some(err) = self.failed.get(&version.key) {
            return Err(err);
        }
        let isolate = self
            .isolates
            .try_get_with(version.key.clone(), async {
                self.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
                self.load(version, version.options.clone()).await
            })
            .await
            .map_err(Arc::unwrap_or_clone);
        self.remember_failure(&version.key, isolate)
    }

    /// Remembers a load failure of the version's own code (never a platform fault).
    fn remember_failure(
        &self,
        key: &Arc<str>,
        result: Result<IsolateHandle, RuntimeError>,
    ) -> Result<IsolateHandle, RuntimeError> {
        if let Err(err) = &result
            && err.is_tenant_load_failure()
        {
            self.failed.insert(key.clone(), err.clone());
        }
        result
    }

    /// Boots an isolate of `version` with `options` (its lane may differ from the version's).
    async fn load(
        &self,
        version: &Version,
        options: IsolateOptions,
    ) -> Result<IsolateHandle, RuntimeError> {
        let started = std::time::Instant::now();
        let result = self.pool.load(version.bundle.clone(), options).await;
        let script = &version.bundle.name;
        let label = version.options.log.version();
        match &result {
            Ok(isolate) => tracing::info!(
                %script,
                version = %label,
                elapsed_ms = started.elapsed().as_millis() as u64,
                heap_kib = isolate.heap_bytes() / 1024,
                heap_measured = isolate.is_heap_measured(),
                "isolate ready"
            ),
            Err(err) if err.is_tenant_load_failure() => {
                tracing::warn!(%script, version = %label, error = %err, "isolate not started");
            }
            Err(err) => {
                tracing::error!(%script, version = %label, error = %err, "isolate not started");
            }
        }
        if let Ok(isolate) = &result
            && !isolate.is_heap_measured()
        {
            self.reweigh_when_measured(version.key.clone(), isolate.clone());
        }
        result
    }

    /// Boots `version` again on a dedicated thread, in the background, and swaps it into the
    /// cache in place of `hot` once it is ready (unless the cache holds another isolate for the
    /// version by then: a newer one, or none). The one the cache lets go drains. Nothing
    /// happens if a move of this version is under way or the pool has no dedicated thread to
    /// give.
    fn move_to_dedicated(&self, version: &Version, hot: &IsolateHandle) {
        if !self.pool.can_dedicate() {
            return;
        }
        if !lock(&self.moving).insert(version.key.clone()) {
            return;
        }
        let pool = self.pool.clone();
        let options = IsolateOptions {
            lane: Lane::Dedicated,
            ..version.options.clone()
        };
        let bundle = version.bundle.clone();
        let key = version.key.clone();
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
                                    hot.forward_to(&moved);
                                    Op::Put(moved.clone())
                                }
                                _ => Op::Nop,
                            };
                            std::future::ready(op)
                        })
                        .await;
                    if matches!(swapped, CompResult::ReplacedWith(_)) {
                        counters.moved_to_dedicated.fetch_add(1, Ordering::Relaxed);
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

    /// Of `cached` and the version's extra isolates, the one with the fewest requests waiting
    /// (the first of those, so a light load stays on `cached` and leaves the extras idle).
    /// If even that one has [`SCALE_OUT_QUEUED`] waiting, another isolate of the version is
    /// started, up to the cap.
    fn spread(&self, version: &Version, cached: IsolateHandle) -> IsolateHandle {
        if self.per_version <= 1 {
            return cached;
        }
        let mut extras = lock(&self.extras);
        let Extras { running, booting } = &mut *extras;
        let (chosen, count) = match running.get_mut(&version.key) {
            Some(list) => {
                list.retain(|extra| !extra.is_closed());
                let chosen = std::iter::once(&cached)
                    .chain(list.iter())
                    .min_by_key(|isolate| isolate.queued())
                    .unwrap_or(&cached)
                    .clone();
                (chosen, 1 + list.len())
            }
            None => (cached.clone(), 1),
        };
        if chosen.queued() >= SCALE_OUT_QUEUED
            && count < self.per_version
            && booting.insert(version.key.clone())
        {
            drop(extras);
            self.scale_out(version, cached);
        }
        chosen
    }

    /// Starts another isolate of `version` in the background, on another thread than
    /// `cached`'s, and adds it to the version's extras once ready (unless the cache no longer
    /// holds the version by then). It is let go once it has served nothing for
    /// [`CacheLimits::scale_in_after`].
    fn scale_out(&self, version: &Version, cached: IsolateHandle) {
        let pool = self.pool.clone();
        let bundle = version.bundle.clone();
        let options = version.options.clone();
        let key = version.key.clone();
        let isolates = self.isolates.clone();
        let extras = self.extras.clone();
        let counters = self.counters.clone();
        let scale_in_after = self.scale_in_after;
        tokio::spawn(async move {
            let loaded = pool.load_apart(bundle, options, &cached).await;
            let extra = {
                let mut extras = lock(&extras);
                extras.booting.remove(&key);
                match loaded {
                    Ok(extra) if isolates.contains_key(&key) => {
                        extras
                            .running
                            .entry(key.clone())
                            .or_default()
                            .push(extra.clone());
                        extra
                    }
                    Ok(extra) => {
                        extra.shutdown();
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(version = %key, %err, "an extra isolate did not start");
                        return;
                    }
                }
            };
            counters.scaled_out.fetch_add(1, Ordering::Relaxed);
            tracing::info!(version = %key, "busy version got another isolate");
            // Let go once idle: requests go to it only while the others have a queue.
            let mut served = extra.requests();
            loop {
                tokio::time::sleep(scale_in_after).await;
                if extra.is_closed() {
                    break;
                }
                let now = extra.requests();
                if now > served {
                    served = now;
                    continue;
                }
                let listed = {
                    let mut extras = lock(&extras);
                    let listed = extras.running.get_mut(&key).map(|list| {
                        list.retain(|other| !other.same_isolate(&extra));
                        list.is_empty()
                    });
                    if listed == Some(true) {
                        extras.running.remove(&key);
                    }
                    listed.is_some()
                };
                // Let go with the rest of the version's extras meanwhile.
                if !listed {
                    break;
                }
                if let Some(cached) = isolates.get(&key).await {
                    extra.forward_to(&cached);
                }
                extra.shutdown();
                counters.scaled_in.fetch_add(1, Ordering::Relaxed);
                tracing::info!(version = %key, "an extra isolate of a version was let go");
                break;
            }
        });
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
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
