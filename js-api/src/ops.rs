//! Ops of the `skiff_worker` extension: how events get into an isolate and responses and
//! results get out. The event queue is `queue.rs`; the invocations in flight, `invocation.rs`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use deno_core::ByteString;
use deno_core::convert;
use deno_core::error::ResourceError;
use deno_core::{OpState, ResourceId, op2, v8};
use deno_error::JsErrorBox;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::body::{RequestBodyResource, body_channel};
use crate::invocation::{Invocations, NO_INVOCATION, Reply, invocations};
use crate::log::LogLevel;
use crate::outbound::{HOPS_HEADER, MAX_INVOCATION_DEPTH};
use crate::queue::{EventReceiver, IsolateLoad, QueuedEvent, ResponseBody, ResponseHead};
use crate::{NodeConfig, TenantConfig};

/// How many chunks of a streamed response may wait between the isolate and the HTTP side.
const RESPONSE_CHANNEL_CHUNKS: usize = 8;
/// The largest chunk read out of a response stream at once.
const RESPONSE_READ_LIMIT: usize = 64 * 1024;

struct Inbox(Rc<RefCell<mpsc::UnboundedReceiver<QueuedEvent>>>);

struct Load(Arc<IsolateLoad>);

/// Held in the runtime's op state, so dropped with the runtime: its receivers learn that the
/// runtime is gone (a condemned isolate's), and what waits on its JavaScript stops waiting.
struct RuntimeLife(tokio::sync::watch::Sender<()>);

/// A receiver that sees the runtime of `state` go (`changed()` fails once it has).
pub(crate) fn runtime_gone(state: &OpState) -> tokio::sync::watch::Receiver<()> {
    state.borrow::<RuntimeLife>().0.subscribe()
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
    state.put(RuntimeLife(tokio::sync::watch::channel(()).0));
    crate::invocation::init_state(state);
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
    /// `[name, on]` for every entry of the compatibility table.
    compatibility_flags: Vec<(&'static str, bool)>,
    /// Whether the node lets tenant code compile strings (see `NodeConfig`).
    code_from_strings: bool,
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
            compatibility_flags: tenant.compatibility.flags().to_vec(),
            code_from_strings: node.code_from_strings,
        },
        None => ConfigForJs {
            script: String::new(),
            subrequest_limit: defaults.subrequests,
            wait_until_ms: 0,
            hops_header: HOPS_HEADER,
            invocation_depth: MAX_INVOCATION_DEPTH,
            compatibility_flags: crate::Compatibility::default().flags().to_vec(),
            code_from_strings: false,
        },
    }
}

/// The tenant's module namespace, handed over once.
#[op2]
pub fn op_skiff_take_module(state: &mut OpState) -> Option<v8::Global<v8::Object>> {
    state.borrow_mut::<TenantModule>().0.take()
}

/// The next event, as the dispatcher gets it: an array whose first element says what it is.
///
/// - a request: `[EVENT_FETCH, id, hopsLeft, method, url, bodyRid | null, headers]`, with
///   `headers` flat (`[name, value, name, value, ...]`);
/// - a scheduled event: `[EVENT_SCHEDULED, id, cron, scheduledTime]`;
/// - `null` once the isolate is being shut down.
///
/// Built with the engine's API rather than serde: an object with named fields cost a tenth of
/// a hello-world request's time in the isolate, most of it making the fields' keys.
struct NextEvent(Option<EventForJs>);

/// `NextEvent`'s kinds (05_dispatch.js has the same numbers).
const EVENT_FETCH: i32 = 0;
const EVENT_SCHEDULED: i32 = 1;

enum EventForJs {
    Fetch(FetchForJs),
    Scheduled(ScheduledForJs),
}

struct FetchForJs {
    id: u32,
    /// Invocations the request's chain may still make after this one (the value its own
    /// subrequests carry in the hop header).
    hops_left: u32,
    method: String,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body_rid: Option<ResourceId>,
}

struct ScheduledForJs {
    id: u32,
    cron: String,
    /// Milliseconds since the Unix epoch, as `controller.scheduledTime` has it.
    scheduled_time: f64,
}

impl<'a> deno_core::ToV8<'a> for NextEvent {
    type Error = std::convert::Infallible;

    fn to_v8<'i>(
        self,
        scope: &mut v8::PinScope<'a, 'i>,
    ) -> Result<v8::Local<'a, v8::Value>, Self::Error> {
        let Some(event) = self.0 else {
            return Ok(v8::null(scope).into());
        };
        let int = |scope: &mut v8::PinScope<'a, 'i>, n: i32| -> v8::Local<'a, v8::Value> {
            v8::Integer::new(scope, n).into()
        };
        let elements = match event {
            EventForJs::Fetch(fetch) => {
                let mut headers = Vec::with_capacity(fetch.headers.len() * 2);
                for (name, value) in &fetch.headers {
                    headers.push(utf8(scope, name.as_bytes()));
                    headers.push(latin1(scope, value));
                }
                let body_rid = match fetch.body_rid {
                    Some(rid) => v8::Integer::new_from_unsigned(scope, rid).into(),
                    None => v8::null(scope).into(),
                };
                vec![
                    int(scope, EVENT_FETCH),
                    v8::Integer::new_from_unsigned(scope, fetch.id).into(),
                    v8::Integer::new_from_unsigned(scope, fetch.hops_left).into(),
                    utf8(scope, fetch.method.as_bytes()),
                    utf8(scope, fetch.url.as_bytes()),
                    body_rid,
                    v8::Array::new_with_elements(scope, &headers).into(),
                ]
            }
            EventForJs::Scheduled(scheduled) => vec![
                int(scope, EVENT_SCHEDULED),
                v8::Integer::new_from_unsigned(scope, scheduled.id).into(),
                utf8(scope, scheduled.cron.as_bytes()),
                v8::Number::new(scope, scheduled.scheduled_time).into(),
            ],
        };
        Ok(v8::Array::new_with_elements(scope, &elements).into())
    }
}

/// A JavaScript string of UTF-8 `bytes`.
fn utf8<'a>(scope: &mut v8::PinScope<'a, '_>, bytes: &[u8]) -> v8::Local<'a, v8::Value> {
    match v8::String::new_from_utf8(scope, bytes, v8::NewStringType::Normal) {
        Some(string) => string.into(),
        None => v8::String::empty(scope).into(),
    }
}

/// A JavaScript string of Latin-1 `bytes`, one character for each byte (a header value as
/// `ByteString` has it).
fn latin1<'a>(scope: &mut v8::PinScope<'a, '_>, bytes: &[u8]) -> v8::Local<'a, v8::Value> {
    match v8::String::new_from_one_byte(scope, bytes, v8::NewStringType::Normal) {
        Some(string) => string.into(),
        None => v8::String::empty(scope).into(),
    }
}

/// Waits for the next event and starts its invocation. Resolves to `null` when the isolate is
/// being shut down.
#[op2]
pub async fn op_skiff_next_event(state: Rc<RefCell<OpState>>) -> NextEvent {
    let inbox = state.borrow().borrow::<Inbox>().0.clone();
    let turn_over = state.borrow().borrow::<Load>().0.turn_over();
    if turn_over {
        // Back of the thread's queue: the next request waits for the next poll.
        tokio::task::yield_now().await;
    }
    let (event, hops) = loop {
        let Some(event) = std::future::poll_fn(|cx| inbox.borrow_mut().poll_recv(cx)).await else {
            return NextEvent(None);
        };
        if event.abandoned() {
            // Its caller stopped waiting (the client went away): it never reaches the script.
            abandoned(&state.borrow());
            continue;
        }
        match event {
            QueuedEvent::Fetch { request, respond } => match invocations_left(&request.headers) {
                Some(hops) => break (QueuedEvent::Fetch { request, respond }, hops),
                None => refuse_loop(&state.borrow(), respond),
            },
            scheduled @ QueuedEvent::Scheduled { .. } => break (scheduled, 0),
        }
    };
    let mut state = state.borrow_mut();
    let load = &state.borrow::<Load>().0;
    load.accept();
    load.begin();
    match event {
        QueuedEvent::Fetch { request, respond } => {
            let body_rid = request
                .body
                .map(|body| state.resource_table.add(RequestBodyResource::new(body)));
            let id = invocations(&state).begin(Reply::Fetch(respond), request.meter);
            NextEvent(Some(EventForJs::Fetch(FetchForJs {
                id,
                hops_left: hops,
                method: request.method,
                url: request.url,
                headers: request.headers,
                body_rid,
            })))
        }
        QueuedEvent::Scheduled { request, respond } => {
            let id = invocations(&state).begin(Reply::Scheduled(respond), request.meter);
            NextEvent(Some(EventForJs::Scheduled(ScheduledForJs {
                id,
                cron: request.cron,
                scheduled_time: request.scheduled_time_ms as f64,
            })))
        }
    }
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
    state.borrow::<Load>().0.accept();
    tracing::debug!("event dropped: its caller is gone");
}

/// Answers a request of a chain that has no invocations left as Cloudflare does (its error
/// 1019), without running tenant code. The request counts as taken from the queue.
fn refuse_loop(state: &OpState, respond: tokio::sync::oneshot::Sender<ResponseHead>) {
    LOOPS_REFUSED.fetch_add(1, Ordering::Relaxed);
    state.borrow::<Load>().0.accept();
    if let Some(configured) = state.try_borrow::<Configured>() {
        configured.tenant.log.emit(
            LogLevel::Error,
            &format!(
                "Request refused: worker loop limit ({MAX_INVOCATION_DEPTH} invocations in one chain of subrequests)"
            ),
        );
    }
    let _ = respond.send(plain_response(508, "error code: 1019\n".into()));
}

fn plain_response(status: u16, body: Bytes) -> ResponseHead {
    ResponseHead {
        status,
        headers: vec![(
            ByteString::from("content-type"),
            ByteString::from("text/plain;charset=UTF-8"),
        )],
        body: ResponseBody::Full(body),
        length: None,
    }
}

/// Closes the handler part of invocation `id` (see `invocation.rs`) and gives its in-flight
/// count back.
fn close_handler(state: &OpState, id: u32) {
    // Given back first: whoever a scheduled event's result wakes sees it no longer in flight.
    state.borrow::<Load>().0.end();
    invocations(state).close(id);
}

/// A response's header list from JavaScript (`[[name, value], ...]`, each a ByteString), read
/// with deno_core's conversions rather than serde's, which took a quarter of the time of an op
/// that answers with headers.
pub struct HeaderList(Vec<(ByteString, ByteString)>);

impl<'a> deno_core::FromV8<'a> for HeaderList {
    type Error = JsErrorBox;

    fn from_v8(
        scope: &mut v8::PinScope<'a, '_>,
        value: v8::Local<'a, v8::Value>,
    ) -> Result<Self, Self::Error> {
        type Pair = (convert::ByteString, convert::ByteString);
        let pairs = Vec::<Pair>::from_v8(scope, value)?;
        Ok(HeaderList(
            pairs
                .into_iter()
                .map(|(name, value)| {
                    (
                        ByteString::from(name.to_vec()),
                        ByteString::from(value.to_vec()),
                    )
                })
                .collect(),
        ))
    }
}

/// Answers event `id` with a complete body. Returns false when the client has gone away.
#[op2]
pub fn op_skiff_respond(
    state: &mut OpState,
    #[smi] id: u32,
    #[smi] status: u16,
    #[scoped] headers: HeaderList,
    #[buffer(copy)] body: Bytes,
) -> bool {
    respond_full(state, id, status, headers.0, body)
}

/// Answers event `id` with status 200, a text body and its content type: a response made from
/// a string with at most a content type (deno's lazy static body), which goes out without an
/// encoded copy or a header list being made in JavaScript. Returns false when the client has
/// gone away.
#[op2]
pub fn op_skiff_respond_text(
    state: &mut OpState,
    #[smi] id: u32,
    #[scoped] content_type: convert::ByteString,
    #[string] body: String,
) -> bool {
    let headers = vec![(
        ByteString::from("content-type"),
        ByteString::from(content_type.to_vec()),
    )];
    respond_full(state, id, 200, headers, Bytes::from(body.into_bytes()))
}

/// Sends event `id` its response with a complete body and closes its handler part. Returns
/// false when the client has gone away.
fn respond_full(
    state: &mut OpState,
    id: u32,
    status: u16,
    headers: Vec<(ByteString, ByteString)>,
    body: Bytes,
) -> bool {
    let Some(responder) = invocations(state).take_responder(id) else {
        return false;
    };
    let sent = responder
        .send(ResponseHead {
            status,
            headers,
            body: ResponseBody::Full(body),
            length: None,
        })
        .is_ok();
    close_handler(state, id);
    sent
}

/// Answers event `id`, whose handler threw or rejected, with a 500 "Internal Server Error".
#[op2(fast)]
pub fn op_skiff_respond_exception(state: &mut OpState, #[smi] id: u32) {
    let invocations = invocations(state);
    invocations.threw(id);
    let Some(responder) = invocations.take_responder(id) else {
        return;
    };
    let _ = responder.send(plain_response(
        500,
        Bytes::from_static(b"Internal Server Error\n"),
    ));
    close_handler(state, id);
}

/// Answers event `id` with a body read from resource `rid` (a `ReadableStream` turned into a
/// resource by `resourceForReadableStream`). Chunks are pumped on the isolate's thread into a
/// bounded channel, so a slow client slows the stream instead of filling memory; the
/// invocation's handler part stays open until the stream ends.
#[op2]
pub fn op_skiff_respond_stream(
    state: &mut OpState,
    #[smi] id: u32,
    #[smi] status: u16,
    #[scoped] headers: HeaderList,
    #[smi] rid: ResourceId,
    length: f64,
) -> Result<bool, ResourceError> {
    let resource = state.resource_table.take_any(rid)?;
    let Some(responder) = invocations(state).take_responder(id) else {
        resource.close();
        return Ok(false);
    };
    let (tx, rx) = body_channel(RESPONSE_CHANNEL_CHUNKS);
    let load = state.borrow::<Load>().0.clone();
    let invocations: Rc<Invocations> = invocations(state).clone();
    let sent = responder
        .send(ResponseHead {
            status,
            headers: headers.0,
            body: ResponseBody::Stream(rx),
            length: (length >= 0.0).then_some(length as u64),
        })
        .is_ok();
    pump(resource, tx, runtime_gone(state), move || {
        load.end();
        invocations.close(id);
    });
    Ok(sent)
}

/// Answers event `id` with status 101 and the client end `rid` of a `WebSocketPair`, which
/// goes to the node as the response's [`ResponseBody::WebSocket`]. The invocation stays open
/// until the node lets go of the socket (the connection ended), so that the socket's work is
/// the invocation's. Fails, with workerd's message, for an end that has been accepted.
#[op2]
pub fn op_skiff_respond_websocket(
    state: &mut OpState,
    #[smi] id: u32,
    #[scoped] headers: HeaderList,
    #[smi] rid: ResourceId,
) -> Result<bool, JsErrorBox> {
    let end = state
        .resource_table
        .take::<crate::websocket::SocketEnd>(rid)
        .map_err(JsErrorBox::from_err)?;
    let Some((pipe, released)) = end.into_pipe() else {
        return Err(JsErrorBox::type_error(
            "Can't return WebSocket in a Response after calling accept().",
        ));
    };
    let Some(responder) = invocations(state).take_responder(id) else {
        return Ok(false);
    };
    let sent = responder
        .send(ResponseHead {
            status: 101,
            headers: headers.0,
            body: ResponseBody::WebSocket(pipe),
            length: None,
        })
        .is_ok();
    if !sent {
        close_handler(state, id);
        return Ok(false);
    }
    let load = state.borrow::<Load>().0.clone();
    let invocations: Rc<Invocations> = invocations(state).clone();
    deno_core::unsync::spawn(async move {
        let _ = released.await;
        load.end();
        invocations.close(id);
    });
    Ok(true)
}

/// Counts a message a worker's socket took (see `IsolateLoad::accept_socket_message`).
pub(crate) fn count_socket_message(state: &OpState) {
    state.borrow::<Load>().0.accept_socket_message();
}

/// Pumps a `ReadableStream` resource into `tx` on the isolate's thread, chunk by chunk (the
/// channel's bound holds the stream back), closes the resource, then calls `done`. When the
/// runtime goes first (`gone`: its isolate condemned), the body ends with an error.
pub(crate) fn pump(
    resource: Rc<dyn deno_core::Resource>,
    tx: crate::body::BodySender,
    mut gone: tokio::sync::watch::Receiver<()>,
    done: impl FnOnce() + 'static,
) {
    deno_core::unsync::spawn(async move {
        loop {
            // The stream is fed by the runtime's JavaScript: when the runtime goes (its
            // isolate condemned mid-body), nothing will feed it again, and the body is cut.
            let read = tokio::select! {
                read = resource.clone().read(RESPONSE_READ_LIMIT) => read,
                _ = gone.changed() => {
                    let _ = tx.send(Err(std::io::Error::other("the worker was stopped"))).await;
                    break;
                }
            };
            match read {
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

/// Ends the handler of scheduled event `id`: `ok` false if it threw or its promise rejected.
/// The result goes out once the invocation's `waitUntil` work has settled too.
#[op2(fast)]
pub fn op_skiff_scheduled_settled(state: &mut OpState, #[smi] id: u32, ok: bool) {
    if !ok {
        invocations(state).threw(id);
    }
    close_handler(state, id);
}

/// `noRetry()` on scheduled event `id`'s controller or event.
#[op2(fast)]
pub fn op_skiff_scheduled_no_retry(state: &mut OpState, #[smi] id: u32) {
    invocations(state).no_retry(id);
}

/// Counts a subrequest of invocation `id` (one within its budget) on its meter.
#[op2(fast)]
pub fn op_skiff_subrequest(state: &mut OpState, #[smi] id: u32) {
    invocations(state).count_subrequest(id);
}

/// Tracks a `ctx.waitUntil` task of invocation `id` (0: none): `begin` true when it starts,
/// false when it settles. On `begin`, returns whether the task became part of the invocation
/// (false once it has ended); the dispatcher passes 0 at the end of a task that did not.
#[op2(fast)]
pub fn op_skiff_wait_until(state: &mut OpState, begin: bool, #[smi] id: u32) -> bool {
    let load = &state.borrow::<Load>().0;
    let invocations = invocations(state);
    if begin {
        load.begin();
        id != NO_INVOCATION && invocations.open(id)
    } else {
        load.end();
        if id != NO_INVOCATION {
            invocations.close(id);
        }
        false
    }
}

/// Closes the isolate's event queue: sending it another event fails at once (giving the event
/// back to its sender), while the events already queued are still taken and served. Once they
/// are, the dispatch loop ends.
pub fn close_inbox(state: &OpState) {
    state.borrow::<Inbox>().0.borrow_mut().close();
}

/// Answers every request the isolate has accepted but not answered, and every request still
/// queued for it, with `status` and a plain-text `message`: used when an isolate is condemned.
/// Scheduled events still queued are dropped (their callers see the isolate gone). Returns
/// how many requests were answered.
pub fn fail_pending(state: &mut OpState, status: u16, message: &str) -> usize {
    let body = Bytes::from(format!("{message}\n"));
    let head = || plain_response(status, body.clone());
    // Closed first, so that whoever gets one of these answers already sees the isolate closed.
    let inbox = state.borrow::<Inbox>().0.clone();
    let mut inbox = inbox.borrow_mut();
    inbox.close();
    let mut answered = invocations(state).answer_unanswered(head);
    while let Ok(event) = inbox.try_recv() {
        if let QueuedEvent::Fetch { respond, .. } = event {
            answered += usize::from(respond.send(head()).is_ok());
        }
    }
    answered
}
