// A Hono app as `npm create hono` starts one and a small API grows it: middleware for CORS,
// security headers, ETags and request timing, JSON routes with a validator, an HTML page.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { html } from "hono/html";
import { secureHeaders } from "hono/secure-headers";
import { timing } from "hono/timing";
import { validator } from "hono/validator";

const users = new Map([
  [1, { id: 1, name: "Ada", role: "admin" }],
  [2, { id: 2, name: "Grace", role: "editor" }],
]);

const app = new Hono();
app.use("*", timing(), secureHeaders(), etag());
app.use("/api/*", cors({ origin: ["https://example.com"], maxAge: 600 }));

app.get("/", (c) => c.json({ service: "hono-bench", routes: ["/api/users", "/api/users/:id", "/hello/:name"] }));

app.get("/api/users", (c) => c.json([...users.values()]));

app.get("/api/users/:id{[0-9]+}", (c) => {
  const user = users.get(Number(c.req.param("id")));
  return user ? c.json(user) : c.json({ error: "no such user" }, 404);
});

app.post(
  "/api/users",
  validator("json", (value, c) => {
    if (typeof value?.name !== "string" || value.name.length === 0) {
      return c.json({ error: "name is required" }, 400);
    }
    return { name: value.name, role: value.role === "admin" ? "admin" : "viewer" };
  }),
  (c) => {
    const id = users.size + 1;
    const user = { id, ...c.req.valid("json") };
    users.set(id, user);
    return c.json(user, 201);
  },
);

app.get("/hello/:name", (c) =>
  c.html(html`<!doctype html><title>Hello</title><h1>Hello, ${c.req.param("name")}!</h1>`),
);

app.notFound((c) => c.json({ error: `no route for ${c.req.path}` }, 404));

export default app;
