//! The request path's fast paths (issue #17) behave as the slow paths they skip:
//! - `Headers` keeps its sorted entries between reads for every guard (deno_fetch patch),
//!   updates them for a `set` or `append` of a new name, a name's only entry or one more entry
//!   of a name, and drops them on every other change, so an iteration sees what a loop body
//!   changed;
//! - `new Request(url, { headers })` and `new Headers(headers)` copy another `Headers` without
//!   converting it again, unless a worker replaced its iterator, and read an array of pairs by
//!   index while array iteration is the engine's own;
//! - `Headers.set` finds a name's entries with `indexOf`, and keeps the first in its place;
//! - header values are checked by one regexp each (deno_fetch's checks and webidl's
//!   ByteString, replaced in 00_modules.js), and still refused where they were, with the same
//!   messages;
//! - `URLPattern` reuses what it made of the last URL it matched while that URL's href stays
//!   the same (not for a subclass of URL, whose getters may answer otherwise), and hands out
//!   new result objects each time; it matches a URL as the string its href is, with the same
//!   components and echoed members as a dictionary of that URL's members; and each component
//!   reuses its regexp's last match when it sees the same value again;
//! - `new Response(string, init)` with at most a content type keeps its body lazy, for any
//!   valid content type, and still refuses or normalizes every other value as before;
//! - `JSON.stringify` quotes an 8-bit string by copying the runs between the characters it
//!   escapes (v8x patch), with the same output.
//! - `JSON.stringify` reads an ordinary object's keys from its shape, an array's elements where
//!   they lie, makes a key string only for a `toJSON` or replacer call, and writes numbers and
//!   strings into its output in place; a number with at most 8 decimals is written without the
//!   exact algorithm (v8x patches): the same output, also when a `toJSON` or getter changes the
//!   object or array being written;
//! - `JSON.parse` reads a plain key straight into an atom, makes a plain string at its size,
//!   reads an integer that fits as an int and a short decimal by one division, and adds new
//!   properties and elements in place (v8x patch): the same values, key order, reviver calls
//!   and error messages with their line and column;
//! - `crypto.subtle` methods answer through a promise without an async wrapper, and a key's
//!   algorithm and usages (frozen objects) are read once (deno_crypto patch): the same
//!   signatures, and rejections (not throws) for bad arguments;
//! - `String.prototype.replace` with an unmodified RegExp finds its matches without the
//!   generic protocol, and a regexp that starts with a character or a class is searched for
//!   that first character (v8x patches): the same results, and a regexp or prototype that a
//!   script changed is still read through its properties.
//! - A regexp compiled by one isolate is copied into the next that compiles the same pattern
//!   with the same flags (v8x patch): the same matches and flags, and the same pattern under
//!   other flags compiled for those flags.
//! - `Function.prototype.call` bound to a function with no arguments of its own (behind every
//!   primordial) calls that function directly (v8x patch): the same results, `this`, errors,
//!   and the generic path for bound arguments and `new`.

mod common;

use common::{current_thread_tokio, new_runtime, run_json, startup_snapshot};
use deno_core::{serde_v8, v8};
use skiff_js_api::boot;

const HEADERS: &str = r#"(() => {
  const out = {};
  const h = new Headers([["b", "2"], ["a", "1"]]);
  const seen = [];
  for (const [name, value] of h) {
    seen.push(`${name}=${value}`);
    if (name === "a") { h.set("c", "3"); h.delete("b"); }
  }
  out.iterated = seen;
  h.set("a", "9");
  out.afterSet = [...h].map((e) => e.join("="));
  // Combined and sorted by code unit (`!` and `-` sort before letters), `set-cookie` one entry
  // per value in the order appended, an empty first value taking the next one as it is.
  const mixed = new Headers();
  for (const [name, value] of [["b", "1"], ["Set-Cookie", "c=1"], ["a-b", "2"], ["A", "3"],
    ["set-cookie", "d=2"], ["a!", "4"], ["B", ""], ["a", "5"], ["z", ""], ["z", "6"]]) {
    mixed.append(name, value);
  }
  out.combined = [...mixed].map((e) => e.join("="));
  mixed.delete("a");
  mixed.append("A", "7");
  out.recombined = [...mixed].map((e) => e.join("="));
  // The kept sorted entries follow `set` and `append` (a new name, a name's only entry
  // replaced, one more entry of a name, `set-cookie`), also while a loop iterates, and a
  // `Request` and a `Response` copy them: each read as a rebuild makes it.
  const kept = new Headers([["b", "1"], ["d", "4"]]);
  const steps = [];
  const read = (h) => steps.push([...h].map((e) => e.join("=")).join(" "));
  read(kept);
  kept.set("c", "3"); read(kept);
  kept.set("B", "2"); read(kept);
  kept.append("d", "5"); read(kept);
  kept.append("a", ""); read(kept);
  kept.append("A", "x"); read(kept);
  kept.append("Set-Cookie", "s=1"); read(kept);
  kept.set("e", "6"); read(kept);
  kept.append("set-cookie", "s=2"); read(kept);
  kept.set("d", "7"); read(kept);
  const during = [];
  for (const [name, value] of kept) {
    during.push(`${name}=${value}`);
    if (name === "b") { kept.set("bb", "8"); kept.append("c", "9"); }
  }
  steps.push(during.join(" "));
  read(new Request("https://x.test/", { headers: kept }).headers);
  kept.set("z", "0");
  read(new Response("r", { headers: kept }).headers);
  out.kept = steps;

  const source = new Headers({ "x-one": "1", "X-Two": "2" });
  source.append("x-one", "1b");
  const request = new Request("https://example.com/", { headers: source });
  source.set("x-three", "3");
  out.request = [...request.headers].map((e) => e.join("="));
  request.headers.append("x-four", "4");
  out.requestAfter = [...request.headers].length;
  out.source = [...source].length;
  out.copied = [...new Headers(source)].map((e) => e.join("="));

  const custom = new Headers({ a: "1" });
  custom[Symbol.iterator] = function* () { yield ["from-iterator", "yes"]; };
  out.custom = [...new Headers(custom)].map((e) => e.join("="));

  const refused = (f) => { try { f(); return "accepted"; } catch (e) { return e.constructor.name; } };
  out.newline = refused(() => new Headers({ a: "x\ny" }));
  out.nul = refused(() => new Headers().set("a", "x\0y"));
  out.wide = refused(() => new Headers({ a: "\u0100" }));
  out.latin1 = new Headers({ a: "\u00e9" }).get("a") === "\u00e9";
  try { new Headers().set("a", "x\u0100"); } catch (e) { out.setWide = `${e.name}: ${e.message}`; }
  // Headers.set skips its checks only for a name already known to be a token and a plain value.
  const again = new Headers();
  again.set("x-a", "1");
  again.set("x-a", "  v\t");
  again.set("x-n", "1");
  again.set("x-n", 5);
  out.setAgain = [again.get("x-a"), again.get("x-n")];
  out.badNameTwice = [refused(() => new Headers().set("bad name", "1")), refused(() => new Headers().set("bad name", "1"))];
  out.badValueAfterGood = [refused(() => again.set("x-a", "a\nb")), refused(() => again.set("x-a", ""))];
  return out;
})()"#;

const HEADER_ARRAYS: &str = r#"(() => {
  const out = {};
  const entries = (h) => [...h].map((e) => e.join("="));
  const refused = (f) => { try { f(); return "accepted"; } catch (e) { return `${e.name}: ${e.message}`; } };
  out.pairs = entries(new Headers([["B", "2"], ["a", " 1 "], ["b", "3"], ["c", 4]]));
  out.converted = entries(new Headers([["x", { toString() { return "obj"; } }], ["n", 12.5]]));
  out.wide = refused(() => new Headers([["a", "ok"], ["b", "\u0100"]]));
  out.wideName = refused(() => new Headers([["\u0100", "x"]]));
  out.three = refused(() => new Headers([["a", "1", "2"]]));
  out.notPair = refused(() => new Headers([["a", "1"], 5]));
  out.badName = refused(() => new Headers([["a b", "1"]]));
  out.newline = refused(() => new Headers([["a", "x\ny"]]));
  out.setPair = entries(new Headers([new Set(["s", "v"])]));
  const own = [["a", "1"]];
  own[Symbol.iterator] = function* () { yield ["from", "iterator"]; };
  out.ownIterator = entries(new Headers(own));
  const innerOwn = ["a", "1"];
  innerOwn[Symbol.iterator] = function* () { yield "inner"; yield "iterator"; };
  out.innerOwnIterator = entries(new Headers([innerOwn]));
  const ArrayIteratorPrototype = Object.getPrototypeOf([][Symbol.iterator]());
  const next = ArrayIteratorPrototype.next;
  let nexts = 0;
  ArrayIteratorPrototype.next = function () { nexts++; return next.call(this); };
  let counted;
  try { counted = new Headers([["a", "1"]]); } finally { ArrayIteratorPrototype.next = next; }
  out.counted = [entries(counted), nexts];
  let reads = 0;
  const getters = [];
  Object.defineProperty(getters, 0, { get() { reads++; return ["g", "1"]; }, enumerable: true });
  out.getter = [entries(new Headers(getters)), reads];
  const dup = new Headers([["a", "1"], ["b", "2"], ["A", "3"], ["c", "4"], ["a", "5"]]);
  dup.set("a", "x");
  out.setDuplicates = entries(dup);
  dup.set("d", "new");
  dup.set("b", "y");
  out.setAfter = entries(dup);
  const req = new Request("https://x.test/", { headers: [["x-a", "1"], ["X-A", "2"]] });
  out.request = entries(req.headers);
  const res = new Response("r", { status: 201, headers: [["x-r", "1"], ["content-type", "text/x"]] });
  out.response = [res.status, entries(res.headers)];
  return out;
})()"#;

const URL_PATTERN: &str = r#"(() => {
  // Groups are own data properties, whatever a worker put on Object.prototype.
  const ownGroups = () => {
    Object.defineProperty(Object.prototype, "id", { set() { throw new Error("setter"); }, configurable: true });
    try {
      const one = new URLPattern({ pathname: "/users/:id" }).exec("https://x.test/users/1").pathname.groups;
      const two = new URLPattern({ pathname: "/users/:id/:__proto__" }).exec("https://x.test/users/1/2").pathname.groups;
      const three = new URLPattern({ pathname: "/:a/:id/:c" }).exec("https://x.test/x/y/z");
      return [Object.hasOwn(one, "id") && one.id, Object.hasOwn(two, "__proto__") && two.id,
        Object.getPrototypeOf(two) === Object.prototype, Object.values(three.pathname.groups),
        three.hostname.groups[0], Object.keys(three.search.groups)];
    } finally {
      delete Object.prototype.id;
    }
  };
  // A URL is matched as the string its href is, and echoed as its members: the same as a
  // plain dictionary of those members, which takes the generic conversion.
  const urlAsDictionary = () => {
    const every = new URLPattern({});
    const members = ["hash", "hostname", "password", "pathname", "port", "protocol", "search", "username"];
    return ["https://us%20er:p%40ss@m\u00fcnchen.example:8443/a b/./c?q=1&r=\u00e9#fr ag",
      "http://[::1]:80/x?#", "foo://host/./p/../q?x#y", "data:text/plain,hi", "file:///C:/x/../y"].map((href) => {
      const url = new URL(href);
      const dictionary = {};
      for (const member of members) dictionary[member] = url[member];
      const viaURL = every.exec(url);
      const viaDictionary = every.exec(dictionary);
      const parts = (result) => JSON.stringify(members.map((m) => [result[m].input, result[m].groups]));
      return [parts(viaURL) === parts(viaDictionary),
        JSON.stringify(viaURL.inputs) === JSON.stringify(viaDictionary.inputs),
        Object.keys(viaURL.inputs[0]).join(), viaURL.pathname.input];
    });
  };
  // Each component remembers its last match: alternating values, a value it refuses and one
  // it matched before each answer for themselves.
  const lastMatches = () => {
    const sub = new URLPattern({ hostname: ":sub.example.com", pathname: "/:page" });
    return ["https://a.example.com/1", "https://b.example.com/2", "https://a.example.com/3",
      "https://x.other/1", "https://b.example.com/x", "https://b.example.com/2"].map((href) => {
      const found = sub.exec(href);
      return [sub.test(href), found && `${found.hostname.groups.sub} ${found.pathname.groups.page}`];
    });
  };
  const pattern = new URLPattern({ pathname: "/users/:id" });
  const url = new URL("https://x.test/users/1");
  const first = pattern.exec(url);
  first.pathname.groups.id = "changed";
  first.inputs[0].pathname = "changed";
  const second = pattern.exec(url);
  url.pathname = "/users/2";
  const third = pattern.exec(url);
  let moves = 0;
  class Moving extends URL { get pathname() { return `/users/${++moves}`; } }
  const moving = new Moving("https://x.test/users/0");
  return {
    subclass: [pattern.exec(moving).pathname.groups.id, pattern.exec(moving).pathname.groups.id],
    second: [second.pathname.groups.id, second.inputs[0].pathname],
    third: third.pathname.groups.id,
    other: pattern.exec(new URL("https://x.test/other")),
    string: [pattern.test("https://x.test/users/3"), pattern.test("https://x.test/users/3")],
    base: [pattern.exec("/users/4", "https://x.test").pathname.groups.id,
      pattern.exec("/users/4", "https://x.test").inputs.length],
    otherPattern: new URLPattern({ pathname: "/users/:id(\\d+)" }).exec(url).pathname.groups.id,
    ownGroups: ownGroups(),
    urlAsDictionary: urlAsDictionary(),
    lastMatches: lastMatches(),
  };
})()"#;

const RESPONSES: &str = r#"(() => {
  const entries = (r) => [...r.headers].map((e) => e.join("="));
  const refused = (f) => { try { f(); return "accepted"; } catch (e) { return `${e.name}: ${e.message}`; } };
  const html = new Response("<p>x</p>", { headers: { "Content-Type": "text/html; charset=utf-8" } });
  const cloned = html.clone();
  return {
    html: entries(html),
    cloned: entries(cloned),
    defaultType: entries(new Response("x", {})),
    trimmed: entries(new Response("x", { headers: { "content-type": "\ttext/x-a " } })),
    inner: entries(new Response("x", { headers: { "content-type": "a \u0001 b" } })),
    two: entries(new Response("x", { headers: { "content-type": "text/x-b", "x-b": "2" } })),
    status: new Response("x", { status: 202, headers: { "content-type": "text/x-c" } }).status,
    number: entries(new Response("x", { headers: { "content-type": 7 } })),
    newline: refused(() => new Response("x", { headers: { "content-type": "a\nb" } })),
    nul: refused(() => new Response("x", { headers: { "content-type": "a\0b" } })),
    wide: refused(() => new Response("x", { headers: { "content-type": "\u0100" } })),
    used: [html.bodyUsed, cloned.bodyUsed],
  };
})()"#;

// Every kind of character `JSON.stringify` quotes, escapes or leaves, in 8-bit strings (which
// the engine patch copies in runs) and in 16-bit ones (which it does not).
const QUOTED: &str = r#"JSON.stringify(["plain", "q\"b\\s", "\t\r\n\b\f\x01\x1f", "\xe9\xff",
  "\xe4\"\u2028", "\ud800x", "\udc00", "a\u0100\"b", "", "xxx\\", "\"", "end\x7f"])"#;

// What JSON.stringify writes where its fast paths could answer otherwise (expected values are
// Node's), and every number written as the shortest decimal that reads back as itself.
const STRINGIFY: &str = r#"(() => {
  const out = {};
  out.keys = JSON.stringify({ b: 1, 2: "two", a: [1.5, -0, 1e21, NaN], 1: "one", 3000000000: "big", 4294967295: "notIndex", [Symbol("s")]: 1, f() {}, u: undefined, "\u00e9\"": "\ud800" });
  out.hidden = JSON.stringify(Object.defineProperty({ shown: 1 }, "hidden", { value: 2, enumerable: false }));
  out.getter = JSON.stringify({ get g() { return { n: 1 }; }, after: true });
  const o = { a: { toJSON(k) { delete o.b; delete o.c; o.d = 4; return `a:${k}`; } }, b: 2, c: 3 };
  Object.setPrototypeOf(o, { c: "from prototype" });
  out.changedDuring = JSON.stringify(o);
  const arr = [1, { toJSON(k) { arr.length = 2; return `i:${typeof k}:${k}`; } }, 3, 4];
  out.shrunk = JSON.stringify(arr);
  out.holes = JSON.stringify([, 1, , { x: undefined }]);
  out.replacerKeys = [];
  JSON.stringify({ x: [10, { y: 2 }] }, function (k, v) { out.replacerKeys.push(`${typeof k}:${k}`); return v; });
  out.list = JSON.stringify({ b: 1, a: 2, 1: 3, c: { a: 4, z: 5 } }, ["a", 1, "c"]);
  out.gap = JSON.stringify({ a: [1, { b: 2 }], c: {} }, null, 2);
  out.boxed = JSON.stringify([new Number(1.25), new String("s"), new Boolean(true), new Date(86400000)]);
  class Point { constructor() { this.x = 1; this.y = 2; } get sum() { return 3; } }
  out.instance = JSON.stringify({ p: new Point(), proxy: new Proxy({ q: 1 }, {}), map: new Map([[1, 2]]) });
  let rope = "";
  for (let i = 0; i < 300; i++) rope += `"${i}\n`;
  out.rope = JSON.stringify({ rope }).length;
  try { const c = { n: [1] }; c.n.push(c); JSON.stringify(c); } catch (e) { out.cycle = e.constructor.name; }
  const shared = { s: 1 };
  out.shared = JSON.stringify([shared, { shared }]);
  let deep = {};
  for (let i = 0; i < 500; i++) deep = { deep };
  out.deep = JSON.stringify(deep).length;
  // every number written as the shortest decimal that reads back as itself
  const numbers = [79.19, 0.1, 0.3, 0.1 + 0.2, 1.005, 2.675, 1e-6, 0.000001234, 12345678.12345678, 99999999999999.9, 1 / 3, -0.07, 4.35, 5e-324, 123.456e10];
  for (let i = 0; i < 3000; i++) numbers.push(((i * 7919) % 100003) / 10 ** (i % 9), (i * 2654435761 % 4294967296) / 4096 - 5e5);
  out.notShortest = numbers.filter((x) => {
    let p = 1;
    while (Number(x.toPrecision(p)) !== x) p++;
    const written = String(x), digits = written.replace(/^-|e.*$/g, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
    return Number(written) !== x || Math.max(digits.length, 1) !== p || JSON.stringify(x) !== written;
  });
  out.prices = JSON.stringify([79.19, 0.5, 1234.05, -0.07, 0.000015, 12.3]);
  return out;
})()"#;

// What JSON.parse makes where its fast paths could answer otherwise: values as Node makes them,
// error messages as the engine made them before the fast paths (its own wording).
const PARSE: &str = r#"(() => {
  const out = {};
  const parsed = JSON.parse('{"b": 1, "1": "one", "0": "zero", "a": [0, -0, 7, -7, 79.19, 2147483648, -2147483649, 1e3, 0.1, 1234567890123456, 10.50], "b": 2, "\\u0061\\"": 3, "__proto__": {"polluted": true}}');
  out.keys = Object.keys(parsed);
  out.written = JSON.stringify(parsed);
  out.numbers = parsed.a.map((x) => (Object.is(x, -0) ? "-0" : String(x)));
  out.arithmetic = [parsed.a[2] / 2, parsed.a[5] + 1, 2147483647 + JSON.parse("[1]")[0]];
  out.ownProto = [Object.getPrototypeOf(parsed) === Object.prototype, ({}).polluted === undefined, Object.hasOwn(parsed, "__proto__")];
  const copy = JSON.parse('{"x": 1, "y": 2}');
  copy.z = 3;
  delete copy.x;
  out.changed = JSON.stringify(copy);
  const grown = JSON.parse("[1, 2]");
  grown.push(3);
  out.grown = grown;
  const seen = [];
  out.revived = JSON.stringify(JSON.parse('{"k": [1, {"n": 2}]}', (k, v) => { seen.push(k); return typeof v === "number" ? v * 10 : v; }));
  out.reviverKeys = seen;
  out.errors = ['{\n "a": 1,\n "b" }', '{"a":1,}', '{a:1}', '{"a" 1}', '{"a":1 "b":2}', '"\u0001"', '{"a":'].map((text) => {
    try { JSON.parse(text); return "parsed"; } catch (e) { return `${e.name}: ${e.message}`; }
  });
  out.crlf = JSON.parse('{\r\n "a":\r\n 1\r\n}').a;
  return out;
})()"#;

// Signing through deno_crypto's forwarder and the key conversion it now keeps.
const SUBTLE: &str = r#"(async () => {
  const encoder = new TextEncoder();
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const key = await crypto.subtle.importKey("raw", encoder.encode("key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const data = encoder.encode("The quick brown fox jumps over the lazy dog");
  const out = {};
  out.first = hex(await crypto.subtle.sign("HMAC", key, data));
  out.again = hex(await crypto.subtle.sign({ name: "HMAC" }, key, data));
  out.frozen = [Object.isFrozen(key.algorithm), Object.isFrozen(key.algorithm.hash), Object.isFrozen(key.usages)];
  out.verified = await crypto.subtle.verify("HMAC", key, await crypto.subtle.sign("HMAC", key, data), data);
  const sha1 = await crypto.subtle.importKey("raw", encoder.encode("key"), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  out.sha1 = hex(await crypto.subtle.sign("HMAC", sha1, data));
  const settled = (make) => {
    let result;
    try { result = make(); } catch (e) { return `threw ${e.name}`; }
    return result.then(() => "fulfilled", (e) => `rejected ${e.name}`);
  };
  out.notAKey = await settled(() => crypto.subtle.sign("HMAC", {}, data));
  out.noUsage = await settled(() => crypto.subtle.verify("HMAC", sha1, data, data));
  out.isPromise = crypto.subtle.sign("HMAC", key, data) instanceof Promise;
  const proto = Object.getPrototypeOf(crypto.subtle);
  out.shape = [proto.sign.name, proto.sign.length, proto.importKey.length, proto.deriveKey.length];
  return out;
})()"#;

// Every replacement made by the fast path against the generic one (a regexp with an own `exec`
// property is not a plain one), and every match position against a sticky scan (a sticky
// regexp starts nowhere but where it is told, so the first-character search is not used).
const REGEXPS: &str = r#"(() => {
  const subjects = ["", "open", 'Customer "5" <c5@example.com>', "a&b&&c", "aab", "xyzab",
    "\u0100<x>\u0101&", "h\xe9llo w\xf6rld", "a\nb\r\nc", "abcabc", "ab\ud83d\ude00cd<", "12-34-56",
    "x".repeat(300) + "<"];
  const patterns = [/[&<>"']/g, /[&<>"']/, /a/g, /ab/g, /(a)(b)?/g, /(a)|(b)/g, /x*/g, /[^a-z]/g,
    /\s+/g, /(\d+)-(\d+)/g, /[a-c]+/gi, /\u0101/g, /[\u0100-\u0200]/g, /./gu, /[\ud83d\ude00]/gu,
    /c$/gm, /^a/gm, /[\xe9-\xf6]/g, /\bw/g, /b(?=c)/g, /(?<=a)b/g, /[\0-\uffff]/g, /(?:)/g, /([<&])\1?/g];
  const replacements = [(m, ...rest) => `[${m}|${rest.join(",")}]`, "$&$&", "<$1>", "-", "", "$'", "$`", "$$"];
  const mismatches = [];
  for (const s of subjects) {
    for (const p of patterns) {
      for (const r of replacements) {
        const fast = new RegExp(p.source, p.flags);
        const slow = new RegExp(p.source, p.flags);
        slow.exec = RegExp.prototype.exec;
        fast.lastIndex = slow.lastIndex = 2;
        const a = s.replace(fast, r), b = s.replace(slow, r);
        if (a !== b || fast.lastIndex !== slow.lastIndex) mismatches.push(["replace", s, String(p), String(r), a, b]);
      }
      const scanned = [];
      const sticky = new RegExp(p.source, p.flags.replace("g", "") + "y");
      for (let i = 0; i <= s.length; i++) {
        sticky.lastIndex = i;
        const m = sticky.exec(s);
        if (m && (!scanned.length || i >= scanned[scanned.length - 1][1])) {
          scanned.push([i, i + m[0].length]);
          if (!p.global) break;
        }
      }
      const found = [...s.matchAll(new RegExp(p.source, p.flags.includes("g") ? p.flags : p.flags + "g"))]
        .map((m) => [m.index, m.index + m[0].length]);
      const expected = p.global ? scanned.filter((e, i, all) => !i || e[0] >= all[i - 1][1] && (e[0] > all[i - 1][0] || e[1] > e[0])) : scanned;
      if (p.global && JSON.stringify(found) !== JSON.stringify(expected)) mismatches.push(["positions", s, String(p), found, expected]);
      if (!p.global && (found.length > 0) !== (expected.length > 0)) mismatches.push(["first", s, String(p)]);
    }
  }

  const out = { mismatches };
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  out.escaped = 'Customer "5" <c5@example.com> & co'.replace(/[&<>"']/g, (c) => ESCAPES[c]);
  out.wide = "\u0100<\u0101>".replace(/[<>]/g, (c, i, s) => `${i}/${s.length}`);
  out.candidates = "aaab xab".replace(/ab/g, "_");
  const log = [];
  const spy = /a/g;
  spy.exec = function (s) { log.push(`exec@${this.lastIndex}`); return RegExp.prototype.exec.call(this, s); };
  out.spy = ["banana".replace(spy, "o"), log.splice(0)];
  const counted = /a/;
  counted.lastIndex = { valueOf() { log.push("valueOf"); return 0; } };
  out.lastIndexRead = ["banana".replace(counted, "o"), log.splice(0)];
  const during = /a/g;
  out.order = ["aXa".replace(during, (m, i) => { log.push(`${i}:${during.lastIndex}`); during.lastIndex = 7; return "b"; }), log.splice(0), during.lastIndex];
  const frozen = Object.freeze(/a/g);
  try { "aa".replace(frozen, "b"); out.frozen = "replaced"; } catch (e) { out.frozen = e.constructor.name; }
  const global = Object.getOwnPropertyDescriptor(RegExp.prototype, "global");
  Object.defineProperty(RegExp.prototype, "global", { get() { return false; }, configurable: true });
  out.globalGetter = "aaa".replace(/a/g, "b");
  Object.defineProperty(RegExp.prototype, "global", global);
  out.restored = "aaa".replace(/a/g, "b");
  class Logged extends RegExp { exec(s) { log.push("sub"); return super.exec(s); } }
  out.subclass = ["aa".replace(new Logged("a", "g"), "b"), log.splice(0).length];
  try { "aa".replace(/a/g, () => { throw new Error("boom"); }); } catch (e) { out.thrown = e.message; }
  // A prototype that holds copies of the built-ins (as deno's SafeRegExp does) is as plain as
  // RegExp.prototype; one whose copy of exec was replaced is not.
  const copied = (exec) => {
    class Copy extends RegExp { constructor(p, f) { super(p, f); } }
    for (const k of Reflect.ownKeys(RegExp.prototype)) {
      if (k !== "constructor") Object.defineProperty(Copy.prototype, k, Object.getOwnPropertyDescriptor(RegExp.prototype, k));
    }
    Object.setPrototypeOf(Copy.prototype, null);
    if (exec) Copy.prototype.exec = exec;
    return new Copy("[<>]", "g");
  };
  out.copiedPrototype = [
    "<a>".replace(copied(), (c, i) => `${c}${i}`),
    "<a>".replace(copied(function (s) { log.push("copy exec"); return RegExp.prototype.exec.call(this, s); }), "_"),
    log.splice(0),
  ];
  return out;
})()"#;

#[test]
fn headers_and_url_pattern_fast_paths_match_the_slow_ones() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let mut runtime = new_runtime(Some(snapshot));
    boot(&mut runtime).expect("boots");

    let headers = run_json(&mut runtime, "headers.js", HEADERS);
    assert_eq!(
        headers,
        serde_json::json!({
            "iterated": ["a=1", "c=3"],
            "afterSet": ["a=9", "c=3"],
            "combined": ["a=3, 5", "a!=4", "a-b=2", "b=1, ", "set-cookie=c=1", "set-cookie=d=2", "z=6"],
            "recombined": ["a=7", "a!=4", "a-b=2", "b=1, ", "set-cookie=c=1", "set-cookie=d=2", "z=6"],
            "kept": [
                "b=1 d=4",
                "b=1 c=3 d=4",
                "b=2 c=3 d=4",
                "b=2 c=3 d=4, 5",
                "a= b=2 c=3 d=4, 5",
                "a=x b=2 c=3 d=4, 5",
                "a=x b=2 c=3 d=4, 5 set-cookie=s=1",
                "a=x b=2 c=3 d=4, 5 e=6 set-cookie=s=1",
                "a=x b=2 c=3 d=4, 5 e=6 set-cookie=s=1 set-cookie=s=2",
                "a=x b=2 c=3 d=7 e=6 set-cookie=s=1 set-cookie=s=2",
                "a=x b=2 bb=8 c=3, 9 d=7 e=6 set-cookie=s=1 set-cookie=s=2",
                "a=x b=2 bb=8 c=3, 9 d=7 e=6 set-cookie=s=1 set-cookie=s=2",
                "a=x b=2 bb=8 c=3, 9 content-type=text/plain;charset=UTF-8 d=7 e=6 set-cookie=s=1 set-cookie=s=2 z=0",
            ],
            "request": ["x-one=1, 1b", "x-two=2"],
            "requestAfter": 3,
            "source": 3,
            "copied": ["x-one=1, 1b", "x-three=3", "x-two=2"],
            "custom": ["from-iterator=yes"],
            "newline": "TypeError",
            "nul": "TypeError",
            "wide": "TypeError",
            "latin1": true,
            "setWide": "TypeError: Failed to execute 'set' on 'Headers': Argument 2 is not a valid ByteString",
            "setAgain": ["v", "5"],
            "badNameTwice": ["TypeError", "TypeError"],
            "badValueAfterGood": ["TypeError", "accepted"],
        })
    );

    // An array of pairs is read by index while array iteration is the engine's own
    // (deno_fetch patch): the same entries, conversions, reads and messages as through the
    // iterator protocol (checked against the build before the patch).
    let arrays = run_json(&mut runtime, "header_arrays.js", HEADER_ARRAYS);
    assert_eq!(
        arrays,
        serde_json::json!({
            "pairs": ["a=1", "b=2, 3", "c=4"],
            "converted": ["n=12.5", "x=obj"],
            "wide": "TypeError: Failed to construct 'Headers': Argument 1, index 1, index 1 is not a valid ByteString",
            "wideName": "TypeError: Failed to construct 'Headers': Argument 1, index 0, index 0 is not a valid ByteString",
            "three": "TypeError: Invalid header: length must be 2, but is 3",
            "notPair": "TypeError: Failed to construct 'Headers': Argument 1, index 1 can not be converted to sequence.",
            "badName": "TypeError: Invalid header name: \"a b\"",
            "newline": "TypeError: Invalid header value: \"x\ny\"",
            "setPair": ["s=v"],
            "ownIterator": ["from=iterator"],
            "innerOwnIterator": ["inner=iterator"],
            "counted": [["a=1"], 5],
            "getter": [["g=1"], 1],
            "setDuplicates": ["a=x", "b=2", "c=4"],
            "setAfter": ["a=x", "b=y", "c=4", "d=new"],
            "request": ["x-a=1, 2"],
            "response": [201, ["content-type=text/x", "x-r=1"]],
        })
    );

    // A string body with one content type stays lazy (deno_fetch patch) for any valid value,
    // and every other value still takes the checks of the long way.
    let responses = run_json(&mut runtime, "responses.js", RESPONSES);
    let wide = "TypeError: Failed to construct 'Response': Argument 2 is not a valid ByteString";
    assert_eq!(
        responses,
        serde_json::json!({
            "html": ["content-type=text/html; charset=utf-8"],
            "cloned": ["content-type=text/html; charset=utf-8"],
            "defaultType": ["content-type=text/plain;charset=UTF-8"],
            "trimmed": ["content-type=text/x-a"],
            "inner": ["content-type=a \u{1} b"],
            "two": ["content-type=text/x-b", "x-b=2"],
            "status": 202,
            "number": ["content-type=7"],
            "newline": "TypeError: Invalid header value: \"a\nb\"",
            "nul": "TypeError: Invalid header value: \"a\u{0}b\"",
            "wide": wide,
            "used": [false, false],
        })
    );

    let quoted = run_json(&mut runtime, "quoted.js", QUOTED);
    assert_eq!(
        quoted,
        serde_json::json!(concat!(
            "[\"plain\",\"q\\\"b\\\\s\",\"\\t\\r\\n\\b\\f\\u0001\\u001f\",",
            "\"\u{e9}\u{ff}\",\"\u{e4}\\\"\u{2028}\",\"\\ud800x\",\"\\udc00\",",
            "\"a\u{100}\\\"b\",\"\",\"xxx\\\\\",\"\\\"\",\"end\u{7f}\"]"
        ))
    );

    let stringified = run_json(&mut runtime, "stringify.js", STRINGIFY);
    assert_eq!(
        stringified,
        serde_json::json!({
            "keys": "{\"1\":\"one\",\"2\":\"two\",\"3000000000\":\"big\",\"b\":1,\"a\":[1.5,0,1e+21,null],\"4294967295\":\"notIndex\",\"\u{e9}\\\"\":\"\\ud800\"}",
            "hidden": "{\"shown\":1}",
            "getter": "{\"g\":{\"n\":1},\"after\":true}",
            "changedDuring": "{\"a\":\"a:a\",\"c\":\"from prototype\"}",
            "shrunk": "[1,\"i:string:1\",null,null]",
            "holes": "[null,1,null,{}]",
            "replacerKeys": ["string:", "string:x", "string:0", "string:1", "string:y"],
            "list": "{\"a\":2,\"1\":3,\"c\":{\"a\":4}}",
            "gap": "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}",
            "boxed": "[1.25,\"s\",true,\"1970-01-02T00:00:00.000Z\"]",
            "instance": "{\"p\":{\"x\":1,\"y\":2},\"proxy\":{\"q\":1},\"map\":{}}",
            "rope": 2001,
            "cycle": "TypeError",
            "shared": "[{\"s\":1},{\"shared\":{\"s\":1}}]",
            "deep": 4502,
            "notShortest": [],
            "prices": "[79.19,0.5,1234.05,-0.07,0.000015,12.3]",
        })
    );

    let parsed = run_json(&mut runtime, "parse.js", PARSE);
    assert_eq!(
        parsed,
        serde_json::json!({
            "keys": ["0", "1", "b", "a", "a\"", "__proto__"],
            "written": "{\"0\":\"zero\",\"1\":\"one\",\"b\":2,\"a\":[0,0,7,-7,79.19,2147483648,-2147483649,1000,0.1,1234567890123456,10.5],\"a\\\"\":3,\"__proto__\":{\"polluted\":true}}",
            "numbers": [
                "0",
                "-0",
                "7",
                "-7",
                "79.19",
                "2147483648",
                "-2147483649",
                "1000",
                "0.1",
                "1234567890123456",
                "10.5",
            ],
            "arithmetic": [3.5, 2147483649_i64, 2147483648_i64],
            "ownProto": [true, true, true],
            "changed": "{\"y\":2,\"z\":3}",
            "grown": [1, 2, 3],
            "revived": "{\"k\":[10,{\"n\":20}]}",
            "reviverKeys": ["0", "n", "1", "k", ""],
            "errors": [
                "SyntaxError: Expected ':' after property name in JSON at position 16 (line 3 column 6)",
                "SyntaxError: Expected property name or '}' in JSON at position 7 (line 1 column 8)",
                "SyntaxError: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
                "SyntaxError: Expected ':' after property name in JSON at position 5 (line 1 column 6)",
                "SyntaxError: Expected ',' or '}' after property value in JSON at position 7 (line 1 column 8)",
                "SyntaxError: Bad control character in string literal in JSON at position 1 (line 1 column 2)",
                "SyntaxError: Unexpected end of JSON input",
            ],
            "crlf": 1,
        })
    );

    let promise = runtime.execute_script("subtle.js", SUBTLE).expect("runs");
    let settled = runtime.resolve(promise);
    let subtle = tokio
        .block_on(runtime.with_event_loop_promise(settled, Default::default()))
        .expect("resolves");
    let subtle = {
        deno_core::scope!(scope, runtime);
        let subtle = v8::Local::new(scope, subtle);
        serde_v8::from_v8::<serde_json::Value>(scope, subtle).expect("a JSON value")
    };
    // HMAC-SHA256 and HMAC-SHA1 of the pangram under "key", as published.
    let sha256 = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    assert_eq!(
        subtle,
        serde_json::json!({
            "first": sha256,
            "again": sha256,
            "frozen": [true, true, true],
            "verified": true,
            "sha1": "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9",
            "notAKey": "rejected TypeError",
            "noUsage": "rejected InvalidAccessError",
            "isPromise": true,
            "shape": ["sign", 3, 5, 5],
        })
    );

    let regexps = run_json(&mut runtime, "regexps.js", REGEXPS);
    assert_eq!(
        regexps,
        serde_json::json!({
            "mismatches": [],
            "escaped": "Customer &quot;5&quot; &lt;c5@example.com&gt; &amp; co",
            "wide": "\u{100}1/4\u{101}3/4",
            "candidates": "aa_ x_",
            "spy": ["bonono", ["exec@0", "exec@2", "exec@4", "exec@6"]],
            "lastIndexRead": ["bonana", ["valueOf"]],
            "order": ["bXb", ["0:0", "2:7"], 7],
            "frozen": "TypeError",
            "globalGetter": "baa",
            "restored": "bbb",
            "subclass": ["bb", 3],
            "thrown": "boom",
            "copiedPrototype": ["<0a>2", "_a_", ["copy exec", "copy exec", "copy exec"]],
        })
    );

    let url_pattern = run_json(&mut runtime, "url_pattern.js", URL_PATTERN);
    // The URLPatternInit dictionary's members, sorted as its converter reads them.
    const ORDER: &str = "hash,hostname,password,pathname,port,protocol,search,username";
    assert_eq!(
        url_pattern,
        serde_json::json!({
            "subclass": ["1", "2"],
            "second": ["1", "/users/1"],
            "third": "2",
            "other": null,
            "string": [true, true],
            "base": ["4", 2],
            "otherPattern": "2",
            "ownGroups": ["1", "1", true, ["x", "y", "z"], "x.test", ["0"]],
            "urlAsDictionary": [
                [true, true, ORDER, "/a%20b/c"],
                [true, true, ORDER, "/x"],
                [true, true, ORDER, "/q"],
                [true, true, ORDER, "text/plain,hi"],
                [true, true, ORDER, "/C:/y"],
            ],
            "lastMatches": [
                [true, "a 1"],
                [true, "b 2"],
                [true, "a 3"],
                [false, null],
                [true, "b x"],
                [true, "b 2"],
            ],
        })
    );
}

/// Patterns of Unicode properties, whose bytecode is large enough for the process's table of
/// compiled regexps, each built as a top level builds them; the same pattern under flags that
/// change what it matches (`i`, `v`) or how it is used (`g`, `y`, `d`).
const SHARED_REGEXPS: &str = r##"(() => {
  const emoji = "^(\\p{Extended_Pictographic}|\\p{Emoji_Component})+$";
  const upper = "^\\p{Lu}+$";
  const out = {};
  out.emoji = ["\u{1F600}\u{1F44D}", "a\u{1F600}", "#\u20E3"].map((s) => new RegExp(emoji, "u").test(s));
  out.upper = ["ABC", "abc", "\u00C9T\u00C9"].map((s) => new RegExp(upper, "u").test(s));
  out.caseless = ["ABC", "abc"].map((s) => new RegExp(upper, "ui").test(s));
  out.sets = ["ABC", "abc"].map((s) => new RegExp(upper, "v").test(s));
  const flags = (f) => { const r = new RegExp(upper, f); return [r.flags, r.global, r.sticky, r.hasIndices]; };
  out.flags = [flags("u"), flags("ug"), flags("uy"), flags("ud")];
  const all = new RegExp("\\p{Lu}+", "gu");
  out.all = "ab CD ef GH".match(all);
  out.indices = new RegExp("\\p{Lu}+", "du").exec("ab CD").indices[0];
  out.bad = (() => { try { new RegExp("\\p{Nope}", "u"); return "compiled"; } catch (e) { return e.constructor.name; } })();
  return out;
})()"##;

#[test]
fn a_regexp_is_the_same_in_every_isolate_that_compiles_it() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let expected = serde_json::json!({
        "emoji": [true, false, true],
        "upper": [true, false, true],
        "caseless": [true, true],
        "sets": [true, false],
        "flags": [["u", false, false, false], ["gu", true, false, false], ["uy", false, true, false], ["du", false, false, true]],
        "all": ["CD", "GH"],
        "indices": [3, 5],
        "bad": "SyntaxError",
    });
    // The first isolate compiles each pattern (or finds what an earlier test compiled); each
    // later one copies the bytecode the process kept, also twice within one isolate.
    for _ in 0..3 {
        let mut runtime = new_runtime(Some(snapshot));
        boot(&mut runtime).expect("boots");
        assert_eq!(
            run_json(&mut runtime, "shared.js", SHARED_REGEXPS),
            expected
        );
        assert_eq!(
            run_json(&mut runtime, "shared.js", SHARED_REGEXPS),
            expected
        );
    }
}

/// `Function.prototype.call` bound to a function (the runtime's primordials, and any worker's
/// own `call.bind(f)`), which the engine patch calls straight through, and the shapes it leaves
/// to the generic path: bound arguments, a target that is not callable, `new`.
const UNCURRIED: &str = r#"(() => {
  const call = Function.prototype.call;
  const refused = (f) => { try { f(); return "returned"; } catch (e) { return `${e.constructor.name}`; } };
  const push = call.bind(Array.prototype.push);
  const list = [1];
  const pushed = push(list, 2, 3);
  const strict = call.bind(function () { "use strict"; return [this === undefined ? "undefined" : this, arguments.length]; });
  const sloppy = call.bind(function () { return typeof this; });
  const withArgument = call.bind(Array.prototype.push, [9]);
  const notCallable = call.bind({ notAFunction: true });
  const throwing = call.bind(function () { throw new RangeError("from the target"); });
  return {
    push: [pushed, list],
    strict: [strict(5, "a"), strict(), strict(undefined, 1, 2)],
    sloppy: [sloppy(5), sloppy("s")],
    withArgument: withArgument(4),
    notCallable: refused(() => notCallable(1)),
    throwing: refused(() => throwing(null)),
    construct: refused(() => new push([])),
    nested: call.bind(call)(function (x) { "use strict"; return [this, x]; }, "t", "x"),
    slice: call.bind(String.prototype.slice)("abcdef", 1, 3),
  };
})()"#;

#[test]
fn a_bound_call_answers_as_call_does() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let mut runtime = new_runtime(Some(snapshot));
    boot(&mut runtime).expect("boots");
    assert_eq!(
        run_json(&mut runtime, "uncurried.js", UNCURRIED),
        serde_json::json!({
            "push": [3, [1, 2, 3]],
            "strict": [[5, 1], ["undefined", 0], ["undefined", 2]],
            "sloppy": ["object", "object"],
            "withArgument": 2,
            "notCallable": "TypeError",
            "throwing": "RangeError",
            "construct": "TypeError",
            "nested": ["t", "x"],
            "slice": "bc",
        })
    );
}
