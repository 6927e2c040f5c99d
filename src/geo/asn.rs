//! The autonomous system a client address belongs to: a GeoLite2-ASN-format database
//! (`autonomous_system_number`, `autonomous_system_organization`), read once at load and
//! compiled into prefix maps like the location database ([`super::GeoMap`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use maxminddb::{LookupResult, MaxMindDbError, Reader, WithinOptions};
use serde::Deserialize;

use super::Bytes;
use super::map::{GeoMap, Source, build_from};
use crate::error::ConfigError;

/// A GeoLite2-ASN-format database, read into memory (see [`super::GeoDb`] for why read and
/// not mapped). Serving keeps only the compiled maps ([`AsnDb::release`]).
pub struct AsnDb {
    reader: Option<Reader<Bytes>>,
    path: PathBuf,
    database_type: String,
    build_epoch: u64,
    ip_version: u16,
}

impl fmt::Debug for AsnDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsnDb")
            .field("path", &self.path)
            .field("database_type", &self.database_type)
            .finish()
    }
}

/// The fields of a GeoLite2-ASN record that steering reads.
#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// How many records the format check reads before giving up.
const PROBE_RECORDS: usize = 4096;

impl AsnDb {
    /// Reads and checks a database: a MaxMind DB whose records carry
    /// `autonomous_system_number` (GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite in that layout).
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ConfigError::file(path, format!("cannot read the ASN database: {e}")))?;
        let reader = Reader::from_source(bytes).map_err(|e| {
            ConfigError::file(path, format!("cannot open as a MaxMind DB (.mmdb): {e}"))
        })?;
        let meta = reader.metadata();
        let (database_type, build_epoch, ip_version) = (
            meta.database_type.clone(),
            meta.build_epoch,
            meta.ip_version,
        );
        let walk = reader
            .networks(WithinOptions::default())
            .map_err(|e| ConfigError::file(path, format!("cannot read the search tree: {e}")))?;
        let mut seen = 0usize;
        let mut found = false;
        for item in walk.take(PROBE_RECORDS) {
            let item = item.map_err(|e| {
                ConfigError::file(path, format!("cannot read the search tree: {e}"))
            })?;
            seen += 1;
            if let Ok(Some(r)) = item.decode::<AsnRecord>()
                && r.autonomous_system_number.is_some()
            {
                found = true;
                break;
            }
        }
        if !found {
            return Err(ConfigError::file(
                path,
                format!(
                    "not an ASN database: none of the first {seen} records of this \
                     {database_type} database has autonomous_system_number"
                ),
            ));
        }
        Ok(Self {
            reader: Some(reader),
            path: path.to_path_buf(),
            database_type,
            build_epoch,
            ip_version,
        })
    }

    /// Drops the data; lookups then find nothing.
    pub fn release(&mut self) {
        self.reader = None;
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `database_type` from the metadata, e.g. `GeoLite2-ASN`.
    pub fn database_type(&self) -> &str {
        &self.database_type
    }

    /// When the database was built, in seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.build_epoch
    }

    /// The AS number and organisation of `ip`, for `explain` and tests (queries read the
    /// compiled maps). `None` where the database has no data, or once released.
    pub fn lookup(&self, ip: IpAddr) -> Option<(u32, String)> {
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_ipv6() && self.ip_version == 4 {
            return None;
        }
        let result = self.reader.as_ref()?.lookup(ip).ok()?;
        let r = result.decode::<AsnRecord>().ok()??;
        Some((
            r.autonomous_system_number?,
            r.autonomous_system_organization.unwrap_or("").to_string(),
        ))
    }

    /// Walks every network and maps it to `classify(asn)` (`None`: no data).
    pub fn build(&self, classify: impl FnMut(Option<&u32>) -> u32) -> Result<GeoMap, ConfigError> {
        let reader = self.reader.as_ref().ok_or_else(|| {
            ConfigError::file(&self.path, "its data was released after the last build")
        })?;
        let v4_walked = self.ip_version == 4
            || reader
                .lookup(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                .ok()
                .and_then(|r| r.network().ok())
                .is_some_and(|n| n.is_ipv4());
        let src = Source {
            reader,
            path: &self.path,
            ip_version: self.ip_version,
            v4_walked,
        };
        build_from(&src, decode, classify)
    }
}

fn decode(r: &LookupResult<'_, Bytes>) -> Result<Option<u32>, MaxMindDbError> {
    Ok(r.decode::<AsnRecord>()?
        .and_then(|r| r.autonomous_system_number))
}
