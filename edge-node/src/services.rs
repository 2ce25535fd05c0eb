//! Service bindings on a node: [`ServiceRouter`], the [`ServiceDispatch`] that runs a bound
//! script for its caller in process, through the same registry, isolate cache and limits as a
//! request from a client.
//!
//! The callee answers as it would answer a client: its own response, or the one the node would
//! send for its failure (a broken limit, a script that does not load, a missing script: see
//! `server::error_response`). A subrequest's wall clock is the node's, counted from the call.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use skiff_runtime::{
    ByteString, FetchRequest, ResponseBody, ResponseHead, ServiceDispatch, ServiceFuture,
};

use crate::registry::ScriptRegistry;
use crate::server;

/// Runs a node's scripts for service bindings.
pub struct ServiceRouter {
    /// Set once the registry exists (the registry's isolates hold this router).
    registry: OnceLock<Weak<ScriptRegistry>>,
    wall_clock: Duration,
}

impl ServiceRouter {
    pub fn new(wall_clock: Duration) -> Self {
        Self {
            registry: OnceLock::new(),
            wall_clock,
        }
    }

    /// Connects the router to the node's registry.
    pub fn attach(&self, registry: &Arc<ScriptRegistry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
    }
}

/// A plain-text answer from the node itself.
fn plain(status: u16, message: &str) -> ResponseHead {
    ResponseHead {
        status,
        headers: vec![(
            ByteString::from("content-type"),
            ByteString::from("text/plain;charset=UTF-8"),
        )],
        body: ResponseBody::Full(Bytes::from(format!("{message}\n"))),
        length: None,
    }
}

impl ServiceDispatch for ServiceRouter {
    fn fetch(&self, service: &str, request: FetchRequest) -> ServiceFuture {
        let registry = self.registry.get().and_then(Weak::upgrade);
        let service = service.to_string();
        let wall_clock = self.wall_clock;
        Box::pin(async move {
            let Some(registry) = registry else {
                return plain(503, "Worker unavailable");
            };
            let isolate = match registry.isolate(&service).await {
                Some(Ok(isolate)) => isolate,
                Some(Err(err)) => {
                    let (status, message) = server::error_answer(&err);
                    return plain(status.as_u16(), message);
                }
                None => return plain(404, &format!("No worker named {service} is deployed")),
            };
            match tokio::time::timeout(wall_clock, isolate.fetch(request)).await {
                Ok(Ok(head)) => head,
                Ok(Err(err)) => {
                    let (status, message) = server::error_answer(&err);
                    plain(status.as_u16(), message)
                }
                Err(_) => plain(503, "Worker exceeded wall clock time limit"),
            }
        })
    }
}
