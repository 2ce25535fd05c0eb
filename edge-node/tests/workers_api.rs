//! What Cloudflare Workers adds to the web standards, through a real node, against workerd's
//! documented values and error messages: `navigator`, the `Cloudflare` global and the
//! compatibility flags, `scheduler.wait`, `crypto.subtle.timingSafeEqual`, `ctx.props`,
//! `crypto.DigestStream` and the WebCrypto differences of Workers (NODE-ED25519, AES-GCM's empty
//! IV, RSA exponents and JWK `alg`, EC JWK consistency).

mod common;

use common::*;

/// Runs `checks` (the body of an async function returning a JSON-able object) in a worker and
/// returns what it returned.
async fn run(checks: &str) -> serde_json::Value {
    let source = format!(
        "async function checks() {{\n{checks}\n}}\n\
         export default {{ async fetch() {{ return Response.json(await checks()); }} }};"
    );
    let node = start(&[("probe", &source)]).await;
    let (status, body) = node.get("probe", "/").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn navigator_says_what_workers_code_sniffs() {
    let out = run(r#"
        let constructed;
        try { new Navigator(); constructed = "yes"; } catch (e) { constructed = e.name; }
        return {
            userAgent: navigator.userAgent,
            hardwareConcurrency: navigator.hardwareConcurrency,
            language: navigator.language,
            languages: navigator.languages,
            constructed,
            isNavigator: navigator instanceof Navigator,
        };"#)
    .await;
    assert_eq!(
        out,
        serde_json::json!({
            "userAgent": "Cloudflare-Workers",
            "hardwareConcurrency": 1,
            "language": "en",
            "languages": ["en"],
            "constructed": "TypeError",
            "isNavigator": true,
        })
    );
}

#[tokio::test]
async fn scheduler_wait_resolves_after_its_delay_and_follows_its_signal() {
    let out = run(r#"
        const settle = (promise) => promise.then(
            (value) => ({ resolved: value === undefined ? "undefined" : String(value) }),
            (error) => ({ rejected: error?.name ?? String(error), message: error?.message ?? "" }));
        const started = performance.now();
        const waited = await settle(scheduler.wait(50));
        const elapsed = performance.now() - started;

        const already = new AbortController();
        already.abort(new RangeError("before"));
        const early = await settle(scheduler.wait(10, { signal: already.signal }));

        const later = new AbortController();
        const waiting = settle(scheduler.wait(60000, { signal: later.signal }));
        setTimeout(() => later.abort(), 5);
        const abortStarted = performance.now();
        const aborted = await waiting;
        const abortElapsed = performance.now() - abortStarted;

        // Resolved waits leave nothing behind on their signal: a later abort changes nothing.
        const kept = new AbortController();
        const done = await settle(scheduler.wait(1, { signal: kept.signal }));
        kept.abort();

        let constructed;
        try { new scheduler.constructor(); constructed = "yes"; } catch (e) { constructed = e.name; }
        return {
            waited, elapsedAtLeast45: elapsed >= 45, early, aborted,
            abortedWithinASecond: abortElapsed < 1000, done,
            noArgument: await settle(scheduler.wait()),
            badSignal: await settle(scheduler.wait(1, { signal: 1 })),
            badOptions: await settle(scheduler.wait(1, 7)),
            detached: await settle(scheduler.wait.call({}, 1)),
            constructed,
            global: Object.getOwnPropertyDescriptor(globalThis, "scheduler").enumerable,
        };"#)
    .await;
    assert_eq!(
        out["waited"],
        serde_json::json!({ "resolved": "undefined" })
    );
    assert_eq!(out["elapsedAtLeast45"], true, "{out}");
    assert_eq!(
        out["early"],
        serde_json::json!({ "rejected": "RangeError", "message": "before" })
    );
    assert_eq!(out["aborted"]["rejected"], "AbortError", "{out}");
    assert_eq!(out["abortedWithinASecond"], true, "{out}");
    assert_eq!(out["done"], serde_json::json!({ "resolved": "undefined" }));
    for case in ["noArgument", "badSignal", "badOptions", "detached"] {
        assert_eq!(out[case]["rejected"], "TypeError", "{case}: {out}");
    }
    assert_eq!(out["constructed"], "TypeError");
    assert_eq!(out["global"], false);
}

#[tokio::test]
async fn timing_safe_equal_compares_buffers_of_one_length() {
    let out = run(r#"
        const attempt = (f) => { try { return f(); } catch (e) { return `${e.name}: ${e.message}`; } };
        const subtle = crypto.subtle;
        const bytes = (...b) => new Uint8Array(b);
        const shared = new Uint8Array([9, 1, 2, 3, 9]);
        return {
            equal: subtle.timingSafeEqual(bytes(1, 2, 3), bytes(1, 2, 3)),
            differ: subtle.timingSafeEqual(bytes(1, 2, 3), bytes(1, 2, 4)),
            empty: subtle.timingSafeEqual(new ArrayBuffer(0), bytes()),
            views: subtle.timingSafeEqual(new DataView(shared.buffer, 1, 3), shared.subarray(1, 4)),
            arrayBuffer: subtle.timingSafeEqual(bytes(1, 2, 3).buffer, new Uint16Array([0x0201, 0x0403]).buffer.slice(0, 3)),
            lengths: attempt(() => subtle.timingSafeEqual(bytes(1, 2), bytes(1, 2, 3))),
            notBuffer: attempt(() => subtle.timingSafeEqual("abc", "abc")),
            missing: attempt(() => subtle.timingSafeEqual(bytes(1))),
            wrongThis: attempt(() => subtle.timingSafeEqual.call({}, bytes(1), bytes(1))),
        };"#)
    .await;
    assert_eq!(out["equal"], true);
    assert_eq!(out["differ"], false);
    assert_eq!(out["empty"], true);
    assert_eq!(out["views"], true);
    assert_eq!(out["arrayBuffer"], true);
    assert_eq!(
        out["lengths"],
        "TypeError: Input buffers must have the same byte length."
    );
    for case in ["notBuffer", "missing", "wrongThis"] {
        let text = out[case].as_str().unwrap_or_default();
        assert!(text.starts_with("TypeError: "), "{case}: {out}");
    }
}

/// Workers' WebCrypto where it differs from deno_crypto's; every expected line is what
/// workerd 1.20261123.1 answers for the same calls.
#[tokio::test]
async fn webcrypto_follows_workers_where_it_differs() {
    let out = run(r#"
        const attempt = async (f) => {
            try { const r = await f(); return r === undefined ? "ok" : JSON.stringify(r); }
            catch (e) { return `${e.constructor.name} ${e.name}: ${e.message}`; }
        };
        const s = crypto.subtle;
        const node = { name: "NODE-ED25519", namedCurve: "NODE-ED25519" };
        const data = new Uint8Array([1, 2, 3]);
        const aes = await s.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt", "decrypt"]);
        const rsa = await s.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
        const rsaJwk = await s.exportKey("jwk", rsa.privateKey);
        const ecJwk = await s.exportKey("jwk", (await s.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])).privateKey);
        const otherJwk = await s.exportKey("jwk", (await s.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])).privateKey);
        const ecdsa = { name: "ECDSA", namedCurve: "P-256" };
        return {
            nodeGenerate: await attempt(async () => { const k = await s.generateKey(node, true, ["sign", "verify"]); return [k.publicKey.algorithm, k.privateKey.type]; }),
            nodeSign: await attempt(async () => {
                const k = await s.generateKey(node, true, ["sign", "verify"]);
                const signature = await s.sign("NODE-ED25519", k.privateKey, data);
                return [signature.byteLength, await s.verify({ name: "NODE-ED25519" }, k.publicKey, signature, data)];
            }),
            nodeImport: await attempt(async () => (await s.importKey("raw", new Uint8Array(32), node, true, ["verify"])).algorithm),
            nodeCurve: await attempt(() => s.generateKey({ name: "NODE-ED25519", namedCurve: "P-256" }, true, ["sign", "verify"])),
            gcmEmptyIv: await attempt(() => s.encrypt({ name: "AES-GCM", iv: new Uint8Array(0) }, aes, data)),
            gcmEmptyIvDecrypt: await attempt(() => s.decrypt({ name: "AES-GCM", iv: new Uint8Array(0) }, aes, new Uint8Array(20))),
            gcmRoundTrip: await attempt(async () => {
                const iv = new Uint8Array(12);
                const sealed = await s.encrypt({ name: "aes-gcm", iv }, aes, data);
                return [...new Uint8Array(await s.decrypt({ name: "AES-GCM", iv }, aes, sealed))];
            }),
            exponent3: await attempt(async () => (await s.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([3]), hash: "SHA-256" }, true, ["sign", "verify"])).publicKey.algorithm.publicExponent),
            exponent65539: await attempt(() => s.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 3]), hash: "SHA-256" }, true, ["sign", "verify"])),
            exponent1: await attempt(() => s.generateKey({ name: "RSA-PSS", modulusLength: 1024, publicExponent: new Uint8Array([1]), hash: "SHA-256" }, true, ["sign", "verify"])),
            exponentHuge: await attempt(() => s.generateKey({ name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 0, 0, 1]), hash: "SHA-256" }, true, ["encrypt", "decrypt"])),
            jwkAlgHash: await attempt(() => s.importKey("jwk", { ...rsaJwk, alg: "RS384" }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"])),
            jwkAlgOtherVariant: await attempt(async () => (await s.importKey("jwk", { ...rsaJwk, alg: "PS256" }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"])).type),
            jwkAlgUnknown: await attempt(() => s.importKey("jwk", { ...rsaJwk, alg: "HS256" }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"])),
            ecOwnPoint: await attempt(async () => (await s.importKey("jwk", ecJwk, ecdsa, false, ["sign"])).extractable),
            ecOtherPoint: await attempt(() => s.importKey("jwk", { ...ecJwk, x: otherJwk.x, y: otherJwk.y }, ecdsa, true, ["sign"])),
            ecPublicForSigning: await attempt(() => { const { d, ...pub } = ecJwk; return s.importKey("jwk", pub, ecdsa, true, ["sign"]); }),
            getterThrows: await attempt(() => {
                try {
                    return s.encrypt({ get name() { throw new RangeError("no name"); } }, aes, data);
                } catch {
                    return "threw synchronously";
                }
            }),
            readOnce: await attempt(async () => {
                // The data is copied when the call is made: resizing its buffer after changes nothing.
                const buffer = new ArrayBuffer(3, { maxByteLength: 8 });
                new Uint8Array(buffer).set([1, 2, 3]);
                const pending = s.digest("SHA-256", buffer);
                buffer.resize(8);
                new Uint8Array(buffer).fill(7);
                const a = new Uint8Array(await pending);
                const b = new Uint8Array(await s.digest("SHA-256", data));
                return a.every((v, i) => v === b[i]);
            }),
        };"#)
    .await;
    let expect = |case: &str, want: &str| assert_eq!(out[case], want, "{case}: {out}");
    expect(
        "nodeGenerate",
        r#"[{"name":"NODE-ED25519","namedCurve":"NODE-ED25519"},"private"]"#,
    );
    expect("nodeSign", "[64,true]");
    expect(
        "nodeImport",
        r#"{"name":"NODE-ED25519","namedCurve":"NODE-ED25519"}"#,
    );
    expect(
        "nodeCurve",
        r#"DOMException NotSupportedError: EDDSA curve "P-256" isn't supported."#,
    );
    expect(
        "gcmEmptyIv",
        "DOMException OperationError: AES-GCM IV must not be empty.",
    );
    expect(
        "gcmEmptyIvDecrypt",
        "DOMException OperationError: AES-GCM IV must not be empty.",
    );
    expect("gcmRoundTrip", "[1,2,3]");
    expect("exponent3", r#"{"0":3}"#);
    expect(
        "exponent65539",
        r#"DOMException OperationError: The "publicExponent" must be either 3 or 65537, but got 65539."#,
    );
    expect(
        "exponent1",
        r#"DOMException OperationError: The "publicExponent" must be either 3 or 65537, but got 1."#,
    );
    expect(
        "exponentHuge",
        r#"DOMException OperationError: The "publicExponent" must be either 3 or 65537, but got a number larger than 2^32."#,
    );
    expect(
        "jwkAlgHash",
        r#"DOMException DataError: JSON Web Key Algorithm parameter "alg" ("RS384") does not match requested hash algorithm "RS384"."#,
    );
    expect("jwkAlgOtherVariant", r#""private""#);
    expect(
        "jwkAlgUnknown",
        r#"DOMException NotSupportedError: Unrecognized or unimplemented algorithm "HS256" listed in JSON Web Key Algorithm parameter."#,
    );
    expect("ecOwnPoint", "false");
    expect(
        "ecOtherPoint",
        "DOMException DataError: Invalid EC key in JSON Web Key.",
    );
    let public = out["ecPublicForSigning"].as_str().unwrap_or_default();
    assert!(public.starts_with("DOMException SyntaxError: "), "{public}");
    expect("getterThrows", "RangeError RangeError: no name");
    expect("readOnce", "true");
}

/// Multipart and URL-encoded bodies through `formData()`, each case's answer what workerd
/// 1.20261123.1 gives: Content-Disposition read as workerd reads it (quoted parameters, escapes,
/// the last `name` winning), and its errors for malformed messages.
const FORM_DATA: &str = r#"const B = "XyZ";
function body(parts) { return parts.map((p) => `--${B}\r\n${p}`).join("") + `--${B}--\r\n`; }
async function parse(name, parts, extra = {}) {
  try {
    const req = new Request("http://x/", { method: "POST", body: body(parts), headers: { "content-type": `multipart/form-data; boundary=${B}` } });
    const fd = await req.formData();
    const out = [];
    for (const [k, v] of fd) out.push(typeof v === "string" ? [k, v] : [k, "File", v.name, v.type, v.size, await v.text()]);
    return `${name}: ${JSON.stringify(out)}`;
  } catch (e) { return `${name}: ${e.constructor.name}: ${e.message}`; }
}
export default { async fetch() {
  const o = [];
  o.push(await parse("plain", ['Content-Disposition: form-data; name="a"\r\n\r\nv\r\n']));
  o.push(await parse("file", ['Content-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n']));
  o.push(await parse("file no type", ['Content-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nhello\r\n']));
  o.push(await parse("empty filename", ['Content-Disposition: form-data; name="f"; filename=""\r\n\r\nhello\r\n']));
  o.push(await parse("unquoted", ['Content-Disposition: form-data; name=a\r\n\r\nv\r\n']));
  o.push(await parse("filename*", ["Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve.txt\r\n\r\nx\r\n"]));
  o.push(await parse("escaped quote", ['Content-Disposition: form-data; name="a\\"b"\r\n\r\nv\r\n']));
  o.push(await parse("percent quote", ['Content-Disposition: form-data; name="a%22b"\r\n\r\nv\r\n']));
  o.push(await parse("case", ['content-disposition: FORM-DATA; NAME="a"\r\n\r\nv\r\n']));
  o.push(await parse("no disposition", ['Content-Type: text/plain\r\n\r\nv\r\n']));
  o.push(await parse("not form-data", ['Content-Disposition: attachment; name="a"\r\n\r\nv\r\n']));
  o.push(await parse("no name", ['Content-Disposition: form-data; filename="x"\r\n\r\nv\r\n']));
  o.push(await parse("utf8 name", ['Content-Disposition: form-data; name="ü"\r\n\r\nv\r\n']));
  o.push(await parse("semicolon in name", ['Content-Disposition: form-data; name="a;b"\r\n\r\nv\r\n']));
  o.push(await parse("spaces", ['Content-Disposition:   form-data ;  name = "a"  \r\n\r\nv\r\n']));
  o.push(await parse("crlf value", ['Content-Disposition: form-data; name="a"\r\n\r\nline1\r\nline2\r\n']));
  o.push(await parse("two names", ['Content-Disposition: form-data; name="a"; name="b"\r\n\r\nv\r\n']));
  o.push(await parse("missing end", ['Content-Disposition: form-data; name="a"\r\n\r\nv']));
  o.push(await parse("filename path", ['Content-Disposition: form-data; name="f"; filename="C:\\\\dir\\\\a.txt"\r\n\r\nx\r\n']));
  o.push(await (async () => { try { const fd = await new Response("a=1&b=%20x+y", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData(); return "urlencoded: " + JSON.stringify([...fd]); } catch (e) { return "urlencoded: " + e.message; } })());
  o.push(await (async () => { try { await new Response("x", { headers: { "content-type": "text/plain" } }).formData(); return "wrong type: ok"; } catch (e) { return `wrong type: ${e.constructor.name}: ${e.message}`; } })());
  o.push(await (async () => { try { const fd = new FormData(); fd.append("f", new Blob(["abc"], { type: "text/x" }), "n.txt"); fd.append("s", "v"); const r = new Response(fd); const back = await r.formData(); const f = back.get("f"); return `roundtrip: ${f.name} ${f.type} ${await f.text()} ${back.get("s")}`; } catch (e) { return `roundtrip: ${e.message}`; } })());
  return new Response(o.join("\n"));
} };"#;

#[tokio::test]
async fn form_data_is_parsed_as_workerd_parses_it() {
    let node = start(&[("forms", FORM_DATA)]).await;
    let (status, body) = node.get("forms", "/").await;
    assert_eq!(status, 200, "{body}");
    let expected = r#"plain: [["a","v"]]
file: [["f","File","a.txt","text/plain",5,"hello"]]
file no type: [["f","File","a.txt","",5,"hello"]]
empty filename: [["f","hello"]]
unquoted: TypeError: Content-Disposition header in FormData part is missing a name.
filename*: [["f","x"]]
escaped quote: [["a\"b","v"]]
percent quote: [["a%22b","v"]]
case: TypeError: Content-Disposition header for FormData part must have the value "form-data", possibly followed by parameters. Got: "FORM-DATA"
no disposition: TypeError: No valid Content-Disposition header found in FormData part.
not form-data: TypeError: Content-Disposition header for FormData part must have the value "form-data", possibly followed by parameters. Got: "attachment"
no name: TypeError: Content-Disposition header in FormData part is missing a name.
utf8 name: [["ü","v"]]
semicolon in name: [["a;b","v"]]
spaces: [["a","v"]]
crlf value: [["a","line1\r\nline2"]]
two names: [["b","v"]]
missing end: TypeError: No subsequent boundary string after multipart message.
filename path: [["f","File","C:\\dir\\a.txt","",1,"x"]]
urlencoded: [["a","1"],["b"," x y"]]
wrong type: TypeError: Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded
roundtrip: n.txt text/x abc v"#;
    let (got, want): (Vec<_>, Vec<_>) = (body.lines().collect(), expected.lines().collect());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
    assert_eq!(got.len(), want.len(), "{body}");
}

/// What the probe below reports of the globals that compatibility dates and flags change.
const COMPAT_PROBE: &str = r#"export default { fetch() {
    const flags = Cloudflare.compatibilityFlags;
    let assigned;
    try { flags.global_navigator = false; assigned = "yes"; } catch (e) { assigned = e.name; }
    return Response.json({
        flags: Object.fromEntries(Object.entries(flags)),
        frozen: Object.isFrozen(flags),
        proto: Object.getPrototypeOf(flags),
        assigned,
        unknown: String(flags.nodejs_compat),
        navigator: typeof navigator,
        language: typeof navigator === "object" ? String(navigator.language) : null,
        hasLanguage: typeof navigator === "object" ? "language" in navigator : null,
    });
} };"#;

/// A project folder named `name` with `config` as its wrangler.toml and the probe as its main.
fn compat_project(dir: &std::path::Path, name: &str, config: &str) {
    write(
        &dir.join(name).join("wrangler.toml"),
        &format!("main = \"index.js\"\n{config}"),
    );
    write(&dir.join(name).join("index.js"), COMPAT_PROBE);
}

#[tokio::test]
async fn compatibility_date_and_flags_reach_the_script() {
    let dir = script_dir(&[]);
    compat_project(dir.path(), "dated", "compatibility_date = \"2025-05-19\"\n");
    compat_project(dir.path(), "older", "compatibility_date = \"2025-05-18\"\n");
    compat_project(
        dir.path(),
        "optin",
        "compatibility_date = \"2024-01-01\"\ncompatibility_flags = [\"enable_navigator_language\"]\n",
    );
    compat_project(
        dir.path(),
        "optout",
        "compatibility_date = \"2026-01-01\"\n\
         compatibility_flags = [\"no_global_navigator\", \"nodejs_compat\"]\n",
    );
    compat_project(
        dir.path(),
        "contradictory",
        "compatibility_date = \"2026-01-01\"\n\
         compatibility_flags = [\"global_navigator\", \"no_global_navigator\"]\n",
    );
    let node = start_with(dir, |_| {}).await;
    let probe = |name: &'static str| {
        let node = &node;
        async move {
            let (status, body) = node.get(name, "/").await;
            assert_eq!(status, 200, "{name}: {body}");
            serde_json::from_str::<serde_json::Value>(&body).expect("json")
        }
    };

    let dated = probe("dated").await;
    assert_eq!(
        dated["flags"],
        serde_json::json!({
            "global_navigator": true,
            "enable_navigator_language": true,
            "url_standard": true,
            "streams_enable_constructors": true,
            "transformstream_enable_standard_constructor": true,
            "enable_ctx_exports": false,
        })
    );
    assert_eq!(dated["frozen"], true);
    assert_eq!(dated["proto"], serde_json::Value::Null);
    assert_eq!(dated["assigned"], "TypeError", "module code is strict");
    assert_eq!(dated["unknown"], "undefined");
    assert_eq!(dated["language"], "en");

    // A day earlier, navigator.language is not there at all, as in workerd.
    let older = probe("older").await;
    assert_eq!(older["flags"]["enable_navigator_language"], false);
    assert_eq!(older["hasLanguage"], false);
    assert_eq!(older["language"], "undefined");
    assert_eq!(older["navigator"], "object");

    let optin = probe("optin").await;
    assert_eq!(optin["flags"]["enable_navigator_language"], true);
    assert_eq!(optin["language"], "en");

    let optout = probe("optout").await;
    assert_eq!(optout["flags"]["global_navigator"], false);
    assert_eq!(optout["navigator"], "undefined");
    assert_eq!(
        optout["unknown"], "undefined",
        "a flag without behaviour reads undefined"
    );

    // A script whose flags contradict each other does not load (the control plane refuses
    // such an upload with the reason: see control-plane/tests/admin.rs).
    let (status, body) = node.get("contradictory", "/").await;
    assert_eq!((status, body.trim_end()), (503, "Worker failed to start"));
}

/// A project with entrypoint classes from `cloudflare:workers`, a class as its default export,
/// and calls through `ctx.exports`.
const ENTRYPOINTS: &str = r#"import { WorkerEntrypoint, DurableObject, RpcTarget, env as importedEnv } from "cloudflare:workers";
export class Greeter extends WorkerEntrypoint {
    greet(name) { return `Hello, ${name}! (${this.env.GREETING})`; }
    touch(value) { value.touched = true; return value; }
    async fetch(request) { return new Response(`greeter saw ${new URL(request.url).pathname}`); }
}
export class Plain {}
export const notAClass = 1;
export default class extends WorkerEntrypoint {
    async fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/inner") return new Response(`inner ${this.ctx.exports !== undefined}`);
        if (path === "/loop") return this.ctx.exports.default.fetch(request.url);
        const exports = this.ctx.exports;
        const arg = { n: 1 };
        const touched = await exports.Greeter.touch(arg);
        let missing;
        try { await exports.Greeter.nope(); } catch (e) { missing = `${e.name}: ${e.message}`; }
        return Response.json({
            instance: this instanceof WorkerEntrypoint,
            env: this.env === importedEnv && this.env.GREETING,
            greet: await exports.Greeter.greet("World"),
            copied: [arg.touched === undefined, touched.touched],
            missing,
            keys: Object.keys(exports).sort(),
            greeterFetch: await (await exports.Greeter.fetch("http://x/hi")).text(),
            defaultFetch: await (await exports.default.fetch("http://x/inner")).text(),
            thenable: exports.Greeter.then === undefined,
            classes: [typeof DurableObject, typeof RpcTarget],
        });
    }
}"#;

#[tokio::test]
async fn worker_entrypoints_and_ctx_exports_run_in_the_isolate() {
    let dir = script_dir(&[]);
    for (name, flags) in [
        ("rpc", "compatibility_flags = [\"enable_ctx_exports\"]\n"),
        ("noflag", ""),
    ] {
        write(
            &dir.path().join(name).join("wrangler.toml"),
            &format!(
                "main = \"index.js\"\ncompatibility_date = \"2026-01-01\"\n{flags}[vars]\nGREETING = \"hi\"\n"
            ),
        );
        write(&dir.path().join(name).join("index.js"), ENTRYPOINTS);
    }
    let node = start_with(dir, |_| {}).await;

    let (status, body) = node.get("rpc", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        out,
        serde_json::json!({
            "instance": true,
            "env": "hi",
            "greet": "Hello, World! (hi)",
            // RPC copies its arguments and result, as Workers RPC serializes them.
            "copied": [true, true],
            "missing": "TypeError: The RPC receiver does not implement the method \"nope\".",
            "keys": ["Greeter", "default"],
            "greeterFetch": "greeter saw /hi",
            "defaultFetch": "inner true",
            "thenable": true,
            "classes": ["function", "function"],
        })
    );
    // Without the flag there is no ctx.exports, as on Cloudflare today.
    assert_eq!(
        node.get("noflag", "/inner").await,
        (200, "inner false".into())
    );
    // Each call is a subrequest: a worker calling itself forever runs out of them.
    let (status, _) = node.get("rpc", "/loop").await;
    assert_eq!(status, 500);
    node.wait_for_log("Too many subrequests").await;
}

#[tokio::test]
async fn every_execution_context_has_its_own_empty_props() {
    let node = start(&[(
        "props",
        r#"export default { fetch(request, env, ctx) {
            const seen = JSON.stringify(ctx.props);
            ctx.props.marked = true;
            return Response.json({ seen, keys: Object.keys(ctx), waitUntil: typeof ctx.waitUntil });
        } };"#,
    )])
    .await;
    for _ in 0..2 {
        let (status, body) = node.get("props", "/").await;
        assert_eq!(status, 200, "{body}");
        let out: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            out,
            serde_json::json!({ "seen": "{}", "keys": ["props"], "waitUntil": "function" }),
            "a request never sees another's props"
        );
    }
}

#[tokio::test]
async fn digest_stream_hashes_what_is_written_and_md5_is_there() {
    let out = run(r#"
        const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
        const attempt = async (f) => { try { return await f(); } catch (e) { return `${e.name}: ${e.message}`; } };
        const hashOf = async (algorithm, chunks) => {
            const stream = new crypto.DigestStream(algorithm);
            const writer = stream.getWriter();
            for (const chunk of chunks) await writer.write(chunk);
            await writer.close();
            return [hex(await stream.digest), stream.bytesWritten];
        };
        const big = new Blob([new Uint8Array(1 << 20).fill(97), new Uint8Array(1 << 20).fill(98)]);
        const piped = new crypto.DigestStream("SHA-256");
        await big.stream().pipeTo(piped);
        const aborted = new crypto.DigestStream("SHA-256");
        aborted.getWriter().abort(new RangeError("stop"));
        const wrong = new crypto.DigestStream("SHA-1");
        return {
            sha256: await hashOf("SHA-256", ["a", new Uint8Array([98]), new Uint8Array([99]).buffer]),
            sha1: await hashOf({ name: "sha-1" }, [new DataView(new TextEncoder().encode("abc").buffer)]),
            md5: await hashOf("MD5", ["abc"]),
            sha512: await hashOf("SHA-512", []),
            pipedMatches: hex(await piped.digest) === hex(await crypto.subtle.digest("SHA-256", await big.arrayBuffer())),
            pipedBytes: piped.bytesWritten,
            aborted: await attempt(() => aborted.digest),
            wrongWrite: await attempt(() => wrong.getWriter().write(42)),
            wrongDigest: await attempt(() => wrong.digest),
            unknown: await attempt(() => new crypto.DigestStream("SHA-3")),
            missing: await attempt(() => new crypto.DigestStream()),
            md5Subtle: hex(await crypto.subtle.digest("MD5", new TextEncoder().encode("abc"))),
            md5Object: hex(await crypto.subtle.digest({ name: "md5" }, new Uint8Array([97, 98, 99]))),
            sha256Subtle: hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"))),
            md5NoData: await attempt(() => crypto.subtle.digest("MD5")),
            global: typeof globalThis.DigestStream,
            writable: new crypto.DigestStream("MD5") instanceof WritableStream,
        };"#)
    .await;
    let sha256_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let md5_abc = "900150983cd24fb0d6963f7d28e17f72";
    assert_eq!(out["sha256"], serde_json::json!([sha256_abc, 3]));
    assert_eq!(
        out["sha1"],
        serde_json::json!(["a9993e364706816aba3e25717850c26c9cd0d89d", 3])
    );
    assert_eq!(out["md5"], serde_json::json!([md5_abc, 3]));
    assert_eq!(
        out["sha512"],
        serde_json::json!([
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            0
        ])
    );
    assert_eq!(out["pipedMatches"], true, "{out}");
    assert_eq!(out["pipedBytes"], 2 << 20);
    assert_eq!(out["aborted"], "RangeError: stop");
    let byte_stream = "TypeError: DigestStream is a byte stream but received an object of \
                       non-ArrayBuffer/ArrayBufferView/string type on its writable side.";
    assert_eq!(out["wrongWrite"], byte_stream);
    assert_eq!(out["wrongDigest"], byte_stream);
    assert_eq!(
        out["unknown"],
        "NotSupportedError: Unrecognized or unimplemented digest algorithm requested."
    );
    assert!(
        out["missing"]
            .as_str()
            .is_some_and(|m| m.starts_with("TypeError")),
        "{out}"
    );
    assert_eq!(out["md5Subtle"], md5_abc);
    assert_eq!(out["md5Object"], md5_abc);
    assert_eq!(out["sha256Subtle"], sha256_abc);
    assert!(
        out["md5NoData"]
            .as_str()
            .is_some_and(|m| m.starts_with("TypeError")),
        "{out}"
    );
    assert_eq!(out["global"], "undefined");
    assert_eq!(out["writable"], true);
}

/// Every way a script can compile a string, each reported as what it threw (or returned).
const CODEGEN_PROBE: &str = r#"
const atLoad = attempt(() => eval("1 + 1"));
const savedEval = globalThis.eval;
function attempt(f) {
    try { return { value: f() }; } catch (e) { return { name: e.name, message: e.message }; }
}
export default { fetch() {
    const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
    const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
    const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;
    return Response.json({
        atLoad,
        direct: attempt(() => eval("1 + 1")),
        indirect: attempt(() => (0, eval)("1 + 1")),
        saved: attempt(() => savedEval("1 + 1")),
        notAString: attempt(() => eval(42)),
        newFunction: attempt(() => new Function("return 1")()),
        callFunction: attempt(() => Function("return 1")()),
        emptyFunction: attempt(() => new Function()),
        async: attempt(() => AsyncFunction("return 1")),
        generator: attempt(() => GeneratorFunction("yield 1")),
        asyncGenerator: attempt(() => AsyncGeneratorFunction("yield 1")),
        stringTimeout: attempt(() => setTimeout("globalThis.ran = true", 0)),
        stringInterval: attempt(() => setInterval("globalThis.ran = true", 1000)),
        functionTimeout: attempt(() => typeof setTimeout(() => {}, 0)),
        json: attempt(() => JSON.parse("[1]")[0]),
    });
} };"#;

#[tokio::test]
async fn code_generation_from_strings_is_refused_as_workers_refuses_it() {
    let node = start(&[("codegen", CODEGEN_PROBE)]).await;
    let (status, body) = node.get("codegen", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("json");
    let refused = serde_json::json!({
        "name": "EvalError",
        "message": "Code generation from strings disallowed for this context",
    });
    for case in [
        "atLoad",
        "direct",
        "indirect",
        "saved",
        "newFunction",
        "callFunction",
        "emptyFunction",
        "async",
        "generator",
        "asyncGenerator",
    ] {
        assert_eq!(out[case], refused, "{case}");
    }
    assert_eq!(out["notAString"], serde_json::json!({ "value": 42 }));
    for (case, method) in [
        ("stringTimeout", "setTimeout"),
        ("stringInterval", "setInterval"),
    ] {
        assert_eq!(
            out[case],
            serde_json::json!({
                "name": "TypeError",
                "message": format!(
                    "Failed to execute '{method}' on 'ServiceWorkerGlobalScope': parameter 1 is \
                     not of type 'function'."
                ),
            }),
            "{case}"
        );
    }
    assert_eq!(
        out["functionTimeout"],
        serde_json::json!({ "value": "number" })
    );
    assert_eq!(out["json"], serde_json::json!({ "value": 1 }));
}

#[tokio::test]
async fn a_node_told_to_lets_tenants_compile_strings() {
    let node = start_with(script_dir(&[("codegen", CODEGEN_PROBE)]), |config| {
        config.isolate_limits.code_from_strings = true;
    })
    .await;
    let (status, body) = node.get("codegen", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("json");
    for case in ["atLoad", "direct", "indirect", "saved"] {
        assert_eq!(out[case], serde_json::json!({ "value": 2 }), "{case}");
    }
    assert_eq!(out["newFunction"], serde_json::json!({ "value": 1 }));
    assert!(out["stringTimeout"]["value"].is_number(), "{out}");
}

#[tokio::test]
async fn identity_and_fixed_length_streams_and_read_at_least() {
    let out = run(r#"
        const attempt = async (f) => {
            try { await f(); return "ok"; } catch (e) { return `${e.name}: ${e.message}`; }
        };
        const identity = new IdentityTransformStream();
        const writer = identity.writable.getWriter();
        writer.write(new Uint8Array([1, 2, 3]));
        writer.write(new Uint16Array([0x0504]).buffer);
        writer.close();
        const passed = new Uint8Array(await new Response(identity.readable).arrayBuffer());
        const wrongType = new IdentityTransformStream();
        wrongType.readable.pipeTo(new WritableStream()).catch(() => {});
        const stringWrite = await attempt(() => wrongType.writable.getWriter().write("text"));

        const tooMany = new FixedLengthStream(2);
        const tooManyWriter = tooMany.writable.getWriter();
        tooMany.readable.pipeTo(new WritableStream()).catch(() => {});
        const overflow = await attempt(() => tooManyWriter.write(new Uint8Array(3)));
        const tooFew = new FixedLengthStream(5);
        const tooFewWriter = tooFew.writable.getWriter();
        tooFew.readable.pipeTo(new WritableStream()).catch(() => {});
        await tooFewWriter.write(new Uint8Array(2));
        const early = await attempt(() => tooFewWriter.close());

        // 12 bytes, 3 at a time; then the end (a pending BYOB read is answered with 0 bytes).
        let pulls = 0;
        const bytes = new ReadableStream({
            type: "bytes",
            pull(controller) {
                if (++pulls <= 4) return controller.enqueue(new Uint8Array([7, 7, 7]));
                controller.close();
                controller.byobRequest?.respond(0);
            },
        });
        const reader = bytes.getReader({ mode: "byob" });
        const atLeast = await reader.readAtLeast(8, new Uint8Array(16));
        const rest = await reader.readAtLeast(4, new Uint8Array(16));
        const done = await reader.readAtLeast(1, new Uint8Array(4));
        const fresh = () => new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" });
        return {
            passed: [...passed],
            identityIsTransform: identity instanceof TransformStream,
            fixedIsIdentity: tooMany instanceof IdentityTransformStream,
            stringWrite,
            overflow,
            early,
            negative: await attempt(() => new FixedLengthStream(-1)),
            tooLong: await attempt(() => new FixedLengthStream(2 ** 53)),
            missing: await attempt(() => new FixedLengthStream()),
            bigint: await attempt(() => new FixedLengthStream(3n)),
            atLeast: atLeast.value.length >= 8 && !atLeast.done,
            rest: [rest.value.length, rest.done],
            done: [done.value.length, done.done],
            minZero: await attempt(() => fresh().readAtLeast(0, new Uint8Array(4))),
            minTooBig: await attempt(() => fresh().readAtLeast(5, new Uint8Array(4))),
            minTooBigWide: await attempt(() => fresh().readAtLeast(3, new Uint32Array(2))),
            emptyView: await attempt(() => fresh().readAtLeast(1, new Uint8Array(0))),
        };"#)
    .await;
    assert_eq!(out["passed"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(out["identityIsTransform"], true);
    assert_eq!(out["fixedIsIdentity"], true);
    assert_eq!(
        out["stringWrite"],
        "TypeError: This TransformStream is being used as a byte stream, but received an object \
         of non-ArrayBuffer/ArrayBufferView type on its writable side."
    );
    assert_eq!(
        out["overflow"],
        "TypeError: Attempt to write too many bytes through a FixedLengthStream."
    );
    assert_eq!(
        out["early"],
        "TypeError: FixedLengthStream did not see all expected bytes before close()."
    );
    let bad_length =
        "TypeError: FixedLengthStream requires an integer expected length less than 2^53.";
    assert_eq!(out["negative"], bad_length);
    assert_eq!(out["tooLong"], bad_length);
    assert!(
        out["missing"]
            .as_str()
            .is_some_and(|s| s.starts_with("TypeError")),
        "{out}"
    );
    assert_eq!(out["bigint"], "ok");
    assert_eq!(out["atLeast"], true, "{out}");
    // Three bytes were left when the stream ended: fewer than asked, and the end.
    assert_eq!(out["rest"], serde_json::json!([3, true]), "{out}");
    assert_eq!(out["done"], serde_json::json!([0, true]), "{out}");
    assert_eq!(
        out["minZero"],
        "TypeError: Requested invalid minimum number of bytes to read (0)."
    );
    assert_eq!(
        out["minTooBig"],
        "TypeError: Minimum bytes to read (5) exceeds size of buffer (4)."
    );
    assert_eq!(
        out["minTooBigWide"],
        "TypeError: Minimum bytes to read (12) exceeds size of buffer (8)."
    );
    assert_eq!(
        out["emptyView"],
        "TypeError: You must call read() on a \"byob\" reader with a positive-sized TypedArray object."
    );
}

#[tokio::test]
async fn a_fixed_length_stream_body_carries_its_content_length() {
    let node = start(&[(
        "fixed",
        r#"export default { fetch(request) {
            const path = new URL(request.url).pathname;
            const { readable, writable } = new FixedLengthStream(10000);
            const writer = writable.getWriter();
            (async () => {
                for (let i = 0; i < 10; i++) {
                    if (path === "/short" && i === 5) return writer.abort(new Error("cut"));
                    await writer.write(new Uint8Array(1000).fill(65 + i));
                }
                await writer.close();
            })();
            return new Response(readable);
        } };"#,
    )])
    .await;
    let client = node.client(&["fixed"]);
    let res = client
        .get(node.url("fixed", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-length")
            .map(|v| v.to_str().expect("ascii")),
        Some("10000")
    );
    assert!(res.headers().get("transfer-encoding").is_none());
    let body = res.bytes().await.expect("body");
    assert_eq!(body.len(), 10000);
    assert_eq!(body[9999], b'J');
    // A stream that breaks off before its length cannot pass for a whole body.
    let cut = match client.get(node.url("fixed", "/short")).send().await {
        Ok(short) => short.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(cut, "the client sees the body cut");
}

#[tokio::test]
async fn errors_survive_structured_clone_as_html_serializes_them() {
    let out = run(r#"
        const attempt = (f) => { try { return f(); } catch (e) { return `${e.name}: ${e.message}`; } };
        class Mine extends RangeError {}
        class Impostor extends Error { get name() { return "TypeError"; } }
        const renamed = new Error("p");
        renamed.name = "SyntaxError";
        const unknown = new Error("q");
        unknown.name = "NotAnError";
        const accessor = new Error();
        Object.defineProperty(accessor, "message", { get() { return "secret"; } });
        const shape = (e) => attempt(() => {
            const c = structuredClone(e);
            return [
                Object.getPrototypeOf(c) === globalThis[c.name].prototype ? c.name : "other",
                Object.hasOwn(c, "message") ? c.message : null,
                typeof c.stack,
                c === e,
            ];
        });
        const outer = structuredClone(new Error("outer", { cause: new TypeError("inner") }));
        const nested = structuredClone({ list: [new ReferenceError("deep")] });
        return {
            plain: shape(new TypeError("boom")),
            subclass: shape(new Mine("x")),
            impostor: shape(new Impostor("n")),
            renamed: shape(renamed),
            unknown: shape(unknown),
            noMessage: shape(new URIError()),
            accessor: shape(accessor),
            evalError: shape(new EvalError("e")),
            cause: [outer.message, outer.cause instanceof TypeError, outer.cause.message],
            nested: [nested.list[0] instanceof ReferenceError, nested.list[0].message],
            domException: attempt(() => structuredClone(new DOMException("d", "AbortError")).name),
        };"#)
    .await;
    assert_eq!(
        out["plain"],
        serde_json::json!(["TypeError", "boom", "string", false])
    );
    // The name decides the class, never the prototype: a subclass clones as its base...
    assert_eq!(
        out["subclass"],
        serde_json::json!(["RangeError", "x", "string", false])
    );
    // ...and a name the value claims picks the built-in class of that name, nothing else.
    assert_eq!(
        out["impostor"],
        serde_json::json!(["TypeError", "n", "string", false])
    );
    assert_eq!(
        out["renamed"],
        serde_json::json!(["SyntaxError", "p", "string", false])
    );
    assert_eq!(
        out["unknown"],
        serde_json::json!(["Error", "q", "string", false])
    );
    assert_eq!(
        out["noMessage"],
        serde_json::json!(["URIError", null, "string", false])
    );
    // A message behind an accessor is not a data property: it stays behind.
    assert_eq!(
        out["accessor"],
        serde_json::json!(["Error", null, "string", false])
    );
    assert_eq!(
        out["evalError"],
        serde_json::json!(["EvalError", "e", "string", false])
    );
    assert_eq!(out["cause"], serde_json::json!(["outer", true, "inner"]));
    assert_eq!(out["nested"], serde_json::json!([true, "deep"]));
    assert_eq!(out["domException"], "AbortError");
}

#[tokio::test]
async fn errors_clone_inside_maps_and_sets_and_keep_shared_objects_shared() {
    let out = run(r#"
        const attempt = (f) => { try { return f(); } catch (e) { return `${e.name}: ${e.message}`; } };
        const error = new TypeError("shared");
        const map = structuredClone(new Map([["e", new RangeError("in a map")], [new Error("as a key"), 1]]));
        const [key] = [...map.keys()].slice(1);
        const set = structuredClone(new Set([new SyntaxError("in a set"), 2]));
        const both = structuredClone({ a: error, b: error, list: [error] });
        const cyclic = { error };
        cyclic.self = cyclic;
        cyclic.map = new Map([["back", cyclic]]);
        const cycle = attempt(() => {
            const c = structuredClone(cyclic);
            return [c.self === c, c.map.get("back") === c, c.error instanceof TypeError];
        });
        // A chain of 40 objects that each point twice at the next: 2^40 paths, 80 objects.
        let chain = { error };
        for (let i = 0; i < 40; i++) chain = { left: chain, right: chain };
        const shared = attempt(() => {
            let c = structuredClone(chain);
            let depth = 0;
            while (c.left !== undefined) {
                if (c.left !== c.right) return "copied apart";
                c = c.left;
                depth += 1;
            }
            return [depth, c.error.message];
        });
        let deep = {};
        for (let i = 0; i < 20000; i++) deep = { deep };
        const tooDeep = attempt(() => structuredClone({ error, deep }) && "cloned");
        let bottom = { error };
        for (let i = 0; i < 20000; i++) bottom = { bottom };
        const tooDeepAlone = attempt(() => structuredClone(bottom) && "cloned");
        // Map.prototype is the tenant's: changing it changes nothing that is cloned.
        const entries = Map.prototype.entries;
        Map.prototype.entries = Map.prototype[Symbol.iterator] = function* () { yield ["forged", 1]; };
        const patched = attempt(() => [...entries.call(structuredClone(new Map([["real", error]])))].map(([k]) => k));
        Map.prototype.entries = Map.prototype[Symbol.iterator] = entries;
        return {
            map: [map.get("e") instanceof RangeError, map.get("e").message, key instanceof Error, key.message, map.get(key)],
            set: [...set].map((v) => v instanceof SyntaxError ? `SyntaxError ${v.message}` : v),
            both: [both.a === both.b, both.list[0] === both.a, both.a instanceof TypeError, both.a === error],
            cycle,
            shared,
            tooDeep,
            tooDeepAlone,
            patched,
        };"#)
    .await;
    assert_eq!(
        out["map"],
        serde_json::json!([true, "in a map", true, "as a key", 1])
    );
    assert_eq!(out["set"], serde_json::json!(["SyntaxError in a set", 2]));
    assert_eq!(out["both"], serde_json::json!([true, true, true, false]));
    assert_eq!(out["cycle"], serde_json::json!([true, true, true]));
    // Each object is written once: without that the walk follows every path, past any CPU limit.
    assert_eq!(out["shared"], serde_json::json!([40, "shared"]));
    // Nesting the walk cannot follow on the thread's stack is refused, not a crashed node:
    // by the walk itself once an Error has put it to work...
    assert_eq!(
        out["tooDeep"],
        "DataCloneError: The value is nested too deeply to be cloned."
    );
    // ...and by the engine's own writer when the Error lies past the depth the walk looks.
    assert_eq!(
        out["tooDeepAlone"],
        "RangeError: Maximum call stack size exceeded"
    );
    assert_eq!(out["patched"], serde_json::json!(["real"]));
}

/// The dispatcher awaits what a handler returns, as workerd does: a Response, a promise, a
/// thenable, a Response given a `then`; what the handler queued runs before the response is
/// read. Anything that is not a Response in the end, or a throw, is a 500.
#[tokio::test]
async fn a_handler_is_answered_whatever_it_returns() {
    let source = r#"
        export default {
            fetch(request) {
                const path = new URL(request.url).pathname;
                if (path === "/now") return new Response("now");
                if (path === "/promise") return Promise.resolve(new Response("promise"));
                if (path === "/thenable") {
                    return { then(resolve) { resolve(new Response("thenable")); } };
                }
                if (path === "/response-then") {
                    const response = new Response("not this one");
                    response.then = (resolve) => resolve(new Response("its then"));
                    return response;
                }
                if (path === "/queued") {
                    const response = new Response("queued", { headers: { "x-a": "1" } });
                    Promise.resolve().then(() => response.headers.set("x-b", "2"));
                    return response;
                }
                if (path === "/string") return "a string";
                if (path === "/rejects") return Promise.reject(new Error("no"));
                throw new Error("thrown");
            },
        };"#;
    let node = start(&[("shapes", source)]).await;
    for (path, status, body) in [
        ("/now", 200, "now"),
        ("/promise", 200, "promise"),
        ("/thenable", 200, "thenable"),
        ("/response-then", 200, "its then"),
        ("/string", 500, "Internal Server Error\n"),
        ("/rejects", 500, "Internal Server Error\n"),
        ("/throws", 500, "Internal Server Error\n"),
    ] {
        assert_eq!(
            node.get("shapes", path).await,
            (status, body.to_string()),
            "{path}"
        );
    }
    // What the handler queued before it returned runs before the response is read, as in
    // workerd: the header set by a microtask goes out.
    let res = node
        .client(&["shapes"])
        .get(node.url("shapes", "/queued"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers().get("x-b").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );
    assert_eq!(res.text().await.expect("body"), "queued");
}
