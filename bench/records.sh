#!/usr/bin/env bash
# bench/records.sh: a million-record zone loaded by geosteer, NSD and Knot side by side
# (issue 17, item 2). `bench/scale.sh --records` runs it.
#
#   bench/records.sh                  1,000,000 records, seed 1, geosteer + NSD + Knot
#   bench/records.sh --quick          CI: 20,000 records, geosteer only, 1 s query steps
#
# What one run does, on 127.0.0.1 only:
#   1. writes the seeded zone (bench/lib/bench.py zone: hosts with A, AAAA, CNAMEs, MX pairs,
#      TXT, delegations with two NS and glue; documentation addresses only) and two dnsperf
#      inputs: names that exist (with the type a client would ask) and names that do not;
#   2. for each server in turn (alone on the machine, pinned to CPU 0, one UDP worker, as
#      bench/run.sh runs them; dnsperf pinned to CPU 1): the time from exec until the zone
#      answers (a UDP query every 20 ms), the process group's RSS then (peak: the highest
#      VmHWM of its processes; steady: VmRSS and PSS sums after the query steps), and the
#      QPS per server core (bench.py step) for the positive and the NXDOMAIN names;
#   3. geosteer only: --reloads reloads of the zone replaced by a copy (a new inode: parsed
#      and built again while the old one serves), timed, with the group's RSS sampled every
#      20 ms meanwhile (its peak) and VmRSS after.
#
# Options:
#   --quick             20,000 records, geosteer only, 1 s steps, 1 reload
#   --records N         records in the zone (default 1000000)
#   --seed S            seed (default 1)
#   --servers LIST      comma-separated subset of geosteer,nsd,knot (default all three)
#   --duration S        seconds per dnsperf step (default 5)
#   --reloads N         geosteer reloads (default 2)
#   --report FILE       also write the Markdown report to FILE
#   --keep              keep the work directory
#
# Environment: GEOSTEER_BIN (prebuilt; otherwise cargo builds it), CARGO_TARGET_DIR,
# GEOSTEER_BENCH_PORT (base port, default 15391; +0..+3 used). Needs python3 and dnsperf
# (the query steps are skipped without it). Timing is reported, never asserted: the run
# fails only when a server does not answer or geosteer refuses a reload.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH="python3 $HERE/lib/bench.py"
# wait_answer and nsd_conf, shared with run.sh and scale.sh.
. "$HERE/lib/serve.sh"

RECORDS=1000000
SEED=1
SERVERS=geosteer,nsd,knot
DURATION=5
RELOADS=2
REPORT=""
KEEP=0
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; RECORDS=20000; SERVERS=geosteer; DURATION=1; RELOADS=1 ;;
    --records) RECORDS=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --reloads) RELOADS=$2; shift ;;
    --report) REPORT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "records.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$RECORDS" "$SEED" "$DURATION" "$RELOADS"; do
  case $v in ''|*[!0-9]*) echo "records.sh: --records, --seed, --duration and --reloads want numbers" >&2; exit 2 ;; esac
done
[ "$RECORDS" -le 5000000 ] || { echo "records.sh: at most 5,000,000 records" >&2; exit 2; }
[ "$DURATION" -le 60 ] || { echo "records.sh: at most 60 s per step" >&2; exit 2; }
[ "$RELOADS" -le 10 ] || { echo "records.sh: at most 10 reloads" >&2; exit 2; }

log() { echo "records: $*" >&2; }
die() { log "$*"; exit 1; }
want() { case ",$SERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

PORT=${GEOSTEER_BENCH_PORT:-15391}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
GEOSTEER=${GEOSTEER_BIN:-}
if want geosteer && [ -z "$GEOSTEER" ]; then
  log "building geosteer (cargo build --release)"
  (cd "$REPO" && cargo build --release --quiet --bin geosteer) || die "cargo build failed"
  GEOSTEER=$TARGET/release/geosteer
fi
NCPU=$(nproc)
SERVER_CPU=0
CLIENT_CPU=$(( NCPU > 1 ? 1 : 0 ))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/geosteer-records.XXXXXX")
PGID=""
cleanup() {
  if [ -n "$PGID" ]; then kill -TERM -- "-$PGID" 2>/dev/null || true; sleep 0.5; kill -KILL -- "-$PGID" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Data.
ORIGIN=example.org.
mkdir -p "$WORK/data"
log "writing a $RECORDS-record zone (seed $SEED)"
ZONE_DESC=$($BENCH zone "$WORK/data" --origin "$ORIGIN" --records "$RECORDS" --seed "$SEED")
ZONE_FILE="$WORK/data/${ORIGIN}zone"
ZONE_MB=$(( $(stat -c %s "$ZONE_FILE") / 1048576 ))
log "zone: $ZONE_DESC ($ZONE_MB MiB)"

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
group_sum() { # pgid field
  local t=0 p v
  for p in $(ps -o pid= -g "$1"); do v=$(status_kb "$p" "$2"); t=$(( t + ${v:-0} )); done
  echo "$t"
}
group_max() { # pgid field
  local m=0 p v
  for p in $(ps -o pid= -g "$1"); do v=$(status_kb "$p" "$2"); [ "${v:-0}" -gt "$m" ] && m=$v; done
  echo "$m"
}
group_pss() {
  local t=0 p v
  for p in $(ps -o pid= -g "$1"); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    t=$(( t + ${v:-0} ))
  done
  echo "$t"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_answer: bench/lib/serve.sh (shared with scale.sh).

RESULTS="$WORK/results.jsonl"
ROWS=()
RELOAD_ROWS=()
# run_server name port command...: start, time the load, measure memory and QPS, stop.
run_server() {
  local name=$1 port=$2; shift 2
  local start ready
  start=$(ms)
  setsid taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PGID=$!
  ready=$(wait_answer "$port" "ns1.$ORIGIN" 300 "-$PGID") || { tail -20 "$WORK/$name.log" >&2; die "$name: no answer in 300 s"; }
  local load_ms=$(( ready - start ))
  local hwm_ready rss_ready
  hwm_ready=$(group_max "$PGID" VmHWM)
  rss_ready=$(group_sum "$PGID" VmRSS)
  log "$name: answering after $load_ms ms; RSS $(( rss_ready / 1024 )) MiB, peak $(( hwm_ready / 1024 )) MiB"
  local qps_pos="–" qps_nx="–"
  if command -v dnsperf >/dev/null; then
    for w in positive nxdomain; do
      $BENCH step --server "$name" --workload "$w" --pgid "$PGID" --out "$RESULTS" \
        --log "$WORK/dnsperf.log" --timeout $(( DURATION + 30 )) -- \
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/data/$w.txt" \
        -l "$DURATION" -c 4 -q 100 -T 1 -t 2 >&2 || log "$name: $w step failed"
    done
    qps_pos=$($BENCH qps "$RESULTS" "$name" positive)
    qps_nx=$($BENCH qps "$RESULTS" "$name" nxdomain)
  fi
  sleep 1
  local rss_steady pss_steady
  rss_steady=$(group_sum "$PGID" VmRSS)
  pss_steady=$(group_pss "$PGID")
  if [ "$name" = geosteer ]; then geosteer_reloads "$port"; fi
  ROWS+=("| $name | $load_ms ms | $(( hwm_ready / 1024 )) MiB | $(( rss_steady / 1024 )) MiB ($(( pss_steady / 1024 )) MiB) | ${qps_pos:-–} | ${qps_nx:-–} |")
  kill -TERM -- "-$PGID" 2>/dev/null || true
  local i
  for i in $(seq 50); do kill -0 -- "-$PGID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$PGID" 2>/dev/null || true
  PGID=""
}

TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
geosteer_reloads() {
  local port=$1 i t0 t1 peak rss_before rss_after
  rss_before=$(group_sum "$PGID" VmRSS)
  for i in $(seq "$RELOADS"); do
    cp "$ZONE_FILE" "$ZONE_FILE.new" && mv "$ZONE_FILE.new" "$ZONE_FILE"
    $BENCH peak --pgid "$PGID" --seconds 120 > "$WORK/peak.json" &
    local sampler=$!
    t0=$(ms)
    GEOSTEER_API_TOKEN=$TOKEN "$GEOSTEER" reload --http "127.0.0.1:$((port + 1))" \
      > "$WORK/reload.out" 2>&1 || { cat "$WORK/reload.out" >&2; kill "$sampler"; die "geosteer refused a reload"; }
    t1=$(ms)
    sleep 1
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(tail -1 "$WORK/peak.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peak_rss_kb"])' 2>/dev/null || echo 0)
    rss_after=$(group_sum "$PGID" VmRSS)
    log "geosteer reload $i: $(( t1 - t0 )) ms; RSS $(( rss_before / 1024 )) MiB before, peak $(( peak / 1024 )) MiB, $(( rss_after / 1024 )) MiB after"
    RELOAD_ROWS+=("| $i | $(( t1 - t0 )) ms | $(( rss_before / 1024 )) MiB | $(( peak / 1024 )) MiB | $(( rss_after / 1024 )) MiB |")
    rss_before=$rss_after
  done
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
if want geosteer; then
  mkdir -p "$WORK/geosteer/zones"
  ln "$ZONE_FILE" "$WORK/geosteer/zones/${ORIGIN}zone" 2>/dev/null || cp "$ZONE_FILE" "$WORK/geosteer/zones/${ORIGIN}zone"
  # The reloads replace this copy.
  ZONE_FILE="$WORK/geosteer/zones/${ORIGIN}zone"
  GEOSTEER_API_TOKEN=$TOKEN run_server geosteer "$PORT" "$GEOSTEER" serve \
    --zones "$WORK/geosteer/zones" --geoip "$WORK/none.mmdb" --listen "127.0.0.1:$PORT" \
    --http "127.0.0.1:$((PORT + 1))" --udp-sockets 1
  ZONE_FILE="$WORK/data/${ORIGIN}zone"
fi
if want nsd; then
  if ! command -v nsd >/dev/null; then log "nsd is not installed: skipped"; else
    d="$WORK/nsd"; mkdir -p "$d"
    nsd_conf "$d" "$((PORT + 2))" "$WORK/data" "$ORIGIN" "${ORIGIN}zone"
    run_server nsd "$((PORT + 2))" nsd -d -c "$d/nsd.conf"
  fi
fi
if want knot; then
  if ! command -v knotd >/dev/null; then log "knotd is not installed: skipped"; else
    d="$WORK/knot"; mkdir -p "$d/run" "$d/db"
    cat >"$d/knot.conf" <<EOF
server:
    rundir: $d/run
    listen: 127.0.0.1@$((PORT + 3))
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: $d/db
template:
  - id: default
    storage: $WORK/data
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $ORIGIN
    file: ${ORIGIN}zone
EOF
    run_server knot "$((PORT + 3))" knotd -c "$d/knot.conf"
  fi
fi

{
  echo "### Scale: a $RECORDS-record zone"
  echo
  echo "- **Date**: $(date -u '+%Y-%m-%d %H:%M UTC'); $NCPU CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); load average $LOADAVG when the run started."
  want geosteer && echo "- **geosteer**: $("$GEOSTEER" --version 2>/dev/null) at $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "- **Zone** (seed $SEED, $ZONE_MB MiB): $ZONE_DESC"
  echo
  echo "| server | exec to first answer | peak RSS at load (VmHWM) | RSS after the query steps (PSS) | positive QPS per core | NXDOMAIN QPS per core |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  if [ ${#RELOAD_ROWS[@]} -gt 0 ]; then
    echo
    echo "geosteer reloads (the zone file replaced by a copy, parsed and built again while the old one serves):"
    echo
    echo "| reload | time | RSS before | peak RSS during (sampled every 20 ms) | RSS after |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${RELOAD_ROWS[@]}"
  fi
} > "$WORK/report.md"
cat "$WORK/report.md"
[ -z "$REPORT" ] || cp "$WORK/report.md" "$REPORT"
