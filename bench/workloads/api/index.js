// An API worker on common npm packages, the kind whose bundle reaches the better part of a
// megabyte: itty-router routes, zod validates what comes in, jose issues and checks JWTs (signed
// and encrypted), marked renders the documentation, date-fns formats dates in the caller's
// locale, yaml reads the embedded configuration, fast-xml-parser writes an Atom feed and reads
// XML webhooks.
import { AutoRouter, error, json } from "itty-router";
import * as z from "zod";
import { EncryptJWT, SignJWT, decodeJwt, errors as joseErrors, importJWK, jwtDecrypt, jwtVerify } from "jose";
import { marked } from "marked";
import { addDays, differenceInCalendarDays, format, formatDistanceStrict, isValid, parseISO } from "date-fns";
import { de, enGB, es, fr, ja, ptBR } from "date-fns/locale";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";

const CONFIG = parseYaml(`
service: api-bench
issuer: https://auth.example.com
audience: api
token_ttl: 15m
limits:
  max_quantity: 99
  feed_entries: 20
`);

const DOCS = {
  orders: "# Orders\n\n`POST /orders` with a JSON body:\n\n| field | type |\n| --- | --- |\n| sku | string |\n| qty | integer |\n| email | email |\n",
  tokens: "# Tokens\n\n`POST /login` answers a signed **JWT** and an encrypted session; send either as `Authorization: Bearer ...` to `GET /me`.\n",
};

const LOCALES = { de, "en-GB": enGB, es, fr, ja, "pt-BR": ptBR };
// Symmetric keys as JWKs (base64url of 32 bytes), imported on first use.
const SIGNING_JWK = { kty: "oct", k: "YmVuY2gtand0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk", alg: "HS256" };
const SESSION_JWK = { kty: "oct", k: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc", alg: "A256GCM" };
let keys; // Promise<{ signing, session }>
const importedKeys = () =>
  (keys ??= Promise.all([importJWK(SIGNING_JWK, "HS256"), importJWK(SESSION_JWK, "A256GCM")]).then(
    ([signing, session]) => ({ signing, session }),
  ));

const Order = z.object({
  sku: z.string().regex(/^[A-Z]{3}-\d{4}$/),
  qty: z.number().int().positive().max(CONFIG.limits.max_quantity),
  email: z.email(),
  deliverBy: z.iso.date().optional(),
  notes: z.string().max(500).optional(),
});
const Login = z.object({ user: z.string().min(2).max(64), password: z.string().min(8) });
const Webhook = z.object({
  event: z.object({ type: z.enum(["created", "updated", "deleted"]), id: z.coerce.number().int(), at: z.iso.datetime() }),
});

const xmlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" });
const xmlBuilder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true });

async function claims(request) {
  const header = request.headers.get("authorization") ?? "";
  if (!header.startsWith("Bearer ")) throw error(401, "a bearer token is required");
  const token = header.slice(7);
  const { signing, session } = await importedKeys();
  const options = { issuer: CONFIG.issuer, audience: CONFIG.audience };
  try {
    // A compact JWE has five parts, a JWS three.
    const { payload } = token.split(".").length === 5
      ? await jwtDecrypt(token, session, options)
      : await jwtVerify(token, signing, options);
    return payload;
  } catch (e) {
    if (e instanceof joseErrors.JOSEError) throw error(401, e.code);
    throw e;
  }
}

async function jsonBody(request, schema) {
  const parsed = schema.safeParse(await request.json().catch(() => null));
  if (!parsed.success) throw error(400, { issues: z.treeifyError(parsed.error) });
  return parsed.data;
}

const router = AutoRouter({ catch: (e) => (e instanceof Response ? e : error(e.status ?? 500, e.message)) });

router.get("/", () => ({
  service: CONFIG.service,
  routes: ["/docs/:page", "/orders", "/login", "/me", "/calendar", "/feed.xml", "/webhooks/xml", "/config.yaml"],
}));

router.get("/config.yaml", () => new Response(toYaml(CONFIG), { headers: { "content-type": "application/yaml" } }));

router.get("/docs/:page", ({ params }) => {
  const source = DOCS[params.page];
  if (!source) return error(404, "no such page");
  return new Response(marked.parse(source), { headers: { "content-type": "text/html; charset=utf-8" } });
});

router.post("/orders", async (request) => {
  const order = await jsonBody(request, Order);
  const due = order.deliverBy ? parseISO(order.deliverBy) : addDays(new Date(), 3);
  return json({ ...order, due: format(due, "yyyy-MM-dd"), days: differenceInCalendarDays(due, new Date()) }, { status: 201 });
});

router.post("/login", async (request) => {
  const { user } = await jsonBody(request, Login);
  const { signing, session } = await importedKeys();
  const claims = { sub: user, scope: "orders:write" };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(CONFIG.issuer)
    .setAudience(CONFIG.audience)
    .setIssuedAt()
    .setExpirationTime(CONFIG.token_ttl)
    .sign(signing);
  const sealed = await new EncryptJWT(claims)
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
    .setIssuer(CONFIG.issuer)
    .setAudience(CONFIG.audience)
    .setExpirationTime(CONFIG.token_ttl)
    .encrypt(session);
  return { token, session: sealed, claims: decodeJwt(token) };
});

router.get("/me", async (request) => ({ claims: await claims(request) }));

router.get("/calendar", ({ query }) => {
  const locale = LOCALES[query.locale] ?? enGB;
  const start = parseISO(query.from ?? "2026-01-01");
  if (!isValid(start)) return error(400, "from must be an ISO date");
  const days = Array.from({ length: 7 }, (_, i) => format(addDays(start, i), "PPPP", { locale }));
  return { days, span: formatDistanceStrict(start, addDays(start, 7), { locale }) };
});

router.get("/feed.xml", () => {
  const updated = parseISO("2026-01-01T00:00:00Z");
  const entry = Array.from({ length: CONFIG.limits.feed_entries }, (_, i) => ({
    title: `Release ${i + 1}`,
    id: `urn:bench:release:${i + 1}`,
    updated: addDays(updated, i).toISOString(),
    link: { "@href": `https://example.com/releases/${i + 1}` },
  }));
  const feed = { feed: { "@xmlns": "http://www.w3.org/2005/Atom", title: CONFIG.service, updated: updated.toISOString(), entry } };
  return new Response(`<?xml version="1.0" encoding="utf-8"?>\n${xmlBuilder.build(feed)}`, {
    headers: { "content-type": "application/atom+xml" },
  });
});

router.post("/webhooks/xml", async (request) => {
  const text = await request.text();
  const valid = XMLValidator.validate(text);
  if (valid !== true) return error(400, valid.err.msg);
  const parsed = Webhook.safeParse(xmlParser.parse(text));
  if (!parsed.success) return error(400, { issues: z.treeifyError(parsed.error) });
  return { received: parsed.data.event };
});

export default { ...router };
