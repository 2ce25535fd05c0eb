// Where deno's scripts depart from the standards in ways WPT measures, corrected in place:
// atob's alphabet, structuredClone's options and transfers, the interfaces that must not be
// cloned, the cloning of Error objects, and the origin of blob: URLs. conformance/tests/global_fixes.rs checks each.

import { core, primordials } from "ext:core/mod.js";
import {
  base64,
  domException,
  headers,
  messagePort,
  request,
  response,
  structuredCloneMod,
  url,
  webidl,
} from "ext:skiff_worker/00_modules.js";

const {
  ArrayBufferPrototypeGetDetached,
  ArrayBufferPrototypeTransfer,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ObjectHasOwn,
  ReflectApply,
  RegExpPrototypeExec,
  String,
} = primordials;
const { Response } = response;

// atob(): the engine layer's base64 decoder behind deno_web's atob also takes the base64url
// alphabet (`-`, `_`); forgiving-base64 decode knows only A-Z a-z 0-9 + / = and ASCII
// whitespace, and throws an InvalidCharacterError for anything else.
const NOT_FORGIVING_BASE64 = /[^A-Za-z0-9+/=\t\n\f\r ]/;

export function atob(data) {
  const prefix = "Failed to execute 'atob'";
  webidl.requiredArguments(arguments.length, 1, prefix);
  data = webidl.converters.DOMString(data, prefix, "Argument 1");
  if (RegExpPrototypeExec(NOT_FORGIVING_BASE64, data) !== null) {
    throw new domException.DOMException(
      "Failed to decode base64: invalid character",
      "InvalidCharacterError",
    );
  }
  return base64.atob(data);
}

// URL, URLSearchParams, Headers, Request and Response are not serializable: structuredClone()
// and postMessage() must throw a DataCloneError, wherever in the value they are. deno_core's
// serializer refuses an object that carries its host-object brand without a clone function
// (deno_web's streams are marked so); without it, it copies them as empty plain objects.
for (
  const Interface of [url.URL, url.URLSearchParams, headers.Headers, request.Request, Response]
) {
  ObjectDefineProperty(Interface.prototype, core.hostObjectBrand, {
    __proto__: null,
    value: Interface.name,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

// structuredClone(value, { transfer }): deno_web's structuredClone (02_structured_clone.js)
// takes no options: it neither checks them nor transfers. A transferred ArrayBuffer is handled
// here: the value is cloned (a buffer in it is copied), then each buffer in the list is
// detached, which is all a transfer shows. Anything else in the list (a MessagePort) goes to
// deno_web's MessagePort version, whose way of moving buffers fails on the QuickJS engine layer.
export function structuredClone(value, options = undefined) {
  const prefix = "Failed to execute 'structuredClone'";
  webidl.requiredArguments(arguments.length, 1, prefix);
  options = webidl.converters.StructuredSerializeOptions(options, prefix, "Argument 2");
  const transfer = options.transfer;
  if (transfer.length === 0) return structuredCloneMod.structuredClone(value);
  for (let i = 0; i < transfer.length; ++i) {
    const item = transfer[i];
    if (!core.isArrayBuffer(item)) return messagePort.structuredClone(value, options);
    if (ArrayBufferPrototypeGetDetached(item)) {
      throw new domException.DOMException(
        `ArrayBuffer at index ${i} is already detached`,
        "DataCloneError",
      );
    }
    for (let j = 0; j < i; ++j) {
      if (transfer[j] === item) {
        throw new domException.DOMException(
          `ArrayBuffer at index ${i} is already in the transfer list`,
          "DataCloneError",
        );
      }
    }
  }
  const clone = structuredCloneMod.structuredClone(value);
  for (let i = 0; i < transfer.length; ++i) ArrayBufferPrototypeTransfer(transfer[i]);
  return clone;
}

// structuredClone() of Error objects, as HTML serializes them: the clone's constructor comes
// from the value's `name` (Error, EvalError, RangeError, ReferenceError, SyntaxError,
// TypeError, URIError; any other name, a subclass's own included, gives an Error), never from
// its prototype, so a clone cannot be made an instance of a tenant's class. `message` comes
// along if it is an own data property; `stack` and `cause` come along as the engines keep
// them (a cause is cloned in turn). The engine layer's serializer has no Error class of its
// own: Errors go through deno_core's host-object path (as DOMException does), whose brand
// they inherit from Error.prototype.
const CLONEABLE_ERRORS = {
  __proto__: null,
  Error: primordials.Error,
  EvalError: primordials.EvalError,
  RangeError: primordials.RangeError,
  ReferenceError: primordials.ReferenceError,
  SyntaxError: primordials.SyntaxError,
  TypeError: primordials.TypeError,
  URIError: primordials.URIError,
};

function serializeError() {
  const name = this.name;
  const messageDescriptor = ObjectGetOwnPropertyDescriptor(this, "message");
  const causeDescriptor = ObjectGetOwnPropertyDescriptor(this, "cause");
  const stackDescriptor = ObjectGetOwnPropertyDescriptor(this, "stack");
  return {
    type: "Error",
    name: typeof name === "string" && CLONEABLE_ERRORS[name] !== undefined ? name : "Error",
    message: messageDescriptor !== undefined && ObjectHasOwn(messageDescriptor, "value")
      ? String(messageDescriptor.value)
      : undefined,
    stack: typeof stackDescriptor?.value === "string" ? stackDescriptor.value : undefined,
    hasCause: causeDescriptor !== undefined && ObjectHasOwn(causeDescriptor, "value"),
    cause: causeDescriptor?.value,
  };
}

ObjectDefineProperty(primordials.Error.prototype, core.hostObjectBrand, {
  __proto__: null,
  value: serializeError,
  writable: false,
  enumerable: false,
  configurable: false,
});

function defineHidden(object, key, value) {
  ObjectDefineProperty(object, key, {
    __proto__: null,
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}

core.registerCloneableResource("Error", (data) => {
  const error = new CLONEABLE_ERRORS[data.name]();
  if (data.message !== undefined) defineHidden(error, "message", data.message);
  if (data.stack !== undefined) defineHidden(error, "stack", data.stack);
  if (data.hasCause) defineHidden(error, "cause", data.cause);
  return error;
});

// URL.prototype.origin: deno_web gives a blob: URL the origin of whatever URL its path parses
// as; the spec gives it only that of an http(s) URL, and an opaque origin ("null") otherwise.
{
  const URLPrototype = url.URL.prototype;
  const originDescriptor = ObjectGetOwnPropertyDescriptor(URLPrototype, "origin");
  const denoOrigin = originDescriptor.get;
  const getProtocol = ObjectGetOwnPropertyDescriptor(URLPrototype, "protocol").get;
  const getPathname = ObjectGetOwnPropertyDescriptor(URLPrototype, "pathname").get;
  const accessors = {
    get origin() {
      const origin = ReflectApply(denoOrigin, this, []);
      if (ReflectApply(getProtocol, this, []) !== "blob:") return origin;
      let inner;
      try {
        inner = new url.URL(ReflectApply(getPathname, this, []));
      } catch {
        return "null";
      }
      const scheme = ReflectApply(getProtocol, inner, []);
      return scheme === "http:" || scheme === "https:" ? origin : "null";
    },
  };
  ObjectDefineProperty(URLPrototype, "origin", {
    __proto__: null,
    get: ObjectGetOwnPropertyDescriptor(accessors, "origin").get,
    set: undefined,
    enumerable: originDescriptor.enumerable,
    configurable: originDescriptor.configurable,
  });
}
