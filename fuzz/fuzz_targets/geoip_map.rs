//! The GeoIP map build on arbitrary databases: structure-aware, arbitrary networks and
//! records (both layouts geosteer reads, with fields of unexpected types and values) are
//! written with mmdb-writer into real .mmdb bytes, opened, and compiled into a map; then the
//! map must agree with the database at the start of every network inserted.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use arbitrary::Arbitrary;
use geosteer::geo::{GeoDb, GeoMap, Location};
use libfuzzer_sys::fuzz_target;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;

#[derive(Arbitrary, Debug, Serialize)]
#[serde(untagged)]
enum Num {
    F(f64),
    I(i64),
    U(u64),
    S(String),
    B(bool),
}

#[derive(Arbitrary, Debug, Serialize)]
struct Code {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<String>,
}

#[derive(Arbitrary, Debug, Serialize)]
struct Names {
    en: String,
}

#[derive(Arbitrary, Debug, Serialize)]
struct Subdivision {
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    names: Option<Names>,
}

#[derive(Arbitrary, Debug, Serialize)]
struct Loc {
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<Num>,
}

/// GeoIP2-City and Country (and DB-IP's own files).
#[derive(Arbitrary, Debug, Serialize)]
struct Nested {
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Loc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<Subdivision>,
}

/// DB-IP Lite repackagings.
#[derive(Arbitrary, Debug, Serialize)]
struct Flat {
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<Num>,
}

#[derive(Arbitrary, Debug, Serialize)]
#[serde(untagged)]
enum Record {
    Nested(Nested),
    Flat(Flat),
    Other(Num),
}

#[derive(Arbitrary, Debug)]
struct Network {
    v6: bool,
    addr: u128,
    prefix: u8,
    record: Record,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ipv4_only: bool,
    networks: Vec<Network>,
}

fn network(n: &Network, ipv4_only: bool) -> Option<IpNet> {
    if n.v6 && !ipv4_only {
        let prefix = n.prefix % 129;
        IpNet::new(IpAddr::V6(Ipv6Addr::from(n.addr)), prefix)
            .ok()
            .map(|net| net.trunc())
    } else {
        let prefix = n.prefix % 33;
        IpNet::new(IpAddr::V4(Ipv4Addr::from(n.addr as u32)), prefix)
            .ok()
            .map(|net| net.trunc())
    }
}

/// A classifier like steering's: a value per country, continent or nothing known.
fn classify(l: Option<&Location>) -> u32 {
    let Some(l) = l else { return 0 };
    let h = |s: &str| s.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    match (l.country(), l.continent(), l.subdivision()) {
        (_, _, Some(s)) => 1 + h(s) % 97,
        (Some(c), _, None) => 100 + h(c) % 97,
        (None, Some(c), None) => 200 + h(c) % 7,
        _ => 300 + u32::from(l.coordinates().is_some()),
    }
}

fuzz_target!(|input: Input| {
    let version = if input.ipv4_only {
        IpVersion::V4
    } else {
        IpVersion::V6
    };
    let mut w = Writer::builder("GeoIP2-City").ip_version(version).build();
    let mut inserted = Vec::new();
    for n in input.networks.iter().take(64) {
        let Some(net) = network(n, input.ipv4_only) else {
            continue;
        };
        if w.insert(net, &n.record).is_ok() {
            inserted.push(net);
        }
    }
    let Ok(bytes) = w.to_bytes() else { return };
    let Ok(db) = GeoDb::from_bytes(Path::new("fuzz.mmdb"), bytes) else {
        return;
    };
    let Ok(map) = GeoMap::build(&db, classify) else {
        return;
    };
    for net in inserted {
        let ip = net.network();
        let want = classify(db.lookup(ip).as_ref().map(|(l, _)| l));
        let (got, _) = map.lookup(ip);
        assert_eq!(got, want, "map and database disagree at {ip} (inserted {net})");
    }
});
