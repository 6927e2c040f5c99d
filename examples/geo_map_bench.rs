//! Times the pieces of building maps from a large GeoIP database: the walk (GeoIndex), the
//! projections, and maps (GeoMap) over them, and lookups in them.
//!
//! ```sh
//! cargo run --release --example scale_data -- geoip /tmp/geo.mmdb      # GeoLite2-City-sized
//! cargo run --release --example geo_map_bench -- /tmp/geo.mmdb [MAPS]
//! ```
//!
//! MAPS (default 8) maps are built over each base, each giving every key a pseudo-random
//! value among a few (so that neighbours differ about as often as policies' pool lists do).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use geosteer::geo::{Fields, GeoDb, GeoIndex, GeoMap, Projection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (VmRSS, VmHWM) in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: geo_map_bench DB.mmdb [MAPS]");
        std::process::exit(2);
    };
    let maps: usize = args.get(1).map_or(8, |s| s.parse().expect("MAPS"));
    let db = GeoDb::open(Path::new(path)).expect("open the database");
    let t = Instant::now();
    let index = GeoIndex::build(&db).expect("walk the database");
    println!(
        "index: {} in {:.0} ms; RSS {} KiB",
        index.stats(),
        t.elapsed().as_secs_f64() * 1e3,
        rss().0
    );
    for fields in [
        Fields::CONTINENT,
        Fields::CONTINENT.union(Fields::COUNTRY),
        Fields::REGION,
        Fields::SUBDIVISION.union(Fields::CONTINENT),
        Fields::COORDINATES,
        Fields::ALL,
    ] {
        let t = Instant::now();
        let base = index.projection(&Projection::fields(fields));
        let projected = t.elapsed();
        let mut rng = StdRng::seed_from_u64(7);
        let mut built = Vec::new();
        let t = Instant::now();
        for m in 0..maps {
            let classes = 2 + m as u64 * 3;
            let values: Vec<u32> = (0..base.keys().len())
                .map(|_| (rng.next_u64() % classes) as u32)
                .collect();
            built.push(GeoMap::new(Arc::clone(&base), &values));
        }
        let per_map = t.elapsed().as_secs_f64() / maps as f64;
        println!(
            "{fields:?}: {} keys, {} nodes, projected in {:.0} ms; a map in {:.1} ms \
             ({:.1} ns/node), {} KiB",
            base.keys().len(),
            base.trie().node_count(),
            projected.as_secs_f64() * 1e3,
            per_map * 1e3,
            per_map * 1e9 / base.trie().node_count().max(1) as f64,
            built[0].stats().bytes / 1024
        );
        time_lookups(&built[maps - 1]);
    }
    println!("peak RSS {} KiB", rss().1);
}

fn time_lookups(map: &GeoMap) {
    let mut rng = StdRng::seed_from_u64(99);
    let ips: Vec<IpAddr> = (0..1_000_000)
        .map(|i| {
            if i % 4 == 0 {
                IpAddr::V6(Ipv6Addr::from(
                    (0x2400u128 << 112) | (u128::from(rng.next_u64()) << 40),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32))
            }
        })
        .collect();
    let t = Instant::now();
    let mut sum = 0u64;
    for ip in &ips {
        let (v, s) = map.lookup(*ip);
        sum = sum.wrapping_add(u64::from(v) + u64::from(s));
    }
    let ns = t.elapsed().as_nanos() as f64 / ips.len() as f64;
    println!("    1M random lookups: {ns:.0} ns each (checksum {sum})");
}
