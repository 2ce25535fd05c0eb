//! Hostile-tenant suite, the node's HTTP side: a tenant cannot frame its own response (and
//! so cannot smuggle one into another tenant's answer on a kept-alive connection), and a
//! client cannot pin the node with silent, idle or too many connections.

mod common;
mod hostile_support;

use std::time::Duration;

use common::*;
use hostile_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A whole HTTP/1.1 response, as a tenant's body.
const FORGED: &str = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged";

const SMUGGLER: &str = r#"const FORGED = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged";
export default { async fetch(req) {
    const path = new URL(req.url).pathname;
    const stream = (text) => new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); } });
    switch (path) {
    case "/cl0": return new Response(FORGED, { headers: { "content-length": "0" } });
    case "/stream-cl0": return new Response(stream(FORGED), { headers: { "content-length": "0" } });
    case "/big-cl": return new Response("short", { headers: { "content-length": "1000" } });
    case "/two-cl": return new Response("short", { headers: [["content-length", "5"], ["content-length", "0"]] });
    case "/te": return new Response("5\r\nhello\r\n0\r\n\r\n" + FORGED, { headers: { "transfer-encoding": "chunked" } });
    case "/close": return new Response("close", { headers: { "connection": "close" } });
    case "/upgrade": return new Response("upgrade", { headers: { "connection": "upgrade", "upgrade": "websocket" } });
    case "/hop": return new Response("hop", { headers: {
        "keep-alive": "timeout=1", "te": "trailers", "trailer": "x-late", "proxy-connection": "close",
        "proxy-authenticate": "Basic", "x-fine": "yes" } });
    case "/nominated": return new Response("nominated", { headers: {
        "connection": "x-private, X-Session ", "x-private": "1", "x-session": "2", "x-fine": "yes" } });
    case "/head-body": return new Response("hello");
    case "/head-cl": return new Response(null, { headers: { "content-length": "1234" } });
    case "/head-bad-cl": return new Response("hello", { headers: { "content-length": "12, 34" } });
    case "/204": return new Response(null, { status: 204, headers: { "content-length": "10" } });
    case "/304": return new Response(null, { status: 304, headers: { "content-length": "10" } });
    case "/slow": await new Promise((r) => setTimeout(r, 1000)); return new Response("slow");
    case "/flood": {
        // 256 MiB, made as it is read.
        const chunk = new Uint8Array(64 * 1024).fill(120);
        let left = 4096;
        return new Response(new ReadableStream({ pull(c) { if (left-- > 0) c.enqueue(chunk); else c.close(); } }));
    }
    }
    return new Response("smuggler");
} };"#;

const VICTIM: &str = r#"export default { fetch() { return new Response("victim"); } };"#;

fn tenants() -> tempfile::TempDir {
    script_dir(&[("smuggler", SMUGGLER), ("victim", VICTIM)])
}

/// After whatever came before on `conn`, the victim's own answer comes next, then one more
/// (closing the connection), and nothing else.
async fn victim_answers_next(conn: &mut Http1, what: &str) {
    conn.send(&get("victim.localhost", "/")).await;
    let next = conn.response(false).await.expect("the victim's response");
    assert_eq!(
        (next.status, next.text()),
        (200, "victim".to_string()),
        "after {what}"
    );
    conn.send(b"GET / HTTP/1.1\r\nHost: victim.localhost\r\nConnection: close\r\n\r\n")
        .await;
    let last = conn.response(false).await.expect("the closing response");
    assert_eq!(last.text(), "victim", "after {what}");
    let rest = conn.rest(Duration::from_secs(5)).await.expect("closed");
    assert!(
        rest.is_empty(),
        "after {what}: stray bytes {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test]
async fn a_tenant_cannot_frame_its_response_on_a_kept_alive_connection() {
    let node = start_with(tenants(), |_| {}).await;
    let addr = node.node.http_addr();
    let chunked_forgery = format!("5\r\nhello\r\n0\r\n\r\n{FORGED}");
    let cases: [(&str, &str); 9] = [
        ("/cl0", FORGED),
        ("/stream-cl0", FORGED),
        ("/big-cl", "short"),
        ("/two-cl", "short"),
        ("/te", chunked_forgery.as_str()),
        ("/close", "close"),
        ("/upgrade", "upgrade"),
        ("/hop", "hop"),
        ("/nominated", "nominated"),
    ];
    for (path, body) in cases {
        let mut conn = Http1::connect(addr).await;
        conn.send(&get("smuggler.localhost", path)).await;
        let first = conn.response(false).await.expect("the smuggler's response");
        assert_eq!(first.status, 200, "{path}");
        assert_eq!(
            first.text(),
            body,
            "{path}: the whole body, framed by the node"
        );
        for name in [
            "connection",
            "keep-alive",
            "upgrade",
            "te",
            "trailer",
            "proxy-connection",
            "proxy-authenticate",
            // Named in the response's own `Connection` value.
            "x-private",
            "x-session",
        ] {
            assert_eq!(first.header(name), None, "{path}: {name} reached the wire");
        }
        if path == "/hop" || path == "/nominated" {
            assert_eq!(first.header("x-fine"), Some("yes"));
        }
        victim_answers_next(&mut conn, path).await;
    }
}

#[tokio::test]
async fn head_204_and_304_keep_their_shape() {
    let node = start_with(tenants(), |_| {}).await;
    let mut conn = Http1::connect(node.node.http_addr()).await;
    let head = |path: &str| format!("HEAD {path} HTTP/1.1\r\nHost: smuggler.localhost\r\n\r\n");

    // HEAD: the length a GET would have, and no body.
    conn.send(head("/head-body").as_bytes()).await;
    let res = conn.response(true).await.expect("HEAD");
    assert_eq!(res.header("content-length"), Some("5"));
    // HEAD: a length the tenant announces for the body it does not send is kept...
    conn.send(head("/head-cl").as_bytes()).await;
    let res = conn.response(true).await.expect("HEAD");
    assert_eq!(res.header("content-length"), Some("1234"));
    // ...unless it is not one number.
    conn.send(head("/head-bad-cl").as_bytes()).await;
    let res = conn.response(true).await.expect("HEAD");
    assert_eq!(res.header("content-length"), Some("5"));
    // A GET of the same: the announced length would be a lie.
    conn.send(&get("smuggler.localhost", "/head-cl")).await;
    let res = conn.response(false).await.expect("GET");
    assert_eq!((res.status, res.text()), (200, String::new()));
    // 204 and 304 carry no body, and 204 no length.
    conn.send(&get("smuggler.localhost", "/204")).await;
    let res = conn.response(false).await.expect("204");
    assert_eq!(res.status, 204);
    assert_eq!(res.header("content-length"), None);
    conn.send(&get("smuggler.localhost", "/304")).await;
    let res = conn.response(false).await.expect("304");
    assert_eq!(res.status, 304);
    victim_answers_next(&mut conn, "HEAD, 204 and 304").await;
}

#[tokio::test]
async fn http2_responses_are_framed_by_the_node() {
    let node = start_with(tenants(), |_| {}).await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("smuggler.localhost", node.node.http_addr())
        .build()
        .expect("client");
    for (path, body) in [
        ("/cl0", FORGED),
        ("/stream-cl0", FORGED),
        ("/big-cl", "short"),
        ("/hop", "hop"),
    ] {
        let res = h2c
            .get(node.url("smuggler", path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{path}: {err}"));
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        for name in ["te", "trailer", "proxy-authenticate", "keep-alive"] {
            assert!(res.headers().get(name).is_none(), "{path}: {name}");
        }
        let text = res
            .text()
            .await
            .unwrap_or_else(|err| panic!("{path}: {err}"));
        assert_eq!(text, body, "{path}");
    }
    let res = h2c
        .head(node.url("smuggler", "/head-body"))
        .send()
        .await
        .expect("HEAD over h2");
    assert_eq!(
        res.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(res.bytes().await.expect("no body").len(), 0);
}

#[tokio::test]
async fn responses_passed_through_from_fetch_are_framed_by_the_node() {
    // An upstream whose response carries its own connection's headers.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_addr = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let _ = read_head(&mut stream).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nkeep-alive: timeout=5\r\n\
                          proxy-connection: keep-alive\r\nconnection: keep-alive\r\n\
                          x-upstream: yes\r\n\r\nhello world",
                    )
                    .await;
            });
        }
    });
    let proxy =
        format!(r#"export default {{ fetch() {{ return fetch("http://{upstream_addr}/"); }} }};"#);
    let node = start_with(
        script_dir(&[("proxy", &proxy), ("victim", VICTIM)]),
        |config| config.outbound.allow_private = true,
    )
    .await;
    let mut conn = Http1::connect(node.node.http_addr()).await;
    conn.send(&get("proxy.localhost", "/")).await;
    let res = conn
        .response(false)
        .await
        .expect("the passed-through response");
    assert_eq!((res.status, res.text()), (200, "hello world".to_string()));
    assert_eq!(res.header("x-upstream"), Some("yes"));
    for name in ["keep-alive", "proxy-connection", "connection"] {
        assert_eq!(res.header(name), None, "{name} reached the wire");
    }
    victim_answers_next(&mut conn, "a passed-through response").await;
}

/// Reads a request head (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(())
}

/// The value of an unlabelled (or fully labelled) sample on the admin `/metrics` page.
async fn metric(node: &TestNode, sample: &str) -> u64 {
    let addr = node.node.admin_addr().expect("admin listener");
    let page = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("page");
    page.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in\n{page}"))
}

/// Polls the admin listener's `sample` until `holds` says yes; panics with `what` after
/// `within`.
async fn wait_for_metric(
    node: &TestNode,
    sample: &str,
    holds: impl Fn(u64) -> bool,
    within: Duration,
    what: &str,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !holds(metric(node, sample).await) {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn admin(config: &mut skiff_edge_node::NodeConfig) {
    config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
}

#[tokio::test]
async fn connections_that_never_finish_a_handshake_are_closed() {
    let node = start_with(tenants(), |config| {
        admin(config);
        config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.limits.connections.handshake_timeout = Duration::from_millis(300);
        config.limits.connections.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let http = node.node.http_addr();
    let https = node.node.https_addr().expect("tls listener");
    let cases: [(&str, std::net::SocketAddr, &[u8]); 5] = [
        ("silent", http, b""),
        ("half an HTTP/2 preface", http, b"PRI * HTTP/2.0\r\n"),
        (
            "half a request head",
            http,
            b"GET / HTTP/1.1\r\nHost: victim.localhost\r\n",
        ),
        ("silent TLS", https, b""),
        (
            "half a TLS ClientHello",
            https,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ),
    ];
    let mut waits = Vec::new();
    for (what, addr, bytes) in cases {
        waits.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(bytes).await.expect("write");
            let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
            (what, closed)
        }));
    }
    for wait in waits {
        let (what, closed) = wait.await.expect("task");
        let after = closed.unwrap_or_else(|| panic!("{what}: still open after 5 s"));
        assert!(
            after >= Duration::from_millis(250),
            "{what}: closed after {after:?}"
        );
    }
    assert!(metric(&node, "skiff_connection_timeouts_total{kind=\"handshake\"}").await >= 5);
    // A client that is not silent is served.
    assert_eq!(node.get("victim", "/").await, (200, "victim".to_string()));
}

#[tokio::test]
async fn idle_connections_are_closed_but_slow_requests_are_not() {
    let node = start_with(tenants(), |config| {
        admin(config);
        config.limits.connections.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = node.node.http_addr();

    // HTTP/1.1: a request in flight for twice the idle timeout is answered, then the
    // connection, idle, is closed.
    let mut conn = Http1::connect(addr).await;
    conn.send(&get("smuggler.localhost", "/slow")).await;
    let res = conn.response(false).await.expect("slow response");
    assert_eq!(res.text(), "slow");
    let closed = closed_within(&mut conn.stream, Duration::from_secs(5))
        .await
        .expect("an idle HTTP/1.1 connection is closed");
    assert!(
        closed >= Duration::from_millis(400),
        "closed after {closed:?}"
    );

    // HTTP/2: after its one request, GOAWAY and close.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut opening = h2_opening();
    opening.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &hpack_get("victim.localhost", "/"),
    ));
    stream.write_all(&opening).await.expect("write");
    let mut answered = false;
    let mut goaway = false;
    while let Some(frame) = read_frame(&mut stream, Duration::from_secs(5)).await {
        if frame.stream == 1 && frame.flags & END_STREAM != 0 {
            answered = true;
        }
        goaway |= frame.kind == GOAWAY;
    }
    assert!(answered, "the request was answered");
    assert!(
        goaway,
        "an idle HTTP/2 connection gets GOAWAY and is closed"
    );
    assert!(metric(&node, "skiff_connection_timeouts_total{kind=\"idle\"}").await >= 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_connection() {
    let node = start_with(tenants(), |config| {
        admin(config);
        config.limits.connections.send_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stalled = Http1::connect(node.node.http_addr()).await;
    stalled.send(&get("smuggler.localhost", "/flood")).await;
    // The client reads nothing; once the socket buffers are full, the node's write waits,
    // and after the send timeout the connection is closed.
    let send_timeouts = "skiff_connection_timeouts_total{kind=\"send\"}";
    wait_for_metric(
        &node,
        send_timeouts,
        |n| n >= 1,
        Duration::from_secs(20),
        "a stalled reader kept its connection",
    )
    .await;
    wait_for_metric(
        &node,
        "skiff_connections_open",
        |n| n == 0,
        Duration::from_secs(10),
        "the connection stayed open",
    )
    .await;
    // What reached the client ends short of the 256 MiB.
    let mut received = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        stalled.stream.read_to_end(&mut received),
    )
    .await
    .expect("the node closed the connection");
    assert!(received.len() < 256 * 1024 * 1024, "{}", received.len());
    // A reader gets a whole response meanwhile.
    assert_eq!(node.get("victim", "/").await, (200, "victim".to_string()));
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_promptly() {
    let node = start_with(tenants(), |config| {
        admin(config);
        config.limits.connections.max_connections = 3;
    })
    .await;
    let addr = node.node.http_addr();
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut conn = Http1::connect(addr).await;
        conn.send(&get("victim.localhost", "/")).await;
        assert_eq!(conn.response(false).await.expect("served").text(), "victim");
        open.push(conn);
    }
    for _ in 0..5 {
        let mut refused = TcpStream::connect(addr).await.expect("connect");
        let _ = refused.write_all(&get("victim.localhost", "/")).await;
        // Answered 503, then closed at once.
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), refused.read_to_end(&mut answer))
            .await
            .expect("a connection past the cap is closed at once");
        assert!(read.is_ok(), "closed cleanly: {read:?}");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
                && answer.ends_with("\r\n\r\nNode at capacity\n"),
            "{answer:?}"
        );
    }
    // The open connections still work.
    open[0].send(&get("victim.localhost", "/")).await;
    assert_eq!(
        open[0].response(false).await.expect("served").text(),
        "victim"
    );
    assert!(metric(&node, "skiff_connections_refused_total").await >= 5);
    assert_eq!(metric(&node, "skiff_connections_open").await, 3);
    // A closed connection frees its place.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = Http1::connect(addr).await;
        let _ = conn.stream.write_all(&get("victim.localhost", "/")).await;
        if conn.response(false).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a place never came free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn http2_limits_are_advertised_and_reset_floods_are_cut_off() {
    let node = start_with(tenants(), |config| {
        config.limits.connections.h2_max_concurrent_streams = 7;
        config
            .limits
            .connections
            .h2_max_pending_accept_reset_streams = 5;
    })
    .await;
    let addr = node.node.http_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&h2_opening()).await.expect("write");
    let settings = read_frame(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server's SETTINGS");
    assert_eq!(settings.kind, SETTINGS);
    assert_eq!(
        setting(&settings.payload, 0x3),
        Some(7),
        "MAX_CONCURRENT_STREAMS"
    );
    assert!(
        setting(&settings.payload, 0x6).is_some(),
        "MAX_HEADER_LIST_SIZE"
    );

    // Rapid reset: streams opened and cancelled at once, many times over.
    let mut flood = Vec::new();
    // More than the 5 configured, fewer than the 20 of hyper's default.
    for i in 0..12u32 {
        let id = 1 + 2 * i;
        flood.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &hpack_get("victim.localhost", "/"),
        ));
        flood.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
    }
    let _ = stream.write_all(&flood).await;
    let mut goaway = None;
    while let Some(frame) = read_frame(&mut stream, Duration::from_secs(5)).await {
        if frame.kind == GOAWAY {
            goaway = frame
                .payload
                .get(4..8)
                .map(|code| u32::from_be_bytes([code[0], code[1], code[2], code[3]]));
        }
    }
    assert_eq!(goaway, Some(0xb), "GOAWAY with ENHANCE_YOUR_CALM");
    assert_eq!(node.get("victim", "/").await, (200, "victim".to_string()));
}
