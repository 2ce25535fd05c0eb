//! A 10 MiB page streamed through `HTMLRewriter` by a real `skiff node` process, with handlers
//! on every row, while the node's RSS is sampled: the rewriter must pass the page on as it
//! reads it, never holding the whole of it.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{Skiff, rss, wait_for_snapshot};

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

/// Reads the page of `chunks` chunks; its length, the https links in it, the rows in a chunk,
/// and the node's highest RSS seen while it streamed.
fn read_page(
    node: &Skiff,
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
    let (mut length, mut links, mut peak) = (0u64, 0usize, rss(node.child.id()));
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
        peak = peak.max(rss(node.child.id()));
    }
    (length, links, rows, peak)
}

#[test]
fn a_ten_mebibyte_page_streams_through_the_rewriter_in_flat_memory() {
    let scripts = tempfile::tempdir().expect("tempdir");
    std::fs::write(scripts.path().join("page.js"), PAGE).expect("write script");
    let scripts = scripts.path().to_str().expect("utf-8 path");
    let mut node = Skiff::spawn(
        &[
            "node",
            "--listen",
            "127.0.0.1:0",
            "--cpu-ms",
            "60000",
            "--admin-listen",
            "127.0.0.1:0",
            "--scripts",
            scripts,
        ],
        std::path::Path::new("."),
    );
    let port = Skiff::port_from(&node.wait_for("listening on http://"));
    let metrics = node.wait_for("metrics on http://");
    wait_for_snapshot(Skiff::port_from(metrics.trim_end_matches("/metrics")));
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
    let baseline = rss(node.child.id());

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
