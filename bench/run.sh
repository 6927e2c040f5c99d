#!/usr/bin/env bash
# bench/run.sh: comparative load benchmark of geosteer against gdnsd, Knot DNS (mod-geoip),
# NSD and PowerDNS (LUA records; GeoIP backend), all from Debian's packages, on loopback;
# and, with a DNSSEC-signed zone, geosteer against Knot DNS (mod-geoip + mod-onlinesign).
#
# Every server is started at once (each on its own loopback port, all pinned to CPU 0) and
# checked; then the load runs round-robin: for each round, for each step, each server in
# turn gets one dnsperf run (server order rotated every round). So the servers are compared
# within the same minutes, and the report gives the median of the rounds and their spread.
#
#   bench/run.sh                 full run: installs the peers, 3 rounds x 6 servers x
#                                (5 steps x 5 s + a 2 s latency step), plus udp-floor's UDP
#                                steps, plus 3 signed steps x 5 s for the three signed
#                                servers, plus geosteer-rrl and the RRL flood step (about 13
#                                minutes of load, under 15 in all)
#   bench/run.sh --quick         geosteer alone, unsigned, signed and with RRL (geosteer-rrl),
#                                1 round of 2 s steps, and the RRL flood step; no peer
#                                installs (for CI)
#   bench/run.sh --scale         load/reload time and RSS with 1,000 load balancers on a
#                                GeoLite2-City-sized database (bench/scale.sh; --help there)
#   bench/run.sh --xdp           the AF_XDP comparison in network namespaces (bench/xdp.sh:
#                                geosteer --xdp, Knot XDP, and the socket servers; root)
#   bench/run.sh --memory        geosteer with the bench config and with the repository's
#                                example config (zones/, monitors removed): RSS after the
#                                checks and after a round of load (~1 minute, plus up to
#                                60 s waiting for a quiet machine)
#
# Options:
#   --quick                 geosteer and geosteer-rrl, short steps, nothing installed but dnsperf
#   --memory                servers geosteer,geosteer-example, 1 round; the report leads
#                           with RSS (combine with --synthetic-geoip or --geoip)
#   --servers LIST          comma-separated subset of: geosteer,gdnsd,knot,nsd,pdns-lua,
#                           pdns-geoip,udp-floor,geosteer-example,geosteer-rrl,geosteer-signed,
#                           knot-signed,pdns-geoip-signed
#                           (geosteer-rrl: geosteer with response rate limiting on and a
#                           rate no client of the run exceeds: what RRL costs; with it, the
#                           RRL flood step runs after the rounds: one /24 floods while another
#                           client queries at a low rate)
#                           (udp-floor: geosteer's UDP loop answering with an echo of the
#                           query, no DNS work: the ceiling for one datagram per answer;
#                           the *-signed servers: the same zone DNSSEC-signed, see
#                           "Signed zone" below)
#   --rounds N              rounds of the round-robin (default 3; 1 with --quick, --memory)
#   --duration SECONDS      length of each dnsperf run (default 5; 2 with --quick)
#   --latency-rate QPS      offered rate of the fixed-rate latency step (default 20000)
#   --latency-duration S    length of each latency run (default 2; 1 with --quick)
#   --geoip FILE            a GeoIP2/GeoLite2-City or DB-IP City .mmdb to use
#                           (same as GEOSTEER_BENCH_GEOIP=FILE)
#   --synthetic-geoip[=N]   generate a synthetic City database of about N IPv4 networks
#                           (default 400000) over all continents, cached under ~/.cache
#   --no-install            never run apt-get; servers that are missing are skipped
#   --wait-idle SECONDS     wait up to this long for the load average to drop below 0.5
#                           before measuring (default 60; 0 with --quick)
#   --idle-seconds SECONDS  how long the started servers' idle CPU is measured (default 5;
#                           1 with --quick)
#   --report FILE           also write the Markdown report to FILE
#   --keep                  keep the work directory (configs, logs, dnsperf output)
#
# Environment: GEOSTEER_BENCH_GEOIP (a .mmdb), GEOSTEER_BIN (a prebuilt geosteer; otherwise
# `cargo build --release` in this repository), CARGO_TARGET_DIR (honoured),
# UDP_FLOOR_BIN (a prebuilt examples/udp_floor; otherwise built like geosteer),
# GEOSTEER_BENCH_PORT (first of fifteen loopback ports, default 15301).
#
# The load is bounded: rounds x steps x servers x duration may not exceed 3600 s.
#
# Fairness, in short (bench/README.md has the reasons):
#   * every server serves the same zone (static.example.com A, SOA/NS, NXDOMAIN for anything
#     else) and steers harperdb.example.com A by continent: NA -> us 198.51.100.10,
#     EU -> eu 198.51.100.20, AS/OC -> ap 198.51.100.30, anything else -> us; no health
#     checks anywhere (the addresses are record data, never contacted);
#   * one UDP thread/socket each: geosteer --udp-sockets 1, gdnsd udp_threads 1,
#     Knot udp-workers 1, NSD server-count 1, PowerDNS receiver-threads 1 and
#     distributor-threads 1; every server is pinned to CPU 0 and dnsperf to CPU 1; the
#     servers not being measured are idle (their CPU is measured before the load, and any
#     CPU they take during a run shows in that run's "other CPU %");
#   * ECS on everywhere (gdnsd default, Knot edns-client-subnet: on, PowerDNS
#     edns-subnet-processing=yes); NSD's response rate limiting off (rrl-ratelimit: 0,
#     rrl-whitelist-ratelimit: 0: Debian's default of 200 qps would cap the run);
#     no query logging anywhere; NSD minimal-responses: yes (the others send no authority
#     NS with positive answers either); PowerDNS keeps its default packet cache;
#   * PowerDNS: Debian 12 ships 4.7, whose enable-lua-records has no "shared" mode (added
#     in later releases), so LUA records run as "yes": a Lua state per query;
#   * everything listens on 127.0.0.1 high ports only; PowerDNS security polling (a DNS
#     query to the Internet) is switched off; NSD remote control is off.
#
# Signed zone (issue 13): geosteer-signed is geosteer with a key for example.com in its
# zones/keys (one ECDSA P-256 combined signing key from `geosteer keygen`, compact denial,
# default signature cache); knot-signed is Knot with mod-geoip followed by mod-onlinesign
# (its default policy: an ECDSA P-256 CSK, made at start); pdns-geoip-signed is PowerDNS's
# GeoIP backend with a key from `pdnsutil secure-zone` (an ECDSA P-256 CSK) in its
# geoip-dnssec-keydir, signing live (with PowerDNS's signature cache; NSEC3 narrow denial).
# All serve the zone above. They run three steps, in the same rounds as the unsigned servers:
#   udp-geo-ecs      the geo-ECS queries without DO: unsigned answers from a signed zone;
#   udp-geo-ecs-do   the same queries with DO: the steered A RRset and its RRSIG, from one of
#                    a few distinct RRsets (geosteer: a warm signature cache);
#   udp-nxdomain-do  200,000 random names with DO (new ones every round), more than
#                    geosteer's denial cache holds: every answer needs an NSEC signed anew
#                    (the cold-cache signing rate).
# The report's "Signed zone" table divides each signed step by the unsigned server's matching
# step of the same round (signed geo-ECS with DO ÷ unsigned geo-ECS is the figure issue 13
# asks to be at least 0.8), and geosteer-signed by the other signed servers; geosteer-signed's
# signature-cache size and bounds come from its /metrics after the load.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY="python3 $HERE/lib/bench.py"
# The zone and Knot's configuration, shared with xdp.sh.
. "$HERE/lib/config.sh"
# nsd_conf, shared with records.sh.
. "$HERE/lib/serve.sh"

# --xdp: the XDP comparison has its own topology and harness (bench/xdp.sh, same options
# where they mean the same; --help there).
# --scale: load and reload at scale (bench/scale.sh, its own options).
for a in "$@"; do
  if [ "$a" = --scale ]; then
    args=()
    for b in "$@"; do [ "$b" = --scale ] || args+=("$b"); done
    exec bash "$HERE/scale.sh" "${args[@]+"${args[@]}"}"
  fi
  if [ "$a" = --xdp ]; then
    args=()
    for b in "$@"; do [ "$b" = --xdp ] || args+=("$b"); done
    exec bash "$HERE/xdp.sh" "${args[@]+"${args[@]}"}"
  fi
done

QUICK=0
MEMORY=0
SERVERS=""
DURATION=""
ROUNDS=""
LAT_RATE=""
LAT_DURATION=""
IDLE_SECONDS=""
GEOIP="${GEOSTEER_BENCH_GEOIP:-}"
SYNTHETIC=""
INSTALL=1
WAIT_IDLE=""
REPORT=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --memory) MEMORY=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --rounds=*) ROUNDS=${1#*=} ;;
    --idle-seconds) IDLE_SECONDS=$2; shift ;;
    --idle-seconds=*) IDLE_SECONDS=${1#*=} ;;
    --servers) SERVERS=$2; shift ;;
    --servers=*) SERVERS=${1#*=} ;;
    --duration) DURATION=$2; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --latency-rate) LAT_RATE=$2; shift ;;
    --latency-rate=*) LAT_RATE=${1#*=} ;;
    --latency-duration) LAT_DURATION=$2; shift ;;
    --latency-duration=*) LAT_DURATION=${1#*=} ;;
    --geoip) GEOIP=$2; shift ;;
    --geoip=*) GEOIP=${1#*=} ;;
    --synthetic-geoip) SYNTHETIC=400000 ;;
    --synthetic-geoip=*) SYNTHETIC=${1#*=} ;;
    --no-install) INSTALL=0 ;;
    --wait-idle) WAIT_IDLE=$2; shift ;;
    --wait-idle=*) WAIT_IDLE=${1#*=} ;;
    --report) REPORT=$2; shift ;;
    --report=*) REPORT=${1#*=} ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  SERVERS=${SERVERS:-geosteer,geosteer-rrl,geosteer-signed}
  DURATION=${DURATION:-2}
  LAT_DURATION=${LAT_DURATION:-1}
  ROUNDS=${ROUNDS:-1}
  WAIT_IDLE=${WAIT_IDLE:-0}
  IDLE_SECONDS=${IDLE_SECONDS:-1}
elif [ "$MEMORY" = 1 ]; then
  SERVERS=${SERVERS:-geosteer,geosteer-example}
  ROUNDS=${ROUNDS:-1}
else
  SERVERS=${SERVERS:-geosteer,geosteer-rrl,gdnsd,knot,nsd,pdns-lua,pdns-geoip,udp-floor,geosteer-signed,knot-signed,pdns-geoip-signed}
fi
DURATION=${DURATION:-5}
LAT_RATE=${LAT_RATE:-20000}
LAT_DURATION=${LAT_DURATION:-2}
ROUNDS=${ROUNDS:-3}
WAIT_IDLE=${WAIT_IDLE:-60}
IDLE_SECONDS=${IDLE_SECONDS:-5}
PORT0=${GEOSTEER_BENCH_PORT:-15301}
for v in DURATION ROUNDS WAIT_IDLE IDLE_SECONDS LAT_RATE LAT_DURATION; do
  case ${!v} in ''|*[!0-9]*) echo "run.sh: ${v,,} must be a whole number, not '${!v}'" >&2; exit 2 ;; esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$LAT_DURATION" -lt 1 ] || [ "$LAT_RATE" -lt 1 ]; then
  echo "run.sh: --rounds, --duration, --latency-rate and --latency-duration must be at least 1" >&2; exit 2
fi

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }
want() { case ",$SERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for s in ${SERVERS//,/ }; do
  case $s in geosteer|gdnsd|knot|nsd|pdns-lua|pdns-geoip|udp-floor|geosteer-example|geosteer-rrl|geosteer-signed|knot-signed|pdns-geoip-signed) ;;
    *) die "unknown server '$s' in --servers" ;; esac
done
# The last step offers a fixed rate (well below every server's capacity except PowerDNS
# LUA's) and records each answer's latency (dnsperf -v), for percentiles.
# The two DO steps are run by the signed servers only (and those run no other step but
# udp-geo-ecs): see "Signed zone" above.
WORKLOADS="udp-static udp-geo-ecs udp-geo-noecs udp-nxdomain tcp-static udp-geo-ecs-do udp-nxdomain-do latency-geo-ecs"
SIGNED_WORKLOADS="udp-geo-ecs udp-geo-ecs-do udp-nxdomain-do"
is_signed() { case $1 in *-signed) return 0 ;; *) return 1 ;; esac; }
MAX_LOAD=0
for s in ${SERVERS//,/ }; do
  if is_signed "$s"; then MAX_LOAD=$(( MAX_LOAD + ROUNDS * 3 * DURATION ))
  else MAX_LOAD=$(( MAX_LOAD + ROUNDS * (5 * DURATION + LAT_DURATION) )); fi
done
# A bound on the load loop, whatever the options: at most an hour of dnsperf in all.
[ "$MAX_LOAD" -le 3600 ] || die "$ROUNDS rounds x (5 steps x $DURATION s + $LAT_DURATION s per unsigned server, 3 x $DURATION s per signed one) = $MAX_LOAD s of load: more than the 3600 s allowed"

# CPUs: the server on one, dnsperf on another.
NCPU=$(nproc)
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
if [ "$NCPU" -lt 2 ]; then
  log "only $NCPU CPU: server and dnsperf share it (results are not comparable to 2-CPU runs)"
  CLIENT_CPU=$SERVER_CPU
fi

# ------------------------------------------------------------------ cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/geosteer-bench.XXXXXX")
PIDS=()
STEP_PID=""
POLICY_RC_CREATED=0
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  set +e
  # A load step still running (interrupted): bench.py stops its dnsperf on TERM.
  if [ -n "$STEP_PID" ]; then
    kill -TERM "$STEP_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$STEP_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ packages
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }

PEER_PROCS="gdnsd knotd nsd pdns_server"
install_packages() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$INSTALL" = 0 ]; then log "not installed (and --no-install): ${missing[*]}"; return 0; fi
  log "installing ${missing[*]} from Debian's packages"
  # Packages must not start their daemons (they would listen on port 53 on every interface):
  # a policy-rc.d that answers 101 makes invoke-rc.d refuse, and anything that started anyway
  # is stopped by its PID below.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d' \
      && POLICY_RC_CREATED=1
  fi
  local before
  before=$(pgrep -x -d ' ' "$(echo "$PEER_PROCS" | tr ' ' '|')" || true)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || log "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"$WORK/apt.log" 2>&1 || log "apt-get install failed (see $WORK/apt.log with --keep)"
  local pid
  for pid in $(pgrep -x "$(echo "$PEER_PROCS" | tr ' ' '|')" || true); do
    case " $before " in *" $pid "*) ;; *) log "stopping $(cat /proc/"$pid"/comm 2>/dev/null) (pid $pid) started by its package"; as_root kill "$pid" || true ;; esac
  done
}

command -v dig >/dev/null || install_packages bind9-dnsutils
command -v dnsperf >/dev/null || install_packages dnsperf
command -v dig >/dev/null || die "dig is needed (package bind9-dnsutils)"
command -v dnsperf >/dev/null || die "dnsperf is needed (package dnsperf)"
if [ "$QUICK" = 0 ]; then
  pk=()
  want gdnsd && pk+=(gdnsd)
  { want knot || want knot-signed; } && pk+=(knot knot-module-geoip)
  want nsd && pk+=(nsd)
  { want pdns-lua || want pdns-geoip || want pdns-geoip-signed; } && pk+=(pdns-server pdns-backend-bind pdns-backend-geoip)
  [ ${#pk[@]} -gt 0 ] && install_packages "${pk[@]}"
fi

# ------------------------------------------------------------------ geosteer binary
GEOSTEER=${GEOSTEER_BIN:-}
if { want geosteer || want geosteer-example || want geosteer-signed; } && [ -z "$GEOSTEER" ]; then
  log "building geosteer (cargo build --release)"
  (cd "$REPO" && cargo build --release --quiet --bin geosteer) || die "cargo build failed"
  GEOSTEER="${CARGO_TARGET_DIR:-$REPO/target}/release/geosteer"
fi
UDP_FLOOR=${UDP_FLOOR_BIN:-}
if want udp-floor && [ -z "$UDP_FLOOR" ]; then
  log "building udp-floor (cargo build --release --example udp_floor)"
  (cd "$REPO" && cargo build --release --quiet --example udp_floor) || die "cargo build failed"
  UDP_FLOOR="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/udp_floor"
fi

# ------------------------------------------------------------------ GeoIP database
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/geosteer-bench
if [ -n "$GEOIP" ]; then
  [ -f "$GEOIP" ] || die "GeoIP database $GEOIP not found"
  GEOIP=$(readlink -f "$GEOIP")
  GEOIP_NOTE="given: $GEOIP"
elif [ -n "$SYNTHETIC" ]; then
  mkdir -p "$CACHE"
  GEOIP="$CACHE/synthetic-city-$SYNTHETIC.mmdb"
  if [ ! -s "$GEOIP" ]; then
    log "generating a synthetic City database of ~$SYNTHETIC networks (once; cached in $CACHE)"
    $PY geoip "$GEOIP.tmp" --networks "$SYNTHETIC" >/dev/null && mv "$GEOIP.tmp" "$GEOIP"
  fi
  GEOIP_NOTE="synthetic (bench/lib/bench.py geoip --networks $SYNTHETIC)"
elif [ -f "$REPO/geoip/sample-city.mmdb" ]; then
  GEOIP="$REPO/geoip/sample-city.mmdb"
  GEOIP_NOTE="the repository's sample geoip/sample-city.mmdb"
else
  GEOIP="$WORK/standin-city.mmdb"
  $PY geoip "$GEOIP" --networks 2000 >/dev/null
  GEOIP_NOTE="a small synthetic stand-in (2,000 networks): geoip/sample-city.mmdb is not in this checkout"
fi
GEOIP_DESC=$(python3 -c "import sys; sys.path.insert(0,'$HERE/lib'); import mmdb; r=mmdb.Reader('$GEOIP'); m=r.meta; print(f\"{m.get('database_type')}, {m.get('node_count')} tree nodes, built {m.get('build_epoch')}\")")
log "GeoIP database: $GEOIP_NOTE ($GEOIP_DESC)"

# ------------------------------------------------------------------ workload files
Q="$WORK/queries"
$PY queries "$Q" >/dev/null
CLIENTS=$($PY clients "$GEOIP" "$Q")
client_of() { echo "$CLIENTS" | python3 -c "import json,sys; [print(r['subnet'] or '') for r in map(json.loads, sys.stdin) if r['region']=='$1']"; }
NA_NET=$(client_of NA); EU_NET=$(client_of EU); AP_NET=$(client_of AP)
log "checked ECS clients: NA ${NA_NET:-none}, EU ${EU_NET:-none}, AP ${AP_NET:-none} (continents from the database)"
SCOPE_NETS="8.8.8.0/24 193.0.6.0/24 1.1.1.0/24 202.12.27.0/24"

US=198.51.100.10; EU=198.51.100.20; AP=198.51.100.30; STATIC=192.0.2.10
# expected_for server region: the answer (a glob for each address) for a client there.
expected_for() {
  if [ "$1" = geosteer-example ]; then
    # zones/example.com.toml: NA -> us-east 127.0.1.x, EU -> eu-central 127.0.2.x,
    # AS/OC -> ap-southeast 127.0.3.1; no location -> default_pools, us-east first.
    case "$2" in NA) echo '127.0.1.*' ;; EU) echo '127.0.2.*' ;; AP) echo '127.0.3.*' ;; *) echo '127.0.1.*' ;; esac
  else
    case "$2" in NA) echo $US ;; EU) echo $EU ;; AP) echo $AP ;; *) echo $US ;; esac
  fi
}

# The zone every server serves, minus harperdb (each server's own geo mechanism adds it).
# write_zone: bench/lib/config.sh (shared with xdp.sh).
# ------------------------------------------------------------------ server control
# Every server runs in its own process group (setsid), pinned to CPU 0, on its own port.
declare -A PID_OF PORT_OF SKIP_OF STATICQ_OF READY_NAME_OF READY_ADDR_OF
ACTIVE=()   # servers started and checked, in start order
start_server() { # name cmd...
  local name=$1; shift
  setsid taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PID_OF[$name]=$!
  PIDS+=("$!")
}
stop_server() { # name
  local pid=${PID_OF[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
  unset "PID_OF[$1]"
}
port_free() { ! ss -Hlnu "sport = :$1" 2>/dev/null | grep -q . && ! ss -Hlnt "sport = :$1" 2>/dev/null | grep -q .; }

# dnsq port name [subnet] -> "STATUS ANSWERS ECS" (answers comma-separated, ECS as a/len/scope)
dnsq() {
  local out
  out=$(dig +norec +time=2 +tries=1 -p "$1" @127.0.0.1 "$2" A ${3:++subnet=$3} 2>&1) || true
  local status answers ecs
  status=$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1)
  answers=$(printf '%s\n' "$out" | awk '/^;; ANSWER SECTION:/{a=1;next} /^$/{a=0} a && $4=="A"{print $5}' | paste -sd, -)
  ecs=$(printf '%s\n' "$out" | sed -n 's/.*CLIENT-SUBNET: \([^ ]*\).*/\1/p' | head -1)
  echo "${status:-NOANSWER} ${answers:--} ${ecs:--}"
}
wait_ready() { # name port seconds
  local pid=${PID_OF[$1]}
  for _ in $(seq $(( $3 * 5 ))); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(dnsq "$2" "${READY_NAME_OF[$1]}" | cut -d' ' -f2)" = "${READY_ADDR_OF[$1]}" ] && return 0
    sleep 0.2
  done
  return 1
}

RESULTS="$WORK/results.jsonl"
SCOPES="$WORK/scopes.md"
CHECKS="$WORK/checks.md"
RSS="$WORK/rss.jsonl"
: >"$RESULTS"; : >"$SCOPES"; : >"$CHECKS"; : >"$RSS"
FAILED_GEOSTEER=0
is_geosteer() { case $1 in geosteer|geosteer-example|geosteer-rrl|geosteer-signed) return 0 ;; *) return 1 ;; esac; }
fail_if_geosteer() { if is_geosteer "$1"; then FAILED_GEOSTEER=1; fi; }

skip_row() { $PY skip --server "$1" --workload "$2" --out "$RESULTS" "$3"; }

# all_match ANSWERS GLOB: every comma-separated address matches (and there is one at least).
all_match() {
  local a
  [ "$1" != "-" ] && [ -n "$1" ] || return 1
  for a in ${1//,/ }; do
    # shellcheck disable=SC2254  # the glob is meant
    case $a in $2) ;; *) return 1 ;; esac
  done
}

# verify name port geo(0|1) -> sets GEO_OK, returns 1 when the server cannot be loaded at all
verify() {
  local name=$1 port=$2 geo=$3 r sname=${READY_NAME_OF[$1]} saddr=${READY_ADDR_OF[$1]}
  GEO_OK=0
  r=$(dnsq "$port" "$sname")
  echo "- $name $sname A: $r" >>"$CHECKS"
  [ "$(echo "$r" | cut -d' ' -f1-2)" = "NOERROR $saddr" ] || { SKIP_REASON="$sname A answered '$r'"; return 1; }
  if [ "$name" = udp-floor ]; then
    # Not a DNS server: it answers every query with the query itself (QR set, no answer
    # records), so that it answers is all there is to check.
    echo "- $name answers every query with the query echoed (QR set, NOERROR, no records): not checked further" >>"$CHECKS"
    GEO_OK=1
    return 0
  fi
  r=$(dnsq "$port" nxcheck-4711.example.com)
  echo "- $name nxcheck-4711.example.com A: $r" >>"$CHECKS"
  [ "$(echo "$r" | cut -d' ' -f1)" = "NXDOMAIN" ] || { SKIP_REASON="random name answered '$r', not NXDOMAIN"; return 1; }
  [ "$geo" = 1 ] || return 0
  local region net want got bad=""
  for region in NA EU AP; do
    case $region in NA) net=$NA_NET ;; EU) net=$EU_NET ;; AP) net=$AP_NET ;; esac
    [ -n "$net" ] || { bad="$bad; the database has no $region client to check"; continue; }
    want=$(expected_for "$name" "$region")
    r=$(dnsq "$port" harperdb.example.com "$net")
    echo "- $name harperdb.example.com A, ECS $net ($region): $r (want $want)" >>"$CHECKS"
    got=$(echo "$r" | cut -d' ' -f2)
    all_match "$got" "$want" || bad="$bad; ECS $net ($region) got '$r', want $want"
  done
  want=$(expected_for "$name" none)
  r=$(dnsq "$port" harperdb.example.com)
  echo "- $name harperdb.example.com A, no ECS (client 127.0.0.1, unknown location): $r (want $want)" >>"$CHECKS"
  all_match "$(echo "$r" | cut -d' ' -f2)" "$want" || bad="$bad; no ECS got '$r', want $want"
  # The binary dnsperf input: do its queries carry ECS? (sent as dnsperf sends them)
  if r=$($PY ecs-check "$Q" "$port" 200); then
    echo "- $name geo-ecs.bin, first 200 queries sent as dnsperf sends them: $r" >>"$CHECKS"
  else
    echo "- $name geo-ecs.bin, first 200 queries: $r" >>"$CHECKS"
    bad="$bad; binary ECS queries: $r"
  fi
  if [ -z "$bad" ]; then GEO_OK=1; else GEO_REASON="geo answers wrong:${bad#;}"; fi
  return 0
}

record_scopes() { # name port
  local row="| $1 |" net r
  for net in $SCOPE_NETS; do
    r=$(dnsq "$2" harperdb.example.com "$net")
    row="$row $(echo "$r" | awk '{n=split($3, e, "/"); printf "%s, scope %s", $2, ($3=="-" ? "none" : "/" e[n])}') |"
  done
  echo "$row" >>"$SCOPES"
}

# signed_check name port: a signed server's answers to DO queries carry what a validator needs:
# the steered A RRset for each checked location with its RRSIG, a signed DNSKEY RRset, and a
# signed NSEC (or NSEC3) for a name that does not exist. Sets SIGNED_OK, and SIGNED_REASON when not.
digdo() { dig +norec +dnssec +time=2 +tries=1 -p "$1" @127.0.0.1 "$2" "$3" ${4:++subnet=$4} 2>&1 || true; }
# in_section SECTION TYPE [COVERED]: records of TYPE (an RRSIG covering COVERED) in a section
# (TYPE and COVERED are extended regular expressions: NSEC3? for NSEC or NSEC3)
in_section() {
  awk -v sec="$1" -v t="$2" -v c="${3:-}" '/^;; [A-Z]+ SECTION:/{s=$2; next} /^$/{s=""} s==sec && $4 ~ ("^(" t ")$") && (c=="" || $5 ~ ("^(" c ")$")){n++} END{print n+0}'
}
signed_check() {
  local name=$1 port=$2 region net want out addrs sigs bad=""
  for region in NA EU AP; do
    case $region in NA) net=$NA_NET ;; EU) net=$EU_NET ;; AP) net=$AP_NET ;; esac
    [ -n "$net" ] || continue
    want=$(expected_for "$name" "$region")
    out=$(digdo "$port" harperdb.example.com A "$net")
    addrs=$(printf '%s\n' "$out" | awk '/^;; ANSWER SECTION:/{a=1;next} /^$/{a=0} a && $4=="A"{print $5}' | paste -sd, -)
    sigs=$(printf '%s\n' "$out" | in_section ANSWER RRSIG A)
    echo "- $name harperdb.example.com A +dnssec, ECS $net ($region): ${addrs:--}, RRSIG A: $sigs" >>"$CHECKS"
    { all_match "$addrs" "$want" && [ "$sigs" -ge 1 ]; } || bad="$bad; ECS $net ($region) with DO: '${addrs:--}' and $sigs RRSIG"
  done
  out=$(digdo "$port" example.com DNSKEY)
  echo "- $name example.com DNSKEY +dnssec: $(printf '%s\n' "$out" | in_section ANSWER DNSKEY) DNSKEY, $(printf '%s\n' "$out" | in_section ANSWER RRSIG DNSKEY) RRSIG" >>"$CHECKS"
  [ "$(printf '%s\n' "$out" | in_section ANSWER RRSIG DNSKEY)" -ge 1 ] || bad="$bad; no signed DNSKEY RRset"
  out=$(digdo "$port" coldcheck-4711.example.com A)
  local st nsec nsig
  st=$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1)
  nsec=$(printf '%s\n' "$out" | in_section AUTHORITY 'NSEC3?')
  nsig=$(printf '%s\n' "$out" | in_section AUTHORITY RRSIG 'NSEC3?')
  echo "- $name coldcheck-4711.example.com A +dnssec: ${st:-NOANSWER}, $nsec NSEC/NSEC3, $nsig RRSIG over them in the authority section" >>"$CHECKS"
  { [ "$nsec" -ge 1 ] && [ "$nsig" -ge 1 ]; } || bad="$bad; a name that does not exist got no signed NSEC"
  SIGNED_OK=1; SIGNED_REASON=""
  if [ -n "$bad" ]; then SIGNED_OK=0; SIGNED_REASON="signed answers wrong:${bad#;}"; fi
}

# add_server name port geo(0|1|nogeo-reason) cmd...: starts the server, waits until it
# answers, checks its answers and records its ECS scopes. A server that passes joins ACTIVE
# (and stays up, idle, until the end); one that fails is stopped and reported as skipped.
add_server() {
  local name=$1 port=$2 geo=$3; shift 3
  READY_NAME_OF[$name]=${READY_NAME_OF[$name]:-static.example.com}
  READY_ADDR_OF[$name]=${READY_ADDR_OF[$name]:-$STATIC}
  STATICQ_OF[$name]=${STATICQ_OF[$name]:-$Q/static.txt}
  if ! port_free "$port"; then
    log "$name: port $port is in use, skipped"
    skip_row "$name" all "port $port in use"
    fail_if_geosteer "$name"
    return 0
  fi
  log "== $name (127.0.0.1:$port): start and check"
  start_server "$name" "$@"
  if ! wait_ready "$name" "$port" 60; then
    log "$name: did not answer ${READY_NAME_OF[$name]} within 60 s; log tail:"; tail -5 "$WORK/$name.log" >&2 || true
    skip_row "$name" all "did not start or answer: $(tail -1 "$WORK/$name.log" 2>/dev/null | cut -c1-160)"
    fail_if_geosteer "$name"
    stop_server "$name"; return 0
  fi
  local geo_flag=1; case $geo in 0|1) geo_flag=$geo ;; *) geo_flag=0 ;; esac
  GEO_REASON=""
  if ! verify "$name" "$port" "$geo_flag"; then
    log "$name: skipped: $SKIP_REASON"
    skip_row "$name" all "$SKIP_REASON"
    fail_if_geosteer "$name"
    stop_server "$name"; return 0
  fi
  [ "$geo_flag" = 1 ] && [ "$name" != udp-floor ] && record_scopes "$name" "$port"
  if [ "$name" = udp-floor ]; then
    skip_row "$name" tcp-static "udp-floor serves UDP only"; SKIP_OF[$name:tcp-static]=1
  fi
  local w
  # Which steps the server runs: the DO steps for the signed servers only, and those run no
  # others but udp-geo-ecs (not reported as skipped: they are not meant to run).
  for w in $WORKLOADS; do
    if is_signed "$name"; then
      case " $SIGNED_WORKLOADS " in *" $w "*) ;; *) SKIP_OF[$name:$w]=1 ;; esac
    else
      case $w in *-do) SKIP_OF[$name:$w]=1 ;; esac
    fi
  done
  if is_signed "$name"; then
    signed_check "$name" "$port"
    if [ "$SIGNED_OK" = 0 ]; then
      log "$name: $SIGNED_REASON"
      for w in udp-geo-ecs-do udp-nxdomain-do; do
        skip_row "$name" "$w" "$SIGNED_REASON"; SKIP_OF[$name:$w]=1
      done
      fail_if_geosteer "$name"
    fi
  fi
  for w in udp-geo-ecs udp-geo-noecs latency-geo-ecs udp-geo-ecs-do; do
    [ -z "${SKIP_OF[$name:$w]:-}" ] || continue
    if [ "$geo_flag" = 0 ]; then
      skip_row "$name" "$w" "$geo"; SKIP_OF[$name:$w]=1
    elif [ "$GEO_OK" = 0 ]; then
      skip_row "$name" "$w" "$GEO_REASON"; SKIP_OF[$name:$w]=1
      fail_if_geosteer "$name"
    fi
  done
  PORT_OF[$name]=$port
  ACTIVE+=("$name")
}

dnsperf_step() { # name workload round
  local name=$1 w=$2 round=$3 port=${PORT_OF[$1]} args=() secs=$DURATION
  case $w in
    udp-static) args=(-d "${STATICQ_OF[$name]}") ;;
    udp-geo-ecs) args=(-B -d "$Q/geo-ecs.bin") ;;
    udp-geo-noecs) args=(-d "$Q/geo-noecs.txt") ;;
    udp-nxdomain) args=(-d "$Q/nxdomain.txt") ;;
    tcp-static) args=(-m tcp -d "${STATICQ_OF[$name]}") ;;
    latency-geo-ecs) args=(-B -d "$Q/geo-ecs.bin" -Q "$LAT_RATE" -v); secs=$LAT_DURATION ;;
    udp-geo-ecs-do) args=(-B -d "$Q/geo-ecs-do.bin") ;;
    udp-nxdomain-do)
      # dnsperf starts every run at the top of its file: names of a round of their own, so
      # that no round asks a name an earlier one left in the cache.
      local cold="$Q/nxdomain-cold-r$round.txt"
      [ -s "$cold" ] || sed "s/^cold/r$round-cold/" "$Q/nxdomain-cold.txt" >"$cold"
      args=(-D -d "$cold") ;;
  esac
  # In the background and waited for, so that an INT or TERM runs the cleanup at once
  # (bash defers traps while a foreground command runs); bench.py kills dnsperf after
  # --timeout whatever happens.
  $PY step --server "$name" --workload "$w" --round "$round" --pgid "${PID_OF[$name]}" \
    --out "$RESULTS" --log "$WORK/dnsperf.log" --timeout $(( secs + 30 )) -- \
    taskset -c "$CLIENT_CPU" \
    dnsperf -s 127.0.0.1 -p "$port" "${args[@]}" -l "$secs" -c 4 -q 100 -T 1 -t 2 \
    -O suppress=timeouts,congestion,sendfailed,sockready,unexpected >&2 &
  STEP_PID=$!
  local rc=0
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

# The load, round-robin: for each round, for each step, each server in turn (the order
# rotated by one every round, so that no server always runs first or last after a change
# of step). A server that has exited is reported, never loaded again.
run_rounds() {
  local n=${#ACTIVE[@]} r w k name
  [ "$n" -gt 0 ] || return 0
  for r in $(seq "$ROUNDS"); do
    log "== round $r of $ROUNDS"
    for w in $WORKLOADS; do
      for k in $(seq 0 $(( n - 1 ))); do
        name=${ACTIVE[$(( (k + r - 1) % n ))]}
        [ -z "${SKIP_OF[$name:$w]:-}" ] || continue
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
          log "$name: exited during the load (round $r); log tail:"; tail -5 "$WORK/$name.log" >&2 || true
          for ww in $WORKLOADS; do
            [ -n "${SKIP_OF[$name:$ww]:-}" ] || { skip_row "$name" "$ww" "the server exited during round $r (see its log)"; SKIP_OF[$name:$ww]=1; }
          done
          fail_if_geosteer "$name"
          continue
        fi
        dnsperf_step "$name" "$w" "$r" || fail_if_geosteer "$name"
      done
    done
  done
}

# ------------------------------------------------------------------ RRL flood step
# One /24 (127.0.0.1, dnsperf at full speed: up to 60,000 queries outstanding, so that the
# dropped ones do not slow it down, one name) floods a geosteer with
# --rrl-rate $RRL_RATE --rrl-slip 2 while another client (127.0.1.1, dnsperf -a) asks a mix
# of names at a low fixed rate. The flooder's full answers (completed minus slipped) must
# stay within the rate; the other client must lose nothing. Numbers from both dnsperf runs
# and the server's /metrics; the table goes into the report.
RRL_RATE=100
RRL_MD="$WORK/rrl.md"
rrl_flood() {
  local port=$((PORT0 + 9)) http=$((PORT0 + 10)) secs=$DURATION name=geosteer-rrl-flood
  printf 'static.example.com A\nharperdb.example.com A\nns1.example.com A\nnope-%s.example.com A\n' 1 2 3 >"$Q/legit.txt"
  if ! port_free "$port" || ! port_free "$http"; then
    log "rrl flood: port $port or $http in use, skipped"; echo "RRL flood step skipped: port in use" >"$RRL_MD"; FAILED_GEOSTEER=1; return 0
  fi
  log "== RRL flood step: rate $RRL_RATE, slip 2, $secs s"
  READY_NAME_OF[$name]=static.example.com; READY_ADDR_OF[$name]=$STATIC
  start_server "$name" "$GEOSTEER" serve --zones "$WORK/geosteer-zones" --geoip "$GEOIP" \
    --listen "127.0.0.1:$port" --udp-sockets 1 --rrl-rate "$RRL_RATE" --rrl-slip 2 --http "127.0.0.1:$http"
  if ! wait_ready "$name" "$port" 60; then
    log "rrl flood: the server did not start"; echo "RRL flood step: the server did not start" >"$RRL_MD"
    FAILED_GEOSTEER=1; stop_server "$name"; return 0
  fi
  # Let the readiness queries' accounts age out of the window.
  sleep 6
  # The server's counters before the load: the flooder's answers are counted on the server
  # side (its UDP queries minus those limited), since a client at full speed loses many of
  # the answers it is sent in its own receive buffer.
  curl -s --max-time 5 "http://127.0.0.1:$http/metrics" >"$WORK/rrl-metrics-before.txt" || true
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -a 127.0.0.1 -p "$port" -d "$Q/static.txt" -l "$secs" \
    -c 8 -q 60000 -T 1 -t 1 -O suppress=timeouts,congestion,sendfailed,sockready,unexpected \
    >"$WORK/rrl-flood.out" 2>&1 &
  local flood_pid=$!
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -a 127.0.1.1 -p "$port" -d "$Q/legit.txt" -l "$secs" \
    -Q 40 -c 1 -t 1 >"$WORK/rrl-legit.out" 2>&1 || true
  wait "$flood_pid" || true
  python3 - "$WORK/rrl-flood.out" "$WORK/rrl-legit.out" "http://127.0.0.1:$http/metrics" "$RRL_RATE" "$secs" "$WORK/rrl-metrics-before.txt" >"$RRL_MD" <<'PYEOF' || FAILED_GEOSTEER=1
import re, sys, urllib.request
flood, legit, url, rate, secs, before = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
def perf(path):
    t = open(path).read()
    n = lambda k: int(re.search(k + r":\s+(\d+)", t).group(1))
    return {"sent": n("Queries sent"), "completed": n("Queries completed"), "lost": n("Queries lost")}
f, l = perf(flood), perf(legit)
m = urllib.request.urlopen(url, timeout=5).read().decode()
try:
    m0 = open(before).read()
except OSError:
    m0 = ""
def val(name, text=None):
    hit = re.search("^" + name + r" (\S+)$", m if text is None else text, re.M)
    return float(hit.group(1)) if hit else 0.0
def udp_queries(text):
    return sum(float(v) for v in re.findall(r'^geosteer_queries_total\{[^}]*protocol="udp"[^}]*\} (\S+)$', text, re.M))
names = ("geosteer_rrl_limited_total", "geosteer_rrl_slipped_total", "geosteer_rrl_dropped_total")
limited, slipped, dropped = (val(n) - val(n, m0) for n in names)
# Server side: UDP queries the server answered during the step, less the other client's,
# less those the rate limiter slipped or dropped.
received = udp_queries(m) - udp_queries(m0) - l["completed"]
full = received - limited
ok_flood = full <= rate * (secs + 1)
ok_legit = l["lost"] == 0 and l["completed"] == l["sent"]
print("| client | sent | received by the server | answered in full | slipped (TC) | dropped | answered in full per second |")
print("|---|---:|---:|---:|---:|---:|---:|")
print(f"| flooding /24 (127.0.0.1, full speed, one name) | {f['sent']:,} | {received:,.0f} | {full:,.0f} | {slipped:,.0f} | {dropped:,.0f} | {full / secs:,.1f} |")
print(f"| other client (127.0.1.1, 40 qps, 4 names) | {l['sent']:,} | {l['sent']:,} | {l['completed']:,} | 0 | {l['lost']:,} lost | {l['completed'] / secs:,.1f} |")
print()
print(f"Rate {rate}/s, slip 2, {secs} s. The flooder's answers in full: {full:,.0f} ≤ rate × (seconds + 1) = {rate * (secs + 1):,}: {'met' if ok_flood else 'NOT MET'} "
      f"(BIND's accounting: the first second's {rate}, then nothing while the flood lasts; slipped answers are empty, TC=1, no bigger than the query). "
      f"The other client: {l['completed']:,} of {l['sent']:,} answered: {'unaffected' if ok_legit else 'AFFECTED'}. "
      f"Limited {limited:,.0f} = slipped {slipped:,.0f} + dropped {dropped:,.0f}. "
      f"Counted on the server (its /metrics before and after the step): the flooding client itself completed "
      f"{f['completed']:,} queries (full answers and slips), losing the rest in its own receive buffer.")
sys.exit(0 if ok_flood and ok_legit else 1)
PYEOF
  stop_server "$name"
  log "$(tail -1 "$RRL_MD" | cut -c1-240)"
}

# NAME=PGID for every active server
groups_of_active() { local n; for n in "${ACTIVE[@]}"; do printf '%s=%s ' "$n" "${PID_OF[$n]}"; done; }

T0=$(date +%s)
START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ------------------------------------------------------------------ geosteer
# geosteer_server name port signed(0|1) [serve args...]: geosteer serving the zone above with
# harperdb steered by continent; signed: with a key made by `geosteer keygen` in zones/keys.
geosteer_server() {
  local name=$1 port=$2 signed=$3; shift 3
  local zd="$WORK/$name-zones"; mkdir -p "$zd"
  write_zone "$zd/example.com.zone"
  write_steering "$zd/example.com.toml"
  if [ "$signed" = 1 ]; then
    local kg
    if ! kg=$("$GEOSTEER" keygen example.com --keys "$zd/keys" 2>&1); then
      log "$name: geosteer keygen failed: $kg"
      skip_row "$name" all "geosteer keygen failed: $(echo "$kg" | head -1 | cut -c1-200)"
      fail_if_geosteer "$name"
      return 0
    fi
  fi
  local geo=1 check
  if ! check=$("$GEOSTEER" check --zones "$zd" --geoip "$GEOIP" 2>&1); then
    # It cannot load the steering config (e.g. a build without GeoIP support): measure the
    # static workloads and report the geo ones as skipped with its own words.
    geo="geosteer check rejected the geo config: $(echo "$check" | head -1 | cut -c1-200)"
    log "$name: $geo"
    rm "$zd/example.com.toml"
  fi
  add_server "$name" "$port" "$geo" \
    "$GEOSTEER" serve --zones "$zd" --geoip "$GEOIP" --listen "127.0.0.1:$port" --udp-sockets 1 "$@"
}
if want geosteer; then geosteer_server geosteer "$PORT0" 0; fi
# geosteer-signed's HTTP endpoint (PORT0 + 14) gives its signature cache's size after the load.
SIGNED_METRICS_URL=""
if want geosteer-signed; then
  hport=$((PORT0 + 14))
  if port_free "$hport"; then
    geosteer_server geosteer-signed "$((PORT0 + 12))" 1 --http "127.0.0.1:$hport"
    SIGNED_METRICS_URL="http://127.0.0.1:$hport/metrics"
  else
    log "geosteer-signed: port $hport (its HTTP endpoint) is in use, skipped"
    skip_row geosteer-signed all "port $hport in use"
    FAILED_GEOSTEER=1
  fi
fi

# ------------------------------------------------------------------ gdnsd
if want gdnsd; then
  port=$((PORT0 + 1))
  if ! command -v gdnsd >/dev/null; then skip_row gdnsd all "gdnsd is not installed"; else
    d="$WORK/gdnsd"; mkdir -p "$d/zones" "$d/run" "$d/state"
    write_zone "$d/zones/example.com" "harperdb 30 DYNA geoip!harperdb"
    cat >"$d/config" <<EOF
# Loopback only, one UDP and one TCP thread. ECS is on by default (edns_client_subnet).
# gdnsd has no query log. service_types => up: no health checks.
options => {
  listen => [ 127.0.0.1:$port ]
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
      harperdb => {
        map => bench
        service_types => up
        dcmap => { us => $US, eu => $EU, ap => $AP }
      }
    }
  }
}
EOF
    add_server gdnsd "$port" 1 gdnsd -c "$d" start
  fi
fi

# ------------------------------------------------------------------ Knot DNS
# knot_server name port modules: Knot with mod-geoip (and, for knot-signed, mod-onlinesign
# after it: geoip picks the RRset, onlinesign signs it and makes the NSECs; its default
# policy makes an ECDSA P-256 CSK in the KASP database at start).
knot_server() {
  local name=$1 port=$2 modules=$3
  if ! command -v knotd >/dev/null; then skip_row "$name" all "knot is not installed"; return 0; fi
  knot_conf "$WORK/$name" "127.0.0.1@$port" warning "$modules"
  add_server "$name" "$port" 1 knotd -c "$WORK/$name/knot.conf"
}
if want knot; then knot_server knot "$((PORT0 + 2))" mod-geoip/bench; fi
if want knot-signed; then knot_server knot-signed "$((PORT0 + 13))" "[mod-geoip/bench, mod-onlinesign]"; fi

# ------------------------------------------------------------------ NSD
if want nsd; then
  port=$((PORT0 + 3))
  if ! command -v nsd >/dev/null; then skip_row nsd all "nsd is not installed"; else
    d="$WORK/nsd"; mkdir -p "$d"
    write_zone "$d/example.com.zone" "harperdb 30 IN A $US"
    nsd_conf "$d" "$port" "$d" example.com example.com.zone
    add_server nsd "$port" "NSD has no geo steering (static zones only)" nsd -d -c "$d/nsd.conf"
  fi
fi

# ------------------------------------------------------------------ PowerDNS
pdns_conf() { # dir port launch extra...
  local d=$1 port=$2 launch=$3; shift 3
  cat >"$d/pdns.conf" <<EOF
# Loopback only; one receiver and one distributor thread; ECS processing on (default
# off); no query logging; security polling (an Internet DNS query) off; no web server/API.
local-address=127.0.0.1
local-port=$port
launch=$launch
daemon=no
guardian=no
socket-dir=$d/run
disable-syslog=yes
loglevel=4
log-dns-queries=no
log-dns-details=no
query-logging=no
security-poll-suffix=
webserver=no
api=no
primary=no
secondary=no
receiver-threads=1
distributor-threads=1
edns-subnet-processing=yes
geoip-database-files=mmdb:$GEOIP
EOF
  printf '%s\n' "$@" >>"$d/pdns.conf"
}
if want pdns-lua; then
  port=$((PORT0 + 4))
  if ! command -v pdns_server >/dev/null; then skip_row pdns-lua all "pdns-server is not installed"; else
    d="$WORK/pdns-lua"; mkdir -p "$d/run"
    write_zone "$d/example.com.zone" \
      "harperdb 30 IN LUA A \";if continent('NA') then return '$US' elseif continent('EU') then return '$EU' elseif continent({'AS','OC'}) then return '$AP' else return '$US' end\""
    echo "zone \"example.com\" { type master; file \"$d/example.com.zone\"; };" >"$d/named.conf"
    # LUA's continent() asks the GeoIP backend, so it is launched too, with no zones.
    echo "domains: []" >"$d/geo-empty.yaml"
    pdns_conf "$d" "$port" "bind,geoip" "bind-config=$d/named.conf" \
      "geoip-zones-file=$d/geo-empty.yaml" "enable-lua-records=yes"
    add_server pdns-lua "$port" 1 pdns_server --config-dir="$d"
  fi
fi
# pdns_geoip_server name port signed(0|1): PowerDNS's GeoIP backend; signed: with a key made
# by `pdnsutil secure-zone` (its default: an ECDSA P-256 CSK) in geoip-dnssec-keydir, which
# turns live signing on (PowerDNS keeps a signature cache; it denies with NSEC3 narrow).
pdns_geoip_server() {
  local name=$1 port=$2 signed=$3
  if ! command -v pdns_server >/dev/null; then skip_row "$name" all "pdns-server is not installed"; return 0; fi
  local d="$WORK/$name"; mkdir -p "$d/run"
  {
    cat <<EOF
domains:
- domain: example.com
  ttl: 3600
  records:
    example.com:
      - soa: ns1.example.com hostmaster.example.com 2026112601 7200 3600 1209600 300
      - ns: ns1.example.com
    ns1.example.com:
      - a: 192.0.2.53
    static.example.com:
      - a: $STATIC
EOF
    # %cn is the continent code; every continent (and "unknown") gets a record.
    for c in na:$US sa:$US eu:$EU af:$US as:$AP oc:$AP an:$US unknown:$US; do
      printf '    %s.harperdb.example.com:\n      - a:\n          content: %s\n          ttl: 30\n' "${c%%:*}" "${c#*:}"
    done
    cat <<EOF
  services:
    harperdb.example.com: '%cn.harperdb.example.com'
EOF
  } >"$d/geo.yaml"
  if [ "$signed" = 1 ]; then
    mkdir -p "$d/keys"
    pdns_conf "$d" "$port" "geoip" "geoip-zones-file=$d/geo.yaml" "geoip-dnssec-keydir=$d/keys"
    local out
    if ! out=$(pdnsutil --config-dir="$d" secure-zone example.com 2>&1); then
      skip_row "$name" all "pdnsutil secure-zone failed: $(echo "$out" | tail -1 | cut -c1-160)"
      return 0
    fi
  else
    pdns_conf "$d" "$port" "geoip" "geoip-zones-file=$d/geo.yaml"
  fi
  add_server "$name" "$port" 1 pdns_server --config-dir="$d"
}
if want pdns-geoip; then pdns_geoip_server pdns-geoip "$((PORT0 + 5))" 0; fi
if want pdns-geoip-signed; then pdns_geoip_server pdns-geoip-signed "$((PORT0 + 11))" 1; fi

# ------------------------------------------------------------------ geosteer, example config
# The repository's own zones/ (example.com: 5 load balancers over 3 pools and 5 origins)
# as shipped, less its health monitor: its probes would go to the loopback origins
# 127.0.1.1-127.0.3.1 port 9925, be refused, and mark every origin down, and the answers
# would then all come from the fallback pool. Without the monitor every origin is up and
# the geo answers follow the client's continent, as in the README. For memory (RSS) and as a
# fuller configuration than the bench one; its static steps ask ns1.example.com A.
if want geosteer-example; then
  port=$((PORT0 + 6))
  zd="$WORK/geosteer-example-zones"; mkdir -p "$zd"
  cp -R "$REPO/zones/." "$zd/"
  python3 - "$zd"/*.toml <<'PYEOF'
import re, sys
for path in sys.argv[1:]:
    s = open(path).read()
    # [monitors.NAME] tables (up to the next table header) and every `monitor = ...` key.
    s = re.sub(r"(?ms)^\[monitors\.[^\]]+\][^\n]*\n.*?(?=^\[|\Z)", "", s)
    s = re.sub(r"(?m)^monitor\s*=.*\n", "", s)
    open(path, "w").write(s)
PYEOF
  printf 'ns1.example.com A\n' >"$Q/ns1.txt"
  READY_NAME_OF[geosteer-example]=ns1.example.com
  READY_ADDR_OF[geosteer-example]=192.0.2.53
  STATICQ_OF[geosteer-example]=$Q/ns1.txt
  if ! check=$("$GEOSTEER" check --zones "$zd" --geoip "$GEOIP" 2>&1); then
    log "geosteer-example: geosteer check rejected the example config: $check"
    skip_row geosteer-example all "geosteer check rejected the example config: $(echo "$check" | head -1 | cut -c1-200)"
    FAILED_GEOSTEER=1
  else
    EXAMPLE_CHECK=$check
    add_server geosteer-example "$port" 1 \
      "$GEOSTEER" serve --zones "$zd" --geoip "$GEOIP" --listen "127.0.0.1:$port" --udp-sockets 1
  fi
fi

# ------------------------------------------------------------------ geosteer with RRL
# The bench configuration with response rate limiting on, at a rate (per client network and
# response) that no client of the run reaches: every response goes through the rate
# limiter's table, none is limited. Its QPS per core against geosteer's is what RRL costs
# (the goal: at least 0.95).
RRL_COST_RATE=1000000
if want geosteer-rrl; then
  port=$((PORT0 + 8))
  zd="$WORK/geosteer-zones"
  if [ -d "$zd" ]; then
    add_server geosteer-rrl "$port" "$( [ -f "$zd/example.com.toml" ] && echo 1 || echo "geosteer check rejected the geo config")" \
      "$GEOSTEER" serve --zones "$zd" --geoip "$GEOIP" --listen "127.0.0.1:$port" --udp-sockets 1 \
      --rrl-rate "$RRL_COST_RATE"
  else
    skip_row geosteer-rrl all "runs with geosteer only (add geosteer to --servers)"
  fi
fi

# ------------------------------------------------------------------ udp-floor
# geosteer's own UDP loop (src/dns/udp.rs, recvmmsg/sendmmsg in batches) with an answerer
# that does no DNS work: each query goes back as it came, QR set. Its QPS per core is what
# the loop and the kernel allow before any parsing, GeoIP or answer writing, i.e. the
# ceiling for every server here that sends one datagram per answer.
if want udp-floor; then
  port=$((PORT0 + 7))
  READY_NAME_OF[udp-floor]=static.example.com
  READY_ADDR_OF[udp-floor]=-
  add_server udp-floor "$port" 1 "$UDP_FLOOR" "127.0.0.1:$port"
fi

# ------------------------------------------------------------------ measure
# Every server that passed its checks is up now, idle. Memory after the checks; the CPU the
# idle servers take (it must be ~0: they share CPU 0 with the measured one); then the rounds.
LOAD_BEFORE=""
DNSSEC_BEFORE=""
DNSSEC_AFTER=""
IDLE_JSON=""
LOAD_SECONDS=0
if [ ${#ACTIVE[@]} -gt 0 ]; then
  # shellcheck disable=SC2046  # NAME=PGID words
  $PY rss --mapped "$GEOIP" --phase "after checks" --out "$RSS" $(groups_of_active)
  load1() { cut -d' ' -f1 /proc/loadavg; }
  if [ "$WAIT_IDLE" -gt 0 ]; then
    waited=0
    while awk "BEGIN{exit !($(load1) >= 0.5)}" && [ "$waited" -lt "$WAIT_IDLE" ]; do
      [ "$waited" = 0 ] && log "load average $(load1): waiting up to ${WAIT_IDLE}s for a quieter machine"
      sleep 5; waited=$((waited + 5))
    done
  fi
  # shellcheck disable=SC2046
  IDLE_JSON=$($PY idle-cpu --seconds "$IDLE_SECONDS" $(groups_of_active))
  log "idle CPU (% of one core over ${IDLE_SECONDS} s, no queries): $IDLE_JSON"
  cells=0; secs=0
  for n in "${ACTIVE[@]}"; do for w in $WORKLOADS; do
    [ -n "${SKIP_OF[$n:$w]:-}" ] && continue
    cells=$((cells + 1)); case $w in latency-*) secs=$((secs + LAT_DURATION)) ;; *) secs=$((secs + DURATION)) ;; esac
  done; done
  log "load: $ROUNDS rounds x $cells (server, step) runs = $(( ROUNDS * secs )) s of dnsperf"
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  signed_metrics() {
    [ -n "$SIGNED_METRICS_URL" ] && [ -n "${PORT_OF[geosteer-signed]:-}" ] || return 0
    $PY dnssec-metrics "$SIGNED_METRICS_URL" 2>/dev/null || log "geosteer-signed: cannot read $SIGNED_METRICS_URL"
  }
  DNSSEC_BEFORE=$(signed_metrics)
  T1=$(date +%s)
  run_rounds
  if want geosteer-rrl && [ -d "$WORK/geosteer-zones" ]; then rrl_flood; fi
  LOAD_SECONDS=$(( $(date +%s) - T1 ))
  DNSSEC_AFTER=$(signed_metrics)
  # shellcheck disable=SC2046
  $PY rss --mapped "$GEOIP" --phase "after load" --out "$RSS" $(groups_of_active)
fi

# ------------------------------------------------------------------ report
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - T0 ))
MODE="full mode"; [ "$QUICK" = 1 ] && MODE="quick mode"; [ "$MEMORY" = 1 ] && MODE="memory mode"
GEOIP_SIZE=$(stat -c %s "$GEOIP")
memory_section() {
  [ -s "$RSS" ] || return 0
  echo "### Memory (VmRSS from /proc/PID/status, summed over each server's process group)"
  echo
  $PY rss-table "$RSS"
  echo
  echo "\"after checks\": every server started, answer checks done, before any load; \"after load\": after the last round. RssFile counts the pages of mapped files that were read (the binary, its libraries, a memory-mapped GeoIP database); RssAnon is the process's own heap and stacks; RssShmem is shared memory; \"GeoIP file resident\" is the part of RssFile that is pages of the GeoIP database (from /proc/PID/smaps; 0 for a server that does not keep it mapped: gdnsd compiles it into its own tree, NSD has none). For a server of several processes (NSD) the VmRSS sum counts shared pages once per process; PSS (the sum of Pss from /proc/PID/smaps_rollup) shares them out and is the fairer total there; it also divides the pages a process shares with any other one (libc, and the GeoIP file mapped by the other servers running at the same time), so for a single process VmRSS is the number to compare."
  if want geosteer || want geosteer-example; then
    echo
    echo "geosteer loaded \`$GEOIP\` ($GEOIP_NOTE; $(awk -v b="$GEOIP_SIZE" 'BEGIN{if (b >= 1048576) printf "%.1f MiB", b/1048576; else printf "%.1f KiB", b/1024}'); $GEOIP_DESC), memory-mapped. At load it walks every network of the database once for each load balancer that steers by location and compiles a merged prefix map (heap, in RssAnon), so the whole file has been read and counts in RssFile until the kernel needs the pages back."
    if want geosteer-example; then
      echo
      echo "geosteer-example is the repository's \`zones/\` with its monitor removed (no probes): \`geosteer check\` says: ${EXAMPLE_CHECK:-(not run)}."
    fi
  fi
}
{
  echo "## geosteer comparative benchmark"
  echo
  echo "- date: $START_TS; the run took ${ELAPSED} s, of which ${LOAD_SECONDS} s of load; $MODE"
  echo "- method: every server started at once, each on its own 127.0.0.1 port, all pinned to CPU $SERVER_CPU; then $ROUNDS round(s), each step in turn (six; the signed servers run three of their own), each server in turn (order rotated by one every round), one dnsperf run on CPU $CLIENT_CPU each (${DURATION} s; the latency step ${LAT_DURATION} s at $LAT_RATE qps); the tables give the median of the rounds"
  echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($NCPU CPUs)"
  echo "- kernel: $(uname -r); load average before the load: ${LOAD_BEFORE:-–}, after: $LOAD_AFTER"
  echo "- GeoIP database: $GEOIP_NOTE; $GEOIP_DESC; $GEOIP_SIZE bytes"
  echo "- geosteer: $( [ -n "$GEOSTEER" ] && { (cd "$REPO" && git describe --always --dirty 2>/dev/null) || echo "?"; } || echo "not run")"
  echo "- packages: dnsperf $(pkg_version dnsperf), gdnsd $(pkg_version gdnsd), knot $(pkg_version knot) + knot-module-geoip $(pkg_version knot-module-geoip), nsd $(pkg_version nsd), pdns-server $(pkg_version pdns-server) (+ backend-bind $(pkg_version pdns-backend-bind), backend-geoip $(pkg_version pdns-backend-geoip))"
  echo "- dnsperf: -c 4 -q 100 -T 1 -t 2 -l $DURATION; ECS queries from $(wc -l <"$Q/ecs-subnets.txt") distinct /24s (-B binary input); NXDOMAIN over $(wc -l <"$Q/nxdomain.txt") random names"
  if [ -n "$IDLE_JSON" ]; then
    echo "- idle servers: $(echo "$IDLE_JSON" | python3 -c "import json,sys; d=json.load(sys.stdin); print('CPU over ' + str(d['seconds']) + ' s with no queries, in % of one core: ' + ', '.join(f'{k} {v:.1f}' for k, v in d['servers'].items()) + f'; everything else on the machine {d[\"other\"]:.1f}')")"
  fi
  echo
  [ "$MEMORY" = 1 ] && { memory_section; echo; }
  echo "### QPS per server core: median of the rounds (min–max)"
  echo
  $PY pivot --order "$SERVERS" "$RESULTS"
  echo
  echo "⚠: disturbed, other CPU ≥ 10 % of one core in at least one round."
  echo
  RATIOS=""
  if want geosteer && [ ${#ACTIVE[@]} -gt 1 ]; then RATIOS=$($PY ratios --order "$SERVERS" "$RESULTS"); fi
  if [ -n "$RATIOS" ]; then
    echo "### geosteer ÷ each peer, round by round: median (min–max)"
    echo
    echo "$RATIOS"
    echo
    echo "Each ratio is geosteer's QPS per server core over the peer's in the same round (both runs fall within the same $(( ${#ACTIVE[@]} * DURATION )) s or so: one step of one round), so drift between rounds cancels out; 1.00 is level, above 1 geosteer answers more per core."
    echo
    if want udp-floor; then
      echo "udp-floor is not a DNS server: it is geosteer's UDP loop answering every query with the query itself (examples/udp_floor.rs), so its QPS per core is what the socket loop and the kernel allow with no DNS work at all. geosteer ÷ udp-floor is the share of that ceiling geosteer reaches; any peer's QPS per core over udp-floor's is the same for that peer."
      echo
    fi
  fi
  if grep -q '"server": "[a-z-]*-signed"' "$RESULTS"; then
    echo "### Signed zone: signed ÷ unsigned, round by round (QPS per server core)"
    echo
    $PY signed --order "$SERVERS" "$RESULTS"
    echo
    echo "Each ratio divides the first run's QPS per server core by the second's in the same round. The *-signed servers serve the same zone as their unsigned namesakes, DNSSEC-signed (one ECDSA P-256 combined signing key each; geosteer: compact denial; Knot: mod-onlinesign's NSEC black lies, signing every answer; PowerDNS GeoIP backend: live signing with its signature cache, NSEC3 narrow); udp-geo-ecs-do asks the geo-ECS questions with DO (answer: the steered A and its RRSIG; for geosteer from its signature cache, which holds the three steered RRsets after the first answers), udp-nxdomain-do asks $(wc -l <"$Q/nxdomain-cold.txt") random names with DO in turn (new names every round), more than geosteer's denial-signature cache holds, so every answer is a new NSEC signed on the query path: its QPS per core is the cold-cache signing rate. The answers were checked before the load (*Answer checks*: the RRSIGs and NSECs are there); tests/dnssec_serve.rs checks that they validate."
    echo
    if [ -n "$DNSSEC_AFTER" ]; then
      echo "geosteer-signed's signature caches after the load (from its /metrics; bytes count keys, signatures and a fixed per-entry overhead, and are bounded by --signature-cache-mib, default 32 MiB, plus a quarter for the denial cache; RSS is in the memory table):"
      echo
      $PY dnssec-report "$RESULTS" "$DNSSEC_BEFORE" "$DNSSEC_AFTER"
      echo
    fi
  fi
  if want geosteer-rrl; then
    echo "### Response rate limiting"
    echo
    echo "What RRL costs: geosteer-rrl is geosteer with \`--rrl-rate $RRL_COST_RATE\` (every response goes through the rate limiter's table; no client of the run reaches the rate, so nothing is limited). Its QPS per core over geosteer's, round by round (goal: at least 0.95):"
    echo
    python3 - "$RESULTS" <<'PYEOF'
import json, statistics, sys
per = {}
for line in open(sys.argv[1]):
    r = json.loads(line) if line.strip() else {}
    if r.get("qps_per_core"):
        per[(r["server"], r["workload"], r.get("round", 1))] = r["qps_per_core"]
print("| workload | geosteer-rrl ÷ geosteer: median (min–max) | ≥ 0.95 |")
print("|---|---:|---|")
for w in ["udp-static", "udp-geo-ecs", "udp-geo-noecs", "udp-nxdomain", "tcp-static"]:
    q = [per[("geosteer-rrl", w, r)] / per[("geosteer", w, r)] for (s, ww, r) in per
         if s == "geosteer" and ww == w and ("geosteer-rrl", w, r) in per]
    if q:
        m = statistics.median(q)
        print(f"| {w} | {m:.3f} ({min(q):.3f}–{max(q):.3f}) | {'met' if m >= 0.95 else 'not met'} |")
PYEOF
    echo
    if [ -s "$RRL_MD" ]; then
      echo "The flood step:"
      echo
      cat "$RRL_MD"
      echo
    fi
  fi
  if grep -q '"workload": "latency-' "$RESULTS"; then
    echo "### Latency at a fixed rate: $LAT_RATE qps offered, ECS queries (median of the rounds)"
    echo
    $PY latency --order "$SERVERS" "$RESULTS"
    echo
    echo "dnsperf -Q $LAT_RATE -v over the ECS query file, ${LAT_DURATION} s per run: a rate every server but PowerDNS LUA answers with CPU to spare, so this is the time a query spends in the server and its socket path, not queueing behind a saturated client. Percentiles are nearest-rank over every answered query of a run (dnsperf -v prints each one's latency; lost queries are not in them), then the median over the rounds; max is the largest of any round. The saturated steps' averages (All columns) mostly measure dnsperf's own queue."
    echo
  fi
  echo "### All columns (median of the rounds)"
  echo
  $PY table --order "$SERVERS" "$RESULTS"
  echo
  echo "QPS per server core = QPS ÷ (server CPU seconds ÷ run time): what one fully busy core would answer at this rate of work. Each column is the median over the rounds on its own (latency: median of the averages, and the largest maximum); lost is the total; responses and sizes come from the round with the median QPS per core. Spread = (max − min) ÷ median of QPS per core. Other CPU: median (largest) of the rest of the machine's user+system CPU during the runs, idle peers included; a cell is marked disturbed when a round had ≥ 10 %. dnsperf $(pkg_version dnsperf | cut -d- -f1) reports average/min/max latency and its standard deviation only (no percentiles)."
  if [ "$MEMORY" = 0 ]; then echo; memory_section; fi
  if [ -s "$SCOPES" ]; then
    echo
    echo "### ECS answers and scopes (dig +subnet, harperdb.example.com A)"
    echo
    echo "| server | 8.8.8.0/24 | 193.0.6.0/24 | 1.1.1.0/24 | 202.12.27.0/24 |"
    echo "|---|---|---|---|---|"
    cat "$SCOPES"
    echo
    echo "The database places these in: $($PY lookup "$GEOIP" 8.8.8.0 193.0.6.0 1.1.1.0 202.12.27.0 | python3 -c "import json,sys; print('; '.join(f\"{r['ip']}/24 {r['continent']} {r['country']} (network /{r['prefix']})\" for r in map(json.loads, sys.stdin)))")"
  fi
  echo
  echo "### Answer checks (dig) before loading"
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
