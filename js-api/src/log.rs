//! `console.*` output and uncaught errors as structured log events, within their limits.
//!
//! A tenant decides what its messages say, so everything that prints one escapes it first
//! ([`escape_control`]: one event is one line, and no escape sequence reaches a terminal), and
//! the sink bounds how much it may say: a message is cut at [`MAX_MESSAGE_BYTES`], and one
//! invocation (an incoming request with everything it starts, or, for work outside any
//! request, the isolate's whole life) logs at most [`MAX_INVOCATION_LOG_BYTES`]. Past that its
//! messages are dropped and counted ([`log_messages_dropped_total`]); the first drop logs a
//! warning that says so.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;

/// The level of a log event, as `console` methods map onto it. deno's `Console` gives
/// `console.info` the level of `console.log`, so both are `log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
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
    /// The version that logged it (see `ScriptBundle::version_label` in skiff-runtime).
    pub version: String,
    pub level: LogLevel,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub message: String,
}

/// The largest log message kept whole, in bytes of UTF-8; a longer one is cut at a character
/// boundary and ends with [`TRUNCATED_MARKER`].
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// How much one invocation may log, in bytes: Cloudflare's figure for Workers Logs and Tail
/// Workers (256 KB of log events per invocation). Each message counts its UTF-8 bytes plus
/// [`EVENT_OVERHEAD_BYTES`].
pub const MAX_INVOCATION_LOG_BYTES: usize = 256 * 1024;

/// What each message costs beyond its text (the event's script, level and time), so that a
/// flood of empty messages is bounded too.
pub const EVENT_OVERHEAD_BYTES: usize = 64;

/// Appended to a message cut at [`MAX_MESSAGE_BYTES`].
pub const TRUNCATED_MARKER: &str = " [message truncated at 131072 bytes]";

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log messages dropped by every sink of this process since it started, for the metrics page.
pub fn log_messages_dropped_total() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// `text` with every character that could end a line or steer a terminal written out as an
/// escape: `\n`, `\r`, and `\u{..}` for the other C0 and C1 controls (ESC included), DEL,
/// the Unicode line and paragraph separators and the bidirectional overrides. Tabs stay.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `message` cut to at most [`MAX_MESSAGE_BYTES`] (at a character boundary) plus the marker.
fn truncate_message(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE_BYTES {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}{TRUNCATED_MARKER}", &message[..end]))
}

/// Writes a tenant log event to `tracing`, under the `tenant` target, as one line: the message
/// goes through [`escape_control`].
pub fn log_to_tracing(event: LogEvent) {
    tracing::info!(
        target: "tenant",
        script = %escape_control(&event.script),
        version = %escape_control(&event.version),
        level = event.level.as_str(),
        "{}",
        escape_control(&event.message)
    );
}

/// Where an isolate's log events go. Cheap to clone; called on the isolate's thread.
#[derive(Clone)]
pub struct LogSink {
    script: Arc<str>,
    version: Arc<str>,
    emit: Arc<dyn Fn(LogEvent) + Send + Sync>,
}

impl LogSink {
    pub fn new(script: &str, emit: Arc<dyn Fn(LogEvent) + Send + Sync>) -> Self {
        Self {
            script: script.into(),
            version: "".into(),
            emit,
        }
    }

    /// The version its events name.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The same sink, naming `version` in every event.
    pub fn with_version(mut self, version: &str) -> Self {
        self.version = version.into();
        self
    }

    /// A sink that hands events to [`log_to_tracing`].
    pub fn tracing(script: &str) -> Self {
        Self::new(script, Arc::new(log_to_tracing))
    }

    /// Emits `message` for an invocation that has logged `used` bytes so far, within the limits
    /// above; returns the invocation's new total. Past [`MAX_INVOCATION_LOG_BYTES`] the message
    /// is dropped and counted, and the total returned is the limit itself; the first message
    /// dropped is replaced by a warning that says so.
    pub fn emit_within(&self, level: LogLevel, message: &str, used: usize) -> usize {
        if used >= MAX_INVOCATION_LOG_BYTES {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return MAX_INVOCATION_LOG_BYTES;
        }
        let message = truncate_message(message);
        let cost = message.len() + EVENT_OVERHEAD_BYTES;
        if used + cost > MAX_INVOCATION_LOG_BYTES {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            self.emit(
                LogLevel::Warn,
                "Log limit reached: an invocation may log 262144 bytes; its further console output is dropped",
            );
            return MAX_INVOCATION_LOG_BYTES;
        }
        self.emit(level, &message);
        used + cost
    }

    /// Emits `message` (cut at [`MAX_MESSAGE_BYTES`]) outside any invocation's budget: the
    /// runtime's own notices.
    pub fn emit(&self, level: LogLevel, message: &str) {
        let message = truncate_message(message);
        let time_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        (self.emit)(LogEvent {
            script: self.script.to_string(),
            version: self.version.to_string(),
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
            .field("version", &self.version)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\nFORGED line"), "a\\nFORGED line");
        assert_eq!(escape_control("x\r\n"), "x\\r\\n");
        assert_eq!(
            escape_control("\u{1b}]0;title\u{7}"),
            "\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(
            escape_control("\u{9b}2J \u{7f} \u{0}"),
            "\\u{9b}2J \\u{7f} \\u{0}"
        );
        assert_eq!(escape_control("\u{2028}\u{202e}"), "\\u{2028}\\u{202e}");
        assert_eq!(escape_control("tab\tand é ✓"), "tab\tand é ✓");
        assert!(matches!(
            escape_control("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    fn collecting() -> (LogSink, Arc<Mutex<Vec<LogEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink_events = events.clone();
        let sink = LogSink::new(
            "t",
            Arc::new(move |e| sink_events.lock().expect("events").push(e)),
        );
        (sink, events)
    }

    #[test]
    fn long_messages_are_truncated_at_a_character_boundary() {
        let (sink, events) = collecting();
        let long = "é".repeat(MAX_MESSAGE_BYTES); // two bytes each
        let used = sink.emit_within(LogLevel::Log, &long, 0);
        let events = events.lock().expect("events");
        let message = &events[0].message;
        assert!(message.ends_with(TRUNCATED_MARKER));
        assert_eq!(message.len(), MAX_MESSAGE_BYTES + TRUNCATED_MARKER.len());
        assert_eq!(used, message.len() + EVENT_OVERHEAD_BYTES);
        let exact = "a".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(truncate_message(&exact), exact);
    }

    #[test]
    fn an_invocation_logs_at_most_its_budget() {
        let (sink, events) = collecting();
        let before = log_messages_dropped_total();
        let mut used = 0;
        for _ in 0..10_000 {
            used = sink.emit_within(LogLevel::Log, "0123456789", used);
        }
        let events = events.lock().expect("events");
        let kept = MAX_INVOCATION_LOG_BYTES / (10 + EVENT_OVERHEAD_BYTES);
        assert_eq!(
            events.len(),
            kept + 1,
            "the messages that fit, then the warning"
        );
        assert!(events[kept].message.starts_with("Log limit reached"));
        assert_eq!(used, MAX_INVOCATION_LOG_BYTES);
        assert!(log_messages_dropped_total() - before >= (10_000 - kept) as u64);
    }
}
