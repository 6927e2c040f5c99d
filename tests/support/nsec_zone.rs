//! Test support: signs a whole zone the classic, offline way — every authoritative RRset, a
//! complete NSEC chain over the zone's names — with geosteer's signer, and writes it as a
//! master file, so that independent verifiers (BIND's dnssec-verify, ldns-verify-zone, Knot's
//! kzonecheck) can check every signature the signer made. geosteer itself signs online; this
//! exists only to put its signatures in front of those tools.

#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::HashMap;

use geosteer::dnssec::name;
use geosteer::dnssec::sign::{OwnedRrset, Rrsig, Scratch, ZoneSigner};
use geosteer::dnssec::{denial, text, types};
use hickory_proto::rr::{Name, RData};

/// `ExAmPlE`-style case: hickory's master-file parser lower-cases names, and the signer
/// must be shown names in any case (in owners and inside RDATA).
fn mixed(name: &Name) -> Name {
    let labels: Vec<Vec<u8>> = name
        .iter()
        .map(|l| {
            l.iter()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        *b
                    }
                })
                .collect()
        })
        .collect();
    let mut n = Name::from_labels(labels.iter().map(Vec::as_slice)).unwrap();
    n.set_fqdn(true);
    n
}

fn mix_rdata(data: &mut RData) {
    match data {
        RData::NS(n) => n.0 = mixed(&n.0),
        RData::CNAME(n) => n.0 = mixed(&n.0),
        RData::PTR(n) => n.0 = mixed(&n.0),
        RData::MX(mx) => mx.exchange = mixed(&mx.exchange),
        RData::SRV(srv) => srv.target = mixed(&srv.target),
        RData::NAPTR(n) => n.replacement = mixed(&n.replacement),
        RData::SOA(soa) => {
            soa.mname = mixed(&soa.mname);
            soa.rname = mixed(&soa.rname);
        }
        _ => {}
    }
}

/// Parses master-file text (hickory's parser) into RRsets in wire form, names in mixed case.
pub fn rrsets_from_text(zone_text: &str, origin: &str) -> Vec<OwnedRrset> {
    let origin = Name::from_ascii(origin).unwrap();
    let (_, sets) = hickory_proto::serialize::txt::Parser::new(zone_text, None, Some(origin))
        .parse()
        .expect("test zone parses");
    sets.values()
        .map(|set| {
            let records: Vec<_> = set
                .records_without_rrsigs()
                .map(|r| {
                    let mut r = r.clone();
                    r.name = mixed(&r.name);
                    mix_rdata(&mut r.data);
                    r
                })
                .collect();
            geosteer::dnssec::sign::rrset_from_records(&records).expect("encodes")
        })
        .collect()
}

fn lower(n: &[u8]) -> Vec<u8> {
    let mut v = n.to_vec();
    name::lowercase_in_place(&mut v);
    v
}

/// Signs `rrsets` (apex `apex`, lower-cased wire) with `signer`, valid from `inception` to
/// `expiration`, and returns the signed zone as master-file text: DNSSEC records in their
/// presentation format, every other record in the RFC 3597 generic form (so that no text
/// formatting of ours stands between the RDATA signed and the RDATA the tools read).
pub fn sign_zone(
    apex: &[u8],
    mut rrsets: Vec<OwnedRrset>,
    signer: &ZoneSigner,
    inception: u64,
    expiration: u64,
) -> String {
    let soa = rrsets
        .iter()
        .find(|r| r.rtype == types::SOA)
        .expect("zone has a SOA")
        .clone();
    let soa_min = {
        let rd = &soa.rdatas[0];
        u32::from_be_bytes(rd[rd.len() - 4..].try_into().unwrap())
    };
    let negative_ttl = soa.ttl.min(soa_min);
    let apex_set = |rtype, rdatas: Vec<Vec<u8>>| OwnedRrset {
        owner: soa.owner.clone(),
        rtype,
        class: 1,
        ttl: 3600,
        rdatas,
    };
    rrsets.push(apex_set(types::DNSKEY, signer.dnskey_rdatas()));
    let cds = signer.cds_rdatas();
    if !cds.is_empty() {
        rrsets.push(apex_set(types::CDS, cds));
        rrsets.push(apex_set(types::CDNSKEY, signer.cdnskey_rdatas()));
    }

    let mut by_name: HashMap<Vec<u8>, Vec<OwnedRrset>> = HashMap::new();
    for r in rrsets {
        by_name.entry(lower(&r.owner)).or_default().push(r);
    }
    let cuts: Vec<Vec<u8>> = by_name
        .iter()
        .filter(|(n, sets)| n.as_slice() != apex && sets.iter().any(|r| r.rtype == types::NS))
        .map(|(n, _)| n.clone())
        .collect();
    let occluded = |n: &[u8]| {
        cuts.iter()
            .any(|c| c.as_slice() != n && name::is_subdomain(n, c))
    };
    let mut chain: Vec<Vec<u8>> = by_name.keys().filter(|n| !occluded(n)).cloned().collect();
    chain.sort_by(|a, b| name::canonical_cmp(a, b));
    assert_eq!(chain[0], apex, "the apex sorts first");

    let mut out = String::new();
    let mut scratch = Scratch::default();
    let mut sign = |r: &OwnedRrset, out: &mut String| {
        let sigs: Vec<Rrsig> = signer
            .sign_window(&r.as_ref(), inception, expiration, &mut scratch)
            .expect("signs");
        assert!(!sigs.is_empty(), "no key signs type {}", r.rtype);
        for s in sigs {
            out.push_str(&text::rrsig(&r.owner, r.ttl, &s.rdata).unwrap());
            out.push('\n');
        }
    };
    for (i, n) in chain.iter().enumerate() {
        let sets = &by_name[n];
        let is_cut = cuts.contains(n);
        let mut present: Vec<u16> = sets
            .iter()
            .map(|r| r.rtype)
            .filter(|&t| !is_cut || t == types::NS || t == types::DS)
            .collect();
        present.sort_unstable();
        for r in sets {
            for rd in &r.rdatas {
                let line = match r.rtype {
                    types::DNSKEY => text::dnskey(&r.owner, r.ttl, rd).unwrap(),
                    _ => text::generic(&r.owner, r.ttl, r.rtype, rd),
                };
                out.push_str(&line);
                out.push('\n');
            }
            // At a cut only the DS is the parent's to sign (NS and glue are not).
            if !is_cut || r.rtype == types::DS {
                sign(r, &mut out);
            }
        }
        let next = &chain[(i + 1) % chain.len()];
        let nsec = denial::Nsec::new(n, next, &denial::types_at(&present));
        let owner = sets[0].owner.clone();
        out.push_str(&text::nsec(&owner, negative_ttl, &nsec.rdata).unwrap());
        out.push('\n');
        let nsec_set = OwnedRrset {
            owner,
            rtype: types::NSEC,
            class: 1,
            ttl: negative_ttl,
            rdatas: vec![nsec.rdata.to_vec()],
        };
        sign(&nsec_set, &mut out);
    }
    // Occluded names (glue below cuts): served, neither signed nor chained.
    for (n, sets) in &by_name {
        if occluded(n) {
            for r in sets {
                for rd in &r.rdatas {
                    out.push_str(&text::generic(&r.owner, r.ttl, r.rtype, rd));
                    out.push('\n');
                }
            }
        }
    }
    assert!(
        chain
            .windows(2)
            .all(|w| name::canonical_cmp(&w[0], &w[1]) == Ordering::Less)
    );
    out
}
