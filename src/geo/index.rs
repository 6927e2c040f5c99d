//! One walk of a GeoIP database, shared by every map built from it.
//!
//! Walking a GeoLite2-City (3.3 million networks) and decoding its records is the expensive
//! part of building a prefix map; doing it once per load balancer made load time grow with
//! their number. [`GeoIndex::build`] walks the database once and keeps a merged prefix tree
//! whose leaves are *location ids* (each distinct [`Location`] decoded once), the address
//! space tiled exactly as the database tiles it. Every map is then computed from that tree
//! without reading the database again ([`super::GeoMap`]).
//!
//! Most policies read only some fields of a location (a continent rule does not care about
//! the city), so the index also keeps *projections*: the tree re-merged with each location
//! reduced to the fields a policy reads ([`Fields`]). A continent projection is a few
//! thousand nodes where the full tree has millions; maps over it are built and walked
//! faster. Projections are made on first use and shared.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use ipnet::{Ipv4Net, Ipv6Net};
use maxminddb::{LookupResult, WithinOptions};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::proximity::ProximityOrder;
use super::trie::{self, CoverError, Leaf, MAX_VALUE, Trie, TrieBuilder};
use super::{Bytes, ContinentCode, CountryCode, GeoDb, Location, SubdivisionCode};
use crate::error::ConfigError;

/// `::ffff:0:0/96`, which always resolves through the IPv4 tree.
const MAPPED: (u128, u8) = (0xffff_0000_0000, 96);

/// Which fields of a [`Location`] a policy reads. A projection onto them keeps those and
/// forgets the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fields(u8);

impl Fields {
    /// None: every location looks the same (but still differs from no location).
    pub const NONE: Fields = Fields(0);
    /// `continent`.
    pub const CONTINENT: Fields = Fields(1);
    /// `country`.
    pub const COUNTRY: Fields = Fields(2);
    /// `subdivision`.
    pub const SUBDIVISION: Fields = Fields(4);
    /// `region`.
    pub const REGION: Fields = Fields(8);
    /// `latitude` and `longitude`.
    pub const COORDINATES: Fields = Fields(16);
    /// Everything: the index's own tree.
    pub const ALL: Fields = Fields(31);

    /// Both sets of fields.
    pub const fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// Whether every field of `other` is in this set.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What a family of policies reads of a location: some fields, and of each coded field
/// perhaps only some codes (a rule for `DE` and one for `FR` tell those two countries apart
/// from each other and from the rest, but no other two countries apart). Locations that
/// read alike are one key of the projection's tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Projection {
    /// The fields read.
    pub fields: Fields,
    /// The continents told apart; `None`: all. Others read as no continent.
    pub continents: Option<BTreeSet<ContinentCode>>,
    /// The countries told apart; `None`: all.
    pub countries: Option<BTreeSet<CountryCode>>,
    /// The subdivisions told apart; `None`: all.
    pub subdivisions: Option<BTreeSet<SubdivisionCode>>,
    /// The regions told apart; `None`: all.
    pub regions: Option<BTreeSet<&'static str>>,
}

impl Default for Fields {
    fn default() -> Self {
        Fields::NONE
    }
}

impl Projection {
    /// Every value of `fields`.
    pub fn fields(fields: Fields) -> Projection {
        Projection {
            fields,
            ..Projection::default()
        }
    }

    /// Whether this projection tells apart every two locations `coarser` tells apart: it
    /// reads every field `coarser` reads, and of each, every code.
    pub fn refines(&self, coarser: &Projection) -> bool {
        fn keeps<T: Ord>(fine: &Option<BTreeSet<T>>, coarse: &Option<BTreeSet<T>>) -> bool {
            match (fine, coarse) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(f), Some(c)) => c.is_subset(f),
            }
        }
        let f = coarser.fields;
        self.fields.contains(f)
            && (!f.contains(Fields::CONTINENT) || keeps(&self.continents, &coarser.continents))
            && (!f.contains(Fields::COUNTRY) || keeps(&self.countries, &coarser.countries))
            && (!f.contains(Fields::SUBDIVISION)
                || keeps(&self.subdivisions, &coarser.subdivisions))
            && (!f.contains(Fields::REGION) || keeps(&self.regions, &coarser.regions))
    }

    fn is_identity(&self) -> bool {
        self.fields == Fields::ALL
            && self.continents.is_none()
            && self.countries.is_none()
            && self.subdivisions.is_none()
            && self.regions.is_none()
    }
}

impl Location {
    /// This location as `p` reads it: the fields and codes it does not read are gone.
    pub fn project(&self, p: &Projection) -> Location {
        fn keep<T: Ord>(v: Option<T>, read: bool, only: &Option<BTreeSet<T>>) -> Option<T> {
            v.filter(|v| read && only.as_ref().is_none_or(|set| set.contains(v)))
        }
        let f = p.fields;
        let coords = f.contains(Fields::COORDINATES);
        Location {
            continent: keep(self.continent, f.contains(Fields::CONTINENT), &p.continents),
            country: keep(self.country, f.contains(Fields::COUNTRY), &p.countries),
            subdivision: keep(
                self.subdivision,
                f.contains(Fields::SUBDIVISION),
                &p.subdivisions,
            ),
            region: keep(self.region, f.contains(Fields::REGION), &p.regions),
            latitude: self.latitude.filter(|_| coords),
            longitude: self.longitude.filter(|_| coords),
        }
    }
}

/// A merged prefix tree over the whole address space whose leaf values are *keys*, and the
/// location each key stands for. Key 0 is "no data"; the others are distinct locations (for a
/// projection: distinct projected locations).
#[derive(Debug)]
pub struct Base {
    trie: Trie,
    keys: Box<[Option<Location>]>,
    /// The unit vector of each key's coordinates, made on first use ([`Base::units`]).
    units: OnceLock<Box<[[f64; 3]]>>,
}

impl Base {
    /// The tree.
    pub fn trie(&self) -> &Trie {
        &self.trie
    }

    /// What each key stands for, by key; `keys()[0]` is `None`.
    pub fn keys(&self) -> &[Option<Location>] {
        &self.keys
    }

    /// The unit vector of each key's place ([`ProximityOrder::unit`]), NaN for a key without
    /// coordinates: computed once, for proximity maps, which order pools from it for each
    /// query ([`crate::state::RuleMap::candidates`]).
    pub fn units(&self) -> &[[f64; 3]] {
        self.units.get_or_init(|| {
            self.keys
                .iter()
                .map(|l| {
                    l.as_ref()
                        .and_then(Location::coordinates)
                        .map_or([f64::NAN; 3], ProximityOrder::unit)
                })
                .collect()
        })
    }

    /// `order`'s pools ordered from key `key`'s place, nearest first, into `out`; for a key
    /// without coordinates (or none at all), in configured order, as
    /// [`crate::steering::candidates`] leaves them. The one computation behind a proximity
    /// map's classes (at load) and its answers (at each query), so they always agree.
    #[inline]
    pub fn proximity_order(&self, key: u32, order: &ProximityOrder, out: &mut SmallVec<[u16; 16]>) {
        let key = key as usize;
        match self.units().get(key) {
            Some(&unit) if !unit[0].is_nan() => {
                let at = || {
                    let location = self.keys[key].as_ref();
                    location.and_then(Location::coordinates).unwrap_or_default()
                };
                order.order_unit(unit, at, out);
            }
            _ => {
                out.clear();
                out.extend(0..order.len() as u16);
            }
        }
    }

    /// A base over a tree whose leaf values are the values themselves (no location behind
    /// them): keys `0..=trie.max_value()`, each standing for no location.
    pub(crate) fn from_trie(trie: Trie) -> Base {
        let keys = vec![None; trie.max_value() as usize + 1];
        Base {
            trie,
            keys: keys.into(),
            units: OnceLock::new(),
        }
    }

    /// Heap memory held.
    pub fn heap_bytes(&self) -> usize {
        self.trie.heap_bytes()
            + self.keys.len() * size_of::<Option<Location>>()
            + self
                .units
                .get()
                .map_or(0, |u| u.len() * size_of::<[f64; 3]>())
    }
}

/// What the walk of a database found and cost.
#[derive(Debug, Clone, Default)]
pub struct IndexStats {
    /// Networks walked in the database, empty ones included.
    pub networks: u64,
    /// Distinct data records decoded.
    pub records: usize,
    /// Distinct locations found.
    pub locations: usize,
    /// Internal nodes of the location tree.
    pub nodes: usize,
    /// How long the walk took.
    pub build_time: Duration,
}

impl fmt::Display for IndexStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} networks, {} records, {} locations -> {} nodes in {} ms",
            self.networks,
            self.records,
            self.locations,
            self.nodes,
            self.build_time.as_millis()
        )
    }
}

/// A database walked once: the location of every address, as a tree of location ids, and its
/// projections.
pub struct GeoIndex {
    locations: Arc<Base>,
    /// Projections made and still used by some map.
    projections: Mutex<HashMap<Projection, Weak<Base>>>,
    stats: IndexStats,
}

impl fmt::Debug for GeoIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIndex")
            .field("stats", &self.stats)
            .finish()
    }
}

impl GeoIndex {
    /// Walks every network of `db` once, decoding each distinct record once.
    ///
    /// Fails if the database cannot be read to the end (a corrupt or truncated file).
    pub fn build(db: &GeoDb) -> Result<GeoIndex, ConfigError> {
        let started = Instant::now();
        let mut keys: Vec<Option<Location>> = vec![None];
        let (trie, walked) = walk(db, |location| match location {
            None => 0,
            Some(l) => {
                keys.push(Some(*l));
                (keys.len() - 1) as u32
            }
        })?;
        let stats = IndexStats {
            networks: walked.networks,
            records: walked.records,
            locations: keys.len() - 1,
            nodes: trie.node_count(),
            build_time: started.elapsed(),
        };
        Ok(GeoIndex {
            locations: Arc::new(Base {
                trie,
                keys: keys.into(),
                units: OnceLock::new(),
            }),
            projections: Mutex::new(HashMap::new()),
            stats,
        })
    }

    /// What the walk found.
    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// The tree of every distinct location.
    pub fn locations(&self) -> &Arc<Base> {
        &self.locations
    }

    /// The tree of locations as `p` reads them. Projections are kept while a map uses
    /// them: asking again for one that is still in use gives the same tree.
    pub fn projection(&self, p: &Projection) -> Arc<Base> {
        if p.is_identity() {
            return self.locations.clone();
        }
        let cached = self
            .projections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(p)
            .and_then(Weak::upgrade);
        if let Some(base) = cached {
            return base;
        }
        let base = Arc::new(project(&self.locations, p));
        let mut cache = self.projections.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, w| w.strong_count() > 0);
        match cache.get(p).and_then(Weak::upgrade) {
            // Built meanwhile by another caller: keep theirs.
            Some(theirs) => theirs,
            None => {
                cache.insert(p.clone(), Arc::downgrade(&base));
                base
            }
        }
    }

    /// Heap memory of the location tree and of the projections in use.
    pub fn heap_bytes(&self) -> usize {
        let projections = self.projections.lock().unwrap_or_else(|e| e.into_inner());
        self.locations.heap_bytes()
            + projections
                .values()
                .filter_map(Weak::upgrade)
                .map(|b| b.heap_bytes())
                .sum::<usize>()
    }
}

fn project(locations: &Base, p: &Projection) -> Base {
    let mut keys: Vec<Option<Location>> = vec![None];
    let mut ids: FxHashMap<Location, u32> = FxHashMap::default();
    let key_of: Vec<u32> = locations
        .keys
        .iter()
        .map(|l| match l {
            None => 0,
            Some(l) => {
                let projected = l.project(p);
                *ids.entry(projected).or_insert_with(|| {
                    keys.push(Some(projected));
                    (keys.len() - 1) as u32
                })
            }
        })
        .collect();
    Base {
        trie: locations.trie.remap(|v| key_of[v as usize]),
        keys: keys.into(),
        units: OnceLock::new(),
    }
}

/// What a walk found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Walked {
    pub(crate) networks: u64,
    pub(crate) records: usize,
}

/// Walks every network of `db` and maps it to `classify(location)`; addresses the database
/// has no data for get `classify(None)`. The classifier is called once for `None` (first) and
/// once per distinct location, in the order the walk meets them: records are cached by their
/// offset in the database (a GeoLite2-City has millions of networks but far fewer records),
/// and records by the location they decode to (many cities share a country and region).
///
/// IPv4 data is walked once: the aliases of the IPv4 tree inside the IPv6 tree (`::/96`,
/// `::ffff:0:0/96`, 6to4, Teredo) stay aliases in the tree, looked up through its IPv4 tree,
/// so their answers and scopes match the database's.
///
/// # Panics
///
/// If `classify` returns a value above [`trie::MAX_VALUE`].
pub(crate) fn walk(
    db: &GeoDb,
    classify: impl FnMut(Option<&Location>) -> u32,
) -> Result<(Trie, Walked), ConfigError> {
    let reader = db.reader().ok_or_else(|| {
        ConfigError::file(
            &db.path,
            "while building a map, reading it: its data was released after the last build",
        )
    })?;
    let src = Source {
        reader,
        path: &db.path,
        ip_version: db.ip_version(),
        v4_walked: db.has_ipv4_subtree(),
    };
    walk_source(&src, |r| db.decode(r), classify)
}

/// A MaxMind DB to walk: its reader and what [`walk_source`] needs to know of it.
pub(crate) struct Source<'a> {
    pub(crate) reader: &'a maxminddb::Reader<Bytes>,
    pub(crate) path: &'a std::path::Path,
    pub(crate) ip_version: u16,
    /// Whether IPv4 data sits in its own subtree at `::/96`.
    pub(crate) v4_walked: bool,
}

/// [`walk`] over any MaxMind DB, its records decoded by `decode` (the ASN database too).
pub(crate) fn walk_source<T: Copy + Eq + std::hash::Hash>(
    src: &Source<'_>,
    mut decode: impl FnMut(&LookupResult<'_, Bytes>) -> Result<Option<T>, maxminddb::MaxMindDbError>,
    mut classify: impl FnMut(Option<&T>) -> u32,
) -> Result<(Trie, Walked), ConfigError> {
    let fail = |what: &str, e: &dyn fmt::Display| {
        ConfigError::file(src.path, format!("while building a map, {what}: {e}"))
    };
    let reader = src.reader;
    let mut checked = |location: Option<&T>| {
        let v = classify(location);
        assert!(v <= MAX_VALUE, "classifier returned {v}, above {MAX_VALUE}");
        v
    };
    let unknown = checked(None);
    let mut by_offset: FxHashMap<usize, u32> = FxHashMap::default();
    let mut by_location: FxHashMap<T, u32> = FxHashMap::default();
    let mut value_of = |result: &LookupResult<'_, Bytes>| -> Result<u32, ConfigError> {
        let Some(offset) = result.offset() else {
            return Ok(unknown);
        };
        if let Some(&v) = by_offset.get(&offset) {
            return Ok(v);
        }
        let location =
            decode(result).map_err(|e| fail(&format!("record at data offset {offset}"), &e))?;
        let v = match location {
            Some(l) => *by_location.entry(l).or_insert_with(|| checked(Some(&l))),
            None => unknown,
        };
        by_offset.insert(offset, v);
        Ok(v)
    };

    // Where the walk leaves no network: in an IPv6 database with an IPv4 subtree, those
    // are the aliases of that subtree (the iterator skips them); otherwise they are the
    // node the reader took for the IPv4 start, i.e. whatever `::` resolves to.
    let v4_walked = src.v4_walked;
    let (v4_fill, hole) = if src.ip_version == 4 {
        (unknown, Leaf::Value(unknown))
    } else if v4_walked {
        (unknown, Leaf::V4Alias)
    } else {
        let r = reader
            .lookup(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            .map_err(|e| fail("looking up ::", &e))?;
        let v = value_of(&r)?;
        (v, Leaf::Value(v))
    };

    let cover_err = |e: CoverError| fail("the database's networks do not tile", &e);
    let mut builder = TrieBuilder::new();
    let mut networks = 0u64;
    let walk = reader
        .networks(WithinOptions::default().include_networks_without_data())
        .map_err(|e| fail("reading the search tree", &e))?;
    for item in walk {
        let item = item.map_err(|e| fail("reading the search tree", &e))?;
        let net = item
            .network()
            .map_err(|e| fail("reading the search tree", &e))?;
        let value = value_of(&item)?;
        networks += 1;
        match net.ip() {
            IpAddr::V4(a) => {
                let start = u128::from(u32::from(a));
                fill_v4(&mut builder, Some(start), v4_fill).map_err(cover_err)?;
                let net = Ipv4Net::new(a, net.prefix()).map_err(|e| fail("network", &e))?;
                builder.push_v4(net.trunc(), value).map_err(cover_err)?;
            }
            IpAddr::V6(a) => {
                push_v6(&mut builder, u128::from(a), net.prefix(), value, hole)
                    .map_err(cover_err)?;
            }
        }
    }
    fill_v4(&mut builder, None, v4_fill).map_err(cover_err)?;
    if let Some(next) = builder.v6_next() {
        for (s, l) in trie::blocks(next, None, 128) {
            emit_v6(&mut builder, s, l, hole).map_err(cover_err)?;
        }
    }
    let trie = builder.finish().map_err(cover_err)?;

    let walked = Walked {
        networks,
        records: by_offset.len(),
    };
    Ok((trie, walked))
}

/// Covers the IPv4 space up to `until` (the end when `None`) with `value`.
fn fill_v4(b: &mut TrieBuilder, until: Option<u128>, value: u32) -> Result<(), CoverError> {
    let Some(next) = b.v4_next() else {
        return Ok(());
    };
    if until.is_some_and(|u| u <= next) {
        return Ok(());
    }
    for (s, l) in trie::blocks(next, until, 32) {
        b.push_v4(Ipv4Net::new(Ipv4Addr::from(s as u32), l).unwrap(), value)?;
    }
    Ok(())
}

/// Adds a database network to the IPv6 cover, first filling any hole before it.
fn push_v6(
    b: &mut TrieBuilder,
    start: u128,
    len: u8,
    value: u32,
    hole: Leaf,
) -> Result<(), CoverError> {
    // `::ffff:0:0/96` is always an alias, whatever the database holds there.
    if len >= MAPPED.1 && start & trie::mask(MAPPED.1, 128) == MAPPED.0 {
        return Ok(());
    }
    if let Some(next) = b.v6_next()
        && next < start
    {
        for (s, l) in trie::blocks(next, Some(start), 128) {
            emit_v6(b, s, l, hole)?;
        }
    }
    emit_v6(b, start, len, Leaf::Value(value))
}

/// Pushes one aligned block, carving `::ffff:0:0/96` out of any block that contains it.
fn emit_v6(b: &mut TrieBuilder, start: u128, len: u8, leaf: Leaf) -> Result<(), CoverError> {
    let contains_mapped = len <= MAPPED.1 && MAPPED.0 & trie::mask(len, 128) == start;
    if contains_mapped && len == MAPPED.1 {
        return b.push_v6(net6(start, len), Leaf::V4Alias);
    }
    if contains_mapped {
        let half = 1u128 << (127 - len);
        emit_v6(b, start, len + 1, leaf)?;
        return emit_v6(b, start | half, len + 1, leaf);
    }
    b.push_v6(net6(start, len), leaf)
}

fn net6(start: u128, len: u8) -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::from(start), len).expect("prefix length ≤ 128")
}
