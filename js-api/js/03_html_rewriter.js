// HTMLRewriter as Cloudflare Workers has it: `new HTMLRewriter().on(selector, handlers)
// .onDocument(handlers).transform(response)`, streaming the response's body through lol_html
// (src/html_rewriter.rs) and calling the handlers, sync or async, with tokens whose methods
// reach the token lol_html holds while the handler runs. Errors carry workerd's messages.

import { primordials } from "ext:core/mod.js";
import {
  op_skiff_html_call,
  op_skiff_html_close,
  op_skiff_html_content,
  op_skiff_html_done,
  op_skiff_html_end,
  op_skiff_html_new,
  op_skiff_html_output,
  op_skiff_html_selector,
  op_skiff_html_write,
} from "ext:core/ops";
import { encoding, mimesniff, streams, webidl } from "ext:skiff_worker/00_modules.js";
import { invocation } from "ext:skiff_worker/01_invocation.js";
import { bufferSourceBytes } from "ext:skiff_worker/03_workers.js";
import { Response } from "ext:skiff_worker/03_websocket.js";

const {
  ArrayPrototypePush,
  ArrayPrototypeValues,
  FunctionPrototypeCall,
  MapPrototypeDelete,
  MapPrototypeGet,
  MapPrototypeSet,
  ObjectFreeze,
  ObjectPrototypeIsPrototypeOf,
  Promise,
  PromisePrototypeThen,
  SafeFinalizationRegistry,
  SafeArrayIterator,
  SafeMap,
  String,
  Symbol,
  TypeError,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetSymbolToStringTag,
} = primordials;
const { ReadableStream, ReadableStreamPrototype } = streams;
const utf8 = new encoding.TextEncoder();

// The token methods, numbered as `Call::decode` in src/html_rewriter.rs numbers them.
const CALL = ObjectFreeze({
  before: 0,
  after: 1,
  replace: 2,
  remove: 3,
  removed: 4,
  prepend: 5,
  append: 6,
  setInnerContent: 7,
  removeAndKeepContent: 8,
  tagName: 9,
  setTagName: 10,
  namespaceURI: 11,
  attributes: 12,
  getAttribute: 13,
  hasAttribute: 14,
  setAttribute: 15,
  removeAttribute: 16,
  onEndTag: 17,
  text: 18,
  setText: 19,
  lastInTextNode: 20,
  name: 21,
  setName: 22,
  publicId: 23,
  systemId: 24,
});
// The same places with content streamed from a ReadableStream or a Response (`Place` in
// src/html_rewriter.rs): the string method's number and this give the streamed one's.
const STREAMED = ObjectFreeze({
  [CALL.before]: 25,
  [CALL.after]: 26,
  [CALL.replace]: 27,
  [CALL.prepend]: 28,
  [CALL.append]: 29,
  [CALL.setInnerContent]: 30,
});

// What a step of the rewriter answers besides a handler's slot (src/html_rewriter.rs).
const WRITTEN = -1;
const FINISHED = -2;
const HANDLER_THREW = -3;
// Streamed content n wants its next chunk: CONTENT - n.
const CONTENT = -10;

const INVALID_TOKEN =
  "This content token is no longer valid. Content tokens are only valid during the execution of the relevant content handler.";
// Comments and the document end take only strings, as in workerd, with its message; elements,
// text chunks and end tags also take a ReadableStream or a Response, streamed into place.
const STREAM_CONTENT_IN_COMMENTS =
  "Replacing content in HTML comments using a ReadableStream or Response object is not implemented. You must provide a string.";

const tokenKey = Symbol("htmlRewriterToken");

// The handler that a token belongs to: live while the handler runs.
class Scope {
  live = true;
  constructor(transformation) {
    this.transformation = transformation;
  }
}

function call(scope, method, a = "", b = "", html = false) {
  if (!scope.live) throw new TypeError(INVALID_TOKEN);
  return op_skiff_html_call(scope.transformation.rid, method, a, b, html);
}

// The stream of content given as a ReadableStream or a Response, null for a Response without
// a body (which workerd takes as no change at all), or undefined for a string.
function streamOf(value) {
  if (ObjectPrototypeIsPrototypeOf(ReadableStreamPrototype, value)) return value;
  if (ObjectPrototypeIsPrototypeOf(Response.prototype, value)) return value.body;
  return undefined;
}

function isHtml(options) {
  if (options === undefined || options === null) return false;
  if (typeof options !== "object" && typeof options !== "function") {
    throw new TypeError("The content options must be an object.");
  }
  return !!options.html;
}

// before/after/replace ... with `value`: a string, or (unless `stringsOnly`) a stream.
function edit(token, scope, method, value, options, stringsOnly = false) {
  const stream = streamOf(value);
  if (stream === undefined) {
    call(scope, method, webidl.converters.DOMString(value), "", isHtml(options));
    return token;
  }
  if (stringsOnly) throw new TypeError(STREAM_CONTENT_IN_COMMENTS);
  const html = isHtml(options);
  if (!scope.live) throw new TypeError(INVALID_TOKEN);
  if (stream === null) return token;
  const id = scope.transformation.addContent(stream);
  call(scope, STREAMED[method], String(id), "", html);
  return token;
}

class Element {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  get tagName() {
    return call(this.#scope, CALL.tagName);
  }
  set tagName(name) {
    call(this.#scope, CALL.setTagName, webidl.converters.DOMString(name));
  }
  get attributes() {
    return ArrayPrototypeValues(call(this.#scope, CALL.attributes));
  }
  get removed() {
    return call(this.#scope, CALL.removed);
  }
  get namespaceURI() {
    return call(this.#scope, CALL.namespaceURI);
  }
  getAttribute(name) {
    return call(this.#scope, CALL.getAttribute, webidl.converters.DOMString(name));
  }
  hasAttribute(name) {
    return call(this.#scope, CALL.hasAttribute, webidl.converters.DOMString(name));
  }
  setAttribute(name, value) {
    const scope = this.#scope;
    call(scope, CALL.setAttribute, webidl.converters.DOMString(name), webidl.converters.DOMString(value));
    return this;
  }
  removeAttribute(name) {
    call(this.#scope, CALL.removeAttribute, webidl.converters.DOMString(name));
    return this;
  }
  before(value, options = undefined) {
    return edit(this, this.#scope, CALL.before, value, options);
  }
  after(value, options = undefined) {
    return edit(this, this.#scope, CALL.after, value, options);
  }
  prepend(value, options = undefined) {
    return edit(this, this.#scope, CALL.prepend, value, options);
  }
  append(value, options = undefined) {
    return edit(this, this.#scope, CALL.append, value, options);
  }
  replace(value, options = undefined) {
    return edit(this, this.#scope, CALL.replace, value, options);
  }
  setInnerContent(value, options = undefined) {
    return edit(this, this.#scope, CALL.setInnerContent, value, options);
  }
  remove() {
    call(this.#scope, CALL.remove);
    return this;
  }
  removeAndKeepContent() {
    call(this.#scope, CALL.removeAndKeepContent);
    return this;
  }
  onEndTag(handler) {
    const scope = this.#scope;
    if (!scope.live) throw new TypeError(INVALID_TOKEN);
    if (typeof handler !== "function") {
      throw new TypeError("Failed to execute 'onEndTag' on 'Element': parameter 1 is not of type 'function'.");
    }
    const slot = scope.transformation.addEndTagHandler(handler);
    call(scope, CALL.onEndTag, String(slot));
  }
}

class EndTag {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  get name() {
    return call(this.#scope, CALL.name);
  }
  set name(name) {
    call(this.#scope, CALL.setName, webidl.converters.DOMString(name));
  }
  before(value, options = undefined) {
    return edit(this, this.#scope, CALL.before, value, options);
  }
  after(value, options = undefined) {
    return edit(this, this.#scope, CALL.after, value, options);
  }
  remove() {
    call(this.#scope, CALL.remove);
    return this;
  }
}

class Text {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  get text() {
    return call(this.#scope, CALL.text);
  }
  get lastInTextNode() {
    return call(this.#scope, CALL.lastInTextNode);
  }
  get removed() {
    return call(this.#scope, CALL.removed);
  }
  before(value, options = undefined) {
    return edit(this, this.#scope, CALL.before, value, options);
  }
  after(value, options = undefined) {
    return edit(this, this.#scope, CALL.after, value, options);
  }
  replace(value, options = undefined) {
    return edit(this, this.#scope, CALL.replace, value, options);
  }
  remove() {
    call(this.#scope, CALL.remove);
    return this;
  }
}

class Comment {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  get text() {
    return call(this.#scope, CALL.text);
  }
  set text(text) {
    call(this.#scope, CALL.setText, webidl.converters.DOMString(text));
  }
  get removed() {
    return call(this.#scope, CALL.removed);
  }
  before(value, options = undefined) {
    return edit(this, this.#scope, CALL.before, value, options, true);
  }
  after(value, options = undefined) {
    return edit(this, this.#scope, CALL.after, value, options, true);
  }
  replace(value, options = undefined) {
    return edit(this, this.#scope, CALL.replace, value, options, true);
  }
  remove() {
    call(this.#scope, CALL.remove);
    return this;
  }
}

class Doctype {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  get name() {
    return call(this.#scope, CALL.name);
  }
  get publicId() {
    return call(this.#scope, CALL.publicId);
  }
  get systemId() {
    return call(this.#scope, CALL.systemId);
  }
}

class DocumentEnd {
  #scope;
  constructor(key, scope) {
    if (key !== tokenKey) throw new TypeError("Illegal constructor");
    this.#scope = scope;
  }
  append(value, options = undefined) {
    return edit(this, this.#scope, CALL.append, value, options, true);
  }
}

// A transformation read to the end or cancelled is closed at once; one left unread is given up
// when its request ends (src/html_rewriter.rs), and closed when it is collected.
const unread = new SafeFinalizationRegistry((rid) => op_skiff_html_close(rid));

// One `transform()`: the rewriter's resource, the handlers by slot, and the source's reader.
class Transformation {
  rid;
  #handlers;
  #nextSlot;
  #reader;
  #failure = undefined;
  #closed = false;

  constructor(rid, handlers, reader) {
    this.rid = rid;
    this.#handlers = handlers;
    this.#nextSlot = handlers.size;
    this.#reader = reader;
    unread.register(this, rid, this);
  }

  // Streamed content, by number, until lol_html has written it.
  #contents = new SafeMap();
  #nextContent = 0;

  addContent(stream) {
    const id = this.#nextContent++;
    MapPrototypeSet(this.#contents, id, stream.getReader());
    return id;
  }

  addEndTagHandler(fn) {
    const slot = this.#nextSlot++;
    MapPrototypeSet(this.#handlers, slot, { fn, receiver: undefined, Token: EndTag, once: true });
    return slot;
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    unread.unregister(this);
    op_skiff_html_close(this.rid);
  }

  // Feeds the next chunk of the source (or its end) through the rewriter, running the
  // handlers it calls for, and passes on what comes out, until something came out or the
  // document ended.
  async pull(controller) {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        let step;
        if (done) {
          step = await this.#run(op_skiff_html_end(this.rid), controller);
        } else {
          step = await this.#run(op_skiff_html_write(this.rid, chunkBytes(value)), controller);
        }
        if (step === FINISHED) {
          this.#emit(controller);
          this.close();
          controller.close();
          return;
        }
        if (this.#emit(controller)) return;
      }
    } catch (error) {
      this.close();
      PromisePrototypeThen(this.#reader.cancel(error), undefined, () => {});
      throw error;
    }
  }

  cancel(reason) {
    this.close();
    return this.#reader.cancel(reason);
  }

  // Runs the handlers the rewriter asks for until it has taken the whole input: WRITTEN or
  // FINISHED. A handler's exception is rethrown as it was thrown.
  async #run(step, controller) {
    while (step >= 0 || step <= CONTENT) {
      if (step <= CONTENT) {
        step = await this.#stream(CONTENT - step, controller);
        continue;
      }
      const handler = MapPrototypeGet(this.#handlers, step);
      if (handler.once) MapPrototypeDelete(this.#handlers, step);
      const scope = new Scope(this);
      let completed = true;
      try {
        const result = FunctionPrototypeCall(handler.fn, handler.receiver, new handler.Token(tokenKey, scope));
        if (result !== null && (typeof result === "object" || typeof result === "function")) {
          const then = result.then;
          if (typeof then === "function") {
            // What is rewritten so far goes out while the handler waits.
            this.#emit(controller);
            await new Promise((resolve, reject) => FunctionPrototypeCall(then, result, resolve, reject));
          }
        }
      } catch (error) {
        completed = false;
        this.#failure = { error };
      }
      scope.live = false;
      step = op_skiff_html_done(this.rid, completed);
    }
    if (step === HANDLER_THREW) throw this.#failure.error;
    return step;
  }

  // Gives streamed content `id` its next chunk, or its end; where the rewriter goes next.
  async #stream(id, controller) {
    this.#emit(controller);
    const reader = MapPrototypeGet(this.#contents, id);
    let chunk;
    try {
      const { value, done } = await reader.read();
      chunk = done ? null : chunkBytes(value);
    } catch (error) {
      MapPrototypeDelete(this.#contents, id);
      this.#failure = { error };
      return op_skiff_html_content(this.rid, null, true);
    }
    if (chunk === null) MapPrototypeDelete(this.#contents, id);
    return op_skiff_html_content(this.rid, chunk, false);
  }

  // Passes on what the rewriter wrote so far; whether there was anything.
  #emit(controller) {
    const output = op_skiff_html_output(this.rid);
    if (TypedArrayPrototypeGetByteLength(output) === 0) return false;
    controller.enqueue(output);
    return true;
  }
}

// A chunk of the source body as bytes (a Uint8Array as it is: the op copies it); strings, which
// workerd takes too, as UTF-8.
function chunkBytes(value) {
  if (TypedArrayPrototypeGetSymbolToStringTag(value) === "Uint8Array") return value;
  if (typeof value === "string") return utf8.encode(value);
  const bytes = bufferSourceBytes(value);
  if (bytes === null) {
    throw new TypeError(
      "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.",
    );
  }
  return bytes;
}

// The handlers of `on()` (an ElementContentHandlers) or `onDocument()` (a
// DocumentContentHandlers), read once: each is called with the handlers object as `this` (as
// Cloudflare's `element(element) { this.attributeName ... }` examples rely on).
function handlersOf(handlers, names, dictionary, prefix) {
  if (handlers === undefined || handlers === null) handlers = {};
  else if (typeof handlers !== "object" && typeof handlers !== "function") {
    throw new TypeError(`${prefix} is not of type '${dictionary}'.`);
  }
  const found = { receiver: handlers };
  for (const name of new SafeArrayIterator(names)) {
    const fn = handlers[name];
    if (fn !== undefined && typeof fn !== "function") {
      throw new TypeError(
        `Incorrect type for the '${name}' field on '${dictionary}': the provided value is not of type 'function'.`,
      );
    }
    found[name] = fn;
  }
  return found;
}

// The `charset` of a content type, as lol_html takes its label; UTF-8 without one.
function charsetOf(contentType) {
  if (contentType === null) return "utf-8";
  const mime = mimesniff.parseMimeType(contentType);
  return (mime === null ? undefined : MapPrototypeGet(mime.parameters, "charset")) ?? "utf-8";
}

class HTMLRewriter {
  #elements = [];
  #documents = [];

  constructor() {}

  on(selector, handlers) {
    selector = webidl.converters.DOMString(selector);
    op_skiff_html_selector(selector);
    const found = handlersOf(
      handlers,
      ["element", "comments", "text"],
      "ElementContentHandlers",
      "Failed to execute 'on' on 'HTMLRewriter': parameter 2",
    );
    found.selector = selector;
    ArrayPrototypePush(this.#elements, found);
    return this;
  }

  onDocument(handlers) {
    ArrayPrototypePush(
      this.#documents,
      handlersOf(
        handlers,
        ["doctype", "comments", "text", "end"],
        "DocumentContentHandlers",
        "Failed to execute 'onDocument' on 'HTMLRewriter': parameter 1",
      ),
    );
    return this;
  }

  transform(response) {
    if (!ObjectPrototypeIsPrototypeOf(Response.prototype, response)) {
      throw new TypeError("Failed to execute 'transform' on 'HTMLRewriter': parameter 1 is not of type 'Response'.");
    }
    if (response.type === "error") {
      throw new TypeError("HTMLRewriter cannot transform an error response");
    }
    const source = response.body;
    if (source === null) return response;

    // Slots for the handlers, in registration order, and the plan the rewriter is built from.
    const handlers = new SafeMap();
    const slot = (fn, receiver, Token) => {
      if (fn === undefined) return null;
      const n = handlers.size;
      MapPrototypeSet(handlers, n, { fn, receiver, Token, once: false });
      return n;
    };
    const elements = [];
    for (const on of new SafeArrayIterator(this.#elements)) {
      ArrayPrototypePush(elements, {
        selector: on.selector,
        element: slot(on.element, on.receiver, Element),
        comments: slot(on.comments, on.receiver, Comment),
        text: slot(on.text, on.receiver, Text),
      });
    }
    const documents = [];
    for (const on of new SafeArrayIterator(this.#documents)) {
      ArrayPrototypePush(documents, {
        doctype: slot(on.doctype, on.receiver, Doctype),
        comments: slot(on.comments, on.receiver, Comment),
        text: slot(on.text, on.receiver, Text),
        end: slot(on.end, on.receiver, DocumentEnd),
      });
    }
    const encoding = charsetOf(response.headers.get("content-type"));
    // Everything that can refuse the transformation has run: only now is the body taken.
    const rid = op_skiff_html_new({ encoding, elements, documents }, invocation().id);
    let transformation;
    try {
      transformation = new Transformation(rid, handlers, source.getReader());
    } catch (error) {
      op_skiff_html_close(rid);
      throw error;
    }
    const body = new ReadableStream({
      pull: (controller) => transformation.pull(controller),
      cancel: (reason) => transformation.cancel(reason),
    }, { highWaterMark: 0 });
    return new Response(body, response);
  }
}

export { HTMLRewriter };
