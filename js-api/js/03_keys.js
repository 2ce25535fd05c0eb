// Key material counts toward the isolate's memory limit. deno_crypto keeps a CryptoKey's bytes
// in Rust, outside the engine heap, where the heap limit never saw them: a worker held 128
// HMAC keys of 1 MiB under a 32 MiB limit. Every key that SubtleCrypto makes is charged to the
// isolate's external memory (js-api/src/memory.rs) at its size, which condemns the isolate
// past the limit as a blob does. The charge stays for the isolate's life: the engine layer
// frees the native side of a key only with its isolate (vendor/README.md), whenever its
// CryptoKey object is collected.

import { primordials } from "ext:core/mod.js";
import { op_skiff_key_material } from "ext:core/ops";
import { cryptoMod, domException } from "ext:skiff_worker/00_modules.js";

const {
  ArrayBufferIsView,
  ArrayPrototypeSlice,
  ArrayBufferPrototypeGetByteLength,
  DataViewPrototypeGetByteLength,
  MathCeil,
  MathMax,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ObjectPrototypeIsPrototypeOf,
  Number,
  PromisePrototypeThen,
  PromiseReject,
  PromiseResolve,
  ReflectApply,
  SafeArrayIterator,
  SafeSet,
  String,
  StringPrototypeToUpperCase,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetSymbolToStringTag,
} = primordials;

const { CryptoKey, SubtleCrypto } = cryptoMod;
const CryptoKeyPrototype = CryptoKey.prototype;
const keyType = ObjectGetOwnPropertyDescriptor(CryptoKeyPrototype, "type").get;
const keyAlgorithm = ObjectGetOwnPropertyDescriptor(CryptoKeyPrototype, "algorithm").get;

// What a key costs besides its bytes (its handle and bookkeeping), and what an elliptic-curve
// or Edwards key costs in all.
const KEY_OVERHEAD = 64;
const SMALL_KEY = 128;

// The bytes of a BufferSource, or 0 for anything else (a JsonWebKey).
export function bufferBytes(data) {
  if (ArrayBufferIsView(data)) {
    return TypedArrayPrototypeGetSymbolToStringTag(data) === undefined
      ? DataViewPrototypeGetByteLength(data)
      : TypedArrayPrototypeGetByteLength(data);
  }
  try {
    return ArrayBufferPrototypeGetByteLength(data);
  } catch {
    return 0;
  }
}

// A positive number of bits from an algorithm dictionary member, or 0.
function bits(value) {
  return typeof value === "number" && value > 0 ? value : 0;
}

// Charges one key: a secret key at its length (or the bytes it was made from, for algorithms
// without a length: HKDF, PBKDF2), an RSA key at five times its modulus (a private key holds
// n, d, p, q and the CRT values), any other key at a small fixed size.
function charge(key, sourceBytes) {
  if (!ObjectPrototypeIsPrototypeOf(CryptoKeyPrototype, key)) return;
  const algorithm = ReflectApply(keyAlgorithm, key, []);
  let bytes;
  if (ReflectApply(keyType, key, []) === "secret") {
    bytes = MathMax(sourceBytes, bits(algorithm.length) / 8);
  } else {
    const modulus = bits(algorithm.modulusLength);
    bytes = modulus > 0 ? (modulus / 8) * 5 : SMALL_KEY;
  }
  bytes = MathCeil(bytes) + KEY_OVERHEAD;
  op_skiff_key_material(bytes);
}

// Replaces SubtleCrypto.prototype[name] with a method of the same name, length and property
// attributes that charges the keys its promise resolves to. `sourceBytes` reads, from the
// arguments, the size of the material the key is made from, before the call copies it; `call`
// makes the call, as `ReflectApply(original, this, args)` does (the default).
function charging(name, sourceBytes, call = ReflectApply) {
  const descriptor = ObjectGetOwnPropertyDescriptor(SubtleCrypto.prototype, name);
  const original = descriptor.value;
  const method = {
    [name](...args) {
      const source = sourceBytes(args);
      return PromisePrototypeThen(call(original, this, args), (result) => {
        if (ObjectPrototypeIsPrototypeOf(CryptoKeyPrototype, result)) {
          charge(result, source);
        } else if (result !== null && typeof result === "object") {
          // A CryptoKeyPair: a dictionary made by the call, with own data properties.
          charge(result.publicKey, 0);
          charge(result.privateKey, 0);
        }
        return result;
      });
    },
  }[name];
  ObjectDefineProperty(method, "length", { __proto__: null, value: original.length });
  ObjectDefineProperty(SubtleCrypto.prototype, name, { ...descriptor, value: method });
}

// RSA key generation runs on a blocking thread, off the isolate's CPU clock (deno_crypto does
// it there), and its time grows fast with the modulus: about 2 s for 4096 bits here, over 30 s
// for 8192. Moduli above 4096 bits are refused, and an isolate's RSA generations run one at a
// time, so one isolate keeps at most one core busy with them.
const RSA_ALGORITHMS = new SafeSet(["RSASSA-PKCS1-V1_5", "RSA-PSS", "RSA-OAEP"]);
const MAX_RSA_BITS = 4096;
// The last RSA generation of this isolate, settled or not (a promise cannot be in the startup
// snapshot, so there is none until the first).
let rsaGenerations = null;

function generateKey(original, self, args) {
  const algorithm = args[0];
  if (algorithm === null || typeof algorithm !== "object") {
    return ReflectApply(original, self, args);
  }
  let params;
  try {
    // Each member is read once, here, and the call gets this copy: a getter cannot show one
    // modulus to the check and another to the generation.
    const name = String(algorithm.name);
    if (!RSA_ALGORITHMS.has(StringPrototypeToUpperCase(name))) {
      return ReflectApply(original, self, args);
    }
    params = {
      name,
      modulusLength: Number(algorithm.modulusLength),
      publicExponent: algorithm.publicExponent,
      hash: algorithm.hash,
    };
  } catch (error) {
    return PromiseReject(error);
  }
  if (params.modulusLength > MAX_RSA_BITS) {
    return PromiseReject(
      new domException.DOMException(
        `RSA keys of more than ${MAX_RSA_BITS} bits cannot be generated ` +
          `(modulusLength ${params.modulusLength})`,
        "OperationError",
      ),
    );
  }
  const rest = ArrayPrototypeSlice(args, 1);
  const generated = PromisePrototypeThen(
    rsaGenerations ?? PromiseResolve(),
    () => ReflectApply(original, self, [params, ...new SafeArrayIterator(rest)]),
  );
  rsaGenerations = PromisePrototypeThen(generated, noop, noop);
  return generated;
}

function noop() {}

charging("importKey", (args) => bufferBytes(args[1]));
charging("unwrapKey", (args) => bufferBytes(args[1]));
charging("generateKey", () => 0, generateKey);
charging("deriveKey", () => 0);
