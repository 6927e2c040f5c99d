//! EDNS(0): payload sizes and truncation, BADVERS, malformed OPT, and Client Subnet (RFC 7871).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};

/// The example zone plus names whose answers do not fit in 512 or 1232 bytes.
fn server() -> Server {
    let mut zone = EXAMPLE_ZONE.to_string();
    for i in 0..100 {
        zone.push_str(&format!("big IN A 10.0.{}.{}\n", i / 250, i % 250 + 1));
    }
    for i in 0..100 {
        zone.push_str(&format!(
            "bigtxt IN TXT \"record number {i:03} of one hundred\"\n"
        ));
    }
    // 40 A records: about 700 bytes, more than 512 and less than 1232.
    for i in 0..40 {
        zone.push_str(&format!("medium IN A 10.1.0.{}\n", i + 1));
    }
    // An MX whose target has more addresses than fit beside it in 512 bytes.
    zone.push_str("heavy-mx IN MX 10 farm\n");
    for i in 0..60 {
        zone.push_str(&format!("farm IN A 10.2.0.{}\n", i + 1));
    }
    Server::start_owned(ZoneDir::with_zone("example.com", &zone), &[])
}

fn ecs_of(m: &Message) -> Option<ClientSubnet> {
    match m.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(cs) => Some(*cs),
        _ => None,
    }
}

#[test]
fn response_advertises_1232_and_only_when_asked_with_edns() {
    let s = server();
    for bufsize in [512, 1232, 4096, 65535] {
        let q = query_edns("www.example.com.", RecordType::A, bufsize);
        for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
            assert_response_to(&q, &r);
            let e = r.edns.as_ref().expect("EDNS query gets an OPT back");
            assert_eq!(
                e.max_payload(),
                1232,
                "advertised payload for bufsize {bufsize}"
            );
            assert_eq!(e.version(), 0);
        }
    }
    // No OPT in a reply to a query without one, positive or negative.
    for (qname, qtype) in [
        ("www.example.com.", RecordType::A),
        ("nope.example.com.", RecordType::A),
        ("www.example.com.", RecordType::MX),
        ("example.org.", RecordType::A),
    ] {
        let q = query(qname, qtype);
        assert!(udp(s.addr, &q).edns.is_none(), "{qname}");
        assert!(tcp(s.addr, &q).edns.is_none(), "{qname}");
    }
    let d = dig(
        s.port(),
        &["+edns=0", "+bufsize=4096", "www.example.com.", "A"],
    );
    assert_eq!(d.edns_udp(), Some(1232), "{}", d.text);
    let d = dig(s.port(), &["+noedns", "www.example.com.", "A"]);
    assert_eq!(d.edns_udp(), None, "{}", d.text);
}

/// Checks a truncated UDP reply: TC, fits `limit`, question echoed, OPT present iff asked.
fn assert_truncated(q: &Message, raw: &[u8], limit: usize) {
    assert!(raw.len() <= limit, "{} bytes > {limit}", raw.len());
    let r = decode(raw);
    assert_response_to(q, &r);
    assert!(r.metadata.truncation, "TC expected:\n{r}");
    assert!(r.metadata.authoritative);
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert_eq!(
        r.edns.is_some(),
        q.edns.is_some(),
        "OPT kept in a truncated reply"
    );
    if let Some(e) = &r.edns {
        assert_eq!(e.max_payload(), 1232);
    }
    // No partial RRset: either nothing or whole RRsets (geosteer keeps the whole RRsets that
    // fitted, as NSD and Knot do).
    assert!(
        r.answers.is_empty()
            || !r
                .answers
                .iter()
                .any(|a| a.name.to_string().starts_with("big")),
        "a partial RRset in a truncated answer:\n{r}"
    );
}

#[test]
fn udp_answers_that_do_not_fit_are_truncated_and_complete_over_tcp() {
    let s = server();
    for qname in ["big.example.com.", "bigtxt.example.com."] {
        let qtype = if qname.starts_with("bigtxt") {
            RecordType::TXT
        } else {
            RecordType::A
        };
        // No EDNS: 512 bytes.
        let q = query(qname, qtype);
        assert_truncated(&q, &udp_bytes(s.addr, &q), 512);
        // EDNS 512, 1232 and 4096: at most 512, 1232 and 1232 (geosteer's ceiling).
        for (bufsize, limit) in [(512, 512), (1232, 1232), (4096, 1232)] {
            let q = query_edns(qname, qtype, bufsize);
            assert_truncated(&q, &udp_bytes(s.addr, &q), limit);
        }
        // TCP: everything, whatever the EDNS size.
        for q in [query(qname, qtype), query_edns(qname, qtype, 512)] {
            let r = tcp(s.addr, &q);
            assert_response_to(&q, &r);
            assert!(!r.metadata.truncation);
            assert_eq!(r.answers.len(), 100, "{qname} over TCP");
        }
    }
    // An answer of about 700 bytes fits with EDNS 1232 but not in 512.
    let q = query_edns("medium.example.com.", RecordType::A, 1232);
    let r = udp(s.addr, &q);
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 40);
    let q = query_edns("medium.example.com.", RecordType::A, 512);
    assert_truncated(&q, &udp_bytes(s.addr, &q), 512);

    // dig: UDP with +bufsize=512 reports TC (+ignore keeps it from retrying over TCP)...
    let d = dig(
        s.port(),
        &["+ignore", "+bufsize=512", "big.example.com.", "A"],
    );
    assert!(d.has_flag("tc"), "{}", d.text);
    assert_eq!(
        d.edns_udp(),
        Some(1232),
        "OPT kept when truncated\n{}",
        d.text
    );
    // ...and over TCP gets all 100.
    let d = dig(s.port(), &["+tcp", "big.example.com.", "A"]);
    assert!(!d.has_flag("tc"), "{}", d.text);
    assert_eq!(d.section("ANSWER").len(), 100, "{}", d.text);
    // Without +ignore dig falls back to TCP by itself on TC.
    let d = dig(s.port(), &["+bufsize=1232", "bigtxt.example.com.", "TXT"]);
    assert_eq!(d.section("ANSWER").len(), 100, "{}", d.text);
}

#[test]
fn additional_data_that_does_not_fit_is_left_out_without_tc() {
    let s = server();
    let q = query("heavy-mx.example.com.", RecordType::MX);
    let raw = udp_bytes(s.addr, &q);
    assert!(raw.len() <= 512);
    let r = decode(&raw);
    assert!(
        !r.metadata.truncation,
        "additional data is optional (RFC 2181 §9):\n{r}"
    );
    assert_eq!(rdata_strings(&r.answers), ["MX 10 farm.example.com."]);
    // Whatever additional data is present is whole: a partial address RRset would be cached as
    // if complete.
    assert!(
        r.additionals.is_empty() || r.additionals.len() == 60,
        "partial RRset in ADDITIONAL ({} of 60 records)",
        r.additionals.len()
    );
    // Over TCP it all fits.
    let r = tcp(s.addr, &q);
    assert_eq!(r.additionals.len(), 60);
}

#[test]
fn edns_version_above_zero_is_badvers() {
    let s = server();
    let mut q = query_edns("www.example.com.", RecordType::A, 1232);
    q.edns.as_mut().unwrap().set_version(1);
    for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
        // BADVERS and BADSIG share the value 16; hickory decodes it as BADSIG.
        assert_eq!(u16::from(rcode(&r)), 16, "BADVERS:\n{r}");
        assert_eq!(u16::from(ResponseCode::BADVERS), 16);
        let e = r.edns.as_ref().expect("BADVERS needs an OPT to carry it");
        assert_eq!(
            e.version(),
            0,
            "the reply carries the version we do support"
        );
        assert!(r.answers.is_empty());
    }
    // dig: +noednsnegotiation keeps it from retrying with version 0.
    let d = dig(
        s.port(),
        &["+edns=1", "+noednsnegotiation", "www.example.com.", "A"],
    );
    assert_eq!(d.status(), "BADVERS", "{}", d.text);
    assert!(d.text.contains("; EDNS: version: 0"), "{}", d.text);
    let d = dig(
        s.port(),
        &[
            "+tcp",
            "+edns=1",
            "+noednsnegotiation",
            "www.example.com.",
            "A",
        ],
    );
    assert_eq!(d.status(), "BADVERS", "{}", d.text);
}

/// Sends a raw packet over UDP and TCP, expects FORMERR on both, and checks the server still
/// answers.
fn assert_formerr(s: &Server, packet: &[u8], what: &str) {
    formerr(s, packet, what);
}

/// [`assert_formerr`], and the FORMERR carries an OPT record, as RFC 6891 §7 requires of an
/// answer to a query that had one.
fn assert_formerr_with_opt(s: &Server, packet: &[u8], what: &str) {
    for r in formerr(s, packet, what) {
        let e = r
            .edns
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: FORMERR without an OPT record:\n{r}"));
        assert_eq!(e.max_payload(), 1232);
        assert!(ecs_of(&r).is_none(), "{what}: a malformed ECS echoed:\n{r}");
    }
}

/// The FORMERR replies to `packet` over UDP and TCP.
fn formerr(s: &Server, packet: &[u8], what: &str) -> [Message; 2] {
    let raw = udp_raw(s.addr, packet, WAIT).unwrap_or_else(|| panic!("no reply to {what}"));
    let r = decode(&raw);
    assert_eq!(rcode(&r), ResponseCode::FormErr, "{what}:\n{r}");
    assert_eq!(r.metadata.id, u16::from_be_bytes([packet[0], packet[1]]));
    assert!(r.answers.is_empty());
    let mut c = tcp_connect(s.addr);
    tcp_send(&mut c, packet);
    let t = decode(&tcp_recv(&mut c).expect("tcp reply"));
    assert_eq!(rcode(&t), ResponseCode::FormErr, "{what} over TCP:\n{t}");
    // The connection survives a malformed query.
    let q = query("www.example.com.", RecordType::A);
    tcp_send(&mut c, &encode(&q));
    let ok = decode(&tcp_recv(&mut c).expect("tcp reply"));
    assert_eq!(rcode(&ok), ResponseCode::NoError);
    assert_eq!(ok.answers.len(), 1);
    [r, t]
}

#[test]
fn malformed_opt_records_get_formerr() {
    let s = server();
    let q = query("www.example.com.", RecordType::A);
    // An option whose length runs past the OPT RDATA.
    let mut bad = 8u16.to_be_bytes().to_vec();
    bad.extend_from_slice(&20u16.to_be_bytes());
    bad.extend_from_slice(&[0, 1, 24, 0]);
    assert_formerr(
        &s,
        &with_additional(&q, &raw_opt(0, &bad), 1),
        "option overruns RDATA",
    );
    // An option cut off after its code.
    assert_formerr(
        &s,
        &with_additional(&q, &raw_opt(0, &[0, 10, 0]), 1),
        "truncated option header",
    );
    // ECS with an unknown address family.
    assert_formerr_with_opt(
        &s,
        &with_additional(&q, &raw_opt(0, &raw_ecs(3, 8, 0, &[10])), 1),
        "ECS family 3",
    );
    // ECS with too few address octets for its source prefix.
    assert_formerr_with_opt(
        &s,
        &with_additional(&q, &raw_opt(0, &raw_ecs(1, 24, 0, &[192, 0])), 1),
        "ECS /24 with 2 octets",
    );
    // ECS with a source prefix longer than the family allows.
    assert_formerr_with_opt(
        &s,
        &with_additional(&q, &raw_opt(0, &raw_ecs(1, 33, 0, &[192, 0, 2, 0, 0])), 1),
        "ECS IPv4 /33",
    );
    // Two OPT records (RFC 6891 §6.1.1).
    let two = [raw_opt(0, &[]), raw_opt(0, &[])].concat();
    assert_formerr(&s, &with_additional(&q, &two, 2), "two OPT records");
    // OPT RDATA length past the end of the packet.
    let mut cut = raw_opt(0, &[]);
    let n = cut.len();
    cut[n - 2..].copy_from_slice(&50u16.to_be_bytes());
    assert_formerr(
        &s,
        &with_additional(&q, &cut, 1),
        "OPT RDLENGTH past the end",
    );
}

#[test]
fn ecs_is_echoed_with_scope_zero_for_static_and_negative_answers() {
    let s = server();
    let v4 = ClientSubnet::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)), 24, 0);
    let v6 = ClientSubnet::new(
        IpAddr::V6("2001:db8:1234::".parse::<Ipv6Addr>().unwrap()),
        48,
        0,
    );
    let zero = ClientSubnet::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, 0);
    let odd = ClientSubnet::new(IpAddr::V4(Ipv4Addr::new(203, 0, 112, 0)), 22, 0);
    for subnet in [v4, v6, zero, odd] {
        for (qname, qtype, rc) in [
            ("www.example.com.", RecordType::A, ResponseCode::NoError),
            ("www.example.com.", RecordType::MX, ResponseCode::NoError),
            ("nope.example.com.", RecordType::A, ResponseCode::NXDomain),
            (
                "anything.wild.example.com.",
                RecordType::A,
                ResponseCode::NoError,
            ),
            ("big.example.com.", RecordType::A, ResponseCode::NoError),
        ] {
            let q = query_ecs(qname, qtype, subnet);
            for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
                assert_response_to(&q, &r);
                assert_eq!(rcode(&r), rc, "{qname} {qtype}");
                let echoed = ecs_of(&r).unwrap_or_else(|| panic!("ECS not echoed:\n{r}"));
                // FAMILY, SOURCE PREFIX-LENGTH and ADDRESS unchanged; SCOPE 0.
                assert_eq!(echoed.addr(), subnet.addr());
                assert_eq!(echoed.source_prefix(), subnet.source_prefix());
                assert_eq!(echoed.scope_prefix(), 0, "{qname} {qtype}");
            }
        }
    }
    // A query with EDNS but without ECS gets no ECS back.
    let r = udp(s.addr, &query_edns("www.example.com.", RecordType::A, 1232));
    assert!(r.edns.is_some());
    assert!(
        ecs_of(&r).is_none(),
        "ECS in a reply to a query without it:\n{r}"
    );

    let d = dig(s.port(), &["+subnet=192.0.2.0/24", "www.example.com.", "A"]);
    assert_eq!(
        d.client_subnet().as_deref(),
        Some("192.0.2.0/24/0"),
        "{}",
        d.text
    );
    let d = dig(
        s.port(),
        &["+subnet=2001:db8:77::/56", "nope.example.com.", "A"],
    );
    assert_eq!(d.status(), "NXDOMAIN");
    assert_eq!(
        d.client_subnet().as_deref(),
        Some("2001:db8:77::/56/0"),
        "{}",
        d.text
    );
    let d = dig(s.port(), &["www.example.com.", "A"]);
    assert_eq!(d.client_subnet(), None, "{}", d.text);
}

#[test]
fn ecs_with_bits_beyond_the_source_prefix_is_formerr_with_an_opt_record() {
    let s = server();
    let q = query("www.example.com.", RecordType::A);
    let ecs = |opt: Vec<u8>| with_additional(&q, &raw_opt(0, &opt), 1);
    // A set bit beyond SOURCE PREFIX-LENGTH in the last octet: 192.0.3.0/23.
    assert_formerr_with_opt(&s, &ecs(raw_ecs(1, 23, 0, &[192, 0, 3])), "192.0.3.0/23");
    // IPv6 /52 whose 7th octet has bits past the prefix.
    assert_formerr_with_opt(
        &s,
        &ecs(raw_ecs(2, 52, 0, &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x0f])),
        "IPv6 bits past /52",
    );
    // A full address sent with a shorter source prefix: 192.0.2.1/24 as 4 octets.
    assert_formerr_with_opt(
        &s,
        &ecs(raw_ecs(1, 24, 0, &[192, 0, 2, 1])),
        "4 octets for a /24",
    );
    // Too many octets, even if zero (RFC 7871 §6: SHOULD FORMERR).
    assert_formerr_with_opt(
        &s,
        &ecs(raw_ecs(1, 24, 0, &[192, 0, 2, 0])),
        "zero 4th octet for a /24",
    );
    // dig sends the option as given and shows the OPT record of the FORMERR.
    let d = dig(
        s.port(),
        &["+ednsopt=8:00011700c00003", "www.example.com.", "A"],
    );
    assert_eq!(d.status(), "FORMERR", "{}", d.text);
    assert_eq!(d.edns_udp(), Some(1232), "FORMERR without OPT:\n{}", d.text);
}

#[test]
fn ecs_scope_in_a_query_is_read_as_zero() {
    // RFC 7871 §6: SCOPE PREFIX-LENGTH MUST be 0 in queries. One that is not says nothing
    // about the client: the query is answered (as Knot answers it), the option echoed with
    // the scope geosteer sets.
    let s = server();
    let q = query("www.example.com.", RecordType::A);
    let packet = with_additional(&q, &raw_opt(0, &raw_ecs(1, 24, 16, &[192, 0, 2])), 1);
    let r = decode(&udp_raw(s.addr, &packet, WAIT).expect("reply"));
    assert_eq!(rcode(&r), ResponseCode::NoError, "{r}");
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    let echoed = ecs_of(&r).expect("ECS echoed");
    assert_eq!(
        (echoed.addr(), echoed.source_prefix(), echoed.scope_prefix()),
        (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24, 0)
    );
    // The same through the encoder, over TCP: a ClientSubnet with a scope.
    let scoped = ClientSubnet::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24, 24);
    let r = tcp(
        s.addr,
        &query_ecs("www.example.com.", RecordType::A, scoped),
    );
    assert_eq!(rcode(&r), ResponseCode::NoError, "{r}");
    assert_eq!(ecs_of(&r).map(|e| e.scope_prefix()), Some(0));
}

#[test]
fn unknown_options_are_ignored_and_tiny_payload_sizes_mean_512() {
    let s = server();
    // A DNS COOKIE (RFC 7873) and an unassigned option: answered normally, neither echoed.
    let q = query("www.example.com.", RecordType::A);
    let opts = [
        raw_option(10, &[1, 2, 3, 4, 5, 6, 7, 8]),
        raw_option(65001, b"x"),
    ]
    .concat();
    let raw = udp_raw(s.addr, &with_additional(&q, &raw_opt(0, &opts), 1), WAIT).expect("reply");
    let r = decode(&raw);
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    let e = r.edns.expect("OPT");
    assert!(e.options().as_ref().is_empty(), "options echoed: {e:?}");

    // An advertised size under 512 is taken as 512 (RFC 6891 §6.2.3).
    for bufsize in [0, 100, 511] {
        let q = query_edns("www.example.com.", RecordType::A, bufsize);
        let r = udp(s.addr, &q);
        assert!(!r.metadata.truncation, "bufsize {bufsize}");
        assert_eq!(r.answers.len(), 1);
        let q = query_edns("medium.example.com.", RecordType::A, bufsize);
        assert_truncated(&q, &udp_bytes(s.addr, &q), 512);
    }
}
