//! The protocol points where NSD and Knot set what an authoritative server answers (issue 12),
//! each on its own, through the real binary with hickory's decoder and with dig: the DO bit,
//! NULL and SIG questions, QCLASS ANY, Extended DNS Errors and DNAME redirection. (The meta
//! query types, AXFR over UDP and a zero-length TCP message are in malformed.rs, a FORMERR with
//! an OPT record for a bad ECS option in edns.rs; tests/differential.rs compares all of it
//! with NSD and Knot themselves.)

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};

/// A name of 252 octets in wire form: a name below `dn-long` grows past 255 octets when the
/// DNAME redirects it there, unless its extra labels take three octets or fewer.
fn long_target() -> String {
    let label = |i: u8, len: usize| format!("l{i}{}", "x".repeat(len - 2));
    let t = format!(
        "{}.{}.{}.{}.conf.example.",
        label(0, 60),
        label(1, 60),
        label(2, 60),
        label(3, 54)
    );
    assert_eq!(t.len() + 1, 252, "wire length");
    t
}

fn zone() -> String {
    let long_target = long_target();
    format!(
        r#"$ORIGIN conf.example.
$TTL 3600
@        SOA   ns1 hostmaster 1 7200 3600 1209600 300
@        NS    ns1
ns1      A     192.0.2.53
www      A     192.0.2.80
null     NULL  \# 3 010203
sig      TYPE24 \# 4 00010203
*.wild   A     192.0.2.99
sub      NS    ns.example.net.
dn       DNAME target.example.net.
dn2      DNAME sub2.conf.example.
www.sub2 A     192.0.2.83
dn3      DNAME dn2.conf.example.
dn-wild  DNAME wild.conf.example.
dn-cut   DNAME sub.conf.example.
to-dn    CNAME www.dn2
dn-loop  DNAME x.dn-loop.conf.example.
dn-long  60 DNAME {long_target}
"#
    )
}

fn server() -> Server {
    Server::start_owned(ZoneDir::with_zone("conf.example", &zone()), &[])
}

fn ede_of(m: &Message) -> Option<u16> {
    let o = m
        .edns
        .as_ref()?
        .options()
        .as_ref()
        .iter()
        .find(|(code, _)| u16::from(*code) == 15)?;
    match o.1 {
        hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, ref data) => {
            Some(u16::from_be_bytes([data[0], data[1]]))
        }
        _ => None,
    }
}

#[test]
fn the_do_bit_is_copied_into_the_response() {
    // RFC 3225 §3: the DO bit of the query MUST be copied into the response's OPT record,
    // whatever the answer.
    let s = server();
    for (qname, rc) in [
        ("www.conf.example.", ResponseCode::NoError),
        ("nope.conf.example.", ResponseCode::NXDomain),
        ("www.sub.conf.example.", ResponseCode::NoError),
        ("example.org.", ResponseCode::Refused),
    ] {
        for dnssec_ok in [true, false] {
            let mut q = query_edns(qname, RecordType::A, 1232);
            q.edns.as_mut().unwrap().set_dnssec_ok(dnssec_ok);
            for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
                assert_response_to(&q, &r);
                assert_eq!(rcode(&r), rc, "{qname}");
                assert_eq!(
                    r.edns.as_ref().expect("OPT").flags().dnssec_ok,
                    dnssec_ok,
                    "{qname} DO {dnssec_ok}:\n{r}"
                );
            }
        }
    }
    // A FORMERR for a bad ECS option still carries the OPT record, DO copied.
    let q = query("www.conf.example.", RecordType::A);
    let mut opt = raw_opt(0, &raw_ecs(1, 23, 0, &[192, 0, 3]));
    // Octet 7 is the high octet of the flags field (root owner, TYPE, CLASS, extended RCODE,
    // VERSION before it).
    opt[7] = 0x80;
    let r = decode(&udp_raw(s.addr, &with_additional(&q, &opt, 1), WAIT).expect("reply"));
    assert_eq!(rcode(&r), ResponseCode::FormErr);
    assert!(r.edns.expect("OPT").flags().dnssec_ok);
    // dig shows it as `flags: do`.
    let d = dig(s.port(), &["+dnssec", "www.conf.example.", "A"]);
    assert!(
        d.text.contains("; EDNS: version: 0, flags: do;"),
        "{}",
        d.text
    );
    let d = dig(s.port(), &["www.conf.example.", "A"]);
    assert!(d.text.contains("; EDNS: version: 0, flags:;"), "{}", d.text);
}

#[test]
fn null_and_sig_questions_are_answered_as_data_types() {
    // NULL (RFC 1035 §3.3.10) and SIG (RFC 2535) are data types: a question for them gets the
    // records or NODATA, as NSD and Knot answer, not FORMERR.
    let s = server();
    for (qname, qtype, rdata) in [
        ("null.conf.example.", RecordType::NULL, vec![1u8, 2, 3]),
        ("sig.conf.example.", RecordType::SIG, vec![0, 1, 2, 3]),
    ] {
        // Read from the wire: hickory refuses a SIG outside the additional section.
        let q = encode(&query_edns(qname, qtype, 1232));
        let mut c = tcp_connect(s.addr);
        tcp_send(&mut c, &q);
        let over_tcp = tcp_recv(&mut c).expect("tcp reply");
        for r in [udp_raw(s.addr, &q, WAIT).expect("udp reply"), over_tcp] {
            assert_eq!(r[3] & 0x0f, 0, "{qname}: rcode {r:02x?}");
            assert_ne!(r[2] & 0x04, 0, "{qname}: AA {r:02x?}");
            assert_eq!(r[6..8], [0, 1], "{qname}: one answer {r:02x?}");
            // The answer follows the question (which ends where the query's did, before its
            // OPT record): a pointer to the question's name, TYPE, CLASS IN, TTL, RDATA.
            let at = q.len() - 11;
            let mut want = vec![0xc0, 0x0c];
            want.extend_from_slice(&u16::from(qtype).to_be_bytes());
            want.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10, 0, rdata.len() as u8]);
            want.extend_from_slice(&rdata);
            assert_eq!(r[at..at + want.len()], want[..], "{qname}: {r:02x?}");
        }
        // NODATA where there is none.
        let r = udp(s.addr, &query("www.conf.example.", qtype));
        assert_eq!(rcode(&r), ResponseCode::NoError, "{qtype}:\n{r}");
        assert!(r.answers.is_empty());
        assert_eq!(of_type(&r.authorities, RecordType::SOA).len(), 1);
    }
    let d = dig(s.port(), &["null.conf.example.", "NULL"]);
    assert_eq!(d.status(), "NOERROR", "{}", d.text);
    assert_eq!(d.section("ANSWER").len(), 1, "{}", d.text);
    let d = dig(s.port(), &["www.conf.example.", "SIG"]);
    assert_eq!(d.status(), "NOERROR", "{}", d.text);
    assert!(d.section("ANSWER").is_empty(), "{}", d.text);
}

#[test]
fn qclass_any_is_answered_from_the_in_zone_without_aa() {
    // QCLASS ANY asks for data of any class: answered from the IN zone, but never
    // authoritatively (RFC 1034 §3.7.1), so a negative answer carries no SOA (as NSD answers).
    let s = server();
    let any = |qname: &str, qtype: RecordType| {
        let mut q = query(qname, qtype);
        q.queries[0].set_query_class(DNSClass::ANY);
        q
    };
    let q = any("www.conf.example.", RecordType::A);
    for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
        assert_response_to(&q, &r);
        assert_eq!(rcode(&r), ResponseCode::NoError, "{r}");
        assert!(!r.metadata.authoritative, "AA for QCLASS ANY:\n{r}");
        assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
        assert_eq!(r.answers[0].dns_class, DNSClass::IN);
        assert_eq!(r.queries[0].query_class(), DNSClass::ANY, "question echoed");
    }
    // NXDOMAIN and NODATA: the rcode, no SOA.
    let r = udp(s.addr, &any("nope.conf.example.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert!(!r.metadata.authoritative && r.authorities.is_empty(), "{r}");
    let r = udp(s.addr, &any("www.conf.example.", RecordType::MX));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.answers.is_empty() && r.authorities.is_empty(), "{r}");
    // A referral keeps its NS records.
    let r = udp(s.addr, &any("www.sub.conf.example.", RecordType::A));
    assert_eq!(of_type(&r.authorities, RecordType::NS).len(), 1, "{r}");
    // Outside every zone: REFUSED.
    let r = udp(s.addr, &any("example.org.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::Refused);
    // dig.
    let d = dig(s.port(), &["-c", "ANY", "www.conf.example.", "A"]);
    assert_eq!(d.status(), "NOERROR", "{}", d.text);
    assert!(!d.has_flag("aa"), "{}", d.text);
    assert_eq!(d.section("ANSWER")[0][2], "IN", "{}", d.text);
    // Other classes (but CH, for the server's identity) have no zones here: REFUSED.
    let mut q = query("www.conf.example.", RecordType::A);
    q.queries[0].set_query_class(DNSClass::HS);
    assert_eq!(rcode(&udp(s.addr, &q)), ResponseCode::Refused);
}

#[test]
fn refused_answers_say_why_in_an_extended_dns_error() {
    // RFC 8914: a name outside every zone gets REFUSED with EDE 20 (Not Authoritative), as NSD
    // and Knot send it; a zone transfer REFUSED with EDE 18 (Prohibited). Only to a query with
    // EDNS: the option travels in the OPT record.
    let s = server();
    for qname in ["example.org.", "conf.example.net."] {
        let q = query_edns(qname, RecordType::A, 1232);
        for r in [udp(s.addr, &q), tcp(s.addr, &q)] {
            assert_eq!(rcode(&r), ResponseCode::Refused);
            assert_eq!(ede_of(&r), Some(20), "{qname}:\n{r}");
        }
        let r = udp(s.addr, &query(qname, RecordType::A));
        assert_eq!(rcode(&r), ResponseCode::Refused);
        assert!(
            r.edns.is_none(),
            "an OPT record to a query without one:\n{r}"
        );
    }
    let q = query_edns("conf.example.", RecordType::AXFR, 1232);
    let r = tcp(s.addr, &q);
    assert_eq!(rcode(&r), ResponseCode::Refused);
    assert_eq!(ede_of(&r), Some(18), "{r}");
    // Answers from a zone carry none.
    let r = udp(
        s.addr,
        &query_edns("nope.conf.example.", RecordType::A, 1232),
    );
    assert_eq!(ede_of(&r), None, "{r}");
    let d = dig(s.port(), &["example.org.", "A"]);
    assert_eq!(d.status(), "REFUSED", "{}", d.text);
    assert!(
        d.text.contains("; EDE: 20 (Not Authoritative)"),
        "{}",
        d.text
    );
}

/// dig's answer section as (owner, type, rdata) with lower-cased names.
fn answer(d: &Dig) -> Vec<(String, String, String)> {
    d.section("ANSWER")
        .into_iter()
        .map(|f| {
            (
                f[0].to_ascii_lowercase(),
                f[3].clone(),
                f[4..].join(" ").to_ascii_lowercase(),
            )
        })
        .collect()
}

fn rr(owner: &str, rtype: &str, rdata: &str) -> (String, String, String) {
    (owner.into(), rtype.into(), rdata.into())
}

#[test]
fn dname_redirects_the_names_below_it() {
    // RFC 6672: a name below a DNAME gets the DNAME, a CNAME synthesised from it (TTL = the
    // DNAME's), and what the lookup of the CNAME's target finds inside the zone.
    let s = server();
    let d = dig(s.port(), &["www.dn2.conf.example.", "A"]);
    assert_eq!(d.status(), "NOERROR", "{}", d.text);
    assert!(d.has_flag("aa"));
    assert_eq!(
        answer(&d),
        [
            rr("dn2.conf.example.", "DNAME", "sub2.conf.example."),
            rr("www.dn2.conf.example.", "CNAME", "www.sub2.conf.example."),
            rr("www.sub2.conf.example.", "A", "192.0.2.83"),
        ],
        "{}",
        d.text
    );
    // The synthesised CNAME has the DNAME's TTL, and its owner is the question as spelled.
    let d = dig(s.port(), &["A.B.Dn-Long.Conf.Example.", "TXT"]);
    assert_eq!(
        d.status(),
        "YXDOMAIN",
        "the name outgrows 255 octets:\n{}",
        d.text
    );
    assert_eq!(answer(&d).len(), 1, "the DNAME alone:\n{}", d.text);
    let d = dig(s.port(), &["Nx.Dn-Long.Conf.Example.", "TXT"]);
    assert_eq!(d.status(), "NXDOMAIN", "{}", d.text);
    let cname = &d.section("ANSWER")[1];
    assert_eq!(
        (cname[0].as_str(), cname[1].as_str(), cname[3].as_str()),
        ("Nx.Dn-Long.Conf.Example.", "60", "CNAME"),
        "{}",
        d.text
    );
    // A target outside the zone is left to the resolver.
    let d = dig(s.port(), &["a.b.dn.conf.example.", "MX"]);
    assert_eq!(
        answer(&d),
        [
            rr("dn.conf.example.", "DNAME", "target.example.net."),
            rr("a.b.dn.conf.example.", "CNAME", "a.b.target.example.net."),
        ],
        "{}",
        d.text
    );
    // Chains: DNAME into DNAME, CNAME into DNAME, DNAME into a wildcard and into a cut.
    let d = dig(s.port(), &["www.dn3.conf.example.", "A"]);
    assert_eq!(
        answer(&d),
        [
            rr("dn3.conf.example.", "DNAME", "dn2.conf.example."),
            rr("www.dn3.conf.example.", "CNAME", "www.dn2.conf.example."),
            rr("dn2.conf.example.", "DNAME", "sub2.conf.example."),
            rr("www.dn2.conf.example.", "CNAME", "www.sub2.conf.example."),
            rr("www.sub2.conf.example.", "A", "192.0.2.83"),
        ],
        "{}",
        d.text
    );
    let d = dig(s.port(), &["to-dn.conf.example.", "A"]);
    assert_eq!(answer(&d).len(), 4, "{}", d.text);
    let d = dig(s.port(), &["x.Y.dn-wild.conf.example.", "A"]);
    assert_eq!(
        answer(&d)[2],
        rr("x.y.wild.conf.example.", "A", "192.0.2.99"),
        "the wildcard's record under the name redirected to:\n{}",
        d.text
    );
    let d = dig(s.port(), &["www.dn-cut.conf.example.", "A"]);
    assert!(d.has_flag("aa"), "{}", d.text);
    assert_eq!(answer(&d).len(), 2, "{}", d.text);
    assert_eq!(
        d.section("AUTHORITY")[0][3],
        "NS",
        "a referral:\n{}",
        d.text
    );
    // A DNAME into its own subtree: one step, not a chain that grows.
    let d = dig(s.port(), &["a.dn-loop.conf.example.", "A"]);
    assert_eq!(d.status(), "NOERROR", "{}", d.text);
    assert_eq!(answer(&d).len(), 2, "{}", d.text);
    // Below a DNAME nothing is looked up, whatever the type: a DNAME question too.
    let d = dig(s.port(), &["www.dn2.conf.example.", "DNAME"]);
    assert_eq!(answer(&d).len(), 2, "{}", d.text);
    assert_eq!(
        of_type_str(&d, "SOA"),
        1,
        "NODATA at the target:\n{}",
        d.text
    );
    // A question for the CNAME gets the synthesised one, not its target's data.
    let d = dig(s.port(), &["www.dn2.conf.example.", "CNAME"]);
    assert_eq!(answer(&d).len(), 2, "{}", d.text);
    // The DNAME's owner itself is not redirected.
    let d = dig(s.port(), &["dn2.conf.example.", "DNAME"]);
    assert_eq!(
        answer(&d),
        [rr("dn2.conf.example.", "DNAME", "sub2.conf.example.")]
    );
    let d = dig(s.port(), &["dn2.conf.example.", "A"]);
    assert_eq!(d.status(), "NOERROR");
    assert!(answer(&d).is_empty(), "{}", d.text);
    // Over TCP and through hickory: the same records, the CNAME's target readable.
    let q = query("www.dn2.conf.example.", RecordType::A);
    let r = tcp(s.addr, &q);
    assert_eq!(
        r.answers
            .iter()
            .map(|a| a.record_type())
            .collect::<Vec<_>>(),
        [RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    match &r.answers[1].data {
        RData::CNAME(c) => assert_eq!(c.0.to_string(), "www.sub2.conf.example."),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.answers[1].ttl, 3600);
}

fn of_type_str(d: &Dig, rtype: &str) -> usize {
    d.section("AUTHORITY")
        .iter()
        .filter(|f| f.get(3).is_some_and(|t| t == rtype))
        .count()
}
