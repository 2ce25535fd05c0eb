//! Cron triggers and usage metering through real processes: `skiff control`, `skiff node`s
//! syncing from it, `skiff deploy`, `skiff usage`, and `skiff dev --test-scheduled`.
//!
//! Cron tests run the control plane's scheduler on a test clock 60 times faster than real
//! time (`--test-clock-speed 60`), so a `* * * * *` trigger ticks every second.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::platform::{Platform, text};
use common::{Skiff, client};

/// A loopback HTTP server that records the path and query of every request it gets.
struct Recorder {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    // The rest of the head.
                    loop {
                        let mut header = String::new();
                        match reader.read_line(&mut header) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if header == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    if let Some(target) = line.split_whitespace().nth(1) {
                        recorded.lock().expect("lock").push(target.to_string());
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Self { port, hits }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("lock").clone()
    }
}

/// A project `name` with `source` and a `* * * * *` cron trigger.
fn cron_project(platform: &Platform, name: &str, source: &str) -> std::path::PathBuf {
    let dir = platform.project(name, source);
    std::fs::write(
        dir.join("skiff.toml"),
        format!(
            "name = \"{name}\"\nmain = \"src/index.js\"\ncompatibility_date = \"2026-11-01\"\n\n\
             [triggers]\ncrons = [\"* * * * *\"]\n"
        ),
    )
    .expect("write config");
    dir
}

fn deploy(platform: &Platform, dir: &std::path::Path) {
    let out = platform.cli(&["deploy"], dir, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
}

#[test]
fn each_cron_tick_runs_on_exactly_one_of_two_nodes() {
    let recorder = Recorder::start();
    let mut platform = Platform::start_with(0, &["--test-clock-speed", "60"]);
    for _ in 0..2 {
        platform.add_node_with(&["--allow-private-fetch"]);
    }
    let source = format!(
        "export default {{\n\
           async fetch() {{ return new Response(\"cron worker\"); }},\n\
           async scheduled(controller, env, ctx) {{\n\
             const cron = encodeURIComponent(controller.cron);\n\
             await fetch(`http://127.0.0.1:{}/tick?time=${{controller.scheduledTime}}&cron=${{cron}}`);\n\
           }},\n\
         }};\n",
        recorder.port
    );
    let dir = cron_project(&platform, "ticker", &source);
    deploy(&platform, &dir);

    // Ticks every (test-clock) minute; wait for five of them.
    let deadline = Instant::now() + Duration::from_secs(90);
    let times = loop {
        let mut times: BTreeMap<u64, usize> = BTreeMap::new();
        for hit in recorder.hits() {
            assert!(hit.contains("cron=*%20*%20*%20*%20*"), "{hit}");
            let time = hit
                .split("time=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .and_then(|time| time.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no time in {hit}"));
            *times.entry(time).or_default() += 1;
        }
        if times.len() >= 5 {
            break times;
        }
        assert!(
            Instant::now() < deadline,
            "only {} ticks ran: {times:?}",
            times.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for (time, runs) in &times {
        assert_eq!(*runs, 1, "tick {time} ran {runs} times: {times:?}");
        assert_eq!(time % 60_000, 0, "a tick is due on a minute: {time}");
    }
    // No tick between the first and the last was skipped.
    let first = *times.keys().next().expect("ticks");
    let last = *times.keys().next_back().expect("ticks");
    assert_eq!(
        ((last - first) / 60_000 + 1) as usize,
        times.len(),
        "ticks were skipped: {times:?}"
    );

    // The nodes count them as scheduled invocations once each handler has returned (the
    // recorder sees a tick's fetch a little before).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scheduled: u64 = (0..2)
            .map(|index| scheduled_count(&metrics(&platform, index), "ticker"))
            .sum();
        if scheduled >= times.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes counted {scheduled} scheduled invocations, not {}",
            times.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics(platform: &Platform, index: usize) -> String {
    let admin = platform.nodes[index].as_ref().expect("node").admin_port;
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("metrics")
}

fn scheduled_count(metrics: &str, script: &str) -> u64 {
    let prefix = format!("skiff_scheduled_invocations_total{{script=\"{script}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// `skiff usage NAME --format json`'s total for the script, if it has one.
fn usage_total(platform: &Platform, script: &str) -> Option<serde_json::Value> {
    let out = platform.cli(
        &[
            "usage", script, "--since", "1h", "--by", "minute", "--format", "json",
        ],
        platform.dir.path(),
        "",
    );
    assert!(out.status.success(), "usage: {}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("usage JSON");
    report["totals"]
        .as_array()
        .and_then(|totals| totals.iter().find(|t| t["script"] == script).cloned())
}

fn wait_for_requests(platform: &Platform, script: &str, requests: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let total = usage_total(platform, script);
        if let Some(total) = &total
            && total["requests"] == requests
        {
            return total.clone();
        }
        assert!(
            Instant::now() < deadline,
            "usage of {script} never reached {requests} requests: {total:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A worker that burns a fixed amount of CPU: `?n=N` rounds of integer arithmetic. Fixed work,
/// not a loop on the clock: a loop on the clock burns less CPU when the machine is busy.
const BURN_WORKER: &str = r#"
export default {
  async fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n"));
    let x = 1;
    for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
    return new Response(`burned ${x}`);
  },
};
"#;

/// The CPU time, in milliseconds, the threads of process `pid` have used so far, by thread
/// name: the sum of their on-CPU times in `/proc/PID/task/*/schedstat` (nanoseconds, which the
/// kernel's scheduler keeps; the node's isolate threads live as long as the node).
fn thread_cpu_ms(pid: u32) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let task = task.expect("task").path();
        let (Ok(stat), Ok(name)) = (
            std::fs::read_to_string(task.join("schedstat")),
            std::fs::read_to_string(task.join("comm")),
        ) else {
            continue;
        };
        let nanos = stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        *by_name.entry(name.trim().to_string()).or_default() += nanos as f64 / 1e6;
    }
    by_name
}

/// What each thread name used between two [`thread_cpu_ms`] readings, busiest first.
fn cpu_spent(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut spent: Vec<(String, f64)> = after
        .iter()
        .map(|(name, ms)| (name.clone(), ms - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, ms)| *ms > 0.0)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    spent
}

fn total_ms(spent: &[(String, f64)]) -> f64 {
    spent.iter().map(|(_, ms)| ms).sum()
}

/// Sends `count` requests for `n` rounds to `script` on node 0, one at a time; what the
/// node's isolate threads used during each.
fn isolate_ms_per_request(platform: &Platform, script: &str, n: u64, count: usize) -> Vec<f64> {
    let node = platform.nodes[0].as_ref().expect("node");
    (0..count)
        .map(|_| {
            let before = isolate_threads_ms(node.pid());
            let (status, body) = node.get_path(script, &format!("/?n={n}"));
            assert_eq!(status, 200, "{body}");
            isolate_threads_ms(node.pid()) - before
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What the node's isolate threads (shared and dedicated) have used so far, in ms.
fn isolate_threads_ms(pid: u32) -> f64 {
    thread_cpu_ms(pid)
        .iter()
        .filter(|(name, _)| name.starts_with("skiff-isolates") || name.starts_with("skiff-dedic"))
        .map(|(_, ms)| ms)
        .sum()
}

/// Node 0's Prometheus counters of `script`: its invocations (every outcome) and the CPU
/// milliseconds metered for them.
fn invocation_metrics(platform: &Platform, script: &str) -> (u64, f64) {
    let (mut invocations, mut cpu_ms) = (0, 0.0);
    let labels = format!("{{script=\"{script}\"");
    for line in metrics(platform, 0).lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if name.starts_with(&format!("skiff_invocations_total{labels}")) {
            invocations += value.parse::<u64>().expect("a count");
        } else if name.starts_with(&format!("skiff_invocation_cpu_seconds_total{labels}")) {
            cpu_ms += value.parse::<f64>().expect("seconds") * 1000.0;
        }
    }
    (invocations, cpu_ms)
}

/// Sends `count` requests to `script` on node 0, one at a time, each once the node has
/// metered the one before, each of about `target_ms` of CPU: it starts at `rounds` and, as the
/// machine's speed drifts with its load, takes the rounds per millisecond of the last requests
/// (by the isolate threads' CPU clocks) for the next. For each request, the CPU its meter was
/// charged against what the node's isolate threads used meanwhile.
fn burn_metered(
    platform: &Platform,
    script: &str,
    mut rounds: u64,
    target_ms: f64,
    count: usize,
) -> Vec<(f64, f64)> {
    let node = platform.nodes[0].as_ref().expect("node");
    let (mut counted, _) = invocation_metrics(platform, script);
    let mut pairs = Vec::with_capacity(count);
    let mut speeds = Vec::new();
    for _ in 0..count {
        let (threads_before, (_, metered_before)) = (
            isolate_threads_ms(node.pid()),
            invocation_metrics(platform, script),
        );
        let (status, body) = node.get_path(script, &format!("/?n={rounds}"));
        assert_eq!(status, 200, "{body}");
        counted += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        let metered = loop {
            let (invocations, metered) = invocation_metrics(platform, script);
            if invocations >= counted {
                break metered;
            }
            assert!(Instant::now() < deadline, "request {counted} never metered");
            std::thread::sleep(Duration::from_millis(2));
        };
        let threads = isolate_threads_ms(node.pid()) - threads_before;
        pairs.push((metered - metered_before, threads));
        speeds.push(rounds as f64 / threads);
        let recent = speeds[speeds.len().saturating_sub(5)..].to_vec();
        rounds = (median(recent) * target_ms) as u64;
    }
    pairs
}

#[test]
fn usage_reports_cpu_milliseconds_and_survives_a_control_plane_restart() {
    let mut platform = Platform::start(0);
    platform.add_node_with(&["--usage-period-ms", "200"]);
    for script in ["calibrate", "burn"] {
        let dir = platform.project(script, BURN_WORKER);
        deploy(&platform, &dir);
        platform.wait_for_body_prefix(0, script, "burned ");
    }

    // How many rounds make 20 ms of CPU on this machine, by the isolate threads' CPU clocks
    // over requests to a script whose usage is not looked at, less what an empty request
    // costs them. Medians: a hot script's isolate is booted again on a dedicated thread (some
    // 100 ms there) while the requests go on, which a sum would count.
    const PROBE: u64 = 300_000;
    let empty = median(isolate_ms_per_request(&platform, "calibrate", 0, 21));
    let per_probe = median(isolate_ms_per_request(&platform, "calibrate", PROBE, 21)) - empty;
    let rounds = (PROBE as f64 * 20.0 / per_probe) as u64;

    // The warm-up request counts too: 100 in all.
    let node = platform.nodes[0].as_ref().expect("node");
    let before = thread_cpu_ms(node.pid());
    let pairs = burn_metered(&platform, "burn", rounds, 20.0, 99);
    let threads = cpu_spent(&before, &thread_cpu_ms(node.pid()));
    let node_cpu_ms = total_ms(&threads);
    let total = wait_for_requests(&platform, "burn", 100);
    let cpu_ms = total["cpu_ms"].as_f64().expect("cpu_ms");
    assert!(
        (1600.0..=2400.0).contains(&cpu_ms),
        "100 requests of ~20 ms CPU ({rounds} rounds; {PROBE} took {per_probe:.1} ms, an empty \
         request {empty:.2} ms) reported {cpu_ms} ms, the node used {node_cpu_ms:.0} ms: {total}"
    );
    eprintln!(
        "usage: metered {cpu_ms:.0} ms for 100 requests (from {rounds} rounds each); the node \
         used {node_cpu_ms:.0} ms; an empty request {empty:.2} ms; by thread: {threads:.1?}"
    );
    assert!(
        cpu_ms <= node_cpu_ms * 1.05 + 25.0,
        "metered {cpu_ms} ms, more than the node used ({node_cpu_ms} ms)"
    );
    // Request by request, the meter matches what the isolate threads spent: it is charged the
    // slices its invocation was in flight in. The sums need not match: once the script runs
    // hot the node boots it again on a dedicated thread (some 100 ms there), which no
    // invocation is charged, as Workers bill no startup CPU; the median request is unaffected.
    let median = median(
        pairs
            .iter()
            .map(|(metered, threads)| metered / threads)
            .collect(),
    );
    eprintln!("usage: the median request was metered {median:.3} times the isolate threads' CPU");
    assert!(
        (0.9..=1.02).contains(&median),
        "the median request was metered {median:.3} times the isolate threads' CPU; \
         (metered ms, isolate threads ms) per request: {pairs:.1?}"
    );
    let p50 = total["cpu_ms_p50"].as_f64().expect("p50");
    assert!((16.0..=24.0).contains(&p50), "p50 {p50}: {total}");
    assert_eq!(total["errors"], 0, "{total}");
    assert!(
        total["response_bytes"].as_u64().expect("egress") > 100 * 7,
        "{total}"
    );

    // The pretty table names the script and its total.
    let out = platform.cli(&["usage", "burn", "--since", "1h"], platform.dir.path(), "");
    let table = text(&out);
    assert!(out.status.success() && table.contains("total"), "{table}");

    // While the control plane is down the node keeps metering; nothing is lost, and what it
    // had shipped before is not counted twice.
    platform.stop_control();
    isolate_ms_per_request(&platform, "burn", 1000, 50);
    platform.start_control();
    platform.nodes[0].as_ref().expect("node").wait_connected();
    wait_for_requests(&platform, "burn", 150);
    // Once the node holds nothing unshipped, the count is still exactly 150.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !metrics(&platform, 0).contains("skiff_usage_pending_batches 0") {
        assert!(Instant::now() < deadline, "usage still pending");
        std::thread::sleep(Duration::from_millis(50));
    }
    let total = usage_total(&platform, "burn").expect("a total");
    assert_eq!(total["requests"], 150, "{total}");
}

#[test]
fn dev_test_scheduled_fires_the_handler_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("worker.js"),
        r#"export default {
  fetch() { return new Response("hi"); },
  async scheduled(controller, env, ctx) {
    if (controller.cron === "fail") throw new Error("the cron failed");
    console.log(`cron fired: ${controller.cron} at ${controller.scheduledTime}`);
  },
};"#,
    )
    .expect("write");
    let mut dev = Skiff::spawn(
        &["dev", "worker.js", "--port", "0", "--test-scheduled"],
        dir.path(),
    );
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let http = client("127.0.0.1", port);
    let get = |path: &str| {
        let response = http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().expect("body"))
    };
    assert_eq!(
        get("/__scheduled?cron=*/5+*+*+*+*&time=1000"),
        (200, "ok\n".into())
    );
    dev.wait_for("cron fired: */5 * * * * at 1000");
    assert_eq!(
        get("/cdn-cgi/handler/scheduled?cron=fail"),
        (500, "exception\n".into())
    );
    dev.wait_for("the cron failed");
    // Other paths still reach the fetch handler.
    assert_eq!(get("/"), (200, "hi".into()));

    // Without the flag, /__scheduled is the worker's own path.
    drop(dev);
    let mut dev = Skiff::spawn(&["dev", "worker.js", "--port", "0"], dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let response = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/__scheduled"))
        .send()
        .expect("request");
    assert_eq!(response.text().expect("body"), "hi");
}
