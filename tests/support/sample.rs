//! The sample database: `geoip/sample-city.toml` compiled to `geoip/sample-city.mmdb`.
//!
//! Shared by `examples/build_sample_geoip.rs`, which writes the file, and the tests, which
//! check that the committed file is exactly what the source gives. Include it next to
//! `mmdb.rs` (it uses `crate::mmdb`).

#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;

use crate::mmdb::{self, City};

pub fn toml_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("geoip/sample-city.toml")
}

pub fn mmdb_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("geoip/sample-city.mmdb")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub database_type: String,
    pub description: String,
    pub network: Vec<Network>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub net: String,
    pub continent: String,
    pub country: String,
    pub subdivision: Option<String>,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
}

pub fn parse(text: &str) -> Result<Source, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// The database bytes; the same source always gives the same bytes (fixed build epoch).
pub fn build(source: &Source) -> Vec<u8> {
    let networks: Vec<(&str, City<'_>)> = source
        .network
        .iter()
        .map(|n| {
            (
                n.net.as_str(),
                mmdb::city(
                    &n.continent,
                    &n.country,
                    n.subdivision.as_deref(),
                    &n.city,
                    n.latitude,
                    n.longitude,
                ),
            )
        })
        .collect();
    mmdb::city_db_bytes(&source.database_type, &source.description, &networks)
}
