// WebSockets as Cloudflare Workers has them: `new WebSocketPair()`, `accept()`, `send()`,
// `close()`, "open", "message", "error" and "close" events, `new Response(null, { status: 101,
// webSocket })` handing a pair's client end to the node, which joins it to the real client, and
// the worker's own connections: `new WebSocket(url, protocols)` and `fetch()` with
// `Upgrade: websocket` (`fetchWebSocket`, whose 101 carries a socket to `accept()`). Each of
// those counts as a subrequest and carries the hop header, like fetch(); the op
// (src/websocket/outgoing.rs) keeps fetch()'s address policy. src/websocket.rs has the lanes
// that every socket's end sends and receives on; tungstenite speaks the protocol. Errors carry
// workerd's messages. 04_globals.js defines the globals; 05_dispatch.js sends the 101.

import { core, primordials } from "ext:core/mod.js";
import {
  op_skiff_ws_close,
  op_skiff_ws_connect,
  op_skiff_ws_next,
  op_skiff_ws_pair,
  op_skiff_ws_send_binary,
  op_skiff_ws_send_text,
} from "ext:core/ops";
import { abortSignal, domException, event, response, streams, url, webidl } from "ext:skiff_worker/00_modules.js";
import { countSubrequest, setHops } from "ext:skiff_worker/01_invocation.js";
import { bufferSourceBytes } from "ext:skiff_worker/03_workers.js";

const {
  ArrayBufferPrototypeSlice,
  ArrayPrototypeJoin,
  ArrayPrototypeIncludes,
  ArrayPrototypePush,
  ObjectDefineProperty,
  PromisePrototypeThen,
  StringPrototypeCharCodeAt,
  StringPrototypeIncludes,
  StringPrototypeStartsWith,
  StringPrototypeToLowerCase,
  StringPrototypeTrim,
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
const { CloseEvent, ErrorEvent, Event, EventTarget, MessageEvent } = event;

// Cloudflare's limit on one WebSocket message.
const MAX_MESSAGE_BYTES = 1024 * 1024;
// The longest close reason, in UTF-8 bytes (RFC 6455: 125 bytes of payload less the code).
const MAX_REASON_BYTES = 123;
const NOT_ACCEPTED =
  "You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.";

const pairKey = Symbol("webSocketPair");
const WS_ERROR = "WebSocket Constructor: ";
// RFC 6455 4.1 item 10: a subprotocol is a token, as workerd checks it: visible ASCII
// without the separators below.
const SEPARATORS = "()<>@,;:\\/[]?={}";

function isProtocolToken(protocol) {
  if (protocol.length === 0) return false;
  for (let i = 0; i < protocol.length; i++) {
    const unit = StringPrototypeCharCodeAt(protocol, i);
    if (unit < 0x21 || unit > 0x7e || StringPrototypeIncludes(SEPARATORS, protocol[i])) return false;
  }
  return true;
}
const protocolList = webidl.createSequenceConverter(webidl.converters.DOMString);

// The protocols argument of `new WebSocket(url, protocols)` as the Sec-WebSocket-Protocol
// header's value (null for none), checked as workerd checks it.
function protocolHeader(protocols) {
  const prefix = "Failed to construct 'WebSocket'";
  if (protocols === undefined) return null;
  if (typeof protocols === "object" && protocols !== null && protocols[SymbolIterator] !== undefined) {
    const list = protocolList(protocols, prefix, "Argument 2");
    const seen = [];
    for (let i = 0; i < list.length; i++) {
      if (!isProtocolToken(list[i])) {
        throw new DOMException(`${WS_ERROR}One of the protocol header tokens is invalid.`, "SyntaxError");
      }
      if (ArrayPrototypeIncludes(seen, list[i])) {
        throw new DOMException(`${WS_ERROR}The protocols header cannot have repeating values.`, "SyntaxError");
      }
      ArrayPrototypePush(seen, list[i]);
    }
    return list.length === 0 ? null : ArrayPrototypeJoin(list, ", ");
  }
  const protocol = webidl.converters.DOMString(protocols, prefix, "Argument 2");
  if (!isProtocolToken(protocol)) {
    throw new DOMException(`${WS_ERROR}The protocol header token is invalid.`, "SyntaxError");
  }
  return protocol;
}

// The URL `new WebSocket(url)` connects to, checked as workerd checks it, without its userinfo.
function connectUrl(input) {
  let parsed;
  try {
    parsed = new url.URL(input);
  } catch {
    throw new DOMException(`${WS_ERROR}The url is invalid.`, "SyntaxError");
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new DOMException(`${WS_ERROR}The url scheme must be ws or wss.`, "SyntaxError");
  }
  if (StringPrototypeIncludes(parsed.href, "#")) {
    throw new DOMException(`${WS_ERROR}The url fragment must be empty.`, "SyntaxError");
  }
  parsed.username = "";
  parsed.password = "";
  return parsed.href;
}

function notSwitched(status) {
  return new TypeError(
    "Failed to establish the WebSocket connection: expected server to reply with HTTP status code 101 " +
      `(switching protocols), but received ${status} instead.`,
  );
}

export class WebSocket extends EventTarget {
  #rid = 0;
  #accepted = false;
  #released = false;
  #closedOutgoing = false;
  #closedIncoming = false;
  #allowHalfOpen = false;
  #freed = false;
  // `new WebSocket(url)`: the URL as given, and while the connection is being made, the cancel
  // handle that close() uses to give up on it.
  #url = null;
  #connecting = false;
  #cancelRid = 0;
  // The connection failed, or was given up before it opened: readyState is CLOSED.
  #failed = false;
  #protocol = "";
  #extensions = "";

  constructor(url, protocols = undefined, rid = undefined) {
    if (url === pairKey) {
      super();
      this.#rid = rid;
      return;
    }
    const prefix = "Failed to construct 'WebSocket'";
    webidl.requiredArguments(arguments.length, 1, prefix);
    url = webidl.converters.USVString(url, prefix, "Argument 1");
    const target = connectUrl(url);
    const protocol = protocolHeader(protocols);
    const refused = countSubrequest();
    if (refused !== null) throw refused;
    super();
    this.#url = url;
    this.#connecting = true;
    const headerList = [];
    if (protocol !== null) ArrayPrototypePush(headerList, ["sec-websocket-protocol", protocol]);
    setHops(headerList);
    this.#cancelRid = core.createCancelHandle();
    PromisePrototypeThen(
      op_skiff_ws_connect({ url: target, headers: headerList, caller: "new WebSocket()" }, this.#cancelRid),
      (answer) => this.#opened(answer),
      (error) => this.#notOpened(error),
    );
  }

  // The server's answer to `new WebSocket(url)`: a 101 opens the socket, accepted already.
  #opened(answer) {
    core.tryClose(this.#cancelRid);
    if (this.#released && answer.socketRid !== null) {
      // close() came after the answer but before this: the socket goes unopened.
      core.tryClose(answer.socketRid);
      this.#notOpened(new Error("Network connection lost."));
      return;
    }
    if (answer.socketRid === null) {
      core.tryClose(answer.bodyRid);
      this.#notOpened(notSwitched(answer.status));
      return;
    }
    this.#connecting = false;
    this.#rid = answer.socketRid;
    // Null once open when the server chose none (they are "" until then).
    this.#protocol = answer.protocol;
    this.#extensions = null;
    this.#accepted = true;
    this.#read();
    this.dispatchEvent(new Event("open"));
  }

  // No socket: an "error" event, then a "close" one, as workerd sends them.
  #notOpened(error) {
    core.tryClose(this.#cancelRid);
    this.#connecting = false;
    this.#released = true;
    this.#failed = true;
    this.#closedIncoming = true;
    this.dispatchEvent(new ErrorEvent("error", { message: `Uncaught ${error}`, error }));
    this.dispatchEvent(
      new CloseEvent("close", { code: 1006, reason: "Failed to establish websocket connection", wasClean: false }),
    );
  }

  get readyState() {
    if (this.#connecting) return 0;
    if (this.#failed || (this.#closedIncoming && this.#closedOutgoing)) return 3;
    // An outgoing socket given up while connecting is closing until its attempt ends.
    if (this.#closedIncoming || this.#closedOutgoing || (this.#released && this.#url !== null)) return 2;
    return 1;
  }

  get url() {
    return this.#url;
  }

  get protocol() {
    return this.#protocol;
  }

  get extensions() {
    return this.#extensions;
  }

  accept(options = undefined) {
    if (this.#connecting) {
      throw new TypeError("Websockets obtained from the 'new WebSocket()' constructor cannot call accept");
    }
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
    if (this.#connecting) {
      // Given up before it opened: the attempt is cancelled, and its failure sends "error"
      // and "close" (workerd's "Network connection lost.").
      this.#released = true;
      core.tryClose(this.#cancelRid);
      return;
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
    if (socket.#connecting) {
      throw new TypeError("Can't return WebSocket in a Response if it was created with `new WebSocket()`");
    }
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
    // `new Response(...)` itself: the same object as through Reflect.construct (the two
    // constructors share their prototype), without its argument array.
    if (new.target === Response) return new DenoResponse(body, init);
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
// The socket of a 101 that another worker answered a service binding with, as a WebSocket
// that this worker accepts or passes on in its own 101 (09_service.js).
export function socketForRid(rid) {
  return new WebSocket(pairKey, undefined, rid);
}

export function responseSocket(res) {
  const socket = WeakMapPrototypeGet(sockets, res);
  return socket === undefined ? null : releaseSocket(socket);
}

// Whether a request asks for a WebSocket (`Upgrade: websocket`): fetch() then opens one.
export function asksForWebSocket(headerList) {
  for (let i = 0; i < headerList.length; i++) {
    if (
      StringPrototypeToLowerCase(headerList[i][0]) === "upgrade" &&
      StringPrototypeToLowerCase(StringPrototypeTrim(headerList[i][1])) === "websocket"
    ) {
      return true;
    }
  }
  return false;
}

// Statuses whose responses have no body.
const NULL_BODY = [204, 205, 304];

// fetch() of a request that asks for a WebSocket, counted and given its hop header by the
// caller: the handshake is a GET with the request's header fields, to an http: or https: URL
// (workerd's TypeError for any other). A 101 resolves to a Response whose `webSocket` the
// worker must accept() before using it; any other answer is the server's response as it is.
// The request's signal gives up on the handshake.
export async function fetchWebSocket(outbound, headerList) {
  const target = outbound.url;
  if (!StringPrototypeStartsWith(target, "http:") && !StringPrototypeStartsWith(target, "https:")) {
    throw new TypeError(`Fetch API cannot load: ${target}`);
  }
  const signal = outbound.signal;
  if (signal.aborted) throw signal.reason;
  const cancelRid = core.createCancelHandle();
  const onAbort = () => core.tryClose(cancelRid);
  signal[abortSignal.add](onAbort);
  let answer;
  try {
    answer = await op_skiff_ws_connect({ url: target, headers: headerList, caller: "fetch()" }, cancelRid);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    signal[abortSignal.remove](onAbort);
    core.tryClose(cancelRid);
  }
  const init = { status: answer.status, statusText: answer.statusText, headers: answer.headers };
  let res;
  if (answer.socketRid === null) {
    const body = ArrayPrototypeIncludes(NULL_BODY, answer.status) ? null : streams.readableStreamForRid(answer.bodyRid);
    if (body === null) core.tryClose(answer.bodyRid);
    res = new DenoResponse(body, init);
  } else {
    init.webSocket = new WebSocket(pairKey, undefined, answer.socketRid);
    res = new Response(null, init);
  }
  ArrayPrototypePush(response.toInnerResponse(res).urlList, target);
  return res;
}
