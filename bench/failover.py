#!/usr/bin/env python3
"""Failover of edge nodes between control-plane replicas (bench/replicas.sh starts the platform:
two replicas on one PostgreSQL, nodes listing both).

Each round kills (SIGKILL) the replica that holds the most nodes and measures the time until
every node is connected to the other replica and has acknowledged the latest revision, polling
the survivor's GET /v1/nodes every 20 ms (at most 30 s a round). The killed replica is then
started again on its port and data directory, and is ready before the next round. Loopback
only; every loop is bounded."""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request


def nodes(port, token):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/nodes", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--work", required=True)
    parser.add_argument("--skiff", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--ports", type=int, nargs=2, required=True)
    parser.add_argument("--pids", type=int, nargs=2, required=True)
    args = parser.parse_args()
    pids = list(args.pids)
    started = []
    urls = [f"http://127.0.0.1:{port}" for port in args.ports]
    times = []
    try:
        for round_ in range(args.kills):
            listing = nodes(args.ports[0] if ready(args.ports[0]) else args.ports[1], args.token)
            held = [sum(1 for n in listing["nodes"] if n.get("replica") == url) for url in urls]
            victim = 0 if held[0] >= held[1] else 1
            survivor = 1 - victim
            os.kill(pids[victim], signal.SIGKILL)
            t0 = time.monotonic()
            elapsed = None
            while time.monotonic() - t0 < 30:
                listing = nodes(args.ports[survivor], args.token)
                moved = [
                    n for n in listing["nodes"]
                    if n["connected"] and n.get("replica") == urls[survivor]
                    and n["revision"] >= listing["revision"]
                ]
                if len(moved) >= args.nodes:
                    elapsed = (time.monotonic() - t0) * 1000
                    break
                time.sleep(0.02)
            if elapsed is None:
                sys.exit(f"round {round_}: the nodes did not all move within 30 s: {listing}")
            times.append(elapsed)
            print(f"  round {round_ + 1}: {held[victim]} nodes moved in {elapsed:.0f} ms")
            log = open(os.path.join(args.work, f"control-{victim + 1}.restart.log"), "ab")
            process = subprocess.Popen(
                [args.skiff, "control", "--listen", f"127.0.0.1:{args.ports[victim]}",
                 "--data-dir", os.path.join(args.work, f"control-{victim + 1}"),
                 "--store", args.store],
                stdout=log, stderr=log,
            )
            started.append(process)
            pids[victim] = process.pid
            deadline = time.monotonic() + 30
            while not ready(args.ports[victim]):
                if time.monotonic() > deadline:
                    sys.exit("the killed replica did not start again within 30 s")
                time.sleep(0.05)
    finally:
        for process in started:
            process.kill()
            process.wait()
    print(f"failover of {args.nodes} nodes over {len(times)} kills: p50 {percentile(times, 50):.0f} ms, "
          f"p99 {percentile(times, 99):.0f} ms, max {max(times):.0f} ms")


if __name__ == "__main__":
    main()
