//! Client maps (`subnet_pools`, `asn_pools`) and custom rules on the running server, against
//! a city database and a GeoLite2-ASN-format database these tests write: which pool each
//! client gets, and that the ECS scope of every answer is the network on which that answer
//! holds (a /24 override inside a country is scoped to it, and the rest of the country
//! leaves it out). Then `explain`, and `check`'s errors with line and column.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/mmdb.rs"]
mod mmdb;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use mmdb::city;
use serde::Serialize;

const STEERING: &str = r#"
[pools.eu]
origins = [{ address = "127.0.2.1", address_v6 = "2001:db8:2::1" }]

[pools.us]
origins = [{ address = "127.0.1.1", address_v6 = "2001:db8:1::1" }]

[pools.office]
origins = [{ address = "127.0.5.1", address_v6 = "2001:db8:5::1" }]

[pools.transit]
origins = [{ address = "127.0.6.1", address_v6 = "2001:db8:6::1" }]

[load_balancers.maps]
steering = "geo"
default_pools = ["us"]
country_pools = { DE = ["eu"], FR = ["eu"] }
subnet_pools = { "81.0.1.0/24" = ["office"], "81.0.1.128/25" = ["transit"], "2a01:1::/48" = ["office"] }
asn_pools = { "AS64500" = ["transit"], "64501" = ["office"] }

[load_balancers.ruled]
steering = "failover"
default_pools = ["us"]

[[load_balancers.ruled.rules]]
name = "germany-v6"
condition = 'ip.src.country eq "DE" and dns.qry.type eq "AAAA"'
overrides = { default_pools = ["office"], ttl = 120 }
terminates = true

[[load_balancers.ruled.rules]]
name = "europe"
condition = 'ip.src.continent eq "EU"'
overrides = { default_pools = ["eu"] }

[[load_balancers.ruled.rules]]
name = "short-ttl"
condition = 'ip.src in {81.1.2.0/24 2a01:2::/32}'
overrides = { ttl = 5 }

[[load_balancers.ruled.rules]]
name = "transit-customers"
condition = 'ip.src.asnum in {64501} and not dns.qry.name eq "other.example.com"'
overrides = { pools = ["transit"] }

# No policy (Cloudflare's ""): off, until a rule's location maps make it geo.
[load_balancers.ruled-geo]
default_pools = ["us"]

[[load_balancers.ruled-geo.rules]]
name = "europe-by-country"
condition = 'ip.src.continent eq "EU" and dns.qry.type eq "A"'
overrides = { country_pools = { FR = ["office", "eu"] }, region_pools = { WEU = ["eu"] }, ttl = 45 }
"#;

#[derive(Serialize)]
struct Asn<'a> {
    autonomous_system_number: u32,
    autonomous_system_organization: &'a str,
}

/// Removes the scratch files when the test ends.
struct Files(Vec<PathBuf>);

impl Drop for Files {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

struct Fixture {
    server: Server,
    zones: PathBuf,
    geoip: PathBuf,
    asn: PathBuf,
    _files: Files,
}

fn databases(tag: &str) -> (PathBuf, PathBuf) {
    let geoip = mmdb::temp_path(&format!("rules-city-{tag}.mmdb"));
    mmdb::write_city_db(
        &geoip,
        "GeoIP2-City",
        &[
            (
                "81.0.0.0/16",
                city("EU", "DE", Some("HE"), "Frankfurt am Main", 50.11, 8.68),
            ),
            (
                "81.1.0.0/16",
                city("EU", "FR", Some("IDF"), "Paris", 48.86, 2.35),
            ),
            (
                "8.8.0.0/16",
                city("NA", "US", Some("CA"), "Mountain View", 37.39, -122.08),
            ),
            (
                "2a01::/16",
                city("EU", "DE", Some("HE"), "Frankfurt am Main", 50.11, 8.68),
            ),
        ],
    );
    let asn = mmdb::temp_path(&format!("rules-asn-{tag}.mmdb"));
    mmdb::write_db(
        &asn,
        "GeoLite2-ASN",
        false,
        &[
            (
                "81.1.128.0/17",
                Asn {
                    autonomous_system_number: 64500,
                    autonomous_system_organization: "Example Transit",
                },
            ),
            (
                "9.0.0.0/8",
                Asn {
                    autonomous_system_number: 64501,
                    autonomous_system_organization: "Example Customers",
                },
            ),
        ],
    );
    (geoip, asn)
}

fn start(tag: &str) -> Fixture {
    start_with(tag, &[])
}

fn start_with(tag: &str, extra: &[&str]) -> Fixture {
    let (geoip, asn) = databases(tag);
    let zones = ZoneDir::example();
    zones.write("example.com.toml", STEERING);
    let path = zones.path().to_path_buf();
    let mut args = vec![
        "--geoip",
        geoip.to_str().unwrap(),
        "--asn-db",
        asn.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = Server::start_owned(zones, &args);
    Fixture {
        server,
        zones: path,
        geoip: geoip.clone(),
        asn: asn.clone(),
        _files: Files(vec![geoip, asn]),
    }
}

/// Asks `name` for a client network; returns the addresses, TTLs and ECS scope.
fn ask(
    f: &Fixture,
    name: &str,
    qtype: RecordType,
    subnet: &str,
) -> (BTreeSet<String>, BTreeSet<u32>, u8) {
    let q = query_ecs(name, qtype, subnet.parse::<ClientSubnet>().unwrap());
    let msg: Message = udp(f.server.addr, &q);
    assert_response_to(&q, &msg);
    let addrs = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    let ttls = msg.answers.iter().map(|r| r.ttl).collect();
    let scope = match msg.edns.as_ref().and_then(|e| e.option(EdnsCode::Subnet)) {
        Some(EdnsOption::Subnet(cs)) => cs.scope_prefix(),
        _ => panic!("no ECS in the answer for {subnet}"),
    };
    (addrs, ttls, scope)
}

fn one(a: &str) -> BTreeSet<String> {
    BTreeSet::from([a.to_string()])
}

#[test]
fn subnet_and_asn_maps_win_and_keep_the_scope_truthful() {
    let f = start("maps");
    let name = "maps.example.com.";
    // (client, answer, scope): each scope is the widest network around the client on which
    // the whole answer is the same.
    let cases = [
        // In the /24 override, whose upper /25 is overridden again (most specific wins).
        ("81.0.1.5/32", "127.0.5.1", 25),
        ("81.0.1.200/32", "127.0.6.1", 25),
        // The rest of Germany: scoped so that the /24 is left out.
        ("81.0.0.1/32", "127.0.2.1", 24),
        ("81.0.2.1/32", "127.0.2.1", 23),
        ("81.0.200.1/32", "127.0.2.1", 17),
        // France: AS64500 has 81.1.128.0/17, which asn_pools sends to transit.
        ("81.1.200.1/32", "127.0.6.1", 17),
        ("81.1.2.1/32", "127.0.2.1", 17),
        // Not in the city database, in AS64501: office; the whole /8 shares it.
        ("9.1.2.3/32", "127.0.5.1", 8),
        // The US: default pools.
        ("8.8.8.8/32", "127.0.1.1", 8),
    ];
    for (client, want, scope) in cases {
        let (addrs, _, got) = ask(&f, name, RecordType::A, client);
        assert_eq!(addrs, one(want), "{client}");
        assert_eq!(got, scope, "{client}: scope");
    }
    // IPv6: the /48 override inside a German /16.
    let (addrs, _, scope) = ask(&f, name, RecordType::AAAA, "2a01:1::1/128");
    assert_eq!((addrs, scope), (one("2001:db8:5::1"), 48));
    let (addrs, _, scope) = ask(&f, name, RecordType::AAAA, "2a01:2::1/128");
    assert_eq!((addrs, scope), (one("2001:db8:2::1"), 31));
    // A /24 source inside the override: the answer holds for the source network.
    let (addrs, _, scope) = ask(&f, name, RecordType::A, "81.0.1.0/25");
    assert_eq!((addrs, scope), (one("127.0.5.1"), 25));
}

#[test]
fn custom_rules_match_accumulate_and_terminate() {
    let f = start("rules");
    let name = "ruled.example.com.";
    // Germany asking AAAA: the first rule matches and terminates.
    let (addrs, ttls, _) = ask(&f, name, RecordType::AAAA, "81.0.2.1/32");
    assert_eq!((addrs, ttls), (one("2001:db8:5::1"), BTreeSet::from([120])));
    // Germany asking A: not the first rule; "europe" does.
    let (addrs, ttls, _) = ask(&f, name, RecordType::A, "81.0.2.1/32");
    assert_eq!((addrs, ttls), (one("127.0.2.1"), BTreeSet::from([30])));
    // France in 81.1.2.0/24: "europe" and "short-ttl" both apply (overrides accumulate).
    let (addrs, ttls, scope) = ask(&f, name, RecordType::A, "81.1.2.1/32");
    assert_eq!((addrs, ttls), (one("127.0.2.1"), BTreeSet::from([5])));
    assert_eq!(scope, 24, "the rule's network decides the TTL");
    // France outside it: "europe" only; the scope leaves the /24 out.
    let (addrs, ttls, scope) = ask(&f, name, RecordType::A, "81.1.3.1/32");
    assert_eq!((addrs, ttls), (one("127.0.2.1"), BTreeSet::from([30])));
    assert_eq!(scope, 24);
    let (_, _, scope) = ask(&f, name, RecordType::A, "81.1.200.1/32");
    assert_eq!(scope, 17);
    // AS64501: the ASN rule.
    let (addrs, _, scope) = ask(&f, name, RecordType::A, "9.9.9.9/32");
    assert_eq!((addrs, scope), (one("127.0.6.1"), 8));
    // The US: no rule, default pools; the scope is the network without any rule.
    let (addrs, ttls, _) = ask(&f, name, RecordType::A, "8.8.8.8/32");
    assert_eq!((addrs, ttls), (one("127.0.1.1"), BTreeSet::from([30])));
}

#[test]
fn rule_overrides_of_country_and_region_pools_steer_and_keep_the_scope_truthful() {
    let f = start("rule-maps");
    let name = "ruled-geo.example.com.";
    // (client, answer, scope): France by its country entry, Germany by region WEU, each
    // /16 of the city database its own class. The US matches no rule and answers as every
    // client outside Europe does: its scope is the widest network that holds no European
    // one (8.0.0.0 and 81.0.0.0 part at the second bit).
    for (client, want, ttl, scope) in [
        ("81.1.9.1/32", "127.0.5.1", 45, 16),
        ("81.0.9.1/32", "127.0.2.1", 45, 16),
        ("8.8.8.8/32", "127.0.1.1", 30, 2),
    ] {
        let (addrs, ttls, got) = ask(&f, name, RecordType::A, client);
        assert_eq!(
            (addrs, ttls),
            (one(want), BTreeSet::from([ttl])),
            "{client}"
        );
        assert_eq!(got, scope, "{client}: scope");
    }
    // The rule is for A only: France asking AAAA gets the load balancer's own pools.
    let (addrs, _, _) = ask(&f, name, RecordType::AAAA, "81.1.9.1/32");
    assert_eq!(addrs, one("2001:db8:1::1"));
    // explain names the rule and the map entry that chose the pool.
    let text = explain(&f, "ruled-geo.example.com", "81.1.9.1");
    assert!(text.contains("rule \"europe-by-country\""), "{text}");
    assert!(text.contains("country FR"), "{text}");
}

/// The status page's map data (`GET /v1/map`) applies custom rules per country and lists
/// the load balancer's rule variants.
#[test]
fn the_status_map_shows_the_rules_per_country_and_the_variants() {
    let f = start_with("status-map", &["--http", "127.0.0.1:0"]);
    let (code, body) = http_get(f.server.http_addr(), "/v1/map?lb=ruled-geo.example.com");
    assert_eq!(code, 200, "{body}");
    let map: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fr = &map["countries"]["FR"];
    assert_eq!(
        fr["rules"],
        serde_json::json!(["europe-by-country"]),
        "{fr}"
    );
    assert_eq!(fr["pools"], serde_json::json!(["office"]), "{fr}");
    assert_eq!(fr["rule"], "country FR", "{fr}");
    let de = &map["countries"]["DE"];
    assert_eq!(de["pools"], serde_json::json!(["eu"]), "{de}");
    let us = &map["countries"]["US"];
    assert_eq!(us["rules"], serde_json::json!([]), "{us}");
    assert_eq!(us["pools"], serde_json::json!(["us"]), "{us}");
    let variants = map["variants"].as_array().expect("variants");
    assert!(
        variants.iter().any(|v| v["when"]
            .as_str()
            .is_some_and(|w| w.contains("rule \"europe-by-country\""))
            && v["steering"] == "geo"
            && v["ttl"] == 45),
        "{variants:?}"
    );
    assert!(
        variants
            .iter()
            .any(|v| v["when"] == "no rule or map entry" && v["steering"] == "failover"),
        "{variants:?}"
    );
    // AAAA: the rule is for A only.
    let (_, body) = http_get(
        f.server.http_addr(),
        "/v1/map?lb=ruled-geo.example.com&type=AAAA",
    );
    let map: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(map["countries"]["FR"]["pools"], serde_json::json!(["us"]));
}

#[test]
fn dig_sees_the_subnet_override_and_its_scope() {
    let f = start("dig");
    let d = dig(
        f.server.port(),
        &["maps.example.com", "A", "+subnet=81.0.1.128/25"],
    );
    assert_eq!(d.status(), "NOERROR");
    let addrs: BTreeSet<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r.last().unwrap().clone())
        .collect();
    assert_eq!(addrs, one("127.0.6.1"));
    assert_eq!(d.client_subnet().as_deref(), Some("81.0.1.128/25/25"));
    // The rest of Germany, asked as a /24: scope 23, wider than the source.
    let d = dig(
        f.server.port(),
        &["maps.example.com", "A", "+subnet=81.0.2.0/24"],
    );
    let addrs: BTreeSet<String> = d
        .section("ANSWER")
        .iter()
        .map(|r| r.last().unwrap().clone())
        .collect();
    assert_eq!(addrs, one("127.0.2.1"));
    assert_eq!(d.client_subnet().as_deref(), Some("81.0.2.0/24/23"));
}

fn explain(f: &Fixture, name: &str, client: &str) -> String {
    let out = Command::new(BIN)
        .args(["explain", name, "--client", client, "--zones"])
        .arg(&f.zones)
        .arg("--geoip")
        .arg(&f.geoip)
        .arg("--asn-db")
        .arg(&f.asn)
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

#[test]
fn explain_shows_the_rules_that_matched() {
    let f = start("explain");
    let text = explain(&f, "ruled.example.com", "81.1.2.1");
    let rules = text
        .lines()
        .find(|l| l.starts_with("rules "))
        .unwrap_or_else(|| panic!("no rules line:\n{text}"));
    assert!(
        rules.contains("rule \"europe\"") && rules.contains("then rule \"short-ttl\""),
        "{rules}"
    );
    assert!(text.contains("ttl 5"), "{text}");
    let text = explain(&f, "maps.example.com", "81.1.200.1");
    assert!(text.contains("AS64500 Example Transit"), "{text}");
    assert!(text.contains("asn_pools AS64500"), "{text}");
    let text = explain(&f, "ruled.example.com", "8.8.8.8");
    assert!(text.contains("rules       none matched"), "{text}");
}

fn check(dir: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run geosteer check")
}

/// `geosteer check` of `dir` with the GeoIP and ASN databases.
fn check_with_dbs(dir: &Path, geoip: &Path, asn: &Path) -> Output {
    check(
        dir,
        &[
            "--geoip",
            geoip.to_str().unwrap(),
            "--asn-db",
            asn.to_str().unwrap(),
        ],
    )
}

#[test]
fn check_reports_rule_errors_with_line_and_column() {
    let (geoip, asn) = databases("check");
    let _files = Files(vec![geoip.clone(), asn.clone()]);
    let zones = ZoneDir::example();
    let bad = STEERING
        .replace(
            r#"condition = 'ip.src.continent eq "EU"'"#,
            r#"condition = 'ip.src.continent eq "EU" or ip.src.country eq "XX"'"#,
        )
        .replace(r#""64501" = ["office"]"#, r#""AS-x" = ["office"]"#);
    let path = zones.write("example.com.toml", &bad);
    let o = check_with_dbs(zones.path(), &geoip, &asn);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = bad.lines().position(|l| l.contains("\"XX\"")).unwrap() + 1;
    let col = bad.lines().nth(line - 1).unwrap().find("\"XX\"").unwrap() + 1;
    let want = format!("{}:{line}:{col}: ", path.display());
    assert!(
        err.lines()
            .any(|l| l.starts_with(&want) && l.contains("unknown country code \"XX\"")),
        "no `{want}…` in:\n{err}"
    );
    let asn_line = bad.lines().position(|l| l.contains("AS-x")).unwrap() + 1;
    assert!(
        err.contains(&format!("{}:{asn_line}: ", path.display()))
            && err.contains("is not an AS number"),
        "{err}"
    );

    // asn_pools without --asn-db: refused, at the load balancer's line.
    let zones = ZoneDir::example();
    zones.write("example.com.toml", STEERING);
    let o = check(zones.path(), &["--geoip", geoip.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("need an ASN database (--asn-db"), "{err}");
    // And with it, the configuration is valid.
    let o = check_with_dbs(zones.path(), &geoip, &asn);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_readme_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme
        .find("\n### Client maps and custom rules\n")
        .expect("the README section");
    let rest = &readme[from..];
    let start = rest.find("```toml\n").unwrap() + 8;
    let block = &rest[start..start + rest[start..].find("```").unwrap()];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let shipped = std::fs::read_to_string(root.join("example.com.toml")).unwrap();
    let zones = ZoneDir::new();
    zones.write(
        "example.com.zone",
        &std::fs::read_to_string(root.join("example.com.zone")).unwrap(),
    );
    zones.write("example.com.toml", &format!("{shipped}\n{block}"));
    let (geoip, asn) = databases("readme");
    let _files = Files(vec![geoip.clone(), asn.clone()]);
    let o = check_with_dbs(zones.path(), &geoip, &asn);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// An origin stand-in: answers up to `max` HTTP requests with a JSON body giving `load`.
fn load_reporter(addr: (&str, u16), load: u32, max: usize) {
    let listener = std::net::TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming().take(max) {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("{{\"load\": {{\"now\": {load}}}}}");
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

#[test]
fn an_http_monitors_load_signal_lowers_weights_in_status_and_explain() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    load_reporter(("127.0.73.1", port), 90, 500);
    load_reporter(("127.0.73.2", port), 10, 500);
    let zones = ZoneDir::example();
    zones.write(
        "example.com.toml",
        &format!(
            r#"
[monitors.agent]
type = "http"
port = {port}
interval = "2s"
timeout = "1s"
load = {{ json = "load.now", full = 100 }}

[pools.p]
monitor = "agent"
origins = [ {{ address = "127.0.73.1", name = "hot" }}, {{ address = "127.0.73.2", name = "cool" }} ]

[load_balancers.app]
steering = "least_connections"
default_pools = ["p"]
"#
        ),
    );
    let server = Server::start_owned(zones, &["--http", "127.0.0.1:0"]);
    let addr = http::http_addr(&server.stderr());
    let api = http::Http::new(addr);
    let deadline = std::time::Instant::now() + WAIT;
    let loads = loop {
        let status = api.json("/v1/status");
        let origins: Vec<serde_json::Value> = status["pools"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["origins"].as_array().unwrap().clone())
            .collect();
        let loads: Vec<(String, Option<f64>, Option<f64>)> = origins
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_string(),
                    o["load"].as_f64(),
                    o["load_factor"].as_f64(),
                )
            })
            .collect();
        if loads.iter().all(|l| l.1.is_some()) {
            break loads;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no load readings: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let hot = loads.iter().find(|l| l.0 == "hot").unwrap();
    let cool = loads.iter().find(|l| l.0 == "cool").unwrap();
    assert_eq!((hot.1, cool.1), (Some(90.0), Some(10.0)));
    assert!((hot.2.unwrap() - 0.1).abs() < 1e-9 && (cool.2.unwrap() - 0.9).abs() < 1e-9);
    let out = Command::new(BIN)
        .args([
            "explain",
            "app.example.com",
            "--client",
            "127.0.0.1",
            "--server",
        ])
        .arg(addr.to_string())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("load 90 (weight x0.10)"), "{text}");
    assert!(text.contains("load 10 (weight x0.90)"), "{text}");
}

#[test]
fn check_reports_rule_location_maps_that_cannot_apply_with_their_line() {
    let toml = r#"
[pools.eu]
origins = [{ address = "127.0.2.1" }]

[pools.us]
origins = [{ address = "127.0.1.1" }]

[load_balancers.weighted]
steering_policy = "random"
default_pools = ["us", "eu"]

[[load_balancers.weighted.rules]]
name = "maps-under-random"
overrides = { country_pools = { DE = ["eu"] } }

[[load_balancers.weighted.rules]]
name = "maps-under-proximity"
overrides = { steering_policy = "proximity", region_pools = { WEU = ["eu"] } }

[[load_balancers.weighted.rules]]
name = "bad-code"
overrides = { steering_policy = "geo", country_pools = { XX = ["eu"] } }

[[load_balancers.weighted.rules]]
name = "fine"
overrides = { steering_policy = "geo", region_pools = { WEU = ["eu"] }, country_pools = { DE = ["us"] } }
"#;
    let zones = ZoneDir::example();
    let path = zones.write("example.com.toml", toml);
    let o = check(zones.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let at = |needle: &str| {
        let line = toml.lines().position(|l| l.contains(needle)).unwrap() + 1;
        format!("{}:{line}: ", path.display())
    };
    for (needle, reason) in [
        (
            "country_pools = { DE = [\"eu\"] } }",
            "maps-under-random: location maps in overrides",
        ),
        (
            "steering_policy = \"proximity\"",
            "maps-under-proximity: location maps in overrides",
        ),
        ("XX = ", "bad-code: unknown country code \"XX\""),
    ] {
        let want = at(needle);
        assert!(
            err.lines()
                .any(|l| l.starts_with(&want) && l.contains(reason)),
            "no `{want}…{reason}` in:\n{err}"
        );
    }
    assert!(!err.contains(", fine:"), "{err}");
}

const RESOLVER_STEERING: &str = r#"
[pools.eu]
origins = [{ address = "127.0.2.1" }]

[pools.us]
origins = [{ address = "127.0.1.1" }]

[pools.office]
origins = [{ address = "127.0.5.1" }]

[pools.transit]
origins = [{ address = "127.0.6.1" }]

[load_balancers.resolver]
steering_policy = "off"
default_pools = ["us"]
location_strategy = { prefer_ecs = "never" }
subnet_pools = { "127.0.0.2/32" = ["office"], "81.0.1.0/24" = ["eu"] }

[[load_balancers.resolver.rules]]
name = "third-loopback"
condition = 'ip.src in {127.0.0.3}'
overrides = { default_pools = ["transit"], ttl = 7 }

[load_balancers.ecs]
steering_policy = "off"
default_pools = ["us"]
location_strategy = { prefer_ecs = "always" }
subnet_pools = { "127.0.0.2/32" = ["office"], "81.0.1.0/24" = ["eu"] }

[[load_balancers.ecs.rules]]
name = "third-loopback"
condition = 'ip.src in {127.0.0.3}'
overrides = { default_pools = ["transit"], ttl = 7 }
"#;

/// Asks `name` A from source address `src` (a loopback address) with ECS `subnet`: the
/// addresses, the TTL, and the ECS option of the answer.
fn ask_from(
    server: std::net::SocketAddr,
    src: &str,
    name: &str,
    subnet: &str,
) -> (BTreeSet<String>, u32, ClientSubnet) {
    let q = query_ecs(name, RecordType::A, subnet.parse::<ClientSubnet>().unwrap());
    let sock = std::net::UdpSocket::bind((src, 0)).expect("bind a loopback source");
    sock.set_read_timeout(Some(WAIT)).unwrap();
    sock.send_to(&encode(&q), server).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer");
    let msg = decode(&buf[..n]);
    assert_response_to(&q, &msg);
    let addrs = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    let ttl = msg.answers.first().map_or(0, |r| r.ttl);
    let ecs = match msg.edns.as_ref().and_then(|e| e.option(EdnsCode::Subnet)) {
        Some(EdnsOption::Subnet(cs)) => *cs,
        _ => panic!("no ECS in the answer from {src} for {subnet}"),
    };
    (addrs, ttl, ecs)
}

/// `prefer_ecs = "never"`: subnet_pools and an `ip.src` rule see the resolver's address, the
/// ECS address is ignored, and the answer (which depends on no client network) carries
/// SCOPE PREFIX-LENGTH 0 with FAMILY, SOURCE PREFIX-LENGTH and ADDRESS copied from the query
/// (RFC 7871 section 7.2.1: scope 0 says the answer suits every address of the family). The
/// same configuration with prefer_ecs = "always" shows the ECS address deciding.
#[test]
fn prefer_ecs_never_steers_client_maps_and_rules_by_the_resolver_with_scope_zero() {
    let zones = ZoneDir::example();
    zones.write("example.com.toml", RESOLVER_STEERING);
    let s = Server::start_owned(zones, &[]);
    let never = "resolver.example.com.";
    let always = "ecs.example.com.";
    // (source, ECS, answer under never, TTL under never)
    for (src, ecs, want, ttl) in [
        // The ECS network is in subnet_pools, the resolver is not: default pools.
        ("127.0.0.1", "81.0.1.0/24", "127.0.1.1", 30),
        // The resolver is in subnet_pools; the ECS address is not.
        ("127.0.0.2", "81.0.9.0/24", "127.0.5.1", 30),
        ("127.0.0.2", "127.0.0.1/32", "127.0.5.1", 30),
        // The rule's ip.src test matches the resolver, whatever ECS says.
        ("127.0.0.3", "127.0.0.2/32", "127.0.6.1", 7),
    ] {
        let (addrs, got_ttl, cs) = ask_from(s.addr, src, never, ecs);
        assert_eq!((addrs, got_ttl), (one(want), ttl), "never: {src} ECS {ecs}");
        let sent: ClientSubnet = ecs.parse().unwrap();
        assert_eq!(cs.scope_prefix(), 0, "never: {src} ECS {ecs}: scope");
        assert_eq!(
            (cs.addr(), cs.source_prefix()),
            (sent.addr(), sent.source_prefix()),
            "never: the option is echoed as sent"
        );
    }
    // prefer_ecs = "always": the ECS address decides, scoped to the network that decided.
    for (src, ecs, want, scope) in [
        ("127.0.0.1", "81.0.1.0/24", "127.0.2.1", 24),
        ("127.0.0.1", "127.0.0.2/32", "127.0.5.1", 32),
        // 127.0.0.0/31 holds no listed address: the answer holds for all of it.
        ("127.0.0.3", "127.0.0.1/32", "127.0.1.1", 31),
        ("127.0.0.1", "127.0.0.3/32", "127.0.6.1", 32),
    ] {
        let (addrs, _, cs) = ask_from(s.addr, src, always, ecs);
        assert_eq!(addrs, one(want), "always: {src} ECS {ecs}");
        assert_eq!(cs.scope_prefix(), scope, "always: {src} ECS {ecs}: scope");
    }
}
