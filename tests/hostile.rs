//! What a hostile client can send: packets that used to make the server log per packet (and,
//! with a slow log reader, stop answering), echo a compression pointer into the response, or
//! exceed 512 bytes without EDNS. Each test first reproduced the fault on the code before it.

mod common;

use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// `example.com. IN A`, ID 0x1234, with an OPT record whose data is an option code (NSID)
/// without its length: the packet from the report, byte for byte.
const OPT_WITHOUT_LENGTH: &str =
    "123400000001000000000001076578616d706c6503636f6d000001000100002904d00000000000020003";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Lines logged after `before` that are not start-up or shutdown lines.
fn new_lines(s: &Server, before: usize) -> Vec<String> {
    s.stderr().into_iter().skip(before).collect()
}

#[test]
fn malformed_edns_options_get_formerr_with_opt_and_no_log_line() {
    let packet = unhex(OPT_WITHOUT_LENGTH);
    // The default filter and RUST_LOG=info (the harness needs info's `listening on` line;
    // warn and error log less): no level but debug logs a line per client packet.
    for rust_log in [None, Some("info")] {
        let zones = ZoneDir::with_zone("example.com", EXAMPLE_ZONE);
        let s = Server::start_env(zones.path(), &[], rust_log);
        let before = s.stderr().len();
        let raw = udp_raw(s.addr, &packet, WAIT).expect("a reply");
        let r = decode(&raw);
        assert_eq!(
            rcode(&r),
            ResponseCode::FormErr,
            "RUST_LOG={rust_log:?}:\n{r}"
        );
        assert_eq!(&raw[..2], &[0x12, 0x34], "ID echoed");
        assert!(
            r.edns.is_some(),
            "RFC 6891 §7: FORMERR with an OPT: {raw:02x?}"
        );
        assert_eq!(r.queries.len(), 1, "question echoed");
        for _ in 0..50 {
            udp_raw(s.addr, &packet, WAIT).expect("a reply");
        }
        // A normal query last: once it is answered, anything logged for the others is out.
        let q = query("www.example.com.", RecordType::A);
        assert_eq!(rcode(&udp(s.addr, &q)), ResponseCode::NoError);
        std::thread::sleep(Duration::from_millis(200));
        let logged = new_lines(&s, before);
        assert!(
            logged.is_empty(),
            "RUST_LOG={rust_log:?}: client packets were logged:\n{}",
            logged.join("\n")
        );
    }
}

#[test]
fn a_stalled_log_reader_does_not_stop_udp() {
    // debug logs every malformed query: the most a configuration can log per packet.
    let zones = ZoneDir::example();
    let s = Server::start_env(zones.path(), &[], Some("debug"));
    s.stall_stderr(true);
    let packet = unhex(OPT_WITHOUT_LENGTH);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Far more log text than a pipe holds (64 KiB): a writer that blocks would block here.
    for i in 0..3000u16 {
        let mut p = packet.clone();
        p[..2].copy_from_slice(&i.to_be_bytes());
        sock.send_to(&p, s.addr).unwrap();
        if i % 200 == 199 {
            // Let the server keep up, so the socket buffer never drops them.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut answered = 0;
    for _ in 0..20 {
        let q = query("www.example.com.", RecordType::A);
        if udp_raw(s.addr, &encode(&q), Duration::from_secs(2)).is_some() {
            answered += 1;
        }
    }
    s.stall_stderr(false);
    assert_eq!(
        answered, 20,
        "UDP queries answered while the log reader was stalled"
    );
}

#[test]
fn a_compression_pointer_in_the_question_gets_formerr() {
    let s = Server::example();
    // The question is the first name, so a pointer in it can only point back into the
    // header: here the ID and flags read as the name "x." (ID 0x0178 is the label "x", the
    // flags' high byte 0 — a standard query — is the root), and the question is "www" plus
    // a pointer to offset 0, "www.x.". Echoed as sent, that pointer would land on the
    // response's flags (QR set): a malformed response. NSD and Knot refuse any pointer in
    // a question with FORMERR.
    let mut p = vec![0x01, b'x', 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(b"\x03www\xc0\x00");
    p.extend_from_slice(&[0, 1, 0, 1]);
    let raw = udp_raw(s.addr, &p, WAIT).expect("a reply");
    let r = decode(&raw);
    assert_eq!(rcode(&r), ResponseCode::FormErr, "{r}");
    assert_eq!(
        u16::from_be_bytes([raw[4], raw[5]]),
        0,
        "QDCOUNT 0: nothing of the question is copied: {raw:02x?}"
    );
}

/// A TSIG record with a long key and algorithm name (each 200 octets).
fn long_tsig() -> Vec<u8> {
    let long_name = |c: u8| {
        let mut n = Vec::new();
        for _ in 0..3 {
            n.push(63);
            n.extend(std::iter::repeat_n(c, 63));
        }
        n.push(0);
        n
    };
    let mut r = long_name(b'k');
    r.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    let mut rd = long_name(b'a');
    rd.extend_from_slice(&[0, 0, 0x65, 0x43, 0x21, 0x00, 0x01, 0x2c]);
    rd.extend_from_slice(&32u16.to_be_bytes());
    rd.extend_from_slice(&[0xab; 32]);
    rd.extend_from_slice(&0x4444u16.to_be_bytes());
    rd.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
    r.extend_from_slice(&rd);
    r
}

#[test]
fn a_badkey_reply_without_edns_fits_512_bytes() {
    let s = Server::example();
    // A long question name too: 12 + 200-odd + 2 × 193 would be well over 512.
    let mut p = vec![0x44, 0x44, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for _ in 0..3 {
        p.push(50);
        p.extend(std::iter::repeat_n(b'q', 50));
    }
    p.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    p.extend_from_slice(&long_tsig());
    let raw = udp_raw(s.addr, &p, WAIT).expect("a reply");
    assert!(
        raw.len() <= 512,
        "{} bytes over UDP without EDNS",
        raw.len()
    );
    let r = decode(&raw);
    assert_eq!(rcode(&r), ResponseCode::NotAuth, "{r}");
    assert!(r.metadata.truncation, "TC: the whole error needs TCP");
    // Over TCP the BADKEY TSIG is there.
    let mut t = tcp_connect(s.addr);
    tcp_send(&mut t, &p);
    let raw = tcp_recv(&mut t).expect("tcp reply");
    assert!(raw.len() > 512);
    assert!(!decode(&raw).metadata.truncation);
    assert_eq!(u16::from_be_bytes([raw[10], raw[11]]), 1, "the TSIG record");
}

#[path = "support/mmdb.rs"]
mod mmdb;

/// A City database of `n` /24s (distinct cities, so nothing merges), big enough that a
/// reload's map build takes a while.
fn big_city_db(n: u32) -> Vec<u8> {
    let names: Vec<String> = (0..n).map(|i| format!("city{i}")).collect();
    let nets: Vec<String> = (0..n)
        .map(|i| {
            let a = 11 + (i >> 16);
            format!("{a}.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff)
        })
        .collect();
    let continents = ["EU", "NA", "AS", "OC"];
    let countries = ["DE", "US", "JP", "AU"];
    let networks: Vec<(&str, mmdb::City<'_>)> = (0..n as usize)
        .map(|i| {
            (
                nets[i].as_str(),
                mmdb::city(
                    continents[i % 4],
                    countries[i % 4],
                    None,
                    &names[i],
                    (i % 170) as f64 - 85.0,
                    (i % 350) as f64 - 175.0,
                ),
            )
        })
        .collect();
    mmdb::city_db_bytes("GeoIP2-City", "reload test", &networks)
}

const GEO_STEERING: &str = r#"
[pools.a]
origins = [{ address = "192.0.2.1" }]
[pools.b]
origins = [{ address = "192.0.2.2" }]
[load_balancers.geo]
steering = "geo"
default_pools = ["a", "b"]
continent_pools = { EU = ["b", "a"] }
"#;

#[test]
fn rewriting_the_geoip_file_in_place_during_a_reload_does_not_crash() {
    let bytes = big_city_db(150_000);
    let zones = ZoneDir::example();
    zones.write("example.com.toml", GEO_STEERING);
    let db = zones.write("geo.mmdb", "");
    std::fs::write(&db, &bytes).unwrap();
    let db_arg = db.to_str().unwrap().to_string();
    let mut s = Server::start(zones.path(), &["--geoip", &db_arg]);
    // Rewritten in place (as `cp` or a download tool that does not rename would do) while
    // the reload reads it: cut to half its length, at a few points of the reload.
    for (round, delay_ms) in [0u64, 5, 20, 50, 100, 200].into_iter().enumerate() {
        let before = s.stderr().len();
        s.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.set_len(bytes.len() as u64 / 2).unwrap();
        // The reload ends, one way or the other (or the process died).
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let done = s.stderr()[before..]
                .iter()
                .any(|l| l.contains("reloaded") || l.contains("reload rejected"));
            if done {
                break;
            }
            if let Some(status) = s.wait_exit(Duration::from_millis(10)) {
                panic!(
                    "round {round} ({delay_ms} ms): the server died: {status:?}\n{}",
                    s.stderr().join("\n")
                );
            }
            assert!(std::time::Instant::now() < deadline, "no end of reload");
        }
        std::fs::write(&db, &bytes).unwrap();
        let q = query("www.example.com.", RecordType::A);
        assert_eq!(
            rcode(&udp(s.addr, &q)),
            ResponseCode::NoError,
            "round {round}"
        );
    }
}
