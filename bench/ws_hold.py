#!/usr/bin/env python3
"""What a held WebSocket costs: users each holding one open connection and receiving a tick a
second from `locusta demo`, on this machine.

    python3 bench/ws_hold.py [--users 10000] [--hold 40] [--rounds 3]

Each round runs bench/ws_hold.yaml twice against one `locusta demo --latency-scale 0`: with
--base users (100) and with --users, ramped at 1,000 a second, every user subscribing in
`on_start` and then holding its connection in a task that only reads. locusta's RSS is read
every second from /proc; the figure for a run is the median of the samples taken while every
user held its connection (after the ramp and a settling second, until the run stops). RSS per
held connection is (RSS at --users - RSS at --base) / (--users - --base): the process's fixed
cost cancels out.

Received against sent: the demo counts the messages its feeds sent (`GET /ws/stats`); locusta
counts the messages it received in its `WSR /ws/stream` row. Their ratio over a run shows
whether the generator kept up; the few ticks on their way when a user closed are the gap.

The load is on 127.0.0.1 only and every run is bounded by `-t`. The file limit must allow the
connections (`ulimit -n` above --users plus a few hundred, for each process). Figures are
medians over --rounds and are printed as a Markdown table.
"""

import argparse
import csv
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "locusta")
SCENARIO = os.path.join(ROOT, "bench", "ws_hold.yaml")
RAMP_RATE = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def feed_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ws/stats", timeout=10) as r:
        return json.load(r)


def wait_closed(port, limit=30):
    """The demo's feeds all closed (the last closes reach it a moment after the run)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stats = feed_stats(port)
        if stats["open"] == 0:
            return stats
        time.sleep(0.2)
    raise SystemExit(f"the demo still has {stats['open']} feeds open {limit} s after a run")


def row(csv_path, method, name):
    with open(csv_path) as f:
        for r in csv.reader(f):
            if r[0] == method and r[1] == name:
                return r
    raise SystemExit(f"no {method} {name} row in {csv_path}")


def run(users, hold, port, work):
    ramp = users / RAMP_RATE
    seconds = int(ramp + 1 + hold) + 1
    prefix = os.path.join(work, f"u{users}")
    before = wait_closed(port)
    cmd = [BIN, "-f", SCENARIO, "-H", f"http://127.0.0.1:{port}", "-u", str(users),
           "-r", str(RAMP_RATE), "-t", f"{seconds}s", "--headless", "--only-summary",
           "--csv", prefix]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while proc.poll() is None:
        time.sleep(1)
        elapsed = time.monotonic() - started
        kib = rss_kib(proc.pid)
        if kib is not None and ramp + 2 <= elapsed <= seconds - 0.5:
            samples.append(kib)
    stderr = proc.stderr.read()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"locusta exited {proc.returncode}:\n{stderr[-2000:]}")
    after = wait_closed(port)
    stats = f"{prefix}_stats.csv"
    connects = int(row(stats, "WS", "/ws/stream")[2])
    connect_failures = int(row(stats, "WS", "/ws/stream")[3])
    received = int(row(stats, "WSR", "/ws/stream")[2])
    failures = int(row(stats, "", "Aggregated")[3])
    sent = after["messages_sent"] - before["messages_sent"]
    if not samples:
        raise SystemExit(f"no RSS sample while {users} users held their connections")
    return {
        "users": users,
        "rss_kib": statistics.median(samples),
        "connects": connects,
        "connect_failures": connect_failures,
        "failures": failures,
        "received": received,
        "sent": sent,
        "seconds": seconds,
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--base", type=int, default=100)
    ap.add_argument("--hold", type=int, default=40, help="seconds every user holds, after the ramp")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not 0 < args.base < args.users:
        raise SystemExit("--base must be above 0 and below --users")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.users + 512
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise SystemExit(f"the file limit ({hard}) is below the {need} descriptors needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    port = free_port()
    demo = subprocess.Popen([BIN, "demo", "--bind", "127.0.0.1", "--port", str(port),
                             "--latency-scale", "0"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                feed_stats(port)
                break
            except OSError:
                time.sleep(0.1)
        rounds = []
        with tempfile.TemporaryDirectory() as work:
            for i in range(args.rounds):
                base = run(args.base, args.hold, port, work)
                big = run(args.users, args.hold, port, work)
                per = (big["rss_kib"] - base["rss_kib"]) / (args.users - args.base)
                ratio = big["received"] / big["sent"] if big["sent"] else 0.0
                rounds.append((base, big, per, ratio))
                print(f"round {i + 1}: {args.base} users {base['rss_kib'] / 1024:.1f} MiB, "
                      f"{args.users} users {big['rss_kib'] / 1024:.1f} MiB, "
                      f"{per:.1f} KiB per held connection; received {big['received']} of "
                      f"{big['sent']} sent ({ratio:.4f}), {big['connects']} connects, "
                      f"{big['failures']} failures", file=sys.stderr)
    finally:
        demo.terminate()
        demo.wait()
    med = statistics.median
    big = [r[1] for r in rounds]
    print(f"\nMeasured {time.strftime('%Y-%m-%d')} on {cpu_name()}, {os.cpu_count()} cores; "
          f"locusta and the demo on the same cores; medians of {args.rounds}.\n")
    print("| Users holding a WebSocket | RSS | RSS per held connection | Received / sent "
          "| Received per second | Failures |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.base:,} | {med(r[0]['rss_kib'] for r in rounds) / 1024:.1f} MiB | | | | "
          f"{med(r[0]['failures'] for r in rounds):.0f} |")
    print(f"| {args.users:,} | {med(r['rss_kib'] for r in big) / 1024:.1f} MiB "
          f"| {med(r[2] for r in rounds):.1f} KiB | {med(r[3] for r in rounds):.4f} "
          f"| {med(r['received'] / r['seconds'] for r in big):,.0f} "
          f"| {med(r['failures'] for r in big):.0f} |")


if __name__ == "__main__":
    main()
