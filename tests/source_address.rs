//! Every UDP reply leaves from the address its query was sent to, on wildcard and specific
//! listeners, IPv4 and IPv6 — checked in a private network namespace with several addresses
//! on `lo`, as an anycast or multi-homed server has them.
//!
//! The test re-runs itself under `unshare -rn` (a new user and network namespace: no root
//! needed where unprivileged user namespaces are allowed), sets up the addresses there and
//! queries each with its own socket (the reply's source must be the address queried) and
//! with `dig` (which ignores a reply from another address). Where no namespace can be made it
//! is skipped, saying so. Nothing leaves the namespace: 198.18.0.0/15 and 2001:db8::/32 exist
//! only inside it.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const CHILD: &str = "GEOSTEER_TEST_NETNS_CHILD";
const TEST: &str = "replies_leave_from_the_address_queried";

/// Addresses added to `lo` in the namespace.
const V4: [&str; 2] = ["198.18.0.1", "198.18.0.2"];
const V6: [&str; 2] = ["2001:db8:53::1", "2001:db8:53::2"];
/// The wildcard listeners' port, and the specific listeners' (198.18.0.2, 2001:db8:53::2).
const WILD: u16 = 5300;
const SPECIFIC: u16 = 5301;

#[test]
fn replies_leave_from_the_address_queried() {
    if std::env::var_os(CHILD).is_some() {
        in_namespace();
        return;
    }
    let probe = Command::new("unshare").args(["-rn", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED {TEST}: cannot create a network namespace here (`unshare -rn true`: {}); \
                 run as root or allow unprivileged user namespaces",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED {TEST}: `unshare` (util-linux) not available: {e}");
            return;
        }
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .arg("-rn")
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run the test in a namespace");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "in the namespace:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (iproute2 is needed)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs inside the namespace.
fn in_namespace() {
    ip(&["link", "set", "lo", "up"]);
    for a in V4 {
        ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
    }
    for a in V6 {
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{a}/128"),
            "dev",
            "lo",
            "nodad",
        ]);
    }
    let wild4 = format!("0.0.0.0:{WILD}");
    let wild6 = format!("[::]:{WILD}");
    let spec4 = format!("{}:{SPECIFIC}", V4[1]);
    let spec6 = format!("[{}]:{SPECIFIC}", V6[1]);
    let s = Server::start_owned(
        ZoneDir::example(),
        &[
            "--listen", &wild4, "--listen", &wild6, "--listen", &spec4, "--listen", &spec6,
        ],
    );
    let mut targets: Vec<SocketAddr> = ["127.0.0.1", "127.0.0.2", "127.1.2.3", "::1"]
        .into_iter()
        .chain(V4)
        .chain(V6)
        .map(|a| SocketAddr::new(a.parse().unwrap(), WILD))
        .collect();
    targets.push(SocketAddr::new(V4[1].parse().unwrap(), SPECIFIC));
    targets.push(SocketAddr::new(V6[1].parse().unwrap(), SPECIFIC));
    for to in targets {
        // Own socket: the reply's source is the address queried.
        let local: SocketAddr = if to.is_ipv6() {
            "[::]:0".parse().unwrap()
        } else {
            "0.0.0.0:0".parse().unwrap()
        };
        let sock = UdpSocket::bind(local).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let q = query("www.example.com.", RecordType::A);
        sock.send_to(&encode(&q), to).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = sock
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no reply to a query sent to {to}: {e}"));
        assert_eq!(
            from, to,
            "the reply to a query sent to {to} came from {from}"
        );
        let r = decode(&buf[..n]);
        assert_eq!(rcode(&r), ResponseCode::NoError);
        // dig: it discards a reply from an unexpected address and times out.
        let out = Command::new("dig")
            .args(["+norec", "+short", "+time=2", "+tries=1", "-p"])
            .arg(to.port().to_string())
            .arg(format!("@{}", to.ip()))
            .args(["www.example.com", "A"])
            .output()
            .expect("dig (bind9-dnsutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.trim(), "192.0.2.80", "dig @{}:\n{text}", to.ip());
        eprintln!("{to}: answered from {from}");
    }
    // And the addresses the server reported.
    let listening: Vec<IpAddr> = s.listening().iter().map(SocketAddr::ip).collect();
    assert!(
        listening.iter().any(IpAddr::is_unspecified),
        "{listening:?}"
    );
}
