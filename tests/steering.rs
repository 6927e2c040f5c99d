//! Steering on the running server: every load balancer of the shipped example, queried with
//! ECS for clients on three continents and without ECS, against GeoIP databases these tests
//! write (the GeoIP2-City layout and the flat DB-IP layout); and `explain` for the same
//! clients.
//!
//! The example's origins are monitored in the shipped configuration; here the monitors are
//! left out so that every enabled origin counts as healthy and the tests need no listeners.

mod common;
#[path = "support/mmdb.rs"]
mod mmdb;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use mmdb::{City, Flat, city};

const US_EAST_V4: [&str; 2] = ["127.0.1.1", "127.0.1.2"];
const EU_CENTRAL_V4: [&str; 2] = ["127.0.2.1", "127.0.2.2"];
const AP_SOUTHEAST_V4: [&str; 1] = ["127.0.3.1"];
const US_EAST_V6: [&str; 2] = ["2001:db8:1::1", "2001:db8:1::2"];
const EU_CENTRAL_V6: [&str; 2] = ["2001:db8:2::1", "2001:db8:2::2"];

/// Networks of the test database. Two neighbouring German /25s with different cities, then a
/// German /24 beside them: the database keeps three networks, a per-continent map merges
/// them into one /23.
fn networks() -> Vec<(&'static str, City<'static>)> {
    vec![
        // North America
        (
            "8.8.8.0/24",
            city("NA", "US", Some("CA"), "Mountain View", 37.39, -122.08),
        ),
        (
            "24.0.0.0/12",
            city("NA", "US", Some("VA"), "Ashburn", 39.04, -77.49),
        ),
        // Europe
        (
            "193.0.6.0/24",
            city("EU", "NL", Some("NH"), "Amsterdam", 52.37, 4.90),
        ),
        (
            "80.81.192.0/25",
            city("EU", "DE", Some("HE"), "Frankfurt", 50.11, 8.68),
        ),
        (
            "80.81.192.128/25",
            city("EU", "DE", Some("HE"), "Offenbach", 50.10, 8.76),
        ),
        (
            "80.81.193.0/24",
            city("EU", "DE", Some("HE"), "Darmstadt", 49.87, 8.65),
        ),
        // Asia-Pacific
        (
            "1.1.1.0/24",
            city("OC", "AU", Some("NSW"), "Sydney", -33.87, 151.21),
        ),
        (
            "202.12.27.0/24",
            city("AS", "JP", Some("13"), "Tokyo", 35.68, 139.65),
        ),
        // IPv6
        (
            "2001:67c:2e8::/48",
            city("EU", "NL", Some("NH"), "Amsterdam", 52.37, 4.90),
        ),
        (
            "2600:1f00::/32",
            city("NA", "US", Some("VA"), "Ashburn", 39.04, -77.49),
        ),
        (
            "2400:cb00::/32",
            city("OC", "AU", Some("NSW"), "Sydney", -33.87, 151.21),
        ),
    ]
}

/// The same networks in the flat layout (country, state name, coordinates; no continent).
fn flat_networks() -> Vec<(&'static str, Flat<'static>)> {
    let flat = |country, state, city, lat, lon| Flat {
        country_code: Some(country),
        continent_code: None,
        state1: Some(state),
        city: Some(city),
        latitude: Some(lat),
        longitude: Some(lon),
    };
    vec![
        (
            "8.8.8.0/24",
            flat("US", "California", "Mountain View", 37.39, -122.08),
        ),
        (
            "24.0.0.0/12",
            flat("US", "Virginia", "Ashburn", 39.04, -77.49),
        ),
        (
            "193.0.6.0/24",
            flat("NL", "North Holland", "Amsterdam", 52.37, 4.90),
        ),
        (
            "80.81.192.0/25",
            flat("DE", "Hesse", "Frankfurt", 50.11, 8.68),
        ),
        (
            "80.81.192.128/25",
            flat("DE", "Hesse", "Offenbach", 50.10, 8.76),
        ),
        (
            "80.81.193.0/24",
            flat("DE", "Hesse", "Darmstadt", 49.87, 8.65),
        ),
        (
            "1.1.1.0/24",
            flat("AU", "New South Wales", "Sydney", -33.87, 151.21),
        ),
        (
            "202.12.27.0/24",
            flat("JP", "Tokyo", "Tokyo", 35.68, 139.65),
        ),
    ]
}

/// The shipped example (zone file and steering file), monitors removed.
fn example_zones() -> ZoneDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let dir = ZoneDir::new();
    dir.write(
        "example.com.zone",
        &std::fs::read_to_string(root.join("example.com.zone")).unwrap(),
    );
    let steering: String = std::fs::read_to_string(root.join("example.com.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("monitor = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(steering.contains("[load_balancers.harperdb]"));
    dir.write("example.com.toml", &steering);
    dir
}

struct Fixture {
    server: Server,
    geoip: PathBuf,
    zones: PathBuf,
}

fn start(geoip: PathBuf) -> Fixture {
    let zones = example_zones();
    let zones_path = zones.path().to_path_buf();
    let server = Server::start_owned(zones, &["--geoip", geoip.to_str().unwrap()]);
    Fixture {
        server,
        geoip,
        zones: zones_path,
    }
}

fn city_db(name: &str) -> PathBuf {
    let path = mmdb::temp_path(name);
    mmdb::write_city_db(&path, "GeoIP2-City", &networks());
    path
}

/// A response and what the tests look at.
struct Answer {
    msg: Message,
}

impl Answer {
    fn addresses(&self) -> BTreeSet<String> {
        self.msg
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0.to_string()),
                RData::AAAA(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect()
    }

    fn ttls(&self) -> BTreeSet<u32> {
        self.msg.answers.iter().map(|r| r.ttl).collect()
    }

    /// (source, scope) of the response's ECS option.
    fn ecs(&self) -> Option<(IpAddr, u8, u8)> {
        match self.msg.edns.as_ref()?.option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(cs)) => {
                Some((cs.addr(), cs.source_prefix(), cs.scope_prefix()))
            }
            _ => None,
        }
    }

    fn scope(&self) -> u8 {
        self.ecs().expect("ECS in the response").2
    }
}

fn ask(f: &Fixture, name: &str, qtype: RecordType, subnet: Option<&str>) -> Answer {
    let q = match subnet {
        Some(s) => query_ecs(name, qtype, s.parse::<ClientSubnet>().unwrap()),
        None => query_edns(name, qtype, 1232),
    };
    let msg = udp(f.server.addr, &q);
    assert_response_to(&q, &msg);
    assert!(msg.metadata.authoritative);
    Answer { msg }
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|s| s.to_string()).collect()
}

/// Clients: (ECS subnet, continent).
const NA: &str = "8.8.8.0/24";
const NA_EAST: &str = "24.1.2.0/24";
const EU: &str = "193.0.6.0/24";
const DE: &str = "80.81.192.0/24";
const OC: &str = "1.1.1.0/24";
const AS: &str = "202.12.27.0/24";

fn geo_load_balancer_steers_by_continent(f: &Fixture) {
    let name = "harperdb.example.com.";
    for (subnet, want) in [
        (NA, &US_EAST_V4[..]),
        (NA_EAST, &US_EAST_V4[..]),
        (EU, &EU_CENTRAL_V4[..]),
        (DE, &EU_CENTRAL_V4[..]),
        (OC, &AP_SOUTHEAST_V4[..]),
        (AS, &AP_SOUTHEAST_V4[..]),
    ] {
        let a = ask(f, name, RecordType::A, Some(subnet));
        assert_eq!(a.addresses(), set(want), "{subnet}");
        assert_eq!(a.ttls(), BTreeSet::from([30]), "{subnet}");
        // ECS echoed: family, source and address as sent.
        let (addr, source, scope) = a.ecs().unwrap();
        let sent: ClientSubnet = subnet.parse().unwrap();
        assert_eq!((addr, source), (sent.addr(), sent.source_prefix()));
        assert!(scope > 0 && scope <= source, "{subnet}: scope {scope}");
    }
    // The same client gets AAAA from the same pool.
    let a = ask(f, name, RecordType::AAAA, Some(EU));
    assert_eq!(a.addresses(), set(&EU_CENTRAL_V6));
    let a = ask(f, name, RecordType::AAAA, Some(NA));
    assert_eq!(a.addresses(), set(&US_EAST_V6));
    // ap-southeast has an IPv6 origin too.
    let a = ask(f, name, RecordType::AAAA, Some(OC));
    assert_eq!(a.addresses(), set(&["2001:db8:3::1"]));
    // An IPv6 client network.
    let a = ask(f, name, RecordType::A, Some("2001:67c:2e8::/56"));
    assert_eq!(a.addresses(), set(&EU_CENTRAL_V4));
    assert_eq!(
        a.scope(),
        48,
        "the database network /48 is the widest EU block there"
    );
    let a = ask(f, name, RecordType::A, Some("2400:cb00:1:2::/56"));
    assert_eq!(a.addresses(), set(&AP_SOUTHEAST_V4));
}

fn merged_scope_is_wider_than_the_database_network(f: &Fixture) {
    // 80.81.192.0/25 is a /25 in the database; with its two EU neighbours it merges into
    // 80.81.192.0/23 for a per-continent map.
    let a = ask(
        f,
        "harperdb.example.com.",
        RecordType::A,
        Some("80.81.192.0/25"),
    );
    assert_eq!(a.addresses(), set(&EU_CENTRAL_V4));
    assert_eq!(a.scope(), 23);
    // Scope never exceeds the source prefix.
    let a = ask(
        f,
        "harperdb.example.com.",
        RecordType::A,
        Some("80.81.193.0/24"),
    );
    assert_eq!(a.scope(), 23);
    let a = ask(
        f,
        "harperdb.example.com.",
        RecordType::A,
        Some("80.0.0.0/8"),
    );
    assert!(a.scope() <= 8);
    // Source /0: the resolver's address is used, and the scope is 0.
    let a = ask(f, "harperdb.example.com.", RecordType::A, Some("0.0.0.0/0"));
    assert_eq!(a.scope(), 0);
}

fn location_free_policies_have_scope_zero(f: &Fixture) {
    for subnet in [NA, EU, OC] {
        let a = ask(
            f,
            "harperdb-failover.example.com.",
            RecordType::A,
            Some(subnet),
        );
        assert_eq!(a.addresses(), set(&US_EAST_V4), "{subnet}");
        assert_eq!(a.scope(), 0);
        assert_eq!(a.ttls(), BTreeSet::from([30]));
        // Dynamic without RTT data (no monitors here): failover order.
        let a = ask(f, "harperdb-fast.example.com.", RecordType::A, Some(subnet));
        assert_eq!(a.addresses(), set(&US_EAST_V4), "{subnet}");
        assert_eq!(a.scope(), 0);
    }
    // Random: one pool's addresses per answer; all three pools over enough queries.
    let pools = [set(&US_EAST_V4), set(&EU_CENTRAL_V4), set(&AP_SOUTHEAST_V4)];
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let a = ask(f, "harperdb-random.example.com.", RecordType::A, Some(EU));
        let got = a.addresses();
        let i = pools
            .iter()
            .position(|p| *p == got)
            .unwrap_or_else(|| panic!("not one pool: {got:?}"));
        seen.insert(i);
        assert_eq!(a.scope(), 0);
    }
    assert_eq!(seen.len(), 3, "all pools drawn in 200 queries");
}

fn proximity_picks_the_nearest_pool(f: &Fixture) {
    let name = "harperdb-near.example.com.";
    for (subnet, want) in [
        (NA, &US_EAST_V4[..]),
        (EU, &EU_CENTRAL_V4[..]),
        (DE, &EU_CENTRAL_V4[..]),
        (OC, &AP_SOUTHEAST_V4[..]),
        (AS, &AP_SOUTHEAST_V4[..]),
    ] {
        let a = ask(f, name, RecordType::A, Some(subnet));
        assert_eq!(a.addresses(), set(want), "{subnet}");
        assert!(a.scope() > 0, "{subnet}: location chose the answer");
    }
}

fn without_ecs_the_resolver_address_is_used(f: &Fixture) {
    // The query comes from 127.0.0.1: not in the database, so default_pools order.
    for name in [
        "harperdb.example.com.",
        "harperdb-near.example.com.",
        "harperdb-failover.example.com.",
    ] {
        let a = ask(f, name, RecordType::A, None);
        assert_eq!(a.addresses(), set(&US_EAST_V4), "{name}");
        assert!(
            a.ecs().is_none(),
            "no ECS in a response to a query without it"
        );
        assert_eq!(a.ttls(), BTreeSet::from([30]));
    }
}

fn static_names_keep_scope_zero(f: &Fixture) {
    // www is a CNAME to the geo load balancer: the chain is followed and steered.
    let a = ask(f, "www.example.com.", RecordType::A, Some(EU));
    assert_eq!(a.msg.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(a.addresses(), set(&EU_CENTRAL_V4));
    assert!(a.scope() > 0);
    // Plain zone data and negative answers: scope 0.
    let a = ask(f, "example.com.", RecordType::MX, Some(EU));
    assert_eq!(a.scope(), 0);
    let a = ask(f, "nope.example.com.", RecordType::A, Some(EU));
    assert_eq!(a.scope(), 0);
    assert_eq!(rcode(&a.msg).to_string(), "Non-Existent Domain");
    // Other types at a load-balanced name come from the zone file: NODATA here.
    let a = ask(f, "harperdb.example.com.", RecordType::TXT, Some(EU));
    assert!(a.msg.answers.is_empty());
    assert_eq!(a.scope(), 0);
}

fn explain(f: &Fixture, name: &str, client: &str, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["explain", name, "--client", client, "--zones"])
        .arg(&f.zones)
        .arg("--geoip")
        .arg(&f.geoip)
        .args(extra)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn explain_shows_location_rule_pools_answer_and_scope(f: &Fixture) {
    let text = explain(f, "harperdb.example.com", "193.0.6.139", &[]);
    assert!(text.contains("country NL"), "{text}");
    assert!(text.contains("(database network 193.0.6.0/24)"), "{text}");
    assert!(text.contains("rule        continent EU"), "{text}");
    let pools: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && l.trim_start().chars().next().unwrap().is_ascii_digit())
        .collect();
    assert!(
        pools[0].contains("eu-central") && pools[0].contains("up"),
        "{text}"
    );
    assert!(pools[1].contains("us-east"), "{text}");
    assert!(
        text.contains("IN A 127.0.2.1") && text.contains("IN A 127.0.2.2"),
        "{text}"
    );
    assert!(text.contains("ecs scope   /24 (source /24)"), "{text}");

    let text = explain(f, "harperdb.example.com", "80.81.192.10", &[]);
    assert!(text.contains("(database network 80.81.192.0/25)"), "{text}");
    assert!(text.contains("ecs scope   /23"), "{text}");

    let text = explain(f, "harperdb.example.com", "8.8.8.8", &["--type", "AAAA"]);
    assert!(
        text.contains("country US") && text.contains("continent NA"),
        "{text}"
    );
    assert!(text.contains("IN AAAA 2001:db8:1::1"), "{text}");

    let text = explain(f, "harperdb-near.example.com", "202.12.27.33", &[]);
    assert!(text.contains("nearest pool"), "{text}");
    assert!(text.contains("IN A 127.0.3.1"), "{text}");

    // Not a load balancer: zone data.
    let text = explain(f, "example.com", "1.1.1.1", &[]);
    assert!(text.contains("not a load balancer"), "{text}");
}

#[test]
fn steering_with_a_geoip2_city_database() {
    let f = start(city_db("steer-city.mmdb"));
    geo_load_balancer_steers_by_continent(&f);
    merged_scope_is_wider_than_the_database_network(&f);
    location_free_policies_have_scope_zero(&f);
    proximity_picks_the_nearest_pool(&f);
    without_ecs_the_resolver_address_is_used(&f);
    static_names_keep_scope_zero(&f);
    explain_shows_location_rule_pools_answer_and_scope(&f);
    let _ = std::fs::remove_file(&f.geoip);
}

#[test]
fn steering_with_a_flat_dbip_database() {
    let path = mmdb::temp_path("steer-flat.mmdb");
    mmdb::write_flat_db(&path, "DBIP-City-Lite", true, &flat_networks());
    let f = start(path);
    // Continents are derived from countries: the same answers as with the City layout.
    for (subnet, want) in [
        (NA, &US_EAST_V4[..]),
        (EU, &EU_CENTRAL_V4[..]),
        (DE, &EU_CENTRAL_V4[..]),
        (OC, &AP_SOUTHEAST_V4[..]),
        (AS, &AP_SOUTHEAST_V4[..]),
    ] {
        let a = ask(&f, "harperdb.example.com.", RecordType::A, Some(subnet));
        assert_eq!(a.addresses(), set(want), "{subnet}");
        let a = ask(
            &f,
            "harperdb-near.example.com.",
            RecordType::A,
            Some(subnet),
        );
        assert_eq!(a.addresses(), set(want), "near {subnet}");
    }
    merged_scope_is_wider_than_the_database_network(&f);
    let text = explain(&f, "harperdb.example.com", "80.81.193.7", &[]);
    assert!(
        text.contains("continent EU") && text.contains("country DE"),
        "{text}"
    );
    // A US state name becomes its ISO code, and the Cloudflare region follows from it.
    let text = explain(&f, "harperdb.example.com", "24.1.2.3", &[]);
    assert!(
        text.contains("subdivision US-VA") && text.contains("region ENAM"),
        "{text}"
    );
    let _ = std::fs::remove_file(&f.geoip);
}

#[test]
fn dig_sees_the_european_pool_for_a_european_subnet() {
    let f = start(city_db("steer-dig.mmdb"));
    let d = dig(
        f.server.port(),
        &["harperdb.example.com", "A", "+subnet=193.0.6.0/24"],
    );
    assert_eq!(d.status(), "NOERROR");
    assert!(d.has_flag("aa"));
    let addrs: BTreeSet<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r.last().unwrap().clone())
        .collect();
    assert_eq!(addrs, set(&EU_CENTRAL_V4));
    assert_eq!(d.client_subnet().as_deref(), Some("193.0.6.0/24/24"));
    let _ = std::fs::remove_file(&f.geoip);
}

/// The scope of an answer from a location policy describes the candidate list's network in
/// every path, not only when a pool was steered to (issue 18, item 1). The issue's example:
/// `default_pools = ["eu"]`, `continent_pools = { NA = ["us"] }`, and eu found down by its
/// monitor (a TCP port nobody listens on). A European client then gets the fallback (or,
/// with `on_all_down = "nodata"`, NODATA), a North American one gets us: had the European
/// answer scope /0, a resolver would give it to North American clients too.
#[test]
fn all_down_answers_carry_the_candidate_lists_scope() {
    let geoip = city_db("steer-alldown.mmdb");
    // A port with no listener: connections to it are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let zones = ZoneDir::new();
    zones.write(
        "example.com.zone",
        &std::fs::read_to_string(root.join("example.com.zone")).unwrap(),
    );
    zones.write(
        "example.com.toml",
        &format!(
            r#"
[monitors.refused]
type = "tcp"
port = {closed}
interval = "1s"
timeout = "500ms"
consecutive_down = 1
consecutive_up = 1

[pools.us]
origins = [ {{ address = "127.0.1.1" }} ]
[pools.eu]
monitor = "refused"
origins = [ {{ address = "127.0.2.1" }} ]

[load_balancers.issue]
steering = "geo"
default_pools = ["eu"]
continent_pools = {{ NA = ["us"] }}

[load_balancers.issue-nodata]
steering = "geo"
default_pools = ["eu"]
continent_pools = {{ NA = ["us"] }}
on_all_down = "nodata"
"#
        ),
    );
    let f = Fixture {
        server: Server::start_owned(zones, &["--geoip", geoip.to_str().unwrap()]),
        geoip,
        zones: PathBuf::new(),
    };
    // Wait until the monitor has taken eu down: the nodata balancer stops answering eu.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let a = ask(&f, "issue-nodata.example.com.", RecordType::A, Some(EU));
        if a.addresses().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "eu never went down: {:?}",
            a.addresses()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // North America: us, steered, scoped to its continent's network.
    let na = ask(&f, "issue.example.com.", RecordType::A, Some(NA));
    assert_eq!(na.addresses(), set(&["127.0.1.1"]));
    assert!(na.scope() > 0, "NA scope {}", na.scope());
    // Europe: the fallback (eu, whatever its health) and the NODATA, each with a scope that
    // keeps it away from North American clients: never /0.
    let eu = ask(&f, "issue.example.com.", RecordType::A, Some(EU));
    assert_eq!(eu.addresses(), set(&["127.0.2.1"]));
    let nodata = ask(&f, "issue-nodata.example.com.", RecordType::A, Some(EU));
    assert!(nodata.msg.answers.is_empty());
    // A family no pool has: NODATA, scoped as well.
    let v6 = ask(&f, "issue.example.com.", RecordType::AAAA, Some(EU));
    assert!(v6.msg.answers.is_empty());
    for (what, a) in [("fallback", &eu), ("nodata", &nodata), ("no AAAA", &v6)] {
        let (_, source, scope) = a.ecs().expect("ECS echoed");
        assert!(scope > 0 && scope <= source, "{what}: scope {scope}");
        // The scope's network holds no North American client.
        let net: ClientSubnet = EU.parse().unwrap();
        let na_net: ClientSubnet = NA.parse().unwrap();
        assert_ne!(
            prefix(net.addr(), scope),
            prefix(na_net.addr(), scope),
            "{what}: /{scope} covers North America"
        );
    }
    let _ = std::fs::remove_file(&f.geoip);
}

/// The first `len` bits of an IPv4 address.
fn prefix(addr: IpAddr, len: u8) -> u32 {
    match addr {
        IpAddr::V4(a) if len > 0 => u32::from(a) >> (32 - u32::from(len)),
        _ => 0,
    }
}
