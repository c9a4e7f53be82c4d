#!/usr/bin/env python3
"""Hostile clients against the broker's release build (`demo`, so no upstream is needed).

Each attack runs against a fresh broker started with the default limits and a 1,024
file-descriptor limit (the common default). While it runs, a legitimate client asks for a
session on a fresh connection; the attack's peak RSS (VmHWM of that broker) and the
legitimate answer's status and time are printed as a Markdown table.

    python3 bench/attacks.py [--binary target/release/hosted-fields-broker]
"""

import argparse
import os
import resource
import socket
import subprocess
import threading
import time
import urllib.request

PORT = 18181
URL = f"http://127.0.0.1:{PORT}"


def start(binary):
    def limit_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    env = dict(os.environ, BROKER__SERVER__LISTEN=f"127.0.0.1:{PORT}", RUST_LOG="error")
    proc = subprocess.Popen([binary, "demo"], env=env, preexec_fn=limit_fds,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with urllib.request.urlopen(URL + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the broker did not become ready")


def status(proc, field):
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024  # MiB
    return 0


def legitimate():
    """One session on a fresh connection: (status, seconds)."""
    started = time.monotonic()
    req = urllib.request.Request(URL + "/hosted-fields/session", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, time.monotonic() - started
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - started
    except OSError as e:
        return f"error: {e}", time.monotonic() - started


def connect(block=True):
    s = socket.socket()
    s.settimeout(5 if block else 0.5)
    try:
        s.connect(("127.0.0.1", PORT))
        return s
    except OSError:
        s.close()
        return None


def trickle_headers(n, total=380_000, chunk=1_000, pause=0.01):
    """n connections each sending up to `total` bytes of one unfinished header block."""
    socks = [s for s in (connect() for _ in range(n)) if s]
    for s in socks:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    sent = 0
    while sent < total and socks:
        alive = []
        for s in socks:
            try:
                s.sendall(b"X-Pad: " + b"a" * (chunk - 9) + b"\r\n")
                alive.append(s)
            except OSError:
                s.close()
        socks = alive
        sent += chunk
        time.sleep(pause)
    return socks


def idle(n):
    """n connections that send nothing."""
    return [s for s in (connect(block=False) for _ in range(n)) if s]


def half_sent(n):
    """n connections that send half a header block, then nothing."""
    socks = [s for s in (connect() for _ in range(n)) if s]
    for s in socks:
        s.sendall(b"POST /hosted-fields/session HTTP/1.1\r\nHost: x\r\nContent-Ty")
    return socks


def still_open(socks):
    """How many of `socks` the broker has not closed."""
    count = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue
            count += 1
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def run(binary, name, attack, hold=0.0):
    proc = start(binary)
    before = status(proc, "VmRSS")
    result = {}
    thread = threading.Thread(target=lambda: result.update(socks=attack()))
    thread.start()
    time.sleep(1.0)
    legit = legitimate()
    thread.join()
    socks = result.get("socks", [])
    opened = len(socks)
    if hold:
        time.sleep(hold)
    remaining = still_open(socks)
    legit_after = legitimate()
    peak = status(proc, "VmHWM")
    for s in socks:
        s.close()
    proc.terminate()
    proc.wait(timeout=20)
    return dict(attack=name, rss_before=before, rss_peak=peak, legit_during=legit,
                legit_after=legit_after, held=opened, open_after=remaining, hold=hold)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/hosted-fields-broker")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    attacks = [
        ("400 connections trickling 380 KB of headers each", lambda: trickle_headers(400), 0),
        ("5,000 idle connections", lambda: idle(5_000), 0),
        ("100 half-sent header blocks, checked 15 s later", lambda: half_sent(100), 15),
        ("1,100 idle connections, 1,024-descriptor limit", lambda: idle(1_100), 0),
    ]
    rows = [run(args.binary, name, attack, hold) for name, attack, hold in attacks]
    print("| attack | RSS before | RSS peak | legitimate request during | after | attack connections still open at the end |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        during = f"{r['legit_during'][0]} in {r['legit_during'][1]:.2f} s"
        after = f"{r['legit_after'][0]} in {r['legit_after'][1]:.2f} s"
        print(f"| {r['attack']} | {r['rss_before']} MiB | {r['rss_peak']} MiB | {during} | {after} | {r['open_after']} of {r['held']} |")


if __name__ == "__main__":
    main()
