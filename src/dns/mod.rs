//! The DNS side: turning a query packet into a response packet, and the sockets around it.
//!
//! `respond` is the whole query path for both transports. It parses with hickory (header,
//! question, EDNS), answers from the current [`Snapshot`], and writes the response itself so
//! that it controls what hickory's encoder does not: the owner name echoes the question's case,
//! a response that does not fit is truncated to an empty, well-formed TC answer that still
//! carries its OPT record (and so its ECS option), and additional data that does not fit is left
//! out without setting TC.

pub mod answer;
pub mod server;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::ProtoError;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use crate::load::State;
use crate::metrics::{Metrics, NO_ZONE, QueryOutcome, Shard};
use crate::steering::Client;
use crate::zone::WireName;
use answer::{Answer, Owner, RrRef};

/// The UDP payload size geosteer advertises and honours at most: the DNS Flag Day 2020 value,
/// which avoids IP fragmentation on practically every path.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Without EDNS a UDP response is limited to 512 bytes (RFC 1035 §4.2.1).
const CLASSIC_UDP_PAYLOAD: u16 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// How this instance names itself, as NSD and Knot do, so an operator can tell which of
/// several servers answered: CHAOS TXT `id.server.`/`hostname.bind.` and
/// `version.server.`/`version.bind.`, and the EDNS NSID option (RFC 5001). `None` turns each off.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub server_id: Option<String>,
    pub version: Option<String>,
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
    state: Arc<ArcSwap<State>>,
    /// CHAOS TXT answers by lower-cased wire name.
    chaos: Vec<(WireName, Box<[Record]>)>,
    nsid: Option<NSIDPayload>,
    metrics: Arc<Metrics>,
}

impl Responder {
    pub fn new(state: Arc<ArcSwap<State>>) -> Self {
        Self::with_identity(state, &Identity::default())
    }

    pub fn with_identity(state: Arc<ArcSwap<State>>, identity: &Identity) -> Self {
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
                chaos.push((WireName::from_name(&name), Box::new([rec]) as Box<[Record]>));
            }
        }
        let nsid = identity
            .nsid
            .as_ref()
            .and_then(|n| NSIDPayload::new(n.clone()).ok());
        Self {
            state,
            chaos,
            nsid,
            metrics: Arc::default(),
        }
    }

    /// Counts into `metrics` (serving tasks take their shards from it).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn state(&self) -> &Arc<ArcSwap<State>> {
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
            ans.answer.push(RrRef {
                owner: Owner::Qname,
                records: answer::Records::All(records),
            });
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

    /// [`Responder::respond`], counting the query into `shard`.
    pub fn respond_counted(
        &self,
        query: &[u8],
        src: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
        shard: Option<&Shard>,
    ) -> bool {
        let mut decoder = BinDecoder::new(query);
        let Ok(header) = Header::read(&mut decoder) else {
            return false;
        };
        if header.metadata.message_type == MessageType::Response {
            return false;
        }
        let protocol = match transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        };
        let mut meta = Metadata::response_from_request(&header.metadata);
        let request = match Request::from_bytes(query.to_vec(), src, protocol) {
            Ok(r) => r,
            Err(_) => {
                meta.response_code = ResponseCode::FormErr;
                encode_header_only(out, meta);
                if let Some(shard) = shard {
                    shard.count(&QueryOutcome {
                        zone: NO_ZONE,
                        qtype: RecordType::Unknown(0),
                        rcode: ResponseCode::FormErr,
                        transport,
                        ecs: false,
                        steered: None,
                    });
                }
                return true;
            }
        };

        let limit = match transport {
            Transport::Tcp => u16::MAX,
            Transport::Udp => request.edns.as_ref().map_or(CLASSIC_UDP_PAYLOAD, |e| {
                e.max_payload().clamp(CLASSIC_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
            }),
        };
        // Only a single question is answered; with none or several, none is echoed.
        let question: &[u8] = if request.queries.len() == 1 {
            request.queries.as_bytes()
        } else {
            &[]
        };
        let state = self.state.load();
        let mut ecs = None;
        let mut resp_edns = None;
        let ans = (|| {
            if let Some(req_edns) = &request.edns {
                let mut e = Edns::new();
                e.set_max_payload(MAX_UDP_PAYLOAD);
                resp_edns = Some(e);
                if req_edns.version() > 0 {
                    return Answer::new(ResponseCode::BADVERS);
                }
                match client_subnet(req_edns, query) {
                    Ok(c) => ecs = c,
                    Err(()) => return Answer::new(ResponseCode::FormErr),
                }
                if req_edns.option(EdnsCode::NSID).is_some()
                    && let (Some(e), Some(nsid)) = (resp_edns.as_mut(), &self.nsid)
                {
                    e.options_mut().insert(EdnsOption::NSID(nsid.clone()));
                }
            }
            if request.metadata.op_code != OpCode::Query {
                return Answer::new(ResponseCode::NotImp);
            }
            if request.queries.len() != 1 {
                return Answer::new(ResponseCode::FormErr);
            }
            let q = &request.queries.queries()[0];
            let Some(qname) = WireName::from_wire(question) else {
                return Answer::new(ResponseCode::FormErr);
            };
            let qtype = q.query_type();
            match qtype {
                RecordType::OPT | RecordType::TSIG | RecordType::SIG | RecordType::NULL => {
                    return Answer::new(ResponseCode::FormErr);
                }
                // Zone transfers are not offered; NSD and Knot refuse them when not allowed.
                RecordType::AXFR | RecordType::IXFR => {
                    return Answer::new(ResponseCode::Refused);
                }
                _ => {}
            }
            if q.query_class() == DNSClass::CH {
                return self.chaos_answer(&qname, qtype);
            }
            if q.query_class() != DNSClass::IN {
                return Answer::new(ResponseCode::Refused);
            }
            // RFC 7871 §7.1.2: the ECS address stands for the client unless its source prefix
            // is 0, which asks that the resolver's own address be used.
            let addr = match &ecs {
                Some(cs) if cs.source_prefix() > 0 => cs.addr(),
                _ => src.ip(),
            };
            answer::lookup(&state, &qname, qtype, Client { addr })
        })();

        meta.response_code = ans.rcode;
        meta.authoritative = ans.authoritative;
        if let (Some(e), Some(mut subnet)) = (resp_edns.as_mut(), ecs) {
            subnet.set_scope_prefix(ans.ecs_scope.min(subnet.source_prefix()));
            e.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        encode(out, meta, question, &ans, resp_edns.as_mut(), limit);
        if let Some(shard) = shard {
            let qtype = request
                .queries
                .queries()
                .first()
                .map_or(RecordType::Unknown(0), |q| q.query_type());
            shard.count(&QueryOutcome {
                zone: ans.zone_label,
                qtype,
                rcode: ans.rcode,
                transport,
                ecs: ecs.is_some(),
                steered: ans.steered,
            });
        }
        true
    }
}

/// The query's ECS option, checked as RFC 7871 §6 and §7.1.1 ask. hickory already rejects
/// unknown families, prefixes longer than the family allows and too few address octets; the
/// rest is checked here. `packet` is the whole query, for what hickory's parsed option no longer
/// shows.
fn client_subnet(edns: &Edns, packet: &[u8]) -> Result<Option<ClientSubnet>, ()> {
    let Some(EdnsOption::Subnet(cs)) = edns.option(EdnsCode::Subnet) else {
        return Ok(None);
    };
    if cs.scope_prefix() != 0 {
        return Err(());
    }
    // hickory reads ceil(SOURCE/8) address octets and ignores any beyond them; more octets
    // than that (a full address sent with a shorter prefix, say) SHOULD get FORMERR.
    if ecs_option_len(packet).is_some_and(|len| len != usize::from(cs.len())) {
        return Err(());
    }
    let source = cs.source_prefix();
    let beyond_prefix = match cs.addr() {
        IpAddr::V4(a) => source > 32 || (source < 32 && u32::from(a) & (u32::MAX >> source) != 0),
        IpAddr::V6(a) => {
            source > 128 || (source < 128 && u128::from(a) & (u128::MAX >> source) != 0)
        }
    };
    if beyond_prefix {
        return Err(());
    }
    Ok(Some(*cs))
}

/// The OPTION-LENGTH of the first ECS option in `packet`'s OPT record, as sent. `None` when
/// the packet has none (or cannot be walked, which hickory would have rejected already).
fn ecs_option_len(packet: &[u8]) -> Option<usize> {
    let mut d = BinDecoder::new(packet);
    let counts = Header::read(&mut d).ok()?.counts;
    for _ in 0..counts.queries {
        Query::read(&mut d).ok()?;
    }
    let records =
        u32::from(counts.answers) + u32::from(counts.authorities) + u32::from(counts.additionals);
    for _ in 0..records {
        Name::read(&mut d).ok()?;
        let rtype = d.read_u16().ok()?.unverified();
        d.read_slice(6).ok()?; // CLASS, TTL
        let rdlen = d.read_u16().ok()?.unverified();
        let rdata = d.read_slice(usize::from(rdlen)).ok()?.unverified();
        if rtype != u16::from(RecordType::OPT) {
            continue;
        }
        let mut opts = rdata;
        while opts.len() >= 4 {
            let code = u16::from_be_bytes([opts[0], opts[1]]);
            let len = usize::from(u16::from_be_bytes([opts[2], opts[3]]));
            if code == u16::from(EdnsCode::Subnet) {
                return Some(len);
            }
            opts = opts.get(4 + len..)?;
        }
        return None;
    }
    None
}

fn encode_header_only(out: &mut Vec<u8>, metadata: Metadata) {
    out.clear();
    let mut enc = BinEncoder::new(out);
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    // A 12-byte header always fits.
    let _ = header.emit(&mut enc);
}

/// Writes one resource record. `Owner::Qname` becomes a pointer to the question's name at
/// offset 12, so the answer repeats the client's spelling (as NSD and Knot do).
fn emit_rr(enc: &mut BinEncoder<'_>, owner: Owner<'_>, rec: &Record) -> Result<(), ProtoError> {
    match owner {
        Owner::Qname => enc.emit_u16(0xC00C)?,
        Owner::Record => rec.name.emit(enc)?,
        Owner::Name(n) => n.emit(enc)?,
    }
    rec.record_type().emit(enc)?;
    rec.dns_class.emit(enc)?;
    enc.emit_u32(rec.ttl)?;
    let place = enc.place::<u16>()?;
    rec.data.emit(enc)?;
    let len = enc.len_since_place(&place);
    place.replace(enc, len as u16)?;
    Ok(())
}

/// Emits whole RRsets until one does not fit; that one is rolled back entirely, so a section
/// never holds part of an RRset (a resolver would cache it as if complete; NSD does the same).
/// Returns (records written, all written).
fn emit_section(enc: &mut BinEncoder<'_>, section: &[RrRef<'_>]) -> (u16, bool) {
    let mut count = 0;
    for rrset in section {
        let mark = enc.offset();
        for rec in rrset.records.iter() {
            if emit_rr(enc, rrset.owner, rec).is_err() {
                enc.set_offset(mark);
                enc.trim();
                return (count, false);
            }
        }
        count += rrset.records.len() as u16;
    }
    (count, true)
}

fn opt_len(edns: &Edns) -> u16 {
    // root name (1) + type, class, ttl, rdlength (10), then each option's code and length (4).
    11 + edns
        .options()
        .as_ref()
        .iter()
        .map(|(_, o)| 4 + o.len())
        .sum::<u16>()
}

fn encode(
    out: &mut Vec<u8>,
    mut metadata: Metadata,
    question: &[u8],
    ans: &Answer<'_>,
    edns: Option<&mut Edns>,
    limit: u16,
) {
    out.clear();
    let mut enc = BinEncoder::new(out);
    let reserve = edns.as_deref().map_or(0, opt_len);
    enc.set_max_size(limit.saturating_sub(reserve));
    let mut counts = HeaderCounts {
        queries: u16::from(!question.is_empty()),
        ..HeaderCounts::default()
    };
    // The header is written last, once counts and flags are known.
    let written = enc
        .emit_vec(&[0u8; 12])
        .and_then(|_| enc.emit_vec(question));
    if written.is_err() {
        metadata.response_code = ResponseCode::ServFail;
        drop(enc);
        encode_header_only(out, metadata);
        return;
    }
    let after_question = enc.offset();
    let (answers, all_answers) = emit_section(&mut enc, &ans.answer);
    let (authorities, all_authorities) = if all_answers {
        emit_section(&mut enc, &ans.authority)
    } else {
        (0, false)
    };
    if all_answers && all_authorities {
        counts.answers = answers;
        counts.authorities = authorities;
        // Additional data is optional: what does not fit is dropped without TC (RFC 2181 §9).
        counts.additionals = emit_section(&mut enc, &ans.additional).0;
    } else {
        // RFC 2181 §9: the client must retry over TCP. Partial RRsets would be cached as if
        // complete, so send none, as NSD does.
        enc.set_offset(after_question);
        enc.trim();
        metadata.truncation = true;
    }
    enc.set_max_size(limit);
    if let Some(e) = edns {
        e.set_rcode_high(metadata.response_code.high());
        if e.emit(&mut enc).is_ok() {
            counts.additionals += 1;
        }
    }
    let end = enc.offset();
    enc.set_offset(0);
    let _ = Header { metadata, counts }.emit(&mut enc);
    enc.set_offset(end);
}
