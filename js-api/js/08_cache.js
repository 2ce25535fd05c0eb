// The Cache API as Cloudflare's Workers have it: the `caches` global (a `CacheStorage` with
// `default` and `open(name)`) and `Cache` with `match`, `put` and `delete`. Entries live in
// the node's store (src/cache.rs), keyed there by the tenant's script name, which the ops take
// from the isolate's configuration: a `Cache` names only its cache and a URL, so no script
// can reach another's entries. The refusals that throw (Cloudflare's messages) are checked
// here, before `put` reads the response's body.

import { primordials } from "ext:core/mod.js";
import { op_skiff_cache_delete, op_skiff_cache_match, op_skiff_cache_put } from "ext:core/ops";
import { body, headers, request, response } from "ext:skiff_worker/00_modules.js";
import { defineGlobal } from "ext:skiff_worker/04_globals.js";

const {
  Error,
  ObjectGetOwnPropertyDescriptor,
  ObjectPrototypeIsPrototypeOf,
  ReflectApply,
  String,
  StringPrototypeIncludes,
  Symbol,
  TypeError,
  TypedArrayPrototypeGetByteLength,
  Uint8Array,
} = primordials;

const { InnerBody } = body;
const { getHeader, headerListFromHeaders } = headers;
const { Request, RequestPrototype, toInnerRequest } = request;
const {
  ResponsePrototype,
  fromInnerResponse,
  newInnerResponse,
  nullBodyStatus,
  toInnerResponse,
  wireHeaderList,
} = response;
const requestHeaders = ObjectGetOwnPropertyDescriptor(RequestPrototype, "headers").get;
const readArrayBuffer = ResponsePrototype.arrayBuffer;

// Cloudflare refuses longer names.
const MAX_CACHE_NAME_LENGTH = 1024;

// Only this file makes caches.
const token = Symbol("Cache");

// The method, URL and header list of `input` (a Request, or what `new Request()` takes).
function requestParts(input) {
  const req = ObjectPrototypeIsPrototypeOf(RequestPrototype, input) ? input : new Request(input);
  const inner = toInnerRequest(req);
  return { req, method: inner.method, url: inner.url() };
}

function conditionalHeader(req, name) {
  return getHeader(headerListFromHeaders(ReflectApply(requestHeaders, req, [])), name);
}

function matchedResponse(found) {
  const inner = newInnerResponse(found.status, found.statusText);
  inner.headerList = found.headers;
  if (found.body !== null && !nullBodyStatus(found.status)) {
    const stored = new InnerBody({ body: found.body, consumed: false });
    stored.length = TypedArrayPrototypeGetByteLength(found.body);
    inner.body = stored;
  }
  return fromInnerResponse(inner, "immutable");
}

function unimplemented(method, type) {
  return new Error(`Failed to execute '${method}' on '${type}': the method is not implemented.`);
}

class Cache {
  #name;

  constructor(key = undefined, name = null) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#name = name;
  }

  async match(req, options = undefined) {
    const name = this.#name;
    const parts = requestParts(req);
    if (parts.method !== "GET" && !options?.ignoreMethod) return undefined;
    const found = op_skiff_cache_match(
      name,
      parts.url,
      conditionalHeader(parts.req, "if-none-match"),
      conditionalHeader(parts.req, "if-modified-since"),
    );
    return found === null ? undefined : matchedResponse(found);
  }

  async put(req, res) {
    const name = this.#name;
    const parts = requestParts(req);
    if (!ObjectPrototypeIsPrototypeOf(ResponsePrototype, res)) {
      throw new TypeError("Failed to execute 'put' on 'Cache': parameter 2 is not of type 'Response'.");
    }
    const inner = toInnerResponse(res);
    if (inner.type === "error") throw new TypeError("Cache is unable to store an error response");
    if (parts.method !== "GET") throw new TypeError("Cannot cache response to non-GET request.");
    if (inner.status === 206) {
      throw new TypeError("Cannot cache response to a range request (206 Partial Content).");
    }
    const vary = getHeader(inner.headerList, "vary");
    if (vary !== null && StringPrototypeIncludes(vary, "*")) {
      throw new TypeError("Cannot cache response with 'Vary: *' header.");
    }
    // Read whole (the store keeps bodies as bytes); a body already read throws here.
    const bytes = new Uint8Array(await ReflectApply(readArrayBuffer, res, []));
    op_skiff_cache_put(
      name,
      parts.url,
      inner.status,
      inner.statusMessage,
      wireHeaderList(inner),
      bytes,
    );
  }

  async delete(req, options = undefined) {
    const name = this.#name;
    const parts = requestParts(req);
    if (parts.method !== "GET" && !options?.ignoreMethod) return false;
    return op_skiff_cache_delete(name, parts.url);
  }

  add() {
    throw unimplemented("add", "Cache");
  }

  addAll() {
    throw unimplemented("addAll", "Cache");
  }

  matchAll() {
    throw unimplemented("matchAll", "Cache");
  }

  keys() {
    throw unimplemented("keys", "Cache");
  }
}

class CacheStorage {
  #default;

  constructor(key = undefined) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#default = new Cache(token, null);
  }

  get default() {
    return this.#default;
  }

  async open(cacheName) {
    // A brand check, as the getter's.
    this.#default;
    if (cacheName === undefined) {
      throw new TypeError("Failed to execute 'open' on 'CacheStorage': parameter 1 is not of type 'string'.");
    }
    const name = String(cacheName);
    if (name.length >= MAX_CACHE_NAME_LENGTH) throw new TypeError("Cache name is too long.");
    return new Cache(token, name);
  }

  match() {
    throw unimplemented("match", "CacheStorage");
  }

  has() {
    throw unimplemented("has", "CacheStorage");
  }

  delete() {
    throw unimplemented("delete", "CacheStorage");
  }

  keys() {
    throw unimplemented("keys", "CacheStorage");
  }
}

defineGlobal("Cache", Cache);
defineGlobal("CacheStorage", CacheStorage);
defineGlobal("caches", new CacheStorage(token));
