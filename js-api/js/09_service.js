// Service bindings: Cloudflare's `Fetcher`, the class of a tenant's `env` bindings to other
// scripts. `fetch()` runs the bound script on the same node in process (the op in
// src/bindings/service.rs); it counts as a subrequest and carries the hop header, so a loop of
// scripts calling each other stops where a loop of fetch() calls does. A callee's 101 brings its
// WebSocket along, for the caller to accept or to return to its own client.

import { primordials } from "ext:core/mod.js";
import { op_skiff_service_fetch } from "ext:core/ops";
import { request, response, streams } from "ext:skiff_worker/00_modules.js";
import { countSubrequest, setHops } from "ext:skiff_worker/01_invocation.js";
import { Response as SocketResponse, socketForRid } from "ext:skiff_worker/03_websocket.js";

const { Symbol, TypeError } = primordials;
const { Request, toInnerRequest } = request;
const { Response } = response;
const { readableStreamForRid, resourceForReadableStream } = streams;

// Statuses whose responses have no body.
const NULL_BODY = [101, 204, 205, 304];

// Only the dispatcher makes bindings.
const token = Symbol("Fetcher");

export class Fetcher {
  #binding;

  constructor(key, binding) {
    if (key !== token) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }

  async fetch(input, init = undefined) {
    const refused = countSubrequest();
    if (refused !== null) throw refused;
    const outbound = new Request(input, init);
    const inner = toInnerRequest(outbound);
    setHops(inner.headerList);
    const bodyRid = inner.body === null ? null : resourceForReadableStream(inner.body.stream);
    const answer = await op_skiff_service_fetch(this.#binding, {
      method: outbound.method,
      url: outbound.url,
      headers: inner.headerList,
      bodyRid,
    });
    // A 101 with the callee's socket: this worker accepts it, or returns it to its client.
    if (answer.socketRid !== null) {
      return new SocketResponse(null, {
        status: 101,
        headers: answer.headers,
        webSocket: socketForRid(answer.socketRid),
      });
    }
    let body = answer.bodyRid === null ? answer.body : readableStreamForRid(answer.bodyRid);
    for (let i = 0; i < NULL_BODY.length; i++) {
      if (NULL_BODY[i] === answer.status) body = null;
    }
    return new Response(body, { status: answer.status, headers: answer.headers });
  }
}

// The binding named `name` of the tenant's `env`.
export function serviceBinding(name) {
  return new Fetcher(token, name);
}
