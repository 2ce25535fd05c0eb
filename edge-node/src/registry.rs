//! The scripts a node serves and their live isolates.
//!
//! Each script has one current [`ScriptBundle`]; its isolate is created on first use (or by
//! [`ScriptRegistry::warm_all`]) and re-created if it stopped. Replacing a script swaps the
//! slot atomically: a request sees the old version or the new one, and the old isolate
//! finishes what it accepted before it ends.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, LogEvent, LogSink, OutboundPolicy, RuntimeError,
    ScriptBundle, WorkerPool,
};

/// Receives every log event of every isolate on the node.
pub type LogHook = Arc<dyn Fn(LogEvent) + Send + Sync>;

struct Slot {
    bundle: Arc<ScriptBundle>,
    isolate: tokio::sync::Mutex<SlotState>,
}

/// A script version's isolate: not created yet (or stopped), live, or failed to load. A bundle
/// is immutable, so a load error is remembered instead of being retried on every request.
enum SlotState {
    Empty,
    Live(IsolateHandle),
    Failed(String),
}

impl Slot {
    fn new(bundle: Arc<ScriptBundle>, state: SlotState) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            isolate: tokio::sync::Mutex::new(state),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let SlotState::Live(isolate) = self.isolate.get_mut() {
            isolate.shutdown();
        }
    }
}

/// How isolates of this node are configured.
#[derive(Clone)]
pub struct IsolateDefaults {
    pub outbound: OutboundPolicy,
    pub wait_until: std::time::Duration,
    pub limits: IsolateLimits,
    pub log: LogHook,
}

/// Script name -> current version and its isolate.
pub struct ScriptRegistry {
    pool: WorkerPool,
    defaults: IsolateDefaults,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
}

impl ScriptRegistry {
    pub fn new(pool: WorkerPool, defaults: IsolateDefaults) -> Self {
        Self {
            pool,
            defaults,
            slots: RwLock::new(HashMap::new()),
        }
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// Installs `bundle` as the current version of its script.
    pub fn replace(&self, bundle: ScriptBundle) {
        let slot = Slot::new(Arc::new(bundle), SlotState::Empty);
        let name = slot.bundle.name.clone();
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.insert(name, slot);
    }

    /// Loads `bundle` into a new isolate and, once it is ready, makes it the current version
    /// of its script. On a load error the previous version stays in place.
    pub async fn install(&self, bundle: ScriptBundle) -> Result<(), RuntimeError> {
        let bundle = Arc::new(bundle);
        let isolate = self.load(&bundle).await?;
        let slot = Slot::new(bundle, SlotState::Live(isolate));
        let name = slot.bundle.name.clone();
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.insert(name, slot);
        Ok(())
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.remove(name);
    }

    pub fn contains(&self, name: &str) -> bool {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = slots.keys().cloned().collect();
        names.sort();
        names
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(name).cloned()
    }

    /// The live isolate of `name`, created if needed. `None` if no such script.
    pub async fn isolate(&self, name: &str) -> Option<Result<IsolateHandle, RuntimeError>> {
        let slot = self.slot(name)?;
        let mut state = slot.isolate.lock().await;
        match &*state {
            SlotState::Live(handle) if !handle.is_closed() => return Some(Ok(handle.clone())),
            SlotState::Failed(message) => {
                return Some(Err(RuntimeError::Load {
                    script: name.to_string(),
                    message: message.clone(),
                }));
            }
            SlotState::Live(_) | SlotState::Empty => {}
        }
        let loaded = self.load(&slot.bundle).await;
        match &loaded {
            Ok(handle) => *state = SlotState::Live(handle.clone()),
            Err(RuntimeError::Load { message, .. }) => *state = SlotState::Failed(message.clone()),
            Err(_) => *state = SlotState::Empty,
        }
        Some(loaded)
    }

    async fn load(&self, bundle: &Arc<ScriptBundle>) -> Result<IsolateHandle, RuntimeError> {
        let log = self.defaults.log.clone();
        let options = IsolateOptions {
            log: LogSink::new(&bundle.name, log),
            outbound: self.defaults.outbound.clone(),
            wait_until: self.defaults.wait_until,
            limits: self.defaults.limits,
        };
        let started = std::time::Instant::now();
        let result = self.pool.load(bundle.clone(), options).await;
        match &result {
            Ok(_) => {
                tracing::info!(script = %bundle.name, elapsed_ms = started.elapsed().as_millis() as u64, "isolate ready")
            }
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

    /// Asks every isolate to stop once its work is done.
    pub fn shutdown_all(&self) {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.clear();
    }
}
