//! Steering decisions: which pool, then which origins, for one query.
//!
//! Everything here is a pure function of (configuration, health view, client, family) plus a
//! random source for the `random` choices, so it is tested exhaustively without sockets.
//!
//! Location enters in two steps. At load time every network of the GeoIP database is mapped to
//! the load balancer's *ordered candidate pool list* for that location ([`candidates`]); equal
//! neighbours merge in a prefix tree ([`crate::geo::GeoMap`]), whose leaf depth is the widest
//! prefix with the same list: the ECS scope. At query time the list is looked up and health
//! picks the first usable pool in it. Because the list does not depend on health, the scope
//! stays correct whatever is up or down.

use std::net::IpAddr;

use rand::{Rng, RngExt};
use smallvec::SmallVec;

use crate::config::{
    Family, LoadBalancer, OnAllDown, OriginId, OriginSteering, Policy, PoolId, SteeringConfig,
};
use crate::geo::Location;
use crate::geo::countries::UNKNOWN_REGION;
use crate::state::{HealthView, Snapshot};

type PoolMap = std::collections::HashMap<String, Vec<PoolId>>;

/// The rule that produced a candidate list, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `default_pools` in order (failover, random, dynamic; or no location rule matched).
    DefaultPools,
    /// A geo map entry: its level and key, e.g. ("country", "DE").
    Geo(&'static str, String),
    /// Proximity: pools sorted by distance from the client's coordinates.
    Nearest,
    /// Proximity or geo without a usable location.
    UnknownLocation,
}

/// The ordered pools to try for a client at `loc`, most preferred first, and why. Only
/// meaningful for policies that use location; the others try `default_pools`.
pub fn candidates(
    cfg: &SteeringConfig,
    lb: &LoadBalancer,
    loc: Option<&Location>,
) -> (Vec<PoolId>, Rule) {
    match lb.policy {
        Policy::Geo => geo_candidates(lb, loc),
        Policy::Proximity => match loc.and_then(Location::coordinates) {
            Some(client) => {
                let mut pools: Vec<(f64, usize, PoolId)> = lb
                    .default_pools
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| {
                        let at = cfg.pools[p as usize]
                            .coordinates
                            .expect("config requires coordinates for proximity");
                        (great_circle_km(client, at), i, p)
                    })
                    .collect();
                // Ties keep the configured order.
                pools.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                (pools.into_iter().map(|x| x.2).collect(), Rule::Nearest)
            }
            None => (lb.default_pools.clone(), Rule::UnknownLocation),
        },
        _ => (lb.default_pools.clone(), Rule::DefaultPools),
    }
}

/// Geo: every matching entry, most specific first (subdivision, country, region, continent),
/// then `default_pools`; each pool once. Trying them in this order is "the most specific
/// entry that has a healthy pool wins, failing over along its list, then default_pools".
fn geo_candidates(lb: &LoadBalancer, loc: Option<&Location>) -> (Vec<PoolId>, Rule) {
    let Some(loc) = loc else {
        return (lb.default_pools.clone(), Rule::UnknownLocation);
    };
    let levels: [(&'static str, Option<&str>, &PoolMap); 4] = [
        ("subdivision", loc.subdivision(), &lb.rules.subdivision),
        ("country", loc.country(), &lb.rules.country),
        ("region", loc.region(), &lb.rules.region),
        ("continent", loc.continent(), &lb.rules.continent),
    ];
    let mut out: Vec<PoolId> = Vec::new();
    let mut rule = None;
    for (level, key, map) in levels {
        if let Some(list) = key.and_then(|k| map.get(k)) {
            if rule.is_none() {
                rule = Some(Rule::Geo(level, key.unwrap_or_default().to_string()));
            }
            for &p in list {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    for &p in &lb.default_pools {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    (out, rule.unwrap_or(Rule::DefaultPools))
}

pub use crate::geo::proximity::{ProximityOrder, great_circle_km};

/// How the pool was arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A usable pool from the candidates.
    Steered,
    /// Nothing usable: `fallback_pool`.
    Fallback,
    /// Nothing usable: steered as if everything were healthy (`on_all_down = "all"`).
    AllDownIgnoringHealth,
    /// No addresses: every pool down with `on_all_down = "nodata"`, the fallback pool
    /// disabled, or no pool has an address of the queried family.
    NoData,
}

impl Outcome {
    /// Its name in logs, payloads and the API (`outcome`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Steered => "steered",
            Outcome::Fallback => "fallback",
            Outcome::AllDownIgnoringHealth => "all_down_ignoring_health",
            Outcome::NoData => "nodata",
        }
    }
}

/// What steering decided for one query.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The pool answered from, if any.
    pub pool: Option<PoolId>,
    /// Origins to answer with, in answer order.
    pub origins: SmallVec<[OriginId; 8]>,
    /// How the pool was arrived at.
    pub outcome: Outcome,
    /// The client prefix length `hash` origin steering keyed on (0: none).
    pub hash_prefix: u8,
    /// `dynamic`: the fleet member (index into the health view's `fleet.members`, 0 for this
    /// instance) whose RTTs chose the pool; `None` when no RTT was known (failover order) or
    /// for other policies.
    pub rtt_from: Option<u8>,
}

/// The ECS SCOPE PREFIX-LENGTH of a steered answer, positive or NODATA: how many leading bits
/// of the client's address this answer depends on, so that a resolver may give it to every
/// client that shares them. `list_scope` is the depth of the geo map leaf the candidate list
/// came from (0 when it came from `default_pools`).
///
/// A `dynamic` load balancer steered by the RTTs of the fleet instance nearest the client's
/// region depends on that region in every outcome: the query path raises the scope to the
/// region's network ([`dynamic_region`]). Otherwise `dynamic` does not depend on the client.
///
/// For a location policy (`geo`, `proximity`) every outcome depends on the candidate list,
/// not only a steered pool: whether all candidates are down — and so whether the fallback
/// pool, `on_all_down = "all"` or an all-down NODATA answers — and whether any candidate has
/// the queried family are properties of the list. A client with another list may get a live
/// pool where this one gets the fallback, so the scope is the list's network in every path,
/// never /0. `hash` origin steering adds the client network it keys on.
pub fn ecs_scope(lb: &LoadBalancer, d: &Decision, list_scope: u8) -> u8 {
    let list = if lb.policy.uses_location() {
        list_scope
    } else {
        0
    };
    ecs_scope_of(d, list)
}

/// [`ecs_scope`] when the caller already knows the scope of the choice made for the client
/// (0 when nothing about the client made it; see [`crate::state::CompiledLb::resolve`]).
pub fn ecs_scope_of(d: &Decision, choice_scope: u8) -> u8 {
    choice_scope.max(d.hash_prefix)
}

/// The client as steering sees it.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The ECS address when the query carried one with a non-zero source prefix, else the
    /// query's source address.
    pub addr: IpAddr,
    /// Its Cloudflare region (index into [`crate::geo::countries::REGIONS`], or
    /// [`UNKNOWN_REGION`]) when a `dynamic` load balancer is steered by the fleet's RTTs per
    /// region ([`dynamic_region`]); `None` otherwise.
    pub region: Option<u8>,
    /// The query's source address: the resolver. A load balancer whose
    /// `location_strategy.prefer_ecs` rules ECS out steers by this one.
    pub resolver: IpAddr,
}

impl Client {
    /// A client seen at `addr`, without ECS (or asking as its own resolver), its region not
    /// looked up.
    pub const fn at(addr: IpAddr) -> Self {
        Self {
            addr,
            region: None,
            resolver: addr,
        }
    }

    /// The client as `lb` locates it: the ECS address only when `lb` uses ECS.
    pub fn for_lb(self, lb: &LoadBalancer) -> Self {
        if lb.uses_ecs() {
            self
        } else {
            Self {
                addr: self.resolver,
                ..self
            }
        }
    }
}

/// For a `dynamic` load balancer whose answers depend on the client's region (with peers
/// whose locations put different instances nearest to different regions): the client's
/// region and the ECS scope on which it holds. `None` when the answer does not depend on it.
#[inline]
pub fn dynamic_region(
    snap: &Snapshot,
    health: &HealthView,
    lb: &LoadBalancer,
    addr: IpAddr,
) -> Option<(u8, u8)> {
    if lb.policy != Policy::Dynamic {
        return None;
    }
    if !health.fleet.as_deref().is_some_and(|f| f.by_region) {
        return None;
    }
    let (region, depth) = snap.regions.as_ref()?.lookup(addr);
    Some((region.min(u32::from(UNKNOWN_REGION)) as u8, depth))
}

/// Decides one query. `candidates` is the load balancer's ordered list for this client (from
/// the geo map, or `default_pools`).
pub fn decide<R: Rng + ?Sized>(
    cfg: &SteeringConfig,
    lb: &LoadBalancer,
    candidates: &[PoolId],
    health: &HealthView,
    client: Client,
    family: Family,
    rng: &mut R,
) -> Decision {
    let view = View::new(cfg, health);
    if let Some(d) = steer(&view, lb, candidates, client, family, rng) {
        return d;
    }
    // No usable pool. If some pool is up but none has the family, that is NODATA for this
    // family rather than an outage.
    if candidates.iter().any(|&p| view.pool_up(p)) {
        return no_data();
    }
    match lb.on_all_down {
        OnAllDown::Nodata => no_data(),
        OnAllDown::All => {
            let view = View {
                ignore_health: true,
                ..view
            };
            match steer(&view, lb, candidates, client, family, rng) {
                Some(mut d) => {
                    d.outcome = Outcome::AllDownIgnoringHealth;
                    d
                }
                None => no_data(),
            }
        }
        OnAllDown::Fallback => {
            let p = lb.fallback_pool;
            if !view.pool_enabled(p) {
                return no_data();
            }
            // Health is ignored for the fallback pool (Cloudflare), but where some of its
            // origins are up, those are the better answer.
            let healthy = view.usable_origins(p, family);
            let origins = if healthy.is_empty() {
                View {
                    ignore_health: true,
                    ..view
                }
                .usable_origins(p, family)
            } else {
                healthy
            };
            if origins.is_empty() {
                return no_data();
            }
            let (picked, hash_prefix) = pick_origins(&view, lb, p, &origins, client, rng);
            Decision {
                pool: Some(p),
                origins: picked,
                outcome: Outcome::Fallback,
                hash_prefix,
                rtt_from: None,
            }
        }
    }
}

/// The pools that answer, right now, a client whose ordered candidate list is `candidates`,
/// and how they were arrived at. One pool for every policy but `random`, whose answer is drawn
/// among every usable pool of `default_pools` with a weight (all of them when every weight is
/// 0): those are all returned. Empty with [`Outcome::NoData`]. The status page, the metrics
/// and the transition log ask this; queries go through [`decide`], which it follows.
pub fn answering_pools(
    cfg: &SteeringConfig,
    lb: &LoadBalancer,
    candidates: &[PoolId],
    health: &HealthView,
    family: Family,
) -> (SmallVec<[PoolId; 4]>, Outcome) {
    let view = View::new(cfg, health);
    if lb.policy == Policy::Random {
        let drawn = random_choices(&view, lb, family);
        if !drawn.is_empty() {
            return (drawn, Outcome::Steered);
        }
        if candidates.iter().any(|&p| view.pool_up(p)) {
            return (SmallVec::new(), Outcome::NoData);
        }
        if lb.on_all_down == OnAllDown::All {
            let view = View {
                ignore_health: true,
                ..view
            };
            let drawn = random_choices(&view, lb, family);
            return if drawn.is_empty() {
                (SmallVec::new(), Outcome::NoData)
            } else {
                (drawn, Outcome::AllDownIgnoringHealth)
            };
        }
    }
    // Every other choice of pool is deterministic: only the order of origins is drawn.
    let d = decide(
        cfg,
        lb,
        candidates,
        health,
        Client::at(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        family,
        &mut rand::rng(),
    );
    (d.pool.into_iter().collect(), d.outcome)
}

/// The pools `random` may draw from: usable, with a weight above 0 (or all usable ones when
/// every weight is 0).
fn random_choices(view: &View<'_>, lb: &LoadBalancer, family: Family) -> SmallVec<[PoolId; 4]> {
    let usable: SmallVec<[(PoolId, f64); 8]> = lb
        .default_pools
        .iter()
        .zip(&lb.pool_weights)
        .filter(|(p, _)| view.pool_up(**p) && !view.usable_origins(**p, family).is_empty())
        .map(|(&p, &w)| (p, w * view.pool_load_factor(p)))
        .collect();
    let any_weight = usable.iter().any(|x| x.1 > 0.0);
    usable
        .iter()
        .filter(|x| !any_weight || x.1 > 0.0)
        .map(|x| x.0)
        .collect()
}

fn no_data() -> Decision {
    Decision {
        pool: None,
        origins: SmallVec::new(),
        outcome: Outcome::NoData,
        hash_prefix: 0,
        rtt_from: None,
    }
}

fn steer<R: Rng + ?Sized>(
    view: &View<'_>,
    lb: &LoadBalancer,
    candidates: &[PoolId],
    client: Client,
    family: Family,
    rng: &mut R,
) -> Option<Decision> {
    let usable = |p: PoolId| view.pool_up(p) && !view.usable_origins(p, family).is_empty();
    let mut rtt_from = None;
    let pool = match lb.policy {
        Policy::Failover | Policy::Geo | Policy::Proximity => {
            candidates.iter().copied().find(|&p| usable(p))?
        }
        Policy::Random => {
            let choices: SmallVec<[(PoolId, f64); 8]> = lb
                .default_pools
                .iter()
                .zip(&lb.pool_weights)
                .filter(|(p, _)| usable(**p))
                .map(|(&p, &w)| (p, w * view.pool_load_factor(p)))
                .collect();
            weighted_choice(&choices, rng)?
        }
        Policy::Dynamic => {
            let fastest = |member: usize| {
                let mut best: Option<(f64, PoolId)> = None;
                for &p in candidates.iter().filter(|&&p| usable(p)) {
                    if let Some(rtt) = view.pool_rtt(p, member)
                        && best.is_none_or(|(b, _)| rtt < b)
                    {
                        best = Some((rtt, p));
                    }
                }
                best.map(|(_, p)| (p, member as u8))
            };
            // The RTTs measured by the instance nearest the client's region; this
            // instance's own when that one has none (or is this one).
            let nearest = view.health.fleet.as_deref().map_or(0, |f| {
                let slot = client.region.unwrap_or(UNKNOWN_REGION) as usize;
                f.region_instance.get(slot).copied().unwrap_or(0) as usize
            });
            let found = if nearest > 0 { fastest(nearest) } else { None };
            // Without RTT data, failover order (as Cloudflare does).
            match found.or_else(|| fastest(0)) {
                Some((p, member)) => {
                    rtt_from = Some(member);
                    p
                }
                None => candidates.iter().copied().find(|&p| usable(p))?,
            }
        }
    };
    let origins = view.usable_origins(pool, family);
    let (picked, hash_prefix) = pick_origins(view, lb, pool, &origins, client, rng);
    Some(Decision {
        pool: Some(pool),
        origins: picked,
        outcome: Outcome::Steered,
        hash_prefix,
        rtt_from,
    })
}

/// Picks among weighted items; zero weights only when every weight is zero.
fn weighted_choice<R: Rng + ?Sized, T: Copy>(items: &[(T, f64)], rng: &mut R) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let total: f64 = items.iter().map(|x| x.1).sum();
    if total <= 0.0 {
        return Some(items[rng.random_range(0..items.len())].0);
    }
    let mut x = rng.random::<f64>() * total;
    for &(item, w) in items {
        if x < w {
            return Some(item);
        }
        x -= w;
    }
    items.iter().rev().find(|x| x.1 > 0.0).map(|x| x.0)
}

/// The configuration as seen through one health view: which origins and pools may be
/// answered. The status API and `explain` ask it too, so that they show what steering does.
pub struct View<'a> {
    cfg: &'a SteeringConfig,
    health: &'a HealthView,
    ignore_health: bool,
}

impl<'a> View<'a> {
    /// `cfg` with `health` (which must be indexed like it).
    pub fn new(cfg: &'a SteeringConfig, health: &'a HealthView) -> Self {
        Self {
            cfg,
            health,
            ignore_health: false,
        }
    }

    /// Enabled in the configuration and not drained.
    pub fn pool_enabled(&self, p: PoolId) -> bool {
        self.cfg.pools[p as usize].enabled
            && !self.health.pools.get(p as usize).is_some_and(|h| h.drained)
    }

    /// Enabled, not drained, and up.
    pub fn origin_usable(&self, o: OriginId) -> bool {
        let enabled = self.cfg.origins[o as usize].enabled;
        let h = self.health.origin(o);
        let drained = h.is_some_and(|h| h.drained);
        let up = self.ignore_health || h.is_some_and(|h| h.up);
        enabled && !drained && up
    }

    /// How many of the pool's origins are usable.
    pub fn usable_count(&self, p: PoolId) -> usize {
        self.cfg.pools[p as usize]
            .origins
            .clone()
            .filter(|&o| self.origin_usable(o))
            .count()
    }

    /// Enabled, not drained, and at least `minimum_origins` origins usable.
    pub fn pool_up(&self, p: PoolId) -> bool {
        self.pool_enabled(p)
            && self.usable_count(p) >= self.cfg.pools[p as usize].minimum_origins as usize
    }

    fn usable_origins(&self, p: PoolId, family: Family) -> SmallVec<[OriginId; 8]> {
        self.cfg.pools[p as usize]
            .origins
            .clone()
            .filter(|&o| {
                let origin = &self.cfg.origins[o as usize];
                let has = match family {
                    Family::V4 => origin.v4.is_some(),
                    Family::V6 => origin.v6.is_some(),
                };
                has && self.origin_usable(o)
            })
            .collect()
    }

    /// What the origin's load reading multiplies its weight by (1 without a reading or a
    /// load signal): see [`crate::config::LoadSignal::factor`].
    pub fn load_factor(&self, o: OriginId) -> f64 {
        let Some(load) = self.health.origin(o).and_then(|h| h.load) else {
            return 1.0;
        };
        self.cfg.load_signal(o).map_or(1.0, |s| s.factor(load))
    }

    /// What a pool's weight is multiplied by for `random` steering: the mean load factor of
    /// its usable origins (1 when none has a reading).
    pub fn pool_load_factor(&self, p: PoolId) -> f64 {
        let (sum, n) = self.cfg.pools[p as usize]
            .origins
            .clone()
            .filter(|&o| self.origin_usable(o))
            .fold((0.0, 0usize), |(s, n), o| (s + self.load_factor(o), n + 1));
        if n == 0 { 1.0 } else { sum / n as f64 }
    }

    /// Mean smoothed RTT of the pool's healthy origins, as fleet member `member` measured it
    /// (0: this instance).
    fn pool_rtt(&self, p: PoolId, member: usize) -> Option<f64> {
        let fleet_rtt = |o: OriginId| {
            let f = self.health.fleet.as_deref()?;
            *f.rtt.get(member)?.get(o as usize)?
        };
        let (sum, n) = self.cfg.pools[p as usize]
            .origins
            .clone()
            .filter(|&o| self.origin_usable(o))
            .filter_map(|o| {
                if member == 0 {
                    self.health.origin(o).and_then(|h| h.rtt_ms)
                } else {
                    fleet_rtt(o)
                }
            })
            .fold((0.0, 0usize), |(s, n), r| (s + r, n + 1));
        (n > 0).then(|| sum / n as f64)
    }
}

/// The subnet `hash` steering keys on: the client's /24 (IPv4) or /56 (IPv6), as a number.
pub fn client_network(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a) & 0xffff_ff00), 24),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return client_network(IpAddr::V4(v4));
            }
            (u128::from(a) & !((1u128 << 72) - 1), 56)
        }
    }
}

/// Orders `origins` by the pool's origin steering and keeps `max_answers`. Returns them and
/// the client prefix length the order depends on (0 for random).
fn pick_origins<R: Rng + ?Sized>(
    view: &View<'_>,
    lb: &LoadBalancer,
    pool: PoolId,
    origins: &[OriginId],
    client: Client,
    rng: &mut R,
) -> (SmallVec<[OriginId; 8]>, u8) {
    let cfg = view.cfg;
    if let [only] = origins {
        // One usable origin: no order to choose, and nothing depends on the client.
        return (SmallVec::from_slice(&[*only]), 0);
    }
    let weight = |o: OriginId| cfg.origins[o as usize].weight * view.load_factor(o);
    let all_zero = origins.iter().all(|&o| weight(o) <= 0.0);
    // Zero-weight origins are answered only when no other is usable.
    let eff = |o: OriginId| if all_zero { 1.0 } else { weight(o) };
    let mut keyed: SmallVec<[(f64, OriginId); 16]> = SmallVec::new();
    let hash_prefix = match cfg.pools[pool as usize].origin_steering {
        OriginSteering::Random => {
            // Efraimidis–Spirakis: sorting by u^(1/w) gives a weighted random order.
            for &o in origins {
                let w = eff(o);
                if w > 0.0 {
                    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                    keyed.push((u.powf(1.0 / w), o));
                }
            }
            0
        }
        OriginSteering::Hash => {
            // Weighted rendezvous hashing: when an origin goes, only the clients it served
            // move, and they spread over the others by weight.
            let (net, prefix) = client_network(client.addr);
            for &o in origins {
                let w = eff(o);
                if w > 0.0 {
                    let h = mix(net as u64 ^ (net >> 64) as u64, origin_key(cfg, o));
                    // Map to (0, 1): never 0 or 1, so ln is finite and negative.
                    let unit = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                    keyed.push((-w / unit.ln(), o));
                }
            }
            prefix
        }
    };
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    let out = keyed.iter().take(lb.max_answers).map(|&(_, o)| o).collect();
    (out, hash_prefix)
}

/// A stable key for an origin: its probe address (stays the same across reloads, unlike ids).
fn origin_key(cfg: &SteeringConfig, o: OriginId) -> u64 {
    match cfg.origins[o as usize].probe_address() {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
        }
    }
}

/// SplitMix64-style mixing of two words: fast, and well spread for rendezvous scores.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.rotate_left(31))
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
