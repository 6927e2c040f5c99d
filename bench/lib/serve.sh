# Sourced by bench/records.sh, bench/run.sh and bench/scale.sh: waiting for a server's first
# answer, and NSD's configuration.

# Asks every 20 ms (bounded: SECONDS) until NAME A answers with records on 127.0.0.1:PORT,
# and prints when (ms since the epoch): one small process, as a dig per poll would take a
# core from the load. Fails when the time runs out or PID is gone (a negative PID: its
# process group).
wait_answer() { # port name seconds pid
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import os, socket, struct, sys, time
port, name, seconds, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
q = struct.pack(">HHHHHH", 0x5ca1, 0, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.02)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    s.sendto(q, ("127.0.0.1", port))
    try:
        while True:
            r = s.recv(4096)
            if r[:2] == q[:2] and r[3] & 0x0F == 0 and struct.unpack(">H", r[6:8])[0] > 0:
                print(time.time_ns() // 1_000_000)
                sys.exit(0)
    except (socket.timeout, ConnectionRefusedError):
        time.sleep(0.02)
sys.exit(1)
PY
}

# Writes DIR/nsd.conf: loopback only, one server process, NSD's state and log in DIR.
nsd_conf() { # dir port zonesdir zone zonefile
  cat >"$1/nsd.conf" <<EOF
# Loopback only, one server process. Debian's NSD has response rate limiting on
# (200 qps per source /24): off here, as it would cap a loopback benchmark.
server:
    ip-address: 127.0.0.1@$2
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$3"
    database: ""
    zonelistfile: "$1/zone.list"
    xfrdfile: "$1/xfrd.state"
    xfrdir: "$1"
    pidfile: "$1/nsd.pid"
    logfile: "$1/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    # Answer-only positive responses like the other servers (NSD adds the NS RRset
    # and glue by default: 86 bytes instead of 52 for static.example.com).
    minimal-responses: yes
    zonefiles-write: 0
remote-control:
    control-enable: no
zone:
    name: $4
    zonefile: $5
EOF
}
