//! Per-query cost against the number of load balancers: answers the same ECS queries through
//! `Responder::respond`, in process, with configurations of few and of many load balancers
//! (`bench/scale.sh --query-cost`).
//!
//! ```sh
//! cargo run --release --example scale_query -- GEOIP.mmdb SMALL_DIR BIG_DIR [SECONDS]
//! ```
//!
//! SMALL_DIR and BIG_DIR are zone directories written by `scale_data lbs` with the same seed
//! (so the small configuration's load balancers are the big one's first ones, identical),
//! each with its `names.txt`. Queries are 4,096 packets cycled, each with an EDNS Client
//! Subnet option of a pseudo-random /24 (so geo and proximity rules look the client up), for
//! all names and for the names of each policy:
//! - the small configuration's names, asked of the small and of the big configuration: the
//!   same work, with 70 or 1,000 load balancers loaded;
//! - all the big configuration's names (of that policy), asked of it: the same kind of work
//!   spread over more names and maps (more memory touched, fewer cache hits).
//!
//! Rounds alternate between the configurations (the machine is shared); the best round of
//! each is printed, in ns per query.
//!
//! For exact instruction counts (the timings' spread is ±15 % on a shared machine), one
//! policy's names of one configuration, a fixed number of queries, under callgrind:
//!
//! ```sh
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*scale_query*answer_count*' \
//!   target/release/examples/scale_query --count POLICY QUERIES GEOIP.mmdb DIR
//! ```
//!
//! It answers the 4,096 packets once to warm up, then QUERIES more, all inside
//! `answer_count`: instructions per query = the total collected ÷ (4,096 + QUERIES).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use geosteer::dns::{Responder, Transport};
use geosteer::state::{Published, State};

const DISTINCT: usize = 4096;

/// (policy, packets of the small configuration's names, of the big one's, how many names
/// each).
type QuerySet = (String, Vec<Vec<u8>>, Vec<Vec<u8>>, usize, usize);
const ROUNDS: usize = 5;

fn usage() -> ! {
    eprintln!(
        "usage: scale_query GEOIP.mmdb SMALL_DIR BIG_DIR [SECONDS per round, default 1]\n       \
         scale_query --count POLICY QUERIES GEOIP.mmdb DIR"
    );
    std::process::exit(2)
}

fn responder(dir: &Path, geoip: &Path) -> (Responder, Duration) {
    let t = Instant::now();
    let snapshot = geosteer::load::load(&geosteer::load::Sources::new(dir, geoip))
        .unwrap_or_else(|e| panic!("{} does not load: {e:?}", dir.display()));
    let took = t.elapsed();
    (
        Responder::new(Arc::new(Published::new(State::new(Arc::new(snapshot))))),
        took,
    )
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("names.txt"))
        .unwrap_or_else(|e| panic!("{}/names.txt: {e}", dir.display()))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The steering policy of each load balancer of `dir`'s configuration, by absolute name.
fn policies(dir: &Path) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir).expect("read DIR").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let zone = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read the steering file");
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("[load_balancers.") {
                let name = rest.trim_end_matches(']').trim_matches('"');
                current = Some(format!("{name}.{zone}."));
            } else if let (Some(name), Some(v)) = (&current, line.strip_prefix("steering = ")) {
                out.insert(name.clone(), v.trim_matches('"').to_owned());
            }
        }
    }
    out
}

/// A query for `name` A with an ECS option for the /24 of `client`.
fn packet(name: &str, id: u16, client: [u8; 3]) -> Vec<u8> {
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    // OPT: root, type 41, payload 1232, TTL 0, RDATA: ECS (8), family 1, /24, scope 0.
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 11]);
    p.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0]);
    p.extend_from_slice(&client);
    p
}

fn packets(names: &[String], seed: u64) -> Vec<Vec<u8>> {
    let mut x = seed;
    (0..DISTINCT)
        .map(|i| {
            // splitmix64: a reproducible spread of clients over the IPv4 space.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let b = z.to_be_bytes();
            let first = 1 + b[0] % 223; // 1-223: unicast
            packet(&names[i % names.len()], i as u16, [first, b[1], b[2]])
        })
        .collect()
}

/// ns per query through `respond` over `secs`, bounded in count too.
fn measure(r: &Responder, packets: &[Vec<u8>], secs: f64) -> f64 {
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let mut out = Vec::with_capacity(1232);
    let limit = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n: u64 = 0;
    while n < 100_000_000 && start.elapsed() < limit {
        for p in packets {
            black_box(r.respond(black_box(p), src, Transport::Udp, &mut out));
        }
        n += packets.len() as u64;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Answers `count` queries, cycling `packets`; how many were answered. Not inlined: the
/// function callgrind counts (`--count`).
#[inline(never)]
fn answer_count(r: &Responder, packets: &[Vec<u8>], count: usize) -> usize {
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let mut out = Vec::with_capacity(1232);
    (0..count)
        .filter(|i| {
            r.respond(
                black_box(&packets[i % packets.len()]),
                src,
                Transport::Udp,
                &mut out,
            )
        })
        .count()
}

/// `--count POLICY QUERIES GEOIP DIR`: see the module's documentation.
fn count_mode(args: &[String]) {
    let [policy, count, geoip, dir] = args else {
        usage()
    };
    let count: usize = count.parse().unwrap_or_else(|_| usage());
    let dir = PathBuf::from(dir);
    let kinds = policies(&dir);
    let names: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| kinds.get(n).is_some_and(|p| p == policy))
        .collect();
    assert!(!names.is_empty(), "no load balancer of policy {policy}");
    let packets = packets(&names, 7);
    let (r, _) = responder(&dir, Path::new(geoip));
    let warm = answer_count(&r, &packets, packets.len());
    let answered = answer_count(&r, &packets, count);
    println!(
        "{policy}: {} names, {} + {count} queries, {} answered",
        names.len(),
        packets.len(),
        warm + answered
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--count") {
        return count_mode(&args[1..]);
    }
    if args.len() < 3 {
        usage()
    }
    let geoip = PathBuf::from(&args[0]);
    let dirs = [PathBuf::from(&args[1]), PathBuf::from(&args[2])];
    let secs: f64 = args
        .get(3)
        .map_or(1.0, |s| s.parse().unwrap_or_else(|_| usage()));
    let all: Vec<Vec<String>> = dirs.iter().map(|d| names(d)).collect();
    assert!(
        all[1].starts_with(&all[0]),
        "the small configuration's names are not the big one's first: same seed?"
    );
    let same = packets(&all[0], 7);
    let own: Vec<Vec<Vec<u8>>> = all.iter().map(|n| packets(n, 7)).collect();
    let rs: Vec<(Responder, Duration)> = dirs.iter().map(|d| responder(d, &geoip)).collect();
    // Every packet answers (NOERROR with an answer, or at least a response).
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let mut out = Vec::new();
    for (r, _) in &rs {
        for p in same.iter().take(64) {
            assert!(r.respond(p, src, Transport::Udp, &mut out));
            assert_eq!(out[3] & 0x0f, 0, "NOERROR expected");
        }
    }
    // Per policy: the small configuration's names of that policy asked of both, and all the
    // big one's names of that policy asked of it.
    let policy = policies(&dirs[1]);
    let mut kinds: Vec<&str> = policy.values().map(String::as_str).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let of = |names: &[String], k: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| policy.get(*n).is_some_and(|p| p == k))
            .cloned()
            .collect()
    };
    let mut sets: Vec<QuerySet> = vec![(
        "all".into(),
        same.clone(),
        own[1].clone(),
        all[0].len(),
        all[1].len(),
    )];
    for k in kinds {
        let (small, big) = (of(&all[0], k), of(&all[1], k));
        if small.is_empty() {
            continue;
        }
        sets.push((
            k.into(),
            packets(&small, 7),
            packets(&big, 7),
            small.len(),
            big.len(),
        ));
    }
    // best[set] = [small config, big config same names, big config own names]
    let mut best = vec![[f64::MAX; 3]; sets.len()];
    for _ in 0..ROUNDS {
        for (b, (_, small_names, big_names, _, _)) in best.iter_mut().zip(&sets) {
            b[0] = b[0].min(measure(&rs[0].0, small_names, secs));
            b[1] = b[1].min(measure(&rs[1].0, small_names, secs));
            b[2] = b[2].min(measure(&rs[1].0, big_names, secs));
        }
    }
    println!(
        "Loaded in process: {} load balancers in {} ms, {} in {} ms. Best of {ROUNDS} rounds of \
         {secs} s, ns per query (4,096 ECS queries cycled):\n",
        all[0].len(),
        rs[0].1.as_millis(),
        all[1].len(),
        rs[1].1.as_millis()
    );
    println!(
        "| names asked | with {} load balancers | with {}: same names | with {}: all its names of the kind |",
        all[0].len(),
        all[1].len(),
        all[1].len()
    );
    println!("|---|---|---|---|");
    for (b, (k, _, _, n_small, n_big)) in best.iter().zip(&sets) {
        println!(
            "| {k} ({n_small} / {n_big}) | {:.0} | {:.0} | {:.0} |",
            b[0], b[1], b[2]
        );
    }
}
