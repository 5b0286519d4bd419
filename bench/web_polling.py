#!/usr/bin/env python3
"""What an open web UI costs the engine: requests per CPU-second with and without a page polling.

    python3 bench/web_polling.py [--seconds 20] [--rounds 3]

perf.py's set-up (nginx answering a fixed 200 on one core, locusta pinned to the other, 50 users
with no wait, the one-request scenario), run with the web UI (`--autostart --autoquit 0`) in
pairs: once with nobody reading it, once with a poller doing what an open page on the Charts tab
does every 2 s (`/state`, `/stats/requests`, `/charts`), plus a `/metrics` scrape every 5 s. CPU
seconds are the whole process's (the web thread included), so the figure is what the page really
costs. Pairs run one after the other so noise hits both alike; medians and the per-pair ratios
are printed.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf  # noqa: E402  (the shared set-up: tools, nginx, pinning, timing)

WEB_PORT = 18089


def poll(stop, counts):
    base = f"http://127.0.0.1:{WEB_PORT}"
    tick = 0
    while not stop.is_set():
        paths = ["/state", "/stats/requests", "/charts"] + (["/metrics"] if tick % 5 == 0 else [])
        for path in paths:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    r.read()
                    counts["ok"] += 1
            except OSError:
                counts["failed"] += 1
        tick += 2
        stop.wait(2)


def run(work, locusta, scenario, seconds, polled):
    stop, counts = threading.Event(), {"ok": 0, "failed": 0}
    poller = threading.Thread(target=poll, args=(stop, counts), daemon=True)
    if polled:
        poller.start()
    try:
        result = perf.run_locusta(work, locusta, scenario, f"http://127.0.0.1:{perf.NGINX_PORT}", seconds,
                                  extra=["--headful", "--autostart", "--autoquit", "0", "--web-host", "127.0.0.1",
                                         "-P", str(WEB_PORT)])
    finally:
        stop.set()
    if polled:
        poller.join()
        if counts["ok"] < seconds // 2:
            sys.exit(f"web_polling.py: the poller got {counts} answers in {seconds} s")
    result["polls"] = counts["ok"]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    perf.ensure_tools()
    locusta = str(perf.ROOT / "target" / "release" / "locusta")
    work = Path(tempfile.mkdtemp(prefix="locusta-web-"))
    scenario = work / "one.yaml"
    scenario.write_text("users:\n  Api:\n    tasks:\n      - {get: /, name: root}\n")
    quiet, polled = [], []
    nginx = perf.start_nginx(work)
    try:
        for r in range(args.rounds):
            perf.log(f"pair {r + 1} of {args.rounds}: without, then with a page polling ({args.seconds} s each)")
            quiet.append(run(work, locusta, scenario, args.seconds, False))
            polled.append(run(work, locusta, scenario, args.seconds, True))
    finally:
        nginx.terminate()
        nginx.wait()
    rate = lambda x: x["requests"] / x["cpu"]  # noqa: E731
    ratios = [rate(b) / rate(a) for a, b in zip(quiet, polled)]
    print(f"Measured {time.strftime('%Y-%m-%d')} on {perf.cpu_model()}; {perf.USERS} users, no wait, "
          f"{args.seconds} s runs, {args.rounds} pairs.")
    print(f"requests per CPU-second, no page:      {statistics.median(map(rate, quiet)):,.0f}")
    print(f"requests per CPU-second, page polling: {statistics.median(map(rate, polled)):,.0f} "
          f"({statistics.median(x['polls'] for x in polled)} answers per run)")
    print(f"ratio polled / quiet: {statistics.median(ratios):.3f} (per pair: "
          f"{' / '.join(f'{r:.3f}' for r in ratios)})")
    print(f"peak RSS: {statistics.median(x['rss'] for x in quiet) / 1024:.0f} MB without, "
          f"{statistics.median(x['rss'] for x in polled) / 1024:.0f} MB with")


if __name__ == "__main__":
    main()
