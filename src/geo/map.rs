//! Compiling a database and a classification into a merged prefix map.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::{Ipv4Net, Ipv6Net};
use maxminddb::{LookupResult, WithinOptions};

use super::Bytes;

use super::trie::{self, CoverError, Leaf, MAX_VALUE, Trie, TrieBuilder};
use super::{GeoDb, Location};
use crate::error::ConfigError;

/// `::ffff:0:0/96`, which always resolves through the IPv4 tree.
const MAPPED: (u128, u8) = (0xffff_0000_0000, 96);

/// Every address mapped to a value id, with the widest prefix on which that value holds.
#[derive(Debug, Clone)]
pub struct GeoMap {
    trie: Trie,
    stats: MapStats,
}

/// What a build cost; we report these for real databases.
#[derive(Debug, Clone, Default)]
pub struct MapStats {
    /// Networks walked in the database, empty ones included.
    pub networks: u64,
    /// Distinct data records decoded.
    pub records: usize,
    /// Distinct locations classified (calls of the classifier, besides the one for `None`).
    pub locations: usize,
    /// Internal nodes of the merged tree.
    pub nodes: usize,
    /// Heap memory of the merged tree.
    pub bytes: usize,
    /// How long building took.
    pub build_time: Duration,
}

impl fmt::Display for MapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} networks, {} records, {} locations -> {} nodes ({} KiB) in {} ms",
            self.networks,
            self.records,
            self.locations,
            self.nodes,
            self.bytes.div_ceil(1024),
            self.build_time.as_millis()
        )
    }
}

impl GeoMap {
    /// Walks every network of `db` and maps it to `classify(location)`; addresses the
    /// database has no data for get `classify(None)`. The classifier is called once for
    /// `None` and once per distinct location: records are cached by their offset in the
    /// database (a GeoLite2-City has millions of networks but far fewer records), and
    /// records by the location they decode to (many cities share a country and region).
    ///
    /// IPv4 data is walked once: the aliases of the IPv4 tree inside the IPv6 tree (`::/96`,
    /// `::ffff:0:0/96`, 6to4, Teredo) stay aliases in the map, looked up through its IPv4
    /// tree, so their answers and scopes match the database's.
    ///
    /// Fails if the database cannot be read to the end (a corrupt or truncated file).
    ///
    /// # Panics
    ///
    /// If `classify` returns a value above [`trie::MAX_VALUE`].
    pub fn build(
        db: &GeoDb,
        classify: impl FnMut(Option<&Location>) -> u32,
    ) -> Result<GeoMap, ConfigError> {
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
        build_from(&src, |r| db.decode(r), classify)
    }

    /// A map that sends every address to `value`, with scope 0.
    pub fn constant(value: u32) -> GeoMap {
        GeoMap {
            trie: Trie::constant(value).expect("a /0 cover is complete"),
            stats: MapStats::default(),
        }
    }

    /// [`Trie::from_networks`] as a map.
    pub fn from_networks(nets: &[ipnet::IpNet], classify: impl FnMut(&[usize]) -> u32) -> GeoMap {
        let started = Instant::now();
        let trie = Trie::from_networks(nets, classify).expect("a complete cover by construction");
        let stats = MapStats {
            networks: nets.len() as u64,
            nodes: trie.node_count(),
            bytes: trie.heap_bytes(),
            build_time: started.elapsed(),
            ..MapStats::default()
        };
        GeoMap { trie, stats }
    }

    /// [`Trie::product`] of two maps: each address maps to `f(a, b)`, merged again so the
    /// depth stays the scope of the combined value.
    pub fn product(&self, other: &GeoMap, f: impl FnMut(u32, u32) -> u32) -> GeoMap {
        let started = Instant::now();
        let trie = Trie::product(&self.trie, &other.trie, f)
            .expect("the product of two complete covers is complete");
        let stats = MapStats {
            networks: self.stats.networks + other.stats.networks,
            records: self.stats.records + other.stats.records,
            locations: self.stats.locations + other.stats.locations,
            nodes: trie.node_count(),
            bytes: trie.heap_bytes(),
            build_time: self.stats.build_time + other.stats.build_time + started.elapsed(),
        };
        GeoMap { trie, stats }
    }

    /// The value for `ip` and the ECS scope it holds for: the prefix length, in `ip`'s own
    /// family, of the widest network around `ip` that maps to the same value.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> (u32, u8) {
        self.trie.lookup(ip)
    }

    /// What building it found and made.
    pub fn stats(&self) -> &MapStats {
        &self.stats
    }
}

/// A MaxMind DB to walk: its reader and what [`build_from`] needs to know of it.
pub(crate) struct Source<'a> {
    pub(crate) reader: &'a maxminddb::Reader<Bytes>,
    pub(crate) path: &'a std::path::Path,
    pub(crate) ip_version: u16,
    /// Whether IPv4 data sits in its own subtree at `::/96`.
    pub(crate) v4_walked: bool,
}

/// Walks every network of a database and maps it to `classify(decode(record))`; see
/// [`GeoMap::build`]. Records are cached by offset, and decoded values by equality.
pub(crate) fn build_from<T: Copy + Eq + std::hash::Hash>(
    src: &Source<'_>,
    mut decode: impl FnMut(&LookupResult<'_, Bytes>) -> Result<Option<T>, maxminddb::MaxMindDbError>,
    mut classify: impl FnMut(Option<&T>) -> u32,
) -> Result<GeoMap, ConfigError> {
    let started = Instant::now();
    let fail = |what: &str, e: &dyn fmt::Display| {
        ConfigError::file(src.path, format!("while building a map, {what}: {e}"))
    };
    let reader = src.reader;
    let mut checked = |item: Option<&T>| {
        let v = classify(item);
        assert!(v <= MAX_VALUE, "classifier returned {v}, above {MAX_VALUE}");
        v
    };
    let unknown = checked(None);
    let mut by_offset: HashMap<usize, u32> = HashMap::new();
    let mut by_item: HashMap<T, u32> = HashMap::new();
    let mut value_of = |result: &LookupResult<'_, Bytes>| -> Result<u32, ConfigError> {
        let Some(offset) = result.offset() else {
            return Ok(unknown);
        };
        if let Some(&v) = by_offset.get(&offset) {
            return Ok(v);
        }
        let item =
            decode(result).map_err(|e| fail(&format!("record at data offset {offset}"), &e))?;
        let v = match item {
            Some(l) => *by_item.entry(l).or_insert_with(|| checked(Some(&l))),
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

    let stats = MapStats {
        networks,
        records: by_offset.len(),
        locations: by_item.len(),
        nodes: trie.node_count(),
        bytes: trie.heap_bytes(),
        build_time: started.elapsed(),
    };
    Ok(GeoMap { trie, stats })
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
