// The parts of deno's extensions that make up the tenant global scope. They are lazily loaded
// scripts: each is loaded here, in dependency order, and its exports passed on to the files
// that build the global scope.

import { core, internals, primordials } from "ext:core/mod.js";

// 26_fetch.js reads deno_telemetry's helpers from `internals`; with these in place it never
// loads the TypeScript telemetry modules. Skiff traces requests on the Rust side instead.
internals.__telemetry ??= {
  TRACING_ENABLED: false,
  PROPAGATORS: [],
  DID_NOT_ENTER: {},
  builtinTracer: () => undefined,
  enterSpan: () => undefined,
  exitSpan: () => {},
  ContextManager: { active: () => undefined },
};
internals.__telemetryUtil ??= {
  updateSpanFromClientResponse: () => {},
  updateSpanFromError: () => {},
  updateSpanFromRequest: () => {},
};

const load = (specifier) => core.loadExtScript(specifier);
export const webidl = load("ext:deno_webidl/00_webidl.js");
// webidl's ByteString check loops over the string in JavaScript, about 0.2 us a character in
// this engine's interpreter, for every header name and value a worker sets; one regexp test
// gives the same answer and the same error. Set here, before the scripts below take it.
{
  const { RegExpPrototypeTest, SafeRegExp, TypeError } = primordials;
  const notAByte = new SafeRegExp("[^\\x00-\\xff]");
  const domString = webidl.converters.DOMString;
  webidl.converters.ByteString = (V, prefix, context, opts) => {
    const x = domString(V, prefix, context, opts);
    if (RegExpPrototypeTest(notAByte, x)) {
      throw webidl.makeException(TypeError, "is not a valid ByteString", prefix, context);
    }
    return x;
  };
}
export const url = load("ext:deno_web/00_url.js");
// Registers the webidl converters of URLPattern (03_urlpattern.js uses them).
load("ext:deno_web/01_urlpattern.js");
export const consoleMod = load("ext:deno_web/01_console.js");
export const domException = load("ext:deno_web/01_dom_exception.js");
export const mimesniff = load("ext:deno_web/01_mimesniff.js");
export const event = load("ext:deno_web/02_event.js");
// Errors raised by deno's Rust code travel by class name; map the DOMException ones to real
// DOMExceptions (atob's InvalidCharacterError, WebCrypto's NotSupportedError, ...).
for (
  const name of [
    "DataError",
    "IndexSizeError",
    "InvalidAccessError",
    "InvalidCharacterError",
    "InvalidStateError",
    "NotSupportedError",
    "OperationError",
    "QuotaExceededError",
    "SyntaxError",
    "TypeMismatchError",
  ]
) {
  core.registerErrorBuilder(
    `DOMException${name}`,
    (message) => new domException.DOMException(message, name),
  );
}
export const structuredCloneMod = load("ext:deno_web/02_structured_clone.js");
export const timers = load("ext:deno_web/02_timers.js");
export const abortSignal = load("ext:deno_web/03_abort_signal.js");
export const globalInterfaces = load("ext:deno_web/04_global_interfaces.js");
export const base64 = load("ext:deno_web/05_base64.js");
export const streams = load("ext:deno_web/06_streams.js");
export const encoding = load("ext:deno_web/08_text_encoding.js");
export const file = load("ext:deno_web/09_file.js");
export const messagePort = load("ext:deno_web/13_message_port.js");
export const compression = load("ext:deno_web/14_compression.js");
export const performanceMod = load("ext:deno_web/15_performance.js");
export const headers = load("ext:deno_fetch/20_headers.js");
export const formData = load("ext:deno_fetch/21_formdata.js");
export const body = load("ext:deno_fetch/22_body.js");
export const request = load("ext:deno_fetch/23_request.js");
export const response = load("ext:deno_fetch/23_response.js");
export const fetchMod = load("ext:deno_fetch/26_fetch.js");
export const cryptoMod = load("ext:deno_crypto/00_crypto.js");
