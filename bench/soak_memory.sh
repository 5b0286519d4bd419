#!/usr/bin/env bash
# Does a long run stay flat in memory? Runs bench/soak.yaml against the demo target (no latency,
# no think time: as many requests as the machine serves) for DURATION, samples locusta's resident
# memory every 10 seconds, and prints the samples and a summary:
#
#   bench/soak_memory.sh [DURATION] [USERS]      (default 12m, 40 users)
#   WEB=1 bench/soak_memory.sh ...                 the same with the web UI open: a poller does
#                                                  what a page on the Charts tab does every 2 s
#
# The statistics per endpoint are fixed-size histograms, the history is appended to the CSV file
# as it is made, and the report keeps a bounded, downsampled series, so after the warm-up (the
# first 2 minutes) the memory should not grow with the number of requests.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-12m}"
users="${2:-40}"
port="${PORT:-8089}"
web_port="${WEB_PORT:-18089}"
web_args=(--headless)
if [[ -n ${WEB:-} ]]; then
  web_args=(--autostart --autoquit 0 --web-host 127.0.0.1 -P "$web_port")
fi
cargo build --release --quiet
bin=target/release/locusta
work=$(mktemp -d)
"$bin" demo --port "$port" --latency-scale 0 2>"$work/demo.log" &
demo=$!
poller=""
trap 'kill $demo 2>/dev/null; kill $run 2>/dev/null; [[ -z $poller ]] || kill $poller 2>/dev/null; true' EXIT
sleep 1

"$bin" -f bench/soak.yaml -H "http://127.0.0.1:$port" -u "$users" -r "$users" -t "$duration" \
  "${web_args[@]}" --only-summary --csv "$work/soak" --csv-full-history --html "$work/report.html" \
  >"$work/run.log" 2>&1 &
run=$!
if [[ -n ${WEB:-} ]]; then
  ( polls=0
    while kill -0 "$run" 2>/dev/null; do
      for path in state stats/requests charts; do
        curl -s -o /dev/null "http://127.0.0.1:$web_port/$path" && polls=$((polls + 1))
      done
      sleep 2
    done
    echo "the poller had $polls answers" ) &
  poller=$!
fi

echo "seconds,rss_mib,requests" | tee "$work/samples.csv"
start=$SECONDS
while kill -0 "$run" 2>/dev/null; do
  sleep 10
  rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$run/status" 2>/dev/null || true)
  [[ -n $rss_kib ]] || break
  requests=$(tail -n 1 "$work/soak_stats.csv" 2>/dev/null | cut -d, -f3)
  awk -v s=$((SECONDS - start)) -v k="$rss_kib" -v n="${requests:-0}" 'BEGIN { printf "%d,%.1f,%s\n", s, k / 1024, n }' \
    | tee -a "$work/samples.csv"
done
wait "$run" || true

python3 - "$work/samples.csv" "$work" <<'PY'
import csv, os, sys
rows = [(int(r["seconds"]), float(r["rss_mib"]), int(r["requests"] or 0)) for r in csv.DictReader(open(sys.argv[1]))]
warm = [r for r in rows if r[0] >= 120] or rows
first, last = warm[0], warm[-1]
peak = max(r[1] for r in rows)
rate = (last[2] - first[2]) / max(1, last[0] - first[0])
history = os.path.getsize(os.path.join(sys.argv[2], "soak_stats_history.csv"))
report = os.path.getsize(os.path.join(sys.argv[2], "report.html"))
print(f"\nafter warm-up ({first[0]} s): {first[1]:.1f} MiB at {first[2]} requests")
print(f"at the end ({last[0]} s): {last[1]:.1f} MiB at {last[2]} requests; peak {peak:.1f} MiB")
print(f"growth after warm-up: {last[1] - first[1]:+.1f} MiB ({(last[1] / first[1] - 1) * 100:+.1f}%) "
      f"over {last[2] - first[2]} requests ({rate:.0f} requests/s)")
print(f"history file {history / 1024:.0f} KiB on disk; HTML report {report / 1024:.0f} KiB")
PY
echo "files in $work"
