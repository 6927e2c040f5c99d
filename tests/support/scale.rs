//! Seeded synthetic data at the scale of a real deployment, for the scale benchmarks
//! (`examples/scale_data.rs`, `benches/query_path.rs`, `bench/run.sh --scale`): a
//! GeoLite2-City-sized GeoIP database, a configuration of many load balancers, and a large
//! zone with a realistic mix of records. The same seed always gives the same files.
//!
//! Include it with `#[path = "../tests/support/scale.rs"] mod scale;` (from `examples/` or
//! `benches/`). It needs the `mmdb-writer` and `rand` dev-dependencies.
//!
//! Nothing here is real data. The database is shaped like GeoLite2-City where that matters
//! for building maps from it: millions of networks of mixed sizes; about 120,000 distinct
//! city records; each IPv4 /8 allocated by one registry, which hands blocks to countries of
//! its continents, which hand them to ISPs in one subdivision (state, province) serving a few
//! cities each; country-level records and gaps between networks; the US and Canada with
//! their real states and provinces, other countries with made-up subdivision codes; cities
//! scattered around their subdivision, subdivisions around their country; an IPv6 tree with
//! IPv4 at `::/96` and the usual aliases (`::ffff:0:0/96`, 6to4, Teredo), as MaxMind builds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{IpVersion, Value, Writer};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

// ------------------------------------------------------------------------------ geography

/// (ISO code, continent, weight in ‰ of networks, latitude, longitude, spread in degrees,
/// subdivisions). Weights are a rough share of GeoLite2-City's IPv4 networks.
const COUNTRIES: &[(&str, &str, f64, f64, f64, f64, usize)] = &[
    ("US", "NA", 300.0, 38.0, -97.0, 14.0, 0),
    ("CN", "AS", 70.0, 33.0, 110.0, 10.0, 31),
    ("JP", "AS", 55.0, 36.0, 138.0, 4.0, 47),
    ("DE", "EU", 45.0, 51.0, 10.0, 2.5, 16),
    ("GB", "EU", 45.0, 53.0, -2.0, 2.5, 4),
    ("KR", "AS", 35.0, 36.5, 127.8, 1.5, 17),
    ("BR", "SA", 35.0, -12.0, -50.0, 10.0, 27),
    ("FR", "EU", 35.0, 46.5, 2.5, 3.0, 13),
    ("RU", "EU", 30.0, 56.0, 45.0, 10.0, 40),
    ("CA", "NA", 25.0, 50.0, -96.0, 10.0, 0),
    ("IT", "EU", 25.0, 42.8, 12.5, 3.0, 20),
    ("NL", "EU", 20.0, 52.2, 5.3, 0.8, 12),
    ("AU", "OC", 18.0, -28.0, 140.0, 10.0, 8),
    ("IN", "AS", 18.0, 21.0, 78.0, 7.0, 30),
    ("ES", "EU", 15.0, 40.0, -3.7, 3.0, 17),
    ("MX", "NA", 12.0, 22.0, -101.0, 5.0, 32),
    ("PL", "EU", 12.0, 52.0, 19.4, 2.5, 16),
    ("TW", "AS", 10.0, 23.7, 121.0, 0.8, 20),
    ("SE", "EU", 10.0, 60.1, 16.0, 4.0, 21),
    ("UA", "EU", 8.0, 49.0, 31.4, 4.0, 25),
    ("TR", "AS", 8.0, 39.0, 35.0, 4.0, 40),
    ("AR", "SA", 8.0, -34.0, -64.0, 7.0, 24),
    ("CH", "EU", 7.0, 46.8, 8.2, 0.8, 26),
    ("ID", "AS", 6.0, -2.5, 114.0, 8.0, 34),
    ("VN", "AS", 6.0, 16.0, 106.0, 4.0, 40),
    ("BE", "EU", 6.0, 50.5, 4.5, 0.8, 11),
    ("AT", "EU", 6.0, 47.5, 14.5, 1.5, 9),
    ("CZ", "EU", 6.0, 49.8, 15.5, 1.5, 14),
    ("RO", "EU", 5.0, 45.9, 25.0, 2.0, 41),
    ("ZA", "AF", 5.0, -29.0, 25.0, 5.0, 9),
    ("HK", "AS", 5.0, 22.3, 114.2, 0.2, 18),
    ("SG", "AS", 5.0, 1.35, 103.8, 0.1, 5),
    ("TH", "AS", 4.0, 15.0, 101.0, 4.0, 40),
    ("IR", "AS", 4.0, 32.0, 53.0, 5.0, 31),
    ("CO", "SA", 4.0, 4.6, -74.0, 4.0, 33),
    ("CL", "SA", 3.0, -33.0, -71.0, 5.0, 16),
    ("IL", "AS", 3.0, 31.5, 34.9, 0.8, 6),
    ("NO", "EU", 3.0, 61.0, 9.0, 4.0, 11),
    ("DK", "EU", 3.0, 56.0, 10.0, 1.0, 5),
    ("FI", "EU", 3.0, 62.0, 26.0, 3.0, 19),
    ("PT", "EU", 3.0, 39.5, -8.0, 1.5, 20),
    ("GR", "EU", 3.0, 39.0, 22.0, 2.0, 13),
    ("HU", "EU", 3.0, 47.0, 19.5, 1.5, 20),
    ("NZ", "OC", 3.0, -41.0, 174.0, 4.0, 16),
    ("MY", "AS", 3.0, 3.1, 101.7, 3.0, 16),
    ("PH", "AS", 3.0, 12.9, 122.0, 4.0, 17),
    ("IE", "EU", 2.0, 53.4, -8.0, 1.5, 26),
    ("EG", "AF", 2.0, 26.8, 30.8, 4.0, 27),
    ("SA", "AS", 2.0, 24.0, 45.0, 6.0, 13),
    ("AE", "AS", 2.0, 24.3, 54.4, 1.0, 7),
    ("PK", "AS", 2.0, 30.0, 70.0, 5.0, 7),
    ("BG", "EU", 2.0, 42.7, 25.5, 1.5, 28),
    ("SK", "EU", 2.0, 48.7, 19.7, 1.0, 8),
    ("BD", "AS", 1.0, 23.7, 90.4, 2.0, 8),
    ("NG", "AF", 1.0, 9.0, 8.0, 4.0, 37),
    ("KE", "AF", 1.0, 0.0, 38.0, 3.0, 47),
    ("MA", "AF", 1.0, 32.0, -6.0, 3.0, 12),
    ("PE", "SA", 1.0, -9.0, -75.0, 5.0, 25),
    ("VE", "SA", 1.0, 8.0, -66.0, 4.0, 24),
    ("KZ", "AS", 1.0, 48.0, 67.0, 8.0, 17),
    ("RS", "EU", 1.0, 44.0, 21.0, 1.5, 25),
    ("LT", "EU", 1.0, 55.2, 23.9, 1.0, 10),
];

/// US states and Canadian provinces, with a weight (roughly population, in millions).
const US_STATES: &[(&str, f64)] = &[
    ("CA", 39.0),
    ("TX", 30.0),
    ("FL", 22.0),
    ("NY", 19.7),
    ("PA", 13.0),
    ("IL", 12.5),
    ("OH", 11.8),
    ("GA", 11.0),
    ("NC", 10.7),
    ("MI", 10.0),
    ("NJ", 9.3),
    ("VA", 8.7),
    ("WA", 7.8),
    ("AZ", 7.4),
    ("TN", 7.1),
    ("MA", 7.0),
    ("IN", 6.8),
    ("MD", 6.2),
    ("MO", 6.2),
    ("WI", 5.9),
    ("CO", 5.8),
    ("MN", 5.7),
    ("SC", 5.3),
    ("AL", 5.1),
    ("LA", 4.6),
    ("KY", 4.5),
    ("OR", 4.2),
    ("OK", 4.0),
    ("CT", 3.6),
    ("UT", 3.4),
    ("IA", 3.2),
    ("NV", 3.2),
    ("AR", 3.0),
    ("MS", 2.9),
    ("KS", 2.9),
    ("NM", 2.1),
    ("NE", 2.0),
    ("ID", 1.9),
    ("WV", 1.8),
    ("HI", 1.4),
    ("NH", 1.4),
    ("ME", 1.4),
    ("MT", 1.1),
    ("RI", 1.1),
    ("DE", 1.0),
    ("SD", 0.9),
    ("ND", 0.8),
    ("AK", 0.7),
    ("DC", 0.7),
    ("VT", 0.6),
    ("WY", 0.6),
];
const CA_PROVINCES: &[(&str, f64)] = &[
    ("ON", 15.0),
    ("QC", 8.7),
    ("BC", 5.4),
    ("AB", 4.6),
    ("MB", 1.4),
    ("SK", 1.2),
    ("NS", 1.0),
    ("NB", 0.8),
    ("NL", 0.5),
    ("PE", 0.2),
    ("NT", 0.05),
    ("YT", 0.04),
    ("NU", 0.04),
];

/// Every other country: continent and a guessed position inside it.
const OTHER_COUNTRIES: &[(&str, &str)] = &[
    ("AD", "EU"),
    ("AF", "AS"),
    ("AL", "EU"),
    ("AM", "AS"),
    ("AO", "AF"),
    ("AZ", "AS"),
    ("BA", "EU"),
    ("BH", "AS"),
    ("BO", "SA"),
    ("BY", "EU"),
    ("CI", "AF"),
    ("CM", "AF"),
    ("CR", "NA"),
    ("CU", "NA"),
    ("CY", "EU"),
    ("DO", "NA"),
    ("DZ", "AF"),
    ("EC", "SA"),
    ("EE", "EU"),
    ("ET", "AF"),
    ("FJ", "OC"),
    ("GE", "AS"),
    ("GH", "AF"),
    ("GT", "NA"),
    ("HN", "NA"),
    ("HR", "EU"),
    ("IQ", "AS"),
    ("IS", "EU"),
    ("JM", "NA"),
    ("JO", "AS"),
    ("KG", "AS"),
    ("KH", "AS"),
    ("KW", "AS"),
    ("LA", "AS"),
    ("LB", "AS"),
    ("LK", "AS"),
    ("LU", "EU"),
    ("LV", "EU"),
    ("LY", "AF"),
    ("MD", "EU"),
    ("ME", "EU"),
    ("MK", "EU"),
    ("MM", "AS"),
    ("MN", "AS"),
    ("MO", "AS"),
    ("MT", "EU"),
    ("MU", "AF"),
    ("MZ", "AF"),
    ("NA", "AF"),
    ("NI", "NA"),
    ("NP", "AS"),
    ("OM", "AS"),
    ("PA", "NA"),
    ("PG", "OC"),
    ("PR", "NA"),
    ("PS", "AS"),
    ("PY", "SA"),
    ("QA", "AS"),
    ("RW", "AF"),
    ("SD", "AF"),
    ("SI", "EU"),
    ("SN", "AF"),
    ("SV", "NA"),
    ("SY", "AS"),
    ("TN", "AF"),
    ("TT", "NA"),
    ("TZ", "AF"),
    ("UG", "AF"),
    ("UY", "SA"),
    ("UZ", "AS"),
    ("YE", "AS"),
    ("ZM", "AF"),
    ("ZW", "AF"),
    ("AQ", "AN"),
];

/// Continent: (geoname id, name, latitude and longitude box).
fn continent_info(code: &str) -> (u32, &'static str, (f64, f64, f64, f64)) {
    match code {
        "AF" => (6255146, "Africa", (-30.0, 30.0, -15.0, 45.0)),
        "AN" => (6255152, "Antarctica", (-80.0, -66.0, -170.0, 170.0)),
        "AS" => (6255147, "Asia", (5.0, 50.0, 60.0, 135.0)),
        "EU" => (6255148, "Europe", (38.0, 62.0, -8.0, 35.0)),
        "NA" => (6255149, "North America", (10.0, 55.0, -120.0, -65.0)),
        "OC" => (6255151, "Oceania", (-40.0, -5.0, 115.0, 178.0)),
        _ => (6255150, "South America", (-45.0, 8.0, -78.0, -38.0)),
    }
}

/// Which registry allocated each IPv4 /8 (after IANA's registry, approximately); the other
/// public /8s count as ARIN (legacy space).
const RIPE_8: &[u8] = &[
    2, 5, 25, 31, 37, 46, 51, 53, 57, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
    91, 92, 93, 94, 95, 109, 141, 145, 151, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
];
const APNIC_8: &[u8] = &[
    1, 14, 27, 36, 39, 42, 43, 49, 58, 59, 60, 61, 101, 103, 106, 110, 111, 112, 113, 114, 115,
    116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 133, 150, 153, 163, 171, 175, 180, 182,
    183, 202, 203, 210, 211, 218, 219, 220, 221, 222, 223,
];
const LACNIC_8: &[u8] = &[177, 179, 181, 186, 187, 189, 190, 191, 200, 201];
const AFRINIC_8: &[u8] = &[41, 102, 105, 154, 196, 197];
/// Never in a location database.
const UNMAPPED_8: &[u8] = &[0, 10, 127];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rir {
    Arin,
    Ripe,
    Apnic,
    Lacnic,
    Afrinic,
}

impl Rir {
    fn of_slash8(o: u8) -> Rir {
        if RIPE_8.contains(&o) {
            Rir::Ripe
        } else if APNIC_8.contains(&o) {
            Rir::Apnic
        } else if LACNIC_8.contains(&o) {
            Rir::Lacnic
        } else if AFRINIC_8.contains(&o) {
            Rir::Afrinic
        } else {
            Rir::Arin
        }
    }

    /// Most of a registry's space is in its region; some is used elsewhere.
    fn continents(self) -> &'static [(&'static str, f64)] {
        match self {
            Rir::Arin => &[
                ("NA", 90.0),
                ("EU", 4.0),
                ("AS", 3.0),
                ("SA", 1.0),
                ("OC", 1.0),
                ("AF", 1.0),
            ],
            Rir::Ripe => &[("EU", 88.0), ("AS", 7.0), ("NA", 3.0), ("AF", 2.0)],
            Rir::Apnic => &[("AS", 85.0), ("OC", 10.0), ("NA", 3.0), ("EU", 2.0)],
            Rir::Lacnic => &[("SA", 85.0), ("NA", 13.0), ("EU", 2.0)],
            Rir::Afrinic => &[("AF", 92.0), ("EU", 5.0), ("NA", 3.0)],
        }
    }

    /// Relative density of networks in its /8s (RIPE and APNIC space is cut finer).
    fn density(self) -> f64 {
        match self {
            Rir::Arin => 0.8,
            Rir::Ripe => 1.5,
            Rir::Apnic => 1.3,
            Rir::Lacnic => 1.0,
            Rir::Afrinic => 0.7,
        }
    }
}

/// Weighted choice of an index.
fn pick(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// A Zipf-like weight for rank `i`: a few big ones, a long tail.
fn zipf(i: usize) -> f64 {
    1.0 / (i as f64 + 1.0)
}

fn hash_unit(s: &str, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn clamp_coords(lat: f64, lon: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.0, 85.0);
    let lon = ((lon + 180.0).rem_euclid(360.0)) - 180.0;
    ((lat * 1e4).round() / 1e4, (lon * 1e4).round() / 1e4)
}

struct Country {
    code: &'static str,
    continent: &'static str,
    weight: f64,
    center: (f64, f64),
    spread: f64,
    /// (code, weight, center)
    subdivisions: Vec<(String, f64, (f64, f64))>,
    /// City record ids by subdivision.
    cities: Vec<Vec<usize>>,
    /// The country-level record (no city, no subdivision).
    record: usize,
    geoname: u32,
}

fn countries(rng: &mut StdRng) -> Vec<Country> {
    let mut out = Vec::new();
    for &(code, cont, weight, lat, lon, spread, subs) in COUNTRIES {
        out.push((code, cont, weight, (lat, lon), spread, subs));
    }
    for &(code, cont) in OTHER_COUNTRIES {
        let (_, _, (la0, la1, lo0, lo1)) = continent_info(cont);
        let lat = la0 + (la1 - la0) * hash_unit(code, 1);
        let lon = lo0 + (lo1 - lo0) * hash_unit(code, 2);
        let subs = 1 + (hash_unit(code, 3) * 8.0) as usize;
        out.push((code, cont, 0.3, (lat, lon), 1.5, subs));
    }
    out.into_iter()
        .enumerate()
        .map(|(n, (code, continent, weight, center, spread, subs))| {
            let named: Vec<(String, f64)> = match code {
                "US" => US_STATES.iter().map(|(s, w)| (s.to_string(), *w)).collect(),
                "CA" => CA_PROVINCES
                    .iter()
                    .map(|(s, w)| (s.to_string(), *w))
                    .collect(),
                "GB" => ["ENG", "SCT", "WLS", "NIR"]
                    .iter()
                    .zip([84.0, 8.0, 5.0, 3.0])
                    .map(|(s, w)| (s.to_string(), w))
                    .collect(),
                _ => (0..subs)
                    .map(|i| {
                        // Made-up codes in the ISO 3166-2 shapes: two letters, or digits.
                        let code = if n % 3 == 0 {
                            format!("{:02}", i + 1)
                        } else {
                            let a = (b'A' + (i / 26) as u8 % 26) as char;
                            let b = (b'A' + (i % 26) as u8) as char;
                            format!("{a}{b}")
                        };
                        (code, zipf(i))
                    })
                    .collect(),
            };
            let subdivisions = named
                .into_iter()
                .map(|(s, w)| {
                    let r = spread * rng.random::<f64>().sqrt();
                    let a = rng.random::<f64>() * std::f64::consts::TAU;
                    let c = clamp_coords(center.0 + r * a.sin(), center.1 + r * a.cos());
                    (s, w, c)
                })
                .collect::<Vec<_>>();
            Country {
                code,
                continent,
                weight,
                center,
                spread,
                cities: vec![Vec::new(); subdivisions.len()],
                subdivisions,
                record: 0,
                geoname: 1_000_000 + n as u32,
            }
        })
        .collect()
}

fn names(en: &str) -> Value {
    // Real records carry names in eight languages; these make records about as large.
    Value::map([
        ("de", Value::from(en)),
        ("en", Value::from(en)),
        ("es", Value::from(en)),
        ("fr", Value::from(en)),
        ("ja", Value::from(format!("{en} (ja)"))),
        ("pt-BR", Value::from(en)),
        ("ru", Value::from(format!("{en} (ru)"))),
        ("zh-CN", Value::from(format!("{en} (zh)"))),
    ])
}

fn continent_value(code: &str) -> Value {
    let (id, name, _) = continent_info(code);
    Value::map([
        ("code", Value::from(code)),
        ("geoname_id", Value::from(id)),
        ("names", names(name)),
    ])
}

fn country_value(c: &Country) -> Value {
    Value::map([
        ("geoname_id", Value::from(c.geoname)),
        ("iso_code", Value::from(c.code)),
        ("names", names(&format!("Country {}", c.code))),
    ])
}

/// One record of the database.
struct Record {
    value: Value,
}

fn city_record(
    c: &Country,
    sub: Option<&(String, f64, (f64, f64))>,
    city: Option<(u32, (f64, f64))>,
    accuracy: u16,
) -> Record {
    let mut m = BTreeMap::new();
    let (geoname, coords) = match city {
        Some((id, at)) => (Some(id), at),
        None => (None, c.center),
    };
    if let Some(id) = geoname {
        m.insert(
            "city".to_string(),
            Value::map([
                ("geoname_id", Value::from(id)),
                ("names", names(&format!("City {id}"))),
            ]),
        );
        m.insert(
            "postal".to_string(),
            Value::map([("code", Value::from(format!("{:05}", id % 100_000)))]),
        );
    }
    m.insert("continent".to_string(), continent_value(c.continent));
    m.insert("country".to_string(), country_value(c));
    m.insert("registered_country".to_string(), country_value(c));
    m.insert(
        "location".to_string(),
        Value::map([
            ("accuracy_radius", Value::from(accuracy)),
            ("latitude", Value::from(coords.0)),
            ("longitude", Value::from(coords.1)),
            ("time_zone", Value::from(format!("Zone/{}", c.code))),
        ]),
    );
    if let Some((code, _, _)) = sub {
        m.insert(
            "subdivisions".to_string(),
            Value::array([Value::map([
                (
                    "geoname_id",
                    Value::from(5_000_000 + hash_unit(code, 7).to_bits() as u32 % 1_000_000),
                ),
                ("iso_code", Value::from(code.as_str())),
                ("names", names(&format!("{} {code}", c.code))),
            ])]),
        );
    }
    Record {
        value: Value::Map(m),
    }
}

/// Sizes of a synthetic database.
#[derive(Debug, Clone)]
pub struct GeoParams {
    /// IPv4 networks to insert (the database may merge a few).
    pub v4_networks: usize,
    /// IPv6 networks to insert.
    pub v6_networks: usize,
    /// Distinct city records.
    pub cities: usize,
    /// The seed: the same parameters give the same file.
    pub seed: u64,
}

impl GeoParams {
    /// About the size of a GeoLite2-City: 3.3 million networks, 120,000 records.
    pub fn geolite2_city() -> Self {
        Self {
            v4_networks: 2_750_000,
            v6_networks: 550_000,
            cities: 118_000,
            seed: 1,
        }
    }

    /// `n` networks in all, in GeoLite2-City's proportions.
    pub fn networks(n: usize) -> Self {
        Self {
            v4_networks: n * 5 / 6,
            v6_networks: n / 6,
            cities: (n / 28).clamp(200, 118_000),
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GeoSummary {
    pub v4_networks: usize,
    pub v6_networks: usize,
    pub records: usize,
    pub bytes: usize,
}

/// The country of an allocation that is not in use.
const UNUSED: usize = usize::MAX;

/// Per ISP block: the cities it serves.
struct Isp {
    country: usize,
    sub: usize,
    cities: Vec<usize>,
}

struct Gen<'a> {
    rng: StdRng,
    countries: &'a [Country],
    by_continent: BTreeMap<&'static str, Vec<usize>>,
    leaves: Vec<(u128, u8, Option<usize>)>,
    last: Option<usize>,
}

impl Gen<'_> {
    fn country_in(&mut self, continents: &[(&'static str, f64)]) -> usize {
        let w: Vec<f64> = continents.iter().map(|c| c.1).collect();
        let cont = continents[pick(&mut self.rng, &w)].0;
        let list = &self.by_continent[cont];
        let w: Vec<f64> = list.iter().map(|&i| self.countries[i].weight).collect();
        list[pick(&mut self.rng, &w)]
    }

    fn isp(&mut self, country: usize) -> Isp {
        let c = &self.countries[country];
        let w: Vec<f64> = c.subdivisions.iter().map(|s| s.1).collect();
        let mut sub = pick(&mut self.rng, &w);
        if c.cities[sub].is_empty() {
            sub = (0..c.cities.len())
                .find(|&i| !c.cities[i].is_empty())
                .unwrap_or(0);
        }
        let pool = &c.cities[sub];
        let n = 1 + self.rng.random_range(0..6usize);
        let cities = (0..n)
            .filter(|_| !pool.is_empty())
            .map(|_| {
                let w: Vec<f64> = (0..pool.len()).map(zipf).collect();
                pool[pick(&mut self.rng, &w)]
            })
            .collect();
        Isp {
            country,
            sub,
            cities,
        }
    }

    fn leaf_record(&mut self, isp: &Isp) -> Option<usize> {
        let c = &self.countries[isp.country];
        let r = self.rng.random::<f64>();
        let mut rec = if r < 0.003 {
            None // a hole in an ISP's space
        } else if r < 0.043 || isp.cities.is_empty() {
            Some(c.record)
        } else if r < 0.90 {
            Some(isp.cities[self.rng.random_range(0..isp.cities.len())])
        } else {
            // Somewhere else in the country.
            let subs: Vec<usize> = (0..c.cities.len())
                .filter(|&i| !c.cities[i].is_empty())
                .collect();
            let s = subs[self.rng.random_range(0..subs.len())];
            Some(c.cities[s][self.rng.random_range(0..c.cities[s].len())])
        };
        // The writer merges equal neighbours; keep networks apart as the real data does.
        if rec.is_some() && rec == self.last {
            rec = Some(c.record).filter(|r| Some(*r) != self.last).or(rec);
        }
        self.last = rec;
        rec
    }

    /// Splits `budget` networks over the block (`start`, `len`) of a `width`-bit space. At
    /// `alloc_len` the block goes to a country; at `isp_len` to an ISP.
    #[allow(clippy::too_many_arguments)]
    fn split(
        &mut self,
        start: u128,
        len: u8,
        width: u8,
        max_len: u8,
        budget: usize,
        continents: &[(&'static str, f64)],
        country: Option<usize>,
        isp: Option<&Isp>,
        lens: (u8, u8),
    ) {
        let (alloc_len, isp_len) = lens;
        let country = match country {
            // One allocation in thirty is not in use: no data anywhere in it.
            None if len >= alloc_len || budget <= 4 => Some(if self.rng.random_range(0..30) == 0 {
                UNUSED
            } else {
                self.country_in(continents)
            }),
            c => c,
        };
        if country == Some(UNUSED) {
            self.leaves.push((start, len, None));
            self.last = None;
            return;
        }
        let own_isp;
        let isp = match (isp, country) {
            (None, Some(c)) if c != UNUSED && (len >= isp_len || budget <= 2) => {
                own_isp = self.isp(c);
                Some(&own_isp)
            }
            (i, _) => i,
        };
        if budget <= 1 || len >= max_len {
            let rec = match isp {
                Some(i) => self.leaf_record(i),
                None => {
                    let c = country.unwrap_or_else(|| self.country_in(continents));
                    let i = self.isp(c);
                    self.leaf_record(&i)
                }
            };
            self.leaves.push((start, len, rec));
            return;
        }
        let frac = 0.15 + 0.7 * self.rng.random::<f64>();
        let left = ((budget as f64 * frac).round() as usize).clamp(1, budget - 1);
        let half = 1u128 << (width - len - 1);
        self.split(
            start,
            len + 1,
            width,
            max_len,
            left,
            continents,
            country,
            isp,
            lens,
        );
        self.split(
            start | half,
            len + 1,
            width,
            max_len,
            budget - left,
            continents,
            country,
            isp,
            lens,
        );
    }
}

/// Writes a synthetic GeoIP2-City database to `path`.
pub fn write_geoip(path: &Path, p: &GeoParams) -> GeoSummary {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut countries = countries(&mut rng);
    // Records: one per country, then the cities, spread by country weight and over
    // subdivisions by their weights.
    let mut records: Vec<Record> = Vec::new();
    for c in countries.iter_mut() {
        c.record = records.len();
        records.push(city_record(c, None, None, 1000));
    }
    let total_w: f64 = countries.iter().map(|c| c.weight).sum();
    let mut city_id = 2_000_000u32;
    for c in &mut countries {
        let n = ((p.cities as f64 * c.weight / total_w).round() as usize).max(2);
        let weights: Vec<f64> = c.subdivisions.iter().map(|s| s.1).collect();
        for _ in 0..n {
            let s = pick(&mut rng, &weights);
            let sub = &c.subdivisions[s];
            let r = (c.spread / 4.0).max(0.05) * rng.random::<f64>().sqrt();
            let a = rng.random::<f64>() * std::f64::consts::TAU;
            let at = clamp_coords(sub.2.0 + r * a.sin(), sub.2.1 + r * a.cos());
            city_id += 1;
            // One city in ten has no subdivision in the data, as in GeoLite2.
            let sub = (rng.random_range(0..10) != 0).then_some(sub);
            let accuracy = [5u16, 10, 20, 50, 100, 200][rng.random_range(0..6)];
            let rec = city_record(c, sub, Some((city_id, at)), accuracy);
            c.cities[s].push(records.len());
            records.push(rec);
        }
    }
    let mut by_continent: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, c) in countries.iter().enumerate() {
        by_continent.entry(c.continent).or_default().push(i);
    }
    let mut g = Gen {
        rng,
        countries: &countries,
        by_continent,
        leaves: Vec::new(),
        last: None,
    };

    // IPv4: every public /8, its networks in proportion to its registry's density.
    let slash8: Vec<u8> = (1..224u8).filter(|o| !UNMAPPED_8.contains(o)).collect();
    let total_density: f64 = slash8.iter().map(|&o| Rir::of_slash8(o).density()).sum();
    for &o in &slash8 {
        let rir = Rir::of_slash8(o);
        let budget = (p.v4_networks as f64 * rir.density() / total_density).round() as usize;
        let alloc = 10 + g.rng.random_range(0..7u8);
        let isp = alloc + 2 + g.rng.random_range(0..5u8);
        g.split(
            u128::from(o) << 24,
            8,
            32,
            30,
            budget.max(1),
            rir.continents(),
            None,
            None,
            (alloc, isp),
        );
    }
    let v4_leaves = std::mem::take(&mut g.leaves);

    // IPv6: each registry's /12 (and ARIN's 2001:400::/23), cut from /19 down to /64.
    let v6_blocks: &[(u128, u8, Rir, f64)] = &[
        (0x2400u128 << 112, 12, Rir::Apnic, 0.25),
        (0x2600u128 << 112, 12, Rir::Arin, 0.30),
        (0x2800u128 << 112, 12, Rir::Lacnic, 0.10),
        (0x2a00u128 << 112, 12, Rir::Ripe, 0.30),
        (0x2c00u128 << 112, 12, Rir::Afrinic, 0.03),
        (0x2001_0400u128 << 96, 23, Rir::Arin, 0.02),
    ];
    for &(start, len, rir, share) in v6_blocks {
        let budget = (p.v6_networks as f64 * share).round() as usize;
        let alloc = len + 7 + g.rng.random_range(0..10u8);
        let isp = alloc + 4 + g.rng.random_range(0..8u8);
        g.split(
            start,
            len,
            128,
            64,
            budget.max(1),
            rir.continents(),
            None,
            None,
            (alloc, isp),
        );
    }
    let v6_leaves = std::mem::take(&mut g.leaves);

    let mut w = Writer::builder("GeoLite2-City")
        .ip_version(IpVersion::V6)
        .description(&[(
            "en",
            "geosteer synthetic GeoLite2-City-shaped data (not real locations)",
        )])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    let (mut n4, mut n6) = (0, 0);
    for &(start, len, rec) in &v4_leaves {
        let Some(rec) = rec else { continue };
        let net = Ipv4Net::new(Ipv4Addr::from(start as u32), len).expect("aligned");
        w.insert_value(IpNet::V4(net), records[rec].value.clone())
            .expect("insert IPv4 network");
        n4 += 1;
    }
    for &(start, len, rec) in &v6_leaves {
        let Some(rec) = rec else { continue };
        let net = Ipv6Net::new(Ipv6Addr::from(start), len).expect("aligned");
        w.insert_value(IpNet::V6(net), records[rec].value.clone())
            .expect("insert IPv6 network");
        n6 += 1;
    }
    let bytes = w.to_bytes().expect("serialise the database");
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    GeoSummary {
        v4_networks: n4,
        v6_networks: n6,
        records: records.len(),
        bytes: bytes.len(),
    }
}

// ------------------------------------------------------------------------------ load balancers

/// Data-center sites pools sit at: (name, latitude, longitude, continent, region).
const SITES: &[(&str, f64, f64, &str, &str)] = &[
    ("use1", 38.9, -77.4, "NA", "ENAM"),
    ("use2", 40.0, -83.0, "NA", "ENAM"),
    ("usc1", 41.3, -95.9, "NA", "WNAM"),
    ("usw1", 37.4, -121.9, "NA", "WNAM"),
    ("usw2", 45.8, -119.7, "NA", "WNAM"),
    ("cac1", 45.5, -73.6, "NA", "ENAM"),
    ("mxc1", 20.6, -100.4, "NA", "WNAM"),
    ("sae1", -23.5, -46.6, "SA", "SSAM"),
    ("euw1", 53.3, -6.3, "EU", "WEU"),
    ("euw2", 51.5, -0.1, "EU", "WEU"),
    ("euw3", 48.9, 2.4, "EU", "WEU"),
    ("euc1", 50.1, 8.7, "EU", "WEU"),
    ("eun1", 59.3, 18.1, "EU", "EEU"),
    ("eus1", 45.5, 9.2, "EU", "WEU"),
    ("eue1", 52.2, 21.0, "EU", "EEU"),
    ("mes1", 26.1, 50.6, "AS", "ME"),
    ("afs1", -33.9, 18.4, "AF", "SAF"),
    ("aps1", 19.1, 72.9, "AS", "SAS"),
    ("apse1", 1.3, 103.8, "AS", "SEAS"),
    ("apse2", -33.9, 151.2, "OC", "OC"),
    ("apse3", -6.2, 106.8, "AS", "SEAS"),
    ("apne1", 35.7, 139.7, "AS", "NEAS"),
    ("apne2", 37.6, 127.0, "AS", "NEAS"),
    ("ape1", 22.3, 114.2, "AS", "NEAS"),
];

const CONTINENTS: &[(&str, f64, f64)] = &[
    ("AF", 5.0, 20.0),
    ("AN", -75.0, 0.0),
    ("AS", 30.0, 100.0),
    ("EU", 50.0, 10.0),
    ("NA", 40.0, -95.0),
    ("OC", -25.0, 140.0),
    ("SA", -15.0, -60.0),
];
const REGIONS: &[(&str, f64, f64)] = &[
    ("WNAM", 40.0, -115.0),
    ("ENAM", 40.0, -80.0),
    ("WEU", 48.0, 5.0),
    ("EEU", 52.0, 30.0),
    ("NSAM", 5.0, -70.0),
    ("SSAM", -25.0, -55.0),
    ("OC", -25.0, 140.0),
    ("ME", 28.0, 45.0),
    ("NAF", 28.0, 10.0),
    ("SAF", -10.0, 25.0),
    ("SAS", 20.0, 78.0),
    ("SEAS", 5.0, 105.0),
    ("NEAS", 35.0, 125.0),
];

fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// Sizes of a generated configuration.
#[derive(Debug, Clone)]
pub struct LbParams {
    /// Load balancers.
    pub load_balancers: usize,
    /// Load balancers per application: an application has its own pools (one per site it
    /// runs in) and several host names steered over them.
    pub per_app: usize,
    /// The zone they live in.
    pub zone: String,
    pub seed: u64,
}

impl LbParams {
    pub fn new(load_balancers: usize) -> Self {
        Self {
            load_balancers,
            per_app: 10,
            zone: "lb.example.".into(),
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct LbSummary {
    /// Every load-balanced name (absolute).
    pub names: Vec<String>,
    /// By policy: failover, random, geo, proximity, dynamic.
    pub policies: BTreeMap<&'static str, usize>,
    /// By geo rule template.
    pub templates: BTreeMap<&'static str, usize>,
    pub pools: usize,
    pub origins: usize,
}

fn nearest(sites: &[usize], at: (f64, f64), n: usize) -> Vec<usize> {
    let mut v: Vec<(f64, usize)> = sites
        .iter()
        .map(|&s| (km((SITES[s].1, SITES[s].2), at), s))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v.into_iter().take(n).map(|x| x.1).collect()
}

/// Writes `<zone>zone` and `<zone>toml` into `dir`: a small zone and `p.load_balancers` load
/// balancers over applications' pools. Policies in the mix 3/7 geo (rules at continent,
/// region, country or subdivision level, or a mix, pointing each place at the application's
/// nearest sites), 1/7 each proximity (over the application's 6–10 pools), failover, random
/// and dynamic. No monitors: every origin counts as healthy, and nothing is ever probed.
pub fn write_lb_config(dir: &Path, p: &LbParams) -> LbSummary {
    let mut rng = StdRng::seed_from_u64(p.seed ^ 0x5ca1_ab1e);
    let zone = p.zone.trim_end_matches('.');
    let mut summary = LbSummary::default();
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# {} load balancers, generated (seed {}) for geosteer's scale benchmark.\n",
        p.load_balancers, p.seed
    );
    let apps = p.load_balancers.div_ceil(p.per_app.max(1));
    let mut origin = 0u32;
    let us_states: Vec<&str> = US_STATES.iter().map(|s| s.0).collect();
    let big_countries: Vec<(&str, f64, f64)> = COUNTRIES.iter().map(|c| (c.0, c.3, c.4)).collect();
    let mut lb = 0usize;
    for app in 0..apps {
        // 6–10 sites, at least one in North America, Europe and Asia.
        let n = 6 + rng.random_range(0..5usize);
        let mut sites: Vec<usize> = Vec::new();
        for cont in ["NA", "EU", "AS"] {
            let cand: Vec<usize> = (0..SITES.len()).filter(|&s| SITES[s].3 == cont).collect();
            sites.push(cand[rng.random_range(0..cand.len())]);
        }
        while sites.len() < n {
            let s = rng.random_range(0..SITES.len());
            if !sites.contains(&s) {
                sites.push(s);
            }
        }
        sites.sort_unstable();
        let pool = |s: usize| format!("app{app}-{}", SITES[s].0);
        for &s in &sites {
            let (name, lat, lon, _, _) = SITES[s];
            let _ = writeln!(
                toml,
                "[pools.{}]\nlatitude = {lat}\nlongitude = {lon}",
                pool(s)
            );
            let _ = write!(toml, "origins = [");
            for k in 0..2 {
                let a = 0xc612_0000u32 + origin; // 198.18.0.0/15: benchmark addresses, record data
                let _ = write!(
                    toml,
                    "{}{{ address = \"{}\", address_v6 = \"2001:db8:{:x}::{:x}\", name = \"{name}-{k}\" }}",
                    if k == 0 { " " } else { ", " },
                    Ipv4Addr::from(a),
                    app,
                    origin
                );
                origin += 1;
                summary.origins += 1;
            }
            let _ = writeln!(toml, " ]\n");
            summary.pools += 1;
        }
        let list = |v: &[usize]| {
            let names: Vec<String> = v.iter().map(|&s| format!("\"{}\"", pool(s))).collect();
            format!("[{}]", names.join(", "))
        };
        for h in 0..p.per_app {
            if lb == p.load_balancers {
                break;
            }
            let name = match h % 3 {
                0 => format!("www{h}.app{app}"),
                1 => format!("api{h}.app{app}"),
                _ => format!("h{h}.svc.app{app}"),
            };
            summary.names.push(format!("{name}.{zone}."));
            let policy = [
                "geo",
                "geo",
                "geo",
                "proximity",
                "failover",
                "random",
                "dynamic",
            ][lb % 7];
            *summary.policies.entry(policy).or_default() += 1;
            // Default pools: the application's sites in a per-name order.
            let mut defaults = sites.clone();
            let first = rng.random_range(0..defaults.len());
            defaults.rotate_left(first);
            if policy == "proximity" {
                defaults = sites.clone();
            }
            let _ = writeln!(toml, "[load_balancers.\"{name}\"]");
            let _ = writeln!(toml, "steering = \"{policy}\"\nttl = 30");
            let _ = writeln!(toml, "default_pools = {}", list(&defaults));
            if policy == "random" {
                let w: Vec<String> = defaults
                    .iter()
                    .map(|&s| format!("\"{}\" = {:.2}", pool(s), 0.1 + 0.9 * rng.random::<f64>()))
                    .collect();
                let _ = writeln!(toml, "pool_weights = {{ {} }}", w.join(", "));
            }
            if policy == "geo" {
                let template = ["continent", "region", "country", "subdivision", "mixed"]
                    [rng.random_range(0..5usize)];
                *summary.templates.entry(template).or_default() += 1;
                let k = 1 + rng.random_range(0..3usize);
                let entries = |places: &[(&str, f64, f64)]| -> String {
                    places
                        .iter()
                        .map(|(code, lat, lon)| {
                            format!("\"{code}\" = {}", list(&nearest(&sites, (*lat, *lon), k)))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let countries: Vec<(&str, f64, f64)> = {
                    let n = 5 + rng.random_range(0..20usize);
                    let mut v = big_countries.clone();
                    // A per-name choice of countries with their own rules.
                    for i in 0..v.len() {
                        let j = rng.random_range(i..v.len());
                        v.swap(i, j);
                    }
                    v.truncate(n);
                    v.sort_by(|a, b| a.0.cmp(b.0));
                    v
                };
                let states: Vec<(String, f64, f64)> = us_states
                    .iter()
                    .map(|s| {
                        // West of the Mississippi, roughly, by name order is no guide: place
                        // each state at its rough longitude from a small table.
                        let lon = state_longitude(s);
                        (format!("US-{s}"), 39.0, lon)
                    })
                    .collect();
                let state_refs: Vec<(&str, f64, f64)> = states
                    .iter()
                    .map(|(s, a, b)| (s.as_str(), *a, *b))
                    .collect();
                match template {
                    "continent" => {
                        let _ = writeln!(toml, "continent_pools = {{ {} }}", entries(CONTINENTS));
                    }
                    "region" => {
                        let _ = writeln!(toml, "region_pools = {{ {} }}", entries(REGIONS));
                    }
                    "country" => {
                        let _ = writeln!(toml, "country_pools = {{ {} }}", entries(&countries));
                        let _ = writeln!(toml, "continent_pools = {{ {} }}", entries(CONTINENTS));
                    }
                    "subdivision" => {
                        let _ =
                            writeln!(toml, "subdivision_pools = {{ {} }}", entries(&state_refs));
                        let _ = writeln!(toml, "continent_pools = {{ {} }}", entries(CONTINENTS));
                    }
                    _ => {
                        let few: Vec<(&str, f64, f64)> = state_refs
                            .iter()
                            .copied()
                            .filter(|_| rng.random_range(0..4) == 0)
                            .collect();
                        if !few.is_empty() {
                            let _ = writeln!(toml, "subdivision_pools = {{ {} }}", entries(&few));
                        }
                        let _ = writeln!(
                            toml,
                            "country_pools = {{ {} }}",
                            entries(&countries[..countries.len().min(6)])
                        );
                        let _ = writeln!(toml, "region_pools = {{ {} }}", entries(&REGIONS[..6]));
                        let _ = writeln!(toml, "continent_pools = {{ {} }}", entries(CONTINENTS));
                    }
                }
            }
            let _ = writeln!(toml);
            lb += 1;
        }
    }
    let zone_text = format!(
        "$ORIGIN {zone}.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n  NS ns1\n  NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\nstatic A 192.0.2.10\n"
    );
    std::fs::write(dir.join(format!("{zone}.zone")), zone_text).expect("write zone");
    std::fs::write(dir.join(format!("{zone}.toml")), toml).expect("write steering");
    summary
}

fn state_longitude(s: &str) -> f64 {
    const WEST: &[&str] = &[
        "CA", "TX", "WA", "AZ", "CO", "MN", "OR", "OK", "UT", "IA", "NV", "AR", "KS", "NM", "NE",
        "ID", "HI", "MT", "SD", "ND", "AK", "WY", "LA", "MO",
    ];
    let base = if WEST.contains(&s) { -110.0 } else { -82.0 };
    base + (hash_unit(s, 9) - 0.5) * 16.0
}

// ------------------------------------------------------------------------------ large zones

/// Sizes of a generated zone.
#[derive(Debug, Clone)]
pub struct ZoneParams {
    pub records: usize,
    pub zone: String,
    pub seed: u64,
}

impl ZoneParams {
    pub fn new(records: usize) -> Self {
        Self {
            records,
            zone: "big.example.".into(),
            seed: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct ZoneSummary {
    pub records: usize,
    pub names: usize,
    /// Records by type.
    pub by_type: BTreeMap<&'static str, usize>,
    /// Names with an A record (a sample of up to 20,000), for positive queries.
    pub a_names: Vec<String>,
    /// Delegations (a sample), for referral queries.
    pub delegations: Vec<String>,
}

const WORDS: &[&str] = &[
    "app", "web", "mail", "db", "api", "cdn", "static", "img", "shop", "blog", "dev", "stage",
    "vpn", "git", "ci", "auth", "sso", "ftp", "files", "media", "video", "chat", "docs", "wiki",
    "status", "metrics", "logs", "search", "store", "pay", "admin", "portal", "edge", "node",
    "cache", "proxy", "lb", "k8s", "www", "gw",
];
const DEPTS: &[&str] = &[
    "eng", "ops", "sales", "hr", "fin", "it", "lab", "corp", "prod", "test",
];
const SITES_DNS: &[&str] = &[
    "nyc", "sfo", "lon", "fra", "sin", "syd", "tyo", "gru", "ams", "chi",
];

/// Writes a master file of about `p.records` records for `p.zone` to `path`: a realistic
/// mix of A (about 45 %), AAAA, CNAME, MX, TXT, NS delegations with glue, SRV and a few
/// wildcards, at names one to four labels below the apex. `$TTL` and relative names as
/// people write them; every record is valid for NSD, Knot and geosteer alike.
pub fn write_big_zone(path: &Path, p: &ZoneParams) -> ZoneSummary {
    use std::io::Write as _;
    let mut rng = StdRng::seed_from_u64(p.seed ^ 0x20ae_0000);
    let zone = p.zone.trim_end_matches('.');
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut s = ZoneSummary::default();
    let count = |s: &mut ZoneSummary, t: &'static str, n: usize| {
        *s.by_type.entry(t).or_default() += n;
        s.records += n;
    };
    let _ = writeln!(
        out,
        "; {} records, generated (seed {}) for geosteer's scale benchmark\n$ORIGIN {zone}.\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster 2026120101 7200 3600 1209600 300\n  IN NS ns1\n  IN NS ns2\n\
         \x20 IN MX 10 mail\n  IN TXT \"v=spf1 mx -all\"\nns1 IN A 192.0.2.53\nns2 IN A 192.0.2.54\nmail IN A 192.0.2.25",
        p.records, p.seed
    );
    count(&mut s, "SOA", 1);
    count(&mut s, "NS", 2);
    count(&mut s, "MX", 1);
    count(&mut s, "TXT", 1);
    count(&mut s, "A", 3);
    s.names += 4;
    let mut n = 0u64;
    let mut hosts: Vec<String> = Vec::new();
    while s.records < p.records {
        n += 1;
        let word = WORDS[rng.random_range(0..WORDS.len())];
        let name = match rng.random_range(0..10) {
            0..=3 => format!("{word}{n}"),
            4..=6 => format!("{word}{n}.{}", DEPTS[rng.random_range(0..DEPTS.len())]),
            7..=8 => format!(
                "{word}{n}.{}.{}",
                DEPTS[rng.random_range(0..DEPTS.len())],
                SITES_DNS[rng.random_range(0..SITES_DNS.len())]
            ),
            _ => format!(
                "{}.{word}{n}.{}.{}",
                WORDS[rng.random_range(0..WORDS.len())],
                DEPTS[rng.random_range(0..DEPTS.len())],
                SITES_DNS[rng.random_range(0..SITES_DNS.len())]
            ),
        };
        let kind = rng.random_range(0..100);
        s.names += 1;
        let v4 = |rng: &mut StdRng| {
            let x: u32 = rng.random();
            Ipv4Addr::from(0x0a00_0000 | (x & 0x00ff_ffff))
        };
        match kind {
            0..=54 => {
                // A host: one to three addresses, often an AAAA too.
                let k = [1, 1, 1, 1, 2, 3][rng.random_range(0..6)];
                for _ in 0..k {
                    let _ = writeln!(out, "{name} IN A {}", v4(&mut rng));
                }
                count(&mut s, "A", k);
                if rng.random_range(0..3) == 0 {
                    let _ = writeln!(
                        out,
                        "{name} IN AAAA 2001:db8:{:x}::{:x}",
                        n >> 16,
                        n & 0xffff
                    );
                    count(&mut s, "AAAA", 1);
                }
                if hosts.len() < 50_000 {
                    hosts.push(name.clone());
                }
                if s.a_names.len() < 20_000 {
                    s.a_names.push(format!("{name}.{zone}."));
                }
            }
            55..=66 => {
                let target = if !hosts.is_empty() && rng.random_range(0..5) != 0 {
                    hosts[rng.random_range(0..hosts.len())].clone()
                } else {
                    format!("edge{}.cdn.example.net.", rng.random_range(0..1000))
                };
                let _ = writeln!(out, "{name} IN CNAME {target}");
                count(&mut s, "CNAME", 1);
            }
            67..=71 => {
                let _ = writeln!(
                    out,
                    "{name} IN MX 10 mx1.{name}\n{name} IN MX 20 mx2.{name}"
                );
                let _ = writeln!(
                    out,
                    "mx1.{name} IN A {}\nmx2.{name} IN A {}",
                    v4(&mut rng),
                    v4(&mut rng)
                );
                let _ = writeln!(
                    out,
                    "{name} IN TXT \"v=spf1 mx include:_spf.example.net ~all\""
                );
                count(&mut s, "MX", 2);
                count(&mut s, "A", 2);
                count(&mut s, "TXT", 1);
                s.names += 2;
            }
            72..=81 => {
                let len = 16 + rng.random_range(0..48usize);
                let token: String = (0..len)
                    .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                    .collect();
                let (owner, text) = match rng.random_range(0..3) {
                    0 => (
                        format!("_dmarc.{name}"),
                        format!("v=DMARC1; p=none; rua=mailto:{token}@example.net"),
                    ),
                    1 => (name.clone(), format!("site-verification={token}")),
                    _ => (name.clone(), format!("v=spf1 ip4:{} -all", v4(&mut rng))),
                };
                let _ = writeln!(out, "{owner} IN TXT \"{text}\"");
                count(&mut s, "TXT", 1);
            }
            82..=87 => {
                // A delegation: two name servers, in bailiwick with glue, or elsewhere.
                if rng.random_range(0..2) == 0 {
                    let _ = writeln!(out, "{name} IN NS ns1.{name}\n{name} IN NS ns2.{name}");
                    let _ = writeln!(
                        out,
                        "ns1.{name} IN A {}\nns2.{name} IN A {}",
                        v4(&mut rng),
                        v4(&mut rng)
                    );
                    count(&mut s, "A", 2);
                    s.names += 2;
                } else {
                    let h = rng.random_range(0..500);
                    let _ = writeln!(
                        out,
                        "{name} IN NS ns{h}.dns.example.net.\n{name} IN NS ns{}.dns.example.org.",
                        h + 1
                    );
                }
                count(&mut s, "NS", 2);
                if s.delegations.len() < 20_000 {
                    s.delegations.push(format!("{name}.{zone}."));
                }
            }
            88..=95 => {
                let svc = [
                    "_sip._tcp",
                    "_sip._udp",
                    "_xmpp-server._tcp",
                    "_ldap._tcp",
                    "_imaps._tcp",
                ][rng.random_range(0..5)];
                let target = hosts.last().cloned().unwrap_or_else(|| "mail".into());
                let _ = writeln!(
                    out,
                    "{svc}.{name} IN SRV 10 60 {} {target}",
                    1000 + rng.random_range(0..9000)
                );
                let _ = writeln!(
                    out,
                    "{svc}.{name} IN SRV 20 40 {} {target}",
                    1000 + rng.random_range(0..9000)
                );
                count(&mut s, "SRV", 2);
            }
            96..=97 => {
                let _ = writeln!(out, "*.{name} IN A {}", v4(&mut rng));
                count(&mut s, "A", 1);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{name} 300 IN AAAA 2001:db8:{:x}::{:x}",
                    n >> 16,
                    n & 0xffff
                );
                let _ = writeln!(out, "{name} 300 IN A {}", v4(&mut rng));
                count(&mut s, "AAAA", 1);
                count(&mut s, "A", 1);
            }
        }
    }
    out.flush().expect("write zone");
    s
}
