//! What to answer: the authoritative lookup (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6604
//! CNAME chains, RFC 8482 minimal ANY), independent of sockets and wire format.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use smallvec::SmallVec;

use crate::zone::{Found, Node, WireName, Zone, Zones};

/// CNAME hops followed inside a zone before giving up (loops end here too).
const MAX_CNAME_HOPS: usize = 8;

/// Targets of NS/MX/SRV records for which address records are added to ADDITIONAL.
const MAX_ADDITIONAL_TARGETS: usize = 16;

/// Which owner name to write for an RRset.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// The question's name, as the client spelled it (compressed to a pointer at offset 12).
    Qname,
    /// Each record's own owner name.
    Record,
    /// A given name: a wildcard synthesised at a CNAME target.
    Name(&'a Name),
}

#[derive(Debug, Clone, Copy)]
pub struct RrRef<'a> {
    pub owner: Owner<'a>,
    pub records: &'a [Record],
}

#[derive(Debug)]
pub struct Answer<'a> {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answer: SmallVec<[RrRef<'a>; 4]>,
    pub authority: SmallVec<[RrRef<'a>; 2]>,
    pub additional: SmallVec<[RrRef<'a>; 4]>,
    /// ECS SCOPE PREFIX-LENGTH to return: 0 unless the client's location chose the answer.
    pub ecs_scope: u8,
}

impl<'a> Answer<'a> {
    pub fn new(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: false,
            answer: SmallVec::new(),
            authority: SmallVec::new(),
            additional: SmallVec::new(),
            ecs_scope: 0,
        }
    }

    fn negative(&mut self, zone: &'a Zone, rcode: ResponseCode) {
        self.rcode = rcode;
        self.authority.push(RrRef {
            owner: Owner::Record,
            records: &zone.negative_soa,
        });
    }
}

/// Answers an IN-class question from the static zones.
pub fn lookup<'a>(zones: &'a Zones, qname: &WireName, qtype: RecordType) -> Answer<'a> {
    let Some(zone) = zones.find(qname) else {
        return Answer::new(ResponseCode::Refused);
    };
    let mut ans = Answer::new(ResponseCode::NoError);
    ans.authoritative = true;

    let mut name = qname.clone();
    let mut target: Option<&'a Name> = None;
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
            Found::Node { node, wildcard } => {
                let owner = match target {
                    None if hop == 0 => Owner::Qname,
                    Some(t) if wildcard => Owner::Name(t),
                    _ => Owner::Record,
                };
                if qtype == RecordType::ANY {
                    // RFC 8482 §4.2: one RRset stands for all of them.
                    match node.rrsets.first() {
                        Some(rs) => ans.answer.push(RrRef {
                            owner,
                            records: &rs.records,
                        }),
                        None => ans.negative(zone, ResponseCode::NoError),
                    }
                    return ans;
                }
                if let Some(rs) = node.get(qtype) {
                    ans.answer.push(RrRef {
                        owner,
                        records: &rs.records,
                    });
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
                        .any(|rr| std::ptr::eq(rr.records, &*cname.records))
                    {
                        return ans;
                    }
                    ans.answer.push(RrRef {
                        owner,
                        records: &cname.records,
                    });
                    let RData::CNAME(next) = &cname.records[0].data else {
                        return ans;
                    };
                    // Chase only inside this zone, as NSD and Knot do: data from another zone may
                    // be served by another server set, and the resolver will follow it anyway.
                    if !zone.origin.zone_of(&next.0) {
                        return ans;
                    }
                    target = Some(&next.0);
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

fn referral<'a>(zone: &'a Zone, cut: &'a Node, ans: &mut Answer<'a>) {
    let Some(ns) = cut.get(RecordType::NS) else {
        return;
    };
    ans.authority.push(RrRef {
        owner: Owner::Record,
        records: &ns.records,
    });
    // Glue: addresses of the name servers that live in or below this zone.
    add_target_addresses(zone, &ns.records, ans);
}

/// ADDITIONAL section processing (RFC 1034 §4.3.2 step 6) for NS, MX and SRV targets that this
/// zone holds addresses for.
fn add_target_addresses<'a>(zone: &'a Zone, records: &'a [Record], ans: &mut Answer<'a>) {
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
                ans.additional.push(RrRef {
                    owner: Owner::Record,
                    records: &rs.records,
                });
            }
        }
    }
}
