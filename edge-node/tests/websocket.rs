//! WebSockets through a real node with a real client (tungstenite) over HTTP/1.1 and TLS:
//! `WebSocketPair`, `accept()`, messages both ways, close codes and reasons from either side,
//! Cloudflare's 1 MiB message limit, workerd's error messages, and a socket's messages billed
//! like requests by the CPU limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{WebSocketStream, client_async};

/// Echoes text with a prefix and binary as it is; "close" makes it close with 4000; "burn"
/// spends ~10 ms of CPU; "spin" never returns; "big" tries to send 1 MiB + 1 and reports what
/// that threw. Every close event it sees is logged.
const ECHO: &str = r#"export default { fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") {
        return new Response("a WebSocket, please", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (event) => {
        const data = event.data;
        if (data === "close") return server.close(4000, "asked to");
        if (data === "burn") {
            const end = performance.now() + 10;
            while (performance.now() < end) {}
            return server.send("burnt");
        }
        if (data === "spin") { while (true) {} }
        if (data === "big") {
            try { server.send("x".repeat(1024 * 1024 + 1)); } catch (e) { server.send(`${e.name}: ${e.message}`); }
            return;
        }
        if (data === "state") return server.send(String(server.readyState));
        server.send(typeof data === "string" ? "echo:" + data : data);
    });
    server.addEventListener("close", (event) => {
        console.log(`closed ${event.code} ${event.reason} ${event.wasClean}`);
    });
    return new Response(null, { status: 101, webSocket: client, headers: { "x-worker": "echo" } });
} };"#;

type Socket<S> = WebSocketStream<S>;

/// Opens a WebSocket to `script` on the node's HTTP listener.
async fn connect(node: &TestNode, script: &str) -> (Socket<TcpStream>, http::HeaderMap) {
    let stream = TcpStream::connect(node.node.http_addr())
        .await
        .expect("connect");
    let url = format!(
        "ws://{script}.localhost:{}/chat",
        node.node.http_addr().port()
    );
    let (socket, response) = client_async(url, stream).await.expect("handshake");
    (socket, response.headers().clone())
}

/// Reads on until the socket ends, which sends the client's answer to a Close.
async fn finish<S>(socket: &mut Socket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the socket ends within 10 s");
}

fn close_of(message: Message) -> (u16, String) {
    match message {
        Message::Close(Some(frame)) => (u16::from(frame.code), frame.reason.as_str().to_owned()),
        other => panic!("expected a close, got {other:?}"),
    }
}

async fn echo_round_trips<S>(socket: &mut Socket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket.send(Message::text("hi")).await.expect("send");
    assert_eq!(next_message(socket).await, Message::text("echo:hi"));
    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    assert_eq!(
        next_message(socket).await,
        Message::binary(vec![0u8, 1, 2, 255])
    );
    socket.send(Message::text("state")).await.expect("send");
    assert_eq!(next_message(socket).await, Message::text("1"), "OPEN");
}

#[tokio::test]
async fn a_worker_accepts_a_websocket_and_closes_it_with_a_code() {
    let node = start(&[("echo", ECHO)]).await;
    let (mut socket, headers) = connect(&node, "echo").await;
    assert_eq!(
        headers["x-worker"], "echo",
        "the worker's headers come with the 101"
    );
    echo_round_trips(&mut socket).await;
    for i in 0..50 {
        socket
            .send(Message::text(format!("m{i}")))
            .await
            .expect("send");
    }
    for i in 0..50 {
        assert_eq!(
            next_message(&mut socket).await,
            Message::text(format!("echo:m{i}"))
        );
    }

    socket.send(Message::text("close")).await.expect("send");
    assert_eq!(
        close_of(next_message(&mut socket).await),
        (4000, "asked to".into())
    );
    // The client's answer to the Close reaches the worker's close event.
    finish(&mut socket).await;
    node.wait_for_log("closed 4000 asked to true").await;
}

#[tokio::test]
async fn a_client_close_reaches_the_worker_and_is_answered() {
    let node = start(&[("echo", ECHO)]).await;
    let (mut socket, _) = connect(&node, "echo").await;
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(3001),
            reason: "bye".into(),
        })))
        .await
        .expect("close");
    assert_eq!(
        close_of(next_message(&mut socket).await),
        (3001, "bye".into())
    );
    node.wait_for_log("closed 3001 bye true").await;
    // Both Closes have gone: the node hangs up.
    finish(&mut socket).await;
}

/// Accepts with `allowHalfOpen`: when the client closes, it logs the close event, sends "bye"
/// and closes with 4000 "done".
const HALF_OPEN: &str = r#"export default { fetch(request) {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept({ allowHalfOpen: true });
    server.addEventListener("close", (event) => {
        console.log(`closed ${event.code} ${event.reason} state ${server.readyState}`);
        server.send("bye");
        server.close(4000, "done");
    });
    return new Response(null, { status: 101, webSocket: client });
} };"#;

#[tokio::test]
async fn a_half_open_socket_answers_the_client_s_close_when_the_worker_closes() {
    let node = start(&[("half", HALF_OPEN)]).await;
    let (mut socket, _) = connect(&node, "half").await;
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await
        .expect("close");
    assert_eq!(
        next_message(&mut socket).await,
        Message::text("bye"),
        "what the worker sends after the client's Close arrives, before its answer"
    );
    assert_eq!(
        close_of(next_message(&mut socket).await),
        (4000, "done".into())
    );
    finish(&mut socket).await;
    node.wait_for_log("closed 1000  state 2").await;
}

#[tokio::test]
async fn a_client_that_drops_the_connection_closes_the_worker_s_socket_uncleanly() {
    let node = start(&[("echo", ECHO)]).await;
    let (mut socket, _) = connect(&node, "echo").await;
    echo_round_trips(&mut socket).await;
    drop(socket);
    node.wait_for_log("closed 1006 WebSocket disconnected without sending Close frame. false")
        .await;
}

#[tokio::test]
async fn websockets_over_tls() {
    let certs = tempfile::tempdir().expect("tempdir");
    let generated =
        rcgen::generate_simple_self_signed(vec!["echo.localhost".to_string()]).expect("cert");
    write(
        &certs.path().join("echo.localhost.crt"),
        &generated.cert.pem(),
    );
    write(
        &certs.path().join("echo.localhost.key"),
        &generated.key_pair.serialize_pem(),
    );
    let cert_dir = certs.path().to_path_buf();
    let node = start_with(script_dir(&[("echo", ECHO)]), move |config| {
        config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.certs_dir = Some(cert_dir);
    })
    .await;
    let addr = node.node.https_addr().expect("tls listener");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).expect("root");
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let stream = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("echo.localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, stream)
        .await
        .expect("TLS handshake, the node's certificate verified");
    let url = format!("wss://echo.localhost:{}/", addr.port());
    let (mut socket, _) = client_async(url, stream).await.expect("handshake");
    echo_round_trips(&mut socket).await;
    socket.send(Message::text("close")).await.expect("send");
    assert_eq!(
        close_of(next_message(&mut socket).await),
        (4000, "asked to".into())
    );
}

#[tokio::test]
async fn messages_above_one_mebibyte_are_refused_both_ways() {
    let node = start(&[("echo", ECHO)]).await;
    let (mut socket, _) = connect(&node, "echo").await;
    socket.send(Message::text("big")).await.expect("send");
    assert_eq!(
        next_message(&mut socket).await,
        Message::text(
            "RangeError: WebSocket message is 1048577 bytes; the limit is 1048576 bytes."
        )
    );
    // Exactly the limit passes.
    let limit = vec![7u8; 1024 * 1024];
    socket
        .send(Message::binary(limit.clone()))
        .await
        .expect("send");
    assert_eq!(next_message(&mut socket).await, Message::binary(limit));
    socket
        .send(Message::binary(vec![7u8; 1024 * 1024 + 1]))
        .await
        .expect("send");
    assert_eq!(close_of(next_message(&mut socket).await).0, 1009);
    node.wait_for_log("closed 1009 Message too big").await;
}

#[tokio::test]
async fn each_message_gets_a_request_s_cpu_and_an_endless_one_is_stopped() {
    let node = start_with(script_dir(&[("echo", ECHO)]), |config| {
        config.isolate_limits.cpu = Duration::from_millis(50);
    })
    .await;
    let (mut socket, _) = connect(&node, "echo").await;
    // 30 messages of ~10 ms each: 300 ms in all, six times one request's limit.
    for _ in 0..30 {
        socket.send(Message::text("burn")).await.expect("send");
        assert_eq!(next_message(&mut socket).await, Message::text("burnt"));
    }
    socket.send(Message::text("spin")).await.expect("send");
    // The CPU limit ends the isolate, and with it the socket.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the socket ends within 10 s");
    assert_eq!(ended, Some(1011), "the worker went away");
    // The next socket gets a fresh isolate.
    let (mut again, _) = connect(&node, "echo").await;
    echo_round_trips(&mut again).await;
}

#[tokio::test]
async fn websocket_errors_carry_workerd_s_messages() {
    let node = start(&[(
        "errors",
        r#"function attempt(f) {
            try { f(); return "ok"; } catch (e) { return `${e.name}: ${e.message}`; }
        }
        export default { fetch(request) {
            const path = new URL(request.url).pathname;
            const [client, server] = Object.values(new WebSocketPair());
            if (path === "/accepted") {
                client.accept();
                return new Response(null, { status: 101, webSocket: client });
            }
            if (path === "/plain") return new Response(null, { status: 101, webSocket: client });
            const report = {
                sendBeforeAccept: attempt(() => server.send("x")),
                closeBeforeAccept: attempt(() => server.close()),
                badCode: attempt(() => server.close(1005)),
                reasonWithoutCode: attempt(() => server.close(undefined, "why")),
                longReason: attempt(() => server.close(1000, "é".repeat(62))),
                outgoing: attempt(() => new WebSocket("https://example.com/")),
                status101Alone: attempt(() => new Response(null, { status: 101 })),
                wrongStatus: attempt(() => new Response(null, { status: 200, webSocket: client })),
                notASocket: attempt(() => new Response(null, { status: 101, webSocket: {} })),
                pairKeys: Object.keys(new WebSocketPair()),
                iterable: [...new WebSocketPair()].length,
                constants: [WebSocket.OPEN, server.CLOSED, WebSocket.READY_STATE_CLOSING],
                webSocketOfPlain: new Response("x").webSocket,
            };
            server.accept();
            server.close(1000, "done");
            report.sendAfterClose = attempt(() => server.send("x"));
            report.stateAfterClose = server.readyState;
            return Response.json(report);
        } };"#,
    )])
    .await;
    let (status, body) = node.get("errors", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("json");
    let not_accepted = "TypeError: You must call one of accept() or state.acceptWebSocket() on \
                        this WebSocket before sending messages.";
    assert_eq!(out["sendBeforeAccept"], not_accepted);
    assert_eq!(out["closeBeforeAccept"], not_accepted);
    assert_eq!(
        out["badCode"],
        "InvalidAccessError: Invalid WebSocket close code: 1005."
    );
    assert_eq!(
        out["reasonWithoutCode"],
        "InvalidAccessError: If you specify a WebSocket close reason, you must also specify a code."
    );
    assert_eq!(
        out["longReason"],
        "SyntaxError: WebSocket close reason must not be longer than 123 bytes when UTF-8 encoded."
    );
    assert_eq!(
        out["outgoing"],
        "SyntaxError: WebSocket Constructor: The url scheme must be ws or wss."
    );
    assert_eq!(
        out["status101Alone"],
        "RangeError: Responses may only be constructed with status codes in the range 200 to 599, \
         inclusive."
    );
    assert_eq!(
        out["wrongStatus"],
        "RangeError: Responses with a WebSocket must have status code 101."
    );
    assert!(
        out["notASocket"]
            .as_str()
            .is_some_and(|s| s.starts_with("TypeError")),
        "{out}"
    );
    assert_eq!(out["pairKeys"], serde_json::json!(["0", "1"]));
    assert_eq!(out["iterable"], 2);
    assert_eq!(out["constants"], serde_json::json!([1, 3, 2]));
    assert_eq!(out["webSocketOfPlain"], serde_json::Value::Null);
    assert_eq!(
        out["sendAfterClose"],
        "TypeError: Can't call WebSocket send() after close()."
    );
    assert_eq!(out["stateAfterClose"], 2, "CLOSING: sent, not yet answered");

    // An accepted end cannot go out in a response: the handler's error is a 500.
    let (status, _) = node.get("errors", "/accepted").await;
    assert_eq!(status, 500);
    node.wait_for_log("Can't return WebSocket in a Response after calling accept().")
        .await;
    // A 101 to a request that did not ask for a WebSocket is the worker's error.
    let (status, body) = node.get("errors", "/plain").await;
    assert_eq!(status, 500, "{body}");
}

#[tokio::test]
async fn a_request_without_upgrade_is_an_ordinary_request() {
    let node = start(&[("echo", ECHO)]).await;
    let (status, body) = node.get("echo", "/").await;
    assert_eq!((status, body.as_str()), (426, "a WebSocket, please"));
}

#[tokio::test]
async fn the_chat_example_sends_each_message_to_every_member() {
    let chat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/chat/index.js"
    ))
    .expect("examples/chat");
    let node = start(&[("chat", &chat)]).await;
    let join = |name: &'static str| {
        let node = &node;
        async move {
            let stream = TcpStream::connect(node.node.http_addr())
                .await
                .expect("connect");
            let url = format!(
                "ws://chat.localhost:{}/?name={name}",
                node.node.http_addr().port()
            );
            client_async(url, stream).await.expect("handshake").0
        }
    };
    let json = |message: Message| -> serde_json::Value {
        serde_json::from_str(message.to_text().expect("text")).expect("json")
    };
    let mut ada = join("ada").await;
    assert_eq!(
        json(next_message(&mut ada).await),
        serde_json::json!({ "joined": "ada", "members": 1 })
    );
    let mut bob = join("bob").await;
    for socket in [&mut ada, &mut bob] {
        assert_eq!(
            json(next_message(socket).await),
            serde_json::json!({ "joined": "bob", "members": 2 })
        );
    }
    ada.send(Message::text("hello")).await.expect("send");
    for socket in [&mut ada, &mut bob] {
        assert_eq!(
            json(next_message(socket).await),
            serde_json::json!({ "from": "ada", "text": "hello" })
        );
    }
    bob.close(None).await.expect("close");
    assert_eq!(
        json(next_message(&mut ada).await),
        serde_json::json!({ "left": "bob", "members": 1 })
    );
}

#[tokio::test]
async fn open_sockets_count_toward_the_connection_limit() {
    let node = start_with(script_dir(&[("echo", ECHO)]), |config| {
        config.limits.connections.max_connections = 3;
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let (mut socket, _) = connect(&node, "echo").await;
        echo_round_trips(&mut socket).await;
        open.push(socket);
    }
    // A fourth upgrade is refused while three sockets are open, and its connection with it.
    let stream = TcpStream::connect(node.node.http_addr())
        .await
        .expect("connect");
    let url = format!("ws://echo.localhost:{}/", node.node.http_addr().port());
    match client_async(url.clone(), stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected a 503, got {:?}", other.map(|(_, r)| r.status())),
    }
    // Once one closes, the next one opens.
    let mut first = open.remove(0);
    first.close(None).await.expect("close");
    finish(&mut first).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stream = TcpStream::connect(node.node.http_addr())
            .await
            .expect("connect");
        if let Ok((mut socket, _)) = client_async(url.clone(), stream).await {
            echo_round_trips(&mut socket).await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no room after a close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn messages_parked_in_a_pair_count_toward_the_memory_limit() {
    let node = start_with(
        script_dir(&[(
            "hoard",
            r#"const kept = [];
            export default { fetch() {
                // Pairs whose messages nobody reads: 16 MiB queued in each.
                for (let i = 0; i < 64; i++) {
                    const [a, b] = Object.values(new WebSocketPair());
                    a.accept();
                    b.accept();
                    kept.push(a, b);
                    for (let j = 0; j < 16; j++) a.send(new Uint8Array(1024 * 1024 - 16));
                }
                return new Response("held 1 GiB outside the heap");
            } };"#,
        )]),
        |config| {
            config.isolate_limits.memory = 64 * 1024 * 1024;
            config.isolate_limits.cpu = std::time::Duration::from_secs(5);
        },
    )
    .await;
    let (status, body) = node.get("hoard", "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("memory"), "{body}");
}
