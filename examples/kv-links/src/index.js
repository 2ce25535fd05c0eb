// A link shortener on Workers KV: POST /links {"url": "..."} stores a link under a short code
// (with its creation time as metadata), GET /CODE redirects to it, GET /links lists them.

const CODE = /^\/([a-z0-9]{6})$/;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/links" && request.method === "POST") {
      const { url: target } = await request.json();
      if (!URL.canParse(target)) return Response.json({ error: "not a URL" }, { status: 400 });
      const code = crypto.randomUUID().replaceAll("-", "").slice(0, 6);
      await env.LINKS.put(code, target, { metadata: { created: new Date().toISOString() } });
      return Response.json({ code, short: `${url.origin}/${code}` }, { status: 201 });
    }
    if (url.pathname === "/links") {
      const { keys } = await env.LINKS.list();
      return Response.json(keys.map((key) => ({ code: key.name, ...key.metadata })));
    }
    const match = CODE.exec(url.pathname);
    if (match) {
      const target = await env.LINKS.get(match[1]);
      if (target !== null) return Response.redirect(target, 302);
    }
    return new Response("No such link\n", { status: 404 });
  },
};
