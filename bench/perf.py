#!/usr/bin/env python3
"""locusta side by side with wrk and Locust, on one machine, in one run.

    python3 bench/perf.py [--seconds 20] [--rounds 3] [--out bench/RESULTS.md] [--quick]

Throughput: nginx answers a fixed 200 on one core (taskset -c 1); each generator runs pinned
to the other core (taskset -c 0) with 50 users (connections) and no wait, for --seconds.
/usr/bin/time gives the generator's CPU seconds (user + system) and peak RSS; requests come
from the generator's own count. Figures are medians over --rounds rounds, each round running
every generator once, one after the other, so noise on this shared machine hits them alike.

- wrk 4 (C, one URL: the practical ceiling);
- oha (Rust, on hyper; one URL like wrk), built from crates.io into bench/.tools;
- Goose 0.19 (Rust, on reqwest; a Locust-like framework): the same one-request scenario as
  locusta's, bench/goose;
- locusta, a one-request YAML scenario;
- Locust FastHttpUser, the same request in Python;
- locusta, the CisTrade scenario with every wait set to zero (login, captures, templates,
  cookies, 20 endpoints) against nginx answering every path with one small page that holds
  what its captures and checks look for (CISTRADE_PAGE): the generator's cost of the scenario
  machinery, as a ratio to wrk's requests per CPU-second;
- the same scenario against the demo target (`locusta demo --latency-scale 0`) on the other
  core, with its real pages (up to 389 KB, exports included): reading big bodies costs the
  kernel more than anything else, so this row is for reference;
- the HTTP clients alone (examples/client_ceiling.rs, a bare loop of GETs): reqwest as locusta
  uses it for HTTPS, and hyper's HTTP/1 connections driven directly (what locusta's http://
  path was built on before its own exchange on httparse), so the table shows how much of
  locusta's cost is the client's.

Same load: wrk keeps 50 connections that each wait 10 ms after every response (a Lua
`delay`); then locusta runs 50 users paced to the rate wrk reached (`constant_throughput`,
Locust's arithmetic), so both send the same requests per second to the same idle nginx; the
p50 and p99 each reports, and their ratios per round.

Memory: 10, 1,000, 10,000 and 100,000 users, each making one request and then waiting 15 s,
every user keeping the session cookie nginx sets in its own cookie jar. RSS is read once every user has made its request; KB per
user is the growth from 10 users, divided by the users added. The set-up CPU is what the
process spent until the last user started. Then the p50 locusta reports while 10,000 users wait
(a request every 10 to 20 s each), beside the p50 of one wrk connection on the idle server: a
generator must not inflate what it measures. And the real journey: scenarios/cistrade.yaml as
written (waits, logins, captures, each user's cookies) against `locusta demo` with its latencies,
at 100 and --journey-users users, RSS --settle seconds after the last user started.

It installs what is missing (nginx-light, wrk and time from Debian with apt-get; Locust 2.47
from PyPI into bench/.venv), builds locusta in release, binds to 127.0.0.1 only, and bounds
every run in time. The Markdown table is printed and written to --out.
"""

import argparse
import csv
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv"
LOCUST_VERSION = "2.47.0"
OHA_VERSION = "1.16.0"
TOOLS = ROOT / "bench" / ".tools"
OHA = TOOLS / "bin" / "oha"
GOOSE = ROOT / "bench" / "goose" / "target" / "release" / "goose-bench"
NGINX_PORT = 18980
DEMO_PORT = 18981
PAGES_PORT = 18982
JOURNEY_DEMO_PORT = 18983
GENERATOR_CPU = "0"
SERVER_CPU = "1"
USERS = 50
# What nginx answers on every CisTrade path (PAGES_PORT): a small page holding everything the
# scenario's captures and checks look for (a CSRF form field, links to a portfolio, a
# counterparty and a custom field, the texts its checks expect), so every flow runs to its end
# and the run measures the generator's scenario machinery rather than the transfer of large
# bodies. /login/ also sets the session cookie.
CISTRADE_PAGE = """<!doctype html><html><head><title>CisTrade</title></head><body>
<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="Zm9vYmFyYmF6cXV4"></form>
<table>
<tr><td><a href="/portfolio/17/">Growth USD</a></td><td>ACTIVE</td></tr>
<tr><td><a href="/portfolio/42/">Income EUR</a></td><td>PENDING</td></tr>
<tr><td><a href="/reference-data/counterparty/7/">Northern Bank</a></td><td>US Dollar</td></tr>
<tr><td><a href="/udf/5/">Risk rating</a></td><td>PORTFOLIO</td></tr>
</table>
<p>Load test portfolio. Reviewed by load test.</p>
</body></html>
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_tools():
    missing = [p for p, b in (("nginx-light", "nginx"), ("wrk", "wrk"), ("time", "/usr/bin/time")) if not shutil.which(b)]
    if missing:
        log(f"installing {' '.join(missing)} with apt-get")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q"] + missing, check=False, stdout=subprocess.DEVNULL)
        if any(not shutil.which(b) for b in ("nginx", "wrk", "/usr/bin/time")):
            subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(sudo + ["apt-get", "install", "-y", "-q"] + missing, check=True, stdout=subprocess.DEVNULL)
    locust = VENV / "bin" / "locust"
    if not locust.exists():
        log(f"installing Locust {LOCUST_VERSION} into {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", f"locust=={LOCUST_VERSION}"], check=True)
    if not OHA.exists():
        log(f"building oha {OHA_VERSION} from crates.io into {TOOLS}")
        subprocess.run(["cargo", "install", "--quiet", "--locked", "oha", "--version", OHA_VERSION, "--root", str(TOOLS)],
                       check=True)
    log("building Goose's one-request scenario (bench/goose, release)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--locked"], cwd=ROOT / "bench" / "goose", check=True)
    log("building locusta and examples/client_ceiling (release)")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "client_ceiling"], cwd=ROOT, check=True)
    if os.cpu_count() < 2:
        sys.exit("perf.py: needs two cores, one for the server and one for the generator")


def wait_for(url, proc, what):
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit(f"perf.py: {what} did not start")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"perf.py: {what} does not answer at {url}")


def start_nginx(work):
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log stderr error;
worker_rlimit_nofile 250000;
events {{ worker_connections 240000; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{NGINX_PORT} backlog=65535;
    location / {{ return 200 "ok\\n"; }}
    location /session {{
      add_header Set-Cookie "sessionid=0123456789abcdef0123456789abcdef; Path=/; HttpOnly";
      return 200 "ok\\n";
    }}
  }}
  server {{
    listen 127.0.0.1:{PAGES_PORT} backlog=65535;
    default_type text/html;
    location / {{ return 200 '{CISTRADE_PAGE}'; }}
    location /login/ {{
      add_header Set-Cookie "sessionid=0123456789abcdef0123456789abcdef; Path=/; HttpOnly";
      return 200 '{CISTRADE_PAGE}';
    }}
  }}
}}
""")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "nginx", "-c", str(conf), "-e", "stderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{NGINX_PORT}/", proc, "nginx")
    return proc


def start_demo(locusta):
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, locusta, "demo", "--port", str(DEMO_PORT), "--latency-scale", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{DEMO_PORT}/health/", proc, "the demo target")
    return proc


def timed(cmd, cwd, limit):
    """Runs cmd pinned to the generator core; (stdout+stderr, cpu seconds, peak RSS KiB)."""
    stats = Path(cwd) / "time.txt"
    full = ["/usr/bin/time", "-o", str(stats), "-f", "%U %S %M", "taskset", "-c", GENERATOR_CPU] + cmd
    try:
        out = subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        sys.exit(f"perf.py: {cmd[0]} ran past {limit} s")
    user, system, rss = stats.read_text().split()[-3:]
    return out.stdout + out.stderr, float(user) + float(system), int(rss)


def aggregated_row(path):
    """The Aggregated row of a Locust-format stats file, by column name."""
    return [r for r in csv.DictReader(open(path)) if r["Name"] == "Aggregated"][-1]


def csv_total(path):
    """Requests, p50 and p99 (ms) of the Aggregated row of a Locust-format stats file."""
    agg = aggregated_row(path)
    return int(agg["Request Count"]), float(agg["50%"]), float(agg["99%"])


def summary_total(path):
    """Requests, p50 and p99 (ms) of locusta's --summary-json: exact percentiles, where the CSV
    holds Locust's rounded integers."""
    total = json.load(open(path))["total"]
    return total["requests"], total["percentiles_ms"]["50"], total["percentiles_ms"]["99"]


def wrk_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(work, seconds):
    out, cpu, rss = timed(["wrk", "-t1", f"-c{USERS}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{NGINX_PORT}/"],
                          work, seconds + 30)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    # The latency distribution's lines, not the "98.50%" of the thread stats above it.
    p50 = wrk_ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1))
    p99 = wrk_ms(re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1))
    return dict(requests=requests, cpu=cpu, rss=rss, p50=p50, p99=p99)


def run_oha(work, seconds):
    """oha (Rust, hyper): one URL, like wrk, its summary as JSON."""
    out, cpu, rss = timed([str(OHA), "-z", f"{seconds}s", "-c", str(USERS), "--no-tui", "--output-format", "json",
                           f"http://127.0.0.1:{NGINX_PORT}/"], work, seconds + 30)
    summary = json.loads(out)
    requests = sum(summary["statusCodeDistribution"].values())
    pct = summary["latencyPercentiles"]
    return dict(requests=requests, cpu=cpu, rss=rss, p50=pct["p50"] * 1000, p99=pct["p99"] * 1000)


def run_goose(work, seconds):
    """Goose 0.19 (Rust, reqwest; bench/goose): the one-request scenario, no wait, all users at once."""
    out, cpu, rss = timed([str(GOOSE), "-H", f"http://127.0.0.1:{NGINX_PORT}", "-u", str(USERS), "-r", str(USERS),
                           "-t", f"{seconds}s", "--no-reset-metrics", "-q"], work, seconds + 60)
    requests = int(re.search(r"^\s*GET root\s+\|\s+([\d,]+)\s+\|", out, re.M).group(1).replace(",", ""))
    # "Slowest page load within specified percentile": 50%, 75%, 98%, 99%, ... in ms.
    table = out[out.index("Slowest page load"):]
    cells = re.search(r"^\s*GET root\s+\|(.*)$", table, re.M).group(1).split("|")
    return dict(requests=requests, cpu=cpu, rss=rss, p50=float(cells[0]), p99=float(cells[3]))


def run_ceiling(work, mode, seconds):
    """The HTTP client alone (examples/client_ceiling.rs): reqwest as locusta configures it, or
    hyper's HTTP/1 connections driven directly; a bare loop without scenario or statistics."""
    exe = ROOT / "target" / "release" / "examples" / "client_ceiling"
    out, cpu, rss = timed([str(exe), mode, f"http://127.0.0.1:{NGINX_PORT}/", str(USERS), str(seconds)], work, seconds + 30)
    m = re.search(r"requests (\d+) p50_us (\d+) p99_us (\d+)", out)
    return dict(requests=int(m.group(1)), cpu=cpu, rss=rss, p50=int(m.group(2)) / 1000, p99=int(m.group(3)) / 1000)


def run_locusta(work, locusta, scenario, host, seconds, users=USERS, extra=()):
    prefix = work / "locusta"
    out, cpu, rss = timed([locusta, "-f", str(scenario), "-H", host, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                           "--headless", "--only-summary", "--csv", str(prefix), "--summary-json", f"{prefix}.json", *extra],
                          work, seconds + 60)
    requests, p50, p99 = summary_total(f"{prefix}.json")
    failures = int(aggregated_row(f"{prefix}_stats.csv")["Failure Count"])
    if failures > requests // 100:
        sys.exit(f"perf.py: locusta saw {failures} failures of {requests}:\n{out[-2000:]}")
    return dict(requests=requests, cpu=cpu, rss=rss, p50=p50, p99=p99)


def run_locust(work, seconds):
    locustfile = work / "locustfile.py"
    locustfile.write_text(
        "from locust import FastHttpUser, task, constant\n\n"
        "class Api(FastHttpUser):\n"
        "    wait_time = constant(0)\n\n"
        "    @task\n"
        "    def root(self):\n"
        "        self.client.get('/', name='root')\n")
    prefix = work / "locust"
    out, cpu, rss = timed([str(VENV / "bin" / "locust"), "-f", str(locustfile), "-H", f"http://127.0.0.1:{NGINX_PORT}",
                           "-u", str(USERS), "-r", str(USERS), "-t", f"{seconds}s", "--headless", "--only-summary",
                           "--csv", str(prefix), "--loglevel", "WARNING"], work, seconds + 60)
    requests, p50, p99 = csv_total(f"{prefix}_stats.csv")
    return dict(requests=requests, cpu=cpu, rss=rss, p50=p50, p99=p99)


def zero_wait_cistrade(work):
    text = (ROOT / "scenarios" / "cistrade.yaml").read_text()
    text = re.sub(r"\{between: \[[\d.]+, [\d.]+\]\}", "{between: [0, 0]}", text)
    out = work / "cistrade-nowait.yaml"
    out.write_text(text)
    return out


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_point(work, locusta, users):
    """RSS (KiB) and set-up CPU seconds once `users` users have each made their request."""
    scenario = work / "waiting.yaml"
    scenario.write_text("users:\n  Waiting:\n    wait_time: {constant: 15}\n    tasks:\n      - {get: /session, name: session}\n")
    prefix = work / f"mem{users}"
    # Spawning at 10,000 users a second: 100,000 users take ten seconds.
    rate = min(users, 10000)
    ramp = users / rate
    proc = subprocess.Popen(["taskset", "-c", GENERATOR_CPU, locusta, "-f", str(scenario), "-H", f"http://127.0.0.1:{NGINX_PORT}",
                             "-u", str(users), "-r", str(rate), "-t", f"{int(ramp) + 8}s", "--headless", "--only-summary",
                             "--csv", str(prefix), "--csv-full-history"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + ramp + 60
    setup_cpu = None
    rss = None
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.25)
            try:
                rows = list(csv.DictReader(open(f"{prefix}_stats_history.csv")))
            except (OSError, csv.Error):
                continue
            agg = [r for r in rows if r["Name"] == "Aggregated"]
            if not agg:
                continue
            if setup_cpu is None and int(agg[-1]["User Count"]) >= users:
                setup_cpu = cpu_seconds(proc.pid)
            if int(agg[-1]["Total Request Count"]) >= users:
                time.sleep(1)
                rss = rss_kib(proc.pid)
                if setup_cpu is None:
                    setup_cpu = cpu_seconds(proc.pid)
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if rss is None:
        sys.exit(f"perf.py: {users} users did not all make their request in time")
    return rss, setup_cpu


def journey_memory(work, locusta, users, settle):
    """Steady RSS (KiB, median of 5 readings a second apart) of scenarios/cistrade.yaml as
    written (its waits, logins and captures; every user keeps its own cookies) against
    `locusta demo` with its real latencies, `settle` seconds after every user has started."""
    proc = subprocess.Popen(["taskset", "-c", GENERATOR_CPU, locusta, "-f", str(ROOT / "scenarios" / "cistrade.yaml"),
                             "-H", f"http://127.0.0.1:{JOURNEY_DEMO_PORT}", "-u", str(users), "-r", str(min(users, 1000)),
                             "-t", "600s", "--headless", "--only-summary"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + users / 1000 + 120
        for line in proc.stderr:
            if "All users spawned" in line or time.time() > deadline:
                break
        if proc.poll() is not None:
            sys.exit(f"perf.py: the CisTrade journey with {users} users ended early")
        time.sleep(settle)
        readings = []
        for _ in range(5):
            readings.append(rss_kib(proc.pid))
            time.sleep(1)
        return statistics.median(readings)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def idle_latency(work, locusta, seconds):
    """p50 (ms) of one wrk connection on the idle server, and of locusta's requests while
    10,000 users wait (each request every 10 to 20 s; statistics reset once all have started)."""
    out, _, _ = timed(["wrk", "-t1", "-c1", "-d5s", "--latency", f"http://127.0.0.1:{NGINX_PORT}/"], work, 40)
    wrk_p50 = wrk_ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1))
    scenario = work / "idle.yaml"
    scenario.write_text("users:\n  Waiting:\n    wait_time: {between: [10, 20]}\n    tasks:\n      - {get: /, name: root}\n")
    prefix = work / "idle"
    timed([locusta, "-f", str(scenario), "-H", f"http://127.0.0.1:{NGINX_PORT}", "-u", "10000", "-r", "10000",
           "-t", f"{max(seconds, 20) + 2}s", "--headless", "--only-summary", "--reset-stats", "--csv", str(prefix),
           "--summary-json", f"{prefix}.json"], work, seconds + 90)
    requests, p50, _ = summary_total(f"{prefix}.json")
    return wrk_p50, p50, requests


def paced(work, locusta, seconds):
    """Latency at the same load: wrk's 50 connections wait 10 ms after every response (a Lua
    `delay`); locusta's 50 users are paced to the rate wrk reached."""
    script = work / "paced.lua"
    script.write_text("function delay()\n  return 10\nend\n")
    out, _, _ = timed(["wrk", "-t1", f"-c{USERS}", f"-d{seconds}s", "--latency", "-s", str(script),
                       f"http://127.0.0.1:{NGINX_PORT}/"], work, seconds + 30)
    wrk = dict(rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
               p50=wrk_ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1)),
               p99=wrk_ms(re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1)))
    scenario = work / "paced.yaml"
    per_user = wrk["rate"] / USERS
    scenario.write_text(f"users:\n  Api:\n    wait_time: {{constant_throughput: {per_user:.3f}}}\n"
                        "    tasks:\n      - {get: /, name: root}\n")
    prefix = work / "paced"
    timed([locusta, "-f", str(scenario), "-H", f"http://127.0.0.1:{NGINX_PORT}", "-u", str(USERS), "-r", str(USERS),
           "-t", f"{seconds}s", "--headless", "--only-summary", "--csv", str(prefix), "--summary-json", f"{prefix}.json"],
          work, seconds + 60)
    agg = aggregated_row(f"{prefix}_stats.csv")
    _, p50, p99 = summary_total(f"{prefix}.json")
    mine = dict(rate=float(agg["Requests/s"]), p50=p50, p99=p99)
    return wrk, mine


def median_of(results, key):
    return statistics.median(r[key] for r in results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=20, help="length of each throughput run (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every generator, medians taken (default 3)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="where the Markdown goes")
    ap.add_argument("--max-users", type=int, default=100000, help="largest memory point (default 100000)")
    ap.add_argument("--journey-users", type=int, default=20000, help="users of the CisTrade memory point (default 20000)")
    ap.add_argument("--settle", type=int, default=30, help="seconds after the ramp before the journey's RSS is read (default 30)")
    ap.add_argument("--quick", action="store_true", help="5-second runs, one round, memory up to 10,000 users")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.max_users, args.journey_users, args.settle = 5, 1, 10000, 5000, 10

    ensure_tools()
    locusta = str(ROOT / "target" / "release" / "locusta")
    work = Path(tempfile.mkdtemp(prefix="locusta-perf-"))
    one = work / "one.yaml"
    one.write_text("users:\n  Api:\n    tasks:\n      - {get: /, name: root}\n")
    cistrade = zero_wait_cistrade(work)

    results = {"wrk": [], "oha": [], "goose": [], "locusta": [], "locust": [], "cistrade_pages": [], "cistrade": [], "reqwest": [], "hyper": []}
    same_load = {"wrk": [], "locusta": []}
    nginx = start_nginx(work)
    try:
        for r in range(args.rounds):
            log(f"round {r + 1} of {args.rounds}: wrk, oha, Goose, locusta, Locust FastHttpUser, CisTrade, the clients alone, "
                f"then wrk and locusta at the same load ({args.seconds} s each)")
            results["wrk"].append(run_wrk(work, args.seconds))
            results["oha"].append(run_oha(work, args.seconds))
            results["goose"].append(run_goose(work, args.seconds))
            results["locusta"].append(run_locusta(work, locusta, one, f"http://127.0.0.1:{NGINX_PORT}", args.seconds))
            results["locust"].append(run_locust(work, args.seconds))
            results["cistrade_pages"].append(
                run_locusta(work, locusta, cistrade, f"http://127.0.0.1:{PAGES_PORT}", args.seconds))
            results["reqwest"].append(run_ceiling(work, "reqwest", args.seconds))
            results["hyper"].append(run_ceiling(work, "hyper", args.seconds))
            wrk_paced, locusta_paced = paced(work, locusta, args.seconds)
            same_load["wrk"].append(wrk_paced)
            same_load["locusta"].append(locusta_paced)
        log("memory: 10 to {:,} waiting users".format(args.max_users))
        memory = []
        for users in [10, 1000, 10000, 100000]:
            if users <= args.max_users:
                memory.append((users, *memory_point(work, locusta, users)))
        log("latency with 10,000 waiting users, and of one wrk connection")
        idle = idle_latency(work, locusta, args.seconds)
    finally:
        nginx.terminate()
        nginx.wait()
    demo = start_demo(locusta)
    try:
        for r in range(args.rounds):
            log(f"round {r + 1} of {args.rounds}: locusta, CisTrade scenario without waits ({args.seconds} s)")
            results["cistrade"].append(run_locusta(work, locusta, cistrade, f"http://127.0.0.1:{DEMO_PORT}", args.seconds))
    finally:
        demo.terminate()
        demo.wait()

    log("memory: the CisTrade journey against the demo target with its latencies, 100 and {:,} users"
        .format(args.journey_users))
    journey_demo = subprocess.Popen(["taskset", "-c", SERVER_CPU, locusta, "demo", "--port", str(JOURNEY_DEMO_PORT)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{JOURNEY_DEMO_PORT}/health/", journey_demo, "the demo target")
        journey = [(n, journey_memory(work, locusta, n, args.settle)) for n in (100, args.journey_users)]
    finally:
        journey_demo.terminate()
        journey_demo.wait()

    per_cpu = {k: [x["requests"] / x["cpu"] for x in v] for k, v in results.items()}
    wrk_rate = statistics.median(per_cpu["wrk"])
    locust_rate = statistics.median(per_cpu["locust"])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node() or 'this machine'}: {cpu_model()}, "
        f"{os.cpu_count()} cores, Linux {platform.release()}; generator on core {GENERATOR_CPU}, server on core "
        f"{SERVER_CPU}; {USERS} users/connections, no wait, {args.seconds} s runs, medians of {args.rounds}.",
        "",
        "| generator | requests / CPU-second | ratio to wrk | ratio to Locust | peak RSS | p50 | p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"wrk": "wrk (nginx, one URL)", "oha": f"oha {OHA_VERSION} (one URL)",
             "goose": "Goose 0.19, one-request scenario", "locusta": "locusta, one-request scenario",
             "locust": f"Locust {LOCUST_VERSION} FastHttpUser",
             "cistrade_pages": "locusta, CisTrade without waits (nginx, small pages)",
             "cistrade": "locusta, CisTrade without waits (demo target, its real pages)",
             "reqwest": "reqwest alone: bare loop, one shared pool (locusta's client for HTTPS)",
             "hyper": "hyper HTTP/1 alone: bare loop, a connection per task"}
    for key in ["wrk", "oha", "goose", "locusta", "locust", "cistrade_pages", "cistrade", "reqwest", "hyper"]:
        rate = statistics.median(per_cpu[key])
        lines.append(
            f"| {names[key]} | {rate:,.0f} | {rate / wrk_rate:.2f} | {rate / locust_rate:.1f} | "
            f"{median_of(results[key], 'rss') / 1024:.0f} MB | {median_of(results[key], 'p50'):.2f} ms | "
            f"{median_of(results[key], 'p99'):.2f} ms |")
    lines += ["", "| waiting users | RSS | KB per user (from 10 users) | set-up CPU |", "| ---: | ---: | ---: | ---: |"]
    base_users, base_rss, _ = memory[0]
    for users, rss, setup in memory:
        per_user = "" if users == base_users else f"{(rss - base_rss) * 1.024 / (users - base_users):.1f}"
        lines.append(f"| {users:,} | {rss / 1024:.0f} MB | {per_user} | {setup:.2f} s |")
    (few, few_rss), (many, many_rss) = journey
    lines += ["", f"The CisTrade journey (scenarios/cistrade.yaml, its waits, every user with its own cookies) against "
              f"`locusta demo`, RSS {args.settle} s after the last user started, median of 5 readings:", "",
              "| users | RSS | KB per user (from 100 users) |", "| ---: | ---: | ---: |",
              f"| {few:,} | {few_rss / 1024:.0f} MB | |",
              f"| {many:,} | {many_rss / 1024:.0f} MB | {(many_rss - few_rss) * 1.024 / (many - few):.1f} |"]
    w, m = same_load["wrk"], same_load["locusta"]
    ratio = {q: [b[q] / a[q] for a, b in zip(w, m)] for q in ("p50", "p99")}
    lines += ["", f"Same load ({USERS} connections/users; wrk waits 10 ms after every response, locusta is paced to "
              f"the rate wrk reached; nginx idle otherwise; medians of {args.rounds}, ratios per round):", "",
              "| generator | requests/s | p50 | p99 |", "| --- | ---: | ---: | ---: |",
              f"| wrk (Lua delay 10 ms) | {median_of(w, 'rate'):,.0f} | {median_of(w, 'p50'):.3f} ms | {median_of(w, 'p99'):.3f} ms |",
              f"| locusta (constant_throughput) | {median_of(m, 'rate'):,.0f} | {median_of(m, 'p50'):.3f} ms | "
              f"{median_of(m, 'p99'):.3f} ms |",
              f"| locusta / wrk | | {statistics.median(ratio['p50']):.2f} "
              f"({' / '.join(f'{r:.2f}' for r in ratio['p50'])}) | {statistics.median(ratio['p99']):.2f} "
              f"({' / '.join(f'{r:.2f}' for r in ratio['p99'])}) |"]
    lines += ["", f"p50 with 10,000 waiting users (locusta, {idle[2]:,} requests after the ramp): {idle[1]:.3f} ms; "
              f"one wrk connection on the idle server: {idle[0]:.3f} ms."]
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).write_text(table)
    log(f"written to {args.out}; raw figures per round: {results}")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
