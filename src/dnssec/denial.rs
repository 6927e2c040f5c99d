//! Authenticated denial of existence, made online: NSEC records built per answer.
//!
//! Two schemes, both without a sorted zone (the zone index is a hash map) and without
//! disclosing the zone's names:
//!
//! * **Compact denial** (RFC 9824, the default): a nonexistent name is answered NOERROR/NODATA
//!   with one NSEC *at the query name*, next name `\000.<qname>`, types RRSIG NSEC NXNAME. One
//!   signature per negative answer; what Cloudflare, NS1 and Route 53 serve and Knot's
//!   `onlinesign` does (without NXNAME).
//! * **White lies** (RFC 4470): NXDOMAIN keeps its rcode; the proof is an NSEC from the
//!   immediate predecessor to the immediate successor of the query name, and another covering
//!   the wildcard at the closest encloser: two signatures and two long owner names.
//!
//! NODATA, wildcard and delegation proofs are the same NSEC at the name in both schemes except
//! where noted. Every function returns [`Nsec`] values; signing them is the caller's job
//! (their TTL is the negative TTL: min(SOA TTL, SOA MINIMUM), RFC 9077).

use smallvec::SmallVec;

use super::name::{self, NameBuf};
use super::types;

/// A type bitmap (RFC 4034 §4.1.2) under construction: the types as a sorted, deduplicated
/// list, encoded on demand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSet(SmallVec<[u16; 12]>);

impl TypeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set of `types`.
    pub fn from_types(types: &[u16]) -> Self {
        let mut s = Self::new();
        for &t in types {
            s.insert(t);
        }
        s
    }

    /// Adds `t`.
    pub fn insert(&mut self, t: u16) {
        if let Err(at) = self.0.binary_search(&t) {
            self.0.insert(at, t);
        }
    }

    /// Removes `t`.
    pub fn remove(&mut self, t: u16) {
        if let Ok(at) = self.0.binary_search(&t) {
            self.0.remove(at);
        }
    }

    /// Whether `t` is in the set.
    pub fn contains(&self, t: u16) -> bool {
        self.0.binary_search(&t).is_ok()
    }

    /// The types, ascending.
    pub fn types(&self) -> &[u16] {
        &self.0
    }

    /// Appends the Type Bit Maps field: one window per 256 types that has any, each with only
    /// as many bitmap octets as its highest type needs.
    pub fn write_bitmap(&self, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < self.0.len() {
            let window = (self.0[i] >> 8) as u8;
            let mut bits = [0u8; 32];
            let mut len = 0;
            while i < self.0.len() && (self.0[i] >> 8) as u8 == window {
                let low = (self.0[i] & 0xFF) as usize;
                bits[low / 8] |= 0x80 >> (low % 8);
                len = low / 8 + 1;
                i += 1;
            }
            out.push(window);
            out.push(len as u8);
            out.extend_from_slice(&bits[..len]);
        }
    }
}

/// Parses a Type Bit Maps field back into types (for tests and diagnostics).
pub fn parse_bitmap(mut b: &[u8]) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (&window, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = len as usize;
        if len == 0 || len > 32 || rest.len() < len {
            return None;
        }
        for (i, &byte) in rest[..len].iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    out.push(u16::from(window) << 8 | (i * 8 + bit) as u16);
                }
            }
        }
        b = &rest[len..];
    }
    Some(out)
}

/// An NSEC record: owner and RDATA (next name uncompressed, then the bitmap).
#[derive(Clone, PartialEq, Eq)]
pub struct Nsec {
    /// The owner name, uncompressed.
    pub owner: NameBuf,
    /// The RDATA: next name (uncompressed), then the type bitmap.
    pub rdata: SmallVec<[u8; 64]>,
}

impl std::fmt::Debug for Nsec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let next_len = name::check(&self.rdata).unwrap_or(0);
        write!(
            f,
            "{} NSEC {} {:?}",
            name::to_text(self.owner.as_bytes()),
            name::to_text(&self.rdata[..next_len]),
            parse_bitmap(&self.rdata[next_len..]).unwrap_or_default()
        )
    }
}

impl Nsec {
    /// The NSEC at `owner` pointing to `next`, listing `types`.
    pub fn new(owner: &[u8], next: &[u8], types: &TypeSet) -> Self {
        let mut rdata = SmallVec::new();
        rdata.extend_from_slice(next);
        let mut bitmap = Vec::with_capacity(8);
        types.write_bitmap(&mut bitmap);
        rdata.extend_from_slice(&bitmap);
        Self {
            owner: NameBuf::from_wire(owner),
            rdata,
        }
    }

    /// The Next Domain Name field.
    pub fn next_name(&self) -> &[u8] {
        &self.rdata[..name::check(&self.rdata).unwrap_or(0)]
    }

    /// The types of the bitmap.
    pub fn types(&self) -> Vec<u16> {
        parse_bitmap(&self.rdata[self.next_name().len()..]).unwrap_or_default()
    }
}

/// The types an NSEC at an existing name lists: those present, plus RRSIG and NSEC (which
/// an online signer serves at every name it signs).
pub fn types_at(present: &[u16]) -> TypeSet {
    let mut s = TypeSet::from_types(present);
    s.insert(types::RRSIG);
    s.insert(types::NSEC);
    s
}

/// Which online denial scheme answers negative queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// RFC 9824 compact denial of existence.
    #[default]
    Compact,
    /// RFC 4470 minimally covering NSEC records.
    WhiteLies,
}

/// The response code a negative answer carries under a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR (NODATA, or compact denial's NXDOMAIN).
    NoError,
    /// NXDOMAIN.
    NxDomain,
}

/// A denial proof: the rcode to answer with and the NSEC records for the authority section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The response code.
    pub rcode: Rcode,
    /// The NSEC records to sign and send in the authority section.
    pub nsecs: SmallVec<[Nsec; 2]>,
}

/// The name `qname` does not exist and no wildcard matches it. `closest_encloser` is the
/// longest existing ancestor (for white lies' wildcard proof).
///
/// Compact: NOERROR with the NSEC `qname NSEC \000.qname RRSIG NSEC NXNAME`. With `co`
/// (the query set the Compact Answers OK EDNS flag, RFC 9824 §5.1) the rcode is NXDOMAIN, and
/// the response must set CO too.
pub fn nxdomain(scheme: Scheme, qname: &[u8], closest_encloser: &[u8], co: bool) -> Proof {
    match scheme {
        Scheme::Compact => {
            let mut t = types_at(&[]);
            t.insert(types::NXNAME);
            Proof {
                rcode: if co { Rcode::NxDomain } else { Rcode::NoError },
                nsecs: [Nsec::new(qname, name::successor(qname).as_bytes(), &t)]
                    .into_iter()
                    .collect(),
            }
        }
        Scheme::WhiteLies => {
            // The NSEC covers the next closer name (and so `qname`, below it): covering `qname`
            // alone would leave its missing ancestors possible, and a validator would then
            // want the wildcard at one of them ruled out instead (DNSViz checks this).
            let mut nsecs = SmallVec::new();
            let next_closer = name::next_closer(qname, closest_encloser);
            nsecs.push(covering(next_closer));
            let wildcard = wildcard_at(closest_encloser);
            // The wildcard's cover differs from the name's unless the name is the wildcard.
            if let Some(w) = wildcard
                && name::canonical_cmp(w.as_bytes(), next_closer) != std::cmp::Ordering::Equal
            {
                nsecs.push(covering(w.as_bytes()));
            }
            Proof {
                rcode: Rcode::NxDomain,
                nsecs,
            }
        }
    }
}

/// `*.<name>`, if it fits.
fn wildcard_at(name: &[u8]) -> Option<NameBuf> {
    if name.len() + 2 > name::MAX_NAME_LEN {
        return None;
    }
    let mut w = Vec::with_capacity(name.len() + 2);
    w.extend_from_slice(&[1, b'*']);
    w.extend_from_slice(name);
    Some(NameBuf::from_wire(&w))
}

/// The RFC 4470 NSEC covering a nonexistent `name`: from its immediate predecessor to the
/// first name after it and all its would-be descendants (`name` with a zero octet appended
/// to its first label), types RRSIG NSEC. It covers `name` and its subtree only.
///
/// The next name must not be `\000.<name>`: a next name below `name` tells validators that
/// `name` has descendants, so exists as an empty non-terminal (BIND's delv then treats the
/// NXDOMAIN as unproven).
pub fn covering(name_: &[u8]) -> Nsec {
    Nsec::new(
        name::predecessor(name_).as_bytes(),
        name::successor_outside(name_).as_bytes(),
        &types_at(&[]),
    )
}

/// `name` exists but has no RRset of the queried type (an empty non-terminal has `present`
/// empty): one NSEC at `name` listing its types, next name its successor. The same in both
/// schemes (RFC 9824 §3.2, RFC 4470 §3).
pub fn nodata(name_: &[u8], present: &[u16]) -> Proof {
    Proof {
        rcode: Rcode::NoError,
        nsecs: [Nsec::new(
            name_,
            name::successor(name_).as_bytes(),
            &types_at(present),
        )]
        .into_iter()
        .collect(),
    }
}

/// `qname` was answered from the wildcard `wildcard` (`*.<closest encloser>`).
///
/// Compact (RFC 9824 §3.3): the answer is signed as if `qname` existed (sign the RRset with
/// `qname` as owner): no NSEC. White lies: the RRset is signed with the wildcard as owner (the
/// RRSIG's Labels field tells validators it was expanded) and an NSEC proves that no closer
/// match exists: it covers the next closer name (RFC 4035 §3.1.3.3).
pub fn wildcard_answer(scheme: Scheme, qname: &[u8], wildcard: &[u8]) -> Proof {
    Proof {
        rcode: Rcode::NoError,
        nsecs: match scheme {
            Scheme::Compact => SmallVec::new(),
            Scheme::WhiteLies => [covering(name::next_closer(qname, name::parent(wildcard)))]
                .into_iter()
                .collect(),
        },
    }
}

/// The owner name to sign a wildcard-expanded RRset with.
pub fn wildcard_signing_owner<'a>(scheme: Scheme, qname: &'a [u8], wildcard: &'a [u8]) -> &'a [u8] {
    match scheme {
        Scheme::Compact => qname,
        Scheme::WhiteLies => wildcard,
    }
}

/// `qname` matched the wildcard `wildcard` (which has `present` types) but not the queried
/// type. Compact: an NSEC at `qname` with the wildcard's types (RFC 9824 §3.3). White lies:
/// an NSEC covering `qname` and the NSEC at the wildcard showing the type is absent (RFC 4035
/// §3.1.3.4).
pub fn wildcard_nodata(scheme: Scheme, qname: &[u8], wildcard: &[u8], present: &[u16]) -> Proof {
    match scheme {
        Scheme::Compact => nodata(qname, present),
        Scheme::WhiteLies => {
            let mut nsecs = SmallVec::new();
            nsecs.push(covering(name::next_closer(qname, name::parent(wildcard))));
            nsecs.push(Nsec::new(
                wildcard,
                name::successor(wildcard).as_bytes(),
                &types_at(present),
            ));
            Proof {
                rcode: Rcode::NoError,
                nsecs,
            }
        }
    }
}

/// A delegation without DS (an unsigned child), for a referral or for a DS query at the
/// cut: the NSEC at the cut lists NS (and whatever else the parent holds there, never SOA)
/// with no DS bit; its next name stays out of the child zone: `sub\000.parent.` (RFC 9824
/// §3.4). `present` is the types the parent holds at the cut (NS at least).
pub fn insecure_delegation(cut: &[u8], present: &[u16]) -> Proof {
    let mut t = types_at(present);
    t.insert(types::NS);
    t.remove(types::DS);
    Proof {
        rcode: Rcode::NoError,
        nsecs: [Nsec::new(cut, name::successor_outside(cut).as_bytes(), &t)]
            .into_iter()
            .collect(),
    }
}

/// A delegation with DS: the referral carries the DS RRset and its RRSIG; no NSEC.
pub fn secure_delegation() -> Proof {
    Proof {
        rcode: Rcode::NoError,
        nsecs: SmallVec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn w(s: &str) -> Vec<u8> {
        name::parse_text(s).unwrap()
    }

    /// RFC 4034 §4.3: `alfa.example.com. NSEC host.example.com. A MX RRSIG NSEC TYPE1234`.
    #[test]
    fn bitmap_matches_rfc4034_example() {
        let t = TypeSet::from_types(&[1, 15, 46, 47, 1234]);
        let n = Nsec::new(&w("alfa.example.com."), &w("host.example.com."), &t);
        let mut want = w("host.example.com.");
        want.extend_from_slice(&[0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03]);
        want.extend_from_slice(&[0x04, 0x1b]);
        want.extend_from_slice(&[0; 26]);
        want.push(0x20);
        assert_eq!(&n.rdata[..], &want[..]);
        assert_eq!(n.types(), vec![1, 15, 46, 47, 1234]);
        assert_eq!(parse_bitmap(&[0, 0]), None);
    }

    #[test]
    fn compact_nxdomain_is_one_nsec_at_the_name() {
        let q = w("nx.example.com.");
        let p = nxdomain(Scheme::Compact, &q, &w("example.com."), false);
        assert_eq!(p.rcode, Rcode::NoError);
        assert_eq!(p.nsecs.len(), 1);
        assert_eq!(p.nsecs[0].owner.as_bytes(), &q[..]);
        assert_eq!(p.nsecs[0].next_name(), &w("\\000.nx.example.com.")[..]);
        assert_eq!(p.nsecs[0].types(), vec![46, 47, 128]);
        // NXNAME is bit 128: window 0 needs 17 octets.
        assert_eq!(p.nsecs[0].rdata.len(), q.len() + 2 + 2 + 17);
        let co = nxdomain(Scheme::Compact, &q, &w("example.com."), true);
        assert_eq!(co.rcode, Rcode::NxDomain);
        assert_eq!(co.nsecs, p.nsecs);
    }

    #[test]
    fn white_lies_cover_the_name_and_the_wildcard() {
        let q = w("a.b.example.com.");
        let ce = w("example.com.");
        let p = nxdomain(Scheme::WhiteLies, &q, &ce, false);
        assert_eq!(p.rcode, Rcode::NxDomain);
        assert_eq!(p.nsecs.len(), 2);
        let star = w("*.example.com.");
        for (nsec, covered) in p.nsecs.iter().zip([&q, &star]) {
            assert_eq!(
                name::canonical_cmp(nsec.owner.as_bytes(), covered),
                Ordering::Less
            );
            assert_eq!(
                name::canonical_cmp(nsec.next_name(), covered),
                Ordering::Greater
            );
            assert_eq!(nsec.types(), vec![46, 47]);
            // Within the zone.
            assert!(name::is_subdomain(nsec.owner.as_bytes(), &ce));
        }
        // The first NSEC covers b.example.com, the next closer name (the closest encloser
        // being example.com, b does not exist); nothing that may exist is covered: the apex,
        // siblings.
        let b = w("b.example.com.");
        assert_eq!(
            name::canonical_cmp(p.nsecs[0].owner.as_bytes(), &b),
            Ordering::Less
        );
        assert_eq!(
            name::canonical_cmp(p.nsecs[0].next_name(), &b),
            Ordering::Greater
        );
        for existing in [
            "example.com.",
            "c.example.com.",
            "a.example.com.",
            "ns1.example.com.",
        ] {
            let e = w(existing);
            for nsec in &p.nsecs {
                let covers = name::canonical_cmp(nsec.owner.as_bytes(), &e) == Ordering::Less
                    && name::canonical_cmp(&e, nsec.next_name()) == Ordering::Less;
                assert!(!covers, "{nsec:?} covers {existing}");
            }
        }
        // A name two labels below its closest encloser: the next closer name is covered, and
        // neither NSEC implies that it exists (its next name is not below it).
        let deep = w("x.nope.example.com.");
        let p = nxdomain(Scheme::WhiteLies, &deep, &ce, false);
        let nope = w("nope.example.com.");
        assert_eq!(
            name::canonical_cmp(p.nsecs[0].owner.as_bytes(), &nope),
            Ordering::Less
        );
        assert_eq!(
            name::canonical_cmp(p.nsecs[0].next_name(), &nope),
            Ordering::Greater
        );
        assert!(!name::is_subdomain(p.nsecs[0].next_name(), &nope));
        // The query for the wildcard name itself needs one NSEC.
        assert_eq!(
            nxdomain(Scheme::WhiteLies, &star, &ce, false).nsecs.len(),
            1
        );
    }

    #[test]
    fn nodata_lists_types_and_ent_lists_none() {
        let p = nodata(&w("www.example.com."), &[1, 28]);
        assert_eq!(p.nsecs[0].types(), vec![1, 28, 46, 47]);
        assert_eq!(p.nsecs[0].next_name(), &w("\\000.www.example.com.")[..]);
        let ent = nodata(&w("ent.example.com."), &[]);
        assert_eq!(ent.nsecs[0].types(), vec![46, 47]);
        let apex = nodata(&w("example.com."), &[2, 6, 48, 59, 60]);
        assert_eq!(apex.nsecs[0].types(), vec![2, 6, 46, 47, 48, 59, 60]);
    }

    #[test]
    fn delegation_proofs() {
        let cut = w("sub.example.com.");
        let p = insecure_delegation(&cut, &[types::NS, types::DS]);
        assert_eq!(p.nsecs[0].types(), vec![2, 46, 47]);
        assert_eq!(p.nsecs[0].next_name(), &w("sub\\000.example.com.")[..]);
        // The next name is not inside the child zone.
        assert!(!name::is_subdomain(p.nsecs[0].next_name(), &cut));
        assert!(secure_delegation().nsecs.is_empty());
    }

    #[test]
    fn wildcard_proofs_per_scheme() {
        let q = w("x.wild.example.com.");
        let star = w("*.wild.example.com.");
        assert!(wildcard_answer(Scheme::Compact, &q, &star).nsecs.is_empty());
        assert_eq!(wildcard_signing_owner(Scheme::Compact, &q, &star), &q[..]);
        let wl = wildcard_answer(Scheme::WhiteLies, &q, &star);
        assert_eq!(wl.nsecs.len(), 1);
        // Deeper: a.b.wild matches *.wild; the cover is of b.wild, the next closer name.
        let deep = w("a.b.wild.example.com.");
        let wl = wildcard_answer(Scheme::WhiteLies, &deep, &star);
        let b = w("b.wild.example.com.");
        assert_eq!(
            name::canonical_cmp(wl.nsecs[0].owner.as_bytes(), &b),
            Ordering::Less
        );
        assert_eq!(
            name::canonical_cmp(wl.nsecs[0].next_name(), &b),
            Ordering::Greater
        );
        assert!(!name::is_subdomain(wl.nsecs[0].next_name(), &b));
        assert_eq!(
            wildcard_signing_owner(Scheme::WhiteLies, &q, &star),
            &star[..]
        );
        let c = wildcard_nodata(Scheme::Compact, &q, &star, &[16]);
        assert_eq!(c.nsecs.len(), 1);
        assert_eq!(c.nsecs[0].owner.as_bytes(), &q[..]);
        assert_eq!(c.nsecs[0].types(), vec![16, 46, 47]);
        let wl = wildcard_nodata(Scheme::WhiteLies, &q, &star, &[16]);
        assert_eq!(wl.nsecs.len(), 2);
        assert_eq!(wl.nsecs[1].owner.as_bytes(), &star[..]);
    }
}
