//! `geosteer import cloudflare` (issue 15, item 1): the fixtures under
//! tests/fixtures/cloudflare/ (a HarperDB deployment as Cloudflare's v4 API lists it) are
//! imported, checked, served by the real binary and queried: the answers are those the
//! Cloudflare configuration implies for a DNS-only load balancer. Origins and monitors are on
//! loopback (127.0.15.0/24); the monitors' port is one the test listens on.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};

use common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudflare");

/// The zone the load balancers live in: the retired one's name has a record of its own.
const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  IN NS ns1\nns1 IN A 192.0.2.53\n\
harperdb-old IN A 192.0.2.55\n";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).expect("read fixture")
}

fn import(dir: &Path, lbs: &Path, pools: &Path, monitors: &Path, out: &Path) -> Output {
    Command::new(BIN)
        .args(["import", "cloudflare", "--zone", "example.com"])
        .arg("--load-balancers")
        .arg(lbs)
        .arg("--pools")
        .arg(pools)
        .arg("--monitors")
        .arg(monitors)
        .arg("--out")
        .arg(out)
        .current_dir(dir)
        .output()
        .expect("run geosteer import")
}

fn check(dir: &Path) -> Output {
    Command::new(BIN)
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .output()
        .expect("run geosteer check")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Imports the fixtures (with `monitors` as the monitors' JSON) into a zones directory.
fn imported(monitors: &str) -> (ZoneDir, Output) {
    imported_from("load_balancers.json", monitors)
}

/// Imports the load balancers of fixture `lbs`, with the fixtures' pools.
fn imported_from(lbs: &str, monitors: &str) -> (ZoneDir, Output) {
    let dir = ZoneDir::with_zone("example.com", ZONE);
    let m = dir.write("cf/monitors.json", monitors);
    let p = dir.write("cf/pools.json", &fixture("pools.json"));
    let l = dir.write("cf/load_balancers.json", &fixture(lbs));
    let out = dir.path().join("example.com.toml");
    let o = import(dir.path(), &l, &p, &m, &out);
    assert!(o.status.success(), "import failed:\n{}", text(&o.stderr));
    (dir, o)
}

#[test]
fn import_writes_a_file_check_accepts_and_lists_every_field_not_honoured() {
    let (dir, o) = imported(&fixture("monitors.json"));
    let stderr = text(&o.stderr);
    let toml = std::fs::read_to_string(dir.path().join("example.com.toml")).unwrap();
    for expected in [
        "load balancer api.example.net: name: outside zone example.com: skipped",
        "load balancer harperdb.example.com: pop_pools:",
        "load balancer harperdb-random.example.com: session_affinity:",
        "load balancer harperdb-lors.example.com: steering_policy: \"least_outstanding_requests\"",
        "load balancer harperdb-lors.example.com: proxied:",
        "load balancer harperdb-lors.example.com: adaptive_routing:",
        "pool us-east: check_regions:",
        "pool us-east: notification_email:",
        "pool us-west: load_shedding:",
        "pool us-west: origin_steering.policy: \"least_outstanding_requests\"",
        "pool us-west, origin usw2-a: port:",
        "pool us-west, origin usw2-b: virtual_network_id:",
        "pool staging: pool: used by no load balancer of example.com: not written",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    // Zero percentages shed nothing: not reported.
    assert!(!stderr.contains("pool us-east: load_shedding"), "{stderr}");
    // Shared pools and monitors are written once, and named by every user.
    for once in [
        "[pools.us-east]",
        "[pools.eu-central]",
        "[monitors.harperdb-operations-api-tcp-9925]",
        "[monitors.harperdb-health]",
    ] {
        assert_eq!(toml.matches(once).count(), 1, "{once} in:\n{toml}");
    }
    assert_eq!(
        toml.matches("monitor = \"harperdb-operations-api-tcp-9925\"")
            .count(),
        3,
        "{toml}"
    );
    assert!(!toml.contains("staging"), "{toml}");
    // The custom rule is carried over, not listed.
    assert!(
        !stderr.contains("rules[route-aaaa-to-frankfurt]"),
        "{stderr}"
    );
    assert!(
        toml.contains(
            "[[load_balancers.harperdb-random.rules]]\nname = \"route-aaaa-to-frankfurt\""
        ),
        "{toml}"
    );
    assert!(!toml.contains("example.net"), "{toml}");
    let c = check(dir.path());
    assert!(
        c.status.success(),
        "check rejects the import:\n{}\n{toml}",
        text(&c.stderr)
    );
}

#[test]
fn a_whole_api_response_and_its_bare_result_array_import_alike() {
    let (whole, _) = imported(&fixture("monitors.json"));
    let dir = ZoneDir::with_zone("example.com", ZONE);
    let bare = |name: &str| {
        let v: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
        dir.write(&format!("cf/{name}"), &v["result"].to_string())
    };
    let out = dir.path().join("example.com.toml");
    let o = import(
        dir.path(),
        &bare("load_balancers.json"),
        &bare("pools.json"),
        &bare("monitors.json"),
        &out,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(whole.path().join("example.com.toml")).unwrap()
    );
}

#[test]
fn import_refuses_to_replace_a_file_without_force() {
    let (dir, _) = imported(&fixture("monitors.json"));
    let o = import(
        dir.path(),
        &dir.path().join("cf/load_balancers.json"),
        &dir.path().join("cf/pools.json"),
        &dir.path().join("cf/monitors.json"),
        &dir.path().join("example.com.toml"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
}

/// Listens on `addr:port`: a TCP accept loop, or (http) a HarperDB-like `/health`.
fn listen(addr: Ipv4Addr, port: u16, http: bool) {
    let l = TcpListener::bind((addr, port)).expect("bind a stand-in origin");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            if http {
                let mut buf = [0u8; 2048];
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let _ = s.read(&mut buf);
                let body = "HarperDB is running.";
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
}

fn ecs_of(m: &Message) -> Option<ClientSubnet> {
    match m.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(cs) => Some(*cs),
        _ => None,
    }
}

/// The A answers for `name` from a client in `net` (ECS), or the resolver itself (None).
fn ask(s: &Server, name: &str, net: Option<(Ipv4Addr, u8)>) -> (Vec<String>, u32, u8) {
    let q = match net {
        Some((a, len)) => query_ecs(
            &format!("{name}.example.com."),
            RecordType::A,
            ClientSubnet::new(IpAddr::V4(a), len, 0),
        ),
        None => query(&format!("{name}.example.com."), RecordType::A),
    };
    let r = udp(s.addr, &q);
    assert_eq!(rcode(&r), ResponseCode::NoError, "{name}: {r}");
    let ttl = r.answers.first().map_or(0, |a| a.ttl);
    let scope = ecs_of(&r).map_or(0, |e| e.scope_prefix());
    let addrs = r.answers.iter().map(|a| a.data.to_string()).collect();
    (addrs, ttl, scope)
}

#[test]
fn imported_configuration_answers_as_the_cloudflare_one_implies() {
    // The stand-in origins: every one up but usw2-b (127.0.15.6), which leaves us-west
    // (minimum_origins 2) critical. Sydney answers the HTTP monitor.
    let monitors = origins_up();
    let (dir, _) = imported(&monitors);
    let c = check(dir.path());
    assert!(c.status.success(), "{}", text(&c.stderr));
    let s = Server::start(dir.path(), &[]);

    let us_east = ["127.0.15.1", "127.0.15.2"];
    let eu = ["127.0.15.11", "127.0.15.12"];
    let one_of = |got: &[String], pool: &[&str], what: &str| {
        assert_eq!(
            got.len(),
            1,
            "{what}: Cloudflare answers one endpoint: {got:?}"
        );
        assert!(
            pool.contains(&got[0].as_str()),
            "{what}: {got:?} not in {pool:?}"
        );
    };

    // Geo, prefer_ecs = always: by the ECS address's region or country.
    let nl = (Ipv4Addr::new(193, 0, 6, 0), 24);
    let au = (Ipv4Addr::new(1, 1, 1, 0), 24);
    let us_ca = (Ipv4Addr::new(8, 8, 8, 0), 24);
    let us_va = (Ipv4Addr::new(4, 1, 2, 0), 24);
    let (a, ttl, scope) = ask(&s, "harperdb", Some(nl));
    one_of(&a, &eu, "WEU → eu-central");
    assert_eq!(ttl, 30);
    assert!(scope > 0, "geo by ECS has a scope");
    one_of(
        &ask(&s, "harperdb", Some(au)).0,
        &["127.0.15.21"],
        "AU → ap-southeast",
    );
    one_of(
        &ask(&s, "harperdb", Some(us_va)).0,
        &us_east,
        "ENAM → us-east",
    );
    // WNAM's first pool, us-west, is critical (one of its two origins is down): the next.
    one_of(
        &ask(&s, "harperdb", Some(us_ca)).0,
        &us_east,
        "WNAM → us-west down → us-east",
    );
    // No ECS, from loopback: no location, default_pools.
    one_of(
        &ask(&s, "harperdb", None).0,
        &us_east,
        "unknown → default_pools",
    );

    // Failover ("off"): us-west is critical, so Frankfurt; its own TTL.
    let (a, ttl, _) = ask(&s, "harperdb-failover", None);
    one_of(&a, &eu, "off: us-west down → eu-central");
    assert_eq!(ttl, 60);

    // Cloudflare's default location strategy (prefer_ecs = proximity): proximity uses ECS…
    one_of(
        &ask(&s, "harperdb-near", Some(au)).0,
        &["127.0.15.21"],
        "proximity by ECS",
    );
    // …geo does not: the resolver (loopback, no location) decides, and the scope is 0.
    let (a, _, scope) = ask(&s, "harperdb-pop", Some(au));
    one_of(&a, &us_east, "geo ignores ECS under prefer_ecs = proximity");
    assert_eq!(scope, 0);

    // random_steering: weight 0 for us-east, 1 for Frankfurt.
    for _ in 0..20 {
        one_of(
            &ask(&s, "harperdb-random", None).0,
            &eu,
            "random by pool_weights",
        );
    }
    // least_outstanding_requests: weights decide (1 for us-east, 0 for Frankfurt).
    for _ in 0..20 {
        one_of(
            &ask(&s, "harperdb-lors", None).0,
            &us_east,
            "LORS as weighted random",
        );
    }
    // A disabled load balancer: the zone's own record answers.
    assert_eq!(
        ask(&s, "harperdb-old", None).0,
        vec!["192.0.2.55".to_string()]
    );
}

/// Starts the stand-in origins of the fixtures (every one up but usw2-b, 127.0.15.6) on a
/// free port; returns the monitors' JSON with that port.
fn origins_up() -> String {
    let probe = TcpListener::bind((Ipv4Addr::new(127, 0, 15, 1), 0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    for last in [1, 2, 5, 11, 12] {
        listen(Ipv4Addr::new(127, 0, 15, last), port, false);
    }
    listen(Ipv4Addr::new(127, 0, 15, 21), port, true);
    fixture("monitors.json").replace("9925,", &format!("{port},"))
}

#[test]
fn imported_custom_rules_answer_as_the_cloudflare_rules_imply() {
    let monitors = origins_up();
    let (dir, o) = imported_from("load_balancers_rules.json", &monitors);
    let stderr = text(&o.stderr);
    let toml = std::fs::read_to_string(dir.path().join("example.com.toml")).unwrap();
    let lb = "load balancer harperdb-rules.example.com: ";
    // What cannot be carried over is listed, with the reason; the rest is written.
    for expected in [
        "rules[maintenance-page].fixed_response: an HTTP response",
        "rules[office].overrides.session_affinity: session affinity",
        "rules[office].overrides.session_affinity_ttl:",
        "rules[office].overrides.session_affinity_attributes:",
        "rules[europe].overrides.pop_pools: a DNS-only server has no points of presence",
        "rules[api-path].condition: \"http.request.uri.path contains \\\"/api\\\"\" is outside",
        "rules[us-by-weight].overrides.steering_policy: \"least_outstanding_requests\"",
        "rules[us-by-weight].overrides.adaptive_routing:",
        "rules[us-by-weight].overrides.location_strategy:",
    ] {
        assert!(
            stderr.contains(&format!("{lb}{expected}")),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("not imported"), "{stderr}");
    for name in [
        "maintenance-page",
        "office",
        "europe",
        "us-by-weight",
        "retired-australia",
    ] {
        assert!(
            toml.contains(&format!("name = \"{name}\"")),
            "{name} not written:\n{toml}"
        );
    }
    assert!(!toml.contains("api-path"), "{toml}");
    assert!(toml.contains("disabled = true"), "{toml}");
    let c = check(dir.path());
    assert!(
        c.status.success(),
        "check rejects the import:\n{}\n{toml}",
        text(&c.stderr)
    );
    let s = Server::start(dir.path(), &[]);
    let us_east = ["127.0.15.1", "127.0.15.2"];
    let eu = ["127.0.15.11", "127.0.15.12"];
    let one_of = |got: &[String], pool: &[&str], what: &str| {
        assert_eq!(got.len(), 1, "{what}: one endpoint: {got:?}");
        assert!(
            pool.contains(&got[0].as_str()),
            "{what}: {got:?} not in {pool:?}"
        );
    };
    let name = "harperdb-rules";
    // "office" (terminates): its pools and TTL, scoped to its network.
    let (a, ttl, scope) = ask(&s, name, Some((Ipv4Addr::new(198, 51, 100, 0), 24)));
    one_of(&a, &eu, "office");
    assert_eq!((ttl, scope), (15, 24), "office: TTL and scope");
    // The fixed-response rule comes first and terminates: "office" does not apply to its
    // network, which gets the load balancer's own answer.
    let (a, ttl, scope) = ask(&s, name, Some((Ipv4Addr::new(203, 0, 113, 0), 24)));
    one_of(&a, &us_east, "maintenance-page terminates");
    assert_eq!((ttl, scope), (30, 24));
    // "europe" overrides country_pools and region_pools: the load balancer's "" policy
    // becomes geo under it. NL by country, GB by region WEU, RU (EEU) by neither.
    let (a, _, scope) = ask(&s, name, Some((Ipv4Addr::new(193, 0, 6, 0), 24)));
    one_of(&a, &["127.0.15.21"], "europe: country_pools NL");
    assert!(scope > 0, "a location answer has a scope");
    let (a, _, _) = ask(&s, name, Some((Ipv4Addr::new(81, 2, 69, 0), 24)));
    one_of(&a, &eu, "europe: region_pools WEU");
    let (a, _, _) = ask(&s, name, Some((Ipv4Addr::new(5, 3, 0, 0), 24)));
    one_of(&a, &us_east, "europe: EEU has no entry: default_pools");
    // "us-by-weight": least outstanding requests as weighted random, us-east weighing 0.
    for _ in 0..10 {
        one_of(
            &ask(&s, name, Some((Ipv4Addr::new(4, 1, 2, 0), 24))).0,
            &eu,
            "us-by-weight",
        );
    }
    // The disabled rule does not apply to Australia; nothing does to the resolver itself.
    one_of(
        &ask(&s, name, Some((Ipv4Addr::new(1, 1, 1, 0), 24))).0,
        &us_east,
        "retired-australia is disabled",
    );
    one_of(&ask(&s, name, None).0, &us_east, "no rule");
    // dig sees the same as the harness: the office's pool and its /24 scope.
    let d = dig(
        s.port(),
        &["harperdb-rules.example.com", "A", "+subnet=198.51.100.0/24"],
    );
    assert_eq!(d.status(), "NOERROR");
    let answers: Vec<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r.last().unwrap().clone())
        .collect();
    one_of(&answers, &eu, "dig: office");
    assert_eq!(d.client_subnet().as_deref(), Some("198.51.100.0/24/24"));
}
