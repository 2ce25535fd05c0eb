//! Why Skiff fails a subtest, in one line. The expectation files list each expected failure with
//! a reason that names its cause (an engine or deno extension limitation, something a worker
//! does not have, something the runner does not provide), not the harness's raw message.
//!
//! Reasons are derived by [`RULES`]: a table of rules over the WPT directory, the test file (with
//! its variant), the subtest name and the failure message; the first rule whose conditions all
//! hold gives the reason. `--update-expectations` derives the reason of every new failure this
//! way and keeps the reasons already written; `skiff-conformance --reasons` rewrites raw
//! messages in the expectation files into reasons and prints how many entries each reason has.
//! A failure no rule explains is written as [`UNCLASSIFIED`] followed by its message, so that a
//! later `--reasons` run can classify it once a rule is added.
//!
//! Reasons never affect how a run is judged: an expected failure is one that is listed, whatever
//! its reason says.

use std::collections::BTreeMap;

use crate::expectations::Expectations;

/// The prefix of a failure that no rule explains; the failure message follows it.
pub const UNCLASSIFIED: &str = "unclassified: ";

/// One rule: every non-empty condition must hold. `directory` is compared exactly, the others
/// are substrings (of the file key with its variant, the subtest name, the failure message).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub directory: &'static str,
    pub file: &'static str,
    pub subtest: &'static str,
    pub message: &'static str,
    pub reason: &'static str,
}

impl Rule {
    fn matches(&self, directory: &str, file: &str, subtest: &str, message: &str) -> bool {
        (self.directory.is_empty() || self.directory == directory)
            && file.contains(self.file)
            && subtest.contains(self.subtest)
            && message.contains(self.message)
    }
}

const fn rule(
    directory: &'static str,
    file: &'static str,
    subtest: &'static str,
    message: &'static str,
    reason: &'static str,
) -> Rule {
    Rule {
        directory,
        file,
        subtest,
        message,
        reason,
    }
}

// Causes shared by several rules.
const NO_ED448: &str = "deno_crypto has no Ed448 (it has X448)";
const OUTPUT_LENGTH: &str = "deno_crypto's KMAC and cSHAKE (tentative) require the draft's older `outputLength` member; the tests pass `length`";
const NO_BASE_URL: &str = "workers have no base URL (no `self.location`), so a relative URL in Request() or Response.redirect() throws";
const NO_PYTHON: &str =
    "needs WPT's Python handlers (wptserve), which the runner's static file server does not run";
const XHR: &str = "no XMLHttpRequest in workers (the test uses it to check the encoding)";
const EC_IMPORT: &str = "deno_crypto's EC importKey accepts keys the spec rejects (wrong length for the curve, missing or mismatched JWK `crv`)";
const OKP_IMPORT: &str = "deno_crypto's Ed25519/X25519/X448 JWK import checks neither `x` against `d` nor the case of `alg`";
const EVENT_LEGACY: &str = "deno_web's Event has timeStamp 0 and no legacy initEvent()";
const BYTE_STREAMS: &str = "deno_web's readable byte streams do not check for detached or non-transferable (WebAssembly.Memory) buffers";
const TRANSFER: &str = "transferring an ArrayBuffer with postMessage fails in deno_web's MessagePort on the QuickJS engine layer (serde_v8), so the test cannot detach a buffer";

/// The rules, most specific first.
pub const RULES: &[Rule] = &[
    // WebCryptoAPI
    rule("WebCryptoAPI", "", "Ed448", "", NO_ED448),
    rule("WebCryptoAPI", "", "ed448", "", NO_ED448),
    rule("WebCryptoAPI", "", "ED448", "", NO_ED448),
    // The failure message is cut before the member's name; the file and its start say it.
    rule(
        "WebCryptoAPI",
        "kmac",
        "",
        "Failed to execute 'call' on 'SubtleCrypto'",
        OUTPUT_LENGTH,
    ),
    rule(
        "WebCryptoAPI",
        "cshake",
        "",
        "Failed to execute 'call' on 'SubtleCrypto'",
        OUTPUT_LENGTH,
    ),
    rule(
        "WebCryptoAPI",
        "aes_gcm_256_iv",
        "",
        "Initialization vector length not supported",
        "deno_crypto's AES-GCM does not take 256-bit IVs",
    ),
    rule(
        "WebCryptoAPI",
        "aes_gcm",
        "",
        "invalid tag length",
        "deno_crypto's AES-GCM decrypt rejects tags shorter than 128 bits",
    ),
    rule(
        "WebCryptoAPI",
        "ec_importKey_failures",
        "",
        "Operation succeeded",
        EC_IMPORT,
    ),
    rule(
        "WebCryptoAPI",
        "okp_importKey_failures",
        "",
        "Operation succeeded",
        OKP_IMPORT,
    ),
    rule(
        "WebCryptoAPI",
        "",
        "Good parameters with JWK alg",
        "Correct number of JWK members",
        "deno_crypto's Ed25519 JWK export drops the `alg` member the key was imported with",
    ),
    rule(
        "WebCryptoAPI",
        "derived_bits_length",
        "230",
        "",
        "deno_crypto does not zero the unused bits of a derivation whose length is not a multiple of 8",
    ),
    rule(
        "WebCryptoAPI",
        "eddsa_small_order_points",
        "",
        "",
        "deno_crypto's Ed25519 verify accepts signatures for small-order public keys, which the spec rejects",
    ),
    rule(
        "WebCryptoAPI",
        "ecdsa",
        "P-384 with SHA-1",
        "",
        "deno_crypto's ECDSA cannot sign or verify P-384 keys with SHA-1",
    ),
    rule(
        "WebCryptoAPI",
        "getRandomValues",
        "",
        "assert_throws_quotaexceedederror",
        "deno_web has no QuotaExceededError interface; getRandomValues throws a DOMException named QuotaExceededError",
    ),
    rule(
        "WebCryptoAPI",
        "historical",
        "Non-secure context",
        "",
        "the runner serves tests over http://, but workers expose crypto.subtle everywhere",
    ),
    // url
    rule(
        "url",
        "",
        "U+d800",
        "",
        "the engine layer hands a string with a lone surrogate to Rust (the URL parser) with three U+FFFD for it; the spec's USVString conversion makes one",
    ),
    // urlpattern
    rule(
        "urlpattern",
        "urlpattern-compare",
        "",
        "not a function",
        "Skiff's URLPattern (on deno_web's urlpattern ops) has no URLPattern.compareComponent (a tentative addition)",
    ),
    rule(
        "urlpattern",
        "urlpattern-generate",
        "",
        "not a function",
        "Skiff's URLPattern (on deno_web's urlpattern ops) has no generate() (a tentative addition)",
    ),
    // html/webappapis
    rule(
        "html/webappapis/structured-clone",
        "",
        "Array with non-index property",
        "",
        "the QuickJS engine layer's serializer (its stand-in for V8's ValueSerializer) drops an array's non-index properties",
    ),
    // encoding
    rule("encoding", "", "", "XMLHttpRequest", XHR),
    rule(
        "encoding",
        "",
        "",
        "serde_v8 error: invalid type; expected: integer, got: ArrayBuffer",
        TRANSFER,
    ),
    // compression
    rule(
        "compression",
        "decompression-extra-input",
        "",
        "",
        "deno_web's DecompressionStream fails a chunk with bytes after the end of the data instead of giving the output first, then erroring",
    ),
    // dom
    rule(
        "dom/abort",
        "timeout-shadowrealm",
        "",
        "",
        "a ShadowRealm-only test (no AbortSignal.timeout there); the runner runs shadowrealm tests in a worker, where it exists",
    ),
    rule("dom/events", "Event-constructors", "", "", EVENT_LEGACY),
    rule(
        "dom/events",
        "Event-isTrusted",
        "",
        "",
        "deno_web defines Event.isTrusted on the prototype, not as the spec's unforgeable own property",
    ),
    // streams
    rule(
        "streams",
        "",
        "",
        "VideoFrame",
        "no VideoFrame (WebCodecs) in workers",
    ),
    rule(
        "streams",
        "general-addition",
        "",
        "",
        "deno_web's pipeTo() runs the write algorithm synchronously inside enqueue()",
    ),
    rule(
        "streams",
        "enqueue-with-detached-buffer",
        "",
        "",
        BYTE_STREAMS,
    ),
    rule("streams", "non-transferable-buffers", "", "", BYTE_STREAMS),
    rule(
        "streams",
        "patched-global",
        "byobRequest",
        "",
        "deno_web's byte streams leave byobRequest set after filling all pending pull-intos when then() is patched",
    ),
    rule(
        "streams",
        "readable-streams/from",
        "accepts a string",
        "",
        "deno_web's ReadableStream.from() rejects strings (its async-sequence conversion predates the spec accepting them)",
    ),
    rule(
        "streams",
        "transform-streams/cancel",
        "",
        "",
        "deno_web's TransformStream lets writable.close() succeed when transformer.cancel() errors the stream",
    ),
    rule(
        "streams",
        "owning-type",
        "",
        "",
        "deno_web's streams have no `type: \"owning\"` ReadableStream (a tentative addition)",
    ),
    // fetch
    rule(
        "fetch/api/abort",
        "",
        "",
        "caches is not defined",
        "no Cache API (`caches`) in Skiff",
    ),
    rule(
        "fetch/api/abort",
        "general",
        "Already aborted signal rejects immediately",
        "",
        "deno_fetch rejects a fetch() with an already aborted signal a microtask later than the spec",
    ),
    rule(
        "fetch/api/abort",
        "general",
        "TypeError from request constructor takes priority",
        "",
        "deno_fetch checks the abort signal before validating the rest of RequestInit (window, no-cors method)",
    ),
    rule("", "", "", "from wptserve", NO_PYTHON),
    rule(
        "fetch/api/headers",
        "header-values-normalize",
        "",
        "but got (object) null",
        NO_PYTHON,
    ),
    rule("fetch/api/response", "response-clone", "", "", NO_PYTHON),
    rule("", "", "", "unexpected token: 'from'", NO_PYTHON),
    rule("", "request-cache", "", "", NO_PYTHON),
    rule("", "", "", "Invalid URL: ''", NO_BASE_URL),
    rule("", "", "", "Invalid URL: '.'", NO_BASE_URL),
    rule("", "", "", "Invalid URL: '..", NO_BASE_URL),
    rule("", "", "", "Invalid URL: '/'", NO_BASE_URL),
    rule("", "", "", "Invalid URL: 'test'", NO_BASE_URL),
    rule(
        "fetch/api/headers",
        "header-values",
        "",
        "failed to parse header value",
        "deno_fetch sends headers through the http crate, which rejects control bytes the spec allows in values",
    ),
    rule(
        "fetch/api/headers",
        "headers-no-cors",
        "",
        "",
        "deno_fetch's Headers has no \"request-no-cors\" guard (CORS-safelisted names and value lengths)",
    ),
    rule(
        "fetch/api/headers",
        "header-setcookie",
        "forbidden response header",
        "",
        "server-side fetch() shows Set-Cookie response headers, as workers need them; browsers filter them",
    ),
    rule(
        "fetch/api/request",
        "request-error",
        "credentials",
        "",
        "deno_fetch's Request accepts a URL with credentials; the spec throws a TypeError",
    ),
    rule(
        "fetch/api/response",
        "response-consume-empty",
        "FormData",
        "",
        "deno_fetch serializes an empty FormData as a closing multipart boundary; the spec's body is empty",
    ),
    rule(
        "fetch/api/response",
        "",
        "",
        "Cannot use a BYOB reader with a non-byte stream",
        "deno_fetch's Response bodies are not byte streams, so getReader({ mode: \"byob\" }) throws",
    ),
    rule(
        "fetch/api/response",
        "response-stream-with-broken-then",
        "",
        "",
        "deno_fetch reads bodies through promises of read results, so a patched Object.prototype.then intercepts them",
    ),
];

/// The reason for a failing subtest, or `None` when no rule explains it.
pub fn classify(directory: &str, file: &str, subtest: &str, message: &str) -> Option<&'static str> {
    RULES
        .iter()
        .find(|rule| rule.matches(directory, file, subtest, message))
        .map(|rule| rule.reason)
}

/// Whether an expectation's value is a harness message rather than a reason: what
/// `--update-expectations` wrote before reasons existed, or an unclassified failure.
pub fn is_raw(value: &str) -> bool {
    value.starts_with(UNCLASSIFIED)
        || ["FAIL", "TIMEOUT", "ERROR", "NOTRUN", "PRECONDITION_FAILED"]
            .iter()
            .any(|status| value == *status || value.starts_with(&format!("{status}: ")))
}

/// Whether a reason is one the table gives (and so is re-derived rather than kept as written).
pub fn is_derived(value: &str) -> bool {
    RULES.iter().any(|rule| rule.reason == value)
}

/// The reason to record for a failure with this message: a rule's, or [`UNCLASSIFIED`] and the
/// message.
pub fn reason_for(directory: &str, file: &str, subtest: &str, message: &str) -> String {
    let message = message.strip_prefix(UNCLASSIFIED).unwrap_or(message);
    match classify(directory, file, subtest, message) {
        Some(reason) => reason.to_string(),
        None => format!("{UNCLASSIFIED}{message}"),
    }
}

/// Rewrites every raw message in `expectations` into a reason; hand-written reasons stay.
/// Returns how many entries changed.
pub fn rewrite(directory: &str, expectations: &mut Expectations) -> usize {
    let mut changed = 0;
    for (file, listed) in expectations.iter_mut() {
        for (subtest, value) in listed.iter_mut() {
            if is_raw(value) {
                let reason = reason_for(directory, file, subtest, value);
                if reason != *value {
                    *value = reason;
                    changed += 1;
                }
            }
        }
    }
    changed
}

/// How many entries each reason has, most frequent first.
pub fn tally<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for value in values {
        let key = if value.starts_with(UNCLASSIFIED) {
            UNCLASSIFIED.trim_end_matches([':', ' ']).to_string()
        } else {
            value.to_string()
        };
        *counts.entry(key).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_on_every_condition_and_the_first_wins() {
        assert_eq!(
            classify(
                "WebCryptoAPI",
                "generateKey/failures_Ed448.https.any.js",
                "Bad usages: generateKey({name: Ed448}, true, [wrapKey])",
                "FAIL: assert_equals: Bad usages not supported",
            ),
            Some(NO_ED448)
        );
        assert_eq!(
            classify(
                "fetch/api/request",
                "request-error.any.js",
                "x",
                "FAIL: Invalid URL: ''"
            ),
            Some(NO_BASE_URL)
        );
        // The directory must match exactly: the same message elsewhere is not this cause.
        assert_eq!(
            classify(
                "dom/events",
                "urlpattern-compare.tentative.any.js",
                "x",
                "FAIL: not a function"
            ),
            None
        );
    }

    #[test]
    fn raw_messages_become_reasons_and_written_reasons_stay() {
        let mut expectations = Expectations::new();
        let listed = expectations
            .entry("urlpattern-compare.tentative.any.js".to_string())
            .or_default();
        listed.insert("Component: hash".into(), "FAIL: not a function".into());
        listed.insert("mystery".into(), "FAIL: something new".into());
        listed.insert("known".into(), "a reason someone wrote".into());
        assert_eq!(rewrite("urlpattern", &mut expectations), 2);
        let listed = &expectations["urlpattern-compare.tentative.any.js"];
        assert!(
            listed["Component: hash"]
                .starts_with("Skiff's URLPattern (on deno_web's urlpattern ops) has no")
        );
        assert_eq!(listed["mystery"], "unclassified: FAIL: something new");
        assert_eq!(listed["known"], "a reason someone wrote");
        // An unclassified entry keeps its message, so a later rule can classify it.
        assert!(is_raw(&listed["mystery"]));
        assert!(!is_raw(&listed["known"]));
        // Ties in the tally are in name order; unclassified entries count under one name.
        let tallied = tally(listed.values().map(String::as_str));
        let names: Vec<&str> = tallied.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                listed["Component: hash"].as_str(),
                "a reason someone wrote",
                "unclassified"
            ]
        );
    }

    #[test]
    fn statuses_alone_are_raw() {
        assert!(is_raw("TIMEOUT"));
        assert!(is_raw("TIMEOUT: Test timed out"));
        assert!(!is_raw("TIMEOUTS happen when ..."));
        assert!(is_derived(OUTPUT_LENGTH));
        assert!(!is_derived("FAIL: x"));
    }
}
