//! A 10 MiB page streamed through `HTMLRewriter` by a real `skiff node` process, with handlers
//! on every row, while the node's RSS is sampled: the rewriter must pass the page on as it
//! reads it, never holding the whole of it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// `?chunks=N` pages of N chunks of 64 KiB, each some hundreds of table rows with a link (how
/// many is in `x-rows`); the links are made https by an element handler and every cell's text
/// is read by a text handler.
const PAGE: &str = r#"const row = (i) => `<tr><td class="n">${String(i).padStart(6, "0")}</td><td><a href="http://example.com/${String(i).padStart(6, "0")}">link</a></td></tr>\n`;
export default { async fetch(request) {
    const chunks = Number(new URL(request.url).searchParams.get("chunks"));
    let rows = "", count = 0;
    while (rows.length < 65536 - 100) rows += row(count++);
    const chunk = new TextEncoder().encode(rows.padEnd(65536, " "));
    let sent = 0;
    const source = new ReadableStream({
        pull(controller) {
            if (sent++ < chunks) controller.enqueue(chunk);
            else controller.close();
        },
    });
    let cells = 0;
    return new HTMLRewriter()
        .on("a[href]", { element(el) { el.setAttribute("href", el.getAttribute("href").replace("http:", "https:")); } })
        .on("td.n", { text(t) { if (t.text) cells++; } })
        .transform(new Response(source, { headers: { "content-type": "text/html", "x-rows": String(count) } }));
} };"#;

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn spawn(scripts: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["node", "--listen", "127.0.0.1:0", "--cpu-ms", "60000"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--scripts")
            .arg(scripts)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("skiff starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The port in the line the node prints after `prefix` ("listening on http://", "metrics
    /// on http://").
    fn port(&self, prefix: &str) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the node's address lines");
            if let Some(address) = line.split(prefix).nth(1) {
                return address
                    .trim()
                    .trim_end_matches("/metrics")
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
            }
        }
    }

    /// Waits until the node's metrics say its startup snapshot is ready: the first start of a
    /// new binary makes it in the background, which costs tens of MiB while it runs.
    fn wait_for_snapshot(admin: u16) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{admin}/metrics"))
                .and_then(|r| r.text())
                .unwrap_or_default();
            if metrics
                .lines()
                .any(|l| l == "skiff_startup_snapshot_ready 1")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the startup snapshot was not ready within 120 s");
    }

    /// The node's resident set, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the node's status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib * 1024
    }
}

/// Reads the page of `chunks` chunks; its length, the https links in it, the rows in a chunk,
/// and the node's highest RSS seen while it streamed.
fn read_page(
    node: &Node,
    client: &reqwest::blocking::Client,
    port: u16,
    chunks: u32,
) -> (u64, usize, u64, u64) {
    let mut response = client
        .get(format!("http://127.0.0.1:{port}/?chunks={chunks}"))
        .header("host", "page.localhost")
        .send()
        .expect("response");
    assert_eq!(response.status(), 200);
    let rows: u64 = response.headers()["x-rows"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("x-rows");
    const LINK: &str = "href=\"https://example.com/";
    let (mut length, mut links, mut peak) = (0u64, 0usize, node.rss());
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carry = String::new();
    loop {
        let n = response.read(&mut buffer).expect("body");
        if n == 0 {
            break;
        }
        length += n as u64;
        // The page is ASCII. Links are counted whole; the tail kept, shorter than a link, may
        // hold the start of the next one.
        carry.push_str(std::str::from_utf8(&buffer[..n]).expect("ASCII"));
        links += carry.matches(LINK).count();
        carry = carry[carry.len().saturating_sub(LINK.len() - 1)..].to_string();
        peak = peak.max(node.rss());
    }
    (length, links, rows, peak)
}

#[test]
fn a_ten_mebibyte_page_streams_through_the_rewriter_in_flat_memory() {
    let scripts = tempfile::tempdir().expect("tempdir");
    std::fs::write(scripts.path().join("page.js"), PAGE).expect("write script");
    let node = Node::spawn(scripts.path());
    let port = node.port("listening on http://");
    Node::wait_for_snapshot(node.port("metrics on http://"));
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");

    // 2 MiB pages first: the engine's heap and the allocator's arenas reach their working
    // size (three such pages grow the node by some 8 MiB each; the fourth no more) before the
    // baseline is taken.
    for _ in 0..4 {
        let (length, links, rows, _) = read_page(&node, &client, port, 32);
        assert_eq!(links as u64, 32 * rows);
        assert_eq!(length, 32 * (65536 + rows));
    }
    let baseline = node.rss();

    let (length, links, rows, peak) = read_page(&node, &client, port, 160);
    // Every link became https, which adds a byte each.
    assert_eq!(links as u64, 160 * rows);
    assert_eq!(length, 160 * (65536 + rows));
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "10 MiB through HTMLRewriter: node RSS {:.1} MiB before, peak {:.1} MiB (+{:.2} MiB)",
        baseline as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        growth as f64 / MIB as f64
    );
    assert!(
        growth < 4 * MIB,
        "the node's RSS grew by {growth} bytes while a 10 MiB page streamed through"
    );
}
