//! Authoritative answers: what NSD and Knot would put in each section, over UDP and TCP.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

/// Sends `q` over UDP and over TCP, checks the two replies agree, and returns the UDP one.
fn ask(server: &Server, q: &Message) -> Message {
    let u = udp(server.addr, q);
    let t = tcp(server.addr, q);
    assert_response_to(q, &u);
    assert_response_to(q, &t);
    assert_eq!(u.metadata, t.metadata, "UDP and TCP headers differ for {q}");
    assert_eq!(u.answers, t.answers, "UDP and TCP answers differ for {q}");
    assert_eq!(u.authorities, t.authorities);
    assert_eq!(u.additionals, t.additionals);
    u
}

fn soa_of(m: &[Record]) -> (u32, hickory_proto::rr::rdata::SOA) {
    let soas = of_type(m, RecordType::SOA);
    assert_eq!(soas.len(), 1, "exactly one SOA expected in {m:?}");
    match &soas[0].data {
        RData::SOA(s) => (soas[0].ttl, s.clone()),
        _ => unreachable!(),
    }
}

fn assert_negative(m: &Message, rc: ResponseCode) {
    assert_eq!(rcode(m), rc, "{m}");
    assert!(
        m.metadata.authoritative,
        "negative answers are authoritative: {m}"
    );
    assert_eq!(m.authorities.len(), 1, "only the SOA in AUTHORITY: {m}");
    let (ttl, soa) = soa_of(&m.authorities);
    assert_eq!(m.authorities[0].name.to_string(), "example.com.");
    // RFC 2308 §3: TTL = min(SOA TTL 3600, MINIMUM 300).
    assert_eq!(ttl, 300);
    assert_eq!(soa.serial, 2026112601);
}

#[test]
fn soa_at_apex() {
    let s = Server::example();
    let r = ask(&s, &query("example.com.", RecordType::SOA));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert!(!r.metadata.truncation);
    let (ttl, soa) = soa_of(&r.answers);
    assert_eq!(r.answers.len(), 1);
    // A positive SOA answer keeps the stored TTL.
    assert_eq!(ttl, 3600);
    assert_eq!(soa.mname.to_string(), "ns1.example.com.");
    assert_eq!(soa.rname.to_string(), "hostmaster.example.com.");
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (2026112601, 7200, 3600, 1209600, 300)
    );

    // The same through dig, over UDP and TCP.
    for transport in ["+notcp", "+tcp"] {
        let d = dig(s.port(), &[transport, "example.com.", "SOA"]);
        assert_eq!(d.status(), "NOERROR", "{}", d.text);
        assert!(d.has_flag("aa"), "{}", d.text);
        assert!(!d.has_flag("ra"), "{}", d.text);
        assert!(
            !d.has_flag("rd"),
            "+norec: RD clear, so clear in the reply\n{}",
            d.text
        );
        let ans = d.section("ANSWER");
        assert_eq!(ans.len(), 1, "{}", d.text);
        assert_eq!(
            ans[0],
            [
                "example.com.",
                "3600",
                "IN",
                "SOA",
                "ns1.example.com.",
                "hostmaster.example.com.",
                "2026112601",
                "7200",
                "3600",
                "1209600",
                "300"
            ]
        );
        let expected = if transport == "+tcp" { "TCP" } else { "UDP" };
        assert_eq!(d.transport(), expected);
    }
}

#[test]
fn recursion_desired_is_copied_and_recursion_never_offered() {
    let s = Server::example();
    for rd in [false, true] {
        for qname in ["www.example.com.", "nope.example.com.", "example.org."] {
            let mut q = query(qname, RecordType::A);
            q.metadata.recursion_desired = rd;
            // assert_response_to checks RD copied and RA clear.
            let r = ask(&s, &q);
            assert!(r.metadata.authoritative || rcode(&r) == ResponseCode::Refused);
        }
    }
    let d = dig(s.port(), &["+rec", "www.example.com.", "A"]);
    assert!(d.has_flag("rd"), "{}", d.text);
    assert!(!d.has_flag("ra"), "{}", d.text);
    assert!(d.has_flag("aa"), "{}", d.text);
}

#[test]
fn nxdomain_carries_the_soa_with_the_negative_ttl() {
    let s = Server::example();
    let q = query("no-such-name.example.com.", RecordType::A);
    let r = ask(&s, &q);
    assert_negative(&r, ResponseCode::NXDomain);
    assert!(r.answers.is_empty());

    // Deeper names under a nonexistent name are just as nonexistent.
    let r = ask(
        &s,
        &query("a.b.no-such-name.example.com.", RecordType::AAAA),
    );
    assert_negative(&r, ResponseCode::NXDomain);

    for transport in ["+notcp", "+tcp"] {
        let d = dig(s.port(), &[transport, "no-such-name.example.com.", "A"]);
        assert_eq!(d.status(), "NXDOMAIN", "{}", d.text);
        assert!(d.has_flag("aa"), "{}", d.text);
        assert!(!d.has_flag("ra"), "{}", d.text);
        assert!(d.section("ANSWER").is_empty(), "{}", d.text);
        let auth = d.section("AUTHORITY");
        assert_eq!(auth.len(), 1, "{}", d.text);
        assert_eq!(&auth[0][..4], ["example.com.", "300", "IN", "SOA"]);
    }
}

#[test]
fn negative_ttl_is_the_soa_ttl_when_that_is_lower_than_minimum() {
    let zone = "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 86400\n NS ns\nns A 192.0.2.1\n";
    let s = Server::start_owned(ZoneDir::with_zone("example.net", zone), &[]);
    let r = udp(s.addr, &query("x.example.net.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert_eq!(soa_of(&r.authorities).0, 60);
    let r = udp(s.addr, &query("ns.example.net.", RecordType::MX));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert_eq!(soa_of(&r.authorities).0, 60);
}

#[test]
fn nodata_is_noerror_with_empty_answer_and_soa() {
    let s = Server::example();
    // www has A and AAAA but no MX.
    let r = ask(&s, &query("www.example.com.", RecordType::MX));
    assert_negative(&r, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert!(r.additionals.is_empty());
}

#[test]
fn empty_non_terminal_is_nodata_not_nxdomain() {
    let s = Server::example();
    for qtype in [RecordType::A, RecordType::TXT, RecordType::ANY] {
        let r = ask(&s, &query("ent.example.com.", qtype));
        assert_negative(&r, ResponseCode::NoError);
        assert!(r.answers.is_empty());
    }
    // Its child exists.
    let r = ask(&s, &query("a.ent.example.com.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.1"]);
    // A sibling does not.
    let r = ask(&s, &query("b.ent.example.com.", RecordType::A));
    assert_negative(&r, ResponseCode::NXDomain);
}

#[test]
fn names_outside_every_served_zone_are_refused() {
    let s = Server::example();
    for qname in [
        "example.org.",
        "www.example.org.",
        "com.",
        ".",
        "example.com.evil.",
    ] {
        let r = ask(&s, &query(qname, RecordType::A));
        assert_eq!(rcode(&r), ResponseCode::Refused, "{qname}");
        assert!(!r.metadata.authoritative, "REFUSED is not authoritative");
        assert!(r.answers.is_empty() && r.authorities.is_empty());
    }
    for transport in ["+notcp", "+tcp"] {
        let d = dig(s.port(), &[transport, "www.example.org.", "A"]);
        assert_eq!(d.status(), "REFUSED", "{}", d.text);
        assert!(!d.has_flag("aa"), "{}", d.text);
        assert!(d.section("ANSWER").is_empty());
    }
}

#[test]
fn cname_chain_is_followed_inside_the_zone() {
    let s = Server::example();
    let r = ask(&s, &query("www-alias.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    let got: Vec<String> = r
        .answers
        .iter()
        .map(|rec| format!("{} {} {}", rec.name, rec.record_type(), rec.data))
        .collect();
    assert_eq!(
        got,
        [
            "www-alias.example.com. CNAME alias2.example.com.",
            "alias2.example.com. CNAME www.example.com.",
            "www.example.com. A 192.0.2.80",
        ]
    );
    // Asking for the CNAME itself gives just that record.
    let r = ask(&s, &query("www-alias.example.com.", RecordType::CNAME));
    assert_eq!(rdata_strings(&r.answers), ["CNAME alias2.example.com."]);
    // A chain whose end has no data of the type: NODATA with the chain in ANSWER.
    let r = ask(&s, &query("www-alias.example.com.", RecordType::TXT));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert_eq!(of_type(&r.answers, RecordType::CNAME).len(), 2);
    assert_eq!(r.answers.len(), 2);
    soa_of(&r.authorities);

    let d = dig(s.port(), &["www-alias.example.com.", "A"]);
    let ans = d.section("ANSWER");
    let types: Vec<&str> = ans.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(types, ["CNAME", "CNAME", "A"], "{}", d.text);
}

#[test]
fn cname_chain_ending_in_nxdomain_is_nxdomain_with_the_cnames() {
    let s = Server::example();
    let r = ask(&s, &query("dangling.example.com.", RecordType::A));
    // RFC 6604 §2.1: the rcode is that of the last name in the chain.
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert!(r.metadata.authoritative);
    assert_eq!(rdata_strings(&r.answers), ["CNAME missing.example.com."]);
    assert_eq!(r.answers[0].name.to_string(), "dangling.example.com.");
    assert_eq!(soa_of(&r.authorities).0, 300);

    let d = dig(s.port(), &["dangling.example.com.", "A"]);
    assert_eq!(d.status(), "NXDOMAIN", "{}", d.text);
    assert_eq!(d.section("ANSWER").len(), 1);
}

#[test]
fn cname_loop_terminates() {
    let s = Server::example();
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::ANY] {
        let r = ask(&s, &query("loop1.example.com.", qtype));
        assert!(
            matches!(rcode(&r), ResponseCode::NoError | ResponseCode::ServFail),
            "{r}"
        );
        assert!(!r.answers.is_empty());
        assert!(
            r.answers
                .iter()
                .all(|a| a.record_type() == RecordType::CNAME),
            "{r}"
        );
        // RFC 2181 §5: an RRset appears once; a loop must not repeat records.
        for (i, a) in r.answers.iter().enumerate() {
            assert!(
                !r.answers[..i].contains(a),
                "record {a} repeated in the answer to a CNAME loop:\n{r}"
            );
        }
    }
}

#[test]
fn cname_to_another_zone_is_not_chased() {
    let s = Server::example();
    let r = ask(&s, &query("outside.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(rdata_strings(&r.answers), ["CNAME www.example.net."]);
    assert!(r.authorities.is_empty(), "no SOA: the CNAME is the answer");
}

#[test]
fn apex_ns_answer_carries_glue_in_additional() {
    let s = Server::example();
    let r = ask(&s, &query("example.com.", RecordType::NS));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    let mut ns = rdata_strings(&r.answers);
    ns.sort();
    assert_eq!(ns, ["NS ns1.example.com.", "NS ns2.example.com."]);
    let mut glue: Vec<String> = r
        .additionals
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.record_type(), a.data))
        .collect();
    glue.sort();
    assert_eq!(
        glue,
        [
            "ns1.example.com. A 192.0.2.53",
            "ns1.example.com. AAAA 2001:db8::53",
            "ns2.example.com. A 192.0.2.54",
        ]
    );

    let d = dig(s.port(), &["example.com.", "NS"]);
    assert_eq!(d.section("ANSWER").len(), 2, "{}", d.text);
    assert_eq!(d.section("ADDITIONAL").len(), 3, "{}", d.text);
}

#[test]
fn mx_and_srv_targets_get_addresses_in_additional() {
    let s = Server::example();
    let r = ask(&s, &query("example.com.", RecordType::MX));
    assert_eq!(rdata_strings(&r.answers), ["MX 10 mail.example.com."]);
    assert_eq!(rdata_strings(&r.additionals), ["A 192.0.2.25"]);
    let r = ask(&s, &query("_sip._udp.example.com.", RecordType::SRV));
    assert_eq!(
        rdata_strings(&r.answers),
        ["SRV 10 60 5060 sip.example.com."]
    );
    assert_eq!(rdata_strings(&r.additionals), ["A 192.0.2.60"]);
}

#[test]
fn wildcard_synthesises_with_the_query_name() {
    let s = Server::example();
    let r = ask(&s, &query("anything.wild.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].name.to_string(), "anything.wild.example.com.");
    assert_eq!(
        r.answers[0].data,
        RData::A(Ipv4Addr::new(192, 0, 2, 99).into())
    );

    // Several labels below the wildcard's parent match too (RFC 4592 §2.1.1).
    let r = ask(&s, &query("a.b.c.wild.example.com.", RecordType::TXT));
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].name.to_string(), "a.b.c.wild.example.com.");
    assert_eq!(rdata_strings(&r.answers), ["TXT wildcard"]);

    // A type the wildcard does not have: NODATA.
    let r = ask(&s, &query("anything.wild.example.com.", RecordType::AAAA));
    assert_negative(&r, ResponseCode::NoError);

    // The wildcard's parent itself is not matched by it (it exists as an empty non-terminal).
    let r = ask(&s, &query("wild.example.com.", RecordType::A));
    assert_negative(&r, ResponseCode::NoError);

    let d = dig(s.port(), &["Other.Wild.example.com.", "A"]);
    let ans = d.section("ANSWER");
    assert_eq!(ans.len(), 1, "{}", d.text);
    assert_eq!(ans[0][0], "Other.Wild.example.com.");
    assert_eq!(ans[0][4], "192.0.2.99");
}

#[test]
fn wildcard_does_not_match_names_that_exist() {
    let s = Server::example();
    // exists.wild has TXT only: an A query is NODATA, not the wildcard's A.
    let r = ask(&s, &query("exists.wild.example.com.", RecordType::A));
    assert_negative(&r, ResponseCode::NoError);
    let r = ask(&s, &query("exists.wild.example.com.", RecordType::TXT));
    assert_eq!(rdata_strings(&r.answers), ["TXT not from the wildcard"]);
    // Below an existing name, the wildcard does not apply (its closest encloser is
    // exists.wild, which has no `*` child).
    let r = ask(&s, &query("x.exists.wild.example.com.", RecordType::A));
    assert_negative(&r, ResponseCode::NXDomain);
    // No wildcard at the apex: unknown names there are NXDOMAIN.
    let r = ask(&s, &query("x.example.com.", RecordType::A));
    assert_negative(&r, ResponseCode::NXDomain);
}

#[test]
fn wildcard_cname_is_synthesised_and_followed() {
    let s = Server::example();
    let r = ask(&s, &query("foo.wcname.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    let got: Vec<String> = r
        .answers
        .iter()
        .map(|rec| format!("{} {} {}", rec.name, rec.record_type(), rec.data))
        .collect();
    assert_eq!(
        got,
        [
            "foo.wcname.example.com. CNAME www.example.com.",
            "www.example.com. A 192.0.2.80",
        ]
    );
}

#[test]
fn cname_into_a_wildcard_uses_the_target_as_owner() {
    let zone = "$TTL 300\n@ SOA ns h 1 2 3 4 60\n NS ns\nns A 192.0.2.1\n\
                to-wild CNAME foo.w\n*.w A 192.0.2.7\n";
    let s = Server::start_owned(ZoneDir::with_zone("example.net", zone), &[]);
    let r = udp(s.addr, &query("to-wild.example.net.", RecordType::A));
    let got: Vec<String> = r
        .answers
        .iter()
        .map(|rec| format!("{} {} {}", rec.name, rec.record_type(), rec.data))
        .collect();
    assert_eq!(
        got,
        [
            "to-wild.example.net. CNAME foo.w.example.net.",
            "foo.w.example.net. A 192.0.2.7",
        ]
    );
}

#[test]
fn delegation_below_the_apex_gets_a_referral() {
    let s = Server::example();
    for qname in [
        "sub.example.com.",
        "www.sub.example.com.",
        "a.b.sub.example.com.",
    ] {
        let r = ask(&s, &query(qname, RecordType::A));
        assert_eq!(rcode(&r), ResponseCode::NoError, "{r}");
        assert!(
            !r.metadata.authoritative,
            "a referral is not authoritative: {r}"
        );
        assert!(r.answers.is_empty(), "{r}");
        let mut ns = r
            .authorities
            .iter()
            .map(|a| format!("{} {} {}", a.name, a.record_type(), a.data))
            .collect::<Vec<_>>();
        ns.sort();
        assert_eq!(
            ns,
            [
                "sub.example.com. NS ns.elsewhere.net.",
                "sub.example.com. NS ns1.sub.example.com.",
            ]
        );
        let mut glue = rdata_strings(&r.additionals);
        glue.sort();
        assert_eq!(glue, ["A 192.0.2.70", "AAAA 2001:db8::70"]);
        assert!(
            r.additionals
                .iter()
                .all(|a| a.name.to_string() == "ns1.sub.example.com.")
        );
    }
    // Glue is not served as authoritative data: a query for it is a referral too.
    let r = ask(&s, &query("ns1.sub.example.com.", RecordType::A));
    assert!(!r.metadata.authoritative);
    assert!(r.answers.is_empty());

    // DS lives on the parent side of the cut (RFC 4035 §3.1.4.1): this zone answers for it,
    // authoritatively (none here: NODATA), instead of referring.
    let r = ask(&s, &query("sub.example.com.", RecordType::DS));
    assert_negative(&r, ResponseCode::NoError);

    let d = dig(s.port(), &["www.sub.example.com.", "A"]);
    assert_eq!(d.status(), "NOERROR");
    assert!(!d.has_flag("aa"), "{}", d.text);
    assert_eq!(d.section("AUTHORITY").len(), 2, "{}", d.text);
    assert_eq!(d.section("ADDITIONAL").len(), 2, "{}", d.text);
}

#[test]
fn any_is_answered_with_one_rrset() {
    let s = Server::example();
    // The apex has SOA, NS, MX, TXT and CAA.
    for qname in ["example.com.", "www.example.com.", "ns1.example.com."] {
        let r = ask(&s, &query(qname, RecordType::ANY));
        assert_eq!(rcode(&r), ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert!(!r.answers.is_empty(), "{r}");
        let t = r.answers[0].record_type();
        assert!(
            r.answers.iter().all(|a| a.record_type() == t),
            "RFC 8482: one RRset only:\n{r}"
        );
        assert!(r.answers.iter().all(|a| a.name == r.answers[0].name));
    }
    // ANY for a name that does not exist is still NXDOMAIN.
    let r = ask(&s, &query("nope.example.com.", RecordType::ANY));
    assert_negative(&r, ResponseCode::NXDomain);
    // Over TCP too (RFC 8482 applies to both).
    let r = tcp(s.addr, &query("example.com.", RecordType::ANY));
    let t = r.answers[0].record_type();
    assert!(r.answers.iter().all(|a| a.record_type() == t));
}

#[test]
fn question_case_is_preserved() {
    let s = Server::example();
    for (qname, qtype) in [
        ("WwW.ExAmPlE.CoM.", RecordType::A),
        ("EXAMPLE.COM.", RecordType::SOA),
        ("NoPe.Example.Com.", RecordType::A),
        ("Any.WILD.example.COM.", RecordType::A),
        ("WWW-Alias.Example.Com.", RecordType::A),
    ] {
        let q = query(qname, qtype);
        let raw = udp_bytes(s.addr, &q);
        // Byte-for-byte: the question section is echoed as sent.
        let qbytes = &encode(&q)[12..];
        assert_eq!(
            &raw[12..12 + qbytes.len()],
            qbytes,
            "question echoed as sent"
        );
        let r = decode(&raw);
        assert_eq!(r.queries[0].name().to_string(), qname);
        if let Some(first) = r.answers.first() {
            assert_eq!(
                first.name.to_string(),
                qname,
                "answer owner echoes the question"
            );
        }
        let t = tcp(s.addr, &q);
        assert_eq!(t.queries[0].name().to_string(), qname);
        if let Some(first) = t.answers.first() {
            assert_eq!(first.name.to_string(), qname);
        }
    }
    let d = dig(s.port(), &["wWw.eXaMpLe.cOm.", "AAAA"]);
    assert_eq!(d.section("QUESTION")[0][0], "wWw.eXaMpLe.cOm.");
    assert_eq!(d.section("ANSWER")[0][0], "wWw.eXaMpLe.cOm.");
}

#[test]
fn most_specific_zone_answers() {
    let zones = ZoneDir::new();
    zones.write(
        "example.com.zone",
        "$TTL 300\n@ SOA ns h 1 2 3 4 60\n NS ns\nns A 192.0.2.1\n\
         child NS ns.child\nns.child A 192.0.2.2\n",
    );
    zones.write(
        "child.example.com.zone",
        "$TTL 300\n@ SOA ns h 7 2 3 4 60\n NS ns\nns A 192.0.2.2\nwww A 192.0.2.3\n",
    );
    let s = Server::start_owned(zones, &[]);
    let r = udp(s.addr, &query("www.child.example.com.", RecordType::A));
    assert!(r.metadata.authoritative);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.3"]);
    let r = udp(s.addr, &query("nope.child.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert_eq!(soa_of(&r.authorities).1.serial, 7);
    let r = udp(s.addr, &query("nope.example.com.", RecordType::A));
    assert_eq!(soa_of(&r.authorities).1.serial, 1);
}

/// Every record type the zone files support survives the round trip file → server → wire.
#[test]
fn record_types_round_trip() {
    let zones = ZoneDir::new();
    zones.write(
        "example.org.zone",
        r#"$ORIGIN example.org.
$TTL 1h
@ IN SOA ns1 hostmaster ( 42 7200 3600 1209600 300 )
  IN NS ns1
  IN NS ns2.example.net.
  IN MX 10 mail
  IN MX 20 backup.example.net.
  IN CAA 0 issue "letsencrypt.org"
  IN CAA 128 iodef "mailto:security@example.org"
ns1 IN A 192.0.2.1
v6 600 IN AAAA 2001:db8::1:2
alias IN CNAME v6
txt IN TXT "hello world" "second string"
    IN TXT "semi;colon" "quote\"d"
_xmpp._tcp 300 IN SRV 5 10 5222 v6
$ORIGIN sub.example.org.
deep IN A 192.0.2.9
$TTL 120
short IN A 192.0.2.10
$INCLUDE inc/hosts.records
included-after IN A 192.0.2.12
"#,
    );
    // Relative to the including file; its own $ORIGIN does not leak back out.
    zones.write(
        "inc/hosts.records",
        "$ORIGIN inc.example.org.\nhost IN A 192.0.2.11\n",
    );
    let s = Server::start_owned(zones, &[]);
    let check = |qname: &str, qtype: RecordType, ttl: u32, mut want: Vec<&str>| {
        let r = udp(s.addr, &query(qname, qtype));
        assert_eq!(rcode(&r), ResponseCode::NoError, "{r}");
        let ours: Vec<&Record> = r
            .answers
            .iter()
            .filter(|a| a.record_type() == qtype)
            .collect();
        let mut got: Vec<String> = ours.iter().map(|a| a.data.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{qname} {qtype}");
        for a in ours {
            assert_eq!(a.ttl, ttl, "{qname} {qtype} TTL");
        }
    };
    check(
        "example.org.",
        RecordType::SOA,
        3600,
        vec!["ns1.example.org. hostmaster.example.org. 42 7200 3600 1209600 300"],
    );
    check(
        "example.org.",
        RecordType::NS,
        3600,
        vec!["ns1.example.org.", "ns2.example.net."],
    );
    check(
        "example.org.",
        RecordType::MX,
        3600,
        vec!["10 mail.example.org.", "20 backup.example.net."],
    );
    check("ns1.example.org.", RecordType::A, 3600, vec!["192.0.2.1"]);
    check(
        "v6.example.org.",
        RecordType::AAAA,
        600,
        vec!["2001:db8::1:2"],
    );
    check(
        "alias.example.org.",
        RecordType::CNAME,
        3600,
        vec!["v6.example.org."],
    );
    check(
        "_xmpp._tcp.example.org.",
        RecordType::SRV,
        300,
        vec!["5 10 5222 v6.example.org."],
    );
    check(
        "deep.sub.example.org.",
        RecordType::A,
        3600,
        vec!["192.0.2.9"],
    );
    check(
        "short.sub.example.org.",
        RecordType::A,
        120,
        vec!["192.0.2.10"],
    );
    check(
        "host.inc.example.org.",
        RecordType::A,
        120,
        vec!["192.0.2.11"],
    );
    check(
        "included-after.sub.example.org.",
        RecordType::A,
        120,
        vec!["192.0.2.12"],
    );

    // AAAA and TXT: compare structured data, not display text.
    let r = udp(s.addr, &query("v6.example.org.", RecordType::AAAA));
    assert_eq!(
        r.answers[0].data,
        RData::AAAA("2001:db8::1:2".parse::<Ipv6Addr>().unwrap().into())
    );
    let r = udp(s.addr, &query("txt.example.org.", RecordType::TXT));
    let mut txts: Vec<Vec<Vec<u8>>> = r
        .answers
        .iter()
        .map(|a| match &a.data {
            RData::TXT(t) => t.txt_data.iter().map(|s| s.to_vec()).collect(),
            other => panic!("not TXT: {other}"),
        })
        .collect();
    txts.sort();
    assert_eq!(
        txts,
        vec![
            vec![b"hello world".to_vec(), b"second string".to_vec()],
            vec![b"semi;colon".to_vec(), b"quote\"d".to_vec()],
        ]
    );

    // CAA, checked with dig as an independent decoder.
    let d = dig(s.port(), &["example.org.", "CAA"]);
    let mut caa: Vec<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r[4..].join(" "))
        .collect();
    caa.sort();
    assert_eq!(
        caa,
        [
            "0 issue \"letsencrypt.org\"",
            "128 iodef \"mailto:security@example.org\""
        ],
        "{}",
        d.text
    );
    // SRV and TXT through dig too.
    let d = dig(s.port(), &["_xmpp._tcp.example.org.", "SRV"]);
    assert_eq!(
        d.section("ANSWER")[0][4..],
        ["5", "10", "5222", "v6.example.org."]
    );
    let d = dig(s.port(), &["txt.example.org.", "TXT"]);
    let mut txt: Vec<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r[4..].join(" "))
        .collect();
    txt.sort();
    assert_eq!(
        txt,
        [
            "\"hello world\" \"second string\"",
            "\"semi;colon\" \"quote\\\"d\""
        ],
        "{}",
        d.text
    );
}

/// RFC 1035 §5.1: `\DDD` is the octet with the decimal value DDD, `\X` is X; each TXT
/// character-string is at most 255 octets, and a record may have many of them.
#[test]
fn escapes_in_zone_files_are_decimal() {
    let long = "k".repeat(255);
    let zone = format!(
        "$TTL 300\n@ SOA ns h 1 2 3 4 60\n NS ns\nns A 192.0.2.1\n\
         esc TXT \"q\\065q\" a\\066b \"\\000\\255\" \"semi\\;\\\"quote\"\n\
         n\\065me A 192.0.2.5\n\
         dkim TXT \"{long}\" \"{long}\" \"tail\"\n"
    );
    let s = Server::start_owned(ZoneDir::with_zone("example.net", &zone), &[]);
    let r = udp(s.addr, &query("esc.example.net.", RecordType::TXT));
    let RData::TXT(t) = &r.answers[0].data else {
        panic!("{r}")
    };
    let got: Vec<&[u8]> = t.txt_data.iter().map(|s| &s[..]).collect();
    assert_eq!(
        got,
        [&b"qAq"[..], b"aBb", &[0u8, 255], b"semi;\"quote"],
        "TXT escapes decoded"
    );
    // `n\065me` is the name "nAme".
    let r = udp(s.addr, &query("NAME.example.net.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.5"], "{r}");
    // 255 + 255 + 4 octets in three strings: served whole over TCP.
    let r = tcp(s.addr, &query("dkim.example.net.", RecordType::TXT));
    assert!(!r.metadata.truncation);
    let RData::TXT(t) = &r.answers[0].data else {
        panic!("{r}")
    };
    let lens: Vec<usize> = t.txt_data.iter().map(|s| s.len()).collect();
    assert_eq!(lens, [255, 255, 4]);
    let d = dig(s.port(), &["esc.example.net.", "TXT"]);
    assert!(
        d.text.contains(r#""qAq" "aBb" "\000\255" "semi;\"quote""#),
        "{}",
        d.text
    );
}
