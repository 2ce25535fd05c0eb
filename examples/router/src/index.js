// A small JSON API: routes matched with URLPattern, state kept in the isolate.
import { json, notFound } from "./respond.js";

const items = new Map();
let nextId = 1;

const routes = [
  ["GET", new URLPattern({ pathname: "/" }), (_req, env) =>
    json({ service: "router", version: env.API_VERSION, routes: ["/items", "/items/:id"] })],
  ["GET", new URLPattern({ pathname: "/items" }), () => json([...items.values()])],
  ["POST", new URLPattern({ pathname: "/items" }), async (req, env) => {
    if (items.size >= env.LIMITS.max_items) return json({ error: "too many items" }, 409);
    let body;
    try {
      body = await req.json();
    } catch {
      return json({ error: "body must be JSON" }, 400);
    }
    const item = { id: nextId++, name: String(body.name ?? "") };
    items.set(item.id, item);
    return json(item, 201);
  }],
  ["GET", new URLPattern({ pathname: "/items/:id" }), (_req, _env, match) => {
    const item = items.get(Number(match.pathname.groups.id));
    return item ? json(item) : notFound();
  }],
  ["DELETE", new URLPattern({ pathname: "/items/:id" }), (_req, _env, match) =>
    items.delete(Number(match.pathname.groups.id)) ? new Response(null, { status: 204 }) : notFound()],
];

export default {
  async fetch(request, env) {
    for (const [method, pattern, handler] of routes) {
      const match = pattern.exec(request.url);
      if (match && request.method === method) return handler(request, env, match);
    }
    return notFound();
  },
};
