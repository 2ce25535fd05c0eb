//! `HTMLRewriter` through a real node: element, text, comment, doctype and end-of-document
//! handlers, sync and async, rewriting as workerd rewrites (the expected outputs and messages
//! are what workerd 1.20261123.1 gives for the same workers); a page that streams out before
//! its source has ended; and the memory a transformation may use counted toward its isolate's
//! limit, and given back when the tenant drops it.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;

/// One page through handlers of every kind; the output, then what the handlers saw.
const REWRITE: &str = r#"class AttributeRewriter {
    constructor(name) { this.name = name; }
    element(el) {
        const value = el.getAttribute(this.name);
        if (value) el.setAttribute(this.name, value.replace("http://", "https://"));
    }
}
export default { async fetch() {
    const html = `<!DOCTYPE html><html><head><title>T</title></head><body><!-- c --><a href="http://x/">link</a><p class=a>hello <b>world</b></p><img src=x.png></body></html>`;
    const log = [];
    const rewriter = new HTMLRewriter()
        .on("a", new AttributeRewriter("href"))
        .on("p.a", {
            element(el) {
                log.push(el.tagName, [...el.attributes].join("|"), el.namespaceURI);
                el.prepend("<i>pre</i>", { html: true });
                el.onEndTag((end) => { log.push("end:" + end.name); end.after("!"); });
            },
            text(t) { log.push("text:" + JSON.stringify(t.text) + t.lastInTextNode); },
        })
        .on("b", { async element(el) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            el.setInnerContent("WORLD");
        } })
        .onDocument({
            doctype(d) { log.push("doctype:" + d.name); },
            comments(c) { c.text = " changed "; },
            end(e) { e.append("<!--end-->", { html: true }); },
        });
    const page = new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    const out = await rewriter.transform(page).text();
    return new Response(out + "\n" + log.join("\n"));
} };"#;

#[tokio::test]
async fn handlers_of_every_kind_rewrite_a_page_as_workerd_does() {
    let node = start(&[("rewrite", REWRITE)]).await;
    let (status, body) = node.get("rewrite", "/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"<!DOCTYPE html><html><head><title>T</title></head><body><!-- changed --><a href="https://x/">link</a><p class=a><i>pre</i>hello <b>WORLD</b></p>!<img src=x.png></body></html><!--end-->
doctype:html
p
class,a
http://www.w3.org/1999/xhtml
text:"hello "false
text:""true
text:"world"false
text:""true
end:p"#
    );
}

/// Each case on a line: what it returned, or the class and message of what it threw.
const CASES: &str = r#"const page = (html, type = "text/html") => new Response(html, { headers: { "content-type": type } });
async function attempt(name, fn) {
    try {
        const r = await fn();
        return `${name}: ok ${typeof r === "string" ? JSON.stringify(r) : ""}`;
    } catch (e) {
        return `${name}: ${e?.constructor?.name}: ${e?.message}`;
    }
}
// Runs `body` in an element handler for `selector` on a small page; what it returned.
const onElement = (selector, body) => async () => {
    let result = "no call";
    await new HTMLRewriter().on(selector, { element(el) { result = body(el); } })
        .transform(page("<p>x<!--c--></p><img>")).text();
    return String(result);
};
const onComment = (body) => async () => {
    let result = "no call";
    await new HTMLRewriter().on("p", { comments(c) { result = body(c); } })
        .transform(page("<p>x<!--c--></p>")).text();
    return String(result);
};
export default { async fetch() {
    const out = [];
    out.push(await attempt("hover", () => new HTMLRewriter().on("p:hover", {})));
    out.push(await attempt("empty selector", () => new HTMLRewriter().on("", {})));
    out.push(await attempt("bad combinator", () => new HTMLRewriter().on("a ~ b", {})));
    out.push(await attempt("handler not function", () => new HTMLRewriter().on("p", { element: 5 })));
    out.push(await attempt("handlers not object", () => new HTMLRewriter().on("p", 5)));
    out.push(await attempt("document handler not function", () => new HTMLRewriter().onDocument({ end: "x" })));
    out.push(await attempt("transform string", () => new HTMLRewriter().transform("x")));
    out.push(await attempt("transform error", () => new HTMLRewriter().transform(Response.error())));
    out.push(await attempt("null body", () => {
        const r = new Response(null, { status: 204 });
        return String(new HTMLRewriter().on("p", {}).transform(r) === r);
    }));
    out.push(await attempt("empty attr", onElement("p", (el) => el.setAttribute("", "x"))));
    out.push(await attempt("space attr", onElement("p", (el) => el.setAttribute("a b", "x"))));
    out.push(await attempt("empty tag", onElement("p", (el) => { el.tagName = ""; })));
    out.push(await attempt("digit tag", onElement("p", (el) => { el.tagName = "1p"; })));
    out.push(await attempt("comment close", onComment((c) => { c.text = "a-->b"; })));
    out.push(await attempt("comment stream", onComment((c) => c.replace(new Response("x")))));
    out.push(await attempt("end tag on img", onElement("img", (el) => el.onEndTag(() => {}))));
    out.push(await attempt("onEndTag not fn", onElement("p", (el) => el.onEndTag(5))));
    out.push(await attempt("getAttribute missing", onElement("p", (el) => String(el.getAttribute("nope")))));
    out.push(await attempt("attributes", onElement("p", (el) => {
        el.setAttribute("b", "2");
        el.setAttribute("a", "1");
        el.removeAttribute("b");
        return JSON.stringify([...el.attributes]) + el.hasAttribute("A") + el.getAttribute("A");
    })));
    out.push(await attempt("removed", onElement("p", (el) => { const a = el.removed; el.remove(); return a + "," + el.removed; })));
    out.push(await attempt("late token", async () => {
        let saved;
        await new HTMLRewriter().on("p", { element(el) { saved = el; } }).transform(page("<p>")).text();
        return saved.tagName;
    }));
    out.push(await attempt("unknown charset", () => new HTMLRewriter().on("p", {}).transform(page("<p>", "text/html; charset=nope"))));
    out.push(await attempt("utf-16 charset", () => new HTMLRewriter().on("p", {}).transform(page("<p>", "text/html; charset=utf-16"))));
    out.push(await attempt("latin1", async () => {
        const bytes = new Uint8Array([0x3c, 0x70, 0x3e, 0xe9, 0x3c, 0x2f, 0x70, 0x3e]);
        let t = "";
        const r = await new HTMLRewriter().on("p", { text(x) { t += x.text; } })
            .transform(new Response(bytes, { headers: { "content-type": "text/html; charset=iso-8859-1" } })).arrayBuffer();
        return t + " " + [...new Uint8Array(r)].join(",");
    }));
    out.push(await attempt("throws", async () => new HTMLRewriter().on("p", { element() { throw new RangeError("mine"); } }).transform(page("<p>x</p>")).text()));
    out.push(await attempt("rejects", async () => new HTMLRewriter().on("p", { async element() { await null; throw new SyntaxError("later"); } }).transform(page("<p>x</p>")).text()));
    out.push(await attempt("string chunk", async () => new HTMLRewriter().on("p", {}).transform(new Response(new ReadableStream({ start(c) { c.enqueue("<p>"); c.close(); } }))).text()));
    out.push(await attempt("ambiguity", async () => new HTMLRewriter().on("span", { element() {} }).transform(page("<select><xmp><span>")).text()));
    out.push(await attempt("doctype", async () => {
        let s = "";
        await new HTMLRewriter().onDocument({ doctype(d) { s = [d.name, d.publicId, d.systemId].join("|"); } })
            .transform(page('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p>')).text();
        return s;
    }));
    out.push(await attempt("end tag name", async () => new HTMLRewriter().on("p", { element(el) {
        el.tagName = "div";
        el.onEndTag((e) => { e.before("[" + e.name + "]"); e.name = "section"; });
    } }).transform(page("<p>x</p>")).text()));
    out.push(await attempt("text replace html", async () => new HTMLRewriter().on("p", { text(t) { if (t.text) t.replace("<b>" + t.text + "</b>", { html: true }); } }).transform(page("<p>x &amp; y</p>")).text()));
    out.push(await attempt("remove keep", async () => new HTMLRewriter().on("div", { element(el) { el.removeAndKeepContent(); } }).on("i", { element(el) { el.remove(); } }).transform(page("<div>a<i>b</i>c</div>")).text()));
    out.push(await attempt("escape text", async () => new HTMLRewriter().on("p", { element(el) { el.append("<x>&", {}); el.before("<y>", { html: false }); } }).transform(page("<p>q</p>")).text()));
    out.push(await attempt("globals", () => typeof Element + typeof HTMLRewriter + Object.prototype.toString.call(new HTMLRewriter())));
    out.push(await attempt("this", async () => { const h = { n: 0, element() { this.n++; } }; await new HTMLRewriter().on("p", h).transform(page("<p><p>")).text(); return String(h.n); }));
    out.push(await attempt("reuse", async () => {
        const rw = new HTMLRewriter().on("p", { element(e) { e.setAttribute("x", "1"); } });
        return await rw.transform(page("<p>")).text() + await rw.transform(page("<p>")).text();
    }));
    return new Response(out.join("\n"));
} };"#;

#[tokio::test]
async fn refusals_and_handler_errors_carry_workerd_s_messages() {
    let node = start(&[("cases", CASES)]).await;
    let (status, body) = node.get("cases", "/").await;
    assert_eq!(status, 200, "{body}");
    let expected = r#"hover: TypeError: Parser error: Unsupported pseudo-class or pseudo-element in selector.
empty selector: TypeError: Parser error: The selector is empty.
bad combinator: TypeError: Parser error: Unsupported combinator `~` in selector.
handler not function: TypeError: Incorrect type for the 'element' field on 'ElementContentHandlers': the provided value is not of type 'function'.
handlers not object: TypeError: Failed to execute 'on' on 'HTMLRewriter': parameter 2 is not of type 'ElementContentHandlers'.
document handler not function: TypeError: Incorrect type for the 'end' field on 'DocumentContentHandlers': the provided value is not of type 'function'.
transform string: TypeError: Failed to execute 'transform' on 'HTMLRewriter': parameter 1 is not of type 'Response'.
transform error: TypeError: HTMLRewriter cannot transform an error response
null body: ok "true"
empty attr: TypeError: Parser error: Attribute name can't be empty.
space attr: TypeError: Parser error: ` ` character is forbidden in the attribute name
empty tag: TypeError: Parser error: Tag name can't be empty.
digit tag: TypeError: Parser error: The first character of the tag name should be an ASCII alphabetical character.
comment close: TypeError: Parser error: Comment text shouldn't contain a comment-closing sequence.
comment stream: TypeError: Replacing content in HTML comments using a ReadableStream or Response object is not implemented. You must provide a string.
end tag on img: TypeError: Parser error: No end tag.
onEndTag not fn: TypeError: Failed to execute 'onEndTag' on 'Element': parameter 1 is not of type 'function'.
getAttribute missing: ok "null"
attributes: ok "[[\"a\",\"1\"]]true1"
removed: ok "false,true"
late token: TypeError: This content token is no longer valid. Content tokens are only valid during the execution of the relevant content handler.
unknown charset: TypeError: Parser error: Unknown character encoding has been provided.
utf-16 charset: TypeError: Parser error: Expected ASCII-compatible encoding.
latin1: ok "é 60,112,62,233,60,47,112,62"
throws: RangeError: mine
rejects: SyntaxError: later
string chunk: ok "<p>"
ambiguity: TypeError: Parser error: The parser has encountered a text content tag (`<xmp>`) in the context where it is ambiguous whether this tag should be ignored or not. And, thus, it is unclear whether consequent content should be parsed as raw text or HTML markup.

This error occurs due to the limited capabilities of the streaming parsing. However, almost all of the cases of this error are caused by a non-conforming markup (e.g. a `<script>` element in `<select>` element).
doctype: ok "html|-//W3C//DTD HTML 4.01//EN|http://www.w3.org/TR/html4/strict.dtd"
end tag name: ok "<div>x[div]</section>"
text replace html: ok "<p><b>x &amp; y</b></p>"
remove keep: ok "ac"
escape text: ok "&lt;y&gt;<p>q&lt;x&gt;&amp;</p>"
globals: ok "undefinedfunction[object Object]"
this: ok "2"
reuse: ok "<p x=\"1\"><p x=\"1\">""#;
    let (got, want): (Vec<_>, Vec<_>) = (body.lines().collect(), expected.lines().collect());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
    assert_eq!(got.len(), want.len(), "{body}");
}

/// Content given as a `ReadableStream` or a `Response`, streamed into its place; each value is
/// what workerd 1.20261123.1 gives for the same calls.
const STREAMED: &str = r#"const page = (html) => new Response(html, { headers: { "content-type": "text/html" } });
const slowly = (...parts) => {
    const enc = new TextEncoder();
    return new ReadableStream({ async pull(c) {
        if (parts.length === 0) return c.close();
        await new Promise((r) => setTimeout(r, 2));
        c.enqueue(enc.encode(parts.shift()));
    } });
};
async function attempt(f) { try { return await f(); } catch (e) { return `${e.constructor.name}: ${e.message}`; } }
export default { async fetch() {
    const out = {};
    out.replace = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.replace(new Response("<b>r</b>"), { html: true }); } }).transform(page("<div><p>x</p></div>")).text());
    out.replaceText = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.replace(new Response("<b>r</b>")); } }).transform(page("<p>x</p>")).text());
    out.append = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.append(slowly("a", "b", "c")); el.prepend(slowly("<i>", "1</i>"), { html: true }); el.before("[s]"); } }).transform(page("<p>x</p><p>y</p>")).text());
    out.inner = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.setInnerContent(slowly("in", "ner")); } }).transform(page("<p>x<b>y</b></p>")).text());
    out.text = await attempt(() => new HTMLRewriter().on("p", { text(t) { if (t.text) t.after(slowly("+", "+")); } }).transform(page("<p>x</p>")).text());
    out.endTag = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.onEndTag((e) => { e.before(slowly("<u>e</u>"), { html: true }); }); } }).transform(page("<p>x</p>")).text());
    out.emptyResponse = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.replace(new Response(null)); } }).transform(page("<p>x</p>z")).text());
    out.failing = await attempt(() => new HTMLRewriter().on("p", { element(el) { el.append(new ReadableStream({ pull(c) { c.error(new RangeError("stream broke")); } })); } }).transform(page("<p>x</p>")).text());
    out.afterAwait = await attempt(() => new HTMLRewriter().on("p", { async element(el) { await null; el.replace(slowly("late")); } }).transform(page("<p>x</p>")).text());
    return Response.json(out);
} };"#;

#[tokio::test]
async fn streamed_content_takes_its_place_as_in_workerd() {
    let node = start(&[("streamed", STREAMED)]).await;
    let (status, body) = node.get("streamed", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let expected = serde_json::json!({
        "replace": "<div><b>r</b></div>",
        "replaceText": "&lt;b&gt;r&lt;/b&gt;",
        "append": "[s]<p><i>1</i>xabc</p>[s]<p><i>1</i>yabc</p>",
        "inner": "<p>inner</p>",
        "text": "<p>x++</p>",
        "endTag": "<p>x<u>e</u></p>",
        "emptyResponse": "<p>x</p>z",
        "failing": "RangeError: stream broke",
        "afterAwait": "late",
    });
    assert_eq!(out, expected);
}

/// A page whose source sends its head and then waits (up to 20 s) for a request to
/// `/release`: what the rewriter made of the head must reach the client before that.
const STREAMING: &str = r#"let release;
const released = new Promise((resolve) => { release = resolve; });
export default { async fetch(request) {
    if (request.url.endsWith("/release")) { release(); return new Response("released"); }
    const encoder = new TextEncoder();
    const source = new ReadableStream({
        async pull(controller) {
            if (!this.sent) {
                this.sent = true;
                controller.enqueue(encoder.encode("<html><body><h1>first</h1>"));
                return;
            }
            await Promise.race([released, new Promise((resolve) => setTimeout(resolve, 20000))]);
            controller.enqueue(encoder.encode("<h1>second</h1></body></html>"));
            controller.close();
        },
    });
    return new HTMLRewriter()
        .on("h1", { text(t) { if (t.text) t.replace(t.text.toUpperCase()); } })
        .transform(new Response(source, { headers: { "content-type": "text/html" } }));
} };"#;

#[tokio::test]
async fn the_rewritten_head_of_a_page_arrives_before_its_source_ends() {
    let node = start(&[("streaming", STREAMING)]).await;
    let client = node.client(&["streaming"]);
    let response = client
        .get(node.url("streaming", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("<h1>FIRST</h1>") {
            let chunk = body.next().await.expect("more body").expect("chunk");
            seen.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("the rewritten head arrived while the source was waiting");
    assert!(!String::from_utf8_lossy(&seen).contains("second"));

    let (status, _) = node.get("streaming", "/release").await;
    assert_eq!(status, 200);
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "<html><body><h1>FIRST</h1><h1>SECOND</h1></body></html>"
    );
}

/// Starts `n` transformations of pages whose sources never end and keeps them: each may
/// buffer 3 MiB in lol_html, so 40 of them are more than a 64 MiB isolate may hold.
const HOARD: &str = r#"const kept = [];
export default { async fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n"));
    for (let i = 0; i < n; i++) {
        const source = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("<p>")); } });
        kept.push(new HTMLRewriter().on("p", { element() {} }).transform(new Response(source)));
    }
    return new Response(`holding ${kept.length}`);
} };"#;

/// Starts 10 transformations per request, reads one to the end, cancels one and leaves the
/// rest: what it leaves must be given back as the engine collects it.
const ABANDON: &str = r#"export default { async fetch() {
    for (let i = 0; i < 10; i++) {
        const source = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("<p>x</p>")); } });
        new HTMLRewriter().on("p", { element() {} }).transform(new Response(source));
    }
    const read = await new HTMLRewriter().on("p", { element(e) { e.setAttribute("r", "1"); } })
        .transform(new Response("<p>x</p>")).text();
    const cancelled = new HTMLRewriter().on("p", {}).transform(new Response("<p>y</p>"));
    await cancelled.body.cancel();
    return new Response(read);
} };"#;

#[tokio::test]
async fn transformations_count_toward_the_memory_limit_until_they_are_dropped() {
    let dir = script_dir(&[("hoard", HOARD), ("abandon", ABANDON)]);
    let node = start_with(dir, |config| {
        config.isolate_limits.memory = 64 * 1024 * 1024;
        config.isolate_limits.cpu = Duration::from_secs(5);
    })
    .await;

    let (status, body) = node.get("hoard", "/?n=4").await;
    assert_eq!((status, body.as_str()), (200, "holding 4"));
    let (status, body) = node.get("hoard", "/?n=40").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("memory"), "{body}");

    // 30 requests leave 300 transformations behind (940 MiB of allowance if none came back).
    for round in 0..30 {
        let (status, body) = node.get("abandon", "/").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "<p r=\"1\">x</p>"),
            "round {round}"
        );
    }
}
