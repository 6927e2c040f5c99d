//! What DNSSEC costs on the query path.
//!
//! * Cold signature cache: RRSIGs per second per core over a steered A RRset (one and four
//!   addresses), for algorithms 13 (ECDSA P-256) and 15 (Ed25519), and for a compact-denial
//!   NXDOMAIN answer (build the NSEC, sign it).
//! * Warm cache: the cost of a hit (build the key on the stack, look up, copy the RRSIG out),
//!   on one thread and on two threads reading the same hot entry at once; the cost of an
//!   insert into a full cache (eviction included, signing excluded).
//!
//! * The answer path: a steered geo-ECS answer through `Responder::respond` (parse, GeoIP,
//!   steering, answer written), from an unsigned zone, from the same zone signed answering a
//!   query without DO, and with DO (the RRSIG from the warm cache): what signing adds to the
//!   CPU cost of an answer, without the socket calls that dominate a served query.
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

/// A query for `name` A with EDNS (1232), DO as given, and a Client Subnet option for `/24`
/// `net` (as bench/lib/bench.py writes them).
fn ecs_query(name: &str, net: [u8; 3], dnssec_ok: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let option = [0, 8, 0, 7, 0, 1, 24, 0, net[0], net[1], net[2]];
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0]);
    q.push(0);
    q.push(if dnssec_ok { 0x80 } else { 0 });
    q.push(0);
    q.extend_from_slice(&[0, option.len() as u8]);
    q.extend_from_slice(&option);
    q
}

/// The bench zone of bench/run.sh (harperdb steered by continent) in `dir`, signed when
/// `signed` (a combined signing key, ECDSA P-256).
fn answer_responder(dir: &std::path::Path, signed: bool) -> geosteer::dns::Responder {
    use geosteer::state::{Published, State};
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("example.com.zone"),
        "$ORIGIN example.com.\n$TTL 3600\n@ 300 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ IN NS ns1\nns1 IN A 192.0.2.53\nstatic IN A 192.0.2.10\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("example.com.toml"),
        "[pools.us]\norigins = [ { address = \"198.51.100.10\" } ]\n\
         [pools.eu]\norigins = [ { address = \"198.51.100.20\" } ]\n\
         [pools.ap]\norigins = [ { address = \"198.51.100.30\" } ]\n\
         [load_balancers.harperdb]\nsteering = \"geo\"\nttl = 30\ndefault_pools = [\"us\"]\n\
         continent_pools = { NA = [\"us\"], EU = [\"eu\"], AS = [\"ap\"], OC = [\"ap\"] }\n",
    )
    .unwrap();
    if signed {
        let zone = name::parse_text("example.com.").unwrap();
        key::generate_into(
            &dir.join("keys"),
            &zone,
            Algorithm::EcdsaP256Sha256,
            FLAGS_KSK,
            "bench key",
            0,
        )
        .unwrap();
    }
    let geoip = concat!(env!("CARGO_MANIFEST_DIR"), "/geoip/sample-city.mmdb");
    let sources = geosteer::load::Sources::new(dir, geoip);
    let snapshot = geosteer::load::load(&sources).expect("bench zone loads");
    geosteer::dns::Responder::new(Arc::new(Published::new(State::new(Arc::new(snapshot)))))
}

fn answer_path(dir: &std::path::Path) {
    use geosteer::dns::Transport;
    use std::net::{Ipv4Addr, SocketAddr};
    println!("\nanswer path: Responder::respond, steered harperdb.example.com A with ECS");
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    // North America, Europe, Asia in the sample database.
    let nets = [[8, 8, 8], [193, 0, 6], [202, 12, 27]];
    let unsigned = answer_responder(&dir.join("unsigned"), false);
    let signed = answer_responder(&dir.join("signed"), true);
    let mut out = Vec::with_capacity(1232);
    let mut base = 0.0;
    for (what, r, dnssec_ok) in [
        ("unsigned zone", &unsigned, false),
        ("signed zone, query without DO", &signed, false),
        ("signed zone, DO (RRSIG from the warm cache)", &signed, true),
    ] {
        let qs: Vec<Vec<u8>> = nets
            .iter()
            .map(|n| ecs_query("harperdb.example.com", *n, dnssec_ok))
            .collect();
        // Warm up (the first DO answer for each location signs and caches) and check.
        for q in &qs {
            assert!(r.respond(q, src, Transport::Udp, &mut out));
            assert_eq!(out[3] & 0x0f, 0, "{what}: NOERROR");
            let answers = u16::from_be_bytes([out[6], out[7]]);
            assert_eq!(answers, if dnssec_ok { 2 } else { 1 }, "{what}");
        }
        let ns = measure(|i| {
            let q = &qs[(i % 3) as usize];
            black_box(r.respond(black_box(q), src, Transport::Udp, &mut out));
        });
        if base == 0.0 {
            base = ns;
        }
        report(&format!("{what} ({:.2}x the unsigned cost)", ns / base), ns);
    }
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
    answer_path(dir.path());
}
