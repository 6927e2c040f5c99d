//! Times building GeoMaps from a large synthetic GeoIP2-City database, for the build-time and
//! memory figures we must report (no real GeoLite2 file may be fetched here).
//!
//! ```sh
//! cargo run --release --example geo_map_bench -- [v4 networks] [v6 networks] [cities]
//! ```
//!
//! Defaults: 600 000 IPv4 and 150 000 IPv6 networks over 60 000 distinct city records,
//! shaped like GeoLite2-City: mostly /20–/24 blocks with gaps, runs of neighbouring blocks in
//! one country, a few large countries owning most cities. The database is written once to
//! the system temp directory and reused by later runs with the same sizes.
//!
//! Measured (release build, 2 shared cores), per map, classifier by continent / country /
//! one value per location:
//! - defaults (832 864 networks walked incl. empty ones, 59 921 records, 9.9 MB file):
//!   0.14–0.27 s; 420 k / 430 k / 833 k nodes = 3.3 / 3.4 / 6.5 MB; process RSS 37 MB at the
//!   end, of which about 10 MB is the mapped file; debug builds take about 2.4 s.
//! - `2400000 600000 120000` (3.33 M networks, 119 850 records, 29.8 MB file, closer to a
//!   GeoLite2-City): 0.66–0.94 s; 1.68 M / 1.72 M / 3.33 M nodes = 13.1 / 13.4 / 26.0 MB;
//!   peak RSS 112 MB with four maps built in turn, about 30 MB of it the mapped file.
//! - lookups: 40–70 ns each on random addresses.
//!
//! The synthetic blocks have more gaps than GeoLite2 (one in ten), which limits merging;
//! real per-country maps should come out smaller.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use geosteer::geo::countries;
use geosteer::geo::{GeoDb, GeoMap, Location};
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{IpVersion, Writer};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde::Serialize;

#[derive(Serialize, Clone)]
struct Names {
    en: String,
}
#[derive(Serialize, Clone)]
struct Code {
    code: String,
}
#[derive(Serialize, Clone)]
struct Iso {
    iso_code: String,
}
#[derive(Serialize, Clone)]
struct Sub {
    iso_code: String,
    names: Names,
}
#[derive(Serialize, Clone)]
struct CityName {
    geoname_id: u32,
    names: Names,
}
#[derive(Serialize, Clone)]
struct Loc {
    accuracy_radius: u16,
    latitude: f64,
    longitude: f64,
    time_zone: String,
}
/// A GeoLite2-City-like record, with the fields (and sizes) the real one has.
#[derive(Serialize, Clone)]
struct Record {
    city: CityName,
    continent: Code,
    country: Iso,
    registered_country: Iso,
    location: Loc,
    subdivisions: Vec<Sub>,
}

/// Country weights by rough share of address space: a few countries own most blocks.
const BIG: &[(&str, u64)] = &[
    ("US", 300),
    ("CN", 120),
    ("JP", 60),
    ("DE", 45),
    ("GB", 40),
    ("KR", 35),
    ("BR", 30),
    ("FR", 30),
    ("CA", 25),
    ("IT", 20),
    ("NL", 20),
    ("AU", 18),
    ("RU", 18),
    ("IN", 18),
    ("MX", 10),
    ("ES", 10),
    ("SE", 8),
    ("PL", 8),
];

fn make_records(rng: &mut StdRng, cities: usize) -> (Vec<Record>, Vec<(usize, usize)>) {
    // Every known country gets some cities; the big ones most of them.
    let mut weights: Vec<(&str, u64)> = countries::all().map(|c| (c, 1)).collect();
    for (c, w) in BIG {
        if let Some(e) = weights.iter_mut().find(|e| e.0 == *c) {
            e.1 = *w;
        }
    }
    let total: u64 = weights.iter().map(|w| w.1).sum();
    let mut records = Vec::with_capacity(cities);
    // Per country: (first record, count), so blocks can pick a city of their country.
    let mut spans = Vec::with_capacity(weights.len());
    for (country, w) in &weights {
        let n = ((cities as u64 * w) / total).max(1) as usize;
        let first = records.len();
        let continent = countries::continent_of(country).unwrap();
        for i in 0..n {
            let sub = format!("{}", 1 + rng.random_range(0..40));
            records.push(Record {
                city: CityName {
                    geoname_id: records.len() as u32 + 1,
                    names: Names {
                        en: format!("{country} City {i}"),
                    },
                },
                continent: Code {
                    code: continent.into(),
                },
                country: Iso {
                    iso_code: (*country).into(),
                },
                registered_country: Iso {
                    iso_code: (*country).into(),
                },
                location: Loc {
                    accuracy_radius: 5 + rng.random_range(0..500) as u16,
                    latitude: (rng.random::<f64>() * 140.0 - 60.0).clamp(-90.0, 90.0),
                    longitude: rng.random::<f64>() * 360.0 - 180.0,
                    time_zone: "Etc/UTC".into(),
                },
                subdivisions: vec![Sub {
                    iso_code: sub.clone(),
                    names: Names {
                        en: format!("{country} Province {sub}"),
                    },
                }],
            });
        }
        spans.push((first, n));
    }
    (records, spans)
}

/// A dense id for a two-letter code.
fn idx(code: &str) -> usize {
    let b = code.as_bytes();
    (b[0] - b'A') as usize * 26 + (b[1] - b'A') as usize
}

/// Blocks are mostly /20–/24, some wider, a few narrower, as in GeoLite2; `shift` makes
/// them all narrower so that more networks fit in the IPv4 space.
fn block_len_v4(rng: &mut StdRng, shift: u8) -> u8 {
    let len = match rng.random_range(0..100) {
        0..=2 => 14 + rng.random_range(0..3) as u8,
        3..=14 => 17 + rng.random_range(0..3) as u8,
        15..=84 => 20 + rng.random_range(0..5) as u8,
        _ => 25 + rng.random_range(0..4) as u8,
    };
    (len + shift).min(32)
}

fn reserved_v4(a: u32) -> Option<u32> {
    // (start, prefix) of ranges a real database leaves empty; returns the range end.
    const R: &[(u32, u8)] = &[
        (0x0000_0000, 8),
        (0x0a00_0000, 8),
        (0x6440_0000, 10),
        (0x7f00_0000, 8),
        (0xa9fe_0000, 16),
        (0xac10_0000, 12),
        (0xc0a8_0000, 16),
        (0xe000_0000, 3),
    ];
    R.iter().find_map(|&(s, l)| {
        let m = u32::MAX << (32 - l);
        (a & m == s).then(|| s.wrapping_add(1 << (32 - l)))
    })
}

fn build_db(path: &PathBuf, v4: usize, v6: usize, cities: usize) -> Duration {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x5eed_0f9e_0123_4567);
    let (records, spans) = make_records(&mut rng, cities);
    let mut w = Writer::builder("GeoLite2-City")
        .ip_version(IpVersion::V6)
        .description(&[("en", "geosteer synthetic GeoLite2-City-like benchmark data")])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    // Countries come in runs of neighbouring blocks, cities vary within a run.
    let pick_country = |rng: &mut StdRng| {
        // Weighted by the number of cities, i.e. by country size.
        let r = rng.random_range(0..records.len() as u64) as usize;
        spans
            .iter()
            .position(|(f, n)| r >= *f && r < f + n)
            .unwrap()
    };
    // The blocks above average about 6000 addresses; about 3.4e9 are usable.
    let shift = ((v4 as f64 * 6000.0 / 3.4e9).log2().ceil().max(0.0)) as u8;
    let mut country = 0;
    let mut addr: u64 = 1 << 24;
    let mut inserted = 0;
    while inserted < v4 && addr < 1 << 32 {
        if let Some(end) = reserved_v4(addr as u32) {
            addr = u64::from(end);
            if end == 0 {
                break;
            }
            continue;
        }
        let mut len = block_len_v4(&mut rng, shift);
        while addr & ((1u64 << (32 - len)) - 1) != 0 {
            len += 1;
        }
        if rng.random_range(0..10) == 0 {
            addr += 1 << (32 - len); // a gap
            continue;
        }
        if rng.random_range(0..20) == 0 {
            country = pick_country(&mut rng);
        }
        let (first, n) = spans[country];
        let record = &records[first + rng.random_range(0..n as u64) as usize];
        let net = Ipv4Net::new(Ipv4Addr::from(addr as u32), len).unwrap();
        w.insert(IpNet::V4(net), record).unwrap();
        inserted += 1;
        addr += 1 << (32 - len);
    }
    // IPv6 from 2400::, in /29–/48 blocks.
    let mut addr6: u128 = 0x2400u128 << 112;
    for _ in 0..v6 {
        let mut len = 29 + rng.random_range(0..20) as u8;
        while addr6 & ((1u128 << (128 - len)) - 1) != 0 {
            len += 1;
        }
        if rng.random_range(0..8) == 0 {
            addr6 += 1 << (128 - len);
        }
        if rng.random_range(0..20) == 0 {
            country = pick_country(&mut rng);
        }
        let (first, n) = spans[country];
        let record = &records[first + rng.random_range(0..n as u64) as usize];
        let net = Ipv6Net::new(Ipv6Addr::from(addr6), len).unwrap();
        w.insert(IpNet::V6(net), record).unwrap();
        addr6 += 1 << (128 - len);
    }
    let bytes = w.to_bytes().unwrap();
    std::fs::write(path, &bytes).unwrap();
    println!(
        "wrote {} ({} IPv4 + {v6} IPv6 networks inserted, {} records, {:.1} MB) in {:.1} s",
        path.display(),
        inserted,
        records.len(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    started.elapsed()
}

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
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are numbers"))
        .collect();
    let v4 = args.first().copied().unwrap_or(600_000);
    let v6 = args.get(1).copied().unwrap_or(150_000);
    let cities = args.get(2).copied().unwrap_or(60_000);
    let path = std::env::temp_dir().join(format!("geosteer-bench-{v4}-{v6}-{cities}.mmdb"));
    if !path.exists() {
        build_db(&path, v4, v6, cities);
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let (rss0, _) = rss();
    let t = Instant::now();
    let db = GeoDb::open(&path).unwrap();
    println!(
        "opened {} ({:.1} MB, {}) in {:.1} ms; RSS {} -> {} KiB",
        path.display(),
        size as f64 / 1e6,
        db.schema(),
        t.elapsed().as_secs_f64() * 1e3,
        rss0,
        rss().0
    );

    type Classifier = Box<dyn Fn(Option<&Location>) -> u32>;
    let by_country: Classifier = Box::new(|l| {
        l.and_then(|l| l.country)
            .map_or(0, |c| idx(c.as_str()) as u32 + 1)
    });
    let by_region: Classifier = Box::new(|l| {
        l.and_then(|l| l.region).map_or(0, |r| {
            countries::REGIONS.iter().position(|x| *x == r).unwrap() as u32 + 1
        })
    });
    let by_continent: Classifier = Box::new(|l| {
        l.and_then(|l| l.continent).map_or(0, |c| {
            countries::CONTINENTS
                .iter()
                .position(|x| *x == c.as_str())
                .unwrap() as u32
                + 1
        })
    });
    for (name, classify) in [
        ("continent", by_continent),
        ("region", by_region),
        ("country", by_country),
    ] {
        let (before, _) = rss();
        let map = GeoMap::build(&db, &*classify).unwrap();
        let (after, hwm) = rss();
        println!(
            "map by {name:9}: {}; RSS {before} -> {after} KiB (peak {hwm})",
            map.stats()
        );
        time_lookups(&map);
    }
    // Worst case: every location its own value (no merging beyond equal records).
    let mut next = 0u32;
    let (before, _) = rss();
    let map = GeoMap::build(&db, |_| {
        next += 1;
        next
    })
    .unwrap();
    let (after, hwm) = rss();
    println!(
        "map by location : {}; RSS {before} -> {after} KiB (peak {hwm})",
        map.stats()
    );
    time_lookups(&map);
}

fn time_lookups(map: &GeoMap) {
    let mut rng = StdRng::seed_from_u64(99);
    let ips: Vec<std::net::IpAddr> = (0..1_000_000)
        .map(|i| {
            if i % 4 == 0 {
                std::net::IpAddr::V6(Ipv6Addr::from(
                    (0x2400u128 << 112) | (u128::from(rng.next_u64()) << 40),
                ))
            } else {
                std::net::IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32))
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
    println!("                  1M lookups: {ns:.0} ns each (checksum {sum})");
}
