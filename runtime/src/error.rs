//! Errors of the runtime: where the fault lies decides the HTTP status the node answers with.

/// A failure to load a script or to get a response out of an isolate.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The tenant's bundle did not load: a syntax error, a missing module, a throw at top level.
    /// The message carries the file and line where the engine reported them.
    #[error("script {script} failed to load: {message}")]
    Load { script: String, message: String },
    /// The isolate stopped (an engine error, a panic, or shutdown) before it answered.
    #[error("the isolate of script {script} stopped before answering")]
    IsolateGone { script: String },
    /// The worker pool is shutting down or lost its thread.
    #[error("the worker pool is not running")]
    PoolGone,
}
