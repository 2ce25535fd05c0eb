//! The tenant global scope of Skiff.
//!
//! This crate assembles deno's extension crates (`deno_webidl`, `deno_web`, `deno_net`,
//! `deno_fetch`, `deno_crypto`) into the WinterTC minimum common API and adds the Workers
//! handler API on top: `export default { fetch, scheduled }` and `addEventListener("fetch")`
//! (and `"scheduled"`), the `env` bindings, `ctx.waitUntil`, console capture and the outbound
//! `fetch()` policy.
//!
//! A runtime is created with [`extensions`] alone, fully bootstrapped but belonging to nobody,
//! so it can be booted ahead of time; [`start_tenant`] then gives it a [`NodeConfig`] and a
//! [`TenantConfig`] just before the tenant's main module is evaluated.
//!
//! It knows nothing about HTTP servers. The runtime hands it [`FetchRequest`]s and
//! [`ScheduledRequest`]s through an [`EventSender`]; JavaScript pulls them with
//! `op_skiff_next_event` and answers each request with `op_skiff_respond` (a complete body) or
//! `op_skiff_respond_stream` (a body streamed out of a `ReadableStream`), each scheduled event
//! with `op_skiff_scheduled_settled`. Each invocation may carry a [`Meter`], which it charges
//! with its share of the isolate's CPU (see [`CpuShares`]) and its subrequests. Bodies travel as [`BodyStream`]s of [`bytes::Bytes`] chunks over bounded
//! channels, so neither direction is buffered whole.

mod bindings;
mod body;
mod cache;
mod compat;
mod digest;
mod embedded;
mod html_rewriter;
mod invocation;
mod log;
mod memory;
mod meter;
mod ops;
mod outbound;
mod queue;
#[cfg(test)]
mod strip;
mod url;
mod websocket;

use std::sync::Arc;

use deno_core::{Extension, OpState};

pub use bindings::{
    EnvBinding, KvError, KvFuture, KvPut, KvStore, KvValue, NodeBindings, ServiceDispatch,
    ServiceFuture,
};
pub use body::{BodyChunk, BodyReceiver, BodySender, body_channel};
pub use cache::{CacheCounts, DEFAULT_CACHE_BYTES, MAX_OBJECT_BYTES, ResponseCache};
pub use compat::Compatibility;
pub use invocation::{CpuShares, cpu_shares};
pub use log::{
    LogEvent, LogLevel, LogSink, MAX_INVOCATION_LOG_BYTES, MAX_MESSAGE_BYTES, escape_control,
    log_messages_dropped_total, log_to_tracing,
};
pub use memory::ExternalMemory;
pub use meter::{Meter, MeterReading, MeterStop};
pub use ops::{close_inbox, fail_pending, loops_refused_total, subrequests_refused_total};
pub use outbound::{
    DEFAULT_SUBREQUESTS, HOPS_HEADER, MAX_INVOCATION_DEPTH, OutboundPolicy, is_host_local,
};
pub use queue::{
    EventReceiver, EventSender, FetchRequest, IsolateLoad, ResponseBody, ResponseHead,
    ScheduledRequest, ScheduledResult, event_channel,
};
pub use websocket::{
    HeldSocket, Lane, LaneReceiver, MAX_MESSAGE_BYTES as MAX_WEBSOCKET_MESSAGE_BYTES,
    Role as WebSocketRole, SendError, WebSocketPipe, WsMessage, join as join_websocket,
};

/// The error type of deno_core's module loaders, for the runtime's bundle loader.
pub use deno_error::JsErrorBox;

/// What every isolate on a node shares: the outbound `fetch()` policy and the `waitUntil`
/// budget. Given to a runtime together with its [`TenantConfig`], by [`start_tenant`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Which addresses outbound `fetch()` may reach, and how many subrequests a request may make.
    pub outbound: OutboundPolicy,
    /// How long `ctx.waitUntil` work may run after the response, in milliseconds.
    pub wait_until_ms: u64,
    /// What the node answers `env` bindings with (KV).
    pub bindings: NodeBindings,
    /// Whether tenant code may compile strings (`eval`, `new Function`): Workers refuses it
    /// with V8's EvalError, "Code generation from strings disallowed for this context".
    pub code_from_strings: bool,
}

/// What is particular to one tenant: its name, its `env`, where its logs go.
#[derive(Clone)]
pub struct TenantConfig {
    /// The script's name, attached to every log event.
    pub script: String,
    /// The `env` object: vars (strings or JSON values) and secrets, already merged.
    pub env: serde_json::Map<String, serde_json::Value>,
    /// The `env` bindings that are not values (KV namespaces); their names are not in `env`.
    pub bindings: Vec<EnvBinding>,
    /// Where `console.*` output and uncaught errors go.
    pub log: LogSink,
    /// The behaviours its compatibility date and flags chose.
    pub compatibility: Compatibility,
}

impl std::fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConfig")
            .field("script", &self.script)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("bindings", &self.bindings)
            .field("compatibility", &self.compatibility)
            .finish()
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum JsApiError {
    /// [`start_tenant`] was called on a runtime that already has a tenant.
    #[error("the runtime already has a tenant")]
    AlreadyStarted,
    /// The bootstrap's tenant start hook threw.
    #[error("the tenant start hook failed: {0}")]
    StartHook(String),
    /// [`boot`] failed.
    #[error("the runtime's boot failed: {0}")]
    Boot(String),
    /// [`create_snapshot`] failed.
    #[error("creating the startup snapshot failed: {0}")]
    Snapshot(String),
}

deno_core::extension!(
    skiff_worker,
    deps = [deno_webidl, deno_web, deno_net, deno_fetch, deno_crypto],
    ops = [
        ops::op_skiff_log,
        ops::op_skiff_log_within,
        ops::op_skiff_next_event,
        ops::op_skiff_respond,
        ops::op_skiff_respond_text,
        ops::op_skiff_respond_stream,
        ops::op_skiff_respond_exception,
        ops::op_skiff_scheduled_settled,
        ops::op_skiff_scheduled_no_retry,
        ops::op_skiff_subrequest,
        ops::op_skiff_env,
        ops::op_skiff_config,
        ops::op_skiff_take_module,
        ops::op_skiff_wait_until,
        ops::op_skiff_set_tenant_start,
        ops::op_skiff_subrequest_refused,
        ops::op_skiff_key_material,
        ops::op_skiff_env_bindings,
        bindings::kv::op_skiff_kv_get,
        bindings::kv::op_skiff_kv_put,
        bindings::kv::op_skiff_kv_delete,
        bindings::kv::op_skiff_kv_list,
        bindings::service::op_skiff_service_fetch,
        cache::op_skiff_cache_match,
        cache::op_skiff_cache_put,
        cache::op_skiff_cache_delete,
        digest::op_skiff_digest_open,
        digest::op_skiff_digest_write,
        digest::op_skiff_digest_close,
        digest::op_skiff_digest_abort,
        digest::op_skiff_digest_once,
        ops::op_skiff_respond_websocket,
        websocket::op_skiff_ws_pair,
        websocket::outgoing::op_skiff_ws_connect,
        websocket::op_skiff_ws_send_text,
        websocket::op_skiff_ws_send_binary,
        websocket::op_skiff_ws_close,
        websocket::op_skiff_ws_next,
        html_rewriter::op_skiff_html_selector,
        html_rewriter::op_skiff_html_new,
        html_rewriter::op_skiff_html_write,
        html_rewriter::op_skiff_html_end,
        html_rewriter::op_skiff_html_done,
        html_rewriter::op_skiff_html_call,
        html_rewriter::op_skiff_html_content,
        html_rewriter::op_skiff_html_output,
        html_rewriter::op_skiff_html_close,
    ],
    esm_entry_point = "ext:skiff_worker/99_boot.js",
    esm = [
        dir "js",
        "00_modules.js",
        "01_invocation.js",
        "02_fixes.js",
        "03_keys.js",
        "03_urlpattern.js",
        "03_streams.js",
        "03_entrypoints.js",
        "03_workers.js",
        "03_subtle.js",
        "03_formdata.js",
        "03_websocket.js",
        "03_html_rewriter.js",
        "04_globals.js",
        "05_dispatch.js",
        "06_engine.js",
        "07_kv.js",
        "08_cache.js",
        "09_service.js",
        "99_boot.js",
    ],
    options = { events: EventReceiver, memory: Arc<ExternalMemory> },
    state = |state, options| {
        ops::init_state(state, options.events);
        state.put(options.memory);
    },
);

/// The extensions that make up a tenant isolate's global scope, in load order.
///
/// A runtime created with them is fully bootstrapped (every global defined, the dispatch loop
/// waiting for events) but belongs to no tenant and no node: until [`start_tenant`] it logs
/// nowhere and its outbound `fetch()` follows the default (strict) [`OutboundPolicy`].
pub fn extensions(events: EventReceiver) -> Vec<Extension> {
    install_crypto_provider();
    let fetch_options = outbound::fetch_options(&OutboundPolicy::default());
    let memory = Arc::new(ExternalMemory::default());
    let mut web = deno_web::deno_web::init(
        Arc::new(memory::CountedBlobStore::new(memory.clone())),
        None,
        false,
        deno_web::InMemoryBroadcastChannel::default(),
    );
    url::use_ada(&mut web);
    let mut extensions = vec![
        deno_webidl::deno_webidl::init(),
        web,
        deno_net::deno_net::init(None, None),
        deno_fetch::deno_fetch::init(fetch_options),
        deno_crypto::deno_crypto::init(None),
        skiff_worker::init(events, memory),
    ];
    extensions.iter_mut().for_each(embedded::embed);
    extensions
}

/// The count of the bytes the runtime's tenant holds outside the engine heap (see
/// `memory.rs`), for the runtime to limit.
pub fn external_memory(state: &OpState) -> Arc<ExternalMemory> {
    state.borrow::<Arc<ExternalMemory>>().clone()
}

/// Seeds the random generator behind `crypto.subtle` (aws-lc's). Its first use in a process
/// gathers entropy from CPU timing jitter, 40 to 60 ms of CPU on a 2-core VM: left to the
/// first tenant that generates a key, that cost counted against the tenant's CPU limit and
/// stopped it with a 503 at a 50 ms limit. Call once per process before any tenant runs.
pub fn seed_crypto_random() {
    use aws_lc_rs::rand::SecureRandom;
    let mut byte = [0u8; 1];
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut byte)
        .is_err()
    {
        tracing::warn!("the crypto random generator could not be seeded ahead of the tenants");
    }
}

/// Finishes a runtime just created with [`extensions`] (freshly, or from a snapshot made by
/// [`create_snapshot`]): registers the tenant start hook and starts the dispatch loop, the two
/// parts of the bootstrap a snapshot cannot hold. Call once, with the runtime's isolate
/// entered, before anything else runs in it.
pub fn boot(runtime: &mut deno_core::JsRuntime) -> Result<(), JsApiError> {
    runtime
        .execute_script("ext:skiff_worker/boot", "globalThis.__skiffBoot()")
        .map(drop)
        .map_err(|err| JsApiError::Boot(err.to_string()))
}

/// Creates a startup snapshot of a runtime with [`extensions`] and the bootstrap evaluated: a
/// runtime created from it skips loading and running the web APIs' JavaScript. Takes seconds;
/// a process makes one and boots every runtime from it. Call on a thread of its own: the
/// engine registers the runtime's native functions in a per-thread table.
pub fn create_snapshot() -> Result<Box<[u8]>, JsApiError> {
    let (_events, inbox) = event_channel();
    let snapshotting = std::panic::catch_unwind(|| {
        let runtime = deno_core::JsRuntimeForSnapshot::try_new(deno_core::RuntimeOptions {
            extensions: extensions(inbox),
            ..Default::default()
        })
        .map_err(|err| JsApiError::Snapshot(err.to_string()))?;
        Ok(runtime.snapshot())
    });
    snapshotting.unwrap_or_else(|_| Err(JsApiError::Snapshot("the engine panicked".into())))
}

/// Whether every JavaScript source of `extensions` comes from the binary (none is read from
/// the build machine's source tree).
pub fn all_sources_embedded(extensions: &[Extension]) -> bool {
    extensions.iter().all(|extension| {
        [
            &extension.js_files,
            &extension.esm_files,
            &extension.lazy_loaded_esm_files,
            &extension.lazy_loaded_js_files,
        ]
        .iter()
        .all(|files| files.iter().all(|f| f.is_runtime_loadable()))
    })
}

/// deno_fetch's TLS client uses rustls' process-wide crypto provider; with more than one
/// provider compiled in, rustls cannot pick one itself (and the resulting panic inside an op
/// would abort the process), so Skiff installs ring's once.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means some other part of the process installed one first; that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Hands the evaluated tenant module namespace to the JavaScript dispatcher. The runtime calls
/// this once, after the tenant's main module has been evaluated and before the first event.
pub fn set_tenant_module(
    state: &mut deno_core::OpState,
    namespace: deno_core::v8::Global<deno_core::v8::Object>,
) {
    ops::set_tenant_module(state, namespace);
}

/// Gives a bootstrapped runtime its node and tenant configuration: puts both into its
/// `OpState` (log sink, `env`, outbound permissions and fetch options) and runs the bootstrap's
/// tenant start hook (which sets `performance.timeOrigin` and reads the configuration).
///
/// Call once, with the runtime's isolate entered, before the tenant's main module is loaded.
pub fn start_tenant(
    runtime: &mut deno_core::JsRuntime,
    node: &NodeConfig,
    tenant: TenantConfig,
) -> Result<(), JsApiError> {
    let hook = {
        let state = runtime.op_state();
        let mut state = state.borrow_mut();
        let hook = ops::take_tenant_start(&mut state).ok_or(JsApiError::AlreadyStarted)?;
        // performance.now() counts from the tenant's start, not from the boot.
        state.put(deno_web::StartTime::default());
        state.put(outbound::fetch_options(&node.outbound));
        state.put(outbound::permissions(&node.outbound));
        ops::configure(&mut state, node.clone(), tenant);
        hook
    };
    {
        deno_core::scope!(scope, runtime);
        let context = scope.get_current_context();
        context.set_allow_generation_from_strings(node.code_from_strings);
    }
    // The hook returns nothing, so its result is ready without polling the event loop.
    match futures::FutureExt::now_or_never(runtime.call(&hook)) {
        Some(Ok(_)) => Ok(()),
        Some(Err(err)) => Err(JsApiError::StartHook(err.to_string())),
        None => Err(JsApiError::StartHook("the hook did not finish".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_extension_source_is_read_from_disk() {
        let (_events, inbox) = event_channel();
        let extensions = extensions(inbox);
        let from_disk: Vec<&str> = extensions
            .iter()
            .flat_map(|e| {
                [
                    &e.js_files,
                    &e.esm_files,
                    &e.lazy_loaded_esm_files,
                    &e.lazy_loaded_js_files,
                ]
            })
            .flat_map(|files| files.iter())
            .filter(|f| !f.is_runtime_loadable())
            .map(|f| f.specifier)
            .collect();
        assert!(from_disk.is_empty(), "read from disk: {from_disk:?}");
        assert!(all_sources_embedded(&extensions));
    }
}
