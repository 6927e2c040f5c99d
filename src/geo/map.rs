//! A classification of every address, with the widest prefix on which it holds, as an
//! overlay on a shared tree.
//!
//! A map assigns each key of a [`Base`] (a location, or a projected location) a value. Its
//! ECS scope for an address is the depth of the merged prefix tree that [`Trie::remap`] would
//! build from those values: the shallowest node on the address's path below which every leaf
//! has the same value. Instead of building that tree for every map, a map keeps one bit per
//! node of the shared tree ("every leaf below has the same value, and no IPv4 alias is below")
//! and the value of every key. A lookup walks the shared tree to the leaf, taking the depth
//! of the first node whose bit is set as the scope and the leaf's key's value as the answer.
//!
//! So a map costs one bit per node of its base (410 KiB for the 3.3 million of a GeoLite2-City
//! location tree, a few KiB for a continent projection), a 4 KiB table for the first 12 bits
//! of IPv4 addresses, and its value table, whatever the shape of its boundaries: a proximity
//! map, whose pool order changes between most neighbouring cities, is as small as a continent
//! map over the same base. A map whose values are computed from the key's location more
//! cheaply than they are stored drops its value table once built and gives keys
//! ([`GeoMap::into_keyed`]): a proximity map's table is one 16-bit class per city. The walk is over the base, which every map on it shares, so a
//! thousand load balancers keep one tree warm in the caches rather than a thousand.
//!
//! [`Trie::remap`]: super::trie::Trie::remap

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use maxminddb::LookupResult;

pub(crate) use super::index::Source;
use super::index::{Base, GeoIndex};
use super::trie::{ALIAS, LEAF, MAX_VALUE, Trie, V4_STRIDE};
use super::{Bytes, GeoDb, Location};
use crate::error::ConfigError;

/// In `v4_top`: no node in the first [`V4_STRIDE`] levels of the path is constant.
const NONE: u8 = u8::MAX;

/// Every address mapped to a value, with the widest prefix on which that value holds.
#[derive(Clone)]
pub struct GeoMap {
    base: Arc<Base>,
    values: Values,
    /// One bit per node of the base: the node's subtree holds one value and no alias.
    constant: Box<[u64]>,
    /// For each value of an IPv4 address's first [`V4_STRIDE`] bits: the depth of the first
    /// constant node on its path above that depth, or [`NONE`].
    v4_top: Box<[u8]>,
    stats: MapStats,
}

impl fmt::Debug for GeoMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoMap")
            .field("stats", &self.stats)
            .finish()
    }
}

/// The value of each key, as narrow as the values allow: 16 bits each when they fit
/// (always, for the classes of a rule set with fewer than 65,536 candidate lists).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Values {
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
    /// No table: each of this many keys is its own value ([`GeoMap::into_keyed`]).
    Keys(u32),
}

impl Values {
    /// `values`, narrowed when they all fit in 16 bits (two equal lists give equal
    /// `Values`).
    pub(crate) fn new(values: Vec<u32>) -> Values {
        if values.iter().all(|&v| v <= u32::from(u16::MAX)) {
            Values::Narrow(values.iter().map(|&v| v as u16).collect())
        } else {
            Values::Wide(values.into())
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::Narrow(v) => v.len(),
            Values::Wide(v) => v.len(),
            Values::Keys(n) => *n as usize,
        }
    }

    /// Whether every value is below `limit`.
    fn all_below(&self, limit: u32) -> bool {
        match self {
            Values::Narrow(v) => v.iter().all(|&x| u32::from(x) < limit),
            Values::Wide(v) => v.iter().all(|&x| x < limit),
            Values::Keys(n) => *n <= limit,
        }
    }

    #[inline]
    fn get(&self, key: u32) -> u32 {
        match self {
            Values::Narrow(v) => u32::from(v[key as usize]),
            Values::Wide(v) => v[key as usize],
            Values::Keys(_) => key,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Values::Narrow(v) => v.len() * 2,
            Values::Wide(v) => v.len() * 4,
            Values::Keys(_) => 0,
        }
    }
}

/// What a map holds and cost.
#[derive(Debug, Clone, Default)]
pub struct MapStats {
    /// Keys of its base: distinct (projected) locations, and "no data".
    pub keys: usize,
    /// Internal nodes of its base, one bit each.
    pub nodes: usize,
    /// Heap memory of the map itself (its base is shared and not counted).
    pub bytes: usize,
    /// How long building it took (its base not included).
    pub build_time: Duration,
}

impl fmt::Display for MapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys over {} nodes -> {} KiB in {} ms",
            self.keys,
            self.nodes,
            self.bytes.div_ceil(1024),
            self.build_time.as_millis()
        )
    }
}

impl GeoMap {
    /// The map giving each key `k` of `base` the value `values[k]`.
    ///
    /// # Panics
    ///
    /// If `values` does not have one value per key, or a value is above
    /// [`super::trie::MAX_VALUE`].
    pub fn new(base: Arc<Base>, values: &[u32]) -> GeoMap {
        GeoMap::with_values(base, Values::new(values.to_vec()))
    }

    /// [`GeoMap::new`] with the values already in their final form, which the map keeps.
    fn with_values(base: Arc<Base>, values: Values) -> GeoMap {
        let started = Instant::now();
        check_values(&base, &values);
        let constant = constant_bits(base.trie().nodes(), &values);
        GeoMap::finish(base, values, constant, started.elapsed())
    }

    /// How many maps [`GeoMap::new_many`] builds in one pass.
    pub const TOGETHER: usize = LANES;

    /// The maps giving each key `k` of `base` the value `values[m][k]`, in the order of
    /// `values`: the same maps as [`GeoMap::new`] gives, built faster. Maps whose values are
    /// all below 65,535 are built four at a time, in one pass over the nodes (their values
    /// held as four 16-bit lanes of a word), which reads the tree once for the four.
    ///
    /// # Panics
    ///
    /// As [`GeoMap::new`].
    pub fn new_many(base: &Arc<Base>, values: &[&[u32]]) -> Vec<GeoMap> {
        GeoMap::new_many_owned(
            base,
            values.iter().map(|v| Values::new(v.to_vec())).collect(),
        )
    }

    /// [`GeoMap::new_many`] with the values in their final form, which the maps keep (no
    /// copy of them is made).
    pub(crate) fn new_many_owned(base: &Arc<Base>, values: Vec<Values>) -> Vec<GeoMap> {
        let mut out: Vec<Option<GeoMap>> = values.iter().map(|_| None).collect();
        let mut narrow: Vec<(usize, Values)> = Vec::new();
        for (m, v) in values.into_iter().enumerate() {
            if v.all_below(u32::from(LANE_MIXED)) {
                narrow.push((m, v));
            } else {
                out[m] = Some(GeoMap::with_values(base.clone(), v));
            }
        }
        let mut narrow = narrow.into_iter().peekable();
        while narrow.peek().is_some() {
            let group: Vec<(usize, Values)> = narrow.by_ref().take(LANES).collect();
            let started = Instant::now();
            for (_, v) in &group {
                check_values(base, v);
            }
            let lanes: Vec<&Values> = group.iter().map(|(_, v)| v).collect();
            let constants = constant_bits_lanes(base.trie().nodes(), &lanes);
            drop(lanes);
            let each = started.elapsed() / group.len() as u32;
            for ((m, v), constant) in group.into_iter().zip(constants) {
                out[m] = Some(GeoMap::finish(base.clone(), v, constant, each));
            }
        }
        out.into_iter()
            .map(|m| m.expect("every map built"))
            .collect()
    }

    fn finish(base: Arc<Base>, values: Values, constant: Vec<u64>, took: Duration) -> GeoMap {
        let started = Instant::now();
        let nodes = base.trie().nodes();
        let mut v4_top = vec![NONE; 1 << V4_STRIDE].into_boxed_slice();
        let (v4_root, _) = base.trie().roots();
        fill_top(nodes, &constant, v4_root, 0, 0, &mut v4_top);

        let bytes = constant.len() * 8 + v4_top.len() + values.heap_bytes();
        let stats = MapStats {
            keys: base.keys().len(),
            nodes: nodes.len(),
            bytes,
            build_time: took + started.elapsed(),
        };
        GeoMap {
            base,
            values,
            constant: constant.into(),
            v4_top,
            stats,
        }
    }

    /// Walks `db` and maps every address to `classify(location)` (`classify(None)` where the
    /// database has no data), calling `classify` once for `None` and then once per distinct
    /// location, in the order of the walk. For tools and tests: a server walks the database
    /// once ([`GeoIndex`]) and builds all its maps from that.
    ///
    /// # Panics
    ///
    /// If `classify` returns a value above [`super::trie::MAX_VALUE`].
    pub fn build(
        db: &GeoDb,
        classify: impl FnMut(Option<&Location>) -> u32,
    ) -> Result<GeoMap, ConfigError> {
        let index = GeoIndex::build(db)?;
        let base = index.locations().clone();
        let values: Vec<u32> = base
            .keys()
            .iter()
            .map(Option::as_ref)
            .map(classify)
            .collect();
        Ok(GeoMap::new(base, &values))
    }

    /// A map whose values are the leaf values of `trie` (a merged tree: its depths are the
    /// scopes), over a base of its own.
    pub fn from_trie(trie: Trie, took: Duration) -> GeoMap {
        let base = Arc::new(Base::from_trie(trie));
        let values: Vec<u32> = (0..base.keys().len() as u32).collect();
        let mut map = GeoMap::new(base, &values);
        map.stats.build_time += took;
        map
    }

    /// A map that sends every address to `value`, with scope 0.
    pub fn constant(value: u32) -> GeoMap {
        let started = Instant::now();
        let trie = Trie::constant(value).expect("a /0 cover is complete");
        GeoMap::from_trie(trie, started.elapsed())
    }

    /// [`Trie::from_networks`] as a map.
    pub fn from_networks(nets: &[ipnet::IpNet], classify: impl FnMut(&[usize]) -> u32) -> GeoMap {
        let started = Instant::now();
        let trie = Trie::from_networks(nets, classify).expect("a complete cover by construction");
        GeoMap::from_trie(trie, started.elapsed())
    }

    /// [`Trie::product`] of two maps: each address maps to `f(a, b)` of its values in the
    /// two, merged again so the depth stays the scope of the combined value. The result has
    /// a base of its own (it is not shared).
    pub fn product(&self, other: &GeoMap, mut f: impl FnMut(u32, u32) -> u32) -> GeoMap {
        let started = Instant::now();
        let trie = Trie::product(self.base.trie(), other.base.trie(), |a, b| {
            f(self.values.get(a), other.values.get(b))
        })
        .expect("the product of two complete covers is complete");
        GeoMap::from_trie(trie, started.elapsed())
    }

    /// The same map with its value table dropped: a lookup gives the key of `ip`'s location
    /// in the base ([`Base::keys`]) instead of its value, with the same scope (still the
    /// widest prefix on which the dropped values are constant). For values that are computed
    /// from the location at lookup more cheaply than they are stored: a proximity map's
    /// (the pools' order by distance) is one 16-bit class per city of the database, for each
    /// load balancer with its own pools.
    pub(crate) fn into_keyed(mut self) -> GeoMap {
        self.stats.bytes -= self.values.heap_bytes();
        self.values = Values::Keys(self.values.len() as u32);
        self
    }

    /// The value for `ip` and the ECS scope it holds for: the prefix length, in `ip`'s own
    /// family, of the widest network around `ip` that maps to the same value.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> (u32, u8) {
        match ip {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    #[inline]
    fn is_constant(&self, node: u32) -> bool {
        self.constant[node as usize / 64] & (1 << (node % 64)) != 0
    }

    #[inline]
    fn lookup_v4(&self, ip: Ipv4Addr) -> (u32, u8) {
        let bits = u32::from(ip);
        let i = (bits >> (32 - V4_STRIDE)) as usize;
        let nodes = self.base.trie().nodes();
        let (mut slot, mut depth) = self.base.trie().v4_start(i);
        let mut scope = self.v4_top[i];
        while slot & LEAF == 0 {
            if scope == NONE && self.is_constant(slot) {
                scope = depth;
            }
            let bit = (bits >> (31 - depth)) & 1;
            slot = nodes[slot as usize][bit as usize];
            depth += 1;
        }
        (self.values.get(slot & !LEAF), scope.min(depth))
    }

    #[inline]
    fn lookup_v6(&self, ip: Ipv6Addr) -> (u32, u8) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            let (value, depth) = self.lookup_v4(v4);
            return (value, 96 + depth);
        }
        let bits = u128::from(ip);
        let nodes = self.base.trie().nodes();
        let (_, mut slot) = self.base.trie().roots();
        let mut depth = 0u8;
        let mut scope = NONE;
        while slot & LEAF == 0 {
            if scope == NONE && self.is_constant(slot) {
                scope = depth;
            }
            let bit = (bits >> (127 - depth)) & 1;
            slot = nodes[slot as usize][bit as usize];
            depth += 1;
        }
        if slot == ALIAS {
            // No node above an alias is constant; the trie only holds aliases at depth ≤ 96.
            let v4 = (bits >> (96 - depth)) as u32;
            let (value, v4_depth) = self.lookup_v4(Ipv4Addr::from(v4));
            return (value, depth + v4_depth);
        }
        (self.values.get(slot & !LEAF), scope.min(depth))
    }

    /// The tree it is an overlay on.
    pub fn base(&self) -> &Arc<Base> {
        &self.base
    }

    /// What it holds and cost.
    pub fn stats(&self) -> &MapStats {
        &self.stats
    }
}

fn check_values(base: &Base, values: &Values) {
    assert_eq!(values.len(), base.keys().len(), "one value per key");
    assert!(
        values.all_below(MAX_VALUE + 1),
        "a value is above {MAX_VALUE}"
    );
}

/// Bit `i` set: every key below node `i` has the same value.
fn constant_bits(nodes: &[[u32; 2]], values: &Values) -> Vec<u64> {
    // A subtree's value is its children's when they agree, else MIXED (an alias is MIXED).
    const MIXED: u32 = u32::MAX;
    let keys = values.len() as u32;
    let n = nodes.len();
    let mut constant = vec![0u64; n.div_ceil(64)];
    let mut word = Word::default();
    super::trie::fold(
        nodes,
        |s| {
            let key = s & !LEAF;
            if s != ALIAS && key < keys {
                values.get(key)
            } else {
                MIXED
            }
        },
        |i, a, b| {
            let v = if a == b { a } else { MIXED };
            word.put(&mut constant, i, n, v != MIXED);
            v
        },
    );
    constant
}

/// A bit vector's word being filled, node by node in index order: kept in a register and
/// stored whole when complete, so that a pass made again ([`super::trie::fold`]) stores
/// over the first one's words.
#[derive(Default, Clone, Copy)]
struct Word(u64);

impl Word {
    /// Bit `i` (of `n`) of `bits` is `on`.
    #[inline]
    fn put(&mut self, bits: &mut [u64], i: usize, n: usize, on: bool) {
        let bit = i % 64;
        if bit == 0 {
            self.0 = 0;
        }
        self.0 |= u64::from(on) << bit;
        if bit == 63 || i + 1 == n {
            bits[i / 64] = self.0;
        }
    }
}

/// Maps built together by [`constant_bits_lanes`].
const LANES: usize = 4;
/// A lane's "the keys below differ".
const LANE_MIXED: u16 = u16::MAX;

/// [`constant_bits`] of up to [`LANES`] value lists (each value below [`LANE_MIXED`]) in one
/// pass: a node's subtree values are four 16-bit lanes of one word, compared at once (SWAR).
///
/// Hand-tuned, as this pass is most of the time a load with many maps spends: the keys'
/// lane words are laid out once, and a node's lanes are merged without a branch.
fn constant_bits_lanes(nodes: &[[u32; 2]], values: &[&Values]) -> Vec<Vec<u64>> {
    debug_assert!(!values.is_empty() && values.len() <= LANES);
    const LOW: u64 = 0x7fff_7fff_7fff_7fff;
    const HIGH: u64 = 0x8000_8000_8000_8000;
    let n = nodes.len();
    let keys = values[0].len();
    // The keys' lane words, and MIXED (an alias) after them. Unused lanes hold 0 for every
    // key: constant, and never read.
    let mut of_key: Vec<u64> = Vec::with_capacity(keys + 1);
    of_key.extend((0..keys as u32).map(|k| {
        values.iter().enumerate().fold(0u64, |w, (lane, v)| {
            w | (u64::from(v.get(k)) << (16 * lane))
        })
    }));
    of_key.push(u64::MAX);
    let mut constant = vec![vec![0u64; n.div_ceil(64)]; values.len()];
    let mut words = [Word::default(); LANES];
    super::trie::fold(
        nodes,
        |s| of_key[((s & !LEAF) as usize).min(keys)],
        |i, a, b| {
            // A lane's high bit in `differ`: the children's values there are not equal.
            let x = a ^ b;
            let differ = (((x & LOW) + LOW) | x) & HIGH;
            // Those lanes become MIXED (all ones); the others keep the common value.
            let v = a | ((differ >> 15) * 0xffff);
            // A lane's high bit in `mixed`: all 16 bits of the lane are set (MIXED). Each
            // step ANDs twice as many bits below into bit 15, never reaching below the
            // lane's bit 0.
            let y = v & (v << 1);
            let y = y & (y << 2);
            let y = y & (y << 4);
            let mixed = y & (y << 8) & HIGH;
            for (lane, (c, w)) in constant.iter_mut().zip(&mut words).enumerate() {
                w.put(c, i, n, (mixed >> (16 * lane + 15)) & 1 == 0);
            }
            v
        },
    );
    constant
}

/// Sets `top[p]` for every `V4_STRIDE`-bit prefix `p` below `slot` (at `depth`, reached by the
/// bits `prefix`) to the depth of the first constant node on its path, if there is one above
/// depth `V4_STRIDE`.
fn fill_top(
    nodes: &[[u32; 2]],
    constant: &[u64],
    slot: u32,
    depth: u8,
    prefix: u32,
    top: &mut [u8],
) {
    if depth == V4_STRIDE || slot & LEAF != 0 {
        // The walk from the start table checks this node and those below it itself; a leaf's
        // depth is the scope already.
        return;
    }
    if constant[slot as usize / 64] & (1 << (slot % 64)) != 0 {
        let span = 1usize << (V4_STRIDE - depth);
        let first = (prefix as usize) << (V4_STRIDE - depth);
        top[first..first + span].fill(depth);
        return;
    }
    let [l, r] = nodes[slot as usize];
    fill_top(nodes, constant, l, depth + 1, prefix << 1, top);
    fill_top(nodes, constant, r, depth + 1, (prefix << 1) | 1, top);
}

/// Walks every network of a database and maps it to `classify(decode(record))`, as
/// [`GeoMap::build`] does for a location database (the ASN database: [`super::AsnDb`]).
pub(crate) fn build_from<T: Copy + Eq + std::hash::Hash>(
    src: &Source<'_>,
    decode: impl FnMut(&LookupResult<'_, Bytes>) -> Result<Option<T>, maxminddb::MaxMindDbError>,
    classify: impl FnMut(Option<&T>) -> u32,
) -> Result<GeoMap, ConfigError> {
    let started = Instant::now();
    let (trie, _) = super::index::walk_source(src, decode, classify)?;
    Ok(GeoMap::from_trie(trie, started.elapsed()))
}
