#!/usr/bin/env bash
# Health probing under load: 10,000 monitored origins probed every 10 s while the server
# answers UDP queries, against the release binary.
#
# Reports how late scheduled probes start (p50/p99/max, from the server's own histogram,
# logged when it stops) and the query throughput with probing and without (the same zones
# with the monitors taken out of the pools).
#
# Every origin is a 127.100.x.y address on a port where nothing listens, so each probe is
# a real connect that the kernel refuses (tcp monitors) or a real reqwest request that fails
# to connect (http monitors); half the pools use each. No traffic leaves this machine.
#
# The server (one UDP socket; its workers and the probing thread) is pinned to CPU 0 and the
# load generator to CPU 1: unpinned, four busy threads on two CPUs land differently from run
# to run and the same configuration swings by ±30 %. Runs alternate (without, with, …) so
# that slow drift weighs on both; each pair gives a ratio, and the medians are reported.
#
# Also reported: the server's CPU time per answer in each run, and the CPU that probing takes
# with no queries at all.
#
#   bench/probe_load.sh [SECONDS_OF_LOAD_PER_RUN] [PAIRS]   (default 5 s, 5 pairs: ~85 s)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_OF_LOAD="${1:-5}"
PAIRS="${2:-5}"
IDLE_SECONDS=10
TARGET="${CARGO_TARGET_DIR:-target}"
ORIGINS=10000
PER_POOL=100
PORT=9 # discard: nothing listens on loopback

cargo build --release --quiet --bin geosteer --example udp_load
BIN="$TARGET/release/geosteer"
LOAD="$TARGET/release/examples/udp_load"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/with" "$WORK/without"
cat > "$WORK/with/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
EOF
cp "$WORK/with/bench.test.zone" "$WORK/without/"

python3 - "$WORK/with/bench.test.toml" "$ORIGINS" "$PER_POOL" "$PORT" <<'EOF'
import sys
path, origins, per_pool, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = [f'''
[monitors.tcp]
type = "tcp"
port = {port}
interval = "10s"
timeout = "2s"

[monitors.http]
type = "http"
port = {port}
path = "/health"
headers = {{ Host = "origin.bench.test" }}
interval = "10s"
timeout = "2s"

# The queried name answers from an unmonitored pool, so both runs answer alike.
[pools.live]
origins = [ {{ address = "127.0.0.1" }} ]

[load_balancers.www]
steering = "failover"
default_pools = ["live"]
''']
pools = []
for p in range(origins // per_pool):
    name = f"p{p:03d}"
    pools.append(name)
    monitor = "tcp" if p % 2 == 0 else "http"
    addrs = []
    for i in range(per_pool):
        k = p * per_pool + i
        addrs.append(f'{{ address = "127.100.{k // 250}.{k % 250 + 1}" }}')
    out.append(f'[pools.{name}]\nmonitor = "{monitor}"\norigins = [\n  ' + ",\n  ".join(addrs) + "\n]\n")
out.append('[load_balancers.probed]\nsteering = "failover"\ndefault_pools = [' +
           ", ".join(f'"{p}"' for p in pools) + ']\n')
open(path, "w").write("\n".join(out))
EOF
grep -v '^monitor = ' "$WORK/with/bench.test.toml" > "$WORK/without/bench.test.toml"

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  PIN_SERVER="taskset -c 0"
  PIN_LOAD="taskset -c 1"
else
  PIN_SERVER=""
  PIN_LOAD=""
fi

# CPU time (user + system, in clock ticks) a process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_S="$(getconf CLK_TCK)"

# run NAME ZONES_DIR: starts the server, loads it, stops it. Prints the answers per second
# and the server's CPU time per answer (which includes probing, when there is any).
run() {
  local name="$1" zones="$2" log="$WORK/$1.log"
  $PIN_SERVER "$BIN" serve --zones "$zones" --geoip "$WORK/none.mmdb" --listen 127.0.0.1:0 \
    --udp-sockets 1 >"$log" 2>&1 &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 1 600); do
    addr="$(sed -n 's/.*listening on \([0-9.:]*\) .*/\1/p' "$log" | head -n1)"
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "server did not start"; cat "$log"; exit 1; }
  local before after out answers
  before="$(cpu_ticks "$SERVER_PID")"
  out="$($PIN_LOAD "$LOAD" "$addr" www.bench.test. "$SECONDS_OF_LOAD" 1 64)"
  after="$(cpu_ticks "$SERVER_PID")"
  answers="$(echo "$out" | sed -n 's/.* = \([0-9]*\) qps.*/\1/p')"
  echo "$answers" >> "$WORK/qps-${name%-*}"
  case "$name" in
    without-*) BASE="$answers" ;;
    with-*) awk -v a="$answers" -v b="$BASE" 'BEGIN { print a / b }' >> "$WORK/ratio" ;;
  esac
  if [ "$name" = "with-$PAIRS" ]; then
    # Probing alone: the same server, no queries.
    local idle0 idle1
    idle0="$(cpu_ticks "$SERVER_PID")"
    sleep "$IDLE_SECONDS"
    idle1="$(cpu_ticks "$SERVER_PID")"
    PROBING_ALONE="$(awk -v t=$((idle1 - idle0)) -v hz="$TICKS_PER_S" -v s="$IDLE_SECONDS" \
      'BEGIN { printf "%.1f%% of one core", 100 * t / hz / s }')"
  fi
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
  awk -v n="$name" -v q="$answers" -v t=$((after - before)) -v hz="$TICKS_PER_S" \
    -v s="$SECONDS_OF_LOAD" -v o="$out" \
    'BEGIN { printf "[%s] %s; server CPU %.2f µs per answer\n", n, o, 1e6 * t / hz / (q * s) }'
  if grep -q 'first probe round done' "$log"; then
    echo "[$name] $(grep -o 'first probe round done in .*' "$log")"
    echo "[$name] $(grep -o 'health probing stopped: .*' "$log")"
    sed -n 's/.*lateness p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\1 \2 \3/p' "$log" \
      >> "$WORK/lateness"
  fi
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "10,000 origins ($((ORIGINS / PER_POOL)) pools, half tcp, half http monitors), interval 10 s;"
echo "$PAIRS pairs of runs with ${SECONDS_OF_LOAD} s of load each; $(nproc) cores"
for i in $(seq 1 "$PAIRS"); do
  run "without-$i" "$WORK/without"
  run "with-$i" "$WORK/with"
done
echo "pinning: server ${PIN_SERVER:-not pinned}, load ${PIN_LOAD:-not pinned}"
echo "median qps without probing: $(median "$WORK/qps-without"), with probing: $(median "$WORK/qps-with")"
echo "median ratio with/without (per pair): $(median "$WORK/ratio")"
echo "probe start lateness over the 'with' runs: median p50 $(cut -d' ' -f1 "$WORK/lateness" > "$WORK/l1"; median "$WORK/l1") ms, median p99 $(cut -d' ' -f2 "$WORK/lateness" > "$WORK/l2"; median "$WORK/l2") ms, worst max $(cut -d' ' -f3 "$WORK/lateness" | sort -n | tail -1) ms"
echo "probing 10,000 origins with no queries: $PROBING_ALONE"
