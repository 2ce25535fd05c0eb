//! The startup snapshot runtimes boot from.
//!
//! Booting a runtime from scratch loads and runs the web APIs' JavaScript: about 60 ms of CPU
//! on QuickJS. A runtime created from a startup snapshot of a booted one skips that and costs
//! about 10 ms. Making the snapshot takes a few seconds, so the process makes it once, on a
//! thread of its own, when the first pool starts; runtimes booted before it is ready boot from
//! scratch. If it cannot be made, every runtime boots from scratch.

use std::sync::{Once, OnceLock};

static SNAPSHOT: OnceLock<&'static [u8]> = OnceLock::new();
static PREPARE: Once = Once::new();

/// Starts making the process's snapshot in the background, unless that has begun already.
pub(crate) fn prepare() {
    PREPARE.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("skiff-snapshot".into())
            .spawn(make);
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the snapshot thread; runtimes boot from scratch");
        }
    });
}

fn make() {
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(tokio) => tokio,
        Err(err) => {
            tracing::warn!(%err, "no runtime for the snapshot; runtimes boot from scratch");
            return;
        }
    };
    let _entered = tokio.enter();
    let started = std::time::Instant::now();
    let created = skiff_js_api::create_snapshot();
    // The runtime the snapshot was taken of is gone; its memory goes back to the system.
    crate::isolate::release_freed_memory();
    match created {
        Ok(bytes) => {
            tracing::debug!(
                bytes = bytes.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "startup snapshot ready"
            );
            // Kept for the life of the process: every runtime created from it refers to it.
            let _ = SNAPSHOT.set(Box::leak(bytes));
        }
        Err(err) => tracing::warn!(%err, "runtimes boot from scratch"),
    }
}

/// The snapshot, once it is ready.
pub(crate) fn current() -> Option<&'static [u8]> {
    SNAPSHOT.get().copied()
}

/// True once runtimes boot from the snapshot.
pub fn snapshot_ready() -> bool {
    current().is_some()
}
