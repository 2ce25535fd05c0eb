//! The standard streams where Workers code leans on the detail, through a real node: queue
//! accounting (`desiredSize`), BYOB responses with a view of another element size, the order in
//! which a writable stream's abort and close settle, errors thrown by a start or size
//! algorithm, `tee()` with a slow or cancelled branch, and fetch bodies as byte streams.
//!
//! Every case runs against a deadline inside the worker and reports `"HANG"` if it neither
//! resolves nor rejects in time, so a stream that stalls fails its assertion instead of the
//! whole run. The expected values are the Streams standard's (WPT's streams directory checks
//! the same algorithms); where workerd departs from the standard the case says so.

mod common;

use common::*;
use serde_json::json;

/// Runs `cases` (statements that call `T(name, async () => ...)`) in a worker and returns
/// `{ name: ["ok", value] | ["err", "Name: message"] | "HANG" }`.
async fn run(cases: &str) -> serde_json::Value {
    let source = format!(
        r#"const cases = [];
const T = (name, fn) => cases.push([name, fn]);
const settle = (promise) => promise.then(
    (value) => ["ok", value === undefined ? null : value],
    (error) => ["err", error instanceof Error ? `${{error.name}}: ${{error.message}}` : String(error)]);
const ticks = async (n = 10) => {{ for (let i = 0; i < n; i++) await null; }};
const readAll = async (stream) => {{
    const reader = stream.getReader();
    const chunks = [];
    for (;;) {{
        const {{ done, value }} = await reader.read();
        if (done) return chunks;
        chunks.push(value);
    }}
}};
{cases}
export default {{
    async fetch() {{
        const out = {{}};
        for (const [name, fn] of cases) {{
            let timer;
            const deadline = new Promise((resolve) => {{ timer = setTimeout(() => resolve("HANG"), 2000); }});
            out[name] = await Promise.race([settle(Promise.resolve().then(fn)), deadline]);
            clearTimeout(timer);
        }}
        return Response.json(out);
    }},
}};"#
    );
    let node = start(&[("streams", &source)]).await;
    let (status, body) = node.get("streams", "/").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Asserts each `(case, expected)` pair against `out`, naming the case that differs.
fn expect(out: &serde_json::Value, expected: &[(&str, serde_json::Value)]) {
    for (name, want) in expected {
        assert_eq!(&out[*name], want, "case {name:?}; all: {out:#}");
    }
}

#[tokio::test]
async fn desired_size_counts_what_is_queued() {
    let out = run(r#"
        T("readable with a size", async () => {
            let c;
            const rs = new ReadableStream({ start(ctl) { c = ctl; } }, { highWaterMark: 3, size: (chunk) => chunk.length });
            const sizes = [c.desiredSize];
            c.enqueue("ab"); sizes.push(c.desiredSize);
            c.enqueue("abcd"); sizes.push(c.desiredSize);
            const reader = rs.getReader();
            await reader.read(); sizes.push(c.desiredSize);
            await reader.read(); sizes.push(c.desiredSize);
            c.close(); sizes.push(c.desiredSize);
            return sizes;
        });
        T("readable errored", async () => {
            let c;
            new ReadableStream({ start(ctl) { c = ctl; } });
            c.error(new Error("x"));
            return [c.desiredSize];
        });
        T("byte stream", async () => {
            let c;
            const rs = new ReadableStream({ type: "bytes", start(ctl) { c = ctl; } }, { highWaterMark: 10 });
            const sizes = [c.desiredSize];
            c.enqueue(new Uint8Array(4)); sizes.push(c.desiredSize);
            await rs.getReader().read(); sizes.push(c.desiredSize);
            c.close(); sizes.push(c.desiredSize);
            return sizes;
        });
        T("writer", async () => {
            const pending = [];
            const ws = new WritableStream({ write() { return new Promise((resolve) => pending.push(resolve)); } },
                { highWaterMark: 4, size: (chunk) => chunk.length });
            const writer = ws.getWriter();
            const sizes = [writer.desiredSize];
            writer.write("ab"); sizes.push(writer.desiredSize);
            writer.write("abc"); sizes.push(writer.desiredSize);
            await ticks(); pending.shift()(); await ticks(); sizes.push(writer.desiredSize);
            pending.shift()(); await ticks(); sizes.push(writer.desiredSize);
            await writer.close(); sizes.push(writer.desiredSize);
            return sizes;
        });
        T("writer of an aborted stream", async () => {
            const writer = new WritableStream({}).getWriter();
            writer.abort("r");
            return [writer.desiredSize];
        });
        T("transform stream", async () => {
            let c;
            const ts = new TransformStream({ start(ctl) { c = ctl; } }, { highWaterMark: 2 }, { highWaterMark: 3 });
            const writer = ts.writable.getWriter();
            const sizes = [c.desiredSize, writer.desiredSize];
            c.enqueue("a"); sizes.push(c.desiredSize);
            return sizes;
        });
    "#)
    .await;
    expect(
        &out,
        &[
            ("readable with a size", json!(["ok", [3, 1, -3, -1, 3, 0]])),
            ("readable errored", json!(["ok", [null]])),
            ("byte stream", json!(["ok", [10, 6, 10, 0]])),
            // A chunk leaves the queue when its write is done: "abc" is counted while written.
            ("writer", json!(["ok", [4, 2, -1, 1, 4, 0]])),
            ("writer of an aborted stream", json!(["ok", [null]])),
            ("transform stream", json!(["ok", [3, 2, 2]])),
        ],
    );
}

#[tokio::test]
async fn byob_responses_follow_the_views_element_size() {
    let out = run(r#"
        T("respond with part of an element", async () => {
            let pulls = 0;
            const rs = new ReadableStream({ type: "bytes", pull(c) {
                const view = c.byobRequest.view;
                view.fill(++pulls);
                c.byobRequest.respond(3);
            } });
            const reader = rs.getReader({ mode: "byob" });
            const first = await reader.read(new Uint16Array(4));
            const second = await reader.read(new Uint16Array(4));
            return [first.value.constructor.name, first.value.length, Array.from(new Uint8Array(first.value.buffer, 0, 2)),
                second.value.length, Array.from(new Uint8Array(second.value.buffer, 0, 4))];
        });
        T("respondWithNewView of another type", async () => {
            const rs = new ReadableStream({ type: "bytes", pull(c) {
                const view = c.byobRequest.view;
                const bytes = new Uint8Array(view.buffer, view.byteOffset, 4);
                bytes.set([1, 0, 0, 0]);
                c.byobRequest.respondWithNewView(bytes);
            } });
            const { value } = await rs.getReader({ mode: "byob" }).read(new Uint32Array(2));
            return [value.constructor.name, value.length, value[0]];
        });
        T("respondWithNewView at another offset", async () => {
            const rs = new ReadableStream({ type: "bytes", pull(c) {
                const view = c.byobRequest.view;
                c.byobRequest.respondWithNewView(new Uint8Array(view.buffer, view.byteOffset + 1, 2));
            } });
            return settle(rs.getReader({ mode: "byob" }).read(new Uint8Array(4)));
        });
        T("respond with more than the view", async () => {
            const rs = new ReadableStream({ type: "bytes", pull(c) { c.byobRequest.respond(9); } });
            return settle(rs.getReader({ mode: "byob" }).read(new Uint8Array(4)));
        });
        T("close with part of an element", async () => {
            let closed;
            const rs = new ReadableStream({ type: "bytes", pull(c) {
                c.byobRequest.respond(1);
                try { c.close(); closed = "closed"; } catch (e) { closed = e.name; }
            } });
            const read = await settle(rs.getReader({ mode: "byob" }).read(new Uint16Array(2)));
            return [closed, read[0]];
        });
        T("respond(0) after close", async () => {
            let c;
            const rs = new ReadableStream({ type: "bytes", start(ctl) { c = ctl; } });
            const pending = rs.getReader({ mode: "byob" }).read(new Uint8Array(4));
            await ticks();
            c.close();
            c.byobRequest.respond(0);
            const { done, value } = await pending;
            return [done, value.constructor.name, value.byteLength];
        });
    "#)
    .await;
    expect(
        &out,
        &[
            // Three bytes make one whole element; the odd byte is kept and leads the next read.
            (
                "respond with part of an element",
                json!(["ok", ["Uint16Array", 1, [1, 1], 2, [1, 2, 2, 2]]]),
            ),
            // The result takes the reader's view type (workerd gives the responder's Uint8Array).
            (
                "respondWithNewView of another type",
                json!(["ok", ["Uint32Array", 1, 1]]),
            ),
            (
                "respondWithNewView at another offset",
                json!([
                    "ok",
                    [
                        "err",
                        "RangeError: The region specified by view does not match byobRequest"
                    ]
                ]),
            ),
            (
                "respond with more than the view",
                json!(["ok", ["err", "RangeError: \"bytesWritten\" out of range"]]),
            ),
            // A half-filled element cannot be closed over (workerd returns the byte).
            (
                "close with part of an element",
                json!(["ok", ["TypeError", "err"]]),
            ),
            (
                "respond(0) after close",
                json!(["ok", [true, "Uint8Array", 0]]),
            ),
        ],
    );
}

#[tokio::test]
async fn writable_abort_and_close_settle_in_order() {
    let out = run(r#"
        const logger = (log, what) => [() => log.push(`${what} ok`), (e) => log.push(`${what} err ${e}`)];
        T("abort before the queued close starts", async () => {
            const log = [];
            const ws = new WritableStream({ close() { log.push("sink.close"); }, abort(r) { log.push(`sink.abort ${r}`); } });
            const writer = ws.getWriter();
            const close = writer.close().then(...logger(log, "close"));
            const abort = writer.abort("why").then(...logger(log, "abort"));
            const closed = writer.closed.then(...logger(log, "closed"));
            await Promise.all([close, abort, closed]);
            return log;
        });
        T("abort while the sink closes", async () => {
            const log = [];
            let finish;
            const ws = new WritableStream({
                close() { log.push("sink.close"); return new Promise((resolve) => { finish = resolve; }); },
                abort(r) { log.push(`sink.abort ${r}`); },
            });
            const writer = ws.getWriter();
            await ticks();
            const close = writer.close().then(...logger(log, "close"));
            await ticks();
            const abort = writer.abort("why").then(...logger(log, "abort"));
            const closed = writer.closed.then(...logger(log, "closed"));
            finish();
            await Promise.all([close, abort, closed]);
            return log;
        });
        T("abort during a write", async () => {
            const log = [];
            let finish;
            const ws = new WritableStream({
                write(chunk) { log.push(`sink.write ${chunk}`); return new Promise((resolve) => { finish = resolve; }); },
                abort(r) { log.push(`sink.abort ${r}`); },
                close() { log.push("sink.close"); },
            });
            const writer = ws.getWriter();
            await ticks();
            const a = writer.write("a").then(...logger(log, "write a"));
            const b = writer.write("b").then(...logger(log, "write b"));
            await ticks();
            const abort = writer.abort("why").then(...logger(log, "abort"));
            const close = writer.close().then(...logger(log, "close"));
            finish();
            await Promise.all([a, b, abort, close]);
            return log;
        });
        T("a throwing sink abort", async () => {
            const writer = new WritableStream({ abort() { throw new Error("boom"); } }).getWriter();
            return [await settle(writer.abort("r")), await settle(writer.closed)];
        });
        T("a throwing sink close", async () => {
            const writer = new WritableStream({ close() { throw new Error("nope"); } }).getWriter();
            return [await settle(writer.close()), await settle(writer.closed)];
        });
    "#)
    .await;
    expect(
        &out,
        &[
            // The sink has not started, so the abort wins and the close is never run
            // (workerd runs the close and resolves it).
            (
                "abort before the queued close starts",
                json!([
                    "ok",
                    [
                        "sink.abort why",
                        "abort ok",
                        "close err why",
                        "closed err why"
                    ]
                ]),
            ),
            (
                "abort while the sink closes",
                json!(["ok", ["sink.close", "close ok", "abort ok", "closed ok"]]),
            ),
            (
                "abort during a write",
                json!([
                    "ok",
                    [
                        "sink.write a",
                        "sink.abort why",
                        "write a ok",
                        "write b err why",
                        "abort ok",
                        "close err why"
                    ]
                ]),
            ),
            (
                "a throwing sink abort",
                json!(["ok", [["err", "Error: boom"], ["err", "r"]]]),
            ),
            (
                "a throwing sink close",
                json!(["ok", [["err", "Error: nope"], ["err", "Error: nope"]]]),
            ),
        ],
    );
}

#[tokio::test]
async fn start_and_size_errors_reach_the_caller() {
    let out = run(r#"
        const construct = (make) => { try { make(); return "constructed"; } catch (e) { return `${e.name}: ${e.message}`; } };
        T("readable start throws", async () => construct(() => new ReadableStream({ start() { throw new Error("s"); } })));
        T("writable start throws", async () => construct(() => new WritableStream({ start() { throw new Error("s"); } })));
        T("transform start throws", async () => construct(() => new TransformStream({ start() { throw new Error("s"); } })));
        T("readable start rejects", async () =>
            settle(new ReadableStream({ start() { return Promise.reject(new Error("s")); } }).getReader().read()));
        T("writable start rejects", async () => {
            const writer = new WritableStream({ start() { return Promise.reject(new Error("s")); } }).getWriter();
            return [await settle(writer.write("a")), await settle(writer.closed)];
        });
        T("transform start rejects", async () => {
            const ts = new TransformStream({ start() { return Promise.reject(new Error("s")); } });
            return [await settle(ts.readable.getReader().read()), await settle(ts.writable.getWriter().write("a"))];
        });
        T("readable size throws", async () => {
            let c;
            const rs = new ReadableStream({ start(ctl) { c = ctl; } }, { size() { throw new Error("sz"); } });
            return [construct(() => c.enqueue("x")), await settle(rs.getReader().read())];
        });
        T("readable size is NaN", async () => {
            let c;
            const rs = new ReadableStream({ start(ctl) { c = ctl; } }, { size() { return NaN; } });
            return [construct(() => c.enqueue("x")).split(":")[0], (await settle(rs.getReader().read()))[0]];
        });
        T("writable size throws", async () => {
            const writer = new WritableStream({}, { size() { throw new Error("sz"); } }).getWriter();
            return [await settle(writer.write("a")), await settle(writer.closed)];
        });
        T("transform throws", async () => {
            const ts = new TransformStream({ transform() { throw new Error("t"); } });
            // The read comes first: until the readable side is pulled, a write waits.
            const read = settle(ts.readable.getReader().read());
            return [await settle(ts.writable.getWriter().write("a")), await read];
        });
    "#)
    .await;
    let s = json!(["err", "Error: s"]);
    expect(
        &out,
        &[
            // The standard has the constructor rethrow (workerd constructs and errors the stream).
            ("readable start throws", json!(["ok", "Error: s"])),
            ("writable start throws", json!(["ok", "Error: s"])),
            ("transform start throws", json!(["ok", "Error: s"])),
            ("readable start rejects", json!(["ok", s])),
            ("writable start rejects", json!(["ok", [s, s]])),
            ("transform start rejects", json!(["ok", [s, s]])),
            // enqueue() throws the size's error and errors the stream (workerd does not throw).
            (
                "readable size throws",
                json!(["ok", ["Error: sz", ["err", "Error: sz"]]]),
            ),
            ("readable size is NaN", json!(["ok", ["RangeError", "err"]])),
            (
                "writable size throws",
                json!(["ok", [["err", "Error: sz"], ["err", "Error: sz"]]]),
            ),
            (
                "transform throws",
                json!(["ok", [["err", "Error: t"], ["err", "Error: t"]]]),
            ),
        ],
    );
}

#[tokio::test]
async fn tee_branches_settle_when_one_is_slow_or_cancelled() {
    let out = run(r#"
        const counting = (n, type = undefined) => {
            let i = 0;
            return new ReadableStream({ type, pull(c) {
                if (i < n) c.enqueue(type === "bytes" ? new Uint8Array([i++]) : i++); else c.close();
            } });
        };
        T("one branch cancelled, the other read", async () => {
            const [a, b] = counting(3).tee();
            const log = [];
            const cancelled = a.cancel("x").then(() => log.push("cancel resolved"));
            const reader = b.getReader();
            for (;;) {
                const { done, value } = await reader.read();
                if (done) break;
                log.push(value);
            }
            await cancelled;
            return log;
        });
        T("one branch cancelled while the other waits", async () => {
            let c;
            const [a, b] = new ReadableStream({ start(ctl) { c = ctl; } }).tee();
            const reader = b.getReader();
            const pending = reader.read();
            const cancelled = a.cancel("x");
            c.enqueue(1);
            c.close();
            const result = [await pending, await reader.read()];
            await cancelled;
            return result;
        });
        T("both cancelled", async () => {
            let reason;
            const [a, b] = new ReadableStream({ cancel(r) { reason = r; } }).tee();
            await Promise.all([a.cancel("ra"), b.cancel("rb")]);
            return reason;
        });
        T("both cancelled, the source's cancel throws", async () => {
            const [a, b] = new ReadableStream({ cancel() { throw new Error("c"); } }).tee();
            const first = settle(a.cancel());
            const second = settle(b.cancel());
            return [await first, await second];
        });
        T("one cancelled, then the source errors", async () => {
            let c;
            const [a, b] = new ReadableStream({ start(ctl) { c = ctl; } }).tee();
            const cancelled = settle(a.cancel("x"));
            const read = settle(b.getReader().read());
            c.error(new Error("e"));
            return [await cancelled, await read];
        });
        T("a slow branch gets everything", async () => {
            let pulls = 0;
            const [a, b] = new ReadableStream({ pull(c) { if (++pulls <= 100) c.enqueue(pulls); else c.close(); } }).tee();
            const first = await readAll(a);
            const second = await readAll(b);
            return [first.length, second.length, second[99], pulls];
        });
        T("byte stream, one branch cancelled", async () => {
            const [a, b] = counting(3, "bytes").tee();
            const cancelled = a.cancel();
            const chunks = await readAll(b);
            await cancelled;
            return chunks.map((chunk) => chunk[0]);
        });
        T("byte stream, BYOB branch first", async () => {
            const [a, b] = counting(3, "bytes").tee();
            const reader = a.getReader({ mode: "byob" });
            const first = [];
            for (;;) {
                const { done, value } = await reader.read(new Uint8Array(8));
                if (done) break;
                first.push(Array.from(value));
            }
            return [first, (await readAll(b)).map((chunk) => Array.from(chunk))];
        });
    "#)
    .await;
    expect(
        &out,
        &[
            // A branch's cancel settles once the other branch is done with the source
            // (workerd settles it at once).
            (
                "one branch cancelled, the other read",
                json!(["ok", [0, 1, 2, "cancel resolved"]]),
            ),
            (
                "one branch cancelled while the other waits",
                json!(["ok", [{ "value": 1, "done": false }, { "done": true }]]),
            ),
            // The source hears both reasons (workerd passes the last one).
            ("both cancelled", json!(["ok", ["ra", "rb"]])),
            (
                "both cancelled, the source's cancel throws",
                json!(["ok", [["err", "Error: c"], ["err", "Error: c"]]]),
            ),
            (
                "one cancelled, then the source errors",
                json!(["ok", [["ok", null], ["err", "Error: e"]]]),
            ),
            (
                "a slow branch gets everything",
                json!(["ok", [100, 100, 100, 101]]),
            ),
            (
                "byte stream, one branch cancelled",
                json!(["ok", [0, 1, 2]]),
            ),
            (
                "byte stream, BYOB branch first",
                json!(["ok", [[[0], [1], [2]], [[0], [1], [2]]]]),
            ),
        ],
    );
}

#[tokio::test]
async fn bodies_are_byte_streams() {
    let out = run(r#"
        const byob = async (stream) => {
            const reader = stream.getReader({ mode: "byob" });
            const { value } = await reader.read(new Uint8Array(2));
            return Array.from(value);
        };
        T("a string response", async () => byob(new Response("abc").body));
        T("a bytes response", async () => byob(new Response(new Uint8Array([7, 8, 9])).body));
        T("a string request", async () => byob(new Request("http://x/", { method: "POST", body: "abc" }).body));
        T("a cloned response", async () => {
            const response = new Response("abc");
            const clone = response.clone();
            return [await byob(clone.body), await response.text()];
        });
        T("the source stays whole", async () => {
            const bytes = new Uint8Array([1, 2, 3]);
            const response = new Response(bytes);
            await byob(response.body);
            return [bytes.byteLength, Array.from(bytes)];
        });
        T("an IdentityTransformStream", async () => {
            const { readable, writable } = new IdentityTransformStream();
            const writer = writable.getWriter();
            writer.write(new Uint8Array([4, 5, 6]));
            return byob(readable);
        });
        T("ReadableStream.from a string", async () => readAll(ReadableStream.from("ab")));
    "#)
    .await;
    expect(
        &out,
        &[
            ("a string response", json!(["ok", [97, 98]])),
            ("a bytes response", json!(["ok", [7, 8]])),
            ("a string request", json!(["ok", [97, 98]])),
            ("a cloned response", json!(["ok", [[97, 98], "abc"]])),
            ("the source stays whole", json!(["ok", [3, [1, 2, 3]]])),
            ("an IdentityTransformStream", json!(["ok", [4, 5]])),
            ("ReadableStream.from a string", json!(["ok", ["a", "b"]])),
        ],
    );
}

#[tokio::test]
async fn a_body_passed_on_unread_keeps_its_length() {
    let source = r#"export default { fetch(request) {
        const original = new Response(new URL(request.url).pathname === "/bytes" ? new Uint8Array(5) : "hello");
        const body = original.body; // made, never read
        return new Response(body, original);
    } };"#;
    let node = start(&[("rewrap", source)]).await;
    for path in ["/text", "/bytes"] {
        let res = node
            .client(&["rewrap"])
            .get(node.url("rewrap", path))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        let length = res.headers().get("content-length").cloned();
        assert_eq!(res.bytes().await.expect("body").len(), 5, "{path}");
        assert_eq!(
            length.as_ref().map(|v| v.to_str().expect("ASCII")),
            Some("5"),
            "{path}"
        );
    }
}
