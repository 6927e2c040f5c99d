//! Operations on the running server: reload under load (SIGHUP and POST /v1/reload, valid
//! and invalid), the HTTP endpoints (metrics, status, health, readiness, drains, tokens), a
//! GeoIP database replaced by rename, and identity (NSID, CHAOS TXT).

mod common;
#[path = "support/mmdb.rs"]
mod mmdb;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::rr::{RData, RecordType};
use serde_json::Value;

const TOKEN: &str = "test-token-9f3a";

fn zone(version: &str) -> String {
    format!("{EXAMPLE_ZONE}version IN TXT \"{version}\"\n")
}

/// Two pools without monitors, so every origin is up without listeners.
fn steering(order: &str) -> String {
    format!(
        r#"
[pools.a]
origins = [ {{ address = "127.0.60.1" }}, {{ address = "127.0.60.2" }} ]
[pools.b]
origins = [ {{ address = "127.0.61.1" }} ]
[load_balancers.lb]
steering = "failover"
default_pools = [{order}]
fallback_pool = "b"
"#
    )
}

/// Starts the server with the HTTP endpoint and, unless `extra` names another, the token file.
fn start(zones: ZoneDir, extra: &[&str]) -> (Server, SocketAddr) {
    let token_file = zones.write("api-token", &format!("{TOKEN}\n"));
    let token_file = token_file.to_str().unwrap().to_string();
    let mut args = vec!["--http", "127.0.0.1:0"];
    if !extra.contains(&"--api-token-file") {
        args.extend(["--api-token-file", token_file.as_str()]);
    }
    args.extend_from_slice(extra);
    let s = Server::start_owned(zones, &args);
    let line = s
        .stderr()
        .into_iter()
        .find(|l| l.contains("http endpoint on "))
        .expect("http endpoint line");
    let addr = line[line.find("http endpoint on ").unwrap() + 17..]
        .trim()
        .parse()
        .unwrap();
    (s, addr)
}

/// A blocking HTTP client (reqwest on a small runtime of its own).
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(addr: SocketAddr) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
            base: format!("http://{addr}"),
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn post(&self, path: &str, token: Option<&str>) -> (u16, String) {
        self.rt.block_on(async {
            let mut req = self.client.post(format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn json(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn txt(addr: SocketAddr, name: &str) -> Vec<String> {
    let r = udp(addr, &query(name, RecordType::TXT));
    r.answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

fn a_records(addr: SocketAddr, name: &str) -> BTreeSet<String> {
    let r = udp(addr, &query(name, RecordType::A));
    r.answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

fn set(xs: &[&str]) -> BTreeSet<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// A metric's value in the text, or None.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_for_log(s: &Server, needle: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while s.stderr().iter().filter(|l| l.contains(needle)).count() < count {
        assert!(Instant::now() < deadline, "no {count}× {needle:?} in log");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reloads_under_load_lose_no_query_and_bad_ones_change_nothing() {
    let zones = ZoneDir::with_zone("example.com", &zone("v0"));
    zones.write("example.com.toml", &steering(r#""a", "b""#));
    let zone_path = zones.path().join("example.com.zone");
    let steering_path = zones.path().join("example.com.toml");
    let (s, http_addr) = start(zones, &[]);
    let http = Http::new(http_addr);
    let dns = s.addr;
    assert_eq!(txt(dns, "version.example.com."), ["v0"]);

    // A steady stream of queries from another thread, each waited for; bounded in count.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let client = {
        let (stop, sent, unanswered) = (stop.clone(), sent.clone(), unanswered.clone());
        std::thread::spawn(move || {
            let names = [
                "www.example.com.",
                "lb.example.com.",
                "version.example.com.",
            ];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                let q = query(names[i % names.len()], RecordType::A);
                sent.fetch_add(1, Ordering::Relaxed);
                match udp_raw(dns, &encode(&q), Duration::from_secs(2)) {
                    Some(raw) => {
                        let r = decode(&raw);
                        if r.metadata.response_code != ResponseCode::NoError {
                            unanswered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {
                        unanswered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        })
    };

    let mut good = 0;
    let mut version = String::from("v0");
    let mut lb = set(&["127.0.60.1", "127.0.60.2"]);
    for round in 1..=10 {
        let by_signal = round % 4 < 2;
        if round % 2 == 0 {
            // A valid change: new TXT data and the other pool order.
            good += 1;
            version = format!("v{round}");
            std::fs::write(&zone_path, zone(&version)).unwrap();
            let order = if good % 2 == 1 {
                lb = set(&["127.0.61.1"]);
                r#""b", "a""#
            } else {
                lb = set(&["127.0.60.1", "127.0.60.2"]);
                r#""a", "b""#
            };
            std::fs::write(&steering_path, steering(order)).unwrap();
        } else if round % 3 == 0 {
            // Invalid: an unknown pool in the steering file.
            std::fs::write(&zone_path, zone("never")).unwrap();
            std::fs::write(&steering_path, steering(r#""a", "nope""#)).unwrap();
        } else {
            // Invalid: a zone-file syntax error.
            std::fs::write(
                &zone_path,
                format!("{}\nbroken IN A 1.2.3\n", zone("never")),
            )
            .unwrap();
        }
        let valid = round % 2 == 0;
        if by_signal {
            s.signal(libc::SIGHUP);
            if valid {
                wait_for_log(&s, "reloaded: generation", good);
            } else {
                wait_for_log(&s, "reload rejected", round - good);
            }
        } else {
            let (code, body) = http.post("/v1/reload", Some(TOKEN));
            if valid {
                assert_eq!(code, 200, "round {round}: {body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["generation"], 1 + good as u64);
            } else {
                assert_eq!(code, 422, "round {round}: {body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                let e = &v["errors"][0];
                assert!(
                    e["file"].as_str().unwrap().ends_with(".zone")
                        || e["file"].as_str().unwrap().ends_with(".toml")
                );
                assert!(e["line"].as_u64().unwrap() > 0, "{body}");
                assert!(!e["reason"].as_str().unwrap().is_empty());
            }
        }
        // Valid changes are in effect; invalid ones left the previous answers in place.
        assert_eq!(
            txt(dns, "version.example.com."),
            [version.clone()],
            "round {round}"
        );
        assert_eq!(a_records(dns, "lb.example.com."), lb, "round {round}");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent > 300, "the stream ran ({sent} queries)");
    assert_eq!(unanswered.load(Ordering::Relaxed), 0, "of {sent} queries");

    let (_, text) = http.get("/metrics");
    assert_eq!(metric(&text, "geosteer_config_generation"), Some(6.0));
    assert_eq!(
        metric(&text, "geosteer_config_reloads_total{result=\"success\"}"),
        Some(5.0)
    );
    assert_eq!(
        metric(&text, "geosteer_config_reloads_total{result=\"failure\"}"),
        Some(5.0)
    );
    // The last round was a valid one.
    assert_eq!(
        metric(&text, "geosteer_config_last_reload_success"),
        Some(1.0)
    );
    assert!(
        s.stderr()
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("reload rejected") && l.contains(".zone:")),
        "rejections are logged at error with file and line"
    );
}

#[test]
fn endpoints_metrics_status_health_and_readiness() {
    let zones = ZoneDir::with_zone("example.com", &zone("v0"));
    zones.write("example.com.toml", &steering(r#""a", "b""#));
    let (s, http_addr) = start(zones, &[]);
    let http = Http::new(http_addr);
    assert_eq!(http.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(http.get("/readyz"), (200, "ready\n".into()));

    let (code, before) = http.get("/metrics");
    assert_eq!(code, 200);
    for _ in 0..3 {
        udp(s.addr, &query("lb.example.com.", RecordType::A));
        udp(s.addr, &query("nope.example.com.", RecordType::A));
        tcp(s.addr, &query("www.example.com.", RecordType::AAAA));
        udp(
            s.addr,
            &query_ecs(
                "www.example.com.",
                RecordType::A,
                "198.51.100.0/24".parse::<ClientSubnet>().unwrap(),
            ),
        );
    }
    udp(s.addr, &query("example.org.", RecordType::A));
    let (_, after) = http.get("/metrics");
    let series = [
        "geosteer_queries_total{zone=\"example.com.\",type=\"A\",rcode=\"NOERROR\",protocol=\"udp\"}",
        "geosteer_queries_total{zone=\"example.com.\",type=\"A\",rcode=\"NXDOMAIN\",protocol=\"udp\"}",
        "geosteer_queries_total{zone=\"example.com.\",type=\"AAAA\",rcode=\"NOERROR\",protocol=\"tcp\"}",
        "geosteer_queries_total{zone=\"\",type=\"A\",rcode=\"REFUSED\",protocol=\"udp\"}",
        "geosteer_answers_total{load_balancer=\"lb.example.com.\",pool=\"a\"}",
        "geosteer_ecs_queries_total{ecs=\"present\"}",
        "geosteer_ecs_queries_total{ecs=\"absent\"}",
    ];
    for sname in series {
        let b = metric(&before, sname).unwrap_or(0.0);
        let a = metric(&after, sname).unwrap_or_else(|| panic!("{sname} missing:\n{after}"));
        assert!(a > b, "{sname} did not move ({b} → {a})");
    }
    for family in [
        "# TYPE geosteer_origin_up gauge",
        "# TYPE geosteer_origin_rtt_seconds gauge",
        "# TYPE geosteer_probe_failures_total counter",
        "# TYPE geosteer_config_generation gauge",
        "# TYPE geosteer_config_last_reload_timestamp_seconds gauge",
        "# TYPE geosteer_geoip_build_epoch_seconds gauge",
    ] {
        assert!(after.contains(family), "{family}");
    }
    assert_eq!(
        metric(
            &after,
            "geosteer_origin_up{zone=\"example.com.\",pool=\"a\",origin=\"127.0.60.1\"}"
        ),
        Some(1.0)
    );

    let st = http.json("/v1/status");
    assert_eq!(st["generation"], 1);
    assert_eq!(st["ready"], true);
    assert_eq!(st["zones"][0], "example.com.");
    let lb = &st["load_balancers"][0];
    assert_eq!(lb["name"], "lb.example.com.");
    assert_eq!(lb["steering"], "failover");
    assert_eq!(lb["default_pools"][0], "a");
    let pool = st["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "a")
        .unwrap();
    assert_eq!(pool["up"], true);
    assert_eq!(pool["healthy_origins"], 2);
    let origin = &pool["origins"][0];
    for key in [
        "name",
        "addresses",
        "enabled",
        "drained",
        "up",
        "rtt_ms",
        "last_probe",
        "monitor",
        "weight",
    ] {
        assert!(origin.get(key).is_some(), "origin has {key}: {origin}");
    }
}

#[test]
fn drains_apply_at_once_and_need_the_token() {
    let zones = ZoneDir::with_zone("example.com", &zone("v0"));
    zones.write("example.com.toml", &steering(r#""a", "b""#));
    let (s, http_addr) = start(zones, &[]);
    let http = Http::new(http_addr);
    let lb = "lb.example.com.";
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.1", "127.0.60.2"]));

    // Without a token: 401; with a wrong one: 403; nothing changes.
    assert_eq!(
        http.post("/v1/pools/a/origins/127.0.60.1/disable", None).0,
        401
    );
    assert_eq!(
        http.post("/v1/pools/a/origins/127.0.60.1/disable", Some("wrong"))
            .0,
        403
    );
    assert_eq!(http.post("/v1/reload", Some("wrong")).0, 403);
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.1", "127.0.60.2"]));

    let (code, body) = http.post("/v1/pools/a/origins/127.0.60.1/disable", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.2"]));
    let st = http.json("/v1/status");
    let drained: Vec<&Value> = st["pools"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["origins"].as_array().unwrap())
        .filter(|o| o["drained"] == true)
        .collect();
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0]["addresses"][0], "127.0.60.1");
    let (_, m) = http.get("/metrics");
    assert_eq!(
        metric(
            &m,
            "geosteer_origin_serving{zone=\"example.com.\",pool=\"a\",origin=\"127.0.60.1\"}"
        ),
        Some(0.0)
    );

    // A whole pool: failover to b at once; enable brings a back.
    assert_eq!(http.post("/v1/pools/a/disable", Some(TOKEN)).0, 200);
    assert_eq!(a_records(s.addr, lb), set(&["127.0.61.1"]));
    assert_eq!(http.post("/v1/pools/a/enable", Some(TOKEN)).0, 200);
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.2"]));
    assert_eq!(
        http.post("/v1/pools/a/origins/127.0.60.1/enable", Some(TOKEN))
            .0,
        200
    );
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.1", "127.0.60.2"]));

    // Drains survive a reload.
    assert_eq!(
        http.post("/v1/pools/a/origins/127.0.60.2/disable", Some(TOKEN))
            .0,
        200
    );
    assert_eq!(http.post("/v1/reload", Some(TOKEN)).0, 200);
    assert_eq!(a_records(s.addr, lb), set(&["127.0.60.1"]));

    // Unknown names: 404.
    assert_eq!(http.post("/v1/pools/zz/disable", Some(TOKEN)).0, 404);
    assert_eq!(
        http.post("/v1/pools/a/origins/127.9.9.9/disable", Some(TOKEN))
            .0,
        404
    );
}

#[test]
fn without_a_token_mutating_endpoints_are_refused() {
    let zones = ZoneDir::with_zone("example.com", &zone("v0"));
    zones.write("example.com.toml", &steering(r#""a", "b""#));
    // An empty token file means no token.
    let token_file = zones.write("empty-token", "\n");
    let (_s, http_addr) = start(zones, &["--api-token-file", token_file.to_str().unwrap()]);
    let http = Http::new(http_addr);
    let (code, body) = http.post("/v1/reload", Some(TOKEN));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("no API token configured"));
    // Read-only endpoints stay open.
    assert_eq!(http.get("/v1/status").0, 200);
}

#[test]
fn a_geoip_database_replaced_by_rename_is_used_after_reload() {
    let dir = ZoneDir::with_zone("example.com", &zone("v0"));
    dir.write(
        "example.com.toml",
        r#"
[pools.us]
origins = [ { address = "127.0.70.1" } ]
[pools.eu]
origins = [ { address = "127.0.71.1" } ]
[load_balancers.geo]
steering = "geo"
default_pools = ["us", "eu"]
continent_pools = { EU = ["eu", "us"] }
"#,
    );
    let db = dir.path().join("city.mmdb");
    let eu = mmdb::city("EU", "NL", None, "Amsterdam", 52.37, 4.90);
    let na = mmdb::city("NA", "US", None, "Ashburn", 39.04, -77.49);
    mmdb::write_city_db(&db, "GeoIP2-City", &[("193.0.6.0/24", eu)]);
    let (s, http_addr) = start(dir, &["--geoip", db.to_str().unwrap()]);
    let http = Http::new(http_addr);
    let ask = || {
        let r = udp(
            s.addr,
            &query_ecs(
                "geo.example.com.",
                RecordType::A,
                "193.0.6.0/24".parse::<ClientSubnet>().unwrap(),
            ),
        );
        r.answers
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::A(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ask(), ["127.0.71.1"]);
    // Write the new database beside it, then rename over: the running server's mapping of
    // the old file stays valid, and the reload opens the new one.
    let tmp = db.with_extension("mmdb.new");
    mmdb::write_city_db(&tmp, "GeoIP2-City", &[("193.0.6.0/24", na)]);
    std::fs::rename(&tmp, &db).unwrap();
    assert_eq!(ask(), ["127.0.71.1"], "nothing changes before the reload");
    assert_eq!(http.post("/v1/reload", Some(TOKEN)).0, 200);
    assert_eq!(ask(), ["127.0.70.1"]);
}

#[test]
fn nsid_and_chaos_identity() {
    let (s, _) = start(ZoneDir::example(), &["--identity", "dns-fra-1"]);
    let d = dig(s.port(), &["example.com", "SOA", "+nsid"]);
    assert!(
        d.text.contains("; NSID: ") && d.text.contains("(\"dns-fra-1\")"),
        "{}",
        d.text
    );
    for name in ["id.server", "hostname.bind"] {
        let d = dig(s.port(), &[name, "CH", "TXT"]);
        assert_eq!(d.status(), "NOERROR");
        assert!(d.has_flag("aa"));
        assert_eq!(
            d.section("ANSWER")[0].last().unwrap(),
            "\"dns-fra-1\"",
            "{name}"
        );
    }
    for name in ["version.server", "version.bind"] {
        let d = dig(s.port(), &[name, "CH", "TXT"]);
        let v = d.section("ANSWER")[0][4..].join(" ");
        assert!(v.starts_with("\"geosteer "), "{v}");
    }
    // No NSID unless asked.
    let d = dig(s.port(), &["example.com", "SOA"]);
    assert!(!d.text.contains("NSID"));

    // Turned off: REFUSED, and no NSID.
    let (s, _) = start(
        ZoneDir::example(),
        &["--identity", "", "--server-version", "", "--nsid", ""],
    );
    for name in ["id.server", "version.bind"] {
        assert_eq!(dig(s.port(), &[name, "CH", "TXT"]).status(), "REFUSED");
    }
    assert!(
        !dig(s.port(), &["example.com", "SOA", "+nsid"])
            .text
            .contains("; NSID")
    );
    // A version string of one's own.
    let (s, _) = start(ZoneDir::example(), &["--server-version", "dns"]);
    let d = dig(s.port(), &["version.bind", "CH", "TXT"]);
    assert_eq!(d.section("ANSWER")[0].last().unwrap(), "\"dns\"");
}

/// Malformed queries get FORMERR, are counted by reason in /metrics, and their reason is
/// logged at debug level only (nothing per packet at the default level).
#[test]
fn malformed_queries_are_counted_by_reason_and_logged_at_debug() {
    // A question cut short (the full decoder refuses it), no question at all, and a name
    // with a label of the reserved type 0b10.
    let truncated = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03ww".to_vec();
    let no_question = b"\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    let bad_label =
        b"\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x80\x00\x00\x01\x00\x01".to_vec();
    let packets = [
        (&truncated, "truncated"),
        (&no_question, "question_count"),
        (&bad_label, "bad_label_type"),
    ];

    let (s, http_addr) = start(ZoneDir::with_zone("example.com", &zone("v0")), &[]);
    let http = Http::new(http_addr);
    let (_, before) = http.get("/metrics");
    for (p, reason) in &packets {
        let series = format!("geosteer_malformed_queries_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&before, &series), Some(0.0), "{series} listed at 0");
        let r = udp_raw(s.addr, p, WAIT).expect("an answer");
        assert_eq!(r[3] & 0x0f, 1, "FORMERR for {reason}");
    }
    let (_, after) = http.get("/metrics");
    for (_, reason) in &packets {
        let series = format!("geosteer_malformed_queries_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&after, &series), Some(1.0), "{series}");
    }
    assert!(
        !s.stderr().iter().any(|l| l.contains("malformed")),
        "nothing logged per packet at the default level"
    );

    let zones = ZoneDir::with_zone("example.com", &zone("v0"));
    let debug = Server::start_env(zones.path(), &[], Some("info,geosteer::dns=debug"));
    for (p, _) in &packets {
        udp_raw(debug.addr, p, WAIT).expect("an answer");
    }
    for (_, reason) in &packets {
        wait_for_log(&debug, &format!("reason=\"{reason}\""), 1);
    }
}
