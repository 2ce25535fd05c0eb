// The Workers handler API and the dispatch loop that turns events from the runtime into calls
// of the tenant's handlers (module syntax, or "fetch" and "scheduled" event listeners), with
// `env`, `ctx.waitUntil` and `ctx.passThroughOnException`, and sends each response (or
// scheduled outcome) out of the isolate. Each event is an invocation of the runtime's
// (src/invocation.rs), named by its id: it lasts until its response is sent (a scheduled
// event: until its handler settles) and every waitUntil task started through its context has
// settled.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_env,
  op_skiff_env_bindings,
  op_skiff_log,
  op_skiff_next_event,
  op_skiff_respond,
  op_skiff_respond_exception,
  op_skiff_respond_stream,
  op_skiff_respond_text,
  op_skiff_respond_websocket,
  op_skiff_scheduled_no_retry,
  op_skiff_scheduled_settled,
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
import {
  config,
  countSubrequest,
  invocation,
  logError,
  enterRequest,
} from "ext:skiff_worker/01_invocation.js";
import { structuredClone } from "ext:skiff_worker/02_fixes.js";
import {
  CLOUDFLARE_WORKERS,
  DurableObject,
  isEntrypointClass,
  RpcTarget,
  WorkerEntrypoint,
} from "ext:skiff_worker/03_entrypoints.js";
import { cloudflare } from "ext:skiff_worker/03_workers.js";
import { defineGlobal, listenerErrors } from "ext:skiff_worker/04_globals.js";
import { responseSocket } from "ext:skiff_worker/03_websocket.js";
import { fixedLength } from "ext:skiff_worker/03_streams.js";
import { kvBinding } from "ext:skiff_worker/07_kv.js";
import { serviceBinding } from "ext:skiff_worker/09_service.js";

const {
  Error,
  JSONParse,
  ObjectDefineProperty,
  ObjectFreeze,
  ObjectKeys,
  ObjectPrototypeIsPrototypeOf,
  Promise,
  Proxy,
  PromisePrototypeThen,
  PromiseReject,
  PromiseResolve,
  ReflectApply,
  SafeWeakMap,
  Symbol,
  TypeError,
  Uint8Array,
  WeakMapPrototypeGet,
  WeakMapPrototypeHas,
  WeakMapPrototypeSet,
} = primordials;

const { InnerBody } = body;
const { Request, fromInnerRequest, newInnerRequest } = request;
const { ResponsePrototype, takeLazyStaticBody, toInnerResponse } = response;
const { ReadableStreamPrototype, readableStreamForRid, resourceForReadableStream } = streams;
const { Event } = event;
const EMPTY = new Uint8Array(0);

// Only the dispatcher makes ExecutionContexts, ScheduledEvents and ScheduledControllers.
const token = Symbol("dispatcher");

class ExecutionContext {
  #id;
  // What the caller passed along (Cloudflare: a service binding's `props`); an event from the
  // outside brings none, an empty object.
  props = {};
  constructor(key, id) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#id = id;
    if (cloudflare.compatibilityFlags?.enable_ctx_exports) {
      ObjectDefineProperty(this, "exports", {
        __proto__: null,
        value: loopbackExports(),
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
  }
  waitUntil(promise) {
    trackWaitUntil(promise, this.#id);
  }
  passThroughOnException() {
    // Skiff has no origin behind a worker to pass through to; accepted for compatibility.
  }
}

// deno's timers refuse any `this` but the global object or undefined ("Illegal invocation"),
// so they are called unbound, never as methods of the module object.
const { setTimeout: setTimer, clearTimeout: clearTimer } = timers;

// Tracks `promise` as a part of invocation `id` (see the file's header) for at most
// `config.waitUntilMs`.
function trackWaitUntil(promise, id) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimer(() => resolve(true), config.waitUntilMs);
  });
  // Counted only once nothing above can throw: a count that is never given back would keep
  // the isolate's busy period (and its CPU allowance) open for good.
  const part = op_skiff_wait_until(true, id) ? id : 0;
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
    op_skiff_wait_until(false, part);
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

// The scheduled event's data and its invocation, behind the tenant's ScheduledEvent and
// ScheduledController.
class ScheduledData {
  constructor(ev) {
    this.id = ev[1];
    this.cron = ev[2];
    this.scheduledTime = ev[3];
  }
  noRetry() {
    op_skiff_scheduled_no_retry(this.id);
  }
}

// Cloudflare's ScheduledEvent (service-worker syntax): `cron`, `scheduledTime`, `noRetry()`
// and the ExtendableEvent's `waitUntil()`. Tenants cannot construct one.
class ScheduledEvent extends Event {
  #data;
  #ctx;
  constructor(key, data, ctx) {
    if (key !== token) throw new TypeError("Illegal constructor");
    super("scheduled");
    this.#data = data;
    this.#ctx = ctx;
  }
  get cron() {
    return this.#data.cron;
  }
  get scheduledTime() {
    return this.#data.scheduledTime;
  }
  noRetry() {
    this.#data.noRetry();
  }
  waitUntil(promise) {
    this.#ctx.waitUntil(promise);
  }
}
defineGlobal("ScheduledEvent", ScheduledEvent);

// Cloudflare's ScheduledController, the first argument of a module's scheduled() handler.
class ScheduledController {
  #data;
  constructor(key, data) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#data = data;
  }
  get cron() {
    return this.#data.cron;
  }
  get scheduledTime() {
    return this.#data.scheduledTime;
  }
  noRetry() {
    this.#data.noRetry();
  }
}

// The tenant's handlers, resolved when the first event comes: `fetch(req, ctx)` and
// `scheduled(data, ctx)`, each returning the handler's result (a promise or a value).
let handlers = null;

// The tenant's `env`, made when the handlers are first needed: its vars and secrets, and an
// object for each binding that is more than a value. Module handlers share it.
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

// The env that module handlers share (and `cloudflare:workers` exports), made when first needed.
let sharedEnv = null;
const moduleEnv = () => (sharedEnv ??= tenantEnv());

// The `cloudflare:workers` module's object (see 03_entrypoints.js).
ObjectDefineProperty(globalThis, CLOUDFLARE_WORKERS, {
  __proto__: null,
  value: ObjectFreeze({
    __proto__: null,
    WorkerEntrypoint,
    DurableObject,
    RpcTarget,
    get env() {
      return moduleEnv();
    },
  }),
  writable: false,
  enumerable: false,
  configurable: false,
});

// The tenant's module namespace, once taken.
let tenantModule = null;

function resolveHandlers() {
  if (handlers !== null) return handlers;
  const namespace = op_skiff_take_module();
  tenantModule = namespace ?? null;
  const defaultExport = namespace?.default;
  if (isEntrypointClass(defaultExport)) {
    handlers = entrypointHandlers(defaultExport);
    return handlers;
  }
  const exported = defaultExport !== undefined && defaultExport !== null;
  const fetchFn = exported ? defaultExport.fetch : undefined;
  const scheduledFn = exported ? defaultExport.scheduled : undefined;
  handlers = { fetch: fetchHandler(defaultExport, fetchFn, moduleEnv) };
  if (typeof scheduledFn === "function") {
    handlers.scheduled = (data, ctx) =>
      ReflectApply(scheduledFn, defaultExport, [new ScheduledController(token, data), moduleEnv(), ctx]);
  } else {
    handlers.scheduled = (data, ctx) => {
      if (event.listenerCount(globalThis, "scheduled") > 0) {
        const errorsBefore = listenerErrors;
        globalThis.dispatchEvent(new ScheduledEvent(token, data, ctx));
        // A listener that threw was logged as uncaught by the global's "error" listener.
        return listenerErrors === errorsBefore ? undefined : PromiseReject(LISTENER_THREW);
      }
      // As workerd: not to be retried, and its messages.
      data.noRetry();
      if (exported) {
        throw new Error("Handler does not export a scheduled() function");
      }
      throw new Error("No event listener registered for scheduled events.");
    };
  }
  return handlers;
}

// The handlers of a default export that extends WorkerEntrypoint: an instance for each event,
// made with the event's ctx and the env, whose `fetch(request)` or `scheduled(controller)` is
// called, with workerd's message when it has none.
function entrypointHandlers(Entrypoint) {
  const method = (instance, name) => {
    const fn = instance[name];
    if (typeof fn !== "function") throw new Error(`Handler does not export a ${name}() function.`);
    return fn;
  };
  return {
    fetch(req, ctx) {
      const instance = new Entrypoint(ctx, moduleEnv());
      return ReflectApply(method(instance, "fetch"), instance, [req]);
    },
    scheduled(data, ctx) {
      const instance = new Entrypoint(ctx, moduleEnv());
      if (typeof instance.scheduled !== "function") data.noRetry();
      return ReflectApply(method(instance, "scheduled"), instance, [new ScheduledController(token, data)]);
    },
  };
}

// `ctx.exports` (with the enable_ctx_exports flag): for the default export and each named
// export that extends WorkerEntrypoint, a loopback binding to it, made once. A call through
// one runs in this isolate, as part of the caller's invocation, and counts as a subrequest
// (as a service binding's call does), which also bounds a worker that calls itself.
let loopbacks = null;

function loopbackExports() {
  if (loopbacks !== null) return loopbacks;
  resolveHandlers();
  const exports = {};
  if (tenantModule !== null) {
    const names = ObjectKeys(tenantModule);
    for (let i = 0; i < names.length; i++) {
      const target = tenantModule[names[i]];
      const handlerObject = names[i] === "default" && typeof target === "object" && target !== null;
      if (handlerObject || isEntrypointClass(target)) exports[names[i]] = loopback(target);
    }
  }
  loopbacks = ObjectFreeze(exports);
  return loopbacks;
}

// A loopback binding to `target` (an entrypoint class, or a default export's handler
// object): `fetch(input, init)`, and for a class every other method as an RPC call, its
// arguments and result structured-cloned as Workers RPC copies them.
function loopback(target) {
  const isClass = isEntrypointClass(target);
  const enter = () => {
    const refused = countSubrequest();
    if (refused !== null) throw refused;
    return new ExecutionContext(token, invocation().id);
  };
  async function fetch(input, init = undefined) {
    const ctx = enter();
    const req = new Request(input, init);
    let res;
    if (isClass) {
      const instance = new target(ctx, moduleEnv());
      const fn = instance.fetch;
      if (typeof fn !== "function") throw new TypeError(RPC_MISSING("fetch"));
      res = await ReflectApply(fn, instance, [req]);
    } else {
      const fn = target.fetch;
      if (typeof fn !== "function") throw new TypeError(RPC_MISSING("fetch"));
      res = await ReflectApply(fn, target, [req, moduleEnv(), ctx]);
    }
    if (!ObjectPrototypeIsPrototypeOf(ResponsePrototype, res)) {
      throw new TypeError("The fetch handler must return a Response (or a Promise of one)");
    }
    return res;
  }
  async function call(name, args) {
    const ctx = enter();
    const instance = new target(ctx, moduleEnv());
    const fn = name === "constructor" ? undefined : instance[name];
    if (typeof fn !== "function") throw new TypeError(RPC_MISSING(name));
    return structuredClone(await ReflectApply(fn, instance, structuredClone(args)));
  }
  return new Proxy({ __proto__: null }, {
    __proto__: null,
    get(_stub, key) {
      if (key === "fetch") return fetch;
      // Not a thenable, and nothing but methods.
      if (!isClass || typeof key !== "string" || key === "then") return undefined;
      return (...args) => call(key, args);
    },
  });
}

const RPC_MISSING = (name) => `The RPC receiver does not implement the method "${name}".`;

// The rejection of a scheduled event whose listener threw (already logged).
const LISTENER_THREW = Symbol("listener threw");

function fetchHandler(target, fetchFn, moduleEnv) {
  if (typeof fetchFn === "function") {
    const env = moduleEnv();
    return (req, ctx) => ReflectApply(fetchFn, target, [req, env, ctx]);
  }
  return (req, ctx) => {
    if (event.listenerCount(globalThis, "fetch") === 0) {
      throw new Error(
        "The script has no fetch handler: export default { fetch } or addEventListener(\"fetch\", ...)",
      );
    }
    const fetchEvent = new FetchEvent(req, ctx);
    globalThis.dispatchEvent(fetchEvent);
    const result = WeakMapPrototypeGet(respondedWith, fetchEvent);
    if (result === undefined) {
      throw new Error("The fetch event listener did not call respondWith()");
    }
    return result;
  };
}

function sendResponse(id, res) {
  if (!ObjectPrototypeIsPrototypeOf(ResponsePrototype, res)) {
    throw new TypeError("The fetch handler must return a Response (or a Promise of one)");
  }
  const socket = responseSocket(res);
  if (socket !== null) {
    op_skiff_respond_websocket(id, toInnerResponse(res).headerList, socket);
    return;
  }
  // A response made from a string with at most a content type goes out without its inner
  // body and header list being built.
  const lazy = takeLazyStaticBody(res);
  if (lazy !== null) {
    op_skiff_respond_text(id, lazy.contentType, lazy.body);
    return;
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
  // A FixedLengthStream's length goes out as the response's content-length.
  const length = fixedLength(innerBody.stream) ?? -1;
  const rid = resourceForReadableStream(innerBody.stream, innerBody.length ?? undefined);
  op_skiff_respond_stream(id, inner.status, headerList, rid, length);
}

// The kinds of event `op_skiff_next_event` gives (src/ops.rs, `NextEvent`): a request is
// `[EVENT_FETCH, id, hopsLeft, method, url, bodyRid, headers]` with the headers flat (name,
// value, name, value ...); a scheduled event, `[EVENT_SCHEDULED, id, cron, scheduledTime]`.
const EVENT_FETCH = 0;
const EVENT_SCHEDULED = 1;

// A request's header list, as deno's inner request has it, from the event's flat headers.
function headerPairs(flat) {
  const list = [];
  for (let i = 0; i < flat.length; i += 2) list[i >> 1] = [flat[i], flat[i + 1]];
  return list;
}

function dispatchFetch(ev) {
  const { 1: id, 3: method, 4: url, 5: bodyRid, 6: headers } = ev;
  try {
    const requestBody = bodyRid === null ? null : new InnerBody(readableStreamForRid(bodyRid));
    const inner = newInnerRequest(method, url, () => headerPairs(headers), requestBody, false);
    const req = fromInnerRequest(inner, "immutable");
    // Awaited even when it is a Response already: what the handler queued before returning
    // runs first, as workerd reads a response only once the microtasks have run.
    settleFetch(id, resolveHandlers().fetch(req, new ExecutionContext(token, id)));
  } catch (error) {
    handlerFailed(id, error);
  }
}

// Answers request `id` once the handler's result (a Response, or a promise or thenable of
// one) settles.
async function settleFetch(id, pending) {
  try {
    sendResponse(id, await pending);
  } catch (error) {
    handlerFailed(id, error);
  }
}

function handlerFailed(id, error) {
  logError("Uncaught ", error);
  op_skiff_respond_exception(id);
}

async function dispatchScheduled(ev) {
  const data = new ScheduledData(ev);
  let ok = true;
  try {
    await resolveHandlers().scheduled(data, new ExecutionContext(token, data.id));
  } catch (error) {
    if (error !== LISTENER_THREW) logError("Uncaught ", error);
    ok = false;
  }
  op_skiff_scheduled_settled(data.id, ok);
}

export async function dispatchLoop() {
  while (true) {
    const ev = await op_skiff_next_event();
    if (ev === null) break;
    // Each event runs in its own async context, which carries its budgets through every
    // await of the handler; the loop itself goes on in the previous context. A scheduled
    // event starts a chain of invocations of its own.
    const request = ev[0] === EVENT_FETCH;
    const hopsLeft = request ? ev[2] : config.invocationDepth - 1;
    const previous = enterRequest(ev[1], hopsLeft);
    try {
      if (request) dispatchFetch(ev);
      else dispatchScheduled(ev);
    } finally {
      core.setAsyncContext(previous);
    }
  }
}
