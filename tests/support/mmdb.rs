//! Writing small `.mmdb` files for tests, in the two record layouts geosteer reads.
//!
//! Include it with `#[path = "support/mmdb.rs"] mod mmdb;` (from `examples/`:
//! `#[path = "../tests/support/mmdb.rs"]`). It needs the `mmdb-writer` and `serde`
//! dev-dependencies.
//!
//! mmdb-writer merges adjacent networks whose records are equal: two equal /25s read back as
//! one /24. Give neighbours different data (a different city will do) when a test asserts
//! prefix lengths.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;

/// A fixed build time, so the same input always gives the same bytes.
pub const BUILD_EPOCH: u64 = 1_700_000_000;

/// One network's data in the GeoIP2-City layout. Every field is optional, as in real files.
#[derive(Debug, Clone, Default)]
pub struct City<'a> {
    pub continent: Option<&'a str>,
    pub country: Option<&'a str>,
    /// The ISO 3166-2 code without its country part, e.g. `CA` for California.
    pub subdivision: Option<&'a str>,
    /// The subdivision's English name; DB-IP's own files have only this.
    pub subdivision_name: Option<&'a str>,
    pub city: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The common case: continent, country, subdivision code, city and coordinates.
pub fn city<'a>(
    continent: &'a str,
    country: &'a str,
    subdivision: Option<&'a str>,
    city: &'a str,
    latitude: f64,
    longitude: f64,
) -> City<'a> {
    City {
        continent: Some(continent),
        country: Some(country),
        subdivision,
        subdivision_name: None,
        city: Some(city),
        latitude: Some(latitude),
        longitude: Some(longitude),
    }
}

/// One network's data in the flat layout of DB-IP Lite repackagings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Flat<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent_code: Option<&'a str>,
    /// A subdivision name, e.g. `California`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

#[derive(Serialize)]
struct Names<'a> {
    en: &'a str,
}

#[derive(Serialize)]
struct Continent<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct Country<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct Subdivision<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    names: Option<Names<'a>>,
}

#[derive(Serialize)]
struct CityName<'a> {
    names: Names<'a>,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

/// The GeoIP2-City record layout (the subset geosteer and most readers use).
#[derive(Serialize)]
struct CityRecord<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<CityName<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<Continent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Country<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<Country<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<Subdivision<'a>>,
}

impl<'a> City<'a> {
    fn record(&self) -> CityRecord<'a> {
        let subdivision =
            (self.subdivision.is_some() || self.subdivision_name.is_some()).then(|| Subdivision {
                iso_code: self.subdivision,
                names: self.subdivision_name.map(|en| Names { en }),
            });
        CityRecord {
            city: self.city.map(|en| CityName {
                names: Names { en },
            }),
            continent: self.continent.map(|code| Continent { code }),
            country: self.country.map(|iso_code| Country { iso_code }),
            registered_country: self.country.map(|iso_code| Country { iso_code }),
            location: match (self.latitude, self.longitude) {
                (Some(latitude), Some(longitude)) => Some(Location {
                    latitude,
                    longitude,
                }),
                _ => None,
            },
            subdivisions: subdivision.into_iter().collect(),
        }
    }
}

fn writer(database_type: &str, description: &str, ip_version: IpVersion) -> Writer {
    Writer::builder(database_type)
        .ip_version(ip_version)
        .description(&[("en", description)])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(BUILD_EPOCH))
        .build()
}

fn parse(net: &str) -> IpNet {
    net.parse()
        .unwrap_or_else(|e| panic!("bad network {net:?}: {e}"))
}

/// A database of any records. IPv6 (IPv4 under `::/96`, with the usual aliases) unless
/// `ipv4_only`. Later networks override earlier ones where they overlap.
pub fn db_bytes<T: Serialize>(
    database_type: &str,
    description: &str,
    ipv4_only: bool,
    networks: &[(&str, T)],
) -> Vec<u8> {
    let version = if ipv4_only {
        IpVersion::V4
    } else {
        IpVersion::V6
    };
    let mut w = writer(database_type, description, version);
    for (net, record) in networks {
        w.insert(parse(net), record)
            .unwrap_or_else(|e| panic!("inserting {net}: {e}"));
    }
    w.to_bytes().expect("serialising the database")
}

pub fn write_db<T: Serialize>(
    path: &Path,
    database_type: &str,
    ipv4_only: bool,
    networks: &[(&str, T)],
) {
    write(
        path,
        &db_bytes(database_type, "geosteer test data", ipv4_only, networks),
    );
}

/// A GeoIP2-City-layout IPv6 database.
pub fn city_db_bytes(
    database_type: &str,
    description: &str,
    networks: &[(&str, City<'_>)],
) -> Vec<u8> {
    let records: Vec<(&str, CityRecord<'_>)> =
        networks.iter().map(|(n, c)| (*n, c.record())).collect();
    db_bytes(database_type, description, false, &records)
}

pub fn write_city_db(path: &Path, database_type: &str, networks: &[(&str, City<'_>)]) {
    write(
        path,
        &city_db_bytes(database_type, "geosteer test data", networks),
    );
}

/// A flat-layout database. DB-IP repackagings ship IPv4 and IPv6 as separate files, hence
/// `ipv4_only`.
pub fn write_flat_db(
    path: &Path,
    database_type: &str,
    ipv4_only: bool,
    networks: &[(&str, Flat<'_>)],
) {
    write_db(path, database_type, ipv4_only, networks);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A path for a scratch file, unique to this process and `name`.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("geosteer-{}-{name}", std::process::id()))
}
