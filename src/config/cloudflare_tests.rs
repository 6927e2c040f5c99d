//! Cloudflare's names and types in the steering file (issue 15, items 2 and 6): each alias
//! reads as its canonical form does, both forms at once are an error with its line, and the
//! new knobs (location_strategy, enabled, shared pools, origins by host name) do what the
//! README says.

use std::path::Path;
use std::str::FromStr;

use super::*;
use crate::error::ConfigError;

const POOLS: &str = r#"
[monitors.m]
type = "http"
port = 9925

[pools.a]
monitor = "m"
latitude = 1.0
longitude = 2.0
origins = [ { address = "127.0.15.1" } ]

[pools.b]
latitude = 3.0
longitude = 4.0
origins = [ { address = "127.0.15.2" }, { address = "127.0.15.3" } ]
"#;

fn zone() -> Name {
    Name::from_str("example.com.").unwrap()
}

fn read(text: &str) -> (SteeringConfig, Vec<ConfigError>) {
    let mut cfg = SteeringConfig::default();
    let mut errors = Vec::new();
    read_str(
        Path::new("z.toml"),
        text,
        &zone(),
        &mut cfg,
        &|_| None,
        &mut errors,
    );
    (cfg, errors)
}

fn ok(text: &str) -> SteeringConfig {
    let (cfg, errors) = read(text);
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    cfg
}

/// Everything of a configuration that steering reads, as text (maps in sorted order).
fn summary(cfg: &SteeringConfig) -> String {
    let mut s = format!("{:?}\n{:?}\n{:?}\n", cfg.monitors, cfg.pools, cfg.origins);
    for lb in &cfg.load_balancers {
        let mut rules: Vec<String> = [
            &lb.rules.subdivision,
            &lb.rules.country,
            &lb.rules.region,
            &lb.rules.continent,
        ]
        .iter()
        .flat_map(|m| m.iter().map(|(k, v)| format!("{k}={v:?}")))
        .collect();
        rules.sort();
        s.push_str(&format!(
            "{} {} {:?} {:?} {} {:?} {} {:?} {:?} {:?} {:?} {rules:?}\n",
            lb.name,
            lb.ttl,
            lb.policy,
            lb.default_pools,
            lb.fallback_pool,
            lb.on_all_down,
            lb.max_answers,
            lb.pool_weights,
            lb.prefer_ecs,
            lb.location_mode,
            lb.line,
        ));
    }
    s
}

/// `old` and `new` each replace `@KNOB@` in `base`: both read to the same configuration.
fn same(base: &str, old: &str, new: &str) {
    let a = ok(&base.replace("@KNOB@", old));
    let b = ok(&base.replace("@KNOB@", new));
    assert_eq!(summary(&a), summary(&b), "{old} vs {new}");
}

fn lb_with(knob: &str) -> String {
    format!("{POOLS}\n[load_balancers.www]\ndefault_pools = [\"a\", \"b\"]\n{knob}\n")
}

#[test]
fn steering_policy_names_read_as_the_older_ones() {
    let base = lb_with("@KNOB@");
    for (old, new) in [
        ("steering = \"failover\"", "steering_policy = \"off\""),
        ("steering = \"off\"", "steering_policy = \"off\""),
        (
            "steering = \"dynamic\"",
            "steering_policy = \"dynamic_latency\"",
        ),
        ("steering = \"random\"", "steering_policy = \"random\""),
        (
            "steering = \"proximity\"",
            "steering_policy = \"proximity\"",
        ),
        // Cloudflare's "" (or nothing): off without location maps.
        ("steering = \"failover\"", "steering_policy = \"\""),
        ("steering = \"failover\"", ""),
    ] {
        same(&base, old, new);
    }
    // "" with a location map: geo.
    let geo = format!(
        "{POOLS}\n[load_balancers.www]\ndefault_pools = [\"a\"]\n@KNOB@\ncountry_pools = {{ DE = [\"b\"] }}\n"
    );
    same(&geo, "steering = \"geo\"", "steering_policy = \"\"");
    same(&geo, "steering = \"geo\"", "");
    assert_eq!(
        ok(&geo.replace("@KNOB@", "")).load_balancers[0].policy,
        Policy::Geo
    );
}

#[test]
fn random_steering_reads_as_pool_weights() {
    let base = lb_with("steering_policy = \"random\"\n@KNOB@");
    same(
        &base,
        "pool_weights = { a = 0.25 }",
        "random_steering = { pool_weights = { a = 0.25 } }",
    );
    same(
        &base,
        "pool_weights = { a = 0.25, b = 0.5 }",
        "random_steering = { pool_weights = { a = 0.25 }, default_weight = 0.5 }",
    );
    let cfg = ok(&base.replace("@KNOB@", "random_steering = { default_weight = 0.3 }"));
    assert_eq!(cfg.load_balancers[0].pool_weights, vec![0.3, 0.3]);
}

#[test]
fn origin_steering_table_reads_as_the_name() {
    let base = format!(
        "{}\n[load_balancers.www]\ndefault_pools = [\"a\"]\n",
        POOLS.replace("[pools.b]\n", "[pools.b]\n@KNOB@\n")
    );
    same(
        &base,
        "origin_steering = \"hash\"",
        "origin_steering = { policy = \"hash\" }",
    );
    same(
        &base,
        "origin_steering = \"random\"",
        "origin_steering = { policy = \"random\" }",
    );
    same(
        &base,
        "origin_steering = \"random\"",
        "origin_steering = {}",
    );
    let b = ok(&base.replace("@KNOB@", "origin_steering = { policy = \"hash\" }"));
    assert_eq!(b.pools[1].origin_steering, OriginSteering::Hash);
}

#[test]
fn monitor_seconds_and_header_arrays_read_as_the_older_forms() {
    let base = POOLS.replace("port = 9925\n", "port = 9925\n@KNOB@\n");
    same(&base, "interval = \"30s\"", "interval = 30");
    same(&base, "timeout = \"2s\"", "timeout = 2");
    same(
        &base,
        "headers = { Host = \"db.example.com\" }",
        "header = { Host = [\"db.example.com\"] }",
    );
    same(
        &base,
        "expected_codes = \"200-299\"",
        "expected_codes = \"2xx\"",
    );
    same(&base, "", "description = \"HarperDB health\"");
    same(&base, "", "probe_zone = \"example.com\"");
    // Several values: one header each, in order.
    let cfg = ok(&base.replace("@KNOB@", "header = { X-Check = [\"a\", \"b\"] }"));
    let MonitorKind::Http(h) = &cfg.monitors[0].kind else {
        panic!("an http monitor")
    };
    assert_eq!(
        h.headers,
        vec![
            ("X-Check".into(), "a".into()),
            ("X-Check".into(), "b".into())
        ]
    );
    assert_eq!(
        ok(&base.replace("@KNOB@", "interval = 30")).monitors[0].interval,
        Duration::from_secs(30)
    );
}

/// The error lines of `text`, as "line: message".
fn errors(text: &str) -> Vec<(usize, String)> {
    let (_, errors) = read(text);
    assert!(!errors.is_empty(), "accepted:\n{text}");
    errors
        .iter()
        .map(|e| (e.line.unwrap_or(0), e.message.clone()))
        .collect()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn both_forms_at_once_are_rejected_with_their_line() {
    for (first, second, policy) in [
        ("steering = \"random\"", "steering_policy = \"random\"", ""),
        (
            "pool_weights = { a = 0.5 }",
            "random_steering = { pool_weights = { a = 0.5 } }",
            "steering_policy = \"random\"",
        ),
    ] {
        let text = lb_with(&format!("{policy}\n{first}\n{second}"));
        let errs = errors(&text);
        let lines = [line_of(&text, first), line_of(&text, second)];
        assert!(
            errs.iter().any(|(l, _)| lines.contains(l)),
            "{errs:?} not at {lines:?}:\n{text}"
        );
    }
    let text = POOLS.replace(
        "port = 9925\n",
        "port = 9925\nheaders = { Host = \"a\" }\nheader = { Host = [\"a\"] }\n",
    );
    let errs = errors(&text);
    let lines = [line_of(&text, "headers ="), line_of(&text, "header =")];
    assert!(
        errs.iter()
            .any(|(l, m)| lines.contains(l) && m.contains("duplicate")),
        "{errs:?}"
    );
}

#[test]
fn bad_values_of_the_new_knobs_are_rejected_with_their_line() {
    for (knob, reason) in [
        ("steering_policy = \"fastest\"", "is not one of off, geo"),
        (
            "location_strategy = { prefer_ecs = \"sometimes\" }",
            "prefer_ecs \"sometimes\"",
        ),
        (
            "location_strategy = { mode = \"anycast\" }",
            "mode \"anycast\"",
        ),
        ("random_steering = { default_weight = 2.0 }", "out of range"),
        ("enabled = \"yes\"", "invalid type"),
    ] {
        let text = lb_with(knob);
        let errs = errors(&text);
        let line = line_of(&text, knob.split(' ').next().unwrap());
        assert!(
            errs.iter().any(|(l, m)| *l == line && m.contains(reason)),
            "{knob}: {errs:?}"
        );
    }
    let text = POOLS.replace("port = 9925\n", "port = 9925\ninterval = 0\n");
    assert!(
        errors(&text)
            .iter()
            .any(|(l, m)| *l == line_of(&text, "interval") && m.contains("out of range"))
    );
    let text = POOLS.replace(
        "[pools.b]\n",
        "[pools.b]\norigin_steering = { policy = \"fastest\" }\n",
    );
    assert!(
        errors(&text)
            .iter()
            .any(|(l, m)| *l == line_of(&text, "fastest") && m.contains("not one of random, hash"))
    );
    let text = POOLS.replace(
        "{ address = \"127.0.15.1\" }",
        "{ address = \"127.0.15.1\", header = { X-Other = [\"a\"] } }",
    );
    assert!(
        errors(&text)
            .iter()
            .any(|(l, m)| *l == line_of(&text, "X-Other") && m.contains("only Host"))
    );
}

#[test]
fn location_strategy_decides_whether_ecs_stands_for_the_client() {
    for (policy, prefer, uses) in [
        ("geo", "always", true),
        ("geo", "never", false),
        ("geo", "proximity", false),
        ("geo", "geo", true),
        ("proximity", "proximity", true),
        ("proximity", "geo", false),
        ("proximity", "never", false),
        ("random", "always", true),
        ("random", "proximity", false),
    ] {
        let maps = if policy == "geo" {
            "country_pools = { DE = [\"b\"] }"
        } else {
            ""
        };
        let cfg = ok(&lb_with(&format!(
            "steering_policy = \"{policy}\"\nlocation_strategy = {{ prefer_ecs = \"{prefer}\", mode = \"resolver_ip\" }}\n{maps}"
        )));
        let lb = &cfg.load_balancers[0];
        assert_eq!(lb.uses_ecs(), uses, "{policy} {prefer}");
        assert_eq!(lb.location_mode, LocationMode::ResolverIp);
    }
    // Without location_strategy, geosteer uses ECS (its older behaviour).
    let cfg = ok(&lb_with(
        "steering_policy = \"geo\"\ncountry_pools = { DE = [\"b\"] }",
    ));
    assert!(cfg.load_balancers[0].uses_ecs());
    assert_eq!(cfg.load_balancers[0].prefer_ecs, PreferEcs::Always);
    assert_eq!(DEFAULT_PREFER_ECS, "always");
    assert_eq!(DEFAULT_LOCATION_MODE, "pop");
}

#[test]
fn a_disabled_load_balancer_is_checked_then_left_out() {
    let cfg = ok(&lb_with("enabled = false\ndescription = \"retired\""));
    assert!(cfg.load_balancers.is_empty());
    assert_eq!(ok(&lb_with("enabled = true")).load_balancers.len(), 1);
    // Still checked.
    let text = lb_with("enabled = false\nfallback_pool = \"nope\"");
    assert!(
        errors(&text)
            .iter()
            .any(|(_, m)| m.contains("unknown fallback pool"))
    );
}

#[test]
fn an_origin_host_header_is_kept_for_its_probes() {
    let cfg = ok(&POOLS.replace(
        "{ address = \"127.0.15.1\" }",
        "{ address = \"127.0.15.1\", header = { Host = [\"db1.example.com\"] } }",
    ));
    assert_eq!(
        cfg.origins[0].host_header.as_deref(),
        Some("db1.example.com")
    );
    assert_eq!(cfg.origins[1].host_header, None);
}

#[test]
fn shared_pools_and_monitors_are_named_from_every_zone() {
    let mut cfg = SteeringConfig::default();
    let mut errs = Vec::new();
    let shared = read_shared(
        Path::new("_pools.toml"),
        POOLS,
        &mut cfg,
        &|_| None,
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    let zone_text = "[pools.c]\nmonitor = \"m\"\norigins = [ { address = \"127.0.15.9\" } ]\n\n\
                     [load_balancers.www]\ndefault_pools = [\"a\", \"c\"]\n";
    for z in ["example.com.", "example.net."] {
        read_str_with(
            Path::new("z.toml"),
            zone_text,
            &Name::from_str(z).unwrap(),
            &shared,
            &mut cfg,
            &|_| None,
            &mut errs,
        );
    }
    assert!(errs.is_empty(), "{errs:?}");
    // One pool a, one monitor m: both zones' load balancers name the same ids.
    assert_eq!(cfg.pools.iter().filter(|p| p.name == "a").count(), 1);
    assert_eq!(cfg.monitors.len(), 1);
    assert_eq!(cfg.pools[0].zone, Name::root());
    let a = cfg.pools.iter().position(|p| p.name == "a").unwrap() as PoolId;
    assert_eq!(cfg.load_balancers.len(), 2);
    for lb in &cfg.load_balancers {
        assert_eq!(lb.default_pools[0], a);
    }
    assert_ne!(
        cfg.load_balancers[0].default_pools[1], cfg.load_balancers[1].default_pools[1],
        "each zone's own pool c"
    );

    // A zone's own pool may not take a shared name; load balancers stay in zone files.
    let mut errs = Vec::new();
    let text = "[pools.a]\norigins = [ { address = \"127.0.15.8\" } ]\n";
    read_str_with(
        Path::new("z.toml"),
        text,
        &zone(),
        &shared,
        &mut cfg,
        &|_| None,
        &mut errs,
    );
    assert!(
        errs.iter()
            .any(|e| e.line == Some(1) && e.message.contains("already defined in _pools.toml")),
        "{errs:?}"
    );
    let mut errs = Vec::new();
    let text = "[load_balancers.www]\ndefault_pools = [\"a\"]\n";
    read_shared(
        Path::new("_pools.toml"),
        text,
        &mut SteeringConfig::default(),
        &|_| None,
        &mut errs,
    );
    assert!(
        errs.iter()
            .any(|e| e.line == Some(1) && e.message.contains("belong in a zone's own file")),
        "{errs:?}"
    );
}

#[test]
fn an_origin_by_host_name_is_answered_with_its_addresses() {
    // localhost resolves through /etc/hosts: loopback, no query leaves the machine.
    let cfg = ok(&POOLS.replace(
        "{ address = \"127.0.15.1\" }",
        "{ address = \"localhost\" }",
    ));
    let o = &cfg.origins[0];
    assert_eq!(o.host.as_deref(), Some("localhost"));
    assert!(o.v4.is_some_and(|a| a.is_loopback()) || o.v6.is_some_and(|a| a.is_loopback()));
    // Probed with its name as Host, unless it gives one.
    assert_eq!(o.host_header.as_deref(), Some("localhost"));
    let cfg = ok(&POOLS.replace(
        "{ address = \"127.0.15.1\" }",
        "{ address = \"localhost\", header = { Host = [\"db\"] } }",
    ));
    assert_eq!(cfg.origins[0].host_header.as_deref(), Some("db"));
    // Not written as a host name: never looked up.
    for bad in ["127.0.1.300", "not an address", "-x.example", "a..b"] {
        assert!(!is_host_name(bad), "{bad}");
        let text = POOLS.replace("127.0.15.1", bad);
        assert!(
            errors(&text)
                .iter()
                .any(|(l, m)| *l == line_of(&text, bad) && m.contains("not an IP address")),
            "{bad}"
        );
    }
    assert!(is_host_name("db-1.example.com"));
    assert!(is_host_name("localhost"));
    // A host name with address_v6 is refused: the resolver gives its IPv6 address.
    let text = POOLS.replace(
        "{ address = \"127.0.15.1\" }",
        "{ address = \"localhost\", address_v6 = \"::1\" }",
    );
    assert!(
        errors(&text)
            .iter()
            .any(|(_, m)| m.contains("host name's IPv6 address"))
    );
}
