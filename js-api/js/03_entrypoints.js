// The classes of the `cloudflare:workers` module: `WorkerEntrypoint`, a class-based handler (a
// default export extending it is made anew for each event, with `this.ctx` and `this.env`, and
// a named one is reachable through `ctx.exports`), and `DurableObject` and `RpcTarget`, which
// scripts import (Skiff binds no Durable Objects). 05_dispatch.js puts them, with `env`, under
// CLOUDFLARE_WORKERS on the global; the bundle loader (runtime/src/bundle.rs) serves the
// module as a re-export of that object.

import { primordials } from "ext:core/mod.js";

const { ObjectPrototypeIsPrototypeOf, SymbolFor } = primordials;

// The global's key for the module's object (runtime/src/bundle.rs writes the same key).
export const CLOUDFLARE_WORKERS = SymbolFor("skiff:cloudflare:workers");

export class WorkerEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class DurableObject {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class RpcTarget {}

// Whether `value` is a class extending WorkerEntrypoint.
export function isEntrypointClass(value) {
  if (typeof value !== "function") return false;
  const prototype = value.prototype;
  return typeof prototype === "object" && prototype !== null &&
    ObjectPrototypeIsPrototypeOf(WorkerEntrypoint.prototype, prototype);
}
