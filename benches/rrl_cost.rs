//! What response rate limiting costs per answer, in process.
//!
//! Answers the same query packets through `Responder::respond` with and without RRL
//! (`--rrl-rate 1000000`: every response goes through the rate limiter's table, no client
//! reaches the rate), from 20,000 distinct client /24s as bench/run.sh's ECS queries come, and
//! prints nanoseconds per answer and the ratio. Rounds alternate between the two responders
//! and the best of each is kept, so a neighbour's burst of CPU hurts both sides alike.
//!
//! Run: `cargo bench --bench rrl_cost`. Knobs (environment): GEOSTEER_BENCH_INPROC_SECS
//! (default 1, per variant and round), GEOSTEER_BENCH_ROUNDS (default 7).
//! For an exact instruction count instead of a time, run one variant for a fixed number of
//! answers under callgrind: GEOSTEER_BENCH_ONLY=on|off GEOSTEER_BENCH_COUNT=N (the two runs'
//! totals differ by RRL's cost per answer × N, plus its table's setup).
//! Every loop is bounded in count and time; nothing is sent on any network.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geosteer::dns::rrl::{Rrl, RrlConfig};
use geosteer::dns::{Responder, Transport};
use geosteer::state::{Published, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Distinct (query, client) pairs, cycled through.
const DISTINCT: usize = 20_000;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ZONE: &str = "$ORIGIN bench.example.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\n  NS ns2\n\
    ns1 A 192.0.2.1\nns2 A 192.0.2.2\nwww A 192.0.2.80\nmail A 192.0.2.25\n\
    @ MX 10 mail\n";

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

fn responder(zone_dir: &Path) -> Responder {
    std::fs::create_dir_all(zone_dir).unwrap();
    std::fs::write(zone_dir.join("bench.example.zone"), ZONE).unwrap();
    let sources = geosteer::load::Sources::new(
        zone_dir.to_path_buf(),
        zone_dir.join("no-geoip-needed.mmdb"),
    );
    let snapshot = geosteer::load::load(&sources).expect("bench zone loads");
    Responder::new(Arc::new(Published::new(State::new(Arc::new(snapshot)))))
}

/// Answers `n` (packet, client) pairs, cycling through `work`.
fn answer(responder: &Responder, work: &[(Vec<u8>, SocketAddr)], n: usize, out: &mut Vec<u8>) {
    for (p, src) in work.iter().cycle().take(n) {
        black_box(responder.respond(black_box(p), *src, Transport::Udp, out));
    }
}

/// Nanoseconds per answer over `secs` seconds (bounded by a hard count too).
fn ns_per_answer(responder: &Responder, work: &[(Vec<u8>, SocketAddr)], secs: f64) -> f64 {
    let mut out = Vec::with_capacity(1232);
    let limit = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n: u64 = 0;
    while n < 200_000_000 && start.elapsed() < limit {
        answer(responder, work, DISTINCT, &mut out);
        n += DISTINCT as u64;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let secs: f64 = env_or("GEOSTEER_BENCH_INPROC_SECS", 1.0);
    let rounds: usize = env_or("GEOSTEER_BENCH_ROUNDS", 7).max(1);
    let only = std::env::var("GEOSTEER_BENCH_ONLY").ok();
    let count: usize = env_or("GEOSTEER_BENCH_COUNT", 0);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = StdRng::seed_from_u64(7);
    let names = ["www", "mail", "ns1", "ns2"];
    let work: Vec<(Vec<u8>, SocketAddr)> = (0..DISTINCT)
        .map(|i| {
            let name = format!("{}.bench.example.", names[i % names.len()]);
            // A random public-looking /24 (record data only: nothing is sent anywhere).
            let net = (rng.next_u32() & 0x00ff_ffff) | 0x0100_0000;
            let ip = Ipv4Addr::from((net << 8) | (rng.next_u32() & 0xff));
            (
                packet(&name, i as u16),
                SocketAddr::new(IpAddr::V4(ip), 40000),
            )
        })
        .collect();

    let off = responder(&dir.path().join("off"));
    let on = responder(&dir.path().join("on")).with_rrl(Rrl::new(RrlConfig::with_rate(1_000_000)));
    // Both answer every query (RRL never reaches its rate here), and alike.
    let (mut a, mut b) = (Vec::with_capacity(1232), Vec::with_capacity(1232));
    for (p, src) in &work {
        assert!(off.respond(p, *src, Transport::Udp, &mut a));
        assert!(on.respond(p, *src, Transport::Udp, &mut b));
        assert_eq!(a, b, "RRL changed an answer it should have let through");
    }

    if count > 0 {
        let which = match only.as_deref() {
            Some("on") => &on,
            Some("off") => &off,
            _ => panic!("GEOSTEER_BENCH_COUNT needs GEOSTEER_BENCH_ONLY=on|off"),
        };
        let mut out = Vec::with_capacity(1232);
        answer(which, &work, count, &mut out);
        println!(
            "answered {count} queries with RRL {}",
            only.as_deref().unwrap_or("")
        );
        return;
    }

    let (mut best_off, mut best_on) = (f64::MAX, f64::MAX);
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        // Alternate which goes first.
        let (x, y) = if r % 2 == 0 {
            let x = ns_per_answer(&off, &work, secs);
            (x, ns_per_answer(&on, &work, secs))
        } else {
            let y = ns_per_answer(&on, &work, secs);
            (ns_per_answer(&off, &work, secs), y)
        };
        println!(
            "round {}: RRL off {x:.1} ns/answer, on {y:.1} ns/answer",
            r + 1
        );
        best_off = best_off.min(x);
        best_on = best_on.min(y);
        ratios.push(x / y);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "best: RRL off {best_off:.1} ns/answer, on {best_on:.1} ns/answer; \
         answers per second on ÷ off: best {:.3}, median of the rounds {:.3} (min {:.3}, max {:.3})",
        best_off / best_on,
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
