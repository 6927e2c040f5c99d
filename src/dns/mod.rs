//! The DNS side: turning a query packet into a response packet, and the sockets around it.
//!
//! `respond` is the whole query path for both transports. It reads the query (directly for
//! ordinary queries, with hickory's decoder otherwise: `parse.rs`), answers from the current
//! [`crate::state::State`], and writes the response from records kept in wire form
//! (`crate::wire`): the owner name echoes the question's case, names are compressed against
//! the question, a response that does not fit is truncated to an empty, well-formed TC answer
//! that still carries its OPT record (and so its ECS option), and additional data that does
//! not fit is left out without setting TC.

pub mod answer;
mod parse;
pub mod rrl;
pub mod server;
pub mod udp;
pub mod xdp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tracing::debug;

use crate::dnssec::cache::SigCaches;
use crate::dnssec::types;
use crate::dnssec::zone::packed_iter;
use crate::metrics::{Metrics, NO_ZONE, QueryOutcome, RrlAction, Shard};
use crate::state::{Published, State};
use crate::steering::Client;
use crate::wire::{NameWriter, RecordSet, WireError, WireName, name_wire};
use answer::{Answer, Bytes, Dnssec, Owner, Records, RrRef, Sigs};
use parse::{EDNS_CO, EDNS_DO, Parsed, Query, QueryHeader, TsigIn};
use rrl::{Rrl, Verdict};

/// The UDP payload size geosteer advertises and honours at most: the DNS Flag Day 2020 value,
/// which avoids IP fragmentation on practically every path.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Without EDNS a UDP response is limited to 512 bytes (RFC 1035 §4.2.1).
const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: the answer is limited to the client's payload size.
    Udp,
    /// TCP: up to 65,535 octets.
    Tcp,
}

/// How this instance names itself, as NSD and Knot do, so an operator can tell which of
/// several servers answered: CHAOS TXT `id.server.`/`hostname.bind.` and
/// `version.server.`/`version.bind.`, and the EDNS NSID option (RFC 5001). `None` turns each off.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// CHAOS TXT `id.server.` and `hostname.bind.`.
    pub server_id: Option<String>,
    /// CHAOS TXT `version.server.` and `version.bind.`.
    pub version: Option<String>,
    /// The EDNS NSID option's value.
    pub nsid: Option<Vec<u8>>,
}

impl Identity {
    /// The defaults: the host name for both id and NSID, and this program's version.
    pub fn from_host() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "geosteer".to_string());
        Self {
            nsid: Some(host.clone().into_bytes()),
            server_id: Some(host),
            version: Some(format!("geosteer {}", env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// Answers queries from whatever snapshot is current.
pub struct Responder {
    state: Arc<Published>,
    /// CHAOS TXT answers by lower-cased wire name.
    chaos: Vec<(WireName, RecordSet)>,
    nsid: Option<Vec<u8>>,
    metrics: Arc<Metrics>,
    caches: Arc<SigCaches>,
    /// Response rate limiting of UDP answers, when on.
    rrl: Option<Rrl>,
}

/// Longest NSID sent: it must leave room in a 512-byte answer (identities are short anyway).
const MAX_NSID: usize = 128;

impl Responder {
    /// Answers from `state`, with no identity (CHAOS queries REFUSED, no NSID).
    pub fn new(state: Arc<Published>) -> Self {
        Self::with_identity(state, &Identity::default())
    }

    /// Answers from `state`, naming itself as `identity` says.
    pub fn with_identity(state: Arc<Published>, identity: &Identity) -> Self {
        let mut chaos = Vec::new();
        let names = [
            ("id.server.", &identity.server_id),
            ("hostname.bind.", &identity.server_id),
            ("version.server.", &identity.version),
            ("version.bind.", &identity.version),
        ];
        for (name, value) in names {
            if let Some(v) = value {
                let name = Name::from_ascii(name).expect("static name");
                let mut rec =
                    Record::from_rdata(name.clone(), 0, RData::TXT(TXT::new(vec![v.clone()])));
                rec.dns_class = DNSClass::CH;
                chaos.push((WireName::from_name(&name), RecordSet::new(vec![rec])));
            }
        }
        let nsid = identity
            .nsid
            .as_ref()
            .filter(|n| n.len() <= MAX_NSID)
            .cloned();
        Self {
            state,
            chaos,
            nsid,
            metrics: Arc::default(),
            caches: Arc::default(),
            rrl: None,
        }
    }

    /// Signs steered answers and denial proofs through `caches`.
    pub fn with_signature_caches(mut self, caches: Arc<SigCaches>) -> Self {
        self.caches = caches;
        self
    }

    /// The signature caches.
    pub fn signature_caches(&self) -> &Arc<SigCaches> {
        &self.caches
    }

    /// Rate-limits UDP responses as `rrl` says (see [`rrl`]).
    pub fn with_rrl(mut self, rrl: Rrl) -> Self {
        self.rrl = Some(rrl);
        self
    }

    /// What rate limiting decides for a UDP response of `kind` about `key` to `src`; counted
    /// into `shard` when over the limit. TCP is never limited.
    fn rate_limit(
        &self,
        transport: Transport,
        src: SocketAddr,
        (kind, key): (rrl::Kind, u64),
        shard: Option<&Shard>,
    ) -> Verdict {
        let Some(rrl) = self.rrl.as_ref().filter(|_| transport == Transport::Udp) else {
            return Verdict::Send;
        };
        let verdict = rrl.check(src.ip(), kind, key);
        if let Some(shard) = shard {
            match verdict {
                Verdict::Send => {}
                Verdict::LogOnly => shard.count_rrl(RrlAction::LogOnly),
                Verdict::Slip => shard.count_rrl(RrlAction::Slipped),
                Verdict::Drop => shard.count_rrl(RrlAction::Dropped),
            }
        }
        verdict
    }

    /// Counts into `metrics` (serving tasks take their shards from it).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The counters it counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The published state it answers from.
    pub fn state(&self) -> &Arc<Published> {
        &self.state
    }

    fn chaos_answer(&self, qname: &WireName, qtype: RecordType) -> Answer<'_> {
        let Some((_, records)) = self
            .chaos
            .iter()
            .find(|(n, _)| n.as_bytes() == qname.as_bytes())
        else {
            return Answer::new(ResponseCode::Refused);
        };
        let mut ans = Answer::new(ResponseCode::NoError);
        ans.authoritative = true;
        if matches!(qtype, RecordType::TXT | RecordType::ANY) {
            ans.answer.push(RrRef::all(Owner::Qname, records));
        }
        ans
    }

    /// Writes the response to `query` into `out`. Returns false when nothing should be sent:
    /// packets too short to carry a header, and responses (which must never be answered, or two
    /// servers could be made to ping-pong).
    pub fn respond(
        &self,
        query: &[u8],
        src: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> bool {
        self.respond_counted(query, src, transport, out, None)
    }

    /// [`Responder::respond_counted`] under the panic policy ([`crate::panics`]): a panic while
    /// answering is caught and counted, and the query is answered SERVFAIL (a bare header:
    /// its ID, opcode and RD), so that the thread or connection goes on serving.
    pub fn respond_caught(
        &self,
        packet: &[u8],
        src: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
        shard: Option<&Shard>,
    ) -> bool {
        let site = match transport {
            Transport::Udp => crate::panics::Site::Udp,
            Transport::Tcp => crate::panics::Site::Tcp,
        };
        if let Some(sent) = crate::panics::catch(site, || {
            self.respond_counted(packet, src, transport, out, shard)
        }) {
            return sent;
        }
        // Only queries get this far (a response is ignored before anything can panic).
        if packet.len() < 12 || packet[2] & 0x80 != 0 {
            return false;
        }
        out.clear();
        out.extend_from_slice(&packet[..12]);
        out[2] = 0x80 | (packet[2] & 0x79); // QR, opcode, RD; no AA, no TC
        out[3] = ResponseCode::ServFail.low();
        out[4..12].fill(0);
        true
    }

    /// [`Responder::respond`], counting the query into `shard`.
    pub fn respond_counted(
        &self,
        packet: &[u8],
        src: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
        shard: Option<&Shard>,
    ) -> bool {
        crate::panics::inject(crate::panics::Inject::Query, || {
            packet.get(12..18) == Some(b"\x05panic")
        });
        let mut holder = None;
        let q = match parse::parse(packet, &mut holder, src) {
            Parsed::Query(q) => q,
            Parsed::Ignore => return false,
            Parsed::Malformed(h, why) => {
                debug!(reason = why.reason(), client = %src, "malformed query: FORMERR");
                out.clear();
                out.resize(12, 0);
                let class = (
                    rrl::Kind::Error,
                    u64::from(u16::from(ResponseCode::FormErr)),
                );
                let verdict = self.rate_limit(transport, src, class, shard);
                let tc = verdict == Verdict::Slip;
                header(out, &h, false, tc, ResponseCode::FormErr);
                if let Some(shard) = shard {
                    shard.count(&QueryOutcome {
                        zone: NO_ZONE,
                        qtype: RecordType::Unknown(0),
                        rcode: ResponseCode::FormErr,
                        tcp: transport == Transport::Tcp,
                        ecs: false,
                        steered: None,
                        malformed: Some(why),
                    });
                }
                return verdict != Verdict::Drop;
            }
        };
        let limit = match transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => usize::from(q.edns.as_ref().map_or(CLASSIC_UDP_PAYLOAD, |e| {
                e.payload.clamp(CLASSIC_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
            })),
        };
        let state = self.state.load();
        // No ECS is echoed in an error about EDNS itself.
        let ecs = q
            .edns
            .as_ref()
            .filter(|e| e.version == 0)
            .and_then(|e| e.ecs.ok().flatten());
        // The signatures in effect, read once, when the answer may need them: a query with DO,
        // or one for a type a signed zone makes itself.
        let signed = state.config.signing.as_ref().filter(|_| {
            q.edns.as_ref().is_some_and(|e| e.dnssec_ok)
                || matches!(
                    q.qtype,
                    RecordType::DNSKEY
                        | RecordType::CDS
                        | RecordType::CDNSKEY
                        | RecordType::NSEC
                        | RecordType::RRSIG
                        | RecordType::NSEC3
                        | RecordType::NSEC3PARAM
                        | RecordType::ANY
                )
        });
        let zones = signed.map(|s| s.signed.load());
        let dnssec = match (signed, zones.as_deref()) {
            (Some(s), Some(zones)) => Some(Dnssec {
                zones,
                scheme: s.policy.scheme,
                dnssec_ok: q.edns.as_ref().is_some_and(|e| e.dnssec_ok),
                compact_ok: q.edns.as_ref().is_some_and(|e| e.compact_ok),
                caches: &self.caches,
                now: crate::dnssec::time::now(),
            }),
            _ => None,
        };
        let made = MADE.with(|m| std::mem::take(&mut *m.borrow_mut()));
        let mut ans = self.answer(&q, &state, ecs, src, transport, dnssec.as_ref(), made);
        if q.qclass == DNSClass::ANY {
            // QCLASS ANY is answered from the IN zones, but "responses to QCLASS=* queries can
            // never be authoritative" (RFC 1034 §3.7.1): no AA, and so no SOA for a negative
            // answer, as NSD answers (Knot answers as for IN). (Done here, in place: the
            // answer is not moved once more on every query's path.)
            ans.not_authoritative();
        }
        if let Some(why) = ans.malformed {
            debug!(reason = why.reason(), client = %src, "malformed query: FORMERR");
        }
        let opt = q.edns.as_ref().map(|e| OptOut {
            rcode_high: ans.rcode.high(),
            // RFC 3225 §3: DO is copied into the response; CO is returned to a client that
            // sent it with DO (RFC 9824 §4.1).
            flags: if e.dnssec_ok {
                EDNS_DO | if e.compact_ok { EDNS_CO } else { 0 }
            } else {
                0
            },
            ecs: ecs.map(|cs| (cs, ans.ecs_scope.min(cs.source_prefix()))),
            nsid: if e.nsid { self.nsid.as_deref() } else { None },
            ede: ans.ede,
        });
        let verdict = self.rate_limit(transport, src, rrl_class(&q, &ans), shard);
        if verdict == Verdict::Slip {
            // BIND's and Knot's slip: the response's code and flags, no records, TC=1.
            let mut empty = Answer::new(ans.rcode);
            empty.authoritative = ans.authoritative;
            encode(out, &q, &empty, opt.as_ref(), limit);
            out[2] |= 0x02;
        } else {
            encode(out, &q, &ans, opt.as_ref(), limit);
        }
        let signed_online = ans.signed_online;
        let steered = ans.steered;
        let (zone_label, rcode, malformed) = (ans.zone_label, ans.rcode, ans.malformed);
        MADE.with(|m| *m.borrow_mut() = ans.made);
        if let Some(shard) = shard {
            shard.count(&QueryOutcome {
                zone: zone_label,
                qtype: q.qtype,
                rcode,
                tcp: transport == Transport::Tcp,
                ecs: ecs.is_some(),
                steered,
                malformed,
            });
            if signed_online > 0 {
                shard.count_signatures(u64::from(signed_online));
            }
        }
        verdict != Verdict::Drop
    }

    #[allow(clippy::too_many_arguments)]
    fn answer<'a>(
        &'a self,
        q: &Query<'_>,
        state: &'a State,
        ecs: Option<ClientSubnet>,
        src: SocketAddr,
        transport: Transport,
        dnssec: Option<&'a Dnssec<'a>>,
        made: Vec<u8>,
    ) -> Answer<'a> {
        // RFC 8945 §5.2.2: a signed query whose key the server does not know gets NOTAUTH
        // (with TSIG error BADKEY, written by `encode`), before anything else is looked at.
        // geosteer has no keys, so that is every signed query; answering it unsigned would
        // leave the client to reject the answer as a spoof (NSD and Knot do the same).
        if q.tsig.is_some() {
            return Answer::new(ResponseCode::NotAuth);
        }
        if let Some(e) = &q.edns {
            if e.version > 0 {
                return Answer::new(ResponseCode::BADVERS);
            }
            if let Err(why) = e.ecs {
                return Answer::malformed(why);
            }
        }
        if q.header.opcode != 0 {
            return Answer::new(ResponseCode::NotImp);
        }
        if q.qdcount != 1 {
            return Answer::malformed(WireError::QuestionCount);
        }
        let Some(qname) = &q.qname else {
            return Answer::malformed(WireError::QuestionName);
        };
        // Every other type, meta types (OPT, TSIG, TKEY, MAILA, MAILB) included, is looked up
        // like a data type, as NSD and Knot do: a name has no records of it, so the answer is
        // NODATA (or a CNAME, a referral, NXDOMAIN).
        match q.qtype {
            // AXFR runs over TCP only (RFC 5936 §4.2): over UDP it is NOTIMP, as NSD and Knot
            // answer it.
            RecordType::AXFR if transport == Transport::Udp => {
                return Answer::new(ResponseCode::NotImp);
            }
            // Zone transfers are not offered. Of a zone served: REFUSED, "Prohibited", as NSD
            // answers (Knot says NOTAUTH). Of any other name, which is no zone: NOTAUTH, as NSD
            // and Knot answer.
            RecordType::AXFR | RecordType::IXFR => {
                return if state.config.zones.is_apex(qname) {
                    Answer::refused(answer::EDE_PROHIBITED)
                } else {
                    Answer::new(ResponseCode::NotAuth)
                };
            }
            // RFC 9824 §3.4: NXNAME is a meta-type for NSEC bitmaps, never queried.
            t if u16::from(t) == types::NXNAME => {
                return Answer::malformed(WireError::BadQuestionType);
            }
            _ => {}
        }
        if q.qclass == DNSClass::CH {
            return self.chaos_answer(qname, q.qtype);
        }
        // QCLASS ANY: answered from the IN zones (see `respond`).
        if q.qclass != DNSClass::IN && q.qclass != DNSClass::ANY {
            return Answer::new(ResponseCode::Refused);
        }
        // RFC 7871 §7.1.2: the ECS address stands for the client unless its source prefix
        // is 0, which asks that the resolver's own address be used.
        let addr = match ecs {
            Some(cs) if cs.source_prefix() > 0 => cs.addr(),
            _ => src.ip(),
        };
        let client = Client {
            resolver: src.ip(),
            ..Client::at(addr)
        };
        answer::lookup_signed(state, qname, q.qtype, client, dnssec, made)
    }
}

thread_local! {
    /// The buffer signed answers build in, lent to each answer on this thread in turn.
    static MADE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A response's kind and key for rate limiting (see [`rrl`]): an answer by the RRset that
/// answers it (a wildcard's RRset whatever name matched, a pool's records whatever order)
/// and the query type; NXDOMAIN, NODATA and referrals by zone; errors by code.
///
/// A signed answer is classed as the unsigned one: RRSIGs ride with their RRset and NSECs in
/// the authority section, so neither changes the kind or the key, and a compact denial's
/// NOERROR (RFC 9824) counts as the NXDOMAIN it stands for.
fn rrl_class(q: &Query<'_>, ans: &Answer<'_>) -> (rrl::Kind, u64) {
    let zone = u64::from(ans.zone_label);
    if ans.compact_nxdomain && ans.rcode == ResponseCode::NoError {
        return (rrl::Kind::NxDomain, zone);
    }
    match ans.rcode {
        ResponseCode::NoError => match ans.answer.first() {
            Some(rr) => {
                let at = match &rr.records {
                    Records::All(set) | Records::Picked(set, _) => std::ptr::from_ref(*set) as u64,
                    // A record made for this answer (a CNAME from a DNAME, an NSEC): by zone and type.
                    Records::Raw(rtype, _, _) => zone << 16 | u64::from(*rtype),
                    // RRSIGs asked for by type: by the signatures' set.
                    Records::Rrsigs(sigs, _) => std::ptr::from_ref(*sigs) as u64,
                };
                (rrl::Kind::Answer, at ^ u64::from(u16::from(q.qtype)) << 48)
            }
            None if !ans.authoritative && !ans.authority.is_empty() => (rrl::Kind::Referral, zone),
            None => (rrl::Kind::NoData, zone),
        },
        ResponseCode::NXDomain => (rrl::Kind::NxDomain, zone),
        rcode => (rrl::Kind::Error, u64::from(u16::from(rcode))),
    }
}

/// The OPT record of a response.
struct OptOut<'a> {
    rcode_high: u8,
    /// The flags field: DO (and CO) echoed.
    flags: u16,
    /// The query's ECS option, echoed, with the scope to return.
    ecs: Option<(ClientSubnet, u8)>,
    nsid: Option<&'a [u8]>,
    /// An Extended DNS Error (RFC 8914).
    ede: Option<answer::Ede>,
}

impl OptOut<'_> {
    fn len(&self) -> usize {
        let ecs = self
            .ecs
            .map_or(0, |(cs, _)| 8 + usize::from(cs.source_prefix()).div_ceil(8));
        let ede = self.ede.map_or(0, |e| 6 + e.text.len());
        11 + ecs + self.nsid.map_or(0, |n| 4 + n.len()) + ede
    }

    fn write(&self, out: &mut Vec<u8>) {
        // Root owner, type OPT, our payload size as class, extended rcode / version 0 / flags
        // as TTL.
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[self.rcode_high, 0]);
        out.extend_from_slice(&self.flags.to_be_bytes());
        let rdlen = self.len() - 11;
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        if let Some(n) = self.nsid {
            out.extend_from_slice(&3u16.to_be_bytes());
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n);
        }
        if let Some((cs, scope)) = self.ecs {
            // FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as the query sent them (RFC 7871 §7.2.1).
            let octets = usize::from(cs.source_prefix()).div_ceil(8);
            out.extend_from_slice(&8u16.to_be_bytes());
            out.extend_from_slice(&((4 + octets) as u16).to_be_bytes());
            let (family, addr): (u16, [u8; 16]) = match cs.addr() {
                IpAddr::V4(a) => {
                    let mut b = [0u8; 16];
                    b[..4].copy_from_slice(&a.octets());
                    (1, b)
                }
                IpAddr::V6(a) => (2, a.octets()),
            };
            out.extend_from_slice(&family.to_be_bytes());
            out.extend_from_slice(&[cs.source_prefix(), scope]);
            out.extend_from_slice(&addr[..octets]);
        }
        if let Some(e) = self.ede {
            // OPTION-CODE 15, OPTION-LENGTH, INFO-CODE, EXTRA-TEXT (RFC 8914 §2).
            out.extend_from_slice(&15u16.to_be_bytes());
            out.extend_from_slice(&((2 + e.text.len()) as u16).to_be_bytes());
            out.extend_from_slice(&e.code.to_be_bytes());
            out.extend_from_slice(e.text.as_bytes());
        }
    }
}

/// TSIG ERROR BADKEY (RFC 8945 §3).
const TSIG_BADKEY: u16 = 17;

fn tsig_len(t: &TsigIn) -> usize {
    t.key.as_bytes().len() + 10 + t.algorithm.as_bytes().len() + 16
}

/// The unsigned TSIG record of a BADKEY error (RFC 8945 §5.3.2): the query's key and
/// algorithm names, its Time Signed, Fudge and Original ID, no MAC, error BADKEY.
fn write_badkey(out: &mut Vec<u8>, t: &TsigIn) {
    out.extend_from_slice(t.key.as_bytes());
    out.extend_from_slice(&u16::from(RecordType::TSIG).to_be_bytes());
    out.extend_from_slice(&u16::from(DNSClass::ANY).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = t.algorithm.as_bytes().len() + 16;
    out.extend_from_slice(&(rdlen as u16).to_be_bytes());
    out.extend_from_slice(t.algorithm.as_bytes());
    out.extend_from_slice(&t.time.to_be_bytes()[2..8]);
    out.extend_from_slice(&t.fudge.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // MAC size
    out.extend_from_slice(&t.oid.to_be_bytes()); // Original ID
    out.extend_from_slice(&TSIG_BADKEY.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // Other Len
}

/// Header flags: QR, the query's ID, opcode and RD; AA and TC as given; RA never; CD copied
/// (RFC 6895 §2).
fn header(out: &mut [u8], q: &QueryHeader, aa: bool, tc: bool, rcode: ResponseCode) {
    out[0..2].copy_from_slice(&q.id.to_be_bytes());
    out[2] = 0x80 | (q.opcode & 0x0f) << 3 | u8::from(aa) << 2 | u8::from(tc) << 1 | u8::from(q.rd);
    out[3] = u8::from(q.cd) << 4 | rcode.low();
}

/// Writes whole RRsets, each with its RRSIGs, until one does not fit in `limit`; that one is
/// taken back entirely, RRSIGs included, so a section never holds part of an RRset nor an
/// RRset without its signatures (a resolver would cache it as if complete; NSD does the
/// same). `made` holds what the answer made for itself. Returns (records written, all
/// written).
fn write_section(
    out: &mut Vec<u8>,
    names: &NameWriter<'_>,
    section: &[RrRef<'_>],
    made: &[u8],
    limit: usize,
) -> (u16, bool) {
    let mut count = 0u16;
    for rrset in section {
        let mark = out.len();
        let before = count;
        let given: Vec<u8>;
        let owner: Option<&[u8]> = match rrset.owner {
            Owner::Qname => Some(&[]),
            Owner::Record => None,
            Owner::Name(n) => {
                given = name_wire(n);
                Some(&given)
            }
            Owner::Wire(w) => Some(w),
            Owner::Made(span) => Some(span.of(made)),
        };
        // The RRSIGs take the RRset's owner and TTL (RFC 4034 §3).
        let mut sig_owner: &[u8] = owner.unwrap_or(&[0]);
        let mut ttl = 0;
        match &rrset.records {
            Records::All(_) | Records::Picked(..) => {
                for (i, rec) in rrset.records.wire().enumerate() {
                    if i == 0 {
                        ttl = rec.ttl();
                        if owner.is_none() {
                            sig_owner = rec.owner();
                        }
                    }
                    names.record(out, rec, owner);
                    count = count.saturating_add(1);
                }
            }
            Records::Raw(rtype, t, bytes) => {
                ttl = *t;
                let rdata = match bytes {
                    Bytes::Static(b) => b,
                    Bytes::Made(span) => span.of(made),
                };
                names.raw(out, sig_owner, *rtype, ttl, rdata);
                count = count.saturating_add(1);
            }
            Records::Rrsigs(set, t) => {
                for rdata in set.iter() {
                    names.raw(out, sig_owner, types::RRSIG, *t, rdata);
                    count = count.saturating_add(1);
                }
            }
        }
        let sigs = match rrset.sigs {
            Sigs::None => &[][..],
            Sigs::Static(set) => set.packed(),
            Sigs::Made(span) => span.of(made),
        };
        for rdata in packed_iter(sigs) {
            names.raw(out, sig_owner, types::RRSIG, ttl, rdata);
            count = count.saturating_add(1);
        }
        if out.len() > limit {
            out.truncate(mark);
            return (before, false);
        }
    }
    (count, true)
}

fn encode(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    ans: &Answer<'_>,
    opt: Option<&OptOut<'_>>,
    limit: usize,
) {
    out.clear();
    out.resize(12, 0);
    out.extend_from_slice(q.question);
    let qdcount = u16::from(!q.question.is_empty());
    // A query without a readable name (answered with an error) compresses against the root.
    let names = NameWriter::new(q.qname.as_ref().map_or(&[0u8][..], WireName::as_bytes));
    // A BADKEY TSIG whose names are long may not fit beside the question in a 512-byte UDP
    // answer: then the answer goes without it, with TC set, and the client's retry over TCP
    // gets the whole error (RFC 8945 §5.3: a response must never exceed the limit).
    let opt_len = opt.map_or(0, OptOut::len);
    let tsig = q
        .tsig
        .as_deref()
        .filter(|t| 12 + q.question.len() + opt_len + tsig_len(t) <= limit);
    let tsig_left_out = q.tsig.is_some() && tsig.is_none();
    // Room is kept for the OPT record and a TSIG one, which go last.
    let room = limit
        .saturating_sub(opt_len)
        .saturating_sub(tsig.map_or(0, tsig_len));
    let made = &ans.made[..];
    let (answers, all_answers) = write_section(out, &names, &ans.answer, made, room);
    let (authorities, all_authorities) = if all_answers {
        write_section(out, &names, &ans.authority, made, room)
    } else {
        (0, false)
    };
    let (counts, tc) = if all_answers && all_authorities && !tsig_left_out {
        // Additional data is optional: what does not fit is dropped without TC (RFC 2181 §9).
        let (additionals, _) = write_section(out, &names, &ans.additional, made, room);
        ((answers, authorities, additionals), false)
    } else {
        // RFC 2181 §9: the client must retry over TCP. The whole RRsets that fitted stay, as
        // NSD and Knot send them; a partial one would be cached as if complete, so there is
        // none.
        ((answers, authorities, 0), true)
    };
    let mut arcount = counts.2;
    if let Some(o) = opt {
        o.write(out);
        arcount += 1;
    }
    if let Some(t) = tsig {
        write_badkey(out, t);
        arcount += 1;
    }
    header(out, &q.header, ans.authoritative, tc, ans.rcode);
    out[4..6].copy_from_slice(&qdcount.to_be_bytes());
    out[6..8].copy_from_slice(&counts.0.to_be_bytes());
    out[8..10].copy_from_slice(&counts.1.to_be_bytes());
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
}
