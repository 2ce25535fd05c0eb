//! The `env` bindings that are more than values: what a tenant's binding names
//! ([`EnvBinding`]) and what the node answers them with ([`NodeBindings`]): KV namespaces
//! (`kv.rs`) and service bindings (`service.rs`).
//!
//! A tenant reaches a binding only by its name in its own `env`: every op takes the binding's
//! name and looks up what it stands for in the tenant's configuration, so no script can name
//! a namespace or a service it was not given.

pub(crate) mod kv;
pub(crate) mod service;

use std::sync::Arc;

use serde::Serialize;

pub use kv::{KvError, KvFuture, KvPut, KvStore, KvValue};
pub use service::{ServiceDispatch, ServiceFuture};

/// One binding of a tenant's `env` that is not a plain value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnvBinding {
    /// `env.NAME` is the KV namespace `namespace` (its id).
    Kv { name: String, namespace: String },
    /// `env.NAME` calls the script `service` of the same node.
    Service { name: String, service: String },
}

impl EnvBinding {
    /// The binding's name in `env`.
    pub fn name(&self) -> &str {
        match self {
            EnvBinding::Kv { name, .. } | EnvBinding::Service { name, .. } => name,
        }
    }
}

/// The node's side of the bindings, shared by every isolate of a node.
#[derive(Clone, Default)]
pub struct NodeBindings {
    /// Where KV namespaces live; without one, every KV call fails with "KV is not available".
    pub kv: Option<Arc<dyn KvStore>>,
    /// Runs the node's scripts for service bindings; without one, every call fails.
    pub services: Option<Arc<dyn ServiceDispatch>>,
    /// The Cache API's store (`caches`); the default one holds
    /// [`DEFAULT_CACHE_BYTES`](crate::DEFAULT_CACHE_BYTES).
    pub cache: Arc<crate::cache::ResponseCache>,
}

impl std::fmt::Debug for NodeBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBindings")
            .field("kv", &self.kv.is_some())
            .field("services", &self.services.is_some())
            .field("cache", &self.cache)
            .finish()
    }
}
