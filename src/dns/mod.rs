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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::ProtoError;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use crate::load::Snapshot;
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

/// Answers queries from whatever snapshot is current.
pub struct Responder {
    state: Arc<ArcSwap<Snapshot>>,
}

impl Responder {
    pub fn new(state: Arc<ArcSwap<Snapshot>>) -> Self {
        Self { state }
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
        let snapshot = self.state.load();
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
            if q.query_class() != DNSClass::IN {
                return Answer::new(ResponseCode::Refused);
            }
            answer::lookup(&snapshot.zones, &qname, qtype)
        })();

        meta.response_code = ans.rcode;
        meta.authoritative = ans.authoritative;
        if let (Some(e), Some(mut subnet)) = (resp_edns.as_mut(), ecs) {
            subnet.set_scope_prefix(ans.ecs_scope.min(subnet.source_prefix()));
            e.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        encode(out, meta, question, &ans, resp_edns.as_mut(), limit);
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
        for rec in rrset.records {
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
