//! The request path's fast paths (issue #17) behave as the slow paths they skip:
//! - `Headers` keeps its sorted entries between reads for every guard (deno_fetch patch), and
//!   drops them on every change, so an iteration sees what a loop body changed;
//! - `new Request(url, { headers })` and `new Headers(headers)` copy another `Headers` without
//!   converting it again, unless a worker replaced its iterator;
//! - header values are checked by one regexp each (deno_fetch's checks and webidl's
//!   ByteString, replaced in 00_modules.js), and still refused where they were, with the same
//!   messages;
//! - `URLPattern` reuses what it made of the last URL it matched while that URL's href stays
//!   the same (not for a subclass of URL, whose getters may answer otherwise), and hands out
//!   new result objects each time.

mod common;

use common::{current_thread_tokio, new_runtime, run_json, startup_snapshot};
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
  return out;
})()"#;

const URL_PATTERN: &str = r#"(() => {
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
  };
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
        })
    );

    let url_pattern = run_json(&mut runtime, "url_pattern.js", URL_PATTERN);
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
        })
    );
}
