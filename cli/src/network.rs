//! The network threads of `skiff node` and `skiff dev` (connections, TLS and HTTP), and how
//! they share the cores with the isolate threads.
//!
//! A network thread that is woken often is busy: it then runs as SCHED_BATCH, which keeps its
//! share of the CPU but does not preempt a running thread when it wakes. Woken for every
//! response an isolate sent, it otherwise interrupted the isolate threads' JavaScript one
//! request at a time; batched, it runs at the scheduler's next turn and handles what came
//! meanwhile in one go. On 2 cores that halved the proxy workload's network CPU per request
//! (41 to 21 us) and raised its requests/s by a fifth, and hello world and HMAC gained too
//! (bench/README.md). A thread woken seldom (a cold start now and then) is an ordinary one, so
//! that the response of a request that waited for nothing leaves at once.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often the wake-up rate is looked at.
const WINDOW: Duration = Duration::from_millis(100);

/// Wake-ups per second from which a network thread counts as busy.
const BUSY_WAKES_PER_SEC: f64 = 1_000.0;

thread_local! {
    /// This thread's window: when it began, the wake-ups in it, and whether the thread runs as
    /// SCHED_BATCH.
    static WAKES: Cell<(Option<Instant>, u32, bool)> = const { Cell::new((None, 0, false)) };
}

/// Called by the async runtime each time one of its threads wakes: counts the wake-up, and
/// once a window has passed makes the thread batched or ordinary by the rate over it.
pub fn woke() {
    WAKES.with(|wakes| {
        let (since, count, batched) = wakes.get();
        let now = Instant::now();
        let Some(since) = since else {
            wakes.set((Some(now), 1, batched));
            return;
        };
        let elapsed = now.duration_since(since);
        if elapsed < WINDOW {
            wakes.set((Some(since), count + 1, batched));
            return;
        }
        let busy = f64::from(count) / elapsed.as_secs_f64() >= BUSY_WAKES_PER_SEC;
        let batched = if busy != batched && set_batched(busy) {
            busy
        } else {
            batched
        };
        wakes.set((Some(now), 1, batched));
    });
}

/// Makes the calling thread SCHED_BATCH (`true`) or SCHED_OTHER; false if the kernel refused.
fn set_batched(batched: bool) -> bool {
    #[cfg(target_os = "linux")]
    {
        let policy = if batched {
            libc::SCHED_BATCH
        } else {
            libc::SCHED_OTHER
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` outlives the call. A refusal leaves the
        // thread as it was, which serves as well, only less efficiently.
        unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = batched;
        false
    }
}
