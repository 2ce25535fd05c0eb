// The node's configuration and each invocation's budgets. Each incoming request runs in its own
// async context (see dispatchLoop in 05_dispatch.js), whose value counts what the request and
// everything it starts (timers, waitUntil work, promise continuations) may still do:
// subrequests, log bytes, invocations left in its chain; it also names the invocation (`id`,
// the runtime's, which its usage meter and its waitUntil tasks are counted under). Work that runs outside any request
// (callbacks set up by the script's top level: timers, message ports) counts against
// `outsideRequests`, one budget of the same size for the isolate's whole life. Tenant code
// cannot reach either object, nor the engine's setter of the async context.

import { core, primordials } from "ext:core/mod.js";
import { op_skiff_config, op_skiff_log_within, op_skiff_subrequest, op_skiff_subrequest_refused } from "ext:core/ops";
import { performanceMod } from "ext:skiff_worker/00_modules.js";

const {
  ArrayPrototypePush,
  ArrayPrototypeSplice,
  ObjectPrototypeIsPrototypeOf,
  String,
  StringPrototypeSlice,
  StringPrototypeToLowerCase,
  TypeError,
} = primordials;

// The node's configuration (subrequest budget, waitUntil budget), read when the runtime is
// given its tenant: a runtime is booted before anyone knows which tenant it will serve.
export let config = null;
const LOG_ERROR = 3;

export function logError(prefix, error) {
  let text;
  try {
    text = error && typeof error.stack === "string" ? error.stack : String(error);
  } catch {
    text = "<unprintable error>";
  }
  tenantLog(LOG_ERROR, `${prefix}${text}`);
}

// An invocation's budgets. The value of a request's async context is its RequestContext
// itself: no other code in the runtime sets an async context of its own (deno's timers and
// promise jobs only carry it), where core.AsyncVariable made three objects and a WeakMap entry
// for every request.
class RequestContext {
  constructor(id, hopsLeft) {
    this.id = id;
    this.subrequests = 0;
    this.logBytes = 0;
    this.hopsLeft = hopsLeft;
  }
}
const RequestContextPrototype = RequestContext.prototype;

// Work outside any request belongs to no invocation: id 0.
const outsideRequests = new RequestContext(0, 0);

// Makes invocation `id`'s budgets the current async context's value; returns the context to
// restore (with core.setAsyncContext) once its handler has been called.
export function enterRequest(id, hopsLeft) {
  const previous = core.getAsyncContext();
  core.setAsyncContext(new RequestContext(id, hopsLeft));
  return previous;
}

export function invocation() {
  const current = core.getAsyncContext();
  return ObjectPrototypeIsPrototypeOf(RequestContextPrototype, current) ? current : outsideRequests;
}

// Counts one subrequest (a fetch(), a service binding's fetch, a new WebSocket(url)) of the
// current invocation: the TypeError to reject with once past the budget, else null.
export function countSubrequest() {
  const context = invocation();
  context.subrequests += 1;
  if (config === null || context.subrequests > config.subrequestLimit) {
    op_skiff_subrequest_refused();
    const limit = config?.subrequestLimit ?? 0;
    return new TypeError(`Too many subrequests: a request may make at most ${limit} fetch() calls`);
  }
  if (context.id !== 0) op_skiff_subrequest(context.id);
  return null;
}

// Sets the hop header that stops loops of workers calling each other on a subrequest's
// header list, over any value the tenant gave.
export function setHops(headerList) {
  for (let i = headerList.length - 1; i >= 0; --i) {
    if (StringPrototypeToLowerCase(headerList[i][0]) === config.hopsHeader) {
      ArrayPrototypeSplice(headerList, i, 1);
    }
  }
  ArrayPrototypePush(headerList, [config.hopsHeader, String(invocation().hopsLeft)]);
}

// The longest message handed to the log op, in UTF-16 code units: one more than the op keeps
// (131072 bytes), so that it still sees that the message was cut; slicing here spares copying
// a huge string into Rust.
const LOG_MESSAGE_UNITS = 128 * 1024 + 1;

export function tenantLog(level, message) {
  const context = invocation();
  if (message.length > LOG_MESSAGE_UNITS) message = StringPrototypeSlice(message, 0, LOG_MESSAGE_UNITS);
  context.logBytes = op_skiff_log_within(level, message, context.logBytes);
}

// The tenant start: the runtime calls this once, just before it evaluates the tenant's main
// module. Everything that depends on the tenant, or on when it started, happens here or later.
export function tenantStart() {
  performanceMod.setTimeOrigin();
  config = op_skiff_config();
  // Subrequests made outside any request start a chain of their own.
  outsideRequests.hopsLeft = config.invocationDepth - 1;
}
