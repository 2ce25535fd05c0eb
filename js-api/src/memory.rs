//! Memory a tenant holds outside the engine heap, counted against its isolate's memory limit.
//!
//! The engine's heap limit sees only what the engine allocates. Blob parts live in Rust (deno's
//! blob store copies every `Blob`'s bytes into a part), so 264 blobs of 4 MiB once held 1 GiB
//! in an isolate limited to 128 MiB. [`CountedBlobStore`] is deno's store with a count: each
//! part's size is added when the part is stored and taken off when deno removes it (when its
//! `Blob` is collected), and past the limit the isolate's runtime is told through the hook it
//! set on [`ExternalMemory`], which condemns the isolate as the engine's near-heap-limit
//! callback does. Everything in the store goes with the runtime's `OpState`.
//!
//! A sliced part is counted at its own size although it shares its parent's bytes: the count
//! may run ahead of the memory, never behind it.
//!
//! The count also goes to the engine, through the charge the runtime attaches: the engine's heap
//! limit is lowered by what the isolate holds outside the heap (the `less_external_memory`
//! patch in vendor/v8x), so heap and external memory share one budget. The count's own limit
//! stays as a second, immediate check for bytes held outside the heap alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use deno_core::url::Url;
use deno_web::{Blob, BlobPart, BlobStore, BlobStoreTrait};
use uuid::Uuid;

/// Called once the count passes the limit.
type Exceeded = Box<dyn Fn() + Send + Sync>;

/// Tells the engine of a change in the count, in bytes.
type Charge = Box<dyn Fn(i64) + Send + Sync>;

/// The bytes one isolate holds outside the engine heap, and its limit.
#[derive(Default)]
pub struct ExternalMemory {
    used: AtomicUsize,
    /// Zero until the runtime sets it: nothing is limited before.
    limit: AtomicUsize,
    exceeded: OnceLock<Exceeded>,
    /// Set while the isolate lives (see [`ExternalMemory::attach`]).
    charge: Mutex<Option<Charge>>,
}

impl std::fmt::Debug for ExternalMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalMemory")
            .field("used", &self.used())
            .field("limit", &self.limit.load(Ordering::Relaxed))
            .finish()
    }
}

impl ExternalMemory {
    /// Limits the count to `bytes`; `exceeded` is called (from the isolate's thread) when an
    /// allocation takes it past them. Set once, by the runtime that owns the isolate.
    pub fn set_limit(&self, bytes: usize, exceeded: impl Fn() + Send + Sync + 'static) {
        let _ = self.exceeded.set(Box::new(exceeded));
        self.limit.store(bytes, Ordering::Release);
    }

    /// Passes every change in the count (and the count so far) to `charge`, until
    /// [`detach`](Self::detach). The count changes in ops and finalizers, on the isolate's
    /// thread, so `charge` is only ever called there.
    pub fn attach(&self, charge: impl Fn(i64) + Send + Sync + 'static) {
        let mut slot = self.charge.lock().unwrap_or_else(|e| e.into_inner());
        charge(self.used() as i64);
        *slot = Some(Box::new(charge));
    }

    /// Stops passing changes on: called before the isolate is disposed.
    pub fn detach(&self) {
        *self.charge.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn charge(&self, delta: i64) {
        if let Some(charge) = &*self.charge.lock().unwrap_or_else(|e| e.into_inner()) {
            charge(delta);
        }
    }

    pub(crate) fn add(&self, bytes: usize) {
        let used = self
            .used
            .fetch_add(bytes, Ordering::AcqRel)
            .saturating_add(bytes);
        self.charge(bytes as i64);
        let limit = self.limit.load(Ordering::Acquire);
        if limit > 0
            && used > limit
            && let Some(exceeded) = self.exceeded.get()
        {
            exceeded();
        }
    }

    pub(crate) fn sub(&self, bytes: usize) {
        let before = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            })
            .unwrap_or_default();
        self.charge(-(before.min(bytes) as i64));
    }
}

/// deno's blob store, counting the bytes of the parts it holds (see the module docs).
#[derive(Debug)]
pub(crate) struct CountedBlobStore {
    store: BlobStore,
    memory: Arc<ExternalMemory>,
}

impl CountedBlobStore {
    pub(crate) fn new(memory: Arc<ExternalMemory>) -> Self {
        Self {
            store: BlobStore::default(),
            memory,
        }
    }
}

impl BlobStoreTrait for CountedBlobStore {
    fn insert_part(&self, part: Arc<dyn BlobPart + Send + Sync>) -> Uuid {
        let size = part.size();
        let id = self.store.insert_part(part);
        self.memory.add(size);
        id
    }

    fn get_part(&self, id: &Uuid) -> Option<Arc<dyn BlobPart + Send + Sync>> {
        self.store.get_part(id)
    }

    fn remove_part(&self, id: &Uuid) -> Option<Arc<dyn BlobPart + Send + Sync>> {
        let part = self.store.remove_part(id);
        if let Some(part) = &part {
            self.memory.sub(part.size());
        }
        part
    }

    fn get_object_url(&self, url: Url) -> Option<Arc<Blob>> {
        self.store.get_object_url(url)
    }

    fn insert_object_url(&self, blob: Blob, maybe_location: Option<Url>) -> Url {
        self.store.insert_object_url(blob, maybe_location)
    }

    fn remove_object_url(&self, url: &Url) {
        self.store.remove_object_url(url)
    }

    fn clear(&self) {
        self.store.clear();
        let before = self.memory.used.swap(0, Ordering::AcqRel);
        self.memory.charge(-(before as i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Debug)]
    struct Part(usize);

    #[async_trait::async_trait]
    impl BlobPart for Part {
        async fn read<'a>(&'a self) -> &'a [u8] {
            &[]
        }
        fn size(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn parts_count_until_removed_and_the_limit_fires_past_it() {
        let memory = Arc::new(ExternalMemory::default());
        let fired = Arc::new(AtomicBool::new(false));
        {
            let fired = fired.clone();
            memory.set_limit(100, move || fired.store(true, Ordering::Release));
        }
        let store = CountedBlobStore::new(memory.clone());
        let a = store.insert_part(Arc::new(Part(60)));
        let b = store.insert_part(Arc::new(Part(40)));
        assert_eq!(memory.used(), 100);
        assert!(!fired.load(Ordering::Acquire), "at the limit is within it");
        store.remove_part(&a);
        assert_eq!(memory.used(), 40);
        store.remove_part(&a);
        assert_eq!(memory.used(), 40, "a part is taken off once");
        store.insert_part(Arc::new(Part(61)));
        assert!(fired.load(Ordering::Acquire));
        store.remove_part(&b);
        assert_eq!(memory.used(), 61);
    }

    #[test]
    fn the_engine_is_charged_every_change_while_attached() {
        let memory = Arc::new(ExternalMemory::default());
        let store = CountedBlobStore::new(memory.clone());
        let a = store.insert_part(Arc::new(Part(30)));
        let engine = Arc::new(std::sync::atomic::AtomicI64::new(0));
        {
            let engine = engine.clone();
            memory.attach(move |delta| {
                engine.fetch_add(delta, Ordering::AcqRel);
            });
        }
        assert_eq!(engine.load(Ordering::Acquire), 30, "what was held before");
        let b = store.insert_part(Arc::new(Part(20)));
        assert_eq!(engine.load(Ordering::Acquire), 50);
        store.remove_part(&a);
        assert_eq!(engine.load(Ordering::Acquire), 20);
        memory.detach();
        store.remove_part(&b);
        assert_eq!(engine.load(Ordering::Acquire), 20, "detached");
        assert_eq!(memory.used(), 0);
    }
}
