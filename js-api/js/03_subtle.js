// What Workers' WebCrypto does that deno_crypto does not, or says with other words, as
// workerd does it: the NODE-ED25519 algorithm (Ed25519 under its older Workers name, which
// keys report as their algorithm), AES-GCM refusing an empty IV, RSA key generation limited
// to the public exponents 3 and 65537, the `alg` of an RSA JWK checked against the requested
// hash only, and an EC private JWK whose "x" and "y" are not the public key of its "d"
// refused. Each wrapper reads the algorithm's `name` once and hands deno_crypto an object
// whose own properties hold what it read (the caller's object is its prototype, for the rest).

import { primordials } from "ext:core/mod.js";
import { base64, cryptoMod, domException } from "ext:skiff_worker/00_modules.js";
import { bufferSourceBytes } from "ext:skiff_worker/03_workers.js";

const {
  ArrayPrototypeIncludes,
  Boolean,
  ObjectDefineProperty,
  ObjectPrototypeIsPrototypeOf,
  String,
  StringPrototypeCharCodeAt,
  StringPrototypeReplaceAll,
  StringPrototypeSlice,
  ObjectFreeze,
  ObjectGetOwnPropertyDescriptor,
  PromisePrototypeThen,
  PromiseReject,
  ReflectApply,
  SafeWeakMap,
  StringPrototypeToUpperCase,
  TypedArrayPrototypeGetLength,
  WeakMapPrototypeGet,
  WeakMapPrototypeSet,
} = primordials;
const { DOMException } = domException;
const { CryptoKey, SubtleCrypto } = cryptoMod;
const subtle = SubtleCrypto.prototype;
const standard = {
  generateKey: subtle.generateKey,
  importKey: subtle.importKey,
  exportKey: subtle.exportKey,
  sign: subtle.sign,
  verify: subtle.verify,
  encrypt: subtle.encrypt,
  decrypt: subtle.decrypt,
};

const NODE_ED25519 = "NODE-ED25519";
const RSA = ["RSASSA-PKCS1-V1_5", "RSA-PSS", "RSA-OAEP"];
const EC = ["ECDSA", "ECDH"];

// An AlgorithmIdentifier's name, read once: [name in upper case, the identifier to hand on].
function algorithmName(algorithm) {
  if (typeof algorithm === "string") return [StringPrototypeToUpperCase(algorithm), algorithm];
  if (algorithm === null || typeof algorithm !== "object") return [undefined, algorithm];
  const name = algorithm.name;
  if (typeof name !== "string") return [undefined, algorithm];
  return [StringPrototypeToUpperCase(name), { __proto__: algorithm, name }];
}

function rejectWith(message, name) {
  return PromiseReject(new DOMException(message, name));
}

// The keys made as NODE-ED25519, and the algorithm each reports.
const nodeKeys = new SafeWeakMap();
function markNodeKeys(result) {
  const mark = (key) => {
    WeakMapPrototypeSet(nodeKeys, key, ObjectFreeze({ name: NODE_ED25519, namedCurve: NODE_ED25519 }));
  };
  if (ObjectPrototypeIsPrototypeOf(CryptoKey.prototype, result)) mark(result);
  else {
    mark(result.publicKey);
    mark(result.privateKey);
  }
  return result;
}
const algorithmGetter = ObjectGetOwnPropertyDescriptor(CryptoKey.prototype, "algorithm").get;
ObjectDefineProperty(CryptoKey.prototype, "algorithm", {
  __proto__: null,
  get() {
    return WeakMapPrototypeGet(nodeKeys, this) ?? ReflectApply(algorithmGetter, this, []);
  },
  enumerable: true,
  configurable: true,
});

// NODE-ED25519's parameters, checked as workerd checks them: its Ed25519 identifier, or a
// rejection.
function nodeEd25519(algorithm) {
  const curve = typeof algorithm === "object" ? algorithm.namedCurve : undefined;
  if (curve !== NODE_ED25519) {
    return [null, rejectWith(`EDDSA curve "${curve}" isn't supported.`, "NotSupportedError")];
  }
  return [{ name: "Ed25519" }, null];
}

// The numeric value of big-endian bytes, or undefined above 2^32.
function exponentValue(bytes) {
  let value = 0;
  let significant = 0;
  for (let i = 0; i < TypedArrayPrototypeGetLength(bytes); i++) {
    if (significant === 0 && bytes[i] === 0) continue;
    significant++;
    value = value * 256 + bytes[i];
  }
  return significant > 4 ? undefined : value;
}

function generateKey(algorithm, extractable, keyUsages) {
  const args = argumentList(arguments);
  const [name, handed] = algorithmName(algorithm);
  if (args.length > 0) args[0] = handed;
  if (name === NODE_ED25519) {
    const [ed25519, refused] = nodeEd25519(handed);
    if (refused !== null) return refused;
    args[0] = ed25519;
    return PromisePrototypeThen(ReflectApply(standard.generateKey, this, args), markNodeKeys);
  }
  if (ArrayPrototypeIncludes(RSA, name) && handed.publicExponent !== undefined) {
    const bytes = bufferSourceBytes(handed.publicExponent);
    if (bytes !== null) {
      const value = exponentValue(bytes);
      if (value === undefined) {
        return rejectWith(
          'The "publicExponent" must be either 3 or 65537, but got a number larger than 2^32.',
          "OperationError",
        );
      }
      if (value !== 3 && value !== 65537) {
        return rejectWith(
          `The "publicExponent" must be either 3 or 65537, but got ${value}.`,
          "OperationError",
        );
      }
      args[0] = { __proto__: handed, publicExponent: bytes };
    }
  }
  return ReflectApply(standard.generateKey, this, args);
}

// The hash each RSA JWK `alg` names (workerd's table), and the `alg` deno_crypto wants for a
// variant and a hash.
const JWK_RSA_HASHES = {
  __proto__: null,
  "RS1": "SHA-1",
  "RS256": "SHA-256",
  "RS384": "SHA-384",
  "RS512": "SHA-512",
  "PS1": "SHA-1",
  "PS256": "SHA-256",
  "PS384": "SHA-384",
  "PS512": "SHA-512",
  "RSA-OAEP": "SHA-1",
  "RSA-OAEP-256": "SHA-256",
  "RSA-OAEP-384": "SHA-384",
  "RSA-OAEP-512": "SHA-512",
};
function denoRsaAlg(variant, hash) {
  const bits = hash === "SHA-1" ? "1" : StringPrototypeSlice(hash, 4);
  if (variant === "RSA-OAEP") return hash === "SHA-1" ? "RSA-OAEP" : `RSA-OAEP-${bits}`;
  return (variant === "RSA-PSS" ? "PS" : "RS") + bits;
}

// The bytes of a base64url JWK member without leading zeros, for comparing numbers.
function jwkNumber(text) {
  if (typeof text !== "string") return undefined;
  let binary;
  try {
    binary = base64.atob(StringPrototypeReplaceAll(StringPrototypeReplaceAll(text, "-", "+"), "_", "/"));
  } catch {
    return undefined;
  }
  let start = 0;
  while (start < binary.length - 1 && StringPrototypeCharCodeAt(binary, start) === 0) start++;
  return StringPrototypeSlice(binary, start);
}

function importKey(format, keyData, algorithm, extractable, keyUsages) {
  const args = argumentList(arguments);
  const [name, handed] = algorithmName(algorithm);
  if (args.length > 2) args[2] = handed;
  if (name === NODE_ED25519) {
    const [ed25519, refused] = nodeEd25519(handed);
    if (refused !== null) return refused;
    args[2] = ed25519;
    return PromisePrototypeThen(ReflectApply(standard.importKey, this, args), markNodeKeys);
  }
  if (format !== "jwk" || keyData === null || typeof keyData !== "object") {
    return ReflectApply(standard.importKey, this, args);
  }
  if (ArrayPrototypeIncludes(RSA, name) && keyData.alg !== undefined) {
    const alg = String(keyData.alg);
    const jwkHash = JWK_RSA_HASHES[alg];
    if (jwkHash === undefined) {
      return rejectWith(
        `Unrecognized or unimplemented algorithm "${alg}" listed in JSON Web Key Algorithm parameter.`,
        "NotSupportedError",
      );
    }
    const requested = handed.hash;
    const hash = StringPrototypeToUpperCase(
      String(typeof requested === "object" && requested !== null ? requested.name : requested),
    );
    if (hash !== jwkHash) {
      return rejectWith(
        `JSON Web Key Algorithm parameter "alg" ("${alg}") does not match requested hash algorithm "${alg}".`,
        "DataError",
      );
    }
    args[1] = { __proto__: keyData, alg: denoRsaAlg(name, hash) };
    return ReflectApply(standard.importKey, this, args);
  }
  if (ArrayPrototypeIncludes(EC, name) && keyData.d !== undefined) {
    // deno_crypto keeps "d" and derives the public key from it, whatever "x" and "y" say.
    const jwk = { __proto__: keyData, x: keyData.x, y: keyData.y, d: keyData.d };
    args[1] = jwk;
    const probe = [format, jwk, handed, true, keyUsages];
    return PromisePrototypeThen(ReflectApply(standard.importKey, this, probe), (key) =>
      PromisePrototypeThen(ReflectApply(standard.exportKey, this, ["jwk", key]), (exported) => {
        if (jwkNumber(exported.x) !== jwkNumber(jwk.x) || jwkNumber(exported.y) !== jwkNumber(jwk.y)) {
          throw new DOMException("Invalid EC key in JSON Web Key.", "DataError");
        }
        return Boolean(extractable) ? key : ReflectApply(standard.importKey, this, args);
      }));
  }
  return ReflectApply(standard.importKey, this, args);
}

// The arguments of a call, as an array deno_crypto's method is applied to.
function argumentList(args) {
  const list = [];
  for (let i = 0; i < args.length; i++) list[i] = args[i];
  return list;
}

// sign and verify take NODE-ED25519 as Ed25519.
function signing(method) {
  return function () {
    const args = argumentList(arguments);
    const [name, handed] = algorithmName(args[0]);
    if (args.length > 0) args[0] = name === NODE_ED25519 ? { name: "Ed25519" } : handed;
    return ReflectApply(method, this, args);
  };
}

// encrypt and decrypt refuse an empty AES-GCM IV, with workerd's message.
function ciphering(method) {
  return function () {
    const args = argumentList(arguments);
    const [name, handed] = algorithmName(args[0]);
    if (args.length > 0) args[0] = handed;
    if (name === "AES-GCM" && typeof handed === "object" && handed.iv !== undefined) {
      const iv = bufferSourceBytes(handed.iv);
      if (iv !== null) {
        if (TypedArrayPrototypeGetLength(iv) === 0) {
          return rejectWith("AES-GCM IV must not be empty.", "OperationError");
        }
        args[0] = { __proto__: handed, iv };
      }
    }
    return ReflectApply(method, this, args);
  };
}

const replacements = {
  generateKey,
  importKey,
  sign: signing(standard.sign),
  verify: signing(standard.verify),
  encrypt: ciphering(standard.encrypt),
  decrypt: ciphering(standard.decrypt),
};
for (const name in replacements) {
  const replacement = replacements[name];
  // A getter of the caller's that throws rejects the promise, as in deno_crypto's own methods.
  const method = function () {
    try {
      return ReflectApply(replacement, this, arguments);
    } catch (error) {
      return PromiseReject(error);
    }
  };
  ObjectDefineProperty(method, "name", { __proto__: null, value: name, configurable: true });
  ObjectDefineProperty(method, "length", {
    __proto__: null,
    value: standard[name].length,
    configurable: true,
  });
  ObjectDefineProperty(subtle, name, {
    __proto__: null,
    value: method,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
