//! The system calls the runtime makes, in one place: thread CPU clocks, thread priority, and
//! handing freed memory back to the system.

use std::time::Duration;

/// A clock that measures one thread's CPU time.
pub(crate) type CpuClock = libc::clockid_t;

/// The CPU clock of the calling thread, readable from any thread; `None` if the system has
/// none to give.
pub(crate) fn current_thread_cpu_clock() -> Option<CpuClock> {
    let mut clock: CpuClock = CALLING_THREAD_CPU_CLOCK;
    // SAFETY: pthread_self() is the calling thread; `clock` is a valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
}

/// The clock id that reads the CPU time of whichever thread reads it.
pub(crate) const CALLING_THREAD_CPU_CLOCK: CpuClock = libc::CLOCK_THREAD_CPUTIME_ID;

/// The CPU time the calling thread has used.
pub(crate) fn thread_cpu_now() -> Duration {
    clock_time(CALLING_THREAD_CPU_CLOCK)
}

/// The time `clock` reads; zero if it cannot be read.
pub(crate) fn clock_time(clock: CpuClock) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock id only makes the call fail.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Gives the calling thread the nice value `nice` (Linux schedules threads one by one, so this
/// leaves the rest of the process as it is). False if the system refused.
pub(crate) fn lower_priority(nice: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        true
    }
}

/// Allocations of this size and more glibc maps one by one (see [`tune_allocator`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;
/// Freed space at the top of an arena past which glibc hands it back (see [`tune_allocator`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 << 20;

/// Fixes glibc's two thresholds for the process, once. Left to itself glibc raises them as the
/// process frees large blocks, up to 32 MiB and twice that: after a tenant's 4 MiB blobs, later
/// ones are carved from the arenas, and each arena keeps up to the trim threshold of freed
/// space at its top, which `malloc_trim` does not touch in any arena but the main one. Fixed,
/// blocks of 1 MiB and more (blob parts, WebAssembly memories, large array buffers) are mapped
/// one by one and unmapped when freed; the trim threshold stays high, so that serving does not
/// give memory back and take it again on every request.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static TUNED: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets the allocator's parameters.
        TUNED.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        });
    }
}

/// Hands memory freed by a disposed isolate back to the system, so that a memory bomb does not
/// leave the node's RSS raised; called on the thread the isolate ran on. glibc keeps freed
/// memory in its arenas until asked; other allocators return it on their own, so elsewhere
/// this does nothing.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Freeing a block this large (below the mmap threshold) makes glibc look at the top
        /// of the freeing thread's arena.
        const PROBE: usize = 96 << 10;
        tune_allocator();
        // SAFETY: malloc_trim only walks the allocator's free lists; mallopt sets a parameter;
        // the probe is allocated and freed here and nowhere else.
        unsafe {
            // Free pages inside every arena go back.
            libc::malloc_trim(0);
            // The top of this thread's arena, where the isolate's memory was, goes back too:
            // with the trim threshold at zero for a moment, freeing the probe trims it.
            libc::mallopt(libc::M_TRIM_THRESHOLD, 0);
            // (black_box: the compiler may otherwise drop a block that is never used)
            libc::free(std::hint::black_box(libc::malloc(PROBE)));
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
