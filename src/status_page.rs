//! The status page served at `/` on the HTTP endpoint, and the data only it needs: which pool
//! a client in each country is steered to now, for one load balancer (`GET /v1/map`).
//!
//! Every asset is compiled into the binary (`assets/`): plain HTML, CSS and JavaScript, and
//! the world map (`assets/world.json`, country outlines from Natural Earth via world-atlas,
//! built by `contrib/worldmap/build.mjs`). The page works with no network but this server's.
//!
//! **A client in a country**, for the map: the country's continent and Cloudflare region from
//! geosteer's country tables (for the US and Canada the region of an unknown state: ENAM), no
//! subdivision (rules keyed by subdivision do not apply: the map is at country level), and the
//! coordinates of the country's representative point ([`crate::geo::centroids`]). Its pools
//! come from the same functions queries use: [`steering::candidates`] for the ordered list,
//! [`steering::answering_pools`] for the pool answering now, with the current health.
//! Custom rules apply as to a client of the country in no network or AS they (or
//! `subnet_pools`, `asn_pools`) name; every variant the rules and client maps make of the load
//! balancer is listed beside (`variants`), as the loaded configuration compiled them.

use serde_json::{Value, json};

use crate::config::rules::Facts;
use crate::config::{Family, LoadBalancer, Policy, SteeringConfig};
use crate::geo::{Location, centroids, countries};
use crate::state::State;
use crate::steering::{self, Rule, View};

/// `/`: the page.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// `/assets/app.css`.
pub const APP_CSS: &str = include_str!("../assets/app.css");
/// `/assets/app.js`.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// `/assets/world.json`: country outlines (see `assets/README.md`).
pub const WORLD_JSON: &str = include_str!("../assets/world.json");

/// The asset at `/assets/NAME`: its content type and body.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "world.json" => ("application/json", WORLD_JSON),
        _ => return None,
    })
}

/// The name a policy has in the configuration.
pub fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Failover => "failover",
        Policy::Random => "random",
        Policy::Geo => "geo",
        Policy::Proximity => "proximity",
        Policy::Dynamic => "dynamic",
    }
}

fn rule_text(rule: &Rule) -> String {
    match rule {
        Rule::DefaultPools => "default_pools".to_string(),
        Rule::Geo(level, key) => format!("{level} {key}"),
        Rule::Nearest => "nearest pool".to_string(),
        Rule::UnknownLocation => "location unknown: default_pools".to_string(),
    }
}

/// A client in `country`, as the map places it (see the module documentation).
pub fn country_location(country: &str) -> Location {
    let (lat, lon) = centroids::centroid(country).unzip();
    Location::new(None, Some(country), None, lat, lon)
}

fn answer(
    cfg: &SteeringConfig,
    lb: &LoadBalancer,
    state: &State,
    candidates: &[crate::config::PoolId],
    family: Family,
) -> Value {
    let (pools, outcome) = steering::answering_pools(cfg, lb, candidates, &state.health, family);
    json!({
        "pools": pools.iter().map(|&p| cfg.pools[p as usize].name.as_str()).collect::<Vec<_>>(),
        "outcome": outcome.name(),
    })
}

/// `GET /v1/map`: for load balancer `lb` (an index into the state's configuration), the pools
/// answering a client in each country now, the answer for clients of unknown location, and
/// the load balancer's pools with their coordinates and state.
pub fn country_map(state: &State, lb_index: usize, family: Family) -> Value {
    let cfg = &state.config.steering;
    let lb = &cfg.load_balancers[lb_index];
    let view = View::new(cfg, &state.health);
    let qname = lb
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut by_country = serde_json::Map::new();
    for cc in countries::all() {
        let loc = country_location(cc);
        // Custom rules as for a client of the country outside every network and AS they
        // name: the rules that match, and the load balancer as they leave it.
        let (eff, matched) = with_rules(lb, Some(&loc), &qname, family);
        let (candidates, rule) = steering::candidates(cfg, &eff, Some(&loc));
        let mut a = answer(cfg, &eff, state, &candidates, family);
        a["rule"] = json!(rule_text(&rule));
        if !lb.custom_rules.is_empty() {
            a["rules"] = json!(matched);
        }
        by_country.insert(cc.to_string(), a);
    }
    let (eff, matched) = with_rules(lb, None, &qname, family);
    let mut unknown = answer(cfg, &eff, state, &eff.default_pools, family);
    if !lb.custom_rules.is_empty() {
        unknown["rules"] = json!(matched);
    }
    // Every variant the rules and client maps make of the load balancer, as compiled.
    let pool_names = |l: &[crate::config::PoolId]| {
        l.iter()
            .map(|&p| cfg.pools[p as usize].name.clone())
            .collect::<Vec<_>>()
    };
    let variants: Vec<Value> = state.config.compiled[lb_index]
        .plans
        .iter()
        .flat_map(|p| &p.variants)
        .map(|v| {
            json!({
                "when": if v.why.is_empty() { "no rule or map entry".to_string() } else { v.why.join(", then ") },
                "steering": policy_name(v.lb.policy),
                "default_pools": pool_names(&v.lb.default_pools),
                "fallback_pool": cfg.pools[v.lb.fallback_pool as usize].name,
                "ttl": v.lb.ttl,
            })
        })
        .collect();
    let pools: Vec<Value> = lb
        .pools()
        .into_iter()
        .map(|p| {
            let pool = &cfg.pools[p as usize];
            json!({
                "name": pool.name,
                "latitude": pool.coordinates.map(|c| c.0),
                "longitude": pool.coordinates.map(|c| c.1),
                "up": view.pool_up(p),
                "healthy_origins": view.usable_count(p),
                "origins": pool.origins.len(),
            })
        })
        .collect();
    json!({
        "load_balancer": lb.name.to_string(),
        "steering": policy_name(lb.policy),
        "type": match family { Family::V4 => "A", Family::V6 => "AAAA" },
        "generation": state.config.generation,
        "level": "country",
        "location": "continent and region from the country tables, coordinates of the \
                     country's representative point, no subdivision",
        "pools": pools,
        "unknown_location": unknown,
        "countries": by_country,
        "variants": variants,
    })
}

/// `lb` with the overrides of every custom rule that matches a client at `loc` (in no
/// network or AS the rules name) asking for `family`, and the names of those rules.
fn with_rules(
    lb: &LoadBalancer,
    loc: Option<&Location>,
    qname: &str,
    family: Family,
) -> (LoadBalancer, Vec<String>) {
    let facts = Facts {
        location: loc,
        asn: None,
        networks: 0,
        qname,
        family,
    };
    let mut eff = lb.clone();
    let mut names = Vec::new();
    for r in &lb.custom_rules {
        if r.condition.eval(&facts) {
            eff = eff.overridden(&r.overrides);
            names.push(r.name.clone());
            if r.terminates {
                break;
            }
        }
    }
    (eff, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_drawn_is_a_country_geosteer_knows() {
        let world: Value = serde_json::from_str(WORLD_JSON).unwrap();
        let list = world["countries"].as_array().unwrap();
        assert!(list.len() > 200, "{}", list.len());
        for c in list {
            let id = c["id"].as_str().unwrap();
            assert!(
                countries::is_country(id),
                "{id} is drawn but not in the tables"
            );
            assert!(c["d"].is_string() || c["at"].is_array(), "{id}");
            assert!(centroids::centroid(id).is_some(), "{id} has no centroid");
        }
    }

    #[test]
    fn countries_are_placed_by_the_tables_and_their_centroid() {
        let de = country_location("DE");
        assert_eq!(
            (de.continent(), de.region(), de.subdivision()),
            (Some("EU"), Some("WEU"), None)
        );
        let (lat, lon) = de.coordinates().unwrap();
        assert!((47.0..55.0).contains(&lat) && (5.0..15.0).contains(&lon));
        // The contiguous United States, not the mean of Alaska, Hawaii and the rest.
        let (lat, lon) = country_location("US").coordinates().unwrap();
        assert!((30.0..45.0).contains(&lat) && (-110.0..-85.0).contains(&lon));
        assert_eq!(country_location("US").region(), Some("ENAM"));
    }
}
