// The global scope a worker sees: the WinterTC globals (non-enumerable, like Web IDL
// interfaces), the tenant's fetch() with its budgets, console output as log events, the global
// object as an EventTarget, and the handlers that log what a tenant leaves uncaught.

import { core, primordials } from "ext:core/mod.js";
import {
  abortSignal,
  base64,
  compression,
  consoleMod,
  cryptoMod,
  domException,
  encoding,
  event,
  fetchMod,
  file,
  formData,
  globalInterfaces,
  headers,
  messagePort,
  performanceMod,
  request,
  response,
  streams,
  timers,
  url,
  webidl,
} from "ext:skiff_worker/00_modules.js";
import { config, countSubrequest, logError, setHops, tenantLog } from "ext:skiff_worker/01_invocation.js";
import { atob, structuredClone } from "ext:skiff_worker/02_fixes.js";
import { URLPattern } from "ext:skiff_worker/03_urlpattern.js";
import { cloudflare, Navigator, navigator, scheduler } from "ext:skiff_worker/03_workers.js";
import {
  asksForWebSocket,
  fetchWebSocket,
  Response,
  WebSocket,
  WebSocketPair,
} from "ext:skiff_worker/03_websocket.js";
import { FixedLengthStream, IdentityTransformStream } from "ext:skiff_worker/03_streams.js";
import { HTMLRewriter } from "ext:skiff_worker/03_html_rewriter.js";
// Wrap SubtleCrypto's methods and the bodies' formData(): loaded for that alone.
import "ext:skiff_worker/03_subtle.js";
import "ext:skiff_worker/03_formdata.js";

const {
  ObjectDefineProperty,
  ObjectPrototypeIsPrototypeOf,
  ObjectSetPrototypeOf,
  PromisePrototypeCatch,
  PromiseReject,
  ReflectApply,
  String,
  StringPrototypeMatch,
  TypeError,
} = primordials;

export function defineGlobal(name, value) {
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

// Tenant fetch(): the subrequest budget of the current invocation, the hop header, then
// deno_fetch, whose permission checks refuse host-local addresses (see outbound.rs), or for a
// request with `Upgrade: websocket`, the WebSocket handshake (03_websocket.js), which keeps the
// same policy.
function fetch(input, init = undefined) {
  const refused = countSubrequest();
  if (refused !== null) return PromiseReject(refused);
  let outbound;
  try {
    outbound = new request.Request(input, init);
  } catch (error) {
    return PromiseReject(error);
  }
  setHops(request.toInnerRequest(outbound).headerList);
  if (asksForWebSocket(request.toInnerRequest(outbound).headerList)) {
    return fetchWebSocket(outbound, request.toInnerRequest(outbound).headerList);
  }
  // A body the tenant gave as a stream goes to deno_fetch as that same stream. Given only
  // `outbound`, deno_fetch would read it through a proxy stream, and an abort would no longer
  // cancel the tenant's stream at once, as the Fetch standard has it.
  const body = request.toInnerRequest(outbound).body;
  const stream = body?.source === null ? body.streamOrStatic : null;
  const sent = ObjectPrototypeIsPrototypeOf(streams.ReadableStreamPrototype, stream)
    ? fetchMod.fetch(outbound, { body: stream, duplex: "half" })
    : fetchMod.fetch(outbound);
  return PromisePrototypeCatch(sent, (error) => {
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

// Workers compiles no strings, and a string timer is one: its callback must be a function,
// or the call throws workerd's TypeError (deno's timers would compile the string later). A
// node that lets tenants compile strings (conformance runs) keeps deno's timers as they are.
function checkTimerCallback(method, callback) {
  if (typeof callback !== "function" && !config?.codeFromStrings) {
    throw new TypeError(
      `Failed to execute '${method}' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.`,
    );
  }
}

function setTimeout(callback, timeout = 0, ...args) {
  checkTimerCallback("setTimeout", callback);
  return ReflectApply(timers.setTimeout, this, arguments);
}

function setInterval(callback, timeout = 0, ...args) {
  checkTimerCallback("setInterval", callback);
  return ReflectApply(timers.setInterval, this, arguments);
}

const tenantConsole = new consoleMod.Console((message, level) => tenantLog(level, message));

const globals = {
  AbortController: abortSignal.AbortController,
  AbortSignal: abortSignal.AbortSignal,
  Blob: file.Blob,
  ByteLengthQueuingStrategy: streams.ByteLengthQueuingStrategy,
  CloseEvent: event.CloseEvent,
  Cloudflare: cloudflare,
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
  FixedLengthStream,
  HTMLRewriter,
  FormData: formData.FormData,
  Headers: headers.Headers,
  IdentityTransformStream,
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
  WebSocket,
  WebSocketPair,
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
  scheduler,
  setInterval,
  setTimeout,
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
// `listenerErrors` counts them, so that the dispatcher can tell that a "scheduled" listener
// threw.
export let listenerErrors = 0;
globalThis.addEventListener("error", (errorEvent) => {
  if (reportingException) return;
  listenerErrors++;
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
