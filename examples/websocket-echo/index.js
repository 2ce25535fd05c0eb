// A WebSocket echo: every message comes back as it was sent, text or binary. Try it with
// `skiff dev examples/websocket-echo`, then any WebSocket client on ws://127.0.0.1:8787/.
export default {
  fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response("Connect with a WebSocket client.\n", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (event) => server.send(event.data));
    return new Response(null, { status: 101, webSocket: client });
  },
};
