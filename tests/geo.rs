//! GeoIP databases (both record layouts) and the maps compiled from them, on fixture files
//! written with mmdb-writer.

#[path = "support/mmdb.rs"]
mod mmdb;
#[path = "support/sample.rs"]
mod sample;

use std::net::IpAddr;
use std::path::PathBuf;

use geosteer::geo::{GeoDb, GeoIndex, GeoMap, Location, Schema};
use mmdb::{City, Flat, city, temp_path, write_city_db, write_db, write_flat_db};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Removes the scratch file when the test ends, pass or fail.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn codes(l: &Location) -> (String, String, String, &'static str) {
    let s = |c: Option<String>| c.unwrap_or_default();
    (
        s(l.continent.map(|c| c.to_string())),
        s(l.country.map(|c| c.to_string())),
        s(l.subdivision.map(|c| c.to_string())),
        l.region.unwrap_or(""),
    )
}

fn tuple(c: (&str, &str, &str, &'static str)) -> (String, String, String, &'static str) {
    (c.0.into(), c.1.into(), c.2.into(), c.3)
}

/// GeoIP2-City layout: two /25s in London and Manchester, a US /24 and /13, a German /32,
/// a record with only a country, and one without a continent.
fn city_fixture(name: &str) -> (Scratch, GeoDb) {
    let path = temp_path(name);
    write_city_db(
        &path,
        "GeoIP2-City",
        &[
            (
                "81.2.69.0/25",
                city("EU", "GB", Some("ENG"), "London", 51.5142, -0.0931),
            ),
            (
                "81.2.69.128/25",
                city("EU", "GB", Some("ENG"), "Manchester", 53.4808, -2.2426),
            ),
            (
                "8.8.8.0/24",
                city("NA", "US", Some("CA"), "Mountain View", 37.386, -122.0838),
            ),
            (
                "24.0.0.0/13",
                city("NA", "US", Some("NY"), "New York", 40.7128, -74.006),
            ),
            (
                "2001:db8::/32",
                city("EU", "DE", Some("HE"), "Frankfurt am Main", 50.1109, 8.6821),
            ),
            (
                "2a02:1::/32",
                City {
                    country: Some("FR"),
                    ..City::default()
                },
            ),
            (
                "175.16.199.0/24",
                City {
                    country: Some("CN"),
                    subdivision: Some("22"),
                    city: Some("Changchun"),
                    ..City::default()
                },
            ),
        ],
    );
    let db = GeoDb::open(&path).unwrap();
    (Scratch(path), db)
}

#[test]
fn geo_db_nested_schema_metadata_and_lookups() {
    let (_f, db) = city_fixture("nested.mmdb");
    assert_eq!(db.schema(), Schema::GeoIp2);
    assert_eq!(db.database_type(), "GeoIP2-City");
    assert_eq!(db.description(), Some("geosteer test data"));
    assert_eq!(db.build_epoch(), mmdb::BUILD_EPOCH);
    assert_eq!(db.ip_version(), 6);

    let (l, prefix) = db.lookup(ip("81.2.69.142")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "GB", "GB-ENG", "WEU")));
    assert_eq!((l.latitude, l.longitude), (Some(53.4808), Some(-2.2426)));
    assert_eq!(prefix, 25);
    assert_eq!(db.lookup(ip("81.2.69.1")).unwrap().1, 25);

    let (l, prefix) = db.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!(codes(&l), tuple(("NA", "US", "US-CA", "WNAM")));
    assert_eq!(prefix, 24);
    let (l, prefix) = db.lookup(ip("24.1.2.3")).unwrap();
    assert_eq!(codes(&l), tuple(("NA", "US", "US-NY", "ENAM")));
    assert_eq!(prefix, 13);

    let (l, prefix) = db.lookup(ip("2001:db8::1")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "DE", "DE-HE", "WEU")));
    assert_eq!(prefix, 32);

    // Missing fields are derived: continent from the country, region from both.
    let (l, _) = db.lookup(ip("2a02:1::5")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "FR", "", "WEU")));
    assert_eq!(l.latitude, None);
    let (l, _) = db.lookup(ip("175.16.199.1")).unwrap();
    assert_eq!(codes(&l), tuple(("AS", "CN", "CN-22", "NEAS")));
}

#[test]
fn geo_db_misses_and_ipv4_in_ipv6() {
    let (_f, db) = city_fixture("misses.mmdb");
    // 10.0.0.0/7 holds nothing (8.8.8.0/24 is in 8.0.0.0/7): a miss, with its scope.
    assert_eq!(db.lookup(ip("10.0.0.1")), None);
    assert_eq!(db.lookup_scoped(ip("10.0.0.1")), (None, 7));
    assert_eq!(db.lookup(ip("2001:db9::1")), None);

    // IPv4-mapped: the IPv4 answer, with the prefix counted in IPv6 bits.
    let (l, prefix) = db.lookup(ip("::ffff:8.8.8.8")).unwrap();
    assert_eq!(l.country.unwrap().as_str(), "US");
    assert_eq!(prefix, 120);
    // 6to4 (2002:0808:0808::) and IPv4-compatible addresses go through the database's
    // own aliases.
    let (l, prefix) = db.lookup(ip("2002:808:808::1")).unwrap();
    assert_eq!(l.country.unwrap().as_str(), "US");
    assert_eq!(prefix, 40);
    let (l, prefix) = db.lookup(ip("::8.8.8.8")).unwrap();
    assert_eq!(l.country.unwrap().as_str(), "US");
    assert_eq!(prefix, 120);
}

#[test]
fn geo_db_flat_schema_derives_continent_and_region() {
    let path = temp_path("flat4.mmdb");
    let _f = Scratch(path.clone());
    let flat = |cc, state1, city, lat, lon| Flat {
        country_code: Some(cc),
        state1,
        city: Some(city),
        latitude: Some(lat),
        longitude: Some(lon),
        ..Flat::default()
    };
    write_flat_db(
        &path,
        "DBIP-City-Lite",
        true,
        &[
            (
                "8.8.8.0/24",
                flat("US", Some("California"), "Mountain View", 37.4, -122.1),
            ),
            (
                "193.0.6.0/24",
                flat("NL", Some("North Holland"), "Amsterdam", 52.37, 4.89),
            ),
            (
                "99.224.0.0/12",
                flat("CA", Some("Ontario"), "Toronto", 43.65, -79.38),
            ),
            (
                "1.1.1.0/24",
                Flat {
                    continent_code: Some("OC"),
                    ..flat("AU", Some("New South Wales"), "Sydney", -33.87, 151.21)
                },
            ),
        ],
    );
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.schema(), Schema::Flat);
    assert_eq!(db.ip_version(), 4);
    assert_eq!(db.database_type(), "DBIP-City-Lite");

    let (l, prefix) = db.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!(codes(&l), tuple(("NA", "US", "US-CA", "WNAM")));
    assert_eq!((prefix, l.latitude), (24, Some(37.4)));
    let (l, _) = db.lookup(ip("99.230.1.1")).unwrap();
    assert_eq!(codes(&l), tuple(("NA", "CA", "CA-ON", "ENAM")));
    // Subdivision names are only known for the US and Canada.
    let (l, _) = db.lookup(ip("193.0.6.139")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "NL", "", "WEU")));
    let (l, _) = db.lookup(ip("1.1.1.1")).unwrap();
    assert_eq!(codes(&l), tuple(("OC", "AU", "", "OC")));

    // An IPv4-only database answers IPv4-mapped addresses, and nothing else in IPv6.
    assert_eq!(db.lookup(ip("::ffff:8.8.8.8")).unwrap().1, 120);
    assert_eq!(db.lookup_scoped(ip("2001:db8::1")), (None, 0));
    assert_eq!(db.lookup(ip("9.9.9.9")), None);
}

#[test]
fn geo_db_flat_ipv6_and_odd_number_types() {
    // Coordinates stored as 32-bit floats and strings, which the strict decoder will not
    // read as f64.
    #[derive(Serialize)]
    struct OddFlat {
        country_code: &'static str,
        latitude: f32,
        longitude: &'static str,
    }
    let path = temp_path("flat6.mmdb");
    let _f = Scratch(path.clone());
    write_db(
        &path,
        "dbip-city-ipv6",
        false,
        &[(
            "2001:200::/32",
            OddFlat {
                country_code: "JP",
                latitude: 35.5,
                longitude: "139.75",
            },
        )],
    );
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.schema(), Schema::Flat);
    let (l, prefix) = db.lookup(ip("2001:200::1")).unwrap();
    assert_eq!(codes(&l), tuple(("AS", "JP", "", "NEAS")));
    assert_eq!((l.latitude, l.longitude), (Some(35.5), Some(139.75)));
    assert_eq!(prefix, 32);
}

#[test]
fn geo_db_dbip_names_country_db_and_registered_country() {
    // DB-IP's own Lite files: the nested layout with subdivision names but no codes.
    #[derive(Serialize)]
    struct Iso {
        iso_code: &'static str,
    }
    #[derive(Serialize)]
    struct RegisteredOnly {
        registered_country: Iso,
    }
    let path = temp_path("dbip-nested.mmdb");
    let _f = Scratch(path.clone());
    write_city_db(
        &path,
        "DBIP-City-Lite",
        &[(
            "8.8.8.0/24",
            City {
                subdivision_name: Some("Texas"),
                ..city("NA", "US", None, "Dallas", 32.78, -96.8)
            },
        )],
    );
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.schema(), Schema::GeoIp2);
    let (l, _) = db.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!(codes(&l), tuple(("NA", "US", "US-TX", "WNAM")));

    // A Country database: no subdivisions, no coordinates.
    write_city_db(
        &path,
        "GeoLite2-Country",
        &[(
            "193.0.6.0/24",
            City {
                continent: Some("EU"),
                country: Some("NL"),
                ..City::default()
            },
        )],
    );
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.schema(), Schema::GeoIp2);
    let (l, _) = db.lookup(ip("193.0.6.139")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "NL", "", "WEU")));
    assert_eq!(l.latitude, None);

    // Only where the block is registered: used as the country.
    write_db(
        &path,
        "GeoIP2-City",
        false,
        &[(
            "198.51.100.0/24",
            RegisteredOnly {
                registered_country: Iso { iso_code: "SE" },
            },
        )],
    );
    let db = GeoDb::open(&path).unwrap();
    let (l, _) = db.lookup(ip("198.51.100.7")).unwrap();
    assert_eq!(codes(&l), tuple(("EU", "SE", "", "WEU")));
}

#[test]
fn geo_db_refuses_what_is_not_a_location_database() {
    #[derive(Serialize)]
    struct Asn {
        autonomous_system_number: u32,
        autonomous_system_organization: &'static str,
    }
    let path = temp_path("asn.mmdb");
    let _f = Scratch(path.clone());
    write_db(
        &path,
        "GeoLite2-ASN",
        false,
        &[(
            "8.8.8.0/24",
            Asn {
                autonomous_system_number: 15169,
                autonomous_system_organization: "GOOGLE",
            },
        )],
    );
    let e = GeoDb::open(&path).unwrap_err();
    assert_eq!(e.file, path);
    assert!(e.message.contains("not a location database"), "{e}");
    assert!(e.message.contains("GeoLite2-ASN"), "{e}");

    write_db::<Asn>(&path, "GeoIP2-City", false, &[]);
    let e = GeoDb::open(&path).unwrap_err();
    assert!(
        e.message.contains("no records") || e.message.contains("empty search tree"),
        "{e}"
    );

    std::fs::write(&path, b"GeoLite2-City.mmdb\n").unwrap();
    let e = GeoDb::open(&path).unwrap_err();
    assert!(e.message.contains("cannot open as a MaxMind DB"), "{e}");
    assert!(e.to_string().starts_with(&path.display().to_string()));

    let missing = temp_path("does-not-exist.mmdb");
    assert!(GeoDb::open(&missing).is_err());
}

/// A classification by country, as a policy with a pool per country would do.
fn by_country(l: Option<&Location>) -> u32 {
    match l.and_then(|l| l.country).as_ref().map(|c| c.as_str()) {
        None => 0,
        Some("GB") => 1,
        Some("US") => 2,
        Some("DE") => 3,
        Some(_) => 4,
    }
}

#[test]
fn geo_map_scopes_are_the_widest_constant_prefixes() {
    let (_f, db) = city_fixture("map-scopes.mmdb");
    let map = GeoMap::build(&db, by_country).unwrap();
    let q = |s: &str| map.lookup(ip(s));
    // London and Manchester merge into the /24; its neighbours are unknown.
    assert_eq!(q("81.2.69.142"), (1, 24));
    assert_eq!(q("81.2.69.1"), (1, 24));
    assert_eq!(q("8.8.8.8"), (2, 24));
    assert_eq!(q("24.7.255.255"), (2, 13));
    assert_eq!(q("10.0.0.1"), (0, 7));
    assert_eq!(q("2001:db8:1::1"), (3, 32));
    assert_eq!(q("2001:db9::1"), (0, 32));
    // IPv4 seen through IPv6: mapped, IPv4-compatible, 6to4 (2002:5102:458e:: is
    // 81.2.69.142) and Teredo (server address in bits 32-63) all resolve through the IPv4
    // tree, with the scope counted in IPv6 bits.
    assert_eq!(q("::ffff:81.2.69.142"), (1, 120));
    assert_eq!(q("::81.2.69.142"), (1, 120));
    assert_eq!(q("2002:5102:458e::1"), (1, 40));
    assert_eq!(q("2001:0:5102:458e::1"), (1, 56));
    // Every network of the database agrees with a direct lookup.
    for s in [
        "81.2.69.142",
        "8.8.8.8",
        "24.1.1.1",
        "175.16.199.9",
        "2001:db8::1",
        "2a02:1::1",
        "192.0.2.1",
        "::1",
    ] {
        assert_eq!(
            map.lookup(ip(s)).0,
            by_country(db.lookup(ip(s)).map(|x| x.0).as_ref()),
            "{s}"
        );
    }
}

#[test]
fn geo_map_classifies_each_location_once() {
    let (_f, db) = city_fixture("map-once.mmdb");
    let mut calls = Vec::new();
    let map = GeoMap::build(&db, |l| {
        calls.push(l.copied());
        calls.len() as u32
    })
    .unwrap();
    // None first, then the seven distinct records (all different locations).
    assert_eq!(calls[0], None);
    assert_eq!(calls.len(), 8);
    // One key per location, and one for "no data"; one bit per node of the location tree.
    let stats = map.stats();
    assert_eq!(stats.keys, 8);
    assert!(stats.nodes > 0 && stats.bytes >= stats.nodes / 8, "{stats}");
    assert!(stats.to_string().contains("8 keys"), "{stats}");
    let index = GeoIndex::build(&db).unwrap();
    let stats = index.stats();
    assert_eq!((stats.records, stats.locations), (7, 7));
    assert!(stats.networks > 7 && stats.nodes > 0);
    assert!(stats.to_string().contains("7 records"), "{stats}");
    // Distinct values everywhere: London and Manchester no longer merge.
    assert_eq!(map.lookup(ip("81.2.69.142")).1, 25);
}

#[test]
fn geo_map_of_an_ipv4_only_flat_database() {
    let path = temp_path("map-flat4.mmdb");
    let _f = Scratch(path.clone());
    let us = Flat {
        country_code: Some("US"),
        ..Flat::default()
    };
    write_flat_db(
        &path,
        "DBIP-City-Lite",
        true,
        &[("8.8.8.0/24", us.clone()), ("8.8.9.0/24", us)],
    );
    let db = GeoDb::open(&path).unwrap();
    let map = GeoMap::build(&db, by_country).unwrap();
    assert_eq!(map.lookup(ip("8.8.9.9")), (2, 23));
    assert_eq!(map.lookup(ip("::ffff:8.8.9.9")), (2, 119));
    // No IPv6 data: one unknown leaf beside the path to ::ffff:0:0/96.
    assert_eq!(map.lookup(ip("2001:db8::1")), (0, 3));
}

#[test]
fn geo_map_agrees_with_the_database_everywhere_it_is_asked() {
    const COUNTRIES: [(&str, &str); 6] = [
        ("GB", "EU"),
        ("US", "NA"),
        ("DE", "EU"),
        ("JP", "AS"),
        ("BR", "SA"),
        ("AU", "OC"),
    ];
    let mut rng = StdRng::seed_from_u64(0x2545_f491_4f6c_dd1d);
    let mut nets = Vec::new();
    for i in 0..400 {
        let (cc, cont) = COUNTRIES[(rng.next_u64() % 6) as usize];
        let city = ["A", "B", "C"][(rng.next_u64() % 3) as usize];
        let net = if i % 4 == 0 {
            let len = 16 + rng.next_u64() % 49;
            let addr = (0x2000u128 << 112) | (u128::from(rng.next_u64()) << 64);
            let addr = addr & !(u128::MAX >> len);
            format!("{}/{len}", std::net::Ipv6Addr::from(addr))
        } else {
            let len = 8 + rng.next_u64() % 21;
            let addr = (rng.next_u64() as u32) & !(u32::MAX >> len);
            format!("{}/{len}", std::net::Ipv4Addr::from(addr))
        };
        let record = City {
            continent: Some(cont),
            country: Some(cc),
            city: Some(city),
            ..City::default()
        };
        nets.push((net, record));
    }
    // Skip what mmdb-writer will not take (alias ranges) rather than fail.
    let nets: Vec<(&str, City)> = nets
        .iter()
        .filter(|(n, _)| !n.starts_with("2001::") && !n.starts_with("2002:"))
        .map(|(n, c)| (n.as_str(), c.clone()))
        .collect();
    let path = temp_path("map-random.mmdb");
    let _f = Scratch(path.clone());
    write_city_db(&path, "GeoIP2-City", &nets);
    let db = GeoDb::open(&path).unwrap();
    let map = GeoMap::build(&db, by_country).unwrap();

    let class = |a: IpAddr| by_country(db.lookup(a).map(|x| x.0).as_ref());
    let mut checked = 0;
    for _ in 0..3000 {
        let a = if rng.next_u64() % 4 == 0 {
            IpAddr::from(((0x2000u128 << 112) | u128::from(rng.next_u64()) << 64).to_be_bytes())
        } else {
            IpAddr::from((rng.next_u64() as u32).to_be_bytes())
        };
        let (value, scope) = map.lookup(a);
        assert_eq!(value, class(a), "{a}");
        // The first and last address of the scope prefix get the same value.
        let (first, last) = match a {
            IpAddr::V4(v4) => {
                let net = ipnet::Ipv4Net::new(v4, scope).unwrap();
                (IpAddr::V4(net.network()), IpAddr::V4(net.broadcast()))
            }
            IpAddr::V6(v6) => {
                let net = ipnet::Ipv6Net::new(v6, scope).unwrap();
                (IpAddr::V6(net.network()), IpAddr::V6(net.broadcast()))
            }
        };
        assert_eq!((class(first), class(last)), (value, value), "{a}/{scope}");
        checked += 1;
    }
    assert_eq!(checked, 3000);
}

#[test]
fn geo_sample_database_is_reproducible_from_its_source() {
    let text = std::fs::read_to_string(sample::toml_path()).unwrap();
    let source = sample::parse(&text).unwrap();
    let committed = std::fs::read(sample::mmdb_path()).unwrap();
    assert!(
        sample::build(&source) == committed,
        "geoip/sample-city.mmdb is stale: run `cargo run --example build_sample_geoip`"
    );
}

#[test]
fn geo_sample_database_contents() {
    let db = GeoDb::open(&sample::mmdb_path()).unwrap();
    assert_eq!(db.schema(), Schema::GeoIp2);
    assert_eq!(db.database_type(), "geosteer-Sample-City");
    assert!(db.description().unwrap().contains("not real"));
    assert_eq!(db.build_epoch(), mmdb::BUILD_EPOCH);
    for (addr, expect, prefix) in [
        ("8.8.8.8", ("NA", "US", "US-CA", "WNAM"), 24),
        ("193.0.6.139", ("EU", "NL", "NL-NH", "WEU"), 24),
        ("1.1.1.1", ("OC", "AU", "AU-NSW", "OC"), 24),
        ("202.12.27.33", ("AS", "JP", "JP-13", "NEAS"), 24),
        ("80.81.192.1", ("EU", "DE", "DE-HE", "WEU"), 22),
        ("99.250.1.1", ("NA", "CA", "CA-BC", "WNAM"), 12),
        ("187.130.0.1", ("NA", "MX", "MX-CMX", "WNAM"), 10),
        ("103.4.97.1", ("AS", "SG", "", "SEAS"), 22),
        ("2001:4860:4860::8888", ("NA", "US", "US-CA", "WNAM"), 32),
        ("2001:67c:2e8::1", ("EU", "NL", "NL-NH", "WEU"), 48),
        ("2400:cb00::1", ("NA", "US", "US-CA", "WNAM"), 32),
        ("2a00:1450:4001::1", ("EU", "DE", "DE-HE", "WEU"), 48),
    ] {
        let (l, p) = db.lookup(ip(addr)).unwrap_or_else(|| panic!("{addr}"));
        assert_eq!((codes(&l), p), (tuple(expect), prefix), "{addr}");
    }
    let (l, _) = db.lookup(ip("80.81.192.1")).unwrap();
    assert_eq!((l.latitude, l.longitude), (Some(50.1109), Some(8.6821)));
    assert_eq!(db.lookup(ip("192.0.2.1")), None);
}

#[test]
fn geo_sample_map_merges_neighbours_into_wider_scopes() {
    let db = GeoDb::open(&sample::mmdb_path()).unwrap();
    let country = GeoMap::build(&db, |l| {
        let c = l.and_then(|l| l.country);
        c.map_or(0, |c| {
            u32::from(c.as_str().as_bytes()[0]) << 8 | u32::from(c.as_str().as_bytes()[1])
        })
    })
    .unwrap();
    let cc = |v: u32| String::from_utf8(vec![(v >> 8) as u8, v as u8]).unwrap();
    for (addr, expect, scope) in [
        ("4.1.2.3", "US", 8),
        ("4.200.0.1", "US", 8),
        ("24.20.0.1", "US", 11),
        ("99.230.0.1", "CA", 11),
        ("80.81.197.1", "DE", 21),
        ("202.12.26.1", "JP", 23),
        ("2600:1f00:8000::1", "US", 32),
    ] {
        let (v, s) = country.lookup(ip(addr));
        assert_eq!((cc(v).as_str(), s), (expect, scope), "{addr}");
    }
    // By region, New York (ENAM) stays apart from Denver and Seattle (WNAM).
    let regions = ["WNAM", "ENAM"];
    let region = GeoMap::build(&db, |l| {
        let r = l.and_then(|l| l.region);
        regions
            .iter()
            .position(|x| Some(*x) == r)
            .map_or(9, |i| i as u32)
    })
    .unwrap();
    assert_eq!(region.lookup(ip("24.1.0.1")), (1, 13));
    assert_eq!(region.lookup(ip("24.9.0.1")), (0, 13));
    assert_eq!(region.lookup(ip("24.20.0.1")), (0, 12));
    assert_eq!(region.lookup(ip("4.1.2.3")), (1, 9));
}

#[test]
fn geo_map_of_an_ipv6_only_database() {
    // DB-IP repackagings ship IPv6 alone: an IPv6 tree with no IPv4 subtree and no aliases,
    // whose empty networks the reader's iterator skips.
    let path = temp_path("map-flat6.mmdb");
    let _f = Scratch(path.clone());
    let jp = Flat {
        country_code: Some("JP"),
        ..Flat::default()
    };
    let de = Flat {
        country_code: Some("DE"),
        ..Flat::default()
    };
    write_flat_db(
        &path,
        "dbip-city-ipv6",
        false,
        &[("2001:200::/32", jp), ("2a00:1450:4001::/48", de)],
    );
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.lookup_scoped(ip("8.8.8.8")), (None, 0));
    let map = GeoMap::build(&db, by_country).unwrap();
    assert_eq!(map.lookup(ip("2001:200::1")), (4, 32));
    assert_eq!(map.lookup(ip("2a00:1450:4001::1")), (3, 48));
    assert_eq!(map.lookup(ip("2001:201::1")).0, 0);
    assert_eq!(map.lookup(ip("8.8.8.8")), (0, 0));
    assert_eq!(map.lookup(ip("::ffff:8.8.8.8")), (0, 96));
    for s in [
        "2001:200::1",
        "2a00:1450:4001::1",
        "2001:db8::1",
        "8.8.8.8",
        "::1",
    ] {
        assert_eq!(
            map.lookup(ip(s)).0,
            by_country(db.lookup(ip(s)).map(|x| x.0).as_ref()),
            "{s}"
        );
    }
}

#[test]
fn geo_map_of_a_one_letter_country_with_a_subdivision() {
    // A damaged or hostile database: country "A" with subdivision "CA". It used to panic
    // the map build (the subdivision code took the first two bytes of the country). Now
    // such a record has no country (and so no subdivision); its continent stays.
    let path = temp_path("one-letter-country.mmdb");
    let _scratch = Scratch(path.clone());
    write_city_db(
        &path,
        "GeoIP2-City",
        &[
            (
                "198.51.100.0/24",
                city("NA", "A", Some("CA"), "Nowhere", 10.0, 10.0),
            ),
            (
                "203.0.113.0/24",
                city("EU", "DE", Some("HE"), "Frankfurt am Main", 50.1109, 8.6821),
            ),
        ],
    );
    let db = GeoDb::open(&path).unwrap();
    let map = GeoMap::build(&db, by_country).unwrap();
    let (loc, _) = db.lookup(ip("198.51.100.7")).expect("a record");
    assert_eq!(
        codes(&loc),
        tuple(("NA", "", "", "")),
        "no country, no subdivision"
    );
    assert_eq!(map.lookup(ip("198.51.100.7")).0, by_country(Some(&loc)));
}
