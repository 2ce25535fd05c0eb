// The Workers handler API and the dispatch loop that turns events from the runtime into calls
// of the tenant's fetch handler (module syntax or a "fetch" event listener), with `env`,
// `ctx.waitUntil` and `ctx.passThroughOnException`, and sends each response out of the isolate.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_env,
  op_skiff_env_bindings,
  op_skiff_log,
  op_skiff_next_event,
  op_skiff_respond,
  op_skiff_respond_stream,
  op_skiff_take_module,
  op_skiff_wait_until,
} from "ext:core/ops";
import {
  body,
  domException,
  event,
  request,
  response,
  streams,
  timers,
} from "ext:skiff_worker/00_modules.js";
import { config, logError, requestContext } from "ext:skiff_worker/01_invocation.js";
import { defineGlobal } from "ext:skiff_worker/04_globals.js";
import { kvBinding } from "ext:skiff_worker/07_kv.js";
import { serviceBinding } from "ext:skiff_worker/09_service.js";

const {
  Error,
  JSONParse,
  ObjectFreeze,
  ObjectPrototypeIsPrototypeOf,
  Promise,
  PromisePrototypeThen,
  PromiseResolve,
  ReflectApply,
  SafeWeakMap,
  TypeError,
  Uint8Array,
  WeakMapPrototypeGet,
  WeakMapPrototypeHas,
  WeakMapPrototypeSet,
} = primordials;

const { InnerBody } = body;
const { fromInnerRequest, newInnerRequest } = request;
const { ResponsePrototype, toInnerResponse } = response;
const { ReadableStreamPrototype, readableStreamForRid, resourceForReadableStream } = streams;
const { Event } = event;
const EMPTY = new Uint8Array(0);

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

// The tenant's `env`, made when the handler is first needed: its vars and secrets, and an
// object for each binding that is more than a value.
function tenantEnv() {
  const env = JSONParse(op_skiff_env());
  const bindings = op_skiff_env_bindings();
  for (let i = 0; i < bindings.length; i++) {
    const { 0: type, 1: name } = bindings[i];
    if (type === "kv") env[name] = kvBinding(name);
    else if (type === "service") env[name] = serviceBinding(name);
  }
  return ObjectFreeze(env);
}

function resolveHandler() {
  if (handler !== null) return handler;
  const namespace = op_skiff_take_module();
  const defaultExport = namespace?.default;
  if (defaultExport !== undefined && defaultExport !== null && typeof defaultExport.fetch === "function") {
    const target = defaultExport;
    const fetchFn = defaultExport.fetch;
    const env = tenantEnv();
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

export async function dispatchLoop() {
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
