//! A merged binary prefix tree mapping every address to a small value id, after gdnsd's
//! `ntree`.
//!
//! The tree is built from a complete cover of the address space, one IPv4 (32-bit) and one
//! IPv6 (128-bit) tree. Whenever two sibling subtrees hold the same value everywhere they are
//! merged into one leaf, so the depth of the leaf an address ends in is the widest prefix on
//! which its value is constant. That depth is the ECS scope an answer can carry: a resolver may
//! reuse the answer for every client in the prefix, because every one of them would get it.
//!
//! Lookups are a bit walk over a flat `Vec` of two-child nodes, without allocation.
//!
//! An IPv6 leaf may be an *IPv4 alias*: the 32 bits below it are an IPv4 address, looked up in
//! the IPv4 tree, and the depths add up. That is how MaxMind databases make IPv4-compatible
//! (`::/96`), 6to4 (`2002::/16`) and Teredo (`2001::/32`) addresses resolve to IPv4 data, and
//! the map built from a database keeps its aliases. IPv4-mapped addresses (`::ffff:0:0/96`)
//! are always looked up in the IPv4 tree, whatever the IPv6 cover says, with depth 96 + the
//! IPv4 depth: a client that shows up in that form is an IPv4 client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The largest value a leaf can hold; the top bit marks leaves and one value marks aliases.
pub const MAX_VALUE: u32 = LEAF - 2;

/// In a child slot: set for a leaf (the rest is its value), clear for a node index.
pub(crate) const LEAF: u32 = 1 << 31;
/// The slot of an IPv4 alias leaf.
pub(crate) const ALIAS: u32 = LEAF | (LEAF - 1);

/// What a leaf of the IPv6 tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// The value of the networks below.
    Value(u32),
    /// The next 32 bits are an IPv4 address to look up in the IPv4 tree.
    V4Alias,
}

/// Why a cover was refused: the builder's input is not an ordered, complete tiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverError(String);

impl fmt::Display for CoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CoverError {}

/// A binary prefix tree over the IPv4 and IPv6 address spaces, each leaf a value and the
/// depth at which it was reached (the prefix length of the widest network with that value).
#[derive(Debug, Clone)]
pub struct Trie {
    /// Internal nodes, children before parents: a node's index is above its children's.
    nodes: Vec<[u32; 2]>,
    v4_root: u32,
    v6_root: u32,
    /// Where the IPv4 walk stands after the first [`V4_STRIDE`] bits, for each of their
    /// values: the slot reached (a leaf, or a node to continue from) and its depth. The walk
    /// is a chain of dependent loads through a tree much larger than the caches; this table
    /// does the first 12 steps in one (the next few levels are few nodes, and stay cached).
    v4_start: Box<[u32]>,
    v4_start_depth: Box<[u8]>,
}

/// Bits of an IPv4 address resolved by [`Trie::v4_start`].
pub(crate) const V4_STRIDE: u8 = 12;

impl Trie {
    /// The value for `ip` and the depth of its leaf, in `ip`'s own family (0–32 for IPv4,
    /// 0–128 for IPv6).
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> (u32, u8) {
        match ip {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    /// The value for `ip`, and the prefix length of the leaf reached.
    #[inline]
    pub fn lookup_v4(&self, ip: Ipv4Addr) -> (u32, u8) {
        let bits = u32::from(ip);
        let i = (bits >> (32 - V4_STRIDE)) as usize;
        let (mut slot, mut depth) = (self.v4_start[i], self.v4_start_depth[i]);
        while slot & LEAF == 0 {
            let bit = (bits >> (31 - depth)) & 1;
            slot = self.nodes[slot as usize][bit as usize];
            depth += 1;
        }
        (slot & !LEAF, depth)
    }

    /// The value for `ip` (IPv4-mapped addresses through the IPv4 tree, their depth
    /// counted from 96), and the prefix length of the leaf reached.
    #[inline]
    pub fn lookup_v6(&self, ip: Ipv6Addr) -> (u32, u8) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            let (value, depth) = self.lookup_v4(v4);
            return (value, 96 + depth);
        }
        let bits = u128::from(ip);
        let (leaf, depth) = walk(&self.nodes, self.v6_root, bits, 128);
        if leaf == ALIAS {
            // The builder only accepts aliases at depth ≤ 96, so 32 bits remain.
            let v4 = (bits >> (96 - depth)) as u32;
            let (value, v4_depth) = self.lookup_v4(Ipv4Addr::from(v4));
            (value, depth + v4_depth)
        } else {
            (leaf & !LEAF, depth)
        }
    }

    /// Internal nodes of both trees; leaves are stored in their parents.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Heap memory held by the tree.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<[u32; 2]>() + self.v4_start.len() * 5
    }

    /// The same tree with every leaf value `v` replaced by `value_of(v)`, siblings that now
    /// hold equal values merged: the tree [`TrieBuilder`] would have built from the same cover
    /// with the new values. Aliases stay aliases. One pass over the nodes, children first.
    ///
    /// # Panics
    ///
    /// If `value_of` returns a value above [`MAX_VALUE`].
    pub fn remap(&self, value_of: impl Fn(u32) -> u32) -> Trie {
        let mut nodes: Vec<[u32; 2]> = Vec::new();
        // The new slot of each old node.
        let mut new_slot: Vec<u32> = Vec::with_capacity(self.nodes.len());
        let slot = |s: u32, new_slot: &[u32]| -> u32 {
            if s == ALIAS {
                ALIAS
            } else if s & LEAF != 0 {
                let v = value_of(s & !LEAF);
                assert!(v <= MAX_VALUE, "remapped value {v} is above {MAX_VALUE}");
                LEAF | v
            } else {
                new_slot[s as usize]
            }
        };
        for &[l, r] in &self.nodes {
            let (l, r) = (slot(l, &new_slot), slot(r, &new_slot));
            new_slot.push(combine(&mut nodes, l, r));
        }
        let v4_root = slot(self.v4_root, &new_slot);
        let v6_root = slot(self.v6_root, &new_slot);
        drop(new_slot);
        Trie::from_parts(nodes, v4_root, v6_root)
    }

    /// A tree from its nodes and roots, with the IPv4 start table computed.
    fn from_parts(mut nodes: Vec<[u32; 2]>, v4_root: u32, v6_root: u32) -> Trie {
        nodes.shrink_to_fit();
        let mut v4_start = Vec::with_capacity(1 << V4_STRIDE);
        let mut v4_start_depth = Vec::with_capacity(1 << V4_STRIDE);
        for prefix in 0u32..(1 << V4_STRIDE) {
            let bits = u128::from(prefix) << (32 - V4_STRIDE);
            let (mut slot, mut depth) = (v4_root, 0u8);
            while slot & LEAF == 0 && depth < V4_STRIDE {
                let bit = (bits >> (31 - depth)) & 1;
                slot = nodes[slot as usize][bit as usize];
                depth += 1;
            }
            v4_start.push(slot);
            v4_start_depth.push(depth);
        }
        Trie {
            nodes,
            v4_root,
            v6_root,
            v4_start: v4_start.into(),
            v4_start_depth: v4_start_depth.into(),
        }
    }

    /// The internal nodes, children before parents.
    pub(crate) fn nodes(&self) -> &[[u32; 2]] {
        &self.nodes
    }

    /// The roots' slots: (IPv4, IPv6).
    pub(crate) fn roots(&self) -> (u32, u32) {
        (self.v4_root, self.v6_root)
    }

    /// Where the IPv4 walk stands after the first [`V4_STRIDE`] bits of an address whose top
    /// bits are `prefix`: the slot and its depth.
    #[inline]
    pub(crate) fn v4_start(&self, prefix: usize) -> (u32, u8) {
        (self.v4_start[prefix], self.v4_start_depth[prefix])
    }
}

#[inline]
fn walk(nodes: &[[u32; 2]], root: u32, bits: u128, width: u8) -> (u32, u8) {
    let mut slot = root;
    let mut depth = 0u8;
    while slot & LEAF == 0 {
        let bit = (bits >> (width - 1 - depth)) & 1;
        slot = nodes[slot as usize][bit as usize];
        depth += 1;
    }
    (slot, depth)
}

/// Builds a [`Trie`] from networks given in address order, each family covering its whole
/// space with no overlap.
#[derive(Debug)]
pub struct TrieBuilder {
    nodes: Vec<[u32; 2]>,
    v4: Stream,
    v6: Stream,
}

impl Default for TrieBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TrieBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            v4: Stream::new(32),
            v6: Stream::new(128),
        }
    }

    /// Adds the next IPv4 network. It must start where the previous one ended.
    pub fn push_v4(&mut self, net: Ipv4Net, value: u32) -> Result<(), CoverError> {
        check_value(value)?;
        let start = u128::from(u32::from(net.network()));
        self.v4
            .push(&mut self.nodes, start, net.prefix_len(), LEAF | value)
    }

    /// Adds the next IPv6 network. It must start where the previous one ended.
    pub fn push_v6(&mut self, net: Ipv6Net, leaf: Leaf) -> Result<(), CoverError> {
        let slot = match leaf {
            Leaf::Value(v) => {
                check_value(v)?;
                LEAF | v
            }
            Leaf::V4Alias if net.prefix_len() > 96 => {
                return Err(CoverError(format!(
                    "IPv4 alias {net} is longer than /96: fewer than 32 bits remain"
                )));
            }
            Leaf::V4Alias => ALIAS,
        };
        let start = u128::from(net.network());
        self.v6.push(&mut self.nodes, start, net.prefix_len(), slot)
    }

    /// Where the next IPv4 network must start, or `None` once the space is covered.
    pub fn v4_next(&self) -> Option<u128> {
        self.v4.next()
    }

    /// Where the next IPv6 network must start, or `None` once the space is covered.
    pub fn v6_next(&self) -> Option<u128> {
        self.v6.next()
    }

    /// The finished tree; an error unless both address spaces were covered.
    pub fn finish(self) -> Result<Trie, CoverError> {
        let v4_root = self.v4.root()?;
        let v6_root = self.v6.root()?;
        Ok(Trie::from_parts(self.nodes, v4_root, v6_root))
    }
}

fn check_value(value: u32) -> Result<(), CoverError> {
    if value > MAX_VALUE {
        return Err(CoverError(format!(
            "value {value} is above the largest storable value {MAX_VALUE}"
        )));
    }
    Ok(())
}

/// One family's build in progress. Networks arrive in address order, so the finished part of
/// the tree is a list of complete subtrees, each the left sibling of the path still being
/// built; `stack` holds them, shallowest first, and two of equal depth are always siblings.
/// Combining them as they complete means only the final tree is ever stored.
#[derive(Debug)]
struct Stream {
    width: u8,
    /// Start of the next network; `done` once the whole space is covered.
    next: u128,
    done: bool,
    stack: Vec<(u8, u32)>,
}

impl Stream {
    fn new(width: u8) -> Self {
        Self {
            width,
            next: 0,
            done: false,
            stack: Vec::with_capacity(width as usize + 1),
        }
    }

    fn next(&self) -> Option<u128> {
        (!self.done).then_some(self.next)
    }

    fn push(
        &mut self,
        nodes: &mut Vec<[u32; 2]>,
        start: u128,
        len: u8,
        slot: u32,
    ) -> Result<(), CoverError> {
        let family = if self.width == 32 { "IPv4" } else { "IPv6" };
        if self.done || start != self.next {
            return Err(CoverError(format!(
                "{family} network {} does not start where the cover has reached ({})",
                show(start, len, self.width),
                if self.done {
                    "the end of the space".to_string()
                } else {
                    show(self.next, self.width, self.width)
                }
            )));
        }
        debug_assert!(len <= self.width && start & !mask(len, self.width) == 0);
        let size_log2 = u32::from(self.width - len);
        if size_log2 == 128 {
            self.done = true;
        } else {
            let end = start.wrapping_add(1u128 << size_log2);
            self.done = end == 0 || (self.width < 128 && end == 1u128 << self.width);
            self.next = end;
        }

        let (mut depth, mut slot) = (len, slot);
        while let Some(&(d, left)) = self.stack.last()
            && d == depth
        {
            self.stack.pop();
            slot = combine(nodes, left, slot);
            depth -= 1;
        }
        self.stack.push((depth, slot));
        Ok(())
    }

    fn root(&self) -> Result<u32, CoverError> {
        match self.stack.as_slice() {
            [(0, root)] if self.done => Ok(*root),
            _ => Err(CoverError(format!(
                "the IPv{} cover is incomplete: it stops at {}",
                if self.width == 32 { 4 } else { 6 },
                show(self.next, self.width, self.width)
            ))),
        }
    }
}

fn combine(nodes: &mut Vec<[u32; 2]>, left: u32, right: u32) -> u32 {
    // An alias is never merged: two aliased siblings read different bits as the IPv4 address.
    if left == right && left & LEAF != 0 && left != ALIAS {
        return left;
    }
    let index = nodes.len() as u32;
    assert!(index < LEAF, "prefix tree too large");
    nodes.push([left, right]);
    index
}

/// The netmask of a `len`-bit prefix in a `width`-bit space, in the low bits of a u128.
pub(crate) fn mask(len: u8, width: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if len == 0 { 0 } else { all & !(all >> len) }
}

/// The aligned blocks `(start, prefix length)` that exactly tile `[start, end)` in a
/// `width`-bit space, in address order; `end` of `None` means the end of the space.
pub fn blocks(start: u128, end: Option<u128>, width: u8) -> impl Iterator<Item = (u128, u8)> {
    let mut cur = Some(start);
    std::iter::from_fn(move || {
        let s = cur?;
        if Some(s) == end {
            return None;
        }
        // Remaining addresses, as a power-of-two bound: floor(log2(end - s)).
        let space_log2 = match end {
            Some(e) => 127 - (e - s).leading_zeros(),
            None if width == 128 && s == 0 => 128,
            // 2^128 - s, which is s's two's complement.
            None if width == 128 => 127 - s.wrapping_neg().leading_zeros(),
            None => 127 - ((1u128 << width) - s).leading_zeros(),
        };
        let align_log2 = if s == 0 {
            u32::from(width)
        } else {
            s.trailing_zeros()
        };
        let size_log2 = space_log2.min(align_log2);
        let len = width - size_log2 as u8;
        cur = if size_log2 == 128 {
            None
        } else {
            let next = s.wrapping_add(1u128 << size_log2);
            let at_end = next == 0 || (width < 128 && next == 1u128 << width);
            (!at_end).then_some(next)
        };
        Some((s, len))
    })
}

fn show(start: u128, len: u8, width: u8) -> String {
    if width == 32 {
        format!("{}/{len}", Ipv4Addr::from(start as u32))
    } else {
        format!("{}/{len}", Ipv6Addr::from(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, RngExt, SeedableRng};

    /// A random cover of a `width`-bit space: split each block with probability `split`, down
    /// to `max_len`, with values from `0..values`. Few values make merges likely.
    fn random_cover(rng: &mut StdRng, width: u8, max_len: u8, values: u64) -> Vec<(u128, u8, u32)> {
        fn go(
            rng: &mut StdRng,
            start: u128,
            len: u8,
            width: u8,
            max_len: u8,
            values: u64,
            out: &mut Vec<(u128, u8, u32)>,
        ) {
            // Always split the top levels, then just under half the time: a subcritical
            // branching process, so covers stay small but mix wide and narrow networks.
            let split = len < max_len && (len < 3 || rng.random_range(0..100) < 48);
            if split {
                let half = 1u128 << (width - len - 1);
                go(rng, start, len + 1, width, max_len, values, out);
                go(rng, start + half, len + 1, width, max_len, values, out);
            } else {
                out.push((start, len, rng.random_range(0..values) as u32));
            }
        }
        let mut out = Vec::new();
        go(rng, 0, 0, width, max_len, values, &mut out);
        out
    }

    /// The widest prefix containing `addr` on which the cover's value is constant.
    fn brute_force(cover: &[(u128, u8, u32)], addr: u128, width: u8) -> (u32, u8) {
        let value = cover
            .iter()
            .find(|(s, l, _)| addr & mask(*l, width) == *s)
            .unwrap()
            .2;
        for len in 0..=width {
            let m = mask(len, width);
            let prefix = addr & m;
            // Cover entries overlapping the prefix: inside it, or containing it.
            let constant = cover
                .iter()
                .filter(|(s, l, _)| {
                    let common = mask((*l).min(len), width);
                    s & common == prefix & common
                })
                .all(|(_, _, v)| *v == value);
            if constant {
                return (value, len);
            }
        }
        unreachable!()
    }

    fn build_v4(cover: &[(u128, u8, u32)]) -> Trie {
        let mut b = TrieBuilder::new();
        for &(s, l, v) in cover {
            b.push_v4(Ipv4Net::new(Ipv4Addr::from(s as u32), l).unwrap(), v)
                .unwrap();
        }
        b.push_v6("::/0".parse().unwrap(), Leaf::Value(0)).unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn blocks_tile_ranges() {
        let v: Vec<_> = blocks(0, None, 32).collect();
        assert_eq!(v, vec![(0, 0)]);
        let v: Vec<_> = blocks(0, None, 128).collect();
        assert_eq!(v, vec![(0, 0)]);
        // 10.0.0.1 .. 10.0.0.8 (exclusive)
        let v: Vec<_> = blocks(0x0a00_0001, Some(0x0a00_0008), 32).collect();
        assert_eq!(
            v,
            vec![(0x0a00_0001, 32), (0x0a00_0002, 31), (0x0a00_0004, 30)]
        );
        let v: Vec<_> = blocks(0xc000_0000, None, 32).collect();
        assert_eq!(v, vec![(0xc000_0000, 2)]);
        let v: Vec<_> = blocks(1u128 << 127, None, 128).collect();
        assert_eq!(v, vec![(1u128 << 127, 1)]);
        let v: Vec<_> = blocks(u128::MAX, None, 128).collect();
        assert_eq!(v, vec![(u128::MAX, 128)]);
    }

    #[test]
    fn merge_matches_brute_force_exhaustively() {
        // A 12-bit space is small enough to check every address. It is built as the top 12
        // bits of IPv4: no network is longer than /12, so the 2^20 addresses of each /12
        // share value and depth, and its first and last address stand for all of them.
        let mut rng = StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
        for round in 0..60 {
            let values = 1 + round % 4;
            let small = random_cover(&mut rng, 12, 12, values);
            let cover: Vec<_> = small.iter().map(|&(s, l, v)| (s << 20, l, v)).collect();
            let trie = build_v4(&cover);
            for a in 0..(1u128 << 12) {
                let addr = a << 20;
                let (value, depth) = trie.lookup_v4(Ipv4Addr::from(addr as u32));
                let expect = brute_force(&cover, addr, 32);
                assert_eq!((value, depth), expect, "round {round}, {addr:#x}");
                let (v2, d2) = trie.lookup_v4(Ipv4Addr::from((addr | 0xf_ffff) as u32));
                assert_eq!((v2, d2), expect);
            }
        }
    }

    #[test]
    fn merge_matches_brute_force_on_deep_covers() {
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..40 {
            let cover = random_cover(&mut rng, 32, 32, 3);
            let trie = build_v4(&cover);
            for &(s, l, _) in &cover {
                // The first and last address of each network, and one inside.
                let size = 1u128 << (32 - l);
                for addr in [s, s + size - 1, s + rng.next_u64() as u128 % size] {
                    let got = trie.lookup_v4(Ipv4Addr::from(addr as u32));
                    assert_eq!(got, brute_force(&cover, addr, 32), "{addr:#x}");
                }
            }
        }
    }

    #[test]
    fn v6_covers_and_depth() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let cover = random_cover(&mut rng, 128, 64, 3);
            let mut b = TrieBuilder::new();
            b.push_v4("0.0.0.0/0".parse().unwrap(), 9).unwrap();
            for &(s, l, v) in &cover {
                b.push_v6(Ipv6Net::new(Ipv6Addr::from(s), l).unwrap(), Leaf::Value(v))
                    .unwrap();
            }
            let trie = b.finish().unwrap();
            for &(s, l, _) in &cover {
                let size_m1 = if l == 0 {
                    u128::MAX
                } else {
                    (1u128 << (128 - l)) - 1
                };
                for addr in [s, s + size_m1] {
                    let ip = Ipv6Addr::from(addr);
                    if ip.to_ipv4_mapped().is_some() {
                        continue;
                    }
                    assert_eq!(trie.lookup_v6(ip), brute_force(&cover, addr, 128));
                }
            }
        }
    }

    #[test]
    fn sibling_merge_gives_widest_prefix() {
        let mut b = TrieBuilder::new();
        for (net, v) in [
            ("0.0.0.0/2", 1),
            ("64.0.0.0/3", 2),
            ("96.0.0.0/3", 2),
            ("128.0.0.0/1", 1),
        ] {
            b.push_v4(net.parse().unwrap(), v).unwrap();
        }
        b.push_v6("::/0".parse().unwrap(), Leaf::Value(0)).unwrap();
        let t = b.finish().unwrap();
        assert_eq!(t.lookup("100.1.2.3".parse().unwrap()), (2, 2));
        assert_eq!(t.lookup("1.1.1.1".parse().unwrap()), (1, 2));
        assert_eq!(t.lookup("200.1.1.1".parse().unwrap()), (1, 1));
        assert_eq!(t.lookup("2001:db8::1".parse().unwrap()), (0, 0));
        // Two internal nodes: the root and 0/1.
        assert_eq!(t.node_count(), 2);
    }

    #[test]
    fn ipv4_mapped_and_aliases_use_the_ipv4_tree() {
        let mut b = TrieBuilder::new();
        b.push_v4("0.0.0.0/1".parse().unwrap(), 1).unwrap();
        b.push_v4("128.0.0.0/2".parse().unwrap(), 2).unwrap();
        b.push_v4("192.0.0.0/2".parse().unwrap(), 3).unwrap();
        // ::/96 and 2002::/16 alias IPv4; everything else is 7.
        let mut covered = 0u128;
        for (net, leaf) in [("::/96", Leaf::V4Alias), ("2002::/16", Leaf::V4Alias)] {
            let net: Ipv6Net = net.parse().unwrap();
            let start = u128::from(net.network());
            for (s, l) in blocks(covered, Some(start), 128) {
                b.push_v6(Ipv6Net::new(Ipv6Addr::from(s), l).unwrap(), Leaf::Value(7))
                    .unwrap();
            }
            b.push_v6(net, leaf).unwrap();
            covered = b.v6_next().unwrap();
        }
        for (s, l) in blocks(covered, None, 128) {
            b.push_v6(Ipv6Net::new(Ipv6Addr::from(s), l).unwrap(), Leaf::Value(7))
                .unwrap();
        }
        let t = b.finish().unwrap();
        let q = |s: &str| t.lookup(s.parse().unwrap());
        assert_eq!(q("10.0.0.1"), (1, 1));
        assert_eq!(q("::ffff:10.0.0.1"), (1, 97));
        assert_eq!(q("::ffff:200.0.0.1"), (3, 98));
        assert_eq!(q("::200.0.0.1"), (3, 98));
        // 2002:c800:0001:: embeds 200.0.0.1.
        assert_eq!(q("2002:c800:1::1"), (3, 18));
        assert_eq!(q("2002:0a00:1::1"), (1, 17));
        // 2000::/15 holds no alias.
        assert_eq!(q("2001:db8::1"), (7, 15));
        assert_eq!(q("2003::1"), (7, 16));
        // Two aliases side by side are not merged.
        let mut b = TrieBuilder::new();
        b.push_v4("0.0.0.0/0".parse().unwrap(), 1).unwrap();
        b.push_v6("::/1".parse().unwrap(), Leaf::V4Alias).unwrap();
        b.push_v6("8000::/1".parse().unwrap(), Leaf::V4Alias)
            .unwrap();
        assert_eq!(b.finish().unwrap().node_count(), 1);
    }

    #[test]
    fn bad_covers_are_refused() {
        let mut b = TrieBuilder::new();
        b.push_v4("0.0.0.0/1".parse().unwrap(), 1).unwrap();
        assert!(b.push_v4("0.0.0.0/2".parse().unwrap(), 1).is_err());
        assert!(b.push_v4("192.0.0.0/2".parse().unwrap(), 1).is_err());
        assert!(
            b.push_v4("128.0.0.0/1".parse().unwrap(), MAX_VALUE + 1)
                .is_err()
        );
        assert!(b.push_v6("::/97".parse().unwrap(), Leaf::V4Alias).is_err());
        let e = b.finish().unwrap_err();
        assert!(e.to_string().contains("128.0.0.0/32"), "{e}");
    }
}
