//! The AF_XDP path (`serve --xdp`), end to end, in network namespaces this test makes.
//!
//! Two namespaces joined by a veth pair (`vS` in the server's, `vC` in the client's),
//! addresses from the benchmarking ranges (198.18.0.0/15, 2001:2::/48), no static neighbour
//! entries (so ARP and IPv6 neighbour discovery must get through the XDP program to the
//! kernel). Two servers with the same zones run in the server namespace: one with
//! `--xdp vS` on port 53, one on sockets only on port 54. The client sends the same query
//! bytes to both, from the same address, and the answers must be byte for byte the same;
//! the server namespace's UDP counters show that the XDP server's queries never reached the
//! kernel's UDP stack.
//!
//! Needs root, `ip` (iproute2) and a kernel with XDP and AF_XDP sockets; without them each
//! test prints why it is skipped and passes. Namespaces are named `gsxdp-<pid>-…` and
//! deleted at the end, also when a test fails.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{
    BIN, WAIT, ZoneDir, decode, encode, in_ns, query, query_ecs, query_edns, spawn_serve,
};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::rr::{DNSClass, RData, RecordType};

const SERVER_V4: &str = "198.18.0.1";
const CLIENT_V4: &str = "198.18.0.2";
const SERVER_V6: &str = "2001:2::1";
const CLIENT_V6: &str = "2001:2::2";
const XDP_PORT: u16 = 53;
const SOCKET_PORT: u16 = 54;
const HTTP_PORT: u16 = 8053;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("ip").args(args).stdin(Stdio::null()).output()
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip_ok(args: &[&str]) -> String {
    let out = ip(args).expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The two namespaces and the veth pair; deleted on drop.
struct Topology {
    server: String,
    client: String,
}

impl Topology {
    /// `None` (with the reason printed) where the test cannot run here.
    fn new(tag: &str) -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: the XDP tests need root (network namespaces, XDP programs)");
            return None;
        }
        if ip(&["-V"]).is_err() {
            eprintln!("skipped: the XDP tests need `ip` (apt-get install iproute2)");
            return None;
        }
        let pid = std::process::id();
        let t = Topology {
            server: format!("gsxdp-{pid}-{tag}-s"),
            client: format!("gsxdp-{pid}-{tag}-c"),
        };
        for ns in [&t.server, &t.client] {
            let out = ip(&["netns", "add", ns]).expect("run ip");
            if !out.status.success() {
                eprintln!(
                    "skipped: cannot create a network namespace: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None; // `t` is dropped: what was made is deleted
            }
        }
        let (s, c) = (t.server.as_str(), t.client.as_str());
        // One rx and one tx queue each, made directly inside the namespaces.
        let out = ip(&[
            "link",
            "add",
            "vS",
            "netns",
            s,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            "vC",
            "netns",
            c,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
        ])
        .expect("run ip");
        if !out.status.success() {
            eprintln!(
                "skipped: cannot create a veth pair: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        for (ns, dev, v4, v6) in [
            (s, "vS", SERVER_V4, SERVER_V6),
            (c, "vC", CLIENT_V4, CLIENT_V6),
        ] {
            ip_ok(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev]);
            ip_ok(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            ip_ok(&["-n", ns, "link", "set", dev, "up"]);
            ip_ok(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Some(t)
    }

    /// Whether an XDP program is attached to vS.
    fn xdp_attached(&self) -> bool {
        let out = ip_ok(&["-n", &self.server, "-d", "link", "show", "dev", "vS"]);
        out.contains("prog/xdp") || out.contains(" xdp ")
    }

    /// Udp InDatagrams (IPv4) and Udp6InDatagrams of the server namespace.
    fn udp_in(&self) -> (u64, u64) {
        in_ns(&self.server, || {
            let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
            let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
            let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
            let idx = names
                .split_whitespace()
                .position(|n| n == "InDatagrams")
                .unwrap();
            let v4 = values.split_whitespace().nth(idx).unwrap().parse().unwrap();
            let snmp6 = std::fs::read_to_string("/proc/thread-self/net/snmp6").unwrap();
            let v6 = snmp6
                .lines()
                .find_map(|l| l.strip_prefix("Udp6InDatagrams"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            (v4, v6)
        })
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A `geosteer serve` inside a namespace, killed on drop.
struct NsServer {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    done: mpsc::Receiver<()>,
}

enum Started {
    Up(NsServer),
    /// Exited before listening: its status and stderr.
    Failed(ExitStatus, String),
}

impl NsServer {
    fn start(ns: &str, zones: &ZoneDir, port: u16, extra: &[&str]) -> Started {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, BIN, "serve", "--zones"])
            .arg(zones.path())
            .args(["--geoip", &geoip()])
            .args(["--listen", &format!("{SERVER_V4}:{port}")])
            .args(["--listen", &format!("[{SERVER_V6}]:{port}")])
            .args(["--udp-sockets", "1", "--identity", "xdp-test"]);
        Self::spawn(cmd.args(extra))
    }

    fn spawn(cmd: &mut Command) -> Started {
        let (child, out) = spawn_serve(cmd);
        let ready_rx = out.ready;
        let mut s = NsServer {
            child,
            stderr: out.lines,
            done: out.done,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                return Started::Up(s);
            }
            if let Some(status) = s.child.try_wait().unwrap() {
                let _ = s.done.recv_timeout(WAIT);
                return Started::Failed(status, s.stderr_text());
            }
            assert!(
                Instant::now() < deadline,
                "geosteer did not start; stderr:\n{}",
                s.stderr_text()
            );
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child (`ip netns exec` execs geosteer in place).
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let _ = self.done.recv_timeout(WAIT);
                return st;
            }
            assert!(Instant::now() < deadline, "geosteer did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn geoip() -> String {
    format!("{}/geoip/sample-city.mmdb", env!("CARGO_MANIFEST_DIR"))
}

/// The example zone, a name whose TXT RRset needs more than 512 bytes, and a geo load
/// balancer with one origin per pool (so answers do not depend on a random order). The zone
/// is DNSSEC-signed (a key in zones/keys), so that queries with DO show the XDP path signing
/// as the sockets do; without DO the answers are those of an unsigned zone.
fn zones() -> ZoneDir {
    let mut zone = common::EXAMPLE_ZONE.to_string();
    for i in 0..12 {
        zone.push_str(&format!(
            "big IN TXT \"record {i:02} of a TXT RRset too large for 512 bytes.........\"\n"
        ));
    }
    let z = ZoneDir::with_zone("example.com", &zone);
    z.write(
        "example.com.toml",
        r#"
[pools.na]
origins = [ { address = "192.0.2.10", address_v6 = "2001:db8:10::1" } ]
[pools.eu]
origins = [ { address = "192.0.2.20", address_v6 = "2001:db8:20::1" } ]
[pools.ap]
origins = [ { address = "192.0.2.30", address_v6 = "2001:db8:30::1" } ]

[load_balancers.geo]
steering = "geo"
ttl = 30
default_pools = ["na"]
continent_pools = { NA = ["na"], EU = ["eu"], AS = ["ap"], OC = ["ap"] }
"#,
    );
    geosteer::dnssec::tool::keygen(
        "example.com",
        "ecdsap256sha256",
        geosteer::dnssec::tool::KeyKind::Csk,
        &z.path().join("keys"),
    )
    .expect("a signing key");
    z
}

/// `m` with the DO bit set (it has EDNS).
fn with_do(mut m: Message) -> Message {
    m.edns.as_mut().expect("EDNS").flags_mut().dnssec_ok = true;
    m
}

/// The types in the answer section, and the type each RRSIG there covers.
fn answer_types(m: Option<&Message>) -> Vec<String> {
    m.expect("an answer")
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::Unknown { code, rdata } if *code == RecordType::RRSIG => format!(
                "RRSIG {}",
                RecordType::from(u16::from_be_bytes([rdata.anything[0], rdata.anything[1]]))
            ),
            _ => r.record_type().to_string(),
        })
        .collect()
}

/// A decoded answer with each RRSIG's inception, expiration and signature zeroed: two servers
/// signing the same RRset make different ECDSA signatures (random nonces), at times that may
/// differ by a second; everything else must be the same.
fn without_signatures(bytes: &[u8]) -> Message {
    let mut m = decode(bytes);
    for r in m
        .answers
        .iter_mut()
        .chain(m.authorities.iter_mut())
        .chain(m.additionals.iter_mut())
    {
        let RData::Unknown { code, rdata } = &mut r.data else {
            continue;
        };
        if *code == RecordType::RRSIG {
            let b = &mut rdata.anything;
            b[8..16].fill(0);
            // Type covered .. key tag are 18 octets; then the signer's name, uncompressed.
            let mut i = 18;
            while b[i] != 0 {
                i += 1 + b[i] as usize;
            }
            b[i + 1..].fill(0);
        }
    }
    m
}

/// Starts the XDP server, or `None` (printed) where this kernel or driver has no XDP.
fn start_xdp_server(t: &Topology, zones: &ZoneDir) -> Option<NsServer> {
    let extra = ["--xdp", "vS", "--http", &format!("{SERVER_V4}:{HTTP_PORT}")];
    match NsServer::start(&t.server, zones, XDP_PORT, &extra) {
        Started::Up(s) => Some(s),
        Started::Failed(status, err)
            if err.contains("CONFIG_XDP_SOCKETS") || err.contains("native XDP") =>
        {
            eprintln!("skipped: no XDP here ({status}): {err}");
            None
        }
        Started::Failed(status, err) => panic!("XDP server failed ({status}):\n{err}"),
    }
}

/// Sends `packet` from an unbound socket to `to` and returns the reply with the same ID.
/// Run inside the client namespace.
fn udp_exchange(to: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let any: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let sock = UdpSocket::bind(any).unwrap();
    sock.connect(to).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send(packet).unwrap();
    let mut buf = vec![0u8; 65535];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match sock.recv(&mut buf) {
            Ok(n) if n >= 2 && buf[..2] == packet[..2] => return Some(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

struct Case {
    what: &'static str,
    packet: Vec<u8>,
    /// Checked on the XDP answer, so that two equally wrong servers do not pass.
    check: fn(Option<&Message>),
}

fn rcode(m: Option<&Message>) -> ResponseCode {
    m.expect("an answer").metadata.response_code
}

fn first_a(m: Option<&Message>) -> String {
    let m = m.expect("an answer");
    m.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

fn subnet(s: &str) -> ClientSubnet {
    let (addr, len) = s.split_once('/').unwrap();
    ClientSubnet::new(addr.parse::<IpAddr>().unwrap(), len.parse().unwrap(), 0)
}

fn cases() -> Vec<Case> {
    let mut chaos = query("id.server", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let mut response = query("www.example.com", RecordType::A);
    response.metadata.message_type = hickory_proto::op::MessageType::Response;
    // A header promising a question that is not there.
    let mut short = encode(&query("www.example.com", RecordType::A));
    short.truncate(20);
    vec![
        Case {
            what: "static A",
            packet: encode(&query("www.example.com", RecordType::A)),
            check: |m| assert_eq!(first_a(m), "192.0.2.80"),
        },
        Case {
            what: "static AAAA with EDNS",
            packet: encode(&query_edns("www.example.com", RecordType::AAAA, 1232)),
            check: |m| assert_eq!(m.unwrap().answers.len(), 1),
        },
        Case {
            what: "NS with glue",
            packet: encode(&query_edns("example.com", RecordType::NS, 1232)),
            check: |m| assert!(!m.unwrap().additionals.is_empty()),
        },
        Case {
            what: "CNAME chain",
            packet: encode(&query("www-alias.example.com", RecordType::A)),
            check: |m| assert_eq!(m.unwrap().answers.len(), 3),
        },
        Case {
            what: "wildcard",
            packet: encode(&query("anything.wild.example.com", RecordType::A)),
            check: |m| assert_eq!(first_a(m), "192.0.2.99"),
        },
        Case {
            what: "steered, ECS in North America",
            packet: encode(&query_ecs(
                "geo.example.com",
                RecordType::A,
                subnet("8.8.8.0/24"),
            )),
            check: |m| assert_eq!(first_a(m), "192.0.2.10"),
        },
        Case {
            what: "steered, ECS in Europe",
            packet: encode(&query_ecs(
                "geo.example.com",
                RecordType::A,
                subnet("193.0.6.0/24"),
            )),
            check: |m| assert_eq!(first_a(m), "192.0.2.20"),
        },
        Case {
            what: "steered, ECS in Asia",
            packet: encode(&query_ecs(
                "geo.example.com",
                RecordType::A,
                subnet("202.12.27.0/24"),
            )),
            check: |m| assert_eq!(first_a(m), "192.0.2.30"),
        },
        Case {
            what: "steered AAAA, IPv6 ECS",
            packet: encode(&query_ecs(
                "geo.example.com",
                RecordType::AAAA,
                subnet("2001:67c:2e8::/48"),
            )),
            check: |m| assert_eq!(m.unwrap().answers.len(), 1),
        },
        Case {
            what: "steered, no ECS (the client's own address)",
            packet: encode(&query("geo.example.com", RecordType::A)),
            check: |m| assert_eq!(first_a(m), "192.0.2.10"),
        },
        Case {
            what: "NXDOMAIN",
            packet: encode(&query("nope.example.com", RecordType::A)),
            check: |m| assert_eq!(rcode(m), ResponseCode::NXDomain),
        },
        Case {
            what: "REFUSED outside the zones",
            packet: encode(&query("example.org", RecordType::A)),
            check: |m| assert_eq!(rcode(m), ResponseCode::Refused),
        },
        Case {
            what: "truncated: TC without EDNS",
            packet: encode(&query("big.example.com", RecordType::TXT)),
            check: |m| assert!(m.unwrap().metadata.truncation),
        },
        Case {
            what: "fits with EDNS 1232",
            packet: encode(&query_edns("big.example.com", RecordType::TXT, 1232)),
            check: |m| {
                assert!(!m.unwrap().metadata.truncation);
                assert_eq!(m.unwrap().answers.len(), 12);
            },
        },
        Case {
            what: "steered with DO, ECS in Europe: signed",
            packet: encode(&with_do(query_ecs(
                "geo.example.com",
                RecordType::A,
                subnet("193.0.6.0/24"),
            ))),
            check: |m| {
                assert_eq!(first_a(m), "192.0.2.20");
                assert_eq!(answer_types(m), ["A", "RRSIG A"]);
            },
        },
        Case {
            what: "NXDOMAIN with DO: compact denial, a signed NSEC",
            packet: encode(&with_do(query_edns(
                "nope.example.com",
                RecordType::A,
                1232,
            ))),
            check: |m| {
                let m = m.unwrap();
                assert_eq!(m.metadata.response_code, ResponseCode::NoError);
                let types: Vec<RecordType> =
                    m.authorities.iter().map(|r| r.record_type()).collect();
                assert!(types.contains(&RecordType::NSEC), "{types:?}");
                assert!(types.contains(&RecordType::RRSIG), "{types:?}");
            },
        },
        Case {
            what: "CHAOS id.server",
            packet: encode(&chaos),
            check: |m| assert_eq!(rcode(m), ResponseCode::NoError),
        },
        Case {
            what: "malformed: FORMERR",
            packet: short,
            check: |m| assert_eq!(rcode(m), ResponseCode::FormErr),
        },
        Case {
            what: "a response is never answered",
            packet: encode(&response),
            check: |m| assert!(m.is_none()),
        },
    ]
}

/// ICMP echo to `to` with a raw socket (from inside the client namespace); true on a reply.
fn ping(to: IpAddr) -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, proto, req, rep) = match to {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let sock = Socket::new(domain, Type::RAW, Some(proto)).expect("raw ICMP socket");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let id = (std::process::id() as u16).to_be_bytes();
    let mut pkt = vec![req, 0, 0, 0, id[0], id[1], 0, 1];
    pkt.extend_from_slice(b"geosteer xdp ping");
    if to.is_ipv4() {
        // The kernel computes the ICMPv6 checksum, not the ICMP one.
        let mut sum: u32 = pkt
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        pkt[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    let dest = socket2::SockAddr::from(SocketAddr::new(to, 0));
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        sock.send_to(&pkt, &dest).expect("send ICMP echo");
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
        while let Ok(n) = sock.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            let b: Vec<u8> = buf[..n]
                .iter()
                .map(|x| unsafe { x.assume_init() })
                .collect();
            // IPv4 raw sockets deliver the IP header too.
            let icmp = if to.is_ipv4() {
                &b[usize::from(b[0] & 0xf) * 4..]
            } else {
                &b[..]
            };
            if icmp.len() >= 8 && icmp[0] == rep && icmp[4..6] == id {
                return true;
            }
        }
    }
    false
}

#[test]
fn xdp_answers_like_the_sockets_and_leaves_other_traffic_to_the_kernel() {
    let Some(t) = Topology::new("a") else { return };
    let zones = zones();
    let Some(mut xdp) = start_xdp_server(&t, &zones) else {
        return;
    };
    assert!(t.xdp_attached(), "no XDP program on vS after start");
    let Started::Up(_sockets) = NsServer::start(&t.server, &zones, SOCKET_PORT, &[]) else {
        panic!("socket server did not start")
    };
    let cases = cases();
    let before = t.udp_in();
    let mut to_xdp = 0;
    let mut to_sockets = (0, 0);
    for server in [SERVER_V4, SERVER_V6] {
        let ip: IpAddr = server.parse().unwrap();
        for c in &cases {
            let (over_xdp, over_sockets) = in_ns(&t.client, || {
                let wait = Duration::from_secs(if c.what.starts_with("a response") {
                    1
                } else {
                    3
                });
                (
                    udp_exchange(SocketAddr::new(ip, XDP_PORT), &c.packet, wait),
                    udp_exchange(SocketAddr::new(ip, SOCKET_PORT), &c.packet, wait),
                )
            });
            to_xdp += 1;
            if ip.is_ipv4() {
                to_sockets.0 += 1;
            } else {
                to_sockets.1 += 1;
            }
            let signed = Message::from_vec(&c.packet)
                .ok()
                .and_then(|q| q.edns)
                .is_some_and(|e| e.flags().dnssec_ok);
            if signed {
                assert_eq!(
                    over_xdp.as_deref().map(without_signatures),
                    over_sockets.as_deref().map(without_signatures),
                    "{} over {server}: XDP and socket answers differ (signatures aside)",
                    c.what
                );
            } else {
                assert_eq!(
                    over_xdp, over_sockets,
                    "{} over {server}: XDP and socket answers differ",
                    c.what
                );
            }
            let decoded = over_xdp.as_deref().map(decode);
            if let Some(m) = &decoded {
                assert!(m.metadata.message_type == hickory_proto::op::MessageType::Response);
            }
            (c.check)(decoded.as_ref());
        }
    }
    // The kernel's UDP stack saw the socket server's queries, and none of the XDP server's.
    let after = t.udp_in();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        to_sockets,
        "UDP datagrams the server namespace's kernel received (IPv4, IPv6)"
    );

    // ARP and IPv6 neighbour discovery went through: the client knows the server's MAC.
    let neigh = ip_ok(&["-n", &t.client, "neigh", "show", "dev", "vC"]);
    for addr in [SERVER_V4, SERVER_V6] {
        assert!(
            neigh
                .lines()
                .any(|l| l.starts_with(&format!("{addr} ")) && l.contains("lladdr")),
            "no neighbour entry for {addr}:\n{neigh}"
        );
    }
    // ICMP and ICMPv6 echo.
    for addr in [SERVER_V4, SERVER_V6] {
        let ip: IpAddr = addr.parse().unwrap();
        assert!(in_ns(&t.client, || ping(ip)), "no echo reply from {addr}");
    }
    // TCP on the XDP server's port: the kernel's TCP stack and geosteer's listener.
    for server in [SERVER_V4, SERVER_V6] {
        let ip: IpAddr = server.parse().unwrap();
        let q = query("big.example.com", RecordType::TXT);
        let m = in_ns(&t.client, || {
            let mut s = TcpStream::connect_timeout(&SocketAddr::new(ip, XDP_PORT), WAIT)
                .expect("tcp connect");
            s.set_read_timeout(Some(WAIT)).unwrap();
            common::tcp_send(&mut s, &encode(&q));
            decode(&common::tcp_recv(&mut s).expect("tcp answer"))
        });
        assert!(!m.metadata.truncation, "TCP answer over {server} truncated");
        assert_eq!(m.answers.len(), 12);
    }
    // The HTTP endpoint on the same interface.
    let health = in_ns(&t.client, || {
        let addr: SocketAddr = format!("{SERVER_V4}:{HTTP_PORT}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("http connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        r
    });
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // Many more queries than the socket has frames (2048), a window of them outstanding at
    // a time: every one is answered, so frames are all recycled (none leaks on the way
    // through the fill, rx, tx and completion rings).
    const BURST: usize = 10_000;
    // Small enough that the replies in flight fit the client socket's default receive
    // buffer (at 200 a Python client loses a few there, on the socket path too).
    const WINDOW: usize = 32;
    let answered_burst = in_ns(&t.client, || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.connect(format!("{SERVER_V4}:{XDP_PORT}")).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut q = encode(&query_ecs(
            "geo.example.com",
            RecordType::A,
            subnet("193.0.6.0/24"),
        ));
        let mut buf = [0u8; 2048];
        let (mut sent, mut got) = (0usize, 0usize);
        while got < BURST {
            while sent < BURST && sent - got < WINDOW {
                q[..2].copy_from_slice(&(sent as u16).to_be_bytes());
                sock.send(&q).unwrap();
                sent += 1;
            }
            match sock.recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(first_a(Some(&decode(&buf[..n]))), "192.0.2.20");
                    got += 1;
                }
                Err(_) => break, // a loss: counted below
            }
        }
        got
    });
    if answered_burst != BURST {
        xdp.signal(libc::SIGTERM);
        xdp.wait_exit();
        panic!(
            "{answered_burst} of {BURST} burst queries answered:\n{}",
            xdp.stderr_text()
        );
    }

    // A clean stop detaches the program and reports what the XDP path answered.
    xdp.signal(libc::SIGTERM);
    let status = xdp.wait_exit();
    assert!(status.success(), "{status}\n{}", xdp.stderr_text());
    assert!(!t.xdp_attached(), "XDP program still attached after stop");
    let log = xdp.stderr_text();
    assert!(log.contains("program detached from vS"), "{log}");
    let answered = cases
        .iter()
        .filter(|c| !c.what.starts_with("a response"))
        .count()
        * 2;
    let (to_xdp, answered) = (to_xdp + BURST, answered + BURST);
    assert!(
        log.contains(&format!(
            "vS queue 0: {to_xdp} frames received, {answered} answered, 0 not a query; \
             kernel: 0 dropped"
        )),
        "{log}"
    );
}

#[test]
fn xdp_program_goes_when_the_server_is_killed() {
    let Some(t) = Topology::new("k") else { return };
    let zones = zones();
    let Some(mut xdp) = start_xdp_server(&t, &zones) else {
        return;
    };
    assert!(t.xdp_attached());
    let q = encode(&query("www.example.com", RecordType::A));
    let to: SocketAddr = format!("{SERVER_V4}:{XDP_PORT}").parse().unwrap();
    assert!(in_ns(&t.client, || udp_exchange(to, &q, WAIT)).is_some());
    // SIGKILL: no clean-up code runs; the kernel drops the bpf_link with the process.
    xdp.signal(libc::SIGKILL);
    let _ = xdp.wait_exit();
    let deadline = Instant::now() + WAIT;
    while t.xdp_attached() {
        assert!(
            Instant::now() < deadline,
            "program still attached after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A new server can attach at once.
    let Some(again) = start_xdp_server(&t, &zones) else {
        return;
    };
    assert!(in_ns(&t.client, || udp_exchange(to, &q, WAIT)).is_some());
    drop(again);
}

#[test]
fn xdp_start_failures_are_clean() {
    // Runs without namespaces: loopback has no native XDP, and without privileges nothing
    // can be loaded at all. Either way: a clear error, exit 1, never a listening server.
    let zones = zones();
    let run = |wrapper: &[&str]| {
        let mut cmd = Command::new(wrapper.first().copied().unwrap_or(BIN));
        if !wrapper.is_empty() {
            cmd.args(&wrapper[1..]).arg(BIN);
        }
        cmd.args(["serve", "--zones"]).arg(zones.path()).args([
            "--geoip",
            &geoip(),
            "--listen",
            "127.0.0.1:0",
            "--xdp",
            "lo",
        ]);
        match NsServer::spawn(&mut cmd) {
            Started::Up(s) => panic!("served with a failed XDP start:\n{}", s.stderr_text()),
            Started::Failed(status, err) => (status, err),
        }
    };
    let (status, err) = run(&[]);
    assert_eq!(status.code(), Some(1), "{err}");
    if is_root() {
        assert!(
            err.contains("--xdp lo: cannot attach the XDP program"),
            "{err}"
        );
        assert!(err.contains("no native XDP support"), "{err}");
    } else {
        assert!(
            err.contains("needs CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW"),
            "{err}"
        );
    }
    // Root without capabilities (setpriv from util-linux).
    if is_root() && Command::new("setpriv").arg("--version").output().is_ok() {
        let (status, err) = run(&[
            "setpriv",
            "--inh-caps=-all",
            "--ambient-caps=-all",
            "--bounding-set=-all",
            "--",
        ]);
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains("needs CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW"),
            "{err}"
        );
    }
}

#[test]
fn xdp_queue_ends_when_its_interface_goes() {
    let Some(t) = Topology::new("g") else { return };
    let zones = zones();
    let Some(mut xdp) = start_xdp_server(&t, &zones) else {
        return;
    };
    ip_ok(&["-n", &t.server, "link", "del", "vS"]);
    let deadline = Instant::now() + WAIT;
    while !xdp.stderr_text().contains("the interface is gone") {
        assert!(Instant::now() < deadline, "{}", xdp.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The rest of the server goes on, and still stops cleanly.
    xdp.signal(libc::SIGTERM);
    let status = xdp.wait_exit();
    assert!(status.success(), "{status}\n{}", xdp.stderr_text());
}
