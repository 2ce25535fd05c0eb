//! skiff-runtime: tenant isolates and the threads they live on.
//!
//! A [`WorkerPool`] owns a few OS threads; [`WorkerPool::load`] creates an isolate for a
//! [`ScriptBundle`] on one of them and returns an [`IsolateHandle`], the only thing the HTTP
//! side ever holds. [`IsolateHandle::fetch`] sends a request into the isolate and resolves
//! with the tenant's response head; bodies stream through channels in both directions.

mod bundle;
mod error;
mod isolate;
mod limits;
mod pool;

pub use bundle::{BUNDLE_BASE, ScriptBundle};
pub use error::RuntimeError;
pub use isolate::{IsolateHandle, IsolateOptions};
pub use limits::{IsolateLimits, LimitKills, LimitKind};
pub use pool::WorkerPool;
pub use skiff_js_api::{
    BodyChunk, BodyReceiver, BodySender, FetchRequest, LogEvent, LogLevel, LogSink, OutboundPolicy,
    ResponseBody, ResponseHead, body_channel, log_to_tracing,
};
