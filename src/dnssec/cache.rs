//! The signature cache for steered RRsets.
//!
//! A steered A/AAAA answer is one of a finite set of RRsets (the pools' address subsets), but
//! which one depends on the client, so its RRSIG cannot be made at load. The first time an
//! RRset is answered it is signed (tens of µs) and the RRSIGs kept here, keyed by the exact
//! content signed: key set, owner, type, TTL and the RDATA set (order-independent). Later
//! answers copy the cached RRSIGs.
//!
//! * **Reads are lock-free**: each shard is an immutable map behind an `ArcSwap`; a lookup
//!   loads it (no shared counter is written), finds the entry and copies bytes out. The only
//!   write on a hit is a last-used second, stored when it changes (once a second per entry).
//! * **Writes copy the shard** (copy-on-write of `Arc`s, under a per-shard mutex). Inserts
//!   happen once per distinct RRset per signature lifetime, each after a signature that costs
//!   far more than the copy.
//! * **Bounded** in entries and bytes (key + signatures + a fixed per-entry overhead), per
//!   shard; at the bound the least recently used entry goes, stale ones first.
//! * **Refreshed before expiry**: an entry carries the time its signatures are due for renewal
//!   (see [`super::sign::Validity::refresh_at`]); from then on a lookup misses, the caller
//!   signs anew and the insert replaces the entry.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustc_hash::FxBuildHasher;

use super::sign::Rrsig;

/// Bytes counted per entry beyond its key and signatures: the entry, two `Arc` headers, the
/// map slot.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 2 * 16 + 32;

/// A cache key: the RRset exactly as signed, built on the stack.
///
/// Layout: key set id, type, TTL, owner (lower-cased), then each RDATA with its length, the
/// RDATAs sorted so that the order an answer lists them in does not matter. (RDATAs are taken
/// as given: two spellings of one name in an RDATA are two entries. Steered A/AAAA have none.)
///
/// Hand-rolled buffers rather than `SmallVec`: this runs per signed answer, and measured
/// ~3× faster (≈60 ns against ≈195 ns for a two-address RRset).
#[derive(Clone)]
pub struct CacheKey {
    bytes: KeyBytes,
    hash: u64,
}

const INLINE_KEY: usize = 320;

// Inline on purpose: a lookup must not allocate, and keys live on the stack or in a worker.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum KeyBytes {
    Inline { len: u16, buf: [u8; INLINE_KEY] },
    Heap(Vec<u8>),
}

impl KeyBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..*len as usize],
            KeyBytes::Heap(v) => v,
        }
    }
}

/// Writes the key into `buf` (long enough for the unsorted, undeduplicated content) and
/// returns the length used.
fn fill_key<R: AsRef<[u8]>>(
    buf: &mut [u8],
    keyset: u32,
    owner: &[u8],
    rtype: u16,
    ttl: u32,
    rdatas: &[R],
) -> usize {
    let mut head = [0u8; 10];
    head[..4].copy_from_slice(&keyset.to_be_bytes());
    head[4..6].copy_from_slice(&rtype.to_be_bytes());
    head[6..].copy_from_slice(&ttl.to_be_bytes());
    buf[..10].copy_from_slice(&head);
    let mut at = 10;
    for (d, s) in buf[at..at + owner.len()].iter_mut().zip(owner) {
        // Lower-casing every octet is the same as per label: length octets are < 64.
        *d = s.to_ascii_lowercase();
    }
    at += owner.len();
    // Sorted, deduplicated: an insertion sort on the stack for the usual handful.
    const SMALL: usize = 16;
    let mut put_sorted = |order: &mut [&[u8]]| {
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 && order[j - 1] > order[j] {
                order.swap(j - 1, j);
                j -= 1;
            }
        }
        for i in 0..order.len() {
            let r = order[i];
            if i > 0 && order[i - 1] == r {
                continue;
            }
            buf[at..at + 2].copy_from_slice(&(r.len() as u16).to_be_bytes());
            buf[at + 2..at + 2 + r.len()].copy_from_slice(r);
            at += 2 + r.len();
        }
    };
    if rdatas.len() <= SMALL {
        let mut order: [&[u8]; SMALL] = [&[]; SMALL];
        for (o, r) in order.iter_mut().zip(rdatas) {
            *o = r.as_ref();
        }
        put_sorted(&mut order[..rdatas.len()]);
    } else {
        let mut order: Vec<&[u8]> = rdatas.iter().map(AsRef::as_ref).collect();
        order.sort_unstable();
        put_sorted(&mut order);
    }
    at
}

impl Default for CacheKey {
    fn default() -> Self {
        Self {
            bytes: KeyBytes::Inline {
                len: 0,
                buf: [0; INLINE_KEY],
            },
            hash: 0,
        }
    }
}

impl CacheKey {
    /// `keyset` identifies the signing keys (a new key set must not reuse old signatures).
    pub fn new<R: AsRef<[u8]>>(
        keyset: u32,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: &[R],
    ) -> Self {
        let mut key = Self::default();
        key.set(keyset, owner, rtype, ttl, rdatas);
        key
    }

    /// Rebuilds the key in place: the query path keeps one per worker, so that a lookup moves
    /// no key around.
    pub fn set<R: AsRef<[u8]>>(
        &mut self,
        keyset: u32,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: &[R],
    ) {
        let total = 10 + owner.len() + rdatas.iter().map(|r| 2 + r.as_ref().len()).sum::<usize>();
        if total > INLINE_KEY {
            let mut v = vec![0; total];
            let n = fill_key(&mut v, keyset, owner, rtype, ttl, rdatas);
            v.truncate(n);
            self.bytes = KeyBytes::Heap(v);
        } else {
            if !matches!(self.bytes, KeyBytes::Inline { .. }) {
                self.bytes = KeyBytes::Inline {
                    len: 0,
                    buf: [0; INLINE_KEY],
                };
            }
            if let KeyBytes::Inline { len, buf } = &mut self.bytes {
                *len = fill_key(buf, keyset, owner, rtype, ttl, rdatas) as u16;
            }
        }
        let mut h = FxBuildHasher.build_hasher();
        h.write(self.bytes.as_slice());
        self.hash = h.finish();
    }

    /// The key's bytes, as stored in the cache.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

struct Entry {
    /// RRSIG RDATAs, each preceded by its length (u16).
    sigs: Box<[u8]>,
    refresh_at: u64,
    /// Seconds since the cache's epoch of the last hit.
    last_used: AtomicU32,
    bytes: usize,
}

/// The RRSIGs of one cached RRset.
#[derive(Clone, Copy)]
pub struct CachedRrsigs<'a>(&'a [u8]);

impl<'a> CachedRrsigs<'a> {
    /// Each RRSIG's RDATA.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut b = self.0;
        std::iter::from_fn(move || {
            let (len, rest) = b.split_first_chunk::<2>()?;
            let len = u16::from_be_bytes(*len) as usize;
            let (rdata, rest) = rest.split_at(len);
            b = rest;
            Some(rdata)
        })
    }

    /// How many RRSIGs.
    pub fn count(&self) -> usize {
        self.iter().count()
    }
}

type Map = HashMap<Arc<[u8]>, Arc<Entry>, FxBuildHasher>;

struct ShardState {
    map: Map,
    bytes: usize,
}

struct Shard {
    current: ArcSwap<ShardState>,
    writer: Mutex<()>,
}

/// Limits and current use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// RRsets cached now.
    pub entries: usize,
    /// Bytes they take (keys, signatures, per-entry overhead).
    pub bytes: usize,
    /// At most this many entries.
    pub max_entries: usize,
    /// At most this many bytes.
    pub max_bytes: usize,
    /// Entries stored since the cache was made.
    pub inserts: u64,
    /// Entries evicted to stay within the bounds.
    pub evictions: u64,
}

/// The bounded cache of RRSIGs over steered RRsets, keyed by their exact content.
pub struct SigCache {
    shards: Box<[Shard]>,
    mask: u64,
    entries_per_shard: usize,
    bytes_per_shard: usize,
    epoch: u64,
    inserts: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for SigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SigCache {
    /// A cache holding at most `max_entries` RRsets and `max_bytes` bytes (keys, signatures
    /// and [`ENTRY_OVERHEAD`] each). `epoch` is any time near now (for the last-used clock).
    pub fn new(max_entries: usize, max_bytes: usize, epoch: u64) -> Self {
        let max_entries = max_entries.max(1);
        // About 64 entries a shard (copy-on-write stays cheap), 16 to 4096 shards, never more
        // shards than entries (so the per-shard bounds add up to at most the totals).
        let n = (max_entries / 64).clamp(16, 4096).min(max_entries);
        let n = if n.is_power_of_two() {
            n
        } else {
            n.next_power_of_two() / 2
        };
        let shards = (0..n)
            .map(|_| Shard {
                current: ArcSwap::from_pointee(ShardState {
                    map: Map::default(),
                    bytes: 0,
                }),
                writer: Mutex::new(()),
            })
            .collect();
        Self {
            shards,
            mask: n as u64 - 1,
            entries_per_shard: max_entries / n,
            bytes_per_shard: max_bytes / n,
            epoch,
            inserts: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &CacheKey) -> &Shard {
        // The map hashes the key again with the low bits; take the shard from the high ones.
        &self.shards[((key.hash >> 40) & self.mask) as usize]
    }

    fn tick(&self, now: u64) -> u32 {
        now.saturating_sub(self.epoch) as u32
    }

    /// Calls `f` with the cached RRSIGs for `key` if they are not yet due for refresh at
    /// `now`. Lock-free; allocation-free.
    pub fn get<T>(
        &self,
        key: &CacheKey,
        now: u64,
        f: impl FnOnce(CachedRrsigs<'_>) -> T,
    ) -> Option<T> {
        let state = self.shard(key).current.load();
        let e = state.map.get(key.as_bytes())?;
        if now >= e.refresh_at {
            return None;
        }
        let tick = self.tick(now);
        if e.last_used.load(Ordering::Relaxed) != tick {
            e.last_used.store(tick, Ordering::Relaxed);
        }
        Some(f(CachedRrsigs(&e.sigs)))
    }

    /// Stores the RRSIGs made for `key`, due for refresh at `refresh_at`. Replaces an entry
    /// for the same key; evicts least recently used (stale first) entries of the shard to stay
    /// within the bounds. An entry larger than a shard's byte share is not stored.
    pub fn insert(&self, key: &CacheKey, sigs: &[Rrsig], refresh_at: u64, now: u64) {
        let mut packed = Vec::with_capacity(sigs.iter().map(|s| s.rdata.len() + 2).sum());
        for s in sigs {
            packed.extend_from_slice(&(s.rdata.len() as u16).to_be_bytes());
            packed.extend_from_slice(&s.rdata);
        }
        let bytes = key.as_bytes().len() + packed.len() + ENTRY_OVERHEAD;
        if bytes > self.bytes_per_shard || self.entries_per_shard == 0 {
            return;
        }
        let entry = Arc::new(Entry {
            sigs: packed.into(),
            refresh_at,
            last_used: AtomicU32::new(self.tick(now)),
            bytes,
        });
        let shard = self.shard(key);
        let _w = shard.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = shard.current.load_full();
        let mut map = old.map.clone();
        let mut used = old.bytes;
        let k: Arc<[u8]> = match map.remove_entry(key.as_bytes()) {
            Some((k, prev)) => {
                used -= prev.bytes;
                k
            }
            None => key.as_bytes().into(),
        };
        while !map.is_empty()
            && (map.len() + 1 > self.entries_per_shard || used + bytes > self.bytes_per_shard)
        {
            // Stale entries first, then the least recently used.
            let victim = map
                .iter()
                .min_by_key(|(_, e)| (now < e.refresh_at, e.last_used.load(Ordering::Relaxed)))
                .map(|(k, _)| k.clone())
                .expect("not empty");
            if let Some(e) = map.remove(&victim) {
                used -= e.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        map.insert(k, entry);
        shard.current.store(Arc::new(ShardState {
            map,
            bytes: used + bytes,
        }));
        self.inserts.fetch_add(1, Ordering::Relaxed);
    }

    /// The cached RRSIGs for `key`, or `sign()`'s (then cached): the query path's one call.
    /// `sign` returns the RRSIGs and their refresh time.
    pub fn get_or_sign<T, E>(
        &self,
        key: &CacheKey,
        now: u64,
        sign: impl FnOnce() -> Result<(Vec<Rrsig>, u64), E>,
        f: impl FnOnce(CachedRrsigs<'_>) -> T,
    ) -> Result<T, E> {
        let mut f = Some(f);
        if let Some(t) = self.get(key, now, |c| (f.take().expect("once"))(c)) {
            return Ok(t);
        }
        let (sigs, refresh_at) = sign()?;
        self.insert(key, &sigs, refresh_at, now);
        let mut packed = Vec::new();
        for s in &sigs {
            packed.extend_from_slice(&(s.rdata.len() as u16).to_be_bytes());
            packed.extend_from_slice(&s.rdata);
        }
        Ok((f.take().expect("once"))(CachedRrsigs(&packed)))
    }

    /// Drops every entry (a key change makes them useless; the key set id does too, lazily).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let _w = s.writer.lock().unwrap_or_else(|p| p.into_inner());
            s.current.store(Arc::new(ShardState {
                map: Map::default(),
                bytes: 0,
            }));
        }
    }

    /// Current use and limits.
    pub fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0, 0);
        for s in self.shards.iter() {
            let st = s.current.load();
            entries += st.map.len();
            bytes += st.bytes;
        }
        CacheStats {
            entries,
            bytes,
            max_entries: self.entries_per_shard * self.shards.len(),
            max_bytes: self.bytes_per_shard * self.shards.len(),
            inserts: self.inserts.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// Default bound of the steered-answer signature cache, in entries.
pub const DEFAULT_CACHE_ENTRIES: usize = 100_000;
/// Default bound of the steered-answer signature cache, in bytes.
pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// The query path's two signature caches. Steered RRsets (a finite set, chosen by
/// configuration and health) and RRsets whose owner the client chooses (wildcard expansions,
/// NSECs for names that do not exist) are kept apart, so that a flood of random names evicts
/// only its own entries and never makes steered answers be signed again.
#[derive(Debug)]
pub struct SigCaches {
    /// Steered A/AAAA RRsets.
    pub answers: SigCache,
    /// Wildcard answers and denial NSECs: a quarter of the answers cache's bounds.
    pub denial: SigCache,
}

impl SigCaches {
    /// Caches for at most `entries` steered RRsets in `bytes` (and a quarter of that for the
    /// denial cache).
    pub fn new(entries: usize, bytes: usize) -> Self {
        let epoch = crate::dnssec::time::now();
        Self {
            answers: SigCache::new(entries, bytes, epoch),
            denial: SigCache::new((entries / 4).max(1), (bytes / 4).max(1), epoch),
        }
    }
}

impl Default for SigCaches {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(tag: u8, len: usize) -> Rrsig {
        Rrsig {
            rdata: vec![tag; len].into(),
            expiration: 0,
        }
    }

    fn key(i: u32) -> CacheKey {
        let addr = i.to_be_bytes();
        CacheKey::new(1, b"\x03www\x07example\x00", 1, 60, &[addr])
    }

    #[test]
    fn key_ignores_order_and_owner_case_but_not_content() {
        let a: [&[u8]; 2] = [&[192, 0, 2, 1], &[192, 0, 2, 2]];
        let b: [&[u8]; 2] = [&[192, 0, 2, 2], &[192, 0, 2, 1]];
        let k1 = CacheKey::new(1, b"\x03WWW\x07example\x00", 1, 60, &a);
        let k2 = CacheKey::new(1, b"\x03www\x07example\x00", 1, 60, &b);
        assert_eq!(k1.as_bytes(), k2.as_bytes());
        assert_eq!(k1.hash, k2.hash);
        for other in [
            CacheKey::new(2, b"\x03www\x07example\x00", 1, 60, &a),
            CacheKey::new(1, b"\x03www\x07example\x00", 28, 60, &a),
            CacheKey::new(1, b"\x03www\x07example\x00", 1, 61, &a),
            CacheKey::new(1, b"\x03www\x07example\x00", 1, 60, &a[..1]),
            CacheKey::new(1, b"\x02ww\x07example\x00", 1, 60, &a),
        ] {
            assert_ne!(other.as_bytes(), k1.as_bytes());
        }
    }

    #[test]
    fn large_rrsets_key_on_the_heap_the_same_way() {
        let many: Vec<[u8; 16]> = (0..40u8).map(|i| [i; 16]).collect();
        let mut rev = many.clone();
        rev.reverse();
        let a = CacheKey::new(1, b"\x01a\x00", 28, 60, &many);
        let b = CacheKey::new(1, b"\x01A\x00", 28, 60, &rev);
        assert!(matches!(a.bytes, KeyBytes::Heap(_)));
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), 4 + 2 + 4 + 3 + 40 * 18);
        let c = SigCache::new(100, 1 << 20, 0);
        c.insert(&a, &[sig(3, 10)], 100, 0);
        assert_eq!(c.get(&b, 1, |s| s.count()), Some(1));
    }

    #[test]
    fn hit_returns_what_was_stored_until_refresh() {
        let c = SigCache::new(100, 1 << 20, 0);
        let k = key(1);
        assert!(c.get(&k, 10, |_| ()).is_none());
        c.insert(&k, &[sig(7, 80), sig(9, 100)], 1000, 10);
        let got: Vec<Vec<u8>> = c
            .get(&k, 999, |s| s.iter().map(<[u8]>::to_vec).collect())
            .unwrap();
        assert_eq!(got, vec![vec![7; 80], vec![9; 100]]);
        // Due for refresh: a miss; the new signatures replace the old.
        assert!(c.get(&k, 1000, |_| ()).is_none());
        c.insert(&k, &[sig(8, 80)], 5000, 1000);
        assert_eq!(c.get(&k, 1001, |s| s.iter().next().unwrap()[0]), Some(8));
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn get_or_sign_signs_once() {
        let c = SigCache::new(100, 1 << 20, 0);
        let k = key(3);
        let mut calls = 0;
        for _ in 0..3 {
            let n = c
                .get_or_sign::<_, ()>(
                    &k,
                    5,
                    || {
                        calls += 1;
                        Ok((vec![sig(1, 10)], 100))
                    },
                    |s| s.count(),
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        assert_eq!(calls, 1);
        let e: Result<usize, &str> = c.get_or_sign(&key(4), 5, || Err("rng"), |s| s.count());
        assert_eq!(e, Err("rng"));
    }

    #[test]
    fn entry_and_byte_bounds_hold() {
        let c = SigCache::new(64, 64 * 300, 0);
        let limits = c.stats();
        assert!(limits.max_entries <= 64 && limits.max_bytes <= 64 * 300);
        for i in 0..10_000 {
            c.insert(
                &key(i),
                &[sig(1, 64 + (i % 100) as usize)],
                1_000_000,
                i as u64,
            );
            let s = c.stats();
            assert!(s.entries <= s.max_entries, "{s:?}");
            assert!(s.bytes <= s.max_bytes, "{s:?}");
        }
        let s = c.stats();
        assert!(s.evictions > 9_000, "{s:?}");
        assert!(s.entries > 0);
        // Tiny caches keep their bounds too.
        for max in [1, 5, 17] {
            let t = SigCache::new(max, 1 << 20, 0);
            for i in 0..200 {
                t.insert(&key(i), &[sig(1, 64)], 1_000_000, 0);
            }
            let st = t.stats();
            assert!(st.entries <= max && st.entries >= 1, "{max}: {st:?}");
        }
        // Too big for any shard: not stored, nothing evicted for it.
        let before = c.stats();
        c.insert(&key(1 << 30), &[sig(1, 100_000)], 1_000_000, 0);
        assert_eq!(c.stats().entries, before.entries);
    }

    #[test]
    fn recently_used_and_fresh_entries_survive() {
        // One shard's worth: 16 shards, 1 entry each → use a cache of 16 and one shard's keys.
        let c = SigCache::new(32, 1 << 20, 0);
        let shard_of = |k: &CacheKey| (k.hash >> 40) & c.mask;
        let target = shard_of(&key(0));
        let same: Vec<u32> = (0..100_000)
            .filter(|&i| shard_of(&key(i)) == target)
            .take(4)
            .collect();
        assert_eq!(c.entries_per_shard, 2);
        let (a, b, d, e) = (key(same[0]), key(same[1]), key(same[2]), key(same[3]));
        c.insert(&a, &[sig(1, 10)], 1000, 10);
        c.insert(&b, &[sig(2, 10)], 1000, 11);
        c.get(&a, 20, |_| ()).unwrap(); // a used after b
        c.insert(&d, &[sig(3, 10)], 1000, 21);
        assert!(c.get(&a, 22, |_| ()).is_some(), "recently used a kept");
        assert!(c.get(&b, 22, |_| ()).is_none(), "b was least recently used");
        // A stale entry goes before a fresh one, however recently used.
        c.get(&d, 30, |_| ()).unwrap();
        c.insert(&a, &[sig(1, 10)], 40, 31); // a: refresh due at 40
        c.get(&a, 39, |_| ()).unwrap();
        c.insert(&e, &[sig(4, 10)], 1000, 41);
        assert!(c.get(&d, 42, |_| ()).is_some());
        assert!(c.get(&e, 42, |_| ()).is_some());
    }

    #[test]
    fn concurrent_readers_and_writers_see_only_whole_entries() {
        let c = Arc::new(SigCache::new(256, 256 * 400, 0));
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut hits = 0u32;
                    for n in 0..20_000u32 {
                        let i = (n * 7 + t * 13) % 1000;
                        let k = key(i);
                        // The value is derived from the key: a torn or crossed entry shows.
                        let tag = (i % 251) as u8;
                        let ok = c.get(&k, u64::from(n), |s| {
                            s.iter().all(|r| {
                                r.len() == 50 + (i % 7) as usize && r.iter().all(|&b| b == tag)
                            }) && s.count() == 2
                        });
                        match ok {
                            Some(true) => hits += 1,
                            Some(false) => panic!("entry {i} corrupted"),
                            None => c.insert(
                                &k,
                                &[
                                    sig(tag, 50 + (i % 7) as usize),
                                    sig(tag, 50 + (i % 7) as usize),
                                ],
                                u64::MAX,
                                u64::from(n),
                            ),
                        }
                        if n % 1000 == 0 {
                            let s = c.stats();
                            assert!(s.entries <= s.max_entries && s.bytes <= s.max_bytes);
                        }
                    }
                    hits
                })
            })
            .collect();
        let hits: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(hits > 0);
        let s = c.stats();
        assert!(
            s.entries <= s.max_entries && s.bytes <= s.max_bytes,
            "{s:?}"
        );
    }
}
