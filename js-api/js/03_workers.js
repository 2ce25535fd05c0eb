// What Cloudflare Workers adds to the web standards' globals, with workerd's names, values and
// error messages: `navigator`'s values that Workers code sniffs, the `Cloudflare` global with
// the script's compatibility flags (and the globals those flags change), the `scheduler` global,
// `crypto.subtle.timingSafeEqual`, `crypto.DigestStream` and MD5 digests (src/digest.rs).
// 04_globals.js defines the globals.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_digest_abort,
  op_skiff_digest_close,
  op_skiff_digest_once,
  op_skiff_digest_open,
  op_skiff_digest_write,
} from "ext:core/ops";
import {
  abortSignal,
  cryptoMod,
  domException,
  streams,
  timers,
  webidl,
} from "ext:skiff_worker/00_modules.js";
import { bufferBytes } from "ext:skiff_worker/03_keys.js";

const {
  ArrayBufferIsView,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  ObjectDefineProperty,
  ObjectFreeze,
  ObjectHasOwn,
  Promise,
  PromisePrototypeCatch,
  PromiseReject,
  PromiseResolve,
  ReflectApply,
  StringPrototypeToUpperCase,
  Symbol,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetSymbolToStringTag,
  Uint8Array,
} = primordials;
const { DOMException } = domException;
const { isArrayBuffer } = core;

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

  get platform() {
    return "";
  }

  // Removed at the tenant's start unless `enable_navigator_language` is on (see
  // applyCompatibility).
  get language() {
    return "en";
  }

  get languages() {
    return ["en"];
  }
}
export const navigator = new Navigator(illegalConstructorKey);

// The `Cloudflare` global: `compatibilityFlags` is a frozen object without prototype that maps
// every flag of the runtime's table (src/compat.rs) to whether it is on for this script; a flag
// the table does not know reads `undefined`.
class Cloudflare {
  constructor(key = undefined) {
    if (key !== illegalConstructorKey) webidl.illegalConstructor();
  }
}
export const cloudflare = new Cloudflare(illegalConstructorKey);

// Applies the script's resolved compatibility table (`[name, on]` pairs), once, when its
// tenant starts: a runtime is booted before anyone knows the script.
export function applyCompatibility(table) {
  const flags = { __proto__: null };
  for (let i = 0; i < table.length; i++) flags[table[i][0]] = table[i][1];
  ObjectDefineProperty(cloudflare, "compatibilityFlags", {
    __proto__: null,
    value: ObjectFreeze(flags),
    writable: false,
    enumerable: true,
    configurable: false,
  });
  if (!flags.enable_navigator_language) {
    delete Navigator.prototype.language;
    delete Navigator.prototype.languages;
  }
  if (!flags.global_navigator) delete globalThis.navigator;
}

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

// The bytes a BufferSource views, copied once (what a getter or a resize does to the caller's
// buffer afterwards cannot change them), or null for a value that is no BufferSource. Shared
// with 03_streams.js and 03_websocket.js.
export function bufferSourceBytes(value) {
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
  let length;
  try {
    // Throws for anything but an ArrayBuffer (a SharedArrayBuffer included).
    length = ArrayBufferPrototypeGetByteLength(value);
  } catch {
    return null;
  }
  return new Uint8Array(ArrayBufferPrototypeSlice(value, 0, length));
}

// bufferSourceBytes for an argument: a TypeError, worded by webidl, for anything else.
function copyBufferSource(value, prefix, context) {
  const bytes = bufferSourceBytes(value);
  if (bytes !== null) return bytes;
  webidl.converters.ArrayBuffer(value, prefix, context);
  throw new TypeError(`${prefix}: ${context} is not an ArrayBuffer or ArrayBufferView.`);
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

// The digests Workers knows, by name (case-insensitive), with the numbers src/digest.rs takes.
const DIGESTS = { __proto__: null, "SHA-1": 0, "SHA-256": 1, "SHA-384": 2, "SHA-512": 3, "MD5": 4 };

// The number of a digest AlgorithmIdentifier (a name, or an object with one), read once.
function digestNumber(algorithm, prefix) {
  const name = typeof algorithm === "object" && algorithm !== null
    ? webidl.converters.DOMString(algorithm.name, prefix, "name")
    : webidl.converters.DOMString(algorithm, prefix, "Argument 1");
  const upper = StringPrototypeToUpperCase(name);
  if (!ObjectHasOwn(DIGESTS, upper)) {
    throw new DOMException("Unrecognized or unimplemented digest algorithm requested.", "NotSupportedError");
  }
  return DIGESTS[upper];
}

// Workers' crypto.DigestStream: a WritableStream of bytes (or strings, as UTF-8) whose `digest`
// resolves with the digest's ArrayBuffer once the stream is closed, and rejects with the reason
// if it is aborted or written something else. The data is hashed as it comes, never held.
class DigestStream extends streams.WritableStream {
  #digest;
  #state;

  constructor(algorithm) {
    const prefix = "Failed to construct 'DigestStream'";
    webidl.requiredArguments(arguments.length, 1, prefix);
    const rid = op_skiff_digest_open(digestNumber(algorithm, prefix));
    const state = { bytesWritten: 0, open: true };
    let resolve;
    let reject;
    const digest = new Promise((yes, no) => {
      resolve = yes;
      reject = no;
    });
    // A digest nobody reads is no unhandled rejection: the stream's own promises carry the error.
    PromisePrototypeCatch(digest, () => {});
    const fail = (reason) => {
      if (!state.open) return;
      state.open = false;
      op_skiff_digest_abort(rid);
      reject(reason);
    };
    super({
      write(chunk) {
        let bytes = chunk;
        if (typeof chunk === "string") {
          bytes = core.encode(chunk);
        } else if (!isArrayBuffer(chunk) && !ArrayBufferIsView(chunk)) {
          const error = new TypeError(
            "DigestStream is a byte stream but received an object of non-ArrayBuffer/ArrayBufferView/string type on its writable side.",
          );
          fail(error);
          throw error;
        }
        op_skiff_digest_write(rid, bytes);
        state.bytesWritten += bufferBytes(bytes);
      },
      close() {
        state.open = false;
        resolve(TypedArrayPrototypeGetBuffer(op_skiff_digest_close(rid)));
      },
      abort(reason) {
        fail(reason);
      },
    });
    this.#digest = digest;
    this.#state = state;
  }

  get digest() {
    return this.#digest;
  }

  get bytesWritten() {
    return this.#state.bytesWritten;
  }
}
ObjectDefineProperty(cryptoMod.Crypto.prototype, "DigestStream", {
  __proto__: null,
  value: DigestStream,
  writable: true,
  enumerable: false,
  configurable: true,
});

// subtle.digest() with MD5 too, as workerd has it (for checksums, not for security); every
// other algorithm is deno_crypto's.
const standardDigest = cryptoMod.SubtleCrypto.prototype.digest;
function digest(algorithm, data) {
  const name = typeof algorithm === "object" && algorithm !== null ? algorithm.name : algorithm;
  if (typeof name !== "string" || StringPrototypeToUpperCase(name) !== "MD5") {
    return ReflectApply(standardDigest, this, arguments);
  }
  try {
    const prefix = "Failed to execute 'digest' on 'SubtleCrypto'";
    webidl.assertBranded(this, cryptoMod.SubtleCrypto.prototype);
    webidl.requiredArguments(arguments.length, 2, prefix);
    const bytes = copyBufferSource(data, prefix, "Argument 2");
    return PromiseResolve(TypedArrayPrototypeGetBuffer(op_skiff_digest_once(DIGESTS.MD5, bytes)));
  } catch (error) {
    return PromiseReject(error);
  }
}
ObjectDefineProperty(cryptoMod.SubtleCrypto.prototype, "digest", {
  __proto__: null,
  value: digest,
  writable: true,
  enumerable: true,
  configurable: true,
});
