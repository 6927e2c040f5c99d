//! The published state: one snapshot of configuration and health that the query path, the
//! API, metrics and `explain` read, and that health monitoring alone writes.
//!
//! A reader loads one [`State`] and indexes only it, so that health is never read against
//! another configuration than the one it was built for. Loading compiles the configuration
//! part ([`Snapshot`], in `load`); health monitoring pairs it with its [`HealthView`] and
//! publishes the pair (`Published::publish`) whenever either changes.

mod health;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use smallvec::SmallVec;

use crate::config::{Family, LoadBalancer, OriginId, PoolId, SteeringConfig};
use crate::dnssec::zone::Signing;
use crate::geo::proximity::ProximityOrder;
use crate::geo::{AsnDb, GeoDb, GeoIndex, GeoMap};
use crate::wire::RecordSet;
use crate::zone::Zones;
pub use health::{
    Failure, FleetView, HealthView, Load, Member, OriginHealth, OriginStatus, PoolHealth,
    ProbeCell, ProbeRecord, ProbeResult, Success,
};

/// Where the current [`State`] lives.
pub struct Published(ArcSwap<State>);

impl Published {
    /// Starts with `state`.
    pub fn new(state: State) -> Self {
        Self(ArcSwap::from_pointee(state))
    }

    /// The current state, for one query: no reference count is touched.
    pub fn load(&self) -> Guard<Arc<State>> {
        self.0.load()
    }

    /// The current state, to hold for longer (a request of the API, say).
    pub fn current(&self) -> Arc<State> {
        self.0.load_full()
    }

    /// Makes `state` the current one. Health monitoring is the only caller: it publishes each
    /// configuration it is given, and each change of health.
    pub(crate) fn publish(&self, state: State) {
        self.0.store(Arc::new(state));
    }
}

/// The configuration together with the health it is answered with. Swapped as one, so a
/// query never sees health indexed for another configuration.
#[derive(Clone)]
pub struct State {
    /// The configuration answered from.
    pub config: Arc<Snapshot>,
    /// Its health, indexed like it.
    pub health: Arc<HealthView>,
    /// By origin id: what its probes found, for the origins that are monitored.
    pub probes: Arc<[Option<Arc<ProbeCell>>]>,
}

impl State {
    /// `config` with every origin up and none probed: the state before monitoring starts.
    pub fn new(config: Arc<Snapshot>) -> Self {
        let health = Arc::new(HealthView::all_up(&config.steering));
        let probes = vec![None; config.steering.origins.len()].into();
        Self {
            config,
            health,
            probes,
        }
    }

    /// Every origin of the configuration, by origin id: its health and what its probes found.
    pub fn origin_status(&self) -> Vec<OriginStatus> {
        let cfg = &self.config.steering;
        cfg.origins
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let pool = &cfg.pools[o.pool as usize];
                let h = self.health.origins.get(i).cloned().unwrap_or_default();
                let record = self
                    .probes
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(|cell| cell.lock().unwrap_or_else(|e| e.into_inner()).clone());
                OriginStatus {
                    origin: i as OriginId,
                    zone: pool.zone.clone(),
                    pool: pool.name.clone(),
                    name: o.name.clone(),
                    address: o.probe_address(),
                    up: h.up,
                    drained: h.drained,
                    pool_drained: self
                        .health
                        .pools
                        .get(o.pool as usize)
                        .is_some_and(|p| p.drained),
                    rtt_ms: h.rtt_ms,
                    load: h.load,
                    monitor: record.as_ref().map(|r| r.monitor.clone()),
                    successes: record.as_ref().map_or(0, |r| r.successes),
                    failures: record.as_ref().map_or(0, |r| r.failures),
                    since: record.as_ref().and_then(|r| r.since),
                    failures_by_reason: record
                        .as_ref()
                        .map_or([0; Failure::REASONS.len()], |r| r.failures_by_reason),
                    last: record.and_then(|r| r.last),
                }
            })
            .collect()
    }
}

/// What one load produced. Queries read a snapshot through an `ArcSwap`, so a reload builds a
/// whole new one beside the old and swaps it in only when it is complete and valid.
#[derive(Default)]
pub struct Snapshot {
    /// 1 for the configuration loaded at start, one more for each successful reload.
    pub generation: u64,
    /// Every zone served.
    pub zones: Zones,
    /// Monitors, pools, origins and load balancers of every zone.
    pub steering: SteeringConfig,
    /// Per load balancer (same index as `steering.load_balancers`): what answering needs.
    pub compiled: Vec<CompiledLb>,
    /// The GeoIP database, when one was loaded.
    pub geo: Option<Arc<GeoDb>>,
    /// The ASN database (`--asn-db`), when one was loaded.
    pub asn: Option<Arc<AsnDb>>,
    /// The database walked once, when a load balancer steers by location.
    pub geo_index: Option<Arc<GeoIndex>>,
    /// Every distinct set of location rules compiled, by its canonical form (see `load`): a
    /// reload over the same database reuses those whose rules did not change.
    pub rule_maps: HashMap<Box<[u8]>, Arc<RuleMap>>,
    /// Metrics label ids of its names.
    pub labels: Labels,
    /// DNSSEC: keys and signatures of the zones that have keys (`None`: nothing is signed).
    pub signing: Option<Signing>,
    /// Client address → Cloudflare region (index into [`crate::geo::countries::REGIONS`],
    /// [`crate::geo::countries::UNKNOWN_REGION`] for none), with its ECS scope: built when a `dynamic`
    /// load balancer may be steered by the RTTs of the instance nearest the client.
    pub regions: Option<GeoMap>,
}

/// Metrics label ids of a snapshot's names, assigned when it is compiled (the ids of names
/// that survive a reload stay the same, so their counters keep counting).
#[derive(Debug, Default)]
pub struct Labels {
    /// By zone id ([`crate::zone::Zone::id`]).
    pub zones: Vec<u32>,
    /// By load balancer, as `steering.load_balancers`.
    pub load_balancers: Vec<u32>,
    /// By pool, as `steering.pools`.
    pub pools: Vec<u32>,
}

/// A load balancer prepared for the query path.
pub struct CompiledLb {
    /// For policies that use location (and no custom rules or client maps): client address
    /// → candidate list and ECS scope, shared with every load balancer with the same rules.
    pub location: Option<LocationSteering>,
    /// With [`CompiledLb::plans`]: distinct ordered candidate pool lists, which the plans
    /// index.
    pub lists: Vec<Box<[PoolId]>>,
    /// With [`CompiledLb::plans`]: client address → plan, and the ECS scope.
    pub map: Option<GeoMap>,
    /// For a load balancer with custom rules, `subnet_pools` or `asn_pools`: what each
    /// client network gets. The map's values index `plans.table`.
    pub plans: Option<Plans>,
    /// Ready-made A and AAAA records for each pool it may answer from.
    pub records: Vec<PoolRecords>,
}

/// A load balancer's location rules: the compiled rules it shares with every load balancer
/// whose rules are the same up to the names of the pools, and its own pools.
pub struct LocationSteering {
    /// The shared compiled rules; their lists hold pool ordinals.
    pub rules: Arc<RuleMap>,
    /// This load balancer's pool for each ordinal.
    pub pools: Box<[PoolId]>,
}

/// Location rules compiled: every address mapped to a class (with the ECS scope on which it
/// holds), and each class's ordered candidate list, in pool ordinals (the rules' n-th
/// distinct pool). Load balancers whose rules differ only in pool names share one.
pub struct RuleMap {
    /// Address → class and scope. Shared further, by every rule set that divides the
    /// locations into the same classes. For proximity, address → the key of the client's
    /// location in the map's base, and scope ([`GeoMap::into_keyed`]).
    pub map: Arc<GeoMap>,
    /// The lists, one after the other.
    lists: Box<[u16]>,
    /// Where class `c`'s list starts in `lists`; one more entry than classes.
    starts: Box<[u32]>,
    /// Proximity: the pools' coordinates, in ordinal order. A client's list is their order
    /// from its location, computed when asked (the same computation that made the map's
    /// classes, so the list is always one of `lists` and the scope holds for it).
    order: Option<ProximityOrder>,
}

impl RuleMap {
    /// `lists[c]` is class `c`'s list.
    pub fn new(map: Arc<GeoMap>, lists: &[Vec<u16>]) -> RuleMap {
        let mut flat = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        let mut starts = Vec::with_capacity(lists.len() + 1);
        for l in lists {
            starts.push(flat.len() as u32);
            flat.extend_from_slice(l);
        }
        starts.push(flat.len() as u32);
        RuleMap {
            map,
            lists: flat.into(),
            starts: starts.into(),
            order: None,
        }
    }

    /// [`RuleMap::new`] with the lists already laid end to end: class `c`'s is
    /// `lists[starts[c]..starts[c + 1]]`.
    pub fn from_flat(map: Arc<GeoMap>, lists: Vec<u16>, starts: Vec<u32>) -> RuleMap {
        assert!(
            starts.last().is_some_and(|&e| e as usize == lists.len())
                && starts.windows(2).all(|w| w[0] <= w[1]),
            "starts must rise to the end of the lists"
        );
        RuleMap {
            map,
            lists: lists.into(),
            starts: starts.into(),
            order: None,
        }
    }

    /// Proximity: `map` gives the client's location key ([`GeoMap::into_keyed`]), and `order`
    /// (the pools' coordinates by ordinal) orders the pools from it. `lists` and `starts`
    /// are every order the map's locations give, as for [`RuleMap::from_flat`].
    pub fn proximity(
        map: Arc<GeoMap>,
        lists: Vec<u16>,
        starts: Vec<u32>,
        order: ProximityOrder,
    ) -> RuleMap {
        RuleMap {
            order: Some(order),
            ..RuleMap::from_flat(map, lists, starts)
        }
    }

    /// The candidate list for what a lookup in [`RuleMap::map`] gave (`value`), in
    /// `pools` (the load balancer's pool of each ordinal).
    #[inline]
    pub fn candidates(&self, value: u32, pools: &[PoolId]) -> Candidates {
        let Some(order) = &self.order else {
            return self
                .list(value)
                .iter()
                .map(|&o| pools[o as usize])
                .collect();
        };
        let mut ordinals: SmallVec<[u16; 16]> = SmallVec::new();
        self.map.base().proximity_order(value, order, &mut ordinals);
        ordinals.iter().map(|&o| pools[o as usize]).collect()
    }

    /// Class `class`'s candidate list, in ordinals.
    #[inline]
    pub fn list(&self, class: u32) -> &[u16] {
        let c = class as usize;
        &self.lists[self.starts[c] as usize..self.starts[c + 1] as usize]
    }

    /// How many classes.
    pub fn classes(&self) -> usize {
        self.starts.len() - 1
    }

    /// Heap memory of the lists (the map is counted on its own: it may be shared).
    pub fn heap_bytes(&self) -> usize {
        self.lists.len() * 2 + self.starts.len() * 4
    }
}

/// A load balancer's candidate pools for one client, most preferred first.
pub type Candidates = SmallVec<[PoolId; 16]>;

/// One pool's addresses as records owned by one load balancer's name, with its TTL.
pub struct PoolRecords {
    /// The pool.
    pub pool: PoolId,
    /// The TTL of its records.
    pub ttl: u32,
    /// Its origins' A records.
    pub v4: RecordSet,
    /// Its origins' AAAA records.
    pub v6: RecordSet,
    /// For each origin of the pool (by offset from the pool's first id), its index in `v4`
    /// and in `v6`.
    pub index: Box<[(Option<u16>, Option<u16>)]>,
}

impl CompiledLb {
    /// Every candidate list the load balancer's location rules (or its plans, with custom
    /// rules or client maps) can give, in its own pools; none when it does not steer by
    /// location.
    pub fn lists(&self) -> impl Iterator<Item = Candidates> + '_ {
        let shared = self.location.iter().flat_map(|l| {
            (0..l.rules.classes() as u32).map(move |c| {
                l.rules
                    .list(c)
                    .iter()
                    .map(|&o| l.pools[o as usize])
                    .collect()
            })
        });
        let own = self
            .plans
            .iter()
            .flat_map(move |_| self.lists.iter().map(|l| l.iter().copied().collect()));
        shared.chain(own)
    }

    /// The candidate pools for a client at `addr`, and the ECS scope of the map that chose
    /// them (`None` when nothing about the client chose them: `default_pools`). Custom rules
    /// and client maps as for an A query; see [`CompiledLb::resolve`].
    #[inline]
    pub fn candidates(&self, lb: &LoadBalancer, addr: IpAddr) -> (Candidates, Option<u8>) {
        let (_, list, scope) = self.resolve(lb, addr, Family::V4);
        let chose = self.location.is_some() || self.plans.is_some();
        (list, chose.then_some(scope))
    }

    /// The records of `pool` with TTL `ttl`, if this load balancer may answer from it.
    pub fn pool_records(&self, pool: PoolId, ttl: u32) -> Option<&PoolRecords> {
        self.records.iter().find(|r| r.pool == pool && r.ttl == ttl)
    }

    /// The load balancer as it applies to `addr` asking for `family`, its candidate list,
    /// and the ECS scope that choice holds for (0 when nothing about the client chose it).
    /// Lookups only: this is the query path.
    #[inline]
    pub fn resolve<'a>(
        &'a self,
        lb: &'a LoadBalancer,
        addr: std::net::IpAddr,
        family: Family,
    ) -> (&'a LoadBalancer, Candidates, u8) {
        if let Some(l) = &self.location {
            let (value, scope) = l.rules.map.lookup(addr);
            return (lb, l.rules.candidates(value, &l.pools), scope);
        }
        match (&self.plans, &self.map) {
            (Some(plans), Some(map)) => {
                let (plan, depth) = map.lookup(addr);
                let f = match family {
                    Family::V4 => 0,
                    Family::V6 => 1,
                };
                let (v, l) = plans.table[plan as usize][f];
                (
                    &plans.variants[v as usize].lb,
                    self.lists[l as usize].iter().copied().collect(),
                    depth,
                )
            }
            (None, Some(map)) => {
                let (list, depth) = map.lookup(addr);
                let scope = if lb.policy.uses_location() { depth } else { 0 };
                (
                    lb,
                    self.lists[list as usize].iter().copied().collect(),
                    scope,
                )
            }
            _ => (lb, lb.default_pools.iter().copied().collect(), 0),
        }
    }

    /// The variant that applies to `addr` for `family`, with custom rules.
    pub fn variant(&self, addr: std::net::IpAddr, family: Family) -> Option<&Variant> {
        let (plans, map) = (self.plans.as_ref()?, self.map.as_ref()?);
        let (plan, _) = map.lookup(addr);
        let f = match family {
            Family::V4 => 0,
            Family::V6 => 1,
        };
        plans.variants.get(plans.table[plan as usize][f].0 as usize)
    }
}

/// What a load balancer with custom rules or client maps does for each class of client.
pub struct Plans {
    /// By plan (the map's value): for A and for AAAA, the variant and the candidate list
    /// (an index into [`CompiledLb::lists`]).
    pub table: Vec<[(u32, u32); 2]>,
    /// The load balancer as matched rules and client maps change it.
    pub variants: Vec<Variant>,
}

/// The load balancer with some rules' overrides applied.
pub struct Variant {
    /// The effective settings.
    pub lb: LoadBalancer,
    /// Why: the rules that matched (in order), or the subnet or AS entry that chose the
    /// pools; empty when nothing matched.
    pub why: Vec<String>,
}

impl Snapshot {
    /// Records in every zone.
    pub fn record_count(&self) -> usize {
        self.zones.iter().map(|z| z.record_count).sum()
    }

    /// One line for logs and `geosteer check`.
    pub fn summary(&self) -> String {
        let mut names: Vec<String> = self.zones.iter().map(|z| z.origin.to_string()).collect();
        names.sort();
        let s = &self.steering;
        format!(
            "{} zone{} ({}), {} records, {} load balancers, {} pools, {} origins, {} monitors",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.record_count(),
            s.load_balancers.len(),
            s.pools.len(),
            s.origins.len(),
            s.monitors.len(),
        )
    }
}

impl PoolRecords {
    /// The record index of origin `o` for a family, if the origin has that family.
    pub fn record_of(&self, cfg: &SteeringConfig, o: OriginId, family: Family) -> Option<u16> {
        let first = cfg.pools[self.pool as usize].origins.start;
        let (i4, i6) = *self.index.get((o - first) as usize)?;
        match family {
            Family::V4 => i4,
            Family::V6 => i6,
        }
    }
}
