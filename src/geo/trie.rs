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
    /// Internal nodes in postorder, the IPv4 tree's and then the IPv6 tree's: a node's
    /// internal children are the last two subtrees finished before it (right last), so a
    /// pass in index order can keep the subtrees' results on a stack ([`fold`]).
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

    /// The largest leaf value (aliases not counted; 0 when there are none).
    pub fn max_value(&self) -> u32 {
        let leaf = |s: u32| (s & LEAF != 0 && s != ALIAS).then_some(s & !LEAF);
        self.nodes
            .iter()
            .flatten()
            .chain([&self.v4_root, &self.v6_root])
            .filter_map(|&s| leaf(s))
            .max()
            .unwrap_or(0)
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

    /// The internal nodes, in postorder (see [`fold`]).
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
    /// Each family's nodes apart, so that each is in postorder on its own (a database walk
    /// interleaves the families) and the finished tree is in stack order
    /// ([`Trie::nodes`]).
    v4_nodes: Vec<[u32; 2]>,
    v6_nodes: Vec<[u32; 2]>,
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
            v4_nodes: Vec::new(),
            v6_nodes: Vec::new(),
            v4: Stream::new(32),
            v6: Stream::new(128),
        }
    }

    /// Adds the next IPv4 network. It must start where the previous one ended.
    pub fn push_v4(&mut self, net: Ipv4Net, value: u32) -> Result<(), CoverError> {
        check_value(value)?;
        let start = u128::from(u32::from(net.network()));
        self.v4
            .push(&mut self.v4_nodes, start, net.prefix_len(), LEAF | value)
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
        self.v6
            .push(&mut self.v6_nodes, start, net.prefix_len(), slot)
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
        // The IPv6 nodes go after the IPv4 ones: their references to nodes move up by as
        // many.
        let mut nodes = self.v4_nodes;
        let shift = nodes.len() as u32;
        assert!(
            nodes.len() + self.v6_nodes.len() < LEAF as usize,
            "prefix tree too large"
        );
        let moved = |s: u32| if s & LEAF == 0 { s + shift } else { s };
        nodes.reserve_exact(self.v6_nodes.len());
        nodes.extend(self.v6_nodes.iter().map(|&[l, r]| [moved(l), moved(r)]));
        Ok(Trie::from_parts(nodes, v4_root, moved(v6_root)))
    }
}

impl Trie {
    /// Every address mapped to `value`, at depth 0.
    pub fn constant(value: u32) -> Result<Trie, CoverError> {
        let mut b = TrieBuilder::new();
        b.push_v4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0"), value)?;
        b.push_v6(
            Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0).expect("/0"),
            Leaf::Value(value),
        )?;
        b.finish()
    }

    /// The overlay of two trees: every address maps to `f(a, b)` of its values in `a` and in
    /// `b`, and the result is merged again, so its depth is still the widest prefix on which
    /// the pair's image is constant. One walk over both trees at once: the result has at
    /// most as many leaves as the two together, except where one tree reads an IPv6 region
    /// through its IPv4 tree (an alias) and the other does not; there the IPv4 tree is
    /// copied under the region (both aliased: the result is an alias too).
    pub fn product(
        a: &Trie,
        b: &Trie,
        mut f: impl FnMut(u32, u32) -> u32,
    ) -> Result<Trie, CoverError> {
        let mut out = TrieBuilder::new();
        let mut p = Product {
            a,
            b,
            out: &mut out,
            f: &mut f,
        };
        p.walk(32, a.v4_root, b.v4_root, 0, 0)?;
        p.walk(128, a.v6_root, b.v6_root, 0, 0)?;
        out.finish()
    }

    /// A tree over a list of networks: each address maps to `classify(ids)`, where `ids`
    /// are the indices (into `nets`) of the networks that contain it, widest first (none: an
    /// empty slice). Networks may nest and repeat; no aliases are made.
    pub fn from_networks(
        nets: &[ipnet::IpNet],
        mut classify: impl FnMut(&[usize]) -> u32,
    ) -> Result<Trie, CoverError> {
        let mut v4: Vec<(u128, u8, usize)> = Vec::new();
        let mut v6: Vec<(u128, u8, usize)> = Vec::new();
        for (i, n) in nets.iter().enumerate() {
            match n.trunc() {
                ipnet::IpNet::V4(n) => {
                    v4.push((u128::from(u32::from(n.network())), n.prefix_len(), i))
                }
                ipnet::IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len(), i)),
            }
        }
        v4.sort_unstable_by_key(|x| (x.0, x.1, x.2));
        v6.sort_unstable_by_key(|x| (x.0, x.1, x.2));
        let mut out = TrieBuilder::new();
        let mut inside = Vec::new();
        cover(&mut out, 32, &v4, 0, 0, &mut inside, &mut classify)?;
        cover(&mut out, 128, &v6, 0, 0, &mut inside, &mut classify)?;
        out.finish()
    }
}

/// The state of [`Trie::product`]'s walk.
struct Product<'t, F> {
    a: &'t Trie,
    b: &'t Trie,
    out: &'t mut TrieBuilder,
    f: &'t mut F,
}

impl<F: FnMut(u32, u32) -> u32> Product<'_, F> {
    fn walk(
        &mut self,
        width: u8,
        mut sa: u32,
        mut sb: u32,
        start: u128,
        depth: u8,
    ) -> Result<(), CoverError> {
        // One side reads this region through its IPv4 tree and the other does not (or
        // differs below): follow the alias, whose next bit is the IPv4 address's first.
        match (sa == ALIAS, sb == ALIAS) {
            (true, true) => return self.out.push_v6(net6(start, depth), Leaf::V4Alias),
            (true, false) => sa = self.a.v4_root,
            (false, true) => sb = self.b.v4_root,
            (false, false) => {}
        }
        if sa & LEAF != 0 && sb & LEAF != 0 {
            let v = (self.f)(sa & !LEAF, sb & !LEAF);
            check_value(v)?;
            return if width == 32 {
                self.out.push_v4(
                    Ipv4Net::new(Ipv4Addr::from(start as u32), depth).expect("depth ≤ 32"),
                    v,
                )
            } else {
                self.out.push_v6(net6(start, depth), Leaf::Value(v))
            };
        }
        if depth >= width {
            return Err(CoverError(format!(
                "overlay walk passed the end of an address at {}",
                show(start, depth, width)
            )));
        }
        for bit in 0..2usize {
            let ca = if sa & LEAF != 0 {
                sa
            } else {
                self.a.nodes[sa as usize][bit]
            };
            let cb = if sb & LEAF != 0 {
                sb
            } else {
                self.b.nodes[sb as usize][bit]
            };
            let s = start | ((bit as u128) << (width - 1 - depth));
            self.walk(width, ca, cb, s, depth + 1)?;
        }
        Ok(())
    }
}

fn net6(start: u128, len: u8) -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::from(start), len).expect("prefix length ≤ 128")
}

/// Covers the block `start/depth` for [`Trie::from_networks`]: `nets` are the networks that
/// lie in it (sorted), `inside` the ids of those that contain it.
fn cover(
    out: &mut TrieBuilder,
    width: u8,
    nets: &[(u128, u8, usize)],
    start: u128,
    depth: u8,
    inside: &mut Vec<usize>,
    classify: &mut dyn FnMut(&[usize]) -> u32,
) -> Result<(), CoverError> {
    // Networks equal to this block contain it; they sort first.
    let equal = nets
        .iter()
        .take_while(|n| n.0 == start && n.1 == depth)
        .count();
    let before = inside.len();
    inside.extend(nets[..equal].iter().map(|n| n.2));
    let rest = &nets[equal..];
    let result = if rest.is_empty() {
        // Pushed as the walk went down: widest first.
        let v = classify(&inside[..]);
        check_value(v).and_then(|()| {
            if width == 32 {
                out.push_v4(
                    Ipv4Net::new(Ipv4Addr::from(start as u32), depth).expect("depth ≤ 32"),
                    v,
                )
            } else {
                out.push_v6(net6(start, depth), Leaf::Value(v))
            }
        })
    } else {
        let half = 1u128 << (width - 1 - depth);
        let split = rest.partition_point(|n| n.0 < start | half);
        cover(
            out,
            width,
            &rest[..split],
            start,
            depth + 1,
            inside,
            classify,
        )
        .and_then(|()| {
            cover(
                out,
                width,
                &rest[split..],
                start | half,
                depth + 1,
                inside,
                classify,
            )
        })
    };
    inside.truncate(before);
    result
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

/// Computes a result for every node of `nodes` (a [`Trie`]'s), children first:
/// `node(i, left, right)` gets its children's results, `leaf(slot)` gives a leaf's. The
/// subtrees' results waiting for their parent are kept on a stack, as the tree is in
/// postorder, so the pass holds O(depth) results rather than one per node (for a 3-million-
/// node tree and 8-byte results, 24 MiB saved while maps are built).
///
/// Hand-written without a branch on the children's kinds (leaf or node: as good as random,
/// and this pass is most of what building many maps costs): both a child's candidate
/// results are read and one is chosen. `leaf` is called with [`ALIAS`] in place of an
/// internal child (its result is then discarded). The order is checked as the pass goes;
/// a tree not in it (none is built so) is done again with every node's result kept, so
/// `node` may be called twice for a node and must store, not accumulate. Returns whether
/// the tree was in stack order (the one pass sufficed).
pub(crate) fn fold<T: Copy + Default>(
    nodes: &[[u32; 2]],
    leaf: impl Fn(u32) -> T,
    mut node: impl FnMut(usize, T, T) -> T,
) -> bool {
    // The stack of (node index, result), in a fixed array: a tree in stack order never
    // holds more than a path's worth (≤ 33 IPv4 subtrees under the IPv6 path's ≤ 129, and
    // two sentinels, never a node's child, at the bottom). One out of order may overflow
    // it: the index wraps (no bounds to pass), and the results are thrown away anyway.
    const DEPTH: usize = 256;
    let mut stack = [(u32::MAX, T::default()); DEPTH];
    let mut top = 2usize; // entries 0 and 1: the sentinels
    let mut out_of_order = false;
    for (i, &[l, r]) in nodes.iter().enumerate() {
        let (l_node, r_node) = (l & LEAF == 0, r & LEAF == 0);
        // The right subtree was finished last: on top; the left one below it if both are
        // nodes.
        let r_at = (top - 1) % DEPTH;
        let l_at = (top - 1 - usize::from(r_node)) % DEPTH;
        let (r_kept, l_kept) = (stack[r_at], stack[l_at]);
        out_of_order |= (r_node & (r_kept.0 != r)) | (l_node & (l_kept.0 != l));
        // An internal child's leaf result is thrown away: ask for the alias's, always the
        // same (cached) one, rather than some key's by the node's index.
        let (r_leaf, l_leaf) = (
            leaf(if r_node { ALIAS } else { r }),
            leaf(if l_node { ALIAS } else { l }),
        );
        let b = if r_node { r_kept.1 } else { r_leaf };
        let a = if l_node { l_kept.1 } else { l_leaf };
        top = (top - usize::from(r_node) - usize::from(l_node)).max(2);
        stack[top % DEPTH] = (i as u32, node(i, a, b));
        top += 1;
    }
    if !out_of_order {
        return true;
    }
    let mut all: Vec<T> = vec![T::default(); nodes.len()];
    for (i, &[l, r]) in nodes.iter().enumerate() {
        let get = |s: u32| {
            if s & LEAF != 0 {
                leaf(s)
            } else {
                assert!((s as usize) < i, "a prefix tree's children come before it");
                all[s as usize]
            }
        };
        let (a, b) = (get(l), get(r));
        all[i] = node(i, a, b);
    }
    false
}

/// The netmask of a `len`-bit prefix in a `width`-bit space, in the low bits of a u128.
pub(crate) fn mask(len: u8, width: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    // `checked_shr`: a full-width prefix (/128) shifts by the type's width, which overflows
    // (found by the geoip_map fuzz target).
    all & !all.checked_shr(u32::from(len)).unwrap_or(0)
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

    /// Each node's leaf count and value sum, by recursion: what `fold` must compute.
    fn sums(nodes: &[[u32; 2]]) -> Vec<(u64, u64)> {
        fn of(nodes: &[[u32; 2]], s: u32) -> (u64, u64) {
            if s & LEAF != 0 {
                (1, u64::from(s & !LEAF))
            } else {
                let [l, r] = nodes[s as usize];
                let (a, b) = (of(nodes, l), of(nodes, r));
                (a.0 + b.0, a.1 + b.1)
            }
        }
        (0..nodes.len() as u32).map(|i| of(nodes, i)).collect()
    }

    fn folded(nodes: &[[u32; 2]]) -> (bool, Vec<(u64, u64)>) {
        let mut out = vec![(0, 0); nodes.len()];
        let in_order = fold(
            nodes,
            |s| (1u64, u64::from(s & !LEAF)),
            |i, a, b| {
                out[i] = (a.0 + b.0, a.1 + b.1);
                out[i]
            },
        );
        (in_order, out)
    }

    /// Trees built from covers whose families arrive interleaved (as a database walk gives
    /// them), and their remaps, are in the stack order `fold` relies on: one pass, with the
    /// results a recursion gives.
    #[test]
    fn built_and_remapped_trees_fold_in_one_pass() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let v4 = random_cover(&mut rng, 32, 20, 5);
            let v6 = random_cover(&mut rng, 128, 40, 5);
            let mut b = TrieBuilder::new();
            let (mut i, mut j) = (0, 0);
            while i < v4.len() || j < v6.len() {
                if j == v6.len() || (i < v4.len() && rng.random_range(0..2) == 0) {
                    let (start, len, v) = v4[i];
                    let net = Ipv4Net::new(Ipv4Addr::from(start as u32), len).unwrap();
                    b.push_v4(net, v).unwrap();
                    i += 1;
                } else {
                    let (start, len, v) = v6[j];
                    let net = Ipv6Net::new(Ipv6Addr::from(start), len).unwrap();
                    b.push_v6(net, Leaf::Value(v)).unwrap();
                    j += 1;
                }
            }
            let trie = b.finish().unwrap();
            let remapped = trie.remap(|v| v % 2);
            for t in [&trie, &remapped] {
                let (in_order, got) = folded(t.nodes());
                assert!(in_order);
                assert_eq!(got, sums(t.nodes()));
            }
        }
    }

    /// A node list out of stack order (children before parents, but not the last two
    /// finished) still folds right, by the second pass.
    #[test]
    fn nodes_out_of_stack_order_fold_right_the_slow_way() {
        let nodes = [
            [LEAF | 1, LEAF | 2],
            [LEAF | 3, LEAF | 4],
            [1, 0],
            [LEAF | 5, 2],
        ];
        let (in_order, got) = folded(&nodes);
        assert!(!in_order);
        assert_eq!(got, sums(&nodes));
        assert_eq!(got[3], (5, 15));
    }

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
    fn masks_at_every_length_including_the_full_width() {
        assert_eq!(mask(0, 32), 0);
        assert_eq!(mask(24, 32), 0xffff_ff00);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(0, 128), 0);
        assert_eq!(mask(1, 128), 1u128 << 127);
        assert_eq!(mask(127, 128), u128::MAX - 1);
        // A /128 shifts by the type's width: it overflowed (the geoip_map fuzz target found it).
        assert_eq!(mask(128, 128), u128::MAX);
    }

    #[test]
    fn an_ipv6_host_route_is_its_own_leaf() {
        // The geoip_map fuzz target's crash: one /128 network in the IPv6 tree.
        let host: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let h = u128::from(host);
        let mut b = TrieBuilder::new();
        b.push_v4("0.0.0.0/0".parse().unwrap(), 0).unwrap();
        for (s, l) in blocks(0, Some(h), 128) {
            b.push_v6(Ipv6Net::new(Ipv6Addr::from(s), l).unwrap(), Leaf::Value(0))
                .unwrap();
        }
        b.push_v6(Ipv6Net::new(host, 128).unwrap(), Leaf::Value(7))
            .unwrap();
        for (s, l) in blocks(h + 1, None, 128) {
            b.push_v6(Ipv6Net::new(Ipv6Addr::from(s), l).unwrap(), Leaf::Value(0))
                .unwrap();
        }
        let trie = b.finish().unwrap();
        assert_eq!(trie.lookup_v6(host), (7, 128));
        assert_eq!(trie.lookup_v6(Ipv6Addr::from(h + 1)).0, 0);
        assert_eq!(trie.lookup_v6(Ipv6Addr::from(h - 1)).0, 0);
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
    /// The widest prefix (of a 12-bit space) containing `a` on which `values` is constant.
    fn brute_fn(values: &[u32], a: usize) -> (u32, u8) {
        for len in 0..=12u8 {
            let size = 1usize << (12 - len);
            let start = a & !(size - 1);
            if values[start..start + size].iter().all(|&v| v == values[a]) {
                return (values[a], len);
            }
        }
        unreachable!()
    }

    #[test]
    fn product_matches_brute_force_exhaustively() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for round in 0..40 {
            let a_cover: Vec<_> = random_cover(&mut rng, 12, 12, 1 + round % 3)
                .into_iter()
                .map(|(s, l, v)| (s << 20, l, v))
                .collect();
            let b_cover: Vec<_> = random_cover(&mut rng, 12, 12, 3)
                .into_iter()
                .map(|(s, l, v)| (s << 20, l, v))
                .collect();
            let (a, b) = (build_v4(&a_cover), build_v4(&b_cover));
            // A function that forgets part of its input, so the product merges again.
            let f = |x: u32, y: u32| if y == 2 { 100 } else { x * 10 + y };
            let p = Trie::product(&a, &b, f).unwrap();
            let values: Vec<u32> = (0..4096u32)
                .map(|i| {
                    let ip = Ipv4Addr::from(i << 20);
                    f(a.lookup_v4(ip).0, b.lookup_v4(ip).0)
                })
                .collect();
            for i in 0..4096usize {
                let got = p.lookup_v4(Ipv4Addr::from((i as u32) << 20));
                assert_eq!(got, brute_fn(&values, i), "round {round}, {i:#x}");
            }
            assert_eq!(p.lookup("2001:db8::1".parse().unwrap()), (f(0, 0), 0));
        }
    }

    #[test]
    fn product_follows_one_sided_aliases() {
        // A: IPv4 0/1 → 1, 128/1 → 2; IPv6 ::/96 and 2002::/16 alias IPv4, the rest 7.
        let mut b = TrieBuilder::new();
        b.push_v4("0.0.0.0/1".parse().unwrap(), 1).unwrap();
        b.push_v4("128.0.0.0/1".parse().unwrap(), 2).unwrap();
        b.push_v6("::/96".parse().unwrap(), Leaf::V4Alias).unwrap();
        for (s, l) in blocks(1u128 << 32, Some(0x2002u128 << 112), 128) {
            b.push_v6(net6(s, l), Leaf::Value(7)).unwrap();
        }
        b.push_v6("2002::/16".parse().unwrap(), Leaf::V4Alias)
            .unwrap();
        for (s, l) in blocks(0x2003u128 << 112, None, 128) {
            b.push_v6(net6(s, l), Leaf::Value(7)).unwrap();
        }
        let a = b.finish().unwrap();
        // B: networks only, one inside 2002::/16 (the 6to4 form of 192.0.0.0/8).
        let nets: Vec<ipnet::IpNet> = vec![
            "2002:c000::/24".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let b = Trie::from_networks(&nets, |ids| ids.last().map_or(0, |&i| i as u32 + 1)).unwrap();
        let p = Trie::product(&a, &b, |x, y| x * 10 + y).unwrap();
        let at = |s: &str| p.lookup(s.parse().unwrap());
        // Inside the B network: A's IPv4 value of 192.0.2.1 (2), B's 1; scope /24 at least.
        assert_eq!(at("2002:c000:0201::1"), (21, 24));
        // Elsewhere in 2002::/16: A through its IPv4 tree, B none.
        assert_eq!(at("2002:0100:0001::1"), (10, 17));
        assert_eq!(at("2002:8100:0001::1"), (20, 18));
        // ::/96 is aliased on one side only: followed, with B's IPv6 value (none).
        assert_eq!(at("::10.1.2.3"), (10, 97));
        // IPv4 and IPv4-mapped clients: both trees' IPv4 values.
        assert_eq!(at("10.1.2.3"), (12, 8));
        assert_eq!(at("::ffff:10.1.2.3"), (12, 104));
        assert_eq!(at("2001:db8::1").0, 70);
        // Both aliased: the product stays an alias (no copy of the IPv4 tree).
        let q = Trie::product(&a, &a, |x, y| x * 10 + y).unwrap();
        assert_eq!(q.lookup("2002:8100:0001::1".parse().unwrap()), (22, 17));
        assert!(q.node_count() <= a.node_count() + 1);
    }

    #[test]
    fn networks_nest_and_the_rest_stays_wide() {
        let nets: Vec<ipnet::IpNet> = ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "10.1.0.0/16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut seen: Vec<Vec<usize>> = Vec::new();
        let t = Trie::from_networks(&nets, |ids| {
            let v = ids.to_vec();
            match seen.iter().position(|x| *x == v) {
                Some(i) => i as u32,
                None => {
                    seen.push(v);
                    (seen.len() - 1) as u32
                }
            }
        })
        .unwrap();
        let at = |s: &str| {
            let (v, d) = t.lookup(s.parse().unwrap());
            (seen[v as usize].clone(), d)
        };
        assert_eq!(at("10.1.2.3"), (vec![0, 1, 3], 16));
        assert_eq!(at("10.2.0.1"), (vec![0], 15));
        assert_eq!(at("10.0.0.1"), (vec![0], 16));
        assert_eq!(at("11.0.0.1"), (vec![], 8));
        assert_eq!(at("2001:db8:1::1"), (vec![2], 32));
        assert_eq!(at("2001:db9::1"), (vec![], 32));
        assert_eq!(
            Trie::constant(5).unwrap().lookup("::1".parse().unwrap()),
            (5, 0)
        );
    }
}
