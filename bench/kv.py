#!/usr/bin/env python3
"""KV write-to-visible time: WRITES writes of one key made through a worker on the first node
(`/put?key=K&value=V`, which awaits `env.CONFIG.put`), and for each the time from the write's
response to every node reading the new value through the same worker (`/get?key=K`).

Nodes are polled round-robin over keep-alive connections, one request in flight at a time;
a node's time is when it first answered the new value. Writes are INTERVAL seconds apart.
Loopback only."""

import argparse
import statistics
import sys
import time

from propagation import get, percentile

SCRIPT = "kvbench"


def call(connections, port, path):
    return get(connections, port, path, SCRIPT)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--nodes", type=int, nargs="+", required=True)
    args = parser.parse_args()
    connections = {}
    times = []
    for i in range(args.writes):
        value = f"v{i}-{time.time_ns()}"
        status, body = call(connections, args.nodes[0], f"/put?key=hot&value={value}")
        if status != 200:
            sys.exit(f"write {i} failed: {status} {body[:300]}")
        written = time.perf_counter()
        pending = set(args.nodes)
        deadline = written + 30
        while pending:
            for port in list(pending):
                status, body = call(connections, port, "/get?key=hot")
                if status == 200 and body == value:
                    pending.discard(port)
            if time.perf_counter() > deadline:
                sys.exit(f"write {i}: nodes {sorted(pending)} never read it")
        times.append((time.perf_counter() - written) * 1000)
        time.sleep(args.interval)
    print(f"KV write -> visible on all {len(args.nodes)} nodes, {len(times)} writes: "
          f"p50 {percentile(times, 50):.1f} ms  p99 {percentile(times, 99):.1f} ms  "
          f"max {max(times):.1f} ms  mean {statistics.mean(times):.1f} ms")


if __name__ == "__main__":
    main()
