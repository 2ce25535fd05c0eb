#!/usr/bin/env python3
"""Times a server process from its start to its first answered request.

    firstresponse.py --port PORT --host HOST [--path /] [--deadline 30] [--log FILE] -- COMMAND...

Starts COMMAND, tries to connect to 127.0.0.1:PORT every millisecond until the server accepts,
sends one `GET PATH` with `Host: HOST` and `Connection: close`, and reads the response to its
end. Prints "MILLISECONDS STATUS": from just before the process was started to the response's
last byte. A connection that is refused, reset or closed before a status line is tried again.
Then stops the process (SIGTERM, SIGKILL after 5 s). Exits 1 if nothing answered within
DEADLINE seconds. Loopback only."""

import argparse
import signal
import socket
import subprocess
import sys
import time


def ask(port, host, path):
    """One request on a new connection: the status, or None if the server is not answering yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
    except OSError:
        return None
    fields = response.split(b" ", 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        return None
    return int(fields[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--deadline", type=float, default=30.0)
    parser.add_argument("--log", default="/dev/null", help="where the process's output goes")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    # Stopped from outside (the calling script's cleanup): stop the process too, in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    with open(args.log, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(args.command, stdout=log, stderr=subprocess.STDOUT)
    try:
        status = None
        while status is None and time.monotonic() - started < args.deadline:
            if process.poll() is not None:
                sys.exit(f"firstresponse: {args.command[0]} exited with {process.returncode} before answering")
            status = ask(args.port, args.host, args.path)
            if status is None:
                time.sleep(0.001)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if status is None:
        sys.exit(f"firstresponse: nothing answered on port {args.port} within {args.deadline} s")
    print(f"{elapsed * 1000:.1f} {status}")


if __name__ == "__main__":
    main()
