#!/usr/bin/env bash
# bench/scale.sh: how long geosteer takes to load and reload many load balancers, and how
# much memory it holds, on a GeoLite2-City-sized database (issue 17, item 1).
#
#   bench/scale.sh                    1,000 load balancers on a synthetic GeoLite2-City-sized
#                                     database (3.3 M networks, 118,000 cities; generated once
#                                     and cached, ~1-2 min the first time)
#   bench/scale.sh --quick            CI: 50 load balancers on a 20,000-network database
#   bench/scale.sh --geoip FILE       a real GeoLite2/GeoIP2-City file instead
#   bench/scale.sh --records [...]    a million-record zone in geosteer, NSD and Knot instead
#                                     (bench/records.sh, its own options; --quick there too)
#
# What one run does, on 127.0.0.1 only:
#   1. writes the seeded configuration (examples/scale_data.rs: 3/7 geo rules at continent,
#      region, country, subdivision level or a mix, 1/7 each proximity over the application's
#      6-10 pools, failover, random, dynamic; no monitors: nothing is ever probed);
#   2. starts `geosteer serve` under /usr/bin/time -v and measures the time from exec until
#      the first load-balanced name answers (one UDP query every 20 ms): the load time;
#   3. reads VmRSS / VmHWM (peak) from /proc once it answers;
#   4. with dnsperf sending a fixed rate of queries for every load-balanced name, asks for
#      --reloads reloads of the unchanged files (POST /v1/reload, timed by the client), then as many
#      with the database file replaced by a copy (a new inode: the database is walked again
#      and every map rebuilt), then stops dnsperf and reports the queries lost and the worst
#      latency meanwhile;
#   5. stops geosteer (by PID) and reports the peak RSS of the whole run;
#   6. (not with --quick) per-query cost against the number of load balancers
#      (examples/scale_query.rs): the same ECS queries answered in process by a configuration
#      of the first 70 load balancers and by the whole one, per policy, best of 5 rounds.
#
# Where the memory of a load and of reloads goes, phase by phase (heap in use and RSS):
# `cargo run --release --example scale_mem -- ZONES_DIR GEOIP.mmdb` on a --keep'd work directory.
#
# Options:
#   --quick               50 load balancers, a 20,000-network database, 1 reload of each kind,
#                         no per-query step
#   --no-query-cost       skip step 6
#   --lbs N               load balancers (default 1000)
#   --networks N|geolite2 size of the synthetic database (default geolite2)
#   --geoip FILE          use FILE instead of a synthetic database
#   --seed S              seed of the configuration and the synthetic database (default 1)
#   --reloads N           reloads of each kind (default 3)
#   --rate QPS            dnsperf's rate during the reloads (default 2000)
#   --report FILE         also write the Markdown report to FILE
#   --keep                keep the work directory
#
# Environment: GEOSTEER_BIN, SCALE_DATA_BIN, SCALE_QUERY_BIN (prebuilt binaries; otherwise cargo builds
# them), CARGO_TARGET_DIR (honoured), GEOSTEER_BENCH_PORT (DNS port; +1 for HTTP; default
# 15381). Needs python3, dnsperf (the reload step is skipped without it) and /usr/bin/time.
# Timing is reported, never asserted: the run fails only when geosteer does not start, does
# not answer, or a reload is refused.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# wait_answer, shared with records.sh.
. "$HERE/lib/serve.sh"

LBS=1000
NETWORKS=geolite2
GEOIP=""
SEED=1
RELOADS=3
RATE=2000
REPORT=""
KEEP=0
QUICK=0
QUERY_COST=1
for a in "$@"; do
  if [ "$a" = --records ]; then
    args=()
    for b in "$@"; do [ "$b" = --records ] || args+=("$b"); done
    exec bash "$HERE/records.sh" "${args[@]+"${args[@]}"}"
  fi
done
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; LBS=50; NETWORKS=20000; RELOADS=1; QUERY_COST=0 ;;
    --no-query-cost) QUERY_COST=0 ;;
    --lbs) LBS=$2; shift ;;
    --networks) NETWORKS=$2; shift ;;
    --geoip) GEOIP=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --reloads) RELOADS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --report) REPORT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
case $LBS in ''|*[!0-9]*) echo "scale.sh: --lbs wants a number" >&2; exit 2 ;; esac
case $RELOADS in ''|*[!0-9]*) echo "scale.sh: --reloads wants a number" >&2; exit 2 ;; esac
[ "$RELOADS" -le 20 ] || { echo "scale.sh: at most 20 reloads of each kind" >&2; exit 2; }

log() { echo "scale: $*" >&2; }
die() { log "$*"; exit 1; }
for t in python3 /usr/bin/time; do command -v "$t" >/dev/null || die "needs $t"; done

PORT=${GEOSTEER_BENCH_PORT:-15381}
HTTP_PORT=$((PORT + 1))
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
GEOSTEER=${GEOSTEER_BIN:-}
SCALE_DATA=${SCALE_DATA_BIN:-}
SCALE_QUERY=${SCALE_QUERY_BIN:-}
[ "$QUERY_COST" = 1 ] || SCALE_QUERY=${SCALE_QUERY:-none}
if [ -z "$GEOSTEER" ] || [ -z "$SCALE_DATA" ] || [ -z "$SCALE_QUERY" ]; then
  log "building geosteer and examples/scale_data, scale_query (cargo build --release)"
  (cd "$REPO" && cargo build --release --quiet --bin geosteer --example scale_data \
    --example scale_query) || die "cargo build failed"
  GEOSTEER=${GEOSTEER:-$TARGET/release/geosteer}
  SCALE_DATA=${SCALE_DATA:-$TARGET/release/examples/scale_data}
  SCALE_QUERY=${SCALE_QUERY:-$TARGET/release/examples/scale_query}
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/geosteer-scale.XXXXXX")
PID=""
GS=""
PERF_PID=""
cleanup() {
  # geosteer itself first: /usr/bin/time ($PID) does not pass a SIGTERM on to its child.
  for p in $PERF_PID $GS $PID; do kill "$p" 2>/dev/null || true; done
  for p in $PERF_PID $PID; do wait "$p" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Data.
if [ -n "$GEOIP" ]; then
  [ -r "$GEOIP" ] || die "cannot read $GEOIP"
  DB_DESC="$(basename "$GEOIP") (given: $(stat -c %s "$GEOIP") bytes)"
  cp "$GEOIP" "$WORK/geo.mmdb"
else
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/geosteer-bench
  mkdir -p "$CACHE"
  DB="$CACHE/scale-city-$NETWORKS-$SEED.mmdb"
  if [ ! -s "$DB" ]; then
    log "writing a synthetic City database ($NETWORKS networks, seed $SEED) to $DB"
    "$SCALE_DATA" geoip "$DB.tmp" "$NETWORKS" "$SEED" > "$CACHE/scale-city-$NETWORKS-$SEED.json"
    mv "$DB.tmp" "$DB"
  fi
  DB_DESC="synthetic (tests/support/scale.rs), $(sed 's/"file": "[^"]*", //' \
    "$CACHE/scale-city-$NETWORKS-$SEED.json" 2>/dev/null || echo "$DB")"
  cp "$DB" "$WORK/geo.mmdb"
fi
mkdir -p "$WORK/zones"
CFG_DESC=$("$SCALE_DATA" lbs "$WORK/zones" "$LBS" "$SEED")
mv "$WORK/zones/names.txt" "$WORK/names.txt"
FIRST=$(head -1 "$WORK/names.txt" | cut -d' ' -f1)
log "config: $CFG_DESC"

# 2. One load alone (`geosteer check`): wall and CPU time, so that a run on a busy machine
#    still says what the load costs; then start and wait for the first answer.
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/time -f '%e %U %S %M' -o "$WORK/check-time.txt" \
  "$GEOSTEER" check --zones "$WORK/zones" --geoip "$WORK/geo.mmdb" > "$WORK/check.log" 2>&1 \
  || { tail -20 "$WORK/check.log" >&2; die "geosteer check refused the configuration"; }
read -r CHECK_WALL CHECK_USER CHECK_SYS CHECK_KB < "$WORK/check-time.txt"
log "check: ${CHECK_WALL} s wall, ${CHECK_USER} s user + ${CHECK_SYS} s sys, peak RSS $((CHECK_KB / 1024)) MiB"

TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
ms() { echo $(( $(date +%s%N) / 1000000 )); }
START=$(ms)
GEOSTEER_API_TOKEN=$TOKEN /usr/bin/time -v -o "$WORK/time.txt" \
  "$GEOSTEER" serve --zones "$WORK/zones" --geoip "$WORK/geo.mmdb" \
  --listen "127.0.0.1:$PORT" --http "127.0.0.1:$HTTP_PORT" --udp-sockets 1 \
  > "$WORK/geosteer.log" 2>&1 &
PID=$!
# wait_answer (bench/lib/serve.sh): one small process polls every 20 ms (bounded: 60 s).
READY=$(wait_answer "$PORT" "$FIRST" 60 "$PID") || READY=""
[ -n "$READY" ] || { tail -20 "$WORK/geosteer.log" >&2; die "no answer for $FIRST in 60 s"; }
LOAD_MS=$((READY - START))
# /usr/bin/time's only child is geosteer (whatever GEOSTEER_BIN's file is called).
GS=$(pgrep -P "$PID" || true)
[ -n "$GS" ] || die "cannot find geosteer's PID"
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$GS/status"; }
RSS_READY=$(status_kb VmRSS)
HWM_READY=$(status_kb VmHWM)
log "answering after $LOAD_MS ms; RSS $((RSS_READY / 1024)) MiB, peak $((HWM_READY / 1024)) MiB"

# 3. Reloads, under a fixed query rate.
# POST /v1/reload: prints the HTTP status and the milliseconds it took.
reload() {
  python3 - "$HTTP_PORT" "$TOKEN" "$WORK/reload.json" <<'PY'
import sys, time, urllib.request, urllib.error
port, token, out = sys.argv[1:4]
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/reload", method="POST", data=b"",
                             headers={"Authorization": f"Bearer {token}"})
t = time.monotonic()
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
ms = (time.monotonic() - t) * 1000
open(out, "wb").write(body)
print(code, int(ms))
PY
}
SAME=()
NEWDB=()
PERF=""
if command -v dnsperf >/dev/null; then
  # Bounded at 600 s; stopped (SIGINT: it prints its statistics) when the reloads are done.
  dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/names.txt" -Q "$RATE" -l 600 -t 2 -c 1 \
    > "$WORK/dnsperf.txt" 2>&1 &
  PERF_PID=$!
  sleep 1
else
  log "dnsperf not found: reloads are timed without load"
fi
for kind in same newdb; do
  for _ in $(seq "$RELOADS"); do
    if [ $kind = newdb ]; then
      cp "$WORK/geo.mmdb" "$WORK/geo.new" && mv "$WORK/geo.new" "$WORK/geo.mmdb"
    fi
    out=$(reload)
    code=${out%% *}
    [ "$code" = 200 ] || { cat "$WORK/reload.json" >&2; die "reload refused ($code)"; }
    t=${out#* }
    if [ $kind = same ]; then SAME+=("$t"); else NEWDB+=("$t"); fi
    log "reload ($kind): $t ms"
    sleep 0.5
  done
done
HWM_END=$(status_kb VmHWM)
RSS_END=$(status_kb VmRSS)
if [ -n "$PERF_PID" ]; then
  sleep 1
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" || true
  PERF_PID=""
  PERF=$(awk '/Queries sent:/ { s = $3 } /Queries completed:/ { c = $3 } /Queries lost:/ { l = $3 }
    /Average Latency/ { gsub(/[(),]/, ""); for (i = 1; i <= NF; i++) if ($i == "max") m = $(i + 1) }
    END { printf "%s sent, %s answered, %s lost, worst latency %.1f ms", s, c, l, m * 1000 }' \
    "$WORK/dnsperf.txt")
  log "queries during the reloads: $PERF"
fi
kill "$GS" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
PID=""
GS=""
PEAK_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
STATS=$(grep -E "location rules of|GeoIP database .*:" "$WORK/geosteer.log" | head -2 \
  | sed 's/\x1b\[[0-9;]*m//g; s/^.*INFO [^ ]* //' || true)

# 6. Per-query cost.
QUERY_TABLE=""
if [ "$QUERY_COST" = 1 ]; then
  mkdir -p "$WORK/small"
  "$SCALE_DATA" lbs "$WORK/small" 70 "$SEED" > /dev/null
  cp "$WORK/names.txt" "$WORK/zones/names.txt"
  log "per-query cost: 70 and $LBS load balancers, in process (about a minute)"
  QUERY_TABLE=$("$SCALE_QUERY" "$WORK/geo.mmdb" "$WORK/small" "$WORK/zones" 1) \
    || die "scale_query failed"
fi

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }'; }
list() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
{
  echo "### Scale: $LBS load balancers"
  echo
  echo "- **Date**: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); load average $LOADAVG when the run started."
  echo "- **geosteer**: $("$GEOSTEER" --version 2>/dev/null) at $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "- **Database**: $DB_DESC."
  echo "- **Configuration** (seed $SEED): $CFG_DESC."
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| load alone (\`geosteer check\`): wall; CPU user + sys; peak RSS | $CHECK_WALL s; $CHECK_USER + $CHECK_SYS s; $((CHECK_KB / 1024)) MiB |"
  echo "| load: exec of \`serve\` to first answer | $LOAD_MS ms |"
  echo "| RSS when answering (peak so far) | $((RSS_READY / 1024)) MiB ($((HWM_READY / 1024)) MiB) |"
  echo "| reload, same files (median of $RELOADS: each) | $(median "${SAME[@]}") ms ($(list "${SAME[@]}")) |"
  echo "| reload, database replaced (median of $RELOADS: each) | $(median "${NEWDB[@]}") ms ($(list "${NEWDB[@]}")) |"
  echo "| RSS after the reloads | $((RSS_END / 1024)) MiB |"
  echo "| peak RSS of the run (VmHWM; /usr/bin/time) | $((HWM_END / 1024)) MiB; $((PEAK_KB / 1024)) MiB |"
  echo "| queries during the reloads ($RATE/s) | ${PERF:-not measured (no dnsperf)} |"
  echo
  if [ -n "$QUERY_TABLE" ]; then
    echo "Per-query cost (examples/scale_query.rs, in process through Responder::respond):"
    echo
    echo "$QUERY_TABLE"
    echo
  fi
  if [ -n "$STATS" ]; then
    echo "geosteer's own account of the first load:"
    echo
    echo '```'
    echo "$STATS"
    echo '```'
  fi
} > "$WORK/report.md"
cat "$WORK/report.md"
[ -z "$REPORT" ] || cp "$WORK/report.md" "$REPORT"
