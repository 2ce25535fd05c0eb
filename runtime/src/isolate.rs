//! One tenant isolate: a `JsRuntime` with the tenant global scope and one script version, and
//! the Send handle the rest of the node talks to it through.
//!
//! Many isolates share a pool thread. The engine keeps a per-thread "current isolate" (V8's
//! entered isolate; the QuickJS backend uses it for every handle operation outside a
//! `HandleScope`, and `OwnedIsolate`'s drop asserts it is the current one). Whichever isolate
//! was created or scoped last stays current, so driving or dropping another one on the same
//! thread would act on the wrong engine state. Every poll and the final drop therefore run
//! with their own isolate entered: see [`Sliced`] and [`TenantRuntime`].
//!
//! Each poll is also a CPU slice that the watchdog (see `limits.rs`) can cut short, and whose
//! CPU is split among the invocations in flight during it, for their usage meters
//! ([`skiff_js_api::CpuShares`]).

use std::collections::HashMap;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use deno_core::{JsRuntime, ModuleSpecifier, PollEventLoopOptions, RuntimeOptions, v8};
use skiff_js_api::{
    Compatibility, CpuShares, EventSender, FetchRequest, LogLevel, LogSink, MeterStop,
    NodeBindings, NodeConfig, OutboundPolicy, ResponseHead, ScheduledRequest, ScheduledResult,
    TenantConfig, event_channel,
};
use tokio::sync::{oneshot, watch};

use crate::bundle::{BUNDLE_BASE, BundleLoader};
use crate::heat::Heat;
use crate::limits::{Condemned, CpuAccount, IsolateLimits, LimitKills, LimitKind, ThreadClock};
use crate::snapshot;
use crate::sys::thread_cpu_now;
use crate::{RuntimeError, ScriptBundle};

/// How often a draining isolate checks whether its work is done.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// Where an isolate runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lane {
    /// On one of the pool's threads, taking turns with the other isolates there.
    #[default]
    Shared,
    /// On a thread of its own, at a lower scheduling priority: for an isolate whose long
    /// computations would keep its neighbours waiting (see `heat.rs`). The kernel preempts it
    /// like any thread, so the shared threads' isolates no longer wait for it.
    Dedicated,
}

/// How an isolate is set up, besides its bundle.
#[derive(Clone, Debug)]
pub struct IsolateOptions {
    pub log: LogSink,
    pub outbound: OutboundPolicy,
    /// How long `ctx.waitUntil` work may run after its response.
    pub wait_until: Duration,
    pub limits: IsolateLimits,
    /// The lane asked for. A pool with no dedicated thread left places the isolate on a shared
    /// one; [`IsolateHandle::lane`] tells where it went.
    pub lane: Lane,
    /// The node's side of the `env` bindings (KV).
    pub bindings: NodeBindings,
    /// Whether the heap measurement also takes the engine's census by category (see
    /// [`IsolateHandle::heap_census`]): one more walk over the heap per category, for
    /// benchmarks.
    pub heap_census: bool,
}

impl IsolateOptions {
    /// Defaults for `script`: logs through `tracing`, no private addresses, 50 subrequests,
    /// 30 s of `waitUntil`, the default [`IsolateLimits`].
    pub fn new(script: &str) -> Self {
        Self {
            log: LogSink::tracing(script),
            outbound: OutboundPolicy::default(),
            wait_until: crate::DEFAULT_WAIT_UNTIL,
            limits: IsolateLimits::default(),
            lane: Lane::Shared,
            bindings: NodeBindings::default(),
            heap_census: false,
        }
    }
}

/// A `Send` handle to a live isolate. Cloning it is cheap; the isolate lives until its
/// [`IsolateHandle::shutdown`] is called or every handle is dropped, and then finishes the
/// work it has accepted.
#[derive(Clone, Debug)]
pub struct IsolateHandle {
    script: Arc<str>,
    version: Arc<str>,
    events: EventSender,
    shutdown: Arc<ShutdownSignal>,
    heap: Arc<HeapSize>,
    heat: Arc<Heat>,
    lane: Lane,
    condemned: Arc<Condemned>,
    max_queued: u64,
    /// Where events go once this isolate has closed its queue, if it was replaced (see
    /// [`IsolateHandle::forward_to`]).
    successor: Arc<OnceLock<IsolateHandle>>,
    /// The pool thread it runs on, as the pool names it.
    thread: usize,
}

#[derive(Debug)]
struct ShutdownSignal(std::sync::Mutex<Option<oneshot::Sender<()>>>);

/// The engine heap an isolate uses. Measuring it walks the whole heap (about 0.8 ms for a
/// hello-world isolate here, as long as the rest of a warm start), so an isolate made from a
/// warm runtime starts with an estimate (the heap of the thread's first warm runtime, before
/// any tenant code) and is measured once it has answered its first request and has nothing in
/// flight (or [`HEAP_MEASURE_IDLE`] after it became ready, or at the latest
/// [`HEAP_MEASURE_LATEST`]).
#[derive(Debug)]
struct HeapSize {
    bytes: AtomicUsize,
    state: watch::Sender<HeapState>,
    /// The engine's census by category, if [`IsolateOptions::heap_census`] asked for it.
    census: std::sync::Mutex<Vec<HeapSpace>>,
}

/// One category of the engine's memory (see [`IsolateHandle::heap_census`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapSpace {
    pub name: String,
    pub bytes: usize,
    /// How many things the category holds (atoms, strings, functions...).
    pub count: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeapState {
    Estimated,
    Measured,
    /// The isolate stopped before it was measured: the estimate is all there will be.
    Unmeasured,
}

impl HeapSize {
    fn estimated(bytes: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(bytes),
            state: watch::Sender::new(HeapState::Estimated),
            census: Default::default(),
        }
    }

    fn measured(bytes: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(bytes),
            state: watch::Sender::new(HeapState::Measured),
            census: Default::default(),
        }
    }

    fn set_census(&self, census: Vec<HeapSpace>) {
        *self.census.lock().unwrap_or_else(|e| e.into_inner()) = census;
    }

    fn census(&self) -> Vec<HeapSpace> {
        self.census
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_measured(&self, bytes: usize) {
        self.bytes.store(bytes, Ordering::Release);
        self.state.send_replace(HeapState::Measured);
    }

    /// Called when the isolate stops: whoever waits for a measurement stops waiting.
    fn stopped(&self) {
        self.state.send_if_modified(|state| {
            let estimated = *state == HeapState::Estimated;
            if estimated {
                *state = HeapState::Unmeasured;
            }
            estimated
        });
    }
}

/// How long a ready isolate that has not been sent a request waits before its heap is measured.
const HEAP_MEASURE_IDLE: Duration = Duration::from_millis(20);

/// When a ready isolate's heap is measured even with requests in flight.
const HEAP_MEASURE_LATEST: Duration = Duration::from_secs(1);

impl IsolateHandle {
    pub fn script(&self) -> &str {
        &self.script
    }

    /// The version as its log events name it (see `ScriptBundle::version_label`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The engine heap the isolate uses: an estimate until [`IsolateHandle::heap_measured`]
    /// resolves, then the heap measured shortly after the bundle was evaluated.
    pub fn heap_bytes(&self) -> usize {
        self.heap.bytes.load(Ordering::Acquire)
    }

    /// Waits until the isolate's heap has been measured (see [`IsolateHandle::heap_bytes`]),
    /// or it has stopped, and returns [`IsolateHandle::heap_bytes`].
    pub async fn heap_measured(&self) -> usize {
        let mut state = self.heap.state.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = state.wait_for(|state| *state != HeapState::Estimated).await;
        self.heap_bytes()
    }

    /// The engine's memory by category, taken with the heap measurement, if
    /// [`IsolateOptions::heap_census`] asked for it (empty otherwise, or before then).
    pub fn heap_census(&self) -> Vec<HeapSpace> {
        self.heap.census()
    }

    /// True once [`IsolateHandle::heap_bytes`] is a measurement rather than an estimate.
    pub fn is_heap_measured(&self) -> bool {
        *self.heap.state.borrow() == HeapState::Measured
    }

    /// The pool thread the isolate runs on (a name the pool gives it, for placing others).
    pub(crate) fn thread(&self) -> usize {
        self.thread
    }

    /// The lane the isolate runs in.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// True if the isolate's long computations have lately kept its thread busy for more than
    /// [`crate::HOT_CPU`] a second (see `heat.rs`).
    pub fn is_hot(&self) -> bool {
        self.heat.is_hot()
    }

    /// True if both handles lead to the same isolate.
    pub fn same_isolate(&self, other: &IsolateHandle) -> bool {
        Arc::ptr_eq(&self.shutdown, &other.shutdown)
    }

    /// Requests, scheduled events and `waitUntil` tasks accepted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.events.load().in_flight()
    }

    /// True once the isolate has stopped (engine error, panic or shutdown).
    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Requests and scheduled events sent to the isolate since it started.
    pub fn requests(&self) -> u64 {
        self.events.load().submitted()
    }

    /// Requests and scheduled events sent to the isolate and not yet taken by its script.
    pub fn queued(&self) -> u64 {
        let load = self.events.load();
        load.submitted().saturating_sub(load.accepted())
    }

    /// Runs the tenant's fetch handler for one request. A full queue refuses it at once; a
    /// request whose caller stops waiting before the script takes it never runs. A request
    /// sent after the isolate was replaced and closed its queue goes to its successor.
    pub async fn fetch(&self, request: FetchRequest) -> Result<ResponseHead, RuntimeError> {
        self.deliver(request, EventSender::send).await
    }

    /// Runs the tenant's scheduled handler for one cron trigger and resolves once the handler
    /// and the `waitUntil` work it started have settled. It counts as a request in flight (the
    /// per-request CPU limit applies) and is refused, like [`IsolateHandle::fetch`], when the
    /// queue is full or the isolate gone; one whose caller stops waiting before the script
    /// takes it never runs.
    pub async fn scheduled(
        &self,
        request: ScheduledRequest,
    ) -> Result<ScheduledResult, RuntimeError> {
        self.deliver(request, EventSender::send_scheduled).await
    }

    /// Queues `event` with `send` for this isolate, or for its successor once this one has
    /// closed its queue (and so on down the line), and waits for its outcome.
    async fn deliver<E, T>(
        &self,
        event: E,
        send: impl Fn(&EventSender, E) -> Result<oneshot::Receiver<T>, E>,
    ) -> Result<T, RuntimeError> {
        let mut home = self;
        let mut event = event;
        let outcome = loop {
            home.check_queue()?;
            match send(&home.events, event) {
                Ok(outcome) => break outcome,
                Err(refused) => {
                    home = home.successor.get().ok_or_else(|| home.gone())?;
                    event = refused;
                }
            }
        };
        outcome.await.map_err(|_| home.gone())
    }

    /// Names the isolate that replaces this one: events sent through this handle (or a clone)
    /// after this isolate has closed its queue go there instead of failing. Set once; later
    /// calls change nothing.
    pub(crate) fn forward_to(&self, successor: &IsolateHandle) {
        let _ = self.successor.set(successor.clone());
    }

    fn check_queue(&self) -> Result<(), RuntimeError> {
        if self.queued() >= self.max_queued {
            return Err(RuntimeError::Overloaded {
                script: self.script.to_string(),
            });
        }
        Ok(())
    }

    /// Why an event got no outcome: the limit that condemned the isolate, or its end.
    fn gone(&self) -> RuntimeError {
        match self.condemned.get() {
            Some(kind) => RuntimeError::Limit {
                script: self.script.to_string(),
                kind,
                startup: false,
            },
            None => RuntimeError::IsolateGone {
                script: self.script.to_string(),
            },
        }
    }

    /// Asks the isolate to stop: it ends once nothing it accepted is pending (or the
    /// waitUntil budget has passed). Requests sent meanwhile are still served.
    pub fn shutdown(&self) {
        if let Ok(mut signal) = self.shutdown.0.lock()
            && let Some(tx) = signal.take()
        {
            let _ = tx.send(());
        }
    }
}

/// What every slice of one isolate needs: its engine, its watchdog entry, its account.
struct SliceContext {
    isolate: *const v8::Isolate,
    terminate: v8::IsolateHandle,
    condemned: Arc<Condemned>,
    clock: Arc<ThreadClock>,
    account: CpuAccount,
    heat: Arc<Heat>,
    /// The invocations in flight, which share each slice's CPU (their meters).
    shares: CpuShares,
}

impl SliceContext {
    /// Runs `f` as one CPU slice of this isolate: entered, watched by the watchdog, and
    /// charged to the account and to the invocations in flight. `None` if the isolate is (or
    /// becomes) condemned.
    fn slice<T>(&mut self, f: impl FnOnce() -> T) -> Option<T> {
        if self.condemned.get().is_some() {
            return None;
        }
        let allowance = self.account.allowance();
        let growth = self.account.growth();
        self.account.load().begin_turn();
        self.clock.begin(
            self.terminate.clone(),
            self.condemned.clone(),
            allowance,
            growth,
        );
        self.shares.begin_slice();
        let started = thread_cpu_now();
        // SAFETY: `isolate` points into the `JsRuntime` that outlives this context; enter and
        // exit are paired on this thread.
        unsafe { (*self.isolate).enter() };
        let result = f();
        // SAFETY: as above; the isolate entered just before is the current one again.
        unsafe { (*self.isolate).exit() };
        self.clock.end();
        let cpu = thread_cpu_now().saturating_sub(started);
        if !self.account.is_starting() {
            self.heat.record(cpu);
        }
        self.account.charge(cpu);
        self.shares.end_slice(cpu);
        self.condemned.get().is_none().then_some(result)
    }
}

/// Polls `future` as CPU slices of one isolate. Resolves early (with `None`) once the isolate
/// is condemned.
struct Sliced<'a, F> {
    context: &'a mut SliceContext,
    future: F,
}

impl<F: Future + Unpin> Future for Sliced<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = &mut *self;
        let future = &mut this.future;
        match this.context.slice(|| Pin::new(future).poll(cx)) {
            None => Poll::Ready(None),
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(output)) => Poll::Ready(Some(output)),
        }
    }
}

fn sliced<F: Future + Unpin>(context: &mut SliceContext, future: F) -> Sliced<'_, F> {
    Sliced { context, future }
}

/// A `JsRuntime` that enters its own isolate before it is dropped.
struct TenantRuntime(ManuallyDrop<JsRuntime>);

impl TenantRuntime {
    fn isolate_ptr(&mut self) -> *const v8::Isolate {
        let isolate: &v8::Isolate = self.0.v8_isolate();
        isolate
    }

    /// Runs `f` with this runtime's isolate entered, outside any CPU slice (work of the node's,
    /// not the tenant's).
    fn entered<T>(&mut self, f: impl FnOnce(&mut JsRuntime) -> T) -> T {
        let isolate = self.isolate_ptr();
        // SAFETY: the isolate lives as long as `self`; enter and exit are paired on this
        // thread.
        unsafe { (*isolate).enter() };
        let result = f(&mut self.0);
        // SAFETY: as above.
        unsafe { (*isolate).exit() };
        result
    }
}

impl Drop for TenantRuntime {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The engine's state is unknown after a panic; leaking this isolate is better than
            // a second panic in its destructor aborting the node.
            return;
        }
        // Nothing may charge the isolate once it is disposed (see `EngineCharge`).
        skiff_js_api::external_memory(&self.0.op_state().borrow()).detach();
        let isolate = self.isolate_ptr();
        // SAFETY: the isolate is alive until the drop below, which exits and disposes it.
        unsafe { (*isolate).enter() };
        // SAFETY: dropped once, here; the field is never used again.
        unsafe { ManuallyDrop::drop(&mut self.0) };
    }
}

/// Charges an isolate's engine with the memory its tenant holds outside the heap, so that the
/// engine's heap limit leaves room for it (the `less_external_memory` patch in vendor/v8x).
/// [`ExternalMemory`](skiff_js_api::ExternalMemory) calls it from ops and finalizers, on the
/// isolate's thread, and only until [`TenantRuntime`]'s drop detaches it before disposing the
/// isolate.
struct EngineCharge(v8::UnsafeRawIsolatePtr);

// SAFETY: see the type's docs: the pointer is only used on the isolate's thread, while the
// isolate lives.
unsafe impl Send for EngineCharge {}
// SAFETY: as above.
unsafe impl Sync for EngineCharge {}

impl EngineCharge {
    fn of(isolate: &v8::Isolate) -> Self {
        // SAFETY: a copy of the pointer, used as the type's docs say.
        Self(unsafe { isolate.as_raw_isolate_ptr() })
    }

    fn adjust(&self, delta: i64) {
        // SAFETY: the isolate is alive (see the type's docs); `Isolate` is a pointer that
        // disposes nothing when dropped.
        let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(self.0) };
        isolate.adjust_amount_of_external_allocated_memory(delta);
    }
}

/// The URL of a bundle's module at `path`; the message says why a path is not one.
fn module_url(path: &str) -> Result<ModuleSpecifier, String> {
    ModuleSpecifier::parse(BUNDLE_BASE)
        .and_then(|base| base.join(path))
        .map_err(|err| format!("bad module path {path:?}: {err}"))
}

/// A runtime with the tenant global scope, bootstrapped and waiting for a tenant: web APIs
/// loaded, the dispatch loop waiting on its event queue, no tenant code, no tenant or node
/// configuration. Its heap limit is the one thing fixed at boot (an engine creation parameter).
///
/// Booting costs tens of milliseconds of CPU; pool threads keep a few of these ready (see
/// `pool.rs`). A booted runtime is never polled and never runs JavaScript until it is given a
/// tenant, so the watchdog has nothing to charge it for.
pub(crate) struct BootedRuntime {
    runtime: TenantRuntime,
    loader: Rc<BundleLoader>,
    events: EventSender,
    condemned: Arc<Condemned>,
    terminate: v8::IsolateHandle,
    heap_limit: usize,
    /// The heap of a runtime like this one before any tenant code: an isolate made from it
    /// reports this until its own heap is measured (see [`HeapSize`]). `None`: measure the
    /// isolate's heap as soon as it is ready.
    heap_estimate: Option<usize>,
}

impl BootedRuntime {
    /// Creates and bootstraps a runtime whose engine heap is limited to `heap_limit` bytes.
    /// The near-heap-limit callback is installed here and condemns the isolate when it fires.
    pub(crate) fn boot(heap_limit: usize) -> Result<Self, String> {
        let (events, inbox) = event_channel();
        let loader = Rc::new(BundleLoader::default());
        let runtime = JsRuntime::try_new(RuntimeOptions {
            extensions: skiff_js_api::extensions(inbox),
            module_loader: Some(loader.clone()),
            create_params: Some(v8::CreateParams::default().heap_limits(0, heap_limit)),
            startup_snapshot: snapshot::current(),
            ..Default::default()
        })
        .map_err(|err| format!("engine start failed: {err}"))?;
        let mut runtime = TenantRuntime(ManuallyDrop::new(runtime));
        runtime
            .entered(skiff_js_api::boot)
            .map_err(|err| err.to_string())?;
        let condemned = Arc::new(Condemned::default());
        let terminate = runtime.0.v8_isolate().thread_safe_handle();
        {
            let condemned = condemned.clone();
            let terminate = terminate.clone();
            runtime
                .0
                .add_near_heap_limit_callback(move |current, _initial| {
                    condemned.set(LimitKind::Memory);
                    terminate.terminate_execution();
                    // Room for the engine to unwind the terminated script, once: twice the
                    // configured limit, never more. Termination is only noticed between
                    // bytecodes, so a native call that keeps allocating (`fill` on an array
                    // of 400 million elements) calls back again and again; raising the
                    // limit each time let one request take 6 GB of RSS. Past this cap its
                    // allocations fail and it throws.
                    current.max(heap_limit.saturating_mul(2))
                });
        }
        // What the tenant holds outside the engine heap (blob parts) has a limit of the same
        // size, enforced the same way.
        let external = skiff_js_api::external_memory(&runtime.0.op_state().borrow());
        {
            let condemned = condemned.clone();
            let terminate = terminate.clone();
            external.set_limit(heap_limit, move || {
                condemned.set(LimitKind::Memory);
                terminate.terminate_execution();
            });
            let engine = EngineCharge::of(runtime.0.v8_isolate());
            external.attach(move |delta| engine.adjust(delta));
        }
        Ok(Self {
            runtime,
            loader,
            events,
            condemned,
            terminate,
            heap_limit,
            heap_estimate: None,
        })
    }

    /// The engine heap limit this runtime was booted with, in bytes.
    pub(crate) fn heap_limit(&self) -> usize {
        self.heap_limit
    }

    /// Measures the engine heap of this runtime (a walk over the whole heap).
    pub(crate) fn measure_heap(&mut self) -> usize {
        self.runtime.entered(heap_size)
    }

    /// Lets isolates made from this runtime report `bytes` until their heap is measured.
    pub(crate) fn set_heap_estimate(&mut self, bytes: usize) {
        self.heap_estimate = Some(bytes);
    }
}

/// Gives a booted runtime (`warm`, or one booted now) the bundle and its configuration,
/// evaluates the bundle, reports readiness through `ready`, then serves events until shut down
/// or condemned. Runs as a local task on a pool thread; `count` (the thread's count of live
/// isolates, in the pool) is held until the runtime is gone.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<Count>(
    count: Count,
    thread: usize,
    bundle: Arc<ScriptBundle>,
    options: IsolateOptions,
    warm: Option<BootedRuntime>,
    clock: Arc<ThreadClock>,
    kills: Arc<LimitKills>,
    mut ready: oneshot::Sender<Result<IsolateHandle, RuntimeError>>,
) {
    // Declared first, dropped last: a retiring thread never exits with an engine still alive.
    let _count = count;
    let loaded = Isolate::load(bundle, options, warm, clock, kills, &mut ready).await;
    let mut isolate = match loaded {
        Ok(isolate) => isolate,
        Err(Some(err)) => {
            let _ = ready.send(Err(err));
            return;
        }
        // Abandoned by whoever asked for it.
        Err(None) => return,
    };
    let Some((shutdown, heap)) = isolate.announce(ready, thread) else {
        return;
    };
    let engine_error = isolate.serve(shutdown, &heap).await;
    isolate.finish(engine_error);
    heap.stopped();
}

/// A tenant's isolate on its pool thread, from its bundle's evaluation to its end.
struct Isolate {
    runtime: TenantRuntime,
    context: SliceContext,
    bundle: Arc<ScriptBundle>,
    options: IsolateOptions,
    events: EventSender,
    /// The heap of a warm runtime, until this one's is measured.
    heap_estimate: Option<usize>,
    kills: Arc<LimitKills>,
}

impl Isolate {
    /// Boots (or takes `warm`), configures and evaluates `bundle`. `Err(None)` when whoever
    /// asked for it stopped waiting first (the control plane bounds validation in wall-clock
    /// time): a top level still pending then is abandoned with its runtime.
    async fn load(
        bundle: Arc<ScriptBundle>,
        options: IsolateOptions,
        warm: Option<BootedRuntime>,
        clock: Arc<ThreadClock>,
        kills: Arc<LimitKills>,
        ready: &mut oneshot::Sender<Result<IsolateHandle, RuntimeError>>,
    ) -> Result<Self, Option<RuntimeError>> {
        let script = bundle.name.clone();
        let load_error = |message: String| RuntimeError::Load {
            script: script.clone(),
            message,
        };
        let mut modules = HashMap::with_capacity(bundle.modules.len());
        for (path, source) in &bundle.modules {
            modules.insert(
                module_url(path).map_err(load_error)?,
                Arc::from(source.as_str()),
            );
        }
        let main = module_url(&bundle.main_module).map_err(load_error)?;
        let limits = options.limits;
        #[cfg(feature = "fault-injection")]
        if crate::fault::engine_boot_fails() {
            return Err(Some(RuntimeError::Platform {
                script: script.clone(),
                detail: "engine start failed: injected fault".into(),
            }));
        }
        let booted = match warm {
            Some(booted) => booted,
            None => {
                let booted = BootedRuntime::boot(limits.memory).map_err(|detail| {
                    RuntimeError::Platform {
                        script: script.clone(),
                        detail,
                    }
                })?;
                clock.touch();
                booted
            }
        };
        let BootedRuntime {
            runtime,
            loader,
            events,
            condemned,
            terminate,
            heap_limit: _,
            heap_estimate,
        } = booted;
        loader.set_modules(modules);
        let shares = skiff_js_api::cpu_shares(&runtime.0.op_state().borrow());
        let context = SliceContext {
            isolate: std::ptr::null(),
            terminate,
            condemned,
            clock,
            account: CpuAccount::new(limits, events.load().clone()),
            heat: Arc::default(),
            shares,
        };
        let mut isolate = Self {
            runtime,
            context,
            bundle,
            options,
            events,
            heap_estimate,
            kills,
        };
        isolate.context.isolate = isolate.runtime.isolate_ptr();
        let evaluated = match isolate.start_tenant() {
            Ok(()) => tokio::select! {
                evaluated = evaluate_main(&mut isolate.runtime, &mut isolate.context, &main) => evaluated,
                () = ready.closed() => {
                    tracing::debug!(script = %isolate.bundle.name, "load abandoned by its caller");
                    return Err(None);
                }
            },
            Err(message) => Err(message),
        };
        if let Err(message) = evaluated {
            return Err(Some(match isolate.context.condemned.get() {
                Some(kind) => {
                    isolate.kills.record(kind);
                    RuntimeError::Limit {
                        script,
                        kind,
                        startup: true,
                    }
                }
                None => load_error(message),
            }));
        }
        isolate.context.account.started();
        Ok(isolate)
    }

    /// Gives the runtime its tenant: the node's and the script's configuration.
    fn start_tenant(&mut self) -> Result<(), String> {
        let node = NodeConfig {
            outbound: self.options.outbound.clone(),
            wait_until_ms: self
                .options
                .wait_until
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
            bindings: self.options.bindings.clone(),
            code_from_strings: self.options.limits.code_from_strings,
        };
        let compatibility = Compatibility::resolve(
            self.bundle.compatibility_date.as_deref(),
            &self.bundle.compatibility_flags,
        )?;
        let tenant = TenantConfig {
            script: self.bundle.name.clone(),
            env: self.bundle.env.clone(),
            bindings: self.bundle.bindings.clone(),
            log: self.options.log.clone(),
            compatibility,
        };
        let runtime = &mut self.runtime;
        self.context
            .slice(|| skiff_js_api::start_tenant(&mut runtime.0, &node, tenant))
            .ok_or_else(|| "terminated".to_string())
            .and_then(|started| started.map_err(|err| err.to_string()))
    }

    /// Sends the isolate's handle through `ready`; the receiver of its shutdown signal and its
    /// heap size, or `None` if nobody waits for it any more.
    fn announce(
        &mut self,
        ready: oneshot::Sender<Result<IsolateHandle, RuntimeError>>,
        thread: usize,
    ) -> Option<(oneshot::Receiver<()>, Arc<HeapSize>)> {
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let heap = Arc::new(match self.heap_estimate {
            Some(estimate) => HeapSize::estimated(estimate),
            // Measured entered, like every engine call (see `Sliced`).
            None => {
                let runtime = &mut self.runtime;
                let heap = HeapSize::measured(
                    self.context
                        .slice(|| heap_size(&mut runtime.0))
                        .unwrap_or(0),
                );
                if self.options.heap_census {
                    let census = self.context.slice(|| heap_census(&mut runtime.0));
                    heap.set_census(census.unwrap_or_default());
                }
                heap
            }
        });
        let handle = IsolateHandle {
            heap: heap.clone(),
            script: self.bundle.name.as_str().into(),
            version: self.options.log.version().into(),
            events: self.events.clone(),
            shutdown: Arc::new(ShutdownSignal(std::sync::Mutex::new(Some(shutdown_tx)))),
            heat: self.context.heat.clone(),
            lane: self.options.lane,
            condemned: self.context.condemned.clone(),
            max_queued: self.options.limits.queued_requests,
            successor: Arc::default(),
            thread,
        };
        ready.send(Ok(handle)).ok()?;
        Some((shutdown_rx, heap))
    }

    /// Serves events until shut down, then finishes what was accepted: requests in flight,
    /// streamed bodies and waitUntil work, for at most the waitUntil budget. Returns true if
    /// the engine failed instead. The heap, if estimated, is measured between polls once the
    /// isolate is idle (see `HeapSize`).
    async fn serve(&mut self, mut shutdown: oneshot::Receiver<()>, heap: &HeapSize) -> bool {
        let load = self.events.load().clone();
        let rt = &mut *self.runtime.0;
        let op_state = rt.op_state();
        let mut inbox_closed = false;
        let ready_at = tokio::time::Instant::now();
        let census = self.options.heap_census;
        let heap_due = std::cell::Cell::new(if self.heap_estimate.is_some() {
            HeapDue::AfterFirstRequest
        } else {
            HeapDue::Done
        });
        let serve = sliced(
            &mut self.context,
            std::future::poll_fn(|cx| {
                let polled = rt.poll_event_loop(cx, PollEventLoopOptions::default());
                if polled.is_pending() && heap_due.get() != HeapDue::Done {
                    let idle = load.in_flight() == 0;
                    let due = match heap_due.get() {
                        HeapDue::AfterFirstRequest => idle && load.submitted() > 0,
                        HeapDue::WhenIdle => idle,
                        HeapDue::Now | HeapDue::Done => true,
                    };
                    if due {
                        if census {
                            heap.set_census(heap_census(rt));
                        }
                        heap.set_measured(heap_size(rt));
                        heap_due.set(HeapDue::Done);
                    }
                }
                polled
            }),
        );
        tokio::pin!(serve);
        let heap_timer = tokio::time::sleep_until(ready_at + HEAP_MEASURE_IDLE);
        tokio::pin!(heap_timer);
        let mut drain_deadline = None;
        let mut engine_error = false;
        loop {
            tokio::select! {
                // Wakes the loop so that `serve` is polled, and measures, even with no events.
                _ = &mut heap_timer, if matches!(heap_due.get(), HeapDue::AfterFirstRequest | HeapDue::WhenIdle) => {
                    if heap_due.get() == HeapDue::AfterFirstRequest {
                        heap_due.set(HeapDue::WhenIdle);
                        heap_timer.as_mut().reset(ready_at + HEAP_MEASURE_LATEST);
                    } else {
                        heap_due.set(HeapDue::Now);
                    }
                }
                result = &mut serve => {
                    if let Some(Err(err)) = result {
                        engine_error = true;
                        self.options.log.emit(LogLevel::Error, &format!("Uncaught {err}"));
                        tracing::warn!(script = %self.bundle.name, %err, "isolate stopped after an engine error");
                    }
                    break;
                }
                _ = &mut shutdown, if drain_deadline.is_none() => {
                    drain_deadline = Some(tokio::time::Instant::now() + self.options.wait_until);
                }
                _ = tokio::time::sleep(DRAIN_POLL), if drain_deadline.is_some() => {
                    let expired = drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                    let idle = || load.in_flight() == 0 && load.submitted() == load.accepted();
                    if expired || (inbox_closed && idle()) {
                        break;
                    }
                    if idle() {
                        // From now on a sender finds the queue closed and takes its event
                        // elsewhere (`IsolateHandle::fetch`); an event that got in before the
                        // close is still served, and the loop ends at the next idle check.
                        skiff_js_api::close_inbox(&op_state.borrow());
                        inbox_closed = true;
                    }
                }
            }
        }
        engine_error
    }

    /// After serving: a condemned isolate answers what it had taken with its limit's 503 and
    /// hands its memory back; one stopped by an engine error answers with a 500. The meters of
    /// the invocations still in flight get their CPU, and the limit that stopped them.
    fn finish(self, engine_error: bool) {
        let Self {
            runtime,
            context,
            bundle,
            options,
            kills,
            ..
        } = self;
        if let Some(kind) = context.condemned.get() {
            kills.record(kind);
            let failed = skiff_js_api::fail_pending(
                &mut runtime.0.op_state().borrow_mut(),
                503,
                kind.message(),
            );
            context.shares.end_all(Some(match kind {
                LimitKind::Cpu => MeterStop::Cpu,
                LimitKind::Memory => MeterStop::Memory,
            }));
            options.log.emit(
                LogLevel::Error,
                &format!("{}; the isolate was stopped", kind.message()),
            );
            tracing::warn!(script = %bundle.name, ?kind, failed, "isolate condemned");
            drop(runtime);
            crate::sys::release_freed_memory();
        } else if engine_error {
            // The requests it had taken get the tenant's error at once, as Cloudflare answers an
            // uncaught exception, rather than waiting for the runtime's end.
            skiff_js_api::fail_pending(
                &mut runtime.0.op_state().borrow_mut(),
                500,
                "Worker threw exception",
            );
            context.shares.end_all(None);
        } else {
            context.shares.end_all(None);
            tracing::debug!(script = %bundle.name, "isolate stopped");
        }
    }
}

/// When a ready isolate's estimated heap is measured, from its first poll on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeapDue {
    /// Once it has been sent a request and has nothing in flight.
    AfterFirstRequest,
    /// Once it has nothing in flight ([`HEAP_MEASURE_IDLE`] has passed).
    WhenIdle,
    /// At its next poll ([`HEAP_MEASURE_LATEST`] has passed).
    Now,
    /// Measured (or measured when it became ready).
    Done,
}

/// The engine heap a runtime uses, in bytes (a walk over the whole heap).
fn heap_size(runtime: &mut JsRuntime) -> usize {
    runtime.v8_isolate().get_heap_statistics().total_heap_size()
}

/// The engine's memory by category (the engine layer's heap spaces).
fn heap_census(runtime: &mut JsRuntime) -> Vec<HeapSpace> {
    let isolate = runtime.v8_isolate();
    (0..isolate.number_of_heap_spaces())
        .filter_map(|index| isolate.get_heap_space_statistics(index))
        .map(|space| HeapSpace {
            name: space.space_name().to_string_lossy().into_owned(),
            bytes: space.space_used_size(),
            count: space.physical_space_size(),
        })
        .collect()
}

/// Loads and evaluates the main module (and its imports), then hands the module namespace to
/// the dispatcher. A failure comes back as the engine's message, with the file and line.
async fn evaluate_main(
    runtime: &mut TenantRuntime,
    context: &mut SliceContext,
    main: &ModuleSpecifier,
) -> Result<(), String> {
    let terminated = || "terminated".to_string();
    let rt = &mut *runtime.0;
    let id = sliced(context, Box::pin(rt.load_main_es_module(main)))
        .await
        .ok_or_else(terminated)?
        .map_err(|e| e.to_string())?;
    // Evaluation starts synchronously: the bundle's top level runs inside this call.
    let evaluation = context
        .slice(|| rt.mod_evaluate(id))
        .ok_or_else(terminated)?;
    sliced(
        context,
        Box::pin(rt.with_event_loop_future(evaluation, PollEventLoopOptions::default())),
    )
    .await
    .ok_or_else(terminated)?
    .map_err(|e| e.to_string())?;
    // Reading the namespace of a module whose evaluation failed makes the engine build the
    // error's stack, which needs this isolate entered like any other engine call: outside a
    // slice, the thread's current isolate is whichever ran last (a warm runtime booted
    // meanwhile, say), and the engine looked up this isolate's atoms in that one's table,
    // forever.
    let namespace = context
        .slice(|| rt.get_module_namespace(id))
        .ok_or_else(terminated)?
        .map_err(|e| e.to_string())?;
    skiff_js_api::set_tenant_module(&mut rt.op_state().borrow_mut(), namespace);
    Ok(())
}
