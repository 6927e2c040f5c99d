//! What to answer: the authoritative lookup (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6604
//! CNAME chains, RFC 6672 DNAME redirection, RFC 8482 minimal ANY), independent of sockets and
//! wire format, and — for a signed zone and a query with DO — the RRSIGs and NSEC proofs that
//! go with it (RFC 4035 §3.1, RFC 9824 or RFC 4470 for what does not exist).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use smallvec::SmallVec;

use crate::config::Family;
use crate::dnssec::cache::{CacheKey, SigCache, SigCaches};
use crate::dnssec::denial::{self, Scheme};
use crate::dnssec::name as dname;
use crate::dnssec::sign::{RrsetRef, Scratch};
use crate::dnssec::zone::{self as signed, NodeNsec, SigSet, SignedZone, SignedZones};
use crate::dnssec::{CLASS_IN, types};
use crate::state::{Snapshot, State};
use crate::steering::{self, Client};
use crate::wire::{MAX_NAME_LEN, RecordSet, WireError, WireName, WireRecord};
use crate::zone::{Found, Node, Zone};

/// CNAME hops followed inside a zone before giving up (loops end here too).
const MAX_CNAME_HOPS: usize = 8;

/// Targets of NS/MX/SRV records for which address records are added to ADDITIONAL.
const MAX_ADDITIONAL_TARGETS: usize = 16;

/// An Extended DNS Error (RFC 8914): INFO-CODE and EXTRA-TEXT (empty for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ede {
    /// INFO-CODE.
    pub code: u16,
    /// EXTRA-TEXT, for people.
    pub text: &'static str,
}

/// "Prohibited" (RFC 8914 §4.19): a zone transfer refused.
pub const EDE_PROHIBITED: Ede = Ede { code: 18, text: "" };
/// "Not Authoritative" (RFC 8914 §4.21): a name outside every zone.
pub const EDE_NOT_AUTHORITATIVE: Ede = Ede { code: 20, text: "" };
/// "Other" (RFC 8914 §4.1) with YXDOMAIN: a DNAME would make the name too long.
pub const EDE_DNAME_TOO_LONG: Ede = Ede {
    code: 0,
    text: "name too long after DNAME substitution",
};

/// A range of [`Answer::made`]: data made for this answer (a name synthesised from a DNAME).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u16,
    len: u16,
}

impl Span {
    /// The bytes in `buf`.
    pub fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.start as usize + self.len as usize]
    }
}

/// Which owner name to write for an RRset.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// The question's name, as the client spelled it (compressed to a pointer at offset 12).
    Qname,
    /// Each record's own owner name.
    Record,
    /// A given name: a wildcard synthesised at a CNAME target.
    Name(&'a Name),
    /// A name in wire form (an NSEC's owner).
    Wire(&'a [u8]),
    /// A name made for this answer (a white lie's owner, a name after a CNAME).
    Made(Span),
}

/// An RRset to write: which records, under which owner name, with which RRSIGs.
#[derive(Debug, Clone)]
pub struct RrRef<'a> {
    /// The owner name written.
    pub owner: Owner<'a>,
    /// The records, in answer order.
    pub records: Records<'a>,
    /// Its RRSIGs, written right after it (the two fit together or not at all).
    pub sigs: Sigs<'a>,
}

/// An RRset as stored, or some of a pool's records in the order steering chose.
#[derive(Debug, Clone)]
pub enum Records<'a> {
    /// Every record of the set, as stored.
    All(&'a RecordSet),
    /// The records at these indices of the set, in this order.
    Picked(&'a RecordSet, SmallVec<[u16; 8]>),
    /// One record held as RDATA only (an NSEC): its type, TTL and RDATA.
    Raw(u16, u32, Bytes<'a>),
    /// RRSIG records answering a query for type RRSIG, with their TTL.
    Rrsigs(&'a SigSet, u32),
}

/// Bytes stored with the zone's signatures, or made for this answer.
#[derive(Debug, Clone, Copy)]
pub enum Bytes<'a> {
    /// Stored.
    Static(&'a [u8]),
    /// In [`Answer::made`].
    Made(Span),
}

/// The RRSIGs that go with an RRset.
#[derive(Debug, Clone, Copy)]
pub enum Sigs<'a> {
    /// None: unsigned zone, no DO, glue, NS at a cut.
    None,
    /// Made at load: (u16 length, RDATA)* packed.
    Static(&'a SigSet),
    /// Made or found in the cache for this answer: (u16 length, RDATA)* in [`Answer::made`].
    Made(Span),
}

impl<'a> Records<'a> {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Records::All(r) => r.len(),
            Records::Picked(_, idx) => idx.len(),
            Records::Raw(..) => 1,
            Records::Rrsigs(s, _) => s.iter().count(),
        }
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records' wire forms, in answer order (none for `Raw` and `Rrsigs`).
    pub fn wire(&self) -> impl Iterator<Item = &'a WireRecord> + '_ {
        let (all, picked) = match self {
            Records::All(r) => (Some(r.wire()), None),
            Records::Picked(r, idx) => (None, Some((r.wire(), idx))),
            _ => (None, None),
        };
        all.into_iter().flatten().chain(
            picked
                .into_iter()
                .flat_map(|(r, idx)| idx.iter().map(move |&i| &r[i as usize])),
        )
    }
}

impl<'a> RrRef<'a> {
    /// All of `records`, under `owner`, unsigned.
    pub fn all(owner: Owner<'a>, records: &'a RecordSet) -> Self {
        Self {
            owner,
            records: Records::All(records),
            sigs: Sigs::None,
        }
    }

    fn signed(owner: Owner<'a>, records: &'a RecordSet, sigs: Sigs<'a>) -> Self {
        Self {
            owner,
            records: Records::All(records),
            sigs,
        }
    }
}

/// What to answer, before it is written: rcode, flags and the sections' RRsets.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The response code.
    pub rcode: ResponseCode,
    /// The AA flag.
    pub authoritative: bool,
    /// The answer section.
    pub answer: SmallVec<[RrRef<'a>; 4]>,
    /// The authority section.
    pub authority: SmallVec<[RrRef<'a>; 2]>,
    /// The additional section (dropped, not truncated, when it does not fit).
    pub additional: SmallVec<[RrRef<'a>; 4]>,
    /// ECS SCOPE PREFIX-LENGTH to return: 0 unless the client's location chose the answer.
    pub ecs_scope: u8,
    /// For metrics: the zone's label id, and (load balancer, pool) label ids if steered.
    pub zone_label: u32,
    /// (load balancer, pool) label ids when steering chose the answer.
    pub steered: Option<(u32, u32)>,
    /// Why the query is malformed, when the answer is FORMERR.
    pub malformed: Option<WireError>,
    /// An Extended DNS Error (RFC 8914), sent when the query has EDNS.
    pub ede: Option<Ede>,
    /// Data made for this answer, that [`Span`]s point into (a buffer the caller lends, so
    /// that signed answers allocate nothing once it has grown).
    pub made: Vec<u8>,
    /// Signatures made for this answer (not found in a cache).
    pub signed_online: u8,
    /// The name does not exist, though the answer says NOERROR: a compact denial to a client
    /// without CO (RFC 9824 §3.1). Rate limiting counts it as the NXDOMAIN it stands for.
    pub compact_nxdomain: bool,
}

impl<'a> Answer<'a> {
    /// An empty, non-authoritative answer with `rcode`.
    pub fn new(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: false,
            answer: SmallVec::new(),
            authority: SmallVec::new(),
            additional: SmallVec::new(),
            ecs_scope: 0,
            zone_label: crate::metrics::NO_ZONE,
            steered: None,
            malformed: None,
            ede: None,
            made: Vec::new(),
            signed_online: 0,
            compact_nxdomain: false,
        }
    }

    /// REFUSED, with an Extended DNS Error saying why.
    pub fn refused(ede: Ede) -> Self {
        Self {
            ede: Some(ede),
            ..Self::new(ResponseCode::Refused)
        }
    }

    /// Makes the answer non-authoritative: no AA, and no SOA in AUTHORITY (which only an
    /// authoritative negative answer carries, its RRSIGs with it); a referral's NS records
    /// stay.
    pub fn not_authoritative(&mut self) {
        self.authoritative = false;
        self.authority.retain(|rr| match rr.records {
            Records::All(r) => r
                .wire()
                .first()
                .is_none_or(|r| r.rtype() != u16::from(RecordType::SOA)),
            Records::Picked(..) | Records::Raw(..) | Records::Rrsigs(..) => true,
        });
    }

    /// FORMERR, and why.
    pub fn malformed(why: WireError) -> Self {
        Self {
            malformed: Some(why),
            ..Self::new(ResponseCode::FormErr)
        }
    }

    fn negative(&mut self, zone: &'a Zone, rcode: ResponseCode, sig: Option<&Signer<'a>>) {
        self.rcode = rcode;
        let sigs = sig.map_or(Sigs::None, |s| s.soa_sigs(zone));
        self.authority
            .push(RrRef::signed(Owner::Record, &zone.negative_soa, sigs));
    }

    /// Copies `bytes` into [`Answer::made`].
    fn make(&mut self, bytes: &[u8]) -> Span {
        let start = self.made.len();
        self.made.extend_from_slice(bytes);
        Span {
            start: start as u16,
            len: bytes.len() as u16,
        }
    }
}

/// DNSSEC for one query: the signatures in effect, and how to sign what is made per answer.
pub struct Dnssec<'a> {
    /// The current signatures of every zone.
    pub zones: &'a SignedZones,
    /// The denial scheme.
    pub scheme: Scheme,
    /// The query has DO: RRSIGs and NSECs go into the answer.
    pub dnssec_ok: bool,
    /// The query has CO (RFC 9824 §4.1): a compact NXDOMAIN keeps its rcode.
    pub compact_ok: bool,
    /// The caches for online signatures.
    pub caches: &'a SigCaches,
    /// Seconds since the epoch.
    pub now: u64,
}

/// Signing one answer in one zone (the zone is signed and the query has DO).
struct Signer<'a> {
    zone: &'a SignedZone,
    data: &'a Zone,
    cx: &'a Dnssec<'a>,
}

impl<'a> Signer<'a> {
    fn node(&self, node: &Node) -> Option<&'a signed::NodeSigs> {
        self.zone.node(node.id)
    }

    /// The static RRSIGs of RRset `rtype` at `node`.
    fn static_sigs(&self, node: &Node, rtype: RecordType) -> Sigs<'a> {
        let Some(ns) = self.node(node) else {
            return Sigs::None;
        };
        match node.rrsets.iter().position(|r| r.rtype == rtype) {
            Some(i) => match ns.sets.get(i) {
                Some(s) if !s.is_empty() => Sigs::Static(s),
                _ => Sigs::None,
            },
            None => Sigs::None,
        }
    }

    fn soa_sigs(&self, zone: &Zone) -> Sigs<'a> {
        match zone.node(zone.origin_key()) {
            Some(apex) => self.static_sigs(apex, RecordType::SOA),
            None => Sigs::None,
        }
    }

    fn nsec(&self, node: &Node) -> Option<&'a NodeNsec> {
        self.node(node)?.nsec.as_deref()
    }

    /// Signs an RRset made for this answer (or finds its RRSIGs in `cache`), appending them
    /// to [`Answer::made`].
    fn online(
        &self,
        ans: &mut Answer<'a>,
        cache: &SigCache,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: &[&[u8]],
    ) -> Sigs<'a> {
        let signer = &self.zone.signer;
        let now = self.cx.now;
        let key = CacheKey::new(signer.id, owner, rtype, ttl, rdatas);
        let start = ans.made.len();
        let mut fresh = false;
        let made = &mut ans.made;
        let r = cache.get_or_sign(
            &key,
            now,
            || {
                fresh = true;
                let rrset = RrsetRef {
                    owner,
                    rtype,
                    class: CLASS_IN,
                    ttl,
                    rdatas,
                };
                let sigs = signer.sign(&rrset, now, &mut Scratch::default())?;
                let refresh = sigs
                    .first()
                    .map_or(now, |s| signer.validity.refresh_at(s.expiration, ttl));
                Ok::<_, crate::dnssec::key::SignError>((sigs, refresh))
            },
            |c| {
                for r in c.iter() {
                    made.extend_from_slice(&(r.len() as u16).to_be_bytes());
                    made.extend_from_slice(r);
                }
            },
        );
        if fresh {
            ans.signed_online = ans.signed_online.saturating_add(1);
        }
        match r {
            Ok(()) => Sigs::Made(Span {
                start: start as u16,
                len: (ans.made.len() - start) as u16,
            }),
            Err(_) => {
                ans.made.truncate(start);
                Sigs::None
            }
        }
    }

    /// An NSEC made for this answer (owner `owner`, RDATA `rdata`), signed, in `section`.
    fn push_nsec(&self, ans: &mut Answer<'a>, owner: Owner<'a>, owner_wire: &[u8], rdata: &[u8]) {
        let ttl = self.zone.negative_ttl;
        let sigs = self.online(
            ans,
            &self.cx.caches.denial,
            owner_wire,
            types::NSEC,
            ttl,
            &[rdata],
        );
        let rd = ans.make(rdata);
        let owner = match owner {
            Owner::Record => Owner::Made(ans.make(owner_wire)),
            o => o,
        };
        ans.authority.push(RrRef {
            owner,
            records: Records::Raw(types::NSEC, ttl, Bytes::Made(rd)),
            sigs,
        });
    }

    /// A node's static NSEC, with its RRSIGs, in the authority section.
    fn push_node_nsec(&self, ans: &mut Answer<'a>, nsec: &'a NodeNsec, owner: Owner<'a>) {
        ans.authority.push(RrRef {
            owner,
            records: Records::Raw(
                types::NSEC,
                self.zone.negative_ttl,
                Bytes::Static(&nsec.rdata),
            ),
            sigs: Sigs::Static(&nsec.sigs),
        });
    }

    /// The white lie covering `name`'s next closer name to `encloser` (RFC 4470; RFC 4035
    /// §3.1.3: no closer match exists), signed.
    fn push_cover(&self, ans: &mut Answer<'a>, name: &[u8], encloser: &[u8]) {
        let n = denial::covering(dname::next_closer(name, encloser));
        self.push_nsec(ans, Owner::Record, n.owner.as_bytes(), &n.rdata);
    }

    /// The proof that `name` (at hop `hop` of the chain) does not exist, under the scheme.
    fn nxdomain(&self, zone: &'a Zone, ans: &mut Answer<'a>, name: &WireName, hop: usize) {
        match self.cx.scheme {
            Scheme::Compact => {
                // RFC 9824 §3.1: NODATA, one NSEC at the name (types RRSIG NSEC NXNAME).
                ans.rcode = if self.cx.compact_ok {
                    ResponseCode::NXDomain
                } else {
                    ResponseCode::NoError
                };
                ans.compact_nxdomain = !self.cx.compact_ok;
                let p = denial::nxdomain(Scheme::Compact, name.as_bytes(), &[0], false);
                let nsec = &p.nsecs[0];
                let owner = if hop == 0 {
                    Owner::Qname
                } else {
                    Owner::Record
                };
                self.push_nsec(ans, owner, name.as_bytes(), &nsec.rdata);
            }
            Scheme::WhiteLies => {
                let ce = closest_encloser(zone, name);
                let p = denial::nxdomain(Scheme::WhiteLies, name.as_bytes(), ce, false);
                for n in &p.nsecs {
                    self.push_nsec(ans, Owner::Record, n.owner.as_bytes(), &n.rdata);
                }
            }
        }
    }

    /// The proof that `name` has no `qtype` (NODATA) at `node`.
    fn nodata(
        &self,
        ans: &mut Answer<'a>,
        node: &'a Node,
        name: &WireName,
        owner: Owner<'a>,
        wildcard: bool,
        qtype: RecordType,
    ) {
        let Some(nsec) = self.nsec(node) else {
            return;
        };
        let qcode = u16::from(qtype);
        let owner = match owner {
            Owner::Qname => Owner::Qname,
            _ => Owner::Record,
        };
        if wildcard && self.cx.scheme == Scheme::WhiteLies {
            // RFC 4035 §3.1.3.4: no closer match (the name is covered), and the wildcard
            // lacks the type (its NSEC).
            self.push_cover(ans, name.as_bytes(), closest_encloser(self.data, name));
            if nsec.has_type(qcode) {
                self.push_nsec_without(ans, Owner::Record, &nsec.owner, nsec, qcode);
            } else {
                self.push_node_nsec(ans, nsec, Owner::Wire(&nsec.owner));
            }
            return;
        }
        if !wildcard && !nsec.has_type(qcode) {
            let owner = match owner {
                Owner::Qname => Owner::Qname,
                _ => Owner::Wire(&nsec.owner),
            };
            self.push_node_nsec(ans, nsec, owner);
            return;
        }
        // A wildcard's types at the name (RFC 9824 §3.3), or a load balancer without an
        // address of the family for this client: an NSEC made for the answer, at the name,
        // without the type.
        self.push_nsec_without(ans, owner, name.as_bytes(), nsec, qcode);
    }

    /// An NSEC at `owner_wire` (next name its successor) with `nsec`'s types but `qcode`,
    /// made and signed for this answer.
    fn push_nsec_without(
        &self,
        ans: &mut Answer<'a>,
        owner: Owner<'a>,
        owner_wire: &[u8],
        nsec: &NodeNsec,
        qcode: u16,
    ) {
        let mut rdata: SmallVec<[u8; 128]> = SmallVec::new();
        rdata.extend_from_slice(dname::successor(owner_wire).as_bytes());
        let mut bitmap = Vec::with_capacity(nsec.bitmap().len());
        signed::bitmap_without(nsec.bitmap(), qcode, &mut bitmap);
        rdata.extend_from_slice(&bitmap);
        self.push_nsec(ans, owner, owner_wire, &rdata);
    }

    /// The RRSIGs for an RRset of `node` answered at `name`: static, or — for a wildcard
    /// expansion under compact denial — made with `name` as owner (RFC 9824 §3.3). Under
    /// white lies a wildcard expansion keeps the wildcard's RRSIG (its Labels field tells the
    /// validator) and the answer gets the NSEC covering `name`.
    fn rrset_sigs(
        &self,
        ans: &mut Answer<'a>,
        node: &'a Node,
        rs: &'a crate::zone::RRset,
        name: &WireName,
        wildcard: bool,
    ) -> Sigs<'a> {
        if !wildcard {
            return self.static_sigs(node, rs.rtype);
        }
        match self.cx.scheme {
            Scheme::Compact => {
                let rdatas: SmallVec<[&[u8]; 8]> =
                    rs.records.wire().iter().map(WireRecord::rdata).collect();
                let ttl = rs.records.ttl().unwrap_or(0);
                self.online(
                    ans,
                    &self.cx.caches.denial,
                    name.as_bytes(),
                    u16::from(rs.rtype),
                    ttl,
                    &rdatas,
                )
            }
            Scheme::WhiteLies => {
                self.push_cover(ans, name.as_bytes(), closest_encloser(self.data, name));
                self.static_sigs(node, rs.rtype)
            }
        }
    }
}

/// The longest existing ancestor of `name` (a name that does not exist) in `zone`.
fn closest_encloser<'n>(zone: &'n Zone, name: &'n WireName) -> &'n [u8] {
    name.suffixes()
        .skip(1)
        .find(|s| zone.node(s).is_some())
        .unwrap_or(zone.origin_key())
}

/// Answers an IN-class question: static zone data, and load-balanced names by steering.
pub fn lookup<'a>(
    state: &'a State,
    qname: &WireName,
    qtype: RecordType,
    client: Client,
) -> Answer<'a> {
    lookup_signed(state, qname, qtype, client, None, Vec::new())
}

/// [`lookup`], with DNSSEC: `dnssec` when the snapshot signs some zone (the RRSIGs and
/// proofs are added when the zone is signed and the query has DO), and `made` a buffer to
/// build signed data in (given back in [`Answer::made`]).
pub fn lookup_signed<'a>(
    state: &'a State,
    qname: &WireName,
    qtype: RecordType,
    client: Client,
    dnssec: Option<&'a Dnssec<'a>>,
    mut made: Vec<u8>,
) -> Answer<'a> {
    let snap: &'a Snapshot = &state.config;
    let Some(mut zone) = snap.zones.find(qname) else {
        return Answer::refused(EDE_NOT_AUTHORITATIVE);
    };
    // RFC 4035 §3.1.4.1: the DS RRset of a zone served here belongs to its parent, which is
    // answered from when it is served here too.
    if qtype == RecordType::DS
        && qname.as_bytes() == zone.origin_key()
        && let Some(parent) = snap.zones.find_above(zone.origin_key())
    {
        zone = parent;
    }
    let mut ans = Answer::new(ResponseCode::NoError);
    made.clear();
    ans.made = made;
    ans.authoritative = true;
    ans.zone_label = snap.labels.zones[zone.id as usize];
    // The zone's signatures, when it is signed; `sig` when they go into this answer.
    let zone_sigs = dnssec.and_then(|d| d.zones.zone(zone.id));
    let sig = match (dnssec, zone_sigs) {
        (Some(cx), Some(z)) if cx.dnssec_ok => Some(Signer {
            zone: z,
            data: zone,
            cx,
        }),
        _ => None,
    };
    let sig = sig.as_ref();

    let mut name = qname.clone();
    // How the name looked up is spelled: the question's name, then a CNAME's target or a name
    // a DNAME redirected to. A wildcard's records are written under it.
    let mut spelled = Owner::Qname;
    for hop in 0..MAX_CNAME_HOPS {
        match zone.find(&name, qtype) {
            Found::NxDomain => {
                ans.negative(zone, ResponseCode::NXDomain, sig);
                if let Some(s) = sig {
                    s.nxdomain(zone, &mut ans, &name, hop);
                }
                return ans;
            }
            Found::Delegation(cut) => {
                // A referral is not authoritative data (RFC 1034 §4.3.2 step 3b), unless a CNAME
                // we are authoritative for led here.
                ans.authoritative = hop > 0;
                referral(zone, cut, &mut ans, sig);
                return ans;
            }
            Found::Dname { node, owner_len } => {
                if !redirect(
                    zone,
                    node,
                    owner_len,
                    qtype,
                    &mut name,
                    &mut spelled,
                    &mut ans,
                    sig,
                ) {
                    return ans;
                }
            }
            Found::Node { node, wildcard } => {
                let owner = if hop == 0 || wildcard {
                    spelled
                } else {
                    Owner::Record
                };
                // Where an RRset made here is written: the question's name, or the name
                // reached (a wildcard's expansion after a CNAME has no stored owner).
                let made_owner = |ans: &mut Answer<'a>, name: &WireName| match owner {
                    Owner::Qname => Owner::Qname,
                    _ => Owner::Made(ans.make(name.as_bytes())),
                };
                if let Some(lb) = node.lb {
                    let family = match qtype {
                        RecordType::A => Some(Family::V4),
                        RecordType::AAAA => Some(Family::V6),
                        // RFC 8482: the steered A RRset stands for all of them.
                        RecordType::ANY => Some(Family::V4),
                        _ => None,
                    };
                    if let Some(family) = family {
                        steer(
                            state, lb, family, client, owner, zone, &mut ans, sig, node, &name,
                            wildcard, qtype,
                        );
                        return ans;
                    }
                }
                let is_apex = name.as_bytes() == zone.origin_key();
                if let (Some(z), Some(cx)) = (zone_sigs, dnssec) {
                    // Types a signed zone makes itself.
                    if is_apex
                        && !wildcard
                        && let Some(set) = z.apex_set(qtype)
                    {
                        let sigs = if cx.dnssec_ok {
                            Sigs::Static(&set.sigs)
                        } else {
                            Sigs::None
                        };
                        ans.answer.push(RrRef::signed(owner, &set.records, sigs));
                        return ans;
                    }
                    if qtype == RecordType::NSEC
                        && !wildcard
                        && let Some(nsec) = z.node(node.id).and_then(|n| n.nsec.as_deref())
                    {
                        ans.answer.push(RrRef {
                            owner: match owner {
                                Owner::Qname => Owner::Qname,
                                _ => Owner::Wire(&nsec.owner),
                            },
                            records: Records::Raw(
                                types::NSEC,
                                z.negative_ttl,
                                Bytes::Static(&nsec.rdata),
                            ),
                            sigs: if cx.dnssec_ok {
                                Sigs::Static(&nsec.sigs)
                            } else {
                                Sigs::None
                            },
                        });
                        return ans;
                    }
                    if qtype == RecordType::RRSIG && !wildcard {
                        rrsig_answer(z, node, is_apex, owner, &mut ans);
                        if !ans.answer.is_empty() {
                            return ans;
                        }
                    }
                }
                let hidden = |t: RecordType| zone_sigs.is_some() && signed::made_here(t, is_apex);
                if qtype == RecordType::ANY {
                    // RFC 8482 §4.2: one RRset stands for all of them.
                    match node.rrsets.iter().find(|r| !hidden(r.rtype)) {
                        Some(rs) => {
                            let sigs = match sig {
                                Some(s) => s.rrset_sigs(&mut ans, node, rs, &name, wildcard),
                                None => Sigs::None,
                            };
                            ans.answer.push(RrRef::signed(owner, &rs.records, sigs));
                        }
                        None => {
                            ans.negative(zone, ResponseCode::NoError, sig);
                            if let Some(s) = sig {
                                s.nodata(&mut ans, node, &name, owner, wildcard, qtype);
                            }
                        }
                    }
                    return ans;
                }
                if let Some(rs) = node.get(qtype).filter(|r| !hidden(r.rtype)) {
                    let sigs = match sig {
                        Some(s) => s.rrset_sigs(&mut ans, node, rs, &name, wildcard),
                        None => Sigs::None,
                    };
                    ans.answer.push(RrRef::signed(owner, &rs.records, sigs));
                    add_target_addresses(zone, &rs.records, &mut ans, sig);
                    return ans;
                }
                if qtype != RecordType::CNAME
                    && let Some(cname) = node.get(RecordType::CNAME)
                {
                    // A loop: this CNAME is in the answer already. Stop here, as Knot does,
                    // rather than repeat it (RFC 2181 §5: an RRset is sent once).
                    if ans
                        .answer
                        .iter()
                        .any(|rr| matches!(rr.records, Records::All(r) if std::ptr::eq(r, &cname.records)))
                    {
                        return ans;
                    }
                    let sigs = match sig {
                        Some(s) => s.rrset_sigs(&mut ans, node, cname, &name, wildcard),
                        None => Sigs::None,
                    };
                    ans.answer.push(RrRef::signed(owner, &cname.records, sigs));
                    let Some(next) = cname.records.wire().first().and_then(WireRecord::target)
                    else {
                        return ans;
                    };
                    let Some(next_key) = WireName::from_wire(next) else {
                        return ans;
                    };
                    // Chase only inside this zone, as NSD and Knot do: data from another zone may
                    // be served by another server set, and the resolver will follow it anyway.
                    if !zone.contains(next_key.as_bytes()) {
                        return ans;
                    }
                    spelled = Owner::Wire(next);
                    name = next_key;
                    continue;
                }
                ans.negative(zone, ResponseCode::NoError, sig);
                if let Some(s) = sig {
                    let owner = if wildcard {
                        made_owner(&mut ans, &name)
                    } else {
                        owner
                    };
                    s.nodata(&mut ans, node, &name, owner, wildcard, qtype);
                }
                return ans;
            }
        }
    }
    ans
}

/// A query for type RRSIG at a signed name: the RRSIGs of its RRsets (those made at load).
fn rrsig_answer<'a>(
    z: &'a SignedZone,
    node: &'a Node,
    is_apex: bool,
    owner: Owner<'a>,
    ans: &mut Answer<'a>,
) {
    let Some(ns) = z.node(node.id) else {
        return;
    };
    for (rs, set) in node.rrsets.iter().zip(ns.sets.iter()) {
        if !set.is_empty() {
            let ttl = rs.records.ttl().unwrap_or(0);
            ans.answer.push(RrRef {
                owner,
                records: Records::Rrsigs(set, ttl),
                sigs: Sigs::None,
            });
        }
    }
    if is_apex {
        for set in [Some(&z.dnskey), z.cds.as_ref(), z.cdnskey.as_ref()]
            .into_iter()
            .flatten()
        {
            let ttl = set.records.ttl().unwrap_or(0);
            ans.answer.push(RrRef {
                owner,
                records: Records::Rrsigs(&set.sigs, ttl),
                sigs: Sigs::None,
            });
        }
    }
    if let Some(nsec) = &ns.nsec {
        ans.answer.push(RrRef {
            owner,
            records: Records::Rrsigs(&nsec.sigs, z.negative_ttl),
            sigs: Sigs::None,
        });
    }
}

/// RFC 6672 §3.2: `name`, below the DNAME at `node` (whose owner is the name's last
/// `owner_len` octets), is answered with the DNAME and a CNAME synthesised from it, with the
/// DNAME's TTL, to the name with that owner replaced by the DNAME's target. Returns true when
/// the lookup goes on at that name (now in `name`, spelled `spelled`): it is inside the zone,
/// and the question is not for the CNAME itself.
#[allow(clippy::too_many_arguments)]
fn redirect<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner_len: usize,
    qtype: RecordType,
    name: &mut WireName,
    spelled: &mut Owner<'a>,
    ans: &mut Answer<'a>,
    sig: Option<&Signer<'a>>,
) -> bool {
    let Some(dname) = node.get(RecordType::DNAME) else {
        return false;
    };
    // The DNAME is signed as any RRset; the CNAME is not (RFC 6672 §5.3.1: a validator
    // synthesises it from the DNAME).
    let sigs = sig.map_or(Sigs::None, |s| s.static_sigs(node, RecordType::DNAME));
    ans.answer
        .push(RrRef::signed(Owner::Record, &dname.records, sigs));
    let Some(rec) = dname.records.wire().first() else {
        return false;
    };
    let (target, ttl) = (rec.rdata(), rec.ttl());
    let prefix = &name.as_bytes()[..name.as_bytes().len() - owner_len];
    if prefix.len() + target.len() > MAX_NAME_LEN {
        // The name it would be redirected to cannot exist (RFC 6672 §2.2): YXDOMAIN, with the
        // DNAME, as NSD answers (Knot says NXDOMAIN).
        ans.rcode = ResponseCode::YXDomain;
        ans.ede = Some(EDE_DNAME_TOO_LONG);
        return false;
    }
    let mut buf = [0u8; MAX_NAME_LEN];
    let len = prefix.len() + target.len();
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..len].copy_from_slice(target);
    let owner = &name.as_bytes()[prefix.len()..];
    let span = ans.make(&buf[..len]);
    ans.answer.push(RrRef {
        owner: *spelled,
        records: Records::Raw(u16::from(RecordType::CNAME), ttl, Bytes::Made(span)),
        sigs: Sigs::None,
    });
    let Some(next) = WireName::from_wire(&buf[..len]) else {
        return false;
    };
    // A DNAME whose target is below itself redirects forever: stop after one step, as NSD
    // does. As for a CNAME, a target outside the zone is left to the resolver.
    let looped = next.suffixes().any(|s| s == owner);
    if qtype == RecordType::CNAME || looped || !zone.contains(next.as_bytes()) {
        return false;
    }
    *name = next;
    *spelled = Owner::Made(span);
    true
}

fn referral<'a>(zone: &'a Zone, cut: &'a Node, ans: &mut Answer<'a>, sig: Option<&Signer<'a>>) {
    let Some(ns) = cut.get(RecordType::NS) else {
        return;
    };
    ans.authority.push(RrRef::all(Owner::Record, &ns.records));
    if let Some(s) = sig {
        // RFC 4035 §3.1.4: the DS RRset with its RRSIG, or the NSEC proving there is none.
        match cut.get(RecordType::DS) {
            Some(ds) => ans.authority.push(RrRef::signed(
                Owner::Record,
                &ds.records,
                s.static_sigs(cut, RecordType::DS),
            )),
            None => {
                if let Some(nsec) = s.nsec(cut) {
                    s.push_node_nsec(ans, nsec, Owner::Wire(&nsec.owner));
                }
            }
        }
    }
    // Glue: addresses of the name servers that live in or below this zone.
    add_target_addresses(zone, &ns.records, ans, sig);
}

/// ADDITIONAL section processing (RFC 1034 §4.3.2 step 6) for NS, MX and SRV targets that this
/// zone holds addresses for. Authoritative addresses carry their RRSIGs; glue has none.
fn add_target_addresses<'a>(
    zone: &'a Zone,
    records: &'a RecordSet,
    ans: &mut Answer<'a>,
    sig: Option<&Signer<'a>>,
) {
    for rec in records.wire().iter().take(MAX_ADDITIONAL_TARGETS) {
        if !matches!(
            RecordType::from(rec.rtype()),
            RecordType::NS | RecordType::MX | RecordType::SRV
        ) {
            return;
        }
        let Some(target) = rec.target().and_then(WireName::from_wire) else {
            continue;
        };
        if !zone.contains(target.as_bytes()) {
            continue;
        }
        let Some(node) = zone.node(target.as_bytes()) else {
            continue;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(rs) = node.get(rtype) {
                let sigs = sig.map_or(Sigs::None, |s| s.static_sigs(node, rtype));
                ans.additional
                    .push(RrRef::signed(Owner::Record, &rs.records, sigs));
            }
        }
    }
}

/// A load-balanced name: the steering decision, as records.
#[allow(clippy::too_many_arguments)]
fn steer<'a>(
    state: &'a State,
    lb_id: u32,
    family: Family,
    client: Client,
    owner: Owner<'a>,
    zone: &'a Zone,
    ans: &mut Answer<'a>,
    sig: Option<&Signer<'a>>,
    node: &'a Node,
    name: &WireName,
    wildcard: bool,
    qtype: RecordType,
) {
    let snap: &'a Snapshot = &state.config;
    let compiled = &snap.compiled[lb_id as usize];
    let base = &snap.steering.load_balancers[lb_id as usize];
    // `location_strategy.prefer_ecs`: the ECS address, or the resolver's. Client maps and
    // custom rules see the same address as the location maps.
    let client = client.for_lb(base);
    // The load balancer as custom rules and client maps make it for this client, its
    // candidate pools, and the client prefix that choice holds for.
    let (lb, candidates, scope) = compiled.resolve(base, client.addr, family);
    // Dynamic with peers: which instance's RTTs apply depends on the client's region.
    let (client, region_scope) =
        match steering::dynamic_region(snap, &state.health, lb, client.addr) {
            Some((region, depth)) => (
                Client {
                    region: Some(region),
                    ..client
                },
                depth,
            ),
            None => (client, 0),
        };
    let d = steering::decide(
        &snap.steering,
        lb,
        &candidates,
        &state.health,
        client,
        family,
        &mut rand::rng(),
    );
    // Before anything else: a NODATA answer carries the scope as much as a positive one.
    // A load balancer that ignores ECS answers alike for every client of the resolver: /0.
    // (Whether it does is the load balancer's own setting: it chose the address the rules
    // and maps were looked up with.)
    if base.uses_ecs() {
        ans.ecs_scope = ans
            .ecs_scope
            .max(steering::ecs_scope_of(&d, scope))
            .max(region_scope);
    }
    ans.steered = Some((
        snap.labels.load_balancers[lb_id as usize],
        d.pool
            .map_or(crate::metrics::NO_ZONE, |p| snap.labels.pools[p as usize]),
    ));
    let records = d.pool.and_then(|p| compiled.pool_records(p, lb.ttl));
    let Some(records) = records.filter(|_| !d.origins.is_empty()) else {
        ans.negative(zone, ResponseCode::NoError, sig);
        if let Some(s) = sig {
            let owner = match owner {
                Owner::Qname => Owner::Qname,
                _ => Owner::Record,
            };
            // The NSEC lists the family's type when some pool has it: one made for this
            // answer leaves it out.
            let qtype = if qtype == RecordType::ANY {
                RecordType::A
            } else {
                qtype
            };
            s.nodata(ans, node, name, owner, wildcard, qtype);
        }
        return;
    };
    let all = match family {
        Family::V4 => &records.v4,
        Family::V6 => &records.v6,
    };
    let picked: SmallVec<[u16; 8]> = d
        .origins
        .iter()
        .filter_map(|&o| records.record_of(&snap.steering, o, family))
        .collect();
    // An owner of Qname would echo the client's spelling; steered records carry the load
    // balancer's name, which is the same name.
    let owner = match owner {
        Owner::Qname => Owner::Qname,
        _ if wildcard => Owner::Made(ans.make(name.as_bytes())),
        _ => Owner::Record,
    };
    let sigs = match sig {
        Some(s) => {
            let rdatas: SmallVec<[&[u8]; 8]> = picked
                .iter()
                .map(|&i| all.wire()[i as usize].rdata())
                .collect();
            let rtype = match family {
                Family::V4 => types_a(),
                Family::V6 => types_aaaa(),
            };
            let ttl = all.ttl().unwrap_or(lb.ttl);
            if wildcard {
                // A load balancer at a wildcard: the expansion, signed as such.
                let (owner_wire, cache): (SmallVec<[u8; 256]>, &SigCache) = match s.cx.scheme {
                    Scheme::Compact => (name.as_bytes().into(), &s.cx.caches.denial),
                    Scheme::WhiteLies => {
                        let ce = closest_encloser(zone, name);
                        s.push_cover(ans, name.as_bytes(), ce);
                        let w = WireName::wildcard_of(ce);
                        (
                            w.map_or_else(|| name.as_bytes().into(), |w| w.as_bytes().into()),
                            &s.cx.caches.answers,
                        )
                    }
                };
                s.online(ans, cache, &owner_wire, rtype, ttl, &rdatas)
            } else {
                s.online(
                    ans,
                    &s.cx.caches.answers,
                    &lb_owner(lb, all),
                    rtype,
                    ttl,
                    &rdatas,
                )
            }
        }
        None => Sigs::None,
    };
    ans.answer.push(RrRef {
        owner,
        records: Records::Picked(all, picked),
        sigs,
    });
}

fn types_a() -> u16 {
    u16::from(RecordType::A)
}

fn types_aaaa() -> u16 {
    u16::from(RecordType::AAAA)
}

/// The owner a steered RRset is signed with: its records' owner (the load balancer's name).
fn lb_owner(lb: &crate::config::LoadBalancer, all: &RecordSet) -> SmallVec<[u8; 256]> {
    match all.wire().first() {
        Some(w) => w.owner().into(),
        None => crate::wire::name_wire(&lb.name).into(),
    }
}
