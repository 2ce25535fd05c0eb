//! Ops of the `skiff_worker` extension: how events get into an isolate and responses get out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use deno_core::ByteString;
use deno_core::error::ResourceError;
use deno_core::{OpState, ResourceId, op2, v8};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::body::{BodyReceiver, RequestBodyResource, body_channel};
use crate::log::LogLevel;
use crate::outbound::{HOPS_HEADER, MAX_INVOCATION_DEPTH};
use crate::{NodeConfig, TenantConfig};

/// How many chunks of a streamed response may wait between the isolate and the HTTP side.
const RESPONSE_CHANNEL_CHUNKS: usize = 8;
/// The largest chunk read out of a response stream at once.
const RESPONSE_READ_LIMIT: usize = 64 * 1024;

/// An HTTP request for the tenant's fetch handler.
#[derive(Debug)]
pub struct FetchRequest {
    pub method: String,
    /// The absolute URL, e.g. `https://hello.localhost/path?q`.
    pub url: String,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `None` for a request without a body (GET, HEAD, or an empty body).
    pub body: Option<BodyReceiver>,
}

/// A request queued for an isolate, with the place its response goes.
#[derive(Debug)]
struct FetchEvent {
    request: FetchRequest,
    respond: oneshot::Sender<ResponseHead>,
}

/// The status, headers and body of a tenant's response.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(ByteString, ByteString)>,
    pub body: ResponseBody,
}

/// A response body: complete, or a stream of chunks that ends when the sender is dropped.
#[derive(Debug)]
pub enum ResponseBody {
    Full(Bytes),
    Stream(BodyReceiver),
}

/// How long an isolate may keep taking up new requests in one go. Past its turn, it lets the
/// other isolates on its thread run before it takes the next one, so that a busy tenant with a
/// full queue cannot hold its thread for as long as its queue stays full.
const TURN: Duration = Duration::from_millis(1);

/// What an isolate is busy with, readable from any thread.
#[derive(Debug, Default)]
pub struct IsolateLoad {
    in_flight: AtomicUsize,
    submitted: AtomicU64,
    accepted: AtomicU64,
    /// When the isolate's current turn on its thread began, in nanoseconds after [`epoch`].
    turn_began: AtomicU64,
}

impl IsolateLoad {
    /// Requests and `waitUntil` tasks accepted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests sent to the isolate since it started.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Acquire)
    }

    /// Requests the isolate has taken from its queue since it started.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Acquire)
    }

    /// Marks the start of a turn: the runtime calls this each time it polls the isolate.
    pub fn begin_turn(&self) {
        self.turn_began
            .store(nanos_since_epoch(), Ordering::Release);
    }

    /// True once the current turn has lasted [`TURN`].
    fn turn_over(&self) -> bool {
        let began = self.turn_began.load(Ordering::Acquire);
        nanos_since_epoch().saturating_sub(began) >= TURN.as_nanos() as u64
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A fixed instant of this process, for turn times that fit an atomic.
fn nanos_since_epoch() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos().try_into().unwrap_or(u64::MAX)
}

/// The runtime's end of an isolate's event queue.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<FetchEvent>,
    load: Arc<IsolateLoad>,
}

impl EventSender {
    /// Queues a request for the isolate; the receiver resolves with the response head, or
    /// fails if the isolate stops first. Fails at once, giving the request back, when the
    /// isolate is gone.
    pub fn send(
        &self,
        request: FetchRequest,
    ) -> Result<oneshot::Receiver<ResponseHead>, FetchRequest> {
        let (respond, response) = oneshot::channel();
        self.load.submitted.fetch_add(1, Ordering::AcqRel);
        if let Err(err) = self.tx.send(FetchEvent { request, respond }) {
            self.load.submitted.fetch_sub(1, Ordering::AcqRel);
            return Err(err.0.request);
        }
        Ok(response)
    }

    /// What the isolate is busy with; holding it does not keep the queue open.
    pub fn load(&self) -> &Arc<IsolateLoad> {
        &self.load
    }

    /// True once the isolate has stopped taking events.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The isolate's end of its event queue; given to [`crate::extensions`].
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<FetchEvent>,
    load: Arc<IsolateLoad>,
}

/// A connected event queue for one isolate.
pub fn event_channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let load = Arc::new(IsolateLoad::default());
    (
        EventSender {
            tx,
            load: load.clone(),
        },
        EventReceiver { rx, load },
    )
}

struct Inbox(Rc<RefCell<mpsc::UnboundedReceiver<FetchEvent>>>);

struct Load(Arc<IsolateLoad>);

#[derive(Default)]
struct Pending {
    next_id: u32,
    responders: HashMap<u32, oneshot::Sender<ResponseHead>>,
}

struct TenantModule(Option<v8::Global<v8::Object>>);

/// The bootstrap's function that readies the global scope for a tenant, until it is called.
struct TenantStart(Option<v8::Global<v8::Function>>);

/// The node and tenant configuration, once the runtime has been given a tenant.
struct Configured {
    node: NodeConfig,
    tenant: TenantConfig,
}

pub(crate) fn init_state(state: &mut OpState, events: EventReceiver) {
    state.put(Inbox(Rc::new(RefCell::new(events.rx))));
    state.put(Load(events.load));
    state.put(Pending::default());
    state.put(TenantModule(None));
    state.put(TenantStart(None));
    // Outbound fetch() stays under the strict default policy until the tenant's node
    // configuration replaces it (deno_fetch reads permissions and options at call time).
    state.put(crate::outbound::permissions(
        &crate::outbound::OutboundPolicy::default(),
    ));
}

pub(crate) fn take_tenant_start(state: &mut OpState) -> Option<v8::Global<v8::Function>> {
    state.borrow_mut::<TenantStart>().0.take()
}

pub(crate) fn configure(state: &mut OpState, node: NodeConfig, tenant: TenantConfig) {
    state.put(Configured { node, tenant });
}

/// The node and tenant configuration of a runtime that has its tenant.
pub(crate) fn configured(state: &OpState) -> Option<(&NodeConfig, &TenantConfig)> {
    state
        .try_borrow::<Configured>()
        .map(|configured| (&configured.node, &configured.tenant))
}

pub(crate) fn set_tenant_module(state: &mut OpState, namespace: v8::Global<v8::Object>) {
    state.borrow_mut::<TenantModule>().0 = Some(namespace);
}

/// Called once by the bootstrap with its tenant start hook.
#[op2(fast)]
pub fn op_skiff_set_tenant_start(
    scope: &mut v8::PinScope,
    state: &mut OpState,
    start: v8::Local<v8::Function>,
) {
    let start = v8::Global::new(scope, start);
    state.borrow_mut::<TenantStart>().0 = Some(start);
}

/// Logs a message of the runtime's own (cut at [`crate::log::MAX_MESSAGE_BYTES`], outside any
/// invocation's budget).
#[op2(fast)]
pub fn op_skiff_log(state: &mut OpState, #[smi] level: u32, #[string] message: &str) {
    match state.try_borrow::<Configured>() {
        Some(configured) => configured
            .tenant
            .log
            .emit(LogLevel::from_console(level), message),
        None => tracing::debug!(
            message = %crate::log::escape_control(message),
            "log output of an isolate without a tenant"
        ),
    }
}

/// Logs tenant output for an invocation that has logged `used` bytes so far; returns its new
/// total (see [`crate::LogSink::emit_within`]). The bootstrap keeps the total in the
/// invocation's context, where tenant code cannot reach it.
#[op2(fast)]
pub fn op_skiff_log_within(
    state: &mut OpState,
    #[smi] level: u32,
    #[string] message: &str,
    used: u32,
) -> u32 {
    match state.try_borrow::<Configured>() {
        Some(configured) => {
            let used = configured.tenant.log.emit_within(
                LogLevel::from_console(level),
                message,
                used as usize,
            );
            u32::try_from(used).unwrap_or(u32::MAX)
        }
        None => {
            tracing::debug!(
                message = %crate::log::escape_control(message),
                "log output of an isolate without a tenant"
            );
            used
        }
    }
}

static SUBREQUESTS_REFUSED: AtomicU64 = AtomicU64::new(0);
static LOOPS_REFUSED: AtomicU64 = AtomicU64::new(0);

/// `fetch()` calls refused for passing the subrequest limit, in this process.
pub fn subrequests_refused_total() -> u64 {
    SUBREQUESTS_REFUSED.load(Ordering::Relaxed)
}

/// Requests refused by the loop guard (no invocations left in their `cf-ew-via` header).
pub fn loops_refused_total() -> u64 {
    LOOPS_REFUSED.load(Ordering::Relaxed)
}

/// Counts a `fetch()` refused for passing the subrequest limit.
#[op2(fast)]
pub fn op_skiff_subrequest_refused() {
    SUBREQUESTS_REFUSED.fetch_add(1, Ordering::Relaxed);
}

/// Charges the bytes of a CryptoKey's material, which deno_crypto keeps outside the engine heap
/// until the isolate goes (see js/03_keys.js). Past the limit the isolate is condemned.
#[op2(fast)]
pub fn op_skiff_key_material(state: &mut OpState, bytes: f64) {
    crate::external_memory(state).add(bytes.max(0.0) as usize);
}

/// The `env` object's contents, as JSON text (parsed once, in JavaScript).
#[op2]
#[string]
pub fn op_skiff_env(state: &mut OpState) -> String {
    match state.try_borrow::<Configured>() {
        Some(configured) => serde_json::Value::Object(configured.tenant.env.clone()).to_string(),
        None => "{}".to_string(),
    }
}

/// The `env` bindings that are not values, as `[type, name]` pairs (what they stand for stays
/// on this side).
#[op2]
#[serde]
pub fn op_skiff_env_bindings(state: &mut OpState) -> Vec<(&'static str, String)> {
    let Some(configured) = state.try_borrow::<Configured>() else {
        return Vec::new();
    };
    configured
        .tenant
        .bindings
        .iter()
        .map(|binding| match binding {
            crate::EnvBinding::Kv { name, .. } => ("kv", name.clone()),
            crate::EnvBinding::Service { name, .. } => ("service", name.clone()),
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigForJs {
    script: String,
    subrequest_limit: u32,
    wait_until_ms: u64,
    hops_header: &'static str,
    invocation_depth: u32,
}

/// The configuration the bootstrap reads when the tenant starts.
#[op2]
#[serde]
pub fn op_skiff_config(state: &mut OpState) -> ConfigForJs {
    let defaults = crate::outbound::OutboundPolicy::default();
    match state.try_borrow::<Configured>() {
        Some(Configured { node, tenant }) => ConfigForJs {
            script: tenant.script.clone(),
            subrequest_limit: node.outbound.subrequests,
            wait_until_ms: node.wait_until_ms,
            hops_header: HOPS_HEADER,
            invocation_depth: MAX_INVOCATION_DEPTH,
        },
        None => ConfigForJs {
            script: String::new(),
            subrequest_limit: defaults.subrequests,
            wait_until_ms: 0,
            hops_header: HOPS_HEADER,
            invocation_depth: MAX_INVOCATION_DEPTH,
        },
    }
}

/// The tenant's module namespace, handed over once.
#[op2]
pub fn op_skiff_take_module(state: &mut OpState) -> Option<v8::Global<v8::Object>> {
    state.borrow_mut::<TenantModule>().0.take()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventForJs {
    id: u32,
    /// Invocations the request's chain may still make after this one (the value its own
    /// subrequests carry in the hop header).
    hops_left: u32,
    method: String,
    url: String,
    headers: Vec<(String, ByteString)>,
    body_rid: Option<ResourceId>,
}

/// Waits for the next event. Resolves to `null` when the isolate is being shut down.
#[op2]
#[serde]
pub async fn op_skiff_next_event(state: Rc<RefCell<OpState>>) -> Option<EventForJs> {
    let inbox = state.borrow().borrow::<Inbox>().0.clone();
    let turn_over = state.borrow().borrow::<Load>().0.turn_over();
    if turn_over {
        // Back of the thread's queue: the next request waits for the next poll.
        tokio::task::yield_now().await;
    }
    let (FetchEvent { request, respond }, hops) = loop {
        let event = std::future::poll_fn(|cx| inbox.borrow_mut().poll_recv(cx)).await?;
        if event.respond.is_closed() {
            // Its caller stopped waiting (the client went away): it never reaches the script.
            abandoned(&state.borrow());
            continue;
        }
        match invocations_left(&event.request.headers) {
            Some(hops) => break (event, hops),
            None => refuse_loop(&state.borrow(), event),
        }
    };
    let mut state = state.borrow_mut();
    let load = &state.borrow::<Load>().0;
    load.accepted.fetch_add(1, Ordering::AcqRel);
    load.begin();
    let body_rid = request
        .body
        .map(|body| state.resource_table.add(RequestBodyResource::new(body)));
    let pending = state.borrow_mut::<Pending>();
    let id = pending.next_id;
    pending.next_id = pending.next_id.wrapping_add(1);
    pending.responders.insert(id, respond);
    Some(EventForJs {
        id,
        hops_left: hops,
        method: request.method,
        url: request.url,
        headers: request
            .headers
            .into_iter()
            .map(|(k, v)| (k, ByteString::from(v)))
            .collect(),
        body_rid,
    })
}

/// How many more invocations a request's chain may make after this one, from its hop header
/// (several values: the smallest; none, or one that is not a number: a new chain). `None` when
/// it has none left: the request is a loop.
fn invocations_left(headers: &[(String, Vec<u8>)]) -> Option<u32> {
    let left = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(HOPS_HEADER))
        .filter_map(|(_, value)| std::str::from_utf8(value).ok()?.trim().parse::<u32>().ok())
        .min()
        .unwrap_or(MAX_INVOCATION_DEPTH)
        .min(MAX_INVOCATION_DEPTH);
    left.checked_sub(1)
}

/// Takes a request nobody waits for any more off the queue, unanswered.
fn abandoned(state: &OpState) {
    state
        .borrow::<Load>()
        .0
        .accepted
        .fetch_add(1, Ordering::AcqRel);
    tracing::debug!("request dropped: its client is gone");
}

/// Answers a request of a chain that has no invocations left as Cloudflare does (its error
/// 1019), without running tenant code. The request counts as taken from the queue.
fn refuse_loop(state: &OpState, event: FetchEvent) {
    LOOPS_REFUSED.fetch_add(1, Ordering::Relaxed);
    state
        .borrow::<Load>()
        .0
        .accepted
        .fetch_add(1, Ordering::AcqRel);
    if let Some(configured) = state.try_borrow::<Configured>() {
        configured.tenant.log.emit(
            LogLevel::Error,
            &format!(
                "Request refused: worker loop limit ({MAX_INVOCATION_DEPTH} invocations in one chain of subrequests)"
            ),
        );
    }
    let _ = event.respond.send(ResponseHead {
        status: 508,
        headers: vec![(
            ByteString::from("content-type"),
            ByteString::from("text/plain;charset=UTF-8"),
        )],
        body: ResponseBody::Full(Bytes::from_static(b"error code: 1019\n")),
    });
}

fn take_responder(state: &mut OpState, id: u32) -> Option<oneshot::Sender<ResponseHead>> {
    state.borrow_mut::<Pending>().responders.remove(&id)
}

fn finish(state: &OpState) {
    state.borrow::<Load>().0.end();
}

/// Answers event `id` with a complete body. Returns false when the client has gone away.
#[op2]
pub fn op_skiff_respond(
    state: &mut OpState,
    #[smi] id: u32,
    #[smi] status: u16,
    #[serde] headers: Vec<(ByteString, ByteString)>,
    #[buffer(copy)] body: Bytes,
) -> bool {
    let Some(responder) = take_responder(state, id) else {
        return false;
    };
    finish(state);
    responder
        .send(ResponseHead {
            status,
            headers,
            body: ResponseBody::Full(body),
        })
        .is_ok()
}

/// Answers event `id` with a body read from resource `rid` (a `ReadableStream` turned into a
/// resource by `resourceForReadableStream`). Chunks are pumped on the isolate's thread into a
/// bounded channel, so a slow client slows the stream instead of filling memory.
#[op2]
pub fn op_skiff_respond_stream(
    state: &mut OpState,
    #[smi] id: u32,
    #[smi] status: u16,
    #[serde] headers: Vec<(ByteString, ByteString)>,
    #[smi] rid: ResourceId,
) -> Result<bool, ResourceError> {
    let resource = state.resource_table.take_any(rid)?;
    let Some(responder) = take_responder(state, id) else {
        resource.close();
        return Ok(false);
    };
    let (tx, rx) = body_channel(RESPONSE_CHANNEL_CHUNKS);
    let load = state.borrow::<Load>().0.clone();
    let sent = responder
        .send(ResponseHead {
            status,
            headers,
            body: ResponseBody::Stream(rx),
        })
        .is_ok();
    pump(resource, tx, move || load.end());
    Ok(sent)
}

/// Pumps a `ReadableStream` resource into `tx` on the isolate's thread, chunk by chunk (the
/// channel's bound holds the stream back), closes the resource, then calls `done`.
pub(crate) fn pump(
    resource: Rc<dyn deno_core::Resource>,
    tx: crate::body::BodySender,
    done: impl FnOnce() + 'static,
) {
    deno_core::unsync::spawn(async move {
        loop {
            match resource.clone().read(RESPONSE_READ_LIMIT).await {
                Ok(view) if view.is_empty() => break,
                Ok(view) => {
                    if tx.send(Ok(Bytes::copy_from_slice(&view))).await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    let _ = tx.send(Err(std::io::Error::other(err.to_string()))).await;
                    break;
                }
            }
        }
        resource.close();
        done();
    });
}

/// Tracks a `ctx.waitUntil` task: `begin` true when it starts, false when it settles.
#[op2(fast)]
pub fn op_skiff_wait_until(state: &mut OpState, begin: bool) {
    let load = &state.borrow::<Load>().0;
    if begin {
        load.begin();
    } else {
        load.end();
    }
}

/// Answers every request the isolate has accepted but not answered, and every request still
/// queued for it, with `status` and a plain-text `message`: used when an isolate is condemned.
/// Returns how many requests were answered.
pub fn fail_pending(state: &mut OpState, status: u16, message: &str) -> usize {
    let head = || ResponseHead {
        status,
        headers: vec![(
            ByteString::from("content-type"),
            ByteString::from("text/plain;charset=UTF-8"),
        )],
        body: ResponseBody::Full(Bytes::from(format!("{message}\n"))),
    };
    // Closed first, so that whoever gets one of these answers already sees the isolate closed.
    let inbox = state.borrow::<Inbox>().0.clone();
    let mut inbox = inbox.borrow_mut();
    inbox.close();
    let mut answered = 0;
    let pending = std::mem::take(&mut state.borrow_mut::<Pending>().responders);
    for (_, responder) in pending {
        answered += usize::from(responder.send(head()).is_ok());
    }
    while let Ok(event) = inbox.try_recv() {
        answered += usize::from(event.respond.send(head()).is_ok());
    }
    answered
}
