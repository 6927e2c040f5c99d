# Sourced by bench/run.sh and bench/xdp.sh: the zone every server serves, geosteer's steering
# of it, and Knot's configuration for it (mod-geoip on the continent, as the other servers
# steer). Uses the callers' $US, $EU, $AP, $STATIC and $GEOIP.

write_zone() { # file [extra line]
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

write_steering() { # file: harperdb steered by continent, for geosteer
  cat >"$1" <<EOF
# harperdb steered by continent; no monitors (the addresses are record data only).
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
}

knot_conf() { # dir listen log-level modules [xdp-listen]
  local d=$1 listen=$2 level=$3 modules=$4 xdp=${5:-}
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
# One UDP worker; ECS on (default off); no query log (no dnstap module).
# Other locations fall through to the zone's own harperdb A (us).
server:
    rundir: $d/run
    listen: $listen
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on
EOF
    if [ -n "$xdp" ]; then
      cat <<EOF
xdp:
    listen: $xdp
    udp: on
EOF
    fi
    cat <<EOF
log:
  - target: stderr
    any: $level
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
    module: $modules
EOF
  } >"$d/knot.conf"
}
