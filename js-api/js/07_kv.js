// Workers KV: Cloudflare's `KVNamespace`, the class of a tenant's `env` bindings to KV
// namespaces. The ops (src/bindings/kv.rs) check every limit and reach the node's store; an
// instance names its namespace only by its binding name, which the ops look up in the
// tenant's own configuration.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_kv_delete,
  op_skiff_kv_get,
  op_skiff_kv_list,
  op_skiff_kv_put,
} from "ext:core/ops";
import { streams } from "ext:skiff_worker/00_modules.js";

const {
  ArrayBufferIsView,
  ArrayBufferPrototype,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  ArrayPrototypePush,
  Error,
  JSONParse,
  JSONStringify,
  Number,
  ObjectPrototypeIsPrototypeOf,
  String,
  Symbol,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeSet,
  Uint8Array,
} = primordials;

const { ReadableStream, ReadableStreamPrototype } = streams;

// Cloudflare's limit on a value, checked here too while a stream is read so that a stream
// never grows past it in memory.
const MAX_VALUE_BYTES = 25 * 1024 * 1024;
const TYPES = ["text", "json", "arrayBuffer", "stream"];
const PUT_TYPES_ERROR =
  "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.";

// Only the dispatcher makes bindings.
const token = Symbol("KVNamespace");

function keyName(key) {
  const name = String(key);
  if (name === "") throw new TypeError("Key name cannot be empty.");
  if (name === ".") throw new TypeError('"." is not allowed as a key name.');
  if (name === "..") throw new TypeError('".." is not allowed as a key name.');
  return name;
}

function readOptions(options) {
  if (options === undefined || options === null) return { type: "text", cacheTtl: undefined };
  if (typeof options === "string") return { type: options, cacheTtl: undefined };
  const type = options.type === undefined ? "text" : String(options.type);
  const cacheTtl = options.cacheTtl === undefined ? undefined : Number(options.cacheTtl);
  return { type, cacheTtl };
}

function checkType(type) {
  for (let i = 0; i < TYPES.length; i++) {
    if (TYPES[i] === type) return;
  }
  throw new TypeError(
    'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".',
  );
}

// A fresh ArrayBuffer holding exactly the bytes of `view`.
function ownBuffer(view) {
  const buffer = TypedArrayPrototypeGetBuffer(view);
  const offset = TypedArrayPrototypeGetByteOffset(view);
  const length = TypedArrayPrototypeGetByteLength(view);
  if (offset === 0 && ArrayBufferPrototypeGetByteLength(buffer) === length) return buffer;
  return ArrayBufferPrototypeSlice(buffer, offset, offset + length);
}

function convert(bytes, type) {
  switch (type) {
    case "text":
      return core.decode(bytes);
    case "json":
      return JSONParse(core.decode(bytes));
    case "arrayBuffer":
      return ownBuffer(bytes);
    default:
      return new ReadableStream({
        type: "bytes",
        start(controller) {
          if (TypedArrayPrototypeGetByteLength(bytes) > 0) controller.enqueue(bytes);
          controller.close();
        },
      });
  }
}

function tooLarge(size) {
  return new Error(`KV PUT failed: 413 Value length of ${size} exceeds limit of ${MAX_VALUE_BYTES}.`);
}

// Reads a stream's chunks into one Uint8Array, refusing it once it passes the limit.
async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!ArrayBufferIsView(value) && !ObjectPrototypeIsPrototypeOf(ArrayBufferPrototype, value)) {
      await reader.cancel();
      throw new TypeError("A KV put() stream must yield ArrayBuffers or ArrayBufferViews.");
    }
    const chunk = bytesOf(value);
    size += TypedArrayPrototypeGetByteLength(chunk);
    if (size > MAX_VALUE_BYTES) {
      await reader.cancel();
      throw tooLarge(size);
    }
    ArrayPrototypePush(chunks, chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(all, chunks[i], at);
    at += TypedArrayPrototypeGetByteLength(chunks[i]);
  }
  return all;
}

function bytesOf(value) {
  if (ArrayBufferIsView(value)) {
    return new Uint8Array(
      TypedArrayPrototypeGetBuffer(value),
      TypedArrayPrototypeGetByteOffset(value),
      TypedArrayPrototypeGetByteLength(value),
    );
  }
  return new Uint8Array(value);
}

async function valueBytes(value) {
  if (typeof value !== "object" || value === null) return core.encode(String(value));
  if (ObjectPrototypeIsPrototypeOf(ReadableStreamPrototype, value)) return await readAll(value);
  if (ArrayBufferIsView(value) || ObjectPrototypeIsPrototypeOf(ArrayBufferPrototype, value)) {
    return bytesOf(value);
  }
  throw new TypeError(PUT_TYPES_ERROR);
}

export class KVNamespace {
  #binding;

  constructor(key, binding) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }

  async get(key, options) {
    const name = keyName(key);
    const { type, cacheTtl } = readOptions(options);
    checkType(type);
    const found = await op_skiff_kv_get(this.#binding, name, cacheTtl);
    return found === null ? null : convert(found.value, type);
  }

  async getWithMetadata(key, options) {
    const name = keyName(key);
    const { type, cacheTtl } = readOptions(options);
    checkType(type);
    const found = await op_skiff_kv_get(this.#binding, name, cacheTtl);
    if (found === null) return { value: null, metadata: null, cacheStatus: null };
    return {
      value: convert(found.value, type),
      metadata: found.metadata === null ? null : JSONParse(found.metadata),
      cacheStatus: null,
    };
  }

  async put(key, value, options) {
    const name = keyName(key);
    const bytes = await valueBytes(value);
    const args = { key: name, expiration: null, expirationTtl: null, metadata: null };
    if (options !== undefined && options !== null) {
      if (options.expiration !== undefined) args.expiration = Number(options.expiration);
      if (options.expirationTtl !== undefined) args.expirationTtl = Number(options.expirationTtl);
      if (options.metadata !== undefined && options.metadata !== null) {
        args.metadata = JSONStringify(options.metadata);
      }
    }
    await op_skiff_kv_put(this.#binding, args, bytes);
  }

  async delete(key) {
    await op_skiff_kv_delete(this.#binding, keyName(key));
  }

  async list(options) {
    const args = { prefix: null, limit: null, cursor: null };
    if (options !== undefined && options !== null) {
      if (options.prefix !== undefined && options.prefix !== null) {
        args.prefix = String(options.prefix);
      }
      if (options.limit !== undefined && options.limit !== null) args.limit = Number(options.limit);
      if (options.cursor !== undefined && options.cursor !== null) {
        args.cursor = String(options.cursor);
      }
    }
    const page = await op_skiff_kv_list(this.#binding, args);
    const result = { keys: page.keys, list_complete: page.list_complete, cacheStatus: null };
    if (page.cursor !== undefined && page.cursor !== null) result.cursor = page.cursor;
    return result;
  }
}

// The binding named `name` of the tenant's `env`.
export function kvBinding(name) {
  return new KVNamespace(token, name);
}
