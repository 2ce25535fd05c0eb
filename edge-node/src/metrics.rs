//! Node metrics in the Prometheus text format, served on the admin listener (`admin.rs`) at
//! `/metrics`.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use skiff_runtime::{LimitKind, ResponseCache};

use crate::registry::ScriptRegistry;
use crate::sync::SyncStatus;
use crate::usage::Usage;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Request latency (to the response head) by status class, and the connection counters.
#[derive(Default)]
pub struct RequestMetrics {
    /// [class 1..=5][bucket, then +Inf]
    counts: [[AtomicU64; BUCKETS.len() + 1]; 5],
    sum_micros: [AtomicU64; 5],
    pub(crate) connections: Arc<ConnectionMetrics>,
    /// Invocations by script and outcome, and the usage the node ships.
    pub(crate) usage: Arc<Usage>,
}

/// What the connection limits did (see `conn.rs`).
#[derive(Default)]
pub(crate) struct ConnectionMetrics {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections closed at accept because `max_connections` were open.
    pub refused: AtomicU64,
    /// Failed `accept` calls (e.g. EMFILE when file descriptors ran out).
    pub accept_errors: AtomicU64,
    /// Connections closed for not finishing the handshake and first request head in time.
    pub handshake_timeouts: AtomicU64,
    /// Connections closed for staying idle.
    pub idle_timeouts: AtomicU64,
    /// Connections closed because the client stopped reading what the node sent.
    pub send_timeouts: Arc<AtomicU64>,
    /// WebSockets open now (their connections have left hyper: see `websocket.rs`).
    pub websockets_open: AtomicU64,
}

impl ConnectionMetrics {
    fn render(&self, out: &mut String) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP skiff_connections_open Connections open now.\n# TYPE skiff_connections_open gauge\nskiff_connections_open {}",
            load(&self.open)
        );
        let _ = writeln!(
            out,
            "# HELP skiff_websockets_open WebSockets open now.\n# TYPE skiff_websockets_open gauge\nskiff_websockets_open {}",
            load(&self.websockets_open)
        );
        let _ = writeln!(
            out,
            "# HELP skiff_connections_refused_total Connections closed at accept because the connection limit was reached.\n# TYPE skiff_connections_refused_total counter\nskiff_connections_refused_total {}",
            load(&self.refused)
        );
        let _ = writeln!(
            out,
            "# HELP skiff_accept_errors_total Failed accepts (e.g. out of file descriptors); the accept loop backs off.\n# TYPE skiff_accept_errors_total counter\nskiff_accept_errors_total {}",
            load(&self.accept_errors)
        );
        let _ = writeln!(
            out,
            "# HELP skiff_connection_timeouts_total Connections closed by a timeout.\n# TYPE skiff_connection_timeouts_total counter\nskiff_connection_timeouts_total{{kind=\"handshake\"}} {}\nskiff_connection_timeouts_total{{kind=\"idle\"}} {}\nskiff_connection_timeouts_total{{kind=\"send\"}} {}",
            load(&self.handshake_timeouts),
            load(&self.idle_timeouts),
            load(&self.send_timeouts)
        );
    }
}

impl RequestMetrics {
    /// Metrics whose invocation counters are `usage`'s.
    pub(crate) fn with_usage(usage: Arc<Usage>) -> Self {
        Self {
            usage,
            ..Self::default()
        }
    }

    pub fn record(&self, status: StatusCode, elapsed: Duration) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.counts[class][bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros[class].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP skiff_request_duration_seconds Time from request to response head.\n# TYPE skiff_request_duration_seconds histogram"
        );
        for (class, counts) in self.counts.iter().enumerate() {
            let label = format!("{}xx", class + 1);
            let mut cumulative = 0;
            for (i, count) in counts.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "skiff_request_duration_seconds_bucket{{status=\"{label}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = self.sum_micros[class].load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "skiff_request_duration_seconds_sum{{status=\"{label}\"}} {sum}\nskiff_request_duration_seconds_count{{status=\"{label}\"}} {cumulative}"
            );
        }
    }
}

/// The whole `/metrics` page.
pub fn render(
    registry: &ScriptRegistry,
    requests: &RequestMetrics,
    sync: Option<&SyncStatus>,
    response_cache: &ResponseCache,
) -> String {
    let mut out = String::new();
    let counters = registry.counters();
    let kills = registry.pool().limit_kills();
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        &mut out,
        "skiff_isolates_alive",
        "Isolates alive on the worker threads.",
        "gauge",
        registry.pool().isolates() as u64,
    );
    gauge(
        &mut out,
        "skiff_isolates_cached",
        "Isolates in the isolate cache.",
        "gauge",
        registry.cached_isolates(),
    );
    gauge(
        &mut out,
        "skiff_warm_pool_size",
        "Pre-booted runtimes (web APIs loaded, no tenant) ready for a cold start.",
        "gauge",
        registry.pool().warm_pool_size() as u64,
    );
    gauge(
        &mut out,
        "skiff_startup_snapshot_ready",
        "Whether runtimes boot from the process's startup snapshot (made in the background at start): 0 until it is ready, then 1.",
        "gauge",
        u64::from(skiff_runtime::snapshot_ready()),
    );
    gauge(
        &mut out,
        "skiff_warm_starts_total",
        "Isolates created from a pre-booted runtime.",
        "counter",
        registry.pool().warm_starts(),
    );
    gauge(
        &mut out,
        "skiff_cold_starts_total",
        "Isolates booted because a request found none.",
        "counter",
        counters.cold_starts.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "skiff_evictions_total",
        "Isolates evicted from the cache for memory or idleness.",
        "counter",
        counters.evictions.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "skiff_isolates_moved_to_dedicated_total",
        "Hot isolates (long computations) moved off a shared thread to one of their own.",
        "counter",
        counters.moved_to_dedicated.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "skiff_isolates_scaled_out_total",
        "Extra isolates started for script versions with requests waiting in all of theirs.",
        "counter",
        counters.scaled_out.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "skiff_isolates_scaled_in_total",
        "Extra isolates of busy versions let go once they were idle.",
        "counter",
        counters.scaled_in.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "skiff_extra_isolates",
        "Extra isolates running beside the cached ones of busy versions.",
        "gauge",
        registry.extra_isolates() as u64,
    );
    gauge(
        &mut out,
        "skiff_dedicated_threads",
        "Threads running one hot isolate each.",
        "gauge",
        registry.pool().dedicated_threads() as u64,
    );
    gauge(
        &mut out,
        "skiff_isolate_threads",
        "Shared threads that take new isolates.",
        "gauge",
        registry.pool().threads() as u64,
    );
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        gauge(
            &mut out,
            "skiff_io_threads",
            "Threads of the async runtime: connections, TLS and HTTP.",
            "gauge",
            runtime.metrics().num_workers() as u64,
        );
    }
    let _ = writeln!(
        out,
        "# HELP skiff_limit_kills_total Isolates stopped for breaking a limit.\n# TYPE skiff_limit_kills_total counter\nskiff_limit_kills_total{{kind=\"cpu\"}} {}\nskiff_limit_kills_total{{kind=\"memory\"}} {}",
        kills.get(LimitKind::Cpu),
        kills.get(LimitKind::Memory)
    );
    gauge(
        &mut out,
        "skiff_subrequests_refused_total",
        "Tenant fetch() calls refused for passing the subrequest limit.",
        "counter",
        skiff_runtime::subrequests_refused_total(),
    );
    gauge(
        &mut out,
        "skiff_loop_requests_refused_total",
        "Requests refused (508, error code 1019) because their chain of worker subrequests had no invocations left.",
        "counter",
        skiff_runtime::loops_refused_total(),
    );
    gauge(
        &mut out,
        "skiff_log_messages_dropped_total",
        "Tenant log messages dropped for passing the per-invocation log limit.",
        "counter",
        skiff_runtime::log_messages_dropped_total(),
    );
    if let Some(sync) = sync {
        gauge(
            &mut out,
            "skiff_sync_revision",
            "The control plane revision the node applied and persisted.",
            "gauge",
            sync.revision(),
        );
        gauge(
            &mut out,
            "skiff_sync_connected",
            "1 while the config-sync subscription is open.",
            "gauge",
            u64::from(sync.connected()),
        );
        gauge(
            &mut out,
            "skiff_sync_refused_backwards_total",
            "Sync snapshots and updates refused because their revision was below the one the node applied (a control-plane replica behind it); the node then tries another replica.",
            "counter",
            sync.refused_backwards(),
        );
    }
    render_bytecode_cache(&mut out);
    render_response_cache(&mut out, response_cache);
    requests.render(&mut out);
    requests.connections.render(&mut out);
    requests.usage.render(&mut out);
    out
}

/// How the engine's bytecode cache answered module compiles (see `skiff_runtime::bytecode`).
fn render_bytecode_cache(out: &mut String) {
    let stats = skiff_runtime::bytecode_cache_stats();
    let _ = writeln!(
        out,
        "# HELP skiff_bytecode_cache_loads_total Compiles of tenant code by where their bytecode came from: memory and disk (the cache), compiled (not cached yet).\n# TYPE skiff_bytecode_cache_loads_total counter\nskiff_bytecode_cache_loads_total{{from=\"memory\"}} {}\nskiff_bytecode_cache_loads_total{{from=\"disk\"}} {}\nskiff_bytecode_cache_loads_total{{from=\"compiled\"}} {}",
        stats.memory_hits, stats.disk_hits, stats.misses
    );
    let _ = writeln!(
        out,
        "# HELP skiff_bytecode_cache_rejected_total Bytecode cache files that failed their check (engine build, key, length, BLAKE3 hash) and were removed.\n# TYPE skiff_bytecode_cache_rejected_total counter\nskiff_bytecode_cache_rejected_total {}",
        stats.rejected
    );
}

/// The Cache API's counters and usage (`caches.default`, `caches.open`).
fn render_response_cache(out: &mut String, cache: &ResponseCache) {
    let counts = cache.counts();
    let (entries, bytes) = cache.usage();
    let metrics = [
        (
            "skiff_cache_api_hits_total",
            "Cache API match() calls that found a fresh entry (304s included).",
            "counter",
            counts.hits,
        ),
        (
            "skiff_cache_api_misses_total",
            "Cache API match() calls that found nothing fresh.",
            "counter",
            counts.misses,
        ),
        (
            "skiff_cache_api_stores_total",
            "Cache API put() calls that stored their response.",
            "counter",
            counts.stores,
        ),
        (
            "skiff_cache_api_not_stored_total",
            "Cache API put() calls whose response was not stored (no-store, private, Set-Cookie, stale, status, too large).",
            "counter",
            counts.not_stored,
        ),
        (
            "skiff_cache_api_deletes_total",
            "Cache API delete() calls that removed an entry.",
            "counter",
            counts.deletes,
        ),
        (
            "skiff_cache_api_entries",
            "Entries in the node's Cache API store.",
            "gauge",
            entries,
        ),
        (
            "skiff_cache_api_bytes",
            "Bytes the node's Cache API store holds (bodies, header fields, keys).",
            "gauge",
            bytes,
        ),
        (
            "skiff_cache_api_budget_bytes",
            "The Cache API store's budget in bytes (--cache-mib).",
            "gauge",
            cache.budget(),
        ),
    ];
    for (name, help, kind, value) in metrics {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}
