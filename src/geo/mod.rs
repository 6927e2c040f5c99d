//! Client location: the GeoIP database and the per-policy prefix maps compiled from it.
//!
//! A [`GeoDb`] is a memory-mapped MaxMind DB file. Queries never read it: at load time it is
//! walked once into a [`GeoIndex`], a merged prefix tree of location ids, and every policy's
//! classification of locations (into small value ids) becomes a [`GeoMap`] over that tree,
//! whose merged-prefix depth is the ECS scope. The database is only read directly by tools
//! and tests ([`GeoDb::lookup`]).
//!
//! Two record layouts are understood, recognised from the records themselves:
//! - GeoIP2/GeoLite2 City and Country (`continent.code`, `country.iso_code`,
//!   `subdivisions[].iso_code`, `location.latitude/longitude`); DB-IP's own Lite files use this
//!   layout too, with subdivision names instead of codes;
//! - the flat layout of the DB-IP Lite repackagings (`country_code`, `state1`, `latitude`,
//!   `longitude`, sometimes `continent_code`).
//!
//! Whatever a database leaves out (continent, region) is derived from the country with the
//! tables in [`countries`], so a location means the same whichever database it came from.

pub mod asn;
pub mod centroids;
pub mod countries;
pub mod index;
pub mod map;
pub mod proximity;
pub mod trie;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use maxminddb::{LookupResult, MaxMindDbError, Reader, WithinOptions};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use tracing::warn;

use crate::error::ConfigError;

pub use asn::AsnDb;
pub use index::{Base, Fields, GeoIndex, IndexStats, Projection};
pub use map::{GeoMap, MapStats};

/// A short code stored inline: a country (`DE`), a continent (`EU`) or a subdivision
/// (`US-CA`). Upper-case ASCII letters, digits and `-`, zero-padded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code<const N: usize>([u8; N]);

/// An ISO 3166-1 alpha-2 country code.
pub type CountryCode = Code<2>;
/// A continent code (`EU`).
pub type ContinentCode = Code<2>;
/// `CC-XXX`: country, dash, up to three letters or digits.
pub type SubdivisionCode = Code<6>;

impl<const N: usize> Code<N> {
    /// Upper-cases `s`; `None` unless it is 1..=N letters, digits or dashes.
    pub fn new(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > N {
            return None;
        }
        let mut bytes = [0u8; N];
        for (i, b) in s.bytes().enumerate() {
            if !(b.is_ascii_alphanumeric() || b == b'-') {
                return None;
            }
            bytes[i] = b.to_ascii_uppercase();
        }
        Some(Self(bytes))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0[..len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Display for Code<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Code<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Where the database puts an address. `Copy`, no heap: building a map dedupes records by
/// hashing these, and many records (one per city) share a country, subdivision and region.
#[derive(Clone, Copy, Debug, Default)]
pub struct Location {
    /// The continent.
    pub continent: Option<ContinentCode>,
    /// The country.
    pub country: Option<CountryCode>,
    /// The first (most general) subdivision, e.g. a US state, as `US-CA`.
    pub subdivision: Option<SubdivisionCode>,
    /// The Cloudflare load-balancing region, derived from country and subdivision.
    pub region: Option<&'static str>,
    /// Latitude, degrees north.
    pub latitude: Option<f64>,
    /// Longitude, degrees east.
    pub longitude: Option<f64>,
}

impl Location {
    /// The continent code, as text.
    pub fn continent(&self) -> Option<&str> {
        self.continent.as_ref().map(|c| c.as_str())
    }

    /// The country code, as text.
    pub fn country(&self) -> Option<&str> {
        self.country.as_ref().map(|c| c.as_str())
    }

    /// The subdivision code (`US-CA`), as text.
    pub fn subdivision(&self) -> Option<&str> {
        self.subdivision.as_ref().map(|c| c.as_str())
    }

    /// The Cloudflare region code.
    pub fn region(&self) -> Option<&str> {
        self.region
    }

    /// Latitude and longitude, when the database has both.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        self.latitude.zip(self.longitude)
    }

    /// Builds a location from a database's fields, normalising them and deriving what is
    /// missing. `subdivision` may be an ISO 3166-2 code with or without its country part
    /// (`US-CA`, `CA`) or, for the US and Canada, an English name (`California`), as DB-IP
    /// gives it.
    pub fn new(
        continent: Option<&str>,
        country: Option<&str>,
        subdivision: Option<&str>,
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Self {
        // ISO 3166-1 alpha-2: two letters. Anything else (a one-letter code in a damaged or
        // hostile database) is no country, rather than half of one.
        let country = country
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .and_then(CountryCode::new);
        let subdivision = country.and_then(|c| subdivision.and_then(|s| subdivision_of(c, s)));
        let continent = continent
            .and_then(ContinentCode::new)
            .filter(|c| countries::is_continent(c.as_str()))
            .or_else(|| {
                country
                    .and_then(|c| countries::continent_of(c.as_str()))
                    .and_then(ContinentCode::new)
            });
        let region = country.and_then(|c| {
            countries::region_of(c.as_str(), subdivision.as_ref().map(|s| s.as_str()))
        });
        let (latitude, longitude) = match (latitude, longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                (Some(lat), Some(lon))
            }
            _ => (None, None),
        };
        Self {
            continent,
            country,
            subdivision,
            region,
            latitude,
            longitude,
        }
    }

    /// Nothing known: no continent, country or coordinates.
    pub fn is_empty(&self) -> bool {
        self.continent.is_none() && self.country.is_none() && self.latitude.is_none()
    }

    fn key(&self) -> impl Eq + Hash + '_ {
        (
            self.continent,
            self.country,
            self.subdivision,
            self.region,
            self.latitude.map(f64::to_bits),
            self.longitude.map(f64::to_bits),
        )
    }
}

/// Coordinates compare by bit pattern, so equality is an equivalence (no NaN trouble) and
/// agrees with the hash.
impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Location {}

impl Hash for Location {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
        }
        write!(
            f,
            "{} {} {} {}",
            opt(&self.continent),
            opt(&self.country),
            opt(&self.subdivision),
            opt(&self.region)
        )?;
        if let (Some(lat), Some(lon)) = (self.latitude, self.longitude) {
            write!(f, " {lat:.4},{lon:.4}")?;
        }
        Ok(())
    }
}

fn subdivision_of(country: CountryCode, raw: &str) -> Option<SubdivisionCode> {
    let cc = country.as_str();
    if cc.len() != 2 {
        return None;
    }
    let part = match raw.split_once('-') {
        Some((c, rest)) if c.eq_ignore_ascii_case(cc) => rest,
        _ => raw,
    };
    let code = if countries::is_subdivision_part(part) {
        part
    } else {
        countries::subdivision_code_from_name(cc, raw)?
    };
    let mut buf = [0u8; 6];
    buf[..2].copy_from_slice(cc.as_bytes());
    buf[2] = b'-';
    buf[3..3 + code.len()].copy_from_slice(code.as_bytes());
    Some(Code(buf))
}

/// The record layouts [`GeoDb`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// GeoIP2/GeoLite2 City or Country, and DB-IP's own Lite files.
    GeoIp2,
    /// Flat DB-IP Lite repackagings: `country_code`, `state1`, `latitude`, `longitude`.
    Flat,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schema::GeoIp2 => "GeoIP2 (nested)",
            Schema::Flat => "flat (country_code/state1)",
        })
    }
}

/// The database's bytes, read into memory.
pub(crate) type Bytes = Vec<u8>;

/// A GeoIP database, read into memory.
///
/// Read, not mapped: a mapped file that is rewritten in place (a download tool writing over
/// it, `cp` onto it) turns the next read of a changed page into SIGBUS, and that kills the
/// process. Read once, the data cannot change under the server; rename stays the
/// documented way to replace the file, but nothing else crashes it. Serving keeps only the
/// compiled maps and drops the bytes ([`GeoDb::release`], as gdnsd does), so the database
/// costs memory only while a load or reload builds from it.
pub struct GeoDb {
    reader: Option<Reader<Bytes>>,
    path: PathBuf,
    schema: Schema,
    /// The file's identity when it was opened, to tell whether the path still names it.
    file_id: Option<FileId>,
    database_type: String,
    description: Option<String>,
    build_epoch: u64,
    ip_version: u16,
}

/// What tells one file from another at the same path: a file renamed over it is another
/// inode, one rewritten in place has another size or modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDb")
            .field("path", &self.path)
            .field("database_type", &self.database_type())
            .field("schema", &self.schema)
            .finish()
    }
}

/// How many records the schema check looks at before giving up on finding a country.
const PROBE_RECORDS: usize = 4096;

impl GeoDb {
    /// Reads and checks a database. It must be a MaxMind DB whose records carry a country in
    /// one of the two layouts; anything else (an ASN database, a truncated download) is
    /// refused with the reason.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        // Its identity before reading: if it changes during the read, the next reload sees
        // another identity and reads it again.
        let file_id = FileId::of(path);
        let bytes = std::fs::read(path)
            .map_err(|e| ConfigError::file(path, format!("cannot read the GeoIP database: {e}")))?;
        let mut db = Self::from_bytes(path, bytes)?;
        db.file_id = file_id;
        Ok(db)
    }

    /// [`GeoDb::open`] on bytes already read; `path` names them in errors and status.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ConfigError> {
        let reader = Reader::from_source(bytes).map_err(|e| {
            ConfigError::file(path, format!("cannot open as a MaxMind DB (.mmdb): {e}"))
        })?;
        let meta = reader.metadata();
        if meta.node_count == 0 {
            return Err(ConfigError::file(
                path,
                "the database has an empty search tree",
            ));
        }
        let schema = detect_schema(&reader).map_err(|reason| ConfigError::file(path, reason))?;
        let description = meta
            .description
            .get("en")
            .or_else(|| meta.description.values().next())
            .cloned();
        Ok(Self {
            path: path.to_path_buf(),
            schema,
            file_id: None,
            database_type: meta.database_type.clone(),
            description,
            build_epoch: meta.build_epoch,
            ip_version: meta.ip_version,
            reader: Some(reader),
        })
    }

    /// Drops the database's data, keeping what status reports (path, type, build time):
    /// once the maps are compiled, serving never reads it. Lookups then find nothing.
    pub fn release(&mut self) {
        self.reader = None;
    }

    /// The reader, unless released.
    fn reader(&self) -> Option<&Reader<Bytes>> {
        self.reader.as_ref()
    }

    /// Whether its path still names the file it was read from (unchanged), so that reading
    /// it again would give the same data. Bytes given to [`GeoDb::from_bytes`] name no file.
    pub fn is_current(&self) -> bool {
        self.file_id.is_some() && FileId::of(&self.path) == self.file_id
    }

    /// Whether its data is still held ([`GeoDb::release`] not called): a walk needs it.
    pub fn has_data(&self) -> bool {
        self.reader.is_some()
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record layout detected.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// `database_type` from the metadata, e.g. `GeoLite2-City`, `DBIP-City-Lite`.
    pub fn database_type(&self) -> &str {
        &self.database_type
    }

    /// The English description, or the first one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// When the database was built, in seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.build_epoch
    }

    /// 4 for an IPv4-only database, 6 otherwise.
    pub fn ip_version(&self) -> u16 {
        self.ip_version
    }

    /// The location of `ip` and the prefix length of the database network it is in, in
    /// `ip`'s own family (IPv4: 0–32). `None` where the database has no data (private
    /// ranges, gaps); [`lookup_scoped`](Self::lookup_scoped) also gives the prefix then.
    pub fn lookup(&self, ip: IpAddr) -> Option<(Location, u8)> {
        match self.lookup_scoped(ip) {
            (Some(location), prefix) => Some((location, prefix)),
            (None, _) => None,
        }
    }

    /// Like [`lookup`](Self::lookup), but a miss still reports the prefix length of the
    /// enclosing empty network (10.0.0.1 in a GeoLite2 database: `(None, 8)`), which is the
    /// scope a negative answer could carry.
    ///
    /// IPv4-mapped IPv6 addresses are looked up as IPv4, with 96 added to the prefix. A record
    /// that cannot be decoded counts as no data (and is logged); building a [`GeoMap`] reads
    /// every record and refuses such a database.
    pub fn lookup_scoped(&self, ip: IpAddr) -> (Option<Location>, u8) {
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            let (location, prefix) = self.lookup_scoped(IpAddr::V4(v4));
            return (location, 96 + prefix);
        }
        if ip.is_ipv6() && self.ip_version() == 4 {
            return (None, 0);
        }
        let Some(Ok(result)) = self.reader().map(|r| r.lookup(ip)) else {
            return (None, 0);
        };
        // An IPv4 address in an IPv6 database without an IPv4 subtree lies inside one IPv6
        // network: the whole IPv4 space shares its answer.
        let prefix = match result.network() {
            Ok(net) if net.is_ipv4() == ip.is_ipv4() => net.prefix(),
            _ => 0,
        };
        let location = self.decode(&result).unwrap_or_else(|e| {
            warn!(db = %self.path.display(), %ip, "unreadable GeoIP record: {e}");
            None
        });
        (location, prefix)
    }

    /// The location in a lookup or iteration result; `None` for no data or an empty record.
    fn decode(&self, result: &LookupResult<'_, Bytes>) -> Result<Option<Location>, MaxMindDbError> {
        let location = match self.schema {
            Schema::GeoIp2 => result.decode::<NestedRecord>()?.map(|r| r.location()),
            Schema::Flat => result.decode::<FlatRecord>()?.map(|r| r.location()),
        };
        Ok(location.filter(|l| !l.is_empty()))
    }

    /// Whether IPv4 data sits in its own subtree at `::/96` (always, for MaxMind's files).
    fn has_ipv4_subtree(&self) -> bool {
        self.ip_version() == 4
            || self
                .reader()
                .and_then(|r| r.lookup(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).ok())
                .and_then(|r| r.network().ok())
                .is_some_and(|n| n.is_ipv4())
    }
}

fn detect_schema(reader: &Reader<Bytes>) -> Result<Schema, String> {
    let db_type = &reader.metadata().database_type;
    let networks = reader
        .networks(WithinOptions::default())
        .map_err(|e| format!("cannot read the search tree: {e}"))?;
    let mut seen = 0usize;
    let mut last_offset = None;
    for item in networks {
        let item = item.map_err(|e| format!("cannot read the search tree: {e}"))?;
        if item.offset() == last_offset {
            continue;
        }
        last_offset = item.offset();
        seen += 1;
        if seen > PROBE_RECORDS {
            break;
        }
        let Ok(Some(probe)) = item.decode::<Probe>() else {
            continue;
        };
        if probe.country.is_some()
            || probe.registered_country.is_some()
            || probe.continent.is_some()
        {
            return Ok(Schema::GeoIp2);
        }
        if probe.country_code.is_some() {
            return Ok(Schema::Flat);
        }
    }
    if seen == 0 {
        return Err(format!("the database ({db_type}) has no records"));
    }
    Err(format!(
        "not a location database: the first {} records of this {db_type} database have \
         neither country.iso_code (GeoIP2/GeoLite2 City or Country) nor country_code \
         (DB-IP Lite); an ASN or ISP database will not do",
        seen.min(PROBE_RECORDS)
    ))
}

/// Which keys a record has, for schema detection.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    country: Option<IgnoredAny>,
    #[serde(default)]
    registered_country: Option<IgnoredAny>,
    #[serde(default)]
    continent: Option<IgnoredAny>,
    #[serde(default)]
    country_code: Option<IgnoredAny>,
}

/// The parts of a GeoIP2 City/Country record we use; strings borrow from the mapping.
#[derive(Deserialize)]
struct NestedRecord<'a> {
    #[serde(borrow, default)]
    continent: Option<ContinentField<'a>>,
    #[serde(borrow, default)]
    country: Option<CountryField<'a>>,
    /// Where the block is registered; stands in when `country` is missing (as it can be
    /// for satellite or anycast blocks): a guess at the country beats the default answer.
    #[serde(borrow, default)]
    registered_country: Option<CountryField<'a>>,
    #[serde(borrow, default, deserialize_with = "first_subdivision")]
    subdivisions: Option<SubdivisionField<'a>>,
    #[serde(default)]
    location: Option<LocationField>,
}

#[derive(Deserialize)]
struct ContinentField<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct CountryField<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct SubdivisionField<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<NamesField<'a>>,
}

#[derive(Deserialize)]
struct NamesField<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocationField {
    #[serde(default)]
    latitude: Option<Number>,
    #[serde(default)]
    longitude: Option<Number>,
}

impl NestedRecord<'_> {
    fn location(&self) -> Location {
        let country = self
            .country
            .as_ref()
            .and_then(|c| c.iso_code)
            .or_else(|| self.registered_country.as_ref().and_then(|c| c.iso_code));
        let subdivision = self
            .subdivisions
            .as_ref()
            .and_then(|s| s.iso_code.or_else(|| s.names.as_ref().and_then(|n| n.en)));
        let (lat, lon) = self
            .location
            .as_ref()
            .map_or((None, None), |l| (l.latitude, l.longitude));
        Location::new(
            self.continent.as_ref().and_then(|c| c.code),
            country,
            subdivision,
            lat.map(|n| n.0),
            lon.map(|n| n.0),
        )
    }
}

/// The flat layout of DB-IP Lite repackagings (e.g. sapics/ip-location-db): `state1` is a
/// name, and there is often no continent.
#[derive(Deserialize)]
struct FlatRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    continent_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Number>,
    #[serde(default)]
    longitude: Option<Number>,
}

impl FlatRecord<'_> {
    fn location(&self) -> Location {
        Location::new(
            self.continent_code,
            self.country_code,
            self.state1,
            self.latitude.map(|n| n.0),
            self.longitude.map(|n| n.0),
        )
    }
}

/// The first of the `subdivisions` array (the most general one, e.g. the state), skipping
/// the rest without collecting them.
fn first_subdivision<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SubdivisionField<'de>>, D::Error> {
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Option<SubdivisionField<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of subdivisions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    d.deserialize_seq(First)
}

/// A coordinate stored as whatever numeric type a repackaging chose. The MMDB decoder is
/// strict (a `float` will not decode as `f64`), so take any number, or a numeric string.
#[derive(Clone, Copy)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_f32<E>(self, v: f32) -> Result<Number, E> {
                Ok(Number(f64::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                v.trim()
                    .parse()
                    .map(Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let c = CountryCode::new("de").unwrap();
        assert_eq!(c.as_str(), "DE");
        assert_eq!(format!("{c} {c:?}"), "DE \"DE\"");
        assert!(CountryCode::new("DEU").is_none() && CountryCode::new("").is_none());
        assert_eq!(SubdivisionCode::new("US-CA").unwrap().as_str(), "US-CA");
        assert!(SubdivisionCode::new("US CA").is_none());
        assert_eq!(size_of::<Option<CountryCode>>(), 3);
    }

    #[test]
    fn location_derives_what_is_missing() {
        let l = Location::new(
            None,
            Some("US"),
            Some("California"),
            Some(37.4),
            Some(-122.1),
        );
        assert_eq!(l.continent.unwrap().as_str(), "NA");
        assert_eq!(l.subdivision.unwrap().as_str(), "US-CA");
        assert_eq!(l.region, Some("WNAM"));
        let l = Location::new(Some("EU"), Some("DE"), Some("HE"), None, None);
        assert_eq!(l.subdivision.unwrap().as_str(), "DE-HE");
        assert_eq!(l.region, Some("WEU"));
        assert_eq!(l.latitude, None);
        // A continent code we do not know is replaced by the derived one.
        let l = Location::new(Some("XX"), Some("RU"), Some("MOW"), None, None);
        assert_eq!(l.continent.unwrap().as_str(), "EU");
        assert_eq!(l.region, Some("EEU"));
        // Names only resolve for the US and Canada; a lower-case short name is not a code.
        let l = Location::new(None, Some("FR"), Some("Ain"), None, None);
        assert_eq!(l.subdivision, None);
        // Out-of-range coordinates are dropped, in pairs.
        let l = Location::new(None, Some("FR"), None, Some(91.0), Some(2.0));
        assert_eq!((l.latitude, l.longitude), (None, None));
        assert!(Location::new(None, None, Some("CA"), None, None).is_empty());
    }

    #[test]
    fn locations_dedupe() {
        use std::collections::HashSet;
        let a = Location::new(None, Some("US"), Some("CA"), Some(1.0), Some(2.0));
        let b = Location::new(Some("NA"), Some("us"), Some("US-CA"), Some(1.0), Some(2.0));
        let c = Location::new(None, Some("US"), Some("CA"), Some(1.0), Some(2.5));
        let set: HashSet<_> = [a, b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert_eq!(a.to_string(), "NA US US-CA WNAM 1.0000,2.0000");
    }
}
