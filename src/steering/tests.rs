//! Policy tests: no sockets, no database. Locations are built by hand; health views too.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use hickory_proto::rr::Name;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::config::{self, LoadBalancer, OriginId, PoolId, SteeringConfig};
use crate::geo::Location;

const BASE: &str = r#"
[pools.us]
latitude = 38.9
longitude = -77.4
origins = [
  { address = "198.51.100.1", address_v6 = "2001:db8:1::1" },
  { address = "198.51.100.2", address_v6 = "2001:db8:1::2" },
]
[pools.eu]
latitude = 50.1
longitude = 8.7
origins = [
  { address = "198.51.100.11", address_v6 = "2001:db8:2::1" },
  { address = "198.51.100.12", address_v6 = "2001:db8:2::2" },
]
[pools.ap]
latitude = -33.9
longitude = 151.2
origins = [ { address = "198.51.100.21" } ]

[load_balancers.geo]
steering = "geo"
default_pools = ["us", "eu", "ap"]
fallback_pool = "us"
continent_pools = { EU = ["eu", "us"], NA = ["us", "eu"], OC = ["ap", "us"] }
region_pools = { WNAM = ["ap"] }
country_pools = { CA = ["eu"] }
subdivision_pools = { "CA-BC" = ["us"] }

[load_balancers.failover]
steering = "failover"
default_pools = ["us", "eu", "ap"]
fallback_pool = "ap"

[load_balancers.near]
steering = "proximity"
default_pools = ["us", "eu", "ap"]

[load_balancers.fast]
steering = "dynamic"
default_pools = ["us", "eu", "ap"]
"#;

fn parse(extra: &str) -> SteeringConfig {
    let zone = Name::from_str("example.com.").unwrap();
    let mut cfg = SteeringConfig::default();
    let mut errors = Vec::new();
    let text = format!("{BASE}\n{extra}");
    config::read_str(
        Path::new("test.toml"),
        &text,
        &zone,
        &mut cfg,
        &|_| None,
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    cfg
}

fn lb<'a>(cfg: &'a SteeringConfig, name: &str) -> &'a LoadBalancer {
    let n = Name::from_str(&format!("{name}.example.com.")).unwrap();
    cfg.load_balancers.iter().find(|l| l.name == n).unwrap()
}

fn pool(cfg: &SteeringConfig, name: &str) -> PoolId {
    cfg.pools.iter().position(|p| p.name == name).unwrap() as PoolId
}

fn origins_of(cfg: &SteeringConfig, name: &str) -> Vec<OriginId> {
    cfg.pools[pool(cfg, name) as usize]
        .origins
        .clone()
        .collect()
}

fn loc(continent: &str, country: &str, subdivision: Option<&str>, region: &str) -> Location {
    let l = Location::new(Some(continent), Some(country), subdivision, None, None);
    // The region is derived from the built-in table; the tests name the one they expect.
    assert_eq!(l.region(), Some(region), "{country} {subdivision:?}");
    l
}

fn at(lat: f64, lon: f64) -> Location {
    Location::new(None, None, None, Some(lat), Some(lon))
}

const CLIENT: Client = Client::at(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));

fn decide_for(
    cfg: &SteeringConfig,
    lb_name: &str,
    location: Option<&Location>,
    health: &HealthView,
    family: Family,
) -> Decision {
    let lb = lb(cfg, lb_name);
    let (cands, _) = candidates(cfg, lb, location);
    decide(
        cfg,
        lb,
        &cands,
        health,
        CLIENT,
        family,
        &mut StdRng::seed_from_u64(1),
    )
}

fn chosen(d: &Decision) -> Option<PoolId> {
    d.pool
}

fn down(cfg: &SteeringConfig, health: &mut HealthView, pool_name: &str) {
    for o in origins_of(cfg, pool_name) {
        health.origins[o as usize].up = false;
    }
}

// ---------------------------------------------------------------------------------------
// Candidate lists (location → ordered pools).

#[test]
fn geo_most_specific_entry_comes_first() {
    let cfg = parse("");
    let geo = lb(&cfg, "geo");
    let (us, eu, ap) = (pool(&cfg, "us"), pool(&cfg, "eu"), pool(&cfg, "ap"));
    // Subdivision beats country beats region beats continent.
    let bc = loc("NA", "CA", Some("CA-BC"), "WNAM");
    let (list, rule) = candidates(&cfg, geo, Some(&bc));
    assert_eq!(rule, Rule::Geo("subdivision", "CA-BC".into()));
    assert_eq!(list, vec![us, eu, ap]);
    let quebec = loc("NA", "CA", Some("CA-QC"), "ENAM");
    let (list, rule) = candidates(&cfg, geo, Some(&quebec));
    assert_eq!(rule, Rule::Geo("country", "CA".into()));
    assert_eq!(list, vec![eu, us, ap]);
    let california = loc("NA", "US", Some("US-CA"), "WNAM");
    let (list, rule) = candidates(&cfg, geo, Some(&california));
    assert_eq!(rule, Rule::Geo("region", "WNAM".into()));
    assert_eq!(list, vec![ap, us, eu]);
    let virginia = loc("NA", "US", Some("US-VA"), "ENAM");
    let (list, rule) = candidates(&cfg, geo, Some(&virginia));
    assert_eq!(rule, Rule::Geo("continent", "NA".into()));
    assert_eq!(list, vec![us, eu, ap]);
    let germany = loc("EU", "DE", None, "WEU");
    assert_eq!(candidates(&cfg, geo, Some(&germany)).0, vec![eu, us, ap]);
    // Nothing matches: default_pools.
    let antarctica = loc("AN", "AQ", None, "OC");
    assert_eq!(
        candidates(&cfg, geo, Some(&antarctica)),
        (vec![us, eu, ap], Rule::DefaultPools)
    );
    assert_eq!(
        candidates(&cfg, geo, None),
        (vec![us, eu, ap], Rule::UnknownLocation)
    );
}

#[test]
fn geo_fails_over_along_the_list_then_to_less_specific_entries() {
    let cfg = parse("");
    let (us, eu, ap) = (pool(&cfg, "us"), pool(&cfg, "eu"), pool(&cfg, "ap"));
    let germany = loc("EU", "DE", None, "WEU");
    let mut h = HealthView::all_up(&cfg);
    assert_eq!(
        chosen(&decide_for(&cfg, "geo", Some(&germany), &h, Family::V4)),
        Some(eu)
    );
    down(&cfg, &mut h, "eu");
    assert_eq!(
        chosen(&decide_for(&cfg, "geo", Some(&germany), &h, Family::V4)),
        Some(us)
    );
    down(&cfg, &mut h, "us");
    assert_eq!(
        chosen(&decide_for(&cfg, "geo", Some(&germany), &h, Family::V4)),
        Some(ap)
    );
    // BC's own entry lists only us; when it is down, the country entry (eu) is next.
    let bc = loc("NA", "CA", Some("CA-BC"), "WNAM");
    let mut h = HealthView::all_up(&cfg);
    down(&cfg, &mut h, "us");
    assert_eq!(
        chosen(&decide_for(&cfg, "geo", Some(&bc), &h, Family::V4)),
        Some(eu)
    );
}

#[test]
fn failover_takes_the_first_healthy_pool() {
    let cfg = parse("");
    let (us, eu) = (pool(&cfg, "us"), pool(&cfg, "eu"));
    let mut h = HealthView::all_up(&cfg);
    let d = decide_for(&cfg, "failover", None, &h, Family::V4);
    assert_eq!((d.pool, d.outcome), (Some(us), Outcome::Steered));
    // No location chose it: scope 0 whatever the map would say.
    assert_eq!(ecs_scope(lb(&cfg, "failover"), &d, 16), 0);
    down(&cfg, &mut h, "us");
    assert_eq!(
        decide_for(&cfg, "failover", None, &h, Family::V4).pool,
        Some(eu)
    );
}

#[test]
fn proximity_picks_the_nearest_pool() {
    let cfg = parse("");
    let near = lb(&cfg, "near");
    let (us, eu, ap) = (pool(&cfg, "us"), pool(&cfg, "eu"), pool(&cfg, "ap"));
    let paris = at(48.9, 2.35);
    let tokyo = at(35.7, 139.7);
    let chicago = at(41.9, -87.6);
    assert_eq!(
        candidates(&cfg, near, Some(&paris)),
        (vec![eu, us, ap], Rule::Nearest)
    );
    // Tokyo: Sydney 7,800 km, Frankfurt 9,300 km, Virginia 10,900 km.
    assert_eq!(candidates(&cfg, near, Some(&tokyo)).0, vec![ap, eu, us]);
    assert_eq!(candidates(&cfg, near, Some(&chicago)).0, vec![us, eu, ap]);
    // No coordinates: default_pools order.
    let nowhere = loc("EU", "DE", None, "WEU");
    assert_eq!(
        candidates(&cfg, near, Some(&nowhere)),
        (vec![us, eu, ap], Rule::UnknownLocation)
    );
    let mut h = HealthView::all_up(&cfg);
    assert_eq!(
        decide_for(&cfg, "near", Some(&paris), &h, Family::V4).pool,
        Some(eu)
    );
    down(&cfg, &mut h, "eu");
    assert_eq!(
        decide_for(&cfg, "near", Some(&paris), &h, Family::V4).pool,
        Some(us)
    );
}

#[test]
fn great_circle_distances_are_right() {
    // Frankfurt – New York ≈ 6,200 km; Sydney – Tokyo ≈ 7,800 km.
    let d = great_circle_km((50.1, 8.7), (40.7, -74.0));
    assert!((6150.0..6250.0).contains(&d), "{d}");
    let d = great_circle_km((-33.9, 151.2), (35.7, 139.7));
    assert!((7750.0..7850.0).contains(&d), "{d}");
    assert!(great_circle_km((10.0, 179.9), (10.0, -179.9)) < 25.0);
}

#[test]
fn dynamic_ranks_by_rtt_and_falls_back_to_failover_order() {
    let cfg = parse("");
    let (us, eu, ap) = (pool(&cfg, "us"), pool(&cfg, "eu"), pool(&cfg, "ap"));
    let mut h = HealthView::all_up(&cfg);
    assert_eq!(
        decide_for(&cfg, "fast", None, &h, Family::V4).pool,
        Some(us)
    );
    let set = |h: &mut HealthView, name: &str, ms: f64| {
        for o in origins_of(&cfg, name) {
            h.origins[o as usize].rtt_ms = Some(ms);
        }
    };
    set(&mut h, "us", 80.0);
    set(&mut h, "eu", 20.0);
    set(&mut h, "ap", 150.0);
    assert_eq!(
        decide_for(&cfg, "fast", None, &h, Family::V4).pool,
        Some(eu)
    );
    set(&mut h, "us", 10.0);
    assert_eq!(
        decide_for(&cfg, "fast", None, &h, Family::V4).pool,
        Some(us)
    );
    // A down pool is not ranked, however fast it was.
    down(&cfg, &mut h, "us");
    assert_eq!(
        decide_for(&cfg, "fast", None, &h, Family::V4).pool,
        Some(eu)
    );
    // A pool without RTT data ranks after pools with it.
    let mut h = HealthView::all_up(&cfg);
    set(&mut h, "ap", 150.0);
    assert_eq!(
        decide_for(&cfg, "fast", None, &h, Family::V4).pool,
        Some(ap)
    );
}

// ---------------------------------------------------------------------------------------
// Health, drains, minimum_origins, all down.

#[test]
fn disabled_and_drained_origins_and_pools_are_never_answered() {
    let cfg = parse(
        r#"
[pools.mixed]
origins = [
  { address = "203.0.113.1" },
  { address = "203.0.113.2", enabled = false },
  { address = "203.0.113.3" },
]
[pools.off]
enabled = false
origins = [ { address = "203.0.113.9" } ]
[load_balancers.m]
steering = "failover"
default_pools = ["off", "mixed"]
fallback_pool = "mixed"
"#,
    );
    let mixed = origins_of(&cfg, "mixed");
    let mut h = HealthView::all_up(&cfg);
    for seed in 0..200 {
        let lb = lb(&cfg, "m");
        let d = decide(
            &cfg,
            lb,
            &lb.default_pools,
            &h,
            CLIENT,
            Family::V4,
            &mut StdRng::seed_from_u64(seed),
        );
        assert_eq!(d.pool, Some(pool(&cfg, "mixed")));
        assert_eq!(d.origins.len(), 2);
        assert!(!d.origins.contains(&mixed[1]));
    }
    // A drained origin is out at once; a drained pool too.
    h.origins[mixed[0] as usize].drained = true;
    let d = decide_for(&cfg, "m", None, &h, Family::V4);
    assert_eq!(d.origins.as_slice(), &[mixed[2]]);
    h.pools[pool(&cfg, "mixed") as usize].drained = true;
    // Everything is down or drained now; the fallback pool is drained too: no data.
    let d = decide_for(&cfg, "m", None, &h, Family::V4);
    assert_eq!(d.outcome, Outcome::NoData);
}

#[test]
fn a_pool_below_minimum_origins_is_down() {
    let cfg = parse(
        r#"
[pools.three]
minimum_origins = 2
origins = [ { address = "203.0.113.1" }, { address = "203.0.113.2" }, { address = "203.0.113.3" } ]
[load_balancers.min]
steering = "failover"
default_pools = ["three", "eu"]
fallback_pool = "eu"
"#,
    );
    let three = origins_of(&cfg, "three");
    let mut h = HealthView::all_up(&cfg);
    h.origins[three[0] as usize].up = false;
    let d = decide_for(&cfg, "min", None, &h, Family::V4);
    assert_eq!(d.pool, Some(pool(&cfg, "three")));
    assert_eq!(d.origins.len(), 2);
    h.origins[three[1] as usize].up = false;
    assert_eq!(
        decide_for(&cfg, "min", None, &h, Family::V4).pool,
        Some(pool(&cfg, "eu"))
    );
}

fn all_down_config(mode: &str) -> SteeringConfig {
    parse(&format!(
        r#"
[load_balancers.ad]
steering = "geo"
default_pools = ["us", "eu"]
fallback_pool = "ap"
continent_pools = {{ EU = ["eu", "us"] }}
on_all_down = "{mode}"
"#
    ))
}

#[test]
fn all_down_fallback_answers_the_fallback_pool_whatever_its_health() {
    let cfg = all_down_config("fallback");
    let mut h = HealthView::all_up(&cfg);
    for p in ["us", "eu", "ap"] {
        down(&cfg, &mut h, p);
    }
    let d = decide_for(
        &cfg,
        "ad",
        Some(&loc("EU", "DE", None, "WEU")),
        &h,
        Family::V4,
    );
    assert_eq!(
        (d.pool, d.outcome),
        (Some(pool(&cfg, "ap")), Outcome::Fallback)
    );
    assert_eq!(d.origins.as_slice(), origins_of(&cfg, "ap").as_slice());
    // The candidate list (and so the fact that all of it is down) came from the location:
    // the fallback answer carries the list's scope.
    assert_eq!(ecs_scope(lb(&cfg, "ad"), &d, 7), 7);
    // The fallback pool has no IPv6: NODATA for AAAA.
    let d = decide_for(&cfg, "ad", None, &h, Family::V6);
    assert_eq!(d.outcome, Outcome::NoData);
}

#[test]
fn all_down_all_steers_as_if_everything_were_up() {
    let cfg = all_down_config("all");
    let mut h = HealthView::all_up(&cfg);
    for p in ["us", "eu", "ap"] {
        down(&cfg, &mut h, p);
    }
    let d = decide_for(
        &cfg,
        "ad",
        Some(&loc("EU", "DE", None, "WEU")),
        &h,
        Family::V4,
    );
    assert_eq!(
        (d.pool, d.outcome),
        (Some(pool(&cfg, "eu")), Outcome::AllDownIgnoringHealth)
    );
    assert_eq!(d.origins.len(), 2);
}

#[test]
fn all_down_nodata_answers_nothing() {
    let cfg = all_down_config("nodata");
    let mut h = HealthView::all_up(&cfg);
    for p in ["us", "eu"] {
        down(&cfg, &mut h, p);
    }
    let d = decide_for(&cfg, "ad", None, &h, Family::V4);
    assert_eq!((d.pool, d.outcome), (None, Outcome::NoData));
    assert!(d.origins.is_empty());
}

#[test]
fn fallback_pool_disabled_gives_nodata() {
    let cfg = parse(
        r#"
[pools.spare]
enabled = false
origins = [ { address = "203.0.113.50" } ]
[load_balancers.fb]
steering = "failover"
default_pools = ["us"]
fallback_pool = "spare"
"#,
    );
    let mut h = HealthView::all_up(&cfg);
    down(&cfg, &mut h, "us");
    assert_eq!(
        decide_for(&cfg, "fb", None, &h, Family::V4).outcome,
        Outcome::NoData
    );
}

// ---------------------------------------------------------------------------------------
// Address families.

#[test]
fn a_pool_without_the_family_is_passed_over_and_none_means_nodata() {
    let cfg = parse(
        r#"
[load_balancers.v6]
steering = "failover"
default_pools = ["ap", "eu"]
fallback_pool = "ap"
[load_balancers.v4only]
steering = "failover"
default_pools = ["ap"]
fallback_pool = "ap"
"#,
    );
    let h = HealthView::all_up(&cfg);
    assert_eq!(
        decide_for(&cfg, "v6", None, &h, Family::V4).pool,
        Some(pool(&cfg, "ap"))
    );
    let d = decide_for(&cfg, "v6", None, &h, Family::V6);
    assert_eq!(d.pool, Some(pool(&cfg, "eu")));
    // The pool is up, it just has no IPv6: NODATA, not the all-down rule.
    let d = decide_for(&cfg, "v4only", None, &h, Family::V6);
    assert_eq!(d.outcome, Outcome::NoData);
}

#[test]
fn a_and_aaaa_come_from_the_same_pool() {
    let cfg = parse("");
    let mut h = HealthView::all_up(&cfg);
    let de = loc("EU", "DE", None, "WEU");
    for scenario in 0..3 {
        if scenario == 1 {
            down(&cfg, &mut h, "eu");
        }
        if scenario == 2 {
            down(&cfg, &mut h, "us");
        }
        let a = decide_for(&cfg, "geo", Some(&de), &h, Family::V4);
        let aaaa = decide_for(&cfg, "geo", Some(&de), &h, Family::V6);
        if scenario < 2 {
            assert_eq!(a.pool, aaaa.pool, "scenario {scenario}");
        } else {
            // Only ap is left, and it has no IPv6.
            assert_eq!(a.pool, Some(pool(&cfg, "ap")));
            assert_eq!(aaaa.outcome, Outcome::NoData);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Origins within a pool.

#[test]
fn max_answers_limits_the_answer() {
    let cfg = parse(
        r#"
[pools.big]
origins = [
  { address = "203.0.113.1" }, { address = "203.0.113.2" }, { address = "203.0.113.3" },
  { address = "203.0.113.4" }, { address = "203.0.113.5" }, { address = "203.0.113.6" },
  { address = "203.0.113.7" }, { address = "203.0.113.8" }, { address = "203.0.113.9" },
  { address = "203.0.113.10" },
]
[load_balancers.two]
steering = "failover"
default_pools = ["big"]
max_answers = 2
[load_balancers.default]
steering = "failover"
default_pools = ["big"]
"#,
    );
    let h = HealthView::all_up(&cfg);
    assert_eq!(
        decide_for(&cfg, "two", None, &h, Family::V4).origins.len(),
        2
    );
    // Default: all healthy origins, at most 8.
    assert_eq!(
        decide_for(&cfg, "default", None, &h, Family::V4)
            .origins
            .len(),
        8
    );
}

fn share(counts: &HashMap<PoolId, usize>, p: PoolId, n: usize) -> f64 {
    *counts.get(&p).unwrap_or(&0) as f64 / n as f64
}

#[test]
fn weighted_random_pools_follow_the_weights() {
    let cfg = parse(
        r#"
[load_balancers.rnd]
steering = "random"
default_pools = ["us", "eu", "ap"]
pool_weights = { us = 0.5, eu = 0.3, ap = 0.2 }
"#,
    );
    let lb = lb(&cfg, "rnd");
    let h = HealthView::all_up(&cfg);
    let mut rng = StdRng::seed_from_u64(7);
    let n = 100_000;
    let mut counts: HashMap<PoolId, usize> = HashMap::new();
    for _ in 0..n {
        let d = decide(
            &cfg,
            lb,
            &lb.default_pools,
            &h,
            CLIENT,
            Family::V4,
            &mut rng,
        );
        *counts.entry(d.pool.unwrap()).or_default() += 1;
    }
    for (name, w) in [("us", 0.5), ("eu", 0.3), ("ap", 0.2)] {
        let s = share(&counts, pool(&cfg, name), n);
        assert!((s - w).abs() < 0.02 * w.max(0.1), "{name}: {s} vs {w}");
    }
    // A down pool's share goes to the others, still by weight (0.5 : 0.2).
    let mut h = HealthView::all_up(&cfg);
    down(&cfg, &mut h, "eu");
    let mut counts: HashMap<PoolId, usize> = HashMap::new();
    for _ in 0..n {
        let d = decide(
            &cfg,
            lb,
            &lb.default_pools,
            &h,
            CLIENT,
            Family::V4,
            &mut rng,
        );
        *counts.entry(d.pool.unwrap()).or_default() += 1;
    }
    let s = share(&counts, pool(&cfg, "us"), n);
    assert!((s - 5.0 / 7.0).abs() < 0.02, "{s}");
    assert_eq!(counts.get(&pool(&cfg, "eu")), None);
}

#[test]
fn weighted_random_origins_follow_the_weights() {
    let cfg = parse(
        r#"
[pools.w]
origins = [
  { address = "203.0.113.1", weight = 1.0 },
  { address = "203.0.113.2", weight = 0.5 },
  { address = "203.0.113.3", weight = 0.25 },
  { address = "203.0.113.4", weight = 0.0 },
]
[load_balancers.one]
steering = "failover"
default_pools = ["w"]
max_answers = 1
"#,
    );
    let lb = lb(&cfg, "one");
    let ids = origins_of(&cfg, "w");
    let h = HealthView::all_up(&cfg);
    let mut rng = StdRng::seed_from_u64(11);
    let n = 100_000;
    let mut counts: HashMap<OriginId, usize> = HashMap::new();
    for _ in 0..n {
        let d = decide(
            &cfg,
            lb,
            &lb.default_pools,
            &h,
            CLIENT,
            Family::V4,
            &mut rng,
        );
        *counts.entry(d.origins[0]).or_default() += 1;
    }
    let total = 1.75;
    for (i, w) in [(0, 1.0), (1, 0.5), (2, 0.25)] {
        let s = *counts.get(&ids[i]).unwrap_or(&0) as f64 / n as f64;
        let want = w / total;
        assert!(
            (s - want).abs() < 0.02 * want.max(0.1),
            "origin {i}: {s} vs {want}"
        );
    }
    // Weight 0: never, while others are usable.
    assert_eq!(counts.get(&ids[3]), None);
}

#[test]
fn zero_weight_origins_serve_when_nothing_else_can() {
    let cfg = parse(
        r#"
[pools.z]
origins = [ { address = "203.0.113.1" }, { address = "203.0.113.2", weight = 0.0 } ]
[load_balancers.z]
steering = "failover"
default_pools = ["z"]
"#,
    );
    let ids = origins_of(&cfg, "z");
    let mut h = HealthView::all_up(&cfg);
    assert_eq!(
        decide_for(&cfg, "z", None, &h, Family::V4)
            .origins
            .as_slice(),
        &[ids[0]]
    );
    h.origins[ids[0] as usize].up = false;
    assert_eq!(
        decide_for(&cfg, "z", None, &h, Family::V4)
            .origins
            .as_slice(),
        &[ids[1]]
    );
}

fn hash_config(n: usize) -> SteeringConfig {
    let origins: Vec<String> = (1..=n)
        .map(|i| format!("{{ address = \"203.0.113.{i}\" }}"))
        .collect();
    parse(&format!(
        r#"
[pools.h]
origin_steering = "hash"
origins = [ {} ]
[load_balancers.h]
steering = "failover"
default_pools = ["h"]
max_answers = 1
"#,
        origins.join(", ")
    ))
}

fn hashed_origin(cfg: &SteeringConfig, h: &HealthView, addr: IpAddr) -> OriginId {
    let lb = lb(cfg, "h");
    let d = decide(
        cfg,
        lb,
        &lb.default_pools,
        h,
        Client::at(addr),
        Family::V4,
        // The random source must not matter for hash steering.
        &mut StdRng::seed_from_u64(addr.to_string().len() as u64),
    );
    d.origins[0]
}

fn subnet(i: u32) -> IpAddr {
    // 10,000 distinct /24s spread over the IPv4 space, host part varying too.
    IpAddr::V4(Ipv4Addr::from(
        i.wrapping_mul(0x9E37_79B1) & 0xffff_ff00 | (i % 251),
    ))
}

#[test]
fn hash_is_stable_per_client_network() {
    let cfg = hash_config(5);
    let h = HealthView::all_up(&cfg);
    for i in 0..2000 {
        let a = subnet(i);
        let first = hashed_origin(&cfg, &h, a);
        // Same /24, other host: same origin.
        let IpAddr::V4(v4) = a else { unreachable!() };
        let other = IpAddr::V4(Ipv4Addr::from(u32::from(v4) ^ 0x7f));
        assert_eq!(hashed_origin(&cfg, &h, other), first);
    }
    let lb = lb(&cfg, "h");
    let d = decide(
        &cfg,
        lb,
        &lb.default_pools,
        &h,
        CLIENT,
        Family::V4,
        &mut rand::rng(),
    );
    assert_eq!(d.hash_prefix, 24);
    assert_eq!(ecs_scope(lb, &d, 0), 24);
    let v6 = Client::at(IpAddr::V6(
        Ipv6Addr::from_str("2001:db8:aaaa:bb00::1").unwrap(),
    ));
    assert_eq!(client_network(v6.addr).1, 56);
}

#[test]
fn hash_moves_at_most_one_nth_of_clients_when_one_of_n_origins_fails() {
    for n in [2usize, 3, 5, 8] {
        let cfg = hash_config(n);
        let ids = origins_of(&cfg, "h");
        let all = HealthView::all_up(&cfg);
        let mut one_down = all.clone();
        let failed = ids[n / 2];
        one_down.origins[failed as usize].up = false;
        let clients = 10_000;
        let mut moved = 0;
        let mut per_origin: HashMap<OriginId, usize> = HashMap::new();
        for i in 0..clients {
            let a = subnet(i);
            let before = hashed_origin(&cfg, &all, a);
            let after = hashed_origin(&cfg, &one_down, a);
            *per_origin.entry(before).or_default() += 1;
            if before != after {
                moved += 1;
                // Only clients of the failed origin move.
                assert_eq!(before, failed);
            }
        }
        // Those are the failed origin's own clients: about 1/n, and never more than its
        // share (allowing for sampling noise of a few percent).
        let share = moved as f64 / clients as f64;
        assert!(
            share <= 1.0 / n as f64 * 1.1,
            "n={n}: {moved} of {clients} moved"
        );
        // The load spreads evenly over the origins to begin with.
        for &o in &ids {
            let s = *per_origin.get(&o).unwrap_or(&0) as f64 / clients as f64;
            assert!((s - 1.0 / n as f64).abs() < 0.03, "n={n}: origin share {s}");
        }
    }
}

#[test]
fn proximity_order_is_the_order_of_candidates() {
    use rand::{RngExt, SeedableRng};
    let mut rng = StdRng::seed_from_u64(0x0c0f_fee5);
    let coord = |rng: &mut StdRng| {
        (
            rng.random::<f64>() * 180.0 - 90.0,
            rng.random::<f64>() * 360.0 - 180.0,
        )
    };
    let mut fallbacks = 0;
    for round in 0..2000 {
        let n = 1 + round % 10;
        let mut pools: Vec<(f64, f64)> = (0..n).map(|_| coord(&mut rng)).collect();
        // Ties and near-ties: a pool twice, one a hair away, one at the client's antipode.
        if round % 5 == 0 && n > 1 {
            pools[n - 1] = pools[0];
        }
        if round % 7 == 0 && n > 2 {
            pools[n - 2] = (pools[0].0, pools[0].1 + 1e-12);
        }
        let client = if round % 11 == 0 {
            (-pools[0].0, pools[0].1 - 180.0f64.copysign(pools[0].1))
        } else if round % 13 == 0 {
            pools[0]
        } else {
            coord(&mut rng)
        };
        let order = ProximityOrder::new(&pools);
        let mut got = SmallVec::new();
        order.order(client, &mut got);
        let mut want: Vec<(f64, u16)> = pools
            .iter()
            .enumerate()
            .map(|(i, &p)| (great_circle_km(client, p), i as u16))
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<u16> = want.iter().map(|x| x.1).collect();
        assert_eq!(
            got.as_slice(),
            want.as_slice(),
            "pools {pools:?} client {client:?}"
        );
        let units: Vec<f64> = pools
            .iter()
            .map(|&p| {
                let (a, b) = (ProximityOrder::unit(p), ProximityOrder::unit(client));
                a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
            })
            .collect();
        if units.iter().any(|&d| d < -1.0 + 1e-6) || pools.len() > 1 && round % 5 == 0 {
            fallbacks += 1;
        }
    }
    // The near-ties were exercised.
    assert!(fallbacks > 300, "{fallbacks}");
}

// ---------------------------------------------------------------------------------------
// The pools answering now (status page, gauges, transition log).

/// Every pool `decide` answers from over many draws, sorted: what `answering_pools` must name.
fn drawn_pools(cfg: &SteeringConfig, lb: &LoadBalancer, h: &HealthView) -> (Vec<PoolId>, Outcome) {
    let mut rng = StdRng::seed_from_u64(3);
    let mut seen = Vec::new();
    let mut outcome = None;
    for _ in 0..2000 {
        let d = decide(cfg, lb, &lb.default_pools, h, CLIENT, Family::V4, &mut rng);
        if let Some(p) = d.pool
            && !seen.contains(&p)
        {
            seen.push(p);
        }
        assert!(outcome.is_none_or(|o| o == d.outcome), "outcome varies");
        outcome = Some(d.outcome);
    }
    seen.sort_unstable();
    (seen, outcome.unwrap())
}

#[test]
fn answering_pools_are_the_pools_decide_answers_from() {
    let cfg = parse(
        r#"
[load_balancers.rnd]
steering = "random"
default_pools = ["us", "eu", "ap"]
pool_weights = { us = 0.5, eu = 0, ap = 0.2 }
[load_balancers.rnd-all]
steering = "random"
default_pools = ["us", "eu"]
on_all_down = "all"
[load_balancers.rnd-nodata]
steering = "random"
default_pools = ["us", "eu"]
on_all_down = "nodata"
"#,
    );
    // Health cases: all up; us down; us and eu down; everything down.
    let cases: [&[&str]; 4] = [&[], &["us"], &["us", "eu"], &["us", "eu", "ap"]];
    for downs in cases {
        let mut h = HealthView::all_up(&cfg);
        for p in downs {
            down(&cfg, &mut h, p);
        }
        for lb in &cfg.load_balancers {
            let (mut got, outcome) = answering_pools(&cfg, lb, &lb.default_pools, &h, Family::V4);
            got.sort_unstable();
            let want = drawn_pools(&cfg, lb, &h);
            assert_eq!(
                (got.to_vec(), outcome),
                want,
                "{} with {downs:?} down",
                lb.name
            );
        }
    }
    // The weights decide which pools a random draw can give: eu (weight 0) never.
    let h = HealthView::all_up(&cfg);
    let rnd = lb(&cfg, "rnd");
    let (got, _) = answering_pools(&cfg, rnd, &rnd.default_pools, &h, Family::V4);
    assert_eq!(got.as_slice(), &[pool(&cfg, "us"), pool(&cfg, "ap")]);
}

#[test]
fn answering_pools_follow_the_candidate_list() {
    let cfg = parse("");
    let geo = lb(&cfg, "geo");
    let mut h = HealthView::all_up(&cfg);
    let (eu_list, _) = candidates(&cfg, geo, Some(&loc("EU", "DE", None, "WEU")));
    let (got, o) = answering_pools(&cfg, geo, &eu_list, &h, Family::V4);
    assert_eq!(
        (got.as_slice(), o),
        (&[pool(&cfg, "eu")][..], Outcome::Steered)
    );
    down(&cfg, &mut h, "eu");
    let (got, _) = answering_pools(&cfg, geo, &eu_list, &h, Family::V4);
    assert_eq!(got.as_slice(), &[pool(&cfg, "us")]);
    // ap has no IPv6: an AAAA answer for an OC client comes from the next pool.
    let (oc_list, _) = candidates(&cfg, geo, Some(&loc("OC", "AU", None, "OC")));
    let (got, _) = answering_pools(&cfg, geo, &oc_list, &h, Family::V6);
    assert_eq!(got.as_slice(), &[pool(&cfg, "us")]);
}

// ---------------------------------------------------------------------------------------
// ECS scope in every path (issue 18): the scope describes every client that gets the same
// answer, which for a location policy is the candidate list's network whatever the outcome.

/// The issue's example: `default_pools = ["eu"]`, `continent_pools = { NA = ["us"] }`, eu
/// down. A European client gets the fallback (eu, health ignored) while a North American one
/// gets us: the fallback answer holds only for the European list's network.
#[test]
fn fallback_for_a_located_list_carries_the_lists_scope() {
    let cfg = parse(
        r#"
[load_balancers.issue]
steering = "geo"
default_pools = ["eu"]
continent_pools = { NA = ["us"] }
"#,
    );
    let issue = lb(&cfg, "issue");
    let (us, eu) = (pool(&cfg, "us"), pool(&cfg, "eu"));
    let europe = loc("EU", "DE", None, "WEU");
    let america = loc("NA", "US", Some("US-VA"), "ENAM");
    let (eu_list, _) = candidates(&cfg, issue, Some(&europe));
    let (na_list, _) = candidates(&cfg, issue, Some(&america));
    assert_eq!((eu_list.clone(), na_list.clone()), (vec![eu], vec![us, eu]));
    let mut h = HealthView::all_up(&cfg);
    down(&cfg, &mut h, "eu");
    let d = decide_for(&cfg, "issue", Some(&europe), &h, Family::V4);
    assert_eq!((d.pool, d.outcome), (Some(eu), Outcome::Fallback));
    let d_na = decide_for(&cfg, "issue", Some(&america), &h, Family::V4);
    assert_eq!((d_na.pool, d_na.outcome), (Some(us), Outcome::Steered));
    // Both answers hold for their list's network only (here, say, a /7 and a /5).
    assert_eq!(ecs_scope(issue, &d, 7), 7);
    assert_eq!(ecs_scope(issue, &d_na, 5), 5);
    // The same with `nodata` and with the fallback pool disabled: NODATA, still scoped.
    for extra in [
        "on_all_down = \"nodata\"",
        "fallback_pool = \"spare\"\n[pools.spare]\nenabled = false\norigins = [ { address = \"203.0.113.9\" } ]",
    ] {
        let cfg = parse(&format!(
            "[load_balancers.issue]\nsteering = \"geo\"\ndefault_pools = [\"eu\"]\n\
             continent_pools = {{ NA = [\"us\"] }}\n{extra}\n"
        ));
        let mut h = HealthView::all_up(&cfg);
        down(&cfg, &mut h, "eu");
        let d = decide_for(&cfg, "issue", Some(&europe), &h, Family::V4);
        assert_eq!((d.pool, d.outcome), (None, Outcome::NoData), "{extra}");
        assert_eq!(ecs_scope(lb(&cfg, "issue"), &d, 7), 7, "{extra}");
    }
}

/// Every policy × every outcome × both origin steerings: the scope is the list's for a
/// location policy (whatever the outcome), 0 otherwise, and at least the hash network when
/// `hash` ordered two or more origins.
#[test]
fn scope_in_every_path() {
    const LIST_SCOPE: u8 = 9;
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Case {
        Steered,
        AllDown,
        FamilyMissing,
    }
    for policy in ["geo", "proximity", "failover", "random", "dynamic"] {
        for on_all_down in ["fallback", "all", "nodata"] {
            for steering in ["random", "hash"] {
                let cfg = parse(&format!(
                    r#"
[pools.v4only]
latitude = 50.0
longitude = 8.0
origin_steering = "{steering}"
origins = [ {{ address = "203.0.113.1" }}, {{ address = "203.0.113.2" }} ]
[pools.dual]
latitude = 40.0
longitude = -75.0
origin_steering = "{steering}"
origins = [
  {{ address = "203.0.113.11", address_v6 = "2001:db8:9::1" }},
  {{ address = "203.0.113.12", address_v6 = "2001:db8:9::2" }},
]
[load_balancers.t]
steering = "{policy}"
default_pools = ["v4only", "dual"]
on_all_down = "{on_all_down}"
"#
                ));
                let t = lb(&cfg, "t");
                let location = at(51.0, 7.0);
                let (list, _) = candidates(&cfg, t, Some(&location));
                let located = matches!(policy, "geo" | "proximity");
                for case in [Case::Steered, Case::AllDown, Case::FamilyMissing] {
                    let mut h = HealthView::all_up(&cfg);
                    let family = match case {
                        Case::Steered => Family::V4,
                        Case::AllDown => {
                            down(&cfg, &mut h, "v4only");
                            down(&cfg, &mut h, "dual");
                            Family::V4
                        }
                        Case::FamilyMissing => {
                            down(&cfg, &mut h, "dual");
                            Family::V6
                        }
                    };
                    let d = decide(
                        &cfg,
                        t,
                        &list,
                        &h,
                        CLIENT,
                        family,
                        &mut StdRng::seed_from_u64(7),
                    );
                    let what = format!("{policy} {on_all_down} {steering} {case:?}: {d:?}");
                    let expected_outcome = match (case, on_all_down) {
                        (Case::Steered, _) => Outcome::Steered,
                        (Case::AllDown, "fallback") => Outcome::Fallback,
                        (Case::AllDown, "all") => Outcome::AllDownIgnoringHealth,
                        (Case::AllDown, _) | (Case::FamilyMissing, _) => Outcome::NoData,
                    };
                    assert_eq!(d.outcome, expected_outcome, "{what}");
                    let hashed = steering == "hash" && d.origins.len() > 1;
                    let expected =
                        if hashed { 24 } else { 0 }.max(if located { LIST_SCOPE } else { 0 });
                    assert_eq!(ecs_scope(t, &d, LIST_SCOPE), expected, "{what}");
                    // Never wider than the list's network for a location policy.
                    if located {
                        assert!(ecs_scope(t, &d, LIST_SCOPE) >= LIST_SCOPE, "{what}");
                    }
                }
            }
        }
    }
}

/// A fleet of this instance (in Frankfurt: WEU) and one peer (in New York: ENAM), with the
/// RTTs each measured: from Frankfurt eu is fastest, from New York us.
fn two_instance_fleet(cfg: &SteeringConfig, peer_has_data: bool) -> HealthView {
    use crate::geo::countries::REGION_COORDINATES;
    use crate::state::{FleetView, Member};
    let mut h = HealthView::all_up(cfg);
    let mut peer_rtt = vec![None; cfg.origins.len()];
    for (name, own, theirs) in [("us", 90.0, 8.0), ("eu", 12.0, 85.0), ("ap", 150.0, 200.0)] {
        for o in origins_of(cfg, name) {
            h.origins[o as usize].rtt_ms = Some(own);
            if peer_has_data {
                peer_rtt[o as usize] = Some(theirs);
            }
        }
    }
    let members = vec![
        Member {
            name: "ns-fra".into(),
            location: Some(REGION_COORDINATES[2]),
            reporting: true,
            ..Member::default()
        },
        Member {
            name: "ns-nyc".into(),
            location: Some(REGION_COORDINATES[1]),
            reporting: true,
            ..Member::default()
        },
    ];
    let region_instance = crate::fleet::nearest_by_region(&members);
    let own_rtt = h.origins.iter().map(|o| o.rtt_ms).collect();
    h.fleet = Some(std::sync::Arc::new(FleetView {
        members,
        rtt: vec![own_rtt, peer_rtt],
        by_region: region_instance.iter().any(|&m| m != region_instance[0]),
        region_instance,
        ..FleetView::default()
    }));
    h
}

#[test]
fn dynamic_follows_the_rtts_of_the_instance_nearest_the_clients_region() {
    use crate::geo::countries::{UNKNOWN_REGION, region_index};
    let cfg = parse("");
    let (us, eu) = (pool(&cfg, "us"), pool(&cfg, "eu"));
    let lb = lb(&cfg, "fast");
    let decide_in = |h: &HealthView, region: Option<u8>| {
        let client = Client { region, ..CLIENT };
        decide(
            &cfg,
            lb,
            &lb.default_pools,
            h,
            client,
            Family::V4,
            &mut StdRng::seed_from_u64(3),
        )
    };
    let h = two_instance_fleet(&cfg, true);
    assert!(h.fleet.as_ref().unwrap().by_region);
    // A client in ENAM or WNAM: New York's measurements decide (us); in WEU or EEU,
    // Frankfurt's own (eu); unknown region: this instance's own.
    for (region, pool, from) in [
        ("ENAM", us, 1),
        ("WNAM", us, 1),
        ("WEU", eu, 0),
        ("EEU", eu, 0),
    ] {
        let d = decide_in(&h, region_index(region));
        assert_eq!((d.pool, d.rtt_from), (Some(pool), Some(from)), "{region}");
    }
    let d = decide_in(&h, Some(UNKNOWN_REGION));
    assert_eq!((d.pool, d.rtt_from), (Some(eu), Some(0)));
    let d = decide_in(&h, None);
    assert_eq!((d.pool, d.rtt_from), (Some(eu), Some(0)));
    // The peer has no RTT data: this instance's own decide.
    let h = two_instance_fleet(&cfg, false);
    let d = decide_in(&h, region_index("ENAM"));
    assert_eq!((d.pool, d.rtt_from), (Some(eu), Some(0)));
    // A pool that is down is not chosen whoever measured it fastest.
    let mut h = two_instance_fleet(&cfg, true);
    down(&cfg, &mut h, "us");
    let d = decide_in(&h, region_index("ENAM"));
    assert_eq!((d.pool, d.rtt_from), (Some(eu), Some(1)));
    // Without a fleet, dynamic never depends on the client's region.
    let h = HealthView::all_up(&cfg);
    let d = decide_in(&h, region_index("ENAM"));
    assert_eq!((d.pool, d.rtt_from), (Some(us), None));
}

/// Cloudflare's least outstanding requests and least connections, DNS-only: every count is
/// zero, so the weights decide, at pool and at origin level.
#[test]
fn least_outstanding_requests_is_weighted_by_the_weights() {
    let cfg = parse(
        r#"
[load_balancers.lors]
steering = "least_outstanding_requests"
default_pools = ["us", "eu"]
pool_weights = { us = 0.0, eu = 1.0 }

[load_balancers.lc]
steering = "least_connections"
default_pools = ["us", "eu"]
"#,
    );
    for name in ["lors", "lc"] {
        assert_eq!(lb(&cfg, name).policy, Policy::Random, "{name}");
    }
    let health = HealthView::all_up(&cfg);
    let mut rng = StdRng::seed_from_u64(3);
    let l = lb(&cfg, "lors");
    for _ in 0..200 {
        let d = decide(
            &cfg,
            l,
            &l.default_pools,
            &health,
            CLIENT,
            Family::V4,
            &mut rng,
        );
        assert_eq!(d.pool, Some(pool(&cfg, "eu")), "weight 0 is never drawn");
    }
    let mut errors = Vec::new();
    let mut c = SteeringConfig::default();
    config::read_str(
        Path::new("t.toml"),
        "[pools.p]\norigin_steering = \"least_connections\"\norigins = [{ address = \"198.51.100.1\" }]\n",
        &Name::from_str("example.com.").unwrap(),
        &mut c,
        &|_| None,
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(c.pools[0].origin_steering, OriginSteering::Random);
}

/// A rule's overrides replace only what they name, in the order the rules matched.
#[test]
fn rule_overrides_accumulate_on_the_load_balancer() {
    let cfg = parse(
        r#"
[load_balancers.ruled]
steering = "failover"
default_pools = ["us", "eu"]

[[load_balancers.ruled.rules]]
condition = 'ip.src.continent eq "EU"'
overrides = { pools = ["eu", "ap"], ttl = 60 }

[[load_balancers.ruled.rules]]
name = "weights"
priority = 0
condition = 'dns.qry.type eq "AAAA"'
overrides = { steering_policy = "random", random_steering = { pool_weights = { ap = 0.25 }, default_weight = 0.5 } }
terminates = true
"#,
    );
    let l = lb(&cfg, "ruled");
    assert_eq!(l.custom_rules.len(), 2);
    assert_eq!(l.custom_rules[0].name, "rule 1");
    assert!(l.custom_rules[1].terminates);
    let first = l.overridden(&l.custom_rules[0].overrides);
    let (eu, ap) = (pool(&cfg, "eu"), pool(&cfg, "ap"));
    assert_eq!((first.default_pools.clone(), first.ttl), (vec![eu, ap], 60));
    assert_eq!(first.policy, Policy::Failover);
    let both = first.overridden(&l.custom_rules[1].overrides);
    assert_eq!(both.policy, Policy::Random);
    assert_eq!(both.pool_weights, vec![0.5, 0.25]);
    assert_eq!(both.ttl, 60, "kept from the earlier rule");
    assert!(l.pools().contains(&ap), "override pools get records");
}

/// A rule's `country_pools` and `region_pools` replace those maps of the load balancer (the
/// others stay), and a load balancer with no policy (Cloudflare's "") steers geo under it.
#[test]
fn rule_location_maps_replace_the_load_balancers_and_make_it_geo() {
    let cfg = parse(
        r#"
[load_balancers.implicit]
default_pools = ["us"]
continent_pools = { OC = ["ap"] }

[[load_balancers.implicit.rules]]
name = "europe"
condition = 'ip.src.continent eq "EU"'
overrides = { country_pools = { FR = ["ap", "eu"] }, region_pools = { WEU = ["eu"] } }

[load_balancers.off]
default_pools = ["us"]

[[load_balancers.off.rules]]
overrides = { country_pools = { DE = ["eu"] } }
"#,
    );
    let (us, eu, ap) = (pool(&cfg, "us"), pool(&cfg, "eu"), pool(&cfg, "ap"));
    let l = lb(&cfg, "implicit");
    assert_eq!(l.policy, Policy::Geo, "a map on the load balancer: geo");
    let v = l.overridden(&l.custom_rules[0].overrides);
    let fr = loc("EU", "FR", None, "WEU");
    let de = loc("EU", "DE", None, "WEU");
    let au = loc("OC", "AU", None, "OC");
    let (list, rule) = candidates(&cfg, &v, Some(&fr));
    assert_eq!(
        (list, rule),
        (vec![ap, eu, us], Rule::Geo("country", "FR".into()))
    );
    let (list, rule) = candidates(&cfg, &v, Some(&de));
    assert_eq!(
        (list, rule),
        (vec![eu, us], Rule::Geo("region", "WEU".into()))
    );
    // The continent map is not replaced.
    assert_eq!(candidates(&cfg, &v, Some(&au)).0, vec![ap, us]);
    // Without a map or policy of its own the load balancer is off, and the rule makes it geo.
    let l = lb(&cfg, "off");
    assert_eq!(l.policy, Policy::Failover);
    let v = l.overridden(&l.custom_rules[0].overrides);
    assert_eq!(v.policy, Policy::Geo);
    assert_eq!(candidates(&cfg, &v, Some(&de)).0, vec![eu, us]);
    assert!(l.pools().contains(&eu), "a rule map's pools get records");
}

/// The load signal: the weight falls linearly with the reading, to nothing at `full`; an
/// origin at full load leaves the answer while another has room, and a pool's weight for
/// `random` is its usable origins' mean factor.
#[test]
fn load_readings_lower_origin_and_pool_weights() {
    let text = r#"
[monitors.agent]
type = "http"
load = { json = "load.now", full = 200 }

[pools.busy]
monitor = "agent"
origins = [ { address = "198.51.100.31" }, { address = "198.51.100.32" } ]

[load_balancers.shared]
steering = "least_outstanding_requests"
default_pools = ["busy", "us"]
"#;
    let cfg = parse(text);
    let busy = pool(&cfg, "busy");
    let (a, b) = {
        let o = origins_of(&cfg, "busy");
        (o[0], o[1])
    };
    let signal = cfg.load_signal(a).expect("the monitor's signal");
    assert_eq!(signal.full(), 200.0);
    assert_eq!(signal.factor(0.0), 1.0);
    assert_eq!(signal.factor(50.0), 0.75);
    assert_eq!(signal.factor(200.0), 0.0);
    assert_eq!(signal.factor(500.0), 0.0);
    assert_eq!(signal.factor(-3.0), 1.0);
    assert_eq!(signal.factor(f64::NAN), 1.0);
    let mut h = HealthView::all_up(&cfg);
    h.origins[a as usize].load = Some(200.0);
    h.origins[b as usize].load = Some(50.0);
    let view = View::new(&cfg, &h);
    assert_eq!(view.load_factor(a), 0.0);
    assert_eq!(view.load_factor(b), 0.75);
    assert_eq!(view.pool_load_factor(busy), 0.375);
    // Origins without a signal keep their weight.
    assert_eq!(view.load_factor(origins_of(&cfg, "us")[0]), 1.0);
    let l = lb(&cfg, "shared");
    let mut rng = StdRng::seed_from_u64(9);
    let mut seen_busy = 0;
    for _ in 0..400 {
        let d = decide(&cfg, l, &l.default_pools, &h, CLIENT, Family::V4, &mut rng);
        if d.pool == Some(busy) {
            seen_busy += 1;
            // The full origin is left out while the other has room.
            assert_eq!(d.origins.as_slice(), &[b]);
        }
    }
    // Weights 0.375 : 1: busy drawn about 27% of the time; bounds far from both 0 and 50%.
    assert!(
        (40..=180).contains(&seen_busy),
        "busy drawn {seen_busy} times of 400"
    );
    // Both full: the answer still has them (zero weights only when all are zero).
    h.origins[b as usize].load = Some(1000.0);
    let view = View::new(&cfg, &h);
    assert_eq!(view.pool_load_factor(busy), 0.0);
}
