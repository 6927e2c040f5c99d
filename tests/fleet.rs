//! A fleet of three name servers (`serve --instance --peer --quorum`), each in a network
//! namespace of its own, joined by veth pairs to a namespace that holds the origins (plain TCP
//! listeners) and, pairwise, to each other:
//!
//! ```text
//!                 origins namespace (198.19.0.1 = pool pa, 198.19.0.2 = pool pb, on lo)
//!               o1 /            o2 |             \ o3
//!   198.18.1.0/30 /  198.18.2.0/30 |              \ 198.18.3.0/30
//!          ns 1 ───── p ───── ns 2 ───── p ───── ns 3        (peers: 198.18.12/13/23.0/30)
//!            └──────────────── p ─────────────────┘
//! ```
//!
//! An origin is made unreachable from one instance with an `unreachable` route in that
//! instance's namespace; an instance is partitioned from its peers by setting its two peer
//! links down. Every wait polls for the expected state with a bounded deadline (a bound
//! against hangs, not a timing claim). Covers issue 18's (a)–(e).
//!
//! Needs root and `ip` (iproute2); without them the test prints why it is skipped and passes.
//! Namespaces are named `gsfleet-<pid>-…` and deleted at the end, also when the test fails.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, WAIT, ZoneDir, in_ns, query, query_ecs, spawn_serve};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use serde_json::Value;

const DNS_PORT: u16 = 42053;
const HTTP_PORT: u16 = 42080;
const ORIGIN_PORT: u16 = 42081;
const PA: &str = "198.19.0.1";
const PB: &str = "198.19.0.2";
const TOKEN: &str = "gsfleet-test-token";
/// How long the fleet may take to reach a state before the test fails: generous, a bound
/// against hangs (probes and polls run every second).
const CONVERGE: Duration = Duration::from_secs(45);

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
@ IN NS ns2
@ IN NS ns3
ns1 IN A 192.0.2.1
ns2 IN A 192.0.2.2
ns3 IN A 192.0.2.3
";

fn steering() -> String {
    format!(
        r#"
[monitors.tcp]
type = "tcp"
port = {ORIGIN_PORT}
interval = "1s"
timeout = "400ms"
retries = 0
consecutive_down = 1
consecutive_up = 1

[pools.pa]
monitor = "tcp"
origins = [ {{ address = "{PA}" }} ]
[pools.pb]
monitor = "tcp"
origins = [ {{ address = "{PB}" }} ]

[load_balancers.www]
steering = "failover"
ttl = 30
default_pools = ["pa", "pb"]
fallback_pool = "pb"

[load_balancers.geo]
steering = "geo"
ttl = 30
default_pools = ["pa", "pb"]
fallback_pool = "pa"
continent_pools = {{ EU = ["pb", "pa"], NA = ["pa", "pb"] }}

[load_balancers.fast]
steering = "dynamic"
ttl = 30
default_pools = ["pa", "pb"]
"#
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("ip").args(args).stdin(Stdio::null()).output()
}

fn ip_ok(args: &[&str]) {
    let out = ip(args).expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The four namespaces and their links; deleted on drop.
struct Net {
    origins: String,
    /// Instance namespaces, index 0 for instance 1.
    ns: Vec<String>,
}

impl Net {
    /// `None` (with the reason printed) where namespaces cannot be made here.
    fn new() -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: the fleet test needs root (network namespaces)");
            return None;
        }
        if ip(&["-V"]).is_err() {
            eprintln!("skipped: the fleet test needs `ip` (apt-get install iproute2)");
            return None;
        }
        let pid = std::process::id();
        let mut net = Net {
            origins: format!("gsfleet-{pid}-o"),
            ns: Vec::new(),
        };
        for name in std::iter::once(net.origins.clone())
            .chain((1..=3).map(|i| format!("gsfleet-{pid}-{i}")))
        {
            let out = ip(&["netns", "add", &name]).expect("run ip");
            if !out.status.success() {
                eprintln!(
                    "skipped: cannot create a network namespace: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None; // what was made is deleted with `net`
            }
            if name != net.origins {
                net.ns.push(name.clone());
            }
            ip_ok(&["-n", &name, "link", "set", "lo", "up"]);
        }
        let o = net.origins.clone();
        for a in [PA, PB] {
            ip_ok(&["-n", &o, "addr", "add", &format!("{a}/32"), "dev", "lo"]);
        }
        // Each instance to the origins.
        for i in 1..=3 {
            let n = net.ns[i - 1].clone();
            let (dev_o, o_addr, n_addr) = (
                format!("o{i}"),
                format!("198.18.{i}.1"),
                format!("198.18.{i}.2"),
            );
            if !veth(&o, &dev_o, &n, "org") {
                return None;
            }
            ip_ok(&[
                "-n",
                &o,
                "addr",
                "add",
                &format!("{o_addr}/30"),
                "dev",
                &dev_o,
            ]);
            ip_ok(&["-n", &o, "link", "set", "dev", &dev_o, "up"]);
            ip_ok(&[
                "-n",
                &n,
                "addr",
                "add",
                &format!("{n_addr}/30"),
                "dev",
                "org",
            ]);
            ip_ok(&["-n", &n, "link", "set", "dev", "org", "up"]);
            ip_ok(&["-n", &n, "route", "add", "198.19.0.0/24", "via", &o_addr]);
        }
        // The instances to each other: in namespace i the link to j is `p<j>`.
        for (i, j) in [(1, 2), (1, 3), (2, 3)] {
            let (ni, nj) = (net.ns[i - 1].clone(), net.ns[j - 1].clone());
            if !veth(&ni, &format!("p{j}"), &nj, &format!("p{i}")) {
                return None;
            }
            let net_id = 10 * i + j;
            for (ns, dev, host) in [(&ni, format!("p{j}"), 1), (&nj, format!("p{i}"), 2)] {
                let a = format!("198.18.{net_id}.{host}/30");
                ip_ok(&["-n", ns, "addr", "add", &a, "dev", &dev]);
                ip_ok(&["-n", ns, "link", "set", "dev", &dev, "up"]);
            }
        }
        Some(net)
    }

    /// Instance `j`'s address as instance `i` reaches it.
    fn peer_address(i: usize, j: usize) -> String {
        let (a, b) = (i.min(j), i.max(j));
        format!("198.18.{}.{}", 10 * a + b, if j == a { 1 } else { 2 })
    }

    /// Makes `origin` unreachable from instance `i` (or reachable again).
    fn block(&self, i: usize, origin: &str, blocked: bool) {
        let verb = if blocked { "add" } else { "del" };
        let route = format!("{origin}/32");
        ip_ok(&["-n", &self.ns[i - 1], "route", verb, "unreachable", &route]);
    }

    /// Cuts instance `i` off from its peers (or joins it again).
    fn partition(&self, i: usize, cut: bool) {
        for j in (1..=3).filter(|&j| j != i) {
            let state = if cut { "down" } else { "up" };
            let dev = format!("p{j}");
            ip_ok(&["-n", &self.ns[i - 1], "link", "set", "dev", &dev, state]);
        }
    }
}

/// A veth pair with one end in each namespace; false (printed) when it cannot be made.
fn veth(a: &str, dev_a: &str, b: &str, dev_b: &str) -> bool {
    let out = ip(&[
        "link", "add", dev_a, "netns", a, "type", "veth", "peer", "name", dev_b, "netns", b,
    ])
    .expect("run ip");
    if !out.status.success() {
        eprintln!(
            "skipped: cannot create a veth pair: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out.status.success()
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in std::iter::once(&self.origins).chain(&self.ns) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// The origins: a TCP listener on each origin address, accepting until dropped.
struct Origins {
    stop: Arc<AtomicBool>,
}

impl Origins {
    fn start(ns: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        for a in [PA, PB] {
            let addr: SocketAddr = format!("{a}:{ORIGIN_PORT}").parse().unwrap();
            let listener = in_ns(ns, || TcpListener::bind(addr).expect("bind an origin"));
            listener.set_nonblocking(true).unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => drop(conn),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        Origins { stop }
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A `geosteer serve` inside an instance namespace, killed on drop.
struct Instance {
    child: Child,
    ns: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn start(net: &Net, i: usize, zones: &ZoneDir, state: &std::path::Path) -> Self {
        let ns = net.ns[i - 1].clone();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns, BIN, "serve", "--zones"])
            .arg(zones.path())
            .args(["--geoip", &geoip()])
            .args(["--listen", &format!("127.0.0.1:{DNS_PORT}")])
            .args(["--http", &format!("0.0.0.0:{HTTP_PORT}")])
            .args(["--udp-sockets", "1", "--instance", &format!("ns{i}")])
            .args(["--location", ["WNAM", "WEU", "NEAS"][i - 1]])
            .args(["--quorum", "2", "--state-dir"])
            .arg(state);
        for j in (1..=3).filter(|&j| j != i) {
            cmd.args([
                "--peer",
                &format!("{}:{HTTP_PORT}", Net::peer_address(i, j)),
            ]);
        }
        let (child, out) = spawn_serve(cmd.env("GEOSTEER_API_TOKEN", TOKEN));
        let ready_rx = out.ready;
        let mut s = Instance {
            child,
            ns,
            stderr: out.lines,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                return s;
            }
            assert!(
                s.child.try_wait().unwrap().is_none() && Instant::now() < deadline,
                "geosteer ns{i} did not start; stderr:\n{}",
                s.stderr_text()
            );
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// An HTTP/1.0 request to its endpoint, from inside its namespace: (status, body).
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        in_ns(&self.ns, || {
            let addr: SocketAddr = format!("127.0.0.1:{HTTP_PORT}").parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the API");
            s.set_read_timeout(Some(WAIT)).unwrap();
            write!(
                s,
                "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\
                 Authorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).expect("read the response");
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            (status, body.to_string())
        })
    }

    fn status(&self) -> Value {
        let (code, body) = self.http("GET", "/v1/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The addresses answered for `m`, sorted, and the ECS scope.
    fn ask(&self, m: &Message) -> (Vec<String>, Option<u8>) {
        let addr: SocketAddr = format!("127.0.0.1:{DNS_PORT}").parse().unwrap();
        let r = in_ns(&self.ns, || common::udp(addr, m));
        let mut out: Vec<String> = r.answers.iter().map(|r| r.data.to_string()).collect();
        out.sort();
        let scope = r
            .edns
            .as_ref()
            .and_then(|e| match e.option(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(cs)) => Some(cs.scope_prefix()),
                _ => None,
            });
        (out, scope)
    }

    fn www(&self) -> Vec<String> {
        self.ask(&query("www.example.test.", RecordType::A)).0
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn geoip() -> String {
    format!("{}/geoip/sample-city.mmdb", env!("CARGO_MANIFEST_DIR"))
}

/// Polls `ok` until it holds; fails with `what` and the instances' logs after [`CONVERGE`].
fn wait_until(what: &str, fleet: &[Instance], mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + CONVERGE;
    while !ok() {
        if Instant::now() > deadline {
            let logs: Vec<String> = fleet
                .iter()
                .map(|s| format!("--- {}:\n{}", s.ns, s.stderr_text()))
                .collect();
            panic!("never reached: {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `/v1/status` object of the origin of pool `pool`.
fn origin(status: &Value, pool: &str) -> Value {
    status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == pool)
        .unwrap_or_else(|| panic!("no pool {pool}"))["origins"][0]
        .clone()
}

/// Every instance gives the same answers, scope included, for the same ECS subnets.
fn assert_same_answers(fleet: &[Instance]) {
    let subnets = [
        "81.2.69.0/24",
        "216.160.83.0/24",
        "89.160.20.0/24",
        "203.0.113.0/24",
    ];
    for name in ["www.example.test.", "geo.example.test."] {
        for s in subnets {
            let subnet: ClientSubnet = s.parse::<ipnet::IpNet>().unwrap().into();
            let m = query_ecs(name, RecordType::A, subnet);
            let answers: Vec<_> = fleet.iter().map(|i| i.ask(&m)).collect();
            assert!(
                answers.windows(2).all(|w| w[0] == w[1]),
                "{name} for {s}: {answers:?}"
            );
            assert!(!answers[0].0.is_empty(), "{name} for {s}: no address");
        }
    }
}

#[test]
fn a_fleet_of_three_agrees_on_health_and_drains() {
    let Some(net) = Net::new() else { return };
    let _origins = Origins::start(&net.origins);
    let zones = ZoneDir::with_zone("example.test", ZONE);
    zones.write("example.test.toml", &steering());
    let states: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut fleet: Vec<Instance> = (1..=3)
        .map(|i| Instance::start(&net, i, &zones, states[i - 1].path()))
        .collect();
    let (pa, pb) = (vec![PA.to_string()], vec![PB.to_string()]);

    wait_until("every instance hears both of its peers", &fleet, || {
        fleet.iter().all(|s| {
            let st = s.status();
            let members = st["fleet"]["members"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            members.len() == 3 && members.iter().all(|m| m["reporting"] == true)
        })
    });
    for s in &fleet {
        assert_eq!(s.www(), pa, "{}", s.ns);
    }
    assert_same_answers(&fleet);
    // Item 3: with three locations, `dynamic` answers depend on the client's region, so the
    // ECS scope is its region's network (not /0), and explain names the instance whose RTTs
    // decided.
    let subnet: ClientSubnet = "81.2.69.0/24".parse::<ipnet::IpNet>().unwrap().into();
    let m = query_ecs("fast.example.test.", RecordType::A, subnet);
    for s in &fleet {
        let (answer, scope) = s.ask(&m);
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert!(scope.is_some_and(|x| x > 0), "{}: scope {scope:?}", s.ns);
        let (code, text) = s.http(
            "GET",
            "/v1/explain?name=fast.example.test&client=81.2.69.160",
        );
        assert_eq!(code, 200, "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("rtt from    instance ns")),
            "{text}"
        );
    }

    // (a) pa's origin unreachable from ns1 alone: ns1's own probes find it down, and once
    // the other two have its vote, it is still up everywhere (1 of 3 < quorum 2).
    net.block(1, PA, true);
    wait_until("ns2 and ns3 count ns1's down vote on pa", &fleet, || {
        origin(&fleet[0].status(), "pa")["local_up"] == false
            && fleet[1..].iter().all(|s| {
                let o = origin(&s.status(), "pa");
                o["fleet_votes"]["down"] == 1 && o["fleet_votes"]["reporting"] == 3
            })
    });
    for s in &fleet {
        assert_eq!(
            s.www(),
            pa,
            "{} answers pa: one down vote is no quorum",
            s.ns
        );
        assert_eq!(origin(&s.status(), "pa")["up"], true);
    }

    // (b) unreachable from ns1 and ns2: down on all three, ns3 included, whose own probes
    // still reach it.
    net.block(2, PA, true);
    wait_until("all three answer pb", &fleet, || {
        fleet.iter().all(|s| s.www() == pb)
    });
    let st3 = fleet[2].status();
    assert_eq!(origin(&st3, "pa")["up"], false);
    assert_eq!(origin(&st3, "pa")["local_up"], true);
    // (d) converged: the same answer for the same ECS subnet everywhere.
    assert_same_answers(&fleet);

    // (c) ns3 cut off from both peers: it judges by its own probes (pa reachable: pa), says
    // so in its status, its metrics and once in its log; ns1 and ns2 keep their quorum.
    let warned = |s: &Instance| {
        s.stderr_text()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("no peer has reported"))
            .count()
    };
    let warned_before = warned(&fleet[2]);
    net.partition(3, true);
    wait_until(
        "ns3 finds itself cut off and answers from its own view",
        &fleet,
        || fleet[2].status()["fleet"]["isolated"] == true && fleet[2].www() == pa,
    );
    for s in &fleet[..2] {
        assert_eq!(s.www(), pb, "{}", s.ns);
    }
    let (code, metrics) = fleet[2].http("GET", "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.lines().any(|l| l == "geosteer_fleet_isolated 1"),
        "{metrics}"
    );
    assert_eq!(
        warned(&fleet[2]),
        warned_before + 1,
        "{}",
        fleet[2].stderr_text()
    );
    net.partition(3, false);
    wait_until("ns3 rejoins and follows the quorum again", &fleet, || {
        fleet[2].status()["fleet"]["isolated"] == false && fleet[2].www() == pb
    });
    assert_eq!(
        warned(&fleet[2]),
        warned_before + 1,
        "one WARN per transition"
    );

    // Reachable again from everywhere: back to pa on all three.
    net.block(1, PA, false);
    net.block(2, PA, false);
    wait_until("all three answer pa again", &fleet, || {
        fleet.iter().all(|s| s.www() == pa)
    });
    assert_same_answers(&fleet);

    // (e) A drain made on ns1 reaches the others, which keep it in their state files.
    let (code, body) = fleet[0].http("POST", "/v1/pools/pa/disable");
    assert_eq!(code, 200, "{body}");
    wait_until("ns2 and ns3 have pa drained and answer pb", &fleet, || {
        fleet.iter().all(|s| {
            let st = s.status();
            let pool = st["pools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "pa")
                .cloned()
                .unwrap();
            pool["drained"] == true && s.www() == pb
        })
    });
    let saved = std::fs::read_to_string(states[1].path().join("drains.json")).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    let entry = &saved["drains"][0];
    assert_eq!(
        (&entry["pool"], &entry["drained"], &entry["by"]),
        (&Value::from("pa"), &Value::from(true), &Value::from("ns1"))
    );
    // ns2 restarted alone (its peers' reports cannot reach it before it answers): it has
    // the drain from its state file from the first answer on.
    net.partition(2, true);
    drop(fleet.remove(1));
    let ns2 = Instance::start(&net, 2, &zones, states[1].path());
    assert_eq!(ns2.www(), pb);
    let st = ns2.status();
    let drained = st["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pa")
        .unwrap()["drained"]
        .clone();
    assert_eq!(drained, true);
}
