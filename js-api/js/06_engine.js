// What the engine layer leaves in a context that tenant code must not see or share: its
// internals on the global, one Math.random sequence per snapshot, native error constructors
// that do not inherit from Error. The boot (99_boot.js) calls these in every new runtime.

import { primordials } from "ext:core/mod.js";
import { cryptoMod, timers } from "ext:skiff_worker/00_modules.js";

const {
  Error,
  MathImul,
  ObjectDefineProperty,
  ObjectGetPrototypeOf,
  ObjectSetPrototypeOf,
  Promise,
  ReflectApply,
  TypeError,
} = primordials;

// The engine keeps Math.random's state in the context, so every runtime created from one
// startup snapshot would draw the same sequence. Each runtime gets its own generator instead
// (xoshiro128**, as fast as the engine's and as unpredictable across runtimes as V8's), seeded
// at boot from the system's CSPRNG.
export function seedMathRandom() {
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
export function repairErrorConstructors() {
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

export function hideEngineInternals() {
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
