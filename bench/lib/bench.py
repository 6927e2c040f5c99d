#!/usr/bin/env python3
"""Helpers for bench/run.sh: GeoIP databases, dnsperf inputs, measured load steps and the
results table. Standard library only (Python 3.9+), so a fresh Debian machine needs nothing
from PyPI.

  bench.py geoip OUT.mmdb --networks N [--seed S]   synthetic GeoIP2-City database
  bench.py lookup DB IP...                          continent, country, prefix (JSON)
  bench.py clients DB QUERYDIR                      one ECS /24 per checked continent
  bench.py queries DIR [--count N] [--seed S]       dnsperf input files
  bench.py ecs-check DIR PORT [N]                   send N binary queries, check the ECS echo
  bench.py step ... -- DNSPERF ARGS                 one measured dnsperf run -> JSON line
  bench.py table RESULTS.jsonl                      the Markdown table (median of the rounds)
  bench.py pivot RESULTS.jsonl                      QPS per server core, workload x server
  bench.py ratios RESULTS.jsonl [--base geosteer]   base ÷ each peer, round by round
  bench.py signed RESULTS.jsonl                     signed (DO) ÷ unsigned, round by round
  bench.py dnssec-metrics URL                       geosteer's signature-cache metrics (JSON)
  bench.py dnssec-report RESULTS BEFORE AFTER       the signature cache and signing counts
  bench.py rss --phase P --out F NAME=PGID...       VmRSS of each server's process group
  bench.py rss-table RSS.jsonl                      the memory table
  bench.py idle-cpu [--seconds S] NAME=PGID...      CPU of idle servers (JSON)
  bench.py zone DIR [--records N] [--seed S]        a big zone, realistic mix; dnsperf inputs
  bench.py peak --pgid G --seconds S                highest VmRSS sum of a group (JSON)
  bench.py pcap-ecs FILE.pcap                       DNS IDs, answers and ECS in a capture
  bench.py spin --cpu N --seconds S [--delay D]     SCHED_IDLE spin rate on one CPU (JSON)
  bench.py xdp-table RESULTS.jsonl                  the XDP run's table (spin-measured busy)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import geodata  # noqa: E402
import mmdb  # noqa: E402

# --------------------------------------------------------------------------- GeoIP


def _record(cc: str, city: int, lat: float, lon: float) -> dict:
    iso, name, cont, _, _, tz, _ = next(c for c in geodata.COUNTRIES if c[0] == cc)
    cid, cname = geodata.CONTINENTS[cont]
    country = {
        "geoname_id": 1_000_000 + sum(ord(ch) << (8 * i) for i, ch in enumerate(iso)),
        "iso_code": iso,
        "names": {"en": name},
    }
    return {
        "city": {"geoname_id": 2_000_000 + city, "names": {"en": f"{name} city {city % 1000}"}},
        "continent": {"code": cont, "geoname_id": cid, "names": {"en": cname}},
        "country": country,
        "location": {
            "accuracy_radius": mmdb.U16(100),
            "latitude": round(lat, 4),
            "longitude": round(lon, 4),
            "time_zone": tz,
        },
        "registered_country": country,
    }


class _Cities:
    """A fixed set of cities per country (so records repeat, as in real data)."""

    PER_COUNTRY = 25

    def __init__(self, rng: random.Random):
        self.by_cc = {}
        for n, (cc, _, _, lat, lon, _, _) in enumerate(geodata.COUNTRIES):
            self.by_cc[cc] = [
                _record(
                    cc,
                    n * 1000 + i,
                    max(-89.0, min(89.0, lat + rng.uniform(-4, 4))),
                    ((lon + rng.uniform(-6, 6) + 180) % 360) - 180,
                )
                for i in range(self.PER_COUNTRY)
            ]
        self.countries_of = {}
        for cc, _, cont, _, _, _, w in geodata.COUNTRIES:
            self.countries_of.setdefault(cont, ([], []))
            self.countries_of[cont][0].append(cc)
            self.countries_of[cont][1].append(w)

    def pick(self, rng: random.Random, continent: str) -> dict:
        ccs, weights = self.countries_of[continent]
        cc = rng.choices(ccs, weights)[0]
        return rng.choice(self.by_cc[cc])


def _carve(leaves: dict, addr: int, plen: int):
    """Makes (addr, plen) a leaf of the partition `leaves` ({(addr, plen): record}).
    Returns the record it had, or None when it was not covered at all."""
    for p in range(plen, -1, -1):
        key = (addr >> (32 - p) << (32 - p) if p else 0, p)
        if key in leaves:
            rec = leaves.pop(key)
            a = key[0]
            for q in range(p, plen):
                bit = (addr >> (31 - q)) & 1
                sibling = a | ((1 - bit) << (31 - q))
                leaves[(sibling, q + 1)] = rec
                a |= bit << (31 - q)
            return rec
    # Not inside one leaf: drop every leaf inside the network.
    inside = [k for k in leaves if k[1] >= plen and (k[0] >> (32 - plen)) == (addr >> (32 - plen))]
    rec = leaves[inside[0]] if inside else None
    for k in inside:
        del leaves[k]
    return rec


def gen_geoip(out: str, networks: int, seed: int) -> None:
    rng = random.Random(seed)
    cities = _Cities(rng)
    rir_of = {o: rir for rir, l in geodata.RIR_SLASH8.items() for o in l}
    public = [o for o in range(1, 224) if o not in geodata.UNMAPPED_SLASH8]
    per8 = max(1, networks // len(public))
    leaves: dict = {}
    for o in public:
        mix = geodata.RIR_MIX[rir_of.get(o, "ARIN")]
        conts, weights = list(mix), list(mix.values())
        blocks = [(o << 24, 8)]
        splittable = [0]
        while len(blocks) < per8 and splittable:
            i = rng.randrange(len(splittable))
            bi = splittable[i]
            splittable[i] = splittable[-1]
            splittable.pop()
            a, p = blocks[bi]
            blocks[bi] = (a, p + 1)
            blocks.append((a | (1 << (31 - p)), p + 1))
            if p + 1 < 24:
                splittable.append(bi)
                splittable.append(len(blocks) - 1)
        for a, p in blocks:
            leaves[(a, p)] = cities.pick(rng, rng.choices(conts, weights)[0])
    for net in geodata.UNMAPPED_NETS:
        n = ipaddress.IPv4Network(net)
        _carve(leaves, int(n.network_address), n.prefixlen)
    for net, cc, lat, lon in geodata.ANCHORS:
        n = ipaddress.IPv4Network(net)
        _carve(leaves, int(n.network_address), n.prefixlen)
        leaves[(int(n.network_address), n.prefixlen)] = _record(cc, 999, lat, lon)
    w = mmdb.Writer(
        "GeoIP2-City",
        f"geosteer benchmark synthetic City database: {len(leaves)} IPv4 networks, seed {seed}",
    )
    for (a, p), rec in sorted(leaves.items()):
        w.insert_bits(a, 32, 96 + p, rec, v4=True)
    w.write(out)
    conts: dict = {}
    for rec in leaves.values():
        c = rec["continent"]["code"]
        conts[c] = conts.get(c, 0) + 1
    print(
        json.dumps(
            {"file": out, "networks": len(leaves), "nodes": len(w.nodes), "continents": conts}
        )
    )


def lookup(db: str, ips: list[str]) -> list[dict]:
    r = mmdb.Reader(db)
    out = []
    for ip in ips:
        rec, plen = r.lookup(ip)
        rec = rec or {}
        out.append(
            {
                "ip": ip,
                "continent": (rec.get("continent") or {}).get("code"),
                "country": (rec.get("country") or {}).get("iso_code"),
                "prefix": plen,
            }
        )
    return out


# The ECS clients whose answers are checked: one per steered region, well-known networks
# first; when the database places them elsewhere, the first query /24 that it places in
# the region is used instead.
CHECK_REGIONS = [
    ("NA", ["NA"], "8.8.8.0"),
    ("EU", ["EU"], "193.0.6.0"),
    ("AP", ["AS", "OC"], "202.12.27.0"),
]


def pick_clients(db: str, querydir: str) -> list[dict]:
    r = mmdb.Reader(db)
    with open(os.path.join(querydir, "ecs-subnets.txt")) as f:
        subnets = [line.split("/")[0] for line in f if line.strip()]
    out = []
    for region, continents, preferred in CHECK_REGIONS:
        chosen = None
        for ip in [preferred] + subnets:
            rec, _ = r.lookup(ip)
            cont = ((rec or {}).get("continent") or {}).get("code")
            if cont in continents:
                chosen = {"region": region, "subnet": f"{ip}/24", "continent": cont}
                break
        out.append(chosen or {"region": region, "subnet": None, "continent": None})
    return out


# --------------------------------------------------------------------------- queries

ZONE = "example.com"
STATIC = f"static.{ZONE}"
GEO = f"harperdb.{ZONE}"

# Public unicast space the ECS /24s are drawn from (first octet), skipping the ranges that no
# location database maps.
_FIRST_OCTETS = [o for o in range(1, 224) if o not in geodata.UNMAPPED_SLASH8]
_SKIP = [ipaddress.IPv4Network(n) for n in geodata.UNMAPPED_NETS]


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.rstrip(".").split(".")) + b"\0"


def ecs_query(name: str, subnet: ipaddress.IPv4Network, qid: int = 0, dnssec_ok: bool = False) -> bytes:
    """A query for `name` A with EDNS (UDP size 1232) and a Client Subnet option (RFC 7871):
    family 1, source prefix, scope 0, the address truncated to the prefix. RD is set, as
    dnsperf sets it in the queries it builds from text input. `dnssec_ok` sets the DO bit
    (RFC 3225), asking for RRSIGs."""
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1)
    question = _qname(name) + struct.pack(">HH", 1, 1)
    nbytes = (subnet.prefixlen + 7) // 8
    addr = subnet.network_address.packed[:nbytes]
    option = struct.pack(">HBB", 1, subnet.prefixlen, 0) + addr
    opt_rdata = struct.pack(">HH", 8, len(option)) + option
    flags = 0x8000 if dnssec_ok else 0
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, flags, len(opt_rdata)) + opt_rdata
    return header + question + opt


# Names for the cold signature-cache step: more than geosteer's denial cache holds (25,000
# entries by default), so that cycling through them every answer needs a new signature.
COLD_NAMES = 200_000


def gen_queries(outdir: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "static.txt"), "w") as f:
        f.write(f"{STATIC} A\n")
    with open(os.path.join(outdir, "geo-noecs.txt"), "w") as f:
        f.write(f"{GEO} A\n")
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    with open(os.path.join(outdir, "nxdomain.txt"), "w") as f:
        seen = set()
        while len(seen) < count:
            label = "nx" + "".join(rng.choice(letters) for _ in range(10))
            if label not in seen:
                seen.add(label)
                f.write(f"{label}.{ZONE} A\n")
    subnets = set()
    while len(subnets) < count:
        a = (rng.choice(_FIRST_OCTETS) << 24) | (rng.randrange(1 << 16) << 8)
        net = ipaddress.IPv4Network((a, 24))
        if any(net.subnet_of(s) for s in _SKIP):
            continue
        subnets.add(net)
    ordered = list(subnets)
    rng.shuffle(ordered)
    with open(os.path.join(outdir, "ecs-subnets.txt"), "w") as f:
        f.writelines(f"{n}\n" for n in ordered)
    with open(os.path.join(outdir, "geo-ecs.bin"), "wb") as f:
        for n in ordered:
            q = ecs_query(GEO, n)
            f.write(struct.pack(">H", len(q)) + q)
    # The same queries with DO set: a signed server answers each with the A RRset and its
    # RRSIG (one of the few distinct steered RRsets: a warm signature cache).
    with open(os.path.join(outdir, "geo-ecs-do.bin"), "wb") as f:
        for n in ordered:
            q = ecs_query(GEO, n, dnssec_ok=True)
            f.write(struct.pack(">H", len(q)) + q)
    # Its own generator, so that the files above stay as they were before it existed.
    crng = random.Random(seed + 1)
    with open(os.path.join(outdir, "nxdomain-cold.txt"), "w") as f:
        cold = set()
        while len(cold) < COLD_NAMES:
            label = "cold" + "".join(crng.choice(letters) for _ in range(10))
            if label not in cold:
                cold.add(label)
                f.write(f"{label}.{ZONE} A\n")
    print(
        json.dumps(
            {"dir": outdir, "ecs_subnets": len(ordered), "nxdomain_names": count, "cold_names": COLD_NAMES}
        )
    )


def _parse_response(resp: bytes):
    """(rcode, [A addresses], ECS (source, scope) or None) of a response."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", resp[:12])
    off = 12

    def skip_name(o):
        while True:
            ln = resp[o]
            if ln == 0:
                return o + 1
            if ln & 0xC0 == 0xC0:
                return o + 2
            o += 1 + ln

    for _ in range(qd):
        off = skip_name(off) + 4
    addrs, ecs, ext_rcode = [], None, 0
    for i in range(an + ns + ar):
        off = skip_name(off)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", resp[off : off + 10])
        off += 10
        rdata = resp[off : off + rdlen]
        off += rdlen
        if i < an and rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(rdata))
        if rtype == 41:
            ext_rcode = ttl >> 24
            o = 0
            while o + 4 <= len(rdata):
                code, ln = struct.unpack(">HH", rdata[o : o + 4])
                if code == 8 and ln >= 4:
                    _, src, scope = struct.unpack(">HBB", rdata[o + 4 : o + 8])
                    ecs = (src, scope)
                o += 4 + ln
    return (ext_rcode << 4) | (flags & 0xF), addrs, ecs


def ecs_check(querydir: str, port: int, n: int) -> int:
    """Sends the first n queries of geo-ecs.bin exactly as dnsperf would (bytes as written,
    ID replaced) and checks that each answer is NOERROR with an A record and echoes a Client
    Subnet option with the query's source prefix: proof that the binary file carries ECS."""
    with open(os.path.join(querydir, "geo-ecs.bin"), "rb") as f:
        blob = f.read()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    off, ok, bad, scopes = 0, 0, [], {}
    for i in range(n):
        if off >= len(blob):
            break
        (ln,) = struct.unpack(">H", blob[off : off + 2])
        q = bytearray(blob[off + 2 : off + 2 + ln])
        off += 2 + ln
        q[0:2] = struct.pack(">H", i + 1)
        s.sendto(bytes(q), ("127.0.0.1", port))
        try:
            resp, _ = s.recvfrom(4096)
        except socket.timeout:
            bad.append(f"query {i}: timeout")
            continue
        rcode, addrs, ecs = _parse_response(resp)
        if rcode == 0 and addrs and ecs and ecs[0] == 24:
            ok += 1
            scopes[ecs[1]] = scopes.get(ecs[1], 0) + 1
        else:
            bad.append(f"query {i}: rcode {rcode} answers {addrs} ecs {ecs}")
    scopes_txt = ", ".join(f"/{k}: {scopes[k]}" for k in sorted(scopes))
    print(json.dumps({"ok": ok, "bad": len(bad), "first_bad": bad[:3], "scopes": scopes_txt}))
    return 0 if ok and not bad else 1


def pcap_ecs(path: str, limit: int) -> None:
    """Prints the DNS messages of a classic pcap file (tcpdump -w, Ethernet/loopback, IPv4
    UDP): ID, flags, A answers and the ECS option (address, source, scope). Used to check
    that dnsperf -B sends the generated ECS options unchanged (tcpdump decodes DNS only on
    port 53)."""
    with open(path, "rb") as f:
        b = f.read()
    off, n = 24, 0
    while off + 16 <= len(b) and n < limit:
        incl = struct.unpack("<I", b[off + 8 : off + 12])[0]
        pkt = b[off + 16 : off + 16 + incl]
        off += 16 + incl
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        sport, dport = struct.unpack(">HH", udp[:4])
        dns = udp[8:]
        qid, flags = struct.unpack(">HH", dns[:4])
        rcode, addrs, ecs = _parse_response(dns)
        i = dns.find(b"\x00\x08\x00\x07\x00\x01")
        addr = socket.inet_ntoa(dns[i + 8 : i + 11] + b"\0") if i > 0 else None
        kind = "response" if flags & 0x8000 else "query"
        print(
            f"{sport}->{dport} {kind} id={qid} flags={flags:#06x} rcode={rcode} A={addrs} "
            + (f"ECS {addr}/{ecs[0]} scope /{ecs[1]}" if ecs else "no ECS")
        )
        n += 1


# --------------------------------------------------------------------------- load steps


def group_cpu_ticks(pgid: int) -> int:
    """utime + stime (clock ticks) of every live process in process group `pgid`: each
    server runs in its own group (setsid), so this covers worker processes (NSD) as well."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total


def machine_task_ticks() -> int:
    """user + nice + system ticks of all CPUs (/proc/stat): time spent by any task. The
    irq and softirq columns are left out: loopback packet processing lands there, and it
    belongs to neither the server nor the rest of the machine."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def _percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


# `dnsperf -v` prints one line per answered query: "> NOERROR name type 0.000123".
_PER_QUERY = re.compile(r"^> \S+ .* ([\d.]+)$")


def split_per_query(text: str):
    """(dnsperf's text without the per-query lines, their latencies in seconds, sorted)."""
    lat, keep = [], []
    for line in text.splitlines():
        m = _PER_QUERY.match(line)
        if m:
            lat.append(float(m.group(1)))
        else:
            keep.append(line)
    lat.sort()
    return "\n".join(keep) + "\n", lat


def parse_dnsperf(text: str, latencies=()) -> dict:
    def num(pattern, cast=float, default=None):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else default

    codes = re.search(r"Response codes:\s+(.*)", text)
    return {
        "sent": num(r"Queries sent:\s+(\d+)", int),
        "completed": num(r"Queries completed:\s+(\d+)", int),
        "lost": num(r"Queries lost:\s+(\d+)", int),
        "rcodes": codes.group(1).strip() if codes else "",
        "run_time": num(r"Run time \(s\):\s+([\d.]+)"),
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "lat_avg": num(r"Average Latency \(s\):\s+([\d.]+)"),
        "lat_min": num(r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)"),
        "lat_max": num(r"Average Latency \(s\):\s+[\d.]+ \(min [\d.]+, max ([\d.]+)"),
        "lat_sd": num(r"Latency StdDev \(s\):\s+([\d.]+)"),
        "req_bytes": num(r"Average packet size:\s+request (\d+)", int),
        "resp_bytes": num(r"Average packet size:\s+request \d+, response (\d+)", int),
        # Only with `dnsperf -v` (the fixed-rate latency step): percentiles of every answer.
        "lat_n": len(latencies) or None,
        "lat_p50": _percentile(latencies, 50),
        "lat_p99": _percentile(latencies, 99),
        "lat_p999": _percentile(latencies, 99.9),
    }


def spin(cpu: int, seconds: float, delay: float = 0.0) -> dict:
    """Counts loop iterations per second on `cpu` at SCHED_IDLE priority: the time the CPU
    has left over. Measured once with the machine quiet (the idle rate) and once during a
    load step, 1 − rate ÷ idle rate is how busy the CPU was with everything else, all of it:
    the server's threads, softirq and interrupt work, kernel threads such as threaded NAPI.
    /proc/stat cannot say that on this VM (250 Hz ticks, no IRQ time accounting)."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    time.sleep(delay)
    chunk, n = 10_000, 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(chunk):
            pass
        n += 1
        t = time.perf_counter()
        if t >= end:
            break
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"rate": n * chunk / (t - t0), "seconds": round(t - t0, 3), "cpu_s": ru.ru_utime + ru.ru_stime}


def pid_cpu_ticks(pids) -> int:
    """utime + stime (clock ticks) of the given tasks (e.g. NAPI kernel threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total


def runtime_ns(pgid, pids=()) -> int:
    """Time on CPU in nanoseconds (the scheduler's own count, /proc/PID/task/TID/schedstat) of
    every thread of the processes in group `pgid` and of the tasks `pids` (kernel threads):
    exact where the tick-based utime/stime are not, but without the interrupt and softirq
    work done for them while another task was current."""
    total = 0
    procs = list(pids)
    if pgid:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[2]) == pgid:
                procs.append(d)
    for pid in procs:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def netns_udp_in(ns: str):
    """(Udp InDatagrams, Udp6InDatagrams) of network namespace `ns`: datagrams the kernel's
    UDP stack delivered there (zero growth for queries an XDP program took)."""
    try:
        out = subprocess.run(
            ["ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/snmp6"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [ln.split() for ln in out.splitlines()]
    udp = [ln for ln in lines if ln and ln[0] == "Udp:"]
    v4 = int(udp[1][udp[0].index("InDatagrams")]) if len(udp) >= 2 else 0
    v6 = next((int(ln[1]) for ln in lines if ln and ln[0] == "Udp6InDatagrams"), 0)
    return v4 + v6


def step(args) -> int:
    tck = os.sysconf("SC_CLK_TCK")
    udp0 = netns_udp_in(args.udp_ns) if args.udp_ns else None
    kthreads = [k for k in (args.kthreads or "").split(",") if k]
    kt0 = pid_cpu_ticks(kthreads)
    rt0 = runtime_ns(args.pgid, kthreads)
    spinner = None
    if args.spin_cpu is not None:
        spinner = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "spin", "--cpu", str(args.spin_cpu),
             "--seconds", str(args.spin_seconds), "--delay", str(args.spin_delay)],
            stdout=subprocess.PIPE, text=True,
        )
    before = group_cpu_ticks(args.pgid)
    machine0 = machine_task_ticks()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    # dnsperf writes to a file, not a pipe: with -v (a line per answer) a pipe would wake this
    # process for every few hundred lines, on whichever CPU, and a full pipe would stall
    # dnsperf itself; either would show up as latency that is not the server's.
    outf = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(args.log)))
    p = subprocess.Popen(args.dnsperf, stdout=outf, stderr=subprocess.STDOUT)

    # Stopped (run.sh's cleanup sends TERM, a terminal's Ctrl-C sends INT): dnsperf goes too.
    def stop(signum, _frame):
        p.kill()
        p.wait()
        if spinner:
            spinner.kill()
            spinner.wait()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)
    killed = False
    try:
        p.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        killed = True
    outf.seek(0)
    out = outf.read()
    outf.close()
    if killed:
        out += f"\n(bench.py: killed after {args.timeout} s)\n".encode()
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = group_cpu_ticks(args.pgid)
    machine1 = machine_task_ticks()
    text, latencies = split_per_query(out.decode(errors="replace"))
    with open(args.log, "a") as f:
        f.write(f"### {args.server} / {args.workload}: {' '.join(args.dnsperf)}\n{text}\n")
    r = parse_dnsperf(text, latencies)
    r.update(
        {"server": args.server, "workload": args.workload, "round": args.round, "wall": round(wall, 3)}
    )
    server_s = (after - before) / tck
    run_time = r["run_time"] or wall
    r["server_cpu_s"] = server_s
    r["server_cpu_pct"] = 100.0 * server_s / run_time if run_time else None
    # dnsperf's own CPU (it is our waited-for child): did the client set the pace?
    client_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    r["client_cpu_pct"] = 100.0 * client_s / run_time if run_time else None
    # Everything else that ran meanwhile (other builds, ...), in % of one CPU: a measure of
    # how disturbed the step was.
    other_s = max(0.0, (machine1 - machine0) / tck - server_s - client_s)
    r["other_cpu_pct"] = 100.0 * other_s / run_time if run_time else None
    r["load1"] = float(open("/proc/loadavg").read().split()[0])
    busy = (r["server_cpu_pct"] or 0) / 100.0
    r["qps_per_core"] = r["qps"] / busy if r["qps"] and busy > 0 else None
    rt = (runtime_ns(args.pgid, kthreads) - rt0) / 1e9
    r["sched_cpu_pct"] = 100.0 * rt / run_time if run_time else None
    r["qps_per_core_sched"] = r["qps"] / (rt / run_time) if r["qps"] and rt > 0 and run_time else None
    # Kernel threads working for the servers (threaded NAPI) are neither the server process
    # nor "other" load.
    if kthreads:
        kt_s = (pid_cpu_ticks(kthreads) - kt0) / tck
        r["kthread_cpu_pct"] = 100.0 * kt_s / run_time if run_time else None
        if r["other_cpu_pct"] is not None and run_time:
            r["other_cpu_pct"] = max(0.0, r["other_cpu_pct"] - 100.0 * kt_s / run_time)
    if spinner:
        # Reaped only now, so that dnsperf's rusage above does not include it.
        out_s, _ = spinner.communicate(timeout=args.spin_seconds + args.spin_delay + 30)
        try:
            sp = json.loads(out_s)
            r["spin_rate"] = sp["rate"]
            # The spin loop's own CPU is not other load either.
            if r["other_cpu_pct"] is not None and run_time:
                r["other_cpu_pct"] = max(0.0, r["other_cpu_pct"] - 100.0 * sp["cpu_s"] / run_time)
            if args.spin_idle:
                core = max(0.0, min(1.0, 1.0 - sp["rate"] / args.spin_idle))
                r["core_busy_pct"] = 100.0 * core
                r["qps_per_core_spin"] = r["qps"] / core if r["qps"] and core > 0 else None
        except (ValueError, KeyError):
            pass
    if udp0 is not None:
        udp1 = netns_udp_in(args.udp_ns)
        if udp1 is not None:
            r["kernel_udp_in"] = udp1 - udp0
    with open(args.out, "a") as f:
        f.write(json.dumps(r) + "\n")
    ok = r["qps"] is not None and p.returncode == 0
    print(
        f"  round {args.round}  {args.server:<16} {args.workload:<14} "
        + (
            f"{r['qps']:>10.0f} qps  lost {r['lost']}  server CPU {r['server_cpu_pct']:.0f}%"
            + (f"  core busy {r['core_busy_pct']:.0f}%" if "core_busy_pct" in r else "")
            + f"  other CPU {r['other_cpu_pct']:.0f}%"
            if ok
            else "dnsperf failed (see log)"
        )
    )
    return 0 if ok else 1


def _fmt(v, spec, default="–"):
    return default if v is None else format(v, spec)


def _median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


WORKLOAD_ORDER = [
    "all",
    "udp-static",
    "udp-geo-ecs",
    "udp-geo-noecs",
    "udp-nxdomain",
    "tcp-static",
    "udp-geo-ecs-do",
    "udp-nxdomain-do",
    "rate-geo-ecs",
    "latency-geo-ecs",
]


def is_latency(workload: str) -> bool:
    """A fixed-rate step: its QPS is the offered rate, so QPS per core says little there."""
    return workload.startswith("latency-")


def _groups(rows, order=()):
    """Rows grouped by (server, workload): servers in `order` (the order they were asked
    for), then any others by first appearance; workloads in the order of the steps."""
    servers, groups = [s for s in order if any(r["server"] == s for r in rows)], {}
    for r in rows:
        if r["server"] not in servers:
            servers.append(r["server"])
        groups.setdefault((r["server"], r["workload"]), []).append(r)

    def rank(w):
        return WORKLOAD_ORDER.index(w) if w in WORKLOAD_ORDER else len(WORKLOAD_ORDER)

    keys = sorted(groups, key=lambda k: (servers.index(k[0]), rank(k[1]), k[1]))
    return [(k, groups[k]) for k in keys]


def summarize(runs, disturbed_pct):
    """The median over rounds of one (server, workload) cell, its spread and its flags."""
    ok = [r for r in runs if r.get("qps") is not None]
    per_core = [r["qps_per_core"] for r in ok if r.get("qps_per_core")]
    # The round whose QPS per core is the median one supplies the text fields (responses).
    mid = None
    if ok:
        med = _median(per_core) if per_core else None
        mid = min(ok, key=lambda r: abs((r.get("qps_per_core") or 0) - (med or 0)))
    others = [r.get("other_cpu_pct") for r in ok if r.get("other_cpu_pct") is not None]
    return {
        "rounds": len(runs),
        "ok": len(ok),
        "qps": _median([r.get("qps") for r in ok]),
        "lat_avg": _median([r.get("lat_avg") for r in ok]),
        "lat_max": max((r["lat_max"] for r in ok if r.get("lat_max") is not None), default=None),
        "lost": sum(r.get("lost") or 0 for r in ok),
        "sent": sum(r.get("sent") or 0 for r in ok),
        "rcodes": (mid or {}).get("rcodes") or "",
        "req_bytes": (mid or {}).get("req_bytes"),
        "resp_bytes": (mid or {}).get("resp_bytes"),
        "server_cpu_pct": _median([r.get("server_cpu_pct") for r in ok]),
        "client_cpu_pct": _median([r.get("client_cpu_pct") for r in ok]),
        "other_cpu_pct": _median(others),
        "other_cpu_max": max(others, default=None),
        "disturbed": sum(1 for o in others if o >= disturbed_pct),
        "qps_per_core": _median(per_core),
        "per_core_min": min(per_core, default=None),
        "per_core_max": max(per_core, default=None),
    }


def table(path: str, disturbed_pct: float, order=()) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print(
        "| server | workload | QPS | avg latency ms (max) | lost | responses | bytes q/r "
        "| server CPU % | dnsperf CPU % | other CPU % (max) | QPS per server core "
        "| per core min–max (spread) | rounds |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (server, workload), runs in _groups(rows, order):
        skipped = [r for r in runs if r.get("skipped")]
        if skipped:
            why = skipped[0]["skipped"].replace("|", "/")
            if len(why) > 200:
                why = why[:200] + "… (the answer checks below have it all)"
            print(f"| {server} | {workload} | skipped: {why} ||||||||||| ")
            continue
        s = summarize(runs, disturbed_pct)
        if not s["ok"]:
            print(f"| {server} | {workload} | dnsperf failed in all {s['rounds']} rounds ||||||||||| ")
            continue
        lat = (
            f"{s['lat_avg'] * 1000:.3f} ({s['lat_max'] * 1000:.1f})"
            if s["lat_avg"] is not None and s["lat_max"] is not None
            else "–"
        )
        rcodes = re.sub(r"(\w+) \d+ \(([\d.]+)%\)", r"\1 \2%", s["rcodes"]) or "–"
        lost_s = f"{s['lost']}"
        if s["lost"] and s["sent"]:
            lost_s += f" ({100.0 * s['lost'] / s['sent']:.2f}%)"
        other = f"{_fmt(s['other_cpu_pct'], '.0f')} ({_fmt(s['other_cpu_max'], '.0f')})"
        if s["disturbed"]:
            other += f" ⚠ disturbed in {s['disturbed']}"
        spread = "–"
        if s["per_core_min"] is not None and s["qps_per_core"]:
            spread = (
                f"{s['per_core_min']:,.0f}–{s['per_core_max']:,.0f} "
                f"({100.0 * (s['per_core_max'] - s['per_core_min']) / s['qps_per_core']:.0f}%)"
            )
        rounds = f"{s['ok']}" if s["ok"] == s["rounds"] else f"{s['ok']} of {s['rounds']}"
        print(
            f"| {server} | {workload} | {_fmt(s['qps'], ',.0f')} | {lat} "
            f"| {lost_s} | {rcodes} "
            f"| {_fmt(s['req_bytes'], 'd')}/{_fmt(s['resp_bytes'], 'd')} "
            f"| {_fmt(s['server_cpu_pct'], '.0f')} "
            f"| {_fmt(s['client_cpu_pct'], '.0f')} | {other} "
            f"| {_fmt(s['qps_per_core'], ',.0f')} | {spread} | {rounds} |"
        )


def pivot(path: str, disturbed_pct: float, order=(), metric: str = "qps_per_core") -> None:
    """QPS per server core, median of the rounds: one row per workload, one column per
    server (the comparison at a glance). `metric` picks the per-core figure (the XDP run
    uses the spin-measured one)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if metric != "qps_per_core":
        for r in rows:
            r["qps_per_core"] = r.get(metric)
    servers, workloads, cell = [], [], {}
    for (server, workload), runs in _groups(rows, order):
        if server not in servers:
            servers.append(server)
        if workload != "all" and not is_latency(workload) and workload not in workloads:
            workloads.append(workload)
        if any(r.get("skipped") for r in runs):
            cell[(server, workload)] = "–"
            continue
        s = summarize(runs, disturbed_pct)
        if s["qps_per_core"] is None:
            cell[(server, workload)] = "–"
            continue
        txt = f"{s['qps_per_core'] / 1000:.0f}k"
        if s["per_core_min"] is not None:
            txt += f" ({s['per_core_min'] / 1000:.0f}–{s['per_core_max'] / 1000:.0f})"
        if s["disturbed"]:
            txt += " ⚠"
        cell[(server, workload)] = txt
    if not workloads:
        return
    print("| workload | " + " | ".join(servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for w in workloads:
        print(
            f"| {w} | "
            + " | ".join(cell.get((s, w), cell.get((s, "all"), "–")) for s in servers)
            + " |"
        )


def ratios(path: str, base: str, order=(), metric: str = "qps_per_core") -> None:
    """`base` (geosteer) against each other server, round by round: QPS per core of base ÷
    that of the peer in the same round (the two ran within the same half minute), then the
    median and range of those ratios. Drift between rounds cancels out of each ratio."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    per = {}
    for r in rows:
        if r.get(metric):
            per[(r["server"], r["workload"], r.get("round", 1))] = r[metric]
    # The signed servers have a table of their own (signed_table).
    servers = [
        s
        for s in dict.fromkeys(k[0] for k, _ in _groups(rows, order))
        if s != base and not (s.endswith("-signed") and not base.endswith("-signed"))
    ]
    workloads = [w for w in WORKLOAD_ORDER if w != "all" and not is_latency(w)]
    cells, any_cell = {}, False
    for w in workloads:
        for peer in servers:
            q = [
                per[(base, w, rnd)] / per[(peer, w, rnd)]
                for (srv, ww, rnd) in per
                if srv == base and ww == w and (peer, w, rnd) in per
            ]
            if q:
                any_cell = True
                cells[(w, peer)] = f"{_median(q):.2f} ({min(q):.2f}–{max(q):.2f})"
    if not any_cell:
        return
    print("| workload | " + " | ".join(f"{base} ÷ {p}" for p in servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for w in workloads:
        if any((w, p) in cells for p in servers):
            print(f"| {w} | " + " | ".join(cells.get((w, p), "–") for p in servers) + " |")


def signed_table(path: str, order=(), metric: str = "qps_per_core") -> None:
    """Signed against unsigned, round by round, for each server run twice (NAME serving the
    zone unsigned, NAME-signed serving it signed): the signed server's QPS per core on a step
    over the unsigned one's on the matching step of the same round, then the median and range
    of those ratios; and geosteer-signed over each other signed server on the DO steps."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    per = {}
    for r in rows:
        if r.get(metric):
            per[(r["server"], r["workload"], r.get("round", 1))] = r[metric]
    servers = list(dict.fromkeys(k[0] for k, _ in _groups(rows, order)))
    signed = [s for s in servers if s.endswith("-signed")]
    pairs = []
    for s in signed:
        base = s[: -len("-signed")]
        pairs += [
            (s, "udp-geo-ecs-do", base, "udp-geo-ecs", "signed geo-ECS answers (DO, warm cache) ÷ unsigned"),
            (s, "udp-geo-ecs", base, "udp-geo-ecs", "signed zone, queries without DO ÷ unsigned"),
            (s, "udp-nxdomain-do", base, "udp-nxdomain", "a new NSEC signed per answer (cold cache) ÷ unsigned NXDOMAIN"),
        ]
    if "geosteer-signed" in signed:
        for peer in signed:
            if peer != "geosteer-signed":
                for w in ("udp-geo-ecs-do", "udp-nxdomain-do"):
                    pairs.append(("geosteer-signed", w, peer, w, "geosteer ÷ peer, both signed"))
    lines = []
    for a, wa, b, wb, what in pairs:
        rounds = sorted({k[2] for k in per if k[0] == a and k[1] == wa} & {k[2] for k in per if k[0] == b and k[1] == wb})
        if not rounds:
            continue
        q = [per[(a, wa, r)] / per[(b, wb, r)] for r in rounds]
        na = _median([per[(a, wa, r)] for r in rounds])
        nb = _median([per[(b, wb, r)] for r in rounds])
        lines.append(
            f"| {a} {wa} ÷ {b} {wb} | {what} | {na / 1000:.0f}k | {nb / 1000:.0f}k "
            f"| **{_median(q):.2f}** ({min(q):.2f}–{max(q):.2f}) | {len(q)} |"
        )
    if not lines:
        return
    print("| comparison | what | QPS per core, first | QPS per core, second | ratio: median (min–max) | rounds |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(lines))


def dnssec_metrics(url: str) -> dict:
    """geosteer's DNSSEC figures from its /metrics endpoint: signature-cache entries, bytes and
    bounds per cache, evictions, and the RRsets signed while answering."""
    import urllib.request

    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("geosteer_dnssec_"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def dnssec_report(results: str, before: dict, after: dict, server: str = "geosteer-signed") -> None:
    """The signature cache after the load (entries, bytes against the bounds, evictions) and
    the signatures made during it, against the answers of the cold step (each of which needs
    one new signature if the cache is cold for it)."""
    rows = [json.loads(line) for line in open(results) if line.strip()]

    def m(d, name, cache=None):
        key = name + (f'{{cache="{cache}"}}' if cache else "")
        return d.get(key)

    print("| signature cache | entries | bytes | bound: entries | bound: bytes | evictions during the load |")
    print("|---|---:|---:|---:|---:|---:|")
    for cache in ("answers", "denial"):
        ev0 = m(before, "geosteer_dnssec_cache_evictions_total", cache) or 0
        ev1 = m(after, "geosteer_dnssec_cache_evictions_total", cache)
        print(
            f"| {cache} | {_fmt(m(after, 'geosteer_dnssec_cache_entries', cache), ',.0f')} "
            f"| {_fmt(m(after, 'geosteer_dnssec_cache_bytes', cache), ',.0f')} "
            f"| {_fmt(m(after, 'geosteer_dnssec_cache_max_entries', cache), ',.0f')} "
            f"| {_fmt(m(after, 'geosteer_dnssec_cache_max_bytes', cache), ',.0f')} "
            f"| {_fmt(None if ev1 is None else ev1 - ev0, ',.0f')} |"
        )
    sig0 = m(before, "geosteer_dnssec_online_signatures_total") or 0
    sig1 = m(after, "geosteer_dnssec_online_signatures_total")
    cold = [r for r in rows if r.get("server") == server and r.get("workload") == "udp-nxdomain-do" and r.get("sent")]
    answered = sum((r.get("sent") or 0) - (r.get("lost") or 0) for r in cold)
    warm = [r for r in rows if r.get("server") == server and r.get("workload") == "udp-geo-ecs-do" and r.get("sent")]
    warm_answered = sum((r.get("sent") or 0) - (r.get("lost") or 0) for r in warm)
    print()
    if sig1 is None:
        print(f"{server}'s /metrics gave no signature counter.")
        return
    made = sig1 - sig0
    line = (
        f"RRsets signed while answering during the load: {made:,.0f}; answers in the cold step "
        f"(udp-nxdomain-do, all rounds): {answered:,}"
    )
    if answered:
        line += f" (signatures ÷ cold answers = {made / answered:.3f})"
    line += f"; answers in the warm step (udp-geo-ecs-do): {warm_answered:,}."
    print(line)


def latency_table(path: str, order=()) -> None:
    """The fixed-rate steps: latency percentiles of every answer (dnsperf -v), the median of
    the rounds for each column, and the largest maximum."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    lines = []
    for (server, workload), runs in _groups(rows, order):
        if not is_latency(workload):
            continue
        skipped = [r for r in runs if r.get("skipped")]
        if skipped:
            lines.append(f"| {server} | {workload} | skipped: {skipped[0]['skipped'].replace('|', '/')[:160]} ||||||||| ")
            continue
        ok = [r for r in runs if r.get("qps") is not None and r.get("lat_n")]
        if not ok:
            lines.append(f"| {server} | {workload} | no answers in {len(runs)} rounds ||||||||| ")
            continue

        def ms(key):
            v = _median([r.get(key) for r in ok])
            return "–" if v is None else f"{v * 1000:.3f}"

        lost = sum(r.get("lost") or 0 for r in ok)
        sent = sum(r.get("sent") or 0 for r in ok)
        lost_s = f"{lost}" + (f" ({100.0 * lost / sent:.2f}%)" if lost and sent else "")
        mx = max((r["lat_max"] for r in ok if r.get("lat_max") is not None), default=None)
        lines.append(
            f"| {server} | {workload} | {_fmt(_median([r.get('qps') for r in ok]), ',.0f')} "
            f"| {lost_s} | {ms('lat_avg')} | {ms('lat_p50')} | {ms('lat_p99')} | {ms('lat_p999')} "
            f"| {'–' if mx is None else f'{mx * 1000:.1f}'} "
            f"| {_fmt(_median([r.get('server_cpu_pct') for r in ok]), '.0f')} | {len(ok)} |"
        )
    if not lines:
        return
    print(
        "| server | workload | answered QPS | lost | avg ms | p50 ms | p99 ms | p99.9 ms "
        "| max ms | server CPU % | rounds |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


def xdp_table(path: str, order=()) -> None:
    """The XDP run: per (server, step), the median over the rounds of QPS, the server core's
    busy share by the spin measure, QPS per core from it, the server's own process CPU, and
    how many datagrams the kernel's UDP stack delivered per answer (1 on sockets, 0 when
    the XDP program took the queries)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print(
        "| server | step | QPS | lost | server core busy % (spin) | QPS per server core "
        "(spin) | per core min–max | server process CPU % | server + NAPI threads CPU % "
        "(schedstat) | QPS per core (schedstat) | dnsperf CPU % "
        "| kernel UDP datagrams per answer | rounds |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (server, workload), runs in _groups(rows, order):
        skipped = [r for r in runs if r.get("skipped")]
        if skipped:
            print(f"| {server} | {workload} | skipped: {skipped[0]['skipped'].replace('|', '/')[:200]} |||||||||||")
            continue
        ok = [r for r in runs if r.get("qps") is not None]
        if not ok:
            print(f"| {server} | {workload} | dnsperf failed in all {len(runs)} rounds |||||||||||")
            continue
        per = [r["qps_per_core_spin"] for r in ok if r.get("qps_per_core_spin")]
        lost = sum(r.get("lost") or 0 for r in ok)
        sent = sum(r.get("sent") or 0 for r in ok)
        lost_s = f"{lost}" + (f" ({100.0 * lost / sent:.2f}%)" if lost and sent else "")
        answers = [
            r["kernel_udp_in"] / r["completed"]
            for r in ok
            if r.get("kernel_udp_in") is not None and r.get("completed")
        ]
        span = f"{min(per):,.0f}–{max(per):,.0f}" if per else "–"
        print(
            f"| {server} | {workload} | {_fmt(_median([r.get('qps') for r in ok]), ',.0f')} "
            f"| {lost_s} | {_fmt(_median([r.get('core_busy_pct') for r in ok]), '.0f')} "
            f"| {_fmt(_median(per), ',.0f')} | {span} "
            f"| {_fmt(_median([r.get('server_cpu_pct') for r in ok]), '.0f')} "
            f"| {_fmt(_median([r.get('sched_cpu_pct') for r in ok]), '.0f')} "
            f"| {_fmt(_median([r.get('qps_per_core_sched') for r in ok]), ',.0f')} "
            f"| {_fmt(_median([r.get('client_cpu_pct') for r in ok]), '.0f')} "
            f"| {_fmt(_median(answers), '.2f')} | {len(ok)} |"
        )


# --------------------------------------------------------------------------- memory


def _status_kb(pid: str, field: str):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def group_pids(pgid: int) -> list[str]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[2]) == pgid:
            out.append(d)
    return sorted(out, key=int)


def _pss_kb(pid: str):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _mapped_rss_kb(pid: str, path: str) -> int:
    """Resident kB of the mappings of `path` in /proc/PID/smaps."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    inside = line.rstrip("\n").endswith(" " + path)
                elif inside and first == "Rss:":
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def rss(pgid: int, mapped: str = "") -> dict:
    """VmRSS (and its RssAnon/RssFile/RssShmem parts) from /proc/PID/status, summed over the
    processes of the group that have memory (the setsid/taskset wrappers exec into the
    server, so a group is the server and any children it forks, as NSD does). A sum of
    VmRSS counts pages shared between those processes once per process, so the sum of their
    Pss (/proc/PID/smaps_rollup: each shared page divided among its sharers) is kept too."""
    total = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "RssShmem": 0, "Pss": 0}
    procs = []
    for pid in group_pids(pgid):
        v = _status_kb(pid, "VmRSS")
        if v is None:  # kernel threads and zombies have none
            continue
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            comm = "?"
        procs.append(comm)
        for k in total:
            total[k] += (_pss_kb(pid) if k == "Pss" else _status_kb(pid, k)) or 0
        if mapped:
            total["MappedFile"] = total.get("MappedFile", 0) + _mapped_rss_kb(pid, mapped)
    return {"processes": procs, **total}


def rss_table(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    phases, servers, by = [], [], {}
    for r in rows:
        if r["phase"] not in phases:
            phases.append(r["phase"])
        if r["server"] not in servers:
            servers.append(r["server"])
        by[(r["server"], r["phase"])] = r
    last = phases[-1] if phases else None
    print(
        "| server | processes | "
        + " | ".join(f"VmRSS {p}" for p in phases)
        + f" | of which anon / file / shmem ({last}) | GeoIP file resident ({last}) "
        f"| PSS ({last}) |"
    )
    print("|---|---|" + "---:|" * len(phases) + "---:|---:|---:|")
    for s in servers:
        cells = []
        for p in phases:
            r = by.get((s, p))
            cells.append("–" if r is None or not r["processes"] else f"{r['VmRSS'] / 1024:.1f} MiB")
        r = by.get((s, last)) or next(by[(s, p)] for p in phases if (s, p) in by)
        if not r["processes"]:
            r = next((by[(s, p)] for p in phases if (s, p) in by and by[(s, p)]["processes"]), r)
        procs = ", ".join(r["processes"]) or "(exited)"
        print(
            f"| {s} | {procs} | " + " | ".join(cells)
            + f" | {r['RssAnon'] / 1024:.1f} / {r['RssFile'] / 1024:.1f} / "
            f"{r['RssShmem'] / 1024:.1f} MiB "
            f"| {'–' if 'MappedFile' not in r else format(r['MappedFile'] / 1024, '.1f') + ' MiB'} "
            f"| {r.get('Pss', 0) / 1024:.1f} MiB |"
        )


def idle_cpu(seconds: float, groups: list[str]) -> None:
    """CPU used by each server (name=pgid) while nothing queries it, in % of one core, and
    by everything else on the machine: idle servers must not disturb the measured one."""
    tck = os.sysconf("SC_CLK_TCK")
    pg = {g.split("=")[0]: int(g.split("=")[1]) for g in groups}
    before = {n: group_cpu_ticks(p) for n, p in pg.items()}
    m0 = machine_task_ticks()
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    after = {n: group_cpu_ticks(p) for n, p in pg.items()}
    m1 = machine_task_ticks()
    used = {n: (after[n] - before[n]) / tck for n in pg}
    other = max(0.0, (m1 - m0) / tck - sum(used.values()))
    print(
        json.dumps(
            {
                "seconds": round(wall, 2),
                "servers": {n: round(100.0 * u / wall, 2) for n, u in used.items()},
                "other": round(100.0 * other / wall, 2),
            }
        )
    )


# --------------------------------------------------------------------------- big zone


def gen_zone(outdir: str, origin: str, records: int, seed: int, queries: int) -> dict:
    """A zone of about `records` records with a realistic mix, seeded: hosts with A (some
    with two), AAAA (some dual-stack), CNAMEs to hosts, MX pairs, TXT (SPF- and
    verification-like strings), and delegations (two NS and their glue A each). Names are
    one or two labels under the apex (`<name>.<group>`: a few thousand empty non-terminals
    as in a real zone). Addresses are documentation ranges only (RFC 5737, RFC 3849): the
    zone is data, never a target. Writes `<origin>zone`, `positive.txt` (dnsperf input:
    `queries` names that exist, with the type asked) and `nxdomain.txt` (as many names that
    do not); returns the counts by type."""
    rnd = random.Random(seed)
    origin = origin.rstrip(".") + "."
    counts = {"SOA": 1, "NS": 2, "A": 2, "AAAA": 0, "CNAME": 0, "MX": 0, "TXT": 0}
    delegations = 0
    positive = []
    hosts = []
    words = ["www", "api", "mail", "cdn", "shop", "app", "img", "static", "vpn", "git", "db",
             "auth", "portal", "m", "blog", "dev", "stage", "edge", "node", "srv"]
    groups = [f"{rnd.choice(words)}{g}" for g in range(4000)]
    path = os.path.join(outdir, origin + "zone")
    n = 5
    i = 0
    with open(path, "w") as f:
        f.write(f"$ORIGIN {origin}\n$TTL 3600\n")
        f.write(f"@ IN SOA ns1 hostmaster 2026120201 7200 3600 1209600 300\n")
        f.write("@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n")
        while n < records:
            i += 1
            label = f"{rnd.choice(words)}-{i}"
            name = label if rnd.random() < 0.6 else f"{label}.{rnd.choice(groups)}"
            r = rnd.random()
            if r < 0.40:
                k = 1 if rnd.random() < 0.8 else 2
                for _ in range(k):
                    f.write(f"{name} IN A {rnd.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rnd.randrange(1, 255)}\n")
                counts["A"] += k
                n += k
                hosts.append(name)
                positive.append((name, "A"))
            elif r < 0.55:
                f.write(f"{name} 300 IN AAAA 2001:db8:{rnd.randrange(65536):x}::{rnd.randrange(1, 65536):x}\n")
                counts["AAAA"] += 1
                n += 1
                if rnd.random() < 0.5:
                    f.write(f"{name} 300 IN A 198.51.100.{rnd.randrange(1, 255)}\n")
                    counts["A"] += 1
                    n += 1
                    hosts.append(name)
                positive.append((name, "AAAA"))
            elif r < 0.70 and hosts:
                f.write(f"{name} IN CNAME {rnd.choice(hosts)}\n")
                counts["CNAME"] += 1
                n += 1
                positive.append((name, "A"))
            elif r < 0.78 and hosts:
                f.write(f"{name} IN MX 10 {rnd.choice(hosts)}\n{name} IN MX 20 {rnd.choice(hosts)}\n")
                counts["MX"] += 2
                n += 2
                positive.append((name, "MX"))
            elif r < 0.90:
                txt = (f'"v=spf1 ip4:192.0.2.{rnd.randrange(256)}/32 include:_spf.{origin} ~all"'
                       if rnd.random() < 0.5 else
                       f'"site-verification={rnd.getrandbits(128):032x}"')
                f.write(f"{name} IN TXT {txt}\n")
                counts["TXT"] += 1
                n += 1
                positive.append((name, "TXT"))
            else:
                delegations += 1
                f.write(f"{label} 86400 IN NS ns1.{label}\n{label} 86400 IN NS ns2.{label}\n")
                f.write(f"ns1.{label} 86400 IN A 192.0.2.{rnd.randrange(1, 255)}\n")
                f.write(f"ns2.{label} 86400 IN A 198.51.100.{rnd.randrange(1, 255)}\n")
                counts["NS"] += 2
                counts["A"] += 2
                n += 4
                positive.append((f"www.{label}", "A"))
    sample = rnd.sample(positive, min(queries, len(positive)))
    with open(os.path.join(outdir, "positive.txt"), "w") as f:
        for name, t in sample:
            f.write(f"{name}.{origin} {t}\n")
    with open(os.path.join(outdir, "nxdomain.txt"), "w") as f:
        for _ in range(queries):
            f.write(f"nx{rnd.getrandbits(40):x}.{rnd.choice(groups)}.{origin} A\n")
    return {"file": path, "records": n, "delegations": delegations, "by_type": counts,
            "last": f"{positive[-1][0]}.{origin}" if positive else origin}


def qps_cell(path: str, server: str, workload: str) -> str:
    """The last step of `server`/`workload` in a results file, as a table cell."""
    cell = "–"
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("server") == server and r.get("workload") == workload and r.get("qps_per_core"):
                cell = (f"{r['qps_per_core'] / 1000:.0f}k ({r['qps'] / 1000:.0f}k at "
                        f"{r['server_cpu_pct']:.0f} % CPU)")
    return cell


def sample_peak(pgid: int, seconds: float, interval: float = 0.02) -> dict:
    """The highest VmRSS sum over the process group seen while sampling every `interval`
    seconds for `seconds` (stops early when the group is gone). Each new peak is printed as
    it is seen (a JSON line), so that a sampler stopped early has said its last."""
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = group_pids(pgid)
        if not pids:
            break
        now = sum(_status_kb(p, "VmRSS") or 0 for p in pids)
        if now > peak:
            peak = now
            print(json.dumps({"peak_rss_kb": peak}), flush=True)
        time.sleep(interval)
    return {"peak_rss_kb": peak}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("geoip")
    g.add_argument("out")
    g.add_argument("--networks", type=int, default=400_000)
    g.add_argument("--seed", type=int, default=1)
    lk = sub.add_parser("lookup")
    lk.add_argument("db")
    lk.add_argument("ips", nargs="+")
    cl = sub.add_parser("clients")
    cl.add_argument("db")
    cl.add_argument("querydir")
    q = sub.add_parser("queries")
    q.add_argument("outdir")
    q.add_argument("--count", type=int, default=20_000)
    q.add_argument("--seed", type=int, default=7)
    ec = sub.add_parser("ecs-check")
    ec.add_argument("querydir")
    ec.add_argument("port", type=int)
    ec.add_argument("n", type=int, nargs="?", default=200)
    st = sub.add_parser("step")
    st.add_argument("--server", required=True)
    st.add_argument("--workload", required=True)
    st.add_argument("--pgid", type=int, required=True)
    st.add_argument("--out", required=True)
    st.add_argument("--log", required=True)
    st.add_argument("--round", type=int, default=1)
    st.add_argument("--timeout", type=float, default=60.0, help="kill dnsperf after this")
    st.add_argument("--spin-cpu", type=int, help="measure this CPU's busy share by a spin loop")
    st.add_argument("--spin-idle", type=float, help="the spin loop's rate on the idle CPU")
    st.add_argument("--spin-delay", type=float, default=0.5)
    st.add_argument("--spin-seconds", type=float, default=4.0)
    st.add_argument("--udp-ns", help="count the kernel's UDP datagrams in this netns")
    st.add_argument("--kthreads", help="comma-separated PIDs of kernel threads serving the servers")
    st.add_argument("dnsperf", nargs=argparse.REMAINDER)
    pc = sub.add_parser("pcap-ecs")
    pc.add_argument("pcap")
    pc.add_argument("--limit", type=int, default=20)
    sk = sub.add_parser("skip")
    sk.add_argument("--server", required=True)
    sk.add_argument("--workload", required=True)
    sk.add_argument("--out", required=True)
    sk.add_argument("reason")
    tb = sub.add_parser("table")
    tb.add_argument("path")
    tb.add_argument("--disturbed", type=float, default=10.0)
    pv = sub.add_parser("pivot")
    pv.add_argument("path")
    pv.add_argument("--disturbed", type=float, default=10.0)
    ra = sub.add_parser("ratios")
    ra.add_argument("path")
    ra.add_argument("--base", default="geosteer")
    sg = sub.add_parser("signed")
    sg.add_argument("path")
    dm = sub.add_parser("dnssec-metrics")
    dm.add_argument("url")
    dr = sub.add_parser("dnssec-report")
    dr.add_argument("results")
    dr.add_argument("before", help="JSON from dnssec-metrics before the load")
    dr.add_argument("after", help="JSON from dnssec-metrics after the load")
    lt = sub.add_parser("latency")
    lt.add_argument("path")
    xt = sub.add_parser("xdp-table")
    xt.add_argument("path")
    sp = sub.add_parser("spin")
    sp.add_argument("--cpu", type=int, required=True)
    sp.add_argument("--seconds", type=float, default=2.0)
    sp.add_argument("--delay", type=float, default=0.0)
    for x in (tb, pv, ra, lt, xt, sg):
        x.add_argument("--order", default="", help="comma-separated server order")
    for x in (pv, ra):
        x.add_argument("--metric", default="qps_per_core", help="the per-core field")
    rs = sub.add_parser("rss")
    rs.add_argument("--phase", required=True)
    rs.add_argument("--out", required=True)
    rs.add_argument("--mapped", default="", help="also the resident part of this mapped file")
    rs.add_argument("groups", nargs="+", help="NAME=PGID")
    rt = sub.add_parser("rss-table")
    rt.add_argument("path")
    zn = sub.add_parser("zone")
    zn.add_argument("outdir")
    zn.add_argument("--origin", default="example.org.")
    zn.add_argument("--records", type=int, default=1_000_000)
    zn.add_argument("--seed", type=int, default=1)
    zn.add_argument("--queries", type=int, default=100_000)
    qc = sub.add_parser("qps")
    qc.add_argument("path")
    qc.add_argument("server")
    qc.add_argument("workload")
    pk = sub.add_parser("peak")
    pk.add_argument("--pgid", type=int, required=True)
    pk.add_argument("--seconds", type=float, required=True)
    ic = sub.add_parser("idle-cpu")
    ic.add_argument("--seconds", type=float, default=3.0)
    ic.add_argument("groups", nargs="+", help="NAME=PGID")
    a = ap.parse_args()
    if a.cmd == "zone":
        print(json.dumps(gen_zone(a.outdir, a.origin, a.records, a.seed, a.queries)))
    elif a.cmd == "qps":
        print(qps_cell(a.path, a.server, a.workload))
    elif a.cmd == "peak":
        sample_peak(a.pgid, a.seconds)
    elif a.cmd == "geoip":
        gen_geoip(a.out, a.networks, a.seed)
    elif a.cmd == "lookup":
        for row in lookup(a.db, a.ips):
            print(json.dumps(row))
    elif a.cmd == "clients":
        for row in pick_clients(a.db, a.querydir):
            print(json.dumps(row))
    elif a.cmd == "queries":
        gen_queries(a.outdir, a.count, a.seed)
    elif a.cmd == "ecs-check":
        return ecs_check(a.querydir, a.port, a.n)
    elif a.cmd == "step":
        if a.dnsperf and a.dnsperf[0] == "--":
            a.dnsperf = a.dnsperf[1:]
        return step(a)
    elif a.cmd == "pcap-ecs":
        pcap_ecs(a.pcap, a.limit)
    elif a.cmd == "skip":
        with open(a.out, "a") as f:
            f.write(json.dumps({"server": a.server, "workload": a.workload, "skipped": a.reason}) + "\n")
    elif a.cmd == "table":
        table(a.path, a.disturbed, [x for x in a.order.split(",") if x])
    elif a.cmd == "pivot":
        pivot(a.path, a.disturbed, [x for x in a.order.split(",") if x], a.metric)
    elif a.cmd == "xdp-table":
        xdp_table(a.path, [x for x in a.order.split(",") if x])
    elif a.cmd == "spin":
        print(json.dumps(spin(a.cpu, a.seconds, a.delay)))
    elif a.cmd == "latency":
        latency_table(a.path, [x for x in a.order.split(",") if x])
    elif a.cmd == "ratios":
        ratios(a.path, a.base, [x for x in a.order.split(",") if x], a.metric)
    elif a.cmd == "signed":
        signed_table(a.path, [x for x in a.order.split(",") if x])
    elif a.cmd == "dnssec-metrics":
        print(json.dumps(dnssec_metrics(a.url)))
    elif a.cmd == "dnssec-report":
        dnssec_report(a.results, json.loads(a.before or "{}"), json.loads(a.after or "{}"))
    elif a.cmd == "rss":
        with open(a.out, "a") as f:
            for g in a.groups:
                name, pgid = g.split("=")
                rec = {"server": name, "phase": a.phase, **rss(int(pgid), a.mapped)}
                f.write(json.dumps(rec) + "\n")
    elif a.cmd == "rss-table":
        rss_table(a.path)
    elif a.cmd == "idle-cpu":
        idle_cpu(a.seconds, a.groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
