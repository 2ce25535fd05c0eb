//! Faults a test can inject into the runtime, to check what the layers above do with a
//! platform fault they cannot otherwise cause. Built only with the `fault-injection` feature.

use std::sync::atomic::{AtomicUsize, Ordering};

static ENGINE_BOOT_FAILURES: AtomicUsize = AtomicUsize::new(0);

/// Makes the next `n` isolate loads in this process fail as if the engine had not booted
/// (a [`crate::RuntimeError::Platform`]).
pub fn fail_engine_boots(n: usize) {
    ENGINE_BOOT_FAILURES.store(n, Ordering::SeqCst);
}

/// True if this load is to fail as an engine boot failure (and counts it).
pub(crate) fn engine_boot_fails() -> bool {
    ENGINE_BOOT_FAILURES
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
