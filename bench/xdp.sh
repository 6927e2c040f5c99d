#!/usr/bin/env bash
# bench/xdp.sh (also `bench/run.sh --xdp`): geosteer's AF_XDP path against Knot DNS's XDP
# mode, and both against the socket servers (geosteer, Knot, gdnsd), in the same run.
#
# Two network namespaces made for the run (server and client), joined by three veth pairs
# with one rx and one tx queue each, addresses from 198.18.0.0/15, static neighbour
# entries (no ARP during the load):
#   vS0/vC0 198.18.0.1  the socket servers, each on its own port
#   vS1/vC1 198.18.1.1  geosteer --xdp vS1 (port 53)
#   vS2/vC2 198.18.2.1  Knot, xdp: listen: vS2@53
# Every server runs in the server namespace pinned to CPU 0, dnsperf in the client
# namespace on CPU 1, and the receive work lands on the receiving side's CPU: RPS on every
# veth (server side CPU 0, client side CPU 1), and for the XDP pairs threaded NAPI with the
# NAPI kthread pinned to CPU 0 (veth runs XDP in NAPI, which RPS does not move; without
# this the server's XDP and copy work would be charged to the client's CPU).
#
# The load is round-robin as in run.sh: for each round, for each step, each server in turn,
# with the order rotated every round. Steps:
#   udp-static     static.example.com A, saturating (dnsperf -c 4 -q 100)
#   udp-geo-ecs    harperdb.example.com A with ECS from 20,000 /24s, saturating
#   rate-geo-ecs   the same at a fixed rate (--rate, default 100000 qps)
# Server CPU is measured on the whole of CPU 0 by a SCHED_IDLE spin loop (bench.py spin):
# busy = 1 − its rate during the step ÷ its rate on the idle CPU (measured at the start of
# every round), which counts the server's threads, softirq work and the NAPI kthread alike;
# /proc/stat on this VM cannot (250 Hz ticks, no IRQ time). QPS per server core = QPS ÷ busy.
# Each server's own process CPU and the kernel's UDP datagrams per answer (1 on sockets, 0
# when XDP took the queries) are reported beside it.
#
#   bench/run.sh --xdp                 3 rounds x 5 servers x 3 steps x 5 s (~5 minutes)
#   bench/run.sh --xdp --quick         geosteer-xdp and geosteer, 1 round of 2 s steps
#
# Options:
#   --servers LIST          subset of geosteer-xdp,knot-xdp,geosteer,knot,gdnsd
#   --rounds N              rounds (default 3; 1 with --quick)
#   --duration SECONDS      each saturating step (default 5; 2 with --quick)
#   --rate QPS              the fixed-rate step's offered rate (default 100000)
#   --max-load L            wait for the 1-minute load average to fall below L before
#                           measuring (default 0.6) ...
#   --wait-idle SECONDS     ... for at most this long (default 600; 0 with --quick); the
#                           report gives the load average before and after
#   --geoip FILE            a .mmdb (default: the repository's sample database)
#   --no-install            never run apt-get
#   --report FILE           also write the Markdown report to FILE
#   --keep                  keep the work directory
# Environment: GEOSTEER_BIN (a prebuilt geosteer; otherwise cargo build --release).
#
# Needs root (namespaces, XDP), iproute2, and from Debian: dnsperf, knot +
# knot-module-geoip, gdnsd (installed when missing, daemons kept from starting as in
# run.sh). Everything it creates is removed on exit, also on Ctrl-C: the servers (by
# process group), the namespaces and with them the veth pairs. Traffic stays between the
# two namespaces. The load is bounded: rounds x servers x steps x duration <= 3600 s.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY="python3 $HERE/lib/bench.py"

QUICK=0
SERVERS=""
ROUNDS=""
DURATION=""
RATE=100000
MAX_LOAD=0.6
WAIT_IDLE=""
GEOIP="${GEOSTEER_BENCH_GEOIP:-}"
INSTALL=1
REPORT=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --servers) SERVERS=$2; shift ;;
    --servers=*) SERVERS=${1#*=} ;;
    --rounds) ROUNDS=$2; shift ;;
    --rounds=*) ROUNDS=${1#*=} ;;
    --duration) DURATION=$2; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --rate) RATE=$2; shift ;;
    --rate=*) RATE=${1#*=} ;;
    --max-load) MAX_LOAD=$2; shift ;;
    --max-load=*) MAX_LOAD=${1#*=} ;;
    --wait-idle) WAIT_IDLE=$2; shift ;;
    --wait-idle=*) WAIT_IDLE=${1#*=} ;;
    --geoip) GEOIP=$2; shift ;;
    --geoip=*) GEOIP=${1#*=} ;;
    --no-install) INSTALL=0 ;;
    --report) REPORT=$2; shift ;;
    --report=*) REPORT=${1#*=} ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "xdp.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  SERVERS=${SERVERS:-geosteer-xdp,geosteer}
  ROUNDS=${ROUNDS:-1}
  DURATION=${DURATION:-2}
  WAIT_IDLE=${WAIT_IDLE:-0}
fi
SERVERS=${SERVERS:-geosteer-xdp,knot-xdp,geosteer,knot,gdnsd}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WAIT_IDLE=${WAIT_IDLE:-600}
for v in ROUNDS DURATION RATE WAIT_IDLE; do
  case ${!v} in ''|*[!0-9]*) echo "xdp.sh: ${v,,} must be a whole number, not '${!v}'" >&2; exit 2 ;; esac
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 2 ] && [ "$RATE" -ge 1 ] \
  || { echo "xdp.sh: --rounds >= 1, --duration >= 2, --rate >= 1" >&2; exit 2; }

log() { printf '%s\n' "$*" >&2; }
die() { log "xdp.sh: $*"; exit 1; }
want() { case ",$SERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for s in ${SERVERS//,/ }; do
  case $s in geosteer-xdp|knot-xdp|geosteer|knot|gdnsd) ;; *) die "unknown server '$s'" ;; esac
done
STEPS="udp-static udp-geo-ecs rate-geo-ecs"
NSERVERS=$(echo "${SERVERS//,/ }" | wc -w)
MAX_SECONDS=$(( ROUNDS * NSERVERS * 3 * DURATION ))
[ "$MAX_SECONDS" -le 3600 ] || die "$MAX_SECONDS s of load: more than the 3600 s allowed"
skip_quick() { # in --quick (CI) a machine that cannot run this mode is not a failure
  if [ "$QUICK" = 1 ]; then log "xdp.sh: skipped: $*"; exit 0; fi
  die "$*"
}
[ "$(id -u)" -eq 0 ] || skip_quick "needs root (network namespaces, XDP)"
command -v ip >/dev/null || skip_quick "needs ip (iproute2)"
ip netns add "gsxdp-bench-$$-probe" 2>/dev/null && ip netns del "gsxdp-bench-$$-probe" \
  || skip_quick "cannot create network namespaces here"
[ "$(nproc)" -ge 2 ] || die "needs two CPUs (server on CPU 0, dnsperf on CPU 1)"
SERVER_CPU=0
CLIENT_CPU=1

# ------------------------------------------------------------------ cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/geosteer-xdp-bench.XXXXXX")
NS_S="gsxdp-bench-$$-s"
NS_C="gsxdp-bench-$$-c"
PIDS=()
STEP_PID=""
POLICY_RC_CREATED=0
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  set +e
  if [ -n "$STEP_PID" ]; then
    kill -TERM "$STEP_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$STEP_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_C" 2>/dev/null
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ packages
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
PEER_PROCS="gdnsd|knotd"
install_packages() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$INSTALL" = 0 ]; then log "not installed (and --no-install): ${missing[*]}"; return 0; fi
  log "installing ${missing[*]} from Debian's packages"
  # As in run.sh: package daemons must not start (policy-rc.d answers 101), and any that
  # did is stopped by its PID.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && POLICY_RC_CREATED=1
  fi
  local before pid
  before=$(pgrep -x -d ' ' "$PEER_PROCS" || true)
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || log "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"$WORK/apt.log" 2>&1 || log "apt-get install failed (see $WORK/apt.log with --keep)"
  for pid in $(pgrep -x "$PEER_PROCS" || true); do
    case " $before " in *" $pid "*) ;; *) log "stopping $(cat /proc/"$pid"/comm 2>/dev/null) (pid $pid) started by its package"; kill "$pid" || true ;; esac
  done
}
pk=(dnsperf)
{ want knot || want knot-xdp; } && pk+=(knot knot-module-geoip)
want gdnsd && pk+=(gdnsd)
install_packages "${pk[@]}"
command -v dnsperf >/dev/null || die "dnsperf is needed (package dnsperf)"

GEOSTEER=${GEOSTEER_BIN:-}
if { want geosteer || want geosteer-xdp; } && [ -z "$GEOSTEER" ]; then
  log "building geosteer (cargo build --release)"
  (cd "$REPO" && cargo build --release --quiet --bin geosteer) || die "cargo build failed"
  GEOSTEER="${CARGO_TARGET_DIR:-$REPO/target}/release/geosteer"
fi
GEOIP=${GEOIP:-$REPO/geoip/sample-city.mmdb}
[ -f "$GEOIP" ] || die "GeoIP database $GEOIP not found"
GEOIP=$(readlink -f "$GEOIP")

# ------------------------------------------------------------------ workload
Q="$WORK/queries"
$PY queries "$Q" >/dev/null
CLIENTS=$($PY clients "$GEOIP" "$Q")
client_of() { echo "$CLIENTS" | python3 -c "import json,sys; [print(r['subnet'] or '') for r in map(json.loads, sys.stdin) if r['region']=='$1']"; }
NA_NET=$(client_of NA); EU_NET=$(client_of EU); AP_NET=$(client_of AP)
US=198.51.100.10; EU=198.51.100.20; AP=198.51.100.30; STATIC=192.0.2.10
write_zone() { # file [extra line] -- the zone of run.sh
  cat >"$1" <<EOF
\$ORIGIN example.com.
\$TTL 3600
@  300   IN SOA  ns1.example.com. hostmaster.example.com. 2026112601 7200 3600 1209600 300
         IN NS   ns1
ns1      IN A    192.0.2.53
static   IN A    $STATIC
EOF
  if [ $# -gt 1 ]; then printf '%s\n' "$2" >>"$1"; fi
}

# ------------------------------------------------------------------ topology
nsx() { ip netns exec "$@"; }
ip netns add "$NS_S"
ip netns add "$NS_C"
for i in 0 1 2; do
  ip link add "vS$i" netns "$NS_S" numtxqueues 1 numrxqueues 1 type veth \
    peer name "vC$i" netns "$NS_C" numtxqueues 1 numrxqueues 1
  ip -n "$NS_S" addr add "198.18.$i.1/24" dev "vS$i"
  ip -n "$NS_C" addr add "198.18.$i.2/24" dev "vC$i"
  ip -n "$NS_S" link set "vS$i" up
  ip -n "$NS_C" link set "vC$i" up
  mac_s=$(ip -n "$NS_S" -br link show "vS$i" | awk '{print $3}')
  mac_c=$(ip -n "$NS_C" -br link show "vC$i" | awk '{print $3}')
  ip -n "$NS_S" neigh replace "198.18.$i.2" lladdr "$mac_c" dev "vS$i" nud permanent
  ip -n "$NS_C" neigh replace "198.18.$i.1" lladdr "$mac_s" dev "vC$i" nud permanent
  nsx "$NS_S" sh -c "echo $(( 1 << SERVER_CPU )) > /sys/class/net/vS$i/queues/rx-0/rps_cpus"
  nsx "$NS_C" sh -c "echo $(( 1 << CLIENT_CPU )) > /sys/class/net/vC$i/queues/rx-0/rps_cpus"
done
ip -n "$NS_S" link set lo up
ip -n "$NS_C" link set lo up

# threaded NAPI on vS$1, its kthread pinned to the server CPU (needs XDP attached first).
# (The kthread is the one that appears when threading is switched on.)
NAPI_PIDS=""
napi_to_server_cpu() {
  local before pid
  before=" $(pgrep -d ' ' '^napi/' || true) "
  nsx "$NS_S" sh -c "echo 1 > /sys/class/net/vS$1/threaded" || return 1
  sleep 0.2
  for pid in $(pgrep "^napi/vS$1-" || true); do
    case $before in *" $pid "*) continue ;; esac
    taskset -pc "$SERVER_CPU" "$pid" >/dev/null && log "napi thread $(cat /proc/"$pid"/comm) (pid $pid) on CPU $SERVER_CPU"
    NAPI_PIDS="${NAPI_PIDS:+$NAPI_PIDS,}$pid"
  done
}

# ------------------------------------------------------------------ servers
declare -A PID_OF ADDR_OF PORT_OF SKIP_OF NOTE_OF
ACTIVE=()
RESULTS="$WORK/results.jsonl"; CHECKS="$WORK/checks.md"
: >"$RESULTS"; : >"$CHECKS"
FAILED_GEOSTEER=0
start_server() { # name addr port cmd... (in the server namespace, CPU 0, own process group)
  local name=$1 addr=$2 port=$3; shift 3
  setsid ip netns exec "$NS_S" taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PID_OF[$name]=$!
  PIDS+=("$!")
  ADDR_OF[$name]=$addr
  PORT_OF[$name]=$port
}
dnsq() { # addr port name [subnet] -> "STATUS ANSWERS"
  local out
  out=$(nsx "$NS_C" dig +norec +time=2 +tries=1 -p "$2" @"$1" "$3" A ${4:++subnet=$4} 2>&1) || true
  echo "$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1) $(printf '%s\n' "$out" | awk '/^;; ANSWER SECTION:/{a=1;next} /^$/{a=0} a && $4=="A"{print $5}' | paste -sd, -)"
}
check_server() { # name: wait for an answer, then check static, NXDOMAIN and the geo answers
  local name=$1 a=${ADDR_OF[$1]} p=${PORT_OF[$1]} r ok=0 region net want
  for _ in $(seq 100); do
    kill -0 "${PID_OF[$name]}" 2>/dev/null || break
    r=$(dnsq "$a" "$p" static.example.com)
    [ "$r" = "NOERROR $STATIC" ] && { ok=1; break; }
    sleep 0.2
  done
  [ "$ok" = 1 ] || { NOTE_OF[$name]="did not answer: $(tail -1 "$WORK/$name.log" | cut -c1-200)"; return 1; }
  echo "- $name ($a port $p) static.example.com A: $r" >>"$CHECKS"
  r=$(dnsq "$a" "$p" nxcheck-4711.example.com)
  echo "- $name nxcheck-4711.example.com A: $r" >>"$CHECKS"
  [ "${r%% *}" = NXDOMAIN ] || { NOTE_OF[$name]="random name answered '$r'"; return 1; }
  for region in NA EU AP; do
    case $region in NA) net=$NA_NET; want=$US ;; EU) net=$EU_NET; want=$EU ;; AP) net=$AP_NET; want=$AP ;; esac
    [ -n "$net" ] || continue
    r=$(dnsq "$a" "$p" harperdb.example.com "$net")
    echo "- $name harperdb.example.com A, ECS $net ($region): $r (want $want)" >>"$CHECKS"
    [ "$r" = "NOERROR $want" ] || { NOTE_OF[$name]="ECS $net answered '$r', want $want"; return 1; }
  done
}
add_server() { # name addr port cmd...
  local name=$1
  log "== $name: start and check"
  start_server "$@"
  if check_server "$name"; then
    ACTIVE+=("$name")
  else
    log "$name: skipped: ${NOTE_OF[$name]}"
    $PY skip --server "$name" --workload all --out "$RESULTS" "${NOTE_OF[$name]}"
    case $name in geosteer*) FAILED_GEOSTEER=1 ;; esac
    kill -TERM -- "-${PID_OF[$name]}" 2>/dev/null || true
  fi
}

geosteer_zones() {
  local zd="$WORK/geosteer-zones"
  if [ ! -d "$zd" ]; then
    mkdir -p "$zd"
    write_zone "$zd/example.com.zone"
    cat >"$zd/example.com.toml" <<EOF
[pools.us]
origins = [ { address = "$US" } ]
[pools.eu]
origins = [ { address = "$EU" } ]
[pools.ap]
origins = [ { address = "$AP" } ]
[load_balancers.harperdb]
steering = "geo"
ttl = 30
default_pools = ["us"]
fallback_pool = "us"
continent_pools = { NA = ["us"], EU = ["eu"], AS = ["ap"], OC = ["ap"] }
EOF
  fi
  echo "$zd"
}
knot_conf() { # dir listen-line xdp(0|1)
  local d=$1
  mkdir -p "$d/run" "$d/db"
  write_zone "$d/example.com.zone" "harperdb 30 IN A $US"
  cat >"$d/geo.conf" <<EOF
harperdb.example.com:
  - geo: "NA"
    A: $US
  - geo: "EU"
    A: $EU
  - geo: "AS"
    A: $AP
  - geo: "OC"
    A: $AP
EOF
  {
    cat <<EOF
server:
    rundir: $d/run
    listen: $2
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on
EOF
    if [ "$3" = 1 ]; then
      cat <<EOF
xdp:
    listen: vS2@53
    udp: on
EOF
    fi
    cat <<EOF
log:
  - target: stderr
    any: info
database:
    storage: $d/db
mod-geoip:
  - id: bench
    config-file: $d/geo.conf
    ttl: 30
    mode: geodb
    geodb-file: $GEOIP
    geodb-key: continent/code
template:
  - id: default
    storage: $d
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: example.com
    file: example.com.zone
    module: mod-geoip/bench
EOF
  } >"$d/knot.conf"
}

T0=$(date +%s)
START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if want geosteer-xdp; then
  add_server geosteer-xdp 198.18.1.1 53 "$GEOSTEER" serve --zones "$(geosteer_zones)" \
    --geoip "$GEOIP" --listen 198.18.1.1:53 --udp-sockets 1 --xdp vS1
  case " ${ACTIVE[*]} " in *" geosteer-xdp "*) napi_to_server_cpu 1 || log "no threaded NAPI on vS1" ;; esac
fi
if want knot-xdp; then
  knot_conf "$WORK/knot-xdp" "198.18.2.1@53" 1
  add_server knot-xdp 198.18.2.1 53 knotd -c "$WORK/knot-xdp/knot.conf"
  case " ${ACTIVE[*]} " in *" knot-xdp "*) napi_to_server_cpu 2 || log "no threaded NAPI on vS2" ;; esac
fi
if want geosteer; then
  add_server geosteer 198.18.0.1 5301 "$GEOSTEER" serve --zones "$(geosteer_zones)" \
    --geoip "$GEOIP" --listen 198.18.0.1:5301 --udp-sockets 1
fi
if want knot; then
  knot_conf "$WORK/knot" "198.18.0.1@5302" 0
  add_server knot 198.18.0.1 5302 knotd -c "$WORK/knot/knot.conf"
fi
if want gdnsd; then
  d="$WORK/gdnsd"; mkdir -p "$d/zones" "$d/run" "$d/state"
  write_zone "$d/zones/example.com" "harperdb 30 DYNA geoip!harperdb"
  cat >"$d/config" <<EOF
options => {
  listen => [ 198.18.0.1:5303 ]
  udp_threads => 1
  tcp_threads => 1
  edns_client_subnet => true
  run_dir => $d/run
  state_dir => $d/state
}
plugins => {
  geoip => {
    maps => {
      bench => {
        geoip2_db => $GEOIP
        datacenters => [ us, eu, ap ]
        map => { NA => [ us ], EU => [ eu ], AS => [ ap ], OC => [ ap ], default => [ us ] }
      }
    }
    resources => {
      harperdb => { map => bench, service_types => up, dcmap => { us => $US, eu => $EU, ap => $AP } }
    }
  }
}
EOF
  add_server gdnsd 198.18.0.1 5303 gdnsd -c "$d" start
fi
# What the XDP servers said about their mode.
for n in geosteer-xdp knot-xdp; do
  [ -f "$WORK/$n.log" ] && grep -iE "xdp|XDP" "$WORK/$n.log" | grep -viE "error" | head -3 | sed "s/^/    $n: /" >&2 || true
done

# ------------------------------------------------------------------ load
load1() { cut -d' ' -f1 /proc/loadavg; }
if [ "$WAIT_IDLE" -gt 0 ]; then
  waited=0
  while awk "BEGIN{exit !($(load1) >= $MAX_LOAD)}" && [ "$waited" -lt "$WAIT_IDLE" ]; do
    [ $(( waited % 60 )) = 0 ] && log "load average $(load1): waiting (up to ${WAIT_IDLE}s) for < $MAX_LOAD"
    sleep 5; waited=$((waited + 5))
  done
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
IDLE_RATES=()
step() { # name step round idle-rate
  local name=$1 w=$2 round=$3 idle=$4 args=()
  case $w in
    udp-static) args=(-d "$Q/static.txt") ;;
    udp-geo-ecs) args=(-B -d "$Q/geo-ecs.bin") ;;
    rate-geo-ecs) args=(-B -d "$Q/geo-ecs.bin" -Q "$RATE") ;;
  esac
  $PY step --server "$name" --workload "$w" --round "$round" --pgid "${PID_OF[$name]}" \
    --out "$RESULTS" --log "$WORK/dnsperf.log" --timeout $(( DURATION + 30 )) \
    --spin-cpu "$SERVER_CPU" --spin-idle "$idle" --spin-delay 0.5 \
    --spin-seconds "$(awk "BEGIN{print $DURATION - 1}")" --udp-ns "$NS_S" \
    --kthreads "$NAPI_PIDS" -- \
    ip netns exec "$NS_C" taskset -c "$CLIENT_CPU" \
    dnsperf -s "${ADDR_OF[$name]}" -p "${PORT_OF[$name]}" "${args[@]}" -l "$DURATION" \
    -c 4 -q 100 -T 1 -t 2 -O suppress=timeouts,congestion,sendfailed,sockready,unexpected >&2 &
  STEP_PID=$!
  local rc=0
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}
n=${#ACTIVE[@]}
T1=$(date +%s)
if [ "$n" -gt 0 ]; then
  for r in $(seq "$ROUNDS"); do
    idle=$($PY spin --cpu "$SERVER_CPU" --seconds 2 | python3 -c "import json,sys; print(json.load(sys.stdin)['rate'])")
    IDLE_RATES+=("$idle")
    log "== round $r of $ROUNDS (idle spin rate on CPU $SERVER_CPU: $(printf '%.0f' "$idle")/s, load $(load1))"
    for w in $STEPS; do
      for k in $(seq 0 $(( n - 1 ))); do
        name=${ACTIVE[$(( (k + r - 1) % n ))]}
        [ -z "${SKIP_OF[$name]:-}" ] || continue
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
          log "$name: exited during the load; log tail:"; tail -5 "$WORK/$name.log" >&2 || true
          $PY skip --server "$name" --workload all --out "$RESULTS" "exited during round $r"
          SKIP_OF[$name]=1
          case $name in geosteer*) FAILED_GEOSTEER=1 ;; esac
          continue
        fi
        step "$name" "$w" "$r" "$idle" || { case $name in geosteer*) FAILED_GEOSTEER=1 ;; esac; }
      done
    done
  done
fi
LOAD_SECONDS=$(( $(date +%s) - T1 ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
# The XDP servers' own view (geosteer logs its per-queue counters when it stops).
if [ -n "${PID_OF[geosteer-xdp]:-}" ]; then
  kill -TERM -- "-${PID_OF[geosteer-xdp]}" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 -- "-${PID_OF[geosteer-xdp]}" 2>/dev/null || break; sleep 0.1; done
fi

# ------------------------------------------------------------------ report
{
  echo "## geosteer XDP benchmark (bench/run.sh --xdp)"
  echo
  echo "- date: $START_TS; the run took $(( $(date +%s) - T0 )) s, of which $LOAD_SECONDS s of load"
  echo "- method: two network namespaces joined by veth pairs (one rx/tx queue each, static neighbours); every server in the server namespace on CPU $SERVER_CPU, dnsperf in the client namespace on CPU $CLIENT_CPU; receive work on the receiving side's CPU (RPS; threaded NAPI pinned to CPU $SERVER_CPU on the XDP pairs); $ROUNDS round(s) of the steps $STEPS, each server in turn (order rotated each round), ${DURATION} s per dnsperf run (-c 4 -q 100 -T 1 -t 2), the fixed-rate step at $RATE qps"
  echo "- server core busy: a SCHED_IDLE spin loop on CPU $SERVER_CPU during each run (from 0.5 s in, $(( DURATION - 1 )) s long), busy = 1 − its rate ÷ its rate on the idle CPU, measured at the start of each round: $(for x in "${IDLE_RATES[@]}"; do printf '%.1fM/s ' "$(awk "BEGIN{print $x/1e6}")"; done)"
  echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) CPUs); kernel $(uname -r); load average before the load: $LOAD_BEFORE, after: $LOAD_AFTER"
  echo "- geosteer: $( [ -n "$GEOSTEER" ] && { (cd "$REPO" && git describe --always --dirty 2>/dev/null) || echo "?"; } || echo "not run"); knot $(pkg_version knot), gdnsd $(pkg_version gdnsd), dnsperf $(pkg_version dnsperf)"
  echo "- GeoIP database: $GEOIP"
  echo
  echo "### QPS per server core (spin measure): median of the rounds (min–max)"
  echo
  $PY pivot --metric qps_per_core_spin --order "$SERVERS" "$RESULTS"
  echo
  if want geosteer-xdp && [ "$n" -gt 1 ]; then
    echo "### geosteer-xdp ÷ each peer, round by round (QPS per server core, spin measure)"
    echo
    $PY ratios --metric qps_per_core_spin --base geosteer-xdp --order "$SERVERS" "$RESULTS"
    echo
  fi
  echo "### Cross-check: QPS per core from the server's threads and its NAPI kthread (schedstat)"
  echo
  $PY pivot --metric qps_per_core_sched --order "$SERVERS" "$RESULTS"
  echo
  if want geosteer-xdp && [ "$n" -gt 1 ]; then
    $PY ratios --metric qps_per_core_sched --base geosteer-xdp --order "$SERVERS" "$RESULTS"
    echo
  fi
  echo "The scheduler's exact on-CPU time (/proc/PID/task/TID/schedstat) of the server's threads and, for the XDP servers, of the NAPI kthread that runs the XDP program and copies into the AF_XDP ring. Other load on the machine does not disturb it, but it leaves out interrupt and softirq work that ran while another task was current, which for the socket servers includes much of their receive path (RPS): their figures here are upper bounds, and geosteer-xdp ÷ them lower bounds."
  echo
  echo "### All columns (median of the rounds)"
  echo
  $PY xdp-table --order "$SERVERS" "$RESULTS"
  echo
  echo "Server process CPU % is the server's own threads (utime + stime of its process group): it leaves out the softirq and NAPI work done for it, which the spin measure counts. Kernel UDP datagrams per answer: Udp/Udp6 InDatagrams of the server namespace during the run ÷ answers (1.00: every query went through the kernel's UDP stack; 0.00: the XDP program took them all)."
  echo
  if [ -f "$WORK/geosteer-xdp.log" ]; then
    echo "geosteer-xdp's own counters: $(grep -o 'vS1 queue 0: .*' "$WORK/geosteer-xdp.log" | tail -1)"
    echo
  fi
  echo "### Answer checks (dig from the client namespace) before loading"
  echo
  cat "$CHECKS"
} >"$WORK/report.md"
cat "$WORK/report.md"
if [ -n "$REPORT" ]; then cp "$WORK/report.md" "$REPORT"; fi
if [ "$FAILED_GEOSTEER" = 1 ]; then
  log "geosteer failed a check or a load step (see above)"
  exit 1
fi
exit 0
