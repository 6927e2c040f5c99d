//! What to answer: the authoritative lookup (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6604
//! CNAME chains, RFC 6672 DNAME redirection, RFC 8482 minimal ANY), independent of sockets and
//! wire format.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use smallvec::SmallVec;

use crate::config::Family;
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
    /// A name made for this answer (a name a DNAME redirected to).
    Made(Span),
}

/// An RRset to write: which records, and under which owner name.
#[derive(Debug, Clone)]
pub struct RrRef<'a> {
    /// The owner name written.
    pub owner: Owner<'a>,
    /// The records, in answer order.
    pub records: Records<'a>,
}

/// An RRset as stored, or some of a pool's records in the order steering chose.
#[derive(Debug, Clone)]
pub enum Records<'a> {
    /// Every record of the set, as stored.
    All(&'a RecordSet),
    /// The records at these indices of the set, in this order.
    Picked(&'a RecordSet, SmallVec<[u16; 8]>),
    /// One record held as RDATA only (a CNAME synthesised from a DNAME): its type, TTL and
    /// RDATA.
    Raw(u16, u32, Bytes<'a>),
}

/// Bytes stored with the zone, or made for this answer.
#[derive(Debug, Clone, Copy)]
pub enum Bytes<'a> {
    /// Stored.
    Static(&'a [u8]),
    /// In [`Answer::made`].
    Made(Span),
}

impl<'a> Records<'a> {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Records::All(r) => r.len(),
            Records::Picked(_, idx) => idx.len(),
            Records::Raw(..) => 1,
        }
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records' wire forms, in answer order (none for `Raw`).
    pub fn wire(&self) -> impl Iterator<Item = &'a WireRecord> + '_ {
        let (all, picked) = match self {
            Records::All(r) => (Some(r.wire()), None),
            Records::Picked(r, idx) => (None, Some((r.wire(), idx))),
            Records::Raw(..) => (None, None),
        };
        all.into_iter().flatten().chain(
            picked
                .into_iter()
                .flat_map(|(r, idx)| idx.iter().map(move |&i| &r[i as usize])),
        )
    }
}

impl<'a> RrRef<'a> {
    /// All of `records`, under `owner`.
    pub fn all(owner: Owner<'a>, records: &'a RecordSet) -> Self {
        Self {
            owner,
            records: Records::All(records),
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
    /// Data made for this answer, that [`Span`]s point into. Empty, and so not allocated,
    /// unless a DNAME redirected the question.
    pub made: Vec<u8>,
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
    /// authoritative negative answer carries); a referral's NS records stay.
    pub fn not_authoritative(&mut self) {
        self.authoritative = false;
        self.authority.retain(|rr| match rr.records {
            Records::All(r) => r.first().is_none_or(|r| r.record_type() != RecordType::SOA),
            Records::Picked(..) | Records::Raw(..) => true,
        });
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

    /// FORMERR, and why.
    pub fn malformed(why: WireError) -> Self {
        Self {
            malformed: Some(why),
            ..Self::new(ResponseCode::FormErr)
        }
    }

    fn negative(&mut self, zone: &'a Zone, rcode: ResponseCode) {
        self.rcode = rcode;
        self.authority
            .push(RrRef::all(Owner::Record, &zone.negative_soa));
    }
}

/// Answers an IN-class question: static zone data, and load-balanced names by steering.
pub fn lookup<'a>(
    state: &'a State,
    qname: &WireName,
    qtype: RecordType,
    client: Client,
) -> Answer<'a> {
    let snap: &'a Snapshot = &state.config;
    let Some(zone) = snap.zones.find(qname) else {
        return Answer::refused(EDE_NOT_AUTHORITATIVE);
    };
    let mut ans = Answer::new(ResponseCode::NoError);
    ans.authoritative = true;
    ans.zone_label = snap.labels.zones[zone.id as usize];

    let mut name = qname.clone();
    // How the name looked up is spelled: the question's name, then a CNAME's target or a name
    // a DNAME redirected to. A wildcard's records are written under it.
    let mut spelled = Owner::Qname;
    for hop in 0..MAX_CNAME_HOPS {
        match zone.find(&name, qtype) {
            Found::NxDomain => {
                ans.negative(zone, ResponseCode::NXDomain);
                return ans;
            }
            Found::Delegation(cut) => {
                // A referral is not authoritative data (RFC 1034 §4.3.2 step 3b), unless a CNAME
                // we are authoritative for led here.
                ans.authoritative = hop > 0;
                referral(zone, cut, &mut ans);
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
                if let Some(lb) = node.lb {
                    let family = match qtype {
                        RecordType::A => Some(Family::V4),
                        RecordType::AAAA => Some(Family::V6),
                        // RFC 8482: the steered A RRset stands for all of them.
                        RecordType::ANY => Some(Family::V4),
                        _ => None,
                    };
                    if let Some(family) = family {
                        steer(state, lb, family, client, owner, zone, &mut ans);
                        return ans;
                    }
                }
                if qtype == RecordType::ANY {
                    // RFC 8482 §4.2: one RRset stands for all of them.
                    match node.rrsets.first() {
                        Some(rs) => ans.answer.push(RrRef::all(owner, &rs.records)),
                        None => ans.negative(zone, ResponseCode::NoError),
                    }
                    return ans;
                }
                if let Some(rs) = node.get(qtype) {
                    ans.answer.push(RrRef::all(owner, &rs.records));
                    add_target_addresses(zone, &rs.records, &mut ans);
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
                    ans.answer.push(RrRef::all(owner, &cname.records));
                    let RData::CNAME(next) = &cname.records[0].data else {
                        return ans;
                    };
                    // Chase only inside this zone, as NSD and Knot do: data from another zone may
                    // be served by another server set, and the resolver will follow it anyway.
                    if !zone.origin.zone_of(&next.0) {
                        return ans;
                    }
                    spelled = Owner::Name(&next.0);
                    name = WireName::from_name(&next.0);
                    continue;
                }
                ans.negative(zone, ResponseCode::NoError);
                return ans;
            }
        }
    }
    ans
}

/// RFC 6672 §3.2: `name`, below the DNAME at `node` (whose owner is the name's last
/// `owner_len` octets), is answered with the DNAME and a CNAME synthesised from it, with the
/// DNAME's TTL, to the name with that owner replaced by the DNAME's target. Returns true when
/// the lookup goes on at that name (now in `name`, spelled `spelled`): it is inside the zone,
/// and the question is not for the CNAME itself.
fn redirect<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner_len: usize,
    qtype: RecordType,
    name: &mut WireName,
    spelled: &mut Owner<'a>,
    ans: &mut Answer<'a>,
) -> bool {
    let Some(dname) = node.get(RecordType::DNAME) else {
        return false;
    };
    ans.answer.push(RrRef::all(Owner::Record, &dname.records));
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

fn referral<'a>(zone: &'a Zone, cut: &'a Node, ans: &mut Answer<'a>) {
    let Some(ns) = cut.get(RecordType::NS) else {
        return;
    };
    ans.authority.push(RrRef::all(Owner::Record, &ns.records));
    // Glue: addresses of the name servers that live in or below this zone.
    add_target_addresses(zone, &ns.records, ans);
}

/// ADDITIONAL section processing (RFC 1034 §4.3.2 step 6) for NS, MX and SRV targets that this
/// zone holds addresses for.
fn add_target_addresses<'a>(zone: &'a Zone, records: &'a RecordSet, ans: &mut Answer<'a>) {
    for rec in records.iter().take(MAX_ADDITIONAL_TARGETS) {
        let target = match &rec.data {
            RData::NS(ns) => &ns.0,
            RData::MX(mx) => &mx.exchange,
            RData::SRV(srv) => &srv.target,
            _ => return,
        };
        if !zone.origin.zone_of(target) {
            continue;
        }
        let Some(node) = zone.node(WireName::from_name(target).as_bytes()) else {
            continue;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(rs) = node.get(rtype) {
                ans.additional.push(RrRef::all(Owner::Record, &rs.records));
            }
        }
    }
}

/// A load-balanced name: the steering decision, as records.
fn steer<'a>(
    state: &'a State,
    lb_id: u32,
    family: Family,
    client: Client,
    owner: Owner<'a>,
    zone: &'a Zone,
    ans: &mut Answer<'a>,
) {
    let snap: &'a Snapshot = &state.config;
    let lb = &snap.steering.load_balancers[lb_id as usize];
    let compiled = &snap.compiled[lb_id as usize];
    let (candidates, scope) = compiled.candidates(lb, client.addr);
    let scope = scope.unwrap_or(0);
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
    ans.ecs_scope = ans.ecs_scope.max(steering::ecs_scope(lb, &d, scope));
    ans.steered = Some((
        snap.labels.load_balancers[lb_id as usize],
        d.pool
            .map_or(crate::metrics::NO_ZONE, |p| snap.labels.pools[p as usize]),
    ));
    let records = d.pool.and_then(|p| compiled.pool_records(p));
    let Some(records) = records.filter(|_| !d.origins.is_empty()) else {
        ans.negative(zone, ResponseCode::NoError);
        return;
    };
    let all = match family {
        Family::V4 => &records.v4,
        Family::V6 => &records.v6,
    };
    let picked = d
        .origins
        .iter()
        .filter_map(|&o| records.record_of(&snap.steering, o, family))
        .collect();
    // An owner of Qname would echo the client's spelling; steered records carry the load
    // balancer's name, which is the same name.
    let owner = match owner {
        Owner::Qname => Owner::Qname,
        _ => Owner::Record,
    };
    ans.answer.push(RrRef {
        owner,
        records: Records::Picked(all, picked),
    });
}
