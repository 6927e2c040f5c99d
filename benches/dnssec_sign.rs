//! What DNSSEC costs on the query path.
//!
//! * Cold signature cache: RRSIGs per second per core over a steered A RRset (one and four
//!   addresses), for algorithms 13 (ECDSA P-256) and 15 (Ed25519), and for a compact-denial
//!   NXDOMAIN answer (build the NSEC, sign it).
//! * Warm cache: the cost of a hit (build the key on the stack, look up, copy the RRSIG out),
//!   on one thread and on two threads reading the same hot entry at once; the cost of an
//!   insert into a full cache (eviction included, signing excluded).
//!
//! Run: `cargo bench --bench dnssec_sign`. Every loop is bounded in time
//! (GEOSTEER_BENCH_SECS per case and round, default 1) and the best of 3 rounds is kept. Costs
//! are the thread's CPU time per operation (CLOCK_THREAD_CPUTIME_ID), so that time the thread
//! spent preempted on a shared machine does not count: "per second" is per busy core. Nothing
//! here touches the network.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geosteer::dnssec::cache::{CacheKey, SigCache};
use geosteer::dnssec::key::{self, Algorithm, FLAGS_KSK};
use geosteer::dnssec::sign::{KeySet, RrsetRef, Scratch, Validity, ZoneSigner};
use geosteer::dnssec::{denial, name, time};

const ROUNDS: usize = 3;

fn secs() -> f64 {
    std::env::var("GEOSTEER_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}

/// CPU time this thread has used, in ns.
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Runs `f` in batches for about `secs()` of wall time; returns the best CPU ns per call over
/// the rounds.
fn measure(mut f: impl FnMut(u64)) -> f64 {
    let budget = Duration::from_secs_f64(secs());
    let mut best = f64::MAX;
    let mut i = 0u64;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let cpu = thread_cpu_ns();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..64 {
                f(i);
                i = i.wrapping_add(1);
            }
            n += 64;
        }
        best = best.min((thread_cpu_ns() - cpu) as f64 / n as f64);
    }
    best
}

fn report(what: &str, ns: f64) {
    println!("{what:58} {:>9.0} ns  {:>10.0} /s", ns, 1e9 / ns);
}

fn signer(alg: Algorithm, dir: &std::path::Path) -> ZoneSigner {
    let zone = name::parse_text("example.com.").unwrap();
    let d = dir.join(alg.mnemonic());
    let (_, base) = key::generate_into(&d, &zone, alg, FLAGS_KSK, "bench key", 0).unwrap();
    let mut w = Vec::new();
    let k = key::load_pair(&key::with_ext(&base, "key"), &mut w).unwrap();
    KeySet::new(&zone, vec![k])
        .signer(time::now(), Validity::default())
        .unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let owner = name::parse_text("www.example.com.").unwrap();
    let now = time::now();
    println!(
        "DNSSEC signing, one thread (best of {ROUNDS} rounds of {}s)",
        secs()
    );
    let mut signers = Vec::new();
    for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let s = signer(alg, dir.path());
        let mut scratch = Scratch::default();
        for n in [1usize, 4] {
            let rdatas: Vec<[u8; 4]> = (0..n as u8).map(|i| [192, 0, 2, 10 + i]).collect();
            let ns = measure(|i| {
                let mut rd = rdatas.clone();
                rd[0][3] = i as u8; // a different RRset each time, as a cold cache sees
                let rrset = RrsetRef {
                    owner: &owner,
                    rtype: 1,
                    class: 1,
                    ttl: 60,
                    rdatas: &rd,
                };
                black_box(s.sign(&rrset, now, &mut scratch).unwrap());
            });
            report(&format!("sign A RRset of {n}, {alg} (cold cache)"), ns);
        }
        let zone = s.zone().to_vec();
        let ns = measure(|i| {
            let q = name::parse_text(&format!("nx{i}.example.com.")).unwrap();
            let proof = denial::nxdomain(denial::Scheme::Compact, &q, &zone, false);
            let nsec = &proof.nsecs[0];
            let rrset = RrsetRef {
                owner: nsec.owner.as_bytes(),
                rtype: geosteer::dnssec::types::NSEC,
                class: 1,
                ttl: 300,
                rdatas: &[&nsec.rdata[..]],
            };
            black_box(s.sign(&rrset, now, &mut scratch).unwrap());
        });
        report(&format!("compact NXDOMAIN NSEC: build + sign, {alg}"), ns);
        signers.push(s);
    }

    // Warm cache.
    println!("\nsignature cache");
    let s = &signers[0];
    let cache = Arc::new(SigCache::new(10_000, 16 << 20, now));
    let distinct = 1000u32;
    let mut scratch = Scratch::default();
    let sets: Vec<Vec<[u8; 4]>> = (0..distinct)
        .map(|i| vec![[198, 18, (i >> 8) as u8, i as u8], [198, 19, 0, 1]])
        .collect();
    for rd in &sets {
        let rrset = RrsetRef {
            owner: &owner,
            rtype: 1,
            class: 1,
            ttl: 60,
            rdatas: rd,
        };
        let sigs = s.sign(&rrset, now, &mut scratch).unwrap();
        let k = CacheKey::new(1, &owner, 1, 60, rd);
        cache.insert(
            &k,
            &sigs,
            s.validity.refresh_at(sigs[0].expiration, 60),
            now,
        );
    }
    let mut out = Vec::with_capacity(512);
    // The query path keeps a key per worker and rebuilds it in place.
    let mut k = CacheKey::default();
    let ns = measure(|i| {
        let rd = &sets[(i % u64::from(distinct)) as usize];
        k.set(1, &owner, 1, 60, rd);
        out.clear();
        let hit = cache.get(&k, now, |sigs| {
            for r in sigs.iter() {
                out.extend_from_slice(r);
            }
        });
        black_box((hit.is_some(), &out));
    });
    report("hit: key + lookup + copy RRSIG out, 1000 entries", ns);
    let hot = &sets[7];
    let ns = measure(|_| {
        k.set(1, &owner, 1, 60, hot);
        out.clear();
        black_box(cache.get(&k, now, |sigs| {
            out.extend_from_slice(sigs.iter().next().unwrap())
        }));
    });
    report("hit, one hot entry", ns);
    {
        let threads = 2;
        let per_thread: Vec<f64> = (0..threads)
            .map(|_| {
                let cache = cache.clone();
                let owner = owner.clone();
                let hot = hot.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::with_capacity(512);
                    let mut k = CacheKey::default();
                    measure(|_| {
                        k.set(1, &owner, 1, 60, &hot);
                        out.clear();
                        black_box(cache.get(&k, now, |sigs| {
                            out.extend_from_slice(sigs.iter().next().unwrap())
                        }));
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let worst = per_thread.iter().cloned().fold(0.0, f64::max);
        report(
            &format!("hit, one hot entry, {threads} threads at once (per thread)"),
            worst,
        );
    }
    // Inserts into a full cache (the signature made once, reused: this is the cache's cost).
    let small = SigCache::new(1000, 1 << 20, now);
    let sig = s
        .sign(
            &RrsetRef {
                owner: &owner,
                rtype: 1,
                class: 1,
                ttl: 60,
                rdatas: &sets[0],
            },
            now,
            &mut scratch,
        )
        .unwrap();
    let ns = measure(|i| {
        let rd = [[10, (i >> 16) as u8, (i >> 8) as u8, i as u8]];
        let k = CacheKey::new(1, &owner, 1, 60, &rd);
        small.insert(&k, &sig, u64::MAX, now);
    });
    report("insert into a full cache of 1000 (eviction included)", ns);
    let st = small.stats();
    println!(
        "\ncache of 1000: {} entries, {} bytes ({} per entry, RRSIG of {} octets)",
        st.entries,
        st.bytes,
        st.bytes / st.entries.max(1),
        sig[0].rdata.len()
    );
}
