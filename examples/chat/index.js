// A chat room: each message a member sends goes to every member, with their name
// (`?name=ada`). Members are the sockets this isolate holds: on Workers, as here, a global is
// per isolate, so members who reach different isolates (other nodes, or another isolate of
// a busy script) are in different rooms. A room shared across a fleet needs a Durable Object,
// which Skiff does not have.
const members = new Map();

function broadcast(text) {
  for (const socket of members.keys()) {
    try {
      socket.send(text);
    } catch {
      members.delete(socket);
    }
  }
}

export default {
  fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response(`${members.size} in the room; connect with a WebSocket client.\n`, {
        status: 426,
      });
    }
    const name = new URL(request.url).searchParams.get("name") || "anonymous";
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    members.set(server, name);
    broadcast(JSON.stringify({ joined: name, members: members.size }));
    server.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      broadcast(JSON.stringify({ from: name, text: event.data.slice(0, 1000) }));
    });
    server.addEventListener("close", () => {
      members.delete(server);
      broadcast(JSON.stringify({ left: name, members: members.size }));
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};
