// WebSockets as Cloudflare Workers has them: `new WebSocketPair()`, `accept()`, `send()`,
// `close()`, "message" and "close" events, and `new Response(null, { status: 101, webSocket })`
// handing a pair's client end to the node, which joins it to the real client
// (src/websocket.rs has the pair's lanes; the node speaks the protocol). Errors carry workerd's
// messages. 04_globals.js defines the globals; 05_dispatch.js sends the 101.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_ws_close,
  op_skiff_ws_next,
  op_skiff_ws_pair,
  op_skiff_ws_send_binary,
  op_skiff_ws_send_text,
} from "ext:core/ops";
import { domException, event, response, webidl } from "ext:skiff_worker/00_modules.js";
import { bufferSourceBytes } from "ext:skiff_worker/03_workers.js";

const {
  ArrayBufferPrototypeSlice,
  ObjectDefineProperty,
  ObjectPrototypeIsPrototypeOf,
  ReflectConstruct,
  String,
  Symbol,
  SymbolIterator,
  TypeError,
  RangeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  WeakMapPrototypeGet,
  WeakMapPrototypeSet,
  SafeWeakMap,
} = primordials;
const { DOMException } = domException;
const { CloseEvent, EventTarget, MessageEvent } = event;

// Cloudflare's limit on one WebSocket message.
const MAX_MESSAGE_BYTES = 1024 * 1024;
// The longest close reason, in UTF-8 bytes (RFC 6455: 125 bytes of payload less the code).
const MAX_REASON_BYTES = 123;
const NOT_ACCEPTED =
  "You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.";

const pairKey = Symbol("webSocketPair");

export class WebSocket extends EventTarget {
  #rid = 0;
  #accepted = false;
  #released = false;
  #closedOutgoing = false;
  #closedIncoming = false;
  #allowHalfOpen = false;
  #freed = false;

  constructor(url, protocols = undefined, rid = undefined) {
    if (url !== pairKey) {
      // Outgoing sockets (`new WebSocket(url)`) are not served yet: say so plainly.
      throw new TypeError("Skiff does not support outgoing WebSockets (new WebSocket(url)) yet.");
    }
    super();
    this.#rid = rid;
  }

  get readyState() {
    if (this.#closedIncoming && this.#closedOutgoing) return 3;
    if (this.#closedIncoming || this.#closedOutgoing) return 2;
    return 1;
  }

  get url() {
    return null;
  }

  get protocol() {
    return null;
  }

  get extensions() {
    return null;
  }

  accept(options = undefined) {
    if (this.#released) {
      throw new TypeError("Can't accept() WebSocket that was already used in a response.");
    }
    if (this.#accepted) return;
    this.#accepted = true;
    this.#allowHalfOpen = !!options?.allowHalfOpen;
    this.#read();
  }

  send(message) {
    if (this.#closedOutgoing) throw new TypeError("Can't call WebSocket send() after close().");
    if (this.#released) return;
    if (!this.#accepted) throw new TypeError(NOT_ACCEPTED);
    // A binary message's bytes, copied once; null for a message sent as text.
    const bytes = bufferSourceBytes(message);
    if (bytes === null) {
      const text = String(message);
      checkSize(text.length <= MAX_MESSAGE_BYTES / 3 ? text.length : core.encode(text).length);
      op_skiff_ws_send_text(this.#rid, text);
    } else {
      checkSize(bytes.length);
      op_skiff_ws_send_binary(this.#rid, bytes);
    }
  }

  close(code = undefined, reason = undefined) {
    if (code !== undefined) {
      code = webidl.converters["unsigned short"](code, "Failed to execute 'close' on 'WebSocket'", "Argument 1", {
        clamp: true,
      });
      if (code < 1000 || code >= 5000 || code === 1004 || code === 1005 || code === 1006 || code === 1015) {
        throw new DOMException(`Invalid WebSocket close code: ${code}.`, "InvalidAccessError");
      }
    }
    if (reason !== undefined) {
      reason = String(reason);
      if (core.encode(reason).length > MAX_REASON_BYTES) {
        throw new DOMException(
          "WebSocket close reason must not be longer than 123 bytes when UTF-8 encoded.",
          "SyntaxError",
        );
      }
      if (code === undefined) {
        throw new DOMException(
          "If you specify a WebSocket close reason, you must also specify a code.",
          "InvalidAccessError",
        );
      }
    }
    if (this.#closedOutgoing || this.#released) return;
    if (!this.#accepted) throw new TypeError(NOT_ACCEPTED);
    this.#closedOutgoing = true;
    op_skiff_ws_close(this.#rid, code ?? 0, reason ?? "");
    this.#free();
  }

  // Closed both ways: the end's resource (and what it is charged) goes.
  #free() {
    if (this.#closedIncoming && this.#closedOutgoing && !this.#freed) {
      this.#freed = true;
      core.tryClose(this.#rid);
    }
  }

  // What a 101 response takes: this end's resource, once. Throws workerd's errors for an end
  // that cannot go.
  static release(socket) {
    if (socket.#released) {
      throw new TypeError("Can't return WebSocket that was already used in a response.");
    }
    if (socket.#accepted) {
      throw new TypeError("Can't return WebSocket in a Response after calling accept().");
    }
    socket.#released = true;
    return socket.#rid;
  }

  async #read() {
    while (true) {
      const ev = await op_skiff_ws_next(this.#rid);
      switch (ev.kind) {
        case "text":
          this.dispatchEvent(new MessageEvent("message", { data: ev.data }));
          break;
        case "binary": {
          const view = ev.data;
          const offset = TypedArrayPrototypeGetByteOffset(view);
          const data = ArrayBufferPrototypeSlice(
            TypedArrayPrototypeGetBuffer(view),
            offset,
            offset + TypedArrayPrototypeGetByteLength(view),
          );
          this.dispatchEvent(new MessageEvent("message", { data }));
          break;
        }
        case "close":
          this.#closedIncoming = true;
          // Unless told to stay half open, a Close is answered with the same code and reason.
          if (!this.#allowHalfOpen && !this.#closedOutgoing) {
            this.#closedOutgoing = true;
            op_skiff_ws_close(this.#rid, ev.code === 1005 ? 0 : ev.code, ev.reason);
          }
          this.#free();
          this.dispatchEvent(new CloseEvent("close", { code: ev.code, reason: ev.reason, wasClean: true }));
          return;
        default:
          this.#closedIncoming = true;
          this.#closedOutgoing = true;
          this.#free();
          this.dispatchEvent(
            new CloseEvent("close", {
              code: 1006,
              reason: "WebSocket disconnected without sending Close frame.",
              wasClean: false,
            }),
          );
          return;
      }
    }
  }
}
for (const [name, value] of [["READY_STATE_CONNECTING", 0], ["CONNECTING", 0], ["READY_STATE_OPEN", 1], [
  "OPEN",
  1,
], ["READY_STATE_CLOSING", 2], ["CLOSING", 2], ["READY_STATE_CLOSED", 3], ["CLOSED", 3]]) {
  const descriptor = { __proto__: null, value, enumerable: true, writable: false, configurable: false };
  ObjectDefineProperty(WebSocket, name, descriptor);
  ObjectDefineProperty(WebSocket.prototype, name, descriptor);
}
const WebSocketPrototype = WebSocket.prototype;
const releaseSocket = WebSocket.release;
delete WebSocket.release;

function checkSize(length) {
  if (length > MAX_MESSAGE_BYTES) {
    throw new RangeError(`WebSocket message is ${length} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes.`);
  }
}

// Cloudflare's WebSocketPair: `0` is the client end, `1` the server end.
export class WebSocketPair {
  constructor() {
    const { 0: client, 1: server } = op_skiff_ws_pair();
    ObjectDefineProperty(this, 0, {
      __proto__: null,
      value: new WebSocket(pairKey, undefined, client),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    ObjectDefineProperty(this, 1, {
      __proto__: null,
      value: new WebSocket(pairKey, undefined, server),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }

  *[SymbolIterator]() {
    yield this[0];
    yield this[1];
  }
}

// Response with Workers' `webSocket` member: `new Response(null, { status: 101, webSocket })`.
// deno's Response refuses status 101, so such a response is made with 200 and its inner status
// set after; the socket is kept beside it, out of tenant reach.
const DenoResponse = response.Response;
const ResponsePrototype = DenoResponse.prototype;
const sockets = new SafeWeakMap();

export function Response(body = null, init = undefined) {
  if (new.target === undefined) {
    throw new TypeError("Failed to construct 'Response': Please use the 'new' operator.");
  }
  const webSocket = init === undefined || init === null ? undefined : init.webSocket;
  if (webSocket === undefined || webSocket === null) {
    if (init?.status === 101) {
      throw new RangeError(
        "Responses may only be constructed with status codes in the range 200 to 599, inclusive.",
      );
    }
    return ReflectConstruct(DenoResponse, [body, init], new.target);
  }
  if (!ObjectPrototypeIsPrototypeOf(WebSocketPrototype, webSocket)) {
    throw new TypeError("Failed to construct 'Response': webSocket is not a WebSocket.");
  }
  if (init.status !== 101) {
    throw new RangeError("Responses with a WebSocket must have status code 101.");
  }
  if (body !== null) {
    throw new TypeError("Response with a WebSocket cannot have a body.");
  }
  const res = ReflectConstruct(DenoResponse, [null, { headers: init.headers, statusText: init.statusText }], new.target);
  response.toInnerResponse(res).status = 101;
  WeakMapPrototypeSet(sockets, res, webSocket);
  return res;
}
Response.prototype = ResponsePrototype;
ObjectDefineProperty(ResponsePrototype, "constructor", {
  __proto__: null,
  value: Response,
  writable: true,
  enumerable: false,
  configurable: true,
});
for (const name of ["error", "json", "redirect"]) {
  ObjectDefineProperty(Response, name, {
    __proto__: null,
    value: DenoResponse[name],
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
ObjectDefineProperty(ResponsePrototype, "webSocket", {
  __proto__: null,
  get() {
    webidl.assertBranded(this, ResponsePrototype);
    return WeakMapPrototypeGet(sockets, this) ?? null;
  },
  enumerable: true,
  configurable: true,
});

// The resource of the socket a 101 response carries (taken once), or null for any other
// response.
export function responseSocket(res) {
  const socket = WeakMapPrototypeGet(sockets, res);
  return socket === undefined ? null : releaseSocket(socket);
}
