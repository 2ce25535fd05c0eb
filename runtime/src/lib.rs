//! skiff-runtime: tenant isolates and the threads they live on.
//!
//! A [`WorkerPool`] owns a few OS threads; [`WorkerPool::load`] creates an isolate for a
//! [`ScriptBundle`] on one of them and returns an [`IsolateHandle`], the only thing the HTTP
//! side ever holds. [`IsolateHandle::fetch`] sends a request into the isolate and resolves
//! with the tenant's response head; bodies stream through channels in both directions.
//! [`IsolateHandle::scheduled`] runs the tenant's scheduled handler for a cron trigger. Either
//! may carry a [`Meter`], charged with the invocation's share of the isolate's CPU.
//! An [`IsolateCache`] keeps one live isolate per [`Version`] over a pool, booted on its first
//! request, and remembers versions whose own code failed to load.

mod bundle;
mod bytecode;
mod cache;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod heat;
mod isolate;
mod limits;
mod pool;
mod snapshot;
mod sys;

pub use bundle::{BUNDLE_BASE, ScriptBundle};
pub use bytecode::{
    BytecodeCacheStats, DEFAULT_BYTECODE_DISK_BYTES, bytecode_cache_stats,
    forget_bytecode_in_memory, keep_bytecode_in,
};
pub use cache::{CacheCounters, CacheLimits, IsolateCache, Version};
/// The byte strings of a response head's headers.
pub use deno_core::ByteString;
pub use error::RuntimeError;
pub use heat::{HOT_CPU, LONG_SLICE};
pub use isolate::{HeapSpace, IsolateHandle, IsolateOptions, Lane};
pub use limits::{
    DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_QUEUED_REQUESTS, DEFAULT_STARTUP_CPU, DEFAULT_WAIT_UNTIL,
    IsolateLimits, LimitKills, LimitKind,
};
pub use pool::{DEDICATED_NICE, DEDICATED_PER_THREAD, WorkerPool};
pub use skiff_js_api::{
    BodyChunk, BodyReceiver, BodySender, DEFAULT_SUBREQUESTS, FetchRequest, HOPS_HEADER, LogEvent,
    LogLevel, LogSink, MAX_INVOCATION_DEPTH, MAX_INVOCATION_LOG_BYTES, MAX_MESSAGE_BYTES,
    OutboundPolicy, ResponseBody, ResponseHead, body_channel, escape_control,
    log_messages_dropped_total, log_to_tracing, loops_refused_total, subrequests_refused_total,
};
pub use skiff_js_api::{CacheCounts, Compatibility, DEFAULT_CACHE_BYTES, ResponseCache};
pub use skiff_js_api::{
    EnvBinding, KvError, KvFuture, KvPut, KvStore, KvValue, NodeBindings, ServiceDispatch,
    ServiceFuture,
};
pub use skiff_js_api::{
    MAX_WEBSOCKET_MESSAGE_BYTES, WebSocketPipe, WebSocketRole, WsMessage, join_websocket,
};
pub use skiff_js_api::{Meter, MeterReading, MeterStop, ScheduledRequest, ScheduledResult};
pub use snapshot::snapshot_ready;
