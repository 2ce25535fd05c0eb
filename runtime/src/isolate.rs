//! One tenant isolate: a `JsRuntime` with the tenant global scope and one script version, and
//! the Send handle the rest of the node talks to it through.
//!
//! Many isolates share a pool thread. The engine keeps a per-thread "current isolate" (V8's
//! entered isolate; the QuickJS backend uses it for every handle operation outside a
//! `HandleScope`, and `OwnedIsolate`'s drop asserts it is the current one). Whichever isolate
//! was created or scoped last stays current, so driving or dropping another one on the same
//! thread would act on the wrong engine state. Every poll and the final drop therefore run
//! with their own isolate entered: see [`Entered`] and [`TenantRuntime`].

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use deno_core::{
    JsRuntime, ModuleSpecifier, PollEventLoopOptions, RuntimeOptions, StaticModuleLoader, v8,
};
use skiff_js_api::{
    EventSender, FetchRequest, LogSink, OutboundPolicy, ResponseHead, WorkerConfig, event_channel,
};
use tokio::sync::oneshot;

use crate::bundle::BUNDLE_BASE;
use crate::pool::ThreadLoad;
use crate::{RuntimeError, ScriptBundle};

/// How often a draining isolate checks whether its work is done.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// How an isolate is set up, besides its bundle.
#[derive(Clone, Debug)]
pub struct IsolateOptions {
    pub log: LogSink,
    pub outbound: OutboundPolicy,
    /// How long `ctx.waitUntil` work may run after its response.
    pub wait_until: Duration,
}

impl IsolateOptions {
    /// Defaults for `script`: logs through `tracing`, no private addresses, 50 subrequests,
    /// 30 s of `waitUntil`.
    pub fn new(script: &str) -> Self {
        Self {
            log: LogSink::tracing(script),
            outbound: OutboundPolicy::default(),
            wait_until: Duration::from_secs(30),
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
}

#[derive(Debug)]
struct ShutdownSignal(std::sync::Mutex<Option<oneshot::Sender<()>>>);

impl IsolateHandle {
    pub fn script(&self) -> &str {
        &self.script
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Requests and `waitUntil` tasks accepted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.events.in_flight()
    }

    /// True once the isolate has stopped (engine error, panic or shutdown).
    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Runs the tenant's fetch handler for one request.
    pub async fn fetch(&self, request: FetchRequest) -> Result<ResponseHead, RuntimeError> {
        let gone = || RuntimeError::IsolateGone {
            script: self.script.to_string(),
        };
        let response = self.events.send(request).map_err(|_| gone())?;
        response.await.map_err(|_| gone())
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

/// Runs a future with an isolate entered for the duration of each poll.
struct Entered<F> {
    isolate: *const v8::Isolate,
    future: F,
}

impl<F: Future + Unpin> Future for Entered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let isolate = self.isolate;
        // SAFETY: `isolate` points into the `JsRuntime` that `future` borrows, which outlives
        // this poll; enter and exit are paired on this thread.
        unsafe { (*isolate).enter() };
        let result = Pin::new(&mut self.future).poll(cx);
        // SAFETY: as above; the isolate entered just before is the current one again.
        unsafe { (*isolate).exit() };
        result
    }
}

/// A `JsRuntime` that enters its own isolate before it is dropped.
struct TenantRuntime(ManuallyDrop<JsRuntime>);

impl TenantRuntime {
    fn isolate_ptr(&mut self) -> *const v8::Isolate {
        let isolate: &v8::Isolate = self.0.v8_isolate();
        isolate
    }
}

/// `future`, polled with `isolate` entered. The isolate must outlive the future.
fn entered<F: Future + Unpin>(isolate: *const v8::Isolate, future: F) -> Entered<F> {
    Entered { isolate, future }
}

impl Drop for TenantRuntime {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The engine's state is unknown after a panic; leaking this isolate is better than
            // a second panic in its destructor aborting the node.
            return;
        }
        let isolate = self.isolate_ptr();
        // SAFETY: the isolate is alive until the drop below, which exits and disposes it.
        unsafe { (*isolate).enter() };
        // SAFETY: dropped once, here; the field is never used again.
        unsafe { ManuallyDrop::drop(&mut self.0) };
    }
}

fn module_url(path: &str) -> Result<ModuleSpecifier, RuntimeError> {
    ModuleSpecifier::parse(BUNDLE_BASE)
        .and_then(|base| base.join(path))
        .map_err(|err| RuntimeError::Load {
            script: String::new(),
            message: format!("bad module path {path:?}: {err}"),
        })
}

/// Creates the isolate, evaluates the bundle, reports readiness through `ready`, then serves
/// events until shut down. Runs as a local task on a pool thread.
pub(crate) async fn run(
    bundle: Arc<ScriptBundle>,
    options: IsolateOptions,
    load: Arc<ThreadLoad>,
    ready: oneshot::Sender<Result<IsolateHandle, RuntimeError>>,
) {
    let script = bundle.name.clone();
    let load_error = |message: String| RuntimeError::Load {
        script: script.clone(),
        message,
    };
    let (events, inbox) = event_channel();
    let config = WorkerConfig {
        script: bundle.name.clone(),
        env: bundle.env.clone(),
        log: options.log.clone(),
        outbound: options.outbound.clone(),
        wait_until_ms: options.wait_until.as_millis() as u64,
    };
    let mut modules = Vec::with_capacity(bundle.modules.len());
    for (path, source) in &bundle.modules {
        match module_url(path) {
            Ok(url) => modules.push((url, source.clone())),
            Err(err) => {
                let _ = ready.send(Err(load_error(err.to_string())));
                return;
            }
        }
    }
    let main = match module_url(&bundle.main_module) {
        Ok(url) => url,
        Err(err) => {
            let _ = ready.send(Err(load_error(err.to_string())));
            return;
        }
    };
    // Counted from before creation to after the runtime is dropped (declared first, dropped
    // last), so a retiring thread never exits with an engine still alive on it.
    load.isolate_started();
    let _count = scopeguard(move || load.isolate_ended());
    let runtime = JsRuntime::try_new(RuntimeOptions {
        extensions: skiff_js_api::extensions(config, inbox),
        module_loader: Some(Rc::new(StaticModuleLoader::new(modules))),
        ..Default::default()
    });
    let mut runtime = match runtime {
        Ok(runtime) => TenantRuntime(ManuallyDrop::new(runtime)),
        Err(err) => {
            let _ = ready.send(Err(load_error(format!("engine start failed: {err}"))));
            return;
        }
    };

    if let Err(message) = evaluate_main(&mut runtime, &main).await {
        let _ = ready.send(Err(load_error(message)));
        return;
    }

    let in_flight = events.in_flight_counter();
    let (shutdown_tx, mut shutdown_rx) = oneshot::channel();
    let handle = IsolateHandle {
        script: bundle.name.as_str().into(),
        version: bundle.version_id().into(),
        events,
        shutdown: Arc::new(ShutdownSignal(std::sync::Mutex::new(Some(shutdown_tx)))),
    };
    if ready.send(Ok(handle)).is_err() {
        return;
    }

    // Serve until shut down, then finish what was accepted: requests in flight, streamed
    // bodies and waitUntil work, for at most the waitUntil budget.
    let isolate = runtime.isolate_ptr();
    let rt = &mut *runtime.0;
    let serve = entered(
        isolate,
        std::future::poll_fn(|cx| rt.poll_event_loop(cx, PollEventLoopOptions::default())),
    );
    tokio::pin!(serve);
    let mut drain_deadline = None;
    loop {
        tokio::select! {
            result = &mut serve => {
                if let Err(err) = result {
                    options.log.emit(skiff_js_api::LogLevel::Error, &format!("Uncaught {err}"));
                    tracing::warn!(script = %bundle.name, %err, "isolate stopped after an engine error");
                }
                break;
            }
            _ = &mut shutdown_rx, if drain_deadline.is_none() => {
                drain_deadline = Some(tokio::time::Instant::now() + options.wait_until);
            }
            _ = tokio::time::sleep(DRAIN_POLL), if drain_deadline.is_some() => {
                let expired = drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                if in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 || expired {
                    break;
                }
            }
        }
    }
    tracing::debug!(script = %bundle.name, "isolate stopped");
}

/// Loads and evaluates the main module (and its imports), then hands the module namespace to
/// the dispatcher. A failure comes back as the engine's message, with the file and line.
async fn evaluate_main(runtime: &mut TenantRuntime, main: &ModuleSpecifier) -> Result<(), String> {
    let isolate = runtime.isolate_ptr();
    let rt = &mut *runtime.0;
    let id = entered(isolate, Box::pin(rt.load_main_es_module(main)))
        .await
        .map_err(|e| e.to_string())?;
    let evaluation = rt.mod_evaluate(id);
    entered(
        isolate,
        Box::pin(rt.with_event_loop_future(evaluation, PollEventLoopOptions::default())),
    )
    .await
    .map_err(|e| e.to_string())?;
    let namespace = rt.get_module_namespace(id).map_err(|e| e.to_string())?;
    skiff_js_api::set_tenant_module(&mut rt.op_state().borrow_mut(), namespace);
    Ok(())
}

struct ScopeGuard<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for ScopeGuard<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

fn scopeguard<F: FnOnce()>(f: F) -> ScopeGuard<F> {
    ScopeGuard(Some(f))
}
