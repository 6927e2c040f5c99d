//! The shared, overlaid maps give every address the same (candidate list, ECS scope) as a
//! map built for each load balancer alone by walking the database with its classifier (the
//! way maps were built before the walk was shared), on random databases and configurations.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use hickory_proto::rr::Name;
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{IpVersion, Value, Writer};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use super::*;
use crate::config;
use crate::geo::GeoDb;
use crate::geo::index::walk;
use crate::state::CompiledLb;

/// Places the random databases draw from: (continent, country, subdivision), some absent.
const PLACES: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
    (Some("NA"), Some("US"), Some("CA")),
    (Some("NA"), Some("US"), Some("NY")),
    (Some("NA"), Some("US"), Some("TX")),
    (Some("NA"), Some("US"), None),
    (Some("NA"), Some("CA"), Some("BC")),
    (Some("NA"), Some("CA"), Some("QC")),
    (Some("NA"), Some("MX"), Some("CMX")),
    (Some("EU"), Some("DE"), Some("HE")),
    (Some("EU"), Some("DE"), Some("BY")),
    (Some("EU"), Some("GB"), Some("ENG")),
    (Some("EU"), Some("RU"), Some("MOW")),
    (Some("AS"), Some("JP"), Some("13")),
    (Some("AS"), Some("IN"), None),
    (Some("OC"), Some("AU"), Some("NSW")),
    (Some("SA"), Some("BR"), Some("SP")),
    (Some("AF"), Some("ZA"), Some("GT")),
    (None, Some("FR"), None),
    (None, None, None),
];

/// A random record: a place, maybe coordinates (often shared between records, sometimes
/// antipodal to a pool), maybe nothing at all.
fn record(rng: &mut StdRng, coords: &[(f64, f64)]) -> Value {
    let (cont, country, sub) = PLACES[rng.random_range(0..PLACES.len())];
    let mut m = std::collections::BTreeMap::new();
    if let Some(c) = cont {
        m.insert(
            "continent".to_string(),
            Value::map([("code", Value::from(c))]),
        );
    }
    if let Some(c) = country {
        let key = if rng.random_range(0..8) == 0 {
            "registered_country"
        } else {
            "country"
        };
        m.insert(key.to_string(), Value::map([("iso_code", Value::from(c))]));
    }
    if let Some(s) = sub {
        m.insert(
            "subdivisions".to_string(),
            Value::array([Value::map([("iso_code", Value::from(s))])]),
        );
    }
    if rng.random_range(0..5) != 0 {
        let (lat, lon) = coords[rng.random_range(0..coords.len())];
        m.insert(
            "location".to_string(),
            Value::map([
                ("latitude", Value::from(lat)),
                ("longitude", Value::from(lon)),
            ]),
        );
    }
    // A city name makes records with equal locations distinct records.
    let city = format!("c{}", rng.random_range(0..4));
    m.insert(
        "city".to_string(),
        Value::map([("names", Value::map([("en", Value::from(city))]))]),
    );
    Value::Map(m)
}

/// A random database: networks of random sizes over parts of the IPv4 and IPv6 spaces, with
/// gaps, drawn from a few dozen records. Returns the networks inserted.
fn database(rng: &mut StdRng, path: &Path, coords: &[(f64, f64)]) -> Vec<IpNet> {
    let records: Vec<Value> = (0..rng.random_range(3..40))
        .map(|_| record(rng, coords))
        .collect();
    let mut w = Writer::builder("GeoIP2-City")
        .ip_version(IpVersion::V6)
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    let mut nets = Vec::new();
    // IPv4: up from a random /8, random sizes, some gaps.
    let mut a: u64 = u64::from(rng.random::<u32>() & 0xff00_0000);
    for _ in 0..rng.random_range(20..400) {
        let mut len = rng.random_range(8..=30u8);
        while a & ((1u64 << (32 - len)) - 1) != 0 {
            len += 1;
        }
        if a + (1u64 << (32 - len)) > 1 << 32 {
            break;
        }
        if rng.random_range(0..6) != 0 {
            let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a as u32), len).unwrap());
            let r = records[rng.random_range(0..records.len())].clone();
            w.insert_value(net, r).unwrap();
            nets.push(net);
        }
        a += 1u64 << (32 - len);
    }
    // IPv6, in 2400::/12 (clear of the alias ranges).
    let mut b: u128 = (0x2400u128 << 112) | (u128::from(rng.random::<u16>() & 0x0fff) << 100);
    for _ in 0..rng.random_range(0..200) {
        let mut len = rng.random_range(16..=64u8);
        while b & ((1u128 << (128 - len)) - 1) != 0 {
            len += 1;
        }
        if rng.random_range(0..6) != 0 {
            let net = IpNet::V6(Ipv6Net::new(Ipv6Addr::from(b), len).unwrap());
            let r = records[rng.random_range(0..records.len())].clone();
            w.insert_value(net, r).unwrap();
            nets.push(net);
        }
        b += 1u128 << (128 - len);
    }
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
    nets
}

const POOLS: &[&str] = &["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
const SUBDIVISIONS: &[&str] = &[
    "US-CA", "US-NY", "US-TX", "CA-BC", "DE-HE", "GB-ENG", "JP-13", "AU-NSW",
];
const COUNTRIES: &[&str] = &[
    "US", "CA", "MX", "DE", "GB", "RU", "JP", "IN", "AU", "BR", "ZA", "FR", "NL",
];
const REGIONS: &[&str] = &[
    "WNAM", "ENAM", "WEU", "EEU", "SEAS", "NEAS", "OC", "SSAM", "SAF",
];
const CONTINENTS: &[&str] = &["NA", "EU", "AS", "OC", "SA", "AF", "AN"];

fn list(rng: &mut StdRng, pools: &[&str]) -> String {
    let mut v: Vec<&str> = pools.to_vec();
    for i in 0..v.len() {
        let j = rng.random_range(i..v.len());
        v.swap(i, j);
    }
    v.truncate(rng.random_range(1..=pools.len().min(4)));
    let q: Vec<String> = v.iter().map(|p| format!("\"{p}\"")).collect();
    format!("[{}]", q.join(", "))
}

/// A random configuration: pools at random (sometimes equal, sometimes antipodal) places,
/// geo load balancers with rules at random levels, proximity ones over random pools; some
/// load balancers repeat another's rules over renamed pools, to exercise sharing.
fn configuration(rng: &mut StdRng, coords: &[(f64, f64)]) -> String {
    let mut t = String::new();
    for p in POOLS {
        let (lat, lon) = coords[rng.random_range(0..coords.len())];
        let _ = writeln!(
            t,
            "[pools.{p}]\nlatitude = {lat}\nlongitude = {lon}\n\
             origins = [ {{ address = \"198.18.0.1\" }} ]"
        );
    }
    for i in 0..rng.random_range(1..8) {
        let n = rng.random_range(2..=POOLS.len());
        let pools = &POOLS[..n];
        let proximity = rng.random_range(0..3) == 0;
        let mut body = String::new();
        let _ = writeln!(body, "default_pools = {}", list(rng, pools));
        if proximity {
            let _ = writeln!(body, "steering = \"proximity\"");
        } else {
            let _ = writeln!(body, "steering = \"geo\"");
            for (level, keys) in [
                ("subdivision_pools", SUBDIVISIONS),
                ("country_pools", COUNTRIES),
                ("region_pools", REGIONS),
                ("continent_pools", CONTINENTS),
            ] {
                if rng.random_range(0..2) == 0 {
                    continue;
                }
                let mut entries: Vec<String> = Vec::new();
                for k in keys {
                    if rng.random_range(0..3) != 0 {
                        entries.push(format!("\"{k}\" = {}", list(rng, pools)));
                    }
                }
                if !entries.is_empty() {
                    let _ = writeln!(body, "{level} = {{ {} }}", entries.join(", "));
                }
            }
        }
        let _ = writeln!(t, "[load_balancers.lb{i}]\n{body}");
        if rng.random_range(0..3) == 0 {
            let renamed = body
                .replace("\"p0\"", "\"tmp\"")
                .replace("\"p1\"", "\"p0\"")
                .replace("\"tmp\"", "\"p1\"");
            let _ = writeln!(t, "[load_balancers.twin{i}]\n{renamed}");
        }
    }
    t
}

/// Addresses worth asking: both ends of every network and their outside neighbours, each
/// IPv4 one also in its IPv6 spellings (mapped, compatible, 6to4, Teredo), and random ones.
fn addresses(rng: &mut StdRng, nets: &[IpNet]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let v4 = |out: &mut Vec<IpAddr>, a: u32| {
        out.push(IpAddr::V4(Ipv4Addr::from(a)));
        out.push(IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped()));
        out.push(IpAddr::V6(Ipv6Addr::from(u128::from(a))));
        out.push(IpAddr::V6(Ipv6Addr::from(
            (0x2002u128 << 112) | (u128::from(a) << 80),
        )));
        out.push(IpAddr::V6(Ipv6Addr::from(
            (0x2001u128 << 112) | (u128::from(a) << 64),
        )));
    };
    for net in nets {
        match net {
            IpNet::V4(n) => {
                let (s, e) = (u32::from(n.network()), u32::from(n.broadcast()));
                for a in [s.wrapping_sub(1), s, e, e.wrapping_add(1)] {
                    v4(&mut out, a);
                }
            }
            IpNet::V6(n) => {
                let (s, e) = (u128::from(n.network()), u128::from(n.broadcast()));
                for a in [s.wrapping_sub(1), s, e, e.wrapping_add(1)] {
                    out.push(IpAddr::V6(Ipv6Addr::from(a)));
                }
            }
        }
    }
    for _ in 0..2000 {
        v4(&mut out, rng.random());
        out.push(IpAddr::V6(Ipv6Addr::from(rng.random::<u128>())));
        out.push(IpAddr::V6(Ipv6Addr::from(
            (0x2400u128 << 112) | (u128::from(rng.next_u64()) << 40),
        )));
    }
    for a in [0u32, u32::MAX] {
        v4(&mut out, a);
    }
    out.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    out.push(IpAddr::V6(Ipv6Addr::from(u128::MAX)));
    out
}

/// One random case; returns (addresses compared, rule maps, load balancers).
fn check(seed: u64) -> (usize, usize, usize, usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut coords: Vec<(f64, f64)> = (0..rng.random_range(2..12))
        .map(|_| {
            (
                rng.random::<f64>() * 170.0 - 85.0,
                rng.random::<f64>() * 358.0 - 179.0,
            )
        })
        .collect();
    let (lat, lon) = coords[0];
    coords.push((-lat, if lon > 0.0 { lon - 180.0 } else { lon + 180.0 }));
    let path =
        std::env::temp_dir().join(format!("geosteer-prop-{}-{seed}.mmdb", std::process::id()));
    let nets = database(&mut rng, &path, &coords);
    let db = GeoDb::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);

    let zone = Name::from_str("example.com.").unwrap();
    let mut cfg = config::SteeringConfig::default();
    let mut errors = Vec::new();
    let text = configuration(&mut rng, &coords);
    config::read_str(
        Path::new("t.toml"),
        &text,
        &zone,
        &mut cfg,
        &|_| None,
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}\n{text}");

    let index = GeoIndex::build(&db).unwrap();
    let compiled = compile(&cfg, &index, &HashMap::new());
    let addrs = addresses(&mut rng, &nets);
    let mut checked = 0;
    for (lb, location) in cfg.load_balancers.iter().zip(&compiled.per_lb) {
        // Before: a walk of the database for this load balancer alone.
        let mut lists: Vec<Vec<PoolId>> = Vec::new();
        let mut ids: HashMap<Vec<PoolId>, u32> = HashMap::new();
        let (trie, _) = walk(&db, |loc| {
            let (list, _) = steering::candidates(&cfg, lb, loc);
            let next = ids.len() as u32;
            *ids.entry(list.clone()).or_insert_with(|| {
                lists.push(list);
                next
            })
        })
        .unwrap();
        let new = CompiledLb {
            location: location.as_ref().map(|l| LocationSteering {
                rules: l.rules.clone(),
                pools: l.pools.clone(),
            }),
            lists: Vec::new(),
            map: None,
            plans: None,
            records: Vec::new(),
        };
        for &a in &addrs {
            let (value, scope) = trie.lookup(a);
            let (got, got_scope) = new.candidates(lb, a);
            assert_eq!(
                (got.as_slice(), got_scope),
                (lists[value as usize].as_slice(), Some(scope)),
                "seed {seed}, {} ({:?}), {a}\n{text}",
                lb.name,
                lb.policy
            );
            checked += 1;
        }
    }
    let proximity = cfg
        .load_balancers
        .iter()
        .filter(|lb| lb.policy == config::Policy::Proximity)
        .count();
    (
        checked,
        compiled.rule_maps.len(),
        cfg.load_balancers.len(),
        compiled.moved,
        proximity,
    )
}

#[test]
fn shared_maps_answer_as_maps_built_per_load_balancer() {
    let (mut checked, mut rule_maps, mut lbs, mut moved, mut proximity) = (0, 0, 0, 0, 0);
    for seed in 0..40 {
        let (c, r, l, m, p) = check(seed);
        checked += c;
        rule_maps += r;
        lbs += l;
        moved += m;
        proximity += p;
    }
    // Twins shared rule maps; hundreds of thousands of lookups compared, some by proximity
    // (answered from the location key) and some by maps built over a finer projection.
    assert!(
        rule_maps < lbs,
        "{rule_maps} rule maps for {lbs} load balancers"
    );
    assert!(checked > 200_000, "{checked}");
    assert!(
        moved > 0 && proximity > 0,
        "{moved} moved, {proximity} proximity"
    );
}

/// Maps built together (four 16-bit lanes in one pass) are the maps built one by one: same
/// value and ECS scope for every address asked, whatever the number of maps (1 to 9: full
/// and partial groups), with values near the lane limit, and one map above it (built alone).
#[test]
fn maps_built_together_are_maps_built_alone() {
    let mut rng = StdRng::seed_from_u64(17);
    let coords: Vec<(f64, f64)> = (0..6)
        .map(|_| {
            (
                rng.random::<f64>() * 170.0 - 85.0,
                rng.random::<f64>() * 358.0 - 179.0,
            )
        })
        .collect();
    let path = std::env::temp_dir().join(format!("geosteer-lanes-{}.mmdb", std::process::id()));
    let nets = database(&mut rng, &path, &coords);
    let db = GeoDb::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let index = GeoIndex::build(&db).unwrap();
    let base = index.locations().clone();
    let keys = base.keys().len();
    let addrs = addresses(&mut rng, &nets);
    let mut compared = 0;
    for count in 1..=9usize {
        let values: Vec<Vec<u32>> = (0..count)
            .map(|m| {
                // Few classes (long constant runs), many, or values at the lane limit.
                let classes: u32 = [2, 5, 1000][m % 3];
                let offset = if m == 4 { 65_535 - classes } else { 0 };
                let wide = if m == 7 { 70_000 } else { 0 };
                (0..keys)
                    .map(|_| offset + wide + rng.random_range(0..classes))
                    .collect()
            })
            .collect();
        let refs: Vec<&[u32]> = values.iter().map(Vec::as_slice).collect();
        let together = GeoMap::new_many(&base, &refs);
        assert_eq!(together.len(), count);
        for (v, t) in values.iter().zip(&together) {
            let alone = GeoMap::new(base.clone(), v);
            for &a in &addrs {
                assert_eq!(t.lookup(a), alone.lookup(a), "{count} maps, {a}");
                compared += 1;
            }
        }
    }
    assert!(compared > 10_000, "{compared}");
}

/// Serving drops the database's bytes; a reload of the unchanged file still reuses the index
/// walked from it (no bytes needed), one that needs a walk the last load did not make reads
/// the file again, and a file rewritten in place is read again and walked anew.
#[test]
fn reloads_reuse_the_index_without_the_bytes_and_reread_a_changed_file() {
    use crate::load::{Sources, for_serving, load, reload};
    use crate::state::Snapshot;
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(format!("geosteer-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Sources::new(dir.clone(), dir.join("city.mmdb"));
    let mut rng = StdRng::seed_from_u64(5);
    let coords = [(52.37, 4.90), (39.04, -77.49)];
    database(&mut rng, &src.geoip, &coords);
    std::fs::write(
        dir.join("example.test.zone"),
        "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ IN NS ns1\nns1 IN A 127.0.0.53\n",
    )
    .unwrap();
    let pools = "[pools.us]\norigins = [ { address = \"127.0.70.1\" } ]\n\
                 [pools.eu]\norigins = [ { address = \"127.0.71.1\" } ]\n";
    let steering = |location: bool| {
        let (policy, rule) = if location {
            ("geo", "continent_pools = { EU = [\"eu\", \"us\"] }\n")
        } else {
            ("failover", "")
        };
        let text = format!(
            "{pools}[load_balancers.geo]\nsteering = \"{policy}\"\n\
             default_pools = [\"us\", \"eu\"]\n{rule}"
        );
        std::fs::write(dir.join("example.test.toml"), text).unwrap();
    };
    let db = |s: &Snapshot| s.geo.clone().expect("a database");

    // No load balancer reads the location: the database is read, no index is walked.
    steering(false);
    let first = for_serving(load(&src).unwrap_or_else(|e| panic!("{:?}", e.0)));
    assert!(first.geo_index.is_none());
    assert!(!db(&first).has_data(), "released for serving");

    // Now one does: the same file, released, is read again to walk it.
    steering(true);
    let second = for_serving(reload(&src, &first).unwrap_or_else(|e| panic!("{:?}", e.0)));
    assert!(!Arc::ptr_eq(&db(&first), &db(&second)), "read again");
    assert!(!db(&second).has_data(), "released for serving");
    let index = second.geo_index.clone().expect("an index");

    // Unchanged: database and index reused, though the bytes are gone.
    let third = for_serving(reload(&src, &second).unwrap_or_else(|e| panic!("{:?}", e.0)));
    assert!(Arc::ptr_eq(&db(&second), &db(&third)));
    assert!(Arc::ptr_eq(&index, third.geo_index.as_ref().unwrap()));
    assert!(third.compiled[0].location.is_some());

    // Rewritten in place (same inode): read and walked again.
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = ino(&src.geoip);
    let mut rng = StdRng::seed_from_u64(6);
    database(&mut rng, &src.geoip, &coords);
    std::fs::File::options()
        .write(true)
        .open(&src.geoip)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    assert_eq!(ino(&src.geoip), before, "rewritten in place");
    let fourth = for_serving(reload(&src, &third).unwrap_or_else(|e| panic!("{:?}", e.0)));
    assert!(!Arc::ptr_eq(&db(&third), &db(&fourth)));
    assert!(!Arc::ptr_eq(&index, fourth.geo_index.as_ref().unwrap()));
    assert!(!db(&fourth).has_data());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `dynamic` load balancer's client → region map is made from the walk (no walk of its
/// own) on a server's first load, whose database is dropped once walked, and again on a
/// reload that walks a replaced database: the same map as one built from the database alone.
#[test]
fn the_region_map_comes_from_the_walk_and_follows_a_replaced_database() {
    use crate::geo::countries;
    use crate::load::{Sources, for_serving, load_to_serve, reload};
    use crate::state::Snapshot;

    let dir = std::env::temp_dir().join(format!("geosteer-regions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Sources::new(dir.clone(), dir.join("city.mmdb"));
    std::fs::write(
        dir.join("example.test.zone"),
        "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ IN NS ns1\nns1 IN A 127.0.0.53\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("example.test.toml"),
        "[pools.us]\norigins = [ { address = \"127.0.70.1\" } ]\n\
         [pools.eu]\norigins = [ { address = \"127.0.71.1\" } ]\n\
         [load_balancers.www]\nsteering = \"dynamic\"\ndefault_pools = [\"us\", \"eu\"]\n",
    )
    .unwrap();
    let coords = [(52.37, 4.90), (39.04, -77.49)];
    let mut rng = StdRng::seed_from_u64(17);
    let same_as_the_database = |snap: &Snapshot, nets: &[IpNet], rng: &mut StdRng| {
        let db = GeoDb::open(&src.geoip).unwrap();
        let want = GeoMap::build(&db, |loc| {
            loc.and_then(|l| l.region())
                .and_then(countries::region_index)
                .unwrap_or(countries::UNKNOWN_REGION)
                .into()
        })
        .unwrap();
        let got = snap.regions.as_ref().expect("a region map");
        let addrs = addresses(rng, nets);
        assert!(addrs.len() > 50);
        let mut known = 0;
        for a in addrs {
            assert_eq!(got.lookup(a), want.lookup(a), "{a}");
            known += usize::from(got.lookup(a).0 != u32::from(countries::UNKNOWN_REGION));
        }
        assert!(known > 0, "some addresses have a region");
    };

    let nets = database(&mut rng, &src.geoip, &coords);
    let first = load_to_serve(&src).unwrap_or_else(|e| panic!("{:?}", e.0));
    assert!(!first.geo.as_ref().unwrap().has_data(), "released");
    same_as_the_database(&first, &nets, &mut rng);

    // Another database renamed over it: walked anew, the map made again from the new walk.
    let tmp = dir.join("city.new");
    let nets = database(&mut rng, &tmp, &coords);
    std::fs::rename(&tmp, &src.geoip).unwrap();
    let second = for_serving(reload(&src, &first).unwrap_or_else(|e| panic!("{:?}", e.0)));
    assert!(!Arc::ptr_eq(
        first.geo_index.as_ref().unwrap(),
        second.geo_index.as_ref().unwrap()
    ));
    same_as_the_database(&second, &nets, &mut rng);
    let _ = std::fs::remove_dir_all(&dir);
}
