//! Compiling the location rules of every load balancer into prefix maps, sharing whatever
//! can be shared.
//!
//! Three levels of sharing keep a thousand load balancers from costing a thousand walks of
//! the database and a thousand maps:
//!
//! 1. The database is walked once ([`GeoIndex`]); every map is computed from that walk, over
//!    the projection of locations onto the fields its rules read ([`Fields`]).
//! 2. Load balancers whose rules are the same up to the names of their pools share one
//!    [`RuleMap`]: the rules are put in a canonical form with each pool replaced by its
//!    ordinal (the n-th distinct pool met, in a fixed order), and the candidate lists are
//!    kept in ordinals, translated to a load balancer's own pools at query time. Proximity
//!    rules are keyed by the coordinates of `default_pools` alone, in order.
//! 3. Rule sets that divide the locations into the same classes (equal candidate lists)
//!    share one [`GeoMap`], whose shape depends on nothing else.
//!
//! A reload over the same database reuses the rule maps of the previous snapshot whose
//! canonical form is unchanged.
//!
//! Memory, which a reload with a new database needs twice (the serving maps and the new
//! ones): a proximity map keeps no class per location once built (its lookups give the
//! location, from which the order is computed again: [`compile_proximity`]); a projection
//! nearly as big as a finer one in use is not kept ([`coarsen`]); and the pass that builds a
//! map's bits keeps its partial results on a stack, not in an array over the tree.
//!
//! Candidate lists come from [`steering::candidates`] itself (proximity's from
//! [`ProximityOrder`], which orders exactly as it does), evaluated once per key of the
//! projection, so the lists and ECS scopes are exactly those of a map built for each load
//! balancer on its own (`tests` checks this against such maps on random databases).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use tracing::debug;

use super::par;
use crate::config::{LoadBalancer, Policy, PoolId, SteeringConfig};
use crate::geo::countries;
use crate::geo::map::Values;
use crate::geo::proximity::ProximityOrder;
use crate::geo::{
    Base, ContinentCode, CountryCode, Fields, GeoIndex, GeoMap, Projection, SubdivisionCode,
};
use crate::state::{LocationSteering, RuleMap};
use crate::steering;

/// The maps of one load.
pub(super) struct Compiled {
    /// By load balancer: its location steering, for those that steer by location.
    pub(super) per_lb: Vec<Option<LocationSteering>>,
    /// Every rule map, by canonical form.
    pub(super) rule_maps: HashMap<Box<[u8]>, Arc<RuleMap>>,
    /// Maps built by this load (not reused), and their heap memory.
    pub(super) built: (usize, usize),
    /// Rule sets whose maps were built over a finer projection than their own ([`coarsen`]).
    pub(super) moved: usize,
}

/// A load balancer's rules in canonical form.
struct Canonical {
    /// The form itself: equal for rules that differ only in pool names.
    key: Box<[u8]>,
    /// The load balancer's pool for each ordinal.
    pools: Box<[PoolId]>,
    /// What the rules read of a location.
    fields: Fields,
}

/// The codes any geo rule of the configuration names, by level: a location's code that no
/// rule names matches no rule, so projections need not tell such codes apart.
#[derive(Default)]
struct Named {
    continents: BTreeSet<ContinentCode>,
    countries: BTreeSet<CountryCode>,
    subdivisions: BTreeSet<SubdivisionCode>,
    regions: BTreeSet<&'static str>,
}

impl Named {
    fn of(cfg: &SteeringConfig) -> Named {
        let mut n = Named::default();
        for lb in cfg
            .load_balancers
            .iter()
            .filter(|lb| lb.policy == Policy::Geo)
        {
            n.continents.extend(
                lb.rules
                    .continent
                    .keys()
                    .filter_map(|k| ContinentCode::new(k)),
            );
            n.countries
                .extend(lb.rules.country.keys().filter_map(|k| CountryCode::new(k)));
            n.subdivisions.extend(
                lb.rules
                    .subdivision
                    .keys()
                    .filter_map(|k| SubdivisionCode::new(k)),
            );
            n.regions.extend(
                lb.rules
                    .region
                    .keys()
                    .filter_map(|k| countries::REGIONS.iter().find(|r| **r == k.as_str())),
            );
        }
        n
    }

    /// What rules reading `fields` read: those fields, and only the codes named.
    fn projection(&self, fields: Fields) -> Projection {
        if fields.contains(Fields::COORDINATES) {
            // Nearly every location has coordinates of its own (a city's): a projection onto
            // them would be a copy of the location tree. Use that tree.
            return Projection::fields(Fields::ALL);
        }
        Projection {
            fields,
            continents: Some(self.continents.clone()),
            countries: Some(self.countries.clone()),
            subdivisions: Some(self.subdivisions.clone()),
            regions: Some(self.regions.clone()),
        }
    }
}

fn canonical(cfg: &SteeringConfig, lb: &LoadBalancer) -> Option<Canonical> {
    if lb.has_client_rules() {
        // Custom rules and client maps overlay location with networks and ASes: such a load
        // balancer compiles its own plans (`load::compile_plans`), on the shared tree.
        return None;
    }
    let mut key = Vec::with_capacity(64);
    let mut pools: Vec<PoolId> = Vec::new();
    match lb.policy {
        Policy::Geo => {
            key.push(b'G');
            let mut list = |key: &mut Vec<u8>, list: &[PoolId]| {
                key.extend_from_slice(&(list.len() as u16).to_le_bytes());
                for &p in list {
                    let ordinal = match pools.iter().position(|&x| x == p) {
                        Some(i) => i,
                        None => {
                            pools.push(p);
                            pools.len() - 1
                        }
                    };
                    key.extend_from_slice(&(ordinal as u16).to_le_bytes());
                }
            };
            list(&mut key, &lb.default_pools);
            let mut fields = Fields::NONE;
            for (field, rules) in [
                (Fields::SUBDIVISION, &lb.rules.subdivision),
                (Fields::COUNTRY, &lb.rules.country),
                (Fields::REGION, &lb.rules.region),
                (Fields::CONTINENT, &lb.rules.continent),
            ] {
                if !rules.is_empty() {
                    fields = fields.union(field);
                }
                let mut entries: Vec<_> = rules.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                key.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for (code, pools) in entries {
                    key.push(code.len() as u8);
                    key.extend_from_slice(code.as_bytes());
                    list(&mut key, pools);
                }
            }
            Some(Canonical {
                key: key.into(),
                pools: pools.into(),
                fields,
            })
        }
        Policy::Proximity => {
            key.push(b'P');
            for &p in &lb.default_pools {
                let (lat, lon) = cfg.pools[p as usize]
                    .coordinates
                    .expect("config requires coordinates for proximity");
                key.extend_from_slice(&lat.to_bits().to_le_bytes());
                key.extend_from_slice(&lon.to_bits().to_le_bytes());
            }
            Some(Canonical {
                key: key.into(),
                pools: lb.default_pools.clone().into(),
                fields: Fields::COORDINATES,
            })
        }
        Policy::Failover | Policy::Random | Policy::Dynamic => None,
    }
}

/// Maps to build over one base (by its projection): each map's number and values, taken
/// by the thread that builds them.
type Job = (usize, Mutex<Vec<(usize, Values)>>);

/// A rule set evaluated on every key of its projection.
struct Evaluated {
    /// Which of the load's projections it is over.
    projection: usize,
    /// The class of each key: classes are numbered in the order of the keys. They become
    /// the values of the rule set's map (moved, not copied).
    classes: Values,
    /// Each class's candidate list, in ordinals, end to end: class `c`'s is
    /// `lists[starts[c]..starts[c + 1]]`.
    lists: Vec<u16>,
    starts: Vec<u32>,
}

fn evaluate(cfg: &SteeringConfig, lb: &LoadBalancer, c: &Canonical, base: &Base) -> Evaluated {
    let mut class_of: FxHashMap<Box<[u16]>, u32> = FxHashMap::default();
    let mut lists: Vec<u16> = Vec::new();
    let mut starts: Vec<u32> = vec![0];
    let mut class = |list: &[u16]| -> u32 {
        if let Some(&c) = class_of.get(list) {
            return c;
        }
        let c = starts.len() as u32 - 1;
        lists.extend_from_slice(list);
        starts.push(lists.len() as u32);
        class_of.insert(list.into(), c);
        c
    };
    let classes: Vec<u32> = if lb.policy == Policy::Proximity {
        // Ordinals are positions in `default_pools`; the order comes from the coordinates
        // alone (see `ProximityOrder`), as fast as a city a few dozen ns.
        let order = ProximityOrder::new(&coordinates(cfg, &c.pools));
        let mut buf: SmallVec<[u16; 16]> = SmallVec::new();
        (0..base.keys().len() as u32)
            .map(|key| {
                base.proximity_order(key, &order, &mut buf);
                class(&buf)
            })
            .collect()
    } else {
        let ordinal: FxHashMap<PoolId, u16> = c
            .pools
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, i as u16))
            .collect();
        let mut buf: Vec<u16> = Vec::new();
        base.keys()
            .iter()
            .map(|location| {
                let (list, _) = steering::candidates(cfg, lb, location.as_ref());
                buf.clear();
                buf.extend(list.iter().map(|p| ordinal[p]));
                class(&buf)
            })
            .collect()
    };
    Evaluated {
        projection: 0,
        classes: Values::new(classes),
        lists,
        starts,
    }
}

/// Compiles every load balancer that steers by location. `previous` holds the rule maps of
/// the snapshot being replaced, when it was built from the same index.
pub(super) fn compile(
    cfg: &SteeringConfig,
    index: &GeoIndex,
    previous: &HashMap<Box<[u8]>, Arc<RuleMap>>,
) -> Compiled {
    let canon: Vec<Option<Canonical>> = cfg
        .load_balancers
        .iter()
        .map(|lb| canonical(cfg, lb))
        .collect();

    // The distinct rule sets not compiled before: (canonical form, a load balancer with it).
    let mut rule_maps: HashMap<Box<[u8]>, Arc<RuleMap>> = HashMap::new();
    let mut todo: Vec<usize> = Vec::new();
    let mut seen: HashMap<&[u8], ()> = HashMap::new();
    for (i, c) in canon.iter().enumerate() {
        let Some(c) = c else { continue };
        if seen.insert(&c.key, ()).is_some() {
            continue;
        }
        match previous.get(&c.key) {
            Some(m) => {
                rule_maps.insert(c.key.clone(), m.clone());
            }
            None => todo.push(i),
        }
    }
    // Proximity rule sets are built apart (see `compile_proximity`).
    let (proximity, todo): (Vec<usize>, Vec<usize>) = todo
        .into_iter()
        .partition(|&i| cfg.load_balancers[i].policy == Policy::Proximity);
    // The projections the new rule sets read, built (or found in use) once each.
    let named = Named::of(cfg);
    let mut projections: Vec<Projection> = Vec::new();
    let projection_of: Vec<usize> = todo
        .iter()
        .map(|&i| {
            let p = named.projection(canon[i].as_ref().expect("queued").fields);
            match projections.iter().position(|x| *x == p) {
                Some(k) => k,
                None => {
                    projections.push(p);
                    projections.len() - 1
                }
            }
        })
        .collect();
    let mut bases: Vec<Arc<Base>> = par::map(&projections, |p| index.projection(p));
    let mut projection_of = projection_of;
    let moved = coarsen(&projections, &mut bases, &mut projection_of);
    for (k, (p, b)) in projections.iter().zip(&bases).enumerate() {
        debug!(
            "projection {:?}: {} keys, {} nodes, {} rule sets",
            p.fields,
            b.keys().len(),
            b.trie().node_count(),
            projection_of.iter().filter(|&&x| x == k).count()
        );
    }

    // Fine-grained rules have the most keys: start them first.
    let mut order: Vec<usize> = (0..todo.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(bases[projection_of[k]].keys().len()));
    let mut evaluated: Vec<Option<Evaluated>> = par::map(&order, |&k| {
        let i = todo[k];
        let c = canon[i].as_ref().expect("only rule sets are queued");
        let p = projection_of[k];
        let mut e = evaluate(cfg, &cfg.load_balancers[i], c, &bases[p]);
        e.projection = projection_of[k];
        (k, e)
    })
    .into_iter()
    .fold(
        std::iter::repeat_with(|| None)
            .take(todo.len())
            .collect::<Vec<_>>(),
        |mut v, (k, e)| {
            v[k] = Some(e);
            v
        },
    );
    let evaluated: Vec<Evaluated> = evaluated
        .iter_mut()
        .map(|e| e.take().expect("every rule set evaluated"))
        .collect();

    // Rule sets that classify alike share a map: the first of them gives its classes to
    // the map, the others' are dropped before any map is built.
    let mut first_of: Vec<usize> = Vec::new();
    let map_of: Vec<usize> = {
        let mut partitions: HashMap<(usize, &Values), usize> = HashMap::new();
        evaluated
            .iter()
            .enumerate()
            .map(|(k, e)| {
                *partitions
                    .entry((e.projection, &e.classes))
                    .or_insert_with(|| {
                        first_of.push(k);
                        first_of.len() - 1
                    })
            })
            .collect()
    };
    let mut lists: Vec<(Vec<u16>, Vec<u32>)> = Vec::with_capacity(evaluated.len());
    let mut classes: Vec<Option<(usize, Values)>> = Vec::with_capacity(evaluated.len());
    for e in evaluated {
        lists.push((e.lists, e.starts));
        classes.push(Some((e.projection, e.classes)));
    }
    let distinct: Vec<(usize, Values)> = first_of
        .iter()
        .map(|&k| classes[k].take().expect("one map per partition"))
        .collect();
    drop(classes);

    // Maps over one base are built together, GeoMap::TOGETHER at a time (one pass over its
    // nodes for all of them); the biggest bases first, as the jobs are uneven. Each job
    // takes its rule sets' classes: they become the maps' values.
    let mut jobs: Vec<(usize, Vec<usize>)> = Vec::new();
    for p in 0..bases.len() {
        let on: Vec<usize> = (0..distinct.len())
            .filter(|&d| distinct[d].0 == p)
            .collect();
        jobs.extend(on.chunks(GeoMap::TOGETHER).map(|c| (p, c.to_vec())));
    }
    jobs.sort_by_key(|(p, _)| std::cmp::Reverse(bases[*p].trie().node_count()));
    let mut distinct: Vec<Option<Values>> = distinct.into_iter().map(|(_, v)| Some(v)).collect();
    let jobs: Vec<Job> = jobs
        .into_iter()
        .map(|(p, ds)| {
            let values = ds
                .into_iter()
                .map(|d| (d, distinct[d].take().expect("one job per map")))
                .collect();
            (p, Mutex::new(values))
        })
        .collect();
    drop(distinct);
    let built_jobs = par::map(&jobs, |(p, job)| {
        let taken = std::mem::take(&mut *job.lock().unwrap_or_else(|e| e.into_inner()));
        let (ds, values): (Vec<usize>, Vec<Values>) = taken.into_iter().unzip();
        ds.into_iter()
            .zip(GeoMap::new_many_owned(&bases[*p], values))
            .collect::<Vec<_>>()
    });
    let mut maps: Vec<Option<Arc<GeoMap>>> = first_of.iter().map(|_| None).collect();
    for (d, m) in built_jobs.into_iter().flatten() {
        maps[d] = Some(Arc::new(m));
    }
    let maps: Vec<Arc<GeoMap>> = maps
        .into_iter()
        .map(|m| m.expect("every map built"))
        .collect();
    for ((&i, (lists, starts)), m) in todo.iter().zip(lists).zip(map_of) {
        let key = canon[i].as_ref().expect("queued").key.clone();
        rule_maps.insert(
            key,
            Arc::new(RuleMap::from_flat(maps[m].clone(), lists, starts)),
        );
    }

    let mut built = (
        maps.len(),
        maps.iter().map(|m| m.stats().bytes).sum::<usize>()
            + rule_maps.values().map(|r| r.heap_bytes()).sum::<usize>(),
    );
    if !proximity.is_empty() {
        let base = index.projection(&named.projection(Fields::COORDINATES));
        for (i, r) in compile_proximity(cfg, &canon, &proximity, &base) {
            built.0 += 1;
            built.1 += r.map.stats().bytes + r.heap_bytes();
            let key = canon[i].as_ref().expect("queued").key.clone();
            rule_maps.insert(key, r);
        }
    }

    let per_lb = canon
        .into_iter()
        .map(|c| {
            c.map(|c| LocationSteering {
                rules: rule_maps[&c.key].clone(),
                pools: c.pools,
            })
        })
        .collect();
    Compiled {
        per_lb,
        rule_maps,
        built,
        moved,
    }
}

/// Moves the rule sets of a projection onto a finer one in use when that saves memory and
/// hardly any time: a map costs one bit per node of its tree, a tree 64 (two 32-bit
/// children), so a tree not much smaller than a finer one costs more than the bits its maps
/// would add over the finer one (a subdivision projection beside one of every field named,
/// say: nearly as many nodes). Building a map takes time in proportion to its tree's nodes,
/// so the move is made only when the bits added are under a quarter of the tree saved.
/// Maps over the finer tree classify its keys as they classify the coarser ones (a finer
/// projection keeps every field and code the coarser one does), so the answers and scopes
/// are the same. `bases[p]` of a projection left becomes the finer one's tree (its own is
/// dropped); `projection_of` is renumbered. Returns how many rule sets moved.
fn coarsen(
    projections: &[Projection],
    bases: &mut [Arc<Base>],
    projection_of: &mut [usize],
) -> usize {
    let n = projections.len();
    let nodes: Vec<usize> = bases.iter().map(|b| b.trie().node_count()).collect();
    let sets: Vec<usize> = (0..n)
        .map(|p| projection_of.iter().filter(|&&x| x == p).count())
        .collect();
    // Each projection's target: itself, or the smallest finer tree worth moving onto.
    let mut onto: Vec<usize> = (0..n).collect();
    for p in 0..n {
        let finer = (0..n)
            .filter(|&q| q != p && projections[q].refines(&projections[p]))
            .min_by_key(|&q| nodes[q]);
        if let Some(q) = finer
            && nodes[p] * 64 > 4 * nodes[q].saturating_sub(nodes[p]) * sets[p]
        {
            onto[p] = q;
        }
    }
    // Refinement is a strict order between distinct projections: the chains end.
    let last = |mut p: usize| {
        while onto[p] != p {
            p = onto[p];
        }
        p
    };
    let targets: Vec<usize> = (0..n).map(last).collect();
    let mut moved = 0;
    for p in projection_of.iter_mut() {
        moved += usize::from(targets[*p] != *p);
        *p = targets[*p];
    }
    for p in 0..n {
        if targets[p] != p {
            bases[p] = bases[targets[p]].clone();
        }
    }
    moved
}

/// The maps of proximity rule sets (`todo`, by load balancer; all over `base`, the location
/// tree). Each is evaluated, built and stripped of its values in one job, a few at a time
/// ([`GeoMap::TOGETHER`]), so that no more than those few value tables (one 16-bit class per
/// location each) exist at once: the maps keep only their scope bits and give a client's
/// location, from which its order is computed when asked ([`RuleMap::proximity`]).
fn compile_proximity(
    cfg: &SteeringConfig,
    canon: &[Option<Canonical>],
    todo: &[usize],
    base: &Arc<Base>,
) -> Vec<(usize, Arc<RuleMap>)> {
    let jobs: Vec<&[usize]> = todo.chunks(GeoMap::TOGETHER).collect();
    par::map(&jobs, |job| {
        let evaluated: Vec<(Evaluated, ProximityOrder)> = job
            .iter()
            .map(|&i| {
                let c = canon[i].as_ref().expect("only rule sets are queued");
                let e = evaluate(cfg, &cfg.load_balancers[i], c, base);
                (e, ProximityOrder::new(&coordinates(cfg, &c.pools)))
            })
            .collect();
        let (rest, values): (Vec<_>, Vec<Values>) = evaluated
            .into_iter()
            .map(|(e, order)| ((e.lists, e.starts, order), e.classes))
            .unzip();
        let maps = GeoMap::new_many_owned(base, values);
        job.iter()
            .zip(rest)
            .zip(maps)
            .map(|((&i, (lists, starts, order)), m)| {
                let map = Arc::new(m.into_keyed());
                (i, Arc::new(RuleMap::proximity(map, lists, starts, order)))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The coordinates of `pools`, which a proximity load balancer's configuration has.
fn coordinates(cfg: &SteeringConfig, pools: &[PoolId]) -> Vec<(f64, f64)> {
    pools
        .iter()
        .map(|&p| {
            cfg.pools[p as usize]
                .coordinates
                .expect("config requires coordinates for proximity")
        })
        .collect()
}

#[cfg(test)]
mod tests;
