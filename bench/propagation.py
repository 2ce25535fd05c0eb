#!/usr/bin/env python3
"""Deploys a script DEPLOYS times through the control plane's upload API and measures, for each
deploy, the time from the upload's response to every node answering with the new version.

Deploys are INTERVAL seconds apart (default 1): after a deploy each node boots a runtime to
refill its warm pool (about 60 ms of CPU), and ten nodes sharing two cores would otherwise
measure each other's refills. `--interval 0` measures back-to-back deploys.

Nodes are polled round-robin over keep-alive connections (one request in flight at a time, so
the poller itself does not load the 2-core machine); a node's time is when it first answered
with the new body. Loopback only."""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import uuid

SCRIPT = "propagate"


def upload(control, token, body_text):
    boundary = uuid.uuid4().hex
    metadata = json.dumps({"main_module": "index.js"})
    module = "export default { fetch() { return new Response(%s); } };\n" % json.dumps(body_text)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"; filename="metadata.json"\r\n'
        f"Content-Type: application/json\r\n\r\n{metadata}\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="index.js"; filename="index.js"\r\n'
        f"Content-Type: application/javascript+module\r\n\r\n{module}\r\n",
        f"--{boundary}--\r\n",
    ]
    body = "".join(parts).encode()
    control.request(
        "PUT",
        f"/v1/scripts/{SCRIPT}",
        body=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = control.getresponse()
    text = response.read()
    if response.status != 201:
        sys.exit(f"upload failed: {response.status} {text[:300]!r}")
    return json.loads(text)


def get(connections, port, path="/", script=SCRIPT):
    """GET `path` of `script` on the node at `port`, over a kept-alive connection: the status and
    body, or (0, "") when the connection failed (it is reopened next time)."""
    connection = connections.get(port)
    if connection is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connections[port] = connection
    try:
        connection.request("GET", path, headers={"Host": f"{script}.localhost"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        connection.close()
        connections.pop(port, None)
        return 0, ""


def wait_for_acks(control_url, token, revision, started, out):
    """Long-polls GET /v1/nodes until every connected node acknowledged `revision`; stores the
    time since `started` in out[0]."""
    host, port = control_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    while True:
        connection.request("GET", f"/v1/nodes?revision={revision}&timeout_ms=10000",
                           headers={"Authorization": f"Bearer {token}"})
        nodes = json.loads(connection.getresponse().read())["nodes"]
        connected = [n for n in nodes if n["connected"]]
        if connected and all(n["revision"] >= revision for n in connected):
            out[0] = (time.perf_counter() - started) * 1000
            return


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--control", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--nodes", type=int, nargs="+", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between one deploy being served everywhere and the next upload")
    args = parser.parse_args()

    host, port = args.control.removeprefix("http://").rsplit(":", 1)
    control = http.client.HTTPConnection(host, int(port), timeout=30)
    connections = {}
    all_nodes, per_node, startup, acked = [], [], [], []
    # One deploy first, so that the script exists everywhere before timing starts.
    for n in range(args.deploys + 1):
        expected = f"version {n}"
        answer = upload(control, args.token, expected)
        uploaded = time.perf_counter()
        startup.append(answer.get("startup_time_ms", 0.0))
        ack_time = [None]
        ack_thread = threading.Thread(
            target=wait_for_acks, args=(args.control, args.token, answer["revision"], uploaded, ack_time))
        ack_thread.start()
        pending = set(args.nodes)
        deadline = uploaded + args.timeout
        times = []
        while pending:
            for node in sorted(pending):
                status, body = get(connections, node)
                if status == 200 and body == expected:
                    times.append((time.perf_counter() - uploaded) * 1000)
                    pending.discard(node)
            if time.perf_counter() > deadline:
                sys.exit(f"deploy {n}: nodes {sorted(pending)} did not serve {expected!r} within {args.timeout} s")
        ack_thread.join()
        time.sleep(args.interval)
        if n == 0:
            continue
        acked.append(ack_time[0])
        all_nodes.append(max(times))
        per_node.extend(times)

    print(f"propagation over {args.deploys} deploys to {len(args.nodes)} nodes, {args.interval} s apart "
          "(upload response -> every node serving the new version):")
    print(f"  all nodes: p50 {percentile(all_nodes, 50):.1f} ms, p99 {percentile(all_nodes, 99):.1f} ms, "
          f"max {max(all_nodes):.1f} ms")
    print(f"  per node:  p50 {percentile(per_node, 50):.1f} ms, p99 {percentile(per_node, 99):.1f} ms")
    print(f"  acknowledged by every node (applied, new isolate booted): p50 {percentile(acked, 50):.1f} ms, "
          f"p99 {percentile(acked, 99):.1f} ms")
    print(f"  upload validation (startup_time_ms): median {statistics.median(startup):.1f} ms")


if __name__ == "__main__":
    main()
