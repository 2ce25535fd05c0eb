//! The worker's own WebSockets, through a real node, to a real tungstenite server on loopback:
//! `new WebSocket(url, protocols)` and `fetch()` with `Upgrade: websocket`, messages both ways,
//! close codes and reasons, a refused upgrade, and the outbound guard (host-local addresses
//! refused under the default policy, the subrequest budget, the hop header).
//!
//! No wss:// case here: the node trusts only the Mozilla roots, and has no setting to trust a
//! test certificate. `js-api/src/websocket/outgoing.rs` tests the TLS path itself
//! (`wss_speaks_tls_and_checks_the_certificate`), against a rustls server with a self-signed
//! certificate, trusted and not.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// A WebSocket server on 127.0.0.1:0. It echoes text with a prefix and binary as it is,
/// answers a Close with the same code and reason (tungstenite's answer), picks the first
/// subprotocol offered, and refuses the upgrade with a 403 on `/refuse`. On `/close-first` it
/// closes with 4002 "server first" as soon as the socket is open, and records the text it gets
/// after that (`text T`) instead of echoing it. `seen` records, in order, each connection's
/// handshake (`hello via=N protocols=P`), the Close it got and the end of each connection.
struct EchoServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone()));
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }

    async fn wait_for(&self, entry: &str) {
        let seen = self.seen.clone();
        let what = format!("the server to see {entry:?}");
        let entry = entry.to_string();
        wait_until(move || seen.lock().expect("seen").contains(&entry), &what).await;
    }
}

async fn serve(stream: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let record = |entry: String| seen.lock().expect("seen").push(entry);
    let mut path = String::new();
    #[expect(
        clippy::result_large_err,
        reason = "the signature of tungstenite's handshake callback"
    )]
    let answer = |request: &Request, mut response: Response| {
        let field = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let protocols = field("sec-websocket-protocol");
        path = request.uri().path().to_string();
        record(format!(
            "hello {path} via={} protocols={protocols}",
            field("cf-ew-via")
        ));
        if request.uri().path() == "/refuse" {
            let mut refusal = ErrorResponse::new(Some("no sockets here".to_string()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        if let Some(first) = protocols.split(',').next().filter(|_| protocols != "-") {
            response.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(first.trim()).expect("token"),
            );
        }
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, answer).await else {
        record("end".into());
        return;
    };
    let closes_first = path == "/close-first";
    if closes_first {
        let first = CloseFrame {
            code: 4002.into(),
            reason: "server first".into(),
        };
        if socket.close(Some(first)).await.is_err() {
            record("end".into());
            return;
        }
    }
    while let Some(Ok(message)) = socket.next().await {
        let reply = match message {
            Message::Text(text) if closes_first => {
                record(format!("text {}", text.as_str()));
                continue;
            }
            Message::Text(text) => Message::text(format!("echo:{}", text.as_str())),
            Message::Binary(data) => Message::binary(data),
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|frame| (u16::from(frame.code), frame.reason.as_str().to_string()))
                    .unwrap_or((1005, String::new()));
                record(format!("close {code} {reason}"));
                continue;
            }
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
    record("end".into());
}

/// Opens a socket to `?target=` (by `new WebSocket()`, or by `fetch()` on `/fetch`), sends a
/// text and a binary message, closes with 4001 "bye" once both echoes are in, and answers
/// with everything it saw, one line each.
const CLIENT: &str = r#"export default { async fetch(request) {
    const params = new URL(request.url).searchParams;
    const target = params.get("target");
    const seen = [];
    const attempt = (what, f) => { try { f(); } catch (e) { seen.push(`${what} ${e.name}: ${e.message}`); } };
    let ws;
    if (new URL(request.url).pathname === "/fetch") {
        const res = await fetch(target.replace("ws:", "http:"), { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "chat" } });
        seen.push(`status ${res.status} ${res.statusText}`);
        if (res.status !== 101) {
            seen.push(`body ${await res.text()} socket ${res.webSocket}`);
            return new Response(seen.join("\n"));
        }
        ws = res.webSocket;
        seen.push(`socket ${ws.constructor.name} state ${ws.readyState} url ${ws.url}`);
        attempt("send", () => ws.send("early"));
        ws.accept();
    } else {
        ws = new WebSocket(target, ["chat", "superchat"]);
        seen.push(`state ${ws.readyState} url ${ws.url} protocol ${JSON.stringify(ws.protocol)} extensions ${JSON.stringify(ws.extensions)}`);
        attempt("send", () => ws.send("early"));
        attempt("accept", () => ws.accept());
        // "error" and "close" come one right after the other: listen for both at once.
        let opened = false;
        const failed = new Promise((resolve) => ws.addEventListener("close", (e) => {
            if (opened) return;
            seen.push(`close ${e.code} ${e.reason} ${e.wasClean} state ${ws.readyState}`);
            resolve();
        }));
        opened = await new Promise((resolve) => {
            ws.addEventListener("open", () => resolve(true));
            ws.addEventListener("error", (e) => { seen.push(`error ${e.constructor.name} ${e.message}`); resolve(false); });
        });
        if (!opened) {
            await failed;
            return new Response(seen.join("\n"));
        }
        seen.push(`open state ${ws.readyState} protocol ${ws.protocol} extensions ${ws.extensions}`);
    }
    const closed = new Promise((resolve) => ws.addEventListener("close", (e) => {
        seen.push(`close ${e.code} ${e.reason} ${e.wasClean} state ${ws.readyState}`);
        resolve();
    }));
    let echoes = 0;
    ws.addEventListener("message", (e) => {
        seen.push(typeof e.data === "string" ? `text ${e.data}` : `binary ${[...new Uint8Array(e.data)]}`);
        if (++echoes === 2) ws.close(4001, "bye");
    });
    ws.send("hello");
    ws.send(new Uint8Array([1, 2, 255]));
    await closed;
    attempt("send after close", () => ws.send("late"));
    return new Response(seen.join("\n"));
} };"#;

/// What `script` answered at `path`: the lines of its body, once it answered 200.
async fn report(node: &TestNode, script: &str, path: &str) -> Vec<String> {
    let (status, body) = node.get(script, path).await;
    assert_eq!(status, 200, "{body}");
    body.lines().map(str::to_owned).collect()
}

async fn private_node() -> TestNode {
    start_with(script_dir(&[("client", CLIENT)]), |config| {
        config.outbound.allow_private = true;
    })
    .await
}

#[tokio::test]
async fn new_websocket_talks_to_a_server_and_closes_with_a_code() {
    let server = EchoServer::start().await;
    let node = private_node().await;
    let target = format!("ws://127.0.0.1:{}/chat", server.addr.port());
    assert_eq!(
        report(&node, "client", &format!("/?target={target}")).await,
        [
            format!(r#"state 0 url {target} protocol "" extensions """#).as_str(),
            "send TypeError: You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.",
            "accept TypeError: Websockets obtained from the 'new WebSocket()' constructor cannot call accept",
            "open state 1 protocol chat extensions null",
            "text echo:hello",
            "binary 1,2,255",
            "close 4001 bye true state 3",
            "send after close TypeError: Can't call WebSocket send() after close().",
        ]
    );
    server.wait_for("end").await;
    assert_eq!(
        server.seen(),
        [
            "hello /chat via=15 protocols=chat, superchat",
            "close 4001 bye",
            "end"
        ]
    );
}

#[tokio::test]
async fn fetch_with_upgrade_resolves_to_a_101_whose_socket_is_accepted() {
    let server = EchoServer::start().await;
    let node = private_node().await;
    let target = format!("ws://127.0.0.1:{}/chat", server.addr.port());
    assert_eq!(
        report(&node, "client", &format!("/fetch?target={target}")).await,
        [
            "status 101 Switching Protocols",
            "socket WebSocket state 1 url null",
            "send TypeError: You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.",
            "text echo:hello",
            "binary 1,2,255",
            "close 4001 bye true state 3",
            "send after close TypeError: Can't call WebSocket send() after close().",
        ]
    );
    server.wait_for("end").await;
    assert_eq!(
        server.seen(),
        ["hello /chat via=15 protocols=chat", "close 4001 bye", "end"]
    );
}

#[tokio::test]
async fn a_refused_upgrade_is_an_ordinary_response_or_an_error_event() {
    let server = EchoServer::start().await;
    let node = private_node().await;
    let target = format!("ws://127.0.0.1:{}/refuse", server.addr.port());
    assert_eq!(
        report(&node, "client", &format!("/fetch?target={target}")).await,
        ["status 403 Forbidden", "body no sockets here socket null"]
    );
    assert_eq!(
        report(&node, "client", &format!("/?target={target}")).await[3..],
        [
            "error ErrorEvent Uncaught TypeError: Failed to establish the WebSocket connection: expected server to reply with HTTP status code 101 (switching protocols), but received 403 instead.",
            "close 1006 Failed to establish websocket connection false state 3",
        ]
    );
}

/// Checks `new WebSocket()`'s arguments as workerd does, before anything is counted, and a
/// `fetch()` with `Upgrade: websocket` to a `ws:` URL or with an aborted signal (neither reaches
/// the network).
const ARGUMENTS: &str = r#"export default { async fetch() {
    const out = [];
    for (const [url, protocols] of [
        ["http://example.com/"], ["ws://example.com/#"], ["nope"], ["ws://example.com/", "a b"],
        ["ws://example.com/", ["a", "a"]], ["ws://example.com/", ["a", ""]],
    ]) {
        try { new WebSocket(url, protocols); out.push("made"); } catch (e) { out.push(`${e.name}: ${e.message}`); }
    }
    try { await fetch("ws://example.com/", { headers: { Upgrade: "websocket" } }); out.push("fetched"); } catch (e) { out.push(`${e.name}: ${e.message}`); }
    const signal = AbortSignal.abort(new Error("given up"));
    try { await fetch("http://example.com/", { headers: { Upgrade: "websocket" }, signal }); out.push("fetched"); } catch (e) { out.push(`${e.name}: ${e.message}`); }
    return new Response(out.join("\n"));
} };"#;

#[tokio::test]
async fn bad_arguments_throw_workerds_errors() {
    let node = start(&[("args", ARGUMENTS)]).await;
    assert_eq!(
        report(&node, "args", "/").await,
        [
            "SyntaxError: WebSocket Constructor: The url scheme must be ws or wss.",
            "SyntaxError: WebSocket Constructor: The url fragment must be empty.",
            "SyntaxError: WebSocket Constructor: The url is invalid.",
            "SyntaxError: WebSocket Constructor: The protocol header token is invalid.",
            "SyntaxError: WebSocket Constructor: The protocols header cannot have repeating values.",
            "SyntaxError: WebSocket Constructor: One of the protocol header tokens is invalid.",
            "TypeError: Fetch API cannot load: ws://example.com/",
            "Error: given up",
        ]
    );
}

#[tokio::test]
async fn the_default_policy_refuses_loopback_before_connecting() {
    let server = EchoServer::start().await;
    let node = start(&[("client", CLIENT)]).await;
    let host = format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(
        report(&node, "client", &format!("/?target=ws://{host}/chat")).await[3..],
        [
            format!("error ErrorEvent Uncaught TypeError: new WebSocket() to {host} refused: workers cannot reach loopback, private or link-local addresses").as_str(),
            "close 1006 Failed to establish websocket connection false state 3",
        ]
    );
    // By name too: localhost resolves to loopback.
    let (status, body) = node
        .get(
            "client",
            &format!("/?target=ws://localhost:{}/chat", server.addr.port()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("refused: workers cannot reach"), "{body}");
    let (status, body) = node
        .get("client", &format!("/fetch?target=ws://{host}/chat"))
        .await;
    assert_eq!(status, 500, "fetch() rejects: {body}");
    wait_until(
        || node.logged(&format!("TypeError: fetch() to {host} refused")),
        "the rejection to be logged",
    )
    .await;
    assert_eq!(
        server.seen(),
        Vec::<String>::new(),
        "nothing reached the server"
    );
}

/// Opens `?n=` sockets to `?target=` without waiting, then one `fetch()`: what each threw.
const MANY: &str = r#"export default { async fetch(request) {
    const params = new URL(request.url).searchParams;
    const out = [];
    const sockets = [];
    for (let i = 0; i < Number(params.get("n")); i++) {
        try { sockets.push(new WebSocket(params.get("target"))); out.push("made"); } catch (e) { out.push(`${e.name}: ${e.message}`); }
    }
    try { await fetch(params.get("target").replace("ws:", "http:")); out.push("fetched"); } catch (e) { out.push(`${e.name}: ${e.message}`); }
    await Promise.all(sockets.map((ws) => new Promise((resolve) => ws.addEventListener("open", resolve))));
    for (const ws of sockets) ws.close(1000);
    return new Response(out.join("\n"));
} };"#;

#[tokio::test]
async fn websocket_connects_count_against_the_subrequest_budget() {
    let server = EchoServer::start().await;
    let node = start_with(script_dir(&[("many", MANY)]), |config| {
        config.outbound.allow_private = true;
        config.outbound.subrequests = 3;
    })
    .await;
    let target = format!("ws://127.0.0.1:{}/n", server.addr.port());
    let refused = "TypeError: Too many subrequests: a request may make at most 3 fetch() calls";
    assert_eq!(
        report(&node, "many", &format!("/?n=4&target={target}")).await,
        ["made", "made", "made", refused, refused]
    );
    let seen = server.seen();
    let hellos = seen
        .iter()
        .filter(|entry| entry.starts_with("hello"))
        .count();
    assert_eq!(hellos, 3, "{seen:?}");
}

#[tokio::test]
async fn close_before_open_gives_the_attempt_up() {
    const EARLY: &str = r#"export default { async fetch(request) {
        const ws = new WebSocket(new URL(request.url).searchParams.get("target"));
        const out = [];
        ws.addEventListener("open", () => out.push("open"));
        ws.addEventListener("error", (e) => out.push(`error ${e.message}`));
        const closed = new Promise((resolve) => ws.addEventListener("close", (e) => {
            out.push(`close ${e.code} ${e.reason} ${e.wasClean} state ${ws.readyState}`);
            resolve();
        }));
        ws.close();
        ws.send("ignored");
        await closed;
        return new Response(out.join("\n"));
    } };"#;
    let server = EchoServer::start().await;
    let node = start_with(script_dir(&[("early", EARLY)]), |config| {
        config.outbound.allow_private = true;
    })
    .await;
    let target = format!("ws://127.0.0.1:{}/", server.addr.port());
    assert_eq!(
        report(&node, "early", &format!("/?target={target}")).await,
        [
            "error Uncaught Error: Network connection lost.",
            "close 1006 Failed to establish websocket connection false state 3",
        ]
    );
}

#[tokio::test]
async fn a_fetched_socket_returned_in_the_response_joins_client_and_server() {
    const PROXY: &str = r#"export default { fetch(request) {
        const target = new URL(request.url).searchParams.get("target");
        return fetch(target, { headers: { Upgrade: "websocket" } });
    } };"#;
    let server = EchoServer::start().await;
    let node = start_with(script_dir(&[("proxy", PROXY)]), |config| {
        config.outbound.allow_private = true;
    })
    .await;
    let stream = tokio::net::TcpStream::connect(node.node.http_addr())
        .await
        .expect("connect");
    let url = format!(
        "ws://proxy.localhost:{}/?target=http://127.0.0.1:{}/up",
        node.node.http_addr().port(),
        server.addr.port()
    );
    let (mut client, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("handshake through the worker");
    client.send(Message::text("hi")).await.expect("send");
    assert_eq!(next_message(&mut client).await, Message::text("echo:hi"));
    client
        .send(Message::binary(vec![7u8, 8]))
        .await
        .expect("send");
    assert_eq!(
        next_message(&mut client).await,
        Message::binary(vec![7u8, 8])
    );
    client
        .close(Some(CloseFrame {
            code: 1000.into(),
            reason: "done".into(),
        }))
        .await
        .expect("close");
    server.wait_for("end").await;
    assert_eq!(
        server.seen(),
        ["hello /up via=15 protocols=-", "close 1000 done", "end"]
    );
}

/// Opens a socket to `?target=` with `fetch()` and accepts it, half open with `?half`; when the
/// server closes, it answers at once (by default) or, half open, sends "bye" and then closes
/// with 4000 "done". Answers with the close event it saw.
const CLOSED_BY_SERVER: &str = r#"export default { async fetch(request) {
    const params = new URL(request.url).searchParams;
    const half = params.has("half");
    const res = await fetch(params.get("target"), { headers: { Upgrade: "websocket" } });
    const ws = res.webSocket;
    ws.accept(half ? { allowHalfOpen: true } : undefined);
    const event = await new Promise((resolve) => ws.addEventListener("close", resolve));
    const state = ws.readyState;
    if (half) {
        ws.send("bye");
        ws.close(4000, "done");
    }
    return new Response(`close ${event.code} ${event.reason} state ${state}`);
} };"#;

#[tokio::test]
async fn a_server_s_close_is_answered_at_once_or_when_a_half_open_worker_closes() {
    for (query, answer, state) in [
        ("", vec!["close 4002 server first"], 3),
        ("&half", vec!["text bye", "close 4000 done"], 2),
    ] {
        let server = EchoServer::start().await;
        let node = start_with(script_dir(&[("closed", CLOSED_BY_SERVER)]), |config| {
            config.outbound.allow_private = true;
        })
        .await;
        let target = format!("http://127.0.0.1:{}/close-first", server.addr.port());
        let (status, body) = node
            .get("closed", &format!("/?target={target}{query}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, format!("close 4002 server first state {state}"));
        server.wait_for("end").await;
        let mut expected = vec!["hello /close-first via=15 protocols=-"];
        expected.extend(answer);
        expected.push("end");
        assert_eq!(server.seen(), expected, "{query}");
    }
}

#[tokio::test]
async fn a_socket_ends_with_its_isolate() {
    // Answers once its socket is open; the server's echo then runs into an endless loop, and
    // the CPU limit ends the isolate.
    const SPIN: &str = r#"export default { async fetch(request) {
        const ws = new WebSocket(new URL(request.url).searchParams.get("target"));
        await new Promise((resolve) => ws.addEventListener("open", resolve));
        ws.addEventListener("message", () => { while (true) {} });
        ws.send("spin");
        return new Response("open");
    } };"#;
    let server = EchoServer::start().await;
    let node = start_with(script_dir(&[("spin", SPIN)]), |config| {
        config.outbound.allow_private = true;
        config.isolate_limits.cpu = std::time::Duration::from_millis(50);
    })
    .await;
    let target = format!("ws://127.0.0.1:{}/spin", server.addr.port());
    let (status, body) = node.get("spin", &format!("/?target={target}")).await;
    assert_eq!((status, body.as_str()), (200, "open"));
    server.wait_for("end").await;
    assert_eq!(
        server.seen(),
        [
            "hello /spin via=15 protocols=-",
            "close 1011 The worker went away",
            "end"
        ]
    );
}
