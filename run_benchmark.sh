#!/usr/bin/env bash
# Run a CisTrade benchmark preset with locusta (the presets of the CisTrade benchmarking guide).
#
#   ./run_benchmark.sh quick|standard|stress|soak|spike [USERS] [DURATION] [options] [-- locusta args]
#
#   quick      50 users, 10/s,    2 minutes   post-deployment sanity check
#   standard  500 users, 10/s,   10 minutes   regular performance validation
#   stress   1000 users, 50/s,    5 minutes   find the breaking point
#   soak      200 users, 10/s,    2 hours     detect memory leaks
#   spike     500 users at peak, 5.5 minutes  the Medication guide's spike test: 0 to 100 users
#             over 2 minutes, up to 500 in 30 seconds, hold 1 minute, back to 100 and watch
#             the recovery for 2 minutes (USERS sets the peak, the base is a fifth of it;
#             the stages set the duration)
#
# Options:
#   --demo            start the built-in demo target (locusta demo) on HOST's port first
#   --scenario FILE   scenario to run (default: scenarios/cistrade.yaml, or $SCENARIO)
#   --host URL        target (default: $HOST, else http://localhost:8000)
#   --spawn-rate N    override the preset's spawn rate
#   --baseline DIR    compare with an earlier results folder after the run (the guide's weekly
#                     compare_benchmarks.py): the table goes to the console and compare.md
#   --max-regression P  how much slower (or fewer requests/s) an endpoint may get against the
#                     baseline, default 20% (the guide's rule); exit code 3 beyond it
#   --save-baseline   after a clean run (exit code 0), make its results the baseline:
#                     benchmark_results/baseline/ is replaced (the script says what it held)
#   --no-baseline     do not compare with benchmark_results/baseline/
#   -h, --help        show this help
# Without --baseline, a run compares with benchmark_results/baseline/ by itself when that
# baseline was saved from the same preset and number of users (and says so either way).
# Anything after `--` goes to locusta unchanged (for example `-- PortfolioUser --tags smoke`).
# LOCUSTA_BIN=path uses that binary instead of building target/release/locusta.
#
# Examples:
#   ./run_benchmark.sh quick --demo
#   ./run_benchmark.sh standard 500 10m
#   HOST=http://staging:8000 ./run_benchmark.sh stress
#   ./run_benchmark.sh standard --save-baseline      # this week's run becomes the reference
#   ./run_benchmark.sh standard                      # next week: compared with it, 20% rule
#   ./run_benchmark.sh standard --baseline benchmark_results/standard_500users_20260101_020000
#
# Results: benchmark_results/<preset>_<users>users_<timestamp>/ (benchmark_results/latest
# links to the newest) with report.html (open it in a browser), stats_stats.csv,
# stats_stats_history.csv, stats_failures.csv, stats_exceptions.csv, run_sheet.txt and
# console.log (and compare.md when compared with a baseline). The exit code is locusta's: 0
# clean, 1 when requests failed, 2 for bad input, 3 when a threshold failed; or 3 when the run
# was clean but an endpoint regressed beyond --max-regression against the baseline.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "run_benchmark.sh: $*" >&2; exit 2; }

# Paths given by the caller are relative to where they ran this; the defaults and the results
# folder are relative to the script's folder.
invoked_in=$PWD
from_caller() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s' "$invoked_in/$1" ;; esac; }
cd "$(dirname "$0")"

preset=""
users=""
duration=""
demo=false
scenario="${SCENARIO:+$(from_caller "$SCENARIO")}"
scenario="${scenario:-scenarios/cistrade.yaml}"
host="${HOST:-http://localhost:8000}"
spawn_rate=""
baseline=""
save_baseline=false
no_baseline=false
max_regression="20%"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --demo) demo=true ;;
    --scenario) [[ $# -ge 2 ]] || die "--scenario needs a file"; scenario=$(from_caller "$2"); shift ;;
    --scenario=*) scenario=$(from_caller "${1#*=}") ;;
    --host) [[ $# -ge 2 ]] || die "--host needs a URL"; host="$2"; shift ;;
    --host=*) host="${1#*=}" ;;
    --spawn-rate) [[ $# -ge 2 ]] || die "--spawn-rate needs a number"; spawn_rate="$2"; shift ;;
    --spawn-rate=*) spawn_rate="${1#*=}" ;;
    --baseline) [[ $# -ge 2 ]] || die "--baseline needs a results folder"; baseline=$(from_caller "$2"); shift ;;
    --baseline=*) baseline=$(from_caller "${1#*=}") ;;
    --max-regression) [[ $# -ge 2 ]] || die "--max-regression needs a percentage"; max_regression="$2"; shift ;;
    --max-regression=*) max_regression="${1#*=}" ;;
    --save-baseline) save_baseline=true ;;
    --no-baseline) no_baseline=true ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      if [[ -z $preset ]]; then preset="$1"
      elif [[ -z $users ]]; then users="$1"
      elif [[ -z $duration ]]; then duration="$1"
      else die "unexpected argument $1 (see --help)"
      fi ;;
  esac
  shift
done

case "$preset" in
  quick)    def_users=50;   def_rate=10; def_time=2m ;;
  standard) def_users=500;  def_rate=10; def_time=10m ;;
  stress)   def_users=1000; def_rate=50; def_time=5m ;;
  soak)     def_users=200;  def_rate=10; def_time=2h ;;
  spike)    def_users=500;  def_rate=""; def_time=5m30s ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown preset '$preset': use quick, standard, stress, soak or spike" ;;
esac
users="${users:-$def_users}"
[[ $users =~ ^[0-9]+$ ]] || die "users must be a whole number, got '$users'"
if [[ $preset == spike ]]; then
  [[ -z $duration ]] || die "spike's stages set its duration; give only USERS (the peak)"
  [[ -z $spawn_rate ]] || die "spike's stages set its spawn rates; drop --spawn-rate"
  base=$((users / 5))
  # Even ramps unless a rate is given: the drop back to the base is at once.
  load=(--stages "2m:$base,30s:$users,1m:$users,2m:$base:$users")
else
  spawn_rate="${spawn_rate:-$def_rate}"
  load=(-u "$users" -r "$spawn_rate" -t "${duration:-$def_time}")
fi
duration="${duration:-$def_time}"
[[ $max_regression =~ ^[0-9]+(\.[0-9]+)?%?$ ]] || die "--max-regression must be a percentage such as 20%, got '$max_regression'"
[[ -f $scenario ]] || die "scenario $scenario not found"

if [[ -n ${LOCUSTA_BIN:-} ]]; then
  bin="$LOCUSTA_BIN"
  [[ -x $bin ]] || die "LOCUSTA_BIN=$bin is not an executable"
else
  echo "Building locusta (release)..." >&2
  cargo build --release --quiet
  bin=target/release/locusta
fi

# The team's baseline (benchmark_results/baseline/, saved by --save-baseline) is used when it
# comes from the same preset and number of users; a baseline of another load is never compared
# silently.
saved_baseline=benchmark_results/baseline
baseline_field() { sed -n "s/^$1=//p" "$saved_baseline/baseline.txt" 2>/dev/null | head -n 1; }
describe_baseline() {
  if [[ -f $saved_baseline/baseline.txt ]]; then
    printf '%s, %s users, from %s' "$(baseline_field preset)" "$(baseline_field users)" "$(baseline_field results)"
  else
    printf 'a folder without baseline.txt'
  fi
}
if [[ -z $baseline && $no_baseline == false && $save_baseline == false && -d $saved_baseline ]]; then
  if [[ ! -f $saved_baseline/baseline.txt ]]; then
    echo "Not comparing with $saved_baseline/: it has no baseline.txt saying which preset it ran (save one with --save-baseline, or pass --baseline DIR)" >&2
  elif [[ $(baseline_field preset) != "$preset" || $(baseline_field users) != "$users" ]]; then
    echo "Not comparing with $saved_baseline/: it is a $(baseline_field preset) run of $(baseline_field users) users, this is $preset with $users (--save-baseline replaces it, --baseline DIR compares with another)" >&2
  else
    baseline=$saved_baseline
    echo "Comparing with the baseline in $saved_baseline/ ($(describe_baseline)); --no-baseline turns this off" >&2
  fi
fi

# A baseline that cannot be read should fail now, not after the run: compare it with itself.
if [[ -n $baseline ]]; then
  if ! problem=$("$bin" compare "$baseline" "$baseline" --max-regression "$max_regression" 2>&1 >/dev/null); then
    die "--baseline $baseline: ${problem#locusta: error: }"
  fi
fi

# Does anything answer HTTP at $1? Any status counts: a login redirect is an answer.
answers() {
  python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

demo_pid=""
cleanup() { [[ -n $demo_pid ]] && kill "$demo_pid" 2>/dev/null; true; }
trap cleanup EXIT

if $demo; then
  port=$(python3 -c 'import sys, urllib.parse; u = urllib.parse.urlparse(sys.argv[1]); print(u.port or (443 if u.scheme == "https" else 80))' "$host")
  case "$host" in
    http://localhost*|http://127.0.0.1*) ;;
    *) die "--demo runs the demo target on this machine; use HOST=http://localhost:$port or drop --demo" ;;
  esac
  if answers "$host/"; then
    die "something already answers on $host; stop it or run without --demo"
  fi
  "$bin" demo --port "$port" 2>benchmark_demo.log &
  demo_pid=$!
  for _ in $(seq 100); do
    answers "$host/health/" && break
    kill -0 "$demo_pid" 2>/dev/null || die "the demo target did not start: $(cat benchmark_demo.log)"
    sleep 0.1
  done
  rm -f benchmark_demo.log
  echo "Demo target running on $host (pid $demo_pid)" >&2
fi

if ! answers "$host/"; then
  die "nothing answers at $host. Start the application first (or pass --demo to use the built-in demo target), or set HOST."
fi

results="benchmark_results/${preset}_${users}users_$(date +%Y%m%d_%H%M%S)"
mkdir -p "$results"
if [[ $preset == spike ]]; then
  echo "Running spike: ${load[1]} (duration:users[:rate]) against $host ($scenario)" >&2
else
  echo "Running $preset: $users users at $spawn_rate/s for $duration against $host ($scenario)" >&2
fi
echo "Results: $results/" >&2

# The console also goes to console.log. Ctrl-C reaches locusta, which stops the users and still
# writes every file; tee ignores it so the final summary is not lost.
set +e
{ "$bin" -f "$scenario" -H "$host" "${load[@]}" --headless \
    --csv "$results/stats" --html "$results/report.html" --run-sheet "$results/run_sheet.txt" "${extra[@]}" 2>&1 1>&3 \
    | (trap '' INT TERM; exec tee "$results/console.log") >&2; } 3>&1
code=${PIPESTATUS[0]}
set -e
# benchmark_results/latest is the newest run, where the guide's scripts look for it.
ln -sfn "$(basename "$results")" benchmark_results/latest

echo >&2
echo "Results in $results/:" >&2
ls -1 "$results" | sed 's/^/  /' >&2
if [[ -f "$results/report.html" ]]; then
  echo "Report: $results/report.html" >&2
fi

if [[ -n $baseline && -f "$results/stats_stats.csv" ]]; then
  echo >&2
  echo "Against the baseline $baseline:" >&2
  set +e
  "$bin" compare "$baseline" "$results" --max-regression "$max_regression" >&2
  compared=$?
  "$bin" compare "$baseline" "$results" --max-regression "$max_regression" \
    --format markdown -o "$results/compare.md" >/dev/null
  set -e
  # The run's own failure comes first; a clean run that regressed fails the gate.
  if [[ $code -eq 0 && $compared -ne 0 ]]; then
    code=$compared
  fi
fi

if [[ $save_baseline == true ]]; then
  echo >&2
  if [[ $code -ne 0 ]]; then
    echo "The run exited with $code: $saved_baseline/ was not replaced (a baseline is a clean run)" >&2
  else
    if [[ -d $saved_baseline ]]; then
      echo "Replacing the baseline in $saved_baseline/ ($(describe_baseline))" >&2
      rm -rf "$saved_baseline"
    fi
    cp -R "$results" "$saved_baseline"
    printf 'preset=%s\nusers=%s\nduration=%s\nscenario=%s\nhost=%s\nresults=%s\n' \
      "$preset" "$users" "$duration" "$scenario" "$host" "$results" >"$saved_baseline/baseline.txt"
    echo "Saved $results/ as the baseline in $saved_baseline/: runs of $preset with $users users compare with it" >&2
  fi
fi
exit "$code"
