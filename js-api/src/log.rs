//! `console.*` output and uncaught errors as structured log events.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

/// The level of a log event, as `console` methods map onto it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Log,
    Warn,
    Error,
}

impl LogLevel {
    /// deno's `Console` passes a level number: 0 debug, 1 info/log, 2 warn, 3 error.
    /// Skiff's bootstrap passes 4 for uncaught exceptions, reported as errors.
    pub fn from_console(level: u32) -> Self {
        match level {
            0 => LogLevel::Debug,
            1 => LogLevel::Log,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Log => "log",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line of tenant output: which script, which level, when, and what.
#[derive(Clone, Debug, Serialize)]
pub struct LogEvent {
    pub script: String,
    pub level: LogLevel,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub message: String,
}

/// Writes a tenant log event to `tracing`, under the `tenant` target.
pub fn log_to_tracing(event: LogEvent) {
    tracing::info!(
        target: "tenant",
        script = %event.script,
        level = event.level.as_str(),
        "{}",
        event.message
    );
}

/// Where an isolate's log events go. Cheap to clone; called on the isolate's thread.
#[derive(Clone)]
pub struct LogSink {
    script: Arc<str>,
    emit: Arc<dyn Fn(LogEvent) + Send + Sync>,
}

impl LogSink {
    pub fn new(script: &str, emit: Arc<dyn Fn(LogEvent) + Send + Sync>) -> Self {
        Self {
            script: script.into(),
            emit,
        }
    }

    /// A sink that hands events to [`log_to_tracing`].
    pub fn tracing(script: &str) -> Self {
        Self::new(script, Arc::new(log_to_tracing))
    }

    pub fn emit(&self, level: LogLevel, message: &str) {
        let time_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        (self.emit)(LogEvent {
            script: self.script.to_string(),
            level,
            time_ms,
            message: message.trim_end_matches('\n').to_string(),
        });
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("script", &self.script)
            .finish()
    }
}
