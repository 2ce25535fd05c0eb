// What Cloudflare Workers adds to the web standards' globals, with workerd's names, values and
// error messages: `navigator`'s values that Workers code sniffs, the `scheduler` global, and
// `crypto.subtle.timingSafeEqual`. 04_globals.js defines the globals.

import { primordials } from "ext:core/mod.js";
import { abortSignal, cryptoMod, timers, webidl } from "ext:skiff_worker/00_modules.js";

const {
  ArrayBufferIsView,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  ObjectDefineProperty,
  Promise,
  PromiseReject,
  Symbol,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetSymbolToStringTag,
  Uint8Array,
} = primordials;

const illegalConstructorKey = Symbol("illegalConstructorKey");
// deno's timers refuse any `this` but the global object or undefined: called unbound.
const { setTimeout, clearTimeout } = timers;

// workerd's Navigator: Workers code checks `userAgent` to know it runs on Workers, and sizes
// work by `hardwareConcurrency`, which is one core from a worker's point of view.
export class Navigator {
  constructor(key = undefined) {
    if (key !== illegalConstructorKey) webidl.illegalConstructor();
  }

  get userAgent() {
    return "Cloudflare-Workers";
  }

  get hardwareConcurrency() {
    return 1;
  }

  get language() {
    return "en";
  }

  get languages() {
    return ["en"];
  }
}
export const navigator = new Navigator(illegalConstructorKey);

// Workers' Scheduler: `wait(delay, { signal })` is an awaitable setTimeout. An aborted signal
// rejects it with the signal's reason and clears its timer.
export class Scheduler {
  constructor(key = undefined) {
    if (key !== illegalConstructorKey) webidl.illegalConstructor();
  }

  wait(delay, options = undefined) {
    const prefix = "Failed to execute 'wait' on 'Scheduler'";
    let signal;
    try {
      webidl.assertBranded(this, SchedulerPrototype);
      webidl.requiredArguments(arguments.length, 1, prefix);
      delay = webidl.converters["unrestricted double"](delay, prefix, "Argument 1");
      signal = waitOptions(options, prefix).signal;
    } catch (error) {
      return PromiseReject(error);
    }
    if (signal?.aborted) return PromiseReject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(id);
        reject(signal.reason);
      };
      const id = setTimeout(() => {
        signal?.[abortSignal.remove](onAbort);
        resolve();
      }, delay);
      signal?.[abortSignal.add](onAbort);
    });
  }
}
webidl.configureInterface(Scheduler);
const SchedulerPrototype = Scheduler.prototype;
export const scheduler = webidl.createBranded(Scheduler);

const waitOptions = webidl.createDictionaryConverter("WaitOptions", [
  {
    key: "signal",
    converter: webidl.converters.AbortSignal,
  },
]);

// The bytes a BufferSource views, copied once: what a getter or a resize does to the caller's
// buffer afterwards cannot change them.
function copyBufferSource(value, prefix, context) {
  if (ArrayBufferIsView(value)) {
    if (TypedArrayPrototypeGetSymbolToStringTag(value) !== undefined) {
      const offset = TypedArrayPrototypeGetByteOffset(value);
      const end = offset + TypedArrayPrototypeGetByteLength(value);
      return new Uint8Array(ArrayBufferPrototypeSlice(TypedArrayPrototypeGetBuffer(value), offset, end));
    }
    const offset = DataViewPrototypeGetByteOffset(value);
    const end = offset + DataViewPrototypeGetByteLength(value);
    return new Uint8Array(ArrayBufferPrototypeSlice(DataViewPrototypeGetBuffer(value), offset, end));
  }
  webidl.converters.ArrayBuffer(value, prefix, context);
  return new Uint8Array(ArrayBufferPrototypeSlice(value, 0, ArrayBufferPrototypeGetByteLength(value)));
}

// crypto.subtle.timingSafeEqual(a, b): whether two buffers of the same length hold the same
// bytes, in time that depends only on their length (Node's crypto.timingSafeEqual, which
// Workers adds to SubtleCrypto).
function timingSafeEqual(a, b) {
  const prefix = "Failed to execute 'timingSafeEqual' on 'SubtleCrypto'";
  webidl.assertBranded(this, cryptoMod.SubtleCrypto.prototype);
  webidl.requiredArguments(arguments.length, 2, prefix);
  const left = copyBufferSource(a, prefix, "Argument 1");
  const right = copyBufferSource(b, prefix, "Argument 2");
  if (left.length !== right.length) {
    throw new TypeError("Input buffers must have the same byte length.");
  }
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= left[i] ^ right[i];
  return difference === 0;
}
ObjectDefineProperty(cryptoMod.SubtleCrypto.prototype, "timingSafeEqual", {
  __proto__: null,
  value: timingSafeEqual,
  writable: true,
  enumerable: true,
  configurable: true,
});
