//! Service bindings: `env.NAME.fetch()` runs another script of the node in process, with the
//! request body streaming in and the response streaming back; the callee's failures are its
//! own; a loop of bindings stops.

mod common;

use common::{next_message, start_with, write};

/// A project folder `name/` in `dir` with `source` as its main module and `services` bound.
fn project(dir: &std::path::Path, name: &str, source: &str, services: &[(&str, &str)]) {
    let mut config = format!("name = \"{name}\"\nmain = \"index.js\"\n");
    for (binding, service) in services {
        config.push_str(&format!(
            "\n[[services]]\nbinding = \"{binding}\"\nservice = \"{service}\"\n"
        ));
    }
    write(&dir.join(name).join("skiff.toml"), &config);
    write(&dir.join(name).join("index.js"), source);
}

const FRONT: &str = r#"
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/echo") {
      // The body goes to the callee as a stream, and its answer comes back as one.
      const body = new ReadableStream({
        start(controller) {
          for (const part of ["one ", "two ", "three"]) controller.enqueue(new TextEncoder().encode(part));
          controller.close();
        },
      });
      const answer = await env.AUTH.fetch("https://auth/echo", { method: "POST", body, duplex: "half" });
      return new Response(`${answer.status} ${answer.headers.get("x-callee")} ${await answer.text()}`);
    }
    if (url.pathname === "/whoami") {
      const answer = await env.AUTH.fetch(new Request("https://auth/whoami", { headers: { "x-user": "ada" } }));
      return new Response(await answer.text());
    }
    if (url.pathname === "/throw") {
      const answer = await env.AUTH.fetch("https://auth/throw");
      return new Response(`callee said ${answer.status}`);
    }
    if (url.pathname === "/burn") {
      const answer = await env.AUTH.fetch("https://auth/burn");
      return new Response(`callee said ${answer.status}: ${(await answer.text()).trim()}`);
    }
    if (url.pathname === "/budget") {
      // Service calls count against the subrequest budget, as fetch() calls do.
      let made = 0;
      try {
        for (let i = 0; i < 60; i++) {
          await env.AUTH.fetch("https://auth/whoami");
          made++;
        }
      } catch (error) {
        return new Response(`${made}: ${error.name}: ${error.message}`);
      }
      return new Response(`${made}: no limit`);
    }
    if (url.pathname === "/missing") {
      const answer = await env.GONE.fetch("https://gone/");
      return new Response(`${answer.status}`);
    }
    return new Response("front", { status: 404 });
  },
};
"#;

const AUTH: &str = r#"
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/echo") {
      return new Response(request.body, { headers: { "x-callee": "auth" } });
    }
    if (url.pathname === "/whoami") return new Response(`user ${request.headers.get("x-user")}`);
    if (url.pathname === "/throw") throw new Error("the callee fails");
    if (url.pathname === "/burn") { while (true) {} }
    return new Response("auth", { status: 404 });
  },
};
"#;

/// A calls B calls A ...: every call is a new invocation down the same chain.
const PING: &str = r#"
export default {
  async fetch(request, env) {
    const depth = Number(new URL(request.url).searchParams.get("depth") ?? "0");
    const answer = await env.NEXT.fetch(`https://next/?depth=${depth + 1}`);
    const text = await answer.text();
    return new Response(depth === 0 ? `${answer.status} ${text.trim()}` : text, { status: answer.status });
  },
};
"#;

#[tokio::test]
async fn a_worker_calls_another_by_its_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(
        dir.path(),
        "front",
        FRONT,
        &[("AUTH", "auth"), ("GONE", "no-such-script")],
    );
    project(dir.path(), "auth", AUTH, &[]);
    project(dir.path(), "ping", PING, &[("NEXT", "pong")]);
    project(dir.path(), "pong", PING, &[("NEXT", "ping")]);
    let node = start_with(dir, |_| {}).await;

    assert_eq!(
        node.get("front", "/echo").await,
        (200, "200 auth one two three".to_string())
    );
    assert_eq!(
        node.get("front", "/whoami").await,
        (200, "user ada".to_string())
    );
    // The callee's exception is a 500 for the caller's call, not a crash of the caller.
    assert_eq!(
        node.get("front", "/throw").await,
        (200, "callee said 500".to_string())
    );
    // The callee's CPU limit is its own: it is stopped, the caller goes on.
    assert_eq!(
        node.get("front", "/burn").await,
        (
            200,
            "callee said 503: Worker exceeded CPU time limit".to_string()
        )
    );
    assert_eq!(
        node.get("front", "/budget").await,
        (
            200,
            "50: TypeError: Too many subrequests: a request may make at most 50 fetch() calls"
                .to_string()
        )
    );
    assert_eq!(
        node.get("front", "/missing").await,
        (200, "404".to_string())
    );
    // A loop of bindings ends at the chain's invocation limit with Cloudflare's error 1019.
    assert_eq!(
        node.get("ping", "/").await,
        (508, "508 error code: 1019".to_string())
    );
    // The caller is still healthy.
    assert_eq!(
        node.get("front", "/whoami").await,
        (200, "user ada".to_string())
    );
}

/// Echoes "echo:" + each message; "close" closes with 4000.
const WS_ECHO: &str = r#"
export default {
  fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") return new Response("no socket", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (event) => {
      if (event.data === "close") return server.close(4000, "asked to");
      server.send("echo:" + event.data);
    });
    return new Response(null, { status: 101, webSocket: client, headers: { "x-callee": "echo" } });
  },
};
"#;

/// Passes its client's socket request on to the echo (`/proxy`), or talks to the echo's
/// socket itself (`/inside`).
const WS_FRONT: &str = r#"
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/proxy") return env.ECHO.fetch(request);
    const answer = await env.ECHO.fetch("https://echo/", { headers: { upgrade: "websocket" } });
    const socket = answer.webSocket;
    socket.accept();
    const heard = new Promise((resolve) => socket.addEventListener("message", (event) => resolve(event.data)));
    const closed = new Promise((resolve) => socket.addEventListener("close", (event) => resolve(`${event.code} ${event.reason}`)));
    socket.send("hi");
    const echoed = await heard;
    socket.send("close");
    return new Response(`${answer.status} ${answer.headers.get("x-callee")} ${echoed} ${await closed}`);
  },
};
"#;

#[tokio::test]
async fn a_websocket_passes_through_a_service_binding() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().expect("tempdir");
    project(dir.path(), "wsecho", WS_ECHO, &[]);
    project(dir.path(), "wsfront", WS_FRONT, &[("ECHO", "wsecho")]);
    let node = start_with(dir, |_| {}).await;

    // The front worker talks to the callee's socket itself.
    assert_eq!(
        node.get("wsfront", "/inside").await,
        (200, "101 echo echo:hi 4000 asked to".to_string())
    );

    // The front worker returns the callee's socket to its own client.
    let stream = tokio::net::TcpStream::connect(node.node.http_addr())
        .await
        .expect("connect");
    let url = format!(
        "ws://wsfront.localhost:{}/proxy",
        node.node.http_addr().port()
    );
    let (mut socket, response) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("handshake");
    assert_eq!(response.headers()["x-callee"], "echo");
    socket.send(Message::text("hello")).await.expect("send");
    let echoed = next_message(&mut socket).await;
    assert_eq!(echoed, Message::text("echo:hello"));
    socket.send(Message::text("close")).await.expect("send");
    let closed = next_message(&mut socket).await;
    match closed {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(frame.reason.as_str(), "asked to");
        }
        other => panic!("expected the callee's close, got {other:?}"),
    }
}
