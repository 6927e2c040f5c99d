//! Reading a query: a direct parse for the queries servers actually get (one question, at
//! most an OPT record), hickory's full decoder for everything else.
//!
//! Both produce the same [`Query`], so the rest of the query path does not know which ran.
//! The direct parse accepts only what it checks completely. What the section walker finds
//! malformed (a compression pointer in the question, options that overrun their OPT record,
//! a second OPT, trailing bytes) is FORMERR without going further; anything else unusual —
//! other opcodes or record counts, EDNS versions above 0 — goes to hickory, whose errors
//! become FORMERR too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Header, MessageType};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use crate::wire::message::{Records, Section, be16, diagnose, options};
use crate::wire::{Pointers, WireError, WireName, name_end};

/// EDNS as the query path needs it.
#[derive(Debug, Clone, Copy)]
pub struct EdnsIn {
    pub payload: u16,
    pub version: u8,
    /// The ECS option: `Err` when present but malformed (RFC 7871 §7.1.1: FORMERR), or when
    /// the options themselves overrun the OPT record (RFC 6891 §7: FORMERR, with an OPT).
    pub ecs: Result<Option<ClientSubnet>, WireError>,
    pub nsid: bool,
    /// DNSSEC OK (RFC 3225): the client wants RRSIGs and NSECs.
    pub dnssec_ok: bool,
    /// Compact Answers OK (RFC 9824 §4.1): a compact NXDOMAIN may keep its rcode.
    pub compact_ok: bool,
}

/// The DO bit of the OPT record's flags (the low 16 bits of its TTL field).
pub const EDNS_DO: u16 = 0x8000;
/// The CO bit (RFC 9824 §4.1), next to DO.
pub const EDNS_CO: u16 = 0x4000;

/// What a response copies from the query's header.
#[derive(Debug, Clone, Copy)]
pub struct QueryHeader {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
}

impl QueryHeader {
    fn of(p: &[u8]) -> Self {
        Self {
            id: u16::from_be_bytes([p[0], p[1]]),
            opcode: (p[2] >> 3) & 0x0f,
            rd: p[2] & 1 != 0,
            cd: p[3] & 0x10 != 0,
        }
    }
}

/// A TSIG record on a query (RFC 8945): what an error response must echo.
pub struct TsigIn {
    /// The key name (the record's owner).
    pub key: WireName,
    pub algorithm: WireName,
    /// Time Signed (48 bits) and Fudge, as the query sent them.
    pub time: u64,
    pub fudge: u16,
    /// Original ID, echoed.
    pub oid: u16,
}

/// A query, however it was read.
pub struct Query<'a> {
    pub header: QueryHeader,
    pub qdcount: u16,
    /// The question as sent (name, type, class), when there is exactly one; else empty.
    pub question: &'a [u8],
    /// The question's name, lower-cased.
    pub qname: Option<WireName>,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub edns: Option<EdnsIn>,
    /// Boxed: signed queries are rare and always take hickory's path, so the common query
    /// stays small.
    pub tsig: Option<Box<TsigIn>>,
}

/// What reading a packet gave.
// Boxing the query would allocate per query, which the query path avoids; the size is a
// stack copy.
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    Query(Query<'a>),
    /// A packet with a header but nothing that can be read after it: FORMERR, and why.
    Malformed(QueryHeader, WireError),
    /// Not to be answered: too short for a header, or a response.
    Ignore,
}

/// Reads `packet`. `holder` keeps hickory's decoded request alive when the direct parse
/// declines, so that the returned query can borrow from it.
pub fn parse<'a>(
    packet: &'a [u8],
    holder: &'a mut Option<Request>,
    src: std::net::SocketAddr,
) -> Parsed<'a> {
    if packet.len() < 12 {
        return Parsed::Ignore;
    }
    if packet[2] & 0x80 != 0 {
        return Parsed::Ignore;
    }
    if let Some(q) = direct(packet) {
        return Parsed::Query(q);
    }
    let header = QueryHeader::of(packet);
    // What the walk can tell is wrong is answered here, before hickory's decoder sees it: that
    // decoder logs a warning for some malformed data (EDNS options, CAA flags), which would be
    // a log line per packet, and it accepts a compression pointer in the question, whose
    // echo would then point elsewhere in the response (NSD and Knot answer FORMERR).
    if let Some(why) = diagnose(packet) {
        return Parsed::Malformed(header, why);
    }
    if be16(packet, 4).unwrap_or(0) > 0
        && let Err(why) = name_end(packet, 12, Pointers::Refused)
    {
        return Parsed::Malformed(header, why);
    }
    let mut d = BinDecoder::new(packet);
    match Header::read(&mut d) {
        Ok(h) if h.metadata.message_type == MessageType::Response => return Parsed::Ignore,
        Ok(_) => {}
        Err(_) => return Parsed::Ignore,
    }
    match Request::from_bytes(packet.to_vec(), src, Protocol::Udp) {
        Ok(r) => *holder = Some(r),
        Err(_) => {
            let why = diagnose(packet).unwrap_or(WireError::Undecodable);
            return Parsed::Malformed(header, why);
        }
    }
    let tsig = match find_tsig(packet) {
        Ok(t) => t,
        Err(e) => return Parsed::Malformed(header, e),
    };
    let request = holder.as_ref().expect("just stored");
    let one = request.queries.len() == 1;
    let question: &[u8] = if one { request.queries.as_bytes() } else { &[] };
    let q = request.queries.queries().first();
    let edns = request.edns.as_ref().map(|e| EdnsIn {
        payload: e.max_payload(),
        version: e.version(),
        ecs: match e.option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(cs)) => checked_ecs(packet, cs),
            _ => Ok(None),
        },
        nsid: e.option(EdnsCode::NSID).is_some(),
        dnssec_ok: e.flags().dnssec_ok,
        compact_ok: e.flags().z & EDNS_CO != 0,
    });
    Parsed::Query(Query {
        header,
        qdcount: request.queries.len() as u16,
        question,
        qname: if one {
            WireName::from_wire(question)
        } else {
            None
        },
        qtype: q.map_or(RecordType::Unknown(0), |q| q.query_type()),
        qclass: q.map_or(DNSClass::IN, |q| q.query_class()),
        edns,
        tsig,
    })
}

/// hickory's parsed ECS option, with what it does not check: address octets beyond
/// ceil(SOURCE/8) (the option's length, read from the packet), and address bits beyond SOURCE.
fn checked_ecs(packet: &[u8], cs: &ClientSubnet) -> Result<Option<ClientSubnet>, WireError> {
    let parsed = find_ecs(packet).and_then(ecs).ok_or(WireError::BadEcs)?;
    if parsed.addr() != cs.addr() || parsed.source_prefix() != cs.source_prefix() {
        return Err(WireError::BadEcs);
    }
    Ok(Some(parsed))
}

/// The ECS option's data in the packet's OPT record.
fn find_ecs(packet: &[u8]) -> Option<&[u8]> {
    let opt = Records::of(packet)
        .ok()?
        .map_while(Result::ok)
        .find(|r| r.rtype == u16::from(RecordType::OPT))?;
    options(opt.rdata)
        .find(|(code, _)| *code == 8)
        .map(|(_, data)| data)
}

/// The query's TSIG record (RFC 8945), read from the packet itself: hickory sets it apart only
/// with its DNSSEC feature, whose crypto this server has no use for. `Err` (FORMERR) for a
/// TSIG that is not the last record of the additional section, or whose RDATA does not
/// parse.
fn find_tsig(packet: &[u8]) -> Result<Option<Box<TsigIn>>, WireError> {
    for r in Records::of(packet).map_err(|_| WireError::BadTsig)? {
        let r = r.map_err(|_| WireError::BadTsig)?;
        if r.rtype != u16::from(RecordType::TSIG) {
            continue;
        }
        if r.section != Section::Additional || !r.last {
            return Err(WireError::BadTsig);
        }
        return tsig(packet, r.owner_at, r.rdata_at, r.rdata.len())
            .map(|t| Some(Box::new(t)))
            .ok_or(WireError::BadTsig);
    }
    Ok(None)
}

/// The TSIG record whose owner starts at `owner` and whose RDATA is `rdlen` octets at `rdata`.
fn tsig(packet: &[u8], owner: usize, rdata: usize, rdlen: usize) -> Option<TsigIn> {
    // The names may be compressed: hickory's decoder follows the pointers.
    let name_at = |at: usize| -> Option<(WireName, usize)> {
        let mut d = BinDecoder::new(packet);
        d.read_slice(at).ok()?;
        let n = Name::read(&mut d).ok()?;
        Some((WireName::from_name(&n), d.index()))
    };
    let (key, _) = name_at(owner)?;
    let (algorithm, mut j) = name_at(rdata)?;
    let fixed = packet.get(j..j + 10)?;
    let time = fixed[..6]
        .iter()
        .fold(0u64, |t, &b| (t << 8) | u64::from(b));
    let fudge = u16::from_be_bytes([fixed[6], fixed[7]]);
    let mac_len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    j += 10 + mac_len;
    let oid = be16(packet, j)?;
    let other_len = usize::from(be16(packet, j + 4)?);
    if j + 6 + other_len != rdata + rdlen {
        return None;
    }
    Some(TsigIn {
        key,
        algorithm,
        time,
        fudge,
        oid,
    })
}

/// An ECS option's data, checked completely (RFC 7871 §6, §7.1.1): known family, prefix
/// within it, exactly ceil(SOURCE/8) address octets, no bits set beyond SOURCE. A query's
/// SCOPE PREFIX-LENGTH must be 0, but one that is not is read as 0 rather than refused, as
/// Knot does: it says nothing about the client, and the answer's scope is this server's to set.
fn ecs(data: &[u8]) -> Option<ClientSubnet> {
    let family = be16(data, 0)?;
    let source = *data.get(2)?;
    // SCOPE PREFIX-LENGTH: the fourth octet, ignored.
    data.get(3)?;
    let addr = &data[4..];
    let octets = usize::from(source).div_ceil(8);
    if addr.len() != octets {
        return None;
    }
    let ip = match family {
        1 if source <= 32 => {
            let mut a = [0u8; 4];
            a[..octets].copy_from_slice(addr);
            let v = u32::from_be_bytes(a);
            if source < 32 && v & (u32::MAX >> source) != 0 {
                return None;
            }
            IpAddr::V4(Ipv4Addr::from(v))
        }
        2 if source <= 128 => {
            let mut a = [0u8; 16];
            a[..octets].copy_from_slice(addr);
            let v = u128::from_be_bytes(a);
            if source < 128 && v & (u128::MAX >> source) != 0 {
                return None;
            }
            IpAddr::V6(Ipv6Addr::from(v))
        }
        _ => return None,
    };
    Some(ClientSubnet::new(ip, source, 0))
}

/// The direct parse: a standard query with one question and at most one OPT record, all of
/// it well formed; `None` for anything else.
fn direct(p: &[u8]) -> Option<Query<'_>> {
    let flags = p[2];
    let opcode = (flags >> 3) & 0x0f;
    let (qd, an, ns, ar) = (be16(p, 4)?, be16(p, 6)?, be16(p, 8)?, be16(p, 10)?);
    if opcode != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return None;
    }
    let qname = WireName::from_wire(&p[12..])?;
    let qend = 12 + qname.as_bytes().len();
    let qtype = RecordType::from(be16(p, qend)?);
    let qclass = DNSClass::from(be16(p, qend + 2)?);
    let question = &p[12..qend + 4];
    let mut edns = None;
    let mut records = Records::at(p, qend + 4, [0, 0, ar]);
    if let Some(opt) = records.next() {
        // OPT: root owner, type 41.
        let opt = opt.ok()?;
        if opt.owner != [0] || opt.rtype != u16::from(RecordType::OPT) {
            return None;
        }
        let payload = opt.class;
        let version = (opt.ttl >> 16) as u8;
        let rdata = opt.rdata;
        if version != 0 {
            return None;
        }
        let mut ecs_opt = None;
        let mut nsid = false;
        let mut seen = 0usize;
        for (code, data) in options(rdata) {
            seen += 4 + data.len();
            match code {
                // Malformed: FORMERR, with an OPT record (RFC 6891 §7).
                8 if ecs_opt.is_none() => ecs_opt = Some(ecs(data).ok_or(WireError::BadEcs)),
                8 => return None,
                3 => nsid = true,
                _ => {}
            }
        }
        let flags = opt.ttl as u16;
        // Options that overrun the record: FORMERR, still with an OPT (RFC 6891 §7).
        let ecs = if seen == rdata.len() {
            ecs_opt.transpose()
        } else {
            Err(WireError::BadOptLength)
        };
        edns = Some(EdnsIn {
            payload,
            version,
            ecs,
            nsid,
            dnssec_ok: flags & EDNS_DO != 0,
            compact_ok: flags & EDNS_CO != 0,
        });
    }
    if records.offset() != p.len() {
        return None;
    }
    Some(Query {
        header: QueryHeader::of(p),
        qdcount: 1,
        question,
        qname: Some(qname),
        qtype,
        qclass,
        edns,
        tsig: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, OpCode};
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn packet(ecs: Option<&str>, nsid: bool) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(hickory_proto::op::Query::query(
            Name::from_str("WwW.Example.com.").unwrap(),
            RecordType::AAAA,
        ));
        let mut e = Edns::new();
        e.set_max_payload(1400);
        if let Some(s) = ecs {
            e.options_mut()
                .insert(EdnsOption::Subnet(s.parse().unwrap()));
        }
        if nsid {
            e.options_mut().insert(EdnsOption::Unknown(3, vec![]));
        }
        m.set_edns(e);
        m.to_vec().unwrap()
    }

    #[test]
    fn direct_parse_reads_question_and_options() {
        let p = packet(Some("198.51.100.0/24"), true);
        let q = direct(&p).expect("a plain query is read directly");
        assert_eq!(q.header.id, 7);
        assert_eq!(q.qtype, RecordType::AAAA);
        assert_eq!(q.qclass, DNSClass::IN);
        assert_eq!(
            q.qname.unwrap().as_bytes(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(q.question.len(), 17 + 4);
        let e = q.edns.unwrap();
        assert_eq!((e.payload, e.version, e.nsid), (1400, 0, true));
        assert!(!e.dnssec_ok && !e.compact_ok);
        let cs = e.ecs.unwrap().unwrap();
        assert_eq!(
            (cs.addr().to_string().as_str(), cs.source_prefix()),
            ("198.51.100.0", 24)
        );
    }

    #[test]
    fn direct_parse_declines_what_it_does_not_check() {
        let good = packet(Some("198.51.100.0/24"), false);
        // Trailing byte.
        let mut p = good.clone();
        p.push(0);
        assert!(direct(&p).is_none());
        // Scope set in the ECS option (last option byte before address: offset len-4): read
        // as 0.
        let mut p = good.clone();
        let n = p.len();
        p[n - 4] = 24;
        let cs = direct(&p).unwrap().edns.unwrap().ecs.unwrap().unwrap();
        assert_eq!((cs.source_prefix(), cs.scope_prefix()), (24, 0));
        // A malformed ECS option: read directly, as FORMERR (answered with an OPT record).
        let mut p = good.clone();
        let n = p.len();
        p[n - 5] = 33;
        assert_eq!(
            direct(&p).unwrap().edns.unwrap().ecs,
            Err(WireError::BadEcs)
        );
        assert!(
            ecs(&[0, 1, 24, 0, 198, 51, 100, 1]).is_none(),
            "octet beyond the prefix"
        );
        assert!(ecs(&[0, 1, 24, 0, 198, 51, 101]).is_some());
        assert!(
            ecs(&[0, 1, 23, 0, 198, 51, 101]).is_none(),
            "bit beyond the prefix"
        );
        assert!(ecs(&[0, 3, 0, 0]).is_none(), "family");
        assert!(ecs(&[0, 1, 33, 0, 1, 2, 3, 4, 5]).is_none(), "prefix");
        // Two questions.
        let mut p = good.clone();
        p[5] = 2;
        assert!(direct(&p).is_none());
    }

    #[test]
    fn do_and_co_are_read_by_both_parses() {
        for (dnssec_ok, z) in [(true, 0u16), (true, EDNS_CO), (false, EDNS_CO), (false, 0)] {
            let mut m = Message::new(9, MessageType::Query, OpCode::Query);
            m.add_query(hickory_proto::op::Query::query(
                Name::from_str("example.com.").unwrap(),
                RecordType::A,
            ));
            let mut e = Edns::new();
            e.flags_mut().dnssec_ok = dnssec_ok;
            e.flags_mut().z = z;
            m.set_edns(e);
            let p = m.to_vec().unwrap();
            let d = direct(&p).unwrap().edns.unwrap();
            assert_eq!((d.dnssec_ok, d.compact_ok), (dnssec_ok, z != 0));
            // A trailing byte sends the packet through hickory's decoder instead.
            let mut longer = p.clone();
            longer.push(0);
            let r = Request::from_bytes(p, "127.0.0.1:53".parse().unwrap(), Protocol::Udp).unwrap();
            let e = r.edns.as_ref().unwrap();
            assert_eq!(
                (e.flags().dnssec_ok, e.flags().z & EDNS_CO != 0),
                (dnssec_ok, z != 0)
            );
            assert!(direct(&longer).is_none());
        }
    }

    #[test]
    fn both_parses_agree() {
        for (ecs, nsid) in [
            (None, false),
            (Some("2001:db8::/56"), true),
            (Some("0.0.0.0/0"), false),
        ] {
            let p = packet(ecs, nsid);
            let direct = direct(&p).unwrap();
            // Force hickory's path by appending nothing but asking it directly.
            let mut holder = None;
            let src = "127.0.0.1:5353".parse().unwrap();
            let r = Request::from_bytes(p.clone(), src, Protocol::Udp).unwrap();
            holder.get_or_insert(r);
            let e = holder.as_ref().unwrap().edns.as_ref().unwrap();
            let via_hickory = match e.option(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(cs)) => checked_ecs(&p, cs),
                _ => Ok(None),
            };
            assert_eq!(direct.edns.unwrap().ecs, via_hickory);
        }
    }
}
