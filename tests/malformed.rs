//! Malformed and unusual packets: each gets FORMERR (or another fitting error) or is dropped,
//! and the server keeps answering afterwards.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{MessageType, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

/// A header: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut h = id.to_be_bytes().to_vec();
    h.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

/// `www.example.com. IN A` as a question section.
fn question() -> Vec<u8> {
    let mut q = b"\x03www\x07example\x03com\x00".to_vec();
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// Checks that the server still answers a normal query over UDP and TCP.
fn assert_still_serving(s: &Server) {
    let q = query("www.example.com.", RecordType::A);
    let r = udp(s.addr, &q);
    assert_response_to(&q, &r);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    let r = tcp(s.addr, &q);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
}

/// Sends `packet` over UDP; asserts the reply (if `Some(rcode)`) or its absence (`None`).
fn expect(s: &Server, packet: &[u8], want: Option<ResponseCode>, what: &str) {
    let wait = if want.is_some() {
        WAIT
    } else {
        Duration::from_millis(500)
    };
    let reply = udp_raw(s.addr, packet, wait);
    match (want, reply) {
        (None, None) => {}
        (None, Some(r)) => panic!("{what}: expected no reply, got {:02x?}", r),
        (Some(rc), None) => panic!("{what}: expected {rc}, got no reply"),
        (Some(rc), Some(raw)) => {
            let r = decode(&raw);
            assert_eq!(r.metadata.message_type, MessageType::Response, "{what}");
            assert_eq!(&raw[..2], &packet[..2], "{what}: ID echoed");
            assert_eq!(rcode(&r), rc, "{what}:\n{r}");
            assert!(r.answers.is_empty(), "{what}");
            assert!(!r.metadata.recursion_available, "{what}");
        }
    }
}

#[test]
fn packets_shorter_than_a_header_are_dropped() {
    let s = Server::example();
    for len in [0usize, 1, 2, 11] {
        let p: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        if len == 0 {
            // An empty datagram: nothing to match a reply on, so just make sure none comes.
            let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            sock.send_to(&p, s.addr).unwrap();
            let mut buf = [0u8; 512];
            assert!(
                sock.recv_from(&mut buf).is_err(),
                "reply to an empty datagram"
            );
        } else {
            expect(&s, &p, None, &format!("{len}-byte packet"));
        }
    }
    assert_still_serving(&s);
}

#[test]
fn responses_are_never_answered() {
    let s = Server::example();
    // QR=1, otherwise a valid query; and a full response with an answer.
    let mut p = header(0x5151, 0x8000, [1, 0, 0, 0]);
    p.extend_from_slice(&question());
    expect(&s, &p, None, "QR=1");
    let mut p = header(0x5252, 0x8400, [1, 1, 0, 0]);
    p.extend_from_slice(&question());
    p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    expect(&s, &p, None, "a whole response");
    assert_still_serving(&s);
}

#[test]
fn broken_questions_get_formerr() {
    let s = Server::example();
    let h = |id| header(id, 0x0000, [1, 0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("QDCOUNT 1 and nothing after the header", h(1)),
        (
            "12 bytes of 0xff past the header",
            [h(2), vec![0xff; 12]].concat(),
        ),
        (
            "label longer than the packet",
            [h(3), b"\x3fabcdefghijk".to_vec()].concat(),
        ),
        (
            "name without its type and class",
            [h(4), b"\x03www\x07example\x03com\x00".to_vec()].concat(),
        ),
        (
            "type without class",
            [h(5), b"\x03www\x07example\x03com\x00\x00\x01".to_vec()].concat(),
        ),
        (
            "name cut mid-label",
            [h(6), b"\x03www\x07exa".to_vec()].concat(),
        ),
        (
            "compression pointer to itself",
            [h(7), vec![0xc0, 12, 0, 1, 0, 1]].concat(),
        ),
        (
            "forward compression pointer",
            [h(8), vec![0xc0, 20, 0, 1, 0, 1, 0, 0]].concat(),
        ),
        (
            "reserved label type 0x40",
            [h(9), vec![0x41, b'a', 0, 0, 1, 0, 1]].concat(),
        ),
        ("name longer than 255 octets", {
            let mut p = h(10);
            for _ in 0..5 {
                p.push(63);
                p.extend_from_slice(&[b'a'; 63]);
            }
            p.extend_from_slice(&[0, 0, 1, 0, 1]);
            p
        }),
        ("QDCOUNT 0", header(11, 0, [0, 0, 0, 0])),
        (
            "QDCOUNT 2",
            [header(12, 0, [2, 0, 0, 0]), question(), question()].concat(),
        ),
        (
            "ANCOUNT 1 with no answer present",
            [header(13, 0, [1, 1, 0, 0]), question()].concat(),
        ),
        (
            "ARCOUNT 1 with a truncated record",
            [header(14, 0, [1, 0, 0, 1]), question(), vec![0, 0, 41, 4]].concat(),
        ),
    ];
    for (what, p) in &cases {
        expect(&s, p, Some(ResponseCode::FormErr), what);
    }
    // The same over TCP, on one connection that stays usable.
    let mut c = tcp_connect(s.addr);
    for (what, p) in &cases {
        tcp_send(&mut c, p);
        let r = decode(&tcp_recv(&mut c).unwrap_or_else(|| panic!("{what}: closed")));
        assert_eq!(rcode(&r), ResponseCode::FormErr, "{what} over TCP");
    }
    // A header-only frame (a response) is dropped; the connection carries on.
    tcp_send(&mut c, &header(99, 0x8000, [0, 0, 0, 0]));
    let q = query("www.example.com.", RecordType::A);
    tcp_send(&mut c, &encode(&q));
    let r = decode(&tcp_recv(&mut c).unwrap());
    assert_response_to(&q, &r);
    // An empty frame is no DNS message: the connection is closed (as NSD and Knot do), and
    // the query after it is not answered.
    let mut both = vec![0, 0];
    let p = encode(&q);
    both.extend_from_slice(&(p.len() as u16).to_be_bytes());
    both.extend_from_slice(&p);
    c.write_all(&both).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    // EOF, or a reset (the query it left unread): either way, nothing.
    let _ = c.read_to_end(&mut rest);
    assert!(rest.is_empty(), "answered after a zero-length frame");
    assert_still_serving(&s);
}

#[test]
fn a_zero_length_tcp_message_closes_the_connection() {
    // A zero-length message is no DNS message: NSD and Knot close the connection, and so does
    // geosteer, once the queries sent before it are answered.
    let s = Server::example();
    let mut c = tcp_connect(s.addr);
    let q1 = query("www.example.com.", RecordType::A);
    let q2 = query("mail.example.com.", RecordType::A);
    // Both queries and the empty frame in one write: answered from one read.
    let mut burst = Vec::new();
    for p in [encode(&q1), encode(&q2), Vec::new()] {
        burst.extend_from_slice(&(p.len() as u16).to_be_bytes());
        burst.extend_from_slice(&p);
    }
    c.write_all(&burst).unwrap();
    for q in [&q1, &q2] {
        let r = decode(&tcp_recv(&mut c).expect("the query before the empty frame is answered"));
        assert_response_to(q, &r);
        assert_eq!(r.answers.len(), 1);
    }
    assert_closed(&mut c);
    // On its own, on a fresh connection.
    let mut c = tcp_connect(s.addr);
    tcp_send(&mut c, &[]);
    assert_closed(&mut c);
    assert_still_serving(&s);
}

/// The server has closed `c`: a read ends (EOF or reset) instead of timing out.
fn assert_closed(c: &mut std::net::TcpStream) {
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut b = [0u8; 2];
    match c.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("connection still open after a zero-length message: {other:?}"),
    }
}

#[test]
fn unsupported_opcodes_classes_and_types() {
    let s = Server::example();
    // Opcodes other than QUERY: NOTIMP, as NSD and Knot answer.
    for (op, name) in [
        (1u16, "IQUERY"),
        (2, "STATUS"),
        (4, "NOTIFY"),
        (5, "UPDATE"),
        (15, "15"),
    ] {
        let mut p = header(0x700 + op, op << 11, [1, 0, 0, 0]);
        p.extend_from_slice(&question());
        let raw = udp_raw(s.addr, &p, WAIT).unwrap_or_else(|| panic!("no reply to {name}"));
        let r = decode(&raw);
        assert_eq!(rcode(&r), ResponseCode::NotImp, "opcode {name}");
        assert_eq!(u8::from(r.metadata.op_code), op as u8, "opcode echoed");
    }
    // Class CH names other than the identity ones: REFUSED.
    let mut p = header(0x800, 0, [1, 0, 0, 0]);
    p.extend_from_slice(b"\x07example\x04bind\x00\x00\x10\x00\x03");
    expect(&s, &p, Some(ResponseCode::Refused), "CH TXT example.bind");
    // Zone transfers are not offered: REFUSED over TCP for a zone's apex (as NSD), NOTAUTH
    // for any other name (as NSD and Knot); AXFR over UDP is NOTIMP (RFC 5936 §4.2), as NSD
    // and Knot answer.
    let mut q = query("example.com.", RecordType::AXFR);
    q.metadata.op_code = OpCode::Query;
    let r = tcp(s.addr, &q);
    assert_eq!(rcode(&r), ResponseCode::Refused);
    assert!(r.answers.is_empty());
    for (qname, t) in [
        ("www.example.com.", RecordType::AXFR),
        ("www.example.com.", RecordType::IXFR),
        ("example.org.", RecordType::AXFR),
    ] {
        let r = tcp(s.addr, &query(qname, t));
        assert_eq!(rcode(&r), ResponseCode::NotAuth, "{qname} {t}: {r}");
        assert!(r.answers.is_empty() && !r.metadata.authoritative);
    }
    let r = udp(s.addr, &query("example.com.", RecordType::IXFR));
    assert_eq!(rcode(&r), ResponseCode::Refused, "{r}");
    let r = udp(s.addr, &q);
    assert_eq!(rcode(&r), ResponseCode::NotImp, "{r}");
    assert!(!r.metadata.authoritative && r.answers.is_empty());
    // Meta types (OPT, TSIG, TKEY, MAILB, MAILA) are answered as NSD and Knot answer them: as
    // a data type no name has, NODATA, and the rest of the lookup as for any type.
    for t in [249u16, 41, 250, 253, 254] {
        let t = RecordType::from(t);
        let r = udp(s.addr, &query("www.example.com.", t));
        assert_eq!(rcode(&r), ResponseCode::NoError, "{t}: {r}");
        assert!(r.metadata.authoritative, "{t}");
        assert!(r.answers.is_empty(), "{t}: {r}");
        assert_eq!(
            of_type(&r.authorities, RecordType::SOA).len(),
            1,
            "{t}: {r}"
        );
        let r = udp(s.addr, &query("www-alias.example.com.", t));
        assert_eq!(of_type(&r.answers, RecordType::CNAME).len(), 2, "{t}: {r}");
        let r = udp(s.addr, &query("nope.example.com.", t));
        assert_eq!(rcode(&r), ResponseCode::NXDomain, "{t}: {r}");
    }
    assert_still_serving(&s);
}

#[test]
fn unusual_but_valid_names_are_answered() {
    let s = Server::example();
    // A label holding a dot and binary bytes: one label, not two, and in no zone here.
    let mut p = header(0x900, 0, [1, 0, 0, 0]);
    p.extend_from_slice(b"\x06w.w\x00\xff\xc3\x07example\x03com\x00\x00\x01\x00\x01");
    let raw = udp_raw(s.addr, &p, WAIT).expect("reply");
    let r = decode(&raw);
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert_eq!(
        &raw[12..12 + p.len() - 12],
        &p[12..],
        "question echoed byte for byte"
    );
    // The root and a TLD: no zone.
    let r = udp(s.addr, &query(".", RecordType::NS));
    assert_eq!(rcode(&r), ResponseCode::Refused);
    // A 255-octet name inside the zone: NXDOMAIN.
    let mut long = String::new();
    while long.len() + 64 + "example.com.".len() <= 253 {
        long.push_str(&"a".repeat(62));
        long.push('.');
    }
    long.push_str("example.com.");
    let r = udp(s.addr, &query(&long, RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NXDomain, "{long}");
}

/// Random headers with 12 random bytes after them, random garbage, and random mutations of a
/// valid EDNS/ECS query and of a signed one: every reply is a well-formed response to its
/// packet, and the server answers a normal query afterwards. Bounded: 2,000 packets, replies
/// collected until a final marker query is answered.
#[test]
fn random_packets_get_well_formed_replies_or_none() {
    let s = Server::example();
    let mut rng = StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();

    let base = {
        let sub = hickory_proto::rr::rdata::opt::ClientSubnet::new(
            std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)),
            24,
            0,
        );
        encode(&query_ecs("www.example.com.", RecordType::A, sub))
    };
    // Replies are read on their own thread while the packets go out, so that none is lost to a
    // full receive buffer.
    let marker = query("www.example.com.", RecordType::A);
    let marker_id = marker.metadata.id;
    let reader = {
        let sock = sock.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    break;
                };
                got.push(buf[..n].to_vec());
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == marker_id {
                    break;
                }
            }
            got
        })
    };
    // A signed query: its TSIG record is read from the packet by geosteer's own code.
    let signed = {
        let mut p = header(0, 0x0100, [1, 0, 0, 1]);
        p.extend_from_slice(&question());
        p.extend_from_slice(&tsig_record(0));
        p
    };
    let mut sent: HashMap<u16, Vec<u8>> = HashMap::new();
    for i in 0..2000u16 {
        let id = 0x8000 + i;
        let mut p = match i % 4 {
            // A query header (QR=0, QDCOUNT=1) and 12 random bytes.
            0 => {
                let mut p = header(id, 0, [1, 0, 0, 0]);
                p.extend((0..12).map(|_| rng.random::<u8>()));
                p
            }
            // Random bytes, 12 to 80 of them, with QR clear.
            1 => {
                let len = 12 + (rng.next_u64() % 69) as usize;
                let mut p: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
                p[2] &= 0x7f;
                p
            }
            // A valid query, ECS or signed, with one to four bytes changed (header ID and QR
            // kept).
            k => {
                let mut p = if k == 2 { base.clone() } else { signed.clone() };
                for _ in 0..1 + rng.next_u64() % 4 {
                    let at = 3 + (rng.next_u64() as usize) % (p.len() - 3);
                    p[at] = rng.random::<u8>();
                }
                p
            }
        };
        p[..2].copy_from_slice(&id.to_be_bytes());
        sock.send_to(&p, s.addr).unwrap();
        sent.insert(id, p);
        // Pace the burst a little so that the server's socket buffer never overflows.
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The marker goes out three times, in case one is lost; the reader stops at the first reply.
    for _ in 0..3 {
        sock.send_to(&encode(&marker), s.addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    let got = reader.join().unwrap();
    let mut replies = 0;
    let mut saw_marker = false;
    for raw in &got {
        let r = decode(raw);
        assert_eq!(r.metadata.message_type, MessageType::Response);
        assert!(!r.metadata.recursion_available);
        assert!(
            raw.len() <= 512 || r.edns.is_some(),
            "UDP reply over 512 bytes without EDNS"
        );
        if r.metadata.id == marker_id {
            assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
            saw_marker = true;
            continue;
        }
        let p = sent
            .get(&r.metadata.id)
            .unwrap_or_else(|| panic!("reply with an ID that was never sent: {r}"));
        // Whatever came back, the request must have been a query.
        assert_eq!(p[2] & 0x80, 0, "a response was answered: {p:02x?}");
        replies += 1;
    }
    assert!(
        saw_marker,
        "no reply to the final query ({} replies before)",
        got.len()
    );
    assert!(replies > 0);
    assert_still_serving(&s);
}

/// A TSIG record: key `k1.`, hmac-sha256, Time Signed 0x0000_6543_2100, Fudge 300, then
/// `mac`, Original ID `oid`, TSIG error `error`, no other data.
fn tsig_rr(mac: &[u8], oid: u16, error: u16) -> Vec<u8> {
    let mut r = b"\x02k1\x00".to_vec();
    r.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    let mut rd = b"\x0bhmac-sha256\x00".to_vec();
    rd.extend_from_slice(&[0, 0, 0x65, 0x43, 0x21, 0x00, 0x01, 0x2c]);
    rd.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rd.extend_from_slice(mac);
    rd.extend_from_slice(&oid.to_be_bytes());
    rd.extend_from_slice(&error.to_be_bytes());
    rd.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
    r.extend_from_slice(&rd);
    r
}

/// A query's TSIG record, with a 32-byte MAC.
fn tsig_record(oid: u16) -> Vec<u8> {
    tsig_rr(&[0xab; 32], oid, 0)
}

#[test]
fn signed_queries_get_notauth_with_badkey() {
    let s = Server::example();
    // RFC 8945 §5.2.2: no key is configured, so every signed query is NOTAUTH, with an
    // unsigned TSIG (no MAC) saying BADKEY and echoing key, algorithm, time, fudge and
    // original ID; the TSIG record comes last, after the OPT when there is one.
    let badkey_tsig = tsig_rr(&[], 0x7777, 17);
    let opt = [0u8, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];
    for (edns, what) in [(false, "TSIG only"), (true, "OPT then TSIG")] {
        let mut p = header(0xa00, 0x0100, [1, 0, 0, 1 + u16::from(edns)]);
        p.extend_from_slice(&question());
        if edns {
            p.extend_from_slice(&opt);
        }
        p.extend_from_slice(&tsig_record(0x7777));
        let raw = udp_raw(s.addr, &p, WAIT).expect("reply");
        let r = decode(&raw);
        assert_eq!(rcode(&r), ResponseCode::NotAuth, "{what}:\n{r}");
        assert!(r.answers.is_empty() && r.authorities.is_empty(), "{what}");
        assert_eq!(
            u16::from_be_bytes([raw[10], raw[11]]),
            1 + u16::from(edns),
            "{what}: ARCOUNT"
        );
        assert!(
            raw.ends_with(&badkey_tsig),
            "{what}: the last record is the BADKEY TSIG: {raw:02x?}"
        );
        assert_eq!(
            r.edns.is_some(),
            edns,
            "{what}: OPT only when asked with one"
        );
        // Same over TCP.
        let mut t = tcp_connect(s.addr);
        tcp_send(&mut t, &p);
        let raw_tcp = tcp_recv(&mut t).expect("tcp reply");
        assert!(raw_tcp.ends_with(&badkey_tsig), "{what} over TCP");
    }
    // A TSIG that is not the last record is malformed (RFC 8945 §5.1): FORMERR.
    let mut p = header(0xa01, 0x0100, [1, 0, 0, 2]);
    p.extend_from_slice(&question());
    p.extend_from_slice(&tsig_record(0xa01));
    p.extend_from_slice(&opt);
    expect(&s, &p, Some(ResponseCode::FormErr), "TSIG before OPT");

    // dig with a key it signs with: it reads the answer as a key failure.
    let d = dig(
        s.port(),
        &[
            "-y",
            "hmac-sha256:k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
            "www.example.com",
            "A",
        ],
    );
    assert!(d.text.contains("status: NOTAUTH"), "{}", d.text);
    assert!(d.text.contains("BADKEY"), "{}", d.text);
    assert_still_serving(&s);
}
