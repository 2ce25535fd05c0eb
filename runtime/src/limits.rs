//! Per-isolate limits and the CPU watchdog that enforces them.
//!
//! CPU time is read from the pool thread's own CPU clock, so time the thread spends descheduled
//! does not count. Each poll of an isolate is a *slice* of JavaScript execution. A watchdog
//! thread looks at the running slice of every pool thread and terminates the isolate when it
//! goes over its allowance:
//!
//! - while the isolate has requests in flight (a *busy period*), the CPU it spends in the busy
//!   period may not exceed the per-request limit times the requests accepted in that period:
//!   a single request gets exactly its limit, and concurrent requests cannot exhaust each
//!   other's budgets;
//! - while it has none, the work it does anyway (timers firing after a response, intervals
//!   set at top level) shares one per-request limit, replenished when the next busy period
//!   begins: background work between two requests may use as much CPU as one request, no
//!   more, however it is split into callbacks;
//! - while the bundle is being evaluated, the startup limit applies.
//!
//! `ctx.waitUntil` work counts as in flight, so it is charged to the busy period of the
//! request that started it, as Cloudflare charges it to the invocation. A scheduled event
//! (a cron trigger) counts as a request.
//!
//! A busy isolate can take up queued requests one after another within a single poll, so a
//! slice's allowance is not fixed when it begins: each request submitted while it runs and
//! taken up by the tenant adds the per-request limit (see [`SliceGrowth`]). Without that, a
//! tenant under steady concurrent load was killed for the CPU of many requests together.
//!
//! Termination condemns the isolate: its pending requests are answered with 503 and it is
//! disposed; the next request gets a fresh isolate. Other isolates on the thread were only
//! delayed for the length of the slice.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deno_core::v8;
use skiff_js_api::IsolateLoad;

use crate::sys::{
    CALLING_THREAD_CPU_CLOCK, CpuClock, clock_time, current_thread_cpu_clock, thread_cpu_now,
};

/// Limits for one isolate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsolateLimits {
    /// CPU time per request.
    pub cpu: Duration,
    /// CPU time to evaluate the bundle's top level.
    pub startup_cpu: Duration,
    /// JavaScript heap per isolate, in bytes.
    pub memory: usize,
    /// Requests an isolate holds queued, not yet taken by its script; past it a request is
    /// refused at once ([`crate::RuntimeError::Overloaded`]).
    pub queued_requests: u64,
    /// Whether tenant code may compile strings (`eval`, `new Function`, the other function
    /// constructors). Workers refuses it, and so does every isolate unless this is set: only a
    /// conformance run sets it, whose harness compiles each test file that way.
    pub code_from_strings: bool,
}

/// CPU time per request, unless configured: Cloudflare's default for paid plans.
pub const DEFAULT_CPU: Duration = Duration::from_millis(50);
/// CPU time for a script's top level, unless configured: Cloudflare's startup limit.
pub const DEFAULT_STARTUP_CPU: Duration = Duration::from_millis(400);
/// JavaScript heap per isolate, unless configured: Cloudflare's 128 MB.
pub const DEFAULT_MEMORY: usize = 128 * 1024 * 1024;
/// How long `ctx.waitUntil` work may run after its response, unless configured.
pub const DEFAULT_WAIT_UNTIL: Duration = Duration::from_secs(30);
/// Requests an isolate holds queued, unless configured.
pub const DEFAULT_QUEUED_REQUESTS: u64 = 1_000;

impl Default for IsolateLimits {
    fn default() -> Self {
        Self {
            cpu: DEFAULT_CPU,
            startup_cpu: DEFAULT_STARTUP_CPU,
            memory: DEFAULT_MEMORY,
            queued_requests: DEFAULT_QUEUED_REQUESTS,
            code_from_strings: false,
        }
    }
}

/// Why an isolate was condemned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    Cpu,
    Memory,
}

impl LimitKind {
    /// What is limited: "CPU time" or "memory".
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Cpu => "CPU time",
            LimitKind::Memory => "memory",
        }
    }

    /// The message a client gets with the 503.
    pub fn message(self) -> &'static str {
        match self {
            LimitKind::Cpu => "Worker exceeded CPU time limit",
            LimitKind::Memory => "Worker exceeded memory limit",
        }
    }
}

/// How many isolates were condemned, by limit, since the pool started.
#[derive(Debug, Default)]
pub struct LimitKills {
    cpu: std::sync::atomic::AtomicU64,
    memory: std::sync::atomic::AtomicU64,
}

impl LimitKills {
    pub(crate) fn record(&self, kind: LimitKind) {
        let counter = match kind {
            LimitKind::Cpu => &self.cpu,
            LimitKind::Memory => &self.memory,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, kind: LimitKind) -> u64 {
        match kind {
            LimitKind::Cpu => self.cpu.load(Ordering::Relaxed),
            LimitKind::Memory => self.memory.load(Ordering::Relaxed),
        }
    }
}

/// CPU spent by an isolate against its allowance (the rules are in the module docs).
pub(crate) struct CpuAccount {
    limits: IsolateLimits,
    load: Arc<IsolateLoad>,
    starting: bool,
    busy: bool,
    /// Requests accepted and finished before the current busy period began.
    accepted_before: u64,
    /// CPU spent in the current busy period, in startup, or since the last busy period ended.
    spent: Duration,
}

impl CpuAccount {
    pub(crate) fn new(limits: IsolateLimits, load: Arc<IsolateLoad>) -> Self {
        Self {
            limits,
            load,
            starting: true,
            busy: false,
            accepted_before: 0,
            spent: Duration::ZERO,
        }
    }

    pub(crate) fn load(&self) -> &Arc<IsolateLoad> {
        &self.load
    }

    /// True while the bundle's top level is being evaluated.
    pub(crate) fn is_starting(&self) -> bool {
        self.starting
    }

    /// How much CPU the next slice may use.
    pub(crate) fn allowance(&mut self) -> Duration {
        if self.starting {
            return self.limits.startup_cpu.saturating_sub(self.spent);
        }
        let load = &self.load;
        if !self.busy && (load.in_flight() > 0 || load.submitted() > load.accepted()) {
            self.busy = true;
            // A request taken up in an earlier poll may not have run yet (its handler runs in
            // the poll after the one that took it): it belongs to this busy period.
            let in_flight = load.in_flight().try_into().unwrap_or(u64::MAX);
            self.accepted_before = load.accepted().saturating_sub(in_flight);
            self.spent = Duration::ZERO;
        }
        if !self.busy {
            return self.limits.cpu.saturating_sub(self.spent);
        }
        let requests = load.submitted().saturating_sub(self.accepted_before).max(1);
        let budget = self
            .limits
            .cpu
            .saturating_mul(requests.min(u32::MAX as u64) as u32);
        budget.saturating_sub(self.spent)
    }

    /// How the next slice's allowance grows while it runs: by the per-request limit for each
    /// request submitted meanwhile that it takes up in the same poll. Nothing grows the
    /// startup allowance.
    pub(crate) fn growth(&self) -> Option<SliceGrowth> {
        (!self.starting).then(|| SliceGrowth {
            load: self.load.clone(),
            submitted: self.load.submitted(),
            per_request: self.limits.cpu,
        })
    }

    /// Records a finished slice. A busy period that ends here leaves the CPU spent outside
    /// requests at zero: background work after it gets its own per-request limit.
    pub(crate) fn charge(&mut self, cpu: Duration) {
        self.spent += cpu;
        let load = &self.load;
        if self.busy && load.in_flight() == 0 && load.submitted() == load.accepted() {
            self.busy = false;
            self.spent = Duration::ZERO;
        }
    }

    pub(crate) fn started(&mut self) {
        self.starting = false;
        self.spent = Duration::ZERO;
    }
}

/// The reason an isolate was condemned, set once from any thread.
#[derive(Debug, Default)]
pub(crate) struct Condemned(AtomicU8);

impl Condemned {
    pub(crate) fn set(&self, kind: LimitKind) {
        let code = match kind {
            LimitKind::Cpu => 1,
            LimitKind::Memory => 2,
        };
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn get(&self) -> Option<LimitKind> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(LimitKind::Cpu),
            2 => Some(LimitKind::Memory),
            _ => None,
        }
    }
}

/// How a slice's allowance grows while it runs: by `per_request` for every request submitted to
/// its isolate after it began and taken up by its JavaScript. (The allowance it began with
/// already counts the requests queued then.) Only requests the tenant actually takes up count,
/// so a script stuck in a loop gains nothing from traffic piling up behind it.
pub(crate) struct SliceGrowth {
    pub(crate) load: Arc<IsolateLoad>,
    /// The isolate's submitted count when the slice began.
    pub(crate) submitted: u64,
    pub(crate) per_request: Duration,
}

impl SliceGrowth {
    fn extra(&self) -> Duration {
        let requests = self.load.accepted().saturating_sub(self.submitted);
        self.per_request
            .saturating_mul(requests.min(u32::MAX as u64) as u32)
    }
}

/// The JavaScript currently running on one pool thread, as the watchdog sees it.
struct Slice {
    isolate: v8::IsolateHandle,
    condemned: Arc<Condemned>,
    /// The thread's CPU clock when the slice may no longer run, before growth.
    deadline: Duration,
    growth: Option<SliceGrowth>,
}

impl Slice {
    fn deadline(&self) -> Duration {
        let extra = self
            .growth
            .as_ref()
            .map_or(Duration::ZERO, SliceGrowth::extra);
        self.deadline.saturating_add(extra)
    }
}

/// One pool thread's CPU clock and running slice.
pub(crate) struct ThreadClock {
    clock: CpuClock,
    slice: Mutex<Option<Slice>>,
    /// When the clock was made, and when (in nanoseconds after that) the last slice ended.
    made: Instant,
    last_end: AtomicU64,
}

impl ThreadClock {
    /// The clock of the calling thread; call on the pool thread itself.
    pub(crate) fn for_current_thread() -> Arc<Self> {
        let clock = current_thread_cpu_clock().unwrap_or_else(|| {
            tracing::warn!("no per-thread CPU clock; CPU limits cannot be enforced");
            CALLING_THREAD_CPU_CLOCK
        });
        Arc::new(Self {
            clock,
            slice: Mutex::new(None),
            made: Instant::now(),
            last_end: AtomicU64::new(0),
        })
    }

    /// Marks a slice of `isolate` as running, allowed to use `allowance` of CPU from now, plus
    /// what `growth` adds while it runs.
    pub(crate) fn begin(
        &self,
        isolate: v8::IsolateHandle,
        condemned: Arc<Condemned>,
        allowance: Duration,
        growth: Option<SliceGrowth>,
    ) {
        let deadline = thread_cpu_now().saturating_add(allowance);
        *self.slice.lock().unwrap_or_else(|e| e.into_inner()) = Some(Slice {
            isolate,
            condemned,
            deadline,
            growth,
        });
    }

    pub(crate) fn end(&self) {
        *self.slice.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.touch();
    }

    /// Records work on this thread outside a slice (booting a runtime), for [`Self::quiet_for`].
    pub(crate) fn touch(&self) {
        let now = self
            .made
            .elapsed()
            .as_nanos()
            .try_into()
            .unwrap_or(u64::MAX);
        self.last_end.store(now, Ordering::Release);
    }

    /// How long ago the last slice (or boot) on this thread ended, or the clock was made.
    pub(crate) fn quiet_for(&self) -> Duration {
        let last_end = Duration::from_nanos(self.last_end.load(Ordering::Acquire));
        self.made.elapsed().saturating_sub(last_end)
    }

    /// Called by the watchdog: terminates the running slice if it is over its deadline, and
    /// asks again at every look while it keeps running (the engine notices at its next
    /// interrupt check; a request made while it resets its interrupt counter can be lost).
    fn check(&self) {
        let slice = self.slice.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slice) = slice.as_ref()
            && clock_time(self.clock) > slice.deadline()
        {
            slice.condemned.set(LimitKind::Cpu);
            slice.isolate.terminate_execution();
        }
    }
}

/// The thread clocks a watchdog looks at.
#[derive(Default)]
pub(crate) struct WatchList(Mutex<Vec<Weak<ThreadClock>>>);

impl WatchList {
    pub(crate) fn add(&self, clock: &Arc<ThreadClock>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(clock));
    }
}

/// A thread that checks every pool thread's running slice at a fixed interval.
pub(crate) struct Watchdog {
    threads: Arc<WatchList>,
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start(interval: Duration) -> std::io::Result<Self> {
        let threads: Arc<WatchList> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let join = {
            let threads = threads.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("skiff-watchdog".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(interval);
                        let mut threads = threads.0.lock().unwrap_or_else(|e| e.into_inner());
                        threads.retain(|clock| match clock.upgrade() {
                            Some(clock) => {
                                clock.check();
                                true
                            }
                            None => false,
                        });
                    }
                })?
        };
        Ok(Self {
            threads,
            stop,
            join: Some(join),
        })
    }

    pub(crate) fn watch_list(&self) -> Arc<WatchList> {
        self.threads.clone()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> IsolateLimits {
        IsolateLimits {
            cpu: Duration::from_millis(50),
            startup_cpu: Duration::from_millis(400),
            ..IsolateLimits::default()
        }
    }

    #[test]
    fn background_work_between_requests_shares_one_request_limit() {
        let mut account = CpuAccount::new(limits(), Arc::default());
        account.started();
        // Timer callbacks with no request in flight: each slice is charged to one allowance.
        assert_eq!(account.allowance(), Duration::from_millis(50));
        account.charge(Duration::from_millis(20));
        assert_eq!(account.allowance(), Duration::from_millis(30));
        account.charge(Duration::from_millis(29));
        assert_eq!(account.allowance(), Duration::from_millis(1));
        account.charge(Duration::from_millis(5));
        assert_eq!(account.allowance(), Duration::ZERO);
    }

    #[test]
    fn startup_has_its_own_allowance_and_background_work_starts_fresh_after_it() {
        let mut account = CpuAccount::new(limits(), Arc::default());
        assert!(account.is_starting());
        account.charge(Duration::from_millis(300));
        assert_eq!(account.allowance(), Duration::from_millis(100));
        account.started();
        assert_eq!(account.allowance(), Duration::from_millis(50));
    }
}
