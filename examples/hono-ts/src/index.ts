import { Hono } from "hono";
import { renderPage } from "./page";

type Bindings = { GREETING: string };

interface Item {
  id: number;
  name: string;
  tags: string[];
}

const app = new Hono<{ Bindings: Bindings }>();

// Middleware: every response says how long the worker took.
app.use("*", async (c, next) => {
  const started = Date.now();
  await next();
  c.header("x-response-time", `${Date.now() - started}ms`);
});

app.get("/", (c) => c.text(`${c.env.GREETING}!`));

app.get("/users/:id", (c) => {
  const id = Number(c.req.param("id"));
  if (!Number.isInteger(id)) return c.json({ error: "id must be a number" }, 400);
  return c.json({ id, name: `user ${id}` });
});

app.post("/items", async (c) => {
  const body = await c.req.json<Partial<Item>>();
  if (typeof body.name !== "string") return c.json({ error: "name is required" }, 400);
  const item: Item = { id: 1, name: body.name, tags: body.tags ?? [] };
  return c.json(item, 201);
});

app.get("/hello/:name", (c) => c.html(renderPage(c.req.param("name"))));

app.notFound((c) => c.json({ error: `no route for ${c.req.path}` }, 404));

export default app;
