// Skiff's tenant bootstrap: builds the global scope a worker script sees out of deno's
// extension scripts, hides every internal (Deno, __bootstrap, ops), and runs the dispatch loop
// that turns events from the runtime into calls of the tenant's fetch handler.
//
// Everything the dispatcher relies on is captured here, before tenant code runs, so a tenant
// that patches globals or prototypes cannot change how responses leave the isolate.

import { core, internals, primordials } from "ext:core/mod.js";
import {
  op_skiff_config,
  op_skiff_env,
  op_skiff_log,
  op_skiff_log_within,
  op_skiff_next_event,
  op_skiff_respond,
  op_skiff_respond_stream,
  op_skiff_set_tenant_start,
  op_skiff_subrequest_refused,
  op_skiff_take_module,
  op_skiff_wait_until,
} from "ext:core/ops";

const {
  ArrayPrototypePush,
  ArrayPrototypeSplice,
  Error,
  JSONParse,
  MathImul,
  ObjectDefineProperty,
  ObjectFreeze,
  ObjectGetPrototypeOf,
  ObjectPrototypeIsPrototypeOf,
  ObjectSetPrototypeOf,
  Promise,
  PromisePrototypeCatch,
  PromisePrototypeThen,
  PromiseReject,
  PromiseResolve,
  ReflectApply,
  SafeWeakMap,
  String,
  StringPrototypeMatch,
  StringPrototypeToLowerCase,
  TypeError,
  Uint8Array,
  WeakMapPrototypeGet,
  WeakMapPrototypeHas,
  WeakMapPrototypeSet,
} = primordials;

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
const webidl = load("ext:deno_webidl/00_webidl.js");
const url = load("ext:deno_web/00_url.js");
const urlPattern = load("ext:deno_web/01_urlpattern.js");
const consoleMod = load("ext:deno_web/01_console.js");
const domException = load("ext:deno_web/01_dom_exception.js");
const event = load("ext:deno_web/02_event.js");
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
const structuredCloneMod = load("ext:deno_web/02_structured_clone.js");
const timers = load("ext:deno_web/02_timers.js");
const abortSignal = load("ext:deno_web/03_abort_signal.js");
const globalInterfaces = load("ext:deno_web/04_global_interfaces.js");
const base64 = load("ext:deno_web/05_base64.js");
const streams = load("ext:deno_web/06_streams.js");
const encoding = load("ext:deno_web/08_text_encoding.js");
const file = load("ext:deno_web/09_file.js");
const messagePort = load("ext:deno_web/13_message_port.js");
const compression = load("ext:deno_web/14_compression.js");
const performanceMod = load("ext:deno_web/15_performance.js");
const headers = load("ext:deno_fetch/20_headers.js");
const formData = load("ext:deno_fetch/21_formdata.js");
const body = load("ext:deno_fetch/22_body.js");
const request = load("ext:deno_fetch/23_request.js");
const response = load("ext:deno_fetch/23_response.js");
const fetchMod = load("ext:deno_fetch/26_fetch.js");
const cryptoMod = load("ext:deno_crypto/00_crypto.js");

const { InnerBody } = body;
const { fromInnerRequest, newInnerRequest } = request;
const { Response, ResponsePrototype, toInnerResponse } = response;
const { ReadableStreamPrototype, readableStreamForRid, resourceForReadableStream } = streams;
const { Event } = event;

// The node's configuration (subrequest budget, waitUntil budget), read when the runtime is
// given its tenant: a runtime is booted before anyone knows which tenant it will serve.
let config = null;
const EMPTY = new Uint8Array(0);
const LOG_ERROR = 3;

function logError(prefix, error) {
  let text;
  try {
    text = error && typeof error.stack === "string" ? error.stack : String(error);
  } catch {
    text = "<unprintable error>";
  }
  tenantLog(LOG_ERROR, `${prefix}${text}`);
}

// ---------------------------------------------------------------------------------------------
// Invocations. Each incoming request runs in its own async context (see dispatchLoop), whose
// value counts what the request and everything it starts (timers, waitUntil work, promise
// continuations) may still do: subrequests, log bytes, invocations left in its chain. Work
// that runs outside any request (callbacks set up by the script's top level: timers, message
// ports) counts against `outsideRequests`, one budget of the same size for the isolate's whole
// life. Tenant code cannot reach either object, nor the engine's setter of the async context.

const requestContext = new core.AsyncVariable();
const outsideRequests = { subrequests: 0, logBytes: 0, hopsLeft: 0 };

function invocation() {
  return requestContext.get() ?? outsideRequests;
}

// The longest message handed to the log op, in UTF-16 code units: one more than the op keeps
// (131072 bytes), so that it still sees that the message was cut; slicing here spares copying
// a huge string into Rust.
const LOG_MESSAGE_UNITS = 128 * 1024 + 1;

function tenantLog(level, message) {
  const context = invocation();
  if (message.length > LOG_MESSAGE_UNITS) message = StringPrototypeSlice(message, 0, LOG_MESSAGE_UNITS);
  context.logBytes = op_skiff_log_within(level, message, context.logBytes);
}

// ---------------------------------------------------------------------------------------------
// The global scope.

function defineGlobal(name, value) {
  ObjectDefineProperty(globalThis, name, {
    __proto__: null,
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}

function defineGetter(name, get) {
  ObjectDefineProperty(globalThis, name, {
    __proto__: null,
    get,
    enumerable: true,
    configurable: true,
  });
}

// Tenant fetch(): the subrequest budget of the current invocation, the hop header that stops
// loops of workers fetching each other (set here, over any value the tenant gave), then
// deno_fetch, whose permission checks refuse host-local addresses (see outbound.rs).
function fetch(input, init = undefined) {
  const context = invocation();
  context.subrequests += 1;
  if (config === null || context.subrequests > config.subrequestLimit) {
    op_skiff_subrequest_refused();
    const limit = config?.subrequestLimit ?? 0;
    return PromiseReject(
      new TypeError(`Too many subrequests: a request may make at most ${limit} fetch() calls`),
    );
  }
  let outbound;
  try {
    outbound = new request.Request(input, init);
  } catch (error) {
    return PromiseReject(error);
  }
  const headerList = request.toInnerRequest(outbound).headerList;
  for (let i = headerList.length - 1; i >= 0; --i) {
    if (StringPrototypeToLowerCase(headerList[i][0]) === config.hopsHeader) {
      ArrayPrototypeSplice(headerList, i, 1);
    }
  }
  ArrayPrototypePush(headerList, [config.hopsHeader, String(context.hopsLeft)]);
  return PromisePrototypeCatch(fetchMod.fetch(outbound), (error) => {
    // deno's permission check words its refusal for the Deno CLI; say it for workers.
    if (error?.name === "NotCapable") {
      const target = StringPrototypeMatch(error.message, /"([^"]+)"/)?.[1] ?? "that address";
      throw new TypeError(
        `fetch() to ${target} refused: workers cannot reach loopback, private or link-local addresses`,
      );
    }
    throw error;
  });
}

class Navigator {
  get userAgent() {
    return "Skiff/0.1";
  }
}
const navigator = new Navigator();

const tenantConsole = new consoleMod.Console((message, level) => tenantLog(level, message));

// Primordials of the API fixes below (captured before tenant code runs, like those above).
const {
  ArrayBufferPrototypeGetDetached,
  ArrayBufferPrototypeTransfer,
  NumberPrototypeToString,
  ObjectGetOwnPropertyDescriptor,
  ObjectKeys,
  RegExpPrototypeExec,
  SafeRegExp,
  StringPrototypeCharCodeAt,
  StringPrototypeSlice,
  SymbolFor,
  TypedArrayPrototypeSubarray,
} = primordials;

// atob(): the engine layer's base64 decoder behind deno_web's atob also takes the base64url
// alphabet (`-`, `_`); forgiving-base64 decode knows only A-Z a-z 0-9 + / = and ASCII
// whitespace, and throws an InvalidCharacterError for anything else.
const NOT_FORGIVING_BASE64 = /[^A-Za-z0-9+/=\t\n\f\r ]/;

function atob(data) {
  const prefix = "Failed to execute 'atob'";
  webidl.requiredArguments(arguments.length, 1, prefix);
  data = webidl.converters.DOMString(data, prefix, "Argument 1");
  if (RegExpPrototypeExec(NOT_FORGIVING_BASE64, data) !== null) {
    throw new domException.DOMException(
      "Failed to decode base64: invalid character",
      "InvalidCharacterError",
    );
  }
  return base64.atob(data);
}

// URL, URLSearchParams, Headers, Request and Response are not serializable: structuredClone()
// and postMessage() must throw a DataCloneError, wherever in the value they are. deno_core's
// serializer refuses an object that carries its host-object brand without a clone function
// (deno_web's streams are marked so); without it, it copies them as empty plain objects.
for (
  const Interface of [url.URL, url.URLSearchParams, headers.Headers, request.Request, Response]
) {
  ObjectDefineProperty(Interface.prototype, core.hostObjectBrand, {
    __proto__: null,
    value: Interface.name,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

// structuredClone(value, { transfer }): deno_web's structuredClone (02_structured_clone.js)
// takes no options: it neither checks them nor transfers. A transferred ArrayBuffer is handled
// here: the value is cloned (a buffer in it is copied), then each buffer in the list is
// detached, which is all a transfer shows. Anything else in the list (a MessagePort) goes to
// deno_web's MessagePort version, whose way of moving buffers fails on the QuickJS engine layer.
function structuredClone(value, options = undefined) {
  const prefix = "Failed to execute 'structuredClone'";
  webidl.requiredArguments(arguments.length, 1, prefix);
  options = webidl.converters.StructuredSerializeOptions(options, prefix, "Argument 2");
  const transfer = options.transfer;
  if (transfer.length === 0) return structuredCloneMod.structuredClone(value);
  for (let i = 0; i < transfer.length; ++i) {
    const item = transfer[i];
    if (!core.isArrayBuffer(item)) return messagePort.structuredClone(value, options);
    if (ArrayBufferPrototypeGetDetached(item)) {
      throw new domException.DOMException(
        `ArrayBuffer at index ${i} is already detached`,
        "DataCloneError",
      );
    }
    for (let j = 0; j < i; ++j) {
      if (transfer[j] === item) {
        throw new domException.DOMException(
          `ArrayBuffer at index ${i} is already in the transfer list`,
          "DataCloneError",
        );
      }
    }
  }
  const clone = structuredCloneMod.structuredClone(value);
  for (let i = 0; i < transfer.length; ++i) ArrayBufferPrototypeTransfer(transfer[i]);
  return clone;
}

// URL.prototype.origin: deno_web gives a blob: URL the origin of whatever URL its path parses
// as; the spec gives it only that of an http(s) URL, and an opaque origin ("null") otherwise.
{
  const URLPrototype = url.URL.prototype;
  const originDescriptor = ObjectGetOwnPropertyDescriptor(URLPrototype, "origin");
  const denoOrigin = originDescriptor.get;
  const getProtocol = ObjectGetOwnPropertyDescriptor(URLPrototype, "protocol").get;
  const getPathname = ObjectGetOwnPropertyDescriptor(URLPrototype, "pathname").get;
  const accessors = {
    get origin() {
      const origin = ReflectApply(denoOrigin, this, []);
      if (ReflectApply(getProtocol, this, []) !== "blob:") return origin;
      let inner;
      try {
        inner = new url.URL(ReflectApply(getPathname, this, []));
      } catch {
        return "null";
      }
      const scheme = ReflectApply(getProtocol, inner, []);
      return scheme === "http:" || scheme === "https:" ? origin : "null";
    },
  };
  ObjectDefineProperty(URLPrototype, "origin", {
    __proto__: null,
    get: ObjectGetOwnPropertyDescriptor(accessors, "origin").get,
    set: undefined,
    enumerable: originDescriptor.enumerable,
    configurable: originDescriptor.configurable,
  });
}

// URLPattern on deno_web's pattern parser and match-input processing (its ops), with the
// matching done here: deno_web's own class compiles the component regexps with the `u` flag
// where the spec says `v` (set operations such as `[\d&&[0-1]]`), requires the input of test()
// and exec() where the spec defaults it to `{}`, and reports the group of `:name(.*)` as "0".
// (01_urlpattern.js, loaded above, still registers the webidl converters used here.)
const {
  op_urlpattern_parse: opUrlPatternParse,
  op_urlpattern_process_match_input: opUrlPatternProcessMatchInput,
} = core.ops;
const URL_PATTERN_COMPONENTS = [
  "protocol",
  "username",
  "password",
  "hostname",
  "port",
  "pathname",
  "search",
  "hash",
];
const URL_PATTERN_INSPECTED = [...URL_PATTERN_COMPONENTS, "hasRegExpGroups"];
const urlPatternOffsets = new Uint32Array(9);

function defineData(object, key, value) {
  ObjectDefineProperty(object, key, {
    __proto__: null,
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

// A component's regexp, with the spec's `v` flag. The engine's `v`-flag parser departs from
// the flag's grammar in places: outside classes it refuses a bare `/` or `-` and `::`; inside
// them it refuses the escaped punctuators the flag allows (`[^\:]`). So the source is
// rewritten to the same regexp in forms it takes: every `/` escaped (the spec escapes it; the
// urlpattern crate does not), and those escapes as `\xHH`. A regexp the engine still refuses
// is compiled with deno_web's `u` flag.
const CLASS_PUNCTUATOR_ESCAPE = /[&!#%,:;<=>@`~]/;

function urlPatternRegExp(source, ignoreCase) {
  let rewritten = "";
  let from = 0;
  let classDepth = 0;
  const replace = (at, length, text) => {
    rewritten += StringPrototypeSlice(source, from, at) + text;
    from = at + length;
  };
  for (let i = 0; i < source.length; ++i) {
    const char = source[i];
    if (char === "\\") {
      const next = source[i + 1];
      if (
        classDepth > 0 && next !== undefined &&
        RegExpPrototypeExec(CLASS_PUNCTUATOR_ESCAPE, next) !== null
      ) {
        replace(i, 2, `\\x${NumberPrototypeToString(StringPrototypeCharCodeAt(next, 0), 16)}`);
      }
      ++i;
    } else if (char === "/") {
      replace(i, 1, "\\/");
    } else if (char === "[") {
      ++classDepth;
    } else if (char === "]" && classDepth > 0) {
      --classDepth;
    }
  }
  rewritten += StringPrototypeSlice(source, from);
  try {
    return new SafeRegExp(rewritten, ignoreCase ? "vi" : "v");
  } catch {
    return new SafeRegExp(rewritten, ignoreCase ? "ui" : "u");
  }
}

// What test() and exec() match: their arguments converted (the input defaults to `{}`) and the
// eight component values of the URL they make, or null values when they make none. The op
// gives the values joined, with the UTF-8 offsets of each.
function urlPatternMatchInput(input, baseURL, prefix) {
  input = input === undefined
    ? { __proto__: null }
    : webidl.converters.URLPatternInput(input, prefix, "Argument 1");
  if (baseURL !== undefined) {
    baseURL = webidl.converters.USVString(baseURL, prefix, "Argument 2");
  }
  const joined = opUrlPatternProcessMatchInput(input, baseURL ?? null, urlPatternOffsets);
  let values = null;
  if (joined !== null) {
    values = [];
    const bytes = joined.length === urlPatternOffsets[8] ? null : core.encode(joined);
    for (let i = 0; i < 8; ++i) {
      const start = urlPatternOffsets[i];
      const end = urlPatternOffsets[i + 1];
      values[i] = bytes === null
        ? StringPrototypeSlice(joined, start, end)
        : core.decode(TypedArrayPrototypeSubarray(bytes, start, end));
    }
  }
  return { input, baseURL, values };
}

class URLPattern {
  // Per component, in URL_PATTERN_COMPONENTS order: { pattern, regexp, groupNames }.
  #components;
  #hasRegExpGroups;

  constructor(input = undefined, baseURLOrOptions = undefined, options = undefined) {
    const prefix = "Failed to construct 'URLPattern'";
    let baseURL;
    // The overloads (input, baseURL, options) and (input, options): a second argument that
    // cannot be a dictionary (anything but undefined, null or an object) is the base URL.
    if (
      baseURLOrOptions !== undefined && baseURLOrOptions !== null &&
      typeof baseURLOrOptions !== "object" && typeof baseURLOrOptions !== "function"
    ) {
      input = webidl.converters.URLPatternInput(input, prefix, "Argument 1");
      baseURL = webidl.converters.USVString(baseURLOrOptions, prefix, "Argument 2");
      options = webidl.converters.URLPatternOptions(options, prefix, "Argument 3");
    } else {
      input = input === undefined
        ? { __proto__: null }
        : webidl.converters.URLPatternInput(input, prefix, "Argument 1");
      options = webidl.converters.URLPatternOptions(baseURLOrOptions, prefix, "Argument 2");
    }
    const parsed = opUrlPatternParse(input, baseURL, options);
    const components = [];
    for (let i = 0; i < 8; ++i) {
      const name = URL_PATTERN_COMPONENTS[i];
      const component = parsed[name];
      let regexp;
      try {
        regexp = urlPatternRegExp(component.regexpString, options.ignoreCase);
      } catch (error) {
        throw new TypeError(`${prefix}: ${name} is invalid; ${error.message}`);
      }
      components[i] = {
        pattern: component.patternString,
        regexp,
        groupNames: component.groupNameList,
      };
    }
    this.#components = components;
    this.#hasRegExpGroups = parsed.hasRegexpGroups;
  }

  static #componentsOf(pattern) {
    if (pattern === null || typeof pattern !== "object" || !(#components in pattern)) {
      throw new TypeError("Illegal invocation");
    }
    return pattern.#components;
  }

  get protocol() {
    return URLPattern.#componentsOf(this)[0].pattern;
  }
  get username() {
    return URLPattern.#componentsOf(this)[1].pattern;
  }
  get password() {
    return URLPattern.#componentsOf(this)[2].pattern;
  }
  get hostname() {
    return URLPattern.#componentsOf(this)[3].pattern;
  }
  get port() {
    return URLPattern.#componentsOf(this)[4].pattern;
  }
  get pathname() {
    return URLPattern.#componentsOf(this)[5].pattern;
  }
  get search() {
    return URLPattern.#componentsOf(this)[6].pattern;
  }
  get hash() {
    return URLPattern.#componentsOf(this)[7].pattern;
  }
  get hasRegExpGroups() {
    URLPattern.#componentsOf(this);
    return this.#hasRegExpGroups;
  }

  test(input = undefined, baseURL = undefined) {
    const components = URLPattern.#componentsOf(this);
    const prefix = "Failed to execute 'test' on 'URLPattern'";
    const { values } = urlPatternMatchInput(input, baseURL, prefix);
    if (values === null) return false;
    for (let i = 0; i < 8; ++i) {
      if (RegExpPrototypeExec(components[i].regexp, values[i]) === null) return false;
    }
    return true;
  }

  exec(input = undefined, baseURL = undefined) {
    const components = URLPattern.#componentsOf(this);
    const prefix = "Failed to execute 'exec' on 'URLPattern'";
    const matched = urlPatternMatchInput(input, baseURL, prefix);
    const values = matched.values;
    if (values === null) return null;
    const results = [];
    for (let i = 0; i < 8; ++i) {
      const { regexp, groupNames } = components[i];
      const match = RegExpPrototypeExec(regexp, values[i]);
      if (match === null) return null;
      const groups = {};
      for (let j = 0; j < groupNames.length; ++j) defineData(groups, groupNames[j], match[j + 1]);
      results[i] = { input: values[i], groups };
    }
    // The input as given (a dictionary as converted: only the members present).
    let echoed = matched.input;
    if (typeof echoed !== "string") {
      echoed = {};
      const keys = ObjectKeys(matched.input);
      for (let i = 0; i < keys.length; ++i) defineData(echoed, keys[i], matched.input[keys[i]]);
    }
    return {
      inputs: matched.baseURL === undefined ? [echoed] : [echoed, matched.baseURL],
      protocol: results[0],
      username: results[1],
      password: results[2],
      hostname: results[3],
      port: results[4],
      pathname: results[5],
      search: results[6],
      hash: results[7],
    };
  }

  [SymbolFor("Deno.privateCustomInspect")](inspect, inspectOptions) {
    return inspect(
      consoleMod.createFilteredInspectProxy({
        object: this,
        evaluate: #components in this,
        keys: URL_PATTERN_INSPECTED,
      }),
      inspectOptions,
    );
  }
}
webidl.configureInterface(URLPattern);

const globals = {
  AbortController: abortSignal.AbortController,
  AbortSignal: abortSignal.AbortSignal,
  Blob: file.Blob,
  ByteLengthQueuingStrategy: streams.ByteLengthQueuingStrategy,
  CompressionStream: compression.CompressionStream,
  CountQueuingStrategy: streams.CountQueuingStrategy,
  Crypto: cryptoMod.Crypto,
  CryptoKey: cryptoMod.CryptoKey,
  CustomEvent: event.CustomEvent,
  DecompressionStream: compression.DecompressionStream,
  DOMException: domException.DOMException,
  ErrorEvent: event.ErrorEvent,
  Event: event.Event,
  EventTarget: event.EventTarget,
  File: file.File,
  FormData: formData.FormData,
  Headers: headers.Headers,
  MessageChannel: messagePort.MessageChannel,
  MessageEvent: event.MessageEvent,
  MessagePort: messagePort.MessagePort,
  Navigator,
  Performance: performanceMod.Performance,
  PerformanceEntry: performanceMod.PerformanceEntry,
  PerformanceMark: performanceMod.PerformanceMark,
  PerformanceMeasure: performanceMod.PerformanceMeasure,
  PromiseRejectionEvent: event.PromiseRejectionEvent,
  ReadableByteStreamController: streams.ReadableByteStreamController,
  ReadableStream: streams.ReadableStream,
  ReadableStreamBYOBReader: streams.ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest: streams.ReadableStreamBYOBRequest,
  ReadableStreamDefaultController: streams.ReadableStreamDefaultController,
  ReadableStreamDefaultReader: streams.ReadableStreamDefaultReader,
  Request: request.Request,
  Response,
  SubtleCrypto: cryptoMod.SubtleCrypto,
  TextDecoder: encoding.TextDecoder,
  TextDecoderStream: encoding.TextDecoderStream,
  TextEncoder: encoding.TextEncoder,
  TextEncoderStream: encoding.TextEncoderStream,
  TransformStream: streams.TransformStream,
  TransformStreamDefaultController: streams.TransformStreamDefaultController,
  URL: url.URL,
  URLPattern,
  URLSearchParams: url.URLSearchParams,
  WritableStream: streams.WritableStream,
  WritableStreamDefaultController: streams.WritableStreamDefaultController,
  WritableStreamDefaultWriter: streams.WritableStreamDefaultWriter,
  atob,
  btoa: base64.btoa,
  clearInterval: timers.clearInterval,
  clearTimeout: timers.clearTimeout,
  console: tenantConsole,
  fetch,
  // deno_core installs queueMicrotask on the global (reporting callback errors); keep it.
  queueMicrotask: globalThis.queueMicrotask,
  reportError: event.reportError,
  setInterval: timers.setInterval,
  setTimeout: timers.setTimeout,
  structuredClone,
};
for (const name in globals) defineGlobal(name, globals[name]);
// deno_crypto's classes are native (cppgc) classes, and the QuickJS engine layer redefines
// `prototype.constructor` to a fresh function each time it makes an instance, so
// `key.constructor !== CryptoKey`. Pinning `constructor` (non-writable, non-configurable: the
// engine's redefinition then fails quietly) keeps it the global interface object.
for (const name of ["Crypto", "CryptoKey", "SubtleCrypto"]) {
  ObjectDefineProperty(globals[name].prototype, "constructor", {
    __proto__: null,
    value: globals[name],
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
defineGetter("crypto", () => cryptoMod.crypto);
defineGetter("navigator", () => navigator);
defineGetter("performance", () => performanceMod.performance);
defineGetter("self", () => globalThis);

// The global object is an EventTarget (a WorkerGlobalScope, as in a service worker).
ObjectSetPrototypeOf(globalThis, globalInterfaces.WorkerGlobalScope.prototype);
globalThis[webidl.brand] = webidl.brand;
event.setEventTargetData(globalThis);
event.saveGlobalThisReference(globalThis);

// A rejection nobody handles is logged, then dispatched as "unhandledrejection" on the global;
// it never stops the isolate.
core.setUnhandledPromiseRejectionHandler((promise, reason) => {
  const rejection = new event.PromiseRejectionEvent("unhandledrejection", {
    cancelable: true,
    promise,
    reason,
  });
  globalThis.dispatchEvent(rejection);
  if (!rejection.defaultPrevented) logError("Uncaught (in promise) ", reason);
  return true;
});
// An exception thrown by a callback (queueMicrotask, timers) is dispatched as "error" on the
// global, then logged unless a listener cancelled it; it never stops the isolate. One reported
// while that event is being dispatched is only logged.
let reportingException = false;
core.setReportExceptionCallback((error) => {
  if (!reportingException) {
    reportingException = true;
    try {
      const errorEvent = new event.ErrorEvent("error", {
        cancelable: true,
        message: errorMessage(error),
        error,
      });
      globalThis.dispatchEvent(errorEvent);
      if (errorEvent.defaultPrevented) return;
    } catch {
      // The tenant replaced dispatchEvent with something that throws: still log the error.
    } finally {
      reportingException = false;
    }
  }
  logError("Uncaught ", error);
});

// deno's event dispatch reports an exception thrown by a listener (an AbortSignal's "abort"
// listener, say) by dispatching "error" on the global and then, unless a listener cancelled
// that event, ending the runtime. For a worker it is the tenant's error in this invocation:
// this listener, the global's first, logs it and cancels it; the tenant's listeners still see
// the event. (Events dispatched by the callback above are its own to log.)
globalThis.addEventListener("error", (errorEvent) => {
  if (reportingException) return;
  errorEvent.preventDefault();
  logError("Uncaught ", errorEvent.error);
});

function errorMessage(error) {
  try {
    return typeof error?.message === "string" ? error.message : String(error);
  } catch {
    return "";
  }
}


// ---------------------------------------------------------------------------------------------
// The tenant start: the runtime calls this once, just before it evaluates the tenant's main
// module. Everything that depends on the tenant, or on when it started, happens here or later.

function tenantStart() {
  performanceMod.setTimeOrigin();
  config = op_skiff_config();
  // Subrequests made outside any request start a chain of their own.
  outsideRequests.hopsLeft = config.invocationDepth - 1;
}

// ---------------------------------------------------------------------------------------------
// The Workers handler API.

class ExecutionContext {
  waitUntil(promise) {
    trackWaitUntil(promise);
  }
  passThroughOnException() {
    // Skiff has no origin behind a worker to pass through to; accepted for compatibility.
  }
}

// deno's timers refuse any `this` but the global object or undefined ("Illegal invocation"),
// so they are called unbound, never as methods of the module object.
const { setTimeout: setTimer, clearTimeout: clearTimer } = timers;

function trackWaitUntil(promise) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimer(() => resolve(true), config.waitUntilMs);
  });
  // Counted only once nothing above can throw: a count that is never given back would keep
  // the isolate's busy period (and its CPU allowance) open for good.
  op_skiff_wait_until(true);
  const settled = PromisePrototypeThen(
    PromiseResolve(promise),
    () => false,
    (error) => {
      logError("Uncaught (in waitUntil) ", error);
      return false;
    },
  );
  PromisePrototypeThen(primordials.SafePromiseRace([settled, timeout]), (timedOut) => {
    clearTimer(timer);
    if (timedOut) {
      op_skiff_log(2, `waitUntil() work was cancelled after ${config.waitUntilMs} ms`);
    }
    op_skiff_wait_until(false);
  });
}

// FetchEvent -> the promise given to respondWith(); out of tenant reach.
const respondedWith = new SafeWeakMap();

class FetchEvent extends Event {
  #request;
  #ctx;
  constructor(request, ctx) {
    super("fetch");
    this.#request = request;
    this.#ctx = ctx;
  }
  get request() {
    return this.#request;
  }
  respondWith(response) {
    if (WeakMapPrototypeHas(respondedWith, this)) {
      throw new DOMException("respondWith() was already called", "InvalidStateError");
    }
    WeakMapPrototypeSet(respondedWith, this, PromiseResolve(response));
  }
  waitUntil(promise) {
    this.#ctx.waitUntil(promise);
  }
  passThroughOnException() {
    this.#ctx.passThroughOnException();
  }
}
defineGlobal("FetchEvent", FetchEvent);
const DOMException = domException.DOMException;

let handler = null;

function resolveHandler() {
  if (handler !== null) return handler;
  const namespace = op_skiff_take_module();
  const defaultExport = namespace?.default;
  if (defaultExport !== undefined && defaultExport !== null && typeof defaultExport.fetch === "function") {
    const target = defaultExport;
    const fetchFn = defaultExport.fetch;
    // The tenant's `env`, read when the handler is first needed.
    const env = ObjectFreeze(JSONParse(op_skiff_env()));
    handler = (req, ctx) => ReflectApply(fetchFn, target, [req, env, ctx]);
  } else if (event.listenerCount(globalThis, "fetch") > 0) {
    handler = (req, ctx) => {
      const fetchEvent = new FetchEvent(req, ctx);
      globalThis.dispatchEvent(fetchEvent);
      const result = WeakMapPrototypeGet(respondedWith, fetchEvent);
      if (result === undefined) {
        throw new Error("The fetch event listener did not call respondWith()");
      }
      return result;
    };
  } else {
    handler = () => {
      throw new Error(
        "The script has no fetch handler: export default { fetch } or addEventListener(\"fetch\", ...)",
      );
    };
  }
  return handler;
}

function sendResponse(id, res) {
  if (!ObjectPrototypeIsPrototypeOf(ResponsePrototype, res)) {
    throw new TypeError("The fetch handler must return a Response (or a Promise of one)");
  }
  const inner = toInnerResponse(res);
  const headerList = inner.headerList;
  const innerBody = inner.body;
  if (innerBody === null) {
    op_skiff_respond(id, inner.status, headerList, EMPTY);
    return;
  }
  const source = innerBody.streamOrStatic;
  if (!ObjectPrototypeIsPrototypeOf(ReadableStreamPrototype, source) && !source.consumed) {
    const bytes = typeof source.body === "string" ? core.encode(source.body) : source.body;
    source.consumed = true;
    op_skiff_respond(id, inner.status, headerList, bytes);
    return;
  }
  const rid = resourceForReadableStream(innerBody.stream, innerBody.length ?? undefined);
  op_skiff_respond_stream(id, inner.status, headerList, rid);
}

function sendError(id) {
  op_skiff_respond(
    id,
    500,
    [["content-type", "text/plain;charset=UTF-8"]],
    core.encode("Internal Server Error\n"),
  );
}

async function dispatch(ev) {
  try {
    const requestBody = ev.bodyRid === null ? null : new InnerBody(readableStreamForRid(ev.bodyRid));
    const inner = newInnerRequest(ev.method, ev.url, () => ev.headers, requestBody, false);
    const req = fromInnerRequest(inner, "immutable");
    const res = await resolveHandler()(req, new ExecutionContext());
    sendResponse(ev.id, res);
  } catch (error) {
    logError("Uncaught ", error);
    sendError(ev.id);
  }
}

async function dispatchLoop() {
  while (true) {
    const ev = await op_skiff_next_event();
    if (ev === null) break;
    // Each request runs in its own async context, which carries its budgets through every
    // await of the handler; the loop itself goes on in the previous context.
    const previous = requestContext.enter({ subrequests: 0, logBytes: 0, hopsLeft: ev.hopsLeft });
    try {
      dispatch(ev);
    } finally {
      core.setAsyncContext(previous);
    }
  }
}

// The engine keeps Math.random's state in the context, so every runtime created from one
// startup snapshot would draw the same sequence. Each runtime gets its own generator instead
// (xoshiro128**, as fast as the engine's and as unpredictable across runtimes as V8's), seeded
// at boot from the system's CSPRNG.
function seedMathRandom() {
  const state = new Uint32Array(4);
  do cryptoMod.crypto.getRandomValues(state); while ((state[0] | state[1] | state[2] | state[3]) === 0);
  const next = () => {
    const result = MathImul(rotateLeft(MathImul(state[1], 5), 7), 9) >>> 0;
    const t = state[1] << 9;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotateLeft(state[3], 11);
    return result;
  };
  // 53 random bits in [0, 1), like the engine's.
  const random = { random: () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992 }.random;
  ObjectDefineProperty(Math, "random", { value: random, writable: true, enumerable: false, configurable: true });
}

function rotateLeft(x, k) {
  return (x << k) | (x >>> (32 - k));
}

// The engine leaves some native error constructors (TypeError and InternalError, seen in both
// fresh and snapshot-restored runtimes) inheriting from Function.prototype instead of Error.
// Instances are fine, but code that walks the constructor chain (testharness's
// assert_throws_js, class hierarchies built on `Object.getPrototypeOf(TypeError)`) is not.
function repairErrorConstructors() {
  for (const name of NATIVE_ERRORS) {
    const constructor = globalThis[name];
    if (typeof constructor === "function" && ObjectGetPrototypeOf(constructor) !== Error) {
      ObjectSetPrototypeOf(constructor, Error);
    }
  }
}
const NATIVE_ERRORS = [
  "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
  "AggregateError", "SuppressedError", "InternalError",
];

// ---------------------------------------------------------------------------------------------
// The engine layer's globals. The QuickJS engine layer (the `v8x` crate) defines its internals
// as non-enumerable globals named `__v8x...`, in fresh and snapshot-restored contexts alike:
// - `__v8x_snapshot_intrinsics`, the table a snapshot refers to native functions by: it holds
//   every native function of the context, among them `gc`, `ShadowRealm` and the setter of the
//   async context (through which a request's budgets could be swapped). The engine reads it
//   only while it writes or restores a snapshot, which is over by the time the boot runs.
// - `__v8x_import_source`: what the engine rewrites `import.source(...)` to; source-phase
//   imports are not part of the Workers API, so they fail (TypeError) instead.
// - `__v8xPostForegroundTask` and two `__v8xAtomics...ForTesting` counters: test hooks.
// - `__v8xAtomicsRegisterWaiter`, `...NotifyWaiters`, `...CancelWaiter`: the natives behind
//   the engine's `Atomics.waitAsync` shim, which looks them up on the global at every call.
//   They are captured here instead, and `Atomics.waitAsync` / `Atomics.notify` are redefined
//   over the captured natives.
// - `__v8xTemporalTimeZone` stays: the engine's `Intl.DateTimeFormat` (and through it the
//   `Temporal` polyfill's time-zone arithmetic) looks it up on the global from inside closures
//   nothing here can reach. It is a pure function (time, zone name) -> calendar fields.
// `gc` and `ShadowRealm` (a realm the engine builds with deno_core's internals in it) go too,
// and `Atomics.wait` throws.
const ENGINE_TIME_ZONE = "__v8xTemporalTimeZone";
const {
  BigInt: PrimordialBigInt,
  BigIntAsIntN,
  ObjectGetOwnPropertyNames,
  StringPrototypeStartsWith,
  TypedArrayPrototypeGetSymbolToStringTag,
} = primordials;
const atomicsLoad = Atomics.load;

function hideEngineInternals() {
  const natives = { __proto__: null };
  const names = ObjectGetOwnPropertyNames(globalThis);
  for (let i = 0; i < names.length; ++i) {
    const name = names[i];
    if (StringPrototypeStartsWith(name, "__v8x") && name !== ENGINE_TIME_ZONE) {
      natives[name] = globalThis[name];
      delete globalThis[name];
    }
  }
  for (const name of ["gc", "ShadowRealm"]) delete globalThis[name];
  const register = natives.__v8xAtomicsRegisterWaiter;
  const notify = natives.__v8xAtomicsNotifyWaiters;
  const cancel = natives.__v8xAtomicsCancelWaiter;
  if (typeof register === "function" && typeof notify === "function" && typeof cancel === "function") {
    defineAtomicsWaitAsync(register, notify, cancel);
  }
  // Atomics.wait blocks the thread, which the CPU watchdog does not see (no CPU is spent) and
  // which no other agent could end: one isolate is one thread. It throws instead, as it does
  // on V8's main threads and in Workers.
  ObjectDefineProperty(Atomics, "wait", {
    __proto__: null,
    value: {
      wait() {
        throw new TypeError("Atomics.wait cannot be called in this context");
      },
    }.wait,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}

// Atomics.waitAsync and Atomics.notify over the engine's waiter registry. One isolate is one
// thread, so no agent can be blocked in Atomics.wait on its memory: notify wakes only
// waitAsync waiters, after checking its arguments as the native one does.
function defineAtomicsWaitAsync(register, notifyWaiters, cancel) {
  const setTimeout = timers.setTimeout;
  function checkWaitable(view, index, method) {
    const type = TypedArrayPrototypeGetSymbolToStringTag(view);
    if (type !== "Int32Array" && type !== "BigInt64Array") {
      throw new TypeError(`Atomics.${method}: the view must be an Int32Array or a BigInt64Array`);
    }
    return ReflectApply(atomicsLoad, undefined, [view, index]);
  }
  const methods = {
    waitAsync(view, index, value, timeout) {
      const current = checkWaitable(view, index, "waitAsync");
      // The expected value, converted as the view's elements are.
      const expected = TypedArrayPrototypeGetSymbolToStringTag(view) === "BigInt64Array"
        ? BigIntAsIntN(64, PrimordialBigInt(value))
        : value | 0;
      let ms = timeout === undefined ? Infinity : +timeout;
      if (ms !== ms) ms = Infinity;
      if (current !== expected) return { async: false, value: "not-equal" };
      if (ms <= 0) return { async: false, value: "timed-out" };
      let resolve;
      const promise = new Promise((r) => {
        resolve = r;
      });
      const id = register(view, index, resolve);
      if (ms !== Infinity) {
        setTimeout(() => {
          if (cancel(id)) resolve("timed-out");
        }, ms);
      }
      return { async: true, value: promise };
    },
    notify(view, index, count) {
      checkWaitable(view, index, "notify");
      let wake = 0x7fffffff;
      if (count !== undefined) {
        wake = +count;
        wake = wake !== wake || wake < 0 ? 0 : wake > 0x7fffffff ? 0x7fffffff : wake - (wake % 1);
      }
      return wake === 0 ? 0 : notifyWaiters(view, index, wake);
    },
  };
  for (const name of ["waitAsync", "notify"]) {
    ObjectDefineProperty(Atomics, name, {
      __proto__: null,
      value: methods[name],
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The boot: everything above is the global scope, which a startup snapshot can hold; what
// follows lives in the runtime's Rust state or is a pending async function, which a snapshot
// cannot hold. The runtime calls this once right after it creates the runtime (freshly or from
// a snapshot), before anything else runs; it removes itself and the engine's internals.

ObjectDefineProperty(globalThis, "__skiffBoot", {
  configurable: true,
  enumerable: false,
  writable: false,
  value: () => {
    // Nothing internal stays reachable from tenant code. (The engine reads `Deno.core` and
    // its snapshot table when it restores a snapshot, so these go only now.)
    for (const name of ["__skiffBoot", "Deno", "__bootstrap"]) delete globalThis[name];
    hideEngineInternals();
    seedMathRandom();
    repairErrorConstructors();
    op_skiff_set_tenant_start(tenantStart);
    dispatchLoop();
  },
});
