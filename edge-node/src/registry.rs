//! The scripts a node serves: each script's deployment, and which version a request gets.
//!
//! Each script has a deployment: one [`ScriptBundle`] (a version) serving everything, or
//! several with weights during a gradual rollout, each request picking one at random. The
//! isolates themselves live in the runtime's [`IsolateCache`], keyed by script and version id.
//! Replacing a deployment is atomic: a request sees the old one or the new one, and the
//! isolates of versions that left it drain before they end.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use skiff_runtime::{
    CacheCounters, CacheLimits, IsolateCache, IsolateHandle, IsolateLimits, IsolateOptions, Lane,
    LogEvent, LogSink, NodeBindings, OutboundPolicy, RuntimeError, ScriptBundle, Version,
    WorkerPool,
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
    /// The node's side of the `env` bindings (KV).
    pub bindings: NodeBindings,
}

impl IsolateDefaults {
    /// The options of `bundle`'s isolates.
    fn options(&self, bundle: &ScriptBundle) -> IsolateOptions {
        IsolateOptions {
            log: LogSink::new(&bundle.name, self.log.clone()).with_version(&bundle.version_label()),
            outbound: self.outbound.clone(),
            wait_until: self.wait_until,
            limits: self.limits,
            lane: Lane::Shared,
            bindings: self.bindings.clone(),
            heap_census: false,
        }
    }
}

/// A script's versions and their weights (percentages): what its requests are split over.
pub type Deployment = Vec<(ScriptBundle, f64)>;

/// One version of a deployment. Its key is `NAME@VERSION_ID`: scripts with identical code and
/// env still get isolates of their own.
type Deployed = Version;

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
    fn new(name: &str, versions: Deployment, defaults: &IsolateDefaults) -> Option<Self> {
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
                let options = defaults.options(&bundle);
                (
                    Deployed {
                        key,
                        bundle: Arc::new(bundle),
                        options,
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

/// Script name -> current deployment, over the isolate cache.
pub struct ScriptRegistry {
    defaults: IsolateDefaults,
    scripts: RwLock<HashMap<String, Current>>,
    isolates: IsolateCache,
}

impl ScriptRegistry {
    pub fn new(pool: WorkerPool, defaults: IsolateDefaults, limits: CacheLimits) -> Self {
        Self {
            defaults,
            scripts: RwLock::new(HashMap::new()),
            isolates: IsolateCache::new(pool, limits),
        }
    }

    pub fn pool(&self) -> &WorkerPool {
        self.isolates.pool()
    }

    pub fn counters(&self) -> &CacheCounters {
        self.isolates.counters()
    }

    /// Isolates in the cache.
    pub fn cached_isolates(&self) -> u64 {
        self.isolates.len()
    }

    /// Extra isolates running beside the cached ones of busy versions.
    pub fn extra_isolates(&self) -> usize {
        self.isolates.extra_isolates()
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
                let current = versions.and_then(|v| Current::new(&name, v, &self.defaults));
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
            self.isolates.retire(key);
        }
    }

    /// Loads `bundle` into a new isolate and, once it is ready, makes it the only version of
    /// its script. On a load error the previous deployment stays in place.
    pub async fn install(&self, bundle: ScriptBundle) -> Result<(), RuntimeError> {
        let name = bundle.name.clone();
        let Some(current) = Current::new(&name, vec![(bundle, 100.0)], &self.defaults) else {
            return Ok(());
        };
        self.isolates.install(&current.first).await?;
        let kept = current.first.key.clone();
        let previous = {
            let mut scripts = self.scripts.write().unwrap_or_else(|e| e.into_inner());
            scripts.insert(name, current)
        };
        if let Some(previous) = previous {
            for key in previous.keys() {
                if key != kept {
                    self.isolates.retire(key);
                }
            }
        }
        Ok(())
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
        Some(self.isolates.get(&deployed).await)
    }

    /// The scripts whose isolates are in the cache, busiest first, at most `limit`.
    pub fn busiest_scripts(&self, limit: usize) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        // Several versions of a script (a rollout) may be cached: the script counts once.
        for key in self.isolates.busiest(usize::MAX) {
            let name = key.split('@').next().unwrap_or_default();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
            if names.len() == limit {
                break;
            }
        }
        names
    }

    /// Creates the isolates of `names` now, one script after the other, so that their first
    /// requests do not wait and the node's threads stay free for requests meanwhile. Names the
    /// registry does not serve are skipped.
    pub async fn warm_scripts(&self, names: &[String]) {
        for name in names {
            self.warm(name).await;
        }
    }

    /// Creates the isolates of every version of `name`'s deployment now. A version whose code
    /// fails to load is remembered as failed (its requests get 503); nothing else happens.
    pub async fn warm(&self, name: &str) {
        for deployed in self.deployed(name) {
            let _ = self.isolates.get(&deployed).await;
        }
    }

    /// Stops serving everything; every isolate drains and stops.
    pub async fn shutdown_all(&self) {
        self.scripts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.isolates.clear().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(source: &str) -> ScriptBundle {
        ScriptBundle::single("s", source)
    }

    fn defaults() -> IsolateDefaults {
        IsolateDefaults {
            outbound: OutboundPolicy::default(),
            wait_until: skiff_runtime::DEFAULT_WAIT_UNTIL,
            limits: IsolateLimits::default(),
            log: Arc::new(|_| {}),
            bindings: NodeBindings::default(),
        }
    }

    #[test]
    fn a_split_picks_versions_by_weight() {
        let current = Current::new(
            "s",
            vec![(version("a"), 90.0), (version("b"), 10.0)],
            &defaults(),
        )
        .expect("a deployment");
        let b = current.others[0].0.key.clone();
        let picks = 100_000;
        let of_b = (0..picks).filter(|_| current.pick().key == b).count();
        let share = of_b as f64 / picks as f64;
        assert!((share - 0.10).abs() < 0.01, "b got {share}");
    }

    #[test]
    fn zero_weights_are_not_served() {
        let current = Current::new(
            "s",
            vec![(version("a"), 0.0), (version("b"), 100.0)],
            &defaults(),
        )
        .expect("a deployment");
        assert!(current.others.is_empty());
        assert_eq!(current.pick().bundle.modules["index.js"], "b");
        let all_zero = Current::new(
            "s",
            vec![(version("a"), 0.0), (version("b"), f64::NAN)],
            &defaults(),
        )
        .expect("a deployment");
        assert_eq!(all_zero.pick().bundle.modules["index.js"], "a");
        assert!(Current::new("s", Vec::new(), &defaults()).is_none());
    }

    #[test]
    fn identical_bundles_of_two_scripts_get_isolates_of_their_own() {
        let one =
            Current::new("one", vec![(version("x"), 100.0)], &defaults()).expect("a deployment");
        let two =
            Current::new("two", vec![(version("x"), 100.0)], &defaults()).expect("a deployment");
        assert_ne!(one.first.key, two.first.key);
        assert_eq!(two.first.bundle.name, "two");
    }
}
