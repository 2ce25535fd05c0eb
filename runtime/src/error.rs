//! Errors of the runtime. Whose fault it is decides what happens next: a tenant's fault is
//! the same every time for that version and can be remembered; a platform fault may pass.

use crate::LimitKind;

/// A failure to load a script or to get a response out of an isolate.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The tenant's bundle did not load: a syntax error, a missing module, a throw at top
    /// level. The message carries the file and line where the engine reported them.
    #[error("script {script} failed to load: {message}")]
    Load { script: String, message: String },
    /// A limit stopped the tenant's code: its top level while it loaded (`startup`), or its
    /// handlers. The limits are part of the version's configuration, so this too is the
    /// tenant's.
    #[error("{}", limit_message(script, *kind, *startup))]
    Limit {
        script: String,
        kind: LimitKind,
        startup: bool,
    },
    /// The platform failed the script: the engine did not boot, or the isolate's thread is
    /// gone. Nothing about the version says it will happen again. The detail is for the log.
    #[error("platform fault while serving script {script}: {detail}")]
    Platform { script: String, detail: String },
    /// The isolate's queue holds [`crate::IsolateLimits::queued_requests`] requests already.
    #[error("the isolate of script {script} has too many requests queued")]
    Overloaded { script: String },
    /// The isolate stopped (an engine error, a panic, or shutdown) before it answered.
    #[error("the isolate of script {script} stopped before answering")]
    IsolateGone { script: String },
    /// The worker pool is shutting down or lost its thread.
    #[error("the worker pool is not running")]
    PoolGone,
}

impl RuntimeError {
    /// True if the fault is the tenant version's own and repeats whenever it loads: a load
    /// failure, or a limit its top level ran into. Such a version is not booted again.
    pub fn is_tenant_load_failure(&self) -> bool {
        matches!(
            self,
            RuntimeError::Load { .. } | RuntimeError::Limit { startup: true, .. }
        )
    }
}

fn limit_message(script: &str, kind: LimitKind, startup: bool) -> String {
    if startup {
        format!(
            "script {script}: startup exceeded the {} limit",
            kind.name()
        )
    } else {
        format!("script {script}: {}", kind.message())
    }
}
