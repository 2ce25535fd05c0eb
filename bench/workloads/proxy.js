// A header-rewriting proxy: URLPattern routes pick an upstream for the request's path, the
// request's headers are copied with hop-by-hop and private ones dropped and forwarding ones
// added, and a Request to the upstream is built from them. Nothing leaves the machine: the
// answer carries the rewritten headers and names the upstream request it would have sent.
const ROUTES = [
  { pattern: new URLPattern({ pathname: "/api/v1/users/:id(\\d+)" }), upstream: "https://users.internal" },
  { pattern: new URLPattern({ pathname: "/api/v1/orders/:order/items/:item" }), upstream: "https://orders.internal" },
  { pattern: new URLPattern({ pathname: "/api/:version(v\\d+)/search" }), upstream: "https://search.internal" },
  { pattern: new URLPattern({ pathname: "/static/*" }), upstream: "https://assets.internal" },
];

// Headers that describe one connection, not the request (RFC 9110, 7.6.1), and ones that must
// not reach an upstream.
const DROPPED = new Set([
  "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
  "host", "content-length", "cookie", "authorization",
]);

function route(url) {
  for (const { pattern, upstream } of ROUTES) {
    const match = pattern.exec(url);
    if (match) return { upstream, params: match.pathname.groups };
  }
  return null;
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    const found = route(url);
    if (!found) return new Response("no route\n", { status: 404 });

    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!DROPPED.has(name)) headers.set(`x-upstream-${name}`, value);
    }
    headers.set("x-forwarded-host", url.host);
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.set("x-route-params", new URLSearchParams(found.params).toString());
    headers.set("via", "1.1 bench-proxy");
    headers.set("cache-control", "private, max-age=0");

    const upstream = new Request(found.upstream + url.pathname + url.search, {
      method: request.method,
      headers,
    });
    headers.set("content-type", "text/plain; charset=utf-8");
    return new Response(`${upstream.method} ${upstream.url}\n`, { headers });
  },
};
