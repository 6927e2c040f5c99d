//! `geosteer check` on bad steering configuration: each mistake is reported with the file,
//! the line and the reason, and the exit status is 1.

use std::path::{Path, PathBuf};
use std::process::Command;

const ZONE: &str = "$ORIGIN example.com.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
static IN A 192.0.2.80
alias IN CNAME static
";

const POOLS: &str = r#"
[pools.us]
origins = [ { address = "127.0.1.1", address_v6 = "2001:db8:1::1" } ]
[pools.eu]
origins = [ { address = "127.0.2.1" } ]
"#;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn zones(name: &str, zone: &str, steering: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("geosteer-cfg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("example.com.zone"), zone).unwrap();
    std::fs::write(dir.join("example.com.toml"), steering).unwrap();
    Dir(dir)
}

fn check(dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .arg("--geoip")
        .arg(dir.join("no-database-needed.mmdb"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks the steering file `extra` (appended to two valid pools) and expects one error
/// naming the file and `line`, containing `reason`.
fn rejects(name: &str, zone: &str, extra: &str, line: usize, reason: &str) {
    let text = format!("{POOLS}{extra}");
    let dir = zones(name, zone, &text);
    let (code, _, stderr) = check(&dir.0);
    assert_eq!(code, 1, "{name}: expected failure, got:\n{stderr}");
    let want = format!("{}:{line}: ", dir.0.join("example.com.toml").display());
    let hit = stderr
        .lines()
        .any(|l| l.starts_with(&want) && l.contains(reason));
    assert!(
        hit,
        "{name}: wanted a line starting {want:?} containing {reason:?}; got:\n{stderr}\n--- file:\n{}",
        text.lines()
            .enumerate()
            .map(|(i, l)| format!("{:3} {l}\n", i + 1))
            .collect::<String>()
    );
}

/// Line of `needle` (in `extra`) in the steering file as `rejects` writes it.
fn line_of(extra: &str, needle: &str) -> usize {
    let offset = POOLS.lines().count();
    let within = extra
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in text");
    offset + within + 1
}

#[test]
fn a_valid_configuration_passes() {
    let extra = r#"
[load_balancers.www2]
steering = "failover"
default_pools = ["us", "eu"]
fallback_pool = "eu"
"#;
    let dir = zones("valid", ZONE, &format!("{POOLS}{extra}"));
    let (code, stdout, stderr) = check(&dir.0);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(
        stdout.contains("1 load balancers, 2 pools, 2 origins"),
        "{stdout}"
    );
}

#[test]
fn unknown_pool() {
    let extra = r#"
[load_balancers.lb]
steering = "failover"
default_pools = ["us",
  "asia"]
"#;
    rejects(
        "unknown-pool",
        ZONE,
        extra,
        line_of(extra, "\"asia\""),
        "unknown pool \"asia\"",
    );
}

#[test]
fn unknown_fallback_pool() {
    let extra = r#"
[load_balancers.lb]
steering = "failover"
default_pools = ["us"]
fallback_pool = "nowhere"
"#;
    rejects(
        "unknown-fallback",
        ZONE,
        extra,
        line_of(extra, "nowhere"),
        "unknown fallback pool",
    );
}

#[test]
fn empty_pool() {
    let extra = r#"
[pools.empty]
origins = []
"#;
    rejects(
        "empty-pool",
        ZONE,
        extra,
        line_of(extra, "origins = []"),
        "has no origins",
    );
}

#[test]
fn bad_address() {
    let extra = r#"
[pools.bad]
origins = [ { address = "127.0.1.300" } ]
"#;
    rejects(
        "bad-address",
        ZONE,
        extra,
        line_of(extra, "127.0.1.300"),
        "not an IP address",
    );
}

#[test]
fn bad_ipv6_address() {
    let extra = r#"
[pools.bad]
origins = [ { address = "127.0.1.9", address_v6 = "127.0.0.1" } ]
"#;
    rejects(
        "bad-v6",
        ZONE,
        extra,
        line_of(extra, "address_v6"),
        "not an IPv6 address",
    );
}

#[test]
fn weight_out_of_range() {
    let extra = r#"
[pools.heavy]
origins = [ { address = "127.0.1.9", weight = 1.5 } ]
"#;
    rejects(
        "weight",
        ZONE,
        extra,
        line_of(extra, "weight = 1.5"),
        "out of range",
    );
}

#[test]
fn pool_weight_out_of_range() {
    let extra = r#"
[load_balancers.r]
steering = "random"
default_pools = ["us", "eu"]
pool_weights = { us = -0.5 }
"#;
    rejects(
        "pool-weight",
        ZONE,
        extra,
        line_of(extra, "pool_weights"),
        "out of range",
    );
}

#[test]
fn unknown_country_code() {
    let extra = r#"
[load_balancers.g]
steering = "geo"
default_pools = ["us"]
country_pools = { XX = ["eu"] }
"#;
    rejects(
        "country",
        ZONE,
        extra,
        line_of(extra, "XX ="),
        "unknown country code",
    );
}

#[test]
fn unknown_region_code() {
    let extra = r#"
[load_balancers.g]
steering = "geo"
default_pools = ["us"]
region_pools = { MARS = ["eu"] }
"#;
    rejects(
        "region",
        ZONE,
        extra,
        line_of(extra, "MARS"),
        "unknown region code",
    );
}

#[test]
fn unknown_continent_code() {
    let extra = r#"
[load_balancers.g]
steering = "geo"
default_pools = ["us"]
continent_pools = { EUROPE = ["eu"] }
"#;
    rejects(
        "continent",
        ZONE,
        extra,
        line_of(extra, "EUROPE"),
        "unknown continent code",
    );
}

#[test]
fn duplicate_pool_name() {
    let extra = r#"
[pools.us]
origins = [ { address = "127.0.1.9" } ]
"#;
    // TOML itself forbids a table defined twice; the error points at the second.
    rejects(
        "dup-pool",
        ZONE,
        extra,
        line_of(extra, "[pools.us]"),
        "duplicate",
    );
}

#[test]
fn duplicate_load_balancer_name() {
    let extra = r#"
[load_balancers.lb]
steering = "failover"
default_pools = ["us"]
[load_balancers."lb.example.com."]
steering = "failover"
default_pools = ["eu"]
"#;
    rejects(
        "dup-lb",
        ZONE,
        extra,
        line_of(extra, "lb.example.com."),
        "defined twice",
    );
}

#[test]
fn duplicate_origin_in_a_pool() {
    let extra = r#"
[pools.twice]
origins = [ { address = "127.0.1.9" },
  { address = "127.0.1.9" } ]
"#;
    rejects(
        "dup-origin",
        ZONE,
        extra,
        line_of(extra, "  { address"),
        "appears twice",
    );
}

#[test]
fn name_outside_the_zone() {
    let extra = r#"
[load_balancers."www.example.org."]
steering = "failover"
default_pools = ["us"]
"#;
    rejects(
        "outside",
        ZONE,
        extra,
        line_of(extra, "example.org"),
        "outside zone",
    );
}

#[test]
fn load_balancer_clashing_with_zone_data() {
    for (name, rtype) in [("static", "A"), ("alias", "CNAME")] {
        let extra = format!(
            r#"
[load_balancers.{name}]
steering = "failover"
default_pools = ["us"]
"#
        );
        rejects(
            &format!("clash-{name}"),
            ZONE,
            &extra,
            line_of(&extra, &format!("[load_balancers.{name}]")),
            &format!("has {rtype} records in the zone file"),
        );
    }
    let zone = format!("{ZONE}v6only IN AAAA 2001:db8::80\n");
    let extra = "\n[load_balancers.v6only]\nsteering = \"failover\"\ndefault_pools = [\"us\"]\n";
    rejects(
        "clash-aaaa",
        &zone,
        extra,
        line_of(extra, "[load_balancers.v6only]"),
        "has AAAA records in the zone file",
    );
}

#[test]
fn unknown_key() {
    let extra = r#"
[pools.typo]
orgins = [ { address = "127.0.1.9" } ]
"#;
    rejects(
        "unknown-key",
        ZONE,
        extra,
        line_of(extra, "orgins"),
        "unknown field",
    );
}

#[test]
fn unknown_steering_policy() {
    let extra = r#"
[load_balancers.lb]
steering = "closest"
default_pools = ["us"]
"#;
    rejects(
        "policy",
        ZONE,
        extra,
        line_of(extra, "closest"),
        "not one of",
    );
}

#[test]
fn unknown_monitor_and_bad_durations() {
    let extra = r#"
[monitors.m]
type = "tcp"
port = 9925
interval = "10 seconds"
[pools.watched]
monitor = "nope"
origins = [ { address = "127.0.1.9" } ]
"#;
    rejects(
        "monitor",
        ZONE,
        extra,
        line_of(extra, "\"nope\""),
        "unknown monitor",
    );
    rejects(
        "duration",
        ZONE,
        extra,
        line_of(extra, "10 seconds"),
        "not a duration",
    );
}

#[test]
fn missing_environment_variable_is_named() {
    let extra = r#"
[monitors.api]
type = "http"
port = 9925
headers = { Authorization = "Basic ${GEOSTEER_TEST_SURELY_UNSET}" }
"#;
    rejects(
        "env",
        ZONE,
        extra,
        line_of(extra, "Authorization"),
        "environment variable GEOSTEER_TEST_SURELY_UNSET is not set",
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let extra = r#"
[pools.a]
origins = [ { address = "not an address" } ]
[pools.b]
origins = [ { address = "127.0.1.9", weight = 7 } ]
"#;
    let dir = zones("many", ZONE, &format!("{POOLS}{extra}"));
    let (code, _, stderr) = check(&dir.0);
    assert_eq!(code, 1);
    assert!(stderr.contains("not an IP address"), "{stderr}");
    assert!(stderr.contains("out of range"), "{stderr}");
    assert!(stderr.contains("2 errors"), "{stderr}");
}
