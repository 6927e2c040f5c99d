//! Response rate limiting, end to end: one network flooding gets at most its rate (plus the
//! slipped TC answers), another network and TCP are unaffected, exempt networks and log-only
//! mode send everything, and the counters say what happened. Rates here are per second and
//! the floods take well under one, so the counts do not depend on the machine's speed.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// What a flood of `n` identical queries from `from` got back.
#[derive(Debug, Default)]
struct Outcome {
    answered: usize,
    slipped: usize,
    silent: usize,
}

/// Sends `n` queries for `qname` from `from` in one burst (a flood, far above any rate
/// here), then collects the replies until none comes for a while.
fn flood(to: SocketAddr, from: &str, qname: &str, n: usize) -> Outcome {
    let sock = UdpSocket::bind(format!("{from}:0")).expect("bind the client");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for i in 0..n {
        let mut q = query(qname, RecordType::A);
        q.metadata.id = i as u16;
        sock.send_to(&encode(&q), to).unwrap();
    }
    let mut out = Outcome::default();
    let mut seen = vec![false; n];
    let mut buf = [0u8; 1500];
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        let r = decode(&buf[..len]);
        let id = usize::from(r.metadata.id);
        assert!(id < n && !seen[id], "one reply per query");
        seen[id] = true;
        if r.metadata.truncation {
            assert!(r.answers.is_empty(), "a slipped answer is empty");
            out.slipped += 1;
        } else {
            out.answered += 1;
        }
    }
    out.silent = n - out.answered - out.slipped;
    out
}

fn metrics(s: &Server) -> String {
    let (code, body) = http_get(s.http_addr(), "/metrics");
    assert_eq!(code, 200);
    body
}

const RATE: usize = 5;

#[test]
fn a_flooding_network_gets_its_rate_and_slips_others_are_unaffected() {
    let s = Server::start_owned(
        ZoneDir::example(),
        &[
            "--http",
            "127.0.0.1:0",
            "--rrl-rate",
            "5",
            "--rrl-slip",
            "2",
            "--rrl-window",
            "5",
        ],
    );
    let o = flood(s.addr, "127.0.0.1", "www.example.com.", 40);
    // The account starts with RATE credits; a second boundary during the flood can add
    // RATE more at most (and only before the account is driven to its floor).
    assert!(
        (RATE..=2 * RATE).contains(&o.answered),
        "answered {o:?} (rate {RATE})"
    );
    let limited = 40 - o.answered;
    // slip 2: every other limited response is sent empty with TC=1.
    assert_eq!(o.slipped, limited / 2, "{o:?}");
    assert_eq!(o.silent, limited - limited / 2, "{o:?}");
    // Another /24 (127.0.1.0/24) is answered in full, for the same name.
    let other = flood(s.addr, "127.0.1.1", "www.example.com.", RATE);
    assert_eq!(other.answered, RATE, "{other:?}");
    // TCP is never limited, even from the flooding network.
    for _ in 0..20 {
        let r = tcp(s.addr, &query("www.example.com.", RecordType::A));
        assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    }
    // The counters.
    let m = metrics(&s);
    assert_eq!(
        metric(&m, "geosteer_rrl_limited_total"),
        Some(limited as f64),
        "{m}"
    );
    assert_eq!(
        metric(&m, "geosteer_rrl_slipped_total"),
        Some(o.slipped as f64)
    );
    assert_eq!(
        metric(&m, "geosteer_rrl_dropped_total"),
        Some(o.silent as f64)
    );
    // One log line for the flood, not one per response.
    s.wait_for_stderr("response rate limiting: 127.0.0.0/24");
    let lines = s
        .stderr()
        .iter()
        .filter(|l| l.contains("response rate limiting: 127.0.0.0/24"))
        .count();
    assert_eq!(lines, 1, "{:?}", s.stderr());
}

#[test]
fn nxdomain_is_limited_per_zone_whatever_the_name() {
    let s = Server::start_owned(ZoneDir::example(), &["--rrl-rate", "5", "--rrl-slip", "0"]);
    // Random names: one account (the zone's) for all of them.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for i in 0..30 {
        let q = query(&format!("nope{i}.example.com."), RecordType::A);
        sock.send_to(&encode(&q), s.addr).unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 1500];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        assert_eq!(rcode(&decode(&buf[..n])), ResponseCode::NXDomain);
        answered += 1;
    }
    assert!((RATE..=2 * RATE).contains(&answered), "{answered}");
    // A positive answer to the same network is another account.
    let o = flood(s.addr, "127.0.0.1", "mail.example.com.", RATE);
    assert_eq!(o.answered, RATE, "{o:?}");
}

#[test]
fn exempt_networks_log_only_and_off_send_everything() {
    for (args, what) in [
        (
            &["--rrl-rate", "5", "--rrl-exempt", "127.0.0.0/8"][..],
            "exempt",
        ),
        (
            &["--rrl-rate", "5", "--rrl-log-only", "--http", "127.0.0.1:0"][..],
            "log-only",
        ),
        (&[][..], "off (the default)"),
    ] {
        let s = Server::start_owned(ZoneDir::example(), args);
        let o = flood(s.addr, "127.0.0.1", "www.example.com.", 40);
        assert_eq!(o.answered, 40, "{what}: {o:?}");
        if what == "log-only" {
            let m = metrics(&s);
            let limited = metric(&m, "geosteer_rrl_limited_total").unwrap();
            assert!(limited >= 40.0 - 2.0 * RATE as f64, "{what}: {m}");
            assert_eq!(metric(&m, "geosteer_rrl_dropped_total"), Some(0.0));
            s.wait_for_stderr("log-only: sent anyway");
        }
    }
}

#[test]
fn bad_rrl_flags_are_refused() {
    for args in [
        &["--rrl-window", "0"][..],
        &["--rrl-slip", "11"],
        &["--rrl-ipv4-prefix", "33"],
        &["--rrl-exempt", "not-a-network"],
    ] {
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(args[0]),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
