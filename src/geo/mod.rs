//! TEMPORARY stub on main while the geo branch is built; replaced at merge.
pub mod countries;

use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub continent: Option<String>,
    pub country: Option<String>,
    pub subdivision: Option<String>,
    pub region: Option<String>,
    pub coordinates: Option<(f64, f64)>,
}

impl Location {
    pub fn continent(&self) -> Option<&str> {
        self.continent.as_deref()
    }
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }
    pub fn subdivision(&self) -> Option<&str> {
        self.subdivision.as_deref()
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        self.coordinates
    }
}

pub struct GeoMap;
impl GeoMap {
    pub fn lookup(&self, _ip: IpAddr) -> (u32, u8) {
        (0, 0)
    }
}

pub struct GeoDb;
impl GeoDb {
    pub fn open(path: &std::path::Path) -> Result<GeoDb, crate::error::ConfigError> {
        Err(crate::error::ConfigError::file(path, "stub"))
    }
    pub fn lookup(&self, _ip: IpAddr) -> Option<(Location, u8)> {
        None
    }
}
impl GeoMap {
    pub fn build(_db: &GeoDb, mut classify: impl FnMut(Option<&Location>) -> u32) -> GeoMap {
        classify(None);
        GeoMap
    }
}
