//! Negative answers must not slow down as a zone grows.
//!
//! Builds a zone of 50,000 records (and a tiny one for comparison) and measures positive-answer
//! and NXDOMAIN throughput
//!   (a) in process, through `Responder::respond` on prebuilt query packets, and
//!   (b) end to end, over UDP on 127.0.0.1 against the release `geosteer` binary, with a
//!       bounded load generator (a fixed number of queries in flight per client thread).
//!
//! Run: `cargo bench --bench query_path`. Every loop is bounded in count and time; all traffic
//! goes to 127.0.0.1. Knobs (environment): GEOSTEER_BENCH_INPROC_SECS (default 1, per case and round),
//! GEOSTEER_BENCH_UDP_QUERIES (default 200000), GEOSTEER_BENCH_UDP_SECS (default 10),
//! GEOSTEER_BENCH_INFLIGHT (default 64, per client thread), GEOSTEER_BENCH_CLIENTS (default 1).
//! Exits non-zero if NXDOMAIN throughput falls below half of positive throughput for the large
//! zone, in process (the end-to-end figures are printed, but shared cores make them noisy).

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use geosteer::dns::{Responder, Transport};
use geosteer::state::{Published, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const LARGE_RECORDS: usize = 50_000;
/// Distinct query packets per case, cycled through.
const DISTINCT: usize = 4096;
/// In-process measurements are repeated this many times, interleaved, and the best kept: the
/// machine is shared, and a slow round says more about the neighbours than about the code.
const ROUNDS: usize = 3;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const HEAD: &str = "$ORIGIN bench.example.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\n  NS ns2\n\
    ns1 A 192.0.2.1\nns2 A 192.0.2.2\n";

/// 50,000 records: 40,000 A, 5,000 AAAA, 5,000 TXT, spread over 45,000 names, some of them two
/// levels deep (so there are empty non-terminals too).
/// Returns the zone text and how many `host`/`h` names (indices 0..n) it has, each with an A.
fn large_zone() -> (String, u64) {
    let mut z = String::with_capacity(LARGE_RECORDS * 40);
    z.push_str(HEAD);
    let mut n = 5; // SOA, 2 NS and 2 A above
    let mut i = 0;
    while n < LARGE_RECORDS {
        let owner = if i % 10 == 0 {
            format!("h{i}.g{}", i % 97)
        } else {
            format!("host{i}")
        };
        z.push_str(&format!(
            "{owner} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
        n += 1;
        if i % 8 == 0 && n < LARGE_RECORDS {
            z.push_str(&format!("{owner} AAAA 2001:db8::{:x}\n", i));
            n += 1;
        }
        if i % 8 == 4 && n < LARGE_RECORDS {
            z.push_str(&format!("{owner} TXT \"record {i}\"\n"));
            n += 1;
        }
        i += 1;
    }
    (z, i)
}

fn tiny_zone() -> String {
    format!("{HEAD}www A 192.0.2.80\nmail A 192.0.2.25\n@ MX 10 mail\n")
}

/// An A query without EDNS, as bytes.
fn packet(qname: &str, id: u16) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in qname.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    p
}

/// Names that exist (with an A record) in the zone, picked at random.
fn positive_names(hosts: Option<u64>, rng: &mut StdRng) -> Vec<String> {
    (0..DISTINCT)
        .map(|_| {
            let Some(hosts) = hosts else {
                return ["www", "mail", "ns1", "ns2"][(rng.next_u64() % 4) as usize].to_string()
                    + ".bench.example.";
            };
            let i = rng.next_u64() % hosts;
            if i.is_multiple_of(10) {
                format!("h{i}.g{}.bench.example.", i % 97)
            } else {
                format!("host{i}.bench.example.")
            }
        })
        .collect()
}

/// Random names that do not exist: random labels, near misses of real names, and names below
/// real names (which walk up to their closest encloser).
fn nxdomain_names(rng: &mut StdRng) -> Vec<String> {
    (0..DISTINCT)
        .map(|k| {
            let r = rng.next_u64();
            match k % 3 {
                0 => format!("nx{r:016x}.bench.example."),
                1 => format!("host{}x{}.bench.example.", r % 50_000, r >> 48),
                _ => format!("a{}.b.host{}.bench.example.", r >> 40, r % 44_000),
            }
        })
        .collect()
}

struct Case {
    zone: &'static str,
    kind: &'static str,
    packets: Vec<Vec<u8>>,
    want_rcode: u8,
}

fn cases(hosts: u64, rng: &mut StdRng) -> Vec<Case> {
    let mut out = Vec::new();
    for (zone, hosts) in [("50k records", Some(hosts)), ("tiny", None)] {
        let pos = positive_names(hosts, rng);
        let nx = nxdomain_names(rng);
        out.push(Case {
            zone,
            kind: "positive",
            packets: pos
                .iter()
                .enumerate()
                .map(|(i, n)| packet(n, i as u16))
                .collect(),
            want_rcode: 0,
        });
        out.push(Case {
            zone,
            kind: "NXDOMAIN",
            packets: nx
                .iter()
                .enumerate()
                .map(|(i, n)| packet(n, i as u16))
                .collect(),
            want_rcode: 3,
        });
    }
    out
}

fn write_zone(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("bench.example.zone"), text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// (a) in process

fn responder(zone_dir: &Path) -> Responder {
    let sources = geosteer::load::Sources::new(
        zone_dir.to_path_buf(),
        zone_dir.join("no-geoip-needed.mmdb"),
    );
    let snapshot = geosteer::load::load(&sources).expect("bench zone loads");
    Responder::new(Arc::new(Published::new(State::new(Arc::new(snapshot)))))
}

/// Answers every packet of `case` once, checking the rcode is the one the case is about.
fn verify(responder: &Responder, case: &Case) {
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let mut out = Vec::with_capacity(1232);
    for p in &case.packets {
        assert!(responder.respond(p, src, Transport::Udp, &mut out));
        assert_eq!(
            out[3] & 0x0f,
            case.want_rcode,
            "{} {}",
            case.zone,
            case.kind
        );
    }
}

/// Queries per second through `respond` for `secs` seconds, on this thread.
fn in_process(responder: &Responder, case: &Case, secs: f64) -> f64 {
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let mut out = Vec::with_capacity(1232);
    let limit = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut at = 0;
    // Bounded by time (checked every 1024 queries) and by a hard count.
    while n < 200_000_000 && start.elapsed() < limit {
        for p in &case.packets[at..at + 1024] {
            black_box(responder.respond(black_box(p), src, Transport::Udp, &mut out));
        }
        at = (at + 1024) % DISTINCT;
        n += 1024;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// (b) end to end over UDP

struct ServerProc(Child);

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(zone_dir: &Path) -> (ServerProc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .arg("serve")
        .arg("--zones")
        .arg(zone_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn geosteer");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on ") {
                let addr = line[i + 13..].split_whitespace().next().unwrap_or("");
                if let (Ok(a), Some(tx)) = (addr.parse::<SocketAddr>(), tx.take()) {
                    let _ = tx.send(a);
                }
            }
        }
    });
    let proc = ServerProc(child);
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("geosteer did not start");
    (proc, addr)
}

struct LoadResult {
    answered: u64,
    lost: u64,
    wrong_rcode: u64,
    qps: f64,
}

/// One client thread: `inflight` queries outstanding, until `quota` are done or `limit` passes.
fn client(
    addr: SocketAddr,
    packets: &[Vec<u8>],
    want_rcode: u8,
    quota: u64,
    inflight: usize,
    limit: Duration,
) -> (u64, u64, u64) {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (mut sent, mut answered, mut lost, mut wrong) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let send = |sent: &mut u64| {
        let p = &packets[*sent as usize % packets.len()];
        let _ = sock.send(p);
        *sent += 1;
    };
    for _ in 0..inflight.min(quota as usize) {
        send(&mut sent);
    }
    while answered + lost < sent {
        match sock.recv(&mut buf) {
            Ok(n) => {
                answered += 1;
                if n < 4 || buf[3] & 0x0f != want_rcode {
                    wrong += 1;
                }
            }
            // Nothing for 200 ms: whatever is outstanding is lost.
            Err(_) => lost = sent - answered,
        }
        while sent < quota
            && sent.saturating_sub(answered + lost) < inflight as u64
            && start.elapsed() < limit
        {
            send(&mut sent);
        }
    }
    (answered, lost, wrong)
}

fn udp_load(addr: SocketAddr, case: &Case, quota: u64, limit: Duration) -> LoadResult {
    let clients: usize = env_or("GEOSTEER_BENCH_CLIENTS", 1).max(1);
    let inflight: usize = env_or("GEOSTEER_BENCH_INFLIGHT", 64).max(1);
    // Warm-up: a few thousand queries, not counted.
    client(addr, &case.packets, case.want_rcode, 5_000, inflight, limit);
    let start = Instant::now();
    let results: Vec<(u64, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    client(
                        addr,
                        &case.packets,
                        case.want_rcode,
                        quota / clients as u64,
                        inflight,
                        limit,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let answered = results.iter().map(|r| r.0).sum();
    LoadResult {
        answered,
        lost: results.iter().map(|r| r.1).sum(),
        wrong_rcode: results.iter().map(|r| r.2).sum(),
        qps: answered as f64 / elapsed,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing special. Listing
    // (`--list`) must not run anything.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let inproc_secs: f64 = env_or("GEOSTEER_BENCH_INPROC_SECS", 1.0);
    let udp_queries: u64 = env_or("GEOSTEER_BENCH_UDP_QUERIES", 200_000);
    let udp_secs: u64 = env_or("GEOSTEER_BENCH_UDP_SECS", 10);

    let tmp = tempfile::Builder::new()
        .prefix("geosteer-bench-")
        .tempdir()
        .unwrap();
    let large_dir = tmp.path().join("large");
    let tiny_dir = tmp.path().join("tiny");
    let (large_text, hosts) = large_zone();
    write_zone(&large_dir, &large_text);
    write_zone(&tiny_dir, &tiny_zone());
    let loaded = geosteer::load::load(&geosteer::load::Sources::new(
        large_dir.clone(),
        large_dir.join("no-geoip-needed.mmdb"),
    ))
    .expect("large zone loads");
    println!("large zone: {}", loaded.summary());
    drop(loaded);

    let mut rng = StdRng::seed_from_u64(0x2545_F491_4F6C_DD1D);
    let cases = cases(hosts, &mut rng);
    let dir_of = |c: &Case| {
        if c.zone == "tiny" {
            &tiny_dir
        } else {
            &large_dir
        }
    };

    println!(
        "\n(a) in process, Responder::respond, one thread, best of {ROUNDS} rounds of \
         {inproc_secs} s per case (rounds interleave the cases)"
    );
    let large = responder(&large_dir);
    let tiny = responder(&tiny_dir);
    let of = |c: &Case| if c.zone == "tiny" { &tiny } else { &large };
    for c in &cases {
        verify(of(c), c);
    }
    let mut inproc = vec![0f64; cases.len()];
    for _ in 0..ROUNDS {
        for (i, c) in cases.iter().enumerate() {
            inproc[i] = inproc[i].max(in_process(of(c), c, inproc_secs));
        }
    }
    for (c, qps) in cases.iter().zip(&inproc) {
        println!("  {:<11} {:<9} {:>12.0} qps", c.zone, c.kind, qps);
    }

    let clients: usize = env_or("GEOSTEER_BENCH_CLIENTS", 1);
    let inflight: usize = env_or("GEOSTEER_BENCH_INFLIGHT", 64);
    println!(
        "\n(b) end to end, UDP on 127.0.0.1, release binary, {clients} client thread(s) × \
         {inflight} in flight, {udp_queries} queries or {udp_secs} s per case"
    );
    let mut e2e = Vec::new();
    for dir in [&large_dir, &tiny_dir] {
        let (_server, addr) = start_server(dir);
        for c in cases.iter().filter(|c| dir_of(c) == dir) {
            let r = udp_load(addr, c, udp_queries, Duration::from_secs(udp_secs));
            println!(
                "  {:<11} {:<9} {:>12.0} qps  ({} answered, {} lost, {} wrong rcode)",
                c.zone, c.kind, r.qps, r.answered, r.lost, r.wrong_rcode
            );
            assert_eq!(r.wrong_rcode, 0, "{} {}: wrong rcode", c.zone, c.kind);
            e2e.push((c.zone, c.kind, r.qps));
        }
    }

    let ratio_inproc = inproc[1] / inproc[0];
    let q = |zone: &str, kind: &str| {
        e2e.iter()
            .find(|e| e.0 == zone && e.1 == kind)
            .map_or(0.0, |e| e.2)
    };
    let ratio_e2e = q("50k records", "NXDOMAIN") / q("50k records", "positive");
    println!(
        "\n50k-record zone, NXDOMAIN / positive throughput: in process {ratio_inproc:.2}, \
         end to end {ratio_e2e:.2} (requirement: ≥ 0.50)"
    );
    println!(
        "NXDOMAIN throughput, 50k-record zone / tiny zone: in process {:.2}, end to end {:.2} \
         (the cost of a negative answer does not grow with the zone)",
        inproc[1] / inproc[3],
        q("50k records", "NXDOMAIN") / q("tiny", "NXDOMAIN")
    );
    if ratio_inproc < 0.5 {
        eprintln!("FAIL: NXDOMAIN throughput is below half of positive throughput");
        std::process::exit(1);
    }
}
