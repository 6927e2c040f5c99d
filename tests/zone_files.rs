//! Zone files as NSD, Knot and BIND read them: any octet in an owner name (RFC 2181 §11), no
//! TTL at all, every record type (RFC 3597 generic form too), DNSSEC data, and errors that
//! name the value at fault without cascading. Each test loads a zone with `geosteer check`
//! and, where it loads, serves it and reads the answers back with hickory or `dig`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

const SOA: &str =
    "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  IN NS ns1\nns1 IN A 192.0.2.1\n";

fn check(dir: &Path) -> Output {
    Command::new(BIN)
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .output()
        .expect("run geosteer check")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `geosteer check` passes; returns its stderr (warnings).
fn loads(dir: &ZoneDir) -> String {
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(0), "check failed:\n{}", stderr(&o));
    stderr(&o)
}

/// `geosteer check` fails; returns the error lines (without the count).
fn errors(dir: &ZoneDir) -> Vec<String> {
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(1), "check passed:\n{}", stderr(&o));
    stderr(&o)
        .lines()
        .filter(|l| !l.contains(" WARN ") && !l.ends_with(" error") && !l.ends_with(" errors"))
        .map(str::to_string)
        .collect()
}

/// A query for a name given as raw labels (any octet), so that no text form is involved.
fn query_labels(labels: &[&[u8]], qtype: RecordType) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    let mut q = Query::query(Name::from_labels(labels.iter().copied()).unwrap(), qtype);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    m
}

/// The RDATA octets of every answer record (as hickory re-encodes them: the types compared
/// here are ones it keeps verbatim).
fn answer_rdata(m: &Message) -> Vec<Vec<u8>> {
    use hickory_proto::serialize::binary::BinEncodable;
    m.answers
        .iter()
        .map(|r| r.data.to_bytes().expect("encode rdata"))
        .collect()
}

/// `dig +noall +answer` for each (name, type) in one dig process: the answer lines as
/// `(owner lower-cased, type, rdata with blanks collapsed, ttl)`.
fn dig_answers(port: u16, queries: &[(&str, &str)]) -> Vec<(String, String, String, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    let text: String = queries.iter().map(|(n, t)| format!("{n} {t}\n")).collect();
    std::fs::write(&batch, text).unwrap();
    let out = Command::new("dig")
        .args(["+norec", "+time=2", "+tries=1", "+noall", "+answer", "-p"])
        .arg(port.to_string())
        .arg("@127.0.0.1")
        .arg("-f")
        .arg(&batch)
        .output()
        .expect("run dig (apt-get install bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .filter(|f| f.len() >= 4 && !f[0].starts_with(';'))
        .filter_map(|f| {
            Some((
                f[0].to_ascii_lowercase(),
                f[3].to_string(),
                f[4..].join(" "),
                f[1].parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn owner_names_take_any_octet() {
    // RFC 2181 §11: a label is any octets. Each of these was refused with "Label contains
    // invalid characters".
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}my_host A 192.0.2.10\n-lead A 192.0.2.11\na\\032b A 192.0.2.12\n\
             a\\000b A 192.0.2.13\na\\.b A 192.0.2.14\n\\195\\169t\\195\\169 A 192.0.2.15\n\
             0/25 NS ns1.example.net.\n1 CNAME 1.0/25\nUPPER\\\\x A 192.0.2.16\n"
        ),
    );
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    let cases: [(&[u8], [u8; 4]); 7] = [
        (b"my_host", [192, 0, 2, 10]),
        (b"-lead", [192, 0, 2, 11]),
        (b"a b", [192, 0, 2, 12]),
        (b"a\0b", [192, 0, 2, 13]),
        (b"a.b", [192, 0, 2, 14]),
        ("été".as_bytes(), [192, 0, 2, 15]),
        // Case-insensitive: the query spells it in lower case.
        (b"upper\\x", [192, 0, 2, 16]),
    ];
    for (label, addr) in cases {
        let q = query_labels(&[label, b"example", b"com"], RecordType::A);
        let r = udp(s.addr, &q);
        assert_eq!(
            answer_rdata(&r),
            vec![addr.to_vec()],
            "{}",
            String::from_utf8_lossy(label)
        );
        // The owner is echoed octet for octet.
        assert_eq!(r.answers[0].name.iter().next().unwrap(), label);
    }
    // RFC 2317 classless delegation: the CNAME points below the cut at 0/25.
    let r = udp(s.addr, &query("1.example.com.", RecordType::PTR));
    let RData::CNAME(target) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(target.0.iter().nth(1).unwrap(), b"0/25");
    assert_eq!(rdata_strings(&r.authorities), ["NS ns1.example.net."]);
}

#[test]
fn a_zone_without_any_ttl_loads_with_the_nsd_and_knot_default() {
    let dir = ZoneDir::with_zone(
        "example.com",
        "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 600 IN NS ns1\n  IN MX 10 ns1\n\
         ns1 IN A 192.0.2.1\n$TTL 100\nx 700 A 192.0.2.2\ny A 192.0.2.3\n",
    );
    let warnings = loads(&dir);
    // One warning, at the first record without a TTL.
    let want = format!(
        "{}:1: no TTL on this record and no $TTL before it: records without a TTL get 3600 s",
        dir.path().join("example.com.zone").display()
    );
    assert!(warnings.contains(&want), "no `{want}` in:\n{warnings}");
    assert_eq!(warnings.matches("no TTL on this record").count(), 1);
    let s = Server::start(dir.path(), &[]);
    let got = dig_answers(
        s.port(),
        &[
            ("example.com", "SOA"),
            ("example.com", "NS"),
            ("example.com", "MX"),
            ("ns1.example.com", "A"),
            ("x.example.com", "A"),
            ("y.example.com", "A"),
        ],
    );
    let ttls: Vec<(&str, u32)> = got
        .iter()
        .map(|(_, t, _, ttl)| (t.as_str(), *ttl))
        .collect();
    // NSD and Knot answer the same: 3600 where no TTL is written and no $TTL is in force
    // (the explicit 600 is not inherited), $TTL once there is one.
    assert_eq!(
        ttls,
        [
            ("SOA", 3600),
            ("NS", 600),
            ("MX", 3600),
            ("A", 3600),
            ("A", 700),
            ("A", 100)
        ]
    );
}

/// Every type, written as zone files write it, and what `dig` (BIND's presentation code, an
/// independent implementation) shows for the answer.
const TYPES: &[(&str, &str, &str)] = &[
    ("a", "A 192.0.2.1", "192.0.2.1"),
    ("aaaa", "AAAA 2001:db8::1", "2001:db8::1"),
    ("md", "MD madname", "madname.example.com."),
    ("mf", "MF madname.example.net.", "madname.example.net."),
    ("mb", "MB madname", "madname.example.com."),
    ("mg", "MG mgmname", "mgmname.example.com."),
    ("mr", "MR mrname", "mrname.example.com."),
    (
        "minfo",
        "MINFO rmailbx emailbx",
        "rmailbx.example.com. emailbx.example.com.",
    ),
    (
        "wks",
        "WKS 10.0.0.1 tcp telnet ftp 0 1 2",
        "10.0.0.1 6 0 1 2 21 23",
    ),
    ("ptr", "PTR @", "example.com."),
    (
        "hinfo",
        "HINFO \"Generic PC\" NetBSD",
        "\"Generic PC\" \"NetBSD\"",
    ),
    ("mx", "MX 10 mail", "10 mail.example.com."),
    (
        "txt",
        "TXT \"a;b\" c\\032d \"\\\"q\\\"\"",
        "\"a;b\" \"c d\" \"\\\"q\\\"\"",
    ),
    ("rp", "RP mbox txt", "mbox.example.com. txt.example.com."),
    ("afsdb", "AFSDB 1 afs", "1 afs.example.com."),
    ("x25", "X25 311061700956", "\"311061700956\""),
    (
        "isdn",
        "ISDN 150862028003217 004",
        "\"150862028003217\" \"004\"",
    ),
    ("rt", "RT 10 relay", "10 relay.example.com."),
    (
        "nsap",
        "NSAP 0x47.0005.80.005a00.0000.0001.e133.ffffff000161.00",
        "0x47000580005a0000000001e133ffffff00016100",
    ),
    ("nsap-ptr", "NSAP-PTR foo.", "foo."),
    (
        "px",
        "PX 10 map822 mapx400",
        "10 map822.example.com. mapx400.example.com.",
    ),
    (
        "gpos",
        "GPOS -22.6882 116.8652 250.0",
        "\"-22.6882\" \"116.8652\" \"250.0\"",
    ),
    (
        "loc",
        "LOC 60 09 00.000 N 24 39 00.000 E 10.00m 20.00m ( 2000.00m 20.00m )",
        "60 9 0.000 N 24 39 0.000 E 10.00m 20m 2000m 20m",
    ),
    ("eid", "EID 12 89 AB", "1289AB"),
    ("nimloc", "NIMLOC 12 89 AB", "1289AB"),
    ("srv", "SRV 0 5 5060 sip", "0 5 5060 sip.example.com."),
    ("atma", "ATMA +61200000000", "+61200000000"),
    (
        "naptr",
        "NAPTR 100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
        "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
    ),
    ("kx", "KX 10 kdc", "10 kdc.example.com."),
    ("cert", "CERT PGP 0 0 AAECAwQ=", "PGP 0 0 AAECAwQ="),
    (
        "a6",
        "A6 64 ::ffff:ffff:ffff:ffff foo.",
        "64 ::ffff:ffff:ffff:ffff foo.",
    ),
    (
        "dname",
        "DNAME dname-target.example.net.",
        "dname-target.example.net.",
    ),
    ("sink", "SINK 8 0 2 l4ik", "8 0 2 l4ik"),
    (
        "apl",
        "APL !1:10.0.0.1/32 1:10.0.0.0/24 2:2001:db8::/32",
        "!1:10.0.0.1/32 1:10.0.0.0/24 2:2001:db8::/32",
    ),
    ("apl-empty", "APL", ""),
    (
        "sshfp",
        "SSHFP 4 2 C76D8329954DA2835751E371544E963EFDA099080D6C58DD2BFD9A31 6E162C83",
        "4 2 C76D8329954DA2835751E371544E963EFDA099080D6C58DD2BFD9A31 6E162C83",
    ),
    (
        "ipseckey",
        "IPSECKEY ( 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ== )",
        "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
    ),
    (
        "ipseckey3",
        "IPSECKEY 10 3 2 gw.example.net. AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        "10 3 2 gw.example.net. AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
    ),
    (
        "dhcid",
        "DHCID ( AAIBY2/AuCccgoJbsaxcQc9TUapptP69l OjxfNuVAA2kjEA= )",
        "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
    ),
    (
        "tlsa",
        "TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B566 64C5D3D6",
        "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B566 64C5D3D6",
    ),
    ("smimea", "SMIMEA 3 1 1 0C72AC70", "3 1 1 0C72AC70"),
    (
        "hip",
        "HIP ( 2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D rvs.example.net. )",
        "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D rvs.example.net.",
    ),
    ("ninfo", "NINFO \"foo\" bar", "\"foo\" \"bar\""),
    ("talink", "TALINK . talink1", ". talink1.example.com."),
    (
        "openpgpkey",
        "OPENPGPKEY AQMFD5raczCJHViKtLYhWGz8hMY9UGRuniJDBzC7w0aRyzWZriO6i2odGWWQVucZqKVsENW91IOW4vqudngPZsY3GvQ/xVA8/7pyFj6b7Esga60zyGW6LFe9r8n6paHrlG5ojqf0BaqHT+8=",
        "AQMFD5raczCJHViKtLYhWGz8hMY9UGRuniJDBzC7w0aRyzWZriO6i2od GWWQVucZqKVsENW91IOW4vqudngPZsY3GvQ/xVA8/7pyFj6b7Esga60z yGW6LFe9r8n6paHrlG5ojqf0BaqHT+8=",
    ),
    ("csync", "CSYNC 66 3 A NS AAAA", "66 3 A NS AAAA"),
    (
        "zonemd",
        "ZONEMD 2018031500 1 1 ( FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE 7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE )",
        "2018031500 1 1 FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B6 41A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE",
    ),
    (
        "svcb",
        "SVCB 1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1 ech=AEj+DQ== ipv6hint=2001:db8::1",
        "1 . alpn=\"h2,h3\" port=8443 ipv4hint=192.0.2.1 ech=AEj+DQ== ipv6hint=2001:db8::1",
    ),
    ("https", "HTTPS 0 svc.example.net.", "0 svc.example.net."),
    ("spf", "SPF \"v=spf1 -all\"", "\"v=spf1 -all\""),
    ("nid", "NID 10 0014:4fff:ff20:ee64", "10 14:4fff:ff20:ee64"),
    ("l32", "L32 10 10.1.2.0", "10 10.1.2.0"),
    ("l64", "L64 10 2001:0db8:1140:1000", "10 2001:db8:1140:1000"),
    (
        "lp",
        "LP 10 l64-subnet1.example.com.",
        "10 l64-subnet1.example.com.",
    ),
    ("eui48", "EUI48 00-00-5e-00-53-2a", "00-00-5e-00-53-2a"),
    (
        "eui64",
        "EUI64 00-00-5e-ef-10-00-00-2a",
        "00-00-5e-ef-10-00-00-2a",
    ),
    (
        "uri",
        "URI 10 1 \"ftp://ftp1.example.com/public\"",
        "10 1 \"ftp://ftp1.example.com/public\"",
    ),
    (
        "caa",
        "CAA 0 issue \"ca.example.net; policy=ev\"",
        "0 issue \"ca.example.net; policy=ev\"",
    ),
    ("caa2", "CAA 128 tbs \"\"", "128 tbs \"\""),
    (
        "avc",
        "AVC app-name:WOLFGANG|app-class:OAM",
        "\"app-name:WOLFGANG|app-class:OAM\"",
    ),
    (
        "doa",
        "DOA 0 1 2 \"\" aHR0cHM6Ly93d3cuaXNjLm9yZy8=",
        "0 1 2 \"\" aHR0cHM6Ly93d3cuaXNjLm9yZy8=",
    ),
    (
        "amtrelay",
        "AMTRELAY 0 0 3 relay.example.net.",
        "0 0 3 relay.example.net.",
    ),
    ("amtrelay0", "AMTRELAY 10 1 0 .", "10 1 0 ."),
    (
        "resinfo",
        "RESINFO qnamemin exterr=15,16,17",
        "\"qnamemin\" \"exterr=15,16,17\"",
    ),
    (
        "wallet",
        "WALLET BTC 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "\"BTC\" \"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\"",
    ),
    (
        "dsync",
        "DSYNC CDS NOTIFY 5359 cds-scanner.example.net.",
        "CDS NOTIFY 5359 cds-scanner.example.net.",
    ),
    ("key", "KEY 256 3 8 AwEAAQ==", "256 3 8 AwEAAQ=="),
    ("null", "NULL \\# 3 010203", "\\# 3 010203"),
    ("generic-mx", "MX \\# 8 000a 04 6d61696c 00", "10 mail."),
    ("generic-a", "TYPE1 \\# 4 c0000202", "192.0.2.2"),
    ("type65280", "TYPE65280 \\# 4 0a000001", "\\# 4 0A000001"),
    ("type65280", "TYPE65280 \\# 0", "\\# 0"),
    ("type1-text", "TYPE1 192.0.2.3", "192.0.2.3"),
    // Cut from the DNSSEC set: the parent side of a delegation carries DS, the apex DNSKEY.
    (
        "ds",
        "DS 60485 5 1 ( 2BB183AF5F22588179A53B0A 98631FAD1A292118 )",
        "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
    ),
    ("cds", "CDS 0 0 0 00", "0 0 0 00"),
    ("cdnskey", "CDNSKEY 0 3 0 AA==", "0 3 0 AA=="),
    (
        "dnskey",
        "DNSKEY 257 3 ECDSAP256SHA256 ( AwEAAQ== )",
        "257 3 13 AwEAAQ==",
    ),
    (
        "nsec",
        "NSEC host.example.com. A MX RRSIG NSEC TYPE1234",
        "host.example.com. A MX RRSIG NSEC TYPE1234",
    ),
    ("nsec3param", "NSEC3PARAM 1 0 0 -", "1 0 0 -"),
    (
        "ta",
        "TA 30795 1 1 310D27F4D82C1FC2400704EA9939FE6E1CEAA3B9",
        "30795 1 1 310D27F4D82C1FC2400704EA9939FE6E1CEAA3B9",
    ),
    (
        "dlv",
        "DLV 30795 1 1 310D27F4D82C1FC2400704EA9939FE6E1CEAA3B9",
        "30795 1 1 310D27F4D82C1FC2400704EA9939FE6E1CEAA3B9",
    ),
];

#[test]
fn every_record_type_loads_and_is_served_as_written() {
    let mut text = SOA.to_string();
    for (owner, rr, _) in TYPES {
        text.push_str(&format!("{owner} {rr}\n"));
    }
    let dir = ZoneDir::with_zone("example.com", &text);
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    let queries: Vec<(String, String)> = TYPES
        .iter()
        .map(|(owner, rr, _)| {
            let mut t = rr.split_whitespace().next().unwrap().to_string();
            if t.starts_with("TYPE1") && !t.starts_with("TYPE65") {
                t = "A".into();
            }
            // A NULL question gets FORMERR until the answer side is fixed; ANY gets the one
            // RRset there.
            if t == "NULL" {
                t = "ANY".into();
            }
            (format!("{owner}.example.com"), t)
        })
        .collect();
    let mut unique = queries.clone();
    unique.dedup();
    let q: Vec<(&str, &str)> = unique
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let got = dig_answers(s.port(), &q);
    for ((owner, rr, want), (qname, _)) in TYPES.iter().zip(&queries) {
        let qname = format!("{qname}.");
        assert!(
            got.iter().any(|(o, _, rd, _)| *o == qname && rd == want),
            "{owner} {rr}: want {want:?}, dig shows {:?}",
            got.iter().filter(|(o, ..)| *o == qname).collect::<Vec<_>>()
        );
    }
}

#[test]
fn nsec3_records_load_outside_the_name_tree() {
    // RFC 5155 §7.2.8: an NSEC3 owner name is not a name of the zone; NSD and Knot answer
    // NXDOMAIN for it, whatever the type asked.
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NSEC3 1 1 12 aabbccdd ( \
             2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG )\n\
             @ NSEC3PARAM 1 0 12 aabbccdd\n"
        ),
    );
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    for t in ["NSEC3", "A"] {
        let d = dig(
            s.port(),
            &["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com", t],
        );
        assert_eq!(d.status(), "NXDOMAIN", "{t}: {}", d.text);
    }
    let d = dig(s.port(), &["example.com", "NSEC3PARAM"]);
    assert_eq!(d.section("ANSWER")[0][4..], ["1", "0", "12", "AABBCCDD"]);
}

#[test]
fn rfc3597_generic_data_is_served_byte_for_byte() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}u TYPE65280 \\# 4 0a000001\nu TYPE65280 \\# ( 6 00ff\n 00 ff 00 ff )\n\
             e TYPE65281 \\# 0\nm MX \\# 8 000a046d61696c00\n"
        ),
    );
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    let r = udp(s.addr, &query("u.example.com.", RecordType::Unknown(65280)));
    assert_eq!(
        answer_rdata(&r),
        vec![vec![10, 0, 0, 1], vec![0, 255, 0, 255, 0, 255]]
    );
    // (hickory will not decode an empty RDATA in a response: dig reads it.)
    let d = dig(s.port(), &["e.example.com", "TYPE65281"]);
    assert_eq!(d.section("ANSWER")[0][4..], ["\\#", "0"]);
    let r = udp(s.addr, &query("m.example.com.", RecordType::MX));
    assert_eq!(rdata_strings(&r.answers), ["MX 10 mail."]);

    // Generic data that does not fit the type, or an unknown type without it.
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}a TYPE65280 \\# 5 0a000001\nb A \\# 3 0a0000\nc TYPE65280 0a000001\n\
             d MX \\# 4 000ac00c\ne TYPE65280 \\# 2 0g00\n"
        ),
    );
    let errs = errors(&dir);
    let file = dir.path().join("example.com.zone");
    let line = |n: usize, text: &str| {
        let prefix = format!("{}:{n}: ", file.display());
        assert!(
            errs.iter()
                .any(|l| l.starts_with(&prefix) && l.contains(text)),
            "no `{prefix}…{text}…` in:\n{}",
            errs.join("\n")
        );
    };
    line(5, "RFC 3597 length says 5 octets but the data has 4");
    line(6, "bad A record: data must be 4 octets, not 3");
    line(7, "no presentation format is known for TYPE65280");
    line(
        8,
        "bad MX record: data does not hold a well-formed, uncompressed domain name",
    );
    line(
        9,
        "bad TYPE65280 record \"0g00\": RFC 3597 data is not valid hexadecimal",
    );
    assert_eq!(errs.len(), 5, "{}", errs.join("\n"));
}

#[test]
fn dnssec_data_loads_and_a_ds_at_a_delegation_is_served() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}@ DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n\
             @ NSEC3PARAM 1 0 0 -\n@ CDS 0 0 0 00\n@ CDNSKEY 0 3 0 AA==\n\
             @ NSEC sub.example.com. NS SOA DNSKEY NSEC3PARAM\n\
             sub NS ns1.sub\nsub DS 60485 13 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A\n\
             ns1.sub A 192.0.2.53\n"
        ),
    );
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    // DS lives on the parent side of the cut: an authoritative answer, not a referral.
    let d = dig(s.port(), &["sub.example.com", "DS"]);
    assert_eq!(d.status(), "NOERROR");
    assert!(d.has_flag("aa"), "{}", d.text);
    assert_eq!(
        d.section("ANSWER")[0][4..].join(" "),
        "60485 13 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4 469DA50A"
    );
    // Below the cut: a referral.
    let d = dig(s.port(), &["www.sub.example.com", "A"]);
    assert!(!d.has_flag("aa"), "{}", d.text);
    for t in ["DNSKEY", "NSEC3PARAM", "CDS", "CDNSKEY", "NSEC"] {
        let d = dig(s.port(), &["example.com", t]);
        assert_eq!(d.section("ANSWER").len(), 1, "{t}: {}", d.text);
    }
}

#[test]
fn a_signed_zone_is_rejected_saying_that_signed_zones_cannot_be_served_yet() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}@ RRSIG SOA 13 2 300 20300101000000 20200101000000 12345 example.com. AAAA\n\
             ns1 RRSIG A 13 3 300 20300101000000 20200101000000 12345 example.com. AAAA\n"
        ),
    );
    let errs = errors(&dir);
    assert_eq!(errs.len(), 1, "one error for the zone: {}", errs.join("\n"));
    assert!(
        errs[0].starts_with(&format!(
            "{}:5: RRSIG record: this zone is already signed, and geosteer signs zones itself",
            dir.path().join("example.com.zone").display()
        )),
        "{}",
        errs[0]
    );
}

#[test]
fn missing_glue_is_warned_with_file_and_line() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}@ NS ns2\nsub NS ns.sub\nsub NS ns.elsewhere.net.\nother NS ns1\n"),
    );
    let warnings = loads(&dir);
    let file = dir.path().join("example.com.zone");
    for (line, what) in [
        (5, "ns2.example.com. of example.com."),
        (6, "ns.sub.example.com. of sub.example.com."),
    ] {
        let want = format!(
            "{}:{line}: name server {what} is inside zone example.com. but has no A or AAAA \
             record in the zone file (missing glue",
            file.display()
        );
        assert!(warnings.contains(&want), "no `{want}` in:\n{warnings}");
    }
    // Out-of-zone servers and servers with addresses are fine.
    assert_eq!(warnings.matches("missing glue").count(), 2, "{warnings}");
}

#[test]
fn bad_rdata_errors_echo_the_offending_value() {
    let cases = [
        (
            "A 192.0.2.256",
            "bad A record \"192.0.2.256\": not an IPv4 address",
        ),
        (
            "AAAA 2001:db8::g",
            "bad AAAA record \"2001:db8::g\": not an IPv6 address",
        ),
        (
            "MX 70000 mail",
            "bad MX record \"70000\": preference must be a number from 0 to 65535",
        ),
        ("MX 10", "bad MX record: missing domain name"),
        (
            "A 192.0.2.1 192.0.2.2",
            "bad A record \"192.0.2.2\": unexpected data after the last field",
        ),
        (
            "CAA 0 is-sue \"x\"",
            "bad CAA record \"is-sue\": a CAA tag is letters and digits only",
        ),
        (
            "EUI48 00-00-5e-00-53",
            "bad EUI48 record \"00-00-5e-00-53\": an EUI-48 address is 6 pairs",
        ),
        (
            "DS 1 8 2 abcd",
            "bad DS record \"abcd\": a SHA-256 digest is 32 octets, this one has 2",
        ),
        (
            "LOC 91 N 0 E 0",
            "bad LOC record \"91\": latitude degrees must be a number from 0 to 90",
        ),
        (
            "LOC 90 1 N 0 E 0",
            "bad LOC record \"N\": latitude is beyond 90 degrees",
        ),
        (
            "SRV 0 0 http target",
            "bad SRV record \"http\": port must be a number from 0 to 65535",
        ),
        (
            "DNSKEY 257 3 8 !!!",
            "bad DNSKEY record \"!!!\": public key is not valid base64",
        ),
        (
            "TXT \"\\300\"",
            "bad TXT record \"\\\\300\": escape \\300 is over 255",
        ),
        (
            "CNAME a..b",
            "bad CNAME record \"a..b\": bad domain name: empty label",
        ),
        (
            "SVCB 1 . alpn=h2 alpn=h3",
            "bad SVCB record \"alpn=h3\": alpn appears twice",
        ),
    ];
    let mut text = SOA.to_string();
    for (i, (rr, _)) in cases.iter().enumerate() {
        text.push_str(&format!("r{i} {rr}\n"));
    }
    let dir = ZoneDir::with_zone("example.com", &text);
    let errs = errors(&dir);
    let file = dir.path().join("example.com.zone");
    for (i, (rr, want)) in cases.iter().enumerate() {
        let prefix = format!("{}:{}: {want}", file.display(), i + 5);
        assert!(
            errs.iter().any(|l| l.starts_with(&prefix)),
            "{rr}: no `{prefix}…` in:\n{}",
            errs.join("\n")
        );
    }
    assert_eq!(errs.len(), cases.len(), "{}", errs.join("\n"));
}

#[test]
fn a_bad_line_does_not_cascade_into_other_errors() {
    let file_of = |dir: &ZoneDir| dir.path().join("example.com.zone").display().to_string();
    // An unclosed parenthesis swallows the SOA: one error, no "no SOA record".
    let dir = ZoneDir::with_zone(
        "example.com",
        "$TTL 300\n@ SOA ns1 hostmaster (\n 1 7200 3600\n 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    let errs = errors(&dir);
    assert_eq!(errs, [format!("{}:2: '(' is never closed", file_of(&dir))]);

    // A bad owner name: its error only, not one for each line that inherits it.
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}bad..owner A 192.0.2.1\n  AAAA 2001:db8::1\n  MX 10 ns1\nok A 192.0.2.2\n"),
    );
    let errs = errors(&dir);
    assert_eq!(errs.len(), 1, "{}", errs.join("\n"));
    assert!(errs[0].starts_with(&format!(
        "{}:5: bad owner name \"bad..owner\"",
        file_of(&dir)
    )));

    // A stray ')' costs its own line only.
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}x A 192.0.2.1 )\ny A 192.0.2.2\n"),
    );
    let errs = errors(&dir);
    assert_eq!(
        errs,
        [format!("{}:5: ')' without a matching '('", file_of(&dir))]
    );

    // A bad SOA: its error, not also "no SOA record" (the SOA line was read, and failed).
    let dir = ZoneDir::with_zone(
        "example.com",
        "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    let errs = errors(&dir);
    assert_eq!(
        errs,
        [format!(
            "{}:2: bad SOA record: missing minimum",
            file_of(&dir)
        )]
    );
}

#[test]
fn rdata_longer_than_65535_octets_is_rejected_at_load() {
    // 257 strings of 255 octets: 257 × 256 = 65792 octets of RDATA.
    let strings = vec![format!("\"{}\"", "x".repeat(255)); 257].join(" ");
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}big TXT ( {strings} )\nbig2 TYPE65280 \\# 65536 00\n"),
    );
    let errs = errors(&dir);
    let file = dir.path().join("example.com.zone");
    assert!(
        errs.contains(&format!(
            "{}:5: TXT record data of 65792 octets is longer than 65535 (RFC 1035 §3.2.1)",
            file.display()
        )),
        "{}",
        errs.join("\n")
    );
    assert!(
        errs.iter().any(|l| l.starts_with(&format!(
            "{}:6: bad TYPE65280 record \"65536\"",
            file.display()
        ))),
        "{}",
        errs.join("\n")
    );
}

#[test]
fn a_dname_is_stored_and_served_at_its_owner() {
    let dir = ZoneDir::with_zone("example.com", &format!("{SOA}old DNAME new.example.net.\n"));
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    let d = dig(s.port(), &["old.example.com", "DNAME"]);
    assert_eq!(d.section("ANSWER")[0][4], "new.example.net.");
    // Two DNAMEs at one name are refused (RFC 6672 §2.4).
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}old DNAME a.example.net.\nold DNAME b.example.net.\n"),
    );
    let errs = errors(&dir);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].ends_with("old.example.com. has more than one DNAME (RFC 6672 §2.4)"));
}

#[test]
fn master_file_syntax() {
    // Class before or after the TTL, TTL units, RFC 3597 class and type names, $ORIGIN changes,
    // `@` in RDATA, comments and parentheses inside and around quoted text.
    let dir = ZoneDir::with_zone(
        "example.com",
        "$TTL 1h30m\n@ IN SOA ns1 hostmaster ( 1 2h 1H 2w 5m ) ; comment\n\
         @ NS ns1\nns1 A 192.0.2.1\n\
         a IN 300 A 192.0.2.2\nb 300 IN A 192.0.2.3\nc CLASS1 TYPE1 192.0.2.4\n\
         d 1d A 192.0.2.5\ne TXT \"(not a paren; not a comment)\"\n\
         $ORIGIN sub.example.com.\nf A 192.0.2.6\ng CNAME @\n",
    );
    loads(&dir);
    let s = Server::start(dir.path(), &[]);
    let got = dig_answers(
        s.port(),
        &[
            ("example.com", "SOA"),
            ("a.example.com", "A"),
            ("b.example.com", "A"),
            ("c.example.com", "A"),
            ("d.example.com", "A"),
            ("e.example.com", "TXT"),
            ("f.sub.example.com", "A"),
            ("g.sub.example.com", "CNAME"),
        ],
    );
    let summary: Vec<String> = got
        .iter()
        .map(|(o, t, rd, ttl)| format!("{o} {ttl} {t} {rd}"))
        .collect();
    assert_eq!(
        summary,
        [
            "example.com. 5400 SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
            "a.example.com. 300 A 192.0.2.2",
            "b.example.com. 300 A 192.0.2.3",
            "c.example.com. 5400 A 192.0.2.4",
            "d.example.com. 86400 A 192.0.2.5",
            "e.example.com. 5400 TXT \"(not a paren; not a comment)\"",
            "f.sub.example.com. 5400 A 192.0.2.6",
            "g.sub.example.com. 5400 CNAME sub.example.com.",
        ]
    );
    // Other classes and meta types are refused.
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}x CH A 192.0.2.1\ny IN ANY \\# 0\nz TYPE251 \\# 0\n"),
    );
    let errs = errors(&dir);
    assert!(
        errs[0].ends_with("class CH is not served (only IN)"),
        "{}",
        errs.join("\n")
    );
    assert!(errs[1].ends_with("ANY is not a record type that can appear in a zone"));
    assert!(errs[2].ends_with("IXFR is not a record type that can appear in a zone"));
}
